// @ts-check
// The page's runtime, the one thing "runtime" names here: probe the device,
// boot the core in Pyodide (loader.js), load the engines the core's capability
// plan picks, and route each chat through the core's Router in Python
// (llm_runner_router.web.page_router.PageRouter).
//
//   import { createRuntime } from '/lib/runtime.js';
//   const runtime = await createRuntime({ onProgress });
//   const done = await runtime.chat(messages, { onToken: (text) => …, signal });
//
// Only the best engine of the plan is loaded up front; the others load the
// first time the router falls back to them (each variant is ~100 MB to fetch
// and hundreds of MB of memory, and most pages never need the second).
//
// An engine the plan leaves out is not loaded, even when `engines` names it: a
// software WebGPU adapter (SwiftShader) is left out unless `allowSoftwareAdapter`.

import { CODES } from './catalogue.js';
import { DEPLOYMENTS, ENGINES, MAX_WASM_THREADS, localDeployment } from './deployments.js';
import { loadPython } from './loader.js';
import { probeDevice } from './probe.js';
import { loadEngine } from './engine/engine.js';
import { loadWorkerEngine } from './engine/worker_engine.js';
import { EngineError, toEngineError } from './engine/errors.js';
import { EdgeClient } from './edge.js';
import { IdbStore } from './idb_store.js';
import { withFault } from './faults.js';

export const MODEL_DIR = 'models/smollm2-135m-instruct/';

/**
 * What a failed engine load means, {code, message}: the core's classifier names
 * it (llm_runner_router.web.bridge.error_from_js), as it names failures mid-answer.
 * @param {any} bridge the Python module, a PyProxy
 * @param {unknown} failure what loading threw
 * @param {import('./deployments.js').Engine} ep
 */
function loadFailure(bridge, failure, ep) {
  // The engine's own failures are EngineErrors already; anything else failed while loading it.
  const err = bridge.error_from_js(toEngineError(failure, 'session', { ep }));
  try {
    return { code: err.code, message: err.message };
  } finally {
    err.destroy();
  }
}

function toJs(proxy) {
  if (proxy === null || proxy === undefined || typeof proxy.toJs !== 'function') return proxy;
  try {
    return proxy.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  } finally {
    proxy.destroy();
  }
}

// While an engine loads for an answer, at most one heartbeat this often.
const HEARTBEAT_MS = 250;

/**
 * An engine that loads on its first use, so the router can fall back to it
 * without every page paying for it. While it loads for an answer, its stream
 * says it is alive at each step of the load's progress (`{text: '', heartbeat:
 * true}`, llm_web/bridge.py): the router's first-token limit then times the
 * answer, not the download, and still catches a load that stops moving.
 */
class LazyEngine {
  /**
   * @param {import('./deployments.js').Engine} ep
   * @param {(onProgress: () => void) => Promise<any>} load told of each progress event of the load
   * @param {Map<string, RequestHooks>} [hooks] the page's answers in progress, by request id
   */
  constructor(ep, load, hooks = new Map()) {
    this.ep = ep;
    this._load = load;
    this._hooks = hooks;
    this._engine = null;
    this._loading = null;
    /** @type {Set<() => void>} told of each progress event of the load */
    this._listeners = new Set();
    this.info = { ep, loaded: false };
  }

  async ready() {
    if (this._engine) return this._engine;
    if (!this._loading) {
      this._loading = this._load(() => this._listeners.forEach((f) => f())).then(
        (engine) => {
          this._engine = engine;
          this.info = { ...engine.info, loaded: true };
          return engine;
        },
        (e) => {
          this._loading = null; // a later request may try again
          throw e;
        },
      );
    }
    return this._loading;
  }

  /**
   * The prompt's tokens (engine.countTokens) when this engine is loaded; null when not.
   * @returns {Promise<number | null>}
   */
  async countTokens(request) {
    return this._engine ? this._engine.countTokens(request) : null;
  }

