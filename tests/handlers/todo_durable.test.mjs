// handlers/todo.c across a restart of the real server: the items and the id counter live in
// the state, so they come back from the store and ids are still never reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../js/lib/server.mjs';
import { RawClient } from '../js/lib/phx.mjs';

const clients = [];
async function client(srv) {
  const c = await RawClient.connect(srv.wsUrl);
  clients.push(c);
  return c;
}

test('items and the id counter survive a server restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sc-todo-'));
  try {
    let srv = await startServer({ dataDir });
    let c = await client(srv);
    let t = await c.join('todo:durable');
    await c.event(t, 'add', { title: 'a' });
    await c.event(t, 'add', { title: 'b' });
    await c.event(t, 'remove', { id: 2 });
    c.ws.terminate();
    await srv.stop();

    srv = await startServer({ dataDir, port: srv.port });
    c = await client(srv);
    t = await c.join('todo:durable');
    assert.deepEqual(t.state.todos, [{ id: 1, title: 'a', done: false }]);
    await c.event(t, 'add', { title: 'c' });
    assert.deepEqual(t.state.todos.map((x) => x.id), [1, 3]);
    c.ws.terminate();
    await srv.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
