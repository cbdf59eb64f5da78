// JPEG decoding and encoding through libjpeg-turbo; errors come back as
// messages, never exit.
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "am/error.h"
#include "am/image.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void on_error(j_common_ptr c) {
    jerr *e = (jerr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void on_warning(j_common_ptr c, int level) {
    // A corrupt-data warning (level -1) means truncated or damaged data: treat
    // it as an error so that no half-grey image reaches training.
    if (level < 0) on_error(c);
}

uint8_t *am_jpeg_read(const char *path, int channels, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        am_seterr("cannot open '%s'", path);
        return NULL;
    }
    uint8_t *px = am_jpeg_read_stream(f, path, &channels, w, h);
    fclose(f);
    return px;
}

uint8_t *am_jpeg_read_stream(FILE *f, const char *path, int *channels, int *w, int *h) {
    struct jpeg_decompress_struct d;
    jerr e;
    uint8_t *volatile buf = NULL;
    d.err = jpeg_std_error(&e.base);
    e.base.error_exit = on_error;
    e.base.emit_message = on_warning;
    if (setjmp(e.jump)) {
        am_seterr("corrupt or truncated JPEG '%s': %s", path, e.msg);
        jpeg_destroy_decompress(&d);
        free(buf);
        return NULL;
    }
    jpeg_create_decompress(&d);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    if (d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK) {
        snprintf(e.msg, sizeof e.msg, "CMYK JPEGs are not supported: convert to RGB");
        longjmp(e.jump, 1);
    }
    if ((uint64_t)d.image_width * d.image_height > AM_IMAGE_MAX_PIXELS) {
        am_seterr("JPEG '%s' is %ux%u pixels, too large (at most %llu pixels)", path, (unsigned)d.image_width,
                  (unsigned)d.image_height, (unsigned long long)AM_IMAGE_MAX_PIXELS);
        jpeg_destroy_decompress(&d);
        return NULL;
    }
    if (!*channels) *channels = d.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;  // as the file has it
    d.out_color_space = *channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    size_t stride = (size_t)d.output_width * d.output_components;
    buf = AM_MALLOC(stride * d.output_height);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = buf + stride * d.output_scanline;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    *w = (int)d.output_width;
    *h = (int)d.output_height;
    jpeg_destroy_decompress(&d);
    return buf;
}

int am_jpeg_write(const char *path, const uint8_t *pixels, int w, int h, int channels, int quality) {
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3) || quality < 1 || quality > 100)
        return am_seterr("cannot write JPEG '%s': bad shape %dx%d with %d channels (1 or 3) or quality %d (1..100)",
                         path, w, h, channels, quality);
    FILE *f = fopen(path, "wb");
    if (!f) return am_seterr("cannot write JPEG '%s': %s", path, strerror(errno));
    struct jpeg_compress_struct c;
    jerr e;
    c.err = jpeg_std_error(&e.base);
    e.base.error_exit = on_error;
    if (setjmp(e.jump)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        unlink(path);
        return am_seterr("cannot write JPEG '%s': %s", path, e.msg);
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f)) {
        am_seterr("cannot write JPEG '%s': %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}
