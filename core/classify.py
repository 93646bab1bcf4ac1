"""Classify: the one place that turns any failure into an :class:`LLMError`.

- :func:`classify` takes any exception: an :class:`LLMError` comes back
  unchanged; anything else is mapped by its type (standard library types
  by ``isinstance``, third-party ones -- httpx, openai, aiohttp, requests,
  urllib3, onnxruntime -- by class *name*, without importing them), by the
  HTTP status it carries, or by its text, walking ``__cause__`` and
  ``__context__``. What matches nothing is ``CORE_INTERNAL``.
- :func:`classify_http` takes an upstream status, body and headers.
  What the body *says* wins over the bare status: a 400 that says
  "maximum context length" is a context-length error, not a bad request.
- :func:`classify_text` applies the pattern table alone.
- :func:`classify_engine_failure` takes what the page's engine reports
  (stage, execution provider, message): the page's JavaScript reads no
  failure text itself, so there is one table and one answer.
- :func:`parse_retry_after` reads ``Retry-After`` / ``retry-after-ms``.

Every pattern lives in one table, :data:`RULES`, of
``(compiled regex, spec, context extractor)``; the first rule that matches
wins, so specific rules come before general ones. An extractor returns the
context to attach (``param``, ``suggested_endpoint``, token counts, ...) or
``None`` to say "this rule does not apply after all".

None of these functions raises, whatever it is given.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from . import catalogue as cat
from .errors import ErrorSpec, LLMError

__all__ = [
    "ENGINE_STAGES",
    "MESSAGE_LIMIT",
    "RULES",
    "STATUS_CODES",
    "classify",
    "classify_engine_failure",
    "classify_http",
    "classify_text",
    "parse_retry_after",
]

MESSAGE_LIMIT: Final = 500  # characters of an upstream or exception message kept in context
_SCAN_LIMIT: Final = 4096  # characters of text the pattern table looks at
_PARSE_LIMIT: Final = 256 * 1024  # bodies longer than this are not parsed as JSON
_DEPTH_LIMIT: Final = 64  # JSON nested deeper than this is not parsed
_CHAIN_LIMIT: Final = 32  # exceptions looked at along __cause__ / __context__

Fields = Mapping[str, Any]
Extractor = Callable[[re.Match[str], Fields], dict[str, Any] | None]
Rule = tuple[re.Pattern[str], ErrorSpec, Extractor]

_I = re.IGNORECASE


def _clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- context extractors ------------------------------------------------------------------


def _nothing(m: re.Match[str], fields: Fields) -> dict[str, Any]:
    return {}


_CTX_NUMBERS: Final = (
    # (regex, context key of group 1, context key of group 2)
    (re.compile(r"requested tokens \((\d+)\) exceed context window of (\d+)", _I), "requested_tokens", "context_window"),
    (re.compile(r"(\d+) tokens? > (\d+)(?: maximum)?", _I), "requested_tokens", "context_window"),
    (
        re.compile(r"input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)", _I),
        "requested_tokens",
        "context_window",
    ),
    (re.compile(r"prompt contains (\d+) tokens.{0,60}? (\d+) maximum context length", _I), "requested_tokens", "context_window"),
    (re.compile(r"maximum context length is (\d+)", _I), "context_window", ""),
    (re.compile(r"context (?:window|length|size) (?:of|is) (\d+)", _I), "context_window", ""),
    (re.compile(r"(?:you requested|resulted in|requested|contains|prompt has|total of) (\d+) tokens", _I), "requested_tokens", ""),
)


def _context_numbers(m: re.Match[str], fields: Fields) -> dict[str, Any]:
    """Token counts from the message (llama.cpp, OpenAI, vLLM, Anthropic, Gemini) or body fields."""
    out: dict[str, Any] = {}
    for key, name in (("n_prompt_tokens", "requested_tokens"), ("n_ctx", "context_window")):
        value = fields.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[name] = value
    text = m.string
    for regex, first, second in _CTX_NUMBERS:
        found = regex.search(text)
        if found is None:
            continue
        out.setdefault(first, int(found.group(1)))
        if second:
            out.setdefault(second, int(found.group(2)))
    return out


_ENDPOINT = r"/?v1/(chat/completions|responses|completions)\b"
_ENDPOINT_ONLY: Final = re.compile(
    r"(?:only (?:supported|available) (?:in|on|via|with|for|by)|did you mean(?: to use)?) (?:the )?" + _ENDPOINT, _I
)
_ENDPOINT_NOT: Final = re.compile(r"not (?:supported|available) (?:in|on|via|with|for|by) (?:the )?" + _ENDPOINT, _I)
_OTHER_ENDPOINT: Final = {"chat/completions": "responses", "responses": "chat/completions", "completions": "chat/completions"}


def _endpoint(m: re.Match[str], fields: Fields) -> dict[str, Any]:
    """Which endpoint to use instead: the one named as the only one, else the other of the one refused."""
    text = m.string
    only = _ENDPOINT_ONLY.search(text)
    if only is not None:
        return {"suggested_endpoint": only.group(1).lower()}
    refused = _ENDPOINT_NOT.search(text)
    if refused is not None:
        endpoint = refused.group(1).lower()
        return {"suggested_endpoint": _OTHER_ENDPOINT[endpoint], "refused_endpoint": endpoint}
    if "not a chat model" in text.lower():
        return {"suggested_endpoint": "completions"}
    return {}


_USE_INSTEAD: Final = re.compile(r"\buse ['\"`]?([A-Za-z_][\w.]*)['\"`]? instead\b", _I)


def _param_context(param: str, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"param": param}
    instead = _USE_INSTEAD.search(text)
    if instead is not None and instead.group(1) != param:
        out["use_instead"] = instead.group(1)
    return out


def _param_from_group(m: re.Match[str], fields: Fields) -> dict[str, Any] | None:
    param = (m.group("param") or "").strip(" '\"`")
    if not param:
        return _param_from_field(m, fields)
    return _param_context(param, m.string)


_PARAM_LIST_SPLIT: Final = re.compile(r"\s*,\s*")


def _param_list(m: re.Match[str], fields: Fields) -> dict[str, Any] | None:
    params = [p.strip(" '\"`") for p in _PARAM_LIST_SPLIT.split(m.group("params")) if p.strip(" '\"`")]
    if not params:
        return _param_from_field(m, fields)
    out = _param_context(params[0], m.string)
    if len(params) > 1:
        out["params"] = params
    return out


def _param_from_field(m: re.Match[str], fields: Fields) -> dict[str, Any] | None:
    """The body's ``param`` field names the parameter; without one the rule does not apply."""
    param = fields.get("param")
    if not isinstance(param, str) or not param:
        return None
    return _param_context(param, m.string)


