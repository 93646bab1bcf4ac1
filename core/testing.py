"""Stand-ins for the core's protocol boundaries, for tests and demos.

- :class:`VirtualTimeLoop`: a real asyncio event loop whose clock is
  virtual. When nothing is ready it jumps straight to the next timer, so a
  test of a 30-second stall deadline runs in microseconds, deterministically,
  in CPython and in Pyodide alike (where the browser's own loop cannot be
  run to completion from synchronous code).
- :class:`ScriptedBackend`: a Backend that plays scripted behaviour —
  pieces of text, delays, stalls, errors at chosen points, refusal of an
  assistant prefix — and records what it was asked.
"""

from __future__ import annotations

import asyncio
import asyncio.events
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import catalogue
from .types import BackendChunk, BackendRequest, Usage

__all__ = ["LoopClock", "Script", "ScriptedBackend", "VirtualTimeLoop", "run_virtual", "split_words"]

T = TypeVar("T")


class _VirtualSelector:
    """Stands in for the selector: instead of waiting, moves time forward."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def select(self, timeout: float | None) -> list[Any]:
        if timeout is None:
            # Nothing is ready and no timer is set: in a real loop this
            # would wait for I/O forever. With no I/O here, that is a hang.
            raise RuntimeError("VirtualTimeLoop: nothing scheduled and nothing ready (deadlock)")
        if timeout > 0:
            self._loop.advance(timeout)
        return []

    def close(self) -> None:
        pass


class VirtualTimeLoop(asyncio.BaseEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        super().__init__()
        self._virtual_now = start
        self._selector = _VirtualSelector(self)
        self.clock = LoopClock(self)

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    # BaseEventLoop leaves these to the selector loop; there is no I/O here.
    def _process_events(self, event_list: list[Any]) -> None:
        pass

    def _write_to_self(self) -> None:
        pass


class LoopClock:
    """A Clock reading a loop's time (virtual time on a VirtualTimeLoop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wall_offset: float = 1_700_000_000.0) -> None:
        self._loop = loop
        self._wall_offset = wall_offset

    def now(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return self._loop.time() + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def run_virtual(main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, T]]) -> T:
    """Run ``main(loop)`` to completion on a fresh VirtualTimeLoop.

    Inside Pyodide the browser's loop counts as running; it is set aside for
    the duration, as a nested synchronous run needs.
    """
    loop = VirtualTimeLoop()
    outer = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        result = loop.run_until_complete(main(loop))
        loop.run_until_complete(loop.shutdown_asyncgens())
        return result
    finally:
        loop.close()
        asyncio.events._set_running_loop(outer)


def split_words(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to it exactly."""
    pieces: list[str] = []
    start = 0
    for i in range(1, len(text)):
        if text[i] == " " and text[i - 1] != " ":
            pieces.append(text[start:i])
            start = i
    if start < len(text):
        pieces.append(text[start:])
    return pieces


@dataclass
class Script:
    """What one call to a ScriptedBackend does.

    With ``answer`` set, the backend behaves like a deterministic model: it
    streams the answer in word pieces and, given an assistant prefix that
    the answer starts with, continues after it.
    """

    answer: str = ""
    pieces: Sequence[str] | None = None  # explicit pieces instead of split(answer)
    first_delay: float = 0.0  # before the first piece
    delay: float = 0.0  # before each later piece
    error: BaseException | None = None  # raised after `fail_after` pieces
    fail_after: int = 0
    stall_after: int | None = None  # hang (until cancelled) after this many pieces
    finish_reason: str = "stop"
    reject_prefix: bool = False  # refuse a request that carries an assistant prefix

    def pieces_for(self, prefix: str) -> list[str]:
        if self.pieces is not None:
            return list(self.pieces)
        text = self.answer
        if prefix:
            if not text.startswith(prefix):
                raise AssertionError(f"prefix {prefix!r} is not a start of {text!r}")
            text = text[len(prefix) :]
        return split_words(text)


@dataclass
class ScriptedBackend:
    """A Backend that plays one Script per call (the last one repeats)."""

    scripts: Sequence[Script] | Callable[[BackendRequest], Script] = field(default_factory=lambda: [Script(answer="ok")])
    calls: list[BackendRequest] = field(default_factory=list)
    cancelled: int = 0

    def _script(self, request: BackendRequest) -> Script:
        if callable(self.scripts):
            return self.scripts(request)
        index = min(len(self.calls) - 1, len(self.scripts) - 1)
        return self.scripts[index]

    def stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        self.calls.append(request)
        return self._play(self._script(request), request)

    async def _play(self, script: Script, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        if request.prefix and script.reject_prefix:
            raise catalogue.API_PREFILL_UNSUPPORTED.error("this model does not support assistant prefill")
        pieces = script.pieces_for(request.prefix)
        try:
            for i, piece in enumerate(pieces):
                if script.error is not None and i == script.fail_after:
                    raise script.error
                if script.stall_after is not None and i == script.stall_after:
                    await asyncio.Future()  # never resolves
                wait = script.first_delay if i == 0 else script.delay
                if wait:
                    await asyncio.sleep(wait)
                last = i == len(pieces) - 1
                if last:
                    usage = Usage(prompt_tokens=sum(len(m.content) for m in request.messages) // 4, completion_tokens=len(pieces))
                    yield BackendChunk(piece, script.finish_reason, usage)
                else:
                    yield BackendChunk(piece)
            if script.error is not None and script.fail_after >= len(pieces):
                raise script.error
            if script.stall_after is not None and script.stall_after >= len(pieces):
                await asyncio.Future()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
