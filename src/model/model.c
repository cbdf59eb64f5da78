// EfficientNet model: tensor table, allocation families, initialisation,
// and the forward/backward orchestration over the CPU ops.
// Gradient rule: parameter gradients accumulate into m->grads (+=); the
// activation gradients live in four scratch buffers and are assigned, except
// at the residual merge where the skip gradient is added.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/philox.h"
#include "am/prof.h"
#include "../../kernels/act_math.h"
#include "../../kernels/conv_math.h"

#define GR(m, p) ((m)->grads + ((p) - (m)->params))
// Opens the next op of the per-layer profile, when one is attached; n: the
// float elements the op reads and writes.
#define MARK(m, op, blk, n) do { if ((m)->prof) am_prof_mark((m)->prof, (op), (blk), 4.0 * (double)(n)); } while (0)

enum { STREAM_DROPOUT = 0xD0, STREAM_DROP_CONNECT = 0x100, STREAM_INIT = 0x10000 };

static void add_tensor(am_model *m, const char *name, int family, int decay, int ndim,
                       int d0, int d1, int d2, int d3) {
    AM_CHECK(m->ntensors < AM_MAX_TENSORS, "AM_MAX_TENSORS too small");
    am_tensor *t = &m->tensors[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int d[4] = {d0, d1, d2, d3};
    t->n = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? d[i] : 0;
        if (i < ndim) t->n *= (size_t)d[i];
    }
    t->family = family;
    t->decay = decay;
    // Each tensor takes whole blocks of AM_TENSOR_ALIGN elements (model.h).
    size_t *count = family == AM_PARAM ? &m->nparams : &m->nstats;
    t->offset = *count;
    *count += (t->n + AM_TENSOR_ALIGN - 1) / AM_TENSOR_ALIGN * AM_TENSOR_ALIGN;
}

static void add_bn(am_model *m, const char *prefix, int C) {
    char s[64];
    snprintf(s, sizeof s, "%s.gamma", prefix); add_tensor(m, s, AM_PARAM, 0, 1, C, 0, 0, 0);
    snprintf(s, sizeof s, "%s.beta", prefix);  add_tensor(m, s, AM_PARAM, 0, 1, C, 0, 0, 0);
    snprintf(s, sizeof s, "%s.mean", prefix);  add_tensor(m, s, AM_STAT, 0, 1, C, 0, 0, 0);
    snprintf(s, sizeof s, "%s.var", prefix);   add_tensor(m, s, AM_STAT, 0, 1, C, 0, 0, 0);
}

