"""Where learned state is kept: the Store protocol and the in-memory store.

Breakers and compatibility hints write every change through a Store, so
what the router learns survives a restart. The server keeps it in SQLite,
the browser in IndexedDB; both implement this protocol. Values are plain
JSON-compatible dicts.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["MemoryStore", "Store"]


class Store(Protocol):
    def load(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every record of a namespace, by key."""
        ...

    def save(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    def delete(self, namespace: str, key: str) -> None: ...


class MemoryStore:
    """A Store in a dict: the default, and the reference for the others."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}
        self.writes = 0

    def load(self, namespace: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._data.get(namespace, {}).items()}

    def save(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        self.writes += 1
        self._data.setdefault(namespace, {})[key] = value

    def delete(self, namespace: str, key: str) -> None:
        self._data.get(namespace, {}).pop(key, None)
