// The emulator's bfloat16 (C++): 16 bits of storage, the top half of a
// float32. Conversion from float rounds to nearest, ties to even; a NaN stays
// a quiet NaN; overflow rounds to infinity (CUDA's __float2bfloat16_rn).
#pragma once
#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    uint16_t __x;
};
typedef __nv_bfloat16 nv_bfloat16;

static inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    __nv_bfloat16 h;
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
        h.__x = (uint16_t)((u >> 16) | 0x0040u);  // quiet NaN, sign kept
        return h;
    }
    uint32_t lsb = (u >> 16) & 1u;
    h.__x = (uint16_t)((u + 0x7fffu + lsb) >> 16);
    return h;
}

static inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.__x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
