/* tests for patch/src/apply.c: every RFC 6902 operation, every error, and atomicity. */
#include "testutil.h"

/* Applies the patch literal to *doc; err may be NULL. */
static sc_patch_status run(cJSON **doc, const char *patch_json, sc_patch_error *err)
{
    cJSON *patch = tu_json(patch_json);
    char *before = tu_print(patch);
    sc_patch_status st = sc_patch_apply(doc, patch, err);
    char *after = tu_print(patch);
    ck_assert_str_eq(before, after); /* the patch is only read */
    free(before);
    free(after);
    cJSON_Delete(patch);
    ck_assert(tu_lists_ok(*doc));
    return st;
}

/* Asserts doc serializes exactly as the literal (member order included). */
static void expect(const cJSON *doc, const char *json)
{
    cJSON *want = tu_json(json);
    char *w = tu_print(want), *g = tu_print(doc);
    ck_assert_str_eq(g, w);
    free(w);
    free(g);
    cJSON_Delete(want);
}

/* Applies a patch that must fail with status and leave doc exactly as it was. */
static sc_patch_error fails(cJSON **doc, const char *patch_json, sc_patch_status status)
{
    cJSON *root = *doc;
    tu_snapshot snap = tu_snapshot_take(root);
    sc_patch_error err = {0};
    sc_patch_status st = run(doc, patch_json, &err);
    char line[512];
    ck_assert_msg(st == status, "got %s, want %s: %s", sc_patch_strerror(st),
                  sc_patch_strerror(status), sc_patch_error_format(&err, line, sizeof line));
    ck_assert_int_eq(err.status, status);
    ck_assert(err.reason[0] != '\0');
    ck_assert_ptr_eq(*doc, root);
    ck_assert_msg(tu_snapshot_same(&snap, *doc), "failed patch changed the document");
    tu_snapshot_free(&snap);
    return err;
}

/* ---- add ------------------------------------------------------------------------------- */

START_TEST(add_appends_a_new_member_to_an_object)
{
    cJSON *doc = tu_json("{\"a\": 1}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"add\",\"path\":\"/b\",\"value\":{\"c\":[2]}}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":1,\"b\":{\"c\":[2]}}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"add\",\"path\":\"/a~1b~0c\",\"value\":3}]", NULL),
                     SC_PATCH_OK);
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "a/b~c")->valueint, 3);
    cJSON_Delete(doc);

    doc = tu_json("{}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"add\",\"path\":\"/\",\"value\":0}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"\":0}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_replaces_an_existing_member_in_place)
{
    cJSON *doc = tu_json("{\"a\": 1, \"b\": 2, \"c\": 3}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"add\",\"path\":\"/b\",\"value\":[9]}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":1,\"b\":[9],\"c\":3}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_inserts_into_an_array_before_the_index)
{
    cJSON *doc = tu_json("[]");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"add\",\"path\":\"/0\",\"value\":\"b\"},"
                         " {\"op\":\"add\",\"path\":\"/0\",\"value\":\"a\"},"
                         " {\"op\":\"add\",\"path\":\"/2\",\"value\":\"d\"},"
                         " {\"op\":\"add\",\"path\":\"/2\",\"value\":\"c\"},"
                         " {\"op\":\"add\",\"path\":\"/-\",\"value\":\"e\"},"
                         " {\"op\":\"add\",\"path\":\"/1\",\"value\":[\"not flattened\"]}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "[\"a\",[\"not flattened\"],\"b\",\"c\",\"d\",\"e\"]");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_at_the_root_replaces_the_document)
{
    cJSON *doc = tu_json("{\"old\": [1, 2, 3]}");
    cJSON *old = doc;
    ck_assert_int_eq(run(&doc, "[{\"op\":\"add\",\"path\":\"\",\"value\":[\"new\"]}]", NULL),
                     SC_PATCH_OK);
    ck_assert_ptr_ne(doc, old); /* the old root was freed (ASan would catch a leak) */
    expect(doc, "[\"new\"]");
    ck_assert_ptr_null(doc->string);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_refuses_an_index_past_the_end)
{
    cJSON *doc = tu_json("{\"bar\": [1, 2]}");
    sc_patch_error err = fails(&doc, "[{\"op\":\"add\",\"path\":\"/bar/3\",\"value\":5}]",
                               SC_PATCH_EINDEX);
    ck_assert_str_eq(err.reason, "index 3 is past the end (2) of the array at \"/bar\"");
    ck_assert_str_eq(err.path, "/bar/3");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_refuses_a_token_that_is_not_an_index_on_an_array)
{
    cJSON *doc = tu_json("[\"foo\", \"sil\"]");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"add\",\"path\":\"/bar\",\"value\":42}]", SC_PATCH_EPOINTER);
    ck_assert_ptr_nonnull(strstr(err.reason, "not an array index"));
    fails(&doc, "[{\"op\":\"add\",\"path\":\"/01\",\"value\":42}]", SC_PATCH_EPOINTER);
    fails(&doc, "[{\"op\":\"add\",\"path\":\"/-1\",\"value\":42}]", SC_PATCH_EPOINTER);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_refuses_a_missing_parent)
{
    cJSON *doc = tu_json("{\"a\": {}}");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"add\",\"path\":\"/a/b/c\",\"value\":1}]", SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.reason, "no member \"b\" in the object at \"/a\"");
    fails(&doc, "[{\"op\":\"add\",\"path\":\"/a/b/c/d\",\"value\":1}]", SC_PATCH_ENOPATH);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(add_copies_its_value_out_of_the_patch)
{
    cJSON *doc = tu_json("{}");
    cJSON *patch = tu_json("[{\"op\":\"add\",\"path\":\"/v\",\"value\":{\"deep\":[\"x\"]}}]");
    ck_assert_int_eq(sc_patch_apply(&doc, patch, NULL), SC_PATCH_OK);
    cJSON *added = cJSON_GetObjectItem(doc, "v");
    const cJSON *source = cJSON_GetObjectItem(patch->child, "value");
    ck_assert_ptr_ne(added, source);
    ck_assert_ptr_ne(added->child, source->child);
    cJSON_Delete(patch); /* the document must not depend on the patch */
    expect(doc, "{\"v\":{\"deep\":[\"x\"]}}");
    cJSON_Delete(doc);
}
END_TEST

/* ---- taking values out of the patch (sc_patch_apply_take) -------------------------------- */

START_TEST(apply_take_links_the_patch_values_themselves_into_the_document)
{
    cJSON *doc = tu_json("{\"a\": [1, 2], \"o\": {\"k\": 0}}");
    cJSON *patch = tu_json("[{\"op\":\"add\",\"path\":\"/a/1\",\"value\":{\"x\":[1]}},"
                           " {\"op\":\"replace\",\"path\":\"/o/k\",\"value\":\"s\"},"
                           " {\"op\":\"replace\",\"path\":\"/a/0\",\"value\":[true]},"
                           " {\"op\":\"add\",\"path\":\"/n\",\"value\":null},"
                           " {\"op\":\"test\",\"path\":\"/n\",\"value\":null}]");
    const cJSON *op = patch->child;
    const cJSON *v_add = cJSON_GetObjectItem(op, "value");
    const cJSON *v_rep = cJSON_GetObjectItem(op->next, "value");
    const cJSON *v_arr = cJSON_GetObjectItem(op->next->next, "value");
    const cJSON *v_test = cJSON_GetObjectItem(op->next->next->next->next, "value");
    ck_assert_int_eq(sc_patch_apply_take(&doc, patch, NULL), SC_PATCH_OK);
    ck_assert(tu_lists_ok(doc));
    expect(doc, "{\"a\":[[true],{\"x\":[1]},2],\"o\":{\"k\":\"s\"},\"n\":null}");
    ck_assert_ptr_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "a"), 1), v_add);
    ck_assert_ptr_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "a"), 0), v_arr);
    ck_assert_ptr_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "o"), "k"), v_rep);
    ck_assert_str_eq(v_rep->string, "k"); /* the value took its place's key */
    ck_assert_ptr_null(v_arr->string);
    /* The operations lost their values, nothing else; test values stay. */
    expect(patch, "[{\"op\":\"add\",\"path\":\"/a/1\"},{\"op\":\"replace\",\"path\":\"/o/k\"},"
                  "{\"op\":\"replace\",\"path\":\"/a/0\"},{\"op\":\"add\",\"path\":\"/n\"},"
                  "{\"op\":\"test\",\"path\":\"/n\",\"value\":null}]");
    ck_assert_ptr_eq(cJSON_GetObjectItem(op->next->next->next->next, "value"), v_test);
    cJSON_Delete(patch); /* the document must not depend on what is left of the patch */
    ck_assert(tu_lists_ok(doc));
    cJSON_Delete(doc);
}
END_TEST

