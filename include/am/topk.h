// The top K candidates of a stream of scores: a bounded heap (highest score
// first; ties: the earlier in source order, the smaller ordinal), and their
// outputs (top_candidates.csv, the contact sheet).
#pragma once
#include <stdint.h>

#include "am/inputs.h"

typedef struct {
    float score;
    uint64_t ord;     // position in source order
    char *name;       // Filename
    char *source;     // where the image is (am_item's src), once known
} am_cand;

typedef struct {
    am_cand *h;       // heap: the worst kept at h[0]
    int n, k;
} am_topk;

void am_topk_init(am_topk *t, int k);
// source may be NULL (found later).
void am_topk_push(am_topk *t, float score, uint64_t ord, const char *name, const char *source);
// The kept candidates, best first (a malloc'd copy, *n of them).
am_cand *am_topk_sorted(const am_topk *t, int *n);
void am_topk_free_sorted(am_cand *c, int n);
void am_topk_free(am_topk *t);

// dir/top_candidates.csv (Filename,Score,Source; written atomically) and
// dir/top_candidates.png, a contact sheet of the first 64 (images loaded
// from their Source, size x size, C channels). 0 or -1 (am_error()).
int am_topk_write(const char *dir, const am_cand *c, int n, const am_preprocess *pre);
