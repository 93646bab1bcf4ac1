#!/usr/bin/env python3
"""The router's own per-request cost, next to LiteLLM's Router doing the same job.

Both sides stream the same 48-character answer as 16 pieces of 3 characters
from an instant, in-memory source, and each whole request is timed with
``time.perf_counter_ns`` from the call to the last chunk consumed (the end of
the stream):

* ``ours``: ``async for ev in Router.stream(ChatRequest)`` over a backend
  that yields 16 pre-built ``BackendChunk`` objects (the last carries
  ``finish_reason="stop"`` and usage). The router yields 16 ``Delta`` events
  and one ``Done``. The figure is the whole request *including* the backend
  (conservative); ``ours_backend_only`` is the bare cost of iterating the
  same backend directly, so ``ours - ours_backend_only`` is the router's net
  cost (decision, bookkeeping, metrics, breakers, hints, cache).
* ``litellm``: ``litellm.Router(...).acompletion(model="m", messages=...,
  stream=True)`` with ``mock_response`` set on the deployment, iterating
  every chunk. LiteLLM's mock stream cuts the text into 3-character pieces,
  so the 48-character text gives 16 content chunks, after which its stream
  wrapper adds one chunk carrying ``finish_reason="stop"`` (17 chunks
  consumed, like our 16 ``Delta`` + 1 ``Done``). No ``mock_delay`` is set
  (the only sleeps in LiteLLM's mock path); sleeps and socket connections
  are counted during the timed LiteLLM loops and reported (both should be 0).
  LiteLLM's local cost map and other local-copy switches are set, no
  callbacks are configured, and LiteLLM's own default (in-process) success
  logging stays on, as a LiteLLM user gets it.

The sides run interleaved in rounds (ours, backend, LiteLLM; the order
reversed every other round) after a warm-up, so both share the machine's
noise. Between blocks the loop is drained of LiteLLM's background tasks.

Garbage collection stays ON during the timed loops (``--gc on``, the
default): a server does not turn it off, and each side then pays for
collecting its own garbage (it shows in p99). Before timing, everything
allocated so far (imports, LiteLLM's large module graph, warm-up) is moved
to the permanent generation with ``gc.freeze()``, so neither side pays for
full collections that scan the other's heap. ``--gc off`` disables the
collector inside timed blocks instead (collects between blocks).

LiteLLM is never installed into the project's environment: when it is not
importable, this script creates ``.cache/bench-venv``, installs ``litellm``
and the project (``pip install -e .``) there, and re-executes itself with
that interpreter.

Usage::

    python -m bench.router_overhead            # full run (>= 20k requests each side)
    python -m bench.router_overhead --quick    # < 1 minute once the bench venv exists
    python -m bench.router_overhead --profile 20000   # cProfile of our side only

Writes bench/results/router_overhead.json; a full run also updates the
section between ``<!-- router_overhead:start -->`` and
``<!-- router_overhead:end -->`` in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench import _docs, harness
from llm_runner_router.core.config import Settings
from llm_runner_router.core.router import Router
from llm_runner_router.core.types import BackendChunk, BackendRequest, ChatRequest, Message, Usage

ROOT = Path(__file__).resolve().parent.parent

BENCH_VENV = ROOT / ".cache" / "bench-venv"
RESULTS = ROOT / "bench" / "results" / "router_overhead.json"
DOC = ROOT / "docs" / "benchmarks.md"
DOC_START = "<!-- router_overhead:start -->"
DOC_END = "<!-- router_overhead:end -->"
_REEXEC_FLAG = "ROUTER_OVERHEAD_BENCH_REEXEC"

CHUNKS = 16
PIECE = 3  # LiteLLM's mock stream cuts the text into 3-character pieces
TEXT = "".join(f"t{i:02d}" for i in range(CHUNKS))  # 48 characters -> 16 pieces of 3
assert len(TEXT) == CHUNKS * PIECE

TARGET_P50_US = 50.0
TARGET_RATIO = 20.0

# Switches that make LiteLLM use the copies it ships instead of fetching them.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOG": "ERROR",
}

FULL = {"rounds": 20, "ours": 2500, "litellm": 1000, "warmup_ours": 5000, "warmup_litellm": 300}
QUICK = {"rounds": 4, "ours": 1000, "litellm": 100, "warmup_ours": 1000, "warmup_litellm": 40}


# --- our side ------------------------------------------------------------------------


class InstantBackend:
    """Streams 16 pre-built chunks at once; the last carries finish_reason and usage."""

    def __init__(self) -> None:
        pieces = [TEXT[i : i + PIECE] for i in range(0, len(TEXT), PIECE)]
        self.chunks = [BackendChunk(p) for p in pieces[:-1]] + [BackendChunk(pieces[-1], "stop", Usage(5, CHUNKS))]

    async def stream(self, request: BackendRequest | None) -> AsyncIterator[BackendChunk]:
        for chunk in self.chunks:
            yield chunk


def make_router() -> tuple[Router, InstantBackend, ChatRequest]:
    """A router with one alias, one deployment and default settings (metrics, breakers, hints, cache on)."""
    settings = Settings.from_dict(
        {
            "providers": {"mem": {"kind": "openai", "base_url": "http://127.0.0.1:1"}},
            "deployments": {"d": {"provider": "mem", "model": "m"}},
            "aliases": {"chat": {"deployments": ["d"]}},
        }
    )
    backend = InstantBackend()
    return Router(settings, {"mem": backend}), backend, ChatRequest("chat", [Message("user", "hello")])


async def _next_turn() -> None:
    """Give the event loop one turn between requests (outside the timed window), as a server's loop gets.

    An instant backend never suspends, so without this a whole block would run
    in one task step and the loop would never drop the cancelled watchdog
    timers from its heap (asyncio does that in ``_run_once``).
    """
    await _yield0(0)


_yield0 = asyncio.sleep  # bound before the LiteLLM guards wrap asyncio.sleep


async def _time_ours(router: Router, request: ChatRequest, n: int, out: list[int], outcomes: Counter[tuple[int, str]]) -> None:
    pc = time.perf_counter_ns
    for _ in range(n):
        deltas = 0
        last: Any = None
        t0 = pc()
        async for ev in router.stream(request):
            if ev.type == "delta":
                deltas += 1
            last = ev
        out.append(pc() - t0)
        outcomes[(deltas, last.status if last is not None and last.type == "done" else "no-done")] += 1
        await _next_turn()


async def _time_backend(backend: InstantBackend, n: int, out: list[int], chunks: Counter[int]) -> None:
    pc = time.perf_counter_ns
    for _ in range(n):
        k = 0
        t0 = pc()
        async for _chunk in backend.stream(None):
            k += 1
        out.append(pc() - t0)
        chunks[k] += 1
        await _next_turn()


# --- LiteLLM's side ----------------------------------------------------------------------


class _Guards:
    """Counts sleeps (> 0 s) and network attempts; connections are refused."""

    def __init__(self) -> None:
        self.active = False
        self.sleeps = 0
        self.network: list[str] = []

    def install(self) -> None:
        import socket

        guards = self
        real_async_sleep, real_sleep = asyncio.sleep, time.sleep

        async def counting_async_sleep(delay: float, result: Any = None) -> Any:
            if guards.active and delay > 0:
                guards.sleeps += 1
            return await real_async_sleep(delay, result)

        def counting_sleep(secs: float) -> None:
            if guards.active and secs > 0:
                guards.sleeps += 1
            real_sleep(secs)

        def refuse_connect(sock: Any, address: Any) -> None:
            guards.network.append(f"connect {address!r}")
            raise OSError("router_overhead bench: network is off")

        def refuse_connect_ex(sock: Any, address: Any) -> int:
            guards.network.append(f"connect_ex {address!r}")
            return 111  # ECONNREFUSED

        real_getaddrinfo = socket.getaddrinfo

        def counting_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in (None, "localhost", "127.0.0.1", "::1"):
                guards.network.append(f"getaddrinfo {host!r}")
                raise OSError("router_overhead bench: network is off")
            return real_getaddrinfo(host, *args, **kwargs)

        setattr(asyncio, "sleep", counting_async_sleep)  # noqa: B010 (patching on purpose)
        setattr(time, "sleep", counting_sleep)  # noqa: B010
        setattr(socket.socket, "connect", refuse_connect)  # noqa: B010
        setattr(socket.socket, "connect_ex", refuse_connect_ex)  # noqa: B010
        setattr(socket, "getaddrinfo", counting_getaddrinfo)  # noqa: B010


def make_litellm_router() -> tuple[Any, str]:
    import litellm  # type: ignore[import-not-found,unused-ignore]

    litellm.suppress_debug_info = True
    setattr(litellm, "set_verbose", False)  # noqa: B010
    setattr(litellm, "telemetry", False)  # noqa: B010  (gone in recent versions; harmless there)
    router = litellm.Router(
        model_list=[{"model_name": "m", "litellm_params": {"model": "openai/gpt-x", "mock_response": TEXT, "api_key": "x"}}]
    )
    return router, getattr(litellm, "__version__", None) or _dist_version("litellm")


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:
        return "?"


async def _time_litellm(router: Any, n: int, out: list[int], outcomes: Counter[tuple[int, int, str]]) -> None:
    pc = time.perf_counter_ns
    for _ in range(n):
        total = content = 0
        last: Any = None
        messages = [{"role": "user", "content": "hello"}]  # fresh: LiteLLM may annotate what it is given
        t0 = pc()
        response = await router.acompletion(model="m", messages=messages, stream=True)
        async for chunk in response:
            total += 1
            if chunk.choices and chunk.choices[0].delta.content:
                content += 1
            last = chunk
        out.append(pc() - t0)
        finish = str(last.choices[0].finish_reason) if last is not None and last.choices else "none"
        outcomes[(content, total, finish)] += 1
        await _next_turn()


async def _drain() -> None:
    """Let LiteLLM's background logging tasks (and its executor threads) finish between blocks."""
    me = asyncio.current_task()
    for _ in range(200):
        if not [t for t in asyncio.all_tasks() if t is not me and not t.done()]:
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.02)


