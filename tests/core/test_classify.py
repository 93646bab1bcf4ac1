"""The classifier: exceptions, HTTP answers and messages to catalogue codes.

No sockets, threads or event loops: exceptions are built, not provoked, so
the same tests run inside Pyodide.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue as cat
from llm_runner_router.core.classify import (
    ENGINE_STAGES,
    MESSAGE_LIMIT,
    RULES,
    STATUS_CODES,
    classify,
    classify_engine_failure,
    classify_http,
    classify_text,
    parse_retry_after,
)
from llm_runner_router.core.errors import ErrorSpec, LLMError, NetworkError

# --- helpers -----------------------------------------------------------------------------


def third_party(name: str, module: str = "httpx", base: type[BaseException] = Exception) -> type[BaseException]:
    """A stand-in for a class of a library we do not import: same name, same module."""
    return type(name, (base,), {"__module__": module})


class FakeResponse:
    def __init__(self, status_code: int, text: str = "", headers: Mapping[str, str] | None = None) -> None:
        self.status_code = status_code
        self._text = text
        self.headers = dict(headers or {})

    @property
    def text(self) -> str:
        return self._text


class UnreadResponse(FakeResponse):
    """httpx raises ResponseNotRead when .text is read before a streamed body is."""

    @property
    def text(self) -> str:
        raise RuntimeError("Attempted to access streaming response content, without having called `read()`.")

    @property
    def content(self) -> bytes:
        raise RuntimeError("not read")


def httpx_status_error(status: int, text: str = "", headers: Mapping[str, str] | None = None) -> BaseException:
    cls = third_party("HTTPStatusError")
    exc = cls(f"Client error '{status}' for url 'https://api.example/v1/chat/completions'")
    exc.response = FakeResponse(status, text, headers)  # type: ignore[attr-defined]
    return exc


def openai_status_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> BaseException:
    cls = third_party("APIStatusError", module="openai")
    exc = cls(f"Error code: {status} - {body}")
    exc.status_code = status  # type: ignore[attr-defined]
    exc.body = body  # type: ignore[attr-defined]
    exc.response = FakeResponse(status, json.dumps(body), headers)  # type: ignore[attr-defined]
    return exc


def openai_body(
    message: str, type_: str | None = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- classify: exception types -----------------------------------------------------------


def gaierror() -> BaseException:
    socket = pytest.importorskip("socket")
    return socket.gaierror(-2, "Name or service not known")  # type: ignore[no-any-return]


def ssl_error() -> BaseException:
    ssl = pytest.importorskip("ssl")
    return ssl.SSLError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")  # type: ignore[no-any-return]


def json_error() -> BaseException:
    try:
        json.loads("{not json")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("make", "spec"),
    [
        (lambda: TimeoutError("timed out"), cat.TIMEOUT_READ),
        (lambda: asyncio.TimeoutError(), cat.TIMEOUT_READ),  # noqa: UP041 - the alias is what we test,
        (lambda: ConnectionRefusedError(111, "Connection refused"), cat.NET_CONNECTION_FAILED),
        (lambda: ConnectionResetError(104, "Connection reset by peer"), cat.NET_CONNECTION_RESET),
        (lambda: BrokenPipeError(32, "Broken pipe"), cat.NET_CONNECTION_RESET),
        (lambda: ConnectionAbortedError(103, "aborted"), cat.NET_CONNECTION_RESET),
        (lambda: asyncio.IncompleteReadError(b"par", 10), cat.NET_CONNECTION_RESET),
        (lambda: ConnectionError("lost the backend"), cat.NET_CONNECTION_FAILED),
        (gaierror, cat.NET_DNS_FAILED),
        (ssl_error, cat.NET_TLS_FAILED),
        (lambda: MemoryError(), cat.MEM_OUT_OF_MEMORY),
        (json_error, cat.API_INVALID_RESPONSE),
        (lambda: asyncio.CancelledError(), cat.CORE_CANCELLED),
        (lambda: KeyboardInterrupt(), cat.CORE_CANCELLED),
        (lambda: GeneratorExit(), cat.CORE_CANCELLED),
        (lambda: ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"), cat.ONNX_RUNTIME_MISSING),
        (lambda: ValueError("Requested tokens (5000) exceed context window of 4096"), cat.RUNTIME_CONTEXT_LENGTH),
        (lambda: RuntimeError("something odd"), cat.CORE_INTERNAL),
        (lambda: Exception(), cat.CORE_INTERNAL),
        (lambda: ZeroDivisionError("division by zero"), cat.CORE_INTERNAL),
    ],
)
def test_classify_by_type(make: Any, spec: ErrorSpec) -> None:
    exc = make()
    err = classify(exc)
    assert err.spec is spec
    assert err.__cause__ is exc
    assert err.context["exception_type"] == type(exc).__name__ or err.context["exception_type"].endswith("." + type(exc).__name__)


def test_classify_returns_an_llm_error_unchanged() -> None:
    err = cat.CB_OPEN.error(breaker="x")
    assert classify(err) is err


def test_classify_context_has_type_and_clipped_message() -> None:
    exc = RuntimeError("x" * 5000)
    err = classify(exc)
    assert err.context["exception_type"] == "RuntimeError"
    assert len(err.context["exception_message"]) <= MESSAGE_LIMIT
    data = json.loads(err.to_json())
    assert data["cause"].startswith("RuntimeError: xxx")


def test_llama_cpp_context_window_error_carries_the_numbers() -> None:
    err = classify(ValueError("Requested tokens (5000) exceed context window of 4096"))
    assert err.spec is cat.RUNTIME_CONTEXT_LENGTH
    assert err.context["requested_tokens"] == 5000
    assert err.context["context_window"] == 4096


# --- classify: third-party exceptions, by name -------------------------------------------


@pytest.mark.parametrize(
    ("name", "module", "spec"),
    [
        ("ConnectTimeout", "httpx", cat.TIMEOUT_CONNECT),
        ("ReadTimeout", "httpx", cat.TIMEOUT_READ),
        ("WriteTimeout", "httpx", cat.TIMEOUT_READ),
        ("PoolTimeout", "httpx", cat.TIMEOUT_READ),
        ("ConnectError", "httpx", cat.NET_CONNECTION_FAILED),
        ("RemoteProtocolError", "httpx", cat.NET_CONNECTION_RESET),
        ("ReadError", "httpx", cat.NET_CONNECTION_RESET),
        ("ConnectTimeout", "httpcore", cat.TIMEOUT_CONNECT),
        ("APITimeoutError", "openai", cat.TIMEOUT_READ),
        ("APIConnectionError", "openai", cat.NET_CONNECTION_FAILED),
        ("ServerDisconnectedError", "aiohttp.client_exceptions", cat.NET_CONNECTION_RESET),
        ("ClientConnectorError", "aiohttp.client_exceptions", cat.NET_CONNECTION_FAILED),
        ("ConnectTimeout", "requests.exceptions", cat.TIMEOUT_CONNECT),
        ("SSLError", "requests.exceptions", cat.NET_TLS_FAILED),
        ("NameResolutionError", "urllib3.exceptions", cat.NET_DNS_FAILED),
        ("ContextWindowExceededError", "litellm.exceptions", cat.RUNTIME_CONTEXT_LENGTH),
        ("InvalidProtobuf", "onnxruntime.capi.onnxruntime_pybind11_state", cat.ONNX_INVALID_MODEL),
        ("NotImplemented", "onnxruntime.capi.onnxruntime_pybind11_state", cat.ONNX_UNSUPPORTED_OP),
        ("RuntimeException", "onnxruntime.capi.onnxruntime_pybind11_state", cat.ONNX_RUN_FAILED),
    ],
)
def test_classify_third_party_by_name(name: str, module: str, spec: ErrorSpec) -> None:
    exc = third_party(name, module)("boom")
    err = classify(exc)
    assert err.spec is spec
    assert err.__cause__ is exc
    assert err.context["exception_type"] == f"{module}.{name}"


def test_subclasses_of_a_known_third_party_class_count() -> None:
    base = third_party("ReadTimeout")
    sub = type("MyReadTimeout", (base,), {"__module__": "mylib"})
    assert classify(sub("slow")).spec is cat.TIMEOUT_READ


def test_standard_library_classes_with_a_known_name_do_not_count() -> None:
    tarfile = pytest.importorskip("tarfile")
    err = classify(tarfile.ReadError("file could not be opened successfully"))
    assert err.spec is cat.CORE_INTERNAL


def test_onnxruntime_names_count_only_from_onnxruntime() -> None:
    assert classify(third_party("InvalidProtobuf", "someotherlib")("x")).spec is cat.CORE_INTERNAL


# --- classify: HTTP-carrying exceptions --------------------------------------------------


def test_httpx_status_error_goes_through_classify_http() -> None:
    body = json.dumps(openai_body("You exceeded your current quota", "insufficient_quota", code="insufficient_quota"))
    exc = httpx_status_error(429, body, {"Retry-After": "7"})
    err = classify(exc)
    assert err.spec is cat.RATE_QUOTA_EXHAUSTED
    assert err.retry_after == 7.0
    assert err.context["status"] == 429
    assert err.context["exception_type"] == "httpx.HTTPStatusError"
    assert err.__cause__ is exc


def test_httpx_status_error_with_unread_streamed_body() -> None:
    cls = third_party("HTTPStatusError")
    exc = cls("Server error '503 Service Unavailable'")
    exc.response = UnreadResponse(503, headers={"retry-after": "3"})  # type: ignore[attr-defined]
    err = classify(exc)
    assert err.spec is cat.NET_UNAVAILABLE
    assert err.retry_after == 3.0


def test_openai_api_status_error_uses_its_parsed_body() -> None:
    inner = {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."}
    inner |= {"type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}
    err = classify(openai_status_error(400, inner, {"retry-after-ms": "250"}))
    assert err.spec is cat.API_UNSUPPORTED_PARAMETER
    assert err.context["param"] == "max_tokens"
    assert err.context["use_instead"] == "max_completion_tokens"
    assert err.retry_after == 0.25


def test_aiohttp_style_status_attribute() -> None:
    exc = third_party("ClientResponseError", "aiohttp.client_exceptions")("502, message='Bad Gateway'")
    exc.status = 502  # type: ignore[attr-defined]
    exc.message = "Bad Gateway"  # type: ignore[attr-defined]
    exc.headers = {"Retry-After": "1"}  # type: ignore[attr-defined]
    err = classify(exc)
    assert err.spec is cat.NET_BAD_GATEWAY
    assert err.retry_after == 1.0


def test_bogus_status_attributes_are_ignored() -> None:
    exc = RuntimeError("odd")
    exc.status_code = True  # type: ignore[attr-defined]
    exc.status = "500"  # type: ignore[attr-defined]
    assert classify(exc).spec is cat.CORE_INTERNAL
    exc2 = RuntimeError("odd")
    exc2.status_code = 7  # type: ignore[attr-defined]
    assert classify(exc2).spec is cat.CORE_INTERNAL


# --- classify: chains --------------------------------------------------------------------


def test_cause_is_walked() -> None:
    root = ConnectionRefusedError(111, "Connection refused")
    try:
        try:
            raise root
        except OSError as inner:
            raise RuntimeError("backend call failed") from inner
    except RuntimeError as exc:
        outer = exc
    err = classify(outer)
    assert err.spec is cat.NET_CONNECTION_FAILED
    assert err.__cause__ is outer
    assert err.context["exception_type"] == "RuntimeError"
    assert err.context["matched_type"] == "ConnectionRefusedError"


def test_context_is_walked() -> None:
    try:
        try:
            raise TimeoutError()
        except TimeoutError:
            raise KeyError("while handling") from None
    except KeyError as exc:
        outer = exc
    assert classify(outer).spec is cat.TIMEOUT_READ


def test_types_anywhere_in_the_chain_win_over_text() -> None:
    outer = RuntimeError("connection refused by something")
    outer.__cause__ = MemoryError()
    assert classify(outer).spec is cat.MEM_OUT_OF_MEMORY


def test_text_of_a_chained_exception_is_used() -> None:
    outer = RuntimeError("engine failed")
    outer.__cause__ = ValueError("Requested tokens (9000) exceed context window of 8192")
    err = classify(outer)
    assert err.spec is cat.RUNTIME_CONTEXT_LENGTH
    assert err.context["matched_type"] == "ValueError"


def test_an_llm_error_in_the_chain_is_returned() -> None:
    inner = cat.STREAM_STALL.error()
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    assert classify(outer) is inner


def test_cycles_terminate() -> None:
    a = RuntimeError("a")
    b = RuntimeError("b")
    a.__context__ = b
    b.__context__ = a
    assert classify(a).spec is cat.CORE_INTERNAL


def test_exception_groups_are_searched() -> None:
    group = ExceptionGroup("task group", [ValueError("bad"), ConnectionResetError(104, "reset")])
    assert classify(group).spec is cat.NET_CONNECTION_RESET


def test_very_long_chains_are_cut() -> None:
    exc: BaseException = ConnectionRefusedError()
    for i in range(1000):
        nxt = RuntimeError(f"layer {i}")
        nxt.__cause__ = exc
        exc = nxt
    assert classify(exc).spec is cat.CORE_INTERNAL  # the refusal is too deep to matter


# --- classify: robustness ----------------------------------------------------------------


class Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    @property
    def response(self) -> Any:
        raise RuntimeError("no response either")


def test_hostile_exception_does_not_break_classify() -> None:
    exc = Hostile()
    err = classify(exc)
    assert err.spec is cat.CORE_INTERNAL
    assert err.__cause__ is exc
    assert err.context["exception_message"] == ""


# --- classify_http: status table ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "spec"),
    [
        (400, cat.API_BAD_REQUEST),
        (422, cat.API_BAD_REQUEST),
        (401, cat.AUTH_UPSTREAM_REJECTED),
        (402, cat.RATE_QUOTA_EXHAUSTED),
        (403, cat.AUTH_FORBIDDEN),
        (404, cat.API_MODEL_NOT_FOUND),
        (408, cat.TIMEOUT_READ),
        (413, cat.RUNTIME_CONTEXT_LENGTH),
        (429, cat.RATE_LIMITED),
        (500, cat.NET_UPSTREAM_ERROR),
        (502, cat.NET_BAD_GATEWAY),
        (504, cat.NET_BAD_GATEWAY),
        (503, cat.NET_UNAVAILABLE),
        (529, cat.NET_UNAVAILABLE),
        (501, cat.NET_UPSTREAM_ERROR),
        (599, cat.NET_UPSTREAM_ERROR),
        (405, cat.API_BAD_REQUEST),
        (418, cat.API_BAD_REQUEST),
        (499, cat.API_BAD_REQUEST),
        (200, cat.API_INVALID_RESPONSE),
        (302, cat.API_INVALID_RESPONSE),
        (0, cat.API_INVALID_RESPONSE),
        (-1, cat.API_INVALID_RESPONSE),
        (10**12, cat.API_INVALID_RESPONSE),
    ],
)
def test_status_without_a_telling_body(status: int, spec: ErrorSpec) -> None:
    for body in (None, "", "{}", b"", {"error": {"message": "Something went wrong"}}):
        err = classify_http(status, body)
        assert err.spec is spec, body
        assert err.context["status"] == status
        assert "upstream_message" in err.context


def test_status_table_is_exported_and_consistent() -> None:
    assert STATUS_CODES[429] is cat.RATE_LIMITED
    for status, spec in STATUS_CODES.items():
        assert classify_http(status).spec is spec


# --- classify_http: body shapes ----------------------------------------------------------

CONTEXT_MESSAGE = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."


@pytest.mark.parametrize(
    "body",
    [
        openai_body(CONTEXT_MESSAGE, code="context_length_exceeded", param="messages"),
        json.dumps(openai_body(CONTEXT_MESSAGE)),
        json.dumps(openai_body(CONTEXT_MESSAGE)).encode(),
        {"error": CONTEXT_MESSAGE},
        {"message": CONTEXT_MESSAGE},
        {"detail": CONTEXT_MESSAGE},
        json.dumps([openai_body(CONTEXT_MESSAGE)]),
        json.dumps(CONTEXT_MESSAGE),
        CONTEXT_MESSAGE,
        "  " + CONTEXT_MESSAGE + "\n",
        "{" + CONTEXT_MESSAGE,  # broken JSON is read as text
        CONTEXT_MESSAGE.encode() + b"\xff\xfe",  # and so are bytes that are not UTF-8
    ],
)
def test_body_shapes(body: Any) -> None:
    err = classify_http(400, body)
    assert err.spec is cat.RUNTIME_CONTEXT_LENGTH
    assert CONTEXT_MESSAGE in err.context["upstream_message"] or err.context["upstream_message"].startswith("{")
    assert err.context["context_window"] == 8192
    assert err.context["requested_tokens"] == 9000


def test_upstream_fields_go_into_context() -> None:
    err = classify_http(400, openai_body("Invalid value for 'n'.", "invalid_request_error", param="n", code="invalid_value"))
    assert err.spec is cat.API_BAD_REQUEST
    assert err.context == {
        "status": 400,
        "upstream_message": "Invalid value for 'n'.",
        "upstream_code": "invalid_value",
        "upstream_type": "invalid_request_error",
        "upstream_param": "n",
    }


def test_upstream_message_is_clipped() -> None:
    err = classify_http(500, {"error": {"message": "y" * 10_000}})
    assert len(err.context["upstream_message"]) <= MESSAGE_LIMIT
    err = classify_http(500, "z" * 100_000)
    assert len(err.context["upstream_message"]) <= MESSAGE_LIMIT


def test_fastapi_validation_detail_list() -> None:
    body = {"detail": [{"type": "extra_forbidden", "loc": ["body", "frequency_penalty"], "msg": "Extra inputs are not permitted"}]}
    err = classify_http(422, body)
    assert err.spec is cat.API_UNSUPPORTED_PARAMETER
    assert err.context["param"] == "frequency_penalty"


def test_mistral_nested_message_detail() -> None:
    body = {
        "object": "error",
        "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "seed"], "msg": "Extra inputs are not permitted"}]},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    err = classify_http(422, json.dumps(body))
    assert err.spec is cat.API_UNSUPPORTED_PARAMETER
    assert err.context["param"] == "seed"


def test_openrouter_raw_provider_error_is_read() -> None:
    raw = json.dumps(openai_body(CONTEXT_MESSAGE, code="context_length_exceeded"))
    body = {"error": {"message": "Provider returned error", "code": 400, "metadata": {"raw": raw, "provider_name": "X"}}}
    assert classify_http(400, body).spec is cat.RUNTIME_CONTEXT_LENGTH


def test_llama_cpp_server_context_error_fields() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 5000,
            "n_ctx": 4096,
        }
    }
    err = classify_http(400, body)
    assert err.spec is cat.RUNTIME_CONTEXT_LENGTH
    assert err.context["requested_tokens"] == 5000
    assert err.context["context_window"] == 4096


# --- classify_http: what the body says wins over the status ------------------------------


@pytest.mark.parametrize(
    ("status", "body", "spec", "context"),
    [
        # context length
        (400, openai_body("too long", code="context_length_exceeded"), cat.RUNTIME_CONTEXT_LENGTH, {}),
        (500, {"error": CONTEXT_MESSAGE}, cat.RUNTIME_CONTEXT_LENGTH, {"context_window": 8192}),
        (400, "Input exceeds the context window of this model", cat.RUNTIME_CONTEXT_LENGTH, {}),
        (
            400,
            {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 201234 tokens > 200000 maximum"}},
            cat.RUNTIME_CONTEXT_LENGTH,
            {"requested_tokens": 201234, "context_window": 200000},
        ),
        (400, "too many tokens: total number of tokens in the prompt cannot exceed 4081", cat.RUNTIME_CONTEXT_LENGTH, {}),
        # content filter
        (400, openai_body("The response was filtered", code="content_filter", param="prompt"), cat.API_CONTENT_FILTERED, {}),
        (400, openai_body("Your request was rejected", code="content_policy_violation"), cat.API_CONTENT_FILTERED, {}),
        (
            400,
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            cat.API_CONTENT_FILTERED,
            {},
        ),
        (400, "Your prompt was flagged by our moderation system", cat.API_CONTENT_FILTERED, {}),
        (400, "Your request was rejected as a result of our safety system.", cat.API_CONTENT_FILTERED, {}),
        (400, {"error": {"message": "blocked", "innererror": {"code": "ResponsibleAIPolicyViolation"}}}, cat.API_CONTENT_FILTERED, {}),
        (400, "This request violates Responsible AI guidelines", cat.API_CONTENT_FILTERED, {}),
        # wrong endpoint, both directions
        (
            404,
            openai_body("This model is only supported in v1/responses and not in v1/chat/completions."),
            cat.API_WRONG_ENDPOINT,
            {"suggested_endpoint": "responses"},
        ),
        (400, "model gpt-x is not supported in v1/chat/completions", cat.API_WRONG_ENDPOINT, {"suggested_endpoint": "responses"}),
        (
            400,
            "This model is only supported in v1/chat/completions and not in v1/responses.",
            cat.API_WRONG_ENDPOINT,
            {"suggested_endpoint": "chat/completions"},
        ),
        (400, "model x is not supported in v1/responses", cat.API_WRONG_ENDPOINT, {"suggested_endpoint": "chat/completions"}),
        (
            404,
            "This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/completions?",
            cat.API_WRONG_ENDPOINT,
            {"suggested_endpoint": "completions"},
        ),
        (400, "This is not a chat model.", cat.API_WRONG_ENDPOINT, {"suggested_endpoint": "completions"}),
        # prefill
        (
            400,
            "This model does not support assistant message prefill. The conversation must end with a user message.",
            cat.API_PREFILL_UNSUPPORTED,
            {},
        ),
        (400, "messages: final assistant content cannot end with trailing whitespace", cat.API_PREFILL_UNSUPPORTED, {}),
        (400, "Prefill is not supported for this model", cat.API_PREFILL_UNSUPPORTED, {}),
        (400, "This deployment does not support prefill", cat.API_PREFILL_UNSUPPORTED, {}),
        (
            400,
            "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant",
            cat.API_PREFILL_UNSUPPORTED,
            {},
        ),
        # unsupported parameter
        (
            400,
            openai_body(
                "Unsupported parameter: 'temperature' is not supported with this model.", param="temperature", code="unsupported_parameter"
            ),
            cat.API_UNSUPPORTED_PARAMETER,
            {"param": "temperature"},
        ),
        (
            400,
            openai_body("Bad.", param="logit_bias", code="unsupported_parameter"),
            cat.API_UNSUPPORTED_PARAMETER,
            {"param": "logit_bias"},
        ),
        (
            400,
            openai_body("Unrecognized request argument supplied: functions"),
            cat.API_UNSUPPORTED_PARAMETER,
            {"param": "functions"},
        ),
        (
            400,
            "Unrecognized request arguments supplied: foo, bar",
            cat.API_UNSUPPORTED_PARAMETER,
            {"param": "foo", "params": ["foo", "bar"]},
        ),
        (400, "'logprobs' is not supported with this model.", cat.API_UNSUPPORTED_PARAMETER, {"param": "logprobs"}),
        (400, openai_body("top_k is not supported", param="top_k"), cat.API_UNSUPPORTED_PARAMETER, {"param": "top_k"}),
        (
            400,
            openai_body(
                "Unsupported value: 'temperature' does not support 0.2 with this model.", param="temperature", code="unsupported_value"
            ),
            cat.API_UNSUPPORTED_PARAMETER,
            {"param": "temperature"},
        ),
        (400, {"error": "registry.ollama.ai/library/gemma:2b does not support tools"}, cat.API_UNSUPPORTED_PARAMETER, {"param": "tools"}),
        # quota, model
        (
            429,
            openai_body("You exceeded your current quota.", "insufficient_quota", code="insufficient_quota"),
            cat.RATE_QUOTA_EXHAUSTED,
            {},
        ),
        (400, "Your credit balance is too low to access the API.", cat.RATE_QUOTA_EXHAUSTED, {}),
        (
            404,
            openai_body("The model `gpt-9` does not exist or you do not have access to it.", code="model_not_found"),
            cat.API_MODEL_NOT_FOUND,
            {"model": "gpt-9"},
        ),
        (400, openai_body("The model `gpt-9` does not exist"), cat.API_MODEL_NOT_FOUND, {"model": "gpt-9"}),
        (404, {"error": 'model "llama3" not found, try pulling it first'}, cat.API_MODEL_NOT_FOUND, {"model": "llama3"}),
        # other signals
        (403, "upstream request timeout", cat.TIMEOUT_READ, {}),
        (400, "Too many tokens, please wait before trying again.", cat.RATE_LIMITED, {}),
        (500, "CUDA error: out of memory", cat.RUNTIME_MEMORY_EXHAUSTED, {}),
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, cat.NET_UNAVAILABLE, {}),
    ],
)
def test_body_signals(status: int, body: Any, spec: ErrorSpec, context: dict[str, Any]) -> None:
    err = classify_http(status, body)
    assert err.spec is spec, (err.code, err.context)
    assert err.context["status"] == status
    for key, value in context.items():
        assert err.context[key] == value, key


def test_not_supported_without_a_param_field_is_just_a_bad_request() -> None:
    assert classify_http(400, "Image inputs are not supported").spec is cat.API_BAD_REQUEST
    # ...and a param field the message does not mention does not make it one either.
    body = openai_body("Image inputs are not supported by this model", param="messages[0].content[1]")
    assert classify_http(400, body).spec is cat.API_BAD_REQUEST


def test_unsupported_message_role_is_a_bad_request_not_a_parameter() -> None:
    body = openai_body("Unsupported value: 'messages[0].role' does not support 'system' with this model.", param="messages[0].role")
    err = classify_http(400, body)
    assert err.spec is cat.API_BAD_REQUEST
    assert "param" not in err.context


def test_prefill_in_an_unrelated_server_error_is_not_a_prefill_refusal() -> None:
    assert classify_http(500, "internal error during prefill of batch 3").spec is cat.NET_UPSTREAM_ERROR


def test_gateway_html_pages_follow_the_status() -> None:
    page = "<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>"
    assert classify_http(504, page).spec is cat.NET_BAD_GATEWAY
    assert classify_http(502, page.replace("504 Gateway Time-out", "502 Bad Gateway")).spec is cat.NET_BAD_GATEWAY


# --- Retry-After -------------------------------------------------------------------------

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": "0"}, 0.0),
        ({"RETRY-AFTER": " 1.5 "}, 1.5),
        ({"Retry-After": "120, 120"}, 120.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "junk", "Retry-After": "9"}, 9.0),
        ({"x-ms-retry-after-ms": "2000"}, 2.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"Retry-After": "Wednesday, 21-Oct-15 07:29:00 GMT"}, 60.0),
        ({"Retry-After": "Wed Oct 21 07:28:10 2015"}, 10.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),  # in the past: now
        ({"Retry-After": "Wed, 21 Oct 2015 09:28:05 +0200"}, 5.0),
        ({"Retry-After": b"3"}, 3.0),
        ({"Retry-After": 4}, 4.0),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "1e3"}, None),
        ({"Retry-After": "9" * 40}, None),
        ({"Retry-After": "Wed, 31 Feb 2015 07:28:00 GMT"}, None),
        ({"Retry-After": "Wed, 21 Foo 2015 07:28:00 GMT"}, None),
        ({"retry-after-ms": "-1"}, None),
        ({"Retry-After": None}, None),
        ({"Content-Type": "application/json"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers: Any, expected: float | None) -> None:
    got = parse_retry_after(headers, now_wall=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_parse_retry_after_date_uses_the_clock_by_default() -> None:
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 100))
    got = parse_retry_after({"Retry-After": future})
    assert got is not None and 90 <= got <= 101


def test_parse_retry_after_on_a_non_mapping() -> None:
    assert parse_retry_after([("Retry-After", "3")]) is None  # type: ignore[arg-type]
    assert parse_retry_after(42) is None  # type: ignore[arg-type]


def test_retry_after_reaches_the_error() -> None:
    assert classify_http(429, "slow down", {"Retry-After": "12"}).retry_after == 12.0
    assert classify_http(429, "slow down").retry_after is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Rate limit reached for gpt-4o. Please try again in 20s.", 20.0),
        ("Rate limit reached. Please try again in 1.5s.", 1.5),
        ("Rate limit reached. Please try again in 250ms.", 0.25),
        ("Rate limit reached. Please try again in 6m0s.", 360.0),
        ("Requests are throttled. Please retry after 5 seconds.", 5.0),
    ],
)
def test_retry_after_from_the_message(message: str, expected: float) -> None:
    err = classify_http(429, openai_body(message, code="rate_limit_exceeded"))
    assert err.spec is cat.RATE_LIMITED
    assert err.retry_after == pytest.approx(expected)


def test_retry_after_from_google_retry_info() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}],
        }
    }
    err = classify_http(429, body)
    assert err.spec is cat.RATE_LIMITED
    assert err.retry_after == 31.0
    assert err.context["upstream_status"] == "RESOURCE_EXHAUSTED"


def test_header_wins_over_the_message() -> None:
    err = classify_http(429, openai_body("Please try again in 20s."), {"retry-after": "2"})
    assert err.retry_after == 2.0


# --- classify_text and the rule table -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("Requested tokens (5000) exceed context window of 4096", cat.RUNTIME_CONTEXT_LENGTH),
        ("[Errno 111] Connection refused", cat.NET_CONNECTION_FAILED),
        ("TypeError: Failed to fetch", cat.NET_CONNECTION_FAILED),
        ("Connection reset by peer", cat.NET_CONNECTION_RESET),
        ("Server disconnected without sending a response.", cat.NET_CONNECTION_RESET),
        ("[Errno -2] Name or service not known", cat.NET_DNS_FAILED),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate", cat.NET_TLS_FAILED),
        ("Connection to api.example timed out. (connect timeout=5)", cat.TIMEOUT_CONNECT),
        ("Read timed out. (read timeout=30)", cat.TIMEOUT_READ),
        ("504 DEADLINE_EXCEEDED", cat.TIMEOUT_READ),
        ("CUDA out of memory. Tried to allocate 2.00 GiB", cat.RUNTIME_MEMORY_EXHAUSTED),
        ("GPUOutOfMemoryError: Out of memory", cat.WEBGPU_OUT_OF_MEMORY),
        ("GPU device was lost: reason destroyed", cat.WEBGPU_DEVICE_LOST),
        ("WebGPU is not available in this browser", cat.WEBGPU_UNAVAILABLE),
        ("No appropriate GPUAdapter found.", cat.WEBGPU_UNAVAILABLE),
        ("RangeError: WebAssembly.Memory(): could not allocate memory", cat.WASM_OUT_OF_MEMORY),
        ("CompileError: WebAssembly.instantiate(): expected magic word", cat.WASM_LOAD_FAILED),
        ("error loading model: unknown model architecture: 'foo'", cat.MODEL_FORMAT_UNSUPPORTED),
        ("gguf_init_from_file: invalid magic characters 'abcd'", cat.GGUF_INVALID),
        ("llama_load_model_from_file: failed to load model", cat.MODEL_LOAD_FAILED),
        ("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Foo(1) node", cat.ONNX_UNSUPPORTED_OP),
        ("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed", cat.ONNX_INVALID_MODEL),
        ("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code", cat.ONNX_RUN_FAILED),
        ("The server is overloaded, please try later", cat.NET_UNAVAILABLE),
        ("429 Too Many Requests", cat.RATE_LIMITED),
        ("Unknown parameter: 'foo'.", cat.API_UNSUPPORTED_PARAMETER),
        ("This model does not support the 'seed' parameter", cat.API_UNSUPPORTED_PARAMETER),
        ("unknown model 'gpt-x'", cat.API_MODEL_NOT_FOUND),
    ],
)
def test_classify_text(text: str, spec: ErrorSpec) -> None:
    err = classify_text(text)
    assert err is not None and err.spec is spec, err and err.code
    assert err.context["text"] == text


@pytest.mark.parametrize("text", ["", "all good", "the user said hello", "timeout must be a positive number", "prefill 3 batches"])
def test_classify_text_no_match(text: str) -> None:
    assert classify_text(text) is None


def test_classify_text_generic_not_supported_needs_a_param_field() -> None:
    assert classify_text("x is not supported") is None


def test_rule_table_shape() -> None:
    assert RULES
    for regex, spec, extract in RULES:
        assert isinstance(regex, re.Pattern)
        assert regex.flags & re.IGNORECASE
        assert isinstance(spec, ErrorSpec) and spec.code in cat.ALL
        assert callable(extract)


RULE_EXAMPLES = [
    "insufficient_quota",
    "rate limit exceeded",
    "maximum context length is 10 tokens",
    "content_filter",
    "only supported in v1/responses",
    "assistant message prefill",
    "Unsupported value: 'messages[0].role'",
    "Unsupported parameter: 'x'",
    "Unrecognized request argument supplied: x",
    "'x' is not supported with this model",
    "unknown parameter: 'x'",
    "does not support 'x'",
    "unsupported_parameter",
    "x is not supported",
    "model_not_found",
    "unknown model architecture",
    "invalid gguf",
    "failed to load model",
    "could not find an implementation for",
    "INVALID_GRAPH",
    "[ONNXRuntimeError]",
    "GPUOutOfMemoryError",
    "device lost",
    "webgpu is not supported",
    "Aborted(OOM)",
    "WebAssembly.compile",
    "out of memory",
    "shader-f16",
    "maxBufferSize",
    "WGSL",
    "SharedArrayBuffer",
    "Failed to fetch dynamically imported module",
    "getaddrinfo failed",
    "certificate verify failed",
    "connect timeout",
    "timed out",
    "connection refused",
    "broken pipe",
    "overloaded",
]


def test_every_rule_has_an_example() -> None:
    for regex, spec, _ in RULES:
        assert any(regex.search(example) for example in RULE_EXAMPLES), (regex.pattern, spec.code)


# --- browser engine failures ---------------------------------------------------------------

# What onnxruntime-web, WebGPU and Emscripten say, each under the rule that names it.
ENGINE_TEXTS = [
    ("Device was lost: The GPU device was lost (reason: destroyed)", cat.WEBGPU_DEVICE_LOST),
    ("GPUDeviceLostInfo: unknown", cat.WEBGPU_DEVICE_LOST),
    ("GPUOutOfMemoryError: out of memory", cat.WEBGPU_OUT_OF_MEMORY),
    ("Aborted(OOM)", cat.WASM_OUT_OF_MEMORY),
    ("RangeError: WebAssembly.Memory(): could not allocate memory", cat.WASM_OUT_OF_MEMORY),
    ("Cannot enlarge memory arrays to size 2147483648 bytes", cat.WASM_OUT_OF_MEMORY),
    ("Feature 'shader-f16' is not supported", cat.WEBGPU_NO_F16),
    ("Buffer size (3000000000) exceeds the max buffer size limit (maxBufferSize: 2147483648)", cat.WEBGPU_LIMITS),
    ("Binding size exceeds maxStorageBufferBindingSize", cat.WEBGPU_LIMITS),
    ("Error while parsing WGSL: unresolved type f16", cat.WEBGPU_PIPELINE_FAILED),
    ("GPUPipelineError: compute pipeline creation failed", cat.WEBGPU_PIPELINE_FAILED),
    ("Failed to get GPU adapter. You may need to enable flag", cat.WEBGPU_UNAVAILABLE),
    ("Cannot read properties of undefined (reading 'requestAdapter')", cat.WEBGPU_UNAVAILABLE),
    ("no available backend found. ERR: [webgpu] Error: WebGPU is not supported in current environment", cat.WEBGPU_UNAVAILABLE),
    ("SharedArrayBuffer is not defined", cat.WASM_NO_THREADS),
    ("CompileError: WebAssembly.instantiate(): expected magic word", cat.WASM_LOAD_FAILED),
    ("no available backend found. ERR: [wasm] RuntimeError: failed to load the wasm", cat.WASM_LOAD_FAILED),
    ("TypeError: Failed to fetch dynamically imported module: https://x/ort.mjs", cat.ONNX_RUNTIME_MISSING),
    ("ReferenceError: ort is not defined", cat.ONNX_RUNTIME_MISSING),
    ("Could not find an implementation for MatMulNBits(1) node with name 'x'", cat.ONNX_UNSUPPORTED_OP),
    ("Unsupported data type: 16", cat.ONNX_UNSUPPORTED_OP),
    ("Can't create a session. ERROR_CODE: 7, ERROR_MESSAGE: Failed to load model because protobuf parsing failed.", cat.ONNX_INVALID_MODEL),
    ("Failed to load external data file model.onnx.data", cat.ONNX_INVALID_MODEL),
]


@pytest.mark.parametrize(("text", "spec"), ENGINE_TEXTS)
def test_each_engine_rule(text: str, spec: ErrorSpec) -> None:
    """One table: the engine's report and the bare text get the same answer (no memory here needs an ep)."""
    err = classify_engine_failure("run", "wasm", text)
    assert err.spec is spec, err.code
    assert err.message == text and err.context == {"stage": "run", "ep": "wasm"}
    plain = classify_text(text)
    assert plain is not None and plain.spec is spec


