/*
 * tests for server/src/store.c and store_sqlite.c: the schema, saving and loading states and
 * sessions, the patch log (bounded, trimmed, read from a version), checkpoints, op outcomes,
 * expiry, group commit, corruption and unusable directories detected at open, and durability
 * of acknowledged batches across kill -9 (a forked child killed at random points).
 *
 * Every test works in its own mkdtemp() directory under TMPDIR (or /tmp) and removes it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <sqlite3.h>

#include "store.h"

/* Slow tests (many fsyncs, the crash rounds) get this long under sanitizers. */
#define SLOW_TEST_TIMEOUT_S 120

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static void make_dir(char *out, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, cap, "%s/sc-store-test-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

/* Removes a flat directory (the store creates no subdirectories). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static sc_store *open_store(const char *dir, const sc_store_options *opts)
{
    sc_store *s = NULL;
    sc_store_error err = {0};
    sc_store_status st = sc_store_open(dir, opts, &s, &err);
    ck_assert_msg(st == SC_STORE_OK, "open %s: %s: %s", dir, sc_store_strerror(st), err.message);
    return s;
}

/* Submits b and waits for its completion; returns the batch's result status. */
typedef struct wait_one {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    sc_store_error result;
} wait_one;

static void wait_one_done(void *user, const sc_store_error *result)
{
    wait_one *w = user;
    pthread_mutex_lock(&w->mu);
    w->result = *result;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static sc_store_status commit(sc_store *s, sc_store_batch *b, sc_store_error *out)
{
    wait_one w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    sc_store_error err = {0};
    sc_store_status st = sc_store_submit(s, b, wait_one_done, &w, &err);
    ck_assert_msg(st == SC_STORE_OK, "submit: %s", err.message);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    if (out != NULL)
        *out = w.result;
    return w.result.status;
}

static void commit_ok(sc_store *s, sc_store_batch *b)
{
    sc_store_error err = {0};
    sc_store_status st = commit(s, b, &err);
    ck_assert_msg(st == SC_STORE_OK, "commit: %s: %s", sc_store_strerror(st), err.message);
}

static sc_store_batch *new_batch(void)
{
    sc_store_batch *b = sc_store_batch_new();
    ck_assert_ptr_nonnull(b);
    return b;
}

static void add_snapshot(sc_store_batch *b, const char *key, const char *owner, uint64_t v,
                         const char *json)
{
    ck_assert_int_eq(sc_store_batch_snapshot(b, key, "topic:x", owner, v, json, strlen(json)),
                     SC_STORE_OK);
}

/* The patch that sets /n to v. */
static void add_set_n(sc_store_batch *b, const char *key, uint64_t v)
{
    char p[96];
    int n = snprintf(p, sizeof p, "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":%llu}]",
                     (unsigned long long)v);
    ck_assert_int_eq(sc_store_batch_patch(b, key, v, p, (size_t)n), SC_STORE_OK);
}

/* A state {"n":0} at version 0 under key, then patches setting n = 1..upto, one batch each. */
static void write_counter(sc_store *s, const char *key, uint64_t upto)
{
    sc_store_batch *b = new_batch();
    add_snapshot(b, key, NULL, 0, "{\"n\":0}");
    commit_ok(s, b);
    for (uint64_t v = 1; v <= upto; v++) {
        b = new_batch();
        add_set_n(b, key, v);
        commit_ok(s, b);
    }
}

/* What a load_state callback saw. */
typedef struct seen_state {
    int calls;
    uint64_t version;
    char json[4096];
    char owner[64];
} seen_state;

static int on_state(void *user, const sc_store_state_rec *rec)
{
    seen_state *s = user;
    s->calls++;
    s->version = rec->version;
    ck_assert_uint_eq(strlen(rec->json), rec->json_len);
    snprintf(s->json, sizeof s->json, "%s", rec->json);
    snprintf(s->owner, sizeof s->owner, "%s", rec->owner != NULL ? rec->owner : "");
    return 0;
}

static seen_state load_state(sc_store *s, const char *key, sc_store_status *st_out)
{
    seen_state seen = {0};
    sc_store_error err = {0};
    sc_store_status st = sc_store_load_state(s, key, on_state, &seen, &err);
    if (st_out != NULL)
        *st_out = st;
    else
        ck_assert_msg(st == SC_STORE_OK, "load %s: %s", key, err.message);
    return seen;
}

/* What a load_session callback saw. */
typedef struct seen_session {
    int calls;
    char topic[64], state_key[64];
    uint64_t last_op;
    int64_t last_seen;
    size_t n;
    uint64_t first_op, last_kept_op;
    int all_bodies_match; /* body of op k is {"k":k}, ok = k is even, version = 1000 + k */
} seen_session;

static int on_session(void *user, const sc_store_session_rec *rec)
{
    seen_session *s = user;
    s->calls++;
    snprintf(s->topic, sizeof s->topic, "%s", rec->topic);
    snprintf(s->state_key, sizeof s->state_key, "%s", rec->state_key);
    s->last_op = rec->last_op;
    s->last_seen = rec->last_seen_ms;
    s->n = rec->n_outcomes;
    s->all_bodies_match = 1;
    for (size_t i = 0; i < rec->n_outcomes; i++) {
        const sc_store_outcome *o = &rec->outcomes[i];
        char want[64];
        snprintf(want, sizeof want, "{\"k\":%llu}", (unsigned long long)o->op);
        if (strcmp(o->body, want) != 0 || o->body_len != strlen(want) ||
            o->ok != (o->op % 2 == 0) || o->version != 1000 + o->op ||
            (i > 0 && o->op != rec->outcomes[i - 1].op + 1))
            s->all_bodies_match = 0;
    }
    if (rec->n_outcomes > 0) {
        s->first_op = rec->outcomes[0].op;
        s->last_kept_op = rec->outcomes[rec->n_outcomes - 1].op;
    }
    return 0;
}

static void add_outcome(sc_store_batch *b, const char *sid, uint64_t op)
{
    char body[64];
    int n = snprintf(body, sizeof body, "{\"k\":%llu}", (unsigned long long)op);
    ck_assert_int_eq(sc_store_batch_outcome(b, sid, op, op % 2 == 0, 1000 + op, body, (size_t)n),
                     SC_STORE_OK);
}

/* Opens the store's file directly (beside the store, or after it closed). */
static sqlite3 *raw_db(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, SC_STORE_FILE_NAME);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long long raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static sc_store_options fast_options(void)
{
    sc_store_options o;
    sc_store_options_init(&o);
    o.durable = 0;            /* most tests check logic, not fsync; durability tests say so */
    o.commit_window_us = 0;
    return o;
}

/* ---------------------------------------------------------------------------------------------
 * Schema
 * ------------------------------------------------------------------------------------------- */

START_TEST(every_status_has_a_distinct_message)
{
    for (int i = 0; i < SC_STORE_STATUS_COUNT_; i++) {
        const char *m = sc_store_strerror((sc_store_status)i);
        ck_assert_int_gt(strlen(m), 0);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(m, sc_store_strerror((sc_store_status)j));
    }
    ck_assert_str_eq(sc_store_strerror(SC_STORE_OK), "success");
    ck_assert_str_eq(sc_store_strerror((sc_store_status)999), "unknown store status");
}
END_TEST

