"""The npm package (``npm install llm-runner-router``) as a user gets it: the tarball ``make npm-pack`` packs.

build/npm_package.py packs it (incremental: at once when nothing changed); the tests unpack it into a
temporary ``node_modules/llm-runner-router/`` and use only what is in it:

- a plain HTML page, no bundler, imports the package through an import map made from the package's own
  ``exports`` (each entry point resolves in the browser), creates ``<llm-chat base=…>`` with ``base`` the
  edge server's bundle, and gets an answer on WASM in the tab. The page and the unpacked package are
  served by a Playwright route on the edge server's origin (``/__npm__/``, a path the server does not
  have): the bundle is then same-origin, so this test does not depend on the bundle's cross-origin
  headers, and the page is sent cross-origin isolated (COOP/COEP), as the package's README asks.
  No script of the bundle's own ``/lib/`` is loaded: the code that answers is the packed one;
- TypeScript resolves every entry point to its generated ``.d.ts`` through ``exports`` (tsc, strict,
  the declarations themselves checked too) and the types are real ones, not ``any``.
"""

from __future__ import annotations

import json
import mimetypes
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route

from e2e.conftest import REPO, NewPage, note
from llm_runner_router.__version__ import __version__
from llm_runner_router.edge.testing.servers import ProcessServer

NAME = "llm-runner-router"
PREFIX = "/__npm__/"
LOAD_TIMEOUT_MS = 300_000
ANSWER_TIMEOUT_MS = 180_000
ISOLATED = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".json": "application/json"}

# A page as a user writes it: the import map, then one module script that defines and adds the widget.
PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>llm-runner-router from npm</title><link rel="icon" href="data:,">
<script type="importmap">__IMPORTMAP__</script>
<script type="module">
  import { createRuntime } from 'llm-runner-router';
  import { LlmChat } from 'llm-runner-router/llm-chat';
  window.__log = [];
  window.__widget = { createRuntime: typeof createRuntime, defined: customElements.get('llm-chat') === LlmChat,
                      module: import.meta.resolve('llm-runner-router/llm-chat') };
  const chat = document.createElement('llm-chat');
  chat.setAttribute('base', __BASE__);
  chat.setAttribute('engines', 'wasm');
  chat.setAttribute('max-tokens', '24');
  for (const type of ['llm-ready', 'llm-delta', 'llm-done', 'llm-error']) {
    chat.addEventListener(type, (ev) => window.__log.push({ type, detail: ev.detail }));
  }
  document.body.append(chat);
</script>
<body></body></html>
"""

CONSUMER_TS = """
import { createRuntime, PageRuntime } from 'llm-runner-router';
import { LlmChat, engineLabel } from 'llm-runner-router/llm-chat';
import { CODES } from 'llm-runner-router/catalogue';
import { DEPLOYMENTS, ENGINES } from 'llm-runner-router/deployments';
import { EdgeClient } from 'llm-runner-router/edge';
import { loadPython } from 'llm-runner-router/loader';
import { probeDevice } from 'llm-runner-router/probe';
import { enableOffline } from 'llm-runner-router/offline';

const chat: LlmChat = document.createElement('llm-chat');
const label: string = engineLabel(DEPLOYMENTS.LOCAL_WASM);
const code: string = CODES.ONNX_RUN_FAILED;
export const used = [chat, label, code, EdgeClient, loadPython, probeDevice, enableOffline];

export async function ask(): Promise<string> {
  const runtime: PageRuntime = await createRuntime({ base: 'https://example.org/llm/', engines: [ENGINES.WASM], threads: 2 });
  const done = await runtime.chat([{ role: 'user', content: 'Hello!' }], { maxTokens: 8 });
  return String(done);
}

// @ts-expect-error base is a string: the declarations are real types, not any
createRuntime({ base: 42 });
"""


@pytest.fixture(scope="module")
def tarball() -> Path:
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(REPO / "build" / "npm_package.py")], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"build/npm_package.py failed:\n{out.stdout[-6000:]}{out.stderr[-4000:]}", pytrace=False)
    path = Path(out.stdout.strip().splitlines()[-1])
    print(f"e2e: npm package {path.name} ready in {time.monotonic() - started:.1f}s", flush=True)
    return path


@pytest.fixture(scope="module")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tarball unpacked as npm installs it: <site>/node_modules/llm-runner-router/; → <site>."""
    site = tmp_path_factory.mktemp("npm-site")
    modules = site / "node_modules"
    modules.mkdir()
    with tarfile.open(tarball) as tar:
        tar.extractall(modules, filter="data")
    (modules / "package").rename(modules / NAME)
    yield site


def import_map(manifest: dict[str, Any], prefix: str) -> dict[str, str]:
    """The import map a user writes for the package: each module of `exports` → its file (package.json is no module)."""
    imports = {}
    for key, target in manifest["exports"].items():
        path = target if isinstance(target, str) else target["default"]
        if path.endswith(".js"):
            imports[NAME + key.removeprefix(".")] = prefix + path.removeprefix("./")
    return imports


