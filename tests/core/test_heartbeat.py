"""HEARTBEAT: a backend that waits its turn says it is alive; waiting is not failing.

Regression: a local model serves one request at a time and the others wait
for it inside the backend, where the first-token timeout already runs; in a
burst, admitted requests timed out behind the ones ahead of them (found by
bench/reliability_load.py: the model's breaker opened and answers came from
the fallback cache). A backend now yields ``HEARTBEAT`` while it waits
behind a generation that is moving, and the router starts the wait again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from llm_runner_router.core import catalogue
from llm_runner_router.core.router import Router
from llm_runner_router.core.testing import Script, ScriptedBackend, VirtualTimeLoop, run_virtual
from llm_runner_router.core.types import HEARTBEAT, BackendChunk, BackendRequest, ChatRequest, Delta, Done, Message, StreamEvent
from tests.core.helpers import make_settings

ANSWER = "The quick brown fox jumps over the lazy dog."


class Queued:
    """Waits ``wait`` seconds (sending a heartbeat every ``every`` seconds, or none), then answers word by word."""

    def __init__(self, wait: float, every: float | None, gap: float = 0.0, beats_between: int = 0) -> None:
        self.wait, self.every, self.gap, self.beats_between = wait, every, gap, beats_between
        self.calls = 0

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        self.calls += 1
        waited = 0.0
        while waited < self.wait:
            step = min(self.every or self.wait, self.wait - waited)
            await asyncio.sleep(step)
            waited += step
            if self.every is not None:
                yield HEARTBEAT
        words = ANSWER.split(" ")
        for i, word in enumerate(words):
            if i and self.gap:
                for _ in range(self.beats_between):
                    await asyncio.sleep(self.gap / (self.beats_between + 1))
                    yield HEARTBEAT
                await asyncio.sleep(self.gap / (self.beats_between + 1))
            last = i == len(words) - 1
            yield BackendChunk(word if i == 0 else " " + word, "stop" if last else None)


def settings(**stream: Any) -> Any:
    return make_settings(
        {"a": {}, "b": {}},
        {"chat": {"deployments": ["a", "b"]}},
        retry={"max_attempts": 1, "deadline": 600},
        stream={"first_token_timeout": 1.0, "stall_timeout": 1.0, **stream},
        cache={"enabled": False},
    )


def ask(router: Router) -> list[StreamEvent]:
    async def main(loop: VirtualTimeLoop) -> list[StreamEvent]:
        router.clock = loop.clock
        return [ev async for ev in router.stream(ChatRequest("chat", [Message("user", "the fox?")]))]

    return run_virtual(main)


def test_a_backend_waiting_its_turn_with_heartbeats_is_not_timed_out() -> None:
    a, b = Queued(wait=5.0, every=0.5), ScriptedBackend([Script(answer="other")])
    router = Router(settings(), {"a": a, "b": b})
    events = ask(router)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == ANSWER  # heartbeats never reach the caller
    done = events[-1]
    assert isinstance(done, Done) and done.status == "complete" and done.deployment == "a" and b.calls == []
    # Not a token: the first token came after the wait.
    assert [round(t, 3) for t in router.metrics.recent_ttft()] == [5.0]


def test_without_heartbeats_the_same_wait_is_a_first_token_timeout() -> None:
    a, b = Queued(wait=5.0, every=None), ScriptedBackend([Script(answer="other")])
    router = Router(settings(), {"a": a, "b": b})
    events = ask(router)
    done = events[-1]
    assert isinstance(done, Done) and done.deployment == "b"
    assert router.metrics.error_summary().errors_by_code.get(catalogue.TIMEOUT_FIRST_TOKEN.code) == 1


def test_heartbeats_between_tokens_restart_the_stall_wait() -> None:
    a, b = Queued(wait=0.0, every=None, gap=2.5, beats_between=4), ScriptedBackend([Script(answer="other")])
    router = Router(settings(), {"a": a, "b": b})
    done = ask(router)[-1]
    assert isinstance(done, Done) and done.status == "complete" and done.deployment == "a"


def test_heartbeats_do_not_bound_a_request_past_its_deadline() -> None:
    a = Queued(wait=1000.0, every=0.5)
    router = Router(
        make_settings({"a": {}}, {"chat": {"deployments": ["a"]}}, retry={"max_attempts": 1, "deadline": 30}, cache={"enabled": False}),
        {"a": a},
    )

    async def main(loop: VirtualTimeLoop) -> str:
        router.clock = loop.clock
        try:
            async for _ in router.stream(ChatRequest("chat", [Message("user", "the fox?")])):
                pass
        except Exception as exc:
            return str(getattr(exc, "code", exc))
        return "answered"

    assert run_virtual(main) == catalogue.TIMEOUT_DEADLINE.code


def test_a_heartbeat_does_not_win_a_hedge() -> None:
    a, b = Queued(wait=10.0, every=0.2), ScriptedBackend([Script(answer=ANSWER, first_delay=1.0)])
    router = Router(
        make_settings(
            {"a": {}, "b": {}},
            {"chat": {"deployments": ["a", "b"], "hedge_after": 0.5}},
            retry={"max_attempts": 1},
            stream={"first_token_timeout": 30.0},
            cache={"enabled": False},
        ),
        {"a": a, "b": b},
    )
    done = ask(router)[-1]
    assert isinstance(done, Done) and done.deployment == "b"
