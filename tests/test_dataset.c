// Datasets (image listing: directories, lists, HDF5 files for training;
// labels CSV), the am_train configuration, and the regression cases of the
// fuzzers (tests/fuzz).
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "am/batches.h"
#include "am/config.h"
#include "am/dataset.h"
#include "am/error.h"
#include "am/image.h"
#include "am/log.h"
#include "am/member.h"
#include "am/tfile.h"
#include "test.h"

// ---- helpers ---------------------------------------------------------------

static void make_tmpdir(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/am_ds_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

// Writes `text` to dir/rel (dir NULL: rel is the whole path).
static void write_text(const char *dir, const char *rel, const char *text) {
    char path[4096];
    if (dir) snprintf(path, sizeof path, "%s/%s", dir, rel);
    else snprintf(path, sizeof path, "%s", rel);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
}

static void make_subdir(const char *dir, const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

// Checks that d lists exactly dir/expect[0..n) in that (sorted) order.
static void expect_list(const am_dataset *d, const char *dir, const char *const *expect, int n) {
    ck_assert_int_eq(d->n, n);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, expect[i]);
        ck_assert_str_eq(d->paths[i], path);
        const char *slash = strrchr(expect[i], '/');
        ck_assert_str_eq(d->names[i], slash ? slash + 1 : expect[i]);
        ck_assert_int_eq(d->label[i], AM_UNLABELLED);
        if (i) ck_assert_int_lt(strcmp(d->paths[i - 1], d->paths[i]), 0);
    }
}

// ---- listing ---------------------------------------------------------------

START_TEST(test_list_directory) {
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    static const char *files[] = {"b.png", "a.JPG", "c.jpeg", "d.JPEG", "g.Png", "e.txt", "f.png.bak",
                                  "noext", ".hidden.png", "k.gif", "png", "sub/h.png", "sub/deeper/j.jpg",
                                  "sub/notes.md", ".hid/i.png", "dir.png/k.png"};
    make_subdir(dir, "sub");
    make_subdir(dir, "sub/deeper");
    make_subdir(dir, ".hid");
    make_subdir(dir, "dir.png");
    make_subdir(dir, "emptysub");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) write_text(dir, files[i], "x");
    char link[4096];
    snprintf(link, sizeof link, "%s/broken.png", dir);
    ck_assert_int_eq(symlink("/nonexistent/am_target.png", link), 0);  // stat fails: skipped

    am_dataset d;
    ck_assert_int_eq(am_dataset_list(&d, dir, 0), 0);
    static const char *flat[] = {"a.JPG", "b.png", "c.jpeg", "d.JPEG", "g.Png"};
    expect_list(&d, dir, flat, 5);
    ck_assert_int_eq(am_dataset_find(&d, "c.jpeg"), 2);
    ck_assert_int_eq(am_dataset_find(&d, "C.jpeg"), -1);
    ck_assert_int_eq(am_dataset_find(&d, "h.png"), -1);
    am_dataset_free(&d);
    ck_assert_int_eq(d.n, 0);
    ck_assert_ptr_null(d.paths);

    ck_assert_int_eq(am_dataset_list(&d, dir, 1), 0);
    static const char *deep[] = {"a.JPG", "b.png", "c.jpeg", "d.JPEG", "dir.png/k.png", "g.Png",
                                 "sub/deeper/j.jpg", "sub/h.png"};
    expect_list(&d, dir, deep, 8);
    ck_assert_int_eq(am_dataset_find(&d, "j.jpg"), 6);
    am_dataset_free(&d);
    rm_rf(dir);
}
END_TEST

START_TEST(test_list_empty_and_missing) {
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    am_dataset d;
    ck_assert_int_eq(am_dataset_list(&d, dir, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "no images"));
    ck_assert_ptr_nonnull(strstr(am_error(), dir));
    ck_assert_ptr_nonnull(strstr(am_error(), "--recursive"));
    ck_assert_int_eq(d.n, 0);
    // Recursive and still nothing: no hint about --recursive.
    ck_assert_int_eq(am_dataset_list(&d, dir, 1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "no images"));
    ck_assert_ptr_null(strstr(am_error(), "--recursive"));
    // Images only in a subdirectory: found with recursive only.
    make_subdir(dir, "night1");
    write_text(dir, "night1/x.png", "x");
    write_text(dir, "readme.txt", "x");
    ck_assert_int_eq(am_dataset_list(&d, dir, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "--recursive"));
    ck_assert_int_eq(am_dataset_list(&d, dir, 1), 0);
    ck_assert_int_eq(d.n, 1);
    ck_assert_str_eq(d.names[0], "x.png");
    am_dataset_free(&d);
    rm_rf(dir);

    ck_assert_int_eq(am_dataset_list(&d, dir, 0), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "cannot find"));
    ck_assert_ptr_nonnull(strstr(am_error(), dir));
    ck_assert_int_eq(d.n, 0);
}
END_TEST

