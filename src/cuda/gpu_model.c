// EfficientNet on the GPU: the device families (params, grads, stats at the
// host table's offsets), the activation family for (N, size) in one
// allocation, and the forward/backward orchestration, step for step the same
// as src/model/model.c over cuDNN (stem, pointwise), cuBLAS (FC) and
// kernels/*.cu (the rest).
// Gradient rule: parameter gradients accumulate into g->grads (+=); the
// activation gradients live in four scratch buffers and are assigned, except
// at the residual merge where the skip gradient is added.
// Also the programs' choice of device and precision (any build).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/device.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/gpu_dwconv.h"
#include "am/prof.h"
#include "../../kernels/act_math.h"
#include "../../kernels/conv_math.h"

int am_device_pick(const char *s, const char *prog, int *ordinal) {
    if (!strcmp(s, "auto")) {
        char why[256];
        *ordinal = am_cuda_device_count(why, sizeof why) > 0 ? 0 : -1;
        if (*ordinal < 0) fprintf(stderr, "%s: no GPU (%s); running on the CPU\n", prog, why);
        return 0;
    }
    int k;
    if (strcmp(s, "cpu") && strcmp(s, "cuda") && sscanf(s, "cuda:%d", &k) != 1)
        return am_seterr("unknown device '%s': expected auto, cpu, cuda or cuda:N", s);
    if (!am_device_parse(s, ordinal)) return 0;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", am_error());
    return am_seterr("%s; use --device cpu (or auto: a GPU where there is one, else the CPU)", msg);
}

int am_precision_pick(const char *s, int ordinal, int *dt) {
    if (!strcmp(s, "auto")) *dt = ordinal >= 0 ? AM_BF16 : AM_F32;
    else if (!strcmp(s, "fp32")) *dt = AM_F32;
    else if (!strcmp(s, "bf16")) *dt = AM_BF16;
    else return am_seterr("--precision %s: expected auto, fp32 or bf16", s);
    if (ordinal < 0 && *dt == AM_BF16) return am_seterr("--precision bf16 runs on cuda only; the CPU engine is fp32");
    return 0;
}

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>

// The Philox streams of src/model/model.c.
enum { STREAM_DROPOUT = 0xD0, STREAM_DROP_CONNECT = 0x100 };

#define DP(g, p) ((g)->params + ((p) - (g)->host->params))
#define DG(g, p) ((g)->grads + ((p) - (g)->host->params))
#define DS(g, p) ((g)->stats + ((p) - (g)->host->stats))
// Opens the next op of the per-layer profile, when one is attached; n: the
// activation elements the op reads and writes.
#define MARK(g, op, blk, n) \
    do { if ((g)->prof) am_prof_mark((g)->prof, (op), (blk), (double)am_dt_size((g)->dt) * (double)(n)); } while (0)

// A convolution weight as cuDNN reads it: the bf16 copy in bf16 mode.
static const void *conv_w(am_gpu_model *g, const float *p) {
    if (g->dt == AM_BF16) return g->params16 + (p - g->host->params);
    return DP(g, p);
}

static int imax(int a, int b) { return a > b ? a : b; }

// Every tensor that cuDNN or cuBLAS reads or writes starts on a 256-byte
// boundary: their tensor-core kernels need 16 bytes, and cudnnFind times its
// algorithms on aligned buffers of its own, so that the one chosen could fail
// on a misaligned tensor. The families are cudaMalloc'd (256-byte aligned)
// and the model pads every tensor's offset to AM_TENSOR_ALIGN elements
// (include/am/model.h); the activations are carved at 256-byte steps.
static void check_aligned(const void *p, const char *family, const char *name) {
    if ((uintptr_t)p % 256)
        am_fatalf(__FILE__, __LINE__,
                  "the %s of tensor %s at %p is not 256-byte aligned, as cuDNN and cuBLAS need: the model's tensor "
                  "offsets must be multiples of AM_TENSOR_ALIGN (include/am/model.h)",
                  family, name, p);
}

