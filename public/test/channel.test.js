// The StateChannel core against a fake server behind a fake WebSocket (the real phoenix Socket
// runs in between): state store, patch order, buffering, gap refresh, resume, the durable
// outbox, exactly-once replay and the optimistic layer.
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, memoryStorage, STATUS, OpError } from '../src/index.js';
import { FakeServer, todoHandler, counterHandler, until } from './fake-server.js';

const sockets = [];
afterEach(async () => {
  while (sockets.length) await sockets.pop().disconnect();
});

// Timers that fire at once (next macrotask): state persistence and retries run without waiting.
const quickTimers = { setTimeout: (fn) => setTimeout(fn, 0), clearTimeout: (t) => clearTimeout(t) };

function open(server, opts = {}) {
  const socket = connect('ws://fake/socket', {
    transport: server.WebSocket,
    storage: memoryStorage(opts.shared || new Map()),
    timers: opts.timers || quickTimers,
    backoff: { reconnect: () => 5, rejoin: () => 5 },
    online: opts.online,
    timeout: opts.timeout || 1000, // bounds how long a finished test's push timers linger
    autoConnect: opts.autoConnect,
  });
  sockets.push(socket);
  return socket;
}

function newServer() {
  return new FakeServer({ todo: todoHandler, counter: counterHandler });
}

describe('server state', () => {
  test('renders the full state after joining and applies each patch in version order', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined, 2000, 'full state');
    assert.deepEqual(ch.getState(), { count: 0 });
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 5 }]);
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 6 }]);
    await until(() => ch.getStatus().version === 3);
    assert.deepEqual(ch.getState(), { count: 6 });
  });

  test('keeps the identity of untouched subtrees when a server patch arrives', async () => {
    const server = newServer();
    const ch = open(server).channel('todo:a');
    await until(() => ch.getState() !== undefined);
    server.change('todo:a', [{ op: 'add', path: '/todos/-', value: { id: 1, title: 'a', done: false } },
                             { op: 'add', path: '/todos/-', value: { id: 2, title: 'b', done: false } }]);
    await until(() => ch.getState().todos.length === 2);
    const before = ch.getState();
    server.change('todo:a', [{ op: 'replace', path: '/todos/1/done', value: true }]);
    await until(() => ch.getState() !== before);
    assert.equal(ch.getState().todos[0], before.todos[0]);
    assert.notEqual(ch.getState().todos[1], before.todos[1]);
    assert.equal(before.todos[1].done, false);
  });

  test('passes the server patch to subscribers when no optimistic update sits on top', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    const seen = [];
    ch.subscribe((state, info) => { if (info.ops) seen.push(info.ops); });
    const patch = [{ op: 'replace', path: '/count', value: 9 }];
    server.change('counter:a', patch);
    await until(() => seen.length === 1);
    assert.deepEqual(seen[0], patch);
  });

  test('buffers patches that arrive before the full state and applies them after it', async () => {
    const server = newServer();
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 1 }]); // version 2
    server.hold();
    const ch = open(server).channel('counter:a');
    await until(() => server.held.length >= 2, 2000, 'join reply and state');
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 2 }]); // version 3
    // Deliver the patch of version 3 before the state:change of version 2.
    const i = server.held.findIndex(([, f]) => f[3] === 'state:patch');
    const [patch] = server.held.splice(i, 1);
    server.held.unshift(patch);
    server.release();
    await until(() => ch.getStatus().version === 3, 2000, 'version 3');
    assert.deepEqual(ch.getState(), { count: 2 });
    assert.equal(server.events('lvs_refresh').length, 0);
  });

  test('pushes lvs_refresh once on a version gap and takes the state:change it answers', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.dropVersions.add(3);
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 1 }]); // v2
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 2 }]); // v3, lost
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 3 }]); // v4: a gap
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 4 }]); // v5
    await until(() => ch.getStatus().version === 5, 2000, 'version 5');
    assert.deepEqual(ch.getState(), { count: 4 });
    assert.equal(server.events('lvs_refresh').length, 1);
  });

  test('resumes a session with the missed patches instead of the full state', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    const session = ch.getStatus().session;
    server.goOffline();
    await until(() => ch.getStatus().status !== STATUS.ONLINE, 2000, 'disconnect');
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 7 }]);
    const changesBefore = server.sent.filter((f) => f[3] === 'state:change').length;
    server.goOnline();
    await until(() => ch.getStatus().version === 2, 2000, 'resume');
    assert.deepEqual(ch.getState(), { count: 7 });
    assert.equal(ch.getStatus().session, session);
    assert.equal(server.sent.filter((f) => f[3] === 'state:change').length, changesBefore);
    const joins = server.events('phx_join');
    assert.deepEqual(joins.at(-1)[4]._sc.session, session);
    assert.equal(joins.at(-1)[4]._sc.version, 1);
  });

  test('renders the last known state from storage before the server answers', async () => {
    const server = newServer();
    const shared = new Map();
    const ch = open(server, { shared }).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 3 }]);
    await until(() => [...shared.keys()].some((k) => k.endsWith(':state') && shared.get(k).version === 2));
    const offline = newServer();
    offline.goOffline();
    const again = open(offline, { shared }).channel('counter:a');
    await again.ready;
    assert.deepEqual(again.getState(), { count: 3 });
    assert.equal(again.getStatus().version, 2);
  });
});

