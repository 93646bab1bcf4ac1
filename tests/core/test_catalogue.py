"""The catalogue: every code well-formed, unique, documented, and never renumbered."""

from __future__ import annotations

import re

import pytest

from llm_runner_router.core import catalogue
from llm_runner_router.core.errors import CATEGORIES, ErrorSpec, LLMError, Recovery, Severity

CODE_RE = re.compile(r"^LLM_[A-Z0-9]+_\d{3}_[IWECF]$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

EXPECTED_CATEGORIES = {
    "CORE", "MODEL", "RUNTIME", "NET", "TIMEOUT", "MEM", "AUTH", "RATE", "CONFIG",
    "VAL", "API", "CB", "RETRY", "WEBGPU", "WASM", "GGUF", "ONNX", "STREAM",
}  # fmt: skip

# Every code as it was first published. Codes are never renumbered: an entry
# here may never change (new entries are added at the end of their section).
PUBLISHED = {
    "CORE_INIT_FAILED": "LLM_CORE_001_E",
    "CORE_STORE_CORRUPT": "LLM_CORE_002_E",
    "CORE_DEADLOCK": "LLM_CORE_003_C",
    "CORE_HIGH_MEMORY": "LLM_CORE_004_W",
    "CORE_HEALING_FAILED": "LLM_CORE_005_E",
    "CORE_INTERNAL": "LLM_CORE_006_E",
    "CORE_CANCELLED": "LLM_CORE_007_I",
    "MODEL_NOT_FOUND": "LLM_MODEL_001_E",
    "MODEL_FORMAT_UNSUPPORTED": "LLM_MODEL_002_E",
    "MODEL_CORRUPT": "LLM_MODEL_003_C",
    "MODEL_TOO_LARGE": "LLM_MODEL_004_W",
    "MODEL_QUANTIZATION_FAILED": "LLM_MODEL_005_E",
    "MODEL_LOAD_FAILED": "LLM_MODEL_006_E",
    "MODEL_NOT_LOADED": "LLM_MODEL_007_E",
    "RUNTIME_TIMEOUT": "LLM_RUNTIME_001_E",
    "RUNTIME_MEMORY_EXHAUSTED": "LLM_RUNTIME_002_C",
    "RUNTIME_CONTEXT_LENGTH": "LLM_RUNTIME_003_E",
    "RUNTIME_TOKEN_LIMIT": "LLM_RUNTIME_004_W",
    "RUNTIME_INFERENCE_FAILED": "LLM_RUNTIME_005_E",
    "NET_CONNECTION_FAILED": "LLM_NET_001_E",
    "NET_DOWNLOAD_FAILED": "LLM_NET_002_E",
    "NET_SLOW": "LLM_NET_003_W",
    "NET_DNS_FAILED": "LLM_NET_004_C",
    "NET_CONNECTION_RESET": "LLM_NET_005_E",
    "NET_TLS_FAILED": "LLM_NET_006_E",
    "NET_UPSTREAM_ERROR": "LLM_NET_007_E",
    "NET_UNAVAILABLE": "LLM_NET_008_E",
    "NET_BAD_GATEWAY": "LLM_NET_009_E",
    "TIMEOUT_CONNECT": "LLM_TIMEOUT_001_E",
    "TIMEOUT_READ": "LLM_TIMEOUT_002_E",
    "TIMEOUT_FIRST_TOKEN": "LLM_TIMEOUT_003_E",
    "TIMEOUT_DEADLINE": "LLM_TIMEOUT_004_E",
    "TIMEOUT_IDLE": "LLM_TIMEOUT_005_W",
    "MEM_OUT_OF_MEMORY": "LLM_MEM_001_C",
    "MEM_CACHE_OVERFLOW": "LLM_MEM_002_E",
    "MEM_FRAGMENTATION": "LLM_MEM_003_W",
    "MEM_SWAP_FULL": "LLM_MEM_004_E",
    "MEM_QUOTA_EXCEEDED": "LLM_MEM_005_E",
    "AUTH_FAILED": "LLM_AUTH_001_E",
    "AUTH_SECURITY_VIOLATION": "LLM_AUTH_002_C",
    "AUTH_UPSTREAM_REJECTED": "LLM_AUTH_003_E",
    "AUTH_FORBIDDEN": "LLM_AUTH_004_E",
    "RATE_LIMITED": "LLM_RATE_001_E",
    "RATE_QUEUE_FULL": "LLM_RATE_002_E",
    "RATE_QUOTA_EXHAUSTED": "LLM_RATE_003_E",
    "RATE_NEAR_LIMIT": "LLM_RATE_004_W",
    "CONFIG_INVALID": "LLM_CONFIG_001_E",
    "CONFIG_DEPRECATED": "LLM_CONFIG_002_W",
    "CONFIG_ENVIRONMENT_MISMATCH": "LLM_CONFIG_003_E",
    "CONFIG_UNKNOWN_FIELD": "LLM_CONFIG_004_E",
    "CONFIG_MISSING_FIELD": "LLM_CONFIG_005_E",
    "CONFIG_PARSE": "LLM_CONFIG_006_E",
    "VAL_MALFORMED": "LLM_VAL_001_E",
    "VAL_MISSING_FIELD": "LLM_VAL_002_E",
    "VAL_WRONG_TYPE": "LLM_VAL_003_E",
    "VAL_OUT_OF_RANGE": "LLM_VAL_004_E",
    "VAL_EMPTY": "LLM_VAL_005_E",
    "VAL_TOO_LARGE": "LLM_VAL_006_E",
    "VAL_UNSUPPORTED": "LLM_VAL_007_E",
    "API_INVALID_RESPONSE": "LLM_API_001_E",
    "API_BAD_REQUEST": "LLM_API_002_E",
    "API_WRONG_ENDPOINT": "LLM_API_003_E",
    "API_UNSUPPORTED_PARAMETER": "LLM_API_004_E",
    "API_CONTENT_FILTERED": "LLM_API_005_E",
    "API_PREFILL_UNSUPPORTED": "LLM_API_006_E",
    "API_MODEL_NOT_FOUND": "LLM_API_007_E",
    "API_DEPRECATED": "LLM_API_008_W",
    "CB_OPEN": "LLM_CB_001_E",
    "CB_PROBES_BUSY": "LLM_CB_002_W",
    "CB_ISOLATED": "LLM_CB_003_W",
    "RETRY_EXHAUSTED": "LLM_RETRY_001_E",
    "RETRY_DEADLINE": "LLM_RETRY_002_E",
    "RETRY_ALL_FAILED": "LLM_RETRY_003_E",
    "RETRY_NO_CANDIDATE": "LLM_RETRY_004_E",
    "WEBGPU_UNAVAILABLE": "LLM_WEBGPU_001_E",
    "WEBGPU_OUT_OF_MEMORY": "LLM_WEBGPU_002_E",
    "WEBGPU_DEVICE_LOST": "LLM_WEBGPU_003_E",
    "WEBGPU_PIPELINE_FAILED": "LLM_WEBGPU_004_E",
    "WEBGPU_NO_F16": "LLM_WEBGPU_005_W",
    "WEBGPU_LIMITS": "LLM_WEBGPU_006_E",
    "WEBGPU_SOFTWARE_ADAPTER": "LLM_WEBGPU_007_E",
    "WASM_LOAD_FAILED": "LLM_WASM_001_E",
    "WASM_NO_THREADS": "LLM_WASM_002_W",
    "WASM_OUT_OF_MEMORY": "LLM_WASM_003_E",
    "WASM_UNSUPPORTED": "LLM_WASM_004_E",
    "GGUF_INVALID": "LLM_GGUF_001_E",
    "GGUF_VERSION": "LLM_GGUF_002_E",
    "GGUF_TENSOR_TYPE": "LLM_GGUF_003_E",
    "GGUF_TRUNCATED": "LLM_GGUF_004_C",
    "ONNX_RUNTIME_MISSING": "LLM_ONNX_001_E",
    "ONNX_SESSION_FAILED": "LLM_ONNX_002_E",
    "ONNX_RUN_FAILED": "LLM_ONNX_003_E",
    "ONNX_INVALID_MODEL": "LLM_ONNX_004_E",
    "ONNX_UNSUPPORTED_OP": "LLM_ONNX_005_E",
    "STREAM_CUT": "LLM_STREAM_001_E",
    "STREAM_STALL": "LLM_STREAM_002_E",
    "STREAM_MALFORMED": "LLM_STREAM_003_E",
    "STREAM_INCOMPLETE": "LLM_STREAM_004_W",
    "STREAM_NO_DONE": "LLM_STREAM_005_E",
}

SPECS = list(catalogue.ALL.values())


def _constants() -> dict[str, ErrorSpec]:
    return {name: value for name, value in vars(catalogue).items() if isinstance(value, ErrorSpec)}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.code)
