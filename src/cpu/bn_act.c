// Batch norm fused with an activation, and the plain activations.
// Gradient rule: dgamma/dbeta accumulate (+=); dx is assigned (dx may alias dout).
// Per-channel sums run in double over fixed chunks of rows (row_chunks: from
// M alone), each chunk summed in row order, the chunks' sums added in chunk
// order: the same bits for any thread count.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/ops.h"
#include "../../kernels/act_math.h"
#include "../../kernels/bn_math.h"

#define CHUNKS 24      // even over 1, 2, 3, 4, 6, 8, 12 threads
#define CHUNK_ROWS 32  // rows per chunk at least

// Chunk j of nch covers rows [M j / nch, M (j + 1) / nch).
static int row_chunks(int M) {
    int n = M / CHUNK_ROWS;
    return n < 1 ? 1 : n > CHUNKS ? CHUNKS : n;
}

static int chunk_start(int M, int j, int nch) { return (int)((long)M * j / nch); }

// s[c] = the chunks' sums part[j][c] added in chunk order j; part (nch, C).
static void sum_chunks(double *s, const double *part, int nch, int C) {
    for (int c = 0; c < C; c++) s[c] = 0.0;
    for (int j = 0; j < nch; j++)
        for (int c = 0; c < C; c++) s[c] += part[(size_t)j * C + c];
}

void bn_act_forward(float *out, float *mean, float *rstd, const float *x,
                    const float *gamma, const float *beta, float *run_mean, float *run_var,
                    int M, int C, int act, int train, float momentum, float eps) {
    if (train) {
        int nch = row_chunks(M);
        double *part = AM_MALLOC(sizeof(double) * nch * C);
        double *s1 = AM_MALLOC(sizeof(double) * C), *s2 = AM_MALLOC(sizeof(double) * C);
        double *avg = AM_MALLOC(sizeof(double) * C);
        #pragma omp parallel
        {
            #pragma omp for schedule(static)
            for (int j = 0; j < nch; j++) {
                double *p = part + (size_t)j * C;
                int m1 = chunk_start(M, j + 1, nch);
                memset(p, 0, sizeof(double) * C);
                for (int m = chunk_start(M, j, nch); m < m1; m++)
                    for (int c = 0; c < C; c++) p[c] += x[(size_t)m * C + c];
            }
            #pragma omp single
            {
                sum_chunks(s1, part, nch, C);
                for (int c = 0; c < C; c++) avg[c] = s1[c] / M;
            }
            #pragma omp for schedule(static)
            for (int j = 0; j < nch; j++) {
                double *p = part + (size_t)j * C;
                int m1 = chunk_start(M, j + 1, nch);
                memset(p, 0, sizeof(double) * C);
                for (int m = chunk_start(M, j, nch); m < m1; m++)
                    for (int c = 0; c < C; c++) {
                        double d = x[(size_t)m * C + c] - avg[c];
                        p[c] += d * d;
                    }
            }
        }
        sum_chunks(s2, part, nch, C);
        free(part);
        free(avg);
        for (int c = 0; c < C; c++) {
            double mu = s1[c] / M, var = s2[c] / M;
            mean[c] = (float)mu;
            rstd[c] = am_bn_rstd(var, eps);
            double unbiased = M > 1 ? s2[c] / (M - 1) : var;
            run_mean[c] = am_bn_running(run_mean[c], mu, momentum);
            run_var[c] = am_bn_running(run_var[c], unbiased, momentum);
        }
        free(s1);
        free(s2);
    } else {
        for (int c = 0; c < C; c++) {
            mean[c] = run_mean[c];
            rstd[c] = am_bn_rstd(run_var[c], eps);
        }
    }
    #pragma omp parallel for
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)m * C + c;
            out[i] = am_bn_act_fwd(act, x[i], mean[c], rstd[c], gamma[c], beta[c]);
        }
}

