#include "am/batches.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"
#include "am/log.h"
#include "am/member.h"
#include "am/philox.h"

#define ALIGN(n) (((n) + 63) & ~(size_t)63)

int am_batcher_init(am_batcher *b, const am_dataset *d, const am_preprocess *pre, int B, int U, uint64_t seed,
                    am_ra_variant variant, int threads, int score_batch) {
    memset(b, 0, sizeof *b);
    b->d = d;
    b->pre = *pre;
    int S = b->S = pre->size, C = b->C = pre->channels;
    b->B = B;
    b->U = U;
    b->seed = seed;
    b->variant = variant;
    b->threads = threads < 1 ? 1 : threads;
    b->score_batch = score_batch < 1 ? 1 : score_batch > 1024 ? 1024 : score_batch;
    b->bad = AM_CALLOC((size_t)d->n);
    for (int c = 0; c < 2; c++) b->lab[c] = AM_MALLOC(sizeof(int) * (size_t)d->n);
    b->pool = AM_MALLOC(sizeof(int) * (size_t)d->n);
    for (int i = 0; i < d->n; i++) {
        if (d->label[i] == AM_UNLABELLED) b->pool[b->npool++] = i;
        else b->lab[d->label[i]][b->nlab[d->label[i]]++] = i;
    }
    size_t img = (size_t)S * S * C;
    int rc = 0;
    for (int c = 0; c < 2 && !rc; c++) {
        b->lab_pix[c] = AM_MALLOC(img * (b->nlab[c] ? b->nlab[c] : 1));
        for (int j = 0; j < b->nlab[c] && !rc; j++)
            if (am_member_load(b->lab_pix[c] + img * j, d->paths[b->lab[c][j]], &b->pre)) {
                char msg[1200];
                snprintf(msg, sizeof msg, "%s", am_error());
                rc = am_seterr("labelled image unreadable: %s (fix or remove it from the labels CSV)", msg);
            }
    }
    if (rc) am_batcher_free(b);
    return rc;
}

void am_batcher_free(am_batcher *b) {
    for (int c = 0; c < 2; c++) { free(b->lab[c]); free(b->lab_pix[c]); }
    free(b->pool);
    free(b->bad);
    memset(b, 0, sizeof *b);
}

// Slot layout: x floats (none when aug_on_gpu) | labels | raw (B+U decoded
// images) | plans (B+2U, aug_on_gpu only).
static size_t slot_x_bytes(const am_batcher *b) {
    size_t img = (size_t)b->S * b->S * b->C, rows = (size_t)b->B + 2 * b->U;
    return b->aug_on_gpu ? 0 : ALIGN(sizeof(float) * rows * img);
}

size_t am_train_slot_bytes(const am_batcher *b) {
    size_t img = (size_t)b->S * b->S * b->C, rows = (size_t)b->B + 2 * b->U;
    return slot_x_bytes(b) + ALIGN(sizeof(int) * (b->B + b->U)) + ALIGN(img * (b->B + b->U)) +
           (b->aug_on_gpu ? sizeof(am_aug_plan) * rows : 0);
}

float *am_train_slot_x(const am_batcher *b, void *slot) { return b->aug_on_gpu ? NULL : slot; }

int *am_train_slot_labels(const am_batcher *b, void *slot) { return (int *)((char *)slot + slot_x_bytes(b)); }

int *am_train_slot_images(const am_batcher *b, void *slot) { return am_train_slot_labels(b, slot) + b->B; }

uint8_t *am_train_slot_raw(const am_batcher *b, void *slot) {
    return (uint8_t *)am_train_slot_labels(b, slot) + ALIGN(sizeof(int) * (b->B + b->U));
}

am_aug_plan *am_train_slot_plans(const am_batcher *b, void *slot) {
    if (!b->aug_on_gpu) return NULL;
    size_t img = (size_t)b->S * b->S * b->C;
    return (am_aug_plan *)(am_train_slot_raw(b, slot) + ALIGN(img * (b->B + b->U)));
}

static void mark_bad(am_batcher *b, int i) {
    int first;
    #pragma omp critical(am_bad)
    {
        first = !b->bad[i];
        b->bad[i] = 1;
        if (first) b->nbad++;
    }
    if (first) am_warn("skipping unreadable image: %s", am_error());
}

