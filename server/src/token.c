/*
 * token.c -- minting and checking signed, expiring tokens (format in token.h), and loading
 * the server secret.
 *
 * Check, in this order, each step cheap and bounded by SC_TOKEN_MAX_LEN: length and shape
 * ("sc1.<payload>.<sig>", base64url characters only) -> recompute the HMAC of "sc1.<payload>",
 * encode it and compare with <sig> in constant time (only the canonical encoding is accepted,
 * so a token has exactly one valid spelling) -> decode and parse the payload -> expiry ->
 * topic pattern. O(token length). A token carries no server state: revoking one before it
 * expires means rotating the secret (docs/security.md).
 */
#include "token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sha256.h"

#define TOKEN_VERSION "sc1"
/* Longest topic pattern a token may carry: topics themselves are at most 256 bytes. */
#define TOKEN_MAX_PATTERN 256
/* Largest "exp" accepted: 2^53 - 1, what a JSON number holds exactly. */
#define TOKEN_MAX_EXP 9007199254740991.0

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends base64url of data without padding (RFC 4648 section 5). */
static void b64url_put(sbuf *out, const unsigned char *data, size_t len)
{
    size_t i = 0;
    char q[4];
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        q[0] = B64URL[v >> 18];
        q[1] = B64URL[(v >> 12) & 63];
        q[2] = B64URL[(v >> 6) & 63];
        q[3] = B64URL[v & 63];
        sbuf_put(out, q, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        q[0] = B64URL[v >> 18];
        q[1] = B64URL[(v >> 12) & 63];
        sbuf_put(out, q, 2);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        q[0] = B64URL[v >> 18];
        q[1] = B64URL[(v >> 12) & 63];
        q[2] = B64URL[(v >> 6) & 63];
        sbuf_put(out, q, 3);
    }
}

static int is_b64url(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (memchr(B64URL, p[i], sizeof B64URL - 1) == NULL)
            return 0;
    return 1;
}

/* The signature part for signed = "sc1.<payload>", appended to out. */
static void sign(const unsigned char *secret, size_t secret_len, const char *signed_part,
                 size_t len, sbuf *out)
{
    unsigned char mac[SC_SHA256_DIGEST];
    sc_hmac_sha256(secret, secret_len, signed_part, len, mac);
    b64url_put(out, mac, sizeof mac);
}

/* "*" matches every topic, "prefix*" the topics starting with prefix, anything else itself. */
static int pattern_match(const char *pattern, const char *topic)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, topic, n - 1) == 0;
    return strcmp(pattern, topic) == 0;
}

int sc_token_mint(const unsigned char *secret, size_t secret_len, const char *subject,
                  const char *topic_pattern, int64_t exp_s, sbuf *out)
{
    if (secret == NULL || secret_len == 0 || subject == NULL || subject[0] == '\0' ||
        strlen(subject) > SC_TOKEN_MAX_SUBJECT || exp_s <= 0 || (double)exp_s > TOKEN_MAX_EXP ||
        (topic_pattern != NULL && (topic_pattern[0] == '\0' ||
                                   strlen(topic_pattern) > TOKEN_MAX_PATTERN)))
        return -1;
    sbuf payload = {0};
    sbuf_puts(&payload, "{\"sub\":");
    sbuf_put_jstr(&payload, subject);
    sbuf_printf(&payload, ",\"exp\":%lld", (long long)exp_s);
    if (topic_pattern != NULL) {
        sbuf_puts(&payload, ",\"topic\":");
        sbuf_put_jstr(&payload, topic_pattern);
    }
    sbuf_puts(&payload, "}");
    sbuf tok = {0};
    sbuf_puts(&tok, TOKEN_VERSION ".");
    if (!payload.oom)
        b64url_put(&tok, (const unsigned char *)payload.data, payload.len);
    size_t signed_len = tok.len;
    if (!tok.oom && !payload.oom) {
        sbuf_puts(&tok, ".");
        sign(secret, secret_len, tok.data, signed_len, &tok);
    }
    int rc = (payload.oom || tok.oom || tok.len > SC_TOKEN_MAX_LEN) ? -1 : 0;
    if (rc == 0)
        sbuf_put(out, tok.data, tok.len);
    sbuf_free(&payload);
    sbuf_free(&tok);
    return (rc == 0 && !out->oom) ? 0 : -1;
}