def test_code_format(spec: ErrorSpec) -> None:
    assert CODE_RE.match(spec.code), spec.code
    assert spec.code == f"LLM_{spec.category}_{spec.number:03d}_{spec.severity.value}"
    assert catalogue.ALL[spec.code] is spec


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.code)
def test_entry_is_complete(spec: ErrorSpec) -> None:
    assert spec.category in CATEGORIES
    assert 1 <= spec.number <= 999
    assert isinstance(spec.severity, Severity)
    assert isinstance(spec.recovery, Recovery)
    assert NAME_RE.match(spec.name), spec.name
    assert spec.message and spec.message == spec.message.strip() and spec.message.endswith("."), spec.message
    assert 100 <= spec.http_status <= 599
    assert isinstance(spec.retryable, bool) and isinstance(spec.blames_backend, bool)


def test_all_eighteen_categories_are_present() -> None:
    assert set(CATEGORIES) == EXPECTED_CATEGORIES
    assert {spec.category for spec in SPECS} == EXPECTED_CATEGORIES


def test_numbers_and_names_are_unique_within_a_category() -> None:
    for category in EXPECTED_CATEGORIES:
        entries = [s for s in SPECS if s.category == category]
        numbers = [s.number for s in entries]
        names = [s.name for s in entries]
        assert len(set(numbers)) == len(numbers), category
        assert len(set(names)) == len(names), category
        # Numbers are handed out in order, from 001.
        assert min(numbers) == 1, category