START_TEST(apply_take_of_the_root_makes_the_value_the_document)
{
    cJSON *doc = tu_json("{\"old\": [1, 2, 3]}");
    cJSON *patch = tu_json("[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"new\":true}},"
                           " {\"op\":\"add\",\"path\":\"/more\",\"value\":[0]}]");
    const cJSON *root_value = cJSON_GetObjectItem(patch->child, "value");
    ck_assert_int_eq(sc_patch_apply_take(&doc, patch, NULL), SC_PATCH_OK);
    ck_assert_ptr_eq(doc, root_value);
    ck_assert_ptr_null(doc->string);
    ck_assert_ptr_null(doc->next);
    ck_assert_ptr_null(doc->prev);
    cJSON_Delete(patch);
    expect(doc, "{\"new\":true,\"more\":[0]}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(apply_take_that_fails_leaves_document_and_patch_exactly_as_before)
{
    static const char *const patches[] = {
        /* values taken into objects, arrays and the root, then a failing test */
        "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":{\"x\":1}},"
        " {\"op\":\"replace\",\"path\":\"/o/k\",\"value\":[2]},"
        " {\"op\":\"add\",\"path\":\"/o/new\",\"value\":3},"
        " {\"op\":\"replace\",\"path\":\"/a/1\",\"value\":4},"
        " {\"op\":\"move\",\"from\":\"/o/new\",\"path\":\"/a/-\"},"
        " {\"op\":\"replace\",\"path\":\"\",\"value\":{\"root\":5}},"
        " {\"op\":\"add\",\"path\":\"/root2\",\"value\":6},"
        " {\"op\":\"test\",\"path\":\"/root\",\"value\":0}]",
        /* the failing operation is itself an add whose value cannot be placed */
        "[{\"op\":\"add\",\"path\":\"/o/x\",\"value\":[1]},"
        " {\"op\":\"add\",\"path\":\"/a/9\",\"value\":{\"y\":2}}]",
        /* a replace whose target is missing (its value is never touched) */
        "[{\"op\":\"add\",\"path\":\"/o/x\",\"value\":[1]},"
        " {\"op\":\"replace\",\"path\":\"/o/missing\",\"value\":2}]",
    };
    static const sc_patch_status want[] = {SC_PATCH_ETEST, SC_PATCH_EINDEX, SC_PATCH_ENOPATH};
    for (size_t i = 0; i < sizeof patches / sizeof *patches; i++) {
        cJSON *doc = tu_json("{\"a\": [1, 2], \"o\": {\"k\": 0}}");
        cJSON *root = doc;
        cJSON *patch = tu_json(patches[i]);
        tu_snapshot doc_snap = tu_snapshot_take(doc), patch_snap = tu_snapshot_take(patch);
        sc_patch_error err = {0};
        ck_assert_int_eq(sc_patch_apply_take(&doc, patch, &err), want[i]);
        ck_assert_ptr_eq(doc, root);
        ck_assert_msg(tu_snapshot_same(&doc_snap, doc), "patch %zu changed the document", i);
        ck_assert_msg(tu_snapshot_same(&patch_snap, patch), "patch %zu changed the patch", i);
        ck_assert(tu_lists_ok(patch));
        /* ... so the same patch, fixed, still applies with its values. */
        cJSON_Delete(cJSON_DetachItemViaPointer(patch, patch->child->prev));
        ck_assert_int_eq(sc_patch_apply_take(&doc, patch, &err), SC_PATCH_OK);
        tu_snapshot_free(&doc_snap);
        tu_snapshot_free(&patch_snap);
        cJSON_Delete(patch);
        cJSON_Delete(doc);
    }
}
END_TEST

START_TEST(apply_take_refuses_what_apply_refuses)
{
    cJSON *doc = tu_json("{}");
    sc_patch_error err = {0};
    ck_assert_int_eq(sc_patch_apply_take(NULL, NULL, &err), SC_PATCH_EARG);
    cJSON *not_array = tu_json("{\"op\":\"add\"}");
    ck_assert_int_eq(sc_patch_apply_take(&doc, not_array, &err), SC_PATCH_EINVAL);
    cJSON *no_value = tu_json("[{\"op\":\"add\",\"path\":\"/a\"}]");
    ck_assert_int_eq(sc_patch_apply_take(&doc, no_value, &err), SC_PATCH_EINVAL);
    expect(doc, "{}");
    cJSON_Delete(no_value);
    cJSON_Delete(not_array);
    cJSON_Delete(doc);
}
END_TEST

/* ---- remove ---------------------------------------------------------------------------- */

START_TEST(remove_deletes_members_and_elements)
{
    cJSON *doc = tu_json("{\"a\": 1, \"b\": [1, 2, 3, 4, 5], \"c\": 3}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"remove\",\"path\":\"/a\"},"
                         " {\"op\":\"remove\",\"path\":\"/b/0\"},"
                         " {\"op\":\"remove\",\"path\":\"/b/3\"},"
                         " {\"op\":\"remove\",\"path\":\"/b/1\"},"
                         " {\"op\":\"remove\",\"path\":\"/c\"}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"b\":[2,4]}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"remove\",\"path\":\"/b/1\"},"
                         " {\"op\":\"remove\",\"path\":\"/b/0\"}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"b\":[]}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(remove_refuses_what_does_not_exist)
{
    cJSON *doc = tu_json("{\"a\": [1, 2]}");
    fails(&doc, "[{\"op\":\"remove\",\"path\":\"/b\"}]", SC_PATCH_ENOPATH);
    fails(&doc, "[{\"op\":\"remove\",\"path\":\"/b/c\"}]", SC_PATCH_ENOPATH);
    sc_patch_error err = fails(&doc, "[{\"op\":\"remove\",\"path\":\"/a/2\"}]", SC_PATCH_EINDEX);
    ck_assert_str_eq(err.reason, "index 2 is past the end (2) of the array at \"/a\"");
    err = fails(&doc, "[{\"op\":\"remove\",\"path\":\"/a/-\"}]", SC_PATCH_EINDEX);
    ck_assert_ptr_nonnull(strstr(err.reason, "\"-\" names no element"));
    fails(&doc, "[{\"op\":\"remove\",\"path\":\"/a/1e0\"}]", SC_PATCH_EPOINTER);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(remove_of_the_root_is_refused)
{
    cJSON *doc = tu_json("{\"a\": 1}");
    sc_patch_error err = fails(&doc, "[{\"op\":\"remove\",\"path\":\"\"}]", SC_PATCH_EROOT);
    ck_assert_str_eq(err.op, "remove");
    cJSON_Delete(doc);
}
END_TEST

/* ---- replace --------------------------------------------------------------------------- */

START_TEST(replace_swaps_a_value_in_place)
{
    cJSON *doc = tu_json("{\"a\": 1, \"b\": [\"x\", \"y\", \"z\"], \"c\": {\"d\": 0}}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":null},"
                         " {\"op\":\"replace\",\"path\":\"/b/0\",\"value\":0},"
                         " {\"op\":\"replace\",\"path\":\"/b/1\",\"value\":1},"
                         " {\"op\":\"replace\",\"path\":\"/b/2\",\"value\":[2]},"
                         " {\"op\":\"replace\",\"path\":\"/c/d\",\"value\":{\"e\":false}}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":null,\"b\":[0,1,[2]],\"c\":{\"d\":{\"e\":false}}}");
    cJSON_Delete(doc);

    doc = tu_json("[\"only\"]");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"replace\",\"path\":\"/0\",\"value\":true}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "[true]");
    ck_assert_ptr_null(doc->child->string);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(replace_of_the_root_swaps_the_document)
{
    cJSON *doc = tu_json("{\"foo\": \"bar\"}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"replace\",\"path\":\"\",\"value\":42}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "42");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(replace_refuses_what_does_not_exist)
{
    cJSON *doc = tu_json("{\"a\": [1]}");
    fails(&doc, "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", SC_PATCH_ENOPATH);
    fails(&doc, "[{\"op\":\"replace\",\"path\":\"/a/1\",\"value\":1}]", SC_PATCH_EINDEX);
    fails(&doc, "[{\"op\":\"replace\",\"path\":\"/a/-\",\"value\":1}]", SC_PATCH_EINDEX);
    cJSON_Delete(doc);
}
END_TEST

/* ---- move ------------------------------------------------------------------------------ */

START_TEST(move_relinks_the_same_item_under_its_new_key)
{
    cJSON *doc = tu_json("{\"a\": {\"deep\": [1]}, \"b\": 2}");
    cJSON *moved = cJSON_GetObjectItem(doc, "a");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/c\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"b\":2,\"c\":{\"deep\":[1]}}");
    ck_assert_ptr_eq(cJSON_GetObjectItem(doc, "c"), moved); /* moved, not copied */
    ck_assert_str_eq(moved->string, "c");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_within_an_array_shifts_indexes_as_remove_then_add)
{
    cJSON *doc = tu_json("[\"a\", \"b\", \"c\", \"d\"]");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/2\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "[\"b\",\"c\",\"a\",\"d\"]");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/3\",\"path\":\"/0\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "[\"d\",\"b\",\"c\",\"a\"]");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/1\",\"path\":\"/-\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "[\"d\",\"c\",\"a\",\"b\"]");
    /* After removing /0 the array has 3 elements: /4 is past its end. */
    fails(&doc, "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/4\"}]", SC_PATCH_EINDEX);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_between_arrays_and_objects_fixes_up_keys)
{
    cJSON *doc = tu_json("{\"list\": [\"x\"], \"obj\": {\"k\": \"v\"}}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"move\",\"from\":\"/obj/k\",\"path\":\"/list/0\"},"
                         " {\"op\":\"move\",\"from\":\"/list/1\",\"path\":\"/obj/n\"}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"list\":[\"v\"],\"obj\":{\"n\":\"x\"}}");
    ck_assert_ptr_null(cJSON_GetObjectItem(doc, "list")->child->string);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_onto_an_existing_member_replaces_it)
{
    cJSON *doc = tu_json("{\"a\": 1, \"b\": 2, \"c\": 3}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/c\",\"path\":\"/a\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":3,\"b\":2}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_into_its_own_child_is_refused)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": {}}, \"ab\": 1}");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", SC_PATCH_EMOVE);
    ck_assert_str_eq(err.op, "move");
    ck_assert_str_eq(err.path, "/a/b/c");
    fails(&doc, "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/a\"}]", SC_PATCH_EMOVE);
    /* "/ab" is a sibling of "/a", not a child. */
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"ab\":{\"b\":{}}}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_to_the_same_place_is_a_no_op_but_needs_a_source)
{
    cJSON *doc = tu_json("{\"a\": [1, 2]}");
    tu_snapshot snap = tu_snapshot_take(doc);
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"},"
                         " {\"op\":\"move\",\"from\":\"/a/1\",\"path\":\"/a/1\"}]",
                         NULL),
                     SC_PATCH_OK);
    ck_assert(tu_snapshot_same(&snap, doc));
    tu_snapshot_free(&snap);
    fails(&doc, "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/x\"}]", SC_PATCH_ENOPATH);
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"\",\"path\":\"\"}]", NULL),
                     SC_PATCH_OK);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_to_the_root_makes_the_value_the_document)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": 1}, \"c\": 2}");
    cJSON *a = cJSON_GetObjectItem(doc, "a");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"\"}]", NULL),
                     SC_PATCH_OK);
    ck_assert_ptr_eq(doc, a);
    ck_assert_ptr_null(doc->string);
    expect(doc, "{\"b\":1}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(move_refuses_a_missing_source)
{
    cJSON *doc = tu_json("{\"foo\": 1, \"arr\": [1]}");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"move\",\"from\":\"/bar\",\"path\":\"/foo\"}]", SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.path, "/bar"); /* the pointer involved is "from" */
    fails(&doc, "[{\"op\":\"move\",\"from\":\"/arr/1\",\"path\":\"/foo\"}]", SC_PATCH_EINDEX);
    fails(&doc, "[{\"op\":\"move\",\"from\":\"/arr/01\",\"path\":\"/foo\"}]", SC_PATCH_EPOINTER);
    cJSON_Delete(doc);
}
END_TEST

