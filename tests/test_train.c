// FixMatch training: one trainer step against the PyTorch golden
// (tests/ref/make_step_golden.py), the fused FixMatch loss against a double
// reference with finite differences, SGD / AdamW / EMA against double
// references, bit-exact resume from a checkpoint, the checkpoint's layout and
// errors, and the choice of device and precision (auto falls back to the CPU
// without a GPU).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "am/config.h"
#include "am/device.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/ops.h"
#include "am/philox.h"
#include "am/tfile.h"
#include "am/train.h"
#include "am/weights.h"
#include "test.h"

#define STEP_GOLDEN "golden/fixmatch_step.amg"
#define SUB 32             // the golden keeps every SUB-th element of gradients and after-step tensors
#define ULP (1.0 / 8388608.0)  // 2^-23, float32 relative rounding (two half-ulps)

// ---- helpers ----------------------------------------------------------------

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static const float *gget(const am_tfile *g, const char *name, size_t n) {
    const am_tentry *e = am_tfile_find(g, name);
    ck_assert_msg(e != NULL, "golden lacks '%s'", name);
    ck_assert_msg(e->n == n, "golden '%s' has %zu elements, expected %zu", name, e->n, n);
    return e->data;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static double max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

// Ends a comparison judged element by element and prints its worst element.
static int judged(cmp_result *r, const char *what) {
    int ok = cmp_end(r, what);
    printf("  %s: worst %.1f%% of tolerance\n", what, r->pct);
    fflush(stdout);
    return ok;
}

// ---- (a) one trainer step against PyTorch -------------------------------------

// Fills the live model (init:), the momentum buffers (vinit:, hashing
// "v:<param>") and the EMA parameters (emainit:, hashing "ema:<param>") by the
// golden rule of weights/FORMAT.md, as tests/ref/make_step_golden.py does.
static void fill_from_golden(am_trainer *t, const am_tfile *g) {
    am_model *m = &t->model;
    char key[96], hname[96];
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *e = &m->tensors[i];
        snprintf(key, sizeof key, "init:%s", e->name);
        const float *c = gget(g, key, 2);
        golden_fill(am_model_data(m, e), e->n, e->name, c[0], c[1]);
        if (e->family != AM_PARAM) continue;
        ck_assert_msg(e->decay == (ends_with(e->name, ".conv") || ends_with(e->name, ".w")),
                      "%s: weight decay flag %d", e->name, e->decay);
        snprintf(key, sizeof key, "vinit:%s", e->name);
        snprintf(hname, sizeof hname, "v:%s", e->name);
        c = gget(g, key, 2);
        golden_fill(t->v + e->offset, e->n, hname, c[0], c[1]);
        snprintf(key, sizeof key, "emainit:%s", e->name);
        snprintf(hname, sizeof hname, "ema:%s", e->name);
        c = gget(g, key, 2);
        golden_fill(t->ema.params + e->offset, e->n, hname, c[0], c[1]);
    }
}

static float *dup_floats(const float *a, size_t n) {
    float *b = xmalloc(sizeof(float) * n);
    memcpy(b, a, sizeof(float) * n);
    return b;
}

