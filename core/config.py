"""Configuration: one typed, validated, immutable :class:`Settings`.

Sources, in the order they are layered by :meth:`Settings.load`:

1. the defaults below;
2. a TOML or JSON document (text the caller has read; this module does no I/O);
3. environment variables (a mapping the caller passes, e.g. ``os.environ``).

Shape of a document (TOML shown; JSON is the same tree)::

    default_strategy = "priority"

    [retry]                      # RetryConfig
    max_attempts = 3
    deadline = "none"            # TOML has no null: "none" means None

    [breaker]                    # BreakerConfig; also hints, cache, stream,
    cooldown = 10                # monitor, logging, server

    [providers.local]            # ProviderConfig; the key fills ``name``
    kind = "llamacpp"

    [providers.openai]
    kind = "openai"
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"

    [deployments.small]          # core.types.Deployment
    provider = "local"
    model = "qwen2.5-3b-instruct"

    [aliases.chat]               # AliasConfig
    deployments = ["small"]

Environment variables (:meth:`Settings.from_env`):

- the short legacy names: ``MAX_RETRIES`` → ``retry.max_attempts``;
  ``RETRY_DELAY`` (milliseconds) → ``retry.initial_delay`` (seconds);
  ``HEALTH_CHECK_INTERVAL`` (milliseconds) → ``monitor.health_check_interval``
  (seconds); ``MEMORY_THRESHOLD`` → ``monitor.memory_threshold``;
  ``LOG_LEVEL`` → ``logging.level``;
- the general form ``LLM_ROUTER__<SECTION>__<FIELD>`` for any field of the
  scalar sections (``LLM_ROUTER__BREAKER__COOLDOWN=10``), and
  ``LLM_ROUTER__DEFAULT_STRATEGY``. It is applied after the legacy names,
  so it wins where both set a field.

Values are converted to the field's type: integers, numbers, booleans
(``true/false/1/0/yes/no/on/off``), lists of strings (comma-separated), and
``none`` or the empty string for ``None`` where a field is optional. An empty value for a field that cannot
be ``None`` is ignored, as if unset.

Validation is generic: each dataclass field's annotation gives its type,
and :data:`_RULES` gives its constraints -- every number a range with an upper
bound (docs/core.md lists them). A provider's ``options`` are checked against
:data:`_OPTIONS` for its ``kind``: an option it does not take is refused. Every problem raises
:class:`~core.errors.ConfigError` whose message starts with the dotted path
of the field (``retry.max_attempts``) and whose ``context`` carries
``field`` and, where there is one, ``value``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import SplitResult, urlsplit

from . import catalogue
from .errors import ConfigError, ErrorSpec
from .types import Deployment

__all__ = [
    "ENV_PREFIX",
    "MAX_NESTING",
    "AliasConfig",
    "BreakerConfig",
    "CacheConfig",
    "HintsConfig",
    "LoggingConfig",
    "MonitorConfig",
    "ProviderConfig",
    "RetryConfig",
    "ServerConfig",
    "Settings",
    "StreamConfig",
    "nesting_depth",
]

T = TypeVar("T")

ENV_PREFIX: Final = "LLM_ROUTER__"
# Deeper than this, a document is refused before it is parsed: the parsers recurse once per
# level, and inside Pyodide the WASM stack runs out long before Python's recursion limit
# (a fatal error for the whole page, not an exception). Real configurations nest 3 deep.
MAX_NESTING: Final = 64


# --- the sections ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries of one deployment, and the overall budget of one request."""

    max_attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True
    # Overall seconds for one request's retries and fallbacks; None: no limit.
    deadline: float | None = 120.0
    # The longest Retry-After from an upstream that is honoured.
    retry_after_cap: float = 60.0

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A circuit breaker per deployment key."""

    failure_threshold: int = 5  # consecutive failures that open it
    window_seconds: float = 60.0
    min_calls: int = 10  # calls in the window before the rates count
    failure_rate_threshold: float = 0.5
    slow_call_seconds: float = 30.0
    slow_call_rate_threshold: float = 1.0  # 1.0: open only when every call is slow
    cooldown: float = 30.0
    cooldown_multiplier: float = 2.0
    max_cooldown: float = 600.0
    half_open_max_calls: int = 1
    success_threshold: int = 2
    history_size: int = 100

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class HintsConfig:
    """Learned compatibility: blacklisting and re-probing."""

    blacklist_after: int = 5
    reprobe_initial: float = 300.0
    reprobe_multiplier: float = 2.0
    reprobe_max: float = 86400.0

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = True
    ttl: float = 3600.0
    max_entries: int = 1000

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class StreamConfig:
    first_token_timeout: float = 30.0
    stall_timeout: float = 15.0
    max_restarts: int = 2

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    health_check_interval: float = 30.0  # seconds (the env var is in ms)
    memory_threshold: float = 0.9  # fraction of memory in use
    queue_size: int = 64
    max_concurrency: int = 4

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"  # DEBUG, INFO, WARNING, ERROR or CRITICAL; stored upper case

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The edge server's HTTP surface."""

    # Origins (scheme://host[:port], or "*" for any) whose pages may call the API
    # from a browser; empty: no CORS headers at all, so only same-origin pages can
    # read answers.
    cors_origins: tuple[str, ...] = ()
    # What a client may take of the server (edge_server/protocol.py): seconds for a
    # request's headers to arrive (from the connection or the previous answer), seconds
    # for its body, seconds a response may wait on a client that stopped reading, and
    # connections held at once (one more gets 503 LLM_RATE_005_E and is closed).
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    max_connections: int = 1000

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """A backend: a llama.cpp server, an OpenAI-compatible API, the browser engine."""

    name: str
    kind: str  # "llamacpp" | "openai" | "browser"
    base_url: str | None = None  # required for kind "openai"
    api_key_env: str | None = None  # the NAME of the env var holding the key
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate_instance(self)


