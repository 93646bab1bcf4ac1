from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.router import Router
from llm_runner_router.core.store import MemoryStore
from llm_runner_router.core.testing import Script, ScriptedBackend, VirtualTimeLoop, run_virtual
from llm_runner_router.core.types import ChatRequest, Delta, Done, Message, Restart, StreamEvent, Switch
from tests.core.helpers import make_settings

ANSWER = "The quick brown fox jumps over the lazy dog."
MESSAGES = [Message("user", "Tell me about the fox.")]


def two_deployments(**alias: Any) -> Any:
    return make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"], **alias}})


def request(**kw: Any) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", "chat"), messages=kw.pop("messages", MESSAGES), **kw)


async def collect(router: Router, req: ChatRequest) -> list[StreamEvent]:
    return [ev async for ev in router.stream(req)]


def visible_text(events: list[StreamEvent]) -> str:
    """What a caller that honours Restart events ends up showing."""
    out = ""
    for ev in events:
        if isinstance(ev, Delta):
            out += ev.text
        elif isinstance(ev, Restart):
            assert out == ev.discarded
            out = ""
    return out


def test_answers_from_the_first_deployment() -> None:
    a, b = ScriptedBackend([Script(answer=ANSWER)]), ScriptedBackend([Script(answer="other")])
    router = Router(two_deployments(), {"a": a, "b": b})

    async def main(loop: VirtualTimeLoop) -> Any:
        router.clock = loop.clock
        return await router.complete(request())

    done = run_virtual(main)
    assert (done.text, done.status, done.deployment, done.finish_reason, done.attempts) == (ANSWER, "complete", "a", "stop", 1)
    assert done.usage is not None and done.usage.completion_tokens == len(ANSWER.split())
    assert b.calls == []
    assert router.metrics.full_summary()["errors"]["total_errors"] == 0


def test_retries_with_backoff_then_falls_back() -> None:
    a = ScriptedBackend([Script(error=catalogue.NET_UPSTREAM_ERROR.error())])
    b = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> Any:
        router = Router(two_deployments(), {"a": a, "b": b}, clock=loop.clock)
        t0 = loop.time()
        done = await router.complete(request())
        return done, loop.time() - t0, router

    done, waited, router = run_virtual(main)
    assert done.text == ANSWER and done.deployment == "b" and done.attempts == 3
    assert len(a.calls) == 2  # max_attempts=2 on a, then b
    assert waited == pytest.approx(1.0)  # one backoff of initial_delay (no jitter)
    assert router.metrics.retry_summary().total_retries == 1


def test_retry_after_is_honoured_and_capped() -> None:
    limited = catalogue.RATE_LIMITED.error(retry_after=7.0)
    a = ScriptedBackend([Script(error=limited), Script(answer=ANSWER)])
    huge = catalogue.RATE_LIMITED.error(retry_after=10_000.0)
    c = ScriptedBackend([Script(error=huge), Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> tuple[float, float]:
        s = make_settings(
            {"a": {}, "c": {}}, retry={"max_attempts": 3, "initial_delay": 0.1, "jitter": False, "retry_after_cap": 30, "deadline": 600}
        )
        router = Router(s, {"a": a, "c": c}, clock=loop.clock)
        t0 = loop.time()
        assert (await router.complete(request(model="a"))).text == ANSWER
        t1 = loop.time()
        assert (await router.complete(request(model="c"))).text == ANSWER
        return t1 - t0, loop.time() - t1

    first, second = run_virtual(main)
    assert first == pytest.approx(7.0)
    assert second == pytest.approx(30.0)


def test_non_retryable_error_is_never_retried() -> None:
    a = ScriptedBackend([Script(error=catalogue.AUTH_UPSTREAM_REJECTED.error())])
    b = ScriptedBackend([Script(answer=ANSWER)])
    router = Router(two_deployments(), {"a": a, "b": b})
    done = run_virtual(lambda loop: router.complete(request()))
    assert len(a.calls) == 1 and done.deployment == "b"


def test_content_filter_propagates_without_fallback() -> None:
    a = ScriptedBackend([Script(error=catalogue.API_CONTENT_FILTERED.error("flagged by the safety system"))])
    b = ScriptedBackend([Script(answer=ANSWER)])
    router = Router(two_deployments(), {"a": a, "b": b})
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: router.complete(request()))
    assert info.value.code == catalogue.API_CONTENT_FILTERED.code
    assert info.value.http_status == 400
    assert b.calls == []
    # The request's fault says nothing about the deployment's health.
    assert router.breakers.get(("a", "m-a", "chat/completions")).consecutive_failures == 0


def test_context_length_goes_to_a_larger_window_only() -> None:
    s = make_settings(
        {"small": {"context_window": 2048}, "tiny": {"context_window": 1024}, "big": {"context_window": 128000}},
        {"chat": {"deployments": ["small", "tiny", "big"]}},
    )
    small = ScriptedBackend([Script(error=ValueError("Requested tokens (3000) exceed context window of 2048"))])
    tiny, big = ScriptedBackend([Script(answer="tiny")]), ScriptedBackend([Script(answer=ANSWER)])
    router = Router(s, {"small": small, "tiny": tiny, "big": big})
    done = run_virtual(lambda loop: router.complete(request()))
    assert done.deployment == "big" and done.text == ANSWER
    assert tiny.calls == []


def test_context_length_with_no_larger_window_is_the_callers_error() -> None:
    small = ScriptedBackend([Script(error=catalogue.RUNTIME_CONTEXT_LENGTH.error())])
    router = Router(make_settings({"small": {}}), {"small": small})
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: router.complete(request(model="small")))
    assert info.value.code == catalogue.RUNTIME_CONTEXT_LENGTH.code and info.value.http_status == 400


