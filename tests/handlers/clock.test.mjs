// handlers/clock.c against the real server: state pushed by a timer with no client event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../js/lib/server.mjs';
import { RawClient } from '../js/lib/phx.mjs';

const CLOCK_PERIOD_MS = 1000; // handlers/clock.c
// Slack for the timer thread and the trip to the client on a loaded 2-core machine.
const SLACK_MS = 2000;

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

const isPatch = (t) => (f) => f.topic === t.topic && f.event === 'state:patch';

test('the joined state holds the server time in ms and ISO 8601', async () => {
  const t = await (await client()).join('clock:a');
  assert.equal(t.reply.status, 'ok');
  assert.ok(Math.abs(t.state.now - Date.now()) < 5000, `now ${t.state.now}`);
  assert.equal(t.state.iso, new Date(t.state.now).toISOString());
});

test('the clock ticks every second without any client event', async () => {
  const c = await client();
  const t = await c.join('clock:ticks');
  const v0 = t.version;
  const first = t.state.now;
  await t.waitVersion(v0 + 2, 2 * CLOCK_PERIOD_MS + SLACK_MS);
  assert.deepEqual(t.errors, []);
  const delta = t.state.now - first;
  assert.ok(delta >= CLOCK_PERIOD_MS && delta <= 2 * CLOCK_PERIOD_MS + SLACK_MS, `delta ${delta}`);
  assert.equal(t.state.iso, new Date(t.state.now).toISOString());
  // Each tick is a patch of the two members, or the (as small) full state.
  for (const { patch } of t.patches)
    assert.ok(patch.length <= 2 && patch.every((op) => op.op === 'replace'), JSON.stringify(patch));
});

test('events are refused with unknown_event', async () => {
  const c = await client();
  const t = await c.join('clock:events');
  const { reply } = await c.event(t, 'set', { now: 0 });
  assert.equal(reply.status, 'error');
  assert.equal(reply.response.reason, 'unknown_event');
});

test('ticks stop once the client leaves', async () => {
  const c = await client();
  const t = await c.join('clock:leave');
  await t.waitVersion(t.version + 1, CLOCK_PERIOD_MS + SLACK_MS);
  await c.leave(t);
  c.inbox.length = 0;
  assert.ok(await c.nothing(isPatch(t), CLOCK_PERIOD_MS + SLACK_MS));
});

test('an invalid id is refused', async () => {
  const t = await (await client()).join('clock:');
  assert.equal(t.reply.response.reason, 'invalid topic');
});