static void build_table(am_model *m) {
    const am_arch *a = &m->arch;
    char s[64];
    add_tensor(m, "stem.conv", AM_PARAM, 1, 4, a->stem, 3, 3, a->in_ch);
    add_bn(m, "stem.bn", a->stem);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        if (b->expand != 1) {
            snprintf(s, sizeof s, "blocks.%d.expand.conv", i);
            add_tensor(m, s, AM_PARAM, 1, 2, b->mid, b->in, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.expand.bn", i);
            add_bn(m, s, b->mid);
        }
        snprintf(s, sizeof s, "blocks.%d.dw.conv", i);
        add_tensor(m, s, AM_PARAM, 1, 3, b->k, b->k, b->mid, 0);
        snprintf(s, sizeof s, "blocks.%d.dw.bn", i);
        add_bn(m, s, b->mid);
        if (b->se) {
            snprintf(s, sizeof s, "blocks.%d.se.reduce.w", i); add_tensor(m, s, AM_PARAM, 1, 2, b->se, b->mid, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.se.reduce.b", i); add_tensor(m, s, AM_PARAM, 0, 1, b->se, 0, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.se.expand.w", i); add_tensor(m, s, AM_PARAM, 1, 2, b->mid, b->se, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.se.expand.b", i); add_tensor(m, s, AM_PARAM, 0, 1, b->mid, 0, 0, 0);
        }
        snprintf(s, sizeof s, "blocks.%d.project.conv", i);
        add_tensor(m, s, AM_PARAM, 1, 2, b->out, b->mid, 0, 0);
        snprintf(s, sizeof s, "blocks.%d.project.bn", i);
        add_bn(m, s, b->out);
    }
    add_tensor(m, "head.conv", AM_PARAM, 1, 2, a->head, a->blocks[a->nblocks - 1].out, 0, 0);
    add_bn(m, "head.bn", a->head);
    add_tensor(m, "fc.w", AM_PARAM, 1, 2, a->classes, a->head, 0, 0);
    add_tensor(m, "fc.b", AM_PARAM, 0, 1, a->classes, 0, 0, 0);
}

const am_tensor *am_model_find(const am_model *m, const char *name) {
    for (int i = 0; i < m->ntensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

float *am_model_data(am_model *m, const am_tensor *t) {
    return (t->family == AM_PARAM ? m->params : m->stats) + t->offset;
}

static float *view(am_model *m, const char *fmt, int i) {
    char s[64];
    snprintf(s, sizeof s, fmt, i);
    const am_tensor *t = am_model_find(m, s);
    return t ? am_model_data(m, t) : NULL;
}

static am_bn bn_view(am_model *m, const char *prefix, int i) {
    char p[64], s[80];
    snprintf(p, sizeof p, prefix, i);
    am_bn bn;
    snprintf(s, sizeof s, "%s.gamma", p); bn.gamma = view(m, s, 0);
    snprintf(s, sizeof s, "%s.beta", p);  bn.beta = view(m, s, 0);
    snprintf(s, sizeof s, "%s.mean", p);  bn.mean = view(m, s, 0);
    snprintf(s, sizeof s, "%s.var", p);   bn.var = view(m, s, 0);
    return bn;
}

size_t am_model_count_params(const am_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].family == AM_PARAM) n += m->tensors[i].n;
    return n;
}

int am_model_check_size(int size) {
    if (size < 32) return am_seterr("image size %d: EfficientNet needs at least 32x32 pixels", size);
    return 0;
}

int am_model_init(am_model *m, const char *arch, int in_ch, int classes, uint64_t seed) {
    memset(m, 0, sizeof *m);
    if (am_arch_init(&m->arch, arch, in_ch, classes)) return -1;
    build_table(m);
    m->params = AM_CALLOC(sizeof(float) * m->nparams);  // zeroed: the padding stays 0
    m->grads = AM_CALLOC(sizeof(float) * m->nparams);
    m->stats = AM_CALLOC(sizeof(float) * m->nstats);
    m->stem_w = view(m, "stem.conv", 0);
    m->stem_bn = bn_view(m, "stem.bn", 0);
    for (int i = 0; i < m->arch.nblocks; i++) {
        am_block_params *p = &m->blk[i];
        p->expand = view(m, "blocks.%d.expand.conv", i);
        p->bn0 = bn_view(m, "blocks.%d.expand.bn", i);
        p->dw = view(m, "blocks.%d.dw.conv", i);
        p->bn1 = bn_view(m, "blocks.%d.dw.bn", i);
        p->se_rw = view(m, "blocks.%d.se.reduce.w", i);
        p->se_rb = view(m, "blocks.%d.se.reduce.b", i);
        p->se_ew = view(m, "blocks.%d.se.expand.w", i);
        p->se_eb = view(m, "blocks.%d.se.expand.b", i);
        p->project = view(m, "blocks.%d.project.conv", i);
        p->bn2 = bn_view(m, "blocks.%d.project.bn", i);
    }
    m->head_w = view(m, "head.conv", 0);
    m->head_bn = bn_view(m, "head.bn", 0);
    m->fc_w = view(m, "fc.w", 0);
    m->fc_b = view(m, "fc.b", 0);
    m->bn_momentum = 0.01f;
    m->bn_eps = 1e-3f;
    m->dropout = m->arch.dropout;
    m->drop_connect = 0.2f;
    am_model_init_weights(m, seed);
    return 0;
}

void am_model_free(am_model *m) {
    free(m->params);
    free(m->grads);
    free(m->stats);
    free(m->acts.base);
    memset(m, 0, sizeof *m);
}

// Element i of a tensor's init stream: uniform words from one Philox call per
// four elements; normals by Box-Muller on word pairs (cos for even, sin for odd).
static float init_uniform(uint64_t seed, uint32_t stream, size_t i) {
    return am_rand_u01(seed, stream, 0, (uint32_t)i);
}

static float init_normal(uint64_t seed, uint32_t stream, size_t i) {
    size_t pair = i & ~(size_t)1;
    float u1 = 1.0f - am_rand_u01(seed, stream, 1, (uint32_t)pair);
    float u2 = am_rand_u01(seed, stream, 1, (uint32_t)pair + 1);
    float r = sqrtf(-2.0f * logf(u1)), a = 6.28318530718f * u2;
    return r * (i & 1 ? sinf(a) : cosf(a));
}

static void init_tensor(am_model *m, int ti, uint64_t seed) {
    const am_tensor *t = &m->tensors[ti];
    float *d = am_model_data(m, t);
    const char *name = t->name;
    size_t len = strlen(name), n = t->n;
    uint32_t stream = STREAM_INIT + (uint32_t)ti;
#define ENDS(s) (len >= strlen(s) && !strcmp(name + len - strlen(s), s))
    if (ENDS(".gamma") || ENDS(".var")) {
        for (size_t i = 0; i < n; i++) d[i] = 1.0f;
    } else if (ENDS(".beta") || ENDS(".mean") || ENDS(".b")) {
        memset(d, 0, sizeof(float) * n);
    } else if (!strcmp(name, "fc.w")) {
        float r = 1.0f / sqrtf((float)t->shape[0]);
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) d[i] = r * (2.0f * init_uniform(seed, stream, i) - 1.0f);
    } else {
        // Convolutions: fan_out = kh*kw*out; depthwise (k,k,C): kh*kw.
        int fan_out = ENDS(".dw.conv") ? t->shape[0] * t->shape[1]
                    : t->ndim == 4 ? t->shape[0] * t->shape[1] * t->shape[2] : t->shape[0];
        float sd = sqrtf(2.0f / fan_out);
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) d[i] = sd * init_normal(seed, stream, i);
    }