START_TEST(test_list_file) {
    char dir[64], list[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(list, sizeof list, "%s/list.txt", dir);
    // Comments, blank and whitespace-only lines, CRLF; any extension (a list is
    // taken as given); sorted by path.
    write_text(NULL, list,
               "# survey cutouts\r\n"
               "/data/n2/b.png\r\n"
               "\r\n"
               "/data/n1/z.jpg\n"
               "   \n"
               "\t\n"
               "a.fits\n"
               "# /data/n1/commented.png\n"
               "rel/dir/c.PNG");
    am_dataset d;
    ck_assert_int_eq(am_dataset_list(&d, list, 0), 0);
    ck_assert_int_eq(d.n, 4);
    static const char *paths[] = {"/data/n1/z.jpg", "/data/n2/b.png", "a.fits", "rel/dir/c.PNG"};
    static const char *names[] = {"z.jpg", "b.png", "a.fits", "c.PNG"};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(d.paths[i], paths[i]);
        ck_assert_str_eq(d.names[i], names[i]);
        ck_assert_int_eq(d.label[i], AM_UNLABELLED);
    }
    am_dataset_free(&d);
    // Only comments: no images, and no --recursive hint for a list.
    write_text(NULL, list, "# nothing yet\n\n");
    ck_assert_int_eq(am_dataset_list(&d, list, 1), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "no images"));
    ck_assert_ptr_nonnull(strstr(am_error(), list));
    ck_assert_ptr_null(strstr(am_error(), "--recursive"));
    rm_rf(dir);
}
END_TEST

// ---- labels CSV ------------------------------------------------------------

// The dataset of the label tests: a fresh directory dir (char[64]), the
// path csv (char[128]) of a labels file in it, and five images listed from a
// file there.
static void label_dataset(am_dataset *d, char *dir, char *csv) {
    make_tmpdir(dir, 64);
    snprintf(csv, 128, "%s/labels.csv", dir);
    char list[128];
    snprintf(list, sizeof list, "%s/list.txt", dir);
    write_text(NULL, list, "imgs/a.png\nimgs/b.png\nimgs/c.png\nimgs/d.png\nother/e.jpg\n");
    ck_assert_int_eq(am_dataset_list(d, list, 0), 0);
    ck_assert_int_eq(d->n, 5);
}

static int count_label(const am_dataset *d, int lab) {
    int n = 0;
    for (int i = 0; i < d->n; i++) n += d->label[i] == lab;
    return n;
}

START_TEST(test_labels_csv) {
    am_log_set_level(AM_LOG_ERROR);  // the duplicate and unknown rows warn
    char dir[64], csv[128];
    am_dataset d;
    label_dataset(&d, dir, csv);
    write_text(NULL, csv,
               "filename,label,score\r\n"
               "a.png,anomaly,0.9\r\n"
               "\"b.png\",\"normal\"\r\n"
               "some/dir/c.png, Normal , extra, columns\r\n"
               "# a comment\r\n"
               "\r\n"
               "a.png,normal\r\n"          // duplicate: the first row wins
               "zzz.png,normal\r\n"        // not among the images
               "/abs/path/e.jpg,ANOMALY\r\n");
    am_label_stats st;
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), 0);
    ck_assert_int_eq(d.label[0], AM_ANOMALY);
    ck_assert_int_eq(d.label[1], AM_NORMAL);
    ck_assert_int_eq(d.label[2], AM_NORMAL);
    ck_assert_int_eq(d.label[3], AM_UNLABELLED);
    ck_assert_int_eq(d.label[4], AM_ANOMALY);
    ck_assert_int_eq(st.rows, 6);
    ck_assert_int_eq(st.matched, 4);
    ck_assert_int_eq(st.duplicates, 1);
    ck_assert_int_eq(st.unknown_files, 1);
    ck_assert_int_eq(st.anomalies, 2);
    ck_assert_int_eq(st.normals, 2);

    // No header; many unknown names and duplicates (past the warning cap).
    for (int i = 0; i < d.n; i++) d.label[i] = AM_UNLABELLED;
    FILE *f = fopen(csv, "w");
    fprintf(f, "d.png,normal\n");
    for (int i = 0; i < 15; i++) fprintf(f, "d.png,anomaly\nmissing%d.png,normal\n", i);
    fclose(f);
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), 0);
    ck_assert_int_eq(d.label[3], AM_NORMAL);
    ck_assert_int_eq(count_label(&d, AM_UNLABELLED), 4);
    ck_assert_int_eq(st.rows, 31);
    ck_assert_int_eq(st.matched, 1);
    ck_assert_int_eq(st.duplicates, 15);
    ck_assert_int_eq(st.unknown_files, 15);
    ck_assert_int_eq(st.normals, 1);
    ck_assert_int_eq(st.anomalies, 0);
    am_dataset_free(&d);
    rm_rf(dir);
    am_log_set_level(-1);  // back to AM_LOG's level
}
END_TEST