START_TEST(open_creates_the_schema_in_a_new_directory)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    char want[512];
    snprintf(want, sizeof want, "%s/%s", dir, SC_STORE_FILE_NAME);
    ck_assert_str_eq(sc_store_path(s), want);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT version FROM schema_version"), 1);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name IN ('states','snapshots','patches','sessions','outcomes')"),
                     5);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(reopen_keeps_states_sessions_and_outcomes)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o;
    sc_store_options_init(&o); /* durable, as the server runs */
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:counter", 5);
    sc_store_batch *b = new_batch();
    ck_assert_int_eq(sc_store_batch_session(b, "sess1", "counter:1", "t:counter", 1234),
                     SC_STORE_OK);
    add_outcome(b, "sess1", 1);
    add_outcome(b, "sess1", 2);
    commit_ok(s, b);
    sc_store_close(s);

    s = open_store(dir, &o);
    seen_state st = load_state(s, "t:counter", NULL);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_uint_eq(st.version, 5);
    ck_assert_str_eq(st.json, "{\"n\":5}");
    seen_session ss = {0};
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_load_session(s, "sess1", on_session, &ss, &err), SC_STORE_OK);
    ck_assert_str_eq(ss.topic, "counter:1");
    ck_assert_str_eq(ss.state_key, "t:counter");
    ck_assert_uint_eq(ss.last_op, 2);
    ck_assert_int_eq(ss.last_seen, 1234);
    ck_assert_uint_eq(ss.n, 2);
    ck_assert(ss.all_bodies_match);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_schema_newer_than_the_program_is_refused)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store_close(open_store(dir, &o));
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    sc_store *s = NULL;
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_open(dir, &o, &s, &err), SC_STORE_ESCHEMA);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(err.status, SC_STORE_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(err.message, "schema version 99"));
    ck_assert_ptr_nonnull(strstr(err.message, "newer"));
    remove_dir(dir);
}
END_TEST

START_TEST(options_not_initialised_or_out_of_range_are_refused)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o;
    memset(&o, 0, sizeof o);
    sc_store *s = NULL;
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_open(dir, &o, &s, &err), SC_STORE_EARG);
    sc_store_options_init(&o);
    o.commit_window_us = 5000000;
    ck_assert_int_eq(sc_store_open(dir, &o, &s, &err), SC_STORE_EARG);
    sc_store_options_init(&o);
    o.background_window_us = 5000000;
    ck_assert_int_eq(sc_store_open(dir, &o, &s, &err), SC_STORE_EARG);
    ck_assert_ptr_null(s);
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * States, patches, sessions
 * ------------------------------------------------------------------------------------------- */

START_TEST(load_replays_the_logged_patches_onto_the_snapshot)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    add_snapshot(b, "t:todo", NULL, 7, "{\"todos\":[],\"title\":\"x\"}");
    const char *p8 = "[{\"op\":\"add\",\"path\":\"/todos/-\",\"value\":{\"id\":1,\"t\":\"a\"}}]";
    const char *p9 = "[{\"op\":\"add\",\"path\":\"/todos/0\",\"value\":{\"id\":2,\"t\":\"b\"}},"
                     "{\"op\":\"replace\",\"path\":\"/title\",\"value\":\"y\"}]";
    ck_assert_int_eq(sc_store_batch_patch(b, "t:todo", 8, p8, strlen(p8)), SC_STORE_OK);
    ck_assert_int_eq(sc_store_batch_patch(b, "t:todo", 9, p9, strlen(p9)), SC_STORE_OK);
    commit_ok(s, b);
    seen_state st = load_state(s, "t:todo", NULL);
    ck_assert_uint_eq(st.version, 9);
    ck_assert_str_eq(st.json, "{\"todos\":[{\"id\":2,\"t\":\"b\"},{\"id\":1,\"t\":\"a\"}],"
                              "\"title\":\"y\"}");
    sc_store_status rc;
    load_state(s, "t:nope", &rc);
    ck_assert_int_eq(rc, SC_STORE_ENOTFOUND);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_log_that_does_not_apply_fails_the_load_with_a_replay_error)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    add_snapshot(b, "t:bad", NULL, 0, "{\"n\":0}");
    const char *p = "[{\"op\":\"remove\",\"path\":\"/missing\"}]";
    ck_assert_int_eq(sc_store_batch_patch(b, "t:bad", 1, p, strlen(p)), SC_STORE_OK);
    commit_ok(s, b);
    seen_state seen = {0};
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_load_state(s, "t:bad", on_state, &seen, &err), SC_STORE_EREPLAY);
    ck_assert_int_eq(seen.calls, 0);
    ck_assert_ptr_nonnull(strstr(err.message, "t:bad"));
    ck_assert_ptr_nonnull(strstr(err.message, "version 1"));
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

typedef struct both_seen {
    seen_state st;
    seen_session ss;
} both_seen;

static int both_state(void *user, const sc_store_state_rec *rec)
{
    return on_state(&((both_seen *)user)->st, rec);
}

static int both_session(void *user, const sc_store_session_rec *rec)
{
    return on_session(&((both_seen *)user)->ss, rec);
}

START_TEST(load_calls_back_for_every_state_and_session)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:a", 2);
    write_counter(s, "t:b", 3);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "s1", "counter:a", "t:a", 1);
    sc_store_batch_session(b, "s2", "counter:b", "t:b", 2);
    sc_store_batch_session(b, "s3", "counter:b", "t:b", 3);
    commit_ok(s, b);
    both_seen both = {0};
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_load(s, both_state, both_session, &both, &err), SC_STORE_OK);
    ck_assert_int_eq(both.st.calls, 2);
    ck_assert_uint_eq(both.st.version, 3); /* ascending keys: t:b last */
    ck_assert_int_eq(both.ss.calls, 3);
    ck_assert_str_eq(both.ss.topic, "counter:b"); /* ascending ids: s3 last */
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load(s, NULL, on_session, &ss, &err), SC_STORE_OK);
    ck_assert_int_eq(ss.calls, 3);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

static int stop_at_first(void *user, const sc_store_state_rec *rec)
{
    (void)rec;
    ++*(int *)user;
    return 1;
}

