"""Tests of the build scripts in build/ (loaded by path: build/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """build/<name>.py as a module, loaded once.

    By path rather than `import build.<name>`: build/ has no __init__.py, and
    pypa's `build` package, when installed, would shadow it.
    """
    key = f"_build_{name}"
    module = sys.modules.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(key, ROOT / "build" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return module
