/*
 * test_limits.c -- bad input and limits through the core (PROTOCOL.md section 6): close codes,
 * error replies, fragment reassembly, rate limiting, and the slow-consumer policy of the
 * outbound queues (drop patches, resync with one full state).
 */
#include <stdio.h>
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

START_TEST(invalid_utf8_closes_with_1007)
{
    tconn *t = t_connect(srv, 0);
    sc_conn_message(t->c, "[\"\xff\xfe\"]", 6);
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1007);
    ck_assert_int_eq(sc_conn_close_code(t->c), 1007);
    t_close(t);
}
END_TEST

START_TEST(garbage_without_a_ref_closes_with_1008_but_a_readable_ref_gets_a_reply)
{
    tconn *t = t_connect(srv, 0);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"x\"]");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_reason(r), "invalid_message");
    ck_assert_str_eq(cJSON_GetArrayItem(r, 1)->valuestring, "2");
    cJSON_Delete(r);
    t_send(t, "[1,2,3,4,5]");
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1008);
    t_close(t);
    t = t_connect(srv, 0);
    t_send(t, "{\"not\":\"an array\"}");
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1008);
    t_close(t);
}
END_TEST

START_TEST(deep_json_gets_too_deep_and_the_socket_stays_usable)
{
    tconn *t = t_connect(srv, 0);
    sbuf b = {0};
    sbuf_puts(&b, "[\"1\",\"2\",\"test:a\",\"lvs_evt:inc\",");
    for (int i = 0; i < 300; i++)
        sbuf_puts(&b, "[");
    for (int i = 0; i < 300; i++)
        sbuf_puts(&b, "]");
    sbuf_puts(&b, "]");
    sc_conn_message(t->c, b.data, b.len);
    sbuf_free(&b);
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_reason(r), "too_deep");
    cJSON_Delete(r);
    t_send(t, "[null,\"3\",\"phoenix\",\"heartbeat\",{}]");
    r = t_next(t);
    ck_assert_str_eq(t_status(r), "ok");
    cJSON_Delete(r);
    t_close(t);
}
END_TEST

START_TEST(fragments_are_reassembled_and_the_cap_applies_to_the_whole_message)
{
    sc_config c;
    sc_config_defaults(&c);
    c.max_message = 100;
    sc_server *s = t_server("good", &c);
    tconn *t = t_connect(s, 0);
    sc_conn_frame(t->c, 0, 0x1, "[null,\"9\",\"pho", 14);
    sc_conn_frame(t->c, 0, 0x0, "enix\",\"heartbeat\"", 17);
    sc_conn_frame(t->c, 1, 0x0, ",{}]", 4);
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_status(r), "ok");
    ck_assert_str_eq(cJSON_GetArrayItem(r, 1)->valuestring, "9");
    cJSON_Delete(r);
    char chunk[60];
    memset(chunk, ' ', sizeof chunk);
    sc_conn_frame(t->c, 0, 0x1, chunk, sizeof chunk);
    sc_conn_frame(t->c, 0, 0x0, chunk, sizeof chunk);
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1009);
    t_close(t);
    t = t_connect(s, 0);
    char big[101];
    memset(big, ' ', sizeof big);
    sc_conn_frame(t->c, 1, 0x1, big, sizeof big);
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1009);
    t_close(t);
    sc_server_free(s);
}
END_TEST

START_TEST(binary_frames_close_with_1003_and_stray_continuations_with_1002)
{
    tconn *t = t_connect(srv, 0);
    sc_conn_frame(t->c, 1, 0x2, "\x01\x02", 2);
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1003);
    t_close(t);
    t = t_connect(srv, 0);
    sc_conn_frame(t->c, 1, 0x0, "x", 1);
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1002);
    t_close(t);
}
END_TEST

START_TEST(a_client_close_is_answered_with_its_code_never_1000_by_us)
{
    tconn *t = t_connect(srv, 0);
    sc_conn_frame(t->c, 1, 0x8, "\x03\xe9", 2); /* 1001 going away */
    t_drain(t);
    ck_assert_int_eq(t->close_code, 1001);
    t_close(t);
}
END_TEST

