/* diff_testutil.h -- helpers shared by the diff tests: parse, diff both ways, check a patch.
 *
 * apply_patch() is the library's sc_patch_apply() when SC_TEST_REAL_APPLY is defined, else a
 * small stand-in used until apply.c landed (it applies add/remove/replace/move/copy/test as
 * RFC 6902 says, without atomicity). */
#ifndef SC_DIFF_TESTUTIL_H
#define SC_DIFF_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "statechannel/patch.h"

static inline cJSON *P(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s", text);
    return j;
}

/* Inserts item into arr before index i (appends when i is the size). cJSON 1.7.15 as
 * Debian ships it (+deb12u4) refuses cJSON_InsertItemInArray at any index but 0. */
static inline void tu_insert(cJSON *arr, int i, cJSON *item)
{
    cJSON *after = cJSON_GetArrayItem(arr, i);
    if (after == NULL) {
        cJSON_AddItemToArray(arr, item);
        return;
    }
    item->next = after;
    item->prev = after->prev;
    if (after == arr->child)
        arr->child = item;
    else
        after->prev->next = item;
    after->prev = item;
}

/* Diffs a and b with both entry points, checks they agree byte for byte, returns the bytes
 * (caller frees with free()) or NULL when the diff failed (status in *st). */
static inline char *diff_both_tree(const cJSON *a, const cJSON *b, const sc_diff_options *o,
                                   sc_patch_status *st, size_t *n_ops, cJSON **tree_out)
{
    sc_buf buf = {0};
    sc_patch_error e1, e2;
    size_t n = 0;
    sc_patch_status s1 = sc_diff_to_buf(a, b, o, &buf, &n, &e1);
    cJSON *tree = NULL;
    sc_patch_status s2 = sc_diff(a, b, o, &tree, &e2);
    ck_assert_int_eq(s1, s2);
    if (st)
        *st = s1;
    if (s1 != SC_PATCH_OK) {
        ck_assert_ptr_null(tree);
        ck_assert_int_eq(buf.len, 0);
        ck_assert_int_eq(e1.status, s1);
        sc_buf_free(&buf);
        return NULL;
    }
    char *printed = cJSON_PrintUnformatted(tree);
    ck_assert_str_eq(buf.data, printed);
    ck_assert_int_eq((long)n, cJSON_GetArraySize(tree));
    if (n_ops)
        *n_ops = n;
    cJSON_free(printed);
    if (tree_out)
        *tree_out = tree;
    else
        cJSON_Delete(tree);
    char *r = strdup(buf.data);
    sc_buf_free(&buf);
    return r;
}

static inline char *diff_both(const cJSON *a, const cJSON *b, const sc_diff_options *o,
                              sc_patch_status *st, size_t *n_ops)
{
    return diff_both_tree(a, b, o, st, n_ops, NULL);
}

#ifndef SC_TEST_REAL_APPLY
/* Stand-in applier: resolves the parent of path's last token; returns 0 or -1. */
static inline cJSON *tu_parent(cJSON *doc, const char *path, char *last, size_t cap)
{
    cJSON *cur = doc;
    const char *p = path;
    for (;;) {
        if (*p != '/')
            return NULL;
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                ch = *p++ == '0' ? '~' : '/';
            }
            if (n + 1 < cap)
                last[n++] = ch;
        }
        last[n] = '\0';
        if (*p == '\0')
            return cur;
        if (cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, atoi(last));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, last);
        if (cur == NULL)
            return NULL;
    }
}

static inline cJSON *tu_take(cJSON **doc, const char *path)
{
    char last[4096];
    if (path[0] == '\0') {
        cJSON *d = *doc;
        *doc = NULL;
        return d;
    }
    cJSON *parent = tu_parent(*doc, path, last, sizeof last);
    if (parent == NULL)
        return NULL;
    if (cJSON_IsArray(parent))
        return cJSON_DetachItemFromArray(parent, atoi(last));
    return cJSON_DetachItemFromObjectCaseSensitive(parent, last);
}