  async *stream(options) {
    if (!this._engine && (yield* this._whileLoading(options && options.signal))) return;
    const engine = await this.ready();
    // The page's own Stop reaches the engine at once (a long prompt's chunks
    // stop within one chunk), and its progress reaches the page; the router's
    // signal (failover, a stall) still stops it too.
    const hooks = options && options.requestId ? this._hooks.get(options.requestId) : null;
    if (!hooks) {
      yield* engine.stream(options);
      return;
    }
    const deployment = localDeployment(this.ep);
    // Each chunk of a long prompt read is also a heartbeat to the router: the
    // first-token limit then times the reading's progress, not its length.
    let beat = false;
    let wake = null;
    const chunks = engine.stream({
      ...options,
      signal: anySignal([options.signal, hooks.signal]),
      onPrefill: (progress) => {
        hooks.onPrefill({ ...progress, deployment });
        beat = true;
        if (wake) wake();
      },
    });
    let pending = null;
    try {
      for (;;) {
        if (!pending) pending = chunks.next();
        const woken = new Promise((resolve) => (wake = resolve));
        const next = await Promise.race([pending, woken]);
        wake = null;
        if (beat) {
          beat = false;
          yield { text: '', heartbeat: true };
        }
        if (!next) continue; // woken by progress
        pending = null;
        if (next.done) return;
        yield next.value;
      }
    } finally {
      if (pending) await pending.catch(() => {}); // the chunk in flight: the signal ends the stream after it
      await chunks.return(undefined);
    }
  }

  /**
   * Heartbeats while the load makes progress, until it settles; true when the router's signal aborted the attempt first.
   * @param {AbortSignal} [signal]
   */
  async *_whileLoading(signal) {
    let settled = false;
    let moved = false;
    let wake = () => {};
    const loading = this.ready().then(
      () => (settled = true),
      () => (settled = true), // ready() throws it again in stream()
    );
    const onProgress = () => {
      moved = true;
      wake();
    };
    const onAbort = () => wake();
    this._listeners.add(onProgress);
    signal?.addEventListener('abort', onAbort);
    let last = -Infinity;
    try {
      while (!settled && !signal?.aborted) {
        if (!moved) {
          await Promise.race([loading, new Promise((resolve) => (wake = () => resolve(undefined)))]);
          continue;
        }
        // One heartbeat for a burst of progress (a download reports every chunk).
        const wait = HEARTBEAT_MS - (performance.now() - last);
        if (wait > 0) {
          await Promise.race([loading, new Promise((resolve) => setTimeout(resolve, wait))]);
          continue;
        }
        moved = false;
        last = performance.now();
        yield { text: '', heartbeat: true };
      }
    } finally {
      this._listeners.delete(onProgress);
      signal?.removeEventListener('abort', onAbort);
    }
    // The router moved on (a limit fired, another deployment took over); the load goes on for later answers.
    if (!signal?.aborted || settled) return false;
    yield { text: '', finishReason: 'abort' };
    return true;
  }

  async release() {
    if (this._engine) await this._engine.release();
  }
}

/**
 * @typedef {{signal?: AbortSignal, onPrefill: (progress: {read: number, total: number, deployment: string}) => void}} RequestHooks
 *   what an answer in progress gives its local engine besides the router's options
 */

/** One signal that fires when any of `signals` does. */
function anySignal(signals) {
  const present = signals.filter(Boolean);
  if (present.length <= 1) return present[0];
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(present);
  const controller = new AbortController();
  for (const s of present) {
    if (s.aborted) controller.abort();
    else s.addEventListener('abort', () => controller.abort(), { once: true });
  }
  return controller.signal;
}

// Which engine a page started with last time, per bundle (localStorage): loaded early on a reload.
const LAST_ENGINE_KEY = 'llm-runner-router:last-engine';

/**
 * The engine (and WASM threads) this page's plan put first last time, when `engines` does not rule it out; null when none is known.
 * @param {string} root the bundle
 * @param {string[]} [engines] the engines the page forces, if any
 * @param {number} [threads] the threads it forces, if any
 * @returns {{ep: import('./deployments.js').Engine, threads: number} | null}
 */
