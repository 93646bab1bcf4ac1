"""FaultProvider: an OpenAI-compatible HTTP server that fails on purpose, for tests and benches.

A real server (a Starlette app under uvicorn, on 127.0.0.1) that answers one
known text, streamed word by word, so a test can compare what came through
with what was sent -- and scripted faults in between::

    from llm_runner_router.edge.testing import fault_provider as fp

    with fp.FaultProvider(answer="The quick brown fox") as p:
        p.base_url                      # "http://127.0.0.1:PORT/v1"
        p.set_faults([fp.cut(after=2), fp.rate_limited(retry_after=3)])
        ...                             # the next request is cut, the one after is a 429
        p.requests[-1].prefix           # what the last request asked to continue

or as a process a test can kill -9 and start again on the same port::

    python -m llm_runner_router.edge.testing.fault_provider --port 8123 [--answer TEXT] [--model NAME] [--reject-prefill]

    with fp.FaultProviderProcess() as proc:
        proc.set_faults([fp.unavailable()])   # POST /control/faults
        proc.kill(); proc.start()

Endpoints: ``GET /v1/models``; ``POST /v1/chat/completions``,
``/v1/completions`` and ``/v1/responses`` (the text subset), streamed
(``stream: true``: OpenAI's chunk or event format, ``finish_reason``, usage
when ``stream_options.include_usage`` asks for it, ``data: [DONE]``; the
Responses API ends with ``response.completed`` and no ``[DONE]``) or not.
``max_tokens`` (``max_completion_tokens``, ``max_output_tokens``) counts
words: fewer than the answer has ends it with ``finish_reason: "length"``.

Prefill: a request whose last message is the assistant's (for
``completions``, a prompt whose last ``Assistant:`` is followed by text) is
continued: if the known answer starts with that text, the rest of it is
sent; if not, the whole answer (so a wrong prefix shows up as repeated
text in a test's comparison).

Faults (one small function each, in :data:`FAULTS`) wait in a queue; each
request to a generating endpoint takes the one at the head. A fault has
``times`` (how many requests it serves before it leaves the queue; ``None``:
it stays, a persistent mode) and ``scope`` (``"generate"``, or ``"all"`` to
also hit ``/v1/models``, the health check). ``down`` faults are timed
instead: from the moment they are set until ``seconds`` later every
endpoint is down, then they leave the queue by themselves.
``reject_prefill`` waits at the head for a request that has a prefix.

Every request is recorded (:class:`RecordedRequest`): headers, body, the
prefix it asked to continue, the fault it met, how many text chunks it
got, whether it was answered completely, and whether the client went away
first (``disconnected``).

Control API, never faulty: ``POST /control/faults`` ``{"faults": [{"kind": "cut",
"after": 3}, ...], "append": false}``, ``GET|DELETE /control/faults``,
``GET|DELETE /control/requests``, ``POST /control/config`` ``{"answer": ...,
"model": ..., "reject_prefill": ..., "ignore_stream": ...}``, ``GET
/control/health``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from llm_runner_router.edge.testing.servers import free_port

__all__ = [
    "DEFAULT_ANSWER",
    "DEFAULT_MODEL",
    "FAULTS",
    "Fault",
    "FaultProvider",
    "FaultProviderProcess",
    "RecordedRequest",
    "content_filter",
    "context_length",
    "cut",
    "down",
    "error_in_stream",
    "free_port",
    "hang",
    "malformed",
    "no_done",
    "pieces",
    "rate_limited",
    "reject_prefill",
    "reset",
    "server_error",
    "slow_first_token",
    "stall",
    "unauthorized",
    "unavailable",
]

DEFAULT_ANSWER = "The quick brown fox jumps over the lazy dog, then naps for a while in the warm afternoon sun."
DEFAULT_MODEL = "fault-model"
_TRANSPORT = "fault_provider.transport"  # where the outer app leaves the connection's transport in the scope


def pieces(text: str) -> list[str]:
    """The text as it is streamed: one word (with the spaces before it) per chunk."""
    return re.findall(r"\s*\S+|\s+", text)


# --- faults --------------------------------------------------------------------------------


@dataclass
class Fault:
    """One scripted misbehaviour. Build them with the functions below (``cut(after=3)``)."""

    kind: str
    times: int | None = 1  # requests it serves before leaving the queue; None: stays (persistent)
    after: int = 2  # cut, stall, malformed, error_in_stream: text chunks sent first
    delay: float = 1.0  # slow_first_token: seconds before the first token
    retry_after: float | None = None  # rate_limited: the Retry-After header, if any
    seconds: float = 0.0  # down: for how long, from when it is set
    how: str = ""  # cut: "abort" (reset the connection, the default) or "eof" (end the body cleanly)
    #                down: "503" (the default), "reset" or "refuse" (stop listening)
    scope: str = "generate"  # "generate": generating endpoints only; "all": /v1/models too
    until: float | None = field(default=None, repr=False)  # down: time.monotonic() it ends at, set on arrival

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(sorted(FAULTS))}")
        if self.scope not in ("generate", "all"):
            raise ValueError(f"scope must be 'generate' or 'all', not {self.scope!r}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None")
        hows = {"cut": ("", "abort", "eof"), "down": ("", "503", "reset", "refuse")}.get(self.kind, ("",))
        if self.how not in hows:
            raise ValueError(f"how must be one of {hows} for a {self.kind} fault, not {self.how!r}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("until")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        names = {f.name for f in dataclasses.fields(cls)} - {"until"}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)


def rate_limited(retry_after: float | None = 1.0, **kw: Any) -> Fault:
    """429; with a ``Retry-After`` header unless ``retry_after`` is None."""
    return Fault("rate_limited", retry_after=retry_after, **kw)


def server_error(**kw: Any) -> Fault:
    """500, once (unless ``times`` says otherwise)."""
    return Fault("server_error", **kw)


def unavailable(**kw: Any) -> Fault:
    """503, on every request from now on (unless ``times`` says otherwise)."""
    kw.setdefault("times", None)
    return Fault("unavailable", **kw)


def reset(**kw: Any) -> Fault:
    """The connection is reset (TCP RST) before any response headers."""
    return Fault("reset", **kw)


def hang(**kw: Any) -> Fault:
    """The request is read, and never answered; the connection stays open."""
    return Fault("hang", **kw)


def slow_first_token(delay: float = 2.0, **kw: Any) -> Fault:
    """Headers at once, then ``delay`` seconds before the first token; the rest as usual."""
    return Fault("slow_first_token", delay=delay, **kw)


def cut(after: int = 2, how: str = "abort", **kw: Any) -> Fault:
    """``after`` text chunks, then the connection is reset ("abort") or the body ends cleanly ("eof"); never [DONE]."""
    return Fault("cut", after=after, how=how, **kw)


def stall(after: int = 2, **kw: Any) -> Fault:
    """``after`` text chunks, then nothing more, the connection held open."""
    return Fault("stall", after=after, **kw)


def malformed(after: int = 2, **kw: Any) -> Fault:
    """``after`` text chunks, then a data line that is not JSON, then the rest of the answer."""
    return Fault("malformed", after=after, **kw)


def error_in_stream(after: int = 2, **kw: Any) -> Fault:
    """``after`` text chunks, then an OpenAI error object in the stream (a server error), then the end."""
    return Fault("error_in_stream", after=after, **kw)


def no_done(**kw: Any) -> Fault:
    """The whole answer and its finish_reason, then the end of the body without the end marker."""
    return Fault("no_done", **kw)


def context_length(**kw: Any) -> Fault:
    """400 context_length_exceeded, as OpenAI words it."""
    return Fault("context_length", **kw)


def content_filter(**kw: Any) -> Fault:
    """400 content_filter, as Azure OpenAI words it."""
    return Fault("content_filter", **kw)


def reject_prefill(**kw: Any) -> Fault:
    """400 "does not support assistant prefill" for requests with a prefix; by default persistent."""
    kw.setdefault("times", None)
    return Fault("reject_prefill", **kw)


def unauthorized(**kw: Any) -> Fault:
    """401 whose message quotes the key the request presented, in full (the worst an upstream can do)."""
    return Fault("unauthorized", **kw)


def down(seconds: float, how: str = "503", **kw: Any) -> Fault:
    """Every endpoint down for ``seconds`` from now ("503", "reset", or "refuse": not even listening), then healthy."""
    return Fault("down", seconds=seconds, how=how, times=None, scope="all", **kw)


# --- what was asked ------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the provider received, and what became of it."""

    index: int
    method: str
    path: str
    endpoint: str  # "chat/completions", "completions", "responses", "models"
    headers: dict[str, str]
    body: Any = None
    model: str | None = None
    stream: bool = False
    prefix: str | None = None  # the assistant text it asked to continue
    fault: str | None = None  # the kind of fault it met
    status: int | None = None  # the status answered, if headers went out
    chunks_sent: int = 0  # text chunks sent
    completed: bool = False  # the whole response went out
    aborted: bool = False  # the provider reset the connection on purpose
    disconnected: bool = False  # the connection closed before the response was complete (the client left, or stop())
    received_at: float = 0.0  # time.monotonic()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ProviderState:
    """The answer, the fault queue and the request log, shared by the server and the test."""

    def __init__(self, answer: str, model: str, reject_prefill: bool) -> None:
        self.lock = threading.Lock()
        self.answer = answer
        self.model = model
        self.reject_prefill = reject_prefill
        self.ignore_stream = False  # answer JSON even when a stream is asked for
        self.faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self.refuse_hook: Callable[[float], None] | None = None  # stops listening for a while (set by the runner)
        self._index = itertools.count()

    def set_faults(self, faults: Iterable[Fault | dict[str, Any]], append: bool = False) -> list[Fault]:
        """Replace (or extend) the queue; returns the faults as queued."""
        now = time.monotonic()
        queued = [dataclasses.replace(f) if isinstance(f, Fault) else Fault.from_dict(f) for f in faults]
        for f in queued:
            if f.kind == "down":
                f.until = now + f.seconds
        with self.lock:
            if not append:
                self.faults.clear()
            self.faults.extend(queued)
        return queued

    def refuse(self, faults: Iterable[Fault]) -> None:
        """Stop listening for the ``down(how="refuse")`` faults among ``faults``."""
        for f in faults:
            if f.kind == "down" and f.how == "refuse" and self.refuse_hook is not None:
                self.refuse_hook(f.seconds)

    def next_fault(self, endpoint: str, has_prefix: bool) -> Fault | None:
        """The fault this request meets (taken off the queue when its times are used up), or None."""
        with self.lock:
            while self.faults:
                f = self.faults[0]
                if f.kind == "down":
                    if f.until is not None and time.monotonic() >= f.until:
                        self.faults.popleft()
                        continue
                    return f
                if endpoint == "models" and f.scope != "all":
                    return None
                if f.kind == "reject_prefill" and not has_prefix:
                    return None
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.popleft()
                return f
        return None

    def record(self, request: Request, endpoint: str, body: Any) -> RecordedRequest:
        with self.lock:
            rec = RecordedRequest(
                index=next(self._index),
                method=request.method,
                path=request.url.path,
                endpoint=endpoint,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
            self.requests.append(rec)
        return rec


# --- one request ---------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _last_assistant(items: Any) -> str | None:
    if isinstance(items, list) and items and isinstance(items[-1], dict) and items[-1].get("role") == "assistant":
        return _text_of(items[-1].get("content"))
    return None


def _prompt_prefix(prompt: str) -> str | None:
    at = prompt.rfind("Assistant:")
    if at < 0:
        return None
    said = prompt[at + len("Assistant:") :]
    said = said[1:] if said.startswith(" ") else said
    return said or None


class Call:
    """A generating request, read: what it asks for and what the answer is."""

    def __init__(self, state: ProviderState, endpoint: str, body: dict[str, Any], record: RecordedRequest, scope: Scope) -> None:
        self.state = state
        self.endpoint = endpoint
        self.body = body
        self.record = record
        self.transport: asyncio.Transport | None = scope.get(_TRANSPORT)
        self.id = f"fp-{record.index}"
        self.created = int(time.time())
        self.model = str(body.get("model") or state.model)
        self.stream = bool(body.get("stream")) and not state.ignore_stream
        options = body.get("stream_options")
        self.include_usage = endpoint == "responses" or (isinstance(options, dict) and bool(options.get("include_usage")))
        words: list[str] = []
        if endpoint == "chat/completions":
            messages = body.get("messages")
            self.prefix = _last_assistant(messages)
            limit = body.get("max_completion_tokens", body.get("max_tokens"))
            words = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
        elif endpoint == "completions":
            prompt = body.get("prompt")
            prompt = prompt[0] if isinstance(prompt, list) and prompt else prompt
            prompt = prompt if isinstance(prompt, str) else ""
            self.prefix = _prompt_prefix(prompt)
            limit = body.get("max_tokens")
            words = [prompt]
        elif endpoint == "responses":
            given = body.get("input")
            items = [{"role": "user", "content": given}] if isinstance(given, str) else given
            self.prefix = _last_assistant(items)
            limit = body.get("max_output_tokens")
            words = [_text_of(m.get("content")) for m in items if isinstance(m, dict)] if isinstance(items, list) else []
            words.append(str(body.get("instructions") or ""))
        else:
            self.prefix = None
            limit = None
        self.max_tokens = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        self.prompt_tokens = sum(len(w.split()) for w in words)
        record.model, record.stream, record.prefix = self.model, self.stream, self.prefix

    def reply(self) -> tuple[list[str], str]:
        """The pieces of text to send, and the finish reason."""
        answer = self.state.answer
        prefix = self.prefix
        text = answer[len(prefix) :] if prefix and answer.startswith(prefix) else answer
        out = pieces(text)
        if self.max_tokens is not None and self.max_tokens < len(out):
            return out[: self.max_tokens], "length"
        return out, "stop"

    def usage(self, completion_tokens: int) -> dict[str, Any]:
        if self.endpoint == "responses":
            return {
                "input_tokens": self.prompt_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.prompt_tokens + completion_tokens,
            }
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }


