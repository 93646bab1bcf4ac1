from __future__ import annotations

import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.breaker import Breakers, BreakerState
from llm_runner_router.core.clock import ManualClock
from llm_runner_router.core.config import BreakerConfig, HintsConfig
from llm_runner_router.core.hints import CompatibilityHints
from llm_runner_router.core.jsonlog import JsonFormatter
from llm_runner_router.edge.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
CORRUPT = catalogue.CORE_STORE_CORRUPT.code
MODES = pytest.mark.parametrize("write_behind", [False, True], ids=["sync", "write_behind"])


def corrupt_logs(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The store's log records as core.jsonlog writes them, those with LLM_CORE_002_E."""
    entries = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "llm_runner_router.edge.store"]
    return [e for e in entries if e.get("error_code") == CORRUPT]


def aside(path: Path) -> list[Path]:
    """The databases moved or copied aside (not their -wal and -shm files)."""
    return sorted(p for p in path.parent.glob(f"{path.name}.corrupt-*") if not p.name.endswith(("-wal", "-shm")))


def integrity(path: Path) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def filled(path: Path, n: int = 300) -> None:
    with SQLiteStore(path) as store:
        for i in range(n):
            store.save("hints", f"k{i}", {"i": i, "pad": "x" * 500})


# --- the Store protocol ------------------------------------------------------------------


@MODES
def test_round_trip_per_namespace_delete_and_reopen(tmp_path: Path, write_behind: bool) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path, write_behind=write_behind)
    assert store.path == path and store.recovered_from is None
    assert store.load("hints") == {}
    hint = {"provider": "p", "model": "m", "blacklisted": True, "params": ["seed"], "n": 1.5, "none": None}
    store.save("hints", "p/m/chat", hint)
    store.save("hints", "p/m2/chat", {"n": 1})
    store.save("breakers", "p/m/chat", {"state": "open"})
    store.save("hints", "p/m2/chat", {"n": 2})  # overwrites
    assert store.load("hints") == {"p/m/chat": hint, "p/m2/chat": {"n": 2}}
    assert store.load("breakers") == {"p/m/chat": {"state": "open"}}
    assert store.load("other") == {}
    store.delete("hints", "p/m2/chat")
    store.delete("hints", "never-there")
    store.flush()
    assert store.counts() == {"hints": 1, "breakers": 1}
    store.close()
    store.close()  # a second close does nothing
    with pytest.raises(RuntimeError):
        store.save("hints", "late", {})

    again = SQLiteStore(path, write_behind=write_behind)
    assert again.load("hints") == {"p/m/chat": hint}
    assert again.load("breakers") == {"p/m/chat": {"state": "open"}}
    again.close()
    assert integrity(path) == [("ok",)]


