from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_runner_router.core.metrics import CONTENT_TYPE, DEFAULT_BUCKETS, Counter, Gauge, Histogram, Registry

# --- a tiny parser for the text exposition format -------------------------------

_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)\Z")
_PAIR = re.compile(r'(?P<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<v>(?:[^"\\\n]|\\[\\"n])*)"(?:,|\Z)')
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPE[m.group(1)], text)


def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _PAIR.match(text, pos)
        assert m is not None, f"bad label syntax at {text[pos:]!r}"
        assert m.group("k") not in labels, "duplicate label"
        labels[m.group("k")] = _unescape(m.group("v"))
        pos = m.end()
    return labels


def parse(text: str) -> dict[str, Any]:
    """{"help": {name: text}, "type": {name: kind}, "samples": [(name, labels, value)]}; asserts well-formedness."""
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    assert text == "" or text.endswith("\n")
    for line in text.split("\n")[:-1]:  # lines end in \n, and only \n ends one
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            assert name not in helps
            helps[name] = _unescape(help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            assert name not in types
            types[name] = kind
        else:
            m = _SAMPLE.match(line)
            assert m is not None, f"bad sample line {line!r}"
            base = re.sub(r"_(bucket|sum|count)\Z", "", m.group("name"))
            assert m.group("name") in types or base in types, f"sample before its TYPE: {line!r}"
            samples.append((m.group("name"), parse_labels(m.group("labels") or ""), float(m.group("value"))))
    return {"help": helps, "type": types, "samples": samples}


def value_of(text: str, name: str, **labels: str) -> float:
    found = [v for n, lab, v in parse(text)["samples"] if n == name and lab == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


# --- names and labels ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "_a", "a:b", "llm_requests_total", ":x", "A9_:"])
def test_valid_names(name: str) -> None:
    assert Registry().counter(name, "h").name == name


@pytest.mark.parametrize("name", ["", "9a", "a-b", "a b", "a.b", "é", "a\n"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        Registry().counter(name, "h")


@given(st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]*", fullmatch=True))
def test_every_name_matching_the_pattern_is_accepted(name: str) -> None:
    assert Counter(name, "h").name == name


@given(st.text(min_size=1).filter(lambda s: re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s) is None))
def test_every_name_not_matching_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Counter(name, "h")


@pytest.mark.parametrize("labels", [("a-b",), ("9",), ("a:b",), ("__x",), ("a", "a")])
def test_invalid_label_names(labels: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Registry().counter("c", "h", labels)


def test_labelnames_must_be_a_sequence_not_a_string() -> None:
    with pytest.raises(TypeError):
        Registry().counter("c", "h", "operation")


def test_histogram_reserves_le() -> None:
    with pytest.raises(ValueError, match="reserved"):
        Registry().histogram("h", "h", ("le",))
    assert Registry().counter("c", "h", ("le",)).labelnames == ("le",)


# --- counters -------------------------------------------------------------------


def test_counter_children_are_cached_and_count() -> None:
    c = Registry().counter("c_total", "h", ("op", "dep"))
    child = c.labels("chat", "a")
    assert c.labels("chat", "a") is child
    assert c.labels(op="chat", dep="a") is child
    child.inc()
    child.inc(2.5)
    assert child.value == 3.5
    assert c.labels("chat", "b").value == 0
    assert set(c.children()) == {("chat", "a"), ("chat", "b")}


def test_label_values_become_strings() -> None:
    c = Registry().counter("c_total", "h", ("n",))
    c.labels(5).inc()
    assert c.labels("5").value == 1
    assert set(c.children()) == {("5",)}


def test_counter_refuses_to_go_down() -> None:
    c = Registry().counter("c_total", "h")
    with pytest.raises(ValueError):
        c.inc(-1)
    assert c.value == 0


def test_wrong_label_use() -> None:
    c = Registry().counter("c_total", "h", ("a", "b"))
    with pytest.raises(ValueError):
        c.labels("x")
    with pytest.raises(ValueError):
        c.labels("x", "y", "z")
    with pytest.raises(ValueError):
        c.labels("x", b="y")
    with pytest.raises(ValueError):
        c.labels(a="x")
    with pytest.raises(ValueError, match="labels"):
        c.inc()
    with pytest.raises(ValueError):
        Registry().counter("u_total", "h").remove("x")


def test_unlabelled_family_is_its_own_child() -> None:
    reg = Registry()
    c = reg.counter("c_total", "h")
    c.inc()
    c.labels().inc(2)
    assert c.value == 3
    g = reg.gauge("g", "h")
    g.set(5)
    g.inc(2)
    g.dec(0.5)
    assert g.value == 6.5
    h = reg.histogram("h", "h", buckets=(1.0,))
    h.observe(0.5)
    assert h.labels().count == 1


def test_remove_and_clear() -> None:
    reg = Registry()
    c = reg.counter("c_total", "h", ("a",))
    c.labels("x").inc()
    c.labels("y").inc()
    c.remove("x")
    assert set(c.children()) == {("y",)}
    c.clear()
    assert c.children() == {}
    solo = reg.counter("s_total", "h")
    solo.inc(4)
    solo.clear()
    assert solo.value == 0


# --- gauges ---------------------------------------------------------------------


def test_gauge_children() -> None:
    g = Registry().gauge("inflight", "h", ("dep",))
    a = g.labels("a")
    a.inc()
    a.inc(3)
    a.dec()
    assert a.value == 3
    a.set(-2)
    assert g.labels("a").value == -2


# --- histograms -----------------------------------------------------------------


def test_histogram_buckets_are_upper_inclusive() -> None:
    h = Registry().histogram("lat", "h", buckets=(0.1, 1.0, 10.0))
    for v in (0.05, 0.1, 0.5, 1.0, 10.0, 11.0):
        h.observe(v)
    child = h.labels()
    assert child.bucket_counts == [2, 2, 1, 1]
    assert child.cumulative() == [(0.1, 2), (1.0, 4), (10.0, 5), (math.inf, 6)]
    assert child.count == 6
    assert child.sum == pytest.approx(22.65)


def test_histogram_default_buckets() -> None:
    assert Registry().histogram("lat", "h").buckets == DEFAULT_BUCKETS
    assert tuple(sorted(DEFAULT_BUCKETS)) == DEFAULT_BUCKETS


def test_histogram_bucket_validation() -> None:
    assert Histogram("a", "h", buckets=(1, 2, math.inf)).buckets == (1.0, 2.0)
    assert Histogram("a", "h", buckets=()).labels().cumulative() == [(math.inf, 0)]
    for bad in ((2.0, 1.0), (1.0, 1.0), (float("nan"),), (1.0, math.inf, 2.0)):
        with pytest.raises(ValueError):
            Histogram("a", "h", buckets=bad)


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), max_size=60),
    st.lists(st.floats(min_value=-100, max_value=100, allow_nan=False), min_size=1, max_size=8, unique=True),
)
def test_histogram_matches_a_naive_count(values: list[float], bounds: list[float]) -> None:
    bounds.sort()
    reg = Registry()
    h = reg.histogram("x", "h", ("k",), buckets=bounds)
    child = h.labels("v")
    for v in values:
        child.observe(v)
    text = reg.render_prometheus()
    for bound in bounds:
        got = value_of(text, "x_bucket", k="v", le=repr(float(bound)))
        assert got == sum(1 for v in values if v <= bound)
    assert value_of(text, "x_bucket", k="v", le="+Inf") == len(values)
    assert value_of(text, "x_count", k="v") == len(values)
    assert value_of(text, "x_sum", k="v") == pytest.approx(sum(values), abs=1e-6)


# --- detail labels ----------------------------------------------------------------


def test_detail_labels_are_kept_apart_but_summed_in_the_exposition() -> None:
    reg = Registry()
    c = reg.counter("err_total", "h", ("code",), detail=("deployment",))
    c.labels("E1", "a").inc()
    c.labels("E1", "b").inc(2)
    c.labels(code="E2", deployment="a").inc()
    assert c.children().keys() == {("E1", "a"), ("E1", "b"), ("E2", "a")}
    assert c.labelnames == ("code",) and c.detail_labels == ("deployment",)
    assert reg.render_prometheus() == '# HELP err_total h\n# TYPE err_total counter\nerr_total{code="E1"} 3\nerr_total{code="E2"} 1\n'
    assert reg.sample_value("err_total", {"code": "E1"}) == 3
    with pytest.raises(ValueError):
        c.labels("E1")  # the detail values are part of the key


def test_a_counter_exported_unlabelled_with_detail_shows_its_zero() -> None:
    reg = Registry()
    c = reg.counter("retries_total", "h", detail=("operation",))
    assert value_of(reg.render_prometheus(), "retries_total") == 0
    c.labels("chat").inc()
    c.labels("embed").inc(2)
    assert value_of(reg.render_prometheus(), "retries_total") == 3
    with pytest.raises(ValueError, match="labels"):
        c.inc()  # no single child to count into


def test_detail_labels_are_for_counters_and_part_of_the_registration() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="only a counter"):
        Gauge("g", "h", (), ("x",))
    with pytest.raises(ValueError, match="duplicate"):
        reg.counter("c_total", "h", ("a",), detail=("a",))
    c = reg.counter("c_total", "h", ("a",), detail=("b",))
    assert reg.counter("c_total", "h", ("a",), detail=("b",)) is c
    with pytest.raises(ValueError, match="detail"):
        reg.counter("c_total", "h", ("a",))


