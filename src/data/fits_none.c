// The FITS reader of a build without cfitsio (the Makefile takes this file
// instead of fits.c): a FITS file is recognised and refused with the package
// to install.
#include <string.h>

#include "am/error.h"
#include "am/fits.h"

int am_fits_read(const char *path, const void *mem, size_t n, const char *ext, float **px, int *w, int *h,
                 int *planes, am_sample_type *type) {
    (void)mem, (void)n, (void)ext, (void)w, (void)h, (void)planes, (void)type;
    *px = NULL;
    return am_seterr("'%s' is a FITS file but this am was built without cfitsio (apt-get install libcfitsio-dev, "
                     "then rebuild)", path);
}

int am_fits_write(const char *path, const float *planes, int w, int h, int n, const char *const *names) {
    (void)planes, (void)w, (void)h, (void)n, (void)names;
    return am_seterr("cannot write '%s': this am was built without cfitsio (apt-get install libcfitsio-dev, then "
                     "rebuild)", path);
}
