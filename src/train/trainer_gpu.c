// The FixMatch step and scoring on a CUDA device, step for step as
// am_train_step in src/train/trainer.c: the float batch made on the CPU is
// uploaded, then training forward, the consistency loss, backward, SGD/AdamW, EMA
// and the EMA's BN statistics copied from the live model, all on the device.
// The device EMA lives in the EMA model's own params and stats (struct
// am_gpu_trainer in am/trainer_gpu.h), which scoring reads through a CUDA graph.
#include <math.h>
#include <stdlib.h>

#include "am/error.h"
#include "am/trainer_gpu.h"
#include "am/train.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>

#include "../../kernels/augment_math.h"

static void drop_step_graph(am_gpu_trainer *g) {
    if (g->graph) AM_CUDA(cudaGraphExecDestroy((cudaGraphExec_t)g->graph));
    g->graph = NULL;
}

// The consistency loss's device floats: its state, then the scratch of a step.
static size_t ssl_bytes(const am_trainer *t) {
    size_t U = (size_t)t->hp.mu * t->hp.batch;
    return sizeof(am_ssl_state) + sizeof(float) * (U * (size_t)t->model.arch.classes + U);
}

// The per-image state, then the step's images.
static size_t label_bytes(const am_trainer *t) {
    return sizeof(int) * ((size_t)t->ssl_nimages + (size_t)t->hp.mu * t->hp.batch);
}

int am_trainer_to_gpu(am_trainer *t, int device, int dt) {
    AM_CHECK(!t->gpu, "the trainer is already on a device");
    am_gpu_trainer *g = AM_CALLOC(sizeof *g);
    if (am_gpu_model_init(&g->live, &t->model, device, dt)) { free(g); return -1; }
    if (am_gpu_model_init(&g->ema, &t->ema, device, dt)) {
        am_gpu_model_free(&g->live);
        free(g);
        return -1;
    }
    am_gpu_ctx *c = &g->live.ctx;
    const am_train_hparams *hp = &t->hp;
    int rows = hp->batch * (1 + 2 * hp->mu), K = t->model.arch.classes;
    g->graphs = am_gpu_graphs_wanted(1);
    g->v = am_gpu_alloc(c, sizeof(float) * 2 * t->model.nparams, "the optimiser state");
    g->dlogits = am_gpu_alloc(c, sizeof(float) * (size_t)rows * K, "the logit gradients");
    g->loss = am_gpu_alloc(c, sizeof(float) * 5, "the loss statistics");
    g->ssl = am_gpu_alloc(c, ssl_bytes(t), "the consistency loss's state");
    if (t->ssl_label) {
        g->ssl_label = am_gpu_alloc(c, label_bytes(t), "the consistency loss's state per image");
        am_gpu_upload(c, g->ssl_label, t->ssl_label, sizeof(int) * (size_t)t->ssl_nimages);
    }
    g->labels = am_gpu_alloc(c, sizeof(int) * (size_t)hp->batch, "the labels");
    g->args = am_gpu_alloc(c, sizeof(am_step_args), "the step values");
    am_gpu_upload(c, g->v, t->v, sizeof(float) * 2 * t->model.nparams);
    am_gpu_upload(c, g->ssl, &t->ssl, sizeof t->ssl);
    t->gpu = g;
    return 0;
}

void am_gpu_trainer_free(am_trainer *t) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_ctx *c = &g->live.ctx;
    am_gpu_sync(c);
    am_gpu_free(c, g->v, sizeof(float) * 2 * t->model.nparams);
    am_gpu_free(c, g->dlogits, sizeof(float) * (size_t)t->hp.batch * (1 + 2 * t->hp.mu) * t->model.arch.classes);
    am_gpu_free(c, g->loss, sizeof(float) * 5);
    am_gpu_free(c, g->ssl, ssl_bytes(t));
    if (g->ssl_label) am_gpu_free(c, g->ssl_label, label_bytes(t));
    drop_step_graph(g);
    am_gpu_free(c, g->labels, sizeof(int) * (size_t)t->hp.batch);
    am_gpu_free(c, g->args, sizeof(am_step_args));
    am_gpu_free(c, g->raw, g->raw_bytes);
    am_gpu_free(c, g->aug_work, g->work_bytes);
    am_gpu_free(c, g->plans, sizeof(am_aug_plan) * (size_t)t->hp.batch * (1 + 2 * t->hp.mu));
    for (int k = 0; k < 2; k++) {
        am_gpu_free(&g->ema.ctx, g->stage[k], g->stage_bytes[k]);
        if (g->staged[k]) AM_CUDA(cudaEventDestroy((cudaEvent_t)g->staged[k]));
    }
    if (g->copy_stream) AM_CUDA(cudaStreamDestroy((cudaStream_t)g->copy_stream));
    am_gpu_model_free(&g->ema);
    am_gpu_model_free(&g->live);
    free(g->logits);
    free(g);
    t->gpu = NULL;
}

