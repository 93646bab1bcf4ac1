from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.clock import ManualClock
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.metrics import Registry
from llm_runner_router.core.telemetry import BREAKER_STATES, MetricPoint, MetricType, RouterMetrics

from .test_metrics import parse, value_of


def make(**kw: Any) -> tuple[RouterMetrics, ManualClock]:
    clock = ManualClock()
    return RouterMetrics(clock, **kw), clock


def net_error() -> LLMError:
    return catalogue.NET_CONNECTION_FAILED.error()


# --- successes and latency --------------------------------------------------------


def test_record_success_counts_latency_ttft_and_tokens() -> None:
    m, _ = make()
    m.record_success("chat", "a", 0.2, ttft_s=0.05, tokens=10)
    m.record_success("chat", "a", 0.4, tokens=5)
    m.record_success("chat", "b", 1.5)
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_requests_total", operation="chat", deployment="a", outcome="success") == 2
    assert value_of(text, "llm_requests_total", operation="chat", deployment="b", outcome="success") == 1
    assert value_of(text, "llm_request_latency_seconds_count", operation="chat") == 3
    assert value_of(text, "llm_request_latency_seconds_sum", operation="chat") == pytest.approx(2.1)
    assert value_of(text, "llm_request_latency_seconds_bucket", operation="chat", le="0.25") == 1
    assert value_of(text, "llm_request_latency_seconds_bucket", operation="chat", le="0.5") == 2
    assert value_of(text, "llm_request_latency_seconds_bucket", operation="chat", le="+Inf") == 3
    assert value_of(text, "llm_ttft_seconds_count") == 1
    assert value_of(text, "llm_ttft_seconds_sum") == pytest.approx(0.05)
    assert value_of(text, "llm_generated_tokens_total", deployment="a") == 15
    stats = m.latency_stats("chat")
    assert stats["count"] == 3 and stats["min_ms"] == pytest.approx(200) and stats["max_ms"] == pytest.approx(1500)
    assert m.full_summary()["requests"] == {"successes": 3, "errors": 0, "tokens": 15}


def test_latency_percentiles_are_nearest_rank() -> None:
    m, _ = make()
    for ms in range(100, 0, -1):  # 100..1 ms, out of order
        m.record_latency("gen", float(ms))
    assert m.latency_stats("gen") == {
        "min_ms": 1.0,
        "max_ms": 100.0,
        "avg_ms": 50.5,
        "p50_ms": 50.0,
        "p95_ms": 95.0,
        "p99_ms": 99.0,
        "count": 100,
    }


def test_latency_percentiles_of_few_samples() -> None:
    m, _ = make()
    m.record_latency("gen", 10.0)
    assert m.latency_stats("gen")["p99_ms"] == 10.0
    m.record_latency("gen", 20.0)
    s = m.latency_stats("gen")
    assert (s["p50_ms"], s["p95_ms"], s["avg_ms"]) == (10.0, 20.0, 15.0)


@given(st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1, max_size=200))
def test_latency_stats_properties(samples: list[float]) -> None:
    m, _ = make()
    for v in samples:
        m.record_latency("op", v)
    s = m.latency_stats("op")
    assert s["count"] == len(samples)
    assert s["min_ms"] <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert s["min_ms"] == min(samples) and s["max_ms"] == max(samples)
    assert s["p50_ms"] in samples and s["p99_ms"] in samples
    below = sum(1 for v in samples if v <= s["p95_ms"])
    assert below >= 0.95 * len(samples)


def test_latency_reservoir_keeps_the_most_recent() -> None:
    m, _ = make(latency_samples=10)
    for ms in range(1, 101):
        m.record_latency("gen", float(ms))
    s = m.latency_stats("gen")
    assert s["count"] == 10 and s["min_ms"] == 91.0 and s["max_ms"] == 100.0
    # the histogram keeps counting everything
    assert m.registry.sample_value("llm_request_latency_seconds_count", {"operation": "gen"}) == 100


