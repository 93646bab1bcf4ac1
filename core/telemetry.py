"""What the router records about itself: outcomes, errors, retries, breakers, fallbacks, latency.

:class:`RouterMetrics` is the single recorder the router calls. Every count
lives in one place, the Prometheus registry ``registry``
(:class:`core.metrics.Registry`): the summaries an operator reads
(``error_summary``, ``retry_summary``, ``breaker_summary``,
``fallback_summary``, ``full_summary``, in the shape docs/core.md
describes) are added up from its counters when asked, never kept beside
them. Where a summary breaks a count down further than /metrics does
(errors by exception type, operation and deployment; retries by operation
and deployment; fallbacks by operation and route) the counter carries
*detail labels*, kept in process and summed away in the exposition (see
:mod:`core.metrics`). Recorders that share one registry therefore share
their counts.

Beside the registry stays only what a counter cannot hold, each fed from
one place:

- per operation, a reservoir of the most recent latencies (ms), for the
  exact percentiles of ``latency_stats`` (the histogram has only buckets);
- the most recent times to first token (``recent_ttft``);
- the timestamps of recent successes and errors, for the windowed
  ``error_rate``/``success_rate``;
- per breaker, times rather than counts: when its current open stretch
  began, the open time before it, its last reason and when; its state is
  the ``llm_breaker_state`` gauge;
- the largest attempt number seen (a maximum, not a sum);
- a bounded history of :class:`MetricPoint` events, and callbacks fed each
  point as it happens.

Cost. ``record_success`` runs once per request on the router's hot path, so
it touches only cached objects: one dict lookup for the (operation,
deployment) handle, a counter add, a histogram observe, two deque appends
and a clock read (well under 1 µs in CPython). It builds no
:class:`MetricPoint` unless a callback is registered or ``success_sample_every``
asks for sampled success points in the history. Counting once has a price
off the hot path: a summary, and the running total an error's or a
fallback's point carries, walk the children of the counter they read (a
few µs for a few hundred children).

History policy. The ring buffer (``history_size`` points) receives every
error, retry, retry outcome, breaker transition and fallback: the rare,
telling events. Successes and standalone latency samples are *not* written
there by default (at hundreds per second they would push the telling
events out within seconds); set ``success_sample_every=N`` to keep one
point in N. Callbacks, when any are registered, receive every point,
successes and latencies included.

Latency. ``record_success`` records the request's latency itself (the
reservoir behind ``latency_stats`` and the ``llm_request_latency_seconds``
histogram): do not also call ``record_latency`` for the same request, or
it is counted twice. ``record_latency`` is for timings that are not a
successful request (a failed attempt, a model load, a sub-step).

Time comes from the injected :class:`core.clock.Clock`: ``now()`` for
windows and durations, ``wall()`` for the timestamps people read.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from .clock import Clock
from .errors import LLMError
from .metrics import Counter, CounterChild, GaugeChild, HistogramChild, Registry

__all__ = [
    "BREAKER_STATES",
    "FALLBACK_KINDS",
    "LATENCY_BUCKETS",
    "TTFT_BUCKETS",
    "BreakerSummary",
    "ErrorSummary",
    "FallbackSummary",
    "MetricPoint",
    "MetricType",
    "RetrySummary",
    "RouterMetrics",
]

BREAKER_STATES: Final[tuple[str, ...]] = ("closed", "half_open", "open", "isolated")
# The value of the llm_breaker_state gauge; also the order of "worst state".
_STATE_VALUE: Final[dict[str, int]] = {s: i for i, s in enumerate(BREAKER_STATES)}

FALLBACK_KINDS: Final[tuple[str, ...]] = ("switch", "restart", "hedge", "cache_hit", "cache_miss", "none_available", "incomplete")
"""The kinds with a named field in :class:`FallbackSummary`; any other kind is still counted (``by_kind``)."""

LATENCY_BUCKETS: Final[tuple[float, ...]] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS: Final[tuple[float, ...]] = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class MetricType:
    """The ``metric_type`` of a :class:`MetricPoint` (plain strings)."""

    ERROR_COUNT: Final = "error_count"
    RETRY_COUNT: Final = "retry_count"
    RETRY_OUTCOME: Final = "retry_outcome"
    CIRCUIT_STATE_CHANGE: Final = "circuit_state_change"
    FALLBACK_ACTIVATION: Final = "fallback_activation"
    LATENCY: Final = "latency"
    SUCCESS_COUNT: Final = "success_count"
    ALL: Final[tuple[str, ...]] = (
        ERROR_COUNT,
        RETRY_COUNT,
        RETRY_OUTCOME,
        CIRCUIT_STATE_CHANGE,
        FALLBACK_ACTIVATION,
        LATENCY,
        SUCCESS_COUNT,
    )


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One recorded event.

    ``value`` by type: error_count — errors of this exception type so far;
    retry_count — the attempt number; retry_outcome — attempts made;
    circuit_state_change — the new state's gauge value (0 closed, 1
    half_open, 2 open, 3 isolated); fallback_activation — activations of
    this kind for this operation so far; latency — milliseconds;
    success_count — successes of this operation on this deployment so far.
    """

    timestamp: float  # wall clock, seconds since the epoch
    metric_type: str
    value: float
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "metric_type": self.metric_type, "value": self.value, "tags": dict(self.tags)}


