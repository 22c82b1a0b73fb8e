// SolidJS bindings: a Solid store fed operation by operation from the core's patches.
//
// A server patch is replayed on the store one RFC 6902 operation at a time through path setters
// (setStore(...path, value)) or, for array splices and moves, produce(); only the signals of the
// touched properties fire, so `<For>` keeps every row it did not touch. When the view changed by
// something other than exactly a server patch (first state, a refresh, an optimistic update
// applied or rolled back) the store is reconciled with the new view (keyed by "id").
// Solid stores mutate the objects they hold, and the core's states are immutable and shared, so
// the store always gets its own copies (structuredClone) of what it is handed.

import { createSignal, onCleanup, getOwner } from 'solid-js';
import { createStore, produce, reconcile, unwrap } from 'solid-js/store';
import { parsePointer } from './patch.js';
import { sharedSocket, sharedChannel, retainChannel } from './shared.js';

const clone = (v) => (v === undefined ? undefined : structuredClone(v));

// Path tokens as Solid path keys: array indices as numbers.
function pathKeys(root, tokens) {
  const keys = [];
  let node = root;
  for (const t of tokens) {
    const k = Array.isArray(node) ? Number(t) : t;
    keys.push(k);
    node = node == null ? undefined : node[k];
  }
  return keys;
}

// Mutable JSON Patch step on a produce() draft (the ops already applied on the core's side, so
// they are valid here).
function mutate(draft, op) {
  const tokens = parsePointer(op.path);
  const key = tokens.pop();
  let parent = draft;
  for (const t of tokens) parent = parent[Array.isArray(parent) ? Number(t) : t];
  const take = (from) => {
    const ft = parsePointer(from);
    const fk = ft.pop();
    let fp = draft;
    for (const t of ft) fp = fp[Array.isArray(fp) ? Number(t) : t];
    return [fp, Array.isArray(fp) ? Number(fk) : fk];
  };
  const insert = (value) => {
    if (Array.isArray(parent)) parent.splice(key === '-' ? parent.length : Number(key), 0, value);
    else parent[key] = value;
  };
  switch (op.op) {
    case 'add': insert(clone(op.value)); break;
    case 'replace': parent[Array.isArray(parent) ? Number(key) : key] = clone(op.value); break;
    case 'remove':
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
      break;
    case 'move': {
      // The value is the store's own (a draft proxy, which structuredClone refuses): moved as
      // the raw object, no copy needed.
      const [fp, fk] = take(op.from);
      const value = unwrap(fp[fk]);
      if (Array.isArray(fp)) fp.splice(fk, 1); else delete fp[fk];
      // Re-resolve the target parent: the removal may have shifted it.
      let p = draft;
      for (const t of tokens) p = p[Array.isArray(p) ? Number(t) : t];
      parent = p;
      insert(value);
      break;
    }
    case 'copy': {
      const [fp, fk] = take(op.from);
      insert(clone(unwrap(fp[fk])));
      break;
    }
    default: break; // test: nothing to change
  }
}

/** Applies one operation to a Solid store whose state lives under `root` ("value"). */
function applyToStore(store, setStore, op) {
  const tokens = parsePointer(op.path);
  if (tokens.length === 0) {
    setStore('value', reconcile(clone(op.value), { key: 'id' }));
    return;
  }
  const parentTokens = tokens.slice(0, -1);
  const keys = pathKeys(store.value, parentTokens);
  let parent = store.value;
  for (const k of keys) parent = parent[k];
  const last = tokens[tokens.length - 1];
  const isArray = Array.isArray(parent);
  // setStore shallow-merges an object into the object it replaces, which would keep members the
  // new value lacks: objects go through reconcile (exact, keeps what is equal), scalars direct.
  const value = () => (op.value !== null && typeof op.value === 'object'
    ? reconcile(clone(op.value), { key: 'id', merge: false }) : op.value);
  if (!isArray && (op.op === 'add' || op.op === 'replace')) {
    setStore('value', ...keys, last, value()); // a path setter: one property's signal
  } else if (!isArray && op.op === 'remove') {
    setStore('value', ...keys, last, undefined); // Solid deletes a property set to undefined
  } else if (isArray && op.op === 'replace') {
    setStore('value', ...keys, Number(last), value());
  } else {
    setStore(produce((s) => mutate(s.value, op))); // splices, moves, copies
  }
}

/**
 * Joins `topic` and returns {state, push, pushMessage, status(), pending(), error(), version(),
 * channel}. `state` is a Solid store (read it in JSX or effects; undefined until the first
 * state is known). options: url (default "/socket"), params, reducers (optimistic updates by
 * event name), socketOptions, or a ready `channel`. Call inside a component or createRoot: the
 * channel is released with the owner.
 */
export function createStateChannel(topic, options = {}) {
  const channel = options.channel || sharedChannel(sharedSocket(options.url || '/socket', options.socketOptions),
                                                    topic, options.params || {}, { reducers: options.reducers });
  const release = options.channel ? () => {} : retainChannel(channel);
  const [store, setStore] = createStore({ value: clone(channel.getState()) });
  const [status, setStatus] = createSignal(channel.getStatus());
  let shown = channel.getState();

  const unsubscribe = channel.subscribe((view, info) => {
    const st = channel.getStatus();
    if (st !== status()) setStatus(st);
    if (view === shown) return;
    if (info.ops && info.prev === shown && store.value !== undefined) {
      for (const op of info.ops) applyToStore(store, setStore, op);
    } else {
      setStore('value', reconcile(clone(view), { key: 'id', merge: false }));
    }
    shown = view;
  });
  if (getOwner()) onCleanup(() => { unsubscribe(); release(); });

  return {
    get state() { return store.value; },
    channel,
    push: (name, payload, opts) => channel.push(name, payload, opts),
    pushMessage: (name, payload, opts) => { channel.push(name, payload, opts).catch(() => {}); },
    status: () => status().status,
    pending: () => status().pending,
    error: () => status().lastError,
    version: () => status().version,
    dispose: () => { unsubscribe(); release(); },
  };
}
