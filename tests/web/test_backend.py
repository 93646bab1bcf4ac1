"""The JS boundary: conversions (llm_web.bridge) and the engine backend (llm_web.backend)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import ErrorSpec, LLMError, ONNXError, WebGPUError
from llm_runner_router.core.testing import VirtualTimeLoop, run_virtual
from llm_runner_router.core.types import BackendChunk, BackendRequest, Deployment, Message, Usage
from llm_runner_router.web.backend import BrowserEngineBackend
from llm_runner_router.web.bridge import chunk_from_js, error_from_js, to_js, to_js_options
from tests.web.fakes import AbortLog, FakeEngine, FakeJsError, FakeProxy

ANSWER = "The quick brown fox jumps over the lazy dog."
DEP = Deployment("local-webgpu", "webgpu", "SmolLM2-135M-Instruct")


def breq(prefix: str = "", kind: str = "chat", **params: Any) -> BackendRequest:
    return BackendRequest(DEP, [Message("system", "Be brief."), Message("user", "Fox?")], params, "chat/completions", prefix, "r1", kind)


async def drain(backend: BrowserEngineBackend, request: BackendRequest) -> list[BackendChunk]:
    return [chunk async for chunk in backend.stream(request)]


# --- options, chunks, errors ----------------------------------------------------------------


def test_options_carry_the_request() -> None:
    signal = object()
    options = to_js_options(breq("The quick", "text", max_tokens=32, temperature=0, top_p=0.9, seed=7, stop="\n"), signal)
    assert options == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Fox?"}],
        "prefix": "The quick",
        "kind": "text",
        "maxTokens": 32,
        "temperature": 0.0,
        "topP": 0.9,
        "seed": 7,
        "stop": ["\n"],
        "signal": signal,
        "requestId": "r1",  # runtime.js joins the page's Stop and prefill progress to the stream by it
    }


def test_options_leave_out_what_is_not_set_or_not_valid() -> None:
    options = to_js_options(breq(max_tokens=True, temperature="hot", seed=1.5, stop=[1, "x"]))
    assert set(options) == {"messages", "prefix", "kind", "stop", "requestId"} and options["stop"] == ["x"]
    assert to_js_options(breq(max_completion_tokens=9))["maxTokens"] == 9
    assert to_js(options) is options  # outside the browser: unchanged


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"text": "Hi", "tokenId": 3}, BackendChunk("Hi")),
        (FakeProxy({"text": " there", "tokenId": 4}), BackendChunk(" there")),
        (
            {"text": "", "finishReason": "length", "usage": {"promptTokens": 9, "completionTokens": 2}, "timings": {}},
            BackendChunk("", "length", Usage(9, 2)),
        ),
        (
            {"text": "", "finishReason": "stop", "usage": {"promptTokens": -1, "completionTokens": "x"}},
            BackendChunk("", "stop", Usage(0, 0)),
        ),
        ({"finishReason": "stop"}, BackendChunk("", "stop")),
    ],
)
def test_chunk_from_js(obj: Any, expected: BackendChunk) -> None:
    assert chunk_from_js(obj) == expected


def test_chunk_from_an_object_with_attributes() -> None:
    class Chunk:
        text = "Hi"
        finishReason = None  # noqa: N815 - the JS field's name

    assert chunk_from_js(Chunk()) == BackendChunk("Hi")


@pytest.mark.parametrize("obj", [{"text": 5}, {"text": "x", "finishReason": "done"}, {"text": "", "finishReason": 1}])
def test_a_malformed_chunk_is_a_coded_error(obj: Any) -> None:
    with pytest.raises(LLMError) as info:
        chunk_from_js(obj)
    assert info.value.spec is catalogue.STREAM_MALFORMED


def test_a_coded_js_error_is_that_exact_error() -> None:
    exc = FakeJsError("LLM_WEBGPU_003_E", "GPU device was lost", {"ep": "webgpu", "reason": "destroyed", "retry_after": "soon"})
    err = error_from_js(exc)
    assert isinstance(err, WebGPUError) and err.spec is catalogue.WEBGPU_DEVICE_LOST
    assert err.message == "GPU device was lost"  # the code is not said twice
    assert err.context == {"ep": "webgpu", "reason": "destroyed", "js_name": "EngineError"}
    assert err.__cause__ is exc and err.retry_after is None


def test_a_js_error_context_given_as_a_proxy() -> None:
    exc = FakeJsError("LLM_ONNX_003_E", "run failed")
    exc.context = FakeProxy({"stage": "run", "tensor": {"name": "logits"}})  # type: ignore[assignment]
    err = error_from_js(exc)
    assert isinstance(err, ONNXError) and err.context["stage"] == "run" and err.context["tensor"] == {"name": "logits"}


@pytest.mark.parametrize(
    ("stage", "ep", "message", "spec"),
    [
        ("run", "webgpu", "failed to allocate a buffer: out of memory", catalogue.WEBGPU_OUT_OF_MEMORY),
        ("run", "wasm", "RangeError: Array buffer allocation failed", catalogue.WASM_OUT_OF_MEMORY),
        ("run", "webgpu", "Device was lost: the GPU device was lost (reason: destroyed)", catalogue.WEBGPU_DEVICE_LOST),
        ("session", "wasm", "Can't create a session. ERROR_CODE: 1", catalogue.ONNX_SESSION_FAILED),
        ("run", "wasm", "Emscripten abort 12345", catalogue.ONNX_RUN_FAILED),
        ("session", "wasm", "", catalogue.ONNX_SESSION_FAILED),
    ],
)
def test_an_engine_failure_is_named_by_the_core(stage: str, ep: str, message: str, spec: ErrorSpec) -> None:
    exc = FakeJsError(None, message, {"pastLength": 7}, stage=stage, ep=ep)
    err = error_from_js(exc)
    assert err.spec is spec, err.code
    assert err.message == (message or spec.message)
    assert err.context == {"stage": stage, "ep": ep, "pastLength": 7, "js_name": "EngineError"}
    assert err.__cause__ is exc


def test_an_engine_failure_handed_over_as_a_value() -> None:
    """runtime.js hands a load failure to Python as a value, not a raised exception."""

    class JsValue:  # a JsProxy of an EngineError object
        code = None
        stage, ep, name = "session", "webgpu", "EngineError"
        message = "Failed to get GPU adapter."
        context: dict[str, Any] = {}

    class Other:  # a JS value that is no engine failure
        message = "odd"

    err = error_from_js(JsValue())
    assert err.spec is catalogue.WEBGPU_UNAVAILABLE and err.__cause__ is None
    other = error_from_js(Other())
    assert other.spec is catalogue.CORE_INTERNAL and other.message == "odd"


def test_an_explicit_code_wins_over_the_text() -> None:
    """A failure the engine coded itself (a checksum mismatch) keeps its code, whatever its text says."""
    err = error_from_js(FakeJsError("LLM_ONNX_004_E", "wasm/model.onnx failed its sha256 check: out of memory", stage="fetch"))
    assert err.spec is catalogue.ONNX_INVALID_MODEL and err.context["stage"] == "fetch"


def test_an_uncoded_js_error_without_a_stage_is_classified() -> None:
    err = error_from_js(FakeJsError(None, "RangeError: WebAssembly.Memory(): could not allocate memory", name="RangeError"))
    assert err.spec is catalogue.WASM_OUT_OF_MEMORY
    unknown = error_from_js(FakeJsError("E_WEIRD", "something odd"))
    assert unknown.spec is catalogue.CORE_INTERNAL and unknown.context["js_code"] == "E_WEIRD"
    assert error_from_js(ConnectionResetError("reset")).spec is catalogue.NET_CONNECTION_RESET


def test_an_llm_error_passes_through() -> None:
    err = catalogue.ONNX_RUN_FAILED.error()
    assert error_from_js(err) is err


# --- the backend ------------------------------------------------------------------------------


def test_streams_the_engines_answer() -> None:
    engine, aborts = FakeEngine("webgpu", answer=ANSWER), AbortLog()
    backend = BrowserEngineBackend(engine, abort_factory=aborts)

    chunks = run_virtual(lambda loop: drain(backend, breq(max_tokens=64, temperature=0.7)))
    assert "".join(c.text for c in chunks) == ANSWER
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage == Usage(5, 9)
    assert all(c.finish_reason is None for c in chunks[:-1])
    (call,) = engine.calls
    assert call["maxTokens"] == 64 and call["temperature"] == 0.7 and call["signal"] is aborts.made[0].signal
    assert aborts.aborted == 0 and engine.closed == 0  # it finished: nothing to stop
    assert backend.info == {"ep": "webgpu", "threads": 1, "loadMs": 12.5, "build_id": "test"}


def test_continues_after_a_prefix() -> None:
    engine = FakeEngine("wasm", answer=ANSWER)
    chunks = run_virtual(lambda loop: drain(BrowserEngineBackend(engine), breq(prefix="The quick brown")))
    assert "".join(c.text for c in chunks) == " fox jumps over the lazy dog."
    assert engine.calls[0]["prefix"] == "The quick brown" and "signal" not in engine.calls[0]


def test_a_js_failure_mid_stream_raises_its_code() -> None:
    engine, aborts = FakeEngine("webgpu", answer=ANSWER, fail_after=3), AbortLog()
    got: list[str] = []

    async def main(loop: VirtualTimeLoop) -> None:
        async for chunk in BrowserEngineBackend(engine, abort_factory=aborts).stream(breq()):
            got.append(chunk.text)

    with pytest.raises(WebGPUError) as info:
        run_virtual(main)
    assert info.value.spec is catalogue.WEBGPU_DEVICE_LOST
    assert got == ["The", " quick", " brown"]


def test_an_abort_on_the_js_side_is_a_cancellation() -> None:
    class SelfAborting(FakeEngine):
        def stream(self, options: dict[str, Any]) -> Any:
            options["signal"].aborted = True  # the widget's stop button
            return super().stream(options)

    engine = SelfAborting("wasm")
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: drain(BrowserEngineBackend(engine, abort_factory=AbortLog()), breq()))
    assert info.value.spec is catalogue.CORE_CANCELLED


def test_a_stream_without_its_final_chunk_was_cut() -> None:
    engine = FakeEngine("wasm", finish=None)
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: drain(BrowserEngineBackend(engine), breq()))
    assert info.value.spec is catalogue.STREAM_NO_DONE


def test_a_malformed_chunk_aborts_the_engine() -> None:
    class Garbled(FakeEngine):
        async def _play(self, options: dict[str, Any]) -> Any:
            yield {"text": "ok"}
            yield {"text": 42}
            yield {"text": "", "finishReason": "stop"}

    aborts = AbortLog()
    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: drain(BrowserEngineBackend(Garbled("wasm"), abort_factory=aborts), breq()))
    assert info.value.spec is catalogue.STREAM_MALFORMED and aborts.aborted == 1


def test_closing_early_aborts_and_closes_the_js_side() -> None:
    engine, aborts = FakeEngine("webgpu", answer=ANSWER), AbortLog()

    async def main(loop: VirtualTimeLoop) -> list[str]:
        gen = BrowserEngineBackend(engine, abort_factory=aborts).stream(breq())
        got = [(await gen.__anext__()).text, (await gen.__anext__()).text]
        await gen.aclose()  # type: ignore[attr-defined]  # the router closes it this way
        return got

    assert run_virtual(main) == ["The", " quick"]
    assert aborts.aborted == 1 and engine.closed == 1


def test_cancelling_the_task_aborts_the_js_side() -> None:
    engine, aborts = FakeEngine("webgpu", answer=ANSWER, stall_after=2), AbortLog()
    got: list[str] = []

    async def main(loop: VirtualTimeLoop) -> None:
        async def read() -> None:
            async for chunk in BrowserEngineBackend(engine, abort_factory=aborts).stream(breq()):
                got.append(chunk.text)

        task = asyncio.ensure_future(read())
        await asyncio.sleep(10)  # the engine hangs after two pieces
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_virtual(main)
    assert got == ["The", " quick"] and aborts.aborted == 1 and engine.closed == 1


def test_a_broken_engine_object_is_classified() -> None:
    class NoStream:
        info = None

        def stream(self, options: Any) -> Any:
            raise TypeError("engine.stream is not a function")

    with pytest.raises(LLMError) as info:
        run_virtual(lambda loop: drain(BrowserEngineBackend(NoStream()), breq()))
    assert info.value.spec is catalogue.CORE_INTERNAL
    assert BrowserEngineBackend(NoStream()).info == {}
