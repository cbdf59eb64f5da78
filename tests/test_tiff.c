// The TIFF reader (src/data/tiff.c): the tifffile fixtures of
// tests/ref/make_tiff_fixtures.py (every sample type, pages as channels,
// separate planes, tiles, deflate with predictor, big-endian) equal their
// golden exactly from a path and from memory; mismatched pages, a truncated
// file, palette and bilevel images, a missing file and non-TIFF bytes fail
// with a message naming the file; TIFFs written here check the limits (16
// channels, the pixel count); four threads read at once.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/image.h"
#include "am/tiff.h"
#include "test.h"

#define DIR "data/tiff/"

// ---- the golden (tests/golden/tiff.bin, see make_tiff_fixtures.py) ----------

typedef struct {
    char name[64];
    uint32_t w, h, planes, type;
    float *px;  // (h, w, planes)
} golden;

#define MAX_GOLDEN 32
static golden gold[MAX_GOLDEN];
static int ngold;

static uint32_t take_u32(const char *b, size_t n, size_t *at) {
    ck_assert_msg(*at + 4 <= n, "tiff.bin is cut short");
    uint32_t v;
    memcpy(&v, b + *at, 4);
    *at += 4;
    return v;
}

static void load_golden(void) {
    size_t n = 0, at = 4;
    char *b = test_read_file("golden/tiff.bin", &n);
    ck_assert_msg(n >= 8 && !memcmp(b, "AMTF", 4), "golden/tiff.bin: bad magic");
    ngold = (int)take_u32(b, n, &at);
    ck_assert_int_le(ngold, MAX_GOLDEN);
    for (int i = 0; i < ngold; i++) {
        golden *g = &gold[i];
        uint32_t len = take_u32(b, n, &at);
        ck_assert(len < sizeof g->name && at + len <= n);
        memcpy(g->name, b + at, len);
        g->name[len] = 0;
        at += len;
        g->w = take_u32(b, n, &at);
        g->h = take_u32(b, n, &at);
        g->planes = take_u32(b, n, &at);
        g->type = take_u32(b, n, &at);
        size_t m = (size_t)g->w * g->h * g->planes;
        ck_assert(at + 4 * m <= n);
        g->px = malloc(4 * m);
        memcpy(g->px, b + at, 4 * m);
        at += 4 * m;
    }
    ck_assert_uint_eq(at, n);
    free(b);
}

static void free_golden(void) {
    for (int i = 0; i < ngold; i++) free(gold[i].px);
    ngold = 0;
}

static const char *path_of(const char *name) {  // per thread: the threads test shares it
    static _Thread_local char p[4][4096];
    static _Thread_local int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], DIR "%s", name);
    return p[k];
}

// ---- helpers ---------------------------------------------------------------

typedef struct {
    float *px;
    int w, h, planes;
    am_sample_type type;
} image;

static int read_tiff(image *im, const char *path, int from_memory) {
    memset(im, 0, sizeof *im);
    if (!from_memory) return am_tiff_read(path, NULL, 0, &im->px, &im->w, &im->h, &im->planes, &im->type);
    size_t n = 0;
    char *b = test_read_file(path, &n);
    int rc = am_tiff_read(path, b, n, &im->px, &im->w, &im->h, &im->planes, &im->type);
    free(b);
    return rc;
}

static void check_golden(const golden *g, const image *im, const char *how) {
    char what[160];
    snprintf(what, sizeof what, "%s (%s)", g->name, how);
    ck_assert_msg(im->w == (int)g->w && im->h == (int)g->h && im->planes == (int)g->planes,
                  "%s: %d x %d x %d, expected %u x %u x %u", what, im->w, im->h, im->planes, g->w, g->h, g->planes);
    ck_assert_msg((uint32_t)im->type == g->type, "%s: type %d, expected %u", what, im->type, g->type);
    cmp_result r = cmp_close(what, im->px, g->px, (size_t)g->w * g->h * g->planes, 0, 0);
    ck_assert_msg(r.ok, "%s: element %zu is %g, expected %g", what, r.at, r.got, r.ref);
}

static void refused(const char *path, int from_memory, const char *says) {
    image im;
    ck_assert_msg(read_tiff(&im, path, from_memory) == -1, "%s should be refused", path);
    ck_assert_ptr_null(im.px);
    ck_assert_msg(strstr(am_error(), path) && (!says || strstr(am_error(), says)),
                  "error '%s' should name '%s'%s%s", am_error(), path, says ? " and say " : "", says ? says : "");
}

