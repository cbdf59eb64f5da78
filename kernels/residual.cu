// MBConv residual with drop-connect; CUDA twin of drop_connect_add_* in
// src/cpu/dropout.c (masks from kernels/dropout_math.h and am/philox.h, so the
// same samples are dropped on both devices). Gradients are assigned, except
// cu_add_inplace, the merge of two gradient branches.
#include "common.cuh"
#include "dropout_math.h"
#include "am/philox.h"

__global__ void dc_scale(float *scale, int N, float rate, uint64_t seed, uint32_t stream_id, uint64_t step,
                         const am_step_args *args) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (args) step = args->step;
    if (n < N) scale[n] = am_drop_connect_scale(am_rand_u01(seed, stream_id, step, (uint32_t)n), rate);
}

template <typename T>
__global__ void dc_add_fwd(T *out, const float *scale, const T *branch, const T *skip, size_t per, size_t total) {
    GRID_STRIDE(i, total) st(out, i, ld(branch, i) * scale[i / per] + ld(skip, i));
}

template <typename T>
__global__ void dc_add_bwd(T *dbranch, T *dskip, const T *dout, const float *scale, size_t per, size_t total) {
    GRID_STRIDE(i, total) {
        float g = ld(dout, i);
        st(dskip, i, g);
        st(dbranch, i, g * scale[i / per]);
    }
}

template <typename T>
__global__ void add_inplace(T *acc, const T *x, size_t n) {
    GRID_STRIDE(i, n) st(acc, i, ld(acc, i) + ld(x, i));
}

extern "C" void cu_drop_connect_add_forward(void *out, float *scale, const void *branch, const void *skip,
                                            int N, int per, float rate, uint64_t seed, uint32_t stream_id,
                                            uint64_t step, const am_step_args *args, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    dc_scale<<<(N + 127) / 128, 128, 0, s>>>(scale, N, rate, seed, stream_id, step, args);
    AM_LAUNCHED("dc_scale", s);
    size_t n = (size_t)N * per;
    DISPATCH_DT(dt, dc_add_fwd<T><<<grid_for(n, 256), 256, 0, s>>>((T *)out, scale, (const T *)branch, (const T *)skip, (size_t)per, n));
    AM_LAUNCHED("dc_add_fwd", s);
}

extern "C" void cu_drop_connect_add_backward(void *dbranch, void *dskip, const void *dout, const float *scale,
                                             int N, int per, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    size_t n = (size_t)N * per;
    DISPATCH_DT(dt, dc_add_bwd<T><<<grid_for(n, 256), 256, 0, s>>>((T *)dbranch, (T *)dskip, (const T *)dout, scale, (size_t)per, n));
    AM_LAUNCHED("dc_add_bwd", s);
}

extern "C" void cu_add_inplace(void *acc, const void *x, size_t n, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    DISPATCH_DT(dt, add_inplace<T><<<grid_for(n, 256), 256, 0, s>>>((T *)acc, (const T *)x, n));
    AM_LAUNCHED("add_inplace", s);
}
