/*
 * tests for patch/src/doc.c: sc_doc, a document whose large containers stay indexed across
 * applies. The oracle is the plain sc_patch_apply() on a separate copy: every patch, applied
 * both ways, must give the same status, failing operation and document.
 */
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static unsigned long rng_state;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)((rng_state >> 33) % n);
}

/* Asserts both documents print the same (member order included). */
static void same_doc(const cJSON *a, const cJSON *b, const char *what, int round)
{
    char *x = tu_print(a), *y = tu_print(b);
    ck_assert_msg(strcmp(x, y) == 0, "%s, round %d:\n  doc:   %.300s\n  plain: %.300s", what,
                  round, x, y);
    free(x);
    free(y);
}

/* An object of n members "k0".."k{n-1}", each an int or a small object. */
static cJSON *big_object(int n, int salt)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        if (i % 3 == 0) {
            cJSON *v = cJSON_AddObjectToObject(o, k);
            cJSON_AddNumberToObject(v, "v", i + salt);
        } else {
            cJSON_AddNumberToObject(o, k, i + salt);
        }
    }
    return o;
}

/* An array of n elements: ints, and every fourth an object with an "id" and a short list. */
static cJSON *big_array(int n, int salt)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        if (i % 4 == 0) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", i + salt);
            cJSON *l = cJSON_AddArrayToObject(o, "l");
            cJSON_AddItemToArray(l, cJSON_CreateNumber(i));
            cJSON_AddItemToArray(a, o);
        } else {
            cJSON_AddItemToArray(a, cJSON_CreateNumber(i + salt));
        }
    }
    return a;
}

/* Collects the pointer of every item under v into out (v's own is prefix). */
static void collect_paths(const cJSON *v, const char *prefix, cJSON *out)
{
    cJSON_AddItemToArray(out, cJSON_CreateString(prefix));
    int i = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next, i++) {
        char token[64], path[512];
        if (cJSON_IsObject(v))
            sc_pointer_escape(c->string, token, sizeof token);
        else
            snprintf(token, sizeof token, "%d", i);
        snprintf(path, sizeof path, "%s/%s", prefix, token);
        collect_paths(c, path, out);
    }
}

/* A random operation on doc as it is now: mostly valid, sometimes not (an index past the end,
 * a missing key, a failing test), and now and then a new or removed large container or a
 * root replacement, so freed containers' addresses get reused. */
