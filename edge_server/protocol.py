"""What a client may take of the server: uvicorn's HTTP protocol, with limits.

uvicorn (0.55) times out only keep-alive connections that sit idle between
requests. A client that sends half a header, trickles it a byte at a time, or
stops reading a long answer keeps its connection -- a file descriptor, buffers,
a place in the server's connection set -- for as long as it likes, and nothing
caps how many such connections there are. The edge server therefore runs
uvicorn's h11 protocol with a clock on each connection:

- its request headers must arrive within ``server.header_timeout`` of the
  connection opening (or of the previous answer ending); else a coded 408 when
  part of a request came, and the connection is closed;
- a write the client leaves undrained for ``server.send_timeout`` (the transport's
  buffer stays above its high-water mark) aborts the connection: the app sees the
  client leave, and the answer's generation stops;
- a connection beyond ``server.max_connections`` is answered 503 at once and
  closed, before it can hold anything.

The body's deadline, ``server.body_timeout``, is the app's own (it reads the body:
request_io.read_body). Answers written here are raw bytes, since no ASGI cycle exists
yet; they carry the same coded error body as every other error. Written by hand
because uvicorn has no such limits and a proxy in front is not something every
deployment of this server has.
"""

from __future__ import annotations

import asyncio
import json
import resource
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from llm_runner_router.core import catalogue, jsonlog
from llm_runner_router.core.errors import LLMError

from . import openai_format as fmt
from .settings import ServerConfig

__all__ = ["ConnectionStats", "effective_limit", "guarded_protocol", "raise_fd_limit", "uvicorn_config"]

_log = jsonlog.get_logger("llm_runner_router.edge.protocol")

# File descriptors kept back from connections: the listening socket, the store, the
# model file, log streams, upstream connections.
_FD_RESERVE = 64


@dataclass
class ConnectionStats:
    """Counts shown in /api/status (``connections``)."""

    limit: int
    open: int = 0
    refused: int = 0
    header_timeouts: int = 0
    send_timeouts: int = 0
    refusal: bytes | None = None  # the 503 a refused connection gets, made once
    refusal_logged: float = float("-inf")  # loop time of the last "connections refused" line

    def as_dict(self) -> dict[str, int]:
        return {
            "open": self.open,
            "max_connections": self.limit,
            "refused": self.refused,
            "header_timeouts": self.header_timeouts,
            "send_timeouts": self.send_timeouts,
        }


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _raw_response(err: LLMError) -> bytes:
    body = json.dumps(fmt.error_body(err, "")).encode()
    status = HTTPStatus(err.http_status)
    head = [f"HTTP/1.1 {status.value} {status.phrase}", "content-type: application/json", f"content-length: {len(body)}"]
    if err.retry_after is not None:
        head.append(f"retry-after: {max(1, round(err.retry_after))}")
    head.append("connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _GuardedH11Protocol(H11Protocol):
    """H11Protocol with the header and send clocks and the connection cap (module docstring)."""

    limits: ClassVar[ServerConfig]
    stats: ClassVar[ConnectionStats]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self.stats.open = len(self.connections)
        if len(self.connections) > self.stats.limit:
            self._refuse()
            return
        self._start_header_clock()

    def _refuse(self) -> None:
        # A flood arrives as one batch of accepted connections, each refused before the loop
        # gets to anything else (a /health among them): so the refusal is prepared once,
        # and logged at most once a second with the count since.
        stats = self.stats
        stats.refused += 1
        if stats.refusal is None:
            err = catalogue.RATE_TOO_MANY_CONNECTIONS.error(
                f"the server holds {stats.limit} connections, its limit", retry_after=1.0, limit=stats.limit
            )
            stats.refusal = _raw_response(err)
        now = self.loop.time()
        if now - stats.refusal_logged >= 1.0:
            stats.refusal_logged = now
            _log.warning(
                "connections refused",
                error_code=catalogue.RATE_TOO_MANY_CONNECTIONS.code,
                refused=stats.refused,
                open=len(self.connections),
                max_connections=stats.limit,
            )
        self._close_with(stats.refusal)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clocks()
        super().connection_lost(exc)
        self.stats.open = len(self.connections)

    # --- headers -------------------------------------------------------------------

    def _start_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_clock_ran_out)

    def handle_events(self) -> None:
        super().handle_events()
        # The request's headers are in once h11 has left IDLE for them: the app's own deadlines apply from here.
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._header_timer.cancel()
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_header_clock()  # the next request's headers, on a kept-alive connection

    def _header_clock_ran_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # closing already, or a request is being answered
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            # Part of a request came, not all of it: say why the connection ends.
            self.stats.header_timeouts += 1
            err = catalogue.TIMEOUT_CLIENT.error(
                f"the request headers did not arrive within {self.limits.header_timeout:g} s", timeout=self.limits.header_timeout
            )
            _log.info("request headers timed out", error=err)
            self._close_with(_raw_response(err))
        else:
            self.transport.close()  # an idle connection: nothing to answer

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own answer to what h11 cannot parse (a header past its size limit, bad
        # syntax) is plain text; ours carries the code like every other error.
        err = catalogue.VAL_MALFORMED.error("the HTTP request is malformed, or its request line or headers are too long")
        self._close_with(_raw_response(err))

    # --- sending -------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout, self._send_clock_ran_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_clock_ran_out(self) -> None:
        self._send_timer = None
        self.stats.send_timeouts += 1
        _log.info(
            "client stopped reading: connection closed",
            error_code=catalogue.TIMEOUT_CLIENT.code,
            timeout=self.limits.send_timeout,
            path=(self.scope or {}).get("path", "")[:200],
        )
        # abort, not close: close would wait for the client to read what is buffered.
        self.transport.abort()

    # --- helpers -------------------------------------------------------------------

    def _stop_clocks(self) -> None:
        for timer in (self._header_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._send_timer = None

    def _close_with(self, response: bytes) -> None:
        """Write a whole raw response and close: no ASGI cycle is running to answer."""
        self._stop_clocks()
        self.transport.write(response)
        self.transport.close()


def guarded_protocol(limits: ServerConfig, stats: ConnectionStats) -> type[Any]:
    """The protocol class to give ``uvicorn.Config(http=...)``, holding these limits.

    ``stats.limit`` is the connection cap in force: ``limits.max_connections``, or less
    when the process may not open that many files (:func:`effective_limit`).
    """
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"limits": limits, "stats": stats})


def effective_limit(max_connections: int, fd_limit: int) -> int:
    """The connection cap a process with ``fd_limit`` open files can keep without running out of them."""
    return max(1, min(max_connections, fd_limit - _FD_RESERVE))


def uvicorn_config(app: Any, **options: Any) -> Any:
    """``uvicorn.Config`` for the edge app (made by compose.make_app or app.create_app), with its limits.

    Raises the open-files limit as far as allowed, caps connections below it, and
    shows the counts in the app's /api/status. ``options`` go to uvicorn.Config.
    """
    import uvicorn

    state = app.state.edge
    limits: ServerConfig = state.server
    stats = ConnectionStats(limit=effective_limit(limits.max_connections, raise_fd_limit()))
    if stats.limit < limits.max_connections:
        _log.warning(
            "server.max_connections lowered to fit the open-files limit",
            configured=limits.max_connections,
            max_connections=stats.limit,
        )
    state.connections = stats
    return uvicorn.Config(app, http=guarded_protocol(limits, stats), log_config=None, access_log=False, **options)
