// CPU reference ops, fp32, NHWC. Each op is a forward/backward pair:
// outputs first, then inputs, then sizes. Gradient rule for every op:
// parameter gradients accumulate (+=), input gradients are assigned (=).
// M is the number of pixels N*H*W when an op is per pixel.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/ssl.h"

// Dense convolution, TF-SAME, via im2col + sgemm (the stem).
// in (N,H,W,C), w (K,k,k,C), out (N,Ho,Wo,K), col (N*Ho*Wo, k*k*C) is kept
// for the backward pass. din may be NULL (the network input needs none).
void conv2d_forward(float *out, float *col, const float *in, const float *w,
                    int N, int H, int W, int C, int K, int k, int s);
void conv2d_backward(float *din, float *dw, float *dcol, const float *dout,
                     const float *col, const float *w,
                     int N, int H, int W, int C, int K, int k, int s);

// Pointwise (1x1) convolution: out (M,K) = in (M,C) . w (K,C)^T.
void pwconv_forward(float *out, const float *in, const float *w, int M, int C, int K);
void pwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, int M, int C, int K);

// Depthwise convolution, TF-SAME. in (N,H,W,C), w (k,k,C), out (N,Ho,Wo,C).
void dwconv_forward(float *out, const float *in, const float *w,
                    int N, int H, int W, int C, int k, int s);
void dwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, int N, int H, int W, int C, int k, int s);

// Batch norm fused with an activation (AM_ACT_*). x (M,C) -> out (M,C).
// Train: batch statistics (biased variance) saved in mean/rstd (C), running
// statistics updated as r = (1-momentum) r + momentum * stat with the
// unbiased variance. Eval: mean/rstd are filled from the running statistics.
// The backward recomputes the normalised value from x, mean and rstd.
void bn_act_forward(float *out, float *mean, float *rstd, const float *x,
                    const float *gamma, const float *beta, float *run_mean, float *run_var,
                    int M, int C, int act, int train, float momentum, float eps);
void bn_act_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                     const float *x, const float *mean, const float *rstd,
                     const float *gamma, const float *beta, int M, int C, int act);

// Elementwise activation (used on its own by squeeze-excite and tests).
void act_forward(float *out, const float *in, int n, int act);
void act_backward(float *din, const float *dout, const float *in, int n, int act);

// Global average pool: in (N,HW,C) -> out (N,C).
void gap_forward(float *out, const float *in, int N, int HW, int C);
void gap_backward(float *din, const float *dout, int N, int HW, int C);

// Fully connected: out (N,K) = in (N,C) . w (K,C)^T + b (K).
void fc_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int K);
void fc_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                 const float *w, int N, int C, int K);

// Squeeze-excite: pooled = mean_hw(in) (N,C); hid = pooled . w1^T + b1 (N,S);
// gate = sigmoid(swish(hid) . w2^T + b2) (N,C); out = in * gate.
// pooled, hid and gate are kept for the backward pass.
void se_forward(float *out, float *pooled, float *hid, float *gate, const float *in,
                const float *w1, const float *b1, const float *w2, const float *b2,
                int N, int HW, int C, int S);
void se_backward(float *din, float *dw1, float *db1, float *dw2, float *db2,
                 const float *dout, const float *in, const float *pooled,
                 const float *hid, const float *gate, const float *w1, const float *w2,
                 int N, int HW, int C, int S);

// Dropout: mask[i] = keep ? 1/(1-p) : 0 with keep = U >= p drawn from the
// Philox stream (seed, stream, step); out = in * mask.
void dropout_forward(float *out, float *mask, const float *in, int n, float p,
                     uint64_t seed, uint32_t stream, uint64_t step);
void dropout_backward(float *din, const float *dout, const float *mask, int n);

// Drop-connect on a residual branch, per sample: keep = floor(1 - rate + U),
// scale[n] = keep / (1 - rate); out = branch * scale[n] + skip.
void drop_connect_add_forward(float *out, float *scale, const float *branch, const float *skip,
                              int N, int per, float rate, uint64_t seed, uint32_t stream,
                              uint64_t step);
// dbranch = dout * scale[n]; dskip = dout (assigned).
void drop_connect_add_backward(float *dbranch, float *dskip, const float *dout,
                               const float *scale, int N, int per);

// Softmax cross-entropy, mean over the batch. logits (N,K), labels (N).
// probs (N,K) is kept; the backward writes dlogits = (probs - onehot) / N.
float softmax_ce_forward(float *probs, const float *logits, const int *labels, int N, int K);
void softmax_ce_backward(float *dlogits, const float *probs, const int *labels, int N, int K);

// The semi-supervised step's loss (kernels/ssl.h), loss and gradient in one
// pass. logits (B + 2U, K): rows [0,B) labelled, [B,B+U) weak views,
// [B+U,B+2U) strong views of the same U unlabelled images. L = l_x +
// lambda_u * l_u + l_e: l_x the mean CE of the labelled rows, l_u the mean of
// weight * CE(strong, target) over the U images, l_e the loss's extra term
// (FreeMatch's fairness loss). The loss's state is updated from the weak
// views; img: the per-image state and the step's images (FlexMatch; NULL
// for the others). dlogits (B + 2U, K) is assigned: the weak rows get zero.
typedef struct { float loss, loss_x, loss_u, loss_e, mask_rate; } am_ssl_stats;
am_ssl_stats ssl_forward_backward(float *dlogits, const float *logits, const int *labels, int B, int U, int K,
                                  am_ssl_state *state, const am_ssl_images *img, const am_ssl_hp *hp);

// Optimisers and EMA over a flat parameter buffer (kernels/optim_math.h).
// decay[i] = 1 where weight decay applies to element i.
void sgd_update(float *theta, float *v, const float *g, const uint8_t *decay, size_t n,
                float lr, float mom, float wd, int nesterov);
void adamw_update(float *theta, float *m, float *s, const float *g, const uint8_t *decay, size_t n,
                  float lr, float b1, float b2, float eps, float wd, long step);
void ema_update(float *ema, const float *theta, size_t n, float decay);

// Threads for OpenMP and OpenBLAS together; 0 keeps the library defaults.
void am_set_threads(int n);
int am_get_threads(void);