void am_gpu_trainer_download(am_trainer *t) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_sync(&g->live.ctx);
    am_gpu_model_download(&g->live, t->model.params, NULL, t->model.stats);
    am_gpu_model_download(&g->ema, t->ema.params, NULL, t->ema.stats);
    am_gpu_download(&g->live.ctx, t->v, g->v, sizeof(float) * 2 * t->model.nparams);
    am_gpu_download(&g->live.ctx, &t->ssl, g->ssl, sizeof t->ssl);
    if (g->ssl_label) am_gpu_download(&g->live.ctx, t->ssl_label, g->ssl_label, sizeof(int) * (size_t)t->ssl_nimages);
}

void am_gpu_trainer_upload(am_trainer *t) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_sync(&g->live.ctx);
    am_gpu_model_upload(&g->live);
    am_gpu_model_upload(&g->ema);
    am_gpu_upload(&g->live.ctx, g->v, t->v, sizeof(float) * 2 * t->model.nparams);
    am_gpu_upload(&g->live.ctx, g->ssl, &t->ssl, sizeof t->ssl);
    if (g->ssl_label) am_gpu_upload(&g->live.ctx, g->ssl_label, t->ssl_label, sizeof(int) * (size_t)t->ssl_nimages);
}

// The device work of a step once the input is in place: forward, loss,
// backward, optimiser, EMA. args: the step's values in device memory (the
// captured step reads them there) or NULL (host values).
static void step_work(am_trainer *t, float lr, const am_step_args *args) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_model *m = &g->live;
    const am_train_hparams *hp = &t->hp;
    int B = hp->batch, U = hp->mu * hp->batch, K = t->model.arch.classes;
    size_t n = t->model.nparams;
    void *st = m->ctx.stream;
    m->step_args = args;
    const float *z = am_gpu_forward(m, 1, t->seed, t->step);
    m->step_args = NULL;
    am_ssl_images img = {g->ssl_label + t->ssl_nimages, g->ssl_label, t->ssl_nimages, t->ssl_unlabelled};
    cu_ssl_forward_backward(g->loss, g->dlogits, g->ssl, z, g->labels, B, U, K, g->ssl_label ? &img : NULL, &hp->ssl,
                            st);
    am_gpu_zero_grad(m);
    am_gpu_backward(m, g->dlogits);
    if (hp->optimizer == AM_OPT_ADAMW)
        cu_adamw_update(m->params, g->v, g->v + n, m->grads, m->decay, n, lr, hp->adam_b1, hp->adam_b2,
                        hp->adam_eps, hp->wd, (long)t->step + 1, args, st);
    else
        cu_sgd_update(m->params, g->v, m->grads, m->decay, n, lr, hp->momentum, hp->wd, hp->nesterov, args, st);
    cu_ema_update(g->ema.params, m->params, n, hp->ema, st);
    // Checked as a launch: a failure in a capture may be the capture's.
    cudaMemcpyAsync(g->ema.stats, m->stats, sizeof(float) * t->model.nstats, cudaMemcpyDeviceToDevice,
                    (cudaStream_t)st);
    am_cuda_after_launch(__FILE__, __LINE__, "cudaMemcpyAsync (EMA statistics)", st);
}

// Captures step_work into g->graph, reading its step values from g->args.
// -1 when the capture failed: graphs are then off for this trainer (the
// capture ran nothing; the step runs eagerly).
static int capture_step(am_trainer *t, float lr) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_model *m = &g->live;
    AM_CHECK(!m->prof, "a profiled model runs eager passes only");
    if (am_gpu_capture_begin(&m->ctx, "train step") == 0) {
        step_work(t, lr, g->args);
        g->graph = am_gpu_capture_end(&m->ctx, "train step");
    }
    if (!g->graph) {
        g->graphs = 0;
        return -1;
    }
    g->graph_abase = m->acts.base;
    g->graph_padded = m->xpad_ready;
    g->graph_N = m->acts.N;
    g->graph_S = m->acts.size;
    g->graph_ws_gen = m->ctx.ws_gen;
    g->graph_seed = t->seed;
    g->graph_unlabelled = t->ssl_unlabelled;
    return 0;
}

