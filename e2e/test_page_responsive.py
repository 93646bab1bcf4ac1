"""The page keeps working while the local engine writes: the engine runs in a Web Worker.

Coarse checks only (bench/page_responsiveness.py measures frame gaps, long
tasks and Stop latency against targets): while the widget answers on WASM,
requestAnimationFrame keeps firing, more often than pieces of the answer
arrive, and keys typed into the chat box arrive before the answer ends.
"""

from __future__ import annotations

from playwright.sync_api import Page

from e2e.test_chat_widget import ANSWER_TIMEOUT_MS, open_chat
from llm_runner_router.edge.testing.servers import ProcessServer

# Counts painted frames from now on (window.__frames).
FRAME_COUNTER = """() => {
  window.__frames = 0;
  const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""
COUNT = "(type) => window.__log.filter((e) => e.type === type).length"


def test_widget_answers_while_the_page_keeps_painting_and_typing(edge_server: ProcessServer, page: Page) -> None:
    open_chat(page, f"{edge_server.url}/?engines=wasm&threads=2&edge=0&offline=0&max_tokens=96")
    engine = page.evaluate("window.__chat.runtime.engines.wasm.info")
    assert engine["loaded"] is True and engine["ep"] == "wasm"
    page.evaluate(FRAME_COUNTER)
    box = page.locator("llm-chat textarea")
    box.fill("Write a long story about a lighthouse keeper and the sea.")
    box.press("Enter")
    page.wait_for_function(f"({COUNT})('llm-delta') >= 2", timeout=ANSWER_TIMEOUT_MS)
    frames_at_first_words = page.evaluate("window.__frames")

    box.press_sequentially("next question")  # typed while the answer is being written
    typed_before_the_end = page.evaluate(f"({COUNT})('llm-done') === 0")
    assert box.input_value() == "next question"

    page.wait_for_function(f"({COUNT})('llm-done') === 1", timeout=ANSWER_TIMEOUT_MS)
    done = page.evaluate("window.__log.find((e) => e.type === 'llm-done').detail")
    frames = page.evaluate("window.__frames") - frames_at_first_words
    deltas = page.evaluate(COUNT, "llm-delta")
    assert done["deployment"] == "local-wasm" and done["error"] is None, done
    assert deltas >= 20, deltas  # a real answer, long enough to watch the page during it
    # The page painted during the answer, at least once per piece of it (with the
    # engine on the page's thread, worker=0, it painted about once per ten), and
    # took the keys before the answer ended.
    assert frames >= deltas and typed_before_the_end, (frames, deltas, typed_before_the_end, done)
