// @ts-check
// The engine in a Web Worker (worker.js), seen from the page: the same API as
// Engine (info, countTokens, stream, release), so the runtime and the core's
// router cannot tell them apart, except that countTokens returns a promise.
//
//   const engine = await loadWorkerEngine({ ortUrl, wasmPaths, options: { ep, modelBase, threads }, onProgress });
//   for await (const chunk of engine.stream({ messages, signal, onPrefill })) ...
//
// One worker per engine: onnxruntime-web reads its thread count once per
// instance, and each engine's memory goes with its worker when released.
// Failures come back as EngineErrors (their code, stage and ep kept), so the
// core's classifier names them exactly as it names an in-page engine's.

import { CODES, EngineError, toEngineError } from './errors.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * A module worker running `url`. A page may load this library from another
 * origin (the widget embedded from the edge server), and a worker's script must
 * be the page's own: then a same-origin blob script imports it (CORS allows
 * the library's files, see edge_server's static files).
 * @param {URL} url
 * @returns {Worker}
 */
function spawn(url) {
  // Written out as bundlers recognise it (Vite, webpack): they then emit the worker and its imports too.
  if (url.origin === globalThis.location?.origin) return new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'llm-engine' });
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};\n`], { type: 'text/javascript' }));
  try {
    return new Worker(shim, { type: 'module', name: 'llm-engine' });
  } finally {
    // The worker has the script once it starts fetching; a later revoke is harmless.
    setTimeout(() => URL.revokeObjectURL(shim), 60_000);
  }
}

/** @param {any} json what EngineError.toJSON gave in the worker */
function fromJSON(json) {
  const prefix = json.code ? `[${json.code}] ` : '';
  const message = prefix && String(json.message).startsWith(prefix) ? String(json.message).slice(prefix.length) : String(json.message);
  return new EngineError(json.code ?? null, message, { stage: json.stage, ep: json.ep, context: json.context ?? {} });
}

/**
 * Start a worker and load the model in it.
 * @param {object} args
 * @param {string} args.ortUrl onnxruntime-web's module, absolute
 * @param {string} [args.wasmPaths] its folder, absolute (ort.env.wasm.wasmPaths)
 * @param {{ep: import('../deployments.js').Engine, modelBase: string, threads?: number, prepack?: boolean}} args.options loadEngine's
 * @param {(event: import('./engine.js').LoadProgress) => void} [args.onProgress]
 * @param {() => Worker} [args.spawnWorker] starts the worker (tests: worker.js in a Node thread)
 * @returns {Promise<WorkerEngine>}
 */
export async function loadWorkerEngine({ ortUrl, wasmPaths, options, onProgress = () => {}, spawnWorker = () => spawn(WORKER_URL) }) {
  const engine = new WorkerEngine(spawnWorker(), options.ep);
  try {
    await engine._started;
    engine.info = await engine._call('load', { ortUrl, wasmPaths, options: { ...options, modelBase: String(options.modelBase) } }, { progress: onProgress });
    return engine;
  } catch (err) {
    engine._worker.terminate();
    throw err;
  }
}

/**
 * @typedef {{
 *   resolve?: (value: any) => void, reject: (err: EngineError) => void,
 *   progress?: (event: any) => void, push?: (message: any) => void
 * }} Pending  a request waiting for the worker: a call (resolve) or an answer (push)
 */

export class WorkerEngine {
  /**
   * @param {Worker} worker
   * @param {import('../deployments.js').Engine} ep
   */
  constructor(worker, ep) {
    this._worker = worker;
    this._ep = ep;
    /** @type {import('./engine.js').EngineInfo} set once loaded */
    this.info = /** @type {any} */ ({ ep });
    this._nextId = 1;
    /** @type {Map<number, Pending>} */
    this._pending = new Map();
    /** @type {EngineError | null} why the worker is gone */
    this._dead = null;
    this._started = new Promise((resolve, reject) => {
      this._pending.set(0, { resolve, reject });
    });
    worker.onmessage = ({ data }) => this._receive(data);
    // The script did not load, threw at the top, or the worker died: every request fails with the reason.
    worker.onerror = (ev) => {
      ev.preventDefault();
      this._fail(toEngineError(ev.message || 'the engine worker failed', this.info.loadMs === undefined ? 'import' : 'run', { ep }));
    };
    worker.onmessageerror = () => this._fail(toEngineError('a message from the engine worker could not be read', 'run', { ep }));
  }

  /** @param {any} data */
  _receive(data) {
    if (data.type === 'ready') {
      this._pending.get(0)?.resolve?.(undefined);
      this._pending.delete(0);
      return;
    }
    const pending = this._pending.get(data.id);
    if (!pending) return; // an answer the page has stopped reading
    if (data.type === 'progress') pending.progress?.(data.event);
    else if (data.type === 'result') {
      this._pending.delete(data.id);
      pending.resolve?.(data.value);
    } else if (data.type === 'error') {
      this._pending.delete(data.id);
      pending.reject(fromJSON(data.error));
    } else pending.push?.(data);
  }

  /** @param {EngineError} err */
  _fail(err) {
    this._dead = err;
    for (const pending of this._pending.values()) pending.reject(err);
    this._pending.clear();
  }

  /**
   * One request with one result.
   * @param {string} type
   * @param {Record<string, any>} fields
   * @param {{progress?: (event: any) => void}} [hooks]
   */
  _call(type, fields, { progress } = {}) {
    if (this._dead) return Promise.reject(this._dead);
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, progress });
      this._worker.postMessage({ type, id, ...fields });
    });
  }

  /**
   * The prompt's tokens (Engine.countTokens), counted in the worker.
   * @param {{messages: import('./engine.js').ChatMessage[], prefix?: string, kind?: 'chat'|'text'}} request
   * @returns {Promise<number>}
   */
  countTokens(request) {
    return this._call('count', { request });
  }

  /**
   * An answer, as Engine.stream gives it. The signal and onPrefill stay in the
   * page. An abort ends the answer here at once, with finishReason "abort" (and
   * no usage: the worker alone knows it), and is sent to the worker, whose engine
   * stops after the model run in progress (a chunk of a long prompt can take
   * a second); what it sends meanwhile is dropped. The page's Stop and the
   * router's moving on never wait for that run.
   * @param {import('./engine.js').StreamOptions} options
   * @returns {AsyncGenerator<import('./engine.js').TokenChunk | import('./engine.js').FinalChunk | {text: '', finishReason: 'abort'}>}
   */
  async *stream({ signal, onPrefill, ...options }) {
    if (this._dead) throw this._dead;
    const id = this._nextId++;
    /** @type {any[]} */
    const inbox = [];
    /** @type {EngineError | null} */
    let failed = null;
    let stopped = false; // the signal fired, or the reader left
    let wake = () => {};
    const woken = () => new Promise((resolve) => (wake = () => resolve(undefined)));
    this._pending.set(id, {
      reject: (err) => {
        failed = err;
        wake();
      },
      push: (message) => {
        inbox.push(message);
        wake();
      },
    });
    const stop = () => {
      if (stopped) return;
      stopped = true;
      this._worker.postMessage({ type: 'abort', id });
      wake();
    };
    signal?.addEventListener('abort', stop, { once: true });
    let ended = false;
    try {
      this._worker.postMessage({ type: 'stream', id, options });
      if (signal?.aborted) stop();
      for (;;) {
        if (stopped) {
          ended = true;
          yield { text: '', finishReason: 'abort' };
          return;
        }
        while (inbox.length && !stopped) {
          const message = inbox.shift();
          if (message.type === 'prefill') onPrefill?.(message.progress);
          else if (message.type === 'chunk') yield message.chunk;
          else if (message.type === 'end') {
            ended = true;
            return;
          }
        }
        if (failed) throw failed;
        await woken();
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      this._pending.delete(id);
      if (!ended && !failed) stop(); // the reader left early: the worker stops too
    }
  }

  /** Free the session, then the worker and all its memory. */
  async release() {
    try {
      if (!this._dead) await this._call('release', {});
    } finally {
      this._fail(new EngineError(CODES.MODEL_NOT_LOADED, 'the engine was released', { ep: this._ep }));
      this._worker.terminate();
    }
  }
}