def _param_named_in_text(m: re.Match[str], fields: Fields) -> dict[str, Any] | None:
    """Counts "x is not supported" only when the body's ``param`` field names x and the text mentions it."""
    param = fields.get("param")
    if not isinstance(param, str) or not param:
        return None
    base = re.split(r"[.\[]", param, maxsplit=1)[0].lower()
    if not base or base not in m.string.lower():
        return None
    return _param_context(param, m.string)


_MODEL_NAME: Final = re.compile(r"\bmodel[:\s]+[`'\"]([^`'\"\s]{1,200})[`'\"]|\bthe model ([^\s`'\"]{1,200}) does not exist", _I)


def _model(m: re.Match[str], fields: Fields) -> dict[str, Any]:
    found = _MODEL_NAME.search(m.string)
    if found is None:
        return {}
    return {"model": found.group(1) or found.group(2)}


def _rule(pattern: str, spec: ErrorSpec, extract: Extractor = _nothing) -> Rule:
    return (re.compile(pattern, _I), spec, extract)


_QUOTED = r"['\"`]?(?P<param>[A-Za-z_][\w.\[\]\-]{0,100})['\"`]?"

#: The pattern table, in order of precedence (the first match wins).
RULES: Final[tuple[Rule, ...]] = (
    # --- account and throttling ------------------------------------------------------------
    _rule(
        r"insufficient_quota|exceeded your current quota|quota (?:has been |is |was )?exhausted|credit balance is too low"
        r"|billing hard limit|insufficient (?:credits|balance|funds)",
        cat.RATE_QUOTA_EXHAUSTED,
    ),
    _rule(
        r"too many tokens,? please wait|throttlingexception|\brate[ _-]?limit(?:ed|s|ing)?\b|too many requests",
        cat.RATE_LIMITED,
    ),
    # --- what the request asked for --------------------------------------------------------
    _rule(
        r"context_length_exceeded|exceed_context_size|maximum context (?:length|window)"
        r"|context (?:length|window|size) (?:is |has been |was )?exceeded"
        r"|exceed(?:s|ed)? (?:the )?(?:model'?s? |available |maximum )?context(?: window| length| size)"
        r"|too many (?:input |prompt )?tokens(?!,? please wait)|prompt is too long|input is too long"
        r"|exceeds the maximum number of tokens|reduce the length of the messages",
        cat.RUNTIME_CONTEXT_LENGTH,
        _context_numbers,
    ),
    _rule(
        r"content[_ ](?:filter|policy)|content management policy|flagged by|safety system|responsible ?ai"
        r"|violat\w* (?:our |the )?usage polic",
        cat.API_CONTENT_FILTERED,
    ),
    _rule(
        r"(?:only|not) (?:supported|available) (?:in|on|via|with|for|by) (?:the )?"
        + _ENDPOINT
        + r"|did you mean(?: to use)? (?:the )?"
        + _ENDPOINT
        + r"|not a chat model",
        cat.API_WRONG_ENDPOINT,
        _endpoint,
    ),
    _rule(
        r"assistant (?:message )?prefill|prefill\w* (?:is |are )?(?:not supported|unsupported|not allowed|disabled)"
        r"|(?:not support|unsupported|not allowed)\w*[\w ]{0,30}\bprefill"
        r"|(?:final )?assistant (?:message |content |turn )?cannot end with (?:trailing )?whitespace"
        r"|(?:conversation|messages?) must end with a user (?:message|turn)|last (?:message|turn) must be (?:a |from the )?user"
        r"|expected last role user",
        cat.API_PREFILL_UNSUPPORTED,
    ),
    # o1-style "Unsupported value: 'messages[0].role' does not support 'system'": no parameter to strip.
    _rule(r"unsupported value:? ['\"`]?messages\b", cat.API_BAD_REQUEST),
    _rule(r"unsupported (?:parameter|value|argument)s?:? " + _QUOTED, cat.API_UNSUPPORTED_PARAMETER, _param_from_group),
    _rule(
        r"unrecognized request arguments? supplied:? (?P<params>['\"`]?[\w.\-]+['\"`]?(?:\s*,\s*['\"`]?[\w.\-]+['\"`]?)*)",
        cat.API_UNSUPPORTED_PARAMETER,
        _param_list,
    ),
    _rule(
        r"(?:['\"`](?P<param>[A-Za-z_][\w.\[\]\-]{0,100})['\"`]|(?:^|[:;,.]\s*|\b(?:parameter|argument|field|option)\s+)(?-i:(?P<param2>[a-z_][a-z0-9_.]{0,100})))"
        r" (?:is|are) not (?:supported|allowed|permitted) (?:with|by|for|on|in) this model",
        cat.API_UNSUPPORTED_PARAMETER,
        lambda m, f: _param_context(m.group("param") or m.group("param2"), m.string),
    ),
    _rule(
        r"(?:unknown|unexpected|unrecognized) (?:parameter|field|argument|keyword argument)s?:? " + _QUOTED,
        cat.API_UNSUPPORTED_PARAMETER,
        _param_from_group,
    ),
    _rule(
        r"does not support (?:the )?(?:['\"`](?P<param>[A-Za-z_][\w.\-]{0,100})['\"`]"
        r"|(?P<param2>tools|tool_choice|functions|logprobs|response_format)\b)",
        cat.API_UNSUPPORTED_PARAMETER,
        lambda m, f: _param_context(m.group("param") or m.group("param2"), m.string),
    ),
    _rule(
        r"unsupported_parameter|unknown_parameter|extra_forbidden|extra (?:inputs|fields) (?:are )?not permitted",
        cat.API_UNSUPPORTED_PARAMETER,
        _param_from_field,
    ),
    _rule(r"\b(?:is|are) not supported\b|\bunsupported\b", cat.API_UNSUPPORTED_PARAMETER, _param_named_in_text),
    _rule(
        r"model_not_found|\bthe model [`'\"]?[^\s`'\"]{1,200}[`'\"]? does not exist"
        r"|\bmodel[:\s]+[`'\"][^`'\"]{1,200}[`'\"] (?:was )?not found"
        r"|no such model|unknown model(?! architecture)|\bmodel (?:is )?not found",
        cat.API_MODEL_NOT_FOUND,
        _model,
    ),
    # --- local engines -----------------------------------------------------------------------
    _rule(r"unknown model architecture", cat.MODEL_FORMAT_UNSUPPORTED),
    _rule(r"gguf[\w: ]{0,40}invalid magic|invalid gguf|not a valid gguf", cat.GGUF_INVALID),
    # ONNX before "failed to load model": onnxruntime-web says "Failed to load model because protobuf parsing failed".
    _rule(r"could not find an implementation for|\bNOT_IMPLEMENTED\b|\bunsupported op\b|unsupported data type", cat.ONNX_UNSUPPORTED_OP),
    _rule(
        r"\bINVALID_PROTOBUF\b|\bINVALID_GRAPH\b|\bNO_MODEL\b|protobuf parsing failed|\bModelProto\b|\bexternal data\b",
        cat.ONNX_INVALID_MODEL,
    ),
    _rule(r"(?:failed to|unable to|could not|error) load(?:ing)? (?:the )?model", cat.MODEL_LOAD_FAILED),
    _rule(r"\[ONNXRuntimeError\]", cat.ONNX_RUN_FAILED),
    # --- browser engines (onnxruntime-web, WebGPU, Emscripten) ----------------------------------
    # These were once a second table in the page's JavaScript; its patterns that
    # read as something else outside a browser engine were narrowed here: "invalid
    # model" (an API's unknown model), "is not supported by" (an API's parameter),
    # "exceeds the limit", "pipeline failed", "no adapter" (vLLM's LoRA adapters),
    # "Cannot find module". Checksum failures are not read from text: the engine
    # throws ONNX_INVALID_MODEL for them itself.
    #
    # A lost device first: whatever else the text says, that engine is gone.
    _rule(r"gpu ?device (?:was |is )?lost|device (?:was |is )?lost|GPUDeviceLostInfo|\bDeviceLost\b", cat.WEBGPU_DEVICE_LOST),
    _rule(r"GPUOutOfMemoryError", cat.WEBGPU_OUT_OF_MEMORY),
    # Text that names the WebAssembly heap means that heap, whichever execution
    # provider ran: the WebGPU one keeps its CPU-side tensors there too.
    _rule(r"WebAssembly\.Memory\(\)|aborted\(oom\)|cannot enlarge memory", cat.WASM_OUT_OF_MEMORY),
    # --- memory (before the engine rules below: "out of memory creating a pipeline" is memory) ---
    # Which memory ran out this text does not say; classify_engine_failure refines it by execution provider.
    _rule(
        r"out of memory|\bOOM\b|cannot allocate memory|bad_alloc|failed to allocate|allocation failed",
        cat.RUNTIME_MEMORY_EXHAUSTED,
    ),
    _rule(r"shader-f16|\bf16 (?:is )?not supported", cat.WEBGPU_NO_F16),
    _rule(
        r"\bmaxBufferSize\b|\bmaxStorageBufferBindingSize\b|\bmaxComputeWorkgroup\w*|exceeds (?:the )?(?:device|adapter)(?:'s)? limit",
        cat.WEBGPU_LIMITS,
    ),
    _rule(
        r"\bWGSL\b|\bshader\b|createComputePipeline|createShaderModule|GPUPipelineError|(?:compute |render )?pipeline creation failed",
        cat.WEBGPU_PIPELINE_FAILED,
    ),
    _rule(
        r"(?:no|failed to get(?: an?)?) (?:appropriate |suitable |available )?(?:gpu ?|webgpu )adapter"
        r"|webgpu (?:is )?(?:not (?:available|supported)|unavailable)|navigator\.gpu|requestAdapter",
        cat.WEBGPU_UNAVAILABLE,
    ),
    _rule(r"SharedArrayBuffer|cross-?origin isolat", cat.WASM_NO_THREADS),
    _rule(
        r"WebAssembly\.(?:instantiate|compile)|\bCompileError: WebAssembly|WebAssembly\.CompileError|failed to load (?:the )?wasm"
        r"|no available backend found|\.wasm\b",
        cat.WASM_LOAD_FAILED,
    ),
    _rule(
        r"failed to fetch dynamically imported module|\bort is not defined|cannot find (?:module|package) ['\"]?onnxruntime",
        cat.ONNX_RUNTIME_MISSING,
    ),
    # --- the network ---------------------------------------------------------------------------
    _rule(
        r"name or service not known|nodename nor servname|temporary failure in name resolution|getaddrinfo|\bENOTFOUND\b"
        r"|could not resolve host|no address associated with hostname|ERR_NAME_NOT_RESOLVED|name resolution",
        cat.NET_DNS_FAILED,
    ),
    _rule(
        r"certificate verify failed|\bssl(?:v3)?[_ ](?:alert|handshake|error)|tls handshake|wrong version number"
        r"|self[- ]signed certificate|ERR_CERT_|ERR_SSL_",
        cat.NET_TLS_FAILED,
    ),
    _rule(r"connect(?:ion)?[ _]?(?:timed out|timeout)|\bETIMEDOUT\b", cat.TIMEOUT_CONNECT),
    _rule(
        r"\btimed out\b|\btime[ _-]?out (?:error|exceeded|expired|occurred)|upstream request timeout|deadline[ _]exceeded",
        cat.TIMEOUT_READ,
    ),
    _rule(
        r"connection refused|\bECONNREFUSED\b|failed to establish a new connection|cannot connect to host|could not connect"
        r"|failed to fetch|networkerror when attempting to fetch",
        cat.NET_CONNECTION_FAILED,
    ),
    _rule(
        r"connection (?:was )?(?:reset|aborted|closed|lost)|\bECONNRESET\b|\bEPIPE\b|broken pipe|server disconnected"
        r"|peer closed connection|remote end closed connection|incomplete chunked read|unexpected eof",
        cat.NET_CONNECTION_RESET,
    ),
    _rule(r"\boverloaded\b|service unavailable|temporarily unavailable", cat.NET_UNAVAILABLE),
)


