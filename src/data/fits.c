// FITS images through cfitsio (include/am/fits.h). A file is read into
// memory and opened there with fits_open_memfile, as bytes from a tar or
// HDF5 container are: one path for both (and no extended-filename syntax:
// a name with brackets is a name). Cutouts are small; a survey tile of a
// few hundred MB is read whole.
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/files.h"
#include "am/fits.h"
#include "am/image.h"

// A cfitsio built without its reentrant option is used by one thread at a time.
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

// -1 with am_error() from a cfitsio status (its message, then our hint).
static int fits_fail(int status, const char *name, const char *what) {
    char text[FLEN_STATUS] = "";
    fits_get_errstatus(status, text);
    fits_clear_errmsg();
    return am_seterr("'%s': %s (cfitsio: %s): the file is damaged or not a FITS image", name, what, text);
}

// The image shape of the current HDU: 0 with w, h, planes; 1 when it holds
// no image of 2 or 3 axes (a table, an empty primary); -1 on error.
static int image_shape(fitsfile *f, int *w, int *h, int *planes, int *etype, const char *name) {
    int st = 0, hdutype = 0, naxis = 0, bitpix = 0;
    LONGLONG ax[9] = {0};
    if (fits_get_hdu_type(f, &hdutype, &st)) return fits_fail(st, name, "cannot read an HDU");
    if (hdutype != IMAGE_HDU) return 1;
    if (fits_get_img_paramll(f, 9, &bitpix, &naxis, ax, &st)) return fits_fail(st, name, "cannot read the image header");
    if (fits_get_img_equivtype(f, etype, &st)) return fits_fail(st, name, "cannot read the image type");
    if (naxis > 9) return 1;
    while (naxis > 2 && ax[naxis - 1] == 1) naxis--;
    if (naxis < 2 || naxis > 3) return 1;
    LONGLONG p = naxis == 3 ? ax[2] : 1;
    if (ax[0] < 1 || ax[1] < 1 || p < 1) return 1;
    if ((uint64_t)ax[0] > AM_IMAGE_MAX_PIXELS || (uint64_t)ax[1] > AM_IMAGE_MAX_PIXELS)
        return am_seterr("'%s': a %lld x %lld image is larger than am reads (%llu pixels)", name, (long long)ax[0],
                         (long long)ax[1], (unsigned long long)AM_IMAGE_MAX_PIXELS);
    if (p > AM_FITS_MAX_PLANES)
        return am_seterr("'%s': a cube of %lld planes; at most %d are read as channels", name, (long long)p,
                         AM_FITS_MAX_PLANES);
    if ((uint64_t)ax[0] * (uint64_t)ax[1] > AM_IMAGE_MAX_PIXELS / (uint64_t)p)
        return am_seterr("'%s': a %lld x %lld x %lld image is larger than am reads (%llu pixels)", name,
                         (long long)ax[0], (long long)ax[1], (long long)p, (unsigned long long)AM_IMAGE_MAX_PIXELS);
    *w = (int)ax[0];
    *h = (int)ax[1];
    *planes = (int)p;
    return 0;
}

// Moves to the HDU named `one` (an EXTNAME or a number, 0 = primary).
static int move_to(fitsfile *f, const char *one, const char *name) {
    int st = 0, type = 0;
    char *end = NULL;
    long k = strtol(one, &end, 10);
    if (end != one && !*end) {
        int nhdu = 0;
        if (fits_get_num_hdus(f, &nhdu, &st)) return fits_fail(st, name, "cannot count the HDUs");
        if (k < 0 || k >= nhdu)
            return am_seterr("'%s' has HDUs 0..%d, not %ld: check --fits-ext", name, nhdu - 1, k);
        if (fits_movabs_hdu(f, (int)k + 1, &type, &st)) return fits_fail(st, name, "cannot move to the HDU");
        return 0;
    }
    char ext[FLEN_VALUE];
    snprintf(ext, sizeof ext, "%s", one);
    if (fits_movnam_hdu(f, ANY_HDU, ext, 0, &st)) {
        fits_clear_errmsg();
        return am_seterr("'%s' has no HDU named '%s': check --fits-ext (EXTNAME or number)", name, one);
    }
    return 0;
}

