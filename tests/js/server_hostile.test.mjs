// Hostile clients against the real binary (issue 7, point 5). Each attack runs while a probe
// client keeps doing event -> state:patch round trips on another topic; every test checks
// that the server is still up, that the probe never waited longer than PROBE_BOUND_MS and
// made progress, and what bounded the attacker (a close code, a timeout, a cap, a gauge).
// Deadlines are generous and every wait polls a condition: the suite must pass on a machine
// several times slower and busier than the one it was written on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { Client, TEST_PLUGINS, sleep } from './server_helpers.mjs';
import { connect, closedWith, rawHttp, rawWs, frame, closeCode, upgradeRequest } from './lib/rawws.mjs';

// The longest a probe round trip may take during an attack. A round trip is ~1 ms here; the
// bound is for a slow, loaded CI machine (and ThreadSanitizer builds).
const PROBE_BOUND_MS = 2000;
// civetweb's request timeout (our --write-timeout): bounds how long a client may take to send
// its headers or the rest of a frame. Short here so the tests see the server give up.
const REQUEST_TIMEOUT_MS = 1000;

// Resolves once pred() (may be async) is truthy, polling; rejects after ms.
async function until(pred, what, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(25);
  }
}

// Resolves with promise's value, or rejects after ms (the timer never outlives the wait).
async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  try { return await Promise.race([promise, timeout]); } finally { clearTimeout(timer); }
}