def _case_sensitive(regex: re.Pattern[str]) -> re.Pattern[str]:
    """The rule's pattern in lower case, without IGNORECASE, for lower-cased text.

    Case-insensitive matching is about twice as slow; this copy only
    screens, and accepts whatever the rule accepts (it is the same pattern,
    compared in one case). The rule itself then runs on the original text.
    """
    lowered = re.sub(r"\\.|[^\\]+", lambda m: m.group() if m.group().startswith("\\") else m.group().lower(), regex.pattern)
    return re.compile(lowered.replace("(?p<", "(?P<"))


_SCREENS: Final = tuple(_case_sensitive(regex) for regex, _, _ in RULES)


def _match(text: str, fields: Fields) -> tuple[ErrorSpec, dict[str, Any]] | None:
    text = text[:_SCAN_LIMIT]
    lowered = text.lower()
    screen = len(lowered) == len(text)  # lower() keeps every length but a few non-ASCII letters'
    for index, (regex, spec, extract) in enumerate(RULES):
        if screen and _SCREENS[index].search(lowered) is None:
            continue
        m = regex.search(text)
        if m is None:
            continue
        extra = extract(m, fields)
        if extra is not None:
            return spec, extra
    return None


def classify_text(text: str) -> LLMError | None:
    """The error a message describes, or ``None`` when no pattern matches.

    The context has ``text`` (the message, clipped) and what the rule
    extracted (``param``, ``suggested_endpoint``, ``requested_tokens``...).
    """
    try:
        if not isinstance(text, str) or not text:
            return None
        hit = _match(text, {})
        if hit is None:
            return None
        spec, extra = hit
        return spec.error(text=_clip(text), **extra)
    except Exception:  # pragma: no cover - a safety net: classification never raises
        return None


