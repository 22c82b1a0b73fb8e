// The Node baseline of the benchmarks (bench/peers/node/server.mjs) speaks our demo protocol:
// the real `phoenix` client joins, gets replies, follows the state through state:change and
// state:patch frames on counter, todo and table; and the same event sequence, sent to the
// peer and to our real server, gives the same replies, versions and states (a parity test, so
// a benchmark of the two compares the same work).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { startServer } from './lib/server.mjs';
import { applyPatch } from './lib/jsonpatch.mjs';
import { once, until, reply } from './lib/wait.mjs';

const PEER = new URL('../../bench/peers/node/server.mjs', import.meta.url).pathname;
// Generous for a loaded machine 2-3x slower than ours: a node start-up, a 1,000-row table diff.
const START_MS = 20000;
const WAIT_MS = 15000;
// The peer exits within 2 s of SIGTERM; past this a stuck one is killed so the file ends.
const STOP_MS = 10000;

// Starts the peer on a kernel-chosen port; resolves once it printed "listening on N".
async function startPeer() {
  const proc = spawn(process.execPath, [PEER, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  proc.stderr.on('data', (d) => { output += d; });
  let port;
  try {
    port = await once((done) => {
      let line = '';
      proc.stdout.on('data', (d) => {
        line += d;
        const m = /listening on (\d+)\n/.exec(line);
        if (m) done(Number(m[1]));
      });
      exited.then(() => done(null));
    }, 'the peer to print "listening on N"', START_MS);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  if (port === null) throw new Error(`the peer exited during start-up:\n${output}`);
  return {
    proc, exited, port,
    wsUrl: `ws://127.0.0.1:${port}/socket`,
    output: () => output,
    // SIGTERM; SIGKILL if it has not exited after STOP_MS (the SIGTERM test checks the exit).
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_MS);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

let peer;
let ours;
const sockets = [];

function socket(url) {
  const s = new Socket(url, { transport: WebSocket, reconnectAfterMs: () => 100, rejoinAfterMs: () => 100 });
  s.connect();
  sockets.push(s);
  return s;
}

before(async () => {
  // Both start at once; if one fails, the other is still stopped by after().
  const [p, o] = await Promise.allSettled([startPeer(), startServer()]);
  [peer, ours] = [p.value, o.value];
  for (const r of [p, o]) if (r.status === 'rejected') throw r.reason;
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await Promise.all([peer?.stop(), ours?.stop()]);
});

// Joins topic; the returned view follows the state through every state:change / state:patch
// and checks that versions go up by exactly one per patch.
async function join(s, topic) {
  const channel = s.channel(topic, {});
  const view = { channel, state: undefined, version: undefined, patches: 0, errors: [] };
  const first = once((cb) => channel.on('state:change', cb), `state:change of ${topic}`, WAIT_MS);
  channel.on('state:change', ({ state, version }) => Object.assign(view, { state, version }));
  channel.on('state:patch', ({ patch, version }) => {
    if (version !== view.version + 1) view.errors.push(`patch ${version} after ${view.version}`);
    view.state = applyPatch(view.state, patch);
    view.version = version;
    view.patches++;
  });
  view.reply = await reply(channel.join(), WAIT_MS);
  assert.equal(view.reply.status, 'ok', JSON.stringify(view.reply.response));
  await first;
  return view;
}

const send = (view, name, payload = {}) => reply(view.channel.push(`lvs_evt:${name}`, payload), WAIT_MS);

test('join is answered ok with a session and version, then the full state, on every demo topic', async () => {
  const s = socket(peer.wsUrl);
  const expected = {
    'counter:join': { count: 0 },
    'todo:join': { todos: [], next_id: 1 },
    'table:join': { rows: [], selected: null },
  };
  for (const [topic, state] of Object.entries(expected)) {
    const view = await join(s, topic);
    assert.match(view.reply.response.session, /^[0-9a-f]{32}$/);
    assert.equal(view.reply.response.version, 1);
    assert.deepEqual(view.state, state);
    assert.equal(view.version, 1);
  }
});

test('an event is answered ok after its state:patch, which carries the next version', async () => {
  const view = await join(socket(peer.wsUrl), 'counter:patch');
  const patch = once((cb) => view.channel.on('state:patch', cb), 'state:patch', WAIT_MS);
  assert.deepEqual(await send(view, 'inc', { by: 2 }), { status: 'ok', response: {} });
  assert.deepEqual(await patch, { patch: [{ op: 'replace', path: '/count', value: 2 }], version: 2 });
  assert.deepEqual(view.state, { count: 2 });
  assert.deepEqual(await send(view, 'inc', { by: 'x' }), {
    status: 'error',
    response: { reason: 'invalid_payload', message: '"by" must be an integer of at most 1000000000' },
  });
  assert.equal(view.version, 2, 'a refused event publishes nothing');
});

test('a per-topic change reaches every subscriber; a table is private to its connection', async () => {
  const [a, b] = [socket(peer.wsUrl), socket(peer.wsUrl)];
  const [ca, cb] = [await join(a, 'counter:shared'), await join(b, 'counter:shared')];
  await send(ca, 'inc', { by: 3 });
  await until(() => cb.state.count === 3, 'the other subscriber to see the count', WAIT_MS);
  assert.equal(cb.version, ca.version);

  const [ta, tb] = [await join(a, 'table:same'), await join(b, 'table:same')];
  assert.equal((await send(ta, 'run')).status, 'ok');
  assert.equal(ta.state.rows.length, 1000);
  const refreshed = once((done) => tb.channel.on('state:change', done), 'state:change', WAIT_MS);
  assert.equal((await reply(tb.channel.push('lvs_refresh', {}), WAIT_MS)).status, 'ok');
  assert.deepEqual((await refreshed).state, { rows: [], selected: null });
});

test('heartbeats are answered ok', async () => {
  const s = new Socket(peer.wsUrl, { transport: WebSocket, heartbeatIntervalMs: 100 });
  sockets.push(s);
  const seen = [];
  s.onMessage((msg) => {
    if (msg.topic === 'phoenix' && msg.event === 'phx_reply') seen.push(msg.payload.status);
  });
  s.connect();
  await until(() => seen.length >= 3, 'three heartbeat replies', WAIT_MS);
  assert.ok(seen.every((status) => status === 'ok'));
});

// The parity sequences: every event of every demo handler, valid and refused, including the
// edge cases of their payload rules. A step is [event, payload]; "sc:event" steps go as is.
const SEQUENCES = {
  counter: [
    ['inc', {}], ['inc', { by: 5 }], ['dec', { by: 2 }], ['inc', null], ['inc', { by: 'x' }],
    ['inc', { by: 1.5 }], ['inc', { by: 1e9 + 1 }], ['inc', []], ['dec', { by: -4 }],
    ['reset', {}], ['reset', {}], ['nope', {}], ['inc', { by: 1e9 }],
    ['sc:event', { name: 'inc', payload: { by: 7 }, op: 1 }],
    ['sc:event', { name: 'dec', op: 2 }],
    ['sc:event', { name: 'inc', payload: { by: 7 }, op: 1 }],
    ['sc:event', { name: 'inc', op: 5 }],
    ['sc:event', { name: 'inc', payload: { by: 'y' }, op: 3 }],
    ['sc:event', { name: 'inc' }],
  ],
  todo: [
    ['add', { title: '  buy milk \t' }], ['add', { title: 'walk the dog' }], ['add', { title: ' ' }],
    ['add', { title: 5 }], ['add', null], ['add', { title: '\u00a0nbsp\u00a0' }],
    ['toggle', { id: 1 }], ['edit', { id: 2, title: ' walk the cat ' }], ['edit', { id: 99, title: '' }],
    ['toggle', { id: 99 }], ['toggle', { id: '1' }], ['toggle_all', {}], ['toggle_all', null],
    ['toggle', { id: 2 }], ['clear_completed', {}], ['remove', { id: 1 }], ['add', { title: 'x' }],
    ['remove', { id: 1 }], ['toggle', { id: 3 }], ['toggle_all', {}], ['clear_completed', 5],
    ['add', { title: 'y' }], ['remove', []], ['zap', {}], ['edit', { id: 5, title: 'why' }],
  ],
  table: [
    ['select', { id: 1 }], ['clear', {}], ['swaprows', {}], ['run', {}], ['update', {}],
    ['select', { id: 5 }], ['select', { id: 5 }], ['swaprows', {}], ['remove', { id: 5 }],
    ['remove', { id: 5 }], ['swaprows', {}], ['remove', { id: 1000 }], ['swaprows', {}],
    ['select', { id: 'x' }], ['remove', null], ['add', {}], ['update', {}],
    ['select', { id: 1500 }], ['run', {}], ['remove', { id: 2001 }], ['clear', {}], ['clear', {}],
    ['add', {}], ['zap', {}],
  ],
};

// Runs a sequence on one server; returns what a client saw after each step: the reply, and
// the state and version it followed through the frames that came before that reply.
async function drive(url, kind) {
  const view = await join(socket(url), `${kind}:parity`);
  const steps = [];
  for (const [event, payload] of SEQUENCES[kind]) {
    const push = event === 'sc:event' ? view.channel.push(event, payload)
      : view.channel.push(`lvs_evt:${event}`, payload);
    const r = await reply(push, WAIT_MS);
    steps.push({ event, payload, reply: r, version: view.version, state: structuredClone(view.state) });
  }
  assert.deepEqual(view.errors, [], 'versions go up by exactly one per patch');
  return steps;
}

// JSON with sorted keys: the key order of a followed state depends on how patches were applied.
const canonical = (v) => JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([k1], [k2]) => (k1 < k2 ? -1 : 1))) : x));

