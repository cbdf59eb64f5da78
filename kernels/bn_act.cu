// Batch norm fused with ReLU6/swish/none, NHWC viewed as (M,C); CUDA twin of
// src/cpu/bn_act.c with the per-element maths of kernels/bn_math.h.
// Per-channel sums are taken in double: block (32,8) threads each sum a
// strided share of the rows for one channel, the block folds its 8 rows in
// shared memory and adds to the global sums with double atomics.
// Gradient rule: dgamma/dbeta accumulate (+=); dx is assigned (may alias dout).
#include "common.cuh"
#include "bn_math.h"

static unsigned rows_grid(int M, int C) {
    unsigned gx = (unsigned)((C + 31) / 32);
    unsigned want = (unsigned)((M + 8 * 64 - 1) / (8 * 64));  // >= 64 rows per thread
    unsigned cap = 2048 / gx + 1;
    return want < 1 ? 1 : want > cap ? cap : want;
}

// sums[0..C) += sum x, sums[C..2C) += sum x^2
template <typename T>
__global__ void bn_stats(double *sums, const T *x, int M, int C) {
    __shared__ double r1[8][33], r2[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    double s1 = 0.0, s2 = 0.0;
    if (c < C)
        for (int m = blockIdx.y * 8 + threadIdx.y; m < M; m += gridDim.y * 8) {
            double v = ld(x, (size_t)m * C + c);
            s1 += v;
            s2 += v * v;
        }
    r1[threadIdx.y][threadIdx.x] = s1;
    r2[threadIdx.y][threadIdx.x] = s2;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int j = 1; j < 8; j++) { s1 += r1[j][threadIdx.x]; s2 += r2[j][threadIdx.x]; }
        atomicAdd(&sums[c], s1);
        atomicAdd(&sums[C + c], s2);
    }
}

__global__ void bn_finalize(float *mean, float *rstd, float *run_mean, float *run_var, const double *sums,
                            int M, int C, int train, float momentum, float eps) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    if (!train) {
        mean[c] = run_mean[c];
        rstd[c] = am_bn_rstd(run_var[c], eps);
        return;
    }
    double mu = sums[c] / M;
    double var = sums[C + c] / M - mu * mu;
    if (var < 0.0) var = 0.0;
    mean[c] = (float)mu;
    rstd[c] = am_bn_rstd(var, eps);
    double unbiased = M > 1 ? var * M / (M - 1) : var;
    run_mean[c] = am_bn_running(run_mean[c], mu, momentum);
    run_var[c] = am_bn_running(run_var[c], unbiased, momentum);
}

template <typename T>
__global__ void bn_apply(T *out, const T *x, const float *mean, const float *rstd, const float *gamma,
                         const float *beta, size_t n, int C, int act) {
    GRID_STRIDE(i, n) {
        int c = (int)(i % C);
        st(out, i, am_bn_act_fwd(act, ld(x, i), mean[c], rstd[c], gamma[c], beta[c]));
    }
}

// sums[0..C) += sum dy, sums[C..2C) += sum dy * xh
template <typename T>
__global__ void bn_bwd_sums(double *sums, const T *dout, const T *x, const float *mean, const float *rstd,
                            const float *gamma, const float *beta, int M, int C, int act) {
    __shared__ double r1[8][33], r2[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    double s1 = 0.0, s2 = 0.0;
    if (c < C) {
        float mu = mean[c], rs = rstd[c], g = gamma[c], b = beta[c];
        for (int m = blockIdx.y * 8 + threadIdx.y; m < M; m += gridDim.y * 8) {
            size_t i = (size_t)m * C + c;
            float xh = am_bn_xhat(ld(x, i), mu, rs);
            float dy = am_bn_act_dy(act, ld(dout, i), xh, g, b);
            s1 += dy;
            s2 += (double)dy * xh;
        }
    }
    r1[threadIdx.y][threadIdx.x] = s1;
    r2[threadIdx.y][threadIdx.x] = s2;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int j = 1; j < 8; j++) { s1 += r1[j][threadIdx.x]; s2 += r2[j][threadIdx.x]; }
        atomicAdd(&sums[c], s1);
        atomicAdd(&sums[C + c], s2);
    }
}