# --- browser engine failures -------------------------------------------------------------

#: What an engine failure means when its text matches no rule: what the engine was doing says it.
ENGINE_STAGES: Final[Mapping[str, ErrorSpec]] = {
    "probe": cat.WEBGPU_UNAVAILABLE,
    "import": cat.ONNX_RUNTIME_MISSING,
    "fetch": cat.NET_DOWNLOAD_FAILED,
    "session": cat.ONNX_SESSION_FAILED,
    "run": cat.ONNX_RUN_FAILED,
}

# A bare "out of memory" on a server is RUNTIME_MEMORY_EXHAUSTED (critical: free
# caches). In the page the execution provider says which memory it was, and the
# answer there is to move to the other engine: the GPU's memory on WebGPU, the
# WebAssembly heap on WASM. Without one nothing says a browser engine failed, so
# the core's answer stands (the page's old table said WASM for every OOM not on
# WebGPU, the core said RUNTIME: this is where the two now agree).
_MEMORY_ON_EP: Final[Mapping[str, ErrorSpec]] = {"webgpu": cat.WEBGPU_OUT_OF_MEMORY, "wasm": cat.WASM_OUT_OF_MEMORY}


def classify_engine_failure(stage: str, ep: str | None, message: str) -> LLMError:
    """The error a browser engine's failure means (web/lib/engine/errors.js reports them).

    ``stage`` is what the engine was doing (a key of :data:`ENGINE_STAGES`),
    ``ep`` the execution provider (``"webgpu"``, ``"wasm"`` or None) and
    ``message`` the failure's text. The rule table decides from the text, the
    execution provider says which memory ran out, and the stage decides when
    the text says nothing the table knows. The error's message is the
    engine's text (clipped); its context has ``stage``, ``ep`` and what the
    rule extracted.
    """
    try:
        text = message[:_SCAN_LIMIT] if isinstance(message, str) else ""
        hit = _match(text, {}) if text else None
        spec, extra = hit if hit is not None else (ENGINE_STAGES.get(stage, cat.ONNX_RUN_FAILED), {})
        if spec is cat.RUNTIME_MEMORY_EXHAUSTED and ep is not None:
            spec = _MEMORY_ON_EP.get(ep, spec)
        context: dict[str, Any] = {"stage": stage, **extra}
        if ep is not None:
            context["ep"] = ep
        return spec.error(_clip(text) or None, **context)
    except Exception:  # pragma: no cover - a safety net: classification never raises
        return cat.ONNX_RUN_FAILED.error(stage=str(stage)[:40])


