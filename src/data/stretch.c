// Stretches of float pixel data to 8 bits (include/am/stretch.h has the
// rules). Limits are found in double; pixels are mapped in double and
// rounded with rint (ties to even, as numpy).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/stretch.h"

static const char *names[AM_STRETCH_COUNT] = {"none", "linear", "percentile", "log", "asinh", "zscale"};

void am_stretch_defaults(am_stretch *s) {
    *s = (am_stretch){.kind = AM_STRETCH_NONE, .asinh_scale = 0.7f, .clip = 99.8f, .clip_samples = 2000, .log_a = 1000.0f,
                      .zs_samples = 1000, .zs_contrast = 0.25f, .zs_max_reject = 0.5f, .zs_min_npixels = 5,
                      .zs_krej = 2.5f, .zs_max_iter = 5};
}

const char *am_stretch_name(int kind) { return kind >= 0 && kind < AM_STRETCH_COUNT ? names[kind] : "?"; }

int am_stretch_parse(const char *name) {
    for (int k = 0; k < AM_STRETCH_COUNT; k++)
        if (!strcmp(name, names[k])) return k;
    am_seterr("unknown stretch '%s': use none, linear, percentile, log, asinh or zscale", name);
    return -1;
}

int am_stretch_check(const am_stretch *s) {
    if (s->kind < 0 || s->kind >= AM_STRETCH_COUNT) return am_seterr("stretch %d is unknown", s->kind);
    if (!(s->asinh_scale > 0 && s->asinh_scale < 1e6f)) return am_seterr("asinh scale %g must be > 0", s->asinh_scale);
    if (!(s->clip > 0 && s->clip <= 100)) return am_seterr("clip percentile %g must be in (0, 100]", s->clip);
    if (s->clip_samples < 0) return am_seterr("clip samples %d must be >= 0", s->clip_samples);
    if (!(s->log_a > 0 && s->log_a < 1e12f)) return am_seterr("log a %g must be > 0", s->log_a);
    if (s->zs_samples < 1 || s->zs_samples > 100000000)
        return am_seterr("zscale samples %d must be in 1..1e8", s->zs_samples);
    if (!(s->zs_contrast >= 0 && s->zs_contrast <= 1)) return am_seterr("zscale contrast %g must be in [0, 1]", s->zs_contrast);
    if (!(s->zs_max_reject >= 0 && s->zs_max_reject <= 1))
        return am_seterr("zscale max reject %g must be in [0, 1]", s->zs_max_reject);
    if (s->zs_min_npixels < 1) return am_seterr("zscale min pixels %d must be >= 1", s->zs_min_npixels);
    if (!(s->zs_krej > 0 && s->zs_krej < 1e6f)) return am_seterr("zscale krej %g must be > 0", s->zs_krej);
    if (s->zs_max_iter < 1 || s->zs_max_iter > 1000)
        return am_seterr("zscale iterations %d must be in 1..1000", s->zs_max_iter);
    return 0;
}

static uint8_t to_u8(double v) {
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (uint8_t)rint(v * 255.0);
}

static void min_max(const float *x, size_t n, double *lo, double *hi) {
    float a = n ? x[0] : 0, b = a;
    for (size_t i = 1; i < n; i++) {
        if (x[i] < a) a = x[i];
        if (x[i] > b) b = x[i];
    }
    *lo = a;
    *hi = b;
}

// dst = rint(255 clip((x - lo) / (hi - lo))), hi > lo.
static void linear(uint8_t *dst, const float *x, size_t n, double lo, double hi) {
    double inv = 1.0 / (hi - lo);
    for (size_t i = 0; i < n; i++) dst[i] = to_u8((x[i] - lo) * inv);
}

// Conversion only (fitsbolt's CONVERSION_ONLY to uint8).
static void convert_only(uint8_t *dst, const float *x, size_t n, am_sample_type type) {
    if (type == AM_SAMPLE_U8) {
        for (size_t i = 0; i < n; i++) dst[i] = x[i] <= 0 ? 0 : x[i] >= 255 ? 255 : (uint8_t)x[i];
        return;
    }
    if (type == AM_SAMPLE_U16) {
        for (size_t i = 0; i < n; i++) dst[i] = to_u8(x[i] / 65535.0);
        return;
    }
    double lo, hi;
    min_max(x, n, &lo, &hi);
    if (lo < hi) linear(dst, x, n, lo, hi);
    else memset(dst, 0, n);
}

// A monotonic stretch f to [0, 1] by its level boundaries: e[b] (b = 1..255)
// is the x where 255 f(x) = b - 0.5, so the level rint(255 f(x)) is the
// number of boundaries at or below x (binary search, 8 steps), which spares
// a transcendental per pixel. A value exactly on a boundary goes up, where
// rint would go to the even level: a tie of measure zero.
static void by_levels(uint8_t *dst, const float *x, size_t n, const double *e) {
    double t[384];
    t[0] = -INFINITY;
    for (int b = 1; b < 384; b++) t[b] = b < 256 ? e[b] : INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        int lo = 0;
        for (int step = 128; step; step >>= 1) lo += (t[lo + step] <= v) * step;
        dst[i] = (uint8_t)lo;
    }
}

