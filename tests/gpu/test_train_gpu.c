// The GPU trainer (src/train/trainer_gpu.c) against the CPU trainer
// (src/train/trainer.c). Two trainers of Lite0 (2 classes, 32 px, B 2, mu 2)
// start from identical state with random momentum / Adam state, EMA and BN
// statistics, at step 5 of a cosine schedule; then, for SGD (Nesterov, hard
// pseudo-labels) and AdamW (soft pseudo-labels) in fp32, three steps each:
// from identical state, a second one continuing on the device, a third after
// the CPU state is uploaded (the resume path). The first step runs eagerly,
// the second captures the step's CUDA graph and launches it, the third
// replays it, so the graph is checked against the CPU too. After each step: the loss
// statistics, the gradients, the parameter update, the optimiser state, the
// EMA update, the BN statistics and the EMA's copy of them. Then scoring with
// the EMA model (CUDA graph; a smaller batch inside the larger one; after a
// step; another size) against the CPU eval, and one bf16 step and scoring.
// Last, the step from the views' sources (am_train_step_views: the weak and
// strong views made on the device straight into the network's input) against
// the CPU step on the same views made on the CPU, fp32 and bf16, at 33 px.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/augment.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/train.h"
#include "gpu_check.h"


#define TB 2     // labelled images per step
#define TMU 2    // unlabelled per labelled
#define TS 32    // image side
#define TK 2     // classes
#define TROWS (TB * (1 + 2 * TMU))

static am_train_hparams case_hp(int opt) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = TB;
    hp.mu = TMU;
    hp.optimizer = opt;
    hp.tau = 0.0f;  // every unlabelled row passes: no threshold decision can differ between the two
    hp.T = opt == AM_OPT_ADAMW ? 0.5f : 0.0f;
    hp.lr = 1e-4f;  // at TF init the gradients are large (rms ~10): keep the weights near their start
    hp.wd = opt == AM_OPT_ADAMW ? 0.01f : hp.wd;
    hp.schedule = AM_LR_COSINE;
    hp.total_steps = 20;
    return hp;
}

