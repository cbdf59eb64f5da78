// Self-test of the emulated cuDNN and cuBLAS (tests/emu/cudnn.c, cublas.c)
// on the emulated runtime (tests/emu/runtime.cpp): the convolutions
// against the CPU reference ops (src/cpu/conv.c, depthwise.c), the
// transforms and GEMMs against plain loops, and each documented error code
// with exactly one emulator finding. One line per check; exit status 1 when
// any check fails. It provokes findings on purpose and counts them itself
// (every check compares the count before and after), so it ends with
// _Exit, past the runtime's exit-on-findings handler.
//
// Build and run from the repository root, after `make` (build/libam.a):
//   mkdir -p build-emu-libs
//   g++ -std=c++17 -O1 -Itests/emu/include -Itests/emu -c tests/emu/runtime.cpp -o build-emu-libs/runtime.o
//   gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude -Itests/emu/include
//       tests/emu/test_emu_libs.c tests/emu/cudnn.c tests/emu/cublas.c build-emu-libs/runtime.o
//       build/libam.a -fopenmp -lopenblas -lstdc++ -lm -o build-emu-libs/test_emu_libs    (one command)
//   build-emu-libs/test_emu_libs
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "emu.h"
#include "am/ops.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include "../../kernels/conv_math.h"

enum { FWD, BWD_DATA, BWD_FILTER };

static int checks, fails;
static cudaStream_t S;
static cudnnHandle_t dnn;
static cublasHandle_t blas;
static void *WS;                       // the workspace every convolution gets
#define WS_BYTES ((size_t)16 << 20)

// ---- checks and data ---------------------------------------------------------------

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    checks++;
    fails += !ok;
}

// A refused call: status want and exactly one new emulator finding (f0:
// the count before the call).
static void refused(const char *what, int got, int want, int f0) {
    int nf = emu_findings() - f0;
    check(got == want && nf == 1, "%s: status %d (want %d), %d finding(s) (want 1)", what, got, want, nf);
}

static float bf16r(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

static float *rnd(size_t n, int bf16) {
    static uint32_t seed = 12345;
    float *a = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
        if (bf16) a[i] = bf16r(a[i]);
    }
    return a;
}

// A device copy of h (n floats) as float or bfloat16.
static void *up(const float *h, size_t n, int dt) {
    void *d = NULL;
    size_t es = dt == CUDNN_DATA_BFLOAT16 ? 2 : 4;
    void *t = malloc(es * n);
    for (size_t i = 0; i < n; i++) {
        if (es == 4) {
            ((float *)t)[i] = h[i];
        } else {
            uint32_t u;
            float f = bf16r(h[i]);
            memcpy(&u, &f, 4);
            ((uint16_t *)t)[i] = (uint16_t)(u >> 16);
        }
    }
    cudaMalloc(&d, es * n);
    cudaMemcpy(d, t, es * n, cudaMemcpyHostToDevice);
    free(t);
    return d;
}

// n elements of device d (float or bfloat16) as floats, after the stream's work.
static float *down(const void *d, size_t n, int dt) {
    size_t es = dt == CUDNN_DATA_BFLOAT16 ? 2 : 4;
    void *t = malloc(es * n);
    float *h = malloc(sizeof(float) * n);
    cudaStreamSynchronize(S);
    cudaMemcpy(t, d, es * n, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = es == 4 ? ((uint32_t *)t)[i] : (uint32_t)((uint16_t *)t)[i] << 16;
        memcpy(&h[i], &u, 4);
    }
    free(t);
    return h;
}

// max |a - b| relative to max |b|.
static double err(const float *a, const float *b, size_t n) {
    double e = 0.0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d > e || d != d ? d : e;
        m = fabs(b[i]) > m ? fabs(b[i]) : m;
    }
    return e / m;
}

// (N,H,W,C) <-> (N,C,H,W)
static float *to_nchw(const float *a, int N, int H, int W, int C) {
    float *o = malloc(sizeof(float) * (size_t)N * H * W * C);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++)
                    o[(((size_t)n * C + c) * H + h) * W + w] = a[(((size_t)n * H + h) * W + w) * C + c];
    return o;
}

static float *to_nhwc(const float *a, int N, int H, int W, int C) {
    float *o = malloc(sizeof(float) * (size_t)N * H * W * C);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++)
                    o[(((size_t)n * H + h) * W + w) * C + c] = a[(((size_t)n * C + c) * H + h) * W + w];
    return o;
}

// ---- convolution helpers -----------------------------------------------------------

typedef struct {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t c;
    int dt, Ho, Wo;
} conv_t;

// x (N,C,H,W), w (K, C/groups, kh, kw) and y as GetConvolution2dForwardOutputDim gives it.
static conv_t conv_make(int dt, int fmt, int N, int H, int W, int C, int K, int kh, int kw, int pad, int s,
                        int groups, int math, int mode) {
    conv_t v = {NULL, NULL, NULL, NULL, dt, 0, 0};
    int n, k;
    cudnnCreateTensorDescriptor(&v.x);
    cudnnCreateTensorDescriptor(&v.y);
    cudnnCreateFilterDescriptor(&v.w);
    cudnnCreateConvolutionDescriptor(&v.c);
    cudnnSetTensor4dDescriptor(v.x, fmt, dt, N, C, H, W);
    cudnnSetFilter4dDescriptor(v.w, dt, fmt, K, C / groups, kh, kw);
    cudnnSetConvolution2dDescriptor(v.c, pad, pad, s, s, 1, 1, mode, CUDNN_DATA_FLOAT);
    cudnnSetConvolutionGroupCount(v.c, groups);
    cudnnSetConvolutionMathType(v.c, math);
    cudnnGetConvolution2dForwardOutputDim(v.c, v.x, v.w, &n, &k, &v.Ho, &v.Wo);
    cudnnSetTensor4dDescriptor(v.y, fmt, dt, n, k, v.Ho, v.Wo);
    return v;
}

static void conv_free(conv_t *v) {
    cudnnDestroyTensorDescriptor(v->x);
    cudnnDestroyTensorDescriptor(v->y);
    cudnnDestroyFilterDescriptor(v->w);
    cudnnDestroyConvolutionDescriptor(v->c);
}

typedef struct {
    int n, algo[8], math[8];
    size_t ws[8];
} found;

// The successful results of op's Find.
static found find(int op, const conv_t *v) {
    found f = {0, {0}, {0}, {0}};
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t pf[8];
    cudnnConvolutionBwdDataAlgoPerf_t pd[8];
    cudnnConvolutionBwdFilterAlgoPerf_t pw[8];
    if (op == FWD) cudnnFindConvolutionForwardAlgorithm(dnn, v->x, v->w, v->c, v->y, 8, &n, pf);
    if (op == BWD_DATA) cudnnFindConvolutionBackwardDataAlgorithm(dnn, v->w, v->y, v->c, v->x, 8, &n, pd);
    if (op == BWD_FILTER) cudnnFindConvolutionBackwardFilterAlgorithm(dnn, v->x, v->y, v->c, v->w, 8, &n, pw);
    for (int i = 0; i < n; i++) {
        int st = op == FWD ? pf[i].status : op == BWD_DATA ? pd[i].status : pw[i].status;
        if (st != CUDNN_STATUS_SUCCESS) continue;
        f.algo[f.n] = op == FWD ? (int)pf[i].algo : op == BWD_DATA ? (int)pd[i].algo : (int)pw[i].algo;
        f.math[f.n] = op == FWD ? (int)pf[i].mathType : op == BWD_DATA ? (int)pd[i].mathType : (int)pw[i].mathType;
        f.ws[f.n++] = op == FWD ? pf[i].memory : op == BWD_DATA ? pd[i].memory : pw[i].memory;
    }
    return f;
}

