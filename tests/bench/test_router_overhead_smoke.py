"""Smoke test of bench/router_overhead.py: our side only (no LiteLLM), no timing assertions."""

from __future__ import annotations

from pathlib import Path

from bench.router_overhead import CHUNKS, DOC_END, DOC_START, run_ours, update_doc

N = 300


def test_our_side_streams_every_request_completely() -> None:
    res = run_ours(iterations=N, warmup=20)
    for side in ("ours", "ours_backend_only"):
        figures = res[side]
        assert {"p50_us", "p99_us"} <= set(figures)
        assert all(isinstance(figures[k], float) for k in ("p50_us", "p99_us"))
        assert 0 < figures["p50_us"] <= figures["p99_us"]
        assert figures["requests"] == N
    # Every request streamed all 16 chunks as Deltas and ended with Done(status="complete").
    assert CHUNKS == 16
    assert dict(res["outcomes"]) == {(CHUNKS, "complete"): N}
    assert res["checks"]["backend_chunks"] == {str(CHUNKS): N}
    assert "litellm" not in res


def test_update_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nintro\n", encoding="utf-8")
    update_doc(f"{DOC_START}\nfirst\n{DOC_END}", doc)
    doc.write_text(doc.read_text(encoding="utf-8") + "\n## other\n\nkept\n", encoding="utf-8")
    update_doc(f"{DOC_START}\nsecond\n{DOC_END}", doc)
    text = doc.read_text(encoding="utf-8")
    assert text.count(DOC_START) == 1 and text.count(DOC_END) == 1
    assert "second" in text and "first" not in text
    assert "intro" in text and "kept" in text
