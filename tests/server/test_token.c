/*
 * test_token.c -- signed, expiring tokens (server/src/token.c): what is accepted (a fresh
 * token under the right secret, for a matching topic) and every way one is refused (expired,
 * tampered payload or signature, another secret, another topic, malformed, oversized), and
 * loading the secret from a file or the environment.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sha256.h"
#include "token.h"

static const unsigned char SECRET[] = "0123456789abcdef0123456789abcdef-test-secret";
#define SECRET_LEN (sizeof SECRET - 1)
static const int64_t NOW = 1800000000; /* a fixed clock: the checks take it as an argument */

static char *mint(const unsigned char *secret, size_t len, const char *sub, const char *topic,
                  int64_t exp)
{
    sbuf b = {0};
    ck_assert_int_eq(sc_token_mint(secret, len, sub, topic, exp, &b), 0);
    return b.data;
}

static sc_token_status check(const char *token, const char *topic)
{
    return sc_token_check(SECRET, SECRET_LEN, token, topic, NOW, NULL, 0);
}

/* A token with an arbitrary payload, correctly signed: for payloads mint never writes. */
static char *sign_payload(const char *payload)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    sbuf b = {0};
    sbuf_puts(&b, "sc1.");
    size_t n = strlen(payload);
    const unsigned char *p = (const unsigned char *)payload;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
        sbuf_put(&b, q, i + 2 < n ? 4 : i + 1 < n ? 3 : 2);
    }
    unsigned char mac[SC_SHA256_DIGEST];
    sc_hmac_sha256(SECRET, SECRET_LEN, b.data, b.len, mac);
    sbuf_puts(&b, ".");
    for (size_t i = 0; i < sizeof mac; i += 3) {
        uint32_t v = (uint32_t)mac[i] << 16 | (i + 1 < sizeof mac ? (uint32_t)mac[i + 1] << 8 : 0) |
                     (i + 2 < sizeof mac ? mac[i + 2] : 0);
        char q[4] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
        sbuf_put(&b, q, i + 2 < sizeof mac ? 4 : i + 1 < sizeof mac ? 3 : 2);
    }
    return b.data;
}

START_TEST(a_fresh_token_is_accepted_and_yields_its_subject)
{
    char *t = mint(SECRET, SECRET_LEN, "alice", NULL, NOW + 60);
    ck_assert_int_eq(strncmp(t, "sc1.", 4), 0);
    char sub[SC_TOKEN_MAX_SUBJECT + 1] = "";
    ck_assert_int_eq(sc_token_check(SECRET, SECRET_LEN, t, "todo:1", NOW, sub, sizeof sub), SC_TOKEN_OK);
    ck_assert_str_eq(sub, "alice");
    ck_assert_int_eq(check(t, NULL), SC_TOKEN_OK);
    free(t);
}
END_TEST

START_TEST(a_token_is_refused_from_its_expiry_second_on)
{
    char *t = mint(SECRET, SECRET_LEN, "alice", NULL, NOW);
    ck_assert_int_eq(check(t, NULL), SC_TOKEN_EXPIRED);
    ck_assert_int_eq(sc_token_check(SECRET, SECRET_LEN, t, NULL, NOW - 1, NULL, 0), SC_TOKEN_OK);
    free(t);
    t = mint(SECRET, SECRET_LEN, "alice", NULL, 1);
    ck_assert_int_eq(check(t, NULL), SC_TOKEN_EXPIRED);
    free(t);
}
END_TEST

