// Starts the real statechannel binary on a free loopback port for a test, and stops it.
// Every test file uses this; nothing here fakes the server.
import { spawn } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from '../../../bench/loopback.mjs';

const root = new URL('../../../', import.meta.url).pathname;
export const BIN = process.env.STATECHANNEL_BIN || join(root, 'build/statechannel');
export const HANDLERS = process.env.STATECHANNEL_HANDLERS || join(root, 'build/handlers');
export const PUBLIC = process.env.STATECHANNEL_PUBLIC || join(root, 'public/dist');

// freePort and sleep are the bench drivers' loopback helpers; tests re-export freePort.
export { freePort };

// GET url over https trusting only ca; resolves with the status code.
function httpsStatus(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
}

// Starts the server; resolves once GET /healthz answers 200 (at most timeoutMs).
// opts: { args: [...extra flags], dataDir, port, handlers, keepData, tls: { ca } } -- with
// tls the server was given --tls-cert/--tls-key: base is https://, wsUrl wss://, and the
// health check trusts only ca.
export async function startServer(opts = {}) {
  // Without opts.port the server listens on port 0 and logs the port the kernel chose: no race
  // with other processes for a port that was free a moment ago (a restart on the same port, as
  // the crash tests do, passes opts.port).
  let port = opts.port ?? 0;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sc-test-'));
  const args = ['--port', String(port), '--data', dataDir,
                '--handlers', opts.handlers ?? HANDLERS, '--public', opts.public ?? PUBLIC,
                ...(opts.args ?? [])];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  let expectingExit = false;
  // A server that dies on its own (a crash, a sanitizer report) prints why: the test output must
  // carry that, or a CI failure shows only ECONNREFUSED in the tests that follow.
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    if (!expectingExit)
      process.stderr.write(`statechannel exited unexpectedly (code ${code}, signal ${signal}):\n${output}\n`);
    resolve({ code, signal });
  }));

  const deadline = Date.now() + (opts.timeoutMs ?? 10000);
  let base = null;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`statechannel exited during startup:\n${output}`);
    if (port === 0) {
      const m = /listening on port (\d+)/.exec(output);
      if (m) port = Number(m[1]);
    }
    if (port !== 0) base ??= `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    if (base) try {
      const status = opts.tls ? await httpsStatus(`${base}/healthz`, opts.tls.ca)
        : (await fetch(`${base}/healthz`)).status;
      if (status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      expectingExit = true;
      proc.kill('SIGKILL');
      throw new Error(`statechannel did not become healthy in time:\n${output}`);
    }
    await sleep(50);
  }

  const server = {
    port, dataDir, proc, exited, base,
    wsUrl: `${opts.tls ? 'wss' : 'ws'}://127.0.0.1:${port}/socket`,
    output: () => output,
    // Graceful stop (SIGTERM); resolves with {code, signal}.
    async stop(signal = 'SIGTERM') {
      expectingExit = true;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const result = await exited;
      if (!opts.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return result;
    },
    // Crash (kill -9), keeping the data directory for a restart.
    async kill9() {
      expectingExit = true;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
  return server;
}
