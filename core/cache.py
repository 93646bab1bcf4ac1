"""The fallback response cache: last good answers, served only when every deployment failed.

Entries expire after ``ttl`` seconds; beyond ``max_entries`` the least
recently used goes. Answers served from here are marked ``cached``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from .clock import Clock
from .config import CacheConfig
from .types import ChatRequest

__all__ = ["CachedAnswer", "ResponseCache", "cache_key"]


@dataclass(slots=True)
class CachedAnswer:
    # The answer as the pieces it streamed in: joined only when served,
    # which is rare, instead of on every success, which is not.
    parts: list[str]
    finish_reason: str | None
    deployment: str
    stored_at: float  # clock.now()


def _freeze(value: object) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value if isinstance(value, Hashable) else repr(value)


def cache_key(request: ChatRequest) -> Hashable:
    """Same alias, messages and sampling parameters → same key. Built from tuples: cheap to hash."""
    params = request.params
    frozen_params = tuple(sorted((k, _freeze(v)) for k, v in params.items())) if params else ()
    return (request.model, request.kind, tuple((m.role, m.content) for m in request.messages), frozen_params, request.prefix)


class ResponseCache:
    def __init__(self, config: CacheConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._entries: OrderedDict[Hashable, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock.now() - entry.stored_at > self.config.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, parts: list[str], finish_reason: str | None, deployment: str) -> None:
        """Keep an answer; ``parts`` is kept as given, so the caller must not change it afterwards."""
        if not self.config.enabled:
            return
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)
        entries[key] = CachedAnswer(parts, finish_reason, deployment, self._clock.now())
        if len(entries) > self.config.max_entries:
            entries.popitem(last=False)

    def clear(self) -> int:
        n = len(self._entries)
        self._entries.clear()
        return n
