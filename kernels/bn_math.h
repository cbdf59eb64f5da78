// Batch norm fused with an activation: the per-element maths shared by the CPU
// reference (src/cpu/bn_act.c) and the CUDA kernels (kernels/bn_act.cu).
// Statistics (sums in double) are reduced by the caller.
//   forward:  y = act(gamma * (x - mean) * rstd + beta)
//   xh = (x - mean) * rstd
//   backward: dy = dout * act'(gamma * xh + beta);
//             a = sum(dy) / M, b = sum(dy * xh) / M per channel;
//             dx = gamma * rstd * (dy - a - xh * b); dbeta += sum(dy), dgamma += sum(dy * xh)
// Running statistics (torch convention): r = (1 - momentum) r + momentum * stat,
// with the unbiased variance.
#pragma once
#include <math.h>

#include "am/hd.h"
#include "act_math.h"

AM_HD static inline float am_bn_xhat(float x, float mean, float rstd) { return (x - mean) * rstd; }

AM_HD static inline float am_bn_act_fwd(int act, float x, float mean, float rstd, float gamma, float beta) {
    return am_act(act, gamma * (x - mean) * rstd + beta);
}

// dy: the gradient at the normalised-and-affine value (before the activation).
AM_HD static inline float am_bn_act_dy(int act, float dout, float xh, float gamma, float beta) {
    return dout * am_act_grad(act, gamma * xh + beta);
}

AM_HD static inline float am_bn_dx(float dy, float xh, float gamma, float rstd, float a, float b) {
    return gamma * rstd * (dy - a - xh * b);
}

AM_HD static inline float am_bn_rstd(double var, float eps) { return (float)(1.0 / sqrt(var + eps)); }

AM_HD static inline float am_bn_running(float r, double stat, float momentum) {
    return (float)((1.0 - momentum) * r + momentum * stat);
}
