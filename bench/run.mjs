// bench/run: the load matrix, side by side. Starts each server on a loopback port (ours from
// build/, the Node peer from bench/peers/node/server.mjs, the civetweb echo ceiling from
// build/echo-peer), drives it with build/wsload, prints one Markdown table with the ratios
// ours / Node peer / echo ceiling and issue 7's targets as pass/fail, and writes every raw JSON
// line to build/bench-load/.
//
//   bench/run            the full matrix (about 10-15 minutes on the 2-core box)
//   bench/run --quick    shorter runs, 2,000 instead of 10,000 connections (about 3 minutes)
//   bench/run --only counter100,table100   a subset (names in the table's first column)
//   bench/run --repeat 3   each scenario 3 times, the servers taking turns (ours, Node, echo,
//                          ours, ...); the table shows the median run, the notes the range
//
// Each scenario gets a fresh server process (memory figures are not polluted by the previous
// scenario, and our server's thread pool is sized for it). Everything is bounded in time:
// wsload has its own deadlines, and each run is killed after RUN_TIMEOUT_MS.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { sleep, freePort, canConnect } from './loopback.mjs';

const root = new URL('../', import.meta.url).pathname;
const BUILD = process.env.BUILD || join(root, 'build');
const OURS = join(BUILD, 'statechannel');
const WSLOAD = join(BUILD, 'wsload');
const ECHO = join(BUILD, 'echo-peer');
// NODE_PEER overrides the Node peer's path (to try a peer that is not merged yet).
const NODE_PEER = process.env.NODE_PEER || join(root, 'bench/peers/node/server.mjs');
// A wsload run that takes longer than this is killed (its own deadlines are far shorter).
const RUN_TIMEOUT_MS = 240000;
// How long a server may take to listen: ours prespawns one thread per allowed connection,
// about 5 s for 10,000 on the 2-core box (CIVETWEB.md), more when the box is busy.
const START_TIMEOUT_MS = 60000;
// How long a server may take to exit on SIGTERM before it is killed.
const STOP_TIMEOUT_MS = 20000;
// Connections our server allows above the scenario's need (the writer, a margin for stragglers).
const CONN_MARGIN = 100;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyArg = argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set(argv[onlyArg + 1].split(',')) : null;
const repeatArg = argv.indexOf('--repeat');
// Runs per scenario and server: this 2-core box is shared, and one run can be off by 2x.
const REPEAT = repeatArg >= 0 ? Math.max(1, Math.min(9, Number(argv[repeatArg + 1]) || 1)) : 1;
// The load generator shares the box: when it was busy or waiting for a CPU this fraction of the
// measured time (wsload's client_cpu + client_runq_wait), it, not the server, set the pace.
const CLIENT_BOUND = 0.9;
const BIG = quick ? 2000 : 10000;
const DUR = quick ? 4 : 10;
const FAN_DUR = quick ? 6 : 15;

for (const bin of [OURS, WSLOAD, ECHO])
  if (!existsSync(bin)) { console.error(`bench/run: ${bin} is missing; run make build first`); process.exit(2); }
const haveNode = existsSync(NODE_PEER);
if (!haveNode) console.error('bench/run: bench/peers/node/server.mjs is not there yet: the Node column stays empty');




