// Augmentation (include/am/augment.h): every op and op chain against Pillow's
// bytes (golden/augment.bin, tests/ref/make_augment_goldens.py), zero
// mismatched bytes allowed; the samplers' determinism, ranges and
// frequencies; batches identical for any thread count; the model input.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/augment.h"
#include "test.h"
#include "../kernels/augment_math.h"

#define GOLDEN "golden/augment.bin"

typedef struct {
    int H, W, C;
    const uint8_t *px;
} gimage;

typedef struct {
    char name[256];
    int image;
    am_aug_list list;
    const uint8_t *expect;
} gcase;

typedef struct {
    uint8_t *blob;
    int nimg, ncase;
    gimage *img;
    gcase *cases;
} golden;

static uint32_t rd32(const uint8_t **p) {
    uint32_t v;
    memcpy(&v, *p, 4);
    *p += 4;
    return v;
}

static void golden_load(golden *g) {
    FILE *f = fopen(GOLDEN, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run the tests from tests/)", GOLDEN);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    g->blob = malloc((size_t)size);
    ck_assert_ptr_nonnull(g->blob);
    ck_assert(fread(g->blob, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    const uint8_t *p = g->blob, *end = g->blob + size;
    ck_assert_msg(memcmp(p, "AMAUG001", 8) == 0, "bad magic in %s", GOLDEN);
    p += 8;
    g->nimg = (int)rd32(&p);
    g->img = calloc((size_t)g->nimg, sizeof(gimage));
    for (int i = 0; i < g->nimg; i++) {
        g->img[i].H = (int)rd32(&p);
        g->img[i].W = (int)rd32(&p);
        g->img[i].C = (int)rd32(&p);
        g->img[i].px = p;
        p += (size_t)g->img[i].H * g->img[i].W * g->img[i].C;
        ck_assert(p <= end);
    }
    g->ncase = (int)rd32(&p);
    g->cases = calloc((size_t)g->ncase, sizeof(gcase));
    for (int k = 0; k < g->ncase; k++) {
        gcase *c = &g->cases[k];
        int len = *p++;
        memcpy(c->name, p, (size_t)len);
        c->name[len] = 0;
        p += len;
        c->image = (int)rd32(&p);
        ck_assert(c->image >= 0 && c->image < g->nimg);
        c->list.n = (int)rd32(&p);
        ck_assert(c->list.n <= AM_AUG_MAX_OPS);
        for (int j = 0; j < c->list.n; j++) {
            c->list.op[j].op = (int32_t)rd32(&p);
            memcpy(c->list.op[j].m, p, 16);
            p += 16;
        }
        c->expect = p;
        const gimage *im = &g->img[c->image];
        p += (size_t)im->H * im->W * im->C;
        ck_assert(p <= end);
    }
    ck_assert(p == end);
}

static void golden_free(golden *g) {
    free(g->blob);
    free(g->img);
    free(g->cases);
}

// 1 when got == the case's expected bytes; else prints the first mismatch.
static int same_bytes(const gcase *c, const gimage *im, const uint8_t *got, const char *how) {
    size_t n = (size_t)im->H * im->W * im->C, bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != c->expect[i]) {
            if (!bad) first = i;
            bad++;
        }
    if (bad) {
        int ch = (int)(first % (size_t)im->C), x = (int)(first / (size_t)im->C % (size_t)im->W),
            y = (int)(first / ((size_t)im->C * im->W));
        fprintf(stderr, "augment %s: case '%s' (%dx%dx%d): %zu bytes differ, first at x %d y %d c %d: got %d expected %d\n",
                how, c->name, im->W, im->H, im->C, bad, x, y, ch, got[first], c->expect[first]);
    }
    return bad == 0;
}

START_TEST(test_pillow_goldens) {
    golden g;
    golden_load(&g);
    int bad_cases = 0;
    size_t bytes = 0;
    for (int k = 0; k < g.ncase; k++) {
        const gcase *c = &g.cases[k];
        const gimage *im = &g.img[c->image];
        size_t n = (size_t)im->H * im->W * im->C;
        uint8_t *out = malloc(n), *work = malloc(n);
        ck_assert(out && work);
        am_augment_apply(out, work, im->px, &c->list, im->H, im->W, im->C);
        int ok = same_bytes(c, im, out, "apply");
        memset(out, 0xAB, n);
        am_augment_apply(out, NULL, im->px, &c->list, im->H, im->W, im->C);
        ok &= same_bytes(c, im, out, "apply (own scratch)");
        bad_cases += !ok;
        bytes += n;
        free(out);
        free(work);
    }
    printf("augment: %d Pillow golden cases, %zu bytes compared, %d cases with mismatches\n",
           g.ncase, bytes, bad_cases);
    golden_free(&g);
    ck_assert_msg(bad_cases == 0, "%d golden cases differ from Pillow", bad_cases);
}
END_TEST

static void fill_random(uint8_t *p, size_t n, uint32_t s) {
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (uint8_t)(s >> 24);
    }
}

