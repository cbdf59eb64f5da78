// Members: one image named by a string, for every program that trains or
// scores. The string is a file's path, or ARCHIVE#K: element K of an HDF5
// file (either layout, include/am/h5.h) or member K of a tar shard
// (include/am/tar.h), counted from 0. am_dataset_list (include/am/dataset.h,
// defined in member.c) lists an HDF5 file's elements as FILE#K; am_infer's
// reader names its tar members and HDF5 elements the same way.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/inputs.h"

// An encoded image (a tar member, an HDF5 element) or a dense element's
// float32 pixels larger than this is not read: not an image cutout.
#define AM_MEMBER_MAX_BYTES ((size_t)256 << 20)

// Decodes the image `src` names (a path, or ARCHIVE#K; a file whose name
// holds a '#' is read as the file when it exists) into dst (size, size,
// channels of pre), through the inputs module: a path by am_input_load, a
// tar member or an encoded HDF5 element by am_input_load_memory, a dense
// HDF5 element by am_input_pixels. 0, or -1 with am_error() naming src.
//
// HDF5 handles are kept open between calls (a pool of up to 16 idle ones,
// each taken by one thread while it reads, checked against the file's
// identity and time on every call): training draws images at random, and
// reopening the file for each would cost more than reading the image. A tar
// is read from its start each time (it has no index): fine for a contact
// sheet, slow for training, which lists no tar.
int am_member_load(uint8_t *dst, const char *src, const am_preprocess *pre);
// Closes the idle HDF5 handles (tests; a long-lived program between runs).
void am_member_close_all(void);
