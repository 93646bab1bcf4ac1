"""Real servers on 127.0.0.1 for tests and benches: uvicorn in a thread, or the edge server as a process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from llm_runner_router.edge.protocol import uvicorn_config


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (another process may still take it before we do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ThreadServer:
    """An ASGI app served by uvicorn on a free port, in a background thread."""

    def __init__(self, app: Any, timeout_graceful_shutdown: int = 5) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        if hasattr(getattr(app, "state", None), "edge"):
            # The edge app is served as the command serves it: with its connection limits.
            config = uvicorn_config(app, lifespan="on", timeout_graceful_shutdown=timeout_graceful_shutdown)
        else:
            config = uvicorn.Config(
                app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=timeout_graceful_shutdown
            )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


class ProcessServer:
    """``python -m llm_runner_router serve`` as a child process (for restarts and kill -9).

    It runs in ``cwd`` (default: this process's current folder), which matters only to relative paths in
    ``args``: the server finds its own folders (``llm_runner_router.edge.paths``). Set ``LLM_ROUTER_DATA_DIR``
    in ``env`` to keep a run's state apart; the output goes to ``server-<port>.log`` there (else in the
    temporary folder).
    """

    def __init__(self, args: list[str], env: Mapping[str, str], port: int | None = None, cwd: Path | None = None) -> None:
        self.port = port or free_port()
        self.args = args
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(self.env.get("LLM_ROUTER_DATA_DIR") or tempfile.gettempdir()) / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> ProcessServer:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llm_runner_router", "serve", "--port", str(self.port), *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                if r.status == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode or 0)

    def __enter__(self) -> ProcessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(app: Any) -> Iterator[ThreadServer]:
    with ThreadServer(app) as server:
        yield server
