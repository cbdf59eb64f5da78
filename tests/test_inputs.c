// The inputs module: FITS through cfitsio against astropy's pixels
// (golden/fits_raw.bin), the stretches and the whole preprocessing against
// the Python tool's (fitsbolt's) on the same files (golden/stretch.bin),
// astropy's zscale limits (golden/zscale.bin), bad FITS files, the
// preprocessing text of the weight file, and band combination.
// tests/ref/make_fits_goldens.py writes the fixtures and goldens.
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/error.h"
#include "am/fits.h"
#include "am/inputs.h"
#include "am/stretch.h"
#include "test.h"

// ---- reading the golden files ---------------------------------------------

typedef struct {
    const unsigned char *p, *end;
} rd;

static uint32_t u32(rd *r) {
    ck_assert(r->p + 4 <= r->end);
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static float f32(rd *r) {
    uint32_t u = u32(r);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static double f64(rd *r) {
    ck_assert(r->p + 8 <= r->end);
    double v;
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static void str(rd *r, char *out, size_t cap) {
    uint32_t n = u32(r);
    ck_assert(n < cap && r->p + n <= r->end);
    memcpy(out, r->p, n);
    out[n] = 0;
    r->p += n;
}

static const void *bytes(rd *r, size_t n) {
    ck_assert(r->p + n <= r->end);
    const void *v = r->p;
    r->p += n;
    return v;
}

// n floats at the read position, copied out (the file's floats are not aligned).
static float *floats(rd *r, size_t n) {
    float *v = malloc(sizeof(float) * (n ? n : 1));
    memcpy(v, bytes(r, sizeof(float) * n), sizeof(float) * n);
    return v;
}

static rd open_golden(const char *path, const char *magic, char **buf, uint32_t *count) {
    size_t n = 0;
    *buf = test_read_file(path, &n);
    rd r = {(const unsigned char *)*buf, (const unsigned char *)*buf + n};
    ck_assert_msg(n >= 8 && !memcmp(*buf, magic, 4), "%s: not a %s file", path, magic);
    r.p += 4;
    *count = u32(&r);
    return r;
}

// ---- the FITS reader against astropy -----------------------------------

START_TEST(test_fits_pixels_as_astropy) {
    char *buf;
    uint32_t count;
    rd r = open_golden("golden/fits_raw.bin", "AMFR", &buf, &count);
    for (uint32_t k = 0; k < count; k++) {
        char file[256], ext[64], what[400];
        str(&r, file, sizeof file);
        str(&r, ext, sizeof ext);
        uint32_t w = u32(&r), h = u32(&r), planes = u32(&r), type = u32(&r);
        float *ref = floats(&r, (size_t)w * h * planes);
        size_t n = 0;
        char *mem = test_read_file(file, &n);
        for (int from_memory = 0; from_memory < 2; from_memory++) {
            float *px = NULL;
            int gw, gh, gp;
            am_sample_type gt;
            int rc = am_fits_read(file, from_memory ? mem : NULL, n, ext, &px, &gw, &gh, &gp, &gt);
            ck_assert_msg(rc == 0, "%s[%s]: %s", file, ext, am_error());
            ck_assert_msg(gw == (int)w && gh == (int)h && gp == (int)planes, "%s[%s]: %dx%dx%d, astropy %ux%ux%u", file,
                          ext, gw, gh, gp, w, h, planes);
            ck_assert_msg((uint32_t)gt == type, "%s[%s]: sample type %d, astropy's %u", file, ext, gt, type);
            snprintf(what, sizeof what, "%s[%s] %s", file, ext, from_memory ? "from memory" : "from the file");
            // astropy and cfitsio both scale in double and round once to float32.
            ck_assert(cmp_close(what, px, ref, (size_t)w * h * planes, 0, 0).ok);
            free(px);
        }
        free(mem);
        free(ref);
    }
    free(buf);
}
END_TEST

// ---- the whole preprocessing against the Python tool --------------------

// Each case: am_input_load of the fixture with the case's preprocessing,
// against fitsbolt's bytes; within 1 DN (float32 against float64 sums and
// rint at the .5 boundaries), worst case printed.
START_TEST(test_stretch_as_python_tool) {
    char *buf;
    uint32_t count;
    rd r = open_golden("golden/stretch.bin", "AMSG", &buf, &count);
    size_t total = 0, off = 0;
    double worst = -1;
    char worst_label[400] = "-";
    for (uint32_t k = 0; k < count; k++) {
        char label[400], file[256], ext[64];
        str(&r, label, sizeof label);
        str(&r, file, sizeof file);
        str(&r, ext, sizeof ext);
        am_preprocess p;
        am_preprocess_defaults(&p, 0, 0);
        p.stretch.kind = (int)u32(&r);
        p.stretch.asinh_scale = f32(&r);
        p.stretch.clip = f32(&r);
        p.stretch.clip_samples = (int)u32(&r);
        p.stretch.log_a = f32(&r);
        p.size = (int)u32(&r);
        p.channels = (int)u32(&r);
        p.bands = (int)u32(&r);
        for (int i = 0; i < p.bands * p.channels; i++) p.combine[i] = f32(&r);
        snprintf(p.fits_ext, sizeof p.fits_ext, "%s", ext);
        size_t n = (size_t)p.size * p.size * p.channels;
        const uint8_t *ref = bytes(&r, n);
        uint8_t *got = AM_MALLOC(n);
        ck_assert_msg(am_input_load(got, file, &p) == 0, "%s: %s", label, am_error());
        cmp_result one = {0};
        for (size_t i = 0; i < n; i++) {
            cmp_add(&one, label, i, got[i], ref[i], 1.0);
            off += got[i] != ref[i];
        }
        total += n;
        ck_assert(cmp_end(&one, label));
        if (one.pct > worst) {
            worst = one.pct;
            snprintf(worst_label, sizeof worst_label, "%s", label);
        }
        free(got);
    }
    fprintf(stderr, "stretch goldens: %u cases, %zu of %zu bytes differ by 1 DN; worst %.0f%% of 1 DN (%s)\n", count,
            off, total, worst, worst_label);
    free(buf);
}
END_TEST

// astropy's ZScaleInterval: the limits of am_zscale_limits within 1e-6 of
// the limits' span (a double line fit by sums against numpy's lstsq;
// measured worst 7.9e-8 of the span, 2026-12-05).
START_TEST(test_zscale_as_astropy) {
    char *buf;
    uint32_t count;
    rd r = open_golden("golden/zscale.bin", "AMZS", &buf, &count);
    double worst = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t n = u32(&r), ns = u32(&r);
        float contrast = f32(&r);
        double lo = f64(&r), hi = f64(&r);
        float *v = floats(&r, n);
        am_stretch s;
        am_stretch_defaults(&s);
        s.zs_samples = (int)ns;
        s.zs_contrast = contrast;
        double a, b;
        am_zscale_limits(v, n, &s, &a, &b);
        char what[64];
        snprintf(what, sizeof what, "zscale case %u (n %u)", k, n);
        cmp_result c = {0};
        double tol = 1e-6 * fmax(hi - lo, 1e-30);
        cmp_add(&c, "vmin", 0, a, lo, tol);
        cmp_add(&c, "vmax", 1, b, hi, tol);
        ck_assert(cmp_end(&c, what));
        worst = fmax(worst, c.pct);
        free(v);
    }
    fprintf(stderr, "zscale goldens: %u cases, worst %.3g%% of the tolerance\n", count, worst);
    free(buf);
}
END_TEST

// ---- bad FITS files ----------------------------------------------------

static void expect_fail(const char *path, const char *ext, const char *needle) {
    am_preprocess p;
    am_preprocess_defaults(&p, 32, 1);
    p.stretch.kind = AM_STRETCH_ASINH;
    if (ext) snprintf(p.fits_ext, sizeof p.fits_ext, "%s", ext);
    uint8_t out[32 * 32];
    ck_assert_msg(am_input_load(out, path, &p) == -1, "%s[%s] was accepted", path, ext ? ext : "");
    ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), needle), "%s: message '%s' lacks '%s'", path,
                  am_error(), needle);
}