describe('ops', () => {
  test('resolves a push with the server reply and numbers ops from 1 in order', async () => {
    const server = newServer();
    const ch = open(server).channel('todo:a');
    await until(() => ch.getState() !== undefined);
    const r1 = await ch.push('add', { title: 'one' });
    const r2 = await ch.push('add', { title: 'two' });
    assert.deepEqual(r1.reply, { id: 1 });
    assert.deepEqual(r2.reply, { id: 2 });
    const ops = server.events('sc:event').map((f) => f[4].op);
    assert.deepEqual(ops, [1, 2]);
    assert.equal(server.events('sc:event')[0][4].base, 1);
    await until(() => ch.getState().todos.length === 2);
  });

  test('rejects a refused op, drops its optimistic update and reports the error', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    const errors = [];
    ch.onError((e) => errors.push(e));
    const p = ch.push('refuse', {}, { optimistic: (s) => ({ ...s, count: 100 }) });
    assert.equal(ch.getState().count, 100, 'optimistic at once');
    await assert.rejects(p, (e) => e instanceof OpError && e.reason === 'out_of_range');
    assert.equal(ch.getState().count, 0);
    assert.equal(errors.length, 1);
    assert.equal(ch.getStatus().lastError.reason, 'out_of_range');
    assert.equal(ch.getStatus().pending, 0);
  });

  test('re-applies pending optimistic updates on top of every new server state', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.loseOps.add(1); // the op stays unanswered until it is replayed
    const inc = (s, p) => ({ ...s, count: s.count + p.by });
    const p = ch.push('inc', { by: 10 }, { optimistic: inc });
    assert.equal(ch.getState().count, 10, 'shown at once');
    server.change('counter:a', [{ op: 'replace', path: '/count', value: 5 }]); // another client
    await until(() => ch.getServerState().count === 5);
    assert.equal(ch.getState().count, 15, 'server 5 + pending 10');
    server.dropConnections(); // the rejoin replays the op
    await p;
    await until(() => ch.getServerState().count === 15);
    assert.equal(ch.getState().count, 15);
    assert.equal(ch.getStatus().pending, 0);
  });

  test('keeps an acknowledged update visible until the server state reaches its version', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.hold();
    const p = ch.push('inc', { by: 2 }, { optimistic: (s, q) => ({ ...s, count: s.count + q.by }) });
    await until(() => server.held.length === 2, 2000, 'patch and ack');
    // Deliver the ack first, then the patch.
    const ack = server.held.find(([, f]) => f[3] === 'phx_reply');
    const patch = server.held.find(([, f]) => f[3] === 'state:patch');
    server.held = [ack];
    server.release();
    await p;
    assert.equal(ch.getServerState().count, 0);
    assert.equal(ch.getState().count, 2, 'acked op still shown');
    server.hold();
    server.held.push(patch);
    server.release();
    await until(() => ch.getServerState().count === 2);
    assert.equal(ch.getState().count, 2);
    assert.equal(ch.getState(), ch.getServerState(), 'no optimistic layer left');
  });

  test('queues pushes made offline and replays them in order once online', async () => {
    const server = newServer();
    let online = false;
    server.goOffline();
    const ch = open(server, { online: () => online }).channel('todo:a');
    await ch.ready;
    assert.equal(ch.getStatus().status, STATUS.OFFLINE);
    const results = ['a', 'b', 'c'].map((title) => ch.push('add', { title }));
    await until(() => ch.getStatus().pending === 3);
    online = true;
    server.goOnline();
    await Promise.all(results);
    assert.deepEqual(server.applied.map((a) => a.payload.title), ['a', 'b', 'c']);
    assert.deepEqual(server.applied.map((a) => a.op), [1, 2, 3]);
    await until(() => ch.getState() && ch.getState().todos.length === 3);
    assert.equal(ch.getStatus().status, STATUS.ONLINE);
    assert.equal(ch.getStatus().pending, 0);
  });

  test('replays the outbox after a reload and the server applies each op exactly once', async () => {
    const server = newServer();
    const shared = new Map();
    const first = open(server, { shared });
    const ch = first.channel('todo:a');
    await until(() => ch.getState() !== undefined);
    server.hold(); // the server applies the ops, but the page never hears back
    ch.push('add', { title: 'x' }).catch(() => {});
    ch.push('add', { title: 'y' }).catch(() => {});
    await until(() => server.applied.length === 2, 2000, 'ops applied');
    sockets.splice(sockets.indexOf(first), 1);
    first.phx.disconnect(); // the page is gone: its replies are lost
    server.held = null;
    server.hold();
    server.held = null; // deliver from now on

    const reloaded = open(server, { shared }).channel('todo:a');
    await reloaded.ready;
    assert.equal(reloaded.getStatus().pending, 2, 'the outbox survived the reload');
    const acks = [];
    reloaded.onAck((a) => acks.push(a));
    await until(() => reloaded.getStatus().pending === 0, 2000, 'replayed');
    assert.equal(server.applied.length, 2, 'applied once');
    assert.deepEqual(acks.map((a) => a.response.duplicate), [true, true]);
    await until(() => reloaded.getState().todos.length === 2);
  });

  test('uses the reducer registered for an op reloaded from the outbox', async () => {
    const server = newServer();
    server.goOffline();
    const shared = new Map();
    const reducers = { inc: (s, p) => ({ ...s, count: s.count + p.by }) };
    const first = open(server, { shared, online: () => false });
    const a = first.channel('counter:a', {}, { reducers });
    await a.ready;
    a.push('inc', { by: 4 }).catch(() => {});
    await until(() => [...shared.keys()].some((k) => k.endsWith(':ops') && shared.get(k).ops.length === 1));
    await first.disconnect(); // the page is closed
    server.goOnline();
    const b = open(server, { shared }).channel('counter:a', {}, { reducers });
    await until(() => b.getServerState() !== undefined);
    await until(() => b.getStatus().pending === 0);
    await until(() => b.getServerState().count === 4);
    assert.equal(b.getState().count, 4);
  });

  test('renumbers pending ops from 1 when the server issues a new session', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await ch.push('inc', { by: 1 });
    await ch.push('inc', { by: 1 });
    const oldSession = ch.getStatus().session;
    server.goOffline();
    await until(() => ch.getStatus().status !== STATUS.ONLINE);
    const p = ch.push('inc', { by: 1 });
    server.sessions.clear(); // the server forgot every session
    server.goOnline();
    await p;
    assert.notEqual(ch.getStatus().session, oldSession);
    assert.deepEqual(server.applied.map((a) => a.op), [1, 2, 1]);
    await until(() => ch.getServerState().count === 3);
  });

  test('resends from the expected op after an op_gap and applies each op once', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.loseOps.add(1); // the network loses op 1; op 2 then arrives out of turn
    const p1 = ch.push('inc', { by: 1 });
    const p2 = ch.push('inc', { by: 2 });
    await Promise.all([p1, p2]);
    assert.deepEqual(server.applied.map((a) => a.op), [1, 2]);
    assert.deepEqual(server.applied.map((a) => a.payload.by), [1, 2]);
    await until(() => ch.getServerState().count === 3);
  });

  test('resends an op whose reply timed out and takes the duplicate answer', async () => {
    const server = newServer();
    const ch = open(server, { timeout: 50 }).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.hold();
    const p = ch.push('inc', { by: 1 });
    await until(() => server.events('sc:event').length === 2, 2000, 'resend after timeout');
    server.held = null;
    server.release();
    const r = await p;
    assert.equal(r.duplicate, true);
    assert.equal(server.applied.length, 1);
  });
});

