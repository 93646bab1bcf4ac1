"""Errors: the exception hierarchy and the shape of a catalogue entry.

Every failure the product can meet has one entry in the catalogue
(:mod:`core.catalogue`) and surfaces as an instance of one class below::

    LLMError                      base; carries .spec, .code, .context
    ├── CoreError                 CORE     router, registry, self-healing
    ├── ModelError                MODEL    model files, loading
    ├── InferenceError            RUNTIME  a running model
    ├── NetworkError              NET      connections, upstream 5xx
    ├── DeadlineError             TIMEOUT  connect, read, first token, deadline
    ├── ResourceError             MEM      memory, cache, storage quota
    ├── AuthError                 AUTH     credentials, permissions
    ├── RateLimitError            RATE     upstream 429, our own queue
    ├── ConfigError               CONFIG   configuration
    ├── ValidationError           VAL      a caller's bad input
    ├── UpstreamAPIError          API      what an upstream API said no to
    ├── CircuitOpenError          CB       breaker refused the call
    ├── RetryError                RETRY    retries or deployments exhausted
    ├── WebGPUError               WEBGPU   browser GPU engine
    ├── WasmError                 WASM     browser WASM engine
    ├── GGUFError                 GGUF     GGUF files
    ├── ONNXError                 ONNX     ONNX files and sessions
    └── StreamError               STREAM   cut, stalled or malformed streams

A code reads ``LLM_<CATEGORY>_<NNN>_<SEVERITY>``. The class is chosen by
the category, so ``except NetworkError`` catches every NET code.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "CircuitOpenError",
    "ConfigError",
    "CoreError",
    "DeadlineError",
    "ErrorSpec",
    "GGUFError",
    "InferenceError",
    "LLMError",
    "ModelError",
    "NetworkError",
    "ONNXError",
    "RateLimitError",
    "Recovery",
    "ResourceError",
    "RetryError",
    "Severity",
    "StreamError",
    "UpstreamAPIError",
    "ValidationError",
    "WasmError",
    "WebGPUError",
]


class Severity(enum.Enum):
    INFO = "I"
    WARNING = "W"
    ERROR = "E"
    CRITICAL = "C"
    FATAL = "F"


class Recovery(enum.Enum):
    """What the router does when it meets an error of this kind."""

    NONE = "none"  # informational; nothing to do
    RETRY = "retry"  # same deployment again after a backoff, then fall back
    FALLBACK = "fallback"  # next deployment at once
    ADJUST = "adjust"  # same deployment at once with a learned change (endpoint, parameter, no prefill)
    LARGER_CONTEXT = "larger_context"  # only deployments with a larger context window
    ABORT = "abort"  # stop; the reason goes back to the caller unchanged
    RELOAD = "reload"  # operator or self-healing monitor reloads the local model
    SHED = "shed"  # free caches, then fall back
    MANUAL = "manual"  # an operator must act


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One catalogue entry."""

    category: str
    number: int
    severity: Severity
    name: str  # short snake_case identifier, e.g. "connection_failed"
    message: str  # one human sentence
    retryable: bool
    http_status: int
    recovery: Recovery
    # Whether the failure is the backend's fault and so counts against its
    # circuit breaker and compatibility record. A caller's bad input, a
    # content-filter refusal or an over-long prompt say nothing about the
    # health of the deployment.
    blames_backend: bool = True

    @property
    def code(self) -> str:
        return f"LLM_{self.category}_{self.number:03d}_{self.severity.value}"

    def error(self, message: str | None = None, **context: Any) -> LLMError:
        """An exception for this entry, of the class its category maps to."""
        cls = _CLASS_BY_CATEGORY.get(self.category, LLMError)
        return cls(self, message, **context)


class LLMError(Exception):
    """Base of every error the product raises on purpose."""

    category: ClassVar[str] = ""

    def __init__(
        self,
        spec: ErrorSpec,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        self.spec = spec
        self.message = message or spec.message
        self.retry_after = retry_after
        self.context: dict[str, Any] = context
        super().__init__(f"[{spec.code}] {self.message}")

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def type(self) -> str:
        """The category in lower case, as wllama's typed errors expose it."""
        return self.spec.category.lower()

    @property
    def retryable(self) -> bool:
        return self.spec.retryable

    @property
    def http_status(self) -> int:
        return self.spec.http_status

    @property
    def recovery(self) -> Recovery:
        return self.spec.recovery

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "type": self.type,
            "name": self.spec.name,
            "message": self.message,
            "severity": self.spec.severity.value,
            "retryable": self.retryable,
            "http_status": self.http_status,
            "recovery": self.recovery.value,
        }
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        if self.context:
            out["context"] = {k: _jsonable(v) for k, v in self.context.items()}
        if self.__cause__ is not None:
            out["cause"] = f"{type(self.__cause__).__name__}: {self.__cause__}"
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, LLMError):
        return value.to_dict()
    return str(value)


class CoreError(LLMError):
    category = "CORE"


class ModelError(LLMError):
    category = "MODEL"


class InferenceError(LLMError):
    category = "RUNTIME"


class NetworkError(LLMError):
    category = "NET"


class DeadlineError(LLMError):
    category = "TIMEOUT"


class ResourceError(LLMError):
    category = "MEM"


class AuthError(LLMError):
    category = "AUTH"


class RateLimitError(LLMError):
    category = "RATE"


class ConfigError(LLMError):
    category = "CONFIG"


class ValidationError(LLMError):
    category = "VAL"


class UpstreamAPIError(LLMError):
    category = "API"


class CircuitOpenError(LLMError):
    category = "CB"


class RetryError(LLMError):
    category = "RETRY"


class WebGPUError(LLMError):
    category = "WEBGPU"


class WasmError(LLMError):
    category = "WASM"


class GGUFError(LLMError):
    category = "GGUF"


class ONNXError(LLMError):
    category = "ONNX"


class StreamError(LLMError):
    category = "STREAM"


_CLASS_BY_CATEGORY: dict[str, type[LLMError]] = {
    cls.category: cls
    for cls in (
        CoreError,
        ModelError,
        InferenceError,
        NetworkError,
        DeadlineError,
        ResourceError,
        AuthError,
        RateLimitError,
        ConfigError,
        ValidationError,
        UpstreamAPIError,
        CircuitOpenError,
        RetryError,
        WebGPUError,
        WasmError,
        GGUFError,
        ONNXError,
        StreamError,
    )
}
CATEGORIES: tuple[str, ...] = tuple(_CLASS_BY_CATEGORY)
