#!/usr/bin/env python3
"""Decode speed and time to first token in Chromium: ours next to transformers.js, wllama and a bare onnxruntime-web loop.

One headless Chromium (/usr/bin/chromium, driven by Playwright), one static
server on 127.0.0.1 (rooted at the repository; COOP/COEP so that WASM threads
work), one prompt, greedy decoding, in the same run:

* ``ours_wasm``: the product's engine (web/lib/engine/engine.js, ``loadEngine``
  + ``engine.stream``) on onnxruntime-web's WASM EP (its WASM-only build,
  ort.wasm, which the product loads when WASM is the engine), the model as the
  bundle ships it (dist/web/models/smollm2-135m-instruct/: the WASM variant's
  packed 4-bit weights, unpacked to float32 in the page);
* ``ours_wasm_lean`` / ``ours_wasm_jsep``: the same with weight prepacking off
  / on onnxruntime-web's JSEP build (ort.all), to show what each is worth;
* ``bare_ort``: onnxruntime-web alone (its WASM-only build, as ours) on the
  same decoder and the same float32 weights (the build's step.onnx: the
  standard decoder step, as onnxruntime-genai's builder makes it, without the
  extra outputs ours reads; the weights materialized by edge_server/browser_model/wasm_weights.py
  into .cache/bench-browser/): fixed prompt ids, argmax, present -> past,
  nothing else;
* ``transformers_js``: @huggingface/transformers (``AutoModelForCausalLM``,
  ``generate``) on the same step graph and weights (a local model folder under
  .cache/bench-browser/, its own onnxruntime-web's wasm served locally);
* ``wllama``: @wllama/wllama (llama.cpp in WebAssembly) on the same Q4_1 GGUF
  (models/), CPU only, its CDN fallback off;
* ``ours_webgpu``: our engine on WebGPU, which here is Chromium's SwiftShader
  (a CPU rasterizer): a correctness and speed point, not a GPU figure. It is
  very slow (the prefill alone takes minutes), so it gets one run of
  ``webgpu_tokens`` (8) new tokens, in full runs only.

Each runtime gets its own page per thread count (onnxruntime-web fixes its
thread count when it first starts), loaded once; then a warm-up generation
and N measured ones per runtime, the runtimes interleaved in rounds (the order
rotates every round) to spread the VM's noise over all of them. Every
generation: the ChatML prompt for PROMPT with the model's default system
message (38 tokens), greedy, 128 new tokens (``--max-tokens``). The peers and
the bare loop ignore EOS (transformers.js: ``min_new_tokens``; wllama:
``ignore_eos``, and ``cache_prompt: false`` so that every run does its
prefill; the bare loop never checks); our engine has no such option and stops
at EOS, so every run is checked to reach 128 (``checks.short_runs``).

Figures, timed in the page by bench/browser/harness.js: TTFT = the first new
token reaches the caller - the call started (tokenization and prefill
included; the bare loop starts from ids); decode tok/s = (new tokens - 1) /
(last token - first token). Per runtime x threads: medians over the measured
runs. ``paired_ratio``: the median over rounds of ours / the other of the same
round.

Start-up (``startup``): the product's start in a page, timed from navigation:
Pyodide + the core and llm_web wheels (dist/web/lib/loader.js ``loadPython``) and
the engine with the model (``loadEngine``) side by side, then a first token.
Cold = a fresh browser profile; warm = the same page reloaded (HTTP cache warm;
the server sends ``Cache-Control: max-age=3600``).

Usage::

    python -m bench.browser_decode            # full run; writes the JSON, the plot and the docs section
    python -m bench.browser_decode --quick    # < 5 minutes (2 threads only, 2 runs, no WebGPU); JSON only

Writes bench/results/browser_decode.json; a full run also writes
docs/img/browser_decode.svg and the section between
``<!-- browser_decode:start -->`` and ``<!-- browser_decode:end -->`` in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import hashlib
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench import _docs, harness
from e2e.browser import CHROMIUM, chromium_args

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results" / "browser_decode.json"
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "img" / "browser_decode.svg"
DOC_START = "<!-- browser_decode:start -->"
DOC_END = "<!-- browser_decode:end -->"


MODEL_DIR = ROOT / "dist" / "web" / "models" / "smollm2-135m-instruct"
GGUF = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = ROOT / ".cache" / "bench-browser"
ENGINE_SRC = ROOT / "web" / "src" / "engine" / "engine.js"
BUNDLE = ROOT / "dist" / "web"
TJS_MODEL_ID = "smollm2-135m-instruct"
TJS_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")

PROMPT = "Write a short story about a robot."
# The runtimes compared on WASM; the page module each one runs in bench/browser/.
# Two variations of ours show what its settings are worth:
# ours_wasm_lean: onnxruntime's weight prepacking off (`prepack: false`: slower,
#   ~100 MB less peak memory; see web/lib/engine/engine.js);
# ours_wasm_jsep: on onnxruntime-web's JSEP build (ort.all), which the product
#   loads only when WebGPU is planned (see ort_bundle).
OURS_VARIATIONS = ("ours_wasm_lean", "ours_wasm_jsep")
WASM_RUNTIMES = ("ours_wasm", *OURS_VARIATIONS, "bare_ort", "transformers_js", "wllama")
PEERS = ("transformers_js", "wllama")
PAGE = {
    "ours_wasm": "ours",
    "ours_wasm_lean": "ours",
    "ours_wasm_jsep": "ours",
    "ours_webgpu": "ours",
    "bare_ort": "bare_ort",
    "transformers_js": "transformers_js",
    "wllama": "wllama",
}
LABEL = {
    "ours_wasm": "ours (WASM)",
    "ours_wasm_lean": "ours (WASM, prepack: false)",
    "ours_wasm_jsep": "ours (WASM on the JSEP build)",
    "ours_webgpu": "ours (WebGPU, SwiftShader)",
    "bare_ort": "bare onnxruntime-web loop",
    "transformers_js": "transformers.js",
    "wllama": "wllama",
}
SHORT = {
    "ours_wasm": "ours\nWASM",
    "ours_wasm_lean": "ours WASM\nno prepack",
    "ours_wasm_jsep": "ours WASM\nJSEP build",
    "ours_webgpu": "ours WebGPU\n(SwiftShader)",
    "bare_ort": "bare ORT\nloop",
    "transformers_js": "transformers\n.js",
    "wllama": "wllama",
}
HEADLINE_KEYS = {
    "ours_wasm": "ours_wasm_tok_s",
    "ours_wasm_lean": "ours_wasm_lean_tok_s",
    "ours_wasm_jsep": "ours_wasm_jsep_tok_s",
    "transformers_js": "transformers_js_tok_s",
    "wllama": "wllama_tok_s",
    "bare_ort": "bare_ort_tok_s",
}
HEADLINE_THREADS = 2
TARGET_VS_PEERS = 1.2  # ours >= 1.2x the best peer, WASM, 2 threads
TARGET_VS_BARE = 0.9  # ours within 10 % of the bare loop

# quiet_wait: before each round, wait up to this many seconds for the machine to go quiet;
# settle: the same before each run (a page frees its tensors for a second or two after a run);
# warmup_tokens: new tokens of a warm-up run (default: max_tokens).
# webgpu_runs / webgpu_tokens: SwiftShader is very slow (a 38-token prefill takes 2-3 minutes here, then
# about 0.1 tok/s), so its point is one short run (0 runs: skipped; quick skips it).
FULL: dict[str, Any] = {
    "threads": (1, 2),
    "runs": 9,
    "warmup": 1,
    "max_tokens": 128,
    "webgpu_runs": 1,
    "webgpu_warmup": 0,
    "webgpu_tokens": 8,
    "startup_cold": 3,
    "startup_warm": 3,
    "quiet_wait": 20.0,
    "settle": 5.0,
}
QUICK: dict[str, Any] = {
    "threads": (2,),
    "runs": 2,
    "warmup": 1,
    "max_tokens": 128,
    "webgpu_runs": 0,
    "webgpu_warmup": 0,
    "webgpu_tokens": 8,
    "startup_cold": 1,
    "startup_warm": 1,
    # Right after the warm-ups the machine stays busy for ~20 s (the pages' code still being optimised):
    # a shorter wait made the first two runs of round 1 half as fast.
    "quiet_wait": 20.0,
    "settle": 3.0,
    "warmup_tokens": 32,
}


# --- the prompt ---------------------------------------------------------------------------------


def messages(prompt: str = PROMPT) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def chatml(msgs: Sequence[dict[str, str]], default_system: str | None) -> str:
    """The prompt text the model continues: the ChatML template (web/lib/engine/chat_format.js's)."""
    text = ""
    if default_system and msgs and msgs[0]["role"] != "system":
        text += f"<|im_start|>system\n{default_system}<|im_end|>\n"
    for m in msgs:
        text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


# --- files the peers need ----------------------------------------------------------------------


def prepare_assets(model_dir: Path = MODEL_DIR, cache: Path = CACHE, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """The float32 WASM graph for the bare loop and transformers.js, and transformers.js's model folder.

    .cache/bench-browser/wasm/{model.onnx, model.onnx.data}: the variant's step graph and its weights unpacked
    (llm_runner_router.edge.browser_model.wasm_weights), rebuilt when the model's build changes.
    .cache/bench-browser/tjs/<id>/: config, tokenizer and onnx/ (links to the files above).
    """
    from llm_runner_router.edge.browser_model import step_graph
    from llm_runner_router.edge.browser_model.wasm_weights import materialize_dir

    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    wasm = cache / "wasm"
    stamp = wasm / "build_id"
    build_id = f"{manifest['build_id']} {manifest['inputs']}"  # inputs: the step graph is not in the build id's files
    if not (stamp.exists() and stamp.read_text().strip() == build_id and (wasm / "model.onnx.data").exists()):
        progress(f"[bench] unpacking the WASM variant's weights to float32 in {wasm.relative_to(ROOT)} …")
        shutil.rmtree(wasm, ignore_errors=True)
        materialize_dir(model_dir / "wasm", wasm, graph=step_graph(model_dir))
        stamp.write_text(build_id + "\n")
    tjs = cache / "tjs" / TJS_MODEL_ID
    (tjs / "onnx").mkdir(parents=True, exist_ok=True)
    links = {name: model_dir / name for name in TJS_FILES}
    links |= {"onnx/model.onnx": wasm / "model.onnx", "onnx/model.onnx.data": wasm / "model.onnx.data"}
    for name, target in links.items():
        link = tjs / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(target, link.parent))
    return {"manifest": manifest, "wasm_dir": wasm, "tjs_dir": tjs}


# --- the static server --------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".onnx": "application/octet-stream",
        ".data": "application/octet-stream",
        ".gguf": "application/octet-stream",
        ".whl": "application/zip",
        ".zip": "application/zip",
    }

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "max-age=3600")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the base class's name
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a page closed mid-download is fine
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(root: Path = ROOT) -> Iterator[str]:
    """A static server for `root` on a free 127.0.0.1 port, cross-origin isolated; yields its base URL."""
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="bench-static", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- the browser ------------------------------------------------------------------------------


