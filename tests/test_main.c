// Test runner: every suite of the engine; exits non-zero on any failure.
#include <check.h>
#include <stdlib.h>

#include "test.h"

int main(void) {
    SRunner *sr = srunner_create(suite_compare());
    srunner_add_suite(sr, suite_rng());
    srunner_add_suite(sr, suite_tfile());
    srunner_add_suite(sr, suite_ops());
    srunner_add_suite(sr, suite_model());
    srunner_add_suite(sr, suite_data());
    srunner_add_suite(sr, suite_batches());
    srunner_add_suite(sr, suite_dataset());
    srunner_add_suite(sr, suite_metrics());
    srunner_add_suite(sr, suite_plot());
    srunner_add_suite(sr, suite_demo());
    srunner_add_suite(sr, suite_train());
    srunner_add_suite(sr, suite_ssl());
    srunner_add_suite(sr, suite_augment());
    srunner_add_suite(sr, suite_prof());
    srunner_add_suite(sr, suite_loop());
    srunner_add_suite(sr, suite_threads());
    srunner_add_suite(sr, suite_containers());
    srunner_add_suite(sr, suite_infer());
    srunner_add_suite(sr, suite_inputs());
    srunner_add_suite(sr, suite_tiff());
    srunner_add_suite(sr, suite_labelbook());
    srunner_add_suite(sr, suite_review());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