START_TEST(test_labels_header_after_comment_and_bom) {
    char dir[64], csv[128];
    am_dataset d;
    label_dataset(&d, dir, csv);
    am_label_stats st;
    // A spreadsheet's UTF-8 byte-order mark before the header.
    write_text(NULL, csv, "\xEF\xBB\xBF" "filename,label\nb.png,anomaly\n");
    ck_assert_msg(am_dataset_apply_labels(&d, csv, &st) == 0, "%s", am_error());
    ck_assert_int_eq(d.label[1], AM_ANOMALY);
    ck_assert_int_eq(st.rows, 1);
    // The header is the first row, after comments and blank lines.
    for (int i = 0; i < d.n; i++) d.label[i] = AM_UNLABELLED;
    write_text(NULL, csv, "# exported by the viewer\n\nFilename, Label\nc.png,normal\n");
    ck_assert_msg(am_dataset_apply_labels(&d, csv, &st) == 0, "%s", am_error());
    ck_assert_int_eq(d.label[2], AM_NORMAL);
    ck_assert_int_eq(st.matched, 1);
    // Only the first row may be a header: a later one is an error.
    write_text(NULL, csv, "c.png,normal\nfilename,label\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), ":2:"));
    am_dataset_free(&d);
    rm_rf(dir);
}
END_TEST

START_TEST(test_labels_errors) {
    char dir[64], csv[128], where[160];
    am_dataset d;
    label_dataset(&d, dir, csv);
    am_label_stats st;

    // Unknown label on line 3: error naming file:line; rows before it undone.
    write_text(NULL, csv, "filename,label\na.png,anomaly\nb.png,weird\nc.png,normal\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:3:", csv);
    ck_assert_msg(strstr(am_error(), where) && strstr(am_error(), "weird") && strstr(am_error(), "b.png"),
                  "'%s'", am_error());
    ck_assert_int_eq(count_label(&d, AM_UNLABELLED), d.n);

    // A row without a comma.
    write_text(NULL, csv, "a.png,normal\r\n\r\njustaname.png\r\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:3:", csv);
    ck_assert_msg(strstr(am_error(), where) && strstr(am_error(), "justaname.png"), "'%s'", am_error());
    ck_assert_int_eq(count_label(&d, AM_UNLABELLED), d.n);

    // An empty label.
    write_text(NULL, csv, "a.png,\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:1:", csv);
    ck_assert_ptr_nonnull(strstr(am_error(), where));

    // Errors leave the labels as they were, also when some were set before.
    write_text(NULL, csv, "e.jpg,anomaly\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), 0);
    ck_assert_int_eq(d.label[4], AM_ANOMALY);
    write_text(NULL, csv, "a.png,normal\ne.jpg,normal\nb.png,maybe\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    ck_assert_int_eq(d.label[4], AM_ANOMALY);
    ck_assert_int_eq(count_label(&d, AM_UNLABELLED), d.n - 1);
    for (int i = 0; i < d.n; i++) d.label[i] = AM_UNLABELLED;

    // A missing file.
    unlink(csv);
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "cannot open labels file"));
    ck_assert_ptr_nonnull(strstr(am_error(), csv));
    ck_assert_int_eq(count_label(&d, AM_UNLABELLED), d.n);
    am_dataset_free(&d);
    rm_rf(dir);
}
END_TEST

// Quoted fields as spreadsheets and Python's csv module write them: commas,
// doubled quotes and line ends inside quotes, space around them, quoted
// extra columns; rows ending in \r\n, \n or a lone \r; line numbers of later
// rows counted past the line ends inside quotes.
START_TEST(test_labels_quoted) {
    am_log_set_level(AM_LOG_ERROR);  // the unknown name warns
    char dir[64], csv[128], where[256];
    am_dataset d;
    label_dataset(&d, dir, csv);
    am_label_stats st;
    static const char *rows =
        "\"filename\",\"label\",\"note\"\r\n"
        " \"a.png\" , \"anomaly\" ,\"said \"\"odd\"\", see\r\nthe next line\"\r\n"
        "\"b.png\",normal,\"x,y\"\n"
        "\"some, dir/c.png\",\"Normal\"\r"
        "\"d.png,normal\",anomaly\n";  // a name with a comma: not among the images
    write_text(NULL, csv, rows);
    ck_assert_msg(am_dataset_apply_labels(&d, csv, &st) == 0, "%s", am_error());
    ck_assert_int_eq(d.label[0], AM_ANOMALY);
    ck_assert_int_eq(d.label[1], AM_NORMAL);
    ck_assert_int_eq(d.label[2], AM_NORMAL);
    ck_assert_int_eq(d.label[3], AM_UNLABELLED);
    ck_assert(st.rows == 4 && st.matched == 3 && st.unknown_files == 1 && st.anomalies == 1 && st.normals == 2);

    // The same rows then a bad one: its line is 7, counted past the line
    // end inside the note and the lone \r; the labels stay as they were.
    char text[512];
    snprintf(text, sizeof text, "%se.jpg,\"weird\"\n", rows);
    write_text(NULL, csv, text);
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:7: unknown label 'weird' for 'e.jpg'", csv);
    ck_assert_msg(strstr(am_error(), where), "'%s'", am_error());
    ck_assert(d.label[0] == AM_ANOMALY && d.label[1] == AM_NORMAL && d.label[4] == AM_UNLABELLED);

    // Text given as such names its source; rows ending in lone \r.
    for (int i = 0; i < d.n; i++) d.label[i] = AM_UNLABELLED;
    ck_assert_int_eq(am_dataset_apply_labels_text(&d, "d.png,anomaly\re.jpg,normal\r", "mem", &st), 0);
    ck_assert(d.label[3] == AM_ANOMALY && d.label[4] == AM_NORMAL && st.rows == 2);
    ck_assert_int_eq(am_dataset_apply_labels_text(&d, "a.png,normal\rb.png,x\r", "run/ck.amck [labels]", &st), -1);
    ck_assert_msg(strstr(am_error(), "run/ck.amck [labels]:2: unknown label 'x'") == am_error(), "'%s'", am_error());
    am_dataset_free(&d);
    rm_rf(dir);
    am_log_set_level(-1);
}
END_TEST

// Malformed quotes and NUL bytes: errors naming file:line and the fix.
START_TEST(test_labels_bad_quotes) {
    char dir[64], csv[128], where[256];
    am_dataset d;
    label_dataset(&d, dir, csv);
    am_label_stats st;
    d.label[2] = AM_ANOMALY;  // set before: kept by every failed read below

    write_text(NULL, csv, "a.png,normal\n\"b.png,anomaly\nc.png,normal\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:2: a quoted field is never closed", csv);
    ck_assert_msg(strstr(am_error(), where), "'%s'", am_error());

    write_text(NULL, csv, "a.png,normal\r\n# \"a comment\r\nb.png,\"anomaly\"x\r\n");
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:3: text after the closing quote", csv);
    ck_assert_msg(strstr(am_error(), where) && strstr(am_error(), "twice"), "'%s'", am_error());

    static const char nul[] = "a.png,normal\nb.png\0,anomaly\n";
    FILE *f = fopen(csv, "wb");
    fwrite(nul, 1, sizeof nul - 1, f);
    fclose(f);
    ck_assert_int_eq(am_dataset_apply_labels(&d, csv, &st), -1);
    snprintf(where, sizeof where, "%s:2: a NUL byte", csv);
    ck_assert_msg(strstr(am_error(), where), "'%s'", am_error());

    ck_assert_int_eq(d.label[2], AM_ANOMALY);
    ck_assert_int_eq(count_label(&d, AM_UNLABELLED), d.n - 1);
    am_dataset_free(&d);
    rm_rf(dir);
}
END_TEST

// The writer quotes exactly the names the reader would otherwise split, trim
// or skip, and the reader reads every name back.
START_TEST(test_labels_write_read_back) {
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    // Sorted as the listing sorts them.
    static const char *names[] = {" lead.png", "#hash.png", "a, \"b\" c.png", "cr\r.png", "new\nline.png",
                                  "plain.png", "tab\t.png", "x#y \"q.png"};
    const int n = (int)(sizeof names / sizeof names[0]);
    for (int i = 0; i < n; i++) write_text(dir, names[i], "");
    am_dataset d;
    ck_assert_int_eq(am_dataset_list(&d, dir, 0), 0);
    ck_assert_int_eq(d.n, n);
    int want[8];
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(d.names[i], names[i]);
        d.label[i] = want[i] = i == 6 ? AM_UNLABELLED : i % 2 ? AM_NORMAL : AM_ANOMALY;
    }
    char *text = am_dataset_labels_csv(&d);
    ck_assert_str_eq(text, "filename,label\n"
                           "\" lead.png\",anomaly\n"
                           "\"#hash.png\",normal\n"
                           "\"a, \"\"b\"\" c.png\",anomaly\n"
                           "\"cr\r.png\",normal\n"
                           "\"new\nline.png\",anomaly\n"
                           "plain.png,normal\n"
                           "\"x#y \"\"q.png\",normal\n");
    for (int i = 0; i < n; i++) d.label[i] = AM_UNLABELLED;
    am_label_stats st;
    ck_assert_msg(am_dataset_apply_labels_text(&d, text, "written", &st) == 0, "%s", am_error());
    ck_assert_int_eq(st.matched, n - 1);
    for (int i = 0; i < n; i++) ck_assert_msg(d.label[i] == want[i], "'%s': %d, want %d", names[i], d.label[i], want[i]);
    free(text);
    am_dataset_free(&d);
    rm_rf(dir);
}
END_TEST