START_TEST(test_step_golden) {
    am_tfile g;
    ck_assert_msg(am_tfile_read(&g, STEP_GOLDEN, "AMGD") == 0, "%s", am_error());
    const am_tentry *x = am_tfile_find(&g, "x");
    ck_assert_ptr_nonnull(x);
    int N = x->shape[0], S = x->shape[1], K = 2;
    // The golden's hyper-parameters are the Python tool's defaults.
    am_train_hparams hp = am_train_defaults();
    hp.batch = 2;
    hp.mu = 2;
    hp.ssl.tau = gget(&g, "tau", 1)[0];
    ck_assert(hp.ssl.lambda_u == gget(&g, "lambda_u", 1)[0]);
    ck_assert(hp.lr == gget(&g, "lr", 1)[0]);
    ck_assert(hp.momentum == gget(&g, "momentum", 1)[0]);
    ck_assert(hp.wd == gget(&g, "wd", 1)[0]);
    ck_assert(hp.ema == gget(&g, "ema_decay", 1)[0]);
    ck_assert(hp.optimizer == AM_OPT_SGD && hp.nesterov && hp.schedule == AM_LR_CONSTANT && hp.ssl.T <= 0.0f);
    ck_assert_int_eq(N, hp.batch * (1 + 2 * hp.mu));

    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, "lite0", x->shape[3], K, 1, &hp), 0);
    fill_from_golden(t, &g);
    t->model.dropout = 0.0f;
    t->model.drop_connect = 0.0f;
    size_t np = t->model.nparams, ns = t->model.nstats;
    float *p0 = dup_floats(t->model.params, np), *v0 = dup_floats(t->v, np);
    float *e0 = dup_floats(t->ema.params, np), *s0 = dup_floats(t->model.stats, ns);
    const float *yf = gget(&g, "y", hp.batch);
    int y[2] = {(int)yf[0], (int)yf[1]};

    am_ssl_stats st = am_train_step(t, x->data, y, S);
    ck_assert(t->step == 1);

    // Logits: at 32 px the float32 forward drifts from float64 by up to ~1e-4
    // at the head (batch statistics over 10 and 40 values per channel;
    // PyTorch's own float32 forward drifts as much), so they are judged like
    // the gradients, against the largest logit.
    cmp_result c = cmp_scaled("logits", t->model.acts.logits, gget(&g, "logits", (size_t)N * K), (size_t)N * K,
                              2e-4, 1e-3);
    int ok = c.ok;
    printf("  step logits: worst %.1f%% of tolerance\n", c.pct);
    ok &= cmp_close("loss", &st.loss, gget(&g, "loss", 1), 1, 1e-6, 1e-4).ok;
    ok &= cmp_close("loss_x", &st.loss_x, gget(&g, "loss_x", 1), 1, 1e-6, 1e-4).ok;
    ok &= cmp_close("loss_u", &st.loss_u, gget(&g, "loss_u", 1), 1, 1e-6, 1e-4).ok;
    ck_assert_msg(st.mask_rate == gget(&g, "mask_rate", 1)[0], "mask rate %g, PyTorch %g", st.mask_rate,
                  gget(&g, "mask_rate", 1)[0]);
    ck_assert_msg(st.mask_rate > 0.0f && st.mask_rate < 1.0f, "the golden's tau should split the mask");
    printf("  step loss %.7g (x %.7g, u %.7g), mask rate %g, tau %.7g\n", st.loss, st.loss_x, st.loss_u,
           st.mask_rate, hp.ssl.tau);

    // Gradients (subsampled) as tests/test_model.c judges them; running statistics,
    // and the subsampled parameters, momentum buffers and EMA after the step,
    // judged on the update (value - value before) with the gradient tolerance
    // carried through the update formulas.
    double lr = hp.lr, mom = hp.momentum, d = hp.ema, worst_grad = 0.0;
    cmp_result jp = {0}, jv = {0}, je = {0}, js = {0}, jc = {0};
    char key[96];
    for (int i = 0; i < t->model.ntensors; i++) {
        const am_tensor *e = &t->model.tensors[i];
        if (e->family == AM_STAT) {
            snprintf(key, sizeof key, "after:%s", e->name);
            const float *ref = gget(&g, key, e->n), *got = t->model.stats + e->offset, *b = s0 + e->offset;
            double amax = 0.0;
            for (size_t k = 0; k < e->n; k++) amax = fmax(amax, fabs((double)ref[k] - b[k]));
            for (size_t k = 0; k < e->n; k++) {
                double dr = (double)ref[k] - b[k];
                double tol = ULP * (fabs(ref[k]) + fabs(b[k])) + 2e-4 * amax + 1e-3 * fabs(dr);
                cmp_add(&js, e->name, k, got[k], ref[k], tol);
            }
            continue;
        }
        // The golden keeps every SUB-th gradient element (the full gradients
        // are checked by the model goldens of tests/test_model.c).
        size_t nsub = (e->n + SUB - 1) / SUB;
        snprintf(key, sizeof key, "grad:%s", e->name);
        const float *gref = gget(&g, key, nsub), *ggot = t->model.grads + e->offset;
        double gmax = max_abs(gref, nsub);
        if (ends_with(e->name, ".beta")) {
            char gname[96];
            snprintf(gname, sizeof gname, "grad:%.*s.gamma", (int)(strlen(e->name) - 5), e->name);
            gmax = fmax(gmax, max_abs(gget(&g, gname, nsub), nsub));
        }
        float *gsub = malloc(sizeof(float) * nsub);
        for (size_t j = 0; j < nsub; j++) gsub[j] = ggot[j * SUB];
        c = cmp_close(key, gsub, gref, nsub, 2e-4 * gmax, 1e-3);
        ok &= c.ok;
        free(gsub);
        worst_grad = fmax(worst_grad, c.pct);

        double wd = e->decay ? hp.wd : 0.0;
        snprintf(key, sizeof key, "after:%s", e->name);
        const float *pref = gget(&g, key, nsub);
        snprintf(key, sizeof key, "vafter:%s", e->name);
        const float *vref = gget(&g, key, nsub);
        snprintf(key, sizeof key, "emaafter:%s", e->name);
        const float *eref = gget(&g, key, nsub);
        const float *P = t->model.params + e->offset, *V = t->v + e->offset, *E = t->ema.params + e->offset;
        const float *P0 = p0 + e->offset, *V0 = v0 + e->offset, *E0 = e0 + e->offset;
        for (size_t j = 0; j < nsub; j++) {
            size_t k = j * SUB;
            double gt = 2e-4 * gmax + 1e-3 * fabs(gref[j]);
            double vt = ULP * (fabs(vref[j]) + mom * fabs(V0[k]) + wd * fabs(P0[k])) + gt;
            double pt = ULP * (fabs(pref[j]) + fabs(P0[k])) + lr * (gt + mom * vt);
            double et = ULP * (fabs(eref[j]) + fabs(E0[k])) + (1.0 - d) * pt;
            cmp_add(&jv, e->name, k, V[k], vref[j], vt);
            cmp_add(&jp, e->name, k, P[k], pref[j], pt);
            cmp_add(&je, e->name, k, E[k], eref[j], et);
        }
        // The optimiser and EMA applied to the C gradient reproduce torch's
        // formulas to float32 rounding, on every element.
        for (size_t k = 0; k < e->n; k++) {
            double gg = (double)ggot[k] + wd * P0[k];
            double v1 = mom * V0[k] + gg;
            double p1 = P0[k] - lr * (gg + mom * v1);
            double e1 = d * E0[k] + (1.0 - d) * P[k];
            double vs = mom * fabs(V0[k]) + fabs(ggot[k]) + wd * fabs(P0[k]);
            cmp_add(&jc, e->name, k, V[k], v1, 8.0 * ULP * vs);
            cmp_add(&jc, e->name, k, P[k], p1, 8.0 * ULP * (fabs(P0[k]) + lr * (vs + mom * (fabs(v1) + vs))));
            cmp_add(&jc, e->name, k, E[k], e1, 8.0 * ULP * (fabs(E0[k]) + fabs(P[k])));
        }
    }
    printf("  step gradients: worst %.1f%% of tolerance\n", worst_grad);
    ck_assert_msg(ok, "logits, losses or gradients differ from PyTorch");
    ok &= judged(&js, "running statistics after the forward");
    ok &= judged(&jv, "momentum buffers after the step");
    ok &= judged(&jp, "params after the step");
    ok &= judged(&je, "EMA params after the step");
    ok &= judged(&jc, "update from the C gradient vs the torch SGD/EMA formula (full tensors)");
    ck_assert_msg(ok, "the state after the step differs from PyTorch");
    ck_assert_msg(!memcmp(t->ema.stats, t->model.stats, sizeof(float) * ns),
                  "EMA BN statistics are not a copy of the live model's");
    free(p0);
    free(v0);
    free(e0);
    free(s0);
    am_trainer_free(t);
    free(t);
    am_tfile_free(&g);
}
END_TEST

// ---- (b) the fused FixMatch loss against a double reference -----------------

// L = mean_B CE(z_x, y) + lambda/U * sum_U mask * CE(z_s, target), the weak
// rows giving mask = max softmax(z_w) >= tau and target = one-hot(first
// argmax) (T <= 0) or softmax(z_w / T). Written from SPEC.md section 3.
// d (may be NULL) gets dL/dz, zero on the weak rows.
typedef struct { double loss, lx, lu, rate; } fm_ref;

static double ce_soft(double *grad, const double *z, const double *target, int K, double scale) {
    double m = z[0], s = 0.0, loss = 0.0;
    for (int k = 1; k < K; k++) m = fmax(m, z[k]);
    for (int k = 0; k < K; k++) s += exp(z[k] - m);
    double lse = m + log(s);
    for (int k = 0; k < K; k++) {
        loss += target[k] * (lse - z[k]);
        if (grad) grad[k] = scale * (exp(z[k] - lse) - target[k]);
    }
    return loss;
}

static fm_ref fixmatch_ref(double *d, const double *z, const int *y, int B, int U, int K, double tau,
                           double lambda, double T) {
    fm_ref r = {0};
    double target[64], gbuf[64];
    for (int i = 0; i < B; i++) {
        for (int k = 0; k < K; k++) target[k] = k == y[i];
        r.lx += ce_soft(d ? d + (size_t)i * K : gbuf, z + (size_t)i * K, target, K, 1.0 / B);
    }
    if (d) memset(d + (size_t)B * K, 0, sizeof(double) * U * K);
    for (int i = 0; i < U; i++) {
        const double *zw = z + (size_t)(B + i) * K, *zs = z + (size_t)(B + U + i) * K;
        double m = zw[0], s = 0.0;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (zw[k] > m) { m = zw[k]; arg = k; }
        for (int k = 0; k < K; k++) s += exp(zw[k] - m);
        int keep = 1.0 / s >= tau;
        if (T > 0.0) {
            double st = 0.0;
            for (int k = 0; k < K; k++) st += exp((zw[k] - m) / T);
            for (int k = 0; k < K; k++) target[k] = exp((zw[k] - m) / T) / st;
        } else {
            for (int k = 0; k < K; k++) target[k] = k == arg;
        }
        double *dz = d ? d + (size_t)(B + U + i) * K : gbuf;
        double l = ce_soft(dz, zs, target, K, keep ? lambda / U : 0.0);
        r.lu += keep ? l : 0.0;
        r.rate += keep;
    }
    r.lx = B ? r.lx / B : 0.0;
    r.lu = U ? r.lu / U : 0.0;
    r.rate = U ? r.rate / U : 0.0;
    r.loss = r.lx + lambda * r.lu;
    return r;
}