test('sends an op even when storage refuses to keep it, and reports the storage error', async () => {
  const server = newServer();
  const base = memoryStorage();
  const storage = { ...base, kind: 'broken', set: async (key) => { throw new Error(`quota exceeded (${key})`); } };
  const socket = connect('ws://fake/socket', { transport: server.WebSocket, storage, timeout: 1000 });
  sockets.push(socket);
  const ch = socket.channel('counter:a');
  await until(() => ch.getState() !== undefined);
  const r = await ch.push('inc', { by: 2 });
  assert.equal(r.op, 1);
  assert.equal(ch.getStatus().lastError.reason, 'storage');
  assert.deepEqual(server.applied.map((a) => a.payload.by), [2]);
});

describe('status', () => {
  test('goes connecting, online, reconnecting, offline and online again', async () => {
    const server = newServer();
    let online = true;
    const socket = open(server, { online: () => online });
    const ch = socket.channel('counter:a');
    const seen = [];
    ch.subscribe(() => { const s = ch.getStatus().status; if (seen.at(-1) !== s) seen.push(s); });
    assert.equal(ch.getStatus().status, STATUS.CONNECTING);
    await until(() => ch.getStatus().status === STATUS.ONLINE);
    server.goOffline();
    await until(() => ch.getStatus().status === STATUS.RECONNECTING);
    online = false;
    for (const fn of socket._statusListeners) fn(); // the browser's offline event
    assert.equal(ch.getStatus().status, STATUS.OFFLINE);
    online = true;
    server.goOnline();
    await until(() => ch.getStatus().status === STATUS.ONLINE);
    assert.deepEqual(seen, [STATUS.ONLINE, STATUS.RECONNECTING, STATUS.OFFLINE, STATUS.RECONNECTING, STATUS.ONLINE]);
  });

  test('counts pending ops until they are acknowledged', async () => {
    const server = newServer();
    const ch = open(server).channel('counter:a');
    await until(() => ch.getState() !== undefined);
    server.hold();
    const p = ch.push('inc', { by: 1 });
    await until(() => ch.getStatus().pending === 1);
    server.release();
    await p;
    assert.equal(ch.getStatus().pending, 0);
  });
});
