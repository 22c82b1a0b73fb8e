#!/usr/bin/env node
// gen-corpus.mjs -- writes the benchmark corpus: pairs of JSON documents (A = before,
// B = after) into build/bench-corpus/<case>/{a.json,b.json}, plus manifest.json listing the
// cases in table order with a one-line description and the sizes.
//
// Deterministic: every random choice comes from one seeded mulberry32 generator per case (no
// Math.random), and documents are written with JSON.stringify (compact), so two runs write
// byte-identical files. Each case is built from its own seed, so adding a case does not change
// the others.
//
// usage: node bench/gen-corpus.mjs [OUT_DIR]     (default: <repo>/build/bench-corpus)
// Cost: a few seconds; writes ~17 MB.
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = resolve(process.argv[2] ?? join(ROOT, "build", "bench-corpus"));

// Sizes the brief fixes; each one names what a real workload it stands for.
const SMALL_APP_TODOS = 13; // a small app's state: ~1.6 KB
const LARGE_STATE_BYTES = 1024 * 1024; // "~1 MB state": users are added until A reaches it
const LARGE_STATE_EDITS = 40; // scattered edits between A and B of the 1 MB state
const LIST_LENGTH = 10000; // the 10,000-object list cases
const DEEP_NESTING = 200; // nesting depth of the deep-leaf case
const LONG_STRING_DOCS = 10; // documents holding a long body each
const LONG_STRING_BYTES = 20000; // length of each body
const LONG_STRING_EDITED = 3; // bodies with a few characters changed
const REPLACE_KEYS = 300; // keys of each side of the total-replacement case
const WIDE_OBJECT_KEYS = 50000; // the 50,000-key object
const WIDE_OBJECT_CHURN = 500; // keys removed, and keys added, in the wide object
const JSFB_ROWS = 1000; // js-framework-benchmark's table: 1,000 rows

// mulberry32: a 32-bit PRNG, plenty for picking positions and words, and seedable.
function rng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (arr) => arr[int(arr.length)];
  return { next, int, pick };
}

const WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike " +
  "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu " +
  "state channel patch diff apply server client topic event handler socket render").split(" ");
const CITIES = ["Lisbon", "Oslo", "Kyoto", "Quito", "Accra", "Perth", "Tallinn", "Austin"];

const sentence = (r, n) => Array.from({ length: n }, () => r.pick(WORDS)).join(" ");
const clone = (v) => structuredClone(v);

// js-framework-benchmark's buildData() vocabulary, so labels look like its table's.
const ADJECTIVES = ["pretty", "large", "big", "small", "tall", "short", "long", "handsome",
  "plain", "quaint", "clean", "elegant", "easy", "angry", "crazy", "helpful", "mushy", "odd",
  "unsightly", "adorable", "important", "inexpensive", "cheap", "expensive", "fancy"];
const COLOURS = ["red", "yellow", "blue", "green", "pink", "brown", "purple", "brown", "white",
  "black", "orange"];
const NOUNS = ["table", "chair", "house", "bbq", "desk", "car", "pony", "cookie", "sandwich",
  "burger", "pizza", "mouse", "keyboard"];

function jsfbRows(r, from, count) {
  return Array.from({ length: count }, (_, i) => ({
    id: from + i,
    label: `${r.pick(ADJECTIVES)} ${r.pick(COLOURS)} ${r.pick(NOUNS)}`,
  }));
}

function smallApp(r) {
  return {
    user: {
      id: 42, name: "Ada Lovelace", email: "ada@example.org", roles: ["admin", "editor"],
      prefs: { theme: "dark", lang: "en", notifications: { email: true, push: false } },
    },
    todos: Array.from({ length: SMALL_APP_TODOS }, (_, i) => ({
      id: i + 1, title: sentence(r, 5), done: r.next() < 0.5, tags: [r.pick(WORDS)],
      due: `2026-12-${String(i + 10).padStart(2, "0")}`,
    })),
    filter: "all",
    ui: { sidebarOpen: true, modal: null, toast: null, page: 1 },
    stats: { total: SMALL_APP_TODOS, done: 3, streak: 12 },
  };
}

