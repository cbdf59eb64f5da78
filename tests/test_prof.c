// The per-layer profile (include/am/prof.h) on the CPU model: every op of
// every block has its row in both passes, the rows account for the pass's
// time, profiling changes no result, and the printed table names the ops.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/model.h"
#include "am/prof.h"
#include "test.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static int rows_named(const am_prof *p, int pass, const char *op) {
    int n = 0;
    for (int i = 0; i < p->nrows; i++) n += p->rows[i].pass == pass && !strcmp(p->rows[i].op, op);
    return n;
}

START_TEST(test_profile_cpu_model) {
    am_model m;
    ck_assert_int_eq(am_model_init(&m, "b0", 3, 4, 3), 0);
    const int N = 2, S = 32;
    size_t nx = (size_t)N * S * S * 3;
    float *x = malloc(sizeof(float) * nx), *z0 = malloc(sizeof(float) * N * 4), *dz = malloc(sizeof(float) * N * 4);
    ck_assert(x && z0 && dz);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(i % 97) / 97.0f;
    for (int i = 0; i < N * 4; i++) dz[i] = (float)(i % 3) - 1.0f;
    memcpy(z0, am_forward(&m, x, N, S, 0, 0, 0), sizeof(float) * N * 4);
    am_prof prof;
    am_prof_init(&prof, NULL);
    m.prof = &prof;
    double t0 = now_ms();
    const float *z = am_forward(&m, x, N, S, 0, 0, 0);
    ck_assert(!memcmp(z, z0, sizeof(float) * N * 4));
    am_forward(&m, x, N, S, 1, 5, 1);
    am_zero_grad(&m);
    am_backward(&m, dz);
    double wall = now_ms() - t0;
    am_prof_collect(&prof);
    int nb = m.arch.nblocks, nexp = 0, nskip = 0;
    for (int i = 0; i < nb; i++) {
        nexp += m.arch.blocks[i].expand != 1;
        nskip += m.arch.blocks[i].skip;
    }
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(rows_named(&prof, pass, "dw conv"), nb);
        ck_assert_int_eq(rows_named(&prof, pass, "se"), nb);
        ck_assert_int_eq(rows_named(&prof, pass, "project conv"), nb);
        ck_assert_int_eq(rows_named(&prof, pass, "expand conv"), nexp);
        ck_assert_int_eq(rows_named(&prof, pass, "residual"), nskip);
        ck_assert_int_eq(rows_named(&prof, pass, "stem conv"), 1);
        ck_assert_int_eq(rows_named(&prof, pass, "head conv"), 1);
    }
    ck_assert_int_eq(rows_named(&prof, AM_PROF_BWD, "skip add"), nskip);
    double sum = 0.0;
    for (int i = 0; i < prof.nrows; i++) {
        const am_prof_row *r = &prof.rows[i];
        ck_assert(r->ms >= 0.0 && r->bytes > 0.0);
        ck_assert_int_eq((int)r->calls, r->pass == AM_PROF_FWD ? 2 : 1);
        sum += r->ms;
    }
    ck_assert_msg(sum > 0.0 && sum <= wall, "rows sum to %g ms of %g ms", sum, wall);
    char buf[16384];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    am_prof_print(&prof, f, 1, 1, 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "| forward | dw conv | 16 |"));
    ck_assert_ptr_nonnull(strstr(buf, "| backward | expand conv |"));
    am_prof_reset(&prof);
    for (int i = 0; i < prof.nrows; i++) ck_assert(prof.rows[i].ms == 0.0 && prof.rows[i].calls == 0);
    m.prof = NULL;
    am_prof_free(&prof);
    free(x);
    free(z0);
    free(dz);
    am_model_free(&m);
}
END_TEST

Suite *suite_prof(void) {
    Suite *s = suite_create("prof");
    TCase *tc = tcase_create("prof");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_profile_cpu_model);
    suite_add_tcase(s, tc);
    return s;
}
