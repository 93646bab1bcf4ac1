"""Which local engines this device can host: pure logic over the browser's probe.

The browser (web/lib/probe.js) asks the device what it has — a WebGPU
adapter and its limits, WebAssembly features, cross-origin isolation,
memory, storage quota — and hands the answer to Python as plain data.
:meth:`DeviceCapabilities.from_probe` reads it, tolerating anything odd
(a field missing or of the wrong type takes its default: the probe runs on
browsers we have never seen). :func:`plan_engines` then says which engines
can run a model (:class:`ModelRequirements`), best first, and for every
engine left out the coded reason why.

The defaults say "not known to be there", except the WebGPU limits, whose
defaults are the minimums the WebGPU specification guarantees to every
adapter.

A software WebGPU adapter (:attr:`GpuAdapter.is_software`: the browser says
``isFallbackAdapter``, or the adapter names itself SwiftShader, llvmpipe, a
CPU or software renderer) runs the model correctly but far slower than WASM
(seconds a token): the plan leaves it out with ``LLM_WEBGPU_007_E`` unless
the caller opts in (``allow_software_adapter``, for tests of that path).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from . import catalogue
from .errors import LLMError

__all__ = [
    "ENGINES",
    "MAX_WASM_THREADS",
    "DeviceCapabilities",
    "EnginePlan",
    "GpuAdapter",
    "ModelRequirements",
    "plan_engines",
]

ENGINES: Final = ("webgpu", "wasm")  # the local engines, in the default order of preference

# What the WebGPU specification guarantees every adapter (its "default" limits).
_SPEC_MAX_BUFFER_SIZE: Final = 268_435_456  # 256 MiB
_SPEC_MAX_STORAGE_BINDING: Final = 134_217_728  # 128 MiB
_SPEC_WORKGROUP_STORAGE: Final = 16_384
_SPEC_INVOCATIONS: Final = 256

_WASM32_MAX_MB: Final = 4096  # a 32-bit WebAssembly memory cannot grow past 4 GiB
MAX_WASM_THREADS: Final = 4  # more threads than this do not speed up a small model
_MAX_INT: Final = 2**53  # the largest integer a JS number holds exactly
_TEXT_LIMIT: Final = 512  # characters kept of any probe string
_FEATURES_LIMIT: Final = 256  # GPU feature names kept
# What a software (CPU) WebGPU adapter calls itself in its vendor, architecture or description:
# Chromium's SwiftShader, Mesa's llvmpipe/lavapipe/softpipe, Windows' WARP ("Microsoft Basic Render Driver").
_SOFTWARE_ADAPTER: Final = re.compile(r"swiftshader|llvmpipe|lavapipe|softpipe|software|basic render driver|\bcpu\b", re.IGNORECASE)


# --- reading the probe ---------------------------------------------------------------------
# Each reader returns its default for anything but a well-formed value.


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _opt_int(value: Any) -> int | None:
    """A non-negative whole number (JS numbers may arrive as floats), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value < 0:
        return None
    return int(min(value, _MAX_INT))


def _int(value: Any, default: int = 0) -> int:
    number = _opt_int(value)
    return default if number is None else number


def _opt_positive_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def _text(value: Any) -> str:
    return value[:_TEXT_LIMIT] if isinstance(value, str) else ""


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(dict.fromkeys(_text(v) for v in value[:_FEATURES_LIMIT] if isinstance(v, str) and v))


@dataclass(frozen=True, slots=True)
class GpuAdapter:
    """What the WebGPU adapter says about itself (GPUAdapterInfo)."""

    vendor: str = ""
    architecture: str = ""
    description: str = ""
    is_fallback_adapter: bool = False  # the browser says it is a software adapter (e.g. SwiftShader): works, but slowly

    @property
    def is_software(self) -> bool:
        """A software renderer on the CPU: the browser says so, or its name does (not every browser sets the flag)."""
        return self.is_fallback_adapter or any(_SOFTWARE_ADAPTER.search(t) for t in (self.vendor, self.architecture, self.description))

    @property
    def label(self) -> str:
        """How the adapter names itself, for messages: "google swiftshader (SwiftShader Device)"."""
        name = " ".join(t for t in (self.vendor, self.architecture) if t)
        if self.description:
            name = f"{name} ({self.description})" if name else self.description
        return name or "unnamed adapter"


