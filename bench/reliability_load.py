#!/usr/bin/env python3
"""Load: sustained requests with wrk on ``POST /v1/chat/completions``, a full queue, and the recovery after.

Two upstreams, each behind ``python -m llm_runner_router`` (a real process on 127.0.0.1):

* **instant**: an OpenAI-compatible FaultProvider process with no faults and
  no delays (edge_server/testing/fault_provider.py), one deployment;
* **local**: the embedded model on llama.cpp (the server's default
  configuration: SmolLM2-135M-Instruct Q4_1), ``max_tokens`` kept small so a
  request is a fraction of a second.

For each, with wrk (Debian's ``wrk``; ``make wrk`` installs it) and a Lua
script that counts responses by status and checks every 429 for a
``Retry-After`` header:

1. **sustained**: ``wrk -c C`` for D seconds against the server's default
   admission settings (``monitor.max_concurrency`` 4 running,
   ``monitor.queue_size`` 64 waiting): throughput, latency p50/p99 (wrk's
   own histogram), error rate (every response that is not a 200, and every
   socket error: connect, read, write, timeout).
2. **queue full**: a server started with a small queue
   (``LLM_ROUTER__MONITOR__MAX_CONCURRENCY`` / ``__QUEUE_SIZE``) and far more
   connections than it admits: what is refused must be a 429 with
   ``Retry-After`` -- never a 5xx, never a dropped connection.
3. **recovery**: when wrk stops, the time until the queue is empty
   (``/api/status``) and a request is answered, then a few requests one
   after the other: every one must be a 200.

Usage::

    python -m bench.reliability_load            # 30 s / 60 s of sustained load
    python -m bench.reliability_load --quick    # a few seconds each (~40 s in all)

Writes bench/results/reliability_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import _reliability as rel
from bench import harness
from bench import reliability_chaos as chaos
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ProcessServer

ROOT = Path(__file__).resolve().parent.parent

NAME = "load"
MODULE = "bench.reliability_load"
# After the load stops: the queue empty and a request answered within this many seconds. The local
# model's bound leaves room for requests admitted just before the end (and a machine shared with others).
RECOVERY_BOUND_S = {"instant": 5.0, "local": 30.0}

# Per upstream: wrk connections and seconds for the sustained run; the small queue and the
# connections for the queue-full run; max_tokens of each request; how many requests after.
FULL: dict[str, dict[str, Any]] = {
    "instant": {"connections": 16, "seconds": 30, "full_connections": 64, "full_seconds": 15, "max_tokens": 32, "after": 20},
    "local": {"connections": 4, "seconds": 60, "full_connections": 32, "full_seconds": 20, "max_tokens": 8, "after": 10},
}
QUICK: dict[str, dict[str, Any]] = {
    "instant": {"connections": 16, "seconds": 4, "full_connections": 64, "full_seconds": 3, "max_tokens": 32, "after": 5},
    "local": {"connections": 4, "seconds": 6, "full_connections": 32, "full_seconds": 4, "max_tokens": 8, "after": 3},
}
SMALL_QUEUE = {"max_concurrency": 2, "queue_size": 4}

# The Lua script wrk runs: one POST body, responses counted by status, 429s without Retry-After
# counted, and a JSON line at the end (summary, errors, latency percentiles in µs).
WRK_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("WRK_BODY")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  no_retry_after = 0
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 429 and headers["Retry-After"] == nil and headers["retry-after"] == nil then
    no_retry_after = no_retry_after + 1
  end
end

function done(summary, latency, requests)
  local counts = {}
  local missing = 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    missing = missing + thread:get("no_retry_after")
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us": %d, "requests": %d, "bytes": %d, "statuses": {%s}, "no_retry_after": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %.1f, "p90": %.1f, "p99": %.1f, "max": %.1f, "mean": %.1f}}\n',
    summary.duration, summary.requests, summary.bytes, table.concat(parts, ", "), missing,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def chat_body(model: str, max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Say something about foxes."}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def parse_wrk(output: str) -> dict[str, Any]:
    """The JSON line our Lua ``done()`` printed, with derived figures (pure)."""
    line = next((ln for ln in output.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output[-2000:]}")
    raw = json.loads(line[len("WRK_JSON ") :])
    statuses = {int(k): int(v) for k, v in raw["statuses"].items()}
    socket_errors = sum(int(raw["errors"][k]) for k in ("connect", "read", "write", "timeout"))
    responses = sum(statuses.values())
    ok = statuses.get(200, 0)
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {
        "seconds": round(seconds, 2),
        "responses": responses,
        "statuses": statuses,
        "ok": ok,
        "rejected_429": statuses.get(429, 0),
        "server_errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "other_non_200": sum(n for s, n in statuses.items() if s not in (200, 429) and s < 500),
        "socket_errors": {k: int(raw["errors"][k]) for k in ("connect", "read", "write", "timeout")},
        "socket_errors_total": socket_errors,
        "no_retry_after": int(raw["no_retry_after"]),
        "throughput_rps": round(ok / seconds, 1) if seconds > 0 else 0.0,
        "offered_rps": round(responses / seconds, 1) if seconds > 0 else 0.0,
        "error_rate": round((responses - ok + socket_errors) / max(1, responses + socket_errors), 5),
        "latency_ms": {k: round(float(v) / 1000, 1) for k, v in lat.items()},
    }


def run_wrk(
    url: str, body: Mapping[str, Any], connections: int, seconds: int, timeout_s: int, work: Path, pids: Sequence[int] = ()
) -> dict[str, Any]:
    """One wrk run; ``pids``: our other processes (server, upstream), so that the CPU others took can be told apart."""
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError("wrk is not installed (make wrk, or apt-get install wrk)")
    script = work / "chat.lua"
    script.write_text(WRK_LUA, encoding="utf-8")
    threads = max(1, min(2, connections))
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "-s", str(script), url]
    env = {**os.environ, "WRK_BODY": json.dumps(body)}
    ours0 = sum(_cpu(pid) for pid in pids) + harness.children_cpu_s() + time.process_time()  # children: wrk, once exited
    others = harness.OtherLoad()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + timeout_s + 60)
    ours = sum(_cpu(pid) for pid in pids) + harness.children_cpu_s() + time.process_time() - ours0
    others.stop(ours)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {proc.stderr[-2000:]}")
    result = parse_wrk(proc.stdout)
    result["other_processes_cpu_share"] = others.share
    result["command"] = f"wrk -t{threads} -c{connections} -d{seconds}s --timeout={timeout_s}s -s chat.lua {url.split('/', 3)[-1]}"
    return result


def _cpu(pid: int) -> float:
    try:
        return harness.process_cpu_s(pid)
    except OSError:
        return 0.0


def recovery(server: ProcessServer, body: Mapping[str, Any], after: int, patience: float = 120.0) -> dict[str, Any]:
    """From the moment the load stopped: time to an empty queue and a 200, then ``after`` requests one by one."""
    began = time.monotonic()
    url = server.url + "/v1/chat/completions"
    empty_s = answered_s = None
    with httpx.Client(timeout=120.0) as client:
        while time.monotonic() - began < patience:
            queue = client.get(server.url + "/api/status").json()["queue"]
            if queue["active"] == 0 and queue["waiting"] == 0:
                empty_s = time.monotonic() - began
                break
            time.sleep(0.05)
        while time.monotonic() - began < patience:
            if client.post(url, json=body).status_code == 200:
                answered_s = time.monotonic() - began
                break
            time.sleep(0.05)
        statuses: dict[int, int] = {}
        latencies: list[float] = []
        for _ in range(after):
            t0 = time.perf_counter()
            status = client.post(url, json=body).status_code
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    return {
        "queue_empty_after_s": round(empty_s, 2) if empty_s is not None else None,
        "first_answer_after_s": round(answered_s, 2) if answered_s is not None else None,
        "then_requests": after,
        "then_statuses": statuses,
        "then_latency": rel.summary_ms(latencies),
    }


def baseline(server: ProcessServer, body: Mapping[str, Any], n: int) -> dict[str, Any]:
    """A few requests one after the other before any load: the latency recovery is compared with."""
    latencies = []
    with httpx.Client(timeout=120.0) as client:
        for _ in range(2):  # warm-up: a fresh process's first requests pay for lazy set-up
            client.post(server.url + "/v1/chat/completions", json=body).raise_for_status()
        for _ in range(n):
            t0 = time.perf_counter()
            client.post(server.url + "/v1/chat/completions", json=body).raise_for_status()
            latencies.append(time.perf_counter() - t0)
    return rel.summary_ms(latencies)


def scenario(kind: str, plan: Mapping[str, Any], work: Path, say: Any) -> dict[str, Any]:
    """Sustained load, then queue-full load and recovery, against one upstream."""
    provider: chaos.ProviderProcess | None = None
    args: list[str] = []
    # Each server its own data directory: a breaker the sustained run opened must not greet the next one.
    env = {"LLM_ROUTER_DATA_DIR": str(work / f"{kind}-sustained"), "LOG_LEVEL": "WARNING"}
    timeout_s = 30 if kind == "instant" else 120
    if kind == "instant":
        provider = chaos.ProviderProcess(0.0, 0, work / "instant-upstream.log")  # the chaos bench's provider, never faulty
        provider.start()
        config = work / "instant.json"
        config.write_text(
            json.dumps(
                {
                    "providers": {"up": {"kind": "openai", "base_url": provider.url + "/v1", "read_timeout": 30}},
                    "deployments": {"up-chat": {"provider": "up", "model": fp.DEFAULT_MODEL, "accepts_prefix": True}},
                    "aliases": {"chat": {"deployments": ["up-chat"]}},
                }
            ),
            encoding="utf-8",
        )
        args = ["--config", str(config)]
        model = "chat"
    else:
        model = "default"
    body = chat_body(model, int(plan["max_tokens"]))
    out: dict[str, Any] = {"model": model, "body": body}

    def ours(server: ProcessServer) -> list[int]:
        procs = [server.proc, provider.proc if provider is not None else None]
        return [p.pid for p in procs if p is not None]

    try:
        server = ProcessServer(args, env).start()
        try:
            out["baseline"] = baseline(server, body, 3 if kind == "local" else 10)
            say(f"{kind}: sustained, {plan['connections']} connections for {plan['seconds']} s")
            out["sustained"] = run_wrk(
                server.url + "/v1/chat/completions", body, int(plan["connections"]), int(plan["seconds"]), timeout_s, work, ours(server)
            )
            out["sustained"]["breakers_at_end"] = breakers(server)
            out["sustained"]["recovery"] = recovery(server, body, int(plan["after"]))
            out["sustained"]["server_alive"] = server.proc is not None and server.proc.poll() is None
        finally:
            server.stop()
        small = {
            "LLM_ROUTER__MONITOR__MAX_CONCURRENCY": str(SMALL_QUEUE["max_concurrency"]),
            "LLM_ROUTER__MONITOR__QUEUE_SIZE": str(SMALL_QUEUE["queue_size"]),
        }
        server = ProcessServer(args, env | small | {"LLM_ROUTER_DATA_DIR": str(work / f"{kind}-queue-full")}).start()
        try:
            say(f"{kind}: queue full, {plan['full_connections']} connections for {plan['full_seconds']} s")
            out["queue_full"] = run_wrk(
                server.url + "/v1/chat/completions",
                body,
                int(plan["full_connections"]),
                int(plan["full_seconds"]),
                timeout_s,
                work,
                ours(server),
            )
            out["queue_full"]["breakers_at_end"] = breakers(server)
            out["queue_full"]["admission"] = dict(SMALL_QUEUE)
            out["queue_full"]["recovery"] = recovery(server, body, int(plan["after"]))
            out["queue_full"]["server_alive"] = server.proc is not None and server.proc.poll() is None
            status = httpx.get(server.url + "/api/status", timeout=10).json()
            out["queue_full"]["server_rejected"] = status["queue"]["rejected"]
        finally:
            server.stop()
    finally:
        if provider is not None:
            provider.stop()
    return out


def breakers(server: ProcessServer) -> dict[str, str]:
    """Each deployment's breaker state (an open one explains 503s: the deployment is being given a rest)."""
    status = httpx.get(server.url + "/api/status", timeout=10).json()
    return {name: str(d.get("breaker")) for name, d in (status.get("deployments") or {}).items()}