// The CUDA kernel's form, run on the CPU: the plan's steps one after another,
// each byte from am_aug_step_value after the per-image preparation
// (histograms, look-up tables, affine tables), exactly as kernels/augment.cu
// does it with a thread block per image.
static void kernel_form(uint8_t *out, const uint8_t *in, const am_aug_list *l, int H, int W, int C) {
    size_t n = (size_t)H * W * C;
    am_aug_plan plan;
    am_aug_plan_make(&plan, l, H, W, C);
    uint8_t *a = malloc(n), *b = malloc(n);
    int *tab = malloc(sizeof(int) * ((size_t)W + H));
    ck_assert(a && b && tab);
    memcpy(a, in, n);
    for (int j = 0; j < plan.n; j++) {
        const am_aug_step *s = &plan.s[j];
        am_aug_prep p;
        memset(&p, 0, sizeof p);
        if (am_aug_step_needs_hist(s->kind)) {
            static uint32_t hist[3][256];
            memset(hist, 0, sizeof hist);
            int nch = s->kind == AM_AUGK_CONTRAST ? 1 : C;
            for (size_t q = 0; q < (size_t)H * W; q++)
                for (int c = 0; c < nch; c++) hist[c][am_aug_hist_value(s->kind, a + q * C, c, C)]++;
            for (int c = 0; c < nch; c++) am_aug_prep_channel(&p, s->kind, c, hist[c]);
        }
        if (s->kind == AM_AUGK_AFFINE) {
            p.path = am_aug_affine_path(s->a, W, H);
            am_aug_affine_fixed(p.fx, s->a);
            am_aug_scale_table(tab, s->a[2], s->a[0], W);
            am_aug_scale_table(tab + W, s->a[5], s->a[4], H);
            p.xtab = tab;
            p.ytab = tab + W;
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) b[((size_t)y * W + x) * C + c] = am_aug_step_value(s, &p, a, x, y, c, H, W, C);
        uint8_t *t = a;
        a = b;
        b = t;
    }
    memcpy(out, a, n);
    free(a);
    free(b);
    free(tab);
}

START_TEST(test_kernel_form_goldens) {
    golden g;
    golden_load(&g);
    int bad = 0;
    for (int k = 0; k < g.ncase; k++) {
        const gcase *c = &g.cases[k];
        const gimage *im = &g.img[c->image];
        uint8_t *out = malloc((size_t)im->H * im->W * im->C);
        ck_assert_ptr_nonnull(out);
        kernel_form(out, im->px, &c->list, im->H, im->W, im->C);
        bad += !same_bytes(c, im, out, "kernel form");
        free(out);
    }
    golden_free(&g);
    ck_assert_msg(bad == 0, "%d golden cases differ in the kernel's form", bad);
}
END_TEST

// The kernel's form against am_augment_apply on sampled strong and weak
// lists at odd sizes, and on the affine's double path (huge shears) and the
// exact transposes.
START_TEST(test_kernel_form_sampled) {
    const int sizes[][3] = {{1, 1, 3}, {2, 2, 1}, {3, 5, 3}, {17, 9, 1}, {31, 31, 3}, {64, 64, 3}, {40, 23, 3}};
    for (int z = 0; z < 7; z++) {
        int H = sizes[z][0], W = sizes[z][1], C = sizes[z][2];
        size_t n = (size_t)H * W * C;
        uint8_t *in = malloc(n), *ref = malloc(n), *got = malloc(n);
        ck_assert(in && ref && got);
        fill_random(in, n, 100 + (uint32_t)z);
        for (uint32_t i = 0; i < 60; i++) {
            am_aug_list l;
            if (i % 3 == 0) am_augment_sample_weak(&l, i % 2 ? AM_RA_ANOMALYMATCH : AM_RA_USB, 8, 1, i, H, W);
            else am_augment_sample_strong(&l, i % 3 == 1 ? AM_RA_USB : AM_RA_FIXMATCH, 8, 1, i, H, W);
            am_augment_apply(ref, NULL, in, &l, H, W, C);
            kernel_form(got, in, &l, H, W, C);
            ck_assert_msg(memcmp(ref, got, n) == 0, "size %dx%dx%d list %u differs", H, W, C, i);
        }
        const int ops[] = {AM_AUG_SHEAR_X, AM_AUG_SHEAR_Y, AM_AUG_ROTATE, AM_AUG_ROTATE, AM_AUG_ROTATE};
        const float mags[] = {4000.0f, -5000.0f, 90.0f, 180.0f, 270.0f};
        for (int k = 0; k < 5; k++) {
            am_aug_list l = {0};
            l.n = 1;
            l.op[0].op = ops[k];
            l.op[0].m[0] = mags[k];
            am_augment_apply(ref, NULL, in, &l, H, W, C);
            kernel_form(got, in, &l, H, W, C);
            ck_assert_msg(memcmp(ref, got, n) == 0, "size %dx%dx%d op %d %g differs", H, W, C, ops[k], mags[k]);
        }
        free(in);
        free(ref);
        free(got);
    }
}
END_TEST

