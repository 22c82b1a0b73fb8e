// handlers/chat.c against the real server: presence, typing expiry, messages and their bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../js/lib/server.mjs';
import { RawClient } from '../js/lib/phx.mjs';

// Constants of handlers/chat.c.
const CHAT_MAX_NAME = 64;
const CHAT_MAX_TEXT = 2000;
const CHAT_MAX_MESSAGES = 100;
const CHAT_TYPING_TTL_MS = 3000;
// Slack for the timer thread and the trip to the client on a loaded 2-core machine.
const TIMER_SLACK_MS = 2500;

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

const names = (t) => Object.values(t.state.online).map((p) => p.name).sort();

// The client id a topic's state knows the joiner by: the online key with that name.
function idOf(t, name) {
  const entry = Object.entries(t.state.online).find(([, p]) => p.name === name);
  assert.ok(entry, `${name} is online`);
  return entry[0];
}

// Waits until pred(t.state) holds (state follows patches), at most ms.
async function until(t, pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred(t.state)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(t.state)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('joining puts the client online under its name; a second client sees it', async () => {
  const a = await client();
  const b = await client();
  const ta = await a.join('chat:presence', { name: ' Ann ' });
  assert.deepEqual(names(ta), ['Ann']);
  assert.deepEqual(ta.state.messages, []);
  assert.deepEqual(ta.state.typing, {});
  const tb = await b.join('chat:presence', { name: 'Bob' });
  assert.deepEqual(names(tb), ['Ann', 'Bob']);
  await until(ta, (s) => Object.keys(s.online).length === 2, 3000, 'Bob in Ann\'s view');
  assert.deepEqual(names(ta), ['Ann', 'Bob']);
});

test('leaving and closing the socket take the client offline for the others', async () => {
  const a = await client();
  const b = await client();
  const c = await client();
  const ta = await a.join('chat:leave', { name: 'Ann' });
  const tb = await b.join('chat:leave', { name: 'Bob' });
  await c.join('chat:leave', { name: 'Cy' });
  await until(ta, (s) => Object.keys(s.online).length === 3, 3000, 'three online');
  await b.leave(tb);
  await until(ta, (s) => Object.keys(s.online).length === 2, 3000, 'Bob gone');
  assert.deepEqual(names(ta), ['Ann', 'Cy']);
  c.ws.terminate();
  await until(ta, (s) => Object.keys(s.online).length === 1, 3000, 'Cy gone');
  assert.deepEqual(names(ta), ['Ann']);
});

test('a join without a name is "anonymous"; a bad name is refused', async () => {
  const c = await client();
  const t = await c.join('chat:names');
  assert.deepEqual(names(t), ['anonymous']);
  for (const params of [{ name: 5 }, { name: '   ' }, { name: 'n'.repeat(CHAT_MAX_NAME + 1) }]) {
    const bad = await c.join('chat:names2', params);
    assert.equal(bad.reply.status, 'error', JSON.stringify(params).slice(0, 40));
    assert.equal(bad.reply.response.reason, 'invalid_params');
  }
  const bad = await c.join('chat:');
  assert.equal(bad.reply.response.reason, 'invalid topic');
});

test('say appends a message with sender, trimmed text and time', async () => {
  const a = await client();
  const b = await client();
  const ta = await a.join('chat:say', { name: 'Ann' });
  const tb = await b.join('chat:say', { name: 'Bob' });
  const before = Date.now();
  const { reply } = await a.event(ta, 'say', { text: '  hello  ' });
  assert.equal(reply.status, 'ok');
  const [msg] = ta.state.messages;
  assert.equal(msg.text, 'hello');
  assert.equal(msg.name, 'Ann');
  assert.equal(msg.from, idOf(ta, 'Ann'));
  assert.equal(msg.id, 1);
  assert.ok(Math.abs(msg.at - before) < 5000, `at ${msg.at} near ${before}`);
  await tb.waitVersion(reply.response.version);
  assert.deepEqual(tb.state.messages, ta.state.messages);
});

test('say refuses empty, non-string and over-long text', async () => {
  const c = await client();
  const t = await c.join('chat:badsay', { name: 'Ann' });
  for (const payload of [{}, { text: '' }, { text: ' \n ' }, { text: 7 },
    { text: 'x'.repeat(CHAT_MAX_TEXT + 1) }, 'hi']) {
    const { reply } = await c.event(t, 'say', payload);
    assert.equal(reply.status, 'error', JSON.stringify(payload).slice(0, 40));
    assert.equal(reply.response.reason, 'invalid_payload');
  }
  assert.deepEqual(t.state.messages, []);
  const { reply } = await c.event(t, 'shout', {});
  assert.equal(reply.response.reason, 'unknown_event');
});

test(`only the last ${CHAT_MAX_MESSAGES} messages are kept`, async () => {
  const c = await client();
  const t = await c.join('chat:scroll', { name: 'Ann' });
  for (let i = 1; i <= CHAT_MAX_MESSAGES + 5; i++) await c.event(t, 'say', { text: `m${i}` });
  assert.equal(t.state.messages.length, CHAT_MAX_MESSAGES);
  assert.equal(t.state.messages[0].text, 'm6');
  assert.equal(t.state.messages.at(-1).id, CHAT_MAX_MESSAGES + 5);
  assert.deepEqual(t.errors, []);
  // A full room's say is still a small patch: the new message in, the oldest out.
  const { patch } = await c.event(t, 'say', { text: 'last' });
  assert.ok(patch.patch.length <= 4, JSON.stringify(patch.patch).slice(0, 300));
});

test('typing shows for both clients and expires after 3 s without typing', async () => {
  const a = await client();
  const b = await client();
  const ta = await a.join('chat:typing', { name: 'Ann' });
  const tb = await b.join('chat:typing', { name: 'Bob' });
  const started = Date.now();
  const { reply } = await a.event(ta, 'typing');
  assert.equal(reply.status, 'ok');
  const ann = idOf(ta, 'Ann');
  assert.equal(ta.state.typing[ann].name, 'Ann');
  await tb.waitVersion(reply.response.version);
  assert.equal(tb.state.typing[ann].name, 'Ann');
  await until(tb, (s) => Object.keys(s.typing).length === 0,
    CHAT_TYPING_TTL_MS + TIMER_SLACK_MS, 'typing to expire');
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= CHAT_TYPING_TTL_MS - 100, `expired after ${elapsed} ms`);
});

test('typing again extends it; saying something ends it at once', async () => {
  const c = await client();
  const t = await c.join('chat:typing2', { name: 'Ann' });
  await c.event(t, 'typing');
  await new Promise((r) => setTimeout(r, 2000));
  await c.event(t, 'typing'); // now expires ~3 s from here, not 1 s from here
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(Object.keys(t.state.typing).length, 1, 'still typing 3.5 s after the first');
  await c.event(t, 'say', { text: 'done' });
  assert.deepEqual(t.state.typing, {});
});
