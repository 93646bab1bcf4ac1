#!/usr/bin/env python3
"""Crash durability: SIGKILL during heavy writes of learned state, again and again; then a corrupted file.

Three parts, each with real processes:

1. **The server, killed.** ``python -m llm_runner_router`` in front of a primary
   upstream that fails half its responses (the chaos bench's FaultProvider
   with random faults) and a healthy secondary, with a breaker that opens on
   every failure and closes on the next success (so breaker records are
   written all the time) and a compatibility hint written on every outcome
   -- learned state is what the server stores (edge_server/store.py,
   write-behind: committed in batches within 50 ms). Six client threads keep
   requests coming. Each cycle: start the server on the same data directory,
   let it work for a random 0.3-1.0 s, read the records **seen committed** by
   an independent read-only SQLite connection, SIGKILL the server at once,
   then check a copy of the files (``PRAGMA integrity_check``; every record
   seen committed is there, as new or newer) and start it again (a file it
   found corrupt would be set aside as ``router.db.corrupt-*``: counted).
   The server never acknowledges a write to a client (it flushes at shutdown
   only), so "committed, as another reader saw it" is what it promised here:
   the store's contract is that a committed batch survives kill -9.
2. **The store, killed after acknowledging.** A child process drives
   llm_runner_router.edge.store.SQLiteStore directly, saving hint and breaker records as
   fast as it can, and prints ``ACK n`` once record n is acknowledged by the
   contract: in write-behind mode (the server's) when a ``flush()`` called
   after it returns, in synchronous mode when ``save()`` returns. It is
   SIGKILLed at a random moment; a fresh open must pass the integrity check
   and hold every acknowledged record (or a newer value of its key).
3. **A corrupted file.** The database is overwritten with garbage under the
   running server, requests keep coming, then the server is killed and
   started again on it: the file must be set aside (``*.corrupt-*``), a fresh
   one built, and every request answered throughout.

Usage::

    python -m bench.reliability_crash            # 100 server kills, 100 store kills
    python -m bench.reliability_crash --quick    # 4 + 12, well under a minute

Writes bench/results/reliability_crash.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import _reliability as rel
from bench import harness
from bench import reliability_chaos as chaos
from llm_runner_router.edge.testing import fault_provider as fp
from llm_runner_router.edge.testing.servers import ProcessServer, free_port

ROOT = Path(__file__).resolve().parent.parent

NAME = "crash"
MODULE = "bench.reliability_crash"
FULL: dict[str, Any] = {"server_kills": 100, "store_kills": 100, "seed": 7}
QUICK: dict[str, Any] = {"server_kills": 4, "store_kills": 12, "seed": 7}
CLIENT_THREADS = 6
Record = tuple[str, str]  # (namespace, key)


# --- reading a database file (pure apart from the file) -------------------------------------------------


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a database file: "ok", or what is wrong (a file that is no database included)."""
    try:
        conn = sqlite3.connect(path, timeout=10)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "; ".join(str(r[0]) for r in rows)


def read_records(path: Path, readonly: bool = False) -> dict[Record, tuple[float, str]]:
    """Every record of a store file: (namespace, key) -> (updated_at, value JSON)."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT namespace, key, updated_at, value FROM records").fetchall()
    finally:
        conn.close()
    return {(str(ns), str(key)): (float(at), str(value)) for ns, key, at, value in rows}


def lost_records(seen: Mapping[Record, tuple[float, str]], after: Mapping[Record, tuple[float, str]]) -> list[str]:
    """Records seen committed that are missing afterwards, or older than they were (pure)."""
    lost = []
    for rec, (at, _) in seen.items():
        now = after.get(rec)
        if now is None:
            lost.append(f"{rec[0]}/{rec[1]}: missing")
        elif now[0] < at:
            lost.append(f"{rec[0]}/{rec[1]}: updated_at {now[0]} < {at}")
    return lost


def copy_db(db: Path, dest_dir: Path) -> Path:
    """The database and its -wal and -shm files, copied as they are (nobody has them open)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            shutil.copy2(src, dest_dir / (db.name + suffix))
    return dest_dir / db.name


