// @ts-check
// The offline demo (offline.html): the widget with `offline` set, and what the
// service worker keeps, where this load came from and whether the server is up.
import { mountChat } from './demo_widget.js';

const $ = (id) => document.getElementById(id);
const mb = (n) => `${Math.round(n / 1e6)} MB`;
const chat = mountChat($('chat'), { heading: 'Chat, offline-ready', offline: true });

$('from').textContent = navigator.serviceWorker && navigator.serviceWorker.controller ? 'the offline cache (service worker)' : 'the network';

async function showEdge() {
  try {
    const r = await fetch('/health', { cache: 'no-store' });
    $('edge-server').textContent = r.ok ? 'up' : `answers HTTP ${r.status}`;
  } catch {
    $('edge-server').textContent = 'unreachable: answers come from this device';
  }
}

async function showQuota() {
  const e = navigator.storage && navigator.storage.estimate ? await navigator.storage.estimate() : {};
  $('quota').textContent = e.quota ? `${mb(e.usage || 0)} / ${mb(e.quota)}` : 'unknown';
}

chat.addEventListener('llm-offline', (ev) => {
  const s = /** @type {CustomEvent} */ (ev).detail;
  window.__offline = s;
  const what = s.offline === 'full' ? 'kept offline: page, runtime and model' : s.offline === 'shell' ? 'page and runtime kept; the model is not' : s.state;
  $('sw').textContent = s.error ? `${what} — ${s.error.code}: ${s.error.message}` : `${what} (build ${String(s.version || '').slice(0, 16)})`;
  showQuota();
});
showEdge();
showQuota();
setInterval(showEdge, 5000);
