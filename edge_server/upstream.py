"""UpstreamBackend: the core's Backend for any OpenAI-compatible HTTP API.

One instance per provider (``ProviderConfig`` of kind ``openai``: OpenAI,
vLLM, llama.cpp's server, LiteLLM, OpenRouter, ...). ``stream(request)``
POSTs to ``{base_url}/{endpoint}`` with ``stream: true`` and turns the
event stream into :class:`~core.types.BackendChunk` s:

- ``chat/completions``: ``messages``, plus ``stream_options.include_usage``;
- ``completions``: a ``prompt`` transcript of the messages;
- ``responses`` (the text subset): ``input`` messages and ``instructions``
  (the system messages); ``response.output_text.delta`` events carry the
  text, ``response.completed`` / ``response.incomplete`` end it.

The deployment's model name is sent, the request's params as given (for
``responses``, ``max_tokens`` becomes ``max_output_tokens``). A prefix --
text the assistant already said -- is sent as a final assistant message
(prefill), so the answer continues after it.

Every failure is raised as an :class:`~core.errors.LLMError`; a stream never
ends quietly:

- a non-2xx answer: ``classify_http(status, body, headers)`` (body read up
  to 64 KiB);
- a failure before the answer's headers (refused, reset, timed out):
  ``classify(exc)``;
- the connection breaking after the headers: ``STREAM_CUT`` (a read timeout
  stays ``TIMEOUT_READ``);
- a data line that is not JSON or lacks the fields its endpoint needs, or
  an over-long line: ``STREAM_MALFORMED``;
- an error object in the stream: ``classify_http`` of it;
- the end of the body without the end marker (``[DONE]``,
  ``response.completed``): ``STREAM_NO_DONE`` when the answer had said how it
  finished, ``STREAM_CUT`` otherwise.

The last chunk carries ``finish_reason`` and ``usage``. Closing the
generator (``aclose()``, or cancelling the task reading it) closes the HTTP
response, so the upstream sees the client go away. The time to the first
token and the gaps between tokens are the router's watch; here there are
only httpx's connect and read timeouts, from the provider's config.

The API key (``api_key``, else the environment variable named by
``provider.api_key_env``, read at each request) goes into the
``Authorization`` header and nowhere else: it is scrubbed from every error
this module raises.

Provider ``options`` read here: ``include_usage`` (bool, default true: ask for
usage in the stream), ``prefill`` (``"message"``, the default: a plain final
assistant message; ``"vllm"``: also ``continue_final_message`` /
``add_generation_prompt``; ``"prefix_flag"``: the message gets
``"prefix": true``, as DeepSeek and Mistral want), ``health_timeout``
(seconds, default 5), ``max_line_bytes`` (the longest event-stream line).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import httpx

from llm_runner_router.core import catalogue
from llm_runner_router.core.classify import MESSAGE_LIMIT, classify, classify_http
from llm_runner_router.core.config import ProviderConfig
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import BackendChunk, BackendRequest, Message, Usage

from .sse import DEFAULT_MAX_LINE, SSEEvent, SSEParser

__all__ = [
    "ERROR_BODY_LIMIT",
    "ChatDecoder",
    "CompletionsDecoder",
    "Decoder",
    "ResponsesDecoder",
    "UpstreamBackend",
    "completion_prompt",
    "decoder_for",
]

ERROR_BODY_LIMIT: Final = 64 * 1024  # bytes of an error answer read
JSON_BODY_LIMIT: Final = 32 * 1024 * 1024  # bytes of a non-streamed answer (a server that ignored stream: true)
_EXCERPT: Final = 200  # characters of a bad data line quoted in the error
_PREFILL_STYLES: Final = ("message", "vllm", "prefix_flag")
_INCOMPLETE_REASONS: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _clip(text: str, limit: int = _EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _malformed(why: str, data: str | None = None) -> LLMError:
    context: dict[str, Any] = {"reason": why}
    if data is not None:
        context["data"] = _clip(data)
    return catalogue.STREAM_MALFORMED.error(f"the upstream stream carried {why}", **context)


def _json(data: str | bytes, what: str) -> dict[str, Any]:
    """A JSON object, or STREAM_MALFORMED."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        text = data if isinstance(data, str) else data[: _EXCERPT * 4].decode("utf-8", "replace")
        raise _malformed(f"{what} that is not valid JSON", text) from None
    if not isinstance(value, dict):
        raise _malformed(f"{what} that is not a JSON object", data if isinstance(data, str) else None)
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(value: Any, prompt_key: str, completion_key: str) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = _int(value.get(prompt_key)), _int(value.get(completion_key))
    if prompt is None and completion is None:
        return None
    return Usage(prompt or 0, completion or 0)