def _targets_for(kind: str, res: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    sus, full = res["sustained"], res["queue_full"]
    t: dict[str, dict[str, Any]] = {}
    t[f"{kind}_sustained_errors"] = rel.target("error rate 0", sus["error_rate"], sus["error_rate"] == 0)
    bad = full["server_errors_5xx"] + full["other_non_200"] + full["socket_errors_total"]
    only_429 = bad == 0 and full["rejected_429"] > 0
    measured = f"{full['rejected_429']} × 429, {bad} other"
    t[f"{kind}_queue_full_only_429"] = rel.target("refusals are 429, no 5xx, no dropped connection", measured, only_429)
    t[f"{kind}_retry_after"] = rel.target("every 429 has Retry-After", f"{full['no_retry_after']} without", full["no_retry_after"] == 0)
    bound = RECOVERY_BOUND_S[kind]
    recovered = all(
        r["first_answer_after_s"] is not None and r["first_answer_after_s"] <= bound and r["then_statuses"] == {200: r["then_requests"]}
        for r in (sus["recovery"], full["recovery"])
    )
    worst = max((r["first_answer_after_s"] or float("inf")) for r in (sus["recovery"], full["recovery"]))
    t[f"{kind}_recovery"] = rel.target(f"answering again ≤ {bound:g} s after, then all 200", f"{worst} s", recovered)
    return t


def run(quick: bool, *, only: tuple[str, ...] = ("instant", "local"), progress_print: bool = True) -> dict[str, Any]:
    plans = QUICK if quick else FULL
    meta: dict[str, Any] = {"machine": harness.machine(), "mode": "quick" if quick else "full", "command": rel.command_line(MODULE, quick)}
    started = time.monotonic()

    def say(msg: str) -> None:
        if progress_print:
            print(f"[load] {msg}", flush=True)

    result: dict[str, Any] = {"meta": meta, "plan": {k: plans[k] for k in only}, "small_queue": SMALL_QUEUE}
    wrk = wrk_path()
    if wrk is None:
        result["targets"] = {"wrk": rel.target("wrk installed", "missing (make wrk)", False)}
        return result
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.splitlines()
    meta["wrk"] = " ".join(version[0].split()[:2]) if version else "wrk"  # "wrk debian/4.1.0-3+b2"
    targets: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="reliability-load-") as tmp:
        for kind in only:
            result[kind] = scenario(kind, plans[kind], Path(tmp), say)
            targets |= _targets_for(kind, result[kind])
    result["targets"] = targets
    meta["load_average_1m_end"] = harness.load_average()
    meta["duration_s"] = round(time.monotonic() - started, 1)
    return result