# --- HTTP --------------------------------------------------------------------------------

#: Bare status -> code, when the body says nothing more specific.
STATUS_CODES: Final[Mapping[int, ErrorSpec]] = {
    400: cat.API_BAD_REQUEST,
    401: cat.AUTH_UPSTREAM_REJECTED,
    402: cat.RATE_QUOTA_EXHAUSTED,
    403: cat.AUTH_FORBIDDEN,
    404: cat.API_MODEL_NOT_FOUND,
    408: cat.TIMEOUT_READ,
    413: cat.RUNTIME_CONTEXT_LENGTH,
    422: cat.API_BAD_REQUEST,
    429: cat.RATE_LIMITED,
    500: cat.NET_UPSTREAM_ERROR,
    502: cat.NET_BAD_GATEWAY,
    503: cat.NET_UNAVAILABLE,
    504: cat.NET_BAD_GATEWAY,
    529: cat.NET_UNAVAILABLE,
}


def _status_spec(status: int) -> ErrorSpec:
    spec = STATUS_CODES.get(status)
    if spec is not None:
        return spec
    if 500 <= status <= 599:
        return cat.NET_UPSTREAM_ERROR
    if 400 <= status <= 499:
        return cat.API_BAD_REQUEST
    # Not an error status at all: whatever came back was not what we expected.
    return cat.API_INVALID_RESPONSE


def _as_status(status: object) -> int:
    if isinstance(status, bool):
        return 0
    if isinstance(status, int):
        return status
    try:
        return int(str(status).strip()[:8])
    except (TypeError, ValueError):
        return 0


_MESSAGE_KEYS: Final = ("message", "msg", "detail", "error", "error_description", "title", "description", "reason")


def _text_of(value: Any, depth: int = 0) -> str:
    """A readable message from whatever an upstream put in its error field."""
    if value is None or depth > 6:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in _MESSAGE_KEYS:
            found = _text_of(value.get(key), depth + 1)
            if found:
                return found
        return ""
    if isinstance(value, (list, tuple)):
        parts = [_text_of(v, depth + 1) for v in value[:10]]
        return "; ".join(p for p in parts if p)
    if isinstance(value, (int, float)):
        return str(value)
    return ""


def _str_field(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value[:200]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


_RETRY_TEXT: Final = re.compile(
    r"(?:try again|retry)(?: it)? (?:in|after) (?:about |approximately )?"
    r"((?:\d{1,9}(?:\.\d{1,6})?\s*(?:milliseconds?|ms|minutes?|mins?|m|hours?|h|seconds?|secs?|s)(?![a-z])\s*)+)",
    _I,
)
_DURATION_PART: Final = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)\s*(milliseconds?|ms|minutes?|mins?|m|hours?|h|seconds?|secs?|s)(?![a-z])", _I)
_UNIT_SECONDS: Final = {"ms": 0.001, "m": 60.0, "h": 3600.0, "s": 1.0}


def _duration(text: str) -> float | None:
    """Seconds in "20s", "1.5 seconds", "250ms", "6m0s"; None when there are none."""
    total = 0.0
    found = False
    for number, unit in _DURATION_PART.findall(text):
        unit = unit.lower()
        key = "ms" if unit.startswith("mil") or unit == "ms" else unit[0]
        total += float(number) * _UNIT_SECONDS[key]
        found = True
    return total if found and math.isfinite(total) else None


class _Body:
    """What an upstream error body says, in a normal form."""

    __slots__ = ("fields", "message", "retry_hint", "signal", "upstream")

    def __init__(self) -> None:
        self.message = ""
        self.signal = ""
        self.fields: dict[str, Any] = {}
        self.upstream: dict[str, Any] = {}
        self.retry_hint: float | None = None


def _load(body: str | bytes | Mapping[str, Any] | None) -> tuple[Any, str]:
    """(parsed JSON or None, raw text)."""
    if body is None:
        return None, ""
    if isinstance(body, Mapping):
        return body, ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body[: _PARSE_LIMIT + 1]).decode("utf-8", "replace")
    elif isinstance(body, str):
        raw = body
    elif isinstance(body, (list, tuple)):
        return body, ""
    else:
        return None, ""
    stripped = raw.strip()
    if stripped[:1] in ("{", "[", '"') and len(stripped) <= _PARSE_LIMIT and _shallow(stripped):
        try:
            return json.loads(stripped), raw
        except Exception:  # invalid JSON, numbers too long, ...: it is plain text then
            pass
    return None, raw


_JSON_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _shallow(text: str) -> bool:
    """Whether JSON text nests at most _DEPTH_LIMIT deep.

    json.loads recurses in C: a hostile ``[[[[...`` overflows the stack in
    Pyodide (a fatal error there, not a RecursionError). Error bodies nest a
    handful of levels, so most are cleared by counting brackets alone.
    """
    if text.count("[") + text.count("{") <= _DEPTH_LIMIT:
        return True
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char in ("[", "{"):
            depth += 1
            if depth > _DEPTH_LIMIT:
                return False
        elif char in ("]", "}"):
            depth -= 1
    return True


