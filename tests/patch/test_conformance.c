/*
 * The json-patch-tests conformance suite (tests.json and spec_tests.json), run case by case.
 *
 * Every case not marked "disabled" runs: a case with "error" must fail to apply and leave the
 * document exactly as it was (same items, order and keys); a case with "expected" must apply
 * and equal it; a case with neither must just apply. Records without "doc" and "patch" are
 * comments. The count of cases run is printed.
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

START_TEST(conformance_case_behaves_as_the_suite_expects)
{
    const cJSON *c = runnable[_i];
    const char *label = case_label(c);
    cJSON *doc = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "doc"), 1);
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(c, "patch");
    const cJSON *expected = cJSON_GetObjectItemCaseSensitive(c, "expected");
    int wants_error = cJSON_GetObjectItemCaseSensitive(c, "error") != NULL;
    ck_assert_ptr_nonnull(doc);
    cJSON *before = doc;
    tu_snapshot snap = tu_snapshot_take(doc);

    sc_patch_error err = {0};
    sc_patch_status st = sc_patch_apply(&doc, patch, &err);
    char line[512];
    sc_patch_error_format(&err, line, sizeof line);

    if (wants_error) {
        ck_assert_msg(st != SC_PATCH_OK, "case %d \"%s\" applied but must fail", _i, label);
        ck_assert_msg(err.status == st && err.op_index >= 0 && err.reason[0] != '\0',
                      "case %d \"%s\": error not filled: %s", _i, label, line);
        ck_assert_msg(doc == before && tu_snapshot_same(&snap, doc),
                      "case %d \"%s\" changed the document although it failed", _i, label);
    } else {
        ck_assert_msg(st == SC_PATCH_OK, "case %d \"%s\" failed: %s", _i, label, line);
        ck_assert_msg(tu_lists_ok(doc), "case %d \"%s\": broken cJSON lists", _i, label);
        if (expected != NULL) {
            char *got = tu_print(doc);
            ck_assert_msg(sc_json_equal(doc, expected), "case %d \"%s\": got %s", _i, label, got);
            free(got);
        }
    }
    tu_snapshot_free(&snap);
    cJSON_Delete(doc);
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
    tcase_add_test(tc, conformance_files_hold_the_expected_number_of_cases);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(runnable);
    cJSON_Delete(cases[0]);
    cJSON_Delete(cases[1]);
    return rc;
}
