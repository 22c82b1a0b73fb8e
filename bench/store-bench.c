/*
 * store-bench.c -- throughput and ack latency of the store (server/src/store.c), not a test.
 *
 * Workload: T submitter threads, each the publisher of its own topic state, submit batches as
 * the server would after a burst of events: E events per batch, each event = one ~100-byte
 * patch (the next version) + one consumed op with its outcome (--touch adds the session's
 * last-seen touch to every batch, which makes it a batch the store runs in a savepoint; the
 * server's op batches carry none). Each thread keeps at most SB_INFLIGHT batches awaiting
 * their completion (a closed loop, like clients waiting for acks), so the figures are what the
 * store sustains, not how fast a queue fills. --background submits with
 * sc_store_submit_background() (the batches of events answered at once). Besides throughput
 * and latency, each line gives the store thread's CPU time per event (from /proc, Linux), which
 * other load on the machine disturbs much less than throughput.
 *
 * Configurations: durable on/off x group-commit window 0 / 5 ms with the patch log; then, for
 * contrast, a 1 MiB state written as a patch log vs as a full snapshot per batch (what the
 * patch log avoids). Each runs for --seconds (default 2) in a fresh directory under TMPDIR.
 * One JSON line per configuration on stdout.
 *
 * Usage: store-bench [--seconds S] [--threads T] [--events E] [--inflight N] [--only-basic]
 *                    [--touch] [--background]
 *                    [--config NAME]   (NAME: one of the configs[] names below)
 *                    [--glibc-default] (keep glibc's malloc trim threshold; see SB_TRIM_THRESHOLD)
 * (--inflight 1 --threads 1 --events 1 measures the ack latency of a lone event.)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "store.h"

/* Default in-flight batches per thread: a few clients' worth of pipelined events. */
#define SB_INFLIGHT 64
/* Latency samples kept (bounded memory); later completions are counted but not sampled. */
#define SB_MAX_SAMPLES 2000000
/* glibc trims a thread arena's top (madvise + a TLB shootdown on every core) whenever more
 * than M_TRIM_THRESHOLD (128 KiB until glibc adjusts it) is free at its top. Batches are
 * allocated by the submitting threads and freed by the store thread, so arenas oscillate
 * around that threshold; measured here, that cost 10x the throughput. The server should set
 * this at startup too (docs/durability.md); --glibc-default measures without it. */
#define SB_TRIM_THRESHOLD (64 * 1024 * 1024)
/* Bound on one configuration's duration, whatever --seconds says. */
#define SB_MAX_SECONDS 60
#define SB_MAX_THREADS 64
#define SB_MAX_EVENTS 256

typedef struct sb_config {
    const char *name;
    int durable;
    uint32_t window_us;
    size_t state_bytes; /* size of each state's initial snapshot */
    int snapshot_each;  /* 1: every batch writes the full state instead of patches */
} sb_config;

typedef struct sb_run sb_run;

typedef struct sb_thread {
    sb_run *run;
    int index;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;        /* under mu */
    uint64_t version;    /* next version to write (submitter only) */
    uint64_t op;         /* next op number (submitter only) */
    char *state;         /* the full state text, for snapshot_each */
    size_t state_len;
} sb_thread;

struct sb_run {
    sc_store *store;
    const sb_config *cfg;
    int events;
    int touch;      /* 1: a session touch in every batch */
    int background; /* 1: sc_store_submit_background() */
    int inflight; /* bound on each thread's batches awaiting completion */
    atomic_int stop;
    atomic_uint_least64_t batches, failures;
    pthread_mutex_t sample_mu;
    uint32_t *samples; /* ack latency, microseconds */
    size_t n_samples;
};

