"""Admission: a bounded number of requests run, a bounded number wait, the rest get 429.

A request that cannot even wait is refused at once with LLM_RATE_002 and a
Retry-After estimated from recent request durations, instead of piling up
until clients time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

from llm_runner_router.core import catalogue

__all__ = ["Admission"]


class Admission:
    def __init__(self, max_concurrency: int, queue_size: int) -> None:
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self.active = 0
        self.waiting = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._durations: deque[float] = deque(maxlen=64)

    @property
    def pressure(self) -> float:
        """0 when idle, 1 when every slot and every queue place is taken."""
        return (self.active + self.waiting) / (self.max_concurrency + self.queue_size)

    def retry_after(self) -> float:
        typical = sorted(self._durations)[len(self._durations) // 2] if self._durations else 1.0
        # The queue drains max_concurrency requests per typical duration.
        return max(1.0, round(typical * (self.waiting + 1) / self.max_concurrency, 1))

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if need be; LLM_RATE_002 when the queue is full too."""
        if self.active < self.max_concurrency:
            self.active += 1
            return
        if self.waiting >= self.queue_size:
            self.rejected += 1
            raise catalogue.RATE_QUEUE_FULL.error(
                retry_after=self.retry_after(), active=self.active, waiting=self.waiting, queue_size=self.queue_size
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.waiting += 1
        try:
            await waiter  # resolved by release(): the slot is handed over, `active` unchanged
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(None)  # handed a slot just as we gave up: pass it on
            raise
        finally:
            self.waiting -= 1

    def release(self, duration: float | None) -> None:
        """Free a slot (handing it to the next waiter); ``duration`` feeds the Retry-After estimate."""
        if duration is not None:
            self._durations.append(duration)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        started = time.monotonic()
        try:
            yield
        finally:
            self.release(time.monotonic() - started)
