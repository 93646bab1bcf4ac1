"""Assemble the browser bundle: the demo pages and what they load, in one folder the server serves at ``/``.

    llm-runner-router web-bundle       (installed: into the data folder's web/, with the browser model)
    python build/web_bundle.py         (a checkout: into dist/web/; or: make web)

What goes in:

- ``vendor/pyodide/``, ``vendor/ort/``: Pyodide and onnxruntime-web at their pinned versions
  (browser_vendor.py: from a checkout's node_modules, else from the npm registry's tarballs).
- ``wheels/``          ``llm_runner_router.core`` and the page's adapters ``llm_runner_router.web``
  as pure-Python wheels, made from this package's own files.
- the demo pages from web/demo/ (index.html, routing.html, ..., their scripts), at the top: their
  addresses (/, /routing.html, ...) are what people bookmark.
- the library from web/lib/ (llm_chat.js, runtime.js, loader.js, engine/, the generated catalogue.js
  and deployments.js, ...), under ``lib/``. A demo script imports it as ``../lib/x.js``: web/lib/x.js in
  the checkout, /lib/x.js in the bundle (a URL's ``..`` stops at the root).
- ``sw.js``            the service worker (web/sw.js), at the top: a service worker controls only the
  pages at or below its own folder. Rendered with this build's version, and not in build.json.
- ``build.json``       ``{build_id, wheels, files: {path: {sha256, bytes}}}``: the list the
  loader installs and what a service worker versions its cache by.

The page's files come from ``llm_runner_router/page``: a link to web/ in a checkout, package
data in the wheel. ``models/`` belongs to browser_model/: it is never written, pruned or hashed
here (build it first: the service worker's version names the models' builds). Other files in
the folder that this build did not produce (renamed sources, old wheels) are removed.

Incremental: a file is copied only when its size or mtime differs; the wheels are
built in memory (deterministically: fixed timestamps, sorted entries) and written only
when their bytes change; build.json is rewritten only when its content changes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sys
import time
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import llm_runner_router
from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import LLMError

from . import browser_vendor, paths

__all__ = ["MANIFEST", "build", "core_wheel", "main", "make_wheel", "web_sources", "web_wheel"]

# The package's own folders: in a checkout, links to core/, web/python/llm_web/ and web/.
PACKAGE = Path(llm_runner_router.__file__).parent
CORE = PACKAGE / "core"
WEB_PYTHON = PACKAGE / "web"
# What the bundle serves from web/: the demo pages at the top, the library under LIB, the service worker at the top.
PAGE = PACKAGE / "page"
WEB_DEMO = PAGE / "demo"
WEB_LIB = PAGE / "lib"
SERVICE_WORKER_SRC = PAGE / "sw.js"
# Rendered, not copied, at the top (its scope is its folder): its version line names the build (see write_service_worker).
SERVICE_WORKER = "sw.js"
LIB = "lib/"
SW_VERSION_MARK = "__LLM_ROUTER_VERSION__"
# Top-level entries of dist/web/ owned by other scripts: never pruned, not in build.json.
FOREIGN = {"models"}
MANIFEST = "build.json"
# 1980-01-01, the earliest a zip can hold: the wheels' bytes depend on their content only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def log(message: str) -> None:
    print(f"web_bundle: {message}", flush=True)


def _refuse(message: str) -> LLMError:
    """A bundle that cannot be made as asked: a coded error, shown by the commands as one line."""
    return cat.CONFIG_ENVIRONMENT_MISMATCH.error(message)


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
    return llm_runner_router.__version__


def _requires_python() -> str:
    """The package's own Requires-Python (pyproject.toml's, as installed: editable in a checkout)."""
    try:
        return metadata.metadata(llm_runner_router.__title__)["Requires-Python"] or ">=3.11"
    except metadata.PackageNotFoundError:
        return ">=3.11"


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
        raise _refuse(f"{WEB_PYTHON} has no __init__.py")
    summary = "llm-runner-router's Python adapters for the browser: the JS engine bridge and the runtime JavaScript calls"
    return make_wheel("llm-runner-router-web", _version(), _package_files(WEB_PYTHON, "llm_runner_router/web"), summary, _requires_python())


# --- files ---------------------------------------------------------------------------


def _same(src: Path, dst: Path) -> bool:
    try:
        a, b = src.stat(), dst.stat()
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def tree(root: Path) -> list[str]:
    """Files under root (relative, posix), dotfiles and caches left out."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            out.append(rel.as_posix())
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Writer:
    """Writes files into the bundle's folder only when they change, and remembers what this build produced."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        self.produced: set[str] = set()
        self.counts = {"copied": 0, "written": 0, "unchanged": 0}

    def copy(self, src: Path, rel: str) -> None:
        dst = self.dist / rel
        self.produced.add(rel)
        if _same(src, dst):
            self.counts["unchanged"] += 1
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copy2(src, tmp)  # keeps the mtime: the next run sees it unchanged
        tmp.replace(dst)
        self.counts["copied"] += 1

    def write(self, rel: str, data: bytes, *, listed: bool = True) -> None:
        dst = self.dist / rel
        if listed:
            self.produced.add(rel)
        if dst.is_file() and dst.read_bytes() == data:
            self.counts["unchanged"] += 1
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(dst)
        self.counts["written"] += 1

    def prune(self) -> int:
        """Removes what an earlier build left that this one did not produce (models/ and sw.js aside)."""
        removed = 0
        for rel in tree(self.dist) if self.dist.is_dir() else []:
            if rel.split("/", 1)[0] in FOREIGN or rel in self.produced or rel == MANIFEST:
                continue
            if rel == SERVICE_WORKER and SERVICE_WORKER_SRC.is_file():
                continue  # rendered after the build id is known
            (self.dist / rel).unlink()
            removed += 1
        for path in sorted((p for p in self.dist.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            if path.relative_to(self.dist).parts[0] not in FOREIGN and not any(path.iterdir()):
                path.rmdir()
        return removed


def model_build_ids(dist: Path) -> list[str]:
    """The build ids of the browser models in the bundle's models/ (browser_model/ writes them)."""
    ids = []
    for manifest in sorted((dist / "models").glob("*/manifest.json")):
        try:
            ids.append(str(json.loads(manifest.read_text(encoding="utf-8"))["build_id"]))
        except (OSError, ValueError, KeyError):
            ids.append("unreadable")
    return ids