static inline int tu_put(cJSON **doc, const char *path, cJSON *v, int replace)
{
    char last[4096];
    if (path[0] == '\0') {
        cJSON_Delete(*doc);
        *doc = v;
        return 0;
    }
    cJSON *parent = tu_parent(*doc, path, last, sizeof last);
    if (parent == NULL)
        return -1;
    if (cJSON_IsArray(parent)) {
        int n = cJSON_GetArraySize(parent);
        int i = strcmp(last, "-") == 0 ? n : atoi(last);
        if (replace)
            return cJSON_ReplaceItemInArray(parent, i, v) ? 0 : -1;
        if (i > n)
            return -1;
        tu_insert(parent, i, v);
        return 0;
    }
    if (replace)
        return cJSON_ReplaceItemInObjectCaseSensitive(parent, last, v) ? 0 : -1;
    cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
    return cJSON_AddItemToObject(parent, last, v) ? 0 : -1;
}

static inline sc_patch_status apply_patch(cJSON **doc, const cJSON *patch)
{
    const cJSON *op;
    cJSON_ArrayForEach(op, patch) {
        const char *name = cJSON_GetObjectItem(op, "op")->valuestring;
        const char *path = cJSON_GetObjectItem(op, "path")->valuestring;
        const cJSON *value = cJSON_GetObjectItem(op, "value");
        int rc = 0;
        if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
            rc = tu_put(doc, path, cJSON_Duplicate(value, 1), name[0] == 'r');
        } else if (strcmp(name, "remove") == 0) {
            cJSON *t = tu_take(doc, path);
            rc = t ? 0 : -1;
            cJSON_Delete(t);
        } else if (strcmp(name, "move") == 0) {
            cJSON *t = tu_take(doc, cJSON_GetObjectItem(op, "from")->valuestring);
            rc = t ? tu_put(doc, path, t, 0) : -1;
        } else {
            rc = -1;
        }
        if (rc != 0)
            return SC_PATCH_EINVAL;
    }
    return SC_PATCH_OK;
}

/* RFC 6902 equality (cJSON_Compare is exponential on nested objects: it compares each
 * member twice per level). */
static inline int docs_equal(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return 0;
        const cJSON *x = a->child, *y = b->child;
        for (; x; x = x->next) {
            /* Members usually come in the same order: look at the cursor first, so that
             * big objects compare in linear time. */
            const cJSON *other = y;
            if (cJSON_IsObject(a) && (y == NULL || strcmp(y->string, x->string) != 0))
                other = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (other == NULL || !docs_equal(x, other))
                return 0;
            y = other->next;
        }
    }
    return 1;
}
#else
static inline sc_patch_status apply_patch(cJSON **doc, const cJSON *patch)
{
    sc_patch_error e;
    return sc_patch_apply(doc, patch, &e);
}

static inline int docs_equal(const cJSON *a, const cJSON *b)
{
    return sc_json_equal(a, b);
}
#endif

/* Applies patch to a copy of a and checks the result equals b. */
static inline void check_applies_tree(const cJSON *a, const cJSON *b, const cJSON *patch)
{
    cJSON *doc = cJSON_Duplicate(a, 1);
    ck_assert_int_eq(apply_patch(&doc, patch), SC_PATCH_OK);
    if (!docs_equal(doc, b)) {
        char *x = cJSON_PrintUnformatted(doc), *y = cJSON_PrintUnformatted(b);
        char *z = cJSON_PrintUnformatted(a), *p = cJSON_PrintUnformatted(patch);
        ck_abort_msg("patch %s on %s gave %s, not %s", p, z, x, y);
    }
    cJSON_Delete(doc);
}

/* Applies patch text to a copy of a and checks the result equals b. (Parsed text: numbers
 * that cJSON prints with 15 digits may read back one ulp off; use check_applies_tree when the
 * documents hold arbitrary doubles.) */
static inline void check_applies(const cJSON *a, const cJSON *b, const char *patch_text)
{
    cJSON *doc = cJSON_Duplicate(a, 1);
    cJSON *patch = cJSON_Parse(patch_text);
    ck_assert_ptr_nonnull(patch);
    ck_assert_int_eq(apply_patch(&doc, patch), SC_PATCH_OK);
    if (!docs_equal(doc, b)) {
        char *x = cJSON_PrintUnformatted(doc), *y = cJSON_PrintUnformatted(b);
        char *z = cJSON_PrintUnformatted(a);
        ck_abort_msg("patch %s on %s gave %s, not %s", patch_text, z, x, y);
    }
    cJSON_Delete(doc);
    cJSON_Delete(patch);
}

#endif /* SC_DIFF_TESTUTIL_H */
