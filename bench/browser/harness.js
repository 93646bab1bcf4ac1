// Shared by the benchmark pages (bench/browser_decode.py drives them with Playwright).
//
// index.html?runtime=NAME imports ./NAME.js, which exports
//   load(config) -> info   (once per page: ORT's thread count is fixed per page)
//   run(request) -> sample (one greedy generation)
// and leaves window.bench = {load, run} for the driver, with a time limit on
// each call so that a runtime that hangs fails the call instead of the bench.
//
// Every runtime times its generation the same way, with a TokenClock:
// TTFT = first generated token available to the caller - call started;
// decode tok/s = (new tokens - 1) / (last token - first token).

export class TokenClock {
  constructor() {
    this.started = performance.now();
    this.first = null;
    this.last = null;
    this.events = 0;
  }

  /** A generated token (or a chunk of them) reached the caller. */
  tick() {
    const now = performance.now();
    if (this.first === null) this.first = now;
    this.last = now;
    this.events += 1;
  }

  /**
   * @param {number} newTokens generated tokens, as the runtime counts them
   * @param {object} extra anything else the sample carries
   */
  sample(newTokens, extra = {}) {
    const end = performance.now();
    const span = this.first !== null && this.last > this.first ? this.last - this.first : null;
    return {
      ttft_ms: this.first === null ? null : this.first - this.started,
      decode_tok_s: span && newTokens > 1 ? ((newTokens - 1) * 1000) / span : null,
      new_tokens: newTokens,
      chunks: this.events,
      total_ms: end - this.started,
      ...extra,
    };
  }
}

/** A promise that rejects after `ms`, naming what timed out. */
function deadline(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

function describe(e) {
  return e && e.stack ? String(e.stack).split('\n').slice(0, 4).join(' | ') : String(e && e.message ? e.message : e);
}

/** Wrap a runtime module for the driver: results, or {error} with a one-line description. */
export function expose(mod, name) {
  const call = (what, fn, limitMs) => async (arg) => {
    try {
      return await deadline(fn(arg), limitMs, `${name}.${what}`);
    } catch (e) {
      console.error(`${name}.${what} failed`, e);
      return { error: describe(e) };
    }
  };
  window.bench = {
    name,
    load: (config) => call('load', mod.load, (config && config.loadTimeoutMs) || 600_000)(config),
    run: (request) => call('run', mod.run, (request && request.timeoutMs) || 600_000)(request),
    crossOriginIsolated: self.crossOriginIsolated,
  };
}

/** Index of the largest value. */
export function argmax(values, offset = 0, length = values.length - offset) {
  let best = offset;
  let bestValue = values[offset];
  for (let i = offset + 1; i < offset + length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best - offset;
}
