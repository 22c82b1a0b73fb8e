/*
 * sha256.c -- SHA-256 as specified in FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3, 6.2)
 * and HMAC as specified in RFC 2104.
 *
 * SHA-256: the message is padded to a multiple of 512 bits (a 1 bit, zeros, the 64-bit
 * big-endian bit length) and each 64-byte block runs 64 rounds of the compression function
 * over eight 32-bit working variables. O(n) time, O(1) memory; the incremental API buffers at
 * most one block. Messages up to 2^64 - 1 bits, the standard's own limit (the bit count is
 * taken modulo 2^64, which no caller here approaches: tokens are a few hundred bytes).
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), K0 = K zero-padded to B = 64 bytes,
 * or H(K) zero-padded when K is longer than B.
 */
#include "sha256.h"

#include <string.h>

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first
 * 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 5.3.3: the first 32 bits of the fractional parts of the square roots of the
 * first 8 primes. */
static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* FIPS 180-4 section 3.2 and 4.1.2. */
static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
static uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
static uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
static uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
static uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
static uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
static uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

/* FIPS 180-4 6.2.2: one 512-bit block. */
static void compress(uint32_t h[8], const unsigned char *block)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
               (uint32_t)block[4 * t + 2] << 8 | (uint32_t)block[4 * t + 3];
    for (int t = 16; t < 64; t++)
        w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = hh + big_sigma1(e) + ch(e, f, g) + K[t] + w[t];
        uint32_t t2 = big_sigma0(a) + maj(a, b, c);
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

void sc_sha256_init(sc_sha256 *s)
{
    memcpy(s->h, H0, sizeof H0);
    s->total = 0;
    s->buf_len = 0;
}

void sc_sha256_update(sc_sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    if (s->buf_len > 0) {
        size_t take = SC_SHA256_BLOCK - s->buf_len;
        if (take > len)
            take = len;
        memcpy(s->buf + s->buf_len, p, take);
        s->buf_len += take;
        p += take;
        len -= take;
        if (s->buf_len < SC_SHA256_BLOCK)
            return;
        compress(s->h, s->buf);
        s->buf_len = 0;
    }
    for (; len >= SC_SHA256_BLOCK; p += SC_SHA256_BLOCK, len -= SC_SHA256_BLOCK)
        compress(s->h, p);
    memcpy(s->buf, p, len);
    s->buf_len = len;
}

/* FIPS 180-4 5.1.1: append 0x80, zeros up to 56 mod 64, then the length in bits (64-bit
 * big-endian). */
void sc_sha256_final(sc_sha256 *s, unsigned char out[SC_SHA256_DIGEST])
{
    uint64_t bits = s->total * 8;
    s->buf[s->buf_len++] = 0x80;
    if (s->buf_len > SC_SHA256_BLOCK - 8) {
        memset(s->buf + s->buf_len, 0, SC_SHA256_BLOCK - s->buf_len);
        compress(s->h, s->buf);
        s->buf_len = 0;
    }
    memset(s->buf + s->buf_len, 0, SC_SHA256_BLOCK - 8 - s->buf_len);
    for (int i = 0; i < 8; i++)
        s->buf[SC_SHA256_BLOCK - 1 - i] = (unsigned char)(bits >> (8 * i));
    compress(s->h, s->buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
    memset(s->buf, 0, sizeof s->buf); /* the last block may hold key material (HMAC) */
}

void sc_sha256_digest(const void *data, size_t len, unsigned char out[SC_SHA256_DIGEST])
{
    sc_sha256 s;
    sc_sha256_init(&s);
    sc_sha256_update(&s, data, len);
    sc_sha256_final(&s, out);
}

/* RFC 2104 section 2. */
void sc_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    unsigned char out[SC_SHA256_DIGEST])
{
    unsigned char k0[SC_SHA256_BLOCK] = {0}, pad[SC_SHA256_BLOCK], inner[SC_SHA256_DIGEST];
    if (key_len > SC_SHA256_BLOCK)
        sc_sha256_digest(key, key_len, k0);
    else if (key_len > 0)
        memcpy(k0, key, key_len);

    sc_sha256 s;
    for (int i = 0; i < SC_SHA256_BLOCK; i++)
        pad[i] = k0[i] ^ 0x36; /* ipad */
    sc_sha256_init(&s);
    sc_sha256_update(&s, pad, sizeof pad);
    sc_sha256_update(&s, msg, msg_len);
    sc_sha256_final(&s, inner);

    for (int i = 0; i < SC_SHA256_BLOCK; i++)
        pad[i] = k0[i] ^ 0x5c; /* opad */
    sc_sha256_init(&s);
    sc_sha256_update(&s, pad, sizeof pad);
    sc_sha256_update(&s, inner, sizeof inner);
    sc_sha256_final(&s, out);

    /* Do not leave the key on the stack for a later stack read to find. */
    volatile unsigned char *v = k0;
    for (size_t i = 0; i < sizeof k0; i++)
        v[i] = 0;
    v = pad;
    for (size_t i = 0; i < sizeof pad; i++)
        v[i] = 0;
}

int sc_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}
