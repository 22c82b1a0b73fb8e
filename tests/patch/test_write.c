/* tests for patch/src/write.c: sc_json_write prints exactly what cJSON_PrintUnformatted prints,
 * sc_json_size predicts it, and sc_buf behaves. */
#include <check.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statechannel/patch.h"
#include "write.h"

/* Checks item prints the same bytes both ways, and that the size function agrees. */
static void check_same(const cJSON *item)
{
    char *want = cJSON_PrintUnformatted(item);
    ck_assert_ptr_nonnull(want);
    sc_buf buf = {0};
    ck_assert_int_eq(sc_json_write(&buf, item), SC_PATCH_OK);
    ck_assert_msg(strcmp(buf.data, want) == 0, "wrote %s, cJSON prints %s", buf.data, want);
    ck_assert_uint_eq(buf.len, strlen(want));
    ck_assert_uint_eq(sc_json_size(item, (size_t)-2), strlen(want));
    sc_buf_free(&buf);
    cJSON_free(want);
}

static void check_number(double d)
{
    cJSON *n = cJSON_CreateNumber(d);
    check_same(n);
    cJSON_Delete(n);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

START_TEST(write_prints_special_numbers_like_cjson)
{
    const double cases[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, -2.75, 1.0 / 3.0, 2.0 / 3.0,
                            100.0, 1e15, 1e16, 1e17, 1e21, 1e22, 1e300, -1e300, 1e-300,
                            5e-324, DBL_MAX, -DBL_MAX, DBL_MIN, DBL_EPSILON, 123456789.123456789,
                            (double)INT_MAX, (double)INT_MIN, (double)INT_MAX + 1.0,
                            (double)INT_MIN - 1.0, 9007199254740992.0, 9007199254740993.0,
                            -9007199254740993.0, 3.141592653589793, 2.718281828459045, 0.3,
                            0.30000000000000004, 1e-7, 123e-20, 4.35, 0.07, 1.005,
                            /* the edges of the plain-integer path */
                            999999999999999.0, -999999999999999.0, 1e15 - 0.5, -1e15,
                            1e9, -1e9, 2147483648.0, -2147483649.0, 1e14 + 1};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_number(cases[i]);
    check_number(NAN);
    check_number(INFINITY);
    check_number(-INFINITY);
}
END_TEST

START_TEST(write_prints_random_numbers_like_cjson)
{
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rnd();
        double d;
        switch (i % 5) {
        case 0: /* any bit pattern: every exponent, subnormals, NaNs */
            memcpy(&d, &bits, sizeof d);
            break;
        case 1: /* integers, some beyond int */
            d = (double)(int64_t)(bits >> (bits & 63));
            break;
        case 2: /* short decimals, the usual app-state kind */
            d = (double)(int64_t)(bits % 2000001 - 1000000) / 100.0;
            break;
        case 3: /* values near the 15/17 digit boundary */
            d = (double)(bits >> 11) / 9007199254740992.0 * pow(10, (double)(bits % 40) - 20);
            break;
        default:
            d = (double)(int32_t)bits;
            break;
        }
        check_number(d);
    }
}
END_TEST

START_TEST(write_escapes_strings_like_cjson)
{
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    const char *cases[] = {"",      "plain",         "quote\"d",   "back\\slash", "a/b",
                           "\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac \xf0\x9f\x98\x80",
                           "~0~1",  all};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *s = cJSON_CreateString(cases[i]);
        check_same(s);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, cases[i], 1);
        check_same(o);
        cJSON_Delete(s);
        cJSON_Delete(o);
    }
}
END_TEST

/* Long strings go through the 16-byte scan: escapes at every offset of a block, at its edges,
 * in runs, and strings whose length is not a multiple of the block. */
