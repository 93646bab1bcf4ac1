// @ts-check
// Reading a fetch response's body with progress, shared by the loader (wheels)
// and the engine (model files).

/**
 * The response's body as one Uint8Array, filled as chunks arrive: collecting
 * chunks and concatenating them would hold a 100 MB model file twice.
 * Errors of the stream propagate; callers give them their codes.
 *
 * @param {Response} response
 * @param {{knownSize?: number, onChunk?: (loaded: number, total: number) => void}} [options]
 * @returns {Promise<Uint8Array>}
 */
export async function readBody(response, { knownSize = 0, onChunk = () => {} } = {}) {
  const total = knownSize || Number(response.headers.get('content-length')) || 0;
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  let buffer = new Uint8Array(total || 1 << 16);
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > buffer.length) {
      const grown = new Uint8Array(Math.max(buffer.length * 2, loaded + value.length));
      grown.set(buffer.subarray(0, loaded));
      buffer = grown;
    }
    buffer.set(value, loaded);
    loaded += value.length;
    onChunk(loaded, Math.max(total, loaded));
  }
  return buffer.subarray(0, loaded);
}