static cJSON *random_op(const cJSON *doc, cJSON *paths, int *salt)
{
    while (paths->child)
        cJSON_Delete(cJSON_DetachItemViaPointer(paths, paths->child));
    collect_paths(doc, "", paths);
    unsigned n_paths = (unsigned)cJSON_GetArraySize(paths);
    char path[600], from[600];
    snprintf(path, sizeof path, "%s", cJSON_GetArrayItem(paths, (int)rnd(n_paths))->valuestring);
    snprintf(from, sizeof from, "%s", cJSON_GetArrayItem(paths, (int)rnd(n_paths))->valuestring);
    const cJSON *target = sc_pointer_get(doc, path, NULL);
    cJSON *o = cJSON_CreateObject();
    unsigned kind = rnd(20);
    if (kind == 0) { /* a fresh large container, often where a freed one was */
        cJSON_AddStringToObject(o, "op", "add");
        cJSON_AddStringToObject(o, "path", rnd(2) ? "/fresh" : "/o");
        cJSON_AddItemToObject(o, "value", rnd(2) ? big_object(40 + (int)rnd(40), ++*salt)
                                                 : big_array(40 + (int)rnd(40), ++*salt));
        return o;
    }
    if (kind == 1) {
        cJSON_AddStringToObject(o, "op", "remove");
        cJSON_AddStringToObject(o, "path", rnd(2) ? "/fresh" : "/a");
        return o;
    }
    if (kind == 2 && rnd(4) == 0) { /* a new root holding large containers */
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "a", big_array(60, ++*salt));
        cJSON_AddItemToObject(root, "o", big_object(50, *salt));
        cJSON_AddStringToObject(o, "op", "replace");
        cJSON_AddStringToObject(o, "path", "");
        cJSON_AddItemToObject(o, "value", root);
        return o;
    }
    static const char *const ops[] = {"add", "remove", "replace", "move", "copy", "test"};
    const char *op = ops[rnd(6)];
    cJSON_AddStringToObject(o, "op", op);
    int places = strcmp(op, "add") == 0 || strcmp(op, "move") == 0 || strcmp(op, "copy") == 0;
    if (places && cJSON_IsObject(target)) {
        char key[16];
        snprintf(key, sizeof key, "/k%u", rnd(120)); /* existing or new */
        strcat(path, key);
    } else if (places && cJSON_IsArray(target)) {
        char token[16];
        unsigned size = (unsigned)cJSON_GetArraySize(target);
        if (rnd(4) == 0)
            snprintf(token, sizeof token, "/-");
        else
            snprintf(token, sizeof token, "/%u", rnd(size + 2)); /* size + 1: past the end */
        strcat(path, token);
    } else if (rnd(10) == 0) {
        strcat(path, "/k999"); /* usually missing */
    }
    cJSON_AddStringToObject(o, "path", path);
    if (strcmp(op, "move") == 0 || strcmp(op, "copy") == 0)
        cJSON_AddStringToObject(o, "from", from);
    if (strcmp(op, "test") == 0)
        cJSON_AddItemToObject(o, "value", rnd(4) && target ? cJSON_Duplicate(target, 1)
                                                           : cJSON_CreateString("never"));
    else if (strcmp(op, "add") == 0 || strcmp(op, "replace") == 0)
        cJSON_AddItemToObject(o, "value", rnd(3) ? cJSON_CreateNumber(rnd(1000))
                                                 : big_array(1 + (int)rnd(50), ++*salt));
    return o;
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(doc_new_refuses_no_document)
{
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_doc_new(NULL, &err));
    ck_assert_int_eq(err.status, SC_PATCH_EARG);
    cJSON *patch = cJSON_CreateArray();
    ck_assert_int_eq(sc_doc_apply(NULL, patch, &err), SC_PATCH_EARG);
    ck_assert_int_eq(sc_doc_apply_take(NULL, patch, &err), SC_PATCH_EARG);
    cJSON_Delete(patch);
    ck_assert_ptr_null(sc_doc_root(NULL));
    ck_assert_ptr_null(sc_doc_release(NULL));
    sc_doc_free(NULL);
}
END_TEST

START_TEST(doc_holds_the_tree_it_was_given_and_release_hands_it_back)
{
    cJSON *root = tu_json("{\"a\": [1, 2, 3]}");
    sc_doc *d = sc_doc_new(root, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_eq(sc_doc_root(d), root);
    cJSON *patch = tu_json("[{\"op\":\"add\",\"path\":\"/a/1\",\"value\":9}]");
    ck_assert_int_eq(sc_doc_apply(d, patch, NULL), SC_PATCH_OK);
    ck_assert_ptr_eq(sc_doc_root(d), root);
    ck_assert_ptr_eq(sc_doc_release(d), root);
    char *s = tu_print(root);
    ck_assert_str_eq(s, "{\"a\":[1,9,2,3]}");
    free(s);
    cJSON_Delete(patch);
    cJSON_Delete(root);
}
END_TEST

START_TEST(doc_apply_reads_the_patch_and_doc_apply_take_moves_its_values)
{
    sc_doc *d = sc_doc_new(tu_json("{\"list\": []}"), NULL);
    cJSON *patch = tu_json("[{\"op\":\"add\",\"path\":\"/list/-\",\"value\":{\"x\":1}}]");
    char *before = tu_print(patch);
    ck_assert_int_eq(sc_doc_apply(d, patch, NULL), SC_PATCH_OK);
    char *after = tu_print(patch);
    ck_assert_str_eq(before, after);
    const cJSON *value = cJSON_GetObjectItem(patch->child, "value");
    ck_assert_int_eq(sc_doc_apply_take(d, patch, NULL), SC_PATCH_OK);
    const cJSON *list = cJSON_GetObjectItem(sc_doc_root(d), "list");
    ck_assert_ptr_eq(list->child->next, value); /* the very item, not a copy */
    ck_assert_ptr_null(cJSON_GetObjectItem(patch->child, "value"));
    ck_assert_int_eq(cJSON_GetArraySize(list), 2);
    free(before);
    free(after);
    cJSON_Delete(patch);
    sc_doc_free(d);
}
END_TEST

/* Removes a large indexed array and object and puts new ones (often at the addresses just
 * freed) in their place: the kept indexes must not describe the freed ones. */
START_TEST(doc_forgets_the_containers_a_patch_frees)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "a", big_array(100, 0));
    cJSON_AddItemToObject(root, "o", big_object(100, 0));
    sc_doc *d = sc_doc_new(root, NULL);
    cJSON *plain = cJSON_Duplicate(root, 1);
    for (int round = 0; round < 50; round++) {
        cJSON *patch = cJSON_CreateArray();
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", "remove");
        cJSON_AddStringToObject(op, "path", round % 2 ? "/a" : "/o");
        cJSON_AddItemToArray(patch, op);
        op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", "add");
        cJSON_AddStringToObject(op, "path", round % 2 ? "/a" : "/o");
        cJSON_AddItemToObject(op, "value", round % 2 ? big_array(60 + round, round)
                                                     : big_object(60 + round, round));
        cJSON_AddItemToArray(patch, op);
        /* Reach into the new container far past where the old one's index ended. */
        char buf[128];
        snprintf(buf, sizeof buf,
                 round % 2 ? "{\"op\":\"replace\",\"path\":\"/a/%d\",\"value\":-1}"
                           : "{\"op\":\"replace\",\"path\":\"/o/k%d\",\"value\":-1}",
                 55 + round);
        cJSON_AddItemToArray(patch, tu_json(buf));
        ck_assert_int_eq(sc_patch_apply(&plain, patch, NULL), SC_PATCH_OK);
        ck_assert_int_eq(sc_doc_apply_take(d, patch, NULL), SC_PATCH_OK);
        same_doc(sc_doc_root(d), plain, "after replacing a large container", round);
        cJSON_Delete(patch);
        /* Every third round frees the graveyard at once, so the next round's new containers
         * are built at the addresses just freed (otherwise the next apply frees them). */
        if (round % 3 == 0)
            sc_doc_collect(d);
    }
    cJSON_Delete(plain);
    sc_doc_free(d);
}
END_TEST