def _parse_body(body: str | bytes | Mapping[str, Any] | None) -> _Body:
    out = _Body()
    data, raw = _load(body)
    if isinstance(data, (list, tuple)):  # Google sometimes wraps the error in a list
        data = next((d for d in data[:10] if isinstance(d, Mapping)), _text_of(data))
    if isinstance(data, str):
        out.message = data
    elif isinstance(data, Mapping):
        err: Mapping[str, Any] = data
        inner = data.get("error")
        if isinstance(inner, Mapping):
            err = inner
        out.message = _text_of(err) or _text_of(data)
        signal = [out.message]
        for key in ("code", "type", "status"):
            value = _str_field(err.get(key))
            if value is None and err is not data:
                value = _str_field(data.get(key))
            if value is not None:
                out.upstream[key] = value
                signal.append(value)
        param = err.get("param")
        if not (isinstance(param, str) and param):
            param = _detail_param(err.get("detail", data.get("detail")))
            if param is None and isinstance(err.get("message"), Mapping):
                param = _detail_param(err["message"].get("detail"))
        if isinstance(param, str) and param:
            out.upstream["param"] = param[:200]
            out.fields["param"] = param[:200]
        for key in ("n_ctx", "n_prompt_tokens"):
            if key in err:
                out.fields[key] = err[key]
        innererror = err.get("innererror")
        if isinstance(innererror, Mapping):
            inner_code = _str_field(innererror.get("code"))
            if inner_code:
                signal.append(inner_code)
        metadata = err.get("metadata")
        if isinstance(metadata, Mapping):  # OpenRouter: the provider's own error, verbatim
            raw_inner = metadata.get("raw")
            if isinstance(raw_inner, str):
                signal.append(raw_inner[:_SCAN_LIMIT])
        out.retry_hint = _google_retry_delay(err.get("details"))
        out.signal = " | ".join(s for s in signal if s)
    elif raw:
        out.message = raw.strip()
    if not out.signal:
        out.signal = out.message
    if out.retry_hint is None and out.message:
        found = _RETRY_TEXT.search(out.message[:_SCAN_LIMIT])
        if found is not None:
            out.retry_hint = _duration(found.group(1))
    return out


def _detail_param(detail: Any) -> str | None:
    """FastAPI/pydantic validation errors: the field named by the first ``loc``."""
    if not isinstance(detail, (list, tuple)):
        return None
    for item in detail[:10]:
        if isinstance(item, Mapping):
            loc = item.get("loc")
            if isinstance(loc, (list, tuple)) and loc and isinstance(loc[-1], str) and loc[-1] != "body":
                return loc[-1]
    return None


def _google_retry_delay(details: Any) -> float | None:
    if not isinstance(details, (list, tuple)):
        return None
    for item in details[:10]:
        if isinstance(item, Mapping) and isinstance(item.get("retryDelay"), str):
            return _duration(item["retryDelay"][:40])
    return None


def classify_http(
    status: int,
    body: str | bytes | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> LLMError:
    """The error an upstream HTTP answer means.

    ``body`` may be the raw body (text or bytes, JSON or not) or parsed JSON.
    The context always has ``status`` and ``upstream_message`` (clipped to
    :data:`MESSAGE_LIMIT`), plus ``upstream_code`` / ``upstream_type`` /
    ``upstream_param`` when the body has them, plus what the matching rule
    extracted. ``retry_after`` comes from the headers, else from the body
    ("try again in 20s", Google's ``RetryInfo``).
    """
    code = _as_status(status)
    try:
        parsed = _parse_body(body)
        hit = _match(parsed.signal, parsed.fields)
        spec, extra = hit if hit is not None else (_status_spec(code), {})
        context: dict[str, Any] = {"status": code, "upstream_message": _clip(parsed.message.strip())}
        for key, value in parsed.upstream.items():
            context[f"upstream_{key}"] = value
        context.update(extra)
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = parsed.retry_hint
        return spec.error(retry_after=retry_after, **context)
    except Exception:  # pragma: no cover - a safety net: classification never raises
        return _status_spec(code).error(status=code, upstream_message="")


# --- Retry-After -------------------------------------------------------------------------

_DELTA: Final = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,6})?)\s*(?:,.*)?$", re.DOTALL)
_MONTHS: Final = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
# IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
_HTTP_DATE: Final = re.compile(
    r"^\s*(?:[A-Za-z]{3,9},?\s+)?(\d{1,2})[\s-]+([A-Za-z]{3})[\s-]+(\d{4}|\d{2})\s+(\d{1,2}):(\d{2}):(\d{2})"
    r"\s*(GMT|UTC|UT|Z|[+-]\d{4})?\s*$",
    re.IGNORECASE,
)
# asctime ("Sun Nov  6 08:49:37 1994")
_ASCTIME: Final = re.compile(r"^\s*[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})\s*$", re.IGNORECASE)


def _http_date(value: str) -> float | None:
    """Seconds since the epoch of an HTTP-date, or None."""
    offset = 0
    m = _HTTP_DATE.match(value)
    if m is not None:
        day, mon, year_s, hh, mm, ss, zone = m.groups()
        year = int(year_s)
        if len(year_s) == 2:
            year += 2000 if year < 70 else 1900
        if zone and zone[0] in "+-":
            offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * (1 if zone[0] == "+" else -1)
    else:
        m = _ASCTIME.match(value)
        if m is None:
            return None
        mon, day, hh, mm, ss, year_s = m.groups()
        year = int(year_s)
    month = _MONTHS.get(mon.lower())
    if month is None:
        return None
    try:
        when = datetime(year, month, int(day), int(hh), int(mm), min(int(ss), 59), tzinfo=timezone(timedelta(minutes=offset)))
        return when.timestamp()
    except (ValueError, OverflowError):
        return None


