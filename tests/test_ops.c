// Every CPU op of include/am/ops.h against an independent double-precision
// reference written here from the op's definition (plain loops; TF-SAME
// padding recomputed from its formula, not taken from kernels/conv_math.h).
// Forward: fp32 result vs the double reference. Backward: the fp32 gradients
// vs central finite differences of L = sum_i r_i out_i (r fixed, random) on
// the double reference, for the input(s) and every parameter. Input
// gradients must be assigned (they start as NaN), parameter gradients must
// accumulate (they start at known non-zero values). All random data is drawn
// as float and the double copies hold the same values, so both sides see the
// same point.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/ops.h"
#include "am/philox.h"
#include "test.h"
#include "../kernels/act_math.h"  // AM_ACT_* only; the references below do their own math

#define FD_H 1e-6       // central-difference step (double)
#define KINK_GAP 1e-3   // closest a ReLU6 pre-activation may come to 0 or 6
#define FWD_REL 1e-5    // forward: |got-ref| <= FWD_REL (max|ref| + |ref|)
#define GRAD_ATOL 1e-5  // backward: |got-ref| <= GRAD_ATOL max|ref| + GRAD_RTOL |ref|
#define GRAD_RTOL 1e-4
#define SAME_REL 1e-6   // in-place vs out-of-place (only summation order may differ)

// ---- small helpers --------------------------------------------------------

// Every allocation of a case is recorded and released by free_all(), so the
// ASan leak check stays clean without a free per buffer.
static void **g_allocs;
static size_t g_nallocs, g_cap;

static void *xalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    if (g_nallocs == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 64;
        void **a = realloc(g_allocs, sizeof(void *) * g_cap);
        ck_assert_ptr_nonnull(a);
        g_allocs = a;
    }
    g_allocs[g_nallocs++] = p;
    return p;
}

static void free_all(void) {
    for (size_t i = 0; i < g_nallocs; i++) free(g_allocs[i]);
    free(g_allocs);
    g_allocs = NULL;
    g_nallocs = g_cap = 0;
}

// splitmix64: a small deterministic generator for the test data.
static uint64_t g_rng;

static void rng_seed(uint64_t s) { g_rng = s; }

static uint64_t rng_next(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double urand(double lo, double hi) { return lo + (hi - lo) * (double)(rng_next() >> 11) * 0x1p-53; }
static int irand(int n) { return (int)(rng_next() % (uint64_t)n); }

// A tensor held twice: f for the op under test, d (same values) for the reference.
typedef struct { float *f; double *d; size_t n; } tens;

static tens t_new(size_t n) {
    tens t = {xalloc(sizeof(float) * n), xalloc(sizeof(double) * n), n};
    return t;
}

static void t_sync(tens *t) {
    for (size_t i = 0; i < t->n; i++) t->d[i] = t->f[i];
}

static tens t_rand(size_t n, double lo, double hi) {
    tens t = t_new(n);
    for (size_t i = 0; i < n; i++) t.f[i] = (float)urand(lo, hi);
    t_sync(&t);
    return t;
}

static float *f_nan(size_t n) {
    float *p = xalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static float *f_copy(const float *a, size_t n) {
    float *p = xalloc(sizeof(float) * n);
    memcpy(p, a, sizeof(float) * n);
    return p;
}

static double *d_new(size_t n) { return xalloc(sizeof(double) * n); }

static double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double maxabs(const double *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static double ref_act(int act, double x) {
    if (act == AM_ACT_RELU6) return x < 0.0 ? 0.0 : x > 6.0 ? 6.0 : x;
    if (act == AM_ACT_SWISH) return x / (1.0 + exp(-x));
    return x;
}

static int near_kink(double y) { return fabs(y) < KINK_GAP || fabs(y - 6.0) < KINK_GAP; }

// TF SAME, from the formula: out = ceil(in/s), pad = max((out-1)s + k - in, 0),
// before = floor(pad/2), the rest after.
static int same_out(int in, int s) { return (int)ceil((double)in / s); }

static int same_before(int in, int k, int s) {
    int pad = (same_out(in, s) - 1) * s + k - in;
    return (pad > 0 ? pad : 0) / 2;
}

// Central differences of f() w.r.t. every element of x (which f reads).
static void fd_grad(double *g, double *x, size_t n, double (*f)(void *), void *ctx) {
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i], xp = x0 + FD_H, xm = x0 - FD_H;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = x0;
        g[i] = (lp - lm) / (xp - xm);
    }
}

// got (fp32) against the double reference with atol = rel max|ref|, rtol = rel;
// returns the worst error as % of tolerance and fails the test beyond 100%.
static double check_rel(const char *cs, const char *t, const float *got, const double *ref, size_t n,
                        double rel) {
    char what[160];
    snprintf(what, sizeof what, "%s: %s", cs, t);
    float *r = xalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) r[i] = (float)ref[i];
    cmp_result c = cmp_scaled(what, got, r, n, rel, rel);
    ck_assert_msg(c.ok, "%s off: %.0f%% of tolerance", what, c.pct);
    return c.pct;
}

static double check_fwd(const char *cs, const char *t, const float *got, const double *ref, size_t n) {
    return check_rel(cs, t, got, ref, n, FWD_REL);
}

// A parameter gradient's starting values: known, non-zero, about half the
// size of the gradient, so that assigning instead of adding fails.
static float *prefill(const double *g, size_t n) {
    float *p = xalloc(sizeof(float) * n);
    double m = maxabs(g, n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(m * (0.3 + 0.1 * (double)(i % 4)) * (i & 1 ? -1.0 : 1.0));
    return p;
}

// Gradient got (fp32) minus its starting values pre (NULL: assigned, started
// as NaN) against the finite-difference reference.
static double check_grad(const char *cs, const char *t, const float *got, const double *ref, size_t n,
                         const float *pre) {
    char what[160];
    snprintf(what, sizeof what, "%s: %s", cs, t);
    double m = maxabs(ref, n);
    ck_assert_msg(m > 1e-6, "%s: the reference gradient is zero, the check would prove nothing", what);
    float *g = xalloc(sizeof(float) * n), *r = xalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        g[i] = (float)((double)got[i] - (pre ? (double)pre[i] : 0.0));
        r[i] = (float)ref[i];
    }
    cmp_result c = cmp_scaled(what, g, r, n, GRAD_ATOL, GRAD_RTOL);
    ck_assert_msg(c.ok, "%s off: %.0f%% of tolerance", what, c.pct);
    return c.pct;
}

// An in-place result against the out-of-place one.
static double check_same(const char *cs, const char *t, const float *got, const float *want, size_t n) {
    double *w = d_new(n);
    for (size_t i = 0; i < n; i++) w[i] = want[i];
    return check_rel(cs, t, got, w, n, SAME_REL);
}

static void upd(double *worst, double pct) { *worst = fmax(*worst, pct); }

// ---- convolutions (dense stem and depthwise) ------------------------------

typedef struct {
    int dw, N, H, W, C, K, k, s;  // dw: depthwise (K == C, w (k,k,C)); else w (K,k,k,C)
    double *in, *w, *out;
    const double *r;
    size_t nout;
} conv_prob;

