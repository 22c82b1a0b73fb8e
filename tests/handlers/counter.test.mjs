// handlers/counter.c against the real server: events, payload validation, shared topics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../js/lib/server.mjs';
import { RawClient, WAIT_MS } from '../js/lib/phx.mjs';

// Long enough for a patch that would wrongly follow a refused event to arrive.
const QUIET_MS = 300;

let server;
const clients = [];
async function client() {
  const c = await RawClient.connect(server.wsUrl);
  clients.push(c);
  return c;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const c of clients) c.ws.terminate();
  await server?.stop();
});

test('a new counter starts at zero', async () => {
  const t = await (await client()).join('counter:fresh');
  assert.equal(t.reply.status, 'ok');
  assert.deepEqual(t.state, { count: 0 });
});

test('inc without a payload adds one with a single replace of /count', async () => {
  const c = await client();
  const t = await c.join('counter:inc1');
  const { reply, patch } = await c.event(t, 'inc');
  assert.equal(reply.status, 'ok');
  assert.deepEqual(patch.patch, [{ op: 'replace', path: '/count', value: 1 }]);
  assert.deepEqual(t.state, { count: 1 });
});

test('inc and dec take "by" and reset returns to zero', async () => {
  const c = await client();
  const t = await c.join('counter:steps');
  await c.event(t, 'inc', { by: 5 });
  assert.equal(t.state.count, 5);
  await c.event(t, 'dec', { by: 7 });
  assert.equal(t.state.count, -2);
  await c.event(t, 'dec');
  assert.equal(t.state.count, -3);
  await c.event(t, 'reset');
  assert.deepEqual(t.state, { count: 0 });
  assert.deepEqual(t.errors, []);
});

test('malformed payloads are refused with invalid_payload and change nothing', async () => {
  const c = await client();
  const t = await c.join('counter:bad');
  await c.event(t, 'inc', { by: 2 });
  const version = t.version;
  for (const payload of [{ by: 'x' }, { by: 1.5 }, { by: 1e12 }, { by: null }, [1], 'inc']) {
    const { reply, patch } = await c.event(t, 'inc', payload);
    assert.equal(reply.status, 'error', JSON.stringify(payload));
    assert.equal(reply.response.reason, 'invalid_payload', JSON.stringify(payload));
    assert.equal(patch, null);
  }
  assert.ok(await c.nothing((f) => f.event === 'state:patch' && f.topic === t.topic, QUIET_MS));
  assert.equal(t.version, version);
  assert.deepEqual(t.state, { count: 2 });
});

test('an unknown event is refused with unknown_event', async () => {
  const c = await client();
  const t = await c.join('counter:unknown');
  const { reply } = await c.event(t, 'explode');
  assert.equal(reply.status, 'error');
  assert.equal(reply.response.reason, 'unknown_event');
});

test('joins with an empty or malformed id are refused as invalid topic', async () => {
  const c = await client();
  for (const topic of ['counter:', 'counter:a/b', `counter:${'x'.repeat(65)}`]) {
    const t = await c.join(topic);
    assert.equal(t.reply.status, 'error', topic);
    assert.equal(t.reply.response.reason, 'invalid topic', topic);
  }
});

test('a second client sees the change of a shared counter', async () => {
  const a = await client();
  const b = await client();
  const ta = await a.join('counter:shared');
  const tb = await b.join('counter:shared');
  const { reply } = await a.event(ta, 'inc', { by: 3 });
  await tb.waitVersion(reply.response.version);
  assert.deepEqual(tb.state, { count: 3 });
  assert.deepEqual(tb.errors, []);
});

test('LiveState events (lvs_evt:inc) change the counter too', async () => {
  const c = await client();
  const t = await c.join('counter:lvs');
  const version = t.version;
  c.send(t.joinRef, t.topic, 'lvs_evt:inc', { by: 4 });
  await t.waitVersion(version + 1, WAIT_MS);
  assert.deepEqual(t.state, { count: 4 });
});

test('the same counter serves the StateChannel dialect, shared with LiveState clients', async () => {
  const sc = await RawClient.connect(`ws://127.0.0.1:${server.port}/statechannel`);
  clients.push(sc);
  const lvs = await client();
  const watcher = await lvs.join('counter:dialects');

  sc.sendRaw(['1', '1', 'counter:dialects', 'phx_join', {}]);
  assert.equal((await sc.reply('counter:dialects', '1')).payload.status, 'ok');
  const set = await sc.next((f) => f.event === 'set_state', WAIT_MS, 'set_state');
  assert.deepEqual(set.payload.state, { count: 0 });

  sc.sendRaw(['1', '2', 'counter:dialects', '_SCMSG:inc',
    { value: { by: 2 }, version: set.payload.version }]);
  const diff = await sc.next((f) => f.event === 'state_diff', WAIT_MS, 'state_diff');
  assert.deepEqual(diff.payload.diff, [{ op: 'replace', path: '/count', value: 2 }]);
  assert.equal(diff.payload.version, set.payload.version + 1);
  await watcher.waitVersion(diff.payload.version);
  assert.deepEqual(watcher.state, { count: 2 });
});
