// HDF5 files of encoded images in the layout of the Python AnomalyMatch tool
// (its prediction_process_hdf5.py reads them, paper_scripts/prepare_datasets.py
// writes them): at the root, dataset `images`, 1-D, variable-length uint8
// (h5py.vlen_dtype(np.uint8)), each element the bytes of a PNG or JPEG file,
// and dataset `filenames`, 1-D strings of the same length: variable-length
// (h5py.special_dtype(vlen=str)) or fixed-length (numpy 'S'), ASCII or
// UTF-8, null-terminated, null-padded or space-padded. Chunked and
// compressed datasets read as well.
//
// Reading in order is cheap: items are read from the file in blocks of
// consecutive elements (one H5Dread each) and handed out one by one; a read
// away from the last one reads that item alone. A handle is used by one
// thread at a time; Debian's libhdf5 is built thread-safe, so handles on
// several threads work, but their HDF5 calls take turns on the library's lock.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct am_h5 am_h5;

// Opens and checks the layout. NULL with am_error() naming the file and what
// is missing or mistyped: not an HDF5 file, no `images` or `filenames`, one
// not 1-D, `images` not variable-length bytes, `filenames` not strings, the
// two of different lengths.
am_h5 *am_h5_open(const char *path);
// Items (elements of `images`).
uint64_t am_h5_count(const am_h5 *h);
// Item i (< am_h5_count). Its filename is copied into name[cap] as it is
// (an empty one stays empty; one that does not fit is cut at a UTF-8
// character boundary, NUL-terminated) whenever it can be read. Its bytes go
// into *buf (grown with realloc; capacity *bufcap), their length in *n.
// Returns 0; 2 when the item is larger than max_bytes (*n its size, nothing
// copied); -1 with am_error() naming the file and the index when the item
// cannot be read or holds no bytes (an element the writer never filled):
// the caller writes a skipped row and goes on. With buf NULL only the name
// is read (resume, listing: the image bytes are not touched): 0 and *n 0,
// or -1 when the name cannot be read.
int am_h5_read(am_h5 *h, uint64_t i, char *name, size_t cap, uint8_t **buf, size_t *n, size_t *bufcap,
               size_t max_bytes);
void am_h5_close(am_h5 *h);

// Writes the layout (am_demo --format h5, tests, benchmarks): n items,
// names[i] (UTF-8, as variable-length strings), the len[i] bytes data[i]
// (variable-length uint8), contiguous and uncompressed (the bytes are
// encoded images already). Atomic: a temporary file beside path, synced,
// then renamed over it. 0, or -1 with am_error() naming the file.
int am_h5_write(const char *path, const char *const *names, const uint8_t *const *data, const size_t *len,
                uint64_t n);
