// bench/soak: our server under a steady mixed load for 10 minutes (issue 7, point 7).
//
// 1. Start build/statechannel on a loopback port.
// 2. Calibrate: wsload --mode mixed at an unreachable rate for CALIBRATE_S seconds; what it
//    completes per second is the capacity for this mix.
// 3. Soak: wsload --mode mixed at half that rate for --minutes (default 10): CONNS connections,
//    each on one counter topic (shared state) and one table topic (per-connection state, 1,000
//    rows rebuilt every 200 events), events round-robin, a topic left and rejoined every
//    LEAVE_EVERY events of a connection, a connection closed and reopened every RECONNECT_EVERY;
//    the server's RSS sampled every 10 s.
// 4. Verdict: the server kept up (completed >= 95% of the offered events), zero errors (error
//    replies, disconnects, version gaps, missing patches, setup failures) and RSS at the end
//    within 10% of RSS after the first minute.
// Prints a summary and writes the JSON lines to build/bench-load/soak-<time>.json.
//
//   bench/soak [--minutes N]      (after make build; `make soak`)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { sleep, freePort, canConnect } from './loopback.mjs';

const root = new URL('../', import.meta.url).pathname;
const BUILD = process.env.BUILD || join(root, 'build');
const OURS = join(BUILD, 'statechannel');
const WSLOAD = join(BUILD, 'wsload');
// Connections and topics per connection of the soak (one counter, one table each).
const CONNS = 100;
const TOPICS = 2;
// Churn: per connection, leave and rejoin a topic every LEAVE_EVERY events and reconnect every
// RECONNECT_EVERY events (at ~half capacity that is several leaves and reconnects per second).
const LEAVE_EVERY = 50;
const RECONNECT_EVERY = 400;
// Connections the server allows above CONNS (reconnects overlap briefly). Kept small: civetweb
// hands each new socket to a free worker thread, and every thread touched keeps its stack
// pages, so a large pool would show as RSS growth that is not a leak.
const CONN_MARGIN = 20;
// Calibration length, and the fraction of the measured capacity the soak runs at. Long enough
// that the store's checkpoints and the WAL's upkeep are part of the figure, not only a burst.
const CALIBRATE_S = 20;
const LOAD_FRACTION = 0.5;
// RSS at the end may differ from RSS after the first minute by at most this much.
const RSS_TOLERANCE = 0.10;
// The soak must complete at least this fraction of the events it offered: below it the server
// fell behind (a backlog, seconds of latency), and its RSS then measures the backlog, not a leak.
const KEPT_UP = 0.95;

const argv = process.argv.slice(2);
const mi = argv.indexOf('--minutes');
const minutes = mi >= 0 ? Number(argv[mi + 1]) : 10;
if (!(minutes > 0 && minutes <= 120)) { console.error('bench/soak: --minutes wants 0 < N <= 120'); process.exit(2); }
for (const bin of [OURS, WSLOAD])
  if (!existsSync(bin)) { console.error(`bench/soak: ${bin} is missing; run make build first`); process.exit(2); }

function wsload(args, timeoutMs) {
  return new Promise((resolve) => {
    const p = spawn(WSLOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err = (err + d).slice(-4000); process.stderr.write(d); });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      try { resolve(JSON.parse(out.trim().split('\n').pop())); }
      catch { resolve({ error: `wsload exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` }); }
    });
  });
}

const port = await freePort();
const dataDir = mkdtempSync(join(tmpdir(), 'sc-soak-'));
const srv = spawn(OURS, ['--port', String(port), '--bind', '127.0.0.1', '--data', dataDir,
                         '--handlers', join(BUILD, 'handlers'), '--public', dataDir,
                         '--max-connections', String(CONNS + CONN_MARGIN), '--max-events-per-sec', '1000000'],
                  { stdio: ['ignore', 'ignore', 'pipe'] });
let srvErr = '';
srv.stderr.on('data', (d) => { srvErr = (srvErr + d).slice(-8000); });
const srvExit = new Promise((r) => srv.on('exit', (code, sig) => r({ code, sig })));
const deadline = Date.now() + 30000;
while (!(await canConnect(port))) {
  if (srv.exitCode !== null || Date.now() > deadline) { console.error(`bench/soak: the server did not start\n${srvErr}`); process.exit(1); }
  await sleep(100);
}

