// The same model on any thread count: every CPU op with a reduction, a few
// FixMatch steps, scoring and a resume across thread counts give the same
// bits with 1 thread as with 2, 3 or 4. Sizes are odd and the reductions
// longer than OpenBLAS's blocks, where a partition that follows the thread
// count shows.
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/ops.h"
#include "am/philox.h"
#include "am/train.h"
#include "test.h"
#include "../kernels/act_math.h"

#define SEED 0x7E5Du

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

// U(lo, hi) from Philox stream `stream`.
static float *rnd(size_t n, uint32_t stream, float lo, float hi) {
    float *a = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * am_rand_u01(SEED, stream, 0, (uint32_t)i);
    return a;
}

// Bit-identical, or fails naming the first differing element.
static void same_bits(const char *what, const char *name, const float *a, const float *b, size_t n, int t) {
    if (!memcmp(a, b, sizeof(float) * n)) return;
    size_t i = 0;
    while (i + 1 < n && !memcmp(a + i, b + i, sizeof(float))) i++;
    ck_abort_msg("%s: %s[%zu] is %.9g (%a) on 1 thread, %.9g (%a) on %d", what, name, i, a[i], a[i], b[i], b[i], t);
}

// ---- each op with a reduction, on odd sizes ---------------------------------

// The outputs of one run of every op: named buffers, parameter gradients
// starting from the same non-zero values (they accumulate).
#define MAX_OUT 96
typedef struct {
    int n;
    char name[MAX_OUT][32];
    float *data[MAX_OUT];
    size_t len[MAX_OUT];
} outputs;

// A new output named by the format, filled from Philox.
static float *out_new(outputs *o, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static float *out_new(outputs *o, size_t len, const char *fmt, ...) {
    ck_assert_int_lt(o->n, MAX_OUT);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->name[o->n], sizeof o->name[0], fmt, ap);
    va_end(ap);
    float *d = rnd(len, 100 + (uint32_t)o->n, -0.5f, 0.5f);
    o->data[o->n] = d;
    o->len[o->n++] = len;
    return d;
}

static void out_free(outputs *o) {
    for (int i = 0; i < o->n; i++) free(o->data[i]);
}