typedef struct sb_pending {
    sb_thread *t;
    struct timespec at;
} sb_pending;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_done(void *user, const sc_store_error *result)
{
    sb_pending *p = user;
    sb_thread *t = p->t;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double us = (double)(end.tv_sec - p->at.tv_sec) * 1e6 + (double)(end.tv_nsec - p->at.tv_nsec) / 1e3;
    if (result->status != SC_STORE_OK) {
        atomic_fetch_add(&t->run->failures, 1);
        fprintf(stderr, "store-bench: %s\n", result->message);
    }
    atomic_fetch_add(&t->run->batches, 1);
    pthread_mutex_lock(&t->run->sample_mu);
    if (t->run->n_samples < SB_MAX_SAMPLES)
        t->run->samples[t->run->n_samples++] = (uint32_t)us;
    pthread_mutex_unlock(&t->run->sample_mu);
    free(p);
    pthread_mutex_lock(&t->mu);
    t->inflight--;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *submitter(void *arg)
{
    sb_thread *t = arg;
    sb_run *r = t->run;
    char key[32], sid[32], patch[160], body[64];
    snprintf(key, sizeof key, "t:%d", t->index);
    snprintf(sid, sizeof sid, "s:%d", t->index);
    while (!atomic_load(&r->stop)) {
        pthread_mutex_lock(&t->mu);
        while (t->inflight >= r->inflight)
            pthread_cond_wait(&t->cv, &t->mu);
        t->inflight++;
        pthread_mutex_unlock(&t->mu);
        sc_store_batch *b = sc_store_batch_new();
        for (int e = 0; e < r->events; e++) {
            uint64_t v = ++t->version;
            if (!r->cfg->snapshot_each) {
                int n = snprintf(patch, sizeof patch,
                                 "[{\"op\":\"replace\",\"path\":\"/n\",\"value\":%llu},"
                                 "{\"op\":\"add\",\"path\":\"/log/-\",\"value\":\"e%06llu\"}]",
                                 (unsigned long long)v, (unsigned long long)v % 1000000ull);
                sc_store_batch_patch(b, key, v, patch, (size_t)n);
            }
            int n = snprintf(body, sizeof body, "{\"v\":%llu}", (unsigned long long)v);
            sc_store_batch_outcome(b, sid, ++t->op, 1, v, body, (size_t)n);
        }
        if (r->cfg->snapshot_each) /* the whole state at the batch's last version */
            sc_store_batch_snapshot(b, key, "bench", NULL, t->version, t->state, t->state_len);
        if (r->touch)
            sc_store_batch_session(b, sid, "bench", key, 0);
        sb_pending *p = malloc(sizeof *p);
        p->t = t;
        clock_gettime(CLOCK_MONOTONIC, &p->at);
        sc_store_status st = r->background ? sc_store_submit_background(r->store, b, on_done, p, NULL)
                                           : sc_store_submit(r->store, b, on_done, p, NULL);
        if (st != SC_STORE_OK) {
            free(p);
            break;
        }
    }
    pthread_mutex_lock(&t->mu);
    while (t->inflight > 0)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char path[1024];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* The initial state: {"n":0,"log":[],"pad":"xxx..."} of about bytes bytes. */
static char *make_state(size_t bytes, size_t *len)
{
    size_t pad = bytes > 64 ? bytes - 64 : 1;
    char *s = malloc(pad + 64);
    int n = snprintf(s, 64, "{\"n\":0,\"log\":[],\"pad\":\"");
    memset(s + n, 'x', pad);
    memcpy(s + n + pad, "\"}", 3);
    *len = (size_t)n + pad + 2;
    return s;
}

/* CPU time (user + system, microseconds) of this process's thread named "sc-store" (the
 * store thread names itself), or 0 where /proc is not there. */
static double store_thread_cpu_us(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return 0;
    double us = 0;
    long hz = sysconf(_SC_CLK_TCK);
    char path[300], buf[1024];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (open == NULL || close == NULL || strncmp(open + 1, "sc-store)", 9) != 0)
            continue;
        unsigned long long ut = 0, st = 0;
        /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            us += (double)(ut + st) * 1e6 / (double)hz;
    }
    closedir(d);
    return us;
}

static int run_config(const sb_config *cfg, int threads, int events, int inflight,
                      double seconds, int touch, int background)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sc-store-bench-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    sc_store_options o;
    sc_store_options_init(&o);
    o.durable = cfg->durable;
    o.commit_window_us = cfg->window_us;
    sc_store_error err = {0};
    sb_run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.events = events;
    r.inflight = inflight;
    r.touch = touch;
    r.background = background;
    if (sc_store_open(dir, &o, &r.store, &err) != SC_STORE_OK) {
        fprintf(stderr, "store-bench: %s\n", err.message);
        remove_dir(dir);
        return 1;
    }
    pthread_mutex_init(&r.sample_mu, NULL);
    r.samples = malloc(sizeof(uint32_t) * SB_MAX_SAMPLES);
    sb_thread th[SB_MAX_THREADS];
    pthread_t tid[SB_MAX_THREADS];
    size_t state_len;
    char *state = make_state(cfg->state_bytes, &state_len);
    sc_store_batch *seed = sc_store_batch_new();
    for (int i = 0; i < threads; i++) {
        memset(&th[i], 0, sizeof th[i]);
        th[i].run = &r;
        th[i].index = i;
        th[i].state = state;
        th[i].state_len = state_len;
        pthread_mutex_init(&th[i].mu, NULL);
        pthread_cond_init(&th[i].cv, NULL);
        char key[32], sid[32];
        snprintf(key, sizeof key, "t:%d", i);
        snprintf(sid, sizeof sid, "s:%d", i);
        sc_store_batch_snapshot(seed, key, "bench", NULL, 0, state, state_len);
        sc_store_batch_session(seed, sid, "bench", key, 0);
    }
    sc_store_submit(r.store, seed, NULL, NULL, NULL);
    sc_store_flush(r.store, NULL);
    sc_store_stats before;
    sc_store_stats_get(r.store, &before);
    double cpu0 = store_thread_cpu_us();
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, submitter, &th[i]);
    struct timespec tick = {0, 50 * 1000000L};
    while (now_s() - t0 < seconds)
        nanosleep(&tick, NULL);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double elapsed = now_s() - t0;
    sc_store_flush(r.store, NULL);
    sc_store_stats after;
    sc_store_stats_get(r.store, &after);
    double store_cpu = store_thread_cpu_us() - cpu0;
    sc_store_close(r.store);

    qsort(r.samples, r.n_samples, sizeof r.samples[0], cmp_u32);
    double p50 = r.n_samples ? r.samples[r.n_samples / 2] / 1000.0 : 0;
    double p99 = r.n_samples ? r.samples[(size_t)((double)r.n_samples * 0.99)] / 1000.0 : 0;
    uint64_t batches = atomic_load(&r.batches);
    uint64_t commits = after.commits - before.commits;
    printf("{\"bench\":\"store\",\"config\":\"%s\",\"durable\":%d,\"window_us\":%u,"
           "\"state_bytes\":%zu,\"writes\":\"%s\",\"threads\":%d,\"inflight\":%d,"
           "\"events_per_batch\":%d,"
           "\"seconds\":%.2f,\"batches\":%llu,\"failed\":%llu,\"batches_per_s\":%.0f,"
           "\"events_per_s\":%.0f,\"commits\":%llu,\"batches_per_commit\":%.1f,"
           "\"checkpoints\":%llu,\"ack_p50_ms\":%.2f,\"ack_p99_ms\":%.2f,"
           "\"touch\":%d,\"background\":%d,\"store_cpu_us_per_event\":%.2f}\n",
           cfg->name, cfg->durable, cfg->window_us, cfg->state_bytes,
           cfg->snapshot_each ? "snapshot_per_batch" : "patch_log", threads, inflight, events, elapsed,
           (unsigned long long)batches, (unsigned long long)atomic_load(&r.failures),
           (double)batches / elapsed, (double)batches * events / elapsed,
           (unsigned long long)commits, commits ? (double)batches / (double)commits : 0.0,
           (unsigned long long)(after.checkpoints - before.checkpoints), p50, p99, touch,
           background, batches ? store_cpu / ((double)batches * events) : 0.0);
    fflush(stdout);
    for (int i = 0; i < threads; i++) {
        pthread_mutex_destroy(&th[i].mu);
        pthread_cond_destroy(&th[i].cv);
    }
    free(state);
    free(r.samples);
    pthread_mutex_destroy(&r.sample_mu);
    remove_dir(dir);
    return atomic_load(&r.failures) ? 1 : 0;
}

