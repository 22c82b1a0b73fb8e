/*
 * outq.c -- see outq.h for the policy. Locks: q->mu (per queue) may be held while taking the
 * writers' mu (to schedule), never the reverse; neither is held during a write or a resync
 * callback.
 *
 * Scheduling: one ready list shared by every writer thread. A writer takes the queue at the
 * head, writes one batch, and service_count() puts the queue back at the tail if it has more:
 * a queue is served by one writer at a time (busy), so frames of one connection go out in
 * push order, and connections take turns. A write that blocks (a client that stopped reading)
 * holds only the writer doing it, for at most the write timeout; the other writers keep
 * serving every other connection. (With a queue pinned to one writer, every connection
 * sharing that writer used to wait behind the stuck socket.) Costs: push O(1) (O(queue) when
 * it overflows), a batch one memcpy per frame.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "outq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* Channels resynced per callback; more are picked up by the next pass of the same loop.
 * Keeps the tag list on the writer's stack small. */
#define SC_RESYNC_BATCH 64
/* Write calls one inline pass (outq_release) makes before it hands the rest to the queue's
 * writer: the releasing thread is the connection's reader, and a queue that keeps refilling
 * (a busy topic) must not keep it from reading. */
#define SC_INLINE_WRITES 4

typedef struct qent {
    struct qent *next;
    sc_frame *f;  /* one reference owned by the queue */
    uint64_t tag; /* 0: keep; else the channel whose state patch this is */
} qent;

typedef struct retag {
    uint64_t tag;
    int requested; /* 1 once the resync callback was asked for it */
} retag;

struct sc_writers {
    pthread_t *threads;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sc_outq *head, *tail; /* queues with work, linked by ready_next (guarded by mu) */
    int stop;
};

struct sc_outq {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when a service pass ends (drained, released) */
    qent *head, *tail;
    size_t bytes, frames; /* what is queued */
    size_t max_bytes, max_frames;
    retag *retags;        /* remembered tags awaiting a full state */
    size_t n_retags, cap_retags;
    int scheduled; /* on a writer's ready list */
    int held;      /* outq_hold() depth: pushes do not schedule; outq_release() writes */
    int busy;      /* a writer (or outq_drain) is serving it */
    int closing;   /* a close frame is queued: nothing more is accepted */
    int shut;      /* released by its owner: never write again */
    int dead;      /* a write failed or the hard cap was hit */
    sc_writers *wr;    /* NULL: manual draining */
    sc_outq *ready_next;
    sc_write_fn write;
    void *write_user;
    sc_resync_fn resync;
    void *resync_user;
    sc_outq_counters *ctr;
};

static void ctr_add(sc_outq *q, atomic_ullong *c, unsigned long long v)
{
    if (q->ctr != NULL)
        atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
#define CTR(q, field, v) ctr_add((q), (q)->ctr ? &(q)->ctr->field : NULL, (v))

/* ---- writers -------------------------------------------------------------------------------- */

static size_t service_count(sc_outq *q, size_t max_writes);

static void *writer_main(void *arg)
{
    sc_writers *ws = arg;
    /* Named so that top -H, perf and /proc/<pid>/task tell the writers from the 1,000s of
     * civetweb workers (docs/performance.md measures them per thread). */
    pthread_setname_np(pthread_self(), "sc-writer");
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        while (ws->head == NULL && !ws->stop)
            pthread_cond_wait(&ws->cv, &ws->mu);
        if (ws->head == NULL && ws->stop)
            break;
        sc_outq *q = ws->head;
        ws->head = q->ready_next;
        if (ws->head == NULL)
            ws->tail = NULL;
        q->ready_next = NULL;
        pthread_mutex_unlock(&ws->mu);

        pthread_mutex_lock(&q->mu);
        q->scheduled = 0;
        q->busy = 1;
        pthread_mutex_unlock(&q->mu);
        /* One batch per turn; service_count requeues q at the tail if it has more: connections
         * take turns, and a blocked write holds only this writer. */
        (void)service_count(q, 1);

        pthread_mutex_lock(&ws->mu);
    }
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

sc_writers *writers_start(int n)
{
    if (n < 1)
        return NULL;
    sc_writers *ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return NULL;
    ws->threads = calloc((size_t)n, sizeof *ws->threads);
    if (ws->threads == NULL) {
        free(ws);
        return NULL;
    }
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&ws->threads[i], NULL, writer_main, ws) != 0) {
            writers_stop(ws);
            return NULL;
        }
        ws->n = i + 1;
    }
    return ws;
}

