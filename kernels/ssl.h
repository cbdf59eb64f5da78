// One step of a consistency loss (include/am/ssl.h: the registry), the
// maths shared by the CPU path (src/cpu/ssl.c), the CUDA kernel
// (kernels/loss.cu) and the checks in double (tests/ssl_double.c).
//
// A loss X is one file, kernels/ssl_X.h, defining as AM_HD static inline
// functions of SSL_REAL (float in the engine, double in the checks):
//   X_state                     its state: a struct of floats (typedef AM_SSL_VIEW
//                               {...} X_state; it lives in am_ssl_state)
//   X_init(st, K, hp)           a new run's state
//   X_observe(st, img, P, U, K, hp)  the state updated from this step's
//                               weak-view probabilities P (U rows of K), before
//                               any weight; img: the per-image state and the
//                               step's images (am_ssl_images; FlexMatch's)
//   X_per_image                 1 when the loss uses img (a macro)
//   X_weight(st, p, K, hp)      one unlabelled image's weight (0..1) from its
//                               weak-view probabilities p[K]
//   X_extra(dzs, zs, W, U, K, st, hp)  an extra loss of the step on the strong
//                               logits zs (U rows), weights W; it adds its
//                               gradient into dzs and returns its value (0: none)
// The step: P = softmax of the weak logits; X_observe; for each image i,
// w_i = X_weight and the row w_i * CE(strong_i, target_i) with target the
// one-hot of argmax P_i (T <= 0) or softmax(weak_i / T); then X_extra. The
// unlabelled loss is the mean of the rows over all U images (semilearn's
// consistency_loss); dzs is the gradient of lambda_u * that + the extra loss.
// Weights and targets come from the weak view only: no gradient flows there.
#pragma once
#include <math.h>

#include "am/hd.h"
#include "am/ssl.h"

#ifndef SSL_REAL
#define SSL_REAL float
#define SSL_EXP expf
#define SSL_LOG logf
#endif

// A loss's state struct, seen in the trainer's floats.
#define SSL_STATE(type, st) ((type *)(st)->f)

// Softmax of one row: p[K], its argmax (the first on ties) in *arg; returns max p.
AM_HD static inline SSL_REAL ssl_softmax(SSL_REAL *p, int *arg, const SSL_REAL *z, int K) {
    SSL_REAL m = z[0];
    int a = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > m) { m = z[k]; a = k; }
    SSL_REAL s = 0;
    for (int k = 0; k < K; k++) { p[k] = SSL_EXP(z[k] - m); s += p[k]; }
    for (int k = 0; k < K; k++) p[k] /= s;
    *arg = a;
    return p[a];
}

// One unlabelled image: returns w * CE(zs, target), and dzs = scale * w *
// (softmax(zs) - target); target the one-hot of arg (T <= 0) or softmax(zw / T).
AM_HD static inline SSL_REAL ssl_row(SSL_REAL *dzs, const SSL_REAL *zw, const SSL_REAL *zs, int arg, int K,
                                     SSL_REAL w, SSL_REAL T, SSL_REAL scale) {
    SSL_REAL ms = zs[0];
    for (int k = 1; k < K; k++) ms = zs[k] > ms ? zs[k] : ms;
    SSL_REAL ss = 0;
    for (int k = 0; k < K; k++) ss += SSL_EXP(zs[k] - ms);
    SSL_REAL lse = ms + SSL_LOG(ss);
    SSL_REAL tw[AM_SSL_MAX_K];
    if (T > 0) {
        SSL_REAL mt = zw[arg] / T, st = 0;
        for (int k = 0; k < K; k++) { tw[k] = SSL_EXP(zw[k] / T - mt); st += tw[k]; }
        for (int k = 0; k < K; k++) tw[k] /= st;
    } else {
        for (int k = 0; k < K; k++) tw[k] = k == arg ? 1 : 0;
    }
    SSL_REAL loss = 0;
    for (int k = 0; k < K; k++) {
        SSL_REAL ps = SSL_EXP(zs[k] - lse);
        loss += tw[k] * (lse - zs[k]);
        dzs[k] = scale * w * (ps - tw[k]);
    }
    return w * loss;
}