// dbeta += sum dy, dgamma += sum dy*xh; ab = (a, b) = sums / M as floats.
__global__ void bn_bwd_finalize(float *dgamma, float *dbeta, float *ab, const double *sums, int M, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    dbeta[c] += (float)sums[c];
    dgamma[c] += (float)sums[C + c];
    ab[c] = (float)(sums[c] / M);
    ab[C + c] = (float)(sums[C + c] / M);
}

template <typename T>
__global__ void bn_bwd_dx(T *dx, const T *dout, const T *x, const float *mean, const float *rstd,
                          const float *gamma, const float *beta, const float *ab, size_t n, int C, int act) {
    GRID_STRIDE(i, n) {
        int c = (int)(i % C);
        float xh = am_bn_xhat(ld(x, i), mean[c], rstd[c]);
        float dy = am_bn_act_dy(act, ld(dout, i), xh, gamma[c], beta[c]);
        st(dx, i, am_bn_dx(dy, xh, gamma[c], rstd[c], ab[c], ab[C + c]));
    }
}

extern "C" void cu_bn_act_forward(void *out, float *mean, float *rstd, const void *x,
                                  const float *gamma, const float *beta, float *run_mean, float *run_var,
                                  double *work, int M, int C, int act, int train, float momentum, float eps,
                                  int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    if (train) {
        cudaMemsetAsync(work, 0, sizeof(double) * 2 * C, s);
        AM_LAUNCHED("cudaMemsetAsync (BN sums)", s);
        dim3 grid((unsigned)((C + 31) / 32), rows_grid(M, C));
        DISPATCH_DT(dt, bn_stats<T><<<grid, dim3(32, 8), 0, s>>>(work, (const T *)x, M, C));
        AM_LAUNCHED("bn_stats", s);
    }
    bn_finalize<<<(C + 255) / 256, 256, 0, s>>>(mean, rstd, run_mean, run_var, work, M, C, train, momentum, eps);
    AM_LAUNCHED("bn_finalize", s);
    size_t n = (size_t)M * C;
    DISPATCH_DT(dt, bn_apply<T><<<grid_for(n, 256), 256, 0, s>>>((T *)out, (const T *)x, mean, rstd, gamma, beta, n, C, act));
    AM_LAUNCHED("bn_apply", s);
}

extern "C" void cu_bn_act_backward(void *dx, float *dgamma, float *dbeta, const void *dout, const void *x,
                                   const float *mean, const float *rstd, const float *gamma, const float *beta,
                                   double *work, int M, int C, int act, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    float *ab = (float *)(work + 2 * C);
    cudaMemsetAsync(work, 0, sizeof(double) * 2 * C, s);
    AM_LAUNCHED("cudaMemsetAsync (BN backward sums)", s);
    dim3 grid((unsigned)((C + 31) / 32), rows_grid(M, C));
    DISPATCH_DT(dt, bn_bwd_sums<T><<<grid, dim3(32, 8), 0, s>>>(work, (const T *)dout, (const T *)x, mean, rstd, gamma, beta, M, C, act));
    AM_LAUNCHED("bn_bwd_sums", s);
    bn_bwd_finalize<<<(C + 255) / 256, 256, 0, s>>>(dgamma, dbeta, ab, work, M, C);
    AM_LAUNCHED("bn_bwd_finalize", s);
    size_t n = (size_t)M * C;
    DISPATCH_DT(dt, bn_bwd_dx<T><<<grid_for(n, 256), 256, 0, s>>>((T *)dx, (const T *)dout, (const T *)x, mean, rstd, gamma, beta, ab, n, C, act));
    AM_LAUNCHED("bn_bwd_dx", s);
}

extern "C" void cu_bn_eval_stats(float *mean, float *rstd, const float *run_mean, const float *run_var, int C,
                                 float eps, void *stream) {
    cudaStream_t s = STREAM(stream);
    bn_finalize<<<(C + 255) / 256, 256, 0, s>>>(mean, rstd, (float *)run_mean, (float *)run_var, NULL, 1, C, 0,
                                                0.0f, eps);
    AM_LAUNCHED("bn_finalize", s);
}
