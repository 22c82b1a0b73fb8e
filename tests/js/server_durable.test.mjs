// The store wired into the real server (PROTOCOL.md section 4, docs/durability.md): resume
// with only the missed patches after a network drop and after kill -9 + restart, duplicates
// and op gaps across a restart, unknown and expired sessions, and the start-up refusals
// (corrupt, truncated or newer-schema database, unusable --data).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN } from './lib/server.mjs';
import { RawClient, sleep, WAIT_MS } from './lib/phx.mjs';
import { SMALL, TEST_PLUGINS } from './server_helpers.mjs';

const dirs = [];
const servers = [];
const clients = [];
after(async () => {
  for (const c of clients) c.ws.terminate();
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'sc-durable-'));
  dirs.push(d);
  return d;
}

// The test plugins (test:*, priv:*): built in every tree, the ThreadSanitizer one included.
async function server(opts) {
  const s = await startServer({ handlers: TEST_PLUGINS, ...opts, args: [...SMALL, ...(opts.args ?? [])],
    timeoutMs: 30000 });
  servers.push(s);
  return s;
}

async function client(srv) {
  const c = await RawClient.connect(srv.wsUrl);
  clients.push(c);
  return c;
}

// Joins with _sc resume params; resolves with {topic, reply, frames} where frames are the
// state frames (state:change / state:patch) that arrived within quietMs after the reply.
async function resume(c, topic, sc, quietMs = 300) {
  const t = await c.join(topic, { _sc: sc }, { expectState: false });
  const frames = [];
  for (;;) {
    try {
      const f = await c.next((x) => x.topic === topic &&
        (x.event === 'state:change' || x.event === 'state:patch'), quietMs);
      frames.push(f);
    } catch {
      break;
    }
  }
  return { t, reply: t.reply, frames };
}

// An sc:event with an explicit op number; resolves with the reply payload.
function op(c, t, n, name = 'inc', payload = {}) {
  return c.request(t.joinRef, t.topic, 'sc:event', { name, payload, op: n });
}

// Patches are sent only when they add up to less than the full state (PROTOCOL.md 4): a
// state made big once ("big" sets a long string), then changed by small increments.
const BIG = { n: 600 };

// test:* records the last leave reason in the state: one closed socket first, so that the
// later ones ("closed" again) change nothing and the versions counted below are exact.
async function settleLeaves(srv, observer) {
  const v = observer.version;
  const d = await client(srv);
  await d.join(observer.topic);
  d.ws.terminate();
  await observer.waitVersion(v + 1);
}

test('a resume after a network drop gets only the patches it missed', async () => {
  const srv = await server({});
  const b = await client(srv);
  const tb = await b.join('test:drop');
  await b.event(tb, 'big', BIG);
  await settleLeaves(srv, tb);
  const a = await client(srv);
  const ta = await a.join('test:drop', { _sc: {} });
  const { session } = ta.reply.response;
  const first = await op(a, ta, 1);
  assert.equal(first.status, 'ok');
  await ta.waitVersion(first.response.version);
  const seen = ta.version;
  a.ws.terminate();
  for (let i = 0; i < 3; i++) await b.event(tb, 'inc');

  const a2 = await client(srv);
  const r = await resume(a2, 'test:drop', { session, version: seen, client: 'x' });
  assert.equal(r.reply.status, 'ok');
  assert.equal(r.reply.response.session, session, 'the same session');
  assert.equal(r.reply.response.version, seen + 3);
  assert.deepEqual(r.frames.map((f) => [f.event, f.payload.version]),
    [['state:patch', seen + 1], ['state:patch', seen + 2], ['state:patch', seen + 3]]);
  // The op numbering goes on: 1 is a duplicate, 3 a gap, 2 the next.
  const dup = await op(a2, r.t, 1);
  assert.equal(dup.status, 'ok');
  assert.equal(dup.response.duplicate, true);
  assert.equal(dup.response.op, 1);
  const gap = await op(a2, r.t, 3);
  assert.deepEqual([gap.status, gap.response.reason, gap.response.expected], ['error', 'op_gap', 2]);
  assert.equal((await op(a2, r.t, 2)).status, 'ok');
  const check = await (await client(srv)).join('test:drop');
  assert.equal(check.state.count, 1 + 5); // big counts one too
});

