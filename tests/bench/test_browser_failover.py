"""bench/browser_failover.py's pure parts: medians over good runs and the docs table.

No browser and no timing assertion: the benchmark runs with `python -m bench.browser_failover`.
"""

from __future__ import annotations

from typing import Any

from bench import browser_failover as bf


def startup(ok: bool, ready: float, ttft: float) -> dict[str, Any]:
    return {"ok": ok, "ready_ms": ready, "ttft_ms": ttft, "load_to_first_token_ms": ready + ttft, "from_service_worker": True}


def test_summaries_take_medians_of_good_runs_only() -> None:
    runs = [startup(True, 1000.0, 100.0), startup(True, 3000.0, 300.0), startup(False, 1.0, 1.0), startup(True, 2000.0, 200.0)]
    s = bf.summarize(runs, ("ready_ms", "ttft_ms", "load_to_first_token_ms"))
    assert s == {"runs": 4, "ok": 3, "ready_ms": 2000.0, "ttft_ms": 200.0, "load_to_first_token_ms": 2200.0}
    assert bf.summarize([startup(False, 1.0, 1.0)], ("ready_ms",)) == {"runs": 1, "ok": 0, "ready_ms": None}


def test_millisecond_spans_need_both_ends() -> None:
    assert bf._ms(10.0, 25.5) == 15.5
    assert bf._ms(None, 3.0) is None and bf._ms(3.0, None) is None


def test_the_docs_section_holds_every_figure_between_its_markers() -> None:
    keys = ("ready_ms", "ttft_ms", "load_to_first_token_ms")
    failover = {"runs": 2, "ok": 2, "failure_to_edge_token_ms": 123.4, "last_local_to_edge_token_ms": 234.5}
    starts = {name: bf.summarize([startup(True, r, 50.0)], keys) for name, r in (("cold", 9000.0), ("warm", 2450.0), ("offline", 4800.0))}
    result = {
        "command": "python -m bench.browser_failover --quick",
        "threads": 2,
        "date": "2026-12-06",
        "seconds": 100.0,
        "load": 0.42,
        "failover": failover,
        "startup": starts,
        "targets": bf.targets(failover, starts),
    }
    text = bf.render(result)
    assert text.startswith(bf.DOC_START) and text.endswith(bf.DOC_END)
    assert "**123.4** | ≤ 500 (met) |" in text and "234.5" in text and "2/2 runs" in text and "load average 0.42" in text
    assert "| cold | 1/1 | 9000.0 | 50.0 | **9050.0** | ≤ 6000 (missed) |" in text
    assert "| warm | 1/1 | 2450.0 | 50.0 | **2500.0** | ≤ 3000 (met) |" in text
    assert "| offline | 1/1 | 4800.0 | 50.0 | **4850.0** | — |" in text


def test_targets_compare_medians_and_a_missing_figure_misses() -> None:
    failover = {"failure_to_edge_token_ms": None}
    starts = {"cold": {"load_to_first_token_ms": 6000.0}, "warm": {"load_to_first_token_ms": 3000.1}}
    assert bf.targets(failover, starts) == {
        "warm": {"target_ms": 3000.0, "measured_ms": 3000.1, "met": False},
        "cold": {"target_ms": 6000.0, "measured_ms": 6000.0, "met": True},
        "failover": {"target_ms": 500.0, "measured_ms": None, "met": False},
    }
