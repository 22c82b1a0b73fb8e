/*
 * fuzz_pointer.c -- libFuzzer target for JSON Pointer (RFC 6901): sc_pointer_parse, _count,
 * _token, _index, _escape and _get, each checked against a small reference model.
 *
 * Input: the pointer text up to the first '\n'; after it, optionally a JSON document to resolve
 * the pointer against (else a fixed document with the awkward cases: keys with "/" and "~",
 * the empty key, digit keys in objects, duplicate keys, nested arrays).
 *
 * Properties: parse succeeds exactly when the text is "" or starts with "/", every "~" is
 * followed by "0" or "1", and it has at most SC_PATCH_MAX_DEPTH tokens; escaping the parsed
 * tokens and joining them gives the text back byte for byte; sc_pointer_index agrees with
 * "0 or digits without a leading zero that fit in size_t"; a truncated escape is a prefix of the
 * full one, NUL-terminated, never ends in a lone "~"; sc_pointer_get returns the very item (or
 * the failure status) of a token-by-token walk with cJSON's own accessors.
 */
#include <limits.h>

#include "fuzz_util.h"
#include "statechannel/patch.h"

/* Fixed document the pointer is resolved against when the input brings none. */
static const char FIXED_DOC[] =
    "{\"a\":{\"b\":[1,{\"c\":null},[true,false]],\"\":\"empty\",\"0\":\"zero\"},"
    "\"a/b\":1,\"m~n\":2,\"~1\":3,\"\":{\"\":[[]]},\"dup\":1,\"dup\":2,"
    "\"arr\":[0,1,2,3,4,5,6,7,8,9,10,[{\"x\":\"y\"}]],\" \":\"space\",\"%\":\"pct\"}";

static cJSON *fixed_doc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fixed_doc = cJSON_Parse(FIXED_DOC);
    FUZZ_CHECK(fixed_doc != NULL, "the fixed document does not parse");
    return 0;
}

/* Reference syntax check: 0 valid, else the status sc_pointer_parse must give. */
static sc_patch_status ref_check(const char *t)
{
    if (t[0] != '\0' && t[0] != '/')
        return SC_PATCH_EPOINTER;
    size_t slashes = 0;
    for (const char *p = t; *p; p++) {
        if (*p == '/' && ++slashes > SC_PATCH_MAX_DEPTH)
            return SC_PATCH_ETOODEEP;
        if (*p == '~') {
            if (p[1] != '0' && p[1] != '1')
                return SC_PATCH_EPOINTER;
            p++;
        }
    }
    return SC_PATCH_OK;
}

/* Reference array index: 1 with *out, 0 for "-", -1 otherwise. */
static int ref_index(const char *tok, size_t *out)
{
    if (strcmp(tok, "-") == 0)
        return 0;
    size_t len = strlen(tok);
    if (len == 0 || (tok[0] == '0' && len > 1))
        return -1;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return -1;
        unsigned d = (unsigned)(tok[i] - '0');
        if (v > (SIZE_MAX - d) / 10)
            return -1; /* does not fit in size_t */
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* Checks sc_pointer_escape of one key at every interesting capacity. */
static void check_escape(const char *key)
{
    size_t need = sc_pointer_escape(key, NULL, 0);
    char *full = malloc(need + 1);
    FUZZ_CHECK(full != NULL, "out of memory");
    FUZZ_CHECK(sc_pointer_escape(key, full, need + 1) == need, "escape length changed");
    FUZZ_CHECK(strlen(full) == need, "escape wrote %zu bytes, announced %zu", strlen(full), need);
    size_t caps[] = {1, 2, 3, need / 2, need};
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        size_t cap = caps[k];
        if (cap == 0 || cap > need + 1)
            continue;
        char *buf = malloc(cap);
        FUZZ_CHECK(buf != NULL, "out of memory");
        FUZZ_CHECK(sc_pointer_escape(key, buf, cap) == need, "escape length depends on cap");
        size_t got = strnlen(buf, cap);
        FUZZ_CHECK(got < cap, "truncated escape is not NUL-terminated (cap %zu)", cap);
        FUZZ_CHECK(memcmp(buf, full, got) == 0, "truncated escape is not a prefix");
        /* Every "~" of an escaped token starts a "~0"/"~1" pair: a last "~" was cut in half. */
        FUZZ_CHECK(got == 0 || buf[got - 1] != '~', "truncated escape ends in a lone \"~\"");
        FUZZ_CHECK(got == need || got + 2 >= cap, "escape stopped early: %zu bytes of cap %zu",
                   got, cap);
        free(buf);
    }
    free(full);
}

