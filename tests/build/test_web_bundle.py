"""llm_runner_router.edge.web_bundle: the bundle's contents, its manifest, incremental rebuilds, and the wheels it makes."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from urllib.parse import urljoin

import pytest

from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge import browser_vendor, paths
from llm_runner_router.edge import web_bundle as web_bundle_module
from tests.build import ROOT

pytestmark = pytest.mark.skipif(not (ROOT / "node_modules" / "pyodide").is_dir(), reason="node_modules is not installed (npm ci)")


@pytest.fixture()
def wb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    module = web_bundle_module
    web = tmp_path / "web"
    (web / "demo").mkdir(parents=True)
    (web / "lib" / "engine").mkdir(parents=True)
    (web / "demo" / "index.html").write_text("<p>hi</p>")
    (web / "lib" / "engine" / "engine.js").write_text("export {};\n")
    pkg = tmp_path / "python" / "llm_web"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 42\n")
    (pkg / "data.json").write_text("{}")
    monkeypatch.setenv("LLM_ROUTER_WEB_DIR", str(tmp_path / "dist"))  # build()'s default: paths.web_dir()
    monkeypatch.setattr(module, "WEB_DEMO", web / "demo")
    monkeypatch.setattr(module, "WEB_LIB", web / "lib")
    monkeypatch.setattr(module, "SERVICE_WORKER_SRC", web / "sw.js")
    monkeypatch.setattr(module, "WEB_PYTHON", pkg)
    return module


def test_bundle_contents_and_manifest(wb: ModuleType) -> None:
    manifest = wb.build()
    dist = paths.web_dir()
    for name in browser_vendor.PYODIDE_FILES:
        assert (dist / "vendor" / "pyodide" / name).is_file()
    for name in browser_vendor.ORT_FILES:
        assert (dist / "vendor" / "ort" / name).is_file()
    assert manifest["wheels"] == [
        "wheels/llm_runner_router_core-0.1.0-py3-none-any.whl",
        "wheels/llm_runner_router_web-0.1.0-py3-none-any.whl",
    ]
    assert json.loads((dist / "build.json").read_text()) == manifest
    files = manifest["files"]
    # The demo pages at the top (their addresses are bookmarked), the library under lib/.
    assert {"index.html", "lib/engine/engine.js", *manifest["wheels"]} <= set(files)
    assert not any(p.startswith(("demo/", "engine/")) for p in files)
    assert files["index.html"] == {"sha256": hashlib.sha256(b"<p>hi</p>").hexdigest(), "bytes": 9}
    assert not any(p.endswith((".map", ".asyncify.wasm", ".jspi.wasm")) for p in files)


def test_rebuild_is_incremental_and_keeps_models(wb: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    first = wb.build()
    dist = paths.web_dir()
    (dist / "models").mkdir()
    (dist / "models" / "model.onnx").write_bytes(b"weights")
    (dist / "stale.js").write_text("old")
    (dist / "wheels" / "llm_runner_router_web-0.0.1-py3-none-any.whl").write_bytes(b"old wheel")
    capsys.readouterr()
    second = wb.build()
    out = capsys.readouterr().out
    assert second == first  # same inputs, same build id
    assert "0 copied, 0 written" in out and "2 removed" in out
    assert (dist / "models" / "model.onnx").read_bytes() == b"weights"
    assert not (dist / "stale.js").exists() and "models/model.onnx" not in second["files"]
    (wb.WEB_DEMO / "index.html").write_text("<p>changed</p>")
    third = wb.build()
    assert third["build_id"] != first["build_id"] and third["files"]["index.html"]["bytes"] == len("<p>changed</p>")


def test_wheels_are_deterministic_and_installable(wb: ModuleType, tmp_path: Path) -> None:
    name, data = wb.core_wheel()
    assert wb.core_wheel() == (name, data)
    with zipfile.ZipFile(wb.io.BytesIO(data)) as zf:
        names = zf.namelist()
    assert "llm_runner_router/core/router.py" in names and "llm_runner_router/__init__.py" in names
    assert {n.split("/")[0] for n in names} == {"llm_runner_router", "llm_runner_router_core-0.1.0.dist-info"}
    assert not any("/edge/" in n or "__pycache__" in n for n in names)
    web_name, web_data = wb.web_wheel()
    target = tmp_path / "site"
    for wheel_name, wheel_data in ((name, data), (web_name, web_data)):
        (tmp_path / wheel_name).write_bytes(wheel_data)
    # pip checks RECORD's hashes and sizes as it installs; one call, as both fill llm_runner_router/
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--target", str(target)]
    subprocess.run([*pip, str(tmp_path / name), str(tmp_path / web_name)], check=True)
    assert (target / "llm_runner_router" / "web" / "data.json").is_file()
    probe = "import llm_runner_router.core.router, llm_runner_router.web as web; print(web.VALUE, llm_runner_router.__version__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=target, capture_output=True, text=True)
    assert out.stdout.strip() == "42 0.1.0", out.stderr


def test_the_service_worker_is_versioned_by_the_build_and_the_model(wb: ModuleType) -> None:
    sw: Path = wb.SERVICE_WORKER_SRC
    dist = paths.web_dir()
    sw.write_text("const VERSION = '__LLM_ROUTER_VERSION__';\n")
    first = wb.build()
    assert "sw.js" not in first["files"]  # never precached by itself
    assert (dist / "sw.js").read_text() == f"const VERSION = '{first['build_id']}';\n"
    # A new model: the worker's bytes change, so browsers install it and replace the old cache.
    (dist / "models" / "m").mkdir(parents=True)
    (dist / "models" / "m" / "manifest.json").write_text('{"build_id": "model1"}')
    again = wb.build()
    assert again["build_id"] == first["build_id"]
    assert (dist / "sw.js").read_text() == f"const VERSION = '{first['build_id']}-model1';\n"
    # A new bundle: a new version too.
    (wb.WEB_DEMO / "index.html").write_text("<p>new</p>")
    third = wb.build()
    assert third["build_id"] != first["build_id"] and third["build_id"] in (dist / "sw.js").read_text()


def test_a_service_worker_without_its_version_mark_is_refused(wb: ModuleType) -> None:
    wb.SERVICE_WORKER_SRC.write_text("const VERSION = 'fixed';\n")
    with pytest.raises(LLMError, match="__LLM_ROUTER_VERSION__"):
        wb.build()


@pytest.mark.parametrize("name", ["lib/engine/engine.js", "sw.js", "build.json", "wheels/x.whl"])
def test_a_demo_file_cannot_shadow_the_library_or_a_generated_file(wb: ModuleType, name: str) -> None:
    path: Path = wb.WEB_DEMO / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("shadow")
    with pytest.raises(LLMError, match="would shadow"):
        wb.build()


# A relative module address: `from '...'`, `import '...'`, `import('...')` with a plain string, `<script src="...">`.
IMPORT = re.compile(r"(?:\bfrom|\bimport)\s*\(?\s*'(\.{1,2}/[^']+)'" + r'|<script[^>]* src="(\.{1,2}/[^"]+)"')


def test_every_relative_import_resolves_in_the_bundle() -> None:
    """The real web/ as served: each module a page or the service worker imports is a file of the bundle."""
    module = web_bundle_module
    served = {**module.web_sources(), module.SERVICE_WORKER: module.SERVICE_WORKER_SRC}
    assert {"index.html", "routing.html", "offline.html", "local.html", "engine.html", "sw.js", "llm_chat.js"} <= set(served)
    library = ["llm_chat.js", "runtime.js", "loader.js", "catalogue.js", "deployments.js", "engine/engine.js"]
    assert {f"lib/{name}" for name in library} <= set(served)
    missing, checked = [], 0
    for rel, src in served.items():
        if src.suffix not in (".js", ".html"):
            continue
        for spec in (a or b for a, b in IMPORT.findall(src.read_text(encoding="utf-8"))):
            target = urljoin(f"https://bundle.test/{rel}", spec).removeprefix("https://bundle.test/")
            checked += 1
            if target not in served:
                missing.append(f"{rel} imports {spec} -> /{target}")
    assert checked > 30 and missing == []
