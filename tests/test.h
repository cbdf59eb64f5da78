// Suites of the test runner and helpers shared by the tests.
#pragma once
#include <check.h>
#include <stddef.h>

Suite *suite_rng(void);
Suite *suite_tfile(void);
