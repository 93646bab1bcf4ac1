"""The edge server: the imperative shell around the core, on CPython (the ``server`` extra).

The public surface is re-exported here and loaded on first use (PEP 562), so that
``llm-runner-router --version`` and ``demo`` start without importing Starlette,
uvicorn or llama.cpp::

    from llm_runner_router.edge import make_app, uvicorn_config
    app = make_app(Path("router.toml"))            # a Starlette app, for any ASGI server
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .cli import main
    from .compose import build_state, default_settings, load_settings, make_app
    from .llamacpp import LlamaCppBackend
    from .model_fetch import ensure_model
    from .protocol import uvicorn_config
    from .settings import EdgeSettings, ServerConfig
    from .state import EdgeState
    from .store import SQLiteStore
    from .upstream import UpstreamBackend

# name -> the module (under this package) that defines it
_EXPORTS = {
    "EdgeSettings": "settings",
    "EdgeState": "state",
    "LlamaCppBackend": "llamacpp",
    "SQLiteStore": "store",
    "ServerConfig": "settings",
    "UpstreamBackend": "upstream",
    "build_state": "compose",
    "create_app": "app",
    "default_settings": "compose",
    "ensure_model": "model_fetch",
    "load_settings": "compose",
    "main": "cli",
    "make_app": "compose",
    "uvicorn_config": "protocol",
}

__all__ = [
    "EdgeSettings",
    "EdgeState",
    "LlamaCppBackend",
    "SQLiteStore",
    "ServerConfig",
    "UpstreamBackend",
    "build_state",
    "create_app",
    "default_settings",
    "ensure_model",
    "load_settings",
    "main",
    "make_app",
    "uvicorn_config",
]
assert sorted(_EXPORTS) == __all__


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
