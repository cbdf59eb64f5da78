// Training and scoring batches: the same batch for any loader thread count,
// class-balanced labelled draws, unreadable pool images skipped and counted.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/batches.h"
#include "am/error.h"
#include "am/philox.h"
#include "am/plot.h"
#include "am/prefetch.h"
#include "test.h"

// PNG files at 32 px, RGB, as they are (no stretch).
static const am_preprocess pre32 = {.size = 32, .channels = 3};

#define NIMG 24

// A directory of NIMG small PNGs (img00 .. img23), the last one corrupt;
// images 0..3 labelled anomaly, 4..11 normal.
static void make_set(char *dir, am_dataset *d) {
    strcpy(dir, "/tmp/am_batches_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uint8_t px[20 * 20];
    for (int i = 0; i < NIMG; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/img%02d.png", dir, i);
        if (i == NIMG - 1) {
            FILE *f = fopen(path, "wb");
            fputs("\x89PNG\r\n\x1a\nnot really", f);
            fclose(f);
            continue;
        }
        for (int j = 0; j < 400; j++) px[j] = (uint8_t)(am_rand_u32(7, 1, (uint64_t)i, (uint32_t)j) & 0xff);
        ck_assert_int_eq(am_png_write(path, px, 20, 20, 1), 0);
    }
    ck_assert_int_eq(am_dataset_list(d, dir, 0), 0);
    for (int i = 0; i < 12; i++) d->label[i] = i < 4 ? AM_ANOMALY : AM_NORMAL;
}

static void remove_set(const char *dir) {
    for (int i = 0; i < NIMG; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/img%02d.png", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

// Slot a holds the same batch as slot b: images, labels, and the
// pixels they were made from.
static void same_batch(const am_batcher *bt, void *a, void *b, const char *what) {
    size_t nx = (size_t)(bt->B + 2 * bt->U) * bt->S * bt->S * bt->C;
    size_t nraw = (size_t)(bt->B + bt->U) * bt->S * bt->S * bt->C;
    ck_assert_msg(!memcmp(am_train_slot_x(bt, a), am_train_slot_x(bt, b), sizeof(float) * nx), "%s: x differs", what);
    ck_assert_msg(!memcmp(am_train_slot_labels(bt, a), am_train_slot_labels(bt, b), sizeof(int) * bt->B),
                  "%s: labels differ", what);
    ck_assert_msg(!memcmp(am_train_slot_raw(bt, a), am_train_slot_raw(bt, b), nraw), "%s: raw images differ", what);
}

START_TEST(test_batches_deterministic_and_balanced) {
    char dir[64];
    am_dataset d;
    make_set(dir, &d);
    am_batcher b1, b2;
    ck_assert_msg(am_batcher_init(&b1, &d, &pre32, 4, 8, 11, AM_RA_USB, 1, 16) == 0, "%s", am_error());
    ck_assert_int_eq(am_batcher_init(&b2, &d, &pre32, 4, 8, 11, AM_RA_USB, 2, 16), 0);
    ck_assert_int_eq(b1.npool, NIMG - 12);
    size_t bytes = am_train_slot_bytes(&b1);
    void *s1 = malloc(bytes), *s2 = malloc(bytes), *first5 = malloc(bytes);
    int counts[2] = {0, 0};
    size_t nx = (size_t)(4 + 16) * 32 * 32 * 3;
    for (uint64_t k = 0; k < 40; k++) {
        am_train_fill(&b1, k, s1);
        am_train_fill(&b2, k, s2);
        if (k == 5) memcpy(first5, s1, bytes);
        ck_assert_msg(!memcmp(am_train_slot_x(&b1, s1), am_train_slot_x(&b2, s2), sizeof(float) * nx), "step %llu differs by thread count", (unsigned long long)k);
        const int *l = am_train_slot_labels(&b1, s1);
        for (int j = 0; j < 4; j++) counts[l[j]]++;
        const float *x = am_train_slot_x(&b1, s1);
        for (size_t i = 0; i < nx; i++) ck_assert(x[i] >= 0.0f && x[i] <= 1.0f);
    }
    // 4 anomalies and 8 normal labelled: balanced draws give ~80 of each in 160.
    ck_assert_msg(counts[0] > 55 && counts[1] > 55, "labelled draws %d normal, %d anomaly", counts[0], counts[1]);
    // The corrupt pool image was met (it is drawn with probability 1 - (11/12)^320), skipped once.
    ck_assert_int_eq(b1.nbad, 1);
    ck_assert(b1.bad[NIMG - 1]);
    // Step k is the same batch when it is filled again later (resume), after
    // the corrupt image was found, on either thread count.
    am_train_fill(&b1, 5, s1);
    am_train_fill(&b2, 5, s2);
    same_batch(&b1, s1, first5, "step 5 refilled");
    same_batch(&b2, s2, first5, "step 5 refilled, 2 threads");
    free(s1);
    free(s2);
    free(first5);
    am_batcher_free(&b1);
    am_batcher_free(&b2);
    am_dataset_free(&d);
    remove_set(dir);
}
END_TEST

// With aug_on_gpu a slot holds the same images and labels, and its plans
// applied to them give exactly the x the CPU slot holds (what the GPU kernel
// then computes from them; tests/gpu checks it byte for byte), for USB's
// views and for the Python tool's (AM_RA_ANOMALYMATCH).
START_TEST(test_batches_for_gpu_augmentation) {
    char dir[64];
    am_dataset d;
    make_set(dir, &d);
    const am_ra_variant variants[2] = {AM_RA_USB, AM_RA_ANOMALYMATCH};
    for (int v = 0; v < 2; v++) {
        am_batcher bc, bg;
        ck_assert_int_eq(am_batcher_init(&bc, &d, &pre32, 4, 8, 11, variants[v], 1, 16), 0);
        ck_assert_int_eq(am_batcher_init(&bg, &d, &pre32, 4, 8, 11, variants[v], 1, 16), 0);
        bg.aug_on_gpu = 1;
        ck_assert(am_train_slot_bytes(&bg) < am_train_slot_bytes(&bc));
        void *sc = malloc(am_train_slot_bytes(&bc)), *sg = malloc(am_train_slot_bytes(&bg));
        const int B = 4, U = 8, rows = B + 2 * U;
        size_t img = 32 * 32 * 3;
        uint8_t *view = malloc(img);
        for (uint64_t k = 3; k < 6; k++) {
            am_train_fill(&bc, k, sc);
            am_train_fill(&bg, k, sg);
            ck_assert_ptr_null(am_train_slot_x(&bg, sg));
            ck_assert_ptr_null(am_train_slot_plans(&bc, sc));
            ck_assert(!memcmp(am_train_slot_labels(&bc, sc), am_train_slot_labels(&bg, sg), sizeof(int) * B));
            ck_assert(!memcmp(am_train_slot_raw(&bc, sc), am_train_slot_raw(&bg, sg), img * (B + U)));
            const float *x = am_train_slot_x(&bc, sc);
            const uint8_t *raw = am_train_slot_raw(&bg, sg);
            const am_aug_plan *plans = am_train_slot_plans(&bg, sg);
            for (int j = 0; j < rows; j++) {
                const uint8_t *src = raw + img * (size_t)(j < B + U ? j : j - U);
                am_augment_apply_plan(view, NULL, src, &plans[j], 32, 32, 3);
                for (size_t i = 0; i < img; i++)
                    ck_assert_msg(x[img * j + i] == (float)view[i] / 255.0f, "variant %d step %llu row %d byte %zu",
                                  variants[v], (unsigned long long)k, j, i);
            }
        }
        free(view);
        free(sc);
        free(sg);
        am_batcher_free(&bc);
        am_batcher_free(&bg);
    }
    am_dataset_free(&d);
    remove_set(dir);
}
END_TEST

START_TEST(test_scoring_batches_through_prefetch) {
    char dir[64];
    am_dataset d;
    make_set(dir, &d);
    am_batcher b;
    ck_assert_int_eq(am_batcher_init(&b, &d, &pre32, 4, 8, 11, AM_RA_USB, 2, 5), 0);
    uint64_t jobs = (uint64_t)(b.npool + 4) / 5;
    am_prefetch *p = am_prefetch_start(am_score_fill, &b, am_score_slot_bytes(&b), 2, 0, jobs);
    int seen = 0, bad = 0;
    for (uint64_t j = 0; j < jobs; j++) {
        am_score_head *h = am_score_slot_head(am_prefetch_next(p, j));
        for (int i = 0; i < h->n; i++) {
            ck_assert_int_eq(h->idx[i], b.pool[seen + i]);
            bad += !h->ok[i];
        }
        seen += h->n;
    }
    am_prefetch_stop(p);
    ck_assert_int_eq(seen, b.npool);
    ck_assert_int_eq(bad, 1);
    am_batcher_free(&b);
    am_dataset_free(&d);
    remove_set(dir);
}
END_TEST

START_TEST(test_unreadable_labelled_image_is_an_error) {
    char dir[64];
    am_dataset d;
    make_set(dir, &d);
    d.label[NIMG - 1] = AM_ANOMALY;
    am_batcher b;
    ck_assert_int_eq(am_batcher_init(&b, &d, &pre32, 4, 8, 11, AM_RA_USB, 1, 16), -1);
    ck_assert_msg(strstr(am_error(), "img23.png") && strstr(am_error(), "labelled"), "%s", am_error());
    am_dataset_free(&d);
    remove_set(dir);
}
END_TEST

Suite *suite_batches(void) {
    Suite *s = suite_create("batches");
    TCase *tc = tcase_create("batches");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_batches_deterministic_and_balanced);
    tcase_add_test(tc, test_batches_for_gpu_augmentation);
    tcase_add_test(tc, test_scoring_batches_through_prefetch);
    tcase_add_test(tc, test_unreadable_labelled_image_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}
