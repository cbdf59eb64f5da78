// TIFF images through libtiff (include/am/tiff.h). Files are opened with
// TIFFFdOpen (memory-mapped by libtiff), bytes in memory with TIFFClientOpen
// over the buffer (mapped: no copy). A first pass over the pages checks
// their types and sizes; the second reads each page's samples, row by row
// (strips, through TIFFReadScanline: one row of buffer whatever the strip
// size) or tile by tile, into its channels of the output.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include "am/error.h"
#include "am/image.h"
#include "am/tiff.h"

#define TILE_MAX_BYTES ((uint64_t)1 << 28)  // one decoded tile; real files use a few MB at most

// ---- libtiff's messages ----------------------------------------------------
// The handlers are process-wide: set once, silent on stderr. Errors keep the
// first message since the last reset on the thread that met them.

static _Thread_local char tiff_msg[256];
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void on_error(const char *module, const char *fmt, va_list ap) {
    (void)module;
    if (!tiff_msg[0]) vsnprintf(tiff_msg, sizeof tiff_msg, fmt, ap);
}

static void install_handlers(void) {
    TIFFSetErrorHandler(on_error);
    TIFFSetWarningHandler(NULL);
}

static int tiff_fail(const char *name, const char *what) {
    return am_seterr("'%s': %s (libtiff: %s): the file is damaged or not a TIFF image", name, what,
                     tiff_msg[0] ? tiff_msg : "no details");
}

// ---- bytes in memory -------------------------------------------------------

typedef struct {
    const uint8_t *b;
    uint64_t n, at;
} membuf;

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t size) {
    membuf *m = h;
    if (size < 0) return -1;
    uint64_t k = m->at < m->n ? m->n - m->at : 0;
    if ((uint64_t)size < k) k = (uint64_t)size;
    if (k) memcpy(buf, m->b + m->at, (size_t)k);
    m->at += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t size) {
    (void)h, (void)buf, (void)size;
    return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
    membuf *m = h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->at : m->n;
    int64_t d = (int64_t)off;  // SEEK_CUR and SEEK_END may move back
    if (whence == SEEK_SET && off > INT64_MAX) return (toff_t)-1;
    if (d < 0 && (uint64_t)-(d + 1) >= base) return (toff_t)-1;
    if (d > 0 && (uint64_t)d > INT64_MAX - base) return (toff_t)-1;
    m->at = base + (uint64_t)d;
    return m->at;
}

static int mem_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h) { return ((membuf *)h)->n; }

static int mem_map(thandle_t h, void **base, toff_t *size) {
    membuf *m = h;
    *base = (void *)m->b;  // libtiff only reads a read-only mapping
    *size = m->n;
    return 1;
}

static void mem_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

// ---- pages -----------------------------------------------------------------

typedef struct {
    uint32_t w, h;
    int spp, bits, fmt;  // fmt: SAMPLEFORMAT_UINT, _INT or _IEEEFP
    am_sample_type type;
} page_info;

// The current page's layout, checked: 0, or -1 naming page k (from 1).
static int page_read_info(TIFF *t, page_info *p, int k, const char *name) {
    uint32_t w = 0, h = 0;
    uint16_t spp = 1, bits = 1, fmt = SAMPLEFORMAT_UINT, photo = 0, comp = COMPRESSION_NONE;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) || !w || !h)
        return am_seterr("'%s': page %d has no image size: the file is damaged", name, k);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    if (photo == PHOTOMETRIC_PALETTE)
        return am_seterr("'%s': page %d is a palette (colour-mapped) image: convert it to RGB first (e.g. "
                         "magick in.tif -type TrueColor out.tif)", name, k);
    if (bits == 1)
        return am_seterr("'%s': page %d is a bilevel (1-bit) image: convert it to 8-bit gray first", name, k);
    if (spp < 1 || spp > AM_TIFF_MAX_PLANES)
        return am_seterr("'%s': page %d has %d samples per pixel; am reads 1 to %d", name, k, spp,
                         AM_TIFF_MAX_PLANES);
    if (fmt == SAMPLEFORMAT_VOID) fmt = SAMPLEFORMAT_UINT;  // untyped data: unsigned, as tifffile reads it
    int ok_int = (fmt == SAMPLEFORMAT_UINT || fmt == SAMPLEFORMAT_INT) &&
                 (bits == 8 || bits == 16 || bits == 32 || bits == 64);
    int ok_float = fmt == SAMPLEFORMAT_IEEEFP && (bits == 32 || bits == 64);
    if (!ok_int && !ok_float)
        return am_seterr("'%s': page %d has %d-bit samples of sample format %d; am reads 8/16/32/64-bit integers "
                         "and 32/64-bit floats: convert it", name, k, bits, fmt);
    if (!TIFFIsCODECConfigured(comp))
        return am_seterr("'%s': page %d uses compression %d, which this libtiff cannot decode: convert it to an "
                         "uncompressed or deflate TIFF", name, k, comp);
    if (photo == PHOTOMETRIC_YCBCR && comp != COMPRESSION_JPEG) {  // JPEG: read as RGB (read_all)
        uint16_t sx = 1, sy = 1;
        TIFFGetFieldDefaulted(t, TIFFTAG_YCBCRSUBSAMPLING, &sx, &sy);
        if (sx != 1 || sy != 1)
            return am_seterr("'%s': page %d is subsampled YCbCr (%dx%d): convert it to RGB first", name, k, sx, sy);
    }
    p->w = w;
    p->h = h;
    p->spp = spp;
    p->bits = bits;
    p->fmt = fmt;
    p->type = fmt == SAMPLEFORMAT_IEEEFP              ? AM_SAMPLE_FLOAT
              : fmt == SAMPLEFORMAT_UINT && bits == 8  ? AM_SAMPLE_U8
              : fmt == SAMPLEFORMAT_UINT && bits == 16 ? AM_SAMPLE_U16
                                                       : AM_SAMPLE_INT;
    return 0;
}

