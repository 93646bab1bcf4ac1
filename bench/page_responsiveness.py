"""Whether the page stays responsive while the model answers: the engine in a Web Worker, against the page's own thread.

    python -m bench.page_responsiveness [--quick] [--no-docs]

In headless Chromium (the e2e tests' launch), the <llm-chat> widget on the demo
page `/`, served by a real edge server on 127.0.0.1 but answering on this
device only (`?edge=0`): WASM, 2 threads, 128-token answers, no service
worker (`?offline=0`). Two modes in the same run, the same browser:

- ``main_thread`` (`?worker=0`): the engine on the page's thread, as it ran
  before the worker (the "before");
- ``worker`` (the default): the engine in its own Web Worker (the "after").

What the page sees, measured in the page (performance.now(), ms):

- answers: main-thread long tasks (PerformanceObserver ``longtask``: tasks
  over 50 ms) max and total, and the gaps between requestAnimationFrame
  callbacks (a rAF loop runs only while measuring) p50/p95/max, from Enter to
  the answer's end.
- decode tok/s = (tokens − 1) / (last − first piece): in answers of their own
  with the page idle (no rAF loop, no keys), which the worker must not slow by
  more than 5 %, and in the measured answers, where the page draws every
  frame: in the worker it does, sharing the CPUs with the engine (on the
  page's thread it cannot, and the engine has them).
- input to paint: during each answer a key is pressed (Playwright, a real key
  event into the widget's textarea) every KEY_EVERY_S (less often when the
  page's thread is busy: each press waits for the page to take it). From the
  keydown's timeStamp (when the browser got the key, so time queued behind a
  busy thread counts) to the rAF callback of the next frame after its handler
  ran (that frame's rendering follows in the same task), and, as the browser
  times it (Event Timing), to that frame's presentation, which in headless
  Chromium's software compositor adds a few frames whatever the page does.
  Not to a message posted after the frame: on the page's thread the engine's
  own tasks delay such a message by seconds, long after the paint.
- Stop: after STOP_AFTER pieces of an answer the Stop button is clicked (a real
  mouse click at its place); from the click's timeStamp to the widget's
  llm-done (the answer shown stopped, after its last token).
- pastes: a 31,523-character log (10.6k tokens, longer than every context
  window: refused before any work, LLM_RUNTIME_003_E) → Enter to the refusal;
  a 7k-token paste, which fits the 8192-token window and is read in chunks →
  read for at most a cap (reading it all takes minutes on 2 CPUs), then
  stopped; a short paste read to its first token. For each, the longest frame
  gap from Enter to the refusal, the first token or the cap
  (``long_paste_freeze_ms``: the longest of them, in the worker).

The top-level figures are the worker's (the product's default); ``modes`` has
both. Other processes' share of the CPUs while each mode ran is recorded
(``foreign_cpu_share``): on a busy machine frames are late in both modes.

Writes bench/results/page_responsiveness.json, docs/img/page_responsiveness.svg
and a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _docs, harness
from e2e.browser import CHROMIUM, launch
from llm_runner_router.edge.testing.servers import ProcessServer

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "page_responsiveness.json"
PLOT = ROOT / "docs" / "img" / "page_responsiveness.svg"
DOC_START, DOC_END = "<!-- page_responsiveness:start -->", "<!-- page_responsiveness:end -->"
MODES = {"main_thread": "worker=0", "worker": "worker=1"}
PAGE_QUERY = "offline=0&engines=wasm&threads=2&edge=0&max_tokens=128"
LOAD_TIMEOUT_MS = 300_000
ANSWER_TIMEOUT_S = 300.0

TARGETS = {
    "longtask_max_ms": 50.0,
    "frame_gap_p95_ms": 33.0,
    "stop_latency_ms": 200.0,
    "long_paste_freeze_ms": 100.0,
    "worker_decode_cost_pct": 5.0,
}

PROMPT = "Write a long story about a lighthouse keeper."
STOP_PROMPT = "Tell me about the history of lighthouses."
STOP_AFTER = 6  # pieces of the answer before Stop: well into decoding
KEY = "a"
KEY_EVERY_S = 0.3

# The paste that froze the tab (e2e/test_long_prompts.py builds the same): 31,523 characters, 10.6k tokens.
REFUSED_PASTE = " ".join(
    f"Entry {i}: the keeper logged the ship Aurora-{i * 7 % 13} passing the light at {i % 24:02d}:{i * 11 % 60:02d}, wind {i % 9} knots."
    for i in range(2000)
)[:31_523]
SENTENCE = "The lighthouse keeper wrote in his log that the sea was calm and the ships were late. "
LONG_PASTE = SENTENCE * 390 + "Summarise the log."  # about 7,000 tokens: fits the 8192 window


@dataclass(frozen=True)
class Plan:
    rounds: int  # each round loads the page once per mode, the modes' order reversed every round
    answers: int  # per mode and round
    decode_runs: int  # per mode and round: answers with the page idle, for the decode speed alone
    stops: int  # per mode and round
    long_paste_cap_s: float  # how long the 7k-token paste is read before Stop
    short_paste_sentences: int  # the paste read to its first token (18 tokens a sentence)


QUICK = Plan(rounds=1, answers=1, decode_runs=2, stops=3, long_paste_cap_s=10.0, short_paste_sentences=12)
FULL = Plan(rounds=2, answers=3, decode_runs=3, stops=4, long_paste_cap_s=60.0, short_paste_sentences=50)

# Installed before the page's own scripts. The long-task observer runs from the
# start; the rAF loop only between start() and the collection, so the page
# draws frames only while measuring (a page with nothing animating draws none).
INSTRUMENT = r"""
(() => {
  if (window.__bench) return;
  const b = (window.__bench = { running: false, longtaskSupported: true, longtasks: [], frames: [], keys: [], clicks: [], from: 0 });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    b.longtaskSupported = false;
  }
  // Input → next paint as the browser times it (Event Timing), for keys; it reports only events of 16 ms or more.
  b.eventTimings = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.name === 'keydown') b.eventTimings.push([e.startTime, e.duration]);
    }).observe({ type: 'event', durationThreshold: 16, buffered: true });
  } catch {}
  const tick = (t) => {
    if (!b.running) return;
    b.frames.push(t);
    requestAnimationFrame(tick);
  };
  // frames = false: only marks where the answer's events start (a decode-speed run, the page left idle).
  b.start = (frames = true) => {
    Object.assign(b, { frames: [], keys: [], clicks: [], from: window.__log.length, startedAt: performance.now() });
    if (frames && !b.running) {
      b.running = true;
      requestAnimationFrame(tick);
    }
  };
  // Capture on window: the first listener to see a key or click meant for the widget's shadow root.
  addEventListener('keydown', (ev) => {
    if (!b.running) return;
    const key = { key: ev.key, down: ev.timeStamp, handled: performance.now() };
    b.keys.push(key);
    // The frame that paints the key's effect: its rendering follows this callback in the same task.
    requestAnimationFrame(() => (key.frame = performance.now()));
  }, true);
  addEventListener('click', (ev) => {
    const target = ev.composedPath()[0];
    if (b.running) b.clicks.push({ at: ev.timeStamp, handled: performance.now(), target: target.className || target.nodeName });
  }, true);
})();
"""

STATE = """() => {
  const log = window.__log.slice(window.__bench.from);
  const prefill = log.filter((e) => e.type === 'llm-prefill').at(-1);
  return {
    deltas: log.filter((e) => e.type === 'llm-delta').length,
    done: log.some((e) => e.type === 'llm-done'),
    read: prefill ? prefill.detail.read : null,
  };
}"""

COLLECT = """() => {
  const b = window.__bench;
  b.running = false;
  const log = window.__log.slice(b.from).map((e) => {
    const out = { type: e.type, t: e.t };
    if (e.type === 'llm-done') out.detail = e.detail;
    if (e.type === 'llm-prefill') Object.assign(out, { read: e.detail.read, total: e.detail.total });
    return out;
  });
  return {
    startedAt: b.startedAt, frames: b.frames, keys: b.keys, clicks: b.clicks, log,
    eventTimings: b.eventTimings.filter(([start]) => start >= b.startedAt),
    longtasks: b.longtasks.filter(([start, duration]) => start + duration > b.startedAt),
    longtaskSupported: b.longtaskSupported,
  };
}"""

# --- figures from one measured window ------------------------------------------------------


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def frame_gaps(frames: Sequence[float], t0: float, t1: float) -> list[float]:
    """Gaps between consecutive rAF callbacks that overlap [t0, t1]: a freeze across either end still counts."""
    return [b - a for a, b in zip(frames, frames[1:], strict=False) if b > t0 and a < t1]


def gap_series(frames: Sequence[float], t0: float, t1: float) -> list[tuple[float, float]]:
    """(seconds since t0, gap ms) for the plot."""
    return [((b - t0) / 1000, b - a) for a, b in zip(frames, frames[1:], strict=False) if b > t0 and a < t1]


def longtasks_in(tasks: Iterable[Sequence[float]], t0: float, t1: float) -> list[float]:
    return [d for s, d in tasks if s < t1 and s + d > t0]


def pct(values: Sequence[float], q: float) -> float | None:
    return round(harness.percentile(values, q), 1) if values else None


def maximum(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(max(vals), 1) if vals else None


def presented(key: dict[str, Any], timings: Sequence[Sequence[float]]) -> float:
    """A keypress's input → presentation of the next frame, as the browser's Event Timing says (8 ms steps);
    a key it did not report took under its 16 ms threshold, and counts as 16 ms."""
    for start, duration in timings:
        if abs(start - key["down"]) < 0.5:  # the entry's startTime is the event's timeStamp
            return float(duration)
    return 16.0


def _refused_tokens(error: dict[str, Any] | None) -> int | None:
    """The prompt's length that the refusal names ("the prompt has 10864 tokens; …")."""
    found = re.search(r"has (\d+) tokens", (error or {}).get("message") or "")
    return int(found.group(1)) if found else None


