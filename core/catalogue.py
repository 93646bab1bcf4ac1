"""The error catalogue: every code the product can emit, in one place.

docs/errors.md is generated from this module (``python build/gen_error_docs.py``);
a test fails when the two disagree. Numbers are stable: never reuse or
renumber a code, only add.
"""

from __future__ import annotations

from .errors import ErrorSpec, Recovery, Severity

I, W, E, C, F = Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL, Severity.FATAL
R = Recovery

ALL: dict[str, ErrorSpec] = {}


def _e(
    category: str,
    number: int,
    severity: Severity,
    name: str,
    message: str,
    *,
    retryable: bool,
    http: int,
    recovery: Recovery,
    blames_backend: bool = True,
) -> ErrorSpec:
    spec = ErrorSpec(category, number, severity, name, message, retryable, http, recovery, blames_backend)
    if spec.code in ALL:  # pragma: no cover - guards edits to this file
        raise AssertionError(f"duplicate error code {spec.code}")
    ALL[spec.code] = spec
    return spec


# --- CORE -----------------------------------------------------------------
CORE_INIT_FAILED = _e("CORE", 1, E, "init_failed", "The router failed to initialise.", retryable=False, http=500, recovery=R.MANUAL)
CORE_STORE_CORRUPT = _e(
    "CORE",
    2,
    E,
    "store_corrupt",
    "The learned-state store was corrupt; it was set aside and rebuilt.",
    retryable=False,
    http=500,
    recovery=R.NONE,
    blames_backend=False,
)
CORE_DEADLOCK = _e(
    "CORE", 3, C, "pipeline_deadlock", "The request pipeline stopped making progress.", retryable=False, http=500, recovery=R.MANUAL
)
CORE_HIGH_MEMORY = _e(
    "CORE",
    4,
    W,
    "high_memory",
    "Memory use is above the configured threshold; caches are being cleared.",
    retryable=False,
    http=503,
    recovery=R.SHED,
    blames_backend=False,
)
CORE_HEALING_FAILED = _e(
    "CORE",
    5,
    E,
    "self_healing_failed",
    "An automatic recovery action failed.",
    retryable=False,
    http=500,
    recovery=R.MANUAL,
    blames_backend=False,
)
CORE_INTERNAL = _e("CORE", 6, E, "internal_error", "An unexpected internal error occurred.", retryable=True, http=500, recovery=R.FALLBACK)
CORE_CANCELLED = _e(
    "CORE", 7, I, "cancelled", "The request was cancelled by the caller.", retryable=False, http=499, recovery=R.ABORT, blames_backend=False
)
CORE_SHUTTING_DOWN = _e(
    "CORE",
    8,
    W,
    "shutting_down",
    "The server is shutting down; the answer was ended before it finished.",
    retryable=True,
    http=503,
    recovery=R.ABORT,
    blames_backend=False,
)

# --- MODEL ----------------------------------------------------------------
MODEL_NOT_FOUND = _e(
    "MODEL", 1, E, "not_found", "The requested model or alias does not exist.", retryable=False, http=404, recovery=R.FALLBACK
)
MODEL_FORMAT_UNSUPPORTED = _e(
    "MODEL",
    2,
    E,
    "format_unsupported",
    "The model format is not supported by any available engine.",
    retryable=False,
    http=422,
    recovery=R.FALLBACK,
)
MODEL_CORRUPT = _e(
    "MODEL",
    3,
    C,
    "corrupt",
    "The model file is corrupt or incomplete; it must be fetched again.",
    retryable=False,
    http=500,
    recovery=R.RELOAD,
)
MODEL_TOO_LARGE = _e(
    "MODEL",
    4,
    W,
    "too_large",
    "The model is larger than this environment can comfortably hold.",
    retryable=False,
    http=507,
    recovery=R.FALLBACK,
)
MODEL_QUANTIZATION_FAILED = _e(
    "MODEL", 5, E, "quantization_failed", "Quantizing the model failed.", retryable=False, http=500, recovery=R.FALLBACK
)
MODEL_LOAD_FAILED = _e("MODEL", 6, E, "load_failed", "The model could not be loaded.", retryable=True, http=503, recovery=R.RELOAD)
MODEL_NOT_LOADED = _e("MODEL", 7, E, "not_loaded", "The model is not loaded yet.", retryable=True, http=503, recovery=R.RETRY)
MODEL_NO_LOCAL_ENGINE = _e(
    "MODEL",
    8,
    E,
    "no_local_engine",
    "No engine on this device can run the model locally; it can only be served remotely.",
    retryable=False,
    http=503,
    recovery=R.FALLBACK,
    blames_backend=False,
)

