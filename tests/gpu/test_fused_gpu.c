// The eval-forward fusions against their CPU compositions: the tiled
// depthwise with the batch norms folded in (cu_dwconv_bn_act_forward =
// bn_act_forward(eval) -> dwconv_forward -> bn_act_forward(eval)), also
// against the unfused GPU kernels in fp32; and the projection with the
// squeeze-excite scale folded into per-image weights (cu_se_gate_weights +
// am_gpu_gemm_per_sample = in * gate, then pwconv_forward per image).
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/kernels.h"
#include "am/ops.h"
#include "../../kernels/act_math.h"
#include "../../kernels/conv_math.h"
#include "gpu_check.h"

typedef struct {
    float *gamma, *beta, *rm, *rv;     // host
    float *dg, *db, *drm, *drv, *dm, *dr;  // device; dm, dr: eval mean and rstd
} bn_set;

static void bn_make(bn_set *b, int Cc) {
    b->gamma = h_rand(Cc, 0.5, 1.5, 0);
    b->beta = h_rand(Cc, -0.5, 0.5, 0);
    b->rm = h_rand(Cc, -0.5, 0.5, 0);
    b->rv = h_rand(Cc, 0.2, 2.0, 0);
    b->dg = d_put(b->gamma, Cc, 0);
    b->db = d_put(b->beta, Cc, 0);
    b->drm = d_put(b->rm, Cc, 0);
    b->drv = d_put(b->rv, Cc, 0);
    b->dm = d_put(NULL, Cc, 0);
    b->dr = d_put(NULL, Cc, 0);
    cu_bn_eval_stats(b->dm, b->dr, b->drm, b->drv, Cc, 1e-3f, ST);
}

static void bn_free(bn_set *b) {
    free(b->gamma); free(b->beta); free(b->rm); free(b->rv);
    cudaFree(b->dg); cudaFree(b->db); cudaFree(b->drm); cudaFree(b->drv); cudaFree(b->dm); cudaFree(b->dr);
}

// CPU eval BN + act in place on x (M,C).
static void cpu_bn(float *x, const bn_set *b, int M, int Cc, int act) {
    float *mean = AM_MALLOC(4 * Cc), *rstd = AM_MALLOC(4 * Cc), *rm = h_copy(b->rm, Cc), *rv = h_copy(b->rv, Cc);
    bn_act_forward(x, mean, rstd, x, b->gamma, b->beta, rm, rv, M, Cc, act, 0, 0.01f, 1e-3f);
    free(mean); free(rstd); free(rm); free(rv);
}

static void test_dw_fused(int dt, int N, int H, int W, int Cc, int k, int s, int pre, int act) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    size_t ni = (size_t)N * H * W * Cc, no = (size_t)N * Ho * Wo * Cc, nw = (size_t)k * k * Cc;
    float *x = h_rand(ni, -2, 2, dt), *w = h_rand(nw, -1, 1, 0), *y = AM_MALLOC(4 * no), *t = h_copy(x, ni);
    bn_set b0, b1;
    bn_make(&b0, Cc);
    bn_make(&b1, Cc);
    if (pre) cpu_bn(t, &b0, N * H * W, Cc, act);
    dwconv_forward(y, t, w, N, H, W, Cc, k, s);
    cpu_bn(y, &b1, N * Ho * Wo, Cc, act);
    void *X = d_put(x, ni, dt), *Y = d_put(NULL, no, dt);
    float *Wd = d_put(w, nw, 0);
    cu_dwconv_bn_act_forward(Y, X, Wd, pre ? b0.dm : NULL, b0.dr, b0.dg, b0.db, act, b1.dm, b1.dr, b1.dg, b1.db, act,
                             N, H, W, Cc, k, s, dt, ST);
    char name[112];
    snprintf(name, sizeof name, "dw+bn fused %s N%d %dx%d C%d k%d s%d%s act%d", dtn(dt), N, H, W, Cc, k, s,
             pre ? " pre" : "", act);
    float *g = d_get(Y, no, dt);
    check(name, g, y, no, tol_of(dt, 1e-5));
    if (dt == AM_F32) {
        // The unfused kernels on the device give the same numbers.
        void *T1 = d_put(NULL, ni, dt), *T2 = d_put(NULL, no, dt);
        double *work = d_put(NULL, 6 * (size_t)Cc, 0);  // 3*C doubles
        const void *src = X;
        if (pre) {
            cu_bn_act_forward(T1, b0.dm, b0.dr, X, b0.dg, b0.db, b0.drm, b0.drv, work, N * H * W, Cc, act, 0,
                              0.01f, 1e-3f, dt, ST);
            src = T1;
        }
        cu_dwconv_forward(T2, src, Wd, N, H, W, Cc, k, s, dt, ST);
        cu_bn_act_forward(T2, b1.dm, b1.dr, T2, b1.dg, b1.db, b1.drm, b1.drv, work, N * Ho * Wo, Cc, act, 0,
                          0.01f, 1e-3f, dt, ST);
        float *u = d_get(T2, no, dt);
        check("  = the unfused GPU kernels", g, u, no, 1e-6);
        free(u);
        cudaFree(T1); cudaFree(T2); cudaFree(work);
    }
    free(g);
    bn_free(&b0);
    bn_free(&b1);
    free(x); free(w); free(y); free(t);
    cudaFree(X); cudaFree(Y); cudaFree(Wd);
}