class _Summary:
    __slots__ = ()  # the subclasses are slotted dataclasses

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True, slots=True)
class ErrorSummary(_Summary):
    total_errors: int
    errors_by_type: dict[str, int]
    errors_by_code: dict[str, int]
    errors_by_category: dict[str, int]
    errors_by_operation: dict[str, int]
    errors_by_deployment: dict[str, int]


@dataclass(frozen=True, slots=True)
class RetrySummary(_Summary):
    total_retries: int  # record_retry calls: retries scheduled
    successful_retries: int  # retried operations that finally succeeded
    failed_retries: int  # retried operations that finally failed
    total_retry_delay_seconds: float
    max_attempts: int
    avg_attempts_before_success: float
    retries_by_operation: dict[str, int]
    retries_by_deployment: dict[str, int]


@dataclass(frozen=True, slots=True)
class BreakerSummary(_Summary):
    name: str  # "*" for the summary over every breaker
    current_state: str  # for "*": the worst state of any breaker
    state_transitions: int
    total_open_time: float  # seconds in "open", the current stretch included
    opens_count: int
    closes_count: int
    half_opens_count: int
    isolations_count: int
    last_reason: str = ""
    last_transition_at: float | None = None  # wall clock


@dataclass(frozen=True, slots=True)
class FallbackSummary(_Summary):
    total_activations: int  # every record_fallback call, of any kind
    switches: int
    restarts: int
    hedges: int
    cache_hits: int
    cache_misses: int
    no_fallback_available: int
    incomplete: int
    cache_hit_rate: float  # hits / (hits + misses); 0.0 before any
    by_kind: dict[str, int]
    by_route: dict[str, int]  # "from -> to": count, for kinds that name both


class _Breaker:
    """What a breaker's summary needs beyond the registry: its gauge, and times.

    Its transition counts are ``llm_breaker_transitions_total`` and its state
    the ``llm_breaker_state`` gauge held here; open time and the last reason
    are not counts, so they are kept on this record.
    """

    __slots__ = ("gauge", "last_at", "last_reason", "open_since", "open_time")

    def __init__(self, gauge: GaugeChild) -> None:
        self.gauge = gauge
        self.open_time = 0.0  # seconds in "open", stretches already ended
        self.open_since: float | None = None  # monotonic; set while open, if we saw it open
        self.last_reason = ""
        self.last_at: float | None = None  # wall clock

    @property
    def state(self) -> str:
        return BREAKER_STATES[int(self.gauge.value)]

    def zero(self, now: float) -> None:
        self.open_time = 0.0
        self.last_reason = ""
        self.last_at = None
        if self.open_since is not None:
            self.open_since = now