def _events(got: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in got["log"] if e["type"] == kind]


def _done(got: dict[str, Any]) -> dict[str, Any]:
    done = _events(got, "llm-done")
    if not done:
        raise RuntimeError(f"the answer did not end: {got['log'][-3:]}")
    return done[-1]


def _tokens(done: dict[str, Any], deltas: Sequence[dict[str, Any]]) -> int:
    return int((done.get("usage") or {}).get("completion_tokens") or len(deltas))


def _decode_tok_s(done: dict[str, Any], deltas: Sequence[dict[str, Any]]) -> float | None:
    """(tokens − 1) / (last − first piece): the pieces as the page gets them, the count as the engine's usage says."""
    tokens, span = _tokens(done, deltas), deltas[-1]["t"] - deltas[0]["t"]
    return _r((tokens - 1) * 1000 / span, 2) if span > 0 and tokens > 1 else None


def _enter_at(got: dict[str, Any]) -> float:
    """When the browser got the Enter that sent the message (its keydown's timeStamp)."""
    enters = [k["down"] for k in got["keys"] if k["key"] == "Enter"]
    if not enters:
        raise RuntimeError("no Enter reached the page")
    return float(enters[0])


# --- one page, one mode --------------------------------------------------------------------


class ChatPage:
    """The demo page `/` in one mode, driven through the widget's own textarea, Enter and Stop."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        page.goto(url)
        page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)
        self.info: dict[str, Any] = page.evaluate(
            """() => {
              const rt = window.__chat.runtime;
              const wasm = rt.engines.wasm;
              // Long tasks from navigation to ready: Pyodide's boot and the core's imports run on the page's thread.
              const ready = window.__log.find((e) => e.type === 'llm-ready');
              const boot = window.__bench.longtasks.filter(([start]) => !ready || start < ready.t).map(([, d]) => d);
              return { engine: rt.engine, threads: rt.plan.threads, crossOriginIsolated,
                       engineClass: wasm && wasm._engine ? wasm._engine.constructor.name : null,
                       readyMs: ready ? ready.t : null, bootLongtasksMs: boot };
            }"""
        )
        stop = page.locator("llm-chat button.stop")
        stop.scroll_into_view_if_needed()  # the widget is below the page's text: out of a 720-pixel view
        box = stop.bounding_box()
        # Clicked by position, not by locator: a locator click first waits for the page to be idle.
        self.stop_xy = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        self.box = page.locator("llm-chat textarea")

    def send(self, text: str, frames: bool = True) -> None:
        """Starts measuring (frames, keys and clicks only with ``frames``), then sends the text as a user would: in the box, Enter."""
        # A new conversation each time: the prompt is the text alone, not every earlier turn with it.
        self.page.evaluate("window.__chat.clear()")
        self.box.fill(text)
        self.page.evaluate("(frames) => window.__bench.start(frames)", frames)
        self.page.keyboard.press("Enter")

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.page.evaluate(STATE)
        return state

    def wait(self, pieces: int | None = None, timeout_s: float = ANSWER_TIMEOUT_S, keys: bool = False) -> dict[str, Any]:
        """Polls until the answer is done, or has ``pieces`` pieces, or the timeout; with ``keys``, a key pressed every KEY_EVERY_S."""
        deadline = time.monotonic() + timeout_s
        next_key = time.monotonic() + KEY_EVERY_S
        while True:
            st = self.state()
            if st["done"] or (pieces is not None and st["deltas"] >= pieces):
                return st
            if time.monotonic() > deadline:
                return st
            if keys and st["deltas"] > 0 and time.monotonic() >= next_key:
                self.page.keyboard.press(KEY)
                next_key = time.monotonic() + KEY_EVERY_S
            time.sleep(0.02)

    def stop(self) -> None:
        self.page.mouse.click(*self.stop_xy)

    def collect(self) -> dict[str, Any]:
        # A last key's paint and the observer's last entries come a moment after the answer's end.
        time.sleep(0.3)
        got: dict[str, Any] = self.page.evaluate(COLLECT)
        return got

    # --- the measurements ---

    def answer(self) -> tuple[dict[str, Any], list[tuple[float, float]]]:
        """One 128-token answer with keys pressed during it: frames, long tasks, input to paint, decode speed."""
        self.send(PROMPT)
        self.wait(keys=True)
        got = self.collect()
        done = _done(got)
        t0, t1 = _enter_at(got), done["t"]
        deltas = _events(got, "llm-delta")
        detail = done["detail"]
        if not (detail["complete"] and detail["deployment"] == "local-wasm" and deltas):
            raise RuntimeError(f"the answer was not made here: {detail}")
        gaps = frame_gaps(got["frames"], t0, t1)
        tasks = longtasks_in(got["longtasks"], t0, t1)
        keys = [k for k in got["keys"] if k["key"] == KEY and "frame" in k and t0 < k["down"] < t1]
        return {
            "tokens": _tokens(detail, deltas),
            "decode_tok_s": _decode_tok_s(detail, deltas),
            "ttft_ms": _r(deltas[0]["t"] - t0),
            "answer_ms": _r(t1 - t0),
            "frames": len(gaps),
            "frame_gaps_ms": [round(g, 1) for g in gaps],
            "longtasks_ms": [round(d, 1) for d in tasks],
            "input_to_paint_ms": [round(k["frame"] - k["down"], 1) for k in keys],
            "input_to_presented_ms": [presented(k, got["eventTimings"]) for k in keys],
            "input_delay_ms": [round(k["handled"] - k["down"], 1) for k in keys],
        }, gap_series(got["frames"], t0, t1)

    def decode_run(self) -> float | None:
        """One 128-token answer with the page left idle (no rAF loop, no keys): the engine's decode speed, tok/s."""
        self.send(PROMPT, frames=False)
        self.wait()
        got = self.collect()
        detail = _done(got)["detail"]
        deltas = _events(got, "llm-delta")
        if not (detail["complete"] and detail["deployment"] == "local-wasm" and deltas):
            raise RuntimeError(f"the answer was not made here: {detail}")
        return _decode_tok_s(detail, deltas)

    def stop_run(self) -> dict[str, Any]:
        """Stop clicked after STOP_AFTER pieces: click → the answer shown stopped."""
        self.send(STOP_PROMPT)
        st = self.wait(STOP_AFTER)
        if st["done"]:
            raise RuntimeError(f"the answer ended before {STOP_AFTER} pieces: nothing to stop")
        self.stop()
        self.wait()
        got = self.collect()
        done = _done(got)
        if not got["clicks"] or got["clicks"][-1]["target"] != "stop":
            raise RuntimeError(f"the click missed the Stop button: {got['clicks']}")
        if done["detail"]["finish_reason"] != "abort" or done["detail"]["error"]:
            raise RuntimeError(f"Stop did not stop the answer: {done['detail']}")
        clicked = got["clicks"][-1]["at"]
        after = [e["t"] for e in _events(got, "llm-delta") if e["t"] > clicked]
        return {
            "stop_latency_ms": _r(done["t"] - clicked),
            "click_handled_ms": _r(got["clicks"][-1]["handled"] - clicked),  # the click's wait for the page's thread
            "pieces_after_stop": len(after),
            "last_piece_after_stop_ms": _r(after[-1] - clicked) if after else None,
        }

    def paste(self, text: str, cap_s: float) -> tuple[dict[str, Any], list[tuple[float, float]]]:
        """A long paste sent with Enter: refused, or read until its first token or the cap (then stopped)."""
        self.send(text)
        if not self.wait(1, timeout_s=cap_s)["done"]:
            self.stop()
            self.wait()
        got = self.collect()
        done = _done(got)
        t0 = _enter_at(got)
        deltas = _events(got, "llm-delta")
        prefill = _events(got, "llm-prefill")
        error = done["detail"]["error"]
        refused = bool(error and error["code"] == "LLM_RUNTIME_003_E")
        if error and not refused:
            raise RuntimeError(f"the paste failed: {error}")
        stopped_at = got["clicks"][-1]["at"] if got["clicks"] else None
        capped = not refused and not deltas
        end = done["t"] if refused else deltas[0]["t"] if deltas else stopped_at
        if end is None:
            raise RuntimeError(f"the paste neither was refused nor answered nor stopped: {done['detail']}")
        gaps = frame_gaps(got["frames"], t0, end)
        total = prefill[-1]["total"] if prefill else None
        read = prefill[-1]["read"] if prefill else None
        return {
            "chars": len(text),
            "tokens": total or _refused_tokens(error),
            "outcome": "refused" if refused else "first token" if deltas else f"stopped after {cap_s:.0f} s",
            "to_refusal_or_first_token_ms": None if capped else _r(end - t0),
            "read_tokens": read,
            "read_tok_s": _r(read * 1000 / (end - t0), 1) if read and not refused else None,
            "frame_gap_max_ms": maximum(gaps),
            "frame_gap_p95_ms": pct(gaps, 95),
            "longtask_max_ms": maximum(longtasks_in(got["longtasks"], t0, end)),
            "stop_latency_ms": _r(done["t"] - stopped_at) if capped and stopped_at is not None else None,
        }, gap_series(got["frames"], t0, end)


