/*
 * internal.h -- the structures shared by the core's files (core.c, inst.c, api.c, loader.c,
 * async.c, metrics.c, http.c). Private to the server.
 *
 * Ownership and lifecycles:
 *   sc_server  owns the plugins, the instance registry, the connection list, the threads.
 *   sc_plugin  loaded at start, unloaded at sc_server_free() after fini.
 *   sc_inst    one state: a topic's (SC_SCOPE_TOPIC, kept in the registry for the process's
 *              life once created) or one channel's (SC_SCOPE_CONNECTION, destroyed when the
 *              channel leaves). Reference-counted: the registry, subscribed channels, and the
 *              timer/dispatch threads while they call into it. `dead` marks it unusable.
 *   sc_conn    one WebSocket: created by the transport, freed by sc_conn_close().
 *   sc_chan    one joined topic on one connection (the "channel instance"): join -> leave.
 *   sc_sess    a session: the client's hold on one topic (id, op numbering, last outcomes,
 *              and for SC_SCOPE_CONNECTION the state it owns). Reference-counted: the session
 *              table and every channel joined with it. Outlives its channels (a resume
 *              reattaches it) until it expires; with a store it is also persisted (sess.c).
 *
 * Locks, in the only order they may nest:
 *   conn->mu  ->  inst->mu  ->  srv->reg_mu | srv->timer_mu | srv->info_mu | srv->metric_mu
 *             |   srv->sess_mu  ->  the store's queue (sc_store_submit may wait for room)
 *             ->  outq's queue mutex (leaf).
 * No socket write ever happens under any of them (writers run unlocked). Store completions
 * run on the store thread and take only outq mutexes: a submitter waiting for room in the
 * store's queue while holding inst->mu can therefore never deadlock with them.
 */
#ifndef SC_SERVER_INTERNAL_H
#define SC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core.h"
#include "frame.h"
#include "outq.h"
#include "statechannel/handler.h"
#include "statechannel/patch.h"
#include "store.h"
#include "util.h"

/* Registry hash buckets: topics are hashed to chains; 4096 keeps chains short for tens of
 * thousands of topics. */
#define SC_REG_BUCKETS 4096
/* Distinct refusal reasons tracked in /metrics; further ones count as "other" (handlers may
 * invent reasons, a client must not be able to grow the table). */
#define SC_MAX_REASONS 64
/* Diff time histogram buckets (seconds), Prometheus style. */
#define SC_DIFF_BUCKETS 8

typedef struct sc_chan sc_chan;
typedef struct sc_inst sc_inst;

struct sc_module {
    struct sc_plugin *plugin;
    void *data;         /* sc_module_set_data() */
    char fail_msg[256]; /* sc_module_fail() */
};

typedef struct sc_plugin {
    void *dl;           /* dlopen handle */
    sc_handler h;       /* copy of the descriptor, fields past the plugin's struct_size zeroed */
    char *file;         /* path, for messages */
    size_t prefix_len;  /* pattern "p:*": length of "p:"; exact pattern: 0 */
    int wildcard;       /* 1: prefix pattern */
    int initialized;    /* init returned SC_OK (fini is due) */
    struct sc_module mod;
    struct sc_server *srv;
} sc_plugin;

typedef struct sc_outcome {
    uint64_t op;     /* 0: empty slot */
    int ok;          /* the reply's status */
    cJSON *response; /* the reply's response, without "duplicate" */
} sc_outcome;

/* Session ids: "<secret>-<client>", the secret 128 random bits from the OS (the resume
 * credential, PROTOCOL.md section 4), the client id 64 random bits (sc_client_id(), safe to
 * show to others). Keeping the client id inside the id keeps it stable across restarts
 * without another column in the store. */
