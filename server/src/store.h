/*
 * store.h -- the durable store of the Statechannel server: states, patch logs and sessions.
 *
 * What it does. It keeps, in one SQLite file under the data directory (<data>/statechannel.db):
 *   - every state (per-topic or per-connection): a snapshot (JSON text) at some version plus a
 *     log of the patches after it, so the current state = snapshot + replay of the log. The log
 *     also keeps a bounded window of older patches (the resume window) so a resuming client is
 *     sent only the versions it missed;
 *   - every client session: its id, topic, state key, last applied op number, the outcomes of
 *     its last SC_STORE_OUTCOMES_KEPT ops (for duplicate replies) and its last-seen time.
 * Writes are batches handed to sc_store_submit(); a store thread commits every batch pending
 * (after an optional short window) in ONE transaction (group commit), then calls each batch's
 * completion callback. In durable mode a callback runs only once its batch is on disk
 * (fsync'd), which is when the server may release the batch's acknowledgements.
 *
 * What it does not do. It never interprets states or sessions beyond replaying patches
 * (sc_patch_apply()) to rebuild a state and to write checkpoints; it does not hold states in
 * memory, issue session ids, decide op numbering or talk to clients. Keys, topics and ids are
 * opaque NUL-terminated strings chosen by the server.
 *
 * Boundary. Nothing here names SQLite: the queue, the store thread and the batches are
 * backend-neutral (store.c) and the SQLite file is one backend behind a function table
 * (store_internal.h). A store shared by several server nodes would be another backend with
 * the same calls; its completions would still mean "durable".
 *
 * Threads. Every function may be called from any thread, concurrently, except that
 * sc_store_close() must not race any other call on the same store. Completion callbacks run
 * on the store thread.
 *
 * Anything not declared in this header is private and may change without notice.
 */
#ifndef STATECHANNEL_STORE_H
#define STATECHANNEL_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes. 0 is success. One table, one strerror.
 * ------------------------------------------------------------------------------------------- */
#define SC_STORE_STATUS_MAP(X)                                                                   \
    X(OK, "success")                                                                             \
    X(ENOMEM, "out of memory")                                                                   \
    X(EARG, "invalid argument")                                                                  \
    X(EACCES, "data directory is not usable")                                                    \
    X(EBUSY, "data directory is in use by another process")                                     \
    X(ECORRUPT, "database file is corrupt or not a database")                                    \
    X(ESCHEMA, "database schema is newer than this program")                                     \
    X(EIO, "database I/O error")                                                                 \
    X(EFULL, "disk full")                                                                        \
    X(ESQL, "database error")                                                                    \
    X(ENOTFOUND, "no such state or session")                                                     \
    X(ESEQ, "version or op number out of sequence")                                              \
    X(ETRIMMED, "those versions are no longer in the log")                                       \
    X(ELIMIT, "the requested frames exceed the size limit")                                      \
    X(EREPLAY, "a logged patch does not apply to its snapshot")                                  \
    X(ECLOSED, "the store is closing")                                                           \
    X(ESTOPPED, "stopped by the caller's callback")

typedef enum sc_store_status {
#define SC_STORE_STATUS_ENUM_(name, msg) SC_STORE_##name,
    SC_STORE_STATUS_MAP(SC_STORE_STATUS_ENUM_)
#undef SC_STORE_STATUS_ENUM_
    SC_STORE_STATUS_COUNT_
} sc_store_status;

/* Returns a static, human-readable description of status; never NULL. */
const char *sc_store_strerror(sc_store_status status);

/* What went wrong, per call. Owned by the caller (usually on its stack); filled on failure
 * only (status stays SC_STORE_OK on success). */
typedef struct sc_store_error {
    sc_store_status status; /* what failed */
    int sqlite_code;        /* the extended SQLite result code behind it, or 0 */
    char message[320];      /* one line for humans: the file, what failed, what to do */
} sc_store_error;

/* The outcomes of the last this-many ops of a session are kept for duplicate replies
 * (PROTOCOL.md section 4: "at least the last 64 ops per session"). */
#define SC_STORE_OUTCOMES_KEPT 64

