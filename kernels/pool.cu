// Global average pool, head dropout and the FC bias; CUDA twins of gap_*,
// dropout_* (src/cpu/se.c, src/cpu/dropout.c) and fc_forward's bias.
// Gradient rule: db accumulates (+=); din is assigned.
#include "common.cuh"
#include "dropout_math.h"
#include "am/philox.h"

// in (N,HW,C) -> out (N,C): block (32,8) per (32 channels, image), sums in double.
template <typename T>
__global__ void gap_fwd(float *out, const T *in, int HW, int C) {
    __shared__ double red[8][33];
    int c = blockIdx.x * 32 + threadIdx.x, n = blockIdx.y;
    double acc = 0.0;
    if (c < C)
        for (int p = threadIdx.y; p < HW; p += 8) acc += ld(in, ((size_t)n * HW + p) * C + c);
    red[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int j = 1; j < 8; j++) acc += red[j][threadIdx.x];
        out[(size_t)n * C + c] = (float)(acc / HW);
    }
}

template <typename T>
__global__ void gap_bwd(T *din, const float *dout, int HW, int C, size_t total, float inv) {
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t n = i / ((size_t)HW * C);
        st(din, i, dout[n * C + c] * inv);
    }
}

__global__ void dropout_fwd(float *out, float *mask, const float *in, int n, float p, uint64_t seed,
                            uint32_t stream_id, uint64_t step, const am_step_args *args) {
    if (args) step = args->step;
    GRID_STRIDE(i, (size_t)n) {
        mask[i] = am_dropout_mask(am_rand_u01(seed, stream_id, step, (uint32_t)i), p);
        out[i] = in[i] * mask[i];
    }
}

__global__ void dropout_bwd(float *din, const float *dout, const float *mask, int n) {
    GRID_STRIDE(i, (size_t)n) din[i] = dout[i] * mask[i];
}

__global__ void bias_bcast(float *out, const float *b, int N, int K) {
    GRID_STRIDE(i, (size_t)N * K) out[i] = b[i % K];
}

__global__ void bias_bwd(float *db, const float *dout, int N, int K) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= K) return;
    float s = 0.0f;
    for (int n = 0; n < N; n++) s += dout[(size_t)n * K + j];
    db[j] += s;
}

extern "C" void cu_gap_forward(float *out, const void *in, int N, int HW, int C, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    dim3 grid((unsigned)((C + 31) / 32), (unsigned)N);
    DISPATCH_DT(dt, gap_fwd<T><<<grid, dim3(32, 8), 0, s>>>(out, (const T *)in, HW, C));
    AM_LAUNCHED("gap_fwd", s);
}

extern "C" void cu_gap_backward(void *din, const float *dout, int N, int HW, int C, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    size_t n = (size_t)N * HW * C;
    DISPATCH_DT(dt, gap_bwd<T><<<grid_for(n, 256), 256, 0, s>>>((T *)din, dout, HW, C, n, 1.0f / HW));
    AM_LAUNCHED("gap_bwd", s);
}

extern "C" void cu_dropout_forward(float *out, float *mask, const float *in, int n, float p,
                                   uint64_t seed, uint32_t stream_id, uint64_t step, const am_step_args *args,
                                   void *stream) {
    cudaStream_t s = STREAM(stream);
    dropout_fwd<<<grid_for((size_t)n, 256), 256, 0, s>>>(out, mask, in, n, p, seed, stream_id, step, args);
    AM_LAUNCHED("dropout_fwd", s);
}

extern "C" void cu_dropout_backward(float *din, const float *dout, const float *mask, int n, void *stream) {
    cudaStream_t s = STREAM(stream);
    dropout_bwd<<<grid_for((size_t)n, 256), 256, 0, s>>>(din, dout, mask, n);
    AM_LAUNCHED("dropout_bwd", s);
}

extern "C" void cu_bias_broadcast(float *out, const float *b, int N, int K, void *stream) {
    cudaStream_t s = STREAM(stream);
    bias_bcast<<<grid_for((size_t)N * K, 256), 256, 0, s>>>(out, b, N, K);
    AM_LAUNCHED("bias_bcast", s);
}

extern "C" void cu_bias_backward(float *db, const float *dout, int N, int K, void *stream) {
    cudaStream_t s = STREAM(stream);
    bias_bwd<<<(K + 127) / 128, 128, 0, s>>>(db, dout, N, K);
    AM_LAUNCHED("bias_bwd", s);
}