// An HDF5 file for training (the fixtures of tests/ref/make_h5_fixture.py):
// its elements in file order as FILE#K, named by the basenames of
// `filenames` (BASENAME#K without them), labels matched by those names. A
// directory holding an .h5 file and a text list naming FILE#K paths are
// listed as before.
START_TEST(test_list_h5) {
    am_log_set_level(AM_LOG_ERROR);  // the unknown row warns
    am_dataset d;
    ck_assert_msg(am_dataset_list(&d, "data/h5_dense_u8.h5", 0) == 0, "%s", am_error());
    static const char *u8[] = {"a.png", "b.png", "c.png"};
    ck_assert_int_eq(d.n, 3);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "data/h5_dense_u8.h5#%d", i);
        ck_assert_str_eq(d.paths[i], want);
        ck_assert_str_eq(d.names[i], u8[i]);
        ck_assert_int_eq(d.label[i], AM_UNLABELLED);
    }
    am_label_stats st;
    ck_assert_msg(am_dataset_apply_labels_text(&d, "filename,label\nsub/b.png,anomaly\nc.png,normal\nzz.png,normal\n",
                                               "labels", &st) == 0, "%s", am_error());
    ck_assert_int_eq(st.matched, 2);
    ck_assert_int_eq(st.unknown_files, 1);
    ck_assert(d.label[0] == AM_UNLABELLED && d.label[1] == AM_ANOMALY && d.label[2] == AM_NORMAL);
    am_dataset_free(&d);
    ck_assert_ptr_null(d.name_text);

    ck_assert_msg(am_dataset_list(&d, "data/h5_dense_u16.h5", 1) == 0, "%s", am_error());
    ck_assert_int_eq(d.n, 3);
    ck_assert_str_eq(d.names[2], "h5_dense_u16.h5#2");
    ck_assert_str_eq(d.paths[2], "data/h5_dense_u16.h5#2");
    ck_assert_int_eq(am_dataset_apply_labels_text(&d, "h5_dense_u16.h5#1,anomaly\n", "labels", &st), 0);
    ck_assert(st.matched == 1 && d.label[1] == AM_ANOMALY);
    am_dataset_free(&d);

    // The Python tool's layout: its names (the unwritten last one empty).
    ck_assert_msg(am_dataset_list(&d, "data/h5py_prepare_datasets.h5", 0) == 0, "%s", am_error());
    static const char *enc[] = {"png_gray16.png", "png_palette_trns.png", "\303\274n\303\257code_rgba.png",
                                "gray_q75.jpg", ""};
    ck_assert_int_eq(d.n, 5);
    for (int i = 0; i < 5; i++) ck_assert_str_eq(d.names[i], enc[i]);
    ck_assert_str_eq(d.paths[1], "data/h5py_prepare_datasets.h5#1");
    am_dataset_free(&d);

    ck_assert_int_eq(am_dataset_list(&d, "data/h5_dense_i8.h5", 0), -1);
    ck_assert_msg(strstr(am_error(), "data/h5_dense_i8.h5") && strstr(am_error(), "signed 8-bit"), "%s", am_error());
    ck_assert_int_eq(d.n, 0);

    // A directory with an .h5 file in it: its images only. A text list of
    // FILE#K lines: the lines, sorted, as any list.
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    write_text(dir, "b.png", "x");
    write_text(dir, "cutouts.h5", "\x89HDF\r\n\x1a\n");
    ck_assert_int_eq(am_dataset_list(&d, dir, 0), 0);
    static const char *only[] = {"b.png"};
    expect_list(&d, dir, only, 1);
    am_dataset_free(&d);
    snprintf(path, sizeof path, "%s/list.txt", dir);
    write_text(NULL, path, "data/h5_dense_u8.h5#2\n# data/x.h5#0\ndata/h5_dense_u8.h5#10\n");
    ck_assert_int_eq(am_dataset_list(&d, path, 0), 0);
    ck_assert_int_eq(d.n, 2);
    ck_assert_str_eq(d.paths[0], "data/h5_dense_u8.h5#10");
    ck_assert_str_eq(d.names[1], "h5_dense_u8.h5#2");
    ck_assert_ptr_null(d.name_text);
    am_dataset_free(&d);
    rm_rf(dir);
}
END_TEST

