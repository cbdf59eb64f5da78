// Optimiser and EMA updates for one parameter element, shared by the CPU loop
// (src/cpu/optim.c) and the CUDA kernel over the flat parameter buffer.
//
// SGD, PyTorch convention with coupled L2 weight decay (wd = 0 for BN
// parameters and biases):
//   g <- g + wd*theta;  v <- mom*v + g;
//   nesterov: theta <- theta - lr*(g + mom*v);  plain: theta <- theta - lr*v
// AdamW (decoupled decay): m <- b1 m + (1-b1) g; s <- b2 s + (1-b2) g^2;
//   theta <- theta - lr*wd*theta - lr * (m / c1) / (sqrt(s / c2) + eps),
//   with c1 = 1 - b1^t and c2 = 1 - b2^t for step t >= 1.
// EMA: e <- d*e + (1-d)*theta.
#pragma once
#include <math.h>

#include "am/hd.h"

AM_HD static inline void am_sgd_update(float *theta, float *v, float g, float lr, float mom,
                                       float wd, int nesterov) {
    g += wd * *theta;
    *v = mom * *v + g;
    *theta -= lr * (nesterov ? g + mom * *v : *v);
}

AM_HD static inline void am_adamw_update(float *theta, float *m, float *s, float g, float lr,
                                         float b1, float b2, float eps, float wd, float c1, float c2) {
    *m = b1 * *m + (1.0f - b1) * g;
    *s = b2 * *s + (1.0f - b2) * g * g;
    *theta -= lr * wd * *theta;
    *theta -= lr * (*m / c1) / (sqrtf(*s / c2) + eps);
}

AM_HD static inline float am_ema_update(float e, float theta, float decay) {
    return decay * e + (1.0f - decay) * theta;
}
