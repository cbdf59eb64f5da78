// The FixMatch consistency loss for one unlabelled image, shared by the CPU
// twin (src/cpu/fixmatch.c) and the CUDA kernel (kernels/fixmatch.cu).
// Edit the loss here and both paths change.
//
// Inputs:  zw[K] logits of the weak view (treated as constants: no gradient),
//          zs[K] logits of the strong view, threshold tau, temperature T
//          (T <= 0: hard pseudo-label), scale = lambda_u / (mu*B).
// Outputs: returns mask * CE(zs, target) (the unscaled per-row loss);
//          *mask = 1 when max softmax(zw) >= tau else 0;
//          dzs[K] = scale * mask * (softmax(zs) - target), the gradient of
//          scale * row loss w.r.t. zs.
// target: one-hot of argmax softmax(zw) (first index on ties) or, with T > 0,
//          softmax(zw / T).
// Reductions done by the caller: l_u = sum(row losses) / (mu*B) and the mask
// rate = sum(mask) / (mu*B). K is at most AM_FIXMATCH_MAX_K.
#pragma once
#include <math.h>

#include "am/hd.h"

#define AM_FIXMATCH_MAX_K 64

AM_HD static inline float am_fixmatch_row(float *dzs, float *mask, const float *zw,
                                          const float *zs, int K, float tau, float T,
                                          float scale) {
    float mw = zw[0];
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (zw[k] > mw) { mw = zw[k]; arg = k; }
    float sw = 0.0f;
    for (int k = 0; k < K; k++) sw += expf(zw[k] - mw);
    float pmax = 1.0f / sw;
    float m = pmax >= tau ? 1.0f : 0.0f;
    *mask = m;
    float ms = zs[0];
    for (int k = 1; k < K; k++) ms = fmaxf(ms, zs[k]);
    float ss = 0.0f;
    for (int k = 0; k < K; k++) ss += expf(zs[k] - ms);
    float lse = ms + logf(ss);
    float tw[AM_FIXMATCH_MAX_K];
    if (T > 0.0f) {
        float mt = mw / T, st = 0.0f;
        for (int k = 0; k < K; k++) { tw[k] = expf(zw[k] / T - mt); st += tw[k]; }
        for (int k = 0; k < K; k++) tw[k] /= st;
    } else {
        for (int k = 0; k < K; k++) tw[k] = k == arg ? 1.0f : 0.0f;
    }
    float loss = 0.0f;
    for (int k = 0; k < K; k++) {
        float ps = expf(zs[k] - lse);
        loss += tw[k] * (lse - zs[k]);
        dzs[k] = scale * m * (ps - tw[k]);
    }
    return m * loss;
}