// op with algo on (x, w, y), workspace size ws: y, dx or dw written.
static int run(int op, const conv_t *v, int algo, size_t ws, void *x, void *w, void *y, float alpha, float beta) {
    if (op == FWD)
        return cudnnConvolutionForward(dnn, &alpha, v->x, x, v->w, w, v->c, algo, WS, ws, &beta, v->y, y);
    if (op == BWD_DATA)
        return cudnnConvolutionBackwardData(dnn, &alpha, v->w, w, v->y, y, v->c, algo, WS, ws, &beta, v->x, x);
    return cudnnConvolutionBackwardFilter(dnn, &alpha, v->x, x, v->y, y, v->c, algo, WS, ws, &beta, v->w, w);
}

// The three tensors of a convolution test on the device, and the output's
// host copy in the reference layout after a run.
typedef struct {
    void *d[3];      // x, w, y
    size_t n[3];     // elements
    float *(*back)(const float *, const void *ctx, int which);
    const void *ctx;
} bufs;

static const char *op_name[3] = {"forward", "backward-data", "backward-filter"};

// Every algorithm Find lists for op, each result compared with ref (after
// back, in the reference layout). The output is poisoned (NaN) first:
// beta 0 must not read it.
static void each_algo(const char *name, int op, const conv_t *v, bufs *b, const float *ref, size_t nref, double tol) {
    found f = find(op, v);
    int out = op == FWD ? 2 : op == BWD_DATA ? 0 : 1;
    check(f.n > 0, "%s %s: Find lists %d successful algorithm(s)", name, op_name[op], f.n);
    for (int i = 0; i < f.n; i++) {
        int f0 = emu_findings();
        cudaMemsetAsync(b->d[out], 0xFF, b->n[out] * (v->dt == CUDNN_DATA_BFLOAT16 ? 2 : 4), S);
        int st = run(op, v, f.algo[i], f.ws[i], b->d[0], b->d[1], b->d[2], 1.0f, 0.0f);
        float *h = down(b->d[out], b->n[out], v->dt);
        float *r = b->back(h, b->ctx, out);
        double e = err(r, ref, nref);
        check(st == 0 && e <= tol && emu_findings() == f0, "%s %s algo %d (math %d, ws %zu): status %d, error %.2e",
              name, op_name[op], f.algo[i], f.math[i], f.ws[i], st, e);
        if (r != h) free(r);
        free(h);
    }
}

// ---- dense and pointwise convolutions vs src/cpu/conv.c --------------------------------

typedef struct {
    int N, H, Hp, C, K, k, s, Ho, pt, fmt;
} dense_geo;

// A device output back in the CPU layout: y (N,Ho,Ho,K), dx's interior
// (N,H,H,C) of the padded (N,Hp,Hp,C), dw (K,k,k,C).
static float *dense_back(const float *h, const void *ctx, int which) {
    const dense_geo *g = ctx;
    int nchw = g->fmt == CUDNN_TENSOR_NCHW;
    if (which == 2) return nchw ? to_nhwc(h, g->N, g->Ho, g->Ho, g->K) : (float *)h;
    if (which == 1) return nchw ? to_nhwc(h, g->K, g->k, g->k, g->C) : (float *)h;
    float *p = nchw ? to_nhwc(h, g->N, g->Hp, g->Hp, g->C) : (float *)h;
    float *o = malloc(sizeof(float) * (size_t)g->N * g->H * g->H * g->C);
    for (int n = 0; n < g->N; n++)
        for (int y = 0; y < g->H; y++)
            memcpy(o + ((size_t)n * g->H + y) * g->H * g->C,
                   p + (((size_t)n * g->Hp + y + g->pt) * g->Hp + g->pt) * g->C, sizeof(float) * g->H * g->C);
    if (p != h) free(p);
    return o;
}

// The CPU reference: y, dx (assigned) and dw (accumulated into zeros); the
// pointwise ops for k = 1, s = 1, else the dense (im2col) ones, TF-SAME.
static void dense_ref(const dense_geo *g, const float *x, const float *w, const float *dy, float *y, float *dx,
                      float *dw) {
    memset(dw, 0, sizeof(float) * (size_t)g->K * g->k * g->k * g->C);
    if (g->k == 1 && g->s == 1) {
        int M = g->N * g->H * g->H;
        pwconv_forward(y, x, w, M, g->C, g->K);
        pwconv_backward(dx, dw, dy, x, w, M, g->C, g->K);
        return;
    }
    size_t ncol = (size_t)g->N * g->Ho * g->Ho * g->k * g->k * g->C;
    float *col = malloc(sizeof(float) * ncol), *dcol = malloc(sizeof(float) * ncol);
    conv2d_forward(y, col, x, w, g->N, g->H, g->H, g->C, g->K, g->k, g->s);
    conv2d_backward(dx, dw, dcol, dy, col, w, g->N, g->H, g->H, g->C, g->K, g->k, g->s);
    free(col);
    free(dcol);
}

// x (N,H,H,C) padded TF-SAME into (N,Hp,Hp,C) at (pt, pt), zeros around.
static float *pad_input(const float *x, const dense_geo *g) {
    float *xp = calloc((size_t)g->N * g->Hp * g->Hp * g->C, sizeof(float));
    for (int n = 0; n < g->N; n++)
        for (int r = 0; r < g->H; r++)
            memcpy(xp + (((size_t)n * g->Hp + r + g->pt) * g->Hp + g->pt) * g->C,
                   x + ((size_t)n * g->H + r) * g->H * g->C, sizeof(float) * g->H * g->C);
    return xp;
}

