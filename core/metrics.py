"""A small metrics registry with Prometheus text exposition.

Three kinds of metric, each a *family* named once in a :class:`Registry`::

    reg = Registry()
    requests = reg.counter("llm_requests_total", "Calls by outcome.", ("deployment", "outcome"))
    ok = requests.labels("gpt-a", "success")     # a child; cache it on hot paths
    ok.inc()                                     # one comparison and one attribute add
    inflight = reg.gauge("llm_inflight", "Calls in flight.")
    inflight.inc(); inflight.dec()               # unlabelled families act as their only child
    latency = reg.histogram("llm_latency_seconds", "Latency.", buckets=(0.1, 1.0, 10.0))
    latency.observe(0.42)
    text = reg.render_prometheus()               # text exposition format 0.0.4

``labels(*values)`` returns the same child object for the same label values
(children live in a dict keyed by the value tuple), so callers may keep the
child and update it directly; :meth:`Registry.reset` zeroes values *in place*
for the same reason, so a kept child never goes stale.

A counter may also carry *detail labels*: values it keeps apart in process
but sums away in the exposition. The router counts errors by code and
category for Prometheus, and its own summaries break the same counts down by
exception type, operation and deployment; with detail labels one counter
holds both, so nothing is counted twice, and the exported series stay few::

    errors = reg.counter("llm_errors_total", "Errors.", ("code",), detail=("deployment",))
    errors.labels("LLM_NET_001_E", "gpt-a").inc()   # exported values first, then the detail
    errors.children()                               # {("LLM_NET_001_E", "gpt-a"): child}
    reg.render_prometheus()                         # llm_errors_total{code="LLM_NET_001_E"} 1

Everything here is single-threaded by design (the core runs on one event
loop, in CPython and in Pyodide): there are no locks. Stdlib only, no I/O;
:meth:`Registry.render_prometheus` returns a string for a caller to serve.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Generic, Protocol, TypeVar

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "MetricFamily",
    "Registry",
    "Sample",
]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type a server should send with :meth:`Registry.render_prometheus`."""

