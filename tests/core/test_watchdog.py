from __future__ import annotations

import asyncio
from typing import Any

from llm_runner_router.core import catalogue
from llm_runner_router.core.testing import VirtualTimeLoop, run_virtual
from llm_runner_router.core.watchdog import HELD_RECHECK, Watchdogs


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


class BrowserLikeLoop(VirtualTimeLoop):
    """As Pyodide's WebLoop: its clock moves while Python runs, and it refuses to schedule in the past."""

    def time(self) -> float:
        self.advance(1e-6)
        return super().time()

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        return self.call_later(when - self.time(), callback, *args, context=context)

    def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        if delay < 0:
            raise ValueError("Can't schedule in the past")
        return super().call_at(super().time() + delay, callback, *args, context=context)


def test_a_deadline_passed_while_the_caller_holds_a_token_fires_once_it_is_back_on_a_browser_loop() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[float, str, int]:
        hub = Watchdogs(loop)
        task = asyncio.current_task()
        assert task is not None
        t0 = loop.time()
        w = hub.watch(task, 10.0, 10.0, t0 + 1.0)
        w.first = False
        w.since = -1.0  # the caller holds a token past the deadline
        await asyncio.sleep(2.0)
        ticks = w._entry  # each look at the held watch pushes one heap entry
        w.since = loop.time()  # back: waiting on the backend again
        try:
            await asyncio.sleep(5.0)
        except asyncio.CancelledError:
            task.uncancel()
        assert w.fired is not None
        return loop.time() - t0, w.fired.code, ticks

    loop = BrowserLikeLoop()
    outer = asyncio.events._get_running_loop()  # inside Pyodide the browser's loop counts as running (as run_virtual)
    asyncio.events._set_running_loop(None)
    try:
        took, code, entries = loop.run_until_complete(main(loop))
    finally:
        loop.close()
        asyncio.events._set_running_loop(outer)
    assert code == catalogue.TIMEOUT_DEADLINE.code
    assert 2.0 <= took <= 2.0 + 2 * HELD_RECHECK  # caught at the next look, not never (a timer lost) or later
    assert entries <= 1.0 / HELD_RECHECK + 5  # looked at every HELD_RECHECK while held, not in a tight loop
