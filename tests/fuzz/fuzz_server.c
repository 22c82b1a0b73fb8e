/*
 * fuzz_server.c -- libFuzzer target for the server core: WebSocket frame reassembly
 * (sc_conn_frame), message decoding (proto.c) and the dispatcher (joins, leaves, events in the
 * three dialects, duplicate/gap detection, state publishing), driven through two fake
 * connections with no sockets, on the real test plugins (tests/server/plugins, set "good") and
 * the example handlers (handlers/), copied side by side into one directory at build time.
 *
 * Input: lines; the first byte of a line says what to do, the rest of the line is its payload.
 * Upper case acts on connection A (Phoenix mount), lower case on connection B (StateChannel
 * mount):
 *   T  one text frame, FIN set          M  one complete message (sc_conn_message)
 *   F  first fragment (text, no FIN)    C  continuation, no FIN      E  continuation with FIN
 *   B  binary frame   P ping   Q pong   X  close frame (payload: code and reason)
 *   O  a frame whose opcode is the first payload byte & 15 (FIN from bit 4), payload the rest
 *   D  drain the outbound queue now     K  close the connection and open a new one
 *   H  GET /api/state/<payload>         S  GET /metrics
 * A line "?<json>" first in the input sets the sockets' query params (passed to connect hooks
 * and joins). At most FUZZ_MAX_RECORDS lines are run.
 *
 * One server for the whole process (starting one per input costs two thread creations and
 * joins, which made runs ten times slower); after each input its connections are closed, the
 * broadcast queue is waited for and every state is destroyed (inst_destroy_all), so inputs do
 * not see each other's states and LeakSanitizer (on in libFuzzer's default run) sees a run's
 * memory freed. What outlives an input is bounded: metrics counters and plugin module data.
 *
 * Properties, besides the sanitizers: every write holds whole, well-formed, unmasked frames
 * with FIN set and a known opcode, control frames of at most 125 bytes; text frames are valid
 * UTF-8 without raw control characters holding a JSON array [join_ref, ref, topic, event, payload] with a string event and a
 * string (or, answering an unreadable message, null) topic; a close frame carries a valid code; nothing follows a close frame; /api/state and
 * /metrics bodies are well-formed (JSON; text).
 */
#define _GNU_SOURCE /* RTLD_NOLOAD */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

#include "core.h"
#include "fuzz_util.h"
#include "internal.h"
#include "util.h"

/* Lines run per input: below the default rate limit (200 messages per socket), so whether a
 * message is rate-limited never depends on how fast the machine runs the input. */
#define FUZZ_MAX_RECORDS 64

/* How long the end of an input waits for the broadcast queue to empty (1 ms polls): a
 * broadcast is delivered in microseconds; the bound only keeps a stuck dispatcher from
 * hanging the fuzzer (libFuzzer's -timeout would then report it). */
#define FUZZ_INFO_WAIT_POLLS 5000

/* RFC 6455 5.5: a control frame's payload is at most 125 bytes. */
#define FUZZ_WS_CONTROL_MAX 125

typedef struct fconn {
    sc_conn *c;
    int closed;  /* a close frame was written: nothing may follow it */
    int mount;   /* 1: StateChannel mount */
} fconn;

static char plugin_dir[4096];
static sc_server *srv;

/* Keeps every plugin loaded for the life of the process, whatever the server does with its
 * own handles: libFuzzer registers a module's coverage counters once, at load. */
static void pin_plugins(const char *dir)
{
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL, "no plugin directory %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".so") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FUZZ_CHECK(dlopen(path, RTLD_NOW | RTLD_LOCAL) != NULL, "cannot load %s: %s", path,
                   dlerror());
    }
    closedir(d);
}

static void free_server(void)
{
    sc_server_free(srv);
    srv = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("SC_FUZZ_PLUGINS");
    snprintf(plugin_dir, sizeof plugin_dir, "%s", dir ? dir : SC_FUZZ_PLUGINS);
    pin_plugins(plugin_dir);
    sc_log_set_quiet(1);
    sc_config cfg;
    sc_config_defaults(&cfg);
    cfg.writer_threads = 0; /* queues drained here, on the fuzzing thread */
    cfg.handlers_dir = plugin_dir;
    char err[512];
    srv = sc_server_new(&cfg, err, sizeof err);
    FUZZ_CHECK(srv != NULL, "the server did not start: %s", err);
    /* Registered after LeakSanitizer's own exit check, so it runs first: the check at exit then
     * covers the server's whole teardown too (threads, plugins, metrics). */
    atexit(free_server);
    return 0;
}