#define SC_SESSION_SECRET_BYTES 16
#define SC_CLIENT_ID_BYTES 8
#define SC_SESSION_ID_LEN (2 * SC_SESSION_SECRET_BYTES + 1 + 2 * SC_CLIENT_ID_BYTES)
/* Session table buckets: tens of thousands of sessions keep chains short. */
#define SC_SESS_BUCKETS 8192
/* A state loaded from the store jumps its version by this much at its first change after a
 * restart. Clients may hold versions that were published but never committed (kill -9
 * between publish and commit); numbering past every such version means no client can
 * mistake a new version for one it holds. Versions in flight per state are bounded by the
 * store's queue (4096 batches by default), far below the gap. */
#define SC_RESTART_VERSION_GAP 65536

typedef struct sc_sess {
    char id[SC_SESSION_ID_LEN + 1];
    const char *client_id; /* inside id, after the '-' */
    char *topic;           /* owned */
    char *state_key;       /* the store's key of its state: "t:<topic>" or "c:<id>" (owned) */
    sc_scope scope;
    int keep;              /* outlives its channel for a resume: the join sent `_sc` (a
                              client that can resume); else it ends with its channel */
    sc_inst *inst;         /* SC_SCOPE_CONNECTION: the state it owns (one reference; set
                              once, under srv->sess_mu) */
    atomic_int refs;
    /* guarded by srv->sess_mu */
    int holders;           /* channels joined with it (0: detached, may expire) */
    int expired;           /* removed from the table: a join must not take it */
    int64_t last_seen_ms;  /* wall clock, when it was last held */
    struct sc_sess *hnext;
    /* guarded by the lock of the instance it is joined to (one per session) */
    sc_chan *attached;     /* the channel whose ops it numbers: its latest join */
    uint64_t last_op;      /* last applied sc:event op (0: none) */
    sc_outcome outcomes[SC_OUTCOMES_KEPT]; /* ring indexed by op % SC_OUTCOMES_KEPT */
} sc_sess;

struct sc_chan {
    struct sc_conn *conn;
    sc_inst *inst;       /* holds one reference */
    char *topic;         /* owned */
    char *jr;            /* raw JSON token of the join's ref, e.g. "\"3\"" (owned) */
    uint64_t id;         /* unique on its connection; the outq tag of its patches */
    sc_dialect dialect;
    int subscribed;      /* in inst->subs (guarded by inst->mu) */
    sc_sess *sess;       /* holds one reference */
};

typedef struct sc_timer {
    sc_inst *inst;      /* holds no reference: entries are removed before the inst dies */
    char name[SC_MAX_TIMER_NAME + 1];
    uint32_t ms;
    int repeat;
    int64_t due_ms;     /* monotonic */
    uint64_t gen;       /* distinguishes a re-set timer from the one that was due */
} sc_timer;

struct sc_inst {
    struct sc_server *srv;
    sc_plugin *pl;
    char *topic;          /* owned */
    const char *topic_id; /* inside topic, after the first ':' ("" when none) */
    sc_scope scope;
    pthread_mutex_t mu;   /* serializes every callback and every publish of this state */
    atomic_int refs;
    int dead;             /* creation failed or destroyed: callers must let go */
    int created;          /* a join built the state (or it was loaded from the store) */
    char *store_key;      /* its key in the store, NULL when not persisted (owned) */
    const char *owner;    /* owning session id of a persisted per-connection state, or NULL */
    int stored;           /* a snapshot of it was submitted: patches may follow */
    int restored;         /* loaded from the store, unchanged since (SC_RESTART_VERSION_GAP) */
    int load_tried;       /* the store was asked for it */
    cJSON *live;          /* the tree handlers change: the root of live_doc, kept equal */
    sc_doc *live_doc;     /* owns live; keeps its indexes across callbacks for sc_emit_patch
                             and sc_state_read(); sc_state() lends it out (sc_doc_edit) */
    sc_doc *shadow;       /* the tree as last published (what clients hold at `version`),
                             with kept indexes (patch.h): changed only by sc_doc_apply() */
    uint64_t version;
    sc_chan **subs;       /* subscribed channels (not owned) */
    size_t n_subs, cap_subs;
    void *ud;             /* sc_set_userdata */
    void (*ud_free)(void *);
    sc_frame *ring[SC_PATCH_RING];  /* last published LiveState patch frames (join_ref null) */
    uint64_t ring_ver[SC_PATCH_RING];
    char *state_json;     /* cached serialization of shadow at state_json_ver */
    size_t state_json_len;
    uint64_t state_json_ver;
    int n_timers;         /* entries of this inst in srv->timers */
    sc_inst *hnext;       /* registry chain */
};

