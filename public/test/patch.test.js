// The immutable RFC 6902 applier: conformance (the json-patch-tests suite the C library also
// runs), immutability, structural sharing, and a seeded random property check.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyPatch, PatchError, parsePointer, formatPointer, getIn, deepEqual } from '../src/patch.js';

const suiteDir = new URL('../../tests/patch/data/json-patch-tests/', import.meta.url);
const deepFreeze = (v) => {
  if (v && typeof v === 'object') { Object.freeze(v); for (const k of Object.keys(v)) deepFreeze(v[k]); }
  return v;
};

describe('json-patch-tests conformance', () => {
  for (const file of ['tests.json', 'spec_tests.json']) {
    const cases = JSON.parse(readFileSync(new URL(file, suiteDir), 'utf8'));
    cases.forEach((c, i) => {
      if (c.disabled) return;
      const name = `${file} #${i}: ${c.comment || ''}`;
      test(name, () => {
        const doc = deepFreeze(structuredClone(c.doc));
        if (c.error) {
          assert.throws(() => applyPatch(doc, c.patch), PatchError);
          return;
        }
        const out = applyPatch(doc, c.patch);
        if ('expected' in c) assert.deepEqual(out, c.expected);
        assert.deepEqual(doc, c.doc, 'the input document is untouched');
      });
    });
  }
});

describe('applyPatch', () => {
  test('keeps the identity of every subtree no operation touched', () => {
    const doc = deepFreeze({ a: { x: [1, 2] }, b: { y: { z: 1 } }, list: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    const out = applyPatch(doc, [{ op: 'replace', path: '/list/1/id', value: 20 }]);
    assert.equal(out.a, doc.a);
    assert.equal(out.b, doc.b);
    assert.equal(out.list[0], doc.list[0]);
    assert.equal(out.list[2], doc.list[2]);
    assert.notEqual(out.list, doc.list);
    assert.notEqual(out.list[1], doc.list[1]);
    assert.equal(out.list[1].id, 20);
    assert.equal(doc.list[1].id, 2);
  });

  test('copies each container on a path once however many operations touch it', () => {
    const doc = deepFreeze({ rows: Array.from({ length: 5 }, (_, i) => ({ id: i })) });
    const ops = [];
    for (let i = 0; i < 5; i++) ops.push({ op: 'replace', path: `/rows/${i}/id`, value: i * 10 });
    ops.push({ op: 'add', path: '/rows/-', value: { id: 50 } });
    const out = applyPatch(doc, ops);
    assert.deepEqual(out.rows.map((r) => r.id), [0, 10, 20, 30, 40, 50]);
    assert.equal(doc.rows.length, 5);
  });

  test('does not let an in-place edit reach a value that a copy operation duplicated', () => {
    const doc = deepFreeze({ a: { n: 1 }, b: null });
    const out = applyPatch(doc, [
      { op: 'replace', path: '/a/n', value: 2 },
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'replace', path: '/a/n', value: 3 },
    ]);
    assert.deepEqual(out, { a: { n: 3 }, b: { n: 2 } });
  });

  test('leaves the document unchanged when a test operation fails', () => {
    const doc = deepFreeze({ a: 1, b: [1] });
    assert.throws(() => applyPatch(doc, [
      { op: 'add', path: '/b/-', value: 2 },
      { op: 'test', path: '/a', value: 2 },
    ]), (err) => err instanceof PatchError && err.index === 1);
    assert.deepEqual(doc, { a: 1, b: [1] });
  });

  test('stores a member named __proto__ as data, not as the prototype', () => {
    const out = applyPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['__proto__']);
    assert.equal({}.polluted, undefined);
  });

  test('refuses array indices with leading zeros or past the end', () => {
    assert.throws(() => applyPatch([1, 2], [{ op: 'replace', path: '/01', value: 0 }]), PatchError);
    assert.throws(() => applyPatch([1, 2], [{ op: 'add', path: '/3', value: 0 }]), PatchError);
    assert.deepEqual(applyPatch([1, 2], [{ op: 'add', path: '/2', value: 3 }]), [1, 2, 3]);
  });

  test('moves a value without copying it and refuses a move into its own child', () => {
    const inner = { deep: true };
    const out = applyPatch({ a: { inner }, b: {} }, [{ op: 'move', from: '/a/inner', path: '/b/inner' }]);
    assert.equal(out.b.inner, inner);
    assert.deepEqual(out.a, {});
    assert.throws(() => applyPatch({ a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]), PatchError);
  });

  test('round-trips pointers with escaped characters', () => {
    const tokens = ['a/b', 'c~d', '', '0'];
    assert.deepEqual(parsePointer(formatPointer(tokens)), tokens);
    assert.equal(getIn({ 'a/b': { 'c~d': 7 } }, '/a~1b/c~0d'), 7);
    assert.equal(getIn({ a: 1 }, '/missing'), undefined);
  });
});

// Seeded random edits: applying random valid ops immutably must give the same result as
// applying them to a mutable deep copy, and never change the input.
describe('applyPatch on random edits', () => {
  function rng(seed) {
    let s = seed >>> 0;
    return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
  }
  function randomValue(r, depth) {
    const k = r();
    if (depth > 2 || k < 0.4) return Math.floor(r() * 100);
    if (k < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    const o = {};
    for (let i = 0; i < Math.floor(r() * 4); i++) o['k' + Math.floor(r() * 6)] = randomValue(r, depth + 1);
    return o;
  }
  function containers(v, path = '', out = []) {
    if (v && typeof v === 'object') {
      out.push(path);
      for (const k of Object.keys(v)) containers(v[k], `${path}/${k}`, out);
    }
    return out;
  }
  function mutableApply(doc, op) {
    const tokens = parsePointer(op.path);
    const key = tokens.pop();
    let parent = doc;
    for (const t of tokens) parent = parent[t];
    if (op.op === 'add') Array.isArray(parent) ? parent.splice(key === '-' ? parent.length : +key, 0, op.value) : (parent[key] = op.value);
    else if (op.op === 'remove') Array.isArray(parent) ? parent.splice(+key, 1) : delete parent[key];
    else parent[key] = op.value;
  }

  test('matches a mutable reference applier on 2000 seeded random patches', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const doc = deepFreeze({ root: randomValue(r, 0), list: [1, { a: 2 }, [3]] });
      const reference = structuredClone(doc);
      const ops = [];
      let shadow = structuredClone(doc);
      for (let n = 0; n < 1 + Math.floor(r() * 5); n++) {
        const cs = containers(shadow);
        const path = cs[Math.floor(r() * cs.length)];
        const target = getIn(shadow, path);
        const keys = Object.keys(target);
        let op;
        const kind = r();
        if (kind < 0.4 || keys.length === 0) {
          const key = Array.isArray(target) ? (r() < 0.5 ? '-' : String(Math.floor(r() * (target.length + 1)))) : 'n' + Math.floor(r() * 3);
          op = { op: 'add', path: `${path}/${key}`, value: randomValue(r, 1) };
        } else if (kind < 0.7) {
          op = { op: 'remove', path: `${path}/${keys[Math.floor(r() * keys.length)]}` };
        } else {
          op = { op: 'replace', path: `${path}/${keys[Math.floor(r() * keys.length)]}`, value: randomValue(r, 1) };
        }
        if (op.op === 'remove' && op.path === '') continue;
        ops.push(op);
        mutableApply(shadow, structuredClone(op));
      }
      const out = applyPatch(doc, ops);
      assert.ok(deepEqual(out, shadow), `seed ${seed}`);
      assert.ok(deepEqual(doc, reference), `seed ${seed}: input untouched`);
    }
  });
});
