// PNG decoding through libpng's full API, with the transforms chosen so that
// the pixels are what Pillow's convert("RGB") / convert("L") gives for 8-bit
// files: palettes and low bit depths expanded, alpha dropped (not composited),
// gray replicated to RGB, RGB to gray by Pillow's luma. 16-bit samples are
// scaled linearly to 8 bits (round(v / 257)), with no gamma encoding.
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"

typedef struct { char msg[256]; } png_err;

static void on_error(png_structp p, png_const_charp msg) {
    png_err *e = png_get_error_ptr(p);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp msg) { (void)p; (void)msg; }

uint8_t *am_png_read(const char *path, int channels, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        am_seterr("cannot open '%s'", path);
        return NULL;
    }
    uint8_t *px = am_png_read_stream(f, path, &channels, w, h);
    fclose(f);
    return px;
}

uint8_t *am_png_read_stream(FILE *f, const char *path, int *channels, int *w, int *h) {
    png_err e = {""};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, on_error, on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    uint8_t *volatile buf = NULL, *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        am_seterr("cannot read PNG '%s': out of memory", path);
        return NULL;
    }
    if (setjmp(png_jmpbuf(p))) {
        am_seterr("corrupt or truncated PNG '%s': %s", path, e.msg[0] ? e.msg : "decoding error");
        png_destroy_read_struct(&p, &info, NULL);
        free(buf);
        free(rgb);
        free(rows);
        return NULL;
    }
    png_init_io(p, f);
    png_read_info(p, info);
    png_uint_32 width = png_get_image_width(p, info), height = png_get_image_height(p, info);
    if ((uint64_t)width * height > AM_IMAGE_MAX_PIXELS) {
        snprintf(e.msg, sizeof e.msg, "%ux%u pixels, too large (at most %llu pixels)", (unsigned)width,
                 (unsigned)height, (unsigned long long)AM_IMAGE_MAX_PIXELS);
        png_longjmp(p, 1);
    }
    int type = png_get_color_type(p, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(p, info) < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (png_get_valid(p, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(p);
    png_set_scale_16(p);
    png_set_strip_alpha(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    int src_ch = png_get_channels(p, info);  // 1 (gray) or 3 (RGB) after the transforms
    size_t stride = png_get_rowbytes(p, info);
    if (stride != (size_t)width * src_ch) {
        snprintf(e.msg, sizeof e.msg, "unexpected row layout after expansion");
        png_longjmp(p, 1);
    }
    buf = AM_MALLOC(stride * height);
    rows = AM_MALLOC(sizeof(png_bytep) * height);
    for (png_uint_32 y = 0; y < height; y++) rows[y] = buf + stride * y;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    free(rows);
    size_t n = (size_t)width * height;
    uint8_t *out = buf;
    if (!*channels) *channels = src_ch;  // as the file has it
    if (src_ch != *channels) {
        out = AM_MALLOC(n * *channels);
        for (size_t i = 0; i < n; i++) {
            if (*channels == 3) {
                out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = buf[i];
            } else {
                const uint8_t *q = buf + 3 * i;
                out[i] = (uint8_t)((19595u * q[0] + 38470u * q[1] + 7471u * q[2] + 0x8000u) >> 16);
            }
        }
        free(buf);
    }
    *w = (int)width;
    *h = (int)height;
    return out;
}
