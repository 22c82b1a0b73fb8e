/*
 * pointer.c -- JSON Pointer (RFC 6901): syntax check, parse, resolve, escape; and the error
 * filler the whole library shares.
 *
 * Algorithm: a pointer is checked once (O(length), no allocation), then walked token by token
 * straight from its text. Tokens stay escaped while walking: an object key is compared with the
 * escaped token byte by byte, decoding "~0"/"~1" on the fly, so resolving never allocates
 * (no per-token buffer, however long the pointer). Array tokens are parsed as indexes and the
 * array (a cJSON linked list) is walked once to that position.
 *
 * Complexity: resolving costs the pointer's length plus, per token, the object members compared
 * (cJSON objects are lists: a lookup is linear in the members before the match) or the array
 * positions walked (linear in the index).
 *
 * Limits: at most SC_PATCH_MAX_DEPTH tokens per pointer (SC_PATCH_ETOODEEP). Duplicate keys in
 * a cJSON object: a token addresses the first member with that key. An array index must fit in
 * size_t. Error reasons quote tokens and prefixes truncated to SC_REASON_QUOTE_MAX bytes.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Longest token or pointer prefix quoted in an error reason: sc_patch_error.reason holds 160
 * bytes, and a reason quotes up to two of them plus a sentence. */
#define SC_REASON_QUOTE_MAX 48

struct sc_pointer {
    size_t count;  /* number of reference tokens; 0 for "" */
    char **tokens; /* count unescaped, NUL-terminated tokens; same allocation as this struct */
};

/* ---- errors ------------------------------------------------------------------------------ */

sc_patch_status sc__fail(sc_patch_error *err, sc_patch_status status, const char *path,
                         const char *fmt, ...)
{
    if (err == NULL)
        return status;
    err->status = status;
    err->op_index = -1;
    err->op[0] = '\0';
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return status;
}

/* Length to quote of a len-byte token in a reason (printf "%.*s" wants an int). */
static int quote_len(size_t len)
{
    return (int)(len > SC_REASON_QUOTE_MAX ? SC_REASON_QUOTE_MAX : len);
}

static const char *type_name(const cJSON *item)
{
    switch (item->type & 0xFF) {
    case cJSON_False:
    case cJSON_True: return "boolean";
    case cJSON_NULL: return "null";
    case cJSON_Number: return "number";
    case cJSON_String: return "string";
    case cJSON_Array: return "array";
    case cJSON_Object: return "object";
    case cJSON_Raw: return "raw JSON";
    default: return "invalid item";
    }
}

/* ---- syntax ------------------------------------------------------------------------------ */

sc_patch_status sc__ptr_check(const char *text, size_t *n_tokens, sc_patch_error *err)
{
    if (text == NULL)
        return sc__fail(err, SC_PATCH_EARG, NULL, "pointer is NULL");
    if (text[0] != '\0' && text[0] != '/')
        return sc__fail(err, SC_PATCH_EPOINTER, text,
                        "a pointer must be \"\" or start with \"/\"");
    size_t count = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '/') {
            if (++count > SC_PATCH_MAX_DEPTH)
                return sc__fail(err, SC_PATCH_ETOODEEP, text,
                                "the pointer has more than %d tokens", SC_PATCH_MAX_DEPTH);
        } else if (*p == '~') {
            if (p[1] != '0' && p[1] != '1')
                return sc__fail(err, SC_PATCH_EPOINTER, text,
                                p[1] ? "\"~\" at offset %zu is not followed by \"0\" or \"1\""
                                     : "\"~\" at offset %zu ends the pointer",
                                (size_t)(p - text));
            p++;
        }
    }
    if (n_tokens)
        *n_tokens = count;
    return SC_PATCH_OK;
}

/* Parses an escaped token as an array index. Returns 1 (an index, *index set), 0 ("-"), or -1.
 * Escapes need no decoding: "~" is not a digit, so an escaped token is never an index. */