START_TEST(write_escapes_long_strings_like_cjson)
{
    static const char special[] = {'"',  '\\', '\n',       '\t',       0x01,
                                   0x1f, 0x7f, (char)0x80, (char)0xff, ' '};
    char text[200];
    for (int i = 0; i < 5000; i++) {
        size_t n = (size_t)(rnd() % (sizeof text - 1));
        for (size_t k = 0; k < n; k++)
            text[k] = (char)('a' + rnd() % 26);
        size_t escapes = (size_t)(rnd() % 4); /* often none, the usual case */
        for (size_t e = 0; n && e < escapes * (1 + rnd() % 3); e++)
            text[rnd() % n] = special[rnd() % sizeof special];
        text[n] = '\0';
        cJSON *s = cJSON_CreateString(text);
        check_same(s);
        size_t exact = sc_string_size(text);
        ck_assert_uint_eq(exact, sc_json_size(s, (size_t)-2));
        /* With a cap: exact when it fits, else a lower bound past the cap. */
        ck_assert_uint_eq(sc_string_size_past(text, exact), exact);
        size_t room = (size_t)(rnd() % (exact + 1)), past = sc_string_size_past(text, room);
        ck_assert(past == exact || (past > room && past < exact));
        cJSON_Delete(s);
    }
}
END_TEST

START_TEST(write_prints_null_strings_and_keys_as_empty)
{
    cJSON *s = cJSON_CreateString("x");
    cJSON_free(s->valuestring);
    s->valuestring = NULL;
    check_same(s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "k", s);
    cJSON_free(s->string);
    s->string = NULL;
    check_same(o);
    cJSON_Delete(o);
}
END_TEST

START_TEST(write_prints_containers_and_literals_like_cjson)
{
    const char *docs[] = {"null", "true", "false", "[]", "{}", "[[]]", "[{}]", "{\"a\":{}}",
                          "[1,\"two\",null,true,false,[3,[4,[5]]],{\"x\":{\"y\":[]}}]",
                          "{\"\":0,\"a b\":\"c\\u0000d\",\"\\u00e9\":[1.5e300,-0.0,2]}"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        cJSON *d = cJSON_Parse(docs[i]);
        ck_assert_ptr_nonnull(d);
        check_same(d);
        cJSON_Delete(d);
    }
    cJSON *raw = cJSON_CreateArray();
    cJSON_AddItemToArray(raw, cJSON_CreateRaw("{\"pre\": 1}"));
    check_same(raw);
    cJSON_Delete(raw);
}
END_TEST

START_TEST(write_prints_the_example_documents_like_cjson)
{
    const char *files[] = {SC_TEST_DATA_DIR "/json-patch-tests/tests.json",
                           SC_TEST_DATA_DIR "/json-patch-tests/spec_tests.json"};
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "rb");
        ck_assert_ptr_nonnull(f);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *text = malloc((size_t)n + 1);
        ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
        text[n] = '\0';
        fclose(f);
        cJSON *d = cJSON_Parse(text);
        ck_assert_ptr_nonnull(d);
        check_same(d);
        cJSON_Delete(d);
        free(text);
    }
}
END_TEST

static cJSON *nest(int depth)
{
    cJSON *root = cJSON_CreateArray(), *cur = root;
    for (int i = 1; i < depth; i++) {
        cJSON *next = i % 2 ? cJSON_CreateObject() : cJSON_CreateArray();
        if (cJSON_IsArray(cur))
            cJSON_AddItemToArray(cur, next);
        else
            cJSON_AddItemToObject(cur, "k", next);
        cur = next;
    }
    return root;
}

START_TEST(write_handles_max_depth_and_refuses_deeper)
{
    cJSON *ok = nest(SC_PATCH_MAX_DEPTH);
    check_same(ok);
    cJSON *deep = nest(SC_PATCH_MAX_DEPTH + 1);
    sc_buf buf = {0};
    ck_assert_int_eq(sc_buf_append(&buf, "keep", 4), 0);
    ck_assert_int_eq(sc_json_write(&buf, deep), SC_PATCH_ETOODEEP);
    ck_assert_uint_eq(buf.len, 4);
    ck_assert_str_eq(buf.data, "keep");
    sc_buf_free(&buf);
    cJSON_Delete(ok);
    cJSON_Delete(deep);
}
END_TEST

