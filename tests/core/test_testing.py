"""The stand-ins are part of the test seam: they must behave exactly as documented."""

from __future__ import annotations

import asyncio

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.clock import ManualClock
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.store import MemoryStore
from llm_runner_router.core.testing import Script, ScriptedBackend, VirtualTimeLoop, run_virtual, split_words
from llm_runner_router.core.types import BackendRequest, Deployment, Message

DEP = Deployment("d", "p", "m")


def breq(prefix: str = "") -> BackendRequest:
    return BackendRequest(DEP, [Message("user", "hi")], {}, "chat/completions", prefix)


def test_virtual_time_jumps_to_the_next_timer() -> None:
    async def main(loop: VirtualTimeLoop) -> float:
        t0 = loop.time()
        await asyncio.sleep(3600)
        async with asyncio.timeout(5):
            await asyncio.sleep(1)
        return loop.time() - t0

    assert run_virtual(main) == pytest.approx(3601)


def test_virtual_time_timeouts_fire() -> None:
    async def main(loop: VirtualTimeLoop) -> bool:
        try:
            async with asyncio.timeout(5):
                await asyncio.sleep(100)
        except TimeoutError:
            return loop.clock.now() == pytest.approx(loop.time())
        return False

    assert run_virtual(main) is True


def test_a_hang_is_reported_not_waited_for() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        await asyncio.Future()

    with pytest.raises(RuntimeError, match="deadlock"):
        run_virtual(main)


def test_split_words_joins_back() -> None:
    text = "  Hello,  world! This is   spaced "
    assert "".join(split_words(text)) == text
    assert split_words("a b") == ["a", " b"]


def test_scripted_backend_streams_and_continues_after_a_prefix() -> None:
    b = ScriptedBackend([Script(answer="one two three")])

    async def main(loop: VirtualTimeLoop) -> tuple[list[str], list[str]]:
        full = [c.text async for c in b.stream(breq())]
        rest = [c.text async for c in b.stream(breq("one two"))]
        return full, rest

    full, rest = run_virtual(main)
    assert full == ["one", " two", " three"] and rest == [" three"]
    assert [c.prefix for c in b.calls] == ["", "one two"]


def test_scripted_backend_fails_where_told_and_refuses_prefixes() -> None:
    b = ScriptedBackend([Script(answer="a b c", error=ConnectionResetError("x"), fail_after=2), Script(answer="a b c", reject_prefix=True)])

    async def main(loop: VirtualTimeLoop) -> list[str]:
        got: list[str] = []
        with pytest.raises(ConnectionResetError):
            async for c in b.stream(breq()):
                got.append(c.text)
        with pytest.raises(LLMError) as info:
            async for _ in b.stream(breq("a")):
                pass
        assert info.value.code == catalogue.API_PREFILL_UNSUPPORTED.code
        return got

    assert run_virtual(main) == ["a", " b"]


def test_manual_clock_and_memory_store() -> None:
    clock = ManualClock()
    t = clock.now()
    run_virtual(lambda loop: clock.sleep(2.5))
    assert clock.now() - t == 2.5 and clock.slept == [2.5]
    with pytest.raises(ValueError):
        clock.advance(-1)
    store = MemoryStore()
    store.save("ns", "k", {"a": 1})
    assert store.load("ns") == {"k": {"a": 1}}
    store.delete("ns", "k")
    assert store.load("ns") == {} and store.load("other") == {}
