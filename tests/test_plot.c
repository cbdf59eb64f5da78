// PNG writing, the canvas and its font, and the plot writers: round trips
// through am_png_read, glyph boxes, errors naming the path.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/image.h"
#include "am/plot.h"
#include "test.h"

static char dir[] = "/tmp/am_plot_XXXXXX";

static void setup(void) { ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/am_plot_XXXXXX"))); }

static void teardown(void) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static int files_in_dir(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static const uint8_t *px(const am_canvas *c, int x, int y) { return c->px + ((size_t)y * c->w + x) * 3; }
static int inked(const am_canvas *c, int x, int y) { return px(c, x, y)[0] != 255; }

START_TEST(test_png_roundtrip) {
    char path[256];
    for (int ch = 1; ch <= 3; ch += 2) {
        int w = 7, h = 5;
        uint8_t img[7 * 5 * 3];
        for (int i = 0; i < w * h * ch; i++) img[i] = (uint8_t)(i * 37 + 11);
        snprintf(path, sizeof path, "%s/rt%d.png", dir, ch);
        ck_assert_msg(am_png_write(path, img, w, h, ch) == 0, "%s", am_error());
        int rw, rh;
        uint8_t *back = am_png_read(path, ch, &rw, &rh);
        ck_assert_ptr_nonnull(back);
        ck_assert(rw == w && rh == h);
        ck_assert_int_eq(memcmp(back, img, (size_t)(w * h * ch)), 0);
        free(back);
    }
    ck_assert_int_eq(files_in_dir(), 2);  // no temporaries left behind
    ck_assert_int_eq(am_png_write(path, (const uint8_t *)"x", 1, 1, 2), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), path));
}
END_TEST

START_TEST(test_png_write_errors) {
    uint8_t img[4] = {0};
    const char *bad = "/nonexistent_am_dir/sub/out.png";
    ck_assert_int_eq(am_png_write(bad, img, 2, 2, 1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), bad));
    ck_assert_int_eq(am_plot_curve_png(bad, "t", "x", "y", (double[]){0, 1}, (double[]){0, 1}, 2, "L", 1, -1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), bad));
    const uint8_t *ims[1] = {img};
    ck_assert_int_eq(am_image_grid_png(bad, ims, NULL, 1, 1, 2, 2, 1, 1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), bad));
}
END_TEST

START_TEST(test_font_glyphs) {
    // every printable glyph but the space has ink, and no two are the same
    for (int a = 33; a < 127; a++) {
        const uint8_t *g = am_font_glyph(a, NULL);
        int ink = 0;
        for (int r = 0; r < AM_FONT_H; r++) ink |= g[r];
        ck_assert_msg(ink, "glyph '%c' is empty", a);
        ck_assert_msg((ink & ~0x1f) == 0, "glyph '%c' is wider than 5", a);
        for (int b = 32; b < a; b++)
            ck_assert_msg(memcmp(g, am_font_glyph(b, NULL), AM_FONT_H), "glyphs '%c' and '%c' are the same", a, b);
    }
    ck_assert(am_font_glyph(200, NULL) == am_font_glyph('?', NULL));
    // a glyph drawn at scale 2 inks pixels only inside its box
    for (int scale = 1; scale <= 3; scale++) {
        am_canvas c;
        am_canvas_init(&c, 40, 40, 0xffffff);
        int x = 5, y = 6, n = 0;
        am_canvas_text(&c, x, y, "g", 0x000000, scale, 0);
        for (int j = 0; j < c.h; j++)
            for (int i = 0; i < c.w; i++)
                if (inked(&c, i, j)) {
                    n++;
                    ck_assert(i >= x && i < x + AM_FONT_W * scale && j >= y && j < y + am_text_height(scale));
                }
        ck_assert(n > 0 && n % (scale * scale) == 0);
        am_canvas_free(&c);
    }
    ck_assert_int_eq(am_text_width("abc", 2), (3 * AM_FONT_ADVANCE - 1) * 2);
    ck_assert_int_eq(am_text_width("", 2), 0);
}
END_TEST

