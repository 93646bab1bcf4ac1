// tokenizer.js against the Python `tokenizers` library, on the built tokenizer.json.
// Expected ids come from fixtures/tokenizer.json (make_tokenizer_fixture.py).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { loadTokenizer } from '../../web/lib/engine/tokenizer.js';
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

test('parseSpecial false encodes special-token strings as text, as Python tokenizers with encode_special_tokens', () => {
  const tok = loadTokenizer(builtTokenizerJson());
  assert.ok(fixture.split_special.length >= 6, 'fixtures/tokenizer.json has split_special cases: run make_tokenizer_fixture.py');
  for (const c of fixture.split_special) {
    const ids = tok.encode(c.text, { parseSpecial: false });
    assert.deepEqual(ids, c.ids, `encode ${JSON.stringify(c.text)}`);
    assert.ok(!ids.some((id) => tok.specialIds.has(id)), `no special id in ${JSON.stringify(c.text)}`);
    assert.equal(tok.decode(ids), c.text, `round trip ${JSON.stringify(c.text)}`);
    assert.equal(tok.decode(ids, { skipSpecial: true }), c.decoded_skip_special);
  }
  for (const name of ['<|endoftext|>', '<|im_start|>', '<|im_end|>']) {
    assert.ok(tok.encode(name, { parseSpecial: false }).length > 1, `${name} is several ordinary tokens`);
  }
});

test('encodeParts: special parts are their tokens, text parts are text, adjacent text is one run', () => {
  const tok = loadTokenizer(builtTokenizerJson());
  const start = tok.tokenToId('<|im_start|>');
  const S = (text) => ({ text, special: true });
  const T = (text) => ({ text, special: false });
  // Text without special-token strings: the same ids as encode() on the joined text,
  // even where pre-tokenization looks across the seam between two text parts.
  for (const c of fixture.variants.as_built.cases) {
    if (c.ids.some((id) => tok.specialIds.has(id))) continue;
    const chars = Array.from(c.text); // cut between characters, never inside a surrogate pair
    const cut = Math.floor(chars.length / 2);
    const parts = [T(chars.slice(0, cut).join('')), T(chars.slice(cut).join(''))];
    assert.deepEqual(tok.encodeParts(parts), c.ids, JSON.stringify(c.text));
  }
  assert.deepEqual(tok.encodeParts([T('a\n'), T('  b')]), tok.encode('a\n  b'));
  assert.deepEqual(tok.encodeParts([S('<|im_start|>'), T('<|im_start|>')]), [start, ...tok.encode('<|im_start|>', { parseSpecial: false })]);
  assert.deepEqual(tok.encodeParts([]), []);
  assert.throws(() => tok.encodeParts([S('<|im_start|>user')]), /not a special token/);
  assert.throws(() => tok.encodeParts([S('hello')]), /not a special token/);
});

test('an unsupported tokenizer component fails at load, not while tokenizing', () => {
  const json = builtTokenizerJson();
  assert.throws(() => loadTokenizer({ ...json, pre_tokenizer: { type: 'Metaspace' } }), /unsupported pre_tokenizer Metaspace/);
  assert.throws(() => loadTokenizer({ ...json, model: { ...json.model, type: 'Unigram' } }), /unsupported model Unigram/);
});