def test_record_latency_is_milliseconds_in_and_seconds_in_the_histogram() -> None:
    m, _ = make()
    m.record_latency("load", 1500.0)
    assert m.registry.sample_value("llm_request_latency_seconds_sum", {"operation": "load"}) == pytest.approx(1.5)
    assert m.latency_stats("load")["avg_ms"] == 1500.0
    assert m.latency_operations() == ["load"]


def test_latency_stats_of_an_unknown_operation() -> None:
    m, _ = make()
    assert m.latency_stats("nothing") == {
        "min_ms": 0.0, "max_ms": 0.0, "avg_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "count": 0
    }


def test_success_and_latency_share_the_operation_reservoir() -> None:
    m, _ = make()
    m.record_success("chat", "a", 0.1)
    m.record_latency("chat", 300.0)
    assert m.latency_stats("chat")["count"] == 2
    assert m.latency_stats("chat")["max_ms"] == 300.0


# --- errors ---------------------------------------------------------------------


def test_errors_by_type_code_and_category() -> None:
    m, _ = make()
    m.record_error(net_error(), "chat", "a")
    m.record_error(net_error(), "chat", "b")
    m.record_error(catalogue.TIMEOUT_READ.error(), "chat", "a")
    m.record_error(catalogue.VAL_EMPTY.error(), "embed")
    s = m.error_summary()
    assert s.total_errors == 4
    assert s.errors_by_type == {"NetworkError": 2, "DeadlineError": 1, "ValidationError": 1}
    assert s.errors_by_code == {"LLM_NET_001_E": 2, "LLM_TIMEOUT_002_E": 1, "LLM_VAL_005_E": 1}
    assert s.errors_by_category == {"NET": 2, "TIMEOUT": 1, "VAL": 1}
    assert s.errors_by_operation == {"chat": 3, "embed": 1}
    assert s.errors_by_deployment == {"a": 2, "b": 1, "": 1}
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_errors_total", code="LLM_NET_001_E", category="NET") == 2
    assert value_of(text, "llm_requests_total", operation="chat", deployment="a", outcome="error") == 2


def test_error_summary_filters() -> None:
    m, _ = make()
    m.record_error(net_error(), "chat", "a")
    m.record_error(catalogue.NET_UNAVAILABLE.error(), "chat", "a")
    m.record_error(catalogue.TIMEOUT_READ.error(), "chat", "a")
    by_type = m.error_summary("NetworkError")
    assert by_type.total_errors == 2
    assert by_type.errors_by_code == {"LLM_NET_001_E": 1, "LLM_NET_008_E": 1}
    assert m.error_summary("LLM_TIMEOUT_002_E").errors_by_type == {"DeadlineError": 1}
    assert m.error_summary("NET").total_errors == 2
    none = m.error_summary("ConnectionError")
    assert none.total_errors == 0 and none.errors_by_type == {}


def test_a_foreign_exception_is_counted_as_uncatalogued() -> None:
    m, _ = make()
    m.record_error(RuntimeError("boom"), "chat", "a")
    s = m.error_summary()
    assert s.errors_by_type == {"RuntimeError": 1}
    assert s.errors_by_code == {"UNCATALOGUED": 1}
    assert s.errors_by_category == {"UNKNOWN": 1}


def test_error_summary_to_dict_matches_the_seed_shape() -> None:
    m, _ = make()
    m.record_error(net_error(), "chat", "a")
    d = m.error_summary().to_dict()
    assert {"total_errors", "errors_by_type", "errors_by_code"} <= set(d)
    assert d["total_errors"] == 1


# --- rates ----------------------------------------------------------------------


