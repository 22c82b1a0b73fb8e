/* harness.c -- see harness.h. */
#define _GNU_SOURCE /* vasprintf */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sc_server *t_server(const char *set, const sc_config *cfg)
{
    sc_config c;
    if (cfg != NULL)
        c = *cfg;
    else
        sc_config_defaults(&c);
    c.writer_threads = 0;
    char dir[1024];
    if (set != NULL) {
        snprintf(dir, sizeof dir, "%s/%s", SC_TEST_PLUGINS, set);
        c.handlers_dir = dir;
    } else {
        c.handlers_dir = NULL;
    }
    sc_log_set_quiet(1);
    char err[512];
    sc_server *s = sc_server_new(&c, err, sizeof err);
    ck_assert_msg(s != NULL, "server did not start: %s", err);
    return s;
}

int t_frame_header(const unsigned char *p, uint64_t *payload_len, size_t *header_len)
{
    uint64_t n = p[1] & 0x7F;
    size_t h = 2;
    if (n == 126) {
        n = ((uint64_t)p[2] << 8) | p[3];
        h = 4;
    } else if (n == 127) {
        n = 0;
        for (int k = 0; k < 8; k++)
            n = (n << 8) | p[2 + k];
        h = 10;
    }
    *payload_len = n;
    *header_len = h;
    return p[0] & 0x0F;
}

/* Decodes the server's (unmasked) frames out of one write. */
static int t_write(void *user, const void *buf, size_t len)
{
    tconn *t = user;
    t->writes++;
    sbuf_put(&t->raw, buf, len);
    const unsigned char *p = buf;
    size_t i = 0;
    while (i + 2 <= len) {
        uint64_t n;
        size_t h;
        int op = t_frame_header(p + i, &n, &h);
        ck_assert_msg(i + h + n <= len, "a frame was split across writes");
        const char *payload = (const char *)p + i + h;
        if (op == 0x1) {
            cJSON *m = cJSON_ParseWithLength(payload, n);
            ck_assert_msg(m != NULL, "server sent invalid JSON: %.*s", (int)n, payload);
            cJSON_AddItemToArray(t->got, m);
        } else if (op == 0x8) {
            t->close_code = n >= 2 ? (((unsigned char)payload[0] << 8) | (unsigned char)payload[1]) : 1005;
        }
        i += h + n;
    }
    return 0;
}

tconn *t_connect(sc_server *s, int sc_mount)
{
    tconn *t = calloc(1, sizeof *t);
    t->got = cJSON_CreateArray();
    t->c = sc_conn_new(s, NULL, NULL, sc_mount, t_write, t);
    ck_assert_ptr_nonnull(t->c);
    return t;
}

void t_send(tconn *t, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    sc_conn_message(t->c, msg, (size_t)n);
    free(msg);
}

void t_drain(tconn *t) { outq_drain(sc_conn_outq(t->c)); }

cJSON *t_next(tconn *t)
{
    t_drain(t);
    return cJSON_DetachItemFromArray(t->got, 0);
}

const char *t_event(const cJSON *m)
{
    const cJSON *e = cJSON_GetArrayItem(m, 3);
    return cJSON_IsString(e) ? e->valuestring : "";
}

cJSON *t_expect(tconn *t, const char *topic, const char *event)
{
    for (;;) {
        cJSON *m = t_next(t);
        if (m == NULL)
            return NULL;
        const cJSON *tp = cJSON_GetArrayItem(m, 2);
        if (strcmp(t_event(m), event) == 0 &&
            (topic == NULL || (cJSON_IsString(tp) && strcmp(tp->valuestring, topic) == 0)))
            return m;
        cJSON_Delete(m);
    }
}

const cJSON *t_pl(const cJSON *m, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(m, 4), key);
}

void t_close(tconn *t)
{
    sc_conn_close(t->c);
    cJSON_Delete(t->got);
    sbuf_free(&t->raw);
    free(t);
}

cJSON *t_join(tconn *t, const char *topic, const char *jr, const char *params)
{
    t_send(t, "[\"%s\",\"%s\",\"%s\",\"phx_join\",%s]", jr, jr, topic, params ? params : "{}");
    return t_expect(t, topic, "phx_reply");
}

const char *t_status(const cJSON *reply)
{
    const cJSON *s = t_pl(reply, "status");
    return cJSON_IsString(s) ? s->valuestring : "";
}

const char *t_reason(const cJSON *reply)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(t_pl(reply, "response"), "reason");
    return cJSON_IsString(r) ? r->valuestring : "";
}

double t_num(const cJSON *v)
{
    ck_assert_msg(cJSON_IsNumber(v), "expected a number");
    return v->valuedouble;
}
