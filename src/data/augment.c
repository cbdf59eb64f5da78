// Augmentation, part of data preparation (include/am/augment.h): the
// samplers, every op on one image, and the batch over images on the CPU
// (OpenMP). The per-pixel arithmetic is kernels/augment_math.h, so the CUDA
// kernels compute the same bytes.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/augment.h"
#include "am/error.h"
#include "am/philox.h"
#include "../../kernels/augment_math.h"
#ifdef __AVX2__
#include <immintrin.h>
#endif

static const char *const op_names[AM_AUG_NUM_OPS] = {
    "Identity", "AutoContrast", "Equalize", "Rotate", "Solarize", "Color", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY", "Posterize",
    "Cutout", "CropReflect", "FlipX",
};

const char *am_aug_op_name(int op) {
    return op >= 0 && op < AM_AUG_NUM_OPS ? op_names[op] : "?";
}

// ---- samplers ---------------------------------------------------------------

static uint32_t draw(uint64_t seed, uint32_t stream, uint64_t step, uint32_t index, uint32_t slot) {
    return am_rand_u32(seed, stream, step, index * AM_AUG_WORDS + slot);
}

// Uniform integer in [0, n) from one word (multiply-high).
static int below(uint32_t w, int n) { return (int)(((uint64_t)w * (uint64_t)n) >> 32); }

static void push(am_aug_list *l, int op, float m0, float m1, float m2, float m3) {
    AM_CHECK(l->n < AM_AUG_MAX_OPS, "op list full (AM_AUG_MAX_OPS)");
    am_aug_op *o = &l->op[l->n++];
    o->op = op;
    o->m[0] = m0;
    o->m[1] = m1;
    o->m[2] = m2;
    o->m[3] = m3;
}

// Reflect-pad translate, then flip with p 0.5 (slots 0..2 of `stream`); for
// AM_RA_ANOMALYMATCH the flip, then a vertical shift of round(U(-H/8, H/8))
// pixels (round half to even, as Python's round) with zero fill.
static void sample_geometry(am_aug_list *l, am_ra_variant variant, uint32_t stream, uint64_t seed,
                            uint64_t step, uint32_t index, int H, int W) {
    if (variant == AM_RA_ANOMALYMATCH) {
        if (draw(seed, stream, step, index, 0) >> 31) push(l, AM_AUG_FLIP_X, 0.0f, 0.0f, 0.0f, 0.0f);
        double m = 0.125 * H, t = -m + 2.0 * m * (double)am_u01(draw(seed, stream, step, index, 2));
        int ty = (int)nearbyint(t);
        if (ty) push(l, AM_AUG_TRANSLATE_Y, 0.0f, (float)ty, 0.0f, 0.0f);
        return;
    }
    int px = W / 8, py = H / 8;
    int ox = below(draw(seed, stream, step, index, 1), 2 * px + 1) - px;
    int oy = below(draw(seed, stream, step, index, 2), 2 * py + 1) - py;
    push(l, AM_AUG_CROP_REFLECT, (float)ox, (float)oy, 0.0f, 0.0f);
    if (draw(seed, stream, step, index, 0) >> 31) push(l, AM_AUG_FLIP_X, 0.0f, 0.0f, 0.0f, 0.0f);
}

void am_augment_sample_weak(am_aug_list *list, am_ra_variant variant, uint64_t seed, uint64_t step,
                            uint32_t index, int H, int W) {
    list->n = 0;
    sample_geometry(list, variant, AM_AUG_STREAM_WEAK, seed, step, index, H, W);
}

