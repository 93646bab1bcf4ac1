// errors.js: engine failures carry what happened (stage, ep, message); the core's
// classifier in Python names them (tests/web/test_engine_failures.py runs these
// shapes through it). Only failures the engine recognises itself carry a code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { CODES, EngineError, toEngineError } from '../../web/lib/engine/errors.js';

test('every code exists in core/catalogue.py with that number and severity', () => {
  const catalogue = readFileSync(new URL('../../core/catalogue.py', import.meta.url), 'utf8');
  for (const [name, code] of Object.entries(CODES)) {
    const [, category, number, severity] = code.split('_');
    const entry = new RegExp(`^${name} = _e\\(\\s*"${category}",\\s*${Number(number)},\\s*${severity},`, 'm');
    assert.match(catalogue, entry, `${name} = ${code}`);
  }
});

test('a coded EngineError carries its code and says it in the message', () => {
  const err = new EngineError(CODES.ONNX_INVALID_MODEL, 'layout.json failed its sha256 check', { context: { file: 'layout.json' } });
  assert.ok(err instanceof Error);
  assert.equal(err.code, CODES.ONNX_INVALID_MODEL);
  assert.deepEqual(err.context, { file: 'layout.json' });
  assert.equal(err.message, `[${CODES.ONNX_INVALID_MODEL}] layout.json failed its sha256 check`);
  assert.deepEqual(JSON.parse(JSON.stringify(err)), { code: CODES.ONNX_INVALID_MODEL, message: err.message, context: { file: 'layout.json' } });
});

test('toEngineError reads no text: it records stage, ep and the message, and no code', () => {
  const thrown = new RangeError('Array buffer allocation failed');
  const err = toEngineError(thrown, 'run', { ep: 'wasm', context: { pastLength: 3 } });
  assert.ok(err instanceof EngineError);
  assert.equal(err.code, null);
  assert.equal(err.cause, thrown);
  assert.deepEqual(err.toJSON(), {
    code: null,
    stage: 'run',
    ep: 'wasm',
    message: 'RangeError: Array buffer allocation failed',
    context: { pastLength: 3 },
  });
});

test('the message of whatever was thrown', () => {
  assert.equal(toEngineError('Aborted(OOM)', 'session').message, 'Aborted(OOM)');
  assert.equal(toEngineError(12345, 'run').message, 'Emscripten abort 12345');
  assert.equal(toEngineError(new Error('plain'), 'run').message, 'plain');
  assert.equal(toEngineError({ message: 'an object' }, 'run').message, 'an object');
  assert.equal(toEngineError(undefined, 'session').message, '');
});

test('an EngineError passes through unchanged', () => {
  const err = new EngineError(CODES.NET_DOWNLOAD_FAILED, 'x');
  assert.equal(toEngineError(err, 'run'), err);
});
