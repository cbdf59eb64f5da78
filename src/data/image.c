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

// Decodes stream f (at its start: the first n bytes are sig) by its kind;
// *channels as the decoders take it.
static uint8_t *decode(FILE *f, const unsigned char *sig, size_t n, const char *name, int *channels, int *w, int *h) {
    switch (kind_of(sig, n)) {
    case KIND_PNG: return am_png_read_stream(f, name, channels, w, h);
    case KIND_JPEG: return am_jpeg_read_stream(f, name, channels, w, h);
    }
    am_seterr("'%s' is neither PNG nor JPEG (%s)", name, n ? "unknown signature" : "empty file");
    return NULL;
}

// am_image_read with *channels as the decoders take it.
static uint8_t *read_path(const char *path, int *channels, int *w, int *h) {
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

uint8_t *am_image_read(const char *path, int channels, int *w, int *h) { return read_path(path, &channels, w, h); }

// am_image_decode with *channels as the decoders take it.
static uint8_t *decode_memory(const void *data, size_t n, const char *name, int *channels, int *w, int *h) {
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

uint8_t *am_image_decode(const void *data, size_t n, const char *name, int channels, int *w, int *h) {
    return decode_memory(data, n, name, &channels, w, h);
}

uint8_t *am_image_decode_own(const void *data, size_t n, const char *name, int *channels, int *w, int *h) {
    *channels = 0;
    return decode_memory(data, n, name, channels, w, h);
}

// px (h, w, got channels) to dst (size, size, channels): resized (or taken as
// it is at that size), then a gray image replicated to RGB.
static int fit(uint8_t *dst, uint8_t *px, int w, int h, int got, const char *name, int size, int channels) {
    if (!px) return -1;
    int rc = 0;
    size_t n = (size_t)size * size;
    uint8_t *out = got == channels ? dst : AM_MALLOC(n);
    if (w < 1 || h < 1) rc = am_seterr("'%s' has no pixels", name);
    else if (w == size && h == size) memcpy(out, px, n * got);
    else am_resize_bilinear(out, size, size, px, w, h, got);
    if (out != dst) {
        for (size_t i = 0; i < n; i++) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = out[i];
        free(out);
    }
    free(px);
    return rc;
}

// A model of `channels` takes a gray file as it is (fit() replicates it).
static int wanted(int channels) { return channels == 3 ? 0 : 1; }

int am_image_load(uint8_t *dst, const char *path, int size, int channels) {
    int w = 0, h = 0, got = wanted(channels);
    uint8_t *px = read_path(path, &got, &w, &h);
    return fit(dst, px, w, h, got, path, size, channels);
}

int am_image_load_memory(uint8_t *dst, const void *data, size_t n, const char *name, int size, int channels) {
    int w = 0, h = 0, got = wanted(channels);
    uint8_t *px = decode_memory(data, n, name, &got, &w, &h);
    return fit(dst, px, w, h, got, name, size, channels);
}
