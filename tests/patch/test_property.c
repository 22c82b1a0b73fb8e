/* Property tests for patch/src/diff.c on seeded random documents:
 *   - apply(a, diff(a, b)) == b, for random pairs and for random mutations of a;
 *   - sc_diff and sc_diff_to_buf produce the same bytes;
 *   - one edit (insert, delete, move, swap, set) of an array yields at most two ops.
 * The seed is fixed (so failures reproduce) and printed; SC_PROPERTY_SEED overrides it. */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff_testutil.h"
#include "statechannel/patch.h"

/* Iterations per property: 5,500 pairs in all (each also diffed reversed or against itself),
 * yet well under ~30 s in the ASan build. */
#define PAIRS 2000
#define MUTATIONS 2000
#define SINGLE_EDITS 1500

static uint64_t seed = 20260124;
static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static const char *const keys[] = {"a", "b", "c", "name", "x/y", "t~1", "~", "/", "~0/~1",
                                   "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "",
                                   "with space", "q\"uote", "k0", "k1", "k2", "k3", "id"};
#define NKEYS (sizeof keys / sizeof keys[0])

static cJSON *random_scalar(void)
{
    static const char *const strings[] = {"", "s", "hello", "h\xc3\xa9llo", "line\nbreak",
                                          "tab\t\"q\"", "\xe2\x82\xac\xf0\x9f\x98\x80",
                                          "a/b~c", "longer string value for a change"};
    switch (below(8)) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool(below(2));
    case 2: return cJSON_CreateNumber(below(21) - 10);
    case 3: return cJSON_CreateNumber((double)(int64_t)(rnd() >> 8) * (below(2) ? 1 : -1));
    case 4: return cJSON_CreateNumber((double)(below(20001) - 10000) / 64.0);
    case 5: return cJSON_CreateNumber(1e300 * (below(3) - 1) + (double)below(5) * 1e-7);
    default: return cJSON_CreateString(strings[below(sizeof strings / sizeof strings[0])]);
    }
}

static cJSON *random_value(int depth)
{
    int kind = depth <= 0 ? 0 : below(10);
    if (kind < 5)
        return random_scalar();
    int n = below(7);
    if (kind < 7) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, random_value(depth - 1));
        return arr;
    }
    cJSON *obj = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        const char *k = keys[below(NKEYS)];
        if (!cJSON_GetObjectItemCaseSensitive(obj, k))
            cJSON_AddItemToObject(obj, k, random_value(depth - 1));
    }
    return obj;
}

/* Every container of doc, in pre-order. */
static void containers(cJSON *node, cJSON **out, int *n, int cap)
{
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
        return;
    if (*n < cap)
        out[(*n)++] = node;
    for (cJSON *c = node->child; c; c = c->next)
        containers(c, out, n, cap);
}

static cJSON *pick_container(cJSON *doc, int arrays_only)
{
    cJSON *all[512];
    int n = 0;
    containers(doc, all, &n, 512);
    cJSON *cands[512];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!arrays_only || cJSON_IsArray(all[i]))
            cands[k++] = all[i];
    return k ? cands[below(k)] : NULL;
}

/* One random change somewhere in doc. */
static void mutate(cJSON *doc)
{
    cJSON *c = pick_container(doc, 0);
    if (c == NULL)
        return;
    int size = cJSON_GetArraySize(c);
    if (cJSON_IsObject(c)) {
        switch (below(3)) {
        case 0:
            if (size)
                cJSON_DeleteItemFromArray(c, below(size));
            break;
        case 1: {
            const char *k = keys[below(NKEYS)];
            cJSON_DeleteItemFromObjectCaseSensitive(c, k);
            cJSON_AddItemToObject(c, k, random_value(2));
            break;
        }
        default:
            if (size) {
                const char *k = cJSON_GetArrayItem(c, below(size))->string;
                cJSON_ReplaceItemInObjectCaseSensitive(c, k, random_value(2));
            }
            break;
        }
        return;
    }
    switch (below(5)) {
    case 0: tu_insert(c, below(size + 1), random_value(2)); break;
    case 1:
        if (size)
            cJSON_DeleteItemFromArray(c, below(size));
        break;
    case 2:
        if (size)
            tu_insert(c, below(size), cJSON_DetachItemFromArray(c, below(size)));
        break;
    case 3:
        if (size)
            cJSON_ReplaceItemInArray(c, below(size), random_value(2));
        break;
    default:
        if (size > 1) {
            int i = below(size), j = below(size);
            if (i > j) {
                int t = i;
                i = j;
                j = t;
            }
            if (i != j) {
                cJSON *y = cJSON_DetachItemFromArray(c, j);
                cJSON *x = cJSON_DetachItemFromArray(c, i);
                tu_insert(c, i, y);
                tu_insert(c, j, x);
            }
        }
        break;
    }
}

