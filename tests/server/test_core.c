/*
 * test_core.c -- the protocol core (core.c, inst.c, api.c) driven without sockets, with the
 * real test plugins of tests/server/plugins/good: joins, events, patches and versions,
 * refusals, sessions and ops, fan-out, dialects, timers and broadcasts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static sc_server *srv;

static void setup(void) { srv = t_server("good", NULL); }
static void teardown(void)
{
    sc_server_free(srv);
    srv = NULL;
}

/* Joins test:a on t with ref "1" and consumes the reply and the state:change. */
static void join_a(tconn *t)
{
    cJSON *r = t_join(t, "test:a", "1", NULL);
    ck_assert_str_eq(t_status(r), "ok");
    cJSON_Delete(r);
    cJSON_Delete(t_expect(t, "test:a", "state:change"));
}

START_TEST(heartbeat_is_answered_with_an_ok_reply_echoing_the_ref)
{
    tconn *t = t_connect(srv, 0);
    t_send(t, "[null,\"hb-7\",\"phoenix\",\"heartbeat\",{}]");
    cJSON *m = t_next(t);
    ck_assert_ptr_nonnull(m);
    char *s = cJSON_PrintUnformatted(m);
    ck_assert_str_eq(s, "[null,\"hb-7\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
    free(s);
    cJSON_Delete(m);
    t_close(t);
}
END_TEST

START_TEST(refs_are_echoed_byte_for_byte)
{
    tconn *t = t_connect(srv, 0);
    t_send(t, "[null,\"\\u0041b\",\"phoenix\",\"heartbeat\",{}]");
    t_drain(t);
    ck_assert_ptr_nonnull(strstr(t->raw.data, "\"\\u0041b\""));
    t_close(t);
}
END_TEST

START_TEST(join_replies_with_session_and_version_then_pushes_the_full_state)
{
    tconn *t = t_connect(srv, 0);
    t_send(t, "[\"3\",\"3\",\"test:a\",\"phx_join\",{}]");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_event(r), "phx_reply");
    ck_assert_str_eq(t_status(r), "ok");
    const cJSON *resp = t_pl(r, "response");
    const cJSON *sess = cJSON_GetObjectItemCaseSensitive(resp, "session");
    ck_assert(cJSON_IsString(sess));
    /* "<128 random bits, hex>-<client id, 64 bits, hex>" */
    ck_assert_int_eq(strlen(sess->valuestring), 32 + 1 + 16);
    ck_assert_int_eq(strspn(sess->valuestring, "0123456789abcdef"), 32);
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItemCaseSensitive(resp, "version")), 1);
    cJSON *st = t_next(t);
    ck_assert_str_eq(t_event(st), "state:change");
    ck_assert_str_eq(cJSON_GetArrayItem(st, 0)->valuestring, "3");
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(st, 1)));
    ck_assert_int_eq((int)t_num(t_pl(st, "version")), 1);
    cJSON *want = cJSON_Parse("{\"count\":0,\"items\":[]}");
    ck_assert(cJSON_Compare(t_pl(st, "state"), want, 1));
    cJSON_Delete(want);
    cJSON_Delete(r);
    cJSON_Delete(st);
    t_close(t);
}
END_TEST

START_TEST(event_publishes_a_patch_whose_version_is_exactly_one_more)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:inc\",{\"by\":5}]");
    cJSON *p = t_next(t);
    ck_assert_str_eq(t_event(p), "state:patch");
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(p, 0))); /* per-topic: join_ref null */
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), 2);
    cJSON *want = cJSON_Parse("[{\"op\":\"replace\",\"path\":\"/count\",\"value\":5}]");
    ck_assert(cJSON_Compare(t_pl(p, "patch"), want, 1));
    cJSON_Delete(want);
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_event(r), "phx_reply");
    ck_assert_str_eq(t_status(r), "ok");
    cJSON_Delete(p);
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_evt:inc\",{}]");
    p = t_expect(t, "test:a", "state:patch");
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), 3);
    cJSON_Delete(p);
    t_close(t);
}
END_TEST

START_TEST(an_event_that_changes_nothing_sends_no_patch_and_keeps_the_version)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:noop\",{}]");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_event(r), "phx_reply");
    ck_assert_ptr_null(t_next(t));
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_evt:inc\",{}]");
    cJSON *p = t_expect(t, "test:a", "state:patch");
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), 2);
    cJSON_Delete(p);
    t_close(t);
}
END_TEST

