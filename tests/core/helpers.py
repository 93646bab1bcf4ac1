"""Shared helpers for the core's tests (they run on CPython and inside Pyodide)."""

from __future__ import annotations

from typing import Any

from llm_runner_router.core.config import Settings

FAST_RETRY = {"max_attempts": 2, "initial_delay": 1.0, "max_delay": 10.0, "jitter": False, "deadline": 600}


def make_settings(
    deployments: dict[str, dict[str, Any]],
    aliases: dict[str, dict[str, Any]] | None = None,
    **sections: Any,
) -> Settings:
    """Settings with one provider per deployment (named like it) unless given."""
    providers = {d.get("provider", name): {"kind": "openai", "base_url": "http://127.0.0.1:1"} for name, d in deployments.items()}
    deps = {name: {"provider": name, "model": f"m-{name}", **d} for name, d in deployments.items()}
    data: dict[str, Any] = {"providers": providers, "deployments": deps, "aliases": aliases or {}}
    data.setdefault("retry", FAST_RETRY)
    data.update(sections)
    return Settings.from_dict(data)
