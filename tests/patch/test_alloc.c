/*
 * Allocation-failure tests: cJSON's hooks are replaced by a counting allocator that fails the
 * Nth allocation. For N = 1, 2, ... a varied patch is applied until it succeeds without any
 * allocation failing. Every attempt must either report SC_PATCH_ENOMEM, leave the document
 * exactly as it was and leak nothing (live allocations back to the baseline), or succeed with
 * exactly the document a failure-free apply gives (a lookup index that cannot allocate only
 * makes the apply slower, see index.c). The same runs through sc_patch_apply_take() (a failure
 * must also leave the patch as it was) and through an sc_doc (sc_doc_new() and
 * sc_doc_apply_take(), each allowed to run out of memory).
 */
#include "internal.h"
#include "testutil.h"

/* Bound on the attempts per patch: far above the allocations any patch here makes, so a run
 * that never succeeds fails the test instead of looping. */
#define MAX_ATTEMPTS 100000

static long live;     /* allocations made through the hooks and not yet freed */
static long calls;    /* allocation calls since the counter was last reset */
static long fail_at;  /* the call number that fails; 0: none */
static long failures; /* allocations refused */

static void *counting_malloc(size_t size)
{
    calls++;
    if (fail_at > 0 && calls == fail_at) {
        failures++;
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL)
        live++;
    return p;
}

static void counting_free(void *p)
{
    if (p != NULL)
        live--;
    free(p);
}

static void hooks_on(void)
{
    cJSON_Hooks hooks = {counting_malloc, counting_free};
    cJSON_InitHooks(&hooks);
    live = calls = fail_at = failures = 0;
}

/* How the patch is applied. */
typedef enum apply_way { WAY_READ, WAY_TAKE, WAY_DOC_TAKE } apply_way;

/* Applies patch to *doc the given way (WAY_DOC_TAKE: wraps *doc in an sc_doc for the call and
 * unwraps it after, so *doc is the tree whatever happens). */
static sc_patch_status apply_way_(apply_way way, cJSON **doc, cJSON *patch, sc_patch_error *err)
{
    if (way == WAY_READ)
        return sc_patch_apply(doc, patch, err);
    if (way == WAY_TAKE)
        return sc_patch_apply_take(doc, patch, err);
    sc_doc *d = sc_doc_new(*doc, err);
    if (d == NULL)
        return err->status;
    sc_patch_status st = sc_doc_apply_take(d, patch, err);
    *doc = sc_doc_release(d);
    return st;
}

/* Applies patch_json to a fresh copy of doc_json, failing allocation 1, 2, ... until it
 * succeeds with no allocation failing. Returns how many attempts ran out of memory. */
static long apply_under_failures_way(const char *doc_json, const char *patch_json,
                                     apply_way way)
{
    long enomem = 0;
    char *expected;
    {
        cJSON *doc = tu_json(doc_json), *patch = tu_json(patch_json);
        ck_assert_int_eq(sc_patch_apply(&doc, patch, NULL), SC_PATCH_OK);
        expected = cJSON_PrintUnformatted(doc); /* freed with cJSON_free: it was counted */
        cJSON_Delete(doc);
        cJSON_Delete(patch);
    }
    for (long n = 1; n <= MAX_ATTEMPTS; n++) {
        long baseline = live;
        cJSON *doc = tu_json(doc_json);
        cJSON *patch = tu_json(patch_json);
        cJSON *root = doc;
        tu_snapshot snap = tu_snapshot_take(doc);
        tu_snapshot patch_snap = tu_snapshot_take(patch);
        long before = live;

        sc_patch_error err = {0};
        calls = 0;
        fail_at = n;
        sc_patch_status st = apply_way_(way, &doc, patch, &err);
        fail_at = 0;

        if (st == SC_PATCH_OK) {
            ck_assert(tu_lists_ok(doc));
            char *got = cJSON_PrintUnformatted(doc);
            ck_assert_ptr_nonnull(got);
            ck_assert_msg(strcmp(got, expected) == 0, "N=%ld: success with a different result",
                          n);
            cJSON_free(got);
            tu_snapshot_free(&snap);
            tu_snapshot_free(&patch_snap);
            cJSON_Delete(doc);
            cJSON_Delete(patch);
            ck_assert_msg(live == baseline, "success at N=%ld leaked %ld", n, live - baseline);
            if (calls < n) { /* no allocation failed: every allocation point was tried */
                cJSON_free(expected);
                return enomem;
            }
            continue;
        }
        ck_assert_msg(st == SC_PATCH_ENOMEM, "N=%ld: %s instead of ENOMEM", n,
                      sc_patch_strerror(st));
        ck_assert_int_eq(err.status, SC_PATCH_ENOMEM);
        ck_assert_msg(doc == root && tu_snapshot_same(&snap, doc),
                      "N=%ld: the document changed although the apply failed", n);
        ck_assert_msg(tu_snapshot_same(&patch_snap, patch),
                      "N=%ld: the patch changed although the apply failed", n);
        tu_snapshot_free(&patch_snap);
        ck_assert_msg(live == before, "N=%ld: failed apply leaked %ld allocations", n,
                      live - before);
        enomem++;
        tu_snapshot_free(&snap);
        cJSON_Delete(doc);
        cJSON_Delete(patch);
        ck_assert_int_eq(live, baseline);
    }
    ck_abort_msg("the patch never succeeded in %d attempts", MAX_ATTEMPTS);
    return enomem;
}

