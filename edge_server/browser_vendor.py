"""The browser bundle's third-party runtime: Pyodide and onnxruntime-web, at pinned versions.

The page loads a few files of each npm package, kept in the bundle's ``vendor/``:

- ``vendor/pyodide/``: :data:`PYODIDE_FILES`, what ``loadPyodide`` fetches to boot
  (pyodide.mjs imports pyodide.asm.mjs, which loads pyodide.asm.wasm, python_stdlib.zip and
  pyodide-lock.json). Pyodide 314 has no pyodide.asm.js; source maps stay out.
- ``vendor/ort/``: :data:`ORT_FILES`, onnxruntime-web's ``ort.all.min.mjs`` (WebGPU + WASM) with
  the JSEP build it loads, and ``ort.wasm.min.mjs`` (WASM only) with the plain build. The
  asyncify and JSPI builds (43 MB) are loaded by neither entry point and are left out.

Two sources give the same bytes:

- :func:`from_node_modules`: a checkout's ``node_modules/`` (``npm ci`` installs what
  package-lock.json pins), no download;
- :func:`from_registry`: the packages' tarballs from the npm registry, for an installed package
  (no node, no npm). Each tarball is checked against the sha512 ``integrity`` that
  package-lock.json records (pinned here: tests/build/test_browser_vendor.py fails when the
  pins and the lock file differ), kept in paths.cache_dir()'s ``npm/`` and used again.

:func:`ensure_vendor` takes node_modules when the checkout has the pinned versions, the
registry otherwise. A file already in place with the source's size and modification time is
left alone. Progress goes to stderr; failures raise coded errors: NET_DOWNLOAD_FAILED (the
download failed, or its bytes fail the pinned integrity), CONFIG_ENVIRONMENT_MISMATCH
(node_modules lacks a file or holds another version).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import LLMError

from . import paths
from .model_fetch import _Progress

__all__ = [
    "ONNXRUNTIME_WEB",
    "ORT_FILES",
    "PACKAGES",
    "PYODIDE",
    "PYODIDE_FILES",
    "REGISTRY",
    "NpmPackage",
    "bundle_files",
    "ensure_vendor",
    "extract",
    "fetch_tarball",
    "from_node_modules",
    "from_registry",
    "node_modules_files",
]

REGISTRY: Final = "https://registry.npmjs.org"

PYODIDE_FILES: Final = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
ORT_FILES: Final = (
    "ort.all.min.mjs",
    "ort-wasm-simd-threaded.jsep.mjs",
    "ort-wasm-simd-threaded.jsep.wasm",
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
)

_CHUNK: Final = 1 << 20
_TIMEOUT_S: Final = 60


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package and the files the bundle takes from it."""

    name: str
    version: str
    integrity: str  # package-lock.json's: "sha512-" + the tarball's digest in base64
    folder: str  # the bundle's vendor/<folder>/
    source: str  # the files' folder inside the package ("" for its top)
    files: tuple[str, ...]

    @property
    def tarball(self) -> str:
        """The tarball's file name (a scoped name's tarball drops the scope)."""
        return f"{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    def url(self, registry: str = REGISTRY) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.tarball}"

    def member(self, file: str) -> str:
        """The file's path inside the tarball (npm packs a package under ``package/``)."""
        return "/".join(p for p in ("package", self.source, file) if p)

    def bundle_path(self, file: str) -> str:
        return f"vendor/{self.folder}/{file}"


PYODIDE: Final = NpmPackage(
    "pyodide",
    "314.0.7",
    "sha512-0YvXxEhfEdpLfb/XkM2BFAeMROq0iMUX2bzzH9pOttyMcWkwq+HbE5uyuGD82LN7y2q+SNvi/6V5JEsOlD2R1A==",
    "pyodide",
    "",
    PYODIDE_FILES,
)
ONNXRUNTIME_WEB: Final = NpmPackage(
    "onnxruntime-web",
    "1.30.0",
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==",
    "ort",
    "dist",
    ORT_FILES,
)
PACKAGES: Final = (PYODIDE, ONNXRUNTIME_WEB)


