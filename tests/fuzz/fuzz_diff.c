/*
 * fuzz_diff.c -- libFuzzer property target for sc_diff and sc_diff_to_buf.
 *
 * Input: document A, then document B (two JSON values), then optionally one option byte:
 * bit 0 clears use_move, bit 1 sets id_key to NULL (else "id"), bit 2 sets allow_root, bits 3-4
 * pick max_edit_cost (default, 0, 16, 1000: the small ones force the positional fallback).
 *
 * Properties, on every input:
 *   - A and B are unchanged (they print the same bytes before and after: a diff must not even
 *     reorder what it reads);
 *   - success: applying the patch to a copy of A succeeds and gives a document sc_json_equal
 *     to B; the patch is empty exactly when A equals B (sc_json_equal, checked symmetric); no operation has the root path "" unless
 *     allow_root; sc_diff_to_buf gives the same bytes cJSON_PrintUnformatted prints for the
 *     sc_diff tree, and the same operation count;
 *   - SC_PATCH_EROOT only without allow_root, and the same call with allow_root then succeeds;
 *   - sc_diff and sc_diff_to_buf fail or succeed together, with the same status.
 * Documented limits are respected, not reported: objects with duplicate keys (diffed as if only
 * the first of each key existed) skip the round-trip check, and documents nested past
 * SC_PATCH_MAX_DEPTH may fail with SC_PATCH_ETOODEEP.
 */
#include "fuzz_util.h"
#include "statechannel/patch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when some object of doc (at any depth) holds a key twice. Explicit stack: no recursion. */
static int has_duplicate_keys(const cJSON *doc)
{
    size_t cap = 64, n = 0;
    const cJSON **stack = malloc(cap * sizeof *stack);
    FUZZ_CHECK(stack != NULL, "out of memory");
    stack[n++] = doc;
    int dup = 0;
    while (n > 0 && !dup) {
        const cJSON *it = stack[--n];
        size_t kids = 0;
        for (const cJSON *c = it->child; c != NULL; c = c->next)
            kids++;
        if (cJSON_IsObject(it) && kids > 1) {
            const char **keys = malloc(kids * sizeof *keys);
            FUZZ_CHECK(keys != NULL, "out of memory");
            size_t k = 0;
            for (const cJSON *c = it->child; c != NULL; c = c->next)
                keys[k++] = c->string ? c->string : "";
            qsort(keys, kids, sizeof *keys, cmp_str);
            for (size_t i = 1; i < kids && !dup; i++)
                dup = strcmp(keys[i - 1], keys[i]) == 0;
            free(keys);
        }
        for (const cJSON *c = it->child; c != NULL; c = c->next) {
            if (n == cap) {
                cap *= 2;
                stack = realloc(stack, cap * sizeof *stack);
                FUZZ_CHECK(stack != NULL, "out of memory");
            }
            stack[n++] = c;
        }
    }
    free(stack);
    return dup;
}

static const size_t EDIT_COSTS[4] = {SC_DIFF_DEFAULT_MAX_EDIT_COST, 0, 16, 1000};