#undef ENDS
}

void am_model_init_weights(am_model *m, uint64_t seed) {
    for (int i = 0; i < m->ntensors; i++) init_tensor(m, i, seed);
}

void am_model_init_fc(am_model *m, uint64_t seed) {
    // PyTorch's nn.Linear default, as the Python tool's replaced head:
    // weight and bias U(+-1/sqrt(in_features)).
    const am_tensor *w = am_model_find(m, "fc.w"), *b = am_model_find(m, "fc.b");
    float r = 1.0f / sqrtf((float)w->shape[1]);
    float *dw = am_model_data(m, w), *db = am_model_data(m, b);
    uint32_t sw = STREAM_INIT + (uint32_t)(w - m->tensors), sb = STREAM_INIT + (uint32_t)(b - m->tensors);
    for (size_t i = 0; i < w->n; i++) dw[i] = r * (2.0f * init_uniform(seed, sw, i) - 1.0f);
    for (size_t i = 0; i < b->n; i++) db[i] = r * (2.0f * init_uniform(seed, sb, i) - 1.0f);
}

void am_zero_grad(am_model *m) { memset(m->grads, 0, sizeof(float) * m->nparams); }

// Carves the activation family for (N, S); with base NULL it only counts.
static size_t layout_acts(am_acts *A, const am_arch *a, int N, int S, float *base) {
    size_t off = 0, gmax = 0;
#define TAKE(n) (off += (n), base ? base + off - (n) : NULL)
#define GMAX(n) do { size_t n_ = (n); if (n_ > gmax) gmax = n_; } while (0)
    int H = am_same_out(S, 2);
    size_t M = (size_t)N * H * H;
    A->col = TAKE(M * 9 * a->in_ch);
    A->sx = TAKE(M * a->stem);
    A->sa = TAKE(M * a->stem);
    A->smean = TAKE(a->stem);
    A->srstd = TAKE(a->stem);
    GMAX(M * 9 * a->in_ch);
    GMAX(M * a->stem);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        am_block_acts *B = &A->b[i];
        B->H = B->W = H;
        B->Ho = B->Wo = am_same_out(H, b->stride);
        size_t Mi = (size_t)N * H * H, Mo = (size_t)N * B->Ho * B->Wo;
        if (b->expand != 1) { B->ex = TAKE(Mi * b->mid); B->ea = TAKE(Mi * b->mid); }
        B->dx = TAKE(Mo * b->mid);
        B->da = TAKE(Mo * b->mid);
        if (b->se) {
            B->pooled = TAKE((size_t)N * b->mid);
            B->hid = TAKE((size_t)N * b->se);
            B->gate = TAKE((size_t)N * b->mid);
            B->so = TAKE(Mo * b->mid);
        }
        B->px = TAKE(Mo * b->out);
        B->pb = TAKE(Mo * b->out);
        B->out = b->skip ? TAKE(Mo * b->out) : B->pb;
        B->dc = TAKE(N);
        for (int j = 0; j < 3; j++) { B->mean[j] = TAKE(b->mid > b->out ? b->mid : b->out); B->rstd[j] = TAKE(b->mid > b->out ? b->mid : b->out); }
        GMAX(Mi * b->mid);
        GMAX(Mi * b->in);
        GMAX(Mo * b->mid);
        GMAX(Mo * b->out);
        H = B->Ho;
    }
    M = (size_t)N * H * H;
    A->hx = TAKE(M * a->head);
    A->ha = TAKE(M * a->head);
    A->hmean = TAKE(a->head);
    A->hrstd = TAKE(a->head);
    A->pooled = TAKE((size_t)N * a->head);
    A->mask = TAKE((size_t)N * a->head);
    A->dropped = TAKE((size_t)N * a->head);
    A->logits = TAKE((size_t)N * a->classes);
    A->probs = TAKE((size_t)N * a->classes);
    GMAX(M * a->head);
    for (int j = 0; j < 4; j++) A->g[j] = TAKE(gmax);
    A->gsize = gmax;
