// Raw WebSocket and HTTP over node:net for hostile-client tests: what a well-behaved library
// refuses to send (forged lengths, trickled headers, invalid UTF-8, unencoded paths).
import net from 'node:net';
import { randomBytes } from 'node:crypto';

// Connects to 127.0.0.1:port; resolves with the socket once connected.
export function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// Resolves when the socket is closed (by either side), with the bytes received.
export function closedWith(sock) {
  const chunks = [];
  sock.on('data', (d) => chunks.push(d));
  sock.on('error', () => {});
  return new Promise((resolve) => sock.once('close', () => resolve(Buffer.concat(chunks))));
}

// Sends one raw HTTP request line + headers and resolves with the whole response (the server
// closes every plain HTTP connection after answering).
export async function rawHttp(port, requestTarget, timeoutMs = 10000) {
  const s = await connect(port);
  const done = closedWith(s);
  const timer = setTimeout(() => s.destroy(), timeoutMs);
  s.write(`GET ${requestTarget} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const body = await done;
  clearTimeout(timer);
  const text = body.toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, text };
}

export function upgradeRequest(path, extra = '') {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

// Opens a WebSocket by hand; resolves with { sock, frames } once the 101 arrived. frames
// collects the decoded server frames ({ opcode, payload }); closed resolves on close.
export async function rawWs(port, path = '/socket/websocket?vsn=2.0.0', timeoutMs = 10000) {
  const sock = await connect(port);
  sock.on('error', () => {});
  const ws = { sock, frames: [], buf: Buffer.alloc(0), upgraded: false };
  ws.closed = new Promise((resolve) => sock.once('close', resolve));
  const opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no 101 in time')), timeoutMs);
    sock.on('data', (d) => {
      ws.buf = Buffer.concat([ws.buf, d]);
      if (!ws.upgraded) {
        const end = ws.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = ws.buf.subarray(0, end).toString('latin1');
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101/.test(head)) { reject(new Error(head.split('\r\n')[0])); return; }
        ws.upgraded = true;
        ws.buf = ws.buf.subarray(end + 4);
        resolve();
      }
      decode(ws);
    });
    sock.once('close', () => { clearTimeout(timer); reject(new Error('closed before 101')); });
  });
  sock.write(upgradeRequest(path));
  await opened;
  return ws;
}

function decode(ws) {
  for (;;) {
    const b = ws.buf;
    if (b.length < 2) return;
    let len = b[1] & 0x7f, off = 2;
    if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
    if (b.length < off + len) return;
    ws.frames.push({ opcode: b[0] & 0x0f, payload: b.subarray(off, off + len) });
    ws.buf = b.subarray(off + len);
  }
}

// A masked client frame. opts: fin (default true), announce (a length to put in the header
// instead of the payload's, for forged headers).
export function frame(opcode, payload, { fin = true, announce } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = announce ?? data.length;
  let head;
  if (len < 126) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]);
  else if (len < 65536) { head = Buffer.alloc(4); head[0] = (fin ? 0x80 : 0) | opcode; head[1] = 0x80 | 126; head.writeUInt16BE(len, 2); }
  else { head = Buffer.alloc(10); head[0] = (fin ? 0x80 : 0) | opcode; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2); }
  const mask = randomBytes(4);
  const masked = Buffer.from(data.map((x, i) => x ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

// The close code of the first close frame received, or undefined.
export function closeCode(ws) {
  const f = ws.frames.find((x) => x.opcode === 8);
  return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
}