START_TEST(test_vertical_text) {
    am_canvas c;
    am_canvas_init(&c, 30, 60, 0xffffff);
    const char *s = "Lp";
    int x = 4, y = 3, w = am_text_width(s, 1), n = 0;
    am_canvas_text(&c, x, y, s, 0x000000, 1, 1);
    for (int j = 0; j < c.h; j++)
        for (int i = 0; i < c.w; i++)
            if (inked(&c, i, j)) {
                n++;
                ck_assert(i >= x && i < x + am_text_height(1) && j >= y && j < y + w);
            }
    // 'L' reads upwards: its vertical stroke becomes the bottom row of its part
    ck_assert(n > 0);
    ck_assert(inked(&c, x, y + w - 1) && inked(&c, x + AM_FONT_H - 1, y + w - 1));
    am_canvas_free(&c);
}
END_TEST

START_TEST(test_canvas_draw) {
    am_canvas c;
    am_canvas_init(&c, 20, 10, 0xffffff);
    am_canvas_line(&c, 1, 1, 18, 8, 0xff0000, 1, 0);
    ck_assert(px(&c, 1, 1)[0] == 255 && px(&c, 1, 1)[1] == 0 && px(&c, 18, 8)[1] == 0);
    am_canvas_line(&c, 0, 0, 19, 0, 0x0000ff, 1, 3);  // dashed: 3 on, 3 off
    ck_assert(px(&c, 0, 0)[2] == 255 && px(&c, 0, 0)[0] == 0 && px(&c, 4, 0)[0] == 255 && px(&c, 6, 0)[0] == 0);
    am_canvas_rect(&c, -5, -5, 100, 9, 0x00ff00);  // clipped: rows 0..3
    ck_assert(px(&c, 19, 0)[1] == 255 && px(&c, 19, 0)[0] == 0 && px(&c, 19, 3)[0] == 0 && px(&c, 19, 4)[0] == 255);
    const uint8_t img[4] = {10, 20, 30, 40};
    am_canvas_blit(&c, 2, 4, 4, 4, img, 2, 2, 1);
    ck_assert(px(&c, 2, 4)[0] == 10 && px(&c, 3, 5)[2] == 10 && px(&c, 4, 4)[1] == 20 && px(&c, 2, 6)[0] == 30 &&
              px(&c, 5, 7)[0] == 40);
    am_canvas_blit(&c, 18, 8, 4, 4, img, 2, 2, 1);  // partly outside: clipped
    ck_assert(px(&c, 19, 9)[0] == 10);
    am_canvas_free(&c);
}
END_TEST

static uint8_t *read_back(const char *name, int *w, int *h) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *p = am_png_read(path, 3, w, h);
    ck_assert_msg(p != NULL, "%s", am_error());
    return p;
}

static int distinct_colours(const uint8_t *p, int n) {
    int k = 0;
    uint32_t seen[64];
    for (int i = 0; i < n && k < 64; i++) {
        uint32_t v = (uint32_t)p[3 * i] << 16 | (uint32_t)p[3 * i + 1] << 8 | p[3 * i + 2];
        int j = 0;
        while (j < k && seen[j] != v) j++;
        if (j == k) seen[k++] = v;
    }
    return k;
}

