// Every consistency loss of the registry (include/am/ssl.h), with no code
// per loss: this file compiles kernels/ssl.h in double, so each loss's own
// functions give the reference. For each loss, on weak rows that are
// confident, uncertain, tied, all of one class or all below any threshold,
// over three steps that carry the state:
//   - the gradient of lambda_u * l_u + l_e against central differences in
//     double (the weak view and the state held fixed, as the weights are);
//   - the engine's float step (ssl_forward_backward) against the double one:
//     losses, weights, gradient and the state it leaves;
//   - the state through a checkpoint, and a checkpoint of another loss refused;
//   - semilearn's own steps (tests/golden/ssl_semilearn.amg, made by
//     tests/ref/make_ssl_goldens.py from semilearn 0.3.2 in float64): weights,
//     losses, gradient and state over three steps of each recorded case.
#define SSL_REAL double
#define SSL_EXP exp
#define SSL_LOG log

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/ops.h"
#include "am/philox.h"
#include "am/tfile.h"
#include "am/train.h"
#include "../kernels/ssl.h"
#include "test.h"

#define U 12
#define MAXK 5

// Weak-row patterns of a case.
enum { MIXED, CONFIDENT, BELOW, ONE_CLASS, TIES, NCASES };
static const char *case_names[] = {"mixed", "all confident", "all below threshold", "one class absent", "ties"};

// Logits (U weak rows, then U strong rows) of case c, step `step`. Weak row
// kinds: confident (9 above the rest), uncertain (random), flat (0.01 k:
// below any threshold), tied (all equal), confident in class 0.
enum { ROW_CONFIDENT, ROW_UNCERTAIN, ROW_FLAT, ROW_TIED, ROW_CLASS0 };
static int row_kind(int c, int i) {
    switch (c) {
    case MIXED: return i % 4;
    case CONFIDENT: return ROW_CONFIDENT;
    case BELOW: return ROW_FLAT;
    case ONE_CLASS: return ROW_CLASS0;
    default: return i % 2 ? ROW_TIED : ROW_CONFIDENT;  // ties: half the rows, so no threshold sits on them
    }
}

static void make_logits(double *z, int c, int K, int step) {
    const uint64_t seed = 77 + (uint64_t)c;
    for (int i = 0; i < 2 * U * K; i++) z[i] = 6.0 * am_rand_u01(seed, (uint32_t)step, 0, (uint32_t)i) - 3.0;
    for (int i = 0; i < U; i++) {
        double *w = z + (size_t)i * K;
        int cls = (int)(am_rand_u32(seed, (uint32_t)step, 1, (uint32_t)i) % (uint32_t)K), kind = row_kind(c, i);
        if (kind == ROW_CONFIDENT) w[cls] += 9.0;
        if (kind == ROW_CLASS0) w[0] += 9.0;
        for (int k = 0; k < K; k++) {
            if (kind == ROW_FLAT) w[k] = 0.01 * k;
            if (kind == ROW_TIED) w[k] = 1.5;
        }
    }
}

// The images of step `step`: U of 2U, half of them seen the step before.
static void step_images(int *idx, int step) {
    for (int i = 0; i < U; i++) idx[i] = (i + step * U / 2) % (2 * U);
}

// lambda_u * l_u + l_e of the step from state st and per-image labels (both
// left unchanged).
static double total(const double *z, double *dzs, int K, const am_ssl_state *st, const int *label, const int *idx,
                    const am_ssl_hp *hp, double out[3]) {
    static double P[U * MAXK], W[U], scratch[U * MAXK];
    am_ssl_state s = *st;
    int lab[2 * U];
    memcpy(lab, label, sizeof lab);
    am_ssl_images img = {idx, lab, 2 * U, 2 * U};
    ssl_step(out, dzs ? dzs : scratch, P, W, z, z + U * K, U, K, &s, &img, hp);
    return hp->lambda_u * out[0] + out[1];
}

