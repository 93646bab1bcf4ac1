"""Long prompts in the <llm-chat> widget: refused or routed by the context window before any work, read in chunks otherwise.

The local model (SmolLM2-135M) reads 8192 tokens; the edge server's llama.cpp
runs it with 2048 (its default n_ctx), which the page learns from /v1/models.
So a paste longer than 8192 tokens fits nowhere and is refused at once with
LLM_RUNTIME_003_E, whether or not the edge is there, and nothing is sent to it;
a prompt only the edge can take (the local window made smaller with
``?context=``) goes to the edge; one that fits here is read in chunks, with
progress, and Stop ends it.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Request

from e2e.conftest import NewPage, note
from e2e.test_chat_widget import ANSWER_TIMEOUT_MS, events, open_chat
from llm_runner_router.edge.testing.servers import ProcessServer

# The length of the paste that froze the tab (31,523 characters), as a log a user might paste: 10.6k tokens.
PASTE = " ".join(
    f"Entry {i}: the keeper logged the ship Aurora-{i * 7 % 13} passing the light at {i % 24:02d}:{i * 11 % 60:02d}, wind {i % 9} knots."
    for i in range(2000)
)[:31_523]
SENTENCE = "The lighthouse keeper wrote in his log that the sea was calm and the ships were late. "
READING = "/^reading your message… \\d+ %$/"  # what the answer's bubble says while the prompt is read
LAST_BUBBLE = "[...document.querySelector('llm-chat').shadowRoot.querySelectorAll('.msg.assistant')].at(-1)?.textContent ?? ''"


def send(page: Page, text: str) -> float:
    """Puts the text in the box and presses Enter; → the page's clock just before (ms)."""
    box = page.locator("llm-chat textarea")
    box.fill(text)
    started: float = page.evaluate("performance.now()")
    box.press("Enter")
    return started


def wait_done(page: Page, before: int = 0) -> dict[str, Any]:
    page.wait_for_function(f"window.__log.filter((e) => e.type === 'llm-done').length > {before}", timeout=ANSWER_TIMEOUT_MS)
    done: dict[str, Any] = page.evaluate("window.__log.filter((e) => e.type === 'llm-done').at(-1)")
    return done


def chat_requests(page: Page) -> list[Request]:
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/v1/chat/completions") else None)
    return sent


def test_long_paste_refused_or_routed_with_its_code(edge_server: ProcessServer, new_page: NewPage) -> None:
    timings: dict[str, float] = {}
    for case, query in (("no edge", "edge=0"), ("edge", "")):
        page = new_page()
        sent = chat_requests(page)
        open_chat(page, f"{edge_server.url}/?engines=wasm&max_tokens=16&{query}")
        tokens = page.evaluate("(text) => window.__chat.runtime.countTokens([{role: 'user', content: text}])", PASTE)
        assert tokens > 8192, tokens  # longer than the model's window here, and than the edge's 2048
        started = send(page, PASTE)
        done = wait_done(page)
        timings[case] = done["t"] - started
        error = done["detail"]["error"]
        assert done["detail"]["complete"] is False and error["code"] == "LLM_RUNTIME_003_E", done
        assert f"{tokens} tokens" in error["message"] and "context window is 8192" in error["message"], error
        shown = page.locator("llm-chat .error").last
        assert shown.get_attribute("data-code") == "LLM_RUNTIME_003_E" and "LLM_RUNTIME_003_E" in shown.inner_text()
        # Before any work: nothing read here, nothing sent to the edge, the answer bubble gone.
        assert events(page, "llm-prefill") == [] and events(page, "llm-delta") == [] and sent == [], case
        assert page.locator("llm-chat .msg.assistant").count() == 0
        assert page.locator("llm-chat button.send").is_enabled()
        # Under a second from Enter to the coded refusal, whatever the machine (100 ms is the target; see the note).
        assert timings[case] < 1000, timings

    # A prompt only the edge can take goes there, before any work here: the local
    # window made 512 tokens, a 1000-token prompt, the edge's 2048.
    page = new_page()
    sent = chat_requests(page)
    open_chat(page, f"{edge_server.url}/?engines=wasm&max_tokens=8&context=512")
    prompt = SENTENCE * 56 + "Summarise the log in one sentence."
    tokens = page.evaluate("(text) => window.__chat.runtime.countTokens([{role: 'user', content: text}])", prompt)
    assert 512 < tokens < 2048, tokens
    send(page, prompt)
    done = wait_done(page)["detail"]
    assert done["complete"] is True and done["deployment"] == "edge" and done["error"] is None, str(done)
    assert {d["deployment"] for d in events(page, "llm-delta")} == {"edge"}
    assert events(page, "llm-switch") == [] and events(page, "llm-prefill") == [] and len(sent) == 1
    note(
        f"long paste ({len(PASTE)} chars, {tokens} tokens for the routed one): refused with LLM_RUNTIME_003_E "
        f"{timings['no edge']:.0f} ms after Enter without the edge, {timings['edge']:.0f} ms with it (its 2048 known); "
        f"a {tokens}-token prompt over a 512-token local window answered by the edge"
    )


