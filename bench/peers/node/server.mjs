#!/usr/bin/env node
// server.mjs -- the Node baseline for the benchmarks: the demo protocol of our C server
// (counter:*, todo:*, table:* over Phoenix Channels v2 JSON, LiveState events) as a plain Node
// server on `ws` + `fast-json-patch`, written the way a careful Node developer would write it
// for production, so that bench/run compares us with what users would pick instead.
//
//   node bench/peers/node/server.mjs --port N [--host 127.0.0.1]
//   prints "listening on N" once it accepts connections; SIGTERM/SIGINT: closes every socket
//   with 1001 and exits 0 (at most SHUTDOWN_GRACE_MS later).
//
// Wire (docs/protocol.md sections 1-4, the parts the demo handlers use):
//   GET /socket/websocket?vsn=2.0.0 (vsn missing or 2.x; else HTTP 400); GET /healthz -> 200.
//   Frames [join_ref, ref, topic, event, payload]. heartbeat -> ok reply. phx_join -> ok reply
//   {session, version} then state:change {state, version}; phx_leave -> ok reply + phx_close;
//   lvs_evt:<name> -> handler -> fast-json-patch compare(old, new) -> state:patch {patch,
//   version+1} (nothing when the patch is empty) -> ok reply {} or error {reason, message};
//   sc:event {name, payload, op} (op numbering, duplicates, gaps, as ours); lvs_refresh.
//
// Per event: one handler call (immutable update), one compare over the whole state (O(state):
// fast-json-patch walks both trees), one JSON.stringify of the frame. A per-topic state's
// patch frame is serialized (and UTF-8 encoded) once and the same bytes sent to every
// subscriber; a per-connection state (table) has one subscriber. Everything runs on the one
// event-loop thread; a socket write never blocks it (ws queues), and a client whose queue passes
// MAX_BUFFERED_BYTES is dropped. No logging per message.
//
// Not implemented (not used by the demo handlers or the benchmarks): the StateChannel dialect
// (_SCMSG, _SC_SYNC_), resume with _sc, auth, origin checks, rate limits, the store (states
// live in memory for the life of the process).
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import jsonpatch from 'fast-json-patch'; // CommonJS: its exports are on the default
import { handlerFor, HandlerError } from './handlers.mjs';

// Largest message accepted after reassembly, as ours (--max-message): ws closes with 1009.
const MAX_MESSAGE_BYTES = 1 << 20;
// Longest topic (as ours): topics are names, and each joined one is kept in memory.
const MAX_TOPIC_LEN = 256;
// Channels one socket may join (as ours, --max-topics).
const MAX_TOPICS_PER_SOCKET = 100;
// A client whose unsent bytes pass this is not reading: it is dropped rather than let grow
// without bound (ours: --max-queue-bytes, 8 MiB).
const MAX_BUFFERED_BYTES = 8 << 20;
// Liveness: every socket is pinged this often and dropped when the previous ping went
// unanswered (the usual ws pattern; clients also heartbeat every 30 s).
const PING_INTERVAL_MS = 30000;
// Outcomes of the last sc:event ops kept per channel for duplicate replies (as ours).
const OUTCOMES_KEPT = 64;
// After SIGTERM, sockets get this long to finish their closing handshake.
const SHUTDOWN_GRACE_MS = 2000;

const PATH = '/socket/websocket';
const OPEN = WebSocket.OPEN;
const TEXT = { binary: false }; // ws would send a Buffer as a binary frame

// ---- states --------------------------------------------------------------------------------

// One state and its subscribers. Per-topic instances live in `shared` for the life of the
// process (as ours keeps them); per-connection ones die with their channel.
class Instance {
  constructor(handler, topic) {
    this.handler = handler;
    this.topic = topic;
    this.id = topic.slice(handler.name.length + 1);
    this.data = {};           // the handler's own (the table's generator)
    this.state = handler.init(this); // may throw HandlerError: the join is refused
    this.version = 1;
    this.subscribers = new Set(); // of Channel
  }

  // Makes next the state when it differs, and sends the patch to every subscriber.
  publish(next) {
    if (next === this.state) return;
    const patch = jsonpatch.compare(this.state, next);
    if (patch.length === 0) return;
    this.state = next;
    this.version += 1;
    const payload = { patch, version: this.version };
    if (this.handler.scope === 'topic') {
      // Encoded once: ws would encode a string again for every socket it is written to.
      const frame = Buffer.from(JSON.stringify([null, null, this.topic, 'state:patch', payload]));
      for (const ch of this.subscribers) ch.conn.send(frame);
    } else {
      for (const ch of this.subscribers) ch.push('state:patch', payload);
    }
  }
}

const shared = new Map(); // topic -> Instance, for scope "topic"

// ---- channels and connections --------------------------------------------------------------