static int index_parse(const char *s, size_t len, size_t *index)
{
    if (len == 1 && s[0] == '-')
        return 0;
    if (len == 0 || (s[0] == '0' && len > 1))
        return -1;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        size_t d = (size_t)(s[i] - '0');
        if (v > (SIZE_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *index = v;
    return 1;
}

int sc_pointer_index(const char *token, size_t *index)
{
    if (token == NULL)
        return -1;
    size_t v;
    int r = index_parse(token, strlen(token), &v);
    if (r == 1 && index)
        *index = v;
    return r;
}

/* Why an escaped token used on an array is not an index, for the error reason. */
static const char *index_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty";
    size_t digits = 0;
    while (digits < len && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits < len)
        return "not a number";
    return s[0] == '0' ? "leading zero" : "too large";
}

/* ---- resolve ----------------------------------------------------------------------------- */

/* Does the object key equal the escaped token tok[0..len)? escaped: tok contains a "~". */
static int key_matches(const char *key, const char *tok, size_t len, int escaped)
{
    if (!escaped) {
        /* Inline: tokens are short, and a call costs more than the loop. tok has no NUL in
         * its len bytes, so a shorter key stops the loop at its own NUL. */
        size_t i = 0;
        while (i < len && key[i] == tok[i])
            i++;
        return i == len && key[len] == '\0';
    }
    for (size_t i = 0; i < len; i++, key++) {
        char c = tok[i];
        if (c == '~')
            c = tok[++i] == '0' ? '~' : '/'; /* the syntax check guarantees "~0" or "~1" */
        if (*key != c)
            return 0;
    }
    return *key == '\0';
}

int sc__key_matches(const char *key, const char *tok, size_t len)
{
    return key_matches(key, tok, len, memchr(tok, '~', len) != NULL);
}

/* The first member wins when keys repeat. */
cJSON *sc__member_find(const cJSON *obj, const char *tok, size_t len)
{
    return sc__member_find_from(obj->child, tok, len);
}

cJSON *sc__member_find_from(cJSON *first, const char *tok, size_t len)
{
    int escaped = memchr(tok, '~', len) != NULL;
    for (cJSON *c = first; c != NULL; c = c->next) {
        const char *key = c->string ? c->string : "";
        /* Comparing the first byte inline skips the call for almost every non-matching key. */
        if ((len == 0 ? key[0] == '\0' : key[0] == tok[0] || escaped) &&
            key_matches(key, tok, len, escaped))
            return c;
    }
    return NULL;
}

cJSON *sc__array_walk(const cJSON *array, size_t i, size_t *size)
{
    size_t at = 0;
    cJSON *c = array->child;
    while (c != NULL && at < i) {
        c = c->next;
        at++;
    }
    if (c == NULL)
        *size = at;
    return c;
}

sc_patch_status sc__ptr_resolve(cJSON *root, const char *text, sc__index *ix, sc__target *t,
                                sc_patch_error *err)
{
    memset(t, 0, sizeof *t);
    t->item = root;
    if (text[0] == '\0')
        return SC_PATCH_OK;

    cJSON *cur = root;
    const char *p = text; /* at the "/" before the next token */
    for (;;) {
        const char *tok = p + 1;
        size_t len = 0;
        while (tok[len] != '\0' && tok[len] != '/')
            len++;
        int last = tok[len] == '\0';
        int prefix = quote_len((size_t)(p - text)); /* cur's own pointer, for reasons */
        cJSON *child = NULL;

        if ((cur->type & 0xFF) == cJSON_Object) {
            child = ix ? sc__index_member(ix, cur, tok, len) : sc__member_find(cur, tok, len);
            if (child == NULL && !last)
                return sc__fail(err, SC_PATCH_ENOPATH, NULL,
                                "no member \"%.*s\" in the object at \"%.*s\"", quote_len(len),
                                tok, prefix, text);
        } else if ((cur->type & 0xFF) == cJSON_Array) {
            size_t index = 0;
            int kind = index_parse(tok, len, &index);
            if (kind < 0)
                return sc__fail(err, SC_PATCH_EPOINTER, NULL,
                                "\"%.*s\" is not an array index (%s) at \"%.*s\"", quote_len(len),
                                tok, index_problem(tok, len), prefix, text);
            if (kind == 0) {
                if (!last)
                    return sc__fail(err, SC_PATCH_ENOPATH, NULL,
                                    "\"-\" names no element in the array at \"%.*s\"", prefix,
                                    text);
                t->is_end = 1;
            } else {
                size_t size = 0;
                child = ix ? sc__index_element(ix, cur, index, &size)
                           : sc__array_walk(cur, index, &size);
                if (child == NULL) {
                    if (!last)
                        return sc__fail(err, SC_PATCH_ENOPATH, NULL,
                                        "index %zu is past the end (%zu) of the array at \"%.*s\"",
                                        index, size, prefix, text);
                    t->size = size;
                }
                t->index = index;
            }
        } else {
            return sc__fail(err, SC_PATCH_ENOPATH, NULL,
                            "cannot look up \"%.*s\" in the %s at \"%.*s\"", quote_len(len), tok,
                            type_name(cur), prefix, text);
        }

        if (last) {
            t->parent = cur;
            t->item = child;
            t->tok = tok;
            t->tok_len = len;
            return SC_PATCH_OK;
        }
        cur = child;
        p = tok + len;
    }
}

sc_patch_status sc__target_missing(const sc__target *t, const char *text,
                                   sc_patch_status array_status, sc_patch_error *err)
{
    int prefix = quote_len((size_t)(t->tok - 1 - text));
    if (!cJSON_IsArray(t->parent))
        return sc__fail(err, SC_PATCH_ENOPATH, text, "no member \"%.*s\" in the object at \"%.*s\"",
                        quote_len(t->tok_len), t->tok, prefix, text);
    if (t->is_end)
        return sc__fail(err, array_status, text,
                        "\"-\" names no element of the array at \"%.*s\"", prefix, text);
    return sc__fail(err, array_status, text,
                    "index %zu is past the end (%zu) of the array at \"%.*s\"", t->index, t->size,
                    prefix, text);
}

char *sc__token_dup(const char *tok, size_t len)
{
    char *out = cJSON_malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = tok[i];
        if (c == '~')
            c = tok[++i] == '0' ? '~' : '/';
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
}

/* ---- public API -------------------------------------------------------------------------- */

sc_pointer *sc_pointer_parse(const char *text, sc_patch_error *err)
{
    size_t count;
    sc_patch_status st = sc__ptr_check(text, &count, err);
    if (st != SC_PATCH_OK)
        return NULL;
    /* One block: the struct, the token array, then the unescaped bytes. Unescaping never
     * lengthens a token and each "/" becomes a token's NUL, so strlen(text) + 1 bytes suffice. */
    size_t len = strlen(text);
    size_t head = sizeof(sc_pointer) + count * sizeof(char *);
    sc_pointer *p = cJSON_malloc(head + len + 1);
    if (p == NULL) {
        sc__fail(err, SC_PATCH_ENOMEM, text, "cannot allocate a pointer of %zu tokens", count);
        return NULL;
    }
    p->count = count;
    p->tokens = (char **)(p + 1);
    char *out = (char *)p + head;
    size_t i = 0;
    for (const char *s = text; *s; i++) {
        s++; /* the "/" */
        p->tokens[i] = out;
        while (*s && *s != '/') {
            char c = *s++;
            if (c == '~')
                c = *s++ == '0' ? '~' : '/';
            *out++ = c;
        }
        *out++ = '\0';
    }
    return p;
}

void sc_pointer_free(sc_pointer *p)
{
    cJSON_free(p);
}

size_t sc_pointer_count(const sc_pointer *p)
{
    return p ? p->count : 0;
}

const char *sc_pointer_token(const sc_pointer *p, size_t i)
{
    return (p && i < p->count) ? p->tokens[i] : NULL;
}

cJSON *sc_pointer_get(const cJSON *doc, const char *text, sc_patch_error *err)
{
    if (doc == NULL) {
        sc__fail(err, SC_PATCH_EARG, text, "document is NULL");
        return NULL;
    }
    if (sc__ptr_check(text, NULL, err) != SC_PATCH_OK)
        return NULL;
    sc__target t;
    /* Resolving only reads; the cast lets the same walker serve apply, which writes. */
    if (sc__ptr_resolve((cJSON *)doc, text, NULL, &t, err) != SC_PATCH_OK) {
        if (err)
            snprintf(err->path, sizeof err->path, "%s", text);
        return NULL;
    }
    if (t.item == NULL)
        sc__target_missing(&t, text, SC_PATCH_ENOPATH, err);
    return t.item;
}

size_t sc_pointer_escape(const char *key, char *buf, size_t cap)
{
    size_t need = 0;    /* bytes the whole escaped token takes */
    size_t written = 0; /* bytes written, always < cap */
    int full = 0;       /* once an escape does not fit, write nothing more (never a lone "~") */
    for (const char *k = key; *k; k++) {
        const char *rep = *k == '~' ? "~0" : *k == '/' ? "~1" : NULL;
        size_t n = rep ? 2 : 1;
        if (!full && written + n < cap) {
            memcpy(buf + written, rep ? rep : k, n);
            written += n;
        } else {
            full = 1;
        }
        need += n;
    }
    if (cap > 0)
        buf[written] = '\0';
    return need;
}
