"""Smoke test of bench/edge_throughput.py: a tiny run of both sides on the real model, no timing assertions.

It starts the edge server as a process and loads the model in-process too (the
default SmolLM2-135M-Instruct, fetched by build/fetch_model.py), then streams
2 requests of 8 tokens at concurrency 1 on each side.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.edge_throughput import DOC_END, DOC_START, public, run_smoke, update_doc
from llm_runner_router.edge.model_fetch import ensure_model

MAX_TOKENS = 8
REQUESTS = 2


@pytest.fixture(scope="module")
def result() -> dict:
    ensure_model(progress=False)
    return run_smoke(max_tokens=MAX_TOKENS, requests=REQUESTS)


def test_result_has_the_json_shape(result: dict) -> None:
    out = public(result)
    assert set(out) >= {"concurrency_1", "meta", "checks"}
    assert "_samples" not in out
    figures = out["concurrency_1"]
    for key in ("ours_tok_s", "inprocess_tok_s", "ratio", "ours_ttft_ms_p50", "inprocess_ttft_ms_p50"):
        assert isinstance(figures[key], float), key
        assert math.isfinite(figures[key]) and figures[key] > 0, key
    assert figures["requests"] == {"ours": REQUESTS, "inprocess": REQUESTS}
    meta = out["meta"]
    assert meta["n_threads"] >= 1 and meta["n_ctx"] > 0
    assert meta["sampling"]["temperature"] == 0.0 and meta["sampling"]["max_tokens"] == MAX_TOKENS


def test_both_sides_generated_tokens(result: dict) -> None:
    samples = result["_samples"]
    assert {s.side for s in samples} == {"ours", "inprocess"}
    for s in samples:
        assert s.completion_tokens > 0 and s.chunks > 0, s
        assert s.first is not None and s.last is not None and s.issued <= s.first <= s.last <= s.done, s
        assert s.completion_tokens <= MAX_TOKENS
    tokens = result["concurrency_1"]["completion_tokens"]
    assert tokens["ours"] > 0 and tokens["inprocess"] > 0
    assert result["checks"]["all_generated"] is True


def test_update_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- other:start -->\nkept\n<!-- other:end -->\n", encoding="utf-8")
    update_doc(f"{DOC_START}\nfirst\n{DOC_END}", doc)
    update_doc(f"{DOC_START}\nsecond\n{DOC_END}", doc)
    text = doc.read_text(encoding="utf-8")
    assert text.count(DOC_START) == 1 and text.count(DOC_END) == 1
    assert "second" in text and "first" not in text
    assert "kept" in text
