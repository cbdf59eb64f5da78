// The GPU trainer (src/train/trainer_gpu.c) against the CPU trainer
// (src/train/trainer.c). B0 (TF initialisation, a 2-class head initialised
// as the Python tool's new head), 32 px, B 2, mu 2, starts on the GPU and the CPU from
// identical state with random momentum / Adam state, EMA and BN statistics,
// at step 5 of a cosine schedule; then, for SGD (Nesterov, hard
// pseudo-labels) and AdamW (soft pseudo-labels) in fp32, three steps each:
// from identical state, a second one continuing on the device, a third after
// the CPU state is uploaded (the resume path). The first step runs eagerly,
// the second captures the step's CUDA graph and launches it, the third
// replays it, so the graph is checked against the CPU too. After each step:
// the loss statistics, the gradients, the parameter update, the optimiser
// state, the EMA update, the BN statistics and the EMA's copy of them. Then
// scoring with the EMA model (CUDA graph; a smaller batch inside the larger
// one; after a step; another size) against the CPU eval, and one bf16 step
// and scoring. Last, the step from the views' sources (am_train_step_views:
// the weak and strong views made on the device straight into the network's
// input) against the CPU step on the same views made on the CPU, fp32 and
// bf16, at 33 px; and with 2 input channels (bands: AM_RA_BANDS views).
//
// Tolerances come from the CPU's own spread (gpu_check.h): CPU twins of the
// reference trainer take every step on the batch moved by one ulp (and, for
// bf16, one on the batch and weights rounded to bf16); the GPU may differ
// from the reference spread_k times as much as the twins do (gpu_check.h). B0, not Lite0:
// the trainer's code is the same for both, but at these sizes (BN over 10
// values at the last stage) Lite0's ReLU6 kinks make a step chaotic (twins
// 1e-4 .. 1e-2 apart on the gradients, and a GPU flipping a kink none of the
// twins flipped), while B0's swish keeps the spread at 1e-5 .. 4e-5.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/augment.h"
#include "am/error.h"
#include "am/trainer_gpu.h"
#include "am/train.h"
#include "../../kernels/bf16_math.h"
#include "../compare.h"
#include "gpu_check.h"

#define TB 2     // labelled images per step
#define TMU 2    // unlabelled per labelled
#define TS 32    // image side
#define TK 2     // classes
#define TROWS (TB * (1 + 2 * TMU))
#define NTWIN (SPREAD_TRIALS + 1)  // the ulp twins, and a bf16 one for bf16 cases

static am_train_hparams case_hp(int opt) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = TB;
    hp.mu = TMU;
    hp.optimizer = opt;
    hp.ssl.tau = 0.0f;  // every unlabelled row passes: no threshold decision can differ between the two
    hp.ssl.T = opt == AM_OPT_ADAMW ? 0.5f : 0.0f;
    hp.lr *= (float)TB / 16.0f;  // the default lr is for B 16
    hp.wd = opt == AM_OPT_ADAMW ? 0.01f : hp.wd;
    hp.schedule = AM_LR_COSINE;
    hp.total_steps = 20;
    return hp;
}

static int TC = 3;  // the trainers' input channels (views_case sets bands)

// A loss with a state per image (FlexMatch) keeps it for 2U images; each
// step draws U of them, half of them seen the step before (images_step).
#define NIMAGES (2 * TB * TMU)
static int step_images[TB * TMU], images_step;

