/* diff_testutil.h -- helpers shared by the diff tests: parse, diff both ways, check a patch.
 * Patches are checked with the library's own sc_patch_apply() and sc_json_equal(). */
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

static inline sc_patch_status apply_patch(cJSON **doc, const cJSON *patch)
{
    sc_patch_error e;
    return sc_patch_apply(doc, patch, &e);
}

static inline int docs_equal(const cJSON *a, const cJSON *b)
{
    return sc_json_equal(a, b);
}

/* Checks cJSON's list invariants, which the diff's backward walk over array tails relies on:
 * every node's prev is its predecessor, and the first child's prev is the last child. */
static inline void check_links(const cJSON *node)
{
    const cJSON *prev = NULL;
    for (const cJSON *c = node->child; c; c = c->next) {
        if (prev)
            ck_assert_ptr_eq(c->prev, prev);
        check_links(c);
        prev = c;
    }
    if (node->child)
        ck_assert_ptr_eq(node->child->prev, prev);
}

/* Applies patch to a copy of a and checks the result equals b. */
static inline void check_applies_tree(const cJSON *a, const cJSON *b, const cJSON *patch)
{
    cJSON *doc = cJSON_Duplicate(a, 1);
    ck_assert_int_eq(apply_patch(&doc, patch), SC_PATCH_OK);
    check_links(doc);
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
    check_links(doc);
    if (!docs_equal(doc, b)) {
        char *x = cJSON_PrintUnformatted(doc), *y = cJSON_PrintUnformatted(b);
        char *z = cJSON_PrintUnformatted(a);
        ck_abort_msg("patch %s on %s gave %s, not %s", patch_text, z, x, y);
    }
    cJSON_Delete(doc);
    cJSON_Delete(patch);
}

#endif /* SC_DIFF_TESTUTIL_H */
