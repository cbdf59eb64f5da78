// Activations shared by the CPU reference and the CUDA kernels.
// am_act_grad returns d act(x) / dx at the pre-activation x.
#pragma once
#include <math.h>

#include "am/hd.h"

enum { AM_ACT_NONE = 0, AM_ACT_RELU6 = 1, AM_ACT_SWISH = 2 };

AM_HD static inline float am_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

AM_HD static inline float am_act(int act, float x) {
    if (act == AM_ACT_RELU6) return x < 0.0f ? 0.0f : x > 6.0f ? 6.0f : x;
    if (act == AM_ACT_SWISH) return x * am_sigmoid(x);
    return x;
}

// ReLU6 passes gradient only strictly inside (0, 6), as PyTorch's hardtanh.
AM_HD static inline float am_act_grad(int act, float x) {
    if (act == AM_ACT_RELU6) {  // two selects, no branch: the loops over it vectorise
        float g = x > 0.0f ? 1.0f : 0.0f;
        return x < 6.0f ? g : 0.0f;
    }
    if (act == AM_ACT_SWISH) {
        float s = am_sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    return 1.0f;
}