// The batcher over an HDF5 dataset: the labelled images and a scoring job
// decoded through am_member_load, as am_input_pixels makes them from the
// values h5py wrote (tests/ref/make_h5_fixture.py).
START_TEST(test_batcher_h5) {
    am_log_set_level(AM_LOG_ERROR);
    am_dataset d;
    ck_assert_msg(am_dataset_list(&d, "data/h5_dense_u8.h5", 0) == 0, "%s", am_error());
    am_label_stats st;
    ck_assert_int_eq(am_dataset_apply_labels_text(&d, "b.png,anomaly\nc.png,normal\n", "labels", &st), 0);
    am_preprocess pre;
    am_preprocess_defaults(&pre, 8, 3);
    am_batcher b;
    ck_assert_msg(am_batcher_init(&b, &d, &pre, 2, 2, 1, AM_RA_FIXMATCH, 2, 4) == 0, "%s", am_error());
    uint8_t want[3][8 * 8 * 3];
    for (int k = 0; k < 3; k++) {
        float *px = malloc(sizeof(float) * 20);
        for (int i = 0; i < 20; i++) px[i] = (float)(7 + 60 * k + i);  // (5, 4): 7 + 60 k + 4 y + x
        ck_assert(am_input_pixels(want[k], px, 4, 5, 1, AM_SAMPLE_U8, "x", &pre) == 0);
    }
    ck_assert(b.nlab[AM_NORMAL] == 1 && b.nlab[AM_ANOMALY] == 1 && b.npool == 1);
    ck_assert(!memcmp(b.lab_pix[AM_ANOMALY], want[1], sizeof want[1]));
    ck_assert(!memcmp(b.lab_pix[AM_NORMAL], want[2], sizeof want[2]));
    void *slot = malloc(am_score_slot_bytes(&b));
    am_score_fill(&b, 0, slot);
    am_score_head *h = am_score_slot_head(slot);
    ck_assert(h->n == 1 && h->idx[0] == 0 && h->ok[0]);
    const float *x = am_score_slot_x(slot);
    for (size_t i = 0; i < sizeof want[0]; i++) ck_assert_msg(x[i] == want[0][i] / 255.0f, "pixel %zu", i);
    free(slot);
    am_batcher_free(&b);
    am_dataset_free(&d);
    am_member_close_all();
}
END_TEST