def test_rates_over_a_sliding_window() -> None:
    m, clock = make(rate_window=60.0)
    for _ in range(30):
        m.record_success("chat", "a", 0.1)
    for _ in range(6):
        m.record_error(net_error(), "chat", "a")
    assert m.success_rate() == pytest.approx(0.5)
    assert m.error_rate() == pytest.approx(0.1)
    clock.advance(30)
    for _ in range(3):
        m.record_error(net_error(), "chat", "a")
    assert m.error_rate(10) == pytest.approx(0.3)
    assert m.error_rate() == pytest.approx(9 / 60)
    clock.advance(30.5)  # the first batch is now older than 60 s
    assert m.success_rate() == 0.0
    assert m.error_rate() == pytest.approx(3 / 60)
    assert m.error_rate(30.5) == pytest.approx(3 / 30.5)


def test_rate_window_edges() -> None:
    m, clock = make(rate_window=10.0)
    m.record_success("chat", "a", 0.1)
    clock.advance(10)
    assert m.success_rate() == pytest.approx(0.1)  # exactly window_s old still counts
    clock.advance(0.001)
    assert m.success_rate() == 0.0
    for bad in (0, -1, 10.5):
        with pytest.raises(ValueError):
            m.success_rate(bad)


def test_old_timestamps_are_pruned_as_new_ones_arrive() -> None:
    m, clock = make(rate_window=1.0)
    for _ in range(1000):
        m.record_success("chat", "a", 0.01)
        m.record_error(net_error(), "chat", "a")
        clock.advance(0.1)
    assert len(m._success_times) <= 11 and len(m._error_times) <= 11


def test_rate_cap_estimates_over_the_span_kept() -> None:
    m, clock = make(rate_window=60.0, rate_max_events=10)
    for _ in range(100):  # 10 per second for 10 s, far more than the cap keeps
        m.record_success("chat", "a", 0.01)
        clock.advance(0.1)
    assert len(m._success_times) == 10
    assert m.success_rate() == pytest.approx(10.0, rel=0.15)


# --- retries --------------------------------------------------------------------


def test_retry_summary() -> None:
    m, _ = make()
    m.record_retry("chat", "a", 1, 0.5)
    m.record_retry("chat", "a", 2, 1.0)
    m.record_retry("embed", "b", 1, 0.25)
    m.record_retry_outcome("chat", 3, True)
    m.record_retry_outcome("embed", 2, True)
    m.record_retry_outcome("chat", 4, False)
    s = m.retry_summary()
    assert s.total_retries == 3
    assert s.total_retry_delay_seconds == pytest.approx(1.75)
    assert (s.successful_retries, s.failed_retries) == (2, 1)
    assert s.max_attempts == 4
    assert s.avg_attempts_before_success == 2.5
    assert s.retries_by_operation == {"chat": 2, "embed": 1}
    assert s.retries_by_deployment == {"a": 2, "b": 1}
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_retries_total") == 3
    assert value_of(text, "llm_retried_operations_total", outcome="success") == 2
    assert value_of(text, "llm_retried_operations_total", outcome="failure") == 1


def test_retry_summary_when_empty() -> None:
    m, _ = make()
    d = m.retry_summary().to_dict()
    assert d["total_retries"] == 0 and d["avg_attempts_before_success"] == 0.0 and d["max_attempts"] == 0


# --- breakers -------------------------------------------------------------------