static void ref_conv(conv_prob *p) {
    int Ho = same_out(p->H, p->s), Wo = same_out(p->W, p->s);
    int pt = same_before(p->H, p->k, p->s), pl = same_before(p->W, p->k, p->s);
    for (int n = 0; n < p->N; n++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int o = 0; o < p->K; o++) {
                    double acc = 0.0;
                    for (int ky = 0; ky < p->k; ky++)
                        for (int kx = 0; kx < p->k; kx++) {
                            int iy = oy * p->s + ky - pt, ix = ox * p->s + kx - pl;
                            if (iy < 0 || iy >= p->H || ix < 0 || ix >= p->W) continue;  // zero padding
                            const double *px = p->in + (((size_t)n * p->H + iy) * p->W + ix) * p->C;
                            if (p->dw) {
                                acc += px[o] * p->w[(size_t)(ky * p->k + kx) * p->C + o];
                            } else {
                                const double *pw = p->w + ((size_t)(o * p->k + ky) * p->k + kx) * p->C;
                                for (int c = 0; c < p->C; c++) acc += px[c] * pw[c];
                            }
                        }
                    p->out[(((size_t)n * Ho + oy) * Wo + ox) * p->K + o] = acc;
                }
}

static double loss_conv(void *v) {
    conv_prob *p = v;
    ref_conv(p);
    return dot(p->r, p->out, p->nout);
}

// One shape: forward, d in, d w (accumulated); conv2d also with din == NULL.
// worst: out, din, dw.
static void conv_case(int dw, int N, int H, int W, int C, int K, int k, int s, double worst[3]) {
    if (dw) K = C;
    char cs[96];
    snprintf(cs, sizeof cs, "%s N%d %dx%dx%d->%d k%d s%d", dw ? "dwconv" : "conv2d", N, H, W, C, K, k, s);
    int Ho = same_out(H, s), Wo = same_out(W, s);
    size_t nin = (size_t)N * H * W * C, nw = dw ? (size_t)k * k * C : (size_t)K * k * k * C;
    size_t nout = (size_t)N * Ho * Wo * K, ncol = (size_t)N * Ho * Wo * k * k * C;
    tens in = t_rand(nin, -1, 1), w = t_rand(nw, -1, 1), r = t_rand(nout, -1, 1);
    conv_prob p = {dw, N, H, W, C, K, k, s, in.d, w.d, d_new(nout), r.d, nout};

    float *out = f_nan(nout), *col = dw ? NULL : f_nan(ncol);
    if (dw) dwconv_forward(out, in.f, w.f, N, H, W, C, k, s);
    else conv2d_forward(out, col, in.f, w.f, N, H, W, C, K, k, s);
    ref_conv(&p);
    upd(&worst[0], check_fwd(cs, "out", out, p.out, nout));

    double *gin = d_new(nin), *gw = d_new(nw);
    fd_grad(gin, in.d, nin, loss_conv, &p);
    fd_grad(gw, w.d, nw, loss_conv, &p);
    float *din = f_nan(nin), *pre = prefill(gw, nw), *dwt = f_copy(pre, nw);
    if (dw) {
        dwconv_backward(din, dwt, r.f, in.f, w.f, N, H, W, C, k, s);
    } else {
        float *dcol = f_nan(ncol);
        conv2d_backward(din, dwt, dcol, r.f, col, w.f, N, H, W, C, K, k, s);
        // The network input needs no gradient: din NULL still accumulates dw.
        float *dw2 = f_copy(pre, nw);
        conv2d_backward(NULL, dw2, f_nan(ncol), r.f, col, w.f, N, H, W, C, K, k, s);
        upd(&worst[2], check_grad(cs, "dw (din NULL)", dw2, gw, nw, pre));
    }
    upd(&worst[1], check_grad(cs, "din", din, gin, nin, NULL));
    upd(&worst[2], check_grad(cs, "dw", dwt, gw, nw, pre));
    free_all();
}

// Shapes with odd sizes, 1x1, non-square, stride 2 on odd and even inputs,
// then random ones.
static void conv_cases(int dw) {
    static const int fixed[][7] = {  // N, H, W, C, K, k, s
        {2, 7, 7, 3, 5, 3, 2}, {1, 9, 9, 3, 8, 3, 2}, {3, 5, 8, 3, 4, 3, 1}, {1, 1, 1, 3, 5, 3, 2},
        {1, 1, 1, 5, 3, 5, 1}, {1, 13, 13, 5, 4, 5, 2}, {2, 8, 8, 3, 5, 5, 2}, {1, 6, 6, 3, 3, 3, 2},
        {1, 5, 5, 16, 3, 5, 1}, {2, 4, 11, 5, 3, 5, 2}, {1, 2, 3, 3, 2, 5, 2},
    };
    double worst[3] = {0, 0, 0};
    int nf = (int)(sizeof fixed / sizeof fixed[0]), nr = 5;
    rng_seed(dw ? 0xD3C0u : 0xC0A7u);
    for (int i = 0; i < nf; i++)
        conv_case(dw, fixed[i][0], fixed[i][1], fixed[i][2], fixed[i][3], fixed[i][4], fixed[i][5], fixed[i][6],
                  worst);
    for (int i = 0; i < nr; i++) {
        int N = 1 + irand(2), H = 1 + irand(9), W = 1 + irand(9), C = 1 + irand(5), K = 1 + irand(5);
        int k = irand(2) ? 5 : 3, s = 1 + irand(2);
        conv_case(dw, N, H, W, C, K, k, s, worst);
    }
    printf("  %s (%d shapes): worst out %.1f%%, din %.1f%%, dw %.1f%% of tolerance\n", dw ? "dwconv" : "conv2d",
           nf + nr, worst[0], worst[1], worst[2]);
}

// Dense convolution: forward and gradients against the double reference.
START_TEST(test_conv2d) { conv_cases(0); }
END_TEST

// Depthwise convolution: forward and gradients against the double reference.
START_TEST(test_dwconv) { conv_cases(1); }
END_TEST

