/*
 * write.c -- sc_buf and a compact JSON writer that prints the bytes cJSON_PrintUnformatted()
 * prints (cJSON 1.7.x), without cJSON's intermediate allocations.
 *
 * Why not call cJSON_PrintUnformatted(): the diff streams operations into one buffer, and
 * printing each value into its own malloc'd string then copying it costs an allocation and a
 * copy per value. This writer appends straight into the caller's buffer.
 *
 * Byte equality with cJSON (tests/patch/test_write.c checks it on many values):
 *   - numbers: NaN and infinities print "null"; others print with "%1.15g", or "%1.17g" when
 *     the 15-digit form does not read back within a relative DBL_EPSILON (cJSON's
 *     compare_double). The locale's decimal point becomes '.'. (cJSON 1.7.15 ignores valueint
 *     when printing; later versions print "%d" when valuedouble equals valueint, which differs
 *     only for -0. The test checks against the cJSON it is linked with.)
 *   - strings: '"' '\\' '\b' '\f' '\n' '\r' '\t' get two-character escapes, other bytes below
 *     0x20 print as \u00xx (lowercase hex); everything else, UTF-8 included, is copied.
 *     A NULL valuestring or key prints "".
 *   - raw items print their text verbatim; no whitespace anywhere.
 *
 * Speed: strings are written in one pass that finds runs of bytes needing no escape 16 at a
 * time (SSE2; 8 with a word trick elsewhere), a string's last partial block as one
 * overlapping block, and copies each run whole; the first 8 bytes are copied while looked at,
 * so a short key costs no call. Integers below 1e15 print without snprintf. Appends check
 * for room inline (write.h); growth is out of line.
 *
 * Complexity: linear in the output. Containers are walked with an explicit stack (a few
 * pointers per level; the first SC_WRITE_LOCAL_DEPTH levels on the C stack, deeper ones on the
 * heap), so nesting costs no C recursion: the server runs on ~100 KiB thread stacks. Nesting
 * deeper than SC_PATCH_MAX_DEPTH fails with SC_PATCH_ETOODEEP.
 */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include "write.h"

/* Levels of nesting tracked on the C stack before the writer moves its stack to the heap:
 * 32 pointers (256 bytes) cover almost every real document without an allocation. */
#define SC_WRITE_LOCAL_DEPTH 32

/* Smallest allocation of a buffer, so that small patches do not regrow several times. */
#define SC_BUF_MIN_CAP 256

int sc_buf_grow(sc_buf *buf, size_t extra)
{
    if (buf->cap - buf->len > extra) /* strictly: keep a byte for the NUL */
        return 0;
    if (extra > (size_t)-1 / 2 - buf->len - 1)
        return -1;
    size_t need = buf->len + extra + 1;
    size_t cap = buf->cap ? buf->cap : SC_BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    /* cJSON's hooks offer no realloc; growth is geometric, so copies stay linear overall. */
    char *data = cJSON_malloc(cap);
    if (data == NULL)
        return -1;
    if (buf->len)
        memcpy(data, buf->data, buf->len);
    data[buf->len] = '\0';
    if (buf->data)
        cJSON_free(buf->data);
    buf->data = data;
    buf->cap = cap;
    return 0;
}

