"""LlamaCppBackend with slots > 1 (answers decoded together, batching.py) on the real model.

Several answers at once give what each gives alone (not always what the
one-at-a-time backend gives: its context is laid out otherwise, and a near-tie
in a greedy answer can fall the other way); a prefix is continued inside a batch; a stop string and
max_tokens end one answer while the others go on; a consumer that leaves frees
its slot for the next request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_runner_router.core.types import HEARTBEAT, BackendChunk
from llm_runner_router.edge.compose import default_settings
from llm_runner_router.edge.llamacpp import LlamaCppBackend
from llm_runner_router.edge.testing.servers import ProcessServer
from tests.edge_server.test_llamacpp import QUESTION, STORY, collect, request

QUESTIONS = [QUESTION, "Name three colours.", "What is 12 times 7?", "Write one sentence about the sea."]


@pytest.fixture(scope="module")
def batched(model_path: Path) -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(model_path, n_ctx=1024, seed=0, slots=4)
    asyncio.run(backend.load())
    yield backend
    asyncio.run(backend.unload())


async def answers(backend: LlamaCppBackend, questions: list[str], **params: object) -> list[tuple[str, BackendChunk]]:
    return list(await asyncio.gather(*(collect(backend, request(q, max_tokens=32, **params)) for q in questions)))


def test_four_answers_at_once_equal_each_alone(batched: LlamaCppBackend) -> None:
    alone = [asyncio.run(collect(batched, request(q, max_tokens=32))) for q in QUESTIONS]
    together = asyncio.run(answers(batched, QUESTIONS))
    assert [text for text, _ in together] == [text for text, _ in alone]
    for (text, last), (_, alone_last) in zip(together, alone, strict=True):
        assert text and last.finish_reason in ("stop", "length") and last.usage == alone_last.usage
        assert last.usage is not None and last.usage.prompt_tokens > 10 and 0 < last.usage.completion_tokens <= 32


def test_a_prefix_is_continued_inside_a_batch(batched: LlamaCppBackend) -> None:
    whole, _ = asyncio.run(collect(batched, request(QUESTIONS[3], max_tokens=32)))
    seen = whole[: whole.rfind(" ", 0, len(whole) // 2)]  # before a word: where a token ends

    async def both() -> tuple[str, str]:
        rest, other = await asyncio.gather(
            collect(batched, request(QUESTIONS[3], prefix=seen, max_tokens=32)), collect(batched, request(QUESTIONS[1], max_tokens=32))
        )
        return rest[0], other[0]

    rest, _ = asyncio.run(both())
    assert whole.startswith(seen + rest) or (seen + rest).startswith(whole)


def test_a_stop_string_and_max_tokens_end_one_answer_while_the_others_go_on(batched: LlamaCppBackend) -> None:
    async def three() -> list[tuple[str, BackendChunk]]:
        return list(
            await asyncio.gather(
                collect(batched, request(STORY, max_tokens=3)),
                collect(batched, request("Count from 1 to 20, separated by commas.", max_tokens=60, stop=["5"])),
                collect(batched, request(STORY, max_tokens=40)),
            )
        )

    (short, short_last), (counted, counted_last), (story, story_last) = asyncio.run(three())
    assert short_last.finish_reason == "length" and short_last.usage is not None and short_last.usage.completion_tokens == 3
    assert counted_last.finish_reason == "stop" and "5" not in counted and counted.strip()
    assert story_last.finish_reason == "length" and len(story) > len(short)


def test_a_consumer_that_leaves_frees_its_slot(model_path: Path) -> None:
    backend = LlamaCppBackend(model_path, n_ctx=512, seed=0, slots=2)
    asyncio.run(backend.load())
    try:

        async def run() -> str:
            long_one = backend.stream(request(STORY, max_tokens=400))
            async for chunk in long_one:  # the first piece: it holds a slot
                if chunk is not HEARTBEAT and chunk.text:
                    break
            other = asyncio.ensure_future(collect(backend, request(STORY, max_tokens=400)))
            await long_one.aclose()  # the client went away
            text, _ = await asyncio.wait_for(collect(backend, request(QUESTION, max_tokens=8)), 60)
            other.cancel()
            return text

        assert asyncio.run(run())
    finally:
        asyncio.run(backend.unload())


def test_the_server_shows_its_slots_in_status_and_metrics(tmp_path: Path) -> None:
    config = default_settings()
    config["providers"]["local"]["options"]["slots"] = 2
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with ProcessServer(["--host", "127.0.0.1", "--config", str(path)], {"LLM_ROUTER_DATA_DIR": str(tmp_path)}) as server:
        body = {"model": "default", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 8, "temperature": 0}
        answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120).json()
        assert answer["choices"][0]["message"]["content"] and answer["usage"]["completion_tokens"] > 0
        batch = httpx.get(f"{server.url}/api/status", timeout=10).json()["backends"]["local"]["batch"]
        assert batch["slots"] == 2 and batch["active"] == 0 and batch["waiting"] == 0 and batch["batch_tokens"] >= 1
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'llm_batch_slots{backend="local",state="slots"} 2' in metrics
        assert 'llm_batch_slots{backend="local",state="active"} 0' in metrics and 'llm_batch_tokens{backend="local"}' in metrics
