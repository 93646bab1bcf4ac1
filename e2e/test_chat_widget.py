"""The <llm-chat> widget on the demo pages, driven like a user drives it.

index.html (the widget), routing.html (the widget with the router's moves shown
live) and offline.html (the widget kept offline by the service worker), each
with the real engine, the real router in Pyodide and the real edge server.
Query options (web/demo/demo_widget.js): engines=, edge=0, max_tokens=, fault=.
Screenshots of the pages, at desktop and phone widths, go to e2e/artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request

from e2e.conftest import ARTIFACTS, WEB_DIR, NewPage, note
from llm_runner_router.edge.testing.servers import ProcessServer

LOAD_TIMEOUT_MS = 300_000
ANSWER_TIMEOUT_MS = 180_000
SHOTS = ARTIFACTS / "screenshots"
SIZES = {"desktop": (1280, 860), "phone": (390, 844)}


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)


def ask(page: Page, text: str) -> dict[str, Any]:
    """Types the question and presses Enter, as a user does; → the llm-done event's detail."""
    before = page.evaluate("window.__log.filter((e) => e.type === 'llm-done').length")
    box = page.locator("llm-chat textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(f"window.__log.filter((e) => e.type === 'llm-done').length > {before}", timeout=ANSWER_TIMEOUT_MS)
    done: dict[str, Any] = page.evaluate("window.__log.filter((e) => e.type === 'llm-done').at(-1).detail")
    return done


def events(page: Page, type_: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("(t) => window.__log.filter((e) => e.type === t).map((e) => e.detail)", type_)
    return found


def last_answer(page: Page) -> str:
    """The last assistant bubble's text, without a marker the widget appended."""
    text: str = page.evaluate(
        """() => { const b = [...document.querySelector('llm-chat').shadowRoot.querySelectorAll('.msg.assistant')].at(-1);
                   if (!b) return ''; const c = b.cloneNode(true); c.querySelectorAll('.incomplete').forEach((m) => m.remove());
                   return c.textContent; }"""
    )
    return text


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size({"width": SIZES["desktop"][0], "height": SIZES["desktop"][1]})


def test_answers_locally_on_wasm(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    open_chat(page, f"{edge_server.url}/?engines=wasm&edge=0&max_tokens=24")
    done = ask(page, "What is the capital of France?")
    assert done["complete"] is True and done["error"] is None and done["deployment"] == "local-wasm", done
    deltas = events(page, "llm-delta")
    assert deltas and {d["deployment"] for d in deltas} == {"local-wasm"}
    assert last_answer(page) == "".join(d["text"] for d in deltas)
    badge = page.locator("llm-chat .badge")
    assert badge.get_attribute("data-deployment") == "local-wasm" and "WASM" in badge.inner_text()
    screenshot(page, "chat")
    note(f"widget on WASM: {last_answer(page)!r}")


def test_answers_locally_on_webgpu(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page(webgpu=True)
    # SwiftShader (slow): only when asked for; a short answer, and no offline copy downloading beside it.
    open_chat(page, f"{edge_server.url}/?engines=webgpu&software_adapter=1&edge=0&offline=0&max_tokens=6")
    done = ask(page, "What is the capital of France?")
    assert done["complete"] is True and done["deployment"] == "local-webgpu", done
    assert last_answer(page) and "WebGPU" in page.locator("llm-chat .badge").inner_text()


def test_a_local_failure_mid_answer_is_finished_by_the_edge_without_repeating(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/v1/chat/completions") else None)
    open_chat(page, f"{edge_server.url}/routing.html?engines=wasm&fault=wasm:6&max_tokens=40")
    done = ask(page, "Write one sentence about the sea.")
    assert done["complete"] is True and done["deployment"] == "edge", done
    assert events(page, "llm-restart") == []
    [switch] = events(page, "llm-switch")
    assert switch["from"] == "local-wasm" and switch["to"] == "edge" and switch["reason"] == "LLM_WASM_003_E", switch
    deltas = events(page, "llm-delta")
    local = "".join(d["text"] for d in deltas if d["deployment"] == "local-wasm")
    edge = "".join(d["text"] for d in deltas if d["deployment"] == "edge")
    assert local and edge
    # What the user sees is the local text, then the edge's, each once.
    assert last_answer(page) == local + edge
    # The edge was asked to continue exactly the text shown, and what it sent is
    # its whole continuation: the same request, answered again without streaming.
    [request] = sent
    body = json.loads(request.post_data or "{}")
    assert body["continue_final_message"] is True and body["messages"][-1] == {"role": "assistant", "content": local}, body
    replay = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    again = httpx.post(f"{edge_server.url}/v1/chat/completions", json=replay, timeout=120).json()
    assert again["choices"][0]["message"]["content"] == edge, (again, edge)
    # The routing page shows the move and the breakers.
    page.wait_for_function("document.querySelectorAll('#events li').length >= 2")
    assert "local-wasm" in page.locator("#breakers").inner_text()
    screenshot(page, "routing")
    note(f"failover mid-answer: local {local!r} + edge {edge!r}")


def test_the_stop_button_cancels(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    open_chat(page, f"{edge_server.url}/?engines=wasm&edge=0&max_tokens=400")
    box = page.locator("llm-chat textarea")
    box.fill("Write a long story about a lighthouse keeper.")
    box.press("Enter")
    page.wait_for_function("window.__log.filter((e) => e.type === 'llm-delta').length >= 3", timeout=ANSWER_TIMEOUT_MS)
    page.locator("llm-chat button.stop").click()
    page.wait_for_function("window.__log.some((e) => e.type === 'llm-done')", timeout=30_000)
    done = events(page, "llm-done")[-1]
    assert done["complete"] is False and done["finish_reason"] == "abort", done
    shown, pieces = last_answer(page), len(events(page, "llm-delta"))
    page.wait_for_timeout(1500)
    assert last_answer(page) == shown and len(events(page, "llm-delta")) == pieces  # nothing more arrived
    assert "stopped" in page.locator("llm-chat .msg.assistant .incomplete").inner_text()
    assert page.locator("llm-chat button.stop").is_disabled() and page.locator("llm-chat button.send").is_enabled()


def test_no_local_engine_and_no_edge_is_a_clear_coded_error(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    open_chat(page, f"{edge_server.url}/?engines=none&edge=0")
    error = page.locator("llm-chat .error").first
    assert error.get_attribute("data-code") == "LLM_MODEL_008_E"
    assert "No engine" in error.inner_text()
    done = ask(page, "Hello?")  # answered at once with a coded error, never a hang
    assert done["complete"] is False and done["error"]["code"].startswith("LLM_"), done
    screenshot(page, "no-engine")


def _bundle_copy(dest: Path) -> Path:
    """dist/web hard-linked into dest (models included, no bytes copied): a bundle this test may rebuild."""
    shutil.copytree(WEB_DIR, dest, copy_function=os.link)
    return dest


# The service worker's caches (sw.js); the page keeps its Python snapshot in its own (python_snapshot.js).
SW_CACHES = "caches.keys().then((names) => names.filter((n) => n.startsWith('llm-router-')))"


def _rebuild(bundle: Path) -> None:
    """What a new build does to the service worker: new bytes (its version line)."""
    sw = bundle / "sw.js"
    text = sw.read_text(encoding="utf-8")
    sw.unlink()  # a hard link: write a new file, not into dist/web's
    sw.write_text(text.replace("const VERSION = '", "const VERSION = 'next-", 1), encoding="utf-8")


def test_offline_reload_answers_from_the_service_worker_cache(new_page: NewPage, web_bundle: Path, tmp_path: Path) -> None:
    bundle = _bundle_copy(tmp_path / "web")
    server = ProcessServer(["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": str(tmp_path / "data"), "LLM_ROUTER_WEB_DIR": str(bundle)})
    url = f"{server.url}/offline.html?engines=wasm&max_tokens=16"
    page = new_page()
    with server:
        open_chat(page, url)
        page.wait_for_function("window.__offline && window.__offline.state !== 'installing'", timeout=LOAD_TIMEOUT_MS)
        status = page.evaluate("window.__offline")
        assert status["state"] == "ready" and status["offline"] == "full" and status["models"] == ["wasm"], status
        first = ask(page, "What is the capital of France?")
        assert first["complete"] is True and first["deployment"] == "local-wasm", first

        # A new build: the reload installs the new worker, which replaces the old cache.
        old = page.evaluate(SW_CACHES)
        _rebuild(bundle)
        page.reload()
        page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function("window.__offline && window.__offline.version.startsWith('next-')", timeout=LOAD_TIMEOUT_MS)
        new = page.evaluate(SW_CACHES)
        assert len(old) == 1 and len(new) == 1 and new[0] != old[0] and "next-" in new[0], (old, new)
    # The edge server is gone: the page comes back from the cache and answers on this device.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=2)
    response = page.reload()
    assert response is not None and response.from_service_worker
    # The panel says at once that the service worker is active, not "starting…" (issue 14).
    page.wait_for_function("document.getElementById('sw').dataset.state === 'active'", timeout=15_000)
    assert "kept offline" in page.locator("#sw").inner_text()
    page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)
    assert page.evaluate("window.__chat.runtime.timings.snapshot") == "restored"  # Python too, offline
    done = ask(page, "What is the capital of France?")
    assert done["complete"] is True and done["deployment"] == "local-wasm", done
    assert last_answer(page) == "".join(d["text"] for d in events(page, "llm-delta"))
    page.wait_for_function("document.getElementById('edge-server').textContent.startsWith('unreachable')", timeout=15_000)
    assert page.locator("#sw").get_attribute("data-state") == "active"
    assert_answer_on_screen_at_phone_width(page)
    screenshot(page, "offline")
    note(f"offline reload answered on local-wasm: {last_answer(page)!r}")


def test_the_chat_page_itself_reloads_offline_and_answers(new_page: NewPage, web_bundle: Path, tmp_path: Path) -> None:
    """`/` opts in like offline.html: with the server stopped, a reload comes from the service worker and answers."""
    server = ProcessServer(
        ["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": str(tmp_path / "data"), "LLM_ROUTER_WEB_DIR": str(web_bundle)}
    )
    page = new_page()
    with server:
        open_chat(page, f"{server.url}/?engines=wasm&max_tokens=16")
        page.wait_for_function("window.__log.some((e) => e.type === 'llm-offline')", timeout=LOAD_TIMEOUT_MS)
        [status] = events(page, "llm-offline")
        assert status["state"] == "ready" and status["offline"] == "full" and status["models"] == ["wasm"], status
        first = ask(page, "What is the capital of France?")
        assert first["complete"] is True and first["deployment"] == "local-wasm", first
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=2)
    response = page.reload()
    assert response is not None and response.from_service_worker
    page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)
    done = ask(page, "What is the capital of France?")
    assert done["complete"] is True and done["deployment"] == "local-wasm", done
    assert last_answer(page) == "".join(d["text"] for d in events(page, "llm-delta"))
    assert_answer_on_screen_at_phone_width(page)
    note(f"/ reloaded offline, answered on local-wasm: {last_answer(page)!r}")


def assert_answer_on_screen_at_phone_width(page: Page) -> None:
    """At phone width, with the input in view (as after typing), the answer is on the screen, right above
    the input, not above the top of the screen with empty space below it (issue 14)."""
    width, height = SIZES["phone"]
    page.set_viewport_size({"width": width, "height": height})
    try:
        page.locator("llm-chat textarea").focus()
        page.locator("llm-chat textarea").scroll_into_view_if_needed()
        box: dict[str, float] = page.evaluate(
            """() => { const root = document.querySelector('llm-chat').shadowRoot;
                       const answer = [...root.querySelectorAll('.msg.assistant')].at(-1).getBoundingClientRect();
                       const form = root.querySelector('form').getBoundingClientRect();
                       return { top: answer.top, bottom: answer.bottom, form: form.top, height: innerHeight,
                                width: document.documentElement.scrollWidth }; }"""
        )
        assert box["top"] >= 0 and box["bottom"] <= box["height"], box  # the answer is on the screen
        assert box["form"] - box["bottom"] < 80, box  # right above the input: no empty space between
        assert box["width"] <= width, box  # nothing wider than the screen
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{page.url.split('/')[-1].split('?')[0] or 'index'}-phone-viewport.png"))
    finally:
        page.set_viewport_size({"width": SIZES["desktop"][0], "height": SIZES["desktop"][1]})


def test_a_quota_too_small_for_the_model_is_a_coded_warning_and_the_chat_still_works(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    # Room for the page and runtime (~57 MB) but not the model (~100 MB more).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": edge_server.url, "quotaSize": 90_000_000})
    open_chat(page, f"{edge_server.url}/offline.html?engines=wasm&max_tokens=12")
    page.wait_for_function("window.__offline && window.__offline.state !== 'installing'", timeout=LOAD_TIMEOUT_MS)
    status = page.evaluate("window.__offline")
    assert status["state"] == "ready" and status["offline"] == "shell", status
    assert status["error"]["code"] == "LLM_MEM_005_E" and "quota" in status["error"]["message"], status
    shown = page.locator("llm-chat .error[data-code='LLM_MEM_005_E']")
    assert "offline" in shown.inner_text()
    done = ask(page, "What is the capital of France?")
    assert done["complete"] is True and done["deployment"] == "local-wasm", done
    screenshot(page, "offline-quota")


def test_a_bundle_without_the_browser_model_answers_through_the_edge(new_page: NewPage, tmp_path: Path) -> None:
    """`llm-runner-router web-bundle --no-model`: the page finds no model of its own and the edge answers."""
    from llm_runner_router.edge.web_bundle import build

    bundle = tmp_path / "web"
    build(bundle, progress=False)
    assert not (bundle / "models").exists()
    data = tmp_path / "data"
    with ProcessServer(["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": str(data), "LLM_ROUTER_WEB_DIR": str(bundle)}) as server:
        page = new_page()
        open_chat(page, f"{server.url}/?engines=wasm&max_tokens=16")
        done = ask(page, "What is the capital of France?")
        assert done["complete"] is True and done["error"] is None and done["deployment"] == "edge", done
        assert last_answer(page)