START_TEST(doc_apply_that_fails_leaves_tree_and_patch_exactly_as_before)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "a", big_array(80, 0));
    cJSON_AddItemToObject(root, "o", big_object(80, 0));
    sc_doc *d = sc_doc_new(root, NULL);
    cJSON *patch = tu_json("[{\"op\":\"remove\",\"path\":\"/a/40\"},"
                           " {\"op\":\"add\",\"path\":\"/a/10\",\"value\":[\"new\"]},"
                           " {\"op\":\"replace\",\"path\":\"/o/k70\",\"value\":{\"r\":1}},"
                           " {\"op\":\"move\",\"from\":\"/o/k3\",\"path\":\"/a/0\"},"
                           " {\"op\":\"replace\",\"path\":\"\",\"value\":{\"root\":true}},"
                           " {\"op\":\"test\",\"path\":\"/root\",\"value\":false}]");
    tu_snapshot doc_snap = tu_snapshot_take(root), patch_snap = tu_snapshot_take(patch);
    sc_patch_error err = {0};
    ck_assert_int_eq(sc_doc_apply_take(d, patch, &err), SC_PATCH_ETEST);
    ck_assert_int_eq(err.op_index, 5);
    ck_assert_ptr_eq(sc_doc_root(d), root);
    ck_assert(tu_snapshot_same(&doc_snap, root));
    ck_assert(tu_snapshot_same(&patch_snap, patch));
    /* The same document then applies patches correctly (its indexes were rebuilt). */
    cJSON *plain = cJSON_Duplicate(root, 1);
    cJSON *ok = tu_json("[{\"op\":\"remove\",\"path\":\"/a/40\"},"
                        " {\"op\":\"replace\",\"path\":\"/a/70\",\"value\":0},"
                        " {\"op\":\"remove\",\"path\":\"/o/k71\"},"
                        " {\"op\":\"test\",\"path\":\"/o/k73\",\"value\":73}]");
    ck_assert_int_eq(sc_patch_apply(&plain, ok, NULL), SC_PATCH_OK);
    ck_assert_int_eq(sc_doc_apply(d, ok, NULL), SC_PATCH_OK);
    same_doc(sc_doc_root(d), plain, "after a rollback", 0);
    tu_snapshot_free(&doc_snap);
    tu_snapshot_free(&patch_snap);
    cJSON_Delete(ok);
    cJSON_Delete(patch);
    cJSON_Delete(plain);
    sc_doc_free(d);
}
END_TEST

