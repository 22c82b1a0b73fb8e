// Crash safety (issue 5, point 6): a client streams `inc` ops to a counter:* topic and
// records the acknowledgements; the server is killed with kill -9 at a random moment and
// restarted on the same data directory; the client resumes its session and replays every op
// it holds no ack for; after several kill points the count equals the number of distinct ops
// exactly: nothing acknowledged is lost, nothing is applied twice.
//
// The client is the protocol's contract, written out: ops are numbered 1, 2, ... in their
// session; an unacknowledged op is re-sent with the same number (the server answers a
// duplicate with its original outcome); a fresh session (the old one was never committed)
// renumbers the unacknowledged ops from 1. Every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, HANDLERS } from './lib/server.mjs';
import { RawClient } from './lib/phx.mjs';
import { SMALL, TEST_PLUGINS } from './server_helpers.mjs';

// Kill points: enough to hit the different phases (mid-commit, between ops, right after a
// join), few enough for ~20 s here and well under a minute under ThreadSanitizer.
const CYCLES = 5;
// Ops in flight: several, so a kill lands between the apply, the commit and the ack.
const WINDOW = 8;
// How long a cycle pushes before its kill, picked at random in this range (ms).
const KILL_AFTER_MS = [50, 400];
// Bound on every reply the test waits for; generous for a loaded machine.
const REPLY_MS = 15000;
// The stream is faster than the per-socket rate limit (200/s) that protects the server.
const ARGS = [...SMALL, '--max-events-per-sec', '1000000'];
// The example counter (handlers/counter.c) where it is built; the ThreadSanitizer tree builds
// only the server and its test plugins, whose test:* topics count `inc` the same way.
const COUNTER = existsSync(join(HANDLERS, 'counter.so'));
const PLUGINS = COUNTER ? HANDLERS : TEST_PLUGINS;

const dataDir = mkdtempSync(join(tmpdir(), 'sc-crash-'));
let srv = null;
after(async () => {
  if (srv) await srv.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const topic = `${COUNTER ? 'counter' : 'test'}:crash${process.pid}`;

// One connection's worth of the client: join (resuming), then ops whose replies are matched
// by ref; a closed socket fails every reply still awaited at once.
async function connect(st) {
  const c = await RawClient.connect(srv.wsUrl);
  const sc = st.session ? { session: st.session, version: 0 } : {};
  const t = await c.join(topic, { _sc: sc }, { expectState: false });
  assert.equal(t.reply.status, 'ok', JSON.stringify(t.reply));
  const session = t.reply.response.session;
  if (session !== st.session) {
    // The server does not know the session: nothing of it was committed, so no op we hold
    // unacknowledged was applied under it. Renumber them from 1.
    assert.equal(st.ackedInSession, 0, 'a session with acknowledged ops is never forgotten');
    st.session = session;
    const pending = [...st.pending.values()].sort((x, y) => x.n - y.n);
    st.pending.clear();
    pending.forEach((p, i) => { p.n = i + 1; st.pending.set(p.n, p); });
    st.next = pending.length + 1;
  }
  const waiting = new Map(); // ref -> {resolve, reject, timer}
  c.ws.on('message', (data) => {
    const [, ref, , event, payload] = JSON.parse(data.toString());
    const w = event === 'phx_reply' ? waiting.get(ref) : undefined;
    if (w) {
      waiting.delete(ref);
      clearTimeout(w.timer);
      w.resolve(payload);
    }
  });
  c.ws.on('close', () => {
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('closed'));
    }
    waiting.clear();
  });
  const send = (p) => new Promise((resolve, reject) => {
    const ref = c.send(t.joinRef, topic, 'sc:event', { name: 'inc', payload: {}, op: p.n });
    const timer = setTimeout(() => { waiting.delete(ref); reject(new Error(`no reply to op ${p.n}`)); },
      REPLY_MS);
    waiting.set(ref, { resolve, reject, timer });
  });
  return { c, send };
}

function acked(st, p) {
  st.pending.delete(p.n);
  st.acked.add(p.id);
  st.ackedInSession++;
}

test('every acknowledged op survives kill -9, none is applied twice', async () => {
  const st = { session: null, next: 1, pending: new Map(), acked: new Set(), distinct: 0,
    ackedInSession: 0, refused: [] };
  srv = await startServer({ dataDir, handlers: PLUGINS, args: ARGS, timeoutMs: 30000 });
  for (let cycle = 0; cycle <= CYCLES; cycle++) {
    const conn = await connect(st);
    // Replay what has no ack, in order, one at a time (the server answers a duplicate for
    // those it applied), then stream new ops until the kill.
    for (const p of [...st.pending.values()].sort((x, y) => x.n - y.n)) {
      const r = await conn.send(p);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      acked(st, p);
    }
    if (cycle === CYCLES) {
      conn.c.ws.terminate();
      break;
    }
    const killAt = Date.now() + KILL_AFTER_MS[0] +
      Math.random() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]);
    const inflight = new Set();
    while (Date.now() < killAt) {
      const p = { n: st.next++, id: st.distinct++ };
      st.pending.set(p.n, p);
      const pr = conn.send(p).then((r) => {
        if (r.status === 'ok') acked(st, p);
        else st.refused.push(`op ${p.n}: ${JSON.stringify(r)}`);
      }, () => { /* no reply: the server died; replayed next cycle */ });
      inflight.add(pr);
      pr.finally(() => inflight.delete(pr));
      if (inflight.size >= WINDOW) await Promise.race(inflight);
    }
    await srv.kill9();
    conn.c.ws.terminate();
    await Promise.all([...inflight]); // each settles at once: the socket closed
    srv = await startServer({ dataDir, port: srv.port, handlers: PLUGINS, args: ARGS, timeoutMs: 30000 });
  }
  assert.deepEqual(st.refused, []);
  assert.equal(st.pending.size, 0);
  assert.equal(st.acked.size, st.distinct);
  assert.ok(st.distinct > CYCLES, `ops were sent (${st.distinct})`);
  const check = await RawClient.connect(srv.wsUrl);
  const t = await check.join(topic);
  assert.equal(t.state.count, st.distinct, 'the count equals the number of distinct ops');
  check.ws.terminate();
});
