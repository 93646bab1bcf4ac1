"""Fixtures for tests that run the real model with llama.cpp.

The model is the project's default (SmolLM2-135M-Instruct Q4_1), fetched once
into models/ by build/fetch_model.py; the backend loads it once per session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_runner_router.edge.llamacpp import LlamaCppBackend
from llm_runner_router.edge.model_fetch import ensure_model


@pytest.fixture(scope="session")
def model_path() -> Path:
    path: Path = ensure_model(progress=False)
    return path


@pytest.fixture(scope="session")
def llama_backend(model_path: Path) -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(model_path, n_ctx=2048, seed=0)
    asyncio.run(backend.load())
    yield backend
    asyncio.run(backend.unload())
