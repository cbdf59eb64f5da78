// Shared by every kernels/*.cu: typed loads/stores for the activation storage
// types (float or bf16, maths in float), launch checking, grid sizing and the
// dtype dispatch. Kernels are C-like CUDA: templates only for the storage type
// and the kernel size.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "am/error.h"
#include "am/kernels.h"
}

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float ld(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16 *p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16 *p, size_t i, float v) { p[i] = __float2bfloat16_rn(v); }

#define AM_LAUNCHED(what, stream) am_cuda_after_launch(__FILE__, __LINE__, (what), (stream))
#define STREAM(s) ((cudaStream_t)(s))

// Blocks of `threads` for a grid-stride loop over n elements.
static inline unsigned grid_for(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b < 1) b = 1;
    if (b > 65536u * 16u) b = 65536u * 16u;
    return (unsigned)b;
}

#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

// Runs the statement list with T the storage type of dtype `dt`.
#define DISPATCH_DT(dt, ...)                                                        \
    do {                                                                            \
        if ((dt) == AM_BF16) { typedef bf16 T; __VA_ARGS__; }                       \
        else if ((dt) == AM_F32) { typedef float T; __VA_ARGS__; }                  \
        else am_fatal(__FILE__, __LINE__, "dtype", "activation dtype must be AM_F32 or AM_BF16"); \
    } while (0)