// ---- configuration ---------------------------------------------------------

START_TEST(test_config_defaults_and_set) {
    am_config c;
    am_config_defaults(&c);
    ck_assert_str_eq(c.images, "");
    ck_assert_str_eq(c.out, "am_out");
    ck_assert_str_eq(c.arch, "lite0");
    ck_assert_str_eq(c.optimizer, "sgd");
    ck_assert_str_eq(c.policy, "usb");
    ck_assert_int_eq(c.recursive, 0);
    ck_assert_int_eq(c.pretrained, 1);
    ck_assert_int_eq(c.size, 64);
    ck_assert_int_eq(c.channels, 3);
    ck_assert_int_eq(c.batch, 16);
    ck_assert_int_eq(c.mu, 5);
    ck_assert_int_eq(c.iters, 200);
    ck_assert_int_eq(c.checkpoint_every, 50);
    ck_assert(c.tau == 0.95f && c.lambda_u == 1.0f && c.T == 0.0f && c.lr == 0.0075f && c.ema == 0.99f);
    ck_assert(c.seed == 42);

    // Names with or without dashes; - and _ are the same.
    ck_assert_int_eq(am_config_set(&c, "--lambda-u", "2.5"), 0);
    ck_assert(c.lambda_u == 2.5f);
    ck_assert_int_eq(am_config_set(&c, "lambda_u", "3"), 0);
    ck_assert(c.lambda_u == 3.0f);
    ck_assert_int_eq(am_config_set(&c, "-loader-threads", "4"), 0);
    ck_assert_int_eq(c.loader_threads, 4);
    ck_assert_int_eq(am_config_set(&c, "checkpoint_every", "-1"), 0);
    ck_assert_int_eq(c.checkpoint_every, -1);
    ck_assert_int_eq(am_config_set(&c, "seed", "-9000000000"), 0);
    ck_assert(c.seed == -9000000000LL);
    ck_assert_int_eq(am_config_set(&c, "--images", "/data/a b#c"), 0);
    ck_assert_str_eq(c.images, "/data/a b#c");
    ck_assert_int_eq(am_config_set(&c, "--recursive", "1"), 0);
    ck_assert_int_eq(c.recursive, 1);
    ck_assert_int_eq(am_config_is_switch("--recursive"), 1);
    ck_assert_int_eq(am_config_is_switch("recursive"), 1);
    ck_assert_int_eq(am_config_is_switch("--size"), 0);
    ck_assert_int_eq(am_config_is_switch("--no-such"), 0);

    // Bad values: -1, the option named, the field unchanged.
    static const struct { const char *key, *value, *expect; } bad[] = {
        {"size", "abc", "integer"},  {"size", "12x", "integer"},  {"size", "", "integer"},
        {"size", "6.5", "integer"},  {"seed", "1e3", "integer"},  {"lr", "fast", "number"},
        {"lr", "", "number"},        {"lr", "1e99", "number"},    {"seed", "99999999999999999999", "integer"},
        {"size", "4294967360", "integer"}, {"batch", "-4294967295", "integer"},
        {"lr", "nan", "number"},     {"tau", "inf", "number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        am_config before = c;
        ck_assert_msg(am_config_set(&c, bad[i].key, bad[i].value) == -1, "%s = '%s' accepted", bad[i].key,
                      bad[i].value);
        ck_assert_msg(strstr(am_error(), bad[i].key) && strstr(am_error(), bad[i].expect), "%s = '%s': '%s'",
                      bad[i].key, bad[i].value, am_error());
        ck_assert_msg(!memcmp(&before, &c, sizeof c), "%s = '%s' changed the configuration", bad[i].key,
                      bad[i].value);
    }
    ck_assert_int_eq(am_config_set(&c, "--sizee", "64"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "unknown option '--sizee'"));
    ck_assert_int_eq(am_config_set(&c, "", "1"), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "unknown option"));

    // Strings: one shorter than the field fits, the field's size does not.
    char arch[17];
    memset(arch, 'b', 16);
    arch[16] = 0;
    ck_assert_int_eq(am_config_set(&c, "arch", arch), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "too long"));
    arch[15] = 0;
    ck_assert_int_eq(am_config_set(&c, "arch", arch), 0);
    ck_assert_str_eq(c.arch, arch);
    char *long_path = malloc(5000);
    memset(long_path, 'p', 4999);
    long_path[4999] = 0;
    ck_assert_int_eq(am_config_set(&c, "images", long_path), -1);
    ck_assert_str_eq(c.images, "/data/a b#c");
    free(long_path);
}
END_TEST

