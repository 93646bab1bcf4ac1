"""A client that goes away stops its generation: streamed or not, the upstream sees the edge leave at once.

Regression: a non-streamed request went on generating for no one after its
client disconnected (found by bench/reliability_load.py: after a load run the
local model's queue took many seconds to drain), holding its admission slot.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from llm_runner_router.core.config import Settings
from llm_runner_router.core.store import MemoryStore
from llm_runner_router.edge.app import create_app
from llm_runner_router.edge.compose import build_state
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ThreadServer


@pytest.fixture
def rig() -> Iterator[tuple[fp.FaultProvider, ThreadServer]]:
    with fp.FaultProvider() as upstream:
        settings = Settings.from_dict(
            {
                "retry": {"max_attempts": 1},
                "stream": {"first_token_timeout": 60, "stall_timeout": 60},
                "cache": {"enabled": False},
                "monitor": {"health_check_interval": 3600},
                "providers": {"up": {"kind": "openai", "base_url": upstream.base_url, "read_timeout": 60}},
                "deployments": {"up": {"provider": "up", "model": fp.DEFAULT_MODEL}},
                "aliases": {"chat": {"deployments": ["up"]}},
            }
        )
        state = build_state(settings, store=MemoryStore(), monitor=False)
        with ThreadServer(create_app(state)) as server:
            yield upstream, server


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/chat/completions", {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}),
        ("/v1/responses", {"model": "chat", "input": "hi"}),
    ],
    ids=["chat", "chat-stream", "responses"],
)
def test_a_client_that_leaves_cancels_its_generation(
    rig: tuple[fp.FaultProvider, ThreadServer], path: str, body: dict[str, object]
) -> None:
    upstream, server = rig
    upstream.set_faults([fp.hang()])  # the upstream holds the request: only the edge leaving ends it
    with pytest.raises(httpx.TimeoutException):
        httpx.post(server.url + path, json=body, timeout=0.5)
    assert upstream.wait_for(lambda: bool(upstream.requests) and upstream.requests[-1].disconnected, timeout=5)

    def slot_free() -> bool:
        queue = httpx.get(server.url + "/api/status", timeout=5).json()["queue"]
        return bool(queue["active"] == 0 and queue["waiting"] == 0)

    assert upstream.wait_for(slot_free, timeout=5)
    # And the server answers the next request as usual.
    ok = httpx.post(
        server.url + "/v1/chat/completions", json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]}, timeout=10
    )
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == fp.DEFAULT_ANSWER