// One joined topic on one socket: joinRef is the ref of its phx_join.
class Channel {
  constructor(conn, topic, joinRef, instance) {
    this.conn = conn;
    this.topic = topic;
    this.joinRef = joinRef;
    this.instance = instance;
    this.lastOp = 0;          // sc:event: the last op applied
    this.outcomes = new Array(OUTCOMES_KEPT); // sc:event: {op, ok, response} by op % OUTCOMES_KEPT
  }

  push(event, payload) {
    this.conn.send(JSON.stringify([this.joinRef, null, this.topic, event, payload]));
  }

  sendState() {
    this.push('state:change', { state: this.instance.state, version: this.instance.version });
  }

  leave() {
    this.instance.subscribers.delete(this);
  }
}

class Connection {
  constructor(ws) {
    this.ws = ws;
    this.channels = new Map(); // topic -> Channel
    this.alive = true;         // answered the last ping (or sent something since)
  }

  // Sends one text frame (a string, or a Buffer of UTF-8 shared by several sockets).
  send(text) {
    if (this.ws.readyState !== OPEN) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.ws.terminate();
      return;
    }
    this.ws.send(text, TEXT);
  }

  reply(m, ok, response = {}) {
    this.send(JSON.stringify([m.joinRef, m.ref, m.topic, 'phx_reply',
      { status: ok ? 'ok' : 'error', response }]));
  }

  refuse(m, reason, message) {
    this.reply(m, false, message === undefined ? { reason } : { reason, message });
  }

  closed() {
    for (const ch of this.channels.values()) ch.leave();
    this.channels.clear();
  }
}

// ---- protocol ------------------------------------------------------------------------------

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isRef = (v) => v === null || typeof v === 'string';
const isU53 = (v) => Number.isInteger(v) && v >= 0 && v <= 2 ** 53;

let stopping = false;

function join(conn, m) {
  if (stopping) return conn.refuse(m, 'unavailable', 'the server is shutting down');
  if (!isObject(m.payload)) return conn.refuse(m, 'invalid_payload', 'join params must be an object');
  const old = conn.channels.get(m.topic);
  if (old !== undefined) { // a rejoin: the old instance of the channel is closed first
    conn.send(JSON.stringify([old.joinRef, old.joinRef, m.topic, 'phx_close', {}]));
    old.leave();
    conn.channels.delete(m.topic);
  }
  if (conn.channels.size >= MAX_TOPICS_PER_SOCKET) return conn.refuse(m, 'too many channels joined');
  const handler = handlerFor(m.topic);
  if (handler === undefined) return conn.refuse(m, 'unmatched topic');
  if (m.topic.length > MAX_TOPIC_LEN) return conn.refuse(m, 'invalid topic', 'topic too long');

  let instance = handler.scope === 'topic' ? shared.get(m.topic) : undefined;
  if (instance === undefined) {
    try {
      instance = new Instance(handler, m.topic);
    } catch (err) {
      if (err instanceof HandlerError) return conn.refuse(m, err.reason, err.detail);
      throw err;
    }
    if (handler.scope === 'topic') shared.set(m.topic, instance);
  }
  const ch = new Channel(conn, m.topic, m.ref, instance);
  conn.channels.set(m.topic, ch);
  instance.subscribers.add(ch);
  conn.reply(m, true, { session: randomBytes(16).toString('hex'), version: instance.version });
  ch.sendState();
}

function leave(conn, ch, m) {
  ch.leave();
  conn.channels.delete(ch.topic);
  conn.reply(m, true);
  conn.send(JSON.stringify([ch.joinRef, ch.joinRef, ch.topic, 'phx_close', {}]));
}

// Runs one handler event; returns [ok, response] with the reply's response for lvs_evt.
function runEvent(ch, name, payload) {
  const inst = ch.instance;
  try {
    inst.publish(inst.handler.event(inst, name, payload));
    return [true, {}];
  } catch (err) {
    if (err instanceof HandlerError)
      return [false, err.detail === undefined ? { reason: err.reason }
        : { reason: err.reason, message: err.detail }];
    console.error(`${inst.topic}: ${name} failed:`, err); // a bug: the state is unchanged
    return [false, { reason: 'handler_error', message: 'the handler failed' }];
  }
}

// sc:event {name, payload, op[, base]}: applied once, in op order (docs/protocol.md section 4).
function runOp(conn, ch, m) {
  const p = m.payload;
  const opOk = isObject(p) && isU53(p.op) && p.op >= 1;
  if (!isObject(p) || typeof p.name !== 'string' || !opOk || (p.base !== undefined && !isU53(p.base))) {
    const response = { reason: 'invalid_payload',
      message: 'sc:event needs {"name": string, "op": integer >= 1}' };
    return conn.reply(m, false, opOk ? { op: p.op, ...response } : response);
  }
  const { op } = p;
  if (op <= ch.lastOp) {
    const o = ch.outcomes[op % OUTCOMES_KEPT];
    if (o !== undefined && o.op === op) return conn.reply(m, o.ok, { ...o.response, duplicate: true });
    return conn.reply(m, true, { op, outcome: 'unknown', duplicate: true });
  }
  if (op > ch.lastOp + 1)
    return conn.reply(m, false, { op, reason: 'op_gap', expected: ch.lastOp + 1 });
  const [ok, result] = runEvent(ch, p.name, p.payload === undefined ? {} : p.payload);
  const response = ok ? { op, version: ch.instance.version, reply: null } : { op, ...result };
  ch.lastOp = op;
  ch.outcomes[op % OUTCOMES_KEPT] = { op, ok, response };
  conn.reply(m, ok, response);
}