// The golden cases of each image as one batch, through am_augment_batch.
START_TEST(test_goldens_batched) {
    golden g;
    golden_load(&g);
    int bad = 0;
    for (int i = 0; i < g.nimg; i++) {
        const gimage *im = &g.img[i];
        size_t n = (size_t)im->H * im->W * im->C;
        int N = 0;
        for (int k = 0; k < g.ncase; k++) N += g.cases[k].image == i;
        if (N == 0) continue;
        uint8_t *in = malloc(n * N), *out = malloc(n * N);
        am_aug_list *lists = malloc(sizeof(am_aug_list) * N);
        const gcase **which = malloc(sizeof(gcase *) * N);
        ck_assert(in && out && lists && which);
        int j = 0;
        for (int k = 0; k < g.ncase; k++)
            if (g.cases[k].image == i) {
                memcpy(in + n * j, im->px, n);
                lists[j] = g.cases[k].list;
                which[j++] = &g.cases[k];
            }
        am_augment_batch(out, in, lists, N, im->H, im->W, im->C);
        for (j = 0; j < N; j++) bad += !same_bytes(which[j], im, out + n * j, "batch");
        free(in);
        free(out);
        free(lists);
        free(which);
    }
    golden_free(&g);
    ck_assert_msg(bad == 0, "%d batched golden cases differ", bad);
}
END_TEST

static int lists_equal(const am_aug_list *a, const am_aug_list *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->op[i].op != b->op[i].op || memcmp(a->op[i].m, b->op[i].m, sizeof a->op[i].m)) return 0;
    return 1;
}

START_TEST(test_sampler_determinism) {
    am_aug_list a, b;
    int differ_idx = 0, differ_step = 0, differ_seed = 0;
    for (uint32_t i = 0; i < 200; i++) {
        am_augment_sample_strong(&a, AM_RA_USB, 42, 7, i, 64, 64);
        am_augment_sample_strong(&b, AM_RA_USB, 42, 7, i, 64, 64);
        ck_assert(lists_equal(&a, &b));
        am_augment_sample_strong(&b, AM_RA_USB, 42, 7, i + 1, 64, 64);
        differ_idx += !lists_equal(&a, &b);
        am_augment_sample_strong(&b, AM_RA_USB, 42, 8, i, 64, 64);
        differ_step += !lists_equal(&a, &b);
        am_augment_sample_strong(&b, AM_RA_USB, 43, 7, i, 64, 64);
        differ_seed += !lists_equal(&a, &b);
        am_augment_sample_weak(&a, AM_RA_USB, 42, 7, i, 64, 64);
        am_augment_sample_weak(&b, AM_RA_USB, 42, 7, i, 64, 64);
        ck_assert(lists_equal(&a, &b));
        am_augment_sample_strong(&a, AM_RA_FIXMATCH, 42, 7, i, 64, 64);
        am_augment_sample_strong(&b, AM_RA_FIXMATCH, 42, 7, i, 64, 64);
        ck_assert(lists_equal(&a, &b));
    }
    ck_assert(differ_idx == 200 && differ_step == 200 && differ_seed == 200);
}
END_TEST