// x (N,H,H,C) * w (K,k,k,C), stride s, TF-SAME, in layout fmt: padded
// explicitly (as src/cuda/gpu_model.c does, cuDNN pad 0) or by cuDNN
// (symmetric padding), every algorithm of every direction vs the CPU.
static void dense_case(const char *name, int dt, int fmt, int N, int H, int C, int K, int k, int s, int explicit_pad) {
    int bf = dt == CUDNN_DATA_BFLOAT16, nchw = fmt == CUDNN_TENSOR_NCHW, Ho = am_same_out(H, s);
    int pt = am_same_pad_before(H, k, s), tot = (Ho - 1) * s + k - H > 0 ? (Ho - 1) * s + k - H : 0;
    if (!explicit_pad && 2 * pt != tot) {
        check(0, "%s: TF-SAME padding is not symmetric here", name);
        return;
    }
    dense_geo g = {N, H, explicit_pad ? H + tot : H, C, K, k, s, Ho, explicit_pad ? pt : 0, fmt};
    size_t nx = (size_t)N * H * H * C, nw = (size_t)K * k * k * C, ny = (size_t)N * Ho * Ho * K;
    size_t nxp = (size_t)N * g.Hp * g.Hp * C;
    float *x = rnd(nx, bf), *w = rnd(nw, bf), *dy = rnd(ny, bf);
    float *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx), *dw = malloc(sizeof(float) * nw);
    dense_ref(&g, x, w, dy, y, dx, dw);
    float *xp = pad_input(x, &g);
    float *ux = nchw ? to_nchw(xp, N, g.Hp, g.Hp, C) : xp, *uw = nchw ? to_nchw(w, K, k, k, C) : w;
    float *udy = nchw ? to_nchw(dy, N, Ho, Ho, K) : dy;
    conv_t v = conv_make(dt, fmt, N, g.Hp, g.Hp, C, K, k, k, explicit_pad ? 0 : pt, s, 1,
                         bf ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH, CUDNN_CROSS_CORRELATION);
    check(v.Ho == Ho && v.Wo == Ho, "%s: output %dx%d (want %dx%d)", name, v.Ho, v.Wo, Ho, Ho);
    void *dX = up(ux, nxp, dt), *dW = up(uw, nw, dt), *dDY = up(udy, ny, dt), *out = NULL;
    double tol = bf ? 1e-2 : 2e-5;
    cudaMalloc(&out, sizeof(float) * (nxp > ny ? (nxp > nw ? nxp : nw) : (ny > nw ? ny : nw)));
    bufs fw = {{dX, dW, out}, {nxp, nw, ny}, dense_back, &g};
    bufs bd = {{out, dW, dDY}, {nxp, nw, ny}, dense_back, &g};
    bufs bw = {{dX, out, dDY}, {nxp, nw, ny}, dense_back, &g};
    each_algo(name, FWD, &v, &fw, y, ny, tol);
    each_algo(name, BWD_DATA, &v, &bd, dx, nx, tol);
    each_algo(name, BWD_FILTER, &v, &bw, dw, nw, bf ? 2e-2 : 2e-5);
    conv_free(&v);
    cudaFree(dX); cudaFree(dW); cudaFree(dDY); cudaFree(out);
    if (nchw) { free(ux); free(uw); free(udy); }
    free(x); free(w); free(dy); free(y); free(dx); free(dw); free(xp);
}

// ---- depthwise: grouped convolution vs src/cpu/depthwise.c --------------------------------

typedef struct {
    int N, H, Ho, C, k, kf, e;
} dw_geo;

// dw's (C,kf,kf) block at (e, e) back as (k,k,C); y and dx are NHWC already.
static float *dw_back(const float *h, const void *ctx, int which) {
    const dw_geo *g = ctx;
    if (which != 1) return (float *)h;
    float *o = malloc(sizeof(float) * (size_t)g->k * g->k * g->C);
    for (int ky = 0; ky < g->k; ky++)
        for (int kx = 0; kx < g->k; kx++)
            for (int c = 0; c < g->C; c++)
                o[(ky * g->k + kx) * g->C + c] = h[((size_t)c * g->kf + ky + g->e) * g->kf + kx + g->e];
    return o;
}

// The depthwise convolution as src/cuda/cudnn.c runs it: groups = C, a
// (k+e)-tap filter whose first tap is zero, padded symmetrically by
// pad_before + e, so that TF-SAME's odd pixel after is covered.
static void dw_case(const char *name, int dt, int N, int H, int C, int k, int s) {
    int bf = dt == CUDNN_DATA_BFLOAT16, Ho = am_same_out(H, s), pb = am_same_pad_before(H, k, s);
    int th = (Ho - 1) * s + k - H, e = (th > 0 ? th : 0) - 2 * pb, kf = k + e;
    dw_geo g = {N, H, Ho, C, k, kf, e};
    size_t nx = (size_t)N * H * H * C, nw = (size_t)k * k * C, nwf = (size_t)C * kf * kf, ny = (size_t)N * Ho * Ho * C;
    float *x = rnd(nx, bf), *w = rnd(nw, bf), *dy = rnd(ny, bf), *wf = calloc(nwf, sizeof(float));
    float *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float));
    dwconv_forward(y, x, w, N, H, H, C, k, s);
    dwconv_backward(dx, dw, dy, x, w, N, H, H, C, k, s);
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++)
            for (int c = 0; c < C; c++) wf[((size_t)c * kf + ky + e) * kf + kx + e] = w[(ky * k + kx) * C + c];
    conv_t v = conv_make(dt, CUDNN_TENSOR_NHWC, N, H, H, C, C, kf, kf, pb + e, s, C,
                         bf ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH, CUDNN_CROSS_CORRELATION);
    check(v.Ho == Ho, "%s: output %d (want %d, k %d e %d pad %d)", name, v.Ho, Ho, k, e, pb + e);
    void *dX = up(x, nx, dt), *dW = up(wf, nwf, dt), *dDY = up(dy, ny, dt), *out = NULL;
    cudaMalloc(&out, sizeof(float) * (nx > ny ? nx : ny));
    bufs fw = {{dX, dW, out}, {nx, nwf, ny}, dw_back, &g};
    bufs bd = {{out, dW, dDY}, {nx, nwf, ny}, dw_back, &g};
    bufs bw = {{dX, out, dDY}, {nx, nwf, ny}, dw_back, &g};
    double tol = bf ? 1e-2 : 2e-5;
    each_algo(name, FWD, &v, &fw, y, ny, tol);
    each_algo(name, BWD_DATA, &v, &bd, dx, nx, tol);
    each_algo(name, BWD_FILTER, &v, &bw, dw, nw, bf ? 2e-2 : 2e-5);
    conv_free(&v);
    cudaFree(dX); cudaFree(dW); cudaFree(dDY); cudaFree(out);
    free(x); free(w); free(dy); free(wf); free(y); free(dx); free(dw);
}

// ---- convolution mode, alpha and beta ------------------------------------------------------

// One forward or backward-filter call with algorithm 0, no workspace.
static int run0(int op, const conv_t *v, void *x, void *w, void *y, float alpha, float beta) {
    return run(op, v, 0, 0, x, w, y, alpha, beta);
}

