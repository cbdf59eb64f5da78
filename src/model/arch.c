// EfficientNet and EfficientNet-Lite architectures from the scaling rules
// (SPEC §2): the B0 stage table scaled by width and depth.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "am/error.h"
#include "am/model.h"
#include "../../kernels/act_math.h"

typedef struct { const char *name; int lite; float w, d; int res; float dropout; } variant;

static const variant variants[] = {
    {"b0", 0, 1.0f, 1.0f, 224, 0.2f}, {"b1", 0, 1.0f, 1.1f, 240, 0.2f},
    {"b2", 0, 1.1f, 1.2f, 260, 0.3f}, {"b3", 0, 1.2f, 1.4f, 300, 0.3f},
    {"b4", 0, 1.4f, 1.8f, 380, 0.4f}, {"b5", 0, 1.6f, 2.2f, 456, 0.4f},
    {"b6", 0, 1.8f, 2.6f, 528, 0.5f}, {"b7", 0, 2.0f, 3.1f, 600, 0.5f},
    {"lite0", 1, 1.0f, 1.0f, 224, 0.2f}, {"lite1", 1, 1.0f, 1.1f, 240, 0.2f},
    {"lite2", 1, 1.1f, 1.2f, 260, 0.3f}, {"lite3", 1, 1.2f, 1.4f, 280, 0.3f},
    {"lite4", 1, 1.4f, 1.8f, 300, 0.3f},
};

// Stages of B0: repeats, kernel, stride, expand, out.
static const int stages[7][5] = {
    {1, 3, 1, 1, 16}, {2, 3, 2, 6, 24}, {2, 5, 2, 6, 40}, {3, 3, 2, 6, 80},
    {3, 5, 1, 6, 112}, {4, 5, 2, 6, 192}, {1, 3, 1, 6, 320},
};

static int round_filters(int c, double w) {
    double cw = c * w;
    int r = (int)(cw + 4.0) / 8 * 8;
    if (r < 8) r = 8;
    if (r < 0.9 * cw) r += 8;
    return r;
}

static int round_repeats(int r, double d) { return (int)ceil(d * r); }

int am_arch_init(am_arch *a, const char *name, int in_ch, int classes) {
    const variant *v = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (!strcmp(variants[i].name, name)) v = &variants[i];
    if (!v) return am_seterr("unknown architecture '%s': expected one of b0..b7, lite0..lite4", name);
    if (in_ch < 1) return am_seterr("input channel count %d: expected at least 1", in_ch);
    if (classes < 1) return am_seterr("class count %d: expected at least 1", classes);
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", v->name);
    a->lite = v->lite;
    a->width = v->w;
    a->depth = v->d;
    a->res = v->res;
    a->dropout = v->dropout;
    a->in_ch = in_ch;
    a->classes = classes;
    a->act = v->lite ? AM_ACT_RELU6 : AM_ACT_SWISH;
    a->stem = v->lite ? 32 : round_filters(32, v->w);
    a->head = v->lite ? 1280 : round_filters(1280, v->w);
    int in = a->stem, nb = 0;
    for (int s = 0; s < 7; s++) {
        int fixed = v->lite && (s == 0 || s == 6);
        int reps = fixed ? stages[s][0] : round_repeats(stages[s][0], v->d);
        int out = round_filters(stages[s][4], v->w);
        for (int r = 0; r < reps; r++) {
            AM_CHECK(nb < AM_MAX_BLOCKS, "AM_MAX_BLOCKS too small for this architecture");
            am_block_cfg *b = &a->blocks[nb++];
            b->k = stages[s][1];
            b->stride = r == 0 ? stages[s][2] : 1;
            b->expand = stages[s][3];
            b->in = in;
            b->mid = in * b->expand;
            b->out = out;
            b->se = v->lite ? 0 : (int)(in * 0.25) > 1 ? (int)(in * 0.25) : 1;
            b->skip = b->stride == 1 && b->in == b->out;
            in = out;
        }
    }
    a->nblocks = nb;
    for (int i = 0; i < nb; i++) a->blocks[i].drop = 0.2f * i / nb;
    return 0;
}
