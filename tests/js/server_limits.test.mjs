// The real binary against bad input and limits (PROTOCOL.md section 6): every row gets its
// answer (error reply or close code), and after each the server still serves another client.
// Also: loader rejections at start-up, the connection cap, and SIGTERM closing with 1001.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import WebSocket from 'ws';
import { startServer, BIN } from './lib/server.mjs';
import { Client, SMALL, TEST_PLUGINS, sleep } from './server_helpers.mjs';

let srv;
before(async () => {
  srv = await startServer({
    handlers: TEST_PLUGINS,
    args: [...SMALL, '--max-events-per-sec', '20', '--max-topics', '3', '--max-message', '65536'],
  });
});
after(async () => { await srv.stop(); });

const url = () => `${srv.wsUrl}/websocket?vsn=2.0.0`;

// Another client can still join and get its state: the server survived.
async function stillServes() {
  const c = await Client.open(url());
  const r = await c.join('test:alive', '1');
  assert.equal(r[4].status, 'ok');
  await c.event('test:alive', 'state:change');
  c.close();
}

test('a text frame that is not UTF-8 closes with 1007', async () => {
  const c = await Client.open(url());
  // ws refuses to send invalid UTF-8 as text, so write the raw frame on its socket.
  const payload = Buffer.from([0x5b, 0xff, 0xfe, 0x5d]);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  c.ws._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  assert.equal((await c.closed).code, 1007);
  await stillServes();
});

test('not JSON without a readable ref closes with 1008', async () => {
  const c = await Client.open(url());
  c.send('this is not json');
  assert.equal((await c.closed).code, 1008);
  await stillServes();
});

test('a wrong shape with a string ref gets an error reply and the socket stays open', async () => {
  const c = await Client.open(url());
  c.send('["1","2","test:x","evt"]');
  const r = await c.reply('2');
  assert.deepEqual(r[4].status, 'error');
  assert.equal(r[4].response.reason, 'invalid_message');
  c.send([null, '3', 'phoenix', 'heartbeat', {}]);
  assert.equal((await c.reply('3'))[4].status, 'ok');
  c.close();
});

test('a message over the maximum size closes with 1009, also when fragmented', async () => {
  const c = await Client.open(url());
  c.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(70000) }]));
  assert.equal((await c.closed).code, 1009);
  const d = await Client.open(url());
  const chunk = 'x'.repeat(40000);
  d.ws.send(`[null,"1","phoenix","heartbeat",{"pad":"${chunk}`, { fin: false });
  d.ws.send(`${chunk}"}]`, { fin: true });
  assert.equal((await d.closed).code, 1009);
  await stillServes();
});

test('fragments under the cap are reassembled into one message', async () => {
  const c = await Client.open(url());
  c.ws.send('[null,"7","phoe', { fin: false });
  c.ws.send('nix","heart', { fin: false });
  c.ws.send('beat",{}]', { fin: true });
  assert.equal((await c.reply('7'))[4].status, 'ok');
  c.close();
});

test('JSON nested too deeply gets too_deep when the ref is readable, else 1008', async () => {
  const c = await Client.open(url());
  const deep = '['.repeat(300) + ']'.repeat(300);
  c.send(`["1","2","test:x","lvs_evt:inc",${deep}]`);
  const r = await c.reply('2');
  assert.equal(r[4].response.reason, 'too_deep');
  c.send(`${'['.repeat(300)}${']'.repeat(300)}`);
  assert.equal((await c.closed).code, 1008);
  await stillServes();
});

test('a binary frame closes with 1003', async () => {
  const c = await Client.open(url());
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await c.closed).code, 1003);
  await stillServes();
});

test('an unknown event on a joined topic is refused with unknown_event', async () => {
  const c = await Client.open(url());
  await c.join('test:u', '1');
  const r = await c.push('1', '2', 'test:u', 'made_up_event', {});
  assert.equal(r[4].response.reason, 'unknown_event');
  c.close();
});

test('flooding gets rate_limited replies, then a 1008 close', async () => {
  const c = await Client.open(url());
  for (let i = 0; i < 200; i++) c.send([null, String(i), 'phoenix', 'heartbeat', {}]);
  const limited = await c.next((m) => m[4]?.response?.reason === 'rate_limited');
  assert.equal(limited[4].status, 'error');
  assert.equal((await c.closed).code, 1008);
  await stillServes();
});

test('joining more topics than allowed is refused', async () => {
  const c = await Client.open(url());
  for (let i = 0; i < 3; i++) assert.equal((await c.join(`test:t${i}`, String(i + 1)))[4].status, 'ok');
  const r = await c.join('test:t9', '9');
  assert.equal(r[4].response.reason, 'too many channels joined');
  c.close();
});

test('an upgrade from an origin not in the allow-list gets HTTP 403', async () => {
  const s = await startServer({ handlers: TEST_PLUGINS, args: [...SMALL, '--origin', 'http://good.example'] });
  try {
    await assert.rejects(Client.open(`${s.wsUrl}/websocket?vsn=2.0.0`, { headers: { Origin: 'http://evil.example' } }), /HTTP 403/);
    const ok = await Client.open(`${s.wsUrl}/websocket?vsn=2.0.0`, { headers: { Origin: 'http://good.example' } });
    ok.close();
  } finally { await s.stop(); }
});