# --- the report -----------------------------------------------------------------------------------------


def contention_notes(result: Mapping[str, Any]) -> list[str]:
    """Why a run answered 5xx, where it did: the breaker states at its end and the CPU others took (pure)."""
    notes = []
    for kind in ("instant", "local"):
        for phase in ("sustained", "queue_full"):
            r = result.get(kind, {}).get(phase)
            if not r or not r["server_errors_5xx"]:
                continue
            opened = [name for name, state in (r.get("breakers_at_end") or {}).items() if state != "closed"]
            notes.append(
                f"\n**{kind}, {phase.replace('_', ' ')}: {r['server_errors_5xx']:,} answers were 5xx** "
                f"({', '.join(f'{s}: {n:,}' for s, n in sorted(r['statuses'].items(), key=lambda kv: str(kv[0])))}); "
                f"breakers not closed at the end: {', '.join(opened) or 'none'}; other processes took "
                f"{r.get('other_processes_cpu_share', float('nan')):.0%} of the CPUs."
                + (
                    " The model serves one request at a time and the others wait for it inside the backend, where the "
                    "router's first-token timeout is already running; when other processes take a CPU away, llama.cpp's "
                    "OpenMP threads slow down many times over, waiting requests run past that timeout, the breaker opens "
                    "and the server answers 503 with `Retry-After` (or from its fallback cache) until a probe succeeds."
                    if kind == "local" and opened
                    else ""
                )
            )
    return notes


