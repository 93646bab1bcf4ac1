"""Fetch the embedded default model (``make model``): edge_server/model_fetch.py does it.

python build/fetch_model.py                      # into the models folder (models/ in a checkout)
python build/fetch_model.py --models-dir DIR     # elsewhere
python build/fetch_model.py --verify             # hash the file even when it looks fine
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_runner_router.edge.model_fetch import MODEL_FILE, MODEL_SHA256, MODEL_SIZE, ensure_model, main  # noqa: E402

__all__ = ["MODEL_FILE", "MODEL_SHA256", "MODEL_SIZE", "ensure_model", "main"]

if __name__ == "__main__":
    sys.exit(main())