test('connections over the cap get HTTP 503, and a slot frees when one closes', async () => {
  const s = await startServer({ handlers: TEST_PLUGINS, args: ['--max-connections', '2'] });
  try {
    const u = `${s.wsUrl}/websocket?vsn=2.0.0`;
    const a = await Client.open(u);
    const b = await Client.open(u);
    await assert.rejects(Client.open(u), /HTTP 503/);
    a.close();
    await a.closed;
    let c;
    for (let i = 0; i < 50 && !c; i++) {
      try { c = await Client.open(u); } catch { await sleep(50); }
    }
    assert.ok(c, 'a slot freed up');
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    assert.match(metrics, /statechannel_refusals_total\{reason="too_many_connections"\} [1-9]/);
    b.close(); c.close();
  } finally { await s.stop(); }
});

test('SIGTERM closes every socket with 1001 and exits 0', async () => {
  const s = await startServer({ handlers: TEST_PLUGINS, args: SMALL });
  const a = await Client.open(`${s.wsUrl}/websocket?vsn=2.0.0`);
  await a.join('test:bye', '1');
  // b has only just been upgraded: the server may still be registering it when SIGTERM lands,
  // and it must get the 1001 close too.
  const b = await Client.open(`${s.wsUrl}/websocket?vsn=2.0.0`);
  const result = await s.stop('SIGTERM');
  const codes = [(await a.closed).code, (await b.closed).code];
  assert.deepEqual({ codes, result }, { codes: [1001, 1001], result: { code: 0, signal: null } },
                   `server output:\n${s.output()}`);
});

test('a handlers directory with a rejected plugin stops the start with a message naming it', () => {
  const plugins = join(dirname(BIN), 'tests/server/plugins');
  const data = mkdtempSync(join(tmpdir(), 'sc-bad-'));
  const cases = [
    ['abi', /bad_abi\.so: rejected: built for handler ABI 2/],
    ['size', /bad_size\.so: rejected: descriptor struct_size/],
    ['noname', /bad_noname\.so: rejected: missing or invalid name/],
    ['init', /bad_init\.so: init of handler "bad_init" failed: missing configuration XYZ/],
    ['dupname', /(dup_name|tp_topic)\.so: rejected: duplicate name "tp_topic" \(also in .*(dup_name|tp_topic)\.so\)/],
    ['duppattern', /(dup_pattern|tp_topic)\.so: rejected: duplicate pattern "test:\*" \(also in .*(dup_pattern|tp_topic)\.so\)/],
  ];
  for (const [dir, re] of cases) {
    const r = spawnSync(BIN, ['--port', '0', '--data', data, '--handlers', join(plugins, dir)], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, dir);
    assert.match(r.stderr, re, dir);
  }
  const r = spawnSync(BIN, ['--port', '0', '--data', '/proc/no-such-dir', '--handlers', join(plugins, 'good')], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /data directory/);
});

test('--help describes every flag', () => {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const f of ['--port', '--data', '--handlers', '--public', '--mount', '--origin', '--max-message', '--max-depth',
    '--max-topics', '--max-events-per-sec', '--max-connections', '--idle-timeout', '--write-timeout']) {
    assert.ok(r.stdout.includes(f), f);
  }
});

test('an idle timeout under 60 s is refused: clients heartbeat every 30 s', () => {
  const bad = spawnSync(BIN, ['--idle-timeout', '30', '--port', '1'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--idle-timeout wants an integer in \[60, 86400\], got "30"/);
});

test('a slow reader converges: it gets a full state at the current version', async () => {
  const s = await startServer({ handlers: TEST_PLUGINS, args: [...SMALL, '--max-queue-bytes', '65536', '--max-events-per-sec', '100000'] });
  try {
    const u = `${s.wsUrl}/websocket?vsn=2.0.0`;
    const slow = await Client.open(u);
    await slow.join('test:slow', '1');
    await slow.event('test:slow', 'state:change');
    slow.ws._socket.pause(); // stop reading: the kernel buffers fill, then our queue
    const fast = await Client.open(u);
    await fast.join('test:slow', '1');
    let last;
    for (let i = 0; i < 250; i++) {
      last = await fast.push('1', String(i + 2), 'test:slow', 'lvs_evt:big', { n: 100000 });
      assert.equal(last[4].status, 'ok');
    }
    await sleep(200);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    assert.match(metrics, /statechannel_frames_dropped_total [1-9]/);
    // the fast client's last patch carries the final version
    const lastPatch = fast.inbox.filter((m) => m[3] === 'state:patch').pop();
    const finalVersion = lastPatch[4].version;
    slow.ws._socket.resume();
    // the slow one eventually holds that version, via a full state
    let version = 0;
    let sawChange = false;
    while (version < finalVersion) {
      const m = await slow.next((x) => x[3] === 'state:change' || x[3] === 'state:patch', 10000);
      if (m[3] === 'state:change') sawChange = true;
      version = m[4].version;
    }
    assert.equal(version, finalVersion);
    assert.ok(sawChange, 'dropped patches were replaced by a state:change');
    slow.close(); fast.close();
  } finally { await s.stop(); }
});