// Known answers for TF-SAME placement, worked by hand (independent of the
// reference above): one channel, in[y][x] = 1 + 10y + x, a one-hot kernel.
// k3/s2 on 4x4 pads (0,1), k5/s2 on 4x4 pads (1,2), k3/s2 on 5x5 pads (1,1),
// k3/s1 on 3x3 pads (1,1).
START_TEST(test_same_padding_known_answers) {
    static const struct { int H, k, s, hot; float want[9]; } kat[] = {
        {4, 3, 2, 0, {1, 3, 21, 23}},
        {4, 3, 2, 8, {23, 0, 0, 0}},
        {4, 5, 2, 0, {0, 0, 0, 12}},
        {4, 5, 2, 24, {34, 0, 0, 0}},
        {5, 3, 2, 0, {0, 0, 0, 0, 12, 14, 0, 32, 34}},
        {3, 3, 1, 0, {0, 0, 0, 0, 1, 2, 0, 11, 12}},
    };
    // The reference's own padding helper agrees with the SPEC's examples.
    ck_assert_int_eq(same_before(224, 3, 2), 0);
    ck_assert_int_eq(same_before(224, 5, 2), 1);
    ck_assert_int_eq(same_out(7, 2), 4);
    for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
        int H = kat[t].H, k = kat[t].k, s = kat[t].s, Ho = same_out(H, s);
        float in[25], w[25], out[9], col[9 * 25];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < H; x++) in[y * H + x] = (float)(1 + 10 * y + x);
        for (int i = 0; i < k * k; i++) w[i] = i == kat[t].hot ? 1.0f : 0.0f;
        for (int dw = 0; dw < 2; dw++) {
            if (dw) dwconv_forward(out, in, w, 1, H, H, 1, k, s);
            else conv2d_forward(out, col, in, w, 1, H, H, 1, 1, k, s);
            for (int i = 0; i < Ho * Ho; i++)
                ck_assert_msg(out[i] == kat[t].want[i], "%s %dx%d k%d s%d tap %d: out[%d] = %g, expected %g",
                              dw ? "dwconv" : "conv2d", H, H, k, s, kat[t].hot, i, out[i], kat[t].want[i]);
        }
    }
}
END_TEST

// ---- pointwise conv and fully connected -----------------------------------

typedef struct {
    int M, C, K;
    double *in, *w, *b, *out;  // b NULL: pointwise (no bias)
    const double *r;
} mm_prob;

static double loss_mm(void *v) {
    mm_prob *p = v;
    for (int m = 0; m < p->M; m++)
        for (int o = 0; o < p->K; o++) {
            double acc = p->b ? p->b[o] : 0.0;
            for (int c = 0; c < p->C; c++) acc += p->in[(size_t)m * p->C + c] * p->w[(size_t)o * p->C + c];
            p->out[(size_t)m * p->K + o] = acc;
        }
    return dot(p->r, p->out, (size_t)p->M * p->K);
}

// worst: out, din, dw, db. fc: M is the batch N.
static void mm_case(int fc, int M, int C, int K, double worst[4]) {
    char cs[96];
    snprintf(cs, sizeof cs, "%s M%d C%d K%d", fc ? "fc" : "pwconv", M, C, K);
    size_t nin = (size_t)M * C, nw = (size_t)K * C, nout = (size_t)M * K;
    tens in = t_rand(nin, -1, 1), w = t_rand(nw, -1, 1), b = t_rand(K, -1, 1), r = t_rand(nout, -1, 1);
    mm_prob p = {M, C, K, in.d, w.d, fc ? b.d : NULL, d_new(nout), r.d};
    float *out = f_nan(nout);
    if (fc) fc_forward(out, in.f, w.f, b.f, M, C, K);
    else pwconv_forward(out, in.f, w.f, M, C, K);
    loss_mm(&p);
    upd(&worst[0], check_fwd(cs, "out", out, p.out, nout));

    double *gin = d_new(nin), *gw = d_new(nw), *gb = d_new(K);
    fd_grad(gin, in.d, nin, loss_mm, &p);
    fd_grad(gw, w.d, nw, loss_mm, &p);
    float *din = f_nan(nin), *prew = prefill(gw, nw), *dw = f_copy(prew, nw);
    if (fc) {
        fd_grad(gb, b.d, K, loss_mm, &p);
        float *preb = prefill(gb, K), *db = f_copy(preb, K);
        fc_backward(din, dw, db, r.f, in.f, w.f, M, C, K);
        upd(&worst[3], check_grad(cs, "db", db, gb, K, preb));
    } else {
        pwconv_backward(din, dw, r.f, in.f, w.f, M, C, K);
        float *dw2 = f_copy(prew, nw);  // din NULL: dw only
        pwconv_backward(NULL, dw2, r.f, in.f, w.f, M, C, K);
        upd(&worst[2], check_grad(cs, "dw (din NULL)", dw2, gw, nw, prew));
    }
    upd(&worst[1], check_grad(cs, "din", din, gin, nin, NULL));
    upd(&worst[2], check_grad(cs, "dw", dw, gw, nw, prew));
    free_all();
}

// Pointwise convolution: forward and gradients, also with din == NULL.
START_TEST(test_pwconv) {
    static const int sh[][3] = {{80, 5, 16}, {49, 16, 5}, {1, 3, 3}, {13, 16, 24}, {7, 1, 9}};
    double worst[4] = {0, 0, 0, 0};
    rng_seed(0x9C0Du);
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) mm_case(0, sh[i][0], sh[i][1], sh[i][2], worst);
    printf("  pwconv (5 shapes): worst out %.1f%%, din %.1f%%, dw %.1f%% of tolerance\n", worst[0], worst[1],
           worst[2]);
}
END_TEST

// Fully connected with bias: forward and gradients.
START_TEST(test_fc) {
    static const int sh[][3] = {{3, 16, 5}, {1, 5, 1}, {2, 7, 10}, {3, 1, 4}};
    double worst[4] = {0, 0, 0, 0};
    rng_seed(0xFCu);
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) mm_case(1, sh[i][0], sh[i][1], sh[i][2], worst);
    printf("  fc (4 shapes): worst out %.1f%%, din %.1f%%, dw %.1f%%, db %.1f%% of tolerance\n", worst[0],
           worst[1], worst[2], worst[3]);
}
END_TEST

// ---- global average pool --------------------------------------------------

typedef struct { int N, HW, C; double *in, *out; const double *r; } gap_prob;

static double loss_gap(void *v) {
    gap_prob *p = v;
    for (int n = 0; n < p->N; n++)
        for (int c = 0; c < p->C; c++) {
            double acc = 0.0;
            for (int i = 0; i < p->HW; i++) acc += p->in[((size_t)n * p->HW + i) * p->C + c];
            p->out[(size_t)n * p->C + c] = acc / p->HW;
        }
    return dot(p->r, p->out, (size_t)p->N * p->C);
}

// Global average pool: forward and gradient.
START_TEST(test_gap) {
    static const int sh[][3] = {{2, 49, 5}, {1, 1, 3}, {3, 40, 16}, {1, 169, 7}};
    double worst[2] = {0, 0};
    rng_seed(0x6A9u);
    for (size_t t = 0; t < sizeof sh / sizeof sh[0]; t++) {
        int N = sh[t][0], HW = sh[t][1], C = sh[t][2];
        char cs[64];
        snprintf(cs, sizeof cs, "gap N%d HW%d C%d", N, HW, C);
        size_t nin = (size_t)N * HW * C, nout = (size_t)N * C;
        tens in = t_rand(nin, -1, 1), r = t_rand(nout, -1, 1);
        gap_prob p = {N, HW, C, in.d, d_new(nout), r.d};
        float *out = f_nan(nout), *din = f_nan(nin);
        gap_forward(out, in.f, N, HW, C);
        loss_gap(&p);
        upd(&worst[0], check_fwd(cs, "out", out, p.out, nout));
        double *gin = d_new(nin);
        fd_grad(gin, in.d, nin, loss_gap, &p);
        gap_backward(din, r.f, N, HW, C);
        upd(&worst[1], check_grad(cs, "din", din, gin, nin, NULL));
        free_all();
    }
    printf("  gap (4 shapes): worst out %.1f%%, din %.1f%% of tolerance\n", worst[0], worst[1]);
}
END_TEST

