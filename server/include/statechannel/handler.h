/*
 * statechannel/handler.h -- the whole contract between the Statechannel server and a handler.
 *
 * A handler is a plugin (a shared object in the --handlers directory) that owns the JSON state
 * of the topics matching its pattern. Clients join a topic; the handler authorizes the join and
 * builds the initial state; client events reach it; it changes the state tree in place (or
 * replaces it, or emits explicit JSON Patch operations). After each callback the server diffs
 * the state against what the clients last saw and pushes the patch. The handler never touches
 * sockets, threads, versions, sessions or storage: it acts only through the sc_ctx it is
 * handed, and it keeps no globals (module-wide data goes through sc_module_set_data()).
 *
 * Anything not declared here is private to the server. This header only grows: new functions
 * and new descriptor fields are added at the end, and SC_HANDLER_ABI_VERSION changes only when
 * an existing declaration changes meaning.
 *
 * A complete handler (build: cc -shared -fPIC $(pkg-config --cflags --libs statechannel)
 * counter.c -o counter.so, then start the server with --handlers pointing at its directory):
 *
 *     #include <string.h>
 *     #include <statechannel/handler.h>
 *
 *     static int counter_join(sc_ctx *ctx, const cJSON *params)
 *     {
 *         (void)params;
 *         if (sc_topic_id(ctx)[0] == '\0')
 *             return sc_fail(ctx, "invalid topic", "use counter:<id>");
 *         if (sc_state_is_new(ctx))                       // first join: build the state
 *             cJSON_AddNumberToObject(sc_state(ctx), "count", 0);
 *         return SC_OK;
 *     }
 *
 *     static int counter_event(sc_ctx *ctx, const char *name, const cJSON *payload)
 *     {
 *         cJSON *count = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "count");
 *         if (strcmp(name, "inc") == 0) {
 *             const cJSON *by = cJSON_GetObjectItemCaseSensitive(payload, "by");
 *             if (by != NULL && !cJSON_IsNumber(by))
 *                 return sc_fail(ctx, "invalid_payload", "\"by\" must be a number");
 *             cJSON_SetNumberValue(count, count->valuedouble + (by ? by->valuedouble : 1));
 *             return SC_OK;                               // the server diffs and pushes
 *         }
 *         return sc_fail(ctx, "unknown_event", "no event %s", name);
 *     }
 *
 *     SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
 *         SC_HANDLER_HEADER,
 *         .name = "counter",
 *         .pattern = "counter:*",
 *         .scope = SC_SCOPE_TOPIC,
 *         .join = counter_join,
 *         .event = counter_event,
 *     };
 *
 * Threads. Callbacks of one instance (one topic for SC_SCOPE_TOPIC, one client's channel for
 * SC_SCOPE_CONNECTION) never run concurrently: the server holds the instance's lock around each
 * one. Callbacks of different instances do run concurrently on different threads, so module
 * data shared between instances needs the plugin's own locking. A callback must not block for
 * long: it holds up every subscriber of its topic.
 *
 * Lifetimes. Every pointer a callback receives (ctx, params, payload, names, the state tree)
 * is borrowed and valid only until the callback returns. Functions that take a cJSON * value
 * take ownership of it, whether they succeed or fail.
 */
#ifndef STATECHANNEL_HANDLER_H
#define STATECHANNEL_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped only when an existing declaration changes meaning; the loader refuses a mismatch. */
#define SC_HANDLER_ABI_VERSION 1u

/* The name of the one symbol a plugin exports: a const sc_handler. */
#define SC_HANDLER_SYMBOL "statechannel_handler"

/* Marks the descriptor for export (plugins may build with -fvisibility=hidden). */
#define SC_HANDLER_EXPORT __attribute__((visibility("default")))

/* The first two fields of every descriptor: SC_HANDLER_EXPORT const sc_handler
 * statechannel_handler = { SC_HANDLER_HEADER, .name = ..., ... }; */
#define SC_HANDLER_HEADER .abi_version = SC_HANDLER_ABI_VERSION, .struct_size = sizeof(sc_handler)

/* Functions the server exports to plugins. */
#if defined(SC_SERVER_BUILDING)
#define SC_API __attribute__((visibility("default")))
#else
#define SC_API
#endif

/* Callback results. */
#define SC_OK 0     /* done; the state changes (if any) are published */
#define SC_FAIL (-1) /* refused; see sc_fail(). State changes made by this callback are undone. */

typedef struct sc_ctx sc_ctx;       /* one callback's view of the server; opaque */
typedef struct sc_module sc_module; /* the loaded plugin, at init and fini; opaque */

