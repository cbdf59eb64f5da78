// Squeeze-excite and global average pooling.
// Gradient rule: weight/bias gradients accumulate (+=); din is assigned
// (din may alias dout in se_backward).
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/ops.h"
#include "../../kernels/act_math.h"
#include "../../kernels/se_math.h"

void gap_forward(float *out, const float *in, int N, int HW, int C) {
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        double *acc = AM_CALLOC(sizeof(double) * C);
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) acc[c] += in[((size_t)n * HW + p) * C + c];
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = (float)(acc[c] / HW);
        free(acc);
    }
}

void gap_backward(float *din, const float *dout, int N, int HW, int C) {
    float inv = 1.0f / HW;
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++)
                din[((size_t)n * HW + p) * C + c] = dout[(size_t)n * C + c] * inv;
}

void se_forward(float *out, float *pooled, float *hid, float *gate, const float *in,
                const float *w1, const float *b1, const float *w2, const float *b2,
                int N, int HW, int C, int S) {
    float *h = AM_MALLOC(sizeof(float) * N * S);
    gap_forward(pooled, in, N, HW, C);
    fc_forward(hid, pooled, w1, b1, N, C, S);
    act_forward(h, hid, N * S, AM_ACT_SWISH);
    fc_forward(gate, h, w2, b2, N, S, C);
    for (int i = 0; i < N * C; i++) gate[i] = am_sigmoid(gate[i]);
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)n * HW + p) * C + c;
                out[i] = in[i] * gate[(size_t)n * C + c];
            }
    free(h);
}

void se_backward(float *din, float *dw1, float *db1, float *dw2, float *db2,
                 const float *dout, const float *in, const float *pooled,
                 const float *hid, const float *gate, const float *w1, const float *w2,
                 int N, int HW, int C, int S) {
    float *dz = AM_MALLOC(sizeof(float) * N * C), *dpool = AM_MALLOC(sizeof(float) * N * C);
    float *h = AM_MALLOC(sizeof(float) * N * S), *dh = AM_MALLOC(sizeof(float) * N * S);
    #pragma omp parallel for
    for (int n = 0; n < N; n++) {
        double *acc = AM_CALLOC(sizeof(double) * C);
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)n * HW + p) * C + c;
                acc[c] += (double)dout[i] * in[i];
            }
        for (int c = 0; c < C; c++) {
            dz[(size_t)n * C + c] = am_se_dz((float)acc[c], gate[(size_t)n * C + c]);
        }
        free(acc);
    }
    act_forward(h, hid, N * S, AM_ACT_SWISH);
    fc_backward(dh, dw2, db2, dz, h, w2, N, S, C);
    act_backward(dh, dh, hid, N * S, AM_ACT_SWISH);
    fc_backward(dpool, dw1, db1, dh, pooled, w1, N, C, S);
    float inv = 1.0f / HW;
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)n * HW + p) * C + c, j = (size_t)n * C + c;
                din[i] = am_se_din(dout[i], gate[j], dpool[j], inv);
            }
    free(dz);
    free(dpool);
    free(h);
    free(dh);
}