START_TEST(a_refused_event_leaves_the_state_exactly_as_before)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:fail\",{}]");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_status(r), "error");
    ck_assert_str_eq(t_reason(r), "nope");
    ck_assert_ptr_null(t_next(t)); /* no patch */
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_refresh\",{}]");
    cJSON *st = t_expect(t, "test:a", "state:change");
    cJSON *want = cJSON_Parse("{\"count\":0,\"items\":[]}");
    ck_assert(cJSON_Compare(t_pl(st, "state"), want, 1));
    ck_assert_int_eq((int)t_num(t_pl(st, "version")), 1);
    cJSON_Delete(want);
    cJSON_Delete(st);
    /* and the next change diffs against the restored state */
    t_send(t, "[\"1\",\"4\",\"test:a\",\"lvs_evt:inc\",{}]");
    cJSON *p = t_expect(t, "test:a", "state:patch");
    want = cJSON_Parse("[{\"op\":\"replace\",\"path\":\"/count\",\"value\":1}]");
    ck_assert(cJSON_Compare(t_pl(p, "patch"), want, 1));
    cJSON_Delete(want);
    cJSON_Delete(p);
    t_close(t);
}
END_TEST

START_TEST(join_refusals_name_their_reason)
{
    tconn *t = t_connect(srv, 0);
    cJSON *r = t_join(t, "nothing:here", "1", NULL);
    ck_assert_str_eq(t_reason(r), "unmatched topic");
    cJSON_Delete(r);
    r = t_join(t, "test:", "2", NULL);
    ck_assert_str_eq(t_reason(r), "invalid topic");
    cJSON_Delete(r);
    r = t_join(t, "test:x", "3", "{\"deny\":true}");
    ck_assert_str_eq(t_reason(r), "unauthorized");
    cJSON_Delete(r);
    t_send(t, "[\"4\",\"4\",\"test:broken\",\"phx_join\",{}]");
    cJSON *e = t_next(t);
    ck_assert_str_eq(t_event(e), "error");
    ck_assert(cJSON_IsString(t_pl(e, "message")));
    cJSON_Delete(e);
    r = t_next(t);
    ck_assert_str_eq(t_reason(r), "handler error");
    cJSON_Delete(r);
    /* a refused new state is discarded: a later good join builds it afresh */
    r = t_join(t, "test:x", "5", NULL);
    ck_assert_str_eq(t_status(r), "ok");
    cJSON_Delete(r);
    t_close(t);
}
END_TEST

START_TEST(too_many_channels_are_refused)
{
    sc_config c;
    sc_config_defaults(&c);
    c.max_topics = 2;
    sc_server *s = t_server("good", &c);
    tconn *t = t_connect(s, 0);
    cJSON *r;
    for (int i = 0; i < 2; i++) {
        char topic[16], jr[8];
        snprintf(topic, sizeof topic, "test:%d", i);
        snprintf(jr, sizeof jr, "%d", i + 1);
        r = t_join(t, topic, jr, NULL);
        ck_assert_str_eq(t_status(r), "ok");
        cJSON_Delete(r);
    }
    r = t_join(t, "test:9", "9", NULL);
    ck_assert_str_eq(t_reason(r), "too many channels joined");
    cJSON_Delete(r);
    t_close(t);
    sc_server_free(s);
}
END_TEST

START_TEST(leave_replies_then_closes_and_later_pushes_are_unmatched)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"9\",\"test:a\",\"phx_leave\",{}]");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_event(r), "phx_reply");
    ck_assert_str_eq(cJSON_GetArrayItem(r, 1)->valuestring, "9");
    cJSON *c = t_next(t);
    ck_assert_str_eq(t_event(c), "phx_close");
    ck_assert_str_eq(cJSON_GetArrayItem(c, 0)->valuestring, "1");
    ck_assert_str_eq(cJSON_GetArrayItem(c, 1)->valuestring, "1");
    cJSON_Delete(r);
    cJSON_Delete(c);
    t_send(t, "[\"1\",\"10\",\"test:a\",\"lvs_evt:inc\",{}]");
    r = t_next(t);
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(r, 0)));
    ck_assert_str_eq(t_reason(r), "unmatched topic");
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"11\",\"test:a\",\"phx_leave\",{}]");
    r = t_next(t);
    ck_assert_str_eq(t_status(r), "ok");
    ck_assert_ptr_null(t_next(t)); /* no phx_close for a topic not joined */
    cJSON_Delete(r);
    t_close(t);
}
END_TEST

