// faults.js: an engine wrapped with a fault streams its real pieces, then fails with a coded error.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EngineError } from '../../web/lib/engine/errors.js';
import { faultsFromQuery, withFault } from '../../web/lib/faults.js';

// The wrapped engine is the fault's boundary: a scripted stream of pieces stands in for onnxruntime-web.
const engine = {
  info: { ep: 'wasm' },
  async *stream() {
    for (const text of ['a', 'b', 'c', 'd']) yield { text };
    yield { text: '', finishReason: 'stop' };
  },
};

async function run(wrapped) {
  const got = [];
  try {
    for await (const chunk of wrapped.stream({})) got.push(chunk.text);
    return { got, error: null };
  } catch (e) {
    return { got, error: e };
  }
}

test('fails after the given pieces with the engine default code, on every answer', async () => {
  const wrapped = withFault(engine, { after: 2 }, 'webgpu');
  for (let i = 0; i < 2; i++) {
    const { got, error } = await run(wrapped);
    assert.deepEqual(got, ['a', 'b']);
    assert.ok(error instanceof EngineError);
    assert.equal(error.code, 'LLM_WEBGPU_003_E');
  }
});

test('times limits how many answers fail; arm() sets a new fault', async () => {
  const wrapped = withFault(engine, { after: 1, code: 'LLM_ONNX_003_E', times: 1 });
  assert.equal((await run(wrapped)).error.code, 'LLM_ONNX_003_E');
  assert.deepEqual(await run(wrapped), { got: ['a', 'b', 'c', 'd', ''], error: null });
  wrapped.arm({ after: 3, times: 1 });
  const { got, error } = await run(wrapped);
  assert.deepEqual(got, ['a', 'b', 'c']);
  assert.equal(error.code, 'LLM_WASM_003_E');
  assert.equal(wrapped.info.fault.left, 0);
});

test('the query form, including a disarmed fault', () => {
  assert.equal(faultsFromQuery(''), undefined);
  assert.deepEqual(faultsFromQuery('wasm:5:LLM_WASM_003_E,webgpu:0'), {
    wasm: { after: 5, code: 'LLM_WASM_003_E' },
    webgpu: { after: 0 },
  });
  assert.deepEqual(faultsFromQuery('wasm:off'), { wasm: { times: 0 } });
});

test('a stall fault hangs after the given pieces until the signal aborts, then ends without an error', async () => {
  const wrapped = withFault(engine, { after: 2, stall: true });
  const controller = new AbortController();
  const got = [];
  const reading = (async () => {
    for await (const chunk of wrapped.stream({ signal: controller.signal })) got.push(chunk.text);
  })();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(got, ['a', 'b']); // and nothing more: hung
  controller.abort(); // what the router does when its stall limit fires
  await reading;
  assert.deepEqual(got, ['a', 'b']);
  assert.equal(wrapped.info.fault.stall, true);
  assert.deepEqual(faultsFromQuery('wasm:4:stall'), { wasm: { after: 4, stall: true } });
});

test('heartbeats pass through and are not counted as pieces', async () => {
  const beating = {
    info: { ep: 'wasm' },
    async *stream() {
      yield { text: '', heartbeat: true }; // loading on first use
      yield { text: '', heartbeat: true };
      yield* engine.stream();
    },
  };
  const { got, error } = await run(withFault(beating, { after: 1 }));
  assert.deepEqual(got, ['', '', 'a']);
  assert.equal(error.code, 'LLM_WASM_003_E');
});
