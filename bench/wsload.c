/*
 * wsload -- a WebSocket load generator speaking Phoenix Channels v2 (JSON), for benchmarks.
 *
 * One thread, one epoll set, no thread per connection: N non-blocking sockets, each with its own
 * minimal WebSocket client (HTTP/1.1 upgrade, masked client frames, frame parser that answers
 * pings) and Phoenix framing ([join_ref, ref, topic, event, payload]). Incoming frames are not
 * parsed as JSON: a scanner reads the four leading strings and finds "status" and "version" in
 * the payload, so the client stays cheap enough to drive 10,000 sockets from one core.
 *
 * Modes (--mode):
 *   echo     each connection sends a ~95 byte Phoenix-shaped frame and waits for it to come back
 *            (against bench/peers/echo or any echo server): the transport ceiling.
 *   counter  each connection joins --topics counter topics of its own and sends lvs_evt:inc;
 *            measured: event -> reply and event -> state:patch.
 *   table    the same on table topics (one large per-connection state); the events cycle through
 *            run (1,000 fresh rows), update (every 10th label) and swaprows, so each one changes
 *            the state and yields exactly one patch (see table_event()).
 *   fanout   --conns subscribers and one extra writer join one counter topic; the writer sends
 *            --rate events/s; measured: per delivery (event sent -> a subscriber has the patch)
 *            and per change (event sent -> every subscriber has it).
 *   idle     --conns connections join --topics counter topics each and stay idle; with
 *            --server-pid, the server's memory per connection from /proc/<pid>/status; then a
 *            liveness round (every connection must answer a heartbeat).
 *   mixed    for bench/soak: counter and table topics, events at --rate, and churn: a topic left
 *            and rejoined every --leave-every events, a connection closed and reopened every
 *            --reconnect-every events; with --server-pid, RSS sampled every 10 s.
 * --rate 0 is a closed loop (each connection keeps --inflight events outstanding; the next one
 * leaves when the previous one has its reply and its patch); --rate R sends R events/s in total,
 * round-robin over the connections, and measures latency from the time each event was due
 * (so a stalled server cannot hide its backlog: no coordinated omission).
 *
 * Phases: connect + join (at most --connect-concurrency handshakes at once, --setup-timeout),
 * warm-up (--warmup s, not measured), measurement (--duration s), drain (outstanding events get
 * DRAIN_MS to finish). Output: one JSON line on stdout; progress and diagnostics on stderr.
 * Exit status 0 when the run was measured (errors are reported in the JSON, not as a failure),
 * 1 when nothing could be measured (no connection ready), 2 for bad arguments.
 *
 * Correctness checks made on the way: every patch version must be the previous one + 1 on its
 * topic (gaps are errors), every reply must be "ok" (error reasons are counted), every event
 * that should change the state must get a patch (missing_patches), unexpected closes are
 * disconnects. Latency samples are kept (4 bytes each, up to MAX_SAMPLES per histogram) and
 * sorted once at the end: exact percentiles, O(n log n).
 * Limits: one host (IPv4, no TLS), frames up to MAX_FRAME bytes, DEFAULT_RING events in flight
 * per connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Events one connection may have outstanding; beyond, a rate-mode send is counted as an
 * overrun instead (the server is that far behind; the ring bounds the client's memory). */
#define DEFAULT_RING 256
/* Largest frame accepted from the server: a table "run" patch is ~45 KB, a full table state
 * of 50,000 rows ~2.5 MB; anything bigger is a protocol error here. */
#define MAX_FRAME (16u * 1024 * 1024)
/* Samples kept per histogram (4 bytes each): 64 MB worst case; past it samples are counted
 * but not kept (the report says so). */
#define MAX_SAMPLES (16u * 1024 * 1024)
/* How long outstanding events may take to finish after the measurement window. */
#define DRAIN_MS 3000
/* A reply without its patch: the patch normally precedes the reply on the socket; after this
 * long it is counted as missing (a server that sends no patch for a changing event). */
#define PATCH_GRACE_MS 2000
/* Phoenix clients heartbeat every 30 s; so do we, so idle servers keep us. */
#define HEARTBEAT_MS 30000
/* Epoll batch and the longest sleep of the loop (bounds timer lateness in rate mode). */
#define EPOLL_BATCH 512
#define MAX_SLEEP_MS 5
/* Rate mode: at most this many sends per loop turn, so reading is never starved. */
#define MAX_SENDS_PER_TURN 2000
/* How long the idle mode's liveness round may take. */
#define LIVENESS_MS 15000
/* Largest outgoing message we build (events, joins): they are all tiny. */
#define OUT_MSG_MAX 512
/* Interval of the mixed mode's RSS samples. */
#define RSS_SAMPLE_MS 10000
/* Read buffer start size; it grows to the largest frame seen. */
#define RBUF_START 16384

enum mode { M_ECHO, M_COUNTER, M_TABLE, M_FANOUT, M_IDLE, M_MIXED };
static const char *const mode_names[] = {"echo", "counter", "table", "fanout", "idle", "mixed"};

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN };
enum tstate { T_NONE, T_JOINING, T_JOINED, T_LEAVING };
enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

typedef struct opts {
    enum mode mode;
    const char *host;
    int port;
    const char *path;
    int conns, topics, inflight;
    double rate;       /* events/s in total; 0 = closed loop */
    double duration_s, warmup_s, setup_timeout_s;
    int connect_conc;
    int server_pid;
    int leave_every, reconnect_every; /* mixed mode churn, in events; 0 = none */
    const char *label;
} opts;

typedef struct topic {
    enum tstate st;
    uint64_t jr;       /* numeric join_ref of the current join */
    uint64_t leave_ref;
    int64_t version;   /* last version seen; -1 before the first state */
    int got_reply, got_state;
    int kind;          /* 0 counter, 1 table */
    uint64_t evn;      /* events sent on this topic since its join (table mix) */
} topic;

typedef struct pending {
    uint64_t ref;
    int64_t t_due;     /* ns: when the event was due (rate mode) or sent (closed loop) */
    int64_t t_reply;   /* ns, 0 until replied */
    int topic;
    unsigned char got_reply, got_patch, expect_patch, measured;
} pending;

typedef struct conn {
    int fd, idx;
    enum cstate st;
    unsigned char *rbuf;
    size_t rlen, rcap;
    unsigned char *wbuf;
    size_t wlen, woff, wcap;
    int out_armed;     /* EPOLLOUT registered */
    topic *t;
    pending *ring;
    unsigned head, count;
    uint64_t next_ref;
    uint64_t ev_total; /* events sent (mixed mode churn) */
    int64_t next_hb;
    int writer;        /* fanout: the one that sends */
    int ready;         /* every topic joined (counted in g.ready) */
    int hb_ok;         /* idle mode: heartbeat answered in the liveness round */
    int64_t reconnect_at; /* ns, mixed mode: when to reopen after a planned close; 0 = no */
    int rr_topic;
} conn;

typedef struct hist {
    uint32_t *v;       /* microseconds */
    size_t n, cap;
    uint64_t total;    /* including samples not kept */
    uint32_t max;
} hist;

