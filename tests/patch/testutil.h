/*
 * testutil.h -- small helpers shared by the patch library's Check suites: parse JSON literals,
 * load the conformance data, photograph a document's exact shape (item pointers, order, keys)
 * to prove a failed apply left it untouched, and check cJSON's list invariants.
 */
#ifndef SC_TESTUTIL_H
#define SC_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "statechannel/patch.h"

/* Parses a JSON literal the test wrote; a typo in it fails the test, not the library. */
static inline cJSON *tu_json(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    ck_assert_msg(v != NULL, "test JSON does not parse: %s", text);
    return v;
}

/* Compact serialization for messages and byte-exact comparisons; caller frees with free(). */
static inline char *tu_print(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Reads SC_TEST_DATA_DIR/name and parses it; caller frees with cJSON_Delete(). */
static inline cJSON *tu_load_data(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", SC_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    size_t got = buf ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    if (buf == NULL || got != (size_t)size) {
        free(buf);
        return NULL;
    }
    buf[size] = '\0';
    cJSON *v = cJSON_Parse(buf);
    free(buf);
    return v;
}

/* One item as it was: where it sat and what it held. */
typedef struct tu_node {
    const cJSON *item, *next, *prev, *child;
    const char *string, *valuestring;
    int type;
    double number;
} tu_node;

/* A document's exact shape, in pre-order. */
typedef struct tu_snapshot {
    tu_node *nodes;
    size_t n, cap;
} tu_snapshot;

static inline void tu_snapshot_add_(tu_snapshot *s, const cJSON *item)
{
    for (; item != NULL; item = item->next) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->nodes = realloc(s->nodes, s->cap * sizeof *s->nodes);
            ck_assert_ptr_nonnull(s->nodes);
        }
        s->nodes[s->n++] = (tu_node){item,         item->next,        item->prev, item->child,
                                     item->string, item->valuestring, item->type,
                                     item->valuedouble};
        tu_snapshot_add_(s, item->child);
    }
}

/* Photographs root (not its siblings). Free with tu_snapshot_free(). */
static inline tu_snapshot tu_snapshot_take(const cJSON *root)
{
    tu_snapshot s = {0};
    cJSON top = *root; /* walk root alone, not its next siblings */
    top.next = NULL;
    tu_snapshot_add_(&s, &top);
    s.nodes[0].item = root;
    s.nodes[0].next = root->next;
    return s;
}

/* 1 when root has exactly the items, links, keys and values photographed in s. */
static inline int tu_snapshot_same(const tu_snapshot *s, const cJSON *root)
{
    tu_snapshot now = tu_snapshot_take(root);
    int same = now.n == s->n;
    for (size_t i = 0; same && i < s->n; i++) {
        const tu_node *a = &now.nodes[i], *b = &s->nodes[i];
        same = a->item == b->item && a->next == b->next && a->prev == b->prev &&
               a->child == b->child && a->string == b->string &&
               a->valuestring == b->valuestring && a->type == b->type && a->number == b->number;
    }
    free(now.nodes);
    return same;
}

static inline void tu_snapshot_free(tu_snapshot *s)
{
    free(s->nodes);
    s->nodes = NULL;
    s->n = s->cap = 0;
}

/* 1 when every container under root keeps cJSON's list invariant: first->prev is the last
 * child, every other prev is the previous sibling, the last next is NULL. */
static inline int tu_lists_ok(const cJSON *root)
{
    if (root->child == NULL)
        return 1;
    const cJSON *prev = NULL;
    for (const cJSON *c = root->child; c != NULL; prev = c, c = c->next) {
        if (c != root->child && c->prev != prev)
            return 0;
        if (!tu_lists_ok(c))
            return 0;
        if (cJSON_IsObject(root) && c->string == NULL)
            return 0;
    }
    return root->child->prev == prev;
}

/* Runs a suite the usual way; returns the process exit status. */
static inline int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* SC_TESTUTIL_H */