function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: kb('VmRSS'), vmKb: kb('VmSize'), threads: kb('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function metric(s, name) {
  const text = await (await fetch(`${s.base}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+(?:\\.\\d+)?)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

// Runs attack() while a probe client does event -> patch round trips on its own topic.
// Returns { rounds, maxMs } and fails the test when the probe stalls past the bound.
async function withProbe(s, attack, { topic = 'test:probe' } = {}) {
  const probe = await Client.open(`${s.wsUrl}/websocket?vsn=2.0.0`);
  await probe.join(topic, '1');
  await probe.event(topic, 'state:change');
  let running = true, rounds = 0, maxMs = 0, ref = 1, failure;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      probe.send(['1', String(++ref), topic, 'lvs_evt:inc', {}]);
      await probe.event(topic, 'state:patch', PROBE_BOUND_MS);
      await probe.reply(String(ref), PROBE_BOUND_MS);
      maxMs = Math.max(maxMs, performance.now() - t0);
      rounds++;
      await sleep(20); // pacing: ~40 events/s, well under the rate limit
    }
  })().catch((e) => { failure = e; });
  try {
    await attack();
    // A short attack still needs a few round trips after it to show the server serves.
    const after0 = rounds;
    await until(() => failure || rounds >= after0 + 3, 'probe round trips after the attack');
  } finally {
    running = false;
    await loop;
    probe.close();
  }
  if (failure) throw new Error(`probe stalled during the attack: ${failure.message}`);
  assert.ok(rounds >= 3, `probe made progress (${rounds} round trips)`);
  assert.ok(maxMs < PROBE_BOUND_MS, `probe round trip ${maxMs.toFixed(1)} ms`);
  return { rounds, maxMs };
}

let srv, publicDir, outsideDir;
before(async () => {
  outsideDir = mkdtempSync(join(tmpdir(), 'sc-hostile-'));
  writeFileSync(join(outsideDir, 'secret.txt'), 'TOP-SECRET-OUTSIDE-PUBLIC');
  publicDir = join(outsideDir, 'public');
  mkdirSync(join(publicDir, 'sub'), { recursive: true });
  writeFileSync(join(publicDir, 'index.html'), '<!doctype html><title>inside</title>');
  writeFileSync(join(publicDir, 'sub', 'a.txt'), 'inside-a');
  symlinkSync(join(outsideDir, 'secret.txt'), join(publicDir, 'link.txt'));
  srv = await startServer({
    handlers: TEST_PLUGINS, public: publicDir,
    args: ['--max-connections', '64', '--write-timeout', String(REQUEST_TIMEOUT_MS),
           '--max-message', '262144'],
  });
});
after(async () => { await srv.stop(); });

const wsPath = '/socket/websocket?vsn=2.0.0';

test('a frame header announcing 2 GiB is refused; one just under costs only the bytes sent', async () => {
  const base = procStatus(srv.proc.pid);
  const conns0 = await metric(srv, 'statechannel_connections');
  let peakRss = base.rssKb;
  const r = await withProbe(srv, async () => {
    // Over civetweb's 0x7FFF0000 ceiling: closed at once, nothing allocated.
    const big = await rawWs(srv.port, wsPath);
    big.sock.write(frame(1, Buffer.alloc(0), { announce: 2 ** 31 }).subarray(0, 14));
    await within(big.closed, 10000, 'the 2 GiB frame closes the socket');
    // Just under it: civetweb reserves the whole payload (address space only) and waits for
    // the rest; only the 256 KiB actually sent becomes resident.
    const ws = await rawWs(srv.port, wsPath);
    ws.sock.write(frame(1, Buffer.alloc(0), { announce: 0x7fff0000 }).subarray(0, 14));
    ws.sock.write(Buffer.alloc(256 * 1024, 0x20));
    for (let i = 0; i < 20; i++) {
      peakRss = Math.max(peakRss, procStatus(srv.proc.pid).rssKb);
      await sleep(50);
    }
    ws.sock.destroy(); // the attacker vanishes: the worker sees EOF and frees the slot
  });
  assert.ok(peakRss - base.rssKb < 64 * 1024, `RSS grew ${peakRss - base.rssKb} KiB`);
  await until(async () => (await metric(srv, 'statechannel_connections')) <= conns0, 'the slots were released');
  await until(() => procStatus(srv.proc.pid).vmKb - base.vmKb < 512 * 1024, 'the 2 GiB reservation was returned');
  console.log(`# 2 GiB header: probe ${r.rounds} round trips, max ${r.maxMs.toFixed(1)} ms; RSS +${peakRss - base.rssKb} KiB`);
});

test('slowloris: trickled handshakes are cut after the request timeout and others are served', async () => {
  const SOCKETS = 100; // more than the 64 + 16 worker threads: some wait in the accept queue
  const threads0 = procStatus(srv.proc.pid).threads;
  let newcomerMs;
  const r = await withProbe(srv, async () => {
    const socks = await Promise.all(Array.from({ length: SOCKETS }, () => connect(srv.port)));
    const closed = socks.map((s) => closedWith(s));
    const request = Buffer.from(upgradeRequest(wsPath));
    let pos = 0;
    // One more header byte every 100 ms on every socket: never a complete request in time.
    const trickle = setInterval(() => {
      if (pos >= request.length - 2) return;
      for (const s of socks) if (!s.destroyed) s.write(request.subarray(pos, pos + 1));
      pos++;
    }, 100);
    try {
      // A newcomer during the attack still gets its WebSocket and its state.
      const t0 = Date.now();
      const c = await within(Client.open(`${srv.wsUrl}/websocket?vsn=2.0.0`), 20000, 'newcomer connects');
      assert.equal((await c.join('test:newcomer', '1'))[4].status, 'ok');
      newcomerMs = Date.now() - t0;
      c.close();
      // Every trickling socket is closed by the server, long before its request completes.
      await within(Promise.all(closed), 30000, 'every slowloris socket closed by the server');
      assert.ok(pos < request.length - 2, 'closed while still trickling');
    } finally {
      clearInterval(trickle);
      for (const s of socks) s.destroy();
    }
  });
  assert.equal(procStatus(srv.proc.pid).threads, threads0, 'no thread leaked');
  console.log(`# slowloris x${SOCKETS}: newcomer served in ${newcomerMs} ms; probe ${r.rounds} round trips, max ${r.maxMs.toFixed(1)} ms`);
});

test('1,000 half-open connections (connected, silent) are dropped and cost a bounded amount', async () => {
  const N = 1000;
  // Its own server with the default 1,000 WebSocket slots (1,016 worker threads): every
  // silent socket gets a worker, which gives up after the request timeout.
  const s = await startServer({
    handlers: TEST_PLUGINS, timeoutMs: 60000,
    args: ['--max-connections', String(N), '--write-timeout', String(REQUEST_TIMEOUT_MS)],
  });
  try {
    const base = procStatus(s.proc.pid);
    let peak = base, newcomerMs;
    const r = await withProbe(s, async () => {
      const socks = [];
      for (let i = 0; i < N; i += 100) // in batches: the kernel backlog is finite too
        socks.push(...await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => connect(s.port))));
      const closed = socks.map((x) => closedWith(x));
      peak = procStatus(s.proc.pid);
      const t0 = Date.now();
      const c = await within(Client.open(`${s.wsUrl}/websocket?vsn=2.0.0`), 20000, 'newcomer connects');
      assert.equal((await c.join('test:newcomer', '1'))[4].status, 'ok');
      newcomerMs = Date.now() - t0;
      c.close();
      await within(Promise.all(closed), 45000, 'every silent socket closed by the server');
    });
    await until(() => procStatus(s.proc.pid).fds <= base.fds + 2, 'sockets released');
    const end = procStatus(s.proc.pid);
    assert.equal(end.threads, base.threads, 'no thread per attacker beyond the fixed pool');
    assert.ok(peak.rssKb - base.rssKb < 100 * 1024, `RSS +${peak.rssKb - base.rssKb} KiB for ${N} sockets`);
    console.log(`# ${N} half-open: fds ${base.fds} -> ${peak.fds} -> ${end.fds}, RSS +${peak.rssKb - base.rssKb} KiB; `
      + `newcomer ${newcomerMs} ms; probe ${r.rounds} round trips, max ${r.maxMs.toFixed(1)} ms`);
  } finally { await s.stop(); }
});

