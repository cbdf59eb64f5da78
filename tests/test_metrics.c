// Ranking metrics against scikit-learn's answers (tests/golden/metrics.txt,
// made by tests/ref/make_metric_goldens.py, whose input rules are repeated here).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/metrics.h"
#include "test.h"

#define TOL 1e-12

static uint32_t mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}

static uint32_t h(uint32_t seed, uint32_t s, uint32_t i) {
    return mix(i * 0x9E3779B9u + seed * 0x632BE5ABu + s * 0x5851F42Du);
}

static void generate(float *s, int *y, size_t n, const char *kind, uint32_t seed, uint32_t ppm) {
    for (uint32_t i = 0; i < n; i++) {
        int yi = h(seed, 1, i) % 1000000u < ppm;
        uint32_t u = h(seed, 2, i) >> 8, w = h(seed, 3, i) >> 9;
        uint32_t v;
        float f;
        if (!strcmp(kind, "random")) v = u;
        else if (!strcmp(kind, "signal")) v = (u >> 1) + (uint32_t)yi * (1u << 22);
        else if (!strcmp(kind, "perfect")) v = (u >> 1) + (uint32_t)yi * (1u << 23);
        else if (!strcmp(kind, "inverted")) v = (u >> 1) + (uint32_t)(1 - yi) * (1u << 23);
        else if (!strcmp(kind, "partial")) v = (u >> 1) + (uint32_t)yi * w;
        else v = 0;
        if (!strcmp(kind, "ties")) f = (float)(u % 8 + 2 * (uint32_t)yi) / 10.0f;
        else if (!strcmp(kind, "const")) f = 0.5f;
        else f = (float)v / 16777216.0f;
        s[i] = f;
        y[i] = yi;
    }
}

static int near(double got, double ref) { return fabs(got - ref) <= TOL * (1.0 + fabs(ref)); }

// Reads the next whitespace-separated numbers after `key` on a line into v.
static size_t numbers(const char *line, const char *key, double *v, size_t max) {
    size_t kl = strlen(key), k = 0;
    if (strncmp(line, key, kl) || line[kl] != ' ') return 0;
    const char *p = line + kl;
    char *end;
    for (;;) {
        double x = strtod(p, &end);
        if (end == p) break;
        ck_assert_msg(k < max, "too many numbers after '%s'", key);
        v[k++] = x;
        p = end;
    }
    return k;
}

static void check_curve(const char *what, const char *name, const am_curve *c, const double *ref, size_t nref) {
    ck_assert_msg(c->n * 2 == nref, "%s %s: %zu points, sklearn %zu", name, what, c->n, nref / 2);
    for (size_t i = 0; i < c->n; i++)
        ck_assert_msg(near(c->x[i], ref[2 * i]) && near(c->y[i], ref[2 * i + 1]),
                      "%s %s point %zu: (%.17g, %.17g), sklearn (%.17g, %.17g)", name, what, i, c->x[i],
                      c->y[i], ref[2 * i], ref[2 * i + 1]);
}