/* ---- copy ------------------------------------------------------------------------------ */

START_TEST(copy_duplicates_the_source)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": [1]}}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},"
                         " {\"op\":\"copy\",\"from\":\"/a/b/0\",\"path\":\"/a/b/0\"}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":{\"b\":[1,1]},\"c\":{\"b\":[1]}}");
    ck_assert_ptr_ne(cJSON_GetObjectItem(doc, "a")->child, cJSON_GetObjectItem(doc, "c")->child);
    ck_assert_ptr_null(cJSON_GetObjectItem(doc, "a")->child->child->string);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(copy_into_its_own_child_is_allowed)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": 1}}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/c\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":{\"b\":1,\"c\":{\"b\":1}}}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/all\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":{\"b\":1,\"c\":{\"b\":1}},\"all\":{\"a\":{\"b\":1,\"c\":{\"b\":1}}}}");
    ck_assert_int_eq(run(&doc, "[{\"op\":\"copy\",\"from\":\"/a/b\",\"path\":\"\"}]", NULL),
                     SC_PATCH_OK);
    expect(doc, "1");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(copy_refuses_a_missing_source)
{
    cJSON *doc = tu_json("{\"foo\": 1}");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"copy\",\"from\":\"/bar\",\"path\":\"/foo\"}]", SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.path, "/bar");
    err = fails(&doc, "[{\"op\":\"copy\",\"from\":\"/foo\",\"path\":\"/x/y\"}]", SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.path, "/x/y");
    cJSON_Delete(doc);
}
END_TEST

