// Image files to uint8 pixels, and Pillow-exact resizing.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Larger images (16384 x 16384) are refused by the decoders with an error:
// a corrupt or hostile header cannot make the run exit on a failed allocation.
#define AM_IMAGE_MAX_PIXELS ((uint64_t)1 << 28)

// Reads a PNG (8/16-bit, gray/RGB/alpha/palette) as `channels` (1 or 3)
// interleaved uint8 channels; gray is replicated to RGB, alpha is dropped,
// 16-bit samples are scaled to 8 bits. Returns a malloc'd buffer (H,W,channels)
// or NULL with am_error() set.
uint8_t *am_png_read(const char *path, int channels, int *w, int *h);
// The same from an open stream (a file, or bytes through fmemopen), named
// `name` in messages; the stream is left open. *channels: 1 or 3 as above,
// or 0 for the file's own (1 for a gray file, else 3), which it is set to.
uint8_t *am_png_read_stream(FILE *f, const char *name, int *channels, int *w, int *h);

// Reads a JPEG (baseline/progressive, gray/RGB/CMYK-free) through libjpeg-turbo,
// same contract as am_png_read.
uint8_t *am_jpeg_read(const char *path, int channels, int *w, int *h);
uint8_t *am_jpeg_read_stream(FILE *f, const char *name, int *channels, int *w, int *h);

// Writes w x h pixels, `channels` (1 gray, 3 RGB) interleaved uint8, rows
// top first, as a baseline JPEG of quality 1..100 (libjpeg's 4:2:0 default
// for RGB). 0, or -1 with am_error() naming the path (no file is left).
int am_jpeg_write(const char *path, const uint8_t *pixels, int w, int h, int channels, int quality);

// Decodes by content (PNG or JPEG signature), whatever the file name says.
uint8_t *am_image_read(const char *path, int channels, int *w, int *h);
// The same for the n bytes of an encoded file in memory (a tar member, an
// HDF5 element), named `name` in messages.
uint8_t *am_image_decode(const void *data, size_t n, const char *name, int channels, int *w, int *h);
// The same with the file's own channels (*channels: 1 for a gray file, else 3).
uint8_t *am_image_decode_own(const void *data, size_t n, const char *name, int *channels, int *w, int *h);

// Antialiased bilinear resize, byte-exact with Pillow's Image.resize(...,
// BILINEAR) on 8-bit images: separable, horizontal pass first (rounded to
// uint8), coefficients in 22-bit fixed point. src (sh,sw,C) -> dst (dh,dw,C).
void am_resize_bilinear(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int C);

// Float images as fitsbolt resizes them (OpenCV's cv2.resize on float32):
// INTER_AREA when either side shrinks, INTER_LINEAR when the image only
// grows. NaN spreads to the outputs whose taps read it, as in OpenCV (the
// stretch sets them to 0 afterwards). src (sh,sw,C) -> dst (dh,dw,C).
void am_resize_float(float *dst, int dw, int dh, const float *src, int sw, int sh, int C);

// Reads any supported image and resizes it to size x size, `channels`
// channels (an image of that size already is taken as it is, as Pillow's
// resize does; a gray file is resized before it is replicated to RGB, which
// gives the same bytes at a third of the work). Returns 0, or -1 with
// am_error() naming the file.
int am_image_load(uint8_t *dst, const char *path, int size, int channels);
// The same for encoded bytes in memory.
int am_image_load_memory(uint8_t *dst, const void *data, size_t n, const char *name, int size, int channels);