// One row of the backward for activation `act`, a constant at each call (the
// per-row switches below) so that every loop specialises and vectorises; an
// OpenMP region is outlined into a function of its own, where a variable act
// would branch per element. Pass 0: the row's xh and dy; pass 1: dx (o may
// alias d; the per-channel arrays alias nothing).
static inline __attribute__((always_inline)) void bwd_row(
    int pass, int act, float *o, const float *d, const float *restrict xr, const float *restrict mean,
    const float *restrict rstd, const float *restrict gamma, const float *restrict beta, const float *restrict a,
    const float *restrict b, float *restrict dyr, float *restrict xhr, int C) {
    if (pass == 0) {
        for (int c = 0; c < C; c++) {
            xhr[c] = am_bn_xhat(xr[c], mean[c], rstd[c]);
            dyr[c] = am_bn_act_dy(act, d[c], xhr[c], gamma[c], beta[c]);
        }
        return;
    }
    for (int c = 0; c < C; c++) {
        float xh = am_bn_xhat(xr[c], mean[c], rstd[c]);
        float dy = am_bn_act_dy(act, d[c], xh, gamma[c], beta[c]);
        o[c] = am_bn_dx(dy, xh, gamma[c], rstd[c], a[c], b[c]);
    }
}

#define BWD_ROW(pass, act, o, d, xr, dyr, xhr)                                                                  \
    do {                                                                                                        \
        if ((act) == AM_ACT_RELU6) bwd_row(pass, AM_ACT_RELU6, o, d, xr, mean, rstd, gamma, beta, a, b, dyr, xhr, C); \
        else if ((act) == AM_ACT_SWISH) bwd_row(pass, AM_ACT_SWISH, o, d, xr, mean, rstd, gamma, beta, a, b, dyr, xhr, C); \
        else bwd_row(pass, AM_ACT_NONE, o, d, xr, mean, rstd, gamma, beta, a, b, dyr, xhr, C);                \
    } while (0)

void bn_act_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                     const float *x, const float *mean, const float *rstd,
                     const float *gamma, const float *beta, int M, int C, int act) {
    int nch = row_chunks(M);
    double *part = AM_MALLOC(sizeof(double) * 2 * nch * C);  // (2, nch, C): sums of dy, of dy xh
    double *sdy = AM_MALLOC(sizeof(double) * C), *sdyx = AM_MALLOC(sizeof(double) * C);
    float *a = AM_CALLOC(sizeof(float) * C), *b = AM_CALLOC(sizeof(float) * C);
    #pragma omp parallel
    {
        // A row's dy and xh first, then the sums: loops that vectorise.
        float *restrict dyr = AM_MALLOC(sizeof(float) * 2 * C), *restrict xhr = dyr + C;
        #pragma omp for schedule(static)
        for (int j = 0; j < nch; j++) {
            double *restrict p1 = part + (size_t)j * C, *restrict p2 = part + (size_t)(nch + j) * C;
            int m1 = chunk_start(M, j + 1, nch);
            memset(p1, 0, sizeof(double) * C);
            memset(p2, 0, sizeof(double) * C);
            for (int m = chunk_start(M, j, nch); m < m1; m++) {
                BWD_ROW(0, act, NULL, dout + (size_t)m * C, x + (size_t)m * C, dyr, xhr);
                for (int c = 0; c < C; c++) {
                    p1[c] += dyr[c];
                    p2[c] += (double)dyr[c] * xhr[c];
                }
            }
        }
        free(dyr);
    }
    sum_chunks(sdy, part, nch, C);
    sum_chunks(sdyx, part + (size_t)nch * C, nch, C);
    free(part);
    for (int c = 0; c < C; c++) {
        dbeta[c] += (float)sdy[c];
        dgamma[c] += (float)sdyx[c];
        a[c] = (float)(sdy[c] / M);
        b[c] = (float)(sdyx[c] / M);
    }
    #pragma omp parallel for
    for (int m = 0; m < M; m++)
        BWD_ROW(1, act, dx + (size_t)m * C, dout + (size_t)m * C, x + (size_t)m * C, NULL, NULL);
    free(a);
    free(b);
    free(sdy);
    free(sdyx);
}

void act_forward(float *out, const float *in, int n, int act) {
    #pragma omp parallel for
    for (int i = 0; i < n; i++) out[i] = am_act(act, in[i]);
}

void act_backward(float *din, const float *dout, const float *in, int n, int act) {
    #pragma omp parallel for
    for (int i = 0; i < n; i++) din[i] = dout[i] * am_act_grad(act, in[i]);
}