def test_mid_stream_failover_continues_without_repeating_or_losing_text() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, error=ConnectionResetError("peer reset"), fail_after=3)])
    b = ScriptedBackend([Script(answer=ANSWER)])
    s = make_settings({"a": {}, "b": {"accepts_prefix": True}}, {"chat": {"deployments": ["a", "b"]}}, retry={"max_attempts": 1})
    router = Router(s, {"a": a, "b": b})
    events = run_virtual(lambda loop: collect(router, request()))
    assert visible_text(events) == ANSWER
    assert "".join(e.text for e in events if isinstance(e, Delta)) == ANSWER  # nothing repeated
    switches = [e for e in events if isinstance(e, Switch)]
    assert len(switches) == 1 and switches[0].error.code == catalogue.NET_CONNECTION_RESET.code
    assert b.calls[0].prefix == "The quick brown"
    done = events[-1]
    assert isinstance(done, Done) and done.status == "complete" and done.deployment == "b"


def test_fallback_that_refuses_a_prefix_restarts_cleanly_and_is_remembered() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, error=catalogue.STREAM_CUT.error(), fail_after=2)])
    b = ScriptedBackend([Script(answer=ANSWER, reject_prefix=True)])
    s = make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, retry={"max_attempts": 1})
    router = Router(s, {"a": a, "b": b})
    events = run_virtual(lambda loop: collect(router, request()))
    restarts = [e for e in events if isinstance(e, Restart)]
    assert len(restarts) == 1 and restarts[0].discarded == "The quick"
    assert visible_text(events) == ANSWER
    assert isinstance(events[-1], Done) and events[-1].status == "complete"
    assert router.hints.accepts_prefix(("b", "m-b", "chat/completions")) is False
    assert [c.prefix for c in b.calls] == ["The quick", ""]


def test_a_callers_prefix_is_continued_and_never_repeated() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, error=catalogue.STREAM_CUT.error(), fail_after=2)])
    b = ScriptedBackend([Script(answer=ANSWER)])
    s = make_settings(
        {"a": {"accepts_prefix": True}, "b": {"accepts_prefix": True}}, {"chat": {"deployments": ["a", "b"]}}, retry={"max_attempts": 1}
    )
    router = Router(s, {"a": a, "b": b})
    events = run_virtual(lambda loop: collect(router, request(prefix="The quick")))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == ANSWER.removeprefix("The quick")
    assert [c.prefix for c in a.calls] == ["The quick"]
    assert [c.prefix for c in b.calls] == ["The quick brown fox"]  # the caller's prefix, then a's text
    assert isinstance(events[-1], Done) and events[-1].status == "complete"


