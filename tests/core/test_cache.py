from __future__ import annotations

from llm_runner_router.core.cache import ResponseCache, cache_key
from llm_runner_router.core.clock import ManualClock
from llm_runner_router.core.config import CacheConfig
from llm_runner_router.core.types import ChatRequest, Message


def req(text: str, **params: object) -> ChatRequest:
    return ChatRequest("chat", [Message("user", text)], params=dict(params))


def test_key_depends_on_messages_and_params_not_on_their_order() -> None:
    assert cache_key(req("a", temperature=0, stop=["x"])) == cache_key(req("a", stop=["x"], temperature=0))
    assert cache_key(req("a")) != cache_key(req("b"))
    assert cache_key(req("a", temperature=0)) != cache_key(req("a", temperature=1))
    hash(cache_key(req("a", stop=["x", "y"], logit_bias={"1": 2})))


def test_ttl_expiry() -> None:
    clock = ManualClock()
    cache = ResponseCache(CacheConfig(ttl=10), clock)
    cache.put("k", ["hel", "lo"], "stop", "a")
    clock.advance(10)
    assert cache.get("k") is not None
    clock.advance(0.1)
    assert cache.get("k") is None and len(cache) == 0


def test_lru_eviction() -> None:
    cache = ResponseCache(CacheConfig(max_entries=2), ManualClock())
    cache.put("a", ["1"], None, "d")
    cache.put("b", ["2"], None, "d")
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", ["3"], None, "d")
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None


def test_disabled_cache_keeps_nothing() -> None:
    cache = ResponseCache(CacheConfig(enabled=False), ManualClock())
    cache.put("a", ["1"], None, "d")
    assert cache.get("a") is None
    assert cache.clear() == 0
