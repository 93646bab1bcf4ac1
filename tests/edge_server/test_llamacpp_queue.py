"""Requests waiting their turn on the local model are not timed out for waiting.

The model serves one request at a time; the router's first-token timeout
runs from the start of an attempt. Regression (found by
bench/reliability_load.py): in a burst, requests queued behind others ran
past the timeout (on the server the monitor lowers it to a quarter of the
configured value once answers come fast), failed over to the fallback cache
or opened the model's breaker. The backend now sends a heartbeat while it
waits behind a generation that is moving.
"""

from __future__ import annotations

import asyncio
import threading

from llm_runner_router.core.config import Settings
from llm_runner_router.core.router import Router
from llm_runner_router.core.types import HEARTBEAT, BackendRequest, ChatRequest, Completion, Deployment, Message
from llm_runner_router.edge.llamacpp import LlamaCppBackend

PROMPT = "Write a long story about a dragon who learns to bake bread."


def test_a_burst_on_the_local_model_is_answered_in_turn(llama_backend: LlamaCppBackend) -> None:
    settings = Settings.from_dict(
        {
            "retry": {"max_attempts": 1, "deadline": 300},
            # Far below the time the third request waits for the other two.
            "stream": {"first_token_timeout": 0.75, "stall_timeout": 10},
            "cache": {"enabled": False},
            "providers": {"local": {"kind": "llamacpp"}},
            "deployments": {"local": {"provider": "local", "model": "smollm2", "accepts_prefix": True}},
            "aliases": {"chat": {"deployments": ["local"]}},
        }
    )
    router = Router(settings, {"local": llama_backend})

    async def burst() -> list[Completion]:
        requests = [ChatRequest("chat", [Message("user", PROMPT)], params={"max_tokens": 48, "temperature": 0}) for _ in range(3)]
        return await asyncio.gather(*(router.complete(r) for r in requests))

    answers = asyncio.run(asyncio.wait_for(burst(), 120))
    assert [(a.status, a.deployment, a.attempts) for a in answers] == [("complete", "local", 1)] * 3
    assert len({a.text for a in answers}) == 1 and answers[0].text  # greedy: the same answer, in turn


def test_heartbeats_come_only_while_waiting_behind_a_moving_generation(llama_backend: LlamaCppBackend) -> None:
    dep = Deployment("local", "local", "smollm2")

    def request(max_tokens: int) -> BackendRequest:
        return BackendRequest(dep, [Message("user", PROMPT)], {"max_tokens": max_tokens, "temperature": 0}, "chat/completions")

    async def main() -> tuple[int, int, int]:
        async def count(max_tokens: int, delay: float) -> tuple[int, int]:
            await asyncio.sleep(delay)
            beats = texts = 0
            async for chunk in llama_backend.stream(request(max_tokens)):
                if chunk is HEARTBEAT:
                    assert texts == 0  # heartbeats only before this request's own text
                    beats += 1
                else:
                    texts += 1
            return beats, texts

        (first_beats, _), (second_beats, second_texts) = await asyncio.gather(count(64, 0.0), count(8, 0.1))
        return first_beats, second_beats, second_texts

    first_beats, second_beats, second_texts = asyncio.run(asyncio.wait_for(main(), 120))
    assert first_beats == 0  # the model was free
    assert second_beats >= 1 and second_texts >= 1  # it waited, and said so, then answered


def test_requests_that_leave_while_waiting_start_no_thread(llama_backend: LlamaCppBackend) -> None:
    # Regression: each request started a generate thread at once, which blocked on the model
    # until the running generation ended; 60 requests that came and went during a long
    # answer left 62 threads behind (400: 153), while admission saw one or two.
    dep = Deployment("local", "local", "smollm2")
    long = BackendRequest(dep, [Message("user", PROMPT)], {"max_tokens": 200, "temperature": 0}, "chat/completions")
    short = BackendRequest(dep, [Message("user", PROMPT)], {"max_tokens": 4, "temperature": 0}, "chat/completions")

    def generating() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "llamacpp-generate")

    async def visitor() -> None:
        async def take() -> None:
            async for _ in llama_backend.stream(short):
                pass

        task = asyncio.ensure_future(take())
        await asyncio.sleep(0.05)  # waiting behind the long answer
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def main() -> tuple[int, int]:
        texts = 0
        most = 0
        async for chunk in llama_backend.stream(long):
            if chunk is HEARTBEAT or not chunk.text:
                continue
            texts += 1
            if texts == 2:  # the long answer holds the model: sixty requests come and go
                await asyncio.gather(*(visitor() for _ in range(60)))
            most = max(most, generating())
        return texts, most

    texts, most = asyncio.run(asyncio.wait_for(main(), 120))
    assert texts > 2
    assert most == 1  # only the generation that runs has a thread
