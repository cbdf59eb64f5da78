// Image files by content, and the load-and-resize used by the datasets.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"

enum { KIND_NONE, KIND_PNG, KIND_JPEG };

static int kind_of(const unsigned char *sig, size_t n) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(sig, png, 8)) return KIND_PNG;
    if (n >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) return KIND_JPEG;
    return KIND_NONE;
}

// Decodes stream f (at its start: the first n bytes are sig) by its kind.
static uint8_t *decode(FILE *f, const unsigned char *sig, size_t n, const char *name, int channels, int *w, int *h) {
    switch (kind_of(sig, n)) {
    case KIND_PNG: return am_png_read_stream(f, name, channels, w, h);
    case KIND_JPEG: return am_jpeg_read_stream(f, name, channels, w, h);
    }
    am_seterr("'%s' is neither PNG nor JPEG (%s)", name, n ? "unknown signature" : "empty file");
    return NULL;
}

uint8_t *am_image_read(const char *path, int channels, int *w, int *h) {
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        am_seterr("cannot open '%s'", path);
        return NULL;
    }
    size_t n = fread(sig, 1, sizeof sig, f);
    rewind(f);
    uint8_t *px = decode(f, sig, n, path, channels, w, h);
    fclose(f);
    return px;
}

uint8_t *am_image_decode(const void *data, size_t n, const char *name, int channels, int *w, int *h) {
    if (!n) return decode(NULL, data, 0, name, channels, w, h);
    FILE *f = fmemopen((void *)data, n, "rb");
    if (!f) {
        am_seterr("cannot read '%s' from memory: out of memory", name);
        return NULL;
    }
    uint8_t *px = decode(f, data, n, name, channels, w, h);
    fclose(f);
    return px;
}

static int fit(uint8_t *dst, uint8_t *px, int w, int h, const char *name, int size, int channels) {
    if (!px) return -1;
    int rc = 0;
    if (w < 1 || h < 1) rc = am_seterr("'%s' has no pixels", name);
    else if (w == size && h == size) memcpy(dst, px, (size_t)size * size * channels);
    else am_resize_bilinear(dst, size, size, px, w, h, channels);
    free(px);
    return rc;
}

int am_image_load(uint8_t *dst, const char *path, int size, int channels) {
    int w = 0, h = 0;
    uint8_t *px = am_image_read(path, channels, &w, &h);
    return fit(dst, px, w, h, path, size, channels);
}

int am_image_load_memory(uint8_t *dst, const void *data, size_t n, const char *name, int size, int channels) {
    int w = 0, h = 0;
    uint8_t *px = am_image_decode(data, n, name, channels, &w, &h);
    return fit(dst, px, w, h, name, size, channels);
}