def set_aside(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.glob("*.corrupt-*"))


# --- 1. the server, killed -------------------------------------------------------------------------------


def crash_settings(primary_url: str, secondary_url: str) -> dict[str, Any]:
    """Settings that make the server write learned state all the time."""

    def provider(url: str) -> dict[str, Any]:
        return {"kind": "openai", "base_url": url + "/v1", "connect_timeout": 1.0, "read_timeout": 5.0}

    return {
        "retry": {"max_attempts": 1, "deadline": 30},
        # Opens on every failure, half-opens 50 ms later, closes on one success: a breaker record per transition.
        "breaker": {"failure_threshold": 1, "cooldown": 0.05, "max_cooldown": 0.05, "success_threshold": 1},
        "stream": {"first_token_timeout": 1.0, "stall_timeout": 0.5},
        "cache": {"enabled": False},
        "monitor": {"max_concurrency": 16, "queue_size": 64},
        "logging": {"level": "ERROR"},
        "providers": {"primary": provider(primary_url), "secondary": provider(secondary_url)},
        "deployments": {
            "primary-chat": {"provider": "primary", "model": fp.DEFAULT_MODEL, "accepts_prefix": True},
            "secondary-chat": {"provider": "secondary", "model": fp.DEFAULT_MODEL, "accepts_prefix": True},
        },
        "aliases": {"chat": {"deployments": ["primary-chat", "secondary-chat"]}},
    }