function lastEngine(root, engines, threads) {
  try {
    const last = JSON.parse(globalThis.localStorage?.getItem(LAST_ENGINE_KEY) ?? 'null')?.[root];
    if (!last || !Object.values(ENGINES).includes(last.ep) || !(last.threads >= 1)) return null;
    return !engines || engines[0] === last.ep ? { ep: last.ep, threads: threads || last.threads } : null;
  } catch {
    return null; // no storage (a sandboxed frame): no early start
  }
}

/**
 * On a first visit (no engine remembered): WASM, when the plan will put it first — the page
 * asks for it, or the device has no WebGPU adapter at all — with the plan's threads (the rule
 * of core/capabilities.py _wasm_threads). Any other case waits for the plan: a wrong guess
 * would fetch a model variant the plan then does not use.
 * @param {any} device probeDevice's result
 * @param {string[]} [engines] the engines the page forces, if any
 * @param {number} [threads] the threads it forces, if any
 * @returns {{ep: import('./deployments.js').Engine, threads: number} | null}
 */
export function firstVisitEngine(device, engines, threads) {
  const first = engines?.length ? engines[0] : device?.webgpu?.available ? null : ENGINES.WASM;
  if (first !== ENGINES.WASM || !device?.wasm?.available) return null;
  if (threads) return { ep: ENGINES.WASM, threads };
  if (!(device.wasm.threads && device.crossOriginIsolated)) return { ep: ENGINES.WASM, threads: 1 };
  const known = [device.wasm.maxThreads, device.hardwareConcurrency].filter((n) => Number.isInteger(n) && n > 0);
  return { ep: ENGINES.WASM, threads: Math.max(1, Math.min(...known, MAX_WASM_THREADS)) };
}

/** @param {string} root @param {{ep: string, threads: number}} last */
function rememberEngine(root, last) {
  try {
    const all = JSON.parse(globalThis.localStorage?.getItem(LAST_ENGINE_KEY) ?? 'null') ?? {};
    globalThis.localStorage?.setItem(LAST_ENGINE_KEY, JSON.stringify({ ...all, [root]: last }));
  } catch {
    // no storage: every start waits for the plan
  }
}

let requestCount = 0;
/** A request id unique in this page. */
function nextRequestId() {
  requestCount += 1;
  return `page-${Date.now().toString(36)}-${requestCount}`;
}

/**
 * @param {object} [options]
 * @param {string} [options.base] where the bundle is served ('/' by default)
 * @param {(ev: object) => void} [options.onProgress] {stage, loaded, total, file?, message?}
 * @param {string[]} [options.engines] force these engines (e.g. [ENGINES.WASM]) instead of the plan's
 * @param {number} [options.threads] WASM threads (default: the plan's)
 * @param {object} [options.settings] core settings merged over the generated ones
 * @param {object} [options.probe] a probe result to use instead of probing (tests, demos)
 * @param {boolean} [options.prepack] WASM: false decodes a third slower in ~100 MB less memory (see engine.js)
 * @param {string} [options.edgeUrl] an edge server to fall back to (after the local engines)
 * @param {boolean} [options.persist] keep what the router learns in IndexedDB (default true)
 * @param {object} [options.faults] make engines fail mid-answer, e.g. {wasm: {after: 5}} (faults.js; demos and tests)
 * @param {boolean} [options.allowSoftwareAdapter] let WebGPU on a software adapter (SwiftShader) answer, after WASM;
 *   by default the plan leaves it out (CODES.WEBGPU_SOFTWARE_ADAPTER): it is far slower than WASM. For tests of that path.
 * @param {boolean} [options.worker] run each engine in its own Web Worker (the default), so that reading a prompt and
 *   writing an answer never hold the page's thread; false runs it on the page's thread (bench/page_responsiveness.py compares)
 * @param {boolean} [options.pythonSnapshot] restore the page's Python from a memory snapshot kept by an earlier load
 *   (the default; python_snapshot.js); false boots it afresh every time (bench/browser_failover.py compares)
 */
