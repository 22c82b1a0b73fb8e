/*
 * The json-patch-tests conformance suite (tests.json and spec_tests.json), run case by case.
 *
 * Every case not marked "disabled" runs: a case with "error" must fail to apply and leave the
 * document exactly as it was (same items, order and keys); a case with "expected" must apply
 * and equal it; a case with neither must just apply. Records without "doc" and "patch" are
 * comments. The count of cases run is printed.
 *
 * Each case runs three times: through sc_patch_apply() (the patch only read), through
 * sc_patch_apply_take() (values moved out of the patch; a failure must leave the patch exactly
 * as it was too), and through an sc_doc with kept indexes (sc_doc_apply_take()).
 */
#include "testutil.h"

static cJSON *cases[2];      /* the two files, parsed once in main() */
static const cJSON **runnable; /* the cases that run, in file order */
static int n_runnable;

static const char *case_label(const cJSON *c)
{
    const cJSON *comment = cJSON_GetObjectItemCaseSensitive(c, "comment");
    return cJSON_IsString(comment) ? comment->valuestring : "(no comment)";
}

/* How a case's patch is applied. */
typedef enum apply_way { WAY_READ, WAY_TAKE, WAY_DOC_TAKE } apply_way;

static void run_case(int i, apply_way way)
{
    const cJSON *c = runnable[i];
    const char *label = case_label(c);
    cJSON *doc = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "doc"), 1);
    cJSON *patch = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "patch"), 1);
    const cJSON *expected = cJSON_GetObjectItemCaseSensitive(c, "expected");
    int wants_error = cJSON_GetObjectItemCaseSensitive(c, "error") != NULL;
    ck_assert_ptr_nonnull(doc);
    cJSON *before = doc;
    tu_snapshot snap = tu_snapshot_take(doc);
    tu_snapshot patch_snap = tu_snapshot_take(patch);

    sc_patch_error err = {0};
    sc_patch_status st;
    if (way == WAY_DOC_TAKE) {
        sc_doc *d = sc_doc_new(doc, NULL);
        ck_assert_ptr_nonnull(d);
        st = sc_doc_apply_take(d, patch, &err);
        doc = sc_doc_release(d);
    } else {
        st = way == WAY_TAKE ? sc_patch_apply_take(&doc, patch, &err)
                             : sc_patch_apply(&doc, patch, &err);
    }
    if (way == WAY_READ || st != SC_PATCH_OK)
        ck_assert_msg(tu_snapshot_same(&patch_snap, patch), "case %d \"%s\": the patch changed",
                      i, label);
    tu_snapshot_free(&patch_snap);
    cJSON_Delete(patch);
    char line[512];
    sc_patch_error_format(&err, line, sizeof line);

    if (wants_error) {
        ck_assert_msg(st != SC_PATCH_OK, "case %d \"%s\" applied but must fail", i, label);
        ck_assert_msg(err.status == st && err.op_index >= 0 && err.reason[0] != '\0',
                      "case %d \"%s\": error not filled: %s", i, label, line);
        ck_assert_msg(doc == before && tu_snapshot_same(&snap, doc),
                      "case %d \"%s\" changed the document although it failed", i, label);
    } else {
        ck_assert_msg(st == SC_PATCH_OK, "case %d \"%s\" failed: %s", i, label, line);
        ck_assert_msg(tu_lists_ok(doc), "case %d \"%s\": broken cJSON lists", i, label);
        if (expected != NULL) {
            char *got = tu_print(doc);
            ck_assert_msg(sc_json_equal(doc, expected), "case %d \"%s\": got %s", i, label, got);
            free(got);
        }
    }
    tu_snapshot_free(&snap);
    cJSON_Delete(doc);
}

START_TEST(conformance_case_behaves_as_the_suite_expects)
{
    run_case(_i, WAY_READ);
}
END_TEST

/* The other two ways run every case in one test each: Check forks per loop iteration, which
 * costs a second per case under ASan on a loaded machine; messages name the failing case. */
START_TEST(every_case_behaves_the_same_when_values_are_taken)
{
    for (int i = 0; i < n_runnable; i++)
        run_case(i, WAY_TAKE);
}
END_TEST

START_TEST(every_case_behaves_the_same_on_an_indexed_document)
{
    for (int i = 0; i < n_runnable; i++)
        run_case(i, WAY_DOC_TAKE);
}
END_TEST

START_TEST(conformance_files_hold_the_expected_number_of_cases)
{
    /* Guards against a data file that silently stopped loading or lost cases:
     * tests.json has 92 enabled cases and spec_tests.json 16 at the pinned commit. */
    ck_assert_int_eq(n_runnable, 92 + 16);
}
END_TEST

int main(void)
{
    const char *files[2] = {"json-patch-tests/tests.json", "json-patch-tests/spec_tests.json"};
    int per_file[2] = {0, 0}, disabled = 0;
    for (int f = 0; f < 2; f++) {
        cases[f] = tu_load_data(files[f]);
        if (!cJSON_IsArray(cases[f])) {
            fprintf(stderr, "cannot load %s\n", files[f]);
            return EXIT_FAILURE;
        }
    }
    runnable = calloc((size_t)cJSON_GetArraySize(cases[0]) + (size_t)cJSON_GetArraySize(cases[1]),
                      sizeof *runnable);
    for (int f = 0; f < 2; f++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cases[f])
        {
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "disabled"))) {
                disabled++;
                continue;
            }
            if (!cJSON_HasObjectItem(c, "doc") || !cJSON_HasObjectItem(c, "patch"))
                continue; /* a comment-only record */
            runnable[n_runnable++] = c;
            per_file[f]++;
        }
    }
    printf("conformance: running %d cases (%d from tests.json, %d from spec_tests.json); "
           "%d disabled cases skipped\n",
           n_runnable, per_file[0], per_file[1], disabled);
    fflush(stdout);

    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("json-patch-tests");
    tcase_add_loop_test(tc, conformance_case_behaves_as_the_suite_expects, 0, n_runnable);
    tcase_add_test(tc, every_case_behaves_the_same_when_values_are_taken);
    tcase_add_test(tc, every_case_behaves_the_same_on_an_indexed_document);
    tcase_add_test(tc, conformance_files_hold_the_expected_number_of_cases);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(runnable);
    cJSON_Delete(cases[0]);
    cJSON_Delete(cases[1]);
    return rc;
}