# --- rendering an answer ---------------------------------------------------------------------


@dataclass
class Frames:
    """A streamed answer in four parts: what opens it, one frame per text piece, what finishes it, its end marker."""

    head: list[bytes]
    pieces: list[bytes]
    tail: list[bytes]
    done: list[bytes]
    garbage: bytes  # a data line that is not JSON, in this endpoint's framing
    error: bytes  # an error object, in this endpoint's framing


_DONE = b"data: [DONE]\n\n"
_ERROR_OBJECT = {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error"}


def _sse(obj: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _chat_frames(call: Call, parts: list[str], finish: str) -> Frames:
    base = {"id": f"chatcmpl-{call.id}", "object": "chat.completion.chunk", "created": call.created, "model": call.model}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]})

    tail = [chunk({}, finish)]
    if call.include_usage:
        tail.append(_sse({**base, "choices": [], "usage": call.usage(len(parts))}))
    return Frames(
        head=[chunk({"role": "assistant", "content": ""})],
        pieces=[chunk({"content": p}) for p in parts],
        tail=tail,
        done=[_DONE],
        garbage=b'data: {"id": "' + call.id.encode() + b'", "choices": [{"delta": {"content": "oops\n\n',
        error=_sse({"error": _ERROR_OBJECT}),
    )


