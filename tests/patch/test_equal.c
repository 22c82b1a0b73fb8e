/* tests for patch/src/equal.c: deep JSON equality as RFC 6902 "test" defines it. */
#include <time.h>

#include "internal.h"
#include "testutil.h"

static int eq(const char *a, const char *b)
{
    cJSON *x = tu_json(a), *y = tu_json(b);
    int r = sc_json_equal(x, y);
    ck_assert_int_eq(r, sc_json_equal(y, x)); /* symmetric */
    cJSON_Delete(x);
    cJSON_Delete(y);
    return r;
}

START_TEST(numbers_compare_as_numbers)
{
    ck_assert(eq("1", "1.0"));
    ck_assert(eq("1", "1e0"));
    ck_assert(eq("100", "1E2"));
    ck_assert(eq("0.5", "5e-1"));
    ck_assert(eq("0", "-0"));
    ck_assert(eq("[1, {\"a\": 2.50}]", "[1.0, {\"a\": 2.5}]"));
    ck_assert(!eq("1", "2"));
    ck_assert(!eq("1", "1.0000001"));
}
END_TEST

START_TEST(values_of_different_types_are_never_equal)
{
    ck_assert(!eq("1", "\"1\""));
    ck_assert(!eq("true", "1"));
    ck_assert(!eq("false", "null"));
    ck_assert(!eq("false", "0"));
    ck_assert(!eq("[]", "{}"));
    ck_assert(!eq("\"\"", "null"));
    ck_assert(!eq("true", "false"));
    ck_assert(eq("true", "true"));
    ck_assert(eq("null", "null"));
}
END_TEST

START_TEST(strings_compare_byte_for_byte)
{
    ck_assert(eq("\"abc\"", "\"abc\""));
    ck_assert(eq("\"\\u00e9\"", "\"\xc3\xa9\"")); /* the same bytes once parsed */
    ck_assert(!eq("\"a\"", "\"A\""));
    ck_assert(!eq("\"ab\"", "\"abc\""));
    ck_assert(!eq("\"e\\u0301\"", "\"\xc3\xa9\"")); /* no Unicode normalization */
}
END_TEST

START_TEST(arrays_compare_element_wise_in_order)
{
    ck_assert(eq("[]", "[]"));
    ck_assert(eq("[1, [2, [3]]]", "[1, [2, [3]]]"));
    ck_assert(!eq("[1, 2]", "[2, 1]"));
    ck_assert(!eq("[1, 2]", "[1, 2, 3]"));
    ck_assert(!eq("[]", "[null]"));
    ck_assert(!eq("[1, [2, [3]]]", "[1, [2, [4]]]"));
}
END_TEST

START_TEST(objects_ignore_key_order)
{
    ck_assert(eq("{}", "{}"));
    ck_assert(eq("{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1}"));
    ck_assert(eq("{\"x\": {\"a\": [1, {\"p\": 1, \"q\": 2}], \"b\": null}}",
                 "{\"x\": {\"b\": null, \"a\": [1, {\"q\": 2, \"p\": 1}]}}"));
    ck_assert(!eq("{\"a\": 1}", "{\"a\": 1, \"b\": 2}"));
    ck_assert(!eq("{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"c\": 2}"));
    ck_assert(!eq("{\"a\": 1, \"b\": 2}", "{\"b\": 1, \"a\": 2}"));
    ck_assert(!eq("{\"x\": {\"a\": [1, {\"p\": 1}]}}", "{\"x\": {\"a\": [1, {\"p\": 2}]}}"));
    ck_assert(!eq("{\"a\": {}}", "{\"a\": []}"));
}
END_TEST

