// Durable storage: the IndexedDB back end (fake-indexeddb, the same API as a browser's) keeps
// records across a "reload" (a new storage object on the same database), orders writes, and a
// channel's outbox survives in it; Web Locks slots keep two tabs apart.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { IDBFactory } from 'fake-indexeddb';
import { indexedDbStorage, acquireSlot, writeQueue } from '../src/storage.js';
import { connect } from '../src/index.js';
import { FakeServer, counterHandler, until } from './fake-server.js';

const sockets = [];
afterEach(async () => { while (sockets.length) await sockets.pop().disconnect(); });

test('keeps records in IndexedDB across a new storage object on the same database', async () => {
  const idb = new IDBFactory();
  const a = indexedDbStorage('sc-test', idb);
  await a.set('k', { ops: [1, 2], session: 's1' });
  const b = indexedDbStorage('sc-test', idb);
  assert.deepEqual(await b.get('k'), { ops: [1, 2], session: 's1' });
  await b.delete('k');
  assert.equal(await a.get('k'), undefined);
});

test('applies queued writes in call order so the last write of a key wins', async () => {
  const storage = indexedDbStorage('sc-order', new IDBFactory());
  const queue = writeQueue();
  const writes = [];
  for (let i = 0; i < 20; i++) writes.push(queue(() => storage.set('n', i)));
  await Promise.all(writes);
  assert.equal(await storage.get('n'), 19);
});

test('replays an outbox kept in IndexedDB after a reload, once', async () => {
  const idb = new IDBFactory();
  const server = new FakeServer({ counter: counterHandler });
  server.goOffline();
  const first = connect('ws://fake/socket', { transport: server.WebSocket, storage: indexedDbStorage('sc', idb),
                                              online: () => false, timeout: 1000 });
  const ch = first.channel('counter:a');
  await ch.ready;
  ch.push('inc', { by: 5 }).catch(() => {});
  ch.push('inc', { by: 6 }).catch(() => {});
  await until(() => ch.getStatus().pending === 2);
  await new Promise((r) => setTimeout(r, 50)); // let the outbox write commit
  await first.disconnect();
  server.goOnline();
  const second = connect('ws://fake/socket', { transport: server.WebSocket, storage: indexedDbStorage('sc', idb),
                                               timeout: 1000, backoff: { reconnect: () => 5, rejoin: () => 5 } });
  sockets.push(second);
  const again = second.channel('counter:a');
  await until(() => again.getStatus().pending === 0 && again.getServerState()?.count === 11, 3000, 'replayed');
  assert.deepEqual(server.applied.map((a) => a.payload.by), [5, 6]);
});

test('gives two tabs different slots and frees a slot on release', async () => {
  const held = new Set();
  const locks = { // the Web Locks API's ifAvailable semantics, in memory
    request(name, opts, cb) {
      if (held.has(name)) return Promise.resolve(cb(null));
      held.add(name);
      return Promise.resolve(cb({ name })).then(() => { held.delete(name); });
    },
  };
  const a = await acquireSlot('t', 4, locks);
  const b = await acquireSlot('t', 4, locks);
  assert.deepEqual([a.slot, b.slot], [0, 1]);
  a.release();
  await new Promise((r) => setTimeout(r, 0));
  const c = await acquireSlot('t', 4, locks);
  assert.equal(c.slot, 0, 'a freed slot is taken again');
  const d = await acquireSlot('t', 2, locks);
  assert.equal(d.slot, null, 'every slot busy');
});
