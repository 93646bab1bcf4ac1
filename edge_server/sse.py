"""An incremental parser for server-sent events, as upstream APIs stream them.

Bytes go in as they come off the network, in pieces of any size; whole
events come out. It follows the WHATWG event-stream rules:

- a line ends with ``\\r\\n``, ``\\n`` or ``\\r`` (a ``\\r\\n`` split across two
  pieces is still one line end);
- a line starting with ``:`` is a comment (upstreams send them as keep-alives);
- ``field: value`` (one space after the colon is dropped), or ``field`` alone;
- ``data`` lines accumulate, joined by ``\\n``; ``event``, ``id`` and ``retry``
  set the other fields; other fields are ignored;
- an empty line dispatches the event; an event without data is dropped;
- a leading UTF-8 byte-order mark is skipped; lines are decoded as UTF-8,
  bad bytes replaced.

Two bounds keep a broken or hostile upstream from growing memory without
end: a line longer than ``max_line`` bytes, and an event whose data grows
beyond ``max_event`` bytes, raise ``STREAM_MALFORMED``. Nothing else is
ever raised.

At the end of the stream (:meth:`SSEParser.close`) a pending event whose
lines all ended is dispatched (a lenient reading: some servers end with
``data: [DONE]\\n`` and no blank line); if the stream stopped inside a line,
the event it belongs to is dropped, as the standard says.

Parsing is split-invariant: however the same bytes are cut into pieces,
the same events come out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from llm_runner_router.core import catalogue

__all__ = ["DEFAULT_MAX_EVENT", "DEFAULT_MAX_LINE", "SSEEvent", "SSEParser"]

DEFAULT_MAX_LINE: Final = 4 * 1024 * 1024  # a Responses API "response.completed" line holds the whole answer
DEFAULT_MAX_EVENT: Final = 8 * 1024 * 1024

_EOL: Final = re.compile(rb"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: str | None = None  # the last event ID in effect when it was dispatched
    retry: int | None = None  # a reconnection time (ms) the event carried, if any


class SSEParser:
    """Feed it bytes with :meth:`feed`, then call :meth:`close` at the end of the stream."""

    __slots__ = (
        "max_line",
        "max_event",
        "_partial",
        "_skip_lf",
        "_started",
        "_data",
        "_data_size",
        "_event",
        "_last_id",
        "_retry",
        "_closed",
    )

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, max_event: int = DEFAULT_MAX_EVENT) -> None:
        if max_line < 1 or max_event < 1:
            raise ValueError("max_line and max_event must be positive")
        self.max_line = max_line
        self.max_event = max_event
        self._partial = bytearray()  # the start of a line whose end has not come yet
        self._skip_lf = False  # the last piece ended with \r: a \n opening the next one is its pair
        self._started = False  # the byte-order mark question is settled
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._closed = False

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[SSEEvent]:
        """The events completed by this piece of the stream (often none, sometimes several)."""
        data = bytes(chunk)
        if not data or self._closed:
            return []
        if not self._started:
            self._partial += data
            if len(self._partial) < len(_BOM) and _BOM.startswith(bytes(self._partial)):
                return []  # could still be a byte-order mark: wait for more
            data = bytes(self._partial)
            self._partial.clear()
            self._started = True
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
            if not data:
                return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        events: list[SSEEvent] = []
        start = 0
        for m in _EOL.finditer(data):
            if self._partial:
                self._partial += data[start : m.start()]
                line = bytes(self._partial)
                self._partial.clear()
            else:
                line = data[start : m.start()]
            if len(line) > self.max_line:
                raise self._too_long("line", len(line), self.max_line)
            self._line(line, events)
            start = m.end()
        if start < len(data):
            if len(self._partial) + len(data) - start > self.max_line:
                raise self._too_long("line", len(self._partial) + len(data) - start, self.max_line)
            self._partial += data[start:]
        elif data[-1:] == b"\r":
            self._skip_lf = True
        return events

    def close(self) -> list[SSEEvent]:
        """The end of the stream: the pending event, unless the stream stopped inside one of its lines."""
        if self._closed:
            return []
        self._closed = True
        events: list[SSEEvent] = []
        if self._partial:  # the stream stopped inside a line: the event it belongs to is incomplete
            self._partial.clear()
            self._data = []
        self._dispatch(events)
        return events

    @property
    def pending(self) -> bool:
        """Whether bytes of an undispatched event (or an unfinished line) are held."""
        return bool(self._partial) or bool(self._data) or bool(self._event)

    # --- one line ------------------------------------------------------------------

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        if raw[0] == 0x3A:  # ":" a comment
            return
        colon = raw.find(b":")
        if colon < 0:
            name, value = raw, b""
        else:
            name, value = raw[:colon], raw[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_event:
                raise self._too_long("event", self._data_size, self.max_event)
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit() and len(value) <= 18:
            self._retry = int(value)

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent("\n".join(self._data), self._event or "message", self._last_id, self._retry))
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry = None

    def _too_long(self, what: str, size: int, limit: int) -> Exception:
        self._closed = True
        self._partial.clear()
        self._data = []
        return catalogue.STREAM_MALFORMED.error(
            f"an upstream event-stream {what} is longer than {limit} bytes", reason=f"{what}_too_long", size=size, limit=limit
        )