void sc_buf_free(sc_buf *buf)
{
    if (buf == NULL)
        return;
    if (buf->data)
        cJSON_free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

/* cJSON's compare_double: equal within a relative DBL_EPSILON. */
static int close_enough(double a, double b)
{
    double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= max * DBL_EPSILON;
}

/* Integers below this magnitude print as their plain digits under "%1.15g" (15 significant
 * digits hold them exactly, so cJSON's 17-digit retry never applies). They are most numbers
 * in app state (ids, counts), so they skip snprintf, strtod and localeconv, and sizing one
 * counts its digits without printing it. */
#define SC_PLAIN_INT_LIMIT 1e15

/* 1 with *v set when d is an integer that prints as its plain digits; 0 for anything else
 * (fractions, large magnitudes, NaN, infinities, and -0, which prints "-0"). */
static int plain_int(double d, long long *v)
{
    if (!(d > -SC_PLAIN_INT_LIMIT && d < SC_PLAIN_INT_LIMIT)) /* NaN fails too */
        return 0;
    long long i = (long long)d;
    if ((double)i != d || (i == 0 && signbit(d)))
        return 0;
    *v = i;
    return 1;
}

static size_t decimal_digits(unsigned long long u)
{
    size_t n = 1;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

static size_t plain_int_size(long long v)
{
    return (v < 0) + decimal_digits(v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
}

/* Prints v's digits, NUL-terminated, and returns their count: the length is known first, so
 * the digits are written in place from the last one. */
static size_t format_plain_int(long long v, char *out)
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t len = plain_int_size(v);
    char *o = out + len;
    *o = '\0';
    do {
        *--o = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0)
        out[0] = '-';
    return len;
}

size_t sc_number_format(const cJSON *item, char *out)
{
    double d = item->valuedouble;
    long long v;
    if (plain_int(d, &v))
        return format_plain_int(v, out);
    if (isnan(d) || isinf(d)) {
        memcpy(out, "null", 5);
        return 4;
    }
    int len = snprintf(out, SC_NUMBER_BUF, "%1.15g", d);
    /* strtod reads exactly what cJSON's sscanf("%lg") reads, faster. */
    char *end = NULL;
    double test = strtod(out, &end);
    if (end == out || !close_enough(test, d))
        len = snprintf(out, SC_NUMBER_BUF, "%1.17g", d);
    if (len < 0)
        len = 0;
    const struct lconv *lc = localeconv();
    char point = (lc && lc->decimal_point) ? lc->decimal_point[0] : '.';
    if (point != '.') {
        for (int i = 0; i < len; i++)
            if (out[i] == point)
                out[i] = '.';
    }
    return (size_t)len;
}

size_t sc_number_size(const cJSON *item)
{
    long long v;
    if (plain_int(item->valuedouble, &v))
        return plain_int_size(v);
    char num[SC_NUMBER_BUF];
    return sc_number_format(item, num);
}

/* Extra bytes the escape of byte c needs beyond the byte itself: 1 for a two-character escape,
 * 5 for \u00xx, 0 when copied as is. */
static const unsigned char escape_extra[256] = {
    [0x00] = 5, [0x01] = 5, [0x02] = 5, [0x03] = 5, [0x04] = 5, [0x05] = 5, [0x06] = 5,
    [0x07] = 5, [0x08] = 1 /* \b */, [0x09] = 1 /* \t */, [0x0a] = 1 /* \n */, [0x0b] = 5,
    [0x0c] = 1 /* \f */, [0x0d] = 1 /* \r */, [0x0e] = 5, [0x0f] = 5, [0x10] = 5, [0x11] = 5,
    [0x12] = 5, [0x13] = 5, [0x14] = 5, [0x15] = 5, [0x16] = 5, [0x17] = 5, [0x18] = 5,
    [0x19] = 5, [0x1a] = 5, [0x1b] = 5, [0x1c] = 5, [0x1d] = 5, [0x1e] = 5, [0x1f] = 5,
    ['"'] = 1, ['\\'] = 1,
};

/* 1 when one of the 8 bytes in w needs escaping: below 0x20, '"' or '\\' (w ^ c then has a
 * zero byte: the classic has-zero-byte trick, exact for "any"). */
static int word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high) != 0;
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

#if defined(__SSE2__) && defined(__GNUC__)
/* Bit k set when byte k of v needs escaping. */
static unsigned escape_mask16(__m128i v)
{
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i last_control = _mm_set1_epi8(0x1f);
    /* min(v, 0x1f) == v exactly for the bytes v <= 0x1f (unsigned). */
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);
    __m128i hit = _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                     _mm_cmpeq_epi8(v, backslash)));
    return (unsigned)_mm_movemask_epi8(hit);
}

static __m128i load16(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}
#endif

