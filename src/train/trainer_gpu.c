// The FixMatch step and scoring on a CUDA device, step for step as
// am_train_step in src/train/trainer.c: the float batch made on the CPU is
// uploaded, then training forward, FixMatch loss, backward, SGD/AdamW, EMA
// and the EMA's BN statistics copied from the live model, all on the device.
// The device EMA lives in the EMA model's own params and stats (struct
// am_gpu_trainer in am/gpu.h), which scoring reads through a CUDA graph.
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/train.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>

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
    g->v = am_gpu_alloc(c, sizeof(float) * 2 * t->model.nparams, "the optimiser state");
    g->dlogits = am_gpu_alloc(c, sizeof(float) * (size_t)rows * K, "the logit gradients");
    g->loss = am_gpu_alloc(c, sizeof(float) * 4, "the loss statistics");
    g->labels = am_gpu_alloc(c, sizeof(int) * (size_t)hp->batch, "the labels");
    am_gpu_upload(c, g->v, t->v, sizeof(float) * 2 * t->model.nparams);
    t->gpu = g;
    return 0;
}

void am_gpu_trainer_free(am_trainer *t) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_ctx *c = &g->live.ctx;
    am_gpu_sync(c);
    am_gpu_free(c, g->v, sizeof(float) * 2 * t->model.nparams);
    am_gpu_free(c, g->dlogits, sizeof(float) * (size_t)t->hp.batch * (1 + 2 * t->hp.mu) * t->model.arch.classes);
    am_gpu_free(c, g->loss, sizeof(float) * 4);
    am_gpu_free(c, g->labels, sizeof(int) * (size_t)t->hp.batch);
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
}

void am_gpu_trainer_upload(am_trainer *t) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_sync(&g->live.ctx);
    am_gpu_model_upload(&g->live);
    am_gpu_model_upload(&g->ema);
    am_gpu_upload(&g->live.ctx, g->v, t->v, sizeof(float) * 2 * t->model.nparams);
}

am_fixmatch_stats am_gpu_train_step(am_trainer *t, const float *x, const int *labels, int S) {
    am_gpu_trainer *g = t->gpu;
    am_gpu_model *m = &g->live;
    const am_train_hparams *hp = &t->hp;
    int B = hp->batch, U = hp->mu * hp->batch, K = t->model.arch.classes;
    size_t n = t->model.nparams;
    void *st = m->ctx.stream;
    float *xin = am_gpu_input(m, B + 2 * U, S);  // (B+2U,S,S,C)
    am_gpu_upload(&m->ctx, xin, x, sizeof(float) * (size_t)(B + 2 * U) * S * S * t->model.arch.in_ch);
    am_gpu_upload(&m->ctx, g->labels, labels, sizeof(int) * (size_t)B);
    const float *z = am_gpu_forward(m, 1, t->seed, t->step);
    cu_fixmatch_forward_backward(g->loss, g->dlogits, z, g->labels, B, U, K, hp->tau, hp->lambda_u, hp->T, st);
    am_gpu_zero_grad(m);
    am_gpu_backward(m, g->dlogits);
    float lr = am_train_lr(hp, t->step);
    if (hp->optimizer == AM_OPT_ADAMW)
        cu_adamw_update(m->params, g->v, g->v + n, m->grads, m->decay, n, lr, hp->adam_b1, hp->adam_b2,
                        hp->adam_eps, hp->wd, (long)t->step + 1, st);
    else
        cu_sgd_update(m->params, g->v, m->grads, m->decay, n, lr, hp->momentum, hp->wd, hp->nesterov, st);
    cu_ema_update(g->ema.params, m->params, n, hp->ema, st);
    AM_CUDA(cudaMemcpyAsync(g->ema.stats, m->stats, sizeof(float) * t->model.nstats, cudaMemcpyDeviceToDevice,
                            (cudaStream_t)st));
    float s[4];
    am_gpu_download(&m->ctx, s, g->loss, sizeof s);
    t->step++;
    return (am_fixmatch_stats){.loss = s[0], .loss_x = s[1], .loss_u = s[2], .mask_rate = s[3]};
}

const float *am_gpu_trainer_score(am_trainer *t, const float *x, int N, int S) {
    am_gpu_trainer *g = t->gpu;
    size_t need = (size_t)N * t->ema.arch.classes;
    if (need > g->nlogits) {
        free(g->logits);
        g->logits = AM_MALLOC(sizeof(float) * need);
        g->nlogits = need;
    }
    am_gpu_sync(&g->live.ctx);
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
