// @ts-check
// The browser's local inference engine: loads the model's files, creates an
// onnxruntime-web session (WebGPU or WASM) and generates tokens with a KV cache.
//
//   const engine = await loadEngine({ ort, ep: ENGINES.WASM, modelBase: '/models/smollm2-135m-instruct/', onProgress });
//   for await (const chunk of engine.stream({ messages, maxTokens: 64 })) ...
//
// The generation loop is hand-written: onnxruntime-genai has no browser
// build, and transformers.js brings its own copy of onnxruntime-web. The loop
// is small, and keeping it in JS keeps the per-token work out of Pyodide,
// which only consumes the iterator.

import { formatPrompt } from './chat_format.js';
import { CODES, EngineError, toEngineError } from './errors.js';
import { PresentCache, RowCache, newRowsName, presentName } from './kv_cache.js';
import { Sampler, mulberry32, randomSeed } from './sampling.js';
import { loadTokenizer } from './tokenizer.js';
import { DequantizingView, dequantizeAll, freeNow } from './weights.js';
import { readBody } from '../read_body.js';
import { ENGINES } from '../deployments.js';
import { startRuntime } from './ort_start.js';

/**
 * @typedef {{stage: 'model', file: string, loaded: number, total: number}
 *   | {stage: 'session', status: 'start'|'dequantize'|'ready'|'warm', loaded?: number, total?: number, ms?: number}} LoadProgress
 *   warm: the engine's first answer run and thrown away (warmUp; in its worker)
 * @typedef {{ep: import('../deployments.js').Engine, threads: number, loadMs: number, build_id: string, sessionMs: number,
 *   warnings: string[], contextLength?: number}} EngineInfo  warnings: what loaded but not as asked, one line each;
 *   contextLength: the model's context window in tokens (the page's router refuses a longer prompt before any work)
 * @typedef {{role: string, content: string}} ChatMessage
 * @typedef {{read: number, total: number}} PrefillProgress  prompt tokens the model has read, of all of them
 * @typedef {{messages: ChatMessage[], prefix?: string, kind?: 'chat'|'text', maxTokens?: number,
 *   temperature?: number, topP?: number, seed?: number, stop?: string[], signal?: AbortSignal,
 *   onPrefill?: (progress: PrefillProgress) => void, prefillChunk?: number}} StreamOptions
 *   onPrefill: called after each chunk of a prompt read in chunks (see PREFILL);
 *   prefillChunk: a fixed chunk size instead of the adaptive one (tests)
 * @typedef {{text: string, tokenId: number}} TokenChunk
 * @typedef {{text: '', finishReason: 'stop'|'length'|'abort', usage: {promptTokens: number, completionTokens: number},
 *   timings: {prefillMs: number|null, decodeTokS: number|null, totalMs: number}}} FinalChunk
 */

/**
 * Reading a long prompt (prefill) in chunks. One model run on WASM holds the
 * page's thread for as long as it computes, so a prompt read in one run froze
 * the tab (a 7k-token paste: minutes, no input, no Stop). The engine reads it in
 * chunks, each one a run with the cache of the chunks before (the same cache a
 * single run makes: every position attends to the same positions before it),
 * gives the page back between chunks (input, rendering, Stop), checks the
 * abort signal and reports progress. A prompt of at most `first` tokens is read
 * in one run, as before.
 *
 * The chunk size adapts to the device: each chunk is sized so that its run
 * takes about `targetMs` (from the last run's time), between `min` and `max`
 * tokens. Later chunks attend to more positions and copy a longer cache into
 * the run, so they shrink as the prompt grows.
 */
export const PREFILL = Object.freeze({ first: 64, min: 16, max: 512, targetMs: 100 });

/**
 * The next chunk's size: the last one scaled to the target time, at most
 * doubled or halved, a multiple of 16 within [PREFILL.min, PREFILL.max].
 * @param {number} chunk the last chunk's size
 * @param {number} ms how long its run took
 * @returns {number}
 */
