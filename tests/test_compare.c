// The comparator (tests/compare.h): NaN and Inf anywhere fail, equal values
// pass (inf included), the worst element and its percentage of tolerance
// are the right ones, normwise comparisons fail on NaN and Inf.
#include <math.h>
#include <string.h>

#include "test.h"

// Elements 0..3 with one bad value planted at each position in turn: every
// comparison must fail at that position, whatever follows it (the old
// close_enough and judge_add forgot a NaN unless it was the last element).
static void fails_wherever(float bad) {
    const float ref[4] = {1.0f, -2.0f, 3.0f, 0.5f};
    for (int at = 0; at < 4; at++) {
        float got[4] = {1.0f, -2.0f, 3.0f, 0.5f};
        got[at] = bad;
        cmp_result c = cmp_close(NULL, got, ref, 4, 1.0, 1.0);
        ck_assert_msg(!c.ok && c.at == (size_t)at && c.pct == INFINITY, "%g at %d: ok %d at %zu pct %g", bad, at,
                      c.ok, c.at, c.pct);
        c = cmp_scaled(NULL, got, ref, 4, 1.0, 1.0);
        ck_assert(!c.ok && c.at == (size_t)at);
        cmp_result e = {0};
        for (int i = 0; i < 4; i++) cmp_add(&e, "t", (size_t)i, got[i], ref[i], 10.0);
        ck_assert(!cmp_end(&e, NULL) && e.at == (size_t)at && isinf(e.pct));
        c = cmp_norm(NULL, got, ref, 4, 1.0);
        ck_assert_msg(!c.ok && c.at == (size_t)at && c.err == INFINITY, "norm %g at %d: ok %d err %g", bad, at, c.ok,
                      c.err);
    }
}

START_TEST(test_nan_and_inf_fail_anywhere) {
    fails_wherever(NAN);
    fails_wherever(INFINITY);
    fails_wherever(-INFINITY);
    // A finite value where the reference is Inf or NaN fails too.
    const float ref[3] = {1.0f, INFINITY, NAN}, got[3] = {1.0f, 3e38f, 0.0f};
    cmp_result c = cmp_close(NULL, got, ref, 2, 1e30, 1.0);
    ck_assert(!c.ok && c.at == 1);
    c = cmp_close(NULL, got + 2, ref + 2, 1, 1e30, 1.0);
    ck_assert(!c.ok && c.at == 0);
}
END_TEST

START_TEST(test_equal_values_pass) {
    // Identical arrays holding inf, -inf, NaN, -0 and the largest float pass
    // under zero tolerance in every form (the GPU check's bf16 conversion
    // compared such arrays with the limit 0 * inf and failed).
    const float a[6] = {INFINITY, -INFINITY, NAN, -0.0f, 3.0e38f, 1e-40f};
    const float b[6] = {INFINITY, -INFINITY, NAN, 0.0f, 3.0e38f, 1e-40f};
    cmp_result c = cmp_close("equal", a, b, 6, 0.0, 0.0);
    ck_assert(c.ok && c.pct == 0.0);
    c = cmp_scaled("equal, scaled", a, b, 6, 0.0, 0.0);
    ck_assert(c.ok && c.pct == 0.0);
    c = cmp_norm("equal, normwise", a, b, 6, 0.0);
    ck_assert(c.ok && c.err == 0.0);
    // Zero tolerance: the least difference fails.
    const float d[2] = {1.0f, nextafterf(1.0f, 2.0f)}, one[2] = {1.0f, 1.0f};
    c = cmp_close(NULL, d, one, 2, 0.0, 0.0);
    ck_assert(!c.ok && c.at == 1 && c.pct == INFINITY);
    ck_assert(!cmp_norm(NULL, d, one, 2, 0.0).ok);
    // Nothing to compare passes.
    ck_assert(cmp_close(NULL, NULL, NULL, 0, 0.0, 0.0).ok && cmp_norm(NULL, NULL, NULL, 0, 0.0).ok);
}
END_TEST

START_TEST(test_worst_element) {
    // atol 0.25, rtol 0.25: tolerances 0.5, 0.75, 1.25; errors 0.25, 0,
    // 0.5: 50%, 0%, 40% of them (all exact in binary).
    const float ref[3] = {1.0f, 2.0f, 4.0f};
    float got[3] = {1.25f, 2.0f, 4.5f};
    cmp_result c = cmp_close("worst", got, ref, 3, 0.25, 0.25);
    ck_assert_msg(c.ok && c.at == 0 && c.pct == 50.0 && c.tol == 0.5 && c.err == 0.25, "at %zu pct %g", c.at, c.pct);
    ck_assert(c.got == 1.25 && c.ref == 1.0 && c.n == 3);
    got[1] = 3.0f;  // error 1 on tolerance 0.75
    c = cmp_close("worst (expected to fail)", got, ref, 3, 0.25, 0.25);
    ck_assert(!c.ok && c.at == 1 && fabs(c.pct - 400.0 / 3.0) < 1e-12);
    // Scaled, tol (max|ref| + |ref|) with tol 1/16: tolerances 0.3125,
    // 0.375, 0.5, so 80%, 0% and exactly 100%, which passes.
    got[1] = 2.0f;
    c = cmp_scaled(NULL, got, ref, 3, 0.0625, 0.0625);
    ck_assert_msg(c.ok && c.at == 2 && c.pct == 100.0, "at %zu pct %.17g", c.at, c.pct);
    // An Inf in ref does not enter max|ref|: tolerance 1/16 (2 + 2) on element 1.
    const float ri[2] = {INFINITY, 2.0f}, gi[2] = {INFINITY, 2.125f};
    c = cmp_scaled(NULL, gi, ri, 2, 0.0625, 0.0625);
    ck_assert(c.ok && c.at == 1 && c.pct == 50.0);
    // The accumulator keeps the label and index of its worst element.
    cmp_result a = {0};
    cmp_add(&a, "first", 7, 1.0, 1.0, 1.0);
    cmp_add(&a, "second", 3, 2.0, 1.0, 4.0);
    cmp_add(&a, "third", 9, 1.5, 1.0, 4.0);
    ck_assert(cmp_end(&a, NULL) && a.n == 3 && a.at == 3 && !strcmp(a.where, "second") && a.pct == 25.0);
}
END_TEST

START_TEST(test_normwise) {
    // |(0, 0.5)| / |(3, 4)| = 0.1: 50% of 0.2, 200% of 0.05.
    const float ref[2] = {3.0f, 4.0f}, got[2] = {3.0f, 4.5f};
    cmp_result c = cmp_norm("norm", got, ref, 2, 0.2);
    ck_assert_msg(c.ok && fabs(c.err - 0.1) < 1e-15 && fabs(c.pct - 50.0) < 1e-12 && c.at == 1, "err %g", c.err);
    c = cmp_norm("norm (expected to fail)", got, ref, 2, 0.05);
    ck_assert(!c.ok && fabs(c.pct - 200.0) < 1e-12);
    // A zero reference: any difference is infinitely far.
    const float z[2] = {0.0f, 0.0f};
    ck_assert(cmp_norm(NULL, got, z, 2, 1.0).pct == INFINITY);
}
END_TEST

Suite *suite_compare(void) {
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("compare");
    tcase_add_test(tc, test_nan_and_inf_fail_anywhere);
    tcase_add_test(tc, test_equal_values_pass);
    tcase_add_test(tc, test_worst_element);
    tcase_add_test(tc, test_normwise);
    suite_add_tcase(s, tc);
    return s;
}