typedef struct fanslot {
    int64_t t_due;
    uint32_t count;
    uint32_t max_us;
} fanslot;

static struct {
    opts o;
    int ep;
    conn *c;
    int nconns;        /* including the fanout writer */
    int ready, connecting, failed_setup;
    enum phase ph;
    int64_t t0, t_measure, t_end;
    struct sockaddr_in addr;
    char runid[32];
    /* rate scheduler */
    int64_t next_due;
    double interval_ns;
    unsigned rr;
    /* results */
    hist reply, patch, fan_all;
    uint64_t events_sent, events_done, errors, disconnects, gaps, missing_patches, overruns,
        resyncs, reconnects, leaves, setup_failures, bytes_in, frames_in;
    char err_reasons[256];
    /* fanout */
    fanslot *fan;
    size_t fan_cap, fan_n;
    int64_t fan_v0;
    uint64_t fan_deliveries;
    /* mixed: RSS series (kB) */
    long rss_series[256];
    int rss_n;
    int64_t next_rss;
    long rss_at_60s;
    /* this process's CPU and run-queue wait (ns) at the start and end of the measurement */
    int64_t cpu_ns[2], runq_ns[2];
} g;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL && n != 0) {
        fprintf(stderr, "wsload: out of memory\n");
        exit(1);
    }
    return q;
}

/* ---- histograms -------------------------------------------------------------------------------- */

static void hist_add(hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    uint64_t us = (uint64_t)ns / 1000;
    uint32_t v = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    h->total++;
    if (v > h->max)
        h->max = v;
    if (h->n == h->cap) {
        if (h->cap >= MAX_SAMPLES)
            return;
        h->cap = h->cap ? h->cap * 2 : 4096;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n++] = v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const hist *h, double p)
{
    if (h->n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(h->n - 1) + 0.5);
    return h->v[i] / 1000.0;
}

/* Appends ,"name":{"n":..,"p50":..} (milliseconds) to out. */
static void hist_json(FILE *out, const char *name, hist *h)
{
    qsort(h->v, h->n, sizeof *h->v, cmp_u32);
    fprintf(out, ",\"%s\":{\"n\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
            "\"max\":%.3f}", name, (unsigned long long)h->total, pct(h, 0.5), pct(h, 0.9),
            pct(h, 0.99), pct(h, 0.999), h->max / 1000.0);
}

/* Counts an error and remembers its reason (each distinct reason once, while they fit). */
static void note_error(const char *reason, size_t n)
{
    char r[64];
    snprintf(r, sizeof r, "%.*s", (int)n, reason);
    for (char *q = r; *q; q++)
        if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
            *q = '_';
    g.errors++;
    if (strlen(g.err_reasons) + strlen(r) + 2 < sizeof g.err_reasons &&
        strstr(g.err_reasons, r) == NULL) {
        if (g.err_reasons[0])
            strcat(g.err_reasons, ",");
        strcat(g.err_reasons, r);
    }
}

/* ---- server memory ----------------------------------------------------------------------------- */

typedef struct procmem {
    long rss_kb, pte_kb, threads;
} procmem;

static int read_procmem(int pid, procmem *m)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    memset(m, 0, sizeof *m);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            m->rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmPTE:", 6) == 0)
            m->pte_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "Threads:", 8) == 0)
            m->threads = strtol(line + 8, NULL, 10);
    }
    fclose(f);
    return 0;
}

/* Kernel stack per thread on x86-64 (THREAD_SIZE): counted as system memory of the server. */
#define KERNEL_STACK_KB 16

static long procmem_system_kb(const procmem *m)
{
    return m->rss_kb + m->pte_kb + m->threads * KERNEL_STACK_KB;
}

/* ---- sockets and the WebSocket client ---------------------------------------------------------- */

static void arm(conn *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = (uint32_t)c->idx};
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->out_armed = out;
}

static void conn_reset(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->st == C_CONNECTING || c->st == C_HANDSHAKE)
        g.connecting--;
    if (c->ready)
        g.ready--;
    c->fd = -1;
    c->st = C_IDLE;
    c->rlen = c->wlen = c->woff = 0;
    c->out_armed = 0;
    c->ready = 0;
    c->head = c->count = 0;
    for (int i = 0; i < g.o.topics; i++) {
        c->t[i].st = T_NONE;
        c->t[i].version = -1;
    }
}

/* A socket that closed without us asking. */
static void conn_lost(conn *c, const char *why)
{
    if (g.ph == PH_SETUP) {
        g.failed_setup++;
        if (g.failed_setup <= 5) /* the first few say why; the count is in the report */
            fprintf(stderr, "wsload: connection %d failed during setup: %s\n", c->idx, why);
    } else if (g.ph != PH_DONE) {
        g.disconnects++;
        if (g.disconnects <= 5)
            fprintf(stderr, "wsload: connection %d lost: %s\n", c->idx, why);
    }
    conn_reset(c);
    if (g.o.mode == M_MIXED && g.ph != PH_SETUP)
        c->reconnect_at = now_ns() + 100 * 1000000LL;
}

static int flush_out(conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->out_armed)
                arm(c, 1);
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
    c->woff = c->wlen = 0;
    if (c->out_armed)
        arm(c, 0);
    return 0;
}

static void wreserve(conn *c, size_t extra)
{
    if (c->wlen + extra <= c->wcap)
        return;
    if (c->woff > 0) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
        if (c->wlen + extra <= c->wcap)
            return;
    }
    size_t cap = c->wcap ? c->wcap : 1024;
    while (cap < c->wlen + extra)
        cap *= 2;
    c->wbuf = xrealloc(c->wbuf, cap);
    c->wcap = cap;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rnd32(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Du) >> 32);
}

/* Queues one masked client frame (RFC 6455 5.3: every client frame is masked) and tries to
 * send it. Returns -1 when the socket failed (the caller's connection is then lost). */
static int ws_send(conn *c, int opcode, const void *data, size_t len)
{
    wreserve(c, len + 14);
    unsigned char *p = c->wbuf + c->wlen;
    size_t h = 0;
    p[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        p[h++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xFFFF) {
        p[h++] = 0x80 | 126;
        p[h++] = (unsigned char)(len >> 8);
        p[h++] = (unsigned char)len;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            p[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    uint32_t m = rnd32();
    unsigned char mask[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                             (unsigned char)(m >> 24)};
    memcpy(p + h, mask, 4);
    h += 4;
    const unsigned char *src = data;
    for (size_t i = 0; i < len; i++)
        p[h + i] = src[i] ^ mask[i & 3];
    c->wlen += h + len;
    if (c->out_armed)
        return 0; /* the socket is full; EPOLLOUT will flush */
    return flush_out(c);
}

static void start_connect(conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g.failed_setup++;
        fprintf(stderr, "wsload: socket: %s\n", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->st = C_CONNECTING;
    g.connecting++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)c->idx};
    c->out_armed = 1;
    epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&g.addr, sizeof g.addr) != 0 && errno != EINPROGRESS)
        conn_lost(c, strerror(errno));
}

