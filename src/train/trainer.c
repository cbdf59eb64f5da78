// The FixMatch step: one training-mode forward over [labelled, weak, strong],
// the fused FixMatch loss, backward, SGD/AdamW on the live model, EMA of the
// parameters with the BN running statistics copied from the live model.
// On the CPU here; on a CUDA device through src/train/trainer_gpu.c when
// t->gpu is set.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/trainer_gpu.h"
#include "am/train.h"

am_train_hparams am_train_defaults(void) {
    am_train_hparams h = {
        .batch = 16, .mu = 5,
        .ssl = {.loss = AM_SSL_fixmatch, .tau = 0.95f, .T = 0.0f, .lambda_u = 1.0f, .ema_p = 0.999f, .lambda_e = 0.001f,
                .n_sigma = 2.0f, .warmup = 1},
        .optimizer = AM_OPT_SGD, .lr = 0.0075f, .momentum = 0.9f, .wd = 7.5e-4f, .nesterov = 1,
        .schedule = AM_LR_CONSTANT, .total_steps = 200, .ema = 0.99f,
        .adam_b1 = 0.9f, .adam_b2 = 0.999f, .adam_eps = 1e-8f,
    };
    return h;
}

int am_trainer_init(am_trainer *t, const char *arch, int in_ch, int classes, uint64_t seed,
                    const am_train_hparams *hp) {
    memset(t, 0, sizeof *t);
    if (am_model_init(&t->model, arch, in_ch, classes, seed)) return -1;
    if (am_model_init(&t->ema, arch, in_ch, classes, seed)) { am_model_free(&t->model); return -1; }
    size_t n = t->model.nparams;
    t->v = AM_CALLOC(sizeof(float) * n * 2);
    t->s = t->v + n;
    t->decay = AM_CALLOC(n);
    for (int i = 0; i < t->model.ntensors; i++) {
        const am_tensor *e = &t->model.tensors[i];
        if (e->family == AM_PARAM) memset(t->decay + e->offset, e->decay, e->n);
    }
    t->seed = seed;
    t->hp = *hp;
    if (classes > AM_SSL_MAX_K) {
        am_trainer_free(t);
        return am_seterr("%d classes: the consistency losses take at most %d", classes, AM_SSL_MAX_K);
    }
    am_ssl_init(&t->ssl, classes, &hp->ssl);
    int rows = hp->batch * (1 + 2 * hp->mu);
    t->dlogits = AM_MALLOC(sizeof(float) * rows * classes);
    return 0;
}

void am_trainer_set_images(am_trainer *t, int n) {
    AM_CHECK(!t->gpu, "the images are set before the trainer moves to a device");
    if (!am_ssl_per_image(t->hp.ssl.loss)) return;
    free(t->ssl_label);
    t->ssl_label = AM_MALLOC(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) t->ssl_label[i] = -1;
    t->ssl_nimages = n;
}

// The per-image state and the step's images (host arrays).
static am_ssl_images ssl_images(const am_trainer *t) {
    return (am_ssl_images){t->step_images, t->ssl_label, t->ssl_nimages, t->ssl_unlabelled};
}

void am_trainer_free(am_trainer *t) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) am_gpu_trainer_free(t);
#endif
    am_model_free(&t->model);
    am_model_free(&t->ema);
    free(t->v);
    free(t->decay);
    free(t->dlogits);
    free(t->ssl_label);
    memset(t, 0, sizeof *t);
}

void am_trainer_sync_ema(am_trainer *t) {
    memcpy(t->ema.params, t->model.params, sizeof(float) * t->model.nparams);
    memcpy(t->ema.stats, t->model.stats, sizeof(float) * t->model.nstats);
}

void am_trainer_download(am_trainer *t) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) am_gpu_trainer_download(t);
#else
    (void)t;
#endif
}

void am_trainer_upload(am_trainer *t) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) am_gpu_trainer_upload(t);
#else
    (void)t;
#endif
}