static void loss_case(int loss, int c, int K, double *worst_fd, double *worst_f32) {
    am_ssl_hp hp = am_train_defaults().ssl;
    hp.loss = loss;
    hp.ema_p = 0.7f;  // the state moves visibly in three steps
    hp.lambda_e = 0.5f;
    if (c == BELOW) hp.tau = 0.99f;
    am_ssl_state sd = {{0}}, sf;
    am_ssl_init(&sd, K, &hp);
    sf = sd;
    int ld[2 * U], lf[2 * U], idx[U];
    for (int i = 0; i < 2 * U; i++) ld[i] = lf[i] = -1;
    char what[160];
    for (int step = 0; step < 3; step++) {
        snprintf(what, sizeof what, "%s, %s, K=%d, step %d", am_ssl_name(loss), case_names[c], K, step);
        double z[2 * U * MAXK], dzs[U * MAXK], out[3];
        make_logits(z, c, K, step);
        step_images(idx, step);
        total(z, dzs, K, &sd, ld, idx, &hp, out);
        // Central differences in double on the strong logits.
        cmp_result fd = {0};
        for (int i = 0; i < U * K; i++) {
            double keep = z[U * K + i], h = 1e-6, o2[3];
            z[U * K + i] = keep + h;
            double lp = total(z, NULL, K, &sd, ld, idx, &hp, o2);
            z[U * K + i] = keep - h;
            double lm = total(z, NULL, K, &sd, ld, idx, &hp, o2);
            z[U * K + i] = keep;
            cmp_add(&fd, "dzs vs finite differences", (size_t)i, dzs[i], (lp - lm) / (2 * h), 1e-8 + 1e-6 * fabs(dzs[i]));
        }
        ck_assert_msg(cmp_end(&fd, what), "%s: gradient off", what);
        *worst_fd = fd.pct > *worst_fd ? fd.pct : *worst_fd;
        // The engine's float step (no labelled rows) against the double one.
        float zf[2 * U * MAXK], dz[2 * U * MAXK];
        for (int i = 0; i < 2 * U * K; i++) zf[i] = (float)z[i];
        am_ssl_images fimg = {idx, lf, 2 * U, 2 * U}, dimg = {idx, ld, 2 * U, 2 * U};
        am_ssl_stats st = ssl_forward_backward(dz, zf, NULL, 0, U, K, &sf, &fimg, &hp);
        am_ssl_state next = sd;
        double P[U * MAXK], W[U], o3[3], dd[U * MAXK];
        ssl_step(o3, dd, P, W, z, z + U * K, U, K, &next, &dimg, &hp);
        cmp_result f = {0};
        cmp_add(&f, "loss_u", 0, st.loss_u, out[0], 1e-6 + 1e-5 * fabs(out[0]));
        cmp_add(&f, "loss_e", 0, st.loss_e, out[1], 1e-6 + 1e-5 * fabs(out[1]));
        cmp_add(&f, "mean weight", 0, st.mask_rate, out[2], 1e-6);
        for (int i = 0; i < U * K; i++) cmp_add(&f, "dzs", (size_t)i, dz[U * K + i], dzs[i], 1e-7 + 1e-5 * fabs(dzs[i]));
        for (int i = 0; i < AM_SSL_STATE_FLOATS; i++)
            cmp_add(&f, "state", (size_t)i, sf.f[i], next.f[i], 1e-6 + 1e-5 * fabs(next.f[i]));
        for (int i = 0; i < 2 * U; i++) cmp_add(&f, "state per image", (size_t)i, lf[i], ld[i], 0);
        ck_assert_msg(cmp_end(&f, what), "%s: the float step differs from the double one", what);
        *worst_f32 = f.pct > *worst_f32 ? f.pct : *worst_f32;
        sd = next;
        sf = sd;  // both go on from the same state
        memcpy(lf, ld, sizeof lf);
    }
}

