// A raw Phoenix Channels v2 JSON client over `ws`, for tests that check exact frames.
// It speaks the wire protocol (PROTOCOL.md sections 2-4) by hand, so a test sees every frame
// the server sends: replies, state:change, state:patch, pushes. Nothing here interprets the
// protocol beyond what a test asks for.
//
//   const c = await RawClient.connect(server.wsUrl);
//   const t = await c.join('counter:a');            // {reply, joinRef, state, version}
//   const r = await c.event(t, 'inc', { by: 2 });    // sc:event; waits for the patch it causes
//   r.patch, r.version, t.state                      // t follows the state through patches
//
// Every wait is bounded (WAIT_MS) so a missing frame fails the test instead of hanging it.
import WebSocket from 'ws';
import { applyPatch } from './jsonpatch.mjs';

// How long a test waits for one expected frame: well above the server's worst case on a
// loaded 2-core machine, well below node:test's per-file timeout.
export const WAIT_MS = 5000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class RawClient {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];      // frames received and not yet taken by next()
    this.waiters = [];    // {pred, resolve} of pending next() calls
    this.trackers = [];   // Topic objects whose state follows state:change/patch frames
    this.refCounter = 0;
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => this.#receive(data, isBinary));
  }

  // Opens a socket at `${url}/websocket?vsn=2.0.0&...params`; resolves once it is open.
  static async connect(url, { params = {}, protocols, headers } = {}) {
    const query = new URLSearchParams({ ...params, vsn: '2.0.0' });
    const ws = new WebSocket(`${url}/websocket?${query}`, protocols, { headers });
    const client = new RawClient(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
    return client;
  }

  #receive(data, isBinary) {
    if (isBinary) return;
    const msg = JSON.parse(data.toString());
    const [joinRef, ref, topic, event, payload] = msg;
    const frame = { joinRef, ref, topic, event, payload, raw: data.toString() };
    for (const t of this.trackers) t.observe(frame);
    const i = this.waiters.findIndex((w) => w.pred(frame));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(frame);
    } else {
      this.inbox.push(frame);
    }
  }

  nextRef() {
    this.refCounter += 1;
    return String(this.refCounter);
  }

  // Sends one frame as given (arrays are JSON-encoded; strings sent as they are).
  sendRaw(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  send(joinRef, topic, event, payload) {
    const ref = this.nextRef();
    this.sendRaw([joinRef, ref, topic, event, payload]);
    return ref;
  }

  // Resolves with the first frame (already received or coming) for which pred is true,
  // and removes it from the inbox. Rejects after timeoutMs.
  next(pred, timeoutMs = WAIT_MS, what = 'a frame') {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (f) => { clearTimeout(timer); resolve(f); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; inbox: ` +
          this.inbox.map((f) => f.raw.slice(0, 200)).join('\n')));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  // True when no frame matching pred arrives within ms.
  async nothing(pred, ms) {
    try {
      await this.next(pred, ms);
      return false;
    } catch {
      return true;
    }
  }

  reply(topic, ref, timeoutMs) {
    return this.next((f) => f.event === 'phx_reply' && f.topic === topic && f.ref === ref,
      timeoutMs, `the reply to ref ${ref} on ${topic}`);
  }

  // Sends a push and resolves with its reply frame's payload ({status, response}).
  async request(joinRef, topic, event, payload, timeoutMs) {
    const ref = this.send(joinRef, topic, event, payload);
    return (await this.reply(topic, ref, timeoutMs)).payload;
  }

  heartbeat() {
    return this.request(null, 'phoenix', 'heartbeat', {});
  }

  // Joins topic. Resolves with a Topic; when the join was refused, its .reply.status is
  // 'error' and it has no state. When the join succeeds, waits for (and takes) the
  // state:change that follows it, unless opts.expectState is false (a resume).
  async join(topic, params = {}, opts = {}) {
    const ref = this.nextRef();
    const t = new Topic(this, topic, ref);
    this.trackers.push(t);
    this.sendRaw([ref, ref, topic, 'phx_join', params]);
    t.reply = (await this.reply(topic, ref)).payload;
    if (t.reply.status !== 'ok') {
      this.trackers.splice(this.trackers.indexOf(t), 1);
    } else if (opts.expectState !== false) {
      await this.next((f) => f.topic === topic && f.event === 'state:change' &&
        (f.joinRef === ref || f.joinRef === null), WAIT_MS, `state:change of ${topic}`);
    }
    return t;
  }

  async leave(t) {
    const reply = await this.request(t.joinRef, t.topic, 'phx_leave', {});
    this.trackers.splice(this.trackers.indexOf(t), 1);
    return reply;
  }

  // A native event (sc:event) with the next op number of topic t. Resolves with
  // {reply: the reply payload, patch: the state:patch payload it caused or null}.
  async event(t, name, payload = {}) {
    t.op += 1;
    const before = t.version;
    const reply = await this.request(t.joinRef, t.topic, 'sc:event',
      { name, payload, op: t.op, base: t.version });
    let patch = null;
    if (reply.status === 'ok' && reply.response.version > before) {
      patch = await t.waitVersion(reply.response.version);
    }
    return { reply, patch };
  }

  close(code = 1000) {
    this.ws.close(code);
    return this.closed;
  }
}

// One joined topic as seen by one socket: follows state:change and state:patch frames,
// checking that versions go up by exactly one per patch.
export class Topic {
  constructor(client, topic, joinRef) {
    this.client = client;
    this.topic = topic;
    this.joinRef = joinRef;
    this.reply = null;
    this.state = null;
    this.version = null;
    this.op = 0;
    this.patches = [];   // every state:patch payload received, in order
    this.errors = [];    // version gaps or patches that did not apply
    this.versionWaiters = [];
  }

  mine(frame) {
    return frame.topic === this.topic && (frame.joinRef === this.joinRef || frame.joinRef === null);
  }

  observe(frame) {
    if (!this.mine(frame)) return;
    if (frame.event === 'state:change') {
      this.state = frame.payload.state;
      this.version = frame.payload.version;
    } else if (frame.event === 'state:patch') {
      const { patch, version } = frame.payload;
      this.patches.push(frame.payload);
      if (this.version === null || version !== this.version + 1) {
        this.errors.push(`version gap: had ${this.version}, got ${version}`);
      } else {
        try {
          this.state = applyPatch(this.state, patch);
        } catch (err) {
          this.errors.push(err.message);
        }
      }
      this.version = version;
    } else {
      return;
    }
    this.versionWaiters = this.versionWaiters.filter((w) => {
      if (this.version < w.version) return true;
      w.resolve();
      return false;
    });
  }

  // Resolves with the state:patch payload of that version once the state reached it.
  async waitVersion(version, timeoutMs = WAIT_MS) {
    if (this.version === null || this.version < version) {
      await new Promise((resolve, reject) => {
        const w = { version, resolve: () => { clearTimeout(timer); resolve(); } };
        const timer = setTimeout(() => {
          this.versionWaiters.splice(this.versionWaiters.indexOf(w), 1);
          reject(new Error(`${this.topic}: timed out waiting for version ${version} ` +
            `(at ${this.version})`));
        }, timeoutMs);
        this.versionWaiters.push(w);
      });
    }
    // Patches for this version are consumed from the inbox so later next() calls skip them.
    const frame = this.client.inbox.find((f) => this.mine(f) && f.event === 'state:patch' &&
      f.payload.version === version);
    if (frame) this.client.inbox.splice(this.client.inbox.indexOf(frame), 1);
    return this.patches.find((p) => p.version === version) ?? null;
  }
}
