// Softmax cross-entropy on one row of logits, shared by the CPU reference and
// the CUDA kernels. Inputs: logits z[K], label y. Outputs: probabilities p[K]
// and the loss -log p[y]; the gradient of the loss w.r.t. z is p - onehot(y).
#pragma once
#include <math.h>

#include "am/hd.h"

AM_HD static inline float am_softmax_ce_row(float *p, const float *z, int K, int y) {
    float m = z[0];
    for (int k = 1; k < K; k++) m = fmaxf(m, z[k]);
    float s = 0.0f;
    for (int k = 0; k < K; k++) { p[k] = expf(z[k] - m); s += p[k]; }
    float inv = 1.0f / s;
    for (int k = 0; k < K; k++) p[k] *= inv;
    return -(z[y] - m - logf(s));
}
