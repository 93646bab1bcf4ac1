"""Moved to llm_runner_router.edge.browser_model.wasm_weights (edge_server/browser_model/wasm_weights.py).

Kept only for e2e/test_local_engine.py, which still imports ``wasm_weights`` with build/ on
sys.path; delete this file once that test imports it from the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_runner_router.edge.browser_model.wasm_weights import *  # noqa: E402, F403
