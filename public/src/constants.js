// Wire names, protocol version and client defaults: the one place a name on the wire is spelled.
// (The phoenix package owns the channel-level names: phx_join, phx_reply, heartbeat.)

/** Phoenix Channels JSON serializer the server speaks (PROTOCOL.md section 1). */
export const PROTOCOL_VSN = '2.0.0';

/** Default WebSocket mount of the server (PROTOCOL.md section 1). */
export const DEFAULT_MOUNT = '/socket';

/** Channel events (PROTOCOL.md sections 3 and 4). */
export const EVENTS = Object.freeze({
  STATE_CHANGE: 'state:change', // S->C {state, version}: the full state
  STATE_PATCH: 'state:patch',   // S->C {patch, version}: RFC 6902 ops from version - 1
  REFRESH: 'lvs_refresh',       // C->S {}: "send me state:change" after a version gap
  OP: 'sc:event',               // C->S {name, payload, op, base}: a numbered, acknowledged event
  HANDLER_ERROR: 'error',       // S->C {message}: the handler failed to initialise
});

/** Server-pushed events that are protocol, not application events. */
export const PROTOCOL_EVENTS = new Set([
  EVENTS.STATE_CHANGE, EVENTS.STATE_PATCH, 'phx_reply', 'phx_close', 'phx_error',
]);

/** Join parameter that carries the resume triple {session, version, client} (section 4). */
export const RESUME_PARAM = '_sc';

/** Error reasons the client acts on (section 4, "Ops"). */
export const REASONS = Object.freeze({
  OP_GAP: 'op_gap',             // op skipped numbers: resend from `expected`
  RATE_LIMITED: 'rate_limited', // retried after a backoff, never dropped
  TIMEOUT: 'timeout',           // no reply within the push timeout: resent (the server dedups)
  OUTBOX_FULL: 'outbox_full',   // refused locally, see MAX_OUTBOX
  CLOSED: 'closed',             // the channel was left with the op still pending
});

/** Connection status as the UI shows it. */
export const STATUS = Object.freeze({
  CONNECTING: 'connecting',     // never joined yet in this page, trying
  ONLINE: 'online',             // joined: events flow
  OFFLINE: 'offline',           // the browser reports no network: edits queue locally
  RECONNECTING: 'reconnecting', // was online, lost the connection, retrying
});

/** Patches kept while waiting for the state they apply to; past this, refetch the full state
 *  instead (a client that far behind is cheaper to reset than to replay). */
export const MAX_BUFFERED_PATCHES = 1000;

/** Ops kept unacknowledged: bounds the IndexedDB record and the replay burst after a long
 *  offline spell; a push beyond it is refused with `outbox_full`. */
export const MAX_OUTBOX = 10000;

/** Ms to wait for the state:change answering an lvs_refresh before asking again. */
export const REFRESH_RETRY_MS = 5000;

/** Ms between writes of the last known state: it is a render cache, a few writes a second is
 *  plenty, and a large state costs a structured clone per write. */
export const STATE_PERSIST_MS = 300;

/** Slots a topic's durable record may have in one browser profile: each open tab on the same
 *  topic takes its own slot (its own session and op numbering), found with Web Locks. */
export const MAX_TAB_SLOTS = 16;

/** Reconnect schedule (ms by attempt): quick at first for a blip, then every 2 s, so a page that
 *  comes back online resyncs within seconds without hammering a server that is down. */
export const RECONNECT_MS = [50, 100, 250, 500, 1000, 2000];

/** Ms between connection attempts while the browser reports offline (navigator.onLine can be
 *  wrong; an attempt while really offline fails at once and costs nothing). */
export const OFFLINE_PROBE_MS = 10000;

/** Rejoin schedule after a refused or failed join (ms by attempt). */
export const REJOIN_MS = [500, 1000, 2000, 5000];

/** Backoff for a rate-limited op (ms by attempt). */
export const RATE_LIMIT_BACKOFF_MS = [250, 500, 1000, 2000, 5000];

/** Picks the delay for attempt `tries` (1-based) from a schedule, repeating its last entry. */
export function fromSchedule(schedule, tries) {
  return schedule[Math.min(Math.max(tries, 1), schedule.length) - 1];
}