def _completions_frames(call: Call, parts: list[str], finish: str) -> Frames:
    base = {"id": f"cmpl-{call.id}", "object": "text_completion", "created": call.created, "model": call.model}

    def chunk(text: str, finish_reason: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}]})

    tail = [chunk("", finish)]
    if call.include_usage:
        tail.append(_sse({**base, "choices": [], "usage": call.usage(len(parts))}))
    return Frames([], [chunk(p) for p in parts], tail, [_DONE], b"data: {'text': not json}\n\n", _sse({"error": _ERROR_OBJECT}))


def _response_object(call: Call, status: str, text: str | None, parts: int) -> dict[str, Any]:
    output = []
    if text is not None:
        content = [{"type": "output_text", "text": text, "annotations": []}]
        output.append({"type": "message", "id": f"msg_{call.id}", "status": "completed", "role": "assistant", "content": content})
    out: dict[str, Any] = {
        "id": f"resp_{call.id}",
        "object": "response",
        "created_at": call.created,
        "status": status,
        "model": call.model,
        "output": output,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "usage": call.usage(parts) if status != "in_progress" else None,
    }
    return out


def _responses_frames(call: Call, parts: list[str], finish: str) -> Frames:
    seq = itertools.count()
    item = f"msg_{call.id}"
    text = "".join(parts)

    def ev(kind: str, **fields: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

    at = {"item_id": item, "output_index": 0, "content_index": 0}
    status = "completed" if finish == "stop" else "incomplete"
    head = [
        ev("response.created", response=_response_object(call, "in_progress", None, 0)),
        ev("response.in_progress", response=_response_object(call, "in_progress", None, 0)),
        ev(
            "response.output_item.added",
            output_index=0,
            item={"type": "message", "id": item, "status": "in_progress", "role": "assistant", "content": []},
        ),
        ev("response.content_part.added", **at, part={"type": "output_text", "text": "", "annotations": []}),
    ]
    body = [ev("response.output_text.delta", **at, delta=p, logprobs=[]) for p in parts]
    tail = [
        ev("response.output_text.done", **at, text=text, logprobs=[]),
        ev("response.content_part.done", **at, part={"type": "output_text", "text": text, "annotations": []}),
        ev("response.output_item.done", output_index=0, item=_response_object(call, status, text, len(parts))["output"][0]),
    ]
    done = [ev(f"response.{status}", response=_response_object(call, status, text, len(parts)))]
    garbage = b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": oops}\n\n'
    error = ev("error", code="server_error", message=_ERROR_OBJECT["message"], param=None)
    return Frames(head, body, tail, done, garbage, error)


_FRAMES: dict[str, Callable[[Call, list[str], str], Frames]] = {
    "chat/completions": _chat_frames,
    "completions": _completions_frames,
    "responses": _responses_frames,
}


def _whole(call: Call, parts: list[str], finish: str) -> dict[str, Any]:
    """The non-streamed answer."""
    text = "".join(parts)
    if call.endpoint == "responses":
        return _response_object(call, "completed" if finish == "stop" else "incomplete", text, len(parts))
    if call.endpoint == "completions":
        choice: dict[str, Any] = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        kind = "text_completion"
    else:
        choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "logprobs": None, "finish_reason": finish}
        kind = "chat.completion"
    return {
        "id": call.id,
        "object": kind,
        "created": call.created,
        "model": call.model,
        "choices": [choice],
        "usage": call.usage(len(parts)),
    }