START_TEST(test_plots) {
    char path[256];
    double x[50], y[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i / 49.0;
        y[i] = 1.0 - (1.0 - x[i]) * (1.0 - x[i]);
    }
    snprintf(path, sizeof path, "%s/roc.png", dir);
    ck_assert_msg(am_plot_curve_png(path, "ROC", "false positive rate", "true positive rate", x, y, 50,
                                    "AUROC 0.667", 1, -1) == 0, "%s", am_error());
    float s[300];
    int lab[300];
    for (int i = 0; i < 300; i++) {
        s[i] = (float)((i * 37) % 100) / 100.0f;
        lab[i] = i % 3 == 0 ? 1 : i % 3 == 1 ? 0 : -1;
    }
    snprintf(path, sizeof path, "%s/hist.png", dir);
    ck_assert_msg(am_plot_hist_png(path, "scores", s, lab, 300, 20) == 0, "%s", am_error());
    int w, h;
    uint8_t *p = read_back("roc.png", &w, &h);
    ck_assert(w == 560 && h == 500 && distinct_colours(p, w * h) >= 4);
    free(p);
    p = read_back("hist.png", &w, &h);
    ck_assert(w == 640 && h == 460 && distinct_colours(p, w * h) >= 5);
    free(p);
    ck_assert_int_eq(am_plot_curve_png(path, "t", "x", "y", x, y, 0, NULL, 0, -1), -1);
    ck_assert_int_eq(am_plot_hist_png(path, "t", s, lab, 300, 0), -1);
}
END_TEST

START_TEST(test_image_grid) {
    uint8_t a[8 * 8], b[8 * 8 * 3];
    for (int i = 0; i < 64; i++) a[i] = (uint8_t)(i * 4);
    for (int i = 0; i < 192; i++) b[i] = (uint8_t)(255 - i);
    const uint8_t *gray[5] = {a, a, a, a, a}, *rgb[2] = {b, b};
    const char *caps[5] = {"0.99 anomaly", NULL, "c", "a caption far too long for the cell", "e"};
    char path[256];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    ck_assert_msg(am_image_grid_png(path, gray, caps, 5, 3, 8, 8, 1, 2) == 0, "%s", am_error());
    int w, h;
    uint8_t *p = read_back("grid.png", &w, &h);
    int cap = am_text_height(1) + 4;
    ck_assert_int_eq(w, 3 * (16 + 6) + 6);
    ck_assert_int_eq(h, 2 * (16 + cap + 6) + 6);
    for (int j = 0; j < 16; j++)  // cell 4 (row 1, column 1) holds image a at scale 2
        for (int i = 0; i < 16; i++) {
            int X = 6 + 22 + i, Y = 6 + (16 + cap + 6) + j;
            ck_assert_int_eq(p[3 * (Y * w + X)], a[(j / 2) * 8 + i / 2]);
        }
    free(p);
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    ck_assert_int_eq(am_image_grid_png(path, rgb, NULL, 2, 4, 8, 8, 3, 1), 0);
    p = read_back("rgb.png", &w, &h);
    ck_assert(w == 2 * (8 + 6) + 6 && h == 8 + 12);
    ck_assert(p[3 * (6 * w + 6)] == 255 && p[3 * (6 * w + 6) + 1] == 254 && p[3 * (6 * w + 6) + 2] == 253);
    free(p);
    // Two bands show as (first, their mean rounded up, second).
    ck_assert_int_eq(am_image_grid_png(path, rgb, NULL, 1, 1, 8, 8, 2, 1), 0);
    p = read_back("rgb.png", &w, &h);
    const uint8_t *s = rgb[0];
    ck_assert(p[3 * (6 * w + 6)] == s[0] && p[3 * (6 * w + 6) + 1] == (s[0] + s[1] + 1) / 2 &&
              p[3 * (6 * w + 6) + 2] == s[1]);
    free(p);
    ck_assert_int_eq(am_image_grid_png(path, rgb, NULL, 2, 4, 8, 8, 17, 1), -1);
    ck_assert_int_eq(am_image_grid_png(path, rgb, NULL, 0, 4, 8, 8, 3, 1), -1);
}
END_TEST

Suite *suite_plot(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("png_canvas_plots");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_png_roundtrip);
    tcase_add_test(tc, test_png_write_errors);
    tcase_add_test(tc, test_font_glyphs);
    tcase_add_test(tc, test_vertical_text);
    tcase_add_test(tc, test_canvas_draw);
    tcase_add_test(tc, test_plots);
    tcase_add_test(tc, test_image_grid);
    suite_add_tcase(s, tc);
    return s;
}