float am_train_lr(const am_train_hparams *hp, uint64_t step) {
    if (hp->schedule == AM_LR_COSINE && hp->total_steps > 0)
        return hp->lr * (float)cos(7.0 * M_PI * (double)step / (16.0 * hp->total_steps));
    return hp->lr;
}

am_ssl_stats am_train_step(am_trainer *t, const float *x, const int *labels, int S) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) return am_gpu_train_step(t, x, labels, S);
#endif
    const am_train_hparams *hp = &t->hp;
    int B = hp->batch, U = hp->mu * hp->batch, K = t->model.arch.classes;
    const float *z = am_forward(&t->model, x, B + 2 * U, S, 1, t->seed, t->step);
    am_ssl_images img = ssl_images(t);
    am_ssl_stats st = ssl_forward_backward(t->dlogits, z, labels, B, U, K, &t->ssl, &img, &hp->ssl);
    am_zero_grad(&t->model);
    am_backward(&t->model, t->dlogits);
    float lr = am_train_lr(hp, t->step);
    size_t n = t->model.nparams;
    if (hp->optimizer == AM_OPT_ADAMW)
        adamw_update(t->model.params, t->v, t->s, t->model.grads, t->decay, n, lr, hp->adam_b1, hp->adam_b2,
                     hp->adam_eps, hp->wd, (long)t->step + 1);
    else
        sgd_update(t->model.params, t->v, t->model.grads, t->decay, n, lr, hp->momentum, hp->wd, hp->nesterov);
    ema_update(t->ema.params, t->model.params, n, hp->ema);
    memcpy(t->ema.stats, t->model.stats, sizeof(float) * t->model.nstats);
    t->step++;
    return st;
}

am_ssl_stats am_train_step_views(am_trainer *t, const uint8_t *raw, const am_aug_plan *plans,
                                      const int *labels, int S) {
    AM_CHECK(t->gpu != NULL, "am_train_step_views runs on a trainer on a CUDA device");
#ifdef AM_HAVE_CUDA
    return am_gpu_train_step_views(t, raw, plans, labels, S);
#else
    (void)raw;
    (void)plans;
    (void)labels;
    (void)S;
    return (am_ssl_stats){0};
#endif
}

const float *am_trainer_score(am_trainer *t, const float *x, int N, int S) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) return am_gpu_trainer_score(t, x, N, S);
#endif
    return am_forward(&t->ema, x, N, S, 0, 0, 0);
}

void am_trainer_score_send(am_trainer *t, const float *x, int N, int S) {
    AM_CHECK(t->queue.count < 2, "am_trainer_score_send: two batches are queued already (take one first)");
    int k = (t->queue.head + t->queue.count) % 2;
    t->queue.x[k] = x;
    t->queue.n[k] = N;
    t->queue.S[k] = S;
    t->queue.count++;
#ifdef AM_HAVE_CUDA
    if (t->gpu) am_gpu_trainer_score_send(t, k, x, N, S);
#endif
}

const float *am_trainer_score_take(am_trainer *t) {
    AM_CHECK(t->queue.count > 0, "am_trainer_score_take: no batch is queued");
    int k = t->queue.head;
    t->queue.head = (k + 1) % 2;
    t->queue.count--;
#ifdef AM_HAVE_CUDA
    if (t->gpu) return am_gpu_trainer_score_take(t, k, t->queue.n[k], t->queue.S[k]);
#endif
    return am_forward(&t->ema, t->queue.x[k], t->queue.n[k], t->queue.S[k], 0, 0, 0);
}

void *am_trainer_host_alloc(am_trainer *t, size_t bytes) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) return am_gpu_host_alloc(bytes, "the loader's batches");
#else
    (void)t;
#endif
    return AM_MALLOC(bytes);
}

void am_trainer_host_free(am_trainer *t, void *p) {
#ifdef AM_HAVE_CUDA
    if (t->gpu) {
        am_gpu_host_free(p);
        return;
    }
#else
    (void)t;
#endif
    free(p);
}
