// @ts-check
// The offline demo (offline.html): the widget with `offline` set, and what the
// service worker keeps, where this load came from and whether the server is up.
//
// The panel asks the worker that controls the page at once (offlineStatus), so
// a reload with the server stopped says "active" before the runtime has loaded;
// the widget's llm-offline event (after it registered the worker, which also
// looks for a new build) updates it.
import { mountChat } from './demo_widget.js';
import { offlineStatus } from '../lib/offline.js';

const $ = (id) => document.getElementById(id);
const mb = (n) => `${Math.round(n / 1e6)} MB`;
const chat = mountChat($('chat'), { heading: 'Chat, offline-ready', offline: true });
const controlled = Boolean(navigator.serviceWorker && navigator.serviceWorker.controller);

$('from').textContent = controlled ? 'the offline cache (service worker)' : 'the network';

/** @param {any} s the service worker's status (lib/offline.js) */
function showWorker(s) {
  const kept = s.offline === 'full' ? 'kept offline: page, runtime and model' : s.offline === 'shell' ? 'page and runtime kept; the model is not' : '';
  // 'ready': the worker is active and holds this build's cache.
  const state = s.state === 'ready' ? 'active' : s.state;
  const what = kept ? `${state} — ${kept}` : state;
  $('sw').dataset.state = state;
  $('sw').textContent = s.error ? `${what} — ${s.error.code}: ${s.error.message}` : `${what} (build ${String(s.version || '').slice(0, 16)})`;
}

let registered = false; // the widget's report, once it came, is the newest
if (controlled) {
  offlineStatus().then((s) => {
    if (s && !registered) showWorker(s);
  });
} else {
  $('sw').textContent = 'not yet: registered once the chat has loaded and is idle';
}
chat.addEventListener('llm-ready', () => {
  if (!registered && !controlled) $('sw').textContent = 'soon: the page, runtime and model are kept once the chat is idle…';
});

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
  registered = true;
  showWorker(s);
  showQuota();
});
showEdge();
showQuota();
setInterval(showEdge, 5000);
