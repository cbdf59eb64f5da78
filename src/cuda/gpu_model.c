// EfficientNet on the GPU: the device families (params, grads, stats at the
// host table's offsets), the activation family for (N, size) in one
// allocation (the shared layout, am_acts_layout), the CUDA backend of the
// network (include/am/net.h: thin wrappers over cuDNN for the stem and
// pointwise convolutions, cuBLAS for the FC layer, kernels/*.cu for the rest),
// and the inference forward's CUDA graph. The forward and backward
// themselves are src/model/net.c's.
// Also the programs' choice of device and precision (any build).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/device.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/gpu_dwconv.h"
#include "am/net.h"
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

#define DP(g, p) ((g)->params + ((p) - (g)->host->params))
#define DG(g, p) ((g)->grads + ((p) - (g)->host->params))
#define DS(g, p) ((g)->stats + ((p) - (g)->host->stats))

// A convolution weight as cuDNN reads it: the bf16 copy in bf16 mode.
static const void *conv_w(am_gpu_model *g, const float *p) {
    if (g->dt == AM_BF16) return g->params16 + (p - g->host->params);
    return DP(g, p);
}

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
        if (t->role == AM_ROLE_CONV && t->n > wmax) wmax = t->n;
    }
    g->wmax = wmax;
    g->decay = am_gpu_alloc(c, m->nparams, "the weight-decay flags");
    am_gpu_upload(c, g->decay, decay, m->nparams);
    free(decay);
    if (dt == AM_BF16) {
        g->params16 = am_gpu_alloc(c, 2 * m->nparams, "the bf16 parameters");
        g->wgrad16 = am_gpu_alloc(c, 2 * wmax, "the bf16 weight-gradient scratch");
    }
    int cmax = a->stem > a->head ? a->stem : a->head;
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        cmax = b->mid > cmax ? b->mid : cmax;
        cmax = b->out > cmax ? b->out : cmax;
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
    am_gpu_free(c, g->acts.base, g->acts.bytes);
    am_gpu_free(c, g->params, sizeof(float) * n);
    am_gpu_free(c, g->grads, sizeof(float) * n);
    am_gpu_free(c, g->stats, sizeof(float) * g->host->nstats);
    am_gpu_free(c, g->decay, n);
    am_gpu_free(c, g->params16, 2 * n);
    am_gpu_free(c, g->wgrad16, 2 * g->wmax);
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

static int stem_padded(int S) {
    int pt, pb;
    stem_pad(S, &pt, &pb);
    return S + pt + pb;
}

float *am_gpu_input(am_gpu_model *g, int N, int S) {
    am_acts *A = &g->acts;
    g->xpad_ready = 0;
    if (A->base && A->N == N && A->size == S) return A->xin;
    am_gpu_sync(&g->ctx);
    drop_graph(g);
    am_gpu_free(&g->ctx, A->base, A->bytes);
    A->base = NULL;
    // The activations in the model's type; the stem's scratch is its input
    // padded and converted.
    int Sp = stem_padded(S);
    am_acts_spec sp = {am_dt_size(g->dt), 256, 1, (size_t)N * Sp * Sp * g->host->arch.in_ch};
    size_t bytes = am_acts_layout(A, &g->host->arch, N, S, &sp, NULL);
    size_t largest = A->gsize > sp.stem_in ? A->gsize : sp.stem_in;
    if (largest >= ((size_t)1 << 31))
        am_fatalf(__FILE__, __LINE__, "batch %d at %d px needs activations of %zu elements, at least cuDNN's "
                  "limit of 2^31 per tensor: lower the batch size", N, S, largest);
    g->ctx.batch_hint = N;
    char *base = am_gpu_alloc(&g->ctx, bytes, "the activations");
    AM_CHECK((uintptr_t)base % 256 == 0, "the activations, carved at 256-byte steps, start 256-byte aligned");
    am_acts_layout(A, &g->host->arch, N, S, &sp, base);
    return A->xin;
}

void *am_gpu_input_padded(am_gpu_model *g, int N, int S, int *Sp, int *pad) {
    am_gpu_input(g, N, S);
    int pt, pb;
    stem_pad(S, &pt, &pb);
    *Sp = S + pt + pb;
    *pad = pt;
    AM_CUDA(cudaMemsetAsync(g->acts.stem_in, 0, (size_t)N * *Sp * *Sp * g->host->arch.in_ch * am_dt_size(g->dt),
                            (cudaStream_t)g->ctx.stream));
    g->xpad_ready = 1;
    return g->acts.stem_in;
}