int am_gpu_model_init(am_gpu_model *g, am_model *m, int device, int dt) {
    memset(g, 0, sizeof *g);
    AM_CHECK(dt == AM_F32 || dt == AM_BF16, "dtype must be AM_F32 or AM_BF16");
    if (am_gpu_ctx_init(&g->ctx, device)) return -1;
    g->host = m;
    g->dt = dt;
    const char *fuse = getenv("AM_FUSE");
    g->fuse = !(fuse && !strcmp(fuse, "0"));
    g->graphs = am_gpu_graphs_wanted(0);
    const am_arch *a = &m->arch;
    am_gpu_ctx *c = &g->ctx;
    g->params = am_gpu_alloc(c, sizeof(float) * m->nparams, "the parameters");
    g->grads = am_gpu_alloc(c, sizeof(float) * m->nparams, "the gradients");
    g->stats = am_gpu_alloc(c, sizeof(float) * m->nstats, "the BN statistics");
    uint8_t *decay = AM_CALLOC(m->nparams);
    size_t wmax = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        if (t->family != AM_PARAM) continue;
        if (t->decay) memset(decay + t->offset, 1, t->n);
        int conv = (t->ndim == 4 || t->ndim == 2) && strncmp(t->name, "fc.", 3) && !strstr(t->name, ".se.");
        if (conv && t->n > wmax) wmax = t->n;
    }
    g->wmax = wmax;
    g->decay = am_gpu_alloc(c, m->nparams, "the weight-decay flags");
    am_gpu_upload(c, g->decay, decay, m->nparams);
    free(decay);
    if (dt == AM_BF16) {
        g->params16 = am_gpu_alloc(c, 2 * m->nparams, "the bf16 parameters");
        g->wgrad16 = am_gpu_alloc(c, 2 * wmax, "the bf16 weight-gradient scratch");
    }
    int cmax = imax(imax(a->stem, a->head), a->classes);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        cmax = imax(cmax, imax(imax(b->in, b->mid), imax(b->out, b->se)));
    }
    g->cmax = cmax;
    g->work = am_gpu_alloc(c, sizeof(double) * 3 * cmax, "the BN scratch");
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        if (t->family == AM_STAT) {
            check_aligned(g->stats + t->offset, "BN statistics", t->name);
            continue;
        }
        check_aligned(g->params + t->offset, "parameters", t->name);
        check_aligned(g->grads + t->offset, "gradients", t->name);
        if (g->params16) check_aligned(g->params16 + t->offset, "bf16 parameters", t->name);
    }
    am_gpu_model_upload(g);
    AM_CUDA(cudaMemsetAsync(g->grads, 0, sizeof(float) * m->nparams, (cudaStream_t)c->stream));
    am_gpu_sync(c);
    return 0;
}

static void drop_graph(am_gpu_model *g) {
    if (g->graph) AM_CUDA(cudaGraphExecDestroy((cudaGraphExec_t)g->graph));
    g->graph = NULL;
}

void am_gpu_model_free(am_gpu_model *g) {
    if (!g->host) return;
    am_gpu_ctx *c = &g->ctx;
    size_t n = g->host->nparams;
    am_gpu_sync(c);
    drop_graph(g);
    am_gpu_free(c, g->abase, g->abytes);
    am_gpu_free(c, g->params, sizeof(float) * n);
    am_gpu_free(c, g->grads, sizeof(float) * n);
    am_gpu_free(c, g->stats, sizeof(float) * g->host->nstats);
    am_gpu_free(c, g->decay, n);
    am_gpu_free(c, g->params16, 2 * n);
    am_gpu_free(c, g->wgrad16, 2 * g->wmax);
    am_gpu_free(c, g->mom, sizeof(float) * n);
    am_gpu_free(c, g->ema, sizeof(float) * n);
    am_gpu_free(c, g->work, sizeof(double) * 3 * g->cmax);
    am_gpu_ctx_free(c);
    memset(g, 0, sizeof *g);
}

void am_gpu_model_upload(am_gpu_model *g) {
    am_gpu_upload(&g->ctx, g->params, g->host->params, sizeof(float) * g->host->nparams);
    am_gpu_upload(&g->ctx, g->stats, g->host->stats, sizeof(float) * g->host->nstats);
}