def test_a_callers_prefix_skips_deployments_that_cannot_continue_it() -> None:
    a, b = ScriptedBackend([Script(answer=ANSWER)]), ScriptedBackend([Script(answer=ANSWER)])
    s = make_settings({"a": {"accepts_prefix": False}, "b": {}}, {"chat": {"deployments": ["a", "b"]}})
    router = Router(s, {"a": a, "b": b})
    done = run_virtual(lambda loop: router.complete(request(prefix="The quick")))
    assert a.calls == [] and done.deployment == "b" and done.text == ANSWER.removeprefix("The quick")


def test_a_callers_prefix_is_never_restarted_away() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, error=catalogue.STREAM_CUT.error(), fail_after=2)])
    b = ScriptedBackend([Script(answer=ANSWER, reject_prefix=True)])
    s = make_settings({"a": {"accepts_prefix": True}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, retry={"max_attempts": 1})
    router = Router(s, {"a": a, "b": b})
    events = run_virtual(lambda loop: collect(router, request(prefix="The")))
    assert not any(isinstance(e, Restart) for e in events)
    done = events[-1]
    assert isinstance(done, Done) and done.status == "incomplete" and done.error is not None


def test_nothing_can_finish_ends_incomplete_never_complete() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, error=catalogue.STREAM_CUT.error(), fail_after=4)])
    b = ScriptedBackend([Script(error=catalogue.NET_UNAVAILABLE.error())])
    s = make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, retry={"max_attempts": 1})
    router = Router(s, {"a": a, "b": b})
    done = run_virtual(lambda loop: router.complete(request()))
    assert done.status == "incomplete" and not done.complete
    assert done.text == "The quick brown fox"
    assert done.error is not None and done.error.code == catalogue.RETRY_ALL_FAILED.code
    assert done.finish_reason is None


def test_a_retry_on_the_same_deployment_continues_the_answer() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, error=catalogue.STREAM_CUT.error(), fail_after=4), Script(answer=ANSWER)])
    router = Router(make_settings({"a": {}}), {"a": a})
    events = run_virtual(lambda loop: collect(router, request(model="a")))
    assert visible_text(events) == ANSWER
    assert "".join(e.text for e in events if isinstance(e, Delta)) == ANSWER
    assert [c.prefix for c in a.calls] == ["", "The quick brown fox"]


def test_first_token_deadline_moves_on() -> None:
    a = ScriptedBackend([Script(answer="slow", first_delay=100.0)])
    b = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> Any:
        s = make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, stream={"first_token_timeout": 5, "stall_timeout": 2})
        router = Router(s, {"a": a, "b": b}, clock=loop.clock)
        t0 = loop.time()
        done = await router.complete(request())
        return done, loop.time() - t0, router

    done, took, router = run_virtual(main)
    assert done.deployment == "b" and took == pytest.approx(5.0)
    assert a.cancelled == 1
    assert router.metrics.error_summary().errors_by_code == {catalogue.TIMEOUT_FIRST_TOKEN.code: 1}


def test_stall_mid_stream_continues_elsewhere() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, stall_after=2)])
    b = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> Any:
        s = make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, stream={"stall_timeout": 3})
        router = Router(s, {"a": a, "b": b}, clock=loop.clock)
        return await collect(router, request()), loop.time()

    events, _ = run_virtual(main)
    assert visible_text(events) == ANSWER
    assert [e.error.code for e in events if isinstance(e, Switch)] == [catalogue.STREAM_STALL.code]


def test_stall_shorter_than_first_token_limit_is_caught_on_time() -> None:
    # The watch's timer was set for the first-token limit; after the first
    # token the shorter stall limit must apply at once, not when that timer fires.
    a = ScriptedBackend([Script(answer=ANSWER, stall_after=2)])
    b = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> Any:
        s = make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, stream={"first_token_timeout": 30, "stall_timeout": 5})
        router = Router(s, {"a": a, "b": b}, clock=loop.clock)
        start = loop.time()
        return await collect(router, request()), loop.time() - start

    events, took = run_virtual(main)
    assert visible_text(events) == ANSWER
    assert [e.error.code for e in events if isinstance(e, Switch)] == [catalogue.STREAM_STALL.code]
    assert took == pytest.approx(5.0)