/* What a callback is for, which decides what the sc_* functions may do. */
typedef enum sc_ctx_kind {
    SC_CTX_CONNECT, SC_CTX_JOIN, SC_CTX_EVENT, SC_CTX_INFO, SC_CTX_TICK, SC_CTX_LEAVE,
    SC_CTX_HTTP
} sc_ctx_kind;

struct sc_ctx {
    struct sc_server *srv;
    sc_plugin *pl;
    sc_inst *inst;          /* NULL in connect */
    sc_chan *chan;          /* the current client, or NULL */
    sc_ctx_kind kind;
    const cJSON *socket_params;
    const char *token;
    int is_new;
    int64_t base;           /* sc_event_base() */
    int wants_reply;        /* the event expects a reply (sc_reply allowed) */
    cJSON *reply;           /* sc_reply() value (owned) */
    int failed;             /* sc_fail() called */
    char reason[64];
    char message[256];
    cJSON *pushes;          /* [[event, payload], ...] for the current client (owned) */
    cJSON *pushes_all;      /* same, for every subscriber (owned) */
    cJSON *emitted;         /* ops applied by sc_emit_patch(), not yet published (owned) */
    int replaced;           /* sc_state_set() was called */
    sc_store_batch *batch;  /* what publishing adds its store items to (NULL: its own) */
};

typedef struct sc_metrics {
    atomic_ullong conns_total, joins_total, joins_ok, leaves_total, events_total;
    atomic_ullong patches_published, patch_frames_sent, full_states_sent, messages_in;
    atomic_ullong bytes_in, closes_by_code[16];
    atomic_ullong diff_count, diff_bucket[SC_DIFF_BUCKETS];
    atomic_ullong diff_usec_sum;
    pthread_mutex_t reason_mu;
    char *reason_names[SC_MAX_REASONS];
    unsigned long long reason_counts[SC_MAX_REASONS];
    unsigned long long reason_other;
} sc_metrics;

typedef struct sc_info_msg {
    struct sc_info_msg *next;
    char *topic;
    char *name;
    cJSON *payload;
} sc_info_msg;

struct sc_server {
    sc_config cfg;
    sc_plugin **plugins;
    size_t n_plugins;

    pthread_mutex_t reg_mu;          /* registry and connection list */
    sc_inst *buckets[SC_REG_BUCKETS];
    struct sc_conn *conns;           /* doubly linked via prev/next */
    int n_conns;
    size_t n_topic_states;           /* SC_SCOPE_TOPIC instances in the registry (reg_mu) */
    atomic_int slots;                /* reserved connection slots */
    atomic_int stopping;
    int close_all_code;              /* under reg_mu: set by sc_server_close_all(); a connection */
    char close_all_reason[64];       /* that registers later is closed the same way at once */

    sc_writers *writers;
    sc_outq_counters outc;

    pthread_mutex_t timer_mu;        /* timers array, timer thread state */
    pthread_cond_t timer_cv;
    sc_timer *timers;
    size_t n_timers, cap_timers;
    uint64_t timer_gen;
    pthread_t timer_thread;
    int timer_started, timer_stop;

    pthread_mutex_t info_mu;         /* sc_broadcast queue */
    pthread_cond_t info_cv;
    sc_info_msg *info_head, *info_tail;
    size_t info_len;
    pthread_t info_thread;
    int info_started, info_stop;