export function nextChunk(chunk, ms, targetMs = PREFILL.targetMs) {
  const want = Math.min(2 * chunk, Math.max(chunk / 2, (chunk * targetMs) / Math.max(ms, 1)));
  return Math.min(PREFILL.max, Math.max(PREFILL.min, Math.round(want / 16) * 16));
}

/**
 * Give the page its thread back for a moment: input, rendering and other tasks
 * run before the next chunk. A plain task, not `scheduler.yield()`, whose
 * continuation goes ahead of other tasks: in Chromium a prefill of hundreds of
 * chunks then starved rendering and DevTools calls for minutes.
 */
function yieldToPage() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Load the model and create its session.
 *
 * `threads` sets `ort.env.wasm.numThreads`, which onnxruntime-web reads once,
 * when its WASM module first initialises (the first session in the page);
 * later values are ignored, and without cross-origin isolation it falls back
 * to 1. `info.threads` reports what it actually uses.
 *
 * @param {object} options
 * @param {any} options.ort the onnxruntime-web module
 * @param {import('../deployments.js').Engine} [options.ep]
 * @param {string|URL} options.modelBase URL of the model directory (holding manifest.json)
 * @param {number} [options.threads]
 * @param {boolean} [options.prepack] WASM: let onnxruntime repack the weights (the default; false: slower decoding, less memory)
 * @param {(event: LoadProgress) => void} [options.onProgress]
 * @param {typeof fetch} [options.fetchImpl]
 * @returns {Promise<Engine>}
 */
export async function loadEngine({
  ort,
  ep = ENGINES.WASM,
  modelBase,
  threads,
  prepack = true,
  onProgress = () => {},
  fetchImpl = (url, init) => globalThis.fetch(url, init),
}) {
  const started = performance.now();
  if (!ort?.InferenceSession || !ort?.Tensor) throw new EngineError(CODES.ONNX_RUNTIME_MISSING, 'onnxruntime-web is not loaded');
  const base = new URL(String(modelBase).replace(/\/?$/, '/'), globalThis.location?.href);
  const warnings = [];
  const files = new ModelFiles(base, fetchImpl, onProgress, warnings);
  if (threads != null) ort.env.wasm.numThreads = threads;
  const runtime = startRuntime(ort); // beside the downloads (ort_start.js)

  let manifest, variant, tokenizer, graph, externalData;
  try {
    manifest = JSON.parse(new TextDecoder().decode(await files.get('manifest.json', { verify: false })));
    variant = manifest.variants?.[ep];
    if (!variant) throw new EngineError(CODES.ONNX_INVALID_MODEL, `the model has no ${ep} variant`, { context: { ep } });
    files.manifest = manifest;
    // The variant's files download together; the tokenizer is small.
    let tokenizerBytes;
    [tokenizerBytes, graph, externalData] = await Promise.all([
      files.get(manifest.tokenizer),
      files.get(variant.graph),
      ep === ENGINES.WASM ? wasmExternalData(ort, files, variant, onProgress) : files.get(variant.data, { later: true }),
    ]);
    tokenizer = loadTokenizer(new TextDecoder().decode(tokenizerBytes));
  } catch (err) {
    files.cancel(); // one file failed: the others' downloads are wasted
    throw err instanceof EngineError ? err : new EngineError(CODES.ONNX_INVALID_MODEL, `the model's files are unusable: ${err.message}`, { cause: err });
  }

  await runtime;
  onProgress({ stage: 'session', status: 'start' });
  const sessionStarted = performance.now();
  let session;
  try {
    session = await ort.InferenceSession.create(graph, {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
      // MLAS prepacking repacks every float32 MatMul/Gemm weight once, into
      // the layout its kernels read; without it every token repacks them all
      // on the fly (decoding a third slower, bench/browser_decode.py). onnxruntime
      // frees each original once packed, but WASM memory never shrinks, so the
      // peak holds both for a while: the WASM graph is shaped to keep that
      // within 1.2 GB a tab (edge_server/browser_model/onnx_variants.py, bench/browser_memory.py).
      // `prepack: false` saves ~100 MB of peak for the speed.
      ...(ep === ENGINES.WASM && !prepack ? { extra: { session: { disable_prepacking: '1' } } } : {}),
      externalData: [{ path: variant.external_data_path, data: externalData }],
      // Keep outputs on the GPU: the KV cache goes straight back in as the
      // next step's input, and only the logits are read back.
      ...(ep === ENGINES.WEBGPU ? { preferredOutputLocation: 'gpu-buffer' } : {}),
    });
  } catch (err) {
    // Weights that fail their check explain a failed session best.
    throw (await files.verified().then(() => null, (bad) => bad)) ?? toEngineError(err, 'session', { ep });
  } finally {
    // onnxruntime has copied the weights into its own memory.
    if (externalData instanceof DequantizingView) externalData.release();
    else freeNow(externalData);
  }
  try {
    await files.verified();
  } catch (err) {
    await session.release();
    throw err;
  }
  const sessionMs = performance.now() - sessionStarted;
  onProgress({ stage: 'session', status: 'ready', ms: sessionMs });

  const usedThreads = ort.env.wasm.numThreads ?? 1;
  if (threads > 1 && usedThreads < threads) {
    warnings.push(`${CODES.WASM_NO_THREADS}: asked for ${threads} threads, running ${usedThreads} (no cross-origin isolation?)`);
  }
  const info = {
    ep,
    threads: usedThreads,
    loadMs: performance.now() - started,
    sessionMs,
    build_id: manifest.build_id,
    warnings,
  };
  try {
    return new Engine({ ort, session, tokenizer, manifest, info });
  } catch (err) {
    await session.release();
    throw err;
  }
}

