// @ts-check
// <llm-chat>: the chat widget. One script tag and one element:
//
//   <script type="module" src="http://127.0.0.1:8000/lib/llm_chat.js"></script>
//   <llm-chat edge-url="http://127.0.0.1:8000"></llm-chat>
//
// It boots the router in Pyodide (runtime.js), answers on the best local engine
// the device can run, falls back to the edge server, and shows what happened:
// load progress, streaming text, a stop button, which engine answered and why
// the answer moved (the badge), and errors with their LLM_* code and the
// catalogue's sentence for it.
//
// Attributes (read once, when the element is first connected):
//   edge-url      an edge server to fall back to ("self": the page's own origin)
//   base          where the bundle is served (default: the folder above this module's, lib/)
//   engines       force local engines, e.g. wasm or webgpu,wasm (ENGINES); none for none
//   threads       WASM threads
//   max-tokens    per answer (default 256)
//   system        a system message put before the conversation
//   placeholder   the input's placeholder
//   heading       the title shown in the header (default "Chat")
//   offline       keep the page, runtime and model in the browser (service worker, offline.js)
//                 so a reload answers with no server; needs the bundle on this page's origin
// Property `runtimeOptions`: more createRuntime options (set before connecting).
//
// Events (bubbling, composed): llm-progress, llm-ready, llm-prefill (a long prompt being read: {read, total}),
// llm-delta, llm-switch, llm-restart, llm-done, llm-error, llm-offline (the service worker's status) — each with the
// runtime's event as `detail`.
// Methods: send(text) → Promise<done event>, stop(), clear(). `ready` is a
// Promise of the PageRuntime.

import { CODES, lookup } from './catalogue.js';
import { DEPLOYMENTS, isLocal, localDeployment } from './deployments.js';
import { createRuntime } from './runtime.js';
import { enableOffline } from './offline.js';
import { EdgeClient } from './edge.js';

const ENGINE_NAMES = {
  [DEPLOYMENTS.LOCAL_WEBGPU]: 'WebGPU',
  [DEPLOYMENTS.LOCAL_WASM]: 'WASM',
  [DEPLOYMENTS.EDGE]: 'Edge server',
  [DEPLOYMENTS.CACHE]: 'Cache',
};
// The bundle's root: this module is served from its lib/ folder.
const BUNDLE = new URL('../', import.meta.url).href;

/** A deployment's name for people: "WebGPU · this device", "Edge server". */
export function engineLabel(deployment) {
  const name = ENGINE_NAMES[deployment] || deployment || '—';
  return isLocal(deployment) ? `${name} · this device` : name;
}