// CUDNN_CONVOLUTION with w equals cross-correlation with w flipped, and its
// filter gradient is the flipped one.
static void flip_case(void) {
    int N = 2, H = 6, C = 3, K = 4, k = 3;
    size_t nx = (size_t)N * H * H * C, nw = (size_t)K * k * k * C, ny = (size_t)N * H * H * K;
    float *x = rnd(nx, 0), *w = rnd(nw, 0), *dy = rnd(ny, 0), *wf = malloc(sizeof(float) * nw);
    for (int o = 0; o < K; o++)
        for (int t = 0; t < k * k; t++)
            memcpy(wf + ((size_t)o * k * k + t) * C, w + ((size_t)o * k * k + k * k - 1 - t) * C, sizeof(float) * C);
    conv_t cc = conv_make(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, N, H, H, C, K, k, k, 1, 1, 1, CUDNN_FMA_MATH,
                          CUDNN_CROSS_CORRELATION);
    conv_t cv = conv_make(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, N, H, H, C, K, k, k, 1, 1, 1, CUDNN_FMA_MATH,
                          CUDNN_CONVOLUTION);
    void *dX = up(x, nx, CUDNN_DATA_FLOAT), *dW = up(w, nw, CUDNN_DATA_FLOAT), *dWF = up(wf, nw, CUDNN_DATA_FLOAT);
    void *dDY = up(dy, ny, CUDNN_DATA_FLOAT), *y1 = up(dy, ny, CUDNN_DATA_FLOAT), *y2 = up(dy, ny, CUDNN_DATA_FLOAT);
    int st = run0(FWD, &cc, dX, dWF, y1, 1.0f, 0.0f) | run0(FWD, &cv, dX, dW, y2, 1.0f, 0.0f);
    float *a = down(y1, ny, CUDNN_DATA_FLOAT), *b = down(y2, ny, CUDNN_DATA_FLOAT);
    check(!st && err(b, a, ny) == 0.0, "CUDNN_CONVOLUTION forward = cross-correlation with the flipped filter");
    st = run0(BWD_FILTER, &cc, dX, dWF, dDY, 1.0f, 0.0f) | run0(BWD_FILTER, &cv, dX, dW, dDY, 1.0f, 0.0f);
    float *ga = down(dWF, nw, CUDNN_DATA_FLOAT), *gb = down(dW, nw, CUDNN_DATA_FLOAT);
    for (int o = 0; o < K; o++)
        for (int t = 0; t < k * k; t++)
            memcpy(wf + ((size_t)o * k * k + t) * C, ga + ((size_t)o * k * k + k * k - 1 - t) * C, sizeof(float) * C);
    check(!st && err(gb, wf, nw) == 0.0, "CUDNN_CONVOLUTION backward-filter = the flipped filter gradient");
    conv_free(&cc);
    conv_free(&cv);
    cudaFree(dX); cudaFree(dW); cudaFree(dWF); cudaFree(dDY); cudaFree(y1); cudaFree(y2);
    free(x); free(w); free(dy); free(wf); free(a); free(b); free(ga); free(gb);
}

// out = alpha * plain + beta * before, elementwise.
static float *blend(const float *plain, const float *before, size_t n, float alpha, float beta, int bf) {
    float *o = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        o[i] = alpha * plain[i] + beta * before[i];
        if (bf) o[i] = bf16r(o[i]);
    }
    return o;
}

// y = alpha * op + beta * y for each direction, against the plain result
// (alpha 1, beta 0), in dt.
static void scale_case(int dt) {
    int N = 2, H = 5, C = 4, K = 6, k = 3, bf = dt == CUDNN_DATA_BFLOAT16;
    size_t n[3] = {(size_t)N * H * H * C, (size_t)K * k * k * C, (size_t)N * H * H * K};
    conv_t v = conv_make(dt, CUDNN_TENSOR_NHWC, N, H, H, C, K, k, k, 1, 1, 1, CUDNN_FMA_MATH, CUDNN_CROSS_CORRELATION);
    float *h[3], *pre[3];
    void *d[3], *out[3];
    for (int i = 0; i < 3; i++) {
        h[i] = rnd(n[i], bf);
        pre[i] = rnd(n[i], bf);
        d[i] = up(h[i], n[i], dt);
        out[i] = up(pre[i], n[i], dt);
    }
    const float ab[3][2] = {{0.5f, 2.0f}, {-1.0f, 0.5f}, {1.0f, 1.0f}};
    for (int op = 0; op < 3; op++) {
        int o = op == FWD ? 2 : op == BWD_DATA ? 0 : 1;
        void *a[3] = {d[0], d[1], d[2]};
        a[o] = out[o];
        int st = run0(op, &v, a[0], a[1], a[2], 1.0f, 0.0f);
        float *plain = down(out[o], n[o], dt);
        void *fresh = up(pre[o], n[o], dt);
        a[o] = fresh;
        st |= run0(op, &v, a[0], a[1], a[2], ab[op][0], ab[op][1]);
        float *got = down(fresh, n[o], dt), *want = blend(plain, pre[o], n[o], ab[op][0], ab[op][1], bf);
        double e = err(got, want, n[o]);
        check(!st && e <= (bf ? 1e-2 : 1e-6), "%s %s alpha %g beta %g: error %.2e", bf ? "bf16" : "fp32", op_name[op],
              ab[op][0], ab[op][1], e);
        cudaFree(fresh);
        free(plain); free(got); free(want);
    }
    conv_free(&v);
    for (int i = 0; i < 3; i++) { cudaFree(d[i]); cudaFree(out[i]); free(h[i]); free(pre[i]); }
}

// ---- cudnnTransformTensor -----------------------------------------------------------------