static void run_ops(outputs *o) {
    // Pointwise conv: the forward's reduction (C) and the filter gradient's (M)
    // past OpenBLAS's block of 448; many pixels and few (conv.c splits
    // either), small filter gradients and large.
    const int pw[3][3] = {{3001, 515, 37}, {1001, 301, 113}, {4001, 263, 131}};  // M, C, K
    for (int v = 0; v < 3; v++) {
        int M = pw[v][0], C = pw[v][1], K = pw[v][2];
        float *in = rnd((size_t)M * C, 1, -1, 1), *w = rnd((size_t)K * C, 2, -0.1f, 0.1f);
        float *dout = rnd((size_t)M * K, 3, -1, 1);
        pwconv_forward(out_new(o, (size_t)M * K, "pwconv %d out", v), in, w, M, C, K);
        pwconv_backward(out_new(o, (size_t)M * C, "pwconv %d din", v), out_new(o, (size_t)K * C, "pwconv %d dw", v),
                        dout, in, w, M, C, K);
        free(in), free(w), free(dout);
    }
    // Dense conv (the stem's im2col path).
    {
        int N = 3, H = 37, W = 35, C = 3, K = 17, k = 3, s = 2, Ho = 19, Wo = 18, M = N * Ho * Wo, KK = k * k * C;
        float *in = rnd((size_t)N * H * W * C, 4, 0, 1), *w = rnd((size_t)K * KK, 5, -0.3f, 0.3f);
        float *dout = rnd((size_t)M * K, 6, -1, 1), *col = xmalloc(sizeof(float) * M * KK);
        float *dcol = xmalloc(sizeof(float) * M * KK);
        conv2d_forward(out_new(o, (size_t)M * K, "conv2d out"), col, in, w, N, H, W, C, K, k, s);
        conv2d_backward(out_new(o, (size_t)N * H * W * C, "conv2d din"), out_new(o, (size_t)K * KK, "conv2d dw"),
                        dcol, dout, col, w, N, H, W, C, K, k, s);
        free(in), free(w), free(dout), free(col), free(dcol);
    }
    // Depthwise conv, stride 1 and 2.
    for (int s = 1; s <= 2; s++) {
        int N = 3, H = 29, W = 27, C = 37, k = 5, Ho = (H + s - 1) / s, Wo = (W + s - 1) / s;
        float *in = rnd((size_t)N * H * W * C, 7, -1, 1), *w = rnd((size_t)k * k * C, 8, -0.3f, 0.3f);
        float *dout = rnd((size_t)N * Ho * Wo * C, 9, -1, 1);
        dwconv_forward(out_new(o, (size_t)N * Ho * Wo * C, "dwconv s%d out", s), in, w, N, H, W, C, k, s);
        dwconv_backward(out_new(o, (size_t)N * H * W * C, "dwconv s%d din", s),
                        out_new(o, (size_t)k * k * C, "dwconv s%d dw", s), dout, in, w, N, H, W, C, k, s);
        free(in), free(w), free(dout);
    }
    // Batch norm with each activation: batch statistics, running statistics,
    // the backward's sums. Its sums run in double, exact for most data: in
    // a third of the channels every fifth row of x (and of dout) is 2^50 or
    // -2^50 in turn (600 rows: they cancel), so that the partial sums round
    // and their order shows.
    for (int act = AM_ACT_NONE; act <= AM_ACT_SWISH; act++) {
        int M = 3001, C = 37;
        float *x = rnd((size_t)M * C, 10, -2, 3), *gamma = rnd(C, 11, 0.5f, 1.5f), *beta = rnd(C, 12, -0.5f, 0.5f);
        float *dout = rnd((size_t)M * C, 13, -1, 1), *mean = xmalloc(sizeof(float) * C);
        float *rstd = xmalloc(sizeof(float) * C);
        for (int m = 1; m < M; m += 5)
            for (int c = 0; c < C; c += 3) {
                float big = (m / 5) % 2 ? 0x1p50f : -0x1p50f;
                x[(size_t)m * C + c] = big;
                if (c + 1 < C) dout[(size_t)m * C + c + 1] = big;
            }
        float *rm = out_new(o, C, "bn act %d running mean", act), *rv = out_new(o, C, "bn act %d running var", act);
        for (int c = 0; c < C; c++) rv[c] = 1.0f + rv[c];
        bn_act_forward(out_new(o, (size_t)M * C, "bn act %d out", act), mean, rstd, x, gamma, beta, rm, rv, M, C,
                       act, 1, 0.01f, 1e-3f);
        memcpy(out_new(o, C, "bn act %d mean", act), mean, sizeof(float) * C);
        memcpy(out_new(o, C, "bn act %d rstd", act), rstd, sizeof(float) * C);
        float *dgamma = out_new(o, C, "bn act %d dgamma", act), *dbeta = out_new(o, C, "bn act %d dbeta", act);
        bn_act_backward(out_new(o, (size_t)M * C, "bn act %d dx", act), dgamma, dbeta, dout, x, mean, rstd, gamma,
                        beta, M, C, act);
        free(x), free(gamma), free(beta), free(dout), free(mean), free(rstd);
    }
    // Squeeze-excite (pooling and two FC layers) and the FC layer alone.
    {
        int N = 5, HW = 31 * 29, C = 37, S = 7;
        float *in = rnd((size_t)N * HW * C, 14, -1, 1), *w1 = rnd((size_t)S * C, 15, -0.3f, 0.3f);
        float *b1 = rnd(S, 16, -0.1f, 0.1f), *w2 = rnd((size_t)C * S, 17, -0.3f, 0.3f), *b2 = rnd(C, 18, -0.1f, 0.1f);
        float *dout = rnd((size_t)N * HW * C, 19, -1, 1);
        float *pooled = out_new(o, (size_t)N * C, "se pooled"), *hid = out_new(o, (size_t)N * S, "se hid");
        float *gate = out_new(o, (size_t)N * C, "se gate");
        se_forward(out_new(o, (size_t)N * HW * C, "se out"), pooled, hid, gate, in, w1, b1, w2, b2, N, HW, C, S);
        se_backward(out_new(o, (size_t)N * HW * C, "se din"), out_new(o, (size_t)S * C, "se dw1"),
                    out_new(o, S, "se db1"), out_new(o, (size_t)C * S, "se dw2"), out_new(o, C, "se db2"), dout, in,
                    pooled, hid, gate, w1, w2, N, HW, C, S);
        free(in), free(w1), free(b1), free(w2), free(b2), free(dout);
    }
    {
        int N = 1001, C = 901, K = 3;
        float *in = rnd((size_t)N * C, 20, -1, 1), *w = rnd((size_t)K * C, 21, -0.1f, 0.1f), *b = rnd(K, 22, -1, 1);
        float *dout = rnd((size_t)N * K, 23, -1, 1);
        fc_forward(out_new(o, (size_t)N * K, "fc out"), in, w, b, N, C, K);
        fc_backward(out_new(o, (size_t)N * C, "fc din"), out_new(o, (size_t)K * C, "fc dw"), out_new(o, K, "fc db"),
                    dout, in, w, N, C, K);
        free(in), free(w), free(b), free(dout);
    }
    // The losses: sums over the batch.
    {
        int B = 7, U = 21, K = 3, N = B + 2 * U, y[7];
        float *z = rnd((size_t)N * K, 24, -4, 4), *probs = xmalloc(sizeof(float) * N * K);
        for (int i = 0; i < B; i++) y[i] = i % K;
        float *loss = out_new(o, 1, "softmax_ce loss");
        loss[0] = softmax_ce_forward(probs, z, y, B, K);
        softmax_ce_backward(out_new(o, (size_t)B * K, "softmax_ce dlogits"), probs, y, B, K);
        for (int loss = 0; loss < AM_SSL_COUNT; loss++) {
            am_ssl_hp hp = am_train_defaults().ssl;
            hp.loss = loss;
            hp.tau = 0.6f;
            am_ssl_state state;
            am_ssl_init(&state, K, &hp);
            int idx[21], label[21];
            for (int i = 0; i < U; i++) idx[i] = i, label[i] = -1;
            am_ssl_images img = {idx, label, U, U};
            float *st = out_new(o, 5, "ssl stats");
            am_ssl_stats f = ssl_forward_backward(out_new(o, (size_t)N * K, "ssl dlogits"), z, y, B, U, K, &state,
                                                  &img, &hp);
            st[0] = f.loss, st[1] = f.loss_x, st[2] = f.loss_u, st[3] = f.loss_e, st[4] = f.mask_rate;
            memcpy(out_new(o, AM_SSL_STATE_FLOATS, "ssl state"), state.f, sizeof state.f);
        }
        free(z), free(probs);
    }
}