def bundle_files(packages: Iterable[NpmPackage] = PACKAGES) -> list[str]:
    """Every vendored file's path in the bundle (``vendor/pyodide/pyodide.mjs``, ...)."""
    return [package.bundle_path(file) for package in packages for file in package.files]


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"browser-vendor: {message}", file=sys.stderr, flush=True)


def _same(dest: Path, size: int, mtime: float) -> bool:
    try:
        st = dest.stat()
    except OSError:
        return False
    return st.st_size == size and int(st.st_mtime) == int(mtime)


@contextlib.contextmanager
def _replacing(dest: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """(a file to write, its path) beside dest; dest is replaced by it only when the block ends without raising."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the cache from other users of the machine
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _write(dest: Path, src: IO[bytes], mtime: float) -> None:
    """src's bytes to dest, through a temporary file beside it, dated mtime."""
    with _replacing(dest) as (out, tmp):
        shutil.copyfileobj(src, out, _CHUNK)
        out.flush()
        os.utime(tmp, (mtime, mtime))


# --- the registry ------------------------------------------------------------------------


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _download(package: NpmPackage, target: Path, registry: str, progress: bool) -> None:
    url = package.url(registry)
    with _replacing(target) as (out, tmp):
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
                total = int(response.headers.get("Content-Length") or 0)
                _say(progress, f"downloading {package.name} {package.version} ({total / 1e6:.0f} MB) from {url}")
                bar, done = _Progress(package.tarball, total, progress), 0
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        bar.update(done)
                finally:
                    bar.close()
        except urllib.error.HTTPError as exc:
            raise cat.NET_DOWNLOAD_FAILED.error(f"{url}: HTTP {exc.code}", url=url, status=exc.code) from exc
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets; a malformed registry address
            raise cat.NET_DOWNLOAD_FAILED.error(f"{url}: {exc}", url=url) from exc
        out.flush()
        got = _integrity(tmp)
        if got != package.integrity:
            raise cat.NET_DOWNLOAD_FAILED.error(
                f"{url} does not match its pinned integrity: got {got[:24]}…, expected {package.integrity[:24]}…",
                url=url,
                expected=package.integrity,
                got=got,
            )


def fetch_tarball(
    package: NpmPackage, *, cache_dir: Path | None = None, registry: str = REGISTRY, progress: bool = True, verify: bool = True
) -> Path:
    """The package's tarball in the download cache (paths.cache_dir()/npm/), downloaded when missing.

    A cached tarball is checked against the pinned integrity (unless verify is false) and
    downloaded afresh, once, when it fails. Raises NET_DOWNLOAD_FAILED.
    """
    folder = (Path(cache_dir) if cache_dir is not None else paths.cache_dir()) / "npm"
    target = folder / package.tarball
    if target.is_file():
        if not verify or _integrity(target) == package.integrity:
            return target
        _say(progress, f"{target} fails its pinned integrity: downloading it again")
        target.unlink()
    _download(package, target, registry, progress)
    return target


def extract(package: NpmPackage, tarball: Path, vendor_dir: Path) -> list[Path]:
    """The package's bundle files from its tarball into vendor_dir/<folder>/ (nothing else is read out).

    Raises NET_DOWNLOAD_FAILED when the tarball is damaged or lacks one of the files.
    """
    wanted = {package.member(file): file for file in package.files}
    out: dict[str, Path] = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                file = wanted.get(member.name)
                if file is None:
                    continue
                if not member.isfile():
                    raise cat.NET_DOWNLOAD_FAILED.error(f"{tarball.name}: {member.name} is not a regular file", path=str(tarball))
                dest = vendor_dir / package.folder / file
                if not _same(dest, member.size, member.mtime):
                    src = tar.extractfile(member)
                    assert src is not None  # a regular file always has its bytes
                    with src:
                        _write(dest, src, member.mtime)
                out[file] = dest
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:  # not OSError: a full disk is not a bad tarball
        raise cat.NET_DOWNLOAD_FAILED.error(f"{tarball.name} is damaged: {exc}", path=str(tarball)) from exc
    missing = [m for m, f in wanted.items() if f not in out]
    if missing:
        raise cat.NET_DOWNLOAD_FAILED.error(f"{tarball.name} has no {', '.join(missing)}", path=str(tarball), missing=missing)
    return [out[file] for file in package.files]


def from_registry(
    vendor_dir: Path,
    *,
    packages: Iterable[NpmPackage] = PACKAGES,
    cache_dir: Path | None = None,
    registry: str = REGISTRY,
    progress: bool = True,
) -> list[Path]:
    """vendor_dir/<folder>/<file> for every package's files, from its cached (or downloaded) tarball."""
    written: list[Path] = []
    for package in packages:
        tarball = fetch_tarball(package, cache_dir=cache_dir, registry=registry, progress=progress)
        written += extract(package, tarball, vendor_dir)
    return written


# --- a checkout's node_modules -----------------------------------------------------------


def _node_modules(node_modules: Path | None) -> Path:
    if node_modules is not None:
        return Path(node_modules)
    root = paths.checkout_root()
    if root is None:
        raise cat.CONFIG_ENVIRONMENT_MISMATCH.error("no node_modules: this is not a checkout (use from_registry)")
    return root / "node_modules"


def _installed_version(node_modules: Path, package: NpmPackage) -> str | None:
    try:
        version = json.loads((node_modules / package.name / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def node_modules_files(node_modules: Path | None = None, packages: Iterable[NpmPackage] = PACKAGES) -> dict[str, Path]:
    """Each vendored file's bundle path -> its file in node_modules (default: the checkout's).

    Raises CONFIG_ENVIRONMENT_MISMATCH when a package is missing, holds another version than the
    pinned one (run ``npm ci``), or lacks a file.
    """
    folder = _node_modules(node_modules)
    out: dict[str, Path] = {}
    for package in packages:
        version = _installed_version(folder, package)
        if version != package.version:
            found = f"version {version}" if version else "nothing"
            raise cat.CONFIG_ENVIRONMENT_MISMATCH.error(
                f"{folder / package.name} holds {found}, not the pinned {package.version}: run `npm ci`",
                package=package.name,
                found=version,
                pinned=package.version,
            )
        for file in package.files:
            src = folder / package.name / package.source / file
            if not src.is_file():
                raise cat.CONFIG_ENVIRONMENT_MISMATCH.error(f"{src} is missing: run `npm ci`", path=str(src))
            out[package.bundle_path(file)] = src
    return out


def from_node_modules(vendor_dir: Path, node_modules: Path | None = None, packages: Iterable[NpmPackage] = PACKAGES) -> list[Path]:
    """vendor_dir/<folder>/<file> for every package's files, copied from node_modules (no download)."""
    written: list[Path] = []
    for rel, src in node_modules_files(node_modules, packages).items():
        dest = vendor_dir / rel.removeprefix("vendor/")
        st = src.stat()
        if not _same(dest, st.st_size, st.st_mtime):
            with src.open("rb") as f:
                _write(dest, f, st.st_mtime)
        written.append(dest)
    return written


def ensure_vendor(
    vendor_dir: Path,
    *,
    node_modules: Path | None = None,
    cache_dir: Path | None = None,
    registry: str = REGISTRY,
    progress: bool = True,
) -> list[Path]:
    """The bundle's vendor/ files in vendor_dir.

    From node_modules when given (its errors raised as they are); else from the checkout's
    node_modules when it holds the pinned versions; else from the registry's tarballs (cached).
    """
    if node_modules is not None:
        return from_node_modules(vendor_dir, node_modules)
    root = paths.checkout_root()
    if root is not None:
        try:
            return from_node_modules(vendor_dir, root / "node_modules")
        except LLMError as exc:
            _say(progress, f"not from node_modules ({exc.message}): from the registry")
    return from_registry(vendor_dir, cache_dir=cache_dir, registry=registry, progress=progress)
