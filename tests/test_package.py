"""The package's shape: one import package, its pinned public surface, imported by one name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import llm_runner_router
import llm_runner_router.edge
import llm_runner_router.web
from llm_runner_router import core

ROOT = Path(__file__).resolve().parent.parent

# The public surface. A change here is a change to what users import: make it on purpose.
CORE_ALL = [
    "HEARTBEAT", "AliasConfig", "AuthError", "Backend", "BackendChunk", "BackendRequest", "BreakerConfig", "BreakerState",
    "Breakers", "CacheConfig", "ChatRequest", "CircuitBreaker", "CircuitOpenError", "Clock", "CompatibilityHints",
    "Completion", "ConfigError", "CoreError", "DeadlineError", "Delta", "Deployment", "DeviceCapabilities", "Done",
    "EnginePlan", "ErrorSpec", "Filter", "GGUFError", "GpuAdapter", "Hint", "HintsConfig", "InferenceError", "LLMError",
    "LoggingConfig", "ManualClock", "MemoryStore", "Message", "ModelError", "ModelRequirements", "MonitorConfig",
    "NetworkError", "ONNXError", "ProviderConfig", "RateLimitError", "Recovery", "Registry", "ResourceError",
    "ResponseCache", "Restart", "RetryConfig", "RetryError", "RetryPolicy", "RetryState", "Router", "RouterMetrics",
    "Settings", "Severity", "Store", "StreamConfig", "StreamError", "StreamEvent", "Switch", "SystemClock", "Transition",
    "UpstreamAPIError", "Usage", "ValidationError", "WasmError", "WebGPUError", "catalogue", "classify", "classify_http",
    "classify_text", "plan_engines", "register_strategy", "strategy_names",
]  # fmt: skip
EDGE_ALL = [
    "EdgeSettings", "EdgeState", "LlamaCppBackend", "SQLiteStore", "ServerConfig", "UpstreamBackend", "build_state",
    "create_app", "default_settings", "ensure_model", "load_settings", "main", "make_app", "uvicorn_config",
]  # fmt: skip
WEB_ALL = [
    "MODEL", "BrowserEngineBackend", "JsEngine", "PageRouter", "chunk_from_js", "error_from_js", "event_to_dict",
    "plan_from_probe", "to_js_options",
]  # fmt: skip


def test_the_public_surface_is_pinned() -> None:
    assert sorted(core.__all__) == sorted(CORE_ALL)
    assert llm_runner_router.__all__ == ["__title__", "__version__", *core.__all__]
    assert sorted(llm_runner_router.edge.__all__) == sorted(EDGE_ALL)
    assert sorted(llm_runner_router.web.__all__) == sorted(WEB_ALL)


def test_every_exported_name_exists_and_is_the_cores_own() -> None:
    for name in core.__all__:
        assert getattr(llm_runner_router, name) is getattr(core, name)
    for name in EDGE_ALL:
        assert getattr(llm_runner_router.edge, name) is not None
    for name in WEB_ALL:
        assert getattr(llm_runner_router.web, name) is not None
    assert re.fullmatch(r"\d+\.\d+\.\d+", llm_runner_router.__version__)


def test_the_top_package_imports_no_server_dependency() -> None:
    """The browser loads llm_runner_router/__init__.py with the core: it must not pull in the edge server."""
    heavy = "('starlette', 'uvicorn', 'llama_cpp', 'llm_runner_router.edge')"
    probe = f"import sys, llm_runner_router; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# `import core.x` would load a second copy of a module (and of its exception classes)
# beside llm_runner_router.core.x; the parts are imported by their one name only.
_TOP_LEVEL_IMPORT = re.compile(r"^\s*(?:from|import)\s+(core|edge_server|llm_web)\b", re.M)


def test_no_module_imports_a_part_by_its_folder_name() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = [
        f"{rel}: {m.group(0).strip()}" for rel in tracked for m in _TOP_LEVEL_IMPORT.finditer((ROOT / rel).read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_python_dash_m_runs_the_command() -> None:
    out = subprocess.run([sys.executable, "-m", "llm_runner_router", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"llm-runner-router {llm_runner_router.__version__}", out.stderr