def test_get_finds_a_child_without_making_one() -> None:
    reg = Registry()
    c = reg.counter("c_total", "h", ("a",))
    assert c.get("x") is None
    assert reg.render_prometheus().count("c_total{") == 0
    child = c.labels("x")
    assert c.get("x") is child


# --- the registry ---------------------------------------------------------------


def test_same_family_twice_is_the_same_object() -> None:
    reg = Registry()
    c = reg.counter("c_total", "h", ("a",))
    assert reg.counter("c_total", "other help", ("a",)) is c
    h = reg.histogram("lat", "h", buckets=(1.0,))
    assert reg.histogram("lat", "h", buckets=(1.0,)) is h
    g = reg.gauge("g", "h")
    assert reg.gauge("g", "h") is g
    assert len(reg) == 3
    assert "lat" in reg
    assert reg.get("lat") is h
    assert reg.get("nope") is None
    assert [f.name for f in reg] == ["c_total", "lat", "g"]


def test_clashing_registrations() -> None:
    reg = Registry()
    reg.counter("c_total", "h", ("a",))
    with pytest.raises(ValueError):
        reg.counter("c_total", "h", ("b",))
    with pytest.raises(ValueError):
        reg.gauge("c_total", "h", ("a",))
    reg.histogram("lat", "h", buckets=(1.0,))
    with pytest.raises(ValueError):
        reg.histogram("lat", "h", buckets=(2.0,))
    with pytest.raises(ValueError, match="lat_count"):
        reg.counter("lat_count", "h")
    reg.gauge("x_sum", "h")
    with pytest.raises(ValueError, match="x_sum"):
        reg.histogram("x", "h")
    assert "x" not in reg


