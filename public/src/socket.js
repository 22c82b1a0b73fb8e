// StateSocket: one WebSocket to a Statechannel server, shared by the StateChannels of a page.
//
// Transport, heartbeats, reconnect and rejoin are the `phoenix` package's Socket; this wrapper
// adds what the channels share: the storage (IndexedDB or memory), a client id persisted in it,
// injectable timers, and a connection status that also listens to the browser's online/offline
// events (a socket cannot tell "no network" from "server down" by itself).

import { Socket } from 'phoenix';
import { StateChannel } from './channel.js';
import { defaultStorage } from './storage.js';
import { DEFAULT_MOUNT, RECONNECT_MS, REJOIN_MS, OFFLINE_PROBE_MS, fromSchedule } from './constants.js';

const CLIENT_ID_KEY = 'client-id';

// 128 random bits, hex: identifies this browser profile to the server in `_sc.client`.
function randomId() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class StateSocket {
  /** See connect(). */
  constructor(url = DEFAULT_MOUNT, options = {}) {
    this.url = url;
    this.timers = options.timers || {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (t) => globalThis.clearTimeout(t),
    };
    this.storage = options.storage ? Promise.resolve(options.storage) : defaultStorage();
    this._clientId = null;
    this._statusListeners = new Set();
    this._online = options.online || (() => (globalThis.navigator && 'onLine' in globalThis.navigator
      ? globalThis.navigator.onLine : true));
    const backoff = options.backoff || {};
    this.phx = new Socket(url, {
      params: options.params,
      authToken: options.authToken,
      transport: options.transport,
      timeout: options.timeout,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      logger: options.logger,
      reconnectAfterMs: backoff.reconnect || ((tries) => fromSchedule(RECONNECT_MS, tries)),
      rejoinAfterMs: backoff.rejoin || ((tries) => fromSchedule(REJOIN_MS, tries)),
      sessionStorage: options.sessionStorage,
    });
    const changed = () => { for (const fn of this._statusListeners) fn(); };
    this.phx.onOpen(changed);
    this.phx.onClose(changed);
    this.phx.onError(changed);
    if (typeof window !== 'undefined' && window.addEventListener) {
      // The browser knows about the network before a socket does: a dead TCP connection takes a
      // heartbeat timeout (30-60 s) to notice, and pushes sent into it are lost until then. So
      // "offline" closes the socket at once (ops wait in the outbox), and "online" reconnects at
      // once instead of waiting out the backoff.
      this._onBrowserOffline = () => {
        this.phx.disconnect();
        this._startProbe();
        changed();
      };
      this._onBrowserOnline = () => {
        this._stopProbe();
        if (!this.phx.isConnected()) this.phx.disconnect(() => this.phx.connect());
        changed();
      };
      window.addEventListener('online', this._onBrowserOnline);
      window.addEventListener('offline', this._onBrowserOffline);
    }
    this._probe = null;
    if (options.autoConnect !== false) this.phx.connect();
  }

  // While the browser says offline the socket stays closed, but navigator.onLine can be wrong
  // (it only knows that some interface is up or down): try to connect now and then anyway.
  _startProbe() {
    this._stopProbe();
    this._probe = globalThis.setInterval(() => {
      if (!this.phx.isConnected()) this.phx.connect();
    }, OFFLINE_PROBE_MS);
  }

  _stopProbe() {
    if (this._probe !== null) globalThis.clearInterval(this._probe);
    this._probe = null;
  }

  /** Whether the browser believes it has a network (always true outside browsers). */
  browserOnline() { return this._online(); }

  /** A random id for this browser profile, created once and kept in storage. */
  async clientId() {
    if (this._clientId) return this._clientId;
    const storage = await this.storage;
    let id;
    try { id = await storage.get(CLIENT_ID_KEY); } catch { id = undefined; }
    if (typeof id !== 'string') {
      id = randomId();
      try { await storage.set(CLIENT_ID_KEY, id); } catch { /* memory-only id for this page */ }
    }
    this._clientId = this._clientId || id;
    return this._clientId;
  }

  /** fn() whenever the connection opens, closes or errors, or the browser goes on/offline. */
  onStatusChange(fn) {
    this._statusListeners.add(fn);
    return () => this._statusListeners.delete(fn);
  }

  /** Joins `topic` (params: object, or a function called at every join) and returns its
   *  StateChannel. options: {reducers, persistState, storageKey}. */
  channel(topic, params = {}, options = {}) {
    return new StateChannel(this, topic, params, options);
  }

  /** Opens the connection (done by the constructor unless autoConnect: false). */
  connect() { this.phx.connect(); }

  /** Closes the connection; channels keep their state and outboxes. */
  disconnect() {
    this._stopProbe();
    if (typeof window !== 'undefined' && window.removeEventListener && this._onBrowserOnline) {
      window.removeEventListener('online', this._onBrowserOnline);
      window.removeEventListener('offline', this._onBrowserOffline);
    }
    return new Promise((resolve) => this.phx.disconnect(resolve));
  }
}

/**
 * Connects to a Statechannel server. `url` is the socket mount ("/socket" on the page's host, or
 * "ws://host:port/socket"). options: params (socket connect params), authToken, storage
 * (default IndexedDB, else memory), timers {setTimeout, clearTimeout}, backoff
 * {reconnect(tries), rejoin(tries)} in ms, transport (a WebSocket class, for Node), timeout
 * (push timeout ms), heartbeatIntervalMs, autoConnect (default true).
 */
export function connect(url, options) {
  return new StateSocket(url, options);
}