DEFAULT_BUCKETS: Final[tuple[float, ...]] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
"""Prometheus' conventional default histogram buckets (seconds)."""

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def _check_labelnames(labelnames: Sequence[str], *, reserved: tuple[str, ...] = ()) -> tuple[str, ...]:
    if isinstance(labelnames, str):
        raise TypeError("labelnames must be a sequence of names, not one string")
    names = tuple(labelnames)
    for label in names:
        if not isinstance(label, str) or not _LABEL_NAME.match(label):
            raise ValueError(f"invalid label name {label!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
        if label.startswith("__"):
            raise ValueError(f"label name {label!r}: names starting with '__' are reserved")
        if label in reserved:
            raise ValueError(f"label name {label!r} is reserved for this metric type")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate label names in {names!r}")
    return names


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    return repr(float(value))


LabelPairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One exposed time-series value: ``name{labels} value``."""

    name: str
    labels: Mapping[str, str]
    value: float


# --- children -----------------------------------------------------------------


class CounterChild:
    """A monotonically increasing value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def inc(self, n: float = 1) -> None:
        if n < 0:
            raise ValueError("a counter only goes up; use a gauge")
        self.value += n

    def _reset(self) -> None:
        self.value = 0

    def _samples(self, name: str, labels: LabelPairs) -> Iterator[tuple[str, LabelPairs, float]]:
        yield name, labels, self.value


class GaugeChild:
    """A value that goes up and down."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def set(self, value: float) -> None:
        self.value = value

    def inc(self, n: float = 1) -> None:
        self.value += n

    def dec(self, n: float = 1) -> None:
        self.value -= n

    def _reset(self) -> None:
        self.value = 0

    def _samples(self, name: str, labels: LabelPairs) -> Iterator[tuple[str, LabelPairs, float]]:
        yield name, labels, self.value


class HistogramChild:
    """Observations counted into buckets by upper bound (``le``).

    ``bucket_counts`` holds per-bucket (not cumulative) counts, the last
    one for ``+Inf``; :meth:`cumulative` gives what Prometheus exposes.
    """

    __slots__ = ("_bounds", "bucket_counts", "count", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.bucket_counts: list[int] = [0] * (len(bounds) + 1)
        self.sum: float = 0.0
        self.count: int = 0

    def observe(self, value: float) -> None:
        # bisect_left finds the first bound >= value: the bucket whose "le" holds it.
        self.bucket_counts[bisect_left(self._bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` pairs, ending with ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self._bounds, math.inf), self.bucket_counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def _reset(self) -> None:
        self.bucket_counts = [0] * (len(self._bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def _samples(self, name: str, labels: LabelPairs) -> Iterator[tuple[str, LabelPairs, float]]:
        for bound, n in self.cumulative():
            yield f"{name}_bucket", (*labels, ("le", _format_value(bound))), n
        yield f"{name}_sum", labels, self.sum
        yield f"{name}_count", labels, self.count


class _Child(Protocol):
    def _reset(self) -> None: ...

    def _samples(self, name: str, labels: LabelPairs) -> Iterator[tuple[str, LabelPairs, float]]: ...


C = TypeVar("C", bound=_Child)


# --- families -----------------------------------------------------------------


class MetricFamily(Generic[C]):
    """A named metric and its children, one per distinct tuple of label values."""

    kind: ClassVar[str] = "untyped"
    _suffixes: ClassVar[tuple[str, ...]] = ("",)

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = (), detail: Sequence[str] = ()) -> None:
        self.name = _check_name(name)
        self.help = help
        self.labelnames: tuple[str, ...] = _check_labelnames(labelnames, reserved=self._reserved_labels())
        # Detail labels key the children like any label but are summed away in
        # the exposition (see the module docstring); only counters take them.
        self.detail_labels: tuple[str, ...] = _check_labelnames(detail, reserved=self._reserved_labels())
        if self.detail_labels and self.kind != "counter":
            raise ValueError(f"{name}: only a counter takes detail labels (its values can be summed)")
        self._keys = _check_labelnames((*self.labelnames, *self.detail_labels))
        self._children: dict[tuple[str, ...], C] = {}
        self._solo: C | None = None
        if not self._keys:
            self._solo = self._children[()] = self._new_child()

    @classmethod
    def _reserved_labels(cls) -> tuple[str, ...]:
        return ()

    def _new_child(self) -> C:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def sample_names(self) -> tuple[str, ...]:
        """Every sample name this family exposes (histograms add suffixes)."""
        return tuple(self.name + s for s in self._suffixes)

    def labels(self, *values: object, **named: object) -> C:
        """The child for these label values, made on first use and cached.

        Values are given in ``labelnames`` order (then ``detail_labels``), or
        all by name; each is turned into a string.
        """
        if named:
            if values:
                raise ValueError("give label values by position or by name, not both")
            if set(named) != set(self._keys):
                raise ValueError(f"{self.name}: expected labels {self._keys!r}, got {tuple(named)!r}")
            values = tuple(named[k] for k in self._keys)
        child = self._children.get(values)  # type: ignore[arg-type]
        if child is not None:
            return child
        if len(values) != len(self._keys):
            raise ValueError(f"{self.name}: expected {len(self._keys)} label values {self._keys!r}, got {len(values)}")
        key = tuple(v if isinstance(v, str) else str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def remove(self, *values: object) -> None:
        """Forget one child; later ``labels`` with these values starts afresh."""
        if not self._keys:
            raise ValueError(f"{self.name} has no labels")
        self._children.pop(tuple(str(v) for v in values), None)

    def clear(self) -> None:
        """Forget every child of a labelled family (an unlabelled one is zeroed)."""
        if self._solo is not None:
            self._solo._reset()
        else:
            self._children.clear()

    def reset(self) -> None:
        """Zero every child in place, keeping them (handles held elsewhere stay valid)."""
        for child in self._children.values():
            child._reset()

    def get(self, *values: str) -> C | None:
        """The child for these label values if one was made, else None (unlike ``labels``, makes none)."""
        return self._children.get(values)

    def children(self) -> dict[tuple[str, ...], C]:
        """A copy of the children, keyed by label values (``labelnames``, then ``detail_labels``)."""
        return dict(self._children)

    def _only(self) -> C:
        if self._solo is None:
            raise ValueError(f"{self.name} has labels {self._keys!r}: call .labels(...) first")
        return self._solo

    def collect(self) -> Iterator[tuple[str, LabelPairs, float]]:
        for key in sorted(self._children):
            pairs = tuple(zip(self.labelnames, key, strict=True))
            yield from self._children[key]._samples(self.name, pairs)


class Counter(MetricFamily[CounterChild]):
    kind = "counter"

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def collect(self) -> Iterator[tuple[str, LabelPairs, float]]:
        if not self.detail_labels:
            yield from super().collect()
            return
        exported = len(self.labelnames)
        # With no exported labels the family is one series, shown from the start like any unlabelled one.
        totals: dict[tuple[str, ...], float] = {} if exported else {(): 0}
        for key, child in self._children.items():
            totals[key[:exported]] = totals.get(key[:exported], 0) + child.value
        for key in sorted(totals):
            yield self.name, tuple(zip(self.labelnames, key, strict=True)), totals[key]

    def inc(self, n: float = 1) -> None:
        self._only().inc(n)

    @property
    def value(self) -> float:
        return self._only().value


class Gauge(MetricFamily[GaugeChild]):
    kind = "gauge"

    def _new_child(self) -> GaugeChild:
        return GaugeChild()

    def set(self, value: float) -> None:
        self._only().set(value)

    def inc(self, n: float = 1) -> None:
        self._only().inc(n)

    def dec(self, n: float = 1) -> None:
        self._only().dec(n)

    @property
    def value(self) -> float:
        return self._only().value


class Histogram(MetricFamily[HistogramChild]):
    kind = "histogram"
    _suffixes = ("_bucket", "_sum", "_count")

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        bounds = [float(b) for b in buckets]
        if any(b != b for b in bounds):
            raise ValueError("histogram buckets must not be NaN")
        if bounds and bounds[-1] == math.inf:
            bounds.pop()  # +Inf is always there
        if any(b >= c for b, c in zip(bounds, bounds[1:], strict=False)):
            raise ValueError(f"histogram buckets must be strictly increasing: {tuple(buckets)!r}")
        if any(b == math.inf for b in bounds):
            raise ValueError("+Inf may only be the last bucket")
        self.buckets: tuple[float, ...] = tuple(bounds)
        super().__init__(name, help, labelnames)

    @classmethod
    def _reserved_labels(cls) -> tuple[str, ...]:
        return ("le",)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.buckets)

    def observe(self, value: float) -> None:
        self._only().observe(value)


AnyFamily = Counter | Gauge | Histogram


# --- registry -----------------------------------------------------------------


class Registry:
    """The families of one process (or one router), rendered together.

    Asking again for a family already registered with the same kind and
    label names (and buckets) returns the existing one; any other clash of
    names — including a histogram's ``_bucket``/``_sum``/``_count`` series —
    is a ``ValueError``.
    """

    def __init__(self) -> None:
        self._families: dict[str, AnyFamily] = {}
        self._sample_owner: dict[str, str] = {}

    def counter(self, name: str, help: str, labelnames: Sequence[str] = (), *, detail: Sequence[str] = ()) -> Counter:
        """A counter; ``detail`` names labels kept in process and summed away in the exposition."""
        existing = self._existing(name, Counter, labelnames, detail)
        if existing is not None:
            assert isinstance(existing, Counter)
            return existing
        family = Counter(name, help, labelnames, detail)
        self._add(family)
        return family

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        existing = self._existing(name, Gauge, labelnames)
        if existing is not None:
            assert isinstance(existing, Gauge)
            return existing
        family = Gauge(name, help, labelnames)
        self._add(family)
        return family

    def histogram(self, name: str, help: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        family = Histogram(name, help, labelnames, buckets)  # validates the buckets
        existing = self._existing(name, Histogram, labelnames)
        if existing is not None:
            assert isinstance(existing, Histogram)
            if existing.buckets != family.buckets:
                raise ValueError(f"histogram {name!r} is already registered with buckets {existing.buckets!r}")
            return existing
        self._add(family)
        return family

    def _existing(self, name: str, kind: type[AnyFamily], labelnames: Sequence[str], detail: Sequence[str] = ()) -> AnyFamily | None:
        family = self._families.get(name)
        if family is None:
            return None
        if type(family) is not kind or family.labelnames != tuple(labelnames) or family.detail_labels != tuple(detail):
            raise ValueError(
                f"metric {name!r} is already registered as a {family.kind} with labels {family.labelnames!r}"
                f" and detail labels {family.detail_labels!r}"
            )
        return family

    def _add(self, family: AnyFamily) -> None:
        for sample in family.sample_names():
            owner = self._sample_owner.get(sample)
            if owner is not None:
                raise ValueError(f"metric {family.name!r} would expose {sample!r}, already exposed by {owner!r}")
        for sample in family.sample_names():
            self._sample_owner[sample] = family.name
        self._families[family.name] = family

    def unregister(self, name: str) -> None:
        family = self._families.pop(name, None)
        if family is not None:
            for sample in family.sample_names():
                self._sample_owner.pop(sample, None)

    def get(self, name: str) -> AnyFamily | None:
        return self._families.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._families

    def __iter__(self) -> Iterator[AnyFamily]:
        return iter(list(self._families.values()))

    def __len__(self) -> int:
        return len(self._families)

    def reset(self) -> None:
        """Zero every value of every family in place (children are kept)."""
        for family in self._families.values():
            family.reset()

    def collect(self) -> list[Sample]:
        """Every sample, as :meth:`render_prometheus` would expose them."""
        return [Sample(name, dict(pairs), value) for family in self._families.values() for name, pairs, value in family.collect()]

    def sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of one sample (e.g. ``x_bucket`` with ``le``), or None if absent."""
        owner = self._sample_owner.get(name)
        if owner is None:
            return None
        want = dict(labels or {})
        for sample_name, pairs, value in self._families[owner].collect():
            if sample_name == name and dict(pairs) == want:
                return value
        return None

    def render_prometheus(self) -> str:
        """Everything, in Prometheus text exposition format 0.0.4."""
        lines: list[str] = []
        for family in self._families.values():
            lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
            lines.append(f"# TYPE {family.name} {family.kind}")
            for name, pairs, value in family.collect():
                if pairs:
                    inner = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in pairs)
                    lines.append(f"{name}{{{inner}}} {_format_value(value)}")
                else:
                    lines.append(f"{name} {_format_value(value)}")
        return "\n".join(lines) + "\n" if lines else ""