// The CUDA backend (include/am/net.h); its context is the am_gpu_model.

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

// The stem pads and converts the input into its scratch (unless the caller
// wrote it there: am_gpu_input_padded), then convolves it unpadded.
static void stem_fwd(void *be, void *y, void *stem_in, const float *x, const float *w, int N, int S, int C, int K) {
    am_gpu_model *g = be;
    int pt, pb;
    stem_pad(S, &pt, &pb);
    if (!g->xpad_ready) cu_pad_input(stem_in, x, N, S, S, C, pt, pb, pt, pb, g->dt, g->ctx.stream);
    am_cudnn_conv_forward(&g->ctx, y, stem_in, conv_w(g, w), N, S + pt + pb, S + pt + pb, C, K, 3, 2, g->dt);
}

static void stem_bwd(void *be, const float *w, const void *dy, const void *stem_in, int N, int S, int C, int K) {
    conv_wgrad(be, w, dy, stem_in, N, stem_padded(S), C, K, 3, 2);
}

static void pw_fwd(void *be, void *y, const void *x, const float *w, int N, int H, int C, int K) {
    am_gpu_model *g = be;
    am_cudnn_conv_forward(&g->ctx, y, x, conv_w(g, w), N, H, H, C, K, 1, 1, g->dt);
}

static void pw_bwd(void *be, void *dx, const float *w, const void *dy, const void *x, int N, int H, int C, int K) {
    am_gpu_model *g = be;
    conv_wgrad(g, w, dy, x, N, H, C, K, 1, 1);
    if (dx) am_cudnn_conv_backward_data(&g->ctx, dx, dy, conv_w(g, w), N, H, H, C, K, 1, 1, g->dt);
}

static void dw_fwd(void *be, void *y, const void *x, const float *w, int N, int H, int C, int k, int s) {
    am_gpu_model *g = be;
    am_gpu_dwconv_forward(&g->ctx, y, x, DP(g, w), N, H, H, C, k, s, g->dt);
}

static void dw_bwd(void *be, void *dx, const float *w, const void *dy, const void *x, int N, int H, int C, int k,
                   int s) {
    am_gpu_model *g = be;
    am_gpu_dwconv_backward(&g->ctx, dx, DG(g, w), dy, x, DP(g, w), N, H, H, C, k, s, g->dt);
}

static void bn_fwd(void *be, void *y, float *mean, float *rstd, const void *x, const am_bn *bn, size_t M, int C,
                   int act, int train) {
    am_gpu_model *g = be;
    const am_model *m = g->host;
    cu_bn_act_forward(y, mean, rstd, x, DP(g, bn->gamma), DP(g, bn->beta), DS(g, bn->mean), DS(g, bn->var), g->work,
                      (int)M, C, act, train, m->bn_momentum, m->bn_eps, g->dt, g->ctx.stream);
}

static void bn_bwd(void *be, void *dx, const void *x, const float *mean, const float *rstd, const am_bn *bn,
                   size_t M, int C, int act) {
    am_gpu_model *g = be;
    cu_bn_act_backward(dx, DG(g, bn->gamma), DG(g, bn->beta), dx, x, mean, rstd, DP(g, bn->gamma), DP(g, bn->beta),
                       g->work, (int)M, C, act, g->dt, g->ctx.stream);
}

// The SE gate (N,C) of x (N,HW,C): pool, reduce, swish, expand, sigmoid.
static void se_gate(am_gpu_model *g, float *pooled, float *hid, float *gate, const void *x,
                    const am_block_params *p, int N, int HW, int C, int S) {
    void *st = g->ctx.stream;
    cu_gap_forward(pooled, x, N, HW, C, g->dt, st);
    cu_fc_small_forward(hid, pooled, DP(g, p->se_rw), DP(g, p->se_rb), N, C, S, AM_ACT_NONE, 0, st);
    cu_fc_small_forward(gate, hid, DP(g, p->se_ew), DP(g, p->se_eb), N, S, C, AM_ACT_SWISH, 1, st);
}

static void se_fwd(void *be, void *y, float *pooled, float *hid, float *gate, const void *x,
                   const am_block_params *p, int N, int HW, int C, int S) {
    am_gpu_model *g = be;
    se_gate(g, pooled, hid, gate, x, p, N, HW, C, S);
    cu_se_scale_forward(y, x, gate, N, HW, C, g->dt, g->ctx.stream);
}

