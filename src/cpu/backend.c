// The CPU backend of the network (include/am/net.h): the reference ops of
// am/ops.h over the model's own families. Its context is the am_model; a
// parameter's gradient sits at the parameter's offset in m->grads.

#include "am/net.h"
#include "am/ops.h"

#define GR(m, p) ((m)->grads + ((p) - (m)->params))

static void stem_fwd(void *be, void *y, void *stem_in, const float *x, const float *w, int N, int S, int C, int K) {
    (void)be;
    conv2d_forward(y, stem_in, x, w, N, S, S, C, K, 3, 2);
}

static void stem_bwd(void *be, const float *w, const void *dy, const void *stem_in, int N, int S, int C, int K) {
    am_model *m = be;
    conv2d_backward(NULL, GR(m, w), NULL, dy, stem_in, w, N, S, S, C, K, 3, 2);
}

static void pw_fwd(void *be, void *y, const void *x, const float *w, int N, int H, int C, int K) {
    (void)be;
    pwconv_forward(y, x, w, N * H * H, C, K);
}

static void pw_bwd(void *be, void *dx, const float *w, const void *dy, const void *x, int N, int H, int C, int K) {
    am_model *m = be;
    pwconv_backward(dx, GR(m, w), dy, x, w, N * H * H, C, K);
}

static void dw_fwd(void *be, void *y, const void *x, const float *w, int N, int H, int C, int k, int s) {
    (void)be;
    dwconv_forward(y, x, w, N, H, H, C, k, s);
}

static void dw_bwd(void *be, void *dx, const float *w, const void *dy, const void *x, int N, int H, int C, int k,
                   int s) {
    am_model *m = be;
    dwconv_backward(dx, GR(m, w), dy, x, w, N, H, H, C, k, s);
}

static void bn_fwd(void *be, void *y, float *mean, float *rstd, const void *x, const am_bn *bn, size_t M, int C,
                   int act, int train) {
    am_model *m = be;
    bn_act_forward(y, mean, rstd, x, bn->gamma, bn->beta, bn->mean, bn->var, (int)M, C, act, train, m->bn_momentum,
                   m->bn_eps);
}

static void bn_bwd(void *be, void *dx, const void *x, const float *mean, const float *rstd, const am_bn *bn,
                   size_t M, int C, int act) {
    am_model *m = be;
    bn_act_backward(dx, GR(m, bn->gamma), GR(m, bn->beta), dx, x, mean, rstd, bn->gamma, bn->beta, (int)M, C, act);
}

static void se_fwd(void *be, void *y, float *pooled, float *hid, float *gate, const void *x,
                   const am_block_params *p, int N, int HW, int C, int S) {
    (void)be;
    se_forward(y, pooled, hid, gate, x, p->se_rw, p->se_rb, p->se_ew, p->se_eb, N, HW, C, S);
}

static void se_bwd(void *be, void *dx, const void *x, const float *pooled, const float *hid, const float *gate,
                   const am_block_params *p, const am_acts *A, int N, int HW, int C, int S) {
    am_model *m = be;
    (void)A;
    se_backward(dx, GR(m, p->se_rw), GR(m, p->se_rb), GR(m, p->se_ew), GR(m, p->se_eb), dx, x, pooled, hid, gate,
                p->se_rw, p->se_ew, N, HW, C, S);
}

static void residual_fwd(void *be, void *y, float *dc, const void *branch, const void *skip, int N, int per,
                         float rate, uint64_t seed, uint32_t stream, uint64_t step) {
    (void)be;
    drop_connect_add_forward(y, dc, branch, skip, N, per, rate, seed, stream, step);
}

static void residual_bwd(void *be, void *dbranch, void *dskip, const void *dy, const float *dc, int N, int per) {
    (void)be;
    drop_connect_add_backward(dbranch, dskip, dy, dc, N, per);
}

static void add(void *be, void *y, const void *x, size_t n) {
    (void)be;
    float *e = y;
    const float *s = x;
    for (size_t j = 0; j < n; j++) e[j] += s[j];
}

static void gap_fwd(void *be, float *y, const void *x, int N, int HW, int C) {
    (void)be;
    gap_forward(y, x, N, HW, C);
}

static void gap_bwd(void *be, void *dx, const float *dy, int N, int HW, int C) {
    (void)be;
    gap_backward(dx, dy, N, HW, C);
}

static void dropout_fwd(void *be, float *y, float *mask, const float *x, int n, float rate, uint64_t seed,
                        uint32_t stream, uint64_t step) {
    (void)be;
    dropout_forward(y, mask, x, n, rate, seed, stream, step);
}

static void dropout_bwd(void *be, float *dx, const float *dy, const float *mask, int n) {
    (void)be;
    dropout_backward(dx, dy, mask, n);
}

static void fc_fwd(void *be, float *y, const float *x, const float *w, const float *b, int N, int C, int K) {
    (void)be;
    fc_forward(y, x, w, b, N, C, K);
}

static void fc_bwd(void *be, float *dx, const float *w, const float *b, const float *dy, const float *x, int N,
                   int C, int K) {
    am_model *m = be;
    fc_backward(dx, GR(m, w), GR(m, b), dy, x, w, N, C, K);
}

const am_backend am_cpu_backend = {
    .stem_fwd = stem_fwd, .stem_bwd = stem_bwd,
    .pw_fwd = pw_fwd, .pw_bwd = pw_bwd,
    .dw_fwd = dw_fwd, .dw_bwd = dw_bwd,
    .bn_fwd = bn_fwd, .bn_bwd = bn_bwd,
    .se_fwd = se_fwd, .se_bwd = se_bwd,
    .residual_fwd = residual_fwd, .residual_bwd = residual_bwd, .add = add,
    .gap_fwd = gap_fwd, .gap_bwd = gap_bwd,
    .dropout_fwd = dropout_fwd, .dropout_bwd = dropout_bwd,
    .fc_fwd = fc_fwd, .fc_bwd = fc_bwd,
};
