// @ts-check
// What the router learns in the page (breakers, hints), kept in IndexedDB so it
// survives reloads. The core's Store protocol is synchronous, IndexedDB is not:
// everything is read once at start-up (`load()`), and each change is written
// through in the background (`put` / `remove`), the way the server's SQLite
// store writes behind. A failed write (quota, private mode) is reported once
// and the page goes on with what it has in memory.

const DB_VERSION = 1;
const RECORDS = 'records';
import { CODES } from './catalogue.js';

const QUOTA = CODES.MEM_QUOTA_EXCEEDED;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class IdbStore {
  static async open(name = 'llm-runner-router') {
    const open = indexedDB.open(name, DB_VERSION);
    open.onupgradeneeded = () => open.result.createObjectStore(RECORDS);
    return new IdbStore(await request(open));
  }

  constructor(db) {
    this.db = db;
    this.error = null; // the first write failure: {code, message}
    this.pending = new Set();
  }

  /** Every record as {namespace: {key: valueJson}}. */
  async load() {
    const tx = this.db.transaction(RECORDS, 'readonly');
    const store = tx.objectStore(RECORDS);
    const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    const out = {};
    keys.forEach(([namespace, key], i) => {
      (out[namespace] ||= {})[key] = values[i];
    });
    return out;
  }

  put(namespace, key, valueJson) {
    this._write((store) => store.put(valueJson, [namespace, key]));
  }

  remove(namespace, key) {
    this._write((store) => store.delete([namespace, key]));
  }

  /** Resolves when every write so far is on disk (tests, page unload). */
  async flush() {
    await Promise.allSettled([...this.pending]);
  }

  _write(op) {
    const done = new Promise((resolve, reject) => {
      const tx = this.db.transaction(RECORDS, 'readwrite');
      op(tx.objectStore(RECORDS));
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error);
    }).catch((e) => {
      if (!this.error) {
        const quota = e && e.name === 'QuotaExceededError';
        this.error = { code: quota ? QUOTA : CODES.CORE_STORE_CORRUPT, message: `learned state is kept in memory only: ${e && e.message}` };
        console.warn(this.error.message, e);
      }
    });
    this.pending.add(done);
    done.finally(() => this.pending.delete(done));
  }
}
