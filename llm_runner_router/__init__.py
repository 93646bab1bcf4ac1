"""llm-runner-router: a language-model router that runs where its users are.

One import package with three parts, each in its own top-level folder of the
checkout (pyproject.toml maps them):

- :mod:`llm_runner_router.core` (``core/``): the pure-Python routing and recovery
  core. Standard library only; runs on CPython 3.11+ and in Pyodide.
- :mod:`llm_runner_router.edge` (``edge_server/``): the Starlette edge server and
  the ``llm-runner-router`` command (needs the ``server`` extra).
- :mod:`llm_runner_router.web` (``web/python/llm_web/``): the core's adapters
  inside the page's Pyodide.

This module re-exports the core's public surface, so ``from llm_runner_router
import Router, Settings`` works; it imports nothing from the edge server or the
page, because the browser loads it too.
"""

from .__version__ import __title__, __version__
from .core import *  # noqa: F403 -- the core's __all__ is the package's surface
from .core import __all__ as _core_all

__all__ = ["__title__", "__version__", *_core_all]
