// @ts-check
// The local-model page (local.html): one prompt, streamed from the engine the
// core picks. Its state is also left on window for the e2e tests:
// __runtime (PageRuntime), __progress, __ready, __error.
import { createRuntime } from '../lib/runtime.js';
import { showProgress } from './progress_view.js';

/** @type {(id: string) => any} the page's own elements, by id */
const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const progress = (window.__progress = []);
let controller = null;

function onProgress(ev) {
  progress.push(ev);
  showProgress(ev, $('stage'), $('bar'));
}

async function ask(event) {
  event.preventDefault();
  controller = new AbortController();
  $('answer').textContent = '';
  $('send').disabled = true;
  $('stop').disabled = false;
  const done = await window.__runtime.chat([{ role: 'user', content: $('prompt').value }], {
    signal: controller.signal,
    maxTokens: 128,
    onToken: (text) => {
      $('answer').textContent += text;
    },
  });
  $('meta').textContent = done.error
    ? `${done.error.code}: ${done.error.message}`
    : `${done.deployment} · ${done.finish_reason}${done.complete ? '' : ' (incomplete)'}`;
  $('send').disabled = false;
  $('stop').disabled = true;
}

try {
  const engines = q.has('engines') ? q.get('engines').split(',').filter((e) => e && e !== 'none') : undefined;
  // edge=1: this server; edge=URL: another one.
  const edgeUrl = q.get('edge') === '1' ? location.origin : q.get('edge') || undefined;
  const threads = q.get('threads') ? Number(q.get('threads')) : undefined;
  const prepack = q.get('prepack') !== '0';
  // software_adapter=1: WebGPU on a software adapter (SwiftShader) may answer (left out by default).
  const allowSoftwareAdapter = q.get('software_adapter') === '1';
  // worker=0: the engine on the page's thread (the baseline bench/page_responsiveness.py compares).
  const worker = q.get('worker') !== '0';
  window.__runtime = await createRuntime({ base: './', onProgress, engines, threads, prepack, edgeUrl, allowSoftwareAdapter, worker });
  $('send').disabled = false;
  $('ask').addEventListener('submit', ask);
  $('stop').addEventListener('click', () => controller && controller.abort());
} catch (e) {
  window.__error = { code: e.code, message: String(e.message || e) };
  $('stage').textContent = `${e.code || 'error'}: ${e.message}`;
  $('stage').className = 'error';
  console.error(e);
}
window.__ready = true;
