"""Build the browser's model from the embedded GGUF: one command, cached, checksummed.

    python build/browser_model.py            # into dist/web/models/smollm2-135m-instruct/
    python build/browser_model.py --force    # rebuild even when the inputs are unchanged

Steps (each prints its progress): the GGUF (build/fetch_model.py) -> a build
environment with the heavy tools (.cache/model-venv, from
build/model-requirements.txt; never needed at run time) -> a Hugging Face
folder and a float32 GGUF from the GGUF (build/gguf_to_hf.py) ->
onnxruntime-genai's float32 decoder with KV cache -> the two variants with the
GGUF's own blocks (build/onnx_variants.py) -> manifest.json with each file's
SHA-256, which the page checks after download.

Nothing is rebuilt when the manifest's ``inputs`` key (GGUF hash + these
scripts + the requirements) is unchanged and the files still have their sizes.
The float32 GGUF and the builder's float32 graph stay in
.cache/browser-model/<key>/ for bench/model_quality.py.
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
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build"))
sys.path.insert(0, str(ROOT))

import fetch_model  # noqa: E402

NAME: Final = "SmolLM2-135M-Instruct"
SLUG: Final = "smollm2-135m-instruct"
OUT_DIR: Final = ROOT / "dist" / "web" / "models" / SLUG
CACHE: Final = ROOT / ".cache" / "browser-model"
VENV: Final = ROOT / ".cache" / "model-venv"
REQUIREMENTS: Final = ROOT / "build" / "model-requirements.txt"
SCRIPTS: Final = ("browser_model.py", "gguf_to_hf.py", "onnx_variants.py", "wasm_weights.py", "model-requirements.txt")
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

_started = time.monotonic()


def say(message: str) -> None:
    print(f"[browser-model {time.monotonic() - _started:6.1f}s] {message}", file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def inputs_key(gguf_sha: str) -> str:
    h = hashlib.sha256(gguf_sha.encode())
    for name in SCRIPTS:
        h.update((ROOT / "build" / name).read_bytes())
    return h.hexdigest()[:16]


def venv_python() -> Path:
    """The build environment, created or updated when the requirements change."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    say(f"creating the build environment {VENV.relative_to(ROOT)} (torch, transformers, onnxruntime-genai; a few minutes)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", "--quiet", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(want)
    return python


def run(python: Path, *args: str) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    result = subprocess.run([str(python), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:])
        raise SystemExit(f"browser-model: step failed: {' '.join(args[:2])} (exit {result.returncode})")


def up_to_date(key: str) -> bool:
    manifest = OUT_DIR / "manifest.json"
    if not manifest.exists():
        return False
    try:
        data = json.loads(manifest.read_text())
        files: dict[str, Any] = data["files"]
        return bool(data.get("inputs") == key and all((OUT_DIR / p).stat().st_size == f["bytes"] for p, f in files.items()))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def build(work: Path, gguf: Path, python: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    hf, f32, fp32 = work / "hf", work / "model-f32.gguf", work / "fp32"
    local_gguf = work / gguf.name  # transformers reads a GGUF from a folder
    if not local_gguf.exists():
        local_gguf.symlink_to(gguf)
    say("1/4 tokenizer and config from the GGUF")
    run(python, str(ROOT / "build" / "gguf_to_hf.py"), "meta", str(local_gguf), str(hf))
    say("2/4 dequantizing the GGUF to float32 (for the builder and for llama.cpp in bench/model_quality.py)")
    run(python, str(ROOT / "build" / "gguf_to_hf.py"), "f32", str(local_gguf), str(f32))
    say("3/4 onnxruntime-genai builder: float32 decoder with GroupQueryAttention and KV cache")
    run(python, "-m", "onnxruntime_genai.models.builder", "-m", str(hf), "-i", str(f32), "-o", str(fp32), "-p", "fp32", "-e", "cpu")
    say("4/4 variants from the GGUF's own blocks (webgpu: 4-bit MatMulNBits; wasm: float32 over packed blocks)")
    run(python, str(ROOT / "build" / "onnx_variants.py"), "--gguf", str(local_gguf), "--fp32", str(fp32), "--out", str(work / "out"))


def install(work: Path, key: str, gguf_sha: str) -> None:
    staging = OUT_DIR.with_name(OUT_DIR.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "wasm").mkdir(parents=True)
    (staging / "webgpu").mkdir()
    for rel in SHIPPED:
        src = work / "out" / rel if rel.startswith(("wasm/", "webgpu/")) else work / "hf" / rel
        if not src.exists() and rel == "chat_template.jinja":
            src = work / "fp32" / rel
        shutil.copyfile(src, staging / rel)
    config = json.loads((work / "hf" / "config.json").read_text())
    files = {rel: {"sha256": sha256(staging / rel), "bytes": (staging / rel).stat().st_size} for rel in SHIPPED}
    manifest = {
        "name": NAME,
        "build_id": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16],
        "inputs": key,
        "source": {"gguf": fetch_model.MODEL_FILE, "sha256": gguf_sha},
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
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    staging.rename(OUT_DIR)


def work_dir(model_dir: Path = OUT_DIR) -> Path:
    """Where the current build keeps its intermediates (float32 GGUF, builder graph)."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    return CACHE / manifest["inputs"]


def step_graph(model_dir: Path = OUT_DIR) -> Path:
    """The WASM variant's standard decoder step (logits + presents, no new_key_values.*), on the same weights.

    Not shipped: it is for tools that drive their own decoding loop (the
    benchmark's peers, the tests' references in onnxruntime).
    """
    return work_dir(model_dir) / "out" / "wasm" / "step.onnx"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    gguf = fetch_model.ensure_model(progress=True)
    gguf_sha = fetch_model.MODEL_SHA256
    key = inputs_key(gguf_sha)
    if not a.force and up_to_date(key):
        say(f"up to date: {OUT_DIR.relative_to(ROOT)} (inputs {key})")
        print(OUT_DIR)
        return 0
    python = venv_python()
    work = CACHE / key
    build(work, gguf, python)
    install(work, key, gguf_sha)
    size = sum(f.stat().st_size for f in OUT_DIR.rglob("*") if f.is_file())
    say(f"done: {OUT_DIR.relative_to(ROOT)} ({size / 1e6:.0f} MB)")
    print(OUT_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