function user(r, id) {
  return {
    id, name: `${r.pick(WORDS)} ${r.pick(WORDS)}`, email: `user${id}@example.org`,
    age: 18 + r.int(60), active: r.next() < 0.8, score: Math.round(r.next() * 10000) / 100,
    address: { street: `${1 + r.int(300)} ${r.pick(WORDS)} street`, city: r.pick(CITIES),
      zip: String(10000 + r.int(89999)) },
    tags: Array.from({ length: 1 + r.int(4) }, () => r.pick(WORDS)),
    bio: sentence(r, 6 + r.int(10)),
  };
}

function largeState(r) {
  const state = {
    meta: { version: 7, generated: "2026-11-24T00:00:00Z", owner: "bench" },
    settings: Object.fromEntries(WORDS.map((w, i) => [w, { enabled: i % 3 === 0, level: i }])),
    users: [],
  };
  let bytes = JSON.stringify(state).length;
  for (let id = 1; bytes < LARGE_STATE_BYTES; id++) {
    const u = user(r, id);
    bytes += JSON.stringify(u).length + 1;
    state.users.push(u);
  }
  return state;
}

// Edits of the kinds a handler makes: set a field, add and remove keys, grow a list, change a
// setting, each at a random place.
function scatterEdits(r, doc, count) {
  const b = clone(doc);
  for (let i = 0; i < count; i++) {
    const u = r.pick(b.users);
    switch (i % 6) {
      case 0: u.score = Math.round(r.next() * 10000) / 100; break;
      case 1: u.active = !u.active; break;
      case 2: u.address.city = r.pick(CITIES) + " " + r.pick(WORDS); break;
      case 3: u.tags.push(r.pick(WORDS)); break;
      case 4: delete u.bio; u.nickname = r.pick(WORDS); break;
      default: b.settings[r.pick(WORDS)].level = 100 + r.int(100); break;
    }
  }
  return b;
}

function listItems(r) {
  return Array.from({ length: LIST_LENGTH }, (_, i) => ({
    id: i + 1, name: `item-${i + 1}`, price: r.int(100000) / 100, qty: r.int(50),
    tags: [r.pick(WORDS), r.pick(WORDS)], active: r.next() < 0.5,
  }));
}

function deepDoc(leafValue) {
  let node = { leaf: true, value: leafValue };
  for (let depth = DEEP_NESTING - 1; depth >= 0; depth--)
    node = { depth, name: `level-${depth}`, child: node };
  return node;
}

function longStrings(r) {
  return {
    docs: Array.from({ length: LONG_STRING_DOCS }, (_, i) => {
      let body = "";
      while (body.length < LONG_STRING_BYTES) body += sentence(r, 12) + ". ";
      return { id: i + 1, title: sentence(r, 4), body: body.slice(0, LONG_STRING_BYTES) };
    }),
  };
}

function editText(r, text) {
  const at = r.int(text.length - 20);
  return text.slice(0, at) + "EDITED" + text.slice(at + 6);
}

function keyedObject(r, prefix, count) {
  return Object.fromEntries(Array.from({ length: count }, (_, i) =>
    [`${prefix}${i}`, i % 3 === 0 ? { n: r.int(1000), s: r.pick(WORDS) } : sentence(r, 3)]));
}

function wideObject(r) {
  return Object.fromEntries(Array.from({ length: WIDE_OBJECT_KEYS }, (_, i) =>
    [`k${String(i).padStart(5, "0")}`, i % 2 === 0 ? r.int(1000000) : r.pick(WORDS)]));
}