START_TEST(test_ops_any_thread_count) {
    int saved = am_get_threads();
    outputs ref = {0};
    am_set_threads(1);
    run_ops(&ref);
    for (int t = 2; t <= 4; t++) {
        outputs got = {0};
        am_set_threads(t);
        run_ops(&got);
        ck_assert_int_eq(got.n, ref.n);
        for (int i = 0; i < ref.n; i++) same_bits("op", ref.name[i], ref.data[i], got.data[i], ref.len[i], t);
        out_free(&got);
    }
    printf("  ops: %d outputs bit-identical on 1, 2, 3 and 4 threads\n", ref.n);
    out_free(&ref);
    am_set_threads(saved);
}
END_TEST

// ---- FixMatch steps, scoring, resume ----------------------------------------

#define ARCH "b0"
#define SIZE 36  // odd activation sizes (18, 9, 5, 3, 2) and odd pixel counts
#define STEPS 4
#define DATA 0xDA7Au

static am_trainer *new_trainer(uint64_t seed) {
    am_train_hparams hp = am_train_defaults();
    hp.lr *= 3.0f / (float)hp.batch;  // linear scaling: the default is for B 16
    hp.batch = 3;
    hp.mu = 1;
    hp.ssl.tau = 0.5f;  // two classes: every unlabelled row passes, the whole loss is used
    am_trainer *t = xmalloc(sizeof *t);
    ck_assert_int_eq(am_trainer_init(t, ARCH, 3, 2, seed, &hp), 0);
    am_model_init_fc(&t->model, seed);  // a new head as am_train makes it: logits near 0
    am_trainer_sync_ema(t);
    ck_assert(t->model.dropout > 0.0f && t->model.drop_connect > 0.0f);
    return t;
}

static void free_trainer(am_trainer *t) {
    am_trainer_free(t);
    free(t);
}

// Steps [t->step, to) on `threads` threads: inputs and labels from Philox
// keyed by the step; each step's statistics in st[step].
static void steps(am_trainer *t, uint64_t to, int threads, am_ssl_stats *st) {
    int rows = t->hp.batch * (1 + 2 * t->hp.mu);
    size_t n = (size_t)rows * SIZE * SIZE * 3;
    float *x = xmalloc(sizeof(float) * n);
    int y[3];
    am_set_threads(threads);
    while (t->step < to) {
        uint64_t k = t->step;
        for (size_t i = 0; i < n; i++) x[i] = am_rand_u01(DATA, 0, k, (uint32_t)i);
        for (int i = 0; i < t->hp.batch; i++) y[i] = (int)(am_rand_u32(DATA, 1, k, (uint32_t)i) & 1u);
        st[k] = am_train_step(t, x, y, SIZE);
        ck_assert_msg(isfinite(st[k].loss) && st[k].loss > 0.0f, "step %llu: loss %g", (unsigned long long)k,
                      st[k].loss);
    }
    free(x);
}

