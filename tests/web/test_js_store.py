from __future__ import annotations

import json
from typing import Any

from llm_runner_router.core.breaker import Breakers
from llm_runner_router.core.config import BreakerConfig
from llm_runner_router.core.testing import VirtualTimeLoop, run_virtual
from llm_runner_router.web.js_store import WriteThroughStore


class Sink:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], str] = {}

    def put(self, namespace: str, key: str, value_json: str) -> None:
        self.records[(namespace, key)] = value_json

    def remove(self, namespace: str, key: str) -> None:
        self.records.pop((namespace, key), None)

    def snapshot(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for (namespace, key), text in self.records.items():
            out.setdefault(namespace, {})[key] = text
        return out


def test_changes_are_written_through_and_read_back_from_a_snapshot() -> None:
    sink = Sink()
    store = WriteThroughStore({}, sink)
    store.save("hints", "a", {"n": 1})
    store.save("hints", "b", {"n": 2})
    store.delete("hints", "b")
    again = WriteThroughStore(sink.snapshot(), Sink())
    assert again.load("hints") == {"a": {"n": 1}}
    assert json.loads(sink.records[("hints", "a")]) == {"n": 1}


def test_damaged_records_are_skipped() -> None:
    snapshot: Any = {"hints": {"a": "{not json", "b": "[1]", "c": '{"ok": true}'}, "odd": "text"}
    assert WriteThroughStore(snapshot, Sink()).load("hints") == {"c": {"ok": True}}
    assert WriteThroughStore(None, Sink()).load("hints") == {}


def test_a_tripped_breaker_survives_a_reload() -> None:
    sink = Sink()

    async def main(loop: VirtualTimeLoop) -> tuple[str, str]:
        clock = loop.clock
        config = BreakerConfig(failure_threshold=2)
        first = Breakers(config, clock, WriteThroughStore({}, sink))
        key = ("edge", "SmolLM2-135M-Instruct", "chat/completions")
        breaker = first.get(key)
        for _ in range(2):
            breaker.record_failure(0.1, "LLM_NET_001_E")
        reloaded = Breakers(config, clock, WriteThroughStore(sink.snapshot(), Sink()))
        return breaker.state.value, reloaded.get(key).state.value

    before, after = run_virtual(main)
    assert before == after == "open"
