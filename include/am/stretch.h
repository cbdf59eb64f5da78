// Stretches: float pixel data (FITS, TIFF, dense HDF5) to the 8-bit image
// the model and the augmentations see, with the Python tool's names,
// defaults and rules (its loader, fitsbolt 0.3: normalisation after the
// resize and the channel combination; NaN and +-Inf become 0 first):
//
//   none        conversion only: 8-bit data as it is; 16-bit v / 65535;
//               any other type min-max over the image (fitsbolt CONVERSION_ONLY)
//   linear      min-max over the image (LINEAR)
//   percentile  linear between the percentile limits of `clip` (below; am's)
//   log         clip to [0, max], log(a x + 1) / log(a + 1) on x / max (LOG, a = 1000)
//   asinh       clip to the percentile limits of `clip` (99.8: the 0.1st and
//               99.9th), asinh(x / scale) / asinh(1 / scale) (ASINH, scale 0.7)
//   zscale      linear between IRAF's zscale limits (astropy's ZScaleInterval:
//               1000 samples, contrast 0.25, max reject 0.5, min pixels 5,
//               krej 2.5, 5 iterations)
//
// Every stretch is colour-safe: one set of limits for all channels (the
// percentile limits are the lowest and highest of the per-channel ones, as
// fitsbolt with one scale and one clip). A percentile is an order statistic,
// the k-th smallest with k = int(p / 100 (n - 1)) (fitsbolt's partition, no
// interpolation), over a strided sample of a channel's pixels when it has
// more than clip_samples: every step-th in row order, step = n / clip_samples
// raised until it shares no factor with the width when C > 1 (fitsbolt's
// subsample; it sees one channel as rows of length 1; the Python tool sets 2000). Values in [0, 1] become rint(255 v) (skimage's img_as_ubyte,
// ties to even). An image the stretch cannot spread (constant, or all
// clipped to one value) falls back to conversion only, as fitsbolt does.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum {
    AM_STRETCH_NONE = 0,
    AM_STRETCH_LINEAR,
    AM_STRETCH_PERCENTILE,
    AM_STRETCH_LOG,
    AM_STRETCH_ASINH,
    AM_STRETCH_ZSCALE,
    AM_STRETCH_COUNT
} am_stretch_kind;

typedef struct {
    int kind;                     // am_stretch_kind
    float asinh_scale;            // asinh: 0.7
    float clip;                   // asinh, percentile: central percentage kept, 99.8
    int clip_samples;             // percentiles from about this many pixels per channel, 2000 (0: all)
    float log_a;                  // log: 1000
    int zs_samples;               // zscale: 1000
    float zs_contrast;            // 0.25
    float zs_max_reject;          // 0.5
    int zs_min_npixels;           // 5
    float zs_krej;                // 2.5
    int zs_max_iter;              // 5
} am_stretch;

// The sample type the pixels came in: conversion only depends on it.
typedef enum { AM_SAMPLE_U8 = 0, AM_SAMPLE_U16, AM_SAMPLE_INT, AM_SAMPLE_FLOAT } am_sample_type;

void am_stretch_defaults(am_stretch *s);
const char *am_stretch_name(int kind);
// The kind named `name`, or -1 (am_error() lists the names).
int am_stretch_parse(const char *name);
// 0, or -1 (am_error()) for a parameter out of its range.
int am_stretch_check(const am_stretch *s);

// x (h, w, C) -> dst (h, w, C). x is overwritten (NaN and Inf set to 0,
// then clipped and scaled in place).
void am_stretch_apply(uint8_t *dst, float *x, int w, int h, int C, const am_stretch *s, am_sample_type type);

// astropy's ZScaleInterval.get_limits over the n finite values v (in the
// order given): the stride sample, its sorted line fit with k-sigma rejection.
void am_zscale_limits(const float *v, size_t n, const am_stretch *s, double *vmin, double *vmax);
// The percentile limits of channel c of x (h, w, C): the order statistics
// k1 = int(lo (m - 1)), k2 = int(hi (m - 1)) of its m sampled pixels,
// lo = (100 - clip) / 200, hi = 1 - lo.
void am_percentile_limits(const float *x, int w, int h, int C, int c, const am_stretch *s, double *vmin,
                          double *vmax);