START_TEST(test_every_loss) {
    for (int loss = 0; loss < AM_SSL_COUNT; loss++) {
        double fd = 0, f32 = 0;
        for (int c = 0; c < NCASES; c++)
            for (int K = 2; K <= MAXK; K += 3) loss_case(loss, c, K, &fd, &f32);
        printf("  %s: gradient vs finite differences worst %.1f%% of tolerance; float step vs double worst %.1f%%\n",
               am_ssl_name(loss), fd, f32);
    }
}
END_TEST

// The state travels in the checkpoint; another loss's checkpoint is refused.
START_TEST(test_state_checkpoint) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/am_ssl_ckpt_%d.amck", (int)getpid());
    for (int loss = 0; loss < AM_SSL_COUNT; loss++) {
        am_train_hparams hp = am_train_defaults();
        hp.batch = 1;
        hp.mu = U;
        hp.ssl.loss = loss;
        hp.ssl.ema_p = 0.5f;
        am_trainer *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
        ck_assert(am_trainer_init(a, "lite0", 3, 2, 1, &hp) == 0 && am_trainer_init(b, "lite0", 3, 2, 1, &hp) == 0);
        am_trainer_set_images(a, 2 * U);
        am_trainer_set_images(b, 2 * U);
        a->ssl_unlabelled = 2 * U;
        double z[2 * U * 2];
        float zf[(1 + 2 * U) * 2], dz[(1 + 2 * U) * 2];
        int y = 1, idx[U];
        for (int step = 0; step < 2; step++) {
            make_logits(z, MIXED, 2, step);
            zf[0] = 1, zf[1] = -1;
            for (int i = 0; i < 2 * U * 2; i++) zf[2 + i] = (float)z[i];
            step_images(idx, step);
            am_ssl_images img = {idx, a->ssl_label, a->ssl_nimages, a->ssl_unlabelled};
            ssl_forward_backward(dz, zf, &y, 1, U, 2, &a->ssl, &img, &hp.ssl);
        }
        ck_assert(memcmp(&a->ssl, &b->ssl, sizeof a->ssl) || loss == AM_SSL_fixmatch);
        ck_assert_msg(am_checkpoint_save(a, path, "", "") == 0, "%s", am_error());
        ck_assert_msg(am_checkpoint_load(b, path, NULL, NULL) == 0, "%s", am_error());
        ck_assert_msg(!memcmp(&a->ssl, &b->ssl, sizeof a->ssl), "%s: the state changed in the checkpoint",
                      am_ssl_name(loss));
        ck_assert(!a->ssl_label == !b->ssl_label);
        ck_assert_msg(!a->ssl_label || !memcmp(a->ssl_label, b->ssl_label, sizeof(int) * 2 * U),
                      "%s: the state per image changed in the checkpoint", am_ssl_name(loss));
        am_trainer_free(b);
        hp.ssl.loss = (loss + 1) % AM_SSL_COUNT;
        ck_assert(am_trainer_init(b, "lite0", 3, 2, 1, &hp) == 0);
        am_trainer_set_images(b, 2 * U);
        am_ssl_state before = b->ssl;
        ck_assert_int_eq(am_checkpoint_load(b, path, NULL, NULL), -1);
        char want[96];
        snprintf(want, sizeof want, "was trained with --loss %s, not %s", am_ssl_name(loss), am_ssl_name(hp.ssl.loss));
        ck_assert_msg(strstr(am_error(), want), "%s", am_error());
        ck_assert(!memcmp(&before, &b->ssl, sizeof before));
        am_trainer_free(a);
        am_trainer_free(b);
        free(a);
        free(b);
    }
    unlink(path);
}
END_TEST

// A float32 tensor of the golden file as doubles, of n elements.
static void golden(double *dst, const am_tfile *f, const char *name, size_t n) {
    const am_tentry *e = am_tfile_find(f, name);
    ck_assert_msg(e && e->n == n, "golden '%s' missing or not of %zu elements", name, n);
    for (size_t i = 0; i < n; i++) dst[i] = e->data[i];
}

