// The active-learning loop of am_train as a library object: a run opens
// (images listed, trainer made from the configuration, resumed from a
// checkpoint or started from weights, moved to its device, labels and truth
// applied, config.txt written, the step log opened), then runs cycles, each
// one: train to cycle * iters steps (checkpoints every checkpoint_every
// steps and at the end), score the unlabelled pool with the EMA model, write
// the outputs of the run's directory (am_train --help lists them), evaluate
// against the truth, and between cycles let the simulated oracle label the
// top-scored true anomalies and false positives and checkpoint again.
//
//   am_run r;
//   if (am_run_open(&r, &config, -1, AM_F32)) ... am_error()
//   for (int cycle = am_run_next_cycle(&r); cycle <= config.cycles; cycle++)
//       if (am_run_cycle(&r, cycle)) ... am_error()
//   am_run_close(&r);
#pragma once
#include <stdio.h>

#include "am/batches.h"
#include "am/config.h"
#include "am/dataset.h"
#include "am/trace.h"
#include "am/train.h"

typedef struct {
    am_config c;   // the configuration, a copy (c.out: the output directory)
    am_dataset d;  // the images, sorted by path; d.label: the labels in force
    am_trainer t;  // the live and EMA models on the run's device
    am_batcher b;  // the batches of the running cycle (zeroed between cycles)
    am_preprocess pre; // how a file becomes the model's image (from c)
    char format[16];   // the labelled images' format family, for the saved model ("" when mixed)
    float *score;  // [d.n] the last cycle's anomaly score of each pool image; NAN elsewhere
    int *truth;    // [d.n] AM_NORMAL or AM_ANOMALY from c.truth, else AM_UNLABELLED
    FILE *log;     // c.out/train_log.jsonl: one JSON line per step
    am_trace *trace; // c.trace's writer (am/trace.h), else NULL
} am_run;

// The step settings of a configuration (batch, mu, tau, lambda_u, T,
// optimiser, lr, momentum, Nesterov, wd, schedule over iters * cycles steps,
// EMA decay; Adam's betas and epsilon at their defaults): the one place they
// are read from it.
am_train_hparams am_config_hparams(const am_config *c);
// The preprocessing the options say (size, channels, stretch and its
// parameters, FITS HDUs, bands, combination): 0, or -1 (am_error() naming
// the option). am_train and am_review read a run's config.txt through it.
int am_config_preprocess(const am_config *c, am_preprocess *p);

// Opens a run of a validated configuration on CUDA device `device` in
// precision dt (AM_F32 or AM_BF16), or on the CPU (device -1, AM_F32): sets
// the CPU threads, creates c.out, lists the images, makes the trainer, then
// resumes from c.resume (weights, optimiser, step and the checkpoint's
// labels) or loads c.weights (default: the bundled Lite0 for a pretrained
// lite0 on 3 channels, beside the executable), applies c.labels over the
// checkpoint's labels and reads c.truth, writes config.txt and opens the step
// log (appended to on a resume). -1 (am_error(), naming the option, file and
// fix) on failure, with nothing left open.
int am_run_open(am_run *r, const am_config *c, int device, int dt);
// The cycle a run continues with: the one after the last complete one of its
// steps (1 for a new run).
int am_run_next_cycle(const am_run *r);
// Cycle `cycle` (1-based) of the configuration's c.cycles: train, score,
// write, evaluate, and before the last cycle the oracle's labels (c.oracle)
// and a checkpoint. -1 (am_error()) when no image is labelled anomaly, the
// pool is empty, a labelled image is unreadable, the loss diverges or an
// output cannot be written.
int am_run_cycle(am_run *r, int cycle);
// Closes the step log and frees the run (after a failed open too).
void am_run_close(am_run *r);

// The anomaly probability softmax(z)[1] of the EMA model's logits for each
// image of b's pool, into score[b->d->n] by dataset index (NAN for the
// others and for unreadable images, which b marks bad): b's scoring jobs
// decoded on its loader threads behind a prefetch queue, with a progress bar.
void am_score_pool(am_trainer *t, am_batcher *b, float *score);
