"""Assemble the browser bundle in dist/web/.

    python build/web_bundle.py          (or: make web)

What goes in (all from this checkout and node_modules/, no network):

- ``vendor/pyodide/``  the Pyodide runtime files that ``loadPyodide`` fetches to boot
  (pyodide.mjs imports pyodide.asm.mjs, which loads pyodide.asm.wasm, python_stdlib.zip
  and pyodide-lock.json). Pyodide 314 has no pyodide.asm.js; source maps stay out.
- ``vendor/ort/``      onnxruntime-web: ort.all.min.mjs (WebGPU + WASM) with the JSEP
  build it loads (ort-wasm-simd-threaded.jsep.*), and ort.wasm.min.mjs (WASM only) with
  the plain build (ort-wasm-simd-threaded.*). The asyncify and JSPI builds (43 MB) are
  loaded by neither entry point and are left out.
- ``wheels/``          ``llm_runner_router.core`` (from core/) and the browser adapters
  ``llm_runner_router.web`` (from web/python/llm_web/) as pure-Python wheels.
- the demo pages from web/demo/ (index.html, routing.html, ..., their scripts), at the top: their
  addresses (/, /routing.html, ...) are what people bookmark.
- the library from web/lib/ (llm_chat.js, runtime.js, loader.js, engine/, the generated catalogue.js
  and deployments.js, ...), under ``lib/``. A demo script imports it as ``../lib/x.js``: web/lib/x.js in
  the checkout, /lib/x.js in the bundle (a URL's ``..`` stops at the root).
- ``sw.js``            the service worker (web/sw.js), at the top: a service worker controls only the
  pages at or below its own folder. Rendered with this build's version, and not in build.json.
- ``build.json``       ``{build_id, wheels, files: {path: {sha256, bytes}}}``: the list the
  loader installs and what a service worker versions its cache by.

``models/`` belongs to build/browser_model.py: it is never written, pruned or hashed here.
Other files in dist/web/ that this build did not produce (renamed sources, old wheels)
are removed.

Incremental: a file is copied only when its size or mtime differs; the wheels are
built in memory (deterministically: fixed timestamps, sorted entries) and written only
when their bytes change; build.json is rewritten only when its content changes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIST = Path(os.environ.get("LLM_ROUTER_WEB_DIR") or REPO / "dist" / "web")
NODE = REPO / "node_modules"
PYODIDE_DIR = NODE / "pyodide"
ORT_DIR = NODE / "onnxruntime-web" / "dist"
# What the bundle serves from web/: the demo pages at the top, the library under LIB, the service worker at the top.
WEB_DEMO = REPO / "web" / "demo"
WEB_LIB = REPO / "web" / "lib"
SERVICE_WORKER_SRC = REPO / "web" / "sw.js"
PACKAGE = REPO / "llm_runner_router"
CORE = REPO / "core"
WEB_PYTHON = REPO / "web" / "python" / "llm_web"

PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"]
ORT_FILES = [
    "ort.all.min.mjs",
    "ort-wasm-simd-threaded.jsep.mjs",
    "ort-wasm-simd-threaded.jsep.wasm",
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
]
# Rendered, not copied, at the top (its scope is its folder): its version line names the build (see write_service_worker).
SERVICE_WORKER = "sw.js"
LIB = "lib/"
SW_VERSION_MARK = "__LLM_ROUTER_VERSION__"
# Top-level entries of dist/web/ owned by other scripts: never pruned, not in build.json.
FOREIGN = {"models"}
MANIFEST = "build.json"
# 1980-01-01, the earliest a zip can hold: the wheels' bytes depend on their content only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def show(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def log(message: str) -> None:
    print(f"web_bundle: {message}", flush=True)


# --- wheels ------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _package_files(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    """(path inside the wheel, file) for every file under folder, caches left out; prefix is its path in the wheel."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and "__pycache__" not in rel.parts and not any(p.startswith(".") for p in rel.parts) and path.suffix != ".pyc":
            out.append((f"{prefix}/{rel.as_posix()}", path))
    return out