START_TEST(any_changed_character_breaks_the_signature)
{
    char *t = mint(SECRET, SECRET_LEN, "alice", "todo:*", NOW + 60);
    size_t n = strlen(t);
    for (size_t i = 4; i < n; i++) {
        if (t[i] == '.')
            continue;
        char saved = t[i];
        t[i] = saved == 'A' ? 'B' : 'A';
        ck_assert_int_eq(check(t, "todo:1"), SC_TOKEN_BAD_SIGNATURE);
        t[i] = saved;
    }
    ck_assert_int_eq(check(t, "todo:1"), SC_TOKEN_OK);
    /* Another token's payload under this one's signature (a longer expiry, another user). */
    char *other = mint(SECRET, SECRET_LEN, "mallory", "todo:*", NOW + 999999);
    char spliced[1024];
    const char *sig = strrchr(t, '.');
    snprintf(spliced, sizeof spliced, "%.*s%s", (int)(strrchr(other, '.') - other), other, sig);
    ck_assert_int_eq(check(spliced, "todo:1"), SC_TOKEN_BAD_SIGNATURE);
    free(other);
    free(t);
}
END_TEST

START_TEST(a_token_minted_with_another_secret_is_refused)
{
    static const unsigned char other[] = "another-secret-of-at-least-32-bytes-long";
    char *t = mint(other, sizeof other - 1, "alice", NULL, NOW + 60);
    ck_assert_int_eq(check(t, NULL), SC_TOKEN_BAD_SIGNATURE);
    free(t);
    ck_assert_int_eq(sc_token_check(NULL, 0, "sc1.a.b", NULL, NOW, NULL, 0), SC_TOKEN_NO_SECRET);
}
END_TEST

START_TEST(a_topic_pattern_limits_the_token_to_matching_topics)
{
    char *t = mint(SECRET, SECRET_LEN, "bob", "todo:*", NOW + 60);
    ck_assert_int_eq(check(t, "todo:42"), SC_TOKEN_OK);
    ck_assert_int_eq(check(t, "counter:42"), SC_TOKEN_WRONG_TOPIC);
    ck_assert_int_eq(check(t, "todo"), SC_TOKEN_WRONG_TOPIC);
    free(t);
    t = mint(SECRET, SECRET_LEN, "bob", "chat:lobby", NOW + 60);
    ck_assert_int_eq(check(t, "chat:lobby"), SC_TOKEN_OK);
    ck_assert_int_eq(check(t, "chat:lobby2"), SC_TOKEN_WRONG_TOPIC);
    free(t);
    t = mint(SECRET, SECRET_LEN, "bob", "*", NOW + 60);
    ck_assert_int_eq(check(t, "anything:1"), SC_TOKEN_OK);
    free(t);
}
END_TEST

START_TEST(malformed_and_oversized_tokens_are_refused_before_any_parsing)
{
    ck_assert_int_eq(check(NULL, NULL), SC_TOKEN_MISSING);
    ck_assert_int_eq(check("", NULL), SC_TOKEN_MISSING);
    ck_assert_int_eq(check("hello", NULL), SC_TOKEN_MALFORMED);
    ck_assert_int_eq(check("sc1.abc", NULL), SC_TOKEN_MALFORMED);
    ck_assert_int_eq(check("sc1..abc", NULL), SC_TOKEN_MALFORMED);
    ck_assert_int_eq(check("sc1.abc.", NULL), SC_TOKEN_MALFORMED);
    ck_assert_int_eq(check("sc1.a+c.def", NULL), SC_TOKEN_MALFORMED);
    ck_assert_int_eq(check("sc1.abc.def.ghi", NULL), SC_TOKEN_MALFORMED);
    char *t = mint(SECRET, SECRET_LEN, "alice", NULL, NOW + 60);
    t[2] = '2'; /* another version */
    ck_assert_int_eq(check(t, NULL), SC_TOKEN_MALFORMED);
    free(t);
    char *big = malloc(SC_TOKEN_MAX_LEN + 2);
    memset(big, 'A', SC_TOKEN_MAX_LEN + 1);
    memcpy(big, "sc1.", 4);
    big[SC_TOKEN_MAX_LEN / 2] = '.';
    big[SC_TOKEN_MAX_LEN + 1] = '\0';
    ck_assert_int_eq(check(big, NULL), SC_TOKEN_MALFORMED);
    free(big);
}
END_TEST