static long apply_under_failures(const char *doc_json, const char *patch_json)
{
    return apply_under_failures_way(doc_json, patch_json, WAY_READ);
}

/* A document with nested objects, arrays, a 20-key object stored in reverse key order and a
 * 100-element array (long enough for apply to index it). */
static char *varied_doc(void)
{
    char *s = malloc(4096);
    size_t n = (size_t)sprintf(s, "{\"users\": {\"u1\": {\"name\": \"ann\", \"tags\": [\"a\", "
                                  "\"b\"]}, \"u2\": {\"name\": \"bo\"}}, \"list\": [1, 2, 3, 4, 5],"
                                  " \"meta\": {\"v\": 1}, \"big\": {");
    for (int i = 19; i >= 0; i--)
        n += (size_t)sprintf(s + n, "\"k%d\": [%d]%s", i, i, i ? ", " : "");
    n += (size_t)sprintf(s + n, "}, \"long\": [");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(s + n, "%d%s", i, i < 99 ? "," : "");
    sprintf(s + n, "]}");
    return s;
}

/* Every operation kind, values of every shape, a test that needs the hash table, and more
 * changes than the undo log holds on the stack. */
static char *varied_patch(void)
{
    char *s = malloc(16384);
    size_t n = (size_t)sprintf(
        s, "["
           "{\"op\":\"add\",\"path\":\"/users/u3\",\"value\":{\"name\":\"cy\",\"tags\":[\"x\"]}},"
           "{\"op\":\"add\",\"path\":\"/list/2\",\"value\":[9,9]},"
           "{\"op\":\"add\",\"path\":\"/list/-\",\"value\":{\"z\":null}},"
           "{\"op\":\"remove\",\"path\":\"/list/0\"},"
           "{\"op\":\"replace\",\"path\":\"/meta/v\",\"value\":{\"w\":[1,2,3]}},"
           "{\"op\":\"move\",\"from\":\"/users/u1\",\"path\":\"/list/1\"},"
           "{\"op\":\"move\",\"from\":\"/list/1/tags\",\"path\":\"/moved~1tags\"},"
           "{\"op\":\"copy\",\"from\":\"/users\",\"path\":\"/users_copy\"},"
           "{\"op\":\"copy\",\"from\":\"/big\",\"path\":\"/list/0\"},"
           "{\"op\":\"add\",\"path\":\"/users/u2\",\"value\":\"replaced in place\"},"
           "{\"op\":\"replace\",\"path\":\"/long/80\",\"value\":-80},"
           "{\"op\":\"remove\",\"path\":\"/long/50\"},"
           "{\"op\":\"add\",\"path\":\"/long/60\",\"value\":[60]},"
           "{\"op\":\"move\",\"from\":\"/long/90\",\"path\":\"/long/10\"},"
           "{\"op\":\"move\",\"from\":\"/long/5\",\"path\":\"/long/-\"},"
           "{\"op\":\"test\",\"path\":\"/long/99\",\"value\":5},"
           "{\"op\":\"test\",\"path\":\"/long/80\",\"value\":-80},"
           "{\"op\":\"test\",\"path\":\"/big\",\"value\":{");
    for (int i = 0; i < 20; i++)
        n += (size_t)sprintf(s + n, "\"k%d\":[%d]%s", i, i, i < 19 ? "," : "}},");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(s + n, "{\"op\":\"add\",\"path\":\"/meta/n%d\",\"value\":[%d]},",
                             i, i);
    sprintf(s + n, "{\"op\":\"test\",\"path\":\"/meta/n39/0\",\"value\":39}]");
    return s;
}