// A batch is the same bytes with 1 or 4 threads, and the same as applying
// each image's list alone.
START_TEST(test_batch_thread_independence) {
    const int N = 37, H = 29, W = 33, C = 3;
    size_t n = (size_t)H * W * C;
    uint8_t *in = malloc(n * N), *o1 = malloc(n * N), *o4 = malloc(n * N), *one = malloc(n);
    am_aug_list *l1 = malloc(sizeof(am_aug_list) * N), *l4 = malloc(sizeof(am_aug_list) * N);
    ck_assert(in && o1 && o4 && one && l1 && l4);
    fill_random(in, n * N, 99);
    int saved = omp_get_max_threads();
    for (int strong = 0; strong < 3; strong++) {
        for (int t = 1; t <= 4; t += 3) {
            omp_set_num_threads(t);
            uint8_t *o = t == 1 ? o1 : o4;
            am_aug_list *l = t == 1 ? l1 : l4;
            if (strong) am_augment_strong_batch(o, l, in, N, H, W, C, strong == 1 ? AM_RA_USB : AM_RA_FIXMATCH, 5, 11, 1000);
            else am_augment_weak_batch(o, l, in, N, H, W, C, AM_RA_USB, 5, 11, 1000);
        }
        ck_assert_msg(memcmp(o1, o4, n * N) == 0, "batch differs between 1 and 4 threads (kind %d)", strong);
        // The fused model input, with and without the uint8 views kept.
        float *x = malloc(sizeof(float) * n * N), *xr = malloc(sizeof(float) * n * N);
        ck_assert(x && xr);
        am_augment_to_input(xr, o1, n * N);
        for (int keep = 0; keep < 2; keep++) {
            memset(o4, 0, n * N);
            if (strong) am_augment_strong_input(x, keep ? o4 : NULL, NULL, in, N, H, W, C, strong == 1 ? AM_RA_USB : AM_RA_FIXMATCH, 5, 11, 1000);
            else am_augment_weak_input(x, keep ? o4 : NULL, NULL, in, N, H, W, C, AM_RA_USB, 5, 11, 1000);
            ck_assert_msg(memcmp(x, xr, sizeof(float) * n * N) == 0, "fused input differs (kind %d)", strong);
            if (keep) ck_assert(memcmp(o1, o4, n * N) == 0);
        }
        free(x);
        free(xr);
        for (int i = 0; i < N; i++) {
            am_aug_list s;
            if (strong) am_augment_sample_strong(&s, strong == 1 ? AM_RA_USB : AM_RA_FIXMATCH, 5, 11, 1000 + (uint32_t)i, H, W);
            else am_augment_sample_weak(&s, AM_RA_USB, 5, 11, 1000 + (uint32_t)i, H, W);
            ck_assert(lists_equal(&s, &l1[i]) && lists_equal(&s, &l4[i]));
            am_augment_apply(one, NULL, in + n * i, &s, H, W, C);
            ck_assert_msg(memcmp(one, o1 + n * i, n) == 0, "image %d: batch != single", i);
        }
    }
    omp_set_num_threads(saved);
    free(in); free(o1); free(o4); free(one); free(l1); free(l4);
}
END_TEST

static int is_int(float v) { return v == floorf(v); }

START_TEST(test_sampler_ranges_usb) {
    const int H = 40, W = 64, M = 28000;
    int count[AM_AUG_NUM_OPS] = {0}, flips = 0, bits_seen[9] = {0};
    int ox_min = 99, ox_max = -99, oy_min = 99, oy_max = -99;
    double cut_lo = 1, cut_hi = 0;
    for (int i = 0; i < M; i++) {
        am_aug_list l;
        am_augment_sample_strong(&l, AM_RA_USB, 1234, 3, (uint32_t)i, H, W);
        int k = 0;
        ck_assert(l.op[k].op == AM_AUG_CROP_REFLECT);
        float ox = l.op[k].m[0], oy = l.op[k].m[1];
        ck_assert(is_int(ox) && is_int(oy) && fabsf(ox) <= W / 8 && fabsf(oy) <= H / 8);
        if (ox < ox_min) ox_min = (int)ox;
        if (ox > ox_max) ox_max = (int)ox;
        if (oy < oy_min) oy_min = (int)oy;
        if (oy > oy_max) oy_max = (int)oy;
        k++;
        if (l.op[k].op == AM_AUG_FLIP_X) { flips++; k++; }
        ck_assert_int_eq(l.n, k + 4);
        for (int j = 0; j < 3; j++, k++) {
            const am_aug_op *o = &l.op[k];
            ck_assert(o->op >= 0 && o->op < AM_AUG_NUM_RA);
            count[o->op]++;
            float v = o->m[0];
            switch (o->op) {
            case AM_AUG_COLOR: case AM_AUG_CONTRAST: case AM_AUG_BRIGHTNESS: case AM_AUG_SHARPNESS:
                ck_assert(v >= 0.05f && v <= 0.95f); break;
            case AM_AUG_POSTERIZE: ck_assert(is_int(v) && v >= 4 && v <= 7); bits_seen[(int)v]++; break;
            case AM_AUG_ROTATE: ck_assert(v >= -30.0f && v <= 30.0f); break;
            case AM_AUG_SHEAR_X: case AM_AUG_SHEAR_Y: case AM_AUG_TRANSLATE_X: case AM_AUG_TRANSLATE_Y:
                ck_assert(v >= -0.3f && v <= 0.3f && o->m[1] == 0.0f); break;
            case AM_AUG_SOLARIZE: ck_assert(v >= 0.0f && v <= 256.0f); break;
            default: break;
            }
        }
        const am_aug_op *c = &l.op[k];
        ck_assert(c->op == AM_AUG_CUTOUT && c->m[3] < 0.0f);
        ck_assert(c->m[0] >= 0.0f && c->m[0] < 0.5f);
        ck_assert(c->m[1] >= 1.0f && c->m[1] <= (float)W && c->m[2] >= 1.0f && c->m[2] <= (float)H);
        if (c->m[0] < cut_lo) cut_lo = c->m[0];
        if (c->m[0] > cut_hi) cut_hi = c->m[0];
    }
    ck_assert(ox_min == -W / 8 && ox_max == W / 8 && oy_min == -H / 8 && oy_max == H / 8);
    ck_assert_msg(fabs(flips / (double)M - 0.5) < 0.02, "flip rate %f", flips / (double)M);
    for (int op = 0; op < AM_AUG_NUM_RA; op++) {
        double p = count[op] / (3.0 * M);
        ck_assert_msg(fabs(p - 1.0 / 14) < 0.01, "op %s chosen with p %f", am_aug_op_name(op), p);
    }
    for (int b = 4; b <= 7; b++) ck_assert(bits_seen[b] > 0);
    ck_assert(cut_lo < 0.01 && cut_hi > 0.49);
}
END_TEST

