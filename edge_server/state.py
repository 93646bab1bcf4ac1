"""What the edge server holds while it runs: one :class:`EdgeState` per app.

Router, backends, store, admission, the monitor and the connection counts,
and the shutdown drain: answers still streaming when shutdown begins are
ended cleanly after ``drain_seconds`` (a coded error event, then the end
marker), not cut when the server's own grace period runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from llm_runner_router.core.router import Router
from llm_runner_router.core.store import Store

from .admission import Admission
from .protocol import ConnectionStats
from .settings import ServerConfig

__all__ = ["EdgeState", "MonitorHooks"]


class MonitorHooks(Protocol):
    """What the edge server asks of the self-healing monitor (edge_server/monitor.py)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def summary(self) -> dict[str, Any]: ...

    def diagnostics(self) -> dict[str, Any]: ...

    def update_gauges(self) -> None: ...

    async def heal(self, actions: list[str] | None, reason: str) -> dict[str, Any]: ...


@dataclass
class EdgeState:
    router: Router
    backends: Mapping[str, Any]
    store: Store
    admission: Admission
    api_key: str | None = None
    server: ServerConfig = field(default_factory=ServerConfig)  # the [server] section: CORS and the client limits
    started: float = field(default_factory=time.monotonic)
    monitor: MonitorHooks | None = None  # edge_server.monitor.Monitor, when running
    on_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Shutting down: answers still streaming `drain_seconds` after it began are
    # ended cleanly (a coded error event, then the end marker), not cut when the
    # server's own grace period runs out.
    drain_seconds: float = 7.0
    draining: bool = False
    ending: bool = False
    streams: set[asyncio.Task[Any]] = field(default_factory=set)
    loop: asyncio.AbstractEventLoop | None = None
    connections: ConnectionStats | None = None  # when served by protocol.uvicorn_config

    def begin_drain(self) -> None:
        """Called from the signal handler (any thread)."""
        if self.draining or self.loop is None:
            return
        self.draining = True
        loop = self.loop
        loop.call_soon_threadsafe(loop.call_later, self.drain_seconds, self._end_streams)

    def _end_streams(self) -> None:
        self.ending = True
        for task in list(self.streams):
            task.cancel()