START_TEST(a_callback_can_stop_the_load)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:a", 1);
    write_counter(s, "t:b", 1);
    int calls = 0;
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_load(s, stop_at_first, NULL, &calls, &err), SC_STORE_ESTOPPED);
    ck_assert_int_eq(calls, 1);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_patch_out_of_sequence_fails_only_its_own_batch)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.commit_window_us = 200000; /* the three batches land in one group */
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 1);
    wait_one w[3];
    sc_store_batch *b[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (wait_one){.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        b[i] = new_batch();
    }
    add_set_n(b[0], "t:c", 2);
    sc_store_batch_session(b[1], "sx", "counter:c", "t:c", 5); /* rolled back with the gap */
    add_set_n(b[1], "t:c", 4);
    add_set_n(b[2], "t:c", 3);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_stats before;
    sc_store_stats_get(s, &before);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sc_store_submit(s, b[i], wait_one_done, &w[i], NULL), SC_STORE_OK);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    ck_assert_int_eq(w[0].result.status, SC_STORE_OK);
    ck_assert_int_eq(w[1].result.status, SC_STORE_ESEQ);
    ck_assert_ptr_nonnull(strstr(w[1].result.message, "version 4"));
    ck_assert_int_eq(w[2].result.status, SC_STORE_OK);
    sc_store_stats after;
    sc_store_stats_get(s, &after);
    ck_assert_uint_eq(after.commits - before.commits, 1);
    ck_assert_uint_eq(after.failed_batches - before.failed_batches, 1);
    seen_state st = load_state(s, "t:c", NULL);
    ck_assert_uint_eq(st.version, 3);
    ck_assert_str_eq(st.json, "{\"n\":3}");
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "sx", on_session, &ss, NULL), SC_STORE_ENOTFOUND);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_batch_carrying_a_burst_of_events_writes_them_all_in_order)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:a", 0);
    write_counter(s, "t:b", 0);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "s1", "counter:a", "t:a", 1);
    add_set_n(b, "t:a", 1);
    add_set_n(b, "t:a", 2);
    for (uint64_t op = 1; op <= 70; op++)
        add_outcome(b, "s1", op);
    add_set_n(b, "t:b", 1);
    add_set_n(b, "t:a", 3); /* back to a after b: the cached row must have been written */
    add_outcome(b, "s1", 71);
    commit_ok(s, b);
    ck_assert_str_eq(load_state(s, "t:a", NULL).json, "{\"n\":3}");
    ck_assert_str_eq(load_state(s, "t:b", NULL).json, "{\"n\":1}");
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "s1", on_session, &ss, NULL), SC_STORE_OK);
    ck_assert_uint_eq(ss.last_op, 71);
    ck_assert_uint_eq(ss.n, SC_STORE_OUTCOMES_KEPT);
    ck_assert_uint_eq(ss.first_op, 71 - SC_STORE_OUTCOMES_KEPT + 1);
    ck_assert(ss.all_bodies_match);
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:a", 0, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 3);
    sc_store_log_free(log);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_failure_inside_a_burst_rolls_back_the_whole_batch)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:a", 2);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "s1", "counter:a", "t:a", 1);
    commit_ok(s, b);
    b = new_batch();
    add_set_n(b, "t:a", 3);
    add_outcome(b, "s1", 1);
    add_outcome(b, "s1", 2);
    add_set_n(b, "t:a", 4);
    add_outcome(b, "s1", 4); /* a gap in the ops: nothing of this batch may stay */
    ck_assert_int_eq(commit(s, b, NULL), SC_STORE_ESEQ);
    ck_assert_str_eq(load_state(s, "t:a", NULL).json, "{\"n\":2}");
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "s1", on_session, &ss, NULL), SC_STORE_OK);
    ck_assert_uint_eq(ss.last_op, 0);
    ck_assert_uint_eq(ss.n, 0);
    /* and the next batch starts from the stored rows, not from the failed batch's */
    b = new_batch();
    add_set_n(b, "t:a", 3);
    add_outcome(b, "s1", 1);
    commit_ok(s, b);
    ck_assert_str_eq(load_state(s, "t:a", NULL).json, "{\"n\":3}");
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_patch_for_an_unknown_state_or_an_old_snapshot_is_refused)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    add_set_n(b, "t:ghost", 1);
    ck_assert_int_eq(commit(s, b, NULL), SC_STORE_ENOTFOUND);
    write_counter(s, "t:c", 3);
    b = new_batch();
    add_snapshot(b, "t:c", NULL, 2, "{\"n\":2}");
    ck_assert_int_eq(commit(s, b, NULL), SC_STORE_ESEQ);
    ck_assert_int_eq(sc_store_batch_patch(NULL, "k", 1, "[]", 2), SC_STORE_EARG);
    b = new_batch();
    ck_assert_int_eq(sc_store_batch_patch(b, "k", 0, "[]", 2), SC_STORE_EARG);
    ck_assert_int_eq(sc_store_batch_outcome(b, "s", 0, 1, 1, "{}", 2), SC_STORE_EARG);
    sc_store_batch_free(b);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_newer_snapshot_replaces_the_state_and_drops_its_log)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 4);
    sc_store_batch *b = new_batch();
    add_snapshot(b, "t:c", NULL, 5, "{\"n\":\"reset\"}");
    commit_ok(s, b);
    seen_state st = load_state(s, "t:c", NULL);
    ck_assert_uint_eq(st.version, 5);
    ck_assert_str_eq(st.json, "{\"n\":\"reset\"}");
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 3, 0, &log, NULL), SC_STORE_ETRIMMED);
    ck_assert_ptr_null(log);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_snapshot_at_the_current_version_keeps_the_log)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 4);
    sc_store_batch *b = new_batch();
    add_snapshot(b, "t:c", NULL, 4, "{\"n\":4}");
    commit_ok(s, b);
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 1, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 3);
    sc_store_log_free(log);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT snap_version FROM states WHERE key = 't:c'"), 4);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(drop_state_and_drop_session_delete_what_they_name)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:gone", 3);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "conn1", "form:1", "c:conn1", 10);
    add_snapshot(b, "c:conn1", "conn1", 0, "{\"n\":0}");
    add_outcome(b, "conn1", 1);
    commit_ok(s, b);
    b = new_batch();
    ck_assert_int_eq(sc_store_batch_drop_state(b, "t:gone"), SC_STORE_OK);
    ck_assert_int_eq(sc_store_batch_drop_state(b, "t:never"), SC_STORE_OK);
    ck_assert_int_eq(sc_store_batch_drop_session(b, "conn1"), SC_STORE_OK);
    commit_ok(s, b);
    sc_store_status rc;
    load_state(s, "t:gone", &rc);
    ck_assert_int_eq(rc, SC_STORE_ENOTFOUND);
    load_state(s, "c:conn1", &rc);
    ck_assert_int_eq(rc, SC_STORE_ENOTFOUND);
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "conn1", on_session, &ss, NULL), SC_STORE_ENOTFOUND);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT (SELECT count(*) FROM patches) + (SELECT count(*) FROM "
                                 "snapshots) + (SELECT count(*) FROM outcomes)"),
                     0);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The patch log: bounded, trimmed, read from a version
 * ------------------------------------------------------------------------------------------- */

START_TEST(reading_the_log_returns_the_frames_after_a_version_in_order)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 6);
    sc_store_log *log = NULL;
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 3, 0, &log, &err), SC_STORE_OK);
    ck_assert_uint_eq(log->version, 6);
    ck_assert_uint_eq(log->n, 3);
    size_t total = 0;
    for (size_t i = 0; i < log->n; i++) {
        char want[96];
        snprintf(want, sizeof want, "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":%zu}]", i + 4);
        ck_assert_uint_eq(log->frames[i].version, i + 4);
        ck_assert_str_eq(log->frames[i].patch, want);
        ck_assert_uint_eq(log->frames[i].len, strlen(want));
        total += log->frames[i].len;
    }
    ck_assert_uint_eq(log->bytes, total);
    sc_store_log_free(log);

    ck_assert_int_eq(sc_store_read_log(s, "t:c", 6, 0, &log, &err), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 0);
    ck_assert_uint_eq(log->version, 6);
    sc_store_log_free(log);
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 7, 0, &log, &err), SC_STORE_ESEQ);
    ck_assert_int_eq(sc_store_read_log(s, "t:none", 0, 0, &log, &err), SC_STORE_ENOTFOUND);
    /* three frames are ~130 bytes: a 100-byte budget says "send the full state" */
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 3, 100, &log, &err), SC_STORE_ELIMIT);
    ck_assert_ptr_null(log);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(the_log_keeps_only_the_last_n_versions_once_checkpointed)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.log_max_versions = 10;
    o.checkpoint_versions = 5;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 50);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 40, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 10);
    sc_store_log_free(log);
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 39, 0, &log, NULL), SC_STORE_ETRIMMED);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_le(raw_int(db, "SELECT count(*) FROM patches"), 10);
    ck_assert_int_eq(raw_int(db, "SELECT sum(bytes) FROM patches"),
                     raw_int(db, "SELECT log_bytes FROM states"));
    sqlite3_close(db);
    sc_store_stats stats;
    sc_store_stats_get(s, &stats);
    ck_assert_uint_ge(stats.trimmed, 40);
    seen_state st = load_state(s, "t:c", NULL);
    ck_assert_str_eq(st.json, "{\"n\":50}");
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(the_log_keeps_every_patch_after_the_snapshot_even_past_the_window)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.log_max_versions = 3;
    o.checkpoint_versions = 100; /* no checkpoint: recovery needs all 20 patches */
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 20);
    sc_store_close(s);
    s = open_store(dir, &o);
    seen_state st = load_state(s, "t:c", NULL);
    ck_assert_str_eq(st.json, "{\"n\":20}");
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 0, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 20);
    sc_store_log_free(log);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(the_log_is_trimmed_to_its_byte_budget)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.log_max_bytes = 1000;
    o.checkpoint_versions = 1; /* every version is checkpointed: only the window is kept */
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    add_snapshot(b, "t:big", NULL, 0, "{\"s\":\"\"}");
    commit_ok(s, b);
    char patch[256];
    for (uint64_t v = 1; v <= 40; v++) {
        int n = snprintf(patch, sizeof patch,
                         "[{\"op\":\"replace\",\"path\":\"/s\",\"value\":\"%0*llu\"}]", 59,
                         (unsigned long long)v);
        ck_assert_int_eq(n, 100);
        b = new_batch();
        ck_assert_int_eq(sc_store_batch_patch(b, "t:big", v, patch, (size_t)n), SC_STORE_OK);
        commit_ok(s, b);
    }
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sqlite3 *db = raw_db(dir);
    long long kept = raw_int(db, "SELECT sum(bytes) FROM patches");
    ck_assert_int_le(kept, 1000);
    ck_assert_int_ge(kept, 900);
    ck_assert_int_eq(raw_int(db, "SELECT max(version) FROM patches"), 40);
    sqlite3_close(db);
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:big", 31, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 9);
    sc_store_log_free(log);
    ck_assert_int_eq(sc_store_read_log(s, "t:big", 20, 0, &log, NULL), SC_STORE_ETRIMMED);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST


/* Submits every batch of b[0..n) into one group (the store's window holds them) and waits for
 * all completions; results[i] receives batch i's status. */
static void submit_group(sc_store *s, sc_store_batch **b, size_t n, sc_store_status *results)
{
    wait_one w[16];
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++) {
        w[i] = (wait_one){.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        ck_assert_int_eq(sc_store_submit(s, b[i], wait_one_done, &w[i], NULL), SC_STORE_OK);
    }
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    for (size_t i = 0; i < n; i++)
        results[i] = w[i].result.status;
}

START_TEST(the_writer_cache_follows_snapshots_drops_and_refusals_inside_one_group)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.commit_window_us = 200000; /* the batches below land in one group */
    o.checkpoint_versions = 2;   /* checkpoints run between the two groups */
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b[10];
    for (int i = 0; i < 10; i++)
        b[i] = new_batch();
    add_snapshot(b[0], "t:a", NULL, 0, "{\"n\":0}");
    add_set_n(b[1], "t:a", 1);
    add_set_n(b[2], "t:a", 2);
    add_snapshot(b[3], "t:a", NULL, 10, "{\"n\":10}"); /* newer: drops the log */
    add_set_n(b[4], "t:a", 11);
    ck_assert_int_eq(sc_store_batch_drop_state(b[5], "t:a"), SC_STORE_OK);
    add_snapshot(b[6], "t:a", NULL, 0, "{\"n\":0}"); /* created again */
    add_set_n(b[6], "t:a", 1);
    add_set_n(b[7], "t:a", 2);
    add_set_n(b[7], "t:a", 4); /* a gap: the whole batch is refused, its v2 with it */
    add_set_n(b[8], "t:a", 2);
    add_set_n(b[9], "t:a", 3);
    sc_store_status r[10];
    submit_group(s, b, 10, r);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(r[i] == (i == 7 ? SC_STORE_ESEQ : SC_STORE_OK), "batch %d: %s", i,
                      sc_store_strerror(r[i]));
    seen_state st = load_state(s, "t:a", NULL);
    ck_assert_uint_eq(st.version, 3);
    ck_assert_str_eq(st.json, "{\"n\":3}");
    /* After the checkpoint written between the groups, the cached row still leads on. */
    for (int i = 0; i < 2; i++)
        b[i] = new_batch();
    add_set_n(b[0], "t:a", 4);
    add_set_n(b[1], "t:a", 6); /* refused */
    submit_group(s, b, 2, r);
    ck_assert_int_eq(r[0], SC_STORE_OK);
    ck_assert_int_eq(r[1], SC_STORE_ESEQ);
    sc_store_stats stats;
    sc_store_stats_get(s, &stats);
    ck_assert_uint_ge(stats.checkpoints, 1);
    sc_store_close(s);
    s = open_store(dir, &o);
    st = load_state(s, "t:a", NULL);
    ck_assert_uint_eq(st.version, 4);
    ck_assert_str_eq(st.json, "{\"n\":4}");
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:a", 2, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 2);
    sc_store_log_free(log);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_session_dropped_inside_a_group_is_not_written_back_by_the_cache)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.commit_window_us = 200000;
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = new_batch();
    sc_store_batch_session(b[0], "s1", "todo:1", "t:todo", 100);
    add_outcome(b[1], "s1", 1);
    add_outcome(b[1], "s1", 2);
    ck_assert_int_eq(sc_store_batch_drop_session(b[2], "s1"), SC_STORE_OK);
    add_outcome(b[3], "s1", 3); /* no such session any more */
    sc_store_status r[4];
    submit_group(s, b, 4, r);
    ck_assert_int_eq(r[0], SC_STORE_OK);
    ck_assert_int_eq(r[1], SC_STORE_OK);
    ck_assert_int_eq(r[2], SC_STORE_OK);
    ck_assert_int_eq(r[3], SC_STORE_ENOTFOUND);
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "s1", on_session, &ss, NULL), SC_STORE_ENOTFOUND);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM outcomes"), 0);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(the_log_is_trimmed_in_steps_of_a_sixteenth_of_the_window)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.log_max_versions = 64;  /* steps of 4 versions */
    o.checkpoint_versions = 8;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 200);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sqlite3 *db = raw_db(dir);
    long long kept = raw_int(db, "SELECT count(*) FROM patches");
    ck_assert_int_ge(kept, 64);
    ck_assert_int_le(kept, 64 + 3);
    ck_assert_int_eq(raw_int(db, "SELECT sum(bytes) FROM patches"),
                     raw_int(db, "SELECT log_bytes FROM states"));
    sqlite3_close(db);
    sc_store_log *log = NULL;
    ck_assert_int_eq(sc_store_read_log(s, "t:c", 200 - 64, 0, &log, NULL), SC_STORE_OK);
    ck_assert_uint_eq(log->n, 64);
    sc_store_log_free(log);
    sc_store_stats stats;
    sc_store_stats_get(s, &stats);
    ck_assert_uint_eq(stats.trimmed, (uint64_t)(200 - kept));
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 * ------------------------------------------------------------------------------------------- */

START_TEST(a_checkpoint_is_written_every_k_versions)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.checkpoint_versions = 10;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 25);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_stats stats;
    sc_store_stats_get(s, &stats);
    ck_assert_uint_eq(stats.checkpoints, 2);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT snap_version FROM states"), 20);
    ck_assert_int_eq(raw_int(db, "SELECT json = '{\"n\":20}' FROM snapshots"), 1);
    sqlite3_close(db);
    sc_store_close(s);
    s = open_store(dir, &o);
    seen_state st = load_state(s, "t:c", NULL);
    ck_assert_uint_eq(st.version, 25);
    ck_assert_str_eq(st.json, "{\"n\":25}");
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_checkpoint_is_written_when_the_log_outgrows_the_snapshot)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.checkpoint_versions = 1000;
    o.checkpoint_min_bytes = 300;
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    add_snapshot(b, "t:s", NULL, 0, "{\"s\":\"\"}");
    commit_ok(s, b);
    char patch[256];
    for (uint64_t v = 1; v <= 3; v++) { /* 3 x 100 bytes: not past 300 yet */
        int n = snprintf(patch, sizeof patch,
                         "[{\"op\":\"replace\",\"path\":\"/s\",\"value\":\"%0*llu\"}]", 59,
                         (unsigned long long)v);
        ck_assert_int_eq(n, 100);
        b = new_batch();
        sc_store_batch_patch(b, "t:s", v, patch, (size_t)n);
        commit_ok(s, b);
    }
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_stats stats;
    sc_store_stats_get(s, &stats);
    ck_assert_uint_eq(stats.checkpoints, 0);
    int n = snprintf(patch, sizeof patch, "[{\"op\":\"replace\",\"path\":\"/s\",\"value\":\"4\"}]");
    b = new_batch();
    sc_store_batch_patch(b, "t:s", 4, patch, (size_t)n);
    commit_ok(s, b);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_stats_get(s, &stats);
    ck_assert_uint_eq(stats.checkpoints, 1);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT snap_version * 1000 + since_bytes FROM states"), 4000);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------------------------- */

