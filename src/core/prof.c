// Per-layer timing (include/am/prof.h).
#include "am/prof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/error.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

static double wall_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

void am_prof_init(am_prof *p, void *stream) {
    memset(p, 0, sizeof *p);
    p->open = -1;
    p->stream = stream;
}

void am_prof_free(am_prof *p) {
#ifdef AM_HAVE_CUDA
    for (int i = 0; i < p->capevents; i++)
        if (p->events[i]) AM_CUDA(cudaEventDestroy((cudaEvent_t)p->events[i]));
#endif
    free(p->rows);
    free(p->events);
    free(p->event_row);
    memset(p, 0, sizeof *p);
}

static int row_of(am_prof *p, const char *op, int block, double bytes) {
    for (int i = 0; i < p->nrows; i++) {
        am_prof_row *r = &p->rows[i];
        if (r->pass == p->pass && r->block == block && !strcmp(r->op, op)) {
            r->bytes += bytes;
            r->calls++;
            return i;
        }
    }
    if (p->nrows == p->caprows) {
        p->caprows = p->caprows ? 2 * p->caprows : 256;
        am_prof_row *n = realloc(p->rows, sizeof *n * (size_t)p->caprows);
        AM_CHECK(n != NULL, "out of memory for the profile");
        p->rows = n;
    }
    p->rows[p->nrows] = (am_prof_row){.op = op, .pass = p->pass, .block = block, .bytes = bytes, .calls = 1};
    return p->nrows++;
}

#ifdef AM_HAVE_CUDA
// Records the next event of the sequence on the stream; it closes `row`.
static void record(am_prof *p, int row) {
    if (p->used == p->capevents) {
        int cap = p->capevents ? 2 * p->capevents : 512;
        void **e = realloc(p->events, sizeof *e * (size_t)cap);
        int *r = realloc(p->event_row, sizeof *r * (size_t)cap);
        AM_CHECK(e && r, "out of memory for the profile");
        for (int i = p->capevents; i < cap; i++) e[i] = NULL;
        p->events = e;
        p->event_row = r;
        p->capevents = cap;
    }
    if (!p->events[p->used]) {
        cudaEvent_t ev;
        AM_CUDA(cudaEventCreate(&ev));
        p->events[p->used] = ev;
    }
    AM_CUDA(cudaEventRecord((cudaEvent_t)p->events[p->used], (cudaStream_t)p->stream));
    p->event_row[p->used++] = row;
}
#endif

void am_prof_mark(am_prof *p, const char *op, int block, double bytes) {
    if (p->stream) {
#ifdef AM_HAVE_CUDA
        int row = op ? row_of(p, op, block, bytes) : -1;
        // The event closes the open op; a first mark's event closes nothing.
        record(p, p->open);
        p->open = row;
#else
        AM_CHECK(0, "a GPU profile in a build without CUDA");
#endif
        return;
    }
    double t = wall_ms();
    if (p->open >= 0) p->rows[p->open].ms += t - p->t0;
    p->open = op ? row_of(p, op, block, bytes) : -1;
    p->t0 = t;
}

void am_prof_collect(am_prof *p) {
#ifdef AM_HAVE_CUDA
    if (!p->stream) return;
    AM_CUDA(cudaStreamSynchronize((cudaStream_t)p->stream));
    for (int i = 1; i < p->used; i++) {
        int row = p->event_row[i];
        if (row < 0) continue;
        float ms = 0.0f;
        AM_CUDA(cudaEventElapsedTime(&ms, (cudaEvent_t)p->events[i - 1], (cudaEvent_t)p->events[i]));
        p->rows[row].ms += ms;
    }
    p->used = 0;
#else
    (void)p;
#endif
}

void am_prof_reset(am_prof *p) {
    for (int i = 0; i < p->nrows; i++) {
        p->rows[i].ms = 0.0;
        p->rows[i].bytes = 0.0;
        p->rows[i].calls = 0;
    }
}

void am_prof_print(const am_prof *p, FILE *f, int passes, int detail, int json) {
    double total[2] = {0.0, 0.0};
    for (int i = 0; i < p->nrows; i++) total[p->rows[i].pass] += p->rows[i].ms;
    if (passes < 1) passes = 1;
    if (json) {
        fprintf(f, "[");
        for (int i = 0; i < p->nrows; i++) {
            const am_prof_row *r = &p->rows[i];
            fprintf(f, "%s\n {\"pass\": \"%s\", \"op\": \"%s\", \"block\": %d, \"ms\": %.6f, \"bytes\": %.0f}",
                    i ? "," : "", r->pass ? "backward" : "forward", r->op, r->block, r->ms / passes,
                    r->bytes / passes);
        }
        fprintf(f, "\n]\n");
        return;
    }
    // Per op kind: rows of the same (pass, op) summed, in order of first appearance.
    fprintf(f, "| pass | op | blocks | ms per pass | share of the pass | GB/s |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < p->nrows; i++) {
        const am_prof_row *r = &p->rows[i];
        int first = 1;
        for (int j = 0; j < i && first; j++) first = !(p->rows[j].pass == r->pass && !strcmp(p->rows[j].op, r->op));
        if (!first) continue;
        double ms = 0.0, bytes = 0.0;
        int n = 0;
        for (int j = i; j < p->nrows; j++)
            if (p->rows[j].pass == r->pass && !strcmp(p->rows[j].op, r->op)) {
                ms += p->rows[j].ms;
                bytes += p->rows[j].bytes;
                n++;
            }
        fprintf(f, "| %s | %s | %d | %.3f | %.1f%% | %.1f |\n", r->pass ? "backward" : "forward", r->op, n,
                ms / passes, total[r->pass] > 0 ? 100.0 * ms / total[r->pass] : 0.0,
                ms > 0 ? bytes / (ms * 1e6) : 0.0);
    }
    for (int k = 0; k < 2; k++)
        if (total[k] > 0) fprintf(f, "%s: %.3f ms per pass\n", k ? "backward" : "forward", total[k] / passes);
    if (!detail) return;
    fprintf(f, "\n| pass | op | block | ms per pass | GB/s |\n|---|---|---|---|---|\n");
    for (int i = 0; i < p->nrows; i++) {
        const am_prof_row *r = &p->rows[i];
        fprintf(f, "| %s | %s | %d | %.4f | %.1f |\n", r->pass ? "backward" : "forward", r->op, r->block,
                r->ms / passes, r->ms > 0 ? r->bytes / (r->ms * 1e6) : 0.0);
    }
}
