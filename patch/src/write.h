/*
 * write.h -- private: the byte buffer and the compact-JSON writer's pieces that diff.c shares
 * (sizes of serialized scalars, appending raw bytes). Not part of the public API.
 */
#ifndef SC_PATCH_WRITE_H
#define SC_PATCH_WRITE_H

#include <stddef.h>
#include <string.h>

#include "statechannel/patch.h"

/* Longest number cJSON prints ("%1.17g" of a double, e.g. "-2.2250738585072014e-308"),
 * with room for the NUL; cJSON itself uses a 26-byte buffer. */
#define SC_NUMBER_BUF 32

/* Grows buf so that extra more bytes (plus a NUL) fit. Returns 0, or -1 when out of memory
 * (buf is then unchanged). The slow half of sc_buf_reserve(). */
int sc_buf_grow(sc_buf *buf, size_t extra);

/* Makes room for extra more bytes (plus a NUL). Returns 0, or -1 when out of memory (buf is
 * then unchanged). Inline: the writer asks before every few bytes it appends, and the answer
 * is almost always "there is room", a compare the call would cost several times over. */
static inline int sc_buf_reserve(sc_buf *buf, size_t extra)
{
    return buf->cap - buf->len > extra ? 0 : sc_buf_grow(buf, extra);
}

/* Appends n bytes; returns 0 or -1 (out of memory, buf unchanged). Inline for the same
 * reason: with a constant n the copy compiles to a store or two. */
static inline int sc_buf_append(sc_buf *buf, const char *bytes, size_t n)
{
    if (sc_buf_reserve(buf, n) != 0)
        return -1;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return 0;
}

/* Appends the n bytes at s (no NUL among them) as a JSON string literal escaped exactly like
 * cJSON: sc_buf_append_string() for a caller that knows the length. Returns 0 or -1 (out of
 * memory, buf unchanged). */
int sc_buf_append_string_n(sc_buf *buf, const char *s, size_t n);

/* Appends s as a JSON string literal escaped exactly like cJSON (NULL prints as ""). */
int sc_buf_append_string(sc_buf *buf, const char *s);

/* Formats item's number exactly like cJSON_PrintUnformatted into out (SC_NUMBER_BUF bytes,
 * NUL-terminated). Returns the length. */
size_t sc_number_format(const cJSON *item, char *out);

/* Length sc_number_format() would return, without formatting integers. */
size_t sc_number_size(const cJSON *item);

/* Serialized length of s as a JSON string literal, quotes included (NULL: 2). */
size_t sc_string_size(const char *s);

/* sc_string_size(s), or when the bytes of s alone already exceed room, their count plus the
 * quotes (a lower bound, > room), without scanning s for escapes: for sizes asked with a cap. */
size_t sc_string_size_past(const char *s, size_t room);

/* Bytes that escaping the n bytes at s inside a JSON string adds (0 when none need it). */
size_t sc_escape_extra(const char *s, size_t n);

/* Serialized length of a scalar (null, bools, number, string, raw); containers return 0. */
size_t sc_scalar_size(const cJSON *item);

/* sc_scalar_size(item), or for a string whose bytes alone exceed room a lower bound > room
 * (see sc_string_size_past()). */
size_t sc_scalar_size_past(const cJSON *item, size_t room);

/* Length of sc_json_write(item)'s output, or some value > cap as soon as it exceeds cap
 * (so asking "is it smaller than cap?" costs O(cap), not O(item)). Iterative; nesting past
 * SC_PATCH_MAX_DEPTH or an allocation failure returns (size_t)-1. */
size_t sc_json_size(const cJSON *item, size_t cap);

#endif /* SC_PATCH_WRITE_H */
