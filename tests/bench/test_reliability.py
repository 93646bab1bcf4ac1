"""The reliability suite's pure parts: reading and judging answers, figures, wrk's summary, durability checks, rendering.

No timing assertions and no servers: the suite itself runs end to end as
``make reliability`` (``bench/reliability.py --quick``, part of ``make test``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from bench import _reliability as rel
from bench import harness, reliability
from bench import reliability_chaos as chaos
from bench import reliability_crash as crash
from bench import reliability_load as load
from llm_runner_router.edge.testing import fault_provider as fp

KNOWN = fp.DEFAULT_ANSWER

# --- shared figures -------------------------------------------------------------------------------------


def test_summary_in_milliseconds() -> None:
    s = rel.summary_ms([0.010, 0.020, 0.030])
    assert s == {"n": 3, "p50_ms": 20.0, "p90_ms": 28.0, "p99_ms": 29.8, "max_ms": 30.0}
    assert rel.summary_ms([])["n"] == 0 and math.isnan(rel.summary_ms([])["p50_ms"])


def test_targets_and_tables() -> None:
    targets = {"a": rel.target("0", 0, True), "b": rel.target("≥ 1", 0, False)}
    assert not rel.all_met(targets) and rel.all_met({"a": targets["a"]})
    table = rel.targets_table(targets)
    assert "| a | 0 | 0 | met |" in table and "**not met**" in table
    assert rel.fmt_num(12345) == "12,345" and rel.fmt_num(1.25, 1) == "1.2" and rel.fmt_num(math.nan) == "–"
    assert rel.md_table(["x", "n"], [("row", 3)]).splitlines() == ["| x | n |", "|---|---:|", "| row | 3 |"]


def test_prometheus_samples_and_sums() -> None:
    text = (
        "# HELP llm_breaker_transitions_total Circuit breaker state transitions.\n"
        "# TYPE llm_breaker_transitions_total counter\n"
        'llm_breaker_transitions_total{breaker="p/m/chat",to="open"} 3\n'
        'llm_breaker_transitions_total{breaker="s/m/chat",to="open"} 1\n'
        'llm_breaker_transitions_total{breaker="p/m/chat",to="closed"} 2\n'
        "llm_requests 5\n"
    )
    samples = rel.parse_prometheus(text)
    assert ("llm_requests", {}, 5.0) in samples
    assert rel.metric_sum(samples, "llm_breaker_transitions_total", to="open") == 4
    assert rel.metric_sum(samples, "llm_breaker_transitions_total", breaker="p/m/chat") == 5


def test_result_paths_keep_quick_runs_away_from_the_committed_figures() -> None:
    assert rel.result_path("chaos", quick=False) == rel.RESULTS / "reliability_chaos.json"
    assert rel.result_path("chaos", quick=True).parent == rel.QUICK_RESULTS != rel.RESULTS


# --- chaos: reading and judging answers -----------------------------------------------------------------


def sse(obj: dict[str, Any] | str) -> str:
    return "data: " + (obj if isinstance(obj, str) else json.dumps(obj))


def chunk(text: str | None = None, finish: str | None = None, x: dict[str, Any] | None = None) -> str:
    delta = {"content": text} if text is not None else {}
    body: dict[str, Any] = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if x:
        body["x_llm"] = x
    return sse(body)


def streamed(lines: list[str]) -> chaos.Outcome:
    reader = chaos.StreamReader()
    for line in lines:
        reader.feed(line)
    out = chaos.Outcome(0, "r", True, http_status=200)
    reader.into(out)
    return out


PIECES = fp.pieces(KNOWN)


def test_a_switched_stream_reads_as_one_answer() -> None:
    lines = [chunk(p) for p in PIECES[:3]]
    lines.append(chunk(x={"event": "switch", "from": "a", "to": "b", "code": "LLM_STREAM_001_E"}))
    lines += [chunk(p) for p in PIECES[3:]]
    lines += [chunk(finish="stop", x={"status": "complete", "deployment": "b", "attempts": 2}), sse("[DONE]")]
    out = streamed(lines)
    assert (out.text, out.switches, out.attempts, out.deployment, out.saw_end) == (KNOWN, 1, 2, "b", True)
    assert chaos.judge(out) == "ok"


def test_a_restart_discards_what_the_client_held() -> None:
    lines = [chunk(p) for p in PIECES[:2]]
    held = len("".join(PIECES[:2]))
    lines.append(chunk(x={"event": "restart", "from": "a", "to": "b", "discard_chars": held, "code": "LLM_API_006_E"}))
    lines += [chunk(p) for p in PIECES]
    lines += [chunk(finish="stop", x={"status": "complete", "deployment": "b", "attempts": 2}), sse("[DONE]")]
    reader = chaos.StreamReader()
    for line in lines:
        reader.feed(line)
    assert reader.restarts == 1 and reader.discard_mismatch == 0 and reader.text == KNOWN


def test_an_error_event_after_text_is_an_honest_failure() -> None:
    lines = [chunk(p) for p in PIECES[:2]]
    lines += [sse({"error": {"code": "LLM_STREAM_008_E", "message": "incomplete"}, "x_llm": {"status": "incomplete"}}), sse("[DONE]")]
    out = streamed(lines)
    assert out.error_code == "LLM_STREAM_008_E" and out.incomplete and chaos.judge(out) == "error"


def test_judging_complete_answers() -> None:
    def complete(text: str) -> chaos.Outcome:
        out = chaos.Outcome(0, "r", False, http_status=200, text=text, finish_reason="stop", x_status="complete", saw_end=True)
        return out

    assert chaos.judge(complete(KNOWN)) == "ok"
    assert chaos.judge(complete(KNOWN[:20])) == "truncated_marked_complete"
    cut = "".join(PIECES[:4])
    assert chaos.judge(complete(cut + cut[-6:] + KNOWN[len(cut) :])) == "duplicated"
    assert chaos.judge(complete(KNOWN[:10] + KNOWN[25:])) == "lost"
    no_end = complete(KNOWN)
    no_end.saw_end = False
    assert chaos.judge(no_end) == "dropped"
    broken = complete("")
    broken.transport_error = "RemoteProtocolError: peer closed connection"
    assert chaos.judge(broken) == "dropped"
    marked_nothing = complete(KNOWN)
    marked_nothing.x_status = None
    assert chaos.judge(marked_nothing) == "dropped"


def test_compare_text_counts_extra_and_missing() -> None:
    assert chaos.compare_text(KNOWN, KNOWN) == chaos.TextVerdict(True, False, 0, 0)
    v = chaos.compare_text("The quick quick brown", "The quick brown")
    assert (v.equal, v.prefix, v.extra_chars, v.missing_chars) == (False, False, 6, 0)
    v = chaos.compare_text("The brown", "The quick brown")
    assert (v.extra_chars, v.missing_chars) == (0, 6)
    assert chaos.compare_text("The qu", "The quick brown").prefix


def test_reading_whole_answers_and_errors() -> None:
    out = chaos.Outcome(1, "r", False)
    body = {
        "choices": [{"message": {"content": KNOWN}, "finish_reason": "stop"}],
        "x_llm": {"status": "complete", "deployment": "b", "attempts": 3, "events": [{"event": "switch"}, {"event": "restart"}]},
    }
    chaos.read_whole(out, 200, body)
    assert (out.text, out.attempts, out.switches, out.restarts) == (KNOWN, 3, 1, 1) and chaos.judge(out) == "ok"
    err = chaos.Outcome(2, "r", False)
    chaos.read_whole(err, 502, {"error": {"code": "LLM_STREAM_008_E", "incomplete": True, "partial_text": "The"}})
    assert (err.error_code, err.incomplete, err.text) == ("LLM_STREAM_008_E", True, "The") and chaos.judge(err) == "error"


def test_draws_respect_what_applies() -> None:
    import random

    rng = random.Random(1)
    kinds = {chaos.draw_fault(rng, has_prefix=False).kind for _ in range(3000)}
    assert kinds == set(chaos.DRAWN_KINDS) - {"reject_prefill"}
    assert "reject_prefill" in {chaos.draw_fault(rng, has_prefix=True).kind for _ in range(3000)}
    assert "down" not in chaos.DRAWN_KINDS  # scheduled by the run, not drawn


def test_a_deck_holds_the_rate_exactly_in_random_places() -> None:
    import random

    rng = random.Random(3)
    decks = [chaos.deck(rng, 0.35) for _ in range(50)]
    assert all(len(d) == chaos.DECK and sum(d) == 7 for d in decks)
    assert len({tuple(d) for d in decks}) > 40  # shuffled, not one fixed pattern
    assert sum(chaos.deck(rng, 0.0)) == 0


def test_the_primary_journals_what_each_request_met(tmp_path: Path) -> None:
    import httpx

    journal = tmp_path / "journal.jsonl"
    provider = fp.FaultProvider()
    state = chaos.RandomFaults(fp.DEFAULT_ANSWER, fp.DEFAULT_MODEL, rate=0.5, seed=1, journal=journal)
    state.refuse_hook = provider.state.refuse_hook
    provider.state, provider.app = state, fp.build_app(state)
    body = {"model": fp.DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with provider:
        for i in range(chaos.DECK):
            with contextlib.suppress(httpx.HTTPError):  # a fault may reset or hold the connection
                httpx.post(provider.base_url + "/chat/completions", json=body, headers={"X-Request-ID": f"chaos-{i:06d}"}, timeout=0.5)
        httpx.get(provider.base_url + "/models", timeout=10)  # not a generating request: not journaled
    records = chaos.read_journal(journal)
    assert [r["headers"]["x-request-id"] for r in records] == [f"chaos-{i:06d}" for i in range(chaos.DECK)]
    assert sum(1 for r in records if r["fault"]) == chaos.DECK // 2  # one deck: exactly the rate
    assert set(chaos.faults_by_request(records)) == {f"chaos-{i:06d}" for i in range(chaos.DECK)}


def test_schedule_spreads_kills_and_every_way_of_going_down() -> None:
    plan = chaos.schedule(10_000, kills=4)
    assert [what for _, what in plan].count("kill") == 4
    assert {what for _, what in plan if what.startswith("down:")} == {f"down:{how}" for how in chaos.DOWN_WAYS}
    assert [at for at, _ in plan] == sorted(at for at, _ in plan) and all(0 < at < 10_000 for at, _ in plan)


def ok_outcome(i: int, attempts: int = 1, deployment: str = chaos.PRIMARY, latency: float = 0.05) -> chaos.Outcome:
    return chaos.Outcome(
        i, f"chaos-{i:06d}", i % 2 == 0, 200, KNOWN, "stop", "complete", deployment, attempts, saw_end=True, latency_s=latency
    )


def primary_record(i: int, fault: str | None) -> dict[str, Any]:
    return {"endpoint": "chat/completions", "headers": {"x-request-id": f"chaos-{i:06d}"}, "fault": fault}


def fake_analysis() -> dict[str, Any]:
    outcomes = [ok_outcome(0), ok_outcome(1, attempts=2, deployment=chaos.SECONDARY, latency=0.5), ok_outcome(2)]
    filtered = chaos.Outcome(3, "chaos-000003", False, 400, error_code=chaos.CONTENT_FILTERED, saw_end=True)
    log = [primary_record(0, None), primary_record(1, "cut"), primary_record(2, None), primary_record(3, "content_filter")]
    return chaos.analyse([*outcomes, filtered], log)


def test_analyse_counts_refusals_apart_and_measures_failover() -> None:
    a = fake_analysis()
    assert (a["requests"], a["answerable"], a["answered"], a["refused_content_filter"]) == (4, 3, 3, 1)
    assert a["primary_responses"] == 4 and a["primary_faulted"] == 2 and a["primary_fault_share"] == 0.5
    assert a["primary_faults_by_kind"] == {"content_filter": 1, "cut": 1}
    assert a["recovered_after_failed_attempt"] == 1
    assert a["latency"]["added_by_failover_p50_ms"] == pytest.approx(450.0)
    assert a["by_fault_kind"]["cut"]["answered"] == 1


def fake_chaos_result() -> dict[str, Any]:
    a = fake_analysis()
    return {
        "meta": {"command": "python -m bench.reliability_chaos --quick", "machine": harness.machine(), "duration_s": 1.0},
        "plan": {"requests": 4, "concurrency": 16, "fault_rate": chaos.FAULT_RATE},
        "edge_settings": chaos.edge_settings("p", "s", 16),
        "warmup_requests": 10,
        "wall_s": 1.0,
        "throughput_rps": 4.0,
        **a,
        "breakers": {"trips": 1, "half_opens": 1, "recoveries": 1},
        "disruptions": {"kills": [{"at_request": 2, "down_s": 1.0}], "downs": [], "errors": []},
        "memory": {
            "rss_after_boot_mib": 40.0,
            "rss_after_warmup_mib": 42.0,
            "rss_end_mib": 43.0,
            "growth_mib": 1.0,
            "bound_mib": chaos.MEMORY_BOUND_MIB,
            "samples": [{"requests": 2, "rss_mib": 42.5}],
        },
        "targets": {"answered": rel.target("100%", "3/3", True)},
    }


def test_chaos_render_names_its_command_and_figures() -> None:
    text = chaos.render(fake_chaos_result())
    assert text.startswith("## Chaos")
    assert "`python -m bench.reliability_chaos --quick`" in text
    assert "| requests answered / answerable | 3 / 3 |" in text
    assert "added by failover" in text and "reliability_chaos.json" in text


# --- load: wrk's summary ----------------------------------------------------------------------------------

WRK_OUT = (
    "Running 3s test @ http://127.0.0.1:1/v1/chat/completions\n"
    'WRK_JSON {"duration_us": 2000000, "requests": 110, "bytes": 5000, "statuses": {"200": 10, "429": 100}, '
    '"no_retry_after": 0, "errors": {"connect": 0, "read": 0, "write": 0, "status": 100, "timeout": 0}, '
    '"latency_us": {"p50": 1500.0, "p90": 2500.0, "p99": 9000.0, "max": 12000.0, "mean": 1800.0}}\n'
)


def test_parse_wrk_reads_statuses_errors_and_latency() -> None:
    r = load.parse_wrk(WRK_OUT)
    assert (r["ok"], r["rejected_429"], r["server_errors_5xx"], r["socket_errors_total"]) == (10, 100, 0, 0)
    assert r["throughput_rps"] == 5.0 and r["offered_rps"] == 55.0
    assert r["error_rate"] == pytest.approx(100 / 110, abs=1e-5)
    assert r["latency_ms"]["p50"] == 1.5 and r["latency_ms"]["p99"] == 9.0
    with pytest.raises(RuntimeError):
        load.parse_wrk("no summary here")


def test_the_lua_script_counts_what_the_targets_need() -> None:
    for needle in ('headers["Retry-After"]', "statuses[status]", "latency:percentile(99)", "WRK_JSON", "summary.errors"):
        assert needle in load.WRK_LUA


def fake_load_result() -> dict[str, Any]:
    sustained = load.parse_wrk(WRK_OUT.replace('"429": 100', '"429": 0').replace('"status": 100', '"status": 0'))
    full = load.parse_wrk(WRK_OUT)
    rec = {"queue_empty_after_s": 0.1, "first_answer_after_s": 0.2, "then_requests": 3, "then_statuses": {200: 3}}
    rec["then_latency"] = rel.summary_ms([0.01, 0.02, 0.03])
    kind: dict[str, Any] = {"body": load.chat_body("chat", 8), "baseline": rel.summary_ms([0.01])}
    kind["sustained"] = sustained | {"command": "wrk -t2 -c4 -d3s --timeout=30s -s chat.lua v1/chat/completions", "recovery": rec}
    kind["queue_full"] = full | {"command": "wrk -t2 -c32 -d3s --timeout=30s -s chat.lua v1/chat/completions", "recovery": rec}
    meta = {"command": "python -m bench.reliability_load --quick", "machine": harness.machine()}
    result = {"meta": meta, "small_queue": load.SMALL_QUEUE}
    result["instant"] = kind
    result["targets"] = load._targets_for("instant", kind)
    return result


def test_load_targets_and_render() -> None:
    result = fake_load_result()
    assert all(t["met"] for t in result["targets"].values()), result["targets"]
    broken = json.loads(json.dumps(result))
    broken["instant"]["queue_full"]["server_errors_5xx"] = 1
    broken["instant"]["queue_full"]["then_statuses"] = {}
    assert not load._targets_for("instant", broken["instant"])["instant_queue_full_only_429"]["met"]
    text = load.render(result)
    assert text.startswith("## Load") and "`python -m bench.reliability_load --quick`" in text
    assert "| instant, queue full |" in text and "-t2 -c32 -d3s" in text


# --- crash: durability checks ----------------------------------------------------------------------------


def test_lost_records_are_missing_or_older() -> None:
    seen = {("hints", "a"): (10.0, "{}"), ("hints", "b"): (10.0, "{}"), ("breakers", "c"): (10.0, "{}")}
    after = {("hints", "a"): (11.0, "{}"), ("breakers", "c"): (9.0, "{}")}
    assert crash.lost_records(seen, after) == ["hints/b: missing", "breakers/c: updated_at 9.0 < 10.0"]
    assert crash.lost_records(seen, seen) == []


def test_acknowledged_saves_must_be_found_as_new_or_newer() -> None:
    assert crash.record_key(0) == ("hints", "key-0") and crash.record_key(1) == ("breakers", "key-1")
    assert crash.record_key(crash.KEYS) == crash.record_key(0)
    floor = crash.expected_floor(crash.KEYS + 5)
    assert len(floor) == crash.KEYS and floor[crash.record_key(5)] == crash.KEYS + 5 and floor[crash.record_key(6)] == 6
    stored = {rec: {"run": 3, "n": n} for rec, n in floor.items()}
    assert crash.missing_acks(stored, 3, crash.KEYS + 5) == []
    stored[crash.record_key(6)] = {"run": 3, "n": 5}  # older than acknowledged
    del stored[crash.record_key(7)]
    assert len(crash.missing_acks(stored, 3, crash.KEYS + 5)) == 2
    assert crash.missing_acks({rec: {"run": 4, "n": 0} for rec in floor}, 3, crash.KEYS + 5) == []  # a later run's values are newer
    assert crash.expected_floor(2) == {crash.record_key(0): 0, crash.record_key(1): 1, crash.record_key(2): 2}


def test_hint_outcomes_count_successes_and_failures() -> None:
    assert crash.hint_outcomes([json.dumps({"success_count": 3, "error_count": 2}), json.dumps({"success_count": 1})]) == 6


def test_integrity_and_copies_of_a_database(tmp_path: Path) -> None:
    from llm_runner_router.edge.store import SQLiteStore

    db = tmp_path / "router.db"
    with SQLiteStore(db) as store:
        store.save("hints", "k", {"success_count": 1})
    assert crash.integrity(db) == "ok"
    copy = crash.copy_db(db, tmp_path / "copy")
    assert crash.read_records(copy)[("hints", "k")][1] == '{"success_count":1}'
    import random

    crash.corrupt(copy, random.Random(1))
    assert crash.integrity(copy) != "ok"
    assert crash.set_aside(tmp_path) == []


def test_crash_render() -> None:
    result = {
        "meta": {"command": "python -m bench.reliability_crash --quick", "machine": harness.machine(), "duration_s": 20.0},
        "server": {
            "kills": 4,
            "answered_during": 300,
            "hint_outcomes_stored": 290,
            "integrity_failures": [],
            "set_aside_at_restart": [],
            "records_seen_committed_before_kills": 12,
            "records_lost": 0,
            "records_committed_after_the_read": 0,
            "restart": rel.summary_ms([0.7, 0.8]),
            "uptime_per_cycle_s": 0.6,
        },
        "store": {
            "kills": {"write-behind": 6, "sync": 6},
            "acknowledged_records_checked": {"write-behind": 100, "sync": 200},
            "integrity_failures": [],
            "lost": [],
        },
        "corrupted_file": {
            "records_before": 2,
            "while_running": {"answered_after_corruption": 10, "set_aside": []},
            "after_restart": {"recovered_from": "router.db.corrupt-1", "records_in_fresh_file": {"hints": 1}, "answered": 5},
            "fresh_file_integrity": "ok",
            "errors_total": {},
        },
        "targets": {"corrupt_stores": rel.target("0", 0, True)},
    }
    text = crash.render(result)
    assert text.startswith("## Crash durability") and "`python -m bench.reliability_crash --quick`" in text
    assert "| write-behind | 6 | 100 | 0 | 0 |" in text and "router.db.corrupt-1" in text


# --- the one command ---------------------------------------------------------------------------------------


def fake_part(name: str, met: bool = True, fails: bool = False) -> ModuleType:
    def run(quick: bool) -> dict[str, Any]:
        if fails:
            raise RuntimeError(f"{name} broke")
        mode = "quick" if quick else "full"
        return {"meta": {"mode": mode, "duration_s": 60}, "targets": {f"{name}_target": rel.target("0", 0 if met else 1, met)}}

    def render(result: dict[str, Any]) -> str:
        return f"## {name.title()}\n\nrendered {name} ({result['meta']['mode']})\n"

    module = ModuleType(f"reliability_{name}")
    module.run = run  # type: ignore[attr-defined]
    module.render = render  # type: ignore[attr-defined]
    return module


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setattr(rel, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(rel, "QUICK_RESULTS", tmp_path / "quick")
    monkeypatch.setattr(reliability, "DOC", tmp_path / "reliability.md")
    return SimpleNamespace(root=tmp_path)


def test_the_command_runs_parts_in_order_writes_json_and_the_page(sandbox: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []

    def loader(name: str) -> ModuleType | None:
        ran.append(name)
        return None if name == "security" else fake_part(name)

    assert reliability.main(["--only", "crash,chaos,security"], loader=loader) == 0
    assert ran[:3] == ["chaos", "crash", "security"]
    assert json.loads((sandbox.root / "results" / "reliability_chaos.json").read_text())["targets"]["chaos_target"]["met"]
    page = (sandbox.root / "reliability.md").read_text()
    assert page.startswith("# Reliability") and "## How to run it" in page and "## Summary" in page
    assert page.index("## Chaos") < page.index("## Crash") and "rendered chaos (full)" in page
    out = capsys.readouterr().out
    assert "chaos_target" in out and "every target met" in out and "security.py is not there" in out


def test_a_missed_target_or_a_failing_part_fails_the_command(sandbox: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    assert reliability.main(["--quick", "--only", "load"], loader=lambda n: fake_part(n, met=False)) == 1
    assert (sandbox.root / "quick" / "reliability_load.json").exists() and not (sandbox.root / "results").exists()
    assert not (sandbox.root / "reliability.md").exists()  # quick runs leave the page alone
    assert reliability.main(["--quick", "--only", "chaos,load"], loader=lambda n: fake_part(n, fails=n == "chaos")) == 1
    out = capsys.readouterr().out
    assert "chaos broke" in out and "TARGETS MISSED" in out


def test_the_page_uses_committed_figures_for_parts_not_run(sandbox: SimpleNamespace) -> None:
    assert reliability.main(["--only", "load"], loader=fake_part) == 0
    assert reliability.main(["--only", "chaos"], loader=fake_part) == 0
    page = (sandbox.root / "reliability.md").read_text()
    assert "## Chaos" in page and "## Load" in page  # load from bench/results, chaos from this run


def test_summary_rows_and_printing() -> None:
    results = {"chaos": {"targets": {"t": rel.target("0", 2, False)}}, "load": {"error": "Traceback ...\nRuntimeError: no wrk"}}
    rows = reliability.summary_rows(results)
    assert rows == [("chaos", "t", "0", "2", "NO"), ("load", "(the part failed)", "", "RuntimeError: no wrk", "no")]
    buf = io.StringIO()
    reliability.print_summary(results, buf)
    assert "RuntimeError: no wrk" in buf.getvalue()
    assert not reliability.passed(results)
    with pytest.raises(SystemExit):
        reliability.main(["--only", "nonsense"])
