// @ts-check
// The edge server as one more engine: the same `stream()` contract as
// web/lib/engine/engine.js, over fetch + SSE to its OpenAI-compatible
// /v1/chat/completions. The core in Pyodide drives it through the same
// backend (llm_web/backend.py) and routes to it when the local engines cannot
// answer.
//
// Failures are Errors with the server's own catalogue code (its error body
// carries `error.code`), a NET_* code when the server cannot be reached, or
// AUTH_ORIGIN_NOT_ALLOWED when it is up but does not let this page's origin
// call its API (its `server.cors_origins`): a browser shows both alike, as a
// fetch that fails with a TypeError and no status, so a `no-cors` request,
// which needs no permission, tells them apart (edgeUnreachable).

import { CODES, lookup } from './catalogue.js';
import { DEPLOYMENTS } from './deployments.js';

const { AUTH_ORIGIN_NOT_ALLOWED, NET_CONNECTION_FAILED, NET_CONNECTION_RESET, STREAM_MALFORMED, STREAM_NO_DONE } = CODES;

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

const trimmed = (url) => String(url).replace(/\/$/, '');

/** This page's origin, or null outside a page (Node: no CORS there). */
function pageOrigin() {
  const here = globalThis.location;
  return here && here.origin ? here.origin : null;
}

/**
 * Why a request to the edge server got no answer (a fetch rejected with a
 * TypeError): 'refused' when the server answers but not to this page's origin
 * (CORS: it is not in the server's server.cors_origins), 'down' when the server
 * cannot be reached. A same-origin server is never refused.
 * @param {string} baseUrl the edge server, e.g. 'http://127.0.0.1:8000'
 * @returns {Promise<'refused' | 'down'>}
 */
export async function edgeUnreachable(baseUrl, fetchImpl = (url, init) => globalThis.fetch(url, init)) {
  const origin = pageOrigin();
  let target;
  try {
    target = new URL(`${trimmed(baseUrl)}/`, globalThis.location ? globalThis.location.href : undefined);
  } catch {
    return 'down';
  }
  if (!origin || target.origin === origin) return 'down';
  try {
    // An opaque answer, readable by nobody, but an answer: the server is up. Its root
    // is a bundle page (which any origin may load) or the page saying how to build one.
    await fetchImpl(target.href, { mode: 'no-cors', cache: 'no-store', credentials: 'omit' });
    return 'refused';
  } catch {
    return 'down';
  }
}

/** The coded error for an edge server that refuses this page's origin, naming the setting to change. */
export function originRefused(baseUrl) {
  const origin = pageOrigin() || 'this page';
  const base = trimmed(baseUrl);
  return new EdgeError(
    AUTH_ORIGIN_NOT_ALLOWED,
    `the edge server ${base} does not let pages on ${origin} call its API: add "${origin}" to server.cors_origins in its configuration ` +
      `([server] cors_origins = ["${origin}"], or LLM_ROUTER__SERVER__CORS_ORIGINS=${origin}) and restart it`,
    { url: base, origin, setting: 'server.cors_origins' },
  );
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
    this.base = trimmed(baseUrl);
    this.url = `${this.base}/v1/chat/completions`;
    this.model = model;
    this.fetch = fetchImpl;
    this.info = { ep: DEPLOYMENTS.EDGE, url: this.url };
  }

  /**
   * The longest prompt, in tokens, the server takes for this client's model
   * (its /v1/models says `context_window`), or null when it does not say or
   * cannot be asked. The page's router refuses a longer prompt before sending it.
   * @returns {Promise<number | null>}
   */
  async contextWindow({ timeoutMs = 3000 } = {}) {
    try {
      const response = await this.fetch(`${this.base}/v1/models`, { credentials: 'omit', signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) return null;
      const models = (await response.json())?.data;
      const entry = Array.isArray(models) ? models.find((m) => m && m.id === this.model) : null;
      const window = entry?.context_window;
      return Number.isInteger(window) && window > 0 ? window : null;
    } catch {
      return null;
    }
  }

  /**
   * Whether this page may call the server: null when it answers, else the EdgeError
   * a request would fail with (AUTH_ORIGIN_NOT_ALLOWED: the server refuses this
   * page's origin; NET_CONNECTION_FAILED: it cannot be reached).
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<EdgeError | null>}
   */
  async check({ signal } = {}) {
    try {
      await this.fetch(`${this.base}/health`, { cache: 'no-store', credentials: 'omit', signal });
      return null;
    } catch (e) {
      return this._unreachable(e);
    }
  }

  async _unreachable(e) {
    if ((await edgeUnreachable(this.base, this.fetch)) === 'refused') return originRefused(this.base);
    return new EdgeError(NET_CONNECTION_FAILED, `the edge server cannot be reached: ${e.message || e}`, { url: this.url });
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
      throw await this._unreachable(e);
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
