/*
 * test_fuzz_found.c -- regressions for what the libFuzzer targets (tests/fuzz) found in the
 * server core, each replayed through the socket-free harness with the real test plugins.
 * docs/fuzzing.md lists the findings.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static sc_server *srv;

static void setup(void) { srv = t_server("good", NULL); }
static void teardown(void)
{
    sc_server_free(srv);
    srv = NULL;
}

/* Sends len bytes as one message (t_send cannot carry a NUL). */
static void send_bytes(tconn *t, const char *msg, size_t len) { sc_conn_message(t->c, msg, len); }

/* 1 when every byte the server wrote for text frames is >= 0x20 (compact JSON has no raw
 * control characters, and a browser's JSON.parse rejects them in strings). */
static int text_frames_are_clean(tconn *t)
{
    const unsigned char *p = (const unsigned char *)t->raw.data;
    size_t i = 0;
    while (i + 2 <= t->raw.len) {
        uint64_t n;
        size_t h;
        int op = t_frame_header(p + i, &n, &h);
        if (op == 0x1)
            for (size_t k = 0; k < n; k++)
                if (p[i + h + k] < 0x20)
                    return 0;
        i += h + n;
    }
    return 1;
}

/* fuzz_server: a ref holding a NUL was accepted as a string token; the join_ref kept for the
 * channel (a C string) was cut at the NUL, and the "error" push of a failing join began with
 * the invalid JSON ["\"1,null,... */
START_TEST(a_ref_with_a_raw_nul_is_refused_instead_of_echoed_cut_short)
{
    tconn *t = t_connect(srv, 0);
    static const char msg[] = "[\"1\",\"1\0x\",\"test:broken\",\"phx_join\",{}]";
    send_bytes(t, msg, sizeof msg - 1);
    t_drain(t);
    ck_assert_int_eq(cJSON_GetArraySize(t->got), 0); /* no reply can echo that ref */
    ck_assert_int_eq(t->close_code, 1008);
    ck_assert(text_frames_are_clean(t));
    t_close(t);
}
END_TEST

START_TEST(refs_and_topics_with_raw_control_characters_are_not_echoed)
{
    static const char *msgs[] = {
        "[null,\"a\tb\",\"phoenix\",\"heartbeat\",{}]",   /* ref */
        "[\"j\x01\",\"2\",\"test:a\",\"phx_join\",{}]",    /* join_ref */
        "[null,\"3\",\"test:\x1f\",\"lvs_evt:inc\",{}]",   /* topic, in an unmatched reply */
    };
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++) {
        tconn *t = t_connect(srv, 0);
        send_bytes(t, msgs[k], strlen(msgs[k]));
        t_drain(t);
        ck_assert_msg(text_frames_are_clean(t), "message %zu was echoed raw", k);
        t_close(t);
    }
    /* The same control characters escaped are fine and echoed as sent. */
    tconn *t = t_connect(srv, 0);
    t_send(t, "[null,\"a\\tb\",\"phoenix\",\"heartbeat\",{}]");
    t_drain(t);
    ck_assert_ptr_nonnull(strstr(t->raw.data, "\"a\\tb\""));
    ck_assert(text_frames_are_clean(t));
    t_close(t);
}
END_TEST

/* fuzz_server: a client's close code was echoed unless it was outside 1000-4999 or one of
 * 1005/1006/1015, so the reserved 1004 and 1016-2999 went back on the wire. */
START_TEST(a_close_with_a_reserved_code_is_answered_with_1002)
{
    static const struct {
        int sent, answered;
    } cases[] = {{1004, 1002}, {1016, 1002}, {2999, 1002}, {1005, 1002}, {999, 1002},
                 {1000, 1000}, {1014, 1014}, {3000, 3000}, {4999, 4999}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tconn *t = t_connect(srv, 0);
        char payload[2] = {(char)(cases[k].sent >> 8), (char)(cases[k].sent & 0xFF)};
        sc_conn_frame(t->c, 1, 0x8, payload, sizeof payload);
        t_drain(t);
        ck_assert_msg(t->close_code == cases[k].answered, "close %d answered %d, expected %d",
                      cases[k].sent, t->close_code, cases[k].answered);
        t_close(t);
    }
}
END_TEST

static Suite *fuzz_found_suite(void)
{
    Suite *s = suite_create("fuzz_found");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_ref_with_a_raw_nul_is_refused_instead_of_echoed_cut_short);
    tcase_add_test(tc, refs_and_topics_with_raw_control_characters_are_not_echoed);
    tcase_add_test(tc, a_close_with_a_reserved_code_is_answered_with_1002);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fuzz_found_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
