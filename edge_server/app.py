"""The Starlette app: the OpenAI-compatible API and the operations surface.

Everything a request needs lives on one :class:`EdgeState` (router,
backends, store, admission, monitor); the routes are thin: validate, admit,
hand the request to the core's router, shape the answer. Every error leaves
as OpenAI's error object with our ``LLM_*`` code and the catalogue's HTTP
status — never a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import catalogue, jsonlog
from core.classify import classify
from core.errors import LLMError
from core.router import Router
from core.store import Store
from core.types import ChatRequest, Delta, Done, Restart, StreamEvent, Switch

from . import openai_format as fmt
from .admission import Admission
from .answer import admit
from .openapi import openapi_document
from .protocol import ConnectionStats
from .validation import MAX_BODY_BYTES, parse_body, parse_chat, parse_completion, parse_responses
from .web import WebBundle

__all__ = ["CORS", "EdgeState", "create_app", "error_response", "key_matches", "status_payload"]

_log = jsonlog.get_logger("edge_server.app")
_T = TypeVar("_T")
_access = jsonlog.get_logger("edge_server.access")


class MonitorHooks(Protocol):
    """What the edge server asks of the self-healing monitor (edge_server/monitor.py)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def summary(self) -> dict[str, Any]: ...

    def diagnostics(self) -> dict[str, Any]: ...

    def update_gauges(self) -> None: ...

    async def heal(self, actions: list[str] | None, reason: str) -> dict[str, Any]: ...


@dataclass
class EdgeState:
    router: Router
    backends: Mapping[str, Any]
    store: Store
    admission: Admission
    api_key: str | None = None
    started: float = field(default_factory=time.monotonic)
    monitor: MonitorHooks | None = None  # edge_server.monitor.Monitor, when running
    on_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Shutting down: answers still streaming `drain_seconds` after it began are
    # ended cleanly (a coded error event, then the end marker), not cut when the
    # server's own grace period runs out.
    drain_seconds: float = 7.0
    draining: bool = False
    ending: bool = False
    streams: set[asyncio.Task[Any]] = field(default_factory=set)
    loop: asyncio.AbstractEventLoop | None = None
    connections: ConnectionStats | None = None  # when served by protocol.uvicorn_config

    def begin_drain(self) -> None:
        """Called from the signal handler (any thread)."""
        if self.draining or self.loop is None:
            return
        self.draining = True
        loop = self.loop
        loop.call_soon_threadsafe(loop.call_later, self.drain_seconds, self._end_streams)

    def _end_streams(self) -> None:
        self.ending = True
        for task in list(self.streams):
            task.cancel()


# --- errors -------------------------------------------------------------------


def _status(err: LLMError) -> int:
    # Warnings and informational codes carry 200/499 in the catalogue; when
    # one of them ends a request it still must read as a failure.
    return err.http_status if 400 <= err.http_status <= 599 else 502


def error_response(err: LLMError, request_id: str = "", extra: dict[str, Any] | None = None) -> JSONResponse:
    body = fmt.error_body(err, request_id)
    if extra:
        body["error"].update(extra)
    headers = {"Retry-After": str(max(1, round(err.retry_after)))} if err.retry_after is not None else {}
    if err.spec in _UNREAD_BODY:
        headers["Connection"] = "close"  # what is left of the body must not be read as the next request
    return JSONResponse(body, status_code=_status(err), headers=headers)


# Errors that leave part of a request body unread on the connection.
_UNREAD_BODY = (catalogue.TIMEOUT_CLIENT, catalogue.VAL_TOO_LARGE)