START_TEST(a_session_keeps_the_outcomes_of_its_last_64_ops)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "s1", "todo:1", "t:todo", 100);
    commit_ok(s, b);
    for (uint64_t op = 1; op <= 100; op += 4) {
        b = new_batch();
        sc_store_batch_session(b, "s1", "todo:1", "t:todo", (int64_t)(100 + op));
        for (uint64_t k = op; k < op + 4; k++)
            add_outcome(b, "s1", k);
        commit_ok(s, b);
    }
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "s1", on_session, &ss, NULL), SC_STORE_OK);
    ck_assert_uint_eq(ss.last_op, 100);
    ck_assert_uint_eq(ss.n, SC_STORE_OUTCOMES_KEPT);
    ck_assert_uint_eq(ss.first_op, 100 - SC_STORE_OUTCOMES_KEPT + 1);
    ck_assert_uint_eq(ss.last_kept_op, 100);
    ck_assert(ss.all_bodies_match);
    ck_assert_int_eq(ss.last_seen, 197);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM outcomes"), SC_STORE_OUTCOMES_KEPT);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(an_op_out_of_sequence_or_for_an_unknown_session_is_refused)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "s1", "todo:1", "t:todo", 1);
    add_outcome(b, "s1", 1);
    commit_ok(s, b);
    b = new_batch();
    add_outcome(b, "s1", 3);
    sc_store_error err = {0};
    ck_assert_int_eq(commit(s, b, &err), SC_STORE_ESEQ);
    ck_assert_ptr_nonnull(strstr(err.message, "op 3"));
    b = new_batch();
    add_outcome(b, "s1", 1); /* a replay is the server's to answer, never stored twice */
    ck_assert_int_eq(commit(s, b, NULL), SC_STORE_ESEQ);
    b = new_batch();
    add_outcome(b, "nobody", 1);
    ck_assert_int_eq(commit(s, b, NULL), SC_STORE_ENOTFOUND);
    seen_session ss = {0};
    sc_store_load_session(s, "s1", on_session, &ss, NULL);
    ck_assert_uint_eq(ss.last_op, 1);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(expire_deletes_idle_sessions_with_the_states_they_own)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.session_ttl_ms = 60000;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:shared", 2);
    sc_store_batch *b = new_batch();
    sc_store_batch_session(b, "old", "form:1", "c:old", 1000);
    add_snapshot(b, "c:old", "old", 0, "{\"n\":0}");
    add_set_n(b, "c:old", 1);
    add_outcome(b, "old", 1);
    sc_store_batch_session(b, "fresh", "form:1", "c:fresh", 100000);
    add_snapshot(b, "c:fresh", "fresh", 0, "{\"n\":0}");
    sc_store_batch_session(b, "topic", "counter:1", "t:shared", 2000);
    commit_ok(s, b);
    size_t n = 99;
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_expire(s, 61001, &n, &err), SC_STORE_OK); /* cutoff 1001 */
    ck_assert_uint_eq(n, 1);
    seen_session ss = {0};
    ck_assert_int_eq(sc_store_load_session(s, "old", on_session, &ss, NULL), SC_STORE_ENOTFOUND);
    sc_store_status rc;
    load_state(s, "c:old", &rc);
    ck_assert_int_eq(rc, SC_STORE_ENOTFOUND);
    ck_assert_int_eq(sc_store_load_session(s, "fresh", on_session, &ss, NULL), SC_STORE_OK);
    ck_assert_int_eq(sc_store_load_session(s, "topic", on_session, &ss, NULL), SC_STORE_OK);
    seen_state st = load_state(s, "c:fresh", NULL);
    ck_assert_str_eq(st.owner, "fresh");
    load_state(s, "t:shared", NULL); /* a topic's state outlives its sessions */
    ck_assert_int_eq(sc_store_expire(s, 62001, &n, &err), SC_STORE_OK); /* cutoff 2001 */
    ck_assert_uint_eq(n, 1);
    load_state(s, "t:shared", NULL);
    sqlite3 *db = raw_db(dir);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM outcomes"), 0);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM patches WHERE state_id NOT IN "
                                 "(SELECT id FROM states)"),
                     0);
    sqlite3_close(db);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Group commit
 * ------------------------------------------------------------------------------------------- */

enum { GC_THREADS = 4, GC_PER_THREAD = 100 };

typedef struct gc_ctx {
    sc_store *store;
    int thread;                 /* index: its key is t:<index> */
    atomic_int *completions;    /* every completion */
    atomic_int *visible;        /* completions whose patch a fresh read already saw */
    atomic_int *failed;
} gc_ctx;

typedef struct gc_done_arg {
    gc_ctx *ctx;
    uint64_t version;
} gc_done_arg;

static void gc_done(void *user, const sc_store_error *result)
{
    gc_done_arg *a = user;
    if (result->status != SC_STORE_OK)
        atomic_fetch_add(a->ctx->failed, 1);
    /* Read through the reader connection: only committed data is visible there. */
    char key[32];
    snprintf(key, sizeof key, "t:%d", a->ctx->thread);
    sc_store_log *log = NULL;
    if (sc_store_read_log(a->ctx->store, key, a->version - 1, 0, &log, NULL) == SC_STORE_OK &&
        log->version >= a->version)
        atomic_fetch_add(a->ctx->visible, 1);
    sc_store_log_free(log);
    atomic_fetch_add(a->ctx->completions, 1);
    free(a);
}

static void *gc_thread(void *arg)
{
    gc_ctx *c = arg;
    char key[32];
    snprintf(key, sizeof key, "t:%d", c->thread);
    for (uint64_t v = 1; v <= GC_PER_THREAD; v++) {
        sc_store_batch *b = sc_store_batch_new();
        add_set_n(b, key, v);
        gc_done_arg *a = malloc(sizeof *a);
        a->ctx = c;
        a->version = v;
        if (sc_store_submit(c->store, b, gc_done, a, NULL) != SC_STORE_OK)
            free(a);
    }
    return NULL;
}