static void send_handshake(conn *c)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     g.o.path, g.o.host, g.o.port);
    wreserve(c, (size_t)n);
    memcpy(c->wbuf + c->wlen, req, (size_t)n);
    c->wlen += (size_t)n;
    c->st = C_HANDSHAKE;
    if (flush_out(c) != 0)
        conn_lost(c, "handshake write failed");
}

/* ---- Phoenix messages -------------------------------------------------------------------------- */

static void topic_name(const conn *c, int m, char *out, size_t cap)
{
    const char *kind = c->t[m].kind ? "table" : "counter";
    if (g.o.mode == M_FANOUT)
        snprintf(out, cap, "counter:wl%s-fan-0", g.runid);
    else if (g.o.mode == M_ECHO)
        snprintf(out, cap, "echo");
    else
        snprintf(out, cap, "%s:wl%s-%d-%d", kind, g.runid, c->idx, m);
}

static int send_msg(conn *c, const char *jr, uint64_t ref, const char *ref_prefix,
                    const char *topic_s, const char *event, const char *payload)
{
    char msg[OUT_MSG_MAX];
    int n = snprintf(msg, sizeof msg, "[%s,\"%s%llu\",\"%s\",\"%s\",%s]", jr, ref_prefix,
                     (unsigned long long)ref, topic_s, event, payload);
    if (n < 0 || (size_t)n >= sizeof msg)
        die("message too long");
    if (ws_send(c, 0x1, msg, (size_t)n) != 0) {
        conn_lost(c, "write failed");
        return -1;
    }
    return 0;
}

static void join_topic(conn *c, int m)
{
    char name[128];
    topic_name(c, m, name, sizeof name);
    topic *t = &c->t[m];
    t->jr = c->next_ref++;
    t->st = T_JOINING;
    t->got_reply = t->got_state = 0;
    t->version = -1;
    t->evn = 0;
    char jr[32];
    snprintf(jr, sizeof jr, "\"%llu\"", (unsigned long long)t->jr);
    send_msg(c, jr, t->jr, "", name, "phx_join", "{}");
}

static void on_open(conn *c)
{
    g.connecting--;
    c->st = C_OPEN;
    c->next_hb = now_ns() + (int64_t)HEARTBEAT_MS * 1000000;
    if (g.o.mode == M_ECHO) {
        c->ready = 1;
        g.ready++;
        return;
    }
    for (int m = 0; m < g.o.topics && c->fd >= 0; m++)
        join_topic(c, m);
}

/* The table events (the js-framework-benchmark's): "run" makes 1,000 fresh rows, "update"
 * appends " !!!" to every 10th label, "swaprows" swaps rows 1 and 998. Each one changes the
 * table (update until a label reaches the handler's 256-byte cap: 50 updates per run cycle
 * keep far below it), so each yields exactly one patch. */
static const char *table_event(uint64_t k)
{
    if (k % 200 == 0)
        return "run";
    return k % 4 == 1 ? "update" : "swaprows";
}

/* Sends the next event of c. t_due: when it was due. Returns 0 when sent. */
static int send_event(conn *c, int64_t t_due)
{
    if (c->count >= DEFAULT_RING) {
        g.overruns++;
        return -1;
    }
    int m = -1;
    for (int i = 0; i < g.o.topics; i++) {
        int cand = (c->rr_topic + i) % g.o.topics;
        if (c->t[cand].st == T_JOINED || g.o.mode == M_ECHO) {
            m = cand;
            break;
        }
    }
    if (m < 0) {
        g.overruns++;
        return -1;
    }
    c->rr_topic = (m + 1) % g.o.topics;
    topic *t = &c->t[m];
    char name[128], jr[32];
    topic_name(c, m, name, sizeof name);
    uint64_t ref = c->next_ref++;
    pending *p = &c->ring[(c->head + c->count) % DEFAULT_RING];
    memset(p, 0, sizeof *p);
    p->ref = ref;
    p->t_due = t_due;
    p->topic = m;
    p->measured = g.ph == PH_MEASURE;
    int rc;
    if (g.o.mode == M_ECHO) {
        p->expect_patch = 0;
        rc = send_msg(c, "null", ref, "", name, "ping",
                      "{\"pad\":\"0123456789abcdef0123456789abcdef0123456789ab\"}");
    } else {
        snprintf(jr, sizeof jr, "\"%llu\"", (unsigned long long)t->jr);
        p->expect_patch = 1;
        const char *ev = t->kind ? table_event(t->evn) : "inc";
        char event[32];
        snprintf(event, sizeof event, "lvs_evt:%s", ev);
        t->evn++;
        rc = send_msg(c, jr, ref, "", name, event, t->kind ? "{}" : "{\"by\":1}");
    }
    if (rc != 0)
        return -1;
    c->count++;
    c->ev_total++;
    g.events_sent++;
    if (g.o.mode == M_FANOUT && c->writer) {
        if (g.fan_n == g.fan_cap) {
            g.fan_cap = g.fan_cap ? g.fan_cap * 2 : 1024;
            g.fan = xrealloc(g.fan, g.fan_cap * sizeof *g.fan);
        }
        g.fan[g.fan_n].t_due = p->measured ? t_due : -1;
        g.fan[g.fan_n].count = 0;
        g.fan[g.fan_n].max_us = 0;
        g.fan_n++;
    }
    return 0;
}

static void mixed_churn(conn *c);

/* Pops finished events off the head of c's ring; the closed loop refills. */
static void complete(conn *c, int64_t now)
{
    while (c->count > 0) {
        pending *p = &c->ring[c->head];
        int done = p->got_reply && (p->got_patch || !p->expect_patch);
        if (!done && p->got_reply && now - p->t_reply > (int64_t)PATCH_GRACE_MS * 1000000) {
            if (p->measured)
                g.missing_patches++;
            done = 1;
        }
        if (!done)
            break;
        if (p->measured)
            g.events_done++;
        c->head = (c->head + 1) % DEFAULT_RING;
        c->count--;
    }
    if (g.o.rate == 0 && c->ready && (g.ph == PH_WARMUP || g.ph == PH_MEASURE) &&
        !(g.o.mode == M_FANOUT || g.o.mode == M_IDLE)) {
        while ((int)c->count < g.o.inflight && c->fd >= 0)
            if (send_event(c, now) != 0)
                break;
    }
    if (g.o.mode == M_MIXED && c->count == 0 && c->fd >= 0)
        mixed_churn(c);
}

/* Mixed mode: every leave_every events one topic is left (and rejoined on its reply); every
 * reconnect_every events the connection closes and reopens. Only with nothing in flight. */
