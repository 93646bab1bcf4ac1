"""Fixtures for the browser end-to-end tests (run with ``make e2e``: ``python -m pytest e2e``).

- ``web_bundle``: dist/web brought up to date by build/web_bundle.py (incremental: a
  second or so when nothing changed), so a test never runs against a stale core.
- ``edge_server``: the real edge server (``python -m edge_server``, what
  ``llm-runner-router serve`` runs) on a free 127.0.0.1 port, serving the bundle at /,
  its data in a temporary directory.
- ``new_page``: a factory ``new_page(webgpu=False, isolate=True)`` giving a Page in a
  fresh Chromium profile (e2e/browser.py). Console messages and page errors stream
  to stdout as they come (live with ``-s``; otherwise in the report of a failed
  test); when a test fails, each page's screenshot and console log are saved under
  e2e/artifacts/<test>/.
- ``page``: ``new_page()`` with the defaults.
- ``note(text)``: a line for the terminal summary ("e2e notes"), e.g. timings.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Playwright, sync_playwright

from e2e.browser import launch
from llm_runner_router.edge.testing.servers import ProcessServer

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WEB_DIR = Path(os.environ.get("LLM_ROUTER_WEB_DIR") or REPO / "dist" / "web")


# Lines a test wants seen even when it passes (timings, counts): `note(...)`; printed
# in the terminal summary under "e2e notes".
NOTES: list[str] = []


def note(text: str) -> None:
    NOTES.append(text)
    print(text, flush=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if NOTES:
        terminalreporter.section("e2e notes")
        for line in NOTES:
            terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keeps each phase's report on the test item, for new_page's teardown to see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def web_bundle() -> Path:
    started = time.monotonic()
    env = {**os.environ, "LLM_ROUTER_WEB_DIR": str(WEB_DIR)}
    subprocess.run([sys.executable, str(REPO / "build" / "web_bundle.py")], cwd=REPO, check=True, env=env)
    print(f"e2e: web bundle ready in {time.monotonic() - started:.1f}s", flush=True)
    return WEB_DIR


@pytest.fixture(scope="session")
def edge_server(web_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    data = tmp_path_factory.mktemp("edge-data")
    started = time.monotonic()
    server = ProcessServer(["--host", "127.0.0.1"], env={"LLM_ROUTER_DATA_DIR": str(data), "LLM_ROUTER_WEB_DIR": str(web_bundle)})
    with server:
        print(f"e2e: edge server on {server.url} in {time.monotonic() - started:.1f}s (log: {server.log})", flush=True)
        yield server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


class PageLog:
    """What a page said: console messages and uncaught errors, also streamed to stdout."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.started = time.monotonic()

    def add(self, kind: str, text: str) -> None:
        line = f"[{self.name} {time.monotonic() - self.started:7.2f}s {kind}] {text}"
        self.lines.append(line)
        print(line, flush=True)

    def console(self, msg: ConsoleMessage) -> None:
        self.add(msg.type, msg.text)


NewPage = Callable[..., Page]


@pytest.fixture()
def new_page(playwright: Playwright, request: pytest.FixtureRequest) -> Iterator[NewPage]:
    pages: list[tuple[Page, PageLog]] = []
    with ExitStack() as stack:

        def make(*, webgpu: bool = False, isolate: bool = True, **launch_options: Any) -> Page:
            context = stack.enter_context(launch(playwright, webgpu=webgpu, isolate=isolate, **launch_options))
            page = context.pages[0] if context.pages else context.new_page()
            log = PageLog(f"page{len(pages)}")
            page.on("console", log.console)
            page.on("pageerror", lambda exc: log.add("pageerror", str(exc)))
            page.on("crash", lambda _page: log.add("crash", "the page crashed"))
            pages.append((page, log))
            return page

        try:
            yield make
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                _save_artifacts(request.node.nodeid, pages)


@pytest.fixture()
def page(new_page: NewPage) -> Page:
    """One page with the defaults (no WebGPU, cross-origin isolated); new_page for others."""
    return new_page()


def _save_artifacts(nodeid: str, pages: list[tuple[Page, PageLog]]) -> None:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    for page, log in pages:
        (folder / f"{log.name}.console.log").write_text("\n".join(log.lines) + "\n", encoding="utf-8")
        try:
            page.screenshot(path=str(folder / f"{log.name}.png"), full_page=True, timeout=15_000)
        except Exception as exc:  # a crashed or hung page: the console log is still there
            (folder / f"{log.name}.screenshot-failed.txt").write_text(str(exc), encoding="utf-8")
    print(f"e2e: artifacts in {folder}", flush=True)