void am_gpu_model_download(am_gpu_model *g, float *params, float *grads, float *stats) {
    size_t n = sizeof(float) * g->host->nparams;
    if (params) am_gpu_download(&g->ctx, params, g->params, n);
    if (grads) am_gpu_download(&g->ctx, grads, g->grads, n);
    if (stats) am_gpu_download(&g->ctx, stats, g->stats, sizeof(float) * g->host->nstats);
}

// The stem's TF-SAME padding for input size S (k 3, stride 2).
static void stem_pad(int S, int *pt, int *pb) {
    int H = am_same_out(S, 2), pad = (H - 1) * 2 + 3 - S;
    if (pad < 0) pad = 0;
    *pt = am_same_pad_before(S, 3, 2);
    *pb = pad - *pt;
}

// Carves the activation family for (N, S) from base (NULL: only counts
// bytes), every tensor at a 256-byte step. *largest: the most elements of
// one tensor that cuDNN is handed (forward, backward-data, backward-filter,
// depthwise), the padded stem input included.
static size_t layout(am_gpu_model *g, int N, int S, char *base, size_t *largest) {
    const am_arch *a = &g->host->arch;
    size_t off = 0, gmax = 0, es = am_dt_size(g->dt);
#define TAKE(bytes) (off = ((off + 255) & ~(size_t)255) + (bytes), base ? (void *)(base + off - (bytes)) : NULL)
#define TAKEA(n) TAKE((size_t)(n) * es)
#define TAKEF(n) ((float *)TAKE(sizeof(float) * (size_t)(n)))
#define GMAX(n) do { size_t n_ = (n); if (n_ > gmax) gmax = n_; } while (0)
    int pt, pb;
    stem_pad(S, &pt, &pb);
    int Sp = S + pt + pb, H = am_same_out(S, 2);
    size_t M = (size_t)N * H * H;
    g->xin = TAKEF((size_t)N * S * S * a->in_ch);
    g->xpad = TAKEA((size_t)N * Sp * Sp * a->in_ch);
    g->sx = TAKEA(M * a->stem);
    g->sa = TAKEA(M * a->stem);
    g->smean = TAKEF(a->stem);
    g->srstd = TAKEF(a->stem);
    GMAX(M * a->stem);
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        am_gpu_block *B = &g->b[i];
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
    g->hx = TAKEA(M * a->head);
    g->ha = TAKEA(M * a->head);
    g->hmean = TAKEF(a->head);
    g->hrstd = TAKEF(a->head);
    g->pooled = TAKEF((size_t)N * a->head);
    g->mask = TAKEF((size_t)N * a->head);
    g->dropped = TAKEF((size_t)N * a->head);
    g->logits = TAKEF((size_t)N * a->classes);
    g->ghead = TAKEF((size_t)N * a->head);
    g->dz = TAKEF((size_t)N * g->cmax);
    g->dpool = TAKEF((size_t)N * g->cmax);
    g->dh = TAKEF((size_t)N * g->cmax);
    GMAX(M * a->head);
    for (int j = 0; j < 4; j++) g->g[j] = TAKEA(gmax);
    size_t xpad = (size_t)N * Sp * Sp * a->in_ch;
    *largest = gmax > xpad ? gmax : xpad;
#undef TAKE
#undef TAKEA
#undef TAKEF
#undef GMAX
    return off;
}

float *am_gpu_input(am_gpu_model *g, int N, int S) {
    g->xpad_ready = 0;
    if (g->abase && g->N == N && g->size == S) return g->xin;
    am_gpu_sync(&g->ctx);
    drop_graph(g);
    am_gpu_free(&g->ctx, g->abase, g->abytes);
    g->abase = NULL;
    size_t largest;
    size_t bytes = layout(g, N, S, NULL, &largest);
    if (largest >= ((size_t)1 << 31))
        am_fatalf(__FILE__, __LINE__, "batch %d at %d px needs activations of %zu elements, at least cuDNN's "
                  "limit of 2^31 per tensor: lower the batch size", N, S, largest);
    g->ctx.batch_hint = N;
    g->abase = am_gpu_alloc(&g->ctx, bytes, "the activations");
    AM_CHECK((uintptr_t)g->abase % 256 == 0, "the activations, carved at 256-byte steps, start 256-byte aligned");
    g->abytes = bytes;
    layout(g, N, S, g->abase, &largest);
    g->N = N;
    g->size = S;
    return g->xin;
}