static am_trainer *new_trainer(const am_train_hparams *hp) {
    am_trainer *t = AM_CALLOC(sizeof *t);
    if (am_trainer_init(t, "lite0", 3, TK, 21, hp)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    return t;
}

// Random state away from the initial zeros: v (momentum / Adam m), Adam s,
// EMA parameters near the live ones, running means and variances, and EMA
// statistics that differ from the live ones (each step must replace them).
static void fill_state(am_trainer *t) {
    size_t n = t->model.nparams, ns = t->model.nstats;
    for (size_t i = 0; i < n; i++) {
        t->v[i] = (float)urand(-1, 1);
        t->s[i] = (float)urand(1e-2, 1);
        t->ema.params[i] = t->model.params[i] + (float)urand(-0.01, 0.01);
    }
    for (size_t i = 0; i < ns; i++) {
        int var = t->model.stats[i] != 0.0f;  // the init: means 0, variances 1
        t->model.stats[i] = var ? (float)urand(0.5, 1.5) : (float)urand(-0.1, 0.1);
        t->ema.stats[i] = var ? (float)urand(0.5, 1.5) : (float)urand(-0.1, 0.1);
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

// A CPU trainer with random state and a GPU trainer (precision dt) in the same state.
static void make_pair(const am_train_hparams *hp, int dt, am_trainer **tc, am_trainer **tg) {
    *tc = new_trainer(hp);
    *tg = new_trainer(hp);
    fill_state(*tc);
    copy_state(*tg, *tc);
    if (am_trainer_to_gpu(*tg, C.device, dt)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
}

static void free_pair(am_trainer *tc, am_trainer *tg) {
    am_trainer_free(tc);
    am_trainer_free(tg);
    free(tc);
    free(tg);
}

static float *diff(const float *a, const float *b, size_t n) {
    float *d = AM_MALLOC(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) d[i] = a[i] - b[i];
    return d;
}

// The host state before a step, for the updates.
typedef struct { float *p, *e; } snap;

static snap take(const am_trainer *t) {
    snap s = {h_copy(t->model.params, t->model.nparams), h_copy(t->ema.params, t->model.nparams)};
    return s;
}

static void drop(snap *s) { free(s->p); free(s->e); }

// One step on both trainers with the same batch, then the comparisons. The
// updates are measured from each trainer's own state before the step.
static void step_and_compare(am_trainer *tc, am_trainer *tg, int dt, const char *label, double tol) {
    size_t n = tc->model.nparams, ns = tc->model.nstats, nx = (size_t)TROWS * TS * TS * 3;
    float *x = h_rand(nx, -1, 1, 0);
    int y[TB];
    for (int i = 0; i < TB; i++) y[i] = i % TK;
    am_trainer_download(tg);
    snap bc = take(tc), bg = take(tg);
    am_fixmatch_stats sc = am_train_step(tc, x, y, TS);
    am_fixmatch_stats sg = am_train_step(tg, x, y, TS);
    float a[4] = {sg.loss, sg.loss_x, sg.loss_u, sg.mask_rate}, b[4] = {sc.loss, sc.loss_x, sc.loss_u, sc.mask_rate};
    char name[128];
    int bf = dt == AM_BF16;
    snprintf(name, sizeof name, "trainer %s %s %s: loss, loss_x, loss_u, mask", tc->hp.optimizer == AM_OPT_ADAMW ?
             "adamw" : "sgd", dtn(dt), label);
    if (bf) check_norm(name, a, b, 4, 1e-1, 0);
    else check(name, a, b, 4, 1e-4);
    float *gg = AM_MALLOC(sizeof(float) * n);
    am_gpu_model_download(&tg->gpu->live, NULL, gg, NULL);
    check_norm("  gradients", gg, tc->model.grads, n, tol, bf);
    free(gg);
    am_trainer_download(tg);
    float *dg = diff(tg->model.params, bg.p, n), *dc = diff(tc->model.params, bc.p, n);
    check_norm("  parameter update", dg, dc, n, tol, bf);
    free(dg); free(dc);
    check_norm(tc->hp.optimizer == AM_OPT_ADAMW ? "  Adam m" : "  momentum", tg->v, tc->v, n, tol, bf);
    // s takes (1 - b2) g^2: twice the gradients' relative error.
    if (tc->hp.optimizer == AM_OPT_ADAMW) check_norm("  Adam s", tg->s, tc->s, n, 2 * tol, bf);
    dg = diff(tg->ema.params, bg.e, n);
    dc = diff(tc->ema.params, bc.e, n);
    check_norm("  EMA update", dg, dc, n, tol, bf);
    free(dg); free(dc);
    check_norm("  BN running statistics", tg->model.stats, tc->model.stats, ns, bf ? 2e-2 : tol, 0);
    check_pass("  EMA statistics = live statistics", !memcmp(tg->ema.stats, tg->model.stats, sizeof(float) * ns),
               "the EMA model's BN statistics are not the live model's after the step");
    check_pass("  step counter", tg->step == tc->step, "the GPU trainer's step differs");
    drop(&bc);
    drop(&bg);
    free(x);
}

static void train_case(int opt) {
    am_train_hparams hp = case_hp(opt);
    am_trainer *tc, *tg;
    make_pair(&hp, AM_F32, &tc, &tg);
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
    step_and_compare(tc, tg, AM_F32, "step 1", 1e-4);
    // Continuing on the device: the small differences of step 1 carry into the
    // weights, momentum and Adam state, so a little more room.
    step_and_compare(tc, tg, AM_F32, "step 2", 3e-4);
    copy_state(tg, tc);
    am_trainer_upload(tg);
    step_and_compare(tc, tg, AM_F32, "step 3 after upload", 1e-4);
    free_pair(tc, tg);
}

// Scoring with the EMA model on the device against the CPU eval of the same
// EMA model.
static void score_case(int dt) {
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    am_trainer *tc, *tg;
    make_pair(&hp, dt, &tc, &tg);
    size_t img = (size_t)TS * TS * 3;
    double tol = dt == AM_BF16 ? 5e-2 : 1e-4;
    char name[128];
    float *x = h_rand(5 * img, -1, 1, 0), *ref, *got;
    ref = h_copy(am_trainer_score(tc, x, 5, TS), 5 * TK);
    got = h_copy(am_trainer_score(tg, x, 5, TS), 5 * TK);
    snprintf(name, sizeof name, "EMA scoring %s N5 S%d (CUDA graph) = CPU eval", dtn(dt), TS);
    check_norm(name, got, ref, 5 * TK, tol, 0);
    free(ref); free(got); free(x);
    x = h_rand(3 * img, -1, 1, 0);
    ref = h_copy(am_trainer_score(tc, x, 3, TS), 3 * TK);
    got = h_copy(am_trainer_score(tg, x, 3, TS), 3 * TK);
    check_norm("  N3 inside the N5 activations", got, ref, 3 * TK, tol, 0);
    free(ref); free(got); free(x);
    // After a device step the graph reads the new EMA: against the CPU eval of
    // the downloaded EMA model.
    float *xb = h_rand(TROWS * img, -1, 1, 0);
    int y[TB];
    for (int i = 0; i < TB; i++) y[i] = i % TK;
    am_train_step(tg, xb, y, TS);
    free(xb);
    am_trainer_download(tg);
    x = h_rand(5 * img, -1, 1, 0);
    ref = h_copy(am_forward(&tg->ema, x, 5, TS, 0, 0, 0), 5 * TK);
    got = h_copy(am_trainer_score(tg, x, 5, TS), 5 * TK);
    check_norm("  after a device step (the EMA moved)", got, ref, 5 * TK, tol, 0);
    free(ref); free(got); free(x);
    x = h_rand(4 * 64 * 64 * 3, -1, 1, 0);
    ref = h_copy(am_forward(&tg->ema, x, 4, 64, 0, 0, 0), 4 * TK);
    got = h_copy(am_trainer_score(tg, x, 4, 64), 4 * TK);
    check_norm("  another size, N4 S64 (a new graph)", got, ref, 4 * TK, tol, 0);
    free(ref); free(got); free(x);
    free_pair(tc, tg);
}

// One bf16 step from the same state as the CPU: the loss statistics within
// bf16 tolerance, the state reported.
static void bf16_case(void) {
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    am_trainer *tc, *tg;
    make_pair(&hp, AM_BF16, &tc, &tg);
    step_and_compare(tc, tg, AM_BF16, "step 1", 1e-4);
    free_pair(tc, tg);
}

// At 33 px the stem pads one row and column before the image, so the views
// land at offset (1, 1) of the padded input.
#define VS 33
static void views_case(int dt) {
    am_train_hparams hp = case_hp(AM_OPT_SGD);
    am_trainer *tc, *tg;
    make_pair(&hp, dt, &tc, &tg);
    const int U = TB * TMU;
    size_t img = (size_t)VS * VS * 3, n = tc->model.nparams;
    uint8_t *raw = AM_MALLOC(img * (TB + U)), *view = AM_MALLOC(img);
    float *x = AM_MALLOC(sizeof(float) * img * TROWS);
    am_aug_plan plans[TROWS];
    int y[TB];
    for (int i = 0; i < TB; i++) y[i] = i % TK;
    // steps 1, 2: views (eager, then the captured graph); step 3: floats, which
    // must drop that graph and step eagerly
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < img * (TB + U); i++) raw[i] = (uint8_t)urand(0, 256);
        am_augment_plan_step(plans, TB, U, VS, VS, 3, AM_RA_USB, 9, (uint64_t)k);
        for (int j = 0; j < TROWS; j++) {
            am_augment_apply_plan(view, NULL, raw + img * (size_t)(j < TB + U ? j : j - U), &plans[j], VS, VS, 3);
            for (size_t i = 0; i < img; i++) x[img * j + i] = (float)view[i] / 255.0f;
        }
        am_trainer_download(tg);
        snap bc = take(tc), bg = take(tg);
        am_fixmatch_stats sc = am_train_step(tc, x, y, VS);
        am_fixmatch_stats sg = k < 2 ? am_train_step_views(tg, raw, plans, y, VS) : am_train_step(tg, x, y, VS);
        float a[4] = {sg.loss, sg.loss_x, sg.loss_u, sg.mask_rate}, b[4] = {sc.loss, sc.loss_x, sc.loss_u, sc.mask_rate};
        char name[128];
        snprintf(name, sizeof name, "trainer %s on the GPU %s step %d: loss, loss_x, loss_u, mask",
                 k < 2 ? "views" : "floats", dtn(dt), k + 1);
        if (dt == AM_BF16) check_norm(name, a, b, 4, 1e-1, 0);
        else check(name, a, b, 4, 1e-4);
        am_trainer_download(tg);
        float *dg = diff(tg->model.params, bg.p, n), *dc = diff(tc->model.params, bc.p, n);
        check_norm("  parameter update", dg, dc, n, k ? 3e-4 : 1e-4, dt == AM_BF16);
        free(dg); free(dc);
        drop(&bc);
        drop(&bg);
    }
    free(raw); free(view); free(x);
    free_pair(tc, tg);
}

void test_train_gpu(void) {
    train_case(AM_OPT_SGD);
    train_case(AM_OPT_ADAMW);
    score_case(AM_F32);
    bf16_case();
    score_case(AM_BF16);
    views_case(AM_F32);
    views_case(AM_BF16);
}
