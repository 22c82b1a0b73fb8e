// A fake Statechannel server behind a fake WebSocket class, for unit tests of the client only
// (the browser tests run against the real server). It speaks the Phoenix v2 JSON frames and
// PROTOCOL.md sections 3-4: sessions, resume with missed patches, numbered ops applied once,
// duplicates, op_gap, lvs_refresh. Handlers are functions
//   (state, name, payload) => ({patch, reply}) | ({error, message})
// that return the RFC 6902 ops of their change.
// The socket under test gets `transport: server.WebSocket`.
// Test controls: goOffline()/goOnline() (connections fail), dropConnections(), hold() /
// release() (queue server->client frames), dropVersions (patches never broadcast), loseOps
// (client frames lost), frames (every client frame received), sent (every frame delivered).

import { applyPatch } from '../src/patch.js';

const OPEN = 1;
const CLOSED = 3;

export class FakeServer {
  constructor(handlers) {
    this.handlers = handlers;     // pattern prefix ("todo") -> {init(), event(state,name,payload)}
    this.topics = new Map();      // topic -> {state, version, history: [{version, patch}], subs:Set}
    this.sessions = new Map();    // id -> {topic, lastOp, outcomes: Map}
    this.conns = new Set();
    this.frames = [];             // [jr, ref, topic, event, payload] received, in order
    this.offline = false;
    this.held = null;             // array while holding outgoing frames
    this.dropVersions = new Set();
    this.nextSession = 1;
    this.applied = [];            // [{topic, session, op, name}] every op applied, in order
    this.sent = [];               // frames delivered to clients, in order
    this.loseOps = new Set();     // op numbers whose next sc:event frame the network loses
    const server = this;
    this.WebSocket = class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.bufferedAmount = 0;
        this.joined = new Map(); // topic -> {joinRef, session}
        queueMicrotask(() => {
          if (server.offline) {
            this.readyState = CLOSED;
            this.onerror && this.onerror(new Error('offline'));
            this.onclose && this.onclose({ code: 1006, reason: '' });
            return;
          }
          this.readyState = OPEN;
          server.conns.add(this);
          this.onopen && this.onopen();
        });
      }
      send(data) {
        if (this.readyState !== OPEN) throw new Error('send on a closed socket');
        server._receive(this, JSON.parse(data));
      }
      close(code = 1000, reason = '') {
        if (this.readyState === CLOSED) return;
        this.readyState = CLOSED;
        server._gone(this);
        queueMicrotask(() => this.onclose && this.onclose({ code, reason, wasClean: true }));
      }
    };
  }

  topic(name) {
    let t = this.topics.get(name);
    if (!t) {
      const h = this.handlers[name.split(':')[0]];
      if (!h) return null;
      t = { state: h.init(), version: 1, history: [], subs: new Set() };
      this.topics.set(name, t);
    }
    return t;
  }

  goOffline() { this.offline = true; this.dropConnections(); }
  goOnline() { this.offline = false; }

  // The network drops every connection (close 1006, as an abrupt loss looks to the client).
  dropConnections() {
    for (const c of [...this.conns]) {
      c.readyState = CLOSED;
      this._gone(c);
      queueMicrotask(() => c.onclose && c.onclose({ code: 1006, reason: '', wasClean: false }));
    }
  }

  hold() { this.held = []; }
  release() {
    const frames = this.held || [];
    this.held = null;
    for (const [c, f] of frames) this._deliver(c, f);
  }

  // Changes a topic's state as another client would, broadcasting the patch.
  change(topic, patch) {
    const t = this.topic(topic);
    t.state = applyPatch(t.state, patch);
    t.version++;
    t.history.push({ version: t.version, patch });
    this._broadcast(topic, t);
  }

  events(name) { return this.frames.filter((f) => f[3] === name); }

  _gone(conn) {
    this.conns.delete(conn);
    for (const t of this.topics.values()) t.subs.delete(conn);
  }

  _send(conn, frame) {
    if (this.held) this.held.push([conn, frame]);
    else this._deliver(conn, frame);
  }

  _deliver(conn, frame) {
    if (conn.readyState !== OPEN) return;
    this.sent.push(frame);
    const data = JSON.stringify(frame);
    queueMicrotask(() => conn.readyState === OPEN && conn.onmessage && conn.onmessage({ data }));
  }

  _reply(conn, [jr, ref, topic], status, response) {
    this._send(conn, [jr, ref, topic, 'phx_reply', { status, response }]);
  }

  _broadcast(topic, t) {
    if (this.dropVersions.has(t.version)) return;
    const { patch, version } = t.history[t.history.length - 1];
    for (const c of t.subs) this._send(c, [null, null, topic, 'state:patch', { patch, version }]);
  }

  _receive(conn, frame) {
    if (frame[3] === 'sc:event' && this.loseOps.delete(frame[4].op)) return undefined;
    this.frames.push(frame);
    const [jr, , topic, event, payload] = frame;
    if (topic === 'phoenix' && event === 'heartbeat') return this._reply(conn, frame, 'ok', {});
    if (event === 'phx_join') return this._join(conn, frame);
    if (event === 'phx_leave') {
      conn.joined.delete(topic);
      const t = this.topics.get(topic);
      if (t) t.subs.delete(conn);
      return this._reply(conn, frame, 'ok', {});
    }
    const j = conn.joined.get(topic);
    if (!j) return this._reply(conn, frame, 'error', { reason: 'unmatched topic' });
    if (j.joinRef !== jr) return undefined; // stale join_ref: ignored
    const t = this.topics.get(topic);
    if (event === 'lvs_refresh') {
      this._send(conn, [jr, null, topic, 'state:change', { state: t.state, version: t.version }]);
      return this._reply(conn, frame, 'ok', {});
    }
    if (event === 'sc:event') return this._op(conn, frame, j, t);
    return this._reply(conn, frame, 'error', { reason: 'unknown_event' });
  }

  _join(conn, frame) {
    const [, ref, topic, , params] = frame;
    const t = this.topic(topic);
    if (!t) return this._reply(conn, frame, 'error', { reason: 'unmatched topic' });
    const sc = params && params._sc;
    let session = sc && sc.session && this.sessions.get(sc.session);
    if (session && session.topic !== topic) session = null;
    let id;
    if (session) {
      id = sc.session;
    } else {
      id = `s${this.nextSession++}`;
      session = { topic, lastOp: 0, outcomes: new Map() };
      this.sessions.set(id, session);
    }
    conn.joined.set(topic, { joinRef: ref, session, id });
    t.subs.add(conn);
    this._reply(conn, frame, 'ok', { session: id, version: t.version });
    const resumed = session && sc && sc.session === id && typeof sc.version === 'number';
    if (resumed && sc.version === t.version) return undefined;
    if (resumed && sc.version < t.version && t.history.length && t.history[0].version <= sc.version + 1) {
      for (const h of t.history) {
        if (h.version > sc.version)
          this._send(conn, [ref, null, topic, 'state:patch', { patch: h.patch, version: h.version }]);
      }
      return undefined;
    }
    this._send(conn, [ref, null, topic, 'state:change', { state: t.state, version: t.version }]);
    return undefined;
  }

  _op(conn, frame, j, t) {
    const [, , topic, , payload] = frame;
    const { op, name } = payload;
    const s = j.session;
    if (op <= s.lastOp) {
      const o = s.outcomes.get(op) || { status: 'ok', response: { op, outcome: 'unknown' } };
      return this._reply(conn, frame, o.status, { ...o.response, duplicate: true });
    }
    if (op > s.lastOp + 1)
      return this._reply(conn, frame, 'error', { op, reason: 'op_gap', expected: s.lastOp + 1 });
    const h = this.handlers[topic.split(':')[0]];
    const r = h.event(t.state, name, payload.payload, payload);
    s.lastOp = op;
    let outcome;
    if (r.error) {
      outcome = { status: 'error', response: { op, reason: r.error, message: r.message || r.error } };
    } else {
      if (r.patch && r.patch.length) {
        t.state = applyPatch(t.state, r.patch);
        t.version++;
        t.history.push({ version: t.version, patch: r.patch });
        this._broadcast(topic, t);
      }
      this.applied.push({ topic, op, name, payload: payload.payload });
      outcome = { status: 'ok', response: { op, version: t.version, reply: r.reply ?? null } };
    }
    s.outcomes.set(op, outcome);
    return this._reply(conn, frame, outcome.status, outcome.response);
  }
}

