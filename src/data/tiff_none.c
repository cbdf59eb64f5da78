// The TIFF reader of a build without libtiff (the Makefile takes this file
// instead of tiff.c): TIFFs are still recognised, and every read fails with
// the package to install.
#include <stdint.h>

#include "am/error.h"
#include "am/tiff.h"

int am_tiff_read(const char *path, const void *mem, size_t n, float **px, int *w, int *h, int *planes,
                 am_sample_type *type) {
    (void)mem, (void)n, (void)px, (void)w, (void)h, (void)planes, (void)type;
    return am_seterr("'%s' is a TIFF but this am was built without libtiff: apt-get install libtiff-dev and rebuild",
                     path ? path : "(memory)");
}
