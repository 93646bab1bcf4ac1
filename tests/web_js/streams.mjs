// Reading an engine's stream in the tests: the engine in the page (engine.js) and in its worker alike.
import assert from 'node:assert/strict';

/** Run a stream to its end: the pieces, their text, and the final chunk. */
export async function collect(engine, options) {
  const pieces = [];
  let final = null;
  for await (const chunk of engine.stream(options)) {
    assert.equal(final, null, 'nothing comes after the final chunk');
    if ('finishReason' in chunk) final = chunk;
    else pieces.push(chunk);
  }
  assert.ok(final, 'the stream ends with a final chunk');
  return { pieces, text: pieces.map((p) => p.text).join(''), final };
}

/** A long answer whose signal aborts once `n` pieces have come: the pieces and the final chunk. */
export async function abortAfter(engine, n) {
  const controller = new AbortController();
  const pieces = [];
  let final = null;
  for await (const chunk of engine.stream({ messages: [{ role: 'user', content: 'Count from 1 to 100.' }], maxTokens: 200, signal: controller.signal })) {
    if ('finishReason' in chunk) final = chunk;
    else {
      pieces.push(chunk);
      if (pieces.length === n) controller.abort();
    }
  }
  return { pieces, final };
}