async def _read_body(request: Request) -> bytes:
    """The request body, within MAX_BODY_BYTES and server.body_timeout (LLM_VAL_006, LLM_TIMEOUT_006)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise catalogue.VAL_TOO_LARGE.error(f"request body is {declared} bytes; the limit is {MAX_BODY_BYTES}", limit=MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    timeout = _state(request).router.settings.server.body_timeout
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise catalogue.VAL_TOO_LARGE.error(f"request body is over {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES)
                chunks.append(chunk)
    except TimeoutError:
        raise catalogue.TIMEOUT_CLIENT.error(f"the request body did not arrive within {timeout:g} s", timeout=timeout) from None
    except ClientDisconnect:
        # The client left mid-upload: nobody is there to answer, and nothing went wrong here.
        raise catalogue.CORE_CANCELLED.error("the client went away while sending the request body") from None
    return b"".join(chunks)


def _state(request: Request) -> EdgeState:
    state: EdgeState = request.app.state.edge
    return state


def _rid(request: Request) -> str:
    return str(request.scope.get("request_id", ""))


# --- the answer, in its three API shapes --------------------------------------------


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
    state = _state(request)
    rid = _rid(request)
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
    data = parse_body(await _read_body(request))
    creq, stream = parse_chat(data, _rid(request))
    shapes = fmt.ChatShapes(f"chatcmpl-{uuid.uuid4().hex[:24]}", creq.model)
    return await _serve_openai(request, creq, stream, shapes, _include_usage(data))


async def completions(request: Request) -> Response:
    data = parse_body(await _read_body(request))
    creq, stream = parse_completion(data, _rid(request))
    shapes = fmt.TextShapes(f"cmpl-{uuid.uuid4().hex[:24]}", creq.model)
    return await _serve_openai(request, creq, stream, shapes, _include_usage(data))


async def responses(request: Request) -> Response:
    data = parse_body(await _read_body(request))
    creq, stream = parse_responses(data, _rid(request))
    state = _state(request)
    rid = _rid(request)
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
    router = _state(request).router
    created = int(time.time())
    names = list(router.settings.aliases) + [d for d in router.settings.deployments if d not in router.settings.aliases]
    data = [{"id": name, "object": "model", "created": created, "owned_by": "llm-runner-router"} for name in names]
    return JSONResponse({"object": "list", "data": data})


# --- operations -------------------------------------------------------------------


async def health(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"status": "ok", "uptime_s": round(time.monotonic() - state.started, 3)})


def status_payload(state: EdgeState) -> dict[str, Any]:
    router_status = state.router.status()
    backends = {}
    for name, backend in state.backends.items():
        info: dict[str, Any] = {"kind": type(backend).__name__}
        if hasattr(backend, "loaded"):
            info["loaded"] = bool(backend.loaded)
        backends[name] = info
    return {
        "status": "ok",
        "uptime_s": round(time.monotonic() - state.started, 3),
        "models": sorted(state.router.settings.aliases),
        "backends": backends,
        "queue": {
            "active": state.admission.active,
            "waiting": state.admission.waiting,
            "max_concurrency": state.admission.max_concurrency,
            "queue_size": state.admission.queue_size,
            "rejected": state.admission.rejected,
        },
        "monitor": state.monitor.summary() if state.monitor is not None else None,
        "connections": state.connections.as_dict() if state.connections is not None else None,
        **router_status,
    }


async def api_status(request: Request) -> Response:
    return JSONResponse(status_payload(_state(request)))


def key_matches(given: str, key: str) -> bool:
    """Whether a presented key is the server's, compared in constant time.

    hmac.compare_digest takes as long for a key wrong in its first character
    as for one wrong in its last, so response times do not tell a prober how
    much of a guess was right. Header values reach us decoded as Latin-1:
    encoding them back gives the bytes the client sent, which are compared
    with the key's UTF-8 bytes (a non-ASCII key sent as UTF-8 matches).
    """
    raw = given.encode("utf-8") if any(ord(c) > 0xFF for c in given) else given.encode("latin-1")
    return hmac.compare_digest(raw, key.encode("utf-8"))


def _authorized(request: Request, key: str | None) -> bool:
    """The key from ``x-api-key``, else ``Authorization: Bearer``. An x-api-key header that
    is present decides alone, even when empty or wrong: no second chance with the other."""
    if not key:
        return False
    given = request.headers.get("x-api-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if not given:
        return False
    return key_matches(given, key)


def _require_key(request: Request) -> None:
    state = _state(request)
    if not _authorized(request, state.api_key):
        why = "set LLM_ROUTER_API_KEY on the server to enable this endpoint" if not state.api_key else "missing or invalid API key"
        raise catalogue.AUTH_FAILED.error(why)


async def api_diagnostics(request: Request) -> Response:
    _require_key(request)
    state = _state(request)
    out = {
        "status": status_payload(state),
        "metrics": state.router.metrics.full_summary(),
        "store": _store_info(state.store),
    }
    if state.monitor is not None:
        out["monitor"] = state.monitor.diagnostics()
    return JSONResponse(out)


def _store_info(store: Store) -> dict[str, Any]:
    info: dict[str, Any] = {"kind": type(store).__name__}
    for attr in ("path", "recovered_from"):
        value = getattr(store, attr, None)
        if value is not None:
            info[attr] = str(value)
    counts = getattr(store, "counts", None)
    if callable(counts):
        info["records"] = counts()
    return info


async def api_heal(request: Request) -> Response:
    _require_key(request)
    state = _state(request)
    body = await _read_body(request)
    actions: list[str] | None = None
    if body.strip():
        data = parse_body(body)
        raw = data.get("actions")
        if raw is not None:
            if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
                raise catalogue.VAL_WRONG_TYPE.error("actions: must be an array of action names", field="actions")
            actions = raw
    if state.monitor is None:
        raise catalogue.CORE_HEALING_FAILED.error("the self-healing monitor is not running")
    report = await state.monitor.heal(actions, reason="api")
    return JSONResponse(report)


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def metrics(request: Request) -> Response:
    state = _state(request)
    if state.monitor is not None:
        state.monitor.update_gauges()
    return PlainTextResponse(state.router.metrics.registry.render_prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8")


# --- middleware ----------------------------------------------------------------------


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = bytes(value).decode("latin-1")
            if 0 < len(text) <= 128 and all(c.isalnum() or c in "-_.:" for c in text):
                return text
            break
    return uuid.uuid4().hex


def _clip(value: object, limit: int) -> object:
    """A client-sent string cut to ``limit`` characters for the log, saying how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}…[{len(value)} chars]"
    return value


