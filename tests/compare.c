// The comparator of every numeric check (tests/compare.h).
#include "compare.h"

#include <math.h>
#include <stdio.h>

// err as a percentage of tol: 0 for no error, INFINITY where the quotient is
// not a number >= 0 (err Inf or NaN, tol 0, NaN or negative).
static double pct_of(double err, double tol) {
    if (err == 0.0) return 0.0;
    double p = 100.0 * err / tol;
    return p >= 0.0 ? p : INFINITY;
}

// |got - ref|, 0 when they are equal (inf == inf, NaN and NaN), INFINITY
// when they differ and either is a NaN or Inf.
static double diff(double got, double ref) {
    if (got == ref || (isnan(got) && isnan(ref))) return 0.0;
    if (!isfinite(got) || !isfinite(ref)) return INFINITY;
    return fabs(got - ref);
}

double cmp_pct(double got, double ref, double tol) { return pct_of(diff(got, ref), tol); }

void cmp_add(cmp_result *r, const char *where, size_t i, double got, double ref, double tol) {
    double pct = cmp_pct(got, ref, tol);
    if (r->n++ == 0 || pct > r->pct) {
        *r = (cmp_result){.n = r->n, .at = i, .where = where, .got = got, .ref = ref,
                          .err = diff(got, ref), .tol = tol, .pct = pct};
    }
}

int cmp_end(cmp_result *r, const char *what) {
    r->ok = r->pct <= 100.0;
    if (!r->ok && what)
        fprintf(stderr, "%s: %s%selement %zu got %.9g expected %.9g, tolerance %.3g (%.0f%% of it)\n", what,
                r->where ? r->where : "", r->where ? " " : "", r->at, r->got, r->ref, r->tol, r->pct);
    return r->ok;
}

cmp_result cmp_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol) {
    cmp_result r = {0};
    for (size_t i = 0; i < n; i++) cmp_add(&r, NULL, i, got[i], ref[i], atol + rtol * fabs(ref[i]));
    cmp_end(&r, what);
    return r;
}

cmp_result cmp_scaled(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i])) mx = fmax(mx, fabs(ref[i]));
    return cmp_close(what, got, ref, n, atol * mx, rtol);
}

double cmp_norm2(const float *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(a[i])) s += (double)a[i] * a[i];
    return sqrt(s);
}

cmp_result cmp_norm_to(const char *what, const float *got, const float *ref, size_t n, double scale, double tol) {
    cmp_result r = {.n = n, .tol = tol};
    double e2 = 0.0, big = -1.0;
    for (size_t i = 0; i < n; i++) {
        double d = diff(got[i], ref[i]);
        e2 += d * d;
        if (d > big) {
            big = d;
            r.at = i;
            r.got = got[i];
            r.ref = ref[i];
        }
    }
    r.err = e2 == 0.0 ? 0.0 : sqrt(e2) / scale;
    r.pct = pct_of(r.err, tol);
    r.ok = r.pct <= 100.0;
    if (!r.ok && what)
        fprintf(stderr, "%s: |got - ref|_2 / %.3g = %.3g, tolerance %.3g (%.0f%% of it); largest difference at "
                "element %zu: got %.9g expected %.9g\n", what, scale, r.err, tol, r.pct, r.at, r.got, r.ref);
    return r;
}

cmp_result cmp_norm(const char *what, const float *got, const float *ref, size_t n, double tol) {
    return cmp_norm_to(what, got, ref, n, cmp_norm2(ref, n), tol);
}
