"""Two preparation steps for onnxruntime-genai's model builder, run inside the model-build environment.

    python gguf_to_hf.py meta GGUF OUT_DIR    # config.json + tokenizer files, from the GGUF, offline
    python gguf_to_hf.py f32 GGUF OUT_GGUF     # every tensor dequantized to float32

(the build environment's python; the package's browser_model module runs both).

The builder reads neither a Q4_1 GGUF (it takes raw blocks for weights) nor a
model without a local Hugging Face folder, and no model hub is reachable, so
both come from the GGUF itself (transformers reads GGUF metadata).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"


def meta(gguf: Path, out: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config.architectures = ["LlamaForCausalLM"]  # the builder picks its model class from this
    config.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(out)
    gen = {"bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id, "pad_token_id": config.eos_token_id}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2))


def f32(gguf: Path, out: Path) -> None:
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize

    reader = GGUFReader(str(gguf))
    writer = GGUFWriter(str(out), arch=reader.fields["general.architecture"].contents())
    # All metadata too (hyperparameters, tokenizer, chat template): llama.cpp loads
    # this file as the float32 reference in bench/model_quality.py.
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        if field.types[0] == GGUFValueType.ARRAY:
            writer.add_array(name, field.contents())
        else:
            writer.add_key_value(name, field.contents(), field.types[0])
    writer.add_file_type(0)  # all float32
    for t in reader.tensors:
        if t.tensor_type == GGMLQuantizationType.F32:
            writer.add_tensor(t.name, np.array(t.data, dtype=np.float32))
        else:
            writer.add_tensor(t.name, dequantize(t.data, t.tensor_type).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    step, src, dst = sys.argv[1:4]
    {"meta": meta, "f32": f32}[step](Path(src).resolve(), Path(dst))
