"""The numpy reference for web/lib/engine/weights.js, and a small fixture made with it.

`dequantize_all(packed, layout)` rebuilds the float32 external-data file from
weights.q4 + layout.json with edge_server/browser_model/wasm_weights.py (the numpy side of the
layout contract, which the build checks byte for byte against the builder's
float32 graph). Run as a script, it writes tests/web_js/fixtures/weights/ (a packed
file covering every kind, both orientations, odd shapes and padding gaps, and
the float32 bytes numpy makes of it) for tests/web_js/weights.test.mjs.

    .cache/model-venv/bin/python tests/web_js/make_weights_fixture.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's llm_runner_router (not installed in the build environment)
from llm_runner_router.edge.browser_model import wasm_weights  # noqa: E402

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "weights"
BLOCK = 32


def dequantize_all(packed: bytes | np.ndarray, layout: dict) -> bytearray:
    """The float32 external-data file, by the build's own numpy reference (browser_model/wasm_weights.py)."""
    return wasm_weights.materialize(layout, packed)


def _pack(kind: str, rows: int, cols: int, rng: np.random.Generator) -> bytes:
    if kind == "f32":
        return rng.standard_normal((rows, cols)).astype("<f4").tobytes()
    nblocks = rows * cols // BLOCK
    # Scales over several decades, including fp16 subnormals and negatives.
    d = (rng.choice([-1, 1], nblocks) * 10.0 ** rng.uniform(-7, 0, nblocks)).astype("<f2")
    if kind == "q4_1":
        mn = rng.uniform(-0.5, 0.5, nblocks).astype("<f2")
        qs = rng.integers(0, 256, (nblocks, 16), dtype=np.uint8)
        blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), mn.view(np.uint8).reshape(-1, 2), qs], axis=1)
    else:
        qs = rng.integers(-128, 128, (nblocks, 32), dtype=np.int8).view(np.uint8)
        blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), qs], axis=1)
    return blocks.tobytes()


def _write_tiny_model(layout: dict, data: bytearray) -> None:
    """tiny.onnx reads two tensors of the fixture as external data from
    "model.onnx.data": y = x @ q_proj (stored transposed, [96, 5]) and
    rows = emb[ids]; the test mounts a DequantizingView under that name."""
    from onnx import TensorProto, helper

    by_name = {t["name"]: t for t in layout["tensors"]}

    def external(name: str, dims: list[int]) -> TensorProto:
        t = by_name[name]
        proto = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
        proto.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "model.onnx.data"), ("offset", str(t["offset"])), ("length", str(t["bytes"]))):
            proto.external_data.add(key=key, value=value)
        return proto

    q, e = by_name["q_proj"], by_name["emb"]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "q_proj"], ["y"]),
            helper.make_node("Gather", ["emb", "ids"], ["rows"], axis=0),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, q["cols"]]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, [2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, q["rows"]]),
            helper.make_tensor_value_info("rows", TensorProto.FLOAT, [2, e["cols"]]),
        ],
        initializer=[external("q_proj", [q["cols"], q["rows"]]), external("emb", [e["rows"], e["cols"]])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (FIXTURE_DIR / "tiny.onnx").write_bytes(model.SerializeToString())
    x = np.linspace(-1, 1, q["cols"], dtype=np.float32)[None, :]
    ids = [6, 2]
    w = np.frombuffer(bytes(data[q["offset"] : q["offset"] + q["bytes"]]), "<f4").reshape(q["cols"], q["rows"])
    emb = np.frombuffer(bytes(data[e["offset"] : e["offset"] + e["bytes"]]), "<f4").reshape(e["rows"], e["cols"])
    expected = {"x": x[0].tolist(), "ids": ids, "y": (x @ w)[0].tolist(), "rows": emb[ids].tolist()}
    (FIXTURE_DIR / "tiny_expected.json").write_text(json.dumps(expected) + "\n")


def main() -> None:
    rng = np.random.default_rng(20240611)
    shapes = [
        ("emb", "q8_0", 7, 64, False),
        ("q_proj", "q4_1", 5, 96, True),
        ("k_proj", "q4_1", 3, 32, False),
        ("norm", "f32", 1, 9, False),
        ("down", "q8_0", 4, 32, True),
        ("bias", "f32", 3, 5, True),
        ("up", "q4_1", 6, 64, False),
    ]
    # Tensors that read emb's blocks again, as the real layout's embedding
    # lookup (8-bit values + scales) and LM head chunks (a row range) do.
    reads_emb = [("emb.q8", "q8_0_u8", 0, 7), ("emb.scales", "q8_0_d", 0, 7), ("emb.rows3", "q8_0", 3, 4)]
    packed = bytearray()
    tensors = []
    offset = 0

    def place(name: str, kind: str, src_offset: int, rows: int, cols: int, transpose: bool) -> None:
        nonlocal offset
        size = wasm_weights.output_bytes(kind, rows, cols)
        tensors.append(
            {
                "name": name,
                "offset": offset,
                "bytes": size,
                "kind": kind,
                "src_offset": src_offset,
                "rows": rows,
                "cols": cols,
                "transpose": transpose,
            }
        )
        offset += size

    for i, (name, kind, rows, cols, transpose) in enumerate(shapes):
        if i % 2:
            offset += 64  # a gap, as alignment padding leaves in real files
        place(name, kind, len(packed), rows, cols, transpose)
        packed += _pack(kind, rows, cols, rng)
    emb = tensors[0]
    for name, kind, first, rows in reads_emb:
        offset += 5  # leaves float32 tensors unaligned: exercises the copy path
        place(name, kind, emb["src_offset"] + first * emb["cols"] // BLOCK * 34, rows, emb["cols"], False)
    layout = {"total_bytes": offset + 16, "tensors": tensors}
    expected = dequantize_all(bytes(packed), layout)
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    (FIXTURE_DIR / "weights.q4").write_bytes(packed)
    (FIXTURE_DIR / "layout.json").write_text(json.dumps(layout, indent=1) + "\n")
    (FIXTURE_DIR / "expected.f32").write_bytes(expected)
    _write_tiny_model(layout, expected)
    print(f"wrote {FIXTURE_DIR}: {len(packed)} packed bytes, {len(expected)} float32 bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
