// Image files by content, and the load-and-resize used by the datasets.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"

uint8_t *am_image_read(const char *path, int channels, int *w, int *h) {
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        am_seterr("cannot open '%s'", path);
        return NULL;
    }
    size_t n = fread(sig, 1, sizeof sig, f);
    fclose(f);
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n == 8 && !memcmp(sig, png, 8)) return am_png_read(path, channels, w, h);
    if (n >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) return am_jpeg_read(path, channels, w, h);
    am_seterr("'%s' is neither PNG nor JPEG (%s)", path, n ? "unknown signature" : "empty file");
    return NULL;
}

int am_image_load(uint8_t *dst, const char *path, int size, int channels) {
    int w, h;
    uint8_t *px = am_image_read(path, channels, &w, &h);
    if (!px) return -1;
    if (w < 1 || h < 1) {
        free(px);
        return am_seterr("'%s' has no pixels", path);
    }
    am_resize_bilinear(dst, size, size, px, w, h, channels);
    free(px);
    return 0;
}