/* ---- test ------------------------------------------------------------------------------ */

START_TEST(test_passes_on_deep_equality)
{
    cJSON *doc = tu_json("{\"a\": {\"x\": 1, \"y\": [true, null]}, \"n\": 10}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"test\",\"path\":\"/a\","
                         "  \"value\":{\"y\":[true,null],\"x\":1.0}},"
                         " {\"op\":\"test\",\"path\":\"/n\",\"value\":1e1},"
                         " {\"op\":\"test\",\"path\":\"/a/y/1\",\"value\":null},"
                         " {\"op\":\"test\",\"path\":\"\","
                         "  \"value\":{\"n\":10,\"a\":{\"x\":1,\"y\":[true,null]}}}]",
                         NULL),
                     SC_PATCH_OK);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(test_fails_on_any_difference)
{
    cJSON *doc = tu_json("{\"a\": [1, 2], \"s\": \"1\"}");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"test\",\"path\":\"/s\",\"value\":1}]", SC_PATCH_ETEST);
    ck_assert_str_eq(err.reason, "found a string, the test expects a number");
    err = fails(&doc, "[{\"op\":\"test\",\"path\":\"/a\",\"value\":[2,1]}]", SC_PATCH_ETEST);
    ck_assert_str_eq(err.reason, "the value differs from the expected one");
    fails(&doc, "[{\"op\":\"test\",\"path\":\"/missing\",\"value\":null}]", SC_PATCH_ENOPATH);
    fails(&doc, "[{\"op\":\"test\",\"path\":\"/a/01\",\"value\":2}]", SC_PATCH_EPOINTER);
    cJSON_Delete(doc);
}
END_TEST

/* ---- invalid patch documents ----------------------------------------------------------- */

START_TEST(a_patch_that_is_not_an_array_is_invalid)
{
    cJSON *doc = tu_json("{}");
    sc_patch_error err =
        fails(&doc, "{\"op\":\"add\",\"path\":\"/a\",\"value\":1}", SC_PATCH_EINVAL);
    ck_assert_int_eq(err.op_index, -1);
    fails(&doc, "\"[]\"", SC_PATCH_EINVAL);
    ck_assert_int_eq(sc_patch_apply(&doc, NULL, &err), SC_PATCH_EINVAL);
    ck_assert_int_eq(run(&doc, "[]", NULL), SC_PATCH_OK);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(malformed_operations_are_invalid_and_named)
{
    static const struct {
        const char *patch;
        long index;
        const char *op, *reason;
    } cases[] = {
        {"[1]", 0, "", "the operation is not an object"},
        {"[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":0}}, []]", 1, "",
         "the operation is not an object"},
        {"[{\"path\":\"/a\",\"value\":1}]", 0, "", "missing \"op\""},
        {"[{\"op\":1,\"path\":\"/a\",\"value\":1}]", 0, "", "\"op\" is not a string"},
        {"[{\"op\":\"spam\",\"path\":\"/a\",\"value\":1}]", 0, "spam", "unknown op \"spam\""},
        {"[{\"op\":\"ADD\",\"path\":\"/a\",\"value\":1}]", 0, "ADD", "unknown op \"ADD\""},
        {"[{\"op\":\"add\",\"value\":1}]", 0, "add", "missing \"path\""},
        {"[{\"op\":\"add\",\"path\":null,\"value\":1}]", 0, "add", "\"path\" is not a string"},
        {"[{\"op\":\"remove\",\"path\":[\"a\"]}]", 0, "remove", "\"path\" is not a string"},
        {"[{\"op\":\"add\",\"path\":\"/a\"}]", 0, "add", "missing \"value\""},
        {"[{\"op\":\"replace\",\"path\":\"/a\"}]", 0, "replace", "missing \"value\""},
        {"[{\"op\":\"test\",\"path\":\"/a\"}]", 0, "test", "missing \"value\""},
        {"[{\"op\":\"move\",\"path\":\"/a\"}]", 0, "move", "missing \"from\""},
        {"[{\"op\":\"copy\",\"path\":\"/a\",\"from\":2}]", 0, "copy", "\"from\" is not a string"},
        {"[{\"op\":\"copy\",\"path\":\"/a\",\"from\":null}]", 0, "copy",
         "\"from\" is not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *doc = tu_json("{\"a\": 0}");
        sc_patch_error err = fails(&doc, cases[i].patch, SC_PATCH_EINVAL);
        ck_assert_msg(err.op_index == cases[i].index, "%s: index %ld", cases[i].patch,
                      err.op_index);
        ck_assert_str_eq(err.op, cases[i].op);
        ck_assert_str_eq(err.reason, cases[i].reason);
        cJSON_Delete(doc);
    }
}
END_TEST