static void se_bwd(void *be, void *dx, const void *x, const float *pooled, const float *hid, const float *gate,
                   const am_block_params *p, const am_acts *A, int N, int HW, int C, int S) {
    am_gpu_model *g = be;
    void *st = g->ctx.stream;
    cu_se_gate_backward(A->dz, dx, x, gate, N, HW, C, g->dt, st);
    cu_fc_small_backward(A->dh, DG(g, p->se_ew), DG(g, p->se_eb), A->dz, hid, DP(g, p->se_ew), hid, N, S, C,
                         AM_ACT_SWISH, st);
    cu_fc_small_backward(A->dpool, DG(g, p->se_rw), DG(g, p->se_rb), A->dh, pooled, DP(g, p->se_rw), NULL, N, C, S,
                         AM_ACT_NONE, st);
    cu_se_input_backward(dx, dx, gate, A->dpool, N, HW, C, g->dt, st);
}

// The train step's capture reads its step from g->step_args (device).
static void residual_fwd(void *be, void *y, float *dc, const void *branch, const void *skip, int N, int per,
                         float rate, uint64_t seed, uint32_t stream, uint64_t step) {
    am_gpu_model *g = be;
    cu_drop_connect_add_forward(y, dc, branch, skip, N, per, rate, seed, stream, step, g->step_args, g->dt,
                                g->ctx.stream);
}

static void residual_bwd(void *be, void *dbranch, void *dskip, const void *dy, const float *dc, int N, int per) {
    am_gpu_model *g = be;
    cu_drop_connect_add_backward(dbranch, dskip, dy, dc, N, per, g->dt, g->ctx.stream);
}

static void add(void *be, void *y, const void *x, size_t n) {
    am_gpu_model *g = be;
    cu_add_inplace(y, x, n, g->dt, g->ctx.stream);
}

static void gap_fwd(void *be, float *y, const void *x, int N, int HW, int C) {
    am_gpu_model *g = be;
    cu_gap_forward(y, x, N, HW, C, g->dt, g->ctx.stream);
}

static void gap_bwd(void *be, void *dx, const float *dy, int N, int HW, int C) {
    am_gpu_model *g = be;
    cu_gap_backward(dx, dy, N, HW, C, g->dt, g->ctx.stream);
}

static void dropout_fwd(void *be, float *y, float *mask, const float *x, int n, float rate, uint64_t seed,
                        uint32_t stream, uint64_t step) {
    am_gpu_model *g = be;
    cu_dropout_forward(y, mask, x, n, rate, seed, stream, step, g->step_args, g->ctx.stream);
}

static void dropout_bwd(void *be, float *dx, const float *dy, const float *mask, int n) {
    am_gpu_model *g = be;
    cu_dropout_backward(dx, dy, mask, n, g->ctx.stream);
}

static void fc_fwd(void *be, float *y, const float *x, const float *w, const float *b, int N, int C, int K) {
    am_gpu_model *g = be;
    am_gpu_fc_forward(&g->ctx, y, x, DP(g, w), DP(g, b), N, C, K);
}

static void fc_bwd(void *be, float *dx, const float *w, const float *b, const float *dy, const float *x, int N,
                   int C, int K) {
    am_gpu_model *g = be;
    am_gpu_fc_backward(&g->ctx, dx, DG(g, w), DG(g, b), dy, x, DP(g, w), N, C, K);
}

static void bn_eval_stats(void *be, float *mean, float *rstd, const am_bn *bn, int C) {
    am_gpu_model *g = be;
    cu_bn_eval_stats(mean, rstd, DS(g, bn->mean), DS(g, bn->var), C, g->host->bn_eps, g->ctx.stream);
}

static void dw_bn_act_fwd(void *be, void *y, const void *x, const float *w, const float *mean_in,
                          const float *rstd_in, const am_bn *bn_in, int act_in, const float *mean,
                          const float *rstd, const am_bn *bn, int act, int N, int H, int C, int k, int s) {
    am_gpu_model *g = be;
    cu_dwconv_bn_act_forward(y, x, DP(g, w), bn_in ? mean_in : NULL, rstd_in, bn_in ? DP(g, bn_in->gamma) : NULL,
                             bn_in ? DP(g, bn_in->beta) : NULL, act_in, mean, rstd, DP(g, bn->gamma),
                             DP(g, bn->beta), act, N, H, H, C, k, s, g->dt, g->ctx.stream);
}