START_TEST(test_sklearn_goldens) {
    FILE *f = fopen("golden/metrics.txt", "r");
    ck_assert_msg(f != NULL, "cannot open golden/metrics.txt (run the tests from tests/)");
    char *line = NULL, name[64] = "", spec[16], kind[16];
    size_t cap = 0, n = 0, cases = 0, nv;
    float *s = NULL;
    int *y = NULL;
    double *v = AM_MALLOC(sizeof(double) * 40000);
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "case ", 5)) {
            unsigned seed = 0, ppm = 0;
            int got = sscanf(line, "case %63s %zu %15s %15s %u %u", name, &n, spec, kind, &seed, &ppm);
            ck_assert(got >= 3 && n > 0);
            free(s);
            free(y);
            s = AM_MALLOC(sizeof(float) * n);
            y = AM_MALLOC(sizeof(int) * n);
            if (!strcmp(spec, "gen")) {
                ck_assert(got == 6);
                generate(s, y, n, kind, seed, ppm);
            }
        } else if ((nv = numbers(line, "scores", v, 40000))) {
            ck_assert(nv == n);
            for (size_t i = 0; i < n; i++) s[i] = (float)v[i];
        } else if ((nv = numbers(line, "labels", v, 40000))) {
            ck_assert(nv == n);
            for (size_t i = 0; i < n; i++) y[i] = (int)v[i];
        } else if ((nv = numbers(line, "expect", v, 40000))) {
            ck_assert(nv == 9);
            am_metrics m;
            ck_assert_msg(am_metrics_compute(&m, s, y, n) == 0, "%s: %s", name, am_error());
            const double got[9] = {m.auroc, m.auprc, m.ap, (double)m.k_top01, m.prec_top01, m.rec_top01,
                                   (double)m.k_top1, m.prec_top1, m.rec_top1};
            static const char *what[9] = {"auroc", "auprc", "ap", "k_top01", "prec_top01", "rec_top01",
                                          "k_top1", "prec_top1", "rec_top1"};
            for (int j = 0; j < 9; j++)
                ck_assert_msg(near(got[j], v[j]), "%s %s: %.17g, sklearn %.17g", name, what[j], got[j], v[j]);
            ck_assert(m.n == n);
            double p, r;
            size_t k;
            ck_assert_int_eq(am_metrics_top(&p, &r, &k, s, y, n, 1.0), 0);
            ck_assert(k == m.k_top1 && p == m.prec_top1 && r == m.rec_top1);
            cases++;
        } else if ((nv = numbers(line, "roc", v, 40000))) {
            am_curve c;
            ck_assert_int_eq(am_roc_curve(&c, s, y, n), 0);
            check_curve("roc", name, &c, v, nv);
            am_curve_free(&c);
        } else if ((nv = numbers(line, "pr", v, 40000))) {
            am_curve c;
            ck_assert_int_eq(am_pr_curve(&c, s, y, n), 0);
            check_curve("pr", name, &c, v, nv);
            am_curve_free(&c);
        }
    }
    ck_assert_msg(cases >= 16, "only %zu cases in golden/metrics.txt", cases);
    free(line);
    free(s);
    free(y);
    free(v);
    fclose(f);
}
END_TEST

// Reordering the items changes nothing, ties at the cut included.
START_TEST(test_order_independent) {
    size_t n = 3000;
    float *s = AM_MALLOC(sizeof(float) * n), *s2 = AM_MALLOC(sizeof(float) * n);
    int *y = AM_MALLOC(sizeof(int) * n), *y2 = AM_MALLOC(sizeof(int) * n);
    generate(s, y, n, "ties", 11, 30000);
    for (size_t i = 0; i < n; i++) {
        size_t j = (i * 1237 + 5) % n;
        s2[j] = s[i];
        y2[j] = y[i];
    }
    am_metrics a, b;
    ck_assert_int_eq(am_metrics_compute(&a, s, y, n), 0);
    ck_assert_int_eq(am_metrics_compute(&b, s2, y2, n), 0);
    ck_assert(a.auroc == b.auroc && a.auprc == b.auprc && a.ap == b.ap);
    ck_assert(a.prec_top01 == b.prec_top01 && a.rec_top1 == b.rec_top1);
    free(s);
    free(s2);
    free(y);
    free(y2);
}
END_TEST

START_TEST(test_errors) {
    am_metrics m;
    am_curve c;
    float s[3] = {0.1f, 0.2f, 0.3f};
    int y0[3] = {0, 0, 0}, y1[3] = {1, 1, 1}, ybad[3] = {0, 2, 1}, y[3] = {0, 1, 0};
    ck_assert_int_eq(am_metrics_compute(&m, s, y, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "no items"));
    ck_assert_int_eq(am_metrics_compute(&m, s, y0, 3), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "one class"));
    ck_assert_int_eq(am_metrics_compute(&m, s, y1, 3), -1);
    ck_assert_int_eq(am_roc_curve(&c, s, y1, 3), -1);
    ck_assert(c.n == 0 && c.x == NULL);
    ck_assert_int_eq(am_pr_curve(&c, s, ybad, 3), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "label 2"));
    float snan[3] = {0.1f, NAN, 0.3f};
    ck_assert_int_eq(am_metrics_compute(&m, snan, y, 3), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "not finite"));
    double p, r;
    ck_assert_int_eq(am_metrics_top(&p, &r, NULL, s, y, 3, 0.0), -1);
    ck_assert_int_eq(am_metrics_top(&p, &r, NULL, s, y, 3, 100.0), 0);
    ck_assert(fabs(p - 1.0 / 3.0) < 1e-15 && r == 1.0);
}
END_TEST

Suite *suite_metrics(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("sklearn");
    tcase_add_test(tc, test_sklearn_goldens);
    tcase_add_test(tc, test_order_independent);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