START_TEST(malformed_pointers_in_a_patch_are_pointer_errors)
{
    cJSON *doc = tu_json("{\"a\": 0}");
    sc_patch_error err =
        fails(&doc, "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", SC_PATCH_EPOINTER);
    ck_assert_str_eq(err.path, "a");
    err = fails(&doc, "[{\"op\":\"copy\",\"from\":\"/a~2\",\"path\":\"/b\"}]", SC_PATCH_EPOINTER);
    ck_assert_str_eq(err.path, "/a~2");
    fails(&doc, "[{\"op\":\"remove\",\"path\":\"/a~\"}]", SC_PATCH_EPOINTER);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(extra_members_are_ignored_and_null_is_a_value)
{
    cJSON *doc = tu_json("{\"a\": 1}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"add\",\"path\":\"/b\",\"value\":null,\"spurious\":[1],"
                         "\"from\":7},"
                         " {\"op\":\"test\",\"path\":\"/b\",\"value\":null,\"op2\":\"x\"},"
                         " {\"op\":\"remove\",\"path\":\"/a\",\"value\":\"ignored\"}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"b\":null}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(the_first_of_duplicate_operation_members_counts)
{
    cJSON *doc = tu_json("{\"a\": 1}");
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2,\"op\":\"remove\","
                         "\"path\":\"/a\",\"value\":3}]",
                         NULL),
                     SC_PATCH_OK);
    expect(doc, "{\"a\":1,\"b\":2}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(a_missing_document_is_an_argument_error)
{
    cJSON *patch = tu_json("[]");
    cJSON *doc = NULL;
    sc_patch_error err = {0};
    ck_assert_int_eq(sc_patch_apply(&doc, patch, &err), SC_PATCH_EARG);
    ck_assert_int_eq(err.status, SC_PATCH_EARG);
    ck_assert_int_eq(sc_patch_apply(NULL, patch, NULL), SC_PATCH_EARG);
    cJSON_Delete(patch);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------- */

START_TEST(error_names_the_failing_operation_index_name_and_path)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": 1}}");
    sc_patch_error err = fails(&doc,
                               "[{\"op\":\"add\",\"path\":\"/c\",\"value\":1},"
                               " {\"op\":\"test\",\"path\":\"/a/b\",\"value\":1},"
                               " {\"op\":\"remove\",\"path\":\"/a/x\"}]",
                               SC_PATCH_ENOPATH);
    ck_assert_int_eq(err.op_index, 2);
    ck_assert_str_eq(err.op, "remove");
    ck_assert_str_eq(err.path, "/a/x");
    char line[512];
    ck_assert_str_eq(sc_patch_error_format(&err, line, sizeof line),
                     "op 2 (remove /a/x): path does not exist: no member \"x\" in the object at "
                     "\"/a\"");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(error_is_left_alone_on_success)
{
    cJSON *doc = tu_json("{}");
    sc_patch_error err = {.status = SC_PATCH_OK, .op_index = 12345};
    ck_assert_int_eq(run(&doc, "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]", &err),
                     SC_PATCH_OK);
    ck_assert_int_eq(err.status, SC_PATCH_OK);
    ck_assert_int_eq(err.op_index, 12345);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(error_fields_are_truncated_to_fit)
{
    char patch[2048], path[700];
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    snprintf(patch, sizeof patch,
             "[{\"op\":\"remove\",\"path\":\"%s\"},{\"op\":\"a-very-long-op-name\"}]", path);
    cJSON *doc = tu_json("{}");
    sc_patch_error err = fails(&doc, patch, SC_PATCH_ENOPATH);
    ck_assert_uint_eq(strlen(err.path), sizeof err.path - 1);
    ck_assert_int_eq(strncmp(err.path, path, sizeof err.path - 1), 0);

    snprintf(patch, sizeof patch, "[{\"op\":\"a-very-long-op-name\",\"path\":\"\"}]");
    err = fails(&doc, patch, SC_PATCH_EINVAL);
    ck_assert_str_eq(err.op, "a-very-long-op-");
    cJSON_Delete(doc);
}
END_TEST

/* ---- atomicity ------------------------------------------------------------------------- */

START_TEST(apply_leaves_document_unchanged_when_a_test_op_fails)
{
    cJSON *doc = tu_json("{\"keep\": {\"list\": [1, 2, 3], \"s\": \"x\"}, \"gone\": [true]}");
    cJSON *keep = cJSON_GetObjectItem(doc, "keep");
    cJSON *list = cJSON_GetObjectItem(keep, "list");
    cJSON *two = list->child->next;
    cJSON *gone = cJSON_GetObjectItem(doc, "gone");
    const char *key = keep->string;
    fails(&doc,
          "[{\"op\":\"remove\",\"path\":\"/gone\"},"
          " {\"op\":\"move\",\"from\":\"/keep/list/1\",\"path\":\"/moved\"},"
          " {\"op\":\"replace\",\"path\":\"/keep/s\",\"value\":\"y\"},"
          " {\"op\":\"add\",\"path\":\"/keep/list/0\",\"value\":0},"
          " {\"op\":\"copy\",\"from\":\"/keep\",\"path\":\"/copy\"},"
          " {\"op\":\"test\",\"path\":\"/moved\",\"value\":3}]",
          SC_PATCH_ETEST);
    /* The pointers kept before the patch still point at the same, unchanged items. */
    ck_assert_ptr_eq(cJSON_GetObjectItem(doc, "keep"), keep);
    ck_assert_ptr_eq(keep->string, key);
    ck_assert_ptr_eq(cJSON_GetObjectItem(keep, "list"), list);
    ck_assert_ptr_eq(list->child->next, two);
    ck_assert_int_eq(two->valueint, 2);
    ck_assert_ptr_eq(cJSON_GetObjectItem(doc, "gone"), gone);
    expect(doc, "{\"keep\":{\"list\":[1,2,3],\"s\":\"x\"},\"gone\":[true]}");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(apply_restores_the_root_when_a_later_operation_fails)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": 1}}");
    fails(&doc,
          "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]},"
          " {\"op\":\"add\",\"path\":\"\",\"value\":{\"x\":1}},"
          " {\"op\":\"remove\",\"path\":\"/nope\"}]",
          SC_PATCH_ENOPATH);
    fails(&doc,
          "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"\"},"
          " {\"op\":\"test\",\"path\":\"/b\",\"value\":2}]",
          SC_PATCH_ETEST);
    fails(&doc,
          "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"\"},"
          " {\"op\":\"remove\",\"path\":\"\"}]",
          SC_PATCH_EROOT);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(apply_undoes_a_long_patch_whose_log_outgrew_the_stack)
{
    /* 300 operations of every kind, then a failure: the undo log moved to the heap. */
    char *patch = malloc(64 * 1024);
    size_t len = 0;
    len += (size_t)sprintf(patch + len, "[");
    for (int i = 0; i < 50; i++)
        len += (size_t)sprintf(patch + len,
                               "{\"op\":\"add\",\"path\":\"/arr/0\",\"value\":%d},"
                               "{\"op\":\"move\",\"from\":\"/arr/0\",\"path\":\"/obj/m%d\"},"
                               "{\"op\":\"copy\",\"from\":\"/obj/m%d\",\"path\":\"/arr/-\"},"
                               "{\"op\":\"replace\",\"path\":\"/obj/k\",\"value\":%d},"
                               "{\"op\":\"remove\",\"path\":\"/arr/1\"},"
                               "{\"op\":\"test\",\"path\":\"/obj/m%d\",\"value\":%d},",
                               i, i, i, i, i, i);
    sprintf(patch + len, "{\"op\":\"test\",\"path\":\"/obj/k\",\"value\":-1}]");
    cJSON *doc = tu_json("{\"arr\": [\"first\", \"second\"], \"obj\": {\"k\": 0}}");
    sc_patch_error err = fails(&doc, patch, SC_PATCH_ETEST);
    ck_assert_int_eq(err.op_index, 300);

    /* Without the failing test the same patch applies. */
    sprintf(patch + len, "{\"op\":\"test\",\"path\":\"/obj/k\",\"value\":49}]");
    ck_assert_int_eq(run(&doc, patch, &err), SC_PATCH_OK);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "obj")), 51);
    free(patch);
    cJSON_Delete(doc);
}
END_TEST

/* ---- a seeded property test: random valid patches ------------------------------------- */

static unsigned long rng_state;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)((rng_state >> 33) % n);
}