def make_wheel(
    dist_name: str, version: str, files: Iterable[tuple[str, Path]], summary: str, requires_python: str = ">=3.11"
) -> tuple[str, bytes]:
    """A pure-Python wheel (py3-none-any) of the given (path inside the wheel, file) pairs: (file name, bytes).

    Written with zipfile rather than by pip/setuptools: no build environment, no
    network, and the same bytes for the same sources, so an unchanged core keeps
    its wheel (and the bundle its build id).
    """
    name = dist_name.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    entries = [(rel, path.read_bytes()) for rel, path in files]
    tops = sorted({rel.split("/", 1)[0] for rel, _ in entries})
    metadata = f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\nSummary: {summary}\nRequires-Python: {requires_python}\n"
    wheel = "Wheel-Version: 1.0\nGenerator: llm-runner-router build/web_bundle.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries += [
        (f"{info}/METADATA", metadata.encode()),
        (f"{info}/WHEEL", wheel.encode()),
        (f"{info}/top_level.txt", "".join(t + "\n" for t in tops).encode()),
    ]
    record = "".join(f"{rel},{_record_hash(data)},{len(data)}\n" for rel, data in entries) + f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in entries:
            zi = zipfile.ZipInfo(rel, ZIP_EPOCH)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return f"{name}-{version}-py3-none-any.whl", buf.getvalue()


def _version() -> str:
    """The package's version, from llm_runner_router/__version__.py (read, not imported: build/ runs without the package)."""
    text = (PACKAGE / "__version__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if match is None:
        raise SystemExit("web_bundle: llm_runner_router/__version__.py names no __version__")
    return match.group(1)


def _requires_python() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project.get("requires-python", ">=3.11"))


def core_wheel() -> tuple[str, bytes]:
    """llm_runner_router.core, with the package's light __init__ (it imports the core only).

    Only the core, not the project's own wheel (`pip wheel .` adds the edge server):
    the browser downloads this file on every cold start, and the edge server
    (Starlette, uvicorn, llama.cpp, SQLite) cannot run in Pyodide anyway.
    """
    files = [
        (f"llm_runner_router/{name}", PACKAGE / name)
        for name in ("__init__.py", "__version__.py", "py.typed")
        if (PACKAGE / name).is_file()
    ]
    files += _package_files(CORE, "llm_runner_router/core")
    summary = "The routing and recovery core of llm-runner-router (pure Python; for Pyodide)"
    return make_wheel("llm-runner-router-core", _version(), files, summary, _requires_python())


def web_wheel() -> tuple[str, bytes]:
    """llm_runner_router.web (web/python/llm_web/): the core's adapters inside the page."""
    if not (WEB_PYTHON / "__init__.py").is_file():
        raise SystemExit(f"web_bundle: {show(WEB_PYTHON)} has no __init__.py")
    summary = "llm-runner-router's Python adapters for the browser: the JS engine bridge and the runtime JavaScript calls"
    return make_wheel("llm-runner-router-web", _version(), _package_files(WEB_PYTHON, "llm_runner_router/web"), summary, _requires_python())


# --- files ---------------------------------------------------------------------------


def _same(src: Path, dst: Path) -> bool:
    try:
        a, b = src.stat(), dst.stat()
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def copy_file(src: Path, rel: str, produced: set[str], counts: dict[str, int]) -> None:
    dst = DIST / rel
    produced.add(rel)
    if _same(src, dst):
        counts["unchanged"] += 1
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copy2(src, tmp)  # keeps the mtime: the next run sees it unchanged
    tmp.replace(dst)
    counts["copied"] += 1


def write_bytes(rel: str, data: bytes, produced: set[str], counts: dict[str, int]) -> None:
    dst = DIST / rel
    produced.add(rel)
    if dst.is_file() and dst.read_bytes() == data:
        counts["unchanged"] += 1
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dst)
    counts["written"] += 1