static am_sample_type sample_type(int etype) {
    switch (etype) {
    case BYTE_IMG: return AM_SAMPLE_U8;
    case USHORT_IMG: return AM_SAMPLE_U16;
    case FLOAT_IMG:
    case DOUBLE_IMG: return AM_SAMPLE_FLOAT;
    default: return AM_SAMPLE_INT;
    }
}

// Reads the current HDU's w*h*planes pixels into out (h, w, stride), at
// channel offset c0, planes interleaved. mem_size: the file's bytes:
// cfitsio's memory driver reads past them for a data unit they cut short,
// so that is checked here.
static int read_planes(fitsfile *f, float *out, int w, int h, int planes, int stride, int c0, const char *name,
                       size_t mem_size) {
    {
        LONGLONG head = 0, start = 0, end = 0;
        int st = 0;
        if (fits_get_hduaddrll(f, &head, &start, &end, &st)) return fits_fail(st, name, "cannot locate the data unit");
        int bitpix = 0;
        if (fits_get_img_type(f, &bitpix, &st)) return fits_fail(st, name, "cannot read BITPIX");
        uint64_t need = (uint64_t)w * h * planes * (uint64_t)(bitpix < 0 ? -bitpix : bitpix) / 8;
        // Whole records, as cfitsio's file driver reads them.
        uint64_t last = ((uint64_t)start + need + 2879) / 2880 * 2880;
        if (!fits_is_compressed_image(f, &st) && (start < 0 || last > mem_size))
            return am_seterr("'%s': the data unit is cut short (the file ends at byte %llu, its pixels' records at "
                             "%llu): a truncated file", name, (unsigned long long)mem_size, (unsigned long long)last);
    }
    size_t n = (size_t)w * h;
    float *plane = AM_MALLOC(sizeof(float) * n);
    float nul = NAN;
    int rc = 0;
    for (int p = 0; p < planes && !rc; p++) {
        LONGLONG first[3] = {1, 1, p + 1};
        int st = 0, any = 0;
        if (fits_read_pixll(f, TFLOAT, first, (LONGLONG)n, &nul, plane, &any, &st))
            rc = fits_fail(st, name, "cannot read the pixels (truncated data unit?)");
        for (size_t i = 0; i < n && !rc; i++) out[i * stride + c0 + p] = plane[i];
    }
    free(plane);
    return rc;
}

static int read_open(fitsfile *f, const char *name, const char *ext, float **px, int *w, int *h, int *planes,
                     am_sample_type *type, size_t mem_size) {
    int etype = 0, rc;
    if (!ext || !*ext) {
        int nhdu = 0, st = 0, t = 0;
        if (fits_get_num_hdus(f, &nhdu, &st)) return fits_fail(st, name, "cannot count the HDUs");
        rc = 1;
        for (int k = 1; k <= nhdu && rc == 1; k++) {
            if (fits_movabs_hdu(f, k, &t, &st)) return fits_fail(st, name, "cannot move to an HDU");
            rc = image_shape(f, w, h, planes, &etype, name);
        }
        if (rc == 1) return am_seterr("'%s' holds no 2-D image or cube in any HDU", name);
        if (rc) return -1;
        *type = sample_type(etype);
        *px = AM_MALLOC(sizeof(float) * (size_t)*w * *h * *planes);
        if (read_planes(f, *px, *w, *h, *planes, *planes, 0, name, mem_size)) {
            free(*px);
            *px = NULL;
            return -1;
        }
        return 0;
    }
    // One HDU or a list of them.
    char list[256];
    snprintf(list, sizeof list, "%s", ext);
    int count = 1;
    for (const char *c = list; *c; c++) count += *c == ',';
    if (count > AM_FITS_MAX_PLANES) return am_seterr("--fits-ext '%s': at most %d HDUs", ext, AM_FITS_MAX_PLANES);
    char *save = NULL;
    int k = 0, total = 0, ww = 0, hh = 0;
    *px = NULL;
    *type = AM_SAMPLE_U8;
    for (char *one = strtok_r(list, ",", &save); one; one = strtok_r(NULL, ",", &save), k++) {
        int pw, ph, pp;
        if (move_to(f, one, name)) goto fail;
        rc = image_shape(f, &pw, &ph, &pp, &etype, name);
        if (rc == 1) {
            am_seterr("'%s': HDU '%s' holds no 2-D image", name, one);
            goto fail;
        }
        if (rc) goto fail;
        if (count > 1 && pp != 1) {
            am_seterr("'%s': HDU '%s' is a cube; a list in --fits-ext takes 2-D HDUs", name, one);
            goto fail;
        }
        if (!k) {
            ww = pw, hh = ph, total = count > 1 ? count : pp;
            *px = AM_MALLOC(sizeof(float) * (size_t)ww * hh * total);
        } else if (pw != ww || ph != hh) {
            am_seterr("'%s': HDU '%s' is %d x %d but the first is %d x %d: the bands must be one size", name, one, pw,
                      ph, ww, hh);
            goto fail;
        }
        am_sample_type t = sample_type(etype);
        if (!k || t > *type) *type = t;
        if (read_planes(f, *px, ww, hh, pp, total, k, name, mem_size)) goto fail;
    }
    *w = ww, *h = hh, *planes = total;
    return 0;
fail:
    free(*px);
    *px = NULL;
    return -1;
}

