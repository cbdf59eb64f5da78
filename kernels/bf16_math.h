// bfloat16 storage for the mixed-precision mode, shared by the CPU twin and the
// CUDA kernels. A bf16 value is the top 16 bits of a float32; conversion from
// float rounds to nearest, ties to even, and keeps NaN a (quiet) NaN, as
// __float2bfloat16_rn does. Maths is always done in float32.
#pragma once
#include <stdint.h>
#include <string.h>

#include "am/hd.h"

AM_HD static inline uint16_t am_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

AM_HD static inline float am_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// The float a value becomes after a round trip through bf16 storage.
AM_HD static inline float am_bf16_round(float f) { return am_bf16_to_f32(am_f32_to_bf16(f)); }
