// @ts-check
// Fault injection on a real engine: it streams its real answer, then fails
// the way a device does (a coded EngineError: device lost, out of memory)
// after a given number of pieces. The routing demo and the e2e tests use it to
// show failover on the real path — the real engine, the real router in
// Pyodide, the real edge server — without having to break a GPU on purpose.
//
//   createRuntime({ faults: { wasm: { after: 5, code: CODES.WASM_OUT_OF_MEMORY } } })
//
// `stall: true` makes it hang instead, after those pieces, like a GPU that stops
// answering: no error, no token, until the router's stall limit moves the answer
// on and aborts it (`?fault=wasm:5:stall`).
//
// A fault fires on every answer until `times` is used up (default: every time,
// like a broken device).

import { CODES } from './catalogue.js';
import { ENGINES } from './deployments.js';
import { EngineError } from './engine/errors.js';

const DEFAULT_CODES = { [ENGINES.WEBGPU]: CODES.WEBGPU_DEVICE_LOST, [ENGINES.WASM]: CODES.WASM_OUT_OF_MEMORY };

/**
 * @param {{info: object, stream: Function, release?: Function, ready?: Function}} engine
 * @param {{after?: number, code?: string, message?: string, times?: number, stall?: boolean}} fault
 * @param {string} ep the engine's name, for the default code
 */
export function withFault(engine, fault = {}, ep = ENGINES.WASM) {
  let failure, after, message, left, stalls;
  /**
   * Re-arms the fault: the next `times` answers fail after `after` pieces (chaos runs change it per request).
   * @param {{after?: number, code?: string, message?: string, times?: number, stall?: boolean}} [fault]
   */
  const arm = ({ after: n = 0, code, message: text, times = Infinity, stall = false } = {}) => {
    failure = code || DEFAULT_CODES[ep] || DEFAULT_CODES[ENGINES.WASM];
    after = n;
    message = text;
    left = times;
    stalls = stall;
  };
  arm(fault);
  return {
    get info() {
      return { ...engine.info, fault: { after, code: stalls ? null : failure, stall: stalls, left } };
    },
    arm,
    ready: () => (engine.ready ? engine.ready() : Promise.resolve(engine)),
    release: () => (engine.release ? engine.release() : undefined),
    async *stream(options) {
      let pieces = 0;
      const armed = left > 0;
      if (armed) left -= 1;
      // Read once: a re-arm while this answer streams applies to the next one.
      const [failAfter, code, text, stall] = [after, failure, message, stalls];
      for await (const chunk of engine.stream(options)) {
        if (chunk.heartbeat) {
          yield chunk; // alive, no piece yet (loading on first use)
          continue;
        }
        if (armed && !chunk.finishReason && pieces >= failAfter) {
          if (stall) {
            // Hung: nothing more until the router gives up on this engine and aborts it.
            await untilAborted(options && options.signal);
            return;
          }
          throw new EngineError(code, text || `fault injected after ${failAfter} pieces (faults option)`, { context: { injected: true } });
        }
        pieces += 1;
        yield chunk;
      }
    },
  };
}

/** Resolves when `signal` aborts (never without one). @param {AbortSignal} [signal] */
function untilAborted(signal) {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
}

/**
 * `?fault=wasm:5:<code>,webgpu:0` in a demo page's URL (a catalogue code string, e.g. CODES.WASM_OUT_OF_MEMORY's) → the `faults` option.
 * `wasm:5:stall` hangs after 5 pieces instead (the router's stall limit moves the answer on).
 * `wasm:off` wraps the engine with the fault disarmed, for a script to `arm()` later.
 */
export function faultsFromQuery(value) {
  if (!value) return undefined;
  const out = {};
  for (const item of value.split(',')) {
    const [ep, after, code] = item.split(':');
    if (!ep) continue;
    if (after === 'off') out[ep] = { times: 0 };
    else if (code === 'stall') out[ep] = { after: Number(after || 0), stall: true };
    else out[ep] = { after: Number(after || 0), ...(code ? { code } : {}) };
  }
  return out;
}