    pthread_mutex_t sess_mu;         /* session table, holders, last-seen times */
    pthread_cond_t sess_cv;          /* wakes the session sweeper */
    sc_sess *sess_buckets[SC_SESS_BUCKETS];
    size_t n_sess;                   /* in the table */
    size_t n_kept;                   /* of them, kept beyond their channel (keep) */
    pthread_t sweep_thread;
    int sweep_started, sweep_stop;

    sc_metrics m;
};

struct sc_conn {
    sc_server *srv;
    pthread_mutex_t mu;     /* guards chans against the resync path (writer threads) */
    sc_chan **chans;
    size_t n_chans, cap_chans;
    cJSON *params;          /* socket query params (owned) */
    char *token;            /* decoded auth token or NULL (owned) */
    int sc_mount;           /* joined through the StateChannel mount */
    sc_outq *q;
    sbuf frag;              /* reassembly of a fragmented text message */
    int in_frag;
    double tokens;          /* rate limit bucket */
    int64_t refill_ms;
    int strikes;            /* consecutive rate-limited messages */
    uint64_t next_chan_id;
    atomic_int close_code;  /* set once a close frame is queued */
    atomic_int refs;        /* sc_conn_close's and one per pending durable reply */
    struct sc_conn *prev, *next;
};

/* ---- inst.c -------------------------------------------------------------------------------- */
sc_plugin *sc_plugin_match(sc_server *s, const char *topic);
/* Finds or creates the shared instance of a per-topic state (one new reference). NULL with
 * *full = 1 when creating it would pass cfg.max_states. */
sc_inst *inst_get_shared(sc_server *s, sc_plugin *pl, const char *topic, int *full);
/* Finds the shared instance if it exists (one new reference), else NULL. */
sc_inst *inst_find_shared(sc_server *s, const char *topic);
/* Creates a private instance (SC_SCOPE_CONNECTION) registered under its topic. */
sc_inst *inst_new_private(sc_server *s, sc_plugin *pl, const char *topic);
void inst_ref(sc_inst *in);
void inst_unref(sc_inst *in);
/* With in->mu held: marks in dead and removes it from the registry and the timers. */
void inst_kill(sc_inst *in);
/* With in->mu held: publishes what the callback (ctx) changed: pushes first, then one patch
 * (or a full state) with version + 1 to every subscriber. Returns 1 when the state changed. */
int inst_publish(sc_inst *in, sc_ctx *ctx);
/* With in->mu held: restores live from shadow (after a refused callback). */
void inst_restore(sc_inst *in);
/* With in->mu held: makes root (taken, even on failure) the live tree. 0, or -1 when out of
 * memory (the live tree is then unchanged). */
int inst_set_live(sc_inst *in, cJSON *root);
/* With in->mu held: the full-state frame (state:change or set_state) for one channel. */
sc_frame *inst_state_frame(sc_inst *in, sc_chan *ch);
void inst_subscribe(sc_inst *in, sc_chan *ch);
void inst_unsubscribe(sc_inst *in, sc_chan *ch);
/* All live instances of topic (new references); caller frees the array. */
sc_inst **inst_all_of_topic(sc_server *s, const char *topic, size_t *n);
/* Destroys every instance (shutdown). */
void inst_destroy_all(sc_server *s);

/* Reads state key from the store into in (with in->mu held): live, shadow, version.
 * Returns 1 when loaded, 0 when the store has no such state, -1 on a store error (logged). */
int inst_load(sc_inst *in, const char *key);
/* With in->mu held, for a topic's state: the first call makes it persisted ("t:<topic>") and
 * loads it from the store when the store has it (created = 1). Returns 1 when loaded, 0 when
 * not (nothing stored, no store, or done before), -1 on a store error (logged). */
int inst_load_topic(sc_inst *in);
/* With in->mu held: makes in persisted under key (copied). Returns 0, -1 when out of memory. */
int inst_set_store_key(sc_inst *in, const char *key, int per_connection);
/* With in->mu held: brings a resuming channel from version `since` to the current one with
 * state:patch frames (ring, then the store's log) when they are all available and smaller
 * than the full state. Returns 1 when done (possibly nothing to send), 0 when the caller
 * must send the full state. */