START_TEST(a_second_join_closes_the_old_instance_first)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"5\",\"5\",\"test:a\",\"phx_join\",{}]");
    cJSON *c = t_next(t);
    ck_assert_str_eq(t_event(c), "phx_close");
    ck_assert_str_eq(cJSON_GetArrayItem(c, 0)->valuestring, "1");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_event(r), "phx_reply");
    ck_assert_str_eq(cJSON_GetArrayItem(r, 0)->valuestring, "5");
    ck_assert_str_eq(t_status(r), "ok");
    cJSON *st = t_next(t);
    ck_assert_str_eq(t_event(st), "state:change");
    /* the leave("rejoin") callback changed the state (last_leave) before the rejoin */
    ck_assert_str_eq(cJSON_GetObjectItem(t_pl(st, "state"), "last_leave")->valuestring, "rejoin");
    cJSON_Delete(c);
    cJSON_Delete(r);
    cJSON_Delete(st);
    /* the old join_ref is now stale: ignored */
    t_send(t, "[\"1\",\"6\",\"test:a\",\"lvs_evt:inc\",{}]");
    ck_assert_ptr_null(t_next(t));
    t_send(t, "[\"5\",\"7\",\"test:a\",\"lvs_evt:inc\",{}]");
    cJSON *p = t_expect(t, "test:a", "phx_reply");
    ck_assert_str_eq(t_status(p), "ok");
    cJSON_Delete(p);
    t_close(t);
}
END_TEST

START_TEST(per_topic_patches_are_the_same_bytes_for_every_subscriber)
{
    tconn *a = t_connect(srv, 0), *b = t_connect(srv, 0);
    join_a(a);
    join_a(b);
    t_drain(a);
    t_drain(b);
    a->raw.len = b->raw.len = 0;
    t_send(a, "[\"1\",\"2\",\"test:a\",\"lvs_evt:inc\",{\"by\":2}]");
    t_drain(a);
    t_drain(b);
    /* b received exactly the frame a received first (a then got its reply) */
    ck_assert_uint_gt(b->raw.len, 0);
    ck_assert_uint_ge(a->raw.len, b->raw.len);
    ck_assert_int_eq(memcmp(a->raw.data, b->raw.data, b->raw.len), 0);
    cJSON *p = t_expect(b, "test:a", "state:patch");
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), 2);
    cJSON_Delete(p);
    t_close(a);
    t_close(b);
}
END_TEST

START_TEST(ops_apply_once_in_order_and_replays_get_the_original_outcome)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"sc:event\",{\"name\":\"inc\",\"payload\":{\"by\":3},\"op\":1}]");
    cJSON *r = t_expect(t, "test:a", "phx_reply");
    ck_assert_str_eq(t_status(r), "ok");
    const cJSON *resp = t_pl(r, "response");
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(resp, "op")), 1);
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(resp, "version")), 2);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(resp, "reply")));
    cJSON_Delete(r);
    /* replay: not applied again */
    t_send(t, "[\"1\",\"3\",\"test:a\",\"sc:event\",{\"name\":\"inc\",\"payload\":{\"by\":3},\"op\":1}]");
    r = t_next(t);
    ck_assert_str_eq(t_event(r), "phx_reply");
    resp = t_pl(r, "response");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(resp, "duplicate")));
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(resp, "version")), 2);
    ck_assert_ptr_null(t_next(t));
    cJSON_Delete(r);
    /* a gap is refused and not consumed */
    t_send(t, "[\"1\",\"4\",\"test:a\",\"sc:event\",{\"name\":\"inc\",\"op\":3}]");
    r = t_next(t);
    ck_assert_str_eq(t_reason(r), "op_gap");
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(t_pl(r, "response"), "expected")), 2);
    cJSON_Delete(r);
    /* a refused op is consumed, its error replayed */
    t_send(t, "[\"1\",\"5\",\"test:a\",\"sc:event\",{\"name\":\"fail\",\"op\":2}]");
    r = t_next(t);
    ck_assert_str_eq(t_status(r), "error");
    ck_assert_str_eq(t_reason(r), "nope");
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(t_pl(r, "response"), "op")), 2);
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"6\",\"test:a\",\"sc:event\",{\"name\":\"fail\",\"op\":2}]");
    r = t_next(t);
    ck_assert_str_eq(t_status(r), "error");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(t_pl(r, "response"), "duplicate")));
    cJSON_Delete(r);
    /* reply and base reach the handler */
    t_send(t, "[\"1\",\"7\",\"test:a\",\"sc:event\",{\"name\":\"reply\",\"payload\":{\"k\":1},\"op\":3}]");
    r = t_expect(t, "test:a", "phx_reply");
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(t_pl(r, "response"), "reply"), "echo"), "k")), 1);
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"8\",\"test:a\",\"sc:event\",{\"name\":\"stale\",\"op\":4,\"base\":1}]");
    r = t_expect(t, "test:a", "phx_reply");
    ck_assert_str_eq(t_reason(r), "stale");
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"9\",\"test:a\",\"sc:event\",{\"name\":\"inc\",\"op\":\"x\"}]");
    r = t_expect(t, "test:a", "phx_reply");
    ck_assert_str_eq(t_reason(r), "invalid_payload");
    cJSON_Delete(r);
    t_close(t);
}
END_TEST

