// Antialiased bilinear resampling, the same integer arithmetic as Pillow's
// 8-bit resampler: filter support scaled by the reduction factor, weights
// normalised in double then stored as 22-bit fixed point, rounding by adding
// half an LSB, clamping to 0..255 after each pass.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"

#define FIX_BITS 22

static double tent(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// Per output index: first input index, count, and `ksize` fixed-point weights.
static int make_weights(int in, int out, int **first, int **count, int32_t **w) {
    double scale = (double)in / out, fscale = scale < 1.0 ? 1.0 : scale;
    double support = fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    *first = AM_MALLOC(sizeof(int) * out);
    *count = AM_MALLOC(sizeof(int) * out);
    *w = AM_CALLOC(sizeof(int32_t) * out * ksize);
    double *k = AM_MALLOC(sizeof(double) * ksize);
    for (int o = 0; o < out; o++) {
        double centre = (o + 0.5) * scale, sum = 0.0;
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int n = hi - lo;
        for (int i = 0; i < n; i++) {
            k[i] = tent((i + lo - centre + 0.5) / fscale);
            sum += k[i];
        }
        for (int i = 0; i < n; i++) {
            double v = sum != 0.0 ? k[i] / sum : k[i];
            (*w)[o * ksize + i] = (int32_t)(v < 0 ? -0.5 + v * (1 << FIX_BITS) : 0.5 + v * (1 << FIX_BITS));
        }
        (*first)[o] = lo;
        (*count)[o] = n;
    }
    free(k);
    return ksize;
}

static uint8_t clamp8(int32_t acc) {
    int v = acc >> FIX_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One row through the horizontal weights: out (dw, C) from in (sw, C). The
// sums are exact integers, so their order is free.
static void resample_row(uint8_t *restrict out, const uint8_t *restrict in, int dw, int C,
                         const int *restrict first, const int *restrict count, const int32_t *restrict w,
                         int ksize) {
    for (int x = 0; x < dw; x++) {
        const uint8_t *p = in + (size_t)first[x] * C;
        const int32_t *k = w + (size_t)x * ksize;
        int n = count[x];
        if (C == 3) {
            int32_t a0 = 1 << (FIX_BITS - 1), a1 = a0, a2 = a0;
            for (int i = 0; i < n; i++) {
                int32_t kk = k[i];
                a0 += p[3 * i] * kk;
                a1 += p[3 * i + 1] * kk;
                a2 += p[3 * i + 2] * kk;
            }
            out[3 * x] = clamp8(a0);
            out[3 * x + 1] = clamp8(a1);
            out[3 * x + 2] = clamp8(a2);
        } else {
            for (int c = 0; c < C; c++) {
                int32_t a = 1 << (FIX_BITS - 1);
                for (int i = 0; i < n; i++) a += p[i * C + c] * k[i];
                out[x * C + c] = clamp8(a);
            }
        }
    }
}

void am_resize_bilinear(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int C) {
    int *xf, *xn, *yf, *yn;
    int32_t *xw, *yw;
    int ky = make_weights(sh, dh, &yf, &yn, &yw);
    // Only the rows the vertical pass reads go through the horizontal pass;
    // with an unchanged height that is every row and shift is 0.
    int shift = 0;
    const uint8_t *hsrc = src;
    uint8_t *tmp = NULL;
    if (dw != sw) {
        int kx = make_weights(sw, dw, &xf, &xn, &xw);
        int rows = yf[dh - 1] + yn[dh - 1] - yf[0];
        shift = yf[0];
        tmp = AM_MALLOC((size_t)rows * dw * C);
        for (int y = 0; y < rows; y++)
            resample_row(tmp + (size_t)y * dw * C, src + (size_t)(y + shift) * sw * C, dw, C, xf, xn, xw, kx);
        free(xf);
        free(xn);
        free(xw);
        hsrc = tmp;
    }
    if (dh != sh) {
        // Output row y = sum over its input rows of row * weight, accumulated
        // a whole row at a time (vectorised; exact integers in any order).
        size_t row = (size_t)dw * C;
        int32_t *acc = AM_MALLOC(sizeof(int32_t) * row);
        for (int y = 0; y < dh; y++) {
            const int32_t *k = yw + (size_t)y * ky;
            for (size_t x = 0; x < row; x++) acc[x] = 1 << (FIX_BITS - 1);
            for (int i = 0; i < yn[y]; i++) {
                const uint8_t *restrict r = hsrc + (size_t)(yf[y] - shift + i) * row;
                int32_t kk = k[i];
                for (size_t x = 0; x < row; x++) acc[x] += r[x] * kk;
            }
            uint8_t *restrict out = dst + (size_t)y * row;
            for (size_t x = 0; x < row; x++) out[x] = clamp8(acc[x]);
        }
        free(acc);
    } else {
        memcpy(dst, hsrc, (size_t)dh * dw * C);
    }
    free(tmp);
    free(yf);
    free(yn);
    free(yw);
}

// ---- float images: OpenCV's resize on float32, as fitsbolt calls it ----
//
// One axis as a list of taps: output o reads in[idx[t]] * w[t] for
// t in first[o] .. first[o+1]-1.
typedef struct {
    int *first, *idx;
    float *w;
} taps;

static void taps_free(taps *t) {
    free(t->first);
    free(t->idx);
    free(t->w);
}

static int clampi(int v, int n) { return v < 0 ? 0 : v > n - 1 ? n - 1 : v; }

// INTER_AREA shrinking (scale = in / out >= 1): each output covers
// [o scale, (o + 1) scale) of the input, partial pixels weighted by their
// covered part, divided by the covered width (OpenCV's area table).
static void taps_area(taps *t, int in, int out) {
    double scale = (double)in / out;
    int cap = out * ((int)ceil(scale) + 2);
    t->first = AM_MALLOC(sizeof(int) * (out + 1));
    t->idx = AM_MALLOC(sizeof(int) * cap);
    t->w = AM_MALLOC(sizeof(float) * cap);
    int k = 0;
    for (int o = 0; o < out; o++) {
        t->first[o] = k;
        double f1 = o * scale, f2 = f1 + scale, cell = fmin(scale, in - f1);
        int s1 = (int)ceil(f1), s2 = (int)floor(f2);
        if (s2 > in - 1) s2 = in - 1;
        if (s1 > s2) s1 = s2;
        if (s1 - f1 > 1e-3) t->idx[k] = s1 - 1, t->w[k++] = (float)((s1 - f1) / cell);
        for (int s = s1; s < s2; s++) t->idx[k] = s, t->w[k++] = (float)(1.0 / cell);
        if (f2 - s2 > 1e-3) t->idx[k] = s2, t->w[k++] = (float)(fmin(fmin(f2 - s2, 1.0), cell) / cell);
    }
    t->first[out] = k;
}

// Two taps per output: INTER_LINEAR (half-pixel centres), or with `area`
// OpenCV's INTER_AREA on an image that grows along some axis (its
// fx = (o + 1) - (s + 1) / scale, fractional part). Indices clamp to the
// edge; along x (`x`), as in OpenCV, an edge output also takes the edge
// pixel alone (weight 1), while along y it blends the clamped rows (so a
// NaN one row in does not reach the first output row).
static void taps_two(taps *t, int in, int out, int area, int x) {
    double scale = (double)in / out;
    t->first = AM_MALLOC(sizeof(int) * (out + 1));
    t->idx = AM_MALLOC(sizeof(int) * 2 * out);
    t->w = AM_MALLOC(sizeof(float) * 2 * out);
    for (int o = 0; o < out; o++) {
        int s;
        float fx;
        if (area) {
            s = (int)floor(o * scale);
            fx = (float)((o + 1) - (s + 1) / scale);
            fx = fx <= 0 ? 0.f : fx - floorf(fx);
        } else {
            fx = (float)((o + 0.5) * scale - 0.5);
            s = (int)floorf(fx);
            fx -= (float)s;
        }
        if (x && s < 0) fx = 0, s = 0;
        if (x && s >= in - 1) fx = 0, s = in - 1;
        t->first[o] = 2 * o;
        t->idx[2 * o] = clampi(s, in);
        t->idx[2 * o + 1] = clampi(s + 1, in);
        t->w[2 * o] = 1.f - fx;
        t->w[2 * o + 1] = fx;
    }
    t->first[out] = 2 * out;
}

void am_resize_float(float *dst, int dw, int dh, const float *src, int sw, int sh, int C) {
    taps tx, ty;
    int shrink = dw < sw || dh < sh, grow = dw > sw || dh > sh;
    if (shrink && !grow) taps_area(&tx, sw, dw), taps_area(&ty, sh, dh);
    else taps_two(&tx, sw, dw, shrink, 1), taps_two(&ty, sh, dh, shrink, 0);
    // Horizontal pass into (sh, dw, C), then vertical into (dh, dw, C).
    size_t row = (size_t)dw * C;
    float *tmp = AM_MALLOC(sizeof(float) * sh * row);
    for (int y = 0; y < sh; y++) {
        const float *in = src + (size_t)y * sw * C;
        float *out = tmp + (size_t)y * row;
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < C; c++) {
                float a = 0;
                for (int k = tx.first[x]; k < tx.first[x + 1]; k++) a += in[(size_t)tx.idx[k] * C + c] * tx.w[k];
                out[(size_t)x * C + c] = a;
            }
    }
    for (int y = 0; y < dh; y++) {
        float *out = dst + (size_t)y * row;
        for (size_t i = 0; i < row; i++) out[i] = 0;
        for (int k = ty.first[y]; k < ty.first[y + 1]; k++) {
            const float *r = tmp + (size_t)ty.idx[k] * row;
            float w = ty.w[k];
            for (size_t i = 0; i < row; i++) out[i] += r[i] * w;
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
}
