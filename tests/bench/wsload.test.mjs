// Smoke runs of build/wsload against the real server and build/echo-peer: a few connections
// for a second or two per mode, checking the JSON line it prints. Not a benchmark (the figures
// are not judged, only that events flowed and every check of the tool passed), so it holds on a
// slow, loaded machine: the deadlines below are generous and nothing waits on a fixed sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { startServer, freePort } from '../js/lib/server.mjs';

const root = new URL('../../', import.meta.url).pathname;
const WSLOAD = process.env.WSLOAD_BIN || join(root, 'build/wsload');
const ECHO = process.env.ECHO_PEER_BIN || join(root, 'build/echo-peer');
// Longest a smoke run may take (setup + warm-up + measurement + drain), on a slow machine.
const RUN_TIMEOUT_MS = 60000;

// Runs wsload with args; resolves with the parsed JSON line and the exit code.
function wsload(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(WSLOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`wsload timed out\n${err}`)); }, RUN_TIMEOUT_MS);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop();
      try { resolve({ code, r: JSON.parse(line), err }); }
      catch { reject(new Error(`wsload printed no JSON line (exit ${code}):\n${out}\n${err}`)); }
    });
  });
}

// Asserts that the tool saw no error of any kind.
function assertClean(r) {
  for (const k of ['errors', 'disconnects', 'setup_failures', 'version_gaps', 'missing_patches'])
    assert.equal(r[k], 0, `${k} = ${r[k]} (${r.error_reasons})`);
}

let server;
const MAX_CONNECTIONS = 40;
before(async () => {
  server = await startServer({ args: ['--bind', '127.0.0.1', '--max-events-per-sec', '1000000',
                                      '--max-connections', String(MAX_CONNECTIONS)] });
});
after(async () => { await server?.stop(); });

const common = () => ['--port', String(server.port), '--warmup', '0.3', '--duration', '1.5',
                      '--setup-timeout', '30'];

test('counter mode gets a reply and exactly one patch per event, versions in order', async () => {
  const { code, r } = await wsload(['--mode', 'counter', '--conns', '4', '--topics', '2', ...common()]);
  assert.equal(code, 0);
  assert.ok(r.events > 0, 'some events completed');
  assert.equal(r.reply_ms.n, r.patch_ms.n, 'one patch per reply');
  assert.ok(r.patch_ms.p50 > 0 && r.patch_ms.max >= r.patch_ms.p99);
  assertClean(r);
});

test('table mode cycles run, update and swaprows with a patch for each', async () => {
  const { code, r } = await wsload(['--mode', 'table', '--conns', '2', ...common()]);
  assert.equal(code, 0);
  assert.ok(r.events > 0);
  assert.equal(r.reply_ms.n, r.patch_ms.n);
  assertClean(r);
});

test('fanout mode delivers every change to every subscriber', async () => {
  const { code, r } = await wsload(['--mode', 'fanout', '--conns', '20', '--rate', '20', ...common()]);
  assert.equal(code, 0);
  assert.ok(r.changes > 0);
  assert.equal(r.deliveries, r.deliveries_expected);
  assert.equal(r.changes_complete, r.changes);
  assert.ok(r.all_subscribers_ms.max >= r.delivery_ms.p50);
  assertClean(r);
});

test('idle mode reads the server memory and finds every connection alive', async () => {
  const { code, r } = await wsload(['--mode', 'idle', '--conns', '10', '--topics', '2', '--server-pid',
                                    String(server.proc.pid), ...common()]);
  assert.equal(code, 0);
  assert.equal(r.joined, 10);
  assert.equal(r.alive, 10);
  assert.ok(r.server.rss_kb > 0 && r.server.threads > MAX_CONNECTIONS);
  assertClean(r);
});

// Waits (bounded) until the server counts no open WebSocket: earlier runs' sockets are gone.
async function noConnectionsOpen() {
  const deadline = Date.now() + 20000;
  for (;;) {
    const text = await (await fetch(`${server.base}/metrics`)).text();
    if (/^statechannel_connections 0$/m.test(text)) return;
    assert.ok(Date.now() < deadline, 'earlier connections did not close in time');
    await new Promise((res) => setTimeout(res, 50));
  }
}

test('a refused upgrade (connection cap) is reported as a setup failure, not a hang', async () => {
  await noConnectionsOpen();
  const { code, r } = await wsload(['--mode', 'counter', '--conns', String(MAX_CONNECTIONS + 5),
                                    ...common()]);
  assert.equal(code, 0, 'the connections that got in were measured');
  assert.equal(r.setup_failures, 5);
  assert.ok(r.events > 0);
});

test('a closed port makes wsload exit 1 with an error line', async () => {
  const port = await freePort();
  const { code, r } = await wsload(['--mode', 'counter', '--conns', '2', '--port', String(port),
                                    '--setup-timeout', '10', '--duration', '1']);
  assert.equal(code, 1);
  assert.equal(r.setup_failures, 2);
});

test('echo mode against the civetweb echo peer', { skip: !existsSync(ECHO) && 'no echo-peer' }, async () => {
  const port = await freePort();
  const peer = spawn(ECHO, ['--port', String(port), '--max-connections', '16'], { stdio: 'ignore' });
  try {
    // Wait (bounded) until it accepts connections.
    const deadline = Date.now() + 10000;
    for (;;) {
      const ok = await new Promise((res) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
        s.on('error', () => res(false));
      });
      if (ok) break;
      assert.ok(Date.now() < deadline, 'echo-peer did not listen in time');
      await new Promise((res) => setTimeout(res, 50));
    }
    const { code, r } = await wsload(['--mode', 'echo', '--conns', '4', '--port', String(port),
                                      '--warmup', '0.3', '--duration', '1.5']);
    assert.equal(code, 0);
    assert.ok(r.events > 0);
    assertClean(r);
  } finally {
    peer.kill('SIGTERM');
  }
});
