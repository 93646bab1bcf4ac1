"""Build the browser's model from the embedded GGUF: one call, cached, checksummed.

``python build/browser_model.py`` (``make browser-model``) and
``python -m llm_runner_router.edge.browser_model`` run :func:`main`; a
program calls :func:`ensure_browser_model`. The output folder defaults to the
browser bundle's ``models/<SLUG>`` (paths.web_dir: dist/web/models/ in a
checkout, the data folder's web/models/ when installed).

Steps (each prints its progress on stderr): the GGUF (model_fetch) -> a build
environment with the heavy tools (``model-venv`` in paths.build_cache_dir():
.cache/model-venv in a checkout; from this folder's model-requirements.txt;
never needed at run time) -> a Hugging Face folder and a float32 GGUF from the
GGUF (gguf_to_hf.py) -> onnxruntime-genai's float32 decoder with KV cache ->
the two variants with the GGUF's own blocks (onnx_variants.py) ->
manifest.json with each file's SHA-256, which the page checks after download.

gguf_to_hf.py, onnx_variants.py and wasm_weights.py beside this file run inside
that build environment (torch, onnx, gguf, onnxruntime-genai), as scripts; this
module imports none of them, so the package imports without those tools.
wasm_weights needs numpy only: tests and benches import it
(``llm_runner_router.edge.browser_model.wasm_weights``).

Nothing is rebuilt when the manifest's ``inputs`` key (GGUF hash + this module,
the three scripts and the requirements, see :data:`KEYED`) is unchanged and the
files still have their sizes. The float32 GGUF and the builder's float32 graph
stay in ``browser-model/<key>/`` in the build cache for bench/model_quality.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.classify import classify

from .. import model_fetch, paths

__all__ = [
    "DEFAULT_SYSTEM",
    "KEYED",
    "NAME",
    "REQUIREMENTS",
    "SHIPPED",
    "SLUG",
    "default_out_dir",
    "ensure_browser_model",
    "inputs_key",
    "main",
    "run_step",
    "script",
    "step_graph",
    "up_to_date",
    "venv_dir",
    "venv_python",
    "work_dir",
    "work_root",
]

HERE: Final = Path(__file__).resolve().parent
NAME: Final = "SmolLM2-135M-Instruct"
SLUG: Final = "smollm2-135m-instruct"
REQUIREMENTS: Final = HERE / "model-requirements.txt"
# What the build is made of: a change to any of these files rebuilds the model.
KEYED: Final = ("__init__.py", "gguf_to_hf.py", "onnx_variants.py", "wasm_weights.py", "model-requirements.txt")
DEFAULT_SYSTEM: Final = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
SHIPPED: Final = (
    "tokenizer.json",
    "tokenizer_config.json",
    "config.json",
    "generation_config.json",
    "chat_template.jinja",
    "wasm/model.onnx",
    "wasm/weights.q4",
    "wasm/layout.json",
    "webgpu/model.onnx",
    "webgpu/model.onnx.data",
)


# --- where things go ---------------------------------------------------------------------


def script(name: str) -> Path:
    """One of the scripts that run inside the build environment (``gguf_to_hf.py``, ``onnx_variants.py``, ...)."""
    return HERE / name


def default_out_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The browser bundle's models/<SLUG>: dist/web/models/... in a checkout, the data folder's web/models/... installed."""
    return paths.web_dir(environ) / "models" / SLUG


def work_root(environ: Mapping[str, str] = os.environ) -> Path:
    """The builds' intermediates, a folder per inputs key (.cache/browser-model in a checkout)."""
    return paths.build_cache_dir(environ) / "browser-model"


def venv_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The build environment (.cache/model-venv in a checkout)."""
    return paths.build_cache_dir(environ) / "model-venv"


def _show(path: Path) -> str:
    root = paths.checkout_root()
    return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)


class _Say:
    """``[browser-model   12.3s] message`` on stderr, timed from the start of the call."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.started = enabled, time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[browser-model {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- the key and the check ---------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def inputs_key(gguf_sha: str = model_fetch.MODEL_SHA256) -> str:
    """The build's identity: the GGUF's hash and the bytes of every file in KEYED, in that order."""
    h = hashlib.sha256(gguf_sha.encode())
    for name in KEYED:
        h.update((HERE / name).read_bytes())
    return h.hexdigest()[:16]


