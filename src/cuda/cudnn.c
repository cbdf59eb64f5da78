// Every cuDNN call of the engine: the stem and pointwise convolutions, NHWC,
// forward, backward-data and backward-filter, through cuDNN's legacy
// convolution API (deprecated in cuDNN 9: the Makefile builds this file with
// -Wno-deprecated-declarations), and the depthwise convolution as a grouped
// one (groups = C; include/am/gpu_dwconv.h). One plan per (operation, shape,
// dtype): descriptors plus the algorithm chosen once by cudnnFind* (timed)
// among those whose workspace fits the limit, or by the get_v7 heuristics when
// Find gives none (dense only: a depthwise plan without a Find result is
// unusable and the caller keeps our kernels). fp32 runs FMA kernels only (no
// TF32), so that it matches the CPU; bf16 may use tensor cores, with float
// compute. One workspace, shared by all plans, grown to the largest chosen;
// plans are made outside graph capture. Every tolerated failure (an
// algorithm that Find could not run, a refused depthwise call) clears the
// runtime's last error, which the next kernel's launch check would
// otherwise report as its own.
//
// Depthwise: TF-SAME pads the odd pixel after (bottom/right) and cuDNN pads
// symmetrically. With pad_before b and pad_after a = b + e (e 0 or 1), cuDNN
// runs a (k+e)-tap filter whose first tap is zero, padded a on both sides:
// output o reads inputs o*s - a + t for t = 0..k+e-1, i.e. o*s - b + j for
// our taps j = t - e, and its size is (H + 2a - k - e)/s + 1 = Ho. So each
// plan keeps cuDNN's filter wf (C,k+e_h,k+e_w) float (zero border) and its
// bf16 copy; ours (k,k,C) is copied into wf's block at (e_h,e_w) before a
// forward or backward-data call, and the filter gradient is taken from that
// block and added to ours, by cudnnTransformTensor.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/gpu_dwconv.h"
#include "../../kernels/conv_math.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>

enum { OP_FWD, OP_BWD_DATA, OP_BWD_FILTER };
#define NALGO 16

typedef struct {
    int op, dw, N, H, W, C, K, k, s, dt;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int algo;        // -1: none (an unusable depthwise plan)
    size_t ws;
    // depthwise: cuDNN's filter wf (C,kh,kw) and its bf16 copy wh; views
    // (1,C,k,k) of wf's block at (eh,ew) (wi) and of ours (k,k,C) (wo)
    int kh, kw, eh, ew;
    cudnnTensorDescriptor_t wi, wo;
    float *wf;
    uint16_t *wh;
    char why[512];   // why a depthwise plan is unusable
} plan;

