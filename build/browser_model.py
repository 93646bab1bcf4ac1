"""Build the browser's model (``make browser-model``): llm_runner_router.edge.browser_model does it.

    python build/browser_model.py            # into dist/web/models/smollm2-135m-instruct/
    python build/browser_model.py --force    # rebuild even when the inputs are unchanged
    python build/browser_model.py --out DIR  # elsewhere

The build environment (.cache/model-venv) and the intermediates (.cache/browser-model/<key>/)
stay in the checkout's .cache/; the steps that run in that environment (gguf_to_hf.py,
onnx_variants.py, wasm_weights.py) and model-requirements.txt live beside the module, in
edge_server/browser_model/.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_runner_router.edge.browser_model import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