// ---- activations ----------------------------------------------------------

typedef struct { int n, act; double *x, *out; const double *r; } act_prob;

static double loss_act(void *v) {
    act_prob *p = v;
    for (int i = 0; i < p->n; i++) p->out[i] = ref_act(p->act, p->x[i]);
    return dot(p->r, p->out, (size_t)p->n);
}

// act_forward / act_backward for NONE, RELU6, SWISH on [-8, 8], both ReLU6
// kinks inside the range; in-place act_backward (din == dout, as se uses it).
START_TEST(test_act) {
    static const char *names[] = {"none", "relu6", "swish"};
    const int n = 1001;
    rng_seed(0xAC7u);
    for (int act = AM_ACT_NONE; act <= AM_ACT_SWISH; act++) {
        char cs[32];
        snprintf(cs, sizeof cs, "act %s", names[act]);
        tens x = t_rand((size_t)n, -8, 8), r = t_rand((size_t)n, -1, 1);
        // The finite difference is only valid off ReLU6's kinks at 0 and 6:
        // push any input within KINK_GAP of one to 0.01 away from it.
        int below = 0, inside = 0, above = 0;
        for (int i = 0; i < n; i++) {
            if (fabs(x.f[i]) < KINK_GAP) x.f[i] = x.f[i] < 0 ? -0.01f : 0.01f;
            if (fabs(x.f[i] - 6.0f) < KINK_GAP) x.f[i] = x.f[i] < 6 ? 5.99f : 6.01f;
            below += x.f[i] < 0;
            inside += x.f[i] > 0 && x.f[i] < 6;
            above += x.f[i] > 6;
        }
        ck_assert(below > 0 && inside > 0 && above > 0);
        t_sync(&x);
        act_prob p = {n, act, x.d, d_new((size_t)n), r.d};
        float *out = f_nan((size_t)n), *din = f_nan((size_t)n);
        act_forward(out, x.f, n, act);
        loss_act(&p);
        double wf = check_fwd(cs, "out", out, p.out, (size_t)n);
        double *g = d_new((size_t)n);
        fd_grad(g, x.d, (size_t)n, loss_act, &p);
        act_backward(din, r.f, x.f, n, act);
        double wg = check_grad(cs, "din", din, g, (size_t)n, NULL);
        float *buf = f_copy(r.f, (size_t)n);
        act_backward(buf, buf, x.f, n, act);
        check_same(cs, "din in place", buf, din, (size_t)n);
        printf("  act %s: worst out %.1f%%, din %.1f%% of tolerance\n", names[act], wf, wg);
        free_all();
    }
    // ReLU6 passes gradient only strictly inside (0, 6) (PyTorch's hardtanh).
    float kx[4] = {0.0f, 6.0f, 3.0f, -1.0f}, ones[4] = {1, 1, 1, 1}, kg[4];
    act_backward(kg, ones, kx, 4, AM_ACT_RELU6);
    ck_assert(kg[0] == 0.0f && kg[1] == 0.0f && kg[2] == 1.0f && kg[3] == 0.0f);
}
END_TEST

// ---- batch norm + activation ----------------------------------------------

typedef struct {
    int M, C, act, train;
    double eps;
    double *x, *g, *b, *out, *pre;  // pre: the pre-activation
    double *mean, *var;             // train: batch statistics (biased variance)
    const double *rm, *rv;          // eval: running statistics
    const double *r;
} bn_prob;

static void ref_bn(bn_prob *p) {
    for (int c = 0; c < p->C; c++) {
        double mu, var;
        if (p->train) {
            double s = 0.0, s2 = 0.0;
            for (int m = 0; m < p->M; m++) s += p->x[(size_t)m * p->C + c];
            mu = s / p->M;
            for (int m = 0; m < p->M; m++) {
                double d = p->x[(size_t)m * p->C + c] - mu;
                s2 += d * d;
            }
            var = s2 / p->M;
        } else {
            mu = p->rm[c];
            var = p->rv[c];
        }
        p->mean[c] = mu;
        p->var[c] = var;
        for (int m = 0; m < p->M; m++) {
            size_t i = (size_t)m * p->C + c;
            p->pre[i] = p->g[c] * (p->x[i] - mu) / sqrt(var + p->eps) + p->b[c];
            p->out[i] = ref_act(p->act, p->pre[i]);
        }
    }
}

static double loss_bn(void *v) {
    bn_prob *p = v;
    ref_bn(p);
    return dot(p->r, p->out, (size_t)p->M * p->C);
}

// ReLU6 has kinks at 0 and 6 where neither the finite difference nor the
// fp32-vs-double comparison means anything: move any x whose pre-activation
// lies within KINK_GAP of a kink by about 0.01 in pre-activation units, then
// recompute (the batch statistics move with x) until none is close. Counts
// the pre-activations below 0, inside (0, 6) and above 6 into regions.
static void bn_nudge(bn_prob *p, tens *x, int regions[3]) {
    int it;
    for (it = 0; it < 100; it++) {
        ref_bn(p);
        int moved = 0;
        for (size_t i = 0; i < x->n; i++)
            if (near_kink(p->pre[i])) {
                int c = (int)(i % (size_t)p->C);
                x->f[i] += (float)(0.01 * sqrt(p->var[c] + p->eps) / fabs(p->g[c]));
                moved = 1;
            }
        t_sync(x);
        if (!moved) break;
    }
    ck_assert_msg(it < 100, "could not move the BN pre-activations off the ReLU6 kinks");
    for (size_t i = 0; i < x->n; i++) {
        regions[0] += p->pre[i] < 0;
        regions[1] += p->pre[i] > 0 && p->pre[i] < 6;
        regions[2] += p->pre[i] > 6;
    }
}

// Each ReLU6 region was exercised (else the kinks' handling went untested).
static void check_regions(const int regions[3]) {
    ck_assert_msg(regions[0] && regions[1] && regions[2], "ReLU6 regions: %d below, %d inside, %d above",
                  regions[0], regions[1], regions[2]);
}

// x with a per-channel offset and spread; gamma of either sign, beta in
// [-1, 7] so that ReLU6 sees all three regions.
static void bn_data(tens *x, tens *g, tens *b, int M, int C) {
    *x = t_new((size_t)M * C);
    for (int c = 0; c < C; c++) {
        double off = urand(-2, 2), sc = urand(0.5, 2);
        for (int m = 0; m < M; m++) x->f[(size_t)m * C + c] = (float)(off + sc * urand(-1, 1));
    }
    t_sync(x);
    *g = t_new((size_t)C);
    for (int c = 0; c < C; c++) g->f[c] = (float)(urand(1, 3) * (irand(2) ? 1 : -1));
    t_sync(g);
    *b = t_rand((size_t)C, -1, 7);
}