def _models_list(call: Call) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": call.state.model, "object": "model", "created": 0, "owned_by": "fault-provider"}]}


# --- sending: responses that misbehave ---------------------------------------------------------


def _reset_transport(transport: asyncio.Transport | None) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), dropping anything unsent."""
    if transport is None:
        raise RuntimeError("the ASGI server did not expose the connection's transport")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _serve(record: RecordedRequest, receive: Receive, work: Coroutine[Any, Any, object]) -> None:
    """Run ``work`` (sending a response) until it ends or the client goes away; record which."""
    worker = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_client_gone(receive))
    try:
        await asyncio.wait({worker, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not worker.done():
            if not (record.completed or record.aborted):
                record.disconnected = True
            worker.cancel()
        watcher.cancel()
        await asyncio.gather(worker, watcher, return_exceptions=True)
    error = None if worker.cancelled() else worker.exception()
    if error is not None:
        raise error


async def _settle() -> None:
    """Let the server see the connection it just aborted is gone (so it logs no error about it)."""
    for _ in range(3):
        await asyncio.sleep(0)


class _Stream(Response):
    """Headers, then frames: ``head``, ``pieces`` (text, counted; the first after ``first_delay``), ``rest``;
    then ``end``: "close" (the body ends), "abort" (connection reset) or "hang" (nothing more, held open)."""

    def __init__(
        self,
        call: Call,
        head: Sequence[bytes],
        parts: Sequence[bytes],
        rest: Sequence[bytes],
        *,
        media_type: str = "text/event-stream; charset=utf-8",
        first_delay: float = 0.0,
        end: str = "close",
    ) -> None:
        self.call = call
        self.frames = (list(head), list(parts), list(rest))
        self.content_type = media_type
        self.first_delay = first_delay
        self.end = end
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rec = self.call.record

        async def play() -> None:
            head, parts, rest = self.frames
            headers = [(b"content-type", self.content_type.encode()), (b"cache-control", b"no-cache")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            rec.status = 200
            for frame in head:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            for i, frame in enumerate(parts):
                if i == 0 and self.first_delay:
                    await asyncio.sleep(self.first_delay)
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                rec.chunks_sent += 1
            for frame in rest:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            if self.end == "abort":
                rec.aborted = True
                _reset_transport(self.call.transport)
                await _settle()
            elif self.end == "hang":
                await asyncio.Event().wait()
            else:
                rec.completed = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await _serve(rec, receive, play())


class _Reset(Response):
    """No response at all: the connection is reset before any headers."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.call.record.aborted = True
        _reset_transport(self.call.transport)
        await _settle()


