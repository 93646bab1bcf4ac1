"""Restarts are bounded per answer, but running out of them passes over one deployment, not every one left.

Regression: once ``stream.max_restarts`` restarts were used on a deployment
that cannot continue a prefix, the router dropped every deployment still
queued and ended the answer incomplete, though the next one could have
continued it.
"""

from __future__ import annotations

from llm_runner_router.core import catalogue
from llm_runner_router.core.router import Router
from llm_runner_router.core.testing import Script, ScriptedBackend, run_virtual
from llm_runner_router.core.types import ChatRequest, Done, Message, Restart, StreamEvent, Switch
from tests.core.helpers import make_settings

ANSWER = "The quick brown fox jumps over the lazy dog."


def test_out_of_restarts_on_one_deployment_the_next_one_continues_the_answer() -> None:
    # "a" cannot continue a prefix and keeps breaking after two pieces; "b" is healthy and can continue.
    a = ScriptedBackend([Script(answer=ANSWER, error=catalogue.STREAM_CUT.error(), fail_after=2, reject_prefix=True)])
    b = ScriptedBackend([Script(answer=ANSWER)])
    settings = make_settings(
        {"a": {"accepts_prefix": False}, "b": {"accepts_prefix": True}},
        {"chat": {"deployments": ["a", "b"]}},
        retry={"max_attempts": 4, "initial_delay": 0.01},
        stream={"max_restarts": 2},
    )
    router = Router(settings, {"a": a, "b": b})

    async def main(loop: object) -> list[StreamEvent]:
        return [ev async for ev in router.stream(ChatRequest("chat", [Message("user", "the fox?")]))]

    events = run_virtual(main)
    restarts = [e for e in events if isinstance(e, Restart)]
    switches = [e for e in events if isinstance(e, Switch)]
    assert len(restarts) == 2  # the bound holds
    assert len(a.calls) == 3 and len(switches) == 1 and switches[0].to_deployment == "b"
    assert b.calls[0].prefix == "The quick"  # what the caller holds since the last restart
    done = events[-1]
    assert isinstance(done, Done) and done.status == "complete" and done.deployment == "b"
