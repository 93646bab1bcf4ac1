"""Engine failures end to end: what web/lib/engine/errors.js reports, named by the core.

The page's JavaScript reads no failure text; it reports stage, execution
provider and message, and llm_web.bridge.error_from_js asks the core's one
pattern table (core/classify.py). This runs the real errors.js under Node on
what onnxruntime-web, WebGPU and Emscripten throw, and checks the code Python
gives each report, so a change of shape on either side fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import ErrorSpec
from llm_runner_router.web.bridge import error_from_js

ROOT = Path(__file__).resolve().parent.parent.parent
ERRORS_JS = ROOT / "web" / "lib" / "engine" / "errors.js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

# (what the engine's dependency throws, as a JS expression; stage; ep; the code it means)
CASES: list[tuple[str, str, str | None, ErrorSpec]] = [
    ("new Error('Aborted(OOM)')", "session", "wasm", catalogue.WASM_OUT_OF_MEMORY),
    ("new RangeError('Array buffer allocation failed')", "run", "wasm", catalogue.WASM_OUT_OF_MEMORY),
    ("new RangeError('Array buffer allocation failed')", "run", "webgpu", catalogue.WEBGPU_OUT_OF_MEMORY),
    ("new RangeError('WebAssembly.Memory(): could not allocate memory')", "session", "wasm", catalogue.WASM_OUT_OF_MEMORY),
    ("new Error('GPUOutOfMemoryError: out of memory')", "run", "webgpu", catalogue.WEBGPU_OUT_OF_MEMORY),
    ("'failed to allocate a buffer: out of memory'", "session", "webgpu", catalogue.WEBGPU_OUT_OF_MEMORY),
    ("'failed to allocate a buffer: out of memory'", "session", None, catalogue.RUNTIME_MEMORY_EXHAUSTED),
    ("new Error('Device was lost: The GPU device was lost (reason: destroyed)')", "run", "webgpu", catalogue.WEBGPU_DEVICE_LOST),
    ("new Error('Error while parsing WGSL: unresolved type f16')", "session", "webgpu", catalogue.WEBGPU_PIPELINE_FAILED),
    ("new Error(\"Feature 'shader-f16' is not supported\")", "session", "webgpu", catalogue.WEBGPU_NO_F16),
    (
        "new Error('Buffer size (3000000000) exceeds the max buffer size limit (maxBufferSize: 2147483648)')",
        "session",
        "webgpu",
        catalogue.WEBGPU_LIMITS,
    ),
    (
        "new Error('no available backend found. ERR: [webgpu] Error: WebGPU is not supported in current environment')",
        "session",
        "webgpu",
        catalogue.WEBGPU_UNAVAILABLE,
    ),
    ("new Error('Failed to get GPU adapter. You may need to enable flag')", "session", "webgpu", catalogue.WEBGPU_UNAVAILABLE),
    (
        "new Error(\"Could not find an implementation for MatMulNBits(1) node with name 'x'\")",
        "session",
        "wasm",
        catalogue.ONNX_UNSUPPORTED_OP,
    ),
    (
        'new Error("Can\'t create a session. ERROR_CODE: 7, ERROR_MESSAGE: Failed to load model because protobuf parsing failed.")',
        "session",
        "wasm",
        catalogue.ONNX_INVALID_MODEL,
    ),
    ("new Error('SharedArrayBuffer is not defined')", "session", "wasm", catalogue.WASM_NO_THREADS),
    ("new Error('CompileError: WebAssembly.instantiate(): expected magic word')", "session", "wasm", catalogue.WASM_LOAD_FAILED),
    ("new TypeError('Failed to fetch dynamically imported module: https://x/ort.mjs')", "import", None, catalogue.ONNX_RUNTIME_MISSING),
    ("new Error('failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: Non-zero status code')", "run", "wasm", catalogue.ONNX_RUN_FAILED),
    ('new Error("Can\'t create a session. ERROR_CODE: 1")', "session", "wasm", catalogue.ONNX_SESSION_FAILED),
    ("new Error('HTTP 503')", "fetch", None, catalogue.NET_DOWNLOAD_FAILED),
    ("new Error('no adapter')", "probe", None, catalogue.WEBGPU_UNAVAILABLE),
    ("12345", "run", "wasm", catalogue.ONNX_RUN_FAILED),
    ("undefined", "session", "wasm", catalogue.ONNX_SESSION_FAILED),
]


def reports() -> list[dict[str, Any]]:
    """What toEngineError() makes of each case, as the JSON the engine hands over."""
    thrown = ",\n".join(f"[{expression}, {json.dumps(stage)}, {json.dumps(ep)}]" for expression, stage, ep, _ in CASES)
    script = (
        f"const {{ toEngineError }} = await import({json.dumps(ERRORS_JS.as_uri())});\n"
        f"const cases = [\n{thrown}\n];\n"
        "console.log(JSON.stringify(cases.map(([err, stage, ep]) => toEngineError(err, stage, { ep: ep ?? undefined }))));\n"
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=60)
    data: list[dict[str, Any]] = json.loads(out.stdout)
    return data


def test_every_engine_report_gets_the_cores_code() -> None:
    got = [error_from_js(report) for report in reports()]
    for (expression, stage, ep, spec), err in zip(CASES, got, strict=True):
        assert err.spec is spec, f"{expression} at {stage} on {ep}: {err.code}, not {spec.code}"
        assert err.context["stage"] == stage and err.context.get("ep") == ep
