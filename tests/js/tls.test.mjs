// TLS through civetweb's built-in support (--tls-cert, --tls-key) with a self-signed
// certificate made at test time: https and wss work and present that certificate, plain HTTP
// on the port gets nothing, and bad flags refuse to start. Also the regression that matters
// most: Debian's civetweb crashed at the first TLS handshake with OpenSSL 3 (docs/security.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer, BIN } from './lib/server.mjs';
import { Client, SMALL, TEST_PLUGINS } from './server_helpers.mjs';
import { rawHttp } from './lib/rawws.mjs';

const dir = mkdtempSync(join(tmpdir(), 'sc-tls-'));
const certFile = join(dir, 'cert.pem'), keyFile = join(dir, 'key.pem');
let srv, cert;

before(async () => {
  // P-256 keys are made in milliseconds; the certificate names 127.0.0.1 so that clients can
  // verify it for real (trusting it as their only CA) instead of skipping verification.
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=statechannel-test',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, r.stderr);
  cert = readFileSync(certFile);
  srv = await startServer({ handlers: TEST_PLUGINS, tls: { ca: cert }, args: [...SMALL, '--tls-cert', certFile, '--tls-key', keyFile] });
});
after(async () => { await srv.stop(); });

function httpsGet(path) {
  return new Promise((resolve, reject) => {
    let peer, protocol;
    const req = https.get(`${srv.base}${path}`, { ca: cert, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, peer, protocol }));
    });
    // Read the session as soon as the handshake is done: the server closes after answering.
    req.on('socket', (sock) => sock.once('secureConnect', () => {
      peer = sock.getPeerCertificate();
      protocol = sock.getProtocol();
    }));
    req.on('error', reject);
  });
}

test('https answers with the configured certificate, TLS 1.2 or newer, verified by the client', async () => {
  const r = await httpsGet('/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok\n');
  assert.equal(r.peer.fingerprint256, new X509Certificate(cert).fingerprint256);
  assert.ok(['TLSv1.2', 'TLSv1.3'].includes(r.protocol), r.protocol);
});

test('wss: join, event and patch over TLS, many handshakes in a row (no crash)', async () => {
  for (let i = 0; i < 5; i++) {
    const c = await Client.open(`${srv.wsUrl}/websocket?vsn=2.0.0`, { ca: cert });
    assert.equal((await c.join('test:tls', '1'))[4].status, 'ok');
    await c.event('test:tls', 'state:change');
    c.send(['1', '2', 'test:tls', 'lvs_evt:inc', {}]);
    assert.equal((await c.event('test:tls', 'state:patch'))[4].patch[0].path, '/count');
    c.close();
    await c.closed;
  }
  assert.equal((await httpsGet('/healthz')).status, 200);
});

test('a client that does not trust the certificate is refused by its own check', async () => {
  await assert.rejects(new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: srv.port }, resolve);
    s.on('error', reject);
  }), /self[- ]signed|unable to verify/i);
});

test('plain HTTP on the TLS port gets no HTTP answer', async () => {
  const r = await rawHttp(srv.port, '/healthz', 5000);
  assert.notEqual(r.status, 200);
  assert.doesNotMatch(r.text, /^HTTP\/1\.1 200/);
});

test('--tls-cert without --tls-key, a key that does not match, or a missing file refuse to start', () => {
  const base = ['--port', '0', '--data', dir, '--handlers', TEST_PLUGINS];
  let r = spawnSync(BIN, [...base, '--tls-cert', certFile], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--tls-cert and --tls-key go together/);
  const other = join(dir, 'other.pem');
  spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other], { timeout: 30000 });
  r = spawnSync(BIN, [...base, '--tls-cert', certFile, '--tls-key', other], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /TLS: .*(--tls-key: key values mismatch|does not match the certificate)/);
  r = spawnSync(BIN, [...base, '--tls-cert', join(dir, 'nope.pem'), '--tls-key', keyFile], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /TLS: cannot load the certificate/);
});
