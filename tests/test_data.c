// Image decoding and resizing against Pillow, and bad image files.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/image.h"
#include "test.h"

static uint32_t u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

// Zero mismatched bytes; the first mismatch is printed.
static int same_bytes(const char *what, const uint8_t *got, const uint8_t *ref, int w, int h, int C) {
    for (int i = 0; i < w * h * C; i++)
        if (got[i] != ref[i]) {
            fprintf(stderr, "%s: first mismatch at x=%d y=%d c=%d: got %d expected %d\n", what,
                    (i / C) % w, i / C / w, i % C, got[i], ref[i]);
            return 0;
        }
    return 1;
}

START_TEST(test_resize_matches_pillow) {
    size_t n;
    unsigned char *b = (unsigned char *)test_read_file("golden/resize.bin", &n), *p = b + 8;
    ck_assert(!memcmp(b, "AMRS", 4));
    uint32_t count = u32(b + 4);
    ck_assert_uint_ge(count, 8);
    for (uint32_t i = 0; i < count; i++) {
        int sw = (int)u32(p), sh = (int)u32(p + 4), C = (int)u32(p + 8), dw = (int)u32(p + 12), dh = (int)u32(p + 16);
        const uint8_t *src = p + 20, *ref = src + (size_t)sw * sh * C;
        uint8_t *dst = malloc((size_t)dw * dh * C);
        memset(dst, 0xAB, (size_t)dw * dh * C);
        am_resize_bilinear(dst, dw, dh, src, sw, sh, C);
        char what[96];
        snprintf(what, sizeof what, "resize case %u (%dx%dx%d -> %dx%d)", i, sw, sh, C, dw, dh);
        ck_assert_msg(same_bytes(what, dst, ref, dw, dh, C), "%s differs from Pillow", what);
        free(dst);
        p = (unsigned char *)ref + (size_t)dw * dh * C;
    }
    ck_assert(p == b + n);
    free(b);
}
END_TEST

START_TEST(test_jpeg_matches_pillow) {
    static const char *files[] = {"data/coffee_q90.jpg", "data/gray_q75.jpg"};
    size_t n;
    unsigned char *b = (unsigned char *)test_read_file("golden/jpeg.bin", &n), *p = b + 8;
    ck_assert(!memcmp(b, "AMJP", 4) && u32(b + 4) == 2);
    for (int i = 0; i < 2; i++) {
        int w = (int)u32(p), h = (int)u32(p + 4), gw, gh;
        uint8_t *px = am_image_read(files[i], 3, &gw, &gh);
        ck_assert_msg(px != NULL, "%s", am_error());
        ck_assert(gw == w && gh == h);
        ck_assert_msg(same_bytes(files[i], px, p + 8, w, h, 3), "%s differs from Pillow's decode", files[i]);
        free(px);
        p += 8 + (size_t)w * h * 3;
    }
    free(b);
}
END_TEST

// PNG variants: palette with transparency and RGBA as Pillow's convert("RGB")
// (alpha dropped, not composited); 16-bit gray scaled by round(v / 257).
START_TEST(test_png_variants) {
    static const char *files[] = {"data/png_palette_trns.png", "data/png_rgba.png", "data/png_gray16.png"};
    size_t n;
    unsigned char *b = (unsigned char *)test_read_file("golden/png.bin", &n), *p = b + 8;
    ck_assert(!memcmp(b, "AMPN", 4) && u32(b + 4) == 3);
    for (int i = 0; i < 3; i++) {
        int w = (int)u32(p), h = (int)u32(p + 4), gw, gh;
        uint8_t *px = am_image_read(files[i], 3, &gw, &gh);
        ck_assert_msg(px != NULL, "%s", am_error());
        ck_assert(gw == w && gh == h);
        ck_assert_msg(same_bytes(files[i], px, p + 8, w, h, 3), "%s differs from the expected pixels", files[i]);
        free(px);
        p += 8 + (size_t)w * h * 3;
    }
    free(b);
}
END_TEST