START_TEST(unknown_events_and_bad_payloads_are_refused)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"whatever\",{}]");
    cJSON *r = t_next(t);
    ck_assert_str_eq(t_reason(r), "unknown_event");
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_evt:nosuch\",{}]");
    r = t_next(t);
    ck_assert_str_eq(t_reason(r), "unknown_event");
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"4\",\"test:a\",\"lvs_evt:inc\",{\"by\":\"x\"}]");
    r = t_next(t);
    ck_assert_str_eq(t_reason(r), "invalid_payload");
    cJSON_Delete(r);
    t_close(t);
}
END_TEST

START_TEST(pushes_arrive_before_the_patch_they_accompany)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:push\",{}]");
    cJSON *m = t_next(t);
    ck_assert_str_eq(t_event(m), "toast");
    ck_assert_str_eq(cJSON_GetArrayItem(m, 0)->valuestring, "1");
    cJSON_Delete(m);
    m = t_next(t);
    ck_assert_str_eq(t_event(m), "state:patch");
    cJSON_Delete(m);
    t_close(t);
}
END_TEST

START_TEST(emitted_ops_are_sent_as_they_are_and_root_replacements_send_the_state)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:emit\",{}]");
    cJSON *p = t_expect(t, "test:a", "state:patch");
    cJSON *want = cJSON_Parse("[{\"op\":\"add\",\"path\":\"/items/-\",\"value\":\"e\"}]");
    ck_assert(cJSON_Compare(t_pl(p, "patch"), want, 1));
    cJSON_Delete(want);
    cJSON_Delete(p);
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_evt:scalar\",{}]");
    cJSON *st = t_expect(t, "test:a", "state:change");
    ck_assert_int_eq((int)t_num(t_pl(st, "state")), 7);
    ck_assert_int_eq((int)t_num(t_pl(st, "version")), 3);
    cJSON_Delete(st);
    t_close(t);
}
END_TEST

/* sc_emit_patch_take: the operations of two calls go out as one patch, in order and as they
 * were given; the live tree (kept indexes, state only read) and the shadow stay equal, which a
 * diff-based event then shows (its patch holds only its own change); an emit followed by a
 * refusal is undone; an emit that does not apply fails and changes nothing. */
