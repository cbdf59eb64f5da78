// FixMatch (Sohn et al. 2020; semilearn's FixedThresholdingHook): an image
// counts fully when its weak view's top probability reaches tau, else not
// at all. No state, no extra loss. (kernels/ssl.h: what a loss defines.)
#pragma once

typedef AM_SSL_VIEW {
    float unused;
} fixmatch_state;
#define fixmatch_per_image 0

static inline void fixmatch_init(am_ssl_state *st, int K, const am_ssl_hp *hp) {
    (void)st, (void)K, (void)hp;
}

AM_HD static inline void fixmatch_observe(am_ssl_state *st, const am_ssl_images *img, const SSL_REAL *P, int U,
                                          int K, const am_ssl_hp *hp) {
    (void)st, (void)img, (void)P, (void)U, (void)K, (void)hp;
}

AM_HD static inline SSL_REAL fixmatch_weight(const am_ssl_state *st, const SSL_REAL *p, int K, const am_ssl_hp *hp) {
    (void)st;
    SSL_REAL pmax = p[0];
    for (int k = 1; k < K; k++) pmax = p[k] > pmax ? p[k] : pmax;
    return pmax >= hp->tau ? 1 : 0;
}

AM_HD static inline SSL_REAL fixmatch_extra(SSL_REAL *dzs, const SSL_REAL *zs, const SSL_REAL *W, int U, int K,
                                            const am_ssl_state *st, const am_ssl_hp *hp) {
    (void)dzs, (void)zs, (void)W, (void)U, (void)K, (void)st, (void)hp;
    return 0;
}
