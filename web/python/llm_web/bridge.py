"""The JavaScript boundary: typed stand-ins for browser objects, and conversions.

What is handed to Python from JavaScript exists only in the browser. The
Protocols and TypedDicts below describe it, the way Pyodide's own typed
stand-ins do, so the adapters type-check and run their tests on CPython
with plain Python fakes. The conversions accept both Python values and
Pyodide ``JsProxy`` objects (anything with ``.to_py()``); ``pyodide`` is
imported only when running under Emscripten, and only when needed.

The engine's contract (web/src/engine/engine.js)::

    engine.info   -> {ep: "wasm"|"webgpu", threads, loadMs, build_id}
    engine.stream({messages, prefix, kind, maxTokens, temperature, topP, seed, stop, signal})
                  -> async iterator of {text, tokenId} ... then
                     {text: "", finishReason, usage: {promptTokens, completionTokens}, timings}
    failures: a JS Error with .code (a catalogue code), .message, .context
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, Final, Protocol, TypedDict

from llm_runner_router.core import catalogue
from llm_runner_router.core.classify import classify
from llm_runner_router.core.errors import LLMError
from llm_runner_router.core.types import BackendChunk, BackendRequest, Usage

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
    """web/src/engine/engine.js's engine, as Python sees it."""

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


def error_from_js(exc: BaseException) -> LLMError:
    """The LLMError a failure from JavaScript means.

    A JS error carrying a catalogue code becomes exactly that error, with
    its message and context; anything else is classified as core does.
    """
    if isinstance(exc, LLMError):
        return exc
    code = _field(exc, "code")
    if not isinstance(code, str):
        code = _field(_field(exc, "js_error"), "code")  # older Pyodide: the JS error behind the exception
    spec = catalogue.ALL.get(code) if isinstance(code, str) else None
    if spec is None:
        err = classify(exc)
        if isinstance(code, str) and code:
            err.context.setdefault("js_code", code[:100])
        return err
    message = _field(exc, "message")
    text = _CODE_PREFIX.sub("", message, count=1) if isinstance(message, str) else ""
    context = _context(_field(exc, "context"))
    name = _field(exc, "name")
    if isinstance(name, str) and name:
        context.setdefault("js_name", name[:100])
    err = spec.error(text or None, **context)
    err.__cause__ = exc
    return err