def test_unregister_frees_the_names() -> None:
    reg = Registry()
    reg.histogram("lat", "h")
    reg.unregister("lat")
    reg.unregister("lat")  # twice is harmless
    assert reg.counter("lat_count", "h").name == "lat_count"


def test_reset_zeroes_in_place_and_kept_children_stay_live() -> None:
    reg = Registry()
    c = reg.counter("c_total", "h", ("a",))
    kept = c.labels("x")
    kept.inc(5)
    g = reg.gauge("g", "h")
    g.set(3)
    h = reg.histogram("lat", "h", buckets=(1.0,))
    h.observe(0.5)
    reg.reset()
    assert kept.value == 0 and g.value == 0 and h.labels().count == 0 and h.labels().sum == 0
    assert h.labels().bucket_counts == [0, 0]
    kept.inc()
    assert reg.sample_value("c_total", {"a": "x"}) == 1


def test_sample_value() -> None:
    reg = Registry()
    reg.histogram("lat", "h", ("op",), buckets=(1.0,)).labels("chat").observe(2.0)
    assert reg.sample_value("lat_count", {"op": "chat"}) == 1
    assert reg.sample_value("lat_bucket", {"op": "chat", "le": "1.0"}) == 0
    assert reg.sample_value("lat_bucket", {"op": "chat", "le": "+Inf"}) == 1
    assert reg.sample_value("lat_count", {"op": "other"}) is None
    assert reg.sample_value("nothing") is None
    samples = reg.collect()
    assert [s.name for s in samples] == ["lat_bucket", "lat_bucket", "lat_sum", "lat_count"]
    assert samples[-1].labels == {"op": "chat"}