// Each case: name, description, seed, build(r) -> [a, b].
const CASES = [
  ["small-app-one-change", "~1.6 KB app state, one todo toggled", 1, (r) => {
    const a = smallApp(r);
    const b = clone(a);
    b.todos[3].done = !b.todos[3].done;
    return [a, b];
  }],
  ["state-1mb-scattered", `~1 MB state, ${LARGE_STATE_EDITS} scattered edits`, 2, (r) => {
    const a = largeState(r);
    return [a, scatterEdits(r, a, LARGE_STATE_EDITS)];
  }],
  ["list10k-front-insert", "10,000-object list, one object inserted at the front", 3, (r) => {
    const a = { items: listItems(r) };
    const b = clone(a);
    b.items.unshift({ id: LIST_LENGTH + 1, name: "new", price: 1, qty: 1, tags: [], active: true });
    return [a, b];
  }],
  ["list10k-middle-delete", "10,000-object list, the middle object removed", 4, (r) => {
    const a = { items: listItems(r) };
    const b = clone(a);
    b.items.splice(LIST_LENGTH / 2, 1);
    return [a, b];
  }],
  ["list10k-move", "10,000-object list, object 1,000 moved to 8,000", 5, (r) => {
    const a = { items: listItems(r) };
    const b = clone(a);
    const [moved] = b.items.splice(1000, 1);
    b.items.splice(8000, 0, moved);
    return [a, b];
  }],
  ["list10k-swap", "10,000-object list, objects 100 and 9,900 swapped", 6, (r) => {
    const a = { items: listItems(r) };
    const b = clone(a);
    [b.items[100], b.items[9900]] = [b.items[9900], b.items[100]];
    return [a, b];
  }],
  ["deep-200-leaf", `${DEEP_NESTING}-deep nesting, the leaf changed`, 7, () =>
    [deepDoc(1), deepDoc(2)]],
  ["long-strings-edited", `${LONG_STRING_DOCS} x 20 KB strings, ${LONG_STRING_EDITED} edited`, 8,
    (r) => {
      const a = longStrings(r);
      const b = clone(a);
      for (let i = 0; i < LONG_STRING_EDITED; i++)
        b.docs[i * 3].body = editText(r, b.docs[i * 3].body);
      return [a, b];
    }],
  ["total-replacement", `${REPLACE_KEYS}-key object replaced by one sharing no key`, 9, (r) =>
    [keyedObject(r, "old", REPLACE_KEYS), keyedObject(r, "new", REPLACE_KEYS)]],
  ["object-50k-keys", `${WIDE_OBJECT_KEYS.toLocaleString("en-US")}-key object, ${WIDE_OBJECT_CHURN} keys removed and ` +
    `${WIDE_OBJECT_CHURN} added`, 10, (r) => {
    const a = wideObject(r);
    const b = clone(a);
    const keys = Object.keys(a);
    for (let removed = 0; removed < WIDE_OBJECT_CHURN;) {
      const k = keys[r.int(keys.length)];
      if (k in b) { delete b[k]; removed++; }
    }
    for (let i = 0; i < WIDE_OBJECT_CHURN; i++) b[`added${i}`] = r.int(1000);
    return [a, b];
  }],
  ["jsfb-update-every-10th", "js-framework-benchmark: 1,000 rows, every 10th label updated", 11,
    (r) => {
      const a = { rows: jsfbRows(r, 1, JSFB_ROWS) };
      const b = clone(a);
      for (let i = 0; i < JSFB_ROWS; i += 10) b.rows[i].label += " !!!";
      return [a, b];
    }],
  ["jsfb-swap-rows", "js-framework-benchmark: 1,000 rows, rows 1 and 998 swapped", 12, (r) => {
    const a = { rows: jsfbRows(r, 1, JSFB_ROWS) };
    const b = clone(a);
    [b.rows[1], b.rows[998]] = [b.rows[998], b.rows[1]];
    return [a, b];
  }],
  ["jsfb-remove-row", "js-framework-benchmark: 1,000 rows, one row removed", 13, (r) => {
    const a = { rows: jsfbRows(r, 1, JSFB_ROWS) };
    const b = clone(a);
    b.rows.splice(r.int(JSFB_ROWS), 1);
    return [a, b];
  }],
  ["jsfb-append-1000", "js-framework-benchmark: 1,000 rows, 1,000 rows appended", 14, (r) => {
    const a = { rows: jsfbRows(r, 1, JSFB_ROWS) };
    const b = clone(a);
    b.rows.push(...jsfbRows(r, JSFB_ROWS + 1, JSFB_ROWS));
    return [a, b];
  }],
  ["identical-1mb", "~1 MB state diffed against an identical copy", 15, (r) => {
    const a = largeState(r);
    return [a, clone(a)];
  }],
];

rmSync(OUT, { recursive: true, force: true });
const manifest = [];
for (const [name, description, seed, build] of CASES) {
  const [a, b] = build(rng(seed));
  const dir = join(OUT, name);
  mkdirSync(dir, { recursive: true });
  const textA = JSON.stringify(a), textB = JSON.stringify(b);
  writeFileSync(join(dir, "a.json"), textA);
  writeFileSync(join(dir, "b.json"), textB);
  manifest.push({ name, description, bytesA: Buffer.byteLength(textA),
    bytesB: Buffer.byteLength(textB) });
}
writeFileSync(join(OUT, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
console.log(`gen-corpus: ${manifest.length} cases in ${OUT}`);
