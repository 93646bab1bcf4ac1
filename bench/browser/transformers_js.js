// transformers.js (@huggingface/transformers) on the same float32 ONNX graph and
// weights, offline: a local model folder, its own onnxruntime-web's wasm served
// from node_modules (the default is a CDN), the weights as session external data.
import { AutoModelForCausalLM, AutoTokenizer, env } from '/node_modules/@huggingface/transformers/dist/transformers.js';
import { TokenClock } from './harness.js';

let model;
let tokenizer;
let promptIds;

export async function load(config) {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = config.localModelPath;
  env.useBrowserCache = false;
  env.useWasmCache = false;
  env.backends.onnx.wasm.wasmPaths = config.wasmPaths;
  env.backends.onnx.wasm.numThreads = config.threads;
  const started = performance.now();
  tokenizer = await AutoTokenizer.from_pretrained(config.modelId);
  model = await AutoModelForCausalLM.from_pretrained(config.modelId, {
    dtype: 'fp32',
    device: 'wasm',
    session_options: { externalData: [{ path: config.dataPath, data: config.dataUrl }] },
  });
  promptIds = Array.from(tokenizer(config.promptText, { add_special_tokens: false }).input_ids.data, Number);
  return {
    load_ms: performance.now() - started,
    version: env.version,
    ort_version: env.backends.onnx.versions && env.backends.onnx.versions.web,
    threads: env.backends.onnx.wasm.numThreads,
    prompt_ids: promptIds,
  };
}

export async function run({ maxTokens, promptText }) {
  const clock = new TokenClock();
  const inputs = tokenizer(promptText, { add_special_tokens: false });
  const generated = [];
  let prompt = true;
  const streamer = {
    put(value) {
      if (prompt) {
        prompt = false; // generate() hands the prompt to the streamer first
        return;
      }
      generated.push(Number(value[0][0]));
      clock.tick();
    },
    end() {},
  };
  await model.generate({
    ...inputs,
    max_new_tokens: maxTokens,
    min_new_tokens: maxTokens, // EOS masked until maxTokens: every run generates the same length
    do_sample: false,
    streamer,
  });
  return clock.sample(generated.length, { prompt_tokens: inputs.input_ids.dims.at(-1), token_ids: generated });
}