# --- exposition -----------------------------------------------------------------


def test_render_a_known_registry() -> None:
    reg = Registry()
    c = reg.counter("llm_requests_total", "Requests.", ("operation", "outcome"))
    c.labels("chat", "success").inc(3)
    c.labels("chat", "error").inc()
    reg.gauge("llm_inflight", "In flight.").set(2)
    reg.histogram("lat_seconds", "Latency.", buckets=(0.5, 1.0)).observe(0.75)
    assert reg.render_prometheus() == (
        "# HELP llm_requests_total Requests.\n"
        "# TYPE llm_requests_total counter\n"
        'llm_requests_total{operation="chat",outcome="error"} 1\n'
        'llm_requests_total{operation="chat",outcome="success"} 3\n'
        "# HELP llm_inflight In flight.\n"
        "# TYPE llm_inflight gauge\n"
        "llm_inflight 2\n"
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        'lat_seconds_bucket{le="0.5"} 0\n'
        'lat_seconds_bucket{le="1.0"} 1\n'
        'lat_seconds_bucket{le="+Inf"} 1\n'
        "lat_seconds_sum 0.75\n"
        "lat_seconds_count 1\n"
    )
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_render_empty_registry_and_childless_family() -> None:
    reg = Registry()
    assert reg.render_prometheus() == ""
    reg.counter("c_total", "h", ("a",))
    assert reg.render_prometheus() == "# HELP c_total h\n# TYPE c_total counter\n"


def test_help_is_escaped() -> None:
    reg = Registry()
    reg.counter("c_total", "line one\nback\\slash \"quoted\"")
    text = reg.render_prometheus()
    assert text.split("\n")[0] == '# HELP c_total line one\\nback\\\\slash "quoted"'
    assert parse(text)["help"]["c_total"] == "line one\nback\\slash \"quoted\""


def test_special_float_values() -> None:
    reg = Registry()
    g = reg.gauge("g", "h", ("k",))
    g.labels("nan").set(float("nan"))
    g.labels("pinf").set(math.inf)
    g.labels("ninf").set(-math.inf)
    g.labels("f").set(0.1)
    text = reg.render_prometheus()
    assert 'g{k="pinf"} +Inf' in text and 'g{k="ninf"} -Inf' in text and 'g{k="nan"} NaN' in text
    assert math.isnan(value_of(text, "g", k="nan"))
    assert value_of(text, "g", k="f") == 0.1


@settings(max_examples=200)
@given(st.text(max_size=30), st.text(max_size=30))
def test_label_values_round_trip_through_escaping(a: str, b: str) -> None:
    reg = Registry()
    c = reg.counter("c_total", "h", ("a", "b"))
    c.labels(a, b).inc(7)
    text = reg.render_prometheus()
    samples = parse(text)["samples"]
    assert samples == [("c_total", {"a": a, "b": b}, 7.0)]
    assert text.count("\n") == 3  # no raw newline leaks into a sample line


def test_output_is_sorted_by_label_values() -> None:
    reg = Registry()
    c = reg.counter("c_total", "h", ("a",))
    for v in ("z", "b", "m"):
        c.labels(v).inc()
    assert [lab["a"] for _, lab, _ in parse(reg.render_prometheus())["samples"]] == ["b", "m", "z"]


def test_family_types_in_the_output() -> None:
    reg = Registry()
    reg.counter("a_total", "h")
    reg.gauge("b", "h")
    reg.histogram("c", "h")
    parsed = parse(reg.render_prometheus())
    assert parsed["type"] == {"a_total": "counter", "b": "gauge", "c": "histogram"}
    names = [n for n, _, _ in parsed["samples"]]
    assert names.count("c_bucket") == len(DEFAULT_BUCKETS) + 1


def test_gauge_and_counter_types() -> None:
    assert Gauge("g", "h").kind == "gauge"
    assert Counter("c", "h").kind == "counter"
    assert Histogram("x", "h").sample_names() == ("x_bucket", "x_sum", "x_count")
