// handlers.mjs -- the demo handlers (counter, todo, table) of handlers/*.c, rewritten the way a
// Node developer would: each event is a pure function from the current state to the next one
// (immutable updates, untouched parts shared), and the server diffs the two with
// fast-json-patch. Event names, payload rules, error reasons and messages, state shapes and key
// order are those of the C handlers, so the same event sequence yields the same state on both
// servers (tests/js/peer_node.test.mjs checks it).
//
// A handler is { name, scope, init(instance), event(instance, name, payload) }:
//   scope    "topic": one state per topic shared by its subscribers; "connection": one per join
//   init     returns the initial state, or throws HandlerError (e.g. "invalid topic")
//   event    returns the next state (may be the same object: nothing changed), or throws
//            HandlerError with the C handler's reason and message; the state is then unchanged
// instance is { topic, id (after "name:"), state, version, data (the handler's own, e.g. the
// table's generator) }.
//
// Cost: counter O(1); todo O(items) per event (<= TODO_MAX_ITEMS); table run/add O(rows made),
// update/remove/select O(rows). The diff the server runs afterwards is O(state) on top.

export class HandlerError extends Error {
  constructor(reason, message) {
    super(message ?? reason);
    this.reason = reason;
    this.detail = message; // the reply's "message"; absent for reasons that speak for themselves
  }
}

const fail = (reason, message) => { throw new HandlerError(reason, message); };

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// Topic ids are names (sc_topic_id_is_name): 1..max of [A-Za-z0-9_-].
const isName = (id, max) => id.length >= 1 && id.length <= max && /^[A-Za-z0-9_-]+$/.test(id);

// printf("%.0f", x), which the C handlers use in messages: rounds half to even, never uses an
// exponent.
function fmt0(x) {
  let r = Math.round(x);
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) r -= 1;
  return Number.isSafeInteger(r) || !Number.isFinite(r) ? String(r) : BigInt(r).toString();
}

// ---- counter -----------------------------------------------------------------------------------

// Longest topic id accepted: ids are names, not data.
const COUNTER_MAX_ID_LEN = 64;
// Largest step of one event (as COUNTER_MAX_STEP in handlers/counter.c).
const COUNTER_MAX_STEP = 1e9;
// Largest absolute count: 2^53 - 1, the largest integer a JS number holds exactly.
const COUNTER_MAX_ABS = Number.MAX_SAFE_INTEGER;

function readStep(payload) {
  if (payload === undefined || payload === null) return 1;
  if (!isObject(payload)) fail('invalid_payload', 'the payload must be an object');
  const { by } = payload;
  if (by === undefined) return 1;
  if (typeof by !== 'number' || !Number.isInteger(by) || Math.abs(by) > COUNTER_MAX_STEP)
    fail('invalid_payload', `"by" must be an integer of at most ${fmt0(COUNTER_MAX_STEP)}`);
  return by;
}

const counter = {
  name: 'counter',
  scope: 'topic',
  init({ id }) {
    if (!isName(id, COUNTER_MAX_ID_LEN))
      fail('invalid topic', `use counter:<id>, id of 1..${COUNTER_MAX_ID_LEN} [A-Za-z0-9_-]`);
    return { count: 0 };
  },
  event({ state }, name, payload) {
    if (name === 'reset') return { ...state, count: 0 };
    if (name !== 'inc' && name !== 'dec') fail('unknown_event', `counter has no event "${name}"`);
    const step = readStep(payload);
    const next = state.count + (name === 'inc' ? step : -step);
    if (Math.abs(next) > COUNTER_MAX_ABS)
      fail('out_of_range', `the count must stay within +-${fmt0(COUNTER_MAX_ABS)}`);
    return { ...state, count: next };
  },
};

// ---- todo --------------------------------------------------------------------------------------

// Longest topic id accepted: ids are names, not data.
const TODO_MAX_ID_LEN = 64;
// Items per list (as handlers/todo.c): bounds the state and each diff.
const TODO_MAX_ITEMS = 1000;
// Bytes of a title after trimming: a one-line task, not a document.
const TODO_MAX_TITLE = 1024;
// Largest item id: the largest integer a JS number holds exactly.
const TODO_MAX_ITEM_ID = Number.MAX_SAFE_INTEGER;

// The C handler trims ASCII white space only (String.prototype.trim would also take U+00A0 etc.).
const ASCII_SPACE_EDGES = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;

