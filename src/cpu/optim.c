// SGD (Nesterov), AdamW and EMA over the flat parameter buffer; CPU twin of
// the fused CUDA update. One element at a time through kernels/optim_math.h.
#include <math.h>

#include "am/ops.h"
#include "../../kernels/optim_math.h"

void sgd_update(float *theta, float *v, const float *g, const uint8_t *decay, size_t n,
                float lr, float mom, float wd, int nesterov) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) am_sgd_update(&theta[i], &v[i], g[i], lr, mom, decay[i] ? wd : 0.0f, nesterov);
}

void adamw_update(float *theta, float *m, float *s, const float *g, const uint8_t *decay, size_t n,
                  float lr, float b1, float b2, float eps, float wd, long step) {
    float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++)
        am_adamw_update(&theta[i], &m[i], &s[i], g[i], lr, b1, b2, eps, decay[i] ? wd : 0.0f, c1, c2);
}

void ema_update(float *ema, const float *theta, size_t n, float decay) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) ema[i] = am_ema_update(ema[i], theta[i], decay);
}
