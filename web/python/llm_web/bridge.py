"""The JavaScript boundary: typed stand-ins for browser objects, and conversions.

What is handed to Python from JavaScript exists only in the browser. The
Protocols and TypedDicts below describe it, the way Pyodide's own typed
stand-ins do, so the adapters type-check and run their tests on CPython
with plain Python fakes. The conversions accept both Python values and
Pyodide ``JsProxy`` objects (anything with ``.to_py()``); ``pyodide`` is
imported only when running under Emscripten, and only when needed.

The engine's contract (web/lib/engine/engine.js)::

    engine.info   -> {ep: "wasm"|"webgpu", threads, loadMs, build_id}
    engine.stream({messages, prefix, kind, maxTokens, temperature, topP, seed, stop, signal, requestId})
                  -> async iterator of {text, tokenId} ... then
                     {text: "", finishReason, usage: {promptTokens, completionTokens}, timings}
                     and, before a piece, any number of {text: "", heartbeat: true}: alive, no
                     token yet (loading on first use, prefilling): the router's wait for the
                     next token starts again (core.types.HEARTBEAT)
    failures: a JS EngineError with .stage ("probe"|"import"|"fetch"|"session"|"run"),
              .ep, .message, .context, and .code only when the engine knew the
              catalogue code itself; error_from_js names the others with the core's classifier
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, Final, Protocol, TypedDict

from llm_runner_router.core import catalogue
from llm_runner_router.core.classify import classify, classify_engine_failure
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import HEARTBEAT, BackendChunk, BackendRequest, Usage

__all__ = [
    "AbortHandle",
    "JsChunk",
    "JsEngine",
    "JsEngineInfo",
    "JsFinalChunk",
    "JsMessage",
    "JsStreamOptions",
    "JsUsage",
    "browser_abort_factory",
    "chunk_from_js",
    "error_from_js",
    "in_browser",
    "py",
    "to_js",
    "to_js_options",
]

_CODE_PREFIX: Final = re.compile(r"^\s*\[(LLM_[A-Z0-9]+_\d{3}_[IWECF])\]\s*")
_CONTEXT_KEYS: Final = 32  # keys kept of a JS error's context
_FINISH_REASONS: Final = frozenset({"stop", "length", "abort"})


# --- what exists only in the browser -----------------------------------------------------


class JsMessage(TypedDict):
    role: str
    content: str


class JsStreamOptions(TypedDict, total=False):
    """The argument of ``engine.stream``; absent keys take the engine's defaults."""

    messages: list[JsMessage]
    prefix: str
    kind: str  # "chat" | "text"
    maxTokens: int
    temperature: float
    topP: float
    seed: int
    stop: list[str]
    signal: Any  # an AbortSignal
    requestId: str  # the page's request (runtime.js joins its Stop and progress to the engine's stream by it)


class JsUsage(TypedDict):
    promptTokens: int
    completionTokens: int


class JsChunk(TypedDict):
    text: str
    tokenId: int


class JsFinalChunk(TypedDict, total=False):
    text: str
    finishReason: str  # "stop" | "length" | "abort"
    usage: JsUsage
    timings: dict[str, Any]


class JsEngineInfo(TypedDict, total=False):
    ep: str  # "wasm" | "webgpu"
    threads: int
    loadMs: float
    build_id: str


class JsEngine(Protocol):
    """web/lib/engine/engine.js's engine, as Python sees it."""

    @property
    def info(self) -> Any: ...  # JsEngineInfo (a JsProxy of it in the browser)

    def stream(self, options: Any) -> AsyncIterable[Any]: ...  # of JsChunk, then one JsFinalChunk


class AbortHandle(Protocol):
    """An AbortController: ``signal`` goes to the engine, ``abort()`` stops it."""

    @property
    def signal(self) -> Any: ...

    def abort(self) -> Any: ...


# --- conversions ---------------------------------------------------------------------------


def in_browser() -> bool:
    return sys.platform == "emscripten"


def _browser_module(name: str) -> Any:
    """A module only Pyodide has (``js``, ``pyodide.ffi``), imported when first needed."""
    return importlib.import_module(name)


def py(value: Any, depth: int = -1) -> Any:
    """A JsProxy as Python data (``to_py``); anything else unchanged."""
    to_py = getattr(value, "to_py", None)
    if callable(to_py):
        return to_py(depth=depth)
    return value


def to_js(value: Any) -> Any:
    """Python data as a JS value in the browser (dicts as plain Objects); unchanged elsewhere.

    A Python dict handed to a JS function would arrive as a PyProxy, which
    JavaScript cannot read as an options object.
    """
    if not in_browser():
        return value
    js, ffi = _browser_module("js"), _browser_module("pyodide.ffi")
    return ffi.to_js(value, dict_converter=js.Object.fromEntries, create_pyproxies=False)


