"""The page router JavaScript calls: the real core router over fake JS engines."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import ConfigError, LLMError
from llm_runner_router.core.store import MemoryStore
from llm_runner_router.core.testing import VirtualTimeLoop, run_virtual
from llm_runner_router.web.page_router import MODEL, PageRouter, plan_from_probe
from tests.web.fakes import AbortLog, FakeEngine, FakeProxy

ANSWER = "The quick brown fox jumps over the lazy dog."
MESSAGES = [{"role": "user", "content": "Tell me about the fox."}]
FAST = {"retry": {"max_attempts": 2, "initial_delay": 1.0, "max_delay": 10.0, "jitter": False, "deadline": 600}}

PROBE: dict[str, Any] = {
    "webgpu": {
        "available": True,
        "adapter": {"vendor": "apple", "architecture": "metal-3", "description": "", "isFallbackAdapter": False},
        "features": ["shader-f16"],
        "shaderF16": True,
        "limits": {
            "maxBufferSize": 4 * 2**30,
            "maxStorageBufferBindingSize": 2**30,
            "maxComputeWorkgroupStorageSize": 32768,
            "maxComputeInvocationsPerWorkgroup": 1024,
        },
        "error": None,
    },
    "wasm": {"available": True, "simd": True, "threads": True, "maxThreads": 8},
    "crossOriginIsolated": True,
    "hardwareConcurrency": 8,
    "deviceMemoryGb": 8,
    "userAgent": "test",
    "storage": {"quota": 2**34, "usage": 0, "persisted": False},
}
NO_ADAPTER = {**PROBE, "webgpu": {**PROBE["webgpu"], "adapter": None, "error": {"code": "LLM_WEBGPU_001_E", "message": "no adapter"}}}
NOTHING = {**NO_ADAPTER, "wasm": {"available": False}}


def make(
    loop: VirtualTimeLoop,
    webgpu: FakeEngine | None = None,
    wasm: FakeEngine | None = None,
    probe: dict[str, Any] = PROBE,
    **kw: Any,
) -> PageRouter:
    engines = {name: e for name, e in (("webgpu", webgpu), ("wasm", wasm)) if e is not None}
    kw.setdefault("settings_overrides", FAST)
    return PageRouter.create(copy.deepcopy(probe), engines, clock=loop.clock, **kw)


async def collect(page_router: PageRouter, messages: Any = MESSAGES, options: Any = None) -> list[dict[str, Any]]:
    return [ev async for ev in page_router.chat(messages, options)]


def text_of(events: list[dict[str, Any]]) -> str:
    out = ""
    for ev in events:
        if ev["type"] == "delta":
            out += ev["text"]
        elif ev["type"] == "restart":
            out = ""
    return out


def test_streams_from_webgpu_first() -> None:
    webgpu, wasm = FakeEngine("webgpu", ANSWER), FakeEngine("wasm", ANSWER)

    def main(loop: VirtualTimeLoop) -> Any:
        return collect(make(loop, webgpu, wasm), options={"maxTokens": 50, "temperature": 0.2, "topP": 0.9, "seed": 1})

    events = run_virtual(main)
    assert text_of(events) == ANSWER
    assert {ev["deployment"] for ev in events if ev["type"] == "delta"} == {"local-webgpu"}
    done = events[-1]
    assert done == {
        "type": "done",
        "status": "complete",
        "complete": True,
        "finish_reason": "stop",
        "deployment": "local-webgpu",
        "attempts": 1,
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
        "error": None,
    }
    assert json.loads(json.dumps(events)) == events
    call = webgpu.calls[0]
    assert (call["maxTokens"], call["temperature"], call["topP"], call["seed"]) == (50, 0.2, 0.9, 1)
    assert call["messages"] == MESSAGES and wasm.calls == []


def test_a_mid_answer_gpu_failure_continues_on_wasm_without_repeating() -> None:
    webgpu = FakeEngine("webgpu", ANSWER, fail_after=3)  # "Device was lost": the core names it
    wasm = FakeEngine("wasm", ANSWER)
    events = run_virtual(lambda loop: collect(make(loop, webgpu, wasm)))

    kinds = [ev["type"] for ev in events]
    assert kinds == ["delta"] * 3 + ["switch"] + ["delta"] * 6 + ["done"]
    switch = events[3]
    assert switch["from"] == "local-webgpu" and switch["to"] == "local-wasm" and switch["reason"] == "LLM_WEBGPU_003_E"
    assert wasm.calls[0]["prefix"] == "The quick brown"  # the text the user already saw
    assert text_of(events) == ANSWER  # nothing repeated, nothing lost
    assert events[-1]["complete"] is True and events[-1]["deployment"] == "local-wasm"


def test_a_stalled_gpu_is_aborted_and_wasm_takes_over() -> None:
    webgpu = FakeEngine("webgpu", ANSWER, stall_after=2)
    wasm, aborts = FakeEngine("wasm", ANSWER), AbortLog()

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], float]:
        page_router = make(
            loop, webgpu, wasm, abort_factory=aborts, settings_overrides={**FAST, "stream": {"first_token_timeout": 5, "stall_timeout": 5}}
        )
        t0 = loop.time()
        events = await collect(page_router)
        return events, loop.time() - t0

    events, took = run_virtual(main)
    assert text_of(events) == ANSWER and events[-1]["complete"] is True
    assert [ev["reason"] for ev in events if ev["type"] == "switch"] == [catalogue.STREAM_STALL.code]
    assert aborts.made[0].signal.aborted and not aborts.made[1].signal.aborted  # the GPU stopped; WASM finished
    assert webgpu.closed == 1 and 5 <= took < 6


def test_the_caller_going_away_aborts_the_engine() -> None:
    webgpu, aborts = FakeEngine("webgpu", ANSWER, delay=0.1), AbortLog()

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        gen = make(loop, webgpu, abort_factory=aborts).chat(MESSAGES)
        got = [await gen.__anext__(), await gen.__anext__()]
        await gen.aclose()  # type: ignore[attr-defined]  # JS: iterator.return()
        return got

    got = run_virtual(main)
    assert [ev["text"] for ev in got] == ["The", " quick"]
    assert aborts.aborted == 1 and webgpu.closed == 1


def test_a_stop_on_the_js_side_ends_the_answer_as_cancelled() -> None:
    class Stopped(FakeEngine):
        def stream(self, options: dict[str, Any]) -> Any:
            options["signal"].aborted = True
            return super().stream(options)

    webgpu, wasm = Stopped("webgpu", ANSWER), FakeEngine("wasm", ANSWER)
    events = run_virtual(lambda loop: collect(make(loop, webgpu, wasm, abort_factory=AbortLog())))
    (done,) = events
    assert done["type"] == "done" and done["complete"] is False
    assert done["error"]["code"] == catalogue.CORE_CANCELLED.code
    assert wasm.calls == []  # a cancellation is not failed over


def test_when_every_engine_fails_the_done_event_carries_the_code() -> None:
    # As the real engine reports them: no code, only the text (the core names them by execution provider and stage).
    webgpu = FakeEngine("webgpu", fail_after=0, error_message="failed to allocate a buffer: out of memory")
    wasm = FakeEngine("wasm", fail_after=0, error_message="failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: Non-zero status code")

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        return await collect(make(loop, webgpu, wasm))

    (done,) = run_virtual(main)
    assert done["type"] == "done" and done["complete"] is False and done["status"] == "incomplete"
    assert done["error"]["code"] == catalogue.RETRY_ALL_FAILED.code and done["error"]["type"] == "retry"
    assert len(webgpu.calls) == 1 and len(wasm.calls) == 2  # device OOM falls back at once; a failed run is retried


def test_a_failure_after_text_ends_incomplete() -> None:
    webgpu = FakeEngine("webgpu", ANSWER, fail_after=2)
    wasm = FakeEngine("wasm", ANSWER, fail_after=0, error_code="LLM_WASM_003_E", error_message="memory")
    events = run_virtual(lambda loop: collect(make(loop, webgpu, wasm)))
    done = events[-1]
    assert text_of(events) == "The quick" and done["complete"] is False and done["status"] == "incomplete"
    assert done["error"]["code"] == catalogue.RETRY_ALL_FAILED.code


def test_no_adapter_means_wasm_only() -> None:
    webgpu, wasm = FakeEngine("webgpu", ANSWER), FakeEngine("wasm", ANSWER)

    async def main(loop: VirtualTimeLoop) -> tuple[PageRouter, list[dict[str, Any]], list[dict[str, Any]]]:
        page_router = make(loop, webgpu, wasm, probe=NO_ADAPTER)
        return page_router, await collect(page_router), await collect(page_router, options={"model": "local-webgpu"})

    page_router, events, by_name = run_virtual(main)
    assert page_router.plan.engines == ("wasm",) and page_router.plan.threads == 4
    assert page_router.plan.excluded["webgpu"].spec is catalogue.WEBGPU_UNAVAILABLE
    assert page_router.router.settings.aliases["default"].deployments == ("local-wasm",)
    assert page_router.router.settings.aliases[MODEL].deployments == ("local-wasm",)
    assert text_of(events) == ANSWER and events[-1]["deployment"] == "local-wasm"
    # Asked for by name, the ruled-out engine is still not tried.
    assert by_name[-1]["error"]["code"] == catalogue.RETRY_NO_CANDIDATE.code and webgpu.calls == []


def test_plan_from_probe_orders_the_engines() -> None:
    assert plan_from_probe(PROBE).engines == ("webgpu", "wasm")
    assert plan_from_probe(FakeProxy(NO_ADAPTER)).engines == ("wasm",)
    assert plan_from_probe(NOTHING).to_dict()["can_host"] is False


def test_a_device_that_can_host_nothing_says_why() -> None:
    (done,) = run_virtual(lambda loop: collect(make(loop, FakeEngine("webgpu"), FakeEngine("wasm"), probe=NOTHING)))
    assert done["error"]["code"] == catalogue.MODEL_NO_LOCAL_ENGINE.code and "wasm" in done["error"]["message"]


def test_an_engine_added_later_serves() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        page_router = make(loop)
        before = await collect(page_router)
        page_router.add_engine("wasm", FakeEngine("wasm", ANSWER))
        return before, await collect(page_router)

    before, after = run_virtual(main)
    assert before[-1]["error"]["code"] == catalogue.MODEL_NOT_LOADED.code
    assert text_of(after) == ANSWER and after[-1]["deployment"] == "local-wasm"


def test_learned_state_survives_adding_an_engine() -> None:
    store = MemoryStore()
    webgpu = FakeEngine("webgpu", fail_after=0, error_code="LLM_WEBGPU_003_E")

    async def main(loop: VirtualTimeLoop) -> PageRouter:
        page_router = make(
            loop, webgpu, FakeEngine("wasm", ANSWER), store=store, settings_overrides={**FAST, "breaker": {"failure_threshold": 1}}
        )
        await collect(page_router)
        page_router.add_engine("wasm", FakeEngine("wasm", ANSWER))
        await collect(page_router)
        return page_router

    page_router = run_virtual(main)
    assert len(webgpu.calls) == 1  # the breaker opened, and stayed open across the rebuild
    assert page_router.router.breakers.get(("webgpu", MODEL, "chat/completions")).state.value == "open"
    assert page_router.router.metrics.full_summary()["errors"]["total_errors"] >= 1


def test_speeds_and_settings_can_be_overridden() -> None:
    async def main(loop: VirtualTimeLoop) -> PageRouter:
        overrides = {"deployments": {"local-wasm": {"expected_tokens_per_s": 30}}, "stream": {"first_token_timeout": 3}}
        return make(loop, FakeEngine("webgpu"), FakeEngine("wasm"), settings_overrides=overrides)

    settings = run_virtual(main).router.settings
    assert settings.deployments["local-wasm"].expected_tokens_per_s == 30
    assert settings.deployments["local-webgpu"].expected_tokens_per_s == 15
    assert settings.stream.first_token_timeout == 3


def test_a_bad_override_is_a_coded_config_error() -> None:
    async def main(loop: VirtualTimeLoop) -> PageRouter:
        return make(loop, FakeEngine("wasm"), settings_overrides={"retry": {"max_attempts": 0}})

    with pytest.raises(ConfigError):
        run_virtual(main)


@pytest.mark.parametrize(
    ("messages", "options", "code"),
    [
        ("hello", None, catalogue.VAL_WRONG_TYPE),
        ([], None, catalogue.VAL_EMPTY),
        ([{"role": "user"}], None, catalogue.VAL_WRONG_TYPE),
        (MESSAGES, {"maxTokens": "many"}, catalogue.VAL_WRONG_TYPE),
        (MESSAGES, {"maxTokens": 0}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"stop": [1]}, catalogue.VAL_WRONG_TYPE),
        # The edge server's ranges (core/params.py), which the page did not check before.
        (MESSAGES, {"maxTokens": 40_000}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"temperature": 3}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"topP": 0}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"seed": 1.5}, catalogue.VAL_WRONG_TYPE),
        (MESSAGES, {"stop": ["a", "b", "c", "d", "e"]}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"stop": ""}, catalogue.VAL_WRONG_TYPE),
        # Penalties are checked like the server's, and refused: the page's engines do not apply them.
        (MESSAGES, {"presencePenalty": 0.5}, catalogue.VAL_UNSUPPORTED),
        (MESSAGES, {"frequency_penalty": 9}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"kind": "image"}, catalogue.VAL_UNSUPPORTED),
        (MESSAGES, {"deadline": -1}, catalogue.VAL_OUT_OF_RANGE),
        (MESSAGES, {"model": "gpt-9"}, catalogue.MODEL_NOT_FOUND),
        (MESSAGES, [], catalogue.VAL_WRONG_TYPE),
    ],
)
def test_bad_input_ends_in_a_coded_done_event(messages: Any, options: Any, code: Any) -> None:
    (done,) = run_virtual(lambda loop: collect(make(loop, FakeEngine("wasm")), messages, options))
    assert done["type"] == "done" and done["complete"] is False and done["error"]["code"] == code.code


def test_input_from_js_proxies() -> None:
    wasm = FakeEngine("wasm", ANSWER)
    events = run_virtual(
        lambda loop: collect(make(loop, wasm=wasm), FakeProxy(MESSAGES), FakeProxy({"max_tokens": 8, "stop": "\n", "requestId": "r9"}))
    )
    assert text_of(events) == ANSWER and wasm.calls[0]["maxTokens"] == 8 and wasm.calls[0]["stop"] == ["\n"]


def test_engines_given_as_a_proxy_and_unknown_engines() -> None:
    async def main(loop: VirtualTimeLoop) -> PageRouter:
        return PageRouter.create(FakeProxy(PROBE), FakeProxy({"wasm": FakeEngine("wasm")}), clock=loop.clock)

    assert run_virtual(main).router.settings.aliases["default"].deployments == ("local-wasm",)

    async def unknown(loop: VirtualTimeLoop) -> None:
        make(loop).add_engine("cuda", FakeEngine("cuda"))

    with pytest.raises(LLMError) as info:
        run_virtual(unknown)
    assert info.value.spec is catalogue.VAL_UNSUPPORTED


def test_status_is_json_ready() -> None:
    async def main(loop: VirtualTimeLoop) -> dict[str, Any]:
        page_router = make(loop, FakeEngine("webgpu", ANSWER), FakeEngine("wasm", ANSWER), probe={**PROBE, "crossOriginIsolated": False})
        await collect(page_router)
        return page_router.status()

    status = run_virtual(main)
    assert json.loads(json.dumps(status)) == status
    assert status["models"] == ["default", MODEL]
    assert status["plan"]["engines"] == ["webgpu", "wasm"] and status["plan"]["threads"] == 1
    assert [w["code"] for w in status["plan"]["warnings"]] == [catalogue.WASM_NO_THREADS.code]
    assert status["engines"]["webgpu"]["ep"] == "webgpu"
    assert set(status["router"]["deployments"]) == {"local-webgpu", "local-wasm"}
    assert status["capabilities"]["crossOriginIsolated"] is False


def test_a_device_that_can_host_nothing_is_served_by_the_edge() -> None:
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, probe=NOTHING)
        page_router.add_remote("edge", edge)
        return await collect(page_router)

    events = run_virtual(main)
    assert text_of(events) == ANSWER and events[-1]["deployment"] == "edge" and events[-1]["complete"] is True


def test_a_local_failure_mid_answer_is_finished_by_the_edge_without_repeating() -> None:
    wasm = FakeEngine("wasm", ANSWER, fail_after=3, error_code="LLM_WASM_003_E")
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        page_router.add_remote("edge", edge)
        return await collect(page_router)

    events = run_virtual(main)
    kinds = [ev["type"] for ev in events]
    assert "restart" not in kinds and kinds.count("switch") == 1
    assert edge.calls[0]["prefix"] == "The quick brown"  # the text the user already saw
    assert "".join(ev["text"] for ev in events if ev["type"] == "delta") == ANSWER
    assert events[-1]["deployment"] == "edge" and events[-1]["complete"] is True


def test_an_edge_that_cannot_continue_restarts_the_answer_cleanly() -> None:
    wasm = FakeEngine("wasm", ANSWER, fail_after=3, error_code="LLM_WASM_003_E")
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        page_router.add_remote("edge", edge, accepts_prefix=False)
        return await collect(page_router)

    events = run_virtual(main)
    kinds = [ev["type"] for ev in events]
    assert "restart" in kinds and edge.calls[0]["prefix"] == ""
    assert text_of(events) == ANSWER and events[-1]["deployment"] == "edge" and events[-1]["complete"] is True


def test_a_remote_cannot_take_a_local_engines_name() -> None:
    page_router = run_virtual(lambda loop: _async(make(loop)))
    for bad in ("wasm", "local-wasm", ""):
        try:
            page_router.add_remote(bad, FakeEngine("edge", ANSWER))
        except LLMError as err:
            assert err.spec is catalogue.VAL_UNSUPPORTED
        else:
            raise AssertionError(f"{bad!r} was accepted")


async def _async(value: Any) -> Any:
    return value


# --- long prompts: the context window, before any work ----------------------------------------


def test_a_prompt_longer_than_the_local_context_is_refused_before_any_work() -> None:
    wasm = FakeEngine("wasm", ANSWER, context_length=8192)

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], float]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        started = loop.time()
        events = await collect(page_router, options={"promptTokens": 9722})
        return events, loop.time() - started

    events, took = run_virtual(main)
    [done] = events
    assert done["type"] == "done" and done["complete"] is False and took == 0, events
    assert done["error"]["code"] == "LLM_RUNTIME_003_E", done
    assert "9722 tokens" in done["error"]["message"] and "8192" in done["error"]["message"], done
    assert wasm.calls == []  # the engine never ran


def test_the_engines_context_length_is_the_local_deployments_window() -> None:
    wasm = FakeEngine("wasm", ANSWER, context_length=1024)

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        fits = await collect(page_router, options={"promptTokens": 1023})
        refused = await collect(page_router, options={"prompt_tokens": 1024})
        return fits, refused, page_router.settings_document()

    fits, refused, document = run_virtual(main)
    assert document["deployments"]["local-wasm"]["context_window"] == 1024
    assert text_of(fits) == ANSWER and fits[-1]["complete"] is True
    assert refused[-1]["error"]["code"] == "LLM_RUNTIME_003_E" and len(wasm.calls) == 1


def test_a_prompt_too_long_here_goes_to_an_edge_with_a_larger_context() -> None:
    wasm = FakeEngine("wasm", ANSWER, context_length=2048)
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        page_router.add_remote("edge", edge, context_window=32768)
        return await collect(page_router, options={"promptTokens": 7000})

    events = run_virtual(main)
    assert text_of(events) == ANSWER and events[-1]["deployment"] == "edge" and events[-1]["complete"] is True
    assert wasm.calls == [] and len(edge.calls) == 1
    assert not [ev for ev in events if ev["type"] in ("switch", "restart")]  # nothing was begun here


def test_a_prompt_that_fits_no_deployment_is_refused_with_the_largest_window_named() -> None:
    wasm = FakeEngine("wasm", ANSWER, context_length=8192)
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        page_router.add_remote("edge", edge, context_window=2048)  # the edge server's llama.cpp default
        return await collect(page_router, options={"promptTokens": 9722})

    [done] = run_virtual(main)
    assert done["error"]["code"] == "LLM_RUNTIME_003_E", done  # not "no candidate": the prompt's own length
    assert "local-wasm's context window is 8192" in done["error"]["message"], done
    assert wasm.calls == [] and edge.calls == []


def test_an_edge_whose_window_is_unknown_is_asked_and_its_refusal_keeps_its_code() -> None:
    wasm = FakeEngine("wasm", ANSWER, context_length=2048)
    edge = FakeEngine("edge", ANSWER, fail_after=0, error_code="LLM_RUNTIME_003_E", error_message="prompt too long")

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        page_router = make(loop, wasm=wasm, probe=NO_ADAPTER)
        page_router.add_remote("edge", edge)
        return await collect(page_router, options={"promptTokens": 4000}), page_router.settings_document()

    events, document = run_virtual(main)
    assert document["deployments"]["edge"]["context_window"] == 8192  # assumed: the server decides
    assert events[-1]["error"]["code"] == "LLM_RUNTIME_003_E" and len(edge.calls) == 1 and wasm.calls == []


@pytest.mark.parametrize("count", [-1, 1.5, "9000", True])
def test_a_bad_prompt_count_is_a_coded_error(count: Any) -> None:
    wasm = FakeEngine("wasm", ANSWER)
    [done] = run_virtual(lambda loop: collect(make(loop, wasm=wasm, probe=NO_ADAPTER), options={"promptTokens": count}))
    assert done["error"]["code"] == "LLM_VAL_003_E" and wasm.calls == [], done
