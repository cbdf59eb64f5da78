// SGD (Nesterov), AdamW and EMA fused over the flat parameter buffer; CUDA
// twins of src/cpu/optim.c, element maths from kernels/optim_math.h.
#include <math.h>

#include "common.cuh"
#include "optim_math.h"

__global__ void sgd_kernel(float *theta, float *v, const float *g, const uint8_t *decay, size_t n,
                           float lr, float mom, float wd, int nesterov, const am_step_args *args) {
    if (args) lr = args->lr;
    GRID_STRIDE(i, n) am_sgd_update(&theta[i], &v[i], g[i], lr, mom, decay[i] ? wd : 0.0f, nesterov);
}

__global__ void adamw_kernel(float *theta, float *m, float *s, const float *g, const uint8_t *decay, size_t n,
                             float lr, float b1, float b2, float eps, float wd, float c1, float c2,
                             const am_step_args *args) {
    if (args) {
        lr = args->lr;
        c1 = args->c1;
        c2 = args->c2;
    }
    GRID_STRIDE(i, n) am_adamw_update(&theta[i], &m[i], &s[i], g[i], lr, b1, b2, eps, decay[i] ? wd : 0.0f, c1, c2);
}

__global__ void ema_kernel(float *ema, const float *theta, size_t n, float decay) {
    GRID_STRIDE(i, n) ema[i] = am_ema_update(ema[i], theta[i], decay);
}

extern "C" void cu_sgd_update(float *theta, float *v, const float *g, const uint8_t *decay, size_t n,
                              float lr, float mom, float wd, int nesterov, const am_step_args *args,
                              void *stream) {
    cudaStream_t s = STREAM(stream);
    sgd_kernel<<<grid_for(n, 256), 256, 0, s>>>(theta, v, g, decay, n, lr, mom, wd, nesterov, args);
    AM_LAUNCHED("sgd", s);
}

extern "C" void cu_adamw_update(float *theta, float *m, float *s, const float *g, const uint8_t *decay, size_t n,
                                float lr, float b1, float b2, float eps, float wd, long step,
                                const am_step_args *args, void *stream) {
    cudaStream_t st = STREAM(stream);
    // The bias corrections exactly as src/cpu/optim.c computes them.
    float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    adamw_kernel<<<grid_for(n, 256), 256, 0, st>>>(theta, m, s, g, decay, n, lr, b1, b2, eps, wd, c1, c2, args);
    AM_LAUNCHED("adamw", st);
}

extern "C" void cu_ema_update(float *ema, const float *theta, size_t n, float decay, void *stream) {
    cudaStream_t s = STREAM(stream);
    ema_kernel<<<grid_for(n, 256), 256, 0, s>>>(ema, theta, n, decay);
    AM_LAUNCHED("ema", s);
}
