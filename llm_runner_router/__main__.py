"""``python -m llm_runner_router``: the ``llm-runner-router`` command (serve, demo, status, ...)."""

from .edge.cli import main

raise SystemExit(main())
