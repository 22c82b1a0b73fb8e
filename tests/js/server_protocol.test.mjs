// The real binary over a raw WebSocket: Phoenix V2 framing, channel lifecycle, state events
// (PROTOCOL.md sections 1-3, 5) and the HTTP endpoints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { Client, SMALL, TEST_PLUGINS } from './server_helpers.mjs';

let srv;
let publicDir;

before(async () => {
  publicDir = mkdtempSync(join(tmpdir(), 'sc-public-'));
  writeFileSync(join(publicDir, 'index.html'), '<!doctype html><title>t</title>');
  mkdirSync(join(publicDir, 'js'));
  writeFileSync(join(publicDir, 'js', 'app.js'), 'export const x = 1;');
  srv = await startServer({ handlers: TEST_PLUGINS, public: publicDir, args: SMALL });
});
after(async () => { await srv.stop(); });

const url = () => `${srv.wsUrl}/websocket?vsn=2.0.0`;

test('heartbeat is answered with an ok reply that echoes the ref', async () => {
  const c = await Client.open(url());
  c.send([null, '5', 'phoenix', 'heartbeat', {}]);
  assert.deepEqual(await c.reply('5'), [null, '5', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  c.close();
});

test('join gets session and version, then the full state; an event gets a patch at version + 1', async () => {
  const c = await Client.open(url());
  const r = await c.join('test:e2e', '3');
  assert.equal(r[4].status, 'ok');
  assert.match(r[4].response.session, /^[0-9a-f]{32}-[0-9a-f]{16}$/);
  const st = await c.event('test:e2e', 'state:change');
  assert.equal(st[0], '3');
  assert.deepEqual(st[4].state, { count: 0, items: [] });
  const v = st[4].version;
  c.send(['3', '4', 'test:e2e', 'lvs_evt:inc', { by: 2 }]);
  const p = await c.event('test:e2e', 'state:patch');
  assert.equal(p[0], null);
  assert.equal(p[4].version, v + 1);
  assert.deepEqual(p[4].patch, [{ op: 'replace', path: '/count', value: 2 }]);
  assert.equal((await c.reply('4'))[4].status, 'ok');
  c.close();
});

test('two subscribers of a topic get the same patch', async () => {
  const a = await Client.open(url());
  const b = await Client.open(url());
  await a.join('test:fan', '1');
  await b.join('test:fan', '1');
  await a.event('test:fan', 'state:change');
  await b.event('test:fan', 'state:change');
  a.send(['1', '2', 'test:fan', 'lvs_evt:inc', {}]);
  const [pa, pb] = await Promise.all([a.event('test:fan', 'state:patch'), b.event('test:fan', 'state:patch')]);
  assert.deepEqual(pa, pb);
  a.close(); b.close();
});

test('leave replies ok then phx_close; pushes afterwards are unmatched', async () => {
  const c = await Client.open(url());
  await c.join('test:lv', '1');
  const r = await c.push('1', '2', 'test:lv', 'phx_leave');
  assert.equal(r[4].status, 'ok');
  assert.deepEqual(await c.event('test:lv', 'phx_close'), ['1', '1', 'test:lv', 'phx_close', {}]);
  const u = await c.push('1', '3', 'test:lv', 'lvs_evt:inc');
  assert.deepEqual(u, [null, '3', 'test:lv', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }]);
  c.close();
});

test('a duplicate join closes the old instance first; its join_ref becomes stale', async () => {
  const c = await Client.open(url());
  await c.join('test:dup', '1');
  c.send(['5', '5', 'test:dup', 'phx_join', {}]);
  assert.deepEqual(await c.event('test:dup', 'phx_close'), ['1', '1', 'test:dup', 'phx_close', {}]);
  assert.equal((await c.reply('5'))[4].status, 'ok');
  c.send(['1', '6', 'test:dup', 'lvs_evt:inc', {}]); // stale join_ref: ignored
  c.send(['5', '7', 'test:dup', 'lvs_evt:inc', {}]);
  assert.equal((await c.reply('7'))[4].status, 'ok');
  assert.equal(c.inbox.some((m) => m[1] === '6'), false);
  c.close();
});

test('joining an unknown topic is refused with unmatched topic', async () => {
  const c = await Client.open(url());
  const r = await c.join('nobody:1', '1');
  assert.deepEqual(r[4], { status: 'error', response: { reason: 'unmatched topic' } });
  c.close();
});

test('the phoenix subprotocol is answered and the bearer token reaches the handler', async () => {
  const token = Buffer.from('s3cret').toString('base64url');
  const c = await Client.open(`${srv.wsUrl}/websocket?vsn=2.0.0&need_token=s3cret`,
    { protocols: ['phoenix', `base64url.bearer.phx.${token}`] });
  assert.equal(c.ws.protocol, 'phoenix');
  assert.equal((await c.join('test:tok', '1'))[4].status, 'ok');
  c.close();
  const d = await Client.open(`${srv.wsUrl}/websocket?vsn=2.0.0&need_token=s3cret`);
  assert.equal((await d.join('test:tok', '1'))[4].response.reason, 'unauthorized');
  d.close();
});

test('the StateChannel mount speaks set_state and state_diff', async () => {
  const c = await Client.open(`ws://127.0.0.1:${srv.port}/statechannel/websocket?vsn=2.0.0`);
  await c.join('test:scm', '1');
  const st = await c.event('test:scm', 'set_state');
  c.send(['1', '2', 'test:scm', '_SCMSG:inc', { value: { by: 3 }, version: st[4].version }]);
  const d = await c.event('test:scm', 'state_diff');
  assert.deepEqual(d[4].diff, [{ op: 'replace', path: '/count', value: 3 }]);
  c.send(['1', '3', 'test:scm', '_SCMSG:noop', { version: d[4].version }]);
  const e = await c.event('test:scm', 'state_diff');
  assert.deepEqual(e[4], { diff: [], version: d[4].version });
  c.close();
});

test('GET /api/state returns the state and version of an existing topic', async () => {
  const c = await Client.open(url());
  await c.join('test:api', '1');
  c.send(['1', '2', 'test:api', 'lvs_evt:inc', {}]);
  await c.reply('2');
  const res = await fetch(`${srv.base}/api/state/test:api`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.state.count, 1);
  assert.equal(typeof body.version, 'number');
  assert.equal((await fetch(`${srv.base}/api/state/test:api?deny=true`)).status, 403);
  assert.equal((await fetch(`${srv.base}/api/state/test:never-joined`)).status, 404);
  assert.equal((await fetch(`${srv.base}/api/state/nobody:x`)).status, 404);
  c.close();
});

test('/healthz and /metrics answer; metrics count refusals by reason', async () => {
  assert.equal((await fetch(`${srv.base}/healthz`)).status, 200);
  const res = await fetch(`${srv.base}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /statechannel_connections \d+/);
  assert.match(text, /statechannel_refusals_total\{reason="unmatched topic"\} \d+/);
  assert.match(text, /statechannel_diff_seconds_bucket\{le="\+Inf"\} \d+/);
});

test('static files are served with their MIME type and traversal never leaves --public', async () => {
  const idx = await fetch(`${srv.base}/`);
  assert.equal(idx.status, 200);
  assert.match(idx.headers.get('content-type'), /text\/html/);
  const js = await fetch(`${srv.base}/js/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  for (const p of ['/../etc/passwd', '/js/../../etc/passwd', '/%2e%2e/etc/passwd', '/js/%2E%2E/%2e%2e/etc/passwd', '/nope.txt']) {
    const res = await fetch(`${srv.base}${p}`);
    assert.equal(res.status, 404, p);
  }
});
