// @ts-check
// Generated from web/python/llm_web/deployments.py by build/gen_error_docs.py -- do not edit.
// The page's engine and deployment names, the same as the Python router's: import them, never spell one.

/** @typedef {'webgpu'|'wasm'} Engine a local engine (also its onnxruntime-web execution provider and model variant) */

/** The local engines by name, in the default order of preference. */
export const ENGINES = Object.freeze({
  WEBGPU: "webgpu",
  WASM: "wasm",
});

/** The deployments the page's router answers from. */
export const DEPLOYMENTS = Object.freeze({
  LOCAL_WEBGPU: "local-webgpu",
  LOCAL_WASM: "local-wasm",
  EDGE: "edge",
  CACHE: "cache",
});

export const LOCAL_PREFIX = "local-";

/** The most WASM threads the core's plan gives an engine (core/capabilities.py). */
export const MAX_WASM_THREADS = 4;

/**
 * The deployment of a local engine: localDeployment(ENGINES.WASM) === DEPLOYMENTS.LOCAL_WASM.
 * @param {string} engine
 */
export function localDeployment(engine) {
  return `${LOCAL_PREFIX}${engine}`;
}

/**
 * Whether a deployment runs on this device.
 * @param {string | null | undefined} deployment
 */
export function isLocal(deployment) {
  return typeof deployment === 'string' && deployment.startsWith(LOCAL_PREFIX);
}