function dispatch(conn, m) {
  if (m.topic === 'phoenix') {
    if (m.event === 'heartbeat') return conn.reply(m, true);
    return conn.refuse(m, 'unknown_event', 'the phoenix topic only takes heartbeat');
  }
  if (m.event === 'phx_join') return join(conn, m);
  const ch = conn.channels.get(m.topic);
  if (ch === undefined) {
    if (m.event === 'phx_leave') return conn.reply(m, true);
    return conn.reply({ ...m, joinRef: null }, false, { reason: 'unmatched topic' });
  }
  if (m.joinRef !== null && m.joinRef !== ch.joinRef) return undefined; // a stale channel's
  if (m.event.startsWith('lvs_evt:')) {
    const [ok, response] = runEvent(ch, m.event.slice(8), m.payload);
    return conn.reply(m, ok, response);
  }
  switch (m.event) {
    case 'phx_leave': return leave(conn, ch, m);
    case 'sc:event': return runOp(conn, ch, m);
    case 'lvs_refresh':
      conn.reply(m, true);
      return ch.sendState();
    default: return conn.refuse(m, 'unknown_event', m.event);
  }
}

function onMessage(conn, data, isBinary) {
  conn.alive = true;
  if (isBinary) return conn.ws.close(1003, 'binary frames are not supported');
  let msg;
  try {
    msg = JSON.parse(data.toString());
  } catch {
    return conn.ws.close(1008, 'invalid_message');
  }
  if (!Array.isArray(msg) || msg.length < 5 || !isRef(msg[0]) || !isRef(msg[1]) ||
      typeof msg[2] !== 'string' || typeof msg[3] !== 'string') {
    if (!Array.isArray(msg) || typeof msg[1] !== 'string') return conn.ws.close(1008, 'invalid_message');
    const m = { joinRef: typeof msg[0] === 'string' ? msg[0] : null, ref: msg[1],
      topic: typeof msg[2] === 'string' ? msg[2] : '' };
    return conn.refuse(m, 'invalid_message', 'expected [join_ref, ref, topic, event, payload]');
  }
  const [joinRef, ref, topic, event, payload] = msg;
  return dispatch(conn, { joinRef, ref, topic, event, payload });
}

// ---- HTTP and WebSocket --------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { port: 4000, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--port' && /^[0-9]+$/.test(value ?? '') && Number(value) < 65536) {
      opts.port = Number(value);
      i++;
    } else if (argv[i] === '--host' && value !== undefined) {
      opts.host = value;
      i++;
    } else {
      console.error('usage: node server.mjs --port N [--host ADDRESS]');
      process.exit(2);
    }
  }
  return opts;
}

function refuseUpgrade(socket, status, text) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const server = http.createServer((req, res) => {
    const ok = req.url === '/healthz';
    res.writeHead(ok ? 200 : 404, { 'Content-Type': 'text/plain' });
    res.end(ok ? 'ok' : 'not found');
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false, // as ours; compression costs CPU per frame
    maxPayload: MAX_MESSAGE_BYTES,
    // phoenix >= 1.8 offers "phoenix, base64url.bearer.phx.<token>"; browsers need the echo.
    handleProtocols: (protocols) => (protocols.has('phoenix') ? 'phoenix' : false),
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://localhost');
    const vsn = url.searchParams.get('vsn');
    if (url.pathname !== PATH) return refuseUpgrade(socket, 404, 'Not Found');
    if (vsn !== null && !vsn.startsWith('2.')) return refuseUpgrade(socket, 400, 'Bad Request');
    if (stopping) return refuseUpgrade(socket, 503, 'Service Unavailable');
    return wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws) => {
    const conn = new Connection(ws);
    ws.on('message', (data, isBinary) => onMessage(conn, data, isBinary));
    ws.on('pong', () => { conn.alive = true; });
    ws.on('close', () => conn.closed());
    ws.on('error', () => {}); // a broken socket: 'close' follows and cleans up
    ws.conn = conn;
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.conn.alive) {
        ws.terminate();
        continue;
      }
      ws.conn.alive = false;
      ws.ping();
    }
  }, PING_INTERVAL_MS);

  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(pinger);
    server.close();
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    // Sockets that do not finish their closing handshake do not hold the exit up.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  server.on('error', (err) => {
    console.error(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    process.stdout.write(`listening on ${server.address().port}\n`);
  });
}

main();
