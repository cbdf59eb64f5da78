// The FC layer on cuBLAS, float32 with pedantic math (no TF32). Row-major
// (N,K) is column-major (K,N), so out^T = w . in^T is one GEMM:
//   out (N,K) = in (N,C) . w (K,C)^T + b: gemm(T, N, K, N, C) with out = b first
//   din (N,C) = dout (N,K) . w (K,C):      gemm(N, N, C, N, K)
//   dw (K,C) += dout^T (K,N) . in (N,C):   gemm(N, T, C, K, N), beta 1
//   out_n (HW,K) = a_n (HW,C) . wn_n (K,C)^T for every image n: one strided
//   batched gemm(T, N, K, HW, C), operands of type dt, sums in float
// Gradient rule: dw/db accumulate (+=); din is assigned.
#include "am/error.h"
#include "am/gpu.h"

#ifdef AM_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

// A GEMM's status: fatal on failure, except in a graph capture invalidated
// by an earlier call (am_gpu_capture_end reports it).
static void ran(am_gpu_ctx *c, cublasStatus_t st, const char *call, int line) {
    if (st != CUBLAS_STATUS_SUCCESS && !am_gpu_capture_invalidated(c->stream))
        am_fatal(__FILE__, line, call, am_cublas_errstr((int)st));
}

void am_gpu_fc_forward(am_gpu_ctx *c, float *out, const float *in, const float *w, const float *b,
                       int N, int C, int K) {
    const float one = 1.0f;
    cu_bias_broadcast(out, b, N, K, c->stream);
    ran(c, cublasSgemm((cublasHandle_t)c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, K, N, C, &one, w, C, in, C, &one, out, K),
        "cublasSgemm (FC forward)", __LINE__);
}

void am_gpu_fc_backward(am_gpu_ctx *c, float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int N, int C, int K) {
    const float one = 1.0f, zero = 0.0f;
    cublasHandle_t h = (cublasHandle_t)c->cublas;
    cu_bias_backward(db, dout, N, K, c->stream);
    ran(c, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, C, K, N, &one, in, C, dout, K, &one, dw, C),
        "cublasSgemm (FC filter gradient)", __LINE__);
    if (din)
        ran(c, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, C, N, K, &one, w, C, dout, K, &zero, din, C),
            "cublasSgemm (FC input gradient)", __LINE__);
}

void am_gpu_gemm_per_sample(am_gpu_ctx *c, void *out, const void *a, const void *wn, int N, int HW, int C, int K,
                            int dt) {
    const float one = 1.0f, zero = 0.0f;
    cudaDataType_t t = dt == AM_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    ran(c, cublasGemmStridedBatchedEx((cublasHandle_t)c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, K, HW, C, &one,
                                      wn, t, C, (long long)K * C, a, t, C, (long long)HW * C, &zero,
                                      out, t, K, (long long)HW * K, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmStridedBatchedEx (per-image projection)", __LINE__);
}
#endif