class _SuccessHandle:
    """Everything one (operation, deployment) success touches, looked up once."""

    __slots__ = ("latency", "requests", "reservoir", "tokens")

    def __init__(self, requests: CounterChild, latency: HistogramChild, reservoir: deque[float], tokens: CounterChild) -> None:
        self.requests = requests
        self.latency = latency
        self.reservoir = reservoir
        self.tokens = tokens


def _plain(state: object) -> str:
    """A state as a plain string (an enum member gives its value)."""
    value = getattr(state, "value", state)
    if not isinstance(value, str):
        raise TypeError(state)
    return value


def _prune(times: deque[float], cutoff: float) -> None:
    while times and times[0] < cutoff:
        times.popleft()


def _bump(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def _nearest_rank(ordered: list[float], pct: float) -> float:
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _counts(family: Counter) -> list[tuple[tuple[str, ...], int]]:
    """A counter's children that counted something, as (label values, count).

    Children that read zero are left out: after ``reset`` they stay (handles
    hold them) but the summaries should read as if they had never been.
    """
    return [(key, int(child.value)) for key, child in family.children().items() if child.value]


def _count(family: Counter, *values: str) -> int:
    """One child's count, without making the child (that would add a series to /metrics)."""
    child = family.get(*values)
    return int(child.value) if child is not None else 0


class RouterMetrics:
    """The router's event recorder; see the module docstring for what is kept where, cost and policy.

    ``history_size`` bounds the MetricPoint ring buffer (0 disables it);
    ``latency_samples`` bounds the per-operation latency reservoir (the
    most recent samples); ``rate_window`` is the longest window, in
    seconds, that ``error_rate``/``success_rate`` can answer for;
    ``rate_max_events`` caps the timestamps kept per rate (beyond it the
    rate is estimated over the span the kept timestamps cover);
    ``success_sample_every`` writes one success (and standalone latency)
    point in N to the history (0: none).
    """

    def __init__(
        self,
        clock: Clock,
        registry: Registry | None = None,
        history_size: int = 1000,
        latency_samples: int = 1024,
        rate_window: float = 60.0,
        *,
        rate_max_events: int = 100_000,
        success_sample_every: int = 0,
    ) -> None:
        if history_size < 0 or latency_samples < 1 or rate_window <= 0 or rate_max_events < 1 or success_sample_every < 0:
            raise ValueError("history_size >= 0, latency_samples >= 1, rate_window > 0, rate_max_events >= 1, success_sample_every >= 0")
        self._clock = clock
        self.registry = registry if registry is not None else Registry()
        self._history_size = history_size
        self._latency_samples = latency_samples
        self._rate_window = float(rate_window)
        self._sample_every = success_sample_every

        # The counts. Label values are given exported first, then detail.
        reg = self.registry
        self._m_requests = reg.counter(
            "llm_requests_total", "Calls to deployments, by outcome (success or error).", ("operation", "deployment", "outcome")
        )
        self._m_errors = reg.counter(
            "llm_errors_total", "Errors by catalogue code and category.", ("code", "category"), detail=("type", "operation", "deployment")
        )
        self._m_retries = reg.counter("llm_retries_total", "Retries scheduled.", detail=("operation", "deployment"))
        self._m_retry_delay = reg.counter("llm_retry_delay_seconds_total", "Backoff delay of the retries scheduled, in seconds.")
        self._m_retried = reg.counter("llm_retried_operations_total", "Operations that needed retries, by final outcome.", ("outcome",))
        self._m_retried_attempts = reg.counter(
            "llm_retried_operation_attempts_total", "Attempts made by operations that needed retries, by final outcome.", ("outcome",)
        )
        self._m_transitions = reg.counter(
            "llm_breaker_transitions_total", "Circuit breaker state transitions, by new state.", ("breaker", "to")
        )
        self._m_breaker_state = reg.gauge(
            "llm_breaker_state", "Circuit breaker state: 0 closed, 1 half_open, 2 open, 3 isolated.", ("breaker",)
        )
        self._m_fallbacks = reg.counter(
            "llm_fallbacks_total", "Fallback activations, by kind.", ("kind",), detail=("operation", "from", "to")
        )
        self._m_latency = reg.histogram(
            "llm_request_latency_seconds", "Request latency in seconds.", ("operation",), buckets=LATENCY_BUCKETS
        )
        self._m_ttft = reg.histogram("llm_ttft_seconds", "Time to first token in seconds.", buckets=TTFT_BUCKETS)
        self._m_tokens = reg.counter("llm_generated_tokens_total", "Tokens generated, by deployment.", ("deployment",))
        self._m_inflight = reg.gauge("llm_inflight", "Calls in flight, by deployment.", ("deployment",))
        self._m_callback_failures = reg.counter("llm_metrics_callback_failures_total", "Metric callbacks that raised.")
        self._resettable = (
            self._m_requests,
            self._m_errors,
            self._m_retries,
            self._m_retry_delay,
            self._m_retried,
            self._m_retried_attempts,
            self._m_transitions,
            self._m_fallbacks,
            self._m_latency,
            self._m_ttft,
            self._m_tokens,
            self._m_callback_failures,
        )
        self._ttft = self._m_ttft.labels()

        # What no counter holds (see the module docstring).
        self._ttft_recent: deque[float] = deque(maxlen=latency_samples)
        self._reservoirs: dict[str, deque[float]] = {}
        self._success_times: deque[float] = deque(maxlen=rate_max_events)
        self._error_times: deque[float] = deque(maxlen=rate_max_events)
        self._breakers: dict[str, _Breaker] = {}
        self._max_attempts = 0
        self._callbacks: tuple[Callable[[MetricPoint], None], ...] = ()
        self._history: deque[MetricPoint] = deque(maxlen=history_size)
        self._sample_count = 0
        self._emit_hot = success_sample_every > 0  # whether a success or latency may build a point

        # Handles to registry children and reservoirs, so the hot path does one lookup.
        self._success_handles: dict[tuple[str, str], _SuccessHandle] = {}
        self._latency_handles: dict[str, tuple[HistogramChild, deque[float]]] = {}

    def recent_ttft(self) -> list[float]:
        """The most recent times to first token, in seconds (for timeouts that follow load)."""
        return list(self._ttft_recent)

    def reset(self) -> None:
        """Forget everything recorded.

        Counters and histograms in ``registry`` go back to zero; gauges
        (in-flight calls, breaker states) and each breaker's current state
        describe the present, not the past, and are kept (a breaker open
        now starts a fresh open-time stretch). Callbacks stay registered.
        """
        for family in self._resettable:
            family.reset()
        self._sample_count = 0
        self._max_attempts = 0
        self._history.clear()
        self._success_times.clear()
        self._error_times.clear()
        for reservoir in self._reservoirs.values():
            reservoir.clear()  # in place: handles hold these deques
        self._ttft_recent.clear()
        now = self._clock.now()
        for breaker in self._breakers.values():
            breaker.zero(now)

    # --- callbacks and history ---------------------------------------------------

    def register_callback(self, fn: Callable[[MetricPoint], None]) -> None:
        """Call ``fn`` with every point as it is recorded. A raising callback is counted, not propagated."""
        if fn not in self._callbacks:
            self._callbacks = (*self._callbacks, fn)
        self._emit_hot = True

    def unregister_callback(self, fn: Callable[[MetricPoint], None]) -> bool:
        """Stop calling ``fn``; False if it was not registered."""
        if fn not in self._callbacks:
            return False
        self._callbacks = tuple(cb for cb in self._callbacks if cb != fn)
        self._emit_hot = bool(self._callbacks) or self._sample_every > 0
        return True

    @property
    def callback_failures(self) -> int:
        return int(self._m_callback_failures.value)

    def _emit(self, metric_type: str, value: float, tags: dict[str, str], *, keep: bool = True) -> None:
        point = MetricPoint(self._clock.wall(), metric_type, value, tags)
        if keep and self._history_size:
            self._history.append(point)
        for callback in self._callbacks:
            try:
                callback(point)
            except Exception:
                self._m_callback_failures.inc()

    def _emit_sampled(self, metric_type: str, value: float, tags: dict[str, str]) -> None:
        keep = False
        if self._sample_every:
            self._sample_count += 1
            if self._sample_count >= self._sample_every:
                self._sample_count = 0
                keep = True
        if keep or self._callbacks:
            self._emit(metric_type, value, tags, keep=keep)

    def history(self, metric_type: str | None = None, limit: int = 100) -> list[MetricPoint]:
        """The most recent ``limit`` points (of one type, if given), oldest first."""
        if limit <= 0:
            return []
        if metric_type is None:
            points = list(self._history)
            return points[-limit:]
        out: list[MetricPoint] = []
        for point in reversed(self._history):
            if point.metric_type == metric_type:
                out.append(point)
                if len(out) >= limit:
                    break
        out.reverse()
        return out

    # --- recording ---------------------------------------------------------------

    def _reservoir(self, operation: str) -> deque[float]:
        reservoir = self._reservoirs.get(operation)
        if reservoir is None:
            reservoir = self._reservoirs[operation] = deque(maxlen=self._latency_samples)
        return reservoir

    def _success_handle(self, operation: str, deployment: str) -> _SuccessHandle:
        handle = _SuccessHandle(
            self._m_requests.labels(operation, deployment, "success"),
            self._m_latency.labels(operation),
            self._reservoir(operation),
            self._m_tokens.labels(deployment),
        )
        self._success_handles[(operation, deployment)] = handle
        return handle

    def record_success(self, operation: str, deployment: str, latency_s: float, ttft_s: float | None = None, tokens: int = 0) -> None:
        """A call that succeeded: counts, latency (reservoir and histogram), TTFT, tokens, success rate."""
        handle = self._success_handles.get((operation, deployment))
        if handle is None:
            handle = self._success_handle(operation, deployment)
        handle.requests.value += 1
        hist = handle.latency  # HistogramChild.observe, inlined: this is the hot path
        hist.bucket_counts[bisect_left(hist._bounds, latency_s)] += 1
        hist.sum += latency_s
        hist.count += 1
        handle.reservoir.append(latency_s * 1000.0)
        if ttft_s is not None:
            self._ttft_recent.append(ttft_s)
            hist = self._ttft
            hist.bucket_counts[bisect_left(hist._bounds, ttft_s)] += 1
            hist.sum += ttft_s
            hist.count += 1
        if tokens:
            handle.tokens.value += tokens
        now = self._clock.now()
        times = self._success_times
        if times and times[0] < now - self._rate_window:
            _prune(times, now - self._rate_window)
        times.append(now)
        if self._emit_hot:
            self._emit_sampled(MetricType.SUCCESS_COUNT, handle.requests.value, {"operation": operation, "deployment": deployment})

    def record_latency(self, operation: str, latency_ms: float) -> None:
        """A latency sample not tied to a successful request (see the module docstring)."""
        entry = self._latency_handles.get(operation)
        if entry is None:
            entry = self._latency_handles[operation] = (self._m_latency.labels(operation), self._reservoir(operation))
        entry[0].observe(latency_ms / 1000.0)
        entry[1].append(latency_ms)
        if self._emit_hot:
            self._emit_sampled(MetricType.LATENCY, latency_ms, {"operation": operation})

    def record_error(self, error: BaseException, operation: str, deployment: str = "") -> None:
        """A failed call, counted by exception type, catalogue code and category.

        Anything that is not an :class:`LLMError` is counted with code
        ``UNCATALOGUED`` and category ``UNKNOWN``.
        """
        etype = type(error).__name__
        if isinstance(error, LLMError):
            code, category = error.code, error.spec.category
        else:
            code, category = "UNCATALOGUED", "UNKNOWN"
        self._m_errors.labels(code, category, etype, operation, deployment).inc()
        self._m_requests.labels(operation, deployment, "error").inc()
        now = self._clock.now()
        _prune(self._error_times, now - self._rate_window)
        self._error_times.append(now)
        if self._history_size or self._callbacks:
            # The point carries the running total for this exception type: added up
            # from the counter's children (a few µs for a few hundred), not kept apart.
            of_type = sum(child.value for key, child in self._m_errors.children().items() if key[2] == etype)
            self._emit(
                MetricType.ERROR_COUNT,
                of_type,
                {"type": etype, "code": code, "category": category, "operation": operation, "deployment": deployment},
            )

    def record_retry(self, operation: str, deployment: str, attempt: int, delay_s: float) -> None:
        """A retry scheduled after ``attempt`` on ``deployment``, to run after ``delay_s`` seconds."""
        self._m_retries.labels(operation, deployment).inc()
        self._m_retry_delay.inc(delay_s)
        self._max_attempts = max(self._max_attempts, attempt)
        self._emit(MetricType.RETRY_COUNT, attempt, {"operation": operation, "deployment": deployment, "delay_s": f"{delay_s:g}"})

    def record_retry_outcome(self, operation: str, attempts: int, success: bool) -> None:
        """How an operation that needed retries ended, after ``attempts`` attempts in all."""
        outcome = "success" if success else "failure"
        self._m_retried.labels(outcome).inc()
        self._m_retried_attempts.labels(outcome).inc(attempts)
        self._max_attempts = max(self._max_attempts, attempts)
        self._emit(MetricType.RETRY_OUTCOME, attempts, {"operation": operation, "success": "true" if success else "false"})

    def record_breaker_transition(self, breaker: str, old: str, new: str, reason: str) -> None:
        """A breaker moved from ``old`` to ``new`` (states in :data:`BREAKER_STATES`).

        A move to the state the breaker is already in is ignored. Open time
        is measured from a move into "open" to the next move out of it.
        """
        try:
            old_state = BREAKER_STATES[_STATE_VALUE[_plain(old)]]
            new_state = BREAKER_STATES[_STATE_VALUE[_plain(new)]]
        except (KeyError, TypeError):
            raise ValueError(f"unknown breaker state in {old!r} -> {new!r}; expected one of {BREAKER_STATES}") from None
        record = self._breakers.get(breaker)
        if record is None:
            # First sight: the breaker is in ``old`` (the gauge says so from now on).
            record = self._breakers[breaker] = _Breaker(self._m_breaker_state.labels(breaker))
            record.gauge.set(_STATE_VALUE[old_state])
        if new_state == record.state:
            return
        now = self._clock.now()
        if record.open_since is not None:
            record.open_time += now - record.open_since
            record.open_since = None
        if new_state == "open":
            record.open_since = now
        record.gauge.set(_STATE_VALUE[new_state])
        record.last_reason = reason
        record.last_at = self._clock.wall()
        self._m_transitions.labels(breaker, new_state).inc()
        self._emit(
            MetricType.CIRCUIT_STATE_CHANGE,
            _STATE_VALUE[new_state],
            {"breaker": breaker, "from": old_state, "to": new_state, "reason": reason},
        )

    def record_fallback(self, operation: str, kind: str, from_deployment: str = "", to_deployment: str = "") -> None:
        """A fallback of ``kind`` (see :data:`FALLBACK_KINDS`; other kinds are counted too)."""
        self._m_fallbacks.labels(kind, operation, from_deployment, to_deployment).inc()
        if self._history_size or self._callbacks:
            so_far = sum(c.value for key, c in self._m_fallbacks.children().items() if key[0] == kind and key[1] == operation)
            self._emit(
                MetricType.FALLBACK_ACTIVATION,
                so_far,
                {"operation": operation, "kind": kind, "from": from_deployment, "to": to_deployment},
            )

    def inflight(self, deployment: str, delta: int) -> None:
        """Calls in flight to ``deployment`` went up (or down) by ``delta``."""
        self._m_inflight.labels(deployment).inc(delta)

    # --- summaries: added up from the registry when asked --------------------------

    def error_summary(self, error_type: str | None = None) -> ErrorSummary:
        """Errors recorded; ``error_type`` keeps those whose class name, code or category equals it."""
        by_type: dict[str, int] = {}
        by_code: dict[str, int] = {}
        by_category: dict[str, int] = {}
        by_operation: dict[str, int] = {}
        by_deployment: dict[str, int] = {}
        total = 0
        for (code, category, etype, operation, deployment), n in _counts(self._m_errors):
            if error_type is not None and error_type not in (etype, code, category):
                continue
            total += n
            _bump(by_type, etype, n)
            _bump(by_code, code, n)
            _bump(by_category, category, n)
            _bump(by_operation, operation, n)
            _bump(by_deployment, deployment, n)
        return ErrorSummary(total, by_type, by_code, by_category, by_operation, by_deployment)

    def retry_summary(self) -> RetrySummary:
        by_operation: dict[str, int] = {}
        by_deployment: dict[str, int] = {}
        for (operation, deployment), n in _counts(self._m_retries):
            _bump(by_operation, operation, n)
            _bump(by_deployment, deployment, n)
        ok = _count(self._m_retried, "success")
        ok_attempts = _count(self._m_retried_attempts, "success")
        return RetrySummary(
            sum(by_operation.values()),
            ok,
            _count(self._m_retried, "failure"),
            float(self._m_retry_delay.value),
            self._max_attempts,
            ok_attempts / ok if ok else 0.0,
            by_operation,
            by_deployment,
        )

    def _breaker_summaries(self, only: str | None = None) -> dict[str, BreakerSummary]:
        """Every breaker seen (or just ``only``), by name, counts from ``llm_breaker_transitions_total``."""
        moves: dict[str, dict[str, int]] = {}
        for (name, new_state), n in _counts(self._m_transitions):
            if only is None or name == only:
                _bump(moves.setdefault(name, {}), new_state, n)
        now = self._clock.now()
        out: dict[str, BreakerSummary] = {}
        for name, record in self._breakers.items():
            if only is not None and name != only:
                continue
            to = moves.get(name, {})
            running = now - record.open_since if record.open_since is not None else 0.0
            out[name] = BreakerSummary(
                name,
                record.state,
                sum(to.values()),
                record.open_time + running,
                to.get("open", 0),
                to.get("closed", 0),
                to.get("half_open", 0),
                to.get("isolated", 0),
                record.last_reason,
                record.last_at,
            )
        return out

    def breaker_summary(self, breaker: str | None = None) -> BreakerSummary:
        """One breaker (a never-seen one reads closed, all zeros), or with None every breaker summed.

        Summed, ``current_state`` is the worst state of any breaker
        (isolated > open > half_open > closed).
        """
        if breaker is not None:
            found = self._breaker_summaries(breaker).get(breaker)
            return found if found is not None else BreakerSummary(breaker, "closed", 0, 0.0, 0, 0, 0, 0)
        parts = list(self._breaker_summaries().values())
        worst = max((p.current_state for p in parts), key=_STATE_VALUE.__getitem__, default="closed")
        latest = max((p for p in parts if p.last_transition_at is not None), key=lambda p: p.last_transition_at or 0.0, default=None)
        return BreakerSummary(
            "*",
            worst,
            sum(p.state_transitions for p in parts),
            sum(p.total_open_time for p in parts),
            sum(p.opens_count for p in parts),
            sum(p.closes_count for p in parts),
            sum(p.half_opens_count for p in parts),
            sum(p.isolations_count for p in parts),
            latest.last_reason if latest else "",
            latest.last_transition_at if latest else None,
        )

    def breakers(self) -> dict[str, BreakerSummary]:
        """Every breaker seen, by name."""
        return dict(sorted(self._breaker_summaries().items()))

    def fallback_summary(self, operation: str | None = None) -> FallbackSummary:
        by_kind: dict[str, int] = {}
        by_route: dict[str, int] = {}
        for (kind, op, src, dst), n in _counts(self._m_fallbacks):
            if operation is not None and op != operation:
                continue
            _bump(by_kind, kind, n)
            if src or dst:
                _bump(by_route, f"{src} -> {dst}", n)
        hits, misses = by_kind.get("cache_hit", 0), by_kind.get("cache_miss", 0)
        return FallbackSummary(
            sum(by_kind.values()),
            by_kind.get("switch", 0),
            by_kind.get("restart", 0),
            by_kind.get("hedge", 0),
            hits,
            misses,
            by_kind.get("none_available", 0),
            by_kind.get("incomplete", 0),
            hits / (hits + misses) if hits + misses else 0.0,
            by_kind,
            by_route,
        )

    def latency_stats(self, operation: str) -> dict[str, float]:
        """min/max/avg/p50/p95/p99 in ms over the most recent samples, and their count.

        Percentiles are nearest-rank on a sorted copy. No samples: all zeros.
        """
        reservoir = self._reservoirs.get(operation)
        if not reservoir:
            return {"min_ms": 0.0, "max_ms": 0.0, "avg_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "count": 0}
        ordered = sorted(reservoir)
        return {
            "min_ms": ordered[0],
            "max_ms": ordered[-1],
            "avg_ms": math.fsum(ordered) / len(ordered),
            "p50_ms": _nearest_rank(ordered, 50),
            "p95_ms": _nearest_rank(ordered, 95),
            "p99_ms": _nearest_rank(ordered, 99),
            "count": len(ordered),
        }

    def latency_operations(self) -> list[str]:
        """Operations with latency samples."""
        return sorted(op for op, reservoir in self._reservoirs.items() if reservoir)

    def _rate(self, times: deque[float], window_s: float | None) -> float:
        window = self._rate_window if window_s is None else float(window_s)
        if not 0 < window <= self._rate_window:
            raise ValueError(f"window_s must be in (0, {self._rate_window:g}] (the rate_window this recorder keeps)")
        now = self._clock.now()
        cutoff = now - window
        _prune(times, now - self._rate_window)
        n = 0
        for t in reversed(times):
            if t < cutoff:
                break
            n += 1
        if n and n == len(times) == times.maxlen:
            # The cap dropped events that were still inside the window:
            # estimate over the span the kept ones cover.
            span = now - times[0]
            if span > 0:
                return n / span
        return n / window

    def error_rate(self, window_s: float | None = None) -> float:
        """Errors per second over the last ``window_s`` seconds (default: ``rate_window``)."""
        return self._rate(self._error_times, window_s)

    def success_rate(self, window_s: float | None = None) -> float:
        """Successes per second over the last ``window_s`` seconds (default: ``rate_window``)."""
        return self._rate(self._success_times, window_s)

    def _request_counts(self) -> dict[str, int]:
        counts = {"successes": 0, "errors": 0, "tokens": sum(n for _, n in _counts(self._m_tokens))}
        for (_, _, outcome), n in _counts(self._m_requests):
            counts["successes" if outcome == "success" else "errors"] += n
        return counts

    def inflight_counts(self) -> dict[str, float]:
        return {key[0]: child.value for key, child in sorted(self._m_inflight.children().items())}

    def full_summary(self) -> dict[str, Any]:
        """Everything, JSON-serialisable, as docs/core.md describes it."""
        return {
            "errors": self.error_summary().to_dict(),
            "retries": self.retry_summary().to_dict(),
            "circuit_breaker": self.breaker_summary().to_dict(),
            "breakers": {name: s.to_dict() for name, s in self.breakers().items()},
            "fallbacks": self.fallback_summary().to_dict(),
            "error_rate_per_second": self.error_rate(),
            "success_rate_per_second": self.success_rate(),
            "latencies": {op: self.latency_stats(op) for op in self.latency_operations()},
            "requests": self._request_counts(),
            "inflight": self.inflight_counts(),
            "callback_failures": self.callback_failures,
        }