class _Hang(Response):
    """No response at all: the request is held, the connection open, until the client gives up."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(self.call.record, receive, asyncio.Event().wait())


def _error(
    call: Call,
    http_status: int,
    message: str,
    kind: str | None,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An error answer in OpenAI's shape: ``{"error": {"message", "type", "param", "code", ...}}``."""
    call.record.status = http_status
    body = {"error": {"message": message, "type": kind, "param": param, "code": code, **extra}}
    return JSONResponse(body, http_status, headers=headers)


def _answer(
    call: Call, *, first_delay: float = 0.0, keep: int | None = None, end: str = "close", insert: str = "", marker: bool = True
) -> Response:
    """The answer, shaped: the first ``keep`` text chunks only, ``insert`` ("garbage" or "error") after them, no end ``marker``."""
    if call.endpoint == "models":
        return _Stream(call, [], [json.dumps(_models_list(call)).encode()], [], media_type="application/json", first_delay=first_delay)
    parts, finish = call.reply()
    if not call.stream:  # the same faults, as far as they apply to one JSON body
        if insert == "error":
            return _error(call, 500, _ERROR_OBJECT["message"], "server_error")
        body = json.dumps(_whole(call, parts, finish)).encode()
        if insert == "garbage":
            return _Stream(call, [], [body[: len(body) // 2]], [], media_type="application/json")
        if keep is not None:  # cut or stalled: half the body, then the end
            return _Stream(call, [], [body[: len(body) // 2]], [], media_type="application/json", end=end)
        return _Stream(call, [], [body], [], media_type="application/json", first_delay=first_delay)
    frames = _FRAMES[call.endpoint](call, parts, finish)
    if keep is None:
        rest = frames.tail + (frames.done if marker else [])
        return _Stream(call, frames.head, frames.pieces, rest, first_delay=first_delay, end=end)
    if insert == "garbage":
        rest = [frames.garbage] + frames.pieces[keep:] + frames.tail + frames.done
    elif insert == "error":
        rest = [frames.error]
    else:
        rest = []
    return _Stream(call, frames.head, frames.pieces[:keep], rest, first_delay=first_delay, end=end)


# --- the faults: one function each -------------------------------------------------------------


def _rate_limited(call: Call, fault: Fault) -> Response:
    headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    message = "Rate limit reached for requests per min (RPM) on this model. Please slow down."
    return _error(call, 429, message, "requests", code="rate_limit_exceeded", headers=headers)


def _server_error(call: Call, fault: Fault) -> Response:
    return _error(call, 500, _ERROR_OBJECT["message"], "server_error")


def _unavailable(call: Call, fault: Fault) -> Response:
    return _error(call, 503, "The engine is currently overloaded, please try again later.", "server_error")


def _reset(call: Call, fault: Fault) -> Response:
    return _Reset(call)


def _hang(call: Call, fault: Fault) -> Response:
    return _Hang(call)


def _slow_first_token(call: Call, fault: Fault) -> Response:
    return _answer(call, first_delay=fault.delay)


def _cut(call: Call, fault: Fault) -> Response:
    return _answer(call, keep=fault.after, end="close" if fault.how == "eof" else "abort")


def _stall(call: Call, fault: Fault) -> Response:
    return _answer(call, keep=fault.after, end="hang")


def _malformed(call: Call, fault: Fault) -> Response:
    return _answer(call, keep=fault.after, insert="garbage")


def _error_in_stream(call: Call, fault: Fault) -> Response:
    return _answer(call, keep=fault.after, insert="error")


def _no_done(call: Call, fault: Fault) -> Response:
    return _answer(call, marker=False)


def _context_length(call: Call, fault: Fault) -> Response:
    message = (
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
        "Please reduce the length of the messages."
    )
    return _error(call, 400, message, "invalid_request_error", code="context_length_exceeded", param="messages")


def _content_filter(call: Call, fault: Fault) -> Response:
    message = (
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry."
    )
    inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"violence": {"filtered": True, "severity": "high"}}}
    return _error(call, 400, message, None, code="content_filter", param="prompt", status=400, innererror=inner)


def _reject_prefill(call: Call, fault: Fault) -> Response:
    return _error(call, 400, "This model does not support assistant prefill", "invalid_request_error", param="messages")


def _unauthorized(call: Call, fault: Fault) -> Response:
    presented = call.record.headers.get("authorization", "").removeprefix("Bearer ")
    message = f"Incorrect API key provided: {presented}. You can find your API key at https://platform.openai.com/account/api-keys."
    return _error(call, 401, message, "invalid_request_error", code="invalid_api_key")


def _down(call: Call, fault: Fault) -> Response:
    if fault.how in ("reset", "refuse"):  # "refuse" stops the listener; a request that got in anyway is reset
        return _Reset(call)
    return _error(call, 503, "The service is temporarily down for maintenance.", "server_error", code="service_unavailable")


FaultFn = Callable[[Call, Fault], Response]

#: Every fault kind, and the function that plays it.
FAULTS: dict[str, FaultFn] = {
    "rate_limited": _rate_limited,
    "server_error": _server_error,
    "unavailable": _unavailable,
    "reset": _reset,
    "hang": _hang,
    "slow_first_token": _slow_first_token,
    "cut": _cut,
    "stall": _stall,
    "malformed": _malformed,
    "error_in_stream": _error_in_stream,
    "no_done": _no_done,
    "context_length": _context_length,
    "content_filter": _content_filter,
    "reject_prefill": _reject_prefill,
    "unauthorized": _unauthorized,
    "down": _down,
}


# --- the app -----------------------------------------------------------------------------------


def _state(request: Request) -> ProviderState:
    state: ProviderState = request.app.state.provider
    return state


def _generating(endpoint: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    async def handle(request: Request) -> Response:
        state = _state(request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        rec = state.record(request, endpoint, body)
        if not isinstance(body, dict):
            rec.status = 400
            return JSONResponse({"error": {"message": "the body must be a JSON object", "type": "invalid_request_error"}}, 400)
        call = Call(state, endpoint, body, rec, request.scope)
        fault = state.next_fault(endpoint, has_prefix=bool(call.prefix))
        if fault is None and state.reject_prefill and call.prefix:
            fault = Fault("reject_prefill")
        rec.fault = fault.kind if fault is not None else None
        return FAULTS[fault.kind](call, fault) if fault is not None else _answer(call)

    return handle


async def _models(request: Request) -> Response:
    state = _state(request)
    rec = state.record(request, "models", None)
    call = Call(state, "models", {}, rec, request.scope)
    fault = state.next_fault("models", has_prefix=False)
    rec.fault = fault.kind if fault is not None else None
    if fault is None:
        rec.status = 200
        return JSONResponse(_models_list(call))
    return FAULTS[fault.kind](call, fault)


async def _control_faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.set_faults([])
    elif request.method == "POST":
        data = await request.json()
        try:
            queued = state.set_faults(data.get("faults", []), append=bool(data.get("append", False)))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error"}}, 400)
        state.refuse(queued)  # stops listening at once; this answer still goes out
        return JSONResponse({"faults": [f.to_dict() for f in queued]})
    with state.lock:
        return JSONResponse({"faults": [f.to_dict() for f in state.faults]})


async def _control_requests(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        if request.method == "DELETE":
            state.requests.clear()
        return JSONResponse({"requests": [r.to_dict() for r in state.requests]})


async def _control_config(request: Request) -> Response:
    state = _state(request)
    data = await request.json()
    for name in ("answer", "model", "reject_prefill", "ignore_stream"):
        if name in data:
            setattr(state, name, data[name])
    return JSONResponse(
        {"answer": state.answer, "model": state.model, "reject_prefill": state.reject_prefill, "ignore_stream": state.ignore_stream}
    )


async def _control_health(request: Request) -> Response:
    return JSONResponse({"ok": True})


class _ExposeTransport:
    """The outermost ASGI layer: puts the connection's transport in the scope, so a fault can reset it.

    uvicorn's ``send`` is a bound method of its per-request cycle, which holds
    the transport; the app's own layers wrap ``send``, so it is read here.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
        await self.app(scope, receive, send)


def build_app(state: ProviderState) -> _ExposeTransport:
    app = Starlette(
        routes=[
            Route("/v1/models", _models, methods=["GET"]),
            Route("/v1/chat/completions", _generating("chat/completions"), methods=["POST"]),
            Route("/v1/completions", _generating("completions"), methods=["POST"]),
            Route("/v1/responses", _generating("responses"), methods=["POST"]),
            Route("/control/faults", _control_faults, methods=["GET", "POST", "DELETE"]),
            Route("/control/requests", _control_requests, methods=["GET", "DELETE"]),
            Route("/control/config", _control_config, methods=["POST"]),
            Route("/control/health", _control_health, methods=["GET"]),
        ]
    )
    app.state.provider = state
    return _ExposeTransport(app)


# --- running it in this process ------------------------------------------------------------------


class FaultProvider:
    """The provider on a background thread of this process (``with FaultProvider() as p:``).

    ``stop()`` resets every open connection and stops listening, like a
    process dying; ``start()`` listens again on the same port. The answer,
    faults and request log live on across the two.
    """

    def __init__(
        self,
        answer: str = DEFAULT_ANSWER,
        *,
        model: str = DEFAULT_MODEL,
        reject_prefill: bool = False,
        faults: Iterable[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = ProviderState(answer, model, reject_prefill)
        self.state.refuse_hook = self._refuse_for
        self.app = build_app(self.state)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[threading.Timer] = []
        self._closed = False
        self._lifecycle = threading.Lock()
        if faults:
            self.set_faults(faults)

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, timeout: float = 10.0) -> FaultProvider:
        with self._lifecycle:
            if self._server is not None:
                return self
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            self.port = sock.getsockname()[1]
            config = uvicorn.Config(
                self.app,
                http="h11",
                loop="asyncio",
                ws="none",
                lifespan="off",
                log_config=None,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                timeout_graceful_shutdown=1,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=self._run, args=(server, sock), name=f"fault-provider:{self.port}", daemon=True)
            self._server, self._thread = server, thread
            thread.start()
            deadline = time.monotonic() + timeout
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    self._server = self._thread = None
                    raise RuntimeError(f"the fault provider did not start on port {self.port}")
                time.sleep(0.005)
            return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        asyncio.run(serve())

    def stop(self) -> None:
        with self._lifecycle:
            server, thread, loop = self._server, self._thread, self._loop
            if server is None or thread is None:
                return
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(self._drop_connections, server)
            server.should_exit = True
            thread.join(timeout=15)
            self._server = self._thread = self._loop = None

    @staticmethod
    def _drop_connections(server: uvicorn.Server) -> None:
        """Stop listening; reset connections with a request in flight, close idle ones.

        A control request in flight is left to finish (uvicorn's own shutdown
        closes its connection after the answer).
        """
        for listener in getattr(server, "servers", []):
            listener.close()
        for conn in list(server.server_state.connections):
            transport = getattr(conn, "transport", None)
            cycle = getattr(conn, "cycle", None)
            if transport is None:
                continue
            if cycle is None or cycle.response_complete:
                transport.close()
            elif not str(cycle.scope.get("path", "")).startswith("/control/"):
                _reset_transport(transport)

    def _refuse_for(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` from now (stop, then start again on the same port)."""
        began = time.monotonic()
        if threading.current_thread() is not self._thread:
            self._down_then_up(began, seconds)
            return
        # Asked from a request, on the server's own loop: stop listening now, and leave
        # the rest of the stopping to another thread (it waits for this request to end).
        for listener in getattr(self._server, "servers", []):
            listener.close()
        threading.Thread(target=self._down_then_up, args=(began, seconds), daemon=True).start()

    def _down_then_up(self, began: float, seconds: float) -> None:
        self.stop()
        timer = threading.Timer(max(0.0, began + seconds - time.monotonic()), self._start_again)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _start_again(self) -> None:
        if not self._closed:
            self.start()

    def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self.stop()

    def __enter__(self) -> FaultProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- control ---------------------------------------------------------------------------

    def set_faults(self, faults: Iterable[Fault | dict[str, Any]], *, append: bool = False) -> None:
        """Replace the fault queue (or add to its end)."""
        self.state.refuse(self.state.set_faults(faults, append=append))

    def add_fault(self, fault: Fault) -> None:
        self.set_faults([fault], append=True)

    def clear_faults(self) -> None:
        self.state.set_faults([])

    @property
    def faults(self) -> list[Fault]:
        with self.state.lock:
            return list(self.state.faults)

    def configure(self, **settings: Any) -> None:
        """Change ``answer``, ``model``, ``reject_prefill`` or ``ignore_stream``."""
        for name, value in settings.items():
            if name not in ("answer", "model", "reject_prefill", "ignore_stream"):
                raise TypeError(f"unknown setting {name!r}")
            setattr(self.state, name, value)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` (from a plain thread) until it holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """:meth:`wait_for` for a coroutine: polls without blocking its event loop."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True


# --- running it as a process ------------------------------------------------------------------------


class FaultProviderProcess:
    """The provider as a child process, controlled over HTTP: ``kill()`` is a real kill -9."""

    def __init__(
        self, answer: str = DEFAULT_ANSWER, *, model: str = DEFAULT_MODEL, reject_prefill: bool = False, port: int | None = None
    ) -> None:
        self.answer = answer
        self.model = model
        self.reject_prefill = reject_prefill
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self, timeout: float = 30.0) -> FaultProviderProcess:
        cmd = [
            sys.executable,
            "-m",
            "llm_runner_router.edge.testing.fault_provider",
            "--port",
            str(self.port),
            "--answer",
            self.answer,
            "--model",
            self.model,
        ]
        if self.reject_prefill:
            cmd.append("--reject-prefill")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the fault provider process exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/control/health", timeout=1.0).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the fault provider process did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the kernel closes its sockets; nothing is sent by the provider itself."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> FaultProviderProcess:
        self.kill()
        return self.start()

    def __enter__(self) -> FaultProviderProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/control/{path}", json=payload, timeout=5.0)
        response.raise_for_status()
        return response.json()

    def set_faults(self, faults: Iterable[Fault | dict[str, Any]], *, append: bool = False) -> None:
        items = [f.to_dict() if isinstance(f, Fault) else f for f in faults]
        self._control("POST", "faults", {"faults": items, "append": append})

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def configure(self, **settings: Any) -> None:
        self._control("POST", "config", settings)

    def requests(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._control("GET", "requests")["requests"]
        return out

    def clear_requests(self) -> None:
        self._control("DELETE", "requests")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llm_runner_router.edge.testing.fault_provider", description="A fault-injecting OpenAI-compatible server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--answer", default=DEFAULT_ANSWER)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--reject-prefill", action="store_true")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with FaultProvider(args.answer, model=args.model, reject_prefill=args.reject_prefill, host=args.host, port=args.port) as provider:
        print(f"fault provider listening on {provider.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
