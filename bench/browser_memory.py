"""Peak memory of the tab that runs the model on WASM, with weight prepacking (the default) and without.

    python -m bench.browser_memory      # writes bench/results/browser_memory.json + docs

The WASM variant ships 4-bit blocks and unpacks them to float32 while
onnxruntime-web reads them (web/lib/engine/weights.js); the target is a peak
tab memory of at most 1.2 GB. Measured as the renderer process's peak
resident memory (VmHWM in /proc) after loading the model through the product
page (local.html: Pyodide, the core, the engine) and answering one prompt.
The peak moves by a few tens of MB from run to run (when the garbage
collector runs), so each setting runs RUNS times and the worst is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _docs
from e2e.browser import launch
from llm_runner_router.edge.testing.servers import ProcessServer

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "browser_memory.json"
DOC_START, DOC_END = "<!-- browser_memory:start -->", "<!-- browser_memory:end -->"
BUDGET_MB = 1200
RUNS = 3


def renderer_peaks_mb() -> list[int]:
    """Peak resident memory of each Chromium renderer process, MB."""
    peaks = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes()
            if b"chromium" not in cmd or b"--type=renderer" not in cmd:
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) // 1024)
    return peaks


def measure(prepack: bool, server: ProcessServer, playwright: Any) -> dict[str, Any]:
    with launch(playwright) as ctx:
        page = ctx.new_page()
        page.goto(f"{server.url}/local.html?engines=wasm&threads=2{'' if prepack else '&prepack=0'}")
        page.wait_for_function("window.__ready === true", timeout=300_000)
        answer = page.evaluate(
            """async () => { let n = 0;
              const done = await window.__runtime.chat([{role: 'user', content: 'Write a short story about a robot.'}],
                                                      {maxTokens: 64, onToken: () => n++});
              return {tokens: n, error: done.error}; }"""
        )
        peaks = renderer_peaks_mb()
    return {
        "prepack": prepack,
        "peak_tab_mb": max(peaks),
        "renderers_mb": sorted(peaks),
        "tokens": answer["tokens"],
        "error": answer["error"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--docs", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    server = ProcessServer(["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": tempfile.mkdtemp(prefix="bench-mem-")})
    with server, sync_playwright() as pw:
        runs = [measure(prepack, server, pw) for _ in range(RUNS) for prepack in (True, False)]
    for run in runs:
        print(f"prepack={run['prepack']!s:5}  peak tab {run['peak_tab_mb']} MB  ({run['tokens']} tokens)", file=sys.stderr)
    failed = [run for run in runs if run["error"] or not run["tokens"]]
    if failed:
        # A tab that loaded no model or answered nothing has no peak worth reporting.
        print(f"browser_memory: {len(failed)} of {len(runs)} runs did not answer: {failed[0]['error']}", file=sys.stderr)
        return 1
    worst = {p: max(r["peak_tab_mb"] for r in runs if r["prepack"] is p) for p in (True, False)}
    result = {
        "benchmark": "browser_memory",
        "budget_mb": BUDGET_MB,
        "peak_tab_mb": {"prepack": worst[True], "no_prepack": worst[False]},
        "default_within_budget": worst[True] <= BUDGET_MB,
        "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
        "command": "python -m bench.browser_memory",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.docs:
        rows = [
            f"| {'on (default)' if p else 'off (`prepack: false`)'} | {worst[p]} | "
            + ", ".join(str(r["peak_tab_mb"]) for r in runs if r["prepack"] is p)
            + " |"
            for p in (True, False)
        ]
        section = "\n".join(
            [
                DOC_START,
                "### Browser tab memory (WASM)",
                "",
                f"`{result['command']}` — peak resident memory of the renderer process (VmHWM) after loading the model through "
                f"local.html (Pyodide, core, engine; 2 threads) and answering one prompt (64 tokens), worst of {RUNS} runs. "
                f"Budget: {BUDGET_MB} MB — "
                f"{'met' if result['default_within_budget'] else 'NOT met'} by the default.",
                "",
                "| onnxruntime weight prepacking | peak tab MB | runs |",
                "|---|---|---|",
                *rows,
                "",
                "Prepacking repacks the float32 weights once into the layout onnxruntime's kernels read (decoding "
                "~1.5× faster, see the decode table); the originals are freed, but WASM memory never shrinks, so the "
                "peak holds both for a while. What keeps it within budget: the embedding lookup reads the 8-bit "
                "blocks (no second float32 copy of the tied embedding), the LM head is in 8 chunks (each packed "
                "copy fits where freed ones were), the engine keeps the KV cache itself (no per-token copy of it "
                "out of WASM) and frees the 100 MB download as soon as onnxruntime holds the weights. "
                "`createRuntime({prepack: false})` trades the speed for the memory.",
                DOC_END,
            ]
        )
        _docs.update_section(section, DOC_START, DOC_END)
    return 0 if result["default_within_budget"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