typedef enum sc_scope {
    SC_SCOPE_TOPIC = 0,     /* one state per topic, shared by every subscriber (collaboration) */
    SC_SCOPE_CONNECTION = 1 /* one state per joined client (as in LiveState / StateChannel) */
} sc_scope;

typedef enum sc_dialect {
    SC_DIALECT_LIVESTATE = 0,   /* state:change / state:patch / lvs_evt:* (PROTOCOL.md section 3) */
    SC_DIALECT_STATECHANNEL = 1 /* set_state / state_diff / _SCMSG:* (PROTOCOL.md section 5) */
} sc_dialect;

typedef enum sc_log_level { SC_LOG_DEBUG, SC_LOG_INFO, SC_LOG_WARN, SC_LOG_ERROR } sc_log_level;

/*
 * The descriptor. Every callback is optional (NULL); a handler without .join accepts every
 * join with an empty object as its state, one without .event refuses every event with
 * "unknown_event".
 */
typedef struct sc_handler {
    uint32_t abi_version; /* SC_HANDLER_ABI_VERSION the plugin was built against */
    uint32_t struct_size; /* sizeof(sc_handler) the plugin was built against */
    const char *name;     /* unique among loaded plugins, [a-z0-9_-]+ */
    const char *pattern;  /* "prefix:*" (any topic starting with "prefix:") or an exact topic */
    sc_scope scope;
    sc_dialect dialect;

    /* Once, on the main thread, after loading and before serving. Return SC_OK, or
     * sc_module_fail(): the plugin is then unloaded and the server refuses to start. */
    int (*init)(sc_module *m);

    /* Once, on the main thread, at shutdown after every instance is gone. */
    void (*fini)(sc_module *m);

    /* A WebSocket is being opened (before any join). sc_socket_params() and sc_token() are
     * set; there is no topic and no state. Return SC_FAIL to refuse it (HTTP 403). Runs on the
     * connecting client's worker thread with no lock held. Every plugin's connect must agree. */
    int (*connect)(sc_ctx *ctx);

    /* A client joins (or rejoins) a topic matching the pattern. Authorize it from params (the
     * phx_join payload), sc_socket_params() and sc_token(); when sc_state_is_new(), build the
     * initial state in sc_state() (an empty object) or with sc_state_set(). Return SC_OK, or
     * sc_fail(ctx, reason, ...) to refuse the join with that reason ("unauthorized", "invalid
     * topic", ...); a new state is then discarded. Runs on the client's worker thread. */
    int (*join)(sc_ctx *ctx, const cJSON *params);

    /* A client event: lvs_evt:<name>, sc:event {"name"}, or _SCMSG:<name> (payload = its
     * "value"). Change sc_state() and/or sc_reply(); or sc_fail(ctx, "invalid_payload", ...)
     * and the like: the state is then left exactly as before the callback. Runs on the
     * client's worker thread. */
    int (*event)(sc_ctx *ctx, const char *name, const cJSON *payload);

    /* A message sent with sc_broadcast() to a topic this instance holds. Runs on the
     * server's dispatch thread. There is no current client (sc_client_id() is ""). */
    int (*info)(sc_ctx *ctx, const char *name, const cJSON *payload);

    /* A timer set with sc_timer_set() fired. Runs on the server's timer thread. There is no
     * current client. */
    int (*tick)(sc_ctx *ctx, const char *timer);

    /* A client left the topic: "leave" (phx_leave), "closed" (the socket closed), "rejoin"
     * (the client joined the same topic again on the same socket) or "shutdown". The state may
     * still change (presence), but the result cannot be refused. For SC_SCOPE_CONNECTION the
     * instance's timers are cancelled after this callback. Runs on the client's worker thread
     * (or the main thread at shutdown). */
    void (*leave)(sc_ctx *ctx, const char *reason);
} sc_handler;

/* ---- Module (init, fini) --------------------------------------------------------------- */

/* Module-wide data, visible from every ctx through sc_module_data(). Not freed by the server:
 * fini frees it. Callbacks of different states run at the same time on different threads (one
 * state's callbacks never overlap each other), so whatever module data they change must be
 * synchronized by the handler: atomics or its own mutex. Per-state data needs no lock. */
SC_API void sc_module_set_data(sc_module *m, void *data);
SC_API void *sc_module_get_data(const sc_module *m);

