/*
 * store.c -- the store's public calls, its bounded submission queue and its store thread
 * (group commit). The bytes on disk are the backend's business (store_sqlite.c).
 *
 * Group commit. Submitters append batches to a FIFO under one mutex and signal the store
 * thread; nothing else happens on their thread, so a submission costs O(1) plus the batch's
 * memory and never waits for I/O. The store thread sleeps until the queue is non-empty,
 * optionally waits a window after the first queued batch (or until the queue is half full) so
 * that concurrent submitters share the transaction, takes the whole queue, commits it as ONE
 * transaction (one fsync in durable mode), and only then calls every batch's completion in
 * submission order. The window is commit_window_us while some queued batch has a waiter (an
 * ack held for its commit), else background_window_us (longer): batches nobody waits on
 * (sc_store_submit_background) gather several events per state into one commit, which is
 * where the store's cost per event goes down (pages written once per state and commit, one
 * fsync); a flush or a close cuts any window short.
 * With the default window of 0 it commits at once, and every batch that arrives during a
 * commit shares the next one: groups grow with the load, and at low load an ack costs one
 * fsync, not a window. Cost per group: one transaction + O(items) statements.
 *
 * Bounds. Submitted batches count against queue_max_batches and queue_max_bytes until their
 * completion has returned (so memory is bounded by the options, not by how far the disk lags).
 * A submitter that finds the queue full waits on a condition variable: back-pressure reaches
 * the clients through the threads that submit. The store thread itself never waits for room
 * (a completion that submits would otherwise deadlock): its submissions may pass the bounds.
 *
 * Shutdown. sc_store_close() marks the store closing; the thread commits whatever is queued,
 * runs those completions, and exits; later submissions fail with SC_STORE_ECLOSED.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

/* Defaults, each with its reason. */
enum {
    /* Resume window: the server's own in-memory ring keeps recent frames; the store keeps about
     * as many so a resume after a restart is as cheap as one before it. */
    SC_STORE_DEFAULT_LOG_VERSIONS = 1000,
    /* A state's checkpoint is due after this many logged versions even if they are tiny:
     * bounds the number of patches recovery replays. */
    SC_STORE_DEFAULT_CHECKPOINT_VERSIONS = 1000,
    /* Floor for the "log grew past the snapshot's size" rule, so a tiny state is not
     * re-snapshotted every few versions. */
    SC_STORE_DEFAULT_CHECKPOINT_MIN_BYTES = 64 * 1024,
    /* Background batches (nobody waits on them) wait this long for company: at tens of
     * thousands of events/s over hundreds of states, 5 ms gathers several events per state
     * per commit (docs/durability.md has the figures), and a crash loses at most that much
     * more of what was never acknowledged as durable anyway. */
    SC_STORE_DEFAULT_BACKGROUND_WINDOW_US = 5000,
    /* 0: commit as soon as the previous commit ends; whatever arrived meanwhile shares the
     * next transaction, so the group grows with the load by itself. Measured (see
     * docs/durability.md): with clients that wait for their acks, a 5 ms window only adds
     * 5 ms to every ack and lowers throughput; it pays only when commits are CPU-bound by
     * per-transaction overhead, which the option still allows. */
    SC_STORE_DEFAULT_WINDOW_US = 0,
    /* In-flight batches: tens of thousands of events per second times a commit that can take
     * 15-30 ms (an fsync on a loaded disk). 4,096 made workers wait at 1,000 busy connections
     * (statechannel_store_queue_waits_total, 0.4-8% of events); an event's batch is a few
     * hundred bytes, so memory stays bounded by queue_max_bytes (64 MiB), not by this count. */
    SC_STORE_DEFAULT_QUEUE_BATCHES = 65536,
    /* Other processes may share the file briefly (the sqlite3 shell, a backup). */
    SC_STORE_DEFAULT_BUSY_MS = 5000
};
/* Bytes of patches kept per state for resumes: enough for a long disconnection of a busy state,
 * small next to the memory a server uses. */
#define SC_STORE_DEFAULT_LOG_BYTES ((uint64_t)10 * 1024 * 1024)
/* Bytes of batches in flight: bounds memory if the disk stalls. */
#define SC_STORE_DEFAULT_QUEUE_BYTES ((size_t)64 * 1024 * 1024)
/* Sessions idle for a day are gone: a tab closed yesterday will not resume. */
#define SC_STORE_DEFAULT_SESSION_TTL_MS ((int64_t)24 * 3600 * 1000)
/* Longest group-commit window accepted: past this, acks would wait visibly. */
#define SC_STORE_MAX_WINDOW_US 1000000u

