// The one comparator of every numeric check: the CPU suites (tests/test_*.c),
// the GPU check (tests/gpu) and the CPU emulator of the GPU (tests/emu).
// Plain C, no test framework.
//
// Element rule (cmp_pct): got == ref passes (inf == inf included; a NaN in
// ref needs a NaN in got); otherwise a NaN or Inf on either side fails;
// otherwise |got - ref| <= tol passes. Every comparison keeps its worst
// element as a percentage of its tolerance, prints it on stderr when the
// comparison fails (unless `what` is NULL) and returns it.
#pragma once
#include <stddef.h>

typedef struct {
    int ok;             // every element within its tolerance (set by cmp_end)
    size_t n;           // elements compared
    size_t at;          // index of the worst element
    const char *where;  // its label given to cmp_add (NULL from the array forms)
    double got, ref;    // its values
    double err, tol;    // |got - ref| and its tolerance; normwise: |got-ref|_2 / |ref|_2 and tol
    double pct;         // 100 err / tol; INFINITY for a failing NaN or Inf, or any error under tolerance 0
} cmp_result;

// The element rule: |got - ref| as a percentage of tol (see above).
double cmp_pct(double got, double ref, double tol);

// Element by element with a tolerance of the caller's: start from
// cmp_result r = {0}, cmp_add each element, then cmp_end (sets ok, prints
// the worst element when it fails, returns ok).
void cmp_add(cmp_result *r, const char *where, size_t i, double got, double ref, double tol);
int cmp_end(cmp_result *r, const char *what);

// |got_i - ref_i| <= atol + rtol |ref_i| for every i.
cmp_result cmp_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol);
// |got_i - ref_i| <= atol max|ref| + rtol |ref_i|, max over the finite ref
// (the GPU check's tol (max|ref| + |ref_i|) is atol = rtol = tol).
cmp_result cmp_scaled(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol);
// Normwise: |got - ref|_2 <= tol |ref|_2; a NaN or Inf where ref differs
// fails. at/got/ref: the element of the largest difference.
cmp_result cmp_norm(const char *what, const float *got, const float *ref, size_t n, double tol);
// Normwise against a scale of the caller's: |got - ref|_2 <= tol scale (a
// gradient that is zero in exact arithmetic, judged against its layer's).
cmp_result cmp_norm_to(const char *what, const float *got, const float *ref, size_t n, double scale, double tol);
// |a|_2 over the finite elements.
double cmp_norm2(const float *a, size_t n);
