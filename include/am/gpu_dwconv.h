// Depthwise convolution on the GPU, two ways: our kernels (kernels/dwconv.cu,
// cu_dwconv_*) and cuDNN's grouped convolution with groups = C
// (src/cuda/cudnn.c). Both have cu_dwconv_*'s layout and semantics: NHWC,
// TF-SAME, k 3 or 5, in (N,H,W,C) of type dt, w (k,k,C) float, out
// (N,Ho,Wo,C); din assigned, dw (k,k,C) float accumulated.
//
// am_gpu_dwconv_* (src/cuda/dwconv_select.c) time both on the first call of a
// shape (N,H,W,C,k,s,dt; forward and backward apart; the median of a few
// runs, am_gpu_dwconv_median_ms) and keep the faster for that device. AM_DWCONV=ours|cudnn forces one; auto (default) chooses.
// Nothing is timed during CUDA graph capture: the kept choice is used there
// (cuDNN only where this context already holds its plans), else ours. One
// host thread drives the GPU.
#pragma once
#include "am/gpu.h"

enum { AM_DWCONV_OURS = 0, AM_DWCONV_CUDNN = 1, AM_DWCONV_AUTO = 2 };

void am_gpu_dwconv_forward(am_gpu_ctx *c, void *out, const void *in, const float *w,
                           int N, int H, int W, int C, int k, int s, int dt);
void am_gpu_dwconv_backward(am_gpu_ctx *c, void *din, float *dw, const void *dout, const void *in,
                            const float *w, int N, int H, int W, int C, int k, int s, int dt);
// One call: forward (o = out, a = in) or backward (o = din, dw, a = dout, b = in).
typedef struct {
    int bwd, N, H, W, C, k, s, dt;
    void *o;
    float *dw;
    const void *a, *b;
    const float *w;
} am_dwconv_call;

// Runs one implementation (AM_DWCONV_OURS or AM_DWCONV_CUDNN): 0, or -1
// (am_error()) when cuDNN refused it.
int am_gpu_dwconv_run(am_gpu_ctx *c, const am_dwconv_call *d, int impl);
// The median ms of `iters` runs of impl (each between CUDA events) after
// `warmup` >= 1 untimed ones; -1 when cuDNN cannot run it. The runtime's
// choice and am_bench dwconv both measure with it.
float am_gpu_dwconv_median_ms(am_gpu_ctx *c, const am_dwconv_call *d, int impl, int warmup, int iters);
// The implementation kept for a shape on c's device (AM_DWCONV_OURS or
// AM_DWCONV_CUDNN), or -1 when none was timed; ms (may be NULL): the median
// times of ours and cuDNN's measured then (cuDNN -1 where it cannot run it).
int am_gpu_dwconv_kept(const am_gpu_ctx *c, int bwd, int N, int H, int W, int C, int k, int s, int dt,
                       float ms[2]);

// cuDNN's grouped convolution alone. 0, or -1 (am_error()) when cuDNN has no
// algorithm for the shape or refused a call; the plan is then marked
// unusable and later calls return -1 at once (din/out may have been written,
// dw not).
int am_cudnn_dwconv_forward(am_gpu_ctx *c, void *out, const void *in, const float *w,
                            int N, int H, int W, int C, int k, int s, int dt);
int am_cudnn_dwconv_backward(am_gpu_ctx *c, void *din, float *dw, const void *dout, const void *in,
                             const float *w, int N, int H, int W, int C, int k, int s, int dt);
// 1 when c already holds usable cuDNN plans for the shape (bwd: both
// backward plans), so that a call needs no new plan (as in graph capture).
int am_cudnn_dwconv_planned(am_gpu_ctx *c, int bwd, int N, int H, int W, int C, int k, int s, int dt);
