// @ts-check
// The edge server as one more engine: the same `stream()` contract as
// web/lib/engine/engine.js, over fetch + SSE to its OpenAI-compatible
// /v1/chat/completions. The core in Pyodide drives it through the same
// backend (llm_web/backend.py) and routes to it when the local engines cannot
// answer.
//
// Failures are Errors with the server's own catalogue code (its error body
// carries `error.code`), or a NET_* code when the server cannot be reached.

import { CODES, lookup } from './catalogue.js';
import { DEPLOYMENTS } from './deployments.js';

const { NET_CONNECTION_FAILED, NET_CONNECTION_RESET, STREAM_MALFORMED, STREAM_NO_DONE } = CODES;

export class EdgeError extends Error {
  constructor(code, message, context = {}) {
    super(`[${code}] ${message}`);
    this.name = 'EdgeError';
    this.code = code;
    this.context = context;
  }
}

function errorFrom(body, status) {
  const err = body && body.error;
  const code = err && typeof err.code === 'string' && lookup(err.code) ? err.code : NET_CONNECTION_FAILED;
  return new EdgeError(code, (err && err.message) || `the edge server answered HTTP ${status}`, { status });
}

/** SSE `data:` payloads of a fetch response, as they arrive. */
async function* sseData(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (data) yield data;
      }
    }
  } finally {
    // A caller that stops early closes the connection, so the server stops generating.
    reader.cancel().catch(() => {});
  }
}

export class EdgeClient {
  /** @param {string} baseUrl the edge server, e.g. 'http://127.0.0.1:8000' */
  constructor(baseUrl, { model = 'default', fetchImpl = (url, init) => globalThis.fetch(url, init) } = {}) {
    this.url = `${String(baseUrl).replace(/\/$/, '')}/v1/chat/completions`;
    this.model = model;
    this.fetch = fetchImpl;
    this.info = { ep: DEPLOYMENTS.EDGE, url: this.url };
  }

  /** Same options and chunks as Engine.stream (web/lib/engine/engine.js). */
  async *stream({ messages, prefix = '', maxTokens = 256, temperature = 0, topP = 1, seed, stop = [], signal }) {
    const body = {
      model: this.model,
      // A prefix is text the user already saw from another engine: the server
      // continues after it (vLLM's continue_final_message) and sends only the rest.
      ...(prefix
        ? { messages: [...messages, { role: 'assistant', content: prefix }], continue_final_message: true, add_generation_prompt: false }
        : { messages }),
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: maxTokens,
      temperature,
      top_p: topP,
      ...(seed === undefined || seed === null ? {} : { seed }),
      ...(stop.length ? { stop } : {}),
    };
    let response;
    try {
      response = await this.fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal,
      });
    } catch (e) {
      if (signal && signal.aborted) return;
      throw new EdgeError(NET_CONNECTION_FAILED, `the edge server cannot be reached: ${e.message || e}`, { url: this.url });
    }
    if (!response.ok) throw errorFrom(await response.json().catch(() => null), response.status);
    let finishReason = null;
    let usage = null;
    try {
      for await (const data of sseData(response)) {
        // Events already received sit in the buffer after an abort; none of
        // them may reach the caller once it has asked to stop.
        if (signal && signal.aborted) throw signal.reason ?? new DOMException('aborted', 'AbortError');
        if (data === '[DONE]') {
          yield { text: '', finishReason: finishReason || 'stop', usage: usage || {} };
          return;
        }
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw new EdgeError(STREAM_MALFORMED, 'the edge server sent a chunk that is not JSON', { data: data.slice(0, 200) });
        }
        if (chunk.error) throw errorFrom(chunk, 200); // an in-band coded error: the answer is incomplete
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) continue;
        if (choice.finish_reason) finishReason = choice.finish_reason;
        const text = choice.delta && choice.delta.content;
        if (text) yield { text, tokenId: -1 };
      }
    } catch (e) {
      if (signal && signal.aborted) {
        yield { text: '', finishReason: 'abort', usage: usage || {} };
        return;
      }
      if (e instanceof EdgeError) throw e;
      throw new EdgeError(NET_CONNECTION_RESET, `the edge server's stream broke: ${e.message || e}`, { url: this.url });
    }
    throw new EdgeError(STREAM_NO_DONE, 'the edge server ended the stream without [DONE]', { url: this.url });
  }
}
