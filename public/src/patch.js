// Immutable RFC 6902 JSON Patch applier with structural sharing.
//
// applyPatch(doc, ops) returns a new document and never touches `doc`: every container on the
// path of an operation is shallow-copied once, everything else is shared by reference, so a
// subtree no operation reached keeps its identity (=== across versions) and React/Solid can skip
// it. Containers copied during one call are remembered in a Set and mutated in place by the
// later operations of the same call, so a patch of k operations on one array of n items costs
// O(n + k * depth), not O(k * n).
//
// Values taken from the patch (`add`/`replace` values) become part of the result as they are;
// the caller must treat documents as immutable (they are shared with earlier versions).
// A failing operation (missing path, bad index, failed `test`) throws a PatchError and, since
// nothing was mutated, leaves every earlier document valid: the apply is atomic.
//
// Limits: none of its own; recursion depth is the pointer depth (the server caps JSON depth).

/** An operation that cannot be applied; `index` is its position in the patch. */
export class PatchError extends Error {
  constructor(message, index, operation) {
    super(message);
    this.name = 'PatchError';
    this.index = index;
    this.operation = operation;
  }
}

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Splits a JSON Pointer ("/a/b~1c") into unescaped tokens (["a", "b/c"]); "" is the root. */
export function parsePointer(pointer) {
  if (pointer === '') return [];
  if (typeof pointer !== 'string' || pointer[0] !== '/') throw new Error(`invalid pointer "${pointer}"`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Builds a pointer from tokens (the inverse of parsePointer). */
export function formatPointer(tokens) {
  return tokens.map((t) => '/' + String(t).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** Reads the value at `pointer` (undefined when absent). */
export function getIn(doc, pointer) {
  let node = doc;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(node)) {
      const i = arrayIndex(token, node.length, false);
      node = node[i];
    } else if (isObject(node) && hasOwn(node, token)) {
      node = node[token];
    } else {
      return undefined;
    }
  }
  return node;
}

/** Deep equality of two JSON values (the `test` operation's comparison). */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!hasOwn(b, k) || !deepEqual(a[k], b[k])) return false;
  return true;
}

// An array index token: digits without a leading zero, within bounds; "-" (one past the end)
// only where `allowEnd` (add). Throws a plain Error; applyPatch wraps it with the op index.
function arrayIndex(token, length, allowEnd) {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`invalid array index "${token}"`);
  const i = Number(token);
  if (i > (allowEnd ? length : length - 1)) throw new Error(`array index ${i} out of bounds`);
  return i;
}

/**
 * Applies `ops` to `doc` and returns the new document; `doc` is left untouched.
 * Throws PatchError on the first operation that cannot be applied.
 */
export function applyPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new PatchError('a patch is an array of operations', -1, ops);
  const fresh = new Set(); // containers copied by this call: safe to mutate in place
  let root = doc;
  for (let i = 0; i < ops.length; i++) {
    try {
      root = applyOperation(root, ops[i], fresh);
    } catch (err) {
      if (err instanceof PatchError) throw err;
      throw new PatchError(`operation ${i} (${ops[i] && ops[i].op} ${ops[i] && ops[i].path}): ${err.message}`, i, ops[i]);
    }
  }
  return root;
}

function applyOperation(root, operation, fresh) {
  if (!operation || typeof operation !== 'object') throw new Error('an operation is an object');
  const { op, path } = operation;
  const tokens = parsePointer(path);
  switch (op) {
    case 'add':
      requireValue(operation);
      return setAt(root, tokens, (parent, key) => insert(parent, key, operation.value), operation.value, fresh);
    case 'remove':
      if (tokens.length === 0) throw new Error('cannot remove the root');
      return setAt(root, tokens, (parent, key) => remove(parent, key), undefined, fresh);
    case 'replace':
      requireValue(operation);
      return setAt(root, tokens, (parent, key) => replace(parent, key, operation.value), operation.value, fresh);
    case 'move': {
      const from = parsePointer(operation.from);
      if (from.length < tokens.length && from.every((t, i) => t === tokens[i]))
        throw new Error('cannot move a value into one of its children');
      const value = valueAt(root, from);
      if (from.length === tokens.length && from.every((t, i) => t === tokens[i])) return root;
      const removed = setAt(root, from, (parent, key) => remove(parent, key), undefined, fresh);
      return setAt(removed, tokens, (parent, key) => insert(parent, key, value), value, fresh);
    }
    case 'copy': {
      const value = valueAt(root, parsePointer(operation.from));
      // The copied subtree now lives at two places; a container of it copied earlier in this
      // call must not be mutated in place any more, or both places would change.
      fresh.clear();
      return setAt(root, tokens, (parent, key) => insert(parent, key, value), value, fresh);
    }
    case 'test': {
      requireValue(operation);
      if (!deepEqual(valueAt(root, tokens), operation.value)) throw new Error('test failed');
      return root;
    }
    default:
      throw new Error(`unknown op "${op}"`);
  }
}

function requireValue(operation) {
  if (!hasOwn(operation, 'value')) throw new Error('missing "value"');
}

function valueAt(root, tokens) {
  let node = root;
  for (const token of tokens) node = child(node, token);
  return node;
}

function child(node, token) {
  if (Array.isArray(node)) return node[arrayIndex(token, node.length, false)];
  if (isObject(node)) {
    if (!hasOwn(node, token)) throw new Error(`no member "${token}"`);
    return node[token];
  }
  throw new Error(`cannot descend into a ${node === null ? 'null' : typeof node} at "${token}"`);
}

// Returns a mutable version of container `node`: itself when this call copied it, else a copy.
function own(node, fresh) {
  if (fresh.has(node)) return node;
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  fresh.add(copy);
  return copy;
}

// Rebuilds the path to tokens[last] and lets `leaf(parent, key)` change the parent container
// (already owned). `rootValue` is the result when tokens is empty (the root is replaced).
function setAt(root, tokens, leaf, rootValue, fresh) {
  if (tokens.length === 0) return rootValue;
  const walk = (node, depth) => {
    if (node === null || typeof node !== 'object')
      throw new Error(`cannot descend into a ${node === null ? 'null' : typeof node} at "${tokens[depth]}"`);
    const key = tokens[depth];
    if (depth === tokens.length - 1) {
      const parent = own(node, fresh);
      leaf(parent, key);
      return parent;
    }
    const before = child(node, key);
    const after = walk(before, depth + 1);
    if (after === before) return node;
    const parent = own(node, fresh);
    if (Array.isArray(parent)) parent[Number(key)] = after;
    else setMember(parent, key, after);
    return parent;
  };
  return walk(root, 0);
}

// A member named "__proto__" is data in JSON; plain assignment would set the prototype instead.
function setMember(obj, key, value) {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

function insert(parent, key, value) {
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true), 0, value);
  else setMember(parent, key, value);
}

function remove(parent, key) {
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, false), 1);
  else if (hasOwn(parent, key)) delete parent[key];
  else throw new Error(`no member "${key}"`);
}

function replace(parent, key, value) {
  if (Array.isArray(parent)) parent[arrayIndex(key, parent.length, false)] = value;
  else if (hasOwn(parent, key)) setMember(parent, key, value);
  else throw new Error(`no member "${key}"`);
}
