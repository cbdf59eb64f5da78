// TIFF images through libtiff: 8/16/32/64-bit unsigned and signed integers
// and 32/64-bit IEEE floats, 1..16 samples per pixel, contiguous or
// separate planes, strips or tiles, any compression libtiff decodes (JPEG
// YCbCr comes back as RGB). Every page (directory) is read and its samples
// appended as further channels: a multi-page file is a stack of bands.
// Samples are taken as they are stored, as tifffile's page.asarray() gives
// them: no Orientation applied, MinIsWhite not inverted, alpha kept as a
// channel. Refused with a message: palette images, bilevel (1-bit) and other
// odd bit depths, 16-bit floats, complex samples, subsampled YCbCr that is
// not JPEG, pages of different sizes, more than 16 channels in all, images
// over AM_IMAGE_MAX_PIXELS (include/am/image.h) pixels x channels.
// libtiff's errors and warnings never reach stderr: the reader installs
// process-wide handlers once (the first message of a failing call ends up in
// am_error()); any other libtiff user in the process is silenced too.
#pragma once
#include <stddef.h>

#include "am/stretch.h"

#define AM_TIFF_MAX_PLANES 16

// 1 when the first n bytes look like a TIFF ("II*\0" or "MM\0*"; BigTIFF
// "II+\0" or "MM\0+").
int am_tiff_signature(const void *sig, size_t n);

// Reads the TIFF at path, or the n bytes at mem when mem is not NULL (path
// then only names it in messages). Out: *px (h, w, planes) float32,
// channels interleaved, first row first, malloc'd; *planes the channels of
// all pages together; *type the widest sample type of the pages, in the
// order U8 < U16 < INT < FLOAT (8-bit unsigned U8, 16-bit unsigned U16,
// other integers INT, floats FLOAT). 0, or -1 with am_error() naming the
// file and the fix. Safe to call from several threads at once.
int am_tiff_read(const char *path, const void *mem, size_t n, float **px, int *w, int *h, int *planes,
                 am_sample_type *type);
