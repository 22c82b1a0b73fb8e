// Loads the real phx-live-state client (and the real phoenix Socket under it) in Node 20.
// The ESM hooks are registered before the package is imported, so this module must be
// imported dynamically or before anything else that imports phx-live-state:
//   const { LiveState } = await import('./lib/live-state.mjs');
// Node 20 lacks a global WebSocket: pass `transport: WebSocket` (from ws) in socketOptions.
import { register } from 'node:module';

register('./esm-hooks.mjs', import.meta.url);

const mod = await import('phx-live-state');
export const LiveState = mod.LiveState;
export default LiveState;
