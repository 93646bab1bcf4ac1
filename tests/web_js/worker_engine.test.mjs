// The engine in its worker, through WorkerEngine: worker.js runs in a Node
// thread (worker_host.mjs gives it the worker's `self`), with the real model
// and real onnxruntime-web, files over real HTTP. What the page gets must be
// what the engine in the page gives: the same tokens, counts, progress and
// coded errors, and Stop must reach the worker.
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { after, before, test } from 'node:test';

import * as ort from 'onnxruntime-web';

import { loadEngine } from '../../web/lib/engine/engine.js';
import { loadWorkerEngine } from '../../web/lib/engine/worker_engine.js';
import { MODEL_DIR, modelFile } from './model_files.mjs';
import { serveStatic } from './static_server.mjs';
import { abortAfter, collect } from './streams.mjs';

/** A node:worker_threads thread running worker.js, with the Web Worker API WorkerEngine uses. */
class ThreadWorker {
  constructor() {
    this.thread = new Worker(new URL('./worker_host.mjs', import.meta.url));
    this.onmessage = null;
    this.onerror = null;
    this.onmessageerror = null;
    this.sent = []; // every message posted to the worker
    this.terminated = false;
    this.thread.on('message', (data) => this.onmessage?.({ data }));
    this.thread.on('error', (err) => this.onerror?.({ message: err.message, preventDefault() {} }));
  }

  postMessage(message) {
    this.sent.push(message);
    this.thread.postMessage(message);
  }

  terminate() {
    this.terminated = true;
    this.thread.terminate();
  }
}

const ORT_URL = import.meta.resolve('onnxruntime-web');
const QUESTION = [{ role: 'user', content: 'What is the capital of France?' }];
const LONG = [{ role: 'user', content: 'The lighthouse keeper wrote in his log that the sea was calm. '.repeat(30) }];

let server;
let local; // the engine in this thread: the reference
let remote; // the same engine in a worker
const progress = [];

const threads = [];

function load(modelBase, onProgress = () => {}) {
  const spawnWorker = () => threads[threads.push(new ThreadWorker()) - 1];
  return loadWorkerEngine({ ortUrl: ORT_URL, options: { ep: 'wasm', modelBase, threads: 1 }, onProgress, spawnWorker });
}

before(async () => {
  modelFile('manifest.json');
  server = await serveStatic({ '/model/': MODEL_DIR });
  local = await loadEngine({ ort, ep: 'wasm', modelBase: `${server.url}/model/`, threads: 1 });
  remote = await load(`${server.url}/model/`, (e) => progress.push(e));
});

after(async () => {
  await local?.release();
  await remote?.release();
  await server?.close();
});

test('loading in the worker reports its progress and gives the engine info', () => {
  assert.equal(remote.info.ep, 'wasm');
  assert.equal(remote.info.threads, 1);
  assert.equal(remote.info.build_id, local.info.build_id);
  assert.equal(remote.info.contextLength, local.info.contextLength);
  assert.ok(progress.some((e) => e.stage === 'model' && e.file === 'wasm/weights.q4' && e.loaded === e.total));
  const session = progress.filter((e) => e.stage === 'session').map((e) => e.status);
  assert.deepEqual([session[0], ...session.slice(-2)], ['start', 'ready', 'warm']); // warmed up before it is loaded
  assert.ok(progress.at(-1).ms > 0);
});

test('the worker gives the same greedy tokens, usage and count as the engine in the page', async () => {
  const options = { messages: QUESTION, maxTokens: 12, temperature: 0 };
  const here = await collect(local, options);
  const there = await collect(remote, options);
  assert.equal(there.text, here.text);
  // The worker may send pieces that come close together as one (worker.js, FLUSH_MS): each still
  // ends where one of the engine's pieces ends, and carries that token's id.
  const ends = new Map();
  let text = '';
  for (const p of here.pieces) ends.set((text += p.text), p.tokenId);
  text = '';
  for (const p of there.pieces) assert.equal(ends.get((text += p.text)), p.tokenId, text);
  assert.equal(there.final.finishReason, here.final.finishReason);
  assert.deepEqual(there.final.usage, here.final.usage);
  assert.equal(await remote.countTokens({ messages: QUESTION }), local.countTokens({ messages: QUESTION }));
});