/* Between inputs: no pending broadcast, no session or state left. */
static void server_reset(sc_server *s)
{
    for (int i = 0; i < FUZZ_INFO_WAIT_POLLS; i++) {
        pthread_mutex_lock(&s->info_mu);
        size_t pending = s->info_len;
        pthread_mutex_unlock(&s->info_mu);
        if (pending == 0)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    sess_destroy_all(s); /* sessions joined with _sc outlive their channel (up to the TTL) */
    inst_destroy_all(s);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void check_text(const char *p, size_t n)
{
    FUZZ_CHECK(utf8_valid((const unsigned char *)p, n), "a text frame is not UTF-8: %.*s",
               (int)(n > 300 ? 300 : n), p);
    /* Compact JSON has no raw control characters anywhere (cJSON's parser would let some
     * through inside strings, a browser's JSON.parse does not). */
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)p[i] >= 0x20, "a raw control character 0x%02x in a text frame: %.*s",
                   (unsigned char)p[i], (int)(n > 300 ? 300 : n), p);
    cJSON *m = cJSON_ParseWithLength(p, n);
    FUZZ_CHECK(m != NULL, "a text frame is not JSON: %.*s", (int)(n > 300 ? 300 : n), p);
    /* The topic is null in the reply to a message whose topic could not be read. */
    const cJSON *topic = cJSON_GetArrayItem(m, 2);
    FUZZ_CHECK(cJSON_IsArray(m) && cJSON_GetArraySize(m) == 5 &&
                   (cJSON_IsString(topic) || cJSON_IsNull(topic)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 3)),
               "not a [join_ref, ref, topic, event, payload] message: %.*s",
               (int)(n > 300 ? 300 : n), p);
    cJSON_Delete(m);
}

