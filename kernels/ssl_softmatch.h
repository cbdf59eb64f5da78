// SoftMatch (Chen et al. 2023; semilearn 0.3.2's DistAlignEMAHook and
// SoftMatchWeightingHook, docs/semilearn.md §4): a soft weight instead of a
// threshold. Each step the weak views' mean probability updates p_model (the
// first step sets it; then an EMA of momentum ema_p), each image's
// probabilities are aligned to a uniform target (p * (1/K + 1e-6) /
// (p_model + 1e-6), renormalised), and EMAs of the mean and the unbiased
// variance of the aligned top probabilities (from 1/K and 1) give mu and
// var. An image weighs exp(-min(top - mu, 0)^2 / (2 var / n_sigma^2)): 1 at
// or above mu. The pseudo-label stays the unaligned argmax.
#pragma once

typedef AM_SSL_VIEW {
    float started, mu, var, p_model[AM_SSL_MAX_K];
} softmatch_state;
#define softmatch_per_image 0

static inline void softmatch_init(am_ssl_state *st, int K, const am_ssl_hp *hp) {
    (void)hp;
    softmatch_state *s = SSL_STATE(softmatch_state, st);
    s->mu = 1.0f / K;
    s->var = 1.0f;
}

// The top probability of p aligned to the uniform target.
AM_HD static inline SSL_REAL softmatch_aligned_top(const softmatch_state *s, const SSL_REAL *p, int K) {
    SSL_REAL sum = 0, top = 0;
    for (int k = 0; k < K; k++) {
        SSL_REAL v = p[k] * ((SSL_REAL)1 / K + (SSL_REAL)1e-6) / ((SSL_REAL)s->p_model[k] + (SSL_REAL)1e-6);
        sum += v;
        top = v > top ? v : top;
    }
    return top / sum;
}

AM_HD static inline void softmatch_observe(am_ssl_state *st, const am_ssl_images *img, const SSL_REAL *P, int U,
                                           int K, const am_ssl_hp *hp) {
    (void)img;
    if (U < 1) return;
    softmatch_state *s = SSL_STATE(softmatch_state, st);
    const SSL_REAL m = hp->ema_p;
    double mean[AM_SSL_MAX_K] = {0};
    for (int i = 0; i < U; i++)
        for (int k = 0; k < K; k++) mean[k] += P[(size_t)i * K + k];
    for (int k = 0; k < K; k++)
        s->p_model[k] = (float)(s->started ? m * s->p_model[k] + (1 - m) * (SSL_REAL)(mean[k] / U) : mean[k] / U);
    s->started = 1;
    double sum = 0, sq = 0;
    for (int i = 0; i < U; i++) sum += softmatch_aligned_top(s, P + (size_t)i * K, K);
    const double mu = sum / U;
    for (int i = 0; i < U; i++) {
        double d = softmatch_aligned_top(s, P + (size_t)i * K, K) - mu;
        sq += d * d;
    }
    // torch.var of one value is NaN; one image leaves the variance as it was.
    s->mu = (float)(m * s->mu + (1 - m) * (SSL_REAL)mu);
    if (U > 1) s->var = (float)(m * s->var + (1 - m) * (SSL_REAL)(sq / (U - 1)));
}

AM_HD static inline SSL_REAL softmatch_weight(const am_ssl_state *st, const SSL_REAL *p, int K, const am_ssl_hp *hp) {
    const softmatch_state *s = SSL_STATE(const softmatch_state, st);
    SSL_REAL d = softmatch_aligned_top(s, p, K) - s->mu;
    d = d < 0 ? d : 0;
    return SSL_EXP(-(d * d) / (2 * (SSL_REAL)s->var / (hp->n_sigma * hp->n_sigma)));
}

AM_HD static inline SSL_REAL softmatch_extra(SSL_REAL *dzs, const SSL_REAL *zs, const SSL_REAL *W, int U, int K,
                                             const am_ssl_state *st, const am_ssl_hp *hp) {
    (void)dzs, (void)zs, (void)W, (void)U, (void)K, (void)st, (void)hp;
    return 0;
}
