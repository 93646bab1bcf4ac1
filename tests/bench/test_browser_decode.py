"""bench/browser_decode.py's pure parts: prompt, summaries, targets, checks, rendering, the static server.

No browser and no timing assertion: the benchmark itself runs with `python -m bench.browser_decode`.
"""

from __future__ import annotations

import importlib.util
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench import browser_decode as bd


def sample(tok_s: float | None, ttft: float = 500.0, new: int = 128, prompt: int = 38, **extra: Any) -> dict[str, Any]:
    return {"decode_tok_s": tok_s, "ttft_ms": ttft, "new_tokens": new, "prompt_tokens": prompt, **extra}


def fake_result() -> dict[str, Any]:
    by_runtime = {
        "ours_wasm": {"1": bd.summarize([sample(12.0), sample(14.0)]), "2": bd.summarize([sample(22.0), sample(24.0), sample(20.0)])},
        "bare_ort": {"2": bd.summarize([sample(23.0), sample(25.0), sample(24.0)])},
        "transformers_js": {"2": bd.summarize([sample(17.0), sample(18.0), sample(19.0)])},
        "wllama": {"2": bd.summarize([sample(10.0, ttft=2400.0), sample(11.0, ttft=2300.0), sample(12.0, ttft=2500.0)])},
        "ours_webgpu": {"2": bd.summarize([sample(3.0, ttft=4000.0)])},
    }
    head = bd.headline(by_runtime)
    return {
        **head,
        "targets": bd.targets(head, {"transformers_js": 1.2, "bare_ort": 0.93}),
        "runtimes": by_runtime,
        "startup": {
            "what": "pyodide+core+engine",
            "threads": 2,
            "cold": bd.summarize_startup([{"ready_ms": 9000.0, "runtime_ms": 6000.0, "engine_ms": 8000.0, "first_token_ms": 9500.0}]),
            "warm": bd.summarize_startup([{"ready_ms": 5000.0, "runtime_ms": 4500.0, "engine_ms": 4000.0, "first_token_ms": 5400.0}]),
        },
        "method": {
            "prompt": bd.PROMPT,
            "max_new_tokens": 128,
            "eos": "ignored",
            "runs": 3,
            "warmup": 1,
        },
        "versions": {
            "chromium": "Chromium 156",
            "onnxruntime-web": "1.30.0",
            "@huggingface/transformers": "4.3.1",
            "@wllama/wllama": "3.8.1",
        },
        "notes": [],
        "meta": {"date": "2026-11-22", "cpus": 2, "load_average_at_start": [1.0, 1.0, 1.0], "duration_s": 900.0},
    }


def test_chatml_prompt_puts_the_default_system_message_first() -> None:
    text = bd.chatml(bd.messages("Hi."), "You are helpful")
    assert text == "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nHi.<|im_end|>\n<|im_start|>assistant\n"
    assert bd.chatml([{"role": "system", "content": "S"}], "default").startswith("<|im_start|>system\nS<|im_end|>")
    assert bd.chatml(bd.messages("Hi."), None).startswith("<|im_start|>user\n")


def test_summarize_takes_medians_and_leaves_failed_runs_out() -> None:
    runs = [sample(10.0, ttft=300.0), sample(30.0, ttft=100.0), sample(20.0, ttft=200.0), {"error": "boom"}, sample(None)]
    fig = bd.summarize(runs, {"load_ms": 1234.567})
    assert fig["tok_s"] == 20.0 and fig["ttft_ms"] == 200.0
    assert fig["runs"] == 3 and fig["tok_s_runs"] == [10.0, 30.0, 20.0]
    assert fig["prompt_tokens"] == 38 and fig["new_tokens"] == 128
    assert fig["load_ms"] == 1234.6
    assert fig["errors"] == ["boom"]
    assert "self_reported_tok_s" not in fig
    assert bd.summarize([sample(5.0, self_reported={"decode_tok_s": 6.0})])["self_reported_tok_s"] == 6.0