// Bands: the strong view draws only the ops that act on each band alone,
// uniformly, with USB's ranges and a grey-128 Cutout; applied to a C-band
// image, each band comes out as the L image of that band would (whose ops
// are checked against Pillow above), for every op of the pool.
START_TEST(test_bands) {
    const int H = 24, W = 20, M = 9000;
    int count[AM_AUG_NUM_OPS] = {0};
    uint8_t *img = malloc((size_t)H * W * 5), *out = malloc((size_t)H * W * 5), band[24 * 20], ref[24 * 20];
    for (int i = 0; i < H * W * 5; i++) img[i] = (uint8_t)((i * 37 + (i / 5) * (i % 5) * 11) & 255);
    for (int i = 0; i < M; i++) {
        am_aug_list l;
        am_augment_sample_strong(&l, AM_RA_BANDS, 99, 1, (uint32_t)i, H, W);
        int k = l.op[1].op == AM_AUG_FLIP_X ? 2 : 1;
        for (int j = 0; j < 3; j++) count[l.op[k + j].op]++;
        const am_aug_op *c = &l.op[l.n - 1];
        ck_assert(c->op == AM_AUG_CUTOUT && c->m[3] == 128.0f && c->m[0] >= 0.0f && c->m[0] < 0.5f);
        if (i >= 300) continue;
        for (int C = 2; C <= 5; C += 2 + (C == 2)) {  // 2 and 5 bands
            am_augment_apply(out, NULL, img, &l, H, W, C);
            for (int b = 0; b < C; b++) {
                for (int p = 0; p < H * W; p++) band[p] = img[p * C + b];
                am_augment_apply(ref, NULL, band, &l, H, W, 1);
                for (int p = 0; p < H * W; p++)
                    ck_assert_msg(out[p * C + b] == ref[p], "list %d, %d bands: band %d pixel %d is %d, its L image's %d",
                                  i, C, b, p, out[p * C + b], ref[p]);
            }
        }
    }
    const int pool[] = {AM_AUG_IDENTITY, AM_AUG_POSTERIZE, AM_AUG_ROTATE, AM_AUG_SHARPNESS, AM_AUG_SHEAR_X,
                        AM_AUG_SHEAR_Y, AM_AUG_SOLARIZE, AM_AUG_TRANSLATE_X, AM_AUG_TRANSLATE_Y};
    int total = 0;
    for (size_t j = 0; j < sizeof pool / sizeof pool[0]; j++) {
        double p = count[pool[j]] / (3.0 * M);
        ck_assert_msg(fabs(p - 1.0 / 9) < 0.01, "op %s chosen with p %f", am_aug_op_name(pool[j]), p);
        total += count[pool[j]];
    }
    ck_assert_int_eq(total, 3 * M);  // AutoContrast, Equalize, Brightness, Color, Contrast never
    free(img);
    free(out);
}
END_TEST

