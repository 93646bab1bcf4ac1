"""Runs pytest inside Pyodide: shared by run_core_tests.mjs (Node) and e2e/test_core_in_chromium.py (Chromium).

Both runners put the test files in Pyodide's file system (/tests, /pyproject.toml),
install the wheels from fetch_wheels.py, run this file's source, then call
``run(args)``; its result is pytest's exit status.

Not imported on CPython (tests/pyodide is outside the CPython test run).
"""

from __future__ import annotations

import os
import sys
from typing import Any


class PyodideDefaults:
    """The project's pytest settings, adjusted for a WASM interpreter without threads or signals."""

    def pytest_addoption(self, parser: Any) -> None:
        # pyproject.toml sets pytest-timeout's "timeout"; that plugin needs threads
        # or signals, which Pyodide lacks, so it is not installed here.
        parser.addini("timeout", "ignored in Pyodide (no pytest-timeout)")

    def pytest_configure(self, config: Any) -> None:
        # WASM runs slower than CPython: drop hypothesis's per-example deadline,
        # unless the tests' own conftest has already chosen a settings profile.
        try:
            from hypothesis import settings
        except ImportError:
            return
        if settings.get_current_profile_name() == "default":
            settings.register_profile("pyodide", deadline=None)
            settings.load_profile("pyodide")


def run(args: list[str], src: str | None = None) -> int:
    """pytest.main(args) with / as the working directory and rootdir (as the repo root is on CPython).

    src: a directory to put first on sys.path (where a runner copied core/), if any.
    """
    if src is not None and src not in sys.path:
        sys.path.insert(0, src)
    os.chdir("/")  # the rootdir; hypothesis keeps its database here
    import pytest

    return int(pytest.main(list(args), plugins=[PyodideDefaults()]))
