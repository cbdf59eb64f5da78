// Progress bars on stderr with rate and ETA: redrawn in place on a terminal,
// a line every 10% (and at the end) otherwise, so that logs stay readable.
#pragma once
#include <stdint.h>

typedef struct {
    char label[32], unit[16];
    uint64_t total, done;
    double t0, last;
    int tty, last_decile;
} am_progress;

void am_progress_start(am_progress *p, const char *label, uint64_t total, const char *unit);
// done items so far; extra (may be NULL) is appended, e.g. "loss 0.41 mask 0.62".
void am_progress_update(am_progress *p, uint64_t done, const char *extra);
void am_progress_end(am_progress *p, const char *extra);
