"""The security part's pure pieces: reading raw answers, building long requests, finding the server's end of a
connection in /proc/net/tcp, judging and rendering the slow-client, long-input, census and special-token figures.

The part itself runs end to end in ``make reliability`` (``bench/reliability.py --quick``).
"""

from __future__ import annotations

import json
import math
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from bench import _reliability as rel
from bench import reliability_security as sec


def test_raw_answers_read_for_status_and_code() -> None:
    body = b'{"error": {"message": "late", "code": "LLM_TIMEOUT_006_E"}}'
    assert sec._answer_of(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 9\r\n\r\n" + body) == (408, "LLM_TIMEOUT_006_E")
    assert sec._answer_of(b"HTTP/1.1 200 OK\r\n\r\n{}") == (200, None)
    assert sec._answer_of(b"") == (None, None)
    assert sec._answer_of(b"garbage") == (None, None)


@pytest.mark.parametrize("kind", sec.LONG_KINDS)
def test_a_long_request_is_long_in_one_place_only(kind: str) -> None:
    n = 1000
    raw = sec.long_request(kind, n)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    runs = [len(run) for run in re.findall(r"a+|A+", raw.decode()) if len(run) > 10]
    assert len(runs) == 1 and n - 2 <= runs[0] <= n  # "/" + a's, "X-" + a's: the part is n characters
    method, path, version = lines[0].split(" ")
    assert version == "HTTP/1.1" and "Connection: close" in lines
    if body:
        assert int(next(line.split(": ")[1] for line in lines if line.startswith("Content-Length"))) == len(body)
        json.loads(body)  # the long part is inside valid JSON, so it reaches the app's parser
    if kind == "path":
        assert len(path) == n
    if kind == "header name":
        assert len(lines[-1].split(":")[0]) == n
    if kind == "method":
        assert method == "A" * n


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="Linux /proc/net/tcp")
def test_the_server_end_is_held_until_the_server_closes_it() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            mine = client.getsockname()[1]
            assert mine in sec.server_held_ports(port)  # waiting in the accept queue: still the server's to serve
            server_end, _ = listener.accept()
            assert mine in sec.server_held_ports(port)
            server_end.close()  # the client keeps its end open: only the server's end counts
            deadline = time.monotonic() + 5
            while mine in sec.server_held_ports(port) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert mine not in sec.server_held_ports(port)


def test_probe_figures_allow_coded_503s_only_where_asked() -> None:
    samples = [
        sec.Sample("p", 0.0, 0.002, 200, None),
        sec.Sample("p", 0.1, 0.004, 503, "LLM_RATE_005_E"),
        sec.Sample("p", 0.2, 0.003, 503, None),
        sec.Sample("p", 0.3, 5.0, None, None),
    ]
    strict, lenient = sec.probe_figures(samples), sec.probe_figures(samples, allow_coded_503=True)
    assert (strict["ok"], lenient["ok"], strict["n"], strict["max_ms"]) == (1, 2, 4, 5000.0)
    assert strict["statuses"] == {"200": 1, "503": 2, "no answer": 1}


def slow_result(**over: Any) -> dict[str, Any]:
    kinds = {
        kind: {
            "connections": 10,
            "failed_to_connect": 0,
            "deadline_s": 2.0,
            "closed_in_time": 10,
            "still_open_at_end": 0,
            "closed_after_s": {"p50": 2.1, "max": 2.2},
            "answered_after_s": {"p50": math.nan, "max": math.nan},
            "answers": {"408 LLM_TIMEOUT_006_E": 10},
        }
        for kind in sec.SLOW_KINDS
    }
    figures = {"n": 70, "p50_ms": 2.0, "p90_ms": 3.0, "p99_ms": 40.0, "max_ms": 61.8}
    result: dict[str, Any] = {
        "server_limits": {k: float(v) for k, v in sec.SERVER_LIMITS.items()},
        "connections": kinds,
        "streamer_rcvbuf": 4096,
        "streamer_waves": 1,
        "chat_after_streamers": {"status": 200, "error": "", "seconds": 0.04},
        "idle_over_limit": 100,
        "idle_refused_coded_503": 100,
        "health": {
            "during": figures | {"ok": 70, "statuses": {"200": 51, "503": 19}},
            "by_phase": {p: figures | {"ok": 1, "statuses": {}} for p in ("before", "slow requests", "idle flood", "after")},
        },
        "log": {
            "lines": 24,
            "bytes": 9133,
            "lines_per_s": 3.0,
            "busiest_second_lines": 8,
            "top_messages": {"llm_runner_router.edge.access: request": 4},
        },
        "duration_s": 8.0,
    }
    return result | over


