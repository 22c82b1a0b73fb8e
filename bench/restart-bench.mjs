// Restart at scale (issue 5, point 7): --sessions native sessions over --topics todo topics
// are created, some topics then change (their sessions miss a few versions), the server is
// killed with kill -9 and restarted on the same data directory, and every session resumes
// with `_sc: {session, version}`. Reported: the server's start-up time, the time until all
// sessions are resumed and up to date, and the bytes sent (state:patch frames vs state:change
// frames vs what full states for everyone would have cost).
//
//   node bench/restart-bench.mjs [--sessions 10000] [--topics 100] [--wave 2000]
//                                [--items 20] [--changed 0.5] [--bin build/statechannel]
//
// civetweb holds one thread per WebSocket (CIVETWEB.md), so the server runs with
// --max-connections = --wave + 16 and the clients connect in waves of --wave sockets (each
// wave joins, is measured, closes); a session outlives its socket, so all --sessions exist
// at the restart. Needs ulimit -n above --wave * 2 (client and server on one machine).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

// The `ws` client the node tests install (tests/js/package.json): no second copy in bench/.
const WebSocket = createRequire(new URL('../tests/js/package.json', import.meta.url))('ws');

const root = new URL('../', import.meta.url).pathname;
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SESSIONS = Number(args.sessions ?? 10000);
const TOPICS = Number(args.topics ?? 100);
const WAVE = Number(args.wave ?? 2000);
const ITEMS = Number(args.items ?? 20);
const CHANGED = Number(args.changed ?? 0.5); // share of topics changed before the kill
const TOGGLES = 3;                            // versions each changed topic moves on
const BIN = args.bin ?? join(root, 'build/statechannel');
const HANDLERS = args.handlers ?? join(root, 'build/handlers');
// Bound on any one wait (a join reply, a frame): generous for 2,000 joins at once.
const WAIT_MS = 60000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dataDir = mkdtempSync(join(tmpdir(), 'sc-restart-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const url = `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`;

async function startServer() {
  const t0 = performance.now();
  const proc = spawn(BIN, ['--port', String(port), '--data', dataDir, '--handlers', HANDLERS,
    '--max-connections', String(WAVE + 16), '--max-events-per-sec', '1000000'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => proc.on('exit', r));
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('the server did not start');
    await sleep(20);
  }
  return { proc, exited, startMs: performance.now() - t0 };
}

// One socket: join topic with params, resolve when done(frames) says it is up to date.
function session(topic, params, upToDate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const rec = { bytes: 0, patchBytes: 0, fullBytes: 0, patches: 0, fulls: 0, reply: null,
      version: null, state: null };
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`${topic}: timed out`)); }, WAIT_MS);
    const finish = () => { clearTimeout(timer); resolve({ ws, rec }); };
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
    ws.on('open', () => ws.send(JSON.stringify(['1', '1', topic, 'phx_join', params])));
    ws.on('message', (data) => {
      rec.bytes += data.length;
      const [, ref, , event, payload] = JSON.parse(data.toString());
      if (event === 'phx_reply' && ref === '1') {
        rec.reply = payload;
        if (payload.status !== 'ok') { clearTimeout(timer); reject(new Error(JSON.stringify(payload))); return; }
      } else if (event === 'state:change') {
        rec.fulls += 1;
        rec.fullBytes += data.length;
        rec.version = payload.version;
        rec.state = payload.state;
      } else if (event === 'state:patch') {
        rec.patches += 1;
        rec.patchBytes += data.length;
        rec.version = payload.version;
      }
      if (rec.reply && upToDate(rec)) finish();
    });
  });
}

async function closeAll(list) {
  await Promise.all(list.map(({ ws }) => new Promise((r) => { ws.once('close', r); ws.close(); })));
}