void *am_gpu_input_padded(am_gpu_model *g, int N, int S, int *Sp, int *pad) {
    am_gpu_input(g, N, S);
    int pt, pb;
    stem_pad(S, &pt, &pb);
    *Sp = S + pt + pb;
    *pad = pt;
    AM_CUDA(cudaMemsetAsync(g->xpad, 0, (size_t)N * *Sp * *Sp * g->host->arch.in_ch * am_dt_size(g->dt),
                            (cudaStream_t)g->ctx.stream));
    g->xpad_ready = 1;
    return g->xpad;
}

static void bn_fwd(am_gpu_model *g, void *out, float *mean, float *rstd, const void *x, const am_bn *bn,
                   size_t M, int C, int act, int train) {
    am_model *m = g->host;
    cu_bn_act_forward(out, mean, rstd, x, DP(g, bn->gamma), DP(g, bn->beta), DS(g, bn->mean), DS(g, bn->var),
                      g->work, (int)M, C, act, train, m->bn_momentum, m->bn_eps, g->dt, g->ctx.stream);
}

// mean/rstd (C) of a BN in eval mode, from its running statistics.
static void eval_stats(am_gpu_model *g, float *mean, float *rstd, const am_bn *bn, int C) {
    cu_bn_eval_stats(mean, rstd, DS(g, bn->mean), DS(g, bn->var), C, g->host->bn_eps, g->ctx.stream);
}

static void bn_bwd(am_gpu_model *g, void *dx, const void *x, const float *mean, const float *rstd,
                   const am_bn *bn, size_t M, int C, int act) {
    cu_bn_act_backward(dx, DG(g, bn->gamma), DG(g, bn->beta), dx, x, mean, rstd, DP(g, bn->gamma),
                       DP(g, bn->beta), g->work, (int)M, C, act, g->dt, g->ctx.stream);
}

// Pointwise convolution: out (N,H,W,K) = in (N,H,W,C) . w (K,C)^T.
static void pw_fwd(am_gpu_model *g, void *out, const void *in, const float *w, int N, int H, int C, int K) {
    am_cudnn_conv_forward(&g->ctx, out, in, conv_w(g, w), N, H, H, C, K, 1, 1, g->dt);
}

// The filter gradient of a convolution, accumulated into the fp32 grads.
static void conv_wgrad(am_gpu_model *g, const float *w, const void *dout, const void *in,
                       int N, int H, int C, int K, int k, int s) {
    if (g->dt == AM_F32) {
        am_cudnn_conv_backward_filter(&g->ctx, DG(g, w), dout, in, N, H, H, C, K, k, s, g->dt, 1.0f);
        return;
    }
    am_cudnn_conv_backward_filter(&g->ctx, g->wgrad16, dout, in, N, H, H, C, K, k, s, g->dt, 0.0f);
    cu_add_bf16_to_f32(DG(g, w), g->wgrad16, (size_t)K * k * k * C, g->ctx.stream);
}

static void pw_bwd(am_gpu_model *g, void *din, const float *w, const void *dout, const void *in,
                   int N, int H, int C, int K) {
    conv_wgrad(g, w, dout, in, N, H, C, K, 1, 1);
    if (din) am_cudnn_conv_backward_data(&g->ctx, din, dout, conv_w(g, w), N, H, H, C, K, 1, 1, g->dt);
}