// The Python tool v1.0's weak view (AM_RA_ANOMALYMATCH): a flip with p 0.5,
// then a vertical-only shift by round(U(-H/8, H/8)) pixels with zero fill
// (torchvision's RandomHorizontalFlip, RandomAffine(0, translate=(0,
// 0.125))): each image written here from its list's two numbers equals
// am_augment_apply's, and the flips and shifts have the tool's frequencies.
// Its strong view starts with the same geometry, then USB's ops and Cutout.
START_TEST(test_anomalymatch_weak) {
    const int H = 32, W = 20, C = 3, M = 20000;
    size_t n = (size_t)H * W * C;
    uint8_t *in = malloc(n), *got = malloc(n), *ref = malloc(n);
    fill_random(in, n, 5);
    int flips = 0, shifts[9] = {0};
    for (uint32_t i = 0; i < M; i++) {
        am_aug_list l;
        am_augment_sample_weak(&l, AM_RA_ANOMALYMATCH, 3, 9, i, H, W);
        int k = 0, flip = 0, ty = 0;
        if (k < l.n && l.op[k].op == AM_AUG_FLIP_X) flip = 1, k++;
        if (k < l.n && l.op[k].op == AM_AUG_TRANSLATE_Y) ty = (int)l.op[k].m[1], k++;
        ck_assert_msg(k == l.n && ty >= -4 && ty <= 4, "list %u: %d ops, shift %d", i, l.n, ty);
        flips += flip;
        shifts[ty + 4]++;
        if (i >= 200) continue;
        // Pillow's TranslateY(t): out(x, y) = in(x, y + t), 0 outside.
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    int sy = y + ty, sx = flip ? W - 1 - x : x;
                    ref[((size_t)y * W + x) * C + c] = sy < 0 || sy >= H ? 0 : in[((size_t)sy * W + sx) * C + c];
                }
        am_augment_apply(got, NULL, in, &l, H, W, C);
        ck_assert_msg(memcmp(got, ref, n) == 0, "list %u (flip %d, shift %d) differs", i, flip, ty);
        am_augment_sample_strong(&l, AM_RA_ANOMALYMATCH, 3, 9, i, H, W);
        ck_assert(l.op[0].op == AM_AUG_FLIP_X || l.op[0].op == AM_AUG_TRANSLATE_Y || l.op[0].op < AM_AUG_NUM_RA);
        ck_assert(l.op[l.n - 1].op == AM_AUG_CUTOUT && l.op[l.n - 1].m[3] == -1.0f);
    }
    ck_assert_msg(fabs(flips / (double)M - 0.5) < 0.015, "flip rate %f", flips / (double)M);
    // round(U(-4, 4)): 0.5 / 8 for +-4, 1 / 8 for -3..3.
    for (int t = -4; t <= 4; t++) {
        double want = (t == -4 || t == 4 ? 0.5 : 1.0) / 8.0, p = shifts[t + 4] / (double)M;
        ck_assert_msg(fabs(p - want) < 0.01, "shift %d drawn with p %f, want %f", t, p, want);
    }
    free(in);
    free(got);
    free(ref);
}
END_TEST

START_TEST(test_sampler_ranges_fixmatch) {
    const int H = 32, W = 32, M = 20000;
    long applied = 0;
    int levels_seen[10] = {0};
    for (int i = 0; i < M; i++) {
        am_aug_list l;
        am_augment_sample_strong(&l, AM_RA_FIXMATCH, 77, 0, (uint32_t)i, H, W);
        int k = 1 + (l.op[1].op == AM_AUG_FLIP_X);
        int nra = l.n - k - 1;
        ck_assert(nra >= 0 && nra <= 2);
        applied += nra;
        for (int j = 0; j < nra; j++) {
            const am_aug_op *o = &l.op[k + j];
            float v = o->m[0];
            switch (o->op) {
            case AM_AUG_COLOR: case AM_AUG_CONTRAST: case AM_AUG_BRIGHTNESS: case AM_AUG_SHARPNESS: {
                int L = (int)lround((v - 0.1) / 0.18);
                ck_assert(L >= 1 && L <= 9 && fabsf(v - (float)(0.1 + 0.18 * L)) == 0.0f);
                levels_seen[L]++;
                break;
            }
            case AM_AUG_POSTERIZE: ck_assert(is_int(v) && v >= 1 && v <= 4); break;
            case AM_AUG_ROTATE: ck_assert(is_int(v) && fabsf(v) >= 3 && fabsf(v) <= 27 && (int)fabsf(v) % 3 == 0); break;
            case AM_AUG_SHEAR_X: case AM_AUG_SHEAR_Y: ck_assert(fabsf(v) >= 0.029f && fabsf(v) <= 0.271f); break;
            case AM_AUG_SOLARIZE: ck_assert(is_int(v) && v >= 26 && v <= 231); break;
            case AM_AUG_TRANSLATE_X: case AM_AUG_TRANSLATE_Y:
                ck_assert(v == 0.0f && is_int(o->m[1]) && fabsf(o->m[1]) >= 1 && fabsf(o->m[1]) <= 9); break;
            default: break;
            }
        }
        const am_aug_op *c = &l.op[l.n - 1];
        ck_assert(c->op == AM_AUG_CUTOUT && c->m[0] == 0.5f && c->m[3] == 127.0f);
    }
    ck_assert_msg(fabs(applied / (2.0 * M) - 0.5) < 0.02, "apply rate %f", applied / (2.0 * M));
    for (int L = 1; L <= 9; L++) ck_assert(levels_seen[L] > 0);
}
END_TEST

START_TEST(test_streams_independent) {
    // The strong view's geometry does not repeat the weak view's.
    int same = 0;
    for (uint32_t i = 0; i < 500; i++) {
        am_aug_list w, s;
        am_augment_sample_weak(&w, AM_RA_USB, 3, 4, i, 224, 224);
        am_augment_sample_strong(&s, AM_RA_USB, 3, 4, i, 224, 224);
        same += w.op[0].m[0] == s.op[0].m[0] && w.op[0].m[1] == s.op[0].m[1];
    }
    ck_assert_msg(same < 10, "weak and strong offsets agree %d times in 500", same);
}
END_TEST