static void test_gated_projection(int dt, int N, int HW, int Cc, int K) {
    size_t na = (size_t)N * HW * Cc, no = (size_t)N * HW * K;
    float *a = h_rand(na, -1, 1, dt), *w = h_rand((size_t)K * Cc, -1, 1, 0), *gate = h_rand((size_t)N * Cc, 0, 1, 0);
    float *sc = AM_MALLOC(4 * na), *y = AM_MALLOC(4 * no);
    for (size_t i = 0; i < na; i++) sc[i] = a[i] * gate[(i / ((size_t)HW * Cc)) * Cc + i % Cc];
    pwconv_forward(y, sc, w, N * HW, Cc, K);
    void *A = d_put(a, na, dt), *Y = d_put(NULL, no, dt), *WN = d_put(NULL, (size_t)N * K * Cc, dt);
    float *Wd = d_put(w, (size_t)K * Cc, 0), *G = d_put(gate, (size_t)N * Cc, 0);
    cu_se_gate_weights(WN, Wd, G, N, K, Cc, dt, ST);
    am_gpu_gemm_per_sample(&C, Y, A, WN, N, HW, Cc, K, dt);
    char name[96];
    snprintf(name, sizeof name, "SE-gated projection %s N%d HW%d C%d K%d", dtn(dt), N, HW, Cc, K);
    float *g = d_get(Y, no, dt);
    check(name, g, y, no, tol_of(dt, 1e-5));
    free(g); free(a); free(w); free(gate); free(sc); free(y);
    cudaFree(A); cudaFree(Y); cudaFree(WN); cudaFree(Wd); cudaFree(G);
}

void test_fused_gpu(void) {
    for (int dt = 0; dt < 2; dt++) {
        test_dw_fused(dt, 3, 13, 13, 37, 3, 1, 1, AM_ACT_RELU6);
        test_dw_fused(dt, 2, 14, 14, 40, 3, 2, 1, AM_ACT_SWISH);
        test_dw_fused(dt, 2, 11, 17, 33, 5, 2, 0, AM_ACT_RELU6);
        test_dw_fused(dt, 3, 9, 9, 70, 5, 1, 1, AM_ACT_SWISH);
        test_dw_fused(dt, 1, 8, 8, 64, 3, 2, 0, AM_ACT_NONE);
        test_dw_fused(dt, 2, 20, 23, 96, 5, 2, 1, AM_ACT_RELU6);
        test_gated_projection(dt, 3, 49, 37, 19);
        test_gated_projection(dt, 2, 196, 96, 24);
    }
}