/* Runs both diffs, checks they agree, and checks the round trip. Returns the status. */
static sc_patch_status check_diff(const cJSON *a, const cJSON *b, const sc_diff_options *o,
                                  int round_trip)
{
    cJSON *patch = NULL;
    sc_patch_error err;
    memset(&err, 0, sizeof err);
    sc_patch_status st = sc_diff(a, b, o, &patch, &err);

    sc_buf buf = {0};
    size_t n_ops = (size_t)-1;
    sc_patch_status st2 = sc_diff_to_buf(a, b, o, &buf, &n_ops, NULL);
    FUZZ_CHECK(st == st2, "sc_diff gave %d, sc_diff_to_buf %d", st, st2);

    if (st != SC_PATCH_OK) {
        FUZZ_CHECK(patch == NULL, "a failed diff returned a patch");
        FUZZ_CHECK(err.status == st, "err.status %d, returned %d", err.status, st);
        FUZZ_CHECK(buf.len == 0, "a failed sc_diff_to_buf appended bytes");
        FUZZ_CHECK(st == SC_PATCH_EROOT || st == SC_PATCH_ETOODEEP, "diff failed: %s (%s)",
                   sc_patch_strerror(st), err.reason);
        FUZZ_CHECK(st != SC_PATCH_EROOT || !o->allow_root, "EROOT with allow_root");
        sc_buf_free(&buf);
        return st;
    }
    FUZZ_CHECK(cJSON_IsArray(patch), "the patch is not an array");
    char *printed = fuzz_print(patch);
    FUZZ_CHECK(buf.len == strlen(printed) && memcmp(buf.data, printed, buf.len) == 0,
               "sc_diff_to_buf gave %.*s, sc_diff printed %s", (int)(buf.len > 300 ? 300 : buf.len),
               buf.data ? buf.data : "", printed);
    FUZZ_CHECK(n_ops == (size_t)cJSON_GetArraySize(patch), "n_ops %zu for %d operations", n_ops,
               cJSON_GetArraySize(patch));
    if (!o->allow_root) {
        const cJSON *op;
        cJSON_ArrayForEach(op, patch)
        {
            const cJSON *path = cJSON_GetObjectItemCaseSensitive(op, "path");
            FUZZ_CHECK(cJSON_IsString(path) && path->valuestring[0] != '\0',
                       "an operation on the root without allow_root: %s", printed);
        }
    }
    if (round_trip) {
        int same = sc_json_equal(a, b);
        FUZZ_CHECK(same == sc_json_equal(b, a), "sc_json_equal is not symmetric");
        FUZZ_CHECK(same == (cJSON_GetArraySize(patch) == 0), "equal %d but %d operations: %s",
                   same, cJSON_GetArraySize(patch), printed);
        cJSON *x = cJSON_Duplicate(a, 1);
        FUZZ_CHECK(x != NULL, "out of memory");
        sc_patch_error aerr;
        memset(&aerr, 0, sizeof aerr);
        sc_patch_status ast = sc_patch_apply(&x, patch, &aerr);
        if (ast != SC_PATCH_ETOODEEP) { /* the result may nest deeper than apply walks */
            char msg[512];
            FUZZ_CHECK(ast == SC_PATCH_OK, "the diff does not apply: %s; patch %s",
                       sc_patch_error_format(&aerr, msg, sizeof msg), printed);
            char *got = fuzz_print(x);
            FUZZ_CHECK(sc_json_equal(x, b), "apply(A, diff(A, B)) != B: got %s; patch %s", got,
                       printed);
            cJSON_free(got);
        }
        cJSON_Delete(x);
    }
    cJSON_free(printed);
    cJSON_Delete(patch);
    sc_buf_free(&buf);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    cJSON *a = fuzz_next_json(data, size, &pos);
    if (a == NULL)
        return 0;
    cJSON *b = fuzz_next_json(data, size, &pos);
    if (b == NULL) {
        cJSON_Delete(a);
        return 0;
    }
    while (pos < size && (data[pos] == ' ' || data[pos] == '\n'))
        pos++;
    unsigned flags = pos < size ? data[pos] : 0;

    sc_diff_options o;
    sc_diff_options_init(&o);
    o.use_move = !(flags & 1);
    o.id_key = (flags & 2) ? NULL : "id";
    o.allow_root = (flags & 4) != 0;
    o.max_edit_cost = EDIT_COSTS[(flags >> 3) & 3];

    char *a_before = fuzz_print(a);
    char *b_before = fuzz_print(b);
    int round_trip = !has_duplicate_keys(a) && !has_duplicate_keys(b);

    sc_patch_status st = check_diff(a, b, &o, round_trip);
    if (st == SC_PATCH_EROOT) {
        o.allow_root = 1;
        FUZZ_CHECK(check_diff(a, b, &o, round_trip) == SC_PATCH_OK,
                   "EROOT, but with allow_root the diff still fails");
    }

    char *a_after = fuzz_print(a);
    char *b_after = fuzz_print(b);
    FUZZ_CHECK(strcmp(a_before, a_after) == 0, "diff changed A: %s -> %s", a_before, a_after);
    FUZZ_CHECK(strcmp(b_before, b_after) == 0, "diff changed B: %s -> %s", b_before, b_after);
    cJSON_free(a_before);
    cJSON_free(b_before);
    cJSON_free(a_after);
    cJSON_free(b_after);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return 0;
}