function readTitle(payload) {
  if (typeof payload.title !== 'string') fail('invalid_payload', '"title" must be a string');
  const title = payload.title.replace(ASCII_SPACE_EDGES, '');
  const bytes = Buffer.byteLength(title);
  if (bytes === 0 || bytes > TODO_MAX_TITLE)
    fail('invalid_payload', `"title" must be 1..${TODO_MAX_TITLE} bytes after trimming`);
  return title;
}

// Index of the item whose id is payload.id.
function findItem(todos, payload) {
  const { id } = payload;
  if (typeof id !== 'number') fail('invalid_payload', '"id" must be a number');
  const index = todos.findIndex((item) => item.id === id);
  if (index < 0) fail('not_found', `no todo with id ${fmt0(id)}`);
  return index;
}

const replaceAt = (array, index, value) => array.map((v, i) => (i === index ? value : v));

const NEEDS_OBJECT = new Set(['add', 'toggle', 'edit', 'remove']);

const todo = {
  name: 'todo',
  scope: 'topic',
  init({ id }) {
    if (!isName(id, TODO_MAX_ID_LEN))
      fail('invalid topic', `use todo:<id>, id of 1..${TODO_MAX_ID_LEN} [A-Za-z0-9_-]`);
    return { todos: [], next_id: 1 };
  },
  event({ state }, name, payload) {
    const { todos } = state;
    if (NEEDS_OBJECT.has(name) && !isObject(payload))
      fail('invalid_payload', `${name} needs an object payload`);
    switch (name) {
      case 'add': {
        if (state.next_id >= TODO_MAX_ITEM_ID)
          fail('handler_error', '"next_id" is missing or exhausted');
        if (todos.length >= TODO_MAX_ITEMS)
          fail('too_many_items', `a list holds at most ${TODO_MAX_ITEMS} items`);
        const item = { id: state.next_id, title: readTitle(payload), done: false };
        return { ...state, todos: [...todos, item], next_id: state.next_id + 1 };
      }
      case 'toggle_all': {
        const done = !todos.every((item) => item.done === true);
        return { ...state, todos: todos.map((item) => ({ ...item, done })) };
      }
      case 'clear_completed':
        return { ...state, todos: todos.filter((item) => item.done !== true) };
      case 'toggle': {
        const i = findItem(todos, payload);
        return { ...state, todos: replaceAt(todos, i, { ...todos[i], done: todos[i].done !== true }) };
      }
      case 'edit': {
        const title = readTitle(payload); // before the lookup, as the C handler: a bad payload
        const i = findItem(todos, payload); // is invalid_payload whatever its id
        return { ...state, todos: replaceAt(todos, i, { ...todos[i], title }) };
      }
      case 'remove': {
        const i = findItem(todos, payload);
        return { ...state, todos: todos.filter((_, j) => j !== i) };
      }
      default:
        return fail('unknown_event', `todo has no event "${name}"`);
    }
  },
};

// ---- table -------------------------------------------------------------------------------------

// Longest topic id accepted: ids are names, not data.
const TABLE_MAX_ID_LEN = 64;
// Rows made by run and add, and by runlots (the js-framework-benchmark's 1,000 and 10,000).
const TABLE_RUN_ROWS = 1000;
const TABLE_RUNLOTS_ROWS = 10000;
// Rows one table may hold: runlots plus a few adds; bounds a client's state.
const TABLE_MAX_ROWS = 50000;
// update touches every TABLE_UPDATE_STRIDE-th row (the benchmark's every 10th).
const TABLE_UPDATE_STRIDE = 10;
// The rows swaprows exchanges (the benchmark's second and 999th).
const TABLE_SWAP_A = 1;
const TABLE_SWAP_B = 998;
// update leaves a label alone once it is this long (handlers/table.c: its label buffer is 256
// bytes and needs room for " !!!" and the NUL).
const TABLE_MAX_LABEL = 256;

const ADJECTIVES = ['pretty', 'large', 'big', 'small', 'tall', 'short', 'long', 'handsome',
  'plain', 'quaint', 'clean', 'elegant', 'easy', 'angry', 'crazy', 'helpful', 'mushy', 'odd',
  'unsightly', 'adorable', 'important', 'inexpensive', 'cheap', 'expensive', 'fancy'];
const COLOURS = ['red', 'yellow', 'blue', 'green', 'pink', 'brown', 'purple', 'brown', 'white',
  'black', 'orange'];
const NOUNS = ['table', 'chair', 'house', 'bbq', 'desk', 'car', 'pony', 'cookie', 'sandwich',
  'burger', 'pizza', 'mouse', 'keyboard'];

const U64 = (x) => BigInt.asUintN(64, x);

