"""OpenAI wire shapes: completion objects, stream chunks, errors, SSE framing.

Our additions ride in an ``x_llm`` object (which deployment answered, a
switch or restart mid-answer, a cached answer), which OpenAI clients keep
as an extra field and otherwise ignore. An answer that could not be
finished ends its stream with an ``error`` event, which the official
clients raise as an exception: never a cut answer that looks complete.
"""

from __future__ import annotations

import json
import time
from typing import Any

from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import Usage

__all__ = ["error_body", "sse", "usage_dict"]


def sse(payload: dict[str, Any] | str, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def error_body(err: LLMError, request_id: str = "") -> dict[str, Any]:
    """OpenAI's error shape, with our code as error.code and the rest of ours beside it."""
    body: dict[str, Any] = {
        "message": err.message,
        "type": err.type,
        "param": err.context.get("field"),
        "code": err.code,
        "retryable": err.retryable,
        "recovery": err.recovery.value,
    }
    if err.retry_after is not None:
        body["retry_after"] = err.retry_after
    if request_id:
        body["request_id"] = request_id
    return {"error": body}


def usage_dict(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}


class ChatShapes:
    """Builds /v1/chat/completions objects for one response."""

    object_name = "chat.completion"

    def __init__(self, response_id: str, model: str) -> None:
        self.id = response_id
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, x_llm: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if x_llm:
            out["x_llm"] = x_llm
        return out

    def text_chunk(self, text: str, first: bool, x_llm: dict[str, Any] | None = None) -> dict[str, Any]:
        delta = {"role": "assistant", "content": text} if first else {"content": text}
        return self.chunk(delta, None, x_llm)

    def usage_chunk(self, usage: Usage | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_dict(usage),
        }

    def whole(self, text: str, finish_reason: str | None, usage: Usage | None, x_llm: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason, "logprobs": None}],
            "usage": usage_dict(usage),
            "x_llm": x_llm,
        }


class TextShapes(ChatShapes):
    """Builds /v1/completions objects (text_completion)."""

    object_name = "text_completion"

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, x_llm: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": delta.get("content", ""), "finish_reason": finish_reason, "logprobs": None}],
        }
        if x_llm:
            out["x_llm"] = x_llm
        return out

    def usage_chunk(self, usage: Usage | None) -> dict[str, Any]:
        out = self.chunk({}, None)
        out["choices"] = []
        out["usage"] = usage_dict(usage)
        return out

    def whole(self, text: str, finish_reason: str | None, usage: Usage | None, x_llm: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
            "usage": usage_dict(usage),
            "x_llm": x_llm,
        }


def response_object(response_id: str, model: str, text: str, status: str, usage: Usage | None, x_llm: dict[str, Any]) -> dict[str, Any]:
    """A /v1/responses object (text subset)."""
    out: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": status,
        "output": [
            {
                "type": "message",
                "id": f"msg_{response_id}",
                "role": "assistant",
                "status": status,
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "x_llm": x_llm,
    }
    if usage is not None:
        out["usage"] = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}
    return out
