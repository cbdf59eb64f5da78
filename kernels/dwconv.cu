// Depthwise convolution, NHWC, TF-SAME (kernels/conv_math.h), k 3 or 5; CUDA
// twin of src/cpu/depthwise.c. One thread per output (forward) or input
// (backward data) element, channels fastest so a warp reads consecutive
// channels; the filter gradient sums per (tap, channel) over pixel chunks and
// adds with atomics. Gradient rule: dw accumulates (+=); din is assigned.
#include "common.cuh"
#include "bn_math.h"
#include "conv_math.h"

// in (N,H,W,C), w (K,K,C) -> out (N,Ho,Wo,C)
template <typename T, int K>
__global__ void dw_fwd(T *out, const T *in, const float *w, int N, int H, int W, int C, int s,
                       int Ho, int Wo, int pt, int pl) {
    size_t total = (size_t)N * Ho * Wo * C;
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t p = i / C;
        int ox = (int)(p % Wo); p /= Wo;
        int oy = (int)(p % Ho);
        int n = (int)(p / Ho);
        float acc = 0.0f;
#pragma unroll
        for (int ky = 0; ky < K; ky++) {
            int iy = oy * s - pt + ky;
            if (iy < 0 || iy >= H) continue;
#pragma unroll
            for (int kx = 0; kx < K; kx++) {
                int ix = ox * s - pl + kx;
                if (ix < 0 || ix >= W) continue;
                acc += ld(in, (((size_t)n * H + iy) * W + ix) * C + c) * w[(ky * K + kx) * C + c];
            }
        }
        st(out, i, acc);
    }
}

// din (N,H,W,C) = sum over the outputs whose window holds the input pixel.
template <typename T, int K>
__global__ void dw_bwd_data(T *din, const T *dout, const float *w, int N, int H, int W, int C, int s,
                            int Ho, int Wo, int pt, int pl) {
    size_t total = (size_t)N * H * W * C;
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t p = i / C;
        int ix = (int)(p % W); p /= W;
        int iy = (int)(p % H);
        int n = (int)(p / H);
        float acc = 0.0f;
#pragma unroll
        for (int ky = 0; ky < K; ky++) {
            int ty = iy + pt - ky;
            if (ty < 0 || ty % s || ty / s >= Ho) continue;
#pragma unroll
            for (int kx = 0; kx < K; kx++) {
                int tx = ix + pl - kx;
                if (tx < 0 || tx % s || tx / s >= Wo) continue;
                acc += ld(dout, (((size_t)n * Ho + ty / s) * Wo + tx / s) * C + c) * w[(ky * K + kx) * C + c];
            }
        }
        st(din, i, acc);
    }
}