START_TEST(test_config_file) {
    char dir[64], path[128], where[160];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/run.conf", dir);
    am_config c;
    am_config_defaults(&c);
    write_text(NULL, path,
               "# survey run\n"
               "\n"
               "images = /data/cutouts   # the pool\n"
               "labels=/data/labels.csv\r\n"
               "  --recursive = 1\n"
               "lambda-u = 2.5\n"
               "\t# indented comment\n"
               "seed = 7\n"
               "out =\n");
    ck_assert_msg(am_config_read_file(&c, path) == 0, "%s", am_error());
    ck_assert_str_eq(c.images, "/data/cutouts");
    ck_assert_str_eq(c.labels, "/data/labels.csv");
    ck_assert_str_eq(c.out, "");
    ck_assert_int_eq(c.recursive, 1);
    ck_assert(c.lambda_u == 2.5f && c.seed == 7);
    ck_assert_int_eq(c.size, 64);  // untouched options keep their values

    static const struct { const char *text; int line; const char *expect; } bad[] = {
        {"size = 32\nthis is not an option line\n", 2, "expected 'key = value'"},
        {"# c\n\nsize = big\n", 3, "integer"},
        {"iters = 5\nbatch = 8\nno_such_option = 1\n", 3, "unknown option"},
        {"= 5\n", 1, "unknown option"},
        {"lr = 0.1 0.2\n", 1, "number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(NULL, path, bad[i].text);
        ck_assert_int_eq(am_config_read_file(&c, path), -1);
        snprintf(where, sizeof where, "%s:%d: ", path, bad[i].line);
        ck_assert_msg(strstr(am_error(), where) && strstr(am_error(), bad[i].expect), "case %zu: '%s'", i,
                      am_error());
    }
    unlink(path);
    ck_assert_int_eq(am_config_read_file(&c, path), -1);
    ck_assert_ptr_nonnull(strstr(am_error(), "cannot open config file"));
    rm_rf(dir);
}
END_TEST

static char *config_text(const am_config *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    am_config_write(c, m);
    fclose(m);
    return buf;
}

START_TEST(test_config_round_trip) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/effective.conf", dir);
    am_config c, back;
    am_config_defaults(&c);
    ck_assert_int_eq(am_config_set(&c, "images", "/data/with space/imgs"), 0);
    ck_assert_int_eq(am_config_set(&c, "labels", "l.csv"), 0);
    ck_assert_int_eq(am_config_set(&c, "recursive", "1"), 0);
    ck_assert_int_eq(am_config_set(&c, "arch", "b7"), 0);
    ck_assert_int_eq(am_config_set(&c, "lr", "0.1"), 0);
    ck_assert_int_eq(am_config_set(&c, "tau", "0.3333333"), 0);
    ck_assert_int_eq(am_config_set(&c, "wd", "1e-7"), 0);
    ck_assert_int_eq(am_config_set(&c, "T", "-0.5"), 0);
    ck_assert_int_eq(am_config_set(&c, "seed", "-1234567890123"), 0);
    ck_assert_int_eq(am_config_set(&c, "size", "2147483647"), 0);
    ck_assert_int_eq(am_config_set(&c, "batch", "-2147483648"), 0);
    FILE *f = fopen(path, "w");
    am_config_write(&c, f);
    fclose(f);
    am_config_defaults(&back);
    ck_assert_msg(am_config_read_file(&back, path) == 0, "%s", am_error());
    ck_assert_str_eq(back.images, c.images);
    ck_assert_str_eq(back.arch, "b7");
    ck_assert(back.lr == c.lr && back.tau == c.tau && back.wd == c.wd && back.T == c.T);
    ck_assert(back.seed == c.seed);
    ck_assert_int_eq(back.size, 2147483647);
    ck_assert_int_eq(back.batch, -2147483647 - 1);
    ck_assert_int_eq(back.recursive, 1);
    char *t1 = config_text(&c), *t2 = config_text(&back);
    ck_assert_str_eq(t1, t2);
    ck_assert_ptr_nonnull(strstr(t1, "lambda_u = 1\n"));
    free(t1);
    free(t2);
    rm_rf(dir);
}
END_TEST

// ---- fuzzer regressions ----------------------------------------------------

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

static void le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

// A tensor file whose one tensor has shape (2^31, 2^31) read as ints, i.e.
// (-2^31, -2^31): the element count 2^62 times 4 bytes wraps to 0, so the
// size check used to pass on a file with no data, and the entry promised 2^62
// floats over a one-float allocation. Likewise a shape with a negative side.
START_TEST(test_tfile_shape_overflow) {
    char path[] = "/tmp/am_fz_tfile_XXXXXX";
    close(mkstemp(path));
    static const uint32_t shapes[][2] = {{0x80000000u, 0x80000000u}, {0xFFFFFFFFu, 0xFFFFFFFFu},
                                         {0x40000000u, 0x40000000u}, {0xFFFFFFFFu, 1}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        unsigned char b[36 + 84 + 4] = {0};
        memcpy(b, "AMWT", 4);
        le32(b + 4, 1);  // the version 1 layout: 84-byte entries, float32 only
        memcpy(b + 8, "lite0", 5);
        le32(b + 32, 1);  // one tensor
        unsigned char *e = b + 36;
        memcpy(e, "w", 1);
        le32(e + 64, 2);
        le32(e + 68, shapes[k][0]);
        le32(e + 72, shapes[k][1]);
        le32(b + sizeof b - 4, (uint32_t)crc32(0L, b, (uInt)(sizeof b - 4)));
        write_bytes(path, b, sizeof b);
        am_tfile f;
        ck_assert_msg(am_tfile_read(&f, path, "AMWT") == -1, "shape case %zu was accepted", k);
        ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), "corrupt shape"), "'%s'", am_error());
    }
    unlink(path);
}
END_TEST

