// EfficientNet model: tensor table, allocation families, initialisation,
// the activation layout every backend binds, and the CPU's forward and
// backward (the orchestration of src/model/net.c over src/cpu/backend.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/model.h"
#include "am/net.h"
#include "am/philox.h"
#include "../../kernels/conv_math.h"

enum { STREAM_INIT = 0x10000 };

static void add_tensor(am_model *m, const char *name, am_role role, int ndim, int d0, int d1, int d2, int d3) {
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
    t->role = role;
    t->family = role == AM_ROLE_BN_MEAN || role == AM_ROLE_BN_VAR ? AM_STAT : AM_PARAM;
    t->decay = role == AM_ROLE_CONV || role == AM_ROLE_DWCONV || role == AM_ROLE_SE_W || role == AM_ROLE_FC_W;
    // Each tensor takes whole blocks of AM_TENSOR_ALIGN elements (model.h).
    size_t *count = t->family == AM_PARAM ? &m->nparams : &m->nstats;
    t->offset = *count;
    *count += (t->n + AM_TENSOR_ALIGN - 1) / AM_TENSOR_ALIGN * AM_TENSOR_ALIGN;
}

static void add_bn(am_model *m, const char *prefix, int C) {
    char s[64];
    snprintf(s, sizeof s, "%s.gamma", prefix); add_tensor(m, s, AM_ROLE_BN_GAMMA, 1, C, 0, 0, 0);
    snprintf(s, sizeof s, "%s.beta", prefix);  add_tensor(m, s, AM_ROLE_BN_BETA, 1, C, 0, 0, 0);
    snprintf(s, sizeof s, "%s.mean", prefix);  add_tensor(m, s, AM_ROLE_BN_MEAN, 1, C, 0, 0, 0);
    snprintf(s, sizeof s, "%s.var", prefix);   add_tensor(m, s, AM_ROLE_BN_VAR, 1, C, 0, 0, 0);
}

static void build_table(am_model *m) {
    const am_arch *a = &m->arch;
    char s[64];
    add_tensor(m, "stem.conv", AM_ROLE_CONV, 4, a->stem, 3, 3, a->in_ch);
    add_bn(m, "stem.bn", a->stem);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        if (b->expand != 1) {
            snprintf(s, sizeof s, "blocks.%d.expand.conv", i);
            add_tensor(m, s, AM_ROLE_CONV, 2, b->mid, b->in, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.expand.bn", i);
            add_bn(m, s, b->mid);
        }
        snprintf(s, sizeof s, "blocks.%d.dw.conv", i);
        add_tensor(m, s, AM_ROLE_DWCONV, 3, b->k, b->k, b->mid, 0);
        snprintf(s, sizeof s, "blocks.%d.dw.bn", i);
        add_bn(m, s, b->mid);
        if (b->se) {
            snprintf(s, sizeof s, "blocks.%d.se.reduce.w", i); add_tensor(m, s, AM_ROLE_SE_W, 2, b->se, b->mid, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.se.reduce.b", i); add_tensor(m, s, AM_ROLE_BIAS, 1, b->se, 0, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.se.expand.w", i); add_tensor(m, s, AM_ROLE_SE_W, 2, b->mid, b->se, 0, 0);
            snprintf(s, sizeof s, "blocks.%d.se.expand.b", i); add_tensor(m, s, AM_ROLE_BIAS, 1, b->mid, 0, 0, 0);
        }
        snprintf(s, sizeof s, "blocks.%d.project.conv", i);
        add_tensor(m, s, AM_ROLE_CONV, 2, b->out, b->mid, 0, 0);
        snprintf(s, sizeof s, "blocks.%d.project.bn", i);
        add_bn(m, s, b->out);
    }
    add_tensor(m, "head.conv", AM_ROLE_CONV, 2, a->head, a->blocks[a->nblocks - 1].out, 0, 0);
    add_bn(m, "head.bn", a->head);
    add_tensor(m, "fc.w", AM_ROLE_FC_W, 2, a->classes, a->head, 0, 0);
    add_tensor(m, "fc.b", AM_ROLE_BIAS, 1, a->classes, 0, 0, 0);
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
    size_t n = t->n;
    uint32_t stream = STREAM_INIT + (uint32_t)ti;
    switch (t->role) {
    case AM_ROLE_BN_GAMMA:
    case AM_ROLE_BN_VAR:
        for (size_t i = 0; i < n; i++) d[i] = 1.0f;
        break;
    case AM_ROLE_BN_BETA:
    case AM_ROLE_BN_MEAN:
    case AM_ROLE_BIAS:
        memset(d, 0, sizeof(float) * n);
        break;
    case AM_ROLE_FC_W: {
        float r = 1.0f / sqrtf((float)t->shape[0]);
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) d[i] = r * (2.0f * init_uniform(seed, stream, i) - 1.0f);
        break;
    }
    case AM_ROLE_CONV:
    case AM_ROLE_DWCONV:
    case AM_ROLE_SE_W: {
        // fan_out = kh*kw*out; depthwise (k,k,C): kh*kw; (out,in): out.
        int fan_out = t->role == AM_ROLE_DWCONV ? t->shape[0] * t->shape[1]
                    : t->ndim == 4 ? t->shape[0] * t->shape[1] * t->shape[2] : t->shape[0];
        float sd = sqrtf(2.0f / fan_out);
        #pragma omp parallel for
        for (size_t i = 0; i < n; i++) d[i] = sd * init_normal(seed, stream, i);
        break;
    }
    }
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

