// Dropout and drop-connect, drawn from the Philox stream so that the masks are
// the same on every device and thread count.
// Gradient rule: input gradients are assigned.
#include <math.h>
#include <stddef.h>

#include "am/ops.h"
#include "am/philox.h"
#include "../../kernels/dropout_math.h"

void dropout_forward(float *out, float *mask, const float *in, int n, float p,
                     uint64_t seed, uint32_t stream, uint64_t step) {
    #pragma omp parallel for
    for (int i = 0; i < n; i++) {
        mask[i] = am_dropout_mask(am_rand_u01(seed, stream, step, (uint32_t)i), p);
        out[i] = in[i] * mask[i];
    }
}

void dropout_backward(float *din, const float *dout, const float *mask, int n) {
    for (int i = 0; i < n; i++) din[i] = dout[i] * mask[i];
}

void drop_connect_add_forward(float *out, float *scale, const float *branch, const float *skip,
                              int N, int per, float rate, uint64_t seed, uint32_t stream,
                              uint64_t step) {
    for (int n = 0; n < N; n++) scale[n] = am_drop_connect_scale(am_rand_u01(seed, stream, step, (uint32_t)n), rate);
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int i = 0; i < per; i++) {
            size_t j = (size_t)n * per + i;
            out[j] = branch[j] * scale[n] + skip[j];
        }
}

void drop_connect_add_backward(float *dbranch, float *dskip, const float *dout,
                               const float *scale, int N, int per) {
    #pragma omp parallel for
    for (int n = 0; n < N; n++)
        for (int i = 0; i < per; i++) {
            size_t j = (size_t)n * per + i;
            float g = dout[j];
            dskip[j] = g;
            dbranch[j] = g * scale[n];
        }
}