// A step replays one CUDA graph of its device work (g->graphs 0: never),
// captured at the second step, after an eager one has made the cuDNN plans,
// chosen the depthwise kernels and sized the workspace. When the activations,
// the batch shape, the input kind (floats or views), the cuDNN workspace or
// the seed (a loaded checkpoint's) change, the graph is dropped and the next
// steps start over: one eager, then a capture.
static am_ssl_stats step_on_input(am_trainer *t, const int *labels) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_model *m = &g->live;
    const am_train_hparams *hp = &t->hp;
    am_gpu_upload(&m->ctx, g->labels, labels, sizeof(int) * (size_t)hp->batch);
    if (g->ssl_label) {
        AM_CHECK(t->step_images, "this loss needs the step's images (am_trainer.step_images)");
        am_gpu_upload(&m->ctx, g->ssl_label + t->ssl_nimages, t->step_images, sizeof(int) * (size_t)hp->mu * hp->batch);
    }
    float lr = am_train_lr(hp, t->step);
    if (g->graph && (g->graph_abase != m->acts.base || g->graph_padded != m->xpad_ready || g->graph_N != m->acts.N ||
                     g->graph_S != m->acts.size || g->graph_ws_gen != m->ctx.ws_gen || g->graph_seed != t->seed ||
                     g->graph_unlabelled != t->ssl_unlabelled)) {
        drop_step_graph(g);
        g->eager_steps = 0;
    }
    int graph = g->graphs && g->eager_steps > 0;
    if (graph && !g->graph) graph = capture_step(t, lr) == 0;
    if (graph) {
        float k = (float)(t->step + 1);
        am_step_args h = {.step = t->step, .lr = lr, .c1 = 1.0f - powf(hp->adam_b1, k),
                          .c2 = 1.0f - powf(hp->adam_b2, k)};
        am_gpu_upload(&m->ctx, g->args, &h, sizeof h);
        AM_CUDA(cudaGraphLaunch((cudaGraphExec_t)g->graph, (cudaStream_t)m->ctx.stream));
        am_cuda_after_launch(__FILE__, __LINE__, "cudaGraphLaunch (train step)", m->ctx.stream);
    } else {
        step_work(t, lr, NULL);
        g->eager_steps++;
    }
    float s[5];
    am_gpu_download(&m->ctx, s, g->loss, sizeof s);
    t->step++;
    return (am_ssl_stats){.loss = s[0], .loss_x = s[1], .loss_u = s[2], .loss_e = s[3], .mask_rate = s[4]};
}

am_ssl_stats am_gpu_train_step(am_trainer *t, const float *x, const int *labels, int S) {
    am_gpu_model *m = &t->gpu->live;
    int rows = t->hp.batch * (1 + 2 * t->hp.mu);
    float *xin = am_gpu_input(m, rows, S);  // (B+2U,S,S,C)
    am_gpu_upload(&m->ctx, xin, x, sizeof(float) * (size_t)rows * S * S * t->model.arch.in_ch);
    return step_on_input(t, labels);
}

// Grows a device buffer to at least `bytes` (the old one freed once no
// queued work reads it).
static void *grow(am_gpu_ctx *c, void *p, size_t *have, size_t bytes, const char *what) {
    if (bytes <= *have) return p;
    am_gpu_sync(c);
    am_gpu_free(c, p, *have);
    *have = bytes;
    return am_gpu_alloc(c, bytes, what);
}