def test_request_kind_reaches_the_backend() -> None:
    a = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> Any:
        router = Router(make_settings({"a": {}}), {"a": a}, clock=loop.clock)
        return await collect(router, ChatRequest("a", MESSAGES, kind="text"))

    run_virtual(main)
    assert [c.kind for c in a.calls] == ["text"]


def test_slow_consumer_is_not_a_stall() -> None:
    a = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> list[StreamEvent]:
        s = make_settings({"a": {}}, stream={"stall_timeout": 1, "first_token_timeout": 1})
        router = Router(s, {"a": a}, clock=loop.clock)
        out = []
        async for ev in router.stream(request(model="a")):
            out.append(ev)
            await asyncio.sleep(5)  # the caller is slow, the backend is not
        return out

    events = run_virtual(main)
    assert visible_text(events) == ANSWER and isinstance(events[-1], Done) and events[-1].status == "complete"


def test_hedging_takes_the_first_to_answer_and_cancels_the_other() -> None:
    a = ScriptedBackend([Script(answer="slow answer", first_delay=10.0)])
    b = ScriptedBackend([Script(answer=ANSWER, first_delay=0.5)])

    async def main(loop: VirtualTimeLoop) -> Any:
        router = Router(two_deployments(hedge_after=1.0), {"a": a, "b": b}, clock=loop.clock)
        t0 = loop.time()
        done = await router.complete(request())
        return done, loop.time() - t0, router

    done, took, router = run_virtual(main)
    assert done.text == ANSWER and done.deployment == "b"
    assert took == pytest.approx(1.5)
    assert a.cancelled == 1
    breaker = router.breakers.get(("a", "m-a", "chat/completions"))
    assert breaker.consecutive_failures == 0  # losing a race is not a failure


def test_hedge_not_needed_when_primary_is_quick() -> None:
    a, b = ScriptedBackend([Script(answer=ANSWER, first_delay=0.2)]), ScriptedBackend([Script(answer="b")])
    router = Router(two_deployments(hedge_after=1.0), {"a": a, "b": b})
    done = run_virtual(lambda loop: router.complete(request()))
    assert done.deployment == "a" and b.calls == []


def test_cache_serves_only_when_every_deployment_failed() -> None:
    good = [Script(answer=ANSWER)]
    a = ScriptedBackend(lambda req: good[0])
    router = Router(make_settings({"a": {}}), {"a": a})
    first = run_virtual(lambda loop: router.complete(request(model="a")))
    assert first.status == "complete"
    good[0] = Script(error=catalogue.NET_UNAVAILABLE.error())
    second = run_virtual(lambda loop: router.complete(request(model="a")))
    assert (second.status, second.text, second.deployment) == ("cached", ANSWER, "a")
    assert second.error is not None and second.error.code == catalogue.RETRY_ALL_FAILED.code
    # A different question is not in the cache.
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: router.complete(request(model="a", messages=[Message("user", "other")])))
    assert info.value.code == catalogue.RETRY_ALL_FAILED.code and info.value.http_status == 503
    summary = router.metrics.fallback_summary()
    assert summary.cache_hits == 1 and summary.cache_misses == 1


def test_breaker_opens_skips_then_probes_after_cooldown() -> None:
    state = {"fail": True}
    a = ScriptedBackend(lambda req: Script(error=catalogue.NET_UPSTREAM_ERROR.error()) if state["fail"] else Script(answer=ANSWER))
    b = ScriptedBackend([Script(answer="from b")])

    async def main(loop: VirtualTimeLoop) -> Any:
        s = make_settings(
            {"a": {}, "b": {}},
            {"chat": {"deployments": ["a", "b"]}},
            retry={"max_attempts": 1},
            breaker={"failure_threshold": 3, "cooldown": 60, "success_threshold": 1},
            cache={"enabled": False},
        )
        router = Router(s, {"a": a, "b": b}, clock=loop.clock)
        for _ in range(3):
            assert (await router.complete(request())).deployment == "b"
        calls_when_open = len(a.calls)
        assert (await router.complete(request())).deployment == "b"
        assert len(a.calls) == calls_when_open  # skipped while open
        await asyncio.sleep(61)
        state["fail"] = False
        done = await router.complete(request())
        return done, router

    done, router = run_virtual(main)
    assert done.deployment == "a"
    breaker = router.breakers.get(("a", "m-a", "chat/completions"))
    assert [t.new.value for t in breaker.transitions] == ["open", "half_open", "closed"]
    assert router.metrics.breaker_summary("a/m-a/chat/completions").opens_count == 1


