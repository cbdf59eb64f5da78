// The procedural astronomy data set: deterministic images, the anomaly and
// labelling plan, and the files am_demo writes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/demo.h"
#include "am/error.h"
#include "am/image.h"
#include "test.h"

START_TEST(test_render_deterministic) {
    int S = 48;
    uint8_t *a = AM_MALLOC((size_t)S * S), *b = AM_MALLOC((size_t)S * S);
    for (int kind = 0; kind < AM_DEMO_KINDS; kind++) {
        am_demo_render(a, S, kind, 42, 7, AM_DEMO_LOOK);
        am_demo_render(b, S, kind, 42, 7, AM_DEMO_LOOK);
        ck_assert_msg(!memcmp(a, b, (size_t)S * S), "kind %d not deterministic", kind);
        am_demo_render(b, S, kind, 43, 7, AM_DEMO_LOOK);
        ck_assert_msg(memcmp(a, b, (size_t)S * S), "kind %d: seed makes no difference", kind);
        am_demo_render(b, S, kind, 42, 8, AM_DEMO_LOOK);
        ck_assert_msg(memcmp(a, b, (size_t)S * S), "kind %d: index makes no difference", kind);
        int lo = 255, hi = 0;
        for (int i = 0; i < S * S; i++) {
            if (a[i] < lo) lo = a[i];
            if (a[i] > hi) hi = a[i];
        }
        ck_assert_msg(hi - lo > 40, "kind %d: a flat image (%d..%d)", kind, lo, hi);
    }
    am_demo_render(a, S, AM_DEMO_NORMAL, 42, 7, AM_DEMO_LOOK);
    am_demo_render(b, S, AM_DEMO_RING, 42, 7, AM_DEMO_LOOK);
    ck_assert(memcmp(a, b, (size_t)S * S));
    free(a);
    free(b);
}
END_TEST

// Pixels at least ~5 sky sigma bright (level 62 of the stretch) more than 8 px
// from the centre of a 64 px cutout.
static int bright_outside(const uint8_t *img) {
    int n = 0;
    for (int j = 0; j < 64; j++)
        for (int i = 0; i < 64; i++)
            n += (i - 32) * (i - 32) + (j - 32) * (j - 32) > 64 && img[j * 64 + i] >= 62;
    return n;
}

// The mean of 32 normal 64 px cutouts less its median (the sky): the light
// in the central 16 px box, and the mean squared distance from the centre of
// the light within 20 px.
static void central_light(am_demo_look look, double *flux, double *spread) {
    uint8_t img[64 * 64];
    static double mean[64 * 64];
    memset(mean, 0, sizeof mean);
    for (int t = 0; t < 32; t++) {
        am_demo_render(img, 64, AM_DEMO_NORMAL, 42, (uint32_t)t, look);
        for (int i = 0; i < 64 * 64; i++) mean[i] += img[i] / 32.0;
    }
    double sky = 1e9;  // the faintest row-mean of the border rows
    for (int j = 0; j < 64; j += 63) {
        double r = 0;
        for (int i = 0; i < 64; i++) r += mean[j * 64 + i] / 64.0;
        if (r < sky) sky = r;
    }
    double f = 0, m2 = 0, w = 0;
    for (int j = 0; j < 64; j++)
        for (int i = 0; i < 64; i++) {
            double e = mean[j * 64 + i] - sky, r2 = (i - 32) * (i - 32) + (j - 32) * (j - 32);
            if (e <= 0) continue;
            if (abs(i - 32) < 8 && abs(j - 32) < 8) f += e;
            if (r2 < 400) { m2 += e * r2; w += e; }
        }
    *flux = f;
    *spread = m2 / w;
}