typedef struct {
    int n, cap;
    plan **p;
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
        plan *p = pc->p[i];
        AM_CUDNN(cudnnDestroyTensorDescriptor(p->x));
        AM_CUDNN(cudnnDestroyTensorDescriptor(p->y));
        AM_CUDNN(cudnnDestroyFilterDescriptor(p->w));
        AM_CUDNN(cudnnDestroyConvolutionDescriptor(p->conv));
        if (p->dw) {
            size_t n = (size_t)p->C * p->kh * p->kw;
            AM_CUDNN(cudnnDestroyTensorDescriptor(p->wi));
            AM_CUDNN(cudnnDestroyTensorDescriptor(p->wo));
            am_gpu_free(c, p->wf, sizeof(float) * n);
            am_gpu_free(c, p->wh, 2 * n);
        }
        free(p);
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

// Why no result of a depthwise plan's Find was usable (each: algo, status,
// workspace MiB, math type).
#define EXPLAIN(perf, n, p, limit)                                                             \
    do {                                                                                       \
        int o_ = snprintf((p)->why, sizeof (p)->why,                                           \
                          "no usable cudnnFind result (fp32: FMA only; workspace <= %zu MiB) of %d:", \
                          (limit) >> 20, (n));                                                 \
        for (int i_ = 0; i_ < (n) && o_ > 0 && o_ < (int)sizeof (p)->why; i_++)                \
            o_ += snprintf((p)->why + o_, sizeof (p)->why - (size_t)o_, " algo %d status %d %zu MiB math %d;", \
                           (int)(perf)[i_].algo, (int)(perf)[i_].status, (perf)[i_].memory >> 20, \
                           (int)(perf)[i_].mathType);                                          \
    } while (0)

// -1 with why the depthwise plan is unusable, for am_error().
static int unusable(const plan *p) {
    return am_seterr("cuDNN depthwise %s (%d,%d,%d,%d) k%d s%d %s: %s", op_name[p->op], p->N, p->H, p->W,
                     p->C, p->k, p->s, p->dt == AM_BF16 ? "bf16" : "fp32", p->why);
}

// Marks a depthwise plan unusable after a refused call, unless the call
// failed because a graph capture was invalidated before it (the capture's
// failure, not the plan's: the pass is run again eagerly).
static int give_up(am_gpu_ctx *c, plan *p, const char *call, cudnnStatus_t st) {
    cudaGetLastError();
    if (!am_gpu_capture_invalidated(c->stream)) p->algo = -1;
    snprintf(p->why, sizeof p->why, "%s: %s (%d)", call, cudnnGetErrorString(st), (int)st);
    return unusable(p);
}

// Find's status: dense plans die on an error, depthwise ones record it.
static int found(am_gpu_ctx *c, cudnnStatus_t st, plan *p, const char *call) {
    if (st == CUDNN_STATUS_SUCCESS) return 1;
    if (!p->dw) am_fatal(__FILE__, __LINE__, call, cudnnGetErrorString(st));
    give_up(c, p, call, st);
    return 0;
}

// A dense convolution's status: fatal on failure, except in a graph capture
// invalidated by an earlier call (am_gpu_capture_end reports it).
static void ran(am_gpu_ctx *c, cudnnStatus_t st, const char *call, int line) {
    if (st != CUDNN_STATUS_SUCCESS && !am_gpu_capture_invalidated(c->stream))
        am_fatal(__FILE__, line, call, am_cudnn_errstr((int)st));
}

static void choose(am_gpu_ctx *c, plan *p) {
    cudnnHandle_t h = (cudnnHandle_t)c->cudnn;
    cudnnMathType_t math = CUDNN_FMA_MATH;
    int n = 0;
    p->algo = -1;
    if (p->op == OP_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[NALGO];
        if (found(c, cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y, NALGO, &n, perf), p,
                  "cudnnFindConvolutionForwardAlgorithm")) {
            PICK(perf, n, p, c->ws_limit);
            if (p->algo < 0 && p->dw) EXPLAIN(perf, n, p, c->ws_limit);
        }
        if (p->algo < 0 && !p->dw) {
            AM_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, NALGO, &n, perf));
            PICK(perf, n, p, c->ws_limit);
        }
    } else if (p->op == OP_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[NALGO];
        if (found(c, cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, p->conv, p->x, NALGO, &n, perf), p,
                  "cudnnFindConvolutionBackwardDataAlgorithm")) {
            PICK(perf, n, p, c->ws_limit);
            if (p->algo < 0 && p->dw) EXPLAIN(perf, n, p, c->ws_limit);
        }
        if (p->algo < 0 && !p->dw) {
            AM_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x, NALGO, &n, perf));
            PICK(perf, n, p, c->ws_limit);
        }
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[NALGO];
        if (found(c, cudnnFindConvolutionBackwardFilterAlgorithm(h, p->x, p->y, p->conv, p->w, NALGO, &n, perf), p,
                  "cudnnFindConvolutionBackwardFilterAlgorithm")) {
            PICK(perf, n, p, c->ws_limit);
            if (p->algo < 0 && p->dw) EXPLAIN(perf, n, p, c->ws_limit);
        }
        if (p->algo < 0 && !p->dw) {
            AM_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w, NALGO, &n, perf));
            PICK(perf, n, p, c->ws_limit);
        }
    }
    // Find runs every algorithm on buffers of its own; those it could not run
    // (out of memory, unsupported) may have left the runtime's error set.
    cudaGetLastError();
    if (p->algo < 0 && !p->dw)
        am_fatalf(__FILE__, __LINE__,
                  "cuDNN has no %s algorithm for x (%d,%d,%d,%d) w (%d,%d,%d,%d) stride %d %s within the %zu MiB workspace limit",
                  op_name[p->op], p->N, p->H, p->W, p->C, p->K, p->k, p->k, p->C, p->s,
                  p->dt == AM_BF16 ? "bf16" : "fp32", c->ws_limit >> 20);
    if (p->algo < 0) return;
    // fp32: FMA kernels only; bf16: the math the chosen algorithm was timed with.
    AM_CUDNN(cudnnSetConvolutionMathType(p->conv, p->dt == AM_BF16 ? math : CUDNN_FMA_MATH));
}

static plan *lookup(am_gpu_ctx *c, int op, int dw, int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan_cache *pc = c->plans;
    for (int i = 0; i < pc->n; i++) {
        plan *p = pc->p[i];
        if (p->op == op && p->dw == dw && p->N == N && p->H == H && p->W == W && p->C == C && p->K == K &&
            p->k == k && p->s == s && p->dt == dt)
            return p;
    }
    return NULL;
}