export async function createRuntime({ base = '/', onProgress, engines, threads, settings, probe, prepack = true, edgeUrl, persist = true, faults, allowSoftwareAdapter = false, worker = true, pythonSnapshot = true } = {}) {
  const started = performance.now();
  const root = new URL(base.endsWith('/') ? base : `${base}/`, location.href).href;
  // Asked while Python boots: how long a prompt the edge server takes.
  const edgeClient = edgeUrl ? new EdgeClient(edgeUrl) : null;
  const edgeContext = edgeClient ? edgeClient.contextWindow() : null;
  const vendor = `${root}vendor/ort/`;
  const ortFor = (eps) => `${vendor}${eps.includes(ENGINES.WEBGPU) ? 'ort.all.min.mjs' : 'ort.wasm.min.mjs'}`;
  /** @param {import('./deployments.js').Engine} ep @param {number} n @param {(ev: any) => void} [progress] */
  const inWorker = (ep, n, progress) =>
    loadWorkerEngine({ ortUrl: ortFor([ep]), wasmPaths: vendor, options: { ep, modelBase: `${root}${MODEL_DIR}`, threads: n, prepack }, onProgress: progress });
  // The plan is the core's, in Python, which takes seconds to boot. The engine
  // this page started with last time is most likely the plan's first again (or
  // the page names its engine and threads): its worker starts loading it now,
  // before the device is even probed, beside Python's boot. On a first visit,
  // the probe says whether WASM will come first (firstVisitEngine). The plan
  // then takes the early engine, or releases it when it chose otherwise.
  /** @param {{ep: import('./deployments.js').Engine, threads: number} | null} guess */
  const startEarly = (guess) => {
    if (!guess) return null;
    const engine = inWorker(guess.ep, guess.threads, onProgress);
    engine.catch(() => {}); // a failure is the plan's to report, if it takes this engine
    return { ...guess, engine };
  };
  const named = engines?.length && threads ? { ep: /** @type {import('./deployments.js').Engine} */ (engines[0]), threads } : null;
  let early = worker ? startEarly(named || lastEngine(root, engines, threads)) : null;
  const device = probe || (await probeDevice());
  if (worker && !early) early = startEarly(firstVisitEngine(device, engines, threads));
  // The modules the runtime uses, imported while booting: a Python snapshot holds them (python_snapshot.js).
  const imports = ['llm_runner_router.web.page_router', 'llm_runner_router.web.bridge', 'llm_runner_router.web.js_store'];
  const booted = await loadPython({ base: root, onProgress, imports, snapshot: pythonSnapshot });
  const { pyodide, py } = booted;
  const routerModule = pyodide.pyimport('llm_runner_router.web.page_router');
  const planOptions = { allow_software_adapter: Boolean(allowSoftwareAdapter) };
  const plan = toJs(routerModule.plan_from_probe.callKwargs(pyodide.toPy(device), planOptions).to_dict());
  // An engine the plan leaves out is not loaded, even when named: its coded reason is its load error.
  const skipped = Object.fromEntries(
    (engines || []).filter((ep) => plan.excluded[ep]).map((ep) => [ep, { code: plan.excluded[ep].code, message: plan.excluded[ep].message }]),
  );
  const chosen = (engines || plan.engines).filter((ep) => !skipped[ep]);
  const wasmThreads = threads || plan.threads || 1;
  const taken = early && early.ep === chosen[0] && early.threads === wasmThreads ? early : null;
  if (early && !taken) early.engine.then((engine) => engine.release()).catch(() => {});
  if (chosen.length) rememberEngine(root, { ep: chosen[0], threads: wasmThreads });
  // On the page's thread, one onnxruntime-web for all engines; in workers, each imports its own.
  const ort = chosen.length && !worker ? await import(ortFor(chosen)) : null;
  if (ort) ort.env.wasm.wasmPaths = vendor;
  const errors = { ...skipped };
  const table = {};
  /** @type {Map<string, RequestHooks>} */
  const hooks = new Map();
  const lazies = [];
  for (const ep of chosen) {
    let preloaded = ep === taken?.ep ? taken.engine : null;
    const lazy = new LazyEngine(
      ep,
      (moved) => {
        const progress = (ev) => {
          moved();
          if (onProgress) onProgress(ev);
        };
        if (preloaded) {
          const engine = preloaded; // the early load; a later attempt (after it failed) loads afresh
          preloaded = null;
          return engine;
        }
        if (worker) return inWorker(ep, wasmThreads, progress);
        return loadEngine({ ort, ep, modelBase: `${root}${MODEL_DIR}`, threads: wasmThreads, prepack, onProgress: progress });
      },
      hooks,
    );
    lazies.push(lazy);
    table[ep] = faults && faults[ep] ? withFault(lazy, faults[ep], ep) : lazy;
  }
  // The best engine loads now; when it cannot, the next one is tried, so the
  // page is ready with whatever this device can run.
  let first = null;
  const bridge = pyodide.pyimport('llm_runner_router.web.bridge');
  for (const ep of chosen) {
    try {
      await table[ep].ready();
      first = ep;
      break;
    } catch (e) {
      errors[ep] = loadFailure(bridge, e, ep);
      console.warn(`engine ${ep} failed to load`, e);
    }
  }
  bridge.destroy();
  /** @type {Record<string, any>} PageRouter.create's keyword arguments */
  const kwargs = { ...(settings ? { settings_overrides: pyodide.toPy(settings) } : {}), ...planOptions };
  let idb = null;
  let storeError = null;
  if (persist) {
    try {
      idb = await IdbStore.open();
      const snapshot = await idb.load();
      kwargs.store = pyodide.pyimport('llm_runner_router.web.js_store').WriteThroughStore(pyodide.toPy(snapshot), idb);
    } catch (e) {
      // No IndexedDB (private mode, blocked storage): learn in memory only, and say so.
      storeError = { code: CODES.CORE_STORE_CORRUPT, message: `learned state is kept in memory only: ${e.message || e}` };
      console.warn(storeError.message, e);
    }
  }
  const router = routerModule.PageRouter.create.callKwargs(pyodide.toPy(device), table, kwargs);
  if (edgeClient) {
    const contextWindow = await edgeContext;
    router.add_remote.callKwargs(DEPLOYMENTS.EDGE, edgeClient, contextWindow ? { context_window: contextWindow } : {});
  }
  const edge = edgeUrl ? String(edgeUrl) : null;
  routerModule.destroy();
  if (onProgress) onProgress({ stage: 'ready', loaded: 1, total: 1, message: first ? `ready on ${first}` : edgeUrl ? 'no local engine: answers come from the edge server' : 'no local engine' });
  // earlyEngine: the first engine was loading beside Python's boot (remembered, named or firstVisitEngine).
  const timings = { ...booted.timings, earlyEngine: Boolean(taken) && first === taken?.ep, readyMs: performance.now() - started };
  return new PageRuntime({ pyodide, py, router, device, plan, table, errors, first, booted: { ...booted, timings }, idb, storeError, edge, hooks, lazies });
}