// The look of the central object (am_demo --scale, --brightness): fainter
// with less flux, smaller with its light closer to the centre, the same
// bytes at (1, 1); out-of-range factors refused.
START_TEST(test_look) {
    double f1, s1, f, s;
    central_light(AM_DEMO_LOOK, &f1, &s1);
    central_light((am_demo_look){1.0f, 0.3f}, &f, &s);
    ck_assert_msg(f < 0.6 * f1, "brightness 0.3: central light %.0f, default %.0f", f, f1);
    central_light((am_demo_look){0.4f, 1.0f}, &f, &s);
    ck_assert_msg(s < 0.8 * s1, "scale 0.4: spread %.1f px^2, default %.1f", s, s1);
    uint8_t kinds[100], labeled[100];
    am_demo_opts o = {.look = {0.0f, 1.0f}, .n = 100, .size = 32, .anomaly_rate = 0.1, .labeled_anomalies = 1,
                      .labeled_normals = 1, .seed = 1};
    ck_assert_int_eq(am_demo_plan(kinds, labeled, &o), -1);
    ck_assert_msg(strstr(am_error(), "--scale 0 is not in 0.1..4") != NULL, "%s", am_error());
    o.look = (am_demo_look){1.0f, 0.0f};
    ck_assert_int_eq(am_demo_plan(kinds, labeled, &o), -1);
    ck_assert_msg(strstr(am_error(), "--brightness 0 is not in (0, 10]") != NULL, "%s", am_error());
}
END_TEST

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

// The anomalies must be plain to see at 64 px: the median count of bright
// pixels outside the core is, for every kind, at least 3x that of the normals.
START_TEST(test_anomalies_visible) {
    enum { N = 32 };
    uint8_t img[64 * 64];
    int med[AM_DEMO_KINDS];
    for (int kind = 0; kind < AM_DEMO_KINDS; kind++) {
        int c[N];
        for (int t = 0; t < N; t++) {
            am_demo_render(img, 64, kind, 42, (uint32_t)t, AM_DEMO_LOOK);
            c[t] = bright_outside(img);
        }
        qsort(c, N, sizeof c[0], cmp_int);
        med[kind] = c[N / 2];
    }
    for (int kind = 1; kind < AM_DEMO_KINDS; kind++)
        ck_assert_msg(med[kind] >= 3 * med[0], "%s: median %d bright pixels, normal %d", am_demo_kind_name(kind),
                      med[kind], med[0]);
}
END_TEST

START_TEST(test_plan) {
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = 1000, .size = 64, .anomaly_rate = 0.02, .labeled_anomalies = 10,
                      .labeled_normals = 40, .seed = 5};
    uint8_t kinds[1000], labeled[1000], k2[1000], l2[1000];
    ck_assert_msg(am_demo_plan(kinds, labeled, &o) == 0, "%s", am_error());
    int count[AM_DEMO_KINDS] = {0}, lab[2] = {0, 0}, labkinds[AM_DEMO_KINDS] = {0};
    for (int i = 0; i < 1000; i++) {
        count[kinds[i]]++;
        if (labeled[i]) {
            lab[kinds[i] != 0]++;
            labkinds[kinds[i]]++;
        }
    }
    ck_assert_int_eq(count[0], 980);
    for (int k = 1; k < AM_DEMO_KINDS; k++) ck_assert_int_eq(count[k], 5);
    ck_assert(lab[1] == 10 && lab[0] == 40);
    for (int k = 1; k < AM_DEMO_KINDS; k++) ck_assert(labkinds[k] >= 2);  // every kind among the labelled
    ck_assert_int_eq(am_demo_plan(k2, l2, &o), 0);
    ck_assert(!memcmp(kinds, k2, 1000) && !memcmp(labeled, l2, 1000));
    o.seed = 6;
    ck_assert_int_eq(am_demo_plan(k2, l2, &o), 0);
    ck_assert(memcmp(kinds, k2, 1000));
    o.labeled_anomalies = 21;
    ck_assert_int_eq(am_demo_plan(k2, l2, &o), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "only 20"));
    o.labeled_anomalies = 0;
    o.labeled_normals = 981;
    ck_assert_int_eq(am_demo_plan(k2, l2, &o), -1);
    o.labeled_normals = 0;
    o.size = 8;
    ck_assert_int_eq(am_demo_plan(k2, l2, &o), -1);
    o.size = 64;
    o.anomaly_rate = 1.5;
    ck_assert_int_eq(am_demo_plan(k2, l2, &o), -1);
    ck_assert_str_eq(am_demo_kind_name(AM_DEMO_LENS), "lens");
}
END_TEST

static void remove_set(const char *d, int n) {
    char p[512];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/images/%06d.png", d, i);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/images", d);
    rmdir(p);
    snprintf(p, sizeof p, "%s/truth.csv", d);
    unlink(p);
    snprintf(p, sizeof p, "%s/labels.csv", d);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub", d);
    rmdir(p);
    rmdir(d);
}