def test_wal_and_full_sync_and_one_table(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "state.db"  # parents are created
    with SQLiteStore(path) as store:
        store.save("n", "k", {})
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        cols = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
        assert cols == ["namespace", "key", "value", "updated_at"]
        (at,) = conn.execute("SELECT updated_at FROM records").fetchone()
        assert abs(at - time.time()) < 60


def test_a_value_that_is_not_json_raises_and_is_not_saved(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.raises(TypeError):
            store.save("n", "k", {"x": object()})
        assert store.load("n") == {}


# --- corruption -------------------------------------------------------------------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(64 * 1024))


def _truncated(path: Path) -> None:
    filled(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _other_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()


def _our_table_other_columns(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE records (k TEXT, v TEXT)")
    conn.commit()
    conn.close()


def _garbage_with_wal(path: Path) -> None:
    filled(path, 10)
    path.write_bytes(b"not a database at all" * 100)
    Path(f"{path}-wal").write_bytes(b"junk wal")
    Path(f"{path}-shm").write_bytes(b"junk shm")


@pytest.mark.parametrize("damage", [_random_bytes, _truncated, _other_schema, _our_table_other_columns, _garbage_with_wal])
def test_a_bad_file_is_moved_aside_logged_and_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Any) -> None:
    path = tmp_path / "state.db"
    damage(path)
    before = path.read_bytes()
    had_wal = Path(f"{path}-wal").exists()
    with caplog.at_level(logging.ERROR, logger="llm_runner_router.edge.store"):
        store = SQLiteStore(path)
    (moved,) = aside(path)
    assert store.recovered_from == moved and moved.read_bytes() == before
    assert moved.name.startswith("state.db.corrupt-")
    if had_wal:
        assert Path(f"{moved}-wal").read_bytes() == b"junk wal" and Path(f"{moved}-shm").exists()
    (entry,) = corrupt_logs(caplog)
    assert entry["level"] == "ERROR" and entry["error"]["context"]["moved_to"] == str(moved)

    assert store.load("hints") == {}
    store.save("hints", "k", {"ok": True})
    store.close()
    with SQLiteStore(path) as again:
        assert again.load("hints") == {"k": {"ok": True}} and again.recovered_from is None
    assert integrity(path) == [("ok",)]


def test_a_second_corruption_the_same_second_gets_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _random_bytes(path)
    SQLiteStore(path).close()
    _random_bytes(path)
    SQLiteStore(path).close()
    assert len(aside(path)) == 2


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", "42"])
def test_a_bad_row_is_skipped_logged_copied_aside_and_deleted(tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        store.save("hints", "good", {"a": 1})
        store.save("hints", "bad", {"b": 2})
        store.save("breakers", "x", {"c": 3})
        store._conn.execute("UPDATE records SET value = ? WHERE key = 'bad'", (bad,))
    with caplog.at_level(logging.ERROR, logger="llm_runner_router.edge.store"), SQLiteStore(path) as store:
        assert store.load("hints") == {"good": {"a": 1}}
        assert store.load("breakers") == {"x": {"c": 3}}
        (entry,) = corrupt_logs(caplog)
        assert entry["error"]["context"]["key"] == "bad"
        (copy,) = aside(path)
        assert store.recovered_from == copy
        conn = sqlite3.connect(copy)
        assert conn.execute("SELECT value FROM records WHERE key = 'bad'").fetchone() == (bad,)  # the evidence is kept
        conn.close()
        store.save("hints", "new", {"d": 4})
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="llm_runner_router.edge.store"), SQLiteStore(path) as store:
        assert store.load("hints") == {"good": {"a": 1}, "new": {"d": 4}}
        assert corrupt_logs(caplog) == []  # the bad row is gone: the next start is clean


def test_corruption_met_after_opening_is_recovered_and_the_operation_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path)
    for i in range(300):
        store.save("hints", f"k{i}", {"pad": "x" * 500})
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as f:  # another hand overwrites every page after the header
        f.seek(4096)
        f.write(os.urandom(path.stat().st_size - 4096))
    store._conn.execute("PRAGMA shrink_memory")  # so the pages are read again
    with caplog.at_level(logging.ERROR, logger="llm_runner_router.edge.store"):
        assert store.load("hints") == {}
        store.save("hints", "after", {"ok": True})
    assert len(corrupt_logs(caplog)) == 1 and store.recovered_from == aside(path)[0]
    assert store.load("hints") == {"after": {"ok": True}}
    store.close()
    assert integrity(path) == [("ok",)]


# --- durability across kill -9 -------------------------------------------------------------

CHILD = """
import sys
from llm_runner_router.edge.store import SQLiteStore
path, write_behind, start = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
store = SQLiteStore(path, write_behind=write_behind)
i = start
while True:
    group = [f"k{j}" for j in range(i, i + (7 if write_behind else 1))]
    for key in group:
        store.save("hints", key, {"key": key, "pad": "x" * 300})
    store.flush()  # nothing to wait for in synchronous mode
    print(" ".join(group), flush=True)  # acknowledged: save() (and flush()) returned
    i += len(group)
"""


@MODES
def test_every_acknowledged_save_survives_kill_9(tmp_path: Path, write_behind: bool) -> None:
    path = tmp_path / "state.db"
    rng = random.Random(1)
    acknowledged: set[str] = set()
    for round_ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), "1" if write_behind else "0", str(round_ * 100_000)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        wanted, seen = rng.randint(5, 40), 0
        deadline = time.monotonic() + 60
        while seen < wanted and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "child exited"
            acknowledged.update(line.split())
            seen += 1
        os.kill(child.pid, signal.SIGKILL)  # mid-way: it keeps saving until the signal lands
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err
        for line in out.splitlines():
            acknowledged.update(line.split())

        with SQLiteStore(path) as store:
            assert store.recovered_from is None
            stored = store.load("hints")
        missing = acknowledged - stored.keys()
        assert not missing, f"round {round_}: {len(missing)} acknowledged saves lost"
        assert all(stored[k] == {"key": k, "pad": "x" * 300} for k in acknowledged)
        assert integrity(path) == [("ok",)]
    assert aside(path) == []


# --- write-behind -------------------------------------------------------------------------------


def test_write_behind_commits_on_flush_on_a_full_batch_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path, write_behind=True, batch_interval=30.0, batch_size=5)
    for i in range(3):
        store.save("n", f"k{i}", {"i": i})
    time.sleep(0.1)
    assert store.counts() == {}  # queued, not yet committed: not durable
    store.flush()
    assert store.counts() == {"n": 3}  # acknowledged
    for i in range(3, 8):  # five more: a full batch goes without waiting for the interval
        store.save("n", f"k{i}", {"i": i})
    deadline = time.monotonic() + 10
    while store.counts().get("n") != 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.counts() == {"n": 8}
    store.delete("n", "k0")
    store.save("n", "last", {"last": True})
    assert store.load("n")["last"] == {"last": True} and "k0" not in store.load("n")  # load() reads its own writes
    store.save("n", "at-close", {})
    store.close()  # flushes
    with SQLiteStore(path) as again:
        assert set(again.load("n")) == {f"k{i}" for i in range(1, 8)} | {"last", "at-close"}


