"""The page's engine choice and its stream limits: a software WebGPU adapter is
not used unless asked for, and a local engine that stalls is moved off to the
next deployment (the edge) by the page's own first-token and stall limits, as
the server's router does. Loading on first use says it is alive (heartbeats).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from llm_runner_router.core import catalogue
from llm_runner_router.core.testing import VirtualTimeLoop, run_virtual
from llm_runner_router.core.types import HEARTBEAT
from llm_runner_router.web.bridge import chunk_from_js
from llm_runner_router.web.page_router import BROWSER_STREAM, SOFTWARE_ADAPTER_STREAM, PageRouter, plan_from_probe
from tests.web.fakes import AbortLog, FakeEngine
from tests.web.test_page_router import ANSWER, MESSAGES, NO_ADAPTER, PROBE, text_of

SWIFTSHADER = {"vendor": "google", "architecture": "swiftshader", "description": "SwiftShader Device (Subzero)", "isFallbackAdapter": True}
SOFTWARE_GPU = {**PROBE, "webgpu": {**PROBE["webgpu"], "adapter": SWIFTSHADER}}


def make(loop: VirtualTimeLoop, probe: dict[str, Any], engines: dict[str, Any], **kw: Any) -> PageRouter:
    """No settings overrides: the page's own limits (page_router.BROWSER_STREAM), as createRuntime gets them."""
    return PageRouter.create(copy.deepcopy(probe), engines, clock=loop.clock, **kw)


async def collect(page_router: PageRouter) -> list[dict[str, Any]]:
    return [ev async for ev in page_router.chat(MESSAGES, {"maxTokens": 64})]


@dataclass
class LoadingEngine(FakeEngine):
    """An engine that loads on its first use: a heartbeat every ``beat`` seconds for ``loading`` seconds, then its answer."""

    loading: float = 0.0
    beat: float = 1.0

    async def _play(self, options: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        waited = 0.0
        while waited < self.loading:
            await asyncio.sleep(self.beat)
            waited += self.beat
            yield {"text": "", "heartbeat": True}
        async for chunk in super()._play(options):
            yield chunk


# --- a software WebGPU adapter ----------------------------------------------------------------


def test_the_plan_leaves_a_software_adapter_out_with_its_code() -> None:
    plan = plan_from_probe(copy.deepcopy(SOFTWARE_GPU))
    assert plan.engines == ("wasm",)
    assert plan.to_dict()["excluded"]["webgpu"]["code"] == catalogue.WEBGPU_SOFTWARE_ADAPTER.code == "LLM_WEBGPU_007_E"
    allowed = plan_from_probe(copy.deepcopy(SOFTWARE_GPU), allow_software_adapter=True)
    assert allowed.engines == ("wasm", "webgpu") and not allowed.excluded


def test_a_software_webgpu_engine_handed_in_is_not_used_and_wasm_answers() -> None:
    webgpu, wasm = FakeEngine("webgpu", ANSWER), FakeEngine("wasm", ANSWER)

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        page_router = make(loop, SOFTWARE_GPU, {"webgpu": webgpu, "wasm": wasm})
        return await collect(page_router), page_router.status()

    events, status = run_virtual(main)
    assert text_of(events) == ANSWER and events[-1]["deployment"] == "local-wasm"
    assert webgpu.calls == []
    assert status["plan"]["excluded"]["webgpu"]["code"] == "LLM_WEBGPU_007_E"


def test_allowed_explicitly_the_software_adapter_answers_with_long_limits() -> None:
    # Slower than any limit of the page's own: 70 s to the first token and between tokens.
    webgpu = LoadingEngine("webgpu", "The capital of France", delay=70.0)

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], PageRouter]:
        page_router = make(loop, SOFTWARE_GPU, {"webgpu": webgpu}, allow_software_adapter=True)
        return [ev async for ev in page_router.chat(MESSAGES, {"maxTokens": 8})], page_router

    events, page_router = run_virtual(main)
    assert page_router.plan.engines == ("wasm", "webgpu")
    stream = page_router.router.settings.stream
    assert (stream.first_token_timeout, stream.stall_timeout) == (
        SOFTWARE_ADAPTER_STREAM["first_token_timeout"],
        SOFTWARE_ADAPTER_STREAM["stall_timeout"],
    )
    assert events[-1]["complete"] is True and events[-1]["deployment"] == "local-webgpu"


