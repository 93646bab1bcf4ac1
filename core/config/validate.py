"""The generic machinery: a dataclass's fields checked against their annotations and rules.

Each configuration class is registered once, next to its definition, with
:func:`register`: its rules, and where its instances sit in a document (the section
``retry``, or the table ``providers``, whose entries' paths are ``providers.<name>``).
From then on, in any order and from any source (a document, the environment, a direct
construction, ``dataclasses.replace``), a value is converted to its field's type
(:func:`coerce`), checked against its rule, and refused with the field's dotted path.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from .. import catalogue
from .problems import config_error, join
from .rules import Rule, apply_rule

__all__ = [
    "Option",
    "build",
    "build_table",
    "check_fields",
    "check_options",
    "coerce",
    "describe",
    "fields_of",
    "hints",
    "register",
    "reject_unknown",
    "rules_of",
    "unwrap_optional",
    "validate",
]

T = TypeVar("T")

# A provider option: its type (an annotation, e.g. ``int | None``) and its rule.
Option = tuple[Any, Rule]


@dataclasses.dataclass(frozen=True, slots=True)
class _Registered:
    rules: Mapping[str, Rule]
    section: str | None  # the key of a section ("retry"); "" for the document's top level
    table: str | None  # the key of a table whose entries these are ("providers")


_REGISTRY: dict[type[Any], _Registered] = {}


def register(cls: type[Any], rules: Mapping[str, Rule], *, section: str | None = None, table: str | None = None) -> None:
    """Declare ``cls``'s rules, and where its instances sit in a document (for error paths).

    Call it next to the class's definition, before any instance is made. A subclass
    inherits its bases' rules and adds its own."""
    _REGISTRY[cls] = _Registered(dict(rules), section, table)


def rules_of(cls: type[Any]) -> dict[str, Rule]:
    """The rules of ``cls``'s fields, its bases' included; fields without a rule are absent."""
    out: dict[str, Rule] = {}
    for klass in reversed(cls.__mro__):
        entry = _REGISTRY.get(klass)
        if entry is not None:
            out.update(entry.rules)
    return out


def _path_of(obj: object) -> str:
    """Where ``obj`` sits in a document: "retry", "providers.local", or "" (the top level)."""
    for klass in type(obj).__mro__:
        entry = _REGISTRY.get(klass)
        if entry is not None:
            if entry.table is not None:
                return f"{entry.table}.{getattr(obj, 'name', '?')}"
            return entry.section or ""
    return ""


def fields_of(cls_or_obj: Any) -> tuple[dataclasses.Field[Any], ...]:
    """The fields a configuration sets: derived ones (init=False, e.g. Deployment.key) are not."""
    return tuple(f for f in dataclasses.fields(cls_or_obj) if f.init)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def hints(cls: type[Any]) -> dict[str, Any]:
    """``cls``'s annotations, resolved (the modules use ``from __future__ import annotations``)."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = get_type_hints(cls)
    return found


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return inner[0], len(inner) < len(args)
    return tp, False


def describe(tp: Any) -> str:
    """A type as an error message names it: "an integer", "a list of strings"."""
    origin = get_origin(tp)
    if origin is tuple:
        return "a list of strings"
    if origin is dict:
        return "a table"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, f"a {getattr(tp, '__name__', tp)}")


def coerce(tp: Any, value: Any, path: str) -> Any:
    """``value`` as type ``tp`` (int → float, list → tuple), or a ConfigError."""
    inner, optional = unwrap_optional(tp)
    if optional:
        if value is None:
            return None
        # TOML has no null: the string "none" stands for None where a string is not the type.
        if inner is not str and isinstance(value, str) and value.strip().lower() == "none":
            return None
    origin = get_origin(inner)
    if inner is bool:
        if isinstance(value, bool):
            return value
    elif inner is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif inner is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise config_error(catalogue.CONFIG_INVALID, path, f"must be a finite number (got {value!r})", value)
            return number
    elif inner is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif origin is dict:
        key_type, value_type = get_args(inner)
        if (
            isinstance(value, Mapping)
            and all(isinstance(k, key_type) for k in value)
            and (value_type is Any or all(isinstance(v, value_type) for v in value.values()))
        ):
            return dict(value)
    elif isinstance(inner, type) and isinstance(value, inner):
        return value
    expected = describe(inner) + (" or none" if optional else "")
    raise config_error(catalogue.CONFIG_INVALID, path, f"must be {expected} (got {value!r})", value)


def check_fields(cls: type[Any], values: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Every field of ``cls`` in ``values`` type-checked, converted and constrained."""
    field_types = hints(cls)
    rules = rules_of(cls)
    out: dict[str, Any] = {}
    for f in fields_of(cls):
        where = join(path, f.name)
        value = coerce(field_types[f.name], values[f.name], where)
        rule = rules.get(f.name)
        if rule is not None and value is not None:
            value = apply_rule(rule, value, where)
        out[f.name] = value
    # Constraints between fields, once every field has its type.
    for name, rule in rules.items():
        where = join(path, name)
        value = out[name]
        if rule.ge_field is not None and value is not None:
            other = out[rule.ge_field]
            if other is not None and not value >= other:
                message = f"must be >= {join(path, rule.ge_field)} ({value!r} < {other!r})"
                raise config_error(catalogue.CONFIG_INVALID, where, message, value)
        if rule.required_if is not None and value is None:
            other_name, other_value = rule.required_if
            if out[other_name] == other_value:
                raise config_error(catalogue.CONFIG_MISSING_FIELD, where, f"is required when {other_name} is {other_value!r}")
    return out


