"""core's Backend over a JavaScript engine (onnxruntime-web, WebGPU or WASM).

The router hands a :class:`BrowserEngineBackend` a request; it calls the JS
engine's ``stream`` and reads the JS async iterator back as
:class:`~core.types.BackendChunk` values. Failures thrown in JavaScript
become their catalogue error (:func:`~llm_web.bridge.error_from_js`).

When the Python side stops reading before the engine finished — the router
switched deployments, a stall watchdog fired, the caller went away — the
engine is told through an AbortSignal, so the GPU or the WASM thread does
not go on generating an answer nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import BackendChunk, BackendRequest

from .bridge import AbortHandle, JsEngine, browser_abort_factory, chunk_from_js, error_from_js, py, to_js, to_js_options

__all__ = ["BrowserEngineBackend"]

# How long to wait for the JS iterator to close after an abort. An engine
# that ignores its signal must not hold the router up.
_CLOSE_TIMEOUT: Final = 1.0


class BrowserEngineBackend:
    """A core Backend that runs generation on a JS engine.

    ``abort_factory`` makes one AbortController per attempt (in the browser,
    by default, ``js.AbortController.new``); without one the engine gets no
    signal and is only closed.
    """

    def __init__(self, engine: JsEngine, *, abort_factory: Callable[[], AbortHandle] | None = None) -> None:
        self.engine = engine
        self._abort_factory = abort_factory if abort_factory is not None else browser_abort_factory()

    @property
    def info(self) -> dict[str, Any]:
        """The engine's own description ({ep, threads, loadMs, build_id}); {} when unreadable."""
        try:
            data = py(self.engine.info)
        except Exception:
            return {}
        return dict(data) if isinstance(data, dict) else {}

    def stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        return self._stream(request)

    async def _stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        handle = self._abort_factory() if self._abort_factory is not None else None
        options = to_js_options(request, handle.signal if handle is not None else None)
        iterator: AsyncIterator[Any] | None = None
        finished = False  # the engine's iterator ran to its end
        try:
            try:
                iterator = aiter(self.engine.stream(to_js(options)))
                ended = False
                async for obj in iterator:
                    chunk = chunk_from_js(obj)
                    if chunk.finish_reason == "abort":
                        # Stopped on the JS side (the widget's stop button): the caller
                        # cancelled, so no other deployment should take over.
                        raise catalogue.CORE_CANCELLED.error("the engine's generation was aborted", deployment=request.deployment.name)
                    ended = ended or chunk.finish_reason is not None
                    yield chunk
                finished = True
            except LLMError:
                raise
            except Exception as exc:  # thrown in JavaScript (or a broken engine object)
                raise error_from_js(exc) from exc
            if not ended:
                # A backend must raise, not return, when its answer was cut.
                raise catalogue.STREAM_NO_DONE.error("the engine's stream ended without a finishReason", deployment=request.deployment.name)
        finally:
            if not finished:
                if handle is not None:
                    with contextlib.suppress(Exception):
                        handle.abort()
                if iterator is not None:
                    await _close(iterator)


async def _close(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is None:
        return
    # Failing or slow to close: the attempt is over either way.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.ensure_future(close()), _CLOSE_TIMEOUT)