// dw (K,K,C) += sum over output pixels of dout * in. Block (32, 8): x = channel,
// y = a strided share of this block's pixel range; grid (C/32, chunks).
template <typename T, int K>
__global__ void dw_bwd_filter(float *dw, const T *dout, const T *in, int N, int H, int W, int C, int s,
                              int Ho, int Wo, int pt, int pl) {
    __shared__ float red[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    size_t P = (size_t)N * Ho * Wo;
    float acc[K * K];
#pragma unroll
    for (int t = 0; t < K * K; t++) acc[t] = 0.0f;
    if (c < C) {
        for (size_t p = blockIdx.y * 8 + threadIdx.y; p < P; p += (size_t)gridDim.y * 8) {
            int ox = (int)(p % Wo);
            int oy = (int)((p / Wo) % Ho);
            int n = (int)(p / ((size_t)Wo * Ho));
            float g = ld(dout, p * C + c);
#pragma unroll
            for (int ky = 0; ky < K; ky++) {
                int iy = oy * s - pt + ky;
                if (iy < 0 || iy >= H) continue;
#pragma unroll
                for (int kx = 0; kx < K; kx++) {
                    int ix = ox * s - pl + kx;
                    if (ix < 0 || ix >= W) continue;
                    acc[ky * K + kx] += g * ld(in, (((size_t)n * H + iy) * W + ix) * C + c);
                }
            }
        }
    }
#pragma unroll
    for (int t = 0; t < K * K; t++) {
        red[threadIdx.y][threadIdx.x] = acc[t];
        __syncthreads();
        if (threadIdx.y == 0 && c < C) {
            float sum = 0.0f;
            for (int j = 0; j < 8; j++) sum += red[j][threadIdx.x];
            atomicAdd(&dw[t * C + c], sum);
        }
        __syncthreads();
    }
}

template <typename T, int K>
static void dw_launch(void *out_or_din, float *dw, const void *a, const void *b, const float *w,
                      int N, int H, int W, int C, int s, int backward, cudaStream_t st) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    int pt = am_same_pad_before(H, K, s), pl = am_same_pad_before(W, K, s);
    if (!backward) {
        size_t n = (size_t)N * Ho * Wo * C;
        dw_fwd<T, K><<<grid_for(n, 256), 256, 0, st>>>((T *)out_or_din, (const T *)a, w, N, H, W, C, s, Ho, Wo, pt, pl);
        AM_LAUNCHED("dw_fwd", st);
        return;
    }
    // a = dout, b = in
    size_t n = (size_t)N * H * W * C;
    dw_bwd_data<T, K><<<grid_for(n, 256), 256, 0, st>>>((T *)out_or_din, (const T *)a, w, N, H, W, C, s, Ho, Wo, pt, pl);
    AM_LAUNCHED("dw_bwd_data", st);
    size_t P = (size_t)N * Ho * Wo;
    unsigned gx = (unsigned)((C + 31) / 32);
    size_t want = (P + 8 * 32 - 1) / (8 * 32);  // at least 32 pixels per thread
    size_t cap = 2048 / gx + 1;
    unsigned gy = (unsigned)(want < cap ? (want ? want : 1) : cap);
    dw_bwd_filter<T, K><<<dim3(gx, gy), dim3(32, 8), 0, st>>>(dw, (const T *)a, (const T *)b, N, H, W, C, s, Ho, Wo, pt, pl);
    AM_LAUNCHED("dw_bwd_filter", st);
}

static void dw_dispatch(void *o, float *dw, const void *a, const void *b, const float *w, int N, int H, int W,
                        int C, int k, int s, int backward, int dt, void *stream) {
    AM_CHECK(k == 3 || k == 5, "depthwise kernels are built for k = 3 and 5");
    AM_CHECK(s >= 1, "stride must be >= 1");
    if (k == 3) DISPATCH_DT(dt, dw_launch<T, 3>(o, dw, a, b, w, N, H, W, C, s, backward, STREAM(stream)));
    else DISPATCH_DT(dt, dw_launch<T, 5>(o, dw, a, b, w, N, H, W, C, s, backward, STREAM(stream)));
}

extern "C" void cu_dwconv_forward(void *out, const void *in, const float *w,
                                  int N, int H, int W, int C, int k, int s, int dt, void *stream) {
    dw_dispatch(out, NULL, in, NULL, w, N, H, W, C, k, s, 0, dt, stream);
}

extern "C" void cu_dwconv_backward(void *din, float *dw, const void *dout, const void *in, const float *w,
                                   int N, int H, int W, int C, int k, int s, int dt, void *stream) {
    dw_dispatch(din, dw, dout, in, w, N, H, W, C, k, s, 1, dt, stream);
}

// ---- eval forward with the batch norms folded in ----------------------------------
// A block computes an 8x8 tile of output pixels for 32 channels: the input
// window of the tile is read once into shared memory, each value through the
// previous layer's BN + act when `pre` is given (the zero padding stays zero:
// it pads the activated tensor); each sum goes through this layer's BN + act
// (`post`) before the store. The per-element maths is bn_apply's, so in fp32
// the result equals the unfused kernels' up to contraction; in bf16 the
// intermediate tensor is never rounded to bf16.
#define DWT 8  // output tile side

struct bn_eval {
    const float *mean, *rstd, *gamma, *beta;  // mean == NULL: none
    int act;
};

__device__ __forceinline__ float bn_eval_apply(const bn_eval &b, float v, int c) {
    return b.mean ? am_bn_act_fwd(b.act, v, b.mean[c], b.rstd[c], b.gamma[c], b.beta[c]) : v;
}

