/*
 * test_loader.c -- the plugin loader with real plugins built for the test: a good set, a
 * wrong ABI, a struct_size from the future, a missing name, an init that fails, a duplicate
 * name and a duplicate pattern, a struct_size below version 1. Also the HTTP helpers that need plugins (GET /api/state).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void expect_rejected(const char *set, const char *file, const char *why)
{
    sc_config c;
    sc_config_defaults(&c);
    c.writer_threads = 0;
    char dir[1024], err[512] = "";
    snprintf(dir, sizeof dir, "%s/%s", SC_TEST_PLUGINS, set);
    c.handlers_dir = dir;
    sc_log_set_quiet(1);
    sc_server *s = sc_server_new(&c, err, sizeof err);
    ck_assert_msg(s == NULL, "%s: the server started", set);
    ck_assert_msg(strstr(err, file) != NULL, "%s: message does not name %s: %s", set, file, err);
    ck_assert_msg(strstr(err, why) != NULL, "%s: message lacks \"%s\": %s", set, why, err);
}

START_TEST(good_plugins_load_and_serve_their_patterns)
{
    sc_server *s = t_server("good", NULL);
    tconn *t = t_connect(s, 0);
    const char *topics[] = {"test:1", "priv:1", "scd:1"};
    for (int i = 0; i < 3; i++) {
        cJSON *r = t_join(t, topics[i], "1", NULL);
        ck_assert_str_eq(t_status(r), "ok");
        cJSON_Delete(r);
    }
    t_close(t);
    sc_server_free(s);
}
END_TEST

START_TEST(a_wrong_abi_version_is_rejected)
{
    expect_rejected("abi", "bad_abi.so", "handler ABI 2");
}
END_TEST

START_TEST(a_struct_size_larger_than_ours_is_rejected)
{
    expect_rejected("size", "bad_size.so", "struct_size");
}
END_TEST

START_TEST(a_struct_size_smaller_than_version_1_is_rejected)
{
    expect_rejected("small", "bad_small.so", "smaller than version 1");
}
END_TEST

START_TEST(a_descriptor_without_a_name_is_rejected)
{
    expect_rejected("noname", "bad_noname.so", "name");
}
END_TEST

START_TEST(a_failing_init_is_reported_and_refuses_the_start)
{
    expect_rejected("init", "bad_init.so", "missing configuration XYZ");
}
END_TEST

START_TEST(duplicate_names_and_patterns_are_rejected)
{
    expect_rejected("dupname", ".so", "duplicate name \"tp_topic\"");
    expect_rejected("duppattern", ".so", "duplicate pattern \"test:*\"");
}
END_TEST

START_TEST(a_missing_directory_is_an_error)
{
    expect_rejected("no-such-dir", "no-such-dir", "cannot open");
}
END_TEST

START_TEST(api_state_authorizes_like_a_join_and_never_changes_the_state)
{
    sc_server *s = t_server("good", NULL);
    sbuf b = {0};
    cJSON *params = cJSON_CreateObject();
    ck_assert_int_eq(sc_http_state(s, "test:h", params, NULL, &b), 404); /* never joined */
    ck_assert_int_eq(sc_http_state(s, "nobody:h", params, NULL, &b), 404);
    tconn *t = t_connect(s, 0);
    cJSON *r = t_join(t, "test:h", "1", NULL);
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"2\",\"test:h\",\"lvs_evt:inc\",{}]");
    cJSON_Delete(t_expect(t, "test:h", "phx_reply"));
    ck_assert_int_eq(sc_http_state(s, "test:h", params, NULL, &b), 200);
    cJSON *body = cJSON_Parse(b.data);
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "state"), "count")), 1);
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(body, "version")), 2);
    cJSON_Delete(body);
    cJSON_AddStringToObject(params, "deny", "true");
    ck_assert_int_eq(sc_http_state(s, "test:h", params, NULL, &b), 403);
    ck_assert_ptr_nonnull(strstr(b.data, "unauthorized"));
    /* per-connection handlers: a throwaway state at version 0 */
    ck_assert_int_eq(sc_http_state(s, "priv:h", params, NULL, &b), 200);
    ck_assert_ptr_nonnull(strstr(b.data, "\"version\":0"));
    /* the GETs published nothing */
    ck_assert_ptr_null(t_expect(t, "test:h", "state:patch"));
    cJSON_Delete(params);
    sbuf_free(&b);
    t_close(t);
    sc_server_free(s);
}
END_TEST

START_TEST(static_paths_never_leave_the_root)
{
    char out[1024];
    const char *root = SC_TEST_PLUGINS; /* any directory: it holds good/tp_topic.so */
    ck_assert_int_eq(sc_static_path(root, "/good/tp_topic.so", out, sizeof out), 0);
    ck_assert_int_eq(sc_static_path(root, "/../plugins/good/tp_topic.so", out, sizeof out), -1);
    ck_assert_int_eq(sc_static_path(root, "/good/../good/tp_topic.so", out, sizeof out), -1);
    ck_assert_int_eq(sc_static_path(root, "/good\\..\\x", out, sizeof out), -1);
    ck_assert_int_eq(sc_static_path(root, "/good", out, sizeof out), -1); /* no index.html */
    ck_assert_int_eq(sc_static_path(root, "/nope", out, sizeof out), -1);
    ck_assert_int_eq(sc_static_path(root, "/good/tp_topic.so?x=1", out, sizeof out), 0);
}
END_TEST

START_TEST(query_strings_nest_like_plug)
{
    cJSON *q = sc_query_parse("a=1&b[c]=2&b[d][e]=x%20y&l[]=p&l[]=q&vsn=2.0.0&s=a+b");
    char *s = cJSON_PrintUnformatted(q);
    ck_assert_str_eq(s, "{\"a\":\"1\",\"b\":{\"c\":\"2\",\"d\":{\"e\":\"x y\"}},\"l\":[\"p\",\"q\"],"
                        "\"vsn\":\"2.0.0\",\"s\":\"a b\"}");
    free(s);
    cJSON_Delete(q);
    size_t n;
    char *tok = sc_base64_decode("czNjcmV0LXQ_", 12, &n); /* url-safe, no padding */
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_eq((int)n, 9);
    ck_assert_int_eq(memcmp(tok, "s3cret-t?", 9), 0);
    free(tok);
    ck_assert_ptr_null(sc_base64_decode("a*b", 3, NULL));
    ck_assert(sc_utf8_valid("h\xc3\xa9", 3));
    ck_assert(!sc_utf8_valid("\xc0\xaf", 2));         /* overlong */
    ck_assert(!sc_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!sc_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}
END_TEST

Suite *loader_suite(void);
Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, good_plugins_load_and_serve_their_patterns);
    tcase_add_test(tc, a_wrong_abi_version_is_rejected);
    tcase_add_test(tc, a_struct_size_larger_than_ours_is_rejected);
    tcase_add_test(tc, a_struct_size_smaller_than_version_1_is_rejected);
    tcase_add_test(tc, a_descriptor_without_a_name_is_rejected);
    tcase_add_test(tc, a_failing_init_is_reported_and_refuses_the_start);
    tcase_add_test(tc, duplicate_names_and_patterns_are_rejected);
    tcase_add_test(tc, a_missing_directory_is_an_error);
    tcase_add_test(tc, api_state_authorizes_like_a_join_and_never_changes_the_state);
    tcase_add_test(tc, static_paths_never_leave_the_root);
    tcase_add_test(tc, query_strings_nest_like_plug);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
