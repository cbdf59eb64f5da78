// FlexMatch (Zhang et al. 2021; semilearn 0.3.2's FlexMatchThresholdingHook,
// docs/semilearn.md §2): curriculum pseudo-labelling. Each unlabelled image
// remembers the class it was last predicted with a top probability of at
// least tau (-1: none yet). A class's learning status beta_c is the number
// of images remembered as c over the largest such count (with warmup, the
// count of images remembered as nothing is among those it is divided by),
// and an image counts when its top probability reaches tau * beta /
// (2 - beta) of its class: low thresholds for classes still being learnt.
// The step's weights use the status before its own images are remembered
// (as semilearn: mask first, then the update). The counts are kept in the
// state, so the status takes no pass over all images.
#pragma once

typedef AM_SSL_VIEW {
    float started, unused;            // the count of images remembered as nothing
    float count[AM_SSL_MAX_K];        // images remembered as each class
    float beta[AM_SSL_MAX_K];         // learning status of each class
} flexmatch_state;
#define flexmatch_per_image 1

static inline void flexmatch_init(am_ssl_state *st, int K, const am_ssl_hp *hp) {
    (void)st, (void)K, (void)hp;
}

AM_HD static inline void flexmatch_observe(am_ssl_state *st, const am_ssl_images *img, const SSL_REAL *P, int U,
                                           int K, const am_ssl_hp *hp) {
    flexmatch_state *s = SSL_STATE(flexmatch_state, st);
    if (!s->started) {
        s->unused = (float)img->unlabelled;
        s->started = 1;
    }
    // The status of the images remembered so far.
    float top = s->unused, top_class = 0;
    for (int k = 0; k < K; k++) {
        top = s->count[k] > top ? s->count[k] : top;
        top_class = s->count[k] > top_class ? s->count[k] : top_class;
    }
    if (top < (float)img->unlabelled) {
        const float norm = hp->warmup ? top : top_class;
        for (int k = 0; k < K; k++) s->beta[k] = norm > 0 ? s->count[k] / norm : 0;
    }
    // This step's confident images are remembered (the next step's status).
    for (int i = 0; i < U; i++) {
        const SSL_REAL *p = P + (size_t)i * K;
        int a = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[a]) a = k;
        if (p[a] < hp->tau) continue;
        int *old = &img->label[img->idx[i]];
        if (*old == a) continue;
        if (*old < 0) s->unused -= 1;
        else s->count[*old] -= 1;
        s->count[a] += 1;
        *old = a;
    }
}

AM_HD static inline SSL_REAL flexmatch_weight(const am_ssl_state *st, const SSL_REAL *p, int K, const am_ssl_hp *hp) {
    const flexmatch_state *s = SSL_STATE(const flexmatch_state, st);
    int a = 0;
    for (int k = 1; k < K; k++)
        if (p[k] > p[a]) a = k;
    const SSL_REAL beta = s->beta[a];
    return p[a] >= hp->tau * (beta / (2 - beta)) ? 1 : 0;
}

AM_HD static inline SSL_REAL flexmatch_extra(SSL_REAL *dzs, const SSL_REAL *zs, const SSL_REAL *W, int U, int K,
                                             const am_ssl_state *st, const am_ssl_hp *hp) {
    (void)dzs, (void)zs, (void)W, (void)U, (void)K, (void)st, (void)hp;
    return 0;
}