/* Length of the longest prefix of the n bytes at p that a JSON string copies as they are
 * (none below 0x20, no '"', no '\\'). This scan is most of the writer's time, so it looks at
 * 16 bytes per step with SSE2 (every x86-64 has it), else 8 with a word trick, and a
 * string's last partial block is checked as one overlapping block or word, not byte by byte
 * (keys and short values are mostly that partial block). Only the block that holds an
 * escape is searched a byte at a time.
 * With copy_to, the blocks are also stored there as they are checked (the writer's case: the
 * string is read once, not scanned then memcpy'd). The stores may run past the prefix, up to
 * copy_to + n, with bytes the caller overwrites; so copy_to must have room for n bytes.
 * Always inlined so that the sizing uses (copy_to NULL) compile without the stores. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline size_t scan_plain(const unsigned char *p, size_t n, char *copy_to)
{
    size_t i = 0;
#if defined(__SSE2__) && defined(__GNUC__)
    for (; i + 16 <= n; i += 16) {
        __m128i v = load16(p + i);
        if (copy_to)
            _mm_storeu_si128((__m128i *)(void *)(copy_to + i), v);
        unsigned mask = escape_mask16(v);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
    if (i < n && n >= 16) { /* the last 16 bytes; those before i are known to be plain */
        __m128i v = load16(p + n - 16);
        if (copy_to)
            _mm_storeu_si128((__m128i *)(void *)(copy_to + n - 16), v);
        unsigned mask = escape_mask16(v) >> (i - (n - 16));
        return mask ? i + (size_t)__builtin_ctz(mask) : n;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w = load64(p + i);
        if (copy_to)
            memcpy(copy_to + i, &w, 8);
        if (word_needs_escape(w))
            goto bytes;
    }
    if (i < n && n >= 8) {
        uint64_t w = load64(p + n - 8);
        if (!word_needs_escape(w)) {
            if (copy_to)
                memcpy(copy_to + n - 8, &w, 8);
            return n;
        }
    }
bytes:
    for (; i < n && escape_extra[p[i]] == 0; i++)
        if (copy_to)
            copy_to[i] = (char)p[i];
    return i;
}

size_t sc_escape_extra(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t extra = 0, i = 0;
    for (;;) {
        i += scan_plain(p + i, n - i, NULL);
        if (i == n)
            return extra;
        extra += escape_extra[p[i++]];
    }
}

/* Bytes at the start of a string looked at one by one before strlen() and the block scan
 * take over: keys mostly end within them, and there one table lookup per byte finds both
 * the end (the NUL's entry is nonzero) and any escape, for less than the calls cost. */
#define SC_SHORT_STRING 8

size_t sc_string_size(const char *s)
{
    if (s == NULL)
        return 2;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < SC_SHORT_STRING && escape_extra[p[i]] == 0)
        i++;
    if (p[i] == '\0') /* readable: p[0..i) are not NUL */
        return i + 2;
    size_t n = i + strlen(s + i);
    return n + sc_escape_extra(s + i, n - i) + 2;
}

size_t sc_string_size_past(const char *s, size_t room)
{
    if (s == NULL)
        return 2;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < SC_SHORT_STRING && escape_extra[p[i]] == 0)
        i++;
    if (p[i] == '\0')
        return i + 2;
    size_t n = i + strlen(s + i);
    if (n + 2 > room) /* already past: escapes can only add */
        return n + 2;
    return n + sc_escape_extra(s + i, n - i) + 2;
}

/* Writes the escape of c (a byte escape_extra[] marks) at o; returns the end. */
static char *put_escape(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
        break;
    }
    return o;
}

/* Appends the n bytes at p escaped, then the closing quote, to a string literal buf already
 * holds the start of (it began at start). One pass: each run of plain bytes is copied as it
 * is found; room for the bytes as they are is reserved up front and each escape asks
 * for its extra, so a string without escapes (the usual kind) is scanned once, not sized
 * first. On failure buf goes back to start. */
static int finish_string(sc_buf *buf, size_t start, const unsigned char *p, size_t n)
{
    if (sc_buf_reserve(buf, n + 1) != 0)
        goto fail;
    char *o = buf->data + buf->len;
    size_t i = 0;
    for (;;) {
        size_t run = scan_plain(p + i, n - i, o);
        o += run;
        i += run;
        if (i == n)
            break;
        /* p[i] takes up to 6 bytes instead of 1; the rest and the closing quote as before. */
        buf->len = (size_t)(o - buf->data);
        if (sc_buf_reserve(buf, 6 + (n - i - 1) + 1) != 0)
            goto fail;
        o = put_escape(buf->data + buf->len, p[i++]);
    }
    *o++ = '"';
    buf->len = (size_t)(o - buf->data);
    buf->data[buf->len] = '\0';
    return 0;
fail:
    buf->len = start;
    if (buf->data)
        buf->data[start] = '\0';
    return -1;
}