# --- the page's limits ------------------------------------------------------------------------


def test_the_page_has_first_token_and_stall_limits_of_its_own() -> None:
    async def main(loop: VirtualTimeLoop) -> PageRouter:
        return make(loop, PROBE, {"wasm": FakeEngine("wasm")})

    stream = run_virtual(main).router.settings.stream
    assert stream.first_token_timeout == BROWSER_STREAM["first_token_timeout"] == 60.0
    assert stream.stall_timeout == BROWSER_STREAM["stall_timeout"] == 15.0


def test_a_local_engine_that_stalls_mid_answer_is_moved_to_the_edge_by_the_page_limits() -> None:
    wasm, edge, aborts = FakeEngine("wasm", ANSWER, stall_after=3), FakeEngine("edge", ANSWER), AbortLog()

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], float]:
        page_router = make(loop, NO_ADAPTER, {"wasm": wasm}, abort_factory=aborts)
        page_router.add_remote("edge", edge)
        t0 = loop.time()
        events = await collect(page_router)
        return events, loop.time() - t0

    events, took = run_virtual(main)
    [switch] = [ev for ev in events if ev["type"] == "switch"]
    assert switch["from"] == "local-wasm" and switch["to"] == "edge" and switch["reason"] == catalogue.STREAM_STALL.code
    assert edge.calls[0]["prefix"] == "The quick brown"  # continued, not repeated
    assert text_of(events) == ANSWER and events[-1]["deployment"] == "edge" and events[-1]["complete"] is True
    assert aborts.made[0].signal.aborted  # the stalled engine was told to stop
    assert BROWSER_STREAM["stall_timeout"] <= took < BROWSER_STREAM["stall_timeout"] + 1


def test_an_engine_that_never_gives_a_first_token_is_moved_to_the_edge() -> None:
    wasm, edge = FakeEngine("wasm", ANSWER, stall_after=0), FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> tuple[list[dict[str, Any]], float]:
        page_router = make(loop, NO_ADAPTER, {"wasm": wasm}, abort_factory=AbortLog())
        page_router.add_remote("edge", edge)
        t0 = loop.time()
        events = await collect(page_router)
        return events, loop.time() - t0

    events, took = run_virtual(main)
    assert events[-1]["deployment"] == "edge" and events[-1]["complete"] is True and text_of(events) == ANSWER
    assert BROWSER_STREAM["first_token_timeout"] <= took < BROWSER_STREAM["first_token_timeout"] + 1


def test_loading_on_first_use_is_not_a_stall_while_it_makes_progress() -> None:
    # 3 minutes of download, a heartbeat a second: longer than the first-token limit, yet alive.
    wasm = LoadingEngine("wasm", ANSWER, loading=180.0)
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, NO_ADAPTER, {"wasm": wasm})
        page_router.add_remote("edge", edge)
        return await collect(page_router)

    events = run_virtual(main)
    assert events[-1]["deployment"] == "local-wasm" and text_of(events) == ANSWER and edge.calls == []
    assert all(ev["type"] != "delta" or ev["text"] for ev in events)  # heartbeats are not shown as text


def test_a_load_that_stops_moving_is_caught_by_the_first_token_limit() -> None:
    wasm = LoadingEngine("wasm", ANSWER, loading=1e9, beat=BROWSER_STREAM["first_token_timeout"] + 30)
    edge = FakeEngine("edge", ANSWER)

    async def main(loop: VirtualTimeLoop) -> list[dict[str, Any]]:
        page_router = make(loop, NO_ADAPTER, {"wasm": wasm}, abort_factory=AbortLog())
        page_router.add_remote("edge", edge)
        return await collect(page_router)

    events = run_virtual(main)
    assert events[-1]["deployment"] == "edge" and events[-1]["complete"] is True and text_of(events) == ANSWER


def test_a_heartbeat_from_javascript_is_the_core_heartbeat() -> None:
    assert chunk_from_js({"text": "", "heartbeat": True}) is HEARTBEAT
    assert chunk_from_js({"text": "a", "heartbeat": True}).text == "a"  # text is never dropped
    assert chunk_from_js({"text": "", "heartbeat": "yes"}) is not HEARTBEAT
    final = chunk_from_js({"text": "", "heartbeat": True, "finishReason": "stop"})
    assert final.finish_reason == "stop"
