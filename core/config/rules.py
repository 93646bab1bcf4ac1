"""What a field's value must satisfy beyond its type: :class:`Rule`, the shorthands the
sections are written with (:func:`seconds`, :func:`count`, ...), and :func:`apply_rule`.

Every number has a range with an upper bound: the values are used as deque lengths, sleep
and socket timeouts, and in arithmetic, where a huge one overflows (OverflowError) or never
ends. docs/core.md lists the ranges; :func:`allowed` writes one the way the docs do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from .. import catalogue
from .problems import config_error, join

__all__ = [
    "COUNT",
    "DAY",
    "FRACTION",
    "GROWTH",
    "MULTIPLIER",
    "NAME",
    "WEEK",
    "Rule",
    "allowed",
    "apply_rule",
    "count",
    "seconds",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a field's value must satisfy beyond its type. None/empty: no check."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    ge_field: str | None = None  # >= another field of the same object
    nonempty: bool = False  # strings (after strip) and tuples
    unique: bool = False  # tuples: no repeats
    upper: bool = False  # strings: stored upper case
    aliases: tuple[tuple[str, str], ...] = ()  # strings: accepted synonyms
    choices: tuple[str, ...] = ()
    http_url: bool = False
    origins: bool = False  # tuples: each an origin, scheme://host[:port], nothing after it
    required_if: tuple[str, str] | None = None  # (other field, its value) that makes None an error
    ref: str | None = None  # the Settings table each name must be a key of


DAY: Final = 86_400.0  # seconds
WEEK: Final = 7 * DAY
COUNT: Final = 100_000  # thresholds, sizes and concurrency
GROWTH: Final = 100.0  # multipliers


def seconds(*, le: float = DAY, ge: float | None = None) -> Rule:
    """A duration: > 0 (or >= ``ge``), up to ``le``."""
    return Rule(gt=None if ge is not None else 0, ge=ge, le=le)


def count(*, ge: int = 1, le: int = COUNT) -> Rule:
    """A whole number of things: >= ``ge``, up to ``le``."""
    return Rule(ge=ge, le=le)


FRACTION: Final = Rule(gt=0, le=1)  # 0 < x <= 1
MULTIPLIER: Final = Rule(ge=1, le=GROWTH)
NAME: Final = Rule(nonempty=True)


def apply_rule(rule: Rule, value: Any, path: str) -> Any:
    """Check one value (already of its field's type) against its rule; returns it, normalised.

    Constraints between fields (``ge_field``, ``required_if``, ``ref``) need the whole object
    and are checked by the caller (validate.check_fields, Settings)."""
    invalid = catalogue.CONFIG_INVALID
    if isinstance(value, str):
        if rule.nonempty and not value.strip():
            raise config_error(invalid, path, "must not be empty", value)
        if rule.upper:
            value = value.strip().upper()
        value = dict(rule.aliases).get(value, value)
        if rule.choices and value not in rule.choices:
            raise config_error(invalid, path, f"must be one of {', '.join(rule.choices)} (got {value!r})", value)
        if rule.http_url and _http_url(value) is None:
            raise config_error(invalid, path, f"must be an http:// or https:// URL (got {value!r})", value)
    elif isinstance(value, tuple):
        if rule.nonempty and not value:
            raise config_error(invalid, path, "must not be empty", list(value))
        if rule.unique and len(set(value)) != len(value):
            raise config_error(invalid, path, f"must not repeat a name (got {list(value)!r})", list(value))
        if rule.nonempty and any(not v.strip() for v in value):
            raise config_error(invalid, path, "must not contain an empty name", list(value))
        if rule.origins:
            for origin in value:
                parts = _http_url(origin)
                if origin != "*" and (parts is None or parts.path or parts.query or parts.fragment or "@" in parts.netloc):
                    message = f"must hold origins like https://app.example.com:8443, or * (got {origin!r})"
                    raise config_error(invalid, path, message, list(value))
            # Browsers send scheme and host in lower case, and CORS compares origins as strings.
            value = tuple(origin.lower() for origin in value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and not _within(rule, value):
        raise config_error(invalid, path, f"must be {allowed(rule, path)} (got {value!r})", value)
    return value


def allowed(rule: Rule, path: str) -> str:
    """The range a rule allows, e.g. "in [1, 100000]", "in (0, 86400]", "in [retry.initial_delay, 86400]"."""
    low = f"({_number(rule.gt)}" if rule.gt is not None else f"[{_number(rule.ge)}" if rule.ge is not None else ""
    if not low and rule.ge_field is not None:
        low = f"[{join(path.rpartition('.')[0], rule.ge_field)}"
    if rule.le is None:
        return f"{'>' if low.startswith('(') else '>='} {low[1:]}"
    if not low:
        return f"<= {_number(rule.le)}"
    return f"in {low}, {_number(rule.le)}]"


def _within(rule: Rule, value: float) -> bool:
    """Whether a number is in the rule's range (NaN never is)."""
    return (rule.gt is None or value > rule.gt) and (rule.ge is None or value >= rule.ge) and (rule.le is None or value <= rule.le)


def _number(x: float) -> str:
    """A bound as it is written in a document: 100000, 0.5."""
    return str(int(x)) if float(x).is_integer() else repr(x)


def _http_url(value: str) -> SplitResult | None:
    """The parts of an http(s) URL with a host, or None. urlsplit raises on a malformed
    IPv6 host and on a port out of range only when asked; both are refused here."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts
