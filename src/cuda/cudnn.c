// Every cuDNN call of the engine: the stem and pointwise convolutions, NHWC,
// forward, backward-data and backward-filter, through cuDNN's legacy
// convolution API (deprecated in cuDNN 9: the Makefile builds this file with
// -Wno-deprecated-declarations). One plan per (operation, shape, dtype):
// descriptors plus the algorithm chosen once by cudnnFind* (timed) among those
// whose workspace fits the limit, or by the get_v7 heuristics when Find gives
// none. fp32 runs FMA kernels only (no TF32), so that it matches the CPU;
// bf16 may use tensor cores, with float compute. One workspace, shared by all
// plans, grown to the largest chosen; plans are made outside graph capture.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>

enum { OP_FWD, OP_BWD_DATA, OP_BWD_FILTER };
#define NALGO 16

typedef struct {
    int op, N, H, W, C, K, k, s, dt;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int algo;
    size_t ws;
} plan;

typedef struct {
    int n, cap;
    plan *p;
} plan_cache;

static const char *op_name[3] = {"forward", "backward-data", "backward-filter"};

void am_cudnn_init(am_gpu_ctx *c) {
    cudnnHandle_t h;
    AM_CUDNN(cudnnCreate(&h));
    AM_CUDNN(cudnnSetStream(h, (cudaStream_t)c->stream));
    c->cudnn = h;
    c->plans = AM_CALLOC(sizeof(plan_cache));
}

void am_cudnn_free(am_gpu_ctx *c) {
    plan_cache *pc = c->plans;
    for (int i = 0; i < pc->n; i++) {
        plan *p = &pc->p[i];
        AM_CUDNN(cudnnDestroyTensorDescriptor(p->x));
        AM_CUDNN(cudnnDestroyTensorDescriptor(p->y));
        AM_CUDNN(cudnnDestroyFilterDescriptor(p->w));
        AM_CUDNN(cudnnDestroyConvolutionDescriptor(p->conv));
    }
    free(pc->p);
    free(pc);
    am_gpu_free(c, c->ws, c->ws_size);
    c->ws = NULL;
    c->ws_size = 0;
    AM_CUDNN(cudnnDestroy((cudnnHandle_t)c->cudnn));
}

// An algorithm may run when it succeeded, fits the workspace and, in fp32,
// is not a tensor-core (TF32) kernel.
static int usable(cudnnStatus_t st, size_t mem, cudnnMathType_t math, size_t limit, int dt) {
    if (st != CUDNN_STATUS_SUCCESS || mem > limit) return 0;
    return dt == AM_BF16 || math == CUDNN_FMA_MATH || math == CUDNN_DEFAULT_MATH;
}

// Picks the first usable of n results (cuDNN sorts them fastest first).
#define PICK(perf, n, p, limit)                                                        \
    do {                                                                               \
        for (int i_ = 0; i_ < (n) && (p)->algo < 0; i_++)                              \
            if (usable((perf)[i_].status, (perf)[i_].memory, (perf)[i_].mathType, (limit), (p)->dt)) { \
                (p)->algo = (int)(perf)[i_].algo;                                      \
                (p)->ws = (perf)[i_].memory;                                           \
                math = (perf)[i_].mathType;                                            \
            }                                                                          \
    } while (0)

static void choose(am_gpu_ctx *c, plan *p) {
    cudnnHandle_t h = (cudnnHandle_t)c->cudnn;
    cudnnMathType_t math = CUDNN_FMA_MATH;
    int n = 0;
    p->algo = -1;
    if (p->op == OP_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[NALGO];
        AM_CUDNN(cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y, NALGO, &n, perf));
        PICK(perf, n, p, c->ws_limit);
        if (p->algo < 0) {
            AM_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, NALGO, &n, perf));
            PICK(perf, n, p, c->ws_limit);
        }
    } else if (p->op == OP_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[NALGO];
        AM_CUDNN(cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, p->conv, p->x, NALGO, &n, perf));
        PICK(perf, n, p, c->ws_limit);
        if (p->algo < 0) {
            AM_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x, NALGO, &n, perf));
            PICK(perf, n, p, c->ws_limit);
        }
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[NALGO];
        AM_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithm(h, p->x, p->y, p->conv, p->w, NALGO, &n, perf));
        PICK(perf, n, p, c->ws_limit);
        if (p->algo < 0) {
            AM_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w, NALGO, &n, perf));
            PICK(perf, n, p, c->ws_limit);
        }
    }
    if (p->algo < 0)
        am_fatalf(__FILE__, __LINE__,
                  "cuDNN has no %s algorithm for x (%d,%d,%d,%d) w (%d,%d,%d,%d) stride %d %s within the %zu MiB workspace limit",
                  op_name[p->op], p->N, p->H, p->W, p->C, p->K, p->k, p->k, p->C, p->s,
                  p->dt == AM_BF16 ? "bf16" : "fp32", c->ws_limit >> 20);
    // fp32: FMA kernels only; bf16: the math the chosen algorithm was timed with.
    AM_CUDNN(cudnnSetConvolutionMathType(p->conv, p->dt == AM_BF16 ? math : CUDNN_FMA_MATH));
}

static plan *get_plan(am_gpu_ctx *c, int op, int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan_cache *pc = c->plans;
    for (int i = 0; i < pc->n; i++) {
        plan *p = &pc->p[i];
        if (p->op == op && p->N == N && p->H == H && p->W == W && p->C == C && p->K == K && p->k == k &&
            p->s == s && p->dt == dt)
            return p;
    }
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    AM_CUDA(cudaStreamIsCapturing((cudaStream_t)c->stream, &cap));
    AM_CHECK(cap == cudaStreamCaptureStatusNone,
             "a new convolution shape met during CUDA graph capture: run the same pass once before capturing");
    if (pc->n == pc->cap) {
        pc->cap = pc->cap ? 2 * pc->cap : 64;
        plan *np = realloc(pc->p, sizeof(plan) * pc->cap);
        AM_CHECK(np != NULL, "out of host memory for the cuDNN plan cache");
        pc->p = np;
    }
    plan *p = &pc->p[pc->n];
    memset(p, 0, sizeof *p);
    p->op = op; p->N = N; p->H = H; p->W = W; p->C = C; p->K = K; p->k = k; p->s = s; p->dt = dt;
    cudnnDataType_t t = dt == AM_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    AM_CUDNN(cudnnCreateTensorDescriptor(&p->x));
    AM_CUDNN(cudnnCreateTensorDescriptor(&p->y));
    AM_CUDNN(cudnnCreateFilterDescriptor(&p->w));
    AM_CUDNN(cudnnCreateConvolutionDescriptor(&p->conv));
    AM_CUDNN(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, N, C, H, W));
    AM_CUDNN(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, N, K, Ho, Wo));
    AM_CUDNN(cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NHWC, K, C, k, k));
    AM_CUDNN(cudnnSetConvolution2dDescriptor(p->conv, 0, 0, s, s, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    AM_CUDNN(cudnnSetConvolutionMathType(p->conv, dt == AM_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    int n = 0, oc = 0, oh = 0, ow = 0;
    AM_CUDNN(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &oc, &oh, &ow));
    AM_CHECK(n == N && oc == K && oh == Ho && ow == Wo, "cuDNN output shape differs from (H - k) / s + 1");
    choose(c, p);
    if (p->ws > c->ws_size) {
        am_gpu_sync(c);
        am_gpu_free(c, c->ws, c->ws_size);
        c->ws = am_gpu_alloc(c, p->ws, "the cuDNN workspace");
        c->ws_size = p->ws;
    }
    pc->n++;
    return p;
}

void am_cudnn_conv_forward(am_gpu_ctx *c, void *y, const void *x, const void *w,
                           int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan *p = get_plan(c, OP_FWD, N, H, W, C, K, k, s, dt);
    const float one = 1.0f, zero = 0.0f;
    AM_CUDNN(cudnnConvolutionForward((cudnnHandle_t)c->cudnn, &one, p->x, x, p->w, w, p->conv,
                                     (cudnnConvolutionFwdAlgo_t)p->algo, c->ws, p->ws, &zero, p->y, y));
}

void am_cudnn_conv_backward_data(am_gpu_ctx *c, void *dx, const void *dy, const void *w,
                                 int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan *p = get_plan(c, OP_BWD_DATA, N, H, W, C, K, k, s, dt);
    const float one = 1.0f, zero = 0.0f;
    AM_CUDNN(cudnnConvolutionBackwardData((cudnnHandle_t)c->cudnn, &one, p->w, w, p->y, dy, p->conv,
                                          (cudnnConvolutionBwdDataAlgo_t)p->algo, c->ws, p->ws, &zero, p->x, dx));
}

void am_cudnn_conv_backward_filter(am_gpu_ctx *c, void *dw, const void *dy, const void *x,
                                   int N, int H, int W, int C, int K, int k, int s, int dt, float beta) {
    plan *p = get_plan(c, OP_BWD_FILTER, N, H, W, C, K, k, s, dt);
    const float one = 1.0f;
    AM_CUDNN(cudnnConvolutionBackwardFilter((cudnnHandle_t)c->cudnn, &one, p->x, x, p->y, dy, p->conv,
                                            (cudnnConvolutionBwdFilterAlgo_t)p->algo, c->ws, p->ws, &beta, p->w, dw));
}
#endif