#undef TAKE
#undef GMAX
    return off;
}

static void reserve(am_model *m, int N, int S) {
    am_acts *A = &m->acts;
    if (A->base && A->N == N && A->size == S) return;
    free(A->base);
    size_t n = layout_acts(A, &m->arch, N, S, NULL);
    float *base = AM_MALLOC(sizeof(float) * n);
    layout_acts(A, &m->arch, N, S, base);
    A->base = base;
    A->nfloats = n;
    A->N = N;
    A->size = S;
}

static void bn_fwd(am_model *m, float *out, float *mean, float *rstd, const float *x,
                   const am_bn *bn, size_t M, int C, int act, int train) {
    bn_act_forward(out, mean, rstd, x, bn->gamma, bn->beta, bn->mean, bn->var, (int)M, C, act,
                   train, m->bn_momentum, m->bn_eps);
}

static void bn_bwd(am_model *m, float *dx, const float *x, const float *mean, const float *rstd,
                   const am_bn *bn, size_t M, int C, int act) {
    bn_act_backward(dx, GR(m, bn->gamma), GR(m, bn->beta), dx, x, mean, rstd, bn->gamma,
                    bn->beta, (int)M, C, act);
}

float *am_forward(am_model *m, const float *x, int N, int S, int train, uint64_t seed, uint64_t step) {
    const am_arch *a = &m->arch;
    reserve(m, N, S);
    am_acts *A = &m->acts;
    A->x = x;
    int H = am_same_out(S, 2);
    if (m->prof) m->prof->pass = AM_PROF_FWD;
    MARK(m, "stem conv", -1, (size_t)N * S * S * a->in_ch + (size_t)N * H * H * a->stem);
    conv2d_forward(A->sx, A->col, x, m->stem_w, N, S, S, a->in_ch, a->stem, 3, 2);
    MARK(m, "stem bn", -1, 2 * (size_t)N * H * H * a->stem);
    bn_fwd(m, A->sa, A->smean, A->srstd, A->sx, &m->stem_bn, (size_t)N * H * H, a->stem, a->act, train);
    const float *cur = A->sa;
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        const am_block_params *p = &m->blk[i];
        am_block_acts *B = &A->b[i];
        size_t Mi = (size_t)N * B->H * B->W, Mo = (size_t)N * B->Ho * B->Wo;
        const float *t = cur;
        if (b->expand != 1) {
            MARK(m, "expand conv", i, Mi * (b->in + b->mid));
            pwconv_forward(B->ex, cur, p->expand, (int)Mi, b->in, b->mid);
            MARK(m, "expand bn", i, 2 * Mi * b->mid);
            bn_fwd(m, B->ea, B->mean[0], B->rstd[0], B->ex, &p->bn0, Mi, b->mid, a->act, train);
            t = B->ea;
        }
        MARK(m, "dw conv", i, (Mi + Mo) * b->mid);
        dwconv_forward(B->dx, t, p->dw, N, B->H, B->W, b->mid, b->k, b->stride);
        MARK(m, "dw bn", i, 2 * Mo * b->mid);
        bn_fwd(m, B->da, B->mean[1], B->rstd[1], B->dx, &p->bn1, Mo, b->mid, a->act, train);
        t = B->da;
        if (b->se) {
            MARK(m, "se", i, 3 * Mo * b->mid);
            se_forward(B->so, B->pooled, B->hid, B->gate, B->da, p->se_rw, p->se_rb, p->se_ew,
                       p->se_eb, N, B->Ho * B->Wo, b->mid, b->se);
            t = B->so;
        }
        MARK(m, "project conv", i, Mo * (b->mid + b->out));
        pwconv_forward(B->px, t, p->project, (int)Mo, b->mid, b->out);
        MARK(m, "project bn", i, 2 * Mo * b->out);
        bn_fwd(m, B->pb, B->mean[2], B->rstd[2], B->px, &p->bn2, Mo, b->out, AM_ACT_NONE, train);
        if (b->skip) {
            float rate = train ? m->drop_connect * i / a->nblocks : 0.0f;
            MARK(m, "residual", i, 3 * Mo * b->out);
            drop_connect_add_forward(B->out, B->dc, B->pb, cur, N, (int)(Mo / N) * b->out, rate,
                                     seed, STREAM_DROP_CONNECT + i, step);
        }
        cur = B->out;
        H = B->Ho;
    }
    size_t M = (size_t)N * H * H;
    int last = a->blocks[a->nblocks - 1].out;
    MARK(m, "head conv", -1, M * (last + a->head));
    pwconv_forward(A->hx, cur, m->head_w, (int)M, last, a->head);
    MARK(m, "head bn", -1, 2 * M * a->head);
    bn_fwd(m, A->ha, A->hmean, A->hrstd, A->hx, &m->head_bn, M, a->head, a->act, train);
    MARK(m, "pool, dropout, fc", -1, M * a->head);
    gap_forward(A->pooled, A->ha, N, H * H, a->head);
    dropout_forward(A->dropped, A->mask, A->pooled, N * a->head, train ? m->dropout : 0.0f, seed,
                    STREAM_DROPOUT, step);
    fc_forward(A->logits, A->dropped, m->fc_w, m->fc_b, N, a->head, a->classes);
    if (m->prof) am_prof_mark(m->prof, NULL, 0, 0.0);
    return A->logits;
}