// A new plan in the cache: its key and its four descriptors, created.
static plan *add(am_gpu_ctx *c, int op, int dw, int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan_cache *pc = c->plans;
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    AM_CUDA(cudaStreamIsCapturing((cudaStream_t)c->stream, &cap));
    AM_CHECK(cap == cudaStreamCaptureStatusNone,
             "a new convolution shape met during CUDA graph capture: run the same pass once before capturing");
    if (pc->n == pc->cap) {
        pc->cap = pc->cap ? 2 * pc->cap : 64;
        plan **np = realloc(pc->p, sizeof(plan *) * pc->cap);
        AM_CHECK(np != NULL, "out of host memory for the cuDNN plan cache");
        pc->p = np;
    }
    plan *p = AM_CALLOC(sizeof(plan));
    pc->p[pc->n++] = p;
    p->op = op; p->dw = dw; p->N = N; p->H = H; p->W = W; p->C = C; p->K = K; p->k = k; p->s = s; p->dt = dt;
    p->algo = -1;
    AM_CUDNN(cudnnCreateTensorDescriptor(&p->x));
    AM_CUDNN(cudnnCreateTensorDescriptor(&p->y));
    AM_CUDNN(cudnnCreateFilterDescriptor(&p->w));
    AM_CUDNN(cudnnCreateConvolutionDescriptor(&p->conv));
    return p;
}

// Grows the shared workspace to the plan's.
static void fit_workspace(am_gpu_ctx *c, const plan *p) {
    if (p->ws <= c->ws_size) return;
    am_gpu_sync(c);
    am_gpu_free(c, c->ws, c->ws_size);
    c->ws = am_gpu_alloc(c, p->ws, "the cuDNN workspace");
    c->ws_size = p->ws;
    c->ws_gen++;
}

// cuDNN's tensors hold fewer than 2^31 elements (its descriptors and
// kernels index with int): the larger of x (N,H,W,C) and y (N,Ho,Wo,K), or
// 0 where both are within the limit.
static size_t too_big(int N, int H, int W, int C, int Ho, int Wo, int K) {
    size_t nx = (size_t)N * H * W * C, ny = (size_t)N * Ho * Wo * K, n = nx > ny ? nx : ny;
    return n >= ((size_t)1 << 31) ? n : 0;
}