// A writer socket doing sc:event ops on a topic; resolves each op's reply.
async function writer(topic) {
  const ws = new WebSocket(url);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const waiting = new Map();
  let ref = 1;
  let op = 0;
  ws.on('message', (data) => {
    const [, r, , event, payload] = JSON.parse(data.toString());
    if (event === 'phx_reply' && waiting.has(r)) { waiting.get(r)(payload); waiting.delete(r); }
  });
  const send = (event, payload) => new Promise((r) => {
    ref += 1;
    waiting.set(String(ref), r);
    ws.send(JSON.stringify(['1', String(ref), topic, event, payload]));
  });
  await new Promise((r) => { waiting.set('1', r); ws.send(JSON.stringify(['1', '1', topic, 'phx_join', { _sc: {} }])); });
  return { op: (name, payload) => send('sc:event', { name, payload, op: ++op }), close: () => ws.close() };
}

const topicOf = (i) => `todo:scale${i % TOPICS}`;

let srv = await startServer();
process.stderr.write(`setup: ${TOPICS} topics x ${ITEMS} items, ${SESSIONS} sessions in waves of ${WAVE}\n`);
for (let t = 0; t < TOPICS; t++) {
  const w = await writer(topicOf(t));
  await Promise.all(Array.from({ length: ITEMS }, (_, k) =>
    w.op('add', { title: `item ${k} of topic ${t}, a line of a to-do list` })));
  w.close();
}
const sessions = [];
for (let base = 0; base < SESSIONS; base += WAVE) {
  const n = Math.min(WAVE, SESSIONS - base);
  const wave = await Promise.all(Array.from({ length: n }, (_, k) =>
    session(topicOf(base + k), { _sc: { client: `c${base + k}` } }, (r) => r.version !== null)));
  for (const { rec } of wave)
    sessions.push({ session: rec.reply.response.session, version: rec.version, stateBytes: JSON.stringify(rec.state).length });
  await closeAll(wave);
}
const changedTopics = Math.round(TOPICS * CHANGED);
for (let t = 0; t < changedTopics; t++) {
  const w = await writer(topicOf(t));
  for (let k = 1; k <= TOGGLES; k++) await w.op('toggle', { id: k });
  w.close();
}
await sleep(200);
srv.proc.kill('SIGKILL');
await srv.exited;

srv = await startServer();
const t0 = performance.now();
const totals = { bytes: 0, patchBytes: 0, fullBytes: 0, patches: 0, fulls: 0, same: 0, upToDate: 0, fullIfAll: 0 };
for (let base = 0; base < SESSIONS; base += WAVE) {
  const n = Math.min(WAVE, SESSIONS - base);
  const wave = await Promise.all(Array.from({ length: n }, (_, k) => {
    const s = sessions[base + k];
    return session(topicOf(base + k), { _sc: { session: s.session, version: s.version, client: `c${base + k}` } },
      (r) => r.reply.response.version === s.version || r.version === r.reply.response.version);
  }));
  for (let k = 0; k < n; k++) {
    const { rec } = wave[k];
    const s = sessions[base + k];
    totals.bytes += rec.bytes;
    totals.patchBytes += rec.patchBytes;
    totals.fullBytes += rec.fullBytes;
    totals.patches += rec.patches;
    totals.fulls += rec.fulls;
    totals.same += rec.reply.response.session === s.session ? 1 : 0;
    totals.upToDate += rec.reply.response.version === s.version ? 1 : 0;
    // What a state:change of that state would have cost (the state plus ~80 bytes of frame).
    totals.fullIfAll += s.stateBytes + 80;
  }
  await closeAll(wave);
}
const resumeMs = performance.now() - t0;
srv.proc.kill('SIGTERM');
await srv.exited;
rmSync(dataDir, { recursive: true, force: true });
console.log(JSON.stringify({
  sessions: SESSIONS, topics: TOPICS, wave: WAVE, changed_topics: changedTopics,
  restart_to_healthy_ms: Math.round(srv.startMs), all_resumed_ms: Math.round(resumeMs),
  resumed_same_session: totals.same, already_up_to_date: totals.upToDate,
  patch_frames: totals.patches, full_states: totals.fulls,
  bytes_received: totals.bytes, bytes_in_patches: totals.patchBytes, bytes_in_full_states: totals.fullBytes,
  bytes_if_every_client_got_the_full_state: totals.fullIfAll,
}));
