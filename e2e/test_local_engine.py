"""The local engine in Chromium: the core in Pyodide routing to onnxruntime-web on WASM and WebGPU.

Through web/demo/local.html (createRuntime in web/lib/runtime.js): answers on
WASM with 1 and 2 threads and on WebGPU (SwiftShader); the first greedy tokens
equal the same variant run by onnxruntime in Python; abort stops generation;
a device without a WebGPU adapter ends up on WASM.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page

from e2e.conftest import NewPage, note
from llm_runner_router.edge import browser_model
from llm_runner_router.edge.browser_model import wasm_weights
from llm_runner_router.edge.testing.servers import ProcessServer

REPO = Path(__file__).resolve().parents[1]

MODEL_DIR = REPO / "dist" / "web" / "models" / "smollm2-135m-instruct"
PROMPT = "What is the capital of France?"
FIRST_TOKENS = 12
LOAD_TIMEOUT_MS = 300_000


def open_local(page: Page, server: ProcessServer, query: str = "") -> dict[str, Any]:
    page.goto(f"{server.url}/local.html?{query}")
    page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)
    error = page.evaluate("window.__error || null")
    assert error is None, error
    info: dict[str, Any] = page.evaluate(
        """() => ({engine: window.__runtime.engine, plan: window.__runtime.plan, probe: window.__runtime.probe,
                   info: window.__runtime.engine ? window.__runtime.engines[window.__runtime.engine].info : null,
                   loadErrors: window.__runtime.loadErrors})"""
    )
    return info


def chat(
    page: Page, max_tokens: int = FIRST_TOKENS, abort_after: int | None = None, kind: str = "chat", prompt: str = PROMPT
) -> dict[str, Any]:
    """One greedy answer; with abort_after, the page aborts once that many pieces have arrived."""
    result: dict[str, Any] = page.evaluate(
        """async ([prompt, maxTokens, abortAfter, kind]) => {
            const controller = new AbortController();
            const pieces = [];
            const events = [];
            const started = performance.now();
            const done = await window.__runtime.chat([{role: 'user', content: prompt}], {
              maxTokens, temperature: 0, signal: controller.signal, kind,
              onEvent: (ev) => events.push(ev.type),
              onToken: (text) => { pieces.push(text); if (abortAfter !== null && pieces.length >= abortAfter) controller.abort(); },
            });
            const abortedAt = performance.now();
            // After an abort, nothing more may arrive: wait a little and count again.
            await new Promise((r) => setTimeout(r, 1500));
            return {done, pieces, events, ms: abortedAt - started, piecesLater: pieces.length};
        }""",
        [prompt, max_tokens, abort_after, kind],
    )
    return result


@cache
def python_reference(variant: str, kind: str = "chat", prompt: str = PROMPT, n: int = FIRST_TOKENS) -> str:
    """The first greedy tokens of the same variant in onnxruntime (CPU EP), as text.

    WASM: the standard decoder step (browser_model.step_graph), so the
    engine, which reads the shipped graph's new_key_values.* rows and keeps
    the cache itself, is checked against the standard decoder.
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    if variant == "wasm":
        graph = wasm_weights.materialize_dir(
            MODEL_DIR / "wasm", REPO / ".cache" / "wasm-fp32-step", graph=browser_model.step_graph(MODEL_DIR)
        )
    else:
        graph = MODEL_DIR / "webgpu" / "model.onnx"
    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    text = (
        prompt
        if kind == "text"
        else f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs() if o.name == "logits" or o.name.startswith("present.")]
    past = {i.name: np.zeros((1, 3, 0, 64), dtype=np.float32) for i in session.get_inputs() if i.name.startswith("past")}
    feed, total, out = ids, 0, []
    for _ in range(n):
        total += len(feed)
        res = session.run(outputs, {"input_ids": np.array([feed]), "attention_mask": np.ones((1, total), dtype=np.int64), **past})
        token = int(np.argmax(res[0][0, -1]))
        if token == 2:  # <|im_end|>
            break
        out.append(token)
        for name, value in zip(outputs[1:], res[1:], strict=True):
            past[name.replace("present", "past_key_values")] = value
        feed = [token]
    return str(tokenizer.decode(out))


def answer_text(result: dict[str, Any]) -> str:
    return "".join(result["pieces"])