static int imax(int a, int b) { return a > b ? a : b; }

size_t am_acts_layout(am_acts *A, const am_arch *a, int N, int S, const am_acts_spec *sp, char *base) {
    size_t off = 0, gmax = 0, es = sp->es, al = sp->align;
#define TAKE(bytes) (off = (off + al - 1) / al * al + (bytes), base ? (void *)(base + off - (bytes)) : NULL)
#define TAKEA(n) TAKE((size_t)(n) * es)
#define TAKEF(n) ((float *)TAKE(sizeof(float) * (size_t)(n)))
#define GMAX(n) do { size_t n_ = (n); if (n_ > gmax) gmax = n_; } while (0)
    int cmax = imax(imax(a->stem, a->head), a->classes);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        cmax = imax(cmax, imax(imax(b->in, b->mid), imax(b->out, b->se)));
    }
    A->N = N;
    A->size = S;
    A->cmax = cmax;
    A->base = base;
    A->xin = sp->own_input ? TAKEF((size_t)N * S * S * a->in_ch) : NULL;
    A->x = A->xin;
    A->stem_in = TAKEA(sp->stem_in);
    int H = am_same_out(S, 2);
    size_t M = (size_t)N * H * H;
    A->sx = TAKEA(M * a->stem);
    A->sa = TAKEA(M * a->stem);
    A->smean = TAKEF(a->stem);
    A->srstd = TAKEF(a->stem);
    GMAX(M * a->stem);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        am_block_acts *B = &A->b[i];
        memset(B, 0, sizeof *B);
        B->H = B->W = H;
        B->Ho = B->Wo = am_same_out(H, b->stride);
        size_t Mi = (size_t)N * H * H, Mo = (size_t)N * B->Ho * B->Wo;
        if (b->expand != 1) { B->ex = TAKEA(Mi * b->mid); B->ea = TAKEA(Mi * b->mid); }
        B->dx = TAKEA(Mo * b->mid);
        B->da = TAKEA(Mo * b->mid);
        if (b->se) {
            B->pooled = TAKEF((size_t)N * b->mid);
            B->hid = TAKEF((size_t)N * b->se);
            B->gate = TAKEF((size_t)N * b->mid);
            B->so = TAKEA(Mo * b->mid);
        }
        B->px = TAKEA(Mo * b->out);
        B->pb = TAKEA(Mo * b->out);
        B->out = b->skip ? TAKEA(Mo * b->out) : B->pb;
        B->dc = TAKEF(N);
        int cm = imax(b->mid, b->out);
        for (int j = 0; j < 3; j++) { B->mean[j] = TAKEF(cm); B->rstd[j] = TAKEF(cm); }
        GMAX(Mi * b->mid);
        GMAX(Mi * b->in);
        GMAX(Mo * b->mid);
        GMAX(Mo * b->out);
        H = B->Ho;
    }
    M = (size_t)N * H * H;
    A->hx = TAKEA(M * a->head);
    A->ha = TAKEA(M * a->head);
    A->hmean = TAKEF(a->head);
    A->hrstd = TAKEF(a->head);
    A->pooled = TAKEF((size_t)N * a->head);
    A->mask = TAKEF((size_t)N * a->head);
    A->dropped = TAKEF((size_t)N * a->head);
    A->logits = TAKEF((size_t)N * a->classes);
    A->ghead = TAKEF((size_t)N * a->head);
    A->dz = TAKEF((size_t)N * cmax);
    A->dpool = TAKEF((size_t)N * cmax);
    A->dh = TAKEF((size_t)N * cmax);
    GMAX(M * a->head);
    for (int j = 0; j < 4; j++) A->g[j] = TAKEA(gmax);
    A->gsize = gmax;
    off = (off + al - 1) / al * al;
    A->bytes = off;
#undef TAKE
#undef TAKEA
#undef TAKEF
#undef GMAX
    return off;
}

// The CPU's activations for (N, S): cache-line aligned floats, the caller's
// input, the stem's im2col matrix as its scratch.
static void reserve(am_model *m, int N, int S) {
    am_acts *A = &m->acts;
    if (A->base && A->N == N && A->size == S) return;
    free(A->base);
    int H = am_same_out(S, 2);
    am_acts_spec sp = {sizeof(float), 64, 0, (size_t)N * H * H * 9 * m->arch.in_ch};
    size_t bytes = am_acts_layout(A, &m->arch, N, S, &sp, NULL);
    char *base = aligned_alloc(64, bytes);
    if (!base) am_fatalf(__FILE__, __LINE__, "out of memory: %zu bytes of activations for batch %d at %d px", bytes, N, S);
    am_acts_layout(A, &m->arch, N, S, &sp, base);
}

static am_net cpu_net(am_model *m) {
    return (am_net){&am_cpu_backend, m, m, &m->acts, m->prof, 0, sizeof(float)};
}

float *am_forward(am_model *m, const float *x, int N, int S, int train, uint64_t seed, uint64_t step) {
    reserve(m, N, S);
    m->acts.x = x;
    am_net n = cpu_net(m);
    return am_net_forward(&n, train, seed, step);
}

void am_backward(am_model *m, const float *dlogits) {
    am_net n = cpu_net(m);
    am_net_backward(&n, dlogits);
}
