/*
 * token_cli.c -- `statechannel token`: mints one token (token.h) with the server's secret and
 * prints it on stdout, for scripts, tests and an app backend that hands tokens to browsers.
 *
 *   statechannel token --sub alice [--ttl 3600] [--topic 'todo:*'] [--auth-secret-file F]
 *
 * The secret comes from --auth-secret-file, else $STATECHANNEL_AUTH_SECRET, as for the server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

/* Default lifetime: long enough for a page session, short enough that a leaked token soon
 * stops working (tokens cannot be revoked one by one). */
#define TOKEN_DEFAULT_TTL_S 3600
/* Longest lifetime accepted: a year; longer-lived credentials belong in a real IdP. */
#define TOKEN_MAX_TTL_S (366LL * 24 * 3600)

static void token_usage(FILE *f)
{
    fprintf(f,
        "usage: statechannel token --sub SUBJECT [options]\n"
        "  --sub SUBJECT            who the token is for (1..%d bytes), required\n"
        "  --ttl SEC                lifetime in seconds (default %d, at most %lld)\n"
        "  --topic PATTERN          only topics matching: \"*\", \"prefix*\" or one topic\n"
        "                           (default: every topic)\n"
        "  --auth-secret-file PATH  the server secret (default: $%s)\n",
        SC_TOKEN_MAX_SUBJECT, TOKEN_DEFAULT_TTL_S, TOKEN_MAX_TTL_S, SC_AUTH_SECRET_ENV);
}

int sc_token_main(int argc, char **argv)
{
    const char *sub = NULL, *topic = NULL, *secret_file = NULL;
    long long ttl = TOKEN_DEFAULT_TTL_S;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            token_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "statechannel token: unknown flag or missing value: %s\n", argv[i]);
            token_usage(stderr);
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        if (strcmp(a, "--sub") == 0)
            sub = v;
        else if (strcmp(a, "--topic") == 0)
            topic = v;
        else if (strcmp(a, "--auth-secret-file") == 0)
            secret_file = v;
        else if (strcmp(a, "--ttl") == 0) {
            char *end;
            errno = 0;
            ttl = strtoll(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v || ttl < 1 || ttl > TOKEN_MAX_TTL_S) {
                fprintf(stderr, "statechannel token: --ttl wants seconds in [1, %lld]\n",
                        TOKEN_MAX_TTL_S);
                return 2;
            }
        } else {
            fprintf(stderr, "statechannel token: unknown flag %s\n", a);
            token_usage(stderr);
            return 2;
        }
    }
    if (sub == NULL || sub[0] == '\0' || strlen(sub) > SC_TOKEN_MAX_SUBJECT) {
        fprintf(stderr, "statechannel token: --sub wants 1..%d bytes\n", SC_TOKEN_MAX_SUBJECT);
        return 2;
    }
    unsigned char *secret;
    size_t secret_len;
    char err[256];
    int rc = sc_auth_secret_load(secret_file, getenv(SC_AUTH_SECRET_ENV), &secret, &secret_len,
                                 err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "statechannel token: %s\n",
                rc > 0 ? "no secret: give --auth-secret-file or set $" SC_AUTH_SECRET_ENV : err);
        return 1;
    }
    sbuf out = {0};
    rc = sc_token_mint(secret, secret_len, sub, topic, sc_wall_ms() / 1000 + ttl, &out);
    free(secret);
    if (rc != 0) {
        fprintf(stderr, "statechannel token: cannot mint (bad --topic?)\n");
        sbuf_free(&out);
        return 1;
    }
    printf("%s\n", out.data);
    sbuf_free(&out);
    return 0;
}
