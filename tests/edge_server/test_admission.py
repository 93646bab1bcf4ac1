from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.router import Router
from llm_runner_router.core.testing import Script, ScriptedBackend
from llm_runner_router.core.types import ChatRequest, Delta, Done, Message, StreamEvent
from llm_runner_router.edge.admission import Admission
from llm_runner_router.edge.answer import Answer, admit
from tests.core.helpers import make_settings


def test_runs_waits_then_refuses_with_retry_after() -> None:
    async def main() -> None:
        adm = Admission(max_concurrency=1, queue_size=1)
        await adm.acquire()
        waiter = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        assert (adm.active, adm.waiting) == (1, 1)
        with pytest.raises(LLMError) as info:
            await adm.acquire()
        assert info.value.code == catalogue.RATE_QUEUE_FULL.code and info.value.http_status == 429
        assert info.value.retry_after is not None and info.value.retry_after >= 1
        adm.release(0.5)  # the slot passes to the waiter
        await waiter
        assert (adm.active, adm.waiting, adm.rejected) == (1, 0, 1)
        adm.release(0.5)
        assert adm.active == 0 and adm.pressure == 0

    asyncio.run(main())


def test_a_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def main() -> None:
        adm = Admission(max_concurrency=1, queue_size=5)
        await adm.acquire()
        w1 = asyncio.ensure_future(adm.acquire())
        w2 = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        w1.cancel()
        await asyncio.sleep(0)
        adm.release(0.1)
        await w2
        assert (adm.active, adm.waiting) == (1, 0)
        adm.release(0.1)
        assert adm.active == 0

    asyncio.run(main())


def test_slot_context_manager() -> None:
    async def main() -> None:
        adm = Admission(2, 0)
        async with adm.slot(), adm.slot():
            assert adm.active == 2 and adm.pressure == 1
            with pytest.raises(LLMError):
                await adm.acquire()
        assert adm.active == 0

    asyncio.run(main())


# --- what feeds the Retry-After estimate ------------------------------------------------------


def test_a_release_without_a_duration_leaves_the_estimate_alone() -> None:
    async def main() -> None:
        adm = Admission(max_concurrency=1, queue_size=4)
        await adm.acquire()
        adm.release(4.0)  # one completed answer of 4 s: the queue drains one request per 4 s
        assert adm.retry_after() == 4.0
        for _ in range(70):  # failures and cancellations say nothing about how long answers take
            await adm.acquire()
            adm.release(None)
        assert adm.retry_after() == 4.0 and adm.active == 0

    asyncio.run(main())


class RecordingAdmission(Admission):
    """An Admission that remembers what each release was given."""

    def __init__(self, max_concurrency: int = 4, queue_size: int = 4) -> None:
        super().__init__(max_concurrency, queue_size)
        self.released: list[float | None] = []

    def release(self, duration: float | None) -> None:
        self.released.append(duration)
        super().release(duration)


ANSWER = "one two three four five six"


def router_for(*scripts: Script) -> tuple[Router, ScriptedBackend]:
    """A router with one deployment ``a`` (alias ``chat``) playing ``scripts``; one attempt, cache on."""
    backend = ScriptedBackend(list(scripts))
    settings = make_settings(
        {"a": {}},
        {"chat": {"deployments": ["a"]}},
        retry={"max_attempts": 1, "initial_delay": 0.0, "jitter": False},
        stream={"first_token_timeout": 5, "stall_timeout": 5},
    )
    return Router(settings, {"a": backend}), backend


def ask(model: str = "chat") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", "hi")])


async def read_all(answer: Answer) -> tuple[str, Done]:
    text, done = "", None
    async for ev in answer:
        if isinstance(ev, Delta):
            text += ev.text
        elif isinstance(ev, Done):
            done = ev
    await answer.aclose()
    assert done is not None
    return text, done


def test_an_unknown_model_is_refused_before_it_takes_a_slot() -> None:
    async def main() -> None:
        router, backend = router_for(Script(answer=ANSWER))
        adm = RecordingAdmission(max_concurrency=1, queue_size=0)
        await adm.acquire()  # every slot taken, no queue: a request that took a slot would get a 429
        for i in range(70):
            with pytest.raises(LLMError) as info:
                await admit(router, adm, ask(f"no-such-model-{i}"))
            assert info.value.code == catalogue.MODEL_NOT_FOUND.code and info.value.http_status == 404
        assert (adm.active, adm.waiting, adm.rejected, adm.released) == (1, 0, 0, [])
        assert backend.calls == []

    asyncio.run(main())