class RequestContext:
    """Request ids, JSON access logs, and the last line of defence: no stack trace ever reaches a client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope["request_id"] = rid
        started = time.monotonic()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        with jsonlog.log_context(request_id=rid, component="edge_server"):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                err = classify(exc)
                _log.error("unhandled error", error=err, path=_clip(scope.get("path"), 2048))
                if status == 0:
                    response = error_response(err, rid)
                    await response(scope, receive, send_with_id)
            finally:
                _access.info(
                    "request",
                    method=_clip(scope.get("method"), 32),
                    path=_clip(scope.get("path"), 2048),
                    status=status,
                    duration_ms=round((time.monotonic() - started) * 1000, 2),
                )


class CORS(CORSMiddleware):
    """Starlette's CORS for the configured origins, refusing a preflight with our coded
    error (``LLM_AUTH_005_E``, 403) instead of its plain-text 400. Requests from other
    origins still reach the app (a server cannot stop a page sending them) but get no
    CORS headers, so the browser keeps the answer from the page."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "X-LLM-Deployment"],
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        origin = request_headers.get("origin", "")
        method = request_headers.get("access-control-request-method", "")
        if self.is_allowed_origin(origin):
            err = catalogue.VAL_UNSUPPORTED.error(f"method {method!r} is not allowed", field="access-control-request-method")
        else:
            err = catalogue.AUTH_ORIGIN_NOT_ALLOWED.error(f"origin {origin[:200]!r} is not in server.cors_origins", origin=origin[:200])
        return error_response(err, str(jsonlog.current_context().get("request_id", "")))


async def _llm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LLMError)
    if exc.http_status >= 500 or exc.spec.category in ("RATE", "AUTH"):
        _log.warning("request failed", error=exc, path=_clip(request.url.path, 2048))
    return error_response(exc, _rid(request))


async def _not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    spec = catalogue.VAL_UNSUPPORTED if code == 405 else catalogue.MODEL_NOT_FOUND
    what = "method not allowed" if code == 405 else f"no such endpoint: {_clip(request.url.path, 200)}"
    err = spec.error(what, path=_clip(request.url.path, 200))
    # A 405 carries the Allow header (RFC 9110 requires it): keep the exception's headers.
    headers = getattr(exc, "headers", None)
    return JSONResponse(fmt.error_body(err, _rid(request)), status_code=code, headers=headers)


def create_app(state: EdgeState) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in state.on_startup:
            await hook()
        try:
            yield
        finally:
            for hook in reversed(state.on_shutdown):
                try:
                    await hook()
                except Exception as exc:  # one failing shutdown step must not skip the rest (the store's flush)
                    _log.error("shutdown step failed", error=classify(exc))

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/api/status", api_status, methods=["GET"]),
        Route("/api/diagnostics", api_diagnostics, methods=["GET"]),
        Route("/api/heal", api_heal, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={LLMError: _llm_error, 404: _not_found, 405: _not_found},
    )
    # What no route matches (not even by path alone, which stays a 405) is the browser
    # bundle at "/": dist/web or LLM_ROUTER_WEB_DIR (see web.py).
    app.router.default = WebBundle()
    app.state.edge = state
    origins = state.router.settings.server.cors_origins
    if origins:
        app.add_middleware(CORS, origins=origins)
    app.add_middleware(RequestContext)  # added last, so outermost: request ids and the last line of defence cover CORS too
    return app