class _State(str, enum.Enum):  # noqa: UP042 - a str mixin, like core.breaker.BreakerState
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def test_breaker_lifecycle_and_open_time() -> None:
    m, clock = make()
    m.record_breaker_transition("a", "closed", "open", "5 failures")
    clock.advance(30)
    m.record_breaker_transition("a", "open", "half_open", "cooldown elapsed")
    clock.advance(2)
    m.record_breaker_transition("a", "half_open", "open", "probe failed")
    clock.advance(10)
    s = m.breaker_summary("a")
    assert s.current_state == "open"
    assert s.total_open_time == pytest.approx(40)  # the running stretch counts
    clock.advance(5)
    m.record_breaker_transition("a", "open", "half_open", "cooldown elapsed")
    m.record_breaker_transition("a", "half_open", "closed", "probe succeeded")
    clock.advance(100)
    s = m.breaker_summary("a")
    assert s.current_state == "closed"
    assert s.total_open_time == pytest.approx(45)
    assert (s.state_transitions, s.opens_count, s.half_opens_count, s.closes_count) == (5, 2, 2, 1)
    assert s.last_reason == "probe succeeded"
    assert s.last_transition_at == clock.wall() - 100
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_breaker_state", breaker="a") == 0
    assert value_of(text, "llm_breaker_transitions_total", breaker="a", to="open") == 2
    assert value_of(text, "llm_breaker_transitions_total", breaker="a", to="half_open") == 2
    assert value_of(text, "llm_breaker_transitions_total", breaker="a", to="closed") == 1


def test_breaker_gauge_values() -> None:
    m, _ = make()
    for old, new, want in (("closed", "open", 2), ("open", "half_open", 1), ("half_open", "isolated", 3), ("isolated", "closed", 0)):
        m.record_breaker_transition("b", old, new, "")
        assert m.registry.sample_value("llm_breaker_state", {"breaker": "b"}) == want
    assert m.breaker_summary("b").isolations_count == 1
    assert BREAKER_STATES == ("closed", "half_open", "open", "isolated")


class _StrState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@pytest.mark.parametrize("states", [_State, _StrState])
def test_breaker_states_may_be_enum_members(states: Any) -> None:
    m, clock = make()
    m.record_breaker_transition("a", states.CLOSED, states.OPEN, "x")
    clock.advance(3)
    m.record_breaker_transition("a", states.OPEN, states.HALF_OPEN, "y")
    s = m.breaker_summary("a")
    assert s.current_state == "half_open" and type(s.current_state) is str
    assert s.total_open_time == 3
    json.dumps(m.full_summary())


def test_breaker_unknown_state_is_refused() -> None:
    m, _ = make()
    with pytest.raises(ValueError, match="unknown breaker state"):
        m.record_breaker_transition("a", "closed", "OPEN", "")
    with pytest.raises(ValueError):
        m.record_breaker_transition("a", "half-open", "closed", "")
    assert m.breakers() == {}


def test_breaker_same_state_is_ignored() -> None:
    m, _ = make()
    m.record_breaker_transition("a", "closed", "open", "")
    m.record_breaker_transition("a", "closed", "open", "again")  # stale "old": still a no-op, it is open
    assert m.breaker_summary("a").state_transitions == 1
    assert m.breaker_summary("a").last_reason == ""


def test_breaker_first_seen_open_has_no_known_open_time() -> None:
    m, clock = make()
    m.record_breaker_transition("a", "open", "half_open", "cooldown")
    clock.advance(5)
    assert m.breaker_summary("a").total_open_time == 0
    assert m.breaker_summary("a").half_opens_count == 1


def test_unknown_breaker_reads_closed() -> None:
    m, _ = make()
    s = m.breaker_summary("never")
    assert (s.name, s.current_state, s.state_transitions, s.total_open_time) == ("never", "closed", 0, 0.0)


def test_breaker_summary_over_all() -> None:
    m, clock = make()
    m.record_breaker_transition("a", "closed", "open", "x")
    m.record_breaker_transition("b", "closed", "open", "y")
    clock.advance(10)
    m.record_breaker_transition("b", "open", "half_open", "z")
    clock.advance(5)
    s = m.breaker_summary()
    assert s.name == "*"
    assert s.current_state == "open"
    assert s.state_transitions == 3 and s.opens_count == 2 and s.half_opens_count == 1
    assert s.total_open_time == pytest.approx(15 + 10)
    assert s.last_reason == "z"
    assert set(m.breakers()) == {"a", "b"}
    m.record_breaker_transition("c", "closed", "isolated", "operator")
    assert m.breaker_summary().current_state == "isolated"
    assert RouterMetrics(ManualClock()).breaker_summary().current_state == "closed"