test('states, sessions and op outcomes survive kill -9; a resume gets the missed patches from the store', async () => {
  const dataDir = tempDir();
  let srv = await server({ dataDir });
  const a = await client(srv);
  const ta = await a.join('test:k9', { _sc: {} });
  const sa = ta.reply.response.session;
  const replies = [await op(a, ta, 1, 'big', BIG)];
  for (let n = 2; n <= 5; n++) replies.push(await op(a, ta, n, 'inc', { by: 2 }));
  assert.ok(replies.every((x) => x.status === 'ok'));
  // A refused op is consumed too, with its outcome.
  const refused = await op(a, ta, 6, 'inc', { by: 'x' });
  assert.equal(refused.response.reason, 'invalid_payload');
  await ta.waitVersion(replies[4].response.version);
  await settleLeaves(srv, ta);

  const b = await client(srv);
  const tb = await b.join('test:k9', { _sc: { client: 'b' } });
  const sb = tb.reply.response.session;
  const vb = tb.version;
  b.ws.terminate();
  for (let n = 7; n <= 9; n++) assert.equal((await op(a, ta, n)).status, 'ok');
  await ta.waitVersion(vb + 3);

  await srv.kill9();
  srv = await server({ dataDir });

  // Before any join, GET /api/state reads it from the store.
  const res = await fetch(`${srv.base}/api/state/test:k9`);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).version, ta.version);
  assert.equal((await fetch(`${srv.base}/api/state/test:nothing-stored`)).status, 404);

  // a is up to date: the reply and nothing else.
  const a2 = await client(srv);
  const ra = await resume(a2, 'test:k9', { session: sa, version: ta.version });
  assert.equal(ra.reply.response.session, sa);
  assert.equal(ra.reply.response.version, ta.version);
  assert.deepEqual(ra.frames, [], 'nothing to send');
  // Outcomes came back from the store: original answers plus duplicate.
  const d5 = await op(a2, ra.t, 5, 'inc', { by: 1000 });
  assert.deepEqual(d5.response, { ...replies[4].response, duplicate: true });
  const d6 = await op(a2, ra.t, 6);
  assert.equal(d6.status, 'error');
  assert.equal(d6.response.reason, 'invalid_payload');
  assert.equal(d6.response.duplicate, true);
  const gap = await op(a2, ra.t, 11);
  assert.equal(gap.response.reason, 'op_gap');
  assert.equal(gap.response.expected, 10);

  // b missed 3 versions: three patches from the store's log, which apply to what it had.
  const b2 = await client(srv);
  const rb = await resume(b2, 'test:k9', { session: sb, version: vb });
  assert.equal(rb.reply.response.session, sb);
  assert.deepEqual(rb.frames.map((f) => [f.event, f.payload.version]),
    [['state:patch', vb + 1], ['state:patch', vb + 2], ['state:patch', vb + 3]]);

  // The first change after a restart jumps the version (docs/durability.md) and goes on.
  const ok = await op(a2, ra.t, 10);
  assert.equal(ok.status, 'ok');
  assert.ok(ok.response.version > ta.version + 1);
  const fresh = await (await client(srv)).join('test:k9');
  assert.equal(fresh.state.count, 1 + 4 * 2 + 3 + 1); // big counts one too
});

test('an unknown, malformed or other topic\'s session gets a fresh session and the full state', async () => {
  const srv = await server({});
  const a = await client(srv);
  const ta = await a.join('test:u1', { _sc: {} });
  const mine = ta.reply.response.session;
  for (const [topic, session] of [['test:u1', 'f'.repeat(32) + '-' + '0'.repeat(16)],
    ['test:u1', '../../etc'], ['test:u2', mine]]) {
    const c = await client(srv);
    const r = await resume(c, topic, { session, version: 1 });
    assert.equal(r.reply.status, 'ok');
    assert.notEqual(r.reply.response.session, session);
    assert.notEqual(r.reply.response.session, mine);
    assert.match(r.reply.response.session, /^[0-9a-f]{32}-[0-9a-f]{16}$/);
    assert.deepEqual(r.frames.map((f) => f.event), ['state:change']);
  }
  // A join without `_sc` cannot resume: its session ends with its channel.
  const b = await client(srv);
  const tb = await b.join('test:u1');
  const gone = tb.reply.response.session;
  const early = await resume(await client(srv), 'test:u1', { session: gone, version: tb.version });
  assert.notEqual(early.reply.response.session, gone, 'not resumable even while it is open');
  await b.leave(tb); // answered once the session has ended
  const c = await client(srv);
  const r = await resume(c, 'test:u1', { session: gone, version: tb.version });
  assert.notEqual(r.reply.response.session, gone);
});