static int count_lines(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

START_TEST(test_write_set) {
    char d1[] = "/tmp/am_demo_XXXXXX", d2[] = "/tmp/am_demo_XXXXXX", d3[] = "/tmp/am_demo_XXXXXX";
    ck_assert(mkdtemp(d1) && mkdtemp(d2) && mkdtemp(d3));
    char sub[64];
    snprintf(sub, sizeof sub, "%s/sub", d2);  // a directory that does not exist yet
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = 60, .size = 32, .anomaly_rate = 0.1, .labeled_anomalies = 3, .labeled_normals = 5,
                      .seed = 11};
    ck_assert_msg(am_demo_write(d1, &o, 0) == 0, "%s", am_error());
    ck_assert_msg(am_demo_write(sub, &o, 0) == 0, "%s", am_error());
    o.seed = 12;
    ck_assert_msg(am_demo_write(d3, &o, 0) == 0, "%s", am_error());
    char p[512], q[512];
    size_t la, lb;
    snprintf(p, sizeof p, "%s/truth.csv", d1);
    char *truth = test_read_file(p, &la);
    ck_assert_ptr_nonnull(truth);
    ck_assert(!strncmp(truth, "filename,label,kind\n", 20));
    ck_assert_int_eq(count_lines(truth, "\n"), 61);
    ck_assert_int_eq(count_lines(truth, ",anomaly,"), 6);
    ck_assert_int_eq(count_lines(truth, ",normal,normal"), 54);
    snprintf(p, sizeof p, "%s/labels.csv", d1);
    char *labels = test_read_file(p, &la);
    ck_assert(!strncmp(labels, "filename,label\n", 15));
    ck_assert_int_eq(count_lines(labels, "\n"), 9);
    ck_assert_int_eq(count_lines(labels, ",anomaly\n"), 3);
    ck_assert_int_eq(count_lines(labels, ",normal\n"), 5);
    free(truth);
    free(labels);
    int same_seed_differs = 0, other_seed_differs = 0;
    for (int i = 0; i < o.n; i++) {
        snprintf(p, sizeof p, "%s/images/%06d.png", d1, i);
        int w, h;
        uint8_t *img = am_png_read(p, 1, &w, &h);
        ck_assert_msg(img != NULL, "%s", am_error());
        ck_assert(w == 32 && h == 32);
        free(img);
        char *a = test_read_file(p, &la);
        snprintf(q, sizeof q, "%s/images/%06d.png", sub, i);
        char *b = test_read_file(q, &lb);
        same_seed_differs += la != lb || memcmp(a, b, la);
        free(b);
        snprintf(q, sizeof q, "%s/images/%06d.png", d3, i);
        b = test_read_file(q, &lb);
        other_seed_differs += la != lb || memcmp(a, b, la);
        free(a);
        free(b);
    }
    ck_assert_int_eq(same_seed_differs, 0);
    ck_assert_int_eq(other_seed_differs, o.n);
    remove_set(sub, o.n);
    remove_set(d1, o.n);
    remove_set(d2, 0);
    remove_set(d3, o.n);
}
END_TEST

START_TEST(test_write_errors) {
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = 4, .size = 16, .anomaly_rate = 0.0, .labeled_anomalies = 0, .labeled_normals = 1,
                      .seed = 1};
    ck_assert_int_eq(am_demo_write("/proc/am_no_such_dir/x", &o, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "/proc/am_no_such_dir"));
    char f[] = "/tmp/am_demo_file_XXXXXX";
    close(mkstemp(f));
    ck_assert_int_eq(am_demo_write(f, &o, 0), -1);  // a file where the directory should be
    ck_assert_ptr_nonnull(strstr(am_error(), f));
    unlink(f);
    o.labeled_anomalies = 1;
    ck_assert_int_eq(am_demo_write("/tmp", &o, 0), -1);  // no anomalies to label: nothing written
    ck_assert_ptr_nonnull(strstr(am_error(), "labelled anomalies"));
}
END_TEST

Suite *suite_demo(void) {
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("demo");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_render_deterministic);
    tcase_add_test(tc, test_anomalies_visible);
    tcase_add_test(tc, test_look);
    tcase_add_test(tc, test_plan);
    tcase_add_test(tc, test_write_set);
    tcase_add_test(tc, test_write_errors);
    suite_add_tcase(s, tc);
    return s;
}
