"""Chaos through the browser path: local engine failures and edge faults, at random, in Chromium.

    python -m bench.reliability_browser [--quick]

The <llm-chat> widget on routing.html, the real WASM engine, the router in
Pyodide and the real edge server (llama.cpp, the same model). Before each
question, at random:

- the local engine fails after a few pieces of its answer with one of the
  coded failures a device has (web/lib/faults.js, re-armed per question);
- the edge's answer is broken on the way to the page (Playwright intercepts
  /v1/chat/completions): a coded 503, a reset connection, or a stream cut
  before its end.

Checked for every question: it ends (never a hang); an answer marked complete
has the whole text, and where the edge continued the local engine's text,
what it sent is exactly the server's answer to that same continuation
request, sent again (so nothing repeated, nothing lost); an answer that
could not finish says so with an LLM_ code.

Writes bench/results/reliability_browser.json (a quick run: .cache/reliability/);
bench/reliability.py runs it as its "browser" part and puts render()'s section in
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import _reliability as rel
from bench import harness
from e2e.browser import launch
from llm_runner_router.edge.testing.servers import ProcessServer

ROOT = Path(__file__).resolve().parent.parent

COMMAND = "python -m bench.reliability_browser"
LOCAL_FAULTS = ["LLM_WASM_003_E", "LLM_WEBGPU_003_E", "LLM_WEBGPU_002_E", "LLM_ONNX_003_E"]
EDGE_FAULTS = ["unavailable", "reset", "cut"]
# Below the breaker's failure-rate threshold (0.5): most questions still start on the
# local engine, so most local failures are mid-answer moves rather than skipped engines.
LOCAL_FAULT_RATE = 0.35
EDGE_FAULT_RATE = 0.25
PROMPTS = ["Write one sentence about the sea.", "Name three colours.", "What is the capital of France?", "Say hello to a friend."]
MAX_TOKENS = 24
ANSWER_TIMEOUT_MS = 120_000

ASK = """async ([prompt, local]) => {
  const chat = window.__chat;
  const engine = chat.runtime.engines.wasm;
  engine.arm(local ? { after: local.after, code: local.code, times: 1 } : { times: 0 });
  const from = window.__log.length;
  chat.clear();
  const done = await chat.send(prompt);
  const log = window.__log.slice(from);
  const bubble = chat.shadowRoot.querySelector('.msg.assistant');
  let shown = '';
  if (bubble) { const c = bubble.cloneNode(true); c.querySelectorAll('.incomplete').forEach((m) => m.remove()); shown = c.textContent; }
  return {
    done, shown,
    marked: !!chat.shadowRoot.querySelector('.incomplete, .error'),
    log: log.map((e) => [e.type, e.detail.deployment || e.detail.to || null, e.type === 'llm-delta' ? e.detail.text : null]),
    breakers: Object.fromEntries(Object.entries(chat.runtime.status().router.deployments).map(([k, d]) => [k, d.breaker])),
  };
}"""


@dataclass
class EdgeFaults:
    """Breaks the page's requests to the edge server as told, and keeps what was sent."""

    plan: list[str] = field(default_factory=list)  # one fault per coming request ("none" when empty)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (fault, request body)

    def handle(self, route: Any) -> None:
        fault = self.plan.pop(0) if self.plan else "none"
        body = json.loads(route.request.post_data or "{}")
        self.sent.append((fault, body))
        if fault == "unavailable":
            error = {"error": {"code": "LLM_NET_008_E", "message": "injected: the edge is unavailable", "type": "net"}}
            route.fulfill(status=503, json=error, headers={"Retry-After": "1"})
        elif fault == "reset":
            route.abort("connectionreset")
        elif fault == "cut":
            response = route.fetch()
            events = response.body().split(b"\n\n")
            keep = b"\n\n".join(events[: max(1, len(events) // 2)]) + b"\n\n"  # the first half, and no [DONE]
            route.fulfill(status=200, headers=response.headers, body=keep)
        else:
            route.fallback()


def replay(server: str, body: dict[str, Any]) -> str:
    """The server's answer to the same request, not streamed (greedy: the same text)."""
    again = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    data = httpx.post(f"{server}/v1/chat/completions", json=again, timeout=120).json()
    return str(data["choices"][0]["message"]["content"])


def check(r: dict[str, Any], sent: list[tuple[str, dict[str, Any]]], server: str) -> dict[str, Any]:
    """One question's verdict: complete and whole, or visibly incomplete with a code."""
    done = r["done"]
    shown_stream = ""  # the text the page was sent, taken back at a restart as the widget does
    for kind, _, text in r["log"]:
        if kind == "llm-restart":
            shown_stream = ""
        elif kind == "llm-delta":
            shown_stream += text
    verdict: dict[str, Any] = {
        "complete": bool(done["complete"]),
        "cached": done.get("status") == "cached",
        "deployment": done.get("deployment"),
        "finish_reason": done.get("finish_reason"),
        "code": (done.get("error") or {}).get("code"),
        "switches": sum(kind == "llm-switch" for kind, _, _ in r["log"]),
        "restarts": sum(kind == "llm-restart" for kind, _, _ in r["log"]),
        "shown_is_stream": r["shown"] == shown_stream,
        "edge_text_exact": None,
    }
    # An answer the edge finished: the text before the last request that reached it
    # unbroken (its assistant prefix, when it continued one) plus the server's answer
    # to that same request, sent again, must be exactly what the user sees.
    answered = [body for fault, body in sent if fault == "none"]
    if done["complete"] and done.get("deployment") == "edge" and answered and not verdict["cached"]:
        last = answered[-1]
        prefix = last["messages"][-1]["content"] if last.get("continue_final_message") else ""
        verdict["edge_text_exact"] = r["shown"] == prefix + replay(server, last)
    verdict["truncated_marked_complete"] = bool(
        done["complete"] and (not r["shown"] or done.get("finish_reason") not in ("stop", "length"))
    )
    verdict["incomplete_unmarked"] = bool(not done["complete"] and not (verdict["code"] and r["marked"]))
    return verdict


def run(quick: bool, seed: int = 7) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    rng = random.Random(seed)
    machine = harness.machine()
    questions = 8 if quick else 40
    started = time.monotonic()
    verdicts: list[dict[str, Any]] = []
    hung = 0
    data = tempfile.mkdtemp(prefix="bench-browser-chaos-")
    with ProcessServer(["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": data}) as server, sync_playwright() as pw, launch(pw) as ctx:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        faults = EdgeFaults()
        page.route("**/v1/chat/completions", faults.handle)
        page.goto(f"{server.url}/routing.html?engines=wasm&fault=wasm:off&max_tokens={MAX_TOKENS}")
        page.wait_for_function("window.__ready === true", timeout=300_000)
        page.set_default_timeout(ANSWER_TIMEOUT_MS)
        for i in range(questions):
            local = {"after": rng.randint(1, 8), "code": rng.choice(LOCAL_FAULTS)} if rng.random() < LOCAL_FAULT_RATE else None
            faults.plan = [rng.choice(EDGE_FAULTS) if rng.random() < EDGE_FAULT_RATE else "none" for _ in range(3)]
            faults.sent = []
            try:
                # A new question each time: a repeated one could be answered from the router's cache.
                r = page.evaluate(ASK, [f"{PROMPTS[i % len(PROMPTS)]} (question {i + 1})", local])
            except Exception as exc:  # a hang (the page's timeout) or a crash: counted, the run goes on
                hung += 1
                print(f"question {i + 1}: no end: {exc}", file=sys.stderr)
                page.reload()
                page.wait_for_function("window.__ready === true", timeout=300_000)
                continue
            v = check(r, list(faults.sent), server.url)
            v.update(local_fault=local["code"] if local else None, edge_faults=[f for f, _ in faults.sent], breakers=r["breakers"])
            verdicts.append(v)
            print(f"question {i + 1}/{questions}: {v}", file=sys.stderr)
    result = summarize(verdicts, hung, questions, quick, time.monotonic() - started)
    result["meta"]["machine"] = machine
    return result


def summarize(verdicts: list[dict[str, Any]], hung: int, questions: int, quick: bool, seconds: float) -> dict[str, Any]:
    exact = [v["edge_text_exact"] for v in verdicts if v["edge_text_exact"] is not None]
    figures = {
        "questions": questions,
        "ended": len(verdicts),
        "complete": sum(v["complete"] for v in verdicts),
        "from_cache": sum(v.get("cached", False) for v in verdicts),
        "incomplete_with_code": sum(not v["complete"] and bool(v["code"]) for v in verdicts),
        "hung": hung,
        "truncated_marked_complete": sum(v["truncated_marked_complete"] for v in verdicts),
        "incomplete_unmarked": sum(v["incomplete_unmarked"] for v in verdicts),
        "shown_differs_from_stream": sum(not v["shown_is_stream"] for v in verdicts),
        "edge_continuations_checked": len(exact),
        "edge_continuations_wrong": sum(not e for e in exact),
        "local_faults": sum(v["local_fault"] is not None for v in verdicts),
        "edge_faults": sum(f != "none" for v in verdicts for f in v["edge_faults"]),
        "switches": sum(v["switches"] for v in verdicts),
        "restarts": sum(v["restarts"] for v in verdicts),
    }
    targets = {
        "no_hang": {"target": 0, "value": hung, "met": hung == 0},
        "truncated_marked_complete": {
            "target": 0,
            "value": figures["truncated_marked_complete"],
            "met": figures["truncated_marked_complete"] == 0,
        },
        "incomplete_unmarked": {"target": 0, "value": figures["incomplete_unmarked"], "met": figures["incomplete_unmarked"] == 0},
        "duplicated_or_lost_text": {
            "target": 0,
            "value": figures["edge_continuations_wrong"] + figures["shown_differs_from_stream"],
            "met": figures["edge_continuations_wrong"] + figures["shown_differs_from_stream"] == 0,
        },
    }
    return {
        "part": "browser",
        "command": COMMAND + (" --quick" if quick else ""),
        "meta": {"mode": "quick" if quick else "full", "duration_s": round(seconds, 1), "machine": {}},
        "figures": figures,
        "targets": targets,
        "samples": verdicts,
    }


def render(result: dict[str, Any]) -> str:
    f = result["figures"]
    rows = [f"| {name} | {t['target']} | {t['value']} | {'met' if t['met'] else '**not met**'} |" for name, t in result["targets"].items()]
    return "\n".join(
        [
            "## Chaos through the browser path",
            "",
            f"`{result['command']}` — {rel.machine_line(result['meta'])}; {result['meta']['duration_s']:.0f} s.",
            "",
            "The `<llm-chat>` widget on routing.html in headless Chromium: the real WASM engine, the router in Pyodide, "
            "the real edge server. Before each question the local engine is set "
            f"to fail mid-answer ({LOCAL_FAULT_RATE:.0%}: device lost, GPU out of memory, WASM or ONNX run failure) and the page's "
            f"requests to the edge are broken on the way ({EDGE_FAULT_RATE:.0%} each: a coded 503, a reset connection, a stream cut "
            "before its end).",
            "",
            f"{f['questions']} questions: {f['complete']} complete ({f['from_cache']} from the router's cache, marked so), "
            f"{f['incomplete_with_code']} ended incomplete with their code "
            f"(no engine could answer: both failed, or their breakers were open), {f['hung']} without an end. "
            f"{f['local_faults']} local failures and "
            f"{f['edge_faults']} edge faults injected; {f['switches']} answers moved mid-way (switch), {f['restarts']} restarted. "
            f"{f['edge_continuations_checked']} edge continuations were checked against the server's answer to the same request.",
            "",
            "| target | goal | value | |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 questions instead of 40")
    args = ap.parse_args(argv)
    result = run(args.quick)
    path = rel.write_result("browser", result, rel.result_path("browser", args.quick))
    print(render(result))
    print(f"wrote {path}")
    return 0 if all(t["met"] for t in result["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