START_TEST(group_commit_merges_concurrent_submissions_and_completes_after_commit)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o;
    sc_store_options_init(&o);
    o.durable = 1;
    o.commit_window_us = 5000;
    sc_store *s = open_store(dir, &o);
    sc_store_batch *b = new_batch();
    char key[32];
    for (int i = 0; i < GC_THREADS; i++) {
        snprintf(key, sizeof key, "t:%d", i);
        add_snapshot(b, key, NULL, 0, "{\"n\":0}");
    }
    commit_ok(s, b);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_stats before;
    sc_store_stats_get(s, &before);
    atomic_int completions = 0, visible = 0, failed = 0;
    gc_ctx ctx[GC_THREADS];
    pthread_t th[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        ctx[i] = (gc_ctx){s, i, &completions, &visible, &failed};
        ck_assert_int_eq(pthread_create(&th[i], NULL, gc_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    sc_store_stats after;
    sc_store_stats_get(s, &after);
    int total = GC_THREADS * GC_PER_THREAD;
    ck_assert_int_eq(atomic_load(&completions), total);
    ck_assert_int_eq(atomic_load(&failed), 0);
    ck_assert_int_eq(atomic_load(&visible), total);
    ck_assert_uint_eq(after.batches - before.batches, (uint64_t)total);
    uint64_t commits = after.commits - before.commits;
    ck_assert_msg(commits * 10 <= (uint64_t)total, "%llu transactions for %d batches",
                  (unsigned long long)commits, total);
    for (int i = 0; i < GC_THREADS; i++) {
        snprintf(key, sizeof key, "t:%d", i);
        seen_state st = load_state(s, key, NULL);
        ck_assert_str_eq(st.json, "{\"n\":100}");
    }
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

static void count_done(void *user, const sc_store_error *result)
{
    if (result->status == SC_STORE_OK)
        atomic_fetch_add((atomic_int *)user, 1);
}

/* The first batch's completion holds the store thread until the test releases it, so no
 * batch can complete meanwhile and the queue's bound is what the submitter meets. */
typedef struct hold_ctx {
    sc_store *store;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int released;       /* set by the test */
    atomic_int reached; /* submissions the helper has started */
    atomic_int returned; /* submissions that returned */
    atomic_int ok;      /* successful completions */
} hold_ctx;

static void hold_done(void *user, const sc_store_error *result)
{
    hold_ctx *h = user;
    pthread_mutex_lock(&h->mu);
    while (!h->released)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    count_done(&h->ok, result);
}

static void *hold_submitter(void *arg)
{
    hold_ctx *h = arg;
    for (uint64_t v = 1; v <= 20; v++) {
        sc_store_batch *b = sc_store_batch_new();
        add_set_n(b, "t:q", v);
        atomic_fetch_add(&h->reached, 1);
        sc_store_submit(h->store, b, v == 1 ? hold_done : count_done,
                        v == 1 ? (void *)h : (void *)&h->ok, NULL);
        atomic_fetch_add(&h->returned, 1);
    }
    return NULL;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void wait_for(wait_one *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* The window is the longest accepted (1 s); a small commit takes milliseconds, even under
 * sanitizers on a loaded machine, so the bounds below leave it hundreds of times that. */
START_TEST(a_background_batch_waits_for_company_unless_a_waited_batch_or_a_flush_comes)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.background_window_us = 1000000;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:c", 0);
    /* Alone, it waits out the window. */
    wait_one a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    sc_store_batch *b = new_batch();
    add_set_n(b, "t:c", 1);
    double t0 = mono_s();
    ck_assert_int_eq(sc_store_submit_background(s, b, wait_one_done, &a, NULL), SC_STORE_OK);
    wait_for(&a);
    ck_assert_int_eq(a.result.status, SC_STORE_OK);
    ck_assert_msg(mono_s() - t0 >= 0.9, "committed after %.3f s", mono_s() - t0);
    /* A batch someone waits on commits at once, the background one with it. */
    sc_store_stats before, after;
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK); /* a's commit is counted */
    sc_store_stats_get(s, &before);
    wait_one bg = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    b = new_batch();
    add_set_n(b, "t:c", 2);
    t0 = mono_s();
    ck_assert_int_eq(sc_store_submit_background(s, b, wait_one_done, &bg, NULL), SC_STORE_OK);
    b = new_batch();
    add_set_n(b, "t:c", 3);
    commit_ok(s, b);
    ck_assert_msg(mono_s() - t0 < 0.8, "committed after %.3f s", mono_s() - t0);
    wait_for(&bg);
    ck_assert_int_eq(bg.result.status, SC_STORE_OK);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK); /* the counters are updated */
    sc_store_stats_get(s, &after);
    ck_assert_uint_eq(after.commits - before.commits, 1);
    /* A flush does not wait out the window either. */
    b = new_batch();
    add_set_n(b, "t:c", 4);
    t0 = mono_s();
    ck_assert_int_eq(sc_store_submit_background(s, b, NULL, NULL, NULL), SC_STORE_OK);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    ck_assert_msg(mono_s() - t0 < 0.8, "flushed after %.3f s", mono_s() - t0);
    ck_assert_uint_eq(load_state(s, "t:c", NULL).version, 4);
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(submit_waits_for_room_when_the_queue_is_full)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.queue_max_batches = 4;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:q", 0);
    hold_ctx h = {.store = s, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    atomic_init(&h.reached, 0);
    atomic_init(&h.returned, 0);
    atomic_init(&h.ok, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hold_submitter, &h), 0);
    /* Batch 1 is held in its completion and 2..4 fill the queue: the 5th submission must
     * not return however long we wait. */
    for (int i = 0; i < 1000 && atomic_load(&h.reached) < 5; i++)
        sleep_ms(10);
    ck_assert_int_eq(atomic_load(&h.reached), 5);
    sleep_ms(300);
    ck_assert_int_eq(atomic_load(&h.returned), 4);
    pthread_mutex_lock(&h.mu);
    h.released = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    ck_assert_int_eq(sc_store_flush(s, NULL), SC_STORE_OK);
    ck_assert_int_eq(atomic_load(&h.ok), 20);
    sc_store_stats stats;
    sc_store_stats_get(s, &stats);
    ck_assert_uint_gt(stats.queue_waits, 0);
    ck_assert_str_eq(load_state(s, "t:q", NULL).json, "{\"n\":20}");
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

typedef struct chain_ctx {
    sc_store *store;
    atomic_int done;
} chain_ctx;

static void chain_second(void *user, const sc_store_error *result)
{
    chain_ctx *c = user;
    if (result->status == SC_STORE_OK)
        atomic_fetch_add(&c->done, 1);
}

static void chain_first(void *user, const sc_store_error *result)
{
    chain_ctx *c = user;
    if (result->status != SC_STORE_OK)
        return;
    sc_store_batch *b = sc_store_batch_new();
    add_set_n(b, "t:chain", 2);
    /* From the store thread: never waits, even on a full queue. */
    if (sc_store_submit(c->store, b, chain_second, c, NULL) == SC_STORE_OK)
        atomic_fetch_add(&c->done, 1);
}

START_TEST(a_completion_may_submit_another_batch)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    sc_store_options o = fast_options();
    o.queue_max_batches = 2;
    sc_store *s = open_store(dir, &o);
    write_counter(s, "t:chain", 0);
    chain_ctx c = {.store = s};
    atomic_init(&c.done, 0);
    sc_store_batch *b = new_batch();
    add_set_n(b, "t:chain", 1);
    ck_assert_int_eq(sc_store_submit(s, b, chain_first, &c, NULL), SC_STORE_OK);
    sc_store_close(s); /* drains the chained batch too */
    ck_assert_int_eq(atomic_load(&c.done), 2);
    s = open_store(dir, &o);
    ck_assert_str_eq(load_state(s, "t:chain", NULL).json, "{\"n\":2}");
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(flush_and_expire_refuse_to_run_from_a_null_store)
{
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_flush(NULL, &err), SC_STORE_EARG);
    ck_assert_int_eq(sc_store_expire(NULL, 0, NULL, &err), SC_STORE_EARG);
    ck_assert_int_eq(sc_store_submit(NULL, sc_store_batch_new(), NULL, NULL, &err), SC_STORE_EARG);
    sc_store_close(NULL);
    sc_store_batch_free(NULL);
    sc_store_log_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Corruption and unusable directories
 * ------------------------------------------------------------------------------------------- */

/* A closed store with enough data for many pages (so damage lands in real b-tree pages). */
static void build_big_store(const char *dir)
{
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    char json[1200];
    memset(json, 0, sizeof json);
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof key, "t:%04d", i);
        int n = snprintf(json, sizeof json, "{\"pad\":\"%0*d\"}", 1000, i);
        sc_store_batch *b = new_batch();
        ck_assert_int_eq(sc_store_batch_snapshot(b, key, "big", NULL, 0, json, (size_t)n),
                         SC_STORE_OK);
        commit_ok(s, b);
    }
    sc_store_close(s); /* the last connection to close checkpoints the WAL into the file */
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

/* Copies the big store's file into a fresh directory; returns the copy's path in file. */
static void copy_store(const char *from_dir, char *to_dir, size_t cap, char *file, size_t fcap)
{
    char src[512];
    make_dir(to_dir, cap);
    snprintf(src, sizeof src, "%s/%s", from_dir, SC_STORE_FILE_NAME);
    snprintf(file, fcap, "%s/%s", to_dir, SC_STORE_FILE_NAME);
    copy_file(src, file);
}

static void overwrite(const char *file, long offset, size_t n, unsigned seed)
{
    int fd = open(file, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    unsigned char buf[4096];
    ck_assert_uint_le(n, sizeof buf);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(rand() & 0xff);
    ck_assert_int_eq(pwrite(fd, buf, n, offset), (ssize_t)n);
    close(fd);
}

static void expect_corrupt(const char *dir, const char *file)
{
    sc_store_options o = fast_options();
    sc_store *s = NULL;
    sc_store_error err = {0};
    sc_store_status st = sc_store_open(dir, &o, &s, &err);
    ck_assert_msg(st == SC_STORE_ECORRUPT, "open gave %s: %s", sc_store_strerror(st),
                  err.message);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err.message, file));
    ck_assert_ptr_nonnull(strstr(err.message, "refusing"));
}

START_TEST(a_file_with_a_garbage_header_is_refused_at_open)
{
    char good[256], bad[256], file[512];
    make_dir(good, sizeof good);
    build_big_store(good);
    copy_store(good, bad, sizeof bad, file, sizeof file);
    overwrite(file, 0, 100, 1);
    expect_corrupt(bad, file);
    sc_store_options o = fast_options();
    sc_store_close(open_store(good, &o)); /* the original is fine: the damage made the difference */
    remove_dir(bad);
    remove_dir(good);
}
END_TEST

START_TEST(a_truncated_file_is_refused_at_open)
{
    char good[256], bad[256], file[512];
    make_dir(good, sizeof good);
    build_big_store(good);
    copy_store(good, bad, sizeof bad, file, sizeof file);
    struct stat sb;
    ck_assert_int_eq(stat(file, &sb), 0);
    ck_assert_int_gt(sb.st_size, 100 * 1024);
    ck_assert_int_eq(truncate(file, sb.st_size / 2), 0);
    expect_corrupt(bad, file);
    remove_dir(bad);
    remove_dir(good);
}
END_TEST

START_TEST(garbage_in_the_middle_of_the_file_is_refused_at_open)
{
    char good[256], bad[256], file[512];
    make_dir(good, sizeof good);
    build_big_store(good);
    copy_store(good, bad, sizeof bad, file, sizeof file);
    struct stat sb;
    ck_assert_int_eq(stat(file, &sb), 0);
    long pages = (long)(sb.st_size / 4096);
    /* Damage a run of pages in the middle; quick_check walks every b-tree page. */
    for (long p = pages / 3; p < pages / 3 + 8; p++)
        overwrite(file, p * 4096, 4096, (unsigned)p);
    expect_corrupt(bad, file);
    remove_dir(bad);
    remove_dir(good);
}
END_TEST

START_TEST(a_missing_or_non_directory_data_path_is_refused_at_open)
{
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    sc_store *s = NULL;
    sc_store_error err = {0};
    snprintf(path, sizeof path, "%s/does-not-exist", dir);
    ck_assert_int_eq(sc_store_open(path, NULL, &s, &err), SC_STORE_EACCES);
    ck_assert_ptr_nonnull(strstr(err.message, "does-not-exist"));
    snprintf(path, sizeof path, "%s/a-file", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    ck_assert_int_eq(sc_store_open(path, NULL, &s, &err), SC_STORE_EACCES);
    ck_assert_ptr_nonnull(strstr(err.message, "not a directory"));
    ck_assert_ptr_null(s);
    ck_assert_int_eq(sc_store_open("", NULL, &s, &err), SC_STORE_EARG);
    remove_dir(dir);
}
END_TEST

START_TEST(an_unwritable_data_directory_is_refused_at_open)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    /* Root ignores permission bits: drop to an unprivileged user in a child to check them. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        sc_store *s = NULL;
        sc_store_error err = {0};
        sc_store_status st = sc_store_open(dir, NULL, &s, &err);
        _exit(st == SC_STORE_EACCES && strstr(err.message, "not writable") != NULL ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(access(dir, F_OK), 0);
    chmod(dir, 0700);
    /* Nothing was left behind by the refused open. */
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 0);
    remove_dir(dir);
}
END_TEST

