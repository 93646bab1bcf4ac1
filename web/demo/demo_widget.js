// @ts-check
// Puts an <llm-chat> into a demo page, set from the page's query string, so
// the demos (and their e2e tests) can force a case:
//   engines=wasm|webgpu|none   local engines to use ("none": the edge only)
//   threads=N                  WASM threads
//   edge=0 | edge=URL          no edge server | another one (default: this server)
//   fault=wasm:8[:CODE]        the local engine fails after 8 pieces (lib/faults.js)
//   software_adapter=1         let WebGPU on a software adapter (SwiftShader) answer (tests of that path)
//   context=N                  the local engines' context window, in tokens (default: the model's), to
//                              watch a long prompt go to the edge server when the edge's is larger
//   offline=0 | offline=1      keep the page offline (service worker) or not, whatever the page's default
//   worker=0                   run the engine on the page's thread, not in a Web Worker (bench/page_responsiveness.py's baseline)
//   snapshot=0                 boot Python afresh, not from the memory snapshot an earlier load kept
//
// The demo is served at the bundle's root and the library at /lib/, so
// '../lib/' names web/lib/ in the checkout and /lib/ in the bundle alike (a
// URL's '..' stops at the root). Every demo script imports the library so.
import '../lib/llm_chat.js';
import { faultsFromQuery } from '../lib/faults.js';
import { DEPLOYMENTS } from '../lib/deployments.js';

export function mountChat(container, { heading = 'Chat', offline = false } = {}) {
  const q = new URLSearchParams(location.search);
  const chat = /** @type {import('../lib/llm_chat.js').LlmChat} */ (document.createElement('llm-chat'));
  chat.setAttribute('heading', heading);
  chat.setAttribute('base', new URL('./', location.href).href);
  const edge = q.get('edge');
  if (edge !== '0') chat.setAttribute('edge-url', edge && edge !== '1' ? edge : 'self');
  if (q.has('engines')) chat.setAttribute('engines', q.get('engines'));
  if (q.has('threads')) chat.setAttribute('threads', q.get('threads'));
  chat.setAttribute('max-tokens', q.get('max_tokens') || '200');
  if (q.has('offline') ? q.get('offline') !== '0' : offline) chat.setAttribute('offline', '');
  const faults = faultsFromQuery(q.get('fault'));
  if (faults) chat.runtimeOptions = { faults };
  if (q.get('worker') === '0') chat.runtimeOptions = { ...chat.runtimeOptions, worker: false };
  if (q.get('snapshot') === '0') chat.runtimeOptions = { ...chat.runtimeOptions, pythonSnapshot: false };
  if (q.get('software_adapter') === '1') chat.runtimeOptions = { ...chat.runtimeOptions, allowSoftwareAdapter: true };
  const context = Number(q.get('context'));
  if (Number.isInteger(context) && context > 0) {
    const window = { context_window: context };
    const deployments = { [DEPLOYMENTS.LOCAL_WASM]: window, [DEPLOYMENTS.LOCAL_WEBGPU]: window };
    chat.runtimeOptions = { ...chat.runtimeOptions, settings: { deployments } };
  }
  container.append(chat);
  // For the e2e tests and benchmarks: the widget, every event it sent (t: ms since
  // navigation start), and whether it has booted.
  window.__chat = chat;
  const log = (window.__log = []);
  for (const type of ['llm-ready', 'llm-prefill', 'llm-delta', 'llm-switch', 'llm-restart', 'llm-done', 'llm-error', 'llm-offline']) {
    chat.addEventListener(type, (ev) => log.push({ type, detail: /** @type {CustomEvent} */ (ev).detail, t: performance.now() }));
  }
  chat.ready.then(
    () => (window.__ready = true),
    () => (window.__ready = true),
  );
  return chat;
}
