"""Structured JSON-lines logging on top of :mod:`logging`, with secrets scrubbed.

One JSON object per line::

    {"timestamp": "2024-02-08T12:34:56.789Z", "level": "ERROR", "logger": "llm_runner_router.core.router",
     "message": "attempt failed", "context": {"request_id": "req-1", "operation": "chat"},
     "error_code": "LLM_NET_001_E", "exception_type": "NetworkError",
     "stack_trace": "Traceback ...", "extra": {"deployment": "a"}, "error": {...}}

``error_code``, ``exception_type``, ``stack_trace`` and ``error`` appear
only when there is something to say; ``context`` and ``extra`` always do.

Context travels in a :class:`contextvars.ContextVar`, so it follows the
request across ``await`` and into tasks created while it is set, and never
leaks between concurrent requests::

    with log_context(request_id="req-1", component="router"):
        log = get_logger("llm_runner_router.core.router")
        log.info("routing", deployment="a")      # context carries request_id, component

Keyword arguments named ``request_id``, ``component`` or ``operation`` are
put in ``context``; every other keyword goes to ``extra``. ``error=`` takes
an exception: for an :class:`LLMError` its code becomes ``error_code``
(unless one is given) and its ``to_dict()`` is logged as ``error``; a
raised exception also gives its stack trace.

Secrets never reach the output: :func:`redact` runs over message, context,
extra, error and stack trace. Values under keys named like credentials
(``api_key``, ``x-api-key``, ``authorization``, ``password``, ``secret``,
``token``, ``*_token``, …) become ``"[REDACTED]"``; free text loses
``Bearer …`` tokens, ``sk-…`` style keys, ``key: value``/``key=value``
credentials and passwords in URLs.

The module opens nothing: :func:`configure_logging` writes to the stream it
is given (``sys.stderr`` if none).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import IO, Any, Final

from .errors import LLMError

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RepeatFilter",
    "StructuredLogger",
    "bind",
    "clear_context",
    "configure_logging",
    "current_context",
    "get_logger",
    "log_context",
    "redact",
    "redact_text",
    "reset_context",
]

REDACTED: Final = "[REDACTED]"

# --- redaction ----------------------------------------------------------------

_SECRET_KEY = re.compile(
    r"""
    (?:^|_)(?:api_?key|apikey|password|passwd|secret|client_secret|private_key|secret_key|access_key
          |authorization|proxy_authorization|credentials?|cookie|set_cookie)(?:_|$)
    | api_?key | password | secret | authorization
    | (?:^|_)token$                           # token, access_token, x_auth_token (not tokens, not max_tokens)
    | ^(?:bearer|pwd|auth)$
    """,
    re.VERBOSE,
)

# Every pattern below runs on text a client controls (paths, methods, headers reach the
# access log), so each must stay linear in the length of its input: a match may only
# start where a scan from an earlier start could not have passed (the look-behinds
# that pin a start to the beginning of a run), and a branch that has consumed
# unbounded text never fails afterwards (an unterminated quoted value is redacted to
# the end of its line). tests/core/test_jsonlog.py checks this on adversarial input.

# key: value / key=value in free text, optionally quoted (JSON, Python reprs, headers, query strings).
_KEY_VALUE = re.compile(
    r"""
    (?P<key>(?<![\w-])[\w-]*?(?:x[-_]api[-_]key|api[-_]?key|apikey|authorization|password|passwd|secret|(?<![a-z])token))
    (?P<kq>["']?)
    (?P<sep>[ \t]*[:=][ \t]*)
    (?:
        (?P<q>["'])(?P<qval>(?:\\.|(?!(?P=q)).)*)(?:(?P=q)|(?=\n)|\Z)
      | (?!(?:(?:bearer|basic|token)[ \t]+)?\[REDACTED\])
        (?P<val>(?:(?:bearer|basic|token)[ \t]+)?[^\s"',;&)}\]]+)
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer|basic)([ \t]+)(?!\[REDACTED\])[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_TOKEN_SHAPES = re.compile(
    r"""
      \bsk-[A-Za-z0-9][A-Za-z0-9_\-]{5,}          # OpenAI / Anthropic style: sk-..., sk-proj-..., sk-ant-...
    | \b(?:hf|gsk|xai)_[A-Za-z0-9]{16,}            # Hugging Face, Groq, xAI
    | \bgh[pousr]_[A-Za-z0-9]{20,}                 # GitHub
    | \bAIza[0-9A-Za-z_\-]{30,}                    # Google
    | \bxox[abprs]-[A-Za-z0-9\-]{10,}              # Slack
    | (?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+   # JWT
    """,
    re.VERBOSE,
)
_URL_PASSWORD = re.compile(r"((?<![a-zA-Z0-9+.\-])[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]{1,256}:)([^@\s/]{1,256})(@)")
_QUERY_SECRET = re.compile(r"([?&](?:key|sig|signature|auth|code)=)[^&\s#\"']+", re.IGNORECASE)


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    return bool(_SECRET_KEY.search(key.strip().lower().replace("-", "_").replace(" ", "_")))


def _kv_replace(m: re.Match[str]) -> str:
    head = m.group("key") + m.group("kq") + m.group("sep")
    if m.group("q") is not None:
        return f"{head}{m.group('q')}{REDACTED}{m.group('q')}"
    return head + REDACTED


def redact_text(text: str) -> str:
    """``text`` with credentials in it replaced by ``[REDACTED]``."""
    text = _KEY_VALUE.sub(_kv_replace, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _TOKEN_SHAPES.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


_MAX_DEPTH = 32


def _walk(value: Any, json_safe: bool, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if json_safe and not math.isfinite(value):
            return str(value)
        return value
    if depth >= _MAX_DEPTH:
        return "[...]"
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            key = str(k) if json_safe and not isinstance(k, str) else k
            out[key] = REDACTED if _is_secret_key(k) else _walk(v, json_safe, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_walk(v, json_safe, depth + 1) for v in value]
        if json_safe or isinstance(value, list):
            return items
        return tuple(items) if isinstance(value, tuple) else type(value)(items)
    if isinstance(value, LLMError):
        return _walk(value.to_dict(), json_safe, depth + 1)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if json_safe:
        return redact_text(str(value))
    return value


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced by ``[REDACTED]``.

    Strings are scrubbed as free text; in dicts (at any depth, inside lists
    and tuples too) the value of any key named like a credential is
    replaced whole. An exception becomes its scrubbed ``"Type: message"``
    text (an :class:`LLMError` its scrubbed ``to_dict()``); other objects
    are returned as they are.
    """
    return _walk(value, False, 0)


def _json_safe(value: Any) -> Any:
    return _walk(value, True, 0)


# --- context ------------------------------------------------------------------

_EMPTY: Final[Mapping[str, Any]] = {}
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("core_jsonlog_context", default=_EMPTY)
_CONTEXT_KEYS: Final = frozenset({"request_id", "component", "operation"})


def current_context() -> dict[str, Any]:
    """The fields bound in the current context (a copy)."""
    return dict(_context.get())


def bind(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Add fields to the current context until changed; the token undoes it (:func:`reset_context`)."""
    return _context.set({**_context.get(), **fields})


def reset_context(token: contextvars.Token[Mapping[str, Any]]) -> None:
    """Undo a :func:`bind`."""
    _context.reset(token)


def clear_context() -> None:
    """Drop every bound field in the current context."""
    _context.set(_EMPTY)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Fields added to the context inside the block (nesting merges; leaving restores)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield dict(_context.get())
    finally:
        _context.reset(token)


# --- formatter ----------------------------------------------------------------

_PAYLOAD: Final = "_jsonlog"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS: Final = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
    _PAYLOAD,
}

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _iso_utc(created: float, msecs: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{min(int(msecs), 999):03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (see the module docstring)."""

    def __init__(self, *, sort_keys: bool = False) -> None:
        super().__init__()
        self._sort_keys = sort_keys

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = getattr(record, _PAYLOAD, None) or {}
        context: Mapping[str, Any] = payload.get("context", _context.get())
        extra: dict[str, Any] = dict(payload.get("extra", {}))
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                extra.setdefault(key, value)  # stdlib ``extra=`` fields

        error: BaseException | None = payload.get("error")
        exc: BaseException | None = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
        subject = error if error is not None else exc

        entry: dict[str, Any] = {
            "timestamp": _iso_utc(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "context": dict(context),
        }
        error_code = payload.get("error_code")
        if error_code is None and isinstance(subject, LLMError):
            error_code = subject.code
        if error_code is not None:
            entry["error_code"] = error_code
        if subject is not None:
            entry["exception_type"] = type(subject).__name__
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        elif error is not None and error.__traceback__ is not None:
            entry["stack_trace"] = "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip("\n")
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        entry["extra"] = extra
        if isinstance(subject, LLMError):
            entry["error"] = subject.to_dict()
        return json.dumps(_json_safe(entry), ensure_ascii=False, sort_keys=self._sort_keys, allow_nan=False)


# --- logger -------------------------------------------------------------------


class StructuredLogger:
    """A :class:`logging.Logger` with keyword fields, errors and bound context."""

    __slots__ = ("_bound", "_logger")

    def __init__(self, logger: logging.Logger, bound: Mapping[str, Any] | None = None) -> None:
        self._logger = logger
        self._bound: Mapping[str, Any] = dict(bound or {})

    @property
    def name(self) -> str:
        return self._logger.name

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def bind(self, **fields: Any) -> StructuredLogger:
        """A logger that adds these fields to the context of everything it logs."""
        return StructuredLogger(self._logger, {**self._bound, **fields})

    def is_enabled_for(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def _log(
        self,
        level: int,
        msg: str,
        error: BaseException | None,
        error_code: str | None,
        extra: dict[str, Any],
        exc_info: ExcInfo | None = None,
    ) -> None:
        if not self._logger.isEnabledFor(level):
            return
        context = {**_context.get(), **self._bound}
        for key in _CONTEXT_KEYS.intersection(extra):
            context[key] = extra.pop(key)
        if exc_info is None and error is not None and error.__traceback__ is not None:
            exc_info = (type(error), error, error.__traceback__)
        payload = {"context": context, "extra": extra, "error": error, "error_code": error_code}
        self._logger.log(level, msg, exc_info=exc_info, extra={_PAYLOAD: payload}, stacklevel=3)

    def debug(self, msg: str, *, error: BaseException | None = None, error_code: str | None = None, **extra: Any) -> None:
        self._log(logging.DEBUG, msg, error, error_code, extra)

    def info(self, msg: str, *, error: BaseException | None = None, error_code: str | None = None, **extra: Any) -> None:
        self._log(logging.INFO, msg, error, error_code, extra)

    def warning(self, msg: str, *, error: BaseException | None = None, error_code: str | None = None, **extra: Any) -> None:
        self._log(logging.WARNING, msg, error, error_code, extra)

    def error(self, msg: str, *, error: BaseException | None = None, error_code: str | None = None, **extra: Any) -> None:
        self._log(logging.ERROR, msg, error, error_code, extra)

    def critical(self, msg: str, *, error: BaseException | None = None, error_code: str | None = None, **extra: Any) -> None:
        self._log(logging.CRITICAL, msg, error, error_code, extra)

    def exception(self, msg: str, *, error_code: str | None = None, **extra: Any) -> None:
        """ERROR with the exception being handled (call it from an ``except`` block)."""
        info = sys.exc_info()
        if info[0] is None or info[1] is None:
            self._log(logging.ERROR, msg, None, error_code, extra)
            return
        self._log(logging.ERROR, msg, info[1], error_code, extra, (info[0], info[1], info[2]))


_loggers: dict[str, StructuredLogger] = {}


def get_logger(name: str) -> StructuredLogger:
    """The structured logger over ``logging.getLogger(name)`` (one per name)."""
    found = _loggers.get(name)
    if found is None:
        found = _loggers[name] = StructuredLogger(logging.getLogger(name))
    return found


class RepeatFilter(logging.Filter):
    """Lets through at most ``burst`` failures of one kind every ``period`` seconds.

    A failure is a record at WARNING or above, or one that carries an error code;
    its kind is its logger, level, message (before ``%`` formatting) and code. A
    failure that repeats thousands of times a second (a client flood, the process
    out of file descriptors) is logged a few times, not thousands; the first record
    of a kind let through after some were held back says how many: ``suppressed``.
    Other records (an access log line per request) all pass.
    """

    def __init__(self, burst: int = 5, period: float = 10.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self._clock = clock
        self._lock = threading.Lock()  # records come from worker threads too (llama.cpp's log hook)
        # kind -> [window start, records let through in it, records held back since the last one let through]
        self._kinds: dict[tuple[Any, ...], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        payload = getattr(record, _PAYLOAD, None) or {}
        error = payload.get("error")
        code = payload.get("error_code") or (error.code if isinstance(error, LLMError) else None)
        if record.levelno < logging.WARNING and code is None:
            return True
        kind = (record.name, record.levelno, str(record.msg), code)
        now = self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None:
                if len(self._kinds) >= 4096:  # many kinds, each rare: forget the oldest half
                    for old in list(self._kinds)[:2048]:
                        del self._kinds[old]
                state = self._kinds[kind] = [now, 0, 0]
            if now - state[0] >= self.period:
                state[0], state[1] = now, 0
            if state[1] >= self.burst:
                state[2] += 1
                return False
            state[1] += 1
            held, state[2] = int(state[2]), 0
        if held:
            record.suppressed = held
        return True


class _JsonHandler(logging.StreamHandler[IO[str]]):
    """The handler :func:`configure_logging` installs (so it can find and replace it)."""


def configure_logging(
    level: int | str = "INFO", stream: IO[str] | None = None, *, logger: str | None = None, limit_repeats: bool = True
) -> logging.Handler:
    """Send ``logger`` (the root logger by default) to ``stream`` as JSON lines at ``level``.

    With ``limit_repeats`` a :class:`RepeatFilter` keeps a repeating failure from
    flooding the stream. Calling it again replaces the handler it installed before.
    """
    target = logging.getLogger(logger)
    for handler in list(target.handlers):
        if isinstance(handler, _JsonHandler):
            target.removeHandler(handler)
    handler = _JsonHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    if limit_repeats:
        handler.addFilter(RepeatFilter())
    target.addHandler(handler)
    target.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
