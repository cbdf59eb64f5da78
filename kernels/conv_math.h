// Convolution geometry shared by the CPU reference and the CUDA kernels:
// TensorFlow SAME padding, out = ceil(in / s), the odd pixel of padding goes
// after (bottom/right).
#pragma once
#include "am/hd.h"

AM_HD static inline int am_same_out(int in, int s) { return (in + s - 1) / s; }

AM_HD static inline int am_same_pad_before(int in, int k, int s) {
    int out = am_same_out(in, s);
    int pad = (out - 1) * s + k - in;
    if (pad < 0) pad = 0;
    return pad / 2;
}