/* Collects the pointers of every item under v (v's own pointer is prefix). */
static void collect_paths(const cJSON *v, const char *prefix, cJSON *out)
{
    cJSON_AddItemToArray(out, cJSON_CreateString(prefix));
    int i = 0;
    for (const cJSON *c = v->child; c != NULL; c = c->next, i++) {
        char token[64], path[1024];
        if (cJSON_IsObject(v))
            sc_pointer_escape(c->string, token, sizeof token);
        else
            snprintf(token, sizeof token, "%d", i);
        snprintf(path, sizeof path, "%s/%s", prefix, token);
        collect_paths(c, path, out);
    }
}

static const char *random_path(const cJSON *doc, cJSON *paths)
{
    while (paths->child)
        cJSON_Delete(cJSON_DetachItemViaPointer(paths, paths->child));
    collect_paths(doc, "", paths);
    return cJSON_GetArrayItem(paths, (int)rnd((unsigned)cJSON_GetArraySize(paths)))->valuestring;
}

static cJSON *random_op(const cJSON *doc, cJSON *paths)
{
    static const char *ops[] = {"add", "remove", "replace", "move", "copy", "test"};
    static const char *keys[] = {"a", "b", "a/b", "m~n", ""};
    const char *op = ops[rnd(6)];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", op);
    char path[1100];
    snprintf(path, sizeof path, "%s", random_path(doc, paths));
    const cJSON *target = sc_pointer_get(doc, path, NULL);
    if (strcmp(op, "add") == 0 || strcmp(op, "move") == 0 || strcmp(op, "copy") == 0) {
        /* A new place: a fresh key in an object, an index or "-" in an array. */
        if (cJSON_IsObject(target)) {
            char token[16];
            sc_pointer_escape(keys[rnd(5)], token, sizeof token);
            strcat(path, "/");
            strcat(path, token);
        } else if (cJSON_IsArray(target)) {
            char token[16];
            unsigned n = (unsigned)cJSON_GetArraySize(target);
            if (rnd(3) == 0)
                snprintf(token, sizeof token, "-");
            else
                snprintf(token, sizeof token, "%u", rnd(n + 1));
            strcat(path, "/");
            strcat(path, token);
        }
    }
    cJSON_AddStringToObject(o, "path", path);
    if (strcmp(op, "move") == 0 || strcmp(op, "copy") == 0)
        cJSON_AddStringToObject(o, "from", random_path(doc, paths));
    if (strcmp(op, "test") == 0)
        cJSON_AddItemToObject(o, "value", cJSON_Duplicate(target, 1));
    else if (strcmp(op, "add") == 0 || strcmp(op, "replace") == 0)
        cJSON_AddItemToObject(o, "value",
                              rnd(2) ? cJSON_CreateNumber(rnd(100))
                                     : cJSON_Parse("{\"n\":[1,{\"a\":2}],\"m~n\":{}}"));
    return o;
}

START_TEST(random_patches_apply_like_their_operations_one_by_one_and_undo_exactly)
{
    rng_state = 6902;
    int applied_ops = 0;
    cJSON *paths = cJSON_CreateArray();
    for (int round = 0; round < 300; round++) {
        cJSON *doc = tu_json("{\"a\": {\"b\": [1, 2, {\"c\": 3}], \"a/b\": \"x\"},"
                             " \"list\": [[], {}, 0], \"m~n\": null}");
        cJSON *stepwise = cJSON_Duplicate(doc, 1);
        cJSON *patch = cJSON_CreateArray();
        /* Build a valid patch by trying random operations on a scratch copy. */
        for (int k = 0, n = 1 + (int)rnd(40); k < n; k++) {
            cJSON *op = random_op(stepwise, paths);
            cJSON *single = cJSON_CreateArray();
            cJSON_AddItemToArray(single, op);
            if (sc_patch_apply(&stepwise, single, NULL) == SC_PATCH_OK)
                cJSON_AddItemToArray(patch, cJSON_Duplicate(op, 1));
            cJSON_Delete(single);
        }
        applied_ops += cJSON_GetArraySize(patch);

        /* A failing operation at the end: the whole patch must vanish without a trace. */
        tu_snapshot snap = tu_snapshot_take(doc);
        cJSON *bad = cJSON_Parse("{\"op\":\"test\",\"path\":\"\",\"value\":\"never\"}");
        cJSON_AddItemToArray(patch, bad);
        cJSON *root = doc;
        ck_assert_int_eq(sc_patch_apply(&doc, patch, NULL), SC_PATCH_ETEST);
        ck_assert_ptr_eq(doc, root);
        ck_assert_msg(tu_snapshot_same(&snap, doc), "round %d: rollback changed the document",
                      round);
        tu_snapshot_free(&snap);

        /* Without it the patch equals its operations applied one at a time. */
        cJSON_Delete(cJSON_DetachItemViaPointer(patch, bad));
        ck_assert_int_eq(sc_patch_apply(&doc, patch, NULL), SC_PATCH_OK);
        ck_assert(tu_lists_ok(doc));
        char *got = tu_print(doc), *want = tu_print(stepwise);
        ck_assert_msg(strcmp(got, want) == 0, "round %d: %s != %s", round, got, want);
        free(got);
        free(want);
        cJSON_Delete(patch);
        cJSON_Delete(stepwise);
        cJSON_Delete(doc);
    }
    cJSON_Delete(paths);
    ck_assert_int_gt(applied_ops, 2000); /* the test exercised real patches */
}
END_TEST

/* ---- large containers: apply indexes them (index.c); a plain model is the oracle ------- */

#define MODEL_MAX 1024 /* elements / members a model container can hold */

