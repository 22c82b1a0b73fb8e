// The React binding: provider + hooks over useSyncExternalStore (server rendering here; the
// browser tests drive the interactive TodoMVC demo).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { connect, memoryStorage } from '../src/index.js';
import { StateChannelProvider, useStateChannel, useStateChannelSelector } from '../src/react.js';
import { FakeServer, todoHandler, counterHandler, until } from './fake-server.js';

const sockets = [];
afterEach(async () => { while (sockets.length) await sockets.pop().disconnect(); });

test('renders the provided state, status and pending count through useStateChannel', async () => {
  const server = new FakeServer({ todo: todoHandler, counter: counterHandler });
  const socket = connect('ws://fake/socket', { transport: server.WebSocket, storage: memoryStorage(), timeout: 1000 });
  sockets.push(socket);
  const channel = socket.channel('counter:a');
  await until(() => channel.getState() !== undefined);
  server.change('counter:a', [{ op: 'replace', path: '/count', value: 7 }]);
  await until(() => channel.getState().count === 7);
  function Counter() {
    const { state, status, pending, push, pushMessage } = useStateChannel();
    assert.equal(typeof push, 'function');
    assert.equal(typeof pushMessage, 'function');
    const count = useStateChannelSelector((s) => s && s.count);
    return h('p', null, `${state.count}/${count} ${status} ${pending}`);
  }
  const html = renderToString(h(StateChannelProvider, { channel }, h(Counter)));
  assert.equal(html, '<p>7/7 online 0</p>');
});

test('refuses to run a hook outside a provider', () => {
  function Lost() { useStateChannel(); return null; }
  assert.throws(() => renderToString(h(Lost)), /StateChannelProvider/);
});
