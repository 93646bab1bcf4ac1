// Where the tests find the built browser model; LLM_WEB_MODEL_DIR overrides it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MODEL_DIR = process.env.LLM_WEB_MODEL_DIR ?? path.join(ROOT, 'dist/web/models/smollm2-135m-instruct');
export const PYTHON = path.join(ROOT, '.cache/model-venv/bin/python');

/**
 * Path of a built model file; throws (the test fails, it does not skip) when
 * the model has not been built, since these tests exist to check the real model.
 * @param {string} name relative to the model directory
 */
export function modelFile(name) {
  const file = path.join(MODEL_DIR, name);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: build the browser model first (dist/web/models), or set LLM_WEB_MODEL_DIR`);
  }
  return file;
}
