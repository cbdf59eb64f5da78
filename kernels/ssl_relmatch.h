// RelMatch, the worked example of docs/LOSS.md: a relative threshold (the
// idea of AdaMatch, Berthelot et al. 2022, taken from the unlabelled side).
// An EMA (momentum ema_p) of the batch's mean top probability measures how
// confident the model is this far into training; an image counts when its
// own top probability reaches tau times that. Early on, when the model is
// unsure of everything, the threshold is low; it rises as the model learns.
#pragma once

typedef AM_SSL_VIEW {
    float mean_top;  // EMA of the batch's mean top probability
} relmatch_state;
#define relmatch_per_image 0

static inline void relmatch_init(am_ssl_state *st, int K, const am_ssl_hp *hp) {
    (void)hp;
    SSL_STATE(relmatch_state, st)->mean_top = 1.0f / K;
}

AM_HD static inline void relmatch_observe(am_ssl_state *st, const am_ssl_images *img, const SSL_REAL *P, int U,
                                          int K, const am_ssl_hp *hp) {
    (void)img;
    if (U < 1) return;
    relmatch_state *s = SSL_STATE(relmatch_state, st);
    double top = 0;
    for (int i = 0; i < U; i++) {
        SSL_REAL m = 0;
        for (int k = 0; k < K; k++) m = P[(size_t)i * K + k] > m ? P[(size_t)i * K + k] : m;
        top += m;
    }
    s->mean_top = (float)(hp->ema_p * s->mean_top + (1 - hp->ema_p) * (SSL_REAL)(top / U));
}

AM_HD static inline SSL_REAL relmatch_weight(const am_ssl_state *st, const SSL_REAL *p, int K, const am_ssl_hp *hp) {
    SSL_REAL m = 0;
    for (int k = 0; k < K; k++) m = p[k] > m ? p[k] : m;
    return m >= hp->tau * (SSL_REAL)SSL_STATE(const relmatch_state, st)->mean_top ? 1 : 0;
}

AM_HD static inline SSL_REAL relmatch_extra(SSL_REAL *dzs, const SSL_REAL *zs, const SSL_REAL *W, int U, int K,
                                            const am_ssl_state *st, const am_ssl_hp *hp) {
    (void)dzs, (void)zs, (void)W, (void)U, (void)K, (void)st, (void)hp;
    return 0;
}
