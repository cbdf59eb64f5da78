// FixMatch loss, CPU twin of kernels/fixmatch.cu. The gradient is assigned.
#include <string.h>

#include "am/error.h"
#include "am/ops.h"
#include "../../kernels/fixmatch_math.h"
#include "../../kernels/softmax_math.h"

am_fixmatch_stats fixmatch_forward_backward(float *dlogits, const float *logits, const int *labels,
                                            int B, int U, int K, float tau, float lambda_u, float T) {
    AM_CHECK(K <= AM_FIXMATCH_MAX_K, "FixMatch supports at most AM_FIXMATCH_MAX_K classes");
    am_fixmatch_stats st = {0};
    double lx = 0.0, lu = 0.0, masked = 0.0;
    for (int i = 0; i < B; i++) {
        float *d = dlogits + (size_t)i * K;
        lx += am_softmax_ce_row(d, logits + (size_t)i * K, K, labels[i]);
        for (int k = 0; k < K; k++) d[k] = (d[k] - (k == labels[i] ? 1.0f : 0.0f)) / B;
    }
    memset(dlogits + (size_t)B * K, 0, sizeof(float) * U * K);
    float scale = U ? lambda_u / U : 0.0f;
    for (int i = 0; i < U; i++) {
        float m;
        const float *zw = logits + (size_t)(B + i) * K, *zs = logits + (size_t)(B + U + i) * K;
        lu += am_fixmatch_row(dlogits + (size_t)(B + U + i) * K, &m, zw, zs, K, tau, T, scale);
        masked += m;
    }
    st.loss_x = B ? (float)(lx / B) : 0.0f;
    st.loss_u = U ? (float)(lu / U) : 0.0f;
    st.mask_rate = U ? (float)(masked / U) : 0.0f;
    st.loss = st.loss_x + lambda_u * st.loss_u;
    return st;
}
