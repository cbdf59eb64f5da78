// The tensor file: round trip of every entry type bit-exact, version 1 files
// (the committed weights and goldens) still read, every kind of bad file
// gives an error naming it, and a failed write leaves the previous file.
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "am/error.h"
#include "am/tfile.h"
#include "test.h"

// Float bit patterns a round trip must keep: -0, a denormal, infinities, a
// NaN with a payload, the largest finite.
static const uint32_t float_bits[6] = {0x80000000u, 0x00000001u, 0x7f800000u, 0xff800000u, 0x7fc01234u, 0x7f7fffffu};

// A version 2 file of the kind that holds every type (a checkpoint): a float
// tensor, a text with odd length (the next entry is padded to 8 bytes), an
// empty text, u64 values and a second tensor.
static void write_sample(const char *path) {
    static float a[6], b[2] = {-1, 0.5f};
    memcpy(a, float_bits, sizeof a);
    static uint64_t u[2] = {0xFFFFFFFFFFFFFFFFull, 12345678901234ull};
    static const char text[] = "labels = labels.csv\n\"a,b c.png\",anomaly\n";
    am_tentry t[5] = {{.name = "a", .ndim = 2, .shape = {2, 3}, .n = 6, .data = a},
                      {.name = "text", .type = AM_TF_U8, .ndim = 1, .shape = {sizeof text - 1}, .n = sizeof text - 1,
                       .u8 = (uint8_t *)text},
                      {.name = "empty", .type = AM_TF_U8, .ndim = 1, .shape = {0}, .n = 0, .u8 = (uint8_t *)""},
                      {.name = "u", .type = AM_TF_U64, .ndim = 1, .shape = {2}, .n = 2, .u64 = u},
                      {.name = "b", .ndim = 1, .shape = {2}, .n = 2, .data = b}};
    ck_assert_msg(am_tfile_write(path, "AMCK", "lite0", 3, 10, t, 5) == 0, "%s", am_error());
}

static char *tmp_file(void) {
    static char path[32];
    snprintf(path, sizeof path, "/tmp/am_tfile_XXXXXX");
    close(mkstemp(path));
    return path;
}

START_TEST(test_roundtrip) {
    char *path = tmp_file();
    write_sample(path);
    am_tfile f;
    ck_assert_msg(am_tfile_read(&f, path, "AMCK") == 0, "%s", am_error());
    ck_assert(f.version == 2 && !strcmp(f.magic, "AMCK"));
    ck_assert_str_eq(f.arch, "lite0");
    ck_assert_int_eq(f.in_ch, 3);
    ck_assert_int_eq(f.classes, 10);
    ck_assert_int_eq(f.ntensors, 5);
    const am_tentry *a = am_tfile_find(&f, "a"), *b = am_tfile_find(&f, "b"), *text = am_tfile_find(&f, "text");
    const am_tentry *empty = am_tfile_find(&f, "empty"), *u = am_tfile_find(&f, "u");
    ck_assert(a && b && text && empty && u);
    ck_assert(a->type == AM_TF_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->n == 6);
    ck_assert_msg(!memcmp(a->data, float_bits, sizeof float_bits), "float bits changed");
    ck_assert(b->type == AM_TF_F32 && b->n == 2 && b->data[0] == -1.0f && b->data[1] == 0.5f);
    const char *want = "labels = labels.csv\n\"a,b c.png\",anomaly\n";
    ck_assert(text->type == AM_TF_U8 && text->n == strlen(want) && !memcmp(text->u8, want, text->n));
    ck_assert(empty->type == AM_TF_U8 && empty->n == 0 && empty->shape[0] == 0);
    ck_assert(u->type == AM_TF_U64 && u->n == 2);
    ck_assert(u->u64[0] == 0xFFFFFFFFFFFFFFFFull && u->u64[1] == 12345678901234ull);
    // The data lies in place, 8-byte aligned (text of odd length before b).
    for (int i = 0; i < f.ntensors; i++)
        ck_assert_msg((uintptr_t)f.t[i].u8 % 8 == 0, "entry '%s' is not 8-byte aligned", f.t[i].name);
    ck_assert_ptr_null(am_tfile_find(&f, "c"));
    am_tfile_free(&f);
    unlink(path);
}
END_TEST