# --- RUNTIME --------------------------------------------------------------
RUNTIME_TIMEOUT = _e(
    "RUNTIME", 1, E, "inference_timeout", "Inference took longer than its time limit.", retryable=True, http=504, recovery=R.RETRY
)
RUNTIME_MEMORY_EXHAUSTED = _e(
    "RUNTIME", 2, C, "memory_exhausted", "Inference ran out of memory.", retryable=False, http=503, recovery=R.SHED
)
RUNTIME_CONTEXT_LENGTH = _e(
    "RUNTIME",
    3,
    E,
    "context_length_exceeded",
    "The prompt is longer than the model's context window.",
    retryable=False,
    http=400,
    recovery=R.LARGER_CONTEXT,
    blames_backend=False,
)
RUNTIME_TOKEN_LIMIT = _e(
    "RUNTIME",
    4,
    W,
    "token_limit",
    "Generation stopped at the max_tokens limit.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)
RUNTIME_INFERENCE_FAILED = _e(
    "RUNTIME", 5, E, "inference_failed", "The engine failed while generating.", retryable=True, http=500, recovery=R.RETRY
)

# --- NET ------------------------------------------------------------------
NET_CONNECTION_FAILED = _e(
    "NET", 1, E, "connection_failed", "Could not connect to the backend.", retryable=True, http=502, recovery=R.RETRY
)
NET_DOWNLOAD_FAILED = _e(
    "NET", 2, E, "download_failed", "A download was interrupted or failed.", retryable=True, http=502, recovery=R.RETRY
)
NET_SLOW = _e("NET", 3, W, "slow_connection", "The connection is slower than expected.", retryable=False, http=200, recovery=R.NONE)
NET_DNS_FAILED = _e(
    "NET", 4, C, "dns_failed", "The backend's host name could not be resolved.", retryable=False, http=502, recovery=R.FALLBACK
)
NET_CONNECTION_RESET = _e(
    "NET", 5, E, "connection_reset", "The backend closed or reset the connection.", retryable=True, http=502, recovery=R.RETRY
)
NET_TLS_FAILED = _e("NET", 6, E, "tls_failed", "The TLS handshake with the backend failed.", retryable=False, http=502, recovery=R.FALLBACK)
NET_UPSTREAM_ERROR = _e(
    "NET", 7, E, "upstream_server_error", "The backend answered with a server error.", retryable=True, http=502, recovery=R.RETRY
)
NET_UNAVAILABLE = _e(
    "NET", 8, E, "upstream_unavailable", "The backend is unavailable or overloaded.", retryable=True, http=503, recovery=R.RETRY
)
NET_BAD_GATEWAY = _e(
    "NET", 9, E, "upstream_bad_gateway", "A gateway in front of the backend failed.", retryable=True, http=502, recovery=R.RETRY
)

# --- TIMEOUT --------------------------------------------------------------
TIMEOUT_CONNECT = _e("TIMEOUT", 1, E, "connect_timeout", "Connecting to the backend timed out.", retryable=True, http=504, recovery=R.RETRY)
TIMEOUT_READ = _e("TIMEOUT", 2, E, "read_timeout", "The backend did not answer in time.", retryable=True, http=504, recovery=R.RETRY)
TIMEOUT_FIRST_TOKEN = _e(
    "TIMEOUT",
    3,
    E,
    "first_token_timeout",
    "No first token arrived before the time-to-first-token deadline.",
    retryable=True,
    http=504,
    recovery=R.FALLBACK,
)
TIMEOUT_DEADLINE = _e(
    "TIMEOUT",
    4,
    E,
    "deadline_exceeded",
    "The request's overall deadline passed.",
    retryable=False,
    http=504,
    recovery=R.ABORT,
    blames_backend=False,
)
TIMEOUT_IDLE = _e("TIMEOUT", 5, W, "idle_timeout", "An idle connection was closed.", retryable=True, http=504, recovery=R.RETRY)
TIMEOUT_CLIENT = _e(
    "TIMEOUT",
    6,
    E,
    "client_timeout",
    "The client did not send its request in time (edge server: server.header_timeout, server.body_timeout).",
    retryable=True,
    http=408,
    recovery=R.ABORT,
    blames_backend=False,
)

# --- MEM ------------------------------------------------------------------
MEM_OUT_OF_MEMORY = _e("MEM", 1, C, "out_of_memory", "The process ran out of memory.", retryable=False, http=503, recovery=R.SHED)
MEM_CACHE_OVERFLOW = _e(
    "MEM",
    2,
    E,
    "cache_overflow",
    "A cache exceeded its maximum size and was pruned.",
    retryable=False,
    http=200,
    recovery=R.SHED,
    blames_backend=False,
)
MEM_FRAGMENTATION = _e(
    "MEM",
    3,
    W,
    "fragmentation",
    "Memory is fragmented; performance may suffer.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)
MEM_SWAP_FULL = _e("MEM", 4, E, "swap_full", "Swap space is full.", retryable=False, http=503, recovery=R.SHED)
MEM_QUOTA_EXCEEDED = _e(
    "MEM",
    5,
    E,
    "storage_quota_exceeded",
    "The storage quota is too small for the model or cache.",
    retryable=False,
    http=507,
    recovery=R.FALLBACK,
)

# --- AUTH -----------------------------------------------------------------
AUTH_FAILED = _e(
    "AUTH", 1, E, "authentication_failed", "Missing or invalid API key.", retryable=False, http=401, recovery=R.ABORT, blames_backend=False
)
AUTH_SECURITY_VIOLATION = _e(
    "AUTH",
    2,
    C,
    "security_violation",
    "The request was refused as a security violation.",
    retryable=False,
    http=403,
    recovery=R.ABORT,
    blames_backend=False,
)
AUTH_UPSTREAM_REJECTED = _e(
    "AUTH", 3, E, "upstream_credentials_rejected", "The backend rejected our credentials.", retryable=False, http=502, recovery=R.FALLBACK
)
AUTH_FORBIDDEN = _e(
    "AUTH",
    4,
    E,
    "permission_denied",
    "The backend refused access to this model or endpoint.",
    retryable=False,
    http=502,
    recovery=R.FALLBACK,
)
AUTH_ORIGIN_NOT_ALLOWED = _e(
    "AUTH",
    5,
    E,
    "origin_not_allowed",
    "The page's origin may not call this server from a browser (server.cors_origins).",
    retryable=False,
    http=403,
    recovery=R.ABORT,
    blames_backend=False,
)

# --- RATE -----------------------------------------------------------------
RATE_LIMITED = _e("RATE", 1, E, "rate_limited", "The backend is rate limiting requests.", retryable=True, http=429, recovery=R.RETRY)
RATE_QUEUE_FULL = _e(
    "RATE",
    2,
    E,
    "queue_full",
    "The server's request queue is full; retry later.",
    retryable=True,
    http=429,
    recovery=R.ABORT,
    blames_backend=False,
)
RATE_QUOTA_EXHAUSTED = _e(
    "RATE", 3, E, "quota_exhausted", "The backend account's quota is exhausted.", retryable=False, http=429, recovery=R.FALLBACK
)
RATE_NEAR_LIMIT = _e(
    "RATE",
    4,
    W,
    "near_limit",
    "The backend reports that its rate limit is nearly reached.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)

RATE_TOO_MANY_CONNECTIONS = _e(
    "RATE",
    5,
    E,
    "too_many_connections",
    "The server holds as many connections as it allows (server.max_connections); retry later.",
    retryable=True,
    http=503,
    recovery=R.ABORT,
    blames_backend=False,
)

# --- CONFIG ---------------------------------------------------------------
CONFIG_INVALID = _e(
    "CONFIG", 1, E, "invalid", "The configuration is invalid.", retryable=False, http=500, recovery=R.MANUAL, blames_backend=False
)
CONFIG_DEPRECATED = _e(
    "CONFIG",
    2,
    W,
    "deprecated",
    "The configuration uses a deprecated setting.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)
CONFIG_ENVIRONMENT_MISMATCH = _e(
    "CONFIG",
    3,
    E,
    "environment_mismatch",
    "The configuration does not match this environment.",
    retryable=False,
    http=500,
    recovery=R.MANUAL,
    blames_backend=False,
)
CONFIG_UNKNOWN_FIELD = _e(
    "CONFIG",
    4,
    E,
    "unknown_field",
    "The configuration names a field that does not exist.",
    retryable=False,
    http=500,
    recovery=R.MANUAL,
    blames_backend=False,
)
CONFIG_MISSING_FIELD = _e(
    "CONFIG",
    5,
    E,
    "missing_field",
    "A required configuration field is missing.",
    retryable=False,
    http=500,
    recovery=R.MANUAL,
    blames_backend=False,
)
CONFIG_PARSE = _e(
    "CONFIG",
    6,
    E,
    "parse_failed",
    "The configuration file could not be parsed.",
    retryable=False,
    http=500,
    recovery=R.MANUAL,
    blames_backend=False,
)

# --- VAL ------------------------------------------------------------------
VAL_MALFORMED = _e(
    "VAL",
    1,
    E,
    "malformed_request",
    "The request body is not valid JSON or not an object.",
    retryable=False,
    http=400,
    recovery=R.ABORT,
    blames_backend=False,
)
VAL_MISSING_FIELD = _e(
    "VAL", 2, E, "missing_field", "A required field is missing.", retryable=False, http=400, recovery=R.ABORT, blames_backend=False
)
VAL_WRONG_TYPE = _e(
    "VAL", 3, E, "wrong_type", "A field has the wrong type.", retryable=False, http=400, recovery=R.ABORT, blames_backend=False
)
VAL_OUT_OF_RANGE = _e(
    "VAL", 4, E, "out_of_range", "A value is outside its allowed range.", retryable=False, http=400, recovery=R.ABORT, blames_backend=False
)
VAL_EMPTY = _e("VAL", 5, E, "empty_input", "The input is empty.", retryable=False, http=400, recovery=R.ABORT, blames_backend=False)
VAL_TOO_LARGE = _e(
    "VAL",
    6,
    E,
    "too_large",
    "The request body or prompt is larger than allowed.",
    retryable=False,
    http=413,
    recovery=R.ABORT,
    blames_backend=False,
)
VAL_UNSUPPORTED = _e(
    "VAL",
    7,
    E,
    "unsupported_value",
    "A field names something this server does not support.",
    retryable=False,
    http=400,
    recovery=R.ABORT,
    blames_backend=False,
)

# --- API (what an upstream API refused) -------------------------------------
API_INVALID_RESPONSE = _e(
    "API", 1, E, "invalid_response", "The backend's response could not be understood.", retryable=True, http=502, recovery=R.RETRY
)
API_BAD_REQUEST = _e(
    "API", 2, E, "upstream_bad_request", "The backend refused the request as invalid.", retryable=False, http=502, recovery=R.FALLBACK
)
API_WRONG_ENDPOINT = _e(
    "API",
    3,
    E,
    "endpoint_unsupported",
    "The model is not served on this endpoint; the other endpoint is tried and remembered.",
    retryable=False,
    http=502,
    recovery=R.ADJUST,
)
API_UNSUPPORTED_PARAMETER = _e(
    "API",
    4,
    E,
    "unsupported_parameter",
    "The backend does not support a parameter; it is stripped, retried and remembered.",
    retryable=False,
    http=502,
    recovery=R.ADJUST,
)
API_CONTENT_FILTERED = _e(
    "API",
    5,
    E,
    "content_filtered",
    "The backend's content filter refused the request.",
    retryable=False,
    http=400,
    recovery=R.ABORT,
    blames_backend=False,
)
API_PREFILL_UNSUPPORTED = _e(
    "API",
    6,
    E,
    "prefill_unsupported",
    "The backend does not accept an assistant prefix; the answer restarts there.",
    retryable=False,
    http=502,
    recovery=R.ADJUST,
)
API_MODEL_NOT_FOUND = _e(
    "API", 7, E, "upstream_model_not_found", "The backend does not know this model.", retryable=False, http=502, recovery=R.FALLBACK
)
API_DEPRECATED = _e(
    "API",
    8,
    W,
    "deprecated",
    "The backend reports the API or model as deprecated.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)

# --- CB -------------------------------------------------------------------
CB_OPEN = _e(
    "CB",
    1,
    E,
    "circuit_open",
    "The circuit breaker for this deployment is open.",
    retryable=True,
    http=503,
    recovery=R.FALLBACK,
    blames_backend=False,
)
CB_PROBES_BUSY = _e(
    "CB",
    2,
    W,
    "half_open_busy",
    "The breaker is half-open and its probe calls are in use.",
    retryable=True,
    http=503,
    recovery=R.FALLBACK,
    blames_backend=False,
)
CB_ISOLATED = _e(
    "CB",
    3,
    W,
    "isolated",
    "The deployment was isolated by an operator.",
    retryable=False,
    http=503,
    recovery=R.FALLBACK,
    blames_backend=False,
)

# --- RETRY ----------------------------------------------------------------
RETRY_EXHAUSTED = _e(
    "RETRY",
    1,
    E,
    "retries_exhausted",
    "Every retry on this deployment failed.",
    retryable=False,
    http=502,
    recovery=R.FALLBACK,
    blames_backend=False,
)
RETRY_DEADLINE = _e(
    "RETRY",
    2,
    E,
    "retry_deadline",
    "No time was left for another retry.",
    retryable=False,
    http=504,
    recovery=R.ABORT,
    blames_backend=False,
)
RETRY_ALL_FAILED = _e(
    "RETRY",
    3,
    E,
    "all_deployments_failed",
    "Every deployment for this model failed.",
    retryable=True,
    http=503,
    recovery=R.ABORT,
    blames_backend=False,
)
RETRY_NO_CANDIDATE = _e(
    "RETRY",
    4,
    E,
    "no_eligible_deployment",
    "No deployment is eligible: breakers open, blacklisted or unable to host the request.",
    retryable=True,
    http=503,
    recovery=R.ABORT,
    blames_backend=False,
)

# --- WEBGPU ---------------------------------------------------------------
WEBGPU_UNAVAILABLE = _e(
    "WEBGPU", 1, E, "unavailable", "WebGPU is not available on this device.", retryable=False, http=503, recovery=R.FALLBACK
)
WEBGPU_OUT_OF_MEMORY = _e("WEBGPU", 2, E, "out_of_memory", "The GPU ran out of memory.", retryable=False, http=503, recovery=R.FALLBACK)
WEBGPU_DEVICE_LOST = _e("WEBGPU", 3, E, "device_lost", "The GPU device was lost.", retryable=False, http=503, recovery=R.FALLBACK)
WEBGPU_PIPELINE_FAILED = _e(
    "WEBGPU", 4, E, "pipeline_failed", "A GPU pipeline or shader failed to compile.", retryable=False, http=503, recovery=R.FALLBACK
)
WEBGPU_NO_F16 = _e(
    "WEBGPU",
    5,
    W,
    "shader_f16_unavailable",
    "The GPU has no shader-f16; a float32 path is used.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)
WEBGPU_LIMITS = _e(
    "WEBGPU",
    6,
    E,
    "limits_exceeded",
    "The GPU's buffer limits are too small for the model.",
    retryable=False,
    http=503,
    recovery=R.FALLBACK,
)
WEBGPU_SOFTWARE_ADAPTER = _e(
    "WEBGPU",
    7,
    E,
    "software_adapter",
    "The only WebGPU adapter is a software renderer (e.g. SwiftShader), slower than WASM; it is not used unless asked for.",
    retryable=False,
    http=503,
    recovery=R.FALLBACK,
)

# --- WASM -----------------------------------------------------------------
WASM_LOAD_FAILED = _e(
    "WASM", 1, E, "module_load_failed", "The WebAssembly module failed to load.", retryable=False, http=503, recovery=R.FALLBACK
)
WASM_NO_THREADS = _e(
    "WASM",
    2,
    W,
    "threads_unavailable",
    "WASM threads need cross-origin isolation; running single-threaded.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)
WASM_OUT_OF_MEMORY = _e("WASM", 3, E, "out_of_memory", "WebAssembly memory is exhausted.", retryable=False, http=503, recovery=R.FALLBACK)
WASM_UNSUPPORTED = _e(
    "WASM",
    4,
    E,
    "unsupported",
    "This browser lacks a WebAssembly feature the engine needs.",
    retryable=False,
    http=503,
    recovery=R.FALLBACK,
)

# --- GGUF -----------------------------------------------------------------
GGUF_INVALID = _e("GGUF", 1, E, "invalid_format", "The file is not a valid GGUF file.", retryable=False, http=422, recovery=R.RELOAD)
GGUF_VERSION = _e("GGUF", 2, E, "unsupported_version", "The GGUF version is not supported.", retryable=False, http=422, recovery=R.FALLBACK)
GGUF_TENSOR_TYPE = _e(
    "GGUF",
    3,
    E,
    "unsupported_tensor_type",
    "The GGUF file uses an unsupported tensor type.",
    retryable=False,
    http=422,
    recovery=R.FALLBACK,
)
GGUF_TRUNCATED = _e(
    "GGUF", 4, C, "truncated", "The GGUF file is truncated or fails its checksum.", retryable=False, http=500, recovery=R.RELOAD
)

# --- ONNX -----------------------------------------------------------------
ONNX_RUNTIME_MISSING = _e(
    "ONNX", 1, E, "runtime_missing", "onnxruntime could not be loaded.", retryable=False, http=503, recovery=R.FALLBACK
)
ONNX_SESSION_FAILED = _e(
    "ONNX", 2, E, "session_failed", "Creating the ONNX inference session failed.", retryable=False, http=503, recovery=R.FALLBACK
)
ONNX_RUN_FAILED = _e("ONNX", 3, E, "run_failed", "Running the ONNX model failed.", retryable=True, http=500, recovery=R.RETRY)
ONNX_INVALID_MODEL = _e("ONNX", 4, E, "invalid_model", "The ONNX model file is invalid.", retryable=False, http=422, recovery=R.RELOAD)
ONNX_UNSUPPORTED_OP = _e(
    "ONNX",
    5,
    E,
    "unsupported_op",
    "The execution provider does not support an operator in the model.",
    retryable=False,
    http=503,
    recovery=R.FALLBACK,
)

# --- STREAM ---------------------------------------------------------------
STREAM_CUT = _e("STREAM", 1, E, "cut", "The stream was cut before the answer finished.", retryable=True, http=502, recovery=R.RETRY)
STREAM_STALL = _e(
    "STREAM", 2, E, "stall", "The stream stalled: no token within the inter-token deadline.", retryable=True, http=504, recovery=R.FALLBACK
)
STREAM_MALFORMED = _e(
    "STREAM", 3, E, "malformed_chunk", "The stream carried a chunk that could not be parsed.", retryable=True, http=502, recovery=R.RETRY
)
STREAM_INCOMPLETE = _e(
    "STREAM",
    4,
    W,
    "incomplete",
    "The answer is incomplete: no deployment could finish it.",
    retryable=False,
    http=200,
    recovery=R.NONE,
    blames_backend=False,
)
STREAM_NO_DONE = _e("STREAM", 5, E, "missing_done", "The stream ended without its end marker.", retryable=True, http=502, recovery=R.RETRY)


def lookup(code: str) -> ErrorSpec:
    """The entry for a code string; KeyError for an unknown code."""
    return ALL[code]
