"""The edge server in front of misbehaving upstreams: real HTTP everywhere, the official openai client.

Two fault-injecting providers answer the same known text; the primary
misbehaves on cue, the backup is healthy. Whatever the fault, the client
must get exactly the known answer (or a clear coded error where that is the
right outcome), never a repeated, lost or silently cut text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llm_runner_router.core.config import Settings
from llm_runner_router.edge.app import create_app
from llm_runner_router.edge.compose import build_state
from llm_runner_router.edge.store import SQLiteStore
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ThreadServer

ANSWER = "Breakers stop calling a failing backend for a while and then let one probe through to see whether it recovered."
MESSAGES = [{"role": "user", "content": "What does a circuit breaker do?"}]


def settings_for(primary: str, backup: str, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "retry": {"max_attempts": 2, "initial_delay": 0.05, "max_delay": 0.2, "jitter": False, "retry_after_cap": 2.0, "deadline": 30},
        "breaker": {"failure_threshold": 50, "min_calls": 1000},
        "stream": {"first_token_timeout": 1.5, "stall_timeout": 0.7},
        "cache": {"enabled": False},
        "monitor": {"health_check_interval": 3600, "max_concurrency": 8, "queue_size": 8},
        "providers": {
            "primary": {"kind": "openai", "base_url": primary, "read_timeout": 30},
            "backup": {"kind": "openai", "base_url": backup, "read_timeout": 30},
        },
        "deployments": {
            "primary": {"provider": "primary", "model": "fault-model", "accepts_prefix": True},
            "backup": {"provider": "backup", "model": "fault-model", "accepts_prefix": True, "context_window": 100000},
        },
        "aliases": {"chat": {"deployments": ["primary", "backup"]}},
    }
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    return Settings.from_dict(data)


class Rig:
    def __init__(self, primary: fp.FaultProvider, backup: fp.FaultProvider, server: ThreadServer) -> None:
        self.primary, self.backup, self.server = primary, backup, server
        self.client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=30)

    def stream_text(self, **kw: Any) -> tuple[str, list[dict[str, Any]]]:
        """The text a client honouring our restart markers shows, and the x_llm notes seen."""
        text = ""
        notes: list[dict[str, Any]] = []
        for chunk in self.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True, **kw):
            x = (chunk.model_extra or {}).get("x_llm")
            if x:
                notes.append(x)
                if x.get("event") == "restart":
                    assert len(text) == x["discard_chars"]
                    text = ""
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        return text, notes


@pytest.fixture
def rig(tmp_path: Any) -> Iterator[Rig]:
    with fp.FaultProvider(answer=ANSWER, model="fault-model") as primary, fp.FaultProvider(answer=ANSWER, model="fault-model") as backup:
        state = build_state(settings_for(primary.base_url, backup.base_url), store=SQLiteStore(tmp_path / "r.db"), api_key="k")
        with ThreadServer(create_app(state)) as server:
            yield Rig(primary, backup, server)


def test_healthy_stream_and_non_stream(rig: Rig) -> None:
    text, notes = rig.stream_text()
    assert text == ANSWER
    assert notes[0] == {"deployment": "primary"} and notes[-1]["status"] == "complete"
    done = rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    assert done.choices[0].message.content == ANSWER and done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens > 0
    assert rig.backup.requests == []


@pytest.mark.parametrize(
    ("fault", "served_by"),
    [
        (fp.rate_limited(retry_after=0.2), "primary"),  # honoured, then the retry succeeds
        (fp.rate_limited(retry_after=None), "primary"),
        (fp.server_error(), "primary"),  # 500 once: retried
        (fp.unavailable(), "backup"),  # 503 persistent: retried, then the backup
        (fp.reset(), "primary"),  # reset before headers: retried
        (fp.hang(), "backup"),  # no response: first-token deadline, then the backup
        (fp.slow_first_token(delay=5.0), "backup"),
    ],
)
def test_failures_before_the_first_token(rig: Rig, fault: fp.Fault, served_by: str) -> None:
    rig.primary.set_faults([fault])
    text, notes = rig.stream_text()
    assert text == ANSWER
    assert notes[-1]["status"] == "complete" and notes[-1]["deployment"] == served_by
    assert rig.primary.requests[0].fault == fault.kind


def test_retry_after_is_waited_for(rig: Rig) -> None:
    rig.primary.set_faults([fp.rate_limited(retry_after=1.0)])
    t0 = time.monotonic()
    assert rig.stream_text()[0] == ANSWER
    assert time.monotonic() - t0 >= 1.0
    gap = rig.primary.requests[1].received_at - rig.primary.requests[0].received_at
    assert gap >= 0.95


@pytest.mark.parametrize(
    "fault",
    [fp.cut(after=3), fp.cut(after=3, how="eof"), fp.stall(after=3), fp.malformed(after=3), fp.error_in_stream(after=3)],
    ids=["cut", "cut-eof", "stall", "malformed", "error-in-stream"],
)
def test_mid_stream_failures_continue_without_repeating_or_losing_text(rig: Rig, fault: fp.Fault) -> None:
    rig.primary.set_faults([fault, fault])  # the retry on the primary fails the same way
    text, notes = rig.stream_text()
    assert text == ANSWER
    switches = [n for n in notes if n.get("event") == "switch"]
    assert switches and switches[0]["from"] == "primary" and switches[0]["to"] == "backup"
    assert rig.backup.requests[0].prefix and ANSWER.startswith(rig.backup.requests[0].prefix)


def test_stream_without_done_marker_is_not_taken_as_complete(rig: Rig) -> None:
    rig.primary.set_faults([fp.no_done(times=None)])
    text, notes = rig.stream_text()
    assert text == ANSWER  # continued (with nothing left) or restarted elsewhere, but complete only when proven
    assert notes[-1]["status"] == "complete"
    assert any(r.fault == "no_done" for r in rig.primary.requests)


def test_cut_where_the_fallback_rejects_prefill_restarts_cleanly(rig: Rig) -> None:
    rig.primary.set_faults([fp.cut(after=4, times=None)])
    rig.backup.set_faults([fp.reject_prefill()])
    text, notes = rig.stream_text()
    assert text == ANSWER
    restarts = [n for n in notes if n.get("event") == "restart"]
    assert len(restarts) == 1 and restarts[0]["code"] == "LLM_API_006_E"
    status = httpx.get(rig.server.url + "/api/status").json()
    learned = [h for h in status["hints"] if h["provider"] == "backup"]
    assert learned and learned[0]["accepts_prefix"] is False


def test_context_length_goes_to_the_larger_window(rig: Rig) -> None:
    rig.primary.set_faults([fp.context_length()])
    text, notes = rig.stream_text()
    assert text == ANSWER and notes[-1]["deployment"] == "backup"
    assert len(rig.primary.requests) == 1  # not retried


def test_content_filter_is_propagated_without_fallback(rig: Rig) -> None:
    rig.primary.set_faults([fp.content_filter()])
    with pytest.raises(openai.BadRequestError) as info:
        rig.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    assert info.value.status_code == 400
    assert info.value.body["code"] == "LLM_API_005_E"  # type: ignore[index]
    assert rig.backup.requests == []


def test_nothing_can_finish_is_an_explicit_error_never_a_short_answer(rig: Rig) -> None:
    rig.primary.set_faults([fp.cut(after=3, times=None)])
    rig.backup.set_faults([fp.unavailable()])
    seen = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in rig.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                seen += chunk.choices[0].delta.content
    assert seen and ANSWER.startswith(seen) and seen != ANSWER
    assert "LLM_RETRY_003_E" in json.dumps(info.value.body)
    r = httpx.post(rig.server.url + "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES})
    assert r.status_code == 503
    assert r.json()["error"]["incomplete"] is True and ANSWER.startswith(r.json()["error"]["partial_text"])


def test_primary_down_for_a_while_then_back(rig: Rig) -> None:
    rig.primary.set_faults([fp.down(seconds=1.5)])
    first, notes = rig.stream_text()
    assert first == ANSWER and notes[-1]["deployment"] == "backup"
    time.sleep(1.6)
    again, notes = rig.stream_text()
    assert again == ANSWER and notes[-1]["deployment"] == "primary"


def test_client_disconnect_cancels_the_upstream(rig: Rig) -> None:
    rig.primary.set_faults([fp.stall(after=3)])  # holds the connection open after three words
    with httpx.stream("POST", rig.server.url + "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # leave after the first chunk
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not rig.primary.requests[-1].disconnected:
        time.sleep(0.05)
    assert rig.primary.requests[-1].disconnected and not rig.primary.requests[-1].completed
    time.sleep(1.0)  # past the stall deadline: had the request lived on, the backup would have been asked
    assert rig.backup.requests == []


def test_models_responses_and_completions(rig: Rig) -> None:
    names = [m.id for m in rig.client.models.list()]
    assert "chat" in names
    # Each name says the longest prompt it takes (an alias: its largest deployment's), which the page reads.
    windows = {m.id: getattr(m, "context_window", None) for m in rig.client.models.list()}
    assert windows["chat"] == 100000 and windows["primary"] == 8192, windows
    resp = rig.client.responses.create(model="chat", input="What does a circuit breaker do?")
    assert resp.output_text == ANSWER
    text = ""
    for event in rig.client.responses.create(model="chat", input="hi", stream=True):
        if event.type == "response.output_text.delta":
            text += event.delta
    assert text == ANSWER
    comp = rig.client.completions.create(model="chat", prompt="Breakers")
    assert comp.choices[0].text == ANSWER


def test_queue_full_is_a_429_with_retry_after(tmp_path: Any) -> None:
    with fp.FaultProvider(answer=ANSWER, model="fault-model") as slow, fp.FaultProvider(answer=ANSWER, model="fault-model") as other:
        slow.set_faults([fp.slow_first_token(delay=1.5, times=None)])
        s = settings_for(slow.base_url, other.base_url, monitor={"max_concurrency": 1, "queue_size": 1}, stream={"first_token_timeout": 10})
        s = Settings.from_dict({**s.to_dict(), "aliases": {"chat": {"deployments": ["primary"]}}})
        state = build_state(s, store=SQLiteStore(tmp_path / "r.db"))
        with ThreadServer(create_app(state)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            import concurrent.futures

            body = {"model": "chat", "messages": MESSAGES}
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                running = [pool.submit(http.post, "/v1/chat/completions", json=body) for _ in range(2)]
                time.sleep(0.5)
                refused = http.post("/v1/chat/completions", json=body)
                results = [f.result() for f in running]
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "LLM_RATE_002_E" and int(refused.headers["retry-after"]) >= 1
            assert [r.status_code for r in results] == [200, 200]
