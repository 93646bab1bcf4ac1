"""bench/page_responsiveness.py's pure parts: frame gaps and long tasks in a window, the headline and the docs table.

No browser and no timing assertion: the benchmark runs with `python -m bench.page_responsiveness`.
"""

from __future__ import annotations

from typing import Any

from bench import page_responsiveness as pr


def test_a_frame_gap_counts_when_it_overlaps_the_window() -> None:
    frames = [0.0, 16.0, 32.0, 532.0, 548.0, 900.0]
    # The 500 ms freeze starts before the window and the last gap ends after it: both count.
    assert pr.frame_gaps(frames, 100.0, 600.0) == [500.0, 16.0, 352.0]
    assert pr.frame_gaps(frames, 0.0, 10.0) == [16.0]
    assert pr.frame_gaps([5.0], 0.0, 10.0) == []
    assert pr.gap_series(frames, 532.0, 560.0) == [(0.016, 16.0), (0.368, 352.0)]  # seconds since t0, ms


def test_long_tasks_overlapping_the_window_only() -> None:
    tasks = [[0.0, 60.0], [90.0, 80.0], [300.0, 51.0]]
    assert pr.longtasks_in(tasks, 100.0, 200.0) == [80.0]
    assert pr.longtasks_in(tasks, 50.0, 400.0) == [60.0, 80.0, 51.0]


def test_a_key_the_browser_did_not_time_took_under_its_threshold() -> None:
    key = {"key": "a", "down": 1000.25, "handled": 1001.0, "frame": 1010.0}
    assert pr.presented(key, [[500.0, 120.0], [1000.25, 48.0]]) == 48.0
    assert pr.presented(key, [[500.0, 120.0]]) == 16.0


def test_the_refusal_names_the_prompts_length() -> None:
    assert pr._refused_tokens({"code": "LLM_RUNTIME_003_E", "message": "the prompt has 10864 tokens; the context window is 8192"}) == 10864
    assert pr._refused_tokens(None) is None


def answer(gaps: list[float], longtasks: list[float], keys: list[float], tok_s: float) -> dict[str, Any]:
    return {
        "tokens": 128,
        "decode_tok_s": tok_s,
        "ttft_ms": 300.0,
        "answer_ms": 7000.0,
        "frames": len(gaps),
        "frame_gaps_ms": gaps,
        "longtasks_ms": longtasks,
        "input_to_paint_ms": keys,
        "input_to_presented_ms": [max(16.0, k) for k in keys],
        "input_delay_ms": [1.0 for _ in keys],
    }


def part(
    gaps: list[float], longtasks: list[float], stop_ms: float, tok_s: float, paste_gap: float, boot: list[float] | None = None
) -> dict[str, Any]:
    pastes = {name: {"frame_gap_max_ms": paste_gap, "tokens": 7000, "read_tokens": 500} for name in ("refused", "long", "short")}
    return {
        "stops": [{"stop_latency_ms": stop_ms}, {"stop_latency_ms": stop_ms + 20}],
        "decode_tok_s": [tok_s, tok_s],
        "answers": [answer(gaps, longtasks, [10.0, 20.0], tok_s)],
        "pastes": pastes,
        "foreign_cpu_share": 0.05,
        "info": {"readyMs": 3000.0, "bootLongtasksMs": boot or []},
    }


def test_the_headline_is_the_workers_and_the_docs_say_which_targets_were_missed() -> None:
    modes = {
        "main_thread": pr.summarize([part([150.0] * 19 + [700.0], [700.0, 120.0], 60.0, 20.0, 1500.0)]),
        "worker": pr.summarize([part([16.7] * 19 + [40.0], [], 50.0, 18.0, 16.7, boot=[400.0, 90.0])]),
    }
    head = pr.headline(modes)
    assert head["longtask_max_ms"] == 0.0 and head["frame_gap_p95_ms"] == 17.9 and head["stop_latency_ms"] == 60.0
    assert head["long_paste_freeze_ms"] == 16.7 and modes["main_thread"]["long_paste_freeze_ms"] == 1500.0
    assert head["decode_tok_s"] == {"worker": 18.0, "main_thread": 20.0} and head["worker_decode_cost_pct"] == 10.0
    assert head["met"] == {
        "longtask_max_ms": True,
        "frame_gap_p95_ms": True,
        "stop_latency_ms": True,
        "long_paste_freeze_ms": True,
        "worker_decode_cost_pct": False,
    }
    assert modes["main_thread"]["longtask_total_ms_per_answer"] == 820.0
    result = {
        **head,
        "modes": modes,
        "command": "python -m bench.page_responsiveness --quick",
        "chromium": "Chromium 156",
        "date": "2026-12-07",
        "seconds": 100.0,
        "load": {"start": [1.5, 1.0, 1.0], "end": [2.0, 1.0, 1.0]},
        "plan": pr.QUICK.__dict__,
    }
    text = pr.render(result, None)
    assert text.startswith(pr.DOC_START) and text.endswith(pr.DOC_END)
    assert "| long task max, during an answer (ms) | 700 | 0 | ≤ 50 | met |" in text
    assert "**not met** (worker 10.0 % slower)" in text and "Targets missed: worker_decode_cost_pct." in text
    assert "| long-paste freeze: longest frame gap over the pastes (ms) | 1,500 | 17 | ≤ 100 | met |" in text
    assert "![" not in text  # no plot, no image link
    assert modes["worker"]["boot_longtask_max_ms"] == 400.0 and modes["worker"]["boot_longtask_total_ms"] == 490.0
    assert "| boot: long task max, load → ready (Pyodide on the page's thread) (ms) | 0 | 400 |" in text