def up_to_date(out_dir: Path, key: str) -> bool:
    """out_dir holds a build of exactly these inputs, every listed file at its size."""
    manifest = out_dir / "manifest.json"
    if not manifest.exists():
        return False
    try:
        data = json.loads(manifest.read_text())
        files: dict[str, Any] = data["files"]
        return bool(data.get("inputs") == key and all((out_dir / p).stat().st_size == f["bytes"] for p, f in files.items()))
    except (OSError, ValueError, KeyError, TypeError):
        return False


# --- the build environment and its steps -------------------------------------------------


def venv_python(venv: Path | None = None, *, progress: bool = True) -> Path:
    """The build environment's python, the environment created or updated when the requirements change.

    Raises NET_DOWNLOAD_FAILED when the environment cannot be made (pip could not install the tools).
    """
    venv = venv if venv is not None else venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    _Say(progress)(f"creating the build environment {_show(venv)} (torch, transformers, onnxruntime-genai; a few minutes)")
    commands = [] if python.exists() else [[sys.executable, "-m", "venv", str(venv)]]
    commands.append(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", "--quiet", "-r", str(REQUIREMENTS)]
    )
    for command in commands:
        try:
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        except OSError as exc:
            raise cat.NET_DOWNLOAD_FAILED.error(f"could not run {command[0]}: {exc}", path=str(venv)) from exc
        if result.returncode != 0:
            tail = result.stdout.strip().splitlines()[-3:]
            raise cat.NET_DOWNLOAD_FAILED.error(
                f"making the build environment {venv} failed (exit {result.returncode})" + (f": {' | '.join(tail)}" if tail else ""),
                path=str(venv),
                returncode=result.returncode,
            )
    stamp.write_text(want)
    return python


def run_step(python: Path, *args: str) -> None:
    """One step in the build environment, offline; its output is shown only when it fails.

    Raises MODEL_QUANTIZATION_FAILED (the conversion failed) with the step's exit status.
    """
    # GIT_DIR: onnxruntime-genai's builder stamps its graphs with the commit of any git repository
    # around its own install (a checkout's .cache/model-venv is inside the checkout); with none found it
    # stamps its release's commit, so the graphs' bytes do not depend on where the build ran.
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", GIT_DIR=os.devnull)
    result = subprocess.run([str(python), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:])
        step = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(args[:2]))
        raise cat.MODEL_QUANTIZATION_FAILED.error(
            f"browser model build step failed: {step} (exit {result.returncode})", step=step, returncode=result.returncode
        )


def _build(work: Path, gguf: Path, python: Path, say: _Say) -> None:
    work.mkdir(parents=True, exist_ok=True)
    hf, f32, fp32 = work / "hf", work / "model-f32.gguf", work / "fp32"
    local_gguf = work / gguf.name  # transformers reads a GGUF from a folder
    if local_gguf.is_symlink() and local_gguf.resolve() != gguf.resolve():
        local_gguf.unlink()  # the same inputs from another models folder, or a link left dangling
    if not local_gguf.exists():
        local_gguf.symlink_to(gguf)
    say("1/4 tokenizer and config from the GGUF")
    run_step(python, str(script("gguf_to_hf.py")), "meta", str(local_gguf), str(hf))
    say("2/4 dequantizing the GGUF to float32 (for the builder and for llama.cpp in bench/model_quality.py)")
    run_step(python, str(script("gguf_to_hf.py")), "f32", str(local_gguf), str(f32))
    say("3/4 onnxruntime-genai builder: float32 decoder with GroupQueryAttention and KV cache")
    run_step(python, "-m", "onnxruntime_genai.models.builder", "-m", str(hf), "-i", str(f32), "-o", str(fp32), "-p", "fp32", "-e", "cpu")
    say("4/4 variants from the GGUF's own blocks (webgpu: 4-bit MatMulNBits; wasm: float32 over packed blocks)")
    run_step(python, str(script("onnx_variants.py")), "--gguf", str(local_gguf), "--fp32", str(fp32), "--out", str(work / "out"))


