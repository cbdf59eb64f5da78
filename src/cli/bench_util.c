// am_bench's shared helpers (src/cli/bench.h): the clock, medians and the
// device choice.
#include <stdio.h>
#include <time.h>

#include "am/device.h"
#include "am/error.h"
#include "bench.h"

double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The device: --device as given, else cuda where present, else the CPU with
// a one-line notice. Returns the CUDA ordinal or -1 for the CPU; -2 on error.
int bench_pick_device(const char *arg) {
    int ord = -1;
    if (arg) {
        if (am_device_parse(arg, &ord)) { fprintf(stderr, "am_bench: %s\n", am_error()); return -2; }
        return ord;
    }
    char why[256];
    if (am_cuda_device_count(why, sizeof why) > 0) return 0;
    fprintf(stderr, "am_bench: no GPU (%s); using the CPU\n", why);
    return -1;
}
