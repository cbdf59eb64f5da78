// Depthwise convolution, NHWC, TF-SAME, weights (k,k,C).
// Gradient rule: dw accumulates (+=); din is assigned.
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/ops.h"
#include "chunks.h"
#include "../../kernels/conv_math.h"

#define CHUNKS 24         // chunks of the filter gradient's sum at most: even over 1, 2, 3, 4, 6, 8, 12 threads
#define CHUNK_PIXELS 64   // output pixels per chunk at least (a chunk's partial costs about one pixel's work)

void dwconv_forward(float *out, const float *in, const float *w,
                    int N, int H, int W, int C, int k, int s) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    int pt = am_same_pad_before(H, k, s), pl = am_same_pad_before(W, k, s);
    #pragma omp parallel for collapse(2)
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float *o = out + (((size_t)n * Ho + oy) * Wo + ox) * C;
                memset(o, 0, sizeof(float) * C);
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s - pt + ky;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s - pl + kx;
                        if (ix < 0 || ix >= W) continue;
                        const float *p = in + (((size_t)n * H + iy) * W + ix) * C;
                        const float *wk = w + (ky * k + kx) * C;
                        for (int c = 0; c < C; c++) o[c] += p[c] * wk[c];
                    }
                }
            }
}

void dwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, int N, int H, int W, int C, int k, int s) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    int pt = am_same_pad_before(H, k, s), pl = am_same_pad_before(W, k, s);
    // din by gathering, for each input pixel, the outputs whose window holds it.
    #pragma omp parallel for collapse(2)
    for (int n = 0; n < N; n++)
        for (int iy = 0; iy < H; iy++)
            for (int ix = 0; ix < W; ix++) {
                float *d = din + (((size_t)n * H + iy) * W + ix) * C;
                memset(d, 0, sizeof(float) * C);
                for (int ky = 0; ky < k; ky++) {
                    int ty = iy + pt - ky;
                    if (ty < 0 || ty % s || ty / s >= Ho) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int tx = ix + pl - kx;
                        if (tx < 0 || tx % s || tx / s >= Wo) continue;
                        const float *g = dout + (((size_t)n * Ho + ty / s) * Wo + tx / s) * C;
                        const float *wk = w + (ky * k + kx) * C;
                        for (int c = 0; c < C; c++) d[c] += g[c] * wk[c];
                    }
                }
            }
    // dw: the N*Ho output rows in fixed chunks (from the shape alone), each
    // chunk summed in float in row order, the chunks added in chunk order in
    // double: the same bits for any thread count.
    int rows = N * Ho, nch = rows * Wo / CHUNK_PIXELS;
    nch = nch > CHUNKS ? CHUNKS : nch > rows ? rows : nch < 1 ? 1 : nch;
    size_t kkc = (size_t)k * k * C;
    float *part = AM_CALLOC(sizeof(float) * nch * kkc);
    #pragma omp parallel
    {
        #pragma omp for schedule(static)
        for (int j = 0; j < nch; j++) {
            float *acc = part + j * kkc;
            int r1 = (int)((long)rows * (j + 1) / nch);
            for (int r = (int)((long)rows * j / nch); r < r1; r++) {
                int n = r / Ho, oy = r % Ho;
                for (int ox = 0; ox < Wo; ox++) {
                    const float *g = dout + (((size_t)n * Ho + oy) * Wo + ox) * C;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * s - pt + ky;
                        if (iy < 0 || iy >= H) continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * s - pl + kx;
                            if (ix < 0 || ix >= W) continue;
                            const float *p = in + (((size_t)n * H + iy) * W + ix) * C;
                            float *a = acc + (ky * k + kx) * C;
                            for (int c = 0; c < C; c++) a[c] += g[c] * p[c];
                        }
                    }
                }
            }
        }
        #pragma omp for schedule(static)
        for (size_t i = 0; i < kkc; i += AM_ADD_SLICE) am_add_chunks(dw, part, nch, kkc, i);
    }
    free(part);
}
