/*
 * outq.h -- bounded per-connection outbound queues drained by a small pool of writer threads.
 *
 * Producers (civetweb workers running handlers, the timer and dispatch threads) push frames
 * with outq_push(); it never blocks on the network, only on the queue's own short mutex. A
 * writer thread takes every queued frame of a connection (up to SC_WRITE_BATCH_BYTES), copies
 * them into one buffer and hands it to the connection's write function in one call: one
 * mg_write per batch, and a slow socket only ever stalls the writer that serves it.
 *
 * Budget. Each queue holds at most max_bytes / max_frames. Frames pushed with a nonzero tag
 * are state patches of one channel (the tag names it) and may be dropped: when the budget is
 * exceeded, every queued tagged frame is dropped, its tag is remembered, later frames with a
 * remembered tag are dropped at once, and the resync callback is asked (from a writer, with no
 * lock held) to push one full state for those tags with outq_push_resync(), which forgets the
 * tag. Untagged frames (replies, pushes) are kept up to SC_OUTQ_HARD_FACTOR x the budget;
 * beyond that the queue is declared dead (everything dropped, nothing accepted): the client
 * is not reading at all and the transport's ping timeout closes it.
 *
 * A queue without writers (writers == NULL) is drained by outq_drain() on the caller's
 * thread: tests use it to run the exact writer logic deterministically.
 */
#ifndef SC_SERVER_OUTQ_H
#define SC_SERVER_OUTQ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* One write call carries at most this many bytes of coalesced frames (a single larger frame
 * goes alone): large enough to batch a burst of patches, small enough to copy cheaply. */
#define SC_WRITE_BATCH_BYTES (256 * 1024)
/* Untagged frames may exceed the budget up to this factor before the queue gives up. */
#define SC_OUTQ_HARD_FACTOR 4

typedef struct sc_writers sc_writers;
typedef struct sc_outq sc_outq;

/* Counters shared by all queues of a server (metrics). */
typedef struct sc_outq_counters {
    atomic_ullong bytes_written;  /* bytes handed to write functions successfully */
    atomic_ullong frames_written; /* frames in those bytes */
    atomic_ullong frames_dropped; /* tagged frames dropped for slow consumers */
    atomic_ullong resyncs;        /* full states requested for slow consumers */
    atomic_ullong queues_dead;    /* queues that gave up on a client */
} sc_outq_counters;

/* Writes len bytes to the client; returns 0, or -1 when the connection failed. Runs on a
 * writer thread (or the outq_drain() caller) with no lock held. */
typedef int (*sc_write_fn)(void *user, const void *buf, size_t len);
/* Asks for one full state per tag (push it with outq_push_resync()). Same thread rules. */
typedef void (*sc_resync_fn)(void *user, const uint64_t *tags, size_t n);

/* Starts n writer threads (n >= 1). Returns NULL on failure. */
sc_writers *writers_start(int n);
/* Stops and joins the writers; every queue must have been released already. Accepts NULL. */
void writers_stop(sc_writers *w);

/* A new queue (free with outq_free()). writers may be NULL (manual draining). */
sc_outq *outq_new(sc_writers *w, size_t max_bytes, size_t max_frames, sc_write_fn write,
                  void *write_user, sc_outq_counters *counters);
void outq_set_resync(sc_outq *q, sc_resync_fn fn, void *user);

/* Queues f (takes a new reference; the caller keeps its own). tag != 0 marks a droppable
 * state patch of channel `tag`. Returns 0 when queued, 1 when dropped (budget, remembered
 * tag, or closed queue). */
int outq_push(sc_outq *q, sc_frame *f, uint64_t tag);
/* Queues the full state that answers a resync of tag and forgets the tag. Never dropped for
 * budget reasons (only when the queue is closed or dead). */
void outq_push_resync(sc_outq *q, sc_frame *f, uint64_t tag);
/* Forgets tag without a frame (its channel is gone). */
void outq_forget(sc_outq *q, uint64_t tag);

/* Queues a close frame; afterwards nothing more is accepted. Returns 0, or -1 when the queue
 * was already closing. */
int outq_close(sc_outq *q, int code, const char *reason);
/* Waits until everything queued has been written (or the queue died), at most timeout_ms.
 * Returns 0 when drained. Must not be called from a writer thread. */
int outq_flush_wait(sc_outq *q, int timeout_ms);
/* Stops accepting, drops what is queued and waits until no writer uses q: after it returns
 * the write function is never called again. */
void outq_shutdown(sc_outq *q);
void outq_free(sc_outq *q); /* after outq_shutdown(); accepts NULL */

/* Inline writing, for the thread that reads the connection: between outq_hold() and
 * outq_release() pushes to q do not wake its writer; outq_release() then writes what is
 * queued on the calling thread (at most a few write calls; any rest goes to the writer), unless
 * a writer is already serving q. Saves a thread hand-off per client message: the answer to a
 * message leaves on the thread that read it. Holds nest. Returns the number of write calls
 * made; no lock may be held by the caller (the write and resync callbacks run). outq_hold()
 * returns 1 when q is dead (a write failed or timed out: nothing will reach the client again),
 * else 0; the hold is taken either way. */
int outq_hold(sc_outq *q);
size_t outq_release(sc_outq *q);

/* Batched hand-off, for a thread about to push one frame to many queues (a fan-out): between
 * outq_defer_begin() and outq_defer_end() on one thread, queues that need their writer are
 * only collected; outq_defer_end() gives them to their writers with one lock and one wake-up
 * per writer, instead of one per queue (the writers would otherwise wake and contend for
 * their list lock thousands of times per change). Nests. The deferring thread must not wait
 * for a queue's writer in between (outq_flush_wait, outq_shutdown): that writer has not been
 * told yet. */
void outq_defer_begin(void);
void outq_defer_end(void);

/* Manual draining (queues without writers): writes everything queued, running resyncs, until
 * the queue is empty. Returns the number of write calls made. */
size_t outq_drain(sc_outq *q);

/* Snapshot for tests and metrics. */
void outq_stats(sc_outq *q, size_t *bytes, size_t *frames, int *dead);

#endif
