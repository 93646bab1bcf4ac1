"""Hostile clients against the server process: long request parts, slow and silent
connections, too many connections, garbage, clients that stop reading, aborted uploads.

Each test runs ``python -m llm_runner_router --config FILE`` as a child process (ProcessServer)
in front of a fault-provider upstream (no model needed), with the connection limits set
small so a timeout takes a second, and talks to it over raw sockets: what a hostile
client sends is rarely something an HTTP library would send.

Regressions of the defects fixed for issue 12 (edge_server/protocol.py, answer.py,
app.py ``_read_body``/``_clip``, core/jsonlog.py ``RepeatFilter``). Time bounds are
freeze detectors: generous, and far below what the defects took.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ProcessServer

ANSWER = "one two three four five"
SLACK_S = 2.0  # how much later than its timeout a connection may be let go
FAST_S = 2.0  # an answer the server should give at once
# The limits most tests run under (the defaults are 10, 30, 30 and 1000).
LIMITS: dict[str, Any] = {"header_timeout": 1.0, "body_timeout": 1.0, "send_timeout": 2.0, "max_connections": 50}

# The codes clients see (core/catalogue.py: TIMEOUT_CLIENT, RATE_TOO_MANY_CONNECTIONS, VAL_MALFORMED,
# MODEL_NOT_FOUND, VAL_UNSUPPORTED).
TIMEOUT_CLIENT = "LLM_TIMEOUT_006_E"
TOO_MANY_CONNECTIONS = "LLM_RATE_005_E"
MALFORMED = "LLM_VAL_001_E"
MODEL_NOT_FOUND = "LLM_MODEL_001_E"
UNSUPPORTED = "LLM_VAL_007_E"

HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
STATUS = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


# --- raw HTTP ---------------------------------------------------------------------------


@dataclass
class Reply:
    """What came back on a connection: the parsed answer (if any), and whether the server closed it."""

    raw: bytes
    closed: bool  # EOF or a reset was seen before the read's deadline
    seconds: float  # from the request sent to the end of the read
    reset: bool = False
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        head, sep, body = self.raw.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.1 "):
            return
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            return str(self.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect: the window is set at the handshake
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", port))
    return sock


def read_reply(sock: socket.socket, timeout: float, since: float | None = None, until: Callable[[bytes], bool] | None = None) -> Reply:
    """Read until the server closes the connection, ``until(data)`` holds, or ``timeout`` passes."""
    began = since if since is not None else time.monotonic()
    deadline = time.monotonic() + timeout
    data = bytearray()
    closed = reset = False
    while not (until is not None and until(bytes(data))):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = reset = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return Reply(bytes(data), closed, time.monotonic() - began, reset)


def exchange(port: int, request: bytes, timeout: float = 10.0) -> Reply:
    """Send ``request`` on a fresh connection; read until the server closes it."""
    with connect(port) as sock:
        began = time.monotonic()
        sock.sendall(request)
        return read_reply(sock, timeout, began)


def http(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, close: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chat(model: str = "chat", stream: bool = False, **extra: Any) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}).encode()


# --- the server -------------------------------------------------------------------------


class Edge:
    """The server process and its log."""

    def __init__(self, server: ProcessServer) -> None:
        self.server = server
        self.port = server.port

    def mark(self) -> int:
        return self.server.log.stat().st_size

    def log_since(self, mark: int) -> tuple[int, list[dict[str, Any]]]:
        """The log's bytes from ``mark`` on, and its JSON entries."""
        with self.server.log.open("rb") as f:
            f.seek(mark)
            data = f.read()
        entries = []
        for line in data.splitlines():
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
        return len(data), entries

    def status(self) -> dict[str, Any]:
        reply = exchange(self.port, STATUS)
        assert reply.status == 200, reply.raw[:300]
        out: dict[str, Any] = reply.json()
        return out

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """/api/status once ``predicate`` holds for it (polled), or the last one seen after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status) or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def health_s(self) -> float:
        """Seconds /health takes to answer on a fresh connection (a 200, or the test fails)."""
        reply = exchange(self.port, HEALTH, timeout=10.0)
        assert reply.status == 200 and reply.closed, reply.raw[:300]
        return reply.seconds


def settings(upstream: str, long: str | None = None, **sections: dict[str, Any]) -> dict[str, Any]:
    """One attempt, no cache, breakers that never open: alias ``chat`` (and ``long``) on the fault provider."""
    doc: dict[str, Any] = {
        "retry": {"max_attempts": 1, "deadline": 60},
        "cache": {"enabled": False},
        "breaker": {"failure_threshold": 1000, "min_calls": 1000},
        "monitor": {"health_check_interval": 3600},
        "server": dict(LIMITS),
        "providers": {"up": {"kind": "openai", "base_url": upstream, "read_timeout": 30}},
        "deployments": {"d": {"provider": "up", "model": fp.DEFAULT_MODEL, "context_window": 1_000_000}},
        "aliases": {"chat": {"deployments": ["d"]}},
    }
    if long is not None:
        doc["providers"]["long"] = {"kind": "openai", "base_url": long, "read_timeout": 30}
        doc["deployments"]["dlong"] = {"provider": "long", "model": fp.DEFAULT_MODEL, "context_window": 1_000_000}
        doc["aliases"]["long"] = {"deployments": ["dlong"]}
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return doc


@contextlib.contextmanager
def serving(doc: dict[str, Any], work: Path) -> Iterator[Edge]:
    work.mkdir(parents=True, exist_ok=True)
    config = work / "router.json"
    config.write_text(json.dumps(doc))
    env = {"LLM_ROUTER_DATA_DIR": str(work / "data"), "LOG_LEVEL": "INFO"}
    with ProcessServer(["--config", str(config)], env) as server:
        edge = Edge(server)
        # The start-up probe's access line is in: what a test finds in the log after this is its own.
        deadline = time.monotonic() + 5.0
        while not any(e["logger"] == "llm_runner_router.edge.access" for e in edge.log_since(0)[1]) and time.monotonic() < deadline:
            time.sleep(0.02)
        yield edge


@pytest.fixture(scope="module")
def upstream() -> Iterator[fp.FaultProvider]:
    with fp.FaultProvider(answer=ANSWER) as provider:
        yield provider


@pytest.fixture
def start(upstream: fp.FaultProvider, tmp_path: Path) -> Iterator[Callable[..., Edge]]:
    """Start a server with these settings (sections merged into the defaults above); stopped after the test."""
    with contextlib.ExitStack() as stack:
        count = iter(range(100))

        def start_one(long: str | None = None, **sections: dict[str, Any]) -> Edge:
            return stack.enter_context(serving(settings(upstream.base_url, long, **sections), tmp_path / f"edge{next(count)}"))

        yield start_one


@pytest.fixture(scope="module")
def edge(upstream: fp.FaultProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """A server shared by the tests that only count on the timeouts (LIMITS)."""
    with serving(settings(upstream.base_url), tmp_path_factory.mktemp("edge")) as server:
        yield server


# --- 1. long request parts ----------------------------------------------------------------

LONG_PATH = "/" + "x" * 16_000
LONG_METHOD = "A" * 8_000
LONG_VALUE = "x" * 16_000


@pytest.mark.parametrize(
    ("request_bytes", "status", "code", "logged"),
    [
        (http("GET", LONG_PATH), 404, MODEL_NOT_FOUND, {"method": "GET", "path": "/" + "x" * 2047 + "…[16001 chars]"}),
        (http(LONG_METHOD, "/health"), 405, UNSUPPORTED, {"method": "A" * 32 + "…[8000 chars]", "path": "/health"}),
        (http("GET", "/nowhere", headers={"X-Request-ID": LONG_VALUE}), 404, MODEL_NOT_FOUND, {"method": "GET", "path": "/nowhere"}),
    ],
    ids=["path", "method", "header-value"],
)
def test_a_long_request_part_is_answered_at_once_and_clipped_in_the_log(
    start: Callable[..., Edge], request_bytes: bytes, status: int, code: str, logged: dict[str, str]
) -> None:
    # A 16,000-character path held the event loop for 15.8 s while the access log scrubbed
    # it (a backtracking regex); the method, 3 s; every other client waited that long.
    server = start()
    mark = server.mark()
    with connect(server.port) as sock:
        sock.sendall(request_bytes)
        head = read_reply(sock, 10.0, until=lambda data: b"\r\n\r\n" in data)
        assert head.status == status, head.raw[:300]
        health = exchange(server.port, HEALTH, timeout=10.0)  # while the long request's connection is still open
        assert health.status == 200 and health.seconds < FAST_S, f"/health took {health.seconds:.1f} s"
        rest = read_reply(sock, 10.0)
    assert rest.closed and rest.seconds < FAST_S, f"the long request's connection ended after {rest.seconds:.1f} s"
    reply = Reply(head.raw + rest.raw, True, 0.0)
    assert reply.code == code
    assert LONG_VALUE not in reply.raw.decode("latin-1") and len(reply.raw) < 4096
    size, entries = server.log_since(mark)
    access = [e["extra"] for e in entries if e["logger"] == "llm_runner_router.edge.access" and e["extra"].get("status") == status]
    assert len(access) == 1, entries
    assert {k: access[0][k] for k in logged} == logged
    assert size < 8192, f"the log grew by {size} bytes"
    assert all(e["level"] != "ERROR" for e in entries)


# --- 2. slow and silent connections ---------------------------------------------------------


def test_half_a_header_then_silence_is_a_coded_408(edge: Edge) -> None:
    before = edge.status()["connections"]["header_timeouts"]
    with connect(edge.port) as sock:
        began = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        reply = read_reply(sock, LIMITS["header_timeout"] + SLACK_S + 3, began)
    assert reply.closed and not reply.reset, reply
    assert reply.seconds < LIMITS["header_timeout"] + SLACK_S
    assert reply.status == 408 and reply.code == TIMEOUT_CLIENT
    assert reply.headers["connection"] == "close" and reply.headers["content-type"] == "application/json"
    assert edge.status()["connections"]["header_timeouts"] == before + 1


def test_a_header_trickled_a_byte_at_a_time_is_a_coded_408(edge: Edge) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"  # 45 s at this pace
    with connect(edge.port) as sock:
        began = time.monotonic()
        sent = 0
        while time.monotonic() - began < LIMITS["header_timeout"] + SLACK_S + 3:
            with contextlib.suppress(OSError):  # the server may have closed its end already
                sock.sendall(request[sent : sent + 1])
                sent += 1
            readable, _, _ = select.select([sock], [], [], 0.3)  # one byte every 0.3 s
            if readable:
                break
        reply = read_reply(sock, 5.0, began)
    assert reply.closed and sent < len(request), reply
    assert reply.seconds < LIMITS["header_timeout"] + SLACK_S
    assert reply.status == 408 and reply.code == TIMEOUT_CLIENT, reply.raw[:300]


def test_an_idle_connection_is_closed_with_nothing_sent(edge: Edge) -> None:
    with connect(edge.port) as sock:
        began = time.monotonic()
        reply = read_reply(sock, LIMITS["header_timeout"] + SLACK_S + 3, began)
    assert reply.closed and reply.raw == b""
    assert reply.seconds < LIMITS["header_timeout"] + SLACK_S


def test_a_body_that_stops_is_a_coded_408_and_the_connection_closes(edge: Edge) -> None:
    with connect(edge.port) as sock:
        began = time.monotonic()
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head + b'{"')  # and the other 98 bytes never come
        reply = read_reply(sock, LIMITS["body_timeout"] + SLACK_S + 3, began)
    assert reply.closed, reply
    assert reply.seconds < LIMITS["body_timeout"] + SLACK_S
    assert reply.status == 408 and reply.code == TIMEOUT_CLIENT
    assert reply.headers["connection"] == "close"  # the rest of the body must not be read as a request


def test_connections_past_the_cap_get_a_coded_503_and_the_held_ones_time_out(start: Callable[..., Edge]) -> None:
    cap, header_timeout = 20, 4.0
    server = start(server={"max_connections": cap, "header_timeout": header_timeout})
    # Only this status request's own connection is open (the start-up probes' are gone).
    assert server.wait_for(lambda s: s["connections"]["open"] == 1, 5.0)["connections"]["open"] == 1
    idle = [connect(server.port) for _ in range(cap)]
    opened = time.monotonic()
    try:
        refused = exchange(server.port, HEALTH, timeout=5.0)
        assert refused.status == 503 and refused.code == TOO_MANY_CONNECTIONS, refused.raw[:300]
        assert refused.closed and refused.seconds < FAST_S
        assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
        # One held connection goes: a new one is served (before the idle ones time out).
        idle.pop().close()
        tries = 0
        while True:
            tries += 1
            reply = exchange(server.port, HEALTH, timeout=5.0)
            if reply.status == 200 or time.monotonic() - opened > header_timeout - 1:
                break
            assert reply.status == 503 and reply.code == TOO_MANY_CONNECTIONS
            time.sleep(0.05)
        assert reply.status == 200, f"no /health answered within {time.monotonic() - opened:.1f} s of freeing a connection"
        # The idle ones hold nothing for long: closed at header_timeout, nothing sent.
        for sock in idle:
            left = read_reply(sock, header_timeout + SLACK_S + 3, opened)
            assert left.closed and left.raw == b"" and left.seconds < header_timeout + SLACK_S
    finally:
        for sock in idle:
            sock.close()
    connections = server.wait_for(lambda s: s["connections"]["open"] == 1, 5.0)["connections"]
    assert connections == {"open": 1, "max_connections": cap, "refused": tries, "header_timeouts": 0, "send_timeouts": 0}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n",
        b"GET /he alth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ],
    ids=["200k-header", "bad-header-line", "bad-request-line", "tls-hello"],
)
def test_a_request_h11_cannot_parse_gets_a_coded_400(edge: Edge, request_bytes: bytes) -> None:
    with connect(edge.port) as sock:
        began = time.monotonic()
        with contextlib.suppress(OSError):  # the server may answer (and close) before it has read all of it
            sock.sendall(request_bytes)
        reply = read_reply(sock, 10.0, began)
    assert reply.status == 400 and reply.code == MALFORMED, reply.raw[:300]
    assert reply.headers["content-type"] == "application/json" and reply.headers["connection"] == "close"
    assert reply.closed and reply.seconds < FAST_S


def test_a_flood_of_identical_failures_is_logged_a_few_times_then_counted(start: Callable[..., Edge]) -> None:
    server = start()
    mark = server.mark()
    bad = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n"
    began = time.monotonic()
    for _ in range(300):
        reply = exchange(server.port, bad, timeout=5.0)
        assert reply.status == 400 and reply.code == MALFORMED
    size, entries = server.log_since(mark)
    flood = [e for e in entries if e["message"] == "Invalid HTTP request received."]
    assert 1 <= len(flood) <= 5 and len(entries) <= 10, [e["message"] for e in entries]
    assert size < 4096
    # The first of its kind after the period (10 s) says how many were held back.
    time.sleep(max(0.0, began + 10.5 - time.monotonic()))
    mark = server.mark()
    assert exchange(server.port, bad, timeout=5.0).status == 400
    _, entries = server.log_since(mark)
    [later] = [e for e in entries if e["message"] == "Invalid HTTP request received."]
    assert later["extra"]["suppressed"] == 300 - len(flood)


# --- 3. clients that stop reading ------------------------------------------------------------

# 768 "words" of 8 KiB, one chunk each: 6 MiB, more than the kernel buffers for a client that
# never reads, so the server's writes do block.
LONG_ANSWER = " ".join(["x" * 8192] * 768)


def test_clients_that_stop_reading_free_their_slot_and_are_cut_off(start: Callable[..., Edge]) -> None:
    send_timeout = 3.0
    with fp.FaultProvider(answer=LONG_ANSWER) as long:
        server = start(long=long.base_url, monitor={"max_concurrency": 2, "queue_size": 4}, server={"send_timeout": send_timeout})
        streamers = []
        try:
            for _ in range(2):
                sock = connect(server.port, rcvbuf=4096)
                sock.sendall(http("POST", "/v1/chat/completions", chat("long", stream=True)))
                streamers.append(sock)  # and never read
            began = time.monotonic()
            # The upstream sends both answers to the end: the server reads them, whoever reads it.
            assert long.wait_for(lambda: len(long.requests) == 2 and all(r.completed for r in long.requests), timeout=10)
            status = server.wait_for(lambda s: s["queue"]["active"] == 0, 5.0)
            assert status["queue"]["active"] == 0, status["queue"]
            # ... and the slots are free while the clients still hold their connections.
            assert status["connections"]["send_timeouts"] == 0 and status["connections"]["open"] == 3
            asked = time.monotonic()
            reply = exchange(server.port, http("POST", "/v1/chat/completions", chat("chat")), timeout=10.0)
            assert reply.status == 200 and reply.json()["choices"][0]["message"]["content"] == ANSWER
            assert reply.seconds < FAST_S
            assert asked - began < send_timeout, "the streamers' slots were freed only when they were cut off"
            # The server stops waiting on them after send_timeout.
            status = server.wait_for(lambda s: s["connections"]["send_timeouts"] == 2, send_timeout + SLACK_S + 3)
            assert status["connections"]["send_timeouts"] == 2 and time.monotonic() - began < send_timeout + SLACK_S + 1
            assert status["connections"]["open"] == 1
            for sock in streamers:
                got = read_reply(sock, 10.0)
                assert got.closed and got.status == 200
                assert b"data: [DONE]" not in got.raw and len(got.raw) < len(LONG_ANSWER)
        finally:
            for sock in streamers:
                sock.close()


# --- 4. unknown models ------------------------------------------------------------------------


def fill_queue(server: Edge, upstream: fp.FaultProvider, held: list[socket.socket]) -> None:
    """One request generating (an upstream that hangs), one waiting: with one slot and one queue place, the queue is full."""
    upstream.set_faults([fp.hang(times=2)])
    for _ in range(2):
        sock = connect(server.port)
        sock.sendall(http("POST", "/v1/chat/completions", chat("chat")))
        held.append(sock)
    status = server.wait_for(lambda s: (s["queue"]["active"], s["queue"]["waiting"]) == (1, 1), 5.0)
    assert (status["queue"]["active"], status["queue"]["waiting"]) == (1, 1)


def test_unknown_models_are_refused_before_they_take_a_slot(start: Callable[..., Edge], upstream: fp.FaultProvider) -> None:
    server = start(monitor={"max_concurrency": 1, "queue_size": 1})
    held: list[socket.socket] = []
    try:
        fill_queue(server, upstream, held)
        for i in range(70):
            reply = exchange(server.port, http("POST", "/v1/chat/completions", chat(f"no-such-model-{i}")), timeout=5.0)
            assert reply.status == 404 and reply.code == MODEL_NOT_FOUND, reply.raw[:300]
            assert "retry-after" not in reply.headers
        queue = server.status()["queue"]
        assert (queue["active"], queue["waiting"], queue["rejected"]) == (1, 1, 0)
    finally:
        upstream.clear_faults()
        for sock in held:
            sock.close()
    # The held requests leave with their clients: the slot comes back.
    assert server.wait_for(lambda s: s["queue"]["active"] == 0, 5.0)["queue"] == {
        "active": 0,
        "waiting": 0,
        "max_concurrency": 1,
        "queue_size": 1,
        "rejected": 0,
    }


def test_retry_after_is_estimated_from_completed_answers_only(start: Callable[..., Edge], upstream: fp.FaultProvider) -> None:
    # One answer of about a second, then 70 unknown models and 5 upstream failures, each over in
    # milliseconds: they used to feed the estimate too, and a full queue said "Retry-After: 1".
    server = start(monitor={"max_concurrency": 1, "queue_size": 1})
    held: list[socket.socket] = []
    try:
        upstream.set_faults([fp.slow_first_token(delay=1.0)])
        assert exchange(server.port, http("POST", "/v1/chat/completions", chat("chat"))).status == 200
        for i in range(70):
            assert exchange(server.port, http("POST", "/v1/chat/completions", chat(f"no-such-model-{i}"))).status == 404
        upstream.set_faults([fp.server_error(times=5)])
        for _ in range(5):
            assert exchange(server.port, http("POST", "/v1/chat/completions", chat("chat"))).status in (502, 503)
        fill_queue(server, upstream, held)
        refused = exchange(server.port, http("POST", "/v1/chat/completions", chat("chat")))
        assert refused.status == 429 and refused.code == "LLM_RATE_002_E", refused.raw[:300]
        # The queue drains one answer of about 1 s at a time, and one request waits: about 2 s.
        assert refused.headers["retry-after"] in ("2", "3"), refused.headers
    finally:
        upstream.clear_faults()
        for sock in held:
            sock.close()


# --- 5. aborted uploads ---------------------------------------------------------------------------


def test_an_aborted_upload_is_the_client_leaving_not_a_server_error(start: Callable[..., Edge]) -> None:
    server = start()
    mark = server.mark()
    with connect(server.port) as sock:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head + b'{"')  # and the client goes
    deadline = time.monotonic() + 5.0
    while True:
        _, entries = server.log_since(mark)
        access = [e["extra"] for e in entries if e["logger"] == "llm_runner_router.edge.access" and e["extra"]["method"] == "POST"]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(a["method"], a["path"], a["status"]) for a in access] == [("POST", "/v1/chat/completions", 499)]
    assert [e for e in entries if e["level"] in ("ERROR", "CRITICAL")] == []
    assert server.health_s() < FAST_S


# --- the access log -------------------------------------------------------------------------------


def test_every_request_gets_its_access_log_line(start: Callable[..., Edge]) -> None:
    # The RepeatFilter that keeps a flood of failures out of the log must not thin the access
    # log: every access line is one "kind" (same logger, level, message, no error code).
    server = start()
    mark = server.mark()
    for _ in range(20):
        assert exchange(server.port, HEALTH).status == 200
    time.sleep(0.2)
    _, entries = server.log_since(mark)
    access = [e["extra"] for e in entries if e["logger"] == "llm_runner_router.edge.access"]
    assert [(a["path"], a["status"]) for a in access] == [("/health", 200)] * 20