START_TEST(test_semilearn_steps) {
    am_tfile f;
    ck_assert_msg(am_tfile_read(&f, "golden/ssl_semilearn.amg", "AMGD") == 0, "%s", am_error());
    int cases = 0;
    double worst = 0;
    for (int c = 0;; c++) {
        char name[64], what[96];
        snprintf(name, sizeof name, "c%d.hp", c);
        if (!am_tfile_find(&f, name)) break;
        double h[9];
        golden(h, &f, name, 9);
        const int K = (int)h[1], N = 8;
        am_ssl_hp hp = am_train_defaults().ssl;
        hp.loss = (int)h[0];
        hp.ema_p = (float)h[2], hp.lambda_e = (float)h[3], hp.n_sigma = (float)h[4], hp.tau = (float)h[5];
        hp.T = (float)h[6];
        hp.warmup = (int)h[7];
        am_ssl_state st = {{0}};
        am_ssl_init(&st, K, &hp);
        int label[64], idx[8];
        for (int i = 0; i < 64; i++) label[i] = -1;
        am_ssl_images img = {idx, label, (int)h[8], (int)h[8]};
        ck_assert(img.n <= 64);
        for (int k = 0; k < 3; k++) {
            double z[2 * 8 * 3], dzs[8 * 3], P[8 * 3], W[8], w[8], ref[8 * 3], state[AM_SSL_STATE_FLOATS], out[3], v,
                di[8];
            char p[32];
            snprintf(p, sizeof p, "c%d.s%d.", c, k);
            snprintf(what, sizeof what, "semilearn %s, %d classes, ema_p %g, step %d", am_ssl_name(hp.loss), K,
                     hp.ema_p, k);
#define G(dst, field, n) (snprintf(name, sizeof name, "%s%s", p, field), golden(dst, &f, name, n))
            G(z, "zw", (size_t)N * K);
            G(z + N * K, "zs", (size_t)N * K);
            G(di, "idx", N);
            for (int i = 0; i < N; i++) idx[i] = (int)di[i];
            ssl_step(out, dzs, P, W, z, z + N * K, N, K, &st, &img, &hp);
            cmp_result r = {0};
            G(w, "w", N);
            for (int i = 0; i < N; i++) cmp_add(&r, "weight", (size_t)i, W[i], w[i], 1e-6);
            G(&v, "loss_u", 1);
            cmp_add(&r, "loss_u", 0, out[0], v, 1e-7 + 1e-5 * fabs(v));
            G(&v, "loss_e", 1);
            cmp_add(&r, "loss_e", 0, out[1], v, 1e-7 + 1e-5 * fabs(v));
            G(ref, "dzs", (size_t)N * K);
            for (int i = 0; i < N * K; i++) cmp_add(&r, "dzs", (size_t)i, dzs[i], ref[i], 1e-8 + 1e-5 * fabs(ref[i]));
            G(state, "state", AM_SSL_STATE_FLOATS);
            for (int i = 0; i < AM_SSL_STATE_FLOATS; i++)
                cmp_add(&r, "state", (size_t)i, st.f[i], state[i], 1e-7 + 1e-5 * fabs(state[i]));
#undef G
            ck_assert_msg(cmp_end(&r, what), "%s: not semilearn's step", what);
            worst = r.pct > worst ? r.pct : worst;
        }
        cases++;
    }
    ck_assert_int_ge(cases, 8);
    printf("  semilearn 0.3.2: %d cases of 3 steps, worst %.1f%% of tolerance\n", cases, worst);
    am_tfile_free(&f);
}
END_TEST

Suite *suite_ssl(void) {
    Suite *s = suite_create("ssl");
    TCase *tc = tcase_create("losses");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_loss);
    tcase_add_test(tc, test_state_checkpoint);
    tcase_add_test(tc, test_semilearn_steps);
    suite_add_tcase(s, tc);
    return s;
}