const STYLE = `
:host { display: block; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24;
  --accent: #2457d6; --muted: #5b6472; --line: #d9dde3; --bad: #a1260d; --warn: #8a5a00; max-width: 100%; }
.box { display: flex; flex-direction: column; border: 1px solid var(--line); border-radius: 12px; background: #fff;
  height: var(--llm-chat-height, 32em); min-height: 18em; overflow: hidden; }
header { display: flex; align-items: center; gap: .6em; padding: .55em .8em; border-bottom: 1px solid var(--line); }
header h2 { font-size: 1em; margin: 0; flex: 1; }
.badge { font-size: .8em; padding: .15em .6em; border-radius: 99px; background: #eef2fb; color: var(--accent); white-space: nowrap; }
.badge[data-kind="remote"] { background: #f3eefb; color: #6a2fc2; }
.badge[data-kind="none"] { background: #f1f2f4; color: var(--muted); }
.load { padding: .5em .8em; border-bottom: 1px solid var(--line); font-size: .85em; color: var(--muted); }
.load progress { width: 100%; height: .5em; }
.load[hidden] { display: none; }
.log { flex: 1; overflow-y: auto; padding: .8em; display: flex; flex-direction: column; gap: .6em; }
.msg { max-width: 85%; padding: .5em .75em; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.user { align-self: flex-end; background: var(--accent); color: #fff; border-bottom-right-radius: 4px; }
.assistant { align-self: flex-start; background: #f1f3f6; border-bottom-left-radius: 4px; }
.assistant.streaming::after { content: "▍"; color: var(--muted); }
.note { align-self: stretch; font-size: .8em; color: var(--muted); text-align: center; }
.note.moved { color: var(--warn); }
.incomplete { font-size: .8em; color: var(--warn); display: block; margin-top: .3em; }
.error { align-self: stretch; border: 1px solid #f0c4bb; background: #fdf1ee; color: var(--bad); border-radius: 8px;
  padding: .5em .7em; font-size: .88em; }
.error code { font-weight: 600; }
.error .detail { color: #6b3a30; font-size: .92em; display: block; margin-top: .2em; }
form { display: flex; gap: .5em; padding: .6em; border-top: 1px solid var(--line); align-items: flex-end; }
textarea { flex: 1; resize: none; font: inherit; padding: .45em .6em; border: 1px solid var(--line); border-radius: 8px;
  min-height: 2.4em; max-height: 8em; box-sizing: border-box; }
textarea:focus-visible, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
button { font: inherit; padding: .45em .9em; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent);
  color: #fff; cursor: pointer; min-height: 2.4em; }
button.stop { background: #fff; color: var(--bad); border-color: #e3b2a8; }
button:disabled { opacity: .45; cursor: default; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 480px) {
  :host { font-size: 14px; }
  .box { border-radius: 0; border-left: 0; border-right: 0; height: var(--llm-chat-height, 100svh); }
  .msg { max-width: 92%; }
  /* The box is a screen tall: the conversation sits at its bottom, the answer right above the input
     (in view whenever the input is), not at the top with empty space below it. */
  .log > :first-child { margin-top: auto; }
  form { padding: .45em; }
  button { padding: .45em .7em; }
}
`;

const TEMPLATE = `
<div class="box" part="box">
  <header><h2 part="heading"></h2><span class="badge" data-kind="none" role="status" aria-live="polite">starting…</span></header>
  <div class="load" role="status" aria-live="polite"><span class="stage">starting…</span><progress max="1" value="0"></progress></div>
  <div class="log" role="log" aria-live="polite" aria-relevant="additions text" tabindex="0"></div>
  <form>
    <label class="sr" for="input">Message</label>
    <textarea id="input" rows="1" enterkeyhint="send" disabled></textarea>
    <button type="submit" class="send" disabled>Send</button>
    <button type="button" class="stop" disabled aria-keyshortcuts="Escape">Stop</button>
  </form>
</div>`;

// Keeping the page offline fetches the whole bundle again, into the service worker's cache. On a
// first visit that took the CPU from the first answer (its first token 0.3 s later on 2 cores, a one-off probe): it
// starts once the chat has been idle this long, with no answer in progress.
const OFFLINE_AFTER_IDLE_MS = 1000;

export class LlmChat extends HTMLElement {
  constructor() {
    super();
    this.runtimeOptions = this.runtimeOptions || {};
    this.messages = []; // the conversation so far, [{role, content}]
    this.runtime = null;
    this._controller = null;
    this._answeredAt = -Infinity; // performance.now() when the last answer ended
    this._scrolling = false; // a scroll to the newest message waits for the next frame
    this._booted = false;
    this.ready = new Promise((resolve, reject) => {
      this._resolveReady = resolve;
      this._rejectReady = reject;
    });
    this.ready.catch(() => {}); // shown in the widget; a page need not handle it
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
    const $ = (sel) => root.querySelector(sel);
    this._ui = {
      heading: $('h2'), badge: $('.badge'), load: $('.load'), stage: $('.stage'), bar: $('progress'),
      log: $('.log'), form: $('form'), input: $('textarea'), send: $('.send'), stop: $('.stop'),
    };
    const { form, input, stop } = this._ui;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.send(input.value);
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    this.shadowRoot.addEventListener('keydown', (ev) => {
      if (/** @type {KeyboardEvent} */ (ev).key === 'Escape' && this._controller) this.stop();
    });
    stop.addEventListener('click', () => this.stop());
  }

