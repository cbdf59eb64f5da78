// HDF5 files of images, in two layouts, both with datasets at the root:
//
// Encoded (the Python AnomalyMatch tool's: its prediction_process_hdf5.py
// reads them, paper_scripts/prepare_datasets.py writes them): dataset
// `images`, 1-D, variable-length uint8 (h5py.vlen_dtype(np.uint8)), each
// element the bytes of a PNG or JPEG file, and dataset `filenames`, 1-D
// strings of the same length: variable-length (h5py.special_dtype(vlen=str))
// or fixed-length (numpy 'S'), ASCII or UTF-8, null-terminated, null-padded
// or space-padded.
//
// Dense (a numpy array written as it is): `images` of rank 3 (N, H, W) or 4
// (N, H, W, C), C <= AM_MAX_BANDS bands last, H * W * C <= AM_IMAGE_MAX_PIXELS,
// of uint8, uint16, int16, float32 or float64 (either byte order); element
// k is image k, read as float32 (H, W, C) with its sample type (uint8 ->
// AM_SAMPLE_U8, uint16 -> AM_SAMPLE_U16, int16 -> AM_SAMPLE_INT, floats ->
// AM_SAMPLE_FLOAT: what the stretch `none` converts by). `filenames` is
// optional (as above when present); without it item k is named
// "BASENAME#k" (BASENAME: the file's name without its folder).
//
// Chunked and compressed datasets read as well. Reading in order is cheap:
// items are read from the file in blocks of consecutive elements (one
// H5Dread each: at most 64 elements, and for dense images at most 64 MiB)
// and handed out one by one; a read away from the last one reads that item
// alone. A handle is used by one thread at a time; Debian's libhdf5 is built
// thread-safe, so handles on several threads work, but their HDF5 calls take
// turns on the library's lock.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/stretch.h"

typedef struct am_h5 am_h5;

// 1 when the file at path holds the HDF5 signature (at 0, or after a user
// block of 512, 1024, 2048 ... bytes). In every build (src/data/signature.c).
int am_h5_signature(const char *path);

// Opens and checks the layout. NULL with am_error() naming the file and what
// is missing or mistyped: not an HDF5 file, no `images`, an encoded file
// without `filenames`, `images` neither variable-length bytes (1-D) nor a
// dense array of a type and rank above (or of no pixels, over AM_MAX_BANDS
// bands or too large), `filenames` not 1-D strings, the two of different
// lengths.
am_h5 *am_h5_open(const char *path);
// Items (elements of `images`).
uint64_t am_h5_count(const am_h5 *h);
// 1 for a dense file, with its images' width, height, bands and sample type
// (any pointer may be NULL); 0 for an encoded one.
int am_h5_dense(const am_h5 *h, int *w, int *hh, int *bands, am_sample_type *t);
// Item i (< am_h5_count). Its filename is copied into name[cap] as it is
// (an empty one stays empty; one that does not fit is cut at a UTF-8
// character boundary, NUL-terminated) whenever it can be read. Its bytes go
// into *buf (grown with realloc; capacity *bufcap), their length in *n; a
// dense file's item as float32 pixels (h, w, bands) (am_h5_dense), *n =
// 4 h w bands bytes.
// Returns 0; 2 when the item is larger than max_bytes (*n its size, nothing
// copied); -1 with am_error() naming the file and the index when the item
// cannot be read or holds no bytes (an encoded element the writer never
// filled; a dense one reads as the dataset's fill value, 0 by default):
// the caller writes a skipped row and goes on. With buf NULL only the name
// is read (resume, listing: the image bytes are not touched): 0 and *n 0,
// or -1 when the name cannot be read.
int am_h5_read(am_h5 *h, uint64_t i, char *name, size_t cap, uint8_t **buf, size_t *n, size_t *bufcap,
               size_t max_bytes);
void am_h5_close(am_h5 *h);

// Writes the encoded layout (am_demo --format h5, tests, benchmarks): n items,
// names[i] (UTF-8, as variable-length strings), the len[i] bytes data[i]
// (variable-length uint8), contiguous and uncompressed (the bytes are
// encoded images already). Atomic: a temporary file beside path, synced,
// then renamed over it. 0, or -1 with am_error() naming the file.
int am_h5_write(const char *path, const char *const *names, const uint8_t *const *data, const size_t *len,
                uint64_t n);
