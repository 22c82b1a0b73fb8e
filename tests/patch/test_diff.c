/* tests for patch/src/diff.c: exact patches for the cases the diff promises to keep small,
 * options, errors, limits. Every patch is produced by both sc_diff and sc_diff_to_buf (they
 * must agree byte for byte) and applied back to check it yields b. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diff_testutil.h"
#include "statechannel/patch.h"
#include "write.h"

/* Unchanged text that makes replacing a whole document cost more than a few ops. */
#define PAD "a string long enough that replacing the whole document costs more than ops"

static sc_diff_options defaults(void)
{
    sc_diff_options o;
    sc_diff_options_init(&o);
    return o;
}

/* Diffs a against b (texts) with o, checks the patch text and that it applies. */
static void expect_opts(const char *a_text, const char *b_text, const sc_diff_options *o,
                        const char *want)
{
    cJSON *a = P(a_text), *b = P(b_text);
    sc_patch_status st;
    char *got = diff_both(a, b, o, &st, NULL);
    ck_assert_msg(got != NULL, "diff of %s and %s failed: %s", a_text, b_text,
                  sc_patch_strerror(st));
    ck_assert_msg(strcmp(got, want) == 0, "diff %s -> %s\n  got  %s\n  want %s", a_text, b_text,
                  got, want);
    check_applies(a, b, got);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void expect(const char *a_text, const char *b_text, const char *want)
{
    sc_diff_options o = defaults();
    expect_opts(a_text, b_text, &o, want);
}

/* Diffs two documents, checks the patch applies, returns it (caller frees). */
static char *diff_docs(const cJSON *a, const cJSON *b, const sc_diff_options *o, size_t *n_ops)
{
    sc_patch_status st;
    char *got = diff_both(a, b, o, &st, n_ops);
    ck_assert_msg(got != NULL, "diff failed: %s", sc_patch_strerror(st));
    check_applies(a, b, got);
    return got;
}

START_TEST(diff_of_equal_documents_is_empty)
{
    expect("{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}", "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}",
           "[]");
    expect("{\"a\":1,\"b\":{\"x\":1,\"y\":2}}", "{\"b\":{\"y\":2,\"x\":1},\"a\":1}", "[]");
    expect("[1.0, -0.0]", "[1, 0]", "[]");
    expect("[]", "[]", "[]");
}
END_TEST

START_TEST(diff_replaces_a_changed_member_and_leaves_the_rest)
{
    expect("{\"user\":{\"name\":\"ann\",\"age\":30,\"tags\":[\"a\",\"b\"]},\"n\":1}",
           "{\"user\":{\"name\":\"ann\",\"age\":31,\"tags\":[\"a\",\"b\"]},\"n\":1}",
           "[{\"op\":\"replace\",\"path\":\"/user/age\",\"value\":31}]");
}
END_TEST

START_TEST(diff_emits_removes_then_changes_then_adds_in_b_order)
{
    expect("{\"a\":1,\"b\":2,\"c\":\"" PAD "\",\"d\":{\"x\":1,\"y\":\"" PAD "\"}}",
           "{\"z\":9,\"d\":{\"x\":2,\"y\":\"" PAD "\"},\"c\":\"" PAD "\",\"y\":8,\"b\":5}",
           "[{\"op\":\"remove\",\"path\":\"/a\"},"
           "{\"op\":\"replace\",\"path\":\"/d/x\",\"value\":2},"
           "{\"op\":\"replace\",\"path\":\"/b\",\"value\":5},"
           "{\"op\":\"add\",\"path\":\"/z\",\"value\":9},"
           "{\"op\":\"add\",\"path\":\"/y\",\"value\":8}]");
}
END_TEST

START_TEST(diff_escapes_tilde_and_slash_in_paths)
{
    expect("{\"a/b\":{\"c~d\":1,\"keep\":\"some text here\"},\"e\\\"f\":1,\"pad\":\"xxxxxxxxxx\"}",
           "{\"a/b\":{\"c~d\":2,\"keep\":\"some text here\"},\"pad\":\"xxxxxxxxxx\"}",
           "[{\"op\":\"remove\",\"path\":\"/e\\\"f\"},"
           "{\"op\":\"replace\",\"path\":\"/a~1b/c~0d\",\"value\":2}]");
}
END_TEST

START_TEST(diff_replaces_a_subtree_when_that_is_smaller_than_its_ops)
{
    expect("{\"keep\":\"a long string that stays the same\",\"s\":{\"a\":1,\"b\":2,\"c\":3}}",
           "{\"keep\":\"a long string that stays the same\",\"s\":{\"x\":1,\"y\":2,\"z\":3}}",
           "[{\"op\":\"replace\",\"path\":\"/s\",\"value\":{\"x\":1,\"y\":2,\"z\":3}}]");
}
END_TEST

START_TEST(diff_replaces_a_value_whose_type_changed)
{
    expect("{\"keep\":\"a long string that stays the same\",\"v\":[1,2]}",
           "{\"keep\":\"a long string that stays the same\",\"v\":{\"0\":1}}",
           "[{\"op\":\"replace\",\"path\":\"/v\",\"value\":{\"0\":1}}]");
}
END_TEST

START_TEST(diff_refuses_to_replace_the_root_unless_allowed)
{
    sc_diff_options o = defaults();
    cJSON *a = P("[1]"), *b = P("{\"a\":1}");
    sc_patch_status st;
    ck_assert_ptr_null(diff_both(a, b, &o, &st, NULL));
    ck_assert_int_eq(st, SC_PATCH_EROOT);
    cJSON *tree = (cJSON *)1;
    ck_assert_int_eq(sc_diff(a, b, &o, &tree, NULL), SC_PATCH_EROOT);
    ck_assert_ptr_null(tree);
    o.allow_root = 1;
    expect_opts("[1]", "{\"a\":1}", &o, "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"a\":1}}]");
    expect_opts("1", "2", &o, "[{\"op\":\"replace\",\"path\":\"\",\"value\":2}]");
    /* Roots of one type, but nothing in common: the whole document is smaller to send. */
    expect_opts("{\"a\":1,\"b\":2}", "{\"c\":3,\"d\":4}", &o,
                "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"c\":3,\"d\":4}}]");
    o.allow_root = 0;
    cJSON *c = P("{\"a\":1,\"b\":2}"), *d = P("{\"c\":3,\"d\":4}");
    ck_assert_ptr_null(diff_both(c, d, &o, &st, NULL));
    ck_assert_int_eq(st, SC_PATCH_EROOT);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    cJSON_Delete(d);
}
END_TEST

START_TEST(diff_leaves_the_buffer_as_it_was_on_failure)
{
    sc_buf buf = {0};
    cJSON *a = P("[1]"), *b = P("{}");
    sc_diff_options o = defaults();
    ck_assert_int_eq(sc_diff_to_buf(a, a, &o, &buf, NULL, NULL), SC_PATCH_OK);
    ck_assert_str_eq(buf.data, "[]");
    sc_patch_error err;
    ck_assert_int_eq(sc_diff_to_buf(a, b, &o, &buf, NULL, &err), SC_PATCH_EROOT);
    ck_assert_int_eq(err.status, SC_PATCH_EROOT);
    ck_assert_uint_eq(buf.len, 2);
    ck_assert_str_eq(buf.data, "[]");
    sc_buf_free(&buf);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(diff_rejects_bad_arguments)
{
    cJSON *a = P("{}");
    sc_buf buf = {0};
    cJSON *out = NULL;
    sc_patch_error err;
    ck_assert_int_eq(sc_diff(NULL, a, NULL, &out, &err), SC_PATCH_EARG);
    ck_assert_int_eq(sc_diff(a, a, NULL, NULL, &err), SC_PATCH_EARG);
    ck_assert_int_eq(sc_diff_to_buf(a, NULL, NULL, &buf, NULL, &err), SC_PATCH_EARG);
    ck_assert_int_eq(sc_diff_to_buf(a, a, NULL, NULL, NULL, &err), SC_PATCH_EARG);
    sc_diff_options o = defaults();
    o.struct_size = 0;
    ck_assert_int_eq(sc_diff_to_buf(a, a, &o, &buf, NULL, &err), SC_PATCH_EARG);
    ck_assert_int_eq(err.status, SC_PATCH_EARG);
    ck_assert_uint_eq(buf.len, 0);
    ck_assert_int_eq(sc_diff(a, a, NULL, &out, NULL), SC_PATCH_OK);
    ck_assert_int_eq(cJSON_GetArraySize(out), 0);
    cJSON_Delete(out);
    sc_buf_free(&buf);
    cJSON_Delete(a);
}
END_TEST

START_TEST(options_init_sets_the_documented_defaults)
{
    sc_diff_options o;
    memset(&o, 0x5a, sizeof o);
    sc_diff_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_str_eq(o.id_key, "id");
    ck_assert_uint_eq(o.max_edit_cost, SC_DIFF_DEFAULT_MAX_EDIT_COST);
    ck_assert_int_eq(o.allow_root, 0);
    ck_assert_int_eq(o.use_move, 1);
}
END_TEST

START_TEST(diff_never_changes_its_inputs)
{
    const char *ta = "{\"b\":[3,1,2,{\"id\":1,\"x\":[1]}],\"a\":{\"z\":1,\"y\":2}}";
    const char *tb = "{\"a\":{\"y\":3},\"b\":[{\"id\":1,\"x\":[2]},1,2,4]}";
    cJSON *a = P(ta), *b = P(tb);
    char *pa = cJSON_PrintUnformatted(a), *pb = cJSON_PrintUnformatted(b);
    sc_diff_options o = defaults();
    o.allow_root = 1;
    free(diff_docs(a, b, &o, NULL));
    char *qa = cJSON_PrintUnformatted(a), *qb = cJSON_PrintUnformatted(b);
    ck_assert_str_eq(pa, qa);
    ck_assert_str_eq(pb, qb);
    cJSON_free(pa);
    cJSON_free(pb);
    cJSON_free(qa);
    cJSON_free(qb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* ---- arrays of scalars: one edit, at most two ops -------------------------------------- */

START_TEST(scalar_array_insert_is_one_add)
{
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[1,2,3,9,4,5,6,7,8]}",
           "[{\"op\":\"add\",\"path\":\"/v/3\",\"value\":9}]");
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[0,1,2,3,4,5,6,7,8]}",
           "[{\"op\":\"add\",\"path\":\"/v/0\",\"value\":0}]");
}
END_TEST