// Starts a server with the file-descriptor limit raised to the hard limit (10,000 sockets).
async function startServer(kind, conns) {
  const port = await freePort();
  let cmd, args, dataDir = null;
  if (kind === 'ours') {
    dataDir = mkdtempSync(join(tmpdir(), 'sc-bench-'));
    cmd = OURS;
    args = ['--port', String(port), '--bind', '127.0.0.1', '--data', dataDir,
            '--handlers', join(BUILD, 'handlers'), '--public', dataDir,
            '--max-connections', String(conns + CONN_MARGIN),
            // A benchmark client sends far above a human's rate; the limiter is not measured here.
            '--max-events-per-sec', '1000000'];
  } else if (kind === 'node') {
    cmd = process.execPath;
    args = [NODE_PEER, '--port', String(port)];
  } else {
    cmd = ECHO;
    args = ['--port', String(port), '--max-connections', String(conns + CONN_MARGIN)];
  }
  const proc = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', cmd, ...args],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const exited = new Promise((res) => proc.on('exit', res));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await canConnect(port))) {
    if (proc.exitCode !== null) throw new Error(`${kind} server exited at start:\n${stderr}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`${kind} server did not listen in time`); }
    await sleep(100);
  }
  return {
    kind, port, pid: proc.pid,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function wsload(args) {
  return new Promise((resolve) => {
    const p = spawn(WSLOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err = (err + d).slice(-2000); });
    const t = setTimeout(() => p.kill('SIGKILL'), RUN_TIMEOUT_MS);
    p.on('exit', (code) => {
      clearTimeout(t);
      try {
        const r = JSON.parse(out.trim().split('\n').pop());
        // The first reason wsload gave for a failed connection, for the notes column.
        const why = err.split('\n').find((l) => / failed during setup: | lost: /.test(l));
        if (why) r.first_failure = why.replace(/^wsload: /, '');
        resolve(r);
      } catch { resolve({ error: `wsload exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` }); }
    });
  });
}

// One scenario on one server kind: fresh server, one wsload run, stop.
async function measure(kind, sc) {
  let srv;
  try {
    srv = await startServer(kind, sc.conns);
  } catch (e) {
    return { error: String(e.message).split('\n')[0] };
  }
  const args = ['--port', String(srv.port), '--label', `${sc.name}/${kind}`, ...sc.args];
  if (sc.mode === 'idle') args.push('--server-pid', String(srv.pid));
  process.stderr.write(`  ${sc.name} on ${kind} ...`);
  const r = await wsload(['--mode', sc.mode, '--conns', String(sc.conns), ...args]);
  process.stderr.write(r.error ? ` ${r.error}\n` : ' done\n');
  await srv.stop();
  return r;
}

// Throughput and p99 of a result, by mode.
const rate = (r) => (r == null || r.error) ? null : r.mode === 'fanout' ? r.deliveries_per_s : r.mode === 'idle' ? null : r.events_per_s;
const p99 = (r) => (r == null || r.error) ? null : r.mode === 'fanout' ? r.delivery_ms.p99 : r.mode === 'echo' ? r.reply_ms.p99 : r.patch_ms?.p99;
const clean = (r) => r && !r.error && r.errors === 0 && r.disconnects === 0 && r.setup_failures === 0 &&
                     r.version_gaps === 0 && (r.missing_patches ?? 0) === 0;

// The run with the median throughput (idle: median memory; for an even count the better of the
// two middle runs); failed runs sort last.
function median(list) {
  const key = (r) => (r == null || r.error) ? -Infinity
    : r.mode === 'idle' ? -(r.server?.system_kb_per_conn ?? Infinity) : (rate(r) ?? -Infinity);
  const sorted = [...list].sort((a, b) => key(b) - key(a));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

// Notes on how far a result can be trusted: the range over repeated runs, and whether the load
// generator was the bottleneck (then ours vs a peer compares how much CPU the client got).
function runNotes(scName, kind) {
  const list = runs[scName]?.[kind] ?? [];
  const notes = [];
  const ok = list.filter((r) => r && !r.error && rate(r) != null);
  if (ok.length > 1) {
    const rs = ok.map(rate).sort((a, b) => a - b);
    notes.push(`${kind} ${ok.length} runs ${fmtN(rs[0])}-${fmtN(rs[rs.length - 1])}`);
  }
  const r = results[scName]?.[kind];
  if (r && !r.error && r.client_cpu != null && r.client_cpu + r.client_runq_wait >= CLIENT_BOUND)
    notes.push(`${kind}: client-bound (wsload cpu ${r.client_cpu.toFixed(2)}, run-queue wait ${r.client_runq_wait.toFixed(2)})`);
  return notes;
}

const scenarios = [
  { name: 'echo100', mode: 'echo', conns: 100, kinds: ['echo'], args: ['--duration', String(DUR)] },
  { name: 'echo1000', mode: 'echo', conns: 1000, kinds: ['echo'], args: ['--duration', String(DUR)] },
  { name: 'counter100', mode: 'counter', conns: 100, kinds: ['ours', 'node'], args: ['--duration', String(DUR)] },
  { name: 'counter1000', mode: 'counter', conns: 1000, kinds: ['ours', 'node'], args: ['--duration', String(DUR)] },
  { name: 'table100', mode: 'table', conns: 100, kinds: ['ours', 'node'], args: ['--duration', String(DUR)] },
  { name: 'fanout5', mode: 'fanout', conns: BIG, kinds: ['ours', 'node'], args: ['--rate', '5', '--duration', String(FAN_DUR)] },
  { name: 'fanout10', mode: 'fanout', conns: BIG, kinds: ['ours', 'node'], args: ['--rate', '10', '--duration', String(FAN_DUR)] },
  { name: 'idle', mode: 'idle', conns: BIG, kinds: ['ours', 'node'], args: ['--duration', '5', '--warmup', '0'] },
].filter((s) => !only || only.has(s.name));

const results = {};
const runs = {}; // every run, by scenario and kind
const t0 = Date.now();
console.error(`bench/run: ${quick ? 'quick' : 'full'} matrix${REPEAT > 1 ? `, ${REPEAT} runs each` : ''}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const sc of scenarios) {
  results[sc.name] = {};
  runs[sc.name] = {};
  for (let rep = 0; rep < REPEAT; rep++) {
    for (const kind of sc.kinds) {
      if (kind === 'node' && !haveNode) continue;
      (runs[sc.name][kind] ??= []).push(await measure(kind, sc));
    }
  }
  for (const [kind, list] of Object.entries(runs[sc.name]))
    results[sc.name][kind] = median(list);
}
const elapsed = (Date.now() - t0) / 1000;

// ---- table and targets -------------------------------------------------------------------------
const fmtN = (x) => x == null ? '–' : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(x < 10 ? 2 : 0);
const fmtMs = (x) => x == null ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(0);
const ratio = (a, b) => (a == null || b == null || b === 0) ? null : a / b;
const fmtR = (x) => x == null ? '–' : `${x.toFixed(2)}×`;
const verdict = (ok) => ok == null ? 'n/a' : ok ? 'PASS' : 'FAIL';

const echoFor = { counter100: 'echo100', counter1000: 'echo1000' };
const rows = [];
const checks = [];
for (const sc of scenarios) {
  const res = results[sc.name];
  const ours = res.ours, node = res.node, echo = res.echo ?? results[echoFor[sc.name]]?.echo;
  if (sc.mode === 'echo') {
    rows.push([sc.name, 'msgs/s', '–', '–', fmtN(rate(echo)), '–', '–', '–', fmtMs(p99(echo)),
               [clean(echo) ? '' : (echo?.error || `errors ${echo?.errors}`), ...runNotes(sc.name, 'echo')].filter(Boolean).join('; ')]);
    continue;
  }
  if (sc.mode === 'idle') {
    const kb = (r) => r && !r.error && r.server ? r.server.system_kb_per_conn : null;
    const rss = (r) => r && !r.error && r.server ? r.server.rss_kb_per_conn : null;
    rows.push([sc.name, 'KB/conn (rss+pte+kstack; rss)', `${fmtN(kb(ours))}; ${fmtN(rss(ours))}`,
               `${fmtN(kb(node))}; ${fmtN(rss(node))}`, '–', fmtR(ratio(kb(ours), kb(node))), '–',
               '–', '–', [`alive ${ours?.alive ?? '–'}/${sc.conns} vs ${node?.alive ?? '–'}/${sc.conns}`,
                          `load ${ours?.load1_end ?? '–'} / ${node?.load1_end ?? '–'}`].join('; ')]);
    const k = kb(ours);
    checks.push([`idle ${sc.conns}: <= 110 KB of system memory per connection`, k == null ? null : k <= 110 && ours.alive === sc.conns, `${fmtN(k)} KB`]);
    continue;
  }
  const unit = sc.mode === 'fanout' ? 'deliveries/s' : 'events/s';
  rows.push([sc.name, unit, fmtN(rate(ours)), fmtN(rate(node)), fmtN(rate(echo)), fmtR(ratio(rate(ours), rate(node))),
             fmtR(ratio(rate(ours), rate(echo))), fmtMs(p99(ours)), fmtMs(p99(node)),
             [...[ours, node].map((r, i) => r && !clean(r) ? `${['ours', 'node'][i]}: ${r.error || `err ${r.errors} disc ${r.disconnects} setup ${r.setup_failures} gaps ${r.version_gaps} miss ${r.missing_patches} ${r.error_reasons} ${r.first_failure ?? ''}`}` : ''),
              ...runNotes(sc.name, 'ours'), ...runNotes(sc.name, 'node'),
              ours && !ours.error ? `load ${ours.load1_end} / ${node?.load1_end ?? '–'}` : ''].filter(Boolean).join('; ')]);
  const ro = rate(ours), rn = rate(node), re = rate(echo);
  if (sc.mode === 'counter') {
    checks.push([`${sc.name}: ours >= Node peer`, rn == null || ro == null ? null : ro >= rn && clean(ours), `${fmtR(ratio(ro, rn))}`]);
    checks.push([`${sc.name}: ours >= 0.8x echo ceiling`, re == null || ro == null ? null : ro >= 0.8 * re && clean(ours), `${fmtR(ratio(ro, re))}`]);
    if (sc.conns === 1000)
      checks.push([`${sc.name}: p99 <= Node peer's`, p99(node) == null ? null : p99(ours) <= p99(node), `${fmtMs(p99(ours))} vs ${fmtMs(p99(node))} ms`]);
  } else if (sc.mode === 'table') {
    checks.push([`${sc.name}: ours >= 5x Node peer`, rn == null || ro == null ? null : ro >= 5 * rn && clean(ours), `${fmtR(ratio(ro, rn))}`]);
    checks.push([`${sc.name}: p99 <= 1/5 of Node peer's`, p99(node) == null ? null : p99(ours) <= p99(node) / 5, `${fmtMs(p99(ours))} vs ${fmtMs(p99(node))} ms`]);
  } else if (sc.mode === 'fanout') {
    const limit = sc.name === 'fanout5' ? 150 : 500;
    const all = ours && !ours.error && ours.deliveries === ours.deliveries_expected;
    checks.push([`${sc.name}: ${sc.conns} subscribers, every delivery, p99 <= ${limit} ms`, ours == null || ours.error ? false : all && p99(ours) <= limit && clean(ours),
                 `p99 ${fmtMs(p99(ours))} ms, ${ours?.deliveries ?? 0}/${ours?.deliveries_expected ?? 0} delivered`]);
  }
}

const head = ['scenario', 'unit', 'ours', 'Node peer', 'echo ceiling', 'ours/Node', 'ours/echo', 'p99 ours ms', 'p99 Node ms', 'notes'];
const md = [];
md.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
for (const r of rows) md.push(`| ${r.join(' | ')} |`);
md.push('', '| target | result | measured |', '|---|---|---|');
for (const [what, ok, detail] of checks) md.push(`| ${what} | ${verdict(ok)} | ${detail} |`);
const la = loadavg().map((x) => x.toFixed(2)).join(' ');
md.push('', `${quick ? 'Quick' : 'Full'} matrix, ${elapsed.toFixed(0)} s, ${cpus().length} CPUs, load average at the end ${la}; ` +
        `p99 is event -> state:patch (fanout: event -> each subscriber's patch; echo: round trip).`);
const text = md.join('\n');
console.log(text);

const outDir = join(BUILD, 'bench-load');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(join(outDir, `results-${stamp}.json`), JSON.stringify({ quick, repeat: REPEAT, results, runs, elapsed_s: elapsed, load: loadavg() }, null, 1));
writeFileSync(join(outDir, `table-${stamp}.md`), text + '\n');
console.error(`bench/run: raw results in ${join(outDir, `results-${stamp}.json`)}`);
