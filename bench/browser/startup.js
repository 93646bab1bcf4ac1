// The product's start, timed from navigation (performance.now() counts from it):
// Pyodide + the core and llm_web wheels (loader.js loadPython) and the engine
// with the model (engine.js loadEngine), side by side as a page would start
// them, then the first token of a short greedy answer.
//
// Query: base (the bundle, e.g. /dist/web/), loader, engine, ort (module URLs;
// loader empty: engine only), modelBase, ep, threads. The outcome is left on
// window.startupResult ({error} on failure).

const q = new URLSearchParams(location.search);
const at = () => performance.now();

async function timed(promise) {
  const started = at();
  const value = await promise;
  return { value, started, ms: at() - started, end: at() };
}

async function main() {
  const threads = Number(q.get('threads') || 2);
  const ep = q.get('ep') || 'wasm';
  const moduleStart = at();
  const runtime = q.get('loader')
    ? timed(import(q.get('loader')).then(({ loadPython }) => loadPython({ base: q.get('base'), ep, threads })))
    : null;
  const engine = timed(
    Promise.all([import(q.get('ort')), import(q.get('engine'))]).then(([ort, { loadEngine }]) =>
      loadEngine({ ort, ep, threads, modelBase: q.get('modelBase') }),
    ),
  );
  const [rt, en] = await Promise.all([runtime, engine]);
  const ready = at();
  let firstToken = null;
  for await (const chunk of en.value.stream({ messages: [{ role: 'user', content: 'Hello!' }], maxTokens: 4, temperature: 0 })) {
    if (firstToken === null) firstToken = at();
  }
  return {
    module_start_ms: moduleStart,
    runtime_ms: rt && rt.ms,
    runtime_ready_ms: rt && rt.end,
    pyodide_ms: rt && rt.value.timings && rt.value.timings.pyodide_ms,
    pyodide_version: rt && rt.value.pyodide.version,
    engine_ms: en.ms,
    engine_ready_ms: en.end,
    ready_ms: ready,
    first_token_ms: firstToken,
    engine_info: en.value.info || null,
    what: rt ? 'pyodide+core+engine' : 'engine',
  };
}

main()
  .then((result) => (window.startupResult = result))
  .catch((e) => {
    console.error(e);
    window.startupResult = { error: String(e && e.stack ? e.stack : e).split('\n').slice(0, 4).join(' | ') };
  });