test('a join flood is bounded by the rate limit, --max-topics and --max-states', async () => {
  const CAP = 500;
  const s = await startServer({ handlers: TEST_PLUGINS, args: ['--max-connections', '64', '--max-states', String(CAP)] });
  try {
    const url = `${s.wsUrl}/websocket?vsn=2.0.0`;
    let refusedFull = 0;
    const r = await withProbe(s, async () => {
      // One socket sends 3,000 joins of new topics without waiting for replies.
      const blast = await Client.open(url);
      for (let i = 0; i < 3000; i++) blast.send([String(i), String(i), `test:flood-${i}`, 'phx_join', {}]);
      assert.equal((await within(blast.closed, 20000, 'the blaster is closed')).code, 1008);
      // Ten sockets churn join + leave of new topics (each state outlives its subscribers).
      await Promise.all(Array.from({ length: 10 }, async (_, k) => {
        const c = await Client.open(url);
        for (let i = 1; i <= 60; i++) {
          const topic = `test:churn-${k}-${i}`;
          const rep = await c.join(topic, String(i));
          if (rep[4].status === 'ok') await c.push(String(i), `l${i}`, topic, 'phx_leave');
          else { assert.equal(rep[4].response.reason, 'too_many_states'); refusedFull++; }
        }
        c.close();
      }));
    });
    const states = await metric(s, 'statechannel_states');
    assert.ok(states <= CAP, `${states} states held, cap ${CAP}`);
    assert.ok(refusedFull > 0, 'joins creating states past the cap were refused');
    // Topics that exist stay joinable.
    const c = await Client.open(url);
    assert.equal((await c.join('test:churn-0-1', '1'))[4].status, 'ok');
    c.close();
    assert.match(await (await fetch(`${s.base}/metrics`)).text(), /statechannel_refusals_total\{reason="too_many_states"\} [1-9]/);
    console.log(`# join flood: ${states} states (cap ${CAP}), ${refusedFull} joins refused; probe ${r.rounds} round trips, max ${r.maxMs.toFixed(1)} ms`);
  } finally { await s.stop(); }
});

test('an event flood past the rate limit: bounded work, rate_limited replies, then 1008', async () => {
  const url = `${srv.wsUrl}/websocket?vsn=2.0.0`;
  let accepted = 0, limited = 0, elapsed = 0;
  const r = await withProbe(srv, async () => {
    const flooder = await Client.open(url);
    await flooder.join('test:flooded', '1');
    const t0 = Date.now();
    for (let i = 0; i < 5000; i++) flooder.send(['1', `e${i}`, 'test:flooded', 'lvs_evt:inc', {}]);
    assert.equal((await within(flooder.closed, 20000, 'the flooder is closed')).code, 1008);
    elapsed = (Date.now() - t0) / 1000;
    for (const m of flooder.inbox) {
      if (m[3] !== 'phx_reply' || !String(m[1]).startsWith('e')) continue;
      if (m[4].status === 'ok') accepted++;
      else if (m[4].response.reason === 'rate_limited') limited++;
    }
  });
  // The bucket holds 200 (the default --max-events-per-sec) and refills at 200/s.
  assert.ok(accepted <= 200 + 200 * elapsed + 10, `${accepted} events accepted in ${elapsed} s`);
  assert.ok(limited > 0, `${limited} rate_limited replies before the close`);
  // The state holds exactly the accepted events.
  const c = await Client.open(url);
  await c.join('test:flooded', '1');
  assert.equal((await c.event('test:flooded', 'state:change'))[4].state.count, accepted);
  c.close();
  console.log(`# event flood: ${accepted} accepted, ${limited} rate_limited, closed after ${elapsed} s; probe ${r.rounds} round trips, max ${r.maxMs.toFixed(1)} ms`);
});

