/*
 * token.h -- signed, expiring tokens for handlers' authorization (handler.h: sc_token_verify,
 * sc_authorize_join) and the `statechannel token` command that mints them.
 *
 * A token is three dot-separated parts: "sc1", the base64url payload (a JSON object
 * {"sub": subject, "exp": Unix seconds, "topic": optional pattern}) and the base64url
 * HMAC-SHA256 of "sc1.<payload>" under the server secret. The signature is checked (in
 * constant time) before the payload is parsed, so unauthenticated bytes never reach the JSON
 * parser. Private to the server.
 */
#ifndef SC_SERVER_TOKEN_H
#define SC_SERVER_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "statechannel/handler.h"
#include "util.h"

/* Longer tokens are malformed: bounds the hashing an unauthenticated client can ask for, and
 * a real token (subject, expiry, pattern) is a few hundred bytes. */
#define SC_TOKEN_MAX_LEN 2048
/* Shortest secret accepted: RFC 2104 section 3 advises keys of at least L = 32 bytes (the
 * digest size) for HMAC-SHA256; shorter ones make brute force of the key easier. */
#define SC_AUTH_MIN_SECRET 32
/* Longest secret read from a file or the environment: a sanity bound (keys over 64 bytes
 * are hashed to 32 anyway). */
#define SC_AUTH_MAX_SECRET 4096
/* The environment variable holding the secret when no --auth-secret-file is given. */
#define SC_AUTH_SECRET_ENV "STATECHANNEL_AUTH_SECRET"

/* Appends a token for subject (1..SC_TOKEN_MAX_SUBJECT bytes), valid until exp_s (Unix
 * seconds), limited to topics matching topic_pattern when not NULL ("*", "prefix*" or an
 * exact topic), to out. Returns 0, or -1 on bad arguments or allocation failure. */
int sc_token_mint(const unsigned char *secret, size_t secret_len, const char *subject,
                  const char *topic_pattern, int64_t exp_s, sbuf *out);

/* Checks token against secret at time now_s; when topic is not NULL, the token's pattern (if
 * any) must match it. On SC_TOKEN_OK copies the subject into subject[0..cap) (truncated)
 * when subject is not NULL. */
sc_token_status sc_token_check(const unsigned char *secret, size_t secret_len, const char *token,
                               const char *topic, int64_t now_s, char *subject, size_t cap);

/* Loads the server secret: from the file path when not NULL (trailing newlines stripped),
 * else from env_value when not NULL. Returns 0 and a malloc'd secret in *out (caller frees),
 * 1 when neither is given, or -1 with a one-line reason in err (unreadable, too short, too
 * long). */
int sc_auth_secret_load(const char *path, const char *env_value, unsigned char **out,
                        size_t *out_len, char *err, size_t errcap);

/* `statechannel token ...` (argv[0] is "token"): prints a token, returns the exit status. */
int sc_token_main(int argc, char **argv);

#endif