static void le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

// The committed version 1 files read: the weights and every golden. And a
// version 1 file made here byte by byte as weights/FORMAT.md lays it out.
START_TEST(test_version1_reads) {
    am_tfile f;
    ck_assert_msg(am_tfile_read(&f, "../weights/lite0.amw", "AMWT") == 0, "%s", am_error());
    ck_assert(f.version == 1 && !strcmp(f.arch, "lite0") && f.ntensors > 100);
    const am_tentry *fc = am_tfile_find(&f, "fc.w");
    ck_assert(fc && fc->type == AM_TF_F32 && fc->n == 1000 * 1280);
    am_tfile_free(&f);
    glob_t g;
    ck_assert_int_eq(glob("golden/*.amg", 0, NULL, &g), 0);
    ck_assert(g.gl_pathc >= 4);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ck_assert_msg(am_tfile_read(&f, g.gl_pathv[i], "AMGD") == 0, "%s", am_error());
        ck_assert_msg(f.version == 1 && f.ntensors > 0, "%s: version %u", g.gl_pathv[i], f.version);
        am_tfile_free(&f);
    }
    globfree(&g);
    unsigned char b[36 + 2 * 84 + 4 * 3 + 4] = {0};
    memcpy(b, "AMGD", 4);
    le32(b + 4, 1);
    le32(b + 32, 2);
    memcpy(b + 36, "x", 1);
    le32(b + 36 + 64, 1);
    le32(b + 36 + 68, 2);
    memcpy(b + 36 + 84, "y", 1);
    le32(b + 36 + 84 + 64, 1);
    le32(b + 36 + 84 + 68, 1);
    const float v[3] = {1.5f, -2.0f, 3.25f};
    memcpy(b + 36 + 2 * 84, v, sizeof v);
    le32(b + sizeof b - 4, (uint32_t)crc32(0L, b, (uInt)(sizeof b - 4)));
    char *path = tmp_file();
    write_bytes(path, b, sizeof b);
    ck_assert_msg(am_tfile_read(&f, path, "AMGD") == 0, "%s", am_error());
    const am_tentry *x = am_tfile_find(&f, "x"), *y = am_tfile_find(&f, "y");
    ck_assert(x && y && x->n == 2 && y->n == 1 && x->type == AM_TF_F32 && y->type == AM_TF_F32);
    ck_assert(x->data[0] == 1.5f && x->data[1] == -2.0f && y->data[0] == 3.25f);
    am_tfile_free(&f);
    unlink(path);
}
END_TEST

// The sample with one u32 replaced (or cut to `cut` bytes), its CRC made
// right again when `fix_crc`, so that the checks behind the CRC are reached.
static void variant(const char *path, long at, uint32_t v, long cut, int fix_crc) {
    write_sample(path);
    size_t n;
    unsigned char *b = (unsigned char *)test_read_file(path, &n);
    if (cut >= 0) n = (size_t)cut;
    if (at >= 0) le32(b + at, v);
    if (fix_crc) le32(b + n - 4, (uint32_t)crc32(0L, b, (uInt)(n - 4)));
    write_bytes(path, b, n);
    free(b);
}