# --- fallbacks ------------------------------------------------------------------


def test_fallback_summary_and_cache_hit_rate() -> None:
    m, _ = make()
    m.record_fallback("chat", "switch", "a", "b")
    m.record_fallback("chat", "switch", "a", "b")
    m.record_fallback("chat", "restart", "b", "c")
    m.record_fallback("chat", "hedge", "a", "c")
    for _ in range(3):
        m.record_fallback("chat", "cache_hit", "c", "cache")
    m.record_fallback("chat", "cache_miss")
    m.record_fallback("chat", "none_available")
    m.record_fallback("chat", "incomplete", "c")
    m.record_fallback("embed", "switch", "x", "y")
    m.record_fallback("embed", "brand_new_kind")
    s = m.fallback_summary("chat")
    assert s.total_activations == 10
    assert (s.switches, s.restarts, s.hedges, s.cache_hits, s.cache_misses) == (2, 1, 1, 3, 1)
    assert (s.no_fallback_available, s.incomplete) == (1, 1)
    assert s.cache_hit_rate == 0.75
    assert s.by_route == {"a -> b": 2, "b -> c": 1, "a -> c": 1, "c -> cache": 3, "c -> ": 1}
    everything = m.fallback_summary()
    assert everything.total_activations == 12
    assert everything.switches == 3
    assert everything.by_kind["brand_new_kind"] == 1
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_fallbacks_total", kind="switch") == 3
    assert value_of(text, "llm_fallbacks_total", kind="cache_hit") == 3


def test_fallback_summary_when_empty() -> None:
    m, _ = make()
    s = m.fallback_summary("chat")
    assert s.total_activations == 0 and s.cache_hit_rate == 0.0 and s.by_kind == {}


# --- in flight ------------------------------------------------------------------


def test_inflight_gauge() -> None:
    m, _ = make()
    m.inflight("a", 1)
    m.inflight("a", 1)
    m.inflight("b", 1)
    m.inflight("a", -1)
    assert m.inflight_counts() == {"a": 1, "b": 1}
    assert value_of(m.registry.render_prometheus(), "llm_inflight", deployment="a") == 1


# --- history and callbacks ----------------------------------------------------------


def test_history_records_the_telling_events() -> None:
    m, clock = make()
    m.record_error(net_error(), "chat", "a")
    clock.advance(1)
    m.record_retry("chat", "a", 1, 0.5)
    m.record_retry_outcome("chat", 2, True)
    m.record_breaker_transition("a", "closed", "open", "r")
    m.record_fallback("chat", "switch", "a", "b")
    m.record_success("chat", "b", 0.1)  # not kept by default
    m.record_latency("chat", 10.0)  # not kept by default
    types = [p.metric_type for p in m.history()]
    assert types == [
        MetricType.ERROR_COUNT,
        MetricType.RETRY_COUNT,
        MetricType.RETRY_OUTCOME,
        MetricType.CIRCUIT_STATE_CHANGE,
        MetricType.FALLBACK_ACTIVATION,
    ]
    err = m.history(MetricType.ERROR_COUNT)[0]
    assert err.timestamp == 1_700_000_000.0
    assert err.value == 1
    assert err.tags == {"type": "NetworkError", "code": "LLM_NET_001_E", "category": "NET", "operation": "chat", "deployment": "a"}
    retry = m.history("retry_count")[0]
    assert retry.timestamp == 1_700_000_001.0 and retry.value == 1 and retry.tags["delay_s"] == "0.5"
    cb = m.history("circuit_state_change")[0]
    assert cb.value == 2 and cb.tags == {"breaker": "a", "from": "closed", "to": "open", "reason": "r"}
    assert m.history("success_count") == []
    assert json.dumps([p.to_dict() for p in m.history()])