float *am_gpu_forward(am_gpu_model *g, int train, uint64_t seed, uint64_t step) {
    am_model *m = g->host;
    const am_arch *a = &m->arch;
    AM_CHECK(g->abase != NULL, "am_gpu_input must be called before am_gpu_forward");
    void *st = g->ctx.stream;
    int N = g->N, S = g->size, dt = g->dt, pt, pb;
    stem_pad(S, &pt, &pb);
    int Sp = S + pt + pb, H = am_same_out(S, 2);
    if (g->prof) g->prof->pass = AM_PROF_FWD;
    MARK(g, "bf16 weights, input", -1, (size_t)N * (S * S + Sp * Sp) * a->in_ch);
    if (dt == AM_BF16) cu_f32_to_bf16(g->params16, g->params, m->nparams, st);
    if (!g->xpad_ready) cu_pad_input(g->xpad, g->xin, N, S, S, a->in_ch, pt, pb, pt, pb, dt, st);
    MARK(g, "stem conv", -1, (size_t)N * (Sp * Sp * a->in_ch + H * H * a->stem));
    am_cudnn_conv_forward(&g->ctx, g->sx, g->xpad, conv_w(g, m->stem_w), N, S + pt + pb, S + pt + pb, a->in_ch,
                          a->stem, 3, 2, dt);
    MARK(g, "stem bn", -1, 2 * (size_t)N * H * H * a->stem);
    bn_fwd(g, g->sa, g->smean, g->srstd, g->sx, &m->stem_bn, (size_t)N * H * H, a->stem, a->act, train);
    const void *cur = g->sa;
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        const am_block_params *p = &m->blk[i];
        am_gpu_block *B = &g->b[i];
        size_t Mi = (size_t)N * B->H * B->W, Mo = (size_t)N * B->Ho * B->Wo;
        int HWo = B->Ho * B->Wo;
        const void *t = cur;
        // Eval with fusion: the expand BN + act is applied as the depthwise
        // reads its input and the depthwise BN + act as it writes (ex and dx
        // are never normalised in memory).
        int fused = g->fuse && !train;
        if (b->expand != 1) {
            MARK(g, "expand conv", i, Mi * (b->in + b->mid));
            pw_fwd(g, B->ex, cur, p->expand, N, B->H, b->in, b->mid);
            if (fused) {
                eval_stats(g, B->mean[0], B->rstd[0], &p->bn0, b->mid);
            } else {
                MARK(g, "expand bn", i, 2 * Mi * b->mid);
                bn_fwd(g, B->ea, B->mean[0], B->rstd[0], B->ex, &p->bn0, Mi, b->mid, a->act, train);
            }
            t = fused ? B->ex : B->ea;
        }
        if (fused) {
            const am_bn *b0 = b->expand != 1 ? &p->bn0 : NULL;
            MARK(g, "dw conv + bn (fused)", i, (Mi + Mo) * b->mid);
            eval_stats(g, B->mean[1], B->rstd[1], &p->bn1, b->mid);
            cu_dwconv_bn_act_forward(B->da, t, DP(g, p->dw), b0 ? B->mean[0] : NULL, B->rstd[0],
                                     b0 ? DP(g, b0->gamma) : NULL, b0 ? DP(g, b0->beta) : NULL, a->act,
                                     B->mean[1], B->rstd[1], DP(g, p->bn1.gamma), DP(g, p->bn1.beta), a->act,
                                     N, B->H, B->W, b->mid, b->k, b->stride, dt, st);
        } else {
            MARK(g, "dw conv", i, (Mi + Mo) * b->mid);
            am_gpu_dwconv_forward(&g->ctx, B->dx, t, DP(g, p->dw), N, B->H, B->W, b->mid, b->k, b->stride, dt);
            MARK(g, "dw bn", i, 2 * Mo * b->mid);
            bn_fwd(g, B->da, B->mean[1], B->rstd[1], B->dx, &p->bn1, Mo, b->mid, a->act, train);
        }
        t = B->da;
        // Eval with fusion, where the image is larger than the projection is
        // wide (HWo > out): the SE scale goes into per-image projection
        // weights (N,out,mid) in the gradient scratch g[0] (unused in eval;
        // N*out*mid < N*HWo*mid fits) instead of into the activation.
        int gated = 0;
        if (b->se) {
            MARK(g, "se", i, Mo * b->mid);
            cu_gap_forward(B->pooled, B->da, N, HWo, b->mid, dt, st);
            cu_fc_small_forward(B->hid, B->pooled, DP(g, p->se_rw), DP(g, p->se_rb), N, b->mid, b->se,
                                AM_ACT_NONE, 0, st);
            cu_fc_small_forward(B->gate, B->hid, DP(g, p->se_ew), DP(g, p->se_eb), N, b->se, b->mid,
                                AM_ACT_SWISH, 1, st);
            gated = fused && HWo > b->out;
            if (gated) {
                MARK(g, "project conv (SE-gated)", i, Mo * (b->mid + b->out));
                cu_se_gate_weights(g->g[0], DP(g, p->project), B->gate, N, b->out, b->mid, dt, st);
                am_gpu_gemm_per_sample(&g->ctx, B->px, B->da, g->g[0], N, HWo, b->mid, b->out, dt);
            } else {
                MARK(g, "se scale", i, 2 * Mo * b->mid);
                cu_se_scale_forward(B->so, B->da, B->gate, N, HWo, b->mid, dt, st);
                t = B->so;
            }
        }
        if (!gated) {
            MARK(g, "project conv", i, Mo * (b->mid + b->out));
            pw_fwd(g, B->px, t, p->project, N, B->Ho, b->mid, b->out);
        }
        MARK(g, "project bn", i, 2 * Mo * b->out);
        bn_fwd(g, B->pb, B->mean[2], B->rstd[2], B->px, &p->bn2, Mo, b->out, AM_ACT_NONE, train);
        if (b->skip) {
            float rate = train ? m->drop_connect * i / a->nblocks : 0.0f;
            MARK(g, "residual", i, 3 * Mo * b->out);
            cu_drop_connect_add_forward(B->out, B->dc, B->pb, cur, N, HWo * b->out, rate, seed,
                                        STREAM_DROP_CONNECT + i, step, g->step_args, dt, st);
        }
        cur = B->out;
        H = B->Ho;
    }
    size_t M = (size_t)N * H * H;
    int last = a->blocks[a->nblocks - 1].out;
    MARK(g, "head conv", -1, M * (last + a->head));
    pw_fwd(g, g->hx, cur, m->head_w, N, H, last, a->head);
    MARK(g, "head bn", -1, 2 * M * a->head);
    bn_fwd(g, g->ha, g->hmean, g->hrstd, g->hx, &m->head_bn, M, a->head, a->act, train);
    MARK(g, "pool, dropout, fc", -1, M * a->head);
    cu_gap_forward(g->pooled, g->ha, N, H * H, a->head, dt, st);
    cu_dropout_forward(g->dropped, g->mask, g->pooled, N * a->head, train ? m->dropout : 0.0f, seed,
                       STREAM_DROPOUT, step, g->step_args, st);
    am_gpu_fc_forward(&g->ctx, g->logits, g->dropped, DP(g, m->fc_w), DP(g, m->fc_b), N, a->head, a->classes);
    if (g->prof) am_prof_mark(g->prof, NULL, 0, 0.0);
    return g->logits;
}