def browser_abort_factory() -> Callable[[], AbortHandle] | None:
    """``js.AbortController.new`` in the browser; None elsewhere."""
    if not in_browser():
        return None
    factory: Callable[[], AbortHandle] = _browser_module("js").AbortController.new
    return factory


def _stop(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for s in value if isinstance(s, str)]
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def to_js_options(request: BackendRequest, signal: Any = None) -> JsStreamOptions:
    """The ``engine.stream`` argument for one attempt (Python data; see :func:`to_js`)."""
    params = request.params
    options: JsStreamOptions = {
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "prefix": request.prefix,
        "kind": request.kind,
    }
    max_tokens = params.get("max_tokens", params.get("max_completion_tokens"))
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        options["maxTokens"] = max_tokens
    temperature, top_p = _number(params.get("temperature")), _number(params.get("top_p"))
    if temperature is not None:
        options["temperature"] = temperature
    if top_p is not None:
        options["topP"] = top_p
    seed = params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        options["seed"] = seed
    stop = _stop(params.get("stop"))
    if stop:
        options["stop"] = stop
    if signal is not None:
        options["signal"] = signal
    if request.request_id:
        options["requestId"] = request.request_id
    return options


def _field(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    try:
        return getattr(obj, key, None)
    except Exception:  # a JS getter that throws
        return None


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return 0
    return int(min(value, 2**53))


def chunk_from_js(obj: Any) -> BackendChunk:
    """One value of the engine's stream as a BackendChunk; STREAM_MALFORMED when it is not one."""
    data = py(obj)
    text = _field(data, "text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise catalogue.STREAM_MALFORMED.error(f"the engine sent a chunk whose text is {type(text).__name__}", chunk=repr(data)[:200])
    reason = _field(data, "finishReason")
    if reason is None:
        if not text and _field(data, "heartbeat") is True:
            return HEARTBEAT  # alive, nothing yet: the wait for the next token starts again
        return BackendChunk(text)
    if not isinstance(reason, str) or reason not in _FINISH_REASONS:
        raise catalogue.STREAM_MALFORMED.error(f"the engine sent an unknown finishReason {reason!r}", chunk=repr(data)[:200])
    raw = _field(data, "usage")
    usage = None
    if raw is not None:
        usage = Usage(_count(_field(raw, "promptTokens")), _count(_field(raw, "completionTokens")))
    return BackendChunk(text, reason, usage)


def _context(value: Any) -> dict[str, Any]:
    data = py(value)
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, item in list(data.items())[:_CONTEXT_KEYS]:
        if isinstance(key, str) and key != "retry_after":
            out[key] = item if isinstance(item, (str, int, float, bool, list, dict, type(None))) else str(item)[:200]
    return out


def _js_field(exc: object, key: str) -> Any:
    """A field of a JS error: on the exception itself, or (older Pyodide) on the JS error behind it."""
    value = _field(exc, key)
    return value if value is not None else _field(_field(exc, "js_error"), key)


def _short(value: Any, limit: int = 100) -> str | None:
    """A JS string field, clipped; None when it is not a non-empty string."""
    return value[:limit] if isinstance(value, str) and value else None


def error_from_js(exc: object) -> LLMError:
    """The LLMError a failure from JavaScript means: the one boundary where JS failures get their code.

    - A JS error carrying a catalogue code (the engine knew what happened:
      a checksum mismatch, a download that failed) becomes exactly that
      error, with its message and context.
    - An engine failure without one carries ``stage``, ``ep`` and its
      message (web/lib/engine/errors.js): the core's
      :func:`~llm_runner_router.core.classify.classify_engine_failure` names it.
    - Anything else is classified as the core classifies any exception.

    ``exc`` is usually the exception Pyodide raised for a JS throw; it may
    also be a JS error handed over as a value (runtime.js's load failures).
    """
    if isinstance(exc, LLMError):
        return exc
    code, stage, ep = _short(_js_field(exc, "code")), _short(_js_field(exc, "stage"), 40), _short(_js_field(exc, "ep"), 40)
    message = _js_field(exc, "message")
    text = _CODE_PREFIX.sub("", message, count=1) if isinstance(message, str) else ""
    context = _context(_js_field(exc, "context"))
    for key, value in (("stage", stage), ("ep", ep), ("js_name", _short(_js_field(exc, "name")))):
        if value is not None:
            context.setdefault(key, value)
    spec = catalogue.ALL.get(code) if code is not None else None
    if spec is not None:
        err = spec.error(text or None, **context)
    elif stage is not None:
        err = classify_engine_failure(stage, ep, text)
        err.context.update({key: value for key, value in context.items() if key not in err.context})
    elif isinstance(exc, BaseException):
        err = classify(exc)
    else:  # a JS value that is not an engine failure: nothing says what it means
        err = catalogue.CORE_INTERNAL.error(text or None, **context)
    if spec is None and code is not None:
        err.context.setdefault("js_code", code)
    if isinstance(exc, BaseException) and err.__cause__ is None:
        err.__cause__ = exc
    return err
