"""``python -m llm_runner_router.edge.browser_model [--force] [--out DIR]``: build the browser model."""

import sys

from . import main

sys.exit(main())