START_TEST(taken_emitted_ops_go_out_in_order_and_live_and_shadow_stay_equal)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:grow\",{\"n\":100}]");
    cJSON *p = t_expect(t, "test:a", "state:patch");
    ck_assert_int_eq(cJSON_GetArraySize(t_pl(p, "patch")), 100);
    cJSON_Delete(p);
    cJSON_Delete(t_expect(t, "test:a", "phx_reply")); /* the patch, then its event's reply */
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_evt:emittake\",{}]");
    p = t_expect(t, "test:a", "state:patch");
    cJSON *want = cJSON_Parse("[{\"op\":\"replace\",\"path\":\"/items/98\",\"value\":\"x\"},"
                              "{\"op\":\"replace\",\"path\":\"/count\",\"value\":10}]");
    ck_assert(cJSON_Compare(t_pl(p, "patch"), want, 1));
    cJSON_Delete(want);
    cJSON_Delete(p);
    cJSON_Delete(t_expect(t, "test:a", "phx_reply"));
    const char *refused[] = {"emitfail", "emitbad"};
    for (int i = 0; i < 2; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "[\"1\",\"%d\",\"test:a\",\"lvs_evt:%s\",{}]", 4 + i,
                 refused[i]);
        t_send(t, msg);
        cJSON *r = t_expect(t, "test:a", "phx_reply");
        ck_assert_str_eq(t_status(r), "error");
        cJSON_Delete(r);
    }
    t_send(t, "[\"1\",\"6\",\"test:a\",\"lvs_evt:inc\",{}]");
    p = t_expect(t, "test:a", "state:patch");
    want = cJSON_Parse("[{\"op\":\"replace\",\"path\":\"/count\",\"value\":11}]");
    ck_assert(cJSON_Compare(t_pl(p, "patch"), want, 1));
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), 4);
    cJSON_Delete(want);
    cJSON_Delete(p);
    /* A second client gets the whole state: the taken values are in place. */
    tconn *u = t_connect(srv, 0);
    cJSON *r = t_join(u, "test:a", "1", NULL);
    cJSON_Delete(r);
    cJSON *st = t_expect(u, "test:a", "state:change");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(t_pl(st, "state"), "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 100);
    ck_assert_str_eq(cJSON_GetArrayItem(items, 98)->valuestring, "x");
    ck_assert_str_eq(cJSON_GetArrayItem(items, 99)->valuestring, "i99");
    cJSON_Delete(st);
    t_close(u);
    t_close(t);
}
END_TEST

START_TEST(per_connection_states_are_private_and_carry_the_join_ref)
{
    tconn *a = t_connect(srv, 0), *b = t_connect(srv, 0);
    cJSON *r = t_join(a, "priv:x", "7", NULL);
    ck_assert_str_eq(t_status(r), "ok");
    cJSON_Delete(r);
    cJSON *sa = t_expect(a, "priv:x", "state:change");
    r = t_join(b, "priv:x", "8", NULL);
    cJSON_Delete(r);
    cJSON *sb = t_expect(b, "priv:x", "state:change");
    ck_assert_str_ne(cJSON_GetObjectItem(t_pl(sa, "state"), "mine")->valuestring,
                     cJSON_GetObjectItem(t_pl(sb, "state"), "mine")->valuestring);
    cJSON_Delete(sa);
    cJSON_Delete(sb);
    t_send(a, "[\"7\",\"8\",\"priv:x\",\"lvs_evt:inc\",{}]");
    cJSON *p = t_expect(a, "priv:x", "state:patch");
    ck_assert_str_eq(cJSON_GetArrayItem(p, 0)->valuestring, "7");
    cJSON_Delete(p);
    ck_assert_ptr_null(t_expect(b, "priv:x", "state:patch"));
    t_close(a);
    t_close(b);
}
END_TEST

START_TEST(statechannel_dialect_uses_set_state_and_state_diff)
{
    tconn *t = t_connect(srv, 0);
    cJSON *r = t_join(t, "scd:1", "1", NULL);
    cJSON_Delete(r);
    cJSON *st = t_expect(t, "scd:1", "set_state");
    ck_assert_ptr_nonnull(st);
    cJSON_Delete(st);
    t_send(t, "[\"1\",\"2\",\"scd:1\",\"_SCMSG:set\",{\"value\":5,\"version\":1}]");
    cJSON *d = t_expect(t, "scd:1", "state_diff");
    ck_assert_int_eq((int)t_num(t_pl(d, "version")), 2);
    ck_assert_int_eq(cJSON_GetArraySize(t_pl(d, "diff")), 1);
    cJSON_Delete(d);
    t_send(t, "[\"1\",\"3\",\"scd:1\",\"_SCMSG:same\",{\"version\":2}]");
    d = t_expect(t, "scd:1", "state_diff");
    ck_assert_int_eq(cJSON_GetArraySize(t_pl(d, "diff")), 0);
    ck_assert_int_eq((int)t_num(t_pl(d, "version")), 2);
    cJSON_Delete(d);
    /* A refused message still gets its (empty) state_diff: that client waits for one. */
    t_send(t, "[\"1\",\"5\",\"scd:1\",\"_SCMSG:nope\",{\"version\":2}]");
    d = t_expect(t, "scd:1", "state_diff");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(cJSON_GetArraySize(t_pl(d, "diff")), 0);
    ck_assert_int_eq((int)t_num(t_pl(d, "version")), 2);
    cJSON_Delete(d);
    t_send(t, "[\"1\",\"4\",\"scd:1\",\"_SC_SYNC_\",{}]");
    st = t_expect(t, "scd:1", "set_state");
    ck_assert_int_eq((int)t_num(cJSON_GetObjectItem(t_pl(st, "state"), "value")), 5);
    cJSON_Delete(st);
    t_close(t);
    /* any handler speaks it through the StateChannel mount */
    t = t_connect(srv, 1);
    r = t_join(t, "test:m", "1", NULL);
    cJSON_Delete(r);
    st = t_next(t);
    ck_assert_str_eq(t_event(st), "set_state");
    cJSON_Delete(st);
    t_close(t);
}
END_TEST

