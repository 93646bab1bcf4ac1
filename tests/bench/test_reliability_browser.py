"""bench/reliability_browser.py's verdicts and summary, on recorded page results (no browser).

The benchmark itself runs with `python -m bench.reliability_browser`; its edge
check replays a request against a real server, which these tests avoid by
giving the edge's part no request to replay or by patching replay.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import reliability_browser as rb


def page_result(
    log: list[list[Any]], shown: str, complete: bool = True, deployment: str = "local-wasm", marked: bool = False, **done: Any
) -> dict[str, Any]:
    return {
        "done": {"complete": complete, "deployment": deployment, "finish_reason": "stop", **done},
        "shown": shown,
        "marked": marked,
        "log": log,
    }


def test_a_switch_is_checked_against_the_servers_answer_to_the_same_continuation(monkeypatch: pytest.MonkeyPatch) -> None:
    log = [["llm-delta", "local-wasm", "The sea "], ["llm-switch", "edge", None], ["llm-delta", "edge", "is blue."]]
    body = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "The sea "}], "continue_final_message": True}
    monkeypatch.setattr(rb, "replay", lambda server, b: "is blue." if b is body else "")
    v = rb.check(page_result(log, "The sea is blue.", deployment="edge"), [("reset", {}), ("none", body)], "http://x")
    assert v["edge_text_exact"] is True and v["shown_is_stream"] and v["switches"] == 1
    # The same page showing a repeated piece is caught twice: against the stream and against the server.
    v = rb.check(page_result(log, "The sea The sea is blue.", deployment="edge"), [("none", body)], "http://x")
    assert v["edge_text_exact"] is False and v["shown_is_stream"] is False


def test_a_restart_takes_back_what_was_shown_before_it() -> None:
    log = [["llm-delta", "local-wasm", "Hel"], ["llm-restart", "edge", None], ["llm-delta", "edge", "Hello there."]]
    v = rb.check(page_result(log, "Hello there.", deployment="edge"), [], "http://x")
    assert v["shown_is_stream"] and v["restarts"] == 1 and v["edge_text_exact"] is None


def test_incomplete_answers_must_carry_a_code_and_a_mark() -> None:
    log = [["llm-delta", "local-wasm", "Half"]]
    coded = page_result(log, "Half", complete=False, marked=True, error={"code": "LLM_NET_005_E"}, finish_reason="error")
    assert rb.check(coded, [], "x")["incomplete_unmarked"] is False
    silent = page_result(log, "Half", complete=False, finish_reason="error")
    assert rb.check(silent, [], "x")["incomplete_unmarked"] is True
    cut = page_result(log, "Half", complete=True, finish_reason=None)
    assert rb.check(cut, [], "x")["truncated_marked_complete"] is True


def test_summary_targets_and_rendering() -> None:
    ok = {"complete": True, "code": None, "truncated_marked_complete": False, "incomplete_unmarked": False, "shown_is_stream": True}
    verdicts = [
        {**ok, "edge_text_exact": True, "local_fault": "LLM_WASM_003_E", "edge_faults": ["cut", "none"], "switches": 1, "restarts": 0},
        {**ok, "edge_text_exact": False, "local_fault": None, "edge_faults": [], "switches": 0, "restarts": 0},
    ]
    result = rb.summarize(verdicts, hung=1, questions=3, quick=True, seconds=12.0)
    f, t = result["figures"], result["targets"]
    assert f["ended"] == 2 and f["edge_faults"] == 1 and f["local_faults"] == 1 and f["edge_continuations_wrong"] == 1
    assert t["no_hang"]["met"] is False and t["duplicated_or_lost_text"]["value"] == 1 and t["truncated_marked_complete"]["met"]
    text = rb.render(result)
    assert "3 questions" in text and "**not met**" in text and result["command"].endswith("--quick")
