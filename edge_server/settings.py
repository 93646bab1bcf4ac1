"""The edge server's configuration: the core's :class:`Settings` plus what only the server reads.

:class:`EdgeSettings` adds the ``[server]`` section (:class:`ServerConfig`: CORS and what a
client may take of the server) and the options of the backends the server runs, by provider
kind (``llamacpp``: edge_server/llamacpp.py, ``openai``: edge_server/upstream.py). Everything
else -- the format, the environment overlay (``LLM_ROUTER__SERVER__CORS_ORIGINS`` included),
the error codes -- is the core's (core/config/). The page parses its settings with the core's
:class:`Settings` alone, which has no ``[server]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from llm_runner_router.core.config import NAME, Option, Rule, Settings, count, register, seconds, validate

__all__ = ["EdgeSettings", "ServerConfig"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The edge server's HTTP surface: the ``[server]`` section."""

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
        validate(self)


register(
    ServerConfig,
    {
        "cors_origins": Rule(unique=True, origins=True),
        "header_timeout": seconds(le=3_600),
        "body_timeout": seconds(le=3_600),
        "send_timeout": seconds(le=3_600),
        "max_connections": count(le=1_000_000),
    },
    section="server",
)


@dataclass(frozen=True, slots=True)
class EdgeSettings(Settings):
    """The server's whole configuration: the core's, and ``[server]``."""

    server: ServerConfig = field(default_factory=ServerConfig)

    provider_options: ClassVar[Mapping[str, Mapping[str, Option]]] = {
        **Settings.provider_options,
        # LlamaCppBackend's arguments (compose._build_backends). model_path: the embedded model
        # when absent; n_ctx: 2048 when absent; n_threads: every CPU when absent or none; slots: answers
        # decoded together (1 when absent: one at a time; see edge_server/batching.py).
        "llamacpp": {
            "model_path": (str, NAME),
            "n_ctx": (int, count(ge=16, le=1_048_576)),
            "n_threads": (int | None, count(le=1_024)),
            "slots": (int, count(ge=1, le=64)),
        },
        # Read by UpstreamBackend (see edge_server/upstream.py's docstring).
        "openai": {
            "include_usage": (bool, Rule()),
            "prefill": (str, Rule(choices=("message", "vllm", "prefix_flag"))),
            "health_timeout": (float, seconds(le=3_600)),
            "max_line_bytes": (int, count(le=64 * 1024 * 1024)),
        },
    }
