"""core/recovery.py: the decision after a failed attempt, for every recovery the catalogue names."""

from __future__ import annotations

import random

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import RetryConfig
from llm_runner_router.core.errors import ErrorSpec
from llm_runner_router.core.recovery import MAX_ADJUSTMENTS, Decision, decide
from llm_runner_router.core.retry import RetryPolicy, RetryState

POLICY = RetryPolicy(RetryConfig(max_attempts=3, initial_delay=1.0, max_delay=10.0, multiplier=2.0, deadline=60.0), random.Random(0))


def after(spec: ErrorSpec, *, adjustments: int = 0, attempts: int = 1, time_left: float | None = None, **context: object) -> Decision:
    state = RetryState(started=0.0, attempts=attempts)
    return decide(spec.error(**context), adjustments=adjustments, policy=POLICY, state=state, now=1.0, time_left=time_left)


def test_abort_stops() -> None:
    assert after(catalogue.VAL_OUT_OF_RANGE) == Decision("abort")


def test_adjust_until_the_limit_then_next() -> None:
    assert after(catalogue.API_UNSUPPORTED_PARAMETER) == Decision("adjust")
    assert after(catalogue.API_UNSUPPORTED_PARAMETER, adjustments=MAX_ADJUSTMENTS) == Decision("next")


def test_larger_context() -> None:
    assert after(catalogue.RUNTIME_CONTEXT_LENGTH) == Decision("larger_context")


def test_retry_waits_the_policy_delay_and_honours_retry_after() -> None:
    plain = after(catalogue.NET_UNAVAILABLE)
    assert plain.action == "retry" and 0 < plain.delay <= 1.0
    told = after(catalogue.RATE_LIMITED, retry_after=5.0)
    assert told == Decision("retry", 5.0)


@pytest.mark.parametrize(
    ("attempts", "time_left"),
    [(3, None), (1, 0.5)],  # out of attempts; the wait would pass the request's deadline
)
def test_a_retry_that_cannot_happen_moves_on(attempts: int, time_left: float | None) -> None:
    assert after(catalogue.RATE_LIMITED, attempts=attempts, time_left=time_left, retry_after=1.0) == Decision("next")


def test_fallback_moves_on() -> None:
    assert after(catalogue.WEBGPU_DEVICE_LOST) == Decision("next")
