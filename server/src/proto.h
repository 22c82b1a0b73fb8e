/*
 * proto.h -- decoding one Phoenix V2 JSON text message: [join_ref, ref, topic, event, payload].
 *
 * msg_decode() checks, in this order and each in one linear pass: UTF-8 validity, nesting
 * depth (a bracket count that is string-aware and never recurses, so a hostile 1 MiB of '['
 * costs nothing but the scan), JSON syntax (cJSON), and the array's shape. It also keeps the
 * raw bytes of join_ref and ref so replies echo them byte for byte, as the client sent them.
 * When a message is rejected, whatever could be read of its head (join_ref, ref, topic) is
 * still returned, so the caller can answer with an error reply instead of closing.
 */
#ifndef SC_SERVER_PROTO_H
#define SC_SERVER_PROTO_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* A raw JSON token inside the message ("null", "\"3\"", ...); borrowed from the input. */
typedef struct sc_span {
    const char *p;
    size_t n;
} sc_span;

typedef enum sc_msg_status {
    SC_MSG_OK = 0,
    SC_MSG_BAD_UTF8,  /* close 1007 */
    SC_MSG_TOO_DEEP,  /* error reply "too_deep" when ref is a string, else close 1008 */
    SC_MSG_INVALID    /* error reply "invalid_message" when ref is a string, else close 1008 */
} sc_msg_status;

typedef struct sc_msg {
    cJSON *root;           /* the parsed array, owned; NULL unless SC_MSG_OK */
    sc_span jr, ref;       /* raw tokens; n == 0 when unreadable */
    sc_span topic_raw;     /* raw token of the topic when it is a string, else n == 0 */
    int jr_is_str, ref_is_str;
    const char *topic;     /* borrowed from root (SC_MSG_OK only) */
    const char *event;     /* borrowed from root (SC_MSG_OK only) */
    const cJSON *payload;  /* borrowed from root (SC_MSG_OK only) */
} sc_msg;

/* Decodes data[0..len). Always fills out (free with msg_free()). */
sc_msg_status msg_decode(const char *data, size_t len, int max_depth, sc_msg *out);
void msg_free(sc_msg *m);

/* Maximum nesting of data (1 for "[]"), stopping early once past limit (returns limit + 1). */
int json_depth(const char *data, size_t len, int limit);

#endif