static void mixed_churn(conn *c)
{
    if (g.ph != PH_MEASURE && g.ph != PH_WARMUP)
        return;
    if (g.o.reconnect_every > 0 && c->ev_total > 0 &&
        c->ev_total % (uint64_t)g.o.reconnect_every == 0) {
        c->ev_total++; /* once per multiple */
        static const unsigned char close_1000[2] = {0x03, 0xE8};
        ws_send(c, 0x8, close_1000, 2);
        conn_reset(c);
        c->reconnect_at = now_ns() + 50 * 1000000LL;
        g.reconnects++;
        return;
    }
    if (g.o.leave_every > 0 && c->ev_total > 0 && c->ev_total % (uint64_t)g.o.leave_every == 0) {
        c->ev_total++;
        int m = (int)(rnd32() % (uint32_t)g.o.topics);
        topic *t = &c->t[m];
        if (t->st != T_JOINED)
            return;
        char name[128], jr[32];
        topic_name(c, m, name, sizeof name);
        snprintf(jr, sizeof jr, "\"%llu\"", (unsigned long long)t->jr);
        t->leave_ref = c->next_ref++;
        t->st = T_LEAVING;
        if (c->ready) {
            c->ready = 0;
            g.ready--;
        }
        g.leaves++;
        send_msg(c, jr, t->leave_ref, "", name, "phx_leave", "{}");
    }
}

/* ---- scanning incoming messages ---------------------------------------------------------------- */

typedef struct span {
    const char *p;
    size_t n;
    int is_null;
} span;

/* Reads a JSON string or null at *pp (after whitespace) into s; moves *pp past it and the
 * following comma. Returns -1 on anything else. Escapes are skipped, not decoded: refs,
 * topics and events never need decoding here. */
static int scan_elem(const char **pp, const char *end, span *s)
{
    const char *p = *pp;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        s->p = p;
        s->n = 0;
        s->is_null = 1;
        p += 4;
    } else if (p < end && *p == '"') {
        const char *q = ++p;
        while (q < end && *q != '"')
            q += (*q == '\\') ? 2 : 1;
        if (q >= end)
            return -1;
        s->p = p;
        s->n = (size_t)(q - p);
        s->is_null = 0;
        p = q + 1;
    } else {
        return -1;
    }
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p >= end || *p != ',')
        return -1;
    *pp = p + 1;
    return 0;
}

static int span_is(span s, const char *lit)
{
    size_t n = strlen(lit);
    return !s.is_null && s.n == n && memcmp(s.p, lit, n) == 0;
}