@pytest.mark.parametrize(("stage", "spec"), list(ENGINE_STAGES.items()) + [("elsewhere", cat.ONNX_RUN_FAILED)])
def test_the_stage_decides_when_the_text_says_nothing(stage: str, spec: ErrorSpec) -> None:
    for text in ("", "failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: Non-zero status code", "Emscripten abort 12345"):
        err = classify_engine_failure(stage, "webgpu", text)
        assert err.spec is spec, (stage, text, err.code)
        assert err.message == (text or spec.message)


def test_engine_stages_cover_what_the_engine_reports() -> None:
    assert set(ENGINE_STAGES) == {"probe", "import", "fetch", "session", "run"}


@pytest.mark.parametrize("text", ["out of memory", "failed to allocate a buffer", "RangeError: Array buffer allocation failed", "OOM"])
@pytest.mark.parametrize(
    ("ep", "spec"),
    [("webgpu", cat.WEBGPU_OUT_OF_MEMORY), ("wasm", cat.WASM_OUT_OF_MEMORY), (None, cat.RUNTIME_MEMORY_EXHAUSTED)],
)
def test_the_execution_provider_says_which_memory_ran_out(text: str, ep: str | None, spec: ErrorSpec) -> None:
    """The disagreement the two tables had: the page said WASM (or WebGPU), the core RUNTIME."""
    err = classify_engine_failure("run", ep, text)
    assert err.spec is spec, err.code
    assert ("ep" in err.context) == (ep is not None)
    plain = classify_text(text)
    assert plain is not None and plain.spec is cat.RUNTIME_MEMORY_EXHAUSTED  # outside an engine, the core's answer