# --- a run -------------------------------------------------------------------------------------


def measure_mode(ctx: Any, server: ProcessServer, mode: str, plan: Plan, pastes: bool) -> dict[str, Any]:
    """One page load in ``mode``: a warm-up, Stops, answers, then the pastes."""
    page = ctx.new_page()
    for old in ctx.pages:
        if old is not page:
            old.close()  # once the new one is open: the context is never left without a page
    chat = ChatPage(page, f"{server.url}/?{PAGE_QUERY}&{MODES[mode]}")
    # Ours: the server and the browser, counted from here: the last mode's renderer, closed above, has exited
    # by now (a process that exits during the block would take its CPU time out of ours and into the others').
    others, ours0 = harness.OtherLoad(), harness.tree_cpu_s(os.getpid())
    if chat.info["engine"] != "wasm" or chat.info["threads"] != 2 or not chat.info["crossOriginIsolated"]:
        raise RuntimeError(f"not the setting measured (WASM, 2 threads, isolated): {chat.info}")
    if (chat.info["engineClass"] == "WorkerEngine") != (mode == "worker"):
        raise RuntimeError(f"{mode}: the engine is a {chat.info['engineClass']}")
    out: dict[str, Any] = {"stops": [], "decode_tok_s": [], "answers": [], "pastes": {}, "series": {}}
    chat.stop_run()  # a warm-up, not counted: the first answer after loading is slower to start and to stop
    for i in range(plan.stops):
        out["stops"].append(chat.stop_run())
        print(f"  {mode} stop {i + 1}/{plan.stops}: {out['stops'][-1]}", file=sys.stderr)
    for i in range(plan.decode_runs):
        out["decode_tok_s"].append(chat.decode_run())
        print(f"  {mode} decode {i + 1}/{plan.decode_runs} (page idle): {out['decode_tok_s'][-1]} tok/s", file=sys.stderr)
    for i in range(plan.answers):
        answer, series = chat.answer()
        out["series"].setdefault("answer", series)
        out["answers"].append(answer)
        print(
            f"  {mode} answer {i + 1}/{plan.answers}: {answer['tokens']} tokens, {answer['decode_tok_s']} tok/s, "
            f"gap max {max(answer['frame_gaps_ms'], default=None)} ms, long tasks {len(answer['longtasks_ms'])}",
            file=sys.stderr,
        )
    if pastes:
        short = SENTENCE * plan.short_paste_sentences + "Summarise the log."
        for name, text, cap in (
            ("refused", REFUSED_PASTE, ANSWER_TIMEOUT_S),
            ("long", LONG_PASTE, plan.long_paste_cap_s),
            ("short", short, ANSWER_TIMEOUT_S),
        ):
            out["pastes"][name], out["series"][name] = chat.paste(text, cap)
            print(f"  {mode} paste {name}: {out['pastes'][name]}", file=sys.stderr)
    out["foreign_cpu_share"] = others.stop(harness.tree_cpu_s(os.getpid()) - ours0)
    out["info"] = chat.info
    return out


