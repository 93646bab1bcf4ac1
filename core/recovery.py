"""What the router does after a failed attempt: one pure decision, carried out by Router.stream.

As tenacity's ``iter()`` returns an action that its loop only performs,
:func:`decide` looks at the error's recovery (from the catalogue), the
learned changes already tried and the retry policy, and returns a
:class:`Decision`; the router carries it out. Nothing here waits, records
or touches a backend, so every branch is tested without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .errors import LLMError, Recovery
from .retry import RetryPolicy, RetryState

__all__ = ["MAX_ADJUSTMENTS", "Decision", "decide"]

MAX_ADJUSTMENTS: Final = 3  # learned changes tried at once on one deployment before moving on

Action = Literal["abort", "adjust", "larger_context", "retry", "next"]


@dataclass(frozen=True, slots=True)
class Decision:
    """``abort``: stop, the error goes to the caller; ``adjust``: the same deployment again at once,
    with what the hints just learned; ``larger_context``: only deployments with a larger context
    window; ``retry``: the same deployment after ``delay`` seconds; ``next``: the next deployment."""

    action: Action
    delay: float = 0.0


def decide(
    error: LLMError, *, adjustments: int, policy: RetryPolicy, state: RetryState, now: float, time_left: float | None
) -> Decision:
    """The decision after ``error``; ``time_left`` is the request's deadline from now (None: none)."""
    recovery = error.recovery
    if recovery is Recovery.ABORT:
        return Decision("abort")
    if recovery is Recovery.ADJUST and adjustments < MAX_ADJUSTMENTS:
        return Decision("adjust")
    if recovery is Recovery.LARGER_CONTEXT:
        return Decision("larger_context")
    if recovery is Recovery.RETRY:
        delay = policy.next_delay(state, error, now)
        if delay is not None and (time_left is None or delay < time_left):
            return Decision("retry", delay)
    return Decision("next")