static uint64_t span_u64(span s, int *ok)
{
    uint64_t v = 0;
    *ok = !s.is_null && s.n > 0 && s.n < 20;
    for (size_t i = 0; *ok && i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            *ok = 0;
        else
            v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    return v;
}

/* The last "version": number in the payload (it follows the patch or state), or -1. */
static int64_t find_version(const char *p, size_t n)
{
    static const char key[] = "\"version\":";
    const size_t kl = sizeof key - 1;
    if (n < kl)
        return -1;
    for (size_t i = n - kl + 1; i-- > 0;) {
        if (p[i] == '"' && memcmp(p + i, key, kl) == 0) {
            const char *q = p + i + kl, *end = p + n;
            while (q < end && *q == ' ')
                q++;
            int64_t v = 0;
            int digits = 0;
            while (q < end && *q >= '0' && *q <= '9') {
                v = v * 10 + (*q++ - '0');
                digits++;
            }
            return digits ? v : -1;
        }
    }
    return -1;
}

/* "status":"ok" in a reply payload; writes the error reason (or "error") to *reason. */
static int reply_ok(const char *p, size_t n, span *reason)
{
    const char *s = memmem(p, n, "\"status\":", 9);
    if (s == NULL)
        return 0;
    s += 9;
    while (s < p + n && *s == ' ')
        s++;
    if ((size_t)(p + n - s) >= 4 && memcmp(s, "\"ok\"", 4) == 0)
        return 1;
    const char *r = memmem(p, n, "\"reason\":\"", 10);
    if (r != NULL) {
        r += 10;
        const char *e = memchr(r, '"', (size_t)(p + n - r));
        if (e != NULL) {
            reason->p = r;
            reason->n = (size_t)(e - r);
            return 0;
        }
    }
    reason->p = "error";
    reason->n = 5;
    return 0;
}

/* Topic index: the number after the topic's last '-', or -1. */
static int topic_index(span topic_s)
{
    if (topic_s.is_null)
        return -1;
    const char *dash = NULL;
    for (size_t i = 0; i < topic_s.n; i++)
        if (topic_s.p[i] == '-')
            dash = topic_s.p + i;
    if (dash == NULL)
        return -1;
    span num = {dash + 1, (size_t)(topic_s.p + topic_s.n - dash - 1), 0};
    int ok;
    uint64_t v = span_u64(num, &ok);
    return ok && v < (uint64_t)g.o.topics ? (int)v : -1;
}

static pending *find_pending(conn *c, uint64_t ref)
{
    for (unsigned i = 0; i < c->count; i++) {
        pending *p = &c->ring[(c->head + i) % DEFAULT_RING];
        if (p->ref == ref)
            return p;
    }
    return NULL;
}

static void check_ready(conn *c)
{
    if (c->ready)
        return;
    for (int m = 0; m < g.o.topics; m++)
        if (c->t[m].st != T_JOINED)
            return;
    c->ready = 1;
    g.ready++;
}

static void fan_delivery(int64_t version, int64_t now)
{
    int64_t k = version - g.fan_v0 - 1;
    if (k < 0 || (size_t)k >= g.fan_n || g.fan[k].t_due < 0)
        return;
    fanslot *s = &g.fan[k];
    int64_t lat = now - s->t_due;
    hist_add(&g.patch, lat);
    g.fan_deliveries++;
    s->count++;
    uint32_t us = (uint32_t)(lat / 1000);
    if (us > s->max_us)
        s->max_us = us;
}

static void on_message(conn *c, const char *data, size_t len, int64_t now)
{
    g.frames_in++;
    const char *p = data, *end = data + len;
    while (p < end && *p != '[')
        p++;
    if (p == end) {
        note_error("bad_frame", 9);
        return;
    }
    p++;
    span jr, ref, topic_s, event;
    if (scan_elem(&p, end, &jr) || scan_elem(&p, end, &ref) || scan_elem(&p, end, &topic_s) ||
        scan_elem(&p, end, &event)) {
        note_error("bad_frame", 9);
        return;
    }
    const char *payload = p;
    size_t plen = (size_t)(end - p);
    int ok;

    if (!ref.is_null && ref.n > 0 && ref.p[0] == 'h') { /* our heartbeat's reply */
        c->hb_ok = 1;
        return;
    }
    if (g.o.mode == M_ECHO) {
        uint64_t r = span_u64(ref, &ok);
        pending *pe = ok ? find_pending(c, r) : NULL;
        if (pe == NULL) {
            note_error("unexpected_echo", 15);
            return;
        }
        pe->got_reply = 1;
        if (pe->measured)
            hist_add(&g.reply, now - pe->t_due);
        complete(c, now);
        return;
    }
    int m = topic_index(topic_s);
    if (m < 0)
        return; /* not one of ours (the phoenix topic, ...) */
    topic *t = &c->t[m];
    int jr_ok;
    uint64_t jrn = span_u64(jr, &jr_ok);

    if (span_is(event, "phx_reply")) {
        uint64_t r = span_u64(ref, &ok);
        if (!ok)
            return;
        span reason = {0};
        int good = reply_ok(payload, plen, &reason);
        if (t->st == T_JOINING && r == t->jr) {
            if (!good) {
                note_error(reason.p, reason.n);
                if (g.ph == PH_SETUP)
                    g.failed_setup++;
                else
                    g.disconnects++;
                conn_reset(c);
                return;
            }
            t->got_reply = 1;
            if (t->got_state) {
                t->st = T_JOINED;
                check_ready(c);
                complete(c, now);
            }
            return;
        }
        if (t->st == T_LEAVING && r == t->leave_ref) {
            join_topic(c, m);
            return;
        }
        pending *pe = find_pending(c, r);
        if (pe == NULL)
            return;
        pe->got_reply = 1;
        pe->t_reply = now;
        if (!good) {
            if (pe->measured)
                note_error(reason.p, reason.n);
            pe->expect_patch = 0;
        }
        if (pe->measured)
            hist_add(&g.reply, now - pe->t_due);
        complete(c, now);
        return;
    }
    if (jr_ok && jrn != t->jr)
        return; /* a message of an earlier join of this topic */
    if (span_is(event, "state:change")) {
        int64_t v = find_version(payload, plen);
        if (t->st == T_JOINING) {
            t->version = v;
            t->got_state = 1;
            if (c->writer)
                g.fan_v0 = v;
            if (t->got_reply) {
                t->st = T_JOINED;
                check_ready(c);
                complete(c, now);
            }
            return;
        }
        if (t->version < 0 || v != t->version + 1) {
            /* A full state at another version: the server resynced us (slow consumer). */
            if (g.ph == PH_MEASURE)
                g.resyncs++;
            t->version = v;
            return;
        }
        /* The next version as a full state: a server may send one instead of a patch that
         * would be bigger (PROTOCOL.md section 4); it is this event's change all the same. */
    }
    if (span_is(event, "state:patch") || span_is(event, "state:change")) {
        int64_t v = find_version(payload, plen);
        if (t->version >= 0 && v != t->version + 1 && g.ph != PH_SETUP)
            g.gaps++;
        t->version = v;
        if (g.o.mode == M_FANOUT && !c->writer) {
            fan_delivery(v, now);
            return;
        }
        for (unsigned i = 0; i < c->count; i++) {
            pending *pe = &c->ring[(c->head + i) % DEFAULT_RING];
            if (pe->topic == m && pe->expect_patch && !pe->got_patch) {
                pe->got_patch = 1;
                if (pe->measured && g.o.mode != M_FANOUT) /* fanout: subscribers' only */
                    hist_add(&g.patch, now - pe->t_due);
                break;
            }
        }
        complete(c, now);
        return;
    }
    if (span_is(event, "phx_close") || span_is(event, "phx_error")) {
        if (t->st != T_LEAVING) {
            note_error(event.p, event.n);
            t->st = T_NONE;
            if (c->ready) {
                c->ready = 0;
                g.ready--;
            }
        }
    }
}

/* Parses complete frames in c's read buffer. Returns -1 when the connection is gone. */
static int parse_frames(conn *c, int64_t now)
{
    size_t off = 0;
    while (c->rlen - off >= 2) {
        const unsigned char *b = c->rbuf + off;
        size_t avail = c->rlen - off;
        int opcode = b[0] & 0x0F;
        uint64_t plen = b[1] & 0x7F;
        size_t h = 2;
        if (b[1] & 0x80) {
            conn_lost(c, "masked server frame");
            return -1;
        }
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = ((uint64_t)b[2] << 8) | b[3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | b[2 + i];
            h = 10;
        }
        if (plen > MAX_FRAME) {
            conn_lost(c, "frame too large");
            return -1;
        }
        if (avail < h + plen) {
            if (h + plen > c->rcap) {
                c->rcap = h + plen;
                c->rbuf = xrealloc(c->rbuf, c->rcap);
            }
            break;
        }
        const char *payload = (const char *)b + h;
        g.bytes_in += h + plen;
        if (opcode == 0x1 || opcode == 0x0) {
            on_message(c, payload, (size_t)plen, now);
            if (c->fd < 0)
                return -1;
        } else if (opcode == 0x9) {
            if (ws_send(c, 0xA, payload, (size_t)plen) != 0) {
                conn_lost(c, "pong failed");
                return -1;
            }
        } else if (opcode == 0x8) {
            char why[64];
            int code = plen >= 2 ? (((unsigned char)payload[0]) << 8 | (unsigned char)payload[1]) : 0;
            snprintf(why, sizeof why, "server closed (code %d)", code);
            conn_lost(c, why);
            return -1;
        }
        off += h + (size_t)plen;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return 0;
}

static void on_readable(conn *c, int64_t now)
{
    for (int rounds = 0; rounds < 4; rounds++) {
        if (c->rcap - c->rlen < 4096) {
            c->rcap = c->rcap ? c->rcap * 2 : RBUF_START;
            c->rbuf = xrealloc(c->rbuf, c->rcap);
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n == 0) {
            conn_lost(c, "closed by peer");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            conn_lost(c, strerror(errno));
            return;
        }
        c->rlen += (size_t)n;
        if (c->st == C_HANDSHAKE) {
            unsigned char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
            if (e == NULL) {
                if (c->rlen > 8192) {
                    conn_lost(c, "handshake response too long");
                    return;
                }
                continue;
            }
            if (c->rlen < 12 || memcmp(c->rbuf + 9, "101", 3) != 0) {
                char line[80];
                size_t l = (size_t)(e - c->rbuf);
                char *nl = memchr(c->rbuf, '\r', l);
                l = nl ? (size_t)(nl - (char *)c->rbuf) : l;
                snprintf(line, sizeof line, "upgrade refused: %.*s", (int)(l > 60 ? 60 : l),
                         (const char *)c->rbuf);
                conn_lost(c, line);
                return;
            }
            size_t hl = (size_t)(e + 4 - c->rbuf);
            memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
            c->rlen -= hl;
            on_open(c);
            if (c->fd < 0)
                return;
        }
        if (parse_frames(c, now) != 0)
            return;
        if ((size_t)n < 4096)
            return;
    }
}

static void on_event(conn *c, uint32_t events, int64_t now)
{
    if (c->st == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0) {
            conn_lost(c, strerror(err));
            return;
        }
        send_handshake(c);
        return;
    }
    if ((events & EPOLLOUT) && flush_out(c) != 0) {
        conn_lost(c, "write failed");
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(c, now);
}

/* ---- the run ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: wsload --mode echo|counter|table|fanout|idle|mixed [options]\n"
        "  --host A            server address (default 127.0.0.1)\n"
        "  --port N            server port (default 8080)\n"
        "  --path P            WebSocket path (default /socket/websocket?vsn=2.0.0)\n"
        "  --conns N           connections (fanout: subscribers; the writer is one more)\n"
        "  --topics M          topics joined per connection (default 1)\n"
        "  --rate R            events/s in total; 0 = closed loop (default 0; fanout 5)\n"
        "  --inflight W        closed loop: events outstanding per connection (default 1)\n"
        "  --duration S        measured seconds (default 10)\n"
        "  --warmup S          unmeasured seconds before (default 2)\n"
        "  --setup-timeout S   connect and join deadline (default 120)\n"
        "  --connect-concurrency N  handshakes at once (default 200)\n"
        "  --server-pid PID    read the server's memory from /proc/PID/status\n"
        "  --leave-every N     mixed: leave and rejoin a topic every N events per connection\n"
        "  --reconnect-every N mixed: reconnect every N events per connection\n"
        "  --label S           copied into the JSON line\n");
}

static double num(const char *flag, const char *v, double min, double max)
{
    char *e;
    double d = strtod(v, &e);
    if (*v == '\0' || *e != '\0' || !(d >= min && d <= max))
        die("%s wants a number in [%g, %g], got \"%s\"", flag, min, max, v);
    return d;
}

static void parse_args(int argc, char **argv)
{
    opts *o = &g.o;
    o->mode = M_COUNTER;
    o->host = "127.0.0.1";
    o->port = 8080;
    o->path = "/socket/websocket?vsn=2.0.0";
    o->conns = 10;
    o->topics = 1;
    o->inflight = 1;
    o->rate = -1;
    o->duration_s = 10;
    o->warmup_s = 2;
    o->setup_timeout_s = 120;
    o->connect_conc = 200;
    o->label = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            die("%s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--mode") == 0) {
            int found = 0;
            for (int k = 0; k < (int)(sizeof mode_names / sizeof *mode_names); k++)
                if (strcmp(v, mode_names[k]) == 0) {
                    o->mode = (enum mode)k;
                    found = 1;
                }
            if (!found)
                die("unknown mode \"%s\"", v);
        } else if (strcmp(a, "--host") == 0) {
            o->host = v;
        } else if (strcmp(a, "--port") == 0) {
            o->port = (int)num(a, v, 1, 65535);
        } else if (strcmp(a, "--path") == 0) {
            o->path = v;
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = (int)num(a, v, 1, 1000000);
        } else if (strcmp(a, "--topics") == 0) {
            o->topics = (int)num(a, v, 1, 1000);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = num(a, v, 0, 1e7);
        } else if (strcmp(a, "--inflight") == 0) {
            o->inflight = (int)num(a, v, 1, DEFAULT_RING);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration_s = num(a, v, 0.1, 86400);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup_s = num(a, v, 0, 3600);
        } else if (strcmp(a, "--setup-timeout") == 0) {
            o->setup_timeout_s = num(a, v, 1, 3600);
        } else if (strcmp(a, "--connect-concurrency") == 0) {
            o->connect_conc = (int)num(a, v, 1, 100000);
        } else if (strcmp(a, "--server-pid") == 0) {
            o->server_pid = (int)num(a, v, 1, 1 << 30);
        } else if (strcmp(a, "--leave-every") == 0) {
            o->leave_every = (int)num(a, v, 0, 1e9);
        } else if (strcmp(a, "--reconnect-every") == 0) {
            o->reconnect_every = (int)num(a, v, 0, 1e9);
        } else if (strcmp(a, "--label") == 0) {
            o->label = v;
        } else {
            die("unknown option %s (see --help)", a);
        }
    }
    if (o->rate < 0)
        o->rate = o->mode == M_FANOUT ? 5 : o->mode == M_MIXED ? 100 : 0;
    if (o->mode == M_FANOUT && o->rate == 0)
        die("fanout needs --rate > 0 (changes per second)");
    if (o->mode == M_FANOUT || o->mode == M_ECHO)
        o->topics = 1;
    if (o->mode == M_MIXED && o->rate == 0)
        die("mixed needs --rate > 0");
}

static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need > rl.rlim_cur)
        die("%d connections need %d file descriptors; the hard limit is %llu", g.o.conns, need,
            (unsigned long long)rl.rlim_cur);
}

/* This process's CPU time and run-queue wait so far, from /proc/self/schedstat (ns); both 0
 * when it cannot be read. The load generator shares the box with the server: when it is the
 * bottleneck (a core of CPU, or starved in the run queue by the server's threads), the figures
 * measure it rather than the server, and the JSON line says so. */
static void self_sched(int64_t *cpu, int64_t *runq)
{
    long long c = 0, w = 0;
    FILE *f = fopen("/proc/self/schedstat", "r");
    if (f != NULL) {
        if (fscanf(f, "%lld %lld", &c, &w) != 2)
            c = w = 0;
        fclose(f);
    }
    *cpu = c;
    *runq = w;
}

static double load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[EPOLL_BATCH];
    int n = epoll_wait(g.ep, evs, EPOLL_BATCH, timeout_ms);
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) {
        conn *c = &g.c[evs[i].data.u32];
        if (c->fd >= 0)
            on_event(c, evs[i].events, now);
    }
}

