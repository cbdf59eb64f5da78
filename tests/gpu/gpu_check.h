// Shared by the GPU check's files (tests/gpu/*.c): the device context, random
// host inputs, NaN-poisoned device buffers, the comparisons and the tally of
// checks, and the check groups that main() in test_gpu.c runs.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/gpu.h"

extern am_gpu_ctx C;
// The bundled Lite0 (test_gpu runs from the repository's top folder).
#define LITE0_WEIGHTS "weights/lite0.amw"
#define ST (C.stream)
extern int g_fail, g_checks, g_skip;

double urand(double lo, double hi);
// n random floats in [lo, hi), rounded to bf16 when dt is AM_BF16 (both sides
// then start from the same values).
float *h_rand(size_t n, double lo, double hi, int dt);
float *h_copy(const float *a, size_t n);
// Device buffer of n elements of type dt holding h (or NaN when h is NULL).
void *d_put(const float *h, size_t n, int dt);
// Host -> device copy and byte fill on the default stream, finished before
// they return: the project's stream is non-blocking and does not wait for the
// default stream, so a kernel launched on ST right after could see the old bytes.
void d_copy(void *d, const void *h, size_t bytes);
void d_fill(void *d, int byte, size_t bytes);
// Synchronises, then copies n elements of type dt back as floats.
float *d_get(const void *d, size_t n, int dt);
// The comparisons, by tests/compare.h's rules (a NaN or Inf where ref is
// finite fails, equal values pass, inf included), counted and printed:
// |got - ref| <= tol * (max|ref| + |ref|) for every element;
void check(const char *what, const float *got, const float *ref, size_t n, double tol);
// normwise |got - ref|_2 <= tol |ref|_2, returned; info=1: reported, never fails.
double check_norm(const char *what, const float *got, const float *ref, size_t n, double tol, int info);
// Counts a skip and prints "skip WHAT: WHY": a path a GPU may legitimately
// refuse (cuDNN "not supported" for a depthwise shape: production keeps our
// kernels there).
void check_skip(const char *what, const char *why);
// Counts one check and prints its line: ok, or FAIL with `detail`.
void check_pass(const char *what, int ok, const char *detail);
double tol_of(int dt, double f32);

// Tolerances derived from the CPU's own spread (the whole-model and trainer
// checks): the CPU reference run again on its input moved by one ulp per
// element (random direction), SPREAD_TRIALS times, differs from itself by
// `spread` (bf16: also the pass on input and weights rounded to bf16). A GPU,
// summing in other orders, is allowed spread_k(dt) times that: 8 in fp32
// (the emulator's error: up to 1.7 spreads), 16 in bf16, where the GPU also
// rounds every activation, which no twin reproduces (the emulator: up to 3.4
// spreads at the model group's sizes, where every BN averages at least 64
// values; up to 14 on the trainer's loss at 10 rows a step, where its floor
// decides). Never less than the floor of its precision: fp32 2^-17 (128 unit
// roundoffs); bf16 2^-5 (16 unit roundoffs): a gradient that is zero in exact
// arithmetic (the BN shifts judged against their gamma) shows the GPU's bf16
// storage of its operands, measured at 2 to 4 unit roundoffs of the gamma's
// scale.
#define SPREAD_TRIALS 3
void ulp_nudge(float *x, size_t n);
double spread_k(int dt);
double spread_tol(double spread, int dt);
// max_i |got_i - ref_i| / (max|ref| + |ref_i|) (the rule of check()), by the comparator.
double rel_scaled(const float *got, const float *ref, size_t n);
// Counts one check: err <= spread_tol(spread) (NaN fails); prints err, the
// tolerance and the spread it came from.
void check_spread(const char *what, double err, double spread, int dt);
const char *dtn(int dt);



// Check groups in their own files, run by main() in test_gpu.c.
void test_augment_gpu(void);   // tests/gpu/test_augment_gpu.c
void test_train_gpu(void);     // tests/gpu/test_train_gpu.c
void test_fused_gpu(void);     // tests/gpu/test_fused_gpu.c
void test_dwconv_gpu(void);    // tests/gpu/test_dwconv_gpu.c
void test_graph_gpu(void);     // tests/gpu/test_graph_gpu.c
void test_infer_gpu(void);     // tests/gpu/test_infer_gpu.c