START_TEST(write_appends_to_what_the_buffer_holds)
{
    sc_buf buf = {0};
    cJSON *d = cJSON_Parse("{\"a\":[1,2]}");
    ck_assert_int_eq(sc_buf_append(&buf, "x=", 2), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(sc_json_write(&buf, d), SC_PATCH_OK);
    ck_assert_uint_eq(buf.len, 2 + 1000 * strlen("{\"a\":[1,2]}"));
    ck_assert_int_eq(strncmp(buf.data, "x={\"a\":[1,2]}{\"a\"", 17), 0);
    ck_assert_uint_ge(buf.cap, buf.len + 1);
    ck_assert_int_eq(buf.data[buf.len], '\0');
    sc_buf_free(&buf);
    ck_assert_ptr_null(buf.data);
    ck_assert_uint_eq(buf.len, 0);
    ck_assert_uint_eq(buf.cap, 0);
    sc_buf_free(NULL);
    cJSON_Delete(d);
}
END_TEST

START_TEST(write_rejects_what_cjson_cannot_print)
{
    sc_buf buf = {0};
    ck_assert_int_eq(sc_json_write(&buf, NULL), SC_PATCH_EARG);
    ck_assert_int_eq(sc_json_write(NULL, NULL), SC_PATCH_EARG);
    cJSON *arr = cJSON_CreateArray();
    cJSON *bad = cJSON_CreateNull();
    bad->type = cJSON_Invalid;
    cJSON_AddItemToArray(arr, bad);
    ck_assert_ptr_null(cJSON_PrintUnformatted(arr));
    ck_assert_int_eq(sc_json_write(&buf, arr), SC_PATCH_EARG);
    ck_assert_uint_eq(buf.len, 0);
    sc_buf_free(&buf);
    cJSON_Delete(arr);
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

START_TEST(write_leaves_the_buffer_as_it_was_when_memory_runs_out)
{
    cJSON_Hooks hooks = {failing_malloc, free};
    cJSON *d = cJSON_Parse("[\"a long enough string to need more room than 256 bytes ......"
                           "...........................................................,"
                           "...........................................................,"
                           "...........................................................,"
                           "...........................................................\"]");
    cJSON_InitHooks(&hooks);
    sc_buf buf = {0};
    fail_after = 1;
    ck_assert_int_eq(sc_buf_append(&buf, "[", 1), 0);
    ck_assert_int_eq(sc_json_write(&buf, d), SC_PATCH_ENOMEM);
    ck_assert_uint_eq(buf.len, 1);
    ck_assert_str_eq(buf.data, "[");
    fail_after = -1;
    ck_assert_int_eq(sc_json_write(&buf, d), SC_PATCH_OK);
    sc_buf_free(&buf);
    cJSON_InitHooks(NULL);
    cJSON_Delete(d);
}
END_TEST

START_TEST(size_stops_early_past_its_cap)
{
    cJSON *d = cJSON_Parse("[\"0123456789\",\"0123456789\",\"0123456789\"]");
    size_t full = sc_json_size(d, (size_t)-2);
    ck_assert_uint_eq(full, 40);
    ck_assert_uint_gt(sc_json_size(d, 10), 10);
    ck_assert_uint_lt(sc_json_size(d, 10), full);
    ck_assert_uint_eq(sc_json_size(d, 40), 40);
    cJSON_Delete(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("write");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, write_prints_special_numbers_like_cjson);
    tcase_add_test(tc, write_prints_random_numbers_like_cjson);
    tcase_add_test(tc, write_escapes_strings_like_cjson);
    tcase_add_test(tc, write_escapes_long_strings_like_cjson);
    tcase_add_test(tc, write_prints_null_strings_and_keys_as_empty);
    tcase_add_test(tc, write_prints_containers_and_literals_like_cjson);
    tcase_add_test(tc, write_prints_the_example_documents_like_cjson);
    tcase_add_test(tc, write_handles_max_depth_and_refuses_deeper);
    tcase_add_test(tc, write_appends_to_what_the_buffer_holds);
    tcase_add_test(tc, write_rejects_what_cjson_cannot_print);
    tcase_add_test(tc, write_leaves_the_buffer_as_it_was_when_memory_runs_out);
    tcase_add_test(tc, size_stops_early_past_its_cap);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
