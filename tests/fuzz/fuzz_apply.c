/*
 * fuzz_apply.c -- libFuzzer target for sc_patch_apply, sc_patch_apply_take and the indexed
 * sc_doc (RFC 6902), checking atomicity and that the three ways to apply agree.
 *
 * Input: a JSON document, then up to FUZZ_MAX_PATCHES patches (any JSON values: non-arrays
 * must be refused), then optionally one non-JSON byte: when present, allocation number
 * (byte % 64) made through cJSON's hooks during the first apply fails, and so do all later ones
 * (out-of-memory paths). The seeds are the json-patch-tests cases written as "<doc> <patch>",
 * plus hand-made ones with containers large enough (32+ children) to be indexed by sc_doc.
 *
 * Properties of sc_patch_apply with the first patch, on every input:
 *   - failure: *doc is the very same root, holds the very same items in the same order (a walk
 *     of item pointers and key pointers taken before compares equal), is sc_json_equal to a
 *     copy taken before and prints the same bytes; err names the status returned, its strings
 *     are NUL-terminated and op_index is -1 or an index of the patch;
 *   - success: err is untouched; a run with an allocation limit ends as the unlimited run
 *     does, or with SC_PATCH_ENOMEM;
 *   - always: the patch is unchanged (only read); sc_json_write prints the result with the same
 *     bytes as cJSON_PrintUnformatted.
 * Then all the patches are applied in turn three ways, with no allocation limit except on the
 * sc_doc's first apply: sc_patch_apply on a plain tree (the reference), sc_patch_apply_take on
 * another (with copies of the patches), and sc_doc_apply / sc_doc_apply_take alternately on one
 * sc_doc, whose indexes live across the patches. After each patch all three return the same
 * status and print the same bytes (same members in the same order); a failed take leaves its
 * patch printing as before; a failed sc_doc apply leaves the tree printing as before. When the
 * sc_doc's limited first apply runs out of memory it is retried unlimited (the indexes are then
 * rebuilt lazily), and must then agree.
 */
#include "fuzz_alloc.h"
#include "fuzz_util.h"
#include "statechannel/patch.h"

/* Allocation to fail is the trailing byte modulo this: patches of the seeds make up to a few
 * dozen allocations, so 64 reaches every one of them. */
#define FUZZ_ALLOC_FAIL_SPAN 64

/* Patches applied in sequence per input: enough for indexes to be built by one apply, used and
 * updated by the next, and rebuilt after a failed one. */
#define FUZZ_MAX_PATCHES 4

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Pointers of every item (and of its key string) in document order. */
typedef struct walk {
    const void **v;
    size_t n, cap;
} walk;

static void walk_push(walk *w, const void *p)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = realloc(w->v, w->cap * sizeof *w->v);
        FUZZ_CHECK(w->v != NULL, "out of memory");
    }
    w->v[w->n++] = p;
}

/* Pre-order walk with an explicit stack: documents may nest past any recursion budget. */
static void walk_tree(walk *w, const cJSON *root)
{
    walk stack = {0};
    walk_push(&stack, root);
    while (stack.n > 0) {
        const cJSON *it = stack.v[--stack.n];
        walk_push(w, it);
        walk_push(w, it->string);
        walk_push(w, it->valuestring);
        /* Children pushed last first, so they pop in order. */
        size_t mark = stack.n;
        for (const cJSON *c = it->child; c != NULL; c = c->next)
            walk_push(&stack, c);
        for (size_t i = mark, j = stack.n; i + 1 < j; i++, j--) {
            const void *t = stack.v[i];
            stack.v[i] = stack.v[j - 1];
            stack.v[j - 1] = t;
        }
    }
    free(stack.v);
}

static void check_write(const cJSON *doc)
{
    sc_buf b = {0};
    sc_patch_status st = sc_json_write(&b, doc);
    if (st == SC_PATCH_ETOODEEP) {
        sc_buf_free(&b);
        return; /* deeper than the library walks: a documented refusal */
    }
    FUZZ_CHECK(st == SC_PATCH_OK, "sc_json_write failed with %d", st);
    char *want = fuzz_print(doc);
    FUZZ_CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
               "sc_json_write printed %.*s, cJSON %s", (int)(b.len > 200 ? 200 : b.len),
               b.data ? b.data : "", want);
    cJSON_free(want);
    sc_buf_free(&b);
}