  connectedCallback() {
    if (this._booted) return;
    this._booted = true;
    this._ui.heading.textContent = this.getAttribute('heading') || 'Chat';
    this._ui.input.placeholder = this.getAttribute('placeholder') || 'Ask something…';
    // After the current task: a page that creates the element in script sets
    // runtimeOptions right after appending it.
    setTimeout(() => this._boot(), 0);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  _options() {
    const attr = (name) => this.getAttribute(name);
    const engines = attr('engines');
    const edge = attr('edge-url');
    return {
      base: attr('base') || BUNDLE,
      ...(engines !== null ? { engines: engines.split(',').map((e) => e.trim()).filter((e) => e && e !== 'none') } : {}),
      ...(edge ? { edgeUrl: edge === 'self' ? location.origin : edge } : {}),
      ...(attr('threads') ? { threads: Number(attr('threads')) } : {}),
      ...this.runtimeOptions,
    };
  }

  async _boot() {
    const { load, stage, bar, input, send } = this._ui;
    try {
      const runtime = await createRuntime({
        ...this._options(),
        onProgress: (ev) => {
          stage.textContent = progressText(ev);
          bar.max = ev.total || 1;
          bar.value = ev.loaded || 0;
          this._emit('llm-progress', ev);
        },
      });
      this.runtime = runtime;
      load.hidden = true;
      input.disabled = send.disabled = false;
      // The badge's tooltip names the engines the plan left out, with their codes (e.g. a software WebGPU adapter).
      const skipped = Object.entries(runtime.plan.excluded || {}).map(([ep, e]) => `; not used: ${engineLabel(localDeployment(ep))} (${e.code})`);
      if (runtime.engine) this._badge(localDeployment(runtime.engine), `ready${skipped.join('')}`);
      else if (runtime.edgeUrl) this._badge(DEPLOYMENTS.EDGE, `no local engine on this device${skipped.join('')}`);
      else {
        this._badge(null, 'no engine');
        // Nothing can answer: say so now, with the code, instead of on the first question.
        const reason = Object.values(runtime.loadErrors)[0] || Object.values(runtime.plan.excluded || {})[0];
        this._error({
          code: CODES.MODEL_NO_LOCAL_ENGINE,
          summary: 'No engine on this device can run the model, and no edge server is configured.',
          message: reason ? reason.message : 'set edge-url to let an edge server answer',
        });
      }
      if (runtime.storeError) this._note(`${runtime.storeError.code}: ${runtime.storeError.message}`, 'moved');
      this._resolveReady(runtime);
      this._emit('llm-ready', { engine: runtime.engine, plan: runtime.plan, edgeUrl: runtime.edgeUrl });
      if (this.hasAttribute('offline')) this._keepOffline(runtime);
      if (runtime.edgeUrl && new URL(runtime.edgeUrl, location.href).origin !== location.origin) this._checkEdge(runtime);
    } catch (e) {
      const error = { code: e.code || CODES.CORE_INIT_FAILED, summary: 'The chat could not start.', message: String(e.message || e) };
      stage.textContent = `${error.code}: ${error.message}`;
      this._badge(null, 'failed');
      this._error(error);
      this._rejectReady(e);
      this._emit('llm-error', error);
    }
  }

  async _keepOffline(runtime) {
    await this._idle(OFFLINE_AFTER_IDLE_MS);
    const status = await enableOffline({ base: this._options().base, models: runtime.engine ? [runtime.engine] : [] });
    this.offline = status;
    if (status.error) {
      // Not fatal: the chat works; only a reload without the server would not.
      this._error({ code: status.error.code, summary: 'This chat is not fully kept for offline use.', message: status.error.message });
    } else if (status.offline === 'full') {
      this._note(`kept for offline use (${Math.round((status.model_bytes || 0) / 1e6)} MB model)`);
    }
    this._emit('llm-offline', status);
  }

  /**
   * Resolves once no answer has been in progress for `ms`.
   * @param {number} ms
   */
  async _idle(ms) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (!this._controller && performance.now() - this._answeredAt >= ms) return;
    }
  }

  /**
   * An edge server on another origin may refuse this page's (its server.cors_origins):
   * say so now, with the code and the setting, rather than when the edge is first needed.
   */
  async _checkEdge(runtime) {
    const refused = await new EdgeClient(runtime.edgeUrl).check();
    if (!refused || refused.code !== CODES.AUTH_ORIGIN_NOT_ALLOWED) return; // up, or down: nothing to configure
    const entry = lookup(refused.code);
    const error = {
      code: refused.code,
      summary: `${entry ? entry.summary : ''} ${runtime.engine ? 'Answers come from this device only.' : 'Nothing can answer here.'}`.trim(),
      message: refused.message.replace(/^\[[^\]]*\] /, ''),
    };
    this._error(error);
    this._emit('llm-error', error);
  }

  /** Ask the model; resolves to the done event ({complete, deployment, error, …}). */
  async send(text) {
    const prompt = String(text || '').trim();
    const runtime = this.runtime || (await this.ready);
    if (!prompt || this._controller) return null;
    const { input, send, stop } = this._ui;
    input.value = '';
    this.messages.push({ role: 'user', content: prompt });
    this._bubble('user', prompt);
    const bubble = this._bubble('assistant', '');
    bubble.classList.add('streaming');
    const controller = (this._controller = new AbortController());
    send.disabled = true;
    stop.disabled = false;
    let answer = '';
    let done = null;
    const system = this.getAttribute('system');
    try {
      done = await runtime.chat(system ? [{ role: 'system', content: system }, ...this.messages] : this.messages, {
        signal: controller.signal,
        maxTokens: Number(this.getAttribute('max-tokens')) || 256,
        onEvent: (ev) => {
          if (ev.type === 'prefill') {
            // A long prompt being read, in chunks: say how far, until the answer's first piece replaces it.
            if (!answer) {
              const pct = ev.total ? Math.floor((100 * ev.read) / ev.total) : 0;
              bubble.textContent = `reading your message… ${pct} %`;
              bubble.dataset.prefill = String(pct);
              this._badge(ev.deployment, 'reading the message');
            }
            this._emit('llm-prefill', ev);
          } else if (ev.type === 'delta') {
            if (!answer) {
              delete bubble.dataset.prefill;
              bubble.textContent = '';
            }
            answer += ev.text;
            // A text node per piece: the browser lays out what is new, not the whole answer again.
            bubble.append(ev.text);
            this._badge(ev.deployment, 'answering');
            this._scroll();
            this._emit('llm-delta', ev);
          } else if (ev.type === 'switch') {
            this._note(`continued on ${engineLabel(ev.to)} — ${engineLabel(ev.from)} failed (${ev.reason})`, 'moved', bubble);
            this._badge(ev.to, `moved from ${engineLabel(ev.from)}: ${ev.reason} ${ev.message || ''}`);
            this._emit('llm-switch', ev);
          } else if (ev.type === 'restart') {
            // The text shown so far is replaced: the new engine starts over.
            answer = '';
            bubble.textContent = '';
            this._note(`restarted on ${engineLabel(ev.to)} — ${engineLabel(ev.from)} failed (${ev.reason})`, 'moved', bubble);
            this._badge(ev.to, `restarted after ${engineLabel(ev.from)}: ${ev.reason}`);
            this._emit('llm-restart', ev);
          }
        },
      });
    } catch (e) {
      done = { type: 'done', complete: false, error: { code: e.code || CODES.CORE_INTERNAL, message: String(e.message || e) } };
    } finally {
      this._controller = null;
      this._answeredAt = performance.now();
      bubble.classList.remove('streaming');
      send.disabled = false;
      stop.disabled = true;
    }
    if (answer) this.messages.push({ role: 'assistant', content: answer });
    else this.messages.pop(); // nothing answered: the question can be asked again
    if (!answer) bubble.remove();
    if (done.finish_reason === 'abort' || (done.error && done.error.code === CODES.CORE_CANCELLED)) {
      if (answer) this._mark(bubble, 'stopped');
    } else if (done.error) {
      if (answer) this._mark(bubble, `incomplete — ${done.error.code}`);
      this._error(done.error);
      this._emit('llm-error', done.error);
    } else if (!done.complete) {
      this._mark(bubble, `incomplete (${done.finish_reason || 'cut'})`);
    } else if (done.finish_reason === 'length') {
      this._mark(bubble, 'stopped at the length limit');
    }
    if (done.status === 'cached') {
      // Every engine failed and the router answered from its cache: say so, it is not a fresh answer.
      this._mark(bubble, `from the cache: no engine could answer${done.error ? ` (${done.error.code})` : ''}`);
      this._badge(DEPLOYMENTS.CACHE, 'served from the cache because every engine failed');
    } else if (done.deployment) this._badge(done.deployment, done.complete ? 'answered' : 'incomplete');
    this._emit('llm-done', done);
    input.focus();
    return done;
  }

  /** Stop the answer being generated (local or remote). */
  stop() {
    if (this._controller) this._controller.abort();
  }

  /** Forget the conversation. */
  clear() {
    this.stop();
    this.messages = [];
    this._ui.log.replaceChildren();
  }

  _bubble(role, text) {
    const el = document.createElement('div');
    el.className = `msg ${role}`;
    el.dataset.role = role;
    el.textContent = text;
    this._ui.log.append(el);
    this._scroll();
    return el;
  }

  _mark(bubble, text) {
    const el = document.createElement('span');
    el.className = 'incomplete';
    el.textContent = `⚠ ${text}`;
    bubble.append(el);
  }

  _note(text, kind = '', before = null) {
    const el = document.createElement('div');
    el.className = `note ${kind}`;
    el.textContent = text;
    if (before) this._ui.log.insertBefore(el, before.nextSibling);
    else this._ui.log.append(el);
    this._scroll();
  }

  _error({ code, summary, message }) {
    const el = document.createElement('div');
    el.className = 'error';
    el.setAttribute('role', 'alert');
    el.dataset.code = code || '';
    const head = document.createElement('code');
    head.textContent = code || 'error';
    const sentence = document.createTextNode(` ${summary || message || ''}`);
    el.append(head, sentence);
    if (message && message !== summary) {
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.textContent = message;
      el.append(detail);
    }
    this._ui.log.append(el);
    this._scroll();
  }

  _badge(deployment, why) {
    const { badge } = this._ui;
    // Called for every piece of an answer: restyle only when something changed.
    if (badge.dataset.deployment === (deployment || '') && badge.title === (why || '') && badge.dataset.kind) return;
    badge.textContent = deployment ? engineLabel(deployment) : why;
    badge.dataset.kind = !deployment ? 'none' : isLocal(deployment) ? 'local' : 'remote';
    badge.dataset.deployment = deployment || '';
    badge.title = why || '';
  }

  /** Keep the newest message in view: once a frame, however many pieces came (reading scrollHeight lays the page out). */
  _scroll() {
    if (this._scrolling) return;
    this._scrolling = true;
    requestAnimationFrame(() => {
      this._scrolling = false;
      const { log } = this._ui;
      log.scrollTop = log.scrollHeight;
    });
  }
}

function progressText(ev) {
  const what = { pyodide: 'Starting Python', wheel: 'Installing the router', model: 'Downloading the model', session: 'Preparing the model', ready: 'Ready' }[ev.stage] || ev.stage;
  const pct = ev.total > 1 ? ` ${Math.round((100 * (ev.loaded || 0)) / ev.total)}%` : '';
  return ev.message ? `${what}${pct} — ${ev.message}` : `${what}${pct}`;
}

if (!customElements.get('llm-chat')) customElements.define('llm-chat', LlmChat);
