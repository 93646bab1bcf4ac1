// @ts-check
// Starts onnxruntime-web's WASM runtime early: its module instantiated and its
// threads running, while the model's files download.
//
// onnxruntime-web starts the runtime inside the first InferenceSession.create,
// and has no call that does only that. The engine's session was therefore
// created ~0.3 s later than its files were in (one-off probes; 0.7 s on a loaded machine):
// here a one-node model (y = Identity(x)) makes the first session, beside the
// downloads, and the real one finds the runtime ready (engine.js, loadEngine).

import { ENGINES } from '../deployments.js';

const encoder = new TextEncoder();

/** A protobuf length-delimited field. @param {number} field @param {number[]} bytes */
function message(field, bytes) {
  return [(field << 3) | 2, bytes.length, ...bytes];
}

/** @param {number} field @param {string} text */
function string(field, text) {
  return message(field, [...encoder.encode(text)]);
}

/** A protobuf varint field (values below 128). @param {number} field @param {number} value */
function small(field, value) {
  return [field << 3, value];
}

/**
 * The smallest model, as ONNX's protobuf (onnx.proto: ModelProto, GraphProto,
 * NodeProto, ValueInfoProto): float32 x of shape [1] → Identity → y.
 * @returns {Uint8Array}
 */
export function identityModel() {
  const float1 = message(1, [...small(1, 1), ...message(2, message(1, small(1, 1)))]); // TypeProto.tensor_type: FLOAT, [1]
  const value = (/** @type {string} */ name) => [...string(1, name), ...message(2, float1)];
  const node = [...string(1, 'x'), ...string(2, 'y'), ...string(4, 'Identity')];
  const graph = [...message(1, node), ...string(2, 'start'), ...message(11, value('x')), ...message(12, value('y'))];
  return new Uint8Array([...small(1, 8), ...message(7, graph), ...message(8, small(2, 13))]); // IR 8, opset 13
}

/**
 * Start the runtime; resolves when it is up (never rejects: a runtime that
 * cannot start fails the real session, which says why with its code).
 * `ort.env.wasm.numThreads` must be set first: the runtime reads it once.
 * @param {any} ort the onnxruntime-web module
 * @returns {Promise<void>}
 */
export async function startRuntime(ort) {
  try {
    const session = await ort.InferenceSession.create(identityModel(), { executionProviders: [ENGINES.WASM] });
    await session.release();
  } catch {
    // the engine's own session reports it
  }
}
