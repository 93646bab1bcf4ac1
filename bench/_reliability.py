"""What the reliability parts (bench/reliability_*.py) share: summaries, targets, Prometheus text, markdown, results.

Pure helpers first (latency summaries, targets, Prometheus text, markdown
tables), then where a part's JSON goes. Percentiles, CPU time and the
machine's description are every bench's: bench/harness.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.harness import percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUICK_RESULTS = ROOT / ".cache" / "reliability"  # quick runs (CI): not committed, never over the full figures

# --- figures -------------------------------------------------------------------------------


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """Count, p50, p90, p99 and max of durations in seconds, as milliseconds (rounded to 0.1 ms)."""

    def ms(value: float) -> float:
        return round(value * 1000, 1) if not math.isnan(value) else math.nan

    return {
        "n": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),  # linear interpolation between ranks
        "p90_ms": ms(percentile(seconds, 90)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds)) if seconds else math.nan,
    }


def target(goal: str, value: Any, met: bool) -> dict[str, Any]:
    """One target of a part: what was wanted, what was measured, whether it was met."""
    return {"target": goal, "value": value, "met": bool(met)}


def all_met(targets: Mapping[str, Mapping[str, Any]]) -> bool:
    return all(bool(t["met"]) for t in targets.values())


def fmt_num(value: Any, digits: int = 1) -> str:
    """A number for a table: thousands separated, NaN as an en dash."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.{digits}f}"
    return str(value)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A markdown table; ``align`` is one letter per column, ``l`` or ``r`` (numbers right by default)."""
    rows = [list(r) for r in rows]
    if not align:
        align = "l" + "r" * (len(headers) - 1)
    rule = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt_num(c) if not isinstance(c, str) else c for c in row) + " |")
    return "\n".join(lines)


def targets_table(targets: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [(name, str(t["target"]), fmt_num(t["value"]), "met" if t["met"] else "**not met**") for name, t in targets.items()]
    return md_table(["target", "wanted", "measured", ""], rows, align="llrl")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value)."""
    out: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        name, labels, value = match.groups()
        out.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return out


def metric_sum(samples: Iterable[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == want for k, want in labels.items()))


# --- the machine and the results ----------------------------------------------------------


def machine_line(meta: Mapping[str, Any]) -> str:
    m = meta.get("machine", {})
    load = m.get("load_average_1m")
    end = meta.get("load_average_1m_end")
    loads = f"load average {load} at the start" + (f", {end} at the end" if end is not None else "")
    return f"{m.get('date', '?')}, Python {m.get('python', '?')}, {m.get('cpus', '?')} CPUs ({m.get('cpu_model', '?')}), {loads}"


def result_path(name: str, quick: bool) -> Path:
    """Where a part's figures go: bench/results/ for a full run (committed); .cache/reliability/ for a quick one."""
    return (QUICK_RESULTS if quick else RESULTS) / f"reliability_{name}.json"


def write_result(name: str, result: Mapping[str, Any], out: Path | None = None) -> Path:
    """A part's figures as JSON: ``out``, else :func:`result_path` (quick or full, from the result's meta)."""
    path = out or result_path(name, result.get("meta", {}).get("mode") == "quick")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def command_line(module: str, quick: bool) -> str:
    """How a part was run, for its results: ``python -m bench.reliability_chaos --quick``."""
    return f"python -m {module}" + (" --quick" if quick else "")
