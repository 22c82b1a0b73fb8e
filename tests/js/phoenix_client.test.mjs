// The real `phoenix` npm client (1.8) against the real server, over `ws` in Node 20: join,
// pushes with replies, heartbeats, leave, refused and unmatched joins, rejoin after a server
// restart, and two topics on one socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { startServer } from './lib/server.mjs';
import { once, until, reply, WAIT_MS } from './lib/wait.mjs';

// Fast retries so reconnect tests take ~100 ms per try rather than the client's 1-10 s.
const RETRY_MS = 100;

let server;
const sockets = [];
function socket(srv = server, opts = {}) {
  const s = new Socket(srv.wsUrl, {
    transport: WebSocket,
    reconnectAfterMs: () => RETRY_MS,
    rejoinAfterMs: () => RETRY_MS,
    ...opts,
  });
  s.connect();
  sockets.push(s);
  return s;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await server?.stop();
});

// Joins topic on s; resolves with {channel, reply, state} once the state:change arrived.
async function joined(s, topic, params = {}) {
  const channel = s.channel(topic, params);
  const stateChange = once((cb) => channel.on('state:change', cb), `state:change of ${topic}`);
  const r = await reply(channel.join());
  assert.equal(r.status, 'ok', JSON.stringify(r.response));
  return { channel, reply: r.response, state: await stateChange };
}

test('join is answered ok with a session, then the full state', async () => {
  const { reply: r, state } = await joined(socket(), 'counter:phx-join');
  assert.equal(typeof r.session, 'string');
  assert.ok(r.session.length >= 22, 'a session id carries >= 128 random bits');
  assert.deepEqual(state.state, { count: 0 });
  assert.equal(typeof state.version, 'number');
});

test('a push gets its reply: ok with the new version, or the handler\'s error', async () => {
  const { channel, state } = await joined(socket(), 'counter:phx-push');
  const patch = once((cb) => channel.on('state:patch', cb), 'state:patch');
  const ok = await reply(channel.push('sc:event', { name: 'inc', payload: { by: 2 }, op: 1 }));
  assert.equal(ok.status, 'ok');
  assert.equal(ok.response.op, 1);
  assert.equal(ok.response.version, state.version + 1);
  assert.deepEqual((await patch).patch, [{ op: 'replace', path: '/count', value: 2 }]);

  const bad = await reply(channel.push('sc:event', { name: 'inc', payload: { by: 'x' }, op: 2 }));
  assert.equal(bad.status, 'error');
  assert.equal(bad.response.reason, 'invalid_payload');
  assert.equal(bad.response.op, 2);
});

test('heartbeats are answered, so the socket stays up', async () => {
  const s = socket(server, { heartbeatIntervalMs: 100 });
  const seen = [];
  s.onMessage((msg) => {
    if (msg.topic === 'phoenix' && msg.event === 'phx_reply') seen.push(msg.payload.status);
  });
  await until(() => seen.length >= 3, 'three heartbeat replies');
  assert.ok(seen.every((status) => status === 'ok'));
  assert.ok(s.isConnected());
});

test('leave is answered ok and closes the channel', async () => {
  const { channel } = await joined(socket(), 'counter:phx-leave');
  const closed = once((cb) => channel.onClose(cb), 'channel close');
  const r = await reply(channel.leave());
  assert.equal(r.status, 'ok');
  await closed;
  assert.equal(channel.state, 'closed');
});

test('a join of an invalid topic is refused with its reason', async () => {
  const channel = socket().channel('counter:');
  const r = await reply(channel.join());
  assert.equal(r.status, 'error');
  assert.equal(r.response.reason, 'invalid topic');
  channel.leave(); // stop the client's rejoin attempts
});

test('a join of a topic no handler serves is refused as unmatched topic', async () => {
  const channel = socket().channel('nosuchhandler:1');
  const r = await reply(channel.join());
  assert.equal(r.status, 'error');
  assert.equal(r.response.reason, 'unmatched topic');
  channel.leave();
});

test('after the server restarts on the same port, the client reconnects and rejoins', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sc-phx-'));
  let srv = await startServer({ dataDir });
  try {
    const s = socket(srv);
    const { channel } = await joined(s, 'counter:phx-restart');
    await reply(channel.push('sc:event', { name: 'inc', payload: {}, op: 1 }));
    const rejoined = once((cb) => channel.on('state:change', cb), 'state:change after rejoin',
      3 * WAIT_MS);
    await srv.stop();
    srv = await startServer({ dataDir, port: srv.port });
    const state = await rejoined;
    assert.equal(channel.state, 'joined');
    assert.equal(typeof state.state.count, 'number');
    const r = await reply(channel.push('sc:event', { name: 'inc', payload: {}, op: 1 }));
    assert.equal(r.status, 'ok', JSON.stringify(r.response));
    s.disconnect();
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('two topics on one socket each get their own state and patches', async () => {
  const s = socket();
  const counter = await joined(s, 'counter:phx-two');
  const todo = await joined(s, 'todo:phx-two');
  assert.deepEqual(counter.state.state, { count: 0 });
  assert.deepEqual(todo.state.state, { todos: [], next_id: 1 });
  // Each change reaches only its own channel, as a patch or (when smaller) the full state.
  const updates = { counter: [], todo: [] };
  for (const [name, { channel }] of Object.entries({ counter, todo })) {
    channel.on('state:patch', (p) => updates[name].push(p));
    channel.on('state:change', (p) => updates[name].push(p));
  }
  await reply(todo.channel.push('sc:event', { name: 'add', payload: { title: 'x' }, op: 1 }));
  await reply(counter.channel.push('sc:event', { name: 'inc', payload: {}, op: 1 }));
  await until(() => updates.counter.length === 1 && updates.todo.length === 1, 'one update each');
  assert.deepEqual(updates.counter[0].patch, [{ op: 'replace', path: '/count', value: 1 }]);
  assert.equal(updates.counter[0].version, counter.state.version + 1);
  assert.equal(updates.todo[0].version, todo.state.version + 1);
  assert.ok(!JSON.stringify(updates.counter).includes('todos'));
});