test('a per-connection state comes back with its session after kill -9', async () => {
  const dataDir = tempDir();
  let srv = await server({ dataDir, handlers: TEST_PLUGINS });
  const a = await client(srv);
  const ta = await a.join('priv:p1', { _sc: {} });
  const session = ta.reply.response.session;
  for (let n = 1; n <= 2; n++) assert.equal((await op(a, ta, n)).status, 'ok');
  await ta.waitVersion(3);
  assert.deepEqual(ta.state, { mine: session.split('-')[1], n: 2 }, 'the client id is in the id');
  await srv.kill9();
  srv = await server({ dataDir, handlers: TEST_PLUGINS });
  const c = await client(srv);
  const r = await resume(c, 'priv:p1', { session, version: 1 });
  assert.equal(r.reply.response.session, session);
  // Two patches would be larger than this small state: the state itself.
  assert.deepEqual(r.frames.map((f) => [f.event, f.payload.state]),
    [['state:change', { mine: session.split('-')[1], n: 2 }]]);
  assert.equal((await op(c, r.t, 3)).status, 'ok');
  // Another client never gets it.
  const other = await (await client(srv)).join('priv:p1');
  assert.equal(other.state.n, 0);
  assert.notEqual(other.state.mine, session.split('-')[1]);
});

test('an expired session is forgotten, in memory and in the store', async () => {
  const dataDir = tempDir();
  let srv = await server({ dataDir, args: ['--session-ttl', '1'] });
  const a = await client(srv);
  const ta = await a.join('test:exp', { _sc: {} });
  const session = ta.reply.response.session;
  assert.equal((await op(a, ta, 1)).status, 'ok');
  a.ws.terminate();
  // The condition is time itself: one TTL plus two sweeps (TTL / 2 each) and slack.
  await sleep(3500);
  const c = await client(srv);
  const r = await resume(c, 'test:exp', { session, version: ta.version });
  assert.notEqual(r.reply.response.session, session);
  assert.deepEqual(r.frames.map((f) => f.event), ['state:change']);
  await srv.stop();
  const rows = execFileSync('sqlite3', [join(dataDir, 'statechannel.db'),
    `SELECT count(*) FROM sessions WHERE id = '${session}'`]).toString().trim();
  assert.equal(rows, '0', 'the expired session row is deleted');
});

// Runs the binary expecting it to refuse to start; resolves with {code, output}.
function refusedStart(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['--port', '0', '--handlers', TEST_PLUGINS, ...SMALL, ...args]);
    let output = '';
    p.stdout.on('data', (d) => { output += d; });
    p.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`still running: ${output}`)); },
      4 * WAIT_MS);
    // 'close', not 'exit': the output pipes may still hold the message when it exits.
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

test('a corrupt, truncated or newer-schema database, or an unusable --data, stops the start with a clear message', async () => {
  // A database with some content, to damage.
  const good = tempDir();
  const srv = await server({ dataDir: good });
  const c = await client(srv);
  const t = await c.join('test:victim');
  for (let i = 0; i < 20; i++) await c.event(t, 'inc');
  await srv.stop();
  const db = readFileSync(join(good, 'statechannel.db'));
  assert.ok(db.length > 4096);

  const garbage = tempDir();
  writeFileSync(join(garbage, 'statechannel.db'), Buffer.alloc(8192, 0x5a));
  let r = await refusedStart(['--data', garbage]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /statechannel\.db/);
  assert.match(r.output, /corrupt|not a database/i);

  const truncated = tempDir();
  writeFileSync(join(truncated, 'statechannel.db'), db);
  truncateSync(join(truncated, 'statechannel.db'), Math.floor(db.length / 2));
  r = await refusedStart(['--data', truncated]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /corrupt|truncated|malformed/i);

  const newer = tempDir();
  writeFileSync(join(newer, 'statechannel.db'), db);
  execFileSync('sqlite3', [join(newer, 'statechannel.db'), 'UPDATE schema_version SET version = 99']);
  r = await refusedStart(['--data', newer]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /newer/);

  const file = join(tempDir(), 'a-file');
  writeFileSync(file, 'x');
  r = await refusedStart(['--data', join(file, 'data')]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /data directory/i);

  if (process.getuid && process.getuid() !== 0) { // root writes anywhere
    const ro = tempDir();
    execFileSync('chmod', ['0500', ro]);
    r = await refusedStart(['--data', ro]);
    assert.equal(r.code, 1, r.output);
    execFileSync('chmod', ['0700', ro]);
  }
  assert.ok(statSync(good).isDirectory());
});