class Traffic:
    """Client threads sending requests to one URL until stopped; connection errors (server down) are expected."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url + "/v1/chat/completions"
        self.stop = threading.Event()
        self.answered = 0
        self.refused = 0  # while the server is down
        self.errors: dict[int, int] = {}  # HTTP status -> count, for anything but 200
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _loop(self, n: int) -> None:
        body = {"model": "chat", "messages": [{"role": "user", "content": f"client {n}"}], "stream": n % 2 == 0}
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=1.0)) as client:
            while not self.stop.is_set():
                try:
                    response = client.post(self.url, json=body)
                    status = response.status_code
                except httpx.HTTPError:
                    with self._lock:
                        self.refused += 1
                    self.stop.wait(0.02)
                    continue
                with self._lock:
                    if status == 200:
                        self.answered += 1
                    else:
                        self.errors[status] = self.errors.get(status, 0) + 1


@dataclass
class ServerKills:
    kills: int = 0
    integrity_failures: list[str] = field(default_factory=list)
    set_aside_at_restart: list[str] = field(default_factory=list)
    seen_committed: int = 0  # records read from the live file just before a kill, summed over kills
    lost: list[str] = field(default_factory=list)
    newer_after_kill: int = 0  # records committed between the read and the kill
    answered: int = 0
    restart_s: list[float] = field(default_factory=list)
    uptime_s: list[float] = field(default_factory=list)
    records_at_end: dict[str, int] = field(default_factory=dict)
    hint_outcomes: int = 0  # successes and failures the stored hints count at the end: each one was a write


def hint_outcomes(values: Iterable[str]) -> int:
    """The outcomes (success_count + error_count) that stored hint records count (pure)."""
    total = 0
    for text in values:
        hint = json.loads(text)
        total += int(hint.get("success_count", 0)) + int(hint.get("error_count", 0))
    return total


def kill_server_repeatedly(kills: int, rng: random.Random, work: Path, say: Any) -> ServerKills:
    out = ServerKills()
    primary = chaos.ProviderProcess(0.5, rng.randrange(1 << 30), work / "primary.log")
    secondary = chaos.ProviderProcess(0.0, 0, work / "secondary.log")
    data = work / "data"
    db = data / "router.db"
    config = work / "crash.json"
    try:
        primary.start()
        secondary.start()
        config.write_text(json.dumps(crash_settings(primary.url, secondary.url)), encoding="utf-8")
        server = ProcessServer(["--config", str(config)], {"LLM_ROUTER_DATA_DIR": str(data)}, port=free_port())
        with Traffic(server.url, CLIENT_THREADS) as traffic:
            for cycle in range(kills):
                t0 = time.monotonic()
                server.start()
                out.restart_s.append(time.monotonic() - t0)
                out.set_aside_at_restart += set_aside(data)
                up = rng.uniform(0.3, 1.0)
                time.sleep(up)
                out.uptime_s.append(up)
                seen = read_records(db, readonly=True) if db.exists() else {}
                server.kill9()
                out.kills += 1
                copy = copy_db(db, work / "check" / str(cycle))
                verdict = integrity(copy)
                if verdict != "ok":
                    out.integrity_failures.append(f"kill {cycle + 1}: {verdict}")
                after = read_records(copy)
                out.seen_committed += len(seen)
                out.lost += [f"kill {cycle + 1}: {line}" for line in lost_records(seen, after)]
                out.newer_after_kill += sum(1 for rec, (at, _) in after.items() if rec not in seen or at > seen[rec][0])
                shutil.rmtree(copy.parent)
                if (cycle + 1) % 10 == 0 or cycle + 1 == kills:
                    say(f"server: {cycle + 1}/{kills} kills, {traffic.answered} answered")
            server.start()  # once more: the file it finds after the last kill
            out.set_aside_at_restart += set_aside(data)
            out.answered = traffic.answered
        server.stop()
        final = read_records(db)
        out.records_at_end = {}
        for ns, _ in final:
            out.records_at_end[ns] = out.records_at_end.get(ns, 0) + 1
        out.hint_outcomes = hint_outcomes(value for (ns, _), (_, value) in final.items() if ns == "hints")
    finally:
        primary.stop()
        secondary.stop()
    out.set_aside_at_restart = sorted(set(out.set_aside_at_restart))
    return out


# --- 2. the store, killed after acknowledging ----------------------------------------------------------

KEYS = 40  # keys the writer cycles through (half hints, half breakers)


def record_key(n: int) -> Record:
    """The record that save number ``n`` writes (pure): keys cycle, namespaces alternate."""
    k = n % KEYS
    return ("hints" if k % 2 == 0 else "breakers", f"key-{k}")


def writer(path: Path, mode: str, run: int, seed: int) -> int:
    """The child: save records as fast as possible, print ``ACK n`` when save n is acknowledged. Never returns by itself."""
    from llm_runner_router.edge.store import SQLiteStore

    rng = random.Random(seed)
    store = SQLiteStore(path, write_behind=(mode == "write-behind"))
    print("READY", flush=True)
    n = 0
    next_flush = rng.randint(1, 50)
    while True:
        ns, key = record_key(n)
        store.save(ns, key, {"run": run, "n": n, "pad": "x" * rng.randint(0, 400)})
        if mode == "sync":
            print(f"ACK {n}", flush=True)
        elif n >= next_flush:
            store.flush()
            print(f"ACK {n}", flush=True)
            next_flush = n + rng.randint(1, 50)
        n += 1


def expected_floor(last_ack: int) -> dict[Record, int]:
    """For each key, the save number it must hold at least, given every save up to ``last_ack`` was acknowledged (pure)."""
    floor: dict[Record, int] = {}
    for n in range(max(0, last_ack - KEYS + 1), last_ack + 1):
        floor[record_key(n)] = n
    return floor


def missing_acks(stored: Mapping[Record, Mapping[str, Any]], run: int, last_ack: int) -> list[str]:
    """Acknowledged saves of this run not found in the stored values (pure)."""
    lost = []
    for rec, n in expected_floor(last_ack).items():
        value = stored.get(rec)
        if value is None or (int(value.get("run", -1)), int(value.get("n", -1))) < (run, n):
            lost.append(f"{rec[0]}/{rec[1]}: acknowledged save {n}, found {value and {k: value[k] for k in ('run', 'n')}}")
    return lost


@dataclass
class StoreKills:
    kills: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)
    integrity_failures: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)


def kill_store_repeatedly(kills: int, rng: random.Random, work: Path, say: Any) -> StoreKills:
    from llm_runner_router.edge.store import SQLiteStore

    out = StoreKills()
    for mode in ("write-behind", "sync"):
        db = work / f"store-{mode}" / "router.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        out.kills[mode] = out.acknowledged[mode] = 0
        for run in range(kills // 2):
            cmd = [sys.executable, "-m", MODULE, "--writer", str(db), "--mode", mode, "--run", str(run)]
            cmd += ["--seed", str(rng.randrange(1 << 30))]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise RuntimeError(f"the writer did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(rng.uniform(0.1, 0.6))
            proc.send_signal(signal.SIGKILL)
            stdout, _ = proc.communicate(timeout=30)
            out.kills[mode] += 1
            acks = [int(line.split()[1]) for line in stdout.splitlines() if line.startswith("ACK ")]
            if not acks:
                continue
            out.acknowledged[mode] += len(acks)
            copy = copy_db(db, work / "check-store")
            verdict = integrity(copy)
            if verdict != "ok":
                out.integrity_failures.append(f"{mode} kill {run + 1}: {verdict}")
            shutil.rmtree(copy.parent)
            with SQLiteStore(db) as store:  # a fresh open: the store's own checks, as the server would make them
                stored: dict[Record, dict[str, Any]] = {}
                for ns in ("hints", "breakers"):
                    stored |= {(ns, key): value for key, value in store.load(ns).items()}
                if store.recovered_from is not None:
                    out.set_aside.append(str(store.recovered_from.name))
            out.lost += [f"{mode} kill {run + 1}: {line}" for line in missing_acks(stored, run, max(acks))]
        say(f"store ({mode}): {out.kills[mode]} kills, {out.acknowledged[mode]} acknowledged records checked")
    return out


# --- 3. a corrupted file ------------------------------------------------------------------------------------


def corrupt(path: Path, rng: random.Random) -> None:
    """Overwrite the file's first 64 KiB (header, schema and the table's first pages) with random bytes, in place."""
    size = max(path.stat().st_size, 4096)
    with path.open("r+b") as f:
        f.write(rng.randbytes(min(size, 65536)))
        f.flush()


def corrupted_file(rng: random.Random, work: Path, say: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    primary = chaos.ProviderProcess(0.0, 0, work / "healthy.log")
    data = work / "corrupt-data"
    db = data / "router.db"
    try:
        primary.start()
        config = work / "corrupt.json"
        settings = crash_settings(primary.url, primary.url)
        config.write_text(json.dumps(settings), encoding="utf-8")
        key = "reliability-admin"
        server = ProcessServer(["--config", str(config)], {"LLM_ROUTER_DATA_DIR": str(data), "LLM_ROUTER_API_KEY": key}, port=free_port())
        server.start()
        with Traffic(server.url, 4) as traffic:
            time.sleep(1.0)
            records_before = len(read_records(db, readonly=True))
            corrupt(db, rng)
            say("corrupt file: overwritten under the running server")
            answered_at_corruption = traffic.answered
            time.sleep(3.0)
            out["while_running"] = {
                "answered_after_corruption": traffic.answered - answered_at_corruption,
                "errors": dict(traffic.errors),
                "set_aside": set_aside(data),
            }
            server.kill9()
            refused_before_restart = traffic.refused
            t0 = time.monotonic()
            server.start()
            out["restart_s"] = round(time.monotonic() - t0, 2)
            answered_at_restart = traffic.answered
            time.sleep(2.0)
            diag = httpx.get(server.url + "/api/diagnostics", headers={"x-api-key": key}, timeout=10).json()
            store = diag.get("store", {})
            out["after_restart"] = {
                "answered": traffic.answered - answered_at_restart,
                "errors": dict(traffic.errors),
                "set_aside": set_aside(data),
                "recovered_from": Path(store["recovered_from"]).name if store.get("recovered_from") else None,
                "records_in_fresh_file": store.get("records"),
                "refused_while_down": traffic.refused - refused_before_restart,
            }
        server.stop()
        out["records_before"] = records_before
        out["fresh_file_integrity"] = integrity(db)
        out["answered_total"] = traffic.answered
        out["errors_total"] = dict(traffic.errors)
    finally:
        primary.stop()
    return out


# --- the run ----------------------------------------------------------------------------------------------


def run(quick: bool, *, server_kills: int | None = None, store_kills: int | None = None, progress_print: bool = True) -> dict[str, Any]:
    plan = dict(QUICK if quick else FULL)
    if server_kills is not None:
        plan["server_kills"] = server_kills
    if store_kills is not None:
        plan["store_kills"] = store_kills
    meta: dict[str, Any] = {"machine": harness.machine(), "mode": "quick" if quick else "full", "command": rel.command_line(MODULE, quick)}
    started = time.monotonic()
    rng = random.Random(int(plan["seed"]))

    def say(msg: str) -> None:
        if progress_print:
            print(f"[crash] {msg}", flush=True)

    with tempfile.TemporaryDirectory(prefix="reliability-crash-") as tmp:
        work = Path(tmp)
        server = kill_server_repeatedly(int(plan["server_kills"]), rng, work, say)
        store = kill_store_repeatedly(int(plan["store_kills"]), rng, work, say)
        corrupted = corrupted_file(rng, work, say)

    result: dict[str, Any] = {
        "meta": meta | {"load_average_1m_end": harness.load_average(), "duration_s": round(time.monotonic() - started, 1)},
        "plan": plan,
        "server": {
            "kills": server.kills,
            "answered_during": server.answered,
            "integrity_failures": server.integrity_failures,
            "set_aside_at_restart": server.set_aside_at_restart,
            "records_seen_committed_before_kills": server.seen_committed,
            "records_lost": len(server.lost),
            "lost": server.lost[:50],
            "records_committed_after_the_read": server.newer_after_kill,
            "restart": rel.summary_ms(server.restart_s),
            "uptime_per_cycle_s": round(sum(server.uptime_s) / max(1, len(server.uptime_s)), 2),
            "records_at_end": server.records_at_end,
            "hint_outcomes_stored": server.hint_outcomes,
        },
        "store": {
            "kills": store.kills,
            "acknowledged_records_checked": store.acknowledged,
            "integrity_failures": store.integrity_failures,
            "set_aside": store.set_aside,
            "records_lost": len(store.lost),
            "lost": store.lost[:50],
        },
        "corrupted_file": corrupted,
    }
    after = corrupted.get("after_restart", {})
    corrupt_stores = len(server.integrity_failures) + len(server.set_aside_at_restart)
    corrupt_stores += len(store.integrity_failures) + len(store.set_aside)
    lost = len(server.lost) + len(store.lost)
    errors = sum(corrupted.get("errors_total", {}).values())
    result["targets"] = {
        "corrupt_stores": rel.target("0", corrupt_stores, corrupt_stores == 0),
        "lost_acknowledged_records": rel.target("0", lost, lost == 0),
        "corrupted_file_set_aside_and_rebuilt": rel.target(
            "set aside, fresh file, integrity ok",
            f"{after.get('recovered_from')}, {corrupted.get('fresh_file_integrity')}",
            bool(after.get("recovered_from")) and corrupted.get("fresh_file_integrity") == "ok",
        ),
        "served_throughout": rel.target(
            "every request answered (no error status)",
            f"{corrupted.get('answered_total')} answered, {errors} errors",
            errors == 0 and after.get("answered", 0) > 0,
        ),
    }
    if not quick:
        result["targets"]["size"] = rel.target("≥ 100 server kills", server.kills, server.kills >= 100)
    return result


# --- the report -----------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    meta, srv, st, cf = result["meta"], result["server"], result["store"], result["corrupted_file"]
    wr, after = cf.get("while_running", {}), cf.get("after_restart", {})
    if wr.get("set_aside"):
        while_running = "set aside while running: " + ", ".join(wr["set_aside"])
    else:
        while_running = "the damage was not read while it ran: SQLite served the pages it had cached and wrote new ones to the WAL"
    lines = [
        "## Crash durability",
        "",
        f"`{meta['command']}` — three parts.",
        "",
        f"**The server, SIGKILLed {srv['kills']} times** during heavy writes of learned state: `python -m llm_runner_router` in front "
        "of a primary that fails half its responses and a healthy secondary, a breaker that opens on every failure and closes on "
        f"the next success, a hint written on every outcome, {CLIENT_THREADS} client threads; each cycle the server ran for "
        f"0.3–1.0 s (mean {srv['uptime_per_cycle_s']} s), the records an independent read-only connection saw committed were read, "
        "and the server was killed at once. The server acknowledges no write to a client (it flushes at shutdown), so what it "
        "promised is the store's contract: a committed batch survives kill -9.",
        "",
        rel.md_table(
            ["", "count"],
            [
                ("kills", srv["kills"]),
                ("requests answered during the cycles", srv["answered_during"]),
                ("outcomes the stored hints count at the end (each one a write)", srv["hint_outcomes_stored"]),
                ("copies after a kill failing `PRAGMA integrity_check`", len(srv["integrity_failures"])),
                ("files set aside as corrupt at restart", len(srv["set_aside_at_restart"])),
                ("records seen committed before a kill (summed over kills)", srv["records_seen_committed_before_kills"]),
                ("… missing or older after the kill", srv["records_lost"]),
                ("records committed between that read and the kill", srv["records_committed_after_the_read"]),
                ("restart to healthy, p50 / p99 ms", f"{rel.fmt_num(srv['restart']['p50_ms'])} / {rel.fmt_num(srv['restart']['p99_ms'])}"),
            ],
            align="lr",
        ),
        "",
        "**The store, SIGKILLed after acknowledging**: a child process saving hint and breaker records through "
        "`llm_runner_router.edge.store.SQLiteStore` as fast as it can, printing each record the contract acknowledges (write-behind, the "
        "server's mode: when a later `flush()` returns; synchronous: when `save()` returns), killed at a random moment, then "
        "opened afresh.",
        "",
        rel.md_table(
            ["mode", "kills", "acknowledged records checked", "integrity failures", "lost"],
            [
                (
                    mode,
                    st["kills"][mode],
                    st["acknowledged_records_checked"][mode],
                    sum(1 for f in st["integrity_failures"] if f.startswith(mode)),
                    sum(1 for f in st["lost"] if f.startswith(mode)),
                )
                for mode in st["kills"]
            ],
        ),
        "",
        f"**A corrupted file**: the first 64 KiB of `router.db` overwritten with random bytes under the running server "
        f"(records in it: {cf.get('records_before')}). In the next 3 s it answered {wr.get('answered_after_corruption')} requests "
        f"with no error ({while_running}). "
        f"Killed and started again on the file, it set it aside as `{after.get('recovered_from')}`, built a fresh one "
        f"(integrity: {cf.get('fresh_file_integrity')}; records in it after 2 s: {after.get('records_in_fresh_file')}) and answered "
        f"{after.get('answered')} requests in its first 2 s; errors over the whole part: {cf.get('errors_total') or 'none'}.",
        "",
        rel.targets_table(result["targets"]),
        "",
        f"{rel.machine_line(meta)}; {meta['duration_s']} s in all. Raw figures: "
        "[bench/results/reliability_crash.json](../bench/results/reliability_crash.json).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 server kills and 12 store kills (well under a minute)")
    ap.add_argument("--server-kills", type=int)
    ap.add_argument("--store-kills", type=int)
    ap.add_argument("--out", type=Path)
    # The store writer's own process (started by the run).
    ap.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("write-behind", "sync"), default="write-behind", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.writer is not None:
        return writer(args.writer, args.mode, args.run, args.seed)
    result = run(args.quick, server_kills=args.server_kills, store_kills=args.store_kills)
    path = rel.write_result(NAME, result, args.out)
    print(render(result))
    print(f"wrote {path}")
    return 0 if rel.all_met(result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