def test_summarize_with_no_good_run_has_no_figures() -> None:
    fig = bd.summarize([{"error": "x"}])
    assert fig["tok_s"] is None and fig["ttft_ms"] is None and fig["runs"] == 0 and fig["new_tokens"] is None


def test_paired_ratio_uses_only_rounds_where_both_ran() -> None:
    rounds = [
        {"ours_wasm": {"decode_tok_s": 20.0}, "bare_ort": {"decode_tok_s": 20.0}},
        {"ours_wasm": {"decode_tok_s": 18.0}, "bare_ort": {"decode_tok_s": 20.0}},
        {"ours_wasm": {"decode_tok_s": 30.0}},
        {"ours_wasm": {"error": "x"}, "bare_ort": {"decode_tok_s": 20.0}},
    ]
    assert bd.paired_ratio(rounds, "ours_wasm", "bare_ort") == 0.95
    assert bd.paired_ratio(rounds, "ours_wasm", "wllama") is None


def test_headline_and_targets() -> None:
    res = fake_result()
    assert res["ours_wasm_tok_s"] == 22.0
    assert res["bare_ort_tok_s"] == 24.0
    assert res["transformers_js_tok_s"] == 18.0
    assert res["wllama_tok_s"] == 11.0
    vp, vb = res["targets"]["vs_best_peer"], res["targets"]["vs_bare_ort"]
    assert vp["best_peer"] == "transformers_js" and vp["ratio"] == pytest.approx(22 / 18, abs=1e-3) and vp["met"] is True
    assert vp["paired_ratio"] == 1.2
    assert vb["ratio"] == pytest.approx(22 / 24, abs=1e-3) and vb["met"] is True and vb["paired_ratio"] == 0.93
    slow = bd.targets({"ours_wasm_tok_s": 15.0, "transformers_js_tok_s": 18.0, "wllama_tok_s": None, "bare_ort_tok_s": 24.0})
    assert slow["vs_best_peer"]["met"] is False and slow["vs_bare_ort"]["met"] is False
    # A ratio of medians over the target does not count when the per-round ratios fall short.
    edge = bd.targets(
        {"ours_wasm_tok_s": 31.4, "transformers_js_tok_s": 26.1, "wllama_tok_s": 16.0, "bare_ort_tok_s": 27.3}, {"transformers_js": 1.17}
    )
    assert edge["vs_best_peer"]["ratio"] > 1.2 and edge["vs_best_peer"]["met"] is False
    unmeasured = bd.targets({"ours_wasm_tok_s": None, "transformers_js_tok_s": 18.0, "wllama_tok_s": 11.0, "bare_ort_tok_s": 24.0})
    assert unmeasured["vs_best_peer"]["met"] is None and unmeasured["vs_bare_ort"]["ratio"] is None


def test_leading_agreement() -> None:
    assert bd.leading_agreement([1, 2, 3, 4], [1, 2, 9, 4]) == 2
    assert bd.leading_agreement([1, 2], [1, 2, 3]) == 2
    assert bd.leading_agreement(None, [1]) is None


def test_checks_flag_short_runs_and_disagreeing_prompts() -> None:
    res = fake_result()
    res["runtimes"]["ours_wasm"]["2"]["new_tokens"] = 100
    res["runtimes"]["wllama"]["2"]["prompt_tokens"] = 39
    rounds = {
        "2": [{"bare_ort": {"token_ids": [5, 6, 7]}, "ours_wasm": {"token_ids": [5, 6, 8]}, "transformers_js": {"token_ids": [5, 6, 7]}}]
    }
    loads = {"2": {"bare_ort": {"prompt_ids": [1, 2, 3]}, "transformers_js": {"prompt_ids": [1, 2, 3]}}}
    c = bd.checks(res, rounds, loads, 128)
    assert c["all_full_length"] is False and c["short_runs"] == ["ours_wasm@2: 100 < 128 new tokens"]
    assert c["same_prompt_length"] is False
    assert c["same_prompt_ids"] is True
    assert c["greedy_tokens_agreeing_with_bare_ort"] == {"ours_wasm@2": 2, "transformers_js@2": 3}


