// The tensor file: round trip, and every kind of bad file gives an error.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/error.h"
#include "am/tfile.h"
#include "test.h"

static void write_sample(const char *path) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {-1, 0.5f};
    am_tentry t[2] = {{.name = "a", .ndim = 2, .shape = {2, 3}, .n = 6, .data = a},
                      {.name = "b", .ndim = 1, .shape = {2}, .n = 2, .data = b}};
    ck_assert_int_eq(am_tfile_write(path, "AMWT", "lite0", 3, 10, t, 2), 0);
}

START_TEST(test_roundtrip) {
    char path[] = "/tmp/am_tfile_XXXXXX";
    close(mkstemp(path));
    write_sample(path);
    am_tfile f;
    ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), 0);
    ck_assert_str_eq(f.arch, "lite0");
    ck_assert_int_eq(f.in_ch, 3);
    ck_assert_int_eq(f.classes, 10);
    const am_tentry *b = am_tfile_find(&f, "b");
    ck_assert_ptr_nonnull(b);
    ck_assert(b->n == 2 && b->data[0] == -1.0f && b->data[1] == 0.5f);
    ck_assert_ptr_null(am_tfile_find(&f, "c"));
    am_tfile_free(&f);
    unlink(path);
}
END_TEST

static void corrupt(const char *path, long at, int truncate_to) {
    FILE *fp = fopen(path, "r+b");
    if (truncate_to >= 0) {
        ck_assert_int_eq(ftruncate(fileno(fp), truncate_to), 0);
    } else {
        fseek(fp, at, SEEK_SET);
        int c = fgetc(fp);
        fseek(fp, at, SEEK_SET);
        fputc(c ^ 0x5a, fp);
    }
    fclose(fp);
}

START_TEST(test_bad_files) {
    char path[] = "/tmp/am_tfile_XXXXXX";
    close(mkstemp(path));
    am_tfile f;
    struct { long at; int trunc; const char *expect; } cases[] = {
        {0, -1, "not an am"}, {4, -1, "version"}, {200, -1, "checksum"}, {0, 100, "checksum"},
        {0, 10, "too short"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_sample(path);
        corrupt(path, cases[i].at, cases[i].trunc);
        ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), -1);
        ck_assert_msg(strstr(am_error(), cases[i].expect) && strstr(am_error(), path),
                      "case %zu: message '%s' lacks '%s' or the path", i, am_error(), cases[i].expect);
    }
    write_sample(path);
    ck_assert_int_eq(am_tfile_read(&f, path, "AMGD"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "expected 'AMGD'"));
    unlink(path);
    ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "cannot open"));
    ck_assert_int_eq(am_tfile_read(&f, "/tmp", "AMWT"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "not a regular file"));
}
END_TEST

START_TEST(test_write_failure_keeps_old_file) {
    float a[1] = {7};
    am_tentry t = {.name = "a", .ndim = 1, .shape = {1}, .n = 1, .data = a};
    ck_assert_int_eq(am_tfile_write("/nonexistent-dir/x.amw", "AMWT", "", 0, 0, &t, 1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "/nonexistent-dir/x.amw"));
    if (access("/dev/full", W_OK) == 0) {
        // A full disk: the write to the temporary file fails, the target stays.
        char path[] = "/tmp/am_tfile_XXXXXX";
        close(mkstemp(path));
        write_sample(path);
        char link[64];
        snprintf(link, sizeof link, "%s.tmp.%d", path, (int)getpid());
        ck_assert_int_eq(symlink("/dev/full", link), 0);
        ck_assert_int_eq(am_tfile_write(path, "AMWT", "", 0, 0, &t, 1), -1);
        am_tfile f;
        ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), 0);
        ck_assert_int_eq(f.ntensors, 2);
        am_tfile_free(&f);
        unlink(link);
        unlink(path);
    }
}
END_TEST

Suite *suite_tfile(void) {
    Suite *s = suite_create("tfile");
    TCase *tc = tcase_create("tfile");
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_write_failure_keeps_old_file);
    suite_add_tcase(s, tc);
    return s;
}
