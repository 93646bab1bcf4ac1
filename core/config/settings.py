"""The whole configuration: one typed, validated, immutable :class:`Settings`.

Its fields are the document's keys: a field holding a section dataclass is a section
(``[retry]``), a ``dict[str, <dataclass>]`` is a table of named entries
(``[providers.local]``), anything else a top-level value (``default_strategy``).
Nothing else lists them, so a shell extends the format by subclassing::

    @dataclass(frozen=True, slots=True)
    class EdgeSettings(Settings):
        server: ServerConfig = field(default_factory=ServerConfig)   # a [server] section
        provider_options = {**Settings.provider_options, "llamacpp": {...}}

and its constructors, environment overlay and ``to_dict`` know the new section
(edge_server/settings.py). The core alone, as the page runs it, knows only its own.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, get_args, get_origin

from .. import catalogue
from ..types import Deployment
from .environment import overlay
from .parsing import parse_json, parse_toml
from .problems import config_error
from .rules import NAME
from .sections import (
    AliasConfig,
    BreakerConfig,
    CacheConfig,
    HintsConfig,
    LoggingConfig,
    MonitorConfig,
    ProviderConfig,
    RetryConfig,
    StreamConfig,
)
from .validate import (
    Option,
    build,
    build_table,
    check_fields,
    check_options,
    fields_of,
    hints,
    register,
    reject_unknown,
    rules_of,
    validate,
)

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration. Build it with one of the constructors below."""

    retry: RetryConfig = field(default_factory=RetryConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    hints: HintsConfig = field(default_factory=HintsConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    aliases: dict[str, AliasConfig] = field(default_factory=dict)
    default_strategy: str = "priority"

    # A provider's ``options``, by its kind: each option's type and rule; any other option
    # is refused. A kind absent here is served by another shell: its options are kept as
    # given, unread (the page's core keeps an edge provider's). The edge adds its own kinds.
    provider_options: ClassVar[Mapping[str, Mapping[str, Option]]] = {
        "browser": {},  # served by the page, which reads none
    }

    def __post_init__(self) -> None:
        validate(self)
        self._validate_tables()

    # --- the document's shape, from the fields ----------------------------------------

    @classmethod
    def sections(cls) -> dict[str, type[Any]]:
        """The sections by key (``{"retry": RetryConfig, ...}``), in field order."""
        field_types = hints(cls)
        return {f.name: field_types[f.name] for f in fields_of(cls) if dataclasses.is_dataclass(field_types[f.name])}

    @classmethod
    def tables(cls) -> dict[str, type[Any]]:
        """The tables of named entries by key, and what each entry is (``{"providers": ProviderConfig, ...}``)."""
        out: dict[str, type[Any]] = {}
        for f in fields_of(cls):
            tp = hints(cls)[f.name]
            args = get_args(tp)
            if get_origin(tp) is dict and isinstance(args[1], type) and dataclasses.is_dataclass(args[1]):
                out[f.name] = args[1]
        return out

    @classmethod
    def top_level(cls) -> list[str]:
        """The plain values at the document's top level (``default_strategy``)."""
        nested = {**cls.sections(), **cls.tables()}
        return [f.name for f in fields_of(cls) if f.name not in nested]

    # --- constructors ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Settings from a parsed document; absent sections take their defaults."""
        if not isinstance(data, Mapping):
            raise config_error(catalogue.CONFIG_INVALID, "", "the configuration must be a table (mapping)", data)
        sections, tables, top_level = cls.sections(), cls.tables(), cls.top_level()
        reject_unknown(data, [*sections, *tables, *top_level], "")
        kwargs: dict[str, Any] = {}
        for name, section_cls in sections.items():
            if name in data:
                kwargs[name] = build(section_cls, data[name], name)
        for name, item_cls in tables.items():
            if name in data:
                kwargs[name] = build_table(item_cls, data[name], name)
        for name in top_level:
            if name in data:
                kwargs[name] = data[name]
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(parse_json(text))

    @classmethod
    def from_toml(cls, text: str) -> Self:
        return cls.from_dict(parse_toml(text))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], base: Self | None = None) -> Self:
        """``base`` (defaults if None) with the environment's overrides on top (module environment)."""
        return overlay(cls() if base is None else base, environ)

    @classmethod
    def load(cls, text: str | None = None, fmt: str = "toml", environ: Mapping[str, str] | None = None) -> Self:
        """The document ``text`` (``fmt`` "toml" or "json"), then ``environ`` on top."""
        kind = fmt.lower().lstrip(".")
        if kind not in ("toml", "json"):
            raise config_error(catalogue.CONFIG_INVALID, "fmt", f"unknown configuration format {fmt!r}; use 'toml' or 'json'", fmt)
        if text is None:
            settings = cls()
        elif kind == "toml":
            settings = cls.from_toml(text)
        else:
            settings = cls.from_json(text)
        return settings if environ is None else cls.from_env(environ, settings)

    # --- output -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, scalars, None) that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {name: _dump(getattr(self, name)) for name in self.sections()}
        for name in self.tables():
            table: dict[str, Any] = getattr(self, name)
            out[name] = {key: _dump(item, skip="name") for key, item in table.items()}
        for name in self.top_level():
            out[name] = getattr(self, name)
        return out

    # --- the checks that need the whole configuration -------------------------------

    def _validate_tables(self) -> None:
        """Keys match names, deployments are valid, options fit their kind, every reference resolves."""
        tables = self.tables()
        for table_name, item_cls in tables.items():
            table: dict[str, Any] = getattr(self, table_name)
            for key, item in list(table.items()):
                where = f"{table_name}.{key}"
                if item.name != key:
                    message = f"must match its key {key!r} (got {item.name!r})"
                    raise config_error(catalogue.CONFIG_INVALID, f"{where}.name", message, item.name)
                if item_cls is Deployment:  # not ours: it has no __post_init__ of its own
                    current = {f.name: getattr(item, f.name) for f in fields_of(item)}
                    checked = check_fields(Deployment, current, where)
                    if any(checked[k] is not current[k] for k in checked):
                        table[key] = Deployment(**checked)
        for key, provider in self.providers.items():
            schema = self.provider_options.get(provider.kind)
            if schema is not None:
                options = check_options(schema, provider.options, f"providers.{key}.options")
                if any(options[k] is not v for k, v in provider.options.items()):
                    object.__setattr__(provider, "options", options)  # converted (2 → 2.0): frozen-safe, as validate() does
        for table_name, item_cls in tables.items():
            rules = _rules_with_refs(item_cls)
            for key, item in getattr(self, table_name).items():
                for name, ref in rules.items():
                    value = getattr(item, name)
                    names = (value,) if isinstance(value, str) else value
                    declared: dict[str, Any] = getattr(self, ref)
                    for target in names:
                        if target not in declared:
                            known = sorted(declared)
                            close = difflib.get_close_matches(target, known, n=1)
                            hint = f"; did you mean {close[0]!r}?" if close else f" (declared: {', '.join(known) or 'none'})"
                            message = f"names {target!r}, which is not in {ref}{hint}"
                            raise config_error(catalogue.CONFIG_INVALID, f"{table_name}.{key}.{name}", message, target)


register(Settings, {"default_strategy": NAME}, section="")


def _rules_with_refs(cls: type[Any]) -> dict[str, str]:
    """The fields of ``cls`` that name entries of another table, and that table."""
    return {name: rule.ref for name, rule in rules_of(cls).items() if rule.ref is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return value


def _dump(obj: Any, skip: str | None = None) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in fields_of(obj) if f.name != skip}
