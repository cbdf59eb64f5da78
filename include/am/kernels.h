// The CUDA kernels of kernels/*.cu, as plain C launchers. Each one is the twin
// of a CPU op in include/am/ops.h (named there) and shares its per-element
// maths through kernels/X_math.h. Same conventions: outputs first, then
// inputs, then sizes; parameter gradients accumulate (+=), activation
// gradients are assigned. All pointers are device pointers; `stream` is a
// cudaStream_t. Activation tensors (`void *`) are of type `dt` (AM_F32 or
// AM_BF16); weights, gradients, statistics and everything typed float are
// float32. Each launcher checks the launch (and synchronises when AM_SYNC=1).
// Scratch arguments (`work`) are device buffers of the size stated.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/aug_plan.h"
#include "am/ssl.h"
#include "am/hd.h"

enum { AM_F32 = 0, AM_BF16 = 1 };

// The values of a train step that change from step to step, read on the
// device, so that one captured CUDA graph serves every step: the launchers
// that take `const am_step_args *args` (device memory) use it when it is not
// NULL, else their host arguments.
typedef struct {
    uint64_t step;   // the Philox step of dropout and drop-connect
    float lr;        // the optimiser's learning rate
    float c1, c2;    // AdamW's bias corrections 1 - b1^t, 1 - b2^t
} am_step_args;

// Size of one activation element.
static inline size_t am_dt_size(int dt) { return dt == AM_BF16 ? 2 : 4; }

// After every launch (src/cuda/launch.c): fatal on a launch error naming
// file:line; with AM_SYNC=1 also synchronises the stream (outside graph
// capture) so that an asynchronous fault is reported at its launch.
void am_cuda_after_launch(const char *file, int line, const char *what, void *stream);

// Depthwise convolution (dwconv_forward/backward), NHWC, TF-SAME, k 3 or 5,
// any stride. in (N,H,W,C), w (k,k,C), out (N,Ho,Wo,C).
void cu_dwconv_forward(void *out, const void *in, const float *w,
                       int N, int H, int W, int C, int k, int s, int dt, void *stream);
// din (N,H,W,C) assigned; dw (k,k,C) accumulates.
void cu_dwconv_backward(void *din, float *dw, const void *dout, const void *in, const float *w,
                        int N, int H, int W, int C, int k, int s, int dt, void *stream);

// The eval forward of depthwise with batch norms folded in: out (N,Ho,Wo,C) =
// post(dwconv(pre(in))), pre and post each y = act(gamma (x - mean) rstd + beta)
// per channel (bn_act_forward in eval mode), skipped when its mean is NULL.
// Tiled through shared memory; k 3 or 5, stride 1 or 2.
void cu_dwconv_bn_act_forward(void *out, const void *in, const float *w,
                              const float *pre_mean, const float *pre_rstd, const float *pre_gamma,
                              const float *pre_beta, int pre_act,
                              const float *post_mean, const float *post_rstd, const float *post_gamma,
                              const float *post_beta, int post_act,
                              int N, int H, int W, int C, int k, int s, int dt, void *stream);

// Batch norm + activation (bn_act_forward/backward). x, out (M,C).
// work: 2*C doubles. Train: mean/rstd (C) from the batch, running stats
// updated; eval: from the running stats.
void cu_bn_act_forward(void *out, float *mean, float *rstd, const void *x,
                       const float *gamma, const float *beta, float *run_mean, float *run_var,
                       double *work, int M, int C, int act, int train, float momentum, float eps,
                       int dt, void *stream);
// The eval statistics alone: mean = run_mean, rstd = 1/sqrt(run_var + eps).
void cu_bn_eval_stats(float *mean, float *rstd, const float *run_mean, const float *run_var, int C,
                      float eps, void *stream);
// dx may alias dout. work: 2*C doubles + 2*C floats (as 3*C doubles).
void cu_bn_act_backward(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x,
                        const float *mean, const float *rstd, const float *gamma, const float *beta,
                        double *work, int M, int C, int act, int dt, void *stream);

// Global average pool (gap_forward/backward): in (N,HW,C) -> out (N,C) float.
void cu_gap_forward(float *out, const void *in, int N, int HW, int C, int dt, void *stream);
void cu_gap_backward(void *din, const float *dout, int N, int HW, int C, int dt, void *stream);

// Small fully connected layers of squeeze-excite (se_forward's two FCs), float:
// out (N,K) = act_in(in) (N,C) . w (K,C)^T + b, then sigmoid when `sigmoid`.
// act_in: AM_ACT_NONE or AM_ACT_SWISH applied to the input on read.
void cu_fc_small_forward(float *out, const float *in, const float *w, const float *b,
                         int N, int C, int K, int act_in, int sigmoid, void *stream);
// din (N,C) = (dout . w) * act'(act_pre) when act_pre (N,C) is given (the
// pre-activation of the layer's input), else dout . w. din may be NULL.
// dw (K,C) += dout^T . act_in(in); db (K) += sum_n dout.
void cu_fc_small_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, const float *act_pre, int N, int C, int K, int act_in,
                          void *stream);
// Per-image projection weights with the squeeze-excite scale folded in:
// wn (N,K,C) of type dt = w (K,C) * gate (N,C).
void cu_se_gate_weights(void *wn, const float *w, const float *gate, int N, int K, int C, int dt,
                        void *stream);
