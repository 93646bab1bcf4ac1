"""Greedy reference tokens from Python onnxruntime on the built WASM decoder step, for tests/web_js/engine.test.mjs.

The engine test runs this itself, so the reference always comes from the
model as built now.

Materialises the float32 external data from weights.q4 + layout.json with the
numpy reference (make_weights_fixture.dequantize_all), runs the variant's
standard decoder step (llm_runner_router.edge.browser_model.step_graph: the shipped graph
without its new_key_values.* outputs, which the engine reads instead of the
presents) with onnxruntime's CPU provider and a KV-cache loop in Python, and
writes OUT (default: stdout) as JSON: the build id, the packed file's and float32
file's sha256, and per prompt the prompt ids, 16 greedy ids and the margin
between the best and second-best logit at each step (a near-tie is where two
runtimes' float rounding may pick differently).

    .cache/model-venv/bin/python tests/web_js/engine_reference.py [OUT]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))  # the checkout's llm_runner_router: the build environment does not install it
from make_weights_fixture import dequantize_all  # noqa: E402

from llm_runner_router.edge.browser_model import step_graph  # noqa: E402

MODEL_DIR = ROOT / "dist/web/models/smollm2-135m-instruct"
STEPS = 16

# (kind, messages): chat prompts are rendered with the model's ChatML template.
PROMPTS = [
    ("chat", [{"role": "user", "content": "What is the capital of France?"}]),
    ("chat", [{"role": "system", "content": "You are a poet."}, {"role": "user", "content": "Write about the sea."}]),
    ("text", [{"role": "user", "content": "The quick brown fox"}]),
]


def chatml(messages: list[dict], default_system: str) -> str:
    out = ""
    if messages and messages[0]["role"] != "system":
        out += f"<|im_start|>system\n{default_system}<|im_end|>\n"
    for m in messages:
        out += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
    return out + "<|im_start|>assistant\n"


def sha256(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


def greedy(session: ort.InferenceSession, prompt_ids: list[int], steps: int) -> tuple[list[int], list[float]]:
    inputs = [i.name for i in session.get_inputs()]
    past = {n: np.zeros((1, 3, 0, 64), np.float32) for n in inputs if n.startswith("past_key_values.")}
    ids = np.array([prompt_ids], np.int64)
    total = 0
    out_ids, margins = [], []
    for _ in range(steps):
        total += ids.shape[1]
        feeds = {"input_ids": ids, "attention_mask": np.ones((1, total), np.int64), **past}
        names = [o.name for o in session.get_outputs()]
        results = dict(zip(names, session.run(names, feeds), strict=True))
        logits = results["logits"][0, -1]
        top2 = np.sort(logits)[-2:]
        token = int(np.argmax(logits))
        out_ids.append(token)
        margins.append(float(top2[1] - top2[0]))
        past = {n: results[n.replace("past_key_values.", "present.")] for n in past}
        ids = np.array([[token]], np.int64)
    return out_ids, margins


def main() -> None:
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    variant = manifest["variants"]["wasm"]
    step = step_graph(MODEL_DIR)
    packed = (MODEL_DIR / variant["packed"]).read_bytes()
    layout = json.loads((MODEL_DIR / variant["layout"]).read_text())
    data = dequantize_all(packed, layout)
    tok = Tokenizer.from_file(str(MODEL_DIR / manifest["tokenizer"]))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(step, Path(tmp) / "model.onnx")
        (Path(tmp) / variant["external_data_path"]).write_bytes(data)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(Path(tmp) / "model.onnx"), options, providers=["CPUExecutionProvider"])
        cases = []
        for kind, messages in PROMPTS:
            text = chatml(messages, manifest["chat"]["default_system"]) if kind == "chat" else messages[0]["content"]
            prompt_ids = tok.encode(text).ids
            ids, margins = greedy(session, prompt_ids, STEPS)
            cases.append(
                {
                    "kind": kind,
                    "messages": messages,
                    "prompt_ids": prompt_ids,
                    "greedy_ids": ids,
                    "greedy_text": tok.decode(ids, skip_special_tokens=True),
                    "margins": [round(m, 4) for m in margins],
                }
            )
    fixture = {
        "build_id": manifest["build_id"],
        "packed_sha256": sha256(packed),
        "data_sha256": sha256(data),
        "onnxruntime": ort.__version__,
        "cases": cases,
    }
    text = json.dumps(fixture, ensure_ascii=False, indent=1) + "\n"
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for c in cases:
        print(repr(c["greedy_text"]), "min margin", min(c["margins"]), file=sys.stderr)


if __name__ == "__main__":
    main()
