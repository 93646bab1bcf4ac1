"""Ranking strategies: in which order an alias's deployments are tried.

A strategy is a function ``(deployments, context) -> ranked list``. The
built-in ones are registered by name; ``register_strategy`` adds custom
ones. Every strategy returns all the deployments it was given (filtering by
breakers, hints and capability happens afterwards, in the router), and
sorts stably, so configuration order breaks ties.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import catalogue
from .types import ChatRequest, Deployment

__all__ = ["DeploymentStats", "RankContext", "Strategy", "get_strategy", "register_strategy", "strategy_names"]


@dataclass(slots=True)
class DeploymentStats:
    """What the router has observed of one deployment, live (not persisted)."""

    inflight: int = 0
    ttft_s: float | None = None  # moving averages
    tokens_per_s: float | None = None
    success_rate: float = 1.0
    calls: int = 0

    ALPHA = 0.2  # weight of the newest observation in the moving averages

    def observe(self, ok: bool, ttft_s: float | None = None, tokens_per_s: float | None = None) -> None:
        a = self.ALPHA
        self.calls += 1
        self.success_rate += a * ((1.0 if ok else 0.0) - self.success_rate)
        if ttft_s is not None:
            self.ttft_s = ttft_s if self.ttft_s is None else self.ttft_s + a * (ttft_s - self.ttft_s)
        if tokens_per_s is not None:
            self.tokens_per_s = tokens_per_s if self.tokens_per_s is None else self.tokens_per_s + a * (tokens_per_s - self.tokens_per_s)


@dataclass(slots=True)
class RankContext:
    request: ChatRequest
    stats: Mapping[str, DeploymentStats]
    turn: int  # how many requests this alias has ranked before (for rotation)


Strategy = Callable[[Sequence[Deployment], RankContext], list[Deployment]]

_EMPTY = DeploymentStats()


def _stats(ctx: RankContext, d: Deployment) -> DeploymentStats:
    return ctx.stats.get(d.name, _EMPTY)


def _expected_seconds(d: Deployment, s: DeploymentStats, tokens: int = 100) -> float:
    """Time to a typical answer: observed where known, configured otherwise."""
    ttft = s.ttft_s if s.ttft_s is not None else d.expected_ttft_s
    tps = s.tokens_per_s if s.tokens_per_s is not None else d.expected_tokens_per_s
    return ttft + tokens / max(tps, 1e-9)


def priority(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    return list(deps)


def quality_first(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    return sorted(deps, key=lambda d: -d.quality)


def cost_optimized(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    return sorted(deps, key=lambda d: d.cost_per_1k_tokens)


def speed_priority(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    return sorted(deps, key=lambda d: _expected_seconds(d, _stats(ctx, d)))


def balanced(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    """Equal parts quality, cheapness, speed and observed reliability, times the deployment's weight."""
    if len(deps) < 2:
        return list(deps)
    max_cost = max(d.cost_per_1k_tokens for d in deps) or 1.0
    times = {d.name: _expected_seconds(d, _stats(ctx, d)) for d in deps}
    fastest = min(times.values())

    def score(d: Deployment) -> float:
        cheap = 1.0 - d.cost_per_1k_tokens / max_cost
        fast = fastest / times[d.name] if times[d.name] > 0 else 1.0
        return d.weight * (d.quality + cheap + fast + _stats(ctx, d).success_rate) / 4.0

    return sorted(deps, key=lambda d: -score(d))


def round_robin(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    if not deps:
        return []
    k = ctx.turn % len(deps)
    return list(deps[k:]) + list(deps[:k])


def least_loaded(deps: Sequence[Deployment], ctx: RankContext) -> list[Deployment]:
    return sorted(deps, key=lambda d: _stats(ctx, d).inflight / d.max_concurrency)


_REGISTRY: dict[str, Strategy] = {
    "priority": priority,
    "quality-first": quality_first,
    "cost-optimized": cost_optimized,
    "speed-priority": speed_priority,
    "balanced": balanced,
    "round-robin": round_robin,
    "least-loaded": least_loaded,
}


def register_strategy(name: str, strategy: Strategy) -> None:
    """Make a custom strategy available to aliases by name (replaces one of the same name)."""
    if not name:
        raise catalogue.CONFIG_INVALID.error("a strategy needs a name", field="strategy")
    _REGISTRY[name] = strategy


def get_strategy(name: str) -> Strategy:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise catalogue.CONFIG_INVALID.error(
            f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}", field="strategy", value=name
        ) from None


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)
