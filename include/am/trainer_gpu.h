// The trainer's device side (src/train/trainer_gpu.c): what am_train_step,
// am_trainer_score, am_trainer_download/upload and am_trainer_free do when
// t->gpu is set (CUDA builds only; am_trainer_to_gpu makes it).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/gpu.h"
#include "am/train.h"

// The EMA model's params and stats are the device EMA: each step updates
// them in place, so the scoring model is always current.
struct am_gpu_trainer {
    am_gpu_model live, ema;  // mirrors of t->model and t->ema
    float *v;                // (2, nparams) optimiser state as t->v: v (momentum / Adam m), s (Adam)
    float *dlogits;          // (B + 2U, classes)
    float *loss;             // (5) loss, loss_x, loss_u, loss_e, mask_rate
    float *ssl;              // the consistency loss's state (AM_SSL_STATE_FLOATS), then its scratch: P (U,K), W (U)
    int *ssl_label;          // its state per image (t->ssl_label's n), then the step's images (U); NULL without
    int *labels;             // (B)
    float *logits;           // host (nlogits) scoring logits
    size_t nlogits;
    am_step_args *args;      // the step's values for the captured step (device)
    int graphs;              // replay the step from a CUDA graph (AM_GRAPH=0 or AM_TRAIN_GRAPH=0: 0; 0 after a failed capture)
    void *graph;             // cudaGraphExec_t of the step's device work, or NULL
    void *graph_abase;       // the live activations, input kind, shape, cuDNN workspace and
    int graph_padded, graph_N, graph_S;  // seed it was captured with
    unsigned graph_ws_gen;
    uint64_t graph_seed;
    int graph_unlabelled;    // and the unlabelled count (a FlexMatch kernel argument)
    long eager_steps;        // steps run without the graph (the first makes the plans)
    uint8_t *raw, *aug_work; // am_train_step_views: (B+U,S,S,C) images, augmentation scratch
    am_aug_plan *plans;      // (B+2U)
    size_t raw_bytes, work_bytes;
    void *copy_stream;       // am_trainer_score_send's copies (cudaStream_t), made at the first
    float *stage[2];         // the queued batches on the device
    size_t stage_bytes[2];
    void *staged[2];         // cudaEvent_t: each one's copy done
};

am_ssl_stats am_gpu_train_step(am_trainer *t, const float *x, const int *labels, int S);
am_ssl_stats am_gpu_train_step_views(am_trainer *t, const uint8_t *raw, const am_aug_plan *plans,
                                          const int *labels, int S);
const float *am_gpu_trainer_score(am_trainer *t, const float *x, int N, int S);
void am_gpu_trainer_score_send(am_trainer *t, int k, const float *x, int N, int S);
const float *am_gpu_trainer_score_take(am_trainer *t, int k, int N, int S);
void am_gpu_trainer_download(am_trainer *t);
void am_gpu_trainer_upload(am_trainer *t);
void am_gpu_trainer_free(am_trainer *t);
