"""Assemble the browser bundle in dist/web/ (``make web``): llm_runner_router.edge.web_bundle does it.

    python build/web_bundle.py

Kept as a script for the Makefile and for habit; an installed package runs
``llm-runner-router web-bundle`` instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llm_runner_router.edge.web_bundle import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
