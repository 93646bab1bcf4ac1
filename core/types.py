"""The data that flows through the router: requests, deployments, stream events.

Plain slotted dataclasses: cheap to build on the hot path, easy to read,
and the same in CPython and Pyodide. The per-token ones (BackendChunk,
Delta) are not frozen: a frozen dataclass's __init__ costs several times
more, and one is built for every token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from .errors import LLMError

__all__ = [
    "Backend",
    "BackendChunk",
    "BackendRequest",
    "ChatRequest",
    "Completion",
    "Delta",
    "Deployment",
    "Done",
    "HEARTBEAT",
    "Message",
    "Restart",
    "StreamEvent",
    "Switch",
    "Usage",
    "error_dict",
]

Role = Literal["system", "user", "assistant", "tool", "developer"]
Endpoint = Literal["chat/completions", "responses", "completions"]
Status = Literal["complete", "incomplete", "cached"]


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


@dataclass(slots=True)
class ChatRequest:
    """What a caller asks the router for."""

    model: str  # an alias (or a deployment name)
    messages: Sequence[Message]
    params: dict[str, Any] = field(default_factory=dict)  # max_tokens, temperature, top_p, seed, stop, ...
    request_id: str = ""
    deadline: float | None = None  # seconds from the start of the request, overall
    prompt_tokens: int | None = None  # caller's estimate, for context-window filtering
    # "chat": messages through the model's chat template; "text": the one
    # user message is a raw prompt to continue (the completions API).
    kind: str = "chat"
    # Assistant text the caller already holds (an answer another engine began):
    # every attempt continues after it, and a deployment that cannot continue
    # a prefix is not tried, so nothing the caller shows is repeated.
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One way to serve a model: a backend (provider), a model there, an endpoint.

    The numbers describe it to the ranking strategies. ``accepts_prefix``
    says whether it continues an assistant message it is given (``None``:
    unknown, it is tried and the answer learned).
    """

    name: str
    provider: str
    model: str
    endpoint: str = "chat/completions"
    context_window: int = 8192
    quality: float = 0.5  # 0..1, higher is better
    cost_per_1k_tokens: float = 0.0
    expected_tokens_per_s: float = 50.0
    expected_ttft_s: float = 0.5
    max_concurrency: int = 16
    weight: float = 1.0
    accepts_prefix: bool | None = None
    tags: tuple[str, ...] = ()
    # (provider, model, endpoint): what breakers and hints are kept per.
    # Built once: it is looked up several times per request.
    key: tuple[str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.provider, self.model, self.endpoint))


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class BackendRequest:
    """What the router hands a backend for one attempt."""

    deployment: Deployment
    messages: Sequence[Message]
    params: Mapping[str, Any]
    endpoint: str
    # Text the assistant has already said: continue after it, do not repeat it.
    prefix: str = ""
    request_id: str = ""
    kind: str = "chat"  # as ChatRequest.kind


@dataclass(slots=True)
class BackendChunk:
    """One piece of a backend's answer. The last may carry finish_reason and usage."""

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


#: Yielded by a backend that has nothing to say yet but is alive and moving: a
#: local model that serves one request at a time, while this one waits its turn
#: behind others that are producing tokens. It is not a token (nothing reaches
#: the caller, no first token is counted); it starts the router's wait for the
#: next chunk (first-token or stall timeout) again. The object itself is the
#: signal: the router tests ``chunk is HEARTBEAT``.
HEARTBEAT: Final = BackendChunk("")


class Backend(Protocol):
    """Anything that can stream an answer: llama.cpp, an upstream API, ORT-web.

    Raise any exception on failure; the router classifies it. Raising an
    :class:`LLMError` (e.g. from ``core.classify.classify_http``) states the
    code exactly.
    """

    def stream(self, request: BackendRequest) -> AsyncIterator[BackendChunk]: ...


# --- what the router streams back --------------------------------------------
#
# Each event's ``to_dict()`` is its one JSON shape: the page's runtime hands it to
# JavaScript as it is, and the edge server's ``x_llm`` field is made from it.


def error_dict(err: LLMError | None) -> dict[str, Any] | None:
    """An error as events carry it: its code, message, type and the catalogue's sentence for the code."""
    if err is None:
        return None
    return {"code": err.code, "message": err.message, "type": err.type, "summary": err.spec.message}


@dataclass(slots=True)
class Delta:
    """New text for the caller to append."""

    text: str
    deployment: str
    type: Literal["delta"] = "delta"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text, "deployment": self.deployment}


@dataclass(slots=True)
class Switch:
    """The answer moved to another deployment and continues where it was."""

    from_deployment: str
    to_deployment: str
    error: LLMError
    type: Literal["switch"] = "switch"

    def to_dict(self) -> dict[str, Any]:
        """From where, to where, and why (``reason``: the code)."""
        return _moved(self)


@dataclass(slots=True)
class Restart:
    """Discard the text received so far: the answer starts again from nothing.

    Sent when the deployment that takes over cannot continue an assistant
    prefix. ``discarded`` is the text being thrown away.
    """

    from_deployment: str
    to_deployment: str
    discarded: str
    error: LLMError
    type: Literal["restart"] = "restart"

    def to_dict(self) -> dict[str, Any]:
        return {**_moved(self), "discarded": self.discarded}


def _moved(event: Switch | Restart) -> dict[str, Any]:
    """What a switch and a restart both say: the answer moved, from where, to where, and why."""
    return {
        "type": event.type,
        "from": event.from_deployment,
        "to": event.to_deployment,
        "reason": event.error.code,
        "message": event.error.message,
    }


@dataclass(slots=True)
class Done:
    """The last event of every stream."""

    status: Status
    deployment: str
    finish_reason: str | None
    usage: Usage | None = None
    attempts: int = 1
    error: LLMError | None = None  # why the answer is incomplete, or what the cache covered for
    type: Literal["done"] = "done"

    @property
    def complete(self) -> bool:
        return self.status != "incomplete"

    def to_dict(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "type": self.type,
            "status": self.status,
            "complete": self.complete,
            "finish_reason": self.finish_reason,
            "deployment": self.deployment,
            "attempts": self.attempts,
            "usage": None
            if usage is None
            else {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens},
            "error": error_dict(self.error),
        }


StreamEvent = Delta | Switch | Restart | Done


@dataclass(slots=True)
class Completion:
    """The one-shot answer: the whole text and how it ended."""

    text: str
    status: Status
    deployment: str
    finish_reason: str | None
    usage: Usage | None
    attempts: int
    error: LLMError | None = None
    events: list[StreamEvent] = field(default_factory=list)  # switches and restarts, for the curious

    @property
    def complete(self) -> bool:
        return self.status != "incomplete"