/* The file the store keeps under the data directory. */
#define SC_STORE_FILE_NAME "statechannel.db"

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */
typedef struct sc_store_options {
    size_t struct_size;            /* sizeof(sc_store_options): set by sc_store_options_init() */
    int durable;                   /* 1 (default): synchronous=FULL, a completion means fsync'd.
                                      0: synchronous=NORMAL, survives a process crash but the
                                      last commits may be lost on power failure */
    uint64_t log_max_versions;     /* resume window: keep the last N patches per state
                                      (default 1000), plus up to N/16 older ones (the log is cut
                                      in steps of N/16); the patches after the snapshot are kept
                                      regardless, since recovery needs them */
    uint64_t log_max_bytes;        /* resume window in bytes of patches per state (10 MiB);
                                      once past it the log is cut to 15/16 of it */
    uint64_t checkpoint_versions;  /* write a snapshot after this many logged versions (1000) */
    uint64_t checkpoint_min_bytes; /* ... or once the log since the snapshot holds more bytes
                                      than max(this, the snapshot's size) (default 64 KiB) */
    uint32_t commit_window_us;     /* group commit: wait this long after the first pending
                                      batch before committing; 0 (default) = commit at once,
                                      grouping what arrived during the previous commit */
    uint32_t background_window_us; /* batches submitted with sc_store_submit_background()
                                      (nobody waits on their completion to answer a client)
                                      may wait this long after the first of them for company
                                      (default 5000: 5 ms): one commit then carries several
                                      events of each busy state, so fewer pages and fsyncs per
                                      event. Any other submission, a flush or a close commits
                                      what is queued at once (after commit_window_us) */
    size_t queue_max_batches;      /* submitted but not yet completed batches (default 4096) */
    size_t queue_max_bytes;        /* ... and their bytes (default 64 MiB); past either bound
                                      sc_store_submit() waits */
    int64_t session_ttl_ms;        /* sc_store_expire() deletes sessions idle longer (24 h) */
    uint32_t busy_timeout_ms;      /* wait this long for a lock held by another connection */
    int full_integrity_check;      /* 1: PRAGMA integrity_check at open (reads and checks every
                                      index; slow on big files); 0 (default): quick_check */
} sc_store_options;

/* Fills opts with the defaults above. */
void sc_store_options_init(sc_store_options *opts);

/* ---------------------------------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------------------------------- */
typedef struct sc_store sc_store; /* opaque */

/* Opens (creating it when missing) <data_dir>/statechannel.db and starts the store thread.
 * Fails fast, before anything is served: SC_STORE_EACCES when data_dir is missing or not
 * writable (probed by creating a file in it), SC_STORE_EBUSY when another process holds the
 * directory, SC_STORE_ECORRUPT when the file is not a database or fails the integrity check,
 * SC_STORE_ESCHEMA when it was written by a newer program. opts may be NULL for the defaults.
 * On success *out is a new store; the caller closes it with sc_store_close(). */
sc_store_status sc_store_open(const char *data_dir, const sc_store_options *opts, sc_store **out,
                              sc_store_error *err);

/* Commits every submitted batch, runs their callbacks, stops the thread and frees the store.
 * Accepts NULL. Must not be called from a completion callback. */
void sc_store_close(sc_store *store);

/* The database file's path; borrowed, valid until sc_store_close(). */
const char *sc_store_path(const sc_store *store);

/* ---------------------------------------------------------------------------------------------
 * Batches: what one group of events changed. Built by one thread, then submitted.
 * Items are applied in the order they were added; batches in the order they were submitted.
 * Every function copies the strings and bytes it is given.
 * ------------------------------------------------------------------------------------------- */
typedef struct sc_store_batch sc_store_batch; /* opaque */

/* Returns a new empty batch (caller submits it or frees it), or NULL when out of memory. */
sc_store_batch *sc_store_batch_new(void);
void sc_store_batch_free(sc_store_batch *batch); /* accepts NULL */

/* The full state at version (JSON text of len bytes). Creates the state, or replaces it: when
 * version equals the stored version this is a checkpoint and the log stays; when it is newer
 * (a change sent as state:change) the old log is dropped because it no longer leads here.
 * owner is the session owning a per-connection state (deleted with it), NULL for a topic's.
 * An older version than the stored one fails the batch with SC_STORE_ESEQ. */
sc_store_status sc_store_batch_snapshot(sc_store_batch *batch, const char *key, const char *topic,
                                        const char *owner, uint64_t version, const char *json,
                                        size_t len);