template <typename T, int K, int S>
__global__ void __launch_bounds__(256)
dw_tile_fwd(T *out, const T *in, const float *w, bn_eval pre, bn_eval post, int H, int W, int C,
            int Ho, int Wo, int pt, int pl, int tiles_x) {
    constexpr int IH = (DWT - 1) * S + K;
    __shared__ float tile[IH][IH][32];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int n = blockIdx.z, c0 = blockIdx.y * 32, c = c0 + tx;
    const int oy0 = (blockIdx.x / tiles_x) * DWT, ox0 = (blockIdx.x % tiles_x) * DWT;
    const int iy0 = oy0 * S - pt, ix0 = ox0 * S - pl;
    for (int q = ty; q < IH * IH; q += 8) {
        const int r = q / IH, col = q % IH, iy = iy0 + r, ix = ix0 + col;
        float v = 0.0f;
        if (c < C && iy >= 0 && iy < H && ix >= 0 && ix < W)
            v = bn_eval_apply(pre, ld(in, (((size_t)n * H + iy) * W + ix) * C + c), c);
        tile[r][col][tx] = v;
    }
    __syncthreads();
    const int oy = oy0 + ty;
    if (c >= C || oy >= Ho) return;
    float wk[K * K];
#pragma unroll
    for (int t = 0; t < K * K; t++) wk[t] = w[t * C + c];
#pragma unroll
    for (int j = 0; j < DWT; j++) {
        const int ox = ox0 + j;
        if (ox >= Wo) break;
        float acc = 0.0f;
#pragma unroll
        for (int ky = 0; ky < K; ky++)
#pragma unroll
            for (int kx = 0; kx < K; kx++) acc += tile[ty * S + ky][j * S + kx][tx] * wk[ky * K + kx];
        st(out, (((size_t)n * Ho + oy) * Wo + ox) * C + c, bn_eval_apply(post, acc, c));
    }
}

template <typename T, int K, int S>
static void dw_tile_launch(void *out, const void *in, const float *w, bn_eval pre, bn_eval post,
                           int N, int H, int W, int C, cudaStream_t st) {
    int Ho = am_same_out(H, S), Wo = am_same_out(W, S);
    int pt = am_same_pad_before(H, K, S), pl = am_same_pad_before(W, K, S);
    int tiles_x = (Wo + DWT - 1) / DWT, tiles_y = (Ho + DWT - 1) / DWT;
    dim3 grid((unsigned)(tiles_x * tiles_y), (unsigned)((C + 31) / 32), (unsigned)N);
    dw_tile_fwd<T, K, S><<<grid, dim3(32, 8), 0, st>>>((T *)out, (const T *)in, w, pre, post, H, W, C, Ho, Wo,
                                                        pt, pl, tiles_x);
    AM_LAUNCHED("dw_tile_fwd", st);
}

extern "C" void cu_dwconv_bn_act_forward(void *out, const void *in, const float *w,
                                         const float *pre_mean, const float *pre_rstd, const float *pre_gamma,
                                         const float *pre_beta, int pre_act,
                                         const float *post_mean, const float *post_rstd, const float *post_gamma,
                                         const float *post_beta, int post_act,
                                         int N, int H, int W, int C, int k, int s, int dt, void *stream) {
    AM_CHECK(k == 3 || k == 5, "depthwise kernels are built for k = 3 and 5");
    AM_CHECK(s == 1 || s == 2, "the tiled depthwise kernel is built for stride 1 and 2");
    AM_CHECK(N <= 65535, "batch too large for one launch (at most 65535 images)");
    bn_eval pre = {pre_mean, pre_rstd, pre_gamma, pre_beta, pre_act};
    bn_eval post = {post_mean, post_rstd, post_gamma, post_beta, post_act};
    cudaStream_t st = STREAM(stream);
    if (k == 3 && s == 1) DISPATCH_DT(dt, (dw_tile_launch<T, 3, 1>(out, in, w, pre, post, N, H, W, C, st)));
    else if (k == 3) DISPATCH_DT(dt, (dw_tile_launch<T, 3, 2>(out, in, w, pre, post, N, H, W, C, st)));
    else if (s == 1) DISPATCH_DT(dt, (dw_tile_launch<T, 5, 1>(out, in, w, pre, post, N, H, W, C, st)));
    else DISPATCH_DT(dt, (dw_tile_launch<T, 5, 2>(out, in, w, pre, post, N, H, W, C, st)));
}
