// Squeeze-excite per-element maths shared by the CPU reference (src/cpu/se.c)
// and the CUDA kernels (kernels/se.cu).
//   gate = sigmoid(z); out = in * gate
//   dz = (sum_hw dout * in) * gate * (1 - gate);  din = dout * gate + dpool / HW
#pragma once
#include "am/hd.h"

AM_HD static inline float am_se_dz(float acc, float gate) { return acc * gate * (1.0f - gate); }

AM_HD static inline float am_se_din(float dout, float gate, float dpool, float inv_hw) {
    return dout * gate + dpool * inv_hw;
}
