// Dense (stem), pointwise and fully connected layers on OpenBLAS sgemm.
// Gradient rule: dw/db accumulate (+=); din is assigned.
#include <cblas.h>
#include <string.h>

#include "am/ops.h"
#include "../../kernels/conv_math.h"

// col (N*Ho*Wo, k*k*C): row = output pixel, column = (ky, kx, c).
static void im2col(float *col, const float *in, int N, int H, int W, int C, int k, int s) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    int pt = am_same_pad_before(H, k, s), pl = am_same_pad_before(W, k, s);
    #pragma omp parallel for collapse(2)
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float *row = col + ((size_t)(n * Ho + oy) * Wo + ox) * k * k * C;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s - pt + ky;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s - pl + kx;
                        float *dst = row + (ky * k + kx) * C;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) memset(dst, 0, sizeof(float) * C);
                        else memcpy(dst, in + (((size_t)n * H + iy) * W + ix) * C, sizeof(float) * C);
                    }
                }
            }
}

// din (assigned) = sum of the col entries that read each input pixel.
static void col2im(float *din, const float *dcol, int N, int H, int W, int C, int k, int s) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    int pt = am_same_pad_before(H, k, s), pl = am_same_pad_before(W, k, s);
    memset(din, 0, sizeof(float) * N * H * W * C);
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                const float *row = dcol + ((size_t)(n * Ho + oy) * Wo + ox) * k * k * C;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s - pt + ky;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s - pl + kx;
                        if (ix < 0 || ix >= W) continue;
                        float *dst = din + (((size_t)n * H + iy) * W + ix) * C;
                        const float *src = row + (ky * k + kx) * C;
                        for (int c = 0; c < C; c++) dst[c] += src[c];
                    }
                }
            }
}

void conv2d_forward(float *out, float *col, const float *in, const float *w,
                    int N, int H, int W, int C, int K, int k, int s) {
    int M = N * am_same_out(H, s) * am_same_out(W, s), KK = k * k * C;
    im2col(col, in, N, H, W, C, k, s);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, KK, 1.0f, col, KK, w, KK, 0.0f, out, K);
}

void conv2d_backward(float *din, float *dw, float *dcol, const float *dout,
                     const float *col, const float *w,
                     int N, int H, int W, int C, int K, int k, int s) {
    int M = N * am_same_out(H, s) * am_same_out(W, s), KK = k * k * C;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, KK, M, 1.0f, dout, K, col, KK, 1.0f, dw, KK);
    if (!din) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, KK, K, 1.0f, dout, K, w, KK, 0.0f, dcol, KK);
    col2im(din, dcol, N, H, W, C, k, s);
}

void pwconv_forward(float *out, const float *in, const float *w, int M, int C, int K) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, C, 1.0f, in, C, w, C, 0.0f, out, K);
}

void pwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, int M, int C, int K) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, C, M, 1.0f, dout, K, in, C, 1.0f, dw, C);
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, C, K, 1.0f, dout, K, w, C, 0.0f, din, C);
}

void fc_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int K) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * K, b, sizeof(float) * K);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, K, C, 1.0f, in, C, w, C, 1.0f, out, K);
}

void fc_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                 const float *w, int N, int C, int K) {
    for (int n = 0; n < N; n++)
        for (int j = 0; j < K; j++) db[j] += dout[(size_t)n * K + j];
    pwconv_backward(din, dw, dout, in, w, N, C, K);
}