// Weak row kinds: 0 confident (one logit 6 above the rest), 1 uncertain (all
// in [-0.5, 0.5]), 2 tie (two equal maxima at 4, the rest in [-1, 0]; for
// K = 2 both logits equal), 3 confident in another class.
static void make_logits(float *z, int B, int U, int K, uint64_t seed) {
    int rows = B + 2 * U;
    for (int i = 0; i < rows * K; i++) z[i] = 6.0f * am_rand_u01(seed, 0, 0, (uint32_t)i) - 3.0f;
    for (int i = 0; i < U; i++) {
        float *w = z + (size_t)(B + i) * K;
        int kind = i % 4, c = (int)(am_rand_u32(seed, 1, 0, (uint32_t)i) % (uint32_t)K);
        for (int k = 0; k < K; k++) {
            float u = am_rand_u01(seed, 2, 0, (uint32_t)(i * K + k));
            w[k] = kind == 1 ? u - 0.5f : kind == 2 ? -u : 2.0f * u - 1.0f;
        }
        if (kind == 0) w[c] = 6.0f + w[c];
        if (kind == 3) w[(c + 1) % K] = 6.0f;
        if (kind == 2) {
            if (K == 2) w[0] = w[1] = 0.75f;
            else { w[c] = 4.0f; w[(c + 1 + c % (K - 1)) % K] = 4.0f; }
        }
    }
}

static void loss_near(const char *what, const char *name, double got, double ref) {
    ck_assert_msg(cmp_pct(got, ref, 1e-6 + 1e-5 * fabs(ref)) <= 100.0, "%s: %s %.9g vs %.9g", what, name, got, ref);
}

static void fixmatch_case(int B, int U, int K, float tau, float lambda, float T, uint64_t seed) {
    int rows = B + 2 * U;
    size_t n = (size_t)rows * K;
    float *z = xmalloc(sizeof(float) * n), *dz = xmalloc(sizeof(float) * n);
    double *zd = xmalloc(sizeof(double) * n), *dref = xmalloc(sizeof(double) * n);
    int y[16];
    ck_assert(B <= 16);
    make_logits(z, B, U, K, seed);
    for (int i = 0; i < B; i++) y[i] = (int)(am_rand_u32(seed, 3, 0, (uint32_t)i) % (uint32_t)K);
    for (size_t i = 0; i < n; i++) { zd[i] = z[i]; dz[i] = 123.0f; }
    am_ssl_hp hp = {.loss = AM_SSL_fixmatch, .tau = tau, .T = T, .lambda_u = lambda};
    am_ssl_state state;
    am_ssl_init(&state, K, &hp);
    am_ssl_stats st = ssl_forward_backward(dz, z, y, B, U, K, &state, NULL, &hp);
    fm_ref r = fixmatch_ref(dref, zd, y, B, U, K, tau, lambda, T);
    char what[128];
    snprintf(what, sizeof what, "fixmatch B=%d U=%d K=%d tau=%g lambda=%g T=%g", B, U, K, tau, lambda, T);
    ck_assert_msg(st.mask_rate == (float)r.rate, "%s: mask rate %g, reference %g", what, st.mask_rate, r.rate);
    loss_near(what, "loss_x", st.loss_x, r.lx);
    loss_near(what, "loss_u", st.loss_u, r.lu);
    loss_near(what, "loss", st.loss, r.loss);
    // Weak rows: exactly zero gradient (assigned over the 123 fill).
    for (size_t i = (size_t)B * K; i < (size_t)(B + U) * K; i++)
        ck_assert_msg(dz[i] == 0.0f, "%s: weak-row gradient [%zu] = %g", what, i, dz[i]);
    // Labelled and strong rows: the analytic reference and central
    // differences of the double loss (weak rows held fixed).
    cmp_result c = {0};
    for (size_t i = 0; i < n; i++) {
        if (i >= (size_t)B * K && i < (size_t)(B + U) * K) continue;
        double h = 1e-6, keep = zd[i];
        zd[i] = keep + h;
        double lp = fixmatch_ref(NULL, zd, y, B, U, K, tau, lambda, T).loss;
        zd[i] = keep - h;
        double lm = fixmatch_ref(NULL, zd, y, B, U, K, tau, lambda, T).loss;
        zd[i] = keep;
        double fd = (lp - lm) / (2.0 * h);
        ck_assert_msg(cmp_pct(fd, dref[i], 1e-7 + 1e-6 * fabs(dref[i])) <= 100.0,
                      "%s: reference gradient [%zu] %.12g vs FD %.12g", what, i, dref[i], fd);
        cmp_add(&c, "dlogits vs finite differences", i, dz[i], fd, 1e-7 + 1e-5 * fabs(fd));
    }
    ck_assert_msg(cmp_end(&c, what), "%s: gradient off", what);
    printf("  %s: mask rate %.3g, gradient worst %.1f%% of tolerance\n", what, r.rate, c.pct);
    fflush(stdout);
    free(z);
    free(dz);
    free(zd);
    free(dref);
}