// A todo handler like handlers/todo.c, returning patches.
export const todoHandler = {
  init: () => ({ todos: [], next_id: 1 }),
  event(state, name, p) {
    if (name === 'add') {
      if (typeof p.title !== 'string' || !p.title.trim()) return { error: 'invalid_payload' };
      const item = { id: state.next_id, title: p.title.trim(), done: false };
      return { patch: [{ op: 'add', path: '/todos/-', value: item },
                       { op: 'replace', path: '/next_id', value: state.next_id + 1 }], reply: { id: item.id } };
    }
    const i = state.todos.findIndex((t) => t.id === p.id);
    if (name === 'toggle') {
      if (i < 0) return { error: 'not_found' };
      return { patch: [{ op: 'replace', path: `/todos/${i}/done`, value: !state.todos[i].done }] };
    }
    if (name === 'remove') {
      if (i < 0) return { error: 'not_found' };
      return { patch: [{ op: 'remove', path: `/todos/${i}` }] };
    }
    return { error: 'unknown_event' };
  },
};

// A counter handler like handlers/counter.c.
export const counterHandler = {
  init: () => ({ count: 0 }),
  event(state, name, p) {
    if (name === 'inc') return { patch: [{ op: 'replace', path: '/count', value: state.count + (p.by ?? 1) }] };
    if (name === 'noop') return { patch: [] };
    if (name === 'refuse') return { error: 'out_of_range', message: 'too far' };
    return { error: 'unknown_event' };
  },
};

/** Resolves once predicate() is true (polling the microtask/timer queues), or rejects after
 *  `ms` of real time: tests wait on outcomes, never on fixed sleeps. */
export async function until(predicate, ms = 2000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