/* Diffs a against b both ways and checks the patch rebuilds b. Returns the op count. */
static size_t round_trip(const cJSON *a, const cJSON *b, int allow_root)
{
    sc_diff_options o;
    sc_diff_options_init(&o);
    o.allow_root = allow_root;
    o.use_move = below(4) != 0;
    if (below(4) == 0)
        o.id_key = NULL;
    if (below(8) == 0)
        o.max_edit_cost = (size_t)below(50);
    sc_patch_status st;
    size_t n = 0;
    cJSON *tree = NULL;
    char *patch = diff_both_tree(a, b, &o, &st, &n, &tree);
    if (patch == NULL) {
        ck_assert_msg(st == SC_PATCH_EROOT && !allow_root, "diff failed: %s",
                      sc_patch_strerror(st));
        return 0;
    }
    check_applies_tree(a, b, tree);
    /* The shadow the server keeps is built by sc_patch_apply: diffing it must work too. */
    cJSON *applied = cJSON_Duplicate(a, 1);
    ck_assert_int_eq(apply_patch(&applied, tree), SC_PATCH_OK);
    sc_buf again = {0};
    size_t n_again = 1;
    ck_assert_int_eq(sc_diff_to_buf(applied, b, &o, &again, &n_again, NULL), SC_PATCH_OK);
    ck_assert_msg(n_again == 0, "applied result still differs: %s", again.data);
    sc_buf_free(&again);
    cJSON_Delete(applied);
    cJSON_Delete(tree);
    free(patch);
    return n;
}

START_TEST(diff_rebuilds_b_from_random_pairs)
{
    rng = seed * 2654435761u + 1;
    for (int i = 0; i < PAIRS; i++) {
        cJSON *a = random_value(4), *b = random_value(4);
        round_trip(a, b, below(4) != 0);
        round_trip(a, a, 0);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
}
END_TEST

START_TEST(diff_rebuilds_b_from_random_mutations)
{
    rng = seed * 2654435761u + 2;
    for (int i = 0; i < MUTATIONS; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddItemToObject(a, "doc", random_value(5));
        cJSON_AddItemToObject(a, "list", random_value(3));
        cJSON *b = cJSON_Duplicate(a, 1);
        int edits = 1 + below(5);
        for (int k = 0; k < edits; k++)
            mutate(b);
        round_trip(a, b, 1);
        round_trip(b, a, below(2));
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
}
END_TEST

/* A document whose arrays are long enough for ops to beat replacing them. */
static cJSON *array_doc(void)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "pad", "unchanged text so that the root is never replaced");
    int n = 2 + below(40);
    cJSON *arr = cJSON_AddArrayToObject(doc, "v");
    int objects = below(3);
    for (int i = 0; i < n; i++) {
        if (objects == 0) {
            cJSON_AddItemToArray(arr, random_scalar());
        } else {
            cJSON *o = cJSON_CreateObject();
            if (objects == 1)
                cJSON_AddNumberToObject(o, "id", i);
            cJSON_AddItemToObject(o, "v", random_value(2));
            cJSON_AddItemToArray(arr, o);
        }
    }
    return doc;
}

START_TEST(one_array_edit_yields_at_most_two_ops)
{
    rng = seed * 2654435761u + 3;
    for (int i = 0; i < SINGLE_EDITS; i++) {
        cJSON *a = array_doc();
        cJSON *b = cJSON_Duplicate(a, 1);
        cJSON *v = cJSON_GetObjectItem(b, "v");
        int size = cJSON_GetArraySize(v);
        int kind = below(5);
        int x = below(size), y = below(size);
        switch (kind) {
        case 0: tu_insert(v, below(size + 1), random_scalar()); break;
        case 1: cJSON_DeleteItemFromArray(v, x); break;
        case 2: tu_insert(v, y, cJSON_DetachItemFromArray(v, x)); break;
        case 3: cJSON_ReplaceItemInArray(v, x, random_scalar()); break;
        default:
            if (x != y) {
                int lo = x < y ? x : y, hi = x < y ? y : x;
                cJSON *h = cJSON_DetachItemFromArray(v, hi);
                cJSON *l = cJSON_DetachItemFromArray(v, lo);
                tu_insert(v, lo, h);
                tu_insert(v, hi, l);
            }
            break;
        }
        sc_diff_options o;
        sc_diff_options_init(&o);
        size_t n = 0;
        sc_patch_status st;
        cJSON *tree = NULL;
        char *patch = diff_both_tree(a, b, &o, &st, &n, &tree);
        ck_assert_msg(patch != NULL, "edit %d failed: %s", kind, sc_patch_strerror(st));
        ck_assert_msg(n <= 2, "edit %d gave %zu ops: %s", kind, n, patch);
        check_applies_tree(a, b, tree);
        cJSON_Delete(tree);
        free(patch);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
}
END_TEST

int main(void)
{
    const char *env = getenv("SC_PROPERTY_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 10);
    printf("property seed %" PRIu64 " (set SC_PROPERTY_SEED to change)\n", seed);
    fflush(stdout);
    Suite *s = suite_create("property");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, diff_rebuilds_b_from_random_pairs);
    tcase_add_test(tc, diff_rebuilds_b_from_random_mutations);
    tcase_add_test(tc, one_array_edit_yields_at_most_two_ops);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