// Train mode: out, saved mean/rstd, running statistics (momentum 0.01,
// unbiased variance), dx (also in place, dx == dout), dgamma, dbeta.
// worst: out, stats, dx, dgamma, dbeta.
static void bn_train_case(int M, int C, int act, double worst[5], int regions[3]) {
    const float eps = 1e-3f, mom = 0.01f;
    char cs[64];
    snprintf(cs, sizeof cs, "bn_act train act%d M%d C%d", act, M, C);
    size_t n = (size_t)M * C;
    tens x, g, b;
    bn_data(&x, &g, &b, M, C);
    tens r = t_rand(n, -1, 1), rm = t_rand((size_t)C, -1, 1), rv = t_rand((size_t)C, 0.5, 2);
    bn_prob p = {M, C, act, 1, eps, x.d, g.d, b.d, d_new(n), d_new(n), d_new((size_t)C), d_new((size_t)C),
                 NULL, NULL, r.d};
    if (act == AM_ACT_RELU6) bn_nudge(&p, &x, regions);

    float *out = f_nan(n), *mean = f_nan((size_t)C), *rstd = f_nan((size_t)C);
    float *run_m = f_copy(rm.f, (size_t)C), *run_v = f_copy(rv.f, (size_t)C);
    bn_act_forward(out, mean, rstd, x.f, g.f, b.f, run_m, run_v, M, C, act, 1, mom, eps);
    ref_bn(&p);
    upd(&worst[0], check_fwd(cs, "out", out, p.out, n));
    double *want_rstd = d_new((size_t)C), *want_rm = d_new((size_t)C), *want_rv = d_new((size_t)C);
    for (int c = 0; c < C; c++) {
        want_rstd[c] = 1.0 / sqrt(p.var[c] + eps);
        want_rm[c] = (1.0 - mom) * rm.d[c] + mom * p.mean[c];
        want_rv[c] = (1.0 - mom) * rv.d[c] + mom * p.var[c] * M / (M - 1);
    }
    upd(&worst[1], check_rel(cs, "mean", mean, p.mean, (size_t)C, SAME_REL));
    upd(&worst[1], check_rel(cs, "rstd", rstd, want_rstd, (size_t)C, SAME_REL));
    upd(&worst[1], check_rel(cs, "running mean", run_m, want_rm, (size_t)C, SAME_REL));
    upd(&worst[1], check_rel(cs, "running var", run_v, want_rv, (size_t)C, SAME_REL));

    double *gx = d_new(n), *gg = d_new((size_t)C), *gb = d_new((size_t)C);
    fd_grad(gx, x.d, n, loss_bn, &p);
    fd_grad(gg, g.d, (size_t)C, loss_bn, &p);
    fd_grad(gb, b.d, (size_t)C, loss_bn, &p);
    float *dx = f_nan(n), *preg = prefill(gg, (size_t)C), *preb = prefill(gb, (size_t)C);
    float *dg = f_copy(preg, (size_t)C), *db = f_copy(preb, (size_t)C);
    bn_act_backward(dx, dg, db, r.f, x.f, mean, rstd, g.f, b.f, M, C, act);
    upd(&worst[2], check_grad(cs, "dx", dx, gx, n, NULL));
    upd(&worst[3], check_grad(cs, "dgamma", dg, gg, (size_t)C, preg));
    upd(&worst[4], check_grad(cs, "dbeta", db, gb, (size_t)C, preb));

    // In place, as the model calls it: dx == dout.
    float *buf = f_copy(r.f, n), *dg2 = f_copy(preg, (size_t)C), *db2 = f_copy(preb, (size_t)C);
    bn_act_backward(buf, dg2, db2, buf, x.f, mean, rstd, g.f, b.f, M, C, act);
    check_same(cs, "dx in place", buf, dx, n);
    check_same(cs, "dgamma in place", dg2, dg, (size_t)C);
    check_same(cs, "dbeta in place", db2, db, (size_t)C);
    free_all();
}

// BN + NONE / RELU6 / SWISH in train mode on several shapes.
START_TEST(test_bn_act_train) {
    static const int sh[][2] = {{80, 5}, {49, 16}, {9, 3}, {2, 4}, {169, 3}};
    static const char *names[] = {"none", "relu6", "swish"};
    rng_seed(0xB4u);
    for (int act = AM_ACT_NONE; act <= AM_ACT_SWISH; act++) {
        double worst[5] = {0, 0, 0, 0, 0};
        int regions[3] = {0, 0, 0};
        for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++)
            bn_train_case(sh[i][0], sh[i][1], act, worst, regions);
        if (act == AM_ACT_RELU6) check_regions(regions);
        printf("  bn_act train %s (5 shapes): worst out %.1f%%, stats %.1f%%, dx %.1f%%, dgamma %.1f%%, "
               "dbeta %.1f%% of tolerance\n",
               names[act], worst[0], worst[1], worst[2], worst[3], worst[4]);
    }
}
END_TEST

// Eval mode: out from the running statistics, mean/rstd filled from them,
// the running statistics left untouched.
START_TEST(test_bn_act_eval) {
    const float eps = 1e-3f;
    double worst = 0.0;
    rng_seed(0xE4Au);
    for (int act = AM_ACT_NONE; act <= AM_ACT_SWISH; act++) {
        int M = 45, C = 7;
        char cs[64];
        snprintf(cs, sizeof cs, "bn_act eval act%d M%d C%d", act, M, C);
        size_t n = (size_t)M * C;
        tens x, g, b;
        bn_data(&x, &g, &b, M, C);
        tens rm = t_rand((size_t)C, -1, 1), rv = t_rand((size_t)C, 0.5, 2);
        bn_prob p = {M, C, act, 0, eps, x.d, g.d, b.d, d_new(n), d_new(n), d_new((size_t)C), d_new((size_t)C),
                     rm.d, rv.d, NULL};
        if (act == AM_ACT_RELU6) {
            int regions[3] = {0, 0, 0};
            bn_nudge(&p, &x, regions);
            check_regions(regions);
        }
        float *out = f_nan(n), *mean = f_nan((size_t)C), *rstd = f_nan((size_t)C);
        float *run_m = f_copy(rm.f, (size_t)C), *run_v = f_copy(rv.f, (size_t)C);
        bn_act_forward(out, mean, rstd, x.f, g.f, b.f, run_m, run_v, M, C, act, 0, 0.01f, eps);
        ref_bn(&p);
        upd(&worst, check_fwd(cs, "out", out, p.out, n));
        double *want_rstd = d_new((size_t)C);
        for (int c = 0; c < C; c++) want_rstd[c] = 1.0 / sqrt(rv.d[c] + eps);
        upd(&worst, check_rel(cs, "mean", mean, rm.d, (size_t)C, SAME_REL));
        upd(&worst, check_rel(cs, "rstd", rstd, want_rstd, (size_t)C, SAME_REL));
        ck_assert_msg(memcmp(run_m, rm.f, sizeof(float) * C) == 0 && memcmp(run_v, rv.f, sizeof(float) * C) == 0,
                      "%s: eval mode changed the running statistics", cs);
        free_all();
    }
    printf("  bn_act eval (3 acts): worst %.1f%% of tolerance\n", worst);
}
END_TEST