float *am_gpu_forward_graph(am_gpu_model *g) {
    cudaStream_t st = (cudaStream_t)g->ctx.stream;
    AM_CHECK(!g->xpad_ready, "the graph forward reads the input of am_gpu_input, not am_gpu_input_padded");
    AM_CHECK(!g->prof, "a profiled model runs eager passes only (am_gpu_forward)");
    if (!g->graphs) return am_gpu_forward(g, 0, 0, 0);
    if (g->graph && g->graph_ws_gen != g->ctx.ws_gen) drop_graph(g);  // the workspace moved since
    if (!g->graph) {
        // An eager pass first: it chooses the cuDNN plans and sizes the
        // workspace, and its logits are the result where the capture fails
        // (a capture, failed or not, runs nothing).
        float *z = am_gpu_forward(g, 0, 0, 0);
        am_gpu_sync(&g->ctx);  // its faults surface here, not as a failed capture
        if (am_gpu_capture_begin(&g->ctx, "inference forward") == 0) {
            am_gpu_forward(g, 0, 0, 0);
            g->graph = am_gpu_capture_end(&g->ctx, "inference forward");
        }
        if (!g->graph) {
            g->graphs = 0;
            return z;
        }
        g->graph_ws_gen = g->ctx.ws_gen;
    }
    AM_CUDA(cudaGraphLaunch((cudaGraphExec_t)g->graph, st));
    am_cuda_after_launch(__FILE__, __LINE__, "cudaGraphLaunch", st);
    return g->logits;
}