/* The property: one sc_doc receives 1,500 random patches (values taken or copied, some
 * failing, some freeing large containers or the root); the same patches applied with the
 * plain sc_patch_apply() to a copy give the same status, failing index and document. */
START_TEST(doc_applies_a_long_random_sequence_exactly_like_the_plain_applier)
{
    rng_state = 20261124;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "a", big_array(120, 0));
    cJSON_AddItemToObject(root, "o", big_object(90, 0));
    cJSON *nest = cJSON_AddObjectToObject(root, "nest");
    cJSON_AddItemToObject(nest, "rows", big_array(50, 7));
    cJSON *plain = cJSON_Duplicate(root, 1);
    sc_doc *d = sc_doc_new(root, NULL);
    ck_assert_ptr_nonnull(d);
    cJSON *paths = cJSON_CreateArray();
    int salt = 1000, failed = 0, ok = 0;
    for (int round = 0; round < 1500; round++) {
        cJSON *patch = cJSON_CreateArray();
        for (int k = 0, n = 1 + (int)rnd(6); k < n; k++)
            cJSON_AddItemToArray(patch, random_op(plain, paths, &salt));
        cJSON *given = cJSON_Duplicate(patch, 1);
        tu_snapshot given_snap = tu_snapshot_take(given);
        char *before = tu_print(plain);

        sc_patch_error want = {0}, got = {0};
        sc_patch_status st_plain = sc_patch_apply(&plain, patch, &want);
        int take = round % 2;
        sc_patch_status st_doc = take ? sc_doc_apply_take(d, given, &got)
                                      : sc_doc_apply(d, given, &got);
        ck_assert_msg(st_doc == st_plain, "round %d: %s, the plain applier %s", round,
                      sc_patch_strerror(st_doc), sc_patch_strerror(st_plain));
        ck_assert(tu_lists_ok(sc_doc_root(d)));
        same_doc(sc_doc_root(d), plain, "documents differ", round);
        if (st_plain != SC_PATCH_OK) {
            failed++;
            ck_assert_int_eq(got.op_index, want.op_index);
            ck_assert_str_eq(got.reason, want.reason);
            ck_assert_msg(tu_snapshot_same(&given_snap, given), "round %d: patch changed",
                          round);
            char *after = tu_print(sc_doc_root(d));
            ck_assert_str_eq(after, before);
            free(after);
        } else {
            ok++;
        }
        free(before);
        tu_snapshot_free(&given_snap);
        cJSON_Delete(given);
        cJSON_Delete(patch);
    }
    /* Both outcomes were exercised often. */
    ck_assert_int_gt(ok, 300);
    ck_assert_int_gt(failed, 300);
    cJSON_Delete(paths);
    cJSON_Delete(plain);
    sc_doc_free(d);
}
END_TEST

/* Changes made through sc_doc_edit()'s pointer (elements deleted from and inserted into large
 * indexed lists, members added) are seen by the applies after it: their indexes were dropped
 * and rebuilt, so the results equal the plain applier's on a copy changed the same way. */