static const char *const sc_store_messages[] = {
#define SC_STORE_STATUS_MSG_(name, msg) msg,
    SC_STORE_STATUS_MAP(SC_STORE_STATUS_MSG_)
#undef SC_STORE_STATUS_MSG_
};

const char *sc_store_strerror(sc_store_status status)
{
    if ((unsigned)status >= (unsigned)SC_STORE_STATUS_COUNT_)
        return "unknown store status";
    return sc_store_messages[status];
}

sc_store_status sc_store_fail(sc_store_error *err, sc_store_status status, int sqlite_code,
                              const char *fmt, ...)
{
    if (err == NULL)
        return status;
    err->status = status;
    err->sqlite_code = sqlite_code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

void sc_store_options_init(sc_store_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->durable = 1;
    opts->log_max_versions = SC_STORE_DEFAULT_LOG_VERSIONS;
    opts->log_max_bytes = SC_STORE_DEFAULT_LOG_BYTES;
    opts->checkpoint_versions = SC_STORE_DEFAULT_CHECKPOINT_VERSIONS;
    opts->checkpoint_min_bytes = SC_STORE_DEFAULT_CHECKPOINT_MIN_BYTES;
    opts->commit_window_us = SC_STORE_DEFAULT_WINDOW_US;
    opts->background_window_us = SC_STORE_DEFAULT_BACKGROUND_WINDOW_US;
    opts->queue_max_batches = SC_STORE_DEFAULT_QUEUE_BATCHES;
    opts->queue_max_bytes = SC_STORE_DEFAULT_QUEUE_BYTES;
    opts->session_ttl_ms = SC_STORE_DEFAULT_SESSION_TTL_MS;
    opts->busy_timeout_ms = SC_STORE_DEFAULT_BUSY_MS;
    opts->full_integrity_check = 0;
}

/* ---------------------------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------------------------- */

sc_store_batch *sc_store_batch_new(void)
{
    sc_store_batch *b = calloc(1, sizeof *b);
    if (b != NULL)
        b->bytes = sizeof *b;
    return b;
}

void sc_store_batch_free(sc_store_batch *batch)
{
    if (batch == NULL)
        return;
    sc_store_item *it = batch->head;
    while (it != NULL) {
        sc_store_item *next = it->next;
        free(it);
        it = next;
    }
    free(batch);
}

size_t sc_store_batch_bytes(const sc_store_batch *batch)
{
    return batch != NULL ? batch->bytes : 0;
}

/* Copies s (n bytes, or strlen when n is (size_t)-1) into *cursor and NUL-terminates it. */
static const char *copy_into(char **cursor, const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *dst = *cursor;
    memcpy(dst, s, n);
    dst[n] = '\0';
    *cursor = dst + n + 1;
    return dst;
}

/* Appends one item whose strings are copied into the same allocation. */
static sc_store_status add_item(sc_store_batch *b, sc_store_item_kind kind, const char *key,
                                const char *topic, const char *owner, const char *data,
                                size_t len, sc_store_item **out)
{
    if (b == NULL || key == NULL || (data == NULL && len > 0))
        return SC_STORE_EARG;
    size_t klen = strlen(key), tlen = topic ? strlen(topic) : 0, olen = owner ? strlen(owner) : 0;
    size_t need = sizeof(sc_store_item) + klen + 1 + (topic ? tlen + 1 : 0) +
                  (owner ? olen + 1 : 0) + (data ? len + 1 : 0);
    if (data != NULL && len > SIZE_MAX / 2)
        return SC_STORE_EARG;
    sc_store_item *it = calloc(1, need);
    if (it == NULL)
        return SC_STORE_ENOMEM;
    char *cursor = (char *)(it + 1);
    it->kind = kind;
    it->key = copy_into(&cursor, key, klen);
    it->topic = copy_into(&cursor, topic, tlen);
    it->owner = copy_into(&cursor, owner, olen);
    it->data = copy_into(&cursor, data, len);
    it->len = data ? len : 0;
    if (b->tail != NULL)
        b->tail->next = it;
    else
        b->head = it;
    b->tail = it;
    b->bytes += need;
    *out = it;
    return SC_STORE_OK;
}

sc_store_status sc_store_batch_snapshot(sc_store_batch *batch, const char *key, const char *topic,
                                        const char *owner, uint64_t version, const char *json,
                                        size_t len)
{
    sc_store_item *it;
    if (topic == NULL || json == NULL || len == 0)
        return SC_STORE_EARG;
    sc_store_status st = add_item(batch, SC_ITEM_SNAPSHOT, key, topic, owner, json, len, &it);
    if (st == SC_STORE_OK)
        it->version = version;
    return st;
}

sc_store_status sc_store_batch_patch(sc_store_batch *batch, const char *key, uint64_t version,
                                     const char *patch, size_t len)
{
    sc_store_item *it;
    if (patch == NULL || len == 0 || version == 0)
        return SC_STORE_EARG;
    sc_store_status st = add_item(batch, SC_ITEM_PATCH, key, NULL, NULL, patch, len, &it);
    if (st == SC_STORE_OK)
        it->version = version;
    return st;
}

sc_store_status sc_store_batch_drop_state(sc_store_batch *batch, const char *key)
{
    sc_store_item *it;
    return add_item(batch, SC_ITEM_DROP_STATE, key, NULL, NULL, NULL, 0, &it);
}

sc_store_status sc_store_batch_session(sc_store_batch *batch, const char *id, const char *topic,
                                       const char *state_key, int64_t last_seen_ms)
{
    sc_store_item *it;
    if (topic == NULL || state_key == NULL)
        return SC_STORE_EARG;
    sc_store_status st = add_item(batch, SC_ITEM_SESSION, id, topic, state_key, NULL, 0, &it);
    if (st == SC_STORE_OK)
        it->time = last_seen_ms;
    return st;
}

sc_store_status sc_store_batch_outcome(sc_store_batch *batch, const char *session_id, uint64_t op,
                                       int ok, uint64_t version, const char *body, size_t len)
{
    sc_store_item *it;
    if (body == NULL || len == 0 || op == 0)
        return SC_STORE_EARG;
    sc_store_status st = add_item(batch, SC_ITEM_OUTCOME, session_id, NULL, NULL, body, len, &it);
    if (st == SC_STORE_OK) {
        it->op = op;
        it->ok = ok ? 1 : 0;
        it->version = version;
    }
    return st;
}

sc_store_status sc_store_batch_drop_session(sc_store_batch *batch, const char *id)
{
    sc_store_item *it;
    return add_item(batch, SC_ITEM_DROP_SESSION, id, NULL, NULL, NULL, 0, &it);
}

/* ---------------------------------------------------------------------------------------------
 * The store and its thread
 * ------------------------------------------------------------------------------------------- */

/* Lifecycle: open (thread running) -> closing (no new submissions, queue drains) -> joined ->
 * freed. */
struct sc_store {
    const sc_store_backend *ops; /* the backend's functions */
    void *be;                    /* the backend's state; used by the store thread for writes */
    sc_store_options opts;       /* copied at open, read-only afterwards */
    sc_store_counters counters;  /* bumped by the backend */

    pthread_mutex_t mu;        /* guards everything below */
    pthread_cond_t work_cv;    /* store thread: queue became non-empty / closing */
    pthread_cond_t room_cv;    /* submitters: a group completed and freed room */
    pthread_cond_t done_cv;    /* flushers: completed advanced */
    sc_store_batch *head;      /* FIFO of submitted batches not yet taken by the thread */
    sc_store_batch *tail;
    size_t inflight_batches;   /* submitted, completion not yet returned (<= bound, see top) */
    size_t inflight_bytes;     /* their bytes */
    uint64_t submitted;        /* batches ever accepted */
    uint64_t completed;        /* batches whose completion returned; <= submitted */
    uint64_t settled;          /* completed as of the end of the last maintain(): flush waits
                                  for this, so checkpoints due by then are written */
    int closing;               /* 1 once sc_store_close() started */
    size_t urgent;             /* queued batches (not yet taken) that someone waits on */
    int flushers;              /* threads in sc_store_flush(): no window while > 0 */
    struct timespec first_at;  /* when the oldest queued batch was queued (CLOCK_MONOTONIC) */
    uint64_t commits;          /* transactions committed */
    uint64_t failed_batches;   /* completions reporting an error */
    uint64_t queue_waits;      /* submissions that waited for room */
    uint64_t commit_us;        /* time in the backend's commit(), microseconds */
    uint64_t max_group;        /* most batches in one group */
    pthread_t thread;          /* the store thread */
};

static int on_store_thread(sc_store *s)
{
    return pthread_equal(pthread_self(), s->thread);
}

/* t + us. */
static struct timespec after_us(struct timespec t, uint32_t us)
{
    t.tv_nsec += (long)(us % 1000000u) * 1000L;
    t.tv_sec += (time_t)(us / 1000000u);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_nsec -= 1000000000L;
        t.tv_sec += 1;
    }
    return t;
}

