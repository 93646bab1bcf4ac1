"""The <llm-chat> widget embedded in a page on another origin, as the snippet on `/` says.

A second static server on 127.0.0.1 (another port: another origin) serves a
page holding only the snippet, which loads the widget and everything it needs
from the edge server's origin. The page loads and answers on the device whether
or not the edge server lets that origin call its API (`server.cors_origins`);
while it does not, the widget says so with LLM_AUTH_005_E naming the setting,
and once it does, the edge answers. A page that is not cross-origin isolated
runs WASM on one thread; served with COOP/COEP, on more.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from e2e.conftest import NewPage, note
from e2e.test_chat_widget import LOAD_TIMEOUT_MS, ask, events, last_answer
from llm_runner_router.core import catalogue
from llm_runner_router.edge.testing.servers import ProcessServer, free_port

REFUSED = catalogue.AUTH_ORIGIN_NOT_ALLOWED.code
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}

# The snippet shown on `/`, plus what the tests read: every event the widget sends, and when it is ready.
PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>a page on another site</title>
<h1>Someone else's page</h1>
<script type="module" src="{edge}/lib/llm_chat.js"></script>
<llm-chat edge-url="{edge}" engines="{engines}" max-tokens="16"></llm-chat>
<script type="module">
  window.__log = [];
  for (const type of ['llm-ready', 'llm-delta', 'llm-switch', 'llm-restart', 'llm-done', 'llm-error', 'llm-offline']) {{
    document.addEventListener(type, (ev) => window.__log.push({{ type, detail: ev.detail, t: performance.now() }}));
  }}
  await customElements.whenDefined('llm-chat');
  const chat = document.querySelector('llm-chat');
  chat.ready.then(() => (window.__ready = true), () => (window.__ready = true));
</script>
</html>
"""


class SecondOrigin:
    """A plain static server on another 127.0.0.1 port, serving pages that embed the widget."""

    def __init__(self, folder: Path, isolated: bool) -> None:
        self.folder = folder
        headers = ISOLATION if isolated else {}

        class Handler(SimpleHTTPRequestHandler):
            def end_headers(self) -> None:
                for name, value in headers.items():
                    self.send_header(name, value)
                super().end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def page(self, edge: str, engines: str, name: str = "embed.html") -> str:
        (self.folder / name).write_text(PAGE.format(edge=edge, engines=engines), encoding="utf-8")
        return f"{self.url}/{name}"


@contextmanager
def second_origin(folder: Path, isolated: bool = False) -> Iterator[SecondOrigin]:
    folder.mkdir(parents=True, exist_ok=True)
    server = SecondOrigin(folder, isolated)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=10)


def open_embedded(page: Page, url: str) -> dict[str, Any]:
    """Opens the page and waits for the widget; → its runtime's plan and the page's isolation."""
    page.goto(url)
    page.wait_for_function("window.__ready === true", timeout=LOAD_TIMEOUT_MS)
    state: dict[str, Any] = page.evaluate(
        """() => { const c = document.querySelector('llm-chat');
                   return { isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency,
                            plan: c.runtime && c.runtime.plan, engine: c.runtime && c.runtime.engine }; }"""
    )
    return state


def refusal_shown(page: Page) -> str:
    """The widget's coded note that the edge refuses this origin (it comes once the widget has loaded)."""
    shown = page.locator(f"llm-chat .error[data-code='{REFUSED}']")
    shown.wait_for(timeout=30_000)
    text = shown.inner_text()
    assert "server.cors_origins" in text, text
    return text


def test_embedded_from_another_origin_it_loads_answers_on_the_device_and_says_the_edge_refuses_it(
    edge_server: ProcessServer, new_page: NewPage, tmp_path: Path
) -> None:
    with second_origin(tmp_path / "site") as site:
        page = new_page()
        state = open_embedded(page, site.page(edge_server.url, "wasm"))
        # Not cross-origin isolated: WASM on one thread, and the plan says why.
        assert state["isolated"] is False and state["engine"] == "wasm", state
        assert state["plan"]["threads"] == 1, state["plan"]
        # The edge server (no server.cors_origins) refuses this origin: said at once, with the origin to add.
        text = refusal_shown(page)
        assert site.url in text, text
        assert [e for e in events(page, "llm-error") if e["code"] == REFUSED]
        done = ask(page, "What is the capital of France?")
        assert done["complete"] is True and done["error"] is None and done["deployment"] == "local-wasm", done
        assert last_answer(page) == "".join(d["text"] for d in events(page, "llm-delta"))
        note(f"embedded from {site.url}: answered on local-wasm, 1 thread: {last_answer(page)!r}")


def test_a_refused_origin_is_told_apart_from_a_server_that_is_down(edge_server: ProcessServer, new_page: NewPage, tmp_path: Path) -> None:
    """No local engine: the answer needs the edge, which refuses this origin -> the coded refusal, never a bare failure."""
    with second_origin(tmp_path / "site") as site:
        page = new_page()
        open_embedded(page, site.page(edge_server.url, "none"))
        refusal_shown(page)
        done = ask(page, "Hello?")
        assert done["complete"] is False and done["error"]["code"] == REFUSED, done
        assert "server.cors_origins" in done["error"]["message"], done
        assert page.locator(f"llm-chat .error[data-code='{REFUSED}']").count() == 2  # at load, and for the answer
        # The same client against a port nothing listens on: down, not refused.
        down = f"http://127.0.0.1:{free_port()}"
        codes = page.evaluate(
            """async ([edge, down]) => {
                 const { EdgeClient } = await import(`${edge}/lib/edge.js`);
                 const refused = await new EdgeClient(edge).check();
                 const gone = await new EdgeClient(down).check();
                 return [refused && refused.code, gone && gone.code];
               }""",
            [edge_server.url, down],
        )
        assert codes == [REFUSED, catalogue.NET_CONNECTION_FAILED.code], codes


def test_an_allowed_origin_is_answered_by_the_edge_and_an_isolated_page_gets_threads(
    web_bundle: Path, new_page: NewPage, tmp_path: Path
) -> None:
    with second_origin(tmp_path / "site", isolated=True) as site:
        env = {
            "LLM_ROUTER_DATA_DIR": str(tmp_path / "data"),
            "LLM_ROUTER_WEB_DIR": str(web_bundle),
            "LLM_ROUTER__SERVER__CORS_ORIGINS": site.url,
        }
        with ProcessServer(["--host", "127.0.0.1"], env=env) as server:
            page = new_page()
            state = open_embedded(page, site.page(server.url, "none"))
            # COOP/COEP on the embedding page: isolated, and every file still loaded from the edge's origin.
            assert state["isolated"] is True, state
            assert state["plan"]["threads"] >= min(state["cores"], 2), state  # two on a two-core machine
            done = ask(page, "What is the capital of France?")
            assert done["complete"] is True and done["error"] is None and done["deployment"] == "edge", done
            assert last_answer(page)
            page.wait_for_timeout(500)
            assert page.locator("llm-chat .error").count() == 0
            assert not events(page, "llm-error")
            note(f"embedded from an allowed, isolated origin: edge answered {last_answer(page)!r}, plan threads {state['plan']['threads']}")