/* Walks the parsed tokens with cJSON's accessors. Returns the item, or NULL with *st set. */
static const cJSON *ref_get(const cJSON *doc, const sc_pointer *p, sc_patch_status *st)
{
    const cJSON *cur = doc;
    for (size_t i = 0; i < sc_pointer_count(p); i++) {
        const char *tok = sc_pointer_token(p, i);
        if (cJSON_IsObject(cur)) {
            const cJSON *next = NULL;
            for (const cJSON *m = cur->child; m != NULL && next == NULL; m = m->next)
                if (m->string != NULL && strcmp(m->string, tok) == 0)
                    next = m; /* the first of duplicate keys */
            if (next == NULL) {
                *st = SC_PATCH_ENOPATH;
                return NULL;
            }
            cur = next;
        } else if (cJSON_IsArray(cur)) {
            size_t idx = 0;
            int r = ref_index(tok, &idx);
            if (r < 0) {
                *st = SC_PATCH_EPOINTER;
                return NULL;
            }
            if (r == 0 || idx >= (size_t)cJSON_GetArraySize(cur)) {
                *st = SC_PATCH_ENOPATH;
                return NULL;
            }
            cur = cJSON_GetArrayItem(cur, (int)idx);
        } else {
            *st = SC_PATCH_ENOPATH;
            return NULL;
        }
    }
    *st = SC_PATCH_OK;
    return cur;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *text = malloc(plen + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, plen);
    text[plen] = '\0'; /* an embedded NUL simply ends the pointer, as for any C string */
    size_t tlen = strlen(text);

    cJSON *own_doc = NULL;
    if (nl != NULL) {
        size_t pos = plen + 1;
        own_doc = fuzz_next_json(data, size, &pos);
    }
    const cJSON *doc = own_doc ? own_doc : fixed_doc;

    sc_patch_error err;
    memset(&err, 0, sizeof err);
    sc_pointer *p = sc_pointer_parse(text, &err);
    sc_patch_status want = ref_check(text);
    if (want != SC_PATCH_OK) {
        FUZZ_CHECK(p == NULL, "parse accepted an invalid pointer");
        FUZZ_CHECK(err.status == want, "parse failed with %d, expected %d", err.status, want);
        FUZZ_CHECK(sc_pointer_get(doc, text, NULL) == NULL, "get resolved an invalid pointer");
        memset(&err, 0, sizeof err);
        FUZZ_CHECK(sc_pointer_get(doc, text, &err) == NULL && err.status == want,
                   "get failed with %d, expected %d", err.status, want);
        goto out;
    }
    FUZZ_CHECK(p != NULL, "parse refused a valid pointer: %s", err.reason);

    /* Round trip: escape every token and join them: the text again, byte for byte. */
    char *joined = malloc(tlen + 1);
    FUZZ_CHECK(joined != NULL, "out of memory");
    size_t jl = 0;
    for (size_t i = 0; i < sc_pointer_count(p); i++) {
        const char *tok = sc_pointer_token(p, i);
        FUZZ_CHECK(tok != NULL, "token %zu of %zu is NULL", i, sc_pointer_count(p));
        size_t need = sc_pointer_escape(tok, NULL, 0);
        FUZZ_CHECK(jl + 1 + need <= tlen, "tokens escape longer than the text");
        joined[jl++] = '/';
        sc_pointer_escape(tok, joined + jl, need + 1);
        jl += need;
        check_escape(tok);

        size_t got = 0, ref = 0;
        int r = sc_pointer_index(tok, &got);
        int rr = ref_index(tok, &ref);
        FUZZ_CHECK(r == rr, "sc_pointer_index(\"%s\") = %d, expected %d", tok, r, rr);
        FUZZ_CHECK(r != 1 || got == ref, "index %zu, expected %zu", got, ref);
    }
    joined[jl] = '\0';
    FUZZ_CHECK(jl == tlen && memcmp(joined, text, tlen) == 0, "round trip gave \"%s\" for \"%s\"",
               joined, text);
    FUZZ_CHECK(sc_pointer_token(p, sc_pointer_count(p)) == NULL, "token past the end is not NULL");
    free(joined);

    /* Resolution agrees with the reference walk: same item, or the same failure. */
    sc_patch_status rst;
    const cJSON *want_item = ref_get(doc, p, &rst);
    memset(&err, 0, sizeof err);
    const cJSON *got_item = sc_pointer_get(doc, text, &err);
    FUZZ_CHECK(got_item == want_item, "get returned %p, expected %p", (const void *)got_item,
               (const void *)want_item);
    FUZZ_CHECK(got_item != NULL || err.status == rst, "get failed with %d (%s), expected %d",
               err.status, err.reason, rst);
    FUZZ_CHECK(strnlen(err.reason, sizeof err.reason) < sizeof err.reason &&
                   strnlen(err.path, sizeof err.path) < sizeof err.path,
               "error strings are not NUL-terminated");

out:
    sc_pointer_free(p);
    cJSON_Delete(own_doc);
    free(text);
    return 0;
}