/* Exit codes of the file-size-limit child. */
enum { FULL_OK = 0, FULL_SETUP = 10, FULL_NOT_FAILED = 11, FULL_OTHER_COMMITTED = 12 };

/* In a child limited to small files (RLIMIT_FSIZE, as a full disk would): a group holding a
 * 4 MiB snapshot and a small patch fails as a whole, both completions say so, and the store
 * still works afterwards. */
static void full_disk_child(const char *dir)
{
    signal(SIGXFSZ, SIG_IGN); /* get EFBIG from write() instead of a signal */
    sc_store_options o = fast_options();
    o.durable = 1;
    o.commit_window_us = 300000; /* both batches land in one group */
    sc_store *s = NULL;
    if (sc_store_open(dir, &o, &s, NULL) != SC_STORE_OK)
        _exit(FULL_SETUP);
    sc_store_batch *b = sc_store_batch_new();
    sc_store_batch_snapshot(b, "t:small", "x", NULL, 0, "{\"n\":0}", 7);
    if (commit(s, b, NULL) != SC_STORE_OK)
        _exit(FULL_SETUP);
    struct rlimit rl = {2 * 1024 * 1024, 2 * 1024 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        _exit(FULL_SETUP);
    size_t big_len = 4 * 1024 * 1024;
    char *big = malloc(big_len + 16);
    memset(big, 'x', big_len + 16);
    memcpy(big, "{\"s\":\"", 6);
    memcpy(big + big_len - 2, "\"}", 2);
    wait_one w1 = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    wait_one w2 = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    b = sc_store_batch_new();
    sc_store_batch_snapshot(b, "t:big", "x", NULL, 0, big, big_len);
    free(big);
    sc_store_submit(s, b, wait_one_done, &w1, NULL);
    b = sc_store_batch_new();
    add_set_n(b, "t:small", 1);
    sc_store_submit(s, b, wait_one_done, &w2, NULL);
    sc_store_flush(s, NULL);
    if (getenv("SC_TEST_VERBOSE"))
        fprintf(stderr, "full disk: %s / %s\n", w1.result.message, w2.result.message);
    if (w1.result.status == SC_STORE_OK)
        _exit(FULL_NOT_FAILED);
    if (w2.result.status == SC_STORE_OK)
        _exit(FULL_OTHER_COMMITTED);
    /* Small writes still fit: the store goes on. */
    b = sc_store_batch_new();
    add_set_n(b, "t:small", 1);
    if (commit(s, b, NULL) != SC_STORE_OK)
        _exit(FULL_SETUP + 5);
    sc_store_close(s);
    _exit(FULL_OK);
}

START_TEST(a_group_that_cannot_be_written_fails_every_batch_in_it)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        full_disk_child(dir);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "child died (signal %d)", WTERMSIG(status));
    ck_assert_int_eq(WEXITSTATUS(status), FULL_OK);
    sc_store_options o = fast_options();
    sc_store *s = open_store(dir, &o);
    sc_store_status rc;
    load_state(s, "t:big", &rc);
    ck_assert_int_eq(rc, SC_STORE_ENOTFOUND);
    ck_assert_str_eq(load_state(s, "t:small", NULL).json, "{\"n\":1}");
    sc_store_close(s);
    remove_dir(dir);
}
END_TEST

START_TEST(a_directory_held_by_another_process_is_refused)
{
    char dir[256];
    make_dir(dir, sizeof dir);
    int ready[2], release[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(release), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sc_store *s = NULL;
        if (sc_store_open(dir, NULL, &s, NULL) != SC_STORE_OK)
            _exit(1);
        char c = 1;
        if (write(ready[1], &c, 1) != 1 || read(release[0], &c, 1) != 1)
            _exit(1);
        sc_store_close(s);
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    sc_store *s = NULL;
    sc_store_error err = {0};
    ck_assert_int_eq(sc_store_open(dir, NULL, &s, &err), SC_STORE_EBUSY);
    ck_assert_ptr_nonnull(strstr(err.message, "in use"));
    ck_assert_int_eq(write(release[1], &c, 1), 1);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    sc_store_options o = fast_options();
    sc_store_close(open_store(dir, &o)); /* free again once that process is gone */
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Durability across kill -9
 * ------------------------------------------------------------------------------------------- */

enum {
    CRASH_ROUNDS = 6,       /* kills at different points */
    CRASH_MAX_BATCHES = 100000 /* bound on the child's loop if the kill came late */
};

static void crash_ack(void *user, const sc_store_error *result)
{
    const uint64_t *v = user;
    if (result->status == SC_STORE_OK) {
        /* 8 bytes: atomic on a pipe (< PIPE_BUF), so the parent never reads half a number. */
        ssize_t w = write(STDOUT_FILENO, v, sizeof *v);
        (void)w;
    }
}

/* The child: batch v sets /n = v (version v) and consumes op v of session "s", acked through
 * the pipe on stdout once its completion reports the commit. */
static void crash_child(const char *dir, int fd)
{
    if (dup2(fd, STDOUT_FILENO) < 0)
        _exit(3);
    sc_store_options o;
    sc_store_options_init(&o); /* durable, the default window */
    sc_store *s = NULL;
    if (sc_store_open(dir, &o, &s, NULL) != SC_STORE_OK)
        _exit(4);
    static uint64_t versions[CRASH_MAX_BATCHES + 1];
    sc_store_batch *b = sc_store_batch_new();
    sc_store_batch_snapshot(b, "t:crash", "crash", NULL, 0, "{\"n\":0}", 7);
    sc_store_batch_session(b, "s", "crash", "t:crash", 0);
    sc_store_submit(s, b, NULL, NULL, NULL);
    for (uint64_t v = 1; v <= CRASH_MAX_BATCHES; v++) {
        versions[v] = v;
        b = sc_store_batch_new();
        char p[96], body[64];
        int n = snprintf(p, sizeof p, "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":%llu}]",
                         (unsigned long long)v);
        sc_store_batch_patch(b, "t:crash", v, p, (size_t)n);
        sc_store_batch_session(b, "s", "crash", "t:crash", (int64_t)v);
        n = snprintf(body, sizeof body, "{\"v\":%llu}", (unsigned long long)v);
        sc_store_batch_outcome(b, "s", v, 1, v, body, (size_t)n);
        if (sc_store_submit(s, b, crash_ack, &versions[v], NULL) != SC_STORE_OK)
            _exit(5);
    }
    sc_store_close(s);
    _exit(0);
}

