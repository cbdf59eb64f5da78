// FITS images through cfitsio: every BITPIX (8, 16, 32, 64, -32, -64) with
// BSCALE/BZERO applied, BLANK integers as NaN, tile-compressed HDUs
// (.fits.fz) as plain images, 2-D images and 3-D cubes.
#pragma once
#include <stddef.h>

#include "am/stretch.h"

#define AM_FITS_MAX_PLANES 16

// Reads the image HDU(s) named by ext from the file at path, or from the n
// bytes at mem when mem is not NULL (then path only names it in messages):
//   NULL or ""   the first HDU with an image of 2 or 3 axes
//   "SCI", "3"   the HDU of that EXTNAME, or that number (0 = primary)
//   "1,2,3"      several 2-D HDUs of one size, one plane each, in that order
// A cube's planes (NAXIS3, or trailing axes of length 1 dropped) are its
// channels. Out: *px (h, w, planes) float32, malloc'd, rows in file order
// (FITS's first row first, as astropy's .data); *type the sample type the
// data has after scaling (8-bit, unsigned 16-bit, other integer, float).
// 0, or -1 with am_error() naming the file and the fix.
int am_fits_read(const char *path, const void *mem, size_t n, const char *ext, float **px, int *w, int *h,
                 int *planes, am_sample_type *type);
// Writes n float32 planes (n, h, w) as a FITS file: an empty primary HDU,
// then one image HDU per plane with EXTNAME names[k]. Atomic (a temporary
// file renamed). 0, or -1 with am_error() naming the file.
int am_fits_write(const char *path, const float *planes, int w, int h, int n, const char *const *names);
// 1 when the first bytes look like a FITS file ("SIMPLE  =").
int am_fits_signature(const void *sig, size_t n);
