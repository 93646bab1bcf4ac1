// @ts-check
// The live routing page (routing.html): the widget, with the router's plan,
// breakers and moves shown beside it as they happen.
import { CATALOGUE } from '../lib/catalogue.js';
import { DEPLOYMENTS, ENGINES, localDeployment } from '../lib/deployments.js';
import { engineLabel } from '../lib/llm_chat.js';
import { faultsFromQuery } from '../lib/faults.js';
import { mountChat } from './demo_widget.js';

/** @type {(id: string) => any} the page's own elements, by id */
const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const chat = mountChat($('chat'), { heading: 'Chat, routed' });
const events = (window.__events = []);

function row(cells, cls = []) {
  const tr = document.createElement('tr');
  cells.forEach((text, i) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls[i]) td.className = cls[i];
    tr.append(td);
  });
  return tr;
}

function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('events').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function showPlan(runtime) {
  const rows = [];
  const plan = runtime.plan;
  for (const ep of plan.engines) {
    const err = runtime.loadErrors[ep];
    const state = err ? `failed to load: ${err.code}` : ep === runtime.engine ? 'loaded, answers first' : 'usable (loads when needed)';
    rows.push(row([engineLabel(localDeployment(ep)), state]));
  }
  for (const [ep, err] of Object.entries(plan.excluded || {})) rows.push(row([engineLabel(localDeployment(ep)), `not usable: ${err.code} ${err.message}`]));
  rows.push(row([engineLabel(DEPLOYMENTS.EDGE), runtime.edgeUrl ? `fallback: ${runtime.edgeUrl}` : 'none configured']));
  $('plan').replaceChildren(...rows);
}

function showBreakers(runtime) {
  const deployments = runtime.status().router.deployments;
  $('breakers').replaceChildren(
    ...Object.entries(deployments).map(([name, d]) =>
      row([name, d.breaker, d.success_rate == null ? '—' : `${Math.round(d.success_rate * 100)}%`], ['', `state-${d.breaker}`]),
    ),
  );
}

async function showEdge(runtime) {
  if (!runtime.edgeUrl) return;
  try {
    const status = await (await fetch(`${runtime.edgeUrl.replace(/\/$/, '')}/api/status`, { cache: 'no-store' })).json();
    $('edge-server').replaceChildren(
      ...Object.entries(status.deployments || {}).map(([name, d]) => row([name, d.breaker, String(d.inflight)], ['', `state-${d.breaker}`])),
    );
  } catch (e) {
    $('edge-server').replaceChildren(row(['unreachable', String(e.message || e)]));
  }
}

// The failures a device has, offered in the fault form (their codes from the generated catalogue).
for (const name of ['WEBGPU_DEVICE_LOST', 'WEBGPU_OUT_OF_MEMORY', 'WASM_OUT_OF_MEMORY', 'ONNX_RUN_FAILED']) {
  const { code, summary } = CATALOGUE[name];
  const option = new Option(code, code);
  option.title = summary;
  $('code').append(option);
}
const stallOption = new Option('hangs (no error, no token)', 'stall');
stallOption.title = "The engine stops answering; the router's stall limit moves the answer on.";
$('code').append(stallOption);

const fault = q.get('fault');
$('fault-now').textContent = fault ? `Now: ${fault} (the local engine fails on every answer).` : 'Now: no faults.';
// The form shows the fault in force (the first one the address names), not the form's defaults.
const [active] = Object.values(faultsFromQuery(fault) || {});
if (active && active.times !== 0) {
  $('after').value = String(active.after);
  if (active.stall) $('code').value = 'stall';
  else if (active.code) {
    if (![...$('code').options].some((o) => o.value === active.code)) $('code').append(new Option(active.code, active.code));
    $('code').value = active.code;
  }
}
$('fault').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const ep = (chat.runtime && chat.runtime.engine) || ENGINES.WASM;
  q.set('fault', [ep, $('after').value, $('code').value].filter(Boolean).join(':'));
  location.search = q.toString();
});
$('heal').addEventListener('click', () => {
  q.delete('fault');
  location.search = q.toString();
});

chat.addEventListener('llm-ready', () => {
  const runtime = chat.runtime;
  showPlan(runtime);
  showBreakers(runtime);
  showEdge(runtime);
  log(runtime.engine ? `ready on ${engineLabel(localDeployment(runtime.engine))}` : 'no local engine: the edge server answers');
  setInterval(() => {
    showBreakers(runtime);
    showEdge(runtime);
  }, 3000);
});
chat.addEventListener('llm-error', (ev) => {
  const e = /** @type {CustomEvent} */ (ev).detail;
  log(`error ${e.code}: ${e.message || e.summary}`);
});
for (const type of ['llm-switch', 'llm-restart']) {
  chat.addEventListener(type, (ev) => {
    const e = /** @type {CustomEvent} */ (ev).detail;
    events.push(e);
    log(`${e.type}: ${engineLabel(e.from)} → ${engineLabel(e.to)} (${e.reason})`);
    showBreakers(chat.runtime);
  });
}
chat.addEventListener('llm-done', (ev) => {
  const d = /** @type {CustomEvent} */ (ev).detail;
  events.push(d);
  log(`done on ${engineLabel(d.deployment)}: ${d.complete ? 'complete' : 'incomplete'}${d.error ? ` ${d.error.code}` : ''} (${d.attempts || 0} attempts)`);
  showBreakers(chat.runtime);
  showEdge(chat.runtime);
});