def test_history_value_counts_errors_of_the_type() -> None:
    m, _ = make()
    for _ in range(3):
        m.record_error(net_error(), "chat", "a")
    m.record_error(catalogue.TIMEOUT_READ.error(), "chat", "a")
    assert [p.value for p in m.history(MetricType.ERROR_COUNT)] == [1, 2, 3, 1]


def test_history_limit_and_ring_buffer() -> None:
    m, _ = make(history_size=5)
    for i in range(8):
        m.record_retry("chat", "a", i, 0.0)
    assert [p.value for p in m.history()] == [3, 4, 5, 6, 7]
    assert [p.value for p in m.history(limit=2)] == [6, 7]
    assert m.history(limit=0) == []
    m.record_fallback("chat", "switch")
    assert [p.value for p in m.history("retry_count", limit=10)] == [4, 5, 6, 7]
    assert len(m.history(MetricType.FALLBACK_ACTIVATION)) == 1


def test_history_can_be_disabled() -> None:
    m, _ = make(history_size=0)
    m.record_error(net_error(), "chat", "a")
    assert m.history() == []
    assert m.error_summary().total_errors == 1


def test_sampled_success_history() -> None:
    m, _ = make(success_sample_every=3)
    for _ in range(7):
        m.record_success("chat", "a", 0.1)
    points = m.history(MetricType.SUCCESS_COUNT)
    assert [p.value for p in points] == [3, 6]
    assert points[0].tags == {"operation": "chat", "deployment": "a"}


def test_no_points_are_built_on_the_quiet_hot_path(monkeypatch: pytest.MonkeyPatch) -> None:
    m, _ = make()

    def boom(*args: object, **kw: object) -> None:
        raise AssertionError("a MetricPoint was built")

    monkeypatch.setattr(m, "_emit", boom)
    monkeypatch.setattr(m, "_emit_sampled", boom)
    m.record_success("chat", "a", 0.1, 0.01, 3)
    m.record_latency("chat", 5.0)
    assert m.latency_stats("chat")["count"] == 2


def test_callbacks_see_every_point_including_successes() -> None:
    m, _ = make()
    seen: list[MetricPoint] = []
    m.register_callback(seen.append)
    m.register_callback(seen.append)  # registering twice calls once
    m.record_success("chat", "a", 0.25)
    m.record_latency("load", 12.0)
    m.record_error(net_error(), "chat", "a")
    assert [p.metric_type for p in seen] == ["success_count", "latency", "error_count"]
    assert seen[1].value == 12.0 and seen[1].tags == {"operation": "load"}
    assert [p.metric_type for p in m.history()] == ["error_count"]  # successes still not kept
    assert m.unregister_callback(seen.append) is True
    assert m.unregister_callback(seen.append) is False
    m.record_error(net_error(), "chat", "a")
    assert len(seen) == 3


def test_a_raising_callback_breaks_nothing() -> None:
    m, _ = make()
    seen: list[str] = []

    def bad(point: MetricPoint) -> None:
        raise RuntimeError("alerting is down")

    m.register_callback(bad)
    m.register_callback(lambda p: seen.append(p.metric_type))
    m.record_error(net_error(), "chat", "a")
    m.record_success("chat", "a", 0.1)
    m.record_breaker_transition("a", "closed", "open", "x")
    assert seen == ["error_count", "success_count", "circuit_state_change"]
    assert m.callback_failures == 3
    assert m.error_summary().total_errors == 1
    assert m.breaker_summary("a").current_state == "open"
    assert m.registry.sample_value("llm_metrics_callback_failures_total") == 3
    assert m.full_summary()["callback_failures"] == 3


def test_seed_style_alert_callback() -> None:
    m, _ = make()
    alerts: list[str] = []

    def on_metric(point: MetricPoint) -> None:
        if point.metric_type == "error_count" and point.value > 2:
            alerts.append(f"High error count: {point.value}")

    m.register_callback(on_metric)
    for _ in range(4):
        m.record_error(net_error(), "chat", "a")
    assert alerts == ["High error count: 3", "High error count: 4"]


