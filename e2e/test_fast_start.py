"""What makes the page start fast, working (bench/browser_failover.py measures how fast).

- The first visit loads the WASM engine beside Python's boot (firstVisitEngine in
  runtime.js): the plan takes that early engine.
- The first load keeps a memory snapshot of the page's Python (python_snapshot.js);
  a reload restores it and answers. A snapshot that does not restore is dropped:
  the page boots Python afresh, answers, and keeps a good snapshot again.
"""

from __future__ import annotations

from playwright.sync_api import Page

from e2e.test_chat_widget import LOAD_TIMEOUT_MS, ask, open_chat
from llm_runner_router.edge.testing.servers import ProcessServer

TIMINGS = "window.__chat.runtime.timings"
# Overwrites the kept snapshot (python_snapshot.js's cache) with bytes that are not one.
SPOIL = """async () => {
  const cache = await caches.open('llm-runner-router:python-snapshot');
  const keys = await cache.keys();
  for (const k of keys) await cache.put(k, new Response(new Uint8Array(4096).fill(7)));
  return keys.length;
}"""

# One snapshot kept, a real one (a Python heap is tens of MB).
KEPT = """async () => {
  const cache = await caches.open('llm-runner-router:python-snapshot');
  const keys = await cache.keys();
  return keys.length === 1 && (await (await cache.match(keys[0])).arrayBuffer()).byteLength > 1e6;
}"""


def _reload(page: Page) -> None:
    page.reload()
    page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)


def _answers_locally(page: Page) -> None:
    done = ask(page, "Say hello.")
    assert done["complete"] is True and done["deployment"] == "local-wasm" and done["error"] is None, done


def test_first_visit_engine_early_and_python_restored_from_its_snapshot(edge_server: ProcessServer, page: Page) -> None:
    # No engine named: this browser has no WebGPU, so WASM comes first, and loads beside Python.
    open_chat(page, f"{edge_server.url}/offline.html?offline=0&edge=0&max_tokens=8")
    first = page.evaluate(TIMINGS)
    assert first["earlyEngine"] is True and first["snapshot"] == "made", first
    _answers_locally(page)
    page.wait_for_function(KEPT, timeout=LOAD_TIMEOUT_MS)

    _reload(page)
    assert page.evaluate(TIMINGS)["snapshot"] == "restored"
    _answers_locally(page)

    assert page.evaluate(SPOIL) == 1
    _reload(page)
    assert page.evaluate(TIMINGS)["snapshot"] == "made"  # the spoilt one dropped, Python booted afresh
    _answers_locally(page)
    page.wait_for_function(KEPT, timeout=LOAD_TIMEOUT_MS)
    _reload(page)
    assert page.evaluate(TIMINGS)["snapshot"] == "restored"
    _answers_locally(page)