int inst_catch_up(sc_inst *in, sc_chan *ch, uint64_t since);

/* ---- sess.c -------------------------------------------------------------------------------- */
int sess_start(sc_server *s);
void sess_stop(sc_server *s);
/* A new session for topic (one reference for the caller; the table holds another); keep:
 * see sc_sess. */
sc_sess *sess_new(sc_server *s, const char *topic, sc_scope scope, int keep);
/* The session named id for topic, from memory or from the store, when it exists, has not
 * expired and belongs to topic with that scope (one new reference), else NULL. On success
 * it is held (holders + 1): the caller attaches it or calls sess_release(). For a
 * per-connection session loaded from the store, its state is loaded too. */
sc_sess *sess_resume(sc_server *s, const char *id, const char *topic, sc_scope scope,
                     sc_plugin *pl);
/* Ends ss (a session that ends with its channel): no join finds it any more; b (taken,
 * may be NULL) gets its deletion and is submitted; the table forgets it once committed. */
void sess_end(sc_server *s, sc_sess *ss, sc_store_batch *b);
/* A channel lets go of a session it held (holders - 1; last-seen = now). */
void sess_release(sc_server *s, sc_sess *ss);
void sess_ref(sc_sess *ss);
void sess_unref(sc_sess *ss);
/* Removes every session from memory (shutdown); the store keeps them. */
void sess_destroy_all(sc_server *s);
/* Adds "session created or touched now" to a batch. */
void sess_touch_item(sc_server *s, sc_store_batch *b, const sc_sess *ss);
/* Submits a batch (takes it; NULL is a no-op). conn/frame (may be NULL): queued on the
 * connection once the batch is committed (the durable reply). A batch that fails to commit
 * stops the process (see sess.c). */
void store_submit(sc_server *s, sc_store_batch *b, sc_conn *conn, sc_frame *frame);
/* Logs what and stops the process (the fail-stop policy of sess.c). */
_Noreturn void store_fail_stop(const char *what);
void conn_ref(sc_conn *c);
void conn_unref(sc_conn *c);

/* ---- api.c --------------------------------------------------------------------------------- */
void ctx_init(sc_ctx *ctx, sc_server *s, sc_plugin *pl, sc_inst *in, sc_chan *ch, sc_ctx_kind k);
void ctx_release(sc_ctx *ctx);

/* ---- core.c -------------------------------------------------------------------------------- */
/* Builds [jr, ref, topic, event, payload_json] into a frame. jr/ref are raw tokens. */
sc_frame *msg_frame(const char *jr, size_t jrn, const char *ref, size_t refn, const char *topic,
                    const char *event, const char *payload, size_t payload_len);
sc_frame *msg_frame_json(const char *jr, const char *topic, const char *event,
                         const cJSON *payload);
/* Queues a frame on a channel's connection (tag != 0: droppable patch). */
void chan_send(sc_chan *ch, sc_frame *f, uint64_t tag);

/* ---- async.c ------------------------------------------------------------------------------- */
int async_start(sc_server *s);
void async_stop(sc_server *s);
int timer_set(sc_inst *in, const char *name, uint32_t ms, int repeat);
int timer_cancel(sc_inst *in, const char *name);
void timers_cancel_inst(sc_inst *in);
int info_enqueue(sc_server *s, const char *topic, const char *name, cJSON *payload);

/* ---- loader.c ------------------------------------------------------------------------------ */
int plugins_load(sc_server *s, const char *dir, char *err, size_t errcap);
void plugins_unload(sc_server *s);

/* ---- metrics.c ----------------------------------------------------------------------------- */
void metrics_init(sc_metrics *m);
void metrics_free(sc_metrics *m);
void metrics_refusal(sc_metrics *m, const char *reason);
void metrics_close(sc_metrics *m, int code);
void metrics_diff(sc_metrics *m, double seconds);

#endif