/* Starts connections that are due (setup, or mixed mode reconnects), within the concurrency. */
static int next_to_connect;

static void pump_connects(int64_t now)
{
    while (g.ph == PH_SETUP && next_to_connect < g.nconns && g.connecting < g.o.connect_conc)
        start_connect(&g.c[next_to_connect++]);
    if (g.o.mode != M_MIXED || g.ph == PH_SETUP)
        return;
    for (int i = 0; i < g.nconns && g.connecting < g.o.connect_conc; i++) {
        conn *c = &g.c[i];
        if (c->st == C_IDLE && c->reconnect_at != 0 && now >= c->reconnect_at) {
            c->reconnect_at = 0;
            start_connect(c);
        }
    }
}

/* Once a second: heartbeats, patches that never came, mixed-mode reconnects. */
static void sweep(int64_t now)
{
    for (int i = 0; i < g.nconns; i++) {
        conn *c = &g.c[i];
        if (c->fd < 0 || c->st != C_OPEN)
            continue;
        if (now >= c->next_hb && g.o.mode != M_ECHO) {
            c->next_hb = now + (int64_t)HEARTBEAT_MS * 1000000;
            send_msg(c, "null", c->next_ref++, "h", "phoenix", "heartbeat", "{}");
            if (c->fd < 0)
                continue;
        }
        if (c->count > 0)
            complete(c, now);
    }
}

static void rate_sends(int64_t now)
{
    int sent = 0;
    while (now >= g.next_due && sent < MAX_SENDS_PER_TURN) {
        conn *c = NULL;
        if (g.o.mode == M_FANOUT) {
            c = &g.c[g.nconns - 1];
        } else {
            for (int k = 0; k < g.nconns; k++) {
                conn *cand = &g.c[(g.rr++) % (unsigned)g.nconns];
                if (cand->ready && cand->fd >= 0) {
                    c = cand;
                    break;
                }
            }
        }
        if (c == NULL || c->fd < 0 || !c->ready)
            g.overruns++;
        else
            send_event(c, g.next_due);
        g.next_due += (int64_t)g.interval_ns;
        sent++;
    }
}

