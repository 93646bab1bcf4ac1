// tokenizer.js against the Python `tokenizers` library, on the built tokenizer.json.
// Expected ids come from fixtures/tokenizer.json (make_tokenizer_fixture.py).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { loadTokenizer } from '../../web/src/engine/tokenizer.js';
import { modelFile } from './model_files.mjs';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/tokenizer.json', import.meta.url), 'utf8'));

function builtTokenizerJson() {
  const raw = readFileSync(modelFile('tokenizer.json'));
  const sha = createHash('sha256').update(raw).digest('hex');
  assert.equal(
    sha,
    fixture.tokenizer_sha256,
    'fixtures/tokenizer.json was made from another tokenizer.json: run .cache/model-venv/bin/python tests/web_js/make_tokenizer_fixture.py',
  );
  return JSON.parse(raw.toString('utf8'));
}

for (const [variant, { pre_tokenizer, cases }] of Object.entries(fixture.variants)) {
  test(`encode and decode equal Python tokenizers (${variant}, ${cases.length} texts)`, () => {
    const tok = loadTokenizer({ ...builtTokenizerJson(), pre_tokenizer });
    for (const c of cases) {
      assert.deepEqual(tok.encode(c.text), c.ids, `encode ${JSON.stringify(c.text)}`);
      assert.equal(tok.decode(c.ids), c.decoded, `decode ${JSON.stringify(c.text)}`);
      assert.equal(tok.decode(c.ids, { skipSpecial: true }), c.decoded_skip_special, `decode(skip) ${JSON.stringify(c.text)}`);
    }
  });
}

test('the stream decoder emits only whole characters and adds up to decode()', () => {
  const tok = loadTokenizer(builtTokenizerJson());
  for (const c of fixture.variants.as_built.cases) {
    const stream = tok.streamDecoder();
    const pieces = c.ids.map((id) => stream.push(id));
    pieces.push(stream.flush());
    assert.equal(pieces.join(''), c.decoded, JSON.stringify(c.text));
    if (!c.decoded.includes('\uFFFD')) {
      assert.ok(!pieces.some((p) => p.includes('\uFFFD')), `U+FFFD mid-stream in ${JSON.stringify(c.text)}`);
    }
  }
});

test('a character cut short decodes to U+FFFD, as in Python, but streams as nothing until flushed', () => {
  const tok = loadTokenizer(builtTokenizerJson());
  const { ids, decoded } = fixture.partial_utf8;
  assert.ok(ids.length >= 1);
  assert.equal(tok.decode(ids), decoded);
  const stream = tok.streamDecoder();
  assert.deepEqual(ids.map((id) => stream.push(id)), ids.map(() => ''));
  assert.equal(stream.flush(), decoded);
});

test('special tokens are whole tokens with their ids', () => {
  const tok = loadTokenizer(builtTokenizerJson());
  for (const name of ['<|endoftext|>', '<|im_start|>', '<|im_end|>']) {
    const id = tok.tokenToId(name);
    assert.equal(typeof id, 'number', name);
    assert.deepEqual(tok.encode(name), [id]);
  }
});

test('an unsupported tokenizer component fails at load, not while tokenizing', () => {
  const json = builtTokenizerJson();
  assert.throws(() => loadTokenizer({ ...json, pre_tokenizer: { type: 'Metaspace' } }), /unsupported pre_tokenizer Metaspace/);
  assert.throws(() => loadTokenizer({ ...json, model: { ...json.model, type: 'Unigram' } }), /unsupported model Unigram/);
});