const common = ['--mode', 'mixed', '--port', String(port), '--conns', String(CONNS), '--topics', String(TOPICS),
                '--leave-every', String(LEAVE_EVERY), '--reconnect-every', String(RECONNECT_EVERY),
                '--server-pid', String(srv.pid)];
console.error(`bench/soak: calibrating (${CALIBRATE_S} s), load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const cal = await wsload([...common, '--rate', '1000000', '--warmup', '1', '--duration', String(CALIBRATE_S),
                          '--label', 'soak-calibration'], 120000);
if (cal.error || !(cal.events_per_s > 0)) {
  console.error(`bench/soak: calibration failed: ${cal.error ?? JSON.stringify(cal)}`);
  srv.kill('SIGTERM'); await srvExit; rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
}
const rate = Math.max(1, Math.round(cal.events_per_s * LOAD_FRACTION));
console.error(`bench/soak: capacity ${cal.events_per_s.toFixed(0)} events/s; soaking ${minutes} min at ${rate} events/s`);
const soak = await wsload([...common, '--rate', String(rate), '--warmup', '0', '--duration', String(minutes * 60),
                           '--label', 'soak'], minutes * 60000 + 180000);

srv.kill('SIGTERM');
const ex = await srvExit;
rmSync(dataDir, { recursive: true, force: true });

const errs = soak.error ? 1 : soak.errors + soak.disconnects + soak.version_gaps + soak.missing_patches + soak.setup_failures;
const growth = soak.rss_kb_at_60s > 0 ? (soak.rss_kb_end - soak.rss_kb_at_60s) / soak.rss_kb_at_60s : null;
const rssOk = growth != null && Math.abs(growth) <= RSS_TOLERANCE;
const exitOk = ex.code === 0;
const keptUp = (soak.events_per_s ?? 0) >= KEPT_UP * rate;
const lines = [
  `soak: ${minutes} min, ${CONNS} connections x ${TOPICS} topics (counter + table), ${rate} events/s (half of ${cal.events_per_s.toFixed(0)})`,
  `  events ${soak.events ?? '–'} (${soak.events_per_s?.toFixed(0) ?? '–'}/s), reply p50/p99/max ${soak.reply_ms?.p50} / ${soak.reply_ms?.p99} / ${soak.reply_ms?.max} ms, patch p99 ${soak.patch_ms?.p99} ms`,
  `  leaves+rejoins ${soak.leaves ?? '–'}, reconnects ${soak.reconnects ?? '–'}, overruns ${soak.overruns ?? '–'}`,
  `  errors ${soak.errors ?? '–'} (${soak.error_reasons ?? ''}), disconnects ${soak.disconnects ?? '–'}, gaps ${soak.version_gaps ?? '–'}, missing patches ${soak.missing_patches ?? '–'}, setup failures ${soak.setup_failures ?? '–'}`,
  `  server RSS after 1 min ${((soak.rss_kb_at_60s ?? 0) / 1024).toFixed(1)} MB, at the end ${((soak.rss_kb_end ?? 0) / 1024).toFixed(1)} MB (${growth == null ? '–' : (100 * growth).toFixed(1)}%), server exit ${ex.code ?? ex.sig}`,
  `  kept up with the offered rate (>= ${KEPT_UP * 100}%): ${keptUp ? 'PASS' : 'FAIL'}; zero errors: ${errs === 0 ? 'PASS' : 'FAIL'}; RSS within ${RSS_TOLERANCE * 100}%: ${rssOk ? 'PASS' : 'FAIL'}; clean shutdown: ${exitOk ? 'PASS' : 'FAIL'}`,
  `  load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
];
console.log(lines.join('\n'));
const outDir = join(BUILD, 'bench-load');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
              JSON.stringify({ calibration: cal, soak, minutes, rate }, null, 1));
process.exit(errs === 0 && rssOk && exitOk && keptUp ? 0 : 1);
