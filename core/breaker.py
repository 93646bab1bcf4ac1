"""Circuit breakers, one per (provider, model, endpoint).

States::

    CLOSED ──trip──▶ OPEN ──cooldown──▶ HALF_OPEN ──enough successes──▶ CLOSED
                       ▲                    │
                       └──── any failure ───┘
    any state ──isolate()──▶ ISOLATED ──reset()──▶ CLOSED

A breaker trips on ``failure_threshold`` consecutive failures, on a failure
rate or a slow-call rate at or over its threshold within a sliding time
window (kept in ten buckets, so its resolution is a tenth of
``window_seconds``) that holds at least ``min_calls`` calls. Each trip in a row doubles
the cooldown (by ``cooldown_multiplier``, up to ``max_cooldown``). Half-open
lets ``half_open_max_calls`` probe calls through at a time.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import catalogue
from .clock import Clock
from .config import BreakerConfig
from .errors import LLMError
from .retry import capped_growth
from .store import Store

__all__ = ["BreakerState", "Breakers", "CircuitBreaker", "Transition"]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    ISOLATED = "isolated"


@dataclass(frozen=True, slots=True)
class Transition:
    at: float  # wall-clock seconds
    old: BreakerState
    new: BreakerState
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "old": self.old.value, "new": self.new.value, "reason": self.reason}


_BUCKETS = 10  # the window's resolution: window_seconds / 10


def breaker_name(key: tuple[str, str, str]) -> str:
    return "/".join(key)


TransitionListener = Callable[["CircuitBreaker", Transition], None]


class CircuitBreaker:
    def __init__(
        self,
        key: tuple[str, str, str],
        config: BreakerConfig,
        clock: Clock,
        on_transition: TransitionListener | None = None,
    ) -> None:
        self.key = key
        self.name = breaker_name(key)
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.trips = 0  # trips in a row without a full close; grows the cooldown
        self.open_until = 0.0  # monotonic
        self.half_open_inflight = 0
        self.half_open_successes = 0
        # The sliding window as _BUCKETS buckets of [epoch, calls, failures, slow]
        # with running totals: constant memory and time per call, however
        # many calls the window holds (a list of every call grows with the
        # request rate).
        self._bucket_width = config.window_seconds / _BUCKETS
        self._buckets = [[-1, 0, 0, 0] for _ in range(_BUCKETS)]
        self._last_epoch = -1
        self._window_calls = 0
        self._window_failures = 0
        self._window_slow = 0
        self.transitions: deque[Transition] = deque(maxlen=config.history_size)

    # --- reading -----------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN breaker whose cooldown has passed reads HALF_OPEN."""
        if self._state is BreakerState.OPEN and self._clock.now() >= self.open_until:
            self._move(BreakerState.HALF_OPEN, "cooldown elapsed")
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        # (now + cooldown) - now can exceed cooldown by a rounding step; the
        # configured cap is a promise callers rely on (Retry-After headers).
        return min(self.config.max_cooldown, max(0.0, self.open_until - self._clock.now()))

    # --- the call protocol: allow(), then exactly one of success/failure/release

    def allow(self) -> LLMError | None:
        """None when a call may go ahead (taking a probe slot if half-open), else why not."""
        state = self.state
        if state is BreakerState.CLOSED:
            return None
        if state is BreakerState.HALF_OPEN:
            if self.half_open_inflight < self.config.half_open_max_calls:
                self.half_open_inflight += 1
                return None
            return catalogue.CB_PROBES_BUSY.error(breaker=self.name)
        if state is BreakerState.ISOLATED:
            return catalogue.CB_ISOLATED.error(breaker=self.name)
        return catalogue.CB_OPEN.error(breaker=self.name, retry_after=self.retry_after())

    def record_success(self, duration: float = 0.0) -> None:
        slow = duration >= self.config.slow_call_seconds
        if self._state is BreakerState.HALF_OPEN:
            self.half_open_inflight = max(0, self.half_open_inflight - 1)
            self.half_open_successes += 1
            if self.half_open_successes >= self.config.success_threshold:
                self._close("probe calls succeeded")
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call admitted before an isolate() or trip finished late
        self.consecutive_failures = 0
        self._add(False, slow)
        self._check_rates()

    def record_failure(self, duration: float = 0.0, reason: str = "failure") -> None:
        if self._state is BreakerState.HALF_OPEN:
            self.half_open_inflight = max(0, self.half_open_inflight - 1)
            self._trip(f"probe failed: {reason}")
            return
        if self._state is not BreakerState.CLOSED:
            return
        self.consecutive_failures += 1
        self._add(True, duration >= self.config.slow_call_seconds)
        if self.consecutive_failures >= self.config.failure_threshold:
            self._trip(f"{self.consecutive_failures} consecutive failures (last: {reason})")
        else:
            self._check_rates()

    def release(self) -> None:
        """An admitted call ended with no verdict (cancelled): free its probe slot."""
        if self._state is BreakerState.HALF_OPEN:
            self.half_open_inflight = max(0, self.half_open_inflight - 1)

    # --- operator actions ----------------------------------------------------

    def isolate(self, reason: str = "isolated by operator") -> None:
        self._move(BreakerState.ISOLATED, reason)

    def reset(self, reason: str = "reset by operator") -> None:
        self._close(reason)

    # --- persistence -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now, wall = self._clock.now(), self._clock.wall()
        return {
            "name": self.name,
            "key": list(self.key),
            "state": self._state.value,
            "trips": self.trips,
            "consecutive_failures": self.consecutive_failures,
            "open_until_wall": wall + (self.open_until - now) if self._state is BreakerState.OPEN else None,
            "transitions": [t.to_dict() for t in self.transitions],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Take back a snapshot (e.g. after a restart). Half-open comes back as open-until-now."""
        state = BreakerState(data.get("state", "closed"))
        self.trips = int(data.get("trips", 0))
        self.consecutive_failures = int(data.get("consecutive_failures", 0))
        self.transitions.clear()
        for t in data.get("transitions", []):
            self.transitions.append(Transition(float(t["at"]), BreakerState(t["old"]), BreakerState(t["new"]), str(t["reason"])))
        if state in (BreakerState.OPEN, BreakerState.HALF_OPEN):
            until_wall = data.get("open_until_wall")
            remaining = float(until_wall) - self._clock.wall() if until_wall is not None else 0.0
            self._state = BreakerState.OPEN
            self.open_until = self._clock.now() + max(0.0, remaining)
        else:
            self._state = state

    # --- internals ---------------------------------------------------------------

    def _add(self, failed: bool, slow: bool) -> None:
        epoch = int(self._clock.now() / self._bucket_width)
        if epoch != self._last_epoch:
            # Buckets that fell out of the window since the last call are emptied.
            for e in range(max(self._last_epoch + 1, epoch - _BUCKETS + 1), epoch + 1):
                b = self._buckets[e % _BUCKETS]
                self._window_calls -= b[1]
                self._window_failures -= b[2]
                self._window_slow -= b[3]
                b[0], b[1], b[2], b[3] = e, 0, 0, 0
            self._last_epoch = epoch
        b = self._buckets[epoch % _BUCKETS]
        b[1] += 1
        self._window_calls += 1
        if failed:
            b[2] += 1
            self._window_failures += 1
        if slow:
            b[3] += 1
            self._window_slow += 1

    def _check_rates(self) -> None:
        c = self.config
        calls = self._window_calls
        if calls < c.min_calls:
            return
        if self._window_failures / calls >= c.failure_rate_threshold:
            self._trip(f"failure rate {self._window_failures}/{calls} over {c.window_seconds:g}s")
        elif self._window_slow / calls >= c.slow_call_rate_threshold:
            self._trip(f"slow-call rate {self._window_slow}/{calls} (>= {c.slow_call_seconds:g}s) over {c.window_seconds:g}s")

    def _trip(self, reason: str) -> None:
        c = self.config
        self.trips += 1
        cooldown = capped_growth(c.cooldown, c.cooldown_multiplier, self.trips - 1, c.max_cooldown)
        self.open_until = self._clock.now() + cooldown
        self._clear_counts()
        self._move(BreakerState.OPEN, f"{reason}; cooldown {cooldown:g}s")

    def _close(self, reason: str) -> None:
        # A full close forgives earlier trips: the next one starts from the base cooldown.
        self.trips = 0
        self._clear_counts()
        self._move(BreakerState.CLOSED, reason)

    def _clear_counts(self) -> None:
        self.consecutive_failures = 0
        self.half_open_inflight = 0
        self.half_open_successes = 0
        for b in self._buckets:
            b[0], b[1], b[2], b[3] = -1, 0, 0, 0
        self._window_calls = 0
        self._window_failures = 0
        self._window_slow = 0

    def _move(self, new: BreakerState, reason: str) -> None:
        old = self._state
        self._state = new
        if new is BreakerState.HALF_OPEN:
            self.half_open_inflight = 0
            self.half_open_successes = 0
        t = Transition(self._clock.wall(), old, new, reason)
        self.transitions.append(t)
        if self._on_transition is not None:
            self._on_transition(self, t)


class Breakers:
    """All breakers, created on first use, persisted through a Store on every transition."""

    NAMESPACE = "breakers"

    def __init__(
        self,
        config: BreakerConfig,
        clock: Clock,
        store: Store | None = None,
        on_transition: TransitionListener | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._store = store
        self._listener = on_transition
        self._by_key: dict[tuple[str, str, str], CircuitBreaker] = {}
        if store is not None:
            for data in store.load(self.NAMESPACE).values():
                key = data.get("key")
                if isinstance(key, list) and len(key) == 3:
                    b = CircuitBreaker((str(key[0]), str(key[1]), str(key[2])), config, clock, self._transitioned)
                    b.restore(data)
                    self._by_key[b.key] = b

    def get(self, key: tuple[str, str, str]) -> CircuitBreaker:
        b = self._by_key.get(key)
        if b is None:
            b = self._by_key[key] = CircuitBreaker(key, self.config, self._clock, self._transitioned)
        return b

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._by_key.values()))

    def _transitioned(self, breaker: CircuitBreaker, t: Transition) -> None:
        if self._store is not None:
            self._store.save(self.NAMESPACE, breaker.name, breaker.snapshot())
        if self._listener is not None:
            self._listener(breaker, t)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {b.name: b.snapshot() for b in self}
