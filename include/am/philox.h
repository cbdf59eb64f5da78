// Philox4x32-10 counter-based RNG (Salmon et al., SC'11). A pure function of
// (counter, key): the same numbers on the CPU and the GPU, for any thread count.
//
// Streams used by the engine: key = the run's 64-bit seed; counter =
// (index / 4, stream id, step low, step high) and the word index % 4.
#pragma once
#include <stdint.h>

#include "am/hd.h"

typedef struct { uint32_t v[4]; } am_u32x4;

AM_HD static inline uint32_t am_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

AM_HD static inline am_u32x4 am_philox4x32_10(am_u32x4 c, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = am_mulhilo32(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = am_mulhilo32(0xCD9E8D57u, c.v[2], &hi1);
        am_u32x4 n;
        n.v[0] = hi1 ^ c.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k1;
        n.v[3] = lo0;
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

// Uniform float in [0, 1) from the top 24 bits: exact in float32.
AM_HD static inline float am_u01(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

// The word number `index` of stream `stream` at step `step` under `seed`.
AM_HD static inline uint32_t am_rand_u32(uint64_t seed, uint32_t stream, uint64_t step, uint32_t index) {
    am_u32x4 c = {{index >> 2, stream, (uint32_t)step, (uint32_t)(step >> 32)}};
    am_u32x4 r = am_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    return r.v[index & 3];
}

AM_HD static inline float am_rand_u01(uint64_t seed, uint32_t stream, uint64_t step, uint32_t index) {
    return am_u01(am_rand_u32(seed, stream, step, index));
}