// n pixels of `per` samples each (native byte order, as libtiff hands them
// out) at src -> dst[i * P + c].
static void convert(float *dst, size_t P, const uint8_t *src, size_t n, int per, const page_info *p) {
#define CONV(T)                                                          \
    for (size_t i = 0; i < n; i++)                                       \
        for (int c = 0; c < per; c++) {                                  \
            T v;                                                         \
            memcpy(&v, src + ((size_t)i * per + c) * sizeof v, sizeof v); \
            dst[i * P + c] = (float)v;                                   \
        }                                                                \
    break
    int code = p->fmt * 100 + p->bits;
    switch (code) {
    case SAMPLEFORMAT_UINT * 100 + 8: CONV(uint8_t);
    case SAMPLEFORMAT_UINT * 100 + 16: CONV(uint16_t);
    case SAMPLEFORMAT_UINT * 100 + 32: CONV(uint32_t);
    case SAMPLEFORMAT_UINT * 100 + 64: CONV(uint64_t);
    case SAMPLEFORMAT_INT * 100 + 8: CONV(int8_t);
    case SAMPLEFORMAT_INT * 100 + 16: CONV(int16_t);
    case SAMPLEFORMAT_INT * 100 + 32: CONV(int32_t);
    case SAMPLEFORMAT_INT * 100 + 64: CONV(int64_t);
    case SAMPLEFORMAT_IEEEFP * 100 + 32: CONV(float);
    case SAMPLEFORMAT_IEEEFP * 100 + 64: CONV(double);
    default: AM_CHECK(0, "page_read_info admits only these sample types");
    }
#undef CONV
}

// The current page (k from 1) into channels off.. of out (h, w, P).
static int page_read_data(TIFF *t, const page_info *p, float *out, int P, int off, int k, const char *name) {
    uint16_t planar = PLANARCONFIG_CONTIG;
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    int sep = planar == PLANARCONFIG_SEPARATE && p->spp > 1;
    int per = sep ? 1 : p->spp, nplane = sep ? p->spp : 1;
    size_t bytes = (size_t)p->bits / 8, W = p->w, H = p->h;
    char what[96];
    int rc = 0;
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        uint64_t size = (uint64_t)tw * th * per * bytes;
        if (!tw || !th || size > TILE_MAX_BYTES || TIFFTileSize64(t) != size)
            return am_seterr("'%s': page %d has tiles of %u x %u that am cannot read: the file is damaged, or "
                             "rewrite it with strips (tiffcp -s)", name, k, tw, th);
        uint8_t *buf = AM_MALLOC((size_t)size);
        for (int s = 0; s < nplane && !rc; s++)
            for (size_t y0 = 0; y0 < H && !rc; y0 += th)
                for (size_t x0 = 0; x0 < W && !rc; x0 += tw) {
                    uint32_t tile = TIFFComputeTile(t, (uint32_t)x0, (uint32_t)y0, 0, (uint16_t)s);
                    tiff_msg[0] = 0;
                    if (TIFFReadEncodedTile(t, tile, buf, (tmsize_t)size) != (tmsize_t)size) {
                        snprintf(what, sizeof what, "cannot read tile %u of page %d", tile, k);
                        rc = tiff_fail(name, what);
                        break;
                    }
                    size_t nx = W - x0 < tw ? W - x0 : tw, ny = H - y0 < th ? H - y0 : th;
                    for (size_t y = 0; y < ny; y++)
                        convert(out + ((y0 + y) * W + x0) * P + off + s, (size_t)P, buf + y * tw * per * bytes, nx,
                                per, p);
                }
        free(buf);
        return rc;
    }
    uint64_t size = (uint64_t)W * per * bytes;
    if (TIFFScanlineSize64(t) != size)
        return am_seterr("'%s': page %d has rows of %llu bytes where %llu were expected: the file is damaged or "
                         "uses a layout am does not read (convert it)", name, k,
                         (unsigned long long)TIFFScanlineSize64(t), (unsigned long long)size);
    uint8_t *buf = AM_MALLOC((size_t)size);
    for (int s = 0; s < nplane && !rc; s++)
        for (size_t y = 0; y < H; y++) {
            tiff_msg[0] = 0;
            if (TIFFReadScanline(t, buf, (uint32_t)y, (uint16_t)s) != 1) {
                snprintf(what, sizeof what, "cannot read row %zu of page %d", y, k);
                rc = tiff_fail(name, what);
                break;
            }
            convert(out + y * W * P + off + s, (size_t)P, buf, W, per, p);
        }
    free(buf);
    return rc;
}

