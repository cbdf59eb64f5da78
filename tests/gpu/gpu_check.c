// Helpers of the GPU check (tests/gpu/gpu_check.h).
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "../../kernels/bf16_math.h"
#include "../compare.h"
#include "gpu_check.h"

int g_fail, g_checks, g_skip;
am_gpu_ctx C;

static uint64_t g_rng = 0x1234567;
double urand(double lo, double hi) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * 0x1p-53;
}

// Host buffers: random floats, rounded to bf16 when the check runs in bf16 so
// that both sides start from the same values.
float *h_rand(size_t n, double lo, double hi, int dt) {
    float *p = AM_MALLOC(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)urand(lo, hi);
        if (dt == AM_BF16) p[i] = am_bf16_round(p[i]);
    }
    return p;
}

float *h_copy(const float *a, size_t n) {
    float *p = AM_MALLOC(sizeof(float) * (n ? n : 1));
    memcpy(p, a, sizeof(float) * n);
    return p;
}

// Device buffer of n elements of type dt holding h (or NaN when h is NULL).
void *d_put(const float *h, size_t n, int dt) {
    size_t es = am_dt_size(dt);
    void *d;
    AM_CUDA(cudaMalloc(&d, es * (n ? n : 1)));
    d_fill(d, 0xFF, es * (n ? n : 1));
    if (!h) return d;
    if (dt == AM_F32) {
        d_copy(d, h, 4 * n);
    } else {
        uint16_t *t = AM_MALLOC(2 * (n ? n : 1));
        for (size_t i = 0; i < n; i++) t[i] = am_f32_to_bf16(h[i]);
        d_copy(d, t, 2 * n);
        free(t);
    }
    return d;
}

float *d_get(const void *d, size_t n, int dt) {
    AM_CUDA(cudaDeviceSynchronize());
    float *h = AM_MALLOC(sizeof(float) * (n ? n : 1));
    if (dt == AM_F32) {
        AM_CUDA(cudaMemcpy(h, d, 4 * n, cudaMemcpyDeviceToHost));
    } else {
        uint16_t *t = AM_MALLOC(2 * (n ? n : 1));
        AM_CUDA(cudaMemcpy(t, d, 2 * n, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; i++) h[i] = am_bf16_to_f32(t[i]);
        free(t);
    }
    return h;
}

// |got - ref| <= tol * (max|ref| + |ref|) for every element (tests/compare.h).
void check(const char *what, const float *got, const float *ref, size_t n, double tol) {
    cmp_result r = cmp_scaled(NULL, got, ref, n, tol, tol);
    g_checks++;
    g_fail += !r.ok;
    printf("%-4s %-46s n=%-8zu worst %7.2f%% of tol %.0e", r.ok ? "ok" : "FAIL", what, n, r.pct, tol);
    if (!r.ok) printf("  [%zu] got %.7g ref %.7g", r.at, r.got, r.ref);
    printf("\n");
}

// Normwise: |got - ref|_2 <= tol |ref|_2 (tests/compare.h). info=1: reported, never fails.
double check_norm(const char *what, const float *got, const float *ref, size_t n, double tol, int info) {
    cmp_result r = cmp_norm(NULL, got, ref, n, tol);
    int bad = !r.ok && !info;
    g_checks += !info;
    g_fail += bad;
    printf("%-4s %-46s n=%-8zu rel err %.3g (tol %.0e)", info ? "info" : bad ? "FAIL" : "ok", what, n, r.err, tol);
    if (bad) printf("  largest difference [%zu] got %.7g ref %.7g", r.at, r.got, r.ref);
    printf("\n");
    return r.err;
}

void ulp_nudge(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = nextafterf(x[i], urand(0, 1) < 0.5 ? -INFINITY : INFINITY);
}

static double spread_floor(int dt) { return dt == AM_BF16 ? 0x1p-5 : 0x1p-17; }

double spread_k(int dt) { return dt == AM_BF16 ? 16.0 : 8.0; }

double spread_tol(double spread, int dt) { return fmax(spread_k(dt) * spread, spread_floor(dt)); }

double rel_scaled(const float *got, const float *ref, size_t n) {
    return cmp_scaled(NULL, got, ref, n, 1.0, 1.0).pct / 100.0;
}

void check_spread(const char *what, double err, double spread, int dt) {
    double tol = spread_tol(spread, dt);
    int ok = err <= tol;
    g_checks++;
    g_fail += !ok;
    printf("%-4s %-52s err %-9.3g tol %.3g (%g x CPU spread %.3g%s)\n", ok ? "ok" : "FAIL", what, err, tol,
           spread_k(dt), spread, spread_k(dt) * spread < spread_floor(dt) ? ", floor" : "");
}

double tol_of(int dt, double f32) { return dt == AM_BF16 ? 2e-2 : f32; }
const char *dtn(int dt) { return dt == AM_BF16 ? "bf16" : "fp32"; }

void d_copy(void *d, const void *h, size_t bytes) {
    AM_CUDA(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
    AM_CUDA(cudaDeviceSynchronize());
}

void d_fill(void *d, int byte, size_t bytes) {
    AM_CUDA(cudaMemset(d, byte, bytes));
    AM_CUDA(cudaDeviceSynchronize());
}

void check_skip(const char *what, const char *why) {
    g_skip++;
    printf("skip %s: %s\n", what, why);
}

void check_pass(const char *what, int ok, const char *detail) {
    g_checks++;
    if (!ok) g_fail++;
    printf("%-4s %s%s%s\n", ok ? "ok" : "FAIL", what, ok ? "" : "  ", ok ? "" : detail);
}