def summarize(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One mode's figures over its page loads."""
    answers = [a for p in parts for a in p["answers"]]
    stops = [s for p in parts for s in p["stops"]]
    pastes: dict[str, dict[str, Any]] = next((p["pastes"] for p in parts if p["pastes"]), {})
    gaps = [g for a in answers for g in a["frame_gaps_ms"]]
    keys = [k for a in answers for k in a["input_to_paint_ms"]]
    shown = [k for a in answers for k in a["input_to_presented_ms"]]
    stop_ms = [s["stop_latency_ms"] for s in stops]
    return {
        "answers": len(answers),
        "longtask_max_ms": maximum([max(a["longtasks_ms"], default=0.0) for a in answers]),
        "longtask_total_ms_per_answer": harness.median([sum(a["longtasks_ms"]) for a in answers]),
        "longtasks_per_answer": harness.median([len(a["longtasks_ms"]) for a in answers]),
        "frame_gap_p50_ms": pct(gaps, 50),
        "frame_gap_p95_ms": pct(gaps, 95),
        "frame_gap_max_ms": maximum(gaps),
        "frames": len(gaps),
        "input_to_paint_p50_ms": pct(keys, 50),
        "input_to_paint_p95_ms": pct(keys, 95),
        "input_to_paint_max_ms": maximum(keys),
        "input_to_presented_p50_ms": pct(shown, 50),
        "input_to_presented_p95_ms": pct(shown, 95),
        "input_delay_p95_ms": pct([d for a in answers for d in a["input_delay_ms"]], 95),  # keydown → its handler
        "keys": len(keys),
        "decode_tok_s": harness.median([t for p in parts for t in p["decode_tok_s"]]),
        "decode_tok_s_painting": harness.median([a["decode_tok_s"] for a in answers]),
        "ttft_ms": harness.median([a["ttft_ms"] for a in answers]),
        "stop_latency_ms": harness.median(stop_ms),
        "stop_latency_max_ms": maximum(stop_ms),
        "stops": len(stops),
        "long_paste_freeze_ms": maximum([p["frame_gap_max_ms"] for p in pastes.values()]),
        "pastes": pastes,
        "foreign_cpu_share": [p["foreign_cpu_share"] for p in parts],
        # Per answer, without the raw gaps (the pooled percentiles above have them).
        "answer_samples": [
            {k: v for k, v in a.items() if k != "frame_gaps_ms"} | {"frame_gap_max_ms": maximum(a["frame_gaps_ms"])} for a in answers
        ],
        "stop_samples": stops,
        # Page load → ready (no target: the targets are for answers and pastes). What is
        # left on the page's thread while it boots: Pyodide, the wheels, the core's imports.
        "boot_ready_ms": harness.median([p["info"]["readyMs"] for p in parts]),
        "boot_longtask_max_ms": maximum([max(p["info"]["bootLongtasksMs"], default=0.0) for p in parts]),
        "boot_longtask_total_ms": harness.median([sum(p["info"]["bootLongtasksMs"]) for p in parts]),
    }


def run(plan: Plan) -> tuple[dict[str, Any], dict[str, dict[str, list[tuple[float, float]]]]]:
    from playwright.sync_api import sync_playwright

    parts: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    data = tempfile.mkdtemp(prefix="bench-responsiveness-")
    server = ProcessServer(["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": data})
    with sync_playwright() as pw, server, launch(pw) as ctx:
        ctx.add_init_script(INSTRUMENT)
        for rnd in range(plan.rounds):
            # The order alternates, so a machine getting busier or quieter does not favour one mode.
            for mode in list(MODES) if rnd % 2 == 0 else list(MODES)[::-1]:
                print(f"round {rnd + 1}/{plan.rounds}: {mode}", file=sys.stderr)
                part = measure_mode(ctx, server, mode, plan, pastes=rnd == 0)
                series.setdefault(mode, part.pop("series"))
                parts[mode].append(part)
    modes = {mode: summarize(ps) for mode, ps in parts.items()}
    for mode, ps in parts.items():
        modes[mode]["info"] = ps[0]["info"]
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return {"modes": modes, "chromium": version}, series


def headline(modes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The top-level figures (the worker's), the decode cost, and each target met or not."""
    after, before = modes["worker"], modes["main_thread"]
    tok_w, tok_m = after["decode_tok_s"], before["decode_tok_s"]
    figures: dict[str, Any] = {
        "longtask_max_ms": after["longtask_max_ms"],
        "frame_gap_p95_ms": after["frame_gap_p95_ms"],
        "stop_latency_ms": after["stop_latency_ms"],
        "long_paste_freeze_ms": after["long_paste_freeze_ms"],
        "input_to_paint_p95_ms": after["input_to_paint_p95_ms"],
        "input_to_presented_p95_ms": after["input_to_presented_p95_ms"],
        "decode_tok_s": {"worker": tok_w, "main_thread": tok_m},
        # Positive: the worker decodes slower than the page's thread did.
        "worker_decode_cost_pct": round(100 * (1 - tok_w / tok_m), 1) if tok_w and tok_m else None,
        # During the measured answers, the page drawing every frame: in the worker it does, and shares the CPUs.
        "decode_tok_s_painting": {"worker": after["decode_tok_s_painting"], "main_thread": before["decode_tok_s_painting"]},
    }
    met = {k: figures[k] is not None and figures[k] <= target for k, target in TARGETS.items()}
    return {**figures, "targets": TARGETS, "met": met}


# --- the docs ----------------------------------------------------------------------------------


def _f(x: Any, digits: int = 0) -> str:
    if x is None:
        return "–"
    if isinstance(x, float | int):
        return f"{x:,.{digits}f}"
    return str(x)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render(result: dict[str, Any], plotted: Path | None) -> str:
    m, w = result["modes"]["main_thread"], result["modes"]["worker"]
    met = result["met"]

    def row(label: str, key: str, target: str = "", met_key: str | None = None, digits: int = 0) -> str:
        ok = "" if met_key is None else ("met" if met[met_key] else "**not met**")
        return f"| {label} | {_f(m[key], digits)} | {_f(w[key], digits)} | {target} | {ok} |"

    mp, wp = m["pastes"], w["pastes"]

    def paste_row(label: str, name: str, key: str, digits: int = 0) -> str:
        return f"| {label} | {_f(mp.get(name, {}).get(key), digits)} | {_f(wp.get(name, {}).get(key), digits)} | | |"

    long = wp.get("long", {})
    short = wp.get("short", {})
    cost = result["worker_decode_cost_pct"]
    load = result["load"]
    rows = [
        row("long task max, during an answer (ms)", "longtask_max_ms", "≤ 50", "longtask_max_ms"),
        row("long tasks per answer (total ms)", "longtask_total_ms_per_answer"),
        row("frame gap p50 (ms)", "frame_gap_p50_ms", digits=1),
        row("frame gap p95 (ms)", "frame_gap_p95_ms", "≤ 33", "frame_gap_p95_ms", digits=1),
        row("frame gap max (ms)", "frame_gap_max_ms"),
        row("keypress → its frame p50 (ms)", "input_to_paint_p50_ms", digits=1),
        row("keypress → its frame p95 (ms)", "input_to_paint_p95_ms", digits=1),
        row("keypress → its frame max (ms)", "input_to_paint_max_ms"),
        row("Stop → answer ended, median (ms)", "stop_latency_ms", "≤ 200", "stop_latency_ms"),
        row("Stop → answer ended, max (ms)", "stop_latency_max_ms"),
        f"| decode tok/s, the page idle | {_f(m['decode_tok_s'], 1)} | {_f(w['decode_tok_s'], 1)} | worker ≥ 95 % | "
        + ("met" if met["worker_decode_cost_pct"] else "**not met**")
        + ("" if cost is None else f" (worker {abs(cost):.1f} % {'slower' if cost > 0 else 'faster'})")
        + " |",
        row("decode tok/s, the page drawing every frame (the answers above)", "decode_tok_s_painting", digits=1),
        paste_row(f"{len(REFUSED_PASTE):,}-char paste: Enter → refusal (ms)", "refused", "to_refusal_or_first_token_ms"),
        paste_row(f"{len(REFUSED_PASTE):,}-char paste: longest frame gap (ms)", "refused", "frame_gap_max_ms"),
        paste_row(
            f"{_f(long.get('tokens'))}-token paste: tokens read in {result['plan']['long_paste_cap_s']:.0f} s", "long", "read_tokens"
        ),
        paste_row(f"{_f(long.get('tokens'))}-token paste: longest frame gap while read (ms)", "long", "frame_gap_max_ms"),
        paste_row(f"{_f(long.get('tokens'))}-token paste: Stop while read → ended (ms)", "long", "stop_latency_ms"),
        paste_row(f"{_f(short.get('tokens'))}-token paste: Enter → first token (ms)", "short", "to_refusal_or_first_token_ms"),
        paste_row(f"{_f(short.get('tokens'))}-token paste: longest frame gap (ms)", "short", "frame_gap_max_ms"),
        row("long-paste freeze: longest frame gap over the pastes (ms)", "long_paste_freeze_ms", "≤ 100", "long_paste_freeze_ms"),
        row("boot: page load → ready (ms)", "boot_ready_ms"),
        row("boot: long task max, load → ready (Pyodide on the page's thread) (ms)", "boot_longtask_max_ms"),
        row("boot: long tasks total, load → ready (ms)", "boot_longtask_total_ms"),
    ]
    missed = [k for k, ok in met.items() if not ok]
    foreign = {mode: max(result["modes"][mode]["foreign_cpu_share"], default=0.0) for mode in ("main_thread", "worker")}
    return "\n".join(
        [
            DOC_START,
            "### Page responsiveness (engine in a Web Worker)",
            "",
            f"`{result['command']}` — headless Chromium ({result['chromium']}), the `<llm-chat>` widget on `/` answering on this "
            f"device (`?{PAGE_QUERY}`), WASM, 2 threads, 128-token answers. The same run, the same browser: "
            "**main thread** (`?worker=0`: the engine on the page's thread, as before) and **worker** (the default: the "
            f"engine in a Web Worker, web/lib/engine/worker.js). Per mode: {_n(w['answers'], 'measured answer')}, "
            f"{_n(result['plan']['decode_runs'] * result['plan']['rounds'], 'answer')} with the page idle, {_n(w['stops'], 'Stop')}, "
            f"{_n(result['plan']['rounds'], 'page load')}"
            + (", the modes' order alternating." if result["plan"]["rounds"] > 1 else "; the main thread first."),
            "",
            "| measured | main thread | worker | target | |",
            "|---|---:|---:|---|---|",
            *rows,
            "",
            "Measured in the page: long tasks with a `longtask` PerformanceObserver, frames with a requestAnimationFrame "
            "loop (gaps between its callbacks; 16.7 ms at 60 Hz), both from Enter to the answer's end. Keypress → paint: "
            f"a real key into the widget's box every {KEY_EVERY_S} s while the answer streams, from the keydown's timeStamp "
            "(time queued behind a busy thread counts) to the rAF callback of the next frame after its handler ran (the frame "
            "that paints it). The JSON also has the browser's own Event Timing, to that frame's presentation "
            "(`input_to_presented_*`), left out here: in headless Chromium's software compositor presentation adds a few "
            "frames whatever the page does. Stop: a real "
            f"click on Stop after {STOP_AFTER} pieces of the answer, from the click's timeStamp to the widget's `llm-done`. "
            "Decode tok/s = (tokens − 1) / (last − first piece), as the page receives them: with the page idle (answers of "
            "their own: no rAF loop, no keys) and during the answers above, where the page draws every frame (on the page's "
            "thread it cannot, and the engine gets the CPUs). Pastes go in the box and are "
            "sent with Enter: the 31,523-character log is longer than every context window and is refused before any "
            "work (`LLM_RUNTIME_003_E`); the 7k-token paste fits the 8192 window and is read in chunks, for at most "
            f"{result['plan']['long_paste_cap_s']:.0f} s here (all of it takes minutes on 2 CPUs), then stopped; the short "
            "one is read to its first token. Long-paste freeze: the longest frame gap from Enter to the refusal, the first "
            "token or the cap, over the three pastes.",
            "",
            *([f"![frame gaps during an answer and a long paste, main thread and worker](img/{plotted.name})", ""] if plotted else []),
            f"Targets missed: {', '.join(missed)}." if missed else "All targets met.",
            "",
            f"{result['date']}, {os.cpu_count()} cores, load average {_f(load['start'][0] if load['start'] else None, 2)} at the start "
            f"and {_f(load['end'][0] if load['end'] else None, 2)} at the end; other processes took up to "
            f"{_f(100 * foreign['main_thread'], 0)} % of the CPUs while the main-thread mode ran and {_f(100 * foreign['worker'], 0)} % "
            "while the worker ran (`foreign_cpu_share`; on a busy machine frames are late in both modes and the decode speeds "
            f"compare only when both are low); {result['seconds']:.0f} s. Raw numbers in "
            "[bench/results/page_responsiveness.json](../bench/results/page_responsiveness.json).",
            DOC_END,
        ]
    )


def plot(series: dict[str, dict[str, list[tuple[float, float]]]], path: Path = PLOT) -> Path | None:
    """Frame gaps over time, main thread and worker: during an answer, and while the 7k-token paste is read."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    matplotlib.rcParams["svg.hashsalt"] = "page_responsiveness"
    panels = [("answer", "during a 128-token answer", 33.0), ("long", "while a 7k-token paste is read", 100.0)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    labels = {"main_thread": "main thread (before)", "worker": "worker (after)"}
    for ax, (key, title, target) in zip(axes, panels, strict=True):
        for mode, color in (("main_thread", "tab:red"), ("worker", "tab:blue")):
            pts = series.get(mode, {}).get(key, [])
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.8, color=color, label=labels[mode])
        ax.axhline(target, color="grey", ls="--", lw=0.8, label=f"target {target:.0f} ms")
        ax.set_yscale("log")
        top = max([p[1] for m in series.values() for p in m.get(key, [])] + [target])
        ticks = [t for t in (16.7, 33, 50, 100, 200, 500, 1000, 2000, 5000) if t <= top * 1.5]
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("seconds since Enter")
        ax.set_ylabel("gap between frames, ms")
        ax.set_title(f"frame gaps {title}", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=path.suffix.lstrip(".") or "svg", metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one page load per mode, 1 answer, 3 Stops, short paste caps (under 4 minutes)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--docs", action=argparse.BooleanOptionalAction, default=True, help="write the plot and the docs section")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    load_start = harness.load_averages()
    measured, series = run(plan)
    modes = measured["modes"]
    result = {
        "benchmark": "page_responsiveness",
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        **headline(modes),
        "modes": modes,
        "load": {"start": load_start, "end": harness.load_averages()},
        "machine": harness.machine(),
        "chromium": measured["chromium"],
        "plan": plan.__dict__,
        "seconds": round(time.monotonic() - started, 1),
        "command": "python -m bench.page_responsiveness" + (" --quick" if args.quick else ""),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    plotted = plot(series) if args.docs else None
    section = render(result, plotted)
    if args.docs:
        _docs.update_section(section, DOC_START, DOC_END)
    print(section)
    missed = [k for k, ok in result["met"].items() if not ok]
    print(f"targets missed: {', '.join(missed)}" if missed else "all targets met", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
