// Security features against the real binary. --auth with the bundled handlers: a join needs
// a token minted with the server's secret (by `statechannel token`, or any HMAC-SHA256
// implementation: node:crypto here), given in the join params, the phoenix subprotocol or
// the socket params; expired, tampered, wrong-secret and wrong-topic tokens are refused with
// a clear reason. And the --origin allow-list. (Not in the TSan run, whose build has no
// bundled handlers.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN } from './lib/server.mjs';
import { Client, SMALL, TEST_PLUGINS } from './server_helpers.mjs';

const SECRET = 'test-secret-0123456789abcdef-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'sc-auth-'));
const secretFile = join(dir, 'secret');
writeFileSync(secretFile, `${SECRET}\n`);
chmodSync(secretFile, 0o600);

let srv;
before(async () => {
  srv = await startServer({ args: [...SMALL, '--auth', '--auth-secret-file', secretFile] });
});
after(async () => { await srv.stop(); });

const url = (q = '') => `${srv.wsUrl}/websocket?vsn=2.0.0${q}`;

function mint(args, env = {}) {
  const r = spawnSync(BIN, ['token', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// The token format of docs/security.md, written independently of the C code.
function craft(claims, secret = SECRET) {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = createHmac('sha256', secret).update(`sc1.${payload}`).digest('base64url');
  return `sc1.${payload}.${sig}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

async function joinWith(topic, params, clientOpts, q) {
  const c = await Client.open(url(q), clientOpts);
  const r = await c.join(topic, '1', params);
  c.close();
  return r[4];
}

test('a join without a token is refused as unauthorized, saying so', async () => {
  const r = await joinWith('counter:a', {});
  assert.equal(r.status, 'error');
  assert.deepEqual(r.response, { reason: 'unauthorized', message: 'no token given' });
});

test('a token from `statechannel token` in the join params is accepted', async () => {
  const token = mint(['--sub', 'alice', '--auth-secret-file', secretFile]);
  assert.match(token, /^sc1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.equal((await joinWith('counter:a', { token })).status, 'ok');
  assert.equal((await joinWith('todo:a', { token })).status, 'ok');
});

test('the secret may come from the environment, and node:crypto tokens interoperate', async () => {
  const token = mint(['--sub', 'bob', '--ttl', '120'], { STATECHANNEL_AUTH_SECRET: SECRET });
  assert.equal((await joinWith('counter:b', { token })).status, 'ok');
  assert.equal((await joinWith('counter:b', { token: craft({ sub: 'carol', exp: inAnHour() }) })).status, 'ok');
});

test('the phoenix subprotocol token and the socket param token are accepted too', async () => {
  const token = craft({ sub: 'dave', exp: inAnHour() });
  const protocols = ['phoenix', `base64url.bearer.phx.${Buffer.from(token).toString('base64url')}`];
  assert.equal((await joinWith('counter:c', {}, { protocols })).status, 'ok');
  assert.equal((await joinWith('counter:c', {}, undefined, `&token=${token}`)).status, 'ok');
});

test('an expired token is refused', async () => {
  const token = craft({ sub: 'erin', exp: Math.floor(Date.now() / 1000) - 5 });
  assert.deepEqual((await joinWith('counter:d', { token })).response, { reason: 'unauthorized', message: 'token expired' });
});

test('a tampered token is refused: changed claims, or another token\'s signature', async () => {
  const token = craft({ sub: 'frank', exp: inAnHour(), topic: 'counter:e' });
  const [v, payload, sig] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ sub: 'frank', exp: inAnHour(), topic: '*' })).toString('base64url');
  for (const bad of [`${v}.${forged}.${sig}`, `${v}.${payload}.${sig.slice(0, -2)}AA`, `${v}.${payload}x.${sig}`]) {
    const r = await joinWith('counter:e', { token: bad });
    assert.equal(r.response.reason, 'unauthorized');
    assert.match(r.response.message, /signature does not match/);
  }
  assert.equal((await joinWith('counter:e', { token })).status, 'ok');
});

test('a token signed with another secret is refused', async () => {
  const token = craft({ sub: 'grace', exp: inAnHour() }, 'some-other-secret-0123456789abcdef-0123');
  assert.match((await joinWith('counter:f', { token })).response.message, /signature does not match/);
});

test('a token limited to a topic pattern only opens matching topics', async () => {
  const token = mint(['--sub', 'heidi', '--topic', 'todo:*', '--auth-secret-file', secretFile]);
  assert.equal((await joinWith('todo:g', { token })).status, 'ok');
  assert.deepEqual((await joinWith('counter:g', { token })).response,
    { reason: 'unauthorized', message: 'token not valid for this topic' });
});

test('GET /api/state needs the token too (bearer header or query)', async () => {
  const token = craft({ sub: 'ivan', exp: inAnHour() });
  assert.equal((await joinWith('counter:h', { token })).status, 'ok');
  const anon = await fetch(`${srv.base}/api/state/counter:h`);
  assert.equal(anon.status, 403);
  assert.equal((await anon.json()).reason, 'unauthorized');
  const ok = await fetch(`${srv.base}/api/state/counter:h`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200);
  assert.deepEqual((await ok.json()).state, { count: 0 });
});

test('refusals are counted in /metrics', async () => {
  const metrics = await (await fetch(`${srv.base}/metrics`)).text();
  assert.match(metrics, /statechannel_refusals_total\{reason="unauthorized"\} [1-9]/);
});

test('--auth without a secret, or with a short one, refuses to start', () => {
  const env = { ...process.env };
  delete env.STATECHANNEL_AUTH_SECRET;
  let r = spawnSync(BIN, ['--auth', '--port', '0', '--data', dir], { encoding: 'utf8', env, timeout: 10000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--auth needs a secret/);
  r = spawnSync(BIN, ['--auth', '--port', '0', '--data', dir], { encoding: 'utf8', env: { ...env, STATECHANNEL_AUTH_SECRET: 'short' }, timeout: 10000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /must be 32\.\.4096 bytes/);
  r = spawnSync(BIN, ['token', '--sub', 'x'], { encoding: 'utf8', env, timeout: 10000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no secret/);
});

test('with an --origin allow-list, an upgrade without Origin or from another origin gets 403', async () => {
  const s = await startServer({ handlers: TEST_PLUGINS, args: [...SMALL, '--origin', 'https://app.example'] });
  try {
    const u = `${s.wsUrl}/websocket?vsn=2.0.0`;
    await assert.rejects(Client.open(u), /HTTP 403/); // ws sends no Origin by default
    await assert.rejects(Client.open(u, { headers: { Origin: 'https://app.example.evil.com' } }), /HTTP 403/);
    await assert.rejects(Client.open(u, { headers: { Origin: 'null' } }), /HTTP 403/);
    const ok = await Client.open(u, { headers: { Origin: 'HTTPS://APP.EXAMPLE' } }); // case-insensitive
    ok.close();
    assert.match(await (await fetch(`${s.base}/metrics`)).text(), /statechannel_refusals_total\{reason="origin"\} 3/);
  } finally { await s.stop(); }
});
