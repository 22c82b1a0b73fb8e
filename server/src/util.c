/*
 * util.c -- see util.h. Every function is linear in its input; none keeps global state except
 * the log's quiet flag.
 */
#define _GNU_SOURCE /* getrandom */
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "statechannel/patch.h"

void sbuf_free(sbuf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

void sbuf_reserve(sbuf *b, size_t extra)
{
    if (b->oom)
        return;
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->oom = 1;
        return;
    }
    b->data = d;
    b->cap = cap;
}

void sbuf_put(sbuf *b, const void *data, size_t len)
{
    sbuf_reserve(b, len);
    if (b->oom)
        return;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_put(b, s, strlen(s)); }

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        sbuf_put(b, small, (size_t)n);
        return;
    }
    sbuf_reserve(b, (size_t)n);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_put_u64(sbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sbuf_put(b, tmp, (size_t)n);
}

void sbuf_put_jstr(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sbuf_reserve(b, strlen(s) + 2);
    sbuf_put(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sbuf_put(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"': sbuf_put(b, "\\\"", 2); break;
        case '\\': sbuf_put(b, "\\\\", 2); break;
        case '\n': sbuf_put(b, "\\n", 2); break;
        case '\r': sbuf_put(b, "\\r", 2); break;
        case '\t': sbuf_put(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sbuf_put(b, u, 6);
        }
        }
    }
    sbuf_put(b, run, strlen(run));
    sbuf_put(b, "\"", 1);
}

void sbuf_put_json(sbuf *b, const cJSON *item)
{
    sc_buf tmp = {0};
    if (sc_json_write(&tmp, item) != SC_PATCH_OK) {
        b->oom = 1;
        sc_buf_free(&tmp);
        return;
    }
    sbuf_put(b, tmp.data, tmp.len);
    sc_buf_free(&tmp);
}

/* ---- logging ------------------------------------------------------------------------------- */

static atomic_int log_quiet;

void sc_log_set_quiet(int quiet) { atomic_store(&log_quiet, quiet); }

void sc_vlogf(const char *level, const char *fmt, va_list ap)
{
    if (atomic_load(&log_quiet) && (strcmp(level, "debug") == 0 || strcmp(level, "info") == 0))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One fprintf per line so concurrent threads do not interleave inside a line. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level, msg);
}

void sc_logf(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sc_vlogf(level, fmt, ap);
    va_end(ap);
}

/* ---- clocks and randomness ------------------------------------------------------------------- */

int64_t sc_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec sc_realtime_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t sc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sc_clock_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sc_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sc_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    if (nbytes > sizeof raw || sc_random(raw, nbytes) != 0)
        return -1;
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

int sc_utf8_valid(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* ---- base64 ----------------------------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

char *sc_base64_decode(const char *in, size_t len, size_t *out_len)
{
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return NULL;
    char *out = malloc(len / 4 * 3 + 3);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return out;
}

/* ---- query strings ------------------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *sc_url_decode(const char *src, size_t len, int plus_is_space)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '%' && i + 2 < len && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            out[o++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        } else if (src[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = src[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Puts value at key path (already split into segments) in root. "" segment = array append. */
static void query_put(cJSON *root, char **segs, size_t nsegs, const char *value)
{
    cJSON *cur = root;
    for (size_t i = 0; i < nsegs; i++) {
        int last = (i + 1 == nsegs);
        const char *seg = segs[i];
        int next_is_array = !last && segs[i + 1][0] == '\0';
        if (cJSON_IsArray(cur)) {
            /* Only "a[]=x" style appends are supported inside arrays. */
            if (last) {
                cJSON_AddItemToArray(cur, cJSON_CreateString(value));
                return;
            }
            cJSON *child = next_is_array ? cJSON_CreateArray() : cJSON_CreateObject();
            cJSON_AddItemToArray(cur, child);
            cur = child;
            continue;
        }
        if (!cJSON_IsObject(cur))
            return;
        cJSON *existing = cJSON_GetObjectItemCaseSensitive(cur, seg);
        if (last) {
            if (existing != NULL)
                cJSON_ReplaceItemInObjectCaseSensitive(cur, seg, cJSON_CreateString(value));
            else
                cJSON_AddItemToObject(cur, seg, cJSON_CreateString(value));
            return;
        }
        int want_array = next_is_array;
        if (existing == NULL || (want_array ? !cJSON_IsArray(existing) : !cJSON_IsObject(existing))) {
            cJSON *child = want_array ? cJSON_CreateArray() : cJSON_CreateObject();
            if (existing != NULL)
                cJSON_ReplaceItemInObjectCaseSensitive(cur, seg, child);
            else
                cJSON_AddItemToObject(cur, seg, child);
            existing = child;
        }
        cur = existing;
    }
}

cJSON *sc_query_parse(const char *qs)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL || qs == NULL)
        return root;
    const char *p = qs;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char *key = sc_url_decode(p, klen, 1);
        char *val = eq ? sc_url_decode(eq + 1, plen - klen - 1, 1) : strdup("");
        if (key != NULL && val != NULL && key[0] != '\0') {
            /* Split "a[b][]" into segments "a", "b", "". */
            char *segs[SC_QUERY_MAX_DEPTH + 1];
            size_t n = 0;
            char *br = strchr(key, '[');
            segs[n++] = key;
            while (br != NULL && n <= SC_QUERY_MAX_DEPTH) {
                char *close = strchr(br, ']');
                if (close == NULL)
                    break;
                *br = '\0';
                *close = '\0';
                segs[n++] = br + 1;
                br = (close[1] == '[') ? close + 1 : NULL;
            }
            query_put(root, segs, n, val);
        }
        free(key);
        free(val);
        if (end == NULL)
            break;
        p = end + 1;
    }
    return root;
}
