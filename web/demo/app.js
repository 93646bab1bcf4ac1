// @ts-check
// Wires the loader to the engine test page (engine.html): Pyodide and the
// wheels alone, no engine. The page's outcome is also left on window for the
// e2e tests: __python (what loadPython gave), __result, __progress, __done.
import { loadPython } from '../lib/loader.js';
import { showProgress } from './progress_view.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
/** @type {Record<string, unknown>} */
const result = (window.__result = { crossOriginIsolated: self.crossOriginIsolated });

function log(text) {
  $('log').textContent += `${(performance.now() / 1000).toFixed(2)}s ${text}\n`;
}

const progress = (window.__progress = []);

function onProgress(ev) {
  progress.push(ev);
  const what = showProgress(ev, $('stage'), $('bar'));
  if (ev.message || ev.stage === 'ready') log(`${what}${ev.message ? `: ${ev.message}` : ''}`);
}

async function probe() {
  // web/lib/probe.js (the device probe), when the bundle has it.
  const build = await (await fetch('./build.json')).json();
  if (!build.files || !build.files['lib/probe.js']) return null;
  const { probeDevice } = await import('../lib/probe.js');
  return probeDevice();
}

try {
  const [device, python] = await Promise.all([
    probe().catch((e) => ({ error: String(e) })),
    loadPython({
      base: './',
      onProgress,
      ep: q.get('ep') || undefined,
      threads: q.has('threads') ? Number(q.get('threads')) : undefined,
      module: q.has('module') ? q.get('module') || null : 'llm_runner_router.web',
    }),
  ]);
  window.__python = python;
  result.probe = device;
  result.build_id = python.build.build_id;
  result.pyodide = python.pyodide.version;
  result.python = python.pyodide.runPython('import sys; sys.version.split()[0]');
  result.core_codes = python.pyodide.runPython('from llm_runner_router.core import catalogue; len(catalogue.ALL)');
  result.timings = python.timings;
  $('probe').textContent = JSON.stringify(device, null, 1) ?? 'no probe.js in this bundle';
  $('python').textContent = JSON.stringify(result, null, 1);
} catch (e) {
  result.error = { code: e.code, message: e.message, url: e.url };
  $('stage').textContent = e.message;
  $('stage').className = 'error';
  log(`${e.code || 'error'}: ${e.message}`);
  console.error(e);
}
window.__done = true;
