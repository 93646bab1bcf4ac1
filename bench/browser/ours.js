// Ours: the product's engine (web/lib/engine/engine.js) on onnxruntime-web,
// the model as the bundle ships it (dist/web/models/...: the WASM variant's
// packed weights unpacked in the page, or the WebGPU variant).
import { TokenClock } from './harness.js';

let ort;
let engine;

export async function load(config) {
  ort = await import(config.ortUrl); // the build the product loads for this engine (browser_decode.py: ort_bundle)
  const { loadEngine } = await import(config.engineUrl);
  const started = performance.now();
  engine = await loadEngine({
    ort,
    ep: config.ep,
    modelBase: config.modelBase,
    threads: config.threads,
    prepack: config.prepack !== false,
  });
  const info = engine.info || {};
  return {
    load_ms: performance.now() - started,
    version: ort.env.versions.web,
    ep: info.ep || config.ep,
    threads: info.threads ?? ort.env.wasm.numThreads,
    engine_load_ms: info.loadMs,
    build_id: info.build_id,
  };
}

export async function run({ maxTokens, messages }) {
  const clock = new TokenClock();
  const generated = [];
  let final = null;
  for await (const chunk of engine.stream({ messages, maxTokens, temperature: 0 })) {
    if (chunk.finishReason !== undefined && chunk.finishReason !== null) {
      final = chunk;
    } else {
      generated.push(chunk.tokenId);
      clock.tick();
    }
  }
  const usage = (final && final.usage) || {};
  const timings = (final && final.timings) || null;
  return clock.sample(usage.completionTokens ?? generated.length, {
    prompt_tokens: usage.promptTokens ?? null,
    token_ids: generated,
    finish_reason: final && final.finishReason,
    self_reported: timings && { decode_tok_s: timings.decodeTokS, prefill_ms: timings.prefillMs },
  });
}