def check_options(schema: Mapping[str, Option], options: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A table of options (a provider's ``options``) checked against ``schema``: no unknown
    key, each value of its type and within its rule. Returns a new dict of the converted values."""
    reject_unknown(options, list(schema), path)
    out: dict[str, Any] = {}
    for key, value in options.items():
        tp, rule = schema[key]
        where = join(path, key)
        checked = coerce(tp, value, where)
        out[key] = checked if checked is None else apply_rule(rule, checked, where)
    return out


def validate(obj: Any) -> None:
    """Check a dataclass instance in place, storing converted values (frozen-safe).

    A configuration class calls it from ``__post_init__``, so that no instance exists
    that breaks its rules, however it was made."""
    current = {f.name: getattr(obj, f.name) for f in fields_of(obj)}
    checked = check_fields(type(obj), current, _path_of(obj))
    for name, value in checked.items():
        if value is not current[name]:
            object.__setattr__(obj, name, value)


def reject_unknown(data: Mapping[Any, Any], known: list[str], path: str, env: str | None = None) -> None:
    """LLM_CONFIG_004_E for the first key of ``data`` not in ``known``, with the nearest known one."""
    for key in data:
        if isinstance(key, str) and key in known:
            continue
        name = str(key)
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"; did you mean {join(path, close[0])!r}?"
        else:
            hint = f"; expected one of {', '.join(known)}" if known else "; no field is accepted here"
        source = f" (from {env})" if env else ""
        context: dict[str, Any] = {"suggestion": close[0] if close else None}
        if env:
            context["env"] = env
        raise config_error(catalogue.CONFIG_UNKNOWN_FIELD, join(path, name), f"unknown field{source}{hint}", **context)


def build(cls: Callable[..., T], data: Any, path: str, name: str | None = None) -> T:
    """An instance of dataclass ``cls`` from a table; ``name`` (a table key) fills ``name``."""
    if not isinstance(data, Mapping):
        raise config_error(catalogue.CONFIG_INVALID, path, f"must be a table (got {data!r})", data)
    all_fields = fields_of(cls)
    reject_unknown(data, [f.name for f in all_fields], path)
    values: dict[str, Any] = {}
    for f in all_fields:
        if f.name == "name" and name is not None:
            if "name" in data and data["name"] != name:
                message = f"must match its key {name!r} (got {data['name']!r})"
                raise config_error(catalogue.CONFIG_INVALID, join(path, "name"), message, data["name"])
            values["name"] = name
        elif f.name in data:
            values[f.name] = data[f.name]
        elif f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
        else:
            raise config_error(catalogue.CONFIG_MISSING_FIELD, join(path, f.name), "is required")
    return cls(**check_fields(cls, values, path))  # type: ignore[arg-type]


def build_table(cls: Callable[..., T], data: Any, path: str) -> dict[str, T]:
    """A table of ``cls`` entries keyed by name (``[providers.local]``, ``[providers.openai]``)."""
    if not isinstance(data, Mapping):
        raise config_error(catalogue.CONFIG_INVALID, path, f"must be a table of entries keyed by name (got {data!r})", data)
    out: dict[str, T] = {}
    for key, entry in data.items():
        if not isinstance(key, str) or not key.strip():
            raise config_error(catalogue.CONFIG_INVALID, f"{path}.{key}", "names must be non-empty strings", key)
        out[key] = build(cls, entry, f"{path}.{key}", name=key)
    return out