am_ssl_stats am_gpu_train_step_views(am_trainer *t, const uint8_t *raw, const am_aug_plan *plans,
                                          const int *labels, int S) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_model *m = &g->live;
    am_gpu_ctx *c = &m->ctx;
    int B = t->hp.batch, U = t->hp.mu * t->hp.batch, C = t->model.arch.in_ch, Sp, pad;
    size_t img = (size_t)S * S * C, plan_bytes = sizeof(am_aug_plan) * (size_t)(B + 2 * U);
    if (C != 1 && C != 3)  // bands: the kernel applies per-band steps only (AM_RA_BANDS draws no other)
        for (int v = 0; v < B + 2 * U; v++)
            for (int j = 0; j < plans[v].n; j++)
                AM_CHECK(!am_aug_step_needs_hist(plans[v].s[j].kind), "band images take AM_RA_BANDS's per-band ops");
    if (!g->plans) g->plans = am_gpu_alloc(c, plan_bytes, "the augmentation plans");
    g->raw = grow(c, g->raw, &g->raw_bytes, img * (B + U), "the training images");
    g->aug_work = grow(c, g->aug_work, &g->work_bytes, cu_augment_work_bytes(B + U, S, S, C),
                       "the augmentation scratch");
    am_gpu_upload(c, g->raw, raw, img * (B + U));
    am_gpu_upload(c, g->plans, plans, plan_bytes);
    void *xp = am_gpu_input_padded(m, B + 2 * U, S, &Sp, &pad);  // (B+2U,Sp,Sp,C) of m->dt
    size_t row = (size_t)Sp * Sp * C * am_dt_size(m->dt);
    // weak views of the labelled and pool images, then strong views of the pool images
    cu_augment_batch(xp, NULL, g->raw, g->plans, g->aug_work, B + U, S, S, C, Sp, Sp, pad, pad, m->dt, c->stream);
    cu_augment_batch((char *)xp + row * (B + U), NULL, g->raw + img * B, g->plans + B + U, g->aug_work, U, S, S, C,
                     Sp, Sp, pad, pad, m->dt, c->stream);
    return step_on_input(t, labels);
}

void am_gpu_trainer_score_send(am_trainer *t, int k, const float *x, int N, int S) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_ctx *c = &g->ema.ctx;
    size_t bytes = sizeof(float) * (size_t)N * S * S * t->ema.arch.in_ch;
    if (!g->copy_stream) {
        cudaStream_t cs;
        AM_CUDA(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
        g->copy_stream = cs;
        for (int i = 0; i < 2; i++) {
            cudaEvent_t e;
            AM_CUDA(cudaEventCreate(&e));
            g->staged[i] = e;
        }
    }
    if (bytes > g->stage_bytes[k]) {  // buffer k holds no queued batch (its take has returned)
        am_gpu_free(c, g->stage[k], g->stage_bytes[k]);
        g->stage[k] = am_gpu_alloc(c, bytes, "a queued scoring batch");
        g->stage_bytes[k] = bytes;
    }
    AM_CUDA(cudaMemcpyAsync(g->stage[k], x, bytes, cudaMemcpyHostToDevice, (cudaStream_t)g->copy_stream));
    AM_CUDA(cudaEventRecord((cudaEvent_t)g->staged[k], (cudaStream_t)g->copy_stream));
}

// The host logits of N images: room for them, after the live model's work
// (a training step) is done.
static float *score_logits(am_trainer *t, int N) {
    am_gpu_trainer *g = t->gpu;
    size_t need = (size_t)N * t->ema.arch.classes;
    if (need > g->nlogits) {
        free(g->logits);
        g->logits = AM_MALLOC(sizeof(float) * need);
        g->nlogits = need;
    }
    am_gpu_sync(&g->live.ctx);
    return g->logits;
}

const float *am_gpu_trainer_score_take(am_trainer *t, int k, int N, int S) {
    am_gpu_trainer *g = t->gpu;
    score_logits(t, N);
    AM_CUDA(cudaStreamWaitEvent((cudaStream_t)g->ema.ctx.stream, (cudaEvent_t)g->staged[k], 0));
    am_gpu_eval_device(&g->ema, g->logits, g->stage[k], N, S);
    return g->logits;
}

const float *am_gpu_trainer_score(am_trainer *t, const float *x, int N, int S) {
    am_gpu_trainer *g = t->gpu;
    score_logits(t, N);
    am_gpu_eval(&g->ema, g->logits, x, N, S);
    return g->logits;
}
#else
int am_trainer_to_gpu(am_trainer *t, int device, int dt) {
    (void)t;
    (void)dt;
    return am_seterr("CUDA device %d unavailable: this build has no CUDA backend (rebuild with nvcc and cuDNN, CUDA=1)",
                     device);
}
#endif
