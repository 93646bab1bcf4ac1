"""Stand-ins for what JavaScript hands Python: an engine, its errors, an AbortController.

Fakes live only at the JS boundary (web/lib/engine/engine.js's contract);
everything behind it — the backend, the page router, the core's router — is real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from llm_runner_router.core.testing import split_words


class FakeJsError(Exception):
    """A JS EngineError as Pyodide shows it: .code (or None), .stage, .ep, .message ("[code] text"), .context, .name."""

    def __init__(
        self,
        code: str | None,
        message: str,
        context: dict[str, Any] | None = None,
        name: str = "EngineError",
        stage: str | None = None,
        ep: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.stage = stage
        self.ep = ep
        self.message = f"[{code}] {message}" if code else message
        self.context = context or {}
        self.name = name


class FakeProxy:
    """A JsProxy: data reachable only through .to_py()."""

    def __init__(self, data: Any) -> None:
        self._data = data
        self.converted = 0

    def to_py(self, depth: int = -1) -> Any:
        self.converted += 1
        return self._data


@dataclass
class FakeSignal:
    aborted: bool = False


@dataclass
class FakeAbortController:
    signal: FakeSignal = field(default_factory=FakeSignal)

    def abort(self) -> None:
        self.signal.aborted = True


@dataclass
class AbortLog:
    """An abort_factory that remembers every controller it made."""

    made: list[FakeAbortController] = field(default_factory=list)

    def __call__(self) -> FakeAbortController:
        controller = FakeAbortController()
        self.made.append(controller)
        return controller

    @property
    def aborted(self) -> int:
        return sum(c.signal.aborted for c in self.made)


@dataclass
class FakeEngine:
    """A deterministic model behind engine.js's contract.

    Streams ``answer`` in word pieces, continuing after an assistant prefix;
    fails after ``fail_after`` pieces the way engine.js does: a run failure
    with ``error_message`` for the core to classify, or, given
    ``error_code``, a failure the engine coded itself; ``stall_after``
    hangs; ``finish`` is the final chunk's finishReason (None: no final chunk).
    Honours the AbortSignal like the real engine: an aborted stream ends
    with finishReason "abort".
    """

    ep: str
    answer: str = "The quick brown fox jumps over the lazy dog."
    fail_after: int | None = None
    error_code: str | None = None
    error_message: str = "Device was lost: the GPU device was lost (reason: destroyed)"
    stall_after: int | None = None
    delay: float = 0.0
    finish: str | None = "stop"
    calls: list[dict[str, Any]] = field(default_factory=list)
    closed: int = 0  # iterators closed before their end
    context_length: int | None = None  # info.contextLength, as the real engine says its model's

    @property
    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"ep": self.ep, "threads": 1, "loadMs": 12.5, "build_id": "test"}
        if self.context_length is not None:
            info["contextLength"] = self.context_length
        return info

    def stream(self, options: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(options)
        return self._play(options)

    async def _play(self, options: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        prefix = options.get("prefix", "")
        assert self.answer.startswith(prefix), (prefix, self.answer)
        signal = options.get("signal")
        pieces = split_words(self.answer[len(prefix) :])
        try:
            for i, piece in enumerate(pieces):
                if self.fail_after is not None and i == self.fail_after:
                    raise FakeJsError(self.error_code, self.error_message, stage="run", ep=self.ep)
                if self.stall_after is not None and i == self.stall_after:
                    while signal is None or not signal.aborted:
                        await asyncio.sleep(0.05)
                if self.delay:
                    await asyncio.sleep(self.delay)
                if signal is not None and signal.aborted:
                    yield {"text": "", "finishReason": "abort", "usage": {"promptTokens": 5, "completionTokens": i}}
                    return
                yield {"text": piece, "tokenId": 100 + i}
            if self.finish is not None:
                yield {
                    "text": "",
                    "finishReason": self.finish,
                    "usage": {"promptTokens": 5, "completionTokens": len(pieces)},
                    "timings": {"prefillMs": 3.0},
                }
        except (GeneratorExit, asyncio.CancelledError):
            self.closed += 1  # closed or cancelled by the reader before its end
            raise
