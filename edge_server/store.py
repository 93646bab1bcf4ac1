"""The server's learned-state store: core's Store protocol in one SQLite file.

One table, ``records(namespace, key, value JSON, updated_at)``, in WAL mode
with ``synchronous=FULL``.

Durability
    Default (synchronous) mode: ``save()`` and ``delete()`` return only after
    their transaction has committed, and with ``synchronous=FULL`` a commit
    fsyncs the WAL: a save that returned survives kill -9 and power loss
    (given a disk that honours fsync). A
    save that raised was not made. Each one costs an fsync (~4 ms on the
    development VM), paid by the caller, which on the server is the event
    loop.

    ``write_behind=True``: ``save()`` and ``delete()`` serialise the value and
    queue it (~10 µs); one writer thread commits the queue in batches, at
    most ``batch_interval`` (50 ms) after the oldest queued record or as
    soon as ``batch_size`` (100) are queued. A record is durable once its
    batch has committed, and acknowledged when ``flush()`` (or ``close()``)
    returns: everything queued before the call is then committed. A kill -9
    or power loss loses what was not yet committed (normally the last
    ≤ 50 ms; more if the writer has fallen behind), as does exiting without
    ``close()`` (the writer is a daemon thread); what was committed is
    never torn, and order is kept (one queue, one writer). A batch that fails to commit for a reason
    other than corruption (disk full, a lock held past ``busy_timeout``) is
    logged and dropped, and the next ``flush()`` raises that error.
    ``load()`` flushes first, so it reads its own writes.

Corruption
    A file that is not a database, is truncated, fails ``PRAGMA quick_check``
    or has another schema is logged with LLM_CORE_002 and moved aside with
    its -wal and -shm files to ``<name>.corrupt-<UTC timestamp>`` (where
    ``recovered_from`` then points), and a fresh database takes its place;
    corruption met later, in a read or a write, is handled the same way and
    the operation retried once on the fresh file. A row whose JSON does not
    parse (or is not an object) is skipped and logged, the others load; a
    copy of the database as it was goes to ``<name>.corrupt-<timestamp>`` and
    the bad rows are deleted so the next start is clean. Corruption never
    raises to the caller; other errors (a directory that cannot be made,
    disk full, a lock held past ``busy_timeout``) do, in write-behind mode
    from the next ``flush()``.

Threads
    Any thread may call any method; see ``__init__`` for why one connection
    behind a lock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from llm_runner_router.core import catalogue
from llm_runner_router.core.jsonlog import get_logger

__all__ = ["SQLiteStore"]

_log = get_logger("llm_runner_router.edge.store")
_T = TypeVar("_T")

_TABLE = "records"
_COLUMNS = ["namespace", "key", "value", "updated_at"]
_SCHEMA_VERSION = 1
_CREATE = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID"""
_UPSERT = (
    f"INSERT INTO {_TABLE} (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_DELETE = f"DELETE FROM {_TABLE} WHERE namespace = ? AND key = ?"
# Result codes (the low byte of an extended code) that mean the file itself is bad.
_CORRUPTION = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}

# One write: (namespace, key, JSON text or None for a delete, wall time).
_Op = tuple[str, str, str | None, float]


class _BadFile(sqlite3.DatabaseError):
    """The file opened but is not ours: a failed quick_check or another schema."""