/* The patch (an RFC 6902 array as JSON text) from version - 1 to version of an existing state.
 * version must be exactly the stored version + 1 (else the batch fails with SC_STORE_ESEQ;
 * SC_STORE_ENOTFOUND when the state does not exist). */
sc_store_status sc_store_batch_patch(sc_store_batch *batch, const char *key, uint64_t version,
                                     const char *patch, size_t len);

/* Deletes a state and its log (no error when it does not exist). */
sc_store_status sc_store_batch_drop_state(sc_store_batch *batch, const char *key);

/* Creates a session (last op 0) or touches an existing one: last_seen_ms (ms since the epoch)
 * becomes the later of the stored and given times. topic and state_key are set at creation. */
sc_store_status sc_store_batch_session(sc_store_batch *batch, const char *id, const char *topic,
                                       const char *state_key, int64_t last_seen_ms);

/* Consumes op number op of a session with its outcome: ok (1) with body = the reply JSON, or
 * error (0) with body = {"reason":..,"message":..} JSON; version is the state version after
 * the op. op must be exactly the session's last op + 1 (else SC_STORE_ESEQ). Only the last
 * SC_STORE_OUTCOMES_KEPT outcomes are kept. */
sc_store_status sc_store_batch_outcome(sc_store_batch *batch, const char *session_id, uint64_t op,
                                       int ok, uint64_t version, const char *body, size_t len);

/* Deletes a session, its outcomes and the states it owns (no error when it does not exist). */
sc_store_status sc_store_batch_drop_session(sc_store_batch *batch, const char *id);

/* Bytes the batch holds (what counts against queue_max_bytes). */
size_t sc_store_batch_bytes(const sc_store_batch *batch);

/* Called once per submitted batch, on the store thread, after its transaction committed
 * (result->status == SC_STORE_OK) or after it failed (the batch had no effect at all; the other
 * batches of the group are unaffected unless the commit itself failed, or a write failed at the
 * I/O level (disk full, I/O error), which fails the whole group). result is borrowed for
 * the call. The callback must be quick (it delays the next group); it may call
 * sc_store_submit() (which then never waits) but not sc_store_flush(), sc_store_expire() or
 * sc_store_close(). */
typedef void (*sc_store_done_fn)(void *user, const sc_store_error *result);

/* Queues batch for the next group commit and returns without doing I/O. Takes ownership of
 * batch in every case. When the queue is full (queue_max_batches or queue_max_bytes of
 * batches not yet completed) it waits until a commit frees room: back-pressure instead of
 * unbounded memory. A batch larger than queue_max_bytes is accepted alone into an empty queue.
 * On SC_STORE_OK, done (may be NULL) will be called exactly once; on failure
 * (SC_STORE_ECLOSED, SC_STORE_EARG) it is not called. */
sc_store_status sc_store_submit(sc_store *store, sc_store_batch *batch, sc_store_done_fn done,
                                void *user, sc_store_error *err);

/* As sc_store_submit(), for a batch whose completion nobody waits on to answer a client (a
 * change already acknowledged, a session touch): the store may hold it up to
 * background_window_us so that it shares a commit with others. A later sc_store_submit(),
 * sc_store_flush() or sc_store_close() commits it at once. */
sc_store_status sc_store_submit_background(sc_store *store, sc_store_batch *batch,
                                           sc_store_done_fn done, void *user, sc_store_error *err);

/* Waits until every batch submitted before the call is committed, its callback returned and
 * the checkpoints it made due are written. Must not be called from a completion. */
sc_store_status sc_store_flush(sc_store *store, sc_store_error *err);

/* Deletes the sessions whose last-seen time is older than now_ms - session_ttl_ms, with their
 * outcomes and the states they own; *n_expired (may be NULL) receives how many. Goes through
 * the store thread like a batch and waits for it. */
sc_store_status sc_store_expire(sc_store *store, int64_t now_ms, size_t *n_expired,
                                sc_store_error *err);

/* ---------------------------------------------------------------------------------------------
 * Reading (committed data only; any thread; runs on its own connection beside the writer)
 * ------------------------------------------------------------------------------------------- */

/* One state as loaded: the current state (snapshot + replayed log). Borrowed for the call. */
typedef struct sc_store_state_rec {
    const char *key;
    const char *topic;
    const char *owner; /* owning session id, or NULL for a per-topic state */
    uint64_t version;  /* the current version */
    const char *json;  /* the current state, compact JSON text, NUL-terminated */
    size_t json_len;
} sc_store_state_rec;

