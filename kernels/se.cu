// Squeeze-excite pieces; CUDA twin of src/cpu/se.c with the per-element maths
// of kernels/se_math.h. The pool is cu_gap_forward; the two small FCs run one
// thread per output; the gate scale is a pass of its own.
// Gradient rule: weight/bias gradients accumulate (+=); din is assigned.
#include "common.cuh"
#include "act_math.h"
#include "se_math.h"

// out (N,K) = act_in(in) (N,C) . w (K,C)^T + b, then sigmoid if asked.
__global__ void fc_small_fwd(float *out, const float *in, const float *w, const float *b, int N, int C, int K,
                             int act_in, int sigmoid) {
    GRID_STRIDE(i, (size_t)N * K) {
        int j = (int)(i % K), n = (int)(i / K);
        float acc = b[j];
        for (int c = 0; c < C; c++) acc += am_act(act_in, in[(size_t)n * C + c]) * w[(size_t)j * C + c];
        out[i] = sigmoid ? am_sigmoid(acc) : acc;
    }
}

// din (N,C) = (dout . w) * act'(act_pre)
__global__ void fc_small_bwd_data(float *din, const float *dout, const float *w, const float *act_pre,
                                  int N, int C, int K, int act) {
    GRID_STRIDE(i, (size_t)N * C) {
        int c = (int)(i % C), n = (int)(i / C);
        float acc = 0.0f;
        for (int j = 0; j < K; j++) acc += dout[(size_t)n * K + j] * w[(size_t)j * C + c];
        din[i] = act_pre ? acc * am_act_grad(act, act_pre[i]) : acc;
    }
}

// dw (K,C) += dout^T . act_in(in); db (K) += sum_n dout (by the c == 0 threads).
__global__ void fc_small_bwd_w(float *dw, float *db, const float *dout, const float *in, int N, int C, int K,
                               int act_in) {
    GRID_STRIDE(i, (size_t)K * C) {
        int c = (int)(i % C), j = (int)(i / C);
        float acc = 0.0f, bacc = 0.0f;
        for (int n = 0; n < N; n++) {
            float g = dout[(size_t)n * K + j];
            acc += g * am_act(act_in, in[(size_t)n * C + c]);
            bacc += g;
        }
        dw[i] += acc;
        if (c == 0) db[j] += bacc;
    }
}

template <typename T>
__global__ void se_scale(T *out, const T *in, const float *gate, int HW, int C, size_t total) {
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t n = i / ((size_t)HW * C);
        st(out, i, ld(in, i) * gate[n * C + c]);
    }
}

// dz (N,C): block (32,8) per (32 channels, image), sums in double.
template <typename T>
__global__ void se_gate_bwd(float *dz, const T *dout, const T *in, const float *gate, int HW, int C) {
    __shared__ double red[8][33];
    int c = blockIdx.x * 32 + threadIdx.x, n = blockIdx.y;
    double acc = 0.0;
    if (c < C)
        for (int p = threadIdx.y; p < HW; p += 8) {
            size_t i = ((size_t)n * HW + p) * C + c;
            acc += (double)ld(dout, i) * ld(in, i);
        }
    red[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int j = 1; j < 8; j++) acc += red[j][threadIdx.x];
        dz[(size_t)n * C + c] = am_se_dz((float)acc, gate[(size_t)n * C + c]);
    }
}

template <typename T>
__global__ void se_in_bwd(T *din, const T *dout, const float *gate, const float *dpool, int HW, int C,
                          size_t total, float inv) {
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t j = i / ((size_t)HW * C) * C + c;
        st(din, i, am_se_din(ld(dout, i), gate[j], dpool[j], inv));
    }
}

extern "C" void cu_fc_small_forward(float *out, const float *in, const float *w, const float *b,
                                    int N, int C, int K, int act_in, int sigmoid, void *stream) {
    cudaStream_t s = STREAM(stream);
    fc_small_fwd<<<grid_for((size_t)N * K, 128), 128, 0, s>>>(out, in, w, b, N, C, K, act_in, sigmoid);
    AM_LAUNCHED("fc_small_fwd", s);
}

extern "C" void cu_fc_small_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                                     const float *w, const float *act_pre, int N, int C, int K, int act_in,
                                     void *stream) {
    cudaStream_t s = STREAM(stream);
    fc_small_bwd_w<<<grid_for((size_t)K * C, 128), 128, 0, s>>>(dw, db, dout, in, N, C, K, act_in);
    AM_LAUNCHED("fc_small_bwd_w", s);
    if (!din) return;
    fc_small_bwd_data<<<grid_for((size_t)N * C, 128), 128, 0, s>>>(din, dout, w, act_pre, N, C, K, act_in);
    AM_LAUNCHED("fc_small_bwd_data", s);
}

extern "C" void cu_se_scale_forward(void *out, const void *in, const float *gate, int N, int HW, int C,
                                    int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    size_t n = (size_t)N * HW * C;
    DISPATCH_DT(dt, se_scale<T><<<grid_for(n, 256), 256, 0, s>>>((T *)out, (const T *)in, gate, HW, C, n));
    AM_LAUNCHED("se_scale", s);
}

extern "C" void cu_se_gate_backward(float *dz, const void *dout, const void *in, const float *gate,
                                    int N, int HW, int C, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    dim3 grid((unsigned)((C + 31) / 32), (unsigned)N);
    DISPATCH_DT(dt, se_gate_bwd<T><<<grid, dim3(32, 8), 0, s>>>(dz, (const T *)dout, (const T *)in, gate, HW, C));
    AM_LAUNCHED("se_gate_bwd", s);
}

extern "C" void cu_se_input_backward(void *din, const void *dout, const float *gate, const float *dpool,
                                     int N, int HW, int C, int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    size_t n = (size_t)N * HW * C;
    DISPATCH_DT(dt, se_in_bwd<T><<<grid_for(n, 256), 256, 0, s>>>((T *)din, (const T *)dout, gate, dpool, HW, C, n, 1.0f / HW));
    AM_LAUNCHED("se_in_bwd", s);
}

// wn (N,K,C) = w (K,C) * gate (N,C): the projection's weights per image with
// the squeeze-excite scale folded in, so that the scaled activation is never
// written (eval forward, am_gpu_gemm_per_sample).
template <typename T>
__global__ void se_gate_weights(T *wn, const float *w, const float *gate, int K, int C, size_t total) {
    GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        size_t n = i / ((size_t)K * C);
        st(wn, i, w[i % ((size_t)K * C)] * gate[n * C + c]);
    }
}

extern "C" void cu_se_gate_weights(void *wn, const float *w, const float *gate, int N, int K, int C, int dt,
                                   void *stream) {
    cudaStream_t s = STREAM(stream);
    size_t n = (size_t)N * K * C;
    DISPATCH_DT(dt, se_gate_weights<T><<<grid_for(n, 256), 256, 0, s>>>((T *)wn, w, gate, K, C, n));
    AM_LAUNCHED("se_gate_weights", s);
}