sc_token_status sc_token_check(const unsigned char *secret, size_t secret_len, const char *token,
                               const char *topic, int64_t now_s, char *subject, size_t cap)
{
    if (secret == NULL || secret_len == 0)
        return SC_TOKEN_NO_SECRET;
    if (token == NULL || token[0] == '\0')
        return SC_TOKEN_MISSING;
    size_t len = strnlen(token, SC_TOKEN_MAX_LEN + 1);
    if (len > SC_TOKEN_MAX_LEN)
        return SC_TOKEN_MALFORMED;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || (size_t)(dot1 - token) != strlen(TOKEN_VERSION) ||
        memcmp(token, TOKEN_VERSION, strlen(TOKEN_VERSION)) != 0)
        return SC_TOKEN_MALFORMED;
    const char *payload = dot1 + 1, *sig = dot2 + 1;
    size_t payload_len = (size_t)(dot2 - payload), sig_len = len - (size_t)(sig - token);
    if (!is_b64url(payload, payload_len) || !is_b64url(sig, sig_len))
        return SC_TOKEN_MALFORMED;

    sbuf expect = {0};
    sign(secret, secret_len, token, (size_t)(dot2 - token), &expect);
    if (expect.oom) {
        sbuf_free(&expect);
        return SC_TOKEN_MALFORMED;
    }
    /* The length of a correct signature is public (43 characters); only its bytes are secret. */
    int sig_ok = sig_len == expect.len && sc_ct_equal(sig, expect.data, sig_len);
    sbuf_free(&expect);
    if (!sig_ok)
        return SC_TOKEN_BAD_SIGNATURE;

    /* Authenticated from here on: the payload was written by someone holding the secret. */
    size_t json_len = 0;
    char *json = sc_base64_decode(payload, payload_len, &json_len);
    cJSON *claims = json ? cJSON_ParseWithLength(json, json_len) : NULL;
    free(json);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(claims, "topic");
    sc_token_status st = SC_TOKEN_OK;
    if (!cJSON_IsObject(claims) || !cJSON_IsString(sub) || !cJSON_IsNumber(exp) ||
        (pat != NULL && !cJSON_IsString(pat)))
        st = SC_TOKEN_MALFORMED;
    else if (!(exp->valuedouble > (double)now_s))
        st = SC_TOKEN_EXPIRED;
    else if (pat != NULL && topic != NULL && !pattern_match(pat->valuestring, topic))
        st = SC_TOKEN_WRONG_TOPIC;
    if (st == SC_TOKEN_OK && subject != NULL && cap > 0)
        snprintf(subject, cap, "%s", sub->valuestring);
    cJSON_Delete(claims);
    return st;
}

int sc_auth_secret_load(const char *path, const char *env_value, unsigned char **out,
                        size_t *out_len, char *err, size_t errcap)
{
    *out = NULL;
    *out_len = 0;
    unsigned char *buf = malloc(SC_AUTH_MAX_SECRET + 1);
    if (buf == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    size_t n = 0;
    const char *what;
    if (path != NULL) {
        what = path;
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            snprintf(err, errcap, "cannot read the auth secret file %s: %s", path,
                     strerror(errno));
            free(buf);
            return -1;
        }
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077) != 0)
            sc_logf("warn", "auth secret file %s is readable by group or others (chmod 600 it)",
                    path);
        n = fread(buf, 1, SC_AUTH_MAX_SECRET + 1, f);
        fclose(f);
    } else if (env_value != NULL) {
        what = "$" SC_AUTH_SECRET_ENV;
        n = strnlen(env_value, SC_AUTH_MAX_SECRET + 1);
        memcpy(buf, env_value, n);
    } else {
        free(buf);
        return 1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n > SC_AUTH_MAX_SECRET || n < SC_AUTH_MIN_SECRET) {
        snprintf(err, errcap, "the auth secret in %s must be %d..%d bytes (e.g. head -c 32 "
                 "/dev/urandom | base64 > secret), got %s%zu", what, SC_AUTH_MIN_SECRET,
                 SC_AUTH_MAX_SECRET, n > SC_AUTH_MAX_SECRET ? "more than " : "",
                 n > SC_AUTH_MAX_SECRET ? (size_t)SC_AUTH_MAX_SECRET : n);
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}
