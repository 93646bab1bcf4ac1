// @ts-check
// A memory snapshot of the page's Python, booted with the core imported, kept
// in Cache Storage per bundle and build. Booting Pyodide and importing the core
// took ~1.8 s on 2 cores, restoring the snapshot ~0.35 s (a one-off probe; the warm start
// it shortens is bench/browser_failover.py's). The first visit makes it, right after the imports (loader.js).
//
// Pyodide's snapshots are its private API (`_makeSnapshot`, `_loadSnapshot`,
// `makeMemorySnapshot`), tied to the exact Pyodide build: the key holds the
// bundle's build id, which changes with every vendored file and wheel, and a
// snapshot that fails to restore is deleted and Python boots the usual way.

const CACHE = 'llm-runner-router:python-snapshot';

/** @param {string} root the bundle's URL @param {string} buildId */
function key(root, buildId) {
  return `${root}python-snapshot/${encodeURIComponent(buildId)}`;
}

/** Cache Storage, or null where a page has none (not a secure context, storage blocked). */
async function open() {
  try {
    return globalThis.caches ? await globalThis.caches.open(CACHE) : null;
  } catch {
    return null;
  }
}

/**
 * The snapshot of this bundle's build, or null when there is none.
 * @param {string} root @param {string} buildId
 * @returns {Promise<Uint8Array | null>}
 */
export async function readSnapshot(root, buildId) {
  try {
    const hit = await (await open())?.match(key(root, buildId));
    return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
  } catch {
    return null;
  }
}

/**
 * Keep `bytes` as this build's snapshot, and drop the bundle's snapshots of other builds.
 * Never throws: without a snapshot the next load only boots the usual way.
 * @param {string} root @param {string} buildId @param {Uint8Array} bytes
 * @returns {Promise<boolean>} whether it was kept
 */
export async function saveSnapshot(root, buildId, bytes) {
  const cache = await open();
  if (!cache) return false;
  try {
    const mine = key(root, buildId);
    for (const request of await cache.keys()) {
      if (request.url.startsWith(`${root}python-snapshot/`) && request.url !== mine) await cache.delete(request);
    }
    await cache.put(mine, new Response(/** @type {BodyInit} */ (/** @type {unknown} */ (bytes)), { headers: { 'content-type': 'application/octet-stream' } }));
    return true;
  } catch (e) {
    console.warn('the Python snapshot was not kept (the next load boots Python the usual way)', e);
    return false;
  }
}

/** Forget this build's snapshot (it did not restore). @param {string} root @param {string} buildId */
export async function dropSnapshot(root, buildId) {
  try {
    await (await open())?.delete(key(root, buildId));
  } catch {
    // nothing kept, nothing to drop
  }
}
