/*
 * sha256.h -- SHA-256 (FIPS 180-4, section 6.2) and HMAC-SHA256 (RFC 2104), for the token
 * helper (token.h). Written here so the server needs no crypto library at link time; checked
 * against the FIPS 180-4 example vectors and RFC 4231 in tests/server/test_sha256.c.
 * Private to the server. Not hardened against side channels beyond what a table-free
 * implementation gives (no secret-dependent branches or memory indices).
 */
#ifndef SC_SERVER_SHA256_H
#define SC_SERVER_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SC_SHA256_DIGEST 32 /* bytes in a digest */
#define SC_SHA256_BLOCK 64  /* bytes in a message block (also HMAC's B) */

/* An incremental hash: init, update any number of times, final. Plain data, no free. */
typedef struct sc_sha256 {
    uint32_t h[8];                    /* intermediate hash value H(i) */
    uint64_t total;                   /* message bytes hashed so far */
    unsigned char buf[SC_SHA256_BLOCK]; /* the incomplete block */
    size_t buf_len;                   /* bytes used in buf, < SC_SHA256_BLOCK */
} sc_sha256;

void sc_sha256_init(sc_sha256 *s);
void sc_sha256_update(sc_sha256 *s, const void *data, size_t len);
/* Writes the digest; s must be initialized again before reuse. */
void sc_sha256_final(sc_sha256 *s, unsigned char out[SC_SHA256_DIGEST]);
/* One-shot digest of data[0..len). */
void sc_sha256_digest(const void *data, size_t len, unsigned char out[SC_SHA256_DIGEST]);

/* HMAC-SHA256(key, msg) (RFC 2104 with H = SHA-256, B = 64, L = 32); any key length (keys
 * longer than B are hashed first, as the RFC says). */
void sc_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    unsigned char out[SC_SHA256_DIGEST]);

/* 1 when a[0..n) equals b[0..n), in time that depends only on n (no early exit), else 0. */
int sc_ct_equal(const void *a, const void *b, size_t n);

#endif