test('a client that never reads while its topic changes 100 times/s: bounded queue, then one full state', async () => {
  const BUDGET = 256 * 1024;
  const s = await startServer({
    handlers: TEST_PLUGINS,
    args: ['--max-connections', '64', '--max-queue-bytes', String(BUDGET), '--max-events-per-sec', '1000'],
  });
  try {
    const url = `${s.wsUrl}/websocket?vsn=2.0.0`;
    const stalled = await Client.open(url);
    await stalled.join('test:busy', '1');
    await stalled.event('test:busy', 'state:change');
    stalled.ws._socket.pause(); // reads nothing from now on: kernel buffers fill, then our queue
    const driver = await Client.open(url);
    await driver.join('test:busy', '1');
    await driver.event('test:busy', 'state:change');
    const STATE = 100000; // each change replaces a 100 KB string: ~10 MB/s toward the stalled client
    let maxQueued = 0, version = 0, peakRss = 0;
    const rss0 = procStatus(s.proc.pid).rssKb;
    const r = await withProbe(s, async () => {
      const t0 = Date.now();
      for (let i = 0; i < 300; i++) { // 100 changes per second for 3 s
        driver.send(['1', `d${i}`, 'test:busy', 'lvs_evt:big', { n: STATE + (i % 2) }]);
        // A patch as big as the state comes as a state:change instead (PROTOCOL.md).
        version = (await driver.next((m) => m[2] === 'test:busy' && (m[3] === 'state:patch' || m[3] === 'state:change'), 10000))[4].version;
        await driver.reply(`d${i}`, 10000);
        if (i % 10 === 0) {
          maxQueued = Math.max(maxQueued, await metric(s, 'statechannel_queued_bytes_max'));
          peakRss = Math.max(peakRss, procStatus(s.proc.pid).rssKb);
        }
        const ahead = t0 + (i + 1) * 10 - Date.now();
        if (ahead > 0) await sleep(ahead);
      }
    });
    // The stalled client's queue never held much more than its budget (+ one full state).
    assert.ok(maxQueued <= BUDGET + 2 * STATE, `largest queue ${maxQueued} B, budget ${BUDGET} B`);
    assert.ok(await metric(s, 'statechannel_frames_dropped_total') > 0, 'patches were dropped');
    assert.ok(await metric(s, 'statechannel_resyncs_total') > 0, 'full states replaced them');
    // ~30 MB were published toward it; the server kept a few queues' worth, not the backlog.
    assert.ok(peakRss - rss0 < 32 * 1024, `RSS +${peakRss - rss0} KiB`);
    // Reading again, it converges on the final version through full states, not 300 patches.
    stalled.ws._socket.resume();
    let got = 0, changes = 0, v = 0;
    while (v < version) {
      const m = await stalled.next((x) => x[3] === 'state:change' || x[3] === 'state:patch', 15000);
      got++;
      if (m[3] === 'state:change') changes++;
      v = m[4].version;
    }
    assert.equal(v, version);
    assert.ok(changes >= 1, 'dropped patches were replaced by a full state');
    assert.ok(got < 300, `${got} frames instead of 300 patches`);
    stalled.close(); driver.close();
    console.log(`# non-reader: largest queue ${maxQueued} B (budget ${BUDGET}), RSS +${peakRss - rss0} KiB, caught up with ${got} frames `
      + `(${changes} full states); probe ${r.rounds} round trips, max ${r.maxMs.toFixed(1)} ms`);
  } finally { await s.stop(); }
});
