/*
 * harness.h -- drives the server core without sockets: a server whose queues are drained by
 * the test (no writer threads), connections whose write function decodes the WebSocket
 * frames the core produced, and helpers to send messages and read what came back.
 */
#ifndef SC_TEST_HARNESS_H
#define SC_TEST_HARNESS_H

#include <check.h>
#include <cjson/cJSON.h>

#include "core.h"
#include "util.h"

typedef struct tconn {
    sc_conn *c;
    cJSON *got;       /* received text messages, oldest first (parsed arrays) */
    sbuf raw;         /* every byte written, for byte-identity checks */
    int close_code;   /* code of a close frame received, or 0 */
    size_t writes;    /* write calls (coalescing checks) */
} tconn;

/* A server on the plugins of build/tests/server/plugins/<set> (NULL: no plugins); cfg NULL
 * means defaults. Queues are drained by the harness (writer_threads = 0). */
sc_server *t_server(const char *set, const sc_config *cfg);
/* Reads the header of one unmasked server frame at p (the whole header must be there): returns
 * the opcode and sets the payload length and the header length. */
int t_frame_header(const unsigned char *p, uint64_t *payload_len, size_t *header_len);

tconn *t_connect(sc_server *s, int sc_mount);
/* Sends one text message (printf-style). */
void t_send(tconn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drains the connection's queue into t->got. */
void t_drain(tconn *t);
/* Next received message (drains first); caller frees with cJSON_Delete(); NULL when none. */
cJSON *t_next(tconn *t);
/* Skips messages until one with this event (and topic, when not NULL) arrives; returns it
 * (caller frees) or NULL. */
cJSON *t_expect(tconn *t, const char *topic, const char *event);
/* The payload's member by name of message m (element 4). */
const cJSON *t_pl(const cJSON *m, const char *key);
const char *t_event(const cJSON *m);
/* Closes the connection (channels leave with "closed") and frees t. */
void t_close(tconn *t);
/* Joins topic with join ref jr and params JSON; returns the reply (caller frees). */
cJSON *t_join(tconn *t, const char *topic, const char *jr, const char *params);
/* {"status":..} of a phx_reply message. */
const char *t_status(const cJSON *reply);
/* response.reason of a phx_reply. */
const char *t_reason(const cJSON *reply);
double t_num(const cJSON *v);

#endif
