"""Stream deadlines: time to first token, gaps between tokens, the overall deadline.

Every attempt the router makes is watched, and most attempts finish long
before any deadline. So all watches of one event loop share one loop timer
(:class:`Watchdogs`), set for the earliest deadline; starting and stopping a
watch is a heap push and a flag, not a timer each. A watch's deadline moves
with every token, so the timer re-checks lazily when it fires.

A watch cancels its task only while the router is waiting on the backend
(``since >= 0``): the time the caller spends with a token is not the
backend's stall.

The timer is armed with ``call_later`` and a delay never below zero: Pyodide's
browser loop (``pyodide.webloop.WebLoop``) refuses to schedule in the past,
and its clock moves on while Python runs, so a ``call_at`` for a moment just
passed would raise in the timer's own callback and leave every watch unarmed.
A watch whose overall deadline has passed while the caller holds a token is
looked at again every :data:`HELD_RECHECK` seconds until the caller is back,
not in a tight loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any, Final

from . import catalogue
from .errors import LLMError

__all__ = ["HELD_RECHECK", "Watch", "Watchdogs"]

HELD_RECHECK: Final = 0.05  # seconds between looks at a watch past its deadline whose caller holds a token


class Watch:
    __slots__ = ("_hub", "_entry", "task", "first_limit", "stall_limit", "deadline", "since", "first", "fired", "stopped")

    def __init__(self, hub: Watchdogs, task: asyncio.Task[Any], first_limit: float, stall_limit: float, deadline: float | None) -> None:
        self._hub = hub
        self.task = task  # the task to cancel: the one iterating the stream now (it can change between tokens)
        self.first_limit = first_limit
        self.stall_limit = stall_limit
        self.deadline = deadline
        self.since = hub.loop.time()  # when the wait for the next token began; -1 while the caller holds one
        self.first = True  # still waiting for the first token
        self.fired: LLMError | None = None  # why the task was cancelled, if it was
        self.stopped = False
        self._entry = -1  # sequence number of this watch's live heap entry

    def first_token(self) -> None:
        """The first token came: from now on the (usually shorter) stall limit applies."""
        self.first = False
        if self.stall_limit < self.first_limit and not self.stopped:
            # The heap entry still says the first-token due time; one that
            # late would catch a stall late, so schedule the earlier check.
            self._hub._reschedule(self)

    def due(self, now: float) -> tuple[float, bool]:
        """When this watch expires if no token comes, and whether that is the overall deadline."""
        since = self.since if self.since >= 0 else now
        due = since + (self.first_limit if self.first else self.stall_limit)
        if self.deadline is not None and self.deadline <= due:
            return self.deadline, True
        return due, False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._hub._stale += 1

    def _expire(self, is_deadline: bool) -> None:
        if is_deadline:
            self.fired = catalogue.TIMEOUT_DEADLINE.error()
        elif self.first:
            self.fired = catalogue.TIMEOUT_FIRST_TOKEN.error(limit_s=self.first_limit)
        else:
            self.fired = catalogue.STREAM_STALL.error(limit_s=self.stall_limit)
        self.stop()
        self.task.cancel()


class Watchdogs:
    """The watches of one event loop, on one timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._stale = 0  # stopped watches still in the heap

    def __len__(self) -> int:
        return len(self._heap) - self._stale

    def watch(self, task: asyncio.Task[Any], first_limit: float, stall_limit: float, deadline: float | None) -> Watch:
        w = Watch(self, task, first_limit, stall_limit, deadline)
        self._push(w.due(w.since)[0], w)
        if self._stale > 64 and self._stale * 2 > len(self._heap):
            self._compact()
        return w

    def _push(self, due: float, w: Watch) -> None:
        w._entry = next(self._seq)
        heapq.heappush(self._heap, (due, w._entry, w))
        if due < self._timer_at:
            self._arm(due)

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        # Not call_at: a moment already past must still arm the timer (see the module's docstring).
        self._timer = self.loop.call_later(max(0.0, at - self.loop.time()), self._tick)
        self._timer_at = at

    def _reschedule(self, w: Watch) -> None:
        self._stale += 1  # its old entry is dead from now on
        self._push(w.due(self.loop.time())[0], w)

    def _compact(self) -> None:
        # As asyncio does for its cancelled timers: drop the dead when they are the majority.
        self._heap = [entry for entry in self._heap if not entry[2].stopped and entry[1] == entry[2]._entry]
        heapq.heapify(self._heap)
        self._stale = 0

    def _tick(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = self.loop.time()
        heap = self._heap
        later: list[Watch] = []
        while heap and heap[0][0] <= now:
            _, entry, w = heapq.heappop(heap)
            if w.stopped or entry != w._entry:
                self._stale -= 1
                continue
            due, is_deadline = w.due(now)
            if w.since >= 0 and now >= due:
                w._expire(is_deadline)
                self._stale -= 1  # popped already
            else:
                later.append(w)
        for w in later:
            due = w.due(now)[0]
            # Held by the caller past its deadline: it can only fire once the caller is back.
            self._push(max(due, now + HELD_RECHECK) if w.since < 0 else due, w)
        if heap:
            self._arm(max(heap[0][0], now))
