// Dense (stem), pointwise and fully connected layers on OpenBLAS sgemm.
// Gradient rule: dw/db accumulate (+=); din is assigned.
//
// The same bits for any thread count. OpenBLAS cuts a reduction into blocks
// of GEMM_Q (448 on SkylakeX) and, when the rest is between one and two
// blocks, halves it one way on one thread and another on several: a call
// whose reduction is longer than GEMM_Q gives other bits on 1 thread than on
// 2, 3 or 4 (measured); one no longer, the same bits on any (its threads
// split the output, each element is summed by one). So every product is cut
// here by its shape alone, and no call of ours gets a reduction longer than
// KCHUNK unless it runs on one thread (inside our parallel region OpenBLAS
// runs single-threaded):
// - gemm: many rows (pixels): the rows in fixed blocks, one call each; few:
//   the reduction in calls of at most KCHUNK, added in order (beta 1 after
//   the first), each threaded by OpenBLAS over the output;
// - gemm_wgrad (a filter gradient, the reduction over the pixels): many
//   pixels: the pixels in fixed chunks, one call or KCHUNK-long calls each,
//   the chunks' partials added in chunk order; few: KCHUNK-long calls.
// On the network's tall, thin products both run faster than OpenBLAS's own
// threads.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/ops.h"
#include "chunks.h"
#include "../../kernels/conv_math.h"

// Reduction per threaded sgemm call at most: GEMM_Q is at least 256 on the
// x86-64 cores since Sandy Bridge and Zen (OpenBLAS's param.h), 448 here.
#define KCHUNK 256
#define ROWS_MIN 256         // rows per block of gemm at least (each block packs the weights anew)
#define ROWS_MAX 1024
#define ROW_BLOCKS 8         // blocks wanted per gemm, rows allowing
#define CHUNKS 24            // pixel chunks of a filter gradient at most: even over 1, 2, 3, 4, 6, 8, 12 threads
#define CHUNKS_MIN 4         // fewer: gemm
#define PARTIAL_FLOATS (1 << 22)  // a filter gradient's chunk partials at most
#define SMALL_OUT (1 << 15)  // filter gradients of fewer elements: KCHUNK-long calls in a chunk (faster)

// C (M,N) = A (M,K) . op(B) + beta C, row-major; op(B) = B^T with B (N,K)
// when tb is CblasTrans, else B (K,N). The rows of C in fixed blocks of
// ROWS_MIN..ROWS_MAX when there are ROW_BLOCKS of ROWS_MIN, else the
// reduction in calls of at most KCHUNK.
static void gemm(CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    if (M >= ROW_BLOCKS * ROWS_MIN) {
        int rows = (M / ROW_BLOCKS + 15) & ~15;
        rows = rows > ROWS_MAX ? ROWS_MAX : rows;
        int nb = (M + rows - 1) / rows;
        #pragma omp parallel for schedule(static)
        for (int b = 0; b < nb; b++) {
            int r0 = b * rows, m = M - r0 < rows ? M - r0 : rows;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, N, K, 1.0f, A + (size_t)r0 * lda, lda, B, ldb, beta,
                        C + (size_t)r0 * ldc, ldc);
        }
        return;
    }
    int k0 = 0;
    do {
        int kc = K - k0 < KCHUNK ? K - k0 : KCHUNK;
        const float *b = B + (tb == CblasNoTrans ? (size_t)k0 * ldb : (size_t)k0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, M, N, kc, 1.0f, A + k0, lda, b, ldb, k0 ? 1.0f : beta, C, ldc);
        k0 += KCHUNK;
    } while (k0 < K);
}

// dw (K,C) += dout (P,K)^T . in (P,C), a filter gradient: the P pixels in
// nch chunks of KCHUNK at least (fewer when the partials would pass
// PARTIAL_FLOATS); under CHUNKS_MIN chunks, KCHUNK pixels a call in
// OpenBLAS's threads.
static void gemm_wgrad(float *dw, const float *dout, const float *in, int P, int K, int C) {
    size_t KC = (size_t)K * C;
    long nch = P / KCHUNK, cap = PARTIAL_FLOATS / (KC ? KC : 1);
    nch = nch < cap ? nch : cap;
    nch = nch < CHUNKS ? nch : CHUNKS;
    if (nch < CHUNKS_MIN) {
        for (int p0 = 0; p0 < P; p0 += KCHUNK) {
            int pc = P - p0 < KCHUNK ? P - p0 : KCHUNK;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, C, pc, 1.0f, dout + (size_t)p0 * K, K,
                        in + (size_t)p0 * C, C, 1.0f, dw, C);
        }
        return;
    }
    int step = KC < SMALL_OUT ? KCHUNK : P;
    float *part = AM_MALLOC(sizeof(float) * nch * KC);
    #pragma omp parallel
    {
        #pragma omp for schedule(static)
        for (int j = 0; j < nch; j++) {
            int p0 = (int)((long)P * j / nch), p1 = (int)((long)P * (j + 1) / nch);
            for (int q = p0; q < p1; q += step) {
                int pc = p1 - q < step ? p1 - q : step;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, C, pc, 1.0f, dout + (size_t)q * K, K,
                            in + (size_t)q * C, C, q > p0 ? 1.0f : 0.0f, part + j * KC, C);
            }
        }
        #pragma omp for schedule(static)
        for (size_t i = 0; i < KC; i += AM_ADD_SLICE) am_add_chunks(dw, part, (int)nch, KC, i);
    }
    free(part);
}

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
    gemm(CblasTrans, M, K, KK, col, KK, w, KK, 0.0f, out, K);
}

void conv2d_backward(float *din, float *dw, float *dcol, const float *dout,
                     const float *col, const float *w,
                     int N, int H, int W, int C, int K, int k, int s) {
    int M = N * am_same_out(H, s) * am_same_out(W, s), KK = k * k * C;
    gemm_wgrad(dw, dout, col, M, K, KK);
    if (!din) return;
    gemm(CblasNoTrans, M, KK, K, dout, K, w, KK, 0.0f, dcol, KK);
    col2im(din, dcol, N, H, W, C, k, s);
}

void pwconv_forward(float *out, const float *in, const float *w, int M, int C, int K) {
    gemm(CblasTrans, M, K, C, in, C, w, C, 0.0f, out, K);
}

void pwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, int M, int C, int K) {
    gemm_wgrad(dw, dout, in, M, K, C);
    if (din) gemm(CblasNoTrans, M, C, K, dout, K, w, C, 0.0f, din, C);
}

void fc_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int K) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * K, b, sizeof(float) * K);
    gemm(CblasTrans, N, K, C, in, C, w, C, 1.0f, out, K);
}

void fc_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                 const float *w, int N, int C, int K) {
    for (int n = 0; n < N; n++)
        for (int j = 0; j < K; j++) db[j] += dout[(size_t)n * K + j];
    pwconv_backward(din, dw, dout, in, w, N, C, K);
}