START_TEST(test_fits_bad_files) {
    expect_fail("data/fits/truncated.fits", NULL, "truncated");
    expect_fail("data/fits/bad_header.fits", NULL, "FITS");
    expect_fail("data/fits/bad_bitpix.fits", NULL, "FITS");
    expect_fail("data/fits/all_nan.fits", NULL, "no finite pixel");
    expect_fail("data/fits/sizes.fits", "A,B", "one size");
    expect_fail("data/fits/mef.fits", "NOPE", "no HDU named 'NOPE'");
    expect_fail("data/fits/mef.fits", "9", "HDUs 0..3");
    expect_fail("data/fits/mef.fits", "G,R", "--combine");  // 2 bands into 1 channel
    expect_fail("data/fits/cube.fits", NULL, "--combine");
    expect_fail("data/fits/missing.fits", NULL, "cannot open");
    // "[EXT]" after an existing file's name picks the HDU.
    am_preprocess p;
    am_preprocess_defaults(&p, 32, 1);
    uint8_t a[32 * 32], b[32 * 32];
    ck_assert_msg(am_input_load(a, "data/fits/mef.fits[R]", &p) == 0, "%s", am_error());
    snprintf(p.fits_ext, sizeof p.fits_ext, "2");
    ck_assert_msg(am_input_load(b, "data/fits/mef.fits", &p) == 0, "%s", am_error());
    ck_assert(!memcmp(a, b, sizeof a));
    snprintf(p.fits_ext, sizeof p.fits_ext, "1");
    ck_assert_msg(am_input_load(b, "data/fits/mef.fits", &p) == 0, "%s", am_error());
    ck_assert(memcmp(a, b, sizeof a));
}
END_TEST