def test_slow_client_targets() -> None:
    met = sec.slow_targets(slow_result())
    assert all(t["met"] for t in met.values()), met
    late = slow_result()
    late["connections"][sec.PARTIAL] = late["connections"][sec.PARTIAL] | {"closed_in_time": 0}
    slow = slow_result(chat_after_streamers={"status": None, "error": "ReadTimeout", "seconds": 8.0})
    flood = slow_result(log=slow_result()["log"] | {"lines_per_s": 776.4})
    unanswered = slow_result()
    unanswered["health"]["during"] = unanswered["health"]["during"] | {"ok": 69}
    for bad, name in [
        (late, "slow connections let go within their timeout + 2 s"),
        (slow, "a chat right after the non-reading streamers answered (slots freed)"),
        (flood, "server log during slow clients, lines/s"),
        (unanswered, "slow clients: /health answered (200, or a coded 503 while over max_connections)"),
    ]:
        judged = sec.slow_targets(bad)
        assert [n for n, t in judged.items() if not t["met"]] == [name]
    assert sec.slow_targets(slow)["a chat right after the non-reading streamers answered (slots freed)"]["value"] == "ReadTimeout"


def test_injection_target_is_exact_and_needs_the_reference_to_hold() -> None:
    base = {"template_tokens": 30, "typed_markers_as_text": 74, "typed_markers_as_control_tokens": 50, "spaced_reference": 74}
    parsed = base | {"prompt_tokens": {"typed markers": 50}, "counted_as_text": False, "reference_holds": True}
    text = base | {"prompt_tokens": {"typed markers": 74}, "counted_as_text": True, "reference_holds": True}
    unsure = text | {"reference_holds": False}
    judge = [next(iter(sec.injection_targets(r).values())) for r in (parsed, text, unsure)]
    assert [t["met"] for t in judge] == [False, True, False]
    assert judge[0]["target"] == "74 (as text; 50 if parsed)" and judge[0]["value"] == 50
    assert not next(iter(sec.injection_targets({"error": "no model"}).values()))["met"]


def test_render_shows_the_new_sections_and_still_reads_older_figures() -> None:
    stored = rel.result_path(sec.NAME, quick=False)
    old = json.loads(stored.read_text(encoding="utf-8"))
    for key in ("slow_clients", "long_inputs", "census", "injection"):
        old.pop(key, None)
    old["meta"].pop("server_limits", None)
    assert "## Security and bad input" in sec.render(old) and "**Slow clients**" not in sec.render(old)

    case = {"kind": "path", "chars": 1000, "status": 404, "code": "LLM_MODEL_001_E", "outcome": "coded error", "health_max_ms": 1.7}
    new = old | {
        "slow_clients": slow_result(),
        "long_inputs": {
            "sizes": [1000],
            "kinds": ["path", "method"],
            "cases": [case, {"kind": "method", "chars": 1000, "skipped": "the server froze"}],
            "5xx": 0,
            "uncoded_errors": 0,
            "health_max_ms": 1.7,
            "skipped": 1,
            "froze": {},
            "log": {"lines": 3, "bytes": 300, "longest_line_bytes": 120},
        },
        "census": {
            "first": {"threads": 2, "fds": 11, "sockets": 4},
            "parts": {
                "fuzzing": {
                    "before": {"threads": 2, "fds": 11, "sockets": 4},
                    "after": {"threads": 3, "fds": 11, "sockets": 4},
                    "back": True,
                    "after_s": 0.0,
                }
            },
            "thread_slack": 4,
            "fd_slack": 8,
            "settle_s": 10.0,
        },
        "injection": {
            "prompt_tokens": {"neutral": 31, "typed markers": 50, "markers spaced apart": 74},
            "template_tokens": 30,
            "typed_markers_as_text": 74,
            "typed_markers_as_control_tokens": 50,
            "spaced_reference": 74,
            "reference_holds": True,
        },
    }
    new["meta"] = old["meta"] | {"server_limits": {"asked": sec.SERVER_LIMITS, "applied": {"header_timeout": 2}, "slack_s": 2.0}}
    text = sec.render(new)
    assert "**Slow clients**" in text and "| idle (connected, nothing sent) | 10 |" in text
    assert "| path | 404 `LLM_MODEL_001_E`, 1.7 ms |" in text and "| method | skipped |" in text
    assert "| fuzzing | 2 → 3 | 11 → 11 | 4 → 4 | 0.0 |" in text
    assert "Its `usage.prompt_tokens`: 50" in text and "(the reference holds)" in text
    assert "`header_timeout` 2 s" in text and "did not know `body_timeout`, `send_timeout`, `max_connections`" in text