/**
 * The WASM variant's float32 external data, rebuilt from the 4-bit file
 * (see weights.js for why it is a lazy view).
 */
async function wasmExternalData(ort, files, variant, onProgress) {
  const [packed, layoutBytes] = await Promise.all([files.get(variant.packed, { later: true }), files.get(variant.layout)]);
  const layout = JSON.parse(new TextDecoder().decode(layoutBytes));
  // A proxied runtime posts the data to its worker, and a structured clone of
  // the view is an empty array: build the whole file then.
  if (ort.env.wasm.proxy) return dequantizeAll(packed, layout);
  let lastReport = 0;
  return new DequantizingView(packed, layout, {
    reuseBuffer: true,
    onProgress: (loaded, total) => {
      if (loaded - lastReport < total / 100 && loaded < total) return;
      lastReport = loaded;
      onProgress({ stage: 'session', status: 'dequantize', loaded, total });
    },
  });
}

/** Fetches the model's files, reporting byte progress and checking each against the manifest's sha256. */
class ModelFiles {
  constructor(base, fetchImpl, onProgress, warnings) {
    this.base = base;
    // Called unbound: window.fetch throws "Illegal invocation" with any other `this`.
    this.fetch = (url, init) => fetchImpl(url, init);
    this.onProgress = onProgress;
    this.warnings = warnings;
    this.manifest = null;
    this.aborter = new AbortController();
    /** @type {Promise<void>[]} checks still running (get's `later`) */
    this.pending = [];
  }

  cancel() {
    this.aborter.abort();
  }

  /**
   * @param {string} file path relative to the model directory
   * @param {{verify?: boolean, later?: boolean}} [options] later: the bytes come back at once and
   *   their check runs meanwhile; `verified()` waits for it (the weights: hashing ~100 MB took 0.15 s in a
   *   one-off probe, which the session's creation hides)
   * @returns {Promise<Uint8Array>}
   */
  async get(file, { verify = true, later = false } = {}) {
    const url = new URL(file, this.base);
    const expected = this.manifest?.files?.[file];
    if (verify && !expected) throw new EngineError(CODES.ONNX_INVALID_MODEL, `the manifest lists no checksum for ${file}`, { context: { file } });
    const bytes = await this.download(url, file, expected?.bytes);
    if (verify && later) {
      const check = this.check(file, bytes, expected);
      check.catch(() => {}); // verified() reports it
      this.pending.push(check);
    } else if (verify) await this.check(file, bytes, expected);
    return bytes;
  }

