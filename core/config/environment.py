"""The environment overlay: variables that override a :class:`~.settings.Settings`'s fields.

- the short legacy names: ``MAX_RETRIES`` → ``retry.max_attempts``;
  ``RETRY_DELAY`` (milliseconds) → ``retry.initial_delay`` (seconds);
  ``HEALTH_CHECK_INTERVAL`` (milliseconds) → ``monitor.health_check_interval``
  (seconds); ``MEMORY_THRESHOLD`` → ``monitor.memory_threshold``;
  ``LOG_LEVEL`` → ``logging.level``;
- the general form ``LLM_ROUTER__<SECTION>__<FIELD>`` for any field of the
  scalar sections (``LLM_ROUTER__BREAKER__COOLDOWN=10``), those a subclass of Settings
  adds included, and ``LLM_ROUTER__DEFAULT_STRATEGY``.
  It is applied after the legacy names, so it wins where both set a field.

Values are converted to the field's type: integers, numbers, booleans
(``true/false/1/0/yes/no/on/off``), lists of strings (comma-separated), and
``none`` or the empty string for ``None`` where a field is optional. An empty value
for a field that cannot be ``None`` is ignored, as if unset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, get_origin

from .. import catalogue
from ..errors import ConfigError
from .problems import UNSET, config_error
from .rules import allowed, apply_rule
from .validate import describe, fields_of, hints, reject_unknown, rules_of, unwrap_optional

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["ENV_PREFIX", "overlay"]

S = TypeVar("S", bound="Settings")

ENV_PREFIX: Final = "LLM_ROUTER__"

# The short legacy environment variables: (section, field, divisor to seconds).
_LEGACY_ENV: Final[dict[str, tuple[str, str, float | None]]] = {
    "MAX_RETRIES": ("retry", "max_attempts", None),
    "RETRY_DELAY": ("retry", "initial_delay", 1000.0),
    "HEALTH_CHECK_INTERVAL": ("monitor", "health_check_interval", 1000.0),
    "MEMORY_THRESHOLD": ("monitor", "memory_threshold", None),
    "LOG_LEVEL": ("logging", "level", None),
}

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def overlay(base: S, environ: Mapping[str, str]) -> S:
    """``base`` with the overrides ``environ`` holds for its class's sections and top-level fields."""
    cls = type(base)
    sections_by_name = cls.sections()
    tables = cls.tables()
    top_level = cls.top_level()
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}

    for var, (section, name, divisor) in _LEGACY_ENV.items():
        if var in environ:
            value = _env_value(sections_by_name[section], name, environ[var], f"{section}.{name}", var, divisor)
            if value is not UNSET:
                sections.setdefault(section, {})[name] = value

    for var in sorted(environ):
        if not var.upper().startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 1 and parts[0] not in sections_by_name and parts[0] not in tables:
            reject_unknown({parts[0]: None}, top_level, "", var)
            value = _env_value(cls, parts[0], environ[var], parts[0], var, None)
            if value is not UNSET:
                top[parts[0]] = value
            continue
        section = parts[0]
        if section in tables or (section in sections_by_name and len(parts) != 2):
            raise config_error(
                catalogue.CONFIG_INVALID,
                section,
                f"{var} does not name a scalar field: use {ENV_PREFIX}<SECTION>__<FIELD> with SECTION one of {', '.join(sections_by_name)}",
                environ[var],
                env=var,
            )
        reject_unknown({section: None}, [*sections_by_name, *top_level], "", var)
        section_cls = sections_by_name[section]
        name = parts[1]
        reject_unknown({name: None}, [f.name for f in fields_of(section_cls)], section, var)
        value = _env_value(section_cls, name, environ[var], f"{section}.{name}", var, None)
        if value is not UNSET:
            sections.setdefault(section, {})[name] = value

    changes: dict[str, Any] = dict(top)
    for section, values in sections.items():
        changes[section] = dataclasses.replace(getattr(base, section), **values)
    return dataclasses.replace(base, **changes) if changes else base


def _env_value(cls: type[Any], name: str, raw: str, path: str, var: str, divisor: float | None) -> Any:
    """An environment string as field ``name`` of ``cls`` wants it; UNSET to ignore it."""
    inner, optional = unwrap_optional(hints(cls)[name])
    text = raw.strip()
    if not text or (optional and text.lower() == "none"):
        return None if optional else UNSET
    shown = repr(raw) if len(raw) <= 40 else repr(raw[:40]) + "..."
    number: float | None = None
    try:
        if inner is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if inner is int:
            number = int(text)  # ValueError past 4300 digits too
        elif inner is float:
            number = float(text) / (divisor or 1.0)
        elif inner is str:
            return text
        elif get_origin(inner) is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError:
        pass
    if number is None:
        raise config_error(catalogue.CONFIG_INVALID, path, f"{var}={shown} is not {describe(inner)}", raw, env=var)
    # The range here, so that the error names the variable (the section checks it again).
    rule = rules_of(cls).get(name)
    if rule is not None:
        try:
            apply_rule(rule, number, path)
        except ConfigError:
            seconds = f" ({number:g} seconds)" if divisor else ""
            message = f"{var}={shown}{seconds} must be {allowed(rule, path)}"
            raise config_error(catalogue.CONFIG_INVALID, path, message, raw, env=var) from None
    return number
