// Raw Phoenix V2 client for the server_*.test.mjs suites: a `ws` socket, a message inbox with
// awaitable matchers, and the close event. No protocol library in between, so the tests see
// exactly what the server sends.
import { dirname, join } from 'node:path';
import WebSocket from 'ws';
import { BIN } from './lib/server.mjs';

// The test plugins built by tests/server/CMakeLists.txt (test:*, priv:*, scd:*).
export const TEST_PLUGINS = process.env.STATECHANNEL_TEST_PLUGINS
  || join(dirname(BIN), 'tests/server/plugins/good');

// Added to every test server's flags: civetweb starts one thread per allowed connection up
// front, which is slow under ThreadSanitizer; the tests never need more than a few.
export const SMALL = ['--max-connections', '32'];

export class Client {
  constructor(url, { protocols, headers, ca } = {}) {
    this.inbox = [];
    this.waiters = [];
    this.ws = new WebSocket(url, protocols, { headers, ca });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on('message', (data, isBinary) => {
      const msg = isBinary ? { binary: data } : JSON.parse(data.toString());
      this.inbox.push(msg);
      this.flush();
    });
    this.ws.on('error', () => {});
  }

  static async open(url, opts) {
    const c = new Client(url, opts);
    await c.opened;
    return c;
  }

  send(msg) { this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg)); }

  flush() {
    for (const w of [...this.waiters]) {
      const i = this.inbox.findIndex(w.pred);
      if (i >= 0) {
        const [m] = this.inbox.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  }

  // Resolves with the first message (removed from the inbox) matching pred, or rejects.
  next(pred = () => true, timeoutMs = 3000) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting; inbox: ${JSON.stringify(this.inbox).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(w);
      this.flush();
    });
  }

  event(topic, event, timeoutMs) { return this.next((m) => m[2] === topic && m[3] === event, timeoutMs); }
  reply(ref, timeoutMs) { return this.next((m) => m[3] === 'phx_reply' && m[1] === ref, timeoutMs); }

  // Sends a push and resolves with its phx_reply.
  async push(joinRef, ref, topic, event, payload = {}) {
    this.send([joinRef, ref, topic, event, payload]);
    return this.reply(ref);
  }

  async join(topic, ref, params = {}) { return this.push(ref, ref, topic, 'phx_join', params); }

  close() { this.ws.close(4000); }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