int sc_buf_append_string_n(sc_buf *buf, const char *s, size_t n)
{
    const size_t start = buf->len;
    if (sc_buf_append(buf, "\"", 1) != 0)
        return -1;
    return finish_string(buf, start, (const unsigned char *)s, n);
}

int sc_buf_append_string(sc_buf *buf, const char *s)
{
    if (s == NULL)
        return sc_buf_append(buf, "\"\"", 2);
    /* A short string is copied while it is scanned, with no call at all. */
    const size_t start = buf->len;
    if (sc_buf_reserve(buf, 1 + SC_SHORT_STRING + 1) != 0)
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    char *o = buf->data + buf->len;
    *o++ = '"';
    size_t i = 0;
    for (; i < SC_SHORT_STRING && escape_extra[p[i]] == 0; i++)
        o[i] = (char)p[i];
    if (p[i] == '\0') { /* readable: p[0..i) are not NUL */
        o[i] = '"';
        buf->len += 1 + i + 1;
        buf->data[buf->len] = '\0';
        return 0;
    }
    buf->len += 1 + i; /* longer, or an escape at p[i]: the general path from there */
    return finish_string(buf, start, p + i, strlen(s + i));
}

size_t sc_scalar_size(const cJSON *item)
{
    switch (item->type & 0xFF) {
    case cJSON_NULL: return 4;
    case cJSON_False: return 5;
    case cJSON_True: return 4;
    case cJSON_Number: return sc_number_size(item);
    case cJSON_String: return sc_string_size(item->valuestring);
    case cJSON_Raw: return item->valuestring ? strlen(item->valuestring) : 0;
    default: return 0;
    }
}

size_t sc_scalar_size_past(const cJSON *item, size_t room)
{
    if ((item->type & 0xFF) == cJSON_String)
        return sc_string_size_past(item->valuestring, room);
    return sc_scalar_size(item);
}

/* Appends one scalar; returns 0, -1 (out of memory) or -2 (not printable: invalid type or
 * raw without text, where cJSON's printer fails too). */
static int write_scalar(sc_buf *out, const cJSON *item)
{
    switch (item->type & 0xFF) {
    case cJSON_NULL: return sc_buf_append(out, "null", 4);
    case cJSON_False: return sc_buf_append(out, "false", 5);
    case cJSON_True: return sc_buf_append(out, "true", 4);
    case cJSON_Number:
        /* Formatted in place: SC_NUMBER_BUF bytes hold any number and its NUL. */
        if (sc_buf_reserve(out, SC_NUMBER_BUF) != 0)
            return -1;
        out->len += sc_number_format(item, out->data + out->len);
        return 0;
    case cJSON_String: return sc_buf_append_string(out, item->valuestring);
    case cJSON_Raw:
        if (item->valuestring == NULL)
            return -2;
        return sc_buf_append(out, item->valuestring, strlen(item->valuestring));
    default: return -2;
    }
}

static int is_container(const cJSON *item)
{
    int t = item->type & 0xFF;
    return t == cJSON_Array || t == cJSON_Object;
}

