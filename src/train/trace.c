// The side-by-side trace (am/trace.h).
#include "am/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/files.h"
#include "am/tfile.h"

int am_trace_open(am_trace *tr, const char *dir, const char *states) {
    memset(tr, 0, sizeof *tr);
    snprintf(tr->dir, sizeof tr->dir, "%s", dir);
    for (const char *p = states; *p;) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || (*end && *end != ',') || *p == '-')
            return am_seterr("--trace-states '%s': give steps separated by commas (0,1,2,50)", states);
        if (tr->nstates == (int)(sizeof tr->states / sizeof tr->states[0]))
            return am_seterr("--trace-states '%s': at most %zu steps", states, sizeof tr->states / sizeof tr->states[0]);
        tr->states[tr->nstates++] = v;
        p = *end ? end + 1 : end;
    }
    return am_mkdir_p(dir);
}

int am_trace_step(const am_trace *tr, const am_trainer *t, uint64_t step, const float *x, int S, int C,
                  const int *labels, const am_ssl_stats *st, float lr) {
    int B = t->hp.batch, U = t->hp.mu * t->hp.batch;
    float *lab = AM_MALLOC(sizeof(float) * (size_t)(B + U));
    for (int j = 0; j < B; j++) lab[j] = (float)labels[j];
    for (int j = 0; j < U; j++) lab[B + j] = t->step_images ? (float)t->step_images[j] : -1.0f;
    float stats[6] = {st->loss, st->loss_x, st->loss_u, st->loss_e, st->mask_rate, lr};
    am_tentry e[4] = {
        {.name = "x", .ndim = 4, .shape = {B + 2 * U, S, S, C}, .n = (size_t)(B + 2 * U) * S * S * C, .data = (float *)x},
        {.name = "labels", .ndim = 1, .shape = {B}, .n = (size_t)B, .data = lab},
        {.name = "images", .ndim = 1, .shape = {U}, .n = (size_t)U, .data = lab + B},
        {.name = "stats", .ndim = 1, .shape = {6}, .n = 6, .data = stats},
    };
    char path[4200];
    snprintf(path, sizeof path, "%s/step_%06llu.amg", tr->dir, (unsigned long long)step);
    const am_arch *a = &t->model.arch;
    int rc = am_tfile_write(path, "AMGD", a->name, a->in_ch, a->classes, e, 4);
    free(lab);
    return rc;
}

int am_trace_state(const am_trace *tr, am_trainer *t, uint64_t step) {
    for (int i = 0; i < tr->nstates; i++) {
        if (tr->states[i] != step) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/state_%06llu.amck", tr->dir, (unsigned long long)step);
        return am_checkpoint_save(t, path, NULL, NULL);
    }
    return 0;
}
