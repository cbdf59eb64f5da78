// Dropout and drop-connect masks from one uniform draw u in [0,1), shared by
// the CPU reference (src/cpu/dropout.c) and the CUDA kernels
// (kernels/residual.cu, kernels/pool.cu). The draws come from am/philox.h.
#pragma once
#include <math.h>

#include "am/hd.h"

// Dropout: keep when u >= p, scaled by 1/(1-p).
AM_HD static inline float am_dropout_mask(float u, float p) { return u >= p ? 1.0f / (1.0f - p) : 0.0f; }

// Drop-connect, per sample: keep = floor(1 - rate + u); scale = keep / (1 - rate).
AM_HD static inline float am_drop_connect_scale(float u, float rate) {
    return floorf(1.0f - rate + u) / (1.0f - rate);
}
