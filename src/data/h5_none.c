// The HDF5 reader and writer of a build without libhdf5 (the Makefile takes
// this file instead of h5.c): every file fails to open or write, with the
// package to install.
#include "am/error.h"
#include "am/h5.h"

#define WHY "this am was built without libhdf5 (apt-get install libhdf5-dev, then rebuild)"

am_h5 *am_h5_open(const char *path) {
    am_seterr("cannot open HDF5 file '%s': " WHY, path);
    return NULL;
}

uint64_t am_h5_count(const am_h5 *h) { (void)h; return 0; }

int am_h5_dense(const am_h5 *h, int *w, int *hh, int *bands, am_sample_type *t) {
    (void)h, (void)w, (void)hh, (void)bands, (void)t;
    return 0;
}

void am_h5_close(am_h5 *h) { (void)h; }

int am_h5_read(am_h5 *h, uint64_t i, char *name, size_t cap, uint8_t **buf, size_t *n, size_t *bufcap,
               size_t max_bytes) {
    (void)h, (void)i, (void)name, (void)cap, (void)buf, (void)n, (void)bufcap, (void)max_bytes;
    return am_seterr("no HDF5 file is open: " WHY);
}

int am_h5_write(const char *path, const char *const *names, const uint8_t *const *data, const size_t *len,
                uint64_t n) {
    (void)names, (void)data, (void)len, (void)n;
    return am_seterr("cannot write HDF5 file '%s': " WHY, path);
}
