"""Device capabilities: reading the browser's probe, and planning the local engines."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_runner_router.core import catalogue
from llm_runner_router.core.capabilities import DeviceCapabilities, EnginePlan, GpuAdapter, ModelRequirements, plan_engines
from llm_runner_router.core.errors import LLMError, ValidationError

MiB = 2**20

# A capable desktop, as web/lib/probe.js reports it.
PROBE: dict[str, Any] = {
    "webgpu": {
        "available": True,
        "adapter": {"vendor": "nvidia", "architecture": "ampere", "description": "RTX 3060", "isFallbackAdapter": False},
        "features": ["shader-f16", "timestamp-query"],
        "shaderF16": True,
        "limits": {
            "maxBufferSize": 2048 * MiB,
            "maxStorageBufferBindingSize": 1024 * MiB,
            "maxComputeWorkgroupStorageSize": 32768,
            "maxComputeInvocationsPerWorkgroup": 1024,
        },
        "error": None,
    },
    "wasm": {"available": True, "simd": True, "threads": True, "maxThreads": 16},
    "crossOriginIsolated": True,
    "hardwareConcurrency": 12,
    "deviceMemoryGb": 8,
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131",
    "storage": {"quota": 10_000 * MiB, "usage": 100 * MiB, "persisted": True},
}

NEEDS = ModelRequirements(memory_mb=512, min_storage_buffer_binding_size=128 * MiB, min_max_buffer_size=256 * MiB, download_bytes=200 * MiB)


def probe(**changes: Any) -> dict[str, Any]:
    """PROBE with dotted-path changes: probe(**{"webgpu.adapter": None})."""
    out = copy.deepcopy(PROBE)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = out
        for key in parents:
            node = node[key]
        node[last] = value
    return out


def plan_for(changes: dict[str, Any], needs: ModelRequirements | dict[str, ModelRequirements] = NEEDS, **kw: Any) -> EnginePlan:
    return plan_engines(DeviceCapabilities.from_probe(probe(**changes)), needs, **kw)


# --- reading the probe ---------------------------------------------------------------------


def test_reads_a_full_probe() -> None:
    caps = DeviceCapabilities.from_probe(PROBE)
    assert caps.webgpu and caps.shader_f16 and caps.wasm and caps.wasm_simd and caps.wasm_threads
    assert caps.adapter == GpuAdapter("nvidia", "ampere", "RTX 3060", False)
    assert caps.gpu_features == ("shader-f16", "timestamp-query")
    assert (caps.max_buffer_size, caps.max_storage_buffer_binding_size) == (2048 * MiB, 1024 * MiB)
    assert (caps.max_compute_workgroup_storage_size, caps.max_compute_invocations_per_workgroup) == (32768, 1024)
    assert (caps.wasm_max_threads, caps.hardware_concurrency, caps.device_memory_gb) == (16, 12, 8.0)
    assert caps.storage_free == 9_900 * MiB and caps.storage_persisted is True
    assert caps.webgpu_error_code is None


def test_to_dict_reads_back_the_same() -> None:
    caps = DeviceCapabilities.from_probe(PROBE)
    data = caps.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert DeviceCapabilities.from_probe(data) == caps


def test_an_empty_probe_is_all_defaults() -> None:
    caps = DeviceCapabilities.from_probe({})
    assert caps == DeviceCapabilities()
    # The WebGPU limits default to what the specification guarantees every adapter.
    assert (caps.max_buffer_size, caps.max_storage_buffer_binding_size) == (256 * MiB, 128 * MiB)


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"webgpu": "yes"}, "webgpu", False),
        ({"webgpu.available": 1}, "webgpu", False),  # only a real boolean counts
        ({"webgpu.adapter": "gpu"}, "adapter", None),
        ({"webgpu.adapter.vendor": 42}, "adapter", GpuAdapter("", "ampere", "RTX 3060", False)),
        ({"webgpu.limits.maxBufferSize": -1}, "max_buffer_size", 256 * MiB),
        ({"webgpu.limits.maxBufferSize": float("nan")}, "max_buffer_size", 256 * MiB),
        ({"webgpu.limits.maxBufferSize": "big"}, "max_buffer_size", 256 * MiB),
        ({"webgpu.limits.maxBufferSize": 4.0e9}, "max_buffer_size", 4_000_000_000),  # JS numbers may come as floats
        ({"webgpu.limits": None}, "max_storage_buffer_binding_size", 128 * MiB),
        ({"webgpu.features": ["a", 3, None, "a", ""]}, "gpu_features", ("a",)),
        ({"webgpu.shaderF16": None}, "shader_f16", True),  # then read from the feature list
        ({"wasm.maxThreads": True}, "wasm_max_threads", 0),
        ({"deviceMemoryGb": 0}, "device_memory_gb", None),
        ({"deviceMemoryGb": float("inf")}, "device_memory_gb", None),
        ({"deviceMemoryGb": 0.5}, "device_memory_gb", 0.5),
        ({"storage": []}, "storage_quota", None),
        ({"storage.quota": None}, "storage_free", None),
        ({"storage.usage": None}, "storage_free", 10_000 * MiB),
        ({"storage.usage": 20_000 * MiB}, "storage_free", 0),
        ({"userAgent": "x" * 5000}, "user_agent", "x" * 512),
        ({"webgpu.error": {"code": 7, "message": ["no"]}}, "webgpu_error_code", None),
    ],
)
def test_odd_fields_take_their_defaults(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(DeviceCapabilities.from_probe(probe(**changes)), field) == expected


@pytest.mark.parametrize("bad", [None, [], "probe", 3, b"{}"])
def test_a_probe_that_is_not_an_object_is_a_coded_error(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        DeviceCapabilities.from_probe(bad)
    assert info.value.spec is catalogue.VAL_WRONG_TYPE and info.value.context["field"] == "probe"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["webgpu", "wasm", "available", "adapter", "features", "shaderF16", "limits", "error", "code", "maxBufferSize", "storage", "quota"]
)
# Probe-shaped objects whose every field may be anything.
PROBEISH = st.fixed_dictionaries(
    {},
    optional={
        "webgpu": st.fixed_dictionaries(
            {},
            optional={
                "available": JSON,
                "adapter": JSON | st.fixed_dictionaries({}, optional={"vendor": JSON, "isFallbackAdapter": JSON}),
                "features": JSON,
                "shaderF16": JSON,
                "limits": JSON | st.dictionaries(st.sampled_from(["maxBufferSize", "maxStorageBufferBindingSize"]), JSON),
                "error": JSON | st.fixed_dictionaries({}, optional={"code": JSON | st.sampled_from(list(catalogue.ALL)), "message": JSON}),
            },
        )
        | JSON,
        "wasm": st.dictionaries(st.sampled_from(["available", "simd", "threads", "maxThreads"]), JSON) | JSON,
        "crossOriginIsolated": JSON,
        "hardwareConcurrency": JSON,
        "deviceMemoryGb": JSON,
        "userAgent": JSON,
        "storage": st.dictionaries(st.sampled_from(["quota", "usage", "persisted"]), JSON) | JSON,
    },
) | st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=6)


@settings(max_examples=300, deadline=None)
@given(data=PROBEISH | JSON)
def test_any_json_never_raises_but_a_coded_error(data: Any) -> None:
    try:
        caps = DeviceCapabilities.from_probe(data)
    except LLMError as exc:
        assert exc.spec is catalogue.VAL_WRONG_TYPE and not isinstance(data, dict)
        return
    assert isinstance(data, dict)
    json.dumps(caps.to_dict())  # always JSON-ready
    plan = plan_engines(caps, NEEDS)
    json.dumps(plan.to_dict())
    assert set(plan.engines).isdisjoint(plan.excluded) and set(plan.engines) | set(plan.excluded) == {"webgpu", "wasm"}
    assert plan.threads >= 1
    assert plan.error().spec is catalogue.MODEL_NO_LOCAL_ENGINE


# --- planning --------------------------------------------------------------------------------

WG, WA = "webgpu", "wasm"


@pytest.mark.parametrize(
    ("name", "changes", "engines", "excluded"),
    [
        ("capable desktop", {}, (WG, WA), {}),
        ("no navigator.gpu", {"webgpu.available": False, "webgpu.adapter": None}, (WA,), {WG: catalogue.WEBGPU_UNAVAILABLE}),
        ("no adapter", {"webgpu.adapter": None}, (WA,), {WG: catalogue.WEBGPU_UNAVAILABLE}),
        ("software adapter", {"webgpu.adapter.isFallbackAdapter": True}, (WA,), {WG: catalogue.WEBGPU_SOFTWARE_ADAPTER}),
        (
            "probe's own error code",
            {"webgpu.adapter": None, "webgpu.error": {"code": "LLM_WEBGPU_001_E", "message": "requestAdapter returned null"}},
            (WA,),
            {WG: catalogue.WEBGPU_UNAVAILABLE},
        ),
        (
            "probe error with an unknown code",
            {"webgpu.error": {"code": "GPU_BROKEN", "message": "requestDevice failed"}},
            (WA,),
            {WG: catalogue.WEBGPU_UNAVAILABLE},
        ),
        ("small binding limit", {"webgpu.limits.maxStorageBufferBindingSize": 64 * MiB}, (WA,), {WG: catalogue.WEBGPU_LIMITS}),
        ("small buffer limit", {"webgpu.limits.maxBufferSize": 128 * MiB}, (WA,), {WG: catalogue.WEBGPU_LIMITS}),
        ("no wasm", {"wasm.available": False}, (), {WG: catalogue.WASM_UNSUPPORTED, WA: catalogue.WASM_UNSUPPORTED}),
        ("no simd", {"wasm.simd": False}, (), {WG: catalogue.WASM_UNSUPPORTED, WA: catalogue.WASM_UNSUPPORTED}),
        (
            "too little memory",
            {"deviceMemoryGb": 0.25},
            (),
            {WG: catalogue.WEBGPU_OUT_OF_MEMORY, WA: catalogue.WASM_OUT_OF_MEMORY},
        ),
        ("memory not reported", {"deviceMemoryGb": None}, (WG, WA), {}),
        ("storage full", {"storage.usage": 9_900 * MiB}, (), {WG: catalogue.MEM_QUOTA_EXCEEDED, WA: catalogue.MEM_QUOTA_EXCEEDED}),
        ("quota not reported", {"storage.quota": None}, (WG, WA), {}),
        ("probe of nothing", {"webgpu": None, "wasm": None}, (), {WG: catalogue.WEBGPU_UNAVAILABLE, WA: catalogue.WASM_UNSUPPORTED}),
    ],
)
def test_plan(name: str, changes: dict[str, Any], engines: tuple[str, ...], excluded: dict[str, Any]) -> None:
    plan = plan_for(changes)
    assert plan.engines == engines, name
    assert {k: v.spec for k, v in plan.excluded.items()} == excluded, name
    assert plan.can_host == bool(engines)
    for engine, err in plan.excluded.items():
        assert err.context["engine"] == engine


def test_the_probe_error_keeps_its_words() -> None:
    plan = plan_for({"webgpu.adapter": None, "webgpu.error": {"code": "LLM_WEBGPU_001_E", "message": "requestAdapter returned null"}})
    assert plan.excluded[WG].message == "requestAdapter returned null"


def test_f16_excludes_webgpu_only_when_the_model_needs_it() -> None:
    no_f16 = {"webgpu.shaderF16": False, "webgpu.features": []}
    assert plan_for(no_f16).engines == (WG, WA)
    plan = plan_for(no_f16, ModelRequirements(needs_f16=True))
    assert plan.engines == (WA,) and plan.excluded[WG].spec is catalogue.WEBGPU_NO_F16


# What software WebGPU adapters say about themselves (vendor, architecture, description, isFallbackAdapter).
SOFTWARE_ADAPTERS = [
    {"vendor": "", "architecture": "", "description": "", "isFallbackAdapter": True},  # the browser's flag alone
    {"vendor": "google", "architecture": "swiftshader", "description": "SwiftShader Device (Subzero)", "isFallbackAdapter": False},
    {"vendor": "mesa", "architecture": "", "description": "llvmpipe (LLVM 15.0.6, 256 bits)", "isFallbackAdapter": False},
    {"vendor": "mesa", "architecture": "", "description": "Lavapipe", "isFallbackAdapter": False},
    {"vendor": "microsoft", "architecture": "", "description": "Microsoft Basic Render Driver", "isFallbackAdapter": False},
    {"vendor": "", "architecture": "cpu", "description": "", "isFallbackAdapter": False},
    {"vendor": "", "architecture": "", "description": "Software Rasterizer", "isFallbackAdapter": False},
]
HARDWARE_ADAPTERS = [
    PROBE["webgpu"]["adapter"],
    {"vendor": "apple", "architecture": "metal-3", "description": "", "isFallbackAdapter": False},
    {"vendor": "intel", "architecture": "gen-12lp", "description": "Intel(R) UHD Graphics 620", "isFallbackAdapter": False},
    {"vendor": "qualcomm", "architecture": "adreno-7xx", "description": "", "isFallbackAdapter": False},
    {"vendor": "", "architecture": "", "description": "", "isFallbackAdapter": False},  # says nothing: taken as hardware
]


@pytest.mark.parametrize("adapter", SOFTWARE_ADAPTERS, ids=lambda a: a["description"] or a["architecture"] or "isFallbackAdapter")
def test_a_software_adapter_is_not_used_by_default(adapter: dict[str, Any]) -> None:
    caps = DeviceCapabilities.from_probe(probe(**{"webgpu.adapter": adapter}))
    assert caps.adapter is not None and caps.adapter.is_software
    plan = plan_engines(caps, NEEDS)
    assert plan.engines == (WA,)
    reason = plan.excluded[WG]
    assert reason.spec is catalogue.WEBGPU_SOFTWARE_ADAPTER and reason.code == "LLM_WEBGPU_007_E"
    assert reason.context["engine"] == WG and reason.context["adapter"] == caps.adapter.label
    assert "software" in reason.message
    assert plan.to_dict()["excluded"][WG]["code"] == "LLM_WEBGPU_007_E"  # what the page shows beside the engine


@pytest.mark.parametrize("adapter", HARDWARE_ADAPTERS, ids=lambda a: a["description"] or a["architecture"] or "unnamed")
def test_a_hardware_adapter_is_not_taken_for_a_software_one(adapter: dict[str, Any]) -> None:
    caps = DeviceCapabilities.from_probe(probe(**{"webgpu.adapter": adapter}))
    assert caps.adapter is not None and not caps.adapter.is_software
    assert plan_engines(caps, NEEDS).engines == (WG, WA)


def test_a_software_adapter_allowed_explicitly_is_usable_after_wasm_with_a_warning() -> None:
    for adapter in SOFTWARE_ADAPTERS:
        plan = plan_for({"webgpu.adapter": adapter}, allow_software_adapter=True)
        assert plan.engines == (WA, WG) and not plan.excluded
        assert [w.spec for w in plan.warnings] == [catalogue.WEBGPU_SOFTWARE_ADAPTER]
    # Asked for alone, it is the plan; other reasons still leave it out.
    assert plan_for({"webgpu.adapter.isFallbackAdapter": True}, prefer=(WG,), allow_software_adapter=True).engines == (WG,)
    small = {"webgpu.adapter.isFallbackAdapter": True, "webgpu.limits.maxBufferSize": 128 * MiB}
    assert plan_for(small, allow_software_adapter=True).excluded[WG].spec is catalogue.WEBGPU_LIMITS


def test_a_software_adapter_with_another_reason_keeps_that_reason() -> None:
    plan = plan_for({"webgpu.adapter.isFallbackAdapter": True, "webgpu.limits.maxBufferSize": 128 * MiB})
    assert plan.excluded[WG].spec is catalogue.WEBGPU_LIMITS  # the harder reason first


def test_adapter_label() -> None:
    assert GpuAdapter("google", "swiftshader", "SwiftShader Device").label == "google swiftshader (SwiftShader Device)"
    assert GpuAdapter(description="llvmpipe").label == "llvmpipe"
    assert GpuAdapter().label == "unnamed adapter"


def test_wasm_memory_stops_at_four_gigabytes() -> None:
    plan = plan_for({"deviceMemoryGb": None}, ModelRequirements(memory_mb=6000))
    assert plan.engines == (WG,) and plan.excluded[WA].spec is catalogue.WASM_OUT_OF_MEMORY


def test_requirements_per_engine() -> None:
    needs = {WG: ModelRequirements(download_bytes=50_000 * MiB)}  # wasm: nothing named, nothing needed
    plan = plan_for({}, needs)
    assert plan.engines == (WA,) and plan.excluded[WG].context["need_bytes"] == 50_000 * MiB


def test_preference_order_and_unknown_engines() -> None:
    plan = plan_for({}, prefer=("wasm", "webgpu", "cuda", "wasm"))
    assert plan.engines == (WA, WG)
    assert plan.excluded["cuda"].spec is catalogue.VAL_UNSUPPORTED


@pytest.mark.parametrize(
    ("changes", "threads", "warned"),
    [
        ({}, 4, False),  # capped at 4
        ({"hardwareConcurrency": 2}, 2, False),
        ({"wasm.maxThreads": 3}, 3, False),
        ({"wasm.maxThreads": 0, "hardwareConcurrency": 0}, 4, False),  # neither reported: the cap
        ({"crossOriginIsolated": False}, 1, True),  # isolation missing: one thread, and say why
        ({"crossOriginIsolated": False, "wasm.threads": False}, 1, True),
        ({"crossOriginIsolated": False, "hardwareConcurrency": 1}, 1, False),  # one core: nothing lost
        ({"wasm.threads": False}, 1, False),  # isolated, but no threads in this browser
        ({"crossOriginIsolated": False, "wasm.available": False}, 1, False),  # no wasm engine to warn about
    ],
)
def test_wasm_threads(changes: dict[str, Any], threads: int, warned: bool) -> None:
    plan = plan_for(changes)
    assert plan.threads == threads
    assert [w.spec for w in plan.warnings] == ([catalogue.WASM_NO_THREADS] if warned else [])


def test_error_summarizes_why_nothing_local_can_run() -> None:
    plan = plan_for({"webgpu.adapter": None, "wasm.available": False})
    assert not plan.can_host
    err = plan.error()
    assert err.spec is catalogue.MODEL_NO_LOCAL_ENGINE and not err.spec.blames_backend
    assert err.context["excluded"] == {WG: catalogue.WEBGPU_UNAVAILABLE.code, WA: catalogue.WASM_UNSUPPORTED.code}
    assert "webgpu:" in err.message and "wasm:" in err.message


def test_plan_to_dict_is_json() -> None:
    plan = plan_for({"webgpu.adapter": None, "crossOriginIsolated": False})
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["engines"] == [WA] and data["can_host"] is True and data["threads"] == 1
    assert data["excluded"][WG]["code"] == catalogue.WEBGPU_UNAVAILABLE.code
    assert [w["code"] for w in data["warnings"]] == [catalogue.WASM_NO_THREADS.code]