void am_gpu_eval(am_gpu_model *g, float *logits, const float *x, int n, int S) {
    const am_arch *a = &g->host->arch;
    int N = g->abase && g->size == S && g->N >= n ? g->N : n;
    float *xin = am_gpu_input(g, N, S);  // (N,S,S,in_ch), rows [0,n) written
    am_gpu_upload(&g->ctx, xin, x, sizeof(float) * (size_t)n * S * S * a->in_ch);
    const float *z = am_gpu_forward_graph(g);
    am_gpu_download(&g->ctx, logits, z, sizeof(float) * (size_t)n * a->classes);
}

void am_gpu_backward(am_gpu_model *g, const float *dlogits) {
    am_model *m = g->host;
    const am_arch *a = &m->arch;
    void *st = g->ctx.stream;
    int N = g->N, nb = a->nblocks, dt = g->dt;
    int H = g->b[nb - 1].Ho;
    size_t M = (size_t)N * H * H;
    int last = a->blocks[nb - 1].out;
    void **gr = g->g;
    if (g->prof) g->prof->pass = AM_PROF_BWD;
    MARK(g, "pool, dropout, fc", -1, M * a->head);
    am_gpu_fc_backward(&g->ctx, g->ghead, DG(g, m->fc_w), DG(g, m->fc_b), dlogits, g->dropped, DP(g, m->fc_w),
                       N, a->head, a->classes);
    cu_dropout_backward(g->ghead, g->ghead, g->mask, N * a->head, st);
    cu_gap_backward(gr[1], g->ghead, N, H * H, a->head, dt, st);
    MARK(g, "head bn", -1, 4 * M * a->head);
    bn_bwd(g, gr[1], g->hx, g->hmean, g->hrstd, &m->head_bn, M, a->head, a->act);
    MARK(g, "head conv", -1, M * (2 * last + a->head));
    pw_bwd(g, gr[0], m->head_w, gr[1], g->b[nb - 1].out, N, H, last, a->head);
    int ia = 0;  // gr[ia] holds the gradient w.r.t. the current block's output
    for (int i = nb - 1; i >= 0; i--) {
        const am_block_cfg *b = &a->blocks[i];
        const am_block_params *p = &m->blk[i];
        am_gpu_block *B = &g->b[i];
        size_t Mi = (size_t)N * B->H * B->W, Mo = (size_t)N * B->Ho * B->Wo;
        int HWo = B->Ho * B->Wo;
        const void *in = i ? g->b[i - 1].out : g->sa;
        int ib = b->skip ? (ia + 1) % 4 : ia;
        int ic = (ib + 1) % 4 == ia ? (ib + 2) % 4 : (ib + 1) % 4;
        int id = 0;
        while (id == ia || id == ib || id == ic) id++;
        if (b->skip) {
            MARK(g, "residual", i, 2 * Mo * b->out);
            cu_drop_connect_add_backward(gr[ib], gr[ia], gr[ia], B->dc, N, HWo * b->out, dt, st);
        }
        MARK(g, "project bn", i, 4 * Mo * b->out);
        bn_bwd(g, gr[ib], B->px, B->mean[2], B->rstd[2], &p->bn2, Mo, b->out, AM_ACT_NONE);
        MARK(g, "project conv", i, Mo * (2 * b->mid + b->out));
        pw_bwd(g, gr[ic], p->project, gr[ib], b->se ? B->so : B->da, N, B->Ho, b->mid, b->out);
        if (b->se) {
            MARK(g, "se", i, 3 * Mo * b->mid);
            cu_se_gate_backward(g->dz, gr[ic], B->da, B->gate, N, HWo, b->mid, dt, st);
            cu_fc_small_backward(g->dh, DG(g, p->se_ew), DG(g, p->se_eb), g->dz, B->hid, DP(g, p->se_ew), B->hid,
                                 N, b->se, b->mid, AM_ACT_SWISH, st);
            cu_fc_small_backward(g->dpool, DG(g, p->se_rw), DG(g, p->se_rb), g->dh, B->pooled, DP(g, p->se_rw),
                                 NULL, N, b->mid, b->se, AM_ACT_NONE, st);
            cu_se_input_backward(gr[ic], gr[ic], B->gate, g->dpool, N, HWo, b->mid, dt, st);
        }
        MARK(g, "dw bn", i, 4 * Mo * b->mid);
        bn_bwd(g, gr[ic], B->dx, B->mean[1], B->rstd[1], &p->bn1, Mo, b->mid, a->act);
        MARK(g, "dw conv", i, (2 * Mi + Mo) * b->mid);
        am_gpu_dwconv_backward(&g->ctx, gr[id], DG(g, p->dw), gr[ic], b->expand != 1 ? B->ea : in, DP(g, p->dw), N,
                               B->H, B->W, b->mid, b->k, b->stride, dt);
        int ie = id;
        if (b->expand != 1) {
            MARK(g, "expand bn", i, 4 * Mi * b->mid);
            bn_bwd(g, gr[id], B->ex, B->mean[0], B->rstd[0], &p->bn0, Mi, b->mid, a->act);
            ie = ib;
            MARK(g, "expand conv", i, Mi * (2 * b->in + b->mid));
            pw_bwd(g, gr[ie], p->expand, gr[id], in, N, B->H, b->in, b->mid);
        }
        if (b->skip) {
            MARK(g, "skip add", i, 3 * Mi * b->in);
            cu_add_inplace(gr[ie], gr[ia], Mi * b->in, dt, st);
        }
        ia = ie;
    }
    H = g->b[0].H;
    int pt, pb;
    stem_pad(g->size, &pt, &pb);
    MARK(g, "stem bn", -1, 4 * (size_t)N * H * H * a->stem);
    bn_bwd(g, gr[ia], g->sx, g->smean, g->srstd, &m->stem_bn, (size_t)N * H * H, a->stem, a->act);
    MARK(g, "stem conv", -1, (size_t)N * H * H * a->stem + (size_t)N * (g->size + pt + pb) * (g->size + pt + pb) * a->in_ch);
    conv_wgrad(g, m->stem_w, gr[ia], g->xpad, N, g->size + pt + pb, a->in_ch, a->stem, 3, 2);
    if (g->prof) am_prof_mark(g->prof, NULL, 0, 0.0);
}

