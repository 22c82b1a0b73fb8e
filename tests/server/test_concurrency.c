/*
 * test_concurrency.c -- the core with real writer threads and several client threads at
 * once: events on one shared state from every thread, timers and broadcasts firing
 * meanwhile, clients leaving while patches are in flight. Checks that nothing is lost or
 * reordered (each client sees versions +1 at a time) and that the final state holds every
 * increment. Run under ThreadSanitizer by `make test-tsan`, where it is the main race probe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CLIENTS 4
#define EVENTS 150

typedef struct collector {
    pthread_mutex_t mu;
    sc_conn *c;
    long last_version; /* last version seen on test:c (state:change or state:patch) */
    int order_errors;  /* a patch that was not last + 1 */
    int replies;
} collector;

/* Runs on writer threads: frames are complete (one write never splits a frame). */
static int collect(void *user, const void *buf, size_t len)
{
    collector *k = user;
    const unsigned char *p = buf;
    size_t i = 0;
    pthread_mutex_lock(&k->mu);
    while (i + 2 <= len) {
        uint64_t n;
        size_t h;
        int op = t_frame_header(p + i, &n, &h);
        if (op == 0x1) {
            cJSON *m = cJSON_ParseWithLength((const char *)p + i + h, n);
            const char *ev = cJSON_GetStringValue(cJSON_GetArrayItem(m, 3));
            const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 4), "version");
            if (ev != NULL && strcmp(ev, "state:change") == 0) {
                k->last_version = (long)v->valuedouble;
            } else if (ev != NULL && strcmp(ev, "state:patch") == 0) {
                if ((long)v->valuedouble != k->last_version + 1)
                    k->order_errors++;
                k->last_version = (long)v->valuedouble;
            } else if (ev != NULL && strcmp(ev, "phx_reply") == 0) {
                k->replies++;
            }
            cJSON_Delete(m);
        }
        i += h + n;
    }
    pthread_mutex_unlock(&k->mu);
    return 0;
}

static sc_server *srv;

static void send_msg(sc_conn *c, const char *msg) { sc_conn_message(c, msg, strlen(msg)); }

static void *client_main(void *arg)
{
    collector *k = arg;
    char msg[128];
    send_msg(k->c, "[\"1\",\"1\",\"test:c\",\"phx_join\",{}]");
    for (int i = 0; i < EVENTS; i++) {
        snprintf(msg, sizeof msg, "[\"1\",\"%d\",\"test:c\",\"lvs_evt:inc\",{}]", i + 2);
        send_msg(k->c, msg);
        if (i % 50 == 0)
            send_msg(k->c, "[\"1\",\"x\",\"test:c\",\"lvs_evt:bcast\",{}]");
    }
    return NULL;
}

START_TEST(concurrent_clients_lose_no_increment_and_see_versions_in_order)
{
    sc_config cfg;
    sc_config_defaults(&cfg);
    cfg.writer_threads = 2;
    cfg.max_events_per_sec = 1000000;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/good", SC_TEST_PLUGINS);
    cfg.handlers_dir = dir;
    sc_log_set_quiet(1);
    char err[256];
    srv = sc_server_new(&cfg, err, sizeof err);
    ck_assert_msg(srv != NULL, "%s", err);

    collector ks[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        memset(&ks[i], 0, sizeof ks[i]);
        pthread_mutex_init(&ks[i].mu, NULL);
        ks[i].c = sc_conn_new(srv, NULL, NULL, 0, collect, &ks[i]);
        ck_assert_ptr_nonnull(ks[i].c);
    }
    /* one ticking timer on the state while everything runs */
    send_msg(ks[0].c, "[\"1\",\"1\",\"test:c\",\"phx_join\",{}]");
    send_msg(ks[0].c, "[\"1\",\"t\",\"test:c\",\"lvs_evt:tick\",{\"ms\":1}]");
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, client_main, &ks[i]);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    send_msg(ks[0].c, "[\"1\",\"u\",\"test:c\",\"lvs_evt:untick\",{}]");
    for (int i = 0; i < CLIENTS; i++)
        outq_flush_wait(sc_conn_outq(ks[i].c), 10000);
    for (int i = 1; i < CLIENTS; i++) /* close while others may still get patches */
        sc_conn_close(ks[i].c);

    sbuf body = {0};
    cJSON *params = cJSON_CreateObject();
    ck_assert_int_eq(sc_http_state(srv, "test:c", params, NULL, &body), 200);
    cJSON *st = cJSON_Parse(body.data);
    ck_assert_int_eq((int)cJSON_GetObjectItem(cJSON_GetObjectItem(st, "state"), "count")->valuedouble,
                     CLIENTS * EVENTS);
    cJSON_Delete(st);
    cJSON_Delete(params);
    sbuf_free(&body);

    sc_conn_close(ks[0].c);
    for (int i = 0; i < CLIENTS; i++) {
        ck_assert_int_eq(ks[i].order_errors, 0);
        ck_assert_int_ge(ks[i].replies, EVENTS);
        pthread_mutex_destroy(&ks[i].mu);
    }
    sc_server_free(srv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, concurrent_clients_lose_no_increment_and_see_versions_in_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
