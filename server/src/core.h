/*
 * core.h -- the socket-free heart of the server: plugins, topics, channels, sessions and the
 * Phoenix V2 protocol, driven by plain function calls.
 *
 * The transport (ws.c, the only file that knows civetweb) creates one sc_conn per WebSocket
 * with a write function, feeds it every received frame with sc_conn_frame(), and closes it
 * with sc_conn_close() when the socket is gone. Everything the core sends goes through the
 * connection's outbound queue (outq.h) to that write function. Tests drive the same functions
 * with a write function that records frames, and a fuzzer can feed sc_conn_message().
 *
 * Threads: sc_conn_frame/sc_conn_message/sc_conn_close of one connection must not run
 * concurrently with each other (the transport calls them from the connection's worker);
 * different connections run in parallel. Anything else here is thread-safe.
 */
#ifndef SC_SERVER_CORE_H
#define SC_SERVER_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "outq.h"
#include "util.h"

/* ---- limits (each has a flag in main.c) ------------------------------------------------------ */

/* A message (after reassembling fragments) larger than this closes the socket with 1009: the
 * biggest legitimate message is an event payload; 1 MiB is far above any UI event and bounds
 * the memory one client can pin. */
#define SC_DEFAULT_MAX_MESSAGE (1024 * 1024)
/* Deeper JSON is refused ("too_deep"): bounds the recursion of cJSON, the diff and the
 * handlers on ~100 KiB worker stacks (CIVETWEB.md), with margin under cJSON's 1000. */
#define SC_DEFAULT_MAX_DEPTH 256
#define SC_MAX_DEPTH_LIMIT 999 /* cJSON refuses deeper documents itself */
/* Channels one socket may join: a page joins a handful; 100 stops a socket from pinning
 * unbounded per-channel memory. */
#define SC_DEFAULT_MAX_TOPICS 100
/* Messages per second per socket (token bucket of this size, refilled at this rate): far
 * above a human's clicks and a 30 s heartbeat, low enough that one socket cannot saturate a
 * topic lock. */
#define SC_DEFAULT_MAX_EVENTS_PER_SEC 200
/* After this many consecutive rate-limited messages the socket is closed with 1008: a client
 * that ignores rate_limited replies is misbehaving. */
#define SC_RATE_LIMIT_STRIKES 50
/* Open WebSockets. civetweb holds one thread per socket (CIVETWEB.md): 1000 threads with
 * 100 KiB stacks is ~105 MB of RAM, safe on any box; raise it for big deployments. */
#define SC_DEFAULT_MAX_CONNECTIONS 1000
/* A silent socket is pinged every idle/6 and closed after 5 unanswered pings (~idle). The
 * protocol asks for >= 60 s: clients heartbeat every 30 s and background tabs are throttled. */
#define SC_DEFAULT_IDLE_TIMEOUT_MS 60000
#define SC_MIN_IDLE_TIMEOUT_MS 60000
/* How long one blocked socket write may stall its writer thread before the client is given
 * up (CIVETWEB.md: 2-5 s instead of civetweb's 30 s default). */
#define SC_DEFAULT_WRITE_TIMEOUT_MS 5000
/* Outbound budget per socket. Past it, queued patches are dropped and replaced by one full
 * state (the client converges); 8 MiB holds several full states of a large document. */
#define SC_DEFAULT_QUEUE_BYTES (8u * 1024 * 1024)
#define SC_DEFAULT_QUEUE_FRAMES 4096
/* Writer threads draining the outbound queues: 2 cores on the target box. */
#define SC_DEFAULT_WRITERS 2
/* Topic states (SC_SCOPE_TOPIC) held at once. They live until shutdown, so without a cap a
 * client joining made-up topics (counter:1, counter:2, ...) grows memory without bound; a
 * small state costs ~1-2 KiB, so 100k is ~200 MB at most. Joins that would create one more
 * are refused with "too_many_states"; existing topics stay joinable. */
#define SC_DEFAULT_MAX_STATES 100000
/* Topic names longer than this are refused as "invalid topic": they are keys in maps and
 * logs, and no sane app needs more. */
#define SC_MAX_TOPIC_LEN 256
/* sc:event outcomes kept per session for duplicate detection (PROTOCOL.md section 4). */
#define SC_OUTCOMES_KEPT 64
/* Published patch frames kept per state (for resume and catch-up without re-diffing). */
#define SC_PATCH_RING 64

/* Sessions not held by any channel are forgotten (memory and store) after this long idle
 * (PROTOCOL.md section 4: "configurable, default 24 h"). */
#define SC_DEFAULT_SESSION_TTL_MS (24LL * 3600 * 1000)

/* Sessions kept in memory beyond their channels (joined with `_sc`) at most (--max-sessions).
 * Each costs ~2 KB plus its last 64 outcomes and, for a per-connection handler, its state, for
 * up to the TTL after its socket closed: without a bound, a client joining in a loop with
 * `_sc` would grow memory for a day. Past it, a new session ends with its channel (the join
 * succeeds but the session cannot be resumed), a warning is logged and the refusal reason
 * "session_not_kept" is counted; existing sessions are unaffected (no eviction). */
