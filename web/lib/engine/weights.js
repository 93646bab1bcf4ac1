// @ts-check
// The WASM variant's weights: shipped 4-bit packed, given to onnxruntime-web as float32.
//
// The WASM graph reads an external-data file of about 570 MB (float32, plus
// the embedding's 8-bit values). Shipping it would make the download almost
// six times larger than it needs to be, since the values are exactly the
// GGUF's Q4_1/Q8_0 blocks dequantized; so the build ships those blocks
// (weights.q4, about 100 MB) and layout.json, and this module rebuilds the
// file's bytes in the page. Hand-written because it is this product's own file
// format.
//
// layout.json: {total_bytes, tensors: [{name, offset, bytes, kind, src_offset,
// rows, cols, transpose}]}. `offset`/`bytes` place the tensor in the external-data
// file; `src_offset` is where its blocks start in weights.q4. The tensor is the
// row-major [rows, cols] matrix, or its transpose [cols, rows] when
// `transpose` is set. Kinds:
//   q4_1  per row, cols/32 blocks of 20 bytes: fp16 d, fp16 m, 16 bytes whose
//         byte j holds element j (low nibble) and element j+16 (high nibble);
//         value = d*q + m
//   q8_0  per row, cols/32 blocks of 34 bytes: fp16 d, 32 int8; value = d*q
//   f32   raw little-endian float32, row-major
// Two more kinds read q8_0 blocks without dequantizing them (never transposed),
// for the embedding lookup: q8_0_u8, the [rows, cols] values as uint8 (q + 128,
// ONNX's 8-bit zero-point form), and q8_0_d, the [rows, cols/32] scales as
// float32. Every other kind is a float32 [rows, cols] tensor.

import { CODES, EngineError } from './errors.js';

const BLOCK = 32;
const BLOCK_BYTES = { q4_1: 20, q8_0: 34, f32: BLOCK * 4 };
/** Kinds that read another kind's blocks. */
const SOURCE_KIND = { q8_0_u8: 'q8_0', q8_0_d: 'q8_0' };
const sourceKind = (kind) => SOURCE_KIND[kind] ?? kind;

/**
 * @typedef {{name: string, offset: number, bytes: number, kind: 'q4_1'|'q8_0'|'f32'|'q8_0_u8'|'q8_0_d',
 *   src_offset: number, rows: number, cols: number, transpose: boolean}} TensorLayout
 * @typedef {{total_bytes: number, tensors: TensorLayout[]}} Layout
 */

let fp16Table = null;
/** All 65536 half-precision values as float32, built on first use (256 KB). */
function halfToFloatTable() {
  if (fp16Table) return fp16Table;
  fp16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) fp16Table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) fp16Table[h] = frac ? NaN : sign * Infinity;
    else fp16Table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return fp16Table;
}

/**
 * Check a layout against the packed file before anything reads it: errors
 * thrown later, inside onnxruntime-web's loader, are swallowed into a bare
 * status code.
 * @param {Layout} layout
 * @param {number} packedBytes size of weights.q4
 */
export function validateLayout(layout, packedBytes) {
  const fail = (why, tensor) =>
    new EngineError(CODES.ONNX_INVALID_MODEL, `weights layout: ${why}`, { context: { tensor: tensor?.name } });
  if (!Number.isSafeInteger(layout.total_bytes) || !Array.isArray(layout.tensors)) throw fail('missing total_bytes or tensors');
  for (const t of layout.tensors) {
    if (!(sourceKind(t.kind) in BLOCK_BYTES)) throw fail(`unknown kind ${t.kind}`, t);
    if (t.kind !== 'f32' && t.cols % BLOCK !== 0) throw fail(`cols ${t.cols} is not a multiple of ${BLOCK}`, t);
    if (t.transpose && t.kind in SOURCE_KIND) throw fail(`kind ${t.kind} cannot be transposed`, t);
    if (t.bytes !== outputBytes(t)) throw fail(`bytes ${t.bytes} != ${outputBytes(t)} for ${t.rows}x${t.cols} ${t.kind}`, t);
    if (t.offset < 0 || t.offset + t.bytes > layout.total_bytes) throw fail('tensor lies outside total_bytes', t);
    if (t.src_offset < 0 || t.src_offset + packedSize(t) > packedBytes) throw fail('tensor lies outside the packed file', t);
  }
}

/** @param {TensorLayout} t @returns {number} bytes the tensor takes in weights.q4 */
export function packedSize(t) {
  const kind = sourceKind(t.kind);
  return kind === 'f32' ? t.rows * t.cols * 4 : (t.rows * t.cols * BLOCK_BYTES[kind]) / BLOCK;
}

/** @param {TensorLayout} t @returns {number} bytes the tensor takes in the external-data file */
export function outputBytes(t) {
  if (t.kind === 'q8_0_u8') return t.rows * t.cols;
  if (t.kind === 'q8_0_d') return (t.rows * t.cols * 4) / BLOCK;
  return t.rows * t.cols * 4;
}