START_TEST(test_fixmatch_loss) {
    // K = 2, hard labels: confident rows above tau, uncertain and tie rows below.
    fixmatch_case(3, 8, 2, 0.95f, 1.0f, 0.0f, 11);
    // tau = 0.5: a K = 2 tie has max probability exactly 0.5 and is kept,
    // with the first class as its target.
    fixmatch_case(3, 8, 2, 0.5f, 1.0f, 0.0f, 12);
    // K = 10: tie rows (two maxima) kept at tau 0.4 (first index wins),
    // uncertain rows dropped; another lambda.
    fixmatch_case(4, 8, 10, 0.4f, 0.7f, 0.0f, 13);
    fixmatch_case(4, 8, 10, 0.95f, 1.0f, 0.0f, 14);
    // Soft targets softmax(z_w / T), T = 0.5.
    fixmatch_case(3, 8, 2, 0.95f, 1.0f, 0.5f, 15);
    fixmatch_case(4, 8, 10, 0.4f, 1.0f, 0.5f, 16);
    // Edge cases: no unlabelled rows, no labelled rows.
    fixmatch_case(4, 0, 2, 0.95f, 1.0f, 0.0f, 17);
    fixmatch_case(0, 4, 10, 0.4f, 1.0f, 0.0f, 18);

    // The tie rule by hand: K = 2 tie at tau 0.5 -> target class 0; K = 10
    // maxima at classes 3 and 7 -> target 3.
    float z2[6] = {0.0f, 0.0f, 1.25f, 1.25f, 0.3f, -0.2f}, d2[6];
    int y0 = 0;
    am_ssl_hp hp = {.loss = AM_SSL_fixmatch, .tau = 0.5f, .lambda_u = 1.0f};
    am_ssl_state state;
    am_ssl_init(&state, 10, &hp);
    am_ssl_stats st = ssl_forward_backward(d2, z2, &y0, 1, 1, 2, &state, NULL, &hp);
    ck_assert(st.mask_rate == 1.0f);
    ck_assert(d2[4] < 0.0f && d2[5] > 0.0f);  // pushed towards class 0
    float z10[20] = {0}, d10[20];
    z10[3] = z10[7] = 9.0f;  // weak row (B = 0, U = 1)
    for (int k = 0; k < 10; k++) z10[10 + k] = 0.1f * k;
    hp.tau = 0.45f;
    st = ssl_forward_backward(d10, z10, NULL, 0, 1, 10, &state, NULL, &hp);
    ck_assert(st.mask_rate == 1.0f);
    for (int k = 0; k < 10; k++) ck_assert_msg((d10[10 + k] < 0.0f) == (k == 3), "class %d: %g", k, d10[10 + k]);
    // Mask rate 0: the unlabelled loss and its gradient vanish.
    hp.tau = 0.9f;
    st = ssl_forward_backward(d10, z10, NULL, 0, 1, 10, &state, NULL, &hp);
    ck_assert(st.mask_rate == 0.0f && st.loss_u == 0.0f && st.loss == 0.0f);
    for (int k = 0; k < 20; k++) ck_assert(d10[k] == 0.0f);
}
END_TEST

// ---- (c) optimisers and EMA against double references -----------------------

#define OPT_N 45

static void opt_data(float *theta, float *g, uint8_t *decay, uint64_t seed, int step) {
    for (int i = 0; i < OPT_N; i++) {
        if (theta) theta[i] = 2.0f * am_rand_u01(seed, 0, 0, (uint32_t)i) - 1.0f;
        g[i] = i % 7 == 5 ? 0.0f : 2.0f * am_rand_u01(seed, 1, (uint64_t)step, (uint32_t)i) - 1.0f;
        if (decay) decay[i] = i % 3 != 0;
    }
}

static void sgd_case(int nesterov) {
    float theta[OPT_N], v[OPT_N], g[OPT_N];
    double td[OPT_N], vd[OPT_N];
    uint8_t decay[OPT_N];
    const float lr = 0.1f, mom = 0.9f, wd = 0.05f;
    opt_data(theta, g, decay, 21, 0);
    for (int i = 0; i < OPT_N; i++) {
        v[i] = 0.0f;
        td[i] = theta[i];
        vd[i] = 0.0;
    }
    double worst = 0.0;
    for (int step = 0; step < 5; step++) {
        opt_data(NULL, g, NULL, 21, step);
        sgd_update(theta, v, g, decay, OPT_N, lr, mom, wd, nesterov);
        cmp_result c = {0};
        for (int i = 0; i < OPT_N; i++) {
            double gg = (double)g[i] + (decay[i] ? (double)wd * td[i] : 0.0);
            vd[i] = (double)mom * vd[i] + gg;
            td[i] -= (double)lr * (nesterov ? gg + (double)mom * vd[i] : vd[i]);
            cmp_add(&c, "theta", i, theta[i], td[i], 1e-6 + 1e-5 * fabs(td[i]));
            cmp_add(&c, "v", i, v[i], vd[i], 1e-6 + 1e-5 * fabs(vd[i]));
        }
        ck_assert_msg(cmp_end(&c, "sgd"), "sgd nesterov=%d step %d off", nesterov, step);
        worst = fmax(worst, c.pct);
    }
    printf("  sgd nesterov=%d, 5 steps: worst %.1f%% of tolerance\n", nesterov, worst);
}

START_TEST(test_sgd) {
    sgd_case(1);
    sgd_case(0);
    // The decay mask: zero gradient and momentum, so only weight decay moves a
    // parameter, and only where decay[i] = 1.
    float theta[4] = {0.5f, 0.5f, -2.0f, -2.0f}, v[4] = {0}, g[4] = {0};
    uint8_t decay[4] = {1, 0, 1, 0};
    sgd_update(theta, v, g, decay, 4, 0.1f, 0.9f, 0.01f, 1);
    ck_assert(theta[1] == 0.5f && theta[3] == -2.0f && v[1] == 0.0f && v[3] == 0.0f);
    ck_assert(theta[0] < 0.5f && theta[2] > -2.0f && v[0] != 0.0f);
    // lr 1, mom 0.5, wd 0, v 4, g 1: v <- 0.5*4 + 1 = 3; Nesterov theta <- 3 -
    // (1 + 0.5*3) = 0.5, plain theta <- 3 - 3 = 0.
    float t1 = 3.0f, v1 = 4.0f, g1 = 1.0f;
    uint8_t d1 = 1;
    sgd_update(&t1, &v1, &g1, &d1, 1, 1.0f, 0.5f, 0.0f, 1);
    ck_assert(v1 == 3.0f && t1 == 0.5f);
    t1 = 3.0f;
    v1 = 4.0f;
    sgd_update(&t1, &v1, &g1, &d1, 1, 1.0f, 0.5f, 0.0f, 0);
    ck_assert(v1 == 3.0f && t1 == 0.0f);
}
END_TEST

START_TEST(test_adamw) {
    float theta[OPT_N], m[OPT_N], s[OPT_N], g[OPT_N];
    double td[OPT_N], md[OPT_N], sd[OPT_N];
    uint8_t decay[OPT_N];
    const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
    opt_data(theta, g, decay, 31, 0);
    for (int i = 0; i < OPT_N; i++) {
        m[i] = s[i] = 0.0f;
        td[i] = theta[i];
        md[i] = sd[i] = 0.0;
    }
    double worst = 0.0;
    for (int step = 1; step <= 6; step++) {
        opt_data(NULL, g, NULL, 31, step);
        adamw_update(theta, m, s, g, decay, OPT_N, lr, b1, b2, eps, wd, step);
        double c1 = 1.0 - pow(b1, step), c2 = 1.0 - pow(b2, step);
        cmp_result c = {0};
        for (int i = 0; i < OPT_N; i++) {
            md[i] = b1 * md[i] + (1.0 - b1) * g[i];
            sd[i] = b2 * sd[i] + (1.0 - b2) * (double)g[i] * g[i];
            if (decay[i]) td[i] -= (double)lr * wd * td[i];
            td[i] -= (double)lr * (md[i] / c1) / (sqrt(sd[i] / c2) + eps);
            cmp_add(&c, "theta", i, theta[i], td[i], 1e-6 + 1e-5 * fabs(td[i]));
            cmp_add(&c, "m", i, m[i], md[i], 1e-7 + 1e-5 * fabs(md[i]));
            cmp_add(&c, "s", i, s[i], sd[i], 1e-9 + 1e-5 * fabs(sd[i]));
        }
        ck_assert_msg(cmp_end(&c, "adamw"), "adamw step %d off", step);
        worst = fmax(worst, c.pct);
    }
    printf("  adamw, 6 steps: worst %.1f%% of tolerance\n", worst);
    // Decoupled decay only where decay[i] = 1: a zero gradient leaves the
    // other elements exactly in place.
    float t2[2] = {1.0f, 1.0f}, m2[2] = {0}, s2[2] = {0}, g2[2] = {0};
    uint8_t d2[2] = {1, 0};
    adamw_update(t2, m2, s2, g2, d2, 2, 0.1f, b1, b2, eps, 0.5f, 1);
    ck_assert(t2[1] == 1.0f && fabsf(t2[0] - 0.95f) < 1e-7f);
}
END_TEST

