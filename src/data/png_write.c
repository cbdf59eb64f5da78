// PNG writing with libpng's simplified API, atomically: a temporary file beside
// the target (PATH.tmp.XXXXXX), renamed over it once complete.
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/error.h"
#include "am/plot.h"

// libpng's description of w x h pixels of 1 (gray) or 3 (RGB) channels.
static png_image image_of(int w, int h, int channels) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    return img;
}

int am_png_write(const char *path, const uint8_t *pixels, int w, int h, int channels) {
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3))
        return am_seterr("cannot write PNG '%s': bad shape %dx%d with %d channels (1 or 3)", path, w, h, channels);
    size_t len = strlen(path) + 16;
    char *tmp = AM_MALLOC(len);
    snprintf(tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        am_seterr("cannot write PNG '%s': %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        am_seterr("cannot write PNG '%s': %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    png_image img = image_of(w, h, channels);
    int ok = png_image_write_to_stdio(&img, f, 0, pixels, 0, NULL);
    const char *why = ok ? NULL : img.message;
    if (!ok) png_image_free(&img);
    if (fclose(f) != 0 && ok) { ok = 0; why = strerror(errno); }
    if (ok && rename(tmp, path) != 0) { ok = 0; why = strerror(errno); }
    if (!ok) {
        am_seterr("cannot write PNG '%s': %s", path, why);
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

uint8_t *am_png_encode(const uint8_t *pixels, int w, int h, int channels, size_t *n) {
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3)) {
        am_seterr("cannot encode PNG: bad shape %dx%d with %d channels (1 or 3)", w, h, channels);
        return NULL;
    }
    png_image img = image_of(w, h, channels);
    png_alloc_size_t size = 0;
    if (!png_image_write_get_memory_size(img, size, 0, pixels, 0, NULL)) {
        am_seterr("cannot encode PNG: %s", img.message);
        png_image_free(&img);
        return NULL;
    }
    uint8_t *buf = AM_MALLOC(size);
    if (!png_image_write_to_memory(&img, buf, &size, 0, pixels, 0, NULL)) {
        am_seterr("cannot encode PNG: %s", img.message);
        png_image_free(&img);
        free(buf);
        return NULL;
    }
    *n = (size_t)size;
    return buf;
}