def test_the_tarball_holds_the_library_and_its_types(installed: Path) -> None:
    package = installed / "node_modules" / NAME
    manifest = json.loads((package / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == NAME and manifest["version"] == __version__
    assert (package / "README.md").is_file() and (package / "LICENSE").is_file()
    files = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
    library = {p.relative_to(REPO / "web").as_posix() for p in (REPO / "web" / "lib").rglob("*.js")}
    assert library <= files, library - files
    assert {name.removesuffix(".js") + ".d.ts" for name in library} <= files
    # The library only: the bundle's assets come from `base` at run time.
    assert not any(f.startswith(("vendor/", "wheels/", "models/")) or f.endswith((".wasm", ".whl", ".onnx")) for f in files), files
    assert "'llm-chat': LlmChat" in (package / "lib" / "llm_chat.d.ts").read_text(encoding="utf-8")


def test_typescript_resolves_each_entry_point_to_its_declarations(installed: Path, tmp_path: Path) -> None:
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "node_modules").symlink_to(installed / "node_modules", target_is_directory=True)
    (consumer / "main.ts").write_text(CONSUMER_TS, encoding="utf-8")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "es2022",
            "module": "es2022",
            "moduleResolution": "bundler",
            "lib": ["es2024", "dom", "dom.iterable"],
            "types": [],
            "skipLibCheck": False,
        },
        "files": ["main.ts"],
    }
    (consumer / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    tsc = REPO / "node_modules" / ".bin" / "tsc"
    result = subprocess.run([str(tsc), "-p", str(consumer), "--traceResolution"], cwd=consumer, capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if "error TS" in line]
    assert result.returncode == 0 and not errors, "\n".join(errors) or result.stdout[-4000:]
    # "======== Module name 'llm-runner-router' was successfully resolved to '…/lib/runtime.d.ts' with Package ID …"
    resolved = dict(re.findall(r"^======== Module name '([^']+)' was successfully resolved to '([^']+)'", result.stdout, re.M))
    for entry in ("", "/llm-chat", "/catalogue", "/deployments", "/edge", "/loader", "/probe", "/offline"):
        target = resolved.get(NAME + entry, "")
        assert f"/node_modules/{NAME}/lib/" in target and target.endswith(".d.ts"), f"{NAME}{entry} → {target or 'not resolved'}"


@pytest.mark.timeout(600)
def test_a_plain_page_imports_the_package_and_answers(edge_server: ProcessServer, new_page: NewPage, installed: Path) -> None:
    package = installed / "node_modules" / NAME
    imports = import_map(json.loads((package / "package.json").read_text(encoding="utf-8")), f"./node_modules/{NAME}/")
    base = f"{edge_server.url}/"
    html = PAGE.replace("__IMPORTMAP__", json.dumps({"imports": imports}, indent=2)).replace("__BASE__", json.dumps(base))

    def serve(route: Route) -> None:
        rel = urlsplit(route.request.url).path.removeprefix(PREFIX)
        if rel == "index.html":
            route.fulfill(status=200, body=html.encode(), headers={**ISOLATED, "Content-Type": TYPES[".html"]})
            return
        file = (installed / rel).resolve()
        if file.is_relative_to(installed.resolve()) and file.is_file():
            kind = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            route.fulfill(status=200, body=file.read_bytes(), headers={**ISOLATED, "Content-Type": kind})
        else:
            route.fulfill(status=404, body=b"not in the unpacked package", headers=ISOLATED)

    requested: list[str] = []
    page = new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.route(f"{edge_server.url}{PREFIX}**", serve)
    started = time.monotonic()
    page.goto(f"{edge_server.url}{PREFIX}index.html")
    page.wait_for_function(
        "window.__log && window.__log.some((e) => e.type === 'llm-ready' || e.type === 'llm-error')", timeout=LOAD_TIMEOUT_MS
    )
    ready_s = time.monotonic() - started
    failed = page.evaluate("window.__log.filter((e) => e.type === 'llm-error').map((e) => e.detail)")
    assert not failed, failed
    widget = page.evaluate("window.__widget")
    assert widget["createRuntime"] == "function" and widget["defined"] is True, widget
    assert widget["module"] == f"{edge_server.url}{PREFIX}node_modules/{NAME}/lib/llm_chat.js", widget

    # Every entry point of the import map loads in the browser and exports something.
    entries = page.evaluate(
        "async (names) => Object.fromEntries(await Promise.all(names.map(async (n) => [n, Object.keys(await import(n))])))", list(imports)
    )
    assert all(entries[name] for name in imports), entries
    assert "createRuntime" in entries[NAME] and "LlmChat" in entries[f"{NAME}/llm-chat"] and "CODES" in entries[f"{NAME}/catalogue"]

    box = page.locator("llm-chat textarea")
    box.fill("What is the capital of France?")
    box.press("Enter")
    page.wait_for_function("window.__log.some((e) => e.type === 'llm-done')", timeout=ANSWER_TIMEOUT_MS)
    done = page.evaluate("window.__log.find((e) => e.type === 'llm-done').detail")
    deltas = page.evaluate("window.__log.filter((e) => e.type === 'llm-delta').map((e) => e.detail)")
    isolated = page.evaluate("self.crossOriginIsolated")
    answer = "".join(d["text"] for d in deltas)
    note(
        f"npm package page: ready in {ready_s:.1f}s, answered on {done['deployment']} in {time.monotonic() - started - ready_s:.1f}s, "
        f"crossOriginIsolated={isolated}: {answer!r}"
    )
    # Answered in the tab on WASM (no edge-url: nothing else could answer), from the bundle at `base`.
    assert done["complete"] is True and done["error"] is None and done["deployment"] == "local-wasm", done
    assert answer.strip() and {d["deployment"] for d in deltas} == {"local-wasm"}
    assert isolated is True

    paths = [urlsplit(url).path for url in requested if url.startswith(edge_server.url)]
    assert f"{PREFIX}node_modules/{NAME}/lib/runtime.js" in paths and f"{PREFIX}node_modules/{NAME}/lib/engine/engine.js" in paths
    assert "/build.json" in paths and any(p.startswith("/vendor/pyodide/") for p in paths) and any(p.startswith("/models/") for p in paths)
    # The code that ran is the package's: nothing from the bundle's own library.
    assert not [p for p in paths if p.startswith("/lib/") or p == "/llm_chat.js"], paths