static void sample_rss(int64_t now)
{
    if (g.o.server_pid == 0 || now < g.next_rss)
        return;
    g.next_rss = now + (int64_t)RSS_SAMPLE_MS * 1000000;
    procmem pm;
    if (read_procmem(g.o.server_pid, &pm) != 0)
        return;
    if (g.rss_n < (int)(sizeof g.rss_series / sizeof *g.rss_series))
        g.rss_series[g.rss_n++] = pm.rss_kb;
    if (g.rss_at_60s == 0 && now - g.t_measure >= 60LL * 1000000000)
        g.rss_at_60s = pm.rss_kb;
}

static void enter_phase(enum phase ph, int64_t now)
{
    g.ph = ph;
    /* A mark for tools that sample the server during the measured window (bench/run's
     * per-thread CPU and context-switch sampling). */
    if (ph == PH_MEASURE || ph == PH_DRAIN) {
        self_sched(&g.cpu_ns[ph == PH_DRAIN], &g.runq_ns[ph == PH_DRAIN]);
        fprintf(stderr, "wsload: %s\n", ph == PH_MEASURE ? "measuring" : "measured");
    }
    if (ph == PH_WARMUP || ph == PH_MEASURE) {
        if (ph == PH_MEASURE)
            g.t_measure = now;
        if (g.o.rate > 0 && ph == PH_WARMUP) {
            g.interval_ns = 1e9 / g.o.rate;
            g.next_due = now;
        }
        if (g.o.rate == 0) /* closed loop: prime every connection */
            for (int i = 0; i < g.nconns; i++)
                complete(&g.c[i], now);
    }
}