def write_service_worker(writer: _Writer, build_id: str) -> None:
    """sw.js with its version set to this bundle's and the models' build ids.

    The browser re-installs a service worker only when its script's bytes change,
    so the version written into it is what makes a new build (or a new model)
    replace the old offline cache. sw.js is not in build.json: it is never precached.
    """
    source = SERVICE_WORKER_SRC.read_text(encoding="utf-8")
    if SW_VERSION_MARK not in source:
        raise _refuse(f"{SERVICE_WORKER_SRC} has no {SW_VERSION_MARK} to set")
    version = "-".join([build_id, *model_build_ids(writer.dist)])
    writer.write(SERVICE_WORKER, source.replace(SW_VERSION_MARK, version).encode(), listed=False)


def web_sources() -> dict[str, Path]:
    """The files web/ puts in the bundle, by their path there: web/demo/ at the top, web/lib/ under lib/.

    The service worker is not among them: it is rendered (write_service_worker).
    """
    out: dict[str, Path] = {}
    for folder, prefix in ((WEB_DEMO, ""), (WEB_LIB, LIB)):
        for rel in tree(folder) if folder.is_dir() else []:
            target = prefix + rel
            if target.split("/", 1)[0] in FOREIGN or target in (MANIFEST, SERVICE_WORKER) or target.startswith(("vendor/", "wheels/")):
                raise _refuse(f"{folder / rel} would shadow a generated file")
            if not prefix and target.startswith(LIB):
                raise _refuse(f"{folder / rel} would shadow the library's {LIB}")
            out[target] = folder / rel
    return out


def build(dist: Path | None = None, *, node_modules: Path | None = None, progress: bool = True) -> dict[str, object]:
    """The bundle in dist (default: paths.web_dir()); returns its manifest (build.json).

    Pyodide and onnxruntime-web come from node_modules when given, else from the checkout's
    when it has the pinned versions, else from the npm registry (browser_vendor.ensure_vendor).
    """
    started = time.monotonic()
    dist = dist or paths.web_dir()
    writer = _Writer(dist)

    vendored = browser_vendor.ensure_vendor(dist / "vendor", node_modules=node_modules, progress=progress)
    writer.produced.update(p.relative_to(dist).as_posix() for p in vendored)
    log(f"vendor: Pyodide {browser_vendor.PYODIDE.version}, onnxruntime-web {browser_vendor.ONNXRUNTIME_WEB.version}")

    wheels = []
    for name, data in (core_wheel(), web_wheel()):
        writer.write(f"wheels/{name}", data)
        wheels.append(f"wheels/{name}")
        log(f"wheel: {name} ({len(data) / 1024:.0f} KiB)")

    sources = web_sources()
    for rel, src in sources.items():
        writer.copy(src, rel)
    log(f"web/demo/ and web/lib/: {len(sources)} files" if sources else "no web/demo/ or web/lib/: only Pyodide and the wheels are bundled")

    removed = writer.prune()
    files: dict[str, dict[str, str | int]] = {}
    for rel in sorted(writer.produced):
        files[rel] = {"sha256": sha256_file(dist / rel), "bytes": (dist / rel).stat().st_size}
    build_id = hashlib.sha256("".join(f"{rel}\0{f['sha256']}\n" for rel, f in files.items()).encode()).hexdigest()[:16]
    manifest: dict[str, object] = {
        "build_id": build_id,
        "pyodide": browser_vendor.PYODIDE.version,
        "onnxruntime_web": browser_vendor.ONNXRUNTIME_WEB.version,
        "wheels": wheels,
        "files": files,
    }
    if SERVICE_WORKER_SRC.is_file():
        write_service_worker(writer, build_id)
    writer.write(MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), listed=False)
    total = sum((dist / rel).stat().st_size for rel in files)
    counts = writer.counts
    log(
        f"{dist}: {len(files)} files, {total / 1e6:.1f} MB, build {build_id}; "
        f"{counts['copied']} copied, {counts['written']} written, {counts['unchanged']} unchanged, {removed} removed "
        f"in {time.monotonic() - started:.2f}s"
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    """A checkout's ``make web``: the bundle in paths.web_dir() (dist/web/), from node_modules."""
    try:
        build()
    except LLMError as exc:
        print(f"web_bundle: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
