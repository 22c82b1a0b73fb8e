/*
 * frame.h -- reference-counted, ready-to-send WebSocket frames.
 *
 * A frame is built once (header included) and shared: the patch of a per-topic state is
 * serialized into one frame that every subscriber's queue holds a reference to. Frames are
 * immutable after frame_finish(); references are atomic so any thread may take or drop one.
 * Server-to-client frames are never masked (RFC 6455 5.1) and always have FIN set.
 */
#ifndef SC_SERVER_FRAME_H
#define SC_SERVER_FRAME_H

#include <stdatomic.h>
#include <stddef.h>

#include "util.h"

/* Bytes reserved before the payload for the largest header (2 + 8-byte length). */
#define SC_FRAME_HEADROOM 10

#define SC_WS_TEXT 0x1
#define SC_WS_CLOSE 0x8
#define SC_WS_PING 0x9
#define SC_WS_PONG 0xA

typedef struct sc_frame {
    atomic_uint refs; /* holders: builders, queues, caches, rings; freed at 0 */
    char *buf;        /* owned; SC_FRAME_HEADROOM bytes, then the payload */
    size_t off;       /* where the header starts inside buf */
    size_t len;       /* header + payload bytes from buf + off */
    size_t hdr;       /* header bytes */
    int opcode;       /* SC_WS_TEXT, SC_WS_CLOSE, ... */
} sc_frame;

/* Starts a payload: b gets the headroom; append the payload after it, then frame_finish(). */
void frame_begin(sbuf *b);
/* Turns b (started with frame_begin) into a frame with one reference; takes b's memory and
 * leaves b empty. Returns NULL (and frees b) when b->oom or allocation fails. */
sc_frame *frame_finish(sbuf *b, int opcode);
/* A close frame: code (network order) + reason (truncated to fit a control frame). */
sc_frame *frame_close(int code, const char *reason);

sc_frame *frame_ref(sc_frame *f);
void frame_unref(sc_frame *f); /* accepts NULL */

static inline const char *frame_payload(const sc_frame *f) { return f->buf + f->off + f->hdr; }
static inline size_t frame_payload_len(const sc_frame *f) { return f->len - f->hdr; }

#endif
