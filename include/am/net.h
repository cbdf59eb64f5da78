// The network's forward and backward, written once (src/model/net.c) over a
// backend: a table of ops that the CPU (src/cpu/backend.c) and CUDA
// (src/cuda/gpu_model.c) supply.
//
// An op receives its backend's context first, activations of the shared
// layout (am_acts: "void *" in the backend's activation type, "float *"
// always float), and parameters as the host views of am_model (am_bn,
// am_block_params, float * into m->params / m->stats), which the backend maps
// to its own copies. Gradient rule: parameter gradients accumulate (+=) in
// the backend's gradient family; input gradients are assigned, except `add`.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/model.h"

struct am_prof;

typedef struct {
    // Stem: y (N,H,H,K) = TF-SAME 3x3 stride-2 convolution of x (N,S,S,C)
    // float, H = am_same_out(S, 2); stem_in: the backend's scratch, kept for
    // the backward, which only makes the filter gradient.
    void (*stem_fwd)(void *be, void *y, void *stem_in, const float *x, const float *w, int N, int S, int C, int K);
    void (*stem_bwd)(void *be, const float *w, const void *dy, const void *stem_in, int N, int S, int C, int K);
    // Pointwise: y (N,H,H,K) = x (N,H,H,C) . w (K,C)^T; dx may be NULL.
    void (*pw_fwd)(void *be, void *y, const void *x, const float *w, int N, int H, int C, int K);
    void (*pw_bwd)(void *be, void *dx, const float *w, const void *dy, const void *x, int N, int H, int C, int K);
    // Depthwise k x k, stride s, TF-SAME: x (N,H,H,C) -> y (N,Ho,Ho,C).
    void (*dw_fwd)(void *be, void *y, const void *x, const float *w, int N, int H, int C, int k, int s);
    void (*dw_bwd)(void *be, void *dx, const float *w, const void *dy, const void *x, int N, int H, int C, int k,
                   int s);
    // Batch norm + activation over x (M,C); mean/rstd (C) kept. The backward
    // turns dx (M,C), the gradient at y, into the gradient at x in place.
    void (*bn_fwd)(void *be, void *y, float *mean, float *rstd, const void *x, const am_bn *bn, size_t M, int C,
                   int act, int train);
    void (*bn_bwd)(void *be, void *dx, const void *x, const float *mean, const float *rstd, const am_bn *bn,
                   size_t M, int C, int act);
    // Squeeze-excite over x (N,HW,C) of width S: y = x * gate; pooled (N,C),
    // hid (N,S), gate (N,C) kept. The backward turns dx, the gradient at y,
    // into the gradient at x in place (dz, dpool, dh of am_acts: scratch).
    void (*se_fwd)(void *be, void *y, float *pooled, float *hid, float *gate, const void *x,
                   const am_block_params *p, int N, int HW, int C, int S);
    void (*se_bwd)(void *be, void *dx, const void *x, const float *pooled, const float *hid, const float *gate,
                   const am_block_params *p, const am_acts *A, int N, int HW, int C, int S);
    // Residual with drop-connect per sample (Philox stream `stream` of
    // (seed, step)): y = branch * dc[n] + skip, over N samples of `per`.
    void (*residual_fwd)(void *be, void *y, float *dc, const void *branch, const void *skip, int N, int per,
                         float rate, uint64_t seed, uint32_t stream, uint64_t step);
    void (*residual_bwd)(void *be, void *dbranch, void *dskip, const void *dy, const float *dc, int N, int per);
    void (*add)(void *be, void *y, const void *x, size_t n);  // y += x
    // Global average pool x (N,HW,C) -> y (N,C) float.
    void (*gap_fwd)(void *be, float *y, const void *x, int N, int HW, int C);
    void (*gap_bwd)(void *be, void *dx, const float *dy, int N, int HW, int C);
    // Dropout over n floats (Philox stream `stream` of (seed, step)).
    void (*dropout_fwd)(void *be, float *y, float *mask, const float *x, int n, float rate, uint64_t seed,
                        uint32_t stream, uint64_t step);
    void (*dropout_bwd)(void *be, float *dx, const float *dy, const float *mask, int n);
    // Classifier: y (N,K) = x (N,C) . w (K,C)^T + b.
    void (*fc_fwd)(void *be, float *y, const float *x, const float *w, const float *b, int N, int C, int K);
    void (*fc_bwd)(void *be, float *dx, const float *w, const float *b, const float *dy, const float *x, int N,
                   int C, int K);
    // Optional fused eval entries (NULL: none; used where am_net.fuse is set).
    // bn_eval_stats: mean/rstd (C) from the running statistics.
    void (*bn_eval_stats)(void *be, float *mean, float *rstd, const am_bn *bn, int C);
    // Depthwise with the input's BN + act applied as it reads (bn_in NULL:
    // none) and its own BN + act as it writes: x (N,H,H,C) -> y.
    void (*dw_bn_act_fwd)(void *be, void *y, const void *x, const float *w, const float *mean_in,
                          const float *rstd_in, const am_bn *bn_in, int act_in, const float *mean,
                          const float *rstd, const am_bn *bn, int act, int N, int H, int C, int k, int s);
    // The SE gate of x (N,HW,C) and the projection y (N,HW,K) of x * gate
    // through per-image weights, without x * gate in memory.
    void (*se_project_fwd)(void *be, void *y, float *pooled, float *hid, float *gate, const void *x,
                           const am_block_params *p, const am_acts *A, int N, int HW, int C, int S, int K);
} am_backend;

typedef struct {
    const am_backend *ops;
    void *be;               // the backend's context
    const am_model *m;      // architecture, parameter views, BN settings, dropout rates
    am_acts *A;             // bound for (N, size)
    struct am_prof *prof;   // per-layer timing when set; NULL: off
    int fuse;               // eval forward through the fused entries
    size_t es;              // bytes of an activation element (for the profile)
} am_net;

// The CPU backend (src/cpu/backend.c); its context is the am_model.
extern const am_backend am_cpu_backend;

// Forward on A->x. train=1: batch statistics, running statistics updated,
// dropout and drop-connect drawn from Philox (seed, step). Returns A->logits.
float *am_net_forward(const am_net *n, int train, uint64_t seed, uint64_t step);
// Backward from dlogits (N,classes), in the backend's memory, after a
// training forward.
void am_net_backward(const am_net *n, const float *dlogits);