START_TEST(flooding_gets_rate_limited_then_closed_with_1008)
{
    sc_config c;
    sc_config_defaults(&c);
    c.max_events_per_sec = 5;
    sc_server *s = t_server("good", &c);
    tconn *t = t_connect(s, 0);
    int ok = 0, limited = 0;
    for (int i = 0; i < 100 && t->close_code == 0; i++) {
        t_send(t, "[null,\"%d\",\"phoenix\",\"heartbeat\",{}]", i);
        cJSON *r;
        t_drain(t);
        while ((r = cJSON_DetachItemFromArray(t->got, 0)) != NULL) {
            if (strcmp(t_status(r), "ok") == 0)
                ok++;
            else if (strcmp(t_reason(r), "rate_limited") == 0)
                limited++;
            cJSON_Delete(r);
        }
    }
    ck_assert_int_eq(ok, 5);
    ck_assert_int_ge(limited, 40);
    ck_assert_int_eq(t->close_code, 1008);
    t_close(t);
    sbuf m = {0};
    sc_http_metrics(s, &m);
    ck_assert_ptr_nonnull(strstr(m.data, "statechannel_refusals_total{reason=\"rate_limited\"}"));
    ck_assert_ptr_nonnull(strstr(m.data, "statechannel_closes_total{code=\"1008\"} 1"));
    sbuf_free(&m);
    sc_server_free(s);
}
END_TEST

START_TEST(a_slow_subscriber_drops_patches_and_converges_with_one_full_state)
{
    sc_config c;
    sc_config_defaults(&c);
    c.queue_frames = 8;
    c.max_events_per_sec = 100000;
    sc_server *s = t_server("good", &c);
    tconn *fast = t_connect(s, 0), *slow = t_connect(s, 0);
    cJSON *r = t_join(fast, "test:s", "1", NULL);
    cJSON_Delete(r);
    r = t_join(slow, "test:s", "1", NULL);
    cJSON_Delete(r);
    cJSON_Delete(t_expect(slow, "test:s", "state:change"));
    /* slow is never drained while 50 changes happen */
    for (int i = 0; i < 50; i++) {
        t_send(fast, "[\"1\",\"%d\",\"test:s\",\"lvs_evt:inc\",{}]", i + 2);
        t_drain(fast);
    }
    size_t frames = 0;
    outq_stats(sc_conn_outq(slow->c), NULL, &frames, NULL);
    ck_assert_uint_le(frames, 8); /* memory stayed bounded */
    t_drain(slow);
    /* what arrived: a state:change at the current version, and no patch from before it */
    int changes = 0;
    double version = 0, count = -1;
    cJSON *m;
    while ((m = cJSON_DetachItemFromArray(slow->got, 0)) != NULL) {
        if (strcmp(t_event(m), "state:change") == 0) {
            changes++;
            version = t_num(t_pl(m, "version"));
            count = t_num(cJSON_GetObjectItem(t_pl(m, "state"), "count"));
        } else if (strcmp(t_event(m), "state:patch") == 0) {
            ck_assert_int_eq((int)t_num(t_pl(m, "version")), (int)version + 1);
            version++;
            count++;
        }
        cJSON_Delete(m);
    }
    ck_assert_int_eq(changes, 1);
    ck_assert_int_eq((int)version, 51); /* 1 (created) + 50 changes */
    ck_assert_int_eq((int)count, 50);
    /* and it keeps getting patches afterwards */
    t_send(fast, "[\"1\",\"99\",\"test:s\",\"lvs_evt:inc\",{}]");
    cJSON *p = t_expect(slow, "test:s", "state:patch");
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), 52);
    cJSON_Delete(p);
    t_close(fast);
    t_close(slow);
    sc_server_free(s);
}
END_TEST

START_TEST(queued_frames_are_coalesced_into_one_write)
{
    tconn *t = t_connect(srv, 0);
    for (int i = 0; i < 10; i++)
        t_send(t, "[null,\"%d\",\"phoenix\",\"heartbeat\",{}]", i);
    t->writes = 0;
    t_drain(t);
    ck_assert_int_eq((int)t->writes, 1);
    ck_assert_int_eq(cJSON_GetArraySize(t->got), 10);
    t_close(t);
}
END_TEST

Suite *limits_suite(void);
Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, invalid_utf8_closes_with_1007);
    tcase_add_test(tc, garbage_without_a_ref_closes_with_1008_but_a_readable_ref_gets_a_reply);
    tcase_add_test(tc, deep_json_gets_too_deep_and_the_socket_stays_usable);
    tcase_add_test(tc, fragments_are_reassembled_and_the_cap_applies_to_the_whole_message);
    tcase_add_test(tc, binary_frames_close_with_1003_and_stray_continuations_with_1002);
    tcase_add_test(tc, a_client_close_is_answered_with_its_code_never_1000_by_us);
    tcase_add_test(tc, flooding_gets_rate_limited_then_closed_with_1008);
    tcase_add_test(tc, a_slow_subscriber_drops_patches_and_converges_with_one_full_state);
    tcase_add_test(tc, queued_frames_are_coalesced_into_one_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(limits_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