def _upstream_error(error: Any) -> LLMError:
    """An error object the upstream put in a 2xx body or stream."""
    status = 500
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        status = code
    body = error if isinstance(error, dict) and "error" in error else {"error": error}
    err = classify_http(status, body)
    err.context["in_stream"] = True
    return err


# --- decoders: one endpoint's events to chunks -------------------------------------------


class Decoder:
    """Turns one endpoint's stream events (or its whole JSON answer) into chunks.

    ``event`` returns the chunk an event makes, or None; it sets ``done`` at
    the end marker (and returns the last chunk, with finish_reason and
    usage). ``ended_early`` is the error for a stream that stopped before it.
    """

    endpoint: str = ""

    def __init__(self) -> None:
        self.done = False
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.chars = 0  # text received
        self.chunks = 0  # chunks of text received

    def event(self, event: SSEEvent) -> BackendChunk | None:
        raise NotImplementedError

    def whole(self, body: bytes) -> BackendChunk:
        raise NotImplementedError

    def _text(self, text: str) -> BackendChunk | None:
        if not text:
            return None
        self.chars += len(text)
        self.chunks += 1
        return BackendChunk(text)

    def _final(self) -> BackendChunk | None:
        self.done = True
        if self.finish is None and self.usage is None:
            return None
        return BackendChunk("", self.finish, self.usage)

    def finished(self) -> bool:
        """Whether the answer said how it ended (a finish reason) before the stream stopped."""
        return self.finish is not None

    def ended_early(self) -> LLMError:
        context: dict[str, Any] = {"received_chars": self.chars, "received_chunks": self.chunks}
        if self.finished():
            return catalogue.STREAM_NO_DONE.error(finish_reason=self.finish, **context)
        return catalogue.STREAM_CUT.error("the upstream stream ended before the answer finished", **context)


class _ChoicesDecoder(Decoder):
    """chat/completions and completions: ``choices[]`` chunks, ``usage``, then ``data: [DONE]``."""

    def _piece(self, choice: dict[str, Any], data: str) -> Any:
        raise NotImplementedError

    def event(self, event: SSEEvent) -> BackendChunk | None:
        data = event.data
        if data == "[DONE]":
            return self._final()
        obj = _json(data, "a data line")
        if obj.get("error") is not None:
            raise _upstream_error(obj)
        usage = _usage(obj.get("usage"), "prompt_tokens", "completion_tokens")
        if usage is not None:
            self.usage = usage
        choices = obj.get("choices")
        if choices is None and "usage" in obj:
            return None
        if not isinstance(choices, list):
            raise _malformed("a chunk without a choices list", data)
        text = ""
        for choice in choices:
            if not isinstance(choice, dict):
                raise _malformed("a choice that is not an object", data)
            if choice.get("index", 0) != 0:
                continue  # n > 1: only the first answer is read
            piece = self._piece(choice, data)
            if piece is not None:
                if not isinstance(piece, str):
                    raise _malformed("a text that is not a string", data)
                text += piece
            finish = choice.get("finish_reason")
            if finish is not None:
                if not isinstance(finish, str):
                    raise _malformed("a finish_reason that is not a string", data)
                self.finish = finish
        return self._text(text)

    def _whole_piece(self, choice: dict[str, Any]) -> Any:
        raise NotImplementedError

    def whole(self, body: bytes) -> BackendChunk:
        obj = _json(body, "an answer")
        if obj.get("error") is not None:
            raise _upstream_error(obj)
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise catalogue.API_INVALID_RESPONSE.error("the upstream answer has no choices")
        text = self._whole_piece(choices[0])
        finish = choices[0].get("finish_reason")
        if (text is not None and not isinstance(text, str)) or (finish is not None and not isinstance(finish, str)):
            raise catalogue.API_INVALID_RESPONSE.error("the upstream answer's choice has the wrong shape")
        self.done = True
        self.finish = finish or "stop"
        self.usage = _usage(obj.get("usage"), "prompt_tokens", "completion_tokens")
        return BackendChunk(text or "", self.finish, self.usage)