def test_text_that_names_the_memory_wins_over_the_execution_provider() -> None:
    assert classify_engine_failure("run", "webgpu", "Aborted(OOM)").spec is cat.WASM_OUT_OF_MEMORY
    assert classify_engine_failure("run", "wasm", "GPUOutOfMemoryError").spec is cat.WEBGPU_OUT_OF_MEMORY


def test_a_lost_device_wins_over_what_else_the_text_says() -> None:
    assert classify_engine_failure("run", "webgpu", "device lost: out of memory creating a shader").spec is cat.WEBGPU_DEVICE_LOST
    assert classify_engine_failure("session", "webgpu", "out of memory while creating a shader").spec is cat.WEBGPU_OUT_OF_MEMORY


def test_the_rest_of_the_table_applies_to_engines_too() -> None:
    err = classify_engine_failure("fetch", None, "TypeError: Failed to fetch")
    assert err.spec is cat.NET_CONNECTION_FAILED  # a rule beats the stage's default


@pytest.mark.parametrize(
    "text",
    [
        "Invalid model: gpt-x",  # an API's unknown model, not an ONNX file
        "logprobs is not supported by this model",
        "max_tokens exceeds the limit",
        "Inference pipeline failed",
        "No adapter found for lora-1",  # vLLM's LoRA adapters
        "Cannot find module 'express'",
        "checksum mismatch",
    ],
)
def test_the_pages_old_loose_patterns_do_not_name_other_failures(text: str) -> None:
    err = classify_text(text)
    assert err is None or err.spec.category not in ("WEBGPU", "WASM", "ONNX"), err.code


