// Per-layer timing of the network's passes (am_bench layers). The model code
// calls am_prof_mark before each op when a profile is attached (m->prof on the
// CPU, g->prof on the GPU; NULL: no cost but a test): a mark closes the op
// open since the previous mark and opens the next. Rows are keyed by (pass,
// op, block) and accumulate over passes. On the CPU a mark reads the wall
// clock; on the GPU it records a CUDA event on the model's stream, and
// am_prof_collect reads the elapsed times after synchronising.
#pragma once
#include <stddef.h>
#include <stdio.h>

enum { AM_PROF_FWD = 0, AM_PROF_BWD = 1 };

typedef struct {
    const char *op;  // a string literal
    int pass, block; // block -1: outside the MBConv blocks
    double ms, bytes;
    long calls;
} am_prof_row;

typedef struct am_prof {
    am_prof_row *rows;
    int nrows, caprows;
    int pass;        // the pass marks belong to (set by the model code)
    int open;        // row of the open op, -1: none
    double t0;       // CPU: when the open op started
    void *stream;    // GPU: the cudaStream_t timed; NULL on the CPU
    void **events;   // GPU: the events recorded since the last collect
    int *event_row;  // the row each event closes (-1: the first, none)
    int nevents, capevents, used;
} am_prof;

// stream: the model's cudaStream_t for a GPU profile, NULL for the CPU.
void am_prof_init(am_prof *p, void *stream);
void am_prof_free(am_prof *p);
// Closes the open op; opens (op, block) with `bytes` read and written, unless
// op is NULL (then only closes).
void am_prof_mark(am_prof *p, const char *op, int block, double bytes);
// GPU: waits for the stream and adds the events' times to their rows. CPU: nothing.
void am_prof_collect(am_prof *p);
// Zeroes the times and counts (rows kept: a warm-up pass names them).
void am_prof_reset(am_prof *p);
// The table: per op kind and pass (summed over blocks), time per pass of the
// network (over `passes`), share, GB/s; with detail also every (op, block) row.
// json: one JSON list of the rows instead.
void am_prof_print(const am_prof *p, FILE *f, int passes, int detail, int json);
