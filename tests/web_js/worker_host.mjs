// worker.js in a Node thread (worker_threads), as a browser runs it in a Web
// Worker: `self` is the thread's side of the channel to the test.
import { parentPort } from 'node:worker_threads';

const scope = {
  onmessage: null,
  postMessage: (message) => parentPort.postMessage(message),
};
globalThis.self = scope;
parentPort.on('message', (data) => scope.onmessage?.({ data }));
await import('../../web/lib/engine/worker.js');
