// Helpers shared by the tests: the golden init fill, reading a whole file.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

char *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (the tests run from tests/)", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    ck_assert(b != NULL && fread(b, 1, (size_t)len, f) == (size_t)len);
    b[len] = 0;
    fclose(f);
    if (n) *n = (size_t)len;
    return b;
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