START_TEST(test_to_input) {
    uint8_t v[256];
    float x[256];
    for (int i = 0; i < 256; i++) v[i] = (uint8_t)i;
    am_augment_to_input(x, v, 256);
    for (int i = 0; i < 256; i++) ck_assert(x[i] == (float)i / 255.0f);
    ck_assert(x[0] == 0.0f && x[255] == 1.0f);
    // Large enough for the streaming-store path, at an unaligned address.
    size_t n = (size_t)4500000;
    uint8_t *big = malloc(n);
    float *xb = malloc(sizeof(float) * (n + 1));
    ck_assert(big && xb);
    fill_random(big, n, 17);
    am_augment_to_input(xb + 1, big, n);
    for (size_t i = 0; i < n; i++)
        if (xb[1 + i] != (float)big[i] / 255.0f) ck_abort_msg("element %zu: %g for %d", i, xb[1 + i], big[i]);
    free(big);
    free(xb);
}
END_TEST

// The per-pixel forms in kernels/augment_math.h that a GPU kernel would use
// agree with the CPU's row-wise paths: the fixed-point affine source pixel,
// the float solarize test, and both blend forms for every byte pair.
START_TEST(test_per_pixel_forms) {
    const int H = 23, W = 31, C = 3;
    uint8_t in[23 * 31 * 3], out[23 * 31 * 3], ref[23 * 31 * 3];
    fill_random(in, sizeof in, 3);
    const float angles[] = {17.3f, -29.9f, 90.0f, 3.0f, -0.7f};
    for (int k = 0; k < 5; k++) {
        am_aug_list l = {0};
        l.n = 1;
        l.op[0].op = AM_AUG_ROTATE;
        l.op[0].m[0] = angles[k];
        am_augment_apply(out, NULL, in, &l, H, W, C);
        double a[6];
        ck_assert_int_eq(am_aug_rotate_plan(a, angles[k], W, H), 4);
        ck_assert_int_eq(am_aug_affine_path(a, W, H), AM_AFF_FIXED);
        int32_t f[6];
        am_aug_affine_fixed(f, a);
        memset(ref, 0, sizeof ref);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sx, sy;
                if (am_aug_affine_fixed_src(f, x, y, W, H, &sx, &sy))
                    memcpy(ref + ((size_t)y * W + x) * C, in + ((size_t)sy * W + sx) * C, C);
            }
        ck_assert_msg(memcmp(out, ref, sizeof out) == 0, "rotate %g: per-pixel form differs", angles[k]);
    }
    const float thr[] = {0.0f, 0.5f, 1.0f, 77.25f, 128.0f, 254.9f, 255.0f, 255.5f, 256.0f, -3.0f};
    for (int k = 0; k < 10; k++)
        for (int v = 0; v < 256; v++) {
            int lvl = am_aug_solarize_level(thr[k]);
            ck_assert(am_aug_solarize((uint8_t)v, thr[k]) == (v < lvl ? v : 255 - v));
        }
    const float fs[] = {0.0f, 0.05f, 0.37f, 0.5f, 0.95f, 1.0f, 1.28f, 1.72f, -0.4f, 3.0e6f};
    for (int k = 0; k < 10; k++)
        for (int a = 0; a < 256; a++)
            for (int b = 0; b < 256; b++)
                ck_assert(am_aug_blend((uint8_t)a, (uint8_t)b, fs[k]) == am_aug_blend_i((uint8_t)a, (uint8_t)b, fs[k]));
}
END_TEST

// The fused input of a batch large enough for streaming stores.
START_TEST(test_fused_input_large) {
    const int N = 40, S = 224, C = 3;
    size_t n = (size_t)S * S * C;
    uint8_t *in = malloc(n * N), *out = malloc(n * N);
    float *x = malloc(sizeof(float) * n * N);
    ck_assert(in && out && x);
    fill_random(in, n * N, 23);
    am_augment_strong_input(x, out, NULL, in, N, S, S, C, AM_RA_USB, 9, 2, 0);
    for (size_t i = 0; i < n * N; i++)
        if (x[i] != (float)out[i] / 255.0f) ck_abort_msg("element %zu: %g for %d", i, x[i], out[i]);
    uint8_t *one = malloc(n);
    ck_assert(one);
    for (int i = 0; i < N; i += 13) {
        am_aug_list l;
        am_augment_sample_strong(&l, AM_RA_USB, 9, 2, (uint32_t)i, S, S);
        am_augment_apply(one, NULL, in + n * i, &l, S, S, C);
        ck_assert(memcmp(one, out + n * i, n) == 0);
    }
    free(one);
    free(in);
    free(out);
    free(x);
}
END_TEST