// An object stored one file per band ("obj_{band}.fits", bands g,r) gives
// the bytes of the same bands as two HDUs of one file; a missing band file,
// bands of two sizes and an empty band list are refused, named.
START_TEST(test_band_files) {
    for (int st = 0; st < AM_STRETCH_COUNT; st++) {
        am_preprocess p;
        am_preprocess_defaults(&p, 24, 3);
        p.stretch.kind = st;
        ck_assert(am_combine_parse(&p, "1,0;0.5,0.5;0,1") == 0);
        uint8_t a[24 * 24 * 3], b[24 * 24 * 3];
        snprintf(p.fits_ext, sizeof p.fits_ext, "G,R");
        ck_assert_msg(am_input_load(a, "data/fits/mef.fits", &p) == 0, "%s", am_error());
        p.fits_ext[0] = 0;
        snprintf(p.band_names, sizeof p.band_names, "g,r");
        ck_assert_msg(am_input_load(b, "data/fits/obj_{band}.fits", &p) == 0, "%s", am_error());
        ck_assert_msg(!memcmp(a, b, sizeof a), "stretch %s: per-band files differ from the HDUs", am_stretch_name(st));
    }
    am_preprocess p;
    am_preprocess_defaults(&p, 24, 1);
    uint8_t out[24 * 24];
    snprintf(p.band_names, sizeof p.band_names, "g,i");
    ck_assert_int_eq(am_input_load(out, "data/fits/obj_{band}.fits", &p), -1);
    ck_assert_msg(strstr(am_error(), "obj_i.fits"), "%s", am_error());
    snprintf(p.band_names, sizeof p.band_names, "g,r");
    ck_assert_int_eq(am_input_load(out, "data/fits/obj_{band}.fits", &p), -1);  // 2 bands, 1 channel
    ck_assert_msg(strstr(am_error(), "--combine"), "%s", am_error());
    ck_assert(am_combine_parse(&p, "0.5,0.5") == 0);
    ck_assert_msg(am_input_load(out, "data/fits/obj_{band}.fits", &p) == 0, "%s", am_error());
    snprintf(p.band_names, sizeof p.band_names, "all_nan,obj_g");  // 20 x 20 and 32 x 32
    ck_assert_int_eq(am_input_load(out, "data/fits/{band}.fits", &p), -1);
    ck_assert_msg(strstr(am_error(), "obj_g.fits") && strstr(am_error(), "one size"), "%s", am_error());
    p.band_names[0] = 0;
    ck_assert_int_eq(am_input_load(out, "data/fits/obj_{band}.fits", &p), -1);
    ck_assert_msg(strstr(am_error(), "--bands"), "%s", am_error());
    // The format family: of a file, of a per-band object's first file; a
    // model trained on one family refuses files of another, named.
    char fam[16];
    snprintf(p.band_names, sizeof p.band_names, "g,r");
    ck_assert(am_input_format("data/fits/obj_{band}.fits", &p, fam) == 0 && !strcmp(fam, "fits"));
    ck_assert(am_input_format("../data/samples/coffee.png", &p, fam) == 0 && !strcmp(fam, "png/jpeg"));
    ck_assert(am_input_format("data/tiff/u8_gray.tif", &p, fam) == 0 && !strcmp(fam, "tiff"));
    snprintf(p.format, sizeof p.format, "fits");
    ck_assert_msg(am_input_load(out, "data/fits/obj_{band}.fits", &p) == 0, "%s", am_error());
    ck_assert_int_eq(am_input_load(out, "../data/samples/coffee.png", &p), -1);
    ck_assert_msg(strstr(am_error(), "coffee.png' is png/jpeg but the model was trained on fits"), "%s", am_error());
    snprintf(p.format, sizeof p.format, "tiff");
    ck_assert_int_eq(am_input_load(out, "data/fits/obj_{band}.fits", &p), -1);
    ck_assert_msg(strstr(am_error(), "obj_g.fits' is fits"), "%s", am_error());
}
END_TEST

