"""The exception hierarchy and the serialised form of an error."""

from __future__ import annotations

import dataclasses
import json

import pytest

from llm_runner_router.core import catalogue, errors
from llm_runner_router.core.errors import (
    CATEGORIES,
    AuthError,
    CircuitOpenError,
    ConfigError,
    CoreError,
    DeadlineError,
    ErrorSpec,
    GGUFError,
    InferenceError,
    LLMError,
    ModelError,
    NetworkError,
    ONNXError,
    RateLimitError,
    Recovery,
    ResourceError,
    RetryError,
    Severity,
    StreamError,
    UpstreamAPIError,
    ValidationError,
    WasmError,
    WebGPUError,
)

CLASS_BY_CATEGORY: dict[str, type[LLMError]] = {
    "CORE": CoreError,
    "MODEL": ModelError,
    "RUNTIME": InferenceError,
    "NET": NetworkError,
    "TIMEOUT": DeadlineError,
    "MEM": ResourceError,
    "AUTH": AuthError,
    "RATE": RateLimitError,
    "CONFIG": ConfigError,
    "VAL": ValidationError,
    "API": UpstreamAPIError,
    "CB": CircuitOpenError,
    "RETRY": RetryError,
    "WEBGPU": WebGPUError,
    "WASM": WasmError,
    "GGUF": GGUFError,
    "ONNX": ONNXError,
    "STREAM": StreamError,
}


def test_one_class_per_category() -> None:
    assert set(CLASS_BY_CATEGORY) == set(CATEGORIES)
    assert len(set(CLASS_BY_CATEGORY.values())) == len(CLASS_BY_CATEGORY)
    for category, cls in CLASS_BY_CATEGORY.items():
        assert cls.category == category
        assert issubclass(cls, LLMError) and issubclass(cls, Exception)


@pytest.mark.parametrize("category", sorted(CLASS_BY_CATEGORY))
def test_spec_error_builds_the_class_of_its_category(category: str) -> None:
    specs = [s for s in catalogue.ALL.values() if s.category == category]
    assert specs, category
    for spec in specs:
        err = spec.error()
        assert type(err) is CLASS_BY_CATEGORY[category]
        # `except NetworkError` catches every NET code, and nothing else.
        for other, cls in CLASS_BY_CATEGORY.items():
            assert isinstance(err, cls) == (other == category)


def test_unknown_category_falls_back_to_the_base_class() -> None:
    spec = ErrorSpec("NOPE", 1, Severity.ERROR, "nope", "Nope.", False, 500, Recovery.ABORT)
    err = spec.error()
    assert type(err) is LLMError
    assert err.code == "LLM_NOPE_001_E"
    assert err.type == "nope"


def test_error_properties_come_from_the_spec() -> None:
    spec = catalogue.NET_CONNECTION_FAILED
    err = spec.error()
    assert err.spec is spec
    assert err.code == "LLM_NET_001_E"
    assert err.type == "net"
    assert err.retryable is True
    assert err.http_status == 502
    assert err.recovery is Recovery.RETRY
    assert err.message == spec.message
    assert err.retry_after is None
    assert err.context == {}
    assert str(err) == f"[LLM_NET_001_E] {spec.message}"


def test_message_retry_after_and_context() -> None:
    err = catalogue.RATE_LIMITED.error("slow down", retry_after=2.5, deployment="a", attempt=3)
    assert err.message == "slow down"
    assert str(err) == "[LLM_RATE_001_E] slow down"
    assert err.retry_after == 2.5
    assert err.context == {"deployment": "a", "attempt": 3}


def test_spec_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalogue.NET_CONNECTION_FAILED.number = 2  # type: ignore[misc]


def test_severity_and_recovery_values() -> None:
    assert [s.value for s in Severity] == ["I", "W", "E", "C", "F"]
    assert {r.value for r in Recovery} == {
        "none",
        "retry",
        "fallback",
        "adjust",
        "larger_context",
        "abort",
        "reload",
        "shed",
        "manual",
    }


def test_to_dict_minimal() -> None:
    err = catalogue.API_CONTENT_FILTERED.error()
    assert err.to_dict() == {
        "code": "LLM_API_005_E",
        "type": "api",
        "name": "content_filtered",
        "message": catalogue.API_CONTENT_FILTERED.message,
        "severity": "E",
        "retryable": False,
        "http_status": 400,
        "recovery": "abort",
    }


def test_to_dict_full_and_to_json_round_trip() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    inner = catalogue.NET_CONNECTION_RESET.error(host="h")
    err = catalogue.RETRY_EXHAUSTED.error(
        "gave up",
        retry_after=1.5,
        attempts=3,
        ratio=0.5,
        ok=True,
        nothing=None,
        keys=("a", "b"),
        nested={"x": [1, Opaque()], 2: "two"},
        last=inner,
        thing=Opaque(),
    )
    try:
        raise err from ConnectionResetError("peer reset")
    except RetryError as caught:
        data = caught.to_dict()
    assert data["retry_after"] == 1.5
    assert data["cause"] == "ConnectionResetError: peer reset"
    assert data["context"] == {
        "attempts": 3,
        "ratio": 0.5,
        "ok": True,
        "nothing": None,
        "keys": ["a", "b"],
        "nested": {"x": [1, "opaque!"], "2": "two"},
        "last": inner.to_dict(),
        "thing": "opaque!",
    }
    text = err.to_json()
    assert json.loads(text) == data
    # Deterministic: keys sorted.
    assert text == json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("spec", list(catalogue.ALL.values()), ids=lambda s: s.code)
def test_every_entry_round_trips_through_json(spec: ErrorSpec) -> None:
    err = spec.error(detail="x")
    data = json.loads(err.to_json())
    assert data["code"] == spec.code
    assert data["severity"] == spec.severity.value
    assert data["recovery"] == spec.recovery.value
    assert data["retryable"] is spec.retryable
    assert data["http_status"] == spec.http_status
    assert data["type"] == spec.category.lower()
    assert data["context"] == {"detail": "x"}
    assert catalogue.lookup(data["code"]) is spec


def test_errors_can_be_raised_and_caught_by_category() -> None:
    with pytest.raises(NetworkError) as info:
        raise catalogue.NET_DNS_FAILED.error()
    assert info.value.code == "LLM_NET_004_C"
    with pytest.raises(LLMError):
        raise catalogue.STREAM_STALL.error()


def test_module_exports() -> None:
    for name in errors.__all__:
        assert hasattr(errors, name), name
