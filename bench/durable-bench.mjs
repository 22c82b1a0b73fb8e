// Durable acknowledgements through the real server: sc:event ops per second and ack latency
// with --durable on (the reply waits for the commit, fsync'd), --durable off (the reply is
// sent at once, the store commits in the background) and --store off (no store at all: the
// ceiling), and optionally another server binary (--bin-nostore, e.g. an older build).
//
//   node bench/durable-bench.mjs [--seconds 3] [--clients 16] [--inflight 16]
//                                [--bin build/statechannel] [--bin-nostore path]
//
// Each client joins its own counter:* topic (so the states are independent, as in a real
// deployment of many documents) and keeps --inflight ops outstanding (a closed loop: an op
// leaves when an earlier one was acknowledged). One JSON line per configuration on stdout.
// The load generator is this single Node process: on a 2-core machine it shares the CPU
// with the server, so absolute numbers are pessimistic; compare the lines with each other.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

// The `ws` client the node tests install (tests/js/package.json): no second copy in bench/.
const WebSocket = createRequire(new URL('../tests/js/package.json', import.meta.url))('ws');

const root = new URL('../', import.meta.url).pathname;
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SECONDS = Number(args.seconds ?? 3);
const CLIENTS = Number(args.clients ?? 16);
const INFLIGHT = Number(args.inflight ?? 16);
const BIN = args.bin ?? join(root, 'build/statechannel');
const HANDLERS = args.handlers ?? join(root, 'build/handlers');
// Warm-up before measuring: connections settle, the store's first snapshots are written.
const WARMUP_MS = 500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer(bin, extra) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sc-dbench-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = spawn(bin, ['--port', String(port), '--data', dataDir, '--handlers', HANDLERS,
    '--max-events-per-sec', '1000000', '--max-connections', '64', ...extra],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  // The server logs every connection: keep only the tail, shown if it dies.
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  proc.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`${bin} exited (${code ?? signal}):\n${log}\n`);
  });
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`${bin} did not start`);
    await sleep(50);
  }
  return {
    url: `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`,
    // The store's group size and commit latency, from /metrics (null with --store off).
    async storeFigures() {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const get = (name) => Number(text.match(new RegExp(`^statechannel_store_${name} (\\S+)$`, 'm'))?.[1]);
      const commits = get('commits_total');
      if (!commits) return { batches_per_commit: null, commit_ms: null };
      return { batches_per_commit: Number((get('batches_total') / commits).toFixed(1)),
        commit_ms: Number((get('commit_seconds_total') * 1000 / commits).toFixed(2)) };
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null;
}

async function runClient(url, i, stopAt, measureFrom, stats) {
  const ws = new WebSocket(url);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  const topic = `counter:bench${i}`;
  const pending = new Map(); // ref -> sent time
  let ref = 0;
  let op = 0;
  let done;
  const finished = new Promise((r) => { done = r; });
  const sendOp = () => {
    if (performance.now() >= stopAt) {
      if (pending.size === 0) done();
      return;
    }
    ref += 1;
    op += 1;
    pending.set(String(ref), performance.now());
    ws.send(JSON.stringify(['1', String(ref), topic, 'sc:event', { name: 'inc', payload: {}, op }]));
  };
  ws.on('message', (data) => {
    const [, r, , event, payload] = JSON.parse(data.toString());
    if (event !== 'phx_reply') return;
    if (r === '1') { // the join
      for (let k = 0; k < INFLIGHT; k++) sendOp();
      return;
    }
    const t0 = pending.get(r);
    if (t0 === undefined) return;
    pending.delete(r);
    const now = performance.now();
    if (payload.status !== 'ok') stats.errors += 1;
    else if (t0 >= measureFrom) {
      stats.acks += 1;
      stats.lat.push(now - t0);
    }
    sendOp();
  });
  ws.send(JSON.stringify(['1', '1', topic, 'phx_join', { _sc: {} }]));
  ref = 1;
  await finished;
  ws.close();
}

async function measure(name, bin, extra) {
  const srv = await startServer(bin, extra);
  const stats = { acks: 0, errors: 0, lat: [] };
  const start = performance.now();
  const measureFrom = start + WARMUP_MS;
  const stopAt = measureFrom + SECONDS * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) =>
    runClient(srv.url, i, stopAt, measureFrom, stats)));
  const store = await srv.storeFigures();
  await srv.stop();
  stats.lat.sort((a, b) => a - b);
  const line = {
    config: name, clients: CLIENTS, inflight: INFLIGHT, seconds: SECONDS,
    ops_per_sec: Math.round(stats.acks / SECONDS), errors: stats.errors,
    ack_p50_ms: Number(percentile(stats.lat, 0.5)?.toFixed(2)),
    ack_p99_ms: Number(percentile(stats.lat, 0.99)?.toFixed(2)),
    ...store, load1: Number(loadavg()[0].toFixed(2)),
  };
  console.log(JSON.stringify(line));
}

await measure('durable on', BIN, ['--durable', 'on']);
await measure('durable off', BIN, ['--durable', 'off']);
await measure('store off', BIN, ['--store', 'off']);
if (args['bin-nostore']) await measure('no store (other binary)', args['bin-nostore'], []);