// NHWC to NCHW (float, bfloat16), with alpha and beta, and the strided
// views src/cuda/cudnn.c uses to move a (k,k,C) filter into the block at
// (e, e) of a (C, k+e, k+e) one and its gradient back (beta 1).
static void transform_case(void) {
    int N = 2, C = 5, H = 3, W = 4;
    size_t n = (size_t)N * C * H * W;
    cudnnTensorDescriptor_t a, b;
    cudnnCreateTensorDescriptor(&a);
    cudnnCreateTensorDescriptor(&b);
    for (int bf = 0; bf < 2; bf++) {
        int dt = bf ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
        float *x = rnd(n, bf), *y0 = rnd(n, bf), *t = to_nchw(x, N, H, W, C), *ty0 = to_nchw(y0, N, H, W, C);
        cudnnSetTensor4dDescriptor(a, CUDNN_TENSOR_NHWC, dt, N, C, H, W);
        cudnnSetTensor4dDescriptor(b, CUDNN_TENSOR_NCHW, dt, N, C, H, W);
        void *dx = up(x, n, dt), *dy = up(ty0, n, dt);
        const float two = 2.0f, one = 1.0f, zero = 0.0f;
        int st = cudnnTransformTensor(dnn, &one, a, dx, &zero, b, dy);
        float *g = down(dy, n, dt);
        check(!st && err(g, t, n) == 0.0, "transform %s NHWC -> NCHW", bf ? "bf16" : "fp32");
        free(g);
        void *dz = up(ty0, n, dt);
        st = cudnnTransformTensor(dnn, &two, a, dx, &one, b, dz);
        g = down(dz, n, dt);
        float *want = blend(t, ty0, n, 2.0f, 1.0f, bf);
        check(!st && err(g, want, n) <= (bf ? 4e-3 : 1e-7), "transform %s y = 2 x + y: error %.2e",
              bf ? "bf16" : "fp32", err(g, want, n));
        cudaFree(dx); cudaFree(dy); cudaFree(dz);
        free(x); free(y0); free(t); free(ty0); free(g); free(want);
    }
    int k = 3, e = 1, kf = k + e;
    size_t nw = (size_t)k * k * C, nf = (size_t)C * kf * kf;
    float *w = rnd(nw, 0), *z = calloc(nf, sizeof(float)), *g0 = rnd(nw, 0);
    float *wf = NULL, *dw = NULL;
    cudnnSetTensor4dDescriptorEx(a, CUDNN_DATA_FLOAT, 1, C, k, k, k * k * C, 1, k * C, C);
    cudnnSetTensor4dDescriptorEx(b, CUDNN_DATA_FLOAT, 1, C, k, k, C * kf * kf, kf * kf, kf, 1);
    void *dW = up(w, nw, CUDNN_DATA_FLOAT), *dF = up(z, nf, CUDNN_DATA_FLOAT), *dG = up(g0, nw, CUDNN_DATA_FLOAT);
    const float one = 1.0f, zero = 0.0f;
    int st = cudnnTransformTensor(dnn, &one, a, dW, &zero, b, (float *)dF + e * kf + e);
    st |= cudnnTransformTensor(dnn, &one, b, (float *)dF + e * kf + e, &one, a, dG);
    wf = down(dF, nf, CUDNN_DATA_FLOAT);
    dw = down(dG, nw, CUDNN_DATA_FLOAT);
    int ok = !st;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < kf; ky++)
            for (int kx = 0; kx < kf; kx++) {
                float want = ky >= e && kx >= e ? w[((ky - e) * k + kx - e) * C + c] : 0.0f;
                ok &= wf[((size_t)c * kf + ky) * kf + kx] == want;
            }
    for (size_t i = 0; i < nw; i++) ok &= dw[i] == g0[i] + w[i];
    check(ok, "transform (k,k,C) into the (C,k+1,k+1) filter's block and back with beta 1");
    cudaFree(dW); cudaFree(dF); cudaFree(dG);
    free(w); free(z); free(g0); free(wf); free(dw);
    cudnnDestroyTensorDescriptor(a);
    cudnnDestroyTensorDescriptor(b);
}

// ---- cuBLAS ------------------------------------------------------------------------

// Column-major C (m x n, ldc) = alpha op(A) op(B) + beta C0, in double;
// C0 not read when beta is 0.
static void gemm_ref(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, const float *C0, float *C, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double acc = 0.0;
            for (int l = 0; l < k; l++)
                acc += (double)(ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda]) *
                       (tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb]);
            C[i + (size_t)j * ldc] = (float)(alpha * acc + (beta != 0.0f ? beta * C0[i + (size_t)j * ldc] : 0.0));
        }
}

// cublasSgemm with each transpose pair, padded leading dimensions (the
// padding rows of C untouched), beta 0 over NaN and beta 0.5.
static void sgemm_case(void) {
    int m = 5, n = 4, k = 7;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bz = 0; bz < 2; bz++) {
                int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 3;
                size_t na = (size_t)lda * (ta ? m : k), nb = (size_t)ldb * (tb ? k : n), nc = (size_t)ldc * n;
                float *A = rnd(na, 0), *B = rnd(nb, 0), *C0 = rnd(nc, 0), *want = malloc(sizeof(float) * nc);
                float alpha = 1.5f, beta = bz ? 0.0f : 0.5f;
                if (bz)
                    for (size_t i = 0; i < nc; i++)
                        if (i % ldc < (size_t)m) C0[i] = NAN;
                memcpy(want, C0, sizeof(float) * nc);
                gemm_ref(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C0, want, ldc);
                void *dA = up(A, na, CUDNN_DATA_FLOAT), *dB = up(B, nb, CUDNN_DATA_FLOAT);
                void *dC = up(C0, nc, CUDNN_DATA_FLOAT);
                int f0 = emu_findings();
                int st = cublasSgemm(blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                                     &alpha, dA, lda, dB, ldb, &beta, dC, ldc);
                float *got = down(dC, nc, CUDNN_DATA_FLOAT);
                int pad_ok = 1;
                for (size_t i = 0; i < nc; i++)
                    if (i % ldc >= (size_t)m) pad_ok &= got[i] == C0[i];
                double e = err(got, want, nc);
                check(!st && pad_ok && e <= 1e-6 && emu_findings() == f0, "cublasSgemm %c%c beta %g: error %.2e",
                      ta ? 'T' : 'N', tb ? 'T' : 'N', beta, e);
                cudaFree(dA); cudaFree(dB); cudaFree(dC);
                free(A); free(B); free(C0); free(want); free(got);
            }
}

// src/cuda/cublas.c's per-image projection: out_n (HW,K) = a_n (HW,C) .
// wn_n (K,C)^T, gemm(T, N, K, HW, C) strided over N images; A/B of type
// at, C of type ct; TF32 operands with CUBLAS_COMPUTE_32F_FAST_TF32.
static void batched(int at, int ct, int compute) {
    int N = 3, HW = 6, C = 7, K = 5, bf = at == CUDA_R_16BF;
    int dt = bf ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    int dct = ct == CUDA_R_16BF ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    size_t nw = (size_t)N * K * C, na = (size_t)N * HW * C, no = (size_t)N * HW * K;
    float *w = rnd(nw, bf), *a = rnd(na, bf), *want = malloc(sizeof(float) * no);
    for (int i = 0; i < N; i++)
        gemm_ref(1, 0, K, HW, C, 1.0f, w + (size_t)i * K * C, C, a + (size_t)i * HW * C, C, 0.0f, NULL,
                 want + (size_t)i * HW * K, K);
    void *dw = up(w, nw, dt), *da = up(a, na, dt), *dout = NULL;
    cudaMalloc(&dout, sizeof(float) * no);
    const float one = 1.0f, zero = 0.0f;
    int st = cublasGemmStridedBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, K, HW, C, &one, dw, at, C, (long long)K * C,
                                        da, at, C, (long long)HW * C, &zero, dout, ct, K, (long long)HW * K, N,
                                        compute, CUBLAS_GEMM_DEFAULT);
    float *got = down(dout, no, dct);
    double e = err(got, want, no);
    double tol = ct == CUDA_R_16BF ? 1e-2 : compute == CUBLAS_COMPUTE_32F_FAST_TF32 ? 2e-3 : 1e-6;
    int tf32_seen = compute != CUBLAS_COMPUTE_32F_FAST_TF32 || e > 1e-6;
    check(!st && e <= tol && tf32_seen, "cublasGemmStridedBatchedEx A/B %s C %s compute %d: error %.2e",
          bf ? "16BF" : "32F", ct == CUDA_R_16BF ? "16BF" : "32F", compute, e);
    cudaFree(dw); cudaFree(da); cudaFree(dout);
    free(w); free(a); free(want); free(got);
}

// ---- documented errors -------------------------------------------------------------

// A float 3x3 convolution x (1,8,8,4) -> y (1,8,8,6), pad 1, and its buffers.
typedef struct {
    conv_t v;
    void *x, *w, *y;
} small;