int main(int argc, char **argv)
{
    double seconds = 2;
    int threads = 4, events = 4, inflight = SB_INFLIGHT, only_basic = 0;
    const char *only = NULL;
    int glibc_default = 0, touch = 0, background = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            events = atoi(argv[++i]);
        else if (strcmp(argv[i], "--inflight") == 0 && i + 1 < argc)
            inflight = atoi(argv[++i]);
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--glibc-default") == 0)
            glibc_default = 1;
        else if (strcmp(argv[i], "--only-basic") == 0)
            only_basic = 1;
        else if (strcmp(argv[i], "--touch") == 0)
            touch = 1;
        else if (strcmp(argv[i], "--background") == 0)
            background = 1;
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--threads T] [--events E] [--inflight N] "
                            "[--only-basic] [--config NAME] [--glibc-default] [--touch] "
                            "[--background]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seconds <= 0 || seconds > SB_MAX_SECONDS || threads < 1 || threads > SB_MAX_THREADS ||
        events < 1 || events > SB_MAX_EVENTS || inflight < 1 || inflight > 4096) {
        fprintf(stderr, "store-bench: seconds in (0, %d], threads in [1, %d], events in [1, %d], "
                        "inflight in [1, 4096]\n",
                SB_MAX_SECONDS, SB_MAX_THREADS, SB_MAX_EVENTS);
        return 2;
    }
#ifdef __GLIBC__
    if (!glibc_default)
        mallopt(M_TRIM_THRESHOLD, SB_TRIM_THRESHOLD);
#else
    (void)glibc_default;
#endif
    static const sb_config configs[] = {
        {"durable_window0", 1, 0, 256, 0},
        {"durable_window5ms", 1, 5000, 256, 0},
        {"nondurable_window0", 0, 0, 256, 0},
        {"nondurable_window5ms", 0, 5000, 256, 0},
        {"1MiB_state_patch_log", 1, 5000, 1 << 20, 0},
        {"1MiB_state_snapshot_per_batch", 1, 5000, 1 << 20, 1},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        if ((only_basic && configs[i].state_bytes > 256) ||
            (only != NULL && strcmp(only, configs[i].name) != 0))
            continue;
        rc |= run_config(&configs[i], threads, events, inflight, seconds, touch, background);
    }
    return rc;
}