class ChatDecoder(_ChoicesDecoder):
    endpoint = "chat/completions"

    def _piece(self, choice: dict[str, Any], data: str) -> Any:
        delta = choice.get("delta")
        if delta is None:
            return None
        if not isinstance(delta, dict):
            raise _malformed("a delta that is not an object", data)
        return delta.get("content")

    def _whole_piece(self, choice: dict[str, Any]) -> Any:
        message = choice.get("message")
        return message.get("content") if isinstance(message, dict) else None


class CompletionsDecoder(_ChoicesDecoder):
    endpoint = "completions"

    def _piece(self, choice: dict[str, Any], data: str) -> Any:
        return choice.get("text")

    def _whole_piece(self, choice: dict[str, Any]) -> Any:
        return choice.get("text")


class ResponsesDecoder(Decoder):
    """The Responses API's typed events (text only). Its stream has no ``[DONE]``: ``response.completed`` ends it."""

    endpoint = "responses"

    def __init__(self) -> None:
        super().__init__()
        self.text_done = False  # response.output_text.done seen: the text is whole, the end marker still due

    def finished(self) -> bool:
        return self.text_done or self.finish is not None

    def event(self, event: SSEEvent) -> BackendChunk | None:
        data = event.data
        if data == "[DONE]":
            return self._final()
        obj = _json(data, "a data line")
        kind = obj.get("type", event.event)
        if not isinstance(kind, str):
            raise _malformed("an event without a type", data)
        if kind == "response.output_text.delta":
            delta = obj.get("delta")
            if not isinstance(delta, str):
                raise _malformed("an output_text delta without text", data)
            return self._text(delta)
        if kind == "response.output_text.done":
            self.text_done = True
            return None
        if kind in ("response.completed", "response.incomplete"):
            response = obj.get("response")
            if not isinstance(response, dict):
                raise _malformed(f"a {kind} event without its response", data)
            self._ending(response, kind == "response.completed")
            return self._final()
        if kind == "response.failed":
            response = obj.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            raise _upstream_error(error if error is not None else {"message": "the response failed"})
        if kind == "error":
            raise _upstream_error(obj.get("error", obj))
        return None  # response.created, output_item.added, content_part.done, ...: nothing to pass on

    def _ending(self, response: dict[str, Any], completed: bool) -> None:
        self.usage = _usage(response.get("usage"), "input_tokens", "output_tokens") or self.usage
        if completed:
            self.finish = "stop"
            return
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        self.finish = _INCOMPLETE_REASONS.get(reason, reason) if isinstance(reason, str) else "length"

    def whole(self, body: bytes) -> BackendChunk:
        obj = _json(body, "an answer")
        if obj.get("error") is not None:
            raise _upstream_error(obj["error"])
        output = obj.get("output")
        if not isinstance(output, list):
            raise catalogue.API_INVALID_RESPONSE.error("the upstream response has no output list")
        parts: list[str] = []
        for item in output:
            content = item.get("content") if isinstance(item, dict) and item.get("type") == "message" else None
            for part in content if isinstance(content, list) else ():
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    parts.append(part["text"])
        self._ending(obj, obj.get("status", "completed") == "completed")
        self.done = True
        return BackendChunk("".join(parts), self.finish, self.usage)


_DECODERS: Final[Mapping[str, type[Decoder]]] = {
    "chat/completions": ChatDecoder,
    "completions": CompletionsDecoder,
    "responses": ResponsesDecoder,
}


def decoder_for(endpoint: str) -> Decoder:
    """A fresh decoder for an endpoint ("chat/completions", "completions" or "responses")."""
    cls = _DECODERS.get(endpoint)
    if cls is None:
        raise catalogue.CONFIG_INVALID.error(f"unknown upstream endpoint {endpoint!r}", endpoint=endpoint, known=sorted(_DECODERS))
    return cls()


# --- request bodies ----------------------------------------------------------------------


def _with_prefix(messages: Sequence[Message], prefix: str) -> list[dict[str, Any]]:
    """The messages as JSON, the prefix as a final assistant message (merged into one the caller ended with)."""
    out: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in messages]
    if prefix:
        if out and out[-1]["role"] == "assistant":
            out[-1]["content"] = str(out[-1]["content"]) + prefix
        else:
            out.append({"role": "assistant", "content": prefix})
    return out


