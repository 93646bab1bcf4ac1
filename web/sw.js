// @ts-check
// The offline service worker: keeps the page, Pyodide, onnxruntime-web, the
// wheels and the browser model in one Cache Storage cache per build, so that
// with the edge server gone a reload still answers on the local engine.
//
//   navigator.serviceWorker.register('/sw.js?models=wasm', { scope: '/', type: 'module' })   (offline.js does this)
//
// - install: precaches every file build.json lists, then the model files of
//   the variants named in `?models=` (the engines the page will run). When the
//   storage quota cannot take the model it is left out (the page and runtime
//   are still cached) and the status says so with MEM_QUOTA_EXCEEDED.
// - activate: deletes the caches of older builds, takes over open pages.
// - fetch: the API (/v1, /api, /health, /metrics) always goes to the network;
//   everything else is answered from the cache, else fetched and kept.
//
// VERSION is written by build/web_bundle.py (the bundle's and the model's
// build ids): a new build changes these bytes, the browser installs the new
// worker, and its activate step replaces the old cache.

// Served at the bundle's root, not from lib/ with the modules it imports: a
// service worker controls only the pages at or below its own folder.
import { CODES } from './lib/catalogue.js';
import { ENGINES } from './lib/deployments.js';

const VERSION = '__LLM_ROUTER_VERSION__';
const PREFIX = 'llm-router-';
const CACHE = `${PREFIX}${VERSION}`;
const STATUS_KEY = '__llm_router_sw_status__';
const MODEL_DIR = 'models/smollm2-135m-instruct/';
const API = new Set(['v1', 'api', 'health', 'metrics']);
const QUOTA = CODES.MEM_QUOTA_EXCEEDED;
const DOWNLOAD = CODES.NET_DOWNLOAD_FAILED;
// Room kept free beyond the files themselves (Cache Storage has per-entry overhead).
const HEADROOM = 1.1;

// The worker's own global scope, typed (tsconfig.sw.json gives the worker's library).
const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

const SCOPE = new URL(worker.registration.scope);
const MODELS = (new URL(worker.location.href).searchParams.get('models') ?? ENGINES.WASM).split(',').filter(Boolean);

const url = (rel) => new URL(rel, SCOPE).href;

async function saveStatus(cache, status) {
  const body = JSON.stringify({ version: VERSION, models: MODELS, ...status, at: Date.now() });
  await cache.put(url(STATUS_KEY), new Response(body, { headers: { 'content-type': 'application/json' } }));
  return JSON.parse(body);
}

async function readStatus() {
  const hit = await (await caches.open(CACHE)).match(url(STATUS_KEY));
  return hit ? hit.json() : { version: VERSION, models: MODELS, state: 'installing' };
}

async function listJson(rel) {
  const response = await fetch(url(rel), { cache: 'no-store' });
  if (!response.ok) throw Object.assign(new Error(`${rel}: HTTP ${response.status}`), { code: DOWNLOAD });
  return response.json();
}

/** Files and their sizes: the bundle's (build.json) and the chosen model variants'. */
async function precacheList() {
  const build = await listJson('build.json');
  const shell = Object.entries(build.files).map(([rel, f]) => [rel, f.bytes]);
  shell.push(['build.json', 0], ['', 0]);
  const model = [];
  if (MODELS.length) {
    const manifest = await listJson(`${MODEL_DIR}manifest.json`);
    model.push([`${MODEL_DIR}manifest.json`, 0]);
    for (const [rel, f] of Object.entries(manifest.files)) {
      const variant = rel.split('/')[0];
      if (!(variant in manifest.variants) || MODELS.includes(variant)) model.push([`${MODEL_DIR}${rel}`, f.bytes]);
    }
  }
  return { shell, model };
}

function isQuotaError(e) {
  return e && (e.name === 'QuotaExceededError' || /quota/i.test(String(e.message)));
}

async function addAll(cache, files) {
  // One at a time: the model's files are large, and a failure names its file.
  for (const [rel] of files) {
    try {
      await cache.add(url(rel));
    } catch (e) {
      e.file = rel;
      throw e;
    }
  }
}

async function install() {
  const cache = await caches.open(CACHE);
  const { shell, model } = await precacheList();
  await addAll(cache, shell);
  const need = model.reduce((sum, [, bytes]) => sum + bytes, 0) * HEADROOM;
  const estimate = worker.navigator.storage?.estimate ? await worker.navigator.storage.estimate() : {};
  const free = estimate.quota != null ? estimate.quota - (estimate.usage || 0) : Infinity;
  if (need > free) {
    const message = `the model (${Math.round(need / 1e6)} MB) does not fit the storage quota (${Math.round(free / 1e6)} MB free): it is not kept offline`;
    return saveStatus(cache, { state: 'ready', offline: 'shell', error: { code: QUOTA, message } });
  }
  try {
    await addAll(cache, model);
  } catch (e) {
    if (!isQuotaError(e)) throw e;
    await Promise.all(model.map(([rel]) => cache.delete(url(rel))));
    const message = `the storage quota ran out while keeping ${e.file}: the model is not kept offline`;
    return saveStatus(cache, { state: 'ready', offline: 'shell', error: { code: QUOTA, message } });
  }
  const bytes = model.reduce((sum, [, b]) => sum + b, 0);
  return saveStatus(cache, { state: 'ready', offline: 'full', model_bytes: bytes });
}

worker.addEventListener('install', (event) => {
  event.waitUntil(
    install().then(
      () => worker.skipWaiting(),
      async (e) => {
        // A failed install leaves no half cache behind; the page learns why.
        await caches.delete(CACHE);
        const code = isQuotaError(e) ? QUOTA : e.code || DOWNLOAD;
        broadcast({ type: 'llm-sw-status', status: { version: VERSION, state: 'failed', error: { code, message: `${e.file || ''} ${e.message || e}`.trim() } } });
        throw e;
      },
    ),
  );
});

worker.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
      await worker.clients.claim();
      broadcast({ type: 'llm-sw-status', status: await readStatus() });
    })(),
  );
});

async function broadcast(message) {
  for (const client of await worker.clients.matchAll({ includeUncontrolled: true })) client.postMessage(message);
}

worker.addEventListener('message', (event) => {
  if (event.data?.type === 'llm-sw-status' && event.ports[0]) {
    event.waitUntil(readStatus().then((status) => event.ports[0].postMessage(status)));
  }
});

function offline(rel, error) {
  const body = { error: { code: DOWNLOAD, message: `offline, and ${rel || 'the page'} is not in the offline cache: ${error.message || error}` } };
  return new Response(JSON.stringify(body), { status: 503, headers: { 'content-type': 'application/json' } });
}

async function respond(request, rel) {
  const cache = await caches.open(CACHE);
  const key = url(rel);
  const hit = await cache.match(key, { ignoreSearch: true });
  if (hit) return hit;
  let response;
  try {
    response = await fetch(request);
  } catch (e) {
    return offline(rel, e);
  }
  if (response.status === 200 && !request.headers.has('range')) {
    // Kept for next time (a model variant not precached, say); a full quota only means it is not kept.
    cache.put(key, response.clone()).catch(() => {});
  }
  return response;
}

worker.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const target = new URL(request.url);
  if (target.origin !== SCOPE.origin || !target.pathname.startsWith(SCOPE.pathname)) return;
  const rel = target.pathname.slice(SCOPE.pathname.length);
  if (API.has(rel.split('/')[0]) || rel === 'sw.js' || rel === STATUS_KEY) return;
  event.respondWith(respond(request, rel));
});
