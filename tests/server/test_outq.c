/*
 * test_outq.c -- who writes a connection's queue: its writer thread, or (between outq_hold and
 * outq_release) the thread that read the client's message, as an echo server would; and when
 * writers hear of queued work (at once, or at outq_defer_end for a batch). Real writer
 * threads; every wait is bounded (outq_flush_wait), none is a fixed sleep.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "outq.h"

/* What the write function saw. */
typedef struct rec {
    pthread_mutex_t mu;
    int calls;
    size_t bytes;
    int inline_calls; /* calls made on the test's own thread */
    pthread_t self;
} rec;

static int rec_write(void *user, const void *buf, size_t len)
{
    rec *r = user;
    (void)buf;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    r->bytes += len;
    if (pthread_equal(pthread_self(), r->self))
        r->inline_calls++;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static sc_frame *text_frame(size_t n)
{
    sbuf b = {0};
    frame_begin(&b);
    char *payload = malloc(n);
    ck_assert_ptr_nonnull(payload);
    memset(payload, 'x', n);
    sbuf_put(&b, payload, n);
    free(payload);
    sc_frame *f = frame_finish(&b, SC_WS_TEXT);
    ck_assert_ptr_nonnull(f);
    return f;
}

static int calls_of(rec *r, int *inline_calls)
{
    pthread_mutex_lock(&r->mu);
    int n = r->calls;
    if (inline_calls)
        *inline_calls = r->inline_calls;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Generous: a loaded CI box may take a while to schedule the writer. */
#define FLUSH_TIMEOUT_MS 20000

START_TEST(a_held_queue_is_written_by_its_releaser_in_one_call_not_by_a_writer)
{
    sc_writers *ws = writers_start(1);
    rec r = {.self = pthread_self()};
    pthread_mutex_init(&r.mu, NULL);
    sc_outq *q = outq_new(ws, 1 << 20, 100, rec_write, &r, NULL);
    sc_frame *a = text_frame(10), *b = text_frame(20);

    outq_hold(q);
    ck_assert_int_eq(outq_push(q, a, 0), 0);
    ck_assert_int_eq(outq_push(q, b, 0), 0);
    /* The writer was never woken: nothing can have been written yet. */
    ck_assert_int_eq(calls_of(&r, NULL), 0);
    ck_assert_uint_eq(outq_release(q), 1);
    int inl;
    ck_assert_int_eq(calls_of(&r, &inl), 1);
    ck_assert_int_eq(inl, 1);
    ck_assert_uint_eq(r.bytes, a->len + b->len);

    frame_unref(a);
    frame_unref(b);
    outq_shutdown(q);
    outq_free(q);
    writers_stop(ws);
    pthread_mutex_destroy(&r.mu);
}
END_TEST

START_TEST(without_a_hold_the_writer_thread_writes)
{
    sc_writers *ws = writers_start(1);
    rec r = {.self = pthread_self()};
    pthread_mutex_init(&r.mu, NULL);
    sc_outq *q = outq_new(ws, 1 << 20, 100, rec_write, &r, NULL);
    sc_frame *a = text_frame(10);
    ck_assert_int_eq(outq_push(q, a, 0), 0);
    ck_assert_int_eq(outq_flush_wait(q, FLUSH_TIMEOUT_MS), 0);
    int inl;
    ck_assert_int_eq(calls_of(&r, &inl), 1);
    ck_assert_int_eq(inl, 0);
    frame_unref(a);
    outq_shutdown(q);
    outq_free(q);
    writers_stop(ws);
    pthread_mutex_destroy(&r.mu);
}
END_TEST

START_TEST(an_inline_pass_stops_after_a_few_writes_and_the_writer_takes_the_rest)
{
    sc_writers *ws = writers_start(1);
    rec r = {.self = pthread_self()};
    pthread_mutex_init(&r.mu, NULL);
    sc_outq *q = outq_new(ws, 64u << 20, 100, rec_write, &r, NULL);
    /* Each frame is bigger than half a write batch, so each one is its own write call. */
    enum { FRAMES = 12 };
    sc_frame *f = text_frame(SC_WRITE_BATCH_BYTES / 2 + 1);
    outq_hold(q);
    for (int i = 0; i < FRAMES; i++)
        ck_assert_int_eq(outq_push(q, f, 0), 0);
    size_t inline_writes = outq_release(q);
    ck_assert_uint_gt(inline_writes, 0);
    ck_assert_uint_lt(inline_writes, FRAMES);
    ck_assert_int_eq(outq_flush_wait(q, FLUSH_TIMEOUT_MS), 0);
    int inl;
    ck_assert_int_eq(calls_of(&r, &inl), FRAMES);
    ck_assert_int_eq(inl, (int)inline_writes);
    ck_assert_uint_eq(r.bytes, FRAMES * f->len);
    frame_unref(f);
    outq_shutdown(q);
    outq_free(q);
    writers_stop(ws);
    pthread_mutex_destroy(&r.mu);
}
END_TEST

START_TEST(holds_nest_and_only_the_outermost_release_writes)
{
    sc_writers *ws = writers_start(1);
    rec r = {.self = pthread_self()};
    pthread_mutex_init(&r.mu, NULL);
    sc_outq *q = outq_new(ws, 1 << 20, 100, rec_write, &r, NULL);
    sc_frame *a = text_frame(10);
    outq_hold(q);
    outq_hold(q);
    ck_assert_int_eq(outq_push(q, a, 0), 0);
    ck_assert_uint_eq(outq_release(q), 0);
    ck_assert_int_eq(calls_of(&r, NULL), 0);
    ck_assert_uint_eq(outq_release(q), 1);
    ck_assert_int_eq(calls_of(&r, NULL), 1);
    frame_unref(a);
    outq_shutdown(q);
    outq_free(q);
    writers_stop(ws);
    pthread_mutex_destroy(&r.mu);
}
END_TEST

START_TEST(deferred_queues_reach_their_writers_only_when_the_batch_ends)
{
    sc_writers *ws = writers_start(2);
    rec r = {.self = pthread_self()};
    pthread_mutex_init(&r.mu, NULL);
    enum { QUEUES = 8 };
    sc_outq *qs[QUEUES];
    for (int i = 0; i < QUEUES; i++)
        qs[i] = outq_new(ws, 1 << 20, 100, rec_write, &r, NULL);
    sc_frame *a = text_frame(10);
    outq_defer_begin();
    outq_defer_begin(); /* nests */
    for (int i = 0; i < QUEUES; i++)
        ck_assert_int_eq(outq_push(qs[i], a, 0), 0);
    outq_defer_end();
    /* Still inside the outer batch: no writer has heard of any of these queues. */
    ck_assert_int_eq(calls_of(&r, NULL), 0);
    outq_defer_end();
    for (int i = 0; i < QUEUES; i++)
        ck_assert_int_eq(outq_flush_wait(qs[i], FLUSH_TIMEOUT_MS), 0);
    int inl;
    ck_assert_int_eq(calls_of(&r, &inl), QUEUES);
    ck_assert_int_eq(inl, 0);
    frame_unref(a);
    for (int i = 0; i < QUEUES; i++) {
        outq_shutdown(qs[i]);
        outq_free(qs[i]);
    }
    writers_stop(ws);
    pthread_mutex_destroy(&r.mu);
}
END_TEST

static Suite *outq_suite(void)
{
    Suite *s = suite_create("outq");
    TCase *tc = tcase_create("inline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_held_queue_is_written_by_its_releaser_in_one_call_not_by_a_writer);
    tcase_add_test(tc, without_a_hold_the_writer_thread_writes);
    tcase_add_test(tc, an_inline_pass_stops_after_a_few_writes_and_the_writer_takes_the_rest);
    tcase_add_test(tc, holds_nest_and_only_the_outermost_release_writes);
    tcase_add_test(tc, deferred_queues_reach_their_writers_only_when_the_batch_ends);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(outq_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