def test_codes_are_never_renumbered() -> None:
    constants = _constants()
    for name, code in PUBLISHED.items():
        assert name in constants, f"catalogue.{name} was removed; codes are never removed or reused"
        assert constants[name].code == code, f"catalogue.{name} was renumbered"


def test_every_constant_is_registered_and_every_entry_has_a_constant() -> None:
    constants = _constants()
    assert {spec.code for spec in constants.values()} == set(catalogue.ALL)
    assert len(constants) == len(catalogue.ALL)


def test_lookup() -> None:
    assert catalogue.lookup("LLM_NET_001_E") is catalogue.NET_CONNECTION_FAILED
    with pytest.raises(KeyError):
        catalogue.lookup("LLM_NET_999_E")


def test_informational_entries_are_not_retried() -> None:
    for spec in SPECS:
        if spec.recovery is Recovery.NONE:
            assert not spec.retryable, spec.code
        if spec.recovery is Recovery.ADJUST:
            # An adjustment is learned about the deployment, so it must be its doing.
            assert spec.blames_backend, spec.code


def test_caller_faults_do_not_count_against_a_backend() -> None:
    for spec in (
        catalogue.RUNTIME_CONTEXT_LENGTH,
        catalogue.API_CONTENT_FILTERED,
        catalogue.CORE_CANCELLED,
        catalogue.TIMEOUT_DEADLINE,
        *(s for s in SPECS if s.category == "VAL"),
    ):
        assert not spec.blames_backend, spec.code


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.code)
def test_every_entry_builds_its_exception(spec: ErrorSpec) -> None:
    err = spec.error()
    assert isinstance(err, LLMError)
    assert type(err).category == spec.category
    assert err.spec is spec
    assert err.message == spec.message
