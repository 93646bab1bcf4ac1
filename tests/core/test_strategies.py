from __future__ import annotations

from collections.abc import Sequence

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.strategies import DeploymentStats, RankContext, get_strategy, register_strategy, strategy_names
from llm_runner_router.core.types import ChatRequest, Deployment, Message

CHEAP_SLOW = Deployment("cheap", "p1", "m", quality=0.3, cost_per_1k_tokens=0.0, expected_tokens_per_s=10, max_concurrency=4)
PRICEY_GOOD = Deployment("good", "p2", "m", quality=0.9, cost_per_1k_tokens=2.0, expected_tokens_per_s=40, max_concurrency=4)
FAST = Deployment(
    "fast", "p3", "m", quality=0.6, cost_per_1k_tokens=0.5, expected_tokens_per_s=200, expected_ttft_s=0.05, max_concurrency=8
)
DEPS = [CHEAP_SLOW, PRICEY_GOOD, FAST]
REQ = ChatRequest("x", [Message("user", "hi")])


def names(strategy: str, stats: dict[str, DeploymentStats] | None = None, turn: int = 0) -> list[str]:
    return [d.name for d in get_strategy(strategy)(DEPS, RankContext(REQ, stats or {}, turn))]


def test_builtin_strategies_are_registered() -> None:
    for name in ("priority", "quality-first", "cost-optimized", "speed-priority", "balanced", "round-robin", "least-loaded"):
        assert name in strategy_names()


def test_priority_keeps_configured_order() -> None:
    assert names("priority") == ["cheap", "good", "fast"]


def test_quality_cost_speed() -> None:
    assert names("quality-first") == ["good", "fast", "cheap"]
    assert names("cost-optimized") == ["cheap", "fast", "good"]
    assert names("speed-priority") == ["fast", "good", "cheap"]


def test_speed_uses_observations_over_configuration() -> None:
    stats = {"fast": DeploymentStats(ttft_s=9.0, tokens_per_s=5.0)}
    assert names("speed-priority", stats)[0] == "good"


def test_round_robin_rotates() -> None:
    assert [names("round-robin", turn=t)[0] for t in range(4)] == ["cheap", "good", "fast", "cheap"]


def test_least_loaded_relative_to_capacity() -> None:
    stats = {"cheap": DeploymentStats(inflight=1), "good": DeploymentStats(inflight=3), "fast": DeploymentStats(inflight=4)}
    assert names("least-loaded", stats) == ["cheap", "fast", "good"]


def test_balanced_penalises_unreliable_deployments() -> None:
    before = names("balanced")
    stats = {before[0]: DeploymentStats(success_rate=0.0)}
    assert names("balanced", stats)[0] != before[0] or len(set(before)) == 1


def test_every_strategy_returns_every_deployment() -> None:
    for name in strategy_names():
        assert sorted(names(name)) == ["cheap", "fast", "good"]


def test_custom_strategy_by_name() -> None:
    def reverse(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
        return list(reversed(deps))

    register_strategy("reverse", reverse)
    assert names("reverse") == ["fast", "good", "cheap"]


def test_unknown_strategy_is_a_config_error() -> None:
    with pytest.raises(LLMError) as info:
        get_strategy("fastest-please")
    assert info.value.code == catalogue.CONFIG_INVALID.code and "fastest-please" in info.value.message


def test_moving_averages() -> None:
    s = DeploymentStats()
    s.observe(True, ttft_s=1.0, tokens_per_s=10.0)
    s.observe(False)
    assert s.ttft_s == 1.0 and s.tokens_per_s == 10.0 and s.calls == 2
    assert s.success_rate == pytest.approx(0.8)