/** The tensor's elements at `byteOffset` of `buffer`, typed as the file stores them. */
function tensorView(buffer, byteOffset, t) {
  if (t.kind === 'q8_0_u8') return new Uint8Array(buffer, byteOffset, t.bytes);
  return new Float32Array(buffer, byteOffset, t.bytes / 4);
}

/**
 * Rebuild one tensor into `out`, in the order the external-data file stores
 * it (a Uint8Array for q8_0_u8, else a Float32Array).
 * @param {Uint8Array} packed the whole weights.q4
 * @param {TensorLayout} t
 * @param {Float32Array|Uint8Array} out
 */
export function dequantizeTensor(packed, t, out) {
  if (!t.transpose) {
    dequantizeRows(packed, t, 0, t.rows, out);
    return;
  }
  // Transposed: a few rows at a time, then a tile transpose, so that each
  // write is 16 consecutive floats (a cache line) rather than one float a
  // whole column apart.
  const { rows, cols } = t;
  const GROUP = 16;
  const tile = new Float32Array(GROUP * cols);
  for (let r0 = 0; r0 < rows; r0 += GROUP) {
    const n = Math.min(GROUP, rows - r0);
    dequantizeRows(packed, t, r0, n, tile);
    for (let c = 0; c < cols; c++) {
      const at = c * rows + r0;
      for (let r = 0; r < n; r++) out[at + r] = tile[r * cols + c];
    }
  }
}

/** Rows [first, first+count) of the [rows, cols] matrix, row-major, into out[0...]. */
function dequantizeRows(packed, t, first, count, out) {
  const { cols } = t;
  if (t.kind === 'f32') {
    const src = new DataView(packed.buffer, packed.byteOffset + t.src_offset + first * cols * 4, count * cols * 4);
    for (let i = 0; i < count * cols; i++) out[i] = src.getFloat32(i * 4, true);
    return;
  }
  const half = halfToFloatTable();
  const blockBytes = BLOCK_BYTES[sourceKind(t.kind)];
  const bytes = new Uint8Array(packed.buffer); // absolute indexing: no per-block views
  const signed = new Int8Array(packed.buffer);
  const blocks = (count * cols) / BLOCK;
  let p = packed.byteOffset + t.src_offset + ((first * cols) / BLOCK) * blockBytes;
  if (t.kind === 'q8_0_u8') {
    for (let b = 0, at = 0; b < blocks; b++, p += blockBytes, at += BLOCK) {
      for (let j = 0; j < BLOCK; j++) out[at + j] = bytes[p + 2 + j] ^ 0x80; // int8 q -> uint8 q + 128
    }
    return;
  }
  if (t.kind === 'q8_0_d') {
    for (let b = 0; b < blocks; b++, p += blockBytes) out[b] = half[bytes[p] | (bytes[p + 1] << 8)];
    return;
  }
  // Rows are whole blocks, so the rows' blocks are consecutive in both files.
  for (let b = 0, at = 0; b < blocks; b++, p += blockBytes, at += BLOCK) {
    const d = half[bytes[p] | (bytes[p + 1] << 8)];
    if (t.kind === 'q4_1') {
      const m = half[bytes[p + 2] | (bytes[p + 3] << 8)];
      for (let j = 0; j < 16; j++) {
        const q = bytes[p + 4 + j];
        out[at + j] = d * (q & 0x0f) + m;
        out[at + 16 + j] = d * (q >> 4) + m;
      }
    } else {
      for (let j = 0; j < BLOCK; j++) out[at + j] = d * signed[p + 2 + j];
    }
  }
}

/**
 * The whole float32 external-data file. Used by the tests (compared with the
 * numpy reference) and as the fallback when the lazy view cannot be used.
 * @param {Uint8Array} packed
 * @param {Layout} layout
 * @returns {Uint8Array}
 */
export function dequantizeAll(packed, layout) {
  validateLayout(layout, packed.byteLength);
  const out = new Uint8Array(layout.total_bytes);
  for (const t of layout.tensors) {
    if (t.offset % 4 === 0) dequantizeTensor(packed, t, tensorView(out.buffer, t.offset, t));
    else out.set(dequantizeToNew(packed, t), t.offset);
  }
  return out;
}

/** The tensor's bytes in a new array. */
function dequantizeToNew(packed, t) {
  const bytes = new Uint8Array(t.bytes);
  dequantizeTensor(packed, t, tensorView(bytes.buffer, 0, t));
  return bytes;
}

/**
 * The float32 external-data file, made on demand, one byte range at a time.
 *
 * Why a Uint8Array subclass: the page must stay under about 1.2 GB, and the
 * external-data file (570 MB) would exist twice if we built it — once in JS, once
 * copied into WASM memory. onnxruntime-web 1.30 accepts any `instanceof
 * Uint8Array` as mounted external data, checks `offset + length <=
 * data.byteLength`, and copies each initializer in with
 * `data.subarray(offset, offset + length)`. So this object reports the full
 * file's byteLength and dequantizes in subarray() just the range asked for;
 * only one tensor's float32 bytes exist in JS at a time. It has no real
 * storage: anything but byteLength/length/subarray sees an empty array.
 *
 * It must be used in the thread that creates the session: with
 * `ort.env.wasm.proxy = true` the data is posted to a worker, and structured
 * cloning turns it back into an empty plain Uint8Array.
 */