/* One kept op outcome of a session. */
typedef struct sc_store_outcome {
    uint64_t op;
    int ok;           /* 1 ok, 0 error */
    uint64_t version; /* state version after the op */
    const char *body; /* reply JSON (ok) or {"reason","message"} JSON (error), NUL-terminated */
    size_t body_len;
} sc_store_outcome;

/* One session as loaded. Borrowed for the call. */
typedef struct sc_store_session_rec {
    const char *id;
    const char *topic;
    const char *state_key;
    uint64_t last_op;                  /* last consumed op number; 0 before the first */
    int64_t last_seen_ms;              /* ms since the epoch */
    size_t n_outcomes;                 /* <= SC_STORE_OUTCOMES_KEPT */
    const sc_store_outcome *outcomes;  /* ascending op numbers, the last one is last_op */
} sc_store_session_rec;

/* Return 0 to go on, anything else to stop (the load then returns SC_STORE_ESTOPPED). They run
 * on the calling thread inside the read; they must not call the store's reading functions
 * (sc_store_load*, sc_store_read_log) themselves, which would deadlock. */
typedef int (*sc_store_state_fn)(void *user, const sc_store_state_rec *rec);
typedef int (*sc_store_session_fn)(void *user, const sc_store_session_rec *rec);

/* Startup: calls on_state for every state (ascending key), then on_session for every session
 * (ascending id), from one consistent read. Either callback may be NULL to skip that kind.
 * A state whose log does not replay fails the load with SC_STORE_EREPLAY. */
sc_store_status sc_store_load(sc_store *store, sc_store_state_fn on_state,
                              sc_store_session_fn on_session, void *user, sc_store_error *err);

/* Loads one state (SC_STORE_ENOTFOUND when absent) and calls fn with it. */
sc_store_status sc_store_load_state(sc_store *store, const char *key, sc_store_state_fn fn,
                                    void *user, sc_store_error *err);

/* Loads one session (SC_STORE_ENOTFOUND when absent) and calls fn with it. */
sc_store_status sc_store_load_session(sc_store *store, const char *id, sc_store_session_fn fn,
                                      void *user, sc_store_error *err);

/* One logged patch: the change from version - 1 to version. */
typedef struct sc_store_frame {
    uint64_t version;
    const char *patch; /* JSON text, NUL-terminated; owned by the sc_store_log */
    size_t len;
} sc_store_frame;

typedef struct sc_store_log {
    uint64_t version;       /* the state's current version: the last frame's, when n > 0 */
    size_t n;               /* frames, ascending versions since + 1 .. version */
    size_t bytes;           /* sum of the frames' len */
    sc_store_frame *frames; /* n frames */
} sc_store_log;

/* Reads the patches of state key from version since + 1 to its current version, in order, for
 * a resume. *out is a new log (caller frees with sc_store_log_free()); n == 0 when since is the
 * current version. SC_STORE_ETRIMMED when some of them are no longer kept, SC_STORE_ELIMIT
 * when max_bytes > 0 and they add up to more (send the full state instead), SC_STORE_ESEQ
 * when since is past the current version, SC_STORE_ENOTFOUND for an unknown key. */
sc_store_status sc_store_read_log(sc_store *store, const char *key, uint64_t since,
                                  size_t max_bytes, sc_store_log **out, sc_store_error *err);
void sc_store_log_free(sc_store_log *log); /* accepts NULL */

/* ---------------------------------------------------------------------------------------------
 * Counters (for /metrics and the tests)
 * ------------------------------------------------------------------------------------------- */
typedef struct sc_store_stats {
    uint64_t commits;        /* group transactions committed */
    uint64_t batches;        /* batches completed (ok or failed) */
    uint64_t failed_batches; /* batches completed with an error */
    uint64_t checkpoints;    /* snapshots written by the store's checkpoint policy */
    uint64_t trimmed;        /* patches dropped from logs past the resume window */
    uint64_t queue_waits;    /* submissions that waited for room in the queue */
    uint64_t commit_us;      /* time spent applying and committing groups (fsync included),
                                microseconds; commit_us / commits is the mean commit latency
                                and batches / commits the mean group size */
    uint64_t max_group;      /* the most batches committed in one group so far */
} sc_store_stats;

void sc_store_stats_get(sc_store *store, sc_store_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* STATECHANNEL_STORE_H */