// ---- squeeze-excite -------------------------------------------------------

typedef struct {
    int N, HW, C, S;
    double *in, *w1, *b1, *w2, *b2, *out, *pooled, *hid, *gate;
    const double *r;
} se_prob;

static void ref_se(se_prob *p) {
    int N = p->N, HW = p->HW, C = p->C, S = p->S;
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int i = 0; i < HW; i++) acc += p->in[((size_t)n * HW + i) * C + c];
            p->pooled[(size_t)n * C + c] = acc / HW;
        }
        for (int s = 0; s < S; s++) {
            double acc = p->b1[s];
            for (int c = 0; c < C; c++) acc += p->pooled[(size_t)n * C + c] * p->w1[(size_t)s * C + c];
            p->hid[(size_t)n * S + s] = acc;
        }
        for (int c = 0; c < C; c++) {
            double acc = p->b2[c];
            for (int s = 0; s < S; s++)
                acc += ref_act(AM_ACT_SWISH, p->hid[(size_t)n * S + s]) * p->w2[(size_t)c * S + s];
            p->gate[(size_t)n * C + c] = 1.0 / (1.0 + exp(-acc));
        }
        for (int i = 0; i < HW; i++)
            for (int c = 0; c < C; c++) {
                size_t j = ((size_t)n * HW + i) * C + c;
                p->out[j] = p->in[j] * p->gate[(size_t)n * C + c];
            }
    }
}

static double loss_se(void *v) {
    se_prob *p = v;
    ref_se(p);
    return dot(p->r, p->out, (size_t)p->N * p->HW * p->C);
}

// worst: out (and saved pooled/hid/gate), din, dw1, db1, dw2, db2.
static void se_case(int N, int HW, int C, int S, double worst[6]) {
    char cs[64];
    snprintf(cs, sizeof cs, "se N%d HW%d C%d S%d", N, HW, C, S);
    size_t nin = (size_t)N * HW * C, nw = (size_t)S * C;
    tens in = t_new(nin);
    for (int c = 0; c < C; c++) {  // a per-channel offset keeps the pooled values away from 0
        double off = urand(-1, 1);
        for (size_t j = (size_t)c; j < nin; j += (size_t)C) in.f[j] = (float)(off + urand(-1, 1));
    }
    t_sync(&in);
    tens w1 = t_rand(nw, -1, 1), b1 = t_rand((size_t)S, -0.5, 0.5), w2 = t_rand(nw, -1, 1);
    tens b2 = t_rand((size_t)C, -0.5, 0.5), r = t_rand(nin, -1, 1);
    se_prob p = {N, HW, C, S, in.d, w1.d, b1.d, w2.d, b2.d, d_new(nin), d_new((size_t)N * C),
                 d_new((size_t)N * S), d_new((size_t)N * C), r.d};

    float *out = f_nan(nin), *pooled = f_nan((size_t)N * C), *hid = f_nan((size_t)N * S);
    float *gate = f_nan((size_t)N * C);
    se_forward(out, pooled, hid, gate, in.f, w1.f, b1.f, w2.f, b2.f, N, HW, C, S);
    ref_se(&p);
    upd(&worst[0], check_fwd(cs, "out", out, p.out, nin));
    upd(&worst[0], check_fwd(cs, "pooled", pooled, p.pooled, (size_t)N * C));
    upd(&worst[0], check_fwd(cs, "hid", hid, p.hid, (size_t)N * S));
    upd(&worst[0], check_fwd(cs, "gate", gate, p.gate, (size_t)N * C));

    double *gin = d_new(nin), *gw1 = d_new(nw), *gb1 = d_new((size_t)S), *gw2 = d_new(nw);
    double *gb2 = d_new((size_t)C);
    fd_grad(gin, in.d, nin, loss_se, &p);
    fd_grad(gw1, w1.d, nw, loss_se, &p);
    fd_grad(gb1, b1.d, (size_t)S, loss_se, &p);
    fd_grad(gw2, w2.d, nw, loss_se, &p);
    fd_grad(gb2, b2.d, (size_t)C, loss_se, &p);
    float *pw1 = prefill(gw1, nw), *pb1 = prefill(gb1, (size_t)S), *pw2 = prefill(gw2, nw);
    float *pb2 = prefill(gb2, (size_t)C);
    float *din = f_nan(nin), *dw1 = f_copy(pw1, nw), *db1 = f_copy(pb1, (size_t)S), *dw2 = f_copy(pw2, nw);
    float *db2 = f_copy(pb2, (size_t)C);
    se_backward(din, dw1, db1, dw2, db2, r.f, in.f, pooled, hid, gate, w1.f, w2.f, N, HW, C, S);
    upd(&worst[1], check_grad(cs, "din", din, gin, nin, NULL));
    upd(&worst[2], check_grad(cs, "dw1", dw1, gw1, nw, pw1));
    upd(&worst[3], check_grad(cs, "db1", db1, gb1, (size_t)S, pb1));
    upd(&worst[4], check_grad(cs, "dw2", dw2, gw2, nw, pw2));
    upd(&worst[5], check_grad(cs, "db2", db2, gb2, (size_t)C, pb2));

    // In place, as the model calls it: din == dout.
    float *buf = f_copy(r.f, nin), *ew1 = f_copy(pw1, nw), *eb1 = f_copy(pb1, (size_t)S);
    float *ew2 = f_copy(pw2, nw), *eb2 = f_copy(pb2, (size_t)C);
    se_backward(buf, ew1, eb1, ew2, eb2, buf, in.f, pooled, hid, gate, w1.f, w2.f, N, HW, C, S);
    check_same(cs, "din in place", buf, din, nin);
    check_same(cs, "dw1 in place", ew1, dw1, nw);
    check_same(cs, "db1 in place", eb1, db1, (size_t)S);
    check_same(cs, "dw2 in place", ew2, dw2, nw);
    check_same(cs, "db2 in place", eb2, db2, (size_t)C);
    free_all();
}

// Squeeze-excite: forward (and saved tensors) and all five gradients.
START_TEST(test_se) {
    static const int sh[][4] = {{2, 40, 16, 4}, {1, 49, 5, 1}, {3, 9, 8, 2}, {1, 1, 3, 1}, {2, 13, 6, 3}};
    double worst[6] = {0, 0, 0, 0, 0, 0};
    rng_seed(0x5Eu);
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) se_case(sh[i][0], sh[i][1], sh[i][2], sh[i][3], worst);
    printf("  se (5 shapes): worst out %.1f%%, din %.1f%%, dw1 %.1f%%, db1 %.1f%%, dw2 %.1f%%, db2 %.1f%% of "
           "tolerance\n",
           worst[0], worst[1], worst[2], worst[3], worst[4], worst[5]);
}
END_TEST

// ---- softmax cross-entropy ------------------------------------------------

typedef struct { int N, K; double *z, *probs; const int *labels; } sm_prob;

