/*
 * store_internal.h -- what store.c (queue, store thread, batches) shares with a store backend
 * (store_sqlite.c). Private to the store.
 *
 * The split: store.c owns threads and memory bounds and knows nothing of SQL; a backend owns
 * the bytes on disk and runs only on the threads store.c calls it from: commit() and
 * maintain() on the store thread (one writer), the read functions on any thread (the backend
 * serializes them itself).
 */
#ifndef STATECHANNEL_STORE_INTERNAL_H
#define STATECHANNEL_STORE_INTERNAL_H

#include <stdatomic.h>

#include "store.h"

/* What one batch item asks for. */
typedef enum sc_store_item_kind {
    SC_ITEM_SNAPSHOT,     /* key, topic, owner (may be NULL), version, data = state JSON */
    SC_ITEM_PATCH,        /* key, version, data = patch JSON */
    SC_ITEM_DROP_STATE,   /* key */
    SC_ITEM_SESSION,      /* key = session id, topic, owner = state key, time = last seen */
    SC_ITEM_OUTCOME,      /* key = session id, op, ok, version, data = body JSON */
    SC_ITEM_DROP_SESSION, /* key = session id */
    SC_ITEM_EXPIRE        /* time = cutoff: sessions last seen before it go (internal) */
} sc_store_item_kind;

/* One item; its strings live in the same allocation, after the struct. */
typedef struct sc_store_item {
    struct sc_store_item *next; /* next item of the batch, in the order added */
    sc_store_item_kind kind;
    const char *key;   /* state key or session id; NUL-terminated */
    const char *topic; /* or NULL */
    const char *owner; /* owning session (snapshot) or state key (session), or NULL */
    const char *data;  /* JSON text, NUL-terminated, or NULL */
    size_t len;        /* bytes of data */
    uint64_t version;
    uint64_t op;
    int ok;
    int64_t time; /* ms since the epoch */
} sc_store_item;

struct sc_store_batch {
    sc_store_item *head, *tail; /* items in the order added */
    size_t bytes;               /* approximate memory held: structs + strings */
    /* Set by sc_store_submit(); touched by the store thread only afterwards. */
    sc_store_done_fn done;
    void *user;
    struct sc_store_batch *next; /* queue link */
    sc_store_error result;       /* filled by the backend's commit() */
    size_t *expired_out;         /* SC_ITEM_EXPIRE: where the backend adds the count */
};

/* Counters a backend bumps (atomics: read by sc_store_stats_get() on other threads). */
typedef struct sc_store_counters {
    atomic_uint_least64_t checkpoints;
    atomic_uint_least64_t trimmed;
} sc_store_counters;

/* A backend: the function table behind the public calls. */
typedef struct sc_store_backend {
    const char *name;
    /* Store thread: applies each batch of the list (linked by next) all-or-nothing, every
     * batch that succeeded in one transaction; fills each batch's result. Returns 1 when the
     * transaction committed (even if some batches failed), 0 when nothing was committed. */
    int (*commit)(void *be, sc_store_batch *group);
    /* Store thread, after the group's callbacks: deferred work (checkpoints, WAL). */
    void (*maintain)(void *be);
    sc_store_status (*load)(void *be, const char *state_key, const char *session_id,
                            sc_store_state_fn on_state, sc_store_session_fn on_session,
                            void *user, sc_store_error *err);
    sc_store_status (*read_log)(void *be, const char *key, uint64_t since, size_t max_bytes,
                                sc_store_log **out, sc_store_error *err);
    const char *(*path)(const void *be);
    void (*close)(void *be);
} sc_store_backend;

/* The SQLite backend: opens <data_dir>/statechannel.db (see sc_store_open()). */
sc_store_status sc_store_sqlite_open(const char *data_dir, const sc_store_options *opts,
                                     sc_store_counters *counters, void **be,
                                     const sc_store_backend **ops, sc_store_error *err);

/* Fills err (when not NULL) with status, the SQLite code and a printf-style message.
 * Returns status. */
sc_store_status sc_store_fail(sc_store_error *err, sc_store_status status, int sqlite_code,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* STATECHANNEL_STORE_INTERNAL_H */
