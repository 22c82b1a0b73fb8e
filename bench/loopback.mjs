// Loopback helpers shared by the bench drivers (bench/run.mjs, bench/soak.mjs).
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Asks the kernel for a free port on 127.0.0.1.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Resolves true once a TCP connect to 127.0.0.1:port succeeds, false if it is refused.
export function canConnect(port) {
  return new Promise((res) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); res(true); });
    s.on('error', () => res(false));
  });
}
