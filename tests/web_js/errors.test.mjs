// errors.js: failure texts from ORT, WebGPU and Emscripten map to catalogue codes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { CODES, EngineError, toEngineError } from '../../web/src/engine/errors.js';

test('every code exists in core/catalogue.py with that number and severity', () => {
  const catalogue = readFileSync(new URL('../../core/catalogue.py', import.meta.url), 'utf8');
  for (const [name, code] of Object.entries(CODES)) {
    const [, category, number, severity] = code.split('_');
    const sev = { I: 'I', W: 'W', E: 'E', C: 'C', F: 'F' }[severity];
    const entry = new RegExp(`^${name} = _e\\(\\s*"${category}",\\s*${Number(number)},\\s*${sev},`, 'm');
    assert.match(catalogue, entry, `${name} = ${code}`);
  }
});

test('EngineError carries code, type and context, and says its code in the message', () => {
  const err = new EngineError('LLM_ONNX_002_E', 'session failed', { context: { ep: 'wasm' } });
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'LLM_ONNX_002_E');
  assert.equal(err.type, 'onnx');
  assert.deepEqual(err.context, { ep: 'wasm' });
  assert.equal(err.message, '[LLM_ONNX_002_E] session failed');
  assert.deepEqual(JSON.parse(JSON.stringify(err)), { code: 'LLM_ONNX_002_E', type: 'onnx', message: err.message, context: { ep: 'wasm' } });
});

const CASES = [
  // [thrown, stage, ep, code]
  [new Error('Aborted(OOM)'), 'session', 'wasm', 'LLM_WASM_003_E'],
  [new RangeError('Array buffer allocation failed'), 'run', 'wasm', 'LLM_WASM_003_E'],
  [new Error('WebAssembly.Memory(): could not allocate memory'), 'session', 'wasm', 'LLM_WASM_003_E'],
  [new Error('GPUOutOfMemoryError: out of memory'), 'run', 'webgpu', 'LLM_WEBGPU_002_E'],
  ['failed to allocate a buffer: out of memory', 'session', 'webgpu', 'LLM_WEBGPU_002_E'],
  [new Error('Device was lost: The GPU device was lost (reason: destroyed)'), 'run', 'webgpu', 'LLM_WEBGPU_003_E'],
  [new Error('Error while parsing WGSL: unresolved type f16'), 'session', 'webgpu', 'LLM_WEBGPU_004_E'],
  [new Error("Feature 'shader-f16' is not supported"), 'session', 'webgpu', 'LLM_WEBGPU_005_W'],
  [new Error('Buffer size (3000000000) exceeds the max buffer size limit (maxBufferSize: 2147483648)'), 'session', 'webgpu', 'LLM_WEBGPU_006_E'],
  [new Error('no available backend found. ERR: [webgpu] Error: WebGPU is not supported in current environment'), 'session', 'webgpu', 'LLM_WEBGPU_001_E'],
  [new Error('Failed to get GPU adapter. You may need to enable flag "--enable-unsafe-webgpu"'), 'session', 'webgpu', 'LLM_WEBGPU_001_E'],
  [new Error("Could not find an implementation for MatMulNBits(1) node with name 'x'"), 'session', 'wasm', 'LLM_ONNX_005_E'],
  [new Error("Can't create a session. ERROR_CODE: 7, ERROR_MESSAGE: Failed to load model because protobuf parsing failed."), 'session', 'wasm', 'LLM_ONNX_004_E'],
  [new Error('CompileError: WebAssembly.instantiate(): expected magic word'), 'session', 'wasm', 'LLM_WASM_001_E'],
  [new Error("Failed to fetch dynamically imported module: https://x/ort.mjs"), 'import', undefined, 'LLM_ONNX_001_E'],
  [new Error('failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: Non-zero status code'), 'run', 'wasm', 'LLM_ONNX_003_E'],
  [new Error("Can't create a session. ERROR_CODE: 1"), 'session', 'wasm', 'LLM_ONNX_002_E'],
  [12345, 'run', 'wasm', 'LLM_ONNX_003_E'],
  [undefined, 'session', 'wasm', 'LLM_ONNX_002_E'],
];

test('failure texts map to their codes', () => {
  for (const [thrown, stage, ep, code] of CASES) {
    const err = toEngineError(thrown, stage, { ep });
    assert.ok(err instanceof EngineError);
    assert.equal(err.code, code, `${String(thrown?.message ?? thrown)} at ${stage}`);
    assert.equal(err.context.stage, stage);
    if (thrown !== undefined) assert.equal(err.cause, thrown);
  }
});

test('an EngineError passes through unchanged', () => {
  const err = new EngineError('LLM_NET_002_E', 'x');
  assert.equal(toEngineError(err, 'run'), err);
});
