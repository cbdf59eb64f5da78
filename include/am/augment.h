// Data augmentation on uint8 images (H,W,C), NHWC for batches; C = 1 or 3
// are Pillow's L and RGB images, any other C (bands, up to 16) is augmented
// band by band as L images with one op list (the geometry alike on all):
// the weak view (reflect-pad translate + horizontal flip), RandAugment (the
// USB/AnomalyMatch variant by default, the official FixMatch one selectable)
// and Cutout, pixel-exact to Pillow 13 (SPEC §4; the per-pixel maths is in
// kernels/augment_math.h, shared with the CUDA kernels).
//
// An image's augmentation is an op list (am_aug_list): drawn by a sampler
// from the Philox stream keyed by (seed, step, image index), then applied by
// am_augment_apply. Sampling and applying are separate so that the same list
// can be applied on the CPU or the GPU and gives the same bytes.
//
// Randomness. Every draw is the Philox word am_rand_u32(seed, stream, step,
// index * AM_AUG_WORDS + k) with
//   stream AM_AUG_STREAM_WEAK   (0xA0): the weak view's flip and offsets,
//   stream AM_AUG_STREAM_STRONG (0xA1): the strong view's own flip and
//          offsets, its RandAugment ops and its Cutout,
// and k the draw's slot (below), so a batch is the same whatever the thread
// count, the device or the order in which images are processed. An index
// addresses one image of a step (images < 2^32 / AM_AUG_WORDS per step).
// Slots: 0 flip, 1 x offset, 2 y offset; RandAugment op j (0..3): 4+4j op
// choice, 5+4j magnitude (or level), 6+4j sign, 7+4j apply; 20, 21, 22 the
// Cutout side, x centre, y centre.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/aug_plan.h"

#define AM_AUG_STREAM_WEAK   0xA0u
#define AM_AUG_STREAM_STRONG 0xA1u
#define AM_AUG_WORDS         32u

// Op ids. The first AM_AUG_NUM_RA are RandAugment's pool, in this order.
// Parameters (m[]) are those of the Pillow call that the op reproduces:
typedef enum {
    AM_AUG_IDENTITY = 0,    // -
    AM_AUG_AUTOCONTRAST,    // - (ImageOps.autocontrast, no cutoff, per channel)
    AM_AUG_EQUALIZE,        // - (ImageOps.equalize, per channel)
    AM_AUG_ROTATE,          // m0 degrees counter-clockwise (Image.rotate, nearest, black, no expand)
    AM_AUG_SOLARIZE,        // m0 threshold: v < m0 ? v : 255 - v
    AM_AUG_COLOR,           // m0 factor (ImageEnhance.Color; identity on gray images)
    AM_AUG_CONTRAST,        // m0 factor (ImageEnhance.Contrast)
    AM_AUG_BRIGHTNESS,      // m0 factor (ImageEnhance.Brightness)
    AM_AUG_SHARPNESS,       // m0 factor (ImageEnhance.Sharpness)
    AM_AUG_SHEAR_X,         // m0 shear: affine (1, m0, 0, 0, 1, 0)
    AM_AUG_SHEAR_Y,         // m0 shear: affine (1, 0, 0, m0, 1, 0)
    AM_AUG_TRANSLATE_X,     // t = m0 * W + m1 pixels: affine (1, 0, t, 0, 1, 0)
    AM_AUG_TRANSLATE_Y,     // t = m0 * H + m1 pixels: affine (1, 0, 0, 0, 1, t)
    AM_AUG_POSTERIZE,       // m0 bits, int(m0) clamped to 1..8
    AM_AUG_NUM_RA,
    // Cutout as USB's CutoutAbs: v = m0 * W pixels (nothing when v <= 0),
    // x0 = int(max(0, m1 - v/2)), y0 = int(max(0, m2 - v/2)), x1 = min(W, x0 + v),
    // y1 = min(H, y0 + v); Pillow's rectangle [x0, int x1] x [y0, int y1],
    // both ends inclusive, clipped. Fill: m3 >= 0 -> grey m3 in every channel;
    // m3 < 0 -> (125, 123, 114) on RGB, its luma 123 on gray images (Pillow
    // refuses an RGB colour on a gray image; this is what converting the RGB
    // result to gray gives).
    AM_AUG_CUTOUT = AM_AUG_NUM_RA,
    // Weak-view translate: out(x, y) = in(r(x + m0), r(y + m1)), r the
    // reflection without edge repeat (np.pad mode='reflect'), m0, m1 integers.
    AM_AUG_CROP_REFLECT,
    AM_AUG_FLIP_X,          // out(x, y) = in(W-1-x, y)
    AM_AUG_NUM_OPS
} am_aug_op_id;

typedef struct {
    int32_t op;  // am_aug_op_id
    float m[4];
} am_aug_op;

typedef struct {
    int32_t n;
    am_aug_op op[AM_AUG_MAX_OPS];
} am_aug_list;

