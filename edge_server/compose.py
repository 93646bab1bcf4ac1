"""The composition root: settings, backends, store, router, monitor and app, put together.

With no configuration file it serves the embedded default model
(SmolLM2-135M-Instruct, Q4_1 GGUF) on llama.cpp under the model names
``SmolLM2-135M-Instruct`` and ``default``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.classify import classify
from llm_runner_router.core.config import Settings
from llm_runner_router.core.router import Router
from llm_runner_router.core.store import Store

from .admission import Admission
from .app import create_app
from .model_fetch import MODEL_FILE
from .monitor import Monitor
from .paths import data_dir, models_dir
from .settings import EdgeSettings
from .state import EdgeState

__all__ = ["build_state", "default_settings", "load_settings", "make_app"]

_log = jsonlog.get_logger("llm_runner_router.edge.compose")

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_N_CTX = 2048


def default_settings(model_path: Path | None = None, n_ctx: int = DEFAULT_N_CTX) -> dict[str, Any]:
    path = model_path or models_dir() / MODEL_FILE
    return {
        "providers": {"local": {"kind": "llamacpp", "options": {"model_path": str(path), "n_ctx": n_ctx}}},
        "deployments": {
            "local-smollm2": {
                "provider": "local",
                "model": DEFAULT_MODEL_NAME,
                "context_window": n_ctx,
                "accepts_prefix": True,
                "expected_tokens_per_s": 50.0,
            }
        },
        "aliases": {
            DEFAULT_MODEL_NAME: {"deployments": ["local-smollm2"]},
            "default": {"deployments": ["local-smollm2"]},
        },
    }


def load_settings(config: Path | None, environ: Mapping[str, str] = os.environ) -> EdgeSettings:
    """The configuration file (TOML or JSON, by extension) with environment overrides, or the defaults."""
    if config is None:
        return EdgeSettings.from_env(environ, base=EdgeSettings.from_dict(default_settings()))
    try:
        text = config.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise catalogue.CONFIG_PARSE.error(f"{config}: not UTF-8 text (byte {exc.start})", path=str(config)) from None
    except OSError as exc:
        raise catalogue.CONFIG_INVALID.error(f"cannot read {config}: {exc.strerror or exc}", path=str(config)) from None
    fmt = "json" if config.suffix.lower() == ".json" else "toml"
    return EdgeSettings.load(text, fmt=fmt, environ=environ)


def _build_backends(settings: Settings) -> dict[str, Any]:
    backends: dict[str, Any] = {}
    for name, provider in settings.providers.items():
        if provider.kind == "llamacpp":
            from .llamacpp import LlamaCppBackend  # llama-cpp-python is heavy: imported only when used

            # Checked when the settings were loaded (EdgeSettings.provider_options): model_path a
            # non-empty string, n_ctx an int in [16, 1048576], n_threads an int in [1, 1024] or None, slots in [1, 64].
            opts = provider.options
            path = opts.get("model_path") or str(models_dir() / MODEL_FILE)
            backends[name] = LlamaCppBackend(
                path, n_ctx=opts.get("n_ctx", DEFAULT_N_CTX), n_threads=opts.get("n_threads"), slots=opts.get("slots", 1)
            )
        elif provider.kind == "openai":
            from .upstream import UpstreamBackend

            backends[name] = UpstreamBackend(provider)
        # "browser" providers are served by the page itself, never by the server.
    return backends


def _open_store(path: Path | None) -> Store:
    from .store import SQLiteStore

    target = path or data_dir() / "router.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write-behind: a synchronous commit fsyncs (~4 ms here), too slow for the event loop on
    # every request outcome. Records are committed within 50 ms, and on shutdown.
    return SQLiteStore(target, write_behind=True)


def build_state(
    settings: Settings,
    *,
    backends: Mapping[str, Any] | None = None,
    store: Store | None = None,
    store_path: Path | None = None,
    api_key: str | None = None,
    monitor: bool = True,
) -> EdgeState:
    if not isinstance(settings, EdgeSettings):
        # The core's Settings (a test's, a bench's, built by hand): read as the server's, so that
        # its providers' options are checked against the backends here; [server] takes its defaults.
        settings = EdgeSettings.from_dict(settings.to_dict())
    backends = dict(backends) if backends is not None else _build_backends(settings)
    store = store if store is not None else _open_store(store_path)
    router = Router(settings, backends, store=store)
    admission = Admission(settings.monitor.max_concurrency, settings.monitor.queue_size)
    state = EdgeState(router=router, backends=backends, store=store, admission=admission, api_key=api_key, server=settings.server)

    async def remember_loop() -> None:
        state.loop = asyncio.get_running_loop()

    async def load_models() -> None:
        for name, backend in backends.items():
            load = getattr(backend, "load", None)
            if load is None:
                continue
            try:
                await load()
                _log.info("backend ready", backend=name)
            except Exception as exc:  # keep serving: other deployments, and the monitor retries the load
                _log.error("backend failed to load", error=classify(exc), backend=name)

    async def start_monitor() -> None:
        if monitor:
            state.monitor = Monitor(state)
            state.monitor.start()

    async def stop_monitor() -> None:
        if state.monitor is not None:
            await state.monitor.stop()

    async def close_backends() -> None:
        for backend in backends.values():
            for closer in ("aclose", "unload"):
                fn = getattr(backend, closer, None)
                if fn is not None:
                    await fn()
                    break

    async def close_store() -> None:
        for name in ("flush", "close"):
            fn = getattr(store, name, None)
            if callable(fn):
                fn()

    state.on_startup += [remember_loop, load_models, start_monitor]
    state.on_shutdown += [close_store, close_backends, stop_monitor]  # run in reverse: monitor, backends, store
    return state


def make_app(config: Path | None = None, environ: Mapping[str, str] = os.environ) -> Any:
    settings = load_settings(config, environ)
    jsonlog.configure_logging(settings.logging.level)
    # HTTP strips the spaces around a header value, so a key with spaces around it
    # could never match; a key of spaces only is no key (the admin endpoints stay shut).
    state = build_state(settings, api_key=environ.get("LLM_ROUTER_API_KEY", "").strip() or None)
    return create_app(state)