START_TEST(objects_past_the_scan_size_match_through_the_hash_table)
{
    /* 9 and 30 keys: more than the quadratic scan handles, so the hash path runs. */
    ck_assert(eq("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9}",
                 "{\"i\":9,\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":1}"));
    ck_assert(!eq("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9}",
                  "{\"i\":9,\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":0}"));
    ck_assert(!eq("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9}",
                  "{\"i\":9,\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"z\":1}"));
    /* Keys agree in order for a while, then diverge: the rest is matched by key. */
    ck_assert(eq("{\"k\":0,\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,"
                 " \"h\":8,\"i\":9}",
                 "{\"k\":0,\"i\":9,\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"d\":4,\"c\":3,"
                 " \"b\":2,\"a\":1}"));
}
END_TEST

START_TEST(duplicate_keys_match_occurrence_by_occurrence)
{
    /* cJSON keeps duplicate keys; the first with the first, the second with the second. */
    ck_assert(eq("{\"a\": 1, \"a\": 2}", "{\"a\": 1, \"a\": 2}"));
    ck_assert(eq("{\"a\": 1, \"b\": 0, \"a\": 2}", "{\"b\": 0, \"a\": 1, \"a\": 2}"));
    ck_assert(!eq("{\"a\": 1, \"a\": 2}", "{\"a\": 2, \"a\": 1}"));
    ck_assert(!eq("{\"a\": 1, \"a\": 1}", "{\"a\": 1, \"b\": 1}"));
    ck_assert(!eq("{\"a\": 1, \"a\": 1}", "{\"a\": 1}"));
    /* The same through the hash table. */
    ck_assert(eq("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"a\":9}",
                 "{\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"a\":1,\"d\":4,\"c\":3,\"b\":2,\"a\":9}"));
    ck_assert(!eq("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"a\":9}",
                  "{\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"a\":9,\"d\":4,\"c\":3,\"b\":2,\"a\":1}"));
    ck_assert(!eq("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"a\":1}",
                  "{\"h\":8,\"g\":7,\"f\":6,\"e\":5,\"a\":1,\"d\":4,\"c\":3,\"b\":2,\"i\":1}"));
}
END_TEST

/* An object with n keys "k<i>" valued i, in order or reversed. */
static cJSON *big_object(int n, int reversed)
{
    cJSON *o = cJSON_CreateObject();
    char key[32];
    for (int i = 0; i < n; i++) {
        int k = reversed ? n - 1 - i : i;
        snprintf(key, sizeof key, "k%d", k);
        cJSON_AddNumberToObject(o, key, k);
    }
    return o;
}

START_TEST(objects_with_10k_keys_compare_in_any_order)
{
    cJSON *a = big_object(10000, 0), *b = big_object(10000, 1);
    ck_assert(sc_json_equal(a, b));
    cJSON_SetNumberValue(cJSON_GetObjectItem(b, "k5000"), -1);
    ck_assert(!sc_json_equal(a, b));
    cJSON_SetNumberValue(cJSON_GetObjectItem(b, "k5000"), 5000);
    ck_assert(sc_json_equal(a, b));
    cJSON_DeleteItemFromObject(b, "k9999");
    ck_assert(!sc_json_equal(a, b));
    cJSON_AddNumberToObject(b, "k10000", 9999);
    ck_assert(!sc_json_equal(a, b));
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

static double seconds_to_compare(const cJSON *a, const cJSON *b)
{
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert(sc_json_equal(a, b));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (s < best)
            best = s;
    }
    return best;
}

START_TEST(comparing_shuffled_objects_stays_linear)
{
    /* Same keys in the same order take the lockstep path, certainly linear. Reversed keys take
     * the hash path: a few times slower, where a quadratic match would be ~20 000 times
     * slower. */
    int n = 40000;
    cJSON *a = big_object(n, 0), *same = big_object(n, 0), *rev = big_object(n, 1);
    double lockstep = seconds_to_compare(a, same);
    double hashed = seconds_to_compare(a, rev);
    ck_assert_msg(hashed < 200 * lockstep + 0.005, "hashed %.6fs vs lockstep %.6fs", hashed,
                  lockstep);
    cJSON_Delete(a);
    cJSON_Delete(same);
    cJSON_Delete(rev);
}
END_TEST

START_TEST(nesting_past_the_depth_limit_cannot_be_proven_equal)
{
    cJSON *a = cJSON_CreateArray(), *b = cJSON_CreateArray();
    cJSON *ca = a, *cb = b;
    for (int i = 0; i < SC_PATCH_MAX_DEPTH + 10; i++) {
        cJSON *na = cJSON_CreateArray(), *nb = cJSON_CreateArray();
        cJSON_AddItemToArray(ca, na);
        cJSON_AddItemToArray(cb, nb);
        ca = na;
        cb = nb;
    }
    sc_patch_status st;
    ck_assert_int_eq(sc__json_equal(a, b, &st), 0);
    ck_assert_int_eq(st, SC_PATCH_ETOODEEP);
    ck_assert_int_eq(sc_json_equal(a, b), 0);
    ck_assert_int_eq(sc_json_equal(a, a), 1); /* the same item is equal to itself */
    cJSON_Delete(a);
    cJSON_Delete(b);

    a = tu_json("[[[1]]]");
    b = tu_json("[[[1]]]");
    ck_assert_int_eq(sc__json_equal(a, b, &st), 1);
    ck_assert_int_eq(st, SC_PATCH_OK);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* ---- a seeded property test: shuffling keys never matters, changing a leaf always does --- */

static unsigned long rng_state;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)((rng_state >> 33) % n);
}

static cJSON *random_value(int depth)
{
    switch (depth > 3 ? rnd(4) : rnd(6)) {
    case 0: return cJSON_CreateNumber((double)rnd(5));
    case 1: return cJSON_CreateString(rnd(2) ? "x" : "y");
    case 2: return cJSON_CreateBool(rnd(2));
    case 3: return cJSON_CreateNull();
    case 4: {
        cJSON *a = cJSON_CreateArray();
        for (unsigned i = rnd(5); i > 0; i--)
            cJSON_AddItemToArray(a, random_value(depth + 1));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        char key[16];
        for (unsigned i = 0, n = rnd(14); i < n; i++) {
            snprintf(key, sizeof key, "k%u", i);
            cJSON_AddItemToObject(o, key, random_value(depth + 1));
        }
        return o;
    }
    }
}

/* A copy of v with every object's members in a random order. */
static cJSON *shuffled_copy(const cJSON *v)
{
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return cJSON_Duplicate(v, 0);
    cJSON *out = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
    const cJSON *members[32];
    int n = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        members[n++] = c;
    if (cJSON_IsObject(v))
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rnd((unsigned)i + 1);
            const cJSON *t = members[i];
            members[i] = members[j];
            members[j] = t;
        }
    for (int i = 0; i < n; i++) {
        cJSON *c = shuffled_copy(members[i]);
        if (cJSON_IsObject(v))
            cJSON_AddItemToObject(out, members[i]->string, c);
        else
            cJSON_AddItemToArray(out, c);
    }
    return out;
}

