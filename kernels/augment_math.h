// Per-pixel maths of the augmentations (include/am/augment.h), shared by the
// CPU code (src/data/augment.c) and the CUDA kernels. Each function reproduces
// Pillow 13's arithmetic operation for operation (float32 where Pillow's C
// uses float, float64 where it or its Python layer uses double, the same
// evaluation order, truncating casts), so that the results are bit-exact.
//
// No contraction into fused multiply-adds is allowed anywhere here: gcc in
// ISO C mode (-std=c11) does not contract; under nvcc the _rn intrinsics
// below keep every product and sum separately rounded.
#pragma once
#include <math.h>
#include <stdint.h>

#include "am/aug_plan.h"
#include "am/hd.h"

AM_HD static inline float am_aug_fmul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
AM_HD static inline float am_aug_fadd(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
AM_HD static inline double am_aug_dmul(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
AM_HD static inline double am_aug_dadd(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

// ---- colour ----------------------------------------------------------------

// ITU-R 601-2 luma in 16-bit fixed point (Pillow's RGB -> L conversion).
AM_HD static inline uint8_t am_aug_luma(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

// A float clamped to [0, 255] and truncated (Pillow's clip of filters and of
// extrapolating blends: v <= 0 -> 0, v >= 255 -> 255, else (uint8)v), written
// as a max/min pair so that loops over it vectorise.
AM_HD static inline uint8_t am_aug_clip8(float v) {
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    return (uint8_t)(int)v;
}

// Image.blend(degenerate, image, f) for one byte: a + f (b - a) in float32,
// truncated; for f outside [0, 1] clamped first. Inside [0, 1] the clamp
// never acts, so one expression serves both of Pillow's branches, and f = 0
// and f = 1 give a and b exactly, as Pillow's shortcuts do.
AM_HD static inline uint8_t am_aug_blend(uint8_t a, uint8_t b, float f) {
    float d = (float)((int)b - (int)a);
    return am_aug_clip8(am_aug_fadd((float)a, am_aug_fmul(f, d)));
}

// am_aug_blend for |f| <= 2^23 (then |a + f (b - a)| < 2^31): the clamp on
// the truncated integer gives the same byte and vectorises much better.
#define AM_AUG_BLEND_I_MAX 8388608.0f
AM_HD static inline uint8_t am_aug_blend_i(uint8_t a, uint8_t b, float f) {
    float d = (float)((int)b - (int)a);
    int r = (int)am_aug_fadd((float)a, am_aug_fmul(f, d));
    r = r < 0 ? 0 : r;
    r = r > 255 ? 255 : r;
    return (uint8_t)r;
}

// ImageFilter.SMOOTH at an interior pixel: kernel [[1,1,1],[1,5,1],[1,1,1]]
// with float32 weights 1/13 and 5/13, sum started at the rounding offset 0.5
// and taken row y+1 first, then y, then y-1, each row left to right; then
// clamped and truncated. up, mid, dn point at the pixel in rows y-1, y, y+1;
// s is the distance between horizontal neighbours (the channel count).
AM_HD static inline uint8_t am_aug_smooth(const uint8_t *up, const uint8_t *mid,
                                          const uint8_t *dn, int s) {
    const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
    float r2 = am_aug_fadd(am_aug_fadd(am_aug_fmul((float)dn[-s], k1), am_aug_fmul((float)dn[0], k1)),
                           am_aug_fmul((float)dn[s], k1));
    float r1 = am_aug_fadd(am_aug_fadd(am_aug_fmul((float)mid[-s], k1), am_aug_fmul((float)mid[0], k5)),
                           am_aug_fmul((float)mid[s], k1));
    float r0 = am_aug_fadd(am_aug_fadd(am_aug_fmul((float)up[-s], k1), am_aug_fmul((float)up[0], k1)),
                           am_aug_fmul((float)up[s], k1));
    float ss = am_aug_fadd(am_aug_fadd(am_aug_fadd(0.5f, r2), r1), r0);
    return am_aug_clip8(ss);
}

// am_aug_smooth from the integer sum s = 5 centre + the 8 neighbours, for
// any 9 bytes: floor((2 s + 13) / 26). Why it is exact: the float sum is
// 0.5 + s/13 up to < 3e-4 (weights within 2^-24 relative of 1/13 and 5/13,
// about 17 roundings of values below 256), while 0.5 + s/13 = (2 s + 13)/26
// has an odd numerator and so lies at least 1/26 from every integer: the
// truncation cannot differ. tests/test_augment.c also checks it directly.
AM_HD static inline uint8_t am_aug_smooth_sum(int s) { return (uint8_t)((2 * s + 13) / 26); }

// ImageEnhance.Contrast's grey level: int(mean + 0.5) of the luma histogram
// (mean = sum / count in double: both exact integers, one rounding).
AM_HD static inline int am_aug_contrast_mean(const uint32_t hist[256]) {
    uint64_t sum = 0, n = 0;
    for (int i = 0; i < 256; i++) {
        sum += (uint64_t)i * hist[i];
        n += hist[i];
    }
    if (n == 0) return 0;
    double mean = (double)sum / (double)n;
    return (int)am_aug_dadd(mean, 0.5);
}

// ---- look-up tables (one channel) -------------------------------------------

// ImageOps.autocontrast (cutoff 0): lo/hi the lowest/highest level present;
// unchanged when hi <= lo; else lut[i] = int(i * s + (-lo) * s) clamped to
// [0, 255], s = 255.0 / (hi - lo), all in double.
AM_HD static inline void am_aug_autocontrast_lut(uint8_t lut[256], const uint32_t hist[256]) {
    int lo = 0, hi = 255;
    while (lo < 256 && hist[lo] == 0) lo++;
    while (hi >= 0 && hist[hi] == 0) hi--;
    if (hi <= lo) {
        for (int i = 0; i < 256; i++) lut[i] = (uint8_t)i;
        return;
    }
    double scale = 255.0 / (double)(hi - lo);
    double offset = am_aug_dmul((double)(-lo), scale);
    for (int i = 0; i < 256; i++) {
        int v = (int)am_aug_dadd(am_aug_dmul((double)i, scale), offset);
        lut[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

// ImageOps.equalize: unchanged with at most one level present or when
// step = (count - count of the highest level present) // 255 is 0; else
// lut[i] = (step // 2 + sum of hist below i) // step, clipped to 255 as
// Image.point does.
AM_HD static inline void am_aug_equalize_lut(uint8_t lut[256], const uint32_t hist[256]) {
    int levels = 0, last = -1;
    uint64_t total = 0;
    for (int i = 0; i < 256; i++)
        if (hist[i]) { levels++; last = i; total += hist[i]; }
    uint64_t step = levels <= 1 ? 0 : (total - hist[last]) / 255;
    if (step == 0) {
        for (int i = 0; i < 256; i++) lut[i] = (uint8_t)i;
        return;
    }
    uint64_t n = step / 2;
    for (int i = 0; i < 256; i++) {
        uint64_t v = n / step;
        lut[i] = (uint8_t)(v > 255 ? 255 : v);
        n += hist[i];
    }
}

// ImageOps.posterize: keep the top `bits` bits (1..8).
AM_HD static inline uint8_t am_aug_posterize(uint8_t v, int bits) {
    return (uint8_t)(v & (0xFFu << (8 - bits)));
}

// ImageOps.solarize: levels at or above the threshold are inverted.
AM_HD static inline uint8_t am_aug_solarize(uint8_t v, float threshold) {
    return (float)v < threshold ? v : (uint8_t)(255 - v);
}

// The same test on integers: (float)v < t exactly when v < this level (0..256).
AM_HD static inline int am_aug_solarize_level(float t) {
    if (!(t > 0.0f)) return 0;
    return t > 255.0f ? 256 : (int)ceilf(t);
}

// ---- geometry -----------------------------------------------------------------

// Pillow's COORD: a non-negative coordinate truncated, any negative one -1
// (and NaN -1; beyond the int range saturated: outside any image either way).
AM_HD static inline int am_aug_coord(double v) {
    if (!(v >= 0.0)) return -1;
    return v >= 2147483647.0 ? 2147483647 : (int)v;
}

// Pillow's 16.16 fixed point conversion: floor(v * 65536 + 0.5).
AM_HD static inline int32_t am_aug_fix16(double v) {
    double t = am_aug_dadd(am_aug_dmul(v, 65536.0), 0.5);
    return t < 0.0 ? (int32_t)floor(t) : (int32_t)t;
}

// floor(v / 65536) for any sign (an arithmetic shift without relying on it).
AM_HD static inline int am_aug_floor16(int64_t v) {
    return (int)(v >= 0 ? (v >> 16) : ~((~v) >> 16));
}

// Whether the affine a maps the output corner (x, y) inside +-32768, the
// range of the fixed-point path.
AM_HD static inline int am_aug_fixed_ok(const double a[6], int x, int y) {
    double u = am_aug_dadd(am_aug_dadd(am_aug_dmul((double)x, a[0]), am_aug_dmul((double)y, a[1])), a[2]);
    double v = am_aug_dadd(am_aug_dadd(am_aug_dmul((double)x, a[3]), am_aug_dmul((double)y, a[4])), a[5]);
    return fabs(u) < 32768.0 && fabs(v) < 32768.0;
}

// The affine's three paths in Pillow's ImagingTransformAffine (nearest):
// AM_AFF_SCALE when a1 = a3 = 0 (tabulated double coordinates, accumulated),
// AM_AFF_FIXED when all four output corners pass am_aug_fixed_ok (16.16),
// AM_AFF_FLOAT otherwise (double coordinates, accumulated).
enum { AM_AFF_SCALE = 0, AM_AFF_FIXED = 1, AM_AFF_FLOAT = 2 };

AM_HD static inline int am_aug_affine_path(const double a[6], int W, int H) {
    if (a[1] == 0.0 && a[3] == 0.0) return AM_AFF_SCALE;
    if (am_aug_fixed_ok(a, 0, 0) && am_aug_fixed_ok(a, W, H) && am_aug_fixed_ok(a, 0, H) &&
        am_aug_fixed_ok(a, W, 0))
        return AM_AFF_FIXED;
    return AM_AFF_FLOAT;
}

// Fixed-point coefficients f[6]: the four linear ones and the offsets of the
// pixel centre (0.5, 0.5), (a2 + a0/2) + a1/2 and (a5 + a3/2) + a4/2.
AM_HD static inline void am_aug_affine_fixed(int32_t f[6], const double a[6]) {
    f[0] = am_aug_fix16(a[0]);
    f[1] = am_aug_fix16(a[1]);
    f[3] = am_aug_fix16(a[3]);
    f[4] = am_aug_fix16(a[4]);
    f[2] = am_aug_fix16(am_aug_dadd(am_aug_dadd(a[2], am_aug_dmul(a[0], 0.5)), am_aug_dmul(a[1], 0.5)));
    f[5] = am_aug_fix16(am_aug_dadd(am_aug_dadd(a[5], am_aug_dmul(a[3], 0.5)), am_aug_dmul(a[4], 0.5)));
}

// Source pixel of output (x, y) on the fixed-point path; 0 when outside
// (the output keeps the fill 0). Pillow adds f0, f3 per column and f1, f4 per
// row in int32; the sums are the same integers.
AM_HD static inline int am_aug_affine_fixed_src(const int32_t f[6], int x, int y, int W, int H,
                                                int *sx, int *sy) {
    int u = am_aug_floor16((int64_t)f[2] + (int64_t)y * f[1] + (int64_t)x * f[0]);
    if (u < 0 || u >= W) return 0;
    int v = am_aug_floor16((int64_t)f[5] + (int64_t)y * f[4] + (int64_t)x * f[3]);
    if (v < 0 || v >= H) return 0;
    *sx = u;
    *sy = v;
    return 1;
}

// floor(a / b) for b > 0.
AM_HD static inline int64_t am_aug_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Narrows [*lo, *hi) to the integers x with 0 <= A + x f < lim (lim > 0):
// the columns of an affine row whose 16.16 source coordinate A + x f falls
// inside the image (lim = size * 65536), in exact integer arithmetic.
AM_HD static inline void am_aug_span(int64_t A, int64_t f, int64_t lim, int *lo, int *hi) {
    int64_t l = *lo, h = *hi;
    if (f == 0) {
        if (A < 0 || A >= lim) h = l;
    } else {
        int64_t a, b;  // a <= x <= b
        if (f > 0) {
            a = -am_aug_floordiv(A, f);
            b = am_aug_floordiv(lim - 1 - A, f);
        } else {
            a = -am_aug_floordiv(lim - 1 - A, -f);
            b = am_aug_floordiv(A, -f);
        }
        if (a > l) l = a;
        if (b + 1 < h) h = b + 1;
    }
    if (h < l) l = h = *lo;
    *lo = (int)l;
    *hi = (int)h;
}

// Reflection without edge repeat (np.pad mode='reflect'), any offset.
AM_HD static inline int am_aug_reflect(int i, int n) {
    if (n == 1) return 0;
    int p = 2 * (n - 1);
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - i;
}

// Source pixel of the exact transposes of Image.rotate: kind 1, 2, 3 =
// 90, 180, 270 degrees counter-clockwise (90 and 270 on square images only).
AM_HD static inline void am_aug_rot_src(int kind, int x, int y, int W, int H, int *sx, int *sy) {
    if (kind == 1) { *sx = W - 1 - y; *sy = x; }
    else if (kind == 2) { *sx = W - 1 - x; *sy = H - 1 - y; }
    else { *sx = y; *sy = H - 1 - x; }
}

// Cutout's rectangle as Pillow fills it (see AM_AUG_CUTOUT): inclusive
// [*x0, *x1] x [*y0, *y1] after clipping; 0 when nothing is filled.
AM_HD static inline int am_aug_cutout_rect(float frac, float cx, float cy, int W, int H,
                                           int *x0, int *y0, int *x1, int *y1) {
    double v = am_aug_dmul((double)frac, (double)W);
    if (!(v > 0.0)) return 0;
    double hv = v / 2.0;
    double fx = am_aug_dadd((double)cx, -hv), fy = am_aug_dadd((double)cy, -hv);
    int ix0 = (int)(fx > 0.0 ? fx : 0.0);
    int iy0 = (int)(fy > 0.0 ? fy : 0.0);
    double ex = am_aug_dadd((double)ix0, v), ey = am_aug_dadd((double)iy0, v);
    int ix1 = (int)(ex < (double)W ? ex : (double)W);
    int iy1 = (int)(ey < (double)H ? ey : (double)H);
    if (ix1 > W - 1) ix1 = W - 1;
    if (iy1 > H - 1) iy1 = H - 1;
    if (ix0 > ix1 || iy0 > iy1) return 0;
    *x0 = ix0; *y0 = iy0; *x1 = ix1; *y1 = iy1;
    return 1;
}

// ---- plan steps, one output byte at a time -------------------------------------
// What the CUDA kernel computes for each byte of each am_aug_step, and what
// tests/test_augment.c checks against the CPU's row-wise code.

// Blend in whichever form is exact for f (see am_aug_blend_i).
AM_HD static inline uint8_t am_aug_blend_any(uint8_t a, uint8_t b, float f) {
    return fabsf(f) <= AM_AUG_BLEND_I_MAX ? am_aug_blend_i(a, b, f) : am_aug_blend(a, b, f);
}

// One coordinate table of the separable affine (AM_AFF_SCALE): tab[i] the
// source index of output index i, or -1 outside [0, n); the coordinate
// starts at off + d/2 and accumulates d per index, in double, as Pillow's
// loop does (columns: off a2, d a0, n W; rows: off a5, d a4, n H).
AM_HD static inline void am_aug_scale_table(int *tab, double off, double d, int n) {
    double o = am_aug_dadd(off, am_aug_dmul(d, 0.5));
    for (int i = 0; i < n; i++) {
        int k = am_aug_coord(o);
        tab[i] = k < n ? k : -1;
        o = am_aug_dadd(o, d);
    }
}

// Source pixel of output (x, y) on the double path (AM_AFF_FLOAT): the
// coordinates accumulate a1, a4 per row from the first row's start, then a0,
// a3 per column, in the order of Pillow's loops. 0 when outside.
AM_HD static inline int am_aug_affine_float_src(const double a[6], int x, int y, int W, int H, int *sx, int *sy) {
    double xo = am_aug_dadd(am_aug_dadd(a[2], am_aug_dmul(a[1], 0.5)), am_aug_dmul(a[0], 0.5));
    double yo = am_aug_dadd(am_aug_dadd(a[5], am_aug_dmul(a[4], 0.5)), am_aug_dmul(a[3], 0.5));
    for (int j = 0; j < y; j++) {
        xo = am_aug_dadd(xo, a[1]);
        yo = am_aug_dadd(yo, a[4]);
    }
    for (int i = 0; i < x; i++) {
        xo = am_aug_dadd(xo, a[0]);
        yo = am_aug_dadd(yo, a[3]);
    }
    int u = am_aug_coord(xo);
    if (u < 0 || u >= W) return 0;
    int v = am_aug_coord(yo);
    if (v < 0 || v >= H) return 0;
    *sx = u;
    *sy = v;
    return 1;
}

// What a step needs besides its parameters, made once per image before its
// bytes: look-up tables (AutoContrast, Equalize), the grey level (Contrast),
// the affine's path with its fixed-point coefficients or its coordinate
// tables (xtab W ints, ytab H ints, filled by am_aug_scale_table).
typedef struct {
    uint8_t lut[3][256];
    int level;
    int path;
    int32_t fx[6];
    const int *xtab, *ytab;
} am_aug_prep;

// The histogram a step reads (AM_AUGK_AUTOCONTRAST, _EQUALIZE: per channel;
// _CONTRAST: the luma, in channel 0), 0 when it reads none.
AM_HD static inline int am_aug_step_needs_hist(int kind) {
    return kind == AM_AUGK_AUTOCONTRAST || kind == AM_AUGK_EQUALIZE || kind == AM_AUGK_CONTRAST;
}

// The value pixel p (C bytes) adds to histogram channel c of a step.
AM_HD static inline int am_aug_hist_value(int kind, const uint8_t *p, int c, int C) {
    if (kind == AM_AUGK_CONTRAST && C == 3) return am_aug_luma(p[0], p[1], p[2]);
    return p[c];
}

// From the histograms: channel c's look-up table or the grey level.
AM_HD static inline void am_aug_prep_channel(am_aug_prep *p, int kind, int c, const uint32_t hist[256]) {
    if (kind == AM_AUGK_AUTOCONTRAST) am_aug_autocontrast_lut(p->lut[c], hist);
    else if (kind == AM_AUGK_EQUALIZE) am_aug_equalize_lut(p->lut[c], hist);
    else if (kind == AM_AUGK_CONTRAST && c == 0) p->level = am_aug_contrast_mean(hist);
}

// Byte (x, y, c) of step s applied to src (H,W,C).
AM_HD static inline uint8_t am_aug_step_value(const am_aug_step *s, const am_aug_prep *p, const uint8_t *src,
                                              int x, int y, int c, int H, int W, int C) {
    const size_t row = (size_t)W * C;
    const uint8_t *px = src + row * y + (size_t)x * C;
    uint8_t v = px[c];
    int sx = 0, sy = 0;
    switch (s->kind) {
    case AM_AUGK_AUTOCONTRAST:
    case AM_AUGK_EQUALIZE: return p->lut[c][v];
    case AM_AUGK_CONTRAST: return am_aug_blend_any((uint8_t)p->level, v, s->f);
    case AM_AUGK_BRIGHTNESS: return am_aug_blend_any(0, v, s->f);
    case AM_AUGK_COLOR: return am_aug_blend_any(am_aug_luma(px[0], px[1], px[2]), v, s->f);
    case AM_AUGK_SHARPNESS: {
        if (x == 0 || y == 0 || x == W - 1 || y == H - 1) return v;
        const uint8_t *up = px - row + c, *mid = px + c, *dn = px + row + c;
        int sum = up[-C] + up[0] + up[C] + mid[-C] + 5 * mid[0] + mid[C] + dn[-C] + dn[0] + dn[C];
        return am_aug_blend_any(am_aug_smooth_sum(sum), v, s->f);
    }
    case AM_AUGK_SOLARIZE: return v < s->i[0] ? v : (uint8_t)(255 - v);
    case AM_AUGK_POSTERIZE: return am_aug_posterize(v, s->i[0]);
    case AM_AUGK_AFFINE: {
        int in;
        if (p->path == AM_AFF_SCALE) {
            sx = p->xtab[x];
            sy = p->ytab[y];
            in = sx >= 0 && sy >= 0;
        } else if (p->path == AM_AFF_FIXED) {
            in = am_aug_affine_fixed_src(p->fx, x, y, W, H, &sx, &sy);
        } else {
            in = am_aug_affine_float_src(s->a, x, y, W, H, &sx, &sy);
        }
        return in ? src[row * sy + (size_t)sx * C + c] : 0;
    }
    case AM_AUGK_TRANSPOSE: am_aug_rot_src(s->i[0], x, y, W, H, &sx, &sy); break;
    case AM_AUGK_CUTOUT:
        return x >= s->i[0] && x <= s->i[2] && y >= s->i[1] && y <= s->i[3] ? (uint8_t)s->i[4 + (c < 3 ? c : 0)] : v;
    case AM_AUGK_CROP_FLIP:
        sx = am_aug_reflect((s->i[2] ? W - 1 - x : x) + s->i[0], W);
        sy = am_aug_reflect(y + s->i[1], H);
        break;
    default: return v;
    }
    return src[row * sy + (size_t)sx * C + c];
}