// Squeeze-excite scale: out = in * gate (N,C) over (N,HW,C).
void cu_se_scale_forward(void *out, const void *in, const float *gate, int N, int HW, int C,
                         int dt, void *stream);
// dz (N,C) = sum_hw(dout * in) * gate * (1 - gate) (se_backward, first step).
void cu_se_gate_backward(float *dz, const void *dout, const void *in, const float *gate,
                         int N, int HW, int C, int dt, void *stream);
// din = dout * gate + dpool / HW (may alias dout).
void cu_se_input_backward(void *din, const void *dout, const float *gate, const float *dpool,
                          int N, int HW, int C, int dt, void *stream);

// Dropout on float (N,C) features (dropout_forward/backward).
void cu_dropout_forward(float *out, float *mask, const float *in, int n, float p,
                        uint64_t seed, uint32_t stream_id, uint64_t step, const am_step_args *args,
                        void *stream);
void cu_dropout_backward(float *din, const float *dout, const float *mask, int n, void *stream);

// Drop-connect residual (drop_connect_add_forward/backward). scale (N) float.
void cu_drop_connect_add_forward(void *out, float *scale, const void *branch, const void *skip,
                                 int N, int per, float rate, uint64_t seed, uint32_t stream_id,
                                 uint64_t step, const am_step_args *args, int dt, void *stream);
// dskip may alias dout.
void cu_drop_connect_add_backward(void *dbranch, void *dskip, const void *dout, const float *scale,
                                  int N, int per, int dt, void *stream);
// acc += x, n elements (a residual gradient merge).
void cu_add_inplace(void *acc, const void *x, size_t n, int dt, void *stream);

// FC bias: out (N,K) = b broadcast (before a GEMM with beta 1); db += sum_n dout.
void cu_bias_broadcast(float *out, const float *b, int N, int K, void *stream);
void cu_bias_backward(float *db, const float *dout, int N, int K, void *stream);

// Softmax cross-entropy (softmax_ce_forward/backward): loss (1 float) = mean CE.
void cu_softmax_ce_forward(float *loss, float *probs, const float *logits, const int *labels,
                           int N, int K, void *stream);
void cu_softmax_ce_backward(float *dlogits, const float *probs, const int *labels, int N, int K,
                            void *stream);
// The semi-supervised loss (ssl_forward_backward, kernels/ssl.h): stats (5
// floats) = loss, loss_x, loss_u, loss_e, mask_rate; dlogits (B+2U,K)
// assigned; ssl: the loss's state (updated), then scratch for U*K + U floats;
// img: as ssl_forward_backward's, its arrays in device memory (NULL for a
// loss without per-image state).
void cu_ssl_forward_backward(float *stats, float *dlogits, float *ssl, const float *logits, const int *labels,
                             int B, int U, int K, const am_ssl_images *img, const am_ssl_hp *hp, void *stream);

// Optimisers and EMA over the flat parameter buffer (sgd_update, adamw_update, ema_update).
void cu_sgd_update(float *theta, float *v, const float *g, const uint8_t *decay, size_t n,
                   float lr, float mom, float wd, int nesterov, const am_step_args *args, void *stream);
// step t >= 1 sets the bias corrections (as src/cpu/optim.c computes them) unless args is given.
void cu_adamw_update(float *theta, float *m, float *s, const float *g, const uint8_t *decay, size_t n,
                     float lr, float b1, float b2, float eps, float wd, long step, const am_step_args *args,
                     void *stream);
void cu_ema_update(float *ema, const float *theta, size_t n, float decay, void *stream);

// bf16 conversions (kernels/bf16_math.h; rounding to nearest even).
void cu_f32_to_bf16(uint16_t *out, const float *in, size_t n, void *stream);
void cu_bf16_to_f32(float *out, const uint16_t *in, size_t n, void *stream);
// acc (float) += x (bf16), n elements: bf16 weight gradients into the fp32 family.
void cu_add_bf16_to_f32(float *acc, const uint16_t *x, size_t n, void *stream);
// The network input, float (N,H,W,C), zero-padded by (pt,pb,pl,pr) and
// converted to dt: out (N,H+pt+pb,W+pl+pr,C). Lets cuDNN run TF-SAME's
// asymmetric padding as a plain convolution.
void cu_pad_input(void *out, const float *in, int N, int H, int W, int C,
                  int pt, int pb, int pl, int pr, int dt, void *stream);

// Augmentation of a batch (am_augment_apply over am_aug_plan_make's plans),
// one launch: in (N,H,W,C) uint8, plans (N); writes out (N,H,W,C) uint8 when
// out is not NULL and x = out / 255 (N,Hp,Wp,C) of type dt, image n at rows
// pt.., columns pl.., when x is not NULL (the rest of x is not touched).
// work: cu_augment_work_bytes(N, H, W, C) bytes.
void cu_augment_batch(void *x, uint8_t *out, const uint8_t *in, const am_aug_plan *plans,
                      uint8_t *work, int N, int H, int W, int C, int Hp, int Wp, int pt, int pl,
                      int dt, void *stream);
AM_HD static inline size_t am_aug_round256(size_t b) { return (b + 255) & ~(size_t)255; }
// Two image buffers and the affine's W + H coordinates per image.
AM_HD static inline size_t cu_augment_work_bytes(int N, int H, int W, int C) {
    size_t nb = (size_t)H * W * C;
    return (size_t)N * (2 * am_aug_round256(nb) + am_aug_round256(sizeof(int) * ((size_t)W + H)));
}