@dataclass(frozen=True, slots=True)
class AliasConfig:
    """A model name callers use, served by an ordered list of deployments."""

    name: str
    deployments: tuple[str, ...]
    strategy: str = "priority"
    hedge_after: float | None = None  # seconds before a hedged second call; None: no hedging
    context_window_fallbacks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate_instance(self)


# Sections holding only scalar fields, by their key in a document.
_SECTIONS: Final[dict[str, type[Any]]] = {
    "retry": RetryConfig,
    "breaker": BreakerConfig,
    "hints": HintsConfig,
    "cache": CacheConfig,
    "stream": StreamConfig,
    "monitor": MonitorConfig,
    "logging": LoggingConfig,
    "server": ServerConfig,
}
_SECTION_OF: Final[dict[type[Any], str]] = {cls: name for name, cls in _SECTIONS.items()}

# Tables keyed by name, and what each entry is.
_TABLES: Final[dict[str, type[Any]]] = {
    "providers": ProviderConfig,
    "deployments": Deployment,
    "aliases": AliasConfig,
}
_TABLE_OF: Final[dict[type[Any], str]] = {cls: name for name, cls in _TABLES.items()}


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
    server: ServerConfig = field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    aliases: dict[str, AliasConfig] = field(default_factory=dict)
    default_strategy: str = "priority"

    def __post_init__(self) -> None:
        _validate_instance(self)
        _validate_tables(self)

    # --- constructors ---------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Settings from a parsed document; absent sections take their defaults."""
        if not isinstance(data, Mapping):
            raise _err(catalogue.CONFIG_INVALID, "", "the configuration must be a table (mapping)", data)
        _reject_unknown(data, [f.name for f in _fields(cls)], "")
        kwargs: dict[str, Any] = {}
        for name, section_cls in _SECTIONS.items():
            if name in data:
                kwargs[name] = _build(section_cls, data[name], name)
        for name, item_cls in _TABLES.items():
            if name in data:
                kwargs[name] = _build_table(item_cls, data[name], name)
        if "default_strategy" in data:
            kwargs["default_strategy"] = data["default_strategy"]
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        if nesting_depth(text, stop_at=MAX_NESTING) > MAX_NESTING:
            raise _parse_error("JSON", f"nested too deeply (more than {MAX_NESTING} levels)", None, None)
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise _parse_error("JSON", exc.msg, exc.lineno, exc.colno) from exc
        except RecursionError:
            raise _parse_error("JSON", "nested too deeply", None, None) from None
        except ValueError as exc:  # an integer of more than 4300 digits
            raise _parse_error("JSON", str(exc).split(";")[0], None, None) from None
        return cls.from_dict(data)

    @classmethod
    def from_toml(cls, text: str) -> Settings:
        if nesting_depth(text, toml=True, stop_at=MAX_NESTING) > MAX_NESTING:
            raise _parse_error("TOML", f"nested too deeply (more than {MAX_NESTING} levels)", None, None)
        try:
            data = tomllib.loads(text)
        except RecursionError:
            raise _parse_error("TOML", "nested too deeply", None, None) from None
        except tomllib.TOMLDecodeError as exc:
            line: int | None = getattr(exc, "lineno", None)  # Python >= 3.14
            col: int | None = getattr(exc, "colno", None)
            msg = str(getattr(exc, "msg", "") or exc)
            found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            if found is not None:
                msg = msg.replace(found.group(0), "").strip()
                if line is None:
                    line, col = int(found.group(1)), int(found.group(2))
            elif "(at end of document)" in msg:
                msg = msg.replace("(at end of document)", "").strip()
                if line is None:
                    line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
            raise _parse_error("TOML", msg, line, col) from exc
        except ValueError as exc:  # an integer of more than 4300 digits
            raise _parse_error("TOML", str(exc).split(";")[0], None, None) from None
        return cls.from_dict(data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], base: Settings | None = None) -> Settings:
        """``base`` (defaults if None) with the environment's overrides on top."""
        base = cls() if base is None else base
        sections: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}

        for var, (section, name, divisor) in _LEGACY_ENV.items():
            if var in environ:
                value = _env_value(_SECTIONS[section], name, environ[var], f"{section}.{name}", var, divisor)
                if value is not _UNSET:
                    sections.setdefault(section, {})[name] = value

        for var in sorted(environ):
            if not var.upper().startswith(ENV_PREFIX):
                continue
            parts = var[len(ENV_PREFIX) :].lower().split("__")
            if len(parts) == 1 and parts[0] not in _SECTIONS and parts[0] not in _TABLES:
                _reject_unknown({parts[0]: None}, ["default_strategy"], "", var)
                value = _env_value(cls, parts[0], environ[var], parts[0], var, None)
                if value is not _UNSET:
                    top[parts[0]] = value
                continue
            section = parts[0]
            if section in _TABLES or (section in _SECTIONS and len(parts) != 2):
                raise _err(
                    catalogue.CONFIG_INVALID,
                    section,
                    f"{var} does not name a scalar field: use {ENV_PREFIX}<SECTION>__<FIELD> with SECTION one of {', '.join(_SECTIONS)}",
                    environ[var],
                    env=var,
                )
            _reject_unknown({section: None}, [*_SECTIONS, "default_strategy"], "", var)
            section_cls = _SECTIONS[section]
            name = parts[1]
            _reject_unknown({name: None}, [f.name for f in _fields(section_cls)], section, var)
            value = _env_value(section_cls, name, environ[var], f"{section}.{name}", var, None)
            if value is not _UNSET:
                sections.setdefault(section, {})[name] = value

        changes: dict[str, Any] = dict(top)
        for section, values in sections.items():
            changes[section] = dataclasses.replace(getattr(base, section), **values)
        return dataclasses.replace(base, **changes) if changes else base

    @classmethod
    def load(
        cls,
        text: str | None = None,
        fmt: str = "toml",
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """The document ``text`` (``fmt`` "toml" or "json"), then ``environ`` on top."""
        kind = fmt.lower().lstrip(".")
        if kind not in ("toml", "json"):
            raise _err(catalogue.CONFIG_INVALID, "fmt", f"unknown configuration format {fmt!r}; use 'toml' or 'json'", fmt)
        if text is None:
            settings = cls()
        elif kind == "toml":
            settings = cls.from_toml(text)
        else:
            settings = cls.from_json(text)
        return settings if environ is None else cls.from_env(environ, settings)

    # --- output -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, scalars, None) that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {name: _dump(getattr(self, name)) for name in _SECTIONS}
        for name in _TABLES:
            table: dict[str, Any] = getattr(self, name)
            out[name] = {key: _dump(item, skip="name") for key, item in table.items()}
        out["default_strategy"] = self.default_strategy
        return out


# --- nesting ---------------------------------------------------------------------

_NESTING_TOKENS: Final = re.compile(r"[\[\]{}\"'#\\\n]")


def nesting_depth(text: str, *, toml: bool = False, stop_at: int | None = None) -> int:
    """How deeply arrays and tables nest in a JSON (or, with ``toml``, TOML) text, without
    parsing it: brackets inside strings and TOML comments do not count. Stops counting
    once past ``stop_at``. Only the characters that matter are visited, so it is fast."""
    depth = deepest = 0
    quote = ""  # the quote character of the string we are in, if any
    escape_at = -1  # in a string with escapes: the position a backslash escapes
    comment = False
    for match in _NESTING_TOKENS.finditer(text):
        c, at = match.group(), match.start()
        if comment:
            comment = c != "\n"
        elif quote:
            if c == "\\" and quote == '"':
                escape_at = -1 if at == escape_at else at + 1
            elif c == quote and at != escape_at:
                quote = ""
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if stop_at is not None and deepest > stop_at:
                break
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == '"' or (c == "'" and toml):
            quote = c
        elif c == "#" and toml:
            comment = True
    return deepest


# --- constraints ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
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
    ref: str | None = None  # Settings table each name must be a key of
    options_by: str | None = None  # tables: their keys and values are checked by _OPTIONS[this field's value]


# Upper bounds. Every number has one: the values are used as deque lengths, sleep and socket
# timeouts, and in arithmetic, where a huge one overflows (OverflowError) or never ends.
_DAY: Final = 86_400.0  # seconds
_WEEK: Final = 7 * _DAY
_COUNT: Final = 100_000  # thresholds, sizes and concurrency
_GROWTH: Final = 100.0  # multipliers


def _seconds(*, le: float = _DAY, ge: float | None = None) -> _Rule:
    """A duration: > 0 (or >= ``ge``), up to ``le``."""
    return _Rule(gt=None if ge is not None else 0, ge=ge, le=le)


def _count(*, ge: int = 1, le: int = _COUNT) -> _Rule:
    return _Rule(ge=ge, le=le)


_FRACTION: Final = _Rule(gt=0, le=1)  # 0 < x <= 1
_MULTIPLIER: Final = _Rule(ge=1, le=_GROWTH)
_NAME: Final = _Rule(nonempty=True)

_RULES: Final[dict[type[Any], dict[str, _Rule]]] = {
    RetryConfig: {
        "max_attempts": _count(le=1_000),
        "initial_delay": _seconds(ge=0),
        "max_delay": _Rule(ge_field="initial_delay", le=_DAY),
        "multiplier": _MULTIPLIER,
        "deadline": _seconds(),
        "retry_after_cap": _seconds(ge=0),
    },
    BreakerConfig: {
        "failure_threshold": _count(),
        "window_seconds": _seconds(),
        "min_calls": _count(),
        "failure_rate_threshold": _FRACTION,
        "slow_call_seconds": _seconds(),
        "slow_call_rate_threshold": _FRACTION,
        "cooldown": _seconds(),
        "cooldown_multiplier": _MULTIPLIER,
        "max_cooldown": _Rule(ge_field="cooldown", le=_WEEK),
        "half_open_max_calls": _count(),
        "success_threshold": _count(),
        "history_size": _count(),  # a deque's maxlen per deployment
    },
    HintsConfig: {
        "blacklist_after": _count(),
        "reprobe_initial": _seconds(le=_WEEK),
        "reprobe_multiplier": _MULTIPLIER,
        "reprobe_max": _Rule(ge_field="reprobe_initial", le=_WEEK),
    },
    CacheConfig: {
        "ttl": _seconds(le=_WEEK),
        "max_entries": _count(le=1_000_000),
    },
    StreamConfig: {
        "first_token_timeout": _seconds(),
        "stall_timeout": _seconds(),
        "max_restarts": _count(ge=0, le=1_000),
    },
    MonitorConfig: {
        "health_check_interval": _seconds(),
        "memory_threshold": _FRACTION,
        "queue_size": _count(),
        "max_concurrency": _count(),
    },
    ServerConfig: {
        "cors_origins": _Rule(unique=True, origins=True),
        "header_timeout": _seconds(le=3_600),
        "body_timeout": _seconds(le=3_600),
        "send_timeout": _seconds(le=3_600),
        "max_connections": _count(le=1_000_000),
    },
    LoggingConfig: {
        "level": _Rule(
            upper=True,
            aliases=(("WARN", "WARNING"), ("FATAL", "CRITICAL")),
            choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        ),
    },
    ProviderConfig: {
        "name": _NAME,
        "kind": _Rule(choices=("llamacpp", "openai", "browser")),
        "base_url": _Rule(http_url=True, required_if=("kind", "openai")),
        "api_key_env": _NAME,
        "connect_timeout": _seconds(),
        "read_timeout": _seconds(),
        "options": _Rule(options_by="kind"),
    },
    Deployment: {
        "name": _NAME,
        "provider": _Rule(nonempty=True, ref="providers"),
        "model": _NAME,
        "endpoint": _Rule(choices=("chat/completions", "responses", "completions")),
        "context_window": _count(le=10_000_000),  # tokens
        "quality": _Rule(ge=0, le=1),
        "cost_per_1k_tokens": _Rule(ge=0, le=1_000_000),
        "expected_tokens_per_s": _Rule(gt=0, le=1_000_000),
        "expected_ttft_s": _seconds(ge=0),
        "max_concurrency": _count(),
        "weight": _Rule(gt=0, le=1_000),
    },
    AliasConfig: {
        "name": _NAME,
        "deployments": _Rule(nonempty=True, unique=True, ref="deployments"),
        "strategy": _NAME,
        "hedge_after": _seconds(),
        "context_window_fallbacks": _Rule(unique=True, ref="deployments"),
    },
    Settings: {
        "default_strategy": _NAME,
    },
}

# A provider's ``options``, by its kind: each option's type and rule. Any other option is refused.
_OPTIONS: Final[dict[str, dict[str, tuple[Any, _Rule]]]] = {
    # edge_server.llamacpp.LlamaCppBackend's arguments. model_path: the embedded model when
    # absent; n_ctx: 2048 when absent; n_threads: every CPU when absent or none.
    "llamacpp": {
        "model_path": (str, _NAME),
        "n_ctx": (int, _count(ge=16, le=1_048_576)),
        "n_threads": (int | None, _count(le=1_024)),
    },
    # Read by edge_server.upstream.UpstreamBackend (see its module docstring).
    "openai": {
        "include_usage": (bool, _Rule()),
        "prefill": (str, _Rule(choices=("message", "vllm", "prefix_flag"))),
        "health_timeout": (float, _seconds(le=3_600)),
        "max_line_bytes": (int, _count(le=64 * 1024 * 1024)),
    },
    "browser": {},  # served by the page: the server reads nothing
}

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
_UNSET: Final = object()


# --- the generic machinery -------------------------------------------------------


def _err(spec: ErrorSpec, path: str, message: str, value: Any = _UNSET, **context: Any) -> ConfigError:
    """A ConfigError whose message starts with the field's dotted path."""
    text = f"{path}: {message}" if path else message
    if value is not _UNSET:
        context["value"] = value
    exc = spec.error(text, field=path, **context)
    assert isinstance(exc, ConfigError)
    return exc


def _parse_error(fmt: str, msg: str, line: int | None, col: int | None) -> ConfigError:
    where = f" at line {line}, column {col}" if line is not None else ""
    return _err(catalogue.CONFIG_PARSE, "", f"invalid {fmt}{where}: {msg}", line=line, column=col)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _err(catalogue.CONFIG_PARSE, "", f"invalid JSON: duplicate key {key!r}", key)
        out[key] = value
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _path_of(obj: object) -> str:
    cls = type(obj)
    if cls in _TABLE_OF:
        return f"{_TABLE_OF[cls]}.{getattr(obj, 'name', '?')}"
    return _SECTION_OF.get(cls, "")


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return inner[0], len(inner) < len(args)
    return tp, False


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is tuple:
        return "a list of strings"
    if origin is dict:
        return "a table"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, f"a {getattr(tp, '__name__', tp)}")


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """``value`` as type ``tp`` (int → float, list → tuple), or a ConfigError."""
    inner, optional = _unwrap_optional(tp)
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
                raise _err(catalogue.CONFIG_INVALID, path, f"must be a finite number (got {value!r})", value)
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
    expected = _describe(inner) + (" or none" if optional else "")
    raise _err(catalogue.CONFIG_INVALID, path, f"must be {expected} (got {value!r})", value)