// RandAugment variants (SPEC §4).
typedef enum {
    // USB / TorchSSL / AnomalyMatch: 3 ops from the pool with replacement,
    // each always applied with a magnitude uniform in its range (factors
    // [0.05, 0.95], Posterize 4..7 bits, Rotate [-30, 30], Shear and
    // Translate [-0.3, 0.3] (of the width or height), Solarize [0, 256));
    // then Cutout with side U[0, 0.5) * W and centre numpy's uniform(W)
    // quirk (1, W], fill (125, 123, 114).
    AM_RA_USB = 0,
    // Official FixMatch: 2 ops with replacement, each applied with p 0.5 at
    // level L in 1..9: factors 0.1 + 0.18 L, Posterize 4 - int(0.4 L) bits,
    // Rotate +-int(3 L), Shear +-0.03 L, Solarize 256 - int(25.6 L),
    // Translate +-L pixels (random signs); then Cutout with side W/2 (16 at
    // 32 px), centre as above, fill grey 127.
    AM_RA_FIXMATCH = 1,
    // Bands (images of 2 or more than 3 channels), the Python tool v1.3's
    // multispectral RandAugment: as AM_RA_USB but drawing from the ops that
    // act on each band alone (Identity, Posterize, Rotate, Sharpness, ShearX,
    // ShearY, Solarize, TranslateX, TranslateY: AutoContrast, Equalize,
    // Brightness, Color and Contrast are left out), Cutout filled with grey 128.
    AM_RA_BANDS = 2,
    // The Python tool v1.0 as shipped: AM_RA_USB's strong ops and Cutout,
    // but its own weak view (torchvision's RandomHorizontalFlip then
    // RandomAffine(0, translate=(0, 0.125))): a horizontal flip with p 0.5,
    // then a vertical-only shift by round(U(-H/8, H/8)) pixels with zero
    // fill, where the others shift on both axes with reflect padding.
    AM_RA_ANOMALYMATCH = 3,
} am_ra_variant;

const char *am_aug_op_name(int op);

// The weak view of image `index`: reflect-pad translate with offsets
// uniform in [-W/8, W/8] x [-H/8, H/8] (integers; W/8 = int(0.125 W) as
// torchvision's RandomCrop(padding=int(size * 0.125), padding_mode='reflect')),
// then a horizontal flip with p 0.5 (torchvision's order); for
// AM_RA_ANOMALYMATCH the flip, then the vertical zero-fill shift.
void am_augment_sample_weak(am_aug_list *list, am_ra_variant variant, uint64_t seed, uint64_t step,
                            uint32_t index, int H, int W);
// The strong view: the weak view's two ops drawn from the strong stream, then
// RandAugment of `variant`, then Cutout.
void am_augment_sample_strong(am_aug_list *list, am_ra_variant variant, uint64_t seed,
                              uint64_t step, uint32_t index, int H, int W);

// Applies `list` to one image: in (H,W,C) -> out (H,W,C); C other than 1
// and 3: each band as an L image. work is scratch of H*W*C bytes (NULL:
// allocated here when needed). out, work and in must not
// overlap. Identity, zero translations and ops with a non-finite parameter
// are skipped; an unknown op id is a fatal error.
void am_augment_apply(uint8_t *out, uint8_t *work, const uint8_t *in, const am_aug_list *list,
                      int H, int W, int C);
// The same over a batch: in (N,H,W,C) -> out (N,H,W,C), image n with lists[n];
// OpenMP over images, one scratch buffer per thread.
void am_augment_batch(uint8_t *out, const uint8_t *in, const am_aug_list *lists,
                      int N, int H, int W, int C);
// Samples and applies the weak / strong views of images index0 .. index0+N-1;
// lists (N) may be NULL, else receives the op lists used.
void am_augment_weak_batch(uint8_t *out, am_aug_list *lists, const uint8_t *in,
                           int N, int H, int W, int C, am_ra_variant variant, uint64_t seed,
                           uint64_t step, uint32_t index0);
void am_augment_strong_batch(uint8_t *out, am_aug_list *lists, const uint8_t *in,
                             int N, int H, int W, int C, am_ra_variant variant,
                             uint64_t seed, uint64_t step, uint32_t index0);

// The same, also writing the model input x (N,H,W,C) = view / 255 (as
// am_augment_to_input) while each view is still in cache; out may be NULL
// when only x is wanted.
void am_augment_weak_input(float *x, uint8_t *out, am_aug_list *lists, const uint8_t *in,
                           int N, int H, int W, int C, am_ra_variant variant, uint64_t seed,
                           uint64_t step, uint32_t index0);
void am_augment_strong_input(float *x, uint8_t *out, am_aug_list *lists, const uint8_t *in,
                             int N, int H, int W, int C, am_ra_variant variant,
                             uint64_t seed, uint64_t step, uint32_t index0);

// The model input: x[i] = img[i] / 255 (float32 division, as torchvision's
// ToTensor; AnomalyMatch v1.0 has no mean/std normalisation). img and x are
// (N,H,W,C); n = N*H*W*C.
void am_augment_to_input(float *x, const uint8_t *img, size_t n);

// Resolves `list` for an H x W image with C channels. Host only (Rotate's
// matrix goes through the decimal rounding of am_aug_rotate_plan).
void am_aug_plan_make(am_aug_plan *plan, const am_aug_list *list, int H, int W, int C);
// The plans of a FixMatch step's B + 2U views: the weak views of images
// 0 .. B+U-1 (labelled, then pool), then the strong views of the pool images
// B .. B+U-1, drawn with the image indices am_augment_weak_input (index0 0)
// and am_augment_strong_input (index0 B) use, so that applying them gives the
// same bytes as those.
void am_augment_plan_step(am_aug_plan *plans, int B, int U, int H, int W, int C, am_ra_variant variant,
                          uint64_t seed, uint64_t step);
// am_augment_apply for a plan made for this image size.
void am_augment_apply_plan(uint8_t *out, uint8_t *work, const uint8_t *in, const am_aug_plan *plan,
                           int H, int W, int C);

// Pillow's Image.rotate(angle) resolved for a W x H image: returns 0 (copy),
// 1, 2, 3 (exact transposes by 90, 180, 270 degrees) or 4 (the affine a[6],
// destination -> source, with Pillow's matrix rounded to 15 decimals and
// centre (W/2, H/2)). Host only: it rounds through the decimal printer.
int am_aug_rotate_plan(double a[6], double angle, int W, int H);