/* The queue is "half full": commit now rather than wait out the window. */
static int queue_pressing(const sc_store *s)
{
    return s->inflight_batches >= s->opts.queue_max_batches / 2 ||
           s->inflight_bytes >= s->opts.queue_max_bytes / 2;
}

static void *store_thread_main(void *arg)
{
    sc_store *s = arg;
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sc-store"); /* for top -H and perf */
#endif
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->closing)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->head == NULL)
            break; /* closing and drained */
        /* The window, from the first queued batch; re-evaluated at each submission, since a
         * batch with a waiter shortens it. */
        while (!s->closing && s->flushers == 0 && !queue_pressing(s)) {
            uint32_t w = s->opts.commit_window_us;
            if (s->urgent == 0 && s->opts.background_window_us > w)
                w = s->opts.background_window_us;
            if (w == 0)
                break;
            struct timespec deadline = after_us(s->first_at, w);
            if (pthread_cond_timedwait(&s->work_cv, &s->mu, &deadline) == ETIMEDOUT)
                break;
        }
        sc_store_batch *group = s->head;
        s->head = s->tail = NULL;
        s->urgent = 0;
        pthread_mutex_unlock(&s->mu);

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int committed = s->ops->commit(s->be, group);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        size_t n = 0, bytes = 0, failed = 0;
        for (sc_store_batch *b = group; b != NULL; b = b->next) {
            n++;
            bytes += b->bytes;
            if (b->result.status != SC_STORE_OK)
                failed++;
            if (b->done != NULL)
                b->done(b->user, &b->result);
        }
        while (group != NULL) {
            sc_store_batch *next = group->next;
            sc_store_batch_free(group);
            group = next;
        }

        pthread_mutex_lock(&s->mu);
        s->inflight_batches -= n;
        s->inflight_bytes -= bytes;
        s->completed += n;
        s->commits += committed ? 1 : 0;
        s->failed_batches += failed;
        s->commit_us += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
                                   (t1.tv_nsec - t0.tv_nsec) / 1000);
        if (n > s->max_group)
            s->max_group = n;
        pthread_cond_broadcast(&s->room_cv);
        pthread_cond_broadcast(&s->done_cv);
        pthread_mutex_unlock(&s->mu);

        /* Checkpoints and WAL upkeep run after the acks went out, off their latency. */
        s->ops->maintain(s->be);
        pthread_mutex_lock(&s->mu);
        s->settled = s->completed;
        pthread_cond_broadcast(&s->done_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

sc_store_status sc_store_open(const char *data_dir, const sc_store_options *opts, sc_store **out,
                              sc_store_error *err)
{
    if (out == NULL)
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_open: out is NULL");
    *out = NULL;
    if (data_dir == NULL || data_dir[0] == '\0')
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_open: no data directory given");
    sc_store_options o;
    sc_store_options_init(&o);
    if (opts != NULL) {
        if (opts->struct_size != sizeof o)
            return sc_store_fail(err, SC_STORE_EARG, 0,
                                 "sc_store_open: options not set up with sc_store_options_init()");
        o = *opts;
    }
    if (o.queue_max_batches < 2 || o.queue_max_bytes < 2 || o.log_max_versions == 0 ||
        o.checkpoint_versions == 0 || o.commit_window_us > SC_STORE_MAX_WINDOW_US ||
        o.background_window_us > SC_STORE_MAX_WINDOW_US ||
        o.session_ttl_ms <= 0)
        return sc_store_fail(err, SC_STORE_EARG, 0,
                             "sc_store_open: an option is out of range (queue bounds >= 2, "
                             "log and checkpoint versions >= 1, window <= %u us, ttl > 0)",
                             SC_STORE_MAX_WINDOW_US);

    sc_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "sc_store_open: out of memory");
    s->opts = o;
    atomic_init(&s->counters.checkpoints, 0);
    atomic_init(&s->counters.trimmed, 0);
    sc_store_status st = sc_store_sqlite_open(data_dir, &s->opts, &s->counters, &s->be, &s->ops, err);
    if (st != SC_STORE_OK) {
        free(s);
        return st;
    }

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the window must not jump with the clock */
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, &ca);
    pthread_cond_init(&s->room_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&s->thread, NULL, store_thread_main, s);
    if (rc != 0) {
        s->ops->close(s->be);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work_cv);
        pthread_cond_destroy(&s->room_cv);
        pthread_cond_destroy(&s->done_cv);
        free(s);
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "cannot start the store thread: %s",
                             strerror(rc));
    }
    *out = s;
    return SC_STORE_OK;
}

