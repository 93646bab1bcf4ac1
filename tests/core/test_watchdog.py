from __future__ import annotations

import asyncio

from llm_runner_router.core import catalogue
from llm_runner_router.core.testing import VirtualTimeLoop, run_virtual
from llm_runner_router.core.watchdog import Watchdogs


async def wait_forever() -> None:
    await asyncio.Future()


def test_each_watch_fires_at_its_own_deadline_on_one_shared_timer() -> None:
    async def main(loop: VirtualTimeLoop) -> list[tuple[str, float, str]]:
        hub = Watchdogs(loop)
        fired: list[tuple[str, float, str]] = []

        async def watched(name: str, first: float, deadline: float | None) -> None:
            task = asyncio.current_task()
            assert task is not None
            w = hub.watch(task, first, 100.0, deadline)
            try:
                await wait_forever()
            except asyncio.CancelledError:
                task.uncancel()
                assert w.fired is not None
                fired.append((name, loop.time(), w.fired.code))

        t0 = loop.time()
        await asyncio.gather(watched("slow", 9.0, None), watched("fast", 2.0, None), watched("deadline", 50.0, t0 + 5.0))
        return [(n, t - t0, c) for n, t, c in fired]

    assert run_virtual(main) == [
        ("fast", 2.0, catalogue.TIMEOUT_FIRST_TOKEN.code),
        ("deadline", 5.0, catalogue.TIMEOUT_DEADLINE.code),
        ("slow", 9.0, catalogue.TIMEOUT_FIRST_TOKEN.code),
    ]


def test_tokens_push_the_stall_deadline_and_held_tokens_do_not_count() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[float, str]:
        hub = Watchdogs(loop)
        task = asyncio.current_task()
        assert task is not None
        w = hub.watch(task, 1.0, 3.0, None)
        t0 = loop.time()
        for _ in range(5):  # a token every 2 s: never a stall
            await asyncio.sleep(0.5)
            w.first = False
            w.since = -1.0  # the caller holds the token for a long time
            await asyncio.sleep(10)
            w.since = loop.time()
            await asyncio.sleep(1.5)
        try:
            await wait_forever()
        except asyncio.CancelledError:
            task.uncancel()
        assert w.fired is not None
        return loop.time() - t0, w.fired.code

    took, code = run_virtual(main)
    assert code == catalogue.STREAM_STALL.code
    assert took == 5 * 12.0 + 1.5  # 1.5 s into the last 3 s window


def test_stopped_watches_are_dropped_and_never_fire() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[int, int]:
        hub = Watchdogs(loop)
        task = asyncio.current_task()
        assert task is not None
        for _ in range(1000):
            hub.watch(task, 30.0, 30.0, None).stop()
        live = len(hub)
        await asyncio.sleep(60)  # nothing may cancel us
        return live, len(hub._heap)

    live, left = run_virtual(main)
    assert live == 0 and left == 0
