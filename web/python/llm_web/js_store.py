"""The core's Store over IndexedDB (web/lib/idb_store.js), for learned state that survives reloads.

The Store protocol is synchronous and IndexedDB is not: the records are read
once before the page router starts (a snapshot), kept in memory, and every change
is written through to a sink in the background. Values cross to JS as JSON
text, the one form both sides agree on without conversion rules.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from llm_runner_router.core.store import MemoryStore

from .bridge import py

__all__ = ["JsStoreSink", "WriteThroughStore"]


class JsStoreSink(Protocol):
    """What web/lib/idb_store.js's IdbStore offers for writes."""

    def put(self, namespace: str, key: str, value_json: str) -> None: ...

    def remove(self, namespace: str, key: str) -> None: ...


class WriteThroughStore(MemoryStore):
    """A MemoryStore seeded from a snapshot ``{namespace: {key: json}}`` that writes every change to ``sink``."""

    def __init__(self, snapshot: Any, sink: JsStoreSink) -> None:
        super().__init__()
        self._sink = sink
        data = py(snapshot)
        if isinstance(data, dict):
            for namespace, records in data.items():
                if not isinstance(records, dict):
                    continue
                for key, text in records.items():
                    try:
                        value = json.loads(text)
                    except (TypeError, ValueError):
                        continue  # a damaged record is forgotten, not fatal
                    if isinstance(value, dict):
                        self._data.setdefault(str(namespace), {})[str(key)] = value

    def save(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        super().save(namespace, key, value)
        self._sink.put(namespace, key, json.dumps(value))

    def delete(self, namespace: str, key: str) -> None:
        super().delete(namespace, key)
        self._sink.remove(namespace, key)
