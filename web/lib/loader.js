// @ts-check
// Boots the page's Python: Pyodide from the bundle, the wheels that build.json
// lists (the core and the page's adapters), then `import llm_runner_router.web`.
// runtime.js builds the page's runtime on it; the engine test page uses it bare.
//
//   const { pyodide, py, build } = await loadPython({ base: '/', onProgress });
//
// onProgress gets {stage, loaded, total, file?, message?}; stage is one of
// 'pyodide' | 'wheel' | 'model' | 'session' | 'ready' ('model' and 'session'
// are the engine's: web/lib/engine/engine.js reports them through the same
// callback). `ep` and `threads` are passed through for the engine.
//
// Failures are Errors with a catalogue code in `.code` (and `.url` where a
// fetch failed): WASM_LOAD_FAILED when Pyodide does not load, CORE_INIT_FAILED
// (init failed) when build.json, a wheel or llm_web does not.

import { readBody } from './read_body.js';
import { dropSnapshot, readSnapshot, saveSnapshot } from './python_snapshot.js';

import { CODES } from './catalogue.js';

export { CODES };

export class PythonLoadError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{url?: string, cause?: unknown}} [options]
   */
  constructor(code, message, { url, cause } = {}) {
    super(`[${code}] ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'PythonLoadError';
    this.code = code;
    if (url) this.url = url;
  }

  toJSON() {
    return { code: this.code, message: this.message, url: this.url };
  }
}

// One line: the first of a JS message, the last of a Python traceback (the exception itself).
function describe(e) {
  const lines = String(e && e.message ? e.message : e).split('\n').filter((line) => line.trim());
  const line = (lines[0] || '').startsWith('Traceback') ? lines[lines.length - 1] : lines[0] || '';
  return line.slice(0, 500);
}

/** The response's body as bytes, reporting progress as chunks arrive; a coded error names the URL. */
async function fetchBytes(url, code, onChunk = () => {}) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new PythonLoadError(code, `could not fetch ${url}: ${describe(e)}`, { url, cause: e });
  }
  if (!response.ok) throw new PythonLoadError(code, `could not fetch ${url}: HTTP ${response.status}`, { url });
  try {
    return await readBody(response, { onChunk });
  } catch (e) {
    throw new PythonLoadError(code, `download of ${url} failed: ${describe(e)}`, { url, cause: e });
  }
}

/**
 * loadPyodide, failing when its WebAssembly does not load. Pyodide 314 does not
 * reject then: Emscripten prints "wasm instantiation failed!" and the fetch's
 * rejection goes unhandled, so loadPyodide would wait forever.
 */
async function bootPyodide(indexURL, options) {
  let fail;
  const failed = new Promise((_, reject) => {
    fail = reject;
  });
  const onRejection = (ev) => {
    const reason = ev.reason;
    if (String((reason && reason.stack) || reason).includes(indexURL)) fail(reason);
  };
  let booting = true;
  const stderr = options.stderr || ((line) => console.warn(line));
  const watch = (line) => {
    if (booting && /wasm instantiation failed|^Aborted\(/.test(line)) fail(new Error(line));
    stderr(line);
  };
  globalThis.addEventListener('unhandledrejection', onRejection);
  try {
    const { loadPyodide } = await import(`${indexURL}pyodide.mjs`);
    return await Promise.race([loadPyodide({ ...options, indexURL, stderr: watch }), failed]);
  } finally {
    booting = false;
    globalThis.removeEventListener('unhandledrejection', onRejection);
  }
}

/**
 * @param {{base?: string, onProgress?: (ev: object) => void, ep?: string, threads?: number,
 *          module?: string | null, imports?: string[], snapshot?: boolean, pyodideOptions?: object}} [options]
 *   module: the Python module to import and return as `py` (default 'llm_runner_router.web'; null: none).
 *   imports: more modules to import while booting (they are in the snapshot).
 *   snapshot: restore Python from this build's memory snapshot, or make one (python_snapshot.js; default true).
 * @returns {Promise<{pyodide: object, py: object | null, build: object, ep?: string, threads?: number, timings: object}>}
 */
export async function loadPython({ base = '/', onProgress, ep, threads, module = 'llm_runner_router.web', imports = [], snapshot = true, pyodideOptions = {} } = {}) {
  const report = (ev) => {
    try {
      if (onProgress) onProgress(ev);
    } catch (e) {
      console.warn('loadPython: onProgress threw', e);
    }
  };
  const started = performance.now();
  const root = new URL(base.endsWith('/') ? base : `${base}/`, location.href).href;
  const indexURL = `${root}vendor/pyodide/`;

  report({ stage: 'pyodide', loaded: 0, total: 1, message: 'loading Pyodide' });
  const buildURL = `${root}build.json`;
  let buildBytes;
  try {
    buildBytes = await fetchBytes(buildURL, CODES.CORE_INIT_FAILED);
  } catch (e) {
    // The usual cause: `base` is not the bundle (e.g. left at the npm package's own folder).
    const hint = 'base must name the browser bundle: the folder with build.json, vendor/ and wheels/ (`llm-runner-router web-bundle` makes one)';
    const said = (e instanceof Error ? e.message : String(e)).replace(/^\[[A-Z0-9_]+\] /, '');
    throw new PythonLoadError(CODES.CORE_INIT_FAILED, `${said}; ${hint}`, { url: buildURL, cause: e });
  }
  const buildText = new TextDecoder().decode(buildBytes);
  let build;
  try {
    build = JSON.parse(buildText);
  } catch (e) {
    throw new PythonLoadError(CODES.CORE_INIT_FAILED, `${buildURL} is not JSON: ${describe(e)}`, { url: buildURL, cause: e });
  }

  const options = { env: { HOME: '/home/pyodide' }, ...pyodideOptions };
  const buildId = snapshot && typeof build.build_id === 'string' ? build.build_id : null;
  const saved = buildId ? await readSnapshot(root, buildId) : null;
  /** 'restored': from this build's snapshot; 'made': booted, and a snapshot is made below; 'off' */
  let snapshotState = buildId ? 'made' : 'off';
  let pyodide = null;
  if (saved) {
    try {
      pyodide = await bootPyodide(indexURL, { ...options, _loadSnapshot: saved });
      snapshotState = 'restored';
    } catch (e) {
      console.warn('the Python snapshot did not restore: it is dropped, and Python boots the usual way', e);
      await dropSnapshot(root, buildId);
    }
  }
  try {
    pyodide ??= await bootPyodide(indexURL, { ...options, ...(buildId ? { _makeSnapshot: true } : {}) });
  } catch (e) {
    throw new PythonLoadError(CODES.WASM_LOAD_FAILED, `Pyodide failed to load from ${indexURL}: ${describe(e)}`, { url: indexURL, cause: e });
  }
  const pyodideMs = performance.now() - started;
  const how = snapshotState === 'restored' ? 'restored from its snapshot' : 'booted';
  report({ stage: 'pyodide', loaded: 1, total: 1, message: `Pyodide ${pyodide.version} ${how} in ${Math.round(pyodideMs)} ms` });

  const wheels = build.wheels || [];
  const total = wheels.reduce((sum, w) => sum + ((build.files && build.files[w] && build.files[w].bytes) || 0), 0);
  const site = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
  let loaded = 0;
  // Restored or not, the wheels' files are installed: a snapshot holds Python's memory (the
  // modules already imported), not the file system, and a later import reads the files.
  for (const wheel of wheels) {
    const url = `${root}${wheel}`;
    const bytes = await fetchBytes(url, CODES.CORE_INIT_FAILED, (n) => report({ stage: 'wheel', loaded: loaded + n, total, file: wheel }));
    try {
      pyodide.unpackArchive(bytes, 'wheel', { extractDir: site });
    } catch (e) {
      throw new PythonLoadError(CODES.CORE_INIT_FAILED, `could not install ${url}: ${describe(e)}`, { url, cause: e });
    }
    loaded += bytes.length;
    report({ stage: 'wheel', loaded, total, file: wheel });
  }
  pyodide.runPython('import importlib; importlib.invalidate_caches()');

  let py = null;
  for (const name of [...imports, ...(module ? [module] : [])]) {
    try {
      const imported = pyodide.pyimport(name);
      if (name === module) py = imported;
      else imported.destroy();
    } catch (e) {
      if (snapshotState === 'restored') {
        console.warn(`import ${name} failed in Python restored from its snapshot: it is dropped, and Python boots afresh`, e);
        await dropSnapshot(root, /** @type {string} */ (buildId));
        return loadPython({ base, onProgress, ep, threads, module, imports, snapshot: false, pyodideOptions });
      }
      throw new PythonLoadError(CODES.CORE_INIT_FAILED, `import ${name} failed: ${describe(e)}`, { cause: e });
    }
  }
  if (snapshotState === 'made') {
    // Now, before Python holds any of the page's objects (a snapshot cannot hold them).
    // Keeping it (~30 MB into Cache Storage) goes on in the background.
    try {
      saveSnapshot(root, /** @type {string} */ (buildId), pyodide.makeMemorySnapshot());
    } catch (e) {
      snapshotState = 'off';
      console.warn('no Python snapshot could be made (the next load boots Python the usual way)', e);
    }
  }
  const timings = { pyodide_ms: pyodideMs, total_ms: performance.now() - started, snapshot: snapshotState };
  report({ stage: 'ready', loaded: 1, total: 1, message: `Python ready in ${Math.round(timings.total_ms)} ms` });
  return { pyodide, py, build, ep, threads, timings };
}
