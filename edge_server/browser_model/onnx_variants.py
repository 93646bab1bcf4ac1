"""Make the browser's two ONNX variants from the builder's float32 graph and the GGUF's own blocks.

Runs inside the model-build environment (model-venv: onnx, gguf, numpy), as a
script; the package's browser_model module (this folder's __init__.py) drives it. Input: onnxruntime-genai's float32 decoder
(GroupQueryAttention + KV cache) built from the GGUF dequantized to float32.
Its weights are then replaced by the GGUF's quantized blocks, exactly (never
re-quantized: the builder's own int4 re-quantization agrees on only 10 of 96
greedy tokens):

- ``webgpu``: MatMulNBits with 4-bit weights and uint8 zero points of 0 (the
  only zero-point form the WebGPU EP takes); Q4_1's per-block minimum is added
  back by a small block-sum MatMul. Embedding and LM head (tied, Q8_0):
  GatherBlockQuantized / 8-bit MatMulNBits.
- ``wasm``: plain float32 MatMul (onnxruntime-web's WASM MatMulNBits is ~8x
  slower than its float32 MatMul), but what is shipped is the 4-bit blocks
  (``weights.q4``) plus ``layout.json``; the page dequantizes them while the
  session reads its external data (web/lib/engine/weights.js). The tied
  embedding's Q8_0 blocks are shipped once; the embedding lookup reads them as
  8-bit values and scales, the LM head as float32 row chunks through
  Gemm(transB), so no transposed copy is folded at load.

Both: logits for the last position only (a prompt's other positions are never
sampled; this saves the LM head on every prompt token), and the KV head
dimension fixed to 64 (the builder leaves it symbolic, which some runtimes read
as 0).

    python onnx_variants.py --gguf G --fp32 DIR --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from gguf import GGMLQuantizationType, GGUFReader
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wasm_weights  # noqa: E402  (sibling module, run as a script)

N_HEAD, N_KV_HEAD, HEAD_DIM = 9, 3, 64
DATA_FILE = "model.onnx.data"
ALIGN = 64
LAST_HIDDEN = "/model/layers.30/final_norm_layernorm/output_0"
LM_HEAD_CHUNKS = 8  # the WASM variant's LM head, in row chunks (see build_wasm)
ONNX_IR_VERSION = 10  # onnx 1.23 writes 14, which onnxruntime 1.31 refuses


def _rope_perm(rows: int, heads: int) -> np.ndarray:
    """llama.cpp's converter permutes q/k rows for its RoPE; undo it (the builder's undo_permute)."""
    return np.arange(rows).reshape(heads, rows // heads // 2, 2).swapaxes(1, 2).reshape(rows)


class Source:
    """The GGUF's tensors as raw block rows (rows are independent, so they permute and concatenate as bytes)."""

    def __init__(self, path: Path) -> None:
        self.tensors = {t.name: t for t in GGUFReader(str(path)).tensors}

    def rows(self, name: str, kind: GGMLQuantizationType, perm: np.ndarray | None = None) -> np.ndarray:
        t = self.tensors[name]
        if t.tensor_type != kind:
            raise SystemExit(f"{name}: expected {kind.name}, the GGUF has {t.tensor_type.name}")
        raw = np.asarray(t.data)
        return raw[perm] if perm is not None else raw

    def layer_weight(self, initializer: str) -> np.ndarray:
        """Q4_1 block rows [N, K/32*20] for a builder weight name like model.layers.3.mlp.up_proj.MatMul.weight."""
        parts = initializer.split(".")
        layer, kind = int(parts[2]), parts[4]
        q4 = GGMLQuantizationType.Q4_1
        if kind == "qkv_proj":
            return np.concatenate(
                [
                    self.rows(f"blk.{layer}.attn_q.weight", q4, _rope_perm(N_HEAD * HEAD_DIM, N_HEAD)),
                    self.rows(f"blk.{layer}.attn_k.weight", q4, _rope_perm(N_KV_HEAD * HEAD_DIM, N_KV_HEAD)),
                    self.rows(f"blk.{layer}.attn_v.weight", q4),
                ]
            )
        gguf_name = {"o_proj": "attn_output", "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}[kind]
        return self.rows(f"blk.{layer}.{gguf_name}.weight", q4)

    def embedding(self) -> np.ndarray:
        return self.rows("token_embd.weight", GGMLQuantizationType.Q8_0)


def _is_layer_matmul(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    return node.op_type == "MatMul" and node.input[1] in inits and node.input[1].startswith("model.layers.")


def _split_q4_1(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block rows -> (d [N, nb], m [N, nb], q [N, nb, 32] in 0..15)."""
    n = rows.shape[0]
    blocks = rows.reshape(n, -1, 20)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    nibbles = blocks[..., 4:]
    return d, m, np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)


def _pack4(q: np.ndarray) -> np.ndarray:
    """MatMulNBits packing: element 2i in the low nibble, 2i+1 in the high."""
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


def _last_position(nodes: list[onnx.NodeProto]) -> str:
    """Slice the final hidden state to its last position; returns the new tensor's name."""
    nodes.append(
        helper.make_node("Slice", [LAST_HIDDEN, "last_starts", "last_ends", "last_axes"], ["/lm_head/last"], name="/lm_head/SliceLast")
    )
    return "/lm_head/last"


def _common_initializers() -> list[onnx.TensorProto]:
    return [
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_starts"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "last_ends"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "last_axes"),
    ]


def _fix_shapes(graph: onnx.GraphProto) -> None:
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        for dim in dims:
            if dim.dim_param == "kv_cache_dim":
                dim.ClearField("dim_param")
                dim.dim_value = HEAD_DIM
        if value.name == "logits":
            dims[1].ClearField("dim_param")
            dims[1].dim_value = 1
    del graph.value_info[:]  # stale annotations of the replaced nodes


def build_webgpu(fp32: onnx.ModelProto, src: Source) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_inits = _common_initializers()
    drop = {"lm_head.MatMul.weight"}
    nodes: list[onnx.NodeProto] = []
    emb = src.embedding()  # Q8_0 rows [V, nb*34]
    vocab, nb_e = emb.shape[0], emb.shape[1] // 34
    emb_d = wasm_weights.dequantize("q8_0_d", emb, vocab, nb_e * 32)  # [V, nb]
    emb_q = wasm_weights.dequantize("q8_0_u8", emb, vocab, nb_e * 32)  # [V, nb*32], 8-bit default zero point 128
    new_inits += [
        numpy_helper.from_array(emb_d, "embed.scales"),
        numpy_helper.from_array(emb_q, "embed.q8_2d"),
        *_embedding_constants(nb_e),
    ]
    for node in graph.node:
        if _is_layer_matmul(node, inits):
            name = node.input[1]
            d, m, q = _split_q4_1(src.layer_weight(name))
            n, nb = d.shape
            base = name.removesuffix(".weight")
            new_inits += [
                numpy_helper.from_array(_pack4(q), base + ".q4"),
                numpy_helper.from_array(d.reshape(-1), base + ".scales"),
                numpy_helper.from_array(np.zeros(n * ((nb + 1) // 2), dtype=np.uint8), base + ".zp0"),
                numpy_helper.from_array(np.ascontiguousarray(m.T), base + ".minsT"),
                numpy_helper.from_array(np.array([0, 0, nb, 32], dtype=np.int64), base + ".blocks"),
            ]
            # x.W^T = sum_b d_b (q_b . x_b) + m_b sum(x_b): MatMulNBits for the first term, a block-sum MatMul for the second.
            nodes += [
                helper.make_node(
                    "MatMulNBits",
                    [node.input[0], base + ".q4", base + ".scales", base + ".zp0"],
                    [base + "/nbits"],
                    name=base + "/MatMulNBits",
                    domain="com.microsoft",
                    K=nb * 32,
                    N=n,
                    bits=4,
                    block_size=32,
                ),
                helper.make_node("Reshape", [node.input[0], base + ".blocks"], [base + "/xb"], name=base + "/Blocks"),
                helper.make_node("ReduceSum", [base + "/xb", "axes_last"], [base + "/xs"], name=base + "/BlockSum", keepdims=0),
                helper.make_node("MatMul", [base + "/xs", base + ".minsT"], [base + "/min"], name=base + "/MinMatMul"),
                helper.make_node("Add", [base + "/nbits", base + "/min"], list(node.output), name=base + "/AddMin"),
            ]
            drop.add(name)
        elif node.op_type == "Transpose" and node.input[0] == "lm_head.MatMul.weight":
            continue
        elif node.name == "/model/embed_tokens/Gather":
            nodes += _embedding_q8(node.input[1], node.output[0], nb_e)
        elif node.name == "/lm_head/MatMul":
            last = _last_position(nodes)
            nodes += _lm_head_two_nibbles(last, emb_q.reshape(vocab, nb_e, 32), emb_d, new_inits)
        else:
            nodes.append(node)
    _replace(graph, nodes, [i for i in graph.initializer if i.name not in drop] + new_inits)
    return model


def _embedding_constants(nb: int) -> list[onnx.TensorProto]:
    """The small constants _embedding_q8's nodes use (nb: blocks of 32 per row)."""
    return [
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes_last"),
        numpy_helper.from_array(np.array([0, 0, nb, 32], dtype=np.int64), "embed.blocks"),
        numpy_helper.from_array(np.array([0, 0, nb * 32], dtype=np.int64), "embed.rows"),
        numpy_helper.from_array(np.array(128.0, dtype=np.float32), "embed.zero"),
    ]


def _embedding_q8(ids: str, out: str, nb: int) -> list[onnx.NodeProto]:
    """Embedding rows from the Q8_0 blocks with plain ops (Gather, Cast, Mul), exactly.

    GatherBlockQuantized has no WebGPU kernel and its CPU fallback misreads
    the token ids in onnxruntime-web 1.30; these ops run everywhere.
    """
    p = "/model/embed_tokens"
    return [
        helper.make_node("Gather", ["embed.q8_2d", ids], [p + "/q"], name=p + "/GatherQ"),
        helper.make_node("Cast", [p + "/q"], [p + "/qf"], name=p + "/Cast", to=TensorProto.FLOAT),
        helper.make_node("Sub", [p + "/qf", "embed.zero"], [p + "/qs"], name=p + "/Sub"),
        helper.make_node("Reshape", [p + "/qs", "embed.blocks"], [p + "/qb"], name=p + "/Blocks"),
        helper.make_node("Gather", ["embed.scales", ids], [p + "/d"], name=p + "/GatherScales"),
        helper.make_node("Unsqueeze", [p + "/d", "axes_last"], [p + "/d1"], name=p + "/UnsqueezeScales"),
        helper.make_node("Mul", [p + "/qb", p + "/d1"], [p + "/w"], name=p + "/Mul"),
        helper.make_node("Reshape", [p + "/w", "embed.rows"], [out], name=p + "/Rows"),
    ]


def _lm_head_two_nibbles(x: str, q8: np.ndarray, d: np.ndarray, inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """The Q8_0 LM head as two 4-bit MatMulNBits, exactly: WebGPU's MatMulNBits takes only 2 and 4 bits.

    With u = q + 128 = 16h + l (h, l in 0..15): d*q = 16d*(h - 8) + d*l, so one
    MatMulNBits over the high nibbles (scales 16d, zero point 8) plus one over
    the low nibbles (scales d, zero point 0).
    """
    vocab, nb, _ = q8.shape
    halves = {"hi": (q8 >> 4, 16 * d, 0x88), "lo": (q8 & 0x0F, d, 0x00)}
    nodes = []
    for half, (nibbles, scales, zero_points) in halves.items():
        inits += [
            numpy_helper.from_array(_pack4(nibbles), f"lm_head.{half}.q4"),
            numpy_helper.from_array(scales.astype(np.float32).reshape(-1), f"lm_head.{half}.scales"),
            numpy_helper.from_array(np.full(vocab * ((nb + 1) // 2), zero_points, dtype=np.uint8), f"lm_head.{half}.zp"),
        ]
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [x, f"lm_head.{half}.q4", f"lm_head.{half}.scales", f"lm_head.{half}.zp"],
                [f"/lm_head/{half}"],
                name=f"/lm_head/MatMulNBits_{half}",
                domain="com.microsoft",
                K=nb * 32,
                N=vocab,
                bits=4,
                block_size=32,
            )
        )
    nodes.append(helper.make_node("Add", ["/lm_head/hi", "/lm_head/lo"], ["logits"], name="/lm_head/Add"))
    return nodes


def build_wasm(fp32: onnx.ModelProto, src: Source, fp32_dir: Path) -> tuple[onnx.ModelProto, bytes, dict[str, Any]]:
    """The float32 graph whose external data is described by a layout over packed blocks."""
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    packed = bytearray()
    layout: dict[str, Any] = {"data_file": DATA_FILE, "tensors": []}
    offset = 0
    externals: list[onnx.TensorProto] = []

    def put(raw: np.ndarray) -> int:
        """Append source blocks to weights.q4; returns where they start."""
        at = len(packed)
        packed.extend(raw.tobytes())
        packed.extend(b"\0" * (-len(packed) % 4))
        return at

    def add(name: str, kind: str, src_offset: int, rows: int, cols: int, dims: list[int], transpose: bool = False) -> None:
        nonlocal offset
        size = wasm_weights.output_bytes(kind, rows, cols)
        layout["tensors"].append(
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
        dtype = TensorProto.UINT8 if kind == "q8_0_u8" else TensorProto.FLOAT
        externals.append(_external(name, dims, offset, size, dtype))
        offset += size + (-size % ALIGN)

    # The tied embedding's Q8_0 blocks are shipped once and read three ways:
    # the embedding lookup as 8-bit values + scales (a Gather of float32 rows
    # would keep a 113 MB table that onnxruntime cannot release after
    # prepacking the LM head), and the LM head as float32 row chunks. Chunks
    # because onnxruntime-web holds each initializer as one allocation and
    # prepacks it into another: at 1/8 of the vocabulary they fit the holes
    # earlier tensors leave, and the page's scratch buffer stays small
    # (bench/browser_memory.py: with prepacking, the tab peak fell from 1,395 to
    # ~1,270 MB with this alone).
    emb = src.embedding()
    vocab, hidden = emb.shape[0], emb.shape[1] // 34 * 32
    emb_at = put(emb)
    add("embed.q8_2d", "q8_0_u8", emb_at, vocab, hidden, [vocab, hidden])
    add("embed.scales", "q8_0_d", emb_at, vocab, hidden, [vocab, hidden // 32])
    row_bytes = hidden // 32 * 34
    chunk = -(-vocab // LM_HEAD_CHUNKS)
    chunks = [(r0, min(chunk, vocab - r0)) for r0 in range(0, vocab, chunk)]
    for i, (r0, n) in enumerate(chunks):
        add(f"lm_head.{i}.weight", "q8_0", emb_at + r0 * row_bytes, n, hidden, [n, hidden])
    for node in graph.node:
        if _is_layer_matmul(node, inits):
            k, n = inits[node.input[1]].dims
            add(node.input[1], "q4_1", put(src.layer_weight(node.input[1])), n, k, [k, n], transpose=True)
            nodes.append(node)
        elif node.op_type == "Transpose" and node.input[0] == "lm_head.MatMul.weight":
            continue
        elif node.name == "/model/embed_tokens/Gather":
            nodes += _embedding_q8(node.input[1], node.output[0], hidden // 32)
        elif node.name == "/lm_head/MatMul":
            last = _last_position(nodes)
            parts = [f"/lm_head/gemm{i}" for i in range(len(chunks))]
            nodes.append(helper.make_node("Squeeze", [last, "last_axes"], ["/lm_head/last2d"], name="/lm_head/Squeeze"))
            nodes += [
                helper.make_node("Gemm", ["/lm_head/last2d", f"lm_head.{i}.weight"], [part], name=f"/lm_head/Gemm{i}", transB=1)
                for i, part in enumerate(parts)
            ]
            nodes += [
                helper.make_node("Concat", parts, ["/lm_head/gemm"], name="/lm_head/Concat", axis=-1),
                helper.make_node("Unsqueeze", ["/lm_head/gemm", "last_axes"], ["logits"], name="/lm_head/Unsqueeze"),
            ]
        else:
            nodes.append(node)
    quantized = {e["name"] for e in layout["tensors"]} | {"lm_head.MatMul.weight", "model.embed_tokens.weight"}
    for init in graph.initializer:  # norms, rotary caches: shipped as they are
        if init.name in quantized:
            continue
        array = numpy_helper.to_array(init, base_dir=str(fp32_dir)) if _is_external(init) else numpy_helper.to_array(init)
        if array.dtype != np.float32 or array.size < 16:
            externals.append(numpy_helper.from_array(array, init.name))  # small constants stay inside the graph
            continue
        flat = array.reshape(1, -1) if array.ndim == 1 else array.reshape(array.shape[0], -1)
        add(init.name, "f32", put(np.ascontiguousarray(flat)), flat.shape[0], flat.shape[1], list(array.shape))
    layout["total_bytes"] = offset
    _replace(graph, nodes, externals + _common_initializers() + _embedding_constants(hidden // 32))
    return model, bytes(packed), layout


def with_new_rows(step: onnx.ModelProto) -> onnx.ModelProto:
    """The shipped WASM graph: the decoder step plus outputs new_key_values.N.key/value, the rows each run adds.

    onnxruntime-web copies every fetched output out of WASM memory into a new
    JS array; fetching the presents copies the whole cache per token and
    leaves it as garbage. The engine fetches these instead and keeps the cache
    itself (web/lib/engine/kv_cache.js). The presents stay, so the graph also
    runs as a standard decoder.
    """
    model = onnx.ModelProto()
    model.CopyFrom(step)
    graph = model.graph
    # Each new_key_values.N.* is its present sliced from the past length on.
    first_past = next(i.name for i in graph.input if i.name.startswith("past_key_values."))
    p = "/new_kv"
    graph.node.append(helper.make_node("Shape", [first_past], [p + "/past_shape"], name=p + "/Shape", start=2, end=3))
    for out in [o for o in graph.output if o.name.startswith("present.")]:
        name = out.name.replace("present.", "new_key_values.")
        graph.node.append(
            helper.make_node("Slice", [out.name, p + "/past_shape", "last_ends", "kv_seq_axis"], [name], name=f"{p}/{out.name}")
        )
        dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
        graph.output.append(helper.make_tensor_value_info(name, out.type.tensor_type.elem_type, [*dims[:2], "sequence_length", *dims[3:]]))
    graph.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "kv_seq_axis"))
    return model


def _external(name: str, dims: list[int], offset: int, size: int, dtype: int = TensorProto.FLOAT) -> onnx.TensorProto:
    t = onnx.TensorProto(name=name, data_type=dtype, dims=dims, data_location=TensorProto.EXTERNAL)
    for key, value in (("location", DATA_FILE), ("offset", str(offset)), ("length", str(size))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def _is_external(t: onnx.TensorProto) -> bool:
    return t.data_location == TensorProto.EXTERNAL


def _replace(graph: onnx.GraphProto, nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto]) -> None:
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    _fix_shapes(graph)


def verify_wasm(layout: dict[str, Any], packed: bytes, fp32: onnx.ModelProto, fp32_dir: Path) -> None:
    """Every tensor rebuilt from the blocks gives the builder's float32 values, bit for bit."""
    src = np.frombuffer(packed, dtype=np.uint8)
    reference = {i.name: i for i in fp32.graph.initializer}
    embedding = np.ascontiguousarray(numpy_helper.to_array(reference["lm_head.MatMul.weight"], base_dir=str(fp32_dir)).T)
    got = {e["name"]: wasm_weights.tensor(e, src) for e in layout["tensors"]}
    q, d = got.pop("embed.q8_2d"), got.pop("embed.scales")
    vocab, hidden = q.shape
    rebuilt = {"embedding": ((q.astype(np.float32) - 128).reshape(vocab, -1, 32) * d[..., None]).reshape(vocab, hidden)}
    want = {"embedding": embedding}
    row = 0
    for entry in layout["tensors"]:
        name = entry["name"]
        if name.startswith("lm_head."):
            rebuilt[name], want[name] = got[name], embedding[row : row + entry["rows"]]
            row += entry["rows"]
        elif name in got:
            rebuilt[name] = got[name]
            want[name] = numpy_helper.to_array(reference[name], base_dir=str(fp32_dir)).reshape(got[name].shape)
    if row != vocab:
        raise SystemExit(f"wasm weights: the LM head chunks cover {row} of {vocab} rows")
    for name, value in rebuilt.items():
        if not np.array_equal(value.view(np.uint32), np.ascontiguousarray(want[name]).view(np.uint32)):
            diff = float(np.abs(value - want[name]).max())
            raise SystemExit(f"wasm weights: {name} differs from the builder's float32 (max |diff| {diff})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--fp32", type=Path, required=True, help="the builder's float32 output folder")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    fp32 = onnx.load(str(a.fp32 / "model.onnx"), load_external_data=False)
    src = Source(a.gguf)

    print("webgpu: 4-bit MatMulNBits from the GGUF's Q4_1 blocks", flush=True)
    webgpu = build_webgpu(fp32, src)
    out = a.out / "webgpu"
    out.mkdir(parents=True, exist_ok=True)
    _load_external(webgpu, a.fp32)
    webgpu.ir_version = ONNX_IR_VERSION
    (out / DATA_FILE).unlink(missing_ok=True)
    onnx.save(
        webgpu, str(out / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True, location=DATA_FILE, size_threshold=1024
    )

    print("wasm: float32 graph over packed blocks", flush=True)
    wasm, packed, layout = build_wasm(fp32, src, a.fp32)
    verify_wasm(layout, packed, fp32, a.fp32)
    print(f"wasm: {len(layout['tensors'])} tensors rebuilt bit-exact from {len(packed) / 1e6:.1f} MB of blocks", flush=True)
    out = a.out / "wasm"
    out.mkdir(parents=True, exist_ok=True)
    wasm.ir_version = ONNX_IR_VERSION
    # step.onnx: the standard decoder step (logits + presents, as onnxruntime-genai's
    # builder makes it) on the same weights, for tools that drive their own
    # loop (the benchmark's peers, the tests' Python references); the engine
    # loads model.onnx.
    onnx.save(wasm, str(out / "step.onnx"))
    onnx.save(with_new_rows(wasm), str(out / "model.onnx"))
    (out / "weights.q4").write_bytes(packed)
    (out / "layout.json").write_text(json.dumps(layout, indent=1))


def _load_external(model: onnx.ModelProto, base: Path) -> None:
    """Pull the builder's external tensors (norms, rotary caches) in before re-saving elsewhere."""
    for init in model.graph.initializer:
        if _is_external(init):
            array = numpy_helper.to_array(init, base_dir=str(base))
            init.CopyFrom(numpy_helper.from_array(array, init.name))


if __name__ == "__main__":
    main()