START_TEST(test_bad_files) {
    char *path = tmp_file();
    am_tfile f;
    // Offsets: 4 version, 32 entry count, 36 the first entry (a: type at
    // +64, ndim +68, shape +72..+84), 36 + 88 the second (text: 40 bytes),
    // 36 + 3 * 88 the fourth (u); a's data at 480, after the table.
    const long e0 = 36, e1 = 36 + 88;
    struct { long at; uint32_t v; long cut; int fix; const char *expect; } cases[] = {
        {0, 0x4b434d42, -1, 0, "not an am checkpoint (magic 'BMCK'"},
        {4, 3, -1, 0, "format version 3, newer"},
        {4, 1, -1, 0, "checkpoint format version 1 from an older am"},
        {300, 0x12345678, -1, 0, "checksum"},
        {-1, 0, 100, 0, "checksum"},
        {-1, 0, 30, 0, "too short"},
        {32, 1000, -1, 1, "corrupt entry table"},
        {32, 4, -1, 1, "describes"},
        {e0 + 64, 3, -1, 1, "unknown type 3"},
        {e0 + 68, 0, -1, 1, "0 dimensions"},
        {e0 + 68, 5, -1, 1, "5 dimensions"},
        {e0 + 80, 1, -1, 1, "corrupt shape (dimension 2 is 1)"},
        {e0 + 72, 0x80000000u, -1, 1, "corrupt shape"},
        {e0 + 72, 0x40000000u, -1, 1, "corrupt shape"},
        {e1 + 72, 0x7fffffffu, -1, 1, "corrupt shape"},
        {e1 + 72, 32, -1, 1, "describes"},
        {e1 + 72, 41, -1, 1, "corrupt shape (dimension 0 is 2)"},
        {e1 + 64, AM_TF_F32, -1, 1, "corrupt shape"},
        {e0 + 3 * 88 + 64, AM_TF_U8, -1, 1, "describes"},
        {-1, 0, 36 + 5 * 88 + 6, 1, "too short for the entries"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        variant(path, cases[i].at, cases[i].v, cases[i].cut, cases[i].fix);
        ck_assert_int_eq(am_tfile_read(&f, path, "AMCK"), -1);
        ck_assert_msg(strstr(am_error(), cases[i].expect) && strstr(am_error(), path),
                      "case %zu: message '%s' lacks '%s' or the path", i, am_error(), cases[i].expect);
        ck_assert_ptr_null(f.t);
    }
    // The same overflowing shapes in a version 1 layout (a fuzzer's find:
    // (2^31, 2^31) read as ints gave 2^62 elements, 0 bytes after the * 4).
    static const uint32_t shapes[][2] = {{0x80000000u, 0x80000000u}, {0xFFFFFFFFu, 0xFFFFFFFFu},
                                         {0x40000000u, 0x40000000u}, {0xFFFFFFFFu, 1}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        unsigned char b[36 + 84 + 4] = {0};
        memcpy(b, "AMWT", 4);
        le32(b + 4, 1);
        le32(b + 32, 1);
        memcpy(b + 36, "w", 1);
        le32(b + 36 + 64, 2);
        le32(b + 36 + 68, shapes[k][0]);
        le32(b + 36 + 72, shapes[k][1]);
        le32(b + sizeof b - 4, (uint32_t)crc32(0L, b, (uInt)(sizeof b - 4)));
        write_bytes(path, b, sizeof b);
        ck_assert_msg(am_tfile_read(&f, path, "AMWT") == -1, "version 1 shape case %zu was accepted", k);
        ck_assert_msg(strstr(am_error(), "corrupt shape") && strstr(am_error(), path), "%s", am_error());
    }
    // Weights hold float32 tensors and texts, goldens float32 only (their
    // readers take every entry for floats): the sample, with its u64 entry,
    // under the magics AMWT and AMGD with a right CRC.
    variant(path, 0, 0x54574d41, -1, 1);
    ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), -1);
    ck_assert_msg(strstr(am_error(), "entry 'u' is of type 2, and a weight file holds float32 tensors and texts only") &&
                  strstr(am_error(), path), "%s", am_error());
    variant(path, 0, 0x44474d41, -1, 1);
    ck_assert_int_eq(am_tfile_read(&f, path, "AMGD"), -1);
    ck_assert_msg(strstr(am_error(), "entry 'text' is of type 1, and a golden file holds float32 tensors only") &&
                  strstr(am_error(), path), "%s", am_error());
    write_sample(path);
    ck_assert_int_eq(am_tfile_read(&f, path, "AMGD"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "expected 'AMGD'"));
    ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "not an am weight file (magic 'AMCK', expected 'AMWT')"));
    unlink(path);
    ck_assert_int_eq(am_tfile_read(&f, path, "AMWT"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "cannot open"));
    ck_assert_int_eq(am_tfile_read(&f, "/tmp", "AMWT"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "not a regular file"));
}
END_TEST