/* Changes one scalar leaf of v (if it has one) to a value of another type; returns 1 if so. */
static int mutate_a_leaf(cJSON *v)
{
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return 0;
    for (cJSON *c = v->child; c; c = c->next) {
        if (mutate_a_leaf(c))
            return 1;
        if (!cJSON_IsArray(c) && !cJSON_IsObject(c)) {
            if (cJSON_IsObject(v))
                cJSON_ReplaceItemInObjectCaseSensitive(v, c->string, cJSON_CreateArray());
            else
                cJSON_ReplaceItemViaPointer(v, c, cJSON_CreateArray());
            return 1;
        }
    }
    return 0;
}

START_TEST(shuffled_keys_keep_documents_equal_and_a_changed_leaf_does_not)
{
    rng_state = 20261124;
    int mutated = 0;
    for (int round = 0; round < 2000; round++) {
        cJSON *a = random_value(0);
        cJSON *b = shuffled_copy(a);
        ck_assert_msg(sc_json_equal(a, b) && sc_json_equal(b, a), "round %d", round);
        if (mutate_a_leaf(b)) {
            mutated++;
            ck_assert_msg(!sc_json_equal(a, b) && !sc_json_equal(b, a), "round %d", round);
        }
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    ck_assert_int_gt(mutated, 500); /* the property was exercised, not vacuously true */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("equal");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, numbers_compare_as_numbers);
    tcase_add_test(tc, values_of_different_types_are_never_equal);
    tcase_add_test(tc, strings_compare_byte_for_byte);
    tcase_add_test(tc, arrays_compare_element_wise_in_order);
    tcase_add_test(tc, objects_ignore_key_order);
    tcase_add_test(tc, objects_past_the_scan_size_match_through_the_hash_table);
    tcase_add_test(tc, duplicate_keys_match_occurrence_by_occurrence);
    tcase_add_test(tc, objects_with_10k_keys_compare_in_any_order);
    tcase_add_test(tc, comparing_shuffled_objects_stays_linear);
    tcase_add_test(tc, nesting_past_the_depth_limit_cannot_be_proven_equal);
    tcase_add_test(tc, shuffled_keys_keep_documents_equal_and_a_changed_leaf_does_not);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