int am_fits_read(const char *path, const void *mem, size_t n, const char *ext, float **px, int *w, int *h,
                 int *planes, am_sample_type *type) {
    *px = NULL;
    char *file = NULL;
    if (!mem) {
        file = am_file_read(path, &n);
        if (!file) return am_seterr("cannot open '%s': %s", path, strerror(errno));
        mem = file;
    }
    // cfitsio's memory driver reads whole 2880-byte records: a buffer that
    // ends inside one (a truncated file) is read from a zero-padded copy
    // (read_planes checks that the pixels' records lie within the real bytes).
    void *buf = (void *)mem, *pad = NULL;
    size_t size = n;
    if (n % 2880) {
        size = (n / 2880 + 1) * 2880;
        buf = pad = AM_CALLOC(size);
        memcpy(pad, mem, n);
    }
    int serial = !fits_is_reentrant();
    if (serial) pthread_mutex_lock(&lock);
    fitsfile *f = NULL;
    int st = 0, rc;
    fits_open_memfile(&f, path, READONLY, &buf, &size, 0, NULL, &st);
    if (st) rc = fits_fail(st, path, "cannot open it as FITS");
    else {
        rc = read_open(f, path, ext, px, w, h, planes, type, n);
        st = 0;
        fits_close_file(f, &st);
        fits_clear_errmsg();
    }
    if (serial) pthread_mutex_unlock(&lock);
    free(pad);
    free(file);
    return rc;
}

int am_fits_write(const char *path, const float *planes, int w, int h, int n, const char *const *names) {
    size_t len = strlen(path) + 32;
    char *tmp = AM_MALLOC(len);
    snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid());
    int serial = !fits_is_reentrant();
    if (serial) pthread_mutex_lock(&lock);
    fitsfile *f = NULL;
    int st = 0;
    long ax[2] = {w, h};
    remove(tmp);
    fits_create_diskfile(&f, tmp, &st);
    fits_create_img(f, FLOAT_IMG, 0, NULL, &st);
    for (int k = 0; k < n && !st; k++) {
        fits_create_img(f, FLOAT_IMG, 2, ax, &st);
        fits_update_key(f, TSTRING, "EXTNAME", (void *)names[k], "band", &st);
        fits_write_img(f, TFLOAT, 1, (LONGLONG)w * h, (void *)(planes + (size_t)w * h * k), &st);
    }
    int cst = 0;
    if (f) fits_close_file(f, &cst);
    if (!st) st = cst;
    char text[FLEN_STATUS] = "";
    if (st) fits_get_errstatus(st, text);
    fits_clear_errmsg();
    if (serial) pthread_mutex_unlock(&lock);
    int rc = 0;
    if (st) rc = am_seterr("cannot write '%s' (cfitsio: %s): check the path and free disk space", path, text);
    else if (rename(tmp, path)) rc = am_seterr("cannot write '%s': %s", path, strerror(errno));
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}