// The per-image weights (N,K,C) go into the gradient scratch g[0], unused in
// eval (N*K*C < N*HW*C where HW > K, the only case the network asks for).
static void se_project_fwd(void *be, void *y, float *pooled, float *hid, float *gate, const void *x,
                           const am_block_params *p, const am_acts *A, int N, int HW, int C, int S, int K) {
    am_gpu_model *g = be;
    se_gate(g, pooled, hid, gate, x, p, N, HW, C, S);
    cu_se_gate_weights(A->g[0], DP(g, p->project), gate, N, K, C, g->dt, g->ctx.stream);
    am_gpu_gemm_per_sample(&g->ctx, y, x, A->g[0], N, HW, C, K, g->dt);
}

static const am_backend cuda_backend = {
    .stem_fwd = stem_fwd, .stem_bwd = stem_bwd,
    .pw_fwd = pw_fwd, .pw_bwd = pw_bwd,
    .dw_fwd = dw_fwd, .dw_bwd = dw_bwd,
    .bn_fwd = bn_fwd, .bn_bwd = bn_bwd,
    .se_fwd = se_fwd, .se_bwd = se_bwd,
    .residual_fwd = residual_fwd, .residual_bwd = residual_bwd, .add = add,
    .gap_fwd = gap_fwd, .gap_bwd = gap_bwd,
    .dropout_fwd = dropout_fwd, .dropout_bwd = dropout_bwd,
    .fc_fwd = fc_fwd, .fc_bwd = fc_bwd,
    .bn_eval_stats = bn_eval_stats, .dw_bn_act_fwd = dw_bn_act_fwd, .se_project_fwd = se_project_fwd,
};

static am_net gpu_net(am_gpu_model *g) {
    return (am_net){&cuda_backend, g, g->host, &g->acts, g->prof, g->fuse, am_dt_size(g->dt)};
}

float *am_gpu_forward(am_gpu_model *g, int train, uint64_t seed, uint64_t step) {
    am_model *m = g->host;
    am_acts *A = &g->acts;
    AM_CHECK(A->base != NULL, "am_gpu_input must be called before am_gpu_forward");
    if (g->dt == AM_BF16) {
        if (g->prof) {
            g->prof->pass = AM_PROF_FWD;
            am_prof_mark(g->prof, "bf16 weights", -1, 6.0 * (double)m->nparams);
        }
        cu_f32_to_bf16(g->params16, g->params, m->nparams, g->ctx.stream);
    }
    am_net n = gpu_net(g);
    return am_net_forward(&n, train, seed, step);
}

void am_gpu_backward(am_gpu_model *g, const float *dlogits) {
    am_net n = gpu_net(g);
    am_net_backward(&n, dlogits);
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
    return g->acts.logits;
}

// The eval forward of rows [0, n) of x (host memory, or the device's with
// on_device), the logits to the host.
static void eval_rows(am_gpu_model *g, float *logits, const float *x, int on_device, int n, int S) {
    const am_arch *a = &g->host->arch;
    const am_acts *A = &g->acts;
    int N = A->base && A->size == S && A->N >= n ? A->N : n;
    float *xin = am_gpu_input(g, N, S);  // (N,S,S,in_ch), rows [0,n) written
    size_t bytes = sizeof(float) * (size_t)n * S * S * a->in_ch;
    if (on_device) AM_CUDA(cudaMemcpyAsync(xin, x, bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)g->ctx.stream));
    else am_gpu_upload(&g->ctx, xin, x, bytes);
    const float *z = am_gpu_forward_graph(g);
    am_gpu_download(&g->ctx, logits, z, sizeof(float) * (size_t)n * a->classes);
}

void am_gpu_eval(am_gpu_model *g, float *logits, const float *x, int n, int S) { eval_rows(g, logits, x, 0, n, S); }

void am_gpu_eval_device(am_gpu_model *g, float *logits, const float *dx, int n, int S) {
    eval_rows(g, logits, dx, 1, n, S);
}

// Checked as a launch: inside the train step's capture a failure may be the
// capture's (am_gpu_capture_invalidated).
void am_gpu_zero_grad(am_gpu_model *g) {
    cudaMemsetAsync(g->grads, 0, sizeof(float) * g->host->nparams, (cudaStream_t)g->ctx.stream);
    am_cuda_after_launch(__FILE__, __LINE__, "cudaMemsetAsync (gradients)", g->ctx.stream);
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
