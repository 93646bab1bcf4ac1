// chat_format.js against what `transformers` renders with the model's own
// chat template (fixtures/chat.json, from make_chat_fixture.py), using the
// built manifest's chat settings and tokenizer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { formatPrompt } from '../../web/src/engine/chat_format.js';
import { loadTokenizer } from '../../web/src/engine/tokenizer.js';
import { modelFile } from './model_files.mjs';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/chat.json', import.meta.url), 'utf8'));
const builtChat = () => JSON.parse(readFileSync(modelFile('manifest.json'), 'utf8')).chat;

test('the manifest describes the template the fixture was rendered with', () => {
  const chat = builtChat();
  assert.equal(chat.format, 'chatml');
  assert.ok(fixture.template.includes('<|im_start|>'), 'the fixture template is ChatML');
  assert.ok(fixture.template.includes(chat.default_system), 'the default system message is the template\'s');
});

test('formatPrompt renders as transformers does, text and token ids', () => {
  const chat = builtChat();
  const tok = loadTokenizer(readFileSync(modelFile('tokenizer.json'), 'utf8'));
  for (const c of fixture.cases) {
    const prompt = formatPrompt({ messages: c.messages, prefix: c.prefix, chat });
    assert.equal(prompt, c.text, JSON.stringify(c.messages));
    assert.deepEqual(tok.encode(prompt), c.ids, JSON.stringify(c.messages));
  }
});

test('kind "text" is the raw prompt, continued by the prefix', () => {
  const chat = { format: 'chatml', default_system: 'unused' };
  assert.equal(formatPrompt({ kind: 'text', messages: [{ role: 'user', content: 'Once upon' }], prefix: ' a', chat }), 'Once upon a');
  assert.throws(() => formatPrompt({ kind: 'text', messages: [], chat }), TypeError);
});
