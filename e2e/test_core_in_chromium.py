"""The core's own test suite (tests/core/) inside Pyodide in headless Chromium.

The page is served by the real edge server on 127.0.0.1 (cross-origin isolated,
as users get it). It boots Pyodide and installs the core exactly as the product
does — web/lib/loader.js, the bundle's vendor/pyodide/ and wheels/ — so the suite
tests the core wheel that ships. pytest, hypothesis and their dependencies come
from the wheels tests/pyodide/fetch_wheels.py keeps in .cache/pyodide-wheels/;
they, tests/ and pyproject.toml are handed to the page by Playwright (routes
under /__e2e__/, which the server does not have). pytest runs through
tests/pyodide/driver.py, the driver the Node runner uses too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Route

from e2e.conftest import REPO, NewPage, note
from llm_runner_router.edge.testing.servers import ProcessServer

HARNESS = "/__e2e__/"
PAGE = b"<!doctype html><meta charset='utf-8'><title>core tests in Pyodide</title><link rel='icon' href='data:,'><pre id='out'></pre>"
ISOLATED = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}

RUN_SUITE = """
async ({ wheels, files, args, driver }) => {
  const started = performance.now();
  const out = [];
  const { loadPython } = await import('/lib/loader.js');
  const python = await loadPython({
    base: '/',
    module: null,
    onProgress: (ev) => { if (ev.message) console.log(`loader: ${ev.stage}: ${ev.message}`); },
  });
  const py = python.pyodide;
  const bytes = async (url) => {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const site = py.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
  for (const url of wheels) py.unpackArchive(await bytes(url), 'wheel', { extractDir: site });
  for (const [target, url] of Object.entries(files)) {
    py.FS.mkdirTree(target.slice(0, target.lastIndexOf('/')) || '/');
    py.FS.writeFile(target, await bytes(url));
  }
  const line = (level) => (text) => { out.push(text); console[level](text); };
  py.setStdout({ batched: line('log') });
  py.setStderr({ batched: line('warn') });
  const core = py.runPython("from llm_runner_router import core; import os.path; os.path.dirname(core.__file__)");
  const setupMs = performance.now() - started;
  py.runPython(driver);
  py.globals.set('pytest_args', py.toPy(args));
  const suiteStarted = performance.now();
  const status = py.runPython('run(list(pytest_args))');
  return {
    status, core, out: out.slice(-40),
    pyodide: py.version, python: py.runPython("import sys; sys.version.split()[0]"),
    crossOriginIsolated: self.crossOriginIsolated, build_id: python.build.build_id,
    pyodide_load_s: python.timings.pyodide_ms / 1000, setup_s: setupMs / 1000,
    suite_s: (performance.now() - suiteStarted) / 1000,
  };
}
"""


def pytest_wheels() -> list[Path]:
    script = REPO / "tests" / "pyodide" / "fetch_wheels.py"
    out = subprocess.run([sys.executable, str(script)], cwd=REPO, check=True, capture_output=True, text=True)
    return [Path(line) for line in out.stdout.splitlines() if line.strip()]


def suite_files() -> list[str]:
    """Repo-relative files the suite needs (as run_core_tests.mjs copies them), the core itself excepted: it comes from the bundle."""
    files = ["pyproject.toml"] + [f"tests/{n}" for n in ("__init__.py", "conftest.py") if (REPO / "tests" / n).is_file()]
    for path in sorted((REPO / "tests" / "core").rglob("*")):
        rel = path.relative_to(REPO)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc" and not any(p.startswith(".") for p in rel.parts):
            files.append(rel.as_posix())
    return files


@pytest.mark.timeout(900)
def test_core_suite_passes_in_pyodide_in_chromium(edge_server: ProcessServer, new_page: NewPage) -> None:
    wheels = pytest_wheels()
    served: dict[str, Path] = {f"{HARNESS}wheels/{w.name}": w for w in wheels}
    files = {}
    for rel in suite_files():
        served[f"{HARNESS}files/{rel}"] = REPO / rel
        files[f"/{rel}"] = f"{HARNESS}files/{rel}"

    def harness(route: Route) -> None:
        path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
        if path == f"{HARNESS}core.html":
            route.fulfill(status=200, body=PAGE, headers={**ISOLATED, "Content-Type": "text/html; charset=utf-8"})
        elif path in served:
            route.fulfill(status=200, body=served[path].read_bytes(), headers={**ISOLATED, "Content-Type": "application/octet-stream"})
        else:
            route.fulfill(status=404, body=b"not part of the e2e harness", headers=ISOLATED)

    page = new_page(webgpu=False)
    page.route(f"**{HARNESS}**", harness)
    started = time.monotonic()
    page.goto(edge_server.url + f"{HARNESS}core.html")
    args = ["-q", "-p", "no:cacheprovider", "--color=no", "--hypothesis-profile=ci", "/tests/core"]
    driver = (REPO / "tests" / "pyodide" / "driver.py").read_text(encoding="utf-8")
    wheel_urls = [f"{HARNESS}wheels/{w.name}" for w in wheels]
    result: dict[str, Any] = page.evaluate(RUN_SUITE, {"wheels": wheel_urls, "files": files, "args": args, "driver": driver})
    wall = time.monotonic() - started

    summary = next((line for line in reversed(result["out"]) if re.search(r"\d+ passed.* in [\d.]+s", line)), "")
    note(
        f"core suite in Chromium: {summary.strip('= ')} | Pyodide {result['pyodide']} (Python {result['python']}), "
        f"build {result['build_id']}, core from {result['core']}, crossOriginIsolated={result['crossOriginIsolated']}; "
        f"Pyodide loaded in {result['pyodide_load_s']:.1f}s, set up in {result['setup_s']:.1f}s, "
        f"suite {result['suite_s']:.1f}s, {wall:.1f}s in all"
    )
    assert result["status"] == 0, "\n".join(result["out"])
    assert result["crossOriginIsolated"] is True
    assert "site-packages" in result["core"], "the suite must test the core wheel from the bundle"
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) > 1000, summary
    assert not re.search(r"\d+ (failed|error)", summary), summary
