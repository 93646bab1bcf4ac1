// probe.js: in Node (no WebGPU: the real answer there), and with stand-ins
// for navigator.gpu, since there is no WebGPU adapter to ask in Node.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { probeDevice } from '../../web/lib/probe.js';

const roundTrip = (x) => JSON.parse(JSON.stringify(x));

test('in Node: no WebGPU (LLM_WEBGPU_001_E), WASM with SIMD, and a JSON-able answer', async () => {
  const probe = await probeDevice();
  assert.deepEqual(roundTrip(probe), probe);
  assert.equal(probe.webgpu.available, false);
  assert.equal(probe.webgpu.error.code, 'LLM_WEBGPU_001_E');
  assert.equal(probe.webgpu.adapter, null);
  assert.deepEqual(probe.wasm, { available: true, simd: true, threads: false, maxThreads: 1, error: null });
  assert.equal(probe.crossOriginIsolated, false);
});

function fakeScope({ adapter, requestAdapter, storage, isolated = true } = {}) {
  return {
    crossOriginIsolated: isolated,
    SharedArrayBuffer,
    WebAssembly,
    navigator: {
      hardwareConcurrency: 8,
      deviceMemory: 4,
      userAgent: 'TestBrowser/1.0',
      gpu: { requestAdapter: requestAdapter ?? (async () => adapter) },
      storage: storage ?? { estimate: async () => ({ quota: 1e10, usage: 1234 }), persisted: async () => true },
    },
  };
}

const ADAPTER = {
  info: { vendor: 'nvidia', architecture: 'hopper', description: 'H100', isFallbackAdapter: false },
  features: new Set(['timestamp-query', 'shader-f16']),
  limits: { maxBufferSize: 4294967296, maxStorageBufferBindingSize: 2147483648, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, maxBindGroups: 4 },
};

test('an adapter is described: info, sorted features, shader-f16, the four limits', async () => {
  const probe = await probeDevice({ scope: fakeScope({ adapter: ADAPTER }) });
  assert.deepEqual(probe.webgpu, {
    available: true,
    adapter: { vendor: 'nvidia', architecture: 'hopper', description: 'H100', isFallbackAdapter: false },
    features: ['shader-f16', 'timestamp-query'],
    shaderF16: true,
    limits: { maxBufferSize: 4294967296, maxStorageBufferBindingSize: 2147483648, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 },
    error: null,
  });
  assert.deepEqual(probe.wasm, { available: true, simd: true, threads: true, maxThreads: 8, error: null });
  assert.deepEqual(probe.storage, { quota: 1e10, usage: 1234, persisted: true });
  assert.equal(probe.deviceMemoryGb, 4);
  assert.equal(probe.hardwareConcurrency, 8);
  assert.equal(probe.userAgent, 'TestBrowser/1.0');
  assert.deepEqual(roundTrip(probe), probe);
});

test('the older requestAdapterInfo() is used when adapter.info is absent', async () => {
  const { info, ...rest } = ADAPTER;
  const probe = await probeDevice({ scope: fakeScope({ adapter: { ...rest, requestAdapterInfo: async () => info } }) });
  assert.equal(probe.webgpu.adapter.description, 'H100');
});

test('no adapter, a throwing or a hanging requestAdapter: unavailable with LLM_WEBGPU_001_E, never a throw', async () => {
  const cases = [
    fakeScope({ adapter: null }),
    fakeScope({ requestAdapter: async () => { throw new Error('GPU process crashed'); } }),
    fakeScope({ requestAdapter: () => new Promise(() => {}) }),
  ];
  for (const scope of cases) {
    const probe = await probeDevice({ scope, timeoutMs: 50 });
    assert.equal(probe.webgpu.available, false);
    assert.equal(probe.webgpu.error.code, 'LLM_WEBGPU_001_E');
    assert.equal(probe.wasm.available, true);
  }
});

test('without cross-origin isolation WASM runs single-threaded; failing storage is unknown', async () => {
  const storage = { estimate: async () => { throw new Error('denied'); }, persisted: () => { throw new Error('denied'); } };
  const probe = await probeDevice({ scope: fakeScope({ adapter: ADAPTER, isolated: false, storage }) });
  assert.deepEqual([probe.wasm.threads, probe.wasm.maxThreads, probe.crossOriginIsolated], [false, 1, false]);
  assert.deepEqual(probe.storage, { quota: null, usage: null, persisted: null });
});

test('no WebAssembly at all is reported, not thrown', async () => {
  const probe = await probeDevice({ scope: { navigator: {} } });
  assert.equal(probe.wasm.available, false);
  assert.equal(probe.wasm.error.code, 'LLM_WASM_004_E');
});