START_TEST(scalar_array_append_uses_the_dash_index)
{
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[1,2,3,4,5,6,7,8,9]}",
           "[{\"op\":\"add\",\"path\":\"/v/-\",\"value\":9}]");
}
END_TEST

START_TEST(scalar_array_delete_is_one_remove)
{
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[1,2,4,5,6,7,8]}",
           "[{\"op\":\"remove\",\"path\":\"/v/2\"}]");
}
END_TEST

START_TEST(scalar_array_set_is_one_replace)
{
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[1,2,3,4,\"x\",6,7,8]}",
           "[{\"op\":\"replace\",\"path\":\"/v/4\",\"value\":\"x\"}]");
}
END_TEST

START_TEST(scalar_array_move_is_one_move)
{
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[1,3,4,5,6,7,2,8]}",
           "[{\"op\":\"move\",\"from\":\"/v/1\",\"path\":\"/v/6\"}]");
    expect("{\"v\":[1,2,3,4,5,6,7,8]}", "{\"v\":[2,3,4,5,6,7,8,1]}",
           "[{\"op\":\"move\",\"from\":\"/v/0\",\"path\":\"/v/-\"}]");
}
END_TEST

START_TEST(scalar_array_swap_is_at_most_two_ops)
{
    expect("{\"v\":[10,20,30,40,50,60,70,80,90,100,110,120,130,140,150,160,170,180]}",
           "{\"v\":[10,70,30,40,50,60,20,80,90,100,110,120,130,140,150,160,170,180]}",
           "[{\"op\":\"move\",\"from\":\"/v/6\",\"path\":\"/v/1\"},"
           "{\"op\":\"move\",\"from\":\"/v/2\",\"path\":\"/v/6\"}]");
    /* Short arrays: the whole array is smaller than two moves. */
    expect("{\"v\":[1,2,3,4],\"pad\":\"" PAD "\"}", "{\"v\":[1,4,3,2],\"pad\":\"" PAD "\"}",
           "[{\"op\":\"replace\",\"path\":\"/v\",\"value\":[1,4,3,2]}]");
}
END_TEST