// FNV-1a of the topic's bytes mixed with salt; never 0 (xorshift's one fixed point). Same
// labels as the C handler for the same topic.
function seedOf(topic, salt) {
  let h = U64(0xcbf29ce484222325n ^ BigInt(salt));
  for (const byte of Buffer.from(topic)) h = U64((h ^ BigInt(byte)) * 0x100000001b3n);
  return h !== 0n ? h : 1n;
}

// xorshift64*: one 64-bit draw; advances g.rng.
function nextRandom(g) {
  let x = g.rng;
  x ^= x >> 12n;
  x = U64(x ^ (x << 25n));
  x ^= x >> 27n;
  g.rng = x;
  return U64(x * 0x2545f4914f6cdd1dn);
}

// The instance's generator and next row id, made on first use (from the rows, as the C
// handler does for a resumed table).
function generator(inst) {
  if (inst.data.table === undefined) {
    const nextId = inst.state.rows.reduce((max, row) => Math.max(max, row.id + 1), 1);
    inst.data.table = { nextId, rng: seedOf(inst.topic, nextId) };
  }
  return inst.data.table;
}

function makeRows(inst, n) {
  const g = generator(inst);
  const rows = new Array(n);
  for (let i = 0; i < n; i++) {
    const r = nextRandom(g); // three draws from one 64-bit value
    const label = `${ADJECTIVES[Number(r % 25n)]} ${COLOURS[Number((r >> 16n) % 11n)]} ` +
      NOUNS[Number((r >> 32n) % 13n)];
    rows[i] = { id: g.nextId++, label };
  }
  return rows;
}

function make(inst, n, replace) {
  const { state } = inst;
  const kept = replace ? 0 : state.rows.length;
  if (kept + n > TABLE_MAX_ROWS)
    fail('too_many_rows', `a table holds at most ${TABLE_MAX_ROWS} rows`);
  const fresh = makeRows(inst, n);
  if (replace) return { ...state, rows: fresh, selected: null };
  return { ...state, rows: state.rows.concat(fresh) };
}

function findRow(rows, payload) {
  const { id } = payload;
  if (typeof id !== 'number') fail('invalid_payload', '"id" must be a number');
  const index = rows.findIndex((row) => row.id === id);
  if (index < 0) fail('not_found', `no row with id ${fmt0(id)}`);
  return index;
}

const table = {
  name: 'table',
  scope: 'connection',
  init({ id }) {
    if (!isName(id, TABLE_MAX_ID_LEN))
      fail('invalid topic', `use table:<id>, id of 1..${TABLE_MAX_ID_LEN} [A-Za-z0-9_-]`);
    return { rows: [], selected: null };
  },
  event(inst, name, payload) {
    const { state } = inst;
    const { rows } = state;
    switch (name) {
      case 'run': return make(inst, TABLE_RUN_ROWS, true);
      case 'runlots': return make(inst, TABLE_RUNLOTS_ROWS, true);
      case 'add': return make(inst, TABLE_RUN_ROWS, false);
      case 'update':
        return {
          ...state,
          rows: rows.map((row, i) => (i % TABLE_UPDATE_STRIDE === 0 &&
            Buffer.byteLength(row.label) + 4 < TABLE_MAX_LABEL
            ? { ...row, label: `${row.label} !!!` } : row)),
        };
      case 'swaprows': {
        if (rows.length <= TABLE_SWAP_B) return state;
        const next = rows.slice();
        next[TABLE_SWAP_A] = rows[TABLE_SWAP_B];
        next[TABLE_SWAP_B] = rows[TABLE_SWAP_A];
        return { ...state, rows: next };
      }
      case 'clear':
        return rows.length === 0 ? state : { ...state, rows: [], selected: null };
      case 'remove':
      case 'select': {
        if (!isObject(payload)) fail('invalid_payload', `${name} needs {"id": number}`);
        const i = findRow(rows, payload);
        if (name === 'select') return { ...state, selected: rows[i].id };
        const selected = state.selected === rows[i].id ? null : state.selected;
        return { ...state, rows: rows.filter((_, j) => j !== i), selected };
      }
      default:
        return fail('unknown_event', `table has no event "${name}"`);
    }
  },
};

// The handler whose pattern ("<name>:*") matches topic, or undefined.
const HANDLERS = new Map([counter, todo, table].map((h) => [h.name, h]));
export function handlerFor(topic) {
  const colon = topic.indexOf(':');
  return colon < 0 ? undefined : HANDLERS.get(topic.slice(0, colon));
}