static void liveness(int *alive)
{
    int64_t now = now_ns();
    for (int i = 0; i < g.nconns; i++) {
        conn *c = &g.c[i];
        c->hb_ok = 0;
        if (c->fd >= 0 && c->st == C_OPEN)
            send_msg(c, "null", c->next_ref++, "h", "phoenix", "heartbeat", "{}");
    }
    int64_t until = now + (int64_t)LIVENESS_MS * 1000000;
    for (;;) {
        int n = 0;
        for (int i = 0; i < g.nconns; i++)
            n += g.c[i].hb_ok;
        *alive = n;
        if (n == g.nconns || now_ns() >= until || stop_requested)
            return;
        poll_once(MAX_SLEEP_MS);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    opts *o = &g.o;
    g.nconns = o->conns + (o->mode == M_FANOUT ? 1 : 0);
    raise_nofile(g.nconns + 64);
    snprintf(g.runid, sizeof g.runid, "%ld", (long)getpid());
    rng_state ^= (uint64_t)now_ns() ^ (uint64_t)getpid() << 20;

    memset(&g.addr, 0, sizeof g.addr);
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &g.addr.sin_addr) != 1)
        die("--host must be an IPv4 address, got \"%s\"", o->host);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0)
        die("epoll_create1: %s", strerror(errno));

    g.c = calloc((size_t)g.nconns, sizeof *g.c);
    if (g.c == NULL)
        die("out of memory");
    for (int i = 0; i < g.nconns; i++) {
        conn *c = &g.c[i];
        c->fd = -1;
        c->idx = i;
        c->next_ref = 1;
        c->t = calloc((size_t)o->topics, sizeof *c->t);
        c->ring = malloc(DEFAULT_RING * sizeof *c->ring);
        if (c->t == NULL || c->ring == NULL)
            die("out of memory");
        for (int m = 0; m < o->topics; m++) {
            c->t[m].version = -1;
            /* table mode: every topic is a table; mixed: odd topics are tables */
            c->t[m].kind = o->mode == M_TABLE || (o->mode == M_MIXED && (m % 2) == 1);
        }
    }
    if (o->mode == M_FANOUT)
        g.c[g.nconns - 1].writer = 1;

    procmem before = {0}, after = {0};
    int have_mem = o->server_pid != 0 && read_procmem(o->server_pid, &before) == 0;
    double load_start = load1();

    int64_t t_start = now_ns();
    int64_t setup_deadline = t_start + (int64_t)(o->setup_timeout_s * 1e9);
    int64_t last_sweep = t_start, last_progress = t_start;
    int64_t t_ready = 0;
    int alive = -1;

    /* Setup: connect and join everything. */
    while (!stop_requested) {
        int64_t now = now_ns();
        pump_connects(now);
        if (g.ready + g.failed_setup >= g.nconns && g.connecting == 0 &&
            next_to_connect >= g.nconns)
            break;
        if (g.ready == g.nconns)
            break;
        if (now >= setup_deadline) {
            fprintf(stderr, "wsload: setup deadline: %d of %d ready\n", g.ready, g.nconns);
            break;
        }
        if (now - last_progress > 5000000000LL) {
            fprintf(stderr, "wsload: setup: %d of %d ready\n", g.ready, g.nconns);
            last_progress = now;
        }
        if (now - last_sweep > 1000000000LL) {
            sweep(now);
            last_sweep = now;
        }
        poll_once(MAX_SLEEP_MS);
    }
    t_ready = now_ns();
    g.setup_failures = (uint64_t)(g.nconns - g.ready);
    if (g.ready == 0) {
        fprintf(stderr, "wsload: no connection is ready; nothing to measure\n");
        printf("{\"tool\":\"wsload\",\"mode\":\"%s\",\"label\":\"%s\",\"conns\":%d,"
               "\"error\":\"no connection ready\",\"setup_failures\":%llu}\n",
               mode_names[o->mode], o->label, o->conns, (unsigned long long)g.setup_failures);
        return 1;
    }
    if (o->mode == M_FANOUT && !g.c[g.nconns - 1].ready) {
        fprintf(stderr, "wsload: the fanout writer could not join\n");
        return 1;
    }

    /* Warm-up, measurement, drain. */
    int64_t now = now_ns();
    g.next_rss = now;
    enter_phase(PH_WARMUP, now);
    int64_t t_measure = now + (int64_t)(o->warmup_s * 1e9);
    int64_t t_end = t_measure + (int64_t)(o->duration_s * 1e9);
    if (o->warmup_s == 0)
        enter_phase(PH_MEASURE, now);
    while (!stop_requested) {
        now = now_ns();
        if (g.ph == PH_WARMUP && now >= t_measure)
            enter_phase(PH_MEASURE, now);
        if (g.ph == PH_MEASURE && now >= t_end) {
            enter_phase(PH_DRAIN, now);
            break;
        }
        if (o->rate > 0 && o->mode != M_IDLE)
            rate_sends(now);
        pump_connects(now);
        if (o->mode == M_MIXED)
            sample_rss(now);
        if (now - last_sweep > 1000000000LL) {
            sweep(now);
            last_sweep = now;
        }
        int wait = MAX_SLEEP_MS;
        if (o->rate > 0 && o->mode != M_IDLE) {
            int64_t until = (g.next_due - now) / 1000000;
            wait = until < 0 ? 0 : until < MAX_SLEEP_MS ? (int)until : MAX_SLEEP_MS;
        }
        poll_once(wait);
    }
    int64_t t_stop = now_ns();
    if (g.cpu_ns[1] == 0 && g.t_measure != 0) /* stopped by a signal, not by the clock */
        self_sched(&g.cpu_ns[1], &g.runq_ns[1]);
    double measured_s = (double)(t_stop - g.t_measure) / 1e9;
    if (g.t_measure == 0)
        measured_s = 0;

    /* Drain: outstanding events (and fan-out deliveries) may still finish. */
    int64_t drain_until = t_stop + (int64_t)DRAIN_MS * 1000000;
    while (!stop_requested && now_ns() < drain_until) {
        int outstanding = 0;
        for (int i = 0; i < g.nconns; i++)
            outstanding += (int)g.c[i].count;
        if (o->mode == M_FANOUT) {
            uint64_t expected = 0;
            for (size_t k = 0; k < g.fan_n; k++)
                if (g.fan[k].t_due >= 0)
                    expected += (uint64_t)o->conns;
            if (g.fan_deliveries < expected)
                outstanding = 1;
        }
        if (outstanding == 0)
            break;
        poll_once(MAX_SLEEP_MS);
        int64_t t = now_ns();
        if (t - last_sweep > 1000000000LL) {
            sweep(t);
            last_sweep = t;
        }
    }
    if (have_mem)
        read_procmem(o->server_pid, &after);
    if (o->mode == M_IDLE)
        liveness(&alive);
    g.ph = PH_DONE;

    /* Report. */
    uint64_t fan_expected = 0, fan_complete = 0;
    if (o->mode == M_FANOUT) {
        for (size_t k = 0; k < g.fan_n; k++) {
            if (g.fan[k].t_due < 0)
                continue;
            fan_expected += (uint64_t)o->conns;
            if (g.fan[k].count == (uint32_t)o->conns) {
                fan_complete++;
                hist_add(&g.fan_all, (int64_t)g.fan[k].max_us * 1000);
            }
        }
    }
    FILE *out = stdout;
    fprintf(out, "{\"tool\":\"wsload\",\"mode\":\"%s\",\"label\":\"%s\",\"conns\":%d,"
            "\"topics\":%d,\"rate\":%g,\"inflight\":%d,\"duration_s\":%.2f,\"setup_s\":%.2f,"
            "\"load1_start\":%.2f,\"load1_end\":%.2f",
            mode_names[o->mode], o->label, o->conns, o->topics, o->rate, o->inflight, measured_s,
            (double)(t_ready - t_start) / 1e9, load_start, load1());
    double secs = measured_s > 0 ? measured_s : 1;
    /* Fractions of one core over the measured window: near 1 (CPU) or high (run-queue wait:
     * runnable but not running), the load generator limited the figures, not the server. */
    fprintf(out, ",\"client_cpu\":%.2f,\"client_runq_wait\":%.2f",
            (double)(g.cpu_ns[1] - g.cpu_ns[0]) / 1e9 / secs,
            (double)(g.runq_ns[1] - g.runq_ns[0]) / 1e9 / secs);
    if (o->mode == M_FANOUT) {
        uint64_t changes = fan_expected / (uint64_t)o->conns;
        fprintf(out, ",\"changes\":%llu,\"changes_per_s\":%.1f,\"deliveries\":%llu,"
                "\"deliveries_expected\":%llu,\"deliveries_per_s\":%.0f,"
                "\"changes_complete\":%llu",
                (unsigned long long)changes, (double)changes / secs,
                (unsigned long long)g.fan_deliveries, (unsigned long long)fan_expected,
                (double)g.fan_deliveries / secs, (unsigned long long)fan_complete);
        hist_json(out, "delivery_ms", &g.patch);
        hist_json(out, "all_subscribers_ms", &g.fan_all);
        hist_json(out, "reply_ms", &g.reply);
    } else if (o->mode != M_IDLE) {
        fprintf(out, ",\"events\":%llu,\"events_per_s\":%.1f", (unsigned long long)g.events_done,
                (double)g.events_done / secs);
        hist_json(out, "reply_ms", &g.reply);
        if (o->mode != M_ECHO)
            hist_json(out, "patch_ms", &g.patch);
    }
    if (have_mem) {
        long n = g.ready > 0 ? g.ready : 1;
        fprintf(out, ",\"server\":{\"rss_kb_before\":%ld,\"rss_kb\":%ld,\"pte_kb\":%ld,"
                "\"threads\":%ld,\"system_kb\":%ld,\"rss_kb_per_conn\":%.1f,"
                "\"system_kb_per_conn\":%.1f,\"delta_system_kb_per_conn\":%.1f}",
                before.rss_kb, after.rss_kb, after.pte_kb, after.threads, procmem_system_kb(&after),
                (double)after.rss_kb / (double)n, (double)procmem_system_kb(&after) / (double)n,
                (double)(procmem_system_kb(&after) - procmem_system_kb(&before)) / (double)n);
    }
    if (o->mode == M_IDLE)
        fprintf(out, ",\"joined\":%d,\"alive\":%d", g.ready, alive);
    if (o->mode == M_MIXED) {
        fprintf(out, ",\"reconnects\":%llu,\"leaves\":%llu,\"rss_kb_series\":[",
                (unsigned long long)g.reconnects, (unsigned long long)g.leaves);
        for (int i = 0; i < g.rss_n; i++)
            fprintf(out, "%s%ld", i ? "," : "", g.rss_series[i]);
        long last = g.rss_n ? g.rss_series[g.rss_n - 1] : 0;
        fprintf(out, "],\"rss_kb_at_60s\":%ld,\"rss_kb_end\":%ld,\"rss_growth_pct\":%.1f",
                g.rss_at_60s, last,
                g.rss_at_60s > 0 ? 100.0 * (double)(last - g.rss_at_60s) / (double)g.rss_at_60s : 0.0);
    }
    fprintf(out, ",\"errors\":%llu,\"error_reasons\":\"%s\",\"disconnects\":%llu,"
            "\"setup_failures\":%llu,\"version_gaps\":%llu,\"missing_patches\":%llu,"
            "\"resyncs\":%llu,\"overruns\":%llu,\"frames_in\":%llu,\"bytes_in\":%llu}\n",
            (unsigned long long)g.errors, g.err_reasons, (unsigned long long)g.disconnects,
            (unsigned long long)g.setup_failures, (unsigned long long)g.gaps,
            (unsigned long long)g.missing_patches, (unsigned long long)g.resyncs,
            (unsigned long long)g.overruns, (unsigned long long)g.frames_in,
            (unsigned long long)g.bytes_in);
    fflush(out);

    for (int i = 0; i < g.nconns; i++) {
        if (g.c[i].fd >= 0)
            close(g.c[i].fd);
        free(g.c[i].rbuf);
        free(g.c[i].wbuf);
        free(g.c[i].t);
        free(g.c[i].ring);
    }
    free(g.c);
    free(g.fan);
    free(g.reply.v);
    free(g.patch.v);
    free(g.fan_all.v);
    close(g.ep);
    return 0;
}
