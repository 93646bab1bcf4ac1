"""Compatibility hints: what the router has learned about each (provider, model, endpoint).

Every outcome is recorded. From errors the router learns:

- that a combination is broken: 5+ failures (``blacklist_after``) with not
  one success blacklists it; it is re-probed after an interval that grows
  each time the probe fails (``reprobe_initial`` × ``reprobe_multiplier``ⁿ,
  capped at ``reprobe_max``), and a success clears it;
- which endpoint a model is served on ("only supported in v1/responses" →
  use ``responses`` from now on);
- which parameters a model refuses (stripped from later requests);
- whether it accepts an assistant prefix (for mid-stream continuation).

Learning errors (wrong endpoint, unsupported parameter, no prefill) are
adjustments, not failures: they never count towards a blacklist.
Everything is written through the Store on change, and can be exported and
imported as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import catalogue, jsonlog
from .clock import Clock
from .config import MAX_NESTING, HintsConfig, nesting_depth
from .errors import LLMError, Recovery
from .store import Store

__all__ = ["CompatibilityHints", "Hint"]

Key = tuple[str, str, str]

_log = jsonlog.get_logger("llm_runner_router.core.hints")


@dataclass(slots=True)
class Hint:
    provider: str
    model: str
    endpoint: str  # the endpoint the deployment is configured with
    success_count: int = 0
    error_count: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_error_at: float | None = None  # wall clock
    last_success_at: float | None = None
    supported_endpoints: list[str] = field(default_factory=list)
    unsupported_endpoints: list[str] = field(default_factory=list)
    preferred_endpoint: str | None = None
    unsupported_params: list[str] = field(default_factory=list)
    accepts_prefix: bool | None = None
    blacklisted: bool = False
    blacklist_reason: str | None = None
    blacklist_manual: bool = False
    reprobe_at: float | None = None  # wall clock
    reprobe_interval: float | None = None

    @property
    def key(self) -> Key:
        return (self.provider, self.model, self.endpoint)

    def to_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict: this runs on every outcome
        # and asdict's deep copy costs several times more.
        out = {name: getattr(self, name) for name in _FIELDS}
        for name in _LIST_FIELDS:
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hint:
        """A hint from a stored or imported record, every field of the right type.

        The record comes from outside the process (a database, an import): a field of
        the wrong type would otherwise be taken in and fail later, in the middle of a
        request (``success_count += 1`` on a string), so it is refused here.
        """
        try:
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            hint = cls(**known)
        except (TypeError, KeyError) as exc:
            raise catalogue.CORE_STORE_CORRUPT.error(f"invalid hint record: {exc}") from exc
        for name, (check, want) in _FIELD_TYPES.items():
            if not check(getattr(hint, name)):
                raise catalogue.CORE_STORE_CORRUPT.error(f"invalid hint record: {name} must be {want}", field=name)
        for name in _LIST_FIELDS:
            setattr(hint, name, list(getattr(hint, name)))  # our own copy, not the caller's list
        return hint


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_time(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past float's range (a stored file is untrusted): no time
        return False


_FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "provider": (_is_str, "a string"),
    "model": (_is_str, "a string"),
    "endpoint": (_is_str, "a string"),
    "success_count": (_is_count, "a non-negative integer"),
    "error_count": (_is_count, "a non-negative integer"),
    "last_error_code": (lambda v: v is None or _is_str(v), "a string or null"),
    "last_error_message": (lambda v: v is None or _is_str(v), "a string or null"),
    "last_error_at": (_is_time, "a finite number or null"),
    "last_success_at": (_is_time, "a finite number or null"),
    "supported_endpoints": (lambda v: isinstance(v, list) and all(map(_is_str, v)), "a list of strings"),
    "unsupported_endpoints": (lambda v: isinstance(v, list) and all(map(_is_str, v)), "a list of strings"),
    "preferred_endpoint": (lambda v: v is None or _is_str(v), "a string or null"),
    "unsupported_params": (lambda v: isinstance(v, list) and all(map(_is_str, v)), "a list of strings"),
    "accepts_prefix": (lambda v: v is None or isinstance(v, bool), "a boolean or null"),
    "blacklisted": (lambda v: isinstance(v, bool), "a boolean"),
    "blacklist_reason": (lambda v: v is None or _is_str(v), "a string or null"),
    "blacklist_manual": (lambda v: isinstance(v, bool), "a boolean"),
    "reprobe_at": (_is_time, "a finite number or null"),
    "reprobe_interval": (_is_time, "a finite number or null"),
}
_FIELDS = tuple(f.name for f in fields(Hint))
_LIST_FIELDS = ("supported_endpoints", "unsupported_endpoints", "unsupported_params")
assert set(_FIELD_TYPES) == set(_FIELDS), "every Hint field needs its type check"


class CompatibilityHints:
    NAMESPACE = "hints"

    def __init__(self, config: HintsConfig, clock: Clock, store: Store | None = None) -> None:
        self.config = config
        self._clock = clock
        self._store = store
        self._hints: dict[Key, Hint] = {}
        if store is not None:
            for name, data in store.load(self.NAMESPACE).items():
                try:
                    hint = Hint.from_dict(data)
                except LLMError as err:
                    # One bad record costs what it taught, not the router's start.
                    _log.warning("stored hint skipped", error=err, record=name)
                    continue
                self._hints[hint.key] = hint

    # --- reading --------------------------------------------------------------

    def get(self, key: Key) -> Hint | None:
        return self._hints.get(key)

    def __iter__(self) -> Iterator[Hint]:
        return iter(list(self._hints.values()))

    def provider_hints(self, provider: str) -> list[Hint]:
        return [h for h in self._hints.values() if h.provider == provider]

    def blocked(self, key: Key) -> LLMError | None:
        """Why a blacklisted combination must be skipped now, or None to go ahead.

        When the re-probe time has come one call is let through, and the
        next re-probe is pushed back so that concurrent requests do not all
        probe at once.
        """
        hint = self._hints.get(key)
        if hint is None or not hint.blacklisted:
            return None
        now = self._clock.wall()
        if hint.reprobe_at is not None and now >= hint.reprobe_at and not hint.blacklist_manual:
            hint.reprobe_at = now + (hint.reprobe_interval or self.config.reprobe_initial)
            self._save(hint)
            return None
        return catalogue.API_MODEL_NOT_FOUND.error(
            f"{'/'.join(key)} is blacklisted: {hint.blacklist_reason}", blacklisted=True, reprobe_at=hint.reprobe_at
        )

    def endpoint_for(self, key: Key) -> str:
        hint = self._hints.get(key)
        if hint is not None and hint.preferred_endpoint:
            return hint.preferred_endpoint
        return key[2]

    def strip_params(self, key: Key, params: Mapping[str, Any]) -> Mapping[str, Any]:
        hint = self._hints.get(key)
        if hint is None or not hint.unsupported_params:
            return params
        return {k: v for k, v in params.items() if k not in hint.unsupported_params}

    def accepts_prefix(self, key: Key) -> bool | None:
        hint = self._hints.get(key)
        return None if hint is None else hint.accepts_prefix

    # --- learning ----------------------------------------------------------------

    def record_success(self, key: Key, endpoint: str, used_prefix: bool = False) -> None:
        hint = self._hints.get(key)
        if hint is None:
            hint = self._hints[key] = Hint(*key)
        hint.success_count += 1
        hint.last_success_at = self._clock.wall()
        if endpoint not in hint.supported_endpoints:
            hint.supported_endpoints.append(endpoint)
        if used_prefix:
            hint.accepts_prefix = True
        if hint.blacklisted and not hint.blacklist_manual:
            self._clear_blacklist(hint)
        self._save(hint)

    def record_error(self, key: Key, error: LLMError, endpoint: str) -> None:
        """Learn what an error teaches. Errors that are not the backend's fault teach nothing."""
        if not error.spec.blames_backend:
            return
        hint = self._hints.get(key)
        if hint is None:
            hint = self._hints[key] = Hint(*key)
        now = self._clock.wall()
        hint.last_error_code = error.code
        hint.last_error_message = error.message[:500]
        hint.last_error_at = now
        spec = error.spec
        if spec is catalogue.API_WRONG_ENDPOINT:
            if endpoint not in hint.unsupported_endpoints:
                hint.unsupported_endpoints.append(endpoint)
            suggested = error.context.get("suggested_endpoint")
            if isinstance(suggested, str) and suggested not in hint.unsupported_endpoints:
                hint.preferred_endpoint = suggested
        elif spec is catalogue.API_UNSUPPORTED_PARAMETER:
            param = error.context.get("param")
            if isinstance(param, str) and param not in hint.unsupported_params:
                hint.unsupported_params.append(param)
        elif spec is catalogue.API_PREFILL_UNSUPPORTED:
            hint.accepts_prefix = False
        elif error.recovery is not Recovery.ADJUST:
            hint.error_count += 1
            if hint.blacklisted:
                # A re-probe failed: wait longer before the next one.
                interval = min(
                    self.config.reprobe_max, (hint.reprobe_interval or self.config.reprobe_initial) * self.config.reprobe_multiplier
                )
                hint.reprobe_interval = interval
                hint.reprobe_at = now + interval
            elif hint.success_count == 0 and hint.error_count >= self.config.blacklist_after:
                self._blacklist(hint, f"{hint.error_count} failures and no success (last {error.code})", manual=False)
        self._save(hint)

    # --- operator actions ------------------------------------------------------

    def blacklist(self, key: Key, reason: str) -> None:
        hint = self._hints.get(key) or self._hints.setdefault(key, Hint(*key))
        self._blacklist(hint, reason, manual=True)
        self._save(hint)

    def unblacklist(self, key: Key) -> None:
        hint = self._hints.get(key)
        if hint is not None:
            self._clear_blacklist(hint)
            self._save(hint)

    def export_json(self) -> str:
        return json.dumps({"version": 1, "hints": [h.to_dict() for h in self._hints.values()]}, sort_keys=True)

    def import_json(self, text: str) -> int:
        """Merge hints exported elsewhere; an imported record replaces ours. Returns how many."""
        try:
            if nesting_depth(text, stop_at=MAX_NESTING) > MAX_NESTING:
                raise ValueError(f"nested deeper than {MAX_NESTING} levels")
            data = json.loads(text)
            records = data["hints"] if isinstance(data, dict) else None
            if not isinstance(records, list):
                raise TypeError("'hints' must be a list")
            hints = [Hint.from_dict(r) if isinstance(r, dict) else _bad(r) for r in records]
        except (ValueError, TypeError, KeyError, RecursionError, LLMError) as exc:
            raise catalogue.VAL_MALFORMED.error(f"cannot import hints: {exc}") from exc
        for hint in hints:
            self._hints[hint.key] = hint
            self._save(hint)
        return len(hints)

    # --- internals -----------------------------------------------------------------

    def _blacklist(self, hint: Hint, reason: str, manual: bool) -> None:
        hint.blacklisted = True
        hint.blacklist_reason = reason
        hint.blacklist_manual = manual
        hint.reprobe_interval = self.config.reprobe_initial
        hint.reprobe_at = None if manual else self._clock.wall() + self.config.reprobe_initial

    def _clear_blacklist(self, hint: Hint) -> None:
        hint.blacklisted = False
        hint.blacklist_reason = None
        hint.blacklist_manual = False
        hint.reprobe_at = None
        hint.reprobe_interval = None
        hint.error_count = 0

    def _save(self, hint: Hint) -> None:
        if self._store is not None:
            self._store.save(self.NAMESPACE, "/".join(hint.key), hint.to_dict())


def _bad(record: object) -> Hint:
    raise TypeError(f"hint record must be an object, not {type(record).__name__}")