static cJSON *wait_patch(tconn *t, const char *topic, int ms)
{
    for (int i = 0; i < ms / 5; i++) {
        cJSON *p = t_expect(t, topic, "state:patch");
        if (p != NULL)
            return p;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

START_TEST(timers_tick_under_the_topic_and_publish)
{
    tconn *t = t_connect(srv, 0);
    join_a(t);
    t_send(t, "[\"1\",\"2\",\"test:a\",\"lvs_evt:tick\",{\"ms\":5}]");
    cJSON *p = wait_patch(t, "test:a", 2000);
    ck_assert_ptr_nonnull(p);
    char *s = cJSON_PrintUnformatted(t_pl(p, "patch"));
    ck_assert_ptr_nonnull(strstr(s, "/ticks"));
    free(s);
    cJSON_Delete(p);
    t_send(t, "[\"1\",\"3\",\"test:a\",\"lvs_evt:untick\",{}]");
    t_close(t);
}
END_TEST

START_TEST(broadcasts_reach_info_of_every_instance_of_the_topic)
{
    tconn *a = t_connect(srv, 0), *b = t_connect(srv, 0);
    join_a(a);
    cJSON *r = t_join(b, "test:b", "1", NULL);
    cJSON_Delete(r);
    t_send(b, "[\"1\",\"2\",\"test:b\",\"lvs_evt:bcast\",{\"topic\":\"test:a\"}]");
    cJSON *p = wait_patch(a, "test:a", 2000);
    ck_assert_ptr_nonnull(p);
    char *s = cJSON_PrintUnformatted(t_pl(p, "patch"));
    ck_assert_ptr_nonnull(strstr(s, "/pings"));
    free(s);
    cJSON_Delete(p);
    t_close(a);
    t_close(b);
}
END_TEST

START_TEST(a_per_connection_state_and_its_timers_die_with_its_channel)
{
    tconn *t = t_connect(srv, 0);
    cJSON *r = t_join(t, "priv:tm", "1", NULL);
    cJSON_Delete(r);
    t_send(t, "[\"1\",\"2\",\"priv:tm\",\"lvs_evt:tick\",{}]");
    cJSON *p = wait_patch(t, "priv:tm", 2000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(cJSON_GetArrayItem(p, 0)->valuestring, "1");
    cJSON_Delete(p);
    t_send(t, "[\"1\",\"3\",\"priv:tm\",\"phx_leave\",{}]");
    cJSON_Delete(t_expect(t, "priv:tm", "phx_close"));
    /* the 10 ms timer would have fired several times on a freed state (ASan would say) */
    struct timespec ts = {0, 60 * 1000000L};
    nanosleep(&ts, NULL);
    ck_assert_ptr_null(t_expect(t, "priv:tm", "state:patch"));
    /* a new join gets a brand-new state */
    r = t_join(t, "priv:tm", "4", NULL);
    cJSON_Delete(r);
    cJSON *st = t_expect(t, "priv:tm", "state:change");
    ck_assert_ptr_null(cJSON_GetObjectItem(t_pl(st, "state"), "ticks"));
    ck_assert_int_eq((int)t_num(t_pl(st, "version")), 1);
    cJSON_Delete(st);
    t_close(t);
}
END_TEST

START_TEST(push_all_reaches_every_subscriber_before_the_patch)
{
    tconn *a = t_connect(srv, 0), *b = t_connect(srv, 0);
    join_a(a);
    join_a(b);
    t_send(a, "[\"1\",\"2\",\"test:a\",\"lvs_evt:pushall\",{}]");
    cJSON *m = t_next(b);
    ck_assert_str_eq(t_event(m), "notice");
    cJSON_Delete(m);
    m = t_next(b);
    ck_assert_str_eq(t_event(m), "state:patch");
    cJSON_Delete(m);
    t_close(a);
    t_close(b);
}
END_TEST

START_TEST(leave_on_close_runs_the_handler_and_patches_the_others)
{
    tconn *a = t_connect(srv, 0), *b = t_connect(srv, 0);
    join_a(a);
    join_a(b);
    t_close(a);
    cJSON *p = t_expect(b, "test:a", "state:patch");
    ck_assert_ptr_nonnull(p);
    char *s = cJSON_PrintUnformatted(t_pl(p, "patch"));
    ck_assert_ptr_nonnull(strstr(s, "\"closed\""));
    free(s);
    cJSON_Delete(p);
    t_close(b);
}
END_TEST

START_TEST(mixed_dialect_subscribers_each_get_their_own_frame_at_the_same_version)
{
    tconn *ls = t_connect(srv, 0), *sc = t_connect(srv, 1);
    cJSON_Delete(t_join(ls, "test:mix", "1", NULL));
    cJSON_Delete(t_join(sc, "test:mix", "1", NULL));
    cJSON_Delete(t_expect(sc, "test:mix", "set_state"));
    t_send(ls, "[\"1\",\"2\",\"test:mix\",\"lvs_evt:inc\",{}]");
    cJSON *p = t_expect(ls, "test:mix", "state:patch");
    cJSON *d = t_expect(sc, "test:mix", "state_diff");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(d);
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(d, 0)));
    ck_assert_int_eq((int)t_num(t_pl(p, "version")), (int)t_num(t_pl(d, "version")));
    ck_assert(cJSON_Compare(t_pl(p, "patch"), t_pl(d, "diff"), 1));
    cJSON_Delete(p);
    cJSON_Delete(d);
    t_close(ls);
    t_close(sc);
}
END_TEST

Suite *core_suite(void);
Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("protocol");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, heartbeat_is_answered_with_an_ok_reply_echoing_the_ref);
    tcase_add_test(tc, refs_are_echoed_byte_for_byte);
    tcase_add_test(tc, join_replies_with_session_and_version_then_pushes_the_full_state);
    tcase_add_test(tc, event_publishes_a_patch_whose_version_is_exactly_one_more);
    tcase_add_test(tc, an_event_that_changes_nothing_sends_no_patch_and_keeps_the_version);
    tcase_add_test(tc, a_refused_event_leaves_the_state_exactly_as_before);
    tcase_add_test(tc, join_refusals_name_their_reason);
    tcase_add_test(tc, too_many_channels_are_refused);
    tcase_add_test(tc, leave_replies_then_closes_and_later_pushes_are_unmatched);
    tcase_add_test(tc, a_second_join_closes_the_old_instance_first);
    tcase_add_test(tc, per_topic_patches_are_the_same_bytes_for_every_subscriber);
    tcase_add_test(tc, ops_apply_once_in_order_and_replays_get_the_original_outcome);
    tcase_add_test(tc, unknown_events_and_bad_payloads_are_refused);
    tcase_add_test(tc, pushes_arrive_before_the_patch_they_accompany);
    tcase_add_test(tc, emitted_ops_are_sent_as_they_are_and_root_replacements_send_the_state);
    tcase_add_test(tc, taken_emitted_ops_go_out_in_order_and_live_and_shadow_stay_equal);
    tcase_add_test(tc, per_connection_states_are_private_and_carry_the_join_ref);
    tcase_add_test(tc, statechannel_dialect_uses_set_state_and_state_diff);
    tcase_add_test(tc, timers_tick_under_the_topic_and_publish);
    tcase_add_test(tc, broadcasts_reach_info_of_every_instance_of_the_topic);
    tcase_add_test(tc, a_per_connection_state_and_its_timers_die_with_its_channel);
    tcase_add_test(tc, push_all_reaches_every_subscriber_before_the_patch);
    tcase_add_test(tc, leave_on_close_runs_the_handler_and_patches_the_others);
    tcase_add_test(tc, mixed_dialect_subscribers_each_get_their_own_frame_at_the_same_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