// The op's output is the scalar loss itself, so the checked gradient is
// d loss / d logits (dloss = 1), not that of a weighted sum.
static double loss_sm(void *v) {
    sm_prob *p = v;
    double total = 0.0;
    for (int n = 0; n < p->N; n++) {
        const double *z = p->z + (size_t)n * p->K;
        double m = z[0], s = 0.0;
        for (int k = 1; k < p->K; k++) m = fmax(m, z[k]);
        for (int k = 0; k < p->K; k++) s += exp(z[k] - m);
        for (int k = 0; k < p->K; k++) p->probs[(size_t)n * p->K + k] = exp(z[k] - m) / s;
        total += m + log(s) - z[p->labels[n]];
    }
    return total / p->N;
}

// Softmax CE: probs, loss and d logits; the shifted case (logits near 100,
// exp would overflow in float) checks the max subtraction.
START_TEST(test_softmax_ce) {
    static const struct { int N, K; double shift; } sh[] = {{3, 10, 0}, {1, 2, 0}, {4, 5, 100}, {2, 257, -3}};
    double worst[3] = {0, 0, 0};
    rng_seed(0x50F7u);
    for (size_t t = 0; t < sizeof sh / sizeof sh[0]; t++) {
        int N = sh[t].N, K = sh[t].K;
        char cs[64];
        snprintf(cs, sizeof cs, "softmax_ce N%d K%d shift %g", N, K, sh[t].shift);
        size_t n = (size_t)N * K;
        tens z = t_rand(n, sh[t].shift - 3, sh[t].shift + 3);
        int *labels = xalloc(sizeof(int) * N);
        for (int i = 0; i < N; i++) labels[i] = irand(K);
        sm_prob p = {N, K, z.d, d_new(n), labels};
        float *probs = f_nan(n), *dz = f_nan(n);
        float loss = softmax_ce_forward(probs, z.f, labels, N, K);
        double want = loss_sm(&p);
        upd(&worst[0], check_fwd(cs, "probs", probs, p.probs, n));
        upd(&worst[1], check_fwd(cs, "loss", &loss, &want, 1));
        double *g = d_new(n);
        fd_grad(g, z.d, n, loss_sm, &p);
        softmax_ce_backward(dz, probs, labels, N, K);
        upd(&worst[2], check_grad(cs, "dlogits", dz, g, n, NULL));
        free_all();
    }
    printf("  softmax_ce (4 shapes): worst probs %.1f%%, loss %.1f%%, dlogits %.1f%% of tolerance\n", worst[0],
           worst[1], worst[2]);
}
END_TEST

// ---- dropout ---------------------------------------------------------------

// Mask from Philox: entries exactly 0 or 1/(1-p), the kept fraction ~ 1-p,
// mask[i] = (U(seed, stream, step, i) >= p), out = in * mask; deterministic
// for (seed, stream, step) and any thread count, different when any changes;
// p = 0 keeps everything unscaled.
START_TEST(test_dropout_mask) {
    const int n = 100003;
    const uint64_t seed = 0x1234ABCDull;
    rng_seed(0xD0u);
    tens in = t_rand((size_t)n, -1, 1);
    float *out = f_nan((size_t)n), *mask = f_nan((size_t)n), *out2 = f_nan((size_t)n), *mask2 = f_nan((size_t)n);
    static const float ps[] = {0.1f, 0.5f, 0.8f};
    for (int t = 0; t < 3; t++) {
        float p = ps[t];
        double scale = 1.0 / (1.0 - (double)p), sigma = sqrt((double)p * (1.0 - p) / n);
        dropout_forward(out, mask, in.f, n, p, seed, 3, 7);
        // (Counted, then asserted once: a Check assertion per element is slow.)
        int kept = 0, bad = 0, first = -1;
        for (int i = 0; i < n; i++) {
            int keep = am_rand_u01(seed, 3, 7, (uint32_t)i) >= p;
            int ok = (keep ? fabs(mask[i] - scale) <= 1e-6 * scale : mask[i] == 0.0f) && out[i] == in.f[i] * mask[i];
            if (!ok && bad++ == 0) first = i;
            kept += keep;
        }
        ck_assert_msg(bad == 0, "p %g: %d wrong entries, first %d: mask %g (keep %d), in %g, out %g", p, bad, first,
                      first < 0 ? 0.0 : mask[first], first < 0 ? 0 : am_rand_u01(seed, 3, 7, (uint32_t)first) >= p,
                      first < 0 ? 0.0 : in.f[first], first < 0 ? 0.0 : out[first]);
        double frac = (double)kept / n;
        ck_assert_msg(fabs(frac - (1.0 - p)) < 5 * sigma, "p %g: kept %.4f", p, frac);

        // Same (seed, stream, step): the same mask, also on one thread.
        int threads = am_get_threads();
        am_set_threads(1);
        dropout_forward(out2, mask2, in.f, n, p, seed, 3, 7);
        am_set_threads(threads);
        ck_assert(memcmp(mask, mask2, sizeof(float) * n) == 0 && memcmp(out, out2, sizeof(float) * n) == 0);
        // A different step, stream or seed: a different mask (about 2p(1-p) of entries differ).
        for (int v = 0; v < 3; v++) {
            dropout_forward(out2, mask2, in.f, n, p, seed + (v == 2), 3 + (v == 1), 7 + (v == 0));
            int diff = 0;
            for (int i = 0; i < n; i++) diff += mask[i] != mask2[i];
            double expect = 2.0 * p * (1.0 - p) * n;
            ck_assert_msg(fabs(diff - expect) < 0.1 * expect, "p %g variant %d: %d entries differ, expected ~%.0f",
                          p, v, diff, expect);
        }
        printf("  dropout p %.1f: kept %.4f (expected %.1f)\n", p, frac, 1.0 - p);
    }
    dropout_forward(out, mask, in.f, n, 0.0f, seed, 3, 7);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += !(mask[i] == 1.0f && out[i] == in.f[i]);
    ck_assert_msg(bad == 0, "p 0: %d entries not kept unscaled", bad);
    free_all();
}
END_TEST

typedef struct { int n; double *in, *mask, *out; const double *r; } do_prob;

static double loss_do(void *v) {
    do_prob *p = v;
    for (int i = 0; i < p->n; i++) p->out[i] = p->in[i] * p->mask[i];
    return dot(p->r, p->out, (size_t)p->n);
}

// Dropout gradient with the mask held fixed: din = dout * mask (assigned).
START_TEST(test_dropout_grad) {
    const int n = 61;
    rng_seed(0xD1u);
    tens in = t_rand((size_t)n, -1, 1), r = t_rand((size_t)n, -1, 1);
    float *out = f_nan((size_t)n), *mask = f_nan((size_t)n), *din = f_nan((size_t)n);
    dropout_forward(out, mask, in.f, n, 0.3f, 99, 1, 2);
    int kept = 0;
    for (int i = 0; i < n; i++) kept += mask[i] != 0.0f;
    ck_assert(kept > 0 && kept < n);
    double *md = d_new((size_t)n);
    for (int i = 0; i < n; i++) md[i] = mask[i];
    do_prob p = {n, in.d, md, d_new((size_t)n), r.d};
    loss_do(&p);
    double wf = check_fwd("dropout", "out", out, p.out, (size_t)n);
    double *g = d_new((size_t)n);
    fd_grad(g, in.d, (size_t)n, loss_do, &p);
    dropout_backward(din, r.f, mask, n);
    double wg = check_grad("dropout", "din", din, g, (size_t)n, NULL);
    printf("  dropout: worst out %.1f%%, din %.1f%% of tolerance\n", wf, wg);
    free_all();
}
END_TEST

