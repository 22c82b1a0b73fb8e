// Durable key-value storage for the client: IndexedDB where the page has it, memory elsewhere.
//
// Both back ends expose the same three async calls, get/set/delete, on structured-cloneable
// values. Writes to one storage object are applied in call order (one IndexedDB transaction
// per write, queued on a promise chain), so a later write of a key always wins.
// The memory back end clones values too, so callers cannot rely on sharing by accident.
//
// Limits: one object store, one record per key; record size is bounded by the callers
// (MAX_OUTBOX ops, one state).

const DB_VERSION = 1;
const STORE = 'kv';

/** Storage kept in memory: lost on reload. Used where IndexedDB is missing (Node, old browsers,
 *  private modes that refuse it) and in tests; `shared` lets a test simulate a reload. */
export function memoryStorage(shared = new Map()) {
  const clone = (v) => (v === undefined ? undefined : structuredClone(v));
  return {
    kind: 'memory',
    async get(key) { return clone(shared.get(key)); },
    async set(key, value) { shared.set(key, clone(value)); },
    async delete(key) { shared.delete(key); },
  };
}

/** Storage in IndexedDB database `name`; rejects from its calls when the database cannot be
 *  opened (the caller then falls back to memory). */
export function indexedDbStorage(name = 'statechannel', idb = globalThis.indexedDB) {
  let dbPromise = null;
  const open = () => {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const req = idb.open(name, DB_VERSION);
        req.onupgradeneeded = () => { req.result.createObjectStore(STORE); };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
        req.onblocked = () => reject(new Error('IndexedDB open blocked'));
      });
    }
    return dbPromise;
  };
  const run = async (mode, fn) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      // A write is durable once its transaction completes, not when the request succeeds.
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
    });
  };
  return {
    kind: 'indexeddb',
    get: (key) => run('readonly', (s) => s.get(key)),
    set: (key, value) => run('readwrite', (s) => s.put(value, key)),
    delete: (key) => run('readwrite', (s) => s.delete(key)),
  };
}

/** IndexedDB when present and working, else memory. Probing costs one open. */
export async function defaultStorage() {
  if (!globalThis.indexedDB) return memoryStorage();
  const idb = indexedDbStorage();
  try {
    await idb.get('__probe__');
    return idb;
  } catch {
    return memoryStorage();
  }
}

/** Serializes async writes: `queue(fn)` runs fn after every earlier queued fn settled. */
export function writeQueue() {
  let tail = Promise.resolve();
  return (fn) => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => {});
    return next;
  };
}

/**
 * Takes the first free slot of `base` for this tab with the Web Locks API, held until release()
 * or until the page goes away, and resolves to {slot, release}: slot 0 where Web Locks are
 * missing (one tab, or Node), slot null when all `maxSlots` are taken. Two tabs on one topic
 * thus keep separate sessions and op numbering, and a reloaded tab gets a slot back with the
 * pending ops it left there.
 */
export async function acquireSlot(base, maxSlots, locks = globalThis.navigator && globalThis.navigator.locks) {
  if (!locks || typeof locks.request !== 'function') return { slot: 0, release: () => {} };
  for (let slot = 0; slot < maxSlots; slot++) {
    let release = () => {};
    const held = new Promise((resolve) => { release = resolve; });
    const got = await new Promise((resolve) => {
      locks.request(`statechannel:${base}#${slot}`, { ifAvailable: true }, (lock) => {
        resolve(Boolean(lock));
        return lock ? held : undefined; // the lock lasts until `held` settles
      }).catch(() => resolve(false));
    });
    if (got) return { slot, release };
  }
  return { slot: null, release: () => {} }; // every slot busy: the caller keeps ops in memory
}
