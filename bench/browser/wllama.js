// wllama (@wllama/wllama, llama.cpp in WebAssembly) on the same Q4_1 GGUF, offline:
// its wasm from node_modules, the CDN compat fallback off, CPU only.
import { Wllama } from '/node_modules/@wllama/wllama/esm/index.js';
import { TokenClock } from './harness.js';

let wllama;

const quiet = { debug() {}, log() {}, warn: console.warn, error: console.error };

export async function load(config) {
  wllama = new Wllama({ default: config.wasmUrl }, { suppressNativeLog: true, logger: quiet });
  wllama.setCompat(null);
  const started = performance.now();
  const response = await fetch(config.ggufUrl);
  if (!response.ok) throw new Error(`${config.ggufUrl}: HTTP ${response.status}`);
  const blob = await response.blob();
  await wllama.loadModel([blob], { n_threads: config.threads, n_gpu_layers: 0, n_ctx: 1024, seed: 0 });
  return {
    load_ms: performance.now() - started,
    version: config.version,
    libllama: Wllama.getLibllamaVersion(),
    threads: wllama.getNumThreads(),
    multithread: wllama.isMultithread(),
  };
}

export async function run({ maxTokens, promptText }) {
  const clock = new TokenClock();
  let usage = null;
  let timings = null;
  let text = '';
  await wllama.createCompletion({
    prompt: promptText,
    max_tokens: maxTokens,
    temperature: 0,
    ignore_eos: true,
    cache_prompt: false, // llama.cpp's server would otherwise reuse the last request's KV cache and skip the prefill
    stream: true,
    onData: (chunk) => {
      const piece = chunk.choices && chunk.choices[0] ? chunk.choices[0].text : '';
      if (piece) {
        text += piece;
        clock.tick();
      }
      if (chunk.usage) usage = chunk.usage;
      if (chunk.timings) timings = chunk.timings;
    },
  });
  return clock.sample(usage ? usage.completion_tokens : clock.events, {
    prompt_tokens: usage ? usage.prompt_tokens : null,
    text,
    self_reported: timings && { decode_tok_s: timings.predicted_per_second, prefill_ms: timings.prompt_ms },
  });
}
