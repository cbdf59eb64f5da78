// Sums over fixed chunks, shared by the CPU ops whose reductions are cut into
// partials by shape, never by thread count (conv.c, depthwise.c): the
// partials are added in chunk order, so any thread count gives the same bits.
#pragma once
#include <stddef.h>

// dw[i] += the chunks' partials part[j][i] added in chunk order j, in double,
// for i in [i0, i0 + AM_ADD_SLICE) within n: a slice at a time, so that the
// loops over i vectorise. part (nch, n).
#define AM_ADD_SLICE 256
static inline void am_add_chunks(float *dw, const float *part, int nch, size_t n, size_t i0) {
    double t[AM_ADD_SLICE];
    int m = n - i0 < AM_ADD_SLICE ? (int)(n - i0) : AM_ADD_SLICE;
    for (int i = 0; i < m; i++) t[i] = dw[i0 + i];
    for (int j = 0; j < nch; j++)
        for (int i = 0; i < m; i++) t[i] += part[j * n + i0 + i];
    for (int i = 0; i < m; i++) dw[i0 + i] = (float)t[i];
}
