// @ts-check
// The engine's Web Worker: onnxruntime-web, the tokenizer, sampling and the KV
// cache run here, off the page's thread, so the page keeps painting and taking
// input while the model reads a prompt and writes its answer. The page talks to
// it through WorkerEngine (worker_engine.js), which has the Engine's own API.
//
// Messages, page → worker ({type, id, …}; id names a request):
//   load    {ortUrl, wasmPaths, options}  import onnxruntime-web (its files in wasmPaths), loadEngine(options)
//   count   {request}                     the prompt's tokens (Engine.countTokens)
//   stream  {options}                     an answer (Engine.stream, without signal/onPrefill)
//   abort   {}                            stop the answer `id` (its signal)
//   release {}                            free the session
// worker → page:
//   ready                     the worker listens (sent once, first)
//   progress {event}          a load step (LoadProgress)
//   prefill  {progress}       a chunk of a long prompt read (PrefillProgress)
//   chunk    {chunk}          a piece of the answer, or its last chunk
//   result   {value}          load: the engine's info; count: the number; release: null
//   end                       the answer ended (after its last chunk)
//   error    {error}          EngineError.toJSON(): the request failed

import { loadEngine } from './engine.js';
import { toEngineError } from './errors.js';

/** What this script needs of the worker's global scope (tsconfig.json types pages, not workers). */
const scope = /** @type {{postMessage(message: any): void, onmessage: ((ev: MessageEvent) => void) | null}} */ (
  /** @type {unknown} */ (self)
);

/**
 * The shortest time between two messages of pieces of an answer, ms (see stream): about how often
 * the page painted new text with the engine on its thread (a frame every 117 ms, p50), and on
 * 2 cores what keeps the worker's decode near that engine's (bench/page_responsiveness.py:
 * with a message per piece the worker decoded 15.8 % slower than that engine, with this 5.6 %,
 * and 2.1 % in the next full run, after the widget painted each piece more lightly among other changes).
 */
const FLUSH_MS = 120;

/** @type {import('./engine.js').Engine | null} */
let engine = null;
/** @type {import('../deployments.js').Engine | undefined} */
let ep;
/** @type {Map<number, AbortController>} answers in progress */
const answers = new Map();

/**
 * Let the worker's event loop run: an `abort` message is handled only between
 * tasks, and an answer is otherwise one chain of promise callbacks (a WASM run
 * resolves without giving the loop a turn). A message channel, not setTimeout,
 * whose nested calls are clamped to 4 ms each.
 * @returns {Promise<void>}
 */
function turn() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

const handlers = {
  /** @param {{id: number, ortUrl: string, wasmPaths: string, options: any}} m */
  async load({ id, ortUrl, wasmPaths, options }) {
    ep = options.ep;
    let ort;
    try {
      ort = await import(ortUrl);
      if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
    } catch (err) {
      throw toEngineError(err, 'import', { ep });
    }
    const onProgress = (event) => scope.postMessage({ type: 'progress', id, event });
    engine = await loadEngine({ ...options, ort, onProgress }).catch((err) => {
      throw toEngineError(err, 'session', { ep });
    });
    // Off the page's thread, the first answer's one-time costs are paid now (Engine.warmUp).
    const started = performance.now();
    await engine.warmUp();
    onProgress({ stage: 'session', status: 'warm', ms: performance.now() - started });
    scope.postMessage({ type: 'result', id, value: engine.info });
  },

  /** @param {{id: number, request: any}} m */
  async count({ id, request }) {
    scope.postMessage({ type: 'result', id, value: loaded().countTokens(request) });
  },

  /** @param {{id: number, options: any}} m */
  async stream({ id, options }) {
    const controller = new AbortController();
    answers.set(id, controller);
    try {
      const chunks = loaded().stream({
        ...options,
        signal: controller.signal,
        onPrefill: (progress) => scope.postMessage({ type: 'prefill', id, progress }),
      });
      // Pieces that come within FLUSH_MS of the last one sent wait and go with the next (one piece: its
      // text joined, the last token's id): the page routes and paints each message, and on a machine
      // with few cores that work takes the CPU from the engine's threads. The first piece goes at once.
      /** @type {{text: string, tokenId: number} | null} */
      let held = null;
      let sentAt = -Infinity;
      for await (const chunk of chunks) {
        if ('finishReason' in chunk) {
          if (held) scope.postMessage({ type: 'chunk', id, chunk: held });
          held = null;
          scope.postMessage({ type: 'chunk', id, chunk });
        } else {
          held = held ? { text: held.text + chunk.text, tokenId: chunk.tokenId } : chunk;
          if (performance.now() - sentAt >= FLUSH_MS) {
            scope.postMessage({ type: 'chunk', id, chunk: held });
            held = null;
            sentAt = performance.now();
          }
        }
        await turn();
      }
      scope.postMessage({ type: 'end', id });
    } finally {
      answers.delete(id);
    }
  },

  /** @param {{id: number}} m */
  async abort({ id }) {
    answers.get(id)?.abort();
  },

  /** @param {{id: number}} m */
  async release({ id }) {
    if (engine) await engine.release();
    scope.postMessage({ type: 'result', id, value: null });
  },
};

/** @returns {import('./engine.js').Engine} */
function loaded() {
  if (!engine) throw new Error('the engine is not loaded');
  return engine;
}

scope.onmessage = ({ data }) => {
  const handler = handlers[/** @type {keyof typeof handlers} */ (data.type)];
  if (!handler) return;
  handler(data).catch((err) => scope.postMessage({ type: 'error', id: data.id, error: toEngineError(err, 'run', { ep }).toJSON() }));
};
scope.postMessage({ type: 'ready' });