START_TEST(every_acknowledged_batch_survives_kill_9)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        char dir[256];
        make_dir(dir, sizeof dir);
        uint64_t acked = 0;
        {
            int fds[2];
            ck_assert_int_eq(pipe(fds), 0);
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                close(fds[0]);
                crash_child(dir, fds[1]);
            }
            close(fds[1]);
            /* Kill at a random point after the first acknowledgement (so every round tests
             * something): mid-batch, mid-commit, mid-checkpoint, mid-callback. */
            uint64_t v;
            ck_assert_int_eq(read(fds[0], &v, sizeof v), (ssize_t)sizeof v);
            acked = v;
            long delay_ms = rand() % 400;
            sleep_ms(delay_ms);
            ck_assert_int_eq(kill(pid, SIGKILL), 0);
            int status = 0;
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            ck_assert_msg(WIFSIGNALED(status), "child exited early (status %d)",
                          WEXITSTATUS(status));
            /* Every ack the child wrote before dying is still in the pipe. */
            while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
                if (v > acked)
                    acked = v;
            close(fds[0]);

            sc_store_options o = fast_options();
            sc_store *s = open_store(dir, &o);
            seen_state st = load_state(s, "t:crash", NULL);
            if (getenv("SC_TEST_VERBOSE"))
                fprintf(stderr, "round %d: killed after %ld ms, acked %llu, recovered %llu\n",
                        round, delay_ms, (unsigned long long)acked,
                        (unsigned long long)st.version);
            ck_assert_msg(st.version >= acked, "round %d: acked %llu, recovered %llu", round,
                          (unsigned long long)acked, (unsigned long long)st.version);
            char want[64];
            snprintf(want, sizeof want, "{\"n\":%llu}", (unsigned long long)st.version);
            ck_assert_str_eq(st.json, want);
            seen_session ss = {0};
            ck_assert_int_eq(sc_store_load_session(s, "s", on_session, &ss, NULL), SC_STORE_OK);
            ck_assert_uint_eq(ss.last_op, st.version); /* op and patch share one transaction */
            sc_store_close(s);
        }
        ck_assert_msg(acked > 0, "round %d: nothing acknowledged", round);
        remove_dir(dir);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("schema");
    tcase_add_test(tc, every_status_has_a_distinct_message);
    tcase_add_test(tc, open_creates_the_schema_in_a_new_directory);
    tcase_add_test(tc, reopen_keeps_states_sessions_and_outcomes);
    tcase_add_test(tc, a_schema_newer_than_the_program_is_refused);
    tcase_add_test(tc, options_not_initialised_or_out_of_range_are_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("states");
    tcase_set_timeout(tc, SLOW_TEST_TIMEOUT_S);
    tcase_add_test(tc, load_replays_the_logged_patches_onto_the_snapshot);
    tcase_add_test(tc, a_log_that_does_not_apply_fails_the_load_with_a_replay_error);
    tcase_add_test(tc, load_calls_back_for_every_state_and_session);
    tcase_add_test(tc, a_callback_can_stop_the_load);
    tcase_add_test(tc, a_patch_out_of_sequence_fails_only_its_own_batch);
    tcase_add_test(tc, a_batch_carrying_a_burst_of_events_writes_them_all_in_order);
    tcase_add_test(tc, a_failure_inside_a_burst_rolls_back_the_whole_batch);
    tcase_add_test(tc, a_patch_for_an_unknown_state_or_an_old_snapshot_is_refused);
    tcase_add_test(tc, a_newer_snapshot_replaces_the_state_and_drops_its_log);
    tcase_add_test(tc, a_snapshot_at_the_current_version_keeps_the_log);
    tcase_add_test(tc, drop_state_and_drop_session_delete_what_they_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_set_timeout(tc, SLOW_TEST_TIMEOUT_S);
    tcase_add_test(tc, reading_the_log_returns_the_frames_after_a_version_in_order);
    tcase_add_test(tc, the_log_keeps_only_the_last_n_versions_once_checkpointed);
    tcase_add_test(tc, the_log_keeps_every_patch_after_the_snapshot_even_past_the_window);
    tcase_add_test(tc, the_log_is_trimmed_to_its_byte_budget);
    tcase_add_test(tc, the_log_is_trimmed_in_steps_of_a_sixteenth_of_the_window);
    tcase_add_test(tc, the_writer_cache_follows_snapshots_drops_and_refusals_inside_one_group);
    tcase_add_test(tc, a_session_dropped_inside_a_group_is_not_written_back_by_the_cache);
    tcase_add_test(tc, a_checkpoint_is_written_every_k_versions);
    tcase_add_test(tc, a_checkpoint_is_written_when_the_log_outgrows_the_snapshot);
    suite_add_tcase(s, tc);

    tc = tcase_create("sessions");
    tcase_set_timeout(tc, SLOW_TEST_TIMEOUT_S);
    tcase_add_test(tc, a_session_keeps_the_outcomes_of_its_last_64_ops);
    tcase_add_test(tc, an_op_out_of_sequence_or_for_an_unknown_session_is_refused);
    tcase_add_test(tc, expire_deletes_idle_sessions_with_the_states_they_own);
    suite_add_tcase(s, tc);

    tc = tcase_create("group_commit");
    tcase_set_timeout(tc, SLOW_TEST_TIMEOUT_S);
    tcase_add_test(tc, group_commit_merges_concurrent_submissions_and_completes_after_commit);
    tcase_add_test(tc, submit_waits_for_room_when_the_queue_is_full);
    tcase_add_test(tc, a_background_batch_waits_for_company_unless_a_waited_batch_or_a_flush_comes);
    tcase_add_test(tc, a_completion_may_submit_another_batch);
    tcase_add_test(tc, flush_and_expire_refuse_to_run_from_a_null_store);
    suite_add_tcase(s, tc);

    tc = tcase_create("open_checks");
    tcase_set_timeout(tc, SLOW_TEST_TIMEOUT_S);
    tcase_add_test(tc, a_file_with_a_garbage_header_is_refused_at_open);
    tcase_add_test(tc, a_truncated_file_is_refused_at_open);
    tcase_add_test(tc, garbage_in_the_middle_of_the_file_is_refused_at_open);
    tcase_add_test(tc, a_missing_or_non_directory_data_path_is_refused_at_open);
    tcase_add_test(tc, an_unwritable_data_directory_is_refused_at_open);
    tcase_add_test(tc, a_directory_held_by_another_process_is_refused);
    tcase_add_test(tc, a_group_that_cannot_be_written_fails_every_batch_in_it);
    suite_add_tcase(s, tc);

    tc = tcase_create("durability");
    tcase_set_timeout(tc, SLOW_TEST_TIMEOUT_S);
    tcase_add_test(tc, every_acknowledged_batch_survives_kill_9);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