START_TEST(signed_payloads_without_the_claims_are_malformed)
{
    const char *bad[] = {"not json", "[]", "{\"sub\":\"a\"}", "{\"exp\":1900000000}",
                         "{\"sub\":1,\"exp\":1900000000}", "{\"sub\":\"a\",\"exp\":\"soon\"}",
                         "{\"sub\":\"a\",\"exp\":1900000000,\"topic\":7}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = sign_payload(bad[i]);
        ck_assert_msg(check(t, NULL) == SC_TOKEN_MALFORMED, "%s", bad[i]);
        free(t);
    }
    char *t = sign_payload("{\"sub\":\"a\",\"exp\":1900000000}");
    ck_assert_int_eq(check(t, NULL), SC_TOKEN_OK); /* the helper itself signs correctly */
    free(t);
}
END_TEST

START_TEST(mint_refuses_bad_arguments)
{
    sbuf b = {0};
    ck_assert_int_eq(sc_token_mint(SECRET, SECRET_LEN, "", NULL, NOW, &b), -1);
    ck_assert_int_eq(sc_token_mint(SECRET, SECRET_LEN, "a", NULL, 0, &b), -1);
    ck_assert_int_eq(sc_token_mint(SECRET, SECRET_LEN, "a", "", NOW, &b), -1);
    ck_assert_int_eq(sc_token_mint(NULL, 0, "a", NULL, NOW, &b), -1);
    char sub[SC_TOKEN_MAX_SUBJECT + 2];
    memset(sub, 'x', sizeof sub - 1);
    sub[sizeof sub - 1] = '\0';
    ck_assert_int_eq(sc_token_mint(SECRET, SECRET_LEN, sub, NULL, NOW, &b), -1);
    ck_assert_uint_eq(b.len, 0);
    sbuf_free(&b);
}
END_TEST

START_TEST(the_secret_loads_from_a_file_or_the_environment_and_must_be_long_enough)
{
    char path[] = "/tmp/sc-secret-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *content = "0123456789abcdef0123456789abcdef\n";
    ck_assert_int_eq(write(fd, content, strlen(content)), (int)strlen(content));
    close(fd);
    unsigned char *s = NULL;
    size_t n = 0;
    char err[256] = "";
    ck_assert_int_eq(sc_auth_secret_load(path, "ignored-when-a-file-is-given", &s, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 32); /* the newline is not part of it */
    ck_assert_int_eq(memcmp(s, content, 32), 0);
    free(s);
    ck_assert_int_eq(sc_auth_secret_load(NULL, "env-secret-env-secret-env-secret-!", &s, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 34);
    free(s);
    ck_assert_int_eq(sc_auth_secret_load(NULL, "short", &s, &n, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "must be 32"));
    ck_assert_ptr_null(s);
    ck_assert_int_eq(sc_auth_secret_load(NULL, NULL, &s, &n, err, sizeof err), 1);
    unlink(path);
    ck_assert_int_eq(sc_auth_secret_load(path, NULL, &s, &n, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
}
END_TEST

Suite *token_suite(void);
Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, a_fresh_token_is_accepted_and_yields_its_subject);
    tcase_add_test(tc, a_token_is_refused_from_its_expiry_second_on);
    tcase_add_test(tc, any_changed_character_breaks_the_signature);
    tcase_add_test(tc, a_token_minted_with_another_secret_is_refused);
    tcase_add_test(tc, a_topic_pattern_limits_the_token_to_matching_topics);
    tcase_add_test(tc, malformed_and_oversized_tokens_are_refused_before_any_parsing);
    tcase_add_test(tc, signed_payloads_without_the_claims_are_malformed);
    tcase_add_test(tc, mint_refuses_bad_arguments);
    tcase_add_test(tc, the_secret_loads_from_a_file_or_the_environment_and_must_be_long_enough);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(token_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