static plan *get_plan(am_gpu_ctx *c, int op, int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan *p = lookup(c, op, 0, N, H, W, C, K, k, s, dt);
    if (p) return p;
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    size_t big = too_big(N, H, W, C, Ho, Wo, K);
    if (big)
        am_fatalf(__FILE__, __LINE__, "cuDNN %s of x (%d,%d,%d,%d) to y (%d,%d,%d,%d): a tensor of %zu elements, at "
                  "least cuDNN's limit of 2^31: lower the batch size", op_name[op], N, H, W, C, N, Ho, Wo, K, big);
    p = add(c, op, 0, N, H, W, C, K, k, s, dt);
    cudnnDataType_t t = dt == AM_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    AM_CUDNN(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, N, C, H, W));
    AM_CUDNN(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, N, K, Ho, Wo));
    AM_CUDNN(cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NHWC, K, C, k, k));
    AM_CUDNN(cudnnSetConvolution2dDescriptor(p->conv, 0, 0, s, s, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    AM_CUDNN(cudnnSetConvolutionMathType(p->conv, dt == AM_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    int n = 0, oc = 0, oh = 0, ow = 0;
    AM_CUDNN(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &oc, &oh, &ow));
    AM_CHECK(n == N && oc == K && oh == Ho && ow == Wo, "cuDNN output shape differs from (H - k) / s + 1");
    choose(c, p);
    fit_workspace(c, p);
    return p;
}

void am_cudnn_conv_forward(am_gpu_ctx *c, void *y, const void *x, const void *w,
                           int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan *p = get_plan(c, OP_FWD, N, H, W, C, K, k, s, dt);
    const float one = 1.0f, zero = 0.0f;
    ran(c, cudnnConvolutionForward((cudnnHandle_t)c->cudnn, &one, p->x, x, p->w, w, p->conv,
                                   (cudnnConvolutionFwdAlgo_t)p->algo, c->ws, p->ws, &zero, p->y, y),
        "cudnnConvolutionForward", __LINE__);
}

void am_cudnn_conv_backward_data(am_gpu_ctx *c, void *dx, const void *dy, const void *w,
                                 int N, int H, int W, int C, int K, int k, int s, int dt) {
    plan *p = get_plan(c, OP_BWD_DATA, N, H, W, C, K, k, s, dt);
    const float one = 1.0f, zero = 0.0f;
    ran(c, cudnnConvolutionBackwardData((cudnnHandle_t)c->cudnn, &one, p->w, w, p->y, dy, p->conv,
                                        (cudnnConvolutionBwdDataAlgo_t)p->algo, c->ws, p->ws, &zero, p->x, dx),
        "cudnnConvolutionBackwardData", __LINE__);
}

void am_cudnn_conv_backward_filter(am_gpu_ctx *c, void *dw, const void *dy, const void *x,
                                   int N, int H, int W, int C, int K, int k, int s, int dt, float beta) {
    plan *p = get_plan(c, OP_BWD_FILTER, N, H, W, C, K, k, s, dt);
    const float one = 1.0f;
    ran(c, cudnnConvolutionBackwardFilter((cudnnHandle_t)c->cudnn, &one, p->x, x, p->y, dy, p->conv,
                                          (cudnnConvolutionBwdFilterAlgo_t)p->algo, c->ws, p->ws, &beta, p->w, dw),
        "cudnnConvolutionBackwardFilter", __LINE__);
}

// ---- depthwise: grouped convolution, groups = C ------------------------------

#define TRY(c, p, call)                                                                   \
    do {                                                                                  \
        cudnnStatus_t st_ = (call);                                                       \
        if (st_ != CUDNN_STATUS_SUCCESS) { give_up((c), (p), #call, st_); return; }      \
    } while (0)

// Descriptors and algorithm of a new depthwise plan; a cuDNN refusal leaves
// it unusable.
static void dw_setup(am_gpu_ctx *c, plan *p) {
    int N = p->N, H = p->H, W = p->W, C = p->C, k = p->k, s = p->s;
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    int ph = am_same_pad_before(H, k, s) + p->eh, pw = am_same_pad_before(W, k, s) + p->ew;
    cudnnDataType_t t = p->dt == AM_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    TRY(c, p, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, N, C, H, W));
    TRY(c, p, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, N, C, Ho, Wo));
    TRY(c, p, cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NHWC, C, 1, p->kh, p->kw));
    TRY(c, p, cudnnSetConvolution2dDescriptor(p->conv, ph, pw, s, s, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    TRY(c, p, cudnnSetConvolutionGroupCount(p->conv, C));
    TRY(c, p, cudnnSetConvolutionMathType(p->conv, p->dt == AM_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    TRY(c, p, cudnnSetTensor4dDescriptorEx(p->wi, CUDNN_DATA_FLOAT, 1, C, k, k, C * p->kh * p->kw, p->kh * p->kw,
                                           p->kw, 1));
    TRY(c, p, cudnnSetTensor4dDescriptorEx(p->wo, CUDNN_DATA_FLOAT, 1, C, k, k, k * k * C, 1, k * C, C));
    int n = 0, oc = 0, oh = 0, ow = 0;
    TRY(c, p, cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &oc, &oh, &ow));
    if (n != N || oc != C || oh != Ho || ow != Wo) {
        snprintf(p->why, sizeof p->why, "cuDNN's output (%d,%d,%d,%d) is not TF-SAME's (%d,%d,%d,%d)",
                 n, oh, ow, oc, N, Ho, Wo, C);
        return;
    }
    choose(c, p);
    if (p->algo >= 0) fit_workspace(c, p);
}

static plan *dw_plan(am_gpu_ctx *c, int op, int N, int H, int W, int C, int k, int s, int dt) {
    plan *p = lookup(c, op, 1, N, H, W, C, C, k, s, dt);
    if (p) return p;
    p = add(c, op, 1, N, H, W, C, C, k, s, dt);
    int th = (am_same_out(H, s) - 1) * s + k - H, tw = (am_same_out(W, s) - 1) * s + k - W;
    p->eh = (th > 0 ? th : 0) - 2 * am_same_pad_before(H, k, s);
    p->ew = (tw > 0 ? tw : 0) - 2 * am_same_pad_before(W, k, s);
    p->kh = k + p->eh;
    p->kw = k + p->ew;
    size_t n = (size_t)C * p->kh * p->kw;
    AM_CUDNN(cudnnCreateTensorDescriptor(&p->wi));
    AM_CUDNN(cudnnCreateTensorDescriptor(&p->wo));
    size_t big = too_big(N, H, W, C, am_same_out(H, s), am_same_out(W, s), C);
    if (big) {  // unusable, before allocating its filter
        snprintf(p->why, sizeof p->why, "a tensor of %zu elements, at least cuDNN's limit of 2^31", big);
        return p;
    }
    p->wf = am_gpu_alloc(c, sizeof(float) * n, "a cuDNN depthwise filter");
    AM_CUDA(cudaMemsetAsync(p->wf, 0, sizeof(float) * n, (cudaStream_t)c->stream));
    if (dt == AM_BF16) p->wh = am_gpu_alloc(c, 2 * n, "a cuDNN depthwise filter");
    dw_setup(c, p);
    return p;
}

// Ours (k,k,C) into the plan's filter (and its bf16 copy): the filter that
// cuDNN reads, or NULL when cuDNN refused the copy.
static const void *dw_filter(am_gpu_ctx *c, plan *p, const float *w) {
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t st = cudnnTransformTensor((cudnnHandle_t)c->cudnn, &one, p->wo, w, &zero, p->wi,
                                            p->wf + p->eh * p->kw + p->ew);
    if (st != CUDNN_STATUS_SUCCESS) {
        give_up(c, p, "cudnnTransformTensor (filter in)", st);
        return NULL;
    }
    if (p->dt != AM_BF16) return p->wf;
    cu_f32_to_bf16(p->wh, p->wf, (size_t)p->C * p->kh * p->kw, c->stream);
    return p->wh;
}

int am_cudnn_dwconv_forward(am_gpu_ctx *c, void *out, const void *in, const float *w,
                            int N, int H, int W, int C, int k, int s, int dt) {
    plan *p = dw_plan(c, OP_FWD, N, H, W, C, k, s, dt);
    if (p->algo < 0) return unusable(p);
    const void *wf = dw_filter(c, p, w);
    if (!wf) return -1;
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t st = cudnnConvolutionForward((cudnnHandle_t)c->cudnn, &one, p->x, in, p->w, wf, p->conv,
                                               (cudnnConvolutionFwdAlgo_t)p->algo, c->ws, p->ws, &zero, p->y, out);
    return st == CUDNN_STATUS_SUCCESS ? 0 : give_up(c, p, "cudnnConvolutionForward", st);
}

// din by backward-data; the filter gradient by backward-filter into the
// plan's filter (bf16: its bf16 copy, then widened), its block added to dw.
int am_cudnn_dwconv_backward(am_gpu_ctx *c, void *din, float *dw, const void *dout, const void *in,
                             const float *w, int N, int H, int W, int C, int k, int s, int dt) {
    plan *pd = dw_plan(c, OP_BWD_DATA, N, H, W, C, k, s, dt);
    plan *pf = dw_plan(c, OP_BWD_FILTER, N, H, W, C, k, s, dt);
    if (pd->algo < 0) return unusable(pd);
    if (pf->algo < 0) return unusable(pf);
    cudnnHandle_t h = (cudnnHandle_t)c->cudnn;
    const float one = 1.0f, zero = 0.0f;
    const void *wf = dw_filter(c, pd, w);
    if (!wf) return -1;
    cudnnStatus_t st = cudnnConvolutionBackwardData(h, &one, pd->w, wf, pd->y, dout, pd->conv,
                                                    (cudnnConvolutionBwdDataAlgo_t)pd->algo, c->ws, pd->ws, &zero,
                                                    pd->x, din);
    if (st != CUDNN_STATUS_SUCCESS) return give_up(c, pd, "cudnnConvolutionBackwardData", st);
    void *g = dt == AM_BF16 ? (void *)pf->wh : (void *)pf->wf;
    st = cudnnConvolutionBackwardFilter(h, &one, pf->x, in, pf->y, dout, pf->conv,
                                        (cudnnConvolutionBwdFilterAlgo_t)pf->algo, c->ws, pf->ws, &zero, pf->w, g);
    if (st != CUDNN_STATUS_SUCCESS) return give_up(c, pf, "cudnnConvolutionBackwardFilter", st);
    if (dt == AM_BF16) cu_bf16_to_f32(pf->wf, pf->wh, (size_t)C * pf->kh * pf->kw, c->stream);
    st = cudnnTransformTensor(h, &one, pf->wi, pf->wf + pf->eh * pf->kw + pf->ew, &one, pf->wo, dw);
    return st == CUDNN_STATUS_SUCCESS ? 0 : give_up(c, pf, "cudnnTransformTensor (filter gradient out)", st);
}

int am_cudnn_dwconv_planned(am_gpu_ctx *c, int bwd, int N, int H, int W, int C, int k, int s, int dt) {
    plan *a = lookup(c, bwd ? OP_BWD_DATA : OP_FWD, 1, N, H, W, C, C, k, s, dt);
    plan *b = bwd ? lookup(c, OP_BWD_FILTER, 1, N, H, W, C, C, k, s, dt) : a;
    return a && b && a->algo >= 0 && b->algo >= 0;
}
#endif