export class PageRuntime {
  constructor({ pyodide, py, router, device, plan, table, errors, first, booted, idb, storeError, edge = null, hooks = new Map(), lazies = [] }) {
    this.pyodide = pyodide;
    this.py = py;
    this._router = router; // the PageRouter in Python (a PyProxy)
    this.probe = device;
    this.plan = plan;
    this.engines = table;
    this.loadErrors = errors;
    this.engine = first; // the engine loaded up front (null: none could load)
    this.edgeUrl = edge; // the edge server answers after the local engines (null: none)
    this.build = booted.build;
    this.timings = booted.timings;
    this.store = idb; // IdbStore, or null when learning in memory only
    this._storeError = storeError;
    this._hooks = hooks; // answers in progress, by request id (LazyEngine reads them)
    this._lazies = lazies;
  }

  /**
   * The prompt's length in the model's tokens, counted with a loaded engine's
   * tokenizer and chat template (milliseconds, no model run); null when no
   * local engine is loaded or the messages cannot be rendered (the engine
   * then says why, with its code).
   * @param {{role: string, content: string}[]} messages
   * @param {{kind?: 'chat'|'text', prefix?: string}} [options]
   * @returns {Promise<number | null>}
   */
  async countTokens(messages, { kind = 'chat', prefix = '' } = {}) {
    for (const lazy of this._lazies) {
      try {
        const n = await lazy.countTokens({ messages, kind, prefix });
        if (n !== null) return n;
      } catch {
        return null;
      }
    }
    return null;
  }

