"""An admitted answer: a request's events, generated as fast as the router makes them.

A request takes an admission slot (admission.py) for as long as the router works
on it -- not for as long as its client takes to read the answer. So once the
first event is in, a pump task drains the router into a buffer and frees the
slot when the answer ends; the HTTP response reads from the buffer at the
client's pace. A client that stops reading then holds only its connection,
which the server's send timeout ends (protocol.py); the text it has not read
is at most one answer.

Only answers the router generated to the end feed the Retry-After estimate:
an error, a cancelled request or a cached answer says nothing about how long
the queue takes to drain. A request for a model no alias names is refused
before it takes a slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import anyio

from llm_runner_router.core.router import Router
from llm_runner_router.core.types import ChatRequest, Done, StreamEvent

from .admission import Admission

__all__ = ["Answer", "admit"]

_END: Final = object()


async def admit(router: Router, admission: Admission, request: ChatRequest) -> Answer:
    """Admit the request and wait for its first event, so that a request that fails
    before any text gets a real HTTP error status instead of a 200 stream."""
    router.alias(request.model)  # LLM_MODEL_001 for an unknown model, before it takes a slot
    await admission.acquire()
    started = time.monotonic()
    events = router.stream(request)
    try:
        first = await events.__anext__()
    except BaseException:
        admission.release(None)
        await _aclose(events)
        raise
    return Answer(admission, events, first, started)


class Answer:
    """The events of an admitted request; iterate it once, and close it (``aclose``) when done with it."""

    def __init__(self, admission: Admission, events: AsyncIterator[StreamEvent], first: StreamEvent, started: float) -> None:
        self._admission = admission
        self._events = events
        self._started = started
        self._buffer: asyncio.Queue[Any] = asyncio.Queue()
        self._buffer.put_nowait(first)
        self._released = False
        self._scope = anyio.CancelScope()
        if isinstance(first, Done):
            self._release(first)
            self._buffer.put_nowait(_END)
            self._pump: asyncio.Task[None] | None = None
        else:
            self._pump = asyncio.ensure_future(self._drain())

    def _release(self, done: Done | None) -> None:
        if self._released:
            return
        self._released = True
        generated = done is not None and done.status == "complete"
        self._admission.release(time.monotonic() - self._started if generated else None)

    async def _drain(self) -> None:
        done: Done | None = None
        # Cancelled through an anyio scope, not Task.cancel(): the upstream client (httpx, on
        # anyio) closes its connection in shielded clean-up that a native cancellation of the
        # task would cut short, leaving the upstream generating for no one.
        with self._scope:
            try:
                async for ev in self._events:
                    self._buffer.put_nowait(ev)
                    if isinstance(ev, Done):
                        done = ev
                        self._release(done)  # the work is over: the slot goes to the next request now
            except Exception as exc:  # reaches the reader, in order, after what came before it
                self._buffer.put_nowait(exc)
            finally:
                self._release(done)
                with anyio.CancelScope(shield=True):
                    await _aclose(self._events)
                self._buffer.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        while True:
            item = await self._buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aclose(self) -> None:
        """Stop generating (the client left, or the response ended) and free the slot."""
        if self._pump is not None and not self._pump.done():
            self._scope.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait({self._pump})
        self._release(None)


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