START_TEST(test_ema_and_lr) {
    float e[OPT_N], th[OPT_N], g[OPT_N];
    opt_data(e, g, NULL, 41, 0);
    opt_data(th, g, NULL, 42, 0);
    double ed[OPT_N];
    for (int i = 0; i < OPT_N; i++) ed[i] = e[i];
    for (int step = 0; step < 3; step++) {
        ema_update(e, th, OPT_N, 0.99f);
        cmp_result c = {0};
        for (int i = 0; i < OPT_N; i++) {
            ed[i] = (double)0.99f * ed[i] + (1.0 - (double)0.99f) * th[i];
            cmp_add(&c, "ema", i, e[i], ed[i], 4e-7);
        }
        ck_assert_msg(cmp_end(&c, "ema"), "ema step %d off", step);
    }
    float one = 2.0f, zero = 5.0f;
    ema_update(&one, &zero, 1, 1.0f);
    ck_assert(one == 2.0f);
    ema_update(&one, &zero, 1, 0.0f);
    ck_assert(one == 5.0f);
    // Learning-rate schedules: constant, and lr cos(7 pi k / (16 K)).
    am_train_hparams hp = am_train_defaults();
    ck_assert(am_train_lr(&hp, 0) == hp.lr && am_train_lr(&hp, 150) == hp.lr);
    hp.schedule = AM_LR_COSINE;
    hp.total_steps = 100;
    ck_assert(am_train_lr(&hp, 0) == hp.lr);
    ck_assert(fabs(am_train_lr(&hp, 100) - hp.lr * cos(7.0 * M_PI / 16.0)) < 1e-9);
    ck_assert(fabs(am_train_lr(&hp, 40) - hp.lr * cos(7.0 * M_PI * 40.0 / 1600.0)) < 1e-9);
}
END_TEST

// ---- (d) resume from a checkpoint is bit-identical --------------------------

#define RES_SEED 7
// A checkpoint's texts: a configuration with a `labels = ...` line (once
// read back as a label) and labels with a comma, quotes and spaces.
#define CK_CONFIG "arch = lite0\nlabels = labels.csv\nout = run 1\n"
#define CK_LABELS "filename,label\n\"a, \"\"b\"\" c.png\",anomaly\n\"= labels.csv\",normal\n"
#define RES_DATA 0xDA7Au
#define RES_S 32
#define RES_WEIGHTS "../weights/lite0.amw"
// With two classes a row's float32 cross-entropy log(1 + e^-m) is exactly 0,
// its gradient under 2^-24, once the logit margin m (largest minus the
// other) reaches 24 ln 2 (1 + e^-m rounds to 1 when e^-m <= 2^-24): a run
// past it has saturated, not learned.
#define RES_MARGIN_MAX (24.0 * M_LN2)

// The run starts as am_train does: the pretrained backbone and a new 2-class
// FC layer (U(+-1/sqrt(1280))), and its learning rate is the default scaled
// to the batch (linear scaling: 0.0075 is for B 16). From TF's
// initialisation (FC U(+-1/sqrt(2)): logits up to 18.6, margins 34, before
// the first step, whose gradient of norm 7.6e4 quadrupled the parameter
// norm) the run diverged, logits up to 90-206 and the loss exactly 0 on 5
// of 20 steps; from the pretrained start at lr 0.0075 margins reached 41.
static am_trainer *resume_trainer(uint64_t seed) {
    am_train_hparams hp = am_train_defaults();
    int B = 2;
    hp.lr *= (float)B / (float)hp.batch;
    hp.batch = B;
    hp.mu = 1;
    hp.ssl.tau = 0.6f;  // unlabelled rows pass the threshold (checked below)
    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, "lite0", 3, 2, seed, &hp), 0);
    ck_assert_msg(am_weights_load(&t->model, RES_WEIGHTS, seed) == 0, "%s", am_error());
    am_trainer_sync_ema(t);
    ck_assert(t->model.dropout > 0.0f && t->model.drop_connect > 0.0f);
    return t;
}

// One step's record: its statistics and the largest logit margin of its rows.
typedef struct {
    am_ssl_stats st;
    float margin;
} res_log;

static float top_margin(const float *z, int rows, int K) {
    float worst = 0.0f;
    for (int r = 0; r < rows; r++) {
        float a = -INFINITY, b = -INFINITY;
        for (int k = 0; k < K; k++) {
            float v = z[(size_t)r * K + k];
            if (v > a) { b = a; a = v; }
            else if (v > b) b = v;
        }
        worst = fmaxf(worst, a - b);
    }
    return worst;
}

// Steps [t->step, to): input batches and labels drawn from Philox keyed by the step.
static void resume_steps(am_trainer *t, uint64_t to, res_log *log) {
    int rows = t->hp.batch * (1 + 2 * t->hp.mu);
    size_t n = (size_t)rows * RES_S * RES_S * 3;
    float *x = xmalloc(sizeof(float) * n);
    int y[2];
    while (t->step < to) {
        uint64_t k = t->step;
        for (size_t i = 0; i < n; i++) x[i] = am_rand_u01(RES_DATA, 0, k, (uint32_t)i);
        for (int i = 0; i < t->hp.batch; i++) y[i] = (int)(am_rand_u32(RES_DATA, 1, k, (uint32_t)i) & 1u);
        log[k].st = am_train_step(t, x, y, RES_S);
        log[k].margin = top_margin(t->model.acts.logits, rows, t->model.arch.classes);
    }
    free(x);
}

static char *tmp_path(const char *tag) {
    char *p = xmalloc(64);
    snprintf(p, 64, "/tmp/am_%s_XXXXXX", tag);
    int fd = mkstemp(p);
    ck_assert(fd >= 0);
    close(fd);
    return p;
}

