// FreeMatch (Wang et al. 2023; semilearn 0.3.2's FreeMatchThresholdingHook
// and entropy_loss, docs/semilearn.md §3): self-adaptive thresholds. Before
// the weights, EMAs (momentum ema_p) of the batch's mean top probability
// (time_p, the global threshold), its mean probability vector (p_model) and
// the histogram of its predictions (label_hist) take this step's weak views.
// An image counts when its top probability reaches time_p * p_model[c] /
// max p_model (c its class). The fairness loss lambda_e * sum_c a_c log m_c
// (no minus sign, as semilearn has it) pulls the masked strong views' mean
// prediction m, each class divided by its share of those views' argmaxes,
// towards a = p_model / label_hist (both normalised).
#pragma once

typedef AM_SSL_VIEW {
    float time_p, p_model[AM_SSL_MAX_K], label_hist[AM_SSL_MAX_K];
} freematch_state;
#define freematch_per_image 0

static inline void freematch_init(am_ssl_state *st, int K, const am_ssl_hp *hp) {
    (void)hp;
    freematch_state *s = SSL_STATE(freematch_state, st);
    s->time_p = 1.0f / K;
    for (int k = 0; k < K; k++) s->p_model[k] = s->label_hist[k] = 1.0f / K;
}

AM_HD static inline void freematch_observe(am_ssl_state *st, const am_ssl_images *img, const SSL_REAL *P, int U,
                                           int K, const am_ssl_hp *hp) {
    (void)img;
    if (U < 1) return;
    freematch_state *s = SSL_STATE(freematch_state, st);
    double top = 0, mean[AM_SSL_MAX_K] = {0}, hist[AM_SSL_MAX_K] = {0};
    for (int i = 0; i < U; i++) {
        const SSL_REAL *p = P + (size_t)i * K;
        int a = 0;
        for (int k = 0; k < K; k++) {
            mean[k] += p[k];
            if (p[k] > p[a]) a = k;
        }
        top += p[a];
        hist[a] += 1;
    }
    const SSL_REAL m = hp->ema_p;
    s->time_p = (float)(m * s->time_p + (1 - m) * (SSL_REAL)(top / U));
    for (int k = 0; k < K; k++) {
        s->p_model[k] = (float)(m * s->p_model[k] + (1 - m) * (SSL_REAL)(mean[k] / U));
        s->label_hist[k] = (float)(m * s->label_hist[k] + (1 - m) * (SSL_REAL)(hist[k] / U));
    }
}

AM_HD static inline SSL_REAL freematch_weight(const am_ssl_state *st, const SSL_REAL *p, int K, const am_ssl_hp *hp) {
    (void)hp;
    const freematch_state *s = SSL_STATE(const freematch_state, st);
    int a = 0;
    SSL_REAL top = s->p_model[0];
    for (int k = 1; k < K; k++) {
        if (p[k] > p[a]) a = k;
        top = s->p_model[k] > top ? s->p_model[k] : top;
    }
    return p[a] >= (SSL_REAL)s->time_p * ((SSL_REAL)s->p_model[a] / top) ? 1 : 0;
}

// The fairness loss over the images with a weight, and its gradient: with
// q the mean of their softmax(zs), r_c = 1 / (share of them predicted c) (0
// for none), u = q * r and m = u / sum(u): dL/du_j = lambda_e (a_j / (m_j +
// 1e-12) - sum_c a_c m_c / (m_c + 1e-12)) / sum(u), passed through r, the mean
// and each softmax.
AM_HD static inline SSL_REAL freematch_extra(SSL_REAL *dzs, const SSL_REAL *zs, const SSL_REAL *W, int U, int K,
                                             const am_ssl_state *st, const am_ssl_hp *hp) {
    const freematch_state *s = SSL_STATE(const freematch_state, st);
    int n = 0;
    SSL_REAL q[AM_SSL_MAX_K] = {0}, hist[AM_SSL_MAX_K] = {0}, p[AM_SSL_MAX_K];
    for (int i = 0; i < U; i++) {
        if (W[i] <= 0) continue;
        int a;
        ssl_softmax(p, &a, zs + (size_t)i * K, K);
        for (int k = 0; k < K; k++) q[k] += p[k];
        hist[a] += 1;
        n++;
    }
    if (!n || hp->lambda_e == 0) return 0;
    SSL_REAL a[AM_SSL_MAX_K], r[AM_SSL_MAX_K], u[AM_SSL_MAX_K], asum = 0, usum = 0;
    for (int k = 0; k < K; k++) {
        a[k] = s->label_hist[k] > 0 ? (SSL_REAL)s->p_model[k] / s->label_hist[k] : 0;
        asum += a[k];
        r[k] = hist[k] > 0 ? n / hist[k] : 0;
        u[k] = q[k] / n * r[k];
        usum += u[k];
    }
    SSL_REAL loss = 0, dot = 0, g[AM_SSL_MAX_K];
    for (int k = 0; k < K; k++) {
        a[k] /= asum;
        SSL_REAL m = u[k] / usum;
        loss += a[k] * SSL_LOG(m + (SSL_REAL)1e-12);
        g[k] = a[k] / (m + (SSL_REAL)1e-12);
        dot += g[k] * m;
    }
    // g: the gradient with respect to the mean probability q.
    for (int k = 0; k < K; k++) g[k] = hp->lambda_e * (g[k] - dot) / usum * r[k] / n;
    for (int i = 0; i < U; i++) {
        if (W[i] <= 0) continue;
        int arg;
        ssl_softmax(p, &arg, zs + (size_t)i * K, K);
        SSL_REAL gp = 0;
        for (int k = 0; k < K; k++) gp += g[k] * p[k];
        for (int k = 0; k < K; k++) dzs[(size_t)i * K + k] += p[k] * (g[k] - gp);
    }
    return hp->lambda_e * loss;
}
