// @ts-check
// What this device can do for local inference, as one JSON-able object.
//
// The router (Python, in Pyodide) filters its candidates with this: WebGPU
// needs an adapter, and the model needs shader-f16 or enough buffer size; WASM
// threads need cross-origin isolation. probeDevice() never throws — every
// failure is reported as an `error` with a catalogue code — because a failed
// probe must still let the router pick WASM or the edge server.

import { CODES } from './catalogue.js';

const LIMIT_NAMES = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'];

// The smallest modules that use a v128 instruction and a shared memory with
// an atomic; WebAssembly.validate() says whether the engine supports them.
const SIMD_MODULE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);
const THREADS_MODULE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11,
]);

/**
 * @typedef {{code: string, message: string}} ProbeError
 * @typedef {{
 *   webgpu: {available: boolean, adapter: {vendor: string, architecture: string, description: string, isFallbackAdapter: boolean}|null,
 *     features: string[], shaderF16: boolean, limits: Record<string, number>|null, error: ProbeError|null},
 *   wasm: {available: boolean, simd: boolean, threads: boolean, maxThreads: number, error: ProbeError|null},
 *   crossOriginIsolated: boolean, hardwareConcurrency: number|null, deviceMemoryGb: number|null, userAgent: string|null,
 *   storage: {quota: number|null, usage: number|null, persisted: boolean|null}
 * }} DeviceProbe
 */

/**
 * Probe WebGPU, WebAssembly and storage.
 * @param {{scope?: any, timeoutMs?: number}} [options] scope: where to find navigator etc. (globalThis; tests pass their own)
 * @returns {Promise<DeviceProbe>}
 */
export async function probeDevice({ scope = globalThis, timeoutMs = 5000 } = {}) {
  const nav = scope.navigator ?? null;
  const isolated = scope.crossOriginIsolated === true;
  const [webgpu, storage] = await Promise.all([probeWebGpu(nav, timeoutMs), probeStorage(nav)]);
  return {
    webgpu,
    wasm: probeWasm(scope, isolated, nav),
    crossOriginIsolated: isolated,
    hardwareConcurrency: numberOrNull(nav?.hardwareConcurrency),
    deviceMemoryGb: numberOrNull(nav?.deviceMemory),
    userAgent: typeof nav?.userAgent === 'string' ? nav.userAgent : null,
    storage,
  };
}

async function probeWebGpu(nav, timeoutMs) {
  const result = { available: false, adapter: null, features: [], shaderF16: false, limits: null, error: null };
  const unavailable = (message) => ({ ...result, error: { code: CODES.WEBGPU_UNAVAILABLE, message } });
  if (!nav?.gpu) return unavailable('navigator.gpu is missing (no WebGPU in this browser or context)');
  let adapter;
  try {
    // requestAdapter can hang on some drivers; the router must not wait on it forever.
    adapter = await withTimeout(nav.gpu.requestAdapter({ powerPreference: 'high-performance' }), timeoutMs, 'requestAdapter');
  } catch (err) {
    return unavailable(`requestAdapter failed: ${err?.message ?? err}`);
  }
  if (!adapter) return unavailable('no WebGPU adapter (blocklisted GPU, or WebGPU disabled)');
  try {
    // adapter.info is the current API; requestAdapterInfo() the older one.
    const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
    result.adapter = {
      vendor: String(info.vendor ?? ''),
      architecture: String(info.architecture ?? ''),
      description: String(info.description ?? ''),
      isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false),
    };
    result.features = [...(adapter.features ?? [])].map(String).sort();
    result.shaderF16 = result.features.includes('shader-f16');
    result.limits = Object.fromEntries(LIMIT_NAMES.map((name) => [name, numberOrNull(adapter.limits?.[name])]));
    result.available = true;
  } catch (err) {
    return { ...unavailable(`reading the adapter failed: ${err?.message ?? err}`), adapter: result.adapter };
  }
  return result;
}

function probeWasm(scope, isolated, nav) {
  const wa = scope.WebAssembly;
  const hardware = numberOrNull(nav?.hardwareConcurrency) ?? 1;
  if (!wa?.validate) {
    return { available: false, simd: false, threads: false, maxThreads: 0, error: { code: CODES.WASM_UNSUPPORTED, message: 'no WebAssembly' } };
  }
  let simd = false;
  let atomics = false;
  try {
    simd = wa.validate(SIMD_MODULE);
    atomics = wa.validate(THREADS_MODULE);
  } catch {
    // validate() throwing means the feature is absent
  }
  // Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
  const threads = isolated && typeof scope.SharedArrayBuffer !== 'undefined' && atomics;
  return {
    available: true,
    simd,
    threads,
    maxThreads: threads ? hardware : 1,
    error: simd ? null : { code: CODES.WASM_UNSUPPORTED, message: 'WebAssembly SIMD is not supported; the engine needs it' },
  };
}

// null means unknown: the router then does not count on caching the model.
// A failing estimate is not a device failure, so it has no code, only nulls.
async function probeStorage(nav) {
  const result = { quota: null, usage: null, persisted: null };
  try {
    const estimate = await nav?.storage?.estimate?.();
    result.quota = numberOrNull(estimate?.quota);
    result.usage = numberOrNull(estimate?.usage);
  } catch {
    // unknown
  }
  try {
    const persisted = await nav?.storage?.persisted?.();
    result.persisted = typeof persisted === 'boolean' ? persisted : null;
  } catch {
    // unknown
  }
  return result;
}

function numberOrNull(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