def _apply_rule(rule: _Rule, value: Any, path: str) -> Any:
    """Check one field's own constraints; returns the value, normalised."""
    invalid = catalogue.CONFIG_INVALID
    if isinstance(value, str):
        if rule.nonempty and not value.strip():
            raise _err(invalid, path, "must not be empty", value)
        if rule.upper:
            value = value.strip().upper()
        value = dict(rule.aliases).get(value, value)
        if rule.choices and value not in rule.choices:
            raise _err(invalid, path, f"must be one of {', '.join(rule.choices)} (got {value!r})", value)
        if rule.http_url and _http_url(value) is None:
            raise _err(invalid, path, f"must be an http:// or https:// URL (got {value!r})", value)
    elif isinstance(value, tuple):
        if rule.nonempty and not value:
            raise _err(invalid, path, "must not be empty", list(value))
        if rule.unique and len(set(value)) != len(value):
            raise _err(invalid, path, f"must not repeat a name (got {list(value)!r})", list(value))
        if rule.nonempty and any(not v.strip() for v in value):
            raise _err(invalid, path, "must not contain an empty name", list(value))
        if rule.origins:
            for origin in value:
                parts = _http_url(origin)
                if origin != "*" and (parts is None or parts.path or parts.query or parts.fragment or "@" in parts.netloc):
                    raise _err(invalid, path, f"must hold origins like https://app.example.com:8443, or * (got {origin!r})", list(value))
            # Browsers send scheme and host in lower case, and CORS compares origins as strings.
            value = tuple(origin.lower() for origin in value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and not _within(rule, value):
        raise _err(invalid, path, f"must be {_allowed(rule, path)} (got {value!r})", value)
    return value


def _within(rule: _Rule, value: float) -> bool:
    """Whether a number is in the rule's range (NaN never is)."""
    return (rule.gt is None or value > rule.gt) and (rule.ge is None or value >= rule.ge) and (rule.le is None or value <= rule.le)


def _number(x: float) -> str:
    """A bound as it is written in a document: 100000, 0.5."""
    return str(int(x)) if float(x).is_integer() else repr(x)


def _allowed(rule: _Rule, path: str) -> str:
    """The range a rule allows, e.g. "in [1, 100000]", "in (0, 86400]", "in [retry.initial_delay, 86400]"."""
    low = f"({_number(rule.gt)}" if rule.gt is not None else f"[{_number(rule.ge)}" if rule.ge is not None else ""
    if not low and rule.ge_field is not None:
        low = f"[{_join(path.rpartition('.')[0], rule.ge_field)}"
    if rule.le is None:
        return f"{'>' if low.startswith('(') else '>='} {low[1:]}"
    if not low:
        return f"<= {_number(rule.le)}"
    return f"in {low}, {_number(rule.le)}]"


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


def _fields(cls_or_obj: Any) -> tuple[dataclasses.Field[Any], ...]:
    """The fields a configuration sets: derived ones (init=False, e.g. Deployment.key) are not."""
    return tuple(f for f in dataclasses.fields(cls_or_obj) if f.init)


def _check_fields(cls: type[Any], values: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Every field of ``cls`` in ``values`` type-checked, converted and constrained."""
    hints = _hints(cls)
    rules = _RULES.get(cls, {})
    out: dict[str, Any] = {}
    for f in _fields(cls):
        where = _join(path, f.name)
        value = _coerce(hints[f.name], values[f.name], where)
        rule = rules.get(f.name)
        if rule is not None and value is not None:
            value = _apply_rule(rule, value, where)
        out[f.name] = value
    # Constraints between fields, once every field has its type.
    for name, rule in rules.items():
        where = _join(path, name)
        value = out[name]
        if rule.ge_field is not None and value is not None:
            other = out[rule.ge_field]
            if other is not None and not value >= other:
                raise _err(
                    catalogue.CONFIG_INVALID,
                    where,
                    f"must be >= {_join(path, rule.ge_field)} ({value!r} < {other!r})",
                    value,
                )
        if rule.required_if is not None and value is None:
            other_name, other_value = rule.required_if
            if out[other_name] == other_value:
                raise _err(catalogue.CONFIG_MISSING_FIELD, where, f"is required when {other_name} is {other_value!r}")
        if rule.options_by is not None and value is not None:
            out[name] = _check_options(_OPTIONS.get(out[rule.options_by], {}), value, where)
    return out


def _check_options(schema: Mapping[str, tuple[Any, _Rule]], options: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A table of options (a provider's ``options``) checked against ``schema``: no unknown
    key, each value of its type and within its rule. Returns a new dict of the converted values."""
    _reject_unknown(options, list(schema), path)
    out: dict[str, Any] = {}
    for key, value in options.items():
        tp, rule = schema[key]
        where = _join(path, key)
        checked = _coerce(tp, value, where)
        out[key] = checked if checked is None else _apply_rule(rule, checked, where)
    return out


def _validate_instance(obj: Any) -> None:
    """Check a dataclass instance in place, storing converted values (frozen-safe)."""
    current = {f.name: getattr(obj, f.name) for f in _fields(obj)}
    checked = _check_fields(type(obj), current, _path_of(obj))
    for name, value in checked.items():
        if value is not current[name]:
            object.__setattr__(obj, name, value)


def _validate_tables(settings: Settings) -> None:
    """Keys match names, deployments are valid, and every reference resolves."""
    for table_name, item_cls in _TABLES.items():
        table: dict[str, Any] = getattr(settings, table_name)
        for key, item in list(table.items()):
            where = f"{table_name}.{key}"
            if item.name != key:
                raise _err(catalogue.CONFIG_INVALID, f"{where}.name", f"must match its key {key!r} (got {item.name!r})", item.name)
            if item_cls is Deployment:  # not ours: it has no __post_init__ of its own
                current = {f.name: getattr(item, f.name) for f in _fields(item)}
                checked = _check_fields(Deployment, current, where)
                if any(checked[k] is not current[k] for k in checked):
                    table[key] = Deployment(**checked)
    for table_name, item_cls in _TABLES.items():
        rules = _RULES.get(item_cls, {})
        for key, item in getattr(settings, table_name).items():
            for name, rule in rules.items():
                if rule.ref is None:
                    continue
                value = getattr(item, name)
                names = (value,) if isinstance(value, str) else value
                declared: dict[str, Any] = getattr(settings, rule.ref)
                for ref in names:
                    if ref not in declared:
                        known = sorted(declared)
                        close = difflib.get_close_matches(ref, known, n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else f" (declared: {', '.join(known) or 'none'})"
                        raise _err(
                            catalogue.CONFIG_INVALID,
                            f"{table_name}.{key}.{name}",
                            f"names {ref!r}, which is not in {rule.ref}{hint}",
                            ref,
                        )


def _reject_unknown(data: Mapping[Any, Any], known: list[str], path: str, env: str | None = None) -> None:
    for key in data:
        if isinstance(key, str) and key in known:
            continue
        name = str(key)
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"; did you mean {_join(path, close[0])!r}?"
        else:
            hint = f"; expected one of {', '.join(known)}" if known else "; no field is accepted here"
        source = f" (from {env})" if env else ""
        context: dict[str, Any] = {"suggestion": close[0] if close else None}
        if env:
            context["env"] = env
        raise _err(catalogue.CONFIG_UNKNOWN_FIELD, _join(path, name), f"unknown field{source}{hint}", **context)


def _build(cls: Callable[..., T], data: Any, path: str, name: str | None = None) -> T:
    """An instance of dataclass ``cls`` from a table; ``name`` (a table key) fills ``name``."""
    if not isinstance(data, Mapping):
        raise _err(catalogue.CONFIG_INVALID, path, f"must be a table (got {data!r})", data)
    all_fields = _fields(cls)
    _reject_unknown(data, [f.name for f in all_fields], path)
    values: dict[str, Any] = {}
    for f in all_fields:
        if f.name == "name" and name is not None:
            if "name" in data and data["name"] != name:
                raise _err(
                    catalogue.CONFIG_INVALID, _join(path, "name"), f"must match its key {name!r} (got {data['name']!r})", data["name"]
                )
            values["name"] = name
        elif f.name in data:
            values[f.name] = data[f.name]
        elif f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
        else:
            raise _err(catalogue.CONFIG_MISSING_FIELD, _join(path, f.name), "is required")
    return cls(**_check_fields(cls, values, path))  # type: ignore[arg-type]


def _build_table(cls: Callable[..., T], data: Any, path: str) -> dict[str, T]:
    if not isinstance(data, Mapping):
        raise _err(catalogue.CONFIG_INVALID, path, f"must be a table of entries keyed by name (got {data!r})", data)
    out: dict[str, T] = {}
    for key, entry in data.items():
        if not isinstance(key, str) or not key.strip():
            raise _err(catalogue.CONFIG_INVALID, f"{path}.{key}", "names must be non-empty strings", key)
        out[key] = _build(cls, entry, f"{path}.{key}", name=key)
    return out


def _env_value(cls: type[Any], name: str, raw: str, path: str, var: str, divisor: float | None) -> Any:
    """An environment string as field ``name`` of ``cls`` wants it; _UNSET to ignore it."""
    inner, optional = _unwrap_optional(_hints(cls)[name])
    text = raw.strip()
    if not text or (optional and text.lower() == "none"):
        return None if optional else _UNSET
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
        raise _err(catalogue.CONFIG_INVALID, path, f"{var}={shown} is not {_describe(inner)}", raw, env=var)
    # The range here, so that the error names the variable (the section checks it again).
    rule = _RULES.get(cls, {}).get(name)
    if rule is not None:
        try:
            _apply_rule(rule, number, path)
        except ConfigError:
            seconds = f" ({number:g} seconds)" if divisor else ""
            raise _err(catalogue.CONFIG_INVALID, path, f"{var}={shown}{seconds} must be {_allowed(rule, path)}", raw, env=var) from None
    return number


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return value


def _dump(obj: Any, skip: str | None = None) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in _fields(obj) if f.name != skip}
