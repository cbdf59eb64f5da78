// Suites of the test runner and helpers shared by the tests.
// Tests run from the tests/ directory (make test does so), so data paths
// are relative to it.
#pragma once
#include <check.h>
#include <stddef.h>

#include "compare.h"  // the comparator of every numeric check

Suite *suite_rng(void);
Suite *suite_tfile(void);
Suite *suite_ops(void);
Suite *suite_model(void);
Suite *suite_data(void);
Suite *suite_batches(void);
Suite *suite_dataset(void);
Suite *suite_metrics(void);
Suite *suite_plot(void);
Suite *suite_demo(void);
Suite *suite_train(void);
Suite *suite_augment(void);
Suite *suite_prof(void);
Suite *suite_compare(void);
Suite *suite_loop(void);
Suite *suite_threads(void);
Suite *suite_containers(void);
Suite *suite_infer(void);
Suite *suite_inputs(void);
Suite *suite_tiff(void);
Suite *suite_labelbook(void);
Suite *suite_review(void);
Suite *suite_ssl(void);

// The golden files' deterministic parameter fill (weights/FORMAT.md, init:).
void golden_fill(float *d, size_t n, const char *name, float centre, float half);
// The whole file at path (malloc'd, NUL-terminated; *n its length when n is
// not NULL); fails the test when it cannot be read.
char *test_read_file(const char *path, size_t *n);