// USB: value = min + (max - min) u.
static void usb_op(am_aug_list *l, int op, double u) {
    switch (op) {
    case AM_AUG_COLOR: case AM_AUG_CONTRAST: case AM_AUG_BRIGHTNESS: case AM_AUG_SHARPNESS:
        push(l, op, (float)(0.05 + 0.9 * u), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_POSTERIZE: push(l, op, (float)(4 + (int)(4.0 * u)), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_ROTATE: push(l, op, (float)(-30.0 + 60.0 * u), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_SHEAR_X: case AM_AUG_SHEAR_Y: case AM_AUG_TRANSLATE_X: case AM_AUG_TRANSLATE_Y:
        push(l, op, (float)(-0.3 + 0.6 * u), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_SOLARIZE: push(l, op, (float)(256.0 * u), 0.0f, 0.0f, 0.0f); break;
    default: push(l, op, (float)u, 0.0f, 0.0f, 0.0f); break;
    }
}

// Official FixMatch: level L in 1..9, sign s = +-1.
static void fixmatch_op(am_aug_list *l, int op, int L, int s) {
    switch (op) {
    case AM_AUG_COLOR: case AM_AUG_CONTRAST: case AM_AUG_BRIGHTNESS: case AM_AUG_SHARPNESS:
        push(l, op, (float)(0.1 + 0.18 * L), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_POSTERIZE: push(l, op, (float)(4 - (4 * L) / 10), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_ROTATE: push(l, op, (float)(s * ((3 * L))), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_SHEAR_X: case AM_AUG_SHEAR_Y: push(l, op, (float)(s * 0.03 * L), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_SOLARIZE: push(l, op, (float)(256 - (256 * L) / 10), 0.0f, 0.0f, 0.0f); break;
    case AM_AUG_TRANSLATE_X: case AM_AUG_TRANSLATE_Y: push(l, op, 0.0f, (float)(s * L), 0.0f, 0.0f); break;
    default: push(l, op, (float)L, 0.0f, 0.0f, 0.0f); break;
    }
}

// The op pool of AM_RA_BANDS: the ops that act on each band alone.
static const int bands_pool[] = {AM_AUG_IDENTITY, AM_AUG_POSTERIZE, AM_AUG_ROTATE, AM_AUG_SHARPNESS, AM_AUG_SHEAR_X,
                                 AM_AUG_SHEAR_Y, AM_AUG_SOLARIZE, AM_AUG_TRANSLATE_X, AM_AUG_TRANSLATE_Y};
#define BANDS_POOL ((int)(sizeof bands_pool / sizeof bands_pool[0]))

void am_augment_sample_strong(am_aug_list *list, am_ra_variant variant, uint64_t seed,
                              uint64_t step, uint32_t index, int H, int W) {
    const uint32_t st = AM_AUG_STREAM_STRONG;
    list->n = 0;
    sample_geometry(list, variant, st, seed, step, index, H, W);
    int nops = variant == AM_RA_FIXMATCH ? 2 : 3;
    for (int j = 0; j < nops; j++) {
        uint32_t base = 4 + 4 * (uint32_t)j;
        int op = variant == AM_RA_BANDS ? bands_pool[below(draw(seed, st, step, index, base), BANDS_POOL)]
                                        : below(draw(seed, st, step, index, base), AM_AUG_NUM_RA);
        uint32_t wm = draw(seed, st, step, index, base + 1);
        if (variant == AM_RA_FIXMATCH) {
            int L = 1 + below(wm, 9);
            int s = (draw(seed, st, step, index, base + 2) >> 31) ? -1 : 1;
            if (draw(seed, st, step, index, base + 3) >> 31) fixmatch_op(list, op, L, s);
        } else {
            usb_op(list, op, (double)am_u01(wm));
        }
    }
    double us = (double)am_u01(draw(seed, st, step, index, 20));
    double ux = (double)am_u01(draw(seed, st, step, index, 21));
    double uy = (double)am_u01(draw(seed, st, step, index, 22));
    // numpy's uniform(W) is uniform(low=W, high=1): W + (1 - W) u, in (1, W].
    float cx = (float)((double)W + (1.0 - (double)W) * ux);
    float cy = (float)((double)H + (1.0 - (double)H) * uy);
    if (variant == AM_RA_FIXMATCH) push(list, AM_AUG_CUTOUT, 0.5f, cx, cy, 127.0f);
    else push(list, AM_AUG_CUTOUT, (float)(0.5 * us), cx, cy, variant == AM_RA_BANDS ? 128.0f : -1.0f);
}

// ---- rotation plan (host) -------------------------------------------------------

// Python's round(v, 15): the correctly rounded 15-decimal string, read back.
static double round15(double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.15f", v);
    return strtod(buf, NULL);
}

int am_aug_rotate_plan(double a[6], double angle, int W, int H) {
    if (!isfinite(angle)) return 0;
    double ang = fmod(angle, 360.0);  // Python's angle % 360.0
    if (ang != 0.0) {
        if (ang < 0.0) ang += 360.0;
    } else {
        ang = 0.0;
    }
    if (ang == 0.0) return 0;
    if (ang == 180.0) return 2;
    if ((ang == 90.0 || ang == 270.0) && W == H) return ang == 90.0 ? 1 : 3;
    static const double deg2rad = M_PI / 180.0;
    double r = -(ang * deg2rad);
    a[0] = round15(cos(r));
    a[1] = round15(sin(r));
    a[3] = round15(-sin(r));
    a[4] = round15(cos(r));
    double cx = (double)W / 2.0, cy = (double)H / 2.0;
    a[2] = a[0] * -cx + a[1] * -cy + 0.0;
    a[5] = a[3] * -cx + a[4] * -cy + 0.0;
    a[2] += cx;
    a[5] += cy;
    return 4;
}

// ---- ops on one image -------------------------------------------------------------

static void copy_px(uint8_t *d, const uint8_t *s, int C) {
    d[0] = s[0];
    if (C == 3) { d[1] = s[1]; d[2] = s[2]; }
}

// Row scratch: on the stack up to ROW_STACK bytes, else on the heap.
#define ROW_STACK 8192
static void *row_scratch(void *stack, size_t bytes) { return bytes <= ROW_STACK ? stack : AM_MALLOC(bytes); }
static void row_scratch_free(void *p, void *stack) { if (p != stack) free(p); }

// Per-channel histograms, even and odd pixels counted apart so that runs of
// equal values do not serialise on one counter.
static void histograms(uint32_t hist[3][256], const uint8_t *in, size_t npix, int C) {
    uint32_t h2[2][3][256];
    memset(h2, 0, sizeof h2);
    size_t i = 0;
    if (C == 1) {
        for (; i + 2 <= npix; i += 2) {
            h2[0][0][in[i]]++;
            h2[1][0][in[i + 1]]++;
        }
        for (; i < npix; i++) h2[0][0][in[i]]++;
    } else {
        for (; i + 2 <= npix; i += 2) {
            const uint8_t *p = in + 3 * i;
            h2[0][0][p[0]]++;
            h2[0][1][p[1]]++;
            h2[0][2][p[2]]++;
            h2[1][0][p[3]]++;
            h2[1][1][p[4]]++;
            h2[1][2][p[5]]++;
        }
        for (; i < npix; i++) {
            h2[0][0][in[3 * i]]++;
            h2[0][1][in[3 * i + 1]]++;
            h2[0][2][in[3 * i + 2]]++;
        }
    }
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) hist[c][v] = h2[0][c][v] + h2[1][c][v];
}

// Luma of a row of RGB pixels; rep: each value three times (the degenerate
// RGB image of Color).
static void luma_row(uint8_t *restrict l, const uint8_t *restrict p, int W) {
    for (int x = 0; x < W; x++) l[x] = am_aug_luma(p[3 * x], p[3 * x + 1], p[3 * x + 2]);
}

static void luma_row_rep(uint8_t *restrict l, const uint8_t *restrict p, int W) {
    for (int x = 0; x < W; x++) {
        uint8_t v = am_aug_luma(p[3 * x], p[3 * x + 1], p[3 * x + 2]);
        l[3 * x] = l[3 * x + 1] = l[3 * x + 2] = v;
    }
}

// Eight look-ups per 64-bit word (faster than the compiler's gathers).
static void map_lut(uint8_t *out, const uint8_t *in, size_t n, const uint8_t lut[256]) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v, r = 0;
        memcpy(&v, in + i, 8);
        for (int k = 0; k < 8; k++) r |= (uint64_t)lut[(v >> (8 * k)) & 255] << (8 * k);
        memcpy(out + i, &r, 8);
    }
    for (; i < n; i++) out[i] = lut[in[i]];
}

// Per-channel look-ups; RGB in blocks of 8 pixels = three 64-bit words.
static void map_luts(uint8_t *out, const uint8_t *in, size_t npix, int C, uint8_t lut[3][256]) {
    if (C == 1) {
        map_lut(out, in, npix, lut[0]);
        return;
    }
    size_t n = 3 * npix, i = 0;
    for (; i + 24 <= n; i += 24)
        for (int w = 0; w < 3; w++) {
            uint64_t v, r = 0;
            memcpy(&v, in + i + 8 * w, 8);
            for (int k = 0; k < 8; k++) r |= (uint64_t)lut[(8 * w + k) % 3][(v >> (8 * k)) & 255] << (8 * k);
            memcpy(out + i + 8 * w, &r, 8);
        }
    for (; i < n; i++) out[i] = lut[i % 3][in[i]];
}

static void op_autocontrast_equalize(uint8_t *out, const uint8_t *in, size_t npix, int C, int eq) {
    uint32_t hist[3][256];
    uint8_t lut[3][256];
    histograms(hist, in, npix, C);
    for (int c = 0; c < C; c++) {
        if (eq) am_aug_equalize_lut(lut[c], hist[c]);
        else am_aug_autocontrast_lut(lut[c], hist[c]);
    }
    map_luts(out, in, npix, C, lut);
}

// Blend with a constant degenerate level (Brightness: 0, Contrast: the mean).
static void op_blend_const(uint8_t *restrict out, const uint8_t *restrict in, size_t n, int level, float f) {
    uint8_t a = (uint8_t)level;
    if (fabsf(f) <= AM_AUG_BLEND_I_MAX) {
        for (size_t i = 0; i < n; i++) out[i] = am_aug_blend_i(a, in[i], f);
    } else {
        for (size_t i = 0; i < n; i++) out[i] = am_aug_blend(a, in[i], f);
    }
}

static void op_posterize(uint8_t *restrict out, const uint8_t *restrict in, size_t n, int bits) {
    for (size_t i = 0; i < n; i++) out[i] = am_aug_posterize(in[i], bits);
}

static void op_solarize(uint8_t *restrict out, const uint8_t *restrict in, size_t n, int level) {
    uint8_t tb = (uint8_t)level;
    for (size_t i = 0; i < n; i++) out[i] = in[i] < tb ? in[i] : (uint8_t)(255 - in[i]);
}

// out = blend(deg, img, f) over n bytes (vectorised by the compiler).
static void blend_row(uint8_t *restrict out, const uint8_t *restrict deg,
                      const uint8_t *restrict img, size_t n, float f) {
    if (fabsf(f) <= AM_AUG_BLEND_I_MAX) {
        for (size_t j = 0; j < n; j++) out[j] = am_aug_blend_i(deg[j], img[j], f);
    } else {
        for (size_t j = 0; j < n; j++) out[j] = am_aug_blend(deg[j], img[j], f);
    }
}

static void op_contrast(uint8_t *out, const uint8_t *in, int H, int W, int C, float f) {
    uint32_t hist[3][256];
    size_t npix = (size_t)H * W;
    if (C == 1) {
        histograms(hist, in, npix, 1);
    } else {
        uint8_t stack[ROW_STACK];
        uint8_t *l = row_scratch(stack, (size_t)W);
        uint32_t h2[2][256];
        memset(h2, 0, sizeof h2);
        for (int y = 0; y < H; y++) {
            luma_row(l, in + (size_t)W * 3 * y, W);
            int x = 0;
            for (; x + 2 <= W; x += 2) {
                h2[0][l[x]]++;
                h2[1][l[x + 1]]++;
            }
            if (x < W) h2[0][l[x]]++;
        }
        for (int v = 0; v < 256; v++) hist[0][v] = h2[0][v] + h2[1][v];
        row_scratch_free(l, stack);
    }
    op_blend_const(out, in, npix * (size_t)C, am_aug_contrast_mean(hist[0]), f);
}

static void op_color(uint8_t *out, const uint8_t *in, int H, int W, int C, float f) {
    size_t row = (size_t)W * C;
    if (C == 1) {
        memcpy(out, in, row * H);
        return;
    }
    uint8_t stack[ROW_STACK];
    uint8_t *deg = row_scratch(stack, row);
    for (int y = 0; y < H; y++) {
        luma_row_rep(deg, in + row * y, W);
        blend_row(out + row * y, deg, in + row * y, row, f);
    }
    row_scratch_free(deg, stack);
}

// SMOOTH of one row's interior bytes [s, n - s) through the integer form; s
// (the channel count) is a constant at each call so that the loop vectorises
// in 16-bit lanes (the sum is at most 13 * 255).
static inline void smooth_row(uint8_t *restrict deg, const uint8_t *restrict up,
                              const uint8_t *restrict mid, const uint8_t *restrict dn, size_t n, int s) {
    for (size_t j = (size_t)s; j < n - s; j++) {
        uint16_t sum = (uint16_t)(up[j - s] + up[j] + up[j + s] + mid[j - s] + 5 * mid[j] + mid[j + s] +
                                  dn[j - s] + dn[j] + dn[j + s]);
        deg[j] = (uint8_t)((uint16_t)(2 * sum + 13) / 26);
    }
}

// The degenerate image is SMOOTH inside and the image itself on the 1-pixel
// border (so the border is unchanged); smaller than 3x3: unchanged.
static void op_sharpness(uint8_t *out, const uint8_t *in, int H, int W, int C, float f) {
    size_t row = (size_t)W * C;
    if (H < 3 || W < 3) {
        memcpy(out, in, row * H);
        return;
    }
    memcpy(out, in, row);
    memcpy(out + row * (H - 1), in + row * (H - 1), row);
    uint8_t stack[ROW_STACK];
    uint8_t *deg = row_scratch(stack, row);
    for (int y = 1; y < H - 1; y++) {
        const uint8_t *mid = in + row * y, *up = mid - row, *dn = mid + row;
        for (int c = 0; c < C; c++) {
            deg[c] = mid[c];
            deg[row - C + c] = mid[row - C + c];
        }
        if (C == 3) smooth_row(deg, up, mid, dn, row, 3);
        else smooth_row(deg, up, mid, dn, row, 1);
        blend_row(out + row * y, deg, mid, row, f);
    }
    row_scratch_free(deg, stack);
}

// Pillow's ImagingTransformAffine, nearest, fill 0; a maps output pixel
// centres to input coordinates.
static void op_affine(uint8_t *out, const uint8_t *in, const double a[6], int H, int W, int C) {
    size_t row = (size_t)W * C;
    memset(out, 0, row * H);
    int path = am_aug_affine_path(a, W, H);
    if (path == AM_AFF_SCALE) {
        int stack[ROW_STACK / sizeof(int)];
        int *tab = row_scratch(stack, sizeof(int) * ((size_t)W + H)), *ytab = tab + W;
        am_aug_scale_table(tab, a[2], a[0], W);
        am_aug_scale_table(ytab, a[5], a[4], H);
        int xmin = 0, xmax = W;  // the valid columns are one run (a0 has one sign)
        while (xmin < W && tab[xmin] < 0) xmin++;
        while (xmax > xmin && tab[xmax - 1] < 0) xmax--;
        int contiguous = 1;  // tab[x] = tab[xmin] + (x - xmin): rows are memcpy
        for (int x = xmin; x < xmax && contiguous; x++) contiguous = tab[x] == tab[xmin] + (x - xmin);
        for (int y = 0; y < H; y++) {
            int yi = ytab[y];
            if (yi < 0 || xmin >= xmax) continue;
            const uint8_t *s = in + row * yi;
            uint8_t *o = out + row * y;
            if (contiguous) {
                memcpy(o + (size_t)xmin * C, s + (size_t)tab[xmin] * C, (size_t)(xmax - xmin) * C);
            } else {
                for (int x = xmin; x < xmax; x++)
                    if (tab[x] >= 0) copy_px(o + (size_t)x * C, s + (size_t)tab[x] * C, C);
            }
        }
        row_scratch_free(tab, stack);
    } else if (path == AM_AFF_FIXED) {
        int32_t f[6];
        am_aug_affine_fixed(f, a);
        for (int y = 0; y < H; y++) {
            int64_t A = (int64_t)f[2] + (int64_t)y * f[1], B = (int64_t)f[5] + (int64_t)y * f[4];
            int lo = 0, hi = W;
            am_aug_span(A, f[0], (int64_t)W << 16, &lo, &hi);
            am_aug_span(B, f[3], (int64_t)H << 16, &lo, &hi);
            uint8_t *o = out + row * y;
            // Inside [lo, hi) both 16.16 coordinates are in [0, size << 16).
            int64_t xx = A + (int64_t)lo * f[0], yy = B + (int64_t)lo * f[3];
            if (C == 3) {
                for (int x = lo; x < hi; x++, xx += f[0], yy += f[3]) {
                    const uint8_t *s = in + row * (size_t)(yy >> 16) + 3 * (size_t)(xx >> 16);
                    uint8_t *d = o + 3 * (size_t)x;
                    d[0] = s[0];
                    d[1] = s[1];
                    d[2] = s[2];
                }
            } else {
                for (int x = lo; x < hi; x++, xx += f[0], yy += f[3])
                    o[x] = in[row * (size_t)(yy >> 16) + (size_t)(xx >> 16)];
            }
        }
    } else {
        double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
        for (int y = 0; y < H; y++) {
            double xx = xo, yy = yo;
            uint8_t *o = out + row * y;
            for (int x = 0; x < W; x++, xx += a[0], yy += a[3]) {
                int u = am_aug_coord(xx);
                if (u < 0 || u >= W) continue;
                int v = am_aug_coord(yy);
                if (v < 0 || v >= H) continue;
                copy_px(o + (size_t)x * C, in + row * v + (size_t)u * C, C);
            }
            xo += a[1];
            yo += a[4];
        }
    }
}

// The exact transposes: kind 1, 2, 3 = 90, 180, 270 degrees.
static void op_transpose(uint8_t *out, const uint8_t *in, int kind, int H, int W, int C) {
    size_t row = (size_t)W * C;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx, sy;
            am_aug_rot_src(kind, x, y, W, H, &sx, &sy);
            copy_px(out + row * y + (size_t)x * C, in + row * sy + (size_t)sx * C, C);
        }
}

// Fills the inclusive rectangle i0..i3 with i4..i6 (out may be in).
static void op_cutout(uint8_t *out, const uint8_t *in, const int32_t *r, int H, int W, int C) {
    size_t row = (size_t)W * C;
    if (out != in) memcpy(out, in, row * H);
    uint8_t fill[3] = {(uint8_t)r[4], (uint8_t)r[5], (uint8_t)r[6]};
    for (int y = r[1]; y <= r[3]; y++)
        for (int x = r[0]; x <= r[2]; x++) copy_px(out + row * y + (size_t)x * C, fill, C);
}

// Reflect-pad translate by (ox, oy), then, when flip, mirror horizontally:
// out(x, y) = in(r(x' + ox), r(y + oy)) with x' = flip ? W-1-x : x.
static void op_crop_flip(uint8_t *out, const uint8_t *in, int ox, int oy, int flip, int H, int W, int C) {
    size_t row = (size_t)W * C;
    int stack[ROW_STACK / sizeof(int)];
    int *tab = row_scratch(stack, sizeof(int) * (size_t)W);
    for (int x = 0; x < W; x++) tab[x] = am_aug_reflect((flip ? W - 1 - x : x) + ox, W) * C;
    for (int y = 0; y < H; y++) {
        const uint8_t *s = in + row * am_aug_reflect(y + oy, H);
        uint8_t *o = out + row * y;
        if (C == 1) {
            for (int x = 0; x < W; x++) o[x] = s[tab[x]];
        } else {
            for (int x = 0; x < W; x++) {
                const uint8_t *p = s + tab[x];
                o[3 * x] = p[0];
                o[3 * x + 1] = p[1];
                o[3 * x + 2] = p[2];
            }
        }
    }
    row_scratch_free(tab, stack);
}

// ---- plans ------------------------------------------------------------------------

static am_aug_step *plan_push(am_aug_plan *p, int kind) {
    am_aug_step *s = &p->s[p->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return s;
}

static void plan_affine(am_aug_plan *p, double a0, double a1, double a2, double a3, double a4, double a5) {
    am_aug_step *s = plan_push(p, AM_AUGK_AFFINE);
    s->a[0] = a0; s->a[1] = a1; s->a[2] = a2;
    s->a[3] = a3; s->a[4] = a4; s->a[5] = a5;
}

void am_aug_plan_make(am_aug_plan *plan, const am_aug_list *list, int H, int W, int C) {
    AM_CHECK(list->n >= 0 && list->n <= AM_AUG_MAX_OPS, "bad augmentation op list");
    plan->n = 0;
    plan->pad_ = 0;
    for (int i = 0; i < list->n; i++) {
        const am_aug_op *o = &list->op[i];
        const float *m = o->m;
        AM_CHECK(o->op >= 0 && o->op < AM_AUG_NUM_OPS, "unknown augmentation op id");
        if (!isfinite(m[0]) || !isfinite(m[1]) || !isfinite(m[2]) || !isfinite(m[3])) continue;
        am_aug_step *s, *last = plan->n ? &plan->s[plan->n - 1] : NULL;
        switch (o->op) {
        case AM_AUG_AUTOCONTRAST: plan_push(plan, AM_AUGK_AUTOCONTRAST); break;
        case AM_AUG_EQUALIZE: plan_push(plan, AM_AUGK_EQUALIZE); break;
        case AM_AUG_CONTRAST: plan_push(plan, AM_AUGK_CONTRAST)->f = m[0]; break;
        case AM_AUG_BRIGHTNESS: plan_push(plan, AM_AUGK_BRIGHTNESS)->f = m[0]; break;
        case AM_AUG_COLOR: if (C == 3) plan_push(plan, AM_AUGK_COLOR)->f = m[0]; break;
        case AM_AUG_SHARPNESS: if (H >= 3 && W >= 3) plan_push(plan, AM_AUGK_SHARPNESS)->f = m[0]; break;
        case AM_AUG_SOLARIZE: {
            int level = am_aug_solarize_level(m[0]);
            if (level < 256) plan_push(plan, AM_AUGK_SOLARIZE)->i[0] = level;
            break;
        }
        case AM_AUG_POSTERIZE:
            plan_push(plan, AM_AUGK_POSTERIZE)->i[0] = (int)(m[0] < 1.0f ? 1.0f : m[0] > 8.0f ? 8.0f : m[0]);
            break;
        case AM_AUG_ROTATE: {
            double a[6];
            int kind = am_aug_rotate_plan(a, (double)m[0], W, H);
            if (kind == 4) plan_affine(plan, a[0], a[1], a[2], a[3], a[4], a[5]);
            else if (kind) plan_push(plan, AM_AUGK_TRANSPOSE)->i[0] = kind;
            break;
        }
        case AM_AUG_SHEAR_X: plan_affine(plan, 1.0, (double)m[0], 0.0, 0.0, 1.0, 0.0); break;
        case AM_AUG_SHEAR_Y: plan_affine(plan, 1.0, 0.0, 0.0, (double)m[0], 1.0, 0.0); break;
        case AM_AUG_TRANSLATE_X: plan_affine(plan, 1.0, 0.0, (double)m[0] * (double)W + (double)m[1], 0.0, 1.0, 0.0); break;
        case AM_AUG_TRANSLATE_Y: plan_affine(plan, 1.0, 0.0, 0.0, 0.0, 1.0, (double)m[0] * (double)H + (double)m[1]); break;
        case AM_AUG_CUTOUT: {
            int r[4];
            if (!am_aug_cutout_rect(m[0], m[1], m[2], W, H, &r[0], &r[1], &r[2], &r[3])) break;
            s = plan_push(plan, AM_AUGK_CUTOUT);
            memcpy(s->i, r, sizeof r);
            int fill[3] = {125, 123, 114};
            if (C == 1) fill[0] = am_aug_luma(125, 123, 114);
            if (m[3] >= 0.0f) fill[0] = fill[1] = fill[2] = (int)(m[3] > 255.0f ? 255.0f : m[3]);
            s->i[4] = fill[0]; s->i[5] = fill[1]; s->i[6] = fill[2];
            break;
        }
        case AM_AUG_CROP_REFLECT:
            if (m[0] == 0.0f && m[1] == 0.0f) break;
            s = plan_push(plan, AM_AUGK_CROP_FLIP);
            s->i[0] = (int)m[0];
            s->i[1] = (int)m[1];
            break;
        case AM_AUG_FLIP_X:
            if (last && last->kind == AM_AUGK_CROP_FLIP && !last->i[2]) last->i[2] = 1;
            else plan_push(plan, AM_AUGK_CROP_FLIP)->i[2] = 1;
            break;
        default: break;  // Identity
        }
    }
}

void am_augment_plan_step(am_aug_plan *plans, int B, int U, int H, int W, int C, am_ra_variant variant,
                          uint64_t seed, uint64_t step) {
    for (int j = 0; j < B + 2 * U; j++) {
        am_aug_list l;
        if (j < B + U) am_augment_sample_weak(&l, variant, seed, step, (uint32_t)j, H, W);
        else am_augment_sample_strong(&l, variant, seed, step, (uint32_t)(j - U), H, W);
        am_aug_plan_make(&plans[j], &l, H, W, C);
    }
}

static void apply_step(uint8_t *out, const uint8_t *in, const am_aug_step *s, int H, int W, int C) {
    size_t npix = (size_t)H * W, n = npix * C;
    switch (s->kind) {
    case AM_AUGK_AUTOCONTRAST: op_autocontrast_equalize(out, in, npix, C, 0); break;
    case AM_AUGK_EQUALIZE: op_autocontrast_equalize(out, in, npix, C, 1); break;
    case AM_AUGK_CONTRAST: op_contrast(out, in, H, W, C, s->f); break;
    case AM_AUGK_BRIGHTNESS: op_blend_const(out, in, n, 0, s->f); break;
    case AM_AUGK_COLOR: op_color(out, in, H, W, C, s->f); break;
    case AM_AUGK_SHARPNESS: op_sharpness(out, in, H, W, C, s->f); break;
    case AM_AUGK_SOLARIZE: op_solarize(out, in, n, s->i[0]); break;
    case AM_AUGK_POSTERIZE: op_posterize(out, in, n, s->i[0]); break;
    case AM_AUGK_AFFINE: op_affine(out, in, s->a, H, W, C); break;
    case AM_AUGK_TRANSPOSE: op_transpose(out, in, s->i[0], H, W, C); break;
    case AM_AUGK_CUTOUT: op_cutout(out, in, s->i, H, W, C); break;
    case AM_AUGK_CROP_FLIP: op_crop_flip(out, in, s->i[0], s->i[1], s->i[2], H, W, C); break;
    default: am_fatal(__FILE__, __LINE__, "apply_step", "unknown augmentation step kind");
    }
}

void am_augment_apply(uint8_t *out, uint8_t *work, const uint8_t *in, const am_aug_list *list,
                      int H, int W, int C) {
    am_aug_plan plan;
    am_aug_plan_make(&plan, list, H, W, C);
    am_augment_apply_plan(out, work, in, &plan, H, W, C);
}

// Bands: each band taken out as an L image, the plan applied, put back.
static void apply_bands(uint8_t *out, const uint8_t *in, const am_aug_plan *pl, int H, int W, int C) {
    size_t npix = (size_t)H * W;
    uint8_t *band = AM_MALLOC(3 * npix), *res = band + npix, *work = res + npix;
    for (int c = 0; c < C; c++) {
        for (size_t i = 0; i < npix; i++) band[i] = in[i * C + c];
        am_augment_apply_plan(res, work, band, pl, H, W, 1);
        for (size_t i = 0; i < npix; i++) out[i * C + c] = res[i];
    }
    free(band);
}

void am_augment_apply_plan(uint8_t *out, uint8_t *work, const uint8_t *in, const am_aug_plan *pl,
                           int H, int W, int C) {
    AM_CHECK(C >= 1 && C <= 16, "augmentation takes 1..16 channels");
    if (C != 1 && C != 3) {
        apply_bands(out, in, pl, H, W, C);
        return;
    }
    AM_CHECK(H > 0 && W > 0 && pl->n >= 0 && pl->n <= AM_AUG_MAX_OPS, "bad image size or plan");
    size_t n = (size_t)H * W * C;
    const am_aug_plan plan = *pl;
    if (plan.n == 0) {
        memcpy(out, in, n);
        return;
    }
    // A Cutout after another step works in place; every other step moves
    // the image to a new buffer.
    int moves = 0;
    for (int j = 0; j < plan.n; j++) moves += !(plan.s[j].kind == AM_AUGK_CUTOUT && j > 0);
    uint8_t *own = NULL;
    if (moves > 1 && !work) work = own = AM_MALLOC(n);
    // Ping-pong so that the last move writes out: a move writes out when the
    // number of moves after it is even.
    const uint8_t *src = in;
    uint8_t *cur = NULL;
    for (int j = 0; j < plan.n; j++) {
        if (plan.s[j].kind == AM_AUGK_CUTOUT && j > 0) {
            op_cutout(cur, cur, plan.s[j].i, H, W, C);
            continue;
        }
        uint8_t *dst = ((--moves) & 1) ? work : out;
        apply_step(dst, src, &plan.s[j], H, W, C);
        src = cur = dst;
    }
    free(own);
}

void am_augment_batch(uint8_t *out, const uint8_t *in, const am_aug_list *lists,
                      int N, int H, int W, int C) {
    size_t n = (size_t)H * W * C;
    #pragma omp parallel
    {
        uint8_t *work = AM_MALLOC(n);
        #pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < N; i++) am_augment_apply(out + n * i, work, in + n * i, &lists[i], H, W, C);
        free(work);
    }
}

// Float outputs beyond this many bytes are written with streaming stores
// (they do not fit in the cache anyway, and skip the read-for-ownership).
#define STREAM_BYTES ((size_t)16 << 20)

// The uint8 -> float model input of n bytes (one image or chunk, one
// thread); stream: non-temporal stores where the CPU has them (the caller
// ends with am_stream_fence before other threads read x).
static void to_input(float *restrict x, const uint8_t *restrict img, size_t n, int stream) {
    size_t i = 0;
#ifdef __AVX2__
    if (stream) {
        for (; i < n && ((uintptr_t)(x + i) & 31); i++) x[i] = (float)img[i] / 255.0f;
        const __m256 d = _mm256_set1_ps(255.0f);
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(img + i))));
            _mm256_stream_ps(x + i, _mm256_div_ps(v, d));  // IEEE division: the same values
        }
    }
#else
    (void)stream;
#endif
    for (; i < n; i++) x[i] = (float)img[i] / 255.0f;
}

static void stream_fence(void) {
#ifdef __AVX2__
    _mm_sfence();
#endif
}

// Samples and applies each image's list; x, when given, gets the model input
// while the image is still in cache; out may be NULL (a per-thread buffer).
static void sample_and_apply(float *x, uint8_t *out, am_aug_list *lists, const uint8_t *in, int N,
                             int H, int W, int C, int strong, am_ra_variant variant, uint64_t seed,
                             uint64_t step, uint32_t index0) {
    size_t n = (size_t)H * W * C;
    int stream = n * sizeof(float) * (size_t)N > STREAM_BYTES;
    #pragma omp parallel
    {
        uint8_t *work = AM_MALLOC(n), *img = out ? NULL : AM_MALLOC(n);
        #pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < N; i++) {
            am_aug_list l;
            if (strong) am_augment_sample_strong(&l, variant, seed, step, index0 + (uint32_t)i, H, W);
            else am_augment_sample_weak(&l, variant, seed, step, index0 + (uint32_t)i, H, W);
            if (lists) lists[i] = l;
            uint8_t *o = out ? out + n * i : img;
            am_augment_apply(o, work, in + n * i, &l, H, W, C);
            if (x) to_input(x + n * i, o, n, stream);
        }
        if (x && stream) stream_fence();
        free(work);
        free(img);
    }
}