sc_patch_status sc_json_write(sc_buf *out, const cJSON *item)
{
    if (out == NULL || item == NULL)
        return SC_PATCH_EARG;
    const size_t start = out->len;
    const cJSON *local[SC_WRITE_LOCAL_DEPTH];
    const cJSON **stack = local; /* open containers, innermost last */
    size_t cap = SC_WRITE_LOCAL_DEPTH, depth = 0;
    sc_patch_status st = SC_PATCH_OK;
    int rc = 0;
    const cJSON *cur = item;

    for (;;) {
        /* Print cur: a scalar whole, or a container's opening (and its first child's key). */
        if (is_container(cur)) {
            int obj = (cur->type & 0xFF) == cJSON_Object;
            if (depth == SC_PATCH_MAX_DEPTH) { /* cur would be level MAX + 1 */
                st = SC_PATCH_ETOODEEP;
                goto fail;
            }
            if (cur->child == NULL) {
                rc = sc_buf_append(out, obj ? "{}" : "[]", 2);
            } else {
                if (depth == cap) {
                    const cJSON **grown = cJSON_malloc(2 * cap * sizeof *grown);
                    if (grown == NULL) {
                        st = SC_PATCH_ENOMEM;
                        goto fail;
                    }
                    memcpy(grown, stack, depth * sizeof *grown);
                    if (stack != local)
                        cJSON_free((void *)stack);
                    stack = grown;
                    cap *= 2;
                }
                stack[depth++] = cur;
                rc = sc_buf_append(out, obj ? "{" : "[", 1);
                cur = cur->child;
                if (rc == 0 && obj) {
                    rc = sc_buf_append_string(out, cur->string);
                    if (rc == 0)
                        rc = sc_buf_append(out, ":", 1);
                }
                if (rc != 0)
                    goto fail_rc;
                continue;
            }
        } else {
            rc = write_scalar(out, cur);
        }
        if (rc != 0)
            goto fail_rc;
        /* Move on: the next sibling, or close containers until one has a next sibling. */
        for (;;) {
            if (depth == 0)
                goto done;
            const cJSON *parent = stack[depth - 1];
            if (cur->next) {
                cur = cur->next;
                rc = sc_buf_append(out, ",", 1);
                if (rc == 0 && (parent->type & 0xFF) == cJSON_Object) {
                    rc = sc_buf_append_string(out, cur->string);
                    if (rc == 0)
                        rc = sc_buf_append(out, ":", 1);
                }
                if (rc != 0)
                    goto fail_rc;
                break;
            }
            rc = sc_buf_append(out, (parent->type & 0xFF) == cJSON_Object ? "}" : "]", 1);
            if (rc != 0)
                goto fail_rc;
            cur = parent;
            depth--;
        }
    }
done:
    if (stack != local)
        cJSON_free((void *)stack);
    return SC_PATCH_OK;
fail_rc:
    st = rc == -2 ? SC_PATCH_EARG : SC_PATCH_ENOMEM;
fail:
    if (stack != local)
        cJSON_free((void *)stack);
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return st;
}

size_t sc_json_size(const cJSON *item, size_t cap)
{
    const cJSON *local[SC_WRITE_LOCAL_DEPTH];
    const cJSON **stack = local; /* open containers, innermost last */
    size_t scap = SC_WRITE_LOCAL_DEPTH, depth = 0, total = 0;
    const cJSON *cur = item;

    for (;;) {
        if (is_container(cur) && depth == SC_PATCH_MAX_DEPTH)
            goto fail;
        if (is_container(cur) && cur->child != NULL) {
            if (depth == scap) {
                const cJSON **grown = cJSON_malloc(2 * scap * sizeof *grown);
                if (grown == NULL)
                    goto fail;
                memcpy(grown, stack, depth * sizeof *grown);
                if (stack != local)
                    cJSON_free((void *)stack);
                stack = grown;
                scap *= 2;
            }
            stack[depth++] = cur;
            total += 1; /* the opening bracket */
            cur = cur->child;
            if ((stack[depth - 1]->type & 0xFF) == cJSON_Object)
                total += sc_string_size(cur->string) + 1;
            continue;
        }
        total += is_container(cur) ? 2 : sc_scalar_size_past(cur, total < cap ? cap - total : 0);
        if (total > cap)
            goto out;
        for (;;) {
            if (depth == 0)
                goto out;
            const cJSON *parent = stack[depth - 1];
            if (cur->next) {
                cur = cur->next;
                total += 1;
                if ((parent->type & 0xFF) == cJSON_Object)
                    total += sc_string_size(cur->string) + 1;
                break;
            }
            total += 1; /* the closing bracket */
            cur = parent;
            depth--;
        }
    }
out:
    if (stack != local)
        cJSON_free((void *)stack);
    return total;
fail:
    if (stack != local)
        cJSON_free((void *)stack);
    return (size_t)-1;
}
