#!/usr/bin/env python3
"""Decode throughput and time to first token through the edge server, next to llama-cpp-python in-process.

The same model (the embedded SmolLM2-135M-Instruct Q4_1 GGUF), the same
llama.cpp settings (``n_ctx`` from the server's default settings,
``n_threads`` = ``n_threads_batch`` = the backend's default, ``seed=0``),
the same sampling (greedy: ``temperature=0``, ``top_p`` the backend's
default 0.95, ``max_tokens``), the same prompts in the same order, and the
same stop strings (the chat template's), on two sides:

* ``ours``: ``python -m llm_runner_router`` as a real process on 127.0.0.1 (its
  default settings: the embedded model under the name
  ``SmolLM2-135M-Instruct``), the monitor's health checks pushed out of the
  way (``HEALTH_CHECK_INTERVAL`` = one day, in ms), streaming
  ``POST /v1/chat/completions`` with ``stream_options.include_usage``, read
  with httpx (one keep-alive connection per client thread). The token count
  is the ``usage.completion_tokens`` the server reports.
* ``inprocess``: one ``llama_cpp.Llama`` in this process, built with the
  arguments ``LlamaCppBackend._construct`` uses; each request formats the
  messages with the GGUF's chat template (``Jinja2ChatFormatter``, as the
  backend does), tokenizes, and iterates ``create_completion(tokens,
  stream=True, ...)`` with the same keyword arguments, under a
  ``threading.Lock`` (the backend's ``_lock``), each on a thread of its own
  (as the backend runs each; see ``InProcessSide.request`` for why it matters
  with llama.cpp's OpenMP build). Tokens are counted by a
  stopping criterion computing what the backend's ``_Watch`` computes
  (the end-of-generation token included), so both sides count alike.

Figures, per request: TTFT = first chunk with text - request issued
(HTTP: before the POST is sent; in-process: before the lock is taken);
decode tok/s = (completion_tokens - 1) / (last chunk with text - first
chunk with text). Per concurrency:

* concurrency 1: requests one after the other; the round's figure is the
  median of its requests' decode tok/s.
* concurrency 4: a batch of N requests handed to 4 client threads (each
  takes the next request when its last one ends). The server serialises
  generations on its one ``Llama`` (``LlamaCppBackend._lock``), so the
  in-process side does the same work the same way: 4 threads, one
  ``Llama``, one lock. The round's figure is the aggregate throughput:
  all completion tokens / wall time of the batch (first issue -> last
  request done). TTFT at concurrency 4 includes the wait for the model.

The VM's speed drifts (+-40 % over minutes), so the sides run interleaved
in rounds after a warm-up (ours then in-process, the order reversed every
other round, for each concurrency), and the headline figures are medians
over rounds. ``ratio`` is the median over rounds of the paired ratio
ours / in-process of the same round (``ratio_of_medians`` is reported
beside it). TTFT p50 is the median over all of a side's measured
requests.

Diagnostics: CPU time of the server process (all threads, and its main
thread, which runs the event loop: HTTP, router, SSE, JSON) and of this
process (the HTTP client) during the ``ours`` blocks, per streamed token.

Usage::

    python -m bench.edge_throughput            # full run; writes the JSON and the docs section
    python -m bench.edge_throughput --quick    # < ~3 minutes; JSON only

Writes bench/results/edge_throughput.json; a full run also updates the
section between ``<!-- edge_throughput:start -->`` and
``<!-- edge_throughput:end -->`` in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import _docs, harness
from llm_runner_router.edge import llamacpp as _llamacpp
from llm_runner_router.edge.compose import DEFAULT_MODEL_NAME, default_settings
from llm_runner_router.edge.llamacpp import DEFAULT_TOP_P, LlamaCppBackend
from llm_runner_router.edge.model_fetch import ensure_model

ROOT = Path(__file__).resolve().parent.parent

# LlamaCppBackend re-evaluates the whole prompt of a greedy (or seeded) request before generating
# (edge_server.llamacpp._cold_prefill, for reproducible answers); the in-process side does the same
# work with the same function, when the backend has it.
_COLD_PREFILL: Callable[..., None] | None = getattr(_llamacpp, "_cold_prefill", None)

RESULTS = ROOT / "bench" / "results" / "edge_throughput.json"
DOC = ROOT / "docs" / "benchmarks.md"
DOC_START = "<!-- edge_throughput:start -->"
DOC_END = "<!-- edge_throughput:end -->"

TARGET_RATIO = 0.97
HEALTH_CHECK_INTERVAL_MS = 86_400_000  # one day: the monitor never runs during the bench
# The server's defaults, but for the monitor and for timeouts a slow, shared VM could trip (a request
# queued behind three 128-token generations can wait past the 30 s first-token timeout when another
# process takes a CPU); none of them is on the per-token path.
NOISE_THRESHOLD = 0.10  # other processes' share of the CPUs above which a pair of blocks is run again
SERVER_ENV = {
    "HEALTH_CHECK_INTERVAL": str(HEALTH_CHECK_INTERVAL_MS),
    "LLM_ROUTER__STREAM__FIRST_TOKEN_TIMEOUT": "600",
    "LLM_ROUTER__STREAM__STALL_TIMEOUT": "600",
    "LLM_ROUTER__RETRY__DEADLINE": "none",
    "LLM_ROUTER__BREAKER__SLOW_CALL_SECONDS": "3600",
}

# Prompts the model answers at length (greedy, it runs to max_tokens=128 on all of them).
PROMPTS = (
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in great detail how a steam engine works, step by step.",
    "Write a very long poem about the sea, with many stanzas.",
    "Describe the history of Rome in as much detail as you can.",
    "Write a long essay about the importance of sleep.",
    "Give a detailed recipe for lasagna with every step explained.",
    "List one hundred fruits, one per line, numbered.",
    "Write a long letter to a friend describing a journey across Europe by train.",
)

# quiet_wait: seconds to wait for other processes to quiet down before each pair of blocks;
# max_retries / retry_budget_s: how often, and for how long into the run, a noisy pair is run again.
FULL = {
    "rounds": 10,
    "c1_requests": 3,
    "c4_requests": 8,
    "max_tokens": 128,
    "warmup": 2,
    "quiet_wait": 30.0,
    "max_retries": 3,
    "retry_budget_s": 1500.0,
}
QUICK = {
    "rounds": 2,
    "c1_requests": 2,
    "c4_requests": 4,
    "max_tokens": 96,
    "warmup": 1,
    "quiet_wait": 5.0,
    "max_retries": 1,
    "retry_budget_s": 60.0,
}


# --- one request --------------------------------------------------------------------------


@dataclass
class Sample:
    """One streamed request, timed with time.perf_counter (seconds)."""

    side: str
    concurrency: int
    round: int
    prompt: int
    issued: float
    first: float | None = None  # first chunk with text
    last: float | None = None  # last chunk with text
    done: float = 0.0  # the stream ended
    completion_tokens: int = 0
    prompt_tokens: int = 0
    chunks: int = 0  # chunks with text
    finish_reason: str | None = None

    @property
    def ttft_ms(self) -> float:
        return (self.first - self.issued) * 1000.0 if self.first is not None else float("nan")

    @property
    def decode_tok_s(self) -> float:
        if self.first is None or self.last is None or self.last <= self.first or self.completion_tokens < 2:
            return float("nan")
        return (self.completion_tokens - 1) / (self.last - self.first)


class HTTPSide:
    """Streaming chat completions from the edge server with httpx, one keep-alive connection per thread."""

    name = "ours"

    def __init__(self, base_url: str, model: str = DEFAULT_MODEL_NAME) -> None:
        import httpx

        self.url = base_url.rstrip("/") + "/v1/chat/completions"
        self.model = model
        self._httpx = httpx
        self._clients: dict[int, Any] = {}  # by client thread: its connection stays open from batch to batch

    def _client(self, worker: int) -> Any:
        client = self._clients.get(worker)
        if client is None:
            client = self._clients[worker] = self._httpx.Client(timeout=self._httpx.Timeout(600.0, connect=10.0))
        return client

    def request(self, prompt: str, max_tokens: int, sample: Sample, worker: int = 0) -> None:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        client = self._client(worker)
        pc = time.perf_counter
        sample.issued = pc()
        with client.stream("POST", self.url, json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.read()[:500]!r}")
            for line in response.iter_lines():
                now = pc()
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                obj = json.loads(data)
                if "error" in obj:
                    raise RuntimeError(f"error in stream: {obj['error']}")
                choices = obj.get("choices")
                if choices:
                    choice = choices[0]
                    if (choice.get("delta") or {}).get("content"):
                        if sample.first is None:
                            sample.first = now
                        sample.last = now
                        sample.chunks += 1
                    if choice.get("finish_reason"):
                        sample.finish_reason = choice["finish_reason"]
                usage = obj.get("usage")
                if usage:
                    sample.completion_tokens = int(usage["completion_tokens"])
                    sample.prompt_tokens = int(usage["prompt_tokens"])
        sample.done = pc()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


class _Count:
    """A stopping criterion that only counts, as edge_server.llamacpp._Watch counts (never stops)."""

    def __init__(self, n_prompt: int) -> None:
        self.n_prompt = n_prompt
        self.sampled = 0

    def __call__(self, input_ids: Sequence[int], logits: Any) -> bool:
        self.sampled = max(self.sampled, len(input_ids) - self.n_prompt + 1)
        return False


class InProcessSide:
    """One llama_cpp.Llama in this process, used as LlamaCppBackend uses its own, under one lock."""

    name = "inprocess"

    def __init__(self, model_path: Path, n_ctx: int, n_threads: int, seed: int = 0) -> None:
        from llama_cpp import Llama, StoppingCriteriaList
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # The arguments of LlamaCppBackend._construct.
        self.llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, seed=seed, verbose=False)
        llm = self.llm
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise RuntimeError(f"{model_path} has no chat template")
        eos, bos = llm.token_eos(), llm.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
            add_generation_prompt=True,
        )
        self._criteria = StoppingCriteriaList
        self.lock = threading.Lock()

    def request(self, prompt: str, max_tokens: int, sample: Sample, worker: int = 0) -> None:
        """One generation on a thread of its own, as LlamaCppBackend.stream runs each one.

        Not on the caller's thread: llama.cpp is built with OpenMP here, and every thread that
        has ever run a decode keeps its own OpenMP team alive. Once more threads are managed
        than there are CPUs, libgomp stops spinning at barriers and sleeps instead (its
        "throttled" spin count), and decoding runs at half speed or worse. A thread per
        generation, which ends with it, leaves one team alive at a time -- as in the server.
        """
        sample.issued = time.perf_counter()
        failed: list[BaseException] = []

        def generate() -> None:
            try:
                self._generate(prompt, max_tokens, sample)
            except BaseException as exc:  # re-raised on the caller's thread
                failed.append(exc)

        thread = threading.Thread(target=generate, name="inprocess-generate", daemon=True)
        thread.start()
        thread.join()
        sample.done = time.perf_counter()
        if failed:
            raise failed[0]

    def _generate(self, prompt: str, max_tokens: int, sample: Sample) -> None:
        pc = time.perf_counter
        with self.lock:
            llm = self.llm
            # LlamaCppBackend._prompt: template, then tokens (BOS unless the template wrote it).
            result = self.formatter(messages=[{"role": "user", "content": prompt}])
            tokens = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
            stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
            if _COLD_PREFILL is not None:  # the backend evaluates a greedy request's prompt afresh: so do we
                _COLD_PREFILL(llm, tokens, len(tokens), threading.Event())
            count = _Count(len(tokens))
            # LlamaCppBackend._sampling for {"temperature": 0, "max_tokens": N}.
            chunks = llm.create_completion(
                tokens,
                stream=True,
                stopping_criteria=self._criteria([count]),
                max_tokens=max_tokens,
                temperature=0.0,
                top_p=DEFAULT_TOP_P,
                seed=None,
                stop=[s for s in stop if s],
            )
            try:
                for chunk in chunks:
                    now = pc()
                    choice = chunk["choices"][0]
                    if choice.get("text"):
                        if sample.first is None:
                            sample.first = now
                        sample.last = now
                        sample.chunks += 1
                    if choice.get("finish_reason") is not None:
                        sample.finish_reason = choice["finish_reason"]
            finally:
                chunks.close()
            sample.completion_tokens = count.sampled
            sample.prompt_tokens = len(tokens)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.llm.close()


# --- a batch ------------------------------------------------------------------------------


def run_batch(
    side: Any, prompts: Sequence[int], concurrency: int, max_tokens: int, round_no: int, prompt_texts: Sequence[str] = PROMPTS
) -> tuple[list[Sample], float]:
    """Requests for the given prompt indices, `concurrency` at a time; the samples and the batch's wall time."""
    samples = [Sample(side.name, concurrency, round_no, p, 0.0) for p in prompts]
    todo: queue.SimpleQueue[Sample] = queue.SimpleQueue()
    for s in samples:
        todo.put(s)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        while True:
            try:
                s = todo.get_nowait()
            except queue.Empty:
                return
            try:
                side.request(prompt_texts[s.prompt], max_tokens, s, index)
            except BaseException as exc:  # reported after the batch
                errors.append(exc)
                return

    start = time.perf_counter()
    if concurrency <= 1:
        worker(0)
    else:
        threads = [threading.Thread(target=worker, args=(i,), name=f"bench-client-{i}", daemon=True) for i in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{side.name}: {len(errors)} request(s) failed: {errors[0]!r}") from errors[0]
    return samples, wall


# --- CPU accounting (Linux /proc) --------------------------------------------------------------


QUIET = 0.15  # the share of all CPUs other processes may use before a pair of blocks starts


def _cpu_s(pid: int, thread: int | None = None) -> float:
    try:
        return harness.process_cpu_s(pid, thread)
    except (OSError, IndexError, ValueError):
        return float("nan")


def _cpu_snapshot(server_pid: int | None) -> dict[str, float]:
    try:
        busy, total = harness.machine_cpu_s()
    except (OSError, ValueError):
        busy = total = float("nan")
    snap = {"client": time.process_time(), "machine": busy, "machine_total": total}
    if server_pid is not None:
        snap["server"] = _cpu_s(server_pid)  # every thread, exited ones included
        snap["server_loop"] = _cpu_s(server_pid, thread=server_pid)  # the main thread: the event loop
    return snap


def _foreign_share(before: dict[str, float], after: dict[str, float]) -> float:
    """The share of the machine's CPUs other processes used in between (0..1): the noise we did not make.

    As bench/harness.py's OtherLoad, from snapshots, since the same snapshots also count the server's CPU time.
    """
    ours = (after["client"] - before["client"]) + (after.get("server", 0.0) - before.get("server", 0.0))
    busy = after["machine"] - before["machine"]
    total = after["machine_total"] - before["machine_total"]
    return max(0.0, busy - ours) / total if total > 0 else float("nan")


# --- the measurement --------------------------------------------------------------------------


def _median(xs: Sequence[float]) -> float:
    ys = [x for x in xs if x == x]
    return statistics.median(ys) if ys else float("nan")


def _round_figure(samples: list[Sample], wall: float, concurrency: int) -> float:
    if concurrency == 1:
        return _median([s.decode_tok_s for s in samples])
    return sum(s.completion_tokens for s in samples) / wall if wall > 0 else float("nan")


def measure(
    ours: Any,
    inproc: Any,
    *,
    rounds: int,
    c1_requests: int,
    c4_requests: int,
    max_tokens: int,
    warmup: int = 1,
    concurrencies: Sequence[int] = (1, 4),
    server_pid: int | None = None,
    quiet_wait: float = 0.0,
    noise_threshold: float = NOISE_THRESHOLD,
    max_retries: int = 0,
    retry_budget_s: float = float("inf"),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Warm-up, then interleaved rounds of both sides at each concurrency. The result dict (see module doc).

    A pair of blocks (both sides, one concurrency) during which other processes took more than
    `noise_threshold` of the CPUs is run again, up to `max_retries` times and while less than
    `retry_budget_s` has passed; the discarded pairs are counted, never used.
    """
    say = progress or (lambda _msg: None)
    n_prompts = len(PROMPTS)
    for side in (ours, inproc):  # warm-up: first-request costs, template, caches, every client connection
        if warmup:
            run_batch(side, [i % n_prompts for i in range(warmup)], 1, max_tokens, -1)
            for c in concurrencies:
                if c > 1:
                    run_batch(side, [i % n_prompts for i in range(c)], c, 8, -1)

    samples: list[Sample] = []
    per_round: dict[int, dict[str, list[float]]] = {
        c: {"ours": [], "inprocess": [], "ratio": [], "foreign_cpu_ours": [], "foreign_cpu_inprocess": []} for c in concurrencies
    }
    cpu: dict[str, float] = {"client": 0.0, "server": 0.0, "server_loop": 0.0, "ours_tokens": 0.0, "ours_wall": 0.0}
    discarded: dict[int, int] = {c: 0 for c in concurrencies}
    noisy_kept: dict[int, int] = {c: 0 for c in concurrencies}
    waited = 0.0
    started = time.perf_counter()
    cursor = 0
    for r in range(rounds):
        for c in concurrencies:
            n = c1_requests if c == 1 else c4_requests
            prompts = [(cursor + i) % n_prompts for i in range(n)]
            cursor += n
            order = [ours, inproc] if r % 2 == 0 else [inproc, ours]
            attempt = 0
            while True:
                if quiet_wait > 0:
                    waited += harness.wait_for_quiet(quiet_wait, QUIET)[0]
                figures: dict[str, float] = {}
                foreign: dict[str, float] = {}
                got_pair: list[Sample] = []
                cpu_pair: dict[str, float] = {k: 0.0 for k in cpu}
                for side in order:
                    before = _cpu_snapshot(server_pid)
                    got, wall = run_batch(side, prompts, c, max_tokens, r)
                    after = _cpu_snapshot(server_pid)
                    foreign[side.name] = _foreign_share(before, after)
                    if side is ours:
                        for k in ("client", "server", "server_loop"):
                            if k in before:
                                cpu_pair[k] += after[k] - before[k]
                        cpu_pair["ours_tokens"] += sum(s.completion_tokens for s in got)
                        cpu_pair["ours_wall"] += wall
                    got_pair.extend(got)
                    figures[side.name] = _round_figure(got, wall, c)
                noise = max(foreign.values())
                line = (
                    f"  round {r + 1}/{rounds} c={c}: ours {figures['ours']:.1f} tok/s, in-process {figures['inprocess']:.1f} tok/s, "
                    f"ratio {figures['ours'] / figures['inprocess']:.3f}; other processes' CPU share {foreign['ours']:.0%} / "
                    f"{foreign['inprocess']:.0%} ({time.perf_counter() - started:.0f} s)"
                )
                if noise > noise_threshold and attempt < max_retries and time.perf_counter() - started < retry_budget_s:
                    attempt += 1
                    discarded[c] += 1
                    say(line + " -- discarded (noisy), again")
                    continue
                if noise > noise_threshold:
                    noisy_kept[c] += 1
                    line += " -- noisy, kept"
                say(line)
                break
            samples.extend(got_pair)
            for k in cpu:
                cpu[k] += cpu_pair[k]
            pr = per_round[c]
            pr["ours"].append(round(figures["ours"], 3))
            pr["inprocess"].append(round(figures["inprocess"], 3))
            pr["ratio"].append(round(figures["ours"] / figures["inprocess"], 4))
            pr["foreign_cpu_ours"].append(round(foreign["ours"], 3))
            pr["foreign_cpu_inprocess"].append(round(foreign["inprocess"], 3))

    result: dict[str, Any] = {}
    for c in concurrencies:
        mine = [s for s in samples if s.concurrency == c]
        o = [s for s in mine if s.side == "ours"]
        i = [s for s in mine if s.side == "inprocess"]
        pr = per_round[c]
        ours_tok_s, in_tok_s = _median(pr["ours"]), _median(pr["inprocess"])
        result[f"concurrency_{c}"] = {
            "ours_tok_s": round(ours_tok_s, 2),
            "inprocess_tok_s": round(in_tok_s, 2),
            "ratio": round(_median(pr["ratio"]), 4),
            "ours_ttft_ms_p50": round(_median([s.ttft_ms for s in o]), 2),
            "inprocess_ttft_ms_p50": round(_median([s.ttft_ms for s in i]), 2),
            "ratio_of_medians": round(ours_tok_s / in_tok_s, 4) if in_tok_s else None,
            "figure": "median decode tok/s per request"
            if c == 1
            else f"aggregate tok/s of a {c_req(c, c1_requests, c4_requests)}-request batch",
            "ours_decode_tok_s_p50_per_request": round(_median([s.decode_tok_s for s in o]), 2),
            "inprocess_decode_tok_s_p50_per_request": round(_median([s.decode_tok_s for s in i]), 2),
            "requests": {"ours": len(o), "inprocess": len(i)},
            "completion_tokens": {"ours": sum(s.completion_tokens for s in o), "inprocess": sum(s.completion_tokens for s in i)},
            "per_round": pr,
        }
    tokens_by_prompt: dict[str, dict[str, list[int]]] = {}
    for s in samples:
        tokens_by_prompt.setdefault(str(s.prompt), {"ours": [], "inprocess": []})[s.side].append(s.completion_tokens)
    result["checks"] = {
        "completion_tokens_by_prompt": {k: {side: sorted(set(v)) for side, v in d.items()} for k, d in sorted(tokens_by_prompt.items())},
        "finish_reasons": _count(f"{s.side}:{s.finish_reason}" for s in samples),
        "all_generated": all(s.completion_tokens > 0 and s.first is not None for s in samples),
        "quiet_wait_s": round(waited, 1),
        "noise_threshold": noise_threshold,
        "pairs_discarded_as_noisy": {f"concurrency_{c}": discarded[c] for c in concurrencies},
        "noisy_pairs_kept": {f"concurrency_{c}": noisy_kept[c] for c in concurrencies},
    }
    if cpu["ours_tokens"]:
        per_tok = 1e6 / cpu["ours_tokens"]
        result["cpu_ours_blocks"] = {
            "tokens": int(cpu["ours_tokens"]),
            "wall_s": round(cpu["ours_wall"], 2),
            "server_process_cpu_s": round(cpu.get("server", float("nan")), 2),
            "server_loop_thread_cpu_us_per_token": round(cpu.get("server_loop", float("nan")) * per_tok, 1),
            "server_process_cpu_us_per_token": round(cpu.get("server", float("nan")) * per_tok, 1),
            "client_cpu_us_per_token": round(cpu["client"] * per_tok, 1),
        }
    result["_samples"] = samples
    return result


def c_req(c: int, c1: int, c4: int) -> int:
    return c1 if c == 1 else c4


def _count(items: Iterator[str] | Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))


# --- the two sides, set up ----------------------------------------------------------------------


def engine_settings() -> dict[str, Any]:
    """The model path, n_ctx and n_threads the server's default settings give its llama.cpp backend."""
    model_path = ensure_model(progress=False)
    opts = default_settings(model_path)["providers"]["local"]["options"]
    n_ctx = int(opts.get("n_ctx", 2048))
    backend = LlamaCppBackend(model_path, n_ctx=n_ctx, n_threads=opts.get("n_threads"))
    return {"model_path": model_path, "n_ctx": n_ctx, "n_threads": backend._n_threads}


@contextlib.contextmanager
def sides(progress: Callable[[str], None] | None = None) -> Iterator[tuple[HTTPSide, InProcessSide, Any, dict[str, Any]]]:
    """The server process (default settings, monitor out of the way) and the in-process Llama."""
    from llm_runner_router.edge.testing.servers import ProcessServer

    say = progress or (lambda _msg: None)
    engine = engine_settings()
    with tempfile.TemporaryDirectory(prefix="edge-throughput-") as tmp:
        env = {
            **SERVER_ENV,
            "LLM_ROUTER_DATA_DIR": tmp,  # the server's store and log, thrown away afterwards
            "LLM_ROUTER_MODELS_DIR": str(engine["model_path"].parent),
        }
        say(f"[bench] starting python -m llm_runner_router ({' '.join(f'{k}={v}' for k, v in SERVER_ENV.items())}) ...")
        server = ProcessServer([], env)
        server.start(timeout=300)
        ours = HTTPSide(server.url)
        inproc: InProcessSide | None = None
        try:
            say(
                f"[bench] server on {server.url}; loading the in-process Llama "
                f"(n_ctx={engine['n_ctx']}, n_threads={engine['n_threads']}) ..."
            )
            inproc = InProcessSide(engine["model_path"], engine["n_ctx"], engine["n_threads"])
            yield ours, inproc, server, engine
        finally:
            ours.close()
            if inproc is not None:
                inproc.close()
            server.stop()


def run(
    *,
    rounds: int,
    c1_requests: int,
    c4_requests: int = 0,
    max_tokens: int,
    warmup: int = 1,
    concurrencies: Sequence[int] = (1, 4),
    quiet_wait: float = 0.0,
    max_retries: int = 0,
    retry_budget_s: float = float("inf"),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Start both sides, measure, and return the result (the JSON's shape; raw samples under "_samples")."""
    with sides(progress) as (ours, inproc, server, engine):
        assert server.proc is not None
        load_start = harness.load_averages()
        res = measure(
            ours,
            inproc,
            rounds=rounds,
            c1_requests=c1_requests,
            c4_requests=c4_requests,
            max_tokens=max_tokens,
            warmup=warmup,
            concurrencies=concurrencies,
            server_pid=server.proc.pid,
            quiet_wait=quiet_wait,
            max_retries=max_retries,
            retry_budget_s=retry_budget_s,
            progress=progress,
        )
    import llama_cpp

    res["meta"] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "loadavg_at_start": load_start,
        "loadavg_at_end": harness.load_averages(),
        "llama_cpp_python": getattr(llama_cpp, "__version__", "?"),
        "model": engine["model_path"].name,
        "n_ctx": engine["n_ctx"],
        "n_threads": engine["n_threads"],
        "n_threads_batch": engine["n_threads"],
        "seed": 0,
        "sampling": {"temperature": 0.0, "top_p": DEFAULT_TOP_P, "max_tokens": max_tokens, "stop": "the chat template's (<|im_end|>)"},
        "prompts": list(PROMPTS),
        "rounds": rounds,
        "requests_per_round": {f"concurrency_{c}": c_req(c, c1_requests, c4_requests) for c in concurrencies},
        "warmup_requests_per_side": warmup,
        "server": "python -m llm_runner_router (default settings), POST /v1/chat/completions stream + include_usage; "
        f"client httpx {_version('httpx')}, one keep-alive connection per client thread",
        "server_env": SERVER_ENV,
        "quiet_wait_s_max_per_pair": quiet_wait,
        "noisy_pair_retries": {"max_per_pair": max_retries, "only_within_s": retry_budget_s},
        "inprocess": "llama_cpp.Llama(model_path, n_ctx, n_threads, n_threads_batch, seed=0) + Jinja2ChatFormatter; "
        + ("edge_server.llamacpp._cold_prefill (as the backend does for greedy requests), then " if _COLD_PREFILL else "")
        + "create_completion(tokens, stream=True) under a threading.Lock, each generation on a thread of its own",
        "cold_prefill_both_sides": _COLD_PREFILL is not None,
        "timing": "time.perf_counter; TTFT = first text chunk - issue; decode = (completion_tokens - 1) / (last text chunk - first); "
        "c=1: median per-request decode tok/s per round; c=4: completion tokens / batch wall time; medians over rounds; "
        "ratio = median of per-round ours/in-process",
        "target_ratio": TARGET_RATIO,
    }
    return res


def run_smoke(max_tokens: int = 8, requests: int = 2) -> dict[str, Any]:
    """A tiny run for the smoke test: concurrency 1, `requests` requests per side, one round, no warm-up."""
    return run(rounds=1, c1_requests=requests, max_tokens=max_tokens, warmup=0, concurrencies=(1,))


def _version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:
        return "?"


# --- output ---------------------------------------------------------------------------------------


def public(res: dict[str, Any]) -> dict[str, Any]:
    """The JSON to write: everything but the raw samples."""
    return {k: v for k, v in res.items() if not k.startswith("_")}


def _fmt(x: float | None, nd: int = 1) -> str:
    return "–" if x is None or x != x else f"{x:,.{nd}f}"


def table(res: dict[str, Any]) -> str:
    out = [
        f"{'concurrency':>11}  {'ours tok/s':>10}  {'in-proc tok/s':>13}  {'ratio':>6}  "
        f"{'ours TTFT p50 ms':>16}  {'in-proc TTFT p50 ms':>19}"
    ]
    for key in sorted(k for k in res if k.startswith("concurrency_")):
        r = res[key]
        out.append(
            f"{key.split('_')[1]:>11}  {_fmt(r['ours_tok_s']):>10}  {_fmt(r['inprocess_tok_s']):>13}  {_fmt(r['ratio'], 3):>6}  "
            f"{_fmt(r['ours_ttft_ms_p50']):>16}  {_fmt(r['inprocess_ttft_ms_p50']):>19}"
        )
    for key in sorted(k for k in res if k.startswith("concurrency_")):
        pr = res[key]["per_round"]
        out.append(
            f"c={key.split('_')[1]} per round: ours {_fmt(min(pr['ours']))}..{_fmt(max(pr['ours']))}, "
            f"in-process {_fmt(min(pr['inprocess']))}..{_fmt(max(pr['inprocess']))} tok/s, "
            f"ratio {_fmt(min(pr['ratio']), 3)}..{_fmt(max(pr['ratio']), 3)}"
        )
    cpu = res.get("cpu_ours_blocks")
    if cpu:
        out.append(
            f"CPU per streamed token (ours blocks): server loop thread {_fmt(cpu['server_loop_thread_cpu_us_per_token'])} µs, "
            f"server process {_fmt(cpu['server_process_cpu_us_per_token'])} µs, client {_fmt(cpu['client_cpu_us_per_token'])} µs"
        )
    return "\n".join(out)


def doc_section(res: dict[str, Any], command: str) -> str:
    m = res["meta"]
    rows = []
    for key in sorted(k for k in res if k.startswith("concurrency_")):
        r = res[key]
        c = key.split("_")[1]
        what = "decode tok/s, median per request" if c == "1" else f"aggregate tok/s, {m['requests_per_round'][key]} requests 4 at a time"
        rows.append(
            f"| {c} ({what}) | {_fmt(r['ours_tok_s'])} | {_fmt(r['inprocess_tok_s'])} | **{_fmt(r['ratio'], 3)}** | "
            f"{_fmt(r['ours_ttft_ms_p50'])} | {_fmt(r['inprocess_ttft_ms_p50'])} |"
        )
    verdicts = []
    for key in sorted(k for k in res if k.startswith("concurrency_")):
        ok = res[key]["ratio"] >= TARGET_RATIO
        verdicts.append(f"concurrency {key.split('_')[1]} {'met' if ok else '**not met**'}")
    ranges = "; ".join(
        f"c={k.split('_')[1]}: ours {_fmt(min(res[k]['per_round']['ours']))}–{_fmt(max(res[k]['per_round']['ours']))} tok/s, "
        f"ratio {_fmt(min(res[k]['per_round']['ratio']), 3)}–{_fmt(max(res[k]['per_round']['ratio']), 3)}"
        for k in sorted(k for k in res if k.startswith("concurrency_"))
    )
    cpu = res.get("cpu_ours_blocks") or {}
    lines = [
        DOC_START,
        "### Edge server throughput (llama.cpp)",
        "",
        f"Decode throughput and time to first token of the embedded model ({m['model']}) streamed through the edge server "
        "(`python -m llm_runner_router`, a real process on 127.0.0.1, `POST /v1/chat/completions` with `stream: true` and "
        "`stream_options.include_usage`, read with httpx) next to llama-cpp-python called in-process "
        "(`Llama.create_completion(stream=True)` on the same chat-template-formatted prompt, one `Llama` under a lock, as "
        "`LlamaCppBackend` uses it). Same settings on both sides: "
        f"n_ctx {m['n_ctx']}, n_threads {m['n_threads']} (the backend's default: every CPU), greedy (temperature 0), "
        f"max_tokens {m['sampling']['max_tokens']}, the same {len(m['prompts'])} prompts in the same order.",
        "",
        "| concurrency | ours (tok/s) | in-process (tok/s) | ratio | ours TTFT p50 (ms) | in-process TTFT p50 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Target: ratio ≥ {TARGET_RATIO} — {'; '.join(verdicts)}. Decode tok/s = (completion_tokens − 1) / (last − first text chunk), "
        "completion_tokens from the usage the server reports (in-process: counted as the backend counts). At concurrency 4 the "
        "server runs one generation at a time on its one `Llama`, so both sides do the same work: the figure is all tokens / the "
        "batch's wall time, and TTFT includes the wait for the model.",
        "",
        f"This VM is noisy; the sides ran interleaved in {m['rounds']} rounds after a warm-up, and the figures are medians over "
        f"rounds (ratio: median of the per-round paired ratios). Per round: {ranges}.",
    ]
    if cpu:
        lines += [
            "",
            "Where the difference goes: per streamed token, the server's event-loop thread (thread-to-loop hop, router, "
            f"Starlette, SSE/JSON, h11, socket) used {_fmt(cpu['server_loop_thread_cpu_us_per_token'])} µs of CPU and the "
            f"HTTP client {_fmt(cpu['client_cpu_us_per_token'])} µs, on a machine whose {m['cpu_affinity']} CPUs llama.cpp's "
            f"{m['n_threads']} threads already fill; the loop's Python work also contends for the GIL with the generating "
            "thread. `python -m bench.edge_throughput --profile` breaks the loop's cost down by layer (no model needed).",
            "",
            "The in-process side runs each generation on a thread of its own, as `LlamaCppBackend` does: llama.cpp is "
            "built with OpenMP here, every thread that has run a decode keeps an OpenMP team alive, and once more threads "
            "are managed than there are CPUs, libgomp sleeps at barriers instead of spinning and decoding runs at half speed "
            "or worse.",
        ]
    lines += [
        "",
        f"{m['date'][:10]}, Python {m['python']}, llama-cpp-python {m['llama_cpp_python']}, {m['cpu_count']} cores, "
        f"load average {m['loadavg_at_start'][0]:.2f} at the start. Produced by `{command}`; raw numbers in "
        "[bench/results/edge_throughput.json](../bench/results/edge_throughput.json).",
        DOC_END,
    ]
    return "\n".join(lines)


def update_doc(section: str, path: Path = DOC) -> None:
    _docs.update_section(section, DOC_START, DOC_END, path)


# --- profile: where the server's time per token goes ------------------------------------------------------


class _PacedLlama:
    """Stands in for llama_cpp.Llama inside a real LlamaCppBackend: one token every `interval` s.

    The "decode" is a time.sleep in the backend's worker thread (the GIL released, as in
    llama_decode), so the event loop sees tokens arrive one at a time, as from the model.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def n_ctx(self) -> int:
        return 2048

    def reset(self) -> None:
        pass

    def eval(self, tokens: Sequence[int]) -> None:
        pass

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        return list(range(max(1, len(text) // 4)))

    def create_completion(self, tokens: list[int], *, stream: bool, stopping_criteria: Any, max_tokens: int, **_: Any) -> Any:
        def chunks() -> Iterator[dict[str, Any]]:
            ids = list(tokens)
            for i in range(max_tokens):
                time.sleep(self.interval)
                ids.append(i)
                if stopping_criteria is not None and stopping_criteria[0](ids, None):
                    return
                last = i == max_tokens - 1
                yield {"choices": [{"text": f" w{i}", "finish_reason": "length" if last else None}]}

        return chunks()


def _thread_cpu(ident: int) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


class _LoopThread:
    """An asyncio loop in its own thread, so that its CPU time can be read on its own."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def cpu(self) -> float:
        assert self.thread.ident is not None
        return _thread_cpu(self.thread.ident)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def profile(requests: int = 4, max_tokens: int = 128, interval: float = 0.015, cprofile_top: int = 30) -> dict[str, Any]:
    """CPU time of the server's event-loop thread per streamed token, layer by layer, then a cProfile of it.

    A real LlamaCppBackend (its worker thread, its asyncio queue hop) drives a paced stand-in for
    llama.cpp; the layers, each measured on its own loop thread with the thread's CPU clock:

    1. backend: ``async for chunk in LlamaCppBackend.stream()``: the thread -> loop hop;
    2. router: ``async for ev in Router.stream()`` over it;
    3. app: the Starlette app called directly (ASGI, no socket): validation, middleware, SSE framing, JSON;
    4. http: the same app under uvicorn on 127.0.0.1, read with httpx from another thread (h11, sockets).
    """
    import asyncio
    import cProfile
    import io
    import pstats

    import uvicorn

    from llm_runner_router.core.config import Settings
    from llm_runner_router.core.store import MemoryStore
    from llm_runner_router.core.types import BackendRequest, ChatRequest, Deployment, Message
    from llm_runner_router.edge.app import create_app
    from llm_runner_router.edge.compose import build_state

    backend = LlamaCppBackend(Path("/nonexistent.gguf"))
    backend._llm = _PacedLlama(interval)  # noqa: SLF001 -- a stand-in for the loaded model
    settings = Settings.from_env(dict(SERVER_ENV), base=Settings.from_dict(default_settings(Path("/nonexistent.gguf"))))
    state = build_state(settings, backends={"local": backend}, store=MemoryStore(), monitor=False)
    app = create_app(state)
    prompt = PROMPTS[0]
    body = json.dumps(
        {
            "model": DEFAULT_MODEL_NAME,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
            "max_tokens": max_tokens,
        }
    ).encode()
    dep = Deployment(name="local-smollm2", provider="local", model=DEFAULT_MODEL_NAME)
    breq = BackendRequest(dep, [Message("user", prompt)], {"temperature": 0.0, "max_tokens": max_tokens}, "chat/completions")
    creq = ChatRequest(DEFAULT_MODEL_NAME, [Message("user", prompt)], {"temperature": 0.0, "max_tokens": max_tokens})

    async def via_backend() -> int:
        return sum([1 async for _ in backend.stream(breq)])

    async def via_router() -> int:
        return sum([1 async for _ in state.router.stream(creq)])

    async def via_app() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
            "state": {},
        }
        sent = 0
        delivered = False
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal sent
            if message["type"] == "http.response.body" and message.get("body"):
                sent += 1

        await app(scope, receive, send)
        return sent

    out: dict[str, Any] = {"requests": requests, "max_tokens": max_tokens, "token_interval_ms": interval * 1000, "layers_us_per_token": {}}
    loop = _LoopThread()
    try:
        for name, fn in (("backend", via_backend), ("router", via_router), ("app", via_app)):
            loop.run(fn())  # warm-up
            c0 = loop.cpu()
            for _ in range(requests):
                loop.run(fn())
            out["layers_us_per_token"][name] = round((loop.cpu() - c0) / (requests * max_tokens) * 1e6, 1)
    finally:
        loop.close()

    # 4. http: uvicorn in a thread of its own, profiled with cProfile in a second pass.
    from llm_runner_router.edge.testing.servers import free_port

    def serve(prof: Any, port: int) -> tuple[Any, threading.Thread]:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
        server = uvicorn.Server(config)

        def target() -> None:
            if prof is not None:
                prof.enable()
            try:
                server.run()
            finally:
                if prof is not None:
                    prof.disable()

        thread = threading.Thread(target=target, name="bench-uvicorn", daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        return server, thread

    def http_pass(prof: Any) -> tuple[float, float, int]:
        port = free_port()
        server, thread = serve(prof, port)
        side = HTTPSide(f"http://127.0.0.1:{port}")
        try:
            side.request(prompt, max_tokens, Sample("ours", 1, -1, 0, 0.0))  # warm-up
            assert thread.ident is not None
            c0, k0 = _thread_cpu(thread.ident), time.thread_time()
            tokens = 0
            for _ in range(requests):
                smp = Sample("ours", 1, 0, 0, 0.0)
                side.request(prompt, max_tokens, smp)
                tokens += smp.completion_tokens
            return _thread_cpu(thread.ident) - c0, time.thread_time() - k0, tokens
        finally:
            side.close()
            server.should_exit = True
            thread.join(timeout=30)

    loop_cpu, client_cpu, tokens = http_pass(None)
    out["layers_us_per_token"]["http"] = round(loop_cpu / tokens * 1e6, 1)
    out["client_us_per_token"] = round(client_cpu / tokens * 1e6, 1)
    lay = out["layers_us_per_token"]
    out["increments_us_per_token"] = {
        "thread->loop hop (LlamaCppBackend.stream: call_soon_threadsafe + asyncio.Queue)": lay["backend"],
        "llm_runner_router.core.router.Router.stream": round(lay["router"] - lay["backend"], 1),
        "Starlette app (routing, middleware, validation, SSE framing, json.dumps)": round(lay["app"] - lay["router"], 1),
        "uvicorn + h11 + socket writes": round(lay["http"] - lay["app"], 1),
    }

    prof = cProfile.Profile()
    _, _, ptokens = http_pass(prof)
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "select" in func or func == "<method 'poll' of 'select.epoll' objects>":
            continue
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}({func})" if file != "~" else func
        rows.append((tt, ct, nc, where))
    rows.sort(reverse=True)
    out["cprofile_top_tottime_us_per_token"] = [
        {
            "function": w,
            "tottime_us": round(tt / ptokens * 1e6, 2),
            "cumtime_us": round(ct / ptokens * 1e6, 2),
            "calls": round(nc / ptokens, 2),
        }
        for tt, ct, nc, w in rows[:cprofile_top]
    ]
    return out


def print_profile(res: dict[str, Any]) -> None:
    print(
        f"event-loop thread CPU per streamed token ({res['requests']} requests x {res['max_tokens']} tokens, "
        f"one token every {res['token_interval_ms']:.0f} ms from a real LlamaCppBackend's worker thread):"
    )
    for name, us in res["layers_us_per_token"].items():
        print(f"  up to {name:<8} {us:>8.1f} µs")
    print("increments:")
    for name, us in res["increments_us_per_token"].items():
        print(f"  {us:>8.1f} µs  {name}")
    print(f"HTTP client (httpx iter_lines + json.loads), same process: {res['client_us_per_token']:.1f} µs per token")
    print("cProfile of the uvicorn thread (profiler overhead inflates every figure; compare them to each other):")
    print(f"  {'tottime µs':>10} {'cumtime µs':>10} {'calls':>6}  function   (per token)")
    for row in res["cprofile_top_tottime_us_per_token"]:
        print(f"  {row['tottime_us']:>10.2f} {row['cumtime_us']:>10.2f} {row['calls']:>6.2f}  {row['function']}")


# --- main ------------------------------------------------------------------------------------------


def _shown_args(argv: Sequence[str]) -> list[str]:
    """The arguments that shaped the measurement: without where the output went (--out, --samples)."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "--samples"):
            skip = True
        elif not arg.startswith(("--out=", "--samples=")):
            shown.append(arg)
    return shown


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run (under ~3 minutes); JSON only")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--c1-requests", type=int)
    ap.add_argument("--c4-requests", type=int)
    ap.add_argument("--max-tokens", type=int)
    ap.add_argument(
        "--quiet-wait", type=float, help="before each pair of blocks, wait up to this many seconds for other processes to quiet down"
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="no model: CPU per token of the server's event loop, layer by layer, and a cProfile; print and exit",
    )
    ap.add_argument("--max-retries", type=int, help="run a pair of blocks again this many times at most when other processes were busy")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--samples", type=Path, help="also write every request's timings here (JSON)")
    ap.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=None, help="update docs/benchmarks.md (default: full runs only)"
    )
    args = ap.parse_args(argv)

    if args.profile:
        prof = profile()
        print_profile(prof)
        if args.samples:
            args.samples.write_text(json.dumps(prof, indent=1) + "\n", encoding="utf-8")
        return 0

    plan = dict(QUICK if args.quick else FULL)
    for key, val in (
        ("rounds", args.rounds),
        ("c1_requests", args.c1_requests),
        ("c4_requests", args.c4_requests),
        ("max_tokens", args.max_tokens),
        ("quiet_wait", args.quiet_wait),
        ("max_retries", args.max_retries),
    ):
        if val is not None:
            plan[key] = val
    print(
        f"[bench] {plan['rounds']} rounds x (c=1: {plan['c1_requests']} + c=4: {plan['c4_requests']} requests) per side, "
        f"max_tokens {plan['max_tokens']}, warm-up {plan['warmup']}",
        flush=True,
    )
    res = run(
        rounds=plan["rounds"],
        c1_requests=plan["c1_requests"],
        c4_requests=plan["c4_requests"],
        max_tokens=plan["max_tokens"],
        warmup=plan["warmup"],
        quiet_wait=plan["quiet_wait"],
        max_retries=int(plan["max_retries"]),
        retry_budget_s=plan["retry_budget_s"],
        progress=lambda msg: print(msg, flush=True),
    )
    command = "python -m bench.edge_throughput" + (" " + " ".join(_shown_args(argv)) if _shown_args(argv) else "")
    res["meta"]["mode"] = "quick" if args.quick else "full"
    res["meta"]["command"] = command
    samples = res.pop("_samples")
    print()
    print(table(res))
    print(f"completion tokens by prompt: {res['checks']['completion_tokens_by_prompt']}")
    print(f"finish reasons: {res['checks']['finish_reasons']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(public(res), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if args.samples:
        args.samples.write_text(json.dumps([asdict(s) for s in samples], indent=1) + "\n", encoding="utf-8")
    if args.docs if args.docs is not None else not args.quick:
        update_doc(doc_section(res, command))
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0 if res["checks"]["all_generated"] else 1


if __name__ == "__main__":
    sys.exit(main())