def test_write_behind_commits_within_the_batch_interval_and_keeps_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db", write_behind=True, batch_interval=0.05)
    for i in range(50):
        store.save("n", "k", {"i": i})  # the last write wins: order is kept
    store.save("n", "gone", {})
    store.delete("n", "gone")
    deadline = time.monotonic() + 5
    while store.counts().get("n") != 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert store.counts() == {"n": 1}
    assert store.load("n") == {"k": {"i": 49}}
    store.close()


def test_a_failed_batch_is_logged_and_raised_by_the_next_flush(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path, write_behind=True, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock past busy_timeout
    with caplog.at_level(logging.ERROR, logger="llm_runner_router.edge.store"):
        store.save("n", "lost", {})
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.flush()
    assert any(r.getMessage() == "learned-state batch not written" for r in caplog.records)
    other.execute("ROLLBACK")
    other.close()
    store.flush()  # the error was reported once
    store.save("n", "kept", {})
    assert store.load("n") == {"kept": {}}
    store.close()


# --- threads -----------------------------------------------------------------------------------


@MODES
def test_concurrent_saves_from_many_threads(tmp_path: Path, write_behind: bool) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path, write_behind=write_behind)
    per_thread = 40 if not write_behind else 400
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                store.save(f"ns{t % 2}", f"t{t}-{i}", {"t": t, "i": i})
                if i % 10 == 0:
                    store.load(f"ns{t % 2}")
                    store.delete(f"ns{t % 2}", f"t{t}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    store.flush()
    kept = per_thread - len(range(0, per_thread, 10))
    assert store.counts() == {"ns0": 3 * kept, "ns1": 3 * kept}
    store.close()
    assert integrity(path) == [("ok",)]


# --- the core's learned state, through the store -----------------------------------------------

KEY = ("openai", "codex-mini", "chat/completions")


@MODES
def test_hints_and_breakers_come_back_after_reopen(tmp_path: Path, write_behind: bool) -> None:
    path = tmp_path / "state.db"
    clock = ManualClock()
    store = SQLiteStore(path, write_behind=write_behind)
    hints = CompatibilityHints(HintsConfig(), clock, store)
    breakers = Breakers(BreakerConfig(failure_threshold=1, cooldown=100), clock, store)
    for _ in range(5):
        hints.record_error(KEY, catalogue.API_MODEL_NOT_FOUND.error(), "chat/completions")
    hints.record_error(("a", "b", "c"), catalogue.API_UNSUPPORTED_PARAMETER.error(param="seed"), "c")
    breakers.get(KEY).record_failure(reason="boom")
    assert hints.blocked(KEY) is not None and breakers.get(KEY).state is BreakerState.OPEN
    store.close()

    clock.advance(30)
    store = SQLiteStore(path, write_behind=write_behind)
    hints = CompatibilityHints(HintsConfig(), clock, store)
    breakers = Breakers(BreakerConfig(failure_threshold=1, cooldown=100), clock, store)
    blocked = hints.blocked(KEY)
    assert blocked is not None and "blacklisted" in blocked.message
    assert hints.strip_params(("a", "b", "c"), {"seed": 1, "top_p": 1}) == {"top_p": 1}
    b = breakers.get(KEY)
    assert b.state is BreakerState.OPEN and abs(b.retry_after() - 70) < 1e-6
    assert b.trips == 1 and len(b.transitions) == 1
    assert store.counts() == {"hints": 2, "breakers": 1}
    store.close()