#include "ssl_fixmatch.h"
#include "ssl_freematch.h"
#include "ssl_softmatch.h"
#include "ssl_flexmatch.h"
#include "ssl_relmatch.h"

#define SSL_CASE_OBSERVE(name) \
    case AM_SSL_##name: name##_observe(st, img, P, U, K, hp); break;
#define SSL_CASE_WEIGHT(name) \
    case AM_SSL_##name: return name##_weight(st, p, K, hp);
#define SSL_CASE_EXTRA(name) \
    case AM_SSL_##name: return name##_extra(dzs, zs, W, U, K, st, hp);
#define SSL_CASE_INIT(name) \
    case AM_SSL_##name: name##_init(st, K, hp); break;

AM_HD static inline void ssl_observe(am_ssl_state *st, const am_ssl_images *img, const SSL_REAL *P, int U, int K,
                                     const am_ssl_hp *hp) {
    switch (hp->loss) { AM_SSL_LOSSES(SSL_CASE_OBSERVE) }
}

AM_HD static inline SSL_REAL ssl_weight(const am_ssl_state *st, const SSL_REAL *p, int K, const am_ssl_hp *hp) {
    switch (hp->loss) { AM_SSL_LOSSES(SSL_CASE_WEIGHT) }
    return 0;
}

AM_HD static inline SSL_REAL ssl_extra(SSL_REAL *dzs, const SSL_REAL *zs, const SSL_REAL *W, int U, int K,
                                       const am_ssl_state *st, const am_ssl_hp *hp) {
    switch (hp->loss) { AM_SSL_LOSSES(SSL_CASE_EXTRA) }
    return 0;
}

static inline void ssl_init(am_ssl_state *st, int K, const am_ssl_hp *hp) {
    for (int i = 0; i < AM_SSL_STATE_FLOATS; i++) st->f[i] = 0;
    switch (hp->loss) { AM_SSL_LOSSES(SSL_CASE_INIT) }
}

#define SSL_CASE_PER_IMAGE(name) \
    case AM_SSL_##name: return name##_per_image;

static inline int ssl_per_image(int loss) {
    switch (loss) { AM_SSL_LOSSES(SSL_CASE_PER_IMAGE) }
    return 0;
}

// The unlabelled part of a step, one image after another (the CPU's order):
// zw and zs (U, K) the weak and strong logits, dzs (U, K) assigned, P and W
// scratch (U*K and U). out[0] = mean row loss, out[1] = the extra loss,
// out[2] = mean weight.
AM_HD static inline void ssl_step(double out[3], SSL_REAL *dzs, SSL_REAL *P, SSL_REAL *W, const SSL_REAL *zw,
                                  const SSL_REAL *zs, int U, int K, am_ssl_state *st, const am_ssl_images *img,
                                  const am_ssl_hp *hp) {
    int arg;
    for (int i = 0; i < U; i++) ssl_softmax(P + (size_t)i * K, &arg, zw + (size_t)i * K, K);
    ssl_observe(st, img, P, U, K, hp);
    const SSL_REAL scale = U ? hp->lambda_u / U : 0;
    double lu = 0, wsum = 0;
    for (int i = 0; i < U; i++) {
        const SSL_REAL *p = P + (size_t)i * K, *z = zw + (size_t)i * K;
        arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[arg]) arg = k;
        W[i] = ssl_weight(st, p, K, hp);
        lu += ssl_row(dzs + (size_t)i * K, zw + (size_t)i * K, zs + (size_t)i * K, arg, K, W[i], hp->T, scale);
        wsum += W[i];
    }
    out[0] = U ? lu / U : 0;
    out[1] = ssl_extra(dzs, zs, W, U, K, st, hp);
    out[2] = U ? wsum / U : 0;
}