START_TEST(doc_edit_lends_the_tree_out_and_later_applies_see_the_changes)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "a", big_array(120, 0));
    cJSON_AddItemToObject(root, "o", big_object(90, 0));
    sc_doc *d = sc_doc_new(root, NULL);
    cJSON *plain = cJSON_Duplicate(root, 1);
    /* Index both lists deep, and leave something in the graveyard. */
    cJSON *warm = tu_json("[{\"op\":\"replace\",\"path\":\"/a/110\",\"value\":{\"w\":1}},"
                          " {\"op\":\"replace\",\"path\":\"/o/k80\",\"value\":0}]");
    ck_assert_int_eq(sc_doc_apply(d, warm, NULL), SC_PATCH_OK);
    ck_assert_int_eq(sc_patch_apply(&plain, warm, NULL), SC_PATCH_OK);
    for (int round = 0; round < 20; round++) {
        cJSON *t = sc_doc_edit(d);
        ck_assert_ptr_eq(t, sc_doc_root(d));
        cJSON *trees[2] = {t, plain};
        for (int k = 0; k < 2; k++) {
            cJSON *a = cJSON_GetObjectItem(trees[k], "a");
            cJSON *o = cJSON_GetObjectItem(trees[k], "o");
            cJSON_DeleteItemFromArray(a, 3 + round);       /* shifts every later element */
            cJSON_DeleteItemFromArray(a, 100 - round);
            cJSON_AddItemToArray(a, cJSON_CreateNumber(1000 + round));
            cJSON_DeleteItemFromObject(o, "k70");
            char key[16];
            snprintf(key, sizeof key, "n%d", round);
            cJSON_AddNumberToObject(o, key, round);
        }
        char buf[256];
        snprintf(buf, sizeof buf,
                 "[{\"op\":\"replace\",\"path\":\"/a/%d\",\"value\":-1},"
                 " {\"op\":\"remove\",\"path\":\"/a/%d\"},"
                 " {\"op\":\"replace\",\"path\":\"/o/n%d\",\"value\":-2},"
                 " {\"op\":\"test\",\"path\":\"/a/-1\",\"value\":0}]",
                 90 - round, 50 + round, round);
        cJSON *patch = tu_json(buf);
        /* Without its last op first (a failing apply drops the indexes, which would hide
         * stale ones), then whole: the last op fails ("-" is not an index), both roll back. */
        cJSON *failing = cJSON_DetachItemFromArray(patch, 3);
        ck_assert_int_eq(sc_patch_apply(&plain, patch, NULL), SC_PATCH_OK);
        ck_assert_int_eq(sc_doc_apply(d, patch, NULL), SC_PATCH_OK);
        ck_assert(tu_lists_ok(sc_doc_root(d)));
        same_doc(sc_doc_root(d), plain, "after an edit in place", round);
        cJSON_AddItemToArray(patch, failing);
        ck_assert_int_eq(sc_patch_apply(&plain, patch, NULL), SC_PATCH_EPOINTER);
        ck_assert_int_eq(sc_doc_apply(d, patch, NULL), SC_PATCH_EPOINTER);
        same_doc(sc_doc_root(d), plain, "after a failed apply", round);
        cJSON_Delete(patch);
    }
    ck_assert_ptr_null(sc_doc_edit(NULL));
    cJSON_Delete(warm);
    cJSON_Delete(plain);
    sc_doc_free(d);
}
END_TEST

/* ---- the graveyard: allocations counted through cJSON's hooks ---------------------------- */

static long g_live;  /* allocations made through the hooks and not yet freed */
static long g_frees; /* frees through the hooks so far */

static void *counting_malloc(size_t size)
{
    void *p = malloc(size);
    if (p != NULL)
        g_live++;
    return p;
}

static void counting_free(void *p)
{
    if (p != NULL) {
        g_live--;
        g_frees++;
    }
    free(p);
}

static void count_allocations(void)
{
    cJSON_Hooks hooks = {counting_malloc, counting_free};
    cJSON_InitHooks(&hooks);
    g_live = g_frees = 0;
}

/* [{"op":"replace","path":path,"value":value}], value taken. */
static cJSON *replace_op(const char *path, cJSON *value)
{
    cJSON *patch = cJSON_CreateArray();
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "replace");
    cJSON_AddStringToObject(op, "path", path);
    cJSON_AddItemToObject(op, "value", value);
    cJSON_AddItemToArray(patch, op);
    return patch;
}

/* A replace of a 400-element array frees none of it inside the apply; sc_doc_collect() frees
 * all of it, and the document reads the same before and after the collect. */
START_TEST(doc_apply_leaves_what_it_replaced_for_collect_to_free)
{
    count_allocations();
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "rows", big_array(400, 0));
    cJSON_AddNumberToObject(root, "n", 1);
    sc_doc *d = sc_doc_new(root, NULL);
    cJSON *patch = replace_op("/rows", cJSON_CreateString("gone"));
    long before = g_frees;
    ck_assert_int_eq(sc_doc_apply_take(d, patch, NULL), SC_PATCH_OK);
    long freed_in_apply = g_frees - before;
    ck_assert_int_le(freed_in_apply, 2); /* at most an undo-log buffer, never the rows */
    cJSON_Delete(patch);
    char *text = cJSON_PrintUnformatted(sc_doc_root(d));
    ck_assert_str_eq(text, "{\"rows\":\"gone\",\"n\":1}");
    cJSON_free(text);
    before = g_frees;
    sc_doc_collect(d);
    /* 300 numbers and 100 objects of 6 allocations each (the object, "id" and its key, "l"
     * and its key, the number in it). */
    ck_assert_int_ge(g_frees - before, 300 + 100 * 6);
    before = g_frees;
    sc_doc_collect(d); /* an empty graveyard: nothing to do */
    ck_assert_int_eq(g_frees - before, 0);
    sc_doc_free(d);
    ck_assert_int_eq(g_live, 0);
    cJSON_InitHooks(NULL);
}
END_TEST

