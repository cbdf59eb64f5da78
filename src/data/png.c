#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"

uint8_t *am_png_read(const char *path, int channels, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        am_seterr("cannot read PNG '%s': %s", path, img.message);
        return NULL;
    }
    if ((uint64_t)img.width * img.height > AM_IMAGE_MAX_PIXELS) {
        am_seterr("PNG '%s' is %ux%u pixels, too large (at most %llu pixels)", path, (unsigned)img.width,
                  (unsigned)img.height, (unsigned long long)AM_IMAGE_MAX_PIXELS);
        png_image_free(&img);
        return NULL;
    }
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    size_t n = PNG_IMAGE_SIZE(img);
    uint8_t *buf = AM_MALLOC(n);
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        am_seterr("corrupt or truncated PNG '%s': %s", path, img.message);
        png_image_free(&img);
        free(buf);
        return NULL;
    }
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}