static am_trainer *new_trainer(const am_train_hparams *hp) {
    am_trainer *t = AM_CALLOC(sizeof *t);
    if (am_trainer_init(t, "b0", TC, TK, 21, hp)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    am_model_init_fc(&t->model, 21);
    am_trainer_set_images(t, NIMAGES);
    t->ssl_unlabelled = NIMAGES;
    t->step_images = step_images;
    return t;
}

// Random state away from the initial zeros, tensor by tensor (the padding
// between tensors stays zero): v (momentum / Adam m), Adam s, EMA parameters
// near the live ones, running means and variances, and EMA statistics that
// differ from the live ones (each step must replace them).
static void fill_state(am_trainer *t) {
    for (int k = 0; k < t->model.ntensors; k++) {
        const am_tensor *e = &t->model.tensors[k];
        size_t o = e->offset;
        if (e->family == AM_PARAM) {
            for (size_t i = o; i < o + e->n; i++) {
                t->v[i] = (float)urand(-1, 1);
                t->s[i] = (float)urand(1e-2, 1);
                t->ema.params[i] = t->model.params[i] + (float)urand(-0.01, 0.01);
            }
        } else {
            size_t len = strlen(e->name);
            int var = len > 4 && !strcmp(e->name + len - 4, ".var");
            for (size_t i = o; i < o + e->n; i++) {
                t->model.stats[i] = var ? (float)urand(0.5, 1.5) : (float)urand(-0.1, 0.1);
                t->ema.stats[i] = var ? (float)urand(0.5, 1.5) : (float)urand(-0.1, 0.1);
            }
        }
    }
    t->step = 5;
}

// dst's host state := src's (same architecture).
static void copy_state(am_trainer *dst, const am_trainer *src) {
    size_t n = src->model.nparams, ns = src->model.nstats;
    memcpy(dst->model.params, src->model.params, sizeof(float) * n);
    memcpy(dst->model.stats, src->model.stats, sizeof(float) * ns);
    memcpy(dst->ema.params, src->ema.params, sizeof(float) * n);
    memcpy(dst->ema.stats, src->ema.stats, sizeof(float) * ns);
    memcpy(dst->v, src->v, sizeof(float) * n * 2);
    dst->step = src->step;
    dst->seed = src->seed;
}

// The CPU reference, its twins and the GPU trainer (precision dt), all in
// the same state; a bf16 case has a last twin whose weights and batches are
// rounded to bf16.
typedef struct {
    am_trainer *c, *g, *tw[NTWIN];
    int ntw, dt;
} pair;

static void twins_sync(pair *p) {
    for (int i = 0; i < p->ntw; i++) {
        copy_state(p->tw[i], p->c);
        if (p->dt == AM_BF16 && i == p->ntw - 1)
            for (size_t j = 0; j < p->c->model.nparams; j++) p->tw[i]->model.params[j] = am_bf16_round(p->c->model.params[j]);
    }
}

static pair make_pair(const am_train_hparams *hp, int dt) {
    pair p = {new_trainer(hp), new_trainer(hp), {NULL}, dt == AM_BF16 ? NTWIN : SPREAD_TRIALS, dt};
    fill_state(p.c);
    copy_state(p.g, p.c);
    for (int i = 0; i < p.ntw; i++) p.tw[i] = new_trainer(hp);
    twins_sync(&p);
    if (am_trainer_to_gpu(p.g, C.device, dt)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    return p;
}

static void free_trainer(am_trainer *t) {
    am_trainer_free(t);
    free(t);
}

static void free_pair(pair *p) {
    free_trainer(p->c);
    free_trainer(p->g);
    for (int i = 0; i < p->ntw; i++) free_trainer(p->tw[i]);
}

// The batch a twin steps on: moved by one ulp, or rounded to bf16.
static float *twin_batch(const pair *p, int i, const float *x, size_t n) {
    float *t = h_copy(x, n);
    if (p->dt == AM_BF16 && i == p->ntw - 1)
        for (size_t j = 0; j < n; j++) t[j] = am_bf16_round(t[j]);
    else
        ulp_nudge(t, n);
    return t;
}

// What a step did: the loss statistics, the gradients, and the updates of
// the parameters, optimiser state and EMA from the state before the step.
typedef struct {
    float stats[4];
    float *grads, *dp, *v, *s, *de, *bn;
} step_out;

static float *diff(const float *a, const float *b, size_t n) {
    float *d = AM_MALLOC(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) d[i] = a[i] - b[i];
    return d;
}

// Steps t (the GPU trainer with raw/plans when raw is set) and records it.
static step_out step_record(am_trainer *t, const float *x, const uint8_t *raw, const am_aug_plan *plans,
                            const int *y, int S) {
    size_t n = t->model.nparams;
    if (t->gpu) am_trainer_download(t);
    float *p0 = h_copy(t->model.params, n), *e0 = h_copy(t->ema.params, n);
    am_ssl_stats st = raw ? am_train_step_views(t, raw, plans, y, S) : am_train_step(t, x, y, S);
    step_out o = {{st.loss, st.loss_x, st.loss_u, st.mask_rate}, AM_MALLOC(sizeof(float) * n), NULL, NULL, NULL, NULL, NULL};
    if (t->gpu) {
        am_gpu_model_download(&t->gpu->live, NULL, o.grads, NULL);
        am_trainer_download(t);
    } else {
        memcpy(o.grads, t->model.grads, sizeof(float) * n);
    }
    o.dp = diff(t->model.params, p0, n);
    o.de = diff(t->ema.params, e0, n);
    o.v = h_copy(t->v, n);
    o.s = h_copy(t->s, n);
    o.bn = h_copy(t->model.stats, t->model.nstats);
    free(p0);
    free(e0);
    return o;
}

static void step_out_free(step_out *o) { free(o->grads); free(o->dp); free(o->v); free(o->s); free(o->de); free(o->bn); }

// The differences of a step from the reference step, one per quantity.
enum { D_STATS, D_GRADS, D_UPDATE, D_V, D_S, D_EMA, D_BN, ND };
static const char *d_name[ND] = {"", "  gradients", "  parameter update", "  momentum / Adam m", "  Adam s",
                                 "  EMA update", "  BN running statistics"};

static void step_diffs(double *d, const step_out *a, const step_out *r, size_t n, size_t ns) {
    d[D_STATS] = rel_scaled(a->stats, r->stats, 4);
    d[D_GRADS] = cmp_norm(NULL, a->grads, r->grads, n, 1.0).err;
    d[D_UPDATE] = cmp_norm(NULL, a->dp, r->dp, n, 1.0).err;
    d[D_V] = cmp_norm(NULL, a->v, r->v, n, 1.0).err;
    d[D_S] = cmp_norm(NULL, a->s, r->s, n, 1.0).err;
    d[D_EMA] = cmp_norm(NULL, a->de, r->de, n, 1.0).err;
    d[D_BN] = cmp_norm(NULL, a->bn, r->bn, ns, 1.0).err;
}

// One step of the reference, the twins and the GPU trainer on the same batch
// (the GPU from the views' sources when raw is set), then the comparisons.
static void step_and_compare(pair *p, const float *x, const uint8_t *raw, const am_aug_plan *plans, int S,
                             const char *label) {
    size_t n = p->c->model.nparams, ns = p->c->model.nstats, nx = (size_t)TROWS * S * S * TC;
    for (int i = 0; i < TB * TMU; i++) step_images[i] = (i + images_step * TB * TMU / 2) % NIMAGES;
    images_step++;
    int y[TB];
    for (int i = 0; i < TB; i++) y[i] = i % TK;
    step_out r = step_record(p->c, x, NULL, NULL, y, S), g = step_record(p->g, x, raw, plans, y, S);
    double spread[ND] = {0}, err[ND], e[ND];
    for (int i = 0; i < p->ntw; i++) {
        float *xt = twin_batch(p, i, x, nx);
        step_out t = step_record(p->tw[i], xt, NULL, NULL, y, S);
        step_diffs(e, &t, &r, n, ns);
        for (int k = 0; k < ND; k++) spread[k] = fmax(spread[k], e[k]);
        step_out_free(&t);
        free(xt);
    }
    step_diffs(err, &g, &r, n, ns);
    char name[128];
    snprintf(name, sizeof name, "trainer %s %s %s: loss, loss_x, loss_u, mask",
             p->c->hp.optimizer == AM_OPT_ADAMW ? "adamw" : "sgd", dtn(p->dt), label);
    check_spread(name, err[D_STATS], spread[D_STATS], p->dt);
    for (int k = 1; k < ND; k++)
        if (k != D_S || p->c->hp.optimizer == AM_OPT_ADAMW) check_spread(d_name[k], err[k], spread[k], p->dt);
    check_pass("  EMA statistics = live statistics", !memcmp(p->g->ema.stats, p->g->model.stats, sizeof(float) * ns),
               "the EMA model's BN statistics are not the live model's after the step");
    check_pass("  step counter", p->g->step == p->c->step, "the GPU trainer's step differs");
    step_out_free(&r);
    step_out_free(&g);
}

static void train_case(int opt) {
    am_train_hparams hp = case_hp(opt);
    pair p = make_pair(&hp, AM_F32);
    am_trainer *tc = p.c, *tg = p.g;
    if (opt == AM_OPT_SGD) {
        // Upload then download gives back the host state bit for bit.
        am_trainer_download(tg);
        size_t n = tc->model.nparams, ns = tc->model.nstats;
        int same = !memcmp(tg->model.params, tc->model.params, sizeof(float) * n) &&
                   !memcmp(tg->model.stats, tc->model.stats, sizeof(float) * ns) &&
                   !memcmp(tg->ema.params, tc->ema.params, sizeof(float) * n) &&
                   !memcmp(tg->ema.stats, tc->ema.stats, sizeof(float) * ns) &&
                   !memcmp(tg->v, tc->v, sizeof(float) * n * 2);
        check_pass("trainer state: host -> device -> host is exact", same, "a family changed on the round trip");
    }
    size_t nx = (size_t)TROWS * TS * TS * 3;
    const char *label[3] = {"step 1", "step 2", "step 3 after upload"};
    for (int k = 0; k < 3; k++) {
        if (k == 2) {
            copy_state(tg, tc);
            am_trainer_upload(tg);
            twins_sync(&p);
        }
        float *x = h_rand(nx, -1, 1, 0);
        step_and_compare(&p, x, NULL, NULL, TS, label[k]);
        free(x);
    }
    free_pair(&p);
}

// EMA scoring of x (n images of side S): the GPU against the CPU eval of the
// same EMA model, within the spread of the CPU eval on x moved by one ulp
// (and, bf16, on x and the EMA weights rounded to bf16).
static void check_score(const char *what, am_trainer *tg, am_model *ema, const float *x, int n, int S,
                        int dt) {
    size_t nx = (size_t)n * S * S * 3, nz = (size_t)n * TK;
    float *ref = h_copy(am_forward(ema, x, n, S, 0, 0, 0), nz);
    float *got = h_copy(am_trainer_score(tg, x, n, S), nz);
    double spread = 0.0;
    for (int i = 0; i < SPREAD_TRIALS + (dt == AM_BF16); i++) {
        float *xt = h_copy(x, nx), *keep = NULL;
        if (i < SPREAD_TRIALS) {
            ulp_nudge(xt, nx);
        } else {
            keep = h_copy(ema->params, ema->nparams);
            for (size_t j = 0; j < nx; j++) xt[j] = am_bf16_round(xt[j]);
            for (size_t j = 0; j < ema->nparams; j++) ema->params[j] = am_bf16_round(keep[j]);
        }
        spread = fmax(spread, cmp_norm(NULL, am_forward(ema, xt, n, S, 0, 0, 0), ref, nz, 1.0).err);
        if (keep) {
            memcpy(ema->params, keep, sizeof(float) * ema->nparams);
            free(keep);
        }
        free(xt);
    }
    check_spread(what, cmp_norm(NULL, got, ref, nz, 1.0).err, spread, dt);
    free(ref);
    free(got);
}

// Scoring with the EMA model on the device against the CPU eval of the same
// EMA model.
static void score_case(int dt) {
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    pair p = make_pair(&hp, dt);
    size_t img = (size_t)TS * TS * 3;
    char name[128];
    float *x = h_rand(5 * img, -1, 1, 0);
    snprintf(name, sizeof name, "EMA scoring %s N5 S%d (CUDA graph) = CPU eval", dtn(dt), TS);
    check_score(name, p.g, &p.c->ema, x, 5, TS, dt);
    free(x);
    x = h_rand(3 * img, -1, 1, 0);
    check_score("  N3 inside the N5 activations", p.g, &p.c->ema, x, 3, TS, dt);
    free(x);
    // After a device step the graph reads the new EMA: against the CPU eval of
    // the downloaded EMA model.
    float *xb = h_rand(TROWS * img, -1, 1, 0);
    int y[TB];
    for (int i = 0; i < TB; i++) y[i] = i % TK;
    am_train_step(p.g, xb, y, TS);
    free(xb);
    am_trainer_download(p.g);
    x = h_rand(5 * img, -1, 1, 0);
    check_score("  after a device step (the EMA moved)", p.g, &p.g->ema, x, 5, TS, dt);
    free(x);
    x = h_rand(4 * 64 * 64 * 3, -1, 1, 0);
    check_score("  another size, N4 S64 (a new graph)", p.g, &p.g->ema, x, 4, 64, dt);
    free(x);
    free_pair(&p);
}

// One bf16 step from the same state as the CPU.
static void bf16_case(void) {
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    pair p = make_pair(&hp, AM_BF16);
    float *x = h_rand((size_t)TROWS * TS * TS * 3, -1, 1, 0);
    step_and_compare(&p, x, NULL, NULL, TS, "step 1");
    free(x);
    free_pair(&p);
}

// At 33 px the stem pads one row and column before the image, so the views
// land at offset (1, 1) of the padded input.
#define VS 33
static void views_case(int dt, int C) {
    TC = C;
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    pair p = make_pair(&hp, dt);
    const int U = TB * TMU;
    size_t img = (size_t)VS * VS * C;
    uint8_t *raw = AM_MALLOC(img * (TB + U)), *view = AM_MALLOC(img);
    float *x = AM_MALLOC(sizeof(float) * img * TROWS);
    am_aug_plan plans[TROWS];
    // steps 1, 2: views (eager, then the captured graph); step 3: floats, which
    // must drop that graph and step eagerly
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < img * (TB + U); i++) raw[i] = (uint8_t)urand(0, 256);
        am_augment_plan_step(plans, TB, U, VS, VS, C, C == 3 ? AM_RA_USB : AM_RA_BANDS, 9, (uint64_t)k);
        for (int j = 0; j < TROWS; j++) {
            am_augment_apply_plan(view, NULL, raw + img * (size_t)(j < TB + U ? j : j - U), &plans[j], VS, VS, C);
            for (size_t i = 0; i < img; i++) x[img * j + i] = (float)view[i] / 255.0f;
        }
        char label[64];
        snprintf(label, sizeof label, "%s on the GPU, %d channels, step %d", k < 2 ? "views" : "floats", C, k + 1);
        step_and_compare(&p, x, k < 2 ? raw : NULL, plans, VS, label);
    }
    free(raw); free(view); free(x);
    free_pair(&p);
    TC = 3;
}