void sc_store_close(sc_store *store)
{
    if (store == NULL)
        return;
    pthread_mutex_lock(&store->mu);
    store->closing = 1;
    pthread_cond_signal(&store->work_cv);
    pthread_mutex_unlock(&store->mu);
    pthread_join(store->thread, NULL);
    store->ops->close(store->be);
    pthread_mutex_destroy(&store->mu);
    pthread_cond_destroy(&store->work_cv);
    pthread_cond_destroy(&store->room_cv);
    pthread_cond_destroy(&store->done_cv);
    free(store);
}

const char *sc_store_path(const sc_store *store)
{
    return store->ops->path(store->be);
}

/* Queues batch; background: nobody waits on its completion (see the top). */
static sc_store_status submit(sc_store *store, sc_store_batch *batch, sc_store_done_fn done,
                              void *user, int background, sc_store_error *err)
{
    if (store == NULL || batch == NULL) {
        sc_store_batch_free(batch);
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_submit: NULL store or batch");
    }
    batch->done = done;
    batch->user = user;
    batch->next = NULL;
    memset(&batch->result, 0, sizeof batch->result);
    int mine = on_store_thread(store);

    pthread_mutex_lock(&store->mu);
    int waited = 0;
    while (!store->closing && !mine && store->inflight_batches > 0 &&
           (store->inflight_batches + 1 > store->opts.queue_max_batches ||
            store->inflight_bytes + batch->bytes > store->opts.queue_max_bytes)) {
        waited = 1;
        pthread_cond_wait(&store->room_cv, &store->mu);
    }
    store->queue_waits += (uint64_t)waited;
    if (store->closing && !mine) {
        pthread_mutex_unlock(&store->mu);
        sc_store_batch_free(batch);
        return sc_store_fail(err, SC_STORE_ECLOSED, 0, "sc_store_submit: the store is closing");
    }
    if (store->tail != NULL) {
        store->tail->next = batch;
    } else {
        store->head = batch;
        clock_gettime(CLOCK_MONOTONIC, &store->first_at);
    }
    store->tail = batch;
    store->urgent += background ? 0 : 1;
    store->inflight_batches++;
    store->inflight_bytes += batch->bytes;
    store->submitted++;
    pthread_cond_signal(&store->work_cv);
    pthread_mutex_unlock(&store->mu);
    return SC_STORE_OK;
}