def _is_corruption(exc: sqlite3.Error) -> bool:
    return isinstance(exc, _BadFile) or (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _CORRUPTION


class SQLiteStore:
    """core's Store protocol over SQLite; safe to call from any thread (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        write_behind: bool = False,
        busy_timeout: float = 5.0,
        batch_interval: float = 0.05,
        batch_size: int = 100,
    ) -> None:
        self.path = Path(path)
        self.recovered_from: Path | None = None
        self.write_behind = write_behind
        self._busy_timeout = busy_timeout
        self._batch_interval = batch_interval
        self._batch_size = batch_size
        # One connection behind a lock rather than one per thread: SQLite
        # takes one writer at a time anyway, so nothing is lost; our own
        # threads never meet SQLITE_BUSY from each other; recovery swaps a
        # single connection; and close() can close it (connections left in
        # executor threads we do not own could not be).
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()

        # Write-behind state, all guarded by _cond.
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, _Op]] = deque()  # (monotonic time queued, op)
        self._queued = 0  # ops ever queued
        self._done = 0  # ops ever taken off the queue and committed (or dropped on error)
        self._flushing = 0  # flush() calls waiting: commit at once
        self._write_error: Exception | None = None
        self._writer: threading.Thread | None = None
        if write_behind:
            self._writer = threading.Thread(target=self._write_loop, name=f"sqlite-store-writer:{self.path.name}", daemon=True)
            self._writer.start()

    # --- the Store protocol --------------------------------------------------------

    def load(self, namespace: str) -> dict[str, dict[str, Any]]:
        self.flush()
        with self._lock:
            self._check_open()
            rows = self._retrying(lambda c: c.execute(f"SELECT key, value FROM {_TABLE} WHERE namespace = ?", (namespace,)).fetchall())
            out: dict[str, dict[str, Any]] = {}
            bad: list[tuple[str, str]] = []
            for key, text in rows:
                try:
                    value = json.loads(text)
                except (TypeError, ValueError) as exc:
                    bad.append((key, f"{type(exc).__name__}: {exc}"))
                    continue
                if isinstance(value, dict):
                    out[key] = value
                else:
                    bad.append((key, f"value is a JSON {type(value).__name__}, not an object"))
            if bad:
                self._set_aside_rows(namespace, bad)
            return out

    def save(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        self._write((namespace, key, json.dumps(value, separators=(",", ":")), time.time()))

    def delete(self, namespace: str, key: str) -> None:
        self._write((namespace, key, None, time.time()))

    # --- the rest ----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Committed records per namespace (in write-behind mode, queued ones are not counted)."""
        with self._lock:
            self._check_open()
            rows = self._retrying(lambda c: c.execute(f"SELECT namespace, COUNT(*) FROM {_TABLE} GROUP BY namespace").fetchall())
        return {str(ns): int(n) for ns, n in rows}

    def flush(self) -> None:
        """Return once everything saved or deleted before the call is committed.

        Raises the error of a write-behind batch that failed since the last
        flush. Nothing to do in synchronous mode.
        """
        if self._writer is None:
            return
        with self._cond:
            target = self._queued
            self._flushing += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._done >= target or not self._writer_alive())
            finally:
                self._flushing -= 1
            error, self._write_error = self._write_error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Flush, stop the writer and close the database (a second call does nothing)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._writer is not None:
                self._writer.join()
            with self._lock:
                self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------

    def _write(self, op: _Op) -> None:
        if self._writer is None:
            with self._lock:
                self._check_open()
                self._retrying(lambda c: self._commit(c, [op]))
            return
        with self._cond:
            self._check_open()
            self._queue.append((time.monotonic(), op))
            self._queued += 1
            if len(self._queue) in (1, self._batch_size):
                self._cond.notify_all()  # the first starts the batch clock; a full batch goes at once

    @staticmethod
    def _commit(conn: sqlite3.Connection, ops: list[_Op]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for namespace, key, text, at in ops:
                if text is None:
                    conn.execute(_DELETE, (namespace, key))
                else:
                    conn.execute(_UPSERT, (namespace, key, text, at))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:
                    return  # closed and drained
                deadline = self._queue[0][0] + self._batch_interval
                while len(self._queue) < self._batch_size and not self._flushing and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = [self._queue.popleft()[1] for _ in range(min(self._batch_size, len(self._queue)))]
            error: Exception | None = None
            try:
                with self._lock:
                    self._retrying(functools.partial(self._commit, ops=batch))
            except Exception as exc:  # the thread must live on: flush() waits for it
                error = exc
                _log.error("learned-state batch not written", error=exc, path=str(self.path), records=len(batch))
            with self._cond:
                self._done += len(batch)
                if error is not None:
                    self._write_error = error
                self._cond.notify_all()

    def _writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.path} is closed")

    # --- opening and recovery -------------------------------------------------------------

    def _open(self, fresh: bool = False) -> sqlite3.Connection:
        """A checked connection; a bad file is moved aside and a fresh one made (``fresh``: that was just done)."""
        try:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            unreadable = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_CANTOPEN and self.path.is_file()
            if fresh or not unreadable:
                raise
            self._set_aside(exc)
            return self._open(fresh=True)
        try:
            self._prepare(conn)
        except BaseException as exc:
            if fresh or not (isinstance(exc, sqlite3.Error) and _is_corruption(exc)):
                conn.close()
                raise
            self._set_aside(exc)  # before closing: on close SQLite would delete the -wal, which is evidence
            conn.close()
            return self._open(fresh=True)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise _BadFile("quick_check: " + "; ".join(problems[:5]))
        conn.execute("BEGIN IMMEDIATE")
        tables = {str(n) for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            conn.execute(_CREATE)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            tables = {_TABLE}
        conn.execute("COMMIT")
        columns = [str(row[1]) for row in conn.execute(f"PRAGMA table_info({_TABLE})")]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if tables != {_TABLE} or columns != _COLUMNS or version != _SCHEMA_VERSION:
            raise _BadFile(f"unexpected schema: tables {sorted(tables)}, columns {columns}, user_version {version}")
        conn.execute("PRAGMA journal_mode = WAL")  # after the checks: a file that is not ours is left as it was
        conn.execute("PRAGMA synchronous = FULL")  # every commit fsyncs the WAL

    def _retrying(self, action: Callable[[sqlite3.Connection], _T]) -> _T:
        """``action(conn)``; on corruption, set the file aside and do it again on a fresh one. Call with _lock held."""
        try:
            return action(self._conn)
        except sqlite3.Error as exc:
            if not _is_corruption(exc):
                raise
            self._set_aside(exc)  # before closing, as in _open
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = self._open(fresh=True)
            return action(self._conn)

    def _aside_path(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest, n = self.path.with_name(f"{self.path.name}.corrupt-{stamp}"), 1
        while dest.exists():
            dest, n = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}"), n + 1
        return dest

    def _set_aside(self, cause: sqlite3.Error) -> None:
        """Move the database and its -wal and -shm files aside, and log it."""
        dest = self._aside_path()
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                src.replace(dest.with_name(dest.name + suffix))
        self.recovered_from = dest
        error = catalogue.CORE_STORE_CORRUPT.error(f"{self.path}: {cause}", path=str(self.path), moved_to=str(dest))
        error.__cause__ = cause
        _log.error("learned-state store was corrupt; moved aside and started afresh", error=error)

    def _set_aside_rows(self, namespace: str, bad: list[tuple[str, str]]) -> None:
        """Copy the database aside as it is, then delete the rows that would not parse. Call with _lock held."""
        dest = self._aside_path()
        copy = sqlite3.connect(dest)
        try:
            self._conn.backup(copy)
        finally:
            copy.close()
        self.recovered_from = dest
        self._commit(self._conn, [(namespace, key, None, 0.0) for key, _ in bad])
        for key, why in bad:
            error = catalogue.CORE_STORE_CORRUPT.error(
                f"{namespace}/{key}: {why}", path=str(self.path), namespace=namespace, key=key, copied_to=str(dest)
            )
            _log.error("learned-state record was corrupt; skipped and deleted", error=error)