START_TEST(apply_under_each_failing_allocation_is_enomem_unchanged_and_leak_free)
{
    hooks_on();
    char *doc = varied_doc(), *patch = varied_patch();
    long enomem = apply_under_failures(doc, patch);
    printf("varied patch: %ld failing allocation points, each ENOMEM with the document "
           "unchanged and no leak\n", enomem);
    /* Every allocation of the patch was made to fail once: dozens of distinct points. */
    ck_assert_int_gt(enomem, 50);
    ck_assert_int_ge(failures, enomem);
    free(doc);
    free(patch);
    cJSON_InitHooks(NULL);
}
END_TEST

START_TEST(apply_take_and_doc_apply_under_each_failing_allocation_undo_patch_and_document)
{
    hooks_on();
    char *doc = varied_doc(), *patch = varied_patch();
    long take = apply_under_failures_way(doc, patch, WAY_TAKE);
    long indexed = apply_under_failures_way(doc, patch, WAY_DOC_TAKE);
    printf("varied patch, values taken: %ld failing allocation points; through an sc_doc: %ld\n",
           take, indexed);
    /* Taking values removes the copies' allocations, but dozens of points remain (keys,
     * copies, the log, the tests' tables); an sc_doc adds its handle and its indexes. */
    ck_assert_int_gt(take, 20);
    ck_assert_int_gt(indexed, take);
    free(doc);
    free(patch);
    cJSON_InitHooks(NULL);
}
END_TEST

START_TEST(root_replacements_under_failing_allocations_restore_the_root)
{
    hooks_on();
    long enomem = apply_under_failures(
        "{\"a\": {\"b\": [1, 2]}}",
        "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},"
        " {\"op\":\"replace\",\"path\":\"\",\"value\":{\"x\":[1,{\"y\":2}]}},"
        " {\"op\":\"add\",\"path\":\"/x/-\",\"value\":\"s\"},"
        " {\"op\":\"move\",\"from\":\"/x/0\",\"path\":\"/z\"},"
        " {\"op\":\"copy\",\"from\":\"/x\",\"path\":\"\"},"
        " {\"op\":\"test\",\"path\":\"\",\"value\":[{\"y\":2},\"s\"]}]");
    ck_assert_int_gt(enomem, 5);
    static const char root_doc[] = "{\"a\": {\"b\": [1, 2]}}";
    static const char root_patch[] =
        "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"x\":[1,{\"y\":2}]}},"
        " {\"op\":\"add\",\"path\":\"/x/-\",\"value\":\"s\"},"
        " {\"op\":\"copy\",\"from\":\"/x\",\"path\":\"/z\"}]";
    ck_assert_int_gt(apply_under_failures_way(root_doc, root_patch, WAY_TAKE), 1);
    ck_assert_int_gt(apply_under_failures_way(root_doc, root_patch, WAY_DOC_TAKE), 1);
    cJSON_InitHooks(NULL);
}
END_TEST

START_TEST(pointer_parse_reports_enomem)
{
    hooks_on();
    fail_at = 1;
    sc_patch_error err = {0};
    ck_assert_ptr_null(sc_pointer_parse("/a/b", &err));
    ck_assert_int_eq(err.status, SC_PATCH_ENOMEM);
    ck_assert_int_eq(failures, 1);
    fail_at = 0;
    sc_pointer *p = sc_pointer_parse("/a/b", &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(live, 1); /* one block, through cJSON's hooks */
    sc_pointer_free(p);
    ck_assert_int_eq(live, 0);
    cJSON_InitHooks(NULL);
}
END_TEST

START_TEST(equality_that_cannot_allocate_its_table_says_so)
{
    hooks_on();
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddNumberToObject(a, key, i);
        snprintf(key, sizeof key, "k%d", 99 - i);
        cJSON_AddNumberToObject(b, key, 99 - i);
    }
    long baseline = live;
    calls = 0;
    fail_at = 1;
    sc_patch_status st;
    ck_assert_int_eq(sc__json_equal(a, b, &st), 0);
    ck_assert_int_eq(st, SC_PATCH_ENOMEM);
    ck_assert_int_eq(sc_json_equal(a, b), 1); /* only allocation 1 failed: this one works */
    fail_at = 0;
    ck_assert_int_eq(live, baseline);
    cJSON_Delete(a);
    cJSON_Delete(b);
    ck_assert_int_eq(live, 0);
    cJSON_InitHooks(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("failing allocations");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, apply_under_each_failing_allocation_is_enomem_unchanged_and_leak_free);
    tcase_add_test(tc, apply_take_and_doc_apply_under_each_failing_allocation_undo_patch_and_document);
    tcase_add_test(tc, root_replacements_under_failing_allocations_restore_the_root);
    tcase_add_test(tc, pointer_parse_reports_enomem);
    tcase_add_test(tc, equality_that_cannot_allocate_its_table_says_so);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
