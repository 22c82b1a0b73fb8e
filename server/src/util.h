/*
 * util.h -- small helpers shared by the server's modules: a growable byte buffer, JSON string
 * escaping, logging, clocks, OS randomness, UTF-8 validation, base64 and query-string parsing.
 * Nothing here knows about sockets, civetweb, topics or plugins. Private to the server.
 */
#ifndef SC_SERVER_UTIL_H
#define SC_SERVER_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

/* A growable byte buffer; zero-initialize, free with sbuf_free(). data is NUL-terminated
 * whenever len > 0. Appends set oom instead of failing each call: check it once at the end. */
typedef struct sbuf {
    char *data; /* owned, malloc'd */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    int oom;    /* 1 once an append failed; the contents are then incomplete */
} sbuf;

void sbuf_free(sbuf *b);
void sbuf_reserve(sbuf *b, size_t extra);
void sbuf_put(sbuf *b, const void *data, size_t len);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_put_u64(sbuf *b, uint64_t v);
/* Appends s as a JSON string literal (quotes included, control characters escaped). */
void sbuf_put_jstr(sbuf *b, const char *s);
/* Appends item as compact JSON (the patch library's writer); on failure sets oom. */
void sbuf_put_json(sbuf *b, const cJSON *item);

/* Logging: one line per event to stderr, "2026-11-24T01:02:03.456Z level message". */
void sc_logf(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc_vlogf(const char *level, const char *fmt, va_list ap);
/* Silences sc_logf below "warn" (tests set it to keep output readable). */
void sc_log_set_quiet(int quiet);

int64_t sc_clock_ms(void);   /* CLOCK_MONOTONIC milliseconds */
int64_t sc_wall_ms(void);    /* CLOCK_REALTIME milliseconds since the epoch */
double sc_clock_sec(void);   /* CLOCK_MONOTONIC seconds, for durations */
/* CLOCK_REALTIME now + ms: the deadline pthread_cond_timedwait() takes on a default condvar. */
struct timespec sc_realtime_after_ms(int64_t ms);

/* Fills buf with len bytes from getrandom(2); returns 0, or -1 when the OS refuses. */
int sc_random(void *buf, size_t len);
/* Writes 2*nbytes lowercase hex digits of fresh random bytes plus a NUL into out. */
int sc_random_hex(char *out, size_t nbytes);

/* 1 when data[0..len) is valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
int sc_utf8_valid(const char *data, size_t len);

/* Decodes standard or url-safe base64, padding optional. Returns a new NUL-terminated string
 * (caller frees with free()), or NULL when the input is not base64. */
char *sc_base64_decode(const char *in, size_t len, size_t *out_len);

/* Parses a query string ("a=1&b[c]=2&d[]=x", percent-decoded, '+' is a space) into a new
 * JSON object (caller frees with cJSON_Delete()); never NULL except on allocation failure.
 * Nesting: a[b]=c gives {"a":{"b":"c"}}, a[]=x appends to an array; at most
 * SC_QUERY_MAX_DEPTH levels (deeper brackets are kept literally in the key). */
#define SC_QUERY_MAX_DEPTH 8 /* Plug's own limit is similar; params are small by nature */
cJSON *sc_query_parse(const char *qs);

/* Percent-decodes src[0..len) into a new string; plus_is_space for query strings. */
char *sc_url_decode(const char *src, size_t len, int plus_is_space);

#endif
