// The floor: onnxruntime-web alone on the standard decoder step and the same weights as ours.
// Fixed prompt ids (tokenized once, at load, with the engine's tokenizer),
// greedy argmax, present -> past; nothing else in the loop.
import { loadTokenizer } from '/web/lib/engine/tokenizer.js';
import { argmax, TokenClock } from './harness.js';

let ort;
let session;
let promptIds;
let kvShape;

export async function load(config) {
  ort = await import(config.ortUrl); // the build the product loads for this engine (browser_decode.py: ort_bundle)
  ort.env.wasm.numThreads = config.threads;
  const tokenizer = loadTokenizer(await (await fetch(config.tokenizerUrl)).text());
  promptIds = tokenizer.encode(config.promptText);
  const started = performance.now();
  session = await ort.InferenceSession.create(config.graphUrl, {
    executionProviders: ['wasm'],
    externalData: [{ path: config.dataPath, data: config.dataUrl }],
  });
  kvShape = [1, config.kvHeads, 0, config.headDim];
  return {
    load_ms: performance.now() - started,
    version: ort.env.versions.web,
    threads: ort.env.wasm.numThreads,
    prompt_ids: promptIds,
  };
}

export async function run({ maxTokens }) {
  const clock = new TokenClock();
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const presentNames = pastNames.map((n) => n.replace('past_key_values.', 'present.'));
  // The graph's standard outputs only (ours also has new_key_values.*, which this loop does not use).
  const fetches = ['logits', ...presentNames];
  const feeds = {};
  for (const name of pastNames) feeds[name] = new ort.Tensor('float32', new Float32Array(0), kvShape);
  let ids = promptIds;
  let total = promptIds.length;
  const generated = [];
  for (let step = 0; step < maxTokens; step++) {
    feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
    feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]);
    const out = await session.run(feeds, fetches);
    const next = argmax(out.logits.data, out.logits.data.length - out.logits.dims.at(-1));
    generated.push(next);
    clock.tick();
    pastNames.forEach((name, i) => (feeds[name] = out[presentNames[i]]));
    ids = [next];
    total += 1;
  }
  return clock.sample(generated.length, { prompt_tokens: promptIds.length, token_ids: generated });
}
