// RFC 6902 JSON Patch applied to a plain JS value, for tests that follow a state through its
// patches the way a client does. Returns a new document (the input is cloned first); throws on
// an operation that does not apply, naming the operation, so a test failure shows which one.
// O(document) per call for the clone, O(depth) per operation.

const clone = (v) => (v === undefined ? v : structuredClone(v));

function parsePointer(path) {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`bad pointer ${JSON.stringify(path)}`);
  return path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function deepEqual(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  }
  return v;
}

function arrayIndex(arr, token, forAdd) {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`bad array index ${token}`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new Error(`index ${i} out of range`);
  return i;
}

// Returns [parent, lastToken] for a non-root path; throws when the parent is missing.
function locate(doc, tokens) {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, t, false)];
    else if (node && typeof node === 'object' && Object.hasOwn(node, t)) node = node[t];
    else throw new Error(`path component ${t} missing`);
  }
  if (node === null || typeof node !== 'object') throw new Error('parent is not a container');
  return [node, tokens[tokens.length - 1]];
}

function get(doc, tokens) {
  let node = doc;
  for (const t of tokens) {
    if (Array.isArray(node)) node = node[arrayIndex(node, t, false)];
    else if (node && typeof node === 'object' && Object.hasOwn(node, t)) node = node[t];
    else throw new Error(`path component ${t} missing`);
  }
  return node;
}

function add(doc, tokens, value) {
  if (tokens.length === 0) return value;
  const [parent, key] = locate(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true), 0, value);
  else parent[key] = value;
  return doc;
}

function remove(doc, tokens) {
  if (tokens.length === 0) throw new Error('cannot remove the root');
  const [parent, key] = locate(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false), 1);
  else if (Object.hasOwn(parent, key)) delete parent[key];
  else throw new Error(`member ${key} missing`);
  return doc;
}

export function applyPatch(document, patch) {
  if (!Array.isArray(patch)) throw new Error('a patch is an array');
  let doc = clone(document);
  patch.forEach((op, i) => {
    try {
      const path = parsePointer(op.path);
      switch (op.op) {
        case 'add': doc = add(doc, path, clone(op.value)); break;
        case 'remove': doc = remove(doc, path); break;
        case 'replace':
          if (path.length === 0) { doc = clone(op.value); break; }
          get(doc, path);
          doc = add(remove(doc, path), path, clone(op.value));
          break;
        case 'move': {
          const value = get(doc, parsePointer(op.from));
          doc = add(remove(doc, parsePointer(op.from)), path, value);
          break;
        }
        case 'copy': doc = add(doc, path, clone(get(doc, parsePointer(op.from)))); break;
        case 'test':
          if (!deepEqual(get(doc, path), op.value)) throw new Error('test failed');
          break;
        default: throw new Error(`unknown op ${op.op}`);
      }
    } catch (err) {
      throw new Error(`patch op ${i} ${JSON.stringify(op)}: ${err.message}`);
    }
  });
  return doc;
}