// The run is healthy: finite, non-zero losses, margins short of saturation,
// some unlabelled rows used, and every parameter tensor moved.
static void check_healthy_run(const res_log *l, int steps, const am_model *m, const float *p0) {
    float mr = 0.0f, margin = 0.0f;
    for (int k = 0; k < steps; k++) {
        const am_ssl_stats *s = &l[k].st;
        ck_assert_msg(isfinite(s->loss) && isfinite(s->loss_x) && isfinite(s->loss_u) && s->loss > 0.0f,
                      "step %d: loss %g (x %g, u %g)", k, s->loss, s->loss_x, s->loss_u);
        ck_assert_msg(l[k].margin < RES_MARGIN_MAX, "step %d: logit margin %g, saturated past %g", k, l[k].margin,
                      RES_MARGIN_MAX);
        mr += s->mask_rate;
        margin = fmaxf(margin, l[k].margin);
    }
    ck_assert(mr > 0.0f);
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *e = &m->tensors[i];
        if (e->family == AM_PARAM)
            ck_assert_msg(memcmp(m->params + e->offset, p0 + e->offset, sizeof(float) * e->n), "%s did not move",
                          e->name);
    }
    printf("  resume run: mean mask rate %.2f, last loss %.5g, largest logit margin %.3g (saturation %.3g)\n",
           mr / steps, l[steps - 1].st.loss, margin, RES_MARGIN_MAX);
}

START_TEST(test_resume_bit_identical) {
    res_log la[20], lb[20];
    am_trainer *a = resume_trainer(RES_SEED);
    float *p0 = dup_floats(a->model.params, a->model.nparams);
    resume_steps(a, 20, la);
    check_healthy_run(la, 20, &a->model, p0);
    free(p0);

    am_trainer *b = resume_trainer(RES_SEED);
    resume_steps(b, 10, lb);
    char *path = tmp_path("ckpt");
    ck_assert_msg(am_checkpoint_save(b, path, CK_CONFIG, CK_LABELS) == 0, "%s", am_error());
    am_trainer_free(b);
    free(b);
    // A fresh trainer with another seed (another FC layer): the checkpoint
    // restores weights, optimiser state, EMA, statistics, the step, the seed
    // and the two texts.
    am_trainer *c = resume_trainer(RES_SEED + 1000);
    char *config = NULL, *labels = NULL;
    ck_assert_msg(am_checkpoint_load(c, path, &config, &labels) == 0, "%s", am_error());
    ck_assert_str_eq(config, CK_CONFIG);
    ck_assert_str_eq(labels, CK_LABELS);
    free(config);
    free(labels);
    ck_assert(c->step == 10 && c->seed == RES_SEED);
    resume_steps(c, 20, lb);

    size_t np = a->model.nparams, ns = a->model.nstats;
    for (int k = 0; k < 20; k++)
        ck_assert_msg(!memcmp(&la[k], &lb[k], sizeof la[k]), "step %d: loss %.9g vs %.9g, mask %g vs %g", k,
                      la[k].st.loss, lb[k].st.loss, la[k].st.mask_rate, lb[k].st.mask_rate);
    ck_assert_msg(!memcmp(a->model.params, c->model.params, sizeof(float) * np), "params differ after resume");
    ck_assert_msg(!memcmp(a->model.stats, c->model.stats, sizeof(float) * ns), "BN statistics differ after resume");
    ck_assert_msg(!memcmp(a->ema.params, c->ema.params, sizeof(float) * np), "EMA params differ after resume");
    ck_assert_msg(!memcmp(a->ema.stats, c->ema.stats, sizeof(float) * ns), "EMA statistics differ after resume");
    ck_assert_msg(!memcmp(a->v, c->v, sizeof(float) * np * 2), "optimiser state differs after resume");
    ck_assert(a->step == 20 && c->step == 20);
    printf("  resume: 20 steps straight == 10 + checkpoint + 10 (bit-identical)\n");
    am_trainer_free(a);
    am_trainer_free(c);
    free(a);
    free(c);
    unlink(path);
    free(path);
}
END_TEST

// ---- (e) checkpoint layout and errors -------------------------------------------

// The file as src/train/checkpoint.c lays it out (weights/FORMAT.md): an am
// tensor file of version 2, magic AMCK, the model's architecture, channels
// and classes in its header; `step` and `seed` (u64 [1]), `config` and
// `labels` (text); then for each family of the trainer (live parameters and
// statistics, EMA parameters and statistics, v, s) one float32 entry per
// model tensor, named as the tensor (prefixed ema:, v:, s:), of its shape and
// exactly its elements (none of the padding); nothing else.
START_TEST(test_checkpoint_layout) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = 2;
    hp.mu = 1;
    hp.optimizer = AM_OPT_ADAMW;
    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, "lite0", 3, 2, 5, &hp), 0);
    const am_model *m = &t->model;
    float *fam[6] = {t->model.params, t->model.stats, t->ema.params, t->ema.stats, t->v, t->s};
    const int kind[6] = {AM_PARAM, AM_STAT, AM_PARAM, AM_STAT, AM_PARAM, AM_PARAM};
    const char *prefix[6] = {"", "", "ema:", "ema:", "v:", "s:"};
    uint64_t np = 0, ns = 0;
    for (int i = 0; i < m->ntensors; i++) *(m->tensors[i].family == AM_PARAM ? &np : &ns) += m->tensors[i].n;
    ck_assert_msg(np < m->nparams && ns < m->nstats, "no padding to leave out: the check could not tell");
    // Every family's tensors distinct values, the padding too.
    for (int f = 0; f < 6; f++) {
        size_t n = kind[f] == AM_PARAM ? m->nparams : m->nstats;
        for (size_t j = 0; j < n; j++) fam[f][j] = am_rand_u01(0xC4EC, (uint32_t)f, 0, (uint32_t)j);
    }
    t->step = 12;
    char *path = tmp_path("cklayout");
    ck_assert_msg(am_checkpoint_save(t, path, CK_CONFIG, CK_LABELS) == 0, "%s", am_error());
    am_tfile f;
    ck_assert_msg(am_tfile_read(&f, path, "AMCK") == 0, "%s", am_error());
    ck_assert(f.version == 2 && !strcmp(f.arch, "lite0") && f.in_ch == 3 && f.classes == 2);
    const am_tentry *step = am_tfile_find(&f, "step"), *seed = am_tfile_find(&f, "seed");
    ck_assert(step && step->type == AM_TF_U64 && step->n == 1 && step->u64[0] == 12);
    ck_assert(seed && seed->type == AM_TF_U64 && seed->n == 1 && seed->u64[0] == 5);
    const char *texts[2][2] = {{"config", CK_CONFIG}, {"labels", CK_LABELS}};
    for (int k = 0; k < 2; k++) {
        const am_tentry *e = am_tfile_find(&f, texts[k][0]);
        ck_assert_msg(e && e->type == AM_TF_U8 && e->n == strlen(texts[k][1]) && !memcmp(e->u8, texts[k][1], e->n),
                      "the %s text", texts[k][0]);
    }
    // The consistency loss's name and state.
    const am_tentry *ln = am_tfile_find(&f, "ssl_loss"), *ls = am_tfile_find(&f, "ssl_state");
    ck_assert(ln && ln->type == AM_TF_U8 && ln->n == strlen("fixmatch") && !memcmp(ln->u8, "fixmatch", ln->n));
    ck_assert(ls && ls->type == AM_TF_F32 && ls->n == AM_SSL_STATE_FLOATS && !memcmp(ls->data, t->ssl.f, sizeof t->ssl.f));
    int entries = 6;
    uint64_t packed = 0;
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < m->ntensors; i++) {
            const am_tensor *x = &m->tensors[i];
            if (x->family != kind[k]) continue;
            char name[80];
            snprintf(name, sizeof name, "%s%s", prefix[k], x->name);
            const am_tentry *e = am_tfile_find(&f, name);
            ck_assert_msg(e && e->type == AM_TF_F32 && e->ndim == x->ndim &&
                          !memcmp(e->shape, x->shape, sizeof e->shape) && e->n == x->n,
                          "entry '%s' missing or not of the tensor's type and shape", name);
            ck_assert_msg(!memcmp(e->data, fam[k] + x->offset, sizeof(float) * x->n), "entry '%s' holds other values",
                          name);
            entries++;
            packed += e->n;
        }
    ck_assert_msg(f.ntensors == entries, "%d entries, expected %d", f.ntensors, entries);
    ck_assert_msg(packed == 4 * np + 2 * ns, "%llu elements stored; the tensors have %llu", (unsigned long long)packed,
                  (unsigned long long)(4 * np + 2 * ns));
    am_tfile_free(&f);
    unlink(path);
    free(path);
    am_trainer_free(t);
    free(t);
}
END_TEST