// One family of a model (params or stats, or a buffer of the params' layout)
// bit-identical, or the first differing element named by its tensor.
static void same_family(const char *what, const am_model *m, const float *a, const float *b, int family, int t) {
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *e = &m->tensors[i];
        if (e->family == family) same_bits(what, e->name, a + e->offset, b + e->offset, e->n, t);
    }
    size_t n = family == AM_PARAM ? m->nparams : m->nstats;
    same_bits(what, "(padding)", a, b, n, t);
}

static void same_trainer(const am_trainer *a, const am_trainer *b, int t) {
    ck_assert(a->step == b->step);
    same_family("params", &a->model, a->model.params, b->model.params, AM_PARAM, t);
    same_family("BN statistics", &a->model, a->model.stats, b->model.stats, AM_STAT, t);
    same_family("EMA params", &a->model, a->ema.params, b->ema.params, AM_PARAM, t);
    same_family("EMA statistics", &a->model, a->ema.stats, b->ema.stats, AM_STAT, t);
    same_family("momentum", &a->model, a->v, b->v, AM_PARAM, t);
}

static void same_stats(const am_ssl_stats *a, const am_ssl_stats *b, int n, int t) {
    for (int k = 0; k < n; k++)
        ck_assert_msg(!memcmp(&a[k], &b[k], sizeof a[k]),
                      "step %d: loss %.9g (x %.9g, u %.9g, mask %g) on 1 thread, %.9g (x %.9g, u %.9g, mask %g) on %d",
                      k, a[k].loss, a[k].loss_x, a[k].loss_u, a[k].mask_rate, b[k].loss, b[k].loss_x, b[k].loss_u,
                      b[k].mask_rate, t);
}

// The EMA model's scores of a fixed batch, copied.
static float *scores(am_trainer *t, int n, int threads) {
    float *x = rnd((size_t)n * SIZE * SIZE * 3, 30, 0, 1), *z = xmalloc(sizeof(float) * n * 2);
    am_set_threads(threads);
    memcpy(z, am_trainer_score(t, x, n, SIZE), sizeof(float) * n * 2);
    free(x);
    return z;
}

START_TEST(test_train_any_thread_count) {
    int saved = am_get_threads();
    am_ssl_stats s1[STEPS], s3[STEPS];
    am_trainer *a = new_trainer(SEED), *b = new_trainer(SEED);
    steps(a, STEPS, 1, s1);
    steps(b, STEPS, 3, s3);
    same_stats(s1, s3, STEPS, 3);
    same_trainer(a, b, 3);
    int n = 7;
    float *z1 = scores(a, n, 1), *z3 = scores(b, n, 3), *z4 = scores(a, n, 4);
    same_bits("scores", "logits", z1, z3, (size_t)n * 2, 3);
    same_bits("scores", "logits", z1, z4, (size_t)n * 2, 4);
    printf("  %s at %d px: %d FixMatch steps (last loss %.6g, mask rate %.2f) bit-identical on 1 and 3 threads, "
           "scoring on 1, 3 and 4\n", ARCH, SIZE, STEPS, s1[STEPS - 1].loss, s1[STEPS - 1].mask_rate);
    free(z1), free(z3), free(z4);
    free_trainer(a);
    free_trainer(b);
    am_set_threads(saved);
}
END_TEST

// k steps on 1 thread, a checkpoint, the rest on 3 threads in a fresh
// trainer (another seed: the checkpoint restores everything) == every step
// on 1 thread.
START_TEST(test_resume_other_thread_count) {
    int saved = am_get_threads();
    am_ssl_stats s1[STEPS], s2[STEPS];
    am_trainer *a = new_trainer(SEED), *b = new_trainer(SEED);
    steps(a, STEPS, 1, s1);
    steps(b, STEPS / 2, 1, s2);
    char path[] = "/tmp/am_threads_ckpt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(am_checkpoint_save(b, path, NULL, NULL) == 0, "%s", am_error());
    free_trainer(b);
    am_trainer *c = new_trainer(SEED + 1);
    ck_assert_msg(am_checkpoint_load(c, path, NULL, NULL) == 0, "%s", am_error());
    unlink(path);
    ck_assert(c->step == STEPS / 2);
    steps(c, STEPS, 3, s2);
    same_stats(s1, s2, STEPS, 3);
    same_trainer(a, c, 3);
    printf("  resume: %d steps on 1 thread == %d on 1 + checkpoint + %d on 3 (bit-identical)\n", STEPS, STEPS / 2,
           STEPS - STEPS / 2);
    free_trainer(a);
    free_trainer(c);
    am_set_threads(saved);
}
END_TEST

Suite *suite_threads(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_ops_any_thread_count);
    tcase_add_test(tc, test_train_any_thread_count);
    tcase_add_test(tc, test_resume_other_thread_count);
    suite_add_tcase(s, tc);
    return s;
}