def test_engine_failure_message_is_clipped() -> None:
    err = classify_engine_failure("run", "wasm", "x" * 10_000)
    assert len(err.message) == MESSAGE_LIMIT


# --- robustness --------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
ERROR_KEYS = st.sampled_from(
    ["error", "message", "detail", "code", "type", "param", "msg", "loc", "metadata", "raw", "details", "retryDelay"]
)
ERRORISH = st.recursive(
    st.none() | st.integers() | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ERROR_KEYS, children, max_size=5),
    max_leaves=25,
)
HEADERS = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "retry-after-ms", "x-ms-retry-after-ms", "X-Other"]) | st.text(max_size=20),
    st.text(max_size=40) | st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
    max_size=5,
)


def check_http_error(err: LLMError, status: int) -> None:
    assert isinstance(err, LLMError)
    assert err.code in cat.ALL
    assert err.context["status"] == status
    assert isinstance(err.context["upstream_message"], str)
    assert len(err.context["upstream_message"]) <= MESSAGE_LIMIT
    assert err.retry_after is None or (math.isfinite(err.retry_after) and err.retry_after >= 0)
    json.loads(err.to_json())


@settings(max_examples=300, deadline=None)
@given(status=st.integers(), body=st.none() | st.binary(max_size=2000) | st.text(max_size=2000), headers=HEADERS)
def test_classify_http_never_raises_on_raw_bodies(status: int, body: bytes | str | None, headers: dict[str, str]) -> None:
    check_http_error(classify_http(status, body, headers), status)


