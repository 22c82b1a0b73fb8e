/* tests for patch/src/pointer.c: RFC 6901 parsing, escaping, indexes and resolution. */
#include <stdint.h>

#include "testutil.h"

/* The example document of RFC 6901 section 5. */
static const char *rfc_doc = "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
                             " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
                             " \"m~n\": 8}";

START_TEST(parse_splits_tokens_and_unescapes_them)
{
    sc_patch_error err = {0};
    sc_pointer *p = sc_pointer_parse("/a~1b/0/m~0n/~01", &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(sc_pointer_count(p), 4);
    ck_assert_str_eq(sc_pointer_token(p, 0), "a/b");
    ck_assert_str_eq(sc_pointer_token(p, 1), "0");
    ck_assert_str_eq(sc_pointer_token(p, 2), "m~n");
    ck_assert_str_eq(sc_pointer_token(p, 3), "~1"); /* "~01" is "~" then "1", not "/" */
    ck_assert_ptr_null(sc_pointer_token(p, 4));
    ck_assert_int_eq(err.status, SC_PATCH_OK); /* filled on failure only */
    sc_pointer_free(p);
}
END_TEST

START_TEST(parse_reads_root_and_empty_tokens)
{
    sc_pointer *p = sc_pointer_parse("", NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(sc_pointer_count(p), 0);
    sc_pointer_free(p);

    p = sc_pointer_parse("/", NULL);
    ck_assert_uint_eq(sc_pointer_count(p), 1);
    ck_assert_str_eq(sc_pointer_token(p, 0), "");
    sc_pointer_free(p);

    p = sc_pointer_parse("/a//", NULL);
    ck_assert_uint_eq(sc_pointer_count(p), 3);
    ck_assert_str_eq(sc_pointer_token(p, 0), "a");
    ck_assert_str_eq(sc_pointer_token(p, 1), "");
    ck_assert_str_eq(sc_pointer_token(p, 2), "");
    sc_pointer_free(p);
}
END_TEST

START_TEST(parse_rejects_a_pointer_without_leading_slash)
{
    const char *bad[] = {"a", "a/b", "#/a", " /a", "0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sc_patch_error err = {0};
        ck_assert_ptr_null(sc_pointer_parse(bad[i], &err));
        ck_assert_int_eq(err.status, SC_PATCH_EPOINTER);
        ck_assert_str_eq(err.path, bad[i]);
        ck_assert_ptr_nonnull(strstr(err.reason, "start with \"/\""));
        ck_assert_int_eq(err.op_index, -1);
    }
}
END_TEST

START_TEST(parse_rejects_a_tilde_not_followed_by_0_or_1)
{
    const char *bad[] = {"/~2", "/a~", "/~", "/~a/b", "/ok/x~~0", "/~/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sc_patch_error err = {0};
        ck_assert_msg(sc_pointer_parse(bad[i], &err) == NULL, "accepted %s", bad[i]);
        ck_assert_int_eq(err.status, SC_PATCH_EPOINTER);
        ck_assert_ptr_nonnull(strstr(err.reason, "\"~\" at offset"));
    }
    sc_patch_error err = {0};
    sc_pointer_parse("/abc~", &err);
    ck_assert_str_eq(err.reason, "\"~\" at offset 4 ends the pointer");
    sc_pointer_parse("/a~2", &err);
    ck_assert_str_eq(err.reason, "\"~\" at offset 2 is not followed by \"0\" or \"1\"");
}
END_TEST

START_TEST(parse_refuses_more_tokens_than_the_depth_limit)
{
    size_t n = SC_PATCH_MAX_DEPTH + 1;
    char *text = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(text + 2 * i, "/x", 2);
    text[2 * n] = '\0';
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_pointer_parse(text, &err));
    ck_assert_int_eq(err.status, SC_PATCH_ETOODEEP);

    text[2 * (n - 1)] = '\0'; /* exactly the limit is fine */
    sc_pointer *p = sc_pointer_parse(text, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(sc_pointer_count(p), SC_PATCH_MAX_DEPTH);
    sc_pointer_free(p);
    free(text);
}
END_TEST

START_TEST(pointer_functions_accept_null)
{
    sc_pointer_free(NULL);
    ck_assert_uint_eq(sc_pointer_count(NULL), 0);
    ck_assert_ptr_null(sc_pointer_token(NULL, 0));
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_pointer_parse(NULL, &err));
    ck_assert_int_eq(err.status, SC_PATCH_EARG);
    ck_assert_ptr_null(sc_pointer_get(NULL, "", &err));
    ck_assert_int_eq(err.status, SC_PATCH_EARG);
}
END_TEST

START_TEST(index_reads_canonical_decimal_and_dash)
{
    size_t v = 77;
    ck_assert_int_eq(sc_pointer_index("0", &v), 1);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(sc_pointer_index("10", &v), 1);
    ck_assert_uint_eq(v, 10);
    char max[32];
    snprintf(max, sizeof max, "%zu", (size_t)SIZE_MAX);
    ck_assert_int_eq(sc_pointer_index(max, &v), 1);
    ck_assert_uint_eq(v, SIZE_MAX);
    v = 5;
    ck_assert_int_eq(sc_pointer_index("-", &v), 0);
    ck_assert_uint_eq(v, 5); /* untouched */
}
END_TEST

START_TEST(index_rejects_leading_zeros_signs_and_non_digits)
{
    const char *bad[] = {"01", "00", "-1", "+1", " 1", "1 ", "1e0", "", "1a", "0x1", "--",
                         "18446744073709551616", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t v = 42;
        ck_assert_msg(sc_pointer_index(bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_uint_eq(v, 42);
    }
    ck_assert_int_eq(sc_pointer_index(NULL, NULL), -1);
}
END_TEST

START_TEST(get_resolves_the_rfc6901_examples)
{
    cJSON *doc = tu_json(rfc_doc);
    ck_assert_ptr_eq(sc_pointer_get(doc, "", NULL), doc);
    ck_assert_ptr_eq(sc_pointer_get(doc, "/foo", NULL), cJSON_GetObjectItem(doc, "foo"));
    ck_assert_str_eq(sc_pointer_get(doc, "/foo/0", NULL)->valuestring, "bar");
    ck_assert_str_eq(sc_pointer_get(doc, "/foo/1", NULL)->valuestring, "baz");
    const struct {
        const char *ptr;
        int value;
    } cases[] = {{"/", 0},    {"/a~1b", 1}, {"/c%d", 2}, {"/e^f", 3}, {"/g|h", 4},
                 {"/i\\j", 5}, {"/k\"l", 6}, {"/ ", 7},   {"/m~0n", 8}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *v = sc_pointer_get(doc, cases[i].ptr, NULL);
        ck_assert_msg(v != NULL, "%s not found", cases[i].ptr);
        ck_assert_int_eq(v->valueint, cases[i].value);
    }
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_reports_a_missing_member_as_no_path)
{
    cJSON *doc = tu_json("{\"a\": {\"b\": 1}}");
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_pointer_get(doc, "/a/c", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.path, "/a/c");
    ck_assert_str_eq(err.reason, "no member \"c\" in the object at \"/a\"");

    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(sc_pointer_get(doc, "/x/y/z", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.path, "/x/y/z");
    ck_assert_str_eq(err.reason, "no member \"x\" in the object at \"\"");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_refuses_dash_and_indexes_past_the_end)
{
    cJSON *doc = tu_json("{\"a\": [10, 20]}");
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_pointer_get(doc, "/a/-", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    ck_assert_ptr_null(sc_pointer_get(doc, "/a/2", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.reason, "index 2 is past the end (2) of the array at \"/a\"");
    ck_assert_ptr_null(sc_pointer_get(doc, "/a/-/x", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    ck_assert_int_eq(sc_pointer_get(doc, "/a/1", &err)->valueint, 20);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_rejects_malformed_array_indexes_with_a_reason)
{
    cJSON *doc = tu_json("[\"foo\", \"bar\"]");
    const struct {
        const char *ptr, *why;
    } cases[] = {{"/01", "leading zero"},  {"/00", "leading zero"}, {"/1e0", "not a number"},
                 {"/-1", "not a number"},  {"/bar", "not a number"}, {"/", "empty"},
                 {"/99999999999999999999999", "too large"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sc_patch_error err = {0};
        ck_assert_ptr_null(sc_pointer_get(doc, cases[i].ptr, &err));
        ck_assert_int_eq(err.status, SC_PATCH_EPOINTER);
        ck_assert_msg(strstr(err.reason, cases[i].why) != NULL, "%s: reason \"%s\"",
                      cases[i].ptr, err.reason);
    }
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_treats_numeric_tokens_on_objects_as_keys)
{
    cJSON *doc = tu_json("{\"0\": \"zero\", \"01\": \"oh-one\", \"-\": \"dash\"}");
    ck_assert_str_eq(sc_pointer_get(doc, "/0", NULL)->valuestring, "zero");
    ck_assert_str_eq(sc_pointer_get(doc, "/01", NULL)->valuestring, "oh-one");
    ck_assert_str_eq(sc_pointer_get(doc, "/-", NULL)->valuestring, "dash");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_cannot_reach_into_a_scalar)
{
    cJSON *doc = tu_json("{\"n\": 5, \"s\": \"text\"}");
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_pointer_get(doc, "/n/0", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    ck_assert_str_eq(err.reason, "cannot look up \"0\" in the number at \"/n\"");
    ck_assert_ptr_null(sc_pointer_get(doc, "/s/x/y", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOPATH);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_addresses_the_first_of_duplicate_keys)
{
    cJSON *doc = tu_json("{\"a\": 1, \"a\": 2}");
    ck_assert_int_eq(cJSON_GetArraySize(doc), 2); /* cJSON keeps both */
    ck_assert_ptr_eq(sc_pointer_get(doc, "/a", NULL), doc->child);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_is_not_fooled_by_key_prefixes_or_escapes)
{
    cJSON *doc = tu_json("{\"ab\": 1, \"a\": 2, \"a/\": 3, \"a~\": 4, \"~1\": 5}");
    ck_assert_int_eq(sc_pointer_get(doc, "/a", NULL)->valueint, 2);
    ck_assert_int_eq(sc_pointer_get(doc, "/a~1", NULL)->valueint, 3);
    ck_assert_int_eq(sc_pointer_get(doc, "/a~0", NULL)->valueint, 4);
    ck_assert_int_eq(sc_pointer_get(doc, "/~01", NULL)->valueint, 5);
    ck_assert_ptr_null(sc_pointer_get(doc, "/a~0~0", NULL));
    ck_assert_ptr_null(sc_pointer_get(doc, "/abc", NULL));
    cJSON_Delete(doc);
}
END_TEST

START_TEST(get_handles_long_keys_and_deep_documents)
{
    /* A 20 000-byte key with escapes in it: no fixed-size token buffer may cut it. */
    size_t n = 20000;
    char *key = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        key[i] = (i % 100 == 0) ? '/' : (i % 100 == 50) ? '~' : 'k';
    key[n] = '\0';
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, key, 42);
    size_t need = sc_pointer_escape(key, NULL, 0);
    char *ptr = malloc(need + 2);
    ptr[0] = '/';
    ck_assert_uint_eq(sc_pointer_escape(key, ptr + 1, need + 1), need);
    ck_assert_int_eq(sc_pointer_get(doc, ptr, NULL)->valueint, 42);
    cJSON_Delete(doc);
    free(ptr);
    free(key);

    /* 900 nested arrays, addressed with 900 tokens. */
    doc = cJSON_CreateArray();
    cJSON *cur = doc;
    for (int i = 0; i < 899; i++) {
        cJSON *next = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, next);
        cur = next;
    }
    cJSON_AddItemToArray(cur, cJSON_CreateString("bottom"));
    char *deep = malloc(2 * 900 + 1);
    for (int i = 0; i < 900; i++)
        memcpy(deep + 2 * i, "/0", 2);
    deep[1800] = '\0';
    ck_assert_str_eq(sc_pointer_get(doc, deep, NULL)->valuestring, "bottom");
    free(deep);
    cJSON_Delete(doc);
}
END_TEST

START_TEST(escape_encodes_tilde_then_slash)
{
    char buf[32];
    ck_assert_uint_eq(sc_pointer_escape("a/b~c", buf, sizeof buf), 7);
    ck_assert_str_eq(buf, "a~1b~0c");
    ck_assert_uint_eq(sc_pointer_escape("~1", buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "~01");
    ck_assert_uint_eq(sc_pointer_escape("", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(escape_truncates_like_snprintf_without_splitting_an_escape)
{
    char buf[4];
    memset(buf, 'X', sizeof buf);
    ck_assert_uint_eq(sc_pointer_escape("ab/c", buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "ab"); /* "ab~" would end in a lone "~" */
    ck_assert_uint_eq(sc_pointer_escape("abcdef", buf, sizeof buf), 6);
    ck_assert_str_eq(buf, "abc");
    buf[0] = 'X';
    ck_assert_uint_eq(sc_pointer_escape("abc", buf, 0), 3);
    ck_assert_int_eq(buf[0], 'X'); /* cap 0: nothing written */
    ck_assert_uint_eq(sc_pointer_escape("abc", buf, 1), 3);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(escaped_keys_parse_back_to_the_same_key)
{
    const char *keys[] = {"plain", "", "a/b", "~", "~0", "/~/", "~1~0//~~"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char text[64] = "/";
        sc_pointer_escape(keys[i], text + 1, sizeof text - 1);
        sc_pointer *p = sc_pointer_parse(text, NULL);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(sc_pointer_count(p), 1);
        ck_assert_str_eq(sc_pointer_token(p, 0), keys[i]);
        sc_pointer_free(p);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pointer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parse_splits_tokens_and_unescapes_them);
    tcase_add_test(tc, parse_reads_root_and_empty_tokens);
    tcase_add_test(tc, parse_rejects_a_pointer_without_leading_slash);
    tcase_add_test(tc, parse_rejects_a_tilde_not_followed_by_0_or_1);
    tcase_add_test(tc, parse_refuses_more_tokens_than_the_depth_limit);
    tcase_add_test(tc, pointer_functions_accept_null);
    tcase_add_test(tc, index_reads_canonical_decimal_and_dash);
    tcase_add_test(tc, index_rejects_leading_zeros_signs_and_non_digits);
    tcase_add_test(tc, get_resolves_the_rfc6901_examples);
    tcase_add_test(tc, get_reports_a_missing_member_as_no_path);
    tcase_add_test(tc, get_refuses_dash_and_indexes_past_the_end);
    tcase_add_test(tc, get_rejects_malformed_array_indexes_with_a_reason);
    tcase_add_test(tc, get_treats_numeric_tokens_on_objects_as_keys);
    tcase_add_test(tc, get_cannot_reach_into_a_scalar);
    tcase_add_test(tc, get_addresses_the_first_of_duplicate_keys);
    tcase_add_test(tc, get_is_not_fooled_by_key_prefixes_or_escapes);
    tcase_add_test(tc, get_handles_long_keys_and_deep_documents);
    tcase_add_test(tc, escape_encodes_tilde_then_slash);
    tcase_add_test(tc, escape_truncates_like_snprintf_without_splitting_an_escape);
    tcase_add_test(tc, escaped_keys_parse_back_to_the_same_key);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