// FlexMatch on the GPU trainer: its state per image goes to the device, the
// step's kernel updates it from the step's images, and it comes back as the
// CPU trainer's (every row passes tau 0, so each image keeps its argmax).
static void flex_case(void) {
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    hp.ssl.loss = AM_SSL_flexmatch;
    pair p = make_pair(&hp, AM_F32);
    float *x = h_rand((size_t)TROWS * TS * TS * 3, -1, 1, 0);
    for (int k = 0; k < 3; k++) {
        char label[32];
        snprintf(label, sizeof label, "flexmatch step %d", k + 1);
        step_and_compare(&p, x, NULL, NULL, TS, label);
    }
    am_trainer_download(p.g);
    int same = !memcmp(p.g->ssl_label, p.c->ssl_label, sizeof(int) * NIMAGES);
    check_pass("  flexmatch: the state per image as the CPU's", same, "differs from the CPU's");
    check("  flexmatch: the loss's state", p.g->ssl.f, p.c->ssl.f, AM_SSL_STATE_FLOATS, 1e-6);
    free(x);
    free_pair(&p);
}

void test_train_gpu(void) {
    train_case(AM_OPT_SGD);
    train_case(AM_OPT_ADAMW);
    score_case(AM_F32);
    bf16_case();
    score_case(AM_BF16);
    views_case(AM_F32, 3);
    views_case(AM_BF16, 3);
    views_case(AM_F32, 2);  // bands: AM_RA_BANDS views made by the kernel
    flex_case();
}
