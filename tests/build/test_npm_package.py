"""build/npm_package.py and npm/package.json: the npm package's manifest agrees with the Python package and web/lib/.

Packing itself (tsc's declarations, `npm pack`) is `make npm-pack`; e2e/test_npm_package.py installs the
tarball and uses it in Chromium and from TypeScript.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llm_runner_router.__version__ import __version__
from tests.build import ROOT, load_script

npm = load_script("npm_package")
MANIFEST = json.loads((ROOT / "npm" / "package.json").read_text(encoding="utf-8"))


def test_the_version_is_the_python_packages() -> None:
    assert MANIFEST["version"] == __version__
    npm.check_version(MANIFEST)


def test_a_version_that_differs_is_refused() -> None:
    with pytest.raises(SystemExit, match="make them equal"):
        npm.check_version({**MANIFEST, "version": "0.0.0-other"})


def test_the_manifest_describes_a_browser_library_without_dependencies() -> None:
    assert MANIFEST["name"] == "llm-runner-router" and MANIFEST["type"] == "module" and MANIFEST["license"] == "MIT"
    assert MANIFEST["files"] == ["lib/"]
    # Pyodide, onnxruntime-web, the wheels and the model come from `base` at run time, not from npm.
    assert not MANIFEST.get("dependencies") and not MANIFEST.get("peerDependencies")
    assert "private" not in MANIFEST
    # The checkout's own package.json is the contributors' manifest and is never published.
    assert json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["private"] is True


def test_every_entry_point_is_a_module_of_web_lib_with_declarations() -> None:
    exports = MANIFEST["exports"]
    assert exports["."]["default"] == MANIFEST["main"] == "./lib/runtime.js"
    assert exports["."]["types"] == MANIFEST["types"] == "./lib/runtime.d.ts"
    assert exports["./llm-chat"]["default"] == "./lib/llm_chat.js"
    for key, target in exports.items():
        if key == "./package.json":
            continue
        js, types = target["default"], target["types"]
        assert list(target) == ["types", "default"], f"{key}: `types` must come first for TypeScript to read it"
        assert js.startswith("./lib/") and (ROOT / "web" / js.removeprefix("./")).is_file(), key
        assert types == js.removesuffix(".js") + ".d.ts", key
    for target in npm.export_targets(MANIFEST):
        assert target == "package.json" or target.startswith("lib/")


def test_side_effects_name_the_modules_that_define_elements() -> None:
    lib = ROOT / "web" / "lib"
    defining = {
        f"./lib/{p.relative_to(lib).as_posix()}"
        for p in lib.rglob("*.js")
        if re.search(r"^\S.*customElements\.define\(", p.read_text(encoding="utf-8"), re.M)
    }
    assert defining == set(MANIFEST["sideEffects"]) == {"./lib/llm_chat.js"}


def test_the_readme_says_what_base_must_serve() -> None:
    readme = (ROOT / "npm" / "README.md").read_text(encoding="utf-8")
    for needed in (
        "npm install llm-runner-router",
        "importmap",
        "<llm-chat base=",
        "createRuntime",
        "build.json",
        "Cross-Origin-Opener-Policy",
    ):
        assert needed in readme, needed


def test_the_inputs_are_the_manifest_readme_tsconfig_and_every_library_file() -> None:
    files = set(npm.inputs())
    assert {ROOT / "npm" / "package.json", ROOT / "npm" / "README.md", ROOT / "tsconfig.npm.json", ROOT / "LICENSE"} <= files
    assert {p for p in (ROOT / "web" / "lib").rglob("*.js")} <= files


def test_the_digest_changes_with_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    files = [tmp_path / "a.js", tmp_path / "missing.js"]
    first = npm.digest(files, tmp_path)
    assert npm.digest(files, tmp_path) == first
    (tmp_path / "a.js").write_text("export const a = 2;\n")
    assert npm.digest(files, tmp_path) != first