void am_backward(am_model *m, const float *dlogits) {
    const am_arch *a = &m->arch;
    am_acts *A = &m->acts;
    int N = A->N, nb = a->nblocks;
    int H = A->b[nb - 1].Ho;
    size_t M = (size_t)N * H * H;
    int last = a->blocks[nb - 1].out;
    float **g = A->g;
    if (m->prof) m->prof->pass = AM_PROF_BWD;
    MARK(m, "pool, dropout, fc", -1, M * a->head);
    fc_backward(g[0], GR(m, m->fc_w), GR(m, m->fc_b), dlogits, A->dropped, m->fc_w, N, a->head, a->classes);
    dropout_backward(g[0], g[0], A->mask, N * a->head);
    gap_backward(g[1], g[0], N, H * H, a->head);
    MARK(m, "head bn", -1, 4 * M * a->head);
    bn_bwd(m, g[1], A->hx, A->hmean, A->hrstd, &m->head_bn, M, a->head, a->act);
    MARK(m, "head conv", -1, M * (2 * last + a->head));
    pwconv_backward(g[0], GR(m, m->head_w), g[1], A->b[nb - 1].out, m->head_w, (int)M, last, a->head);
    int ia = 0;  // g[ia] holds the gradient w.r.t. the current block's output
    for (int i = nb - 1; i >= 0; i--) {
        const am_block_cfg *b = &a->blocks[i];
        const am_block_params *p = &m->blk[i];
        am_block_acts *B = &A->b[i];
        size_t Mi = (size_t)N * B->H * B->W, Mo = (size_t)N * B->Ho * B->Wo;
        const float *in = i ? A->b[i - 1].out : A->sa;
        int ib = b->skip ? (ia + 1) % 4 : ia;
        int ic = (ib + 1) % 4 == ia ? (ib + 2) % 4 : (ib + 1) % 4;
        int id = 0;
        while (id == ia || id == ib || id == ic) id++;
        if (b->skip) {
            MARK(m, "residual", i, 2 * Mo * b->out);
            drop_connect_add_backward(g[ib], g[ia], g[ia], B->dc, N, (int)(Mo / N) * b->out);
        }
        MARK(m, "project bn", i, 4 * Mo * b->out);
        bn_bwd(m, g[ib], B->px, B->mean[2], B->rstd[2], &p->bn2, Mo, b->out, AM_ACT_NONE);
        MARK(m, "project conv", i, Mo * (2 * b->mid + b->out));
        pwconv_backward(g[ic], GR(m, p->project), g[ib], b->se ? B->so : B->da, p->project, (int)Mo, b->mid, b->out);
        if (b->se) {
            MARK(m, "se", i, 3 * Mo * b->mid);
            se_backward(g[ic], GR(m, p->se_rw), GR(m, p->se_rb), GR(m, p->se_ew), GR(m, p->se_eb), g[ic],
                        B->da, B->pooled, B->hid, B->gate, p->se_rw, p->se_ew, N, B->Ho * B->Wo, b->mid, b->se);
        }
        MARK(m, "dw bn", i, 4 * Mo * b->mid);
        bn_bwd(m, g[ic], B->dx, B->mean[1], B->rstd[1], &p->bn1, Mo, b->mid, a->act);
        MARK(m, "dw conv", i, (2 * Mi + Mo) * b->mid);
        dwconv_backward(g[id], GR(m, p->dw), g[ic], b->expand != 1 ? B->ea : in, p->dw, N, B->H, B->W, b->mid, b->k, b->stride);
        int ie = id;
        if (b->expand != 1) {
            MARK(m, "expand bn", i, 4 * Mi * b->mid);
            bn_bwd(m, g[id], B->ex, B->mean[0], B->rstd[0], &p->bn0, Mi, b->mid, a->act);
            ie = ib;
            MARK(m, "expand conv", i, Mi * (2 * b->in + b->mid));
            pwconv_backward(g[ie], GR(m, p->expand), g[id], in, p->expand, (int)Mi, b->in, b->mid);
        }
        if (b->skip) {
            MARK(m, "skip add", i, 3 * Mi * b->in);
            float *e = g[ie];
            const float *s = g[ia];
            size_t n = Mi * b->in;
            for (size_t j = 0; j < n; j++) e[j] += s[j];
        }
        ia = ie;
    }
    H = A->b[0].H;
    MARK(m, "stem bn", -1, 4 * (size_t)N * H * H * a->stem);
    bn_bwd(m, g[ia], A->sx, A->smean, A->srstd, &m->stem_bn, (size_t)N * H * H, a->stem, a->act);
    MARK(m, "stem conv", -1, (size_t)N * H * H * a->stem + (size_t)N * A->size * A->size * a->in_ch);
    conv2d_backward(NULL, GR(m, m->stem_w), NULL, g[ia], A->col, m->stem_w, N, A->size, A->size,
                    a->in_ch, a->stem, 3, 2);
    if (m->prof) am_prof_mark(m->prof, NULL, 0, 0.0);
}