@contextlib.contextmanager
def browser(pw: Any, *, webgpu: bool = False, profile: Path | None = None) -> Iterator[Any]:
    """A Chromium context on a fresh profile (or the given one), removed on exit if fresh."""
    own = profile is None
    profile = profile or Path(tempfile.mkdtemp(prefix="bench-browser-profile-"))
    context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True, args=chromium_args(webgpu))
    try:
        yield context
    finally:
        context.close()
        if own:
            shutil.rmtree(profile, ignore_errors=True)


class Watch:
    """What a page did that the bench should know: console errors, requests to other hosts."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.external: list[str] = []

    def attach(self, page: Any, name: str) -> None:
        def on_console(msg: Any) -> None:
            if msg.type == "error" and len(self.errors) < 50:
                self.errors.append(f"{name}: {msg.text[:300]}")

        def on_request(req: Any) -> None:
            url = urlsplit(req.url)
            if url.scheme not in ("data", "blob") and url.hostname not in ("127.0.0.1", "localhost"):
                self.external.append(req.url)

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.errors.append(f"{name}: {str(e)[:300]}"))
        page.on("request", on_request)


def ort_bundle(ep: str, vendor: str = "/node_modules/onnxruntime-web/dist/") -> str:
    """The onnxruntime-web build the product loads for an engine (web/lib/runtime.js's choice).

    The WASM-only build (ort.wasm) when WASM is the engine; the one that also
    runs WebGPU (ort.all, the JSEP build) only when WebGPU is. Ours and the
    bare loop run what the product would load; ours_wasm_jsep measures the
    other build. transformers.js loads its own asyncify build.
    """
    return vendor + ("ort.all.min.mjs" if ep == "webgpu" else "ort.wasm.min.mjs")


def runtime_config(runtime: str, threads: int, prompt_text: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """What a runtime's page needs to load (URLs are paths on the bench server)."""
    cfg: dict[str, Any] = {"threads": threads, "promptText": prompt_text}
    model_base = "/" + MODEL_DIR.relative_to(ROOT).as_posix() + "/"
    wasm = "/" + (CACHE / "wasm").relative_to(ROOT).as_posix() + "/"
    if runtime in ("ours_wasm", *OURS_VARIATIONS, "ours_webgpu"):
        ep = "webgpu" if runtime == "ours_webgpu" else "wasm"
        cfg |= {
            "engineUrl": "/web/lib/engine/engine.js",
            "ortUrl": ort_bundle("webgpu" if runtime == "ours_wasm_jsep" else ep),
            "modelBase": model_base,
            "ep": ep,
            "prepack": runtime != "ours_wasm_lean",
        }
    elif runtime == "bare_ort":
        cfg |= {
            "ortUrl": ort_bundle("wasm"),
            "graphUrl": wasm + "model.onnx",
            "dataUrl": wasm + "model.onnx.data",
            "dataPath": "model.onnx.data",
            "tokenizerUrl": model_base + "tokenizer.json",
            "kvHeads": manifest["config"]["num_kv_heads"],
            "headDim": manifest["config"]["head_dim"],
        }
    elif runtime == "transformers_js":
        tjs = "/" + (CACHE / "tjs").relative_to(ROOT).as_posix() + "/"
        cfg |= {
            "localModelPath": tjs,
            "modelId": TJS_MODEL_ID,
            "wasmPaths": "/node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/",
            "dataPath": "model.onnx.data",
            "dataUrl": "onnx/model.onnx.data",  # transformers.js resolves it in the model folder
        }
    elif runtime == "wllama":
        cfg |= {
            "wasmUrl": "/node_modules/@wllama/wllama/esm/wasm/wllama.wasm",
            "ggufUrl": "/" + GGUF.relative_to(ROOT).as_posix(),
            "version": _npm_version("@wllama/wllama"),
        }
    else:
        raise ValueError(runtime)
    return cfg


def open_runtime(context: Any, base: str, runtime: str, config: dict[str, Any], watch: Watch) -> tuple[Any, dict[str, Any]]:
    """A page with the runtime loaded: (page, the load's info); info has "error" when it failed."""
    page = context.new_page()
    watch.attach(page, runtime)
    page.goto(f"{base}/bench/browser/index.html?{urlencode({'runtime': PAGE[runtime]})}")
    page.wait_for_function("window.benchReady === true", timeout=120_000)
    failed = page.evaluate("window.benchImportError || null")
    if failed:
        return page, {"error": f"import failed: {failed[:500]}"}
    info = page.evaluate("(c) => window.bench.load(c)", config)
    info["cross_origin_isolated"] = page.evaluate("self.crossOriginIsolated")
    return page, info


def run_once(page: Any, max_tokens: int, prompt_text: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """One generation in the page; `foreign_cpu` is the share of all CPUs other processes used meanwhile."""
    page.bring_to_front()
    request = {"maxTokens": max_tokens, "promptText": prompt_text, "messages": messages(), "timeoutMs": timeout_s * 1000}
    others, ours0 = harness.OtherLoad(), harness.tree_cpu_s(os.getpid())  # ours: this process and its browser
    result: dict[str, Any] = page.evaluate("(r) => window.bench.run(r)", request)
    result["foreign_cpu"] = others.stop(harness.tree_cpu_s(os.getpid()) - ours0)
    return result


# --- machine noise -----------------------------------------------------------------------------

QUIET = 0.25  # the share of all CPUs that may be busy before a run starts (bench/harness.py's wait_for_quiet)


def wait_for_quiet(max_wait: float) -> float:
    """Wait (up to max_wait s) until the machine is mostly idle; the last busy share seen."""
    return harness.wait_for_quiet(max_wait, QUIET)[1]


# --- pure helpers: samples -> figures -----------------------------------------------------------


def _median(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if isinstance(x, (int, float)) and x == x]
    return float(statistics.median(vals)) if vals else None


def _round(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def summarize(samples: Sequence[dict[str, Any]], load: dict[str, Any] | None = None) -> dict[str, Any]:
    """One runtime x thread count: medians over its measured runs (failed runs are counted, not used)."""
    good = [s for s in samples if "error" not in s and s.get("decode_tok_s") is not None]
    errors = [s["error"] for s in samples if "error" in s]
    prompt = [s.get("prompt_tokens") for s in good if s.get("prompt_tokens") is not None]
    new = [int(s["new_tokens"]) for s in good]
    self_rep = [(s.get("self_reported") or {}).get("decode_tok_s") for s in good]
    out: dict[str, Any] = {
        "tok_s": _round(_median([s["decode_tok_s"] for s in good])),
        "ttft_ms": _round(_median([s["ttft_ms"] for s in good]), 1),
        "runs": len(good),
        "prompt_tokens": max(set(prompt), key=prompt.count) if prompt else None,
        "new_tokens": min(new) if new else None,
        "tok_s_runs": [_round(s["decode_tok_s"]) for s in good],
        "ttft_ms_runs": [_round(s["ttft_ms"], 1) for s in good],
        "new_tokens_runs": new,
        "foreign_cpu_share": _round(_median([s.get("foreign_cpu") for s in good]), 3),
    }
    if any(x is not None for x in self_rep):
        out["self_reported_tok_s"] = _round(_median(self_rep))
    if load is not None:
        out["load_ms"] = _round(load.get("load_ms"), 1)
        if "error" in load:
            errors = [f"load: {load['error']}", *errors]
    if errors:
        out["errors"] = errors[:5]
    return out


def paired_ratio(rounds: Sequence[dict[str, dict[str, Any]]], a: str, b: str) -> float | None:
    """Median over rounds of a's tok/s / b's in the same round (rounds where both ran)."""
    ratios = []
    for r in rounds:
        x, y = (r.get(a) or {}).get("decode_tok_s"), (r.get(b) or {}).get("decode_tok_s")
        if x and y:
            ratios.append(x / y)
    return _round(_median(ratios), 3)


def headline(by_runtime: dict[str, dict[str, dict[str, Any]]], threads: int = HEADLINE_THREADS) -> dict[str, float | None]:
    """The top-level figures: each WASM runtime's median tok/s at `threads`."""
    return {key: (by_runtime.get(rt, {}).get(str(threads)) or {}).get("tok_s") for rt, key in HEADLINE_KEYS.items()}


def targets(head: dict[str, float | None], paired: dict[str, float | None] | None = None) -> dict[str, Any]:
    """Computed, never asserted: ours >= 1.2x the best peer, and within 10 % of the bare loop (WASM, 2 threads)."""
    ours = head.get("ours_wasm_tok_s")
    peers = {rt: head.get(HEADLINE_KEYS[rt]) for rt in PEERS}
    known = {rt: v for rt, v in peers.items() if v}
    best = max(known, key=lambda rt: known[rt]) if known else None
    vs_peer = ours / known[best] if ours and best else None
    bare = head.get("bare_ort_tok_s")
    vs_bare = ours / bare if ours and bare else None
    paired = paired or {}

    def met(ratio: float | None, paired_ratio: float | None, target: float) -> bool | None:
        # Both the ratio of medians and the median of per-round ratios must reach it: on this VM one of
        # them alone can cross a target by noise.
        return None if ratio is None else ratio >= target and (paired_ratio is None or paired_ratio >= target)

    return {
        "threads": HEADLINE_THREADS,
        "vs_best_peer": {
            "best_peer": best,
            "ratio": _round(vs_peer, 3),
            "paired_ratio": paired.get(best) if best else None,
            "target": TARGET_VS_PEERS,
            "met": met(vs_peer, paired.get(best) if best else None, TARGET_VS_PEERS),
        },
        "vs_bare_ort": {
            "ratio": _round(vs_bare, 3),
            "paired_ratio": paired.get("bare_ort"),
            "target": TARGET_VS_BARE,
            "met": met(vs_bare, paired.get("bare_ort"), TARGET_VS_BARE),
        },
    }


def leading_agreement(a: Sequence[int] | None, b: Sequence[int] | None) -> int | None:
    """How many tokens two greedy generations share before they first differ."""
    if not a or not b:
        return None
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def summarize_startup(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    good = [s for s in samples if "error" not in s]
    out: dict[str, Any] = {"runs": len(good)}
    for key in ("ready_ms", "runtime_ms", "pyodide_ms", "engine_ms", "first_token_ms"):
        vals = [s.get(key) for s in good]
        if any(v is not None for v in vals):
            out[key] = _round(_median(vals), 1)
            out[f"{key}_runs"] = [_round(v, 1) for v in vals]
    errors = [s["error"] for s in samples if "error" in s]
    if errors:
        out["errors"] = errors[:5]
    return out


# --- the run ------------------------------------------------------------------------------------


def decode_block(
    pw: Any,
    base: str,
    runtimes: Sequence[str],
    threads: int,
    plan: dict[str, Any],
    prompt_text: str,
    manifest: dict[str, Any],
    watch: Watch,
    progress: Callable[[str], None],
    *,
    webgpu: bool = False,
    runs: int | None = None,
    warmup: int | None = None,
    max_tokens: int | None = None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """One browser, one page per runtime at `threads`: load all, warm up, then interleaved rounds.

    Returns (summary by runtime, the rounds' samples by runtime, load info by runtime).
    """
    runs = plan["runs"] if runs is None else runs
    warmup = plan["warmup"] if warmup is None else warmup
    max_tokens = plan["max_tokens"] if max_tokens is None else max_tokens
    rounds: list[dict[str, dict[str, Any]]] = []
    loads: dict[str, dict[str, Any]] = {}
    with browser(pw, webgpu=webgpu) as context:
        pages: dict[str, Any] = {}
        for rt in runtimes:
            progress(f"[bench] {threads} thread(s): loading {rt} …")
            page, info = open_runtime(context, base, rt, runtime_config(rt, threads, prompt_text, manifest), watch)
            loads[rt] = info
            if "error" in info:
                progress(f"[bench]   {rt} failed to load: {info['error'][:300]}")
                page.close()
                continue
            pages[rt] = page
            progress(f"[bench]   {rt} loaded in {info.get('load_ms', 0) / 1000:.1f} s ({_brief_info(info)})")
            for i in range(warmup):
                s = run_once(
                    page, min(plan.get("warmup_tokens") or max_tokens, max_tokens), prompt_text, timeout_s=1200.0 if webgpu else 600.0
                )
                progress(f"[bench]   {rt} warm-up {i + 1}/{warmup}: {_brief_sample(s)}")
        for r in range(runs):
            busy = wait_for_quiet(plan["quiet_wait"])
            order = list(pages)
            k = r % len(order) if order else 0
            order = order[k:] + order[:k]
            this: dict[str, dict[str, Any]] = {}
            for rt in order:
                wait_for_quiet(plan["settle"])
                s = run_once(pages[rt], max_tokens, prompt_text, timeout_s=1200.0 if webgpu else 600.0)
                s["round"] = r
                s["machine_busy_before"] = _round(busy, 3)
                this[rt] = s
                progress(f"[bench] {threads} thread(s) round {r + 1}/{runs}: {rt:<16} {_brief_sample(s)}")
            rounds.append(this)
        for page in pages.values():
            page.close()
    summary = {rt: summarize([r[rt] for r in rounds if rt in r], loads.get(rt)) for rt in runtimes if rt in loads}
    return summary, rounds, loads


def startup_block(pw: Any, base: str, plan: dict[str, Any], watch: Watch, progress: Callable[[str], None]) -> dict[str, Any]:
    """Cold (fresh profile) and warm (same profile, reloaded) start of the product: Pyodide + core + engine."""
    engine_bundle = BUNDLE / "engine" / "engine.js"
    have_engine = engine_bundle.exists() or ENGINE_SRC.exists()
    have_loader = (BUNDLE / "lib" / "loader.js").exists() and (BUNDLE / "build.json").exists()
    if not (have_engine or have_loader):
        return {"skipped": "neither the engine nor the bundle's loader exists"}
    if engine_bundle.exists():  # the product's own files: the bundle's engine and ORT
        engine_url, ort_url = "/dist/web/engine/engine.js", ort_bundle("wasm", "/dist/web/vendor/ort/")
    else:
        engine_url, ort_url = "/web/lib/engine/engine.js", ort_bundle("wasm")
    query = {
        "threads": HEADLINE_THREADS,
        "ep": "wasm",
        "base": "/dist/web/",
        "loader": "/dist/web/lib/loader.js" if have_loader else "",
        "engine": engine_url if have_engine else "",
        "ort": ort_url,
        "modelBase": "/" + MODEL_DIR.relative_to(ROOT).as_posix() + "/",
    }
    url = f"{base}/bench/browser/startup.html?{urlencode(query)}"
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []

    def load(page: Any) -> dict[str, Any]:
        page.wait_for_function("window.startupResult !== undefined", timeout=300_000)
        result: dict[str, Any] = page.evaluate("window.startupResult")
        return result

    for i in range(plan["startup_cold"]):
        wait_for_quiet(plan["quiet_wait"])
        with browser(pw) as context:
            page = context.new_page()
            watch.attach(page, "startup")
            page.goto(url)
            s = load(page)
            cold.append(s)
            progress(f"[bench] start-up cold {i + 1}/{plan['startup_cold']}: {_brief_startup(s)}")
            for j in range(plan["startup_warm"] if i == 0 else 0):
                wait_for_quiet(plan["quiet_wait"])
                page.reload()
                s = load(page)
                warm.append(s)
                progress(f"[bench] start-up warm {j + 1}/{plan['startup_warm']}: {_brief_startup(s)}")
    what = next((s.get("what") for s in cold + warm if s.get("what")), None)
    return {
        "what": what,
        "threads": HEADLINE_THREADS,
        "engine_url": engine_url if have_engine else None,
        "loader_url": query["loader"] or None,
        "cold": summarize_startup(cold),
        "warm": summarize_startup(warm),
    }


def _brief_info(info: dict[str, Any]) -> str:
    keys = ("version", "libllama", "ep", "threads", "cross_origin_isolated")
    return ", ".join(f"{k} {info[k]}" for k in keys if info.get(k) is not None)


def _brief_sample(s: dict[str, Any]) -> str:
    if "error" in s:
        return f"ERROR {s['error'][:300]}"
    tok_s, ttft = s.get("decode_tok_s"), s.get("ttft_ms")
    other = s.get("foreign_cpu")
    others = f", other processes {other * 100:.0f}% of the CPUs" if isinstance(other, float) else ""
    return f"{_fmt(tok_s)} tok/s, TTFT {_fmt(ttft, 0)} ms, {s.get('new_tokens')} new / {s.get('prompt_tokens')} prompt tokens{others}"


def _brief_startup(s: dict[str, Any]) -> str:
    if "error" in s:
        return f"ERROR {s['error'][:300]}"
    parts = [f"ready {_fmt(s.get('ready_ms'), 0)} ms"]
    if s.get("runtime_ms") is not None:
        parts.append(f"Pyodide+core {_fmt(s.get('runtime_ms'), 0)} ms")
    if s.get("engine_ms") is not None:
        parts.append(f"engine {_fmt(s.get('engine_ms'), 0)} ms")
    if s.get("first_token_ms") is not None:
        parts.append(f"first token at {_fmt(s.get('first_token_ms'), 0)} ms")
    return ", ".join(parts)


def _npm_version(name: str, base: Path = ROOT / "node_modules") -> str | None:
    try:
        return str(json.loads((base / name / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def versions() -> dict[str, Any]:
    try:
        chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = None
    return {
        "chromium": chromium,
        "onnxruntime-web": _npm_version("onnxruntime-web"),
        "@huggingface/transformers": _npm_version("@huggingface/transformers"),
        "onnxruntime-web (transformers.js's own)": _npm_version(
            "onnxruntime-web", ROOT / "node_modules" / "@huggingface" / "transformers" / "node_modules"
        ),
        "@wllama/wllama": _npm_version("@wllama/wllama"),
        "pyodide": _npm_version("pyodide"),
        "python": platform.python_version(),
    }


def _sha(ids: Sequence[int] | None) -> str | None:
    return hashlib.sha256(json.dumps(list(ids)).encode()).hexdigest()[:16] if ids else None


def checks(
    res: dict[str, Any],
    rounds: dict[str, list[dict[str, dict[str, Any]]]],
    loads: dict[str, dict[str, dict[str, Any]]],
    max_tokens: int,
    expected: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Did every runtime run the same prompt to the same length, and agree on the greedy tokens?"""
    prompt_tokens: dict[str, Any] = {}
    short: list[str] = []
    for rt, by_t in res["runtimes"].items():
        for t, fig in by_t.items():
            prompt_tokens[f"{rt}@{t}"] = fig.get("prompt_tokens")
            want = (expected or {}).get(rt, max_tokens)
            if fig.get("new_tokens") is not None and fig["new_tokens"] < want:
                short.append(f"{rt}@{t}: {fig['new_tokens']} < {want} new tokens")
    ids = {rt: info.get("prompt_ids") for by_rt in loads.values() for rt, info in by_rt.items() if info.get("prompt_ids")}
    agreement: dict[str, Any] = {}
    for t, rs in rounds.items():
        first = rs[0] if rs else {}
        ref = (first.get("bare_ort") or {}).get("token_ids")
        for rt in ("ours_wasm", *OURS_VARIATIONS, "ours_webgpu", "transformers_js"):
            got = (first.get(rt) or {}).get("token_ids")
            n = leading_agreement(got, ref)
            if n is not None:
                agreement[f"{rt}@{t}"] = n
    known = {v for v in prompt_tokens.values() if v is not None}
    return {
        "prompt_tokens": prompt_tokens,
        "same_prompt_length": len(known) <= 1,
        "prompt_ids_sha": {rt: _sha(v) for rt, v in ids.items()},
        "same_prompt_ids": len({_sha(v) for v in ids.values()}) <= 1,
        "all_full_length": not short,
        "short_runs": short,
        "greedy_tokens_agreeing_with_bare_ort": agreement,
    }


def run(plan: dict[str, Any], progress: Callable[[str], None] = print, runtimes: Sequence[str] = WASM_RUNTIMES) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    assets = prepare_assets(progress=progress)
    manifest = assets["manifest"]
    prompt_text = chatml(messages(), manifest["chat"].get("default_system"))
    notes: list[str] = []
    wanted = list(runtimes)
    if not ENGINE_SRC.exists():
        wanted = [rt for rt in wanted if not rt.startswith("ours")]
        notes.append(f"{ENGINE_SRC.relative_to(ROOT)} does not exist: ours was not measured")
    by_runtime: dict[str, dict[str, dict[str, Any]]] = {}
    all_rounds: dict[str, list[dict[str, dict[str, Any]]]] = {}
    all_loads: dict[str, dict[str, dict[str, Any]]] = {}
    paired: dict[str, dict[str, float | None]] = {}
    watch = Watch()
    load_avg = harness.load_averages()
    with serve() as base, sync_playwright() as pw:
        for threads in plan["threads"]:
            summary, rounds, loads = decode_block(pw, base, wanted, threads, plan, prompt_text, manifest, watch, progress)
            for rt, fig in summary.items():
                by_runtime.setdefault(rt, {})[str(threads)] = fig
            all_rounds[str(threads)] = rounds
            all_loads[str(threads)] = loads
            if "ours_wasm" in wanted:
                paired[str(threads)] = {rt: paired_ratio(rounds, "ours_wasm", rt) for rt in wanted if rt != "ours_wasm"}
        if plan["webgpu_runs"] and ENGINE_SRC.exists() and "ours_wasm" in runtimes:
            threads = HEADLINE_THREADS
            summary, rounds, loads = decode_block(
                pw, base, ["ours_webgpu"], threads, plan, prompt_text, manifest, watch, progress,
                webgpu=True, runs=plan["webgpu_runs"], warmup=plan["webgpu_warmup"], max_tokens=plan["webgpu_tokens"],
            )  # fmt: skip
            by_runtime.setdefault("ours_webgpu", {})[str(threads)] = summary["ours_webgpu"]
            by_runtime["ours_webgpu"][str(threads)]["adapter"] = "SwiftShader (CPU)"
            all_loads.setdefault(f"webgpu@{threads}", loads)
            all_rounds[f"webgpu@{threads}"] = rounds
        startup = startup_block(pw, base, plan, watch, progress) if plan["startup_cold"] else {"skipped": "--no-startup"}
    head = headline(by_runtime)
    res: dict[str, Any] = {
        **head,
        "targets": targets(head, paired.get(str(HEADLINE_THREADS))),
        "runtimes": by_runtime,
        "paired_ratio_ours_over": paired,
        "startup": startup,
        "method": {
            "prompt": PROMPT,
            "prompt_text": prompt_text,
            "max_new_tokens": plan["max_tokens"],
            "webgpu_new_tokens": plan["webgpu_tokens"],
            "greedy": True,
            "eos": "the peers and the bare loop ignore EOS (transformers.js min_new_tokens, wllama ignore_eos); "
            "ours has no such option and stops at EOS (checks.short_runs lists runs that ended early)",
            "threads": list(plan["threads"]),
            "runs": plan["runs"],
            "warmup": plan["warmup"],
            "tok_s": "(new tokens - 1) / (last token - first token), median over runs",
            "ttft_ms": "first new token - call start (tokenization + prefill), median over runs",
        },
        "load": {
            t: {rt: {k: v for k, v in info.items() if k != "prompt_ids"} for rt, info in by_rt.items()} for t, by_rt in all_loads.items()
        },
        "versions": versions(),
        "notes": notes,
        "meta": {
            "date": datetime.date.today().isoformat(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": load_avg,
            "duration_s": None,
            "console_errors": watch.errors[:20],
            "external_requests": sorted(set(watch.external))[:20],
        },
    }
    shares = [smp.get("foreign_cpu") for rs in all_rounds.values() for r in rs for smp in r.values()]
    res["meta"]["foreign_cpu_share_median"] = _round(_median(shares), 3)
    res["checks"] = checks(res, all_rounds, all_loads, plan["max_tokens"], {"ours_webgpu": plan["webgpu_tokens"]})
    res["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    res["_rounds"] = all_rounds
    return res


# --- output ------------------------------------------------------------------------------------


def public(res: dict[str, Any]) -> dict[str, Any]:
    """The JSON to write: everything but the raw samples."""
    return {k: v for k, v in res.items() if not k.startswith("_")}


def _fmt(x: float | None, nd: int = 1) -> str:
    return "–" if x is None or x != x else f"{x:,.{nd}f}"


def _n(x: Any) -> str:
    return "–" if x is None else str(x)


def _order(res: dict[str, Any]) -> list[str]:
    return [rt for rt in (*WASM_RUNTIMES, "ours_webgpu") if rt in res["runtimes"]]


def _threads(res: dict[str, Any]) -> list[str]:
    return sorted({t for by_t in res["runtimes"].values() for t in by_t}, key=int)


def _met(flag: bool | None) -> str:
    return "not measured" if flag is None else ("met" if flag else "**not met**")


def table(res: dict[str, Any]) -> str:
    threads = _threads(res)
    head = (
        f"{'runtime':<28}"
        + "".join(f"  {f'{t}T tok/s':>10}  {f'{t}T TTFT ms':>11}" for t in threads)
        + f"  {'runs':>4}  {'prompt/new':>10}"
    )
    out = [head]
    for rt in _order(res):
        by_t = res["runtimes"][rt]
        line = f"{LABEL[rt]:<28}"
        for t in threads:
            fig = by_t.get(t) or {}
            line += f"  {_fmt(fig.get('tok_s')):>10}  {_fmt(fig.get('ttft_ms'), 0):>11}"
        any_fig = next(iter(by_t.values()))
        tokens = f"{_n(any_fig.get('prompt_tokens'))}/{_n(any_fig.get('new_tokens'))}"
        line += f"  {any_fig.get('runs', 0):>4}  {tokens:>10}"
        out.append(line)
    tg = res["targets"]
    vp, vb = tg["vs_best_peer"], tg["vs_bare_ort"]
    out.append(
        f"ours / best peer ({vp['best_peer']}) at {tg['threads']} threads: {_fmt(vp['ratio'], 3)} "
        f"(paired {_fmt(vp['paired_ratio'], 3)}), target ≥ {vp['target']}: {_met(vp['met'])}"
    )
    out.append(
        f"ours / bare onnxruntime-web loop: {_fmt(vb['ratio'], 3)} (paired {_fmt(vb['paired_ratio'], 3)}), "
        f"target ≥ {vb['target']}: {_met(vb['met'])}"
    )
    share = res["meta"].get("foreign_cpu_share_median")
    if share is not None:
        out.append(f"other processes used a median {share * 100:.0f}% of the CPUs during the measured runs")
    st = res.get("startup") or {}
    if "cold" in st:
        out.append(
            f"start-up ({st.get('what')}): cold ready {_fmt(st['cold'].get('ready_ms'), 0)} ms, "
            f"warm ready {_fmt(st['warm'].get('ready_ms'), 0)} ms"
        )
    elif st:
        out.append(f"start-up: {st.get('skipped')}")
    return "\n".join(out)


def plot(res: dict[str, Any], path: Path = PLOT) -> Path | None:
    """Decode tok/s and TTFT per runtime and thread count, as SVG; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    matplotlib.rcParams["svg.hashsalt"] = "browser_decode"
    order, threads = _order(res), _threads(res)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / max(1, len(threads))
    for ax, key, title in (
        (axes[0], "tok_s", "decode tokens/s (higher is better)"),
        (axes[1], "ttft_ms", "time to first token, ms (lower is better)"),
    ):
        for i, t in enumerate(threads):
            xs = [j + (i - (len(threads) - 1) / 2) * width for j in range(len(order))]
            vals = [((res["runtimes"][rt].get(t) or {}).get(key) or 0.0) for rt in order]
            bars = ax.bar(xs, vals, width, label=f"{t} thread{'s' if t != '1' else ''}")
            ax.bar_label(bars, labels=[_fmt(v, 1 if key == "tok_s" else 0) if v else "" for v in vals], fontsize=7, padding=1)
        ax.set_xticks(range(len(order)), [SHORT[rt] for rt in order], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(f"SmolLM2-135M-Instruct in headless Chromium, {res['method']['max_new_tokens']} greedy tokens", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=path.suffix.lstrip(".") or "svg", metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    return path


def _startup_row(name: str, fig: dict[str, Any]) -> str:
    cells = [_fmt(fig.get(k), 0) for k in ("ready_ms", "runtime_ms", "engine_ms", "first_token_ms")]
    return f"| {name} | " + " | ".join(cells) + f" | {fig.get('runs')} |"


def _lead_note(res: dict[str, Any], threads: int) -> list[str]:
    """Where ours' lead comes from, and each variation of ours next to the default, at `threads`."""

    def tok_s(rt: str) -> float | None:
        value: float | None = (res["runtimes"].get(rt, {}).get(str(threads)) or {}).get("tok_s")
        return value

    ours = tok_s("ours_wasm")
    if not ours:
        return []

    def share(rt: str) -> str:
        other = tok_s(rt)
        return f"{other / ours:.2f}× the default's speed" if other else "not measured in this run"

    return [
        "Ours, the bare loop and transformers.js run the same decoder and weights on onnxruntime-web's kernels, so "
        "the differences come from what each does around them:",
        "",
        "- **new rows only**: ours fetches only each run's new cache rows (`new_key_values.*`, an output the shipped "
        "graph adds to the standard decoder) and keeps the cache in reused buffers (web/lib/engine/kv_cache.js); the "
        "bare loop and transformers.js fetch every `present.*`, which onnxruntime-web copies out of WASM memory into "
        "new JS arrays: the whole KV cache, every token, then garbage. That is all of ours' lead; it is small next "
        "to the kernels' time, and the VM's noise is of the same size, so the lead over transformers.js moves from "
        "run to run.",
        "- **onnxruntime-web build**: for WASM the product loads the WASM-only build (ort.wasm: 14 MB of WASM "
        "instead of 28); ours on the JSEP build (ort.all, which WebGPU needs; transformers.js loads the same kind) "
        f"decodes at {share('ours_wasm_jsep')}: the build is not a speed lever.",
        f"- **prepacked weights** (the tab stays within 1.2 GB, bench/browser_memory.py): `prepack: false` decodes at "
        f"{share('ours_wasm_lean')}.",
        "",
    ]


def doc_section(res: dict[str, Any], command: str, plot_path: Path | None) -> str:
    m, meth, v = res["meta"], res["method"], res["versions"]
    threads = _threads(res)
    head = (
        "| runtime | "
        + " | ".join(f"{t} thread{'s' if t != '1' else ''}: tok/s | TTFT ms" for t in threads)
        + " | runs | prompt / new tokens |"
    )
    rows = [head, "|---|" + "---:|---:|" * len(threads) + "---:|---|"]
    failed: list[str] = []
    for rt in _order(res):
        by_t = res["runtimes"][rt]
        cells = []
        for t in threads:
            fig = by_t.get(t) or {}
            cells += [_fmt(fig.get("tok_s")), _fmt(fig.get("ttft_ms"), 0)]
        any_fig = next(iter(by_t.values()))
        name = LABEL[rt] if rt != "ours_wasm" else f"**{LABEL[rt]}**"
        if not any_fig.get("runs"):
            failed.append(f"{LABEL[rt]}: {(any_fig.get('errors') or ['no run'])[0][:300]}")
        rows.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {any_fig.get('runs')} | {_n(any_fig.get('prompt_tokens'))} / {_n(any_fig.get('new_tokens'))} |"
        )
    tg = res["targets"]
    vp, vb = tg["vs_best_peer"], tg["vs_bare_ort"]
    lines = [
        DOC_START,
        "### Browser decode (Chromium, WASM)",
        "",
        f"SmolLM2-135M-Instruct decoding in headless Chromium ({v.get('chromium')}), all runtimes in the same browser and the same run: "
        f"ours (the product's engine on onnxruntime-web {v.get('onnxruntime-web')}), "
        "a bare onnxruntime-web loop on the same decoder and weights (the standard decoder step, without the "
        "`new_key_values.*` outputs ours reads; fixed prompt ids, argmax, present → past, nothing else), "
        f"transformers.js {v.get('@huggingface/transformers')} on the same standard decoder and weights, "
        f"and wllama {v.get('@wllama/wllama')} on the same Q4_1 GGUF; "
        "WebGPU on SwiftShader (a CPU rasterizer) as a correctness-and-speed point. "
        f"The prompt is the ChatML prompt for “{meth['prompt']}” with the model's default system message; "
        f"greedy, {meth['max_new_tokens']} new tokens; {meth['eos']}. "
        "2 threads need cross-origin isolation: the pages are served with COOP/COEP.",
        "",
        *rows,
        "",
        *[f"Failed: {f}." for f in failed],
        *(
            [
                f"WebGPU here is SwiftShader, a CPU rasterizer: one run of {meth.get('webgpu_new_tokens')} new tokens "
                "(its prefill alone takes minutes), a check that the WebGPU variant runs, not a GPU figure.",
                "",
            ]
            if "ours_webgpu" in res["runtimes"]
            else []
        ),
        *([""] if failed else []),
        f"Targets (WASM, {tg['threads']} threads): ours ≥ {vp['target']}× the best peer ({vp['best_peer']}) — {_fmt(vp['ratio'], 2)}× "
        f"(paired per round {_fmt(vp['paired_ratio'], 2)}×), {_met(vp['met'])}; "
        f"ours within 10 % of the bare onnxruntime-web loop — {_fmt(vb['ratio'], 3)} "
        f"(paired {_fmt(vb['paired_ratio'], 3)}), {_met(vb['met'])}.",
        "",
        *_lead_note(res, tg["threads"]),
    ]
    if plot_path is not None:
        lines += [f"![decode tok/s and TTFT per runtime]({os.path.relpath(plot_path, DOC.parent)})", ""]
    lines += [
        "Decode tok/s = (new tokens − 1) / (last − first new token), TTFT = first new token − call start (tokenization and prefill "
        "included; the bare loop starts from token ids), both timed in the page; medians over "
        f"{meth['runs']} runs after {meth['warmup']} warm-up run per runtime and thread count, one page per runtime and thread count "
        "(onnxruntime-web fixes its thread count per page), "
        "runtimes interleaved in rounds (order rotated each round) to spread the VM's noise.",
        "",
    ]
    share = m.get("foreign_cpu_share_median")
    if share is not None:
        lines += [
            f"Other processes used a median {share * 100:.0f} % of the machine's CPUs during the measured runs "
            "(`foreign_cpu_share` in the JSON, per runtime); figures taken while that is high are low and noisy.",
            "",
        ]
    st = res.get("startup") or {}
    if "cold" in st:
        c, w = st["cold"], st["warm"]
        what = (
            "Pyodide + the core and llm_web wheels + the engine with the model"
            if st.get("what") == "pyodide+core+engine"
            else st.get("what")
        )
        lines += [
            f"Start-up of the product page ({what}, WASM, {st['threads']} threads), from navigation:",
            "",
            "| | ready (ms) | Pyodide + core (ms) | engine + model (ms) | first token at (ms) | runs |",
            "|---|---:|---:|---:|---:|---:|",
            _startup_row("cold (fresh profile)", c),
            _startup_row("warm (reload, HTTP cache)", w),
            "",
        ]
    for note in res.get("notes") or []:
        lines += [f"Note: {note}.", ""]
    lines += [
        f"{m['date']}, {m['cpus']} cores, load average {m['load_average_at_start'][0]} at the start, {m['duration_s'] / 60:.0f} minutes. "
        f"Produced by `{command}`; raw numbers in [bench/results/browser_decode.json](../bench/results/browser_decode.json).",
        DOC_END,
    ]
    return "\n".join(lines)


def update_doc(section: str, path: Path = DOC) -> None:
    _docs.update_section(section, DOC_START, DOC_END, path)


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run (under 5 minutes): 2 threads, 2 runs, no WebGPU; JSON only")
    ap.add_argument("--threads", type=int, nargs="+", help="thread counts (default: 1 2; quick: 2)")
    ap.add_argument("--runs", type=int, help="measured runs per runtime and thread count")
    ap.add_argument("--warmup", type=int, help="warm-up runs per runtime and thread count")
    ap.add_argument("--max-tokens", type=int, help="new tokens per generation (default 128)")
    ap.add_argument("--runtimes", nargs="+", choices=WASM_RUNTIMES, default=list(WASM_RUNTIMES), help="the WASM runtimes to run")
    ap.add_argument("--webgpu-runs", type=int, help="measured runs of ours on WebGPU (SwiftShader); 0 skips it (default: full 1, quick 0)")
    ap.add_argument("--webgpu-tokens", type=int, help="new tokens of a WebGPU run (default 8: SwiftShader is very slow)")
    ap.add_argument("--startup-runs", type=int, help="cold start-ups (each a fresh profile); 0 skips start-up")
    ap.add_argument("--quiet-wait", type=float, help="before each round, wait up to this many seconds for the machine to go quiet")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--docs", action=argparse.BooleanOptionalAction, default=None, help="write the plot and docs section (default: full runs only)"
    )
    args = ap.parse_args(argv)

    plan = dict(QUICK if args.quick else FULL)
    for key, val in (
        ("threads", tuple(args.threads) if args.threads else None),
        ("runs", args.runs),
        ("warmup", args.warmup),
        ("max_tokens", args.max_tokens),
        ("webgpu_runs", args.webgpu_runs),
        ("webgpu_tokens", args.webgpu_tokens),
        ("startup_cold", args.startup_runs),
        ("quiet_wait", args.quiet_wait),
    ):
        if val is not None:
            plan[key] = val
    print(
        f"[bench] threads {list(plan['threads'])}, {plan['warmup']} warm-up + {plan['runs']} runs per runtime, "
        f"{plan['max_tokens']} new tokens; WebGPU runs {plan['webgpu_runs']}; "
        f"start-up {plan['startup_cold']} cold + {plan['startup_warm']} warm",
        flush=True,
    )
    res = run(plan, progress=lambda msg: print(msg, flush=True), runtimes=args.runtimes)
    shown = [a for a in argv if not a.startswith("--out")]
    command = "python -m bench.browser_decode" + (" " + " ".join(shown) if shown else "")
    res["meta"]["mode"] = "quick" if args.quick else "full"
    res["meta"]["command"] = command
    print()
    print(table(res))
    print(f"checks: {json.dumps(res['checks'])}")
    if res["meta"]["external_requests"]:
        print(f"requests to other hosts: {res['meta']['external_requests']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(public(res), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} in {res['meta']['duration_s']:.0f} s")
    if args.docs if args.docs is not None else not args.quick:
        plotted = plot(res)
        print(f"wrote {plotted.relative_to(ROOT)}" if plotted else "matplotlib is not installed: no plot")
        update_doc(doc_section(res, command, plotted))
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