// After a failed write: the previous file reads as before, no temporary file.
static void expect_previous(const char *path, const unsigned char *before, size_t n) {
    size_t n2;
    unsigned char *b = (unsigned char *)test_read_file(path, &n2);
    ck_assert_msg(n2 == n && !memcmp(b, before, n), "the previous file changed");
    free(b);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    struct stat st;
    ck_assert_msg(lstat(tmp, &st) != 0, "the temporary file '%s' was left behind", tmp);
}

START_TEST(test_write_failure_keeps_old_file) {
    float a[1] = {7};
    am_tentry t = {.name = "a", .ndim = 1, .shape = {1}, .n = 1, .data = a};
    ck_assert_int_eq(am_tfile_write("/nonexistent-dir/x.amw", "AMWT", "", 0, 0, &t, 1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "/nonexistent-dir/x.amw"));
    char *path = tmp_file();
    write_sample(path);
    size_t n;
    unsigned char *before = (unsigned char *)test_read_file(path, &n);
    // Entries the format cannot hold are refused before anything is written.
    uint8_t byte = 1;
    am_tentry bad = {.name = "b", .type = AM_TF_U8, .ndim = 1, .shape = {1}, .n = 1, .u8 = &byte};
    ck_assert_int_eq(am_tfile_write(path, "AMGD", "", 0, 0, &bad, 1), -1);
    ck_assert_msg(strstr(am_error(), "of type 1, and a golden file holds float32 tensors only") &&
                  strstr(am_error(), path), "%s", am_error());
    bad = t;
    memset(bad.name, 'x', 64);
    ck_assert_int_eq(am_tfile_write(path, "AMWT", "", 0, 0, &bad, 1), -1);
    ck_assert_msg(strstr(am_error(), "over 63 bytes") && strstr(am_error(), path), "%s", am_error());
    bad = t;
    bad.n = 2;
    ck_assert_int_eq(am_tfile_write(path, "AMWT", "", 0, 0, &bad, 1), -1);
    ck_assert_msg(strstr(am_error(), "element count"), "%s", am_error());
    expect_previous(path, before, n);
    // A full disk: the temporary file is /dev/full.
    if (access("/dev/full", W_OK) == 0) {
        char link[64];
        snprintf(link, sizeof link, "%s.tmp.%d", path, (int)getpid());
        ck_assert_int_eq(symlink("/dev/full", link), 0);
        ck_assert_int_eq(am_tfile_write(path, "AMWT", "", 0, 0, &t, 1), -1);
        ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), "No space left"), "%s", am_error());
        printf("  /dev/full: %s\n", am_error());
        expect_previous(path, before, n);
    }
    // A file size limit (RLIMIT_FSIZE) under the file's size: the write
    // fails part-way with EFBIG, the partial temporary file is removed.
    static float big[4096];
    am_tentry tb = {.name = "big", .ndim = 1, .shape = {4096}, .n = 4096, .data = big};
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = am_tfile_write(path, "AMWT", "", 0, 0, &tb, 1);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), "too large"), "%s", am_error());
    printf("  RLIMIT_FSIZE: %s\n", am_error());
    expect_previous(path, before, n);
    am_tfile f;
    ck_assert_msg(am_tfile_read(&f, path, "AMCK") == 0, "%s", am_error());
    am_tfile_free(&f);
    free(before);
    unlink(path);
}
END_TEST

Suite *suite_tfile(void) {
    Suite *s = suite_create("tfile");
    TCase *tc = tcase_create("tfile");
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_version1_reads);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_write_failure_keeps_old_file);
    suite_add_tcase(s, tc);
    return s;
}
