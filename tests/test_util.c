// Helpers shared by the tests: golden comparison and the golden init fill.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test.h"

int close_enough(const char *what, const float *got, const float *ref, size_t n,
                 double atol, double rtol, double *worst_pct) {
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs((double)ref[i]);
        double d = fabs((double)got[i] - (double)ref[i]);
        double e = d == 0.0 ? 0.0 : d / tol;
        if (!(e <= worst)) { worst = e; at = i; }  // NaN also lands here
    }
    if (worst_pct) *worst_pct = 100.0 * worst;
    if (!(worst <= 1.0)) {
        fprintf(stderr, "%s: element %zu got %.9g expected %.9g (%.0f%% of tolerance)\n", what, at,
                got[at], ref[at], 100.0 * worst);
        return 0;
    }
    return 1;
}

static uint32_t fnv1a32(const char *s) {
    uint32_t h = 0x811C9DC5u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x01000193u;
    return h;
}

void golden_fill(float *d, size_t n, const char *name, float centre, float half) {
    uint32_t s = fnv1a32(name);
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i * 0x9E3779B9u + s;
        x ^= x >> 16;
        x *= 0x85EBCA6Bu;
        x ^= x >> 13;
        x *= 0xC2B2AE35u;
        x ^= x >> 16;
        double u = (double)(x >> 8) * (1.0 / 16777216.0);
        d[i] = (float)((double)centre + (double)half * (2.0 * u - 1.0));
    }
}