// A directory of objects one file per band: listed as objects (NAME from
// NAME_g.EXT, the first band's), other bands' and stray files left aside,
// each object loading as its bands; a file list's {band} lines stay.
START_TEST(test_band_listing) {
    char dir[] = "/tmp/am_bands_XXXXXX", path[256], src[PATH_MAX];
    ck_assert(mkdtemp(dir));
    const char *links[][2] = {{"obj_g.fits", "a_g.fits"}, {"obj_r.fits", "a_r.fits"}, {"obj_g.fits", "b_g.fits"},
                              {"obj_r.fits", "b_r.fits"}, {"u8.fits", "stray.fits"}, {"u8.fits", "c_r.fits"}};
    for (size_t k = 0; k < 6; k++) {
        ck_assert(realpath("data/fits", src));
        snprintf(path, sizeof path, "%s/%s", dir, links[k][1]);
        char target[PATH_MAX + 64];
        snprintf(target, sizeof target, "%s/%s", src, links[k][0]);
        ck_assert(symlink(target, path) == 0);
    }
    am_dataset d;
    ck_assert(am_dataset_list(&d, dir, 0) == 0 && d.n == 6);
    ck_assert_msg(am_dataset_bands(&d, "g,r") == 0, "%s", am_error());
    ck_assert_int_eq(d.n, 2);
    ck_assert_str_eq(d.names[0], "a");
    ck_assert_str_eq(d.names[1], "b");
    snprintf(path, sizeof path, "%s/b_{band}.fits", dir);
    ck_assert_str_eq(d.paths[1], path);
    am_preprocess p;
    am_preprocess_defaults(&p, 24, 1);
    snprintf(p.band_names, sizeof p.band_names, "g,r");
    ck_assert(am_combine_parse(&p, "0.5,0.5") == 0);
    uint8_t a[24 * 24], b[24 * 24];
    ck_assert_msg(am_input_load(a, d.paths[0], &p) == 0, "%s", am_error());
    ck_assert(am_input_load(b, "data/fits/obj_{band}.fits", &p) == 0 && !memcmp(a, b, sizeof a));
    am_dataset_free(&d);
    ck_assert(am_dataset_list(&d, dir, 0) == 0);
    ck_assert_int_eq(am_dataset_bands(&d, "x,y"), -1);
    ck_assert_msg(strstr(am_error(), "NAME_x.EXT"), "%s", am_error());
    am_dataset_free(&d);
    // A file list: a {band} line is an object, named before "_{band}".
    snprintf(path, sizeof path, "%s/list.txt", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s/a_{band}.fits\n%s/stray.fits\n", dir, dir);
    fclose(f);
    ck_assert(am_dataset_list(&d, path, 0) == 0 && d.n == 2);
    ck_assert(am_dataset_bands(&d, "g,r") == 0 && d.n == 1);
    ck_assert_str_eq(d.names[0], "a");
    am_dataset_free(&d);
    ck_assert_uint_eq(am_object_name_len("obj-{band}.fit"), 3);
    ck_assert_uint_eq(am_object_name_len("{band}.fits"), 11);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

// Four threads reading and stretching the same files at once give each
// file's single-thread bytes.
#define NT 4
static const char *thread_files[] = {"data/fits/f32_nan.fits", "data/fits/comp.fits.fz", "data/fits/mef.fits",
                                     "data/fits/i16_scaled.fits"};

static void *thread_load(void *arg) {
    uint8_t *out = arg;
    am_preprocess p;
    am_preprocess_defaults(&p, 32, 1);
    p.stretch.kind = AM_STRETCH_ZSCALE;
    for (int rep = 0; rep < 20; rep++)
        for (int f = 0; f < 4; f++)
            if (am_input_load(out + f * 1024, thread_files[f], &p)) out[4 * 1024] = 1;
    return NULL;
}

START_TEST(test_fits_threads) {
    uint8_t ref[4 * 1024 + 1] = {0}, got[NT][4 * 1024 + 1];
    memset(got, 0, sizeof got);
    thread_load(ref);
    ck_assert(!ref[4 * 1024]);
    pthread_t t[NT];
    for (int i = 0; i < NT; i++) pthread_create(&t[i], NULL, thread_load, got[i]);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < NT; i++) ck_assert(!memcmp(ref, got[i], sizeof ref));
}
END_TEST

// ---- the preprocessing text and the combination --------------------------

START_TEST(test_preprocess_text) {
    am_preprocess a, b;
    am_preprocess_defaults(&a, 150, 3);
    a.stretch.kind = AM_STRETCH_ASINH;
    a.stretch.asinh_scale = 0.123456789f;
    a.stretch.clip = 99.5f;
    snprintf(a.fits_ext, sizeof a.fits_ext, "G,R");
    snprintf(a.band_names, sizeof a.band_names, "g,r");
    snprintf(a.format, sizeof a.format, "fits");
    ck_assert(am_combine_parse(&a, "1,0; 0.5,0.5 ;0,1") == 0);
    char text[2048], what[256];
    am_preprocess_text(&a, text, sizeof text);
    ck_assert_msg(am_preprocess_parse(&b, text, "t") == 0, "%s", am_error());
    ck_assert_msg(!am_preprocess_diff(&a, &b, what, sizeof what), "round trip differs: %s", what);
    ck_assert(!memcmp(&a.stretch, &b.stretch, sizeof a.stretch) && !memcmp(a.combine, b.combine, sizeof a.combine));
    ck_assert(!strcmp(b.band_names, "g,r") && !strcmp(b.format, "fits") && !strcmp(b.fits_ext, "G,R"));
    b.stretch.clip = 99.8f;
    ck_assert(am_preprocess_diff(&a, &b, what, sizeof what) == 1);
    ck_assert_msg(!strcmp(what, "clip = 99.5 vs clip = 99.8000031"), "%s", what);
    // An older am's text: size and channels only; the rest are defaults.
    ck_assert(am_preprocess_parse(&b, "size = 64\nchannels = 1\n", "old") == 0);
    ck_assert(b.size == 64 && b.channels == 1 && b.stretch.kind == AM_STRETCH_NONE && !b.bands);
    // A newer am's key, bad values and damaged text are refused, named.
    const char *bad[] = {"size = 64\nchannels = 1\nsharpen = 2\n", "size = 64\nchannels = 1\nstretch = sqrt\n",
                         "size = 64\nchannels = 1\nclip = 120\n", "size = 64\nchannels = 17\n",
                         "size = 64\nchannels = 3\ncombine = 1,0\n", "size = x\nchannels = 3\n", "channels = 3\n",
                         "size = 64\nchannels = 1\nzscale_samples = 1.5\n", "size = 64\nchannels = 1\nformat = gif\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(am_preprocess_parse(&b, bad[i], "model.amw") == -1, "accepted: %s", bad[i]);
        ck_assert_msg(strstr(am_error(), "model.amw"), "%s", am_error());
    }
    // The combination: rows, weights, and rows summing over 1 divided by their sum.
    am_preprocess_defaults(&a, 32, 3);
    ck_assert(am_combine_parse(&a, "2,0;1,1;0,0.5") == 0);
    ck_assert(a.bands == 2 && a.combine[0] == 1 && a.combine[2] == 0.5f && a.combine[5] == 0.5f);
    const char *badc[] = {"1,0;0,1", "1,0;0,1;1", "1,x;0,1;1,1", "1;;1", "1,0;0,1;1,1;", "nan;1;1"};
    for (size_t i = 0; i < sizeof badc / sizeof badc[0]; i++)
        ck_assert_msg(am_combine_parse(&a, badc[i]) == -1, "accepted: %s", badc[i]);
}
END_TEST

// A stretch on PNG input: the float path from the decoded bytes; stretch
// none keeps Pillow's 8-bit path (byte-exact with am_image_load).
START_TEST(test_png_through_stretch) {
    am_preprocess p;
    am_preprocess_defaults(&p, 40, 3);
    uint8_t a[40 * 40 * 3], b[40 * 40 * 3];
    ck_assert(am_input_load(a, "../data/samples/coffee.png", &p) == 0);
    p.stretch.kind = AM_STRETCH_LINEAR;
    ck_assert_msg(am_input_load(b, "../data/samples/coffee.png", &p) == 0, "%s", am_error());
    // Different resamplers (Pillow's bilinear against OpenCV's area), same picture.
    double d = 0;
    for (size_t i = 0; i < sizeof a; i++) d += fabs((double)a[i] - b[i]);
    ck_assert_msg(d / sizeof a < 12, "mean difference %.1f DN", d / sizeof a);
}
END_TEST

Suite *suite_inputs(void) {
    Suite *s = suite_create("inputs");
    TCase *tc = tcase_create("fits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fits_pixels_as_astropy);
    tcase_add_test(tc, test_stretch_as_python_tool);
    tcase_add_test(tc, test_zscale_as_astropy);
    tcase_add_test(tc, test_fits_bad_files);
    tcase_add_test(tc, test_fits_threads);
    tcase_add_test(tc, test_band_files);
    tcase_add_test(tc, test_band_listing);
    tcase_add_test(tc, test_preprocess_text);
    tcase_add_test(tc, test_png_through_stretch);
    suite_add_tcase(s, tc);
    return s;
}
