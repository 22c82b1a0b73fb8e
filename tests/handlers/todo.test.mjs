// handlers/todo.c against the real server: TodoMVC events, validation, sharing, restarts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../js/lib/server.mjs';
import { RawClient } from '../js/lib/phx.mjs';

const TODO_MAX_TITLE = 1024; // handlers/todo.c

let server;
const clients = [];
async function client(srv = server) {
  const c = await RawClient.connect(srv.wsUrl);
  clients.push(c);
  return c;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const c of clients) c.ws.terminate();
  await server?.stop();
});

const titles = (t) => t.state.todos.map((x) => x.title);

test('a new list is empty', async () => {
  const t = await (await client()).join('todo:fresh');
  assert.deepEqual(t.state, { todos: [], next_id: 1 });
});

test('add appends a trimmed, not-done item with a fresh id', async () => {
  const c = await client();
  const t = await c.join('todo:add');
  const { reply, patch } = await c.event(t, 'add', { title: '  Buy milk \n' });
  assert.equal(reply.status, 'ok');
  assert.deepEqual(t.state.todos, [{ id: 1, title: 'Buy milk', done: false }]);
  // The item and next_id; the server may send the (smaller) full state instead of a patch.
  if (patch) assert.ok(patch.patch.length <= 2, JSON.stringify(patch.patch));
  await c.event(t, 'add', { title: 'Walk dog' });
  assert.deepEqual(t.state.todos.map((x) => x.id), [1, 2]);
});

test('add refuses empty, blank, non-string and over-long titles', async () => {
  const c = await client();
  const t = await c.join('todo:badadd');
  for (const payload of [{}, { title: '' }, { title: ' \t ' }, { title: 5 },
    { title: 'x'.repeat(TODO_MAX_TITLE + 1) }, 'milk', null]) {
    const { reply } = await c.event(t, 'add', payload);
    assert.equal(reply.status, 'error', JSON.stringify(payload)?.slice(0, 40));
    assert.equal(reply.response.reason, 'invalid_payload');
  }
  assert.deepEqual(t.state.todos, []);
  const { reply } = await c.event(t, 'add', { title: 'x'.repeat(TODO_MAX_TITLE) });
  assert.equal(reply.status, 'ok');
});

test('toggle, edit and remove address one item by id', async () => {
  const c = await client();
  const t = await c.join('todo:edit');
  await c.event(t, 'add', { title: 'a' });
  await c.event(t, 'add', { title: 'b' });
  await c.event(t, 'toggle', { id: 2 });
  assert.deepEqual(t.state.todos.map((x) => x.done), [false, true]);
  await c.event(t, 'toggle', { id: 2 });
  assert.deepEqual(t.state.todos.map((x) => x.done), [false, false]);
  await c.event(t, 'edit', { id: 1, title: '  A!  ' });
  assert.deepEqual(titles(t), ['A!', 'b']);
  await c.event(t, 'remove', { id: 1 });
  assert.deepEqual(t.state.todos, [{ id: 2, title: 'b', done: false }]);
  assert.deepEqual(t.errors, []);
});

test('item events refuse a malformed id, a missing id and an empty edit', async () => {
  const c = await client();
  const t = await c.join('todo:badid');
  await c.event(t, 'add', { title: 'a' });
  for (const [name, payload, reason] of [
    ['toggle', { id: '1' }, 'invalid_payload'],
    ['toggle', {}, 'invalid_payload'],
    ['remove', [], 'invalid_payload'],
    ['edit', { id: 1, title: '   ' }, 'invalid_payload'],
    ['edit', { id: 1 }, 'invalid_payload'],
    ['toggle', { id: 99 }, 'not_found'],
    ['remove', { id: 99 }, 'not_found'],
    ['edit', { id: 99, title: 'x' }, 'not_found'],
    ['frobnicate', {}, 'unknown_event'],
  ]) {
    const { reply } = await c.event(t, name, payload);
    assert.equal(reply.status, 'error', `${name} ${JSON.stringify(payload)}`);
    assert.equal(reply.response.reason, reason, `${name} ${JSON.stringify(payload)}`);
  }
  assert.deepEqual(t.state.todos, [{ id: 1, title: 'a', done: false }]);
});

test('toggle_all marks all done, then all not done; clear_completed drops the done', async () => {
  const c = await client();
  const t = await c.join('todo:all');
  for (const title of ['a', 'b', 'c']) await c.event(t, 'add', { title });
  await c.event(t, 'toggle', { id: 2 });
  await c.event(t, 'toggle_all');
  assert.deepEqual(t.state.todos.map((x) => x.done), [true, true, true]);
  await c.event(t, 'toggle_all');
  assert.deepEqual(t.state.todos.map((x) => x.done), [false, false, false]);
  await c.event(t, 'toggle', { id: 1 });
  await c.event(t, 'toggle', { id: 3 });
  await c.event(t, 'clear_completed');
  assert.deepEqual(t.state.todos, [{ id: 2, title: 'b', done: false }]);
  const { patch } = await c.event(t, 'clear_completed');
  assert.equal(patch, null); // nothing done: no patch, no new version
});

test('ids are never reused, even after the newest item is removed', async () => {
  const c = await client();
  const t = await c.join('todo:ids');
  await c.event(t, 'add', { title: 'a' });
  await c.event(t, 'add', { title: 'b' });
  await c.event(t, 'remove', { id: 2 });
  await c.event(t, 'add', { title: 'c' });
  assert.deepEqual(t.state.todos.map((x) => x.id), [1, 3]);
});

test('a second client sees the items another adds', async () => {
  const a = await client();
  const b = await client();
  const ta = await a.join('todo:shared');
  const tb = await b.join('todo:shared');
  const { reply } = await a.event(ta, 'add', { title: 'shared' });
  await tb.waitVersion(reply.response.version);
  assert.deepEqual(tb.state, ta.state);
  assert.deepEqual(titles(tb), ['shared']);
});