void writers_stop(sc_writers *ws)
{
    if (ws == NULL)
        return;
    pthread_mutex_lock(&ws->mu);
    ws->stop = 1;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    for (int i = 0; i < ws->n; i++)
        pthread_join(ws->threads[i], NULL);
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->cv);
    free(ws->threads);
    free(ws);
}

/* Queues this thread scheduled between outq_defer_begin() and outq_defer_end(): marked
 * scheduled, linked by ready_next, not yet on any writer's list (so no writer touches them). */
static _Thread_local struct {
    int depth;
    sc_outq *head, *tail;
} deferred;

/* With q->mu held: puts q on its writer's list unless already there or being served. */
static void schedule(sc_outq *q)
{
    if (q->wr == NULL || q->scheduled || q->busy || q->shut || q->held)
        return;
    q->scheduled = 1;
    if (deferred.depth > 0) {
        q->ready_next = NULL;
        if (deferred.tail != NULL)
            deferred.tail->ready_next = q;
        else
            deferred.head = q;
        deferred.tail = q;
        return;
    }
    sc_writers *ws = q->wr;
    pthread_mutex_lock(&ws->mu);
    if (ws->tail != NULL)
        ws->tail->ready_next = q;
    else
        ws->head = q;
    ws->tail = q;
    pthread_cond_signal(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
}

/* ---- queue ---------------------------------------------------------------------------------- */

sc_outq *outq_new(sc_writers *ws, size_t max_bytes, size_t max_frames, sc_write_fn write,
                  void *write_user, sc_outq_counters *counters)
{
    sc_outq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max_bytes = max_bytes;
    q->max_frames = max_frames;
    q->write = write;
    q->write_user = write_user;
    q->ctr = counters;
    if (ws != NULL)
        q->wr = ws;
    return q;
}

void outq_set_resync(sc_outq *q, sc_resync_fn fn, void *user)
{
    pthread_mutex_lock(&q->mu);
    q->resync = fn;
    q->resync_user = user;
    pthread_mutex_unlock(&q->mu);
}

static void drop_all(sc_outq *q)
{
    for (qent *e = q->head; e != NULL;) {
        qent *next = e->next;
        frame_unref(e->f);
        free(e);
        e = next;
    }
    q->head = q->tail = NULL;
    q->bytes = q->frames = 0;
}

static int retag_find(const sc_outq *q, uint64_t tag)
{
    for (size_t i = 0; i < q->n_retags; i++)
        if (q->retags[i].tag == tag)
            return (int)i;
    return -1;
}

static void retag_add(sc_outq *q, uint64_t tag)
{
    if (retag_find(q, tag) >= 0)
        return;
    if (q->n_retags == q->cap_retags) {
        size_t cap = q->cap_retags ? q->cap_retags * 2 : 8;
        retag *r = realloc(q->retags, cap * sizeof *r);
        if (r == NULL) {
            /* Cannot remember it: the client would silently diverge, so give up on it. */
            q->dead = 1;
            drop_all(q);
            return;
        }
        q->retags = r;
        q->cap_retags = cap;
    }
    q->retags[q->n_retags].tag = tag;
    q->retags[q->n_retags].requested = 0;
    q->n_retags++;
    CTR(q, resyncs, 1);
}

static void retag_remove(sc_outq *q, uint64_t tag)
{
    int i = retag_find(q, tag);
    if (i >= 0)
        q->retags[i] = q->retags[--q->n_retags];
}

static void append(sc_outq *q, sc_frame *f, uint64_t tag, qent *e)
{
    e->next = NULL;
    e->f = frame_ref(f);
    e->tag = tag;
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->bytes += f->len;
    q->frames++;
}

/* Drops every queued tagged frame, remembering the tags. */
static void drop_tagged(sc_outq *q)
{
    qent **pp = &q->head;
    q->tail = NULL;
    while (*pp != NULL) {
        qent *e = *pp;
        if (e->tag != 0) {
            *pp = e->next;
            retag_add(q, e->tag);
            q->bytes -= e->f->len;
            q->frames--;
            CTR(q, frames_dropped, 1);
            frame_unref(e->f);
            free(e);
            if (q->dead)
                return;
        } else {
            q->tail = e;
            pp = &e->next;
        }
    }
}

int outq_push(sc_outq *q, sc_frame *f, uint64_t tag)
{
    qent *e = malloc(sizeof *e);
    pthread_mutex_lock(&q->mu);
    int dropped = 1;
    if (e == NULL || q->shut || q->closing || q->dead)
        goto out;
    if (tag != 0 && retag_find(q, tag) >= 0) {
        CTR(q, frames_dropped, 1);
        goto out;
    }
    if (q->bytes + f->len > q->max_bytes || q->frames + 1 > q->max_frames) {
        drop_tagged(q);
        if (q->dead)
            goto out;
        if (tag != 0) {
            retag_add(q, tag);
            CTR(q, frames_dropped, 1);
            schedule(q);
            goto out;
        }
        if (q->bytes + f->len > q->max_bytes * SC_OUTQ_HARD_FACTOR ||
            q->frames + 1 > q->max_frames * SC_OUTQ_HARD_FACTOR) {
            q->dead = 1;
            drop_all(q);
            CTR(q, queues_dead, 1);
            sc_logf("warn", "a client stopped reading: its outbound queue passed %zu bytes / "
                    "%zu frames; giving up on it", q->max_bytes * SC_OUTQ_HARD_FACTOR,
                    q->max_frames * SC_OUTQ_HARD_FACTOR);
            pthread_cond_broadcast(&q->cv);
            goto out;
        }
    }
    append(q, f, tag, e);
    e = NULL;
    dropped = 0;
    schedule(q);
out:
    pthread_mutex_unlock(&q->mu);
    free(e);
    return dropped;
}

void outq_push_resync(sc_outq *q, sc_frame *f, uint64_t tag)
{
    qent *e = malloc(sizeof *e);
    pthread_mutex_lock(&q->mu);
    retag_remove(q, tag);
    if (e != NULL && !q->shut && !q->closing && !q->dead) {
        append(q, f, 0, e);
        e = NULL;
        schedule(q);
    }
    pthread_mutex_unlock(&q->mu);
    free(e);
}

void outq_forget(sc_outq *q, uint64_t tag)
{
    pthread_mutex_lock(&q->mu);
    retag_remove(q, tag);
    pthread_mutex_unlock(&q->mu);
}

int outq_close(sc_outq *q, int code, const char *reason)
{
    sc_frame *f = frame_close(code, reason);
    qent *e = malloc(sizeof *e);
    int rc = -1;
    pthread_mutex_lock(&q->mu);
    if (f != NULL && e != NULL && !q->closing && !q->shut && !q->dead) {
        append(q, f, 0, e);
        e = NULL;
        q->closing = 1;
        rc = 0;
        schedule(q);
    } else if (!q->closing) {
        q->closing = 1;
    }
    pthread_mutex_unlock(&q->mu);
    free(e);
    frame_unref(f);
    return rc;
}

int outq_flush_wait(sc_outq *q, int timeout_ms)
{
    struct timespec until = sc_realtime_after_ms(timeout_ms);
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    while ((q->head != NULL || q->busy || q->scheduled) && !q->dead && !q->shut) {
        if (q->wr == NULL || pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void outq_shutdown(sc_outq *q)
{
    pthread_mutex_lock(&q->mu);
    q->shut = 1;
    drop_all(q);
    while (q->scheduled || q->busy)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

void outq_free(sc_outq *q)
{
    if (q == NULL)
        return;
    drop_all(q);
    free(q->retags);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

void outq_stats(sc_outq *q, size_t *bytes, size_t *frames, int *dead)
{
    pthread_mutex_lock(&q->mu);
    if (bytes)
        *bytes = q->bytes;
    if (frames)
        *frames = q->frames;
    if (dead)
        *dead = q->dead;
    pthread_mutex_unlock(&q->mu);
}

/* Serves q until it is empty, or until max_writes write calls (0: no limit) and then hands
 * the rest to its writer; q->busy is set by the caller and cleared here. Returns the number
 * of write calls. */
static size_t service_count(sc_outq *q, size_t max_writes)
{
    size_t writes = 0;
    sbuf batch = {0};
    pthread_mutex_lock(&q->mu);
    while (!q->shut && !q->dead) {
        /* Full states first: they replace patches that were dropped. */
        if (q->resync != NULL) {
            uint64_t tags[SC_RESYNC_BATCH];
            size_t n = 0;
            for (size_t i = 0; i < q->n_retags && n < SC_RESYNC_BATCH; i++) {
                if (!q->retags[i].requested) {
                    q->retags[i].requested = 1;
                    tags[n++] = q->retags[i].tag;
                }
            }
            if (n > 0) {
                sc_resync_fn fn = q->resync;
                void *user = q->resync_user;
                pthread_mutex_unlock(&q->mu);
                fn(user, tags, n);
                pthread_mutex_lock(&q->mu);
                continue;
            }
        }
        if (q->head == NULL)
            break;
        if (max_writes != 0 && writes >= max_writes)
            break;
        /* Take a batch. */
        qent *first = q->head, *last = first;
        size_t bytes = first->f->len, count = 1;
        while (last->next != NULL && bytes + last->next->f->len <= SC_WRITE_BATCH_BYTES) {
            last = last->next;
            bytes += last->f->len;
            count++;
        }
        q->head = last->next;
        if (q->head == NULL)
            q->tail = NULL;
        last->next = NULL;
        q->bytes -= bytes;
        q->frames -= count;
        pthread_mutex_unlock(&q->mu);

        int rc;
        if (count == 1) {
            rc = q->write(q->write_user, first->f->buf + first->f->off, first->f->len);
        } else {
            batch.len = 0;
            sbuf_reserve(&batch, bytes);
            for (qent *e = first; e != NULL; e = e->next)
                sbuf_put(&batch, e->f->buf + e->f->off, e->f->len);
            rc = batch.oom ? -1 : q->write(q->write_user, batch.data, batch.len);
        }
        writes++;
        for (qent *e = first; e != NULL;) {
            qent *next = e->next;
            frame_unref(e->f);
            free(e);
            e = next;
        }
        if (rc == 0) {
            CTR(q, bytes_written, bytes);
            CTR(q, frames_written, count);
        }
        pthread_mutex_lock(&q->mu);
        if (rc != 0) {
            if (!q->dead)
                sc_logf("info", "a socket write failed or timed out; dropping its queue");
            q->dead = 1;
            drop_all(q);
        }
    }
    q->busy = 0;
    if (q->head != NULL && !q->shut && !q->dead)
        schedule(q); /* an inline pass that stopped at its limit */
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    sbuf_free(&batch);
    return writes;
}

void outq_defer_begin(void) { deferred.depth++; }

void outq_defer_end(void)
{
    if (--deferred.depth > 0)
        return;
    /* One lock and one wake-up per writer pool for the whole batch. q->wr never changes and
     * the deferred queues are reachable from this thread only, so the list needs no lock. */
    while (deferred.head != NULL) {
        sc_writers *ws = deferred.head->wr;
        sc_outq *mine = NULL, *mine_tail = NULL, *rest = NULL, *rest_tail = NULL;
        for (sc_outq *q = deferred.head, *next; q != NULL; q = next) {
            next = q->ready_next;
            q->ready_next = NULL;
            sc_outq **h = q->wr == ws ? &mine : &rest, **t = q->wr == ws ? &mine_tail : &rest_tail;
            if (*t != NULL)
                (*t)->ready_next = q;
            else
                *h = q;
            *t = q;
        }
        pthread_mutex_lock(&ws->mu);
        if (ws->tail != NULL)
            ws->tail->ready_next = mine;
        else
            ws->head = mine;
        ws->tail = mine_tail;
        pthread_cond_broadcast(&ws->cv);
        pthread_mutex_unlock(&ws->mu);
        deferred.head = rest;
        deferred.tail = rest_tail;
    }
}

int outq_hold(sc_outq *q)
{
    pthread_mutex_lock(&q->mu);
    q->held++;
    int dead = q->dead;
    pthread_mutex_unlock(&q->mu);
    return dead;
}

size_t outq_release(sc_outq *q)
{
    pthread_mutex_lock(&q->mu);
    if (--q->held > 0 || q->wr == NULL) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    int work = q->head != NULL || q->n_retags > 0;
    if (!work || q->busy || q->scheduled || q->shut || q->dead) {
        /* Nothing to do, or a writer serves it (and requeues it while it has more). */
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    q->busy = 1;
    pthread_mutex_unlock(&q->mu);
    return service_count(q, SC_INLINE_WRITES);
}

size_t outq_drain(sc_outq *q)
{
    pthread_mutex_lock(&q->mu);
    if (q->busy || q->wr != NULL) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    q->busy = 1;
    pthread_mutex_unlock(&q->mu);
    return service_count(q, 0);
}