static small small_make(int dt, int math) {
    small s;
    s.v = conv_make(dt, CUDNN_TENSOR_NHWC, 1, 8, 8, 4, 6, 3, 3, 1, 1, 1, math, CUDNN_CROSS_CORRELATION);
    float *h = rnd(1024, dt == CUDNN_DATA_BFLOAT16);
    s.x = up(h, 8 * 8 * 4 + 64, dt);
    s.w = up(h, 6 * 9 * 4 + 64, dt);
    s.y = up(h, 8 * 8 * 6 + 64, dt);
    free(h);
    return s;
}

static void small_free(small *s) {
    conv_free(&s->v);
    cudaFree(s->x); cudaFree(s->w); cudaFree(s->y);
}

// cudnnTensorDescriptor_t of (n,c,h,w) NHWC in dt.
static cudnnTensorDescriptor_t tensor(int dt, int n, int c, int h, int w) {
    cudnnTensorDescriptor_t t;
    cudnnCreateTensorDescriptor(&t);
    cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NHWC, dt, n, c, h, w);
    return t;
}

// Mismatched types, shapes and groups, as cudnnConvolution* document them.
static void shape_errors(void) {
    small s = small_make(CUDNN_DATA_FLOAT, CUDNN_FMA_MATH);
    const float one = 1.0f, zero = 0.0f;
    cudnnFilterDescriptor_t wb;
    cudnnCreateFilterDescriptor(&wb);
    cudnnSetFilter4dDescriptor(wb, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, 6, 4, 3, 3);
    int f0 = emu_findings();
    int st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, wb, s.w, s.v.c, 0, NULL, 0, &zero, s.v.y, s.y);
    refused("forward, w bfloat16 with x and y float", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnTensorDescriptor_t y7 = tensor(CUDNN_DATA_FLOAT, 1, 6, 7, 7), yk = tensor(CUDNN_DATA_FLOAT, 1, 5, 8, 8);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 0, NULL, 0, &zero, y7, s.y);
    refused("forward, y 7x7 where the convolution gives 8x8", st, CUDNN_STATUS_NOT_SUPPORTED, f0);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 0, NULL, 0, &zero, yk, s.y);
    refused("forward, y with 5 channels for 6 filters", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnConvolutionBackwardData(dnn, &one, s.v.w, s.w, y7, s.y, s.v.c, 0, NULL, 0, &zero, s.v.x, s.x);
    refused("backward-data, dy 7x7 where the convolution gives 8x8", st, CUDNN_STATUS_BAD_PARAM, f0);
    int n, c, h, w;
    cudnnSetConvolutionGroupCount(s.v.c, 2);
    f0 = emu_findings();
    st = cudnnGetConvolution2dForwardOutputDim(s.v.c, s.v.x, s.v.w, &n, &c, &h, &w);
    refused("output dims, 4 channels but 4 per group times 2 groups", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnSetConvolutionGroupCount(s.v.c, 4);
    cudnnSetFilter4dDescriptor(wb, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 6, 1, 3, 3);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, wb, s.w, s.v.c, 0, NULL, 0, &zero, s.v.y, s.y);
    refused("forward, 6 filters in 4 groups", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnConvolutionBackwardData(dnn, &one, wb, s.w, s.v.y, s.y, s.v.c, 0, NULL, 0, &zero, s.v.x, s.x);
    refused("backward-data, 6 filters in 4 groups", st, CUDNN_STATUS_NOT_SUPPORTED, f0);
    cudnnDestroyFilterDescriptor(wb);
    cudnnDestroyTensorDescriptor(y7);
    cudnnDestroyTensorDescriptor(yk);
    small_free(&s);
}

// Algorithm numbers, workspaces, pointers, handles and descriptors.
static void call_errors(void) {
    small s = small_make(CUDNN_DATA_FLOAT, CUDNN_FMA_MATH);
    const float one = 1.0f, zero = 0.0f;
    int f0 = emu_findings();
    int st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 42, WS, WS_BYTES, &zero, s.v.y, s.y);
    refused("forward, algorithm 42", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, CUDNN_CONVOLUTION_FWD_ALGO_FFT, WS, WS_BYTES,
                                 &zero, s.v.y, s.y);
    refused("forward, FFT (not emulated)", st, CUDNN_STATUS_NOT_SUPPORTED, f0);
    size_t need = 4 * 8 * 8 * 9 * 4;  // GEMM: 4 * N * Ho * Wo * kh * kw * C
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, WS,
                                 need - 1, &zero, s.v.y, s.y);
    refused("forward GEMM, workspace one byte short", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, WS, need,
                                 &zero, s.v.y, s.y);
    check(!st && emu_findings() == f0, "forward GEMM, workspace exactly %zu bytes: status %d", need, st);
    float *host = malloc(4096);
    f0 = emu_findings();
    st = run0(FWD, &s.v, host, s.w, s.y, 1.0f, 0.0f);
    refused("forward, x in host memory", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = run0(FWD, &s.v, (float *)s.x + 65, s.w, s.y, 1.0f, 0.0f);
    refused("forward, x running past its allocation", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = run0(FWD, &s.v, (char *)s.x + 2, s.w, s.y, 1.0f, 0.0f);
    refused("forward, float x 2-byte aligned", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = run0(FWD, &s.v, s.y, s.w, s.y, 1.0f, 0.0f);
    refused("forward, y overlapping x", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnHandle_t gone;
    cudnnCreate(&gone);
    cudnnDestroy(gone);
    f0 = emu_findings();
    st = cudnnConvolutionForward(gone, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 0, NULL, 0, &zero, s.v.y, s.y);
    refused("forward on a destroyed handle", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnConvolutionForward(NULL, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 0, NULL, 0, &zero, s.v.y, s.y);
    refused("forward on a NULL handle", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnTensorDescriptor_t t = tensor(CUDNN_DATA_FLOAT, 1, 6, 8, 8);
    cudnnDestroyTensorDescriptor(t);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 0, NULL, 0, &zero, t, s.y);
    refused("forward with a destroyed y descriptor", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    int got = 0;
    f0 = emu_findings();
    st = cudnnFindConvolutionForwardAlgorithm(dnn, s.v.x, s.v.w, s.v.c, s.v.y, 0, &got, perf);
    refused("Find with requestedAlgoCount 0", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnTensorDescriptor_t a = tensor(CUDNN_DATA_FLOAT, 1, 4, 8, 8), b = tensor(CUDNN_DATA_FLOAT, 1, 4, 8, 7);
    cudnnTensorDescriptor_t c = tensor(CUDNN_DATA_BFLOAT16, 1, 4, 8, 8);
    f0 = emu_findings();
    st = cudnnTransformTensor(dnn, &one, a, s.x, &zero, b, s.y);
    refused("transform (1,4,8,8) into (1,4,8,7)", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnTransformTensor(dnn, &one, a, s.x, &zero, c, s.y);
    refused("transform float into bfloat16", st, CUDNN_STATUS_BAD_PARAM, f0);
    f0 = emu_findings();
    st = cudnnSetTensor4dDescriptor(a, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 0, 8, 8);
    refused("tensor descriptor with 0 channels", st, CUDNN_STATUS_BAD_PARAM, f0);
    cudnnDestroyTensorDescriptor(a);
    cudnnDestroyTensorDescriptor(b);
    cudnnDestroyTensorDescriptor(c);
    free(host);
    small_free(&s);
}

// Tensor cores: bfloat16 under CUDNN_TENSOR_OP_MATH or CUDNN_DEFAULT_MATH
// needs 16-byte aligned pointers on algorithm 1 (Find, on its own buffers,
// still lists it first); fp32 under CUDNN_FMA_MATH never gets TF32, under
// CUDNN_DEFAULT_MATH it does.
static void tensor_core_errors(void) {
    const float one = 1.0f, zero = 0.0f;
    small s = small_make(CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_OP_MATH);
    found f = find(FWD, &s.v);
    check(f.n > 0 && f.algo[0] == 1 && f.math[0] == CUDNN_TENSOR_OP_MATH,
          "bf16 Find lists tensor-core algorithm 1 first (algo %d math %d)", f.algo[0], f.math[0]);
    void *x2 = (char *)s.x + 2;
    int f0 = emu_findings();
    int st = cudnnConvolutionForward(dnn, &one, s.v.x, x2, s.v.w, s.w, s.v.c, 1, WS, f.ws[0], &zero, s.v.y, s.y);
    refused("bf16 forward, tensor-core algorithm 1, x 2-byte aligned", st, CUDNN_STATUS_NOT_SUPPORTED, f0);
    cudnnSetConvolutionMathType(s.v.c, CUDNN_DEFAULT_MATH);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, x2, s.v.w, s.w, s.v.c, 1, WS, f.ws[0], &zero, s.v.y, s.y);
    refused("bf16 forward, algorithm 1 under CUDNN_DEFAULT_MATH, x 2-byte aligned", st, CUDNN_STATUS_NOT_SUPPORTED, f0);
    cudnnSetConvolutionMathType(s.v.c, CUDNN_FMA_MATH);
    f0 = emu_findings();
    st = cudnnConvolutionForward(dnn, &one, s.v.x, x2, s.v.w, s.w, s.v.c, 1, WS, f.ws[0], &zero, s.v.y, s.y);
    check(!st && emu_findings() == f0, "bf16 forward, algorithm 1 under CUDNN_FMA_MATH, x 2-byte aligned: status %d",
          st);
    small_free(&s);

    s = small_make(CUDNN_DATA_FLOAT, CUDNN_FMA_MATH);
    f = find(FWD, &s.v);
    int tc = 0;
    for (int i = 0; i < f.n; i++) tc |= f.math[i] == CUDNN_TENSOR_OP_MATH;
    check(!tc, "fp32 Find under CUDNN_FMA_MATH lists no tensor-core (TF32) result");
    void *y2 = NULL;
    cudaMalloc(&y2, 4 * 8 * 8 * 6);
    st = cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 1, WS, WS_BYTES, &zero, s.v.y, s.y);
    cudnnSetConvolutionMathType(s.v.c, CUDNN_DEFAULT_MATH);
    f = find(FWD, &s.v);
    tc = 0;
    for (int i = 0; i < f.n; i++) tc |= f.math[i] == CUDNN_TENSOR_OP_MATH;
    st |= cudnnConvolutionForward(dnn, &one, s.v.x, s.x, s.v.w, s.w, s.v.c, 1, WS, WS_BYTES, &zero, s.v.y, y2);
    float *fma = down(s.y, 8 * 8 * 6, CUDNN_DATA_FLOAT), *tf = down(y2, 8 * 8 * 6, CUDNN_DATA_FLOAT);
    double e = err(tf, fma, 8 * 8 * 6);
    check(!st && tc && e > 1e-6 && e < 2e-3, "fp32 under CUDNN_DEFAULT_MATH: a TF32 result in Find, algorithm 1 "
          "rounds to TF32 (error %.2e vs FMA)", e);
    free(fma); free(tf);
    cudaFree(y2);
    small_free(&s);
}

static void cublas_errors(void) {
    const float one = 1.0f, zero = 0.0f;
    void *A = NULL, *B = NULL, *C = NULL;
    cudaMalloc(&A, 4096); cudaMalloc(&B, 4096); cudaMalloc(&C, 4096);
    int f0 = emu_findings();
    int st = cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, 8, 4, 4, &one, A, 7, B, 4, &zero, C, 8);
    refused("cublasSgemm NN, lda 7 < m 8", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    f0 = emu_findings();
    st = cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, 8, 4, 4, &one, A, 8, B, 3, &zero, C, 8);
    refused("cublasSgemm NT, ldb 3 < n 4", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    f0 = emu_findings();
    st = cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, 8, 4, 4, &one, A, 8, B, 4, &zero, C, 7);
    refused("cublasSgemm, ldc 7 < m 8", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    f0 = emu_findings();
    st = cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, -1, 4, 4, &one, A, 8, B, 4, &zero, C, 8);
    refused("cublasSgemm, m -1", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    f0 = emu_findings();
    st = cublasSgemm(NULL, CUBLAS_OP_N, CUBLAS_OP_N, 8, 4, 4, &one, A, 8, B, 4, &zero, C, 8);
    refused("cublasSgemm on a NULL handle", st, CUBLAS_STATUS_NOT_INITIALIZED, f0);
    float *host = malloc(4096);
    f0 = emu_findings();
    st = cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, 8, 4, 4, &one, A, 8, B, 4, &zero, host, 8);
    refused("cublasSgemm, C in host memory", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    f0 = emu_findings();
    st = cublasGemmStridedBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, A, CUDA_R_32F, 4, 16, B,
                                    CUDA_R_16BF, 4, 16, &zero, C, CUDA_R_32F, 4, 16, 2, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT);
    refused("GemmStridedBatchedEx, A 32F with B 16BF", st, CUBLAS_STATUS_NOT_SUPPORTED, f0);
    f0 = emu_findings();
    st = cublasGemmStridedBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, A, CUDA_R_32F, 4, 16, B,
                                    CUDA_R_32F, 4, 16, &zero, C, CUDA_R_16BF, 4, 16, 2, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT);
    refused("GemmStridedBatchedEx, A/B 32F with C 16BF", st, CUBLAS_STATUS_NOT_SUPPORTED, f0);
    f0 = emu_findings();
    st = cublasGemmStridedBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, A, CUDA_R_16BF, 4, 16, B,
                                    CUDA_R_16BF, 4, 16, &zero, C, CUDA_R_16BF, 4, 16, 2, CUBLAS_COMPUTE_32F_FAST_TF32,
                                    CUBLAS_GEMM_DEFAULT);
    refused("GemmStridedBatchedEx, 16BF with COMPUTE_32F_FAST_TF32", st, CUBLAS_STATUS_NOT_SUPPORTED, f0);
    f0 = emu_findings();
    st = cublasGemmStridedBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, A, CUDA_R_32F, 4, 16, B,
                                    CUDA_R_32F, 4, 16, &zero, C, CUDA_R_32F, 4, 8, 2, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT);
    refused("GemmStridedBatchedEx, strideC 8 < a 4x4 C", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    f0 = emu_findings();
    st = cublasSetWorkspace(blas, (char *)C + 16, 1024);
    refused("cublasSetWorkspace, 16-byte aligned", st, CUBLAS_STATUS_INVALID_VALUE, f0);
    cublasHandle_t gone;
    cublasCreate(&gone);
    cublasDestroy(gone);
    f0 = emu_findings();
    st = cublasSetMathMode(gone, CUBLAS_PEDANTIC_MATH);
    refused("cublasSetMathMode on a destroyed handle", st, CUBLAS_STATUS_NOT_INITIALIZED, f0);
    free(host);
    cudaFree(A); cudaFree(B); cudaFree(C);
}

// ---- stream order and graphs -------------------------------------------------------

// The work runs after its descriptors are gone (they were copied at the
// call); a graph captured with a convolution replays it on new input;
// Find during the capture is refused; a replay after a free is reported.
static void graph_case(void) {
    int N = 2, H = 6, C = 3, K = 4, k = 3;
    size_t nx = (size_t)N * H * H * C, nw = (size_t)K * k * k * C, ny = (size_t)N * H * H * K;
    float *x = rnd(nx, 0), *x2 = rnd(nx, 0), *w = rnd(nw, 0), *col = malloc(sizeof(float) * ny * k * k * C);
    float *ref = malloc(sizeof(float) * ny), *ref2 = malloc(sizeof(float) * ny);
    conv2d_forward(ref, col, x, w, N, H, H, C, K, k, 1);
    conv2d_forward(ref2, col, x2, w, N, H, H, C, K, k, 1);
    void *dX = up(x, nx, CUDNN_DATA_FLOAT), *dW = up(w, nw, CUDNN_DATA_FLOAT), *dY = NULL;
    cudaMalloc(&dY, sizeof(float) * ny);
    conv_t v = conv_make(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, N, H, H, C, K, k, k, 1, 1, 1, CUDNN_FMA_MATH,
                         CUDNN_CROSS_CORRELATION);
    int st = run0(FWD, &v, dX, dW, dY, 1.0f, 0.0f);
    conv_free(&v);
    float *got = down(dY, ny, CUDNN_DATA_FLOAT);
    check(!st && err(got, ref, ny) <= 2e-5, "forward whose descriptors are destroyed before it runs");
    free(got);

    v = conv_make(CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, N, H, H, C, K, k, k, 1, 1, 1, CUDNN_FMA_MATH,
                  CUDNN_CROSS_CORRELATION);
    cudaGraph_t g = NULL;
    cudaGraphExec_t ge = NULL;
    cudaStreamBeginCapture(S, cudaStreamCaptureModeGlobal);
    st = run0(FWD, &v, dX, dW, dY, 1.0f, 0.0f);
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    int n = 0, f0 = emu_findings();
    int fst = cudnnFindConvolutionForwardAlgorithm(dnn, v.x, v.w, v.c, v.y, 8, &n, perf);
    refused("Find during stream capture", fst, CUDNN_STATUS_EXECUTION_FAILED, f0);
    st |= cudaStreamEndCapture(S, &g) | cudaGraphInstantiate(&ge, g, 0);
    cudaMemcpy(dX, x2, sizeof(float) * nx, cudaMemcpyHostToDevice);
    st |= cudaGraphLaunch(ge, S);
    got = down(dY, ny, CUDNN_DATA_FLOAT);
    check(!st && err(got, ref2, ny) <= 2e-5, "graph of a forward replayed on new input");
    free(got);
    cudaFree(dX);
    f0 = emu_findings();
    cudaGraphLaunch(ge, S);
    cudaStreamSynchronize(S);
    check(emu_findings() - f0 == 1, "graph replayed after its x was freed: %d finding(s) (want 1)",
          emu_findings() - f0);
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    conv_free(&v);
    cudaFree(dW); cudaFree(dY);
    free(x); free(x2); free(w); free(col); free(ref); free(ref2);
}

int main(void) {
    cudaStreamCreateWithFlags(&S, cudaStreamNonBlocking);
    cudnnCreate(&dnn);
    cudnnSetStream(dnn, S);
    cublasCreate(&blas);
    cublasSetStream(blas, S);
    cublasSetMathMode(blas, CUBLAS_PEDANTIC_MATH);
    void *bws = NULL;
    cudaMalloc(&bws, 1 << 20);
    cublasSetWorkspace(blas, bws, 1 << 20);
    cudaMalloc(&WS, WS_BYTES);

    dense_case("stem 3x3 s2, padded (fp32)", CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 2, 16, 3, 8, 3, 2, 1);
    dense_case("stem 3x3 s2, padded (bf16)", CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, 2, 16, 3, 8, 3, 2, 1);
    dense_case("3x3 s1, cuDNN pad 1 (fp32)", CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 2, 9, 4, 6, 3, 1, 0);
    dense_case("3x3 s2, cuDNN pad 1 (fp32 NCHW)", CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 2, 9, 3, 5, 3, 2, 0);
    dense_case("pointwise (fp32)", CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 2, 5, 12, 20, 1, 1, 0);
    dense_case("pointwise (bf16)", CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, 2, 5, 16, 24, 1, 1, 0);
    dense_case("pointwise (fp32 NCHW)", CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 2, 5, 12, 20, 1, 1, 0);
    dw_case("depthwise 3x3 s1 (fp32)", CUDNN_DATA_FLOAT, 2, 7, 8, 3, 1);
    dw_case("depthwise 5x5 s2 (fp32)", CUDNN_DATA_FLOAT, 2, 9, 8, 5, 2);
    dw_case("depthwise 3x3 s2, even, e 1 (fp32)", CUDNN_DATA_FLOAT, 2, 8, 8, 3, 2);
    dw_case("depthwise 3x3 s1 (bf16)", CUDNN_DATA_BFLOAT16, 2, 7, 16, 3, 1);
    dw_case("depthwise 5x5 s2, even, e 1 (bf16)", CUDNN_DATA_BFLOAT16, 2, 8, 16, 5, 2);
    flip_case();
    scale_case(CUDNN_DATA_FLOAT);
    scale_case(CUDNN_DATA_BFLOAT16);
    transform_case();
    sgemm_case();
    batched(CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F);
    batched(CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F);
    batched(CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F);
    batched(CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32);
    shape_errors();
    call_errors();
    tensor_core_errors();
    cublas_errors();
    graph_case();

    cudaFree(WS);
    cudaFree(bws);
    cublasDestroy(blas);
    cudnnDestroy(dnn);
    cudaStreamDestroy(S);
    printf("test_emu_libs: %d checks, %d failed\n", checks, fails);
    fflush(stdout);
    fflush(stderr);
#if defined(__SANITIZE_ADDRESS__)
    __lsan_do_leak_check();  // _Exit skips the exit-time leak check
#endif
    _Exit(fails ? 1 : 0);
}
