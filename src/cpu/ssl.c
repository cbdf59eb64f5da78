// The semi-supervised step's loss on the CPU: cross-entropy of the labelled
// rows and the consistency loss of kernels/ssl.h (CPU twin of
// kernels/loss.cu). The gradient is assigned.
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/ops.h"
#include "../../kernels/softmax_math.h"
#include "../../kernels/ssl.h"

#define SSL_NAME(name) #name,
static const char *names[] = {AM_SSL_LOSSES(SSL_NAME)};

const char *am_ssl_name(int loss) { return loss >= 0 && loss < AM_SSL_COUNT ? names[loss] : "?"; }

int am_ssl_parse(const char *name) {
    for (int k = 0; k < AM_SSL_COUNT; k++)
        if (!strcmp(name, names[k])) return k;
    return -1;
}

void am_ssl_init(am_ssl_state *s, int K, const am_ssl_hp *hp) { ssl_init(s, K, hp); }

int am_ssl_per_image(int loss) { return ssl_per_image(loss); }

am_ssl_stats ssl_forward_backward(float *dlogits, const float *logits, const int *labels, int B, int U, int K,
                                  am_ssl_state *state, const am_ssl_images *img, const am_ssl_hp *hp) {
    AM_CHECK(K <= AM_SSL_MAX_K, "the consistency losses take at most AM_SSL_MAX_K classes");
    AM_CHECK(!ssl_per_image(hp->loss) || (img && img->idx && img->label), "this loss needs the step's images");
    am_ssl_stats st = {0};
    double lx = 0.0, u[3];
    for (int i = 0; i < B; i++) {
        float *d = dlogits + (size_t)i * K;
        lx += am_softmax_ce_row(d, logits + (size_t)i * K, K, labels[i]);
        for (int k = 0; k < K; k++) d[k] = (d[k] - (k == labels[i] ? 1.0f : 0.0f)) / B;
    }
    memset(dlogits + (size_t)B * K, 0, sizeof(float) * U * K);
    float *P = AM_MALLOC(sizeof(float) * ((size_t)U * K + U + 1));
    ssl_step(u, dlogits + (size_t)(B + U) * K, P, P + (size_t)U * K, logits + (size_t)B * K,
             logits + (size_t)(B + U) * K, U, K, state, img, hp);
    free(P);
    st.loss_x = B ? (float)(lx / B) : 0.0f;
    st.loss_u = (float)u[0];
    st.loss_e = (float)u[1];
    st.mask_rate = (float)u[2];
    st.loss = st.loss_x + hp->lambda_u * st.loss_u + st.loss_e;
    return st;
}
