"""Rebuild the WASM variant's float32 weights from its packed 4-bit file.

The WASM variant ships the GGUF's own quantized blocks (``weights.q4``, about
the GGUF's size) and a ``layout.json`` saying where each float32 tensor goes in
the graph's external-data file. The browser does this in
web/lib/engine/weights.js while onnxruntime-web reads the weights, so the
~540 MB float32 file never exists in the page. This module is the same
computation in numpy: the build checks it against the builder's float32 graph
(byte for byte), and tests and benchmarks use it to run the exact same weights
in onnxruntime for Python. Keep the two in step.

Layout entry: ``{"name", "offset", "bytes", "kind", "src_offset", "rows", "cols", "transpose"}``.
``kind`` is ``q4_1`` (blocks of 32: fp16 d, fp16 m, 16 bytes; byte j holds
element j in its low nibble and j+16 in its high nibble; value = d*q + m),
``q8_0`` (fp16 d, 32 int8; value = d*q) or ``f32`` (raw). The result is the
row-major [rows, cols] float32 matrix, or its transpose when ``transpose`` is
set. Two more kinds read Q8_0 blocks without dequantizing them (never
transposed): ``q8_0_u8``, the [rows, cols] values as uint8 (q + 128, ONNX's
8-bit zero-point form), and ``q8_0_d``, the [rows, cols/32] scales as float32.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 32
BLOCK_BYTES = {"q4_1": 20, "q8_0": 34}
SOURCE_KIND = {"q8_0_u8": "q8_0", "q8_0_d": "q8_0"}  # kinds that read another kind's blocks


def output_bytes(kind: str, rows: int, cols: int) -> int:
    """Bytes the tensor takes in the external-data file."""
    if kind == "q8_0_u8":
        return rows * cols
    if kind == "q8_0_d":
        return rows * (cols // BLOCK) * 4
    return rows * cols * 4


def dequantize(kind: str, raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The tensor that ``raw`` (the blocks of ``kind``) encodes: see the module's docstring."""
    if kind == "f32":
        return raw.view(np.float32).reshape(rows, cols)
    blocks = raw.reshape(rows, cols // BLOCK, BLOCK_BYTES[SOURCE_KIND.get(kind, kind)])
    if kind == "q8_0_u8":
        return (blocks[..., 2:].view(np.int8).astype(np.int16) + 128).astype(np.uint8).reshape(rows, cols)
    if kind == "q8_0_d":
        return blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)[..., None]
    if kind == "q4_1":
        m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)[..., None]
        nibbles = blocks[..., 4:]
        q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32)
        return (d * q + m).reshape(rows, cols)
    q = blocks[..., 2:].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(rows, cols)


def tensor(entry: dict[str, Any], packed: np.ndarray) -> np.ndarray:
    kind, rows, cols = entry["kind"], entry["rows"], entry["cols"]
    source = SOURCE_KIND.get(kind, kind)
    size = rows * cols * 4 if source == "f32" else rows * (cols // BLOCK) * BLOCK_BYTES[source]
    raw = packed[entry["src_offset"] : entry["src_offset"] + size]
    matrix = dequantize(kind, raw, rows, cols)
    return np.ascontiguousarray(matrix.T if entry["transpose"] else matrix)


def materialize(layout: dict[str, Any], packed: bytes | np.ndarray) -> bytearray:
    """The whole external-data file, as onnxruntime expects it."""
    src = np.frombuffer(packed, dtype=np.uint8) if isinstance(packed, (bytes, bytearray)) else packed
    out = bytearray(layout["total_bytes"])
    for entry in layout["tensors"]:
        data = tensor(entry, src).tobytes()
        assert len(data) == entry["bytes"], entry["name"]
        out[entry["offset"] : entry["offset"] + entry["bytes"]] = data
    return out


def materialize_dir(variant_dir: Path, out_dir: Path, data_name: str = "model.onnx.data", graph: Path | None = None) -> Path:
    """A runnable copy of the variant for onnxruntime in Python, which reads
    external data from disk: ``out_dir/model.onnx`` (a copy of ``graph``,
    default the shipped one; browser_model.step_graph() is the standard
    decoder step on the same weights) + the float32 data file.

    Written outside the web bundle on purpose: the 540 MB file must never be
    served or precached. Returns the graph's path.
    """
    layout_bytes = (variant_dir / "layout.json").read_bytes()
    packed = (variant_dir / "weights.q4").read_bytes()
    layout = json.loads(layout_bytes)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy = out_dir / "model.onnx"
    copy.write_bytes((graph or variant_dir / "model.onnx").read_bytes())
    target, stamp = out_dir / data_name, out_dir / (data_name + ".source")
    source = hashlib.sha256(layout_bytes + hashlib.sha256(packed).digest()).hexdigest()
    if not (target.exists() and stamp.exists() and stamp.read_text() == source):
        target.write_bytes(materialize(layout, packed))
        stamp.write_text(source)
    return copy
