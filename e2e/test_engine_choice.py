"""Engines a device can really use, in headless Chromium with WebGPU on SwiftShader.

SwiftShader is a software adapter (a CPU rasterizer: seconds a token): the plan
leaves it out with LLM_WEBGPU_007_E and WASM answers; `software_adapter=1` is the
explicit opt-in its own tests use (test_local_engine.py, test_chat_widget.py).
On /routing.html with the default engines, a local failure mid-answer is then
finished by the edge server, not by WebGPU on SwiftShader (issue 14: it hung at
"It's a▍" for minutes), and the fault form shows the fault in force. An engine
that hangs mid-answer is moved to the edge at the page's stall limit.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Request

from e2e.conftest import NewPage, note
from e2e.test_chat_widget import ask, events, last_answer, open_chat
from e2e.test_local_engine import chat, open_local
from llm_runner_router.edge.testing.servers import ProcessServer
from llm_runner_router.web.page_router import BROWSER_STREAM

SOFTWARE_ADAPTER = "LLM_WEBGPU_007_E"
STALL_LIMIT_S = BROWSER_STREAM["stall_timeout"]  # the page's own


def test_swiftshader_is_not_chosen_by_default(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page(webgpu=True)
    info = open_local(page, edge_server)
    assert info["probe"]["webgpu"]["available"] is True, info["probe"]  # there is an adapter: SwiftShader
    assert info["plan"]["engines"] == ["wasm"], info["plan"]
    excluded = info["plan"]["excluded"]["webgpu"]
    assert excluded["code"] == SOFTWARE_ADAPTER, excluded
    assert info["engine"] == "wasm"
    result = chat(page, max_tokens=6)
    assert result["done"]["error"] is None and result["done"]["deployment"] == "local-wasm", result["done"]
    note(f"SwiftShader left out: {excluded['message']}")


def test_routing_with_the_default_engines_and_a_mid_answer_fault_finishes_on_the_edge(
    edge_server: ProcessServer, new_page: NewPage
) -> None:
    page = new_page(webgpu=True)  # as in the issue: WebGPU on SwiftShader is there to be (wrongly) picked
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/v1/chat/completions") else None)
    open_chat(page, f"{edge_server.url}/routing.html?fault=wasm:5&max_tokens=40")
    assert page.evaluate("window.__chat.runtime.plan.excluded.webgpu.code") == SOFTWARE_ADAPTER
    # The plan beside the chat names the engine left out, with its code.
    page.wait_for_function(f"document.getElementById('plan').textContent.includes('{SOFTWARE_ADAPTER}')")
    done = ask(page, "Write one sentence about the sea.")
    assert done["complete"] is True and done["deployment"] == "edge", done
    assert events(page, "llm-restart") == []
    [switch] = events(page, "llm-switch")
    assert switch["from"] == "local-wasm" and switch["to"] == "edge", switch
    deltas = events(page, "llm-delta")
    assert {d["deployment"] for d in deltas} == {"local-wasm", "edge"}  # never local-webgpu
    local = "".join(d["text"] for d in deltas if d["deployment"] == "local-wasm")
    edge = "".join(d["text"] for d in deltas if d["deployment"] == "edge")
    assert local and edge
    assert last_answer(page) == local + edge  # each part once: nothing repeated
    assert len(sent) == 1  # the edge was asked once, to continue the text shown
    note(f"routing, default engines: local {local!r} + edge {edge!r}")


def test_the_routing_fault_form_shows_the_fault_in_force(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    page.goto(f"{edge_server.url}/routing.html?engines=none&edge=0&fault=wasm:5:LLM_ONNX_003_E")
    page.wait_for_function("document.getElementById('fault-now').textContent.startsWith('Now:')")
    assert page.input_value("#after") == "5"
    assert page.input_value("#code") == "LLM_ONNX_003_E"
    page.goto(f"{edge_server.url}/routing.html?engines=none&edge=0&fault=wasm:12")
    page.wait_for_function("document.getElementById('fault-now').textContent.startsWith('Now:')")
    assert page.input_value("#after") == "12" and page.input_value("#code") == ""


def test_a_local_engine_that_hangs_mid_answer_is_moved_to_the_edge_at_the_page_stall_limit(
    edge_server: ProcessServer, new_page: NewPage
) -> None:
    # The engine stops answering after 4 pieces (no error, no token): only the router's
    # watchdog, a timer in Pyodide's browser event loop, can move the answer on.
    page = new_page()
    open_chat(page, f"{edge_server.url}/routing.html?engines=wasm&fault=wasm:4:stall&max_tokens=40")
    assert page.input_value("#after") == "4" and page.input_value("#code") == "stall"
    done = ask(page, "Write one sentence about the sea.")
    assert done["complete"] is True and done["deployment"] == "edge", done
    [switch] = events(page, "llm-switch")
    assert switch["from"] == "local-wasm" and switch["to"] == "edge" and switch["reason"] == "LLM_STREAM_002_E", switch
    log: list[dict[str, Any]] = page.evaluate("window.__log.map((e) => ({type: e.type, t: e.t, deployment: e.detail.deployment}))")
    last_local = max(e["t"] for e in log if e["type"] == "llm-delta" and e["deployment"] == "local-wasm")
    switched = next(e["t"] for e in log if e["type"] == "llm-switch")
    waited = (switched - last_local) / 1000
    assert STALL_LIMIT_S - 0.5 <= waited <= STALL_LIMIT_S + 10, waited  # the page's stall limit, not minutes
    deltas = events(page, "llm-delta")
    local = "".join(d["text"] for d in deltas if d["deployment"] == "local-wasm")
    edge = "".join(d["text"] for d in deltas if d["deployment"] == "edge")
    assert local and edge and last_answer(page) == local + edge
    note(f"hung engine moved to the edge after {waited:.1f} s: local {local!r} + edge {edge!r}")