/* Applies the patches in turn with sc_patch_apply (reference), sc_patch_apply_take and one
 * sc_doc; see the file comment. original is only read. */
static void check_three_ways(const cJSON *original, cJSON *const *patches, int n, long fail_at)
{
    cJSON *ref = cJSON_Duplicate(original, 1);
    cJSON *taken = cJSON_Duplicate(original, 1);
    cJSON *tree = cJSON_Duplicate(original, 1);
    FUZZ_CHECK(ref != NULL && taken != NULL && tree != NULL, "out of memory");
    sc_doc *d = sc_doc_new(tree, NULL);
    FUZZ_CHECK(d != NULL, "sc_doc_new failed");
    for (int i = 0; i < n; i++) {
        sc_patch_status st_ref = sc_patch_apply(&ref, patches[i], NULL);

        cJSON *pc = cJSON_Duplicate(patches[i], 1);
        FUZZ_CHECK(pc != NULL, "out of memory");
        char *pc_before = fuzz_print(pc);
        sc_patch_status st_take = sc_patch_apply_take(&taken, pc, NULL);
        if (st_take != SC_PATCH_OK) {
            char *pc_after = fuzz_print(pc);
            FUZZ_CHECK(strcmp(pc_before, pc_after) == 0,
                       "a failed apply_take changed its patch: %s -> %s", pc_before, pc_after);
            cJSON_free(pc_after);
        }
        cJSON_free(pc_before);
        cJSON_Delete(pc);

        char *doc_before = fuzz_print(sc_doc_root(d));
        sc_patch_status st_doc;
        int take = i % 2 == 1;
        cJSON *dpc = take ? cJSON_Duplicate(patches[i], 1) : NULL;
        FUZZ_CHECK(!take || dpc != NULL, "out of memory");
        if (i == 0 && fail_at >= 0)
            fuzz_alloc_fail_after(fail_at);
        st_doc = take ? sc_doc_apply_take(d, dpc, NULL) : sc_doc_apply(d, patches[i], NULL);
        fuzz_alloc_unlimited();
        if (st_doc != SC_PATCH_OK) {
            char *doc_after = fuzz_print(sc_doc_root(d));
            FUZZ_CHECK(strcmp(doc_before, doc_after) == 0,
                       "a failed sc_doc apply (%s) changed the document: %s -> %s",
                       sc_patch_strerror(st_doc), doc_before, doc_after);
            cJSON_free(doc_after);
        }
        if (i == 0 && fail_at >= 0 && st_doc == SC_PATCH_ENOMEM) /* again, without the limit */
            st_doc = take ? sc_doc_apply_take(d, dpc, NULL) : sc_doc_apply(d, patches[i], NULL);
        cJSON_Delete(dpc);
        cJSON_free(doc_before);

        FUZZ_CHECK(st_take == st_ref && st_doc == st_ref,
                   "patch %d: apply %s, apply_take %s, sc_doc %s", i, sc_patch_strerror(st_ref),
                   sc_patch_strerror(st_take), sc_patch_strerror(st_doc));
        char *a = fuzz_print(ref), *b = fuzz_print(taken), *c = fuzz_print(sc_doc_root(d));
        FUZZ_CHECK(strcmp(a, b) == 0 && strcmp(a, c) == 0,
                   "patch %d: apply gave %s, apply_take %s, sc_doc %s", i, a, b, c);
        cJSON_free(a);
        cJSON_free(b);
        cJSON_free(c);
    }
    sc_doc_free(d);
    cJSON_Delete(ref);
    cJSON_Delete(taken);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    cJSON *doc = fuzz_next_json(data, size, &pos);
    if (doc == NULL)
        return 0;
    cJSON *patches[FUZZ_MAX_PATCHES];
    int n_patches = 0;
    while (n_patches < FUZZ_MAX_PATCHES &&
           (patches[n_patches] = fuzz_next_json(data, size, &pos)) != NULL)
        n_patches++;
    if (n_patches == 0) {
        cJSON_Delete(doc);
        return 0;
    }
    cJSON *patch = patches[0];
    while (pos < size && (data[pos] == ' ' || data[pos] == '\n'))
        pos++;
    long fail_at = pos < size ? (long)(data[pos] % FUZZ_ALLOC_FAIL_SPAN) : -1;

    cJSON *copy = cJSON_Duplicate(doc, 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    char *doc_before = fuzz_print(doc);
    char *patch_before = fuzz_print(patch);
    walk before = {0};
    walk_tree(&before, doc);
    const cJSON *root_before = doc;

    sc_patch_error err, untouched;
    memset(&err, 0xA5, sizeof err);
    memcpy(&untouched, &err, sizeof err);
    if (fail_at >= 0)
        fuzz_alloc_fail_after(fail_at);
    sc_patch_status st = sc_patch_apply(&doc, patch, &err);
    int refused_alloc = fuzz_alloc_failed;
    fuzz_alloc_unlimited();

    if (st != SC_PATCH_OK) {
        FUZZ_CHECK(doc == root_before, "a failed apply replaced the root");
        walk after = {0};
        walk_tree(&after, doc);
        FUZZ_CHECK(after.n == before.n && memcmp(after.v, before.v, after.n * sizeof *after.v) == 0,
                   "a failed apply (%s) left other items or another order", sc_patch_strerror(st));
        free(after.v);
        char *doc_after = fuzz_print(doc);
        FUZZ_CHECK(strcmp(doc_after, doc_before) == 0, "a failed apply (%s) changed the document: "
                   "%s -> %s", sc_patch_strerror(st), doc_before, doc_after);
        cJSON_free(doc_after);
        /* cJSON parses at most 1000 levels, as deep as sc_json_equal walks. */
        FUZZ_CHECK(sc_json_equal(doc, copy), "a failed apply left a document unequal to a copy");
        FUZZ_CHECK(err.status == st, "err.status %d, returned %d", err.status, st);
        FUZZ_CHECK(err.op_index == -1 || (cJSON_IsArray(patch) && err.op_index >= 0 &&
                                           err.op_index < (long)cJSON_GetArraySize(patch)),
                   "op_index %ld out of range", err.op_index);
        FUZZ_CHECK(memchr(err.op, '\0', sizeof err.op) && memchr(err.path, '\0', sizeof err.path) &&
                       memchr(err.reason, '\0', sizeof err.reason),
                   "error strings are not NUL-terminated");
        FUZZ_CHECK(refused_alloc || st != SC_PATCH_ENOMEM, "ENOMEM with no refused allocation");
        char line[64];
        sc_patch_error_format(&err, line, sizeof line);
        FUZZ_CHECK(strlen(line) < sizeof line, "sc_patch_error_format overflowed");
    } else {
        FUZZ_CHECK(memcmp(&err, &untouched, sizeof err) == 0, "a successful apply wrote err");
    }
    if (fail_at >= 0 && st != SC_PATCH_ENOMEM) {
        /* The same patch without the allocation limit ends the same way. */
        cJSON *again = cJSON_Duplicate(copy, 1);
        FUZZ_CHECK(again != NULL, "out of memory");
        sc_patch_status st2 = sc_patch_apply(&again, patch, NULL);
        FUZZ_CHECK(st2 == st, "with an allocation limit: %d, without: %d", st, st2);
        FUZZ_CHECK(st != SC_PATCH_OK || sc_json_equal(again, doc) || !sc_json_equal(again, again),
                   "an allocation limit changed the result");
        cJSON_Delete(again);
    }

    char *patch_after = fuzz_print(patch);
    FUZZ_CHECK(strcmp(patch_after, patch_before) == 0, "apply changed the patch");
    cJSON_free(patch_after);
    check_write(doc);

    check_three_ways(copy, patches, n_patches, fail_at);

    free(before.v);
    cJSON_free(doc_before);
    cJSON_free(patch_before);
    cJSON_Delete(copy);
    for (int i = 0; i < n_patches; i++)
        cJSON_Delete(patches[i]);
    cJSON_Delete(doc);
    return 0;
}
