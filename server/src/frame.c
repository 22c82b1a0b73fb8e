/*
 * frame.c -- see frame.h. Building a frame costs one pass over its payload (the builder's
 * appends); finishing it writes the 2-10 byte header into the reserved headroom, no copy.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

/* RFC 6455 5.5: control frames carry at most 125 payload bytes (2 of them the close code). */
#define SC_WS_CONTROL_MAX 125

void frame_begin(sbuf *b)
{
    static const char zeros[SC_FRAME_HEADROOM];
    b->len = 0;
    sbuf_put(b, zeros, sizeof zeros);
}

sc_frame *frame_finish(sbuf *b, int opcode)
{
    if (b->oom || b->len < SC_FRAME_HEADROOM) {
        sbuf_free(b);
        return NULL;
    }
    sc_frame *f = malloc(sizeof *f);
    if (f == NULL) {
        sbuf_free(b);
        return NULL;
    }
    size_t plen = b->len - SC_FRAME_HEADROOM;
    unsigned char hdr[SC_FRAME_HEADROOM];
    size_t h = 0;
    hdr[h++] = (unsigned char)(0x80 | (opcode & 0x0F));
    if (plen < 126) {
        hdr[h++] = (unsigned char)plen;
    } else if (plen <= 0xFFFF) {
        hdr[h++] = 126;
        hdr[h++] = (unsigned char)(plen >> 8);
        hdr[h++] = (unsigned char)plen;
    } else {
        hdr[h++] = 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)plen >> (8 * i));
    }
    atomic_init(&f->refs, 1);
    f->buf = b->data;
    f->off = SC_FRAME_HEADROOM - h;
    f->hdr = h;
    f->len = h + plen;
    f->opcode = opcode;
    memcpy(f->buf + f->off, hdr, h);
    memset(b, 0, sizeof *b);
    return f;
}

sc_frame *frame_close(int code, const char *reason)
{
    sbuf b = {0};
    frame_begin(&b);
    unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    sbuf_put(&b, c, 2);
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > SC_WS_CONTROL_MAX - 2)
        rl = SC_WS_CONTROL_MAX - 2;
    if (rl > 0)
        sbuf_put(&b, reason, rl);
    return frame_finish(&b, SC_WS_CLOSE);
}

sc_frame *frame_ref(sc_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void frame_unref(sc_frame *f)
{
    if (f == NULL)
        return;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        free(f->buf);
        free(f);
    }
}
