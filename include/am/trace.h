// The side-by-side trace of a training run (am_train --trace DIR): what each
// step fed the network and what it measured, and the trainer's whole state
// after chosen steps, so that an independent implementation of the same
// recipe (bench/side_by_side.py, PyTorch) can replay the run step by step.
//
//   DIR/step_NNNNNN.amg   step N (1-based): x [B+2U,S,S,C] (the network's
//                         input: labelled, weak, strong rows), labels [B],
//                         images [U] (dataset indices of the unlabelled rows),
//                         stats [6] (loss, loss_x, loss_u, loss_e, mask rate, lr)
//   DIR/state_NNNNNN.amck the checkpoint after step N (0: before the first)
#pragma once
#include <stdint.h>

#include "am/train.h"

typedef struct {
    char dir[4096];
    uint64_t states[64];  // steps after which the state is saved
    int nstates;
} am_trace;

// Parses `states` ("0,1,2,50": steps, any order), creates dir. -1 (am_error()).
// The run saves the state it starts from (am_run_open) and after each step.
int am_trace_open(am_trace *tr, const char *dir, const char *states);
// Writes step `step`'s file. -1 (am_error()).
int am_trace_step(const am_trace *tr, const am_trainer *t, uint64_t step, const float *x, int S, int C,
                  const int *labels, const am_ssl_stats *st, float lr);
// Saves the trainer's state as after step `step` when the list names it. -1 (am_error()).
int am_trace_state(const am_trace *tr, am_trainer *t, uint64_t step);