def test_summarize_startup() -> None:
    st = bd.summarize_startup([{"ready_ms": 3.0, "engine_ms": 2.0}, {"ready_ms": 5.0, "engine_ms": 4.0}, {"error": "x"}])
    assert st["runs"] == 2 and st["ready_ms"] == 4.0 and st["engine_ms"] == 3.0 and st["errors"] == ["x"]
    assert "runtime_ms" not in st


def test_runtime_configs_name_what_each_page_loads() -> None:
    manifest = {"config": {"num_kv_heads": 3, "head_dim": 64}}
    for rt in (*bd.WASM_RUNTIMES, "ours_webgpu"):
        cfg = bd.runtime_config(rt, 2, "prompt", manifest)
        assert cfg["threads"] == 2 and cfg["promptText"] == "prompt"
        assert bd.PAGE[rt] in ("ours", "bare_ort", "transformers_js", "wllama")
        assert (bd.ROOT / "bench" / "browser" / f"{bd.PAGE[rt]}.js").exists()
    assert bd.runtime_config("ours_webgpu", 2, "p", manifest)["ep"] == "webgpu"
    assert bd.runtime_config("bare_ort", 1, "p", manifest)["kvHeads"] == 3


def test_table_and_doc_section_render_every_runtime() -> None:
    res = fake_result()
    text = bd.table(res)
    for rt in ("ours_wasm", "bare_ort", "transformers_js", "wllama", "ours_webgpu"):
        assert bd.LABEL[rt] in text
    assert "target ≥ 1.2: met" in text
    section = bd.doc_section(res, "python -m bench.browser_decode", bd.PLOT)
    assert section.startswith(bd.DOC_START) and section.endswith(bd.DOC_END)
    assert "](img/browser_decode.svg)" in section
    assert "| **ours (WASM)** | 13.0 | 500 | 22.0 | 500 |" in section
    assert "| cold (fresh profile) | 9,000 |" in section
    assert "ours ≥ 1.2× the best peer (transformers_js)" in section


def test_a_runtime_that_failed_to_load_is_named_with_its_error() -> None:
    res = fake_result()
    res["runtimes"]["ours_webgpu"]["2"] = bd.summarize([], {"error": "EngineError: no adapter"})
    assert res["runtimes"]["ours_webgpu"]["2"]["errors"] == ["load: EngineError: no adapter"]
    section = bd.doc_section(res, "python -m bench.browser_decode", None)
    assert "| ours (WebGPU, SwiftShader) | – | – | – | – | 0 | – / – |" in section  # no figure at 1 or 2 threads
    assert "Failed: ours (WebGPU, SwiftShader): load: EngineError: no adapter." in section
    assert "![" not in section


def test_update_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nintro\n", encoding="utf-8")
    bd.update_doc(f"{bd.DOC_START}\nfirst\n{bd.DOC_END}", doc)
    doc.write_text(doc.read_text(encoding="utf-8") + "\n## other\n\nkept\n", encoding="utf-8")
    bd.update_doc(f"{bd.DOC_START}\nsecond\n{bd.DOC_END}", doc)
    text = doc.read_text(encoding="utf-8")
    assert text.count(bd.DOC_START) == 1 and "second" in text and "first" not in text and "kept" in text


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plot_writes_an_svg(tmp_path: Path) -> None:
    path = bd.plot(fake_result(), tmp_path / "img" / "plot.svg")
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_server_isolates_pages_and_serves_module_and_wasm_types(tmp_path: Path) -> None:
    (tmp_path / "a.mjs").write_text("export {};\n")
    (tmp_path / "b.wasm").write_bytes(b"\0asm\1\0\0\0")
    with bd.serve(tmp_path) as base:
        for name, mime in (("a.mjs", "text/javascript"), ("b.wasm", "application/wasm")):
            with urllib.request.urlopen(f"{base}/{name}", timeout=10) as r:
                assert r.headers["Content-Type"].startswith(mime)
                assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
                assert r.headers["Cross-Origin-Resource-Policy"] == "same-origin"
