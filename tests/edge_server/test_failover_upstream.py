"""End to end: core.Router over two UpstreamBackends, each a real FaultProvider.

The first ("flaky") fails mid-answer; the second ("steady") is healthy. The
caller must get the known answer exactly once: nothing repeated, nothing
lost, whichever way the first one broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from llm_runner_router.core.config import Settings
from llm_runner_router.core.router import Router
from llm_runner_router.core.types import ChatRequest, Delta, Done, Message, Restart, StreamEvent, Switch
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.upstream import UpstreamBackend

ANSWER = fp.DEFAULT_ANSWER
PIECES = fp.pieces(ANSWER)


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[fp.FaultProvider, fp.FaultProvider]]:
    with fp.FaultProvider() as flaky, fp.FaultProvider() as steady:
        yield flaky, steady


@pytest.fixture
def flaky(pair: tuple[fp.FaultProvider, fp.FaultProvider]) -> fp.FaultProvider:
    for p in pair:
        p.clear_faults()
        p.clear_requests()
        p.configure(reject_prefill=False)
    return pair[0]


@pytest.fixture
def steady(pair: tuple[fp.FaultProvider, fp.FaultProvider], flaky: fp.FaultProvider) -> fp.FaultProvider:
    return pair[1]


def settings(flaky: fp.FaultProvider, steady: fp.FaultProvider, max_attempts: int = 1) -> Settings:
    def provider(p: fp.FaultProvider) -> dict[str, Any]:
        return {"kind": "openai", "base_url": p.base_url, "connect_timeout": 2, "read_timeout": 30}

    return Settings.from_dict(
        {
            "retry": {"max_attempts": max_attempts, "initial_delay": 0.01, "jitter": False, "deadline": 60},
            "stream": {"first_token_timeout": 1.0, "stall_timeout": 0.5},
            "cache": {"enabled": False},
            "providers": {"flaky": provider(flaky), "steady": provider(steady)},
            "deployments": {
                "flaky-chat": {"provider": "flaky", "model": "fault-model"},
                "steady-chat": {"provider": "steady", "model": "fault-model"},
            },
            "aliases": {"chat": {"deployments": ["flaky-chat", "steady-chat"]}},
        }
    )


async def ask(cfg: Settings) -> list[StreamEvent]:
    backends = {name: UpstreamBackend(p) for name, p in cfg.providers.items()}
    router = Router(cfg, backends)
    try:
        request = ChatRequest("chat", [Message("user", "What does the fox do?")], request_id="e2e")
        return [event async for event in router.stream(request)]
    finally:
        for backend in backends.values():
            await backend.aclose()


def what_the_caller_holds(events: list[StreamEvent]) -> str:
    text = ""
    for event in events:
        if isinstance(event, Delta):
            text += event.text
        elif isinstance(event, Restart):
            assert text == event.discarded
            text = ""
    return text


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (fp.cut(after=3, times=None), 3),
        (fp.cut(after=5, how="eof", times=None), 5),
        (fp.malformed(after=4, times=None), 4),
        (fp.error_in_stream(after=2, times=None), 2),
        (fp.stall(after=3, times=None), 3),  # the router's stall watchdog cancels the read
        (fp.no_done(times=None), len(PIECES)),
        (fp.slow_first_token(delay=30, times=None), 0),  # the first-token watchdog
        (fp.reset(times=None), 0),
        (fp.unavailable(), 0),
    ],
    ids=["cut", "cut_eof", "malformed", "error_in_stream", "stall", "no_done", "slow_first_token", "reset", "unavailable"],
)
def test_failover_mid_stream_repeats_and_loses_nothing(
    flaky: fp.FaultProvider, steady: fp.FaultProvider, fault: fp.Fault, said: int
) -> None:
    flaky.set_faults([fault])
    events = asyncio.run(asyncio.wait_for(ask(settings(flaky, steady)), 30))

    assert what_the_caller_holds(events) == ANSWER
    done = events[-1]
    assert isinstance(done, Done) and done.status == "complete" and done.deployment == "steady-chat"
    deltas = [e for e in events if isinstance(e, Delta)]
    assert "".join(d.text for d in deltas if d.deployment == "flaky-chat") == "".join(PIECES[:said])
    switches = [e for e in events if isinstance(e, Switch)]
    assert len(switches) == (1 if said else 0)
    assert not any(isinstance(e, Restart) for e in events)
    # The steady provider was asked to continue exactly after what the caller already had.
    assert [r.prefix for r in steady.requests] == ["".join(PIECES[:said]) or None]
    # A flaky provider the router gave up on mid-answer saw the connection close.
    assert flaky.wait_for(lambda: all(r.completed or r.aborted or r.disconnected or r.status != 200 for r in flaky.requests))


def test_a_retry_on_the_same_upstream_continues_the_answer(flaky: fp.FaultProvider, steady: fp.FaultProvider) -> None:
    flaky.set_faults([fp.cut(after=3)])  # once
    events = asyncio.run(asyncio.wait_for(ask(settings(flaky, steady, max_attempts=2)), 30))
    assert what_the_caller_holds(events) == ANSWER
    assert isinstance(events[-1], Done) and events[-1].deployment == "flaky-chat" and events[-1].attempts == 2
    assert [r.prefix for r in flaky.requests] == [None, "".join(PIECES[:3])]
    assert steady.requests == []


def test_a_takeover_that_refuses_the_prefill_restarts_the_answer(flaky: fp.FaultProvider, steady: fp.FaultProvider) -> None:
    flaky.set_faults([fp.cut(after=3, times=None)])
    steady.configure(reject_prefill=True)
    events = asyncio.run(asyncio.wait_for(ask(settings(flaky, steady)), 30))
    restarts = [e for e in events if isinstance(e, Restart)]
    assert len(restarts) == 1 and restarts[0].discarded == "".join(PIECES[:3])
    assert what_the_caller_holds(events) == ANSWER
    assert [(r.prefix, r.status) for r in steady.requests] == [("".join(PIECES[:3]), 400), (None, 200)]
