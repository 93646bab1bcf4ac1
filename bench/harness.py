"""What every bench measures the same way: percentiles, CPU time, the machine's load, build scripts.

The benches run as modules of this package from the checkout's root (``python -m bench.NAME``),
so they import the project as ``llm_runner_router``, each other as ``bench.NAME`` and the browser
helpers as ``e2e.browser``, with no edits to ``sys.path``.

Percentiles have two methods, because the benches report both and their figures must stay comparable
with earlier runs: ``"linear"`` interpolates between ranks (numpy's default; the reliability suite) and
``"nearest-rank"`` takes a value that was measured (the router overhead, per request).

CPU time comes from Linux's /proc. A measurement on a shared machine is only as good as the share
of the CPUs other processes took meanwhile, so the benches record it: :class:`OtherLoad` for a block,
:func:`wait_for_quiet` before one, :func:`load_averages` at the start and the end of a run.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import resource
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent

# --- percentiles ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float, method: Literal["linear", "nearest-rank"] = "linear") -> float:
    """The q-th percentile (q in 0..100) of unsorted values; NaN when there are none.

    ``linear``: interpolated between the two nearest ranks (numpy's default), so p50 is the median.
    ``nearest-rank``: the smallest value with at least q% of the values at or below it (always a measured value).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    if method == "nearest-rank":
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values measured (None: not measured), rounded to 0.1; None when none was."""
    measured = [v for v in values if v is not None]
    return round(float(statistics.median(measured)), 1) if measured else None


# --- CPU time (Linux /proc) ----------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) a live process has used, all its threads (or only ``thread``, a TID).

    Raises OSError when the process is gone.
    """
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by ``root`` and every live descendant (a browser this process started)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited while we looked
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    total, todo = used.get(root, 0.0), [root]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid:
                total += used[child]
                todo.append(child)
    return total


def children_cpu_s() -> float:
    """CPU seconds of this process's children that have exited and been waited for (a load tool's run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs (/proc/stat).

    Idle is idle + iowait. Only the first 8 fields count: guest time is already in user time.
    """
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class OtherLoad:
    """How much of the machine's CPU went to processes other than ours during a block.

    Made at the block's start; :meth:`stop` takes the CPU seconds our processes used over the block
    (the caller knows which: a server, an upstream, a load tool, a browser) and returns ``share``: the
    rest of the machine's busy time as a fraction of all its CPU time (to 3 places), near 0 on a quiet machine.
    """

    def __init__(self) -> None:
        self.busy0, self.total0 = machine_cpu_s()
        self.share = math.nan

    def stop(self, ours_cpu_s: float) -> float:
        busy, total = machine_cpu_s()
        elapsed = total - self.total0
        self.share = round(max(0.0, (busy - self.busy0) - ours_cpu_s) / elapsed, 3) if elapsed > 0 else math.nan
        return self.share


def busy_share(window: float = 0.5) -> float:
    """The share of all CPUs busy (0..1) over the next ``window`` seconds; NaN without /proc."""
    try:
        busy0, total0 = machine_cpu_s()
        time.sleep(window)
        busy1, total1 = machine_cpu_s()
    except OSError:
        return math.nan
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


def wait_for_quiet(max_wait: float, threshold: float, window: float = 0.5) -> tuple[float, float]:
    """Wait (up to ``max_wait`` s) until the CPUs are under ``threshold`` busy: (seconds waited, last share seen).

    Used between measurements, when our own processes are idle, so the busy share is other processes'.
    """
    start = time.monotonic()
    share = busy_share(window)
    while share > threshold and time.monotonic() - start < max_wait:
        share = busy_share(window)
    return time.monotonic() - start, share


# --- the machine ---------------------------------------------------------------------------


def load_averages() -> list[float]:
    """The 1, 5 and 15 minute load averages (what ``uptime`` shows), rounded; [] where there are none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return []


def load_average() -> float:
    """The 1 minute load average, rounded; NaN where there is none."""
    loads = load_averages()
    return loads[0] if loads else math.nan


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """When and where: date, Python, CPU count and model, the 1 minute load average now."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "load_average_1m": load_average(),
    }


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (VmRSS in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
