"""Retry policy: exponential backoff with full jitter, Retry-After, a deadline.

Small pieces in the manner of tenacity: a :class:`RetryState` that one
request's attempts on one deployment share, and a :class:`RetryPolicy` that
answers one question: how long to wait before the next attempt, or ``None``
to stop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import RetryConfig
from .errors import LLMError

__all__ = ["RetryPolicy", "RetryState", "capped_growth"]


def capped_growth(base: float, multiplier: float, steps: int, cap: float) -> float:
    """``min(cap, base * multiplier ** steps)``, also where the power is beyond a float.

    ``2.0 ** 1024`` raises OverflowError rather than giving infinity: a breaker that
    trips a thousand times, or a large configured multiplier, must reach the cap,
    not crash.
    """
    try:
        return min(cap, base * multiplier**steps)
    except OverflowError:
        return cap


@dataclass(slots=True)
class RetryState:
    started: float  # clock.now() when the first attempt began
    attempts: int = 0  # attempts made so far
    total_delay: float = 0.0
    last_error: LLMError | None = None


class RetryPolicy:
    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Delay after the ``attempt``-th failure (1-based), before jitter is the ceiling.

        Full jitter (uniform between 0 and the exponential ceiling) spreads
        retries from many clients instead of synchronising them.
        """
        c = self.config
        ceiling = capped_growth(c.initial_delay, c.multiplier, max(0, attempt - 1), c.max_delay)
        return self._rng.uniform(0.0, ceiling) if c.jitter else ceiling

    def next_delay(self, state: RetryState, error: LLMError, now: float) -> float | None:
        """Seconds to wait before another attempt, or None when retrying must stop."""
        c = self.config
        if not error.retryable or state.attempts >= c.max_attempts:
            return None
        delay = self.backoff(state.attempts)
        if error.retry_after is not None:
            # The server said when to come back: never earlier, but never
            # longer than the cap either.
            delay = max(delay, min(error.retry_after, c.retry_after_cap))
        if c.deadline is not None and (now - state.started) + delay > c.deadline:
            return None
        return delay
