"""What the reliability parts (bench/reliability_*.py) share: figures, targets, processes, markdown.

Pure helpers first (percentiles, summaries, targets, Prometheus text,
markdown tables), then the few that touch the machine (RSS from /proc, the
machine's description, writing a part's JSON).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUICK_RESULTS = ROOT / ".cache" / "reliability"  # quick runs (CI): not committed, never over the full figures

# --- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """Count, p50, p90, p99 and max of durations in seconds, as milliseconds (rounded to 0.1 ms)."""

    def ms(value: float) -> float:
        return round(value * 1000, 1) if not math.isnan(value) else math.nan

    return {
        "n": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
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


# --- the machine ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (Linux: VmRSS in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a live process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs (Linux /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values) - idle) / tick, sum(values) / tick


class OtherLoad:
    """How much of the machine's CPU went to processes other than ours during a block.

    ``ours()`` returns the CPU seconds our processes used over the block (the caller
    knows which: a server, an upstream, a load tool). ``share`` is the rest of the
    machine's busy time as a fraction of all its CPU time: on a quiet machine near 0.
    """

    def __init__(self) -> None:
        self.busy0, self.total0 = machine_cpu_s()
        self.share = math.nan

    def stop(self, ours_cpu_s: float) -> float:
        busy, total = machine_cpu_s()
        elapsed = total - self.total0
        self.share = round(max(0.0, (busy - self.busy0) - ours_cpu_s) / elapsed, 3) if elapsed > 0 else math.nan
        return self.share


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return math.nan


def machine() -> dict[str, Any]:
    """When and where: date, Python, CPU count and model, the load average when asked."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "load_average_1m": load_average(),
    }


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


def command_line(script: str, quick: bool) -> str:
    return f"python {script}" + (" --quick" if quick else "")


def python() -> str:
    return sys.executable