// A little-endian TIFF of `pages` uint8 gray w x h pages, one strip each:
// page k's samples are all k + 1. stored: the data bytes stored per page
// (w * h for a readable file; fewer keep a page of a huge declared size
// small: its strip then runs past the end).
static uint8_t *craft_tiff(uint32_t w, uint32_t h, int pages, size_t stored, size_t *n) {
    enum { NTAG = 9 };
    size_t ifd = 2 + NTAG * 12 + 4, page = stored + ifd;
    uint8_t *b = calloc(1, 8 + pages * page);
    memcpy(b, "II*\0", 4);
    uint32_t first = (uint32_t)(8 + stored);
    memcpy(b + 4, &first, 4);
    for (int k = 0; k < pages; k++) {
        size_t data = 8 + k * page, at = data + stored;
        memset(b + data, k + 1, stored);
        static const uint16_t tag[NTAG] = {256, 257, 258, 259, 262, 273, 277, 278, 279};
        static const uint16_t typ[NTAG] = {4, 4, 3, 3, 3, 4, 3, 4, 4};
        uint32_t val[NTAG] = {w, h, 8, 1, 1, (uint32_t)data, 1, h, w * h};
        uint16_t cnt = NTAG;
        memcpy(b + at, &cnt, 2);
        for (int t = 0; t < NTAG; t++) {
            uint8_t *e = b + at + 2 + 12 * t;
            uint32_t one = 1;
            memcpy(e, &tag[t], 2);
            memcpy(e + 2, &typ[t], 2);
            memcpy(e + 4, &one, 4);
            memcpy(e + 8, &val[t], 4);  // a SHORT sits in the low 2 bytes (little-endian)
        }
        uint32_t next = k + 1 < pages ? (uint32_t)((k + 1) * page + 8 + stored) : 0;
        memcpy(b + at + 2 + NTAG * 12, &next, 4);
    }
    *n = 8 + pages * page;
    return b;
}

// ---- tests -----------------------------------------------------------------

START_TEST(test_tiff_golden_from_path) {
    ck_assert_int_ge(ngold, 12);
    for (int i = 0; i < ngold; i++) {
        image im;
        const char *p = path_of(gold[i].name);
        ck_assert_msg(read_tiff(&im, p, 0) == 0, "%s: %s", p, am_error());
        check_golden(&gold[i], &im, "path");
        free(im.px);
    }
}
END_TEST

START_TEST(test_tiff_golden_from_memory) {
    for (int i = 0; i < ngold; i++) {
        image im;
        const char *p = path_of(gold[i].name);
        ck_assert_msg(read_tiff(&im, p, 1) == 0, "%s: %s", p, am_error());
        check_golden(&gold[i], &im, "memory");
        free(im.px);
    }
}
END_TEST

START_TEST(test_tiff_refused) {
    for (int mem = 0; mem <= 1; mem++) {
        refused(DIR "mismatch.tif", mem, "7 x 6");
        ck_assert_msg(strstr(am_error(), "6 x 7"), "'%s' should give both sizes", am_error());
        refused(DIR "truncated.tif", mem, NULL);
        refused(DIR "palette.tif", mem, "palette");
        refused(DIR "bilevel.tif", mem, "1-bit");
        refused("golden/tiff.bin", mem, NULL);  // not a TIFF
    }
    refused(DIR "no_such_file.tif", 0, "No such file");
    // A PNG, a cut header and nothing at all, from memory.
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    float *px = NULL;
    int w, h, c;
    am_sample_type t;
    ck_assert_int_eq(am_tiff_read("x.png", png, sizeof png, &px, &w, &h, &c, &t), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "x.png"));
    ck_assert_int_eq(am_tiff_read("cut.tif", "II*\0\x08\0", 6, &px, &w, &h, &c, &t), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "cut.tif"));
    ck_assert_int_eq(am_tiff_read("empty.tif", "", 0, &px, &w, &h, &c, &t), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "empty.tif"));
    ck_assert_ptr_null(px);
}
END_TEST