def _runs(result: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(row label, the upstream's result, the run's figures) for each upstream measured and each phase."""
    for kind in ("instant", "local"):
        if kind in result:
            for phase in ("sustained", "queue_full"):
                yield f"{kind}, {'sustained' if phase == 'sustained' else 'queue full'}", result[kind], result[kind][phase]


def render(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "## Load",
        "",
        f"`{meta['command']}` — {meta.get('wrk', 'wrk')} against `POST /v1/chat/completions` (not streamed) of "
        "`python -m llm_runner_router`: an **instant** upstream (a FaultProvider process, no faults, no delay) and the **local** "
        "model (SmolLM2-135M-Instruct on llama.cpp, the server's default configuration). Sustained runs use the server's "
        "default admission (4 running, 64 waiting); the queue-full runs a server started with "
        f"{result['small_queue']['max_concurrency']} running and {result['small_queue']['queue_size']} waiting, and far more "
        "connections. Latency is wrk's (per request, from the connection's point of view).",
        "",
    ]
    rows = []
    for label, res, r in _runs(result):
        rows.append(
            (
                label,
                r["command"].split(" -s ")[0].replace("wrk ", ""),
                f"max_tokens {res['body']['max_tokens']}",
                r["throughput_rps"],
                r["latency_ms"]["p50"],
                r["latency_ms"]["p99"],
                f"{r['ok']:,}",
                f"{r['rejected_429']:,}",
                r["server_errors_5xx"],
                r["socket_errors_total"],
                f"{r['error_rate']:.2%}",
                f"{r.get('other_processes_cpu_share', float('nan')):.0%}",
            )
        )
    lines.append(
        rel.md_table(
            [
                "run",
                "wrk",
                "request",
                "answered/s",
                "p50 ms",
                "p99 ms",
                "200",
                "429",
                "5xx",
                "socket errors",
                "error rate",
                "CPU to others",
            ],
            rows,
            align="lllrrrrrrrrr",
        )
    )
    lines += [
        "",
        "*CPU to others*: the share of the machine's CPU time that went to processes outside the run while wrk ran "
        "(near 0 % on a quiet machine).",
    ]
    lines += contention_notes(result)
    lines += ["", "After the load stopped (from wrk's end):", ""]
    rows = []
    for label, res, run in _runs(result):
        r = run["recovery"]
        rows.append(
            (
                label,
                r["queue_empty_after_s"],
                r["first_answer_after_s"],
                f"{r['then_statuses'].get(200, r['then_statuses'].get('200', 0))}/{r['then_requests']}",
                r["then_latency"]["p50_ms"],
                res["baseline"]["p50_ms"],
            )
        )
    lines.append(
        rel.md_table(
            ["run", "queue empty after s", "first 200 after s", "then 200s", "then p50 ms", "p50 ms before any load"],
            rows,
        )
    )
    lines += [
        "",
        "Every 429 carried `Retry-After` (the Lua script counts those that do not), and the server was alive after every run. "
        "In the queue-full runs wrk's connections ignore `Retry-After` and ask again the moment they are refused, so the 429s "
        "far outnumber the answers, and the answers slow down: the refusals share the server's one event loop (and, here, "
        "two CPUs with wrk, the upstream and llama.cpp) with the admitted requests. A client that waits as told does not "
        "see that; the point of these runs is that nothing is dropped and nothing fails with a 5xx.",
        "",
        rel.targets_table(result["targets"]),
        "",
        f"{rel.machine_line(meta)}. Raw figures: [bench/results/reliability_load.json](../bench/results/reliability_load.json).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds per run (about 40 s in all)")
    ap.add_argument("--only", default="instant,local", help="instant, local or both (comma-separated)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    only = tuple(k for k in args.only.split(",") if k)
    result = run(args.quick, only=only)
    path = rel.write_result(NAME, result, args.out)
    print(render(result))
    print(f"wrote {path}")
    return 0 if rel.all_met(result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