def test_a_completed_answer_frees_its_slot_when_generation_ends_and_feeds_its_duration() -> None:
    async def main() -> None:
        router, _ = router_for(Script(answer=ANSWER, delay=0.01))
        adm = RecordingAdmission(max_concurrency=1)
        started = time.monotonic()
        answer = await admit(router, adm, ask())
        assert adm.active == 1
        # Nobody reads the answer: the slot is freed all the same once the router is done.
        for _ in range(500):
            if adm.active == 0:
                break
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
        assert adm.active == 0
        [duration] = adm.released
        assert duration is not None and 0.04 <= duration <= took
        # And the whole answer is still there for the reader, from the buffer.
        text, done = await read_all(answer)
        assert (text, done.status) == (ANSWER, "complete")
        assert adm.released == [duration]

    asyncio.run(main())


def test_an_answer_that_fails_before_its_first_event_releases_without_a_duration() -> None:
    async def main() -> None:
        router, _ = router_for(Script(error=catalogue.NET_UPSTREAM_ERROR.error()))
        adm = RecordingAdmission()
        with pytest.raises(LLMError) as info:
            await admit(router, adm, ask())
        assert info.value.http_status >= 500
        assert (adm.active, adm.released) == (0, [None])

    asyncio.run(main())


def test_an_answer_cut_midway_releases_without_a_duration() -> None:
    async def main() -> None:
        router, _ = router_for(Script(answer=ANSWER, error=catalogue.NET_CONNECTION_RESET.error(), fail_after=2))
        adm = RecordingAdmission()
        text, done = await read_all(await admit(router, adm, ask()))
        assert (text, done.status) == ("one two", "incomplete")
        assert (adm.active, adm.released) == (0, [None])

    asyncio.run(main())


def test_an_error_raised_after_the_first_event_reaches_the_reader_and_releases_without_a_duration() -> None:
    async def events() -> AsyncIterator[StreamEvent]:
        yield Delta(" two", "a")
        raise catalogue.NET_CONNECTION_RESET.error()

    async def main() -> None:
        adm = RecordingAdmission()
        await adm.acquire()
        answer = Answer(adm, events(), Delta("one", "a"), time.monotonic())
        seen: list[StreamEvent] = []
        with pytest.raises(LLMError) as info:
            async for ev in answer:
                seen.append(ev)
        assert info.value.code == catalogue.NET_CONNECTION_RESET.code
        assert seen == [Delta("one", "a"), Delta(" two", "a")]  # in order, before the error
        await answer.aclose()
        assert (adm.active, adm.released) == (0, [None])

    asyncio.run(main())


def test_a_cancelled_answer_releases_without_a_duration_and_stops_generating() -> None:
    async def main() -> None:
        router, backend = router_for(Script(answer=ANSWER, stall_after=2))
        adm = RecordingAdmission()
        answer = await admit(router, adm, ask())
        await asyncio.sleep(0.05)  # the pump is inside the stall now
        assert adm.active == 1
        await answer.aclose()  # the client left
        assert (adm.active, adm.released, backend.cancelled) == (0, [None], 1)
        await answer.aclose()  # twice is harmless
        assert adm.released == [None]

    asyncio.run(main())


def test_a_cached_answer_does_not_feed_the_estimate() -> None:
    async def main() -> None:
        router, _ = router_for(Script(answer=ANSWER), Script(error=catalogue.NET_UNAVAILABLE.error()))
        adm = RecordingAdmission()
        text, done = await read_all(await admit(router, adm, ask()))
        assert (text, done.status) == (ANSWER, "complete")
        text, done = await read_all(await admit(router, adm, ask()))  # the backend fails now: the cache answers
        assert (text, done.status) == (ANSWER, "cached")
        assert len(adm.released) == 2 and adm.released[0] is not None and adm.released[1] is None
        assert adm.active == 0

    asyncio.run(main())