def test_all_breakers_open_is_a_clear_error_with_retry_after() -> None:
    a = ScriptedBackend([Script(answer=ANSWER)])
    router = Router(make_settings({"a": {}}), {"a": a})
    router.breakers.get(("a", "m-a", "chat/completions")).isolate("maintenance")
    router.cache.clear()
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: router.complete(request(model="a")))
    assert info.value.code == catalogue.RETRY_NO_CANDIDATE.code
    assert info.value.context["skipped"] == [catalogue.CB_ISOLATED.code]


def test_endpoint_is_learned_and_remembered() -> None:
    def script(req: Any) -> Script:
        if req.endpoint == "chat/completions":
            return Script(error=catalogue.API_WRONG_ENDPOINT.error(suggested_endpoint="responses"))
        return Script(answer=ANSWER)

    a = ScriptedBackend(script)
    store = MemoryStore()
    router = Router(make_settings({"a": {}}), {"a": a}, store=store)
    assert run_virtual(lambda loop: router.complete(request(model="a"))).text == ANSWER
    assert run_virtual(lambda loop: router.complete(request(model="a"))).text == ANSWER
    assert [c.endpoint for c in a.calls] == ["chat/completions", "responses", "responses"]
    # A new router on the same store starts knowing it.
    again = Router(make_settings({"a": {}}), {"a": a}, store=store)
    assert again.hints.endpoint_for(("a", "m-a", "chat/completions")) == "responses"


def test_unsupported_parameter_is_stripped_and_remembered() -> None:
    def script(req: Any) -> Script:
        if "top_p" in req.params:
            return Script(error=catalogue.API_UNSUPPORTED_PARAMETER.error(param="top_p"))
        return Script(answer=ANSWER)

    a = ScriptedBackend(script)
    router = Router(make_settings({"a": {}}), {"a": a})
    req = request(model="a", params={"top_p": 0.9, "temperature": 0.2})
    assert run_virtual(lambda loop: router.complete(req)).text == ANSWER
    run_virtual(lambda loop: router.complete(req))
    assert [dict(c.params) for c in a.calls] == [{"top_p": 0.9, "temperature": 0.2}, {"temperature": 0.2}, {"temperature": 0.2}]


def test_blacklisted_after_five_failures_without_success() -> None:
    a = ScriptedBackend([Script(error=catalogue.API_MODEL_NOT_FOUND.error())])
    b = ScriptedBackend([Script(answer=ANSWER)])
    s = make_settings(
        {"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, breaker={"failure_threshold": 100}, cache={"enabled": False}
    )
    router = Router(s, {"a": a, "b": b})
    for _ in range(7):
        assert run_virtual(lambda loop: router.complete(request())).deployment == "b"
    assert len(a.calls) == 5
    hint = router.hints.get(("a", "m-a", "chat/completions"))
    assert hint is not None and hint.blacklisted


def test_caller_going_away_cancels_the_backend_and_frees_the_slot() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, delay=1.0)])

    async def main(loop: VirtualTimeLoop) -> Router:
        router = Router(make_settings({"a": {}}), {"a": a}, clock=loop.clock)
        stream = router.stream(request(model="a"))
        async for ev in stream:
            if isinstance(ev, Delta):
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return router

    router = run_virtual(main)
    assert router.stats["a"].inflight == 0
    assert router.breakers.get(("a", "m-a", "chat/completions")).consecutive_failures == 0


def test_caller_cancellation_propagates() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, delay=1.0)])

    async def main(loop: VirtualTimeLoop) -> bool:
        router = Router(make_settings({"a": {}}), {"a": a}, clock=loop.clock)
        task = asyncio.ensure_future(router.complete(request(model="a")))
        await asyncio.sleep(2.5)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return router.stats["a"].inflight == 0
        return False

    assert run_virtual(main) is True
    assert a.cancelled == 1


