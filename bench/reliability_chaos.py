#!/usr/bin/env python3
"""Chaos: thousands of requests through the edge server while its primary upstream misbehaves at random.

Set-up (all real processes on 127.0.0.1):

* the **primary** upstream: a FaultProvider (edge_server/testing/fault_provider.py)
  run by this script as a child process (``--primary``), whose fault queue is
  replaced by a shuffled deck: ``FAULT_RATE`` of its generating requests, at
  random places, meet one fault drawn from every kind the provider knows (its
  parameters drawn too: where a stream is cut, how long a first token takes,
  whether a 429 says Retry-After ...). ``reject_prefill`` is drawn only for a
  request that continues a prefix (the only kind it applies to), and
  ``down`` is not drawn per request but scheduled: the driver sets it three
  times during the run, once for each way (503, reset, refusing
  connections). The process is also SIGKILLed and started again on the same
  port a few times during the run.
* the **secondary** upstream: a FaultProvider process with no faults -- the
  deployment that stays healthy.
* the **edge server**: ``python -m llm_runner_router serve --config chaos.json``, one
  alias ``chat`` over the two deployments (primary first), settings in
  :func:`edge_settings`.
* the **client** (this process): ``CONCURRENCY`` workers on one asyncio loop
  with httpx, half the requests streamed and half not, each with its own
  ``X-Request-ID`` -- which the edge forwards upstream, so each answer can be
  matched with the faults its request met at the primary.

Every answer is compared with the provider's known text: the provider
continues a prefix when the edge asks it to, so a correct failover yields
exactly that text, and a repeat or a gap shows up in the comparison. A
streamed ``x_llm`` restart event (the next deployment could not continue)
discards what the client held, as a client must.

Figures: answered / answerable (a request whose primary answered
``content_filter`` must be refused with that code, not answered elsewhere:
it is counted apart), answers cut short but marked complete, answers with
text repeated or lost, latency of requests that needed a second attempt
against those that did not (the difference is the latency failover adds),
breaker trips and recoveries from ``/metrics``, and the server's RSS
(``/proc/<pid>/status``) after the warm-up and at the end.

Usage::

    python -m bench.reliability_chaos            # 10,000 requests at concurrency 16
    python -m bench.reliability_chaos --quick    # 600 requests, well under a minute

Writes bench/results/reliability_chaos.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import _reliability as rel
from bench import harness
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ProcessServer, free_port

ROOT = Path(__file__).resolve().parent.parent

NAME = "chaos"
MODULE = "bench.reliability_chaos"
KNOWN = fp.DEFAULT_ANSWER
PIECES = fp.pieces(KNOWN)
FAULT_RATE = 0.35  # share of the primary's responses that meet a drawn fault
MEMORY_BOUND_MIB = 32.0  # the server's RSS may grow at most this much from after the warm-up to the end
CONTENT_FILTERED = "LLM_API_005_E"
PRIMARY, SECONDARY = "primary-chat", "secondary-chat"

# kills: SIGKILLs of the primary during the run; down_s: how long each scheduled ``down`` lasts.
FULL: dict[str, Any] = {"requests": 10_000, "concurrency": 16, "kills": 4, "down_s": 1.5, "seed": 20261122}
QUICK: dict[str, Any] = {"requests": 800, "concurrency": 16, "kills": 1, "down_s": 0.4, "seed": 20261122}
DOWN_WAYS = ("503", "reset", "refuse")  # the three ways of the scheduled ``down`` fault


# --- the primary: a FaultProvider whose faults are drawn at random -------------------------------------

# Drawn per request; "down" is scheduled by the driver instead (see the module docstring).
DRAWN_KINDS = tuple(sorted(k for k in fp.FAULTS if k != "down"))
# Relative weights: faults that hold a request for a timeout are drawn less often, so a run's
# length is spent on requests rather than on waiting.
WEIGHTS = {"hang": 0.4, "stall": 0.6, "slow_first_token": 0.8}


def draw_fault(rng: random.Random, has_prefix: bool) -> fp.Fault:
    """One fault of a kind that applies to this request, with its parameters drawn too."""
    kinds = [k for k in DRAWN_KINDS if has_prefix or k != "reject_prefill"]
    kind = rng.choices(kinds, weights=[WEIGHTS.get(k, 1.0) for k in kinds])[0]
    after = rng.randint(0, len(PIECES))  # text chunks sent before a mid-stream fault
    if kind == "rate_limited":
        return fp.rate_limited(retry_after=rng.choice([None, 0.1, 1.0]))
    if kind == "slow_first_token":
        return fp.slow_first_token(delay=rng.uniform(0.05, 3.0))
    if kind == "cut":
        return fp.cut(after=after, how=rng.choice(["abort", "eof"]))
    if kind in ("stall", "malformed", "error_in_stream"):
        return fp.Fault(kind, after=after)
    return fp.Fault(kind, times=1)


DECK = 20  # requests per shuffled deck (see RandomFaults)


def deck(rng: random.Random, rate: float, size: int = DECK) -> list[bool]:
    """``round(rate * size)`` faulty places among ``size``, shuffled (pure but for ``rng``)."""
    faulty = round(rate * size)
    cards = [True] * faulty + [False] * (size - faulty)
    rng.shuffle(cards)
    return cards


class RandomFaults(fp.ProviderState):
    """The provider's state with a shuffled deck instead of a script: faults queued by hand (``down``) still come first.

    Which requests meet a fault is random, but every ``DECK`` requests exactly
    ``rate`` of them do (a coin per request would let a short run's share
    wander several points from the rate); the fault itself is drawn at random.
    """

    def __init__(self, answer: str, model: str, rate: float, seed: int, journal: Path | None = None) -> None:
        super().__init__(answer, model, reject_prefill=False)
        self.rate = rate
        self.rng = random.Random(seed)
        self.cards: list[bool] = []
        # One JSON line per generating request (its X-Request-ID and the fault it met), written as it
        # arrives: unlike the in-memory request log, it survives the SIGKILLs of the run.
        self.journal = journal.open("a", encoding="utf-8", buffering=1) if journal is not None else None
        self._last: fp.RecordedRequest | None = None

    def record(self, request: Any, endpoint: str, body: Any) -> fp.RecordedRequest:
        # The provider records a request, then asks for its fault, with nothing in between.
        self._last = super().record(request, endpoint, body)
        return self._last

    def next_fault(self, endpoint: str, has_prefix: bool) -> fp.Fault | None:
        fault = self._draw(endpoint, has_prefix)
        if self.journal is not None and endpoint != "models":
            rid = self._last.headers.get("x-request-id") if self._last is not None else None
            entry = {"endpoint": endpoint, "headers": {"x-request-id": rid}, "fault": fault.kind if fault else None}
            self.journal.write(json.dumps(entry) + "\n")
        return fault

    def _draw(self, endpoint: str, has_prefix: bool) -> fp.Fault | None:
        queued = super().next_fault(endpoint, has_prefix)
        if queued is not None or endpoint == "models":
            return queued
        with self.lock:
            if not self.cards:
                self.cards = deck(self.rng, self.rate)
            if not self.cards.pop():
                return None
            return draw_fault(self.rng, has_prefix)


def serve_primary(port: int, rate: float, seed: int, journal: Path | None = None) -> int:
    """The child process: a FaultProvider on ``port`` with :class:`RandomFaults`, until SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    provider = fp.FaultProvider(port=port)
    state = RandomFaults(provider.state.answer, provider.state.model, rate, seed, journal)
    state.refuse_hook = provider.state.refuse_hook  # down(how="refuse") stops this provider's listener
    provider.state, provider.app = state, fp.build_app(state)
    with provider:
        print(f"primary listening on {provider.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


class ProviderProcess:
    """``python -m bench.reliability_chaos --primary``: started, SIGKILLed and started again on one port.

    With ``rate`` 0 it never faults: the healthy secondary is the same program.
    """

    def __init__(self, rate: float, seed: int, log: Path) -> None:
        self.port = free_port()
        self.rate = rate
        self.seed = seed
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.journal: Path | None = None  # where the process writes what each request met (see RandomFaults)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        # Each start draws from a die of its own, so a restarted process does not replay the same faults.
        cmd = [sys.executable, "-m", MODULE, "--primary", "--port", str(self.port)]
        cmd += ["--rate", str(self.rate), "--seed", str(self.seed + self.starts)]
        if self.journal is not None:
            cmd += ["--journal", str(self.journal)]
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the primary exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/control/health", timeout=1.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the primary did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def set_down(self, seconds: float, how: str) -> None:
        faults = [fp.down(seconds, how=how).to_dict()]
        httpx.post(f"{self.url}/control/faults", json={"faults": faults, "append": True}, timeout=5.0).raise_for_status()


def _log_problems(path: Path, limit: int = 20) -> list[str]:
    """Tracebacks and unhandled-exception lines of a provider's log (there should be none)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    found = [line for line in lines if "Traceback" in line or "Exception in ASGI" in line or line.startswith(("Error", "RuntimeError"))]
    return found[:limit]


def server_log_summary(path: Path) -> dict[str, Any]:
    """The edge server's JSON log lines at ERROR or above, counted by message and code, and any traceback."""
    counts: Counter[str] = Counter()
    tracebacks = 0
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                tracebacks += "Traceback" in line  # printed outside the JSON log: uncaught
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") in ("ERROR", "CRITICAL"):
                counts[f"{entry.get('message')} ({entry.get('error_code')})"] += 1
    return {"errors": dict(counts.most_common()), "tracebacks": tracebacks}


# --- one answer, read and judged (pure) ------------------------------------------------------------------


@dataclass
class Outcome:
    """What the client got for one request."""

    index: int
    request_id: str
    stream: bool
    http_status: int = 0
    text: str = ""  # what the client holds at the end (restarts applied)
    finish_reason: str | None = None
    x_status: str | None = None  # x_llm.status of the final chunk or body: complete, cached, incomplete
    deployment: str | None = None
    attempts: int = 0
    switches: int = 0
    restarts: int = 0
    discard_mismatch: int = 0  # restart events whose discard_chars was not what the client held
    error_code: str | None = None
    incomplete: bool = False  # the server said the answer is cut (error with incomplete, or an error event after text)
    saw_end: bool = False  # stream: the end marker came; non-stream: a whole body was read
    transport_error: str | None = None
    latency_s: float = 0.0


class StreamReader:
    """A chat-completions event stream from the edge, read line by line, as a careful client reads it.

    Text is appended from ``delta.content``; an ``x_llm`` restart event discards
    what is held (its ``discard_chars`` must equal what is held, or that is
    recorded as a mismatch); the final chunk's ``x_llm`` gives the status; an
    ``error`` object is an in-band failure.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.x_final: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.switches = 0
        self.restarts = 0
        self.discard_mismatch = 0
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, line: str) -> None:
        if not line.startswith("data:"):
            return
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return
        obj = json.loads(data)
        if "error" in obj:
            self.error = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
            x = obj.get("x_llm")
            if isinstance(x, dict):
                self.x_final = x
            return
        x = obj.get("x_llm") or {}
        event = x.get("event")
        if event == "switch":
            self.switches += 1
        elif event == "restart":
            self.restarts += 1
            if int(x.get("discard_chars", -1)) != len(self.text):
                self.discard_mismatch += 1
            self.parts.clear()
        for choice in obj.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.parts.append(content)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if "status" in x:
            self.x_final = x

    def into(self, out: Outcome) -> None:
        out.text = self.text
        out.finish_reason = self.finish_reason
        out.switches, out.restarts = self.switches, self.restarts
        out.discard_mismatch = self.discard_mismatch
        out.saw_end = self.done
        x = self.x_final or {}
        out.x_status = x.get("status")
        out.deployment = x.get("deployment")
        out.attempts = int(x.get("attempts", 0) or 0)
        if self.error is not None:
            out.error_code = str(self.error.get("code"))
            out.incomplete = bool(self.parts) or out.x_status == "incomplete"


def read_whole(out: Outcome, status: int, body: Any) -> None:
    """A non-streamed answer (or error) from the edge, into ``out``."""
    out.http_status = status
    out.saw_end = True
    if not isinstance(body, dict):
        out.error_code = "not-json"
        return
    if status != 200 or "error" in body:
        err = body.get("error") or {}
        out.error_code = str(err.get("code"))
        out.incomplete = bool(err.get("incomplete"))
        out.text = str(err.get("partial_text") or "")
        out.deployment = err.get("deployment")
        return
    choice = (body.get("choices") or [{}])[0]
    out.text = str((choice.get("message") or {}).get("content") or "")
    out.finish_reason = choice.get("finish_reason")
    x = body.get("x_llm") or {}
    out.x_status = x.get("status")
    out.deployment = x.get("deployment")
    out.attempts = int(x.get("attempts", 0) or 0)
    for event in x.get("events") or []:
        if event.get("event") == "switch":
            out.switches += 1
        elif event.get("event") == "restart":
            out.restarts += 1


@dataclass(frozen=True)
class TextVerdict:
    """How an answer's text compares with the known text."""

    equal: bool
    prefix: bool  # a strict prefix of the known text: cut short, nothing else wrong
    extra_chars: int  # characters the answer has that the known text does not (repeated or foreign text)
    missing_chars: int  # characters of the known text the answer lacks


def compare_text(text: str, known: str) -> TextVerdict:
    if text == known:
        return TextVerdict(True, False, 0, 0)
    extra = missing = 0
    for op, k1, k2, t1, t2 in difflib.SequenceMatcher(None, known, text, autojunk=False).get_opcodes():
        if op in ("insert", "replace"):
            extra += t2 - t1
        if op in ("delete", "replace"):
            missing += k2 - k1
    return TextVerdict(False, known.startswith(text), extra, missing)


VERDICTS = ("ok", "truncated_marked_complete", "duplicated", "lost", "error", "dropped")


def judge(out: Outcome, known: str = KNOWN) -> str:
    """One of :data:`VERDICTS`.

    ``ok``: marked complete (or cached) and exactly the known text.
    ``truncated_marked_complete``: marked complete, but a strict prefix of it.
    ``duplicated`` / ``lost``: marked complete with text the known text does not
    have (repeated), or lacking some of it (not just its end).
    ``error``: the server said it failed (an HTTP error, or an error event / an
    ``incomplete`` answer) -- honest, but not an answer.
    ``dropped``: the connection broke, or a stream ended with neither its end
    marker nor an error.
    """
    if out.transport_error is not None:
        return "dropped"
    if out.error_code is not None or out.http_status != 200:
        return "error"
    if not out.saw_end:
        return "dropped"
    if out.x_status not in ("complete", "cached") or out.finish_reason is None:
        return "dropped"  # a 200 whose end says neither complete nor failed
    verdict = compare_text(out.text, known)
    if verdict.equal:
        return "ok"
    if verdict.prefix:
        return "truncated_marked_complete"
    return "duplicated" if verdict.extra_chars else "lost"


# --- the client ------------------------------------------------------------------------------------------


def request_body(index: int, stream: bool) -> dict[str, Any]:
    return {
        "model": "chat",
        "messages": [{"role": "user", "content": f"Question {index}: what does the quick brown fox do?"}],
        "stream": stream,
    }


async def ask(client: httpx.AsyncClient, url: str, index: int, stream: bool) -> Outcome:
    rid = f"chaos-{index:06d}"
    out = Outcome(index, rid, stream)
    started = time.perf_counter()
    try:
        if stream:
            async with client.stream("POST", url, json=request_body(index, True), headers={"X-Request-ID": rid}) as response:
                out.http_status = response.status_code
                if response.status_code != 200:
                    read_whole(out, response.status_code, json.loads(await response.aread()))
                else:
                    reader = StreamReader()
                    async for line in response.aiter_lines():
                        reader.feed(line)
                    reader.into(out)
        else:
            response = await client.post(url, json=request_body(index, False), headers={"X-Request-ID": rid})
            read_whole(out, response.status_code, response.json())
    except (httpx.HTTPError, ValueError) as exc:
        out.transport_error = f"{type(exc).__name__}: {exc}"[:300]
    out.latency_s = time.perf_counter() - started
    return out


class Progress:
    """How many requests have been issued (read by the disruptor thread)."""

    def __init__(self) -> None:
        self.issued = 0
        self.finished = 0


async def drive(base_url: str, total: int, concurrency: int, seed: int, progress: Progress) -> list[Outcome]:
    rng = random.Random(seed)
    plan = [rng.random() < 0.5 for _ in range(total)]  # streamed or not, fixed by the seed
    url = base_url + "/v1/chat/completions"
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0), limits=limits) as client:

        async def worker() -> None:
            while progress.issued < total:
                index = progress.issued
                progress.issued += 1
                outcomes.append(await ask(client, url, index, plan[index]))
                progress.finished += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcomes.sort(key=lambda o: o.index)
    return outcomes