  /** Resolves when every check that `get(…, {later: true})` started has passed; rejects with the first failure. */
  async verified() {
    await Promise.all(this.pending);
  }

  async download(url, file, knownSize) {
    const fail = (why, cause) =>
      new EngineError(CODES.NET_DOWNLOAD_FAILED, `download of ${file} failed: ${why}`, { context: { file, url: String(url) }, cause });
    let response;
    try {
      response = await this.fetch(url, { signal: this.aborter.signal });
    } catch (err) {
      throw fail(err?.message ?? String(err), err);
    }
    if (!response.ok) throw fail(`HTTP ${response.status}`);
    const total = knownSize ?? 0;
    let reported = 0;
    let bytes;
    try {
      bytes = await readBody(response, {
        knownSize: total,
        onChunk: (loaded, size) => {
          if (loaded - reported < size / 100) return;
          reported = loaded;
          this.onProgress({ stage: 'model', file, loaded, total: size });
        },
      });
    } catch (err) {
      throw fail(err?.message ?? String(err), err);
    }
    this.onProgress({ stage: 'model', file, loaded: bytes.length, total: Math.max(total, bytes.length) });
    return bytes;
  }

  async check(file, bytes, expected) {
    const corrupt = (why) =>
      new EngineError(CODES.ONNX_INVALID_MODEL, `${file} ${why}`, { context: { file, expected: expected.sha256 } });
    if (bytes.byteLength !== expected.bytes) throw corrupt(`has ${bytes.byteLength} bytes, the manifest says ${expected.bytes}`);
    if (!globalThis.crypto?.subtle) {
      // crypto.subtle exists only in secure contexts (https, localhost).
      const warning = 'sha256 not checked: crypto.subtle needs a secure context (https or localhost)';
      if (!this.warnings.includes(warning)) this.warnings.push(warning);
      return;
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    if (hex !== expected.sha256) throw corrupt('failed its sha256 check');
  }
}

/**
 * Text held back while it might be the start of a stop sequence, so that a
 * stop sequence is never emitted, not even in part.
 */
export class StopMatcher {
  /** @param {string[]} stops */
  constructor(stops) {
    this.stops = stops.filter((s) => s.length > 0);
    this.held = '';
  }

  /**
   * @param {string} text newly decoded text
   * @returns {{emit: string, stopped: boolean}} text safe to show, and whether a stop sequence was reached
   */
  push(text) {
    this.held += text;
    let at = -1;
    for (const stop of this.stops) {
      const i = this.held.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      const emit = this.held.slice(0, at);
      this.held = '';
      return { emit, stopped: true };
    }
    const keep = this.longestStopPrefixAtEnd();
    const emit = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return { emit, stopped: false };
  }