// Decodes pool image for slot j of step k, redrawing while images are bad:
// its dataset index.
static int load_pool(am_batcher *b, uint8_t *dst, uint64_t k, uint32_t j) {
    uint32_t r = am_rand_u32(b->seed, AM_STREAM_POOL, k, j);
    for (uint32_t attempt = 0;; attempt++) {
        int i = b->pool[r % (uint32_t)b->npool];
        if (!b->bad[i]) {
            if (!am_member_load(dst, b->d->paths[i], &b->pre)) return i;
            mark_bad(b, i);
        }
        AM_CHECK(attempt < 100000, "every image drawn from the pool is unreadable");
        r = am_rand_u32(b->seed, AM_STREAM_RETRY, k, j * 1024u + attempt);
    }
}

void am_train_fill(void *ctx, uint64_t k, void *slot) {
    am_batcher *b = ctx;
    size_t img = (size_t)b->S * b->S * b->C;
    int B = b->B, U = b->U;
    int *labels = am_train_slot_labels(b, slot), *images = am_train_slot_images(b, slot);
    uint8_t *raw = am_train_slot_raw(b, slot);
    int classes[2], ncls = 0;
    for (int c = 0; c < 2; c++) if (b->nlab[c]) classes[ncls++] = c;
    for (int j = 0; j < B; j++) {
        int c = classes[am_rand_u32(b->seed, AM_STREAM_LAB_CLASS, k, (uint32_t)j) % (uint32_t)ncls];
        int m = (int)(am_rand_u32(b->seed, AM_STREAM_LAB_MEMBER, k, (uint32_t)j) % (uint32_t)b->nlab[c]);
        memcpy(raw + img * j, b->lab_pix[c] + img * m, img);
        labels[j] = c;
    }
    #pragma omp parallel for num_threads(b->threads) schedule(dynamic)
    for (int j = 0; j < U; j++) images[j] = load_pool(b, raw + img * (B + j), k, (uint32_t)j);
    if (b->aug_on_gpu) {
        am_augment_plan_step(am_train_slot_plans(b, slot), B, U, b->S, b->S, b->C, b->variant, b->seed, k);
        return;
    }
    float *x = am_train_slot_x(b, slot);
    am_augment_weak_input(x, NULL, NULL, raw, B + U, b->S, b->S, b->C, b->variant, b->seed, k, 0);
    am_augment_strong_input(x + img * (B + U), NULL, NULL, raw + img * B, U, b->S, b->S, b->C, b->variant,
                            b->seed, k, (uint32_t)B);
}

size_t am_score_slot_bytes(const am_batcher *b) {
    size_t img = (size_t)b->S * b->S * b->C;
    return ALIGN(sizeof(am_score_head)) + ALIGN(sizeof(float) * img * b->score_batch) + ALIGN(img * b->score_batch);
}

am_score_head *am_score_slot_head(void *slot) { return slot; }

float *am_score_slot_x(void *slot) { return (float *)((char *)slot + ALIGN(sizeof(am_score_head))); }

void am_score_fill(void *ctx, uint64_t job, void *slot) {
    am_batcher *b = ctx;
    size_t img = (size_t)b->S * b->S * b->C;
    am_score_head *h = am_score_slot_head(slot);
    float *x = am_score_slot_x(slot);
    uint8_t *raw = (uint8_t *)x + ALIGN(sizeof(float) * img * b->score_batch);
    int first = (int)(job * (uint64_t)b->score_batch);
    h->n = b->npool - first < b->score_batch ? b->npool - first : b->score_batch;
    #pragma omp parallel for num_threads(b->threads) schedule(dynamic)
    for (int j = 0; j < h->n; j++) {
        int i = b->pool[first + j];
        h->idx[j] = i;
        h->ok[j] = !b->bad[i] && !am_member_load(raw + img * j, b->d->paths[i], &b->pre);
        if (!h->ok[j]) {
            if (!b->bad[i]) mark_bad(b, i);
            memset(raw + img * j, 0, img);
        }
    }
    am_augment_to_input(x, raw, img * h->n);
}
