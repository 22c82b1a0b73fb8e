// StateChannel: one topic's synchronised state, its durable outbox and its optimistic view.
//
// Model (docs/client.md has the long form):
//   server state  -- the last state the server published, at `version`. It changes only by a
//                    `state:change` (full state) or a `state:patch` whose version is exactly
//                    version + 1. Patches that arrive early (before any full state, or after a
//                    gap) wait in a buffer sorted by version; a gap sends one `lvs_refresh`.
//   pending ops   -- events pushed and not yet reflected in the server state, in op order.
//                    Each carries an op number (session-scoped, exactly previous + 1) and is
//                    kept in durable storage from before it is first sent until it is
//                    acknowledged, so a reload or a crash replays it; the server applies an op
//                    number once and answers a replay with `duplicate: true`.
//   view          -- server state with the optimistic update of every pending op re-applied on
//                    top, recomputed after each server change. An acknowledged op leaves the
//                    view once the server state reaches the version its ack names; a refused
//                    op leaves it at once (its promise rejects and an error event fires).
// Join params are a function: every (re)join sends `_sc: {session, version, client}` as they
// are at that moment, so the server can resume the session with only the missed patches.
//
// Cost: a server patch is O(patch) with structural sharing, plus O(p) optimistic updates for
// p pending ops with an update function. Limits: MAX_BUFFERED_PATCHES, MAX_OUTBOX.

import { applyPatch } from './patch.js';
import { writeQueue, acquireSlot, memoryStorage } from './storage.js';
import {
  EVENTS, RESUME_PARAM, REASONS, STATUS, MAX_BUFFERED_PATCHES, MAX_OUTBOX, REFRESH_RETRY_MS,
  STATE_PERSIST_MS, MAX_TAB_SLOTS, RATE_LIMIT_BACKOFF_MS, fromSchedule,
} from './constants.js';

/** An op the server refused (or the client could not send); `reason` is the server's code. */
export class OpError extends Error {
  constructor(reason, message, details = {}) {
    super(message || reason);
    this.name = 'OpError';
    this.reason = reason;
    Object.assign(this, details);
  }
}

const RECORD_VERSION = 1; // layout of the persisted records below; bump to discard old ones

export class StateChannel {
  /**
   * Use StateSocket#channel(). `options`: reducers {name: (state, payload) => state} used as
   * the optimistic update of ops pushed without one (and of ops reloaded from the outbox),
   * persistState (default true), storageKey (default url + topic).
   */
  constructor(socket, topic, params = {}, options = {}) {
    this.socket = socket;
    this.topic = topic;
    this._params = params;
    this._reducers = options.reducers || {};
    this._persistState = options.persistState !== false;
    this._timers = socket.timers;

    this._state = undefined;   // server state (undefined until known)
    this._version = null;      // its version
    this._view = undefined;    // server state + optimistic updates
    this._layered = false;     // whether _view has optimistic updates on top of _state
    this._buffer = [];         // early patches [{patch, version}], sorted by version
    this._refreshAsked = false;
    this._refreshTimer = null;
    this._session = null;      // server-issued session id (persisted with the outbox)
    this._lastOp = 0;          // last op number assigned in this session
    this._pending = [];        // entries in op order, see _makeEntry
    this._gapHandled = new Set(); // "joinRef:expected" already resent, to resend once per gap
    this._queue = writeQueue(); // op numbering and outbox writes, in order
    this._statePersistTimer = null;
    this._listeners = new Set();
    this._errorListeners = new Set();
    this._ackListeners = new Set();
    this._status = { status: STATUS.CONNECTING, pending: 0, lastError: null, version: null, session: null };
    this._joinedOnce = false;
    this._closed = false;
    this._storage = null;
    this._keys = null;
    this._releaseSlot = () => {};
    this._onPageHide = null;   // the pagehide listener, removed on leave

    const phx = socket.phx.channel(topic, () => this._joinParams());
    this._phx = phx;
    phx.on(EVENTS.STATE_CHANGE, (p) => this._onFullState(p));
    phx.on(EVENTS.STATE_PATCH, (p) => this._onPatch(p));
    phx.on(EVENTS.HANDLER_ERROR, (p) => this._setError({ reason: 'handler_error', message: p && p.message }));
    phx.onError(() => this._refreshStatus());
    phx.onClose(() => this._refreshStatus());
    this._socketRefs = [socket.onStatusChange(() => this._refreshStatus())];

    this.ready = this._load(options.storageKey || `${socket.url}|${topic}`).then(() => {
      if (this._closed) return;
      phx.join()
        .receive('ok', (resp) => this._onJoined(resp || {}))
        .receive('error', (resp) => {
          this._setError({ reason: (resp && resp.reason) || 'join_refused', message: resp && resp.message });
          this._refreshStatus();
        })
        .receive('timeout', () => this._refreshStatus());
    });
  }