@settings(max_examples=200, deadline=None)
@given(status=st.integers(min_value=100, max_value=599), data=ERRORISH | JSON)
def test_classify_http_never_raises_on_json(status: int, data: Any) -> None:
    check_http_error(classify_http(status, json.dumps(data)), status)
    if isinstance(data, dict):
        check_http_error(classify_http(status, data), status)


@settings(max_examples=200, deadline=None)
@given(headers=HEADERS, now=st.none() | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_parse_retry_after_never_raises(headers: dict[str, str], now: float | None) -> None:
    got = parse_retry_after(headers, now_wall=now)
    assert got is None or (math.isfinite(got) and got >= 0)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=3000))
def test_classify_text_never_raises(text: str) -> None:
    err = classify_text(text)
    assert err is None or err.code in cat.ALL


@settings(max_examples=200, deadline=None)
@given(stage=st.sampled_from([*ENGINE_STAGES, "", "other"]), ep=st.sampled_from(["webgpu", "wasm", None, "x"]), text=st.text(max_size=3000))
def test_classify_engine_failure_never_raises(stage: str, ep: str | None, text: str) -> None:
    err = classify_engine_failure(stage, ep, text)
    assert err.code in cat.ALL and err.context["stage"] == stage


@settings(max_examples=100, deadline=None)
@given(message=st.text(max_size=500), cls=st.sampled_from([Exception, ValueError, RuntimeError, OSError, KeyError]))
def test_classify_never_raises(message: str, cls: type[Exception]) -> None:
    exc = cls(message)
    err = classify(exc)
    assert err.code in cat.ALL
    assert err.__cause__ is exc