# --- reset, summary, registry ---------------------------------------------------------


def test_reset_forgets_the_past_but_keeps_the_present() -> None:
    m, clock = make()
    seen: list[MetricPoint] = []
    m.register_callback(seen.append)
    m.record_success("chat", "a", 0.1, 0.01, 5)
    m.record_error(net_error(), "chat", "a")
    m.record_retry("chat", "a", 1, 1.0)
    m.record_retry_outcome("chat", 2, True)
    m.record_fallback("chat", "switch", "a", "b")
    m.record_breaker_transition("a", "closed", "open", "x")
    m.inflight("a", 2)
    clock.advance(10)
    m.reset()
    assert m.error_summary().total_errors == 0
    assert m.retry_summary().total_retries == 0
    assert m.fallback_summary().total_activations == 0
    assert m.latency_stats("chat")["count"] == 0
    assert m.success_rate() == 0 and m.error_rate() == 0
    assert m.history() == []
    b = m.breaker_summary("a")
    assert b.current_state == "open" and b.state_transitions == 0 and b.total_open_time == 0
    clock.advance(4)
    assert m.breaker_summary("a").total_open_time == 4  # a fresh stretch from the reset
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_inflight", deployment="a") == 2
    assert value_of(text, "llm_breaker_state", breaker="a") == 2
    assert value_of(text, "llm_requests_total", operation="chat", deployment="a", outcome="success") == 0
    assert value_of(text, "llm_ttft_seconds_count") == 0
    # cached handles still feed the registry and the reservoir
    m.record_success("chat", "a", 0.2)
    assert m.registry.sample_value("llm_requests_total", {"operation": "chat", "deployment": "a", "outcome": "success"}) == 1
    assert m.latency_stats("chat")["count"] == 1
    assert seen[-1].metric_type == "success_count"  # callbacks survive a reset


def test_full_summary_shape_and_json() -> None:
    m, clock = make()
    m.record_success("generate", "a", 0.5)
    m.record_error(net_error(), "generate", "a")
    m.record_retry("generate", "a", 1, 2.0)
    m.record_breaker_transition("lm", "closed", "open", "x")
    clock.advance(1)
    m.record_fallback("generate", "cache_hit", "a", "cache")
    summary = m.full_summary()
    assert set(summary) >= {
        "errors", "retries", "circuit_breaker", "breakers", "fallbacks",
        "error_rate_per_second", "success_rate_per_second", "latencies",
    }
    assert summary["errors"]["errors_by_type"] == {"NetworkError": 1}
    assert summary["retries"]["total_retry_delay_seconds"] == 2.0
    assert summary["circuit_breaker"]["current_state"] == "open"
    assert summary["breakers"]["lm"]["total_open_time"] == 1.0
    assert summary["fallbacks"]["cache_hit_rate"] == 1.0
    assert summary["latencies"]["generate"]["count"] == 1
    assert summary["success_rate_per_second"] == pytest.approx(1 / 60)
    assert json.loads(json.dumps(summary)) == summary


def test_two_recorders_can_share_a_registry() -> None:
    reg = Registry()
    a = RouterMetrics(ManualClock(), reg)
    b = RouterMetrics(ManualClock(), reg)
    a.record_success("chat", "x", 0.1)
    b.record_success("chat", "x", 0.1)
    assert reg.sample_value("llm_requests_total", {"operation": "chat", "deployment": "x", "outcome": "success"}) == 2
    assert a.registry is reg