// A valid PNG header claiming a huge image: an error, not a fatal
// out-of-memory exit of the whole run (libpng's PNG_IMAGE_SIZE also wraps at
// 2^32 there: 100000 x 100000 x 3 asked for 4230196224 bytes).
START_TEST(test_png_huge_dimensions) {
    // Signature, IHDR 100000 x 100000 8-bit RGB, an empty IDAT, IEND.
    unsigned char b[8 + 25 + 12 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char *p = b + 8;
    p[3] = 13;
    memcpy(p + 4, "IHDR", 4);
    p[8] = 0x00, p[9] = 0x01, p[10] = 0x86, p[11] = 0xA0;    // width 100000 (big-endian)
    p[12] = 0x00, p[13] = 0x01, p[14] = 0x86, p[15] = 0xA0;  // height
    p[16] = 8, p[17] = 2;
    uint32_t crc = (uint32_t)crc32(0L, p + 4, 17);
    p[21] = (unsigned char)(crc >> 24), p[22] = (unsigned char)(crc >> 16), p[23] = (unsigned char)(crc >> 8),
    p[24] = (unsigned char)crc;
    p += 25;
    memcpy(p + 4, "IDAT", 4);
    crc = (uint32_t)crc32(0L, p + 4, 4);
    p[8] = (unsigned char)(crc >> 24), p[9] = (unsigned char)(crc >> 16), p[10] = (unsigned char)(crc >> 8),
    p[11] = (unsigned char)crc;
    p += 12;
    memcpy(p + 4, "IEND", 4);
    crc = (uint32_t)crc32(0L, p + 4, 4);
    p[8] = (unsigned char)(crc >> 24), p[9] = (unsigned char)(crc >> 16), p[10] = (unsigned char)(crc >> 8),
    p[11] = (unsigned char)crc;
    char path[] = "/tmp/am_fz_png_XXXXXX";
    close(mkstemp(path));
    write_bytes(path, b, sizeof b);
    int w, h;
    ck_assert_ptr_null(am_image_read(path, 3, &w, &h));
    ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), "too large"), "'%s'", am_error());
    unlink(path);
}
END_TEST

// The same for a JPEG: the test JPEG with its frame header set to 60000 x
// 60000 (10.8 GB of pixels).
START_TEST(test_jpeg_huge_dimensions) {
    FILE *f = fopen("data/gray_q75.jpg", "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char b[4096];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    ck_assert(n > 0 && n < sizeof b);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC2)) sof = i;
    ck_assert_msg(sof, "no SOF marker");
    b[sof + 5] = 0xEA, b[sof + 6] = 0x60;  // height 60000 (big-endian)
    b[sof + 7] = 0xEA, b[sof + 8] = 0x60;  // width
    char path[] = "/tmp/am_fz_jpg_XXXXXX";
    close(mkstemp(path));
    write_bytes(path, b, n);
    int w, h;
    for (int channels = 1; channels <= 3; channels += 2) {
        ck_assert_ptr_null(am_image_read(path, channels, &w, &h));
        ck_assert_msg(strstr(am_error(), path) && strstr(am_error(), "60000x60000") && strstr(am_error(), "too large"),
                      "'%s'", am_error());
    }
    unlink(path);
}
END_TEST

Suite *suite_dataset(void) {
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("list");
    tcase_add_test(tc, test_list_directory);
    tcase_add_test(tc, test_list_empty_and_missing);
    tcase_add_test(tc, test_list_file);
    tcase_add_test(tc, test_list_h5);
    tcase_add_test(tc, test_batcher_h5);
    suite_add_tcase(s, tc);
    tc = tcase_create("labels");
    tcase_add_test(tc, test_labels_csv);
    tcase_add_test(tc, test_labels_header_after_comment_and_bom);
    tcase_add_test(tc, test_labels_errors);
    tcase_add_test(tc, test_labels_quoted);
    tcase_add_test(tc, test_labels_bad_quotes);
    tcase_add_test(tc, test_labels_write_read_back);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_config_defaults_and_set);
    tcase_add_test(tc, test_config_file);
    tcase_add_test(tc, test_config_round_trip);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz_regressions");
    tcase_add_test(tc, test_tfile_shape_overflow);
    tcase_add_test(tc, test_png_huge_dimensions);
    tcase_add_test(tc, test_jpeg_huge_dimensions);
    suite_add_tcase(s, tc);
    return s;
}
