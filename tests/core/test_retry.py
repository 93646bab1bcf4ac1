from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.config import RetryConfig
from llm_runner_router.core.retry import RetryPolicy, RetryState

RETRYABLE = catalogue.NET_UPSTREAM_ERROR.error()


def test_exponential_ceiling_without_jitter() -> None:
    p = RetryPolicy(RetryConfig(initial_delay=0.5, multiplier=2, max_delay=3, jitter=False))
    assert [p.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_non_retryable_never_retried() -> None:
    p = RetryPolicy(RetryConfig(max_attempts=10))
    state = RetryState(started=0.0, attempts=1)
    assert p.next_delay(state, catalogue.AUTH_UPSTREAM_REJECTED.error(), now=0.0) is None
    assert p.next_delay(state, catalogue.API_CONTENT_FILTERED.error(), now=0.0) is None


def test_stops_after_max_attempts() -> None:
    p = RetryPolicy(RetryConfig(max_attempts=3, jitter=False))
    assert p.next_delay(RetryState(0.0, attempts=2), RETRYABLE, 0.0) is not None
    assert p.next_delay(RetryState(0.0, attempts=3), RETRYABLE, 0.0) is None


def test_retry_after_is_a_floor_up_to_the_cap() -> None:
    p = RetryPolicy(RetryConfig(initial_delay=0.1, jitter=False, retry_after_cap=20))
    state = RetryState(0.0, attempts=1)
    assert p.next_delay(state, catalogue.RATE_LIMITED.error(retry_after=5.0), 0.0) == 5.0
    assert p.next_delay(state, catalogue.RATE_LIMITED.error(retry_after=500.0), 0.0) == 20.0
    state.attempts = 2  # honoured on every attempt, not only the first
    assert p.next_delay(state, catalogue.RATE_LIMITED.error(retry_after=5.0), 0.0) == 5.0


def test_deadline_stops_retries_that_would_overrun() -> None:
    p = RetryPolicy(RetryConfig(initial_delay=4, jitter=False, deadline=10, max_attempts=10))
    assert p.next_delay(RetryState(started=0.0, attempts=1), RETRYABLE, now=5.0) == 4
    assert p.next_delay(RetryState(started=0.0, attempts=1), RETRYABLE, now=7.0) is None


@given(
    initial=st.floats(0.001, 10),
    multiplier=st.floats(1, 5),
    max_delay=st.floats(10, 100),
    attempt=st.integers(1, 60),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=300, deadline=None)
def test_full_jitter_stays_within_the_exponential_ceiling(
    initial: float, multiplier: float, max_delay: float, attempt: int, seed: int
) -> None:
    p = RetryPolicy(RetryConfig(initial_delay=initial, multiplier=multiplier, max_delay=max_delay), random.Random(seed))
    ceiling = min(max_delay, initial * multiplier ** (attempt - 1))
    d = p.backoff(attempt)
    assert 0.0 <= d <= ceiling + 1e-9


@given(attempts=st.integers(1, 10), retry_after=st.none() | st.floats(0, 1000), cap=st.floats(0, 100), max_attempts=st.integers(1, 10))
@settings(max_examples=300, deadline=None)
def test_schedule_properties(attempts: int, retry_after: float | None, cap: float, max_attempts: int) -> None:
    p = RetryPolicy(RetryConfig(max_attempts=max_attempts, retry_after_cap=cap, deadline=None), random.Random(1))
    err = catalogue.RATE_LIMITED.error(retry_after=retry_after)
    delay = p.next_delay(RetryState(0.0, attempts=attempts), err, 0.0)
    if attempts >= max_attempts:
        assert delay is None
    else:
        assert delay is not None
        if retry_after is not None:
            assert delay >= min(retry_after, cap)
        assert delay <= max(p.config.max_delay, cap)
