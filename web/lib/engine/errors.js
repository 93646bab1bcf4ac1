// @ts-check
// Engine failures: what happened, for Python to name.
//
// onnxruntime-web, WebGPU and Emscripten report failures as plain Errors (or
// strings, or numbers) whose only signal is their text. The engine does not
// read that text: toEngineError() records what the engine was doing (stage),
// on which execution provider (ep) and the message, and the core's classifier
// in Pyodide (core/classify.py, classify_engine_failure, through
// llm_web/bridge.py's error_from_js) decides the code. One pattern table, one
// answer, whichever side asks.
//
// Failures the engine recognises itself (a checksum mismatch, a missing model
// file, a lost device it was told about) are thrown with their catalogue code
// (CODES.X from the generated catalogue.js); Python keeps that code as it is.

import { CODES } from '../catalogue.js';

/** The catalogue's codes (web/lib/catalogue.js, generated from core/catalogue.py). */
export { CODES };

/** @typedef {'probe'|'import'|'fetch'|'session'|'run'} Stage what the engine was doing */
/** @typedef {import('../deployments.js').Engine} ExecutionProvider */

/**
 * An engine failure: a catalogue code when the engine knows what happened, else
 * where it happened (stage, ep) for the core's classifier to decide.
 */
export class EngineError extends Error {
  /**
   * @param {string|null} code a catalogue code (CODES.ONNX_INVALID_MODEL), or null: Python classifies it
   * @param {string} message
   * @param {{stage?: Stage, ep?: ExecutionProvider, context?: Record<string, unknown>, cause?: unknown}} [options]
   */
  constructor(code, message, { stage, ep, context = {}, cause } = {}) {
    super(code ? `[${code}] ${message}` : message, cause === undefined ? undefined : { cause });
    this.name = 'EngineError';
    /** @type {string|null} */
    this.code = code;
    /** @type {Stage|undefined} */
    this.stage = stage;
    /** @type {ExecutionProvider|undefined} */
    this.ep = ep;
    this.context = context;
  }

  /** A plain object for postMessage / Pyodide, which drop Error subclasses' fields. */
  toJSON() {
    return { code: this.code, stage: this.stage, ep: this.ep, message: this.message, context: this.context };
  }
}

/**
 * Any thrown value from ORT, WebGPU or Emscripten as an EngineError without a
 * code: Python names it from stage, ep and message. An EngineError passes
 * through unchanged.
 * @param {unknown} err what was thrown (Error, string, Emscripten's numeric abort, …)
 * @param {Stage} stage where it was thrown
 * @param {{ep?: ExecutionProvider, context?: Record<string, unknown>}} [options]
 * @returns {EngineError}
 */
export function toEngineError(err, stage, { ep, context = {} } = {}) {
  if (err instanceof EngineError) return err;
  return new EngineError(null, messageOf(err), { stage, ep, context, cause: err });
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