/* Without sc_doc_collect(), the next apply frees the previous one's graveyard first: over 60
 * replacements of a large subtree the live allocations never exceed the document plus one
 * replaced subtree, and freeing the handle with a full graveyard leaks nothing. */
START_TEST(doc_graveyard_holds_one_apply_and_is_freed_by_the_next)
{
    count_allocations();
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "rows", big_array(300, 0));
    sc_doc *d = sc_doc_new(root, NULL);
    long one_doc = g_live;
    long high = 0;
    for (int round = 1; round <= 60; round++) {
        cJSON *patch = replace_op("/rows", big_array(300, round));
        ck_assert_int_eq(sc_doc_apply_take(d, patch, NULL), SC_PATCH_OK);
        cJSON_Delete(patch);
        if (g_live > high)
            high = g_live;
        const cJSON *rows = cJSON_GetObjectItem(sc_doc_root(d), "rows");
        ck_assert_int_eq((int)cJSON_GetArrayItem(rows, 1)->valuedouble, 1 + round);
    }
    /* The document, the previous rows in the graveyard, and the kept index: well under three
     * documents' worth, and not growing with the rounds. */
    ck_assert_int_lt(high, 3 * one_doc);
    sc_doc_free(d);
    ck_assert_int_eq(g_live, 0);

    /* sc_doc_release() with a full graveyard frees it too and hands back only the tree. */
    d = sc_doc_new(big_object(100, 0), NULL);
    cJSON *patch = replace_op("/k3", big_array(100, 1));
    ck_assert_int_eq(sc_doc_apply_take(d, patch, NULL), SC_PATCH_OK);
    cJSON_Delete(patch);
    cJSON *tree = sc_doc_release(d);
    cJSON_Delete(tree);
    ck_assert_int_eq(g_live, 0);
    cJSON_InitHooks(NULL);
}
END_TEST

/* A failed apply parks nothing (the removed items went back into the tree) and still frees
 * the previous apply's graveyard. */
START_TEST(doc_failed_apply_parks_nothing)
{
    count_allocations();
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "rows", big_array(200, 0));
    cJSON_AddItemToObject(root, "more", big_array(200, 5));
    sc_doc *d = sc_doc_new(root, NULL);
    cJSON *first = replace_op("/rows", cJSON_CreateNumber(1));
    ck_assert_int_eq(sc_doc_apply_take(d, first, NULL), SC_PATCH_OK);
    cJSON_Delete(first);
    long parked_live = g_live;
    cJSON *failing = tu_json("[{\"op\":\"remove\",\"path\":\"/more\"},"
                             " {\"op\":\"test\",\"path\":\"/rows\",\"value\":2}]");
    ck_assert_int_eq(sc_doc_apply(d, failing, NULL), SC_PATCH_ETEST);
    /* The old rows were freed, /more is back in the tree, not parked. */
    ck_assert_int_lt(g_live, parked_live - 200);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(sc_doc_root(d), "more"));
    long after_fail = g_live;
    sc_doc_collect(d);
    ck_assert_int_eq(g_live, after_fail);
    cJSON_Delete(failing);
    sc_doc_free(d);
    ck_assert_int_eq(g_live, 0);
    cJSON_InitHooks(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("doc");
    TCase *tc = tcase_create("doc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, doc_new_refuses_no_document);
    tcase_add_test(tc, doc_holds_the_tree_it_was_given_and_release_hands_it_back);
    tcase_add_test(tc, doc_apply_reads_the_patch_and_doc_apply_take_moves_its_values);
    tcase_add_test(tc, doc_forgets_the_containers_a_patch_frees);
    tcase_add_test(tc, doc_apply_that_fails_leaves_tree_and_patch_exactly_as_before);
    tcase_add_test(tc, doc_applies_a_long_random_sequence_exactly_like_the_plain_applier);
    tcase_add_test(tc, doc_apply_leaves_what_it_replaced_for_collect_to_free);
    tcase_add_test(tc, doc_graveyard_holds_one_apply_and_is_freed_by_the_next);
    tcase_add_test(tc, doc_failed_apply_parks_nothing);
    tcase_add_test(tc, doc_edit_lends_the_tree_out_and_later_applies_see_the_changes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