START_TEST(scalar_array_without_moves_uses_remove_and_add)
{
    sc_diff_options o = defaults();
    o.use_move = 0;
    expect_opts("{\"v\":[\"aaaa\",\"bbbb\",\"cccc\",\"dddd\",\"eeee\",\"ffff\",\"gggg\"]}",
                "{\"v\":[\"aaaa\",\"cccc\",\"dddd\",\"eeee\",\"ffff\",\"bbbb\",\"gggg\"]}", &o,
                "[{\"op\":\"remove\",\"path\":\"/v/1\"},"
                "{\"op\":\"add\",\"path\":\"/v/5\",\"value\":\"bbbb\"}]");
}
END_TEST

/* ---- lists of 10,000 objects with ids ---------------------------------------------------- */

#define LIST_N 10000

static cJSON *row(int id, const char *label)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "id", id);
    cJSON_AddStringToObject(r, "label", label);
    cJSON_AddFalseToObject(r, "done");
    return r;
}

static cJSON *list(int n)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(doc, "items");
    char label[32];
    for (int i = 0; i < n; i++) {
        snprintf(label, sizeof label, "item %d", i);
        cJSON_AddItemToArray(items, row(i, label));
    }
    return doc;
}

static void expect_docs(const cJSON *a, const cJSON *b, const char *want)
{
    sc_diff_options o = defaults();
    char *got = diff_docs(a, b, &o, NULL);
    ck_assert_msg(strcmp(got, want) == 0, "got  %.300s\nwant %s", got, want);
    free(got);
}

