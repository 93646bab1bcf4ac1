// weights.js against the numpy reference (fixtures made by make_weights_fixture.py),
// and the DequantizingView mounted as external data in real onnxruntime-web.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as ort from 'onnxruntime-web';

import { DequantizingView, dequantizeAll, validateLayout } from '../../web/lib/engine/weights.js';

const dir = new URL('./fixtures/weights/', import.meta.url);
const packed = new Uint8Array(readFileSync(new URL('weights.q4', dir)));
const layout = JSON.parse(readFileSync(new URL('layout.json', dir), 'utf8'));
const expected = new Uint8Array(readFileSync(new URL('expected.f32', dir)));

test('dequantizeAll equals the numpy reference byte for byte', () => {
  const out = dequantizeAll(packed, layout);
  assert.equal(out.byteLength, expected.byteLength);
  assert.deepEqual(out, expected);
});

test('DequantizingView reports the whole file and dequantizes any range', () => {
  const view = new DequantizingView(packed, layout);
  assert.ok(view instanceof Uint8Array);
  assert.equal(view.byteLength, layout.total_bytes);
  // exact tensors, the whole file, and ranges that cut tensors and padding mid-way
  const ranges = layout.tensors.map((t) => [t.offset, t.offset + t.bytes]);
  ranges.push([0, layout.total_bytes], [3, 777], [1000, 1001], [layout.total_bytes - 20, layout.total_bytes]);
  for (const [begin, end] of ranges) {
    assert.deepEqual(view.subarray(begin, end), expected.slice(begin, end), `range ${begin}..${end}`);
  }
});

test('with reuseBuffer, each range is right until the next call, gaps included', () => {
  const view = new DequantizingView(packed, layout, { reuseBuffer: true });
  const ranges = [[0, layout.total_bytes], ...layout.tensors.map((t) => [t.offset - 8, t.offset + t.bytes + 8]), [5, 9]];
  for (const [begin, end] of ranges) {
    const b = Math.max(0, begin);
    const e = Math.min(layout.total_bytes, end);
    assert.deepEqual(view.subarray(b, e), expected.slice(b, e), `range ${b}..${e}`);
  }
});

test('DequantizingView reports progress', () => {
  const seen = [];
  const view = new DequantizingView(packed, layout, { onProgress: (done, total) => seen.push([done, total]) });
  for (const t of layout.tensors) view.subarray(t.offset, t.offset + t.bytes);
  const covered = layout.tensors.reduce((n, t) => n + t.bytes, 0);
  assert.deepEqual(seen.at(-1), [covered, layout.total_bytes]);
});

test('a layout that does not fit the packed file is refused with LLM_ONNX_004_E', () => {
  const bad = structuredClone(layout);
  bad.tensors[1].src_offset = packed.byteLength;
  assert.throws(() => validateLayout(bad, packed.byteLength), { code: 'LLM_ONNX_004_E' });
  const badKind = structuredClone(layout);
  badKind.tensors[0].kind = 'q5_k';
  assert.throws(() => new DequantizingView(packed, badKind), { code: 'LLM_ONNX_004_E' });
});

test('onnxruntime-web accepts the view as mounted external data', async () => {
  const want = JSON.parse(readFileSync(new URL('tiny_expected.json', dir), 'utf8'));
  const model = new Uint8Array(readFileSync(new URL('tiny.onnx', dir)));
  const view = new DequantizingView(packed, layout, { reuseBuffer: true });
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    externalData: [{ path: 'model.onnx.data', data: view }],
  });
  try {
    const out = await session.run({
      x: new ort.Tensor('float32', Float32Array.from(want.x), [1, want.x.length]),
      ids: new ort.Tensor('int64', BigInt64Array.from(want.ids.map(BigInt)), [2]),
    });
    assertClose(out.y.data, want.y, 1e-5);
    assertClose(out.rows.data, want.rows.flat(), 0);
  } finally {
    await session.release();
  }
});

function assertClose(actual, expectedValues, tol) {
  assert.equal(actual.length, expectedValues.length);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expectedValues[i]));
    assert.ok(Math.abs(actual[i] - expectedValues[i]) <= tol * scale, `[${i}] ${actual[i]} vs ${expectedValues[i]}`);
  }
}
