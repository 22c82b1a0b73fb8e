/*
 * test_sha256.c -- SHA-256 against the FIPS 180-4 example messages (the NIST "Examples with
 * Intermediate Values" for SHA-256, plus the empty and million-'a' messages of the same
 * series), the incremental API against the one-shot one at every split, and HMAC-SHA256
 * against all seven RFC 4231 test cases.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_digest(const void *msg, size_t len, const char *want)
{
    unsigned char d[SC_SHA256_DIGEST];
    char got[2 * SC_SHA256_DIGEST + 1];
    sc_sha256_digest(msg, len, d);
    hex(d, sizeof d, got);
    ck_assert_str_eq(got, want);
}

START_TEST(sha256_matches_the_fips_180_4_examples)
{
    check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_digest(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                       "klmnopqrlmnopqrsmnopqrstnopqrstu";
    check_digest(four, strlen(four), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    char *million = malloc(1000000);
    ck_assert_ptr_nonnull(million);
    memset(million, 'a', 1000000);
    check_digest(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}
END_TEST

START_TEST(sha256_incremental_equals_one_shot_at_every_split_and_padding_boundary)
{
    unsigned char msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    /* Lengths around 55/56/64 exercise the one-block and two-block paddings. */
    for (size_t len = 0; len <= sizeof msg; len++) {
        unsigned char one[SC_SHA256_DIGEST];
        sc_sha256_digest(msg, len, one);
        for (size_t split = 0; split <= len; split += (len < 70 ? 1 : 13)) {
            sc_sha256 s;
            unsigned char inc[SC_SHA256_DIGEST];
            sc_sha256_init(&s);
            sc_sha256_update(&s, msg, split);
            sc_sha256_update(&s, msg + split, len - split);
            sc_sha256_final(&s, inc);
            ck_assert_mem_eq(one, inc, sizeof one);
        }
    }
}
END_TEST

static void check_hmac(const void *key, size_t klen, const void *msg, size_t mlen, const char *want)
{
    unsigned char d[SC_SHA256_DIGEST];
    char got[2 * SC_SHA256_DIGEST + 1];
    sc_hmac_sha256(key, klen, msg, mlen, d);
    hex(d, sizeof d, got);
    got[strlen(want)] = '\0'; /* test case 5 is truncated to 128 bits */
    ck_assert_str_eq(got, want);
}

START_TEST(hmac_sha256_matches_every_rfc_4231_test_case)
{
    unsigned char k[131], d[50];
    const char *m;
    memset(k, 0x0b, 20);
    check_hmac(k, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    m = "what do ya want for nothing?";
    check_hmac("Jefe", 4, m, strlen(m), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, 20);
    memset(d, 0xdd, 50);
    check_hmac(k, 20, d, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (int i = 0; i < 25; i++)
        k[i] = (unsigned char)(i + 1);
    memset(d, 0xcd, 50);
    check_hmac(k, 25, d, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0x0c, 20);
    m = "Test With Truncation";
    check_hmac(k, 20, m, strlen(m), "a3b6167473100ee06e0c796c2955552b");
    memset(k, 0xaa, 131);
    m = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(k, 131, m, strlen(m), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    m = "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    check_hmac(k, 131, m, strlen(m), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}
END_TEST

START_TEST(ct_equal_compares_every_byte)
{
    ck_assert_int_eq(sc_ct_equal("abcdef", "abcdef", 6), 1);
    ck_assert_int_eq(sc_ct_equal("abcdef", "abcdeg", 6), 0);
    ck_assert_int_eq(sc_ct_equal("xbcdef", "abcdef", 6), 0);
    ck_assert_int_eq(sc_ct_equal("a", "b", 0), 1);
}
END_TEST

Suite *sha256_suite(void);
Suite *sha256_suite(void)
{
    Suite *s = suite_create("sha256");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sha256_matches_the_fips_180_4_examples);
    tcase_add_test(tc, sha256_incremental_equals_one_shot_at_every_split_and_padding_boundary);
    tcase_add_test(tc, hmac_sha256_matches_every_rfc_4231_test_case);
    tcase_add_test(tc, ct_equal_compares_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sha256_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