def completion_prompt(messages: Sequence[Message], prefix: str = "") -> str:
    """A plain transcript for the legacy completions endpoint, ending with ``Assistant:`` and the prefix."""
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    said = prefix
    if lines and messages[-1].role == "assistant":
        said = messages[-1].content + prefix
        lines.pop()
    lines.append("Assistant:" + (" " + said if said else ""))
    return "\n\n".join(lines)


# --- the backend ---------------------------------------------------------------------------


class UpstreamBackend:
    """A Backend speaking the OpenAI HTTP API to ``provider.base_url``."""

    def __init__(self, provider: ProviderConfig, *, client: httpx.AsyncClient | None = None, api_key: str | None = None) -> None:
        if not provider.base_url:
            raise catalogue.CONFIG_INVALID.error(
                f"provider {provider.name!r} has no base_url", field=f"providers.{provider.name}.base_url", provider=provider.name
            )
        self.provider = provider
        self.base_url = provider.base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = httpx.Timeout(
            connect=provider.connect_timeout,
            read=provider.read_timeout,
            write=provider.read_timeout,
            pool=provider.connect_timeout,
        )
        self._include_usage = _option(provider, "include_usage", True, bool)
        self._prefill = _option(provider, "prefill", "message", str)
        if self._prefill not in _PREFILL_STYLES:
            raise _bad_option(provider, "prefill", f"one of {', '.join(_PREFILL_STYLES)}")
        self._health_timeout = float(_option(provider, "health_timeout", 5.0, (int, float)))
        self._max_line = int(_option(provider, "max_line_bytes", DEFAULT_MAX_LINE, int))
        if self._health_timeout <= 0 or self._max_line <= 0:
            raise _bad_option(provider, "health_timeout" if self._health_timeout <= 0 else "max_line_bytes", "a positive number")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self.timeout)

    def __repr__(self) -> str:
        return f"UpstreamBackend({self.provider.name!r}, {self.base_url!r})"

    # --- the Backend protocol ---------------------------------------------------------

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]:
        # A raw text prompt (the completions API) goes to the upstream's completions endpoint.
        endpoint = "completions" if request.kind == "text" else request.endpoint or request.deployment.endpoint
        key = None
        response: httpx.Response | None = None
        try:
            decoder = decoder_for(endpoint)
            key = self._key()
            body = self.body(request, endpoint)
            headers = self._headers(key, request.request_id)
            try:
                response = await self._client.send(
                    self._client.build_request("POST", f"{self.base_url}/{endpoint}", json=body, headers=headers, timeout=self.timeout),
                    stream=True,
                )
            except Exception as exc:  # refused, reset, timed out before the headers: what classify says
                raise classify(exc) from exc
            if not 200 <= response.status_code < 300:
                raw, _ = await _read_bounded(response, ERROR_BODY_LIMIT, tolerate_errors=True)
                raise classify_http(response.status_code, raw, response.headers)
            parser = SSEParser(self._max_line)
            try:
                if response.headers.get("content-type", "").lower().startswith("application/json"):
                    # A server that ignored stream: true. One chunk, the whole answer.
                    raw, more = await _read_bounded(response, JSON_BODY_LIMIT)
                    if more:
                        raise _malformed(f"a non-streamed answer longer than {JSON_BODY_LIMIT} bytes")
                    yield decoder.whole(raw)
                    return
                async for piece in response.aiter_bytes():
                    for event in parser.feed(piece):
                        chunk = decoder.event(event)
                        if chunk is not None:
                            yield chunk
                        if decoder.done:
                            return
            except httpx.TimeoutException as exc:
                raise classify(exc) from exc
            except httpx.HTTPError as exc:  # the connection broke after the headers
                err = (
                    decoder.ended_early()
                    if decoder.finished()
                    else catalogue.STREAM_CUT.error(
                        "the connection to the upstream broke mid-answer", received_chars=decoder.chars, received_chunks=decoder.chunks
                    )
                )
                err.context["transport_error"] = type(exc).__name__
                err.context["exception_message"] = str(exc)[:MESSAGE_LIMIT]
                raise err from exc
            for event in parser.close():
                chunk = decoder.event(event)
                if chunk is not None:
                    yield chunk
                if decoder.done:
                    return
            raise decoder.ended_early()
        except LLMError as err:
            err.context.setdefault("provider", self.provider.name)
            err.context.setdefault("deployment", request.deployment.name)
            err.context.setdefault("endpoint", endpoint)
            _scrub(err, key)
            raise
        finally:
            if response is not None:
                await response.aclose()

    # --- the rest ------------------------------------------------------------------------

    async def health(self) -> bool:
        """Whether ``GET {base_url}/models`` answers 2xx within ``health_timeout`` seconds."""
        try:
            headers = self._headers(self._key(), "")
            timeout = httpx.Timeout(self._health_timeout, connect=min(self._health_timeout, self.provider.connect_timeout))
            async with self._client.stream("GET", f"{self.base_url}/models", headers=headers, timeout=timeout) as response:
                return 200 <= response.status_code < 300
        except Exception:
            return False

    async def aclose(self) -> None:
        """Close the HTTP client, if this backend made it."""
        if self._owns_client:
            await self._client.aclose()

    def body(self, request: BackendRequest, endpoint: str) -> dict[str, Any]:
        """The JSON body for one attempt on ``endpoint``."""
        params = {k: v for k, v in request.params.items() if k not in ("model", "messages", "prompt", "input", "stream")}
        body: dict[str, Any] = {**params, "model": request.deployment.model}
        if endpoint == "responses":
            for name in ("max_tokens", "max_completion_tokens"):
                if name in body:
                    body.setdefault("max_output_tokens", body.pop(name))
            system = [m.content for m in request.messages if m.role == "system"]
            rest = [m for m in request.messages if m.role != "system"]
            if system:
                given = body.get("instructions")
                body["instructions"] = "\n\n".join(([given] if isinstance(given, str) and given else []) + system)
            body["input"] = _with_prefix(rest, request.prefix)
            body["stream"] = True
            return body
        if endpoint == "completions":
            if request.kind == "text":
                body["prompt"] = "".join(m.content for m in request.messages) + request.prefix
            else:
                body["prompt"] = completion_prompt(request.messages, request.prefix)
        else:
            messages = _with_prefix(request.messages, request.prefix)
            body["messages"] = messages
            if request.prefix and self._prefill == "prefix_flag":
                messages[-1]["prefix"] = True
            elif request.prefix and self._prefill == "vllm":
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
        body["stream"] = True
        if self._include_usage:
            given = body.get("stream_options")
            body["stream_options"] = {**(given if isinstance(given, dict) else {}), "include_usage": True}
        return body

    def _key(self) -> str | None:
        if self._api_key is not None:
            return self._api_key or None
        name = self.provider.api_key_env
        if not name:
            return None
        value = os.environ.get(name)
        if not value:
            raise catalogue.CONFIG_INVALID.error(
                f"the environment variable {name}, the API key of provider {self.provider.name!r}, is not set",
                field=f"providers.{self.provider.name}.api_key_env",
                env=name,
                provider=self.provider.name,
            )
        return value

    @staticmethod
    def _headers(key: str | None, request_id: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if request_id:
            headers["X-Request-ID"] = request_id
        return headers


# --- helpers ------------------------------------------------------------------------------


async def _read_bounded(response: httpx.Response, limit: int, *, tolerate_errors: bool = False) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body, and whether there was more."""
    buf = bytearray()
    try:
        async for piece in response.aiter_bytes():
            buf += piece
            if len(buf) > limit:
                return bytes(buf[:limit]), True
    except httpx.HTTPError:
        if not tolerate_errors:
            raise
    return bytes(buf), False


def _scrub_value(value: Any, key: str, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value.replace(key, "[REDACTED]")
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {k: _scrub_value(v, key, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, key, depth + 1) for v in value]
    return value


def _scrub(err: LLMError, key: str | None) -> None:
    """Replace every mention of the API key in ``err``'s message and context."""
    if key and len(key) >= 4:
        err.message = err.message.replace(key, "[REDACTED]")
        err.args = (f"[{err.code}] {err.message}",)
        err.context = _scrub_value(err.context, key)


def _option(provider: ProviderConfig, name: str, default: Any, kind: type | tuple[type, ...]) -> Any:
    value = provider.options.get(name, default)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _bad_option(provider, name, f"of type {kind}")
    return value


def _bad_option(provider: ProviderConfig, name: str, want: str) -> LLMError:
    return catalogue.CONFIG_INVALID.error(
        f"providers.{provider.name}.options.{name} must be {want}",
        field=f"providers.{provider.name}.options.{name}",
        value=provider.options.get(name),
    )
