// @ts-check
// The decoder's key/value cache between model runs, two ways.
//
// PresentCache feeds each run's `present.N.*` outputs back as the next run's
// `past_key_values.N.*`. On WebGPU those outputs stay GPU buffers, so nothing
// is copied.
//
// RowCache is for WASM, where onnxruntime-web copies every fetched output out
// of WASM memory into a new JS array: fetching the presents would copy the
// whole cache each token and leave it behind as garbage (what puts ours ahead
// of the bare loop on the same graph, bench/browser_decode.py). The WASM graph also
// outputs `new_key_values.N.*`, only the rows a run added
// (edge_server/browser_model/onnx_variants.py); RowCache fetches those and appends them to its own
// buffers, which it reuses from run to run.
//
// Both: `pasts(Tensor)` gives the next run's past inputs, `fetches` names the
// cache outputs to ask for, `update(outputs, added)` takes a run's outputs,
// `dispose()` lets go of what the cache holds.

/** The output that feeds an input next step: past_key_values.3.key <- present.3.key. */
export function presentName(pastName) {
  return pastName.replace('past_key_values.', 'present.');
}

/** The output holding a run's new rows for an input: past_key_values.3.key <- new_key_values.3.key. */
export function newRowsName(pastName) {
  return pastName.replace('past_key_values.', 'new_key_values.');
}

export class PresentCache {
  /**
   * @param {string[]} names the graph's past_key_values inputs
   * @param {number[]} emptyShape [batch, heads, 0, headDim]
   */
  constructor(names, emptyShape) {
    this.names = names;
    this.emptyShape = emptyShape;
    this.fetches = names.map(presentName);
    /** @type {Map<string, any>} */
    this.tensors = new Map();
  }

  pasts(Tensor) {
    const feeds = {};
    for (const name of this.names) {
      if (!this.tensors.has(name)) this.tensors.set(name, new Tensor('float32', new Float32Array(0), this.emptyShape));
      feeds[name] = this.tensors.get(name);
    }
    return feeds;
  }

  update(outputs) {
    for (const name of this.names) {
      this.tensors.get(name)?.dispose();
      this.tensors.set(name, outputs[presentName(name)]);
    }
  }

  dispose() {
    for (const tensor of this.tensors.values()) tensor.dispose();
    this.tensors.clear();
  }
}

export class RowCache {
  /**
   * @param {string[]} names the graph's past_key_values inputs
   * @param {{heads: number, headDim: number}} shape
   */
  constructor(names, { heads, headDim }) {
    this.names = names;
    this.heads = heads;
    this.headDim = headDim;
    this.fetches = names.map(newRowsName);
    this.length = 0; // positions cached
    this.capacity = 0; // positions the buffers hold
    // Two buffers per input: the cache, and where the next layout is written.
    // A [1, heads, length, headDim] tensor has each head's rows together, so
    // appending moves every head but the first; writing into the spare buffer
    // and swapping does that without a new array per token.
    /** @type {Map<string, [Float32Array, Float32Array]>} */
    this.buffers = new Map();
  }

  pasts(Tensor) {
    const feeds = {};
    const size = this.heads * this.length * this.headDim;
    for (const name of this.names) {
      const data = this.buffers.get(name)?.[0].subarray(0, size) ?? new Float32Array(0);
      feeds[name] = new Tensor('float32', data, [1, this.heads, this.length, this.headDim]);
    }
    return feeds;
  }

  /**
   * @param {Record<string, {data: Float32Array}>} outputs a run's outputs
   * @param {number} added positions the run added
   */
  update(outputs, added) {
    const total = this.length + added;
    if (total > this.capacity) this.grow(total);
    const row = this.headDim;
    for (const name of this.names) {
      const pair = this.buffers.get(name);
      const [from, to] = pair;
      const rows = outputs[newRowsName(name)].data;
      if (rows.length !== this.heads * added * row) {
        throw new Error(`${newRowsName(name)} has ${rows.length} values, expected ${this.heads * added * row}`);
      }
      for (let h = 0; h < this.heads; h++) {
        const at = h * total * row;
        to.set(from.subarray(h * this.length * row, (h + 1) * this.length * row), at);
        to.set(rows.subarray(h * added * row, (h + 1) * added * row), at + this.length * row);
      }
      pair[0] = to;
      pair[1] = from;
    }
    this.length = total;
  }

  /** Room for at least `positions`: doubling, so an answer reallocates a handful of times. */
  grow(positions) {
    const capacity = Math.max(positions, 2 * this.capacity, 64);
    const size = this.heads * capacity * this.headDim;
    const keep = this.heads * this.length * this.headDim;
    for (const name of this.names) {
      const old = this.buffers.get(name);
      const current = new Float32Array(size);
      // The per-head layout depends only on length, so the cached values copy as they are.
      if (old) current.set(old[0].subarray(0, keep));
      this.buffers.set(name, [current, new Float32Array(size)]);
    }
    this.capacity = capacity;
  }

  dispose() {
    this.buffers.clear();
    this.length = 0;
    this.capacity = 0;
  }
}