sc_store_status sc_store_submit(sc_store *store, sc_store_batch *batch, sc_store_done_fn done,
                                void *user, sc_store_error *err)
{
    return submit(store, batch, done, user, 0, err);
}

sc_store_status sc_store_submit_background(sc_store *store, sc_store_batch *batch,
                                           sc_store_done_fn done, void *user, sc_store_error *err)
{
    return submit(store, batch, done, user, 1, err);
}

sc_store_status sc_store_flush(sc_store *store, sc_store_error *err)
{
    if (store == NULL || on_store_thread(store))
        return sc_store_fail(err, SC_STORE_EARG, 0,
                             "sc_store_flush: NULL store, or called from a completion");
    pthread_mutex_lock(&store->mu);
    uint64_t target = store->submitted;
    store->flushers++;
    pthread_cond_signal(&store->work_cv); /* no window: commit what is queued */
    while (store->settled < target)
        pthread_cond_wait(&store->done_cv, &store->mu);
    store->flushers--;
    pthread_mutex_unlock(&store->mu);
    return SC_STORE_OK;
}

/* sc_store_expire() waits for its own batch through this. */
typedef struct expire_wait {
    sc_store *store;
    int done;              /* set under store->mu by the completion */
    sc_store_error result; /* the batch's result */
    size_t n_expired;      /* written by the backend before the completion runs */
} expire_wait;