static TIFF *open_tiff(const char *name, const void *mem, size_t n, membuf *m) {
    tiff_msg[0] = 0;
    TIFF *t;
    if (mem) {
        *m = (membuf){mem, n, 0};
        t = TIFFClientOpen(name, "r", (thandle_t)m, mem_read, mem_write, mem_seek, mem_close, mem_size, mem_map,
                           mem_unmap);
    } else {
        int fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            am_seterr("cannot open TIFF '%s': %s: check the path", name, strerror(errno));
            return NULL;
        }
        t = TIFFFdOpen(fd, name, "r");
        if (!t) close(fd);  // TIFFFdOpen leaves it open when it fails
    }
    if (!t) tiff_fail(name, "cannot open");
    return t;
}

static int read_all(TIFF *t, const char *name, float **px, int *w, int *h, int *planes, am_sample_type *type) {
    page_info pg[AM_TIFF_MAX_PLANES];
    int np = 0, total = 0;
    am_sample_type widest = AM_SAMPLE_U8;
    for (;;) {
        page_info one, *p = &one;
        if (page_read_info(t, p, np + 1, name)) return -1;
        if (np && (p->w != pg[0].w || p->h != pg[0].h))
            return am_seterr("'%s': page %d is %u x %u but page 1 is %u x %u: the pages are read as channels and "
                             "must have one size", name, np + 1, p->w, p->h, pg[0].w, pg[0].h);
        total += p->spp;
        if (total > AM_TIFF_MAX_PLANES)
            return am_seterr("'%s': over %d channels in its pages together; am reads at most %d: split the file",
                             name, AM_TIFF_MAX_PLANES, AM_TIFF_MAX_PLANES);
        if ((uint64_t)p->w * p->h > AM_IMAGE_MAX_PIXELS / (uint64_t)total)
            return am_seterr("'%s': a %u x %u image of %d channels is larger than am reads (%llu pixels x channels)",
                             name, p->w, p->h, total, (unsigned long long)AM_IMAGE_MAX_PIXELS);
        if (p->type > widest) widest = p->type;
        pg[np++] = one;  // total <= AM_TIFF_MAX_PLANES: np < AM_TIFF_MAX_PLANES before
        tiff_msg[0] = 0;
        if (!TIFFReadDirectory(t)) {
            if (tiff_msg[0]) {
                char what[64];
                snprintf(what, sizeof what, "cannot read page %d", np + 1);
                return tiff_fail(name, what);
            }
            break;  // the last page
        }
    }
    float *out = AM_CALLOC(sizeof(float) * (size_t)pg[0].w * pg[0].h * total);
    for (int k = 0, off = 0; k < np; off += pg[k].spp, k++) {
        tiff_msg[0] = 0;
        if (!TIFFSetDirectory(t, (tdir_t)k)) {
            free(out);
            return tiff_fail(name, "cannot go back to a page");
        }
        uint16_t photo = 0, comp = COMPRESSION_NONE;
        TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
        if (comp == COMPRESSION_JPEG && TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo) && photo == PHOTOMETRIC_YCBCR)
            TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);  // libjpeg upsamples and converts
        if (page_read_data(t, &pg[k], out, total, off, k + 1, name)) {
            free(out);
            return -1;
        }
    }
    *px = out;
    *w = (int)pg[0].w;
    *h = (int)pg[0].h;
    *planes = total;
    *type = widest;
    return 0;
}

int am_tiff_read(const char *path, const void *mem, size_t n, float **px, int *w, int *h, int *planes,
                 am_sample_type *type) {
    pthread_once(&handlers_once, install_handlers);
    const char *name = path ? path : "(memory)";
    membuf m;
    TIFF *t = open_tiff(name, mem, n, &m);
    if (!t) return -1;
    int rc = read_all(t, name, px, w, h, planes, type);
    TIFFClose(t);
    return rc;
}
