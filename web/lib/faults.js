// @ts-check
// Fault injection on a real engine: it streams its real answer, then fails
// the way a device does (a coded EngineError: device lost, out of memory)
// after a given number of pieces. The routing demo and the e2e tests use it to
// show failover on the real path — the real engine, the real router in
// Pyodide, the real edge server — without having to break a GPU on purpose.
//
//   createRuntime({ faults: { wasm: { after: 5, code: CODES.WASM_OUT_OF_MEMORY } } })
//
// A fault fires on every answer until `times` is used up (default: every time,
// like a broken device).

import { CODES } from './catalogue.js';
import { ENGINES } from './deployments.js';
import { EngineError } from './engine/errors.js';

const DEFAULT_CODES = { [ENGINES.WEBGPU]: CODES.WEBGPU_DEVICE_LOST, [ENGINES.WASM]: CODES.WASM_OUT_OF_MEMORY };

/**
 * @param {{info: object, stream: Function, release?: Function, ready?: Function}} engine
 * @param {{after?: number, code?: string, message?: string, times?: number}} fault
 * @param {string} ep the engine's name, for the default code
 */
export function withFault(engine, fault = {}, ep = ENGINES.WASM) {
  let failure, after, message, left;
  /**
   * Re-arms the fault: the next `times` answers fail after `after` pieces (chaos runs change it per request).
   * @param {{after?: number, code?: string, message?: string, times?: number}} [fault]
   */
  const arm = ({ after: n = 0, code, message: text, times = Infinity } = {}) => {
    failure = code || DEFAULT_CODES[ep] || DEFAULT_CODES[ENGINES.WASM];
    after = n;
    message = text;
    left = times;
  };
  arm(fault);
  return {
    get info() {
      return { ...engine.info, fault: { after, code: failure, left } };
    },
    arm,
    ready: () => (engine.ready ? engine.ready() : Promise.resolve(engine)),
    release: () => (engine.release ? engine.release() : undefined),
    async *stream(options) {
      let pieces = 0;
      const armed = left > 0;
      if (armed) left -= 1;
      // Read once: a re-arm while this answer streams applies to the next one.
      const [failAfter, code, text] = [after, failure, message];
      for await (const chunk of engine.stream(options)) {
        if (chunk.heartbeat) {
          yield chunk; // alive, no piece yet (loading on first use)
          continue;
        }
        if (armed && !chunk.finishReason && pieces >= failAfter) {
          throw new EngineError(code, text || `fault injected after ${failAfter} pieces (faults option)`, { context: { injected: true } });
        }
        pieces += 1;
        yield chunk;
      }
    },
  };
}

/**
 * `?fault=wasm:5:<code>,webgpu:0` in a demo page's URL (a catalogue code string, e.g. CODES.WASM_OUT_OF_MEMORY's) → the `faults` option.
 * `wasm:off` wraps the engine with the fault disarmed, for a script to `arm()` later.
 */
export function faultsFromQuery(value) {
  if (!value) return undefined;
  const out = {};
  for (const item of value.split(',')) {
    const [ep, after, code] = item.split(':');
    if (!ep) continue;
    out[ep] = after === 'off' ? { times: 0 } : { after: Number(after || 0), ...(code ? { code } : {}) };
  }
  return out;
}