# --- disruption: kills and downs of the primary, on a thread of their own ------------------------------


@dataclass
class Disruptions:
    kills: list[dict[str, Any]] = field(default_factory=list)
    downs: list[dict[str, Any]] = field(default_factory=list)
    rss_kib: list[tuple[int, int]] = field(default_factory=list)  # (requests finished, server RSS)
    errors: list[str] = field(default_factory=list)


def schedule(total: int, kills: int) -> list[tuple[int, str]]:
    """(request count, action) pairs: ``kill`` spread over the middle of the run, ``down:<how>`` between them."""
    actions: list[tuple[float, str]] = [((i + 1) / (kills + 1), "kill") for i in range(kills)]
    actions += [(0.15 + 0.3 * i, f"down:{how}") for i, how in enumerate(DOWN_WAYS)]
    return sorted((int(at * total), what) for at, what in actions)


def disrupt(
    primary: ProviderProcess,
    server_pid: int,
    total: int,
    kills: int,
    down_s: float,
    progress: Progress,
    stop: threading.Event,
    out: Disruptions,
) -> None:
    rng = random.Random(total)
    plan = schedule(total, kills)
    sample_every = max(1, total // 10)
    next_sample = sample_every
    while not stop.is_set():
        while plan and progress.issued >= plan[0][0]:
            at, what = plan.pop(0)
            try:
                if what == "kill":
                    began = time.monotonic()
                    primary.kill()
                    pause = rng.uniform(0.5, 1.0)
                    time.sleep(pause)
                    primary.start()
                    out.kills.append({"at_request": at, "down_s": round(time.monotonic() - began, 2)})
                else:
                    how = what.split(":", 1)[1]
                    seconds = round(rng.uniform(0.75, 1.25) * down_s, 2)
                    primary.set_down(seconds, how)
                    out.downs.append({"at_request": at, "how": how, "seconds": seconds})
            except Exception as exc:  # reported, never fatal: the run goes on
                out.errors.append(f"{what} at {at}: {type(exc).__name__}: {exc}")
        if progress.finished >= next_sample:
            with contextlib.suppress(OSError, RuntimeError):
                out.rss_kib.append((progress.finished, harness.rss_kib(server_pid)))
            next_sample += sample_every
        stop.wait(0.05)


# --- the run ---------------------------------------------------------------------------------------------


def edge_settings(primary_url: str, secondary_url: str, concurrency: int) -> dict[str, Any]:
    """The edge server's configuration for the run: what an operator of two such upstreams might set."""

    def provider(url: str) -> dict[str, Any]:
        return {"kind": "openai", "base_url": url + "/v1", "connect_timeout": 1.0, "read_timeout": 10.0}

    return {
        "retry": {"max_attempts": 2, "initial_delay": 0.01, "max_delay": 0.1, "retry_after_cap": 0.5, "deadline": 60},
        # Tolerant enough that a third of responses failing at random does not keep the primary out of
        # the run; a primary that is killed or down (every call failing) still trips it at once.
        "breaker": {
            "failure_threshold": 10,
            "failure_rate_threshold": 0.8,
            "window_seconds": 10.0,
            "min_calls": 20,
            "cooldown": 1.0,
            "max_cooldown": 4.0,
        },
        "stream": {"first_token_timeout": 2.0, "stall_timeout": 1.5},
        "monitor": {"max_concurrency": 2 * concurrency, "queue_size": 4 * concurrency, "health_check_interval": 5.0},
        "logging": {"level": "WARNING"},
        "providers": {"primary": provider(primary_url), "secondary": provider(secondary_url)},
        "deployments": {
            PRIMARY: {"provider": "primary", "model": fp.DEFAULT_MODEL, "context_window": 8192, "accepts_prefix": True},
            SECONDARY: {"provider": "secondary", "model": fp.DEFAULT_MODEL, "context_window": 32768, "accepts_prefix": True},
        },
        "aliases": {"chat": {"deployments": [PRIMARY, SECONDARY]}},
    }


def breaker_counts(server_url: str) -> dict[str, int]:
    samples = rel.parse_prometheus(httpx.get(server_url + "/metrics", timeout=10.0).text)
    name = "llm_breaker_transitions_total"
    return {
        "trips": int(rel.metric_sum(samples, name, to="open")),
        "half_opens": int(rel.metric_sum(samples, name, to="half_open")),
        "recoveries": int(rel.metric_sum(samples, name, to="closed")),
    }


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The primary's journal: one record per generating request, across its restarts (a line cut by a kill is skipped)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records


def faults_by_request(primary_log: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Request id -> the faults its attempts met at the primary, in order."""
    met: dict[str, list[str]] = {}
    for record in primary_log:
        rid = (record.get("headers") or {}).get("x-request-id")
        if rid and record.get("endpoint") != "models":
            met.setdefault(rid, []).append(record.get("fault") or "none")
    return met


def analyse(outcomes: Sequence[Outcome], primary_log: Sequence[dict[str, Any]], known: str = KNOWN) -> dict[str, Any]:
    """The figures of a run, from what the client got and what the primary saw (pure)."""
    met = faults_by_request(primary_log)
    verdicts: Counter[str] = Counter()
    refused: list[Outcome] = []
    unanswered: list[dict[str, Any]] = []
    for out in outcomes:
        verdict = judge(out, known)
        filtered = "content_filter" in met.get(out.request_id, [])
        if verdict == "error" and filtered and out.error_code == CONTENT_FILTERED:
            refused.append(out)
            continue
        verdicts[verdict] += 1
        if verdict != "ok":
            unanswered.append({**asdict(out), "verdict": verdict, "primary_faults": met.get(out.request_id, [])})
    answerable = len(outcomes) - len(refused)
    generating = [r for r in primary_log if r.get("endpoint") != "models"]
    faulted = [r for r in generating if r.get("fault")]
    refused_ids = {o.index for o in refused}
    recovered = [o for o in outcomes if o.attempts > 1 and o.index not in refused_ids]
    clean = [o for o in outcomes if o.attempts == 1 and o.deployment == PRIMARY]
    routed_around = [o for o in outcomes if o.attempts == 1 and o.deployment == SECONDARY]
    mid_stream = [o for o in outcomes if o.switches or o.restarts]

    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({f for faults in met.values() for f in faults if f != "none"}):
        hit = [o for o in outcomes if kind in met.get(o.request_id, [])]
        ok = [o for o in hit if judge(o, known) == "ok"]
        filtered = sum(1 for o in hit if o.index in refused_ids)
        by_kind[kind] = {
            "requests": len(hit),
            "answered": len(ok),
            "refused_content_filter": filtered,
            **rel.summary_ms([o.latency_s for o in ok]),
        }

    clean_lat = rel.summary_ms([o.latency_s for o in clean])
    failover_lat = rel.summary_ms([o.latency_s for o in recovered if judge(o, known) == "ok"])
    return {
        "requests": len(outcomes),
        "streamed": sum(o.stream for o in outcomes),
        "answerable": answerable,
        "answered": verdicts["ok"],
        "refused_content_filter": len(refused),
        "verdicts": {v: verdicts[v] for v in VERDICTS},
        "primary_responses": len(generating),
        "primary_faulted": len(faulted),
        "primary_fault_share": round(len(faulted) / len(generating), 4) if generating else 0.0,
        "primary_faults_by_kind": dict(sorted(Counter(str(r["fault"]) for r in faulted).items())),
        "recovered_after_failed_attempt": len(recovered),
        "routed_around_open_breaker": len(routed_around),
        "mid_stream": {
            "requests": len(mid_stream),
            "switches": sum(o.switches for o in outcomes),
            "restarts": sum(o.restarts for o in outcomes),
            "duplicated_or_lost": sum(1 for o in mid_stream if judge(o, known) in ("duplicated", "lost")),
            "restart_discard_mismatches": sum(o.discard_mismatch for o in outcomes),
            "answered": sum(1 for o in mid_stream if judge(o, known) == "ok"),
        },
        "latency": {
            "all_answered": rel.summary_ms([o.latency_s for o in outcomes if judge(o, known) == "ok"]),
            "clean": clean_lat,
            "after_failed_attempt": failover_lat,
            "added_by_failover_p50_ms": round(failover_lat["p50_ms"] - clean_lat["p50_ms"], 1),
            "added_by_failover_p99_ms": round(failover_lat["p99_ms"] - clean_lat["p99_ms"], 1),
        },
        "by_fault_kind": by_kind,
        "not_answered": unanswered[:50],
    }


def run(quick: bool, *, requests: int | None = None, concurrency: int | None = None, progress_print: bool = True) -> dict[str, Any]:
    plan = dict(QUICK if quick else FULL)
    if requests is not None:
        plan["requests"] = requests
        plan["kills"] = max(1, round(requests / 2500))  # one kill per 2,500 requests, as in the full run
    if concurrency is not None:
        plan["concurrency"] = concurrency
    total, conc, seed = int(plan["requests"]), int(plan["concurrency"]), int(plan["seed"])
    meta: dict[str, Any] = {"machine": harness.machine(), "mode": "quick" if quick else "full", "command": rel.command_line(MODULE, quick)}
    started = time.monotonic()

    def say(msg: str) -> None:
        if progress_print:
            print(f"[chaos] {msg}", flush=True)

    with tempfile.TemporaryDirectory(prefix="reliability-chaos-") as tmp:
        work = Path(tmp)
        primary = ProviderProcess(FAULT_RATE, seed, work / "primary.log")
        secondary = ProviderProcess(0.0, seed, work / "secondary.log")
        server: ProcessServer | None = None
        try:
            primary.rate = 0.0  # healthy for the warm-up: what the router learns there is not what the run measures
            primary.start()
            secondary.start()
            config = work / "chaos.json"
            config.write_text(json.dumps(edge_settings(primary.url, secondary.url, conc), indent=1), encoding="utf-8")
            env = {"LLM_ROUTER_DATA_DIR": str(work / "data"), "LLM_ROUTER_API_KEY": "chaos-admin"}
            server = ProcessServer(["--config", str(config)], env).start()
            assert server.proc is not None
            pid = server.proc.pid
            rss_boot = harness.rss_kib(pid)
            say(f"{total} requests at concurrency {conc}; primary faults at {FAULT_RATE:.0%}, {plan['kills']} kills, 3 downs")

            # Warm-up (counted in nothing): the first requests of a fresh process pay for imports and caches.
            warm = asyncio.run(drive(server.url, min(100, total // 5), conc, seed + 1, Progress()))
            rss_start = harness.rss_kib(pid)
            primary.stop()
            primary.rate = FAULT_RATE
            primary.journal = work / "primary-journal.jsonl"
            primary.start()  # faulty from now on, writing down what each request met
            transitions_before = breaker_counts(server.url)

            progress = Progress()
            stop = threading.Event()
            disruptions = Disruptions()
            helper = threading.Thread(
                target=disrupt,
                args=(primary, pid, total, int(plan["kills"]), float(plan["down_s"]), progress, stop, disruptions),
                daemon=True,
            )
            t0 = time.monotonic()
            helper.start()
            try:
                outcomes = asyncio.run(drive(server.url, total, conc, seed, progress))
            finally:
                stop.set()
                helper.join(timeout=60)
            wall = time.monotonic() - t0
            transitions_after = breaker_counts(server.url)
            rss_end = harness.rss_kib(pid)
            status = httpx.get(server.url + "/api/status", timeout=10.0).json()
            say(f"{total} requests in {wall:.1f} s")
        finally:
            if server is not None and server.proc is not None:
                server.stop()
            primary.stop()
            secondary.stop()
            problems = [f"{p.log.name}: {line}" for p in (primary, secondary) for line in _log_problems(p.log)]
            server_log = server_log_summary(server.log) if server is not None else {}
        primary_log = read_journal(work / "primary-journal.jsonl")
    figures = analyse(outcomes, primary_log)
    breakers = {k: transitions_after[k] - transitions_before[k] for k in transitions_after}
    growth_mib = round((rss_end - rss_start) / 1024, 1)
    result: dict[str, Any] = {
        "meta": meta | {"load_average_1m_end": harness.load_average(), "duration_s": round(time.monotonic() - started, 1)},
        "plan": plan | {"fault_rate": FAULT_RATE, "drawn_kinds": list(DRAWN_KINDS), "scheduled_kinds": ["down"]},
        "edge_settings": {k: v for k, v in edge_settings("<primary>", "<secondary>", conc).items() if k != "providers"},
        "warmup_requests": len(warm),
        "wall_s": round(wall, 1),
        "throughput_rps": round(total / wall, 1) if wall > 0 else 0.0,
        **figures,
        "breakers": breakers,
        "breaker_states_at_end": {name: d.get("breaker") for name, d in (status.get("deployments") or {}).items()},
        "hints_at_end": status.get("hints"),
        "breaker_history": {
            name: [f"{t['old']} -> {t['new']}: {t['reason']}" for t in b.get("transitions", [])][-30:]
            for name, b in (status.get("breakers") or {}).items()
        },
        "disruptions": {"kills": disruptions.kills, "downs": disruptions.downs, "errors": disruptions.errors},
        "server_log": server_log,
        "provider_log_problems": problems,
        "memory": {
            "rss_after_boot_mib": round(rss_boot / 1024, 1),
            "rss_after_warmup_mib": round(rss_start / 1024, 1),
            "rss_end_mib": round(rss_end / 1024, 1),
            "growth_mib": growth_mib,
            "bound_mib": MEMORY_BOUND_MIB,
            "samples": [{"requests": n, "rss_mib": round(kib / 1024, 1)} for n, kib in disruptions.rss_kib],
        },
    }
    answerable = figures["answerable"]
    repeated_or_lost = figures["verdicts"]["duplicated"] + figures["verdicts"]["lost"] + figures["mid_stream"]["restart_discard_mismatches"]
    result["targets"] = {
        "answered": rel.target("100% of answerable requests", f"{figures['answered']}/{answerable}", figures["answered"] == answerable),
        "truncated_marked_complete": rel.target(
            "0", figures["verdicts"]["truncated_marked_complete"], figures["verdicts"]["truncated_marked_complete"] == 0
        ),
        "duplicated_or_lost_text": rel.target("0", repeated_or_lost, repeated_or_lost == 0),
        "dropped_connections": rel.target("0", figures["verdicts"]["dropped"], figures["verdicts"]["dropped"] == 0),
        "primary_fault_share": rel.target("≥ 30%", f"{figures['primary_fault_share']:.1%}", figures["primary_fault_share"] >= 0.30),
        "memory_growth": rel.target(f"≤ {MEMORY_BOUND_MIB:g} MiB", f"{growth_mib} MiB", growth_mib <= MEMORY_BOUND_MIB),
    }
    if not quick:  # a quick run is too short to meet every kind (reject_prefill needs a retried, cut answer)
        kinds = set(figures["primary_faults_by_kind"])
        result["targets"]["every_fault_kind"] = rel.target("all kinds met", f"{len(kinds)}/{len(fp.FAULTS)}", kinds >= set(fp.FAULTS))
        size_met = total >= 10_000 and conc >= 16
        result["targets"]["size"] = rel.target("≥ 10,000 requests at concurrency ≥ 16", f"{total} at {conc}", size_met)
    return result


# --- the report -----------------------------------------------------------------------------------------


def breaker_note(result: dict[str, Any]) -> str:
    """Why so many requests went straight to the secondary, in words."""
    b = result["breakers"]
    return (
        f"The primary's breaker tripped {b['trips']} times (a kill or a `down` fails every call at once) and was often open: "
        f"{result['routed_around_open_breaker']:,} requests went straight to the secondary. After each cooldown "
        f"({result['edge_settings']['breaker']['cooldown']:g}–{result['edge_settings']['breaker']['max_cooldown']:g} s) one probe "
        "at a time is let through, and it closes after two probes in a row succeed, which a primary failing "
        f"{result['plan']['fault_rate']:.0%} of its responses manages less than half the time: {b['half_opens']} half-opens, "
        f"{b['recoveries']} recoveries. That is the breaker doing its job; the faults the primary did serve are counted above."
    )


def prefix_note(result: dict[str, Any]) -> str:
    """How the run's mid-stream recoveries went, in words (restarts need explaining)."""
    ms = result["mid_stream"]
    note = (
        f"Mid-stream, the edge continued {ms['switches']:,} answers on another attempt with the text so far as a prefix "
        f"(the provider continues it, so any repeat or gap would show in the comparison)"
    )
    if ms["restarts"]:
        note += (
            f"; {ms['restarts']:,} were restarted instead (an `x_llm` restart event: the client discards what it holds, "
            f"{ms.get('restart_discard_mismatches', 0)} times with a count that did not match). Restarts happen once the "
            "primary has refused a prefix (`reject_prefill`): the router learns that it cannot continue answers and, when it "
            "retries an answer there, starts it again"
        )
    return note + "."


def render(result: dict[str, Any]) -> str:
    meta, plan, lat, mem = result["meta"], result["plan"], result["latency"], result["memory"]
    v, ms = result["verdicts"], result["mid_stream"]
    lines = [
        "## Chaos",
        "",
        f"`{meta['command']}` — {plan['requests']:,} requests ({result['streamed']:,} streamed) at concurrency {plan['concurrency']} "
        f"through `python -m llm_runner_router` to the alias `chat`: a primary upstream "
        f"(a FaultProvider process {plan['fault_rate']:.0%} of whose generating responses, at random places, "
        f"meet a fault drawn from every kind it knows, parameters drawn too) "
        f"and a healthy secondary. During the run the primary was SIGKILLed and restarted {len(result['disruptions']['kills'])} times "
        f"and went `down` three times (503, reset, refusing connections). Every answer is compared with the provider's known text.",
        "",
        rel.md_table(
            ["", "count"],
            [
                ("requests answered / answerable", f"{result['answered']:,} / {result['answerable']:,}"),
                (
                    "refused with the content filter's code (the primary filtered them: not to be answered elsewhere)",
                    result["refused_content_filter"],
                ),
                ("honest errors (an error status or event, nothing passed off as complete)", v["error"]),
                ("answers cut short but marked complete", v["truncated_marked_complete"]),
                ("answers with text repeated / lost", f"{v['duplicated']} / {v['lost']}"),
                ("dropped connections (no end marker, no error)", v["dropped"]),
                (
                    "primary responses / with a fault",
                    f"{result['primary_responses']:,} / {result['primary_faulted']:,} ({result['primary_fault_share']:.1%})",
                ),
                ("requests recovered after a failed attempt", result["recovered_after_failed_attempt"]),
                ("requests sent straight to the secondary (primary's breaker open)", result["routed_around_open_breaker"]),
                ("answers continued mid-stream (switches / restarts)", f"{ms['requests']:,} ({ms['switches']:,} / {ms['restarts']:,})"),
                ("… of which answered exactly / with text repeated or lost", f"{ms['answered']:,} / {ms['duplicated_or_lost']}"),
                (
                    "breaker trips / half-opens / recoveries",
                    f"{result['breakers']['trips']} / {result['breakers']['half_opens']} / {result['breakers']['recoveries']}",
                ),
                ("throughput (requests/s, faults and all)", result["throughput_rps"]),
            ],
            align="lr",
        ),
        "",
        "Latency (whole request, client side):",
        "",
        rel.md_table(
            ["requests", "n", "p50 ms", "p99 ms", "max ms"],
            [
                (
                    "first attempt on the primary succeeded",
                    lat["clean"]["n"],
                    lat["clean"]["p50_ms"],
                    lat["clean"]["p99_ms"],
                    lat["clean"]["max_ms"],
                ),
                (
                    "answered after a failed attempt",
                    lat["after_failed_attempt"]["n"],
                    lat["after_failed_attempt"]["p50_ms"],
                    lat["after_failed_attempt"]["p99_ms"],
                    lat["after_failed_attempt"]["max_ms"],
                ),
                (
                    "**added by failover**",
                    "",
                    f"**{rel.fmt_num(lat['added_by_failover_p50_ms'])}**",
                    f"**{rel.fmt_num(lat['added_by_failover_p99_ms'])}**",
                    "",
                ),
            ],
        ),
        "",
        "The added latency is mostly the fault's own cost: a `hang` or a slow first token waits out the first-token timeout "
        f"({result['edge_settings']['stream']['first_token_timeout']:g} s), a `stall` the stall timeout "
        f"({result['edge_settings']['stream']['stall_timeout']:g} s), a 429 its Retry-After (capped at "
        f"{result['edge_settings']['retry']['retry_after_cap']:g} s). By the faults a request met at the primary (a request "
        "retried there can meet two; one whose other fault was `content_filter` is refused, as it should be):",
        "",
        rel.md_table(
            ["fault", "requests", "answered", "refused: content filter", "p50 ms", "p99 ms"],
            [
                (k, d["requests"], d["answered"], d.get("refused_content_filter", 0), d["p50_ms"], d["p99_ms"])
                for k, d in result["by_fault_kind"].items()
            ],
        ),
        "",
        f"Server memory (RSS): {mem['rss_after_boot_mib']} MiB after start, {mem['rss_after_warmup_mib']} MiB after a "
        f"{result['warmup_requests']}-request warm-up, {mem['rss_end_mib']} MiB at the end: growth {mem['growth_mib']} MiB "
        f"(bound {mem['bound_mib']:g} MiB). Samples every 10 % of the run: "
        + ", ".join(f"{s['rss_mib']}" for s in mem["samples"])
        + " MiB.",
        "",
        rel.targets_table(result["targets"]),
        "",
        f"Edge settings for the run (besides the two providers): `{json.dumps(result['edge_settings'], separators=(', ', ': '))}`.",
        "",
        breaker_note(result),
        "",
        prefix_note(result),
        "",
        f"{rel.machine_line(meta)}; {result['wall_s']} s for the measured requests. Raw figures: "
        "[bench/results/reliability_chaos.json](../bench/results/reliability_chaos.json).",
    ]
    if result["disruptions"]["errors"]:
        lines += ["", "Disruptions that failed: " + "; ".join(result["disruptions"]["errors"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK['requests']} requests (well under a minute)")
    ap.add_argument("--requests", type=int)
    ap.add_argument("--concurrency", type=int)
    ap.add_argument("--out", type=Path)
    # The primary's own process (started by the run, not by hand).
    ap.add_argument("--primary", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=FAULT_RATE, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--journal", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.primary:
        return serve_primary(args.port, args.rate, args.seed, args.journal)
    result = run(args.quick, requests=args.requests, concurrency=args.concurrency)
    path = rel.write_result(NAME, result, args.out)
    print(render(result))
    print(f"wrote {path}")
    return 0 if rel.all_met(result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