START_TEST(list_front_insert_is_one_add)
{
    cJSON *a = list(LIST_N), *b = list(LIST_N);
    tu_insert(cJSON_GetObjectItem(b, "items"), 0, row(-1, "new"));
    expect_docs(a, b,
                "[{\"op\":\"add\",\"path\":\"/items/0\",\"value\":"
                "{\"id\":-1,\"label\":\"new\",\"done\":false}}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_middle_delete_is_one_remove)
{
    cJSON *a = list(LIST_N), *b = list(LIST_N);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(b, "items"), 5000);
    expect_docs(a, b, "[{\"op\":\"remove\",\"path\":\"/items/5000\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_move_is_one_move)
{
    cJSON *a = list(LIST_N), *b = list(LIST_N);
    cJSON *items = cJSON_GetObjectItem(b, "items");
    tu_insert(items, 10, cJSON_DetachItemFromArray(items, 7000));
    expect_docs(a, b, "[{\"op\":\"move\",\"from\":\"/items/7000\",\"path\":\"/items/10\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_swap_is_two_moves)
{
    cJSON *a = list(LIST_N), *b = list(LIST_N);
    cJSON *items = cJSON_GetObjectItem(b, "items");
    cJSON *x = cJSON_DetachItemFromArray(items, 9998); /* swap 1 and 9998 */
    cJSON *y = cJSON_DetachItemFromArray(items, 1);
    tu_insert(items, 1, x);
    tu_insert(items, 9998, y);
    expect_docs(a, b,
                "[{\"op\":\"move\",\"from\":\"/items/9998\",\"path\":\"/items/1\"},"
                "{\"op\":\"move\",\"from\":\"/items/2\",\"path\":\"/items/9998\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_changed_item_is_diffed_in_place)
{
    cJSON *a = list(LIST_N), *b = list(LIST_N);
    cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "items"), 42);
    cJSON_ReplaceItemInObject(it, "label", cJSON_CreateString("renamed"));
    expect_docs(a, b, "[{\"op\":\"replace\",\"path\":\"/items/42/label\",\"value\":\"renamed\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_moved_and_changed_item_gets_its_ops_under_its_new_index)
{
    cJSON *a = list(LIST_N), *b = list(LIST_N);
    cJSON *items = cJSON_GetObjectItem(b, "items");
    cJSON *it = cJSON_DetachItemFromArray(items, 5);
    cJSON_ReplaceItemInObject(it, "done", cJSON_CreateTrue());
    cJSON_AddItemToArray(items, it);
    expect_docs(a, b,
                "[{\"op\":\"move\",\"from\":\"/items/5\",\"path\":\"/items/-\"},"
                "{\"op\":\"replace\",\"path\":\"/items/9999/done\",\"value\":true}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_insert_with_a_changed_item_keeps_identity)
{
    cJSON *a = list(100), *b = list(100);
    cJSON *items = cJSON_GetObjectItem(b, "items");
    tu_insert(items, 0, row(-1, "new"));
    cJSON *it = cJSON_GetArrayItem(items, 51); /* was item 50 */
    cJSON_ReplaceItemInObject(it, "label", cJSON_CreateString("x"));
    expect_docs(a, b,
                "[{\"op\":\"add\",\"path\":\"/items/0\",\"value\":"
                "{\"id\":-1,\"label\":\"new\",\"done\":false}},"
                "{\"op\":\"replace\",\"path\":\"/items/51/label\",\"value\":\"x\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(list_without_id_key_matches_by_content)
{
    sc_diff_options o = defaults();
    o.id_key = NULL;
    expect_opts("[{\"id\":1,\"v\":\"aaaaaaaa\"},{\"id\":2,\"v\":\"bbbbbbbb\"},"
                "{\"id\":3,\"v\":\"cccccccc\"}]",
                "[{\"id\":1,\"v\":\"aaaaaaaa\"},{\"id\":2,\"v\":\"BBBBBBBB\"},"
                "{\"id\":3,\"v\":\"cccccccc\"}]",
                &o, "[{\"op\":\"replace\",\"path\":\"/1/v\",\"value\":\"BBBBBBBB\"}]");
    o.id_key = "key";
    expect_opts("[{\"key\":\"a\",\"v\":1},{\"key\":\"b\",\"v\":2},{\"key\":\"c\",\"v\":3},"
                "{\"key\":\"d\",\"v\":4}]",
                "[{\"key\":\"a\",\"v\":1},{\"key\":\"c\",\"v\":3},{\"key\":\"d\",\"v\":4},"
                "{\"key\":\"b\",\"v\":5}]",
                &o,
                "[{\"op\":\"move\",\"from\":\"/1\",\"path\":\"/-\"},"
                "{\"op\":\"replace\",\"path\":\"/3/v\",\"value\":5}]");
}
END_TEST

/* ---- js-framework-benchmark's table of 1,000 rows --------------------------------------- */

static const char *const adjectives[] = {"pretty", "large", "big", "small", "tall", "short"};
static const char *const colours[] = {"red", "yellow", "blue", "green", "pink", "brown"};
static const char *const nouns[] = {"table", "chair", "house", "bbq", "desk", "car"};

static cJSON *table_rows(int n, int first_id)
{
    cJSON *rows = cJSON_CreateArray();
    char label[64];
    for (int i = 0; i < n; i++) {
        snprintf(label, sizeof label, "%s %s %s", adjectives[i % 6], colours[(i / 6) % 6],
                 nouns[(i / 36) % 6]);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "id", first_id + i);
        cJSON_AddStringToObject(r, "label", label);
        cJSON_AddItemToArray(rows, r);
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "rows", rows);
    cJSON_AddNumberToObject(doc, "selected", -1);
    return doc;
}

START_TEST(table_update_every_tenth_label_is_one_replace_each)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    cJSON *rows = cJSON_GetObjectItem(b, "rows");
    for (int i = 0; i < 1000; i += 10) {
        cJSON *r = cJSON_GetArrayItem(rows, i);
        char label[80];
        snprintf(label, sizeof label, "%s !!!", cJSON_GetObjectItem(r, "label")->valuestring);
        cJSON_ReplaceItemInObject(r, "label", cJSON_CreateString(label));
    }
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_uint_eq(n, 100);
    ck_assert(strncmp(got, "[{\"op\":\"replace\",\"path\":\"/rows/0/label\",\"value\":\"pretty "
                           "red table !!!\"},{\"op\":\"replace\",\"path\":\"/rows/10/label\"",
                      90) == 0);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(table_swap_rows_is_two_moves)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    cJSON *rows = cJSON_GetObjectItem(b, "rows");
    cJSON *x = cJSON_DetachItemFromArray(rows, 998);
    cJSON *y = cJSON_DetachItemFromArray(rows, 1);
    tu_insert(rows, 1, x);
    tu_insert(rows, 998, y);
    expect_docs(a, b,
                "[{\"op\":\"move\",\"from\":\"/rows/998\",\"path\":\"/rows/1\"},"
                "{\"op\":\"move\",\"from\":\"/rows/2\",\"path\":\"/rows/998\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* Sets row i of doc's rows to a row with id and label (a fresh row, or an edit of the same). */
static void set_row(cJSON *doc, int i, int id, const char *label)
{
    cJSON *rows = cJSON_GetObjectItem(doc, "rows");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "id", id);
    cJSON_AddStringToObject(r, "label", label);
    cJSON_ReplaceItemInArray(rows, i, r);
}

/* Swaps rows i and j of doc's rows. */
static void swap_rows(cJSON *doc, int i, int j)
{
    cJSON *rows = cJSON_GetObjectItem(doc, "rows");
    cJSON *y = cJSON_DetachItemFromArray(rows, j);
    cJSON *x = cJSON_DetachItemFromArray(rows, i);
    tu_insert(rows, i, y);
    tu_insert(rows, j, x);
}

/* The position-by-position pass (one set, or two elements swapped, after the prefix). */
START_TEST(adjacent_swap_is_one_move)
{
    expect("{\"v\":[10,20,30,40,50,60,70,80,90,100,110,120,130,140,150,160,170,180]}",
           "{\"v\":[10,30,20,40,50,60,70,80,90,100,110,120,130,140,150,160,170,180]}",
           "[{\"op\":\"move\",\"from\":\"/v/2\",\"path\":\"/v/1\"}]");
}
END_TEST

START_TEST(swap_with_the_last_element_moves_it_to_the_dash_index)
{
    expect("{\"v\":[10,20,30,40,50,60,70,80,90,100,110,120,130,140,150,160,170,180]}",
           "{\"v\":[10,180,30,40,50,60,70,80,90,100,110,120,130,140,150,160,170,20]}",
           "[{\"op\":\"move\",\"from\":\"/v/17\",\"path\":\"/v/1\"},"
           "{\"op\":\"move\",\"from\":\"/v/2\",\"path\":\"/v/-\"}]");
}
END_TEST

START_TEST(swapped_and_edited_rows_get_their_edits_under_their_new_index)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    swap_rows(b, 1, 998);
    set_row(b, 1, 999, "moved up");   /* row 999, now at 1, edited */
    set_row(b, 998, 2, "moved down"); /* row 2, now at 998, edited */
    set_row(b, 500, 501, "edited in place");
    expect_docs(a, b,
                "[{\"op\":\"move\",\"from\":\"/rows/998\",\"path\":\"/rows/1\"},"
                "{\"op\":\"move\",\"from\":\"/rows/2\",\"path\":\"/rows/998\"},"
                "{\"op\":\"replace\",\"path\":\"/rows/500/label\",\"value\":\"edited in place\"},"
                "{\"op\":\"replace\",\"path\":\"/rows/1/label\",\"value\":\"moved up\"},"
                "{\"op\":\"replace\",\"path\":\"/rows/998/label\",\"value\":\"moved down\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(two_unrelated_rows_replaced_far_apart_are_two_sets)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    set_row(b, 3, 5001, "new");
    set_row(b, 900, 5002, "newer");
    expect_docs(a, b,
                "[{\"op\":\"replace\",\"path\":\"/rows/3\","
                "\"value\":{\"id\":5001,\"label\":\"new\"}},"
                "{\"op\":\"replace\",\"path\":\"/rows/900\","
                "\"value\":{\"id\":5002,\"label\":\"newer\"}}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* A third unrelated position sends the array to the sequence diff: the edits the positional
 * pass had queued are dropped, not emitted twice. */
START_TEST(three_unrelated_rows_fall_back_to_the_sequence_diff_once)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    set_row(b, 3, 5001, "new");
    set_row(b, 200, 201, "edited");
    set_row(b, 400, 5002, "newer");
    set_row(b, 800, 5003, "newest");
    sc_diff_options o = defaults();
    size_t n_ops = 0;
    char *got = diff_docs(a, b, &o, &n_ops);
    ck_assert_uint_eq(n_ops, 4);
    const char *edit = strstr(got, "\"/rows/200/label\"");
    ck_assert_msg(edit && !strstr(edit + 1, "\"/rows/200/label\""), "got %s", got);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(table_remove_row_is_one_remove)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(b, "rows"), 500);
    expect_docs(a, b, "[{\"op\":\"remove\",\"path\":\"/rows/500\"}]");
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

static void append_rows(cJSON *doc, int n, int first_id)
{
    cJSON *more = table_rows(n, first_id);
    cJSON *rows = cJSON_GetObjectItem(doc, "rows");
    cJSON *src = cJSON_GetObjectItem(more, "rows");
    while (cJSON_GetArraySize(src))
        cJSON_AddItemToArray(rows, cJSON_DetachItemFromArray(src, 0));
    cJSON_Delete(more);
}

START_TEST(table_append_rows_adds_at_the_end)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    append_rows(b, 10, 1001);
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_msg(n == 10, "%.200s", got);
    const char *want = "[{\"op\":\"add\",\"path\":\"/rows/-\",\"value\":{\"id\":1001,";
    ck_assert(strncmp(got, want, strlen(want)) == 0);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* 1,000 adds of ~39-byte rows ("{"op":"add","path":"/rows/-","value":" each) cost more than
 * sending all 2,000 rows once: the byte rule picks the replace. */
START_TEST(table_append_a_thousand_rows_replaces_the_smaller_way)
{
    cJSON *a = table_rows(1000, 1), *b = table_rows(1000, 1);
    append_rows(b, 1000, 1001);
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_uint_eq(n, 1);
    const char *want = "[{\"op\":\"replace\",\"path\":\"/rows\",\"value\":[{\"id\":1,";
    ck_assert(strncmp(got, want, strlen(want)) == 0);
    char *rows = cJSON_PrintUnformatted(cJSON_GetObjectItem(b, "rows"));
    size_t adds = 0;
    for (const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "rows"), 1000); r; r = r->next) {
        char *t = cJSON_PrintUnformatted(r);
        adds += strlen("{\"op\":\"add\",\"path\":\"/rows/-\",\"value\":}") + strlen(t) + 1;
        cJSON_free(t);
    }
    ck_assert_uint_lt(strlen(got), adds);
    ck_assert_uint_gt(strlen(got), strlen(rows));
    cJSON_free(rows);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* An object replaced by one sharing none of its keys: the replace is known to be smaller
 * before any op is written, so the buffer never holds the 1,000 removes and the adds that
 * the byte rule would throw away (about 4 times the patch): sized for the patch, it does not
 * grow. */
START_TEST(object_sharing_no_key_is_replaced_without_writing_its_ops)
{
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "pad", PAD);
    cJSON_AddStringToObject(b, "pad", PAD);
    cJSON *old_state = cJSON_AddObjectToObject(a, "state");
    cJSON *new_state = cJSON_AddObjectToObject(b, "state");
    char key[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "an old key, longer than its value, %d", i);
        cJSON_AddNumberToObject(old_state, key, i);
        snprintf(key, sizeof key, "new %d", i);
        cJSON_AddNumberToObject(new_state, key, i);
    }
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_uint_eq(n, 1);
    const char *want = "[{\"op\":\"replace\",\"path\":\"/state\",\"value\":{\"new 0\":0,";
    ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "%.200s", got);
    sc_buf buf = {0};
    ck_assert_int_eq(sc_buf_reserve(&buf, strlen(got)), 0);
    size_t cap = buf.cap;
    ck_assert_int_eq(sc_diff_to_buf(a, b, &o, &buf, NULL, NULL), SC_PATCH_OK);
    ck_assert_str_eq(buf.data, got);
    ck_assert_uint_eq(buf.cap, cap);
    sc_buf_free(&buf);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* The early replace needs a certain win: an object keeping most of its members still gets
 * its removes and adds, even when they are many. */
START_TEST(object_keeping_most_members_still_gets_removes_and_adds)
{
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddStringToObject(a, key, PAD);
        if (i % 3 == 0)
            continue; /* removed */
        cJSON_AddStringToObject(b, key, PAD);
        if (i % 3 == 1) {
            snprintf(key, sizeof key, "n%d", i);
            cJSON_AddNumberToObject(b, key, i);
        }
    }
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_uint_eq(n, 200); /* 100 removes, 100 adds */
    const char *want = "[{\"op\":\"remove\",\"path\":\"/k0\"},";
    ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "%.200s", got);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* ---- big objects, deep nesting, long strings ------------------------------------------- */

START_TEST(big_object_with_keys_added_and_removed_is_linear)
{
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    char key[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        cJSON_AddNumberToObject(a, key, i);
        if (i % 100 != 0) /* every 100th key removed */
            cJSON_AddNumberToObject(b, key, i);
        if (i % 100 == 50) {
            snprintf(key, sizeof key, "new%d", i);
            cJSON_AddNumberToObject(b, key, i);
        }
    }
    sc_diff_options o = defaults();
    size_t n = 0;
    clock_t t0 = clock();
    sc_buf buf = {0};
    ck_assert_int_eq(sc_diff_to_buf(a, b, &o, &buf, &n, NULL), SC_PATCH_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ck_assert_uint_eq(n, 1000);
    const char *first = "[{\"op\":\"remove\",\"path\":\"/key0\"},";
    ck_assert_msg(strncmp(buf.data, first, strlen(first)) == 0, "%.200s", buf.data);
    ck_assert_ptr_nonnull(strstr(buf.data, "{\"op\":\"add\",\"path\":\"/new49950\",\"value\":49950}]"));
    /* Quadratic matching would take 50,000^2 / 2 key comparisons: seconds, not milliseconds. */
    ck_assert_msg(secs < 1.0, "took %.3f s", secs);
    /* Not applied here: 1,000 ops on a 50,000-member list cost the applier ~25M key
     * comparisons (seconds under ASan); the property test covers correctness. */
    sc_buf_free(&buf);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

static cJSON *chain(int depth, double leaf)
{
    cJSON *root = cJSON_CreateObject(), *cur = root;
    for (int i = 1; i < depth; i++) {
        cJSON *next = cJSON_CreateObject();
        cJSON_AddStringToObject(cur, "pad", "unchanged sibling text");
        cJSON_AddItemToObject(cur, "a", next);
        cur = next;
    }
    cJSON_AddNumberToObject(cur, "leaf", leaf);
    return root;
}

START_TEST(deep_leaf_change_is_one_replace)
{
    cJSON *a = chain(200, 1), *b = chain(200, 2);
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_uint_eq(n, 1);
    char want[1024] = "[{\"op\":\"replace\",\"path\":\"";
    for (int i = 1; i < 200; i++)
        strcat(want, "/a");
    strcat(want, "/leaf\",\"value\":2}]");
    ck_assert_str_eq(got, want);
    free(got);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

struct deep_job {
    cJSON *a, *b;
    sc_patch_status st;
    size_t n;
};

static void *deep_diff_thread(void *arg)
{
    struct deep_job *j = arg;
    sc_buf buf = {0};
    sc_diff_options o = defaults();
    j->st = sc_diff_to_buf(j->a, j->b, &o, &buf, &j->n, NULL);
    sc_buf_free(&buf);
    return NULL;
}

/* The server's worker threads have ~100 KiB stacks; the diff must not need the C stack to
 * grow with the nesting. 64 KiB here (plus ASan's larger frames in that build). */
START_TEST(deep_documents_diff_on_a_small_thread_stack)
{
    struct deep_job j = {chain(SC_PATCH_MAX_DEPTH, 1), chain(SC_PATCH_MAX_DEPTH, 2), 0, 0};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, &attr, deep_diff_thread, &j), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    ck_assert_int_eq(j.st, SC_PATCH_OK);
    ck_assert_uint_eq(j.n, 1);
    cJSON_Delete(j.a);
    cJSON_Delete(j.b);
}
END_TEST

START_TEST(too_deep_documents_are_refused)
{
    cJSON *a = chain(SC_PATCH_MAX_DEPTH + 1, 1), *b = chain(SC_PATCH_MAX_DEPTH + 1, 2);
    sc_buf buf = {0};
    sc_patch_error err;
    ck_assert_int_eq(sc_diff_to_buf(a, b, NULL, &buf, NULL, &err), SC_PATCH_ETOODEEP);
    ck_assert_int_eq(err.status, SC_PATCH_ETOODEEP);
    ck_assert_uint_eq(buf.len, 0);
    cJSON *out = NULL;
    ck_assert_int_eq(sc_diff(a, b, NULL, &out, NULL), SC_PATCH_ETOODEEP);
    ck_assert_ptr_null(out);
    sc_buf_free(&buf);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(too_deep_added_values_are_refused)
{
    cJSON *a = P("{\"x\":1}"), *b = P("{\"x\":1}");
    cJSON_AddItemToObject(b, "deep", chain(SC_PATCH_MAX_DEPTH + 1, 1));
    sc_buf buf = {0};
    sc_patch_error err;
    ck_assert_int_eq(sc_diff_to_buf(a, b, NULL, &buf, NULL, &err), SC_PATCH_ETOODEEP);
    ck_assert_int_eq(err.status, SC_PATCH_ETOODEEP);
    ck_assert_uint_eq(buf.len, 0);
    cJSON *out = NULL;
    ck_assert_int_eq(sc_diff(a, b, NULL, &out, NULL), SC_PATCH_ETOODEEP);
    ck_assert_ptr_null(out);
    sc_buf_free(&buf);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(long_string_edit_is_one_replace)
{
    char *s = malloc(20001);
    memset(s, 'x', 20000);
    s[20000] = '\0';
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "text", s);
    cJSON_AddStringToObject(a, "other", s);
    s[10000] = 'y';
    cJSON_AddStringToObject(b, "text", s);
    s[10000] = 'x';
    cJSON_AddStringToObject(b, "other", s);
    sc_diff_options o = defaults();
    size_t n = 0;
    char *got = diff_docs(a, b, &o, &n);
    ck_assert_uint_eq(n, 1);
    const char *want = "[{\"op\":\"replace\",\"path\":\"/text\",\"value\":\"xxx";
    ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "%.200s", got);
    free(got);
    free(s);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(edit_cost_bound_degrades_to_a_correct_patch)
{
    /* Reverse a list: a sequence diff with ~2n edits. With a tiny bound it falls back. */
    cJSON *a = cJSON_CreateArray(), *b = cJSON_CreateArray();
    for (int i = 0; i < 300; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber(i));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(299 - i));
    }
    cJSON *da = cJSON_CreateObject(), *db = cJSON_CreateObject();
    cJSON_AddItemToObject(da, "v", a);
    cJSON_AddItemToObject(db, "v", b);
    cJSON_AddStringToObject(da, "pad", "a string long enough that the root is not replaced....");
    cJSON_AddStringToObject(db, "pad", "a string long enough that the root is not replaced....");
    sc_diff_options o = defaults();
    o.max_edit_cost = 100;
    size_t n = 0;
    char *got = diff_docs(da, db, &o, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(strncmp(got, "[{\"op\":\"replace\",\"path\":\"/v\",\"value\":[299,298,", 44) == 0);
    free(got);
    /* Positional fallback keeps matched elements' inner diffs small. */
    expect_opts("[{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12],\"b\":1},{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12],"
                "\"b\":2}]",
                "[{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12],\"b\":3},{\"a\":[1,2,3,4,5,6,7,8,9,10,11,12],"
                "\"b\":4}]",
                &o,
                "[{\"op\":\"replace\",\"path\":\"/0/b\",\"value\":3},"
                "{\"op\":\"replace\",\"path\":\"/1/b\",\"value\":4}]");
    cJSON_Delete(da);
    cJSON_Delete(db);
}
END_TEST

/* String values of every length up to 40 bytes (several 8-byte words: the diff compares
 * aligned strings a word at a time), equal copies and copies differing at each byte or in
 * length: equal gives no op, different one replace. */
START_TEST(string_values_compare_exactly_at_every_length_and_position)
{
    char s[48], t[48];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            s[i] = (char)('a' + (i * 7) % 26);
        s[len] = '\0';
        cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "s", s);
        cJSON_AddStringToObject(b, "s", s);
        sc_diff_options o = defaults();
        size_t n_ops = 99;
        free(diff_docs(a, b, &o, &n_ops));
        ck_assert_msg(n_ops == 0, "equal strings of length %zu gave %zu ops", len, n_ops);
        for (size_t k = 0; k <= len + 1; k++) {
            memcpy(t, s, len + 1);
            if (k < len)
                t[k] = 'Z';  /* one byte differs */
            else if (k == len)
                t[len ? len - 1 : 0] = '\0'; /* one shorter (or, for "", one longer) */
            else {
                t[len] = 'Z'; /* one longer */
                t[len + 1] = '\0';
            }
            if (len == 0 && k == 0)
                continue;
            if (len == 0 && k == 1) {
                t[0] = 'Z';
                t[1] = '\0';
            }
            cJSON_ReplaceItemInObject(b, "s", cJSON_CreateString(t));
            n_ops = 99;
            free(diff_docs(a, b, &o, &n_ops));
            ck_assert_msg(n_ops == 1, "\"%s\" vs \"%s\" gave %zu ops", s, t, n_ops);
        }
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
}
END_TEST

START_TEST(unicode_keys_and_values_round_trip)
{
    expect("{\"caf\\u00e9\":\"\\u20ac1\",\"\\ud83d\\ude00\":[\"\\u00fc\"],\"k\":\"some padding....\"}",
           "{\"caf\\u00e9\":\"\\u20ac2\",\"\\ud83d\\ude00\":[\"\\u00fc\",\"\\u00e4\"],"
           "\"k\":\"some padding....\"}",
           "[{\"op\":\"replace\",\"path\":\"/caf\xc3\xa9\",\"value\":\"\xe2\x82\xac" "2\"},"
           "{\"op\":\"add\",\"path\":\"/\xf0\x9f\x98\x80/-\",\"value\":\"\xc3\xa4\"}]");
}
END_TEST

static int fail_after = -1; /* allocations left before the hook fails; -1: never */
static void *failing_malloc(size_t n)
{
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return malloc(n);
}

START_TEST(diff_fails_cleanly_whenever_memory_runs_out)
{
    cJSON *a = P("{\"x\":[1,2,3,{\"id\":1,\"v\":[5,6]},{\"id\":2}],\"y\":{\"k\":\"v\",\"big\":{\"a\":1}}}");
    cJSON *b = P("{\"x\":[{\"id\":2},0,1,3,{\"id\":1,\"v\":[6]}],\"y\":{\"k\":\"w\"},\"z\":[[]]}");
    sc_diff_options o = defaults();
    o.allow_root = 1;
    sc_buf ref = {0};
    ck_assert_int_eq(sc_diff_to_buf(a, b, &o, &ref, NULL, NULL), SC_PATCH_OK);
    cJSON_Hooks hooks = {failing_malloc, free};
    cJSON_InitHooks(&hooks);
    int saw_failure = 0;
    for (int k = 0; k < 200; k++) {
        fail_after = k;
        sc_buf buf = {0};
        sc_patch_status st = sc_diff_to_buf(a, b, &o, &buf, NULL, NULL);
        cJSON *tree = NULL;
        fail_after = k;
        sc_patch_status st2 = sc_diff(a, b, &o, &tree, NULL);
        fail_after = -1;
        if (st == SC_PATCH_OK)
            ck_assert_str_eq(buf.data, ref.data);
        else {
            ck_assert_int_eq(st, SC_PATCH_ENOMEM);
            ck_assert_uint_eq(buf.len, 0);
            saw_failure = 1;
        }
        ck_assert(st2 == SC_PATCH_OK || st2 == SC_PATCH_ENOMEM);
        ck_assert(st2 == SC_PATCH_OK ? tree != NULL : tree == NULL);
        cJSON_Delete(tree);
        sc_buf_free(&buf);
    }
    cJSON_InitHooks(NULL);
    ck_assert(saw_failure);
    sc_buf_free(&ref);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diff");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diff_of_equal_documents_is_empty);
    tcase_add_test(tc, diff_replaces_a_changed_member_and_leaves_the_rest);
    tcase_add_test(tc, diff_emits_removes_then_changes_then_adds_in_b_order);
    tcase_add_test(tc, diff_escapes_tilde_and_slash_in_paths);
    tcase_add_test(tc, diff_replaces_a_subtree_when_that_is_smaller_than_its_ops);
    tcase_add_test(tc, diff_replaces_a_value_whose_type_changed);
    tcase_add_test(tc, diff_refuses_to_replace_the_root_unless_allowed);
    tcase_add_test(tc, diff_leaves_the_buffer_as_it_was_on_failure);
    tcase_add_test(tc, diff_rejects_bad_arguments);
    tcase_add_test(tc, options_init_sets_the_documented_defaults);
    tcase_add_test(tc, diff_never_changes_its_inputs);
    tcase_add_test(tc, scalar_array_insert_is_one_add);
    tcase_add_test(tc, scalar_array_append_uses_the_dash_index);
    tcase_add_test(tc, scalar_array_delete_is_one_remove);
    tcase_add_test(tc, scalar_array_set_is_one_replace);
    tcase_add_test(tc, scalar_array_move_is_one_move);
    tcase_add_test(tc, scalar_array_swap_is_at_most_two_ops);
    tcase_add_test(tc, scalar_array_without_moves_uses_remove_and_add);
    tcase_add_test(tc, list_front_insert_is_one_add);
    tcase_add_test(tc, list_middle_delete_is_one_remove);
    tcase_add_test(tc, list_move_is_one_move);
    tcase_add_test(tc, list_swap_is_two_moves);
    tcase_add_test(tc, list_changed_item_is_diffed_in_place);
    tcase_add_test(tc, list_moved_and_changed_item_gets_its_ops_under_its_new_index);
    tcase_add_test(tc, list_insert_with_a_changed_item_keeps_identity);
    tcase_add_test(tc, list_without_id_key_matches_by_content);
    tcase_add_test(tc, table_update_every_tenth_label_is_one_replace_each);
    tcase_add_test(tc, table_swap_rows_is_two_moves);
    tcase_add_test(tc, adjacent_swap_is_one_move);
    tcase_add_test(tc, swap_with_the_last_element_moves_it_to_the_dash_index);
    tcase_add_test(tc, swapped_and_edited_rows_get_their_edits_under_their_new_index);
    tcase_add_test(tc, two_unrelated_rows_replaced_far_apart_are_two_sets);
    tcase_add_test(tc, three_unrelated_rows_fall_back_to_the_sequence_diff_once);
    tcase_add_test(tc, table_remove_row_is_one_remove);
    tcase_add_test(tc, table_append_rows_adds_at_the_end);
    tcase_add_test(tc, table_append_a_thousand_rows_replaces_the_smaller_way);
    tcase_add_test(tc, object_sharing_no_key_is_replaced_without_writing_its_ops);
    tcase_add_test(tc, object_keeping_most_members_still_gets_removes_and_adds);
    tcase_add_test(tc, big_object_with_keys_added_and_removed_is_linear);
    tcase_add_test(tc, deep_leaf_change_is_one_replace);
    tcase_add_test(tc, deep_documents_diff_on_a_small_thread_stack);
    tcase_add_test(tc, too_deep_documents_are_refused);
    tcase_add_test(tc, too_deep_added_values_are_refused);
    tcase_add_test(tc, long_string_edit_is_one_replace);
    tcase_add_test(tc, edit_cost_bound_degrades_to_a_correct_patch);
    tcase_add_test(tc, unicode_keys_and_values_round_trip);
    tcase_add_test(tc, string_values_compare_exactly_at_every_length_and_position);
    tcase_add_test(tc, diff_fails_cleanly_whenever_memory_runs_out);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