START_TEST(test_nonfinite_and_identity) {
    uint8_t in[5 * 4 * 3], out[5 * 4 * 3];
    fill_random(in, sizeof in, 5);
    am_aug_list l = {0};
    l.n = 3;
    l.op[0].op = AM_AUG_ROTATE;
    l.op[0].m[0] = NAN;
    l.op[1].op = AM_AUG_BRIGHTNESS;
    l.op[1].m[0] = INFINITY;
    l.op[2].op = AM_AUG_IDENTITY;
    am_augment_apply(out, NULL, in, &l, 4, 5, 3);
    ck_assert(memcmp(in, out, sizeof in) == 0);
    double a[6];
    ck_assert_int_eq(am_aug_rotate_plan(a, 90.0, 5, 4), 4);
    ck_assert_int_eq(am_aug_rotate_plan(a, 90.0, 4, 4), 1);
    ck_assert_int_eq(am_aug_rotate_plan(a, -90.0, 4, 4), 3);
    ck_assert_int_eq(am_aug_rotate_plan(a, 540.0, 5, 4), 2);
    ck_assert_int_eq(am_aug_rotate_plan(a, -720.0, 5, 4), 0);
    ck_assert_str_eq(am_aug_op_name(AM_AUG_SHARPNESS), "Sharpness");
}
END_TEST

// The integer form of SMOOTH equals Pillow's float sum on random and extreme
// neighbourhoods (the proof is at am_aug_smooth_sum).
START_TEST(test_smooth_integer_form) {
    uint32_t r = 12345;
    uint8_t p[9];
    for (int t = 0; t < 2000000; t++) {
        for (int i = 0; i < 9; i++) {
            r = r * 1664525u + 1013904223u;
            int mode = t % 4;
            p[i] = mode == 0 ? (uint8_t)(r >> 24) : mode == 1 ? (uint8_t)((r >> 31) ? 255 : 0)
                 : mode == 2 ? (uint8_t)(250 + (r >> 29)) : (uint8_t)(r >> 29);
        }
        // rows y-1, y, y+1 of a 3x3 window, one channel
        uint8_t got = am_aug_smooth(p + 1, p + 4, p + 7, 1);
        int s = p[0] + p[1] + p[2] + p[3] + 5 * p[4] + p[5] + p[6] + p[7] + p[8];
        ck_assert_msg(got == am_aug_smooth_sum(s), "window %d: float %d integer %d", t, got, am_aug_smooth_sum(s));
    }
}
END_TEST

// am_aug_span against a brute-force scan.
START_TEST(test_affine_span) {
    uint32_t r = 777;
    for (int t = 0; t < 200000; t++) {
        r = r * 1664525u + 1013904223u;
        int W = 1 + (int)(r >> 26);
        r = r * 1664525u + 1013904223u;
        int64_t f = (int64_t)(int32_t)r >> (8 + (r & 7));
        if (t % 17 == 0) f = 0;
        r = r * 1664525u + 1013904223u;
        int64_t A = ((int64_t)(int32_t)r) >> 6;
        int64_t lim = (int64_t)W << 16;
        int lo = 0, hi = W;
        am_aug_span(A, f, lim, &lo, &hi);
        int blo = -1, bhi = -1;
        for (int x = 0; x < W; x++) {
            int64_t v = A + x * f;
            if (v >= 0 && v < lim) {
                if (blo < 0) blo = x;
                bhi = x + 1;
            }
        }
        if (blo < 0) ck_assert_msg(lo == hi, "case %d: expected empty, got [%d,%d)", t, lo, hi);
        else ck_assert_msg(lo == blo && hi == bhi, "case %d: got [%d,%d) expected [%d,%d)", t, lo, hi, blo, bhi);
    }
}
END_TEST

Suite *suite_augment(void) {
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pillow_goldens);
    tcase_add_test(tc, test_goldens_batched);
    tcase_add_test(tc, test_kernel_form_goldens);
    tcase_add_test(tc, test_kernel_form_sampled);
    tcase_add_test(tc, test_sampler_determinism);
    tcase_add_test(tc, test_batch_thread_independence);
    tcase_add_test(tc, test_sampler_ranges_usb);
    tcase_add_test(tc, test_sampler_ranges_fixmatch);
    tcase_add_test(tc, test_anomalymatch_weak);
    tcase_add_test(tc, test_bands);
    tcase_add_test(tc, test_streams_independent);
    tcase_add_test(tc, test_to_input);
    tcase_add_test(tc, test_fused_input_large);
    tcase_add_test(tc, test_per_pixel_forms);
    tcase_add_test(tc, test_nonfinite_and_identity);
    tcase_add_test(tc, test_smooth_integer_form);
    tcase_add_test(tc, test_affine_span);
    suite_add_tcase(s, tc);
    return s;
}