test('--durable=off acknowledges at once and still keeps the state across a restart', async () => {
  const dataDir = tempDir();
  let srv = await server({ dataDir, args: ['--durable=off'] });
  const c = await client(srv);
  const t = await c.join('test:off');
  for (let i = 0; i < 5; i++) await c.event(t, 'inc');
  await srv.stop(); // SIGTERM: everything pending is committed
  srv = await server({ dataDir, args: ['--durable', 'off'] });
  const again = await (await client(srv)).join('test:off');
  assert.equal(again.state.count, 5);
});

test('--store off keeps states and sessions in memory only: no database file, nothing after a restart', async () => {
  const dataDir = tempDir();
  let srv = await server({ dataDir, args: ['--store', 'off'] });
  const c = await client(srv);
  const t = await c.join('test:nostore', { _sc: {} });
  const { session } = t.reply.response;
  const first = await op(c, t, 1);
  assert.equal(first.status, 'ok', 'acknowledged without a store');
  assert.equal((await op(c, t, 1)).response.duplicate, true, 'op numbers still hold in memory');
  assert.equal((await op(c, t, 2)).status, 'ok');
  assert.deepEqual(readdirSync(dataDir), [], 'nothing written under --data');
  await srv.stop();

  srv = await server({ dataDir, args: ['--store=off'] });
  const again = await (await client(srv)).join('test:nostore', { _sc: { session, version: 2 } });
  assert.notEqual(again.reply.response.session, session, 'the session did not survive');
  assert.equal(again.state.count, 0, 'the state did not survive');

  const r = await refusedStart(['--data', dataDir, '--store', 'maybe']);
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /--store wants on or off/);
});

// The store's counters in GET /metrics, by name.
async function storeMetrics(srv) {
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  const m = {};
  for (const [, name, value] of text.matchAll(/^(statechannel_store_\w+) ([0-9.e+-]+)$/gm))
    m[name] = Number(value);
  return m;
}

test('/metrics exports the store\'s counters, and they move with the ops committed', async () => {
  const srv = await server({});
  const before = await storeMetrics(srv);
  for (const name of ['commits_total', 'batches_total', 'failed_batches_total', 'checkpoints_total',
    'trimmed_patches_total', 'queue_waits_total', 'commit_seconds_total', 'max_group_batches'])
    assert.ok(`statechannel_store_${name}` in before, `statechannel_store_${name} is exported`);
  const c = await client(srv);
  const t = await c.join('test:metrics', { _sc: {} });
  for (let n = 1; n <= 5; n++) assert.equal((await op(c, t, n)).status, 'ok');
  // Durable acks: each of the 5 ops was committed before its reply.
  const after = await storeMetrics(srv);
  assert.ok(after.statechannel_store_commits_total >= before.statechannel_store_commits_total + 1);
  assert.ok(after.statechannel_store_batches_total >= before.statechannel_store_batches_total + 5);
  assert.ok(after.statechannel_store_commit_seconds_total > before.statechannel_store_commit_seconds_total);
  assert.ok(after.statechannel_store_max_group_batches >= 1);
  assert.equal(after.statechannel_store_failed_batches_total, 0);

  const off = await server({ args: ['--store', 'off'] });
  assert.deepEqual(await storeMetrics(off), {}, 'no store, no store counters');
});

test('--max-sessions: past the limit a new session ends with its channel and cannot resume; the kept ones still can', async () => {
  const srv = await server({ args: ['--max-sessions', '2'] });
  const joined = [];
  for (let i = 0; i < 3; i++) {
    const c = await client(srv);
    const t = await c.join('test:maxsess', { _sc: { client: `c${i}` } });
    joined.push({ c, t, session: t.reply.response.session });
  }
  for (const { c, t } of joined) await c.leave(t); // replied once the channel has left
  const resumed = [];
  for (const { session } of joined) {
    const r = await resume(await client(srv), 'test:maxsess', { session, version: 0 });
    resumed.push(r.reply.response.session === session);
  }
  assert.deepEqual(resumed, [true, true, false], 'the first two were kept, the third was not');
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  // The third join, and the resume of its session (a new session, also past the limit).
  assert.match(text, /statechannel_refusals_total\{reason="session_not_kept"\} [2-9]/);
});