def tree(root: Path) -> list[str]:
    """Files under root (relative, posix), dotfiles and caches left out."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            out.append(rel.as_posix())
    return out


def prune(produced: set[str]) -> int:
    removed = 0
    for rel in tree(DIST) if DIST.is_dir() else []:
        if rel.split("/", 1)[0] in FOREIGN or rel in produced or rel == MANIFEST:
            continue
        if rel == SERVICE_WORKER and SERVICE_WORKER_SRC.is_file():
            continue  # rendered after the build id is known
        (DIST / rel).unlink()
        removed += 1
    for path in sorted((p for p in DIST.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if path.relative_to(DIST).parts[0] not in FOREIGN and not any(path.iterdir()):
            path.rmdir()
    return removed


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_build_ids() -> list[str]:
    """The build ids of the browser models in dist/web/models/ (build/browser_model.py writes them)."""
    ids = []
    for manifest in sorted((DIST / "models").glob("*/manifest.json")):
        try:
            ids.append(str(json.loads(manifest.read_text(encoding="utf-8"))["build_id"]))
        except (OSError, ValueError, KeyError):
            ids.append("unreadable")
    return ids


def write_service_worker(build_id: str, counts: dict[str, int]) -> None:
    """sw.js with its version set to this bundle's and the models' build ids.

    The browser re-installs a service worker only when its script's bytes change,
    so the version written into it is what makes a new build (or a new model)
    replace the old offline cache. sw.js is not in build.json: it is never precached.
    """
    source = SERVICE_WORKER_SRC.read_text(encoding="utf-8")
    if SW_VERSION_MARK not in source:
        raise SystemExit(f"web_bundle: {show(SERVICE_WORKER_SRC)} has no {SW_VERSION_MARK} to set")
    version = "-".join([build_id, *model_build_ids()])
    write_bytes(SERVICE_WORKER, source.replace(SW_VERSION_MARK, version).encode(), set(), counts)


def web_sources() -> dict[str, Path]:
    """The files web/ puts in the bundle, by their path there: web/demo/ at the top, web/lib/ under lib/.

    The service worker is not among them: it is rendered (write_service_worker).
    """
    out: dict[str, Path] = {}
    for folder, prefix in ((WEB_DEMO, ""), (WEB_LIB, LIB)):
        for rel in tree(folder) if folder.is_dir() else []:
            target = prefix + rel
            if target.split("/", 1)[0] in FOREIGN or target in (MANIFEST, SERVICE_WORKER) or target.startswith(("vendor/", "wheels/")):
                raise SystemExit(f"web_bundle: {show(folder / rel)} would shadow a generated file")
            if not prefix and target.startswith(LIB):
                raise SystemExit(f"web_bundle: {show(folder / rel)} would shadow the library's {LIB}")
            out[target] = folder / rel
    return out


def npm_version(package_dir: Path) -> str:
    data = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    return str(data["version"])


def build() -> dict[str, object]:
    started = time.monotonic()
    for need in (PYODIDE_DIR, ORT_DIR):
        if not need.is_dir():
            raise SystemExit(f"web_bundle: {show(need)} is missing: run `npm ci` (or `make web`)")
    produced: set[str] = set()
    counts = {"copied": 0, "written": 0, "unchanged": 0}

    for name in PYODIDE_FILES:
        copy_file(PYODIDE_DIR / name, f"vendor/pyodide/{name}", produced, counts)
    for name in ORT_FILES:
        copy_file(ORT_DIR / name, f"vendor/ort/{name}", produced, counts)
    log(f"vendor: Pyodide {npm_version(PYODIDE_DIR)}, onnxruntime-web {npm_version(ORT_DIR.parent)}")

    wheels = []
    for name, data in (core_wheel(), web_wheel()):
        write_bytes(f"wheels/{name}", data, produced, counts)
        wheels.append(f"wheels/{name}")
        log(f"wheel: {name} ({len(data) / 1024:.0f} KiB)")

    sources = web_sources()
    for rel, src in sources.items():
        copy_file(src, rel, produced, counts)
    log(f"web/demo/ and web/lib/: {len(sources)} files" if sources else "no web/demo/ or web/lib/: only Pyodide and the wheels are bundled")

    removed = prune(produced)
    files: dict[str, dict[str, str | int]] = {}
    for rel in sorted(produced):
        files[rel] = {"sha256": sha256_file(DIST / rel), "bytes": (DIST / rel).stat().st_size}
    build_id = hashlib.sha256("".join(f"{rel}\0{f['sha256']}\n" for rel, f in files.items()).encode()).hexdigest()[:16]
    manifest: dict[str, object] = {
        "build_id": build_id,
        "pyodide": npm_version(PYODIDE_DIR),
        "onnxruntime_web": npm_version(ORT_DIR.parent),
        "wheels": wheels,
        "files": files,
    }
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    if SERVICE_WORKER_SRC.is_file():
        write_service_worker(build_id, counts)
    path = DIST / MANIFEST
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        counts["written"] += 1
    total = sum((DIST / rel).stat().st_size for rel in files)
    log(
        f"{DIST}: {len(files)} files, {total / 1e6:.1f} MB, build {build_id}; "
        f"{counts['copied']} copied, {counts['written']} written, {counts['unchanged']} unchanged, {removed} removed "
        f"in {time.monotonic() - started:.2f}s"
    )
    return manifest


def main() -> int:
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
