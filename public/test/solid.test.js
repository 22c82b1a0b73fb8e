// The SolidJS binding: the store follows the channel's view, and a server patch fires only the
// signals of what it touched. Run with --conditions=browser (Solid's reactive build; its "node"
// build is the non-reactive server renderer).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRoot, createEffect } from 'solid-js';
import { connect, memoryStorage } from '../src/index.js';
import { createStateChannel } from '../src/solid.js';
import { FakeServer, todoHandler, counterHandler, until } from './fake-server.js';

const sockets = [];
afterEach(async () => { while (sockets.length) await sockets.pop().disconnect(); });

function setup(topic) {
  const server = new FakeServer({ todo: todoHandler, counter: counterHandler });
  const socket = connect('ws://fake/socket', { transport: server.WebSocket, storage: memoryStorage(),
                                               backoff: { reconnect: () => 5, rejoin: () => 5 }, timeout: 1000 });
  sockets.push(socket);
  return { server, channel: socket.channel(topic) };
}

test('is reactive in this process (Solid browser build loaded)', () => {
  let runs = 0;
  createRoot(() => {
    const sc = { n: 0 };
    createEffect(() => { runs++; return sc.n; });
  });
  assert.ok(runs >= 1, 'effects run: run node with --conditions=browser');
});

test('fires only the signals of the rows a server patch touched', async () => {
  const { server, channel } = setup('todo:a');
  await until(() => channel.getState() !== undefined);
  server.change('todo:a', [{ op: 'add', path: '/todos/-', value: { id: 1, title: 'one', done: false } },
                           { op: 'add', path: '/todos/-', value: { id: 2, title: 'two', done: false } }]);
  await until(() => channel.getState().todos.length === 2);
  let sc, dispose;
  const runs = { first: 0, second: 0, count: 0 };
  createRoot((d) => {
    dispose = d;
    sc = createStateChannel('todo:a', { channel });
    createEffect(() => { runs.first++; return sc.state.todos[0]?.title; });
    createEffect(() => { runs.second++; return sc.state.todos[1]?.done; });
    createEffect(() => { runs.count++; return sc.state.todos.length; });
  });
  const before = { ...runs };
  server.change('todo:a', [{ op: 'replace', path: '/todos/1/done', value: true }]);
  await until(() => sc.state.todos[1].done === true, 2000, 'store updated');
  assert.equal(runs.first, before.first, 'row 0 untouched');
  assert.equal(runs.second, before.second + 1, 'row 1 fired once');
  assert.equal(runs.count, before.count, 'length untouched');
  server.change('todo:a', [{ op: 'remove', path: '/todos/0' }]);
  await until(() => sc.state.todos.length === 1, 2000, 'row removed');
  assert.deepEqual(JSON.parse(JSON.stringify(sc.state)), channel.getState());
  dispose();
});

test('shows optimistic updates and rolls back a refused op through reconcile', async () => {
  const { server, channel } = setup('counter:a');
  await until(() => channel.getState() !== undefined);
  let sc;
  createRoot(() => { sc = createStateChannel('counter:a', { channel }); });
  const p = sc.push('refuse', {}, { optimistic: (s) => ({ ...s, count: 42 }) });
  assert.equal(sc.state.count, 42);
  assert.equal(sc.pending(), 1);
  await assert.rejects(p);
  assert.equal(sc.state.count, 0);
  assert.equal(sc.error().reason, 'out_of_range');
  assert.equal(server.applied.length, 0);
});

test('never mutates the core state it was handed', async () => {
  const { server, channel } = setup('todo:a');
  await until(() => channel.getState() !== undefined);
  let sc;
  createRoot(() => { sc = createStateChannel('todo:a', { channel }); });
  server.change('todo:a', [{ op: 'add', path: '/todos/-', value: { id: 1, title: 'one', done: false } }]);
  await until(() => sc.state.todos.length === 1);
  const core = channel.getState();
  server.change('todo:a', [{ op: 'replace', path: '/todos/0/title', value: 'uno' }]);
  await until(() => sc.state.todos[0].title === 'uno');
  assert.equal(core.todos[0].title, 'one', 'the previous core snapshot is intact');
});

test('replaces an object exactly, dropping members the new value lacks', async () => {
  const { server, channel } = setup('todo:a');
  await until(() => channel.getState() !== undefined);
  let sc;
  createRoot(() => { sc = createStateChannel('todo:a', { channel }); });
  server.change('todo:a', [{ op: 'add', path: '/todos/-', value: { id: 1, title: 'one', done: false, extra: 1 } },
                           { op: 'add', path: '/meta', value: { a: 1, b: 2 } }]);
  await until(() => sc.state.todos.length === 1);
  server.change('todo:a', [{ op: 'replace', path: '/todos/0', value: { id: 1, title: 'uno', done: true } },
                           { op: 'replace', path: '/meta', value: { a: 3 } }]);
  await until(() => sc.state.todos[0].title === 'uno');
  assert.deepEqual(JSON.parse(JSON.stringify(sc.state)), channel.getState());
  assert.equal('extra' in sc.state.todos[0], false);
  assert.deepEqual({ ...sc.state.meta }, { a: 3 });
});

test('applies move and copy of rows the store holds (a keyed swap or move from the diff)', async () => {
  const { server, channel } = setup('todo:a');
  await until(() => channel.getState() !== undefined);
  let sc;
  createRoot(() => { sc = createStateChannel('todo:a', { channel }); });
  server.change('todo:a', [1, 2, 3].map((id) => ({ op: 'add', path: '/todos/-', value: { id, title: `t${id}`, done: false } })));
  await until(() => sc.state.todos.length === 3);
  // The diff's one-op move of a keyed row, then a copy: both read a row out of the store itself.
  server.change('todo:a', [{ op: 'move', from: '/todos/0', path: '/todos/2' },
                           { op: 'copy', from: '/todos/0', path: '/first' }]);
  await until(() => sc.state.first !== undefined, 2000, 'move and copy applied');
  assert.deepEqual(sc.state.todos.map((t) => t.id), [2, 3, 1]);
  assert.deepEqual(JSON.parse(JSON.stringify(sc.state)), channel.getState());
  // The copy is its own object: changing the row does not change the copy.
  server.change('todo:a', [{ op: 'replace', path: '/todos/0/title', value: 'changed' }]);
  await until(() => sc.state.todos[0].title === 'changed');
  assert.equal(sc.state.first.title, 't2');
});
