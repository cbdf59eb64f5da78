// The inputs module: one way from an image file (PNG, JPEG, FITS, TIFF) to
// the uint8 (size, size, channels) image the model and the augmentations
// see, for every program. The preprocessing that says how travels in the
// model's weight file, so that scoring applies what training did.
//
// Two paths, as the Python tool (v1.3 and later, through fitsbolt):
//   stretch none   the image converted to 8 bits at its own size (8-bit as
//                  it is, 16-bit / 65535, other types min-max), its bands
//                  combined, then resized with Pillow's bilinear (PNG and
//                  JPEG take this path as before: byte-exact with Pillow).
//   other stretch  the float image resized as OpenCV does (area when it
//                  shrinks, linear when it grows), its bands combined, then
//                  stretched to 8 bits (include/am/stretch.h).
// NaN and +-Inf pixels become 0 before the stretch, after the resize and
// the combination (which spread them to the pixels and channels they touch).
//
// Bands. A file gives N input channels: a PNG or JPEG 1 or 3, a FITS cube
// its planes, a list of FITS HDUs (--fits-ext 1,2,3) one each, a TIFF its
// samples times its pages. The model takes C channels (1 gray, 3 RGB, or
// any count up to 16: bands, augmented band by band). Unless a
// combination matrix is given (C rows of N weights, `combine`), N = C is
// taken as it is, N = 1 is repeated C times, 4 -> 3 drops the fourth
// (fitsbolt's defaults); other pairs need the matrix. A row whose weights
// sum to more than 1 is divided by its sum (the Python tool's rule).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/stretch.h"

#define AM_MAX_BANDS 16
// The preprocessing text's longest form (a 16 x 16 combination included).
#define AM_PREPROCESS_TEXT 8192

typedef struct {
    int size, channels;             // size x size pixels, channels C (1 gray, 3 RGB, or up to 16 bands)
    am_stretch stretch;
    char fits_ext[64];              // FITS HDU(s) (include/am/fits.h); "" = the first image
    char band_names[256];           // an object in one file per band: the names put for "{band}" ("g,r,i")
    char format[16];                // the files the model was trained on: "png/jpeg", "fits", "tiff"; "" = any
    int bands;                      // N of the combination matrix; 0 = none given
    float combine[AM_MAX_BANDS * AM_MAX_BANDS]; // C x N, row-major
} am_preprocess;

void am_preprocess_defaults(am_preprocess *p, int size, int channels);
// 0, or -1 (am_error()) for a value out of range.
int am_preprocess_check(const am_preprocess *p);
// The combination matrix from text: rows separated by ';', weights by ','
// ("1,0;0.5,0.5;0,1": 3 channels from 2 bands). Its rows must number p->channels.
int am_combine_parse(am_preprocess *p, const char *text);
// The matrix as that text ("" when none).
void am_combine_format(const am_preprocess *p, char *buf, size_t n);

// The preprocessing as `key = value` lines (the weight file's `preprocess`
// entry), and back. A key this am does not know is an error (a newer am
// wrote it); keys that are absent keep their defaults (an older am wrote it).
void am_preprocess_text(const am_preprocess *p, char *buf, size_t n);
int am_preprocess_parse(am_preprocess *p, const char *text, const char *name);
// The first key whose values differ, written as "key: A vs B" into what (0
// when none differs); 1 when one differs, else 0.
int am_preprocess_diff(const am_preprocess *a, const am_preprocess *b, char *what, size_t n);

// Reads the image at path (by content: PNG, JPEG, FITS, TIFF) into dst
// (size, size, channels). A path ending in "[EXT]" names FITS HDUs as
// fits_ext does. A path holding "{band}" is an object stored one file per
// band: each name of band_names is put there in turn and the files'
// channels are stacked in that order. 0, or -1 with am_error() naming the file.
int am_input_load(uint8_t *dst, const char *path, const am_preprocess *p);
// The format family of the file at path ("png/jpeg", "fits", "tiff"; for a
// "{band}" path its first band's file), into out[16]: 0, or -1 (am_error())
// when it cannot be read. A file of another family than p->format (when
// set) is refused by the loaders, naming both.
int am_input_format(const char *path, const am_preprocess *p, char *out);
// The same for the n bytes of a file in memory, named `name` in messages.
int am_input_load_memory(uint8_t *dst, const void *data, size_t n, const char *name, const am_preprocess *p);
// The same from decoded pixels: px (h, w, bands) float32 of sample type t
// (a dense HDF5 element, say), named `name` in messages. px is freed.
int am_input_pixels(uint8_t *dst, float *px, int w, int h, int bands, am_sample_type t, const char *name,
                    const am_preprocess *p);
// The image at path for a person to look at: at its own size (scaled down
// to fit max_side x max_side, never up) through the same conversion,
// combination and stretch, p->channels channels. malloc'd (*h, *w,
// channels), or NULL (am_error() naming the file). A path or "{band}"
// object only, not an ARCHIVE#K member.
uint8_t *am_input_view(const char *path, const am_preprocess *p, int max_side, int *w, int *h);