START_TEST(test_png_gray_replicated) {
    int w, h, w1, h1;
    uint8_t *rgb = am_image_read("../data/samples/coffee.png", 3, &w, &h);
    uint8_t *gray = am_image_read("../data/samples/coffee.png", 1, &w1, &h1);
    ck_assert(rgb && gray && w == w1 && h == h1);
    free(rgb);
    free(gray);
    uint8_t dst[32 * 32 * 3];
    ck_assert_int_eq(am_image_load(dst, "data/gray_q75.jpg", 32, 3), 0);
    for (int i = 0; i < 32 * 32; i++) ck_assert(dst[3 * i] == dst[3 * i + 1] && dst[3 * i] == dst[3 * i + 2]);
    // A gray file is resized before it is replicated: the bytes of resizing
    // the replicated RGB image (Pillow's order), for gray PNG (8 and 16 bit)
    // and JPEG, at a size that resizes and at the file's own.
    const char *files[] = {"data/gray_q75.jpg", "data/png_gray16.png"};
    for (int k = 0; k < 2; k++) {
        uint8_t *full = am_image_read(files[k], 3, &w, &h);
        ck_assert_ptr_nonnull(full);
        int sizes[] = {29, w};
        for (int j = 0; j < 2; j++) {
            int S = sizes[j];
            uint8_t *want = malloc((size_t)S * S * 3), *got = malloc((size_t)S * S * 3);
            if (S == w && S == h) memcpy(want, full, (size_t)S * S * 3);
            else am_resize_bilinear(want, S, S, full, w, h, 3);
            ck_assert_int_eq(am_image_load(got, files[k], S, 3), 0);
            ck_assert_msg(!memcmp(got, want, (size_t)S * S * 3), "%s at %d px differs from resize-after-replicate",
                          files[k], S);
            free(want);
            free(got);
        }
        free(full);
    }
}
END_TEST

static void write_prefix(const char *from, const char *to, long len) {
    size_t n;
    unsigned char *b = (unsigned char *)test_read_file(from, &n);
    FILE *f = fopen(to, "wb");
    fwrite(b, 1, len < 0 || (size_t)len > n ? n : (size_t)len, f);
    fclose(f);
    free(b);
}

START_TEST(test_bad_images) {
    char path[] = "/tmp/am_img_XXXXXX";
    close(mkstemp(path));
    int w, h;
    struct { const char *src; long len; const char *expect; } cases[] = {
        {"../data/samples/coffee.png", 5000, "PNG"},
        {"data/coffee_q90.jpg", 3000, "JPEG"},
        {"data/coffee_q90.jpg", 100, "JPEG"},
        {"golden/resize.bin", 64, "neither PNG nor JPEG"},
        {"golden/resize.bin", 0, "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_prefix(cases[i].src, path, cases[i].len);
        uint8_t *px = am_image_read(path, 3, &w, &h);
        ck_assert_msg(px == NULL, "case %zu decoded", i);
        ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), cases[i].expect), "case %zu: '%s'", i, am_error());
    }
    unlink(path);
    ck_assert_ptr_null(am_image_read(path, 3, &w, &h));
    ck_assert_ptr_nonnull(strstr(am_error(), "cannot open"));
}
END_TEST

// am_jpeg_write, gray and RGB: read back by content at the written size, a
// smooth image within a few levels at quality 95; a bad path is an error.
START_TEST(test_jpeg_write_roundtrip) {
    char dir[] = "/tmp/am_jpw_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.jpg", dir);
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 3];
    for (int C = 1; C <= 3; C += 2) {
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) px[(y * W + x) * C + c] = (uint8_t)(20 + 3 * x + 2 * y + 30 * c);
        ck_assert_msg(am_jpeg_write(path, px, W, H, C, 95) == 0, "%s", am_error());
        int w, h, worst = 0;
        uint8_t *got = am_image_read(path, C, &w, &h);
        ck_assert_msg(got != NULL, "%s", am_error());
        ck_assert(w == W && h == H);
        for (int i = 0; i < W * H * C; i++) {
            int d = abs(got[i] - px[i]);
            if (d > worst) worst = d;
        }
        ck_assert_msg(worst <= 4, "%d channel(s): off by %d levels", C, worst);
        free(got);
    }
    unlink(path);
    rmdir(dir);
    ck_assert_int_eq(am_jpeg_write(path, px, W, H, 3, 95), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), path));
}
END_TEST

Suite *suite_data(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("images");
    tcase_add_test(tc, test_resize_matches_pillow);
    tcase_add_test(tc, test_jpeg_matches_pillow);
    tcase_add_test(tc, test_png_variants);
    tcase_add_test(tc, test_png_gray_replicated);
    tcase_add_test(tc, test_bad_images);
    tcase_add_test(tc, test_jpeg_write_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
