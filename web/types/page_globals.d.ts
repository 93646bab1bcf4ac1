// What the demo pages leave on `window` for the end-to-end tests (e2e/) and the console to read.
// Types for tsc only (tsconfig.json): nothing here is loaded by a page.
interface Window {
  __result?: Record<string, unknown>;
  __progress?: unknown[];
  __runtime?: any; // local.html: the PageRuntime (lib/runtime.js)
  __python?: any; // engine.html: what loadPython gave (lib/loader.js)
  __done?: boolean;
  __chat?: HTMLElement & { runtime?: any; ready?: Promise<unknown> };
  __log?: unknown[];
  __ready?: boolean | Promise<unknown>;
  __error?: unknown;
  __offline?: unknown;
  __events?: unknown[];
}