def test_classify_http_odd_inputs() -> None:
    # Nesting this deep would overflow the C stack inside Pyodide: it must be read as text, not parsed.
    deep = "[" * 100_000 + "]" * 100_000
    deep_object = '{"error":' * 50_000 + '"maximum context length"' + "}" * 50_000
    assert classify_http(400, deep_object).context["upstream_message"].startswith('{"error":{"error":')
    shallow_enough = '{"error":' * 3 + '"maximum context length"' + "}" * 3
    assert classify_http(400, shallow_enough).spec is cat.RUNTIME_CONTEXT_LENGTH
    for body in (
        deep,
        deep_object,
        b"\x00" * 10,
        "null",
        "123",
        "true",
        '"just a string"',
        "[]",
        "[1, 2]",
        '{"error": null}',
        '{"error": 5}',
    ):
        check_http_error(classify_http(400, body), 400)
    check_http_error(classify_http(400, {"error": {"message": {"nested": ["x"]}}}), 400)
    check_http_error(classify_http("503", "x"), 503)  # type: ignore[arg-type]
    check_http_error(classify_http(None, "x"), 0)  # type: ignore[arg-type]
    check_http_error(classify_http(400, object()), 400)  # type: ignore[arg-type]
    check_http_error(classify_http(400, "x", {1: 2, b"Retry-After": b"5"}), 400)  # type: ignore[dict-item]


def test_huge_and_adversarial_inputs_stay_fast() -> None:
    bodies: list[str | bytes] = [
        "a" * 1_000_000,
        b"\xff" * 1_000_000,
        json.dumps({"error": {"message": "x" * 1_000_000}}),
        "unsupported parameter: " + "x" * 100_000,
        "'" * 100_000,
        "model " * 50_000,
        "1 tokens > " * 20_000,
        "try again in " + "1s " * 30_000,
    ]
    started = time.perf_counter()
    for body in bodies:
        check_http_error(classify_http(400, body), 400)
    # Generous: this guards against catastrophic backtracking, not for speed.
    assert time.perf_counter() - started < 10.0


def test_classification_is_cheap() -> None:
    body = json.dumps(openai_body(CONTEXT_MESSAGE, code="context_length_exceeded"))
    exc = RuntimeError("something odd happened")
    started = time.perf_counter()
    for _ in range(200):
        classify_http(400, body)
        classify(exc)
    per_call = (time.perf_counter() - started) / 400
    # Tens of microseconds on CPython; the bound leaves room for slow CI and Pyodide.
    assert per_call < 0.005


def test_network_errors_are_network_errors() -> None:
    assert isinstance(classify(ConnectionRefusedError()), NetworkError)