  // ---- store interface ---------------------------------------------------------------------

  /** The state to render: server state plus pending optimistic updates (undefined until the
   *  first state is known, from the cache or the server). Immutable; unchanged subtrees keep
   *  their identity across versions. */
  getState() { return this._view; }

  /** The server's state alone, without optimistic updates. */
  getServerState() { return this._state; }

  /** {status, pending, lastError, version, session}; a new object only when something changed. */
  getStatus() { return this._status; }

  /** Calls fn(state, {prev, ops}) after every change of the view or the status; `ops` is the
   *  patch that turned prev into state when exactly that (no optimistic layer), else null.
   *  Returns the unsubscribe function. */
  subscribe(fn) {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  /** fn(OpError) when an op is refused or the handler fails. Returns the unsubscribe function. */
  onError(fn) { this._errorListeners.add(fn); return () => this._errorListeners.delete(fn); }

  /** fn({op, name, response}) when an op is acknowledged (also ops replayed after a reload, which
   *  have no promise any more). Returns the unsubscribe function. */
  onAck(fn) { this._ackListeners.add(fn); return () => this._ackListeners.delete(fn); }

  /** fn(payload) for events the server's handler emits (toasts, navigation). Returns off(). */
  on(event, fn) {
    const ref = this._phx.on(event, fn);
    return () => this._phx.off(event, ref);
  }

  // ---- pushing -----------------------------------------------------------------------------

  /**
   * Sends event `name` with `payload` as a numbered op; resolves with the server's response
   * {op, version, reply, duplicate?} once acknowledged, rejects with an OpError when refused.
   * `options.optimistic` ((state, payload) => newState, pure) shows the effect at once; without
   * it the reducer registered for `name` is used, if any. Works offline: the op waits in the
   * durable outbox and is sent, in order, when the channel is joined.
   */
  push(name, payload = {}, options = {}) {
    if (this._closed) return Promise.reject(new OpError(REASONS.CLOSED, 'channel left'));
    if (this._pending.filter((e) => !e.acked).length >= MAX_OUTBOX)
      return Promise.reject(new OpError(REASONS.OUTBOX_FULL, `more than ${MAX_OUTBOX} ops pending`));
    const entry = this._makeEntry({ op: null, name, payload, base: this._version },
                                  options.optimistic || this._reducers[name] || null);
    const promise = new Promise((resolve, reject) => { entry.resolve = resolve; entry.reject = reject; });
    this._pending.push(entry);
    this._recompute(null, true);
    this._queue(async () => {
      await this.ready;
      if (entry.done) return;
      entry.op = ++this._lastOp;
      await this._saveOutbox();
    }).then(() => this._send(entry), (err) => {
      // Storage refused the write (quota, private mode): the op is not durable, but it is
      // numbered, so it is still sent; only a reload before its ack would lose it.
      this._setError({ reason: 'storage', message: String(err) });
      this._send(entry);
    });
    return promise;
  }

  /** Asks the server for the full state (normally only done after a version gap). */
  refresh() {
    this._refreshAsked = false;
    this._requestRefresh();
  }

  /** Leaves the channel; pending ops stay in storage for the next page that joins the topic. */
  leave() {
    this._closed = true;
    for (const ref of this._socketRefs) ref();
    this._timers.clearTimeout(this._refreshTimer);
    if (this._onPageHide) window.removeEventListener('pagehide', this._onPageHide);
    this._flushState();
    // The slot is free once the outbox and state writes queued so far are done.
    this._queue(() => this._saveOutbox()).catch(() => {}).finally(() => this._releaseSlot());
    this._phx.leave();
    for (const e of this._pending) if (!e.done) e.reject(new OpError(REASONS.CLOSED, 'channel left'));
    this._refreshStatus();
  }

  // ---- persistence -------------------------------------------------------------------------

  async _load(base) {
    let storage = await this.socket.storage;
    const { slot, release } = await acquireSlot(base, MAX_TAB_SLOTS);
    this._releaseSlot = release;
    if (this._closed) release();
    // Every slot busy (many tabs on one topic): this tab keeps its ops in memory only, rather
    // than share a session with another tab and collide on op numbers.
    if (slot === null) storage = memoryStorage();
    this._storage = storage;
    this._keys = { ops: `${base}#${slot}:ops`, state: `${base}#${slot}:state` };
    this._client = await this.socket.clientId();
    let ops, cached;
    try {
      [ops, cached] = await Promise.all([storage.get(this._keys.ops), storage.get(this._keys.state)]);
    } catch (err) {
      this._setError({ reason: 'storage', message: String(err) });
    }
    if (ops && ops.v === RECORD_VERSION) {
      this._session = ops.session || null;
      this._lastOp = ops.lastOp || 0;
      // Reloaded ops go first: they were made before anything pushed in this page.
      const reloaded = (ops.ops || []).map((o) => this._makeEntry(o, this._reducers[o.name] || null));
      const fresh = this._pending.filter((e) => e.op === null);
      this._pending = reloaded.concat(fresh);
    }
    if (cached && cached.v === RECORD_VERSION && this._state === undefined && cached.state !== undefined) {
      this._state = cached.state;
      this._version = cached.version;
    }
    this._recompute(null, true);
    if (typeof window !== 'undefined' && window.addEventListener && !this._closed) {
      this._onPageHide = () => this._flushState();
      window.addEventListener('pagehide', this._onPageHide);
    }
  }

  _makeEntry(o, update) {
    const noop = () => {};
    return { op: o.op, name: o.name, payload: o.payload, base: o.base ?? null, update,
             acked: false, ackVersion: null, done: false, sentOn: null, tries: 0,
             resolve: noop, reject: noop };
  }

  // The outbox record: everything needed to replay after a reload, and nothing else.
  _saveOutbox() {
    if (!this._storage) return Promise.resolve();
    const ops = this._pending.filter((e) => !e.acked && !e.done && e.op !== null)
      .map((e) => ({ op: e.op, name: e.name, payload: e.payload, base: e.base }));
    return this._storage.set(this._keys.ops, {
      v: RECORD_VERSION, client: this._client, session: this._session, lastOp: this._lastOp, ops,
    });
  }

  // For writes inside a queued step that must go on (send, renumber) even if storage fails.
  async _saveOutboxOrReport() {
    try {
      await this._saveOutbox();
    } catch (err) {
      this._setError({ reason: 'storage', message: String(err) });
    }
  }

  // Queues an outbox write after an ack or a refusal; a failure is reported, not thrown (the
  // record then still holds the op, whose replay would be answered as a duplicate).
  _persistOutbox() {
    this._queue(() => this._saveOutbox())
      .catch((err) => this._setError({ reason: 'storage', message: String(err) }));
  }

  _scheduleStatePersist() {
    if (!this._persistState || this._statePersistTimer !== null) return;
    this._statePersistTimer = this._timers.setTimeout(() => {
      this._statePersistTimer = null;
      this._flushState();
    }, STATE_PERSIST_MS);
  }

  _flushState() {
    if (!this._persistState || !this._storage || this._state === undefined) return;
    if (this._statePersistTimer !== null) {
      this._timers.clearTimeout(this._statePersistTimer);
      this._statePersistTimer = null;
    }
    this._storage.set(this._keys.state, { v: RECORD_VERSION, state: this._state, version: this._version })
      .catch((err) => this._setError({ reason: 'storage', message: String(err) }));
  }

  // ---- joining -----------------------------------------------------------------------------

  _joinParams() {
    const base = typeof this._params === 'function' ? this._params() : this._params;
    const sc = { client: this._client };
    if (this._session) sc.session = this._session;
    if (this._version !== null && this._state !== undefined) sc.version = this._version;
    return { ...base, [RESUME_PARAM]: sc };
  }

  _onJoined(resp) {
    this._joinedOnce = true;
    this._refreshAsked = false;
    this._gapHandled.clear();
    const session = typeof resp.session === 'string' ? resp.session : null;
    // A server version behind ours means it lost history (restored from an older snapshot):
    // our state is not its state, so fetch the full one.
    if (typeof resp.version === 'number' && this._version !== null && resp.version < this._version)
      this._requestRefresh();
    this._queue(async () => {
      if (session && session !== this._session) {
        // A new session numbers ops from 1. Pending ops of the old one are renumbered: the
        // server no longer knows that session, so it cannot have applied them under it.
        this._session = session;
        let n = 0;
        for (const e of this._pending) if (e.op !== null && !e.acked && !e.done) e.op = ++n;
        this._lastOp = n;
        await this._saveOutboxOrReport();
      }
    }).then(() => {
      this._refreshStatus();
      this._sendAll(false);
    });
    this._refreshStatus();
  }

  // ---- server state ------------------------------------------------------------------------

  _onFullState(payload) {
    if (!payload || typeof payload.version !== 'number') return;
    this._state = payload.state;
    this._version = payload.version;
    this._refreshAsked = false;
    this._timers.clearTimeout(this._refreshTimer);
    this._buffer = this._buffer.filter((b) => b.version > payload.version);
    this._drainBuffer();
    this._recompute(null, false);
    this._scheduleStatePersist();
  }

  _onPatch(payload) {
    if (!payload || typeof payload.version !== 'number' || !Array.isArray(payload.patch)) return;
    const v = payload.version;
    if (this._state !== undefined && this._version !== null && v <= this._version) return; // seen
    if (this._state === undefined || this._version === null || v !== this._version + 1) {
      this._bufferPatch(payload);
      if (this._state !== undefined && this._version !== null) this._requestRefresh(); // a gap
      return;
    }
    this._applyServerPatch(payload.patch, v);
    this._drainBuffer();
    this._scheduleStatePersist();
  }

  _bufferPatch(payload) {
    if (this._buffer.some((b) => b.version === payload.version)) return;
    this._buffer.push({ patch: payload.patch, version: payload.version });
    this._buffer.sort((a, b) => a.version - b.version);
    if (this._buffer.length > MAX_BUFFERED_PATCHES) {
      this._buffer = [];
      this._requestRefresh();
    }
  }

  _drainBuffer() {
    while (this._buffer.length && this._buffer[0].version <= this._version + 1) {
      const b = this._buffer.shift();
      if (b.version === this._version + 1) this._applyServerPatch(b.patch, b.version);
    }
    if (this._buffer.length) this._requestRefresh(); // still a hole before the buffered ones
  }

  _applyServerPatch(patch, version) {
    let next;
    try {
      next = applyPatch(this._state, patch);
    } catch (err) {
      // Our state is not the one the patch was made for (a corrupt cache, a server bug):
      // keep what we have, wait for the full state.
      this._setError({ reason: 'patch_failed', message: err.message });
      this._bufferPatch({ patch, version });
      this._refreshAsked = false;
      this._requestRefresh();
      return;
    }
    this._state = next;
    this._version = version;
    this._recompute(patch, false);
  }

  _requestRefresh() {
    if (this._refreshAsked || !this._phx.canPush()) return;
    this._refreshAsked = true;
    this._phx.push(EVENTS.REFRESH, {});
    // If the state:change never comes (lost with a dropped connection), ask again.
    this._timers.clearTimeout(this._refreshTimer);
    this._refreshTimer = this._timers.setTimeout(() => {
      this._refreshAsked = false;
      if (this._buffer.length || this._state === undefined) this._requestRefresh();
    }, REFRESH_RETRY_MS);
  }

  // ---- ops ---------------------------------------------------------------------------------

  _sendAll(force) {
    const todo = this._pending.filter((e) => !e.acked && !e.done && e.op !== null)
      .sort((a, b) => a.op - b.op);
    for (const e of todo) this._send(e, force);
  }

  _send(entry, force = false) {
    if (entry.acked || entry.done || entry.op === null || this._closed || !this._phx.canPush()) return;
    const joinRef = this._phx.joinRef();
    if (entry.sentOn === joinRef && !force) return;
    entry.sentOn = joinRef;
    const op = entry.op;
    const current = () => !entry.acked && !entry.done && entry.op === op;
    this._phx.push(EVENTS.OP, { name: entry.name, payload: entry.payload, op, base: entry.base })
      .receive('ok', (resp) => { if (current()) this._onAck(entry, resp || {}); })
      .receive('error', (resp) => { if (current()) this._onRefused(entry, resp || {}, joinRef); })
      .receive('timeout', () => {
        // The reply is late or lost: send again (a duplicate is answered, not re-applied).
        if (current() && this._phx.joinRef() === joinRef) this._send(entry, true);
      });
  }

  _onAck(entry, resp) {
    entry.acked = true;
    entry.ackVersion = typeof resp.version === 'number' ? resp.version : null;
    this._persistOutbox();
    entry.resolve(resp);
    for (const fn of this._ackListeners) fn({ op: entry.op, name: entry.name, response: resp });
    this._recompute(null, true);
  }

  _onRefused(entry, resp, joinRef) {
    const reason = resp.reason || 'error';
    if (reason === REASONS.OP_GAP && !resp.duplicate) {
      this._onOpGap(Number(resp.expected), joinRef);
      return;
    }
    if (reason === REASONS.RATE_LIMITED && !resp.duplicate) {
      entry.tries++;
      this._timers.setTimeout(() => this._send(entry, true), fromSchedule(RATE_LIMIT_BACKOFF_MS, entry.tries));
      return;
    }
    entry.done = true;
    this._pending = this._pending.filter((e) => e !== entry);
    this._persistOutbox();
    const err = new OpError(reason, resp.message, { op: entry.op, name: entry.name, payload: entry.payload, response: resp });
    entry.reject(err);
    this._setError(err);
    this._recompute(null, true);
  }

  // The server expects op `expected` next: ops from it on are resent in order. Ops numbered
  // before it that we still hold were applied (their answers are on the way or lost; the
  // resend of those is answered `duplicate`). A hole at `expected` (an op the server refused
  // without consuming it) closes by renumbering the rest down.
  _onOpGap(expected, joinRef) {
    if (!Number.isInteger(expected) || expected < 1) return;
    const key = `${joinRef}:${expected}`;
    if (this._gapHandled.has(key)) return;
    this._gapHandled.add(key);
    this._queue(async () => {
      const tail = this._pending.filter((e) => !e.acked && !e.done && e.op !== null && e.op >= expected)
        .sort((a, b) => a.op - b.op);
      if (tail.length && tail[0].op !== expected) {
        let n = expected;
        for (const e of tail) e.op = n++;
        this._lastOp = n - 1;
        await this._saveOutboxOrReport();
      }
      return tail;
    }).then((tail) => { for (const e of tail) this._send(e, true); });
  }

  // ---- view and status ---------------------------------------------------------------------

  // Rebuilds the view from the server state and the pending ops. `patch` is the server patch
  // just applied (passed on to subscribers when nothing optimistic sits on top).
  _recompute(patch, fromLocal) {
    const prev = this._view;
    // Acked ops whose effect the server state now shows leave the optimistic layer.
    this._pending = this._pending.filter((e) => !(e.acked && (e.ackVersion === null ||
      (this._version !== null && this._version >= e.ackVersion) || !e.update)));
    let view = this._state;
    let layered = false;
    if (view !== undefined) {
      for (const e of this._pending) {
        if (!e.update) continue;
        try {
          view = e.update(view, e.payload);
          layered = true;
        } catch (err) {
          e.update = null; // a broken local update must not hide the server's answer
          this._setError({ reason: 'optimistic_failed', message: err.message, op: e.op, name: e.name });
        }
      }
    }
    // The server patch describes prev -> view only when no optimistic layer sat on either.
    const exact = patch && !fromLocal && !layered && !this._layered && prev !== undefined ? patch : null;
    this._view = view;
    this._layered = layered;
    const statusChanged = this._refreshStatus(false);
    if (view !== prev || statusChanged) this._notify({ prev, ops: view !== prev ? exact : null });
  }

  _setError(err) {
    const e = err instanceof OpError ? err : new OpError(err.reason, err.message, err);
    this._status = { ...this._status, lastError: e };
    for (const fn of this._errorListeners) fn(e);
    this._notify({ prev: this._view, ops: null });
  }

  _refreshStatus(notify = true) {
    let status;
    if (!this.socket.browserOnline()) status = STATUS.OFFLINE;
    else if (this._phx.isJoined() && this.socket.phx.isConnected()) status = STATUS.ONLINE;
    else status = this._joinedOnce ? STATUS.RECONNECTING : STATUS.CONNECTING;
    const pending = this._pending.filter((e) => !e.acked && !e.done).length;
    const s = this._status;
    if (s.status === status && s.pending === pending && s.version === this._version && s.session === this._session)
      return false;
    this._status = { status, pending, lastError: s.lastError, version: this._version, session: this._session };
    if (notify) this._notify({ prev: this._view, ops: null });
    return true;
  }

  _notify(info) {
    for (const fn of this._listeners) {
      try {
        fn(this._view, info);
      } catch (err) {
        // One broken subscriber must not starve the others; rethrow outside our call stack.
        this._timers.setTimeout(() => { throw err; }, 0);
      }
    }
  }
}