/* Records why init failed (printed by the loader) and returns SC_FAIL. */
SC_API int sc_module_fail(sc_module *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Context: what the callback is about ----------------------------------------------- */

SC_API const char *sc_topic(const sc_ctx *ctx);    /* "todo:42"; "" in connect */
SC_API const char *sc_topic_id(const sc_ctx *ctx); /* after the first ':': "42"; "" if none */
SC_API void *sc_module_data(const sc_ctx *ctx);    /* what init passed to sc_module_set_data() */

/* The socket's query parameters as a JSON object (a[b]=c nests), never NULL. */
SC_API const cJSON *sc_socket_params(const sc_ctx *ctx);

/* The token from the phoenix subprotocol (authToken), decoded; NULL when none was offered. */
SC_API const char *sc_token(const sc_ctx *ctx);

/* The current client: an id unique to this channel instance (stable across its events, and
 * across resumes of the same session); "" when there is no current client (tick, info). */
SC_API const char *sc_client_id(const sc_ctx *ctx);

/* Version of the state as the clients last saw it (0 before the first publish). */
SC_API uint64_t sc_version(const sc_ctx *ctx);

/* For an sc:event that carried "base" (the version the client saw when it made the event),
 * that version; otherwise -1. A handler may refuse a stale edit with sc_fail(ctx, "stale"). */
SC_API int64_t sc_event_base(const sc_ctx *ctx);

/* 1 in join when this join created the state (so the handler must build it), else 0. */
SC_API int sc_state_is_new(const sc_ctx *ctx);

/* Milliseconds since the Unix epoch (wall clock); use for timestamps in state. */
SC_API int64_t sc_now_ms(const sc_ctx *ctx);

/* ---- Changing the state ---------------------------------------------------------------- */

/* The live state tree; change it in place with cJSON. NULL in connect. Borrowed: valid until
 * the callback returns or sc_state_set()/sc_emit_patch() is called. */
SC_API cJSON *sc_state(sc_ctx *ctx);

/* The live state tree, for reading only: for handlers that change the state only through
 * sc_emit_patch(), sc_emit_patch_take() or sc_state_set(). Unlike sc_state(), it lets the
 * server keep lookup indexes of the state's large arrays and objects across callbacks, so an
 * emitted operation on "/rows/998" costs O(1) per pointer token instead of a walk of the list.
 * NULL in connect. Borrowed: valid until the callback returns; the items an emitted operation
 * removes or replaces become invalid at that call. Do not cast the const away: change the tree
 * in place only through sc_state(). */
SC_API const cJSON *sc_state_read(sc_ctx *ctx);

/* Replaces the whole tree with root (takes ownership, even on failure). Clients still get a
 * patch (not the full state) when that is smaller. Returns SC_OK or SC_FAIL (NULL root). */
SC_API int sc_state_set(sc_ctx *ctx, cJSON *root);

/* Applies explicit RFC 6902 operations to the state now, atomically, and sends them as they
 * are (no diff): for large states where the handler knows what changed. ops is only read.
 * Returns SC_OK, or SC_FAIL with the state unchanged when an operation does not apply
 * (the reason is logged). Operations on the root path "" are refused; use sc_state_set(). */
SC_API int sc_emit_patch(sc_ctx *ctx, const cJSON *ops);

/* sc_emit_patch() that takes ownership of ops (freed by the server whether it succeeds or
 * fails): the server keeps the operations and their values for publishing instead of copying
 * them, so a large emitted value (a 1,000-row table) is built once by the handler and copied
 * once (into the live state). ops and everything in it must not be used after the call. */
SC_API int sc_emit_patch_take(sc_ctx *ctx, cJSON *ops);

/* ---- Talking to clients and other topics ----------------------------------------------- */

/* Sets the response of the current client's ok reply: {"status":"ok","response":<value>}
 * (for sc:event, the "reply" member of the response). Takes ownership of value. Returns
 * SC_FAIL when there is no current client or the event expects no reply. */
SC_API int sc_reply(sc_ctx *ctx, cJSON *value);

/* Pushes [join_ref,null,topic,event,payload] to the current client, before the state patch
 * this callback produces. Takes ownership of payload. SC_FAIL when there is no current client. */
SC_API int sc_push(sc_ctx *ctx, const char *event, cJSON *payload);

/* Same, to every client joined to this instance's topic. */
SC_API int sc_push_all(sc_ctx *ctx, const char *event, cJSON *payload);

/* Broadcasts waiting for the dispatch thread; past it sc_broadcast() returns SC_FAIL. Bounds the
 * memory a handler that broadcasts in a loop can pin (each message is small). */
#define SC_MAX_PENDING_INFO 10000

/* Delivers (name, payload) to the info callback of every instance of topic (this handler's or
 * another's), after the current callback returns and on another thread; an instance never
 * receives its own broadcast synchronously. Takes ownership of payload. SC_FAIL when the
 * message cannot be queued (SC_MAX_PENDING_INFO exceeded). Topics with no instance drop it. */
SC_API int sc_broadcast(sc_ctx *ctx, const char *topic, const char *name, cJSON *payload);

/* ---- Timers ---------------------------------------------------------------------------- */

/* Maximum timers per instance; further sc_timer_set() calls return SC_FAIL. */
#define SC_MAX_TIMERS 16
/* Timer names are at most this many bytes (excluding the NUL). */
#define SC_MAX_TIMER_NAME 31

/* Calls tick(ctx, name) after ms milliseconds, and then every ms when repeat is nonzero.
 * Setting a name that exists replaces it. ms must be >= 1. */
SC_API int sc_timer_set(sc_ctx *ctx, const char *name, uint32_t ms, int repeat);
SC_API int sc_timer_cancel(sc_ctx *ctx, const char *name); /* SC_FAIL when no such timer */

/* ---- Instance data --------------------------------------------------------------------- */

/* Private data of this instance (the topic for SC_SCOPE_TOPIC, the client's channel for
 * SC_SCOPE_CONNECTION). free_fn (may be NULL) is called with it when the instance is destroyed
 * or the data is replaced. It is not persisted: keep what must survive a restart in the state. */
SC_API void sc_set_userdata(sc_ctx *ctx, void *data, void (*free_fn)(void *data));
SC_API void *sc_userdata(const sc_ctx *ctx);

/* ---- Failing and logging --------------------------------------------------------------- */

/* Refuses the current join or event: the client gets an error reply with reason (a short
 * snake_case code such as "invalid_payload", or a join refusal such as "unauthorized") and the
 * formatted message; the state is restored to what it was before the callback. Returns SC_FAIL
 * so a callback can `return sc_fail(...)`. */
SC_API int sc_fail(sc_ctx *ctx, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

SC_API void sc_log(sc_ctx *ctx, sc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Helpers ---------------------------------------------------------------------------- */

/* 1 when sc_topic_id(ctx) is a plain name: 1..max_len bytes of [A-Za-z0-9_-]; else 0. Handlers
 * refuse other ids with sc_fail(ctx, "invalid topic", ...), which bounds what a join can make
 * them store and keeps ids safe to echo. */
SC_API int sc_topic_id_is_name(const sc_ctx *ctx, size_t max_len);

/* ---- Tokens ------------------------------------------------------------------------------ */

/* Signed, expiring tokens minted with `statechannel token` (docs/security.md): HMAC-SHA256
 * under the server secret (--auth-secret-file or STATECHANNEL_AUTH_SECRET), compared in
 * constant time. Statuses of sc_token_verify(); 0 is success. */
#define SC_TOKEN_STATUS_MAP(X)                                                                 \
    X(SC_TOKEN_OK, "valid token")                                                              \
    X(SC_TOKEN_MISSING, "no token given")                                                      \
    X(SC_TOKEN_MALFORMED, "malformed token")                                                   \
    X(SC_TOKEN_BAD_SIGNATURE, "token signature does not match (tampered, or another secret)") \
    X(SC_TOKEN_EXPIRED, "token expired")                                                       \
    X(SC_TOKEN_WRONG_TOPIC, "token not valid for this topic")                                  \
    X(SC_TOKEN_NO_SECRET, "the server has no auth secret configured")

typedef enum sc_token_status {
#define SC_TOKEN_ENUM_(name, text) name,
    SC_TOKEN_STATUS_MAP(SC_TOKEN_ENUM_)
#undef SC_TOKEN_ENUM_
} sc_token_status;

/* Longest subject a token carries (bytes, excluding the NUL). */
#define SC_TOKEN_MAX_SUBJECT 128

/* A static English description of st ("token expired"). */
SC_API const char *sc_token_strerror(sc_token_status st);

/* 1 when the server runs with --auth (joins of the demo handlers need a valid token). */
SC_API int sc_auth_required(const sc_ctx *ctx);

/* Checks token (NULL gives SC_TOKEN_MISSING) against the server secret and the clock. When
 * topic is not NULL and the token names a topic pattern, the pattern must match topic. On
 * SC_TOKEN_OK the token's subject is copied to subject[0..subject_cap) when subject is not
 * NULL. Any thread, any callback. */
SC_API sc_token_status sc_token_verify(const sc_ctx *ctx, const char *token, const char *topic,
                                       char *subject, size_t subject_cap);

/* The usual join authorization: SC_OK when --auth is off; otherwise the token is taken from
 * the join params' "token", else the subprotocol token (sc_token()), else the socket param
 * "token", and verified for sc_topic(ctx). A refusal is sc_fail(ctx, "unauthorized", <the
 * sc_token_strerror() text>) and returns SC_FAIL. Call it first in join. */
SC_API int sc_authorize_join(sc_ctx *ctx, const cJSON *params);

#ifdef __cplusplus
}
#endif
#endif /* STATECHANNEL_HANDLER_H */
