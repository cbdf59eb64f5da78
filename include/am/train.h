// FixMatch training state: the live model, its EMA twin, the optimiser state,
// the step counter; one training step; scoring with the EMA model;
// checkpoints. On the CPU, or on a CUDA device after am_trainer_to_gpu.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/ssl.h"
#include "am/augment.h"
#include "am/model.h"
#include "am/ops.h"

enum { AM_OPT_SGD = 0, AM_OPT_ADAMW = 1 };
enum { AM_LR_CONSTANT = 0, AM_LR_COSINE = 1 };

typedef struct {
    int batch, mu;          // B labelled, mu*B unlabelled per view
    am_ssl_hp ssl;          // the consistency loss: which, threshold, unlabelled weight, temperature, ...
    int optimizer;          // AM_OPT_*
    float lr, momentum, wd; // wd: coupled L2 (SGD) or decoupled (AdamW), conv/FC weights only
    int nesterov;
    int schedule;           // AM_LR_*: constant, or lr*cos(7*pi*k/(16*K))
    int total_steps;        // K of the cosine schedule
    float ema;              // EMA decay
    float adam_b1, adam_b2, adam_eps;
} am_train_hparams;

// The Python tool's defaults (SPEC §1).
am_train_hparams am_train_defaults(void);

// The device side of a trainer (am/gpu.h).
typedef struct am_gpu_trainer am_gpu_trainer;

typedef struct {
    am_model model, ema;    // live model and its exponential moving average
    float *v, *s;           // optimiser state, one allocation: v (momentum / Adam m), s (Adam only)
    uint8_t *decay;         // per parameter element: weight decay applies
    uint64_t step, seed;
    am_train_hparams hp;
    float *dlogits;
    am_ssl_state ssl;       // the consistency loss's state (EMAs of confidences, ...)
    int *ssl_label;         // its state per image (FlexMatch; am_trainer_set_images), else NULL
    int ssl_nimages, ssl_unlabelled;
    const int *step_images; // the next step's unlabelled images (U dataset indices), set by the caller
    am_gpu_trainer *gpu;    // set by am_trainer_to_gpu: steps and scoring run there
    struct {                // am_trainer_score_send's queue: at most two batches
        const float *x[2];
        int n[2], S[2], head, count;
    } queue;
} am_trainer;

int am_trainer_init(am_trainer *t, const char *arch, int in_ch, int classes, uint64_t seed,
                    const am_train_hparams *hp);
void am_trainer_free(am_trainer *t);
// The run's images for a loss that keeps a state per image (FlexMatch;
// nothing for the others): n images, none remembered. Before a checkpoint is
// loaded or the trainer moves to a device.
void am_trainer_set_images(am_trainer *t, int n);
// Copies the live model into the EMA model (after loading weights), on the
// host copies.
void am_trainer_sync_ema(am_trainer *t);

// Moves the steps and scoring to CUDA device `device` in precision dt
// (AM_F32 or AM_BF16 of am/kernels.h), uploading the host state (live and
// EMA models, optimiser state). From then on the device holds the state:
// am_trainer_download brings the host copies up to date (am_checkpoint_save
// does so first), am_trainer_upload sends changed host copies back
// (am_checkpoint_load does so). -1 (am_error()) without CUDA or that device.
int am_trainer_to_gpu(am_trainer *t, int device, int dt);
// Device -> host: params and stats of the live and EMA models, v and s.
// Nothing on the CPU.
void am_trainer_download(am_trainer *t);
// Host -> device, the same families. Nothing on the CPU.
void am_trainer_upload(am_trainer *t);

float am_train_lr(const am_train_hparams *hp, uint64_t step);

// One FixMatch step on x (B + 2U, S, S, C): labelled, weak, strong views, one
// training-mode forward, loss, backward, optimiser and EMA updates.
am_ssl_stats am_train_step(am_trainer *t, const float *x, const int *labels, int S);
// The same step on a trainer on a CUDA device from the views' sources: raw
// (B + U, S, S, C) uint8 images and plans (B + 2U) as an am_batcher slot with
// aug_on_gpu holds them; the views are made on the device by one augmentation
// launch per view kind, written straight into the network's input.
am_ssl_stats am_train_step_views(am_trainer *t, const uint8_t *raw, const am_aug_plan *plans,
                                      const int *labels, int S);
// The EMA model's eval-mode logits (N, classes) of x (N, S, S, C), host
// memory valid until the next call.
const float *am_trainer_score(am_trainer *t, const float *x, int N, int S);
// The same in two halves, so that the next batch's copy to the device runs
// while this one's forward does: am_trainer_score_send queues x (N, S, S, C;
// at most two batches queued), am_trainer_score_take scores the oldest
// queued batch (its logits, host memory valid until the next take). On a GPU
// the copy runs on a stream of its own from x, which must be host memory of
// am_trainer_host_alloc (pinned) and stay unchanged until its take returns;
// on the CPU take runs the forward.
void am_trainer_score_send(am_trainer *t, const float *x, int N, int S);
const float *am_trainer_score_take(am_trainer *t);
// Host memory for am_trainer_score_send: pinned on a GPU (after
// am_trainer_to_gpu), else malloc'd. Freed by am_trainer_host_free before
// the trainer.
void *am_trainer_host_alloc(am_trainer *t, size_t bytes);
void am_trainer_host_free(am_trainer *t, void *p);

// Checkpoints: am tensor files with magic AMCK (weights/FORMAT.md): the
// step and seed, the run's configuration and its labels as two text entries,
// the live and EMA models' parameters and BN statistics and the optimiser
// state, each tensor under its name. Written atomically (a failed write leaves
// the previous checkpoint intact); read back only when intact. A trainer on a
// device: saving downloads the state first, loading uploads it. config and
// labels may be NULL (stored empty).
int am_checkpoint_save(am_trainer *t, const char *path, const char *config, const char *labels);
// Restores into an initialised trainer of the same architecture, input
// channels, classes and optimiser; a failed load leaves the trainer as it
// was. *config and *labels (either may be NULL to ignore) get malloc'd copies
// of the stored texts ("" when absent). Checkpoints of an older am's format
// are refused with a message that names their format.
int am_checkpoint_load(am_trainer *t, const char *path, char **config, char **labels);