def test_stop_during_prefill(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    open_chat(page, f"{edge_server.url}/?engines=wasm&edge=0&max_tokens=32")
    prompt = SENTENCE * 390 + "Summarise the log."  # about 7000 tokens: fits the 8192 here, and takes a while to read
    tokens = page.evaluate("(text) => window.__chat.runtime.countTokens([{role: 'user', content: text}])", prompt)
    assert 6000 < tokens < 8192, tokens
    page.evaluate("window.__frames = 0; (function tick() { window.__frames++; requestAnimationFrame(tick); })()")
    started = send(page, prompt)
    page.wait_for_function(f"{READING}.test({LAST_BUBBLE})", timeout=ANSWER_TIMEOUT_MS)
    frames_before = page.evaluate("window.__frames")
    page.wait_for_function("window.__log.filter((e) => e.type === 'llm-prefill').length >= 4", timeout=ANSWER_TIMEOUT_MS)
    # The page kept painting while the model read (coarse: frames went on).
    assert page.evaluate("window.__frames") > frames_before
    prefill = events(page, "llm-prefill")
    assert prefill[-1]["deployment"] == "local-wasm" and 0 < prefill[-1]["read"] < prefill[-1]["total"] == tokens, prefill[-1]
    assert all(b["read"] > a["read"] for a, b in zip(prefill, prefill[1:], strict=False))
    # When the click reaches the page (Playwright's click itself waits for frames between chunks).
    page.evaluate(
        "document.querySelector('llm-chat').shadowRoot.querySelector('button.stop')"
        ".addEventListener('click', () => (window.__stopAt = performance.now()), { capture: true })"
    )
    page.locator("llm-chat button.stop").click()
    done = wait_done(page)
    stopped_at: float = page.evaluate("window.__stopAt")
    latency = done["t"] - stopped_at
    detail = done["detail"]
    assert detail["complete"] is False and detail["finish_reason"] == "abort" and detail["error"] is None, detail
    assert page.locator("llm-chat .error").count() == 0 and events(page, "llm-delta") == []
    assert latency < 2000, latency  # promptly, on any machine (the target, 200 ms, is measured: see the note)
    reads = events(page, "llm-prefill")
    page.wait_for_timeout(1500)
    assert len(events(page, "llm-prefill")) == len(reads)  # the engine stopped reading
    assert page.locator("llm-chat button.stop").is_disabled() and page.locator("llm-chat button.send").is_enabled()
    # The engine is free again: the next question is answered here.
    send(page, "What is the capital of France?")
    after = wait_done(page, 1)["detail"]
    assert after["complete"] is True and after["deployment"] == "local-wasm", after
    last = reads[-1]
    rate = last["read"] / ((stopped_at - started) / 1000)
    note(
        f"Stop during prefill of a {tokens}-token prompt ({last['read']} read, {len(reads)} chunks, ~{rate:.0f} tokens/s "
        f"with the first chunks): the answer ended {latency:.0f} ms after the click"
    )