  /** @returns {string} what is still held (the answer ended without the stop sequence completing) */
  flush() {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  longestStopPrefixAtEnd() {
    let best = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, this.held.length); k > best; k--) {
        if (this.held.endsWith(stop.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}

export class Engine {
  /**
   * @param {{ort: any, session: any, tokenizer: import('./tokenizer.js').Tokenizer, manifest: any, info: EngineInfo}} parts
   */
  constructor({ ort, session, tokenizer, manifest, info }) {
    this.ort = ort;
    this.session = session;
    this.tokenizer = tokenizer;
    this.manifest = manifest;
    const config = manifest.config ?? {};
    this.contextLength = config.context_length ?? 2048;
    /** @type {EngineInfo} */
    this.info = { ...info, contextLength: this.contextLength };
    this.kvShape = [1, config.num_kv_heads, 0, config.head_dim];
    this.eos = new Set(manifest.chat?.eos_token_ids ?? []);
    this.sampler = new Sampler(config.vocab_size ?? tokenizer.vocabSize);
    this.pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
    for (const name of [...this.pastNames.map(presentName), 'logits']) {
      if (!session.outputNames.includes(name)) throw new EngineError(CODES.ONNX_INVALID_MODEL, `the graph has no output ${name}`);
    }
    // On WASM, keep the cache in the page and fetch only each run's new rows
    // when the graph offers them (see kv_cache.js).
    this.keepsRows = info.ep === ENGINES.WASM && this.pastNames.every((n) => session.outputNames.includes(newRowsName(n)));
    // Inputs are built on views of these, never copied per token.
    this.ones = new BigInt64Array(this.contextLength).fill(1n);
    this.positions = BigInt64Array.from({ length: this.contextLength }, (_, i) => BigInt(i));
    this.nextToken = new BigInt64Array(1);
    this.queue = Promise.resolve();
    /** @type {{prompt: string, ids: number[]} | null} the last prompt tokenized (its parts as JSON): counted, then generated */
    this.encoded = null;
    this.released = false;
    this.lost = null;
    if (info.ep === ENGINES.WEBGPU) this.watchDevice();
  }

  /**
   * The prompt's tokens for these messages, as `stream` would read them:
   * the chat template (or the raw text) with the prefix, tokenized. Fast
   * (no model run): the page counts a prompt with it before routing, so one
   * that cannot fit the context is refused before any work. Throws
   * VAL_MALFORMED when the template cannot render the messages.
   * @param {{messages: ChatMessage[], prefix?: string, kind?: 'chat'|'text'}} request
   * @returns {number}
   */
  countTokens({ messages, prefix = '', kind = 'chat' }) {
    return this.encode({ messages, prefix, kind }).length;
  }

  /**
   * @param {{messages: ChatMessage[], prefix?: string, kind?: 'chat'|'text'}} request
   * @returns {number[]}
   */
  encode({ messages, prefix = '', kind = 'chat' }) {
    let parts;
    try {
      parts = formatPrompt({ messages, prefix, kind, chat: this.manifest.chat });
    } catch (err) {
      throw new EngineError(CODES.VAL_MALFORMED, err.message, { cause: err });
    }
    // The last prompt is kept: the page counts it, then asks for its answer.
    const prompt = JSON.stringify(parts);
    if (this.encoded?.prompt === prompt) return this.encoded.ids;
    // Only the template's markers become special tokens; what the request
    // wrote, control-token strings included, is tokenized as text.
    const ids = this.tokenizer.encodeParts(parts);
    this.encoded = { prompt, ids };
    return ids;
  }

  /**
   * Generate an answer, piece by piece. One stream runs at a time; a second
   * waits for the first to finish (the session and its buffers are shared).
   * Pieces carry only complete characters and never any part of a stop
   * sequence. The last chunk has `finishReason`: "stop" (end of answer or a
   * stop sequence), "length" (maxTokens or the context window) or "abort"
   * (the signal fired; checked before and after every model run, the runs of
   * a long prompt's chunks too, so at most one more token or chunk is
   * computed). usage.completionTokens counts sampled tokens without the
   * end-of-answer token. A prompt longer than PREFILL.first tokens is read in
   * chunks, calling `onPrefill({read, total})` after each.
   *
   * @param {StreamOptions} options
   * @returns {AsyncGenerator<TokenChunk|FinalChunk>}
   */
  async *stream({ messages, prefix = '', kind = 'chat', maxTokens = 256, temperature = 0, topP = 1, seed, stop = [], signal, onPrefill, prefillChunk }) {
    const unlock = await this.lock();
    const cache = this.keepsRows
      ? new RowCache(this.pastNames, { heads: this.kvShape[1], headDim: this.kvShape[3] })
      : new PresentCache(this.pastNames, this.kvShape);
    try {
      if (this.released) throw new EngineError(CODES.MODEL_NOT_LOADED, 'the engine was released');
      const started = performance.now();
      const promptIds = this.encode({ messages, prefix, kind });
      if (promptIds.length >= this.contextLength) {
        throw new EngineError(CODES.RUNTIME_CONTEXT_LENGTH, `the prompt has ${promptIds.length} tokens; the context window is ${this.contextLength}`, {
          context: { promptTokens: promptIds.length, contextLength: this.contextLength },
        });
      }
      const limit = Math.min(maxTokens, this.contextLength - promptIds.length);
      const random = mulberry32(seed ?? randomSeed());
      const decoder = this.tokenizer.streamDecoder({ skipSpecial: true });
      const stopper = new StopMatcher(stop);

      let input = BigInt64Array.from(promptIds, BigInt);
      let pastLength = 0;
      let generated = 0; // without the end-of-answer token
      let sampled = 0;
      let firstTokenAt = null;
      let lastTokenAt = null;
      /**
       * @param {FinalChunk['finishReason']} finishReason
       * @returns {FinalChunk}
       */
      const final = (finishReason) => {
        const decodeMs = lastTokenAt - firstTokenAt;
        return {
          text: '',
          finishReason,
          usage: { promptTokens: promptIds.length, completionTokens: generated },
          timings: {
            prefillMs: firstTokenAt === null ? null : firstTokenAt - started,
            decodeTokS: sampled > 1 && decodeMs > 0 ? ((sampled - 1) * 1000) / decodeMs : null,
            totalMs: performance.now() - started,
          },
        };
      };

      // A long prompt: read here in chunks, all of it but its last token,
      // which is the first step below (whose logits, of that one position,
      // give the first token). A short one is read in that step, in one run.
      const fixed = (prefillChunk ?? 0) > 0 ? Math.floor(prefillChunk ?? 0) : 0;
      let chunk = fixed || PREFILL.first;
      const chunked = input.length > chunk;
      while (chunked && pastLength < input.length - 1) {
        if (signal?.aborted) {
          yield final('abort');
          return;
        }
        const size = Math.min(chunk, input.length - 1 - pastLength);
        const runStarted = performance.now();
        await this.forward(input.subarray(pastLength, pastLength + size), pastLength, cache, { logits: false });
        pastLength += size;
        if (!fixed) chunk = nextChunk(size, performance.now() - runStarted);
        onPrefill?.({ read: pastLength, total: promptIds.length });
        await yieldToPage();
      }
      input = input.subarray(pastLength);

      /** @type {FinalChunk['finishReason']} */
      let finishReason = 'length';
      let id = -1;
      for (let step = 0; step < limit; step++) {
        if (signal?.aborted) {
          finishReason = 'abort';
          break;
        }
        const logits = /** @type {Float32Array} */ (await this.forward(input, pastLength, cache));
        if (chunked && step === 0) onPrefill?.({ read: promptIds.length, total: promptIds.length });
        pastLength += input.length;
        id = this.sampler.sample(logits, { temperature, topP, random });
        sampled++;
        lastTokenAt = performance.now();
        firstTokenAt ??= lastTokenAt;
        if (signal?.aborted) {
          finishReason = 'abort';
          break;
        }
        if (this.eos.has(id)) {
          finishReason = 'stop';
          break;
        }
        generated++;
        const { emit, stopped } = stopper.push(decoder.push(id));
        if (emit) yield { text: emit, tokenId: id };
        if (stopped) {
          yield final('stop');
          return;
        }
        this.nextToken[0] = BigInt(id);
        input = this.nextToken;
      }
      if (finishReason !== 'abort') {
        // The answer ended: whatever the decoder or the stop matcher still
        // holds is part of it, unless it completes a stop sequence.
        const rest = stopper.push(decoder.flush());
        const tail = rest.emit + (rest.stopped ? '' : stopper.flush());
        if (tail) yield { text: tail, tokenId: id };
        if (rest.stopped) finishReason = 'stop';
      }
      yield final(finishReason);
    } finally {
      cache.dispose();
      unlock();
    }
  }

  /**
   * One model run: `input` tokens after `pastLength` cached ones. Hands the
   * run's outputs to the cache and returns the last position's logits
   * (`logits: false`, a chunk of a long prompt: not fetched, null).
   * @param {BigInt64Array} input
   * @param {number} pastLength
   * @param {PresentCache|RowCache} cache
   * @param {{logits?: boolean}} [options]
   * @returns {Promise<Float32Array|null>}
   */
  async forward(input, pastLength, cache, { logits: wanted = true } = {}) {
    if (this.lost) throw new EngineError(CODES.WEBGPU_DEVICE_LOST, `the GPU device was lost: ${this.lost}`);
    const { Tensor } = this.ort;
    const total = pastLength + input.length;
    const pasts = cache.pasts(Tensor);
    const feeds = {};
    for (const name of this.session.inputNames) {
      if (name === 'input_ids') feeds[name] = new Tensor('int64', input, [1, input.length]);
      else if (name === 'attention_mask') feeds[name] = new Tensor('int64', this.ones.subarray(0, total), [1, total]);
      else if (name === 'position_ids') feeds[name] = new Tensor('int64', this.positions.subarray(pastLength, total), [1, input.length]);
      else if (name in pasts) feeds[name] = pasts[name];
      else throw new EngineError(CODES.ONNX_INVALID_MODEL, `the graph has an input the engine does not know: ${name}`);
    }
    let out;
    try {
      out = await this.session.run(feeds, wanted ? ['logits', ...cache.fetches] : cache.fetches);
    } catch (err) {
      throw toEngineError(err, 'run', { ep: this.info.ep, context: { pastLength } });
    }
    try {
      cache.update(out, input.length);
      if (!wanted) return null;
      const logits = out.logits;
      const vocab = logits.dims[logits.dims.length - 1];
      // On WebGPU this is the one read-back per token.
      const data = logits.location === 'cpu' ? logits.data : await logits.getData();
      const last = data.subarray(data.length - vocab);
      if (logits.location !== 'cpu') logits.dispose();
      return last;
    } catch (err) {
      throw toEngineError(err, 'run', { ep: this.info.ep });
    }
  }

  /**
   * Serialise streams: resolves with the function that lets the next one in.
   * @returns {Promise<(value?: unknown) => void>}
   */
  async lock() {
    const previous = this.queue;
    /** @type {(value?: unknown) => void} */
    let unlock = () => {};
    this.queue = new Promise((resolve) => (unlock = resolve));
    await previous;
    return unlock;
  }

  /**
   * One token after a one-word text, thrown away. The first answer in a page pays
   * once for what the engine's first run sets off: the browser compiling
   * onnxruntime-web's hot code to its optimising tier, on background threads, and
   * onnxruntime's first allocations. Paid while loading, it no longer slows the
   * first question (nor, on a machine the edge server shares, the edge's answer
   * when the first one fails over). The shortest run does that (a one-off probe here:
   * a two-token answer to a chat took 0.33 s, this 0.1 s, and the first question's
   * first token came 0.03 s later after it: 0.2 s, 0.3 s with no warm-up).
   */
  async warmUp() {
    for await (const chunk of this.stream({ messages: [{ role: 'user', content: 'Hi' }], kind: 'text', maxTokens: 1, temperature: 0 })) {
      if ('finishReason' in chunk) break;
    }
  }

  /** Mark the engine lost when onnxruntime-web's GPU device goes (driver reset, tab in background on some systems). */
  watchDevice() {
    try {
      Promise.resolve(this.ort.env?.webgpu?.device)
        .then((device) => device?.lost)
        .then((info) => {
          if (info && !this.released) this.lost = info.message || info.reason || 'unknown reason';
        })
        .catch(() => {});
    } catch {
      // no device to watch
    }
  }

  /** Free the session (and its GPU or WASM memory). Streams after this fail with MODEL_NOT_LOADED. */
  async release() {
    const unlock = await this.lock();
    try {
      if (this.released) return;
      this.released = true;
      await this.session.release();
    } finally {
      unlock();
    }
  }
}