export class DequantizingView extends Uint8Array {
  /**
   * @param {Uint8Array} packed the whole weights.q4
   * @param {Layout} layout
   * @param {{onProgress?: (doneBytes: number, totalBytes: number) => void, reuseBuffer?: boolean}} [options]
   *   reuseBuffer: every subarray() result is a view of one scratch buffer,
   *   valid only until the next call. onnxruntime-web copies each range out
   *   at once, and otherwise the 570 MB of short-lived arrays pile up as
   *   garbage faster than the collector frees them.
   */
  constructor(packed, layout, { onProgress, reuseBuffer = false } = {}) {
    super(0);
    validateLayout(layout, packed.byteLength);
    this.packed = packed;
    this.totalBytes = layout.total_bytes;
    this.tensors = [...layout.tensors].sort((a, b) => a.offset - b.offset);
    this.onProgress = onProgress;
    this.reuseBuffer = reuseBuffer;
    this.scratch = null;
    this.doneBytes = 0;
  }

  get byteLength() {
    return this.totalBytes;
  }

  get length() {
    return this.totalBytes;
  }

  // TypedArray methods make arrays of the receiver's species; ours would be a
  // DequantizingView with no packed data, so they get plain Uint8Arrays.
  static get [Symbol.species]() {
    return Uint8Array;
  }

  /**
   * Bytes [begin, end) of the float32 file, as a new Uint8Array (or, with
   * reuseBuffer, a view of the scratch buffer). Bytes no tensor covers
   * (alignment padding) are zero.
   * @param {number} [begin]
   * @param {number} [end]
   * @returns {Uint8Array<ArrayBuffer>}
   */
  subarray(begin = 0, end = this.totalBytes) {
    begin = clampIndex(begin, this.totalBytes);
    end = Math.max(begin, clampIndex(end, this.totalBytes));
    const out = this.output(end - begin);
    for (let i = this.firstTensorEndingAfter(begin); i < this.tensors.length; i++) {
      const t = this.tensors[i];
      if (t.offset >= end) break;
      if (t.offset >= begin && t.offset + t.bytes <= end && (t.offset - begin) % 4 === 0) {
        // The usual case: onnxruntime-web asks for exactly one tensor.
        dequantizeTensor(this.packed, t, tensorView(out.buffer, t.offset - begin, t));
      } else {
        const whole = dequantizeToNew(this.packed, t);
        const from = Math.max(begin, t.offset);
        const to = Math.min(end, t.offset + t.bytes);
        out.set(whole.subarray(from - t.offset, to - t.offset), from - begin);
      }
    }
    this.doneBytes += end - begin;
    this.onProgress?.(Math.min(this.doneBytes, this.totalBytes), this.totalBytes);
    return out;
  }

  /**
   * Let go of the packed weights and the scratch buffer, at once: called when
   * onnxruntime has read everything. Nothing may use the view afterwards.
   */
  release() {
    freeNow(this.packed);
    freeNow(this.scratch);
    this.packed = null;
    this.scratch = null;
  }

  /** A zeroed array of `size` bytes: new, or the front of the scratch buffer. */
  output(size) {
    if (!this.reuseBuffer) return new Uint8Array(size);
    if (!this.scratch || this.scratch.byteLength < size) this.scratch = new ArrayBuffer(size);
    const out = new Uint8Array(this.scratch, 0, size);
    out.fill(0);
    return out;
  }

  /** Binary search: index of the first tensor whose end is after `pos`. */
  firstTensorEndingAfter(pos) {
    let lo = 0;
    let hi = this.tensors.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const t = this.tensors[mid];
      if (t.offset + t.bytes <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Free an array's memory now instead of at some later garbage collection, by
 * detaching its buffer (ArrayBuffer.prototype.transfer, where the browser has
 * it; elsewhere the collector frees it as usual). Used on the model's 100 MB
 * download once onnxruntime holds the weights: until the collector gets to it,
 * it sits on top of the tab's peak memory (bench/browser_memory.py). Every view
 * of the buffer becomes empty.
 * @param {ArrayBuffer|ArrayBufferView|null|undefined} bytes
 */
export function freeNow(bytes) {
  const buffer = ArrayBuffer.isView(bytes) ? bytes.buffer : bytes;
  if (buffer instanceof ArrayBuffer && typeof buffer.transfer === 'function' && !buffer.detached) buffer.transfer(0);
}

function clampIndex(i, size) {
  i = Math.trunc(Number(i));
  if (i < 0) i += size;
  return Math.min(Math.max(i, 0), size);
}
