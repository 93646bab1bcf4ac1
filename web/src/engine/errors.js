// @ts-check
// Engine failures as coded errors.
//
// The codes are the ones in core/catalogue.py, imported from the generated catalogue.js:
// the router in Pyodide classifies a failure by its code, so every error that
// leaves the engine must carry one. onnxruntime-web, WebGPU and Emscripten
// report failures as plain Errors (or strings, or numbers) whose only signal is
// the message text; toEngineError() is the one place that reads those texts.

import { CODES } from '../catalogue.js';

/** The catalogue's codes (web/src/catalogue.js, generated from core/catalogue.py). */
export { CODES };

/** An engine failure with a catalogue code. */
export class EngineError extends Error {
  /**
   * @param {string} code catalogue code, e.g. CODES.ONNX_SESSION_FAILED
   * @param {string} message
   * @param {{context?: Record<string, unknown>, cause?: unknown}} [options]
   */
  constructor(code, message, { context = {}, cause } = {}) {
    super(`[${code}] ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'EngineError';
    this.code = code;
    /** The category in lower case ("webgpu", "wasm", "onnx", …), as core's LLMError.type. */
    this.type = code.split('_')[1].toLowerCase();
    this.context = context;
  }

  /** A plain object for postMessage / Pyodide, which drop Error subclasses' fields. */
  toJSON() {
    return { code: this.code, type: this.type, message: this.message, context: this.context };
  }
}

// Ordered: the first rule whose pattern matches the message wins, so the
// specific texts (device lost, OOM) come before the generic ones.
const RULES = [
  { re: /device (was |is )?lost|GPUDeviceLostInfo|DeviceLost/i, code: () => CODES.WEBGPU_DEVICE_LOST },
  {
    re: /out of memory|Aborted\(OOM\)|\bOOM\b|Array buffer allocation failed|Cannot enlarge memory|allocation failed|GPUOutOfMemoryError|WebAssembly\.Memory\(\): could not allocate/i,
    code: (ep) => (ep === 'webgpu' ? CODES.WEBGPU_OUT_OF_MEMORY : CODES.WASM_OUT_OF_MEMORY),
  },
  { re: /shader-f16|\bf16 (is )?not supported/i, code: () => CODES.WEBGPU_NO_F16 },
  { re: /maxBufferSize|maxStorageBufferBindingSize|maxComputeWorkgroup|exceeds (the )?(device )?limit/i, code: () => CODES.WEBGPU_LIMITS },
  { re: /WGSL|shader|createComputePipeline|GPUPipelineError|pipeline (creation )?failed/i, code: () => CODES.WEBGPU_PIPELINE_FAILED },
  {
    re: /webgpu is not supported|navigator\.gpu|requestAdapter|(no|failed to get( a)?) (suitable |available )?(gpu |webgpu )?adapter|WebGPU (is )?(not available|unavailable)/i,
    code: () => CODES.WEBGPU_UNAVAILABLE,
  },
  {
    re: /Could not find an implementation|NOT_IMPLEMENTED|unsupported op|is not supported by|Unsupported data type/i,
    code: () => CODES.ONNX_UNSUPPORTED_OP,
  },
  {
    re: /INVALID_PROTOBUF|INVALID_GRAPH|protobuf parsing failed|invalid model|ModelProto|external data|checksum|sha-?256/i,
    code: () => CODES.ONNX_INVALID_MODEL,
  },
  { re: /SharedArrayBuffer|cross-?origin isolat/i, code: () => CODES.WASM_NO_THREADS },
  {
    re: /WebAssembly\.(instantiate|compile)|CompileError|failed to load (the )?wasm|no available backend found|\.wasm\b/i,
    code: () => CODES.WASM_LOAD_FAILED,
  },
  { re: /Cannot find module|Failed to fetch dynamically imported module|ort is not defined/i, code: () => CODES.ONNX_RUNTIME_MISSING },
];

const STAGE_DEFAULT = {
  probe: CODES.WEBGPU_UNAVAILABLE,
  import: CODES.ONNX_RUNTIME_MISSING,
  fetch: CODES.NET_DOWNLOAD_FAILED,
  session: CODES.ONNX_SESSION_FAILED,
  run: CODES.ONNX_RUN_FAILED,
};

/**
 * Classify any thrown value from ORT, WebGPU or Emscripten into an EngineError.
 * An EngineError passes through unchanged.
 * @param {unknown} err what was thrown (Error, string, Emscripten's numeric abort, …)
 * @param {'probe'|'import'|'fetch'|'session'|'run'} stage where it was thrown; picks the code when the text says nothing specific
 * @param {{ep?: 'webgpu'|'wasm', context?: Record<string, unknown>}} [options]
 * @returns {EngineError}
 */
export function toEngineError(err, stage, { ep, context = {} } = {}) {
  if (err instanceof EngineError) return err;
  const text = messageOf(err);
  const rule = RULES.find((r) => r.re.test(text));
  const code = rule ? rule.code(ep) : (STAGE_DEFAULT[stage] ?? CODES.ONNX_RUN_FAILED);
  return new EngineError(code, text || 'unknown engine failure', { context: { stage, ep, ...context }, cause: err });
}

/** @param {unknown} err */
function messageOf(err) {
  if (err == null) return '';
  if (typeof err === 'string') return err;
  if (typeof err === 'number') return `Emscripten abort ${err}`;
  // RangeError's name carries the "Array buffer allocation failed" context.
  if (err instanceof Error) return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  if (typeof err === 'object' && 'message' in err) return String(err.message);
  return String(err);
}
