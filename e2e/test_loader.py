"""web/lib/loader.js through the engine test page (web/demo/engine.html): boot, progress, coded failures."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Route

from e2e.conftest import NewPage, note
from llm_runner_router.edge.testing.servers import ProcessServer


def open_test_page(page: Page, server: ProcessServer, query: str) -> dict[str, Any]:
    page.goto(f"{server.url}/engine.html?{query}")
    page.wait_for_function("window.__done === true", timeout=180_000)
    result: dict[str, Any] = page.evaluate("window.__result")
    return result


def test_python_boots_from_the_bundle(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    result = open_test_page(page, edge_server, "module=")
    assert "error" not in result, result
    assert result["crossOriginIsolated"] is True
    assert result["pyodide"] == "314.0.7" and result["python"].startswith("3.14")
    assert result["core_codes"] > 50  # the core wheel is installed and imports
    events = page.evaluate("window.__progress")
    stages = [ev["stage"] for ev in events]
    assert stages[0] == "pyodide" and stages[-1] == "ready" and "wheel" in stages
    wheel = [ev for ev in events if ev["stage"] == "wheel"][-1]
    assert wheel["loaded"] == wheel["total"] > 0 and wheel["file"].startswith("wheels/")
    timings = result["timings"]
    note(f"loader (engine.html): Pyodide in {timings['pyodide_ms'] / 1000:.1f}s, ready in {timings['total_ms'] / 1000:.1f}s")


def test_pyodide_failing_to_load_is_a_coded_error(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    page.route("**/vendor/pyodide/pyodide.asm.wasm", lambda route: route.abort())
    error = open_test_page(page, edge_server, "module=")["error"]
    assert error["code"] == "LLM_WASM_001_E", error
    assert "/vendor/pyodide/" in error["url"]


def test_a_missing_wheel_is_a_coded_error_naming_the_url(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()

    def gone(route: Route) -> None:
        route.fulfill(status=404, body="gone")

    page.route("**/wheels/llm_runner_router_core-*.whl", gone)
    error = open_test_page(page, edge_server, "module=")["error"]
    assert error["code"] == "LLM_CORE_001_E", error
    assert error["url"].startswith(edge_server.url + "/wheels/llm_runner_router_core-") and "HTTP 404" in error["message"]


def test_a_base_that_is_not_the_bundle_is_a_coded_error_saying_what_base_must_name(edge_server: ProcessServer, new_page: NewPage) -> None:
    page = new_page()
    page.route("**/build.json", lambda route: route.fulfill(status=404, body="not here"))
    error = open_test_page(page, edge_server, "module=")["error"]
    assert error["code"] == "LLM_CORE_001_E" and error["url"] == edge_server.url + "/build.json", error
    assert "HTTP 404" in error["message"] and "base must name the browser bundle" in error["message"], error
    assert error["message"].count("[LLM_CORE_001_E]") == 1, error
