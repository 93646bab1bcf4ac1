// @ts-check
// Offline use: registers the service worker (sw.js) that keeps the page, the
// runtime and the model in the browser, and reports what it kept.
//
//   const status = await enableOffline({ base: '/', models: [ENGINES.WASM] });
//   // {state: 'ready', offline: 'full' | 'shell', error?: {code, message}, version, model_bytes?}
//
// offline 'full': a reload answers on this device with no server at all.
// offline 'shell': the page and runtime are kept but the model did not fit the
// storage quota (error.code MEM_QUOTA_EXCEEDED): offline, the model cannot load.
// state 'failed' / 'unsupported': nothing is kept (error says why; a page on
// another origin than the bundle's cannot keep it: a service worker serves only
// its own origin's files).
//
//   const now = await offlineStatus();   // the worker controlling this page, at once; null if none
//   // {...the status above, worker: 'activated'}: a page reloaded offline shows it before the runtime loads

import { CODES } from './catalogue.js';
import { ENGINES } from './deployments.js';

const QUOTA = CODES.MEM_QUOTA_EXCEEDED;
const STATUS = 'llm-sw-status';

function until(worker, states) {
  return new Promise((resolve) => {
    const check = () => {
      if (states.includes(worker.state)) {
        worker.removeEventListener('statechange', check);
        resolve(worker.state);
      }
    };
    worker.addEventListener('statechange', check);
    check();
  });
}

function ask(worker, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), timeoutMs);
    channel.port1.onmessage = (ev) => {
      clearTimeout(timer);
      resolve(ev.data);
    };
    worker.postMessage({ type: STATUS }, [channel.port2]);
  });
}

/**
 * @param {{base?: string, models?: string[], onStatus?: (status: object) => void}} [options]
 *   models: the engines whose model files to keep (ENGINES: each engine has its own model variant)
 * @returns {Promise<object>} the service worker's status once it is active (or why it is not)
 */
export async function enableOffline({ base = '/', models = [ENGINES.WASM], onStatus } = {}) {
  const report = (status) => {
    if (onStatus) onStatus(status);
    return status;
  };
  if (!('serviceWorker' in navigator)) {
    return report({ state: 'unsupported', error: { code: QUOTA, message: 'this browser (or a page that is not https/localhost) has no service workers: nothing is kept offline' } });
  }
  const root = new URL(base.endsWith('/') ? base : `${base}/`, location.href);
  if (root.origin !== location.origin) {
    const message = `the bundle is served from ${root.origin}, not this page's origin (${location.origin}): a service worker keeps only its own origin's files, so nothing is kept offline (serve the page from ${root.origin} to keep it)`;
    return report({ state: 'unsupported', error: { code: CODES.CONFIG_ENVIRONMENT_MISMATCH, message } });
  }
  // Asking to persist keeps the browser from evicting the model under storage pressure.
  const persisted = navigator.storage && navigator.storage.persist ? await navigator.storage.persist().catch(() => false) : false;
  let failure = null;
  const onMessage = (ev) => {
    if (ev.data && ev.data.type === STATUS && ev.data.status.state === 'failed') failure = ev.data.status;
  };
  navigator.serviceWorker.addEventListener('message', onMessage);
  try {
    report({ state: 'installing', models });
    const script = new URL(`sw.js?models=${encodeURIComponent(models.join(','))}`, root);
    // A module worker: it imports the generated catalogue.js like the page does.
    const registration = await navigator.serviceWorker.register(script, { scope: root.pathname, updateViaCache: 'none', type: 'module' });
    // register() with an unchanged address does not look for a new build; update() does
    // (it fails offline, where the worker already active is the one to keep).
    await registration.update().catch(() => {});
    const worker = registration.installing || registration.waiting || registration.active;
    const state = await until(worker, ['activated', 'redundant']);
    if (state === 'redundant') {
      // Its install failed; the worker said why in a message (or a newer one replaced it).
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (failure || !registration.active) return report(failure || { state: 'failed', error: { code: CODES.NET_DOWNLOAD_FAILED, message: 'the service worker did not install' } });
    }
    const status = (await ask(registration.active)) || { state: 'ready' };
    return report({ ...status, persisted });
  } catch (e) {
    const code = e && e.name === 'QuotaExceededError' ? QUOTA : CODES.NET_DOWNLOAD_FAILED;
    return report({ state: 'failed', error: { code, message: String((e && e.message) || e) } });
  } finally {
    navigator.serviceWorker.removeEventListener('message', onMessage);
  }
}

/**
 * What the service worker controlling this page keeps, asked at once: no
 * registration, no network (a page reloaded offline knows at once that it came
 * from the cache). null when no worker controls the page.
 * @returns {Promise<object | null>}
 */
export async function offlineStatus(timeoutMs = 2000) {
  const controller = 'serviceWorker' in navigator ? navigator.serviceWorker.controller : null;
  if (!controller) return null;
  const status = (await ask(controller, timeoutMs)) || { state: 'ready' };
  return { ...status, worker: controller.state };
}