#define SC_DEFAULT_MAX_SESSIONS 100000

struct sc_store;

typedef struct sc_config {
    const char *handlers_dir;  /* load every *.so here; NULL: no plugins */
    size_t max_message;        /* bytes */
    int max_depth;             /* JSON nesting */
    int max_topics;            /* channels per socket */
    int max_events_per_sec;    /* per socket */
    int max_connections;       /* open WebSockets */
    int max_states;            /* topic states held at once */
    int idle_timeout_ms;
    int write_timeout_ms;
    size_t queue_bytes;        /* outbound budget per socket */
    size_t queue_frames;
    int writer_threads;        /* 0: queues are drained by the caller (tests) */
    struct sc_store *store;    /* borrowed (closed by the caller after sc_server_free); NULL:
                                  states and sessions live in memory only */
    int durable;               /* with a store: an sc:event ok waits for its commit */
    int64_t session_ttl_ms;    /* idle sessions expire after this long */
    int max_sessions;          /* resumable sessions kept in memory at most */
    int auth;                  /* --auth: sc_authorize_join() demands a valid token */
    const unsigned char *auth_secret; /* token HMAC key (not owned; outlives the server), or NULL */
    size_t auth_secret_len;    /* bytes */
} sc_config;

void sc_config_defaults(sc_config *c);

typedef struct sc_server sc_server;
typedef struct sc_conn sc_conn;

/* Loads the plugins (and runs their init) and starts the server's threads. Returns NULL with
 * a one-line reason in err when a plugin is rejected or fails. Free with sc_server_free(). */
sc_server *sc_server_new(const sc_config *cfg, char *err, size_t errcap);
/* Shutdown, step 1: new connections and joins are refused from now on. */
void sc_server_stop_accepting(sc_server *s);
/* Shutdown, step 2: queues a close frame (code, reason) on every open connection, and on every
 * connection that registers afterwards (an upgrade already answered when shutdown began). */
void sc_server_close_all(sc_server *s, int code, const char *reason);
int sc_server_conn_count(sc_server *s);
int sc_server_stopping(sc_server *s);
const sc_config *sc_server_config(const sc_server *s);
/* Shutdown, last step: every connection must be closed already. Destroys all states, calls
 * every plugin's fini and unloads them. Accepts NULL. */
void sc_server_free(sc_server *s);

/* Runs every plugin's connect hook for a socket being opened. Returns 0 to accept, -1 to
 * refuse (HTTP 403). */
int sc_server_connect_check(sc_server *s, const cJSON *params, const char *token);
/* Reserves / releases one of max_connections slots. Reserve returns 0, or -1 when full. */
int sc_server_conn_reserve(sc_server *s);
void sc_server_conn_release(sc_server *s);
/* 1 when every slot is reserved (a cheap pre-check before the upgrade). */
int sc_server_conn_full(sc_server *s);

/* A new connection. params (the socket's query params; copied) may be NULL; token (copied)
 * may be NULL; statechannel_mount selects the StateChannel dialect for all its channels.
 * Frames go to write(write_user, ...) on writer threads. NULL on allocation failure. */
sc_conn *sc_conn_new(sc_server *s, const cJSON *params, const char *token,
                     int statechannel_mount, sc_write_fn write, void *write_user);
/* One received WebSocket frame: fin (1 = last fragment), opcode (RFC 6455), payload. */
void sc_conn_frame(sc_conn *c, int fin, int opcode, const char *data, size_t len);
/* One complete text message (what sc_conn_frame reassembles). */
void sc_conn_message(sc_conn *c, const char *data, size_t len);
/* The close code once the core queued a close frame (the transport should flush and drop the
 * socket), else 0. */
int sc_conn_close_code(sc_conn *c);
sc_outq *sc_conn_outq(sc_conn *c);
/* The socket is gone: every channel leaves ("closed", or "shutdown" while stopping), the
 * queue stops (waiting until no writer uses it) and c is freed. */
void sc_conn_close(sc_conn *c);

/* ---- HTTP (answers built here, sent by the transport) ------------------------------------- */

/* GET /api/state/<topic>: fills body with JSON and returns the HTTP status. */
int sc_http_state(sc_server *s, const char *topic, const cJSON *params, const char *token,
                  sbuf *body);
/* GET /metrics: Prometheus text exposition. */
void sc_http_metrics(sc_server *s, sbuf *out);
/* Maps a request path (already percent-decoded, as civetweb hands it) to a file under root. Returns 0 and the path
 * in out, or -1 (404) for anything that could leave root or does not name a regular file. */
int sc_static_path(const char *root, const char *uri, char *out, size_t cap);

/* Counts an HTTP-level refusal (origin, connection cap, connect hook) in /metrics. */
void sc_server_count_refusal(sc_server *s, const char *reason);

#endif
