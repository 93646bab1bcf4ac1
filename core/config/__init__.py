"""Configuration: one typed, validated, immutable :class:`Settings`.

Sources, in the order they are layered by :meth:`Settings.load`:

1. the defaults (the section dataclasses' own);
2. a TOML or JSON document (text the caller has read; this package does no I/O);
3. environment variables (a mapping the caller passes, e.g. ``os.environ``).

Shape of a document (TOML shown; JSON is the same tree)::

    default_strategy = "priority"

    [retry]                      # RetryConfig
    max_attempts = 3
    deadline = "none"            # TOML has no null: "none" means None

    [breaker]                    # BreakerConfig; also hints, cache, stream,
    cooldown = 10                # monitor, logging

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

The modules, one concept each:

- ``sections`` -- the core's section dataclasses and their rules;
- ``settings`` -- :class:`Settings`, the whole document; a shell subclasses it to add its own
  sections and provider kinds (the edge server's ``[server]``: edge_server/settings.py);
- ``rules`` -- what a value must satisfy beyond its type: every number a range with an
  upper bound (docs/core.md lists them);
- ``validate`` -- the generic machinery: conversion to a field's type, unknown keys refused
  with the nearest known one, dataclasses built from tables, the rules' registry;
- ``environment`` -- the environment overlay (``LLM_ROUTER__<SECTION>__<FIELD>``, the legacy names);
- ``parsing`` -- TOML and JSON text to data, nesting limited;
- ``problems`` -- how a problem is reported.

Every problem raises :class:`~llm_runner_router.core.errors.ConfigError` whose message starts
with the dotted path of the field (``retry.max_attempts``) and whose ``context`` carries
``field`` and, where there is one, ``value``.
"""

from __future__ import annotations

from .environment import ENV_PREFIX
from .parsing import MAX_NESTING, nesting_depth
from .rules import COUNT, DAY, FRACTION, MULTIPLIER, NAME, WEEK, Rule, allowed, count, seconds
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
from .settings import Settings
from .validate import Option, register, rules_of, validate

__all__ = [
    # the configuration
    "AliasConfig",
    "BreakerConfig",
    "CacheConfig",
    "HintsConfig",
    "LoggingConfig",
    "MonitorConfig",
    "ProviderConfig",
    "RetryConfig",
    "Settings",
    "StreamConfig",
    # the environment and documents
    "ENV_PREFIX",
    "MAX_NESTING",
    "nesting_depth",
    # for a shell's own sections and provider kinds (edge_server/settings.py), and the docs' tests
    "COUNT",
    "DAY",
    "FRACTION",
    "MULTIPLIER",
    "NAME",
    "WEEK",
    "Option",
    "Rule",
    "allowed",
    "count",
    "register",
    "rules_of",
    "seconds",
    "validate",
]
