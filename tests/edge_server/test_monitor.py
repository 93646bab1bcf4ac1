"""The self-healing monitor: each action on its trigger, logged and counted."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import Settings
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import ChatRequest, Message
from llm_runner_router.edge.compose import build_state
from llm_runner_router.edge.llamacpp import LlamaCppBackend
from llm_runner_router.edge.monitor import Monitor
from llm_runner_router.edge.store import SQLiteStore
from llm_runner_router.edge.testing import fault_provider as fp


def make_settings(model_path: Path, upstream: str, **monitor: Any) -> Settings:
    return Settings.from_dict(
        {
            "monitor": {"health_check_interval": 3600, "max_concurrency": 1, "queue_size": 4, **monitor},
            "stream": {"first_token_timeout": 20},
            "providers": {
                "local": {"kind": "llamacpp", "options": {"model_path": str(model_path)}},
                "up": {"kind": "openai", "base_url": upstream},
            },
            "deployments": {
                "local": {"provider": "local", "model": "smollm2", "context_window": 2048},
                "up": {"provider": "up", "model": "up"},
            },
            "aliases": {"chat": {"deployments": ["local", "up"]}, "only-local": {"deployments": ["local"]}},
        }
    )


def counted(monitor: Monitor, action: str, outcome: str = "ok") -> float:
    value = monitor.state.router.metrics.registry.sample_value("llm_heal_actions_total", {"action": action, "outcome": outcome})
    return float(value or 0)


def test_a_local_model_that_fails_its_check_is_reloaded(model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        backend = LlamaCppBackend(model_path, n_ctx=512)
        with fp.FaultProvider(answer="x") as up:
            state = build_state(make_settings(model_path, up.base_url), backends={"local": backend}, store=SQLiteStore(tmp_path / "s.db"))
            monitor = Monitor(state)
            assert not backend.loaded  # never loaded: the check finds it down
            with caplog.at_level(logging.INFO, logger="llm_runner_router.edge.monitor"):
                report = await monitor.check()
            assert report["backends"]["local"] is False
            assert [a["action"] for a in report["actions"]] == ["reload_model"]
            assert backend.loaded and await backend.health()
            assert counted(monitor, "reload_model") == 1
            assert any("self-healing action" in r.getMessage() for r in caplog.records)
            await backend.unload()

    asyncio.run(main())


def test_memory_over_threshold_clears_caches(model_path: Path, tmp_path: Path) -> None:
    async def main() -> None:
        with fp.FaultProvider(answer="x") as up:
            state = build_state(
                make_settings(model_path, up.base_url, memory_threshold=1e-6), backends={}, store=SQLiteStore(tmp_path / "s.db")
            )
            state.router.cache.put(("k",), ["cached"], "stop", "up")
            monitor = Monitor(state)
            report = await monitor.check()
            assert "clear_caches" in [a["action"] for a in report["actions"]]
            assert len(state.router.cache) == 0 and counted(monitor, "clear_caches") == 1

    asyncio.run(main())


def test_first_token_deadline_follows_observed_latency(model_path: Path, tmp_path: Path) -> None:
    async def main() -> None:
        with fp.FaultProvider(answer="x") as up:
            state = build_state(make_settings(model_path, up.base_url), backends={}, store=SQLiteStore(tmp_path / "s.db"))
            monitor = Monitor(state)
            for _ in range(40):
                state.router.metrics.record_success("chat", "up", 0.5, ttft_s=0.2, tokens=10)
            report = await monitor.check()
            adjusted = [a for a in report["actions"] if a["action"] == "adjust_timeouts"]
            assert adjusted and state.router.settings.stream.first_token_timeout == pytest.approx(5.0)  # 20 / 4, the floor
            for _ in range(1100):
                state.router.metrics.record_success("chat", "up", 9.0, ttft_s=4.0, tokens=10)
            await monitor.check()
            assert state.router.settings.stream.first_token_timeout == pytest.approx(16.0)  # 4 × p95, under the ceiling

    asyncio.run(main())


def test_under_stress_the_local_model_is_spared_where_an_alias_has_another_way(model_path: Path, tmp_path: Path) -> None:
    async def main() -> None:
        with fp.FaultProvider(answer="x") as up:
            state = build_state(make_settings(model_path, up.base_url), backends={}, store=SQLiteStore(tmp_path / "s.db"))
            monitor = Monitor(state)
            local = state.router.settings.deployments["local"]
            state.admission.active, state.admission.waiting = 1, 4  # full
            report = await monitor.check()
            assert monitor.degraded and "degrade" in [a["action"] for a in report["actions"]]
            skip = monitor._skip_local_when_degraded
            why = skip(local, ChatRequest("chat", [Message("user", "hi")]))
            assert why is not None and why.code == catalogue.RATE_NEAR_LIMIT.code
            assert skip(local, ChatRequest("only-local", [Message("user", "hi")])) is None  # nowhere else to go
            state.admission.active, state.admission.waiting = 0, 0
            report = await monitor.check()
            assert not monitor.degraded and "recover" in [a["action"] for a in report["actions"]]

    asyncio.run(main())


def test_heal_on_demand_resets_breakers_and_refuses_unknown_actions(model_path: Path, tmp_path: Path) -> None:
    async def main() -> None:
        with fp.FaultProvider(answer="x") as up:
            state = build_state(make_settings(model_path, up.base_url), backends={}, store=SQLiteStore(tmp_path / "s.db"))
            monitor = Monitor(state)
            breaker = state.router.breakers.get(state.router.settings.deployments["up"].key)
            breaker.isolate("test")
            report = await monitor.heal(["reset_breakers"], reason="test")
            assert [a["action"] for a in report["actions"]] == ["reset_breaker"] and breaker.state.value == "closed"
            with pytest.raises(LLMError) as info:
                await monitor.heal(["reboot_the_moon"], reason="test")
            assert info.value.code == catalogue.VAL_UNSUPPORTED.code

    asyncio.run(main())