def _header_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:200]).decode("latin-1")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return None


def _seconds(text: str | None, scale: float) -> float | None:
    if text is None:
        return None
    m = _DELTA.match(text)
    if m is None:
        return None
    value = float(m.group(1)) * scale
    return value if math.isfinite(value) else None


def parse_retry_after(headers: Mapping[str, str] | None, now_wall: float | None = None) -> float | None:
    """Seconds to wait before retrying, from the response headers; None when they do not say.

    Reads ``retry-after-ms`` / ``x-ms-retry-after-ms`` (milliseconds) first,
    then ``Retry-After`` as delta-seconds or an HTTP-date (relative to
    ``now_wall``, seconds since the epoch; default: now). Header names are
    case-insensitive. Negative, garbage or non-finite values are ignored; a
    date in the past means 0.
    """
    if headers is None:
        return None
    try:
        items = headers.items()
        found: dict[str, str] = {}
        for count, (name, value) in enumerate(items):
            if count >= 1000:
                break
            if not isinstance(name, (str, bytes)):
                continue
            key = (name.decode("latin-1") if isinstance(name, bytes) else name).strip().lower()
            if key in ("retry-after", "retry-after-ms", "x-ms-retry-after-ms"):
                text = _header_text(value)
                if text is not None:
                    found.setdefault(key, text)
    except Exception:
        return None
    for key in ("retry-after-ms", "x-ms-retry-after-ms"):
        ms = _seconds(found.get(key), 0.001)
        if ms is not None:
            return ms
    text = found.get("retry-after")
    if text is None:
        return None
    delta = _seconds(text, 1.0)
    if delta is not None:
        return delta
    when = _http_date(text)
    if when is None:
        return None
    now = time.time() if now_wall is None else now_wall
    return max(0.0, when - now)


# --- exceptions --------------------------------------------------------------------------

# Third-party exception classes, by name. Only classes defined outside the
# standard library count (tarfile.ReadError is not a network error).
_BY_NAME: Final[Mapping[str, ErrorSpec]] = {
    # httpx / httpcore
    "ConnectTimeout": cat.TIMEOUT_CONNECT,
    "ReadTimeout": cat.TIMEOUT_READ,
    "WriteTimeout": cat.TIMEOUT_READ,
    "PoolTimeout": cat.TIMEOUT_READ,
    "TimeoutException": cat.TIMEOUT_READ,
    "ConnectError": cat.NET_CONNECTION_FAILED,
    "RemoteProtocolError": cat.NET_CONNECTION_RESET,
    "ReadError": cat.NET_CONNECTION_RESET,
    "WriteError": cat.NET_CONNECTION_RESET,
    "DecodingError": cat.API_INVALID_RESPONSE,
    # openai / anthropic (their status errors carry .status_code and go through classify_http)
    "APITimeoutError": cat.TIMEOUT_READ,
    "APIConnectionError": cat.NET_CONNECTION_FAILED,
    "APIResponseValidationError": cat.API_INVALID_RESPONSE,
    # aiohttp
    "ServerTimeoutError": cat.TIMEOUT_READ,
    "ConnectionTimeoutError": cat.TIMEOUT_CONNECT,
    "SocketTimeoutError": cat.TIMEOUT_READ,
    "ClientConnectorDNSError": cat.NET_DNS_FAILED,
    "ClientConnectorCertificateError": cat.NET_TLS_FAILED,
    "ClientSSLError": cat.NET_TLS_FAILED,
    "ClientConnectorError": cat.NET_CONNECTION_FAILED,
    "ServerDisconnectedError": cat.NET_CONNECTION_RESET,
    "ClientPayloadError": cat.NET_CONNECTION_RESET,
    # requests / urllib3
    "ConnectTimeoutError": cat.TIMEOUT_CONNECT,
    "ReadTimeoutError": cat.TIMEOUT_READ,
    "Timeout": cat.TIMEOUT_READ,
    "NameResolutionError": cat.NET_DNS_FAILED,
    "SSLError": cat.NET_TLS_FAILED,
    "NewConnectionError": cat.NET_CONNECTION_FAILED,
    "ConnectionError": cat.NET_CONNECTION_FAILED,
    "ProtocolError": cat.NET_CONNECTION_RESET,
    "ChunkedEncodingError": cat.NET_CONNECTION_RESET,
    # litellm
    "ContextWindowExceededError": cat.RUNTIME_CONTEXT_LENGTH,
    "ContentPolicyViolationError": cat.API_CONTENT_FILTERED,
}

# onnxruntime's pybind exceptions have generic names; they count only from onnxruntime.
_ONNX_BY_NAME: Final[Mapping[str, ErrorSpec]] = {
    "InvalidProtobuf": cat.ONNX_INVALID_MODEL,
    "InvalidGraph": cat.ONNX_INVALID_MODEL,
    "NoModel": cat.ONNX_INVALID_MODEL,
    "NoSuchFile": cat.ONNX_INVALID_MODEL,
    "NotImplemented": cat.ONNX_UNSUPPORTED_OP,
    "InvalidArgument": cat.ONNX_RUN_FAILED,
    "RuntimeException": cat.ONNX_RUN_FAILED,
    "Fail": cat.ONNX_RUN_FAILED,
    "EPFail": cat.ONNX_SESSION_FAILED,
}

_STDLIB: Final = frozenset(sys.stdlib_module_names) | {"builtins", "__main__"}
_CANCELLED: Final = (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit, SystemExit)
_RESET: Final = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, asyncio.IncompleteReadError)