# --- the measurement ----------------------------------------------------------------------


def _us(samples_ns: list[int], q: float) -> float:
    """The q-th percentile (nearest rank: a time one request took) of nanoseconds, in microseconds."""
    return harness.percentile(samples_ns, q, method="nearest-rank") / 1000.0


def _summary(samples: list[int]) -> dict[str, Any]:
    return {"p50_us": round(_us(samples, 50), 2), "p99_us": round(_us(samples, 99), 2), "requests": len(samples)}


async def measure(
    *,
    rounds: int,
    ours_per_round: int,
    litellm_per_round: int = 0,
    warmup_ours: int = 500,
    warmup_litellm: int = 0,
    gc_mode: str = "on",
    guards: _Guards | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Interleaved rounds of ours, the bare backend and (if litellm_per_round) LiteLLM."""
    router, backend, request = make_router()
    lrouter = None
    litellm_version = None
    if litellm_per_round:
        lrouter, litellm_version = make_litellm_router()

    ours_ns: list[int] = []
    backend_ns: list[int] = []
    litellm_ns: list[int] = []
    ours_out: Counter[tuple[int, str]] = Counter()
    backend_chunks: Counter[int] = Counter()
    litellm_out: Counter[tuple[int, int, str]] = Counter()

    # Warm-up (results thrown away), then freeze what exists so far.
    await _time_ours(router, request, warmup_ours, [], Counter())
    await _time_backend(backend, warmup_ours, [], Counter())
    if lrouter is not None and warmup_litellm:
        await _time_litellm(lrouter, warmup_litellm, [], Counter())
        await _drain()
    gc.collect()
    if gc_mode != "none":
        gc.freeze()

    samples = {"ours": ours_ns, "backend": backend_ns, "litellm": litellm_ns}
    per_round: dict[str, list[float]] = {"ours": [], "backend": [], "litellm": []}

    async def block(name: str) -> None:
        first = len(samples[name])
        if gc_mode == "off":
            gc.collect()
            gc.disable()
        try:
            if name == "ours":
                await _time_ours(router, request, ours_per_round, ours_ns, ours_out)
            elif name == "backend":
                await _time_backend(backend, ours_per_round, backend_ns, backend_chunks)
            else:
                if guards is not None:
                    guards.active = True
                try:
                    await _time_litellm(lrouter, litellm_per_round, litellm_ns, litellm_out)
                finally:
                    if guards is not None:
                        guards.active = False
        finally:
            if gc_mode == "off":
                gc.enable()
        per_round[name].append(round(_us(samples[name][first:], 50), 2))
        if name == "litellm":
            await _drain()

    started = time.perf_counter()
    try:
        for r in range(rounds):
            order = ["ours", "backend"] + (["litellm"] if lrouter is not None else [])
            if r % 2:
                order.reverse()
            for name in order:
                await block(name)
            if progress:
                line = f"  round {r + 1}/{rounds}: p50 ours {per_round['ours'][-1]:.1f} µs, backend {per_round['backend'][-1]:.1f} µs"
                if lrouter is not None:
                    line += f", litellm {per_round['litellm'][-1]:.1f} µs"
                print(line + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        if gc_mode != "none":
            gc.unfreeze()

    result: dict[str, Any] = {
        "ours": _summary(ours_ns),
        "ours_backend_only": _summary(backend_ns),
        "checks": {
            "ours_outcomes": {f"{d} deltas, {s}": c for (d, s), c in sorted(ours_out.items())},
            "backend_chunks": {str(k): c for k, c in sorted(backend_chunks.items())},
        },
    }
    result["ours_net_p50_us"] = round(result["ours"]["p50_us"] - result["ours_backend_only"]["p50_us"], 2)
    result["p50_us_per_round"] = {"ours": per_round["ours"], "ours_backend_only": per_round["backend"]}
    if lrouter is not None:
        result["p50_us_per_round"]["litellm"] = per_round["litellm"]
    result["_ours_outcomes"] = ours_out
    if lrouter is not None:
        result["litellm"] = _summary(litellm_ns)
        result["litellm_version"] = litellm_version
        result["checks"]["litellm_outcomes"] = {f"{c} content chunks of {t}, finish={f}": n for (c, t, f), n in sorted(litellm_out.items())}
        result["_litellm_outcomes"] = litellm_out
    return result


def run_ours(iterations: int = 300, warmup: int = 50) -> dict[str, Any]:
    """Our side only (no LiteLLM), one round: for the smoke test and quick looks.

    Returns ``{"ours": {"p50_us", "p99_us", "requests"}, "ours_backend_only": {...},
    "outcomes": Counter{(deltas, done_status): requests}, ...}``.
    """
    res = asyncio.run(measure(rounds=1, ours_per_round=iterations, warmup_ours=warmup, gc_mode="none"))
    res["outcomes"] = res.pop("_ours_outcomes")
    return res


# --- LiteLLM's environment --------------------------------------------------------------


def _venv_python() -> Path:
    return BENCH_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_litellm(argv: list[str]) -> None:
    """Return when litellm is importable here; otherwise set up the bench venv and re-exec in it."""
    os.environ.update(LITELLM_ENV)
    if importlib.util.find_spec("litellm") is not None:
        return
    if os.environ.get(_REEXEC_FLAG):
        raise SystemExit(f"litellm is still not importable with {sys.executable}; remove {BENCH_VENV} and retry")
    py = _venv_python()
    if not py.exists():
        print(f"[bench] litellm is not importable here; creating {BENCH_VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(BENCH_VENV)])
    has = subprocess.run([str(py), "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('litellm') is None)"], check=False)
    if has.returncode != 0:
        print("[bench] installing litellm and the project (pip install litellm -e .) into the bench venv ...", flush=True)
        subprocess.check_call([str(py), "-m", "pip", "install", "--disable-pip-version-check", "litellm", "-e", str(ROOT)])
    print(f"[bench] re-executing with {py.relative_to(ROOT)}", flush=True)
    env = dict(os.environ, **{_REEXEC_FLAG: "1"})
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *argv], env)


# --- output ------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:,.1f}"


def table(res: dict[str, Any]) -> str:
    o, b, lt = res["ours"], res["ours_backend_only"], res["litellm"]
    m = res["meta"]
    rows = [
        ("ours: Router.stream, whole request", o, f"{m['chunks']['ours_backend']} + Done"),
        ("ours: backend iterated directly", b, str(m["chunks"]["ours_backend"])),
        ("LiteLLM Router.acompletion(stream)", lt, f"{m['chunks']['litellm_content']} + finish chunk"),
    ]
    w = max(len(r[0]) for r in rows)
    out = [f"{'side':<{w}}  {'requests':>9}  {'chunks':>18}  {'p50 µs':>10}  {'p99 µs':>10}"]
    for name, s, ch in rows:
        out.append(f"{name:<{w}}  {s['requests']:>9}  {ch:>18}  {_fmt(s['p50_us']):>10}  {_fmt(s['p99_us']):>10}")
    out.append(f"ours net of backend (p50 difference): {_fmt(res['ours_net_p50_us'])} µs")
    pr = res["p50_us_per_round"]
    out.append("p50 per round (machine noise): " + ", ".join(f"{k} {_fmt(min(v))}..{_fmt(max(v))} µs" for k, v in pr.items() if v))
    out.append(f"ratio p50 LiteLLM/ours: {res['ratio_p50']:,.1f}x   ratio p99: {res['ratio_p99']:,.1f}x")
    t = res["targets"]
    out.append(
        f"targets: ours p50 <= {TARGET_P50_US:g} µs: {'met' if t['ours_p50_le_50us'] else 'NOT met'}; "
        f"ours p50 <= 1/{TARGET_RATIO:g} of LiteLLM's: {'met' if t['ours_p50_le_litellm_over_20'] else 'NOT met'}"
    )
    return "\n".join(out)


def doc_section(res: dict[str, Any], command: str) -> str:
    o, b, lt, m = res["ours"], res["ours_backend_only"], res["litellm"], res["meta"]
    t = res["targets"]

    def mark(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return "\n".join(
        [
            DOC_START,
            "### Router overhead",
            "",
            "Per-request cost of the router against an instant in-memory backend streaming 16 chunks, "
            "next to LiteLLM's `Router.acompletion(stream=True)` with a mock response of 16 chunks; "
            "each whole request timed from the call to the last chunk consumed.",
            "",
            "| | p50 (µs) | p99 (µs) | requests |",
            "|---|---:|---:|---:|",
            f"| ours: `Router.stream`, backend included | {_fmt(o['p50_us'])} | {_fmt(o['p99_us'])} | {o['requests']} |",
            f"| ours: backend iterated directly (no router) | {_fmt(b['p50_us'])} | {_fmt(b['p99_us'])} | {b['requests']} |",
            f"| LiteLLM {m['litellm_version']} `Router`, `mock_response` "
            f"| {_fmt(lt['p50_us'])} | {_fmt(lt['p99_us'])} | {lt['requests']} |",
            "",
            f"Ratio LiteLLM / ours: **{res['ratio_p50']:,.0f}×** at p50, {res['ratio_p99']:,.0f}× at p99. "
            f"Targets: ours p50 ≤ {TARGET_P50_US:g} µs — {mark(t['ours_p50_le_50us'])}; "
            f"ours p50 ≤ 1/{TARGET_RATIO:g} of LiteLLM's — {mark(t['ours_p50_le_litellm_over_20'])}.",
            "",
            f"This VM is noisy: the p50 of ours ranged {_fmt(min(res['p50_us_per_round']['ours']))}–"
            f"{_fmt(max(res['p50_us_per_round']['ours']))} µs from round to round (same code, same process); "
            "the headline is the median over all rounds' samples.",
            "",
            f"Chunks streamed per request: ours {m['chunks']['ours_backend']} from the backend "
            f"({m['chunks']['ours_deltas']} `Delta` + `Done(complete)`), LiteLLM {m['chunks']['litellm_content']} content chunks "
            f"+ 1 finish chunk. {m['date'][:10]}, Python {m['python']}, {m['cpu_count']} cores, "
            f"{m['rounds']} interleaved rounds, gc {m['gc']}. Produced by `{command}`; "
            "raw numbers in [bench/results/router_overhead.json](../bench/results/router_overhead.json).",
            DOC_END,
        ]
    )


def update_doc(section: str, path: Path = DOC) -> None:
    _docs.update_section(section, DOC_START, DOC_END, path)


def _single(counter: Counter[Any]) -> Any:
    return next(iter(counter)) if len(counter) == 1 else None


# --- profile -----------------------------------------------------------------------------


def profile(n: int) -> None:
    import cProfile
    import pstats

    router, _, request = make_router()

    async def go(k: int) -> None:
        await _time_ours(router, request, k, [], Counter())

    asyncio.run(go(2000))
    prof = cProfile.Profile()
    prof.runcall(asyncio.run, go(n))
    stats = pstats.Stats(prof)
    print(f"cProfile of our side, {n} requests (profiler overhead inflates every figure; compare them to each other)")
    print(f"{'µs/req tot':>10} {'µs/req cum':>10} {'calls/req':>9}  function")
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tt, ct, nc, f"{Path(file).name}:{line}({func})" if file != "~" else func))
    for tt, ct, nc, name in sorted(rows, reverse=True)[:40]:
        print(f"{tt / n * 1e6:>10.2f} {ct / n * 1e6:>10.2f} {nc / n:>9.1f}  {name}")


# --- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer requests (under a minute once the bench venv exists); JSON only")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--ours-per-round", type=int)
    ap.add_argument("--litellm-per-round", type=int)
    ap.add_argument("--gc", choices=["on", "off"], default="on", help="collector on (default, after gc.freeze) or off in timed blocks")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=None, help="update docs/benchmarks.md (default: full runs only)"
    )
    ap.add_argument("--profile", type=int, metavar="N", help="cProfile N requests of our side only, print, and exit")
    args = ap.parse_args(argv)

    if args.profile:
        profile(args.profile)
        return 0

    ensure_litellm(argv)
    guards = _Guards()
    guards.install()
    print(f"[bench] importing litellm ({sys.executable}) ...", flush=True)
    t = time.perf_counter()
    import litellm  # type: ignore[import-not-found,unused-ignore]  # noqa: F401

    print(f"[bench] litellm imported in {time.perf_counter() - t:.1f} s", flush=True)

    plan = dict(QUICK if args.quick else FULL)
    for key, val in (("rounds", args.rounds), ("ours", args.ours_per_round), ("litellm", args.litellm_per_round)):
        if val:
            plan[key] = val
    print(
        f"[bench] {plan['rounds']} rounds x ({plan['ours']} ours + {plan['ours']} backend-only + {plan['litellm']} LiteLLM) requests, "
        f"warm-up {plan['warmup_ours']}/{plan['warmup_litellm']}, gc {args.gc}",
        flush=True,
    )
    res = asyncio.run(
        measure(
            rounds=plan["rounds"],
            ours_per_round=plan["ours"],
            litellm_per_round=plan["litellm"],
            warmup_ours=plan["warmup_ours"],
            warmup_litellm=plan["warmup_litellm"],
            gc_mode=args.gc,
            guards=guards,
            progress=True,
        )
    )
    ours_out, lit_out = res.pop("_ours_outcomes"), res.pop("_litellm_outcomes")
    ours_one, lit_one = _single(ours_out), _single(lit_out)
    command = "python -m bench.router_overhead" + (" " + " ".join(argv) if argv else "")
    res["ratio_p50"] = round(res["litellm"]["p50_us"] / res["ours"]["p50_us"], 1)
    res["ratio_p99"] = round(res["litellm"]["p99_us"] / res["ours"]["p99_us"], 1)
    res["targets"] = {
        "ours_p50_le_50us": res["ours"]["p50_us"] <= TARGET_P50_US,
        "ours_p50_le_litellm_over_20": res["ours"]["p50_us"] * TARGET_RATIO <= res["litellm"]["p50_us"],
    }
    res["meta"] = {
        "mode": "quick" if args.quick else "full",
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": harness.load_averages() or None,
        "litellm_version": res.pop("litellm_version"),
        "rounds": plan["rounds"],
        "requests_per_round": {"ours": plan["ours"], "ours_backend_only": plan["ours"], "litellm": plan["litellm"]},
        "warmup": {"ours": plan["warmup_ours"], "litellm": plan["warmup_litellm"]},
        "gc": "on, after gc.collect() + gc.freeze() of setup and warm-up" if args.gc == "on" else "off inside timed blocks",
        "chunks": {
            "ours_backend": CHUNKS,
            "ours_deltas": ours_one[0] if ours_one else None,
            "ours_done_status": ours_one[1] if ours_one else None,
            "litellm_content": lit_one[0] if lit_one else None,
            "litellm_total": lit_one[1] if lit_one else None,
            "litellm_finish_reason": lit_one[2] if lit_one else None,
        },
        "litellm_config": {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-x", "mock_response": TEXT, "api_key": "x"}}],
            "call": "await router.acompletion(model='m', messages=[{'role': 'user', 'content': 'hello'}], stream=True)",
            "env": LITELLM_ENV,
            "mock_delay": None,
            "callbacks": "none configured; LiteLLM's default in-process success logging left on",
            "sleeps_during_timed_loops": guards.sleeps,
            "network_attempts": len(guards.network),
        },
        "timing": "time.perf_counter_ns per whole request: call -> stream exhausted; nearest-rank percentiles",
    }
    if guards.network:
        res["meta"]["litellm_config"]["network_attempts_sample"] = guards.network[:5]

    print()
    print(table(res))
    print(f"chunks per request: ours {res['checks']['ours_outcomes']}; litellm {res['checks']['litellm_outcomes']}")
    print(f"LiteLLM sleeps during timed loops: {guards.sleeps}; network attempts: {len(guards.network)}")

    out = {"ours": {k: res["ours"][k] for k in ("p50_us", "p99_us")}, "litellm": {k: res["litellm"][k] for k in ("p50_us", "p99_us")}}
    res["meta"]["requests"] = {k: res[k]["requests"] for k in ("ours", "ours_backend_only", "litellm")}
    out.update({k: v for k, v in res.items() if k not in ("ours", "litellm")})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if args.docs if args.docs is not None else not args.quick:
        update_doc(doc_section(res, command))
        print(f"updated {DOC.relative_to(ROOT)}")
    ok = ours_one == (CHUNKS, "complete") and lit_one is not None and lit_one[0] == CHUNKS and not guards.network
    if not ok:
        print("WARNING: unexpected chunk counts, statuses or network attempts (see checks above)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
