// Bounded waiting for callback-style clients (phoenix, phx-live-state) in tests.

// How long a test waits for one expected callback before failing (not hanging).
export const WAIT_MS = 5000;

// Resolves with the first value passed to the callback that register(callback) installs,
// or rejects after ms with `what` in the message.
export function once(register, what, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    register((value) => { clearTimeout(timer); resolve(value); });
  });
}

// Resolves once pred() is true, polling every 10 ms; rejects after ms.
export async function until(pred, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A phoenix Push as a promise: resolves with {status, response} for ok, error or timeout.
export function reply(push, ms = WAIT_MS) {
  return once((done) => {
    push.receive('ok', (response) => done({ status: 'ok', response }))
      .receive('error', (response) => done({ status: 'error', response }))
      .receive('timeout', () => done({ status: 'timeout', response: null }));
  }, `reply to ${push.event} on ${push.channel.topic}`, ms);
}
