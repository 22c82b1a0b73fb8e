/* tests for patch/src/status.c: every status has a message, errors format on one line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "statechannel/patch.h"

START_TEST(every_status_has_a_distinct_message)
{
    for (int i = 0; i < SC_PATCH_STATUS_COUNT_; i++) {
        const char *m = sc_patch_strerror((sc_patch_status)i);
        ck_assert_ptr_nonnull(m);
        ck_assert_int_gt(strlen(m), 0);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(m, sc_patch_strerror((sc_patch_status)j));
    }
    ck_assert_str_eq(sc_patch_strerror(SC_PATCH_OK), "success");
    ck_assert_str_eq(sc_patch_strerror((sc_patch_status)9999), "unknown status");
}
END_TEST

START_TEST(error_format_names_the_operation_path_and_reason)
{
    sc_patch_error e = {.status = SC_PATCH_ENOPATH, .op_index = 2};
    strcpy(e.op, "remove");
    strcpy(e.path, "/a/b");
    strcpy(e.reason, "no key \"b\"");
    char buf[256];
    ck_assert_str_eq(sc_patch_error_format(&e, buf, sizeof buf),
                     "op 2 (remove /a/b): path does not exist: no key \"b\"");
    char tiny[8];
    sc_patch_error_format(&e, tiny, sizeof tiny);
    ck_assert_int_eq(strlen(tiny), 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_status_has_a_distinct_message);
    tcase_add_test(tc, error_format_names_the_operation_path_and_reason);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
