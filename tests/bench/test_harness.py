"""bench/harness.py: the percentiles, CPU time and load figures every bench reports."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from bench import harness


def test_linear_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert harness.percentile(values, 0) == 1.0
    assert harness.percentile(values, 100) == 4.0
    assert harness.percentile(values, 50) == 2.5
    assert harness.percentile([7.0], 99) == 7.0
    assert math.isnan(harness.percentile([], 50))
    with pytest.raises(ValueError):
        harness.percentile(values, 101)


def test_nearest_rank_percentile_is_a_measured_value() -> None:
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert harness.percentile(values, 50, method="nearest-rank") == 50
    assert harness.percentile(values, 99, method="nearest-rank") == 99
    assert harness.percentile(values, 0, method="nearest-rank") == 1
    assert harness.percentile([4, 1, 3, 2], 50, method="nearest-rank") == 2  # linear would say 2.5
    assert math.isnan(harness.percentile([], 99, method="nearest-rank"))


def test_cpu_time_and_the_machines_share() -> None:
    assert harness.process_cpu_s(os.getpid()) > 0
    assert harness.tree_cpu_s(os.getpid()) >= harness.process_cpu_s(os.getpid())
    subprocess.run([sys.executable, "-c", "sum(range(10**6))"], check=True)
    assert harness.children_cpu_s() > 0
    busy, total = harness.machine_cpu_s()
    assert 0 < busy <= total
    others = harness.OtherLoad()
    share = others.stop(ours_cpu_s=0.0)
    assert math.isnan(share) or 0 <= share <= 1


def test_the_machine_and_its_load() -> None:
    loads = harness.load_averages()
    assert len(loads) == 3 and all(x >= 0 for x in loads)
    assert harness.load_average() == loads[0]
    m = harness.machine()
    assert m["cpus"] == os.cpu_count() and m["load_average_1m"] >= 0 and m["date"].endswith("UTC")
