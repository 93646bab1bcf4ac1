"""The OpenAPI 3.1 description of the edge server's HTTP API, served at ``/openapi.json``.

Written by hand, from the same limits the validation uses (validation.py), so
that what it says a request may hold is what the server accepts: the fuzz
tests generate requests from this document and check the server's answers
against it. Fields the server ignores are allowed (``additionalProperties``),
as OpenAI clients send many. Fields it refuses unless they ask for nothing more
than the default (validation._UNHONOURED*: ``echo``, ``best_of``,
``response_format``...) are described, when at all, with the accepted values
only, so that nothing described as valid is refused.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from llm_runner_router.core.params import MAX_TOKENS_LIMIT

from .validation import MAX_BODY_BYTES, MAX_PROMPT_CHARS, ROLES

__all__ = ["ERROR_CODE_PATTERN", "openapi_document"]

ERROR_CODE_PATTERN = r"^LLM_[A-Z]+_[0-9]{3}_[IWECF]$"

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _num(lo: float, hi: float, *, lo_open: bool = False) -> dict[str, Any]:
    low = {"exclusiveMinimum": lo} if lo_open else {"minimum": lo}
    return {"type": "number", **low, "maximum": hi}


# Sampling parameters shared by the three generating endpoints (validation._sampling).
_SAMPLING: dict[str, Any] = {
    "temperature": _num(0, 2),
    "top_p": _num(0, 1, lo_open=True),
    "presence_penalty": _num(-2, 2),
    "frequency_penalty": _num(-2, 2),
    "seed": _int(-(2**63), 2**63 - 1),
    "stop": {
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 4},
        ]
    },
    "n": {"type": "integer", "enum": [1], "description": "only 1 is supported"},
    "response_format": _ref("TextFormat"),
    "stream": {"type": "boolean"},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
}
_MAX_TOKENS = {**_int(1, MAX_TOKENS_LIMIT), "description": "tokens to generate at most"}
_MODEL = {"type": "string", "maxLength": 256, "pattern": r"\S", "description": "a model alias or deployment (GET /v1/models)"}
_TEXT = {"type": "string", "pattern": r"\S", "description": "not only white space"}

_SCHEMAS: dict[str, Any] = {
    "TextFormat": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "enum": ["text"]}},
        "description": "only plain text is supported",
    },
    "TextPart": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"type": "string", "enum": ["text", "input_text", "output_text"]}, "text": _TEXT},
    },
    "Message": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": sorted(ROLES)},
            "content": {"oneOf": [_TEXT, {"type": "array", "items": _ref("TextPart"), "minItems": 1}]},
        },
    },
    "Messages": {
        "type": "array",
        "items": _ref("Message"),
        "minItems": 1,
        "description": f"at most {MAX_PROMPT_CHARS} characters of content in all",
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": _MODEL,
            "messages": _ref("Messages"),
            "max_tokens": _MAX_TOKENS,
            "max_completion_tokens": _MAX_TOKENS,
            "continue_final_message": {
                "type": "boolean",
                "description": "continue the last message, which must be the assistant's and follow another",
            },
            **_SAMPLING,
        },
    },
    "CompletionRequest": {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {
            "model": _MODEL,
            "prompt": {
                "oneOf": [
                    {**_TEXT, "maxLength": MAX_PROMPT_CHARS},
                    {"type": "array", "items": {**_TEXT, "maxLength": MAX_PROMPT_CHARS}, "minItems": 1, "maxItems": 1},
                ]
            },
            "max_tokens": _MAX_TOKENS,
            "echo": {"type": "boolean", "enum": [False], "description": "only false is supported"},
            "best_of": {"type": "integer", "enum": [1], "description": "only 1 is supported"},
            "suffix": {"type": "string", "enum": [""], "description": "only empty is supported"},
            **_SAMPLING,
        },
    },
    "ResponsesRequest": {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": _MODEL,
            "input": {"oneOf": [{**_TEXT, "maxLength": MAX_PROMPT_CHARS}, _ref("Messages")]},
            "instructions": {"type": "string"},
            "max_output_tokens": _MAX_TOKENS,
            "text": {"type": "object", "properties": {"format": _ref("TextFormat")}},
            **_SAMPLING,
        },
    },
    "HealRequest": {
        "type": "object",
        "properties": {
            "actions": {
                "type": "array",
                "items": {"type": "string", "enum": ["reload_models", "clear_caches", "reset_breakers", "adjust_timeouts"]},
                "description": "all of them when omitted",
            }
        },
    },
    "Usage": {
        "type": ["object", "null"],
        "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
        "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}},
    },
    "XLLM": {"type": "object", "description": "what the router did: deployment, status, attempts, switch and restart events"},
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["index", "message", "finish_reason"],
                    "properties": {
                        "index": {"type": "integer"},
                        "message": {
                            "type": "object",
                            "required": ["role", "content"],
                            "properties": {"role": {"type": "string", "enum": ["assistant"]}, "content": {"type": "string"}},
                        },
                        "finish_reason": {"type": ["string", "null"]},
                    },
                },
            },
            "usage": _ref("Usage"),
            "x_llm": _ref("XLLM"),
        },
    },
    "TextCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["text_completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["index", "text", "finish_reason"],
                    "properties": {"index": {"type": "integer"}, "text": {"type": "string"}, "finish_reason": {"type": ["string", "null"]}},
                },
            },
            "usage": _ref("Usage"),
            "x_llm": _ref("XLLM"),
        },
    },
    "Response": {
        "type": "object",
        "required": ["id", "object", "created_at", "model", "status", "output"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["response"]},
            "created_at": {"type": "integer"},
            "model": {"type": "string"},
            "status": {"type": "string", "enum": ["completed", "incomplete", "in_progress"]},
            "output": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "role", "content"],
                    "properties": {
                        "type": {"type": "string", "enum": ["message"]},
                        "role": {"type": "string", "enum": ["assistant"]},
                        "content": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["type", "text"],
                                "properties": {"type": {"type": "string", "enum": ["output_text"]}, "text": {"type": "string"}},
                            },
                        },
                    },
                },
            },
            "x_llm": _ref("XLLM"),
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "object"],
                    "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]}},
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code", "retryable", "recovery"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string", "description": "the code's category, in lower case"},
                    "param": {"type": ["string", "null"], "description": "the request field at fault"},
                    "code": {"type": "string", "pattern": ERROR_CODE_PATTERN, "description": "see docs/errors.md"},
                    "retryable": {"type": "boolean"},
                    "recovery": {"type": "string"},
                    "retry_after": {"type": "number", "description": "seconds; also the Retry-After header"},
                    "request_id": {"type": "string"},
                },
            }
        },
    },
    "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


# The failures any generating request can meet, by status (the catalogue's HTTP column).
_GENERATE_ERRORS: dict[str, Any] = {
    "400": _error("invalid request (LLM_VAL_*), or a context-length refusal"),
    "404": _error("unknown model (LLM_MODEL_001_E)"),
    "413": _error(f"body over {MAX_BODY_BYTES} bytes or prompt over {MAX_PROMPT_CHARS} characters (LLM_VAL_006_E)"),
    "429": _error("the server's queue is full or a backend rate-limits (LLM_RATE_*), with Retry-After"),
    "502": _error("every backend failed in a way that is theirs (LLM_NET_*, LLM_API_*, LLM_STREAM_*, ...)"),
    "503": _error("no deployment could answer (LLM_RETRY_*, LLM_CB_*)"),
    "504": _error("a deadline passed (LLM_TIMEOUT_*)"),
}


def _generate(summary: str, request: str, answer: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}}},
            "responses": {
                "200": {
                    "description": "the answer; with stream: true, server-sent events ending in data: [DONE] "
                    "(or a coded error event when no deployment could finish it)",
                    "content": {"application/json": {"schema": _ref(answer)}, "text/event-stream": {"schema": {"type": "string"}}},
                },
                **_GENERATE_ERRORS,
            },
        }
    }


def _get(summary: str, schema: dict[str, Any], media: str = "application/json", **extra: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "OK", "content": {media: {"schema": schema}}}}, **extra}}


_ADMIN: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
_REFUSED = {"401": _error("no key, or the wrong one (LLM_AUTH_001_E); always, when the server has no key set")}


@cache
def _document() -> dict[str, Any]:
    diagnostics = _get("status, metrics, store and monitor history", {"type": "object"}, security=_ADMIN)
    diagnostics["get"]["responses"].update(_REFUSED)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "llm-runner-router edge server",
            "version": "0.1.0",
            "description": "OpenAI-compatible API with routing, retries and mid-stream failover. Every error carries an "
            "LLM_* code in error.code (docs/errors.md).",
        },
        "paths": {
            "/v1/chat/completions": _generate("chat completion", "ChatCompletionRequest", "ChatCompletion"),
            "/v1/completions": _generate("text completion of one prompt", "CompletionRequest", "TextCompletion"),
            "/v1/responses": _generate("Responses API, text subset", "ResponsesRequest", "Response"),
            "/v1/models": _get("model aliases and deployments", _ref("ModelList")),
            "/health": _get("liveness", _ref("Status")),
            "/api/status": _get("models, deployments, breakers, hints, queue, monitor", _ref("Status")),
            "/api/diagnostics": diagnostics,
            "/api/heal": {
                "post": {
                    "summary": "run self-healing actions",
                    "security": _ADMIN,
                    "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("HealRequest")}}},
                    "responses": {
                        "200": {"description": "what was done", "content": {"application/json": {"schema": {"type": "object"}}}},
                        "400": _error("invalid actions (LLM_VAL_*)"),
                        **_REFUSED,
                        "500": _error("the self-healing monitor is not running (LLM_CORE_*)"),
                    },
                }
            },
            "/metrics": _get("Prometheus text format", {"type": "string"}, media="text/plain"),
            "/openapi.json": _get("this document", {"type": "object"}),
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The description (built once; callers must not change it)."""
    return _document()