test("a long prompt's reading progress comes back from the worker, and an abort while reading ends the answer at once", async () => {
  const reads = [];
  const { final } = await collect(remote, { messages: LONG, maxTokens: 2, temperature: 0, prefillChunk: 64, onPrefill: (p) => reads.push(p) });
  const total = local.countTokens({ messages: LONG });
  assert.equal(final.usage.promptTokens, total);
  assert.equal(reads[0].read, 64);
  assert.deepEqual(reads.at(-1), { read: total, total });

  const controller = new AbortController();
  const chunks = [];
  for await (const chunk of remote.stream({ messages: LONG, maxTokens: 2, prefillChunk: 64, signal: controller.signal, onPrefill: () => controller.abort() })) {
    chunks.push(chunk);
  }
  assert.deepEqual(chunks, [{ text: '', finishReason: 'abort' }]);
});

test('an abort ends the answer at once and reaches the worker, which is free for the next one', async () => {
  const { pieces, final } = await abortAfter(remote, 3);
  // Ended here at once: no piece after the abort, and no usage (the worker alone knows it).
  assert.deepEqual(final, { text: '', finishReason: 'abort' });
  assert.equal(pieces.length, 3);
  assert.deepEqual(remote._worker.sent.at(-1), { type: 'abort', id: remote._worker.sent.at(-2).id });
  const next = await collect(remote, { messages: QUESTION, maxTokens: 4, temperature: 0 });
  assert.equal(next.final.usage.completionTokens, 4);
});

test('a reader that stops early stops the worker, which is free for the next answer', async () => {
  for await (const chunk of remote.stream({ messages: QUESTION, maxTokens: 200 })) {
    if (chunk.text) break;
  }
  const [started] = remote._worker.sent.filter((m) => m.type === 'stream').slice(-1);
  assert.deepEqual(remote._worker.sent.at(-1), { type: 'abort', id: started.id });
  const next = await collect(remote, { messages: QUESTION, maxTokens: 3, temperature: 0 });
  assert.equal(next.final.usage.completionTokens, 3);
});

test('failures in the worker come back as EngineErrors with their code', async () => {
  const long = 'word '.repeat(local.contextLength + 10);
  await assert.rejects(collect(remote, { messages: [{ role: 'user', content: long }], kind: 'text' }), (err) => {
    assert.equal(err.name, 'EngineError');
    assert.equal(err.code, 'LLM_RUNTIME_003_E');
    assert.match(err.message, /^\[LLM_RUNTIME_003_E\] the prompt has \d+ tokens; the context window is 8192$/);
    return true;
  });
  const twoMessages = [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }];
  await assert.rejects(remote.countTokens({ messages: twoMessages, kind: 'text' }), { code: 'LLM_VAL_001_E' });
});

test('a load that fails in the worker rejects with its code, and the worker is ended', async () => {
  await assert.rejects(load(`${server.url}/nowhere/`), (err) => {
    assert.equal(err.code, 'LLM_NET_002_E');
    assert.equal(err.name, 'EngineError');
    return true;
  });
  assert.equal(threads.at(-1).terminated, true);
});

test('a worker whose script fails fails the load with a coded error (stage import)', async () => {
  const broken = () => {
    const worker = new ThreadWorker();
    queueMicrotask(() => worker.onerror?.({ message: 'SyntaxError: Unexpected token', preventDefault() {} }));
    return worker;
  };
  await assert.rejects(loadWorkerEngine({ ortUrl: ORT_URL, options: { ep: 'wasm', modelBase: 'x' }, spawnWorker: broken }), (err) => {
    assert.equal(err.name, 'EngineError');
    assert.equal(err.stage, 'import');
    assert.equal(err.ep, 'wasm');
    assert.match(err.message, /SyntaxError/);
    return true;
  });
});

test('a released engine refuses answers with LLM_MODEL_007_E', async () => {
  const engine = await load(`${server.url}/model/`);
  await engine.release();
  await assert.rejects(collect(engine, { messages: QUESTION, maxTokens: 2 }), { code: 'LLM_MODEL_007_E' });
  await assert.rejects(engine.countTokens({ messages: QUESTION }), { code: 'LLM_MODEL_007_E' });
});