def test_overall_deadline_ends_the_request() -> None:
    a = ScriptedBackend([Script(answer=ANSWER, delay=4.0)])

    async def main(loop: VirtualTimeLoop) -> Any:
        s = make_settings({"a": {}}, stream={"stall_timeout": 10, "first_token_timeout": 10})
        router = Router(s, {"a": a}, clock=loop.clock)
        return await router.complete(request(model="a", deadline=9.0))

    done = run_virtual(main)
    assert done.status == "incomplete" and done.text == "The quick brown"
    assert done.error is not None and done.error.code == catalogue.TIMEOUT_DEADLINE.code


def test_unknown_model_is_a_404() -> None:
    router = Router(make_settings({"a": {}}), {"a": ScriptedBackend()})
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: router.complete(request(model="nope")))
    assert info.value.code == catalogue.MODEL_NOT_FOUND.code and info.value.http_status == 404


def test_round_robin_rotates_the_first_choice() -> None:
    a, b = ScriptedBackend([Script(answer="a")]), ScriptedBackend([Script(answer="b")])
    router = Router(two_deployments(strategy="round-robin"), {"a": a, "b": b})
    served = [run_virtual(lambda loop: router.complete(request())).deployment for _ in range(4)]
    assert served == ["a", "b", "a", "b"]


def test_capability_filter_skips_a_deployment_with_its_reason() -> None:
    a, b = ScriptedBackend([Script(answer="a")]), ScriptedBackend([Script(answer="b")])

    def no_gpu(dep: Any, req: ChatRequest) -> LLMError | None:
        return catalogue.WEBGPU_UNAVAILABLE.error() if dep.name == "a" else None

    router = Router(two_deployments(), {"a": a, "b": b}, filters=[no_gpu])
    assert run_virtual(lambda loop: router.complete(request())).deployment == "b"
    assert a.calls == []


def test_status_is_json_ready() -> None:
    import json

    router = Router(two_deployments(), {"a": ScriptedBackend(), "b": ScriptedBackend()})
    run_virtual(lambda loop: router.complete(request()))
    status = json.loads(json.dumps(router.status()))
    assert status["deployments"]["a"]["breaker"] == "closed"
    assert status["hints"][0]["success_count"] == 1


def test_a_stream_iterated_from_another_task_is_watched_in_that_task() -> None:
    """Web frameworks take the first event in the request task and the rest in a response task."""
    a = ScriptedBackend([Script(answer=ANSWER, stall_after=3)])
    b = ScriptedBackend([Script(answer=ANSWER)])

    async def main(loop: VirtualTimeLoop) -> list[StreamEvent]:
        s = make_settings({"a": {}, "b": {}}, {"chat": {"deployments": ["a", "b"]}}, stream={"stall_timeout": 2})
        router = Router(s, {"a": a, "b": b}, clock=loop.clock)
        stream = router.stream(request())
        first = await stream.__anext__()

        async def rest() -> list[StreamEvent]:
            return [first] + [ev async for ev in stream]

        return await asyncio.ensure_future(rest())  # the first task must not be cancelled by the stall

    events = run_virtual(main)
    assert visible_text(events) == ANSWER
    assert [e.error.code for e in events if isinstance(e, Switch)] == [catalogue.STREAM_STALL.code]


# --- hooks for the shells ---------------------------------------------------------------------


def test_a_filter_added_by_a_shell_rules_a_deployment_out() -> None:
    a, b = ScriptedBackend([Script(answer="from a")]), ScriptedBackend([Script(answer=ANSWER)])
    router = Router(two_deployments(), {"a": a, "b": b})
    router.add_filter(lambda dep, req: catalogue.NET_UNAVAILABLE.error("degraded") if dep.name == "a" else None)
    events = run_virtual(lambda loop: collect(router, request()))
    assert visible_text(events) == ANSWER and isinstance(events[-1], Done) and events[-1].deployment == "b"


def test_tune_stream_changes_the_timeouts_and_checks_them() -> None:
    router = Router(two_deployments(), {"a": ScriptedBackend([]), "b": ScriptedBackend([])})
    assert router.tune_stream(first_token_timeout=2.5).first_token_timeout == 2.5
    assert router.settings.stream.first_token_timeout == 2.5
    with pytest.raises(LLMError):
        router.tune_stream(first_token_timeout=-1)
    assert router.settings.stream.first_token_timeout == 2.5