  /** Why learned state is not being kept ({code, message}), or null. */
  get storeError() {
    return this._storeError || (this.store && this.store.error) || null;
  }

  /**
   * Stream one answer: each event is {type: 'delta'|'switch'|'restart'|'done', …}
   * (see llm_web/page_router.py event_to_dict), and while a local engine reads
   * a long prompt, {type: 'prefill', read, total, deployment} (prompt tokens
   * read so far). Breaking out of the loop, or an aborted `signal`, cancels the
   * generation wherever it runs.
   *
   * The prompt is counted first (countTokens) and the count goes to the
   * router, which refuses a prompt longer than every deployment's context
   * window before any work (RUNTIME_CONTEXT_LENGTH), or sends it to one that takes it.
   *
   * @param {{role: string, content: string}[]} messages
   * @param {Record<string, any>} [options]
   */
  async *stream(messages, options = {}) {
    const { signal, onToken, onEvent, ...rest } = options;
    if (typeof rest.requestId !== 'string' || !rest.requestId) rest.requestId = nextRequestId();
    if (rest.promptTokens == null) {
      const counted = await this.countTokens(messages, rest);
      if (counted !== null) rest.promptTokens = counted;
    }
    const requestId = rest.requestId;
    /** @type {any} */
    let progress = null; // the latest prefill progress not yet yielded
    let wake = null;
    this._hooks.set(requestId, {
      signal,
      onPrefill: (p) => {
        progress = p;
        if (wake) wake('progress');
      },
    });
    const gen = this._router.chat(this.pyodide.toPy(messages), this.pyodide.toPy(rest));
    let finished = false;
    let pending = null;
    const aborted = new Promise((resolve) => {
      if (!signal) return;
      if (signal.aborted) resolve('abort');
      signal.addEventListener('abort', () => resolve('abort'), { once: true });
    });
    try {
      for (;;) {
        if (!pending) pending = gen.next();
        const woken = progress ? Promise.resolve('progress') : new Promise((resolve) => (wake = resolve));
        const next = await Promise.race([pending, aborted, woken]);
        wake = null;
        if (next === 'abort') {
          yield { type: 'done', finish_reason: 'abort', complete: false, error: null };
          return;
        }
        if (progress) {
          const p = progress;
          progress = null;
          yield { type: 'prefill', ...p };
        }
        if (next === 'progress') continue;
        pending = null;
        if (next.done) break;
        const event = toJs(next.value);
        if (event.type === 'done') finished = true;
        yield event;
      }
    } finally {
      this._hooks.delete(requestId);
      // A Python async generator cannot be closed while it runs: let the step
      // in flight end (at most one token: the engine saw the page's signal),
      // then close it, which cancels the attempt and aborts the engine (llm_web/backend.py).
      if (pending) {
        try {
          const last = await pending;
          if (last && !last.done) toJs(last.value);
        } catch (e) {
          console.warn('the answer failed while being cancelled', e);
        }
      }
      if (!finished) {
        try {
          await gen.return();
        } catch (e) {
          console.warn('closing the answer failed', e);
        }
      }
      gen.destroy();
    }
  }

  /** The whole answer: calls onToken(text, event) per piece and onEvent(event) for every event; resolves to the done event. */
  async chat(messages, options = {}) {
    const { onToken, onEvent } = options;
    let done = null;
    for await (const event of this.stream(messages, options)) {
      if (onEvent) onEvent(event);
      if (event.type === 'delta' && onToken) onToken(event.text, event);
      if (event.type === 'done') done = event;
    }
    return done;
  }

  status() {
    return toJs(this._router.status());
  }
}

export { EngineError };