def _install(work: Path, out_dir: Path, key: str, gguf_sha: str) -> None:
    """The shipped files and their manifest into out_dir, replacing what was there only once all are written."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "wasm").mkdir(parents=True)
    (staging / "webgpu").mkdir()
    for rel in SHIPPED:
        src = work / "out" / rel if rel.startswith(("wasm/", "webgpu/")) else work / "hf" / rel
        if not src.exists() and rel == "chat_template.jinja":
            src = work / "fp32" / rel
        shutil.copyfile(src, staging / rel)
    config = json.loads((work / "hf" / "config.json").read_text())
    files = {rel: {"sha256": _sha256(staging / rel), "bytes": (staging / rel).stat().st_size} for rel in SHIPPED}
    manifest = {
        "name": NAME,
        "build_id": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16],
        "inputs": key,
        "source": {"gguf": model_fetch.MODEL_FILE, "sha256": gguf_sha},
        "config": {
            "num_layers": config["num_hidden_layers"],
            "num_kv_heads": config["num_key_value_heads"],
            "head_dim": config["hidden_size"] // config["num_attention_heads"],
            "vocab_size": config["vocab_size"],
            "context_length": config["max_position_embeddings"],
        },
        "tokenizer": "tokenizer.json",
        "chat": {"format": "chatml", "default_system": DEFAULT_SYSTEM, "eos_token_ids": [config["eos_token_id"]], "bos_token": None},
        "variants": {
            "wasm": {
                "graph": "wasm/model.onnx",
                "external_data_path": "model.onnx.data",
                "packed": "wasm/weights.q4",
                "layout": "wasm/layout.json",
            },
            "webgpu": {"graph": "webgpu/model.onnx", "external_data_path": "model.onnx.data", "data": "webgpu/model.onnx.data"},
        },
        "files": files,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)


def ensure_browser_model(
    out_dir: Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    models_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """The folder holding the browser model built from the embedded GGUF, built when missing or stale.

    out_dir: where the model goes (default :func:`default_out_dir`). models_dir: where the GGUF is
    fetched (default paths.models_dir()). cache_dir: where the build environment and the
    intermediates go (default paths.build_cache_dir(): ``model-venv/`` and ``browser-model/<key>/``).
    Returns at once when out_dir already holds this build (unless force).

    Raises an LLMError: the GGUF's (model_fetch.ensure_model), NET_DOWNLOAD_FAILED (the build
    environment could not be installed), MODEL_QUANTIZATION_FAILED (a conversion step failed).
    """
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
    build_cache = Path(cache_dir) if cache_dir is not None else paths.build_cache_dir()
    say = _Say(progress)
    gguf = model_fetch.ensure_model(models_dir, progress=progress)
    gguf_sha = model_fetch.MODEL_SHA256
    key = inputs_key(gguf_sha)
    if not force and up_to_date(out_dir, key):
        say(f"up to date: {_show(out_dir)} (inputs {key})")
        return out_dir
    python = venv_python(build_cache / "model-venv", progress=progress)
    work = build_cache / "browser-model" / key
    _build(work, gguf, python, say)
    _install(work, out_dir, key, gguf_sha)
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    say(f"done: {_show(out_dir)} ({size / 1e6:.0f} MB)")
    return out_dir


# --- the build's intermediates, for tools ------------------------------------------------


def work_dir(model_dir: Path | None = None, *, cache_dir: Path | None = None) -> Path:
    """Where the build of model_dir keeps its intermediates (float32 GGUF, builder graph), by its manifest's key."""
    model_dir = model_dir if model_dir is not None else default_out_dir()
    manifest = json.loads((model_dir / "manifest.json").read_text())
    root = cache_dir / "browser-model" if cache_dir is not None else work_root()
    return root / str(manifest["inputs"])


def step_graph(model_dir: Path | None = None, *, cache_dir: Path | None = None) -> Path:
    """The WASM variant's standard decoder step (logits + presents, no new_key_values.*), on the same weights.

    Not shipped: it is for tools that drive their own decoding loop (the
    benchmark's peers, the tests' references in onnxruntime).
    """
    return work_dir(model_dir, cache_dir=cache_dir) / "out" / "wasm" / "step.onnx"


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Build (or find up to date) the browser model; print its folder on stdout, errors as a catalogue code."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    ap.add_argument("--out", type=Path, default=None, help="the model's folder (default: the browser bundle's models/" + SLUG + ")")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    try:
        out = ensure_browser_model(args.out, force=args.force, progress=not args.quiet)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is reported as its catalogue code, never as a traceback
        print(f"browser_model: {classify(exc)}", file=sys.stderr)
        return 1
    print(out)
    return 0