static void expire_done(void *user, const sc_store_error *result)
{
    expire_wait *w = user;
    pthread_mutex_lock(&w->store->mu);
    w->done = 1;
    w->result = *result;
    pthread_cond_broadcast(&w->store->done_cv);
    pthread_mutex_unlock(&w->store->mu);
}

sc_store_status sc_store_expire(sc_store *store, int64_t now_ms, size_t *n_expired,
                                sc_store_error *err)
{
    if (n_expired != NULL)
        *n_expired = 0;
    if (store == NULL || on_store_thread(store))
        return sc_store_fail(err, SC_STORE_EARG, 0,
                             "sc_store_expire: NULL store, or called from a completion");
    sc_store_batch *b = sc_store_batch_new();
    sc_store_item *it;
    if (b == NULL || add_item(b, SC_ITEM_EXPIRE, "", NULL, NULL, NULL, 0, &it) != SC_STORE_OK) {
        sc_store_batch_free(b);
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "sc_store_expire: out of memory");
    }
    it->time = now_ms - store->opts.session_ttl_ms;
    expire_wait w = {.store = store};
    b->expired_out = &w.n_expired;
    sc_store_status st = sc_store_submit(store, b, expire_done, &w, err);
    if (st != SC_STORE_OK)
        return st;
    pthread_mutex_lock(&store->mu);
    while (!w.done)
        pthread_cond_wait(&store->done_cv, &store->mu);
    pthread_mutex_unlock(&store->mu);
    if (w.result.status != SC_STORE_OK) {
        if (err != NULL)
            *err = w.result;
        return w.result.status;
    }
    if (n_expired != NULL)
        *n_expired = w.n_expired;
    return SC_STORE_OK;
}

sc_store_status sc_store_load(sc_store *store, sc_store_state_fn on_state,
                              sc_store_session_fn on_session, void *user, sc_store_error *err)
{
    if (store == NULL)
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_load: NULL store");
    return store->ops->load(store->be, NULL, NULL, on_state, on_session, user, err);
}

sc_store_status sc_store_load_state(sc_store *store, const char *key, sc_store_state_fn fn,
                                    void *user, sc_store_error *err)
{
    if (store == NULL || key == NULL || fn == NULL)
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_load_state: NULL argument");
    return store->ops->load(store->be, key, NULL, fn, NULL, user, err);
}

sc_store_status sc_store_load_session(sc_store *store, const char *id, sc_store_session_fn fn,
                                      void *user, sc_store_error *err)
{
    if (store == NULL || id == NULL || fn == NULL)
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_load_session: NULL argument");
    return store->ops->load(store->be, NULL, id, NULL, fn, user, err);
}

sc_store_status sc_store_read_log(sc_store *store, const char *key, uint64_t since,
                                  size_t max_bytes, sc_store_log **out, sc_store_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (store == NULL || key == NULL || out == NULL)
        return sc_store_fail(err, SC_STORE_EARG, 0, "sc_store_read_log: NULL argument");
    return store->ops->read_log(store->be, key, since, max_bytes, out, err);
}

void sc_store_log_free(sc_store_log *log)
{
    if (log == NULL)
        return;
    for (size_t i = 0; i < log->n; i++)
        free((char *)log->frames[i].patch);
    free(log->frames);
    free(log);
}

void sc_store_stats_get(sc_store *store, sc_store_stats *out)
{
    memset(out, 0, sizeof *out);
    if (store == NULL)
        return;
    pthread_mutex_lock(&store->mu);
    out->commits = store->commits;
    out->batches = store->completed;
    out->failed_batches = store->failed_batches;
    out->queue_waits = store->queue_waits;
    out->commit_us = store->commit_us;
    out->max_group = store->max_group;
    pthread_mutex_unlock(&store->mu);
    out->checkpoints = atomic_load(&store->counters.checkpoints);
    out->trimmed = atomic_load(&store->counters.trimmed);
}
