// Batches for training and scoring, filled on the loader thread
// (am_prefetch): images decoded and resized to S x S, augmented, converted
// to the model's float input.
//
// Training batch of step k: B labelled images drawn with replacement, class
// balanced (a class uniformly among those present, then an image uniformly
// within it), and U = mu*B unlabelled images drawn uniformly with
// replacement from the pool; x holds [weak(labelled) | weak(pool) |
// strong(pool)]. Every draw is Philox (seed, stream, k, slot), so batch k is
// the same for any thread count and after a resume. An unreadable pool image
// is marked bad, reported once, and replaced by a fresh draw.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/augment.h"
#include "am/dataset.h"
#include "am/inputs.h"

enum { AM_STREAM_LAB_CLASS = 0xB0, AM_STREAM_LAB_MEMBER = 0xB1, AM_STREAM_POOL = 0xB2, AM_STREAM_RETRY = 0xB3 };

typedef struct {
    const am_dataset *d;
    am_preprocess pre;      // how a file becomes an image (S, C are its size and channels)
    int S, C, B, U, threads;
    uint64_t seed;
    am_ra_variant variant;
    int *lab[2], nlab[2];   // labelled dataset indices per class (normal, anomaly)
    uint8_t *lab_pix[2];    // their decoded pixels, (nlab, S, S, C)
    int *pool, npool;       // unlabelled dataset indices
    char *bad;              // per dataset index: 1 once found unreadable
    int nbad;
    int score_batch;        // images per scoring job
    int aug_on_gpu;         // 1: training slots hold the decoded images and their plans, not x
} am_batcher;

// Decodes the labelled images (an unreadable one is an error: -1, am_error())
// and indexes the pool. The dataset's labels decide who is labelled.
int am_batcher_init(am_batcher *b, const am_dataset *d, const am_preprocess *pre, int B, int U, uint64_t seed,
                    am_ra_variant variant, int threads, int score_batch);
void am_batcher_free(am_batcher *b);

// Training slot: x (B + 2U, S, S, C) float (NULL when aug_on_gpu), labels
// (B), images (U: the pool images' dataset indices, for a loss with a state
// per image), raw (B + U, S, S, C) uint8: the labelled images then the pool images,
// before augmentation; with aug_on_gpu also plans (B + 2U): the weak views of
// raw[0 .. B+U) then the strong views of raw[B .. B+U), the same views
// am_train_fill otherwise applies on the CPU (x = the views / 255 in that order).
size_t am_train_slot_bytes(const am_batcher *b);
float *am_train_slot_x(const am_batcher *b, void *slot);
int *am_train_slot_labels(const am_batcher *b, void *slot);
int *am_train_slot_images(const am_batcher *b, void *slot);
uint8_t *am_train_slot_raw(const am_batcher *b, void *slot);
am_aug_plan *am_train_slot_plans(const am_batcher *b, void *slot);
void am_train_fill(void *ctx, uint64_t step, void *slot);

// Scoring slot for job j: pool images [j*score_batch, ...): x (n, S, S, C),
// the dataset index of each, and ok[i] = 0 for an unreadable image.
typedef struct { int n; int idx[1024]; char ok[1024]; } am_score_head;
size_t am_score_slot_bytes(const am_batcher *b);
am_score_head *am_score_slot_head(void *slot);
float *am_score_slot_x(void *slot);
void am_score_fill(void *ctx, uint64_t job, void *slot);