static void swapf(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

// The k-th smallest of v[0..n) (v is reordered): quickselect, median-of-3.
static float select_kth(float *v, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo]) swapf(&v[mid], &v[lo]);
        if (v[hi] < v[lo]) swapf(&v[hi], &v[lo]);
        if (v[hi] < v[mid]) swapf(&v[hi], &v[mid]);
        float p = v[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) i++;
            while (v[j] > p) j--;
            if (i <= j) {
                swapf(&v[i], &v[j]);
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    return v[k];
}

static size_t gcd(size_t a, size_t b) {
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void am_percentile_limits(const float *x, int w, int h, int C, int c, const am_stretch *s, double *vmin,
                          double *vmax) {
    // fitsbolt sees one channel as (h, w, 1), rows of length 1: no nudge.
    size_t all = (size_t)w * h, step = 1, row = C == 1 ? 1 : (size_t)w;
    if (s->clip_samples && all > (size_t)s->clip_samples) {
        step = all / (size_t)s->clip_samples;
        if (!step) step = 1;
        for (size_t tries = 0; row > 1 && gcd(step, row) != 1 && tries < row; tries++) step++;
    }
    size_t m = (all + step - 1) / step;
    float *v = AM_MALLOC(sizeof(float) * (m ? m : 1));
    for (size_t i = 0; i < m; i++) v[i] = x[i * step * C + c];
    double lo = (100.0 - s->clip) / 2.0;
    size_t k1 = (size_t)(lo / 100.0 * (double)(m - 1)), k2 = (size_t)((100.0 - lo) / 100.0 * (double)(m - 1));
    *vmin = m ? select_kth(v, m, k1) : 0;
    *vmax = m ? select_kth(v, m, k2) : 0;
    free(v);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void am_zscale_limits(const float *v, size_t n, const am_stretch *s, double *vmin, double *vmax) {
    size_t stride = (size_t)fmax(1.0, (double)n / s->zs_samples);
    size_t npix = n ? (n - 1) / stride + 1 : 0;
    if (npix > (size_t)s->zs_samples) npix = (size_t)s->zs_samples;
    if (!npix) {
        *vmin = *vmax = 0;
        return;
    }
    float *y = AM_MALLOC(sizeof(float) * npix);
    char *bad = AM_CALLOC(npix), *grown = AM_MALLOC(npix);
    for (size_t i = 0; i < npix; i++) y[i] = v[i * stride];
    qsort(y, npix, sizeof(float), cmp_float);
    *vmin = y[0];
    *vmax = y[npix - 1];
    size_t minpix = (size_t)fmax(s->zs_min_npixels, (double)(size_t)(npix * (double)s->zs_max_reject));
    size_t ngrow = (size_t)fmax(1.0, (double)(size_t)(npix * 0.01));
    size_t ngood = npix, last = npix + 1;
    double slope = 0;
    for (int it = 0; it < s->zs_max_iter; it++) {
        if (ngood >= last || ngood < minpix) break;
        // Least-squares line over the good samples (np.polyfit, 0/1 weights).
        double sw = 0, sx = 0, sy = 0;
        for (size_t i = 0; i < npix; i++)
            if (!bad[i]) sw++, sx += (double)i, sy += y[i];
        double xm = sx / sw, ym = sy / sw, sxy = 0, sxx = 0;
        for (size_t i = 0; i < npix; i++)
            if (!bad[i]) sxy += (i - xm) * (y[i] - ym), sxx += (i - xm) * (i - xm);
        slope = sxx > 0 ? sxy / sxx : 0;
        double icpt = ym - slope * xm;
        // k-sigma threshold from the good residuals' standard deviation (ddof 0).
        double m1 = 0, m2 = 0;
        for (size_t i = 0; i < npix; i++)
            if (!bad[i]) m1 += y[i] - (slope * i + icpt);
        m1 /= sw;
        for (size_t i = 0; i < npix; i++)
            if (!bad[i]) {
                double d = y[i] - (slope * i + icpt) - m1;
                m2 += d * d;
            }
        double thr = s->zs_krej * sqrt(m2 / sw);
        for (size_t i = 0; i < npix; i++) {
            double f = y[i] - (slope * i + icpt);
            if (f < -thr || f > thr) bad[i] = 1;
        }
        // Grow the rejected set by ngrow (np.convolve(..., mode='same')):
        // sample i marks i - (ngrow-1)/2 .. i + ngrow/2.
        memset(grown, 0, npix);
        for (size_t i = 0; i < npix; i++) {
            if (!bad[i]) continue;
            size_t a = i >= (ngrow - 1) / 2 ? i - (ngrow - 1) / 2 : 0, b = i + ngrow / 2;
            if (b > npix - 1) b = npix - 1;
            for (size_t j = a; j <= b; j++) grown[j] = 1;
        }
        memcpy(bad, grown, npix);
        last = ngood;
        ngood = 0;
        for (size_t i = 0; i < npix; i++) ngood += !bad[i];
    }
    if (ngood >= minpix) {
        if (s->zs_contrast > 0) slope /= s->zs_contrast;
        size_t centre = (npix - 1) / 2;
        double median = npix % 2 ? y[npix / 2] : 0.5 * ((double)y[npix / 2 - 1] + y[npix / 2]);
        *vmin = fmax(*vmin, median - ((double)centre - 1) * slope);
        *vmax = fmin(*vmax, median + (double)(npix - centre) * slope);
    }
    free(y);
    free(bad);
    free(grown);
}

// 1 when every value equals the first.
static int constant(const float *x, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (x[i] != x[0]) return 0;
    return 1;
}

// The lowest and highest of the channels' percentile limits.
static void limits(const float *x, int w, int h, int C, const am_stretch *s, double *vmin, double *vmax) {
    *vmin = INFINITY, *vmax = -INFINITY;
    for (int c = 0; c < C; c++) {
        double a, b;
        am_percentile_limits(x, w, h, C, c, s, &a, &b);
        *vmin = fmin(*vmin, a);
        *vmax = fmax(*vmax, b);
    }
}

static void asinh_stretch(uint8_t *dst, float *x, size_t n, int w, int h, int C, const am_stretch *s) {
    double vmin, vmax;
    limits(x, w, h, C, s, &vmin, &vmax);
    if (vmax - vmin == 0) {
        convert_only(dst, x, n, AM_SAMPLE_FLOAT);
        return;
    }
    // vmin < vmax are pixels' values (order statistics of a sample of
    // them), so the stretched image spans [0, 1]: never flat.
    double e[256], scale = s->asinh_scale, norm = asinh(1.0 / scale);
    for (int b = 1; b < 256; b++) e[b] = vmin + (vmax - vmin) * scale * sinh(norm * (b - 0.5) / 255.0);
    by_levels(dst, x, n, e);
}

static void log_stretch(uint8_t *dst, const float *x, size_t n, const am_stretch *s, am_sample_type type) {
    double lo = 0, hi, mn;
    min_max(x, n, &mn, &hi);
    if (!(lo < hi)) {
        lo = mn;
        if (!(lo < hi)) {
            convert_only(dst, x, n, type);
            return;
        }
    }
    double e[256], a = s->log_a, norm = log(a + 1.0);
    for (int b = 1; b < 256; b++) e[b] = lo + (hi - lo) * expm1(norm * (b - 0.5) / 255.0) / a;
    by_levels(dst, x, n, e);
}

static void zscale_stretch(uint8_t *dst, const float *x, size_t n, const am_stretch *s, am_sample_type type) {
    if (constant(x, n)) {
        convert_only(dst, x, n, type);
        return;
    }
    double vmin, vmax;
    am_zscale_limits(x, n, s, &vmin, &vmax);
    if (!(vmin < vmax)) {
        convert_only(dst, x, n, type);
        return;
    }
    // fitsbolt falls back when the clipped, scaled image is flat.
    double inv = 1.0 / (vmax - vmin), v0 = fmin(fmax((x[0] - vmin) * inv, 0), 1);
    int spread = 0;
    for (size_t i = 1; i < n && !spread; i++) spread = fmin(fmax((x[i] - vmin) * inv, 0), 1) != v0;
    if (spread) linear(dst, x, n, vmin, vmax);
    else convert_only(dst, x, n, type);
}

void am_stretch_apply(uint8_t *dst, float *x, int w, int h, int C, const am_stretch *s, am_sample_type type) {
    size_t n = (size_t)w * h * C;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) x[i] = 0;
    double lo, hi;
    switch (s->kind) {
    case AM_STRETCH_LINEAR:
        min_max(x, n, &lo, &hi);
        if (lo < hi) linear(dst, x, n, lo, hi);
        else convert_only(dst, x, n, type);
        return;
    case AM_STRETCH_PERCENTILE:
        limits(x, w, h, C, s, &lo, &hi);
        if (lo < hi) linear(dst, x, n, lo, hi);
        else convert_only(dst, x, n, type);
        return;
    case AM_STRETCH_LOG: log_stretch(dst, x, n, s, type); return;
    case AM_STRETCH_ASINH: asinh_stretch(dst, x, n, w, h, C, s); return;
    case AM_STRETCH_ZSCALE: zscale_stretch(dst, x, n, s, type); return;
    default: convert_only(dst, x, n, type); return;
    }
}