// ---- drop-connect + residual add -------------------------------------------

// Per-sample scale from Philox: exactly 0 or 1/(1-rate), kept fraction ~
// 1-rate, deterministic for (seed, stream, step), different for another
// step; rate 0 keeps every sample with scale 1; out = branch*scale + skip.
START_TEST(test_drop_connect_mask) {
    const int N = 20000, per = 3;
    const uint64_t seed = 0xC0FFEEull;
    size_t n = (size_t)N * per;
    rng_seed(0xDCu);
    tens br = t_rand(n, -1, 1), sk = t_rand(n, -1, 1);
    float *out = f_nan(n), *scale = f_nan((size_t)N), *out2 = f_nan(n), *scale2 = f_nan((size_t)N);
    double *want = d_new(n);
    static const float rates[] = {0.2f, 0.5f, 0.0f};
    for (int t = 0; t < 3; t++) {
        float rate = rates[t];
        double s = 1.0 / (1.0 - (double)rate);
        drop_connect_add_forward(out, scale, br.f, sk.f, N, per, rate, seed, 5, 11);
        int kept = 0, bad = 0, first = -1;
        for (int i = 0; i < N; i++) {
            if (!(scale[i] == 0.0f || fabs(scale[i] - s) <= 1e-6 * s) && bad++ == 0) first = i;
            kept += scale[i] != 0.0f;
        }
        ck_assert_msg(bad == 0, "rate %g: %d scales neither 0 nor 1/(1-rate), first scale[%d] = %g", rate, bad, first,
                      first < 0 ? 0.0 : scale[first]);
        for (size_t j = 0; j < n; j++) want[j] = br.d[j] * scale[j / (size_t)per] + sk.d[j];
        check_fwd("drop_connect", "out", out, want, n);
        double frac = (double)kept / N, sigma = sqrt((double)rate * (1.0 - rate) / N);
        if (rate == 0.0f) {
            ck_assert_msg(kept == N && bad == 0, "rate 0: %d of %d samples kept", kept, N);
        } else {
            ck_assert_msg(fabs(frac - (1.0 - rate)) < 5 * sigma, "rate %g: kept %.4f", rate, frac);
            drop_connect_add_forward(out2, scale2, br.f, sk.f, N, per, rate, seed, 5, 11);
            ck_assert(memcmp(scale, scale2, sizeof(float) * N) == 0 && memcmp(out, out2, sizeof(float) * n) == 0);
            drop_connect_add_forward(out2, scale2, br.f, sk.f, N, per, rate, seed, 5, 12);
            int diff = 0;
            for (int i = 0; i < N; i++) diff += scale[i] != scale2[i];
            double expect = 2.0 * rate * (1.0 - rate) * N;
            ck_assert_msg(fabs(diff - expect) < 0.1 * expect, "rate %g: %d samples differ at the next step", rate,
                          diff);
        }
        printf("  drop_connect rate %.1f: kept %.4f (expected %.1f)\n", rate, frac, 1.0 - rate);
    }
    free_all();
}
END_TEST

typedef struct { int N, per; double *br, *sk, *scale, *out; const double *r; } dc_prob;

static double loss_dc(void *v) {
    dc_prob *p = v;
    for (int n = 0; n < p->N; n++)
        for (int i = 0; i < p->per; i++) {
            size_t j = (size_t)n * p->per + i;
            p->out[j] = p->br[j] * p->scale[n] + p->sk[j];
        }
    return dot(p->r, p->out, (size_t)p->N * p->per);
}

// Drop-connect gradients with the scale held fixed (dbranch = dout*scale,
// dskip = dout), out of place and with dskip == dout as the model calls it.
START_TEST(test_drop_connect_grad) {
    const int N = 6, per = 10;
    const float rate = 0.5f;
    size_t n = (size_t)N * per;
    rng_seed(0xDDu);
    tens br = t_rand(n, -1, 1), sk = t_rand(n, -1, 1), r = t_rand(n, -1, 1);
    float *out = f_nan(n), *scale = f_nan((size_t)N);
    // Find a step whose draw keeps some samples and drops others.
    uint64_t step;
    int kept = 0;
    for (step = 0; step < 100; step++) {
        drop_connect_add_forward(out, scale, br.f, sk.f, N, per, rate, 7, 2, step);
        kept = 0;
        for (int i = 0; i < N; i++) kept += scale[i] != 0.0f;
        if (kept > 0 && kept < N) break;
    }
    ck_assert(kept > 0 && kept < N);
    double *sd = d_new((size_t)N);
    for (int i = 0; i < N; i++) sd[i] = scale[i];
    dc_prob p = {N, per, br.d, sk.d, sd, d_new(n), r.d};
    loss_dc(&p);
    double wf = check_fwd("drop_connect", "out", out, p.out, n);
    double *gb = d_new(n), *gs = d_new(n);
    fd_grad(gb, br.d, n, loss_dc, &p);
    fd_grad(gs, sk.d, n, loss_dc, &p);
    float *db = f_nan(n), *ds = f_nan(n);
    drop_connect_add_backward(db, ds, r.f, scale, N, per);
    double w1 = check_grad("drop_connect", "dbranch", db, gb, n, NULL);
    double w2 = check_grad("drop_connect", "dskip", ds, gs, n, NULL);
    float *db2 = f_nan(n), *buf = f_copy(r.f, n);
    drop_connect_add_backward(db2, buf, buf, scale, N, per);
    check_same("drop_connect", "dbranch (dskip == dout)", db2, db, n);
    check_same("drop_connect", "dskip (dskip == dout)", buf, ds, n);
    printf("  drop_connect: worst out %.1f%%, dbranch %.1f%%, dskip %.1f%% of tolerance\n", wf, w1, w2);
    free_all();
}
END_TEST

Suite *suite_ops(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_same_padding_known_answers);
    tcase_add_test(tc, test_conv2d);
    tcase_add_test(tc, test_dwconv);
    tcase_add_test(tc, test_pwconv);
    tcase_add_test(tc, test_fc);
    tcase_add_test(tc, test_gap);
    tcase_add_test(tc, test_act);
    tcase_add_test(tc, test_bn_act_train);
    tcase_add_test(tc, test_bn_act_eval);
    tcase_add_test(tc, test_se);
    tcase_add_test(tc, test_softmax_ce);
    tcase_add_test(tc, test_dropout_mask);
    tcase_add_test(tc, test_dropout_grad);
    tcase_add_test(tc, test_drop_connect_mask);
    tcase_add_test(tc, test_drop_connect_grad);
    suite_add_tcase(s, tc);
    return s;
}