/* An array of ints, changed by random index operations; its patch; the expected result. */
START_TEST(long_patches_on_a_large_array_match_a_plain_model)
{
    rng_state = 31337;
    for (int round = 0; round < 40; round++) {
        int model[MODEL_MAX], n = 200 + (int)rnd(200);
        cJSON *doc = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(doc, "a");
        for (int i = 0; i < n; i++) {
            model[i] = i;
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
        }
        cJSON *patch = cJSON_CreateArray();
        char path[64], from[64], buf[256];
        for (int k = 0, next = 1000; k < 150 && n > 2 && n < MODEL_MAX - 2; k++) {
            int i = (int)rnd((unsigned)n), j;
            snprintf(path, sizeof path, "/a/%d", i);
            switch (rnd(6)) {
            case 0: /* add before i, or append */
                if (rnd(4) == 0) {
                    snprintf(path, sizeof path, "/a/-");
                    i = n;
                }
                memmove(model + i + 1, model + i, (size_t)(n - i) * sizeof *model);
                model[i] = next;
                n++;
                snprintf(buf, sizeof buf, "{\"op\":\"add\",\"path\":\"%s\",\"value\":%d}", path,
                         next++);
                break;
            case 1:
                memmove(model + i, model + i + 1, (size_t)(n - i - 1) * sizeof *model);
                n--;
                snprintf(buf, sizeof buf, "{\"op\":\"remove\",\"path\":\"%s\"}", path);
                break;
            case 2:
                model[i] = next;
                snprintf(buf, sizeof buf, "{\"op\":\"replace\",\"path\":\"%s\",\"value\":%d}",
                         path, next++);
                break;
            case 3: { /* move i to j (j indexes the array after removing i) */
                int v = model[i];
                memmove(model + i, model + i + 1, (size_t)(n - i - 1) * sizeof *model);
                j = (int)rnd((unsigned)n); /* 0..n-1: n-1 appends */
                memmove(model + j + 1, model + j, (size_t)(n - 1 - j) * sizeof *model);
                model[j] = v;
                snprintf(from, sizeof from, "/a/%d", i);
                snprintf(buf, sizeof buf, "{\"op\":\"move\",\"from\":\"%s\",\"path\":\"/a/%d\"}",
                         from, j);
                break;
            }
            case 4: /* copy i to before j */
                j = (int)rnd((unsigned)n + 1);
                {
                    int v = model[i];
                    memmove(model + j + 1, model + j, (size_t)(n - j) * sizeof *model);
                    model[j] = v;
                    n++;
                }
                snprintf(buf, sizeof buf, "{\"op\":\"copy\",\"from\":\"/a/%d\",\"path\":\"/a/%d\"}",
                         i, j);
                break;
            default:
                snprintf(buf, sizeof buf, "{\"op\":\"test\",\"path\":\"%s\",\"value\":%d}", path,
                         model[i]);
                break;
            }
            cJSON_AddItemToArray(patch, tu_json(buf));
        }
        tu_snapshot snap = tu_snapshot_take(doc);
        cJSON *bad = tu_json("{\"op\":\"test\",\"path\":\"/a/0\",\"value\":\"never\"}");
        cJSON_AddItemToArray(patch, bad);
        ck_assert_int_eq(sc_patch_apply(&doc, patch, NULL), SC_PATCH_ETEST);
        ck_assert_msg(tu_snapshot_same(&snap, doc), "round %d: rollback changed the array", round);
        tu_snapshot_free(&snap);
        cJSON_Delete(cJSON_DetachItemViaPointer(patch, bad));

        sc_patch_error err = {0};
        char line[512];
        ck_assert_msg(sc_patch_apply(&doc, patch, &err) == SC_PATCH_OK, "round %d: %s", round,
                      sc_patch_error_format(&err, line, sizeof line));
        ck_assert(tu_lists_ok(doc));
        arr = cJSON_GetObjectItem(doc, "a");
        ck_assert_int_eq(cJSON_GetArraySize(arr), n);
        int at = 0;
        for (const cJSON *c = arr->child; c; c = c->next, at++)
            ck_assert_msg(c->valueint == model[at], "round %d: [%d] is %d, model %d", round, at,
                          c->valueint, model[at]);
        cJSON_Delete(patch);
        cJSON_Delete(doc);
    }
}
END_TEST

/* An object of many keys: keys "k<i>" (some with "/" or "~" in them) in model order. */
typedef struct model_obj {
    char keys[MODEL_MAX][16];
    int vals[MODEL_MAX];
    int n;
} model_obj;

static int model_find(const model_obj *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0)
            return i;
    return -1;
}

static void model_del(model_obj *m, int i)
{
    memmove(m->keys + i, m->keys + i + 1, (size_t)(m->n - i - 1) * sizeof m->keys[0]);
    memmove(m->vals + i, m->vals + i + 1, (size_t)(m->n - i - 1) * sizeof m->vals[0]);
    m->n--;
}

/* RFC 6902 add on an object: replace in place, or append. */
static void model_add(model_obj *m, const char *key, int v)
{
    int i = model_find(m, key);
    if (i < 0) {
        i = m->n++;
        snprintf(m->keys[i], sizeof m->keys[i], "%s", key);
    }
    m->vals[i] = v;
}

START_TEST(long_patches_on_a_large_object_match_a_plain_model)
{
    static model_obj m;
    rng_state = 4242;
    for (int round = 0; round < 40; round++) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *obj = cJSON_AddObjectToObject(doc, "o");
        m.n = 0;
        int size = 100 + (int)rnd(300), universe = size * 2;
        char key[16], path[64], from[64], buf[256], esc[40];
        for (int i = 0; i < size; i++) {
            snprintf(key, sizeof key, i % 17 == 0 ? "k/%d" : i % 13 == 0 ? "k~%d" : "k%d", i);
            model_add(&m, key, i);
            cJSON_AddNumberToObject(obj, key, i);
        }
        cJSON *patch = cJSON_CreateArray();
        for (int k = 0, next = 100000; k < 200 && m.n > 1 && m.n < MODEL_MAX - 1; k++) {
            int existing = (int)rnd((unsigned)m.n);
            int pick = (int)rnd((unsigned)universe);
            snprintf(key, sizeof key, pick % 17 == 0 ? "k/%d" : pick % 13 == 0 ? "k~%d" : "k%d",
                     pick);
            sc_pointer_escape(key, esc, sizeof esc);
            snprintf(path, sizeof path, "/o/%s", esc);
            sc_pointer_escape(m.keys[existing], esc, sizeof esc);
            snprintf(from, sizeof from, "/o/%s", esc);
            switch (rnd(6)) {
            case 0: /* add: a new key, or an existing one replaced in place */
                model_add(&m, key, next);
                snprintf(buf, sizeof buf, "{\"op\":\"add\",\"path\":\"%s\",\"value\":%d}", path,
                         next++);
                break;
            case 1:
                model_del(&m, existing);
                snprintf(buf, sizeof buf, "{\"op\":\"remove\",\"path\":\"%s\"}", from);
                break;
            case 2:
                m.vals[existing] = next;
                snprintf(buf, sizeof buf, "{\"op\":\"replace\",\"path\":\"%s\",\"value\":%d}",
                         from, next++);
                break;
            case 3: { /* move: remove, then add */
                if (strcmp(m.keys[existing], key) == 0)
                    continue; /* a no-op move; covered elsewhere */
                int v = m.vals[existing];
                model_del(&m, existing);
                model_add(&m, key, v);
                snprintf(buf, sizeof buf, "{\"op\":\"move\",\"from\":\"%s\",\"path\":\"%s\"}",
                         from, path);
                break;
            }
            case 4:
                model_add(&m, key, m.vals[existing]);
                snprintf(buf, sizeof buf, "{\"op\":\"copy\",\"from\":\"%s\",\"path\":\"%s\"}",
                         from, path);
                break;
            default:
                snprintf(buf, sizeof buf, "{\"op\":\"test\",\"path\":\"%s\",\"value\":%d}", from,
                         m.vals[existing]);
                break;
            }
            cJSON_AddItemToArray(patch, tu_json(buf));
        }
        tu_snapshot snap = tu_snapshot_take(doc);
        cJSON *bad = tu_json("{\"op\":\"remove\",\"path\":\"/o/no such key\"}");
        cJSON_AddItemToArray(patch, bad);
        ck_assert_int_eq(sc_patch_apply(&doc, patch, NULL), SC_PATCH_ENOPATH);
        ck_assert_msg(tu_snapshot_same(&snap, doc), "round %d: rollback changed the object",
                      round);
        tu_snapshot_free(&snap);
        cJSON_Delete(cJSON_DetachItemViaPointer(patch, bad));

        sc_patch_error err = {0};
        char line[512];
        ck_assert_msg(sc_patch_apply(&doc, patch, &err) == SC_PATCH_OK, "round %d: %s", round,
                      sc_patch_error_format(&err, line, sizeof line));
        ck_assert(tu_lists_ok(doc));
        obj = cJSON_GetObjectItem(doc, "o");
        ck_assert_int_eq(cJSON_GetArraySize(obj), m.n);
        int at = 0;
        for (const cJSON *c = obj->child; c; c = c->next, at++) {
            ck_assert_msg(strcmp(c->string, m.keys[at]) == 0, "round %d: key %d is %s, model %s",
                          round, at, c->string, m.keys[at]);
            ck_assert_int_eq(c->valueint, m.vals[at]);
        }
        cJSON_Delete(patch);
        cJSON_Delete(doc);
    }
}
END_TEST