// The first row (or item) where two states differ, so that a failure names it instead of
// printing two 1,000-row arrays.
function firstDifference(a, b) {
  for (const key of ['rows', 'todos']) {
    if (!Array.isArray(a?.[key]) || !Array.isArray(b?.[key])) continue;
    const i = a[key].findIndex((v, j) => canonical(v) !== canonical(b[key][j]));
    if (i >= 0) return { [`${key}[${i}]`]: [a[key][i], b[key][i]] };
    if (a[key].length !== b[key].length) return { [`${key}.length`]: [a[key].length, b[key].length] };
  }
  return null;
}

for (const kind of Object.keys(SEQUENCES)) {
  test(`${kind}: the same events give the same replies, versions and states as our server`, async () => {
    const [theirs, mine] = await Promise.all([drive(peer.wsUrl, kind), drive(ours.wsUrl, kind)]);
    for (let i = 0; i < mine.length; i++) {
      const { state, ...step } = theirs[i];
      const { state: expected, ...expectedStep } = mine[i];
      const at = `step ${i} (${step.event} ${JSON.stringify(step.payload)})`;
      assert.deepEqual(step, expectedStep, at);
      assert.equal(firstDifference(state, expected), null, at);
      assert.deepEqual(state, expected, at);
    }
    assert.ok(mine.at(-1).version > 3, 'the sequence changed the state');
  });
}

test('SIGTERM closes the sockets with 1001 and the peer exits 0', async () => {
  const own = await startPeer();
  try {
    const ws = new WebSocket(`${own.wsUrl}/websocket?vsn=2.0.0`);
    await once((done) => ws.once('open', done), 'open', WAIT_MS);
    const closed = once((done) => ws.once('close', (code) => done(code)), 'close', WAIT_MS);
    own.proc.kill('SIGTERM');
    assert.equal(await closed, 1001);
    assert.deepEqual(await once((done) => own.exited.then(done), 'exit', WAIT_MS),
      { code: 0, signal: null });
  } finally {
    own.proc.kill('SIGKILL');
  }
});