static void write_all(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

// A load that fails: -1, a message with the path and a and b, the trainer
// and the text pointers untouched.
static void expect_load_error(am_trainer *t, const char *path, const char *a, const char *b) {
    size_t np = t->model.nparams;
    float *before = dup_floats(t->model.params, np), *v = dup_floats(t->v, np);
    uint64_t step = t->step;
    char *config = NULL, *labels = NULL;
    ck_assert_int_eq(am_checkpoint_load(t, path, &config, &labels), -1);
    ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), a) && (!b || strstr(am_error(), b)),
                  "message '%s' lacks the path, '%s' or '%s'", am_error(), a, b ? b : "");
    printf("  load error: %s\n", am_error());
    ck_assert_msg(!memcmp(before, t->model.params, sizeof(float) * np) && !memcmp(v, t->v, sizeof(float) * np) &&
                  t->step == step && !config && !labels, "a failed load changed the trainer or the texts");
    free(before);
    free(v);
}

static am_trainer *ck_trainer(const char *arch, int in_ch, int optimizer, uint64_t seed) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = 2;
    hp.mu = 1;
    hp.optimizer = optimizer;
    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, arch, in_ch, 2, seed, &hp), 0);
    return t;
}

static void free_trainer(am_trainer *t) {
    am_trainer_free(t);
    free(t);
}

// The checkpoint at src rewritten with a valid CRC: its last entry left out
// (drop), or the entry `retype` made bytes.
static void rewrite(const char *src, const char *dst, int drop, const char *retype) {
    am_tfile f;
    ck_assert_msg(am_tfile_read(&f, src, "AMCK") == 0, "%s", am_error());
    am_tentry *e = xmalloc(sizeof *e * (size_t)f.ntensors);
    memcpy(e, f.t, sizeof *e * (size_t)f.ntensors);
    for (int i = 0; retype && i < f.ntensors; i++)
        if (!strcmp(e[i].name, retype)) {
            e[i].n *= 8;
            e[i].shape[0] *= 8;
            e[i].type = AM_TF_U8;
        }
    ck_assert_msg(am_tfile_write(dst, "AMCK", f.arch, f.in_ch, f.classes, e, f.ntensors - drop) == 0, "%s",
                  am_error());
    free(e);
    am_tfile_free(&f);
}

START_TEST(test_checkpoint_errors) {
    am_trainer *t = ck_trainer("lite0", 3, AM_OPT_SGD, 5);
    t->step = 3;
    char *good = tmp_path("ckgood"), *bad = tmp_path("ckbad");
    ck_assert_msg(am_checkpoint_save(t, good, "cfg", NULL) == 0, "%s", am_error());
    size_t n;
    unsigned char *b = (unsigned char *)test_read_file(good, &n);
    ck_assert(n > 1000);
    am_trainer *u = ck_trainer("lite0", 3, AM_OPT_SGD, 6);

    // Truncated (in the data and inside the header), one flipped byte.
    write_all(bad, b, n - 1000);
    expect_load_error(u, bad, "truncated", NULL);
    write_all(bad, b, 30);
    expect_load_error(u, bad, "truncated", NULL);
    b[n / 2] ^= 0x10;
    write_all(bad, b, n);
    b[n / 2] ^= 0x10;
    expect_load_error(u, bad, "checksum", NULL);
    // Wrong magic, a newer format.
    b[0] = 'X';
    write_all(bad, b, n);
    b[0] = 'A';
    expect_load_error(u, bad, "not an am checkpoint", NULL);
    b[4] = 3;
    write_all(bad, b, n);
    b[4] = 2;
    expect_load_error(u, bad, "format version 3, newer", "update am");
    // A checkpoint of an older am: version 1, its own layout (a 60-byte
    // header: magic, version, step, seed, arch, counts, text length; the
    // text; the families; CRC-32).
    unsigned char old[60 + 3 + 8 + 4] = "AMCK\1\0\0\0\3";
    memcpy(old + 24, "lite0", 5);
    old[56] = 3;
    memcpy(old + 60, "cfg", 3);
    uint32_t crc = (uint32_t)crc32(0L, old, (uInt)(sizeof old - 4));
    memcpy(old + sizeof old - 4, &crc, 4);
    write_all(bad, old, sizeof old);
    expect_load_error(u, bad, "checkpoint format version 1 from an older am", "retrain");
    // Intact files that are not a checkpoint of this model: an entry missing,
    // the step not a u64.
    rewrite(good, bad, 1, NULL);
    expect_load_error(u, bad, "no float32 tensor 'v:fc.b'", NULL);
    rewrite(good, bad, 0, "step");
    expect_load_error(u, bad, "no 'step'", NULL);
    // Missing file.
    unlink(bad);
    expect_load_error(u, bad, "cannot open", NULL);
    // Another architecture, another channel count, another optimiser.
    am_trainer *w = ck_trainer("b0", 3, AM_OPT_SGD, 5);
    expect_load_error(w, good, "lite0", "b0");
    free_trainer(w);
    w = ck_trainer("lite0", 1, AM_OPT_SGD, 5);
    expect_load_error(w, good, "3 channels", "1 channels");
    free_trainer(w);
    w = ck_trainer("lite0", 3, AM_OPT_ADAMW, 5);
    expect_load_error(w, good, "no AdamW state", "--optimizer sgd");
    ck_assert_msg(am_checkpoint_save(w, bad, NULL, NULL) == 0, "%s", am_error());
    expect_load_error(u, bad, "holds AdamW state", "--optimizer adamw");
    free_trainer(w);
    // The intact file still loads, the texts included (labels absent: "").
    char *config = NULL, *labels = NULL;
    ck_assert_msg(am_checkpoint_load(u, good, &config, &labels) == 0, "%s", am_error());
    ck_assert_str_eq(config, "cfg");
    ck_assert_str_eq(labels, "");
    free(config);
    free(labels);
    ck_assert(u->step == 3 && u->seed == 5 && !memcmp(u->model.params, t->model.params, sizeof(float) * t->model.nparams));

    // Failed saves leave the previous checkpoint loadable and unchanged.
    ck_assert_int_eq(am_checkpoint_save(t, "/nonexistent-dir/ck.amck", NULL, NULL), -1);
    ck_assert_msg(strstr(am_error(), "/nonexistent-dir/ck.amck"), "%s", am_error());
    if (access("/dev/full", W_OK) == 0) {
        char link[96];
        snprintf(link, sizeof link, "%s.tmp.%d", good, (int)getpid());
        ck_assert_int_eq(symlink("/dev/full", link), 0);
        t->step = 99;
        t->model.params[0] += 1.0f;
        ck_assert_int_eq(am_checkpoint_save(t, good, "newer", NULL), -1);
        ck_assert_msg(strstr(am_error(), good) && strstr(am_error(), "No space left"),
                      "message '%s' does not name the checkpoint and the cause", am_error());
        printf("  save error: %s\n", am_error());
        struct stat sb;
        ck_assert_msg(lstat(link, &sb) != 0, "the temporary file was left behind");
        size_t n2;
        unsigned char *b2 = (unsigned char *)test_read_file(good, &n2);
        ck_assert_msg(n2 == n && !memcmp(b, b2, n), "the previous checkpoint changed");
        free(b2);
        ck_assert_msg(am_checkpoint_load(u, good, NULL, NULL) == 0, "%s", am_error());
        ck_assert(u->step == 3);
    }
    free(b);
    free_trainer(t);
    free_trainer(u);
    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
}
END_TEST