// Checked as a launch: inside the train step's capture a failure may be the
// capture's (am_gpu_capture_invalidated).
void am_gpu_zero_grad(am_gpu_model *g) {
    cudaMemsetAsync(g->grads, 0, sizeof(float) * g->host->nparams, (cudaStream_t)g->ctx.stream);
    am_cuda_after_launch(__FILE__, __LINE__, "cudaMemsetAsync (gradients)", g->ctx.stream);
}

void am_gpu_sgd_ema_step(am_gpu_model *g, float lr, float momentum, float wd, int nesterov, float ema_decay) {
    size_t n = g->host->nparams;
    void *st = g->ctx.stream;
    if (!g->mom) {
        g->mom = am_gpu_alloc(&g->ctx, sizeof(float) * n, "the SGD momentum");
        g->ema = am_gpu_alloc(&g->ctx, sizeof(float) * n, "the EMA parameters");
        AM_CUDA(cudaMemsetAsync(g->mom, 0, sizeof(float) * n, (cudaStream_t)st));
        AM_CUDA(cudaMemcpyAsync(g->ema, g->params, sizeof(float) * n, cudaMemcpyDeviceToDevice, (cudaStream_t)st));
    }
    cu_sgd_update(g->params, g->mom, g->grads, g->decay, n, lr, momentum, wd, nesterov, NULL, st);
    cu_ema_update(g->ema, g->params, n, ema_decay, st);
}
#else
int am_gpu_model_init(am_gpu_model *g, am_model *m, int device, int dt) {
    (void)m;
    (void)dt;
    memset(g, 0, sizeof *g);
    return am_seterr("CUDA device %d unavailable: this build has no CUDA backend (rebuild with nvcc and cuDNN, CUDA=1)", device);
}

void am_gpu_model_free(am_gpu_model *g) { (void)g; }
#endif