@pytest.mark.parametrize("threads", [1, 2])
def test_answers_on_wasm_and_matches_onnxruntime_in_python(threads: int, edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    info = open_local(page, edge_server, f"engines=wasm&threads={threads}")
    assert info["engine"] == "wasm" and info["info"]["threads"] == threads, info
    result = chat(page)
    done = result["done"]
    assert done["error"] is None and done["deployment"] == "local-wasm", done
    assert answer_text(result) == python_reference("wasm")
    assert result["events"][-1] == "done" and "delta" in result["events"]
    note(f"wasm {threads} thread(s): {answer_text(result)!r} in {result['ms']:.0f} ms (load {info['info']['loadMs']:.0f} ms)")


# SwiftShader runs WebGPU on the CPU: here ~30-50 s a token and minutes of prefill
# for a chat prompt, so this correctness check continues a short raw prompt.
WEBGPU_PROMPT = "The capital of France is"
WEBGPU_TOKENS = 3


@pytest.mark.timeout(1200)
def test_answers_on_webgpu_swiftshader(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page(webgpu=True)
    info = open_local(page, edge_server, "engines=webgpu&software_adapter=1")  # SwiftShader: only when asked for
    assert info["probe"]["webgpu"]["available"] is True, info["probe"]
    assert info["engine"] == "webgpu", info
    result = chat(page, max_tokens=WEBGPU_TOKENS, kind="text", prompt=WEBGPU_PROMPT)
    done = result["done"]
    assert done["error"] is None and done["deployment"] == "local-webgpu", (done["error"], done.get("attempts"), done)
    assert answer_text(result) == python_reference("webgpu", "text", WEBGPU_PROMPT, WEBGPU_TOKENS)
    note(f"webgpu (SwiftShader): {answer_text(result)!r} in {result['ms']:.0f} ms (load {info['info']['loadMs']:.0f} ms)")


def test_abort_stops_generation(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    open_local(page, edge_server, "engines=wasm&threads=2")
    result = chat(page, max_tokens=200, abort_after=3)
    done = result["done"]
    assert done["finish_reason"] == "abort" and done["complete"] is False, done
    assert 3 <= result["piecesLater"] <= 4, result  # at most the piece already in flight
    # The engine is free again: the next answer runs normally.
    after = chat(page)
    assert after["done"]["error"] is None and answer_text(after) == python_reference("wasm")


def test_no_webgpu_adapter_falls_back_to_wasm(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page(webgpu=False)  # no --enable-unsafe-webgpu: no adapter in this headless Chromium
    info = open_local(page, edge_server)
    assert info["probe"]["webgpu"]["available"] is False
    assert info["plan"]["engines"] == ["wasm"], info["plan"]
    assert info["plan"]["excluded"]["webgpu"]["code"] == "LLM_WEBGPU_001_E", info["plan"]
    assert info["engine"] == "wasm"
    result = chat(page)
    assert result["done"]["deployment"] == "local-wasm" and answer_text(result) == python_reference("wasm")


def test_without_a_local_engine_the_edge_server_answers(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    info = open_local(page, edge_server, "engines=none&edge=1")
    assert info["engine"] is None
    result = chat(page)
    done = result["done"]
    assert done["error"] is None and done["deployment"] == "edge" and done["complete"] is True, done
    assert answer_text(result)


def test_without_a_local_engine_or_an_edge_the_error_is_coded(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    open_local(page, edge_server, "engines=none")
    done = chat(page)["done"]
    assert done["complete"] is False and done["error"]["code"].startswith("LLM_"), done


def test_learned_state_survives_a_reload(edge_server: ProcessServer, new_page: NewPage) -> None:
    # An edge server that is down: its breaker opens; after a reload it is still open (IndexedDB).
    page = new_page()
    query = "engines=none&edge=http://127.0.0.1:9"
    open_local(page, edge_server, query)
    for _ in range(3):
        assert chat(page)["done"]["complete"] is False
    states = "window.__runtime.store.flush().then(() => JSON.stringify(window.__runtime.status().router))"
    before = page.evaluate(states)
    assert '"open"' in before, before
    open_local(page, edge_server, query)  # a reload: a new Pyodide, the same profile
    after = page.evaluate(states)
    assert '"open"' in after and page.evaluate("window.__runtime.storeError") is None, after
