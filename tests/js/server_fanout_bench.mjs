// Fan-out figure (not a test): N subscribers of one per-topic state, one of them sends E
// events one after another (each waits for its reply). Prints the event round trip (p50/p99)
// and the time until every subscriber holds the final version. The node client parses every
// frame of every socket on one thread, so on a small box it is usually the bottleneck.
//   node tests/js/server_fanout_bench.mjs [N=200] [E=500]   (after make build)
import { startServer } from './lib/server.mjs';
import { Client, TEST_PLUGINS } from './server_helpers.mjs';
const N = +(process.argv[2] || 200), E = +(process.argv[3] || 500);
const s = await startServer({ handlers: TEST_PLUGINS, args: ['--max-connections', String(N + 10), '--max-events-per-sec', '100000'] });
const url = `${s.wsUrl}/websocket?vsn=2.0.0`;
const subs = [];
for (let i = 0; i < N; i++) { const c = await Client.open(url); await c.join('test:bench', '1'); subs.push(c); }
const maxv = new Array(N).fill(0);
subs.forEach((c, k) => { c.inbox = []; c.flush = () => {}; c.ws.on('message', (d) => { const m = JSON.parse(d); if (m[3] === 'state:patch') maxv[k] = m[4].version; }); });
const pub = subs[0];
const lat = [];
const t0 = performance.now();
for (let i = 0; i < E; i++) {
  const t = performance.now();
  pub.send(['1', String(i + 10), 'test:bench', 'lvs_evt:inc', {}]);
  const r = await new Promise((res) => { const h = (d) => { const m = JSON.parse(d); if (m[1] === String(i + 10)) { pub.ws.off('message', h); res(m); } }; pub.ws.on('message', h); });
  lat.push(performance.now() - t);
}
const st = await (await fetch(`${s.base}/api/state/test:bench`)).json();
while (maxv.some((v) => v < st.version)) await new Promise((r) => setTimeout(r, 1));
const total = performance.now() - t0;
lat.sort((a, b) => a - b);
console.log(JSON.stringify({ subscribers: N, events: E, event_rtt_p50_ms: +lat[Math.floor(E / 2)].toFixed(3), event_rtt_p99_ms: +lat[Math.floor(E * 0.99)].toFixed(3), all_subscribers_at_final_version_ms: +total.toFixed(1), patch_frames_per_s: Math.round(N * E / (total / 1000)) }));
for (const c of subs) c.close();
await s.stop();
