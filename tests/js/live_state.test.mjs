// The real phx-live-state client (0.12) against the real server in Node 20, loaded through the
// resolve/load hooks of lib/esm-hooks.mjs: the state arrives, patches apply, a version gap makes
// it ask for lvs_refresh and recover, and its events (pushEvent, dispatchEvent) reach handlers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from './lib/server.mjs';
import { until } from './lib/wait.mjs';

const { LiveState } = await import('./lib/live-state.mjs');

let server;
const live = [];

before(async () => { server = await startServer(); });
after(async () => {
  for (const ls of live) ls.disconnect();
  await server?.stop();
});

// Connects a LiveState to topic and records every livestate-* event it dispatches.
function connect(topic, params = {}) {
  const ls = new LiveState({
    url: server.wsUrl, topic, params,
    socketOptions: { transport: WebSocket, reconnectAfterMs: () => 100, rejoinAfterMs: () => 100 },
  });
  const seen = { change: [], patch: [], error: [] };
  for (const kind of Object.keys(seen))
    ls.addEventListener(`livestate-${kind}`, (e) => seen[kind].push(e.detail));
  live.push(ls);
  ls.connect();
  return { ls, seen };
}

test('the state arrives after connect', async () => {
  const { ls, seen } = connect('counter:lvs-state');
  await until(() => seen.change.length > 0, 'first livestate-change');
  assert.deepEqual(ls.state, { count: 0 });
  assert.equal(typeof ls.stateVersion, 'number');
});

test('pushEvent reaches the handler and the patch applies', async () => {
  const { ls, seen } = connect('counter:lvs-push');
  await until(() => seen.change.length > 0, 'first livestate-change');
  const v0 = ls.stateVersion;
  ls.pushEvent('inc', { by: 5 });
  await until(() => ls.state.count === 5, 'count 5');
  assert.equal(ls.stateVersion, v0 + 1);
  assert.deepEqual(seen.patch.at(-1).patch, [{ op: 'replace', path: '/count', value: 5 }]);
});

test('dispatchEvent of a CustomEvent is sent as lvs_evt and handled', async () => {
  const { ls, seen } = connect('todo:lvs-dispatch');
  await until(() => seen.change.length > 0, 'first livestate-change');
  ls.dispatchEvent(new CustomEvent('add', { detail: { title: ' from LiveState ' } }));
  await until(() => ls.state.todos.length === 1, 'one todo');
  assert.deepEqual(ls.state.todos[0], { id: 1, title: 'from LiveState', done: false });
  ls.dispatchEvent(new CustomEvent('toggle', { detail: { id: 1 } }));
  await until(() => ls.state.todos[0].done === true, 'todo done');
});

test('a second LiveState on the same topic follows the first one\'s changes', async () => {
  const a = connect('todo:lvs-shared');
  const b = connect('todo:lvs-shared');
  await until(() => a.seen.change.length > 0 && b.seen.change.length > 0, 'both joined');
  a.ls.pushEvent('add', { title: 'one' });
  a.ls.pushEvent('add', { title: 'two' });
  // a and b are two sockets: either may get the second change first, so wait for both.
  await until(() => a.ls.state.todos.length === 2 && b.ls.state.todos.length === 2,
    'two todos at a and at b');
  assert.deepEqual(b.ls.state, a.ls.state);
  assert.equal(b.ls.stateVersion, a.ls.stateVersion);
});

test('a version gap makes the client push lvs_refresh and recover the full state', async () => {
  const { ls, seen } = connect('counter:lvs-gap');
  await until(() => seen.change.length > 0, 'first livestate-change');
  const pushed = [];
  const push = ls.channel.push.bind(ls.channel);
  ls.channel.push = (event, payload, timeout) => { pushed.push(event); return push(event, payload, timeout); };

  // Pretend a patch was lost: the client now believes it is one version behind.
  ls.stateVersion -= 1;
  ls.state = { count: -100 };
  ls.pushEvent('inc', { by: 1 });
  await until(() => pushed.includes('lvs_refresh'), 'lvs_refresh');
  await until(() => ls.state.count === 1, 'state recovered by state:change');
  const v = ls.stateVersion;
  ls.pushEvent('inc', { by: 1 });
  await until(() => ls.state.count === 2, 'patches apply again after the refresh');
  assert.equal(ls.stateVersion, v + 1);
});

test('a refused join is reported as livestate-error', async () => {
  const { ls, seen } = connect('counter:');
  await until(() => seen.error.length > 0, 'livestate-error');
  assert.equal(seen.error[0].type, 'channel join error');
  assert.equal(seen.error[0].message, 'invalid topic');
  ls.channel.leave();
});