// A directory given as the checkpoint (a user's `--resume runs/`) is a bad
// file like any other: -1 and a message naming it, not a fatal exit. The
// load runs in a child process so that a fatal exit cannot end the runner.
START_TEST(test_checkpoint_load_directory) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = 2;
    hp.mu = 1;
    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, "lite0", 3, 2, 5, &hp), 0);
    char dir[] = "/tmp/am_ckdir_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        int rc = am_checkpoint_load(t, dir, NULL, NULL);
        const char *msg = rc == -1 ? am_error() : "returned 0";
        if (write(fds[1], msg, strlen(msg)) < 0) _exit(4);
        _exit(rc == -1 ? 0 : 3);
    }
    close(fds[1]);
    char msg[512] = {0};
    size_t len = 0;
    ssize_t r;
    while (len < sizeof msg - 1 && (r = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0) len += (size_t)r;
    close(fds[0]);
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    rmdir(dir);
    am_trainer_free(t);
    free(t);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "am_checkpoint_load('%s'), a directory, ended the process (exit status %d) instead of returning -1",
                  dir, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    ck_assert_msg(strstr(msg, dir), "message '%s' does not name '%s'", msg, dir);
}
END_TEST

// ---- (f) device and precision -------------------------------------------------

// The defaults are auto; auto takes cuda:0 where a GPU is present, else the
// CPU; cuda asked for where there is none is an error that says what to do.
// Needs no GPU: on a machine with one, the fallback half is skipped.
START_TEST(test_device_choice) {
    am_config c;
    am_config_defaults(&c);
    ck_assert_str_eq(c.device, "auto");
    ck_assert_str_eq(c.precision, "auto");
    char why[256];
    int gpus = am_cuda_device_count(why, sizeof why), ord = 7, dt = -1;
    ck_assert_int_eq(am_device_pick("auto", "test_train", &ord), 0);
    ck_assert_int_eq(ord, gpus > 0 ? 0 : -1);
    ck_assert_int_eq(am_device_pick("cpu", "test_train", &ord), 0);
    ck_assert_int_eq(ord, -1);
    ck_assert_int_eq(am_device_pick("tpu", "test_train", &ord), -1);
    ck_assert_msg(strstr(am_error(), "unknown device 'tpu'") && strstr(am_error(), "auto"), "%s", am_error());
    ck_assert_int_eq(am_precision_pick("auto", -1, &dt), 0);
    ck_assert_int_eq(dt, AM_F32);
    ck_assert_int_eq(am_precision_pick("auto", 0, &dt), 0);
    ck_assert_int_eq(dt, AM_BF16);
    ck_assert_int_eq(am_precision_pick("fp32", 0, &dt), 0);
    ck_assert_int_eq(dt, AM_F32);
    ck_assert_int_eq(am_precision_pick("fp32", -1, &dt), 0);
    ck_assert_int_eq(dt, AM_F32);
    ck_assert_int_eq(am_precision_pick("bf16", -1, &dt), -1);
    ck_assert_msg(strstr(am_error(), "cuda only"), "%s", am_error());
    ck_assert_int_eq(am_precision_pick("fp16", 0, &dt), -1);
    ck_assert_msg(strstr(am_error(), "fp16") && strstr(am_error(), "bf16"), "%s", am_error());
    if (gpus > 0) return;
    printf("  no GPU here (%s): auto falls back to the CPU\n", why);
    const char *cuda[] = {"cuda", "cuda:0", "cuda:3"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(am_device_pick(cuda[i], "test_train", &ord), -1);
        ck_assert_msg(strstr(am_error(), cuda[i]) && strstr(am_error(), "unavailable") &&
                      strstr(am_error(), "--device cpu"), "%s", am_error());
    }
    printf("  --device cuda: %s\n", am_error());
    am_train_hparams hp = am_train_defaults();
    hp.batch = 2;
    hp.mu = 1;
    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, "lite0", 3, 2, 5, &hp), 0);
    ck_assert_int_eq(am_trainer_to_gpu(t, 0, AM_F32), -1);
    ck_assert_msg(strstr(am_error(), "unavailable"), "%s", am_error());
    ck_assert_ptr_null(t->gpu);
    am_trainer_free(t);
    free(t);
}
END_TEST

Suite *suite_train(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("math");
    tcase_add_test(tc, test_fixmatch_loss);
    tcase_add_test(tc, test_sgd);
    tcase_add_test(tc, test_adamw);
    tcase_add_test(tc, test_ema_and_lr);
    suite_add_tcase(s, tc);
    tc = tcase_create("trainer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_step_golden);
    tcase_add_test(tc, test_resume_bit_identical);
    tcase_add_test(tc, test_checkpoint_layout);
    tcase_add_test(tc, test_checkpoint_errors);
    tcase_add_test(tc, test_checkpoint_load_directory);
    suite_add_tcase(s, tc);
    tc = tcase_create("device");
    tcase_add_test(tc, test_device_choice);
    suite_add_tcase(s, tc);
    return s;
}