void am_augment_weak_batch(uint8_t *out, am_aug_list *lists, const uint8_t *in,
                           int N, int H, int W, int C, am_ra_variant variant, uint64_t seed,
                           uint64_t step, uint32_t index0) {
    sample_and_apply(NULL, out, lists, in, N, H, W, C, 0, variant, seed, step, index0);
}

void am_augment_strong_batch(uint8_t *out, am_aug_list *lists, const uint8_t *in,
                             int N, int H, int W, int C, am_ra_variant variant,
                             uint64_t seed, uint64_t step, uint32_t index0) {
    sample_and_apply(NULL, out, lists, in, N, H, W, C, 1, variant, seed, step, index0);
}

void am_augment_weak_input(float *x, uint8_t *out, am_aug_list *lists, const uint8_t *in,
                           int N, int H, int W, int C, am_ra_variant variant, uint64_t seed,
                           uint64_t step, uint32_t index0) {
    sample_and_apply(x, out, lists, in, N, H, W, C, 0, variant, seed, step, index0);
}

void am_augment_strong_input(float *x, uint8_t *out, am_aug_list *lists, const uint8_t *in,
                             int N, int H, int W, int C, am_ra_variant variant,
                             uint64_t seed, uint64_t step, uint32_t index0) {
    sample_and_apply(x, out, lists, in, N, H, W, C, 1, variant, seed, step, index0);
}

void am_augment_to_input(float *x, const uint8_t *img, size_t n) {
    const size_t chunk = 65536;
    ptrdiff_t nchunks = (ptrdiff_t)((n + chunk - 1) / chunk);
    int stream = n * sizeof(float) > STREAM_BYTES;
    #pragma omp parallel
    {
        #pragma omp for schedule(static)
        for (ptrdiff_t k = 0; k < nchunks; k++) {
            size_t i = (size_t)k * chunk, m = n - i < chunk ? n - i : chunk;
            to_input(x + i, img + i, m, stream);
        }
        if (stream) stream_fence();
    }
}