/* The connection's write function: checks every frame of every write. */
static int fuzz_write(void *user, const void *buf, size_t len)
{
    fconn *f = user;
    const unsigned char *p = buf;
    size_t i = 0;
    FUZZ_CHECK(len > 0, "an empty write");
    while (i < len) {
        FUZZ_CHECK(len - i >= 2, "a write ends inside a frame header");
        FUZZ_CHECK(!f->closed, "a frame after the close frame");
        unsigned b0 = p[i], b1 = p[i + 1];
        FUZZ_CHECK(b0 & 0x80, "a frame without FIN");
        FUZZ_CHECK((b0 & 0x70) == 0, "a frame with RSV bits");
        FUZZ_CHECK((b1 & 0x80) == 0, "a server frame is masked");
        int op = (int)(b0 & 0x0F);
        uint64_t n = b1 & 0x7F;
        size_t h = 2;
        if (n == 126) {
            FUZZ_CHECK(len - i >= 4, "a write ends inside a frame header");
            n = ((uint64_t)p[i + 2] << 8) | p[i + 3];
            FUZZ_CHECK(n >= 126, "a 16-bit length that fits in 7 bits");
            h = 4;
        } else if (n == 127) {
            FUZZ_CHECK(len - i >= 10, "a write ends inside a frame header");
            n = 0;
            for (int k = 0; k < 8; k++)
                n = (n << 8) | p[i + 2 + k];
            FUZZ_CHECK(n > 0xFFFF, "a 64-bit length that fits in 16 bits");
            h = 10;
        }
        FUZZ_CHECK(n <= len - i - h, "a frame is split across writes");
        const char *payload = (const char *)p + i + h;
        switch (op) {
        case 0x1:
            check_text(payload, (size_t)n);
            break;
        case 0x8:
            FUZZ_CHECK(n <= FUZZ_WS_CONTROL_MAX, "a close frame of %llu bytes", (unsigned long long)n);
            FUZZ_CHECK(n != 1, "a close frame with half a code");
            if (n >= 2) {
                int code = ((unsigned char)payload[0] << 8) | (unsigned char)payload[1];
                FUZZ_CHECK((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                               (code >= 3000 && code <= 4999),
                           "close code %d may not be sent", code);
                FUZZ_CHECK(utf8_valid((const unsigned char *)payload + 2, (size_t)n - 2),
                           "a close reason is not UTF-8");
            }
            f->closed = 1;
            break;
        case 0x9:
        case 0xA:
            FUZZ_CHECK(n <= FUZZ_WS_CONTROL_MAX, "a control frame of %llu bytes",
                       (unsigned long long)n);
            break;
        default:
            FUZZ_CHECK(0, "a frame with opcode %d", op);
        }
        i += h + (size_t)n;
    }
    return 0;
}

static void conn_open(sc_server *s, fconn *f, const cJSON *params, int mount)
{
    memset(f, 0, sizeof *f);
    f->mount = mount;
    (void)sc_server_connect_check(s, params, NULL);
    f->c = sc_conn_new(s, params, NULL, mount, fuzz_write, f);
    FUZZ_CHECK(f->c != NULL, "sc_conn_new failed");
}

static void conn_drain(fconn *f) { outq_drain(sc_conn_outq(f->c)); }

static void conn_end(fconn *f)
{
    conn_drain(f);
    sc_conn_close(f->c);
    f->c = NULL;
}

static void http_state(sc_server *s, const char *topic, size_t n, const cJSON *params)
{
    char *t = strndup(topic, n);
    FUZZ_CHECK(t != NULL, "out of memory");
    sbuf body = {0};
    int status = sc_http_state(s, t, params, NULL, &body);
    FUZZ_CHECK(status == 200 || status == 403 || status == 404 || status == 500,
               "/api/state answered %d", status);
    cJSON *j = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
    FUZZ_CHECK(j != NULL, "/api/state body is not JSON: %.*s", (int)body.len,
               body.data ? body.data : "");
    cJSON_Delete(j);
    sbuf_free(&body);
    free(t);
}

static void metrics(sc_server *s)
{
    sbuf out = {0};
    sc_http_metrics(s, &out);
    FUZZ_CHECK(out.len > 0 && utf8_valid((const unsigned char *)out.data, out.len),
               "/metrics is empty or not UTF-8");
    sbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_server *s = srv;
    const char *p = (const char *)data, *end = p + size;
    cJSON *params = NULL;
    if (p < end && *p == '?') {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        params = cJSON_ParseWithLength(p + 1, (size_t)(stop - p - 1));
        if (!cJSON_IsObject(params)) {
            cJSON_Delete(params);
            params = NULL;
        }
        p = nl ? nl + 1 : end;
    }
    fconn conns[2];
    conn_open(s, &conns[0], params, 0);
    conn_open(s, &conns[1], params, 1);

    for (int rec = 0; rec < FUZZ_MAX_RECORDS && p < end; rec++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        char cmd = *p;
        const char *pl = p + 1;
        size_t n = stop > pl ? (size_t)(stop - pl) : 0;
        p = nl ? nl + 1 : end;
        fconn *f = &conns[cmd >= 'a' && cmd <= 'z' ? 1 : 0];
        switch (cmd & ~0x20) { /* upper case */
        case 'T': sc_conn_frame(f->c, 1, 0x1, pl, n); break;
        case 'M': sc_conn_message(f->c, pl, n); break;
        case 'F': sc_conn_frame(f->c, 0, 0x1, pl, n); break;
        case 'C': sc_conn_frame(f->c, 0, 0x0, pl, n); break;
        case 'E': sc_conn_frame(f->c, 1, 0x0, pl, n); break;
        case 'B': sc_conn_frame(f->c, 1, 0x2, pl, n); break;
        case 'P': sc_conn_frame(f->c, 1, 0x9, pl, n); break;
        case 'Q': sc_conn_frame(f->c, 1, 0xA, pl, n); break;
        case 'X': sc_conn_frame(f->c, 1, 0x8, pl, n); break;
        case 'O':
            if (n > 0)
                sc_conn_frame(f->c, (pl[0] >> 4) & 1, pl[0] & 0x0F, pl + 1, n - 1);
            break;
        case 'D': conn_drain(f); break;
        case 'K': {
            int mount = f->mount;
            conn_end(f);
            conn_open(s, f, params, mount);
            break;
        }
        case 'H': http_state(s, pl, n, params); break;
        case 'S': metrics(s); break;
        default: break;
        }
    }
    conn_end(&conns[0]);
    conn_end(&conns[1]);
    cJSON_Delete(params);
    server_reset(s);
    return 0;
}