START_TEST(test_tiff_limits) {
    // 16 one-channel pages are 16 channels; 17 are refused.
    size_t n = 0;
    uint8_t *b = craft_tiff(3, 2, 16, 6, &n);
    float *px = NULL;
    int w = 0, h = 0, c = 0;
    am_sample_type t = AM_SAMPLE_FLOAT;
    ck_assert_msg(am_tiff_read("p16.tif", b, n, &px, &w, &h, &c, &t) == 0, "%s", am_error());
    ck_assert(w == 3 && h == 2 && c == 16 && t == AM_SAMPLE_U8);
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 16; k++) ck_assert_float_eq(px[i * 16 + k], (float)(k + 1));
    free(px);
    free(b);
    px = NULL;
    b = craft_tiff(3, 2, 17, 6, &n);
    ck_assert_int_eq(am_tiff_read("p17.tif", b, n, &px, &w, &h, &c, &t), -1);
    ck_assert_msg(strstr(am_error(), "p17.tif") && strstr(am_error(), "16"), "%s", am_error());
    free(b);
    // A page over AM_IMAGE_MAX_PIXELS is refused from its header.
    b = craft_tiff(20000, 20000, 1, 16, &n);
    ck_assert_int_eq(am_tiff_read("huge.tif", b, n, &px, &w, &h, &c, &t), -1);
    ck_assert_msg(strstr(am_error(), "huge.tif") && strstr(am_error(), "larger"), "%s", am_error());
    free(b);
    // Two pages just under the limit each, over it together.
    uint32_t side = 16384;  // 2^28 pixels
    ck_assert_uint_eq((uint64_t)side * side, AM_IMAGE_MAX_PIXELS);
    b = craft_tiff(side, side, 2, 16, &n);
    ck_assert_int_eq(am_tiff_read("two.tif", b, n, &px, &w, &h, &c, &t), -1);
    ck_assert_msg(strstr(am_error(), "two.tif") && strstr(am_error(), "larger"), "%s", am_error());
    free(b);
    ck_assert_ptr_null(px);
}
END_TEST

START_TEST(test_tiff_signature) {
    for (int i = 0; i < ngold; i++) {
        size_t n = 0;
        char *b = test_read_file(path_of(gold[i].name), &n);
        ck_assert_msg(am_tiff_signature(b, n), "%s", gold[i].name);
        free(b);
    }
    ck_assert(am_tiff_signature("II*\0", 4) && am_tiff_signature("MM\0*", 4));
    ck_assert(am_tiff_signature("II+\0", 4) && am_tiff_signature("MM\0+", 4));  // BigTIFF
    ck_assert(!am_tiff_signature("II*\0", 3) && !am_tiff_signature("", 0));
    ck_assert(!am_tiff_signature("MM*\0", 4) && !am_tiff_signature("II\0*", 4));
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert(!am_tiff_signature(png, sizeof png));
    ck_assert(!am_tiff_signature("SIMPLE  =", 9));
}
END_TEST

// ---- threads ---------------------------------------------------------------

#define NT 4
#define ROUNDS 5

static image first[MAX_GOLDEN];  // one thread's reads, to compare the others with

static void *thread_read(void *arg) {
    int *bad = arg;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < ngold; i++)
            for (int mem = 0; mem <= 1; mem++) {
                image im;
                const image *f = &first[i];
                int rc = read_tiff(&im, path_of(gold[i].name), mem);
                if (rc || im.w != f->w || im.h != f->h || im.planes != f->planes || im.type != f->type ||
                    memcmp(im.px, f->px, sizeof(float) * (size_t)f->w * f->h * f->planes))
                    (*bad)++;
                free(im.px);
                // A failure on this thread keeps its own message.
                if (read_tiff(&im, DIR "truncated.tif", mem) != -1 || !strstr(am_error(), "truncated.tif")) (*bad)++;
            }
    return NULL;
}

START_TEST(test_tiff_threads) {
    for (int i = 0; i < ngold; i++) ck_assert_int_eq(read_tiff(&first[i], path_of(gold[i].name), 0), 0);
    pthread_t t[NT];
    int bad[NT] = {0};
    for (int k = 0; k < NT; k++) ck_assert_int_eq(pthread_create(&t[k], NULL, thread_read, &bad[k]), 0);
    for (int k = 0; k < NT; k++) pthread_join(t[k], NULL);
    for (int i = 0; i < ngold; i++) free(first[i].px);
    for (int k = 0; k < NT; k++) ck_assert_msg(bad[k] == 0, "thread %d: %d reads differ", k, bad[k]);
}
END_TEST

Suite *suite_tiff(void) {
    Suite *s = suite_create("tiff");
    TCase *tc = tcase_create("tiff");
    tcase_add_checked_fixture(tc, load_golden, free_golden);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tiff_golden_from_path);
    tcase_add_test(tc, test_tiff_golden_from_memory);
    tcase_add_test(tc, test_tiff_refused);
    tcase_add_test(tc, test_tiff_limits);
    tcase_add_test(tc, test_tiff_signature);
    tcase_add_test(tc, test_tiff_threads);
    suite_add_tcase(s, tc);
    return s;
}