def test_the_summaries_are_read_from_the_registry() -> None:
    reg = Registry()
    a = RouterMetrics(ManualClock(), reg)
    b = RouterMetrics(ManualClock(), reg)
    a.record_error(net_error(), "chat", "x")
    a.record_retry("chat", "x", 1, 0.5)
    a.record_fallback("chat", "switch", "x", "y")
    a.record_success("chat", "x", 0.1, tokens=3)
    # b recorded nothing of its own, but counts live only in the shared registry
    assert b.error_summary().errors_by_deployment == {"x": 1}
    assert b.retry_summary().retries_by_operation == {"chat": 1}
    assert b.fallback_summary().by_route == {"x -> y": 1}
    assert b.full_summary()["requests"] == {"successes": 1, "errors": 1, "tokens": 3}
    # the breakdowns behind them are summed away in the exposition
    text = reg.render_prometheus()
    assert value_of(text, "llm_errors_total", code="LLM_NET_001_E", category="NET") == 1
    assert value_of(text, "llm_retries_total") == 1
    assert value_of(text, "llm_fallbacks_total", kind="switch") == 1


def test_a_reset_leaves_no_zero_entries_in_the_breakdowns() -> None:
    m, _ = make()
    m.record_error(net_error(), "chat", "a")
    m.record_retry("chat", "a", 1, 0.5)
    m.record_fallback("chat", "switch", "a", "b")
    m.reset()
    m.record_error(catalogue.TIMEOUT_READ.error(), "embed", "b")
    assert m.error_summary().errors_by_type == {"DeadlineError": 1}
    assert m.error_summary().errors_by_deployment == {"b": 1}
    assert m.retry_summary().retries_by_operation == {}
    assert m.fallback_summary().by_kind == {} and m.fallback_summary().by_route == {}


def test_retry_delay_and_attempts_are_exported() -> None:
    m, _ = make()
    m.record_retry("chat", "a", 1, 0.5)
    m.record_retry("chat", "a", 2, 1.25)
    m.record_retry_outcome("chat", 3, True)
    m.record_retry_outcome("chat", 2, False)
    text = m.registry.render_prometheus()
    assert value_of(text, "llm_retry_delay_seconds_total") == 1.75
    assert value_of(text, "llm_retried_operation_attempts_total", outcome="success") == 3
    assert value_of(text, "llm_retried_operation_attempts_total", outcome="failure") == 2


def test_a_breaker_first_seen_without_moving_shows_its_state() -> None:
    m, _ = make()
    m.record_breaker_transition("a", "open", "open", "already open")
    assert m.breaker_summary("a").current_state == "open"
    assert m.breaker_summary("a").state_transitions == 0
    assert set(m.breakers()) == {"a"}
    assert m.registry.sample_value("llm_breaker_state", {"breaker": "a"}) == 2


def test_everything_renders_as_valid_exposition() -> None:
    m, _ = make()
    m.record_success("chat", 'dep "quoted"\\', 0.1, 0.02, 4)
    m.record_error(net_error(), "chat", "line\nbreak")
    m.record_retry("chat", "a", 1, 0.1)
    m.record_breaker_transition("a", "closed", "open", "x")
    m.record_fallback("chat", "switch", "a", "b")
    m.inflight("a", 1)
    parsed = parse(m.registry.render_prometheus())
    assert {
        "llm_requests_total": "counter",
        "llm_errors_total": "counter",
        "llm_retries_total": "counter",
        "llm_breaker_transitions_total": "counter",
        "llm_breaker_state": "gauge",
        "llm_fallbacks_total": "counter",
        "llm_request_latency_seconds": "histogram",
        "llm_ttft_seconds": "histogram",
        "llm_inflight": "gauge",
    }.items() <= parsed["type"].items()
    deployments = {lab.get("deployment") for name, lab, _ in parsed["samples"] if name == "llm_requests_total"}
    assert deployments == {'dep "quoted"\\', "line\nbreak"}


def test_constructor_validation() -> None:
    for kw in ({"history_size": -1}, {"latency_samples": 0}, {"rate_window": 0}, {"rate_max_events": 0}, {"success_sample_every": -1}):
        with pytest.raises(ValueError):
            RouterMetrics(ManualClock(), **kw)  # type: ignore[arg-type]