def _by_name(exc: BaseException) -> ErrorSpec | None:
    for cls in type(exc).__mro__:
        module = getattr(cls, "__module__", None) or ""
        top = module.partition(".")[0]
        if top in _STDLIB:
            continue
        if top == "onnxruntime":
            spec = _ONNX_BY_NAME.get(cls.__name__)
            if spec is not None:
                return spec
        spec = _BY_NAME.get(cls.__name__)
        if spec is not None:
            return spec
    return None


def _by_type(exc: BaseException) -> ErrorSpec | None:
    if isinstance(exc, _CANCELLED):
        return cat.CORE_CANCELLED
    if isinstance(exc, MemoryError):
        return cat.MEM_OUT_OF_MEMORY
    if isinstance(exc, json.JSONDecodeError):
        return cat.API_INVALID_RESPONSE
    if isinstance(exc, ConnectionRefusedError):
        return cat.NET_CONNECTION_FAILED
    if isinstance(exc, _RESET):
        return cat.NET_CONNECTION_RESET
    if isinstance(exc, TimeoutError):
        return cat.TIMEOUT_READ
    # socket and ssl are looked up, not imported: ssl is not always there in
    # Pyodide, and an exception of a module never imported cannot occur.
    socket = sys.modules.get("socket")
    if socket is not None and isinstance(exc, (socket.gaierror, socket.herror)):
        return cat.NET_DNS_FAILED
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return cat.NET_TLS_FAILED
    if isinstance(exc, ConnectionError):
        return cat.NET_CONNECTION_FAILED
    if isinstance(exc, ImportError) and (exc.name or "").partition(".")[0] == "onnxruntime":
        return cat.ONNX_RUNTIME_MISSING
    return None


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property that raises (httpx: ResponseNotRead)
        return None


def _status_of(obj: Any, *names: str) -> int | None:
    for name in names:
        value = _attr(obj, name)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def _from_http_attributes(exc: BaseException) -> LLMError | None:
    """httpx.HTTPStatusError, openai.APIStatusError, aiohttp.ClientResponseError, requests.HTTPError..."""
    response = _attr(exc, "response")
    status = _status_of(exc, "status_code")
    if status is None and response is not None:
        status = _status_of(response, "status_code", "status")
    if status is None:
        status = _status_of(exc, "status")
    if status is None:
        return None
    body: Any = _attr(exc, "body")
    if not isinstance(body, (str, bytes, Mapping)) and response is not None:
        body = _attr(response, "text")
        if not isinstance(body, str):
            body = _attr(response, "content")
    if not isinstance(body, (str, bytes, Mapping)):
        body = _attr(exc, "message")
        if not isinstance(body, str):
            body = None
    headers = _attr(response, "headers") if response is not None else None
    if headers is None:
        headers = _attr(exc, "headers")
    if _attr(headers, "items") is None:
        headers = None
    return classify_http(status, body, headers)


def _chain(exc: BaseException) -> list[BaseException]:
    """exc, then what it was raised from or during, breadth first; groups expanded."""
    out: list[BaseException] = []
    seen: set[int] = set()
    queue = [exc]
    while queue and len(out) < _CHAIN_LIMIT:
        e = queue.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        if isinstance(e, BaseExceptionGroup):
            queue.extend(e.exceptions[:_CHAIN_LIMIT])
        if e.__cause__ is not None:
            queue.append(e.__cause__)
        if e.__context__ is not None:
            queue.append(e.__context__)
    return out


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = getattr(cls, "__module__", None) or ""
    name = getattr(cls, "__qualname__", None) or cls.__name__
    return name if module in ("builtins", "") else f"{module}.{name}"


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return ""
    return text if isinstance(text, str) else ""


def _finish(err: LLMError, exc: BaseException, matched: BaseException) -> LLMError:
    err.context.setdefault("exception_type", _type_name(exc))
    err.context.setdefault("exception_message", _clip(_safe_str(exc)))
    if matched is not exc:
        err.context.setdefault("matched_type", _type_name(matched))
    err.__cause__ = exc
    return err


def _classify(exc: BaseException) -> LLMError:
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, LLMError):
            return e  # an LLMError underneath says exactly what happened
        spec = _by_type(e) if isinstance(e, _CANCELLED) else None
        if spec is None:
            spec = _by_name(e)
        if spec is None:
            http = _from_http_attributes(e)
            if http is not None:
                return _finish(http, exc, e)
            spec = _by_type(e)
        if spec is not None:
            extra: dict[str, Any] = {}
            if spec is cat.RUNTIME_CONTEXT_LENGTH:
                hit = _match(_safe_str(e), {})
                if hit is not None and hit[0] is spec:
                    extra = hit[1]
            return _finish(spec.error(**extra), exc, e)
    for e in chain:
        hit = _match(_safe_str(e), {})
        if hit is not None:
            spec, extra = hit
            return _finish(spec.error(**extra), exc, e)
    return _finish(cat.CORE_INTERNAL.error(), exc, exc)


def classify(exc: BaseException) -> LLMError:
    """The :class:`LLMError` an exception means; its ``__cause__`` is ``exc``.

    An :class:`LLMError` comes back unchanged (also one found along the
    cause chain). The context has ``exception_type``, ``exception_message``
    (clipped), ``matched_type`` when a chained exception decided, and what
    the deciding rule extracted.
    """
    if isinstance(exc, LLMError):
        return exc
    try:
        return _classify(exc)
    except Exception:  # pragma: no cover - a safety net: classification never raises
        err = cat.CORE_INTERNAL.error(exception_type=_type_name(exc))
        err.__cause__ = exc
        return err
