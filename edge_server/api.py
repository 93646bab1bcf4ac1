"""The OpenAI-compatible API: chat completions, completions, responses, models.

The routes are thin: validate, admit, hand the request to the core's router,
shape the answer (openai_format.py). An answer that fails before its first
event gets a real HTTP error status; once streaming, errors go in-band.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.classify import classify
from llm_runner_router.core.types import ChatRequest, Delta, Done, Restart, StreamEvent, Switch

from . import openai_format as fmt
from .answer import admit
from .request_io import error_response, read_body, request_id_of, state_of
from .state import EdgeState
from .validation import parse_body, parse_chat, parse_completion, parse_responses

__all__ = ["chat_completions", "completions", "models", "responses"]

_log = jsonlog.get_logger("llm_runner_router.edge.api")
_T = TypeVar("_T")


def _x_llm(ev: StreamEvent) -> dict[str, Any]:
    """The ``x_llm`` field of a chunk: the core event's to_dict(), less what the OpenAI
    shapes already carry (text, usage, finish reason), its code as ``code``."""
    d = ev.to_dict()
    if d["type"] in ("switch", "restart"):
        out = {"event": d["type"], "from": d["from"], "to": d["to"], "code": d["reason"]}
        if d["type"] == "restart":
            out["discard_chars"] = len(d["discarded"])
        return out
    out = {key: d[key] for key in ("status", "deployment", "attempts")}
    if d["error"] is not None:
        out["code"] = d["error"]["code"]
    return out


async def _complete(state: EdgeState, creq: ChatRequest) -> tuple[str, Done, list[dict[str, Any]]]:
    answer = await admit(state.router, state.admission, creq)
    parts: list[str] = []
    notes: list[dict[str, Any]] = []
    try:
        async for ev in answer:
            if isinstance(ev, Delta):
                parts.append(ev.text)
            elif isinstance(ev, Restart):
                parts.clear()
                notes.append(_x_llm(ev))
            elif isinstance(ev, Switch):
                notes.append(_x_llm(ev))
            elif isinstance(ev, Done):
                return "".join(parts), ev, notes
    finally:
        await answer.aclose()
    raise catalogue.CORE_INTERNAL.error("the answer ended without its end event")


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects: its body has been read, so a disconnect is all ``receive`` has left to say."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_gone(request: Request, work: Awaitable[_T]) -> _T:
    """``await work``, cancelled as soon as the client goes away (then LLM_CORE_007).

    A streamed answer stops when its client leaves (the response notices); but
    until its first event -- and a whole answer until its end -- nothing is
    sent, so nothing would notice, and the generation would go on for no one,
    holding its admission slot and the local model all the while.
    """
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
    if task.cancelled():
        raise catalogue.CORE_CANCELLED.error("the client went away before the answer was ready")
    return task.result()


async def _drainable(state: EdgeState, body: AsyncIterator[bytes], ending: Callable[[], list[bytes]]) -> AsyncIterator[bytes]:
    """A response stream the server can end cleanly when it shuts down (see EdgeState.begin_drain)."""
    task = asyncio.current_task()
    assert task is not None
    state.streams.add(task)
    try:
        async for data in body:
            yield data
    except asyncio.CancelledError:
        if not state.ending or task.uncancel() > 0:
            raise
        for data in ending():
            yield data
    finally:
        state.streams.discard(task)


def _incomplete_error(done: Done, partial: str, rid: str) -> JSONResponse:
    err = done.error or catalogue.STREAM_INCOMPLETE.error()
    return error_response(err, rid, {"incomplete": True, "partial_text": partial, "deployment": done.deployment})


async def _serve_openai(request: Request, creq: ChatRequest, stream: bool, shapes: fmt.ChatShapes, include_usage: bool) -> Response:
    state = state_of(request)
    rid = request_id_of(request)
    if not stream:
        text, done, notes = await _unless_gone(request, _complete(state, creq))
        if done.status == "incomplete":
            return _incomplete_error(done, text, rid)
        x = _x_llm(done) | ({"events": notes} if notes else {})
        return JSONResponse(shapes.whole(text, done.finish_reason, done.usage, x), headers={"X-LLM-Deployment": done.deployment})

    answer = await _unless_gone(request, admit(state.router, state.admission, creq))

    async def body() -> AsyncIterator[bytes]:
        leading = True
        deployment = ""
        try:
            async for ev in answer:
                if isinstance(ev, Delta):
                    x = None
                    if ev.deployment != deployment:
                        deployment = ev.deployment
                        x = {"deployment": deployment}
                    yield fmt.sse(shapes.text_chunk(ev.text, leading, x))
                    leading = False
                elif isinstance(ev, (Switch, Restart)):
                    yield fmt.sse(shapes.chunk({}, None, _x_llm(ev)))
                elif isinstance(ev, Done):
                    if ev.status == "incomplete":
                        err = ev.error or catalogue.STREAM_INCOMPLETE.error()
                        yield fmt.sse(fmt.error_body(err, rid) | {"x_llm": _x_llm(ev)})
                    else:
                        yield fmt.sse(shapes.chunk({}, ev.finish_reason, _x_llm(ev)))
                        if include_usage:
                            yield fmt.sse(shapes.usage_chunk(ev.usage))
                    yield b"data: [DONE]\n\n"
        except Exception as exc:  # the stream has started: the error goes in-band
            err = classify(exc)
            _log.error("stream failed", error=err, request_id=rid)
            yield fmt.sse(fmt.error_body(err, rid))
        finally:
            await answer.aclose()

    def ending() -> list[bytes]:
        return [fmt.sse(fmt.error_body(catalogue.CORE_SHUTTING_DOWN.error(), rid)), b"data: [DONE]\n\n"]

    return StreamingResponse(
        _drainable(state, body(), ending), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _include_usage(data: Mapping[str, Any]) -> bool:
    opts = data.get("stream_options")
    return isinstance(opts, dict) and opts.get("include_usage") is True


async def chat_completions(request: Request) -> Response:
    data = parse_body(await read_body(request))
    creq, stream = parse_chat(data, request_id_of(request))
    shapes = fmt.ChatShapes(f"chatcmpl-{uuid.uuid4().hex[:24]}", creq.model)
    return await _serve_openai(request, creq, stream, shapes, _include_usage(data))


async def completions(request: Request) -> Response:
    data = parse_body(await read_body(request))
    creq, stream = parse_completion(data, request_id_of(request))
    shapes = fmt.TextShapes(f"cmpl-{uuid.uuid4().hex[:24]}", creq.model)
    return await _serve_openai(request, creq, stream, shapes, _include_usage(data))


async def responses(request: Request) -> Response:
    data = parse_body(await read_body(request))
    creq, stream = parse_responses(data, request_id_of(request))
    state = state_of(request)
    rid = request_id_of(request)
    resp_id = f"resp_{uuid.uuid4().hex[:24]}"
    if not stream:
        text, done, notes = await _unless_gone(request, _complete(state, creq))
        if done.status == "incomplete":
            return _incomplete_error(done, text, rid)
        x = _x_llm(done) | ({"events": notes} if notes else {})
        return JSONResponse(fmt.response_object(resp_id, creq.model, text, "completed", done.usage, x))

    answer = await _unless_gone(request, admit(state.router, state.admission, creq))

    async def body() -> AsyncIterator[bytes]:
        seq = 0

        def event(kind: str, payload: dict[str, Any]) -> bytes:
            nonlocal seq
            seq += 1
            return fmt.sse({"type": kind, "sequence_number": seq} | payload, event=kind)

        parts: list[str] = []
        yield event("response.created", {"response": fmt.response_object(resp_id, creq.model, "", "in_progress", None, {})})
        try:
            async for ev in answer:
                if isinstance(ev, Delta):
                    parts.append(ev.text)
                    yield event(
                        "response.output_text.delta", {"item_id": f"msg_{resp_id}", "output_index": 0, "content_index": 0, "delta": ev.text}
                    )
                elif isinstance(ev, Restart):
                    parts.clear()
                    yield event("response.x_llm.restart", {"x_llm": _x_llm(ev)})
                elif isinstance(ev, Switch):
                    yield event("response.x_llm.switch", {"x_llm": _x_llm(ev)})
                elif isinstance(ev, Done):
                    text = "".join(parts)
                    if ev.status == "incomplete":
                        err = ev.error or catalogue.STREAM_INCOMPLETE.error()
                        obj = fmt.response_object(resp_id, creq.model, text, "incomplete", ev.usage, _x_llm(ev))
                        yield event("response.failed", {"response": obj | fmt.error_body(err, rid)})
                    else:
                        yield event(
                            "response.output_text.done", {"item_id": f"msg_{resp_id}", "output_index": 0, "content_index": 0, "text": text}
                        )
                        obj = fmt.response_object(resp_id, creq.model, text, "completed", ev.usage, _x_llm(ev))
                        yield event("response.completed", {"response": obj})
        except Exception as exc:
            err = classify(exc)
            _log.error("stream failed", error=err, request_id=rid)
            yield event("error", fmt.error_body(err, rid))
        finally:
            await answer.aclose()

    def ending() -> list[bytes]:
        return [fmt.sse({"type": "error", **fmt.error_body(catalogue.CORE_SHUTTING_DOWN.error(), rid)}, event="error")]

    return StreamingResponse(_drainable(state, body(), ending), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def models(request: Request) -> Response:
    router = state_of(request).router
    created = int(time.time())
    settings = router.settings
    names = list(settings.aliases) + [d for d in settings.deployments if d not in settings.aliases]
    owner = "llm-runner-router"
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": owner, "context_window": _context_window(settings, name)}
        for name in names
    ]
    return JSONResponse({"object": "list", "data": data})


def _context_window(settings: Any, name: str) -> int:
    """The longest prompt a model name can take, in tokens: an alias's largest deployment's window.

    The page (web/lib/edge.js) reads it, so that its router refuses a prompt
    this server would refuse before sending it, as this server's router does.
    """
    alias = settings.aliases.get(name)
    deployments = (*alias.deployments, *alias.context_window_fallbacks) if alias is not None else (name,)
    return max((settings.deployments[d].context_window for d in deployments if d in settings.deployments), default=0)
