"""The core's sections, each with its rules: what a document's ``[retry]``, ``[breaker]``,
..., ``[providers.<name>]`` and ``[aliases.<name>]`` hold (``[deployments.<name>]`` is
:class:`~llm_runner_router.core.types.Deployment`, whose rules are here too).

A shell adds its own sections the same way: a frozen dataclass that calls
:func:`~.validate.validate` from ``__post_init__``, registered with its rules
(the edge server's ``[server]`` is edge_server/settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import Deployment
from .rules import DAY, FRACTION, MULTIPLIER, NAME, WEEK, Rule, count, seconds
from .validate import register, validate

__all__ = [
    "AliasConfig",
    "BreakerConfig",
    "CacheConfig",
    "HintsConfig",
    "LoggingConfig",
    "MonitorConfig",
    "ProviderConfig",
    "RetryConfig",
    "StreamConfig",
]


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
        validate(self)


register(
    RetryConfig,
    {
        "max_attempts": count(le=1_000),
        "initial_delay": seconds(ge=0),
        "max_delay": Rule(ge_field="initial_delay", le=DAY),
        "multiplier": MULTIPLIER,
        "deadline": seconds(),
        "retry_after_cap": seconds(ge=0),
    },
    section="retry",
)


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
        validate(self)


register(
    BreakerConfig,
    {
        "failure_threshold": count(),
        "window_seconds": seconds(),
        "min_calls": count(),
        "failure_rate_threshold": FRACTION,
        "slow_call_seconds": seconds(),
        "slow_call_rate_threshold": FRACTION,
        "cooldown": seconds(),
        "cooldown_multiplier": MULTIPLIER,
        "max_cooldown": Rule(ge_field="cooldown", le=WEEK),
        "half_open_max_calls": count(),
        "success_threshold": count(),
        "history_size": count(),  # a deque's maxlen per deployment
    },
    section="breaker",
)


@dataclass(frozen=True, slots=True)
class HintsConfig:
    """Learned compatibility: blacklisting and re-probing."""

    blacklist_after: int = 5
    reprobe_initial: float = 300.0
    reprobe_multiplier: float = 2.0
    reprobe_max: float = 86400.0

    def __post_init__(self) -> None:
        validate(self)


register(
    HintsConfig,
    {
        "blacklist_after": count(),
        "reprobe_initial": seconds(le=WEEK),
        "reprobe_multiplier": MULTIPLIER,
        "reprobe_max": Rule(ge_field="reprobe_initial", le=WEEK),
    },
    section="hints",
)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = True
    ttl: float = 3600.0
    max_entries: int = 1000

    def __post_init__(self) -> None:
        validate(self)


register(CacheConfig, {"ttl": seconds(le=WEEK), "max_entries": count(le=1_000_000)}, section="cache")


@dataclass(frozen=True, slots=True)
class StreamConfig:
    first_token_timeout: float = 30.0
    stall_timeout: float = 15.0
    max_restarts: int = 2

    def __post_init__(self) -> None:
        validate(self)


register(
    StreamConfig,
    {"first_token_timeout": seconds(), "stall_timeout": seconds(), "max_restarts": count(ge=0, le=1_000)},
    section="stream",
)


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    health_check_interval: float = 30.0  # seconds (the env var is in ms)
    memory_threshold: float = 0.9  # fraction of memory in use
    queue_size: int = 64
    max_concurrency: int = 4

    def __post_init__(self) -> None:
        validate(self)


register(
    MonitorConfig,
    {"health_check_interval": seconds(), "memory_threshold": FRACTION, "queue_size": count(), "max_concurrency": count()},
    section="monitor",
)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"  # DEBUG, INFO, WARNING, ERROR or CRITICAL; stored upper case

    def __post_init__(self) -> None:
        validate(self)


register(
    LoggingConfig,
    {
        "level": Rule(
            upper=True,
            aliases=(("WARN", "WARNING"), ("FATAL", "CRITICAL")),
            choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        ),
    },
    section="logging",
)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """A backend: a llama.cpp server, an OpenAI-compatible API, the browser engine.

    Its ``options`` depend on its kind, and on the shell that serves it: they are checked
    by :class:`~.settings.Settings` against its ``provider_options``."""

    name: str
    kind: str  # "llamacpp" | "openai" | "browser"
    base_url: str | None = None  # required for kind "openai"
    api_key_env: str | None = None  # the NAME of the env var holding the key
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)


register(
    ProviderConfig,
    {
        "name": NAME,
        "kind": Rule(choices=("llamacpp", "openai", "browser")),
        "base_url": Rule(http_url=True, required_if=("kind", "openai")),
        "api_key_env": NAME,
        "connect_timeout": seconds(),
        "read_timeout": seconds(),
    },
    table="providers",
)

# Not ours: Deployment (core/types.py) has no __post_init__; Settings checks its entries.
register(
    Deployment,
    {
        "name": NAME,
        "provider": Rule(nonempty=True, ref="providers"),
        "model": NAME,
        "endpoint": Rule(choices=("chat/completions", "responses", "completions")),
        "context_window": count(le=10_000_000),  # tokens
        "quality": Rule(ge=0, le=1),
        "cost_per_1k_tokens": Rule(ge=0, le=1_000_000),
        "expected_tokens_per_s": Rule(gt=0, le=1_000_000),
        "expected_ttft_s": seconds(ge=0),
        "max_concurrency": count(),
        "weight": Rule(gt=0, le=1_000),
    },
    table="deployments",
)


@dataclass(frozen=True, slots=True)
class AliasConfig:
    """A model name callers use, served by an ordered list of deployments."""

    name: str
    deployments: tuple[str, ...]
    strategy: str = "priority"
    hedge_after: float | None = None  # seconds before a hedged second call; None: no hedging
    context_window_fallbacks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate(self)


register(
    AliasConfig,
    {
        "name": NAME,
        "deployments": Rule(nonempty=True, unique=True, ref="deployments"),
        "strategy": NAME,
        "hedge_after": seconds(),
        "context_window_fallbacks": Rule(unique=True, ref="deployments"),
    },
    table="aliases",
)