START_TEST(duplicate_keys_in_a_large_object_still_address_the_first)
{
    /* 60 keys with "dup" twice: once the first is removed, the second is the one addressed. */
    char json[2048] = "{";
    size_t len = 1;
    for (int i = 0; i < 60; i++)
        len += (size_t)snprintf(json + len, sizeof json - len, "\"k%d\":%d,", i, i);
    snprintf(json + len, sizeof json - len, "\"dup\":1,\"x\":0,\"dup\":2}");
    cJSON *doc = tu_json(json);
    ck_assert_int_eq(run(&doc,
                         "[{\"op\":\"test\",\"path\":\"/k59\",\"value\":59},"
                         " {\"op\":\"test\",\"path\":\"/dup\",\"value\":1},"
                         " {\"op\":\"remove\",\"path\":\"/dup\"},"
                         " {\"op\":\"test\",\"path\":\"/dup\",\"value\":2},"
                         " {\"op\":\"replace\",\"path\":\"/dup\",\"value\":3},"
                         " {\"op\":\"add\",\"path\":\"/new\",\"value\":4},"
                         " {\"op\":\"test\",\"path\":\"/new\",\"value\":4}]",
                         NULL),
                     SC_PATCH_OK);
    ck_assert_int_eq(cJSON_GetObjectItem(doc, "dup")->valueint, 3);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 63);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(indexes_far_past_the_end_of_a_large_array_fail_cleanly)
{
    /* The second long walk into /a builds an index; a huge index must not reserve memory for
     * itself, only fail with EINDEX. */
    cJSON *doc = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(doc, "a");
    for (int i = 0; i < 100; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(i));
    sc_patch_error err = fails(&doc,
                               "[{\"op\":\"test\",\"path\":\"/a/90\",\"value\":90},"
                               " {\"op\":\"test\",\"path\":\"/a/99\",\"value\":99},"
                               " {\"op\":\"add\",\"path\":\"/a/18446744073709551615\","
                               "  \"value\":0}]",
                               SC_PATCH_EINDEX);
    ck_assert_int_eq(err.op_index, 2);
    cJSON_Delete(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apply");
    TCase *ops = tcase_create("operations");
    tcase_add_test(ops, add_appends_a_new_member_to_an_object);
    tcase_add_test(ops, add_replaces_an_existing_member_in_place);
    tcase_add_test(ops, add_inserts_into_an_array_before_the_index);
    tcase_add_test(ops, add_at_the_root_replaces_the_document);
    tcase_add_test(ops, add_refuses_an_index_past_the_end);
    tcase_add_test(ops, add_refuses_a_token_that_is_not_an_index_on_an_array);
    tcase_add_test(ops, add_refuses_a_missing_parent);
    tcase_add_test(ops, add_copies_its_value_out_of_the_patch);
    tcase_add_test(ops, apply_take_links_the_patch_values_themselves_into_the_document);
    tcase_add_test(ops, apply_take_of_the_root_makes_the_value_the_document);
    tcase_add_test(ops, apply_take_that_fails_leaves_document_and_patch_exactly_as_before);
    tcase_add_test(ops, apply_take_refuses_what_apply_refuses);
    tcase_add_test(ops, remove_deletes_members_and_elements);
    tcase_add_test(ops, remove_refuses_what_does_not_exist);
    tcase_add_test(ops, remove_of_the_root_is_refused);
    tcase_add_test(ops, replace_swaps_a_value_in_place);
    tcase_add_test(ops, replace_of_the_root_swaps_the_document);
    tcase_add_test(ops, replace_refuses_what_does_not_exist);
    tcase_add_test(ops, move_relinks_the_same_item_under_its_new_key);
    tcase_add_test(ops, move_within_an_array_shifts_indexes_as_remove_then_add);
    tcase_add_test(ops, move_between_arrays_and_objects_fixes_up_keys);
    tcase_add_test(ops, move_onto_an_existing_member_replaces_it);
    tcase_add_test(ops, move_into_its_own_child_is_refused);
    tcase_add_test(ops, move_to_the_same_place_is_a_no_op_but_needs_a_source);
    tcase_add_test(ops, move_to_the_root_makes_the_value_the_document);
    tcase_add_test(ops, move_refuses_a_missing_source);
    tcase_add_test(ops, copy_duplicates_the_source);
    tcase_add_test(ops, copy_into_its_own_child_is_allowed);
    tcase_add_test(ops, copy_refuses_a_missing_source);
    tcase_add_test(ops, test_passes_on_deep_equality);
    tcase_add_test(ops, test_fails_on_any_difference);
    suite_add_tcase(s, ops);

    TCase *inval = tcase_create("invalid");
    tcase_add_test(inval, a_patch_that_is_not_an_array_is_invalid);
    tcase_add_test(inval, malformed_operations_are_invalid_and_named);
    tcase_add_test(inval, malformed_pointers_in_a_patch_are_pointer_errors);
    tcase_add_test(inval, extra_members_are_ignored_and_null_is_a_value);
    tcase_add_test(inval, the_first_of_duplicate_operation_members_counts);
    tcase_add_test(inval, a_missing_document_is_an_argument_error);
    tcase_add_test(inval, error_names_the_failing_operation_index_name_and_path);
    tcase_add_test(inval, error_is_left_alone_on_success);
    tcase_add_test(inval, error_fields_are_truncated_to_fit);
    suite_add_tcase(s, inval);

    TCase *atomic = tcase_create("atomicity");
    tcase_set_timeout(atomic, 120);
    tcase_add_test(atomic, apply_leaves_document_unchanged_when_a_test_op_fails);
    tcase_add_test(atomic, apply_restores_the_root_when_a_later_operation_fails);
    tcase_add_test(atomic, apply_undoes_a_long_patch_whose_log_outgrew_the_stack);
    tcase_add_test(atomic, random_patches_apply_like_their_operations_one_by_one_and_undo_exactly);
    tcase_add_test(atomic, long_patches_on_a_large_array_match_a_plain_model);
    tcase_add_test(atomic, long_patches_on_a_large_object_match_a_plain_model);
    tcase_add_test(atomic, duplicate_keys_in_a_large_object_still_address_the_first);
    tcase_add_test(atomic, indexes_far_past_the_end_of_a_large_array_fail_cleanly);
    suite_add_tcase(s, atomic);
    return tu_run(s);
}
