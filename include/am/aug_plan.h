// An augmentation in kernel form: the plan of one image (include/am/augment.h
// makes plans; the CPU and the CUDA kernels apply them). Plain types only, so
// that kernels/ may include it.
#pragma once
#include <stdint.h>

#define AM_AUG_MAX_OPS 8

// An op list resolved for one image size (am_aug_plan_make): identity, no-op
// and non-finite ops dropped, a flip right after a reflect-pad translate
// merged into it, Rotate / Shear / Translate turned into an affine map or an
// exact transpose, Cutout into its rectangle and fill. Both the CPU
// (am_augment_apply) and the CUDA kernel (cu_augment_batch) run plans, so
// they apply the same steps with the same parameters.
typedef enum {
    AM_AUGK_AUTOCONTRAST = 0,  // per-channel look-up from the histogram
    AM_AUGK_EQUALIZE,
    AM_AUGK_CONTRAST,          // f: blend with the luma mean
    AM_AUGK_BRIGHTNESS,        // f: blend with 0
    AM_AUGK_COLOR,             // f: blend with the luma (RGB only)
    AM_AUGK_SHARPNESS,         // f: blend with SMOOTH inside a 1-pixel border (H, W >= 3)
    AM_AUGK_SOLARIZE,          // i0: level (0..255); v < i0 ? v : 255 - v
    AM_AUGK_POSTERIZE,         // i0: bits 1..8
    AM_AUGK_AFFINE,            // a: output pixel centre -> input (Pillow's nearest affine)
    AM_AUGK_TRANSPOSE,         // i0: 1, 2, 3 = rotate 90, 180, 270 degrees exactly
    AM_AUGK_CUTOUT,            // i0..i3: x0, y0, x1, y1 inclusive; i4..i6: fill per channel
    AM_AUGK_CROP_FLIP,         // i0, i1: reflect offsets; i2: 1 = then flip horizontally
    AM_AUGK_NUM
} am_aug_kind;

typedef struct {
    double a[6];
    int32_t kind;  // am_aug_kind
    int32_t i[7];
    float f;
    int32_t pad_;
} am_aug_step;

typedef struct {
    int32_t n, pad_;
    am_aug_step s[AM_AUG_MAX_OPS];
} am_aug_plan;