@dataclass(frozen=True, slots=True)
class DeviceCapabilities:
    """What this device offers local inference, as the browser's probe reported it."""

    webgpu: bool = False  # navigator.gpu exists
    adapter: GpuAdapter | None = None  # None: no adapter could be had
    gpu_features: tuple[str, ...] = ()
    shader_f16: bool = False
    max_buffer_size: int = _SPEC_MAX_BUFFER_SIZE
    max_storage_buffer_binding_size: int = _SPEC_MAX_STORAGE_BINDING
    max_compute_workgroup_storage_size: int = _SPEC_WORKGROUP_STORAGE
    max_compute_invocations_per_workgroup: int = _SPEC_INVOCATIONS
    # Why the probe could not get WebGPU, in its own words (a catalogue code when it gave one).
    webgpu_error_code: str | None = None
    webgpu_error_message: str = ""
    wasm: bool = False
    wasm_simd: bool = False
    wasm_threads: bool = False  # SharedArrayBuffer and Atomics
    wasm_max_threads: int = 0  # 0: not reported
    cross_origin_isolated: bool = False
    hardware_concurrency: int = 0  # 0: not reported
    device_memory_gb: float | None = None  # navigator.deviceMemory: coarse, capped at 8, absent outside Chromium
    user_agent: str = ""
    storage_quota: int | None = None  # bytes
    storage_usage: int | None = None  # bytes
    storage_persisted: bool | None = None

    @classmethod
    def from_probe(cls, probe: Any) -> DeviceCapabilities:
        """Read the probe's result. Odd or missing fields take their defaults.

        Raises a coded ValidationError only when ``probe`` is not a mapping.
        """
        if not isinstance(probe, Mapping):
            raise catalogue.VAL_WRONG_TYPE.error(
                f"the device probe must be an object (got {type(probe).__name__})", field="probe", got=type(probe).__name__
            )
        gpu = _map(probe.get("webgpu"))
        raw_adapter = gpu.get("adapter")
        adapter = None
        if isinstance(raw_adapter, Mapping):
            adapter = GpuAdapter(
                vendor=_text(raw_adapter.get("vendor")),
                architecture=_text(raw_adapter.get("architecture")),
                description=_text(raw_adapter.get("description")),
                is_fallback_adapter=_bool(raw_adapter.get("isFallbackAdapter")),
            )
        limits = _map(gpu.get("limits"))
        features = _names(gpu.get("features"))
        error = _map(gpu.get("error"))
        error_code = _text(error.get("code")) or None
        error_message = _text(error.get("message"))
        wasm = _map(probe.get("wasm"))
        storage = _map(probe.get("storage"))
        return cls(
            webgpu=_bool(gpu.get("available")),
            adapter=adapter,
            gpu_features=features,
            shader_f16=_bool(gpu.get("shaderF16"), default="shader-f16" in features),
            max_buffer_size=_int(limits.get("maxBufferSize"), _SPEC_MAX_BUFFER_SIZE),
            max_storage_buffer_binding_size=_int(limits.get("maxStorageBufferBindingSize"), _SPEC_MAX_STORAGE_BINDING),
            max_compute_workgroup_storage_size=_int(limits.get("maxComputeWorkgroupStorageSize"), _SPEC_WORKGROUP_STORAGE),
            max_compute_invocations_per_workgroup=_int(limits.get("maxComputeInvocationsPerWorkgroup"), _SPEC_INVOCATIONS),
            webgpu_error_code=error_code,
            webgpu_error_message=error_message if error_code or error_message else "",
            wasm=_bool(wasm.get("available")),
            wasm_simd=_bool(wasm.get("simd")),
            wasm_threads=_bool(wasm.get("threads")),
            wasm_max_threads=_int(wasm.get("maxThreads")),
            cross_origin_isolated=_bool(probe.get("crossOriginIsolated")),
            hardware_concurrency=_int(probe.get("hardwareConcurrency")),
            device_memory_gb=_opt_positive_float(probe.get("deviceMemoryGb")),
            user_agent=_text(probe.get("userAgent")),
            storage_quota=_opt_int(storage.get("quota")),
            storage_usage=_opt_int(storage.get("usage")),
            storage_persisted=_opt_bool(storage.get("persisted")),
        )

    @property
    def storage_free(self) -> int | None:
        """Bytes this origin may still store; None when the quota is not known."""
        if self.storage_quota is None:
            return None
        return max(0, self.storage_quota - (self.storage_usage or 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the probe's own shape and names."""
        adapter = self.adapter
        return {
            "webgpu": {
                "available": self.webgpu,
                "adapter": None
                if adapter is None
                else {
                    "vendor": adapter.vendor,
                    "architecture": adapter.architecture,
                    "description": adapter.description,
                    "isFallbackAdapter": adapter.is_fallback_adapter,
                },
                "features": list(self.gpu_features),
                "shaderF16": self.shader_f16,
                "limits": {
                    "maxBufferSize": self.max_buffer_size,
                    "maxStorageBufferBindingSize": self.max_storage_buffer_binding_size,
                    "maxComputeWorkgroupStorageSize": self.max_compute_workgroup_storage_size,
                    "maxComputeInvocationsPerWorkgroup": self.max_compute_invocations_per_workgroup,
                },
                "error": None
                if self.webgpu_error_code is None and not self.webgpu_error_message
                else {"code": self.webgpu_error_code, "message": self.webgpu_error_message},
            },
            "wasm": {
                "available": self.wasm,
                "simd": self.wasm_simd,
                "threads": self.wasm_threads,
                "maxThreads": self.wasm_max_threads,
            },
            "crossOriginIsolated": self.cross_origin_isolated,
            "hardwareConcurrency": self.hardware_concurrency,
            "deviceMemoryGb": self.device_memory_gb,
            "userAgent": self.user_agent,
            "storage": {"quota": self.storage_quota, "usage": self.storage_usage, "persisted": self.storage_persisted},
        }


# --- what a model needs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelRequirements:
    """What one engine needs of the device to run one model. Zero: no requirement."""

    memory_mb: int = 0  # working memory: weights, KV cache, activations
    min_storage_buffer_binding_size: int = 0  # WebGPU: the largest tensor bound to one shader
    min_max_buffer_size: int = 0  # WebGPU: the largest single GPU buffer
    needs_f16: bool = False  # WebGPU: the model has no float32 path
    download_bytes: int = 0  # what must still be fetched and cached (0 when already cached)
    # onnxruntime-web ships SIMD builds only, for its WASM and WebGPU engines alike.
    needs_wasm_simd: bool = True


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """Which local engines can run the model, best first, and why the others cannot."""

    engines: tuple[str, ...] = ()
    threads: int = 1  # WASM threads to use
    excluded: dict[str, LLMError] = field(default_factory=dict)
    warnings: tuple[LLMError, ...] = ()

    @property
    def can_host(self) -> bool:
        return bool(self.engines)

    def error(self) -> LLMError:
        """One error saying why nothing local can run, naming each engine's reason.

        Meant for a plan that cannot host; for one that can, it still lists
        the engines left out.
        """
        reasons = "; ".join(f"{name}: {err.message}" for name, err in self.excluded.items()) or "no local engine was considered"
        return catalogue.MODEL_NO_LOCAL_ENGINE.error(
            f"no engine on this device can run the model locally ({reasons})",
            excluded={name: err.code for name, err in self.excluded.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "engines": list(self.engines),
            "can_host": self.can_host,
            "threads": self.threads,
            "excluded": {name: err.to_dict() for name, err in self.excluded.items()},
            "warnings": [w.to_dict() for w in self.warnings],
        }


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _webgpu_reason(caps: DeviceCapabilities, need: ModelRequirements) -> LLMError | None:
    code = caps.webgpu_error_code
    if code is not None and code in catalogue.ALL:
        # The probe named the failure itself (e.g. requestDevice threw): keep its code and words.
        return catalogue.ALL[code].error(caps.webgpu_error_message or None, engine="webgpu")
    if code is not None or caps.webgpu_error_message:
        message = caps.webgpu_error_message or "the WebGPU probe failed"
        return catalogue.WEBGPU_UNAVAILABLE.error(message, engine="webgpu", probe_code=code)
    if not caps.webgpu:
        return catalogue.WEBGPU_UNAVAILABLE.error("this browser has no WebGPU", engine="webgpu")
    if caps.adapter is None:
        return catalogue.WEBGPU_UNAVAILABLE.error("no WebGPU adapter could be had", engine="webgpu")
    if caps.max_storage_buffer_binding_size < need.min_storage_buffer_binding_size:
        return catalogue.WEBGPU_LIMITS.error(
            f"maxStorageBufferBindingSize is {_mb(caps.max_storage_buffer_binding_size)}; "
            f"the model needs {_mb(need.min_storage_buffer_binding_size)}",
            engine="webgpu",
            limit="maxStorageBufferBindingSize",
            have=caps.max_storage_buffer_binding_size,
            need=need.min_storage_buffer_binding_size,
        )
    if caps.max_buffer_size < need.min_max_buffer_size:
        return catalogue.WEBGPU_LIMITS.error(
            f"maxBufferSize is {_mb(caps.max_buffer_size)}; the model needs {_mb(need.min_max_buffer_size)}",
            engine="webgpu",
            limit="maxBufferSize",
            have=caps.max_buffer_size,
            need=need.min_max_buffer_size,
        )
    if need.needs_f16 and not caps.shader_f16:
        return catalogue.WEBGPU_NO_F16.error("the model needs shader-f16, which this GPU lacks", engine="webgpu")
    return None


def _software_reason(caps: DeviceCapabilities) -> LLMError | None:
    adapter = caps.adapter
    if adapter is None or not adapter.is_software:
        return None
    return catalogue.WEBGPU_SOFTWARE_ADAPTER.error(
        f"the WebGPU adapter is a software renderer ({adapter.label}), far slower than WASM: "
        "not used for inference unless explicitly allowed",
        engine="webgpu",
        adapter=adapter.label,
        fallback_adapter=adapter.is_fallback_adapter,
    )


def _wasm_reason(caps: DeviceCapabilities, need: ModelRequirements, engine: str) -> LLMError | None:
    if not caps.wasm:
        return catalogue.WASM_UNSUPPORTED.error("this browser has no WebAssembly", engine=engine)
    if need.needs_wasm_simd and not caps.wasm_simd:
        return catalogue.WASM_UNSUPPORTED.error("this browser lacks WebAssembly SIMD, which the engine needs", engine=engine)
    return None


def _memory_reason(caps: DeviceCapabilities, need: ModelRequirements, engine: str) -> LLMError | None:
    spec = catalogue.WEBGPU_OUT_OF_MEMORY if engine == "webgpu" else catalogue.WASM_OUT_OF_MEMORY
    if engine == "wasm" and need.memory_mb > _WASM32_MAX_MB:
        return spec.error(
            f"the model needs {need.memory_mb} MB; WebAssembly memory stops at {_WASM32_MAX_MB} MB",
            engine=engine,
            need_mb=need.memory_mb,
            have_mb=_WASM32_MAX_MB,
        )
    if caps.device_memory_gb is None:
        return None  # not reported: assume it fits
    have_mb = caps.device_memory_gb * 1024
    if have_mb < need.memory_mb:
        return spec.error(
            f"the device reports {caps.device_memory_gb:g} GB of memory; the model needs {need.memory_mb} MB",
            engine=engine,
            need_mb=need.memory_mb,
            have_mb=have_mb,
        )
    return None


def _storage_reason(caps: DeviceCapabilities, need: ModelRequirements, engine: str) -> LLMError | None:
    free = caps.storage_free
    if free is None or need.download_bytes <= free:
        return None
    return catalogue.MEM_QUOTA_EXCEEDED.error(
        f"the model needs {_mb(need.download_bytes)} of storage; {_mb(free)} is free",
        engine=engine,
        need_bytes=need.download_bytes,
        free_bytes=free,
    )


def _wasm_threads(caps: DeviceCapabilities) -> int:
    if not (caps.wasm_threads and caps.cross_origin_isolated):
        return 1
    known = [n for n in (caps.wasm_max_threads, caps.hardware_concurrency) if n > 0]
    return max(1, min([*known, MAX_WASM_THREADS]))


def plan_engines(
    caps: DeviceCapabilities,
    needs: ModelRequirements | Mapping[str, ModelRequirements],
    prefer: Sequence[str] = ENGINES,
    *,
    allow_software_adapter: bool = False,
) -> EnginePlan:
    """The engines of ``prefer`` (best first) that can run the model on this device.

    ``needs`` is one set of requirements for every engine, or one per engine
    name (an engine it does not name needs nothing). A software WebGPU
    adapter (:attr:`GpuAdapter.is_software`: SwiftShader, llvmpipe, …) works
    but is far slower than WASM, so it is left out with
    ``LLM_WEBGPU_007_E``; ``allow_software_adapter`` (an explicit opt-in, for
    tests of that path) keeps it, last, with the same code as a warning.
    """
    usable: list[str] = []
    excluded: dict[str, LLMError] = {}
    for engine in dict.fromkeys(prefer):
        need = needs if isinstance(needs, ModelRequirements) else needs.get(engine, ModelRequirements())
        if engine == "webgpu":
            reason = _webgpu_reason(caps, need) or _wasm_reason(caps, need, engine)
        elif engine == "wasm":
            reason = _wasm_reason(caps, need, engine)
        else:
            reason = catalogue.VAL_UNSUPPORTED.error(f"unknown local engine {engine!r}; known: {', '.join(ENGINES)}", engine=engine)
        reason = reason or _memory_reason(caps, need, engine) or _storage_reason(caps, need, engine)
        if reason is None and engine == "webgpu" and not allow_software_adapter:
            reason = _software_reason(caps)
        if reason is None:
            usable.append(engine)
        else:
            excluded[engine] = reason
    warnings: list[LLMError] = []
    if "webgpu" in usable and caps.adapter is not None and caps.adapter.is_software:
        # Opted in: usable, but after anything faster.
        usable.remove("webgpu")
        usable.append("webgpu")
        warnings.append(
            catalogue.WEBGPU_SOFTWARE_ADAPTER.error(
                f"WebGPU runs on a software adapter ({caps.adapter.label}), slower than WASM: allowed by the caller, tried last",
                engine="webgpu",
                adapter=caps.adapter.label,
            )
        )
    threads = _wasm_threads(caps)
    if "wasm" in usable and threads == 1 and not caps.cross_origin_isolated and caps.hardware_concurrency != 1:
        # Single-threaded only for want of cross-origin isolation (COOP/COEP headers): say so.
        warnings.append(
            catalogue.WASM_NO_THREADS.error(
                "the page is not cross-origin isolated, so WASM runs on one thread", hardware_concurrency=caps.hardware_concurrency
            )
        )
    return EnginePlan(tuple(usable), threads, excluded, tuple(warnings))
