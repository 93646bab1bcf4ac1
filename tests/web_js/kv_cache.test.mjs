// RowCache (the WASM engine's cache, appending each run's new rows) against the
// layout onnxruntime expects: [1, heads, length, headDim], heads together.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PresentCache, RowCache, newRowsName, presentName } from '../../web/lib/engine/kv_cache.js';

class Tensor {
  constructor(type, data, dims) {
    Object.assign(this, { type, data, dims, disposed: false });
  }
  dispose() {
    this.disposed = true;
  }
}

const NAMES = ['past_key_values.0.key', 'past_key_values.0.value'];
const HEADS = 3;
const DIM = 4;

/** Rows for positions [from, from+n) of every head: value = name*1e4 + head*1e3 + position*10 + column/10. */
function rows(nameIndex, from, n) {
  const out = new Float32Array(HEADS * n * DIM);
  for (let h = 0; h < HEADS; h++)
    for (let p = 0; p < n; p++) for (let c = 0; c < DIM; c++) out[(h * n + p) * DIM + c] = nameIndex * 1e4 + h * 1e3 + (from + p) * 10 + c / 10;
  return out;
}

test('RowCache feeds the whole cache in [1, heads, length, dim] order after appends of any size', () => {
  const cache = new RowCache(NAMES, { heads: HEADS, headDim: DIM });
  assert.deepEqual(cache.fetches, NAMES.map(newRowsName));
  let length = 0;
  for (const added of [5, 1, 1, 70, 1, 200]) {
    // 5 + 1 + 1 + 70 crosses the first capacity (64); 200 more forces a jump past doubling
    const outputs = Object.fromEntries(NAMES.map((name, i) => [newRowsName(name), { data: rows(i, length, added) }]));
    cache.update(outputs, added);
    length += added;
    const feeds = cache.pasts(Tensor);
    NAMES.forEach((name, i) => {
      assert.deepEqual(feeds[name].dims, [1, HEADS, length, DIM]);
      assert.deepEqual(feeds[name].data, rows(i, 0, length), `${name} after ${length} positions`);
    });
  }
  assert.ok(cache.capacity >= length);
});

test('RowCache starts empty and refuses rows of the wrong size', () => {
  const cache = new RowCache(NAMES, { heads: HEADS, headDim: DIM });
  const feeds = cache.pasts(Tensor);
  assert.deepEqual(feeds[NAMES[0]].dims, [1, HEADS, 0, DIM]);
  assert.equal(feeds[NAMES[0]].data.length, 0);
  const outputs = Object.fromEntries(NAMES.map((name) => [newRowsName(name), { data: new Float32Array(5) }]));
  assert.throws(() => cache.update(outputs, 2), /expected 24/);
});

test('PresentCache feeds back the presents and disposes the tensors it replaces', () => {
  const cache = new PresentCache(NAMES, [1, HEADS, 0, DIM]);
  assert.deepEqual(cache.fetches, NAMES.map(presentName));
  const first = cache.pasts(Tensor);
  assert.deepEqual(first[NAMES[0]].dims, [1, HEADS, 0, DIM]);
  const presents = Object.fromEntries(NAMES.map((name) => [name.replace('past_key_values.', 'present.'), new Tensor('float32', rows(0, 0, 2), [1, HEADS, 2, DIM])]));
  cache.update(presents, 2);
  assert.ok(first[NAMES[0]].disposed);
  assert.equal(cache.pasts(Tensor)[NAMES[1]], presents['present.0.value']);
  cache.dispose();
  assert.ok(presents['present.0.value'].disposed);
});
