// am_infer (src/infer): scores against the model's own forward, every kind
// of source giving the same rows, shards that merge into the single run's
// bytes, exactly-once resume after kill -9 at random moments and after a
// full disk, refusals of a foreign output folder, and bad input becoming
// skipped rows.
//
// The set: 96 demo cutouts of 48 px; the model: the bundled Lite0 with a new
// 2-class head, saved with its preprocessing (32 px, 3 channels). Each test
// makes them in a fresh temporary folder (in its own process: OpenMP does not
// survive a fork). The kill and disk tests run ../am_infer (make test builds
// it first).
#include <archive.h>
#include <archive_entry.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "am/dataset.h"
#include "am/demo.h"
#include "am/error.h"
#include "am/h5.h"
#include "am/image.h"
#include "am/infer.h"
#include "am/journal.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/weights.h"
#include "test.h"

#define N 96
#define SIZE 32

static char dir[64];  // the test's folder: images/, model.amw, outputs
static char *paths[512];  // at()'s strings, freed by the fixture
static int npaths;

// dir/name, valid until the test ends.
static char *at(const char *name) {
    ck_assert(npaths < 512);
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return paths[npaths++] = p;
}

static void make_model(const char *path, int classes, int with_pre) {
    am_model m;
    ck_assert(am_model_init(&m, "lite0", 3, classes, 0) == 0);
    ck_assert_msg(am_weights_load(&m, "../weights/lite0.amw", 5) == 0, "%s", am_error());
    am_preprocess pre;
    am_preprocess_defaults(&pre, SIZE, 3);
    ck_assert_msg(am_weights_save(&m, path, with_pre ? &pre : NULL) == 0, "%s", am_error());
    am_model_free(&m);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/am_infer_XXXXXX");
    ck_assert(mkdtemp(dir));
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = N, .size = 48, .anomaly_rate = 0.1, .labeled_anomalies = 2, .labeled_normals = 2,
                      .seed = 11};
    ck_assert_msg(am_demo_write(dir, &o, 0) == 0, "%s", am_error());
    make_model(at("model.amw"), 2, 1);
    am_set_threads(1);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
    while (npaths) free(paths[--npaths]);
}

static am_infer_opts opts(const char *out, char **sources, int n) {
    am_infer_opts o = am_infer_defaults();
    o.model = at("model.amw");
    o.sources = sources;
    o.nsources = n;
    o.out = at(out);
    o.batch = 16;
    o.top = 10;
    o.threads = 1;
    o.sync_seconds = 0;
    return o;
}

static char *read_out(const char *out, const char *name) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/%s", dir, out, name);
    return test_read_file(path, NULL);
}

static void same_file(const char *a, const char *b, const char *name) {
    char *x = read_out(a, name), *y = read_out(b, name);
    ck_assert_msg(!strcmp(x, y), "%s: %s/%s and %s/%s differ", dir, a, name, b, name);
    free(x);
    free(y);
}

// The image files as the run lists them, and their bytes.
static void image_list(am_dataset *d) {
    ck_assert_msg(am_dataset_list(d, at("images"), 0) == 0, "%s", am_error());
    ck_assert_int_eq(d->n, N);
}

static uint8_t *bytes_of(const char *path, size_t *n) { return (uint8_t *)test_read_file(path, n); }

// A tar (gzip when gz) of the images, members named by their basenames.
static void make_tar(const char *path, int gz, int first, int count) {
    am_dataset d;
    image_list(&d);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gz) archive_write_add_filter_gzip(a);
    ck_assert(archive_write_open_filename(a, path) == ARCHIVE_OK);
    for (int i = first; i < first + count; i++) {
        size_t n;
        uint8_t *b = bytes_of(d.paths[i], &n);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, d.names[i]);
        archive_entry_set_size(e, (la_int64_t)n);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        ck_assert(archive_write_header(a, e) == ARCHIVE_OK);
        ck_assert(archive_write_data(a, b, n) == (la_ssize_t)n);
        archive_entry_free(e);
        free(b);
    }
    archive_write_close(a);
    archive_write_free(a);
    am_dataset_free(&d);
}

static void make_h5(const char *path, int first, int count) {
    am_dataset d;
    image_list(&d);
    const char *names[N];
    const uint8_t *data[N];
    size_t len[N];
    for (int i = 0; i < count; i++) {
        names[i] = d.names[first + i];
        data[i] = bytes_of(d.paths[first + i], &len[i]);
    }
    ck_assert_msg(am_h5_write(path, names, data, len, (uint64_t)count) == 0, "%s", am_error());
    for (int i = 0; i < count; i++) free((void *)data[i]);
    am_dataset_free(&d);
}

// A dense HDF5 file of the same images: their decoded pixels as uint8
// (count, 48, 48, C), `filenames` their basenames.
static void make_dense_h5(const char *path, int first, int count) {
    am_dataset d;
    image_list(&d);
    uint8_t *all = NULL;
    const char *names[N];
    int C = 0;
    for (int i = 0; i < count; i++) {
        size_t n;
        uint8_t *b = bytes_of(d.paths[first + i], &n);
        int c, w, h;
        uint8_t *px = am_image_decode_own(b, n, d.paths[first + i], &c, &w, &h);
        ck_assert_msg(px && w == 48 && h == 48 && (!C || c == C), "%s", am_error());
        if (!all) all = malloc((size_t)count * 48 * 48 * (size_t)(C = c));
        memcpy(all + (size_t)i * 48 * 48 * C, px, (size_t)48 * 48 * C);
        names[i] = d.names[first + i];
        free(px);
        free(b);
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {(hsize_t)count, 48, 48, (hsize_t)C}, n1 = (hsize_t)count;
    hid_t s = H5Screate_simple(4, dims, NULL), s1 = H5Screate_simple(1, &n1, NULL), st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    hid_t di = H5Dcreate2(f, "images", H5T_STD_U8LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dn = H5Dcreate2(f, "filenames", st, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(f >= 0 && di >= 0 && dn >= 0);
    ck_assert(H5Dwrite(di, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) >= 0);
    ck_assert(H5Dwrite(dn, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0);
    H5Dclose(dn);
    H5Dclose(di);
    H5Tclose(st);
    H5Sclose(s1);
    H5Sclose(s);
    H5Fclose(f);
    free(all);
    am_dataset_free(&d);
}

static void make_list(const char *path, int first, int count) {
    am_dataset d;
    image_list(&d);
    FILE *f = fopen(path, "w");
    fprintf(f, "# a comment\n\n");
    for (int i = first; i < first + count; i++) fprintf(f, "%s\n", d.paths[i]);
    fclose(f);
    am_dataset_free(&d);
}

// scores.csv's rows: names and scores.
static int read_scores(const char *out, char names[][64], float *score) {
    char *text = read_out(out, "scores.csv");
    ck_assert_msg(!strncmp(text, "Filename,Score\n", 15), "%s", text);
    int n = 0;
    for (char *line = strtok(text + 15, "\n"); line; line = strtok(NULL, "\n"), n++) {
        char *comma = strrchr(line, ',');
        *comma = 0;
        snprintf(names[n], 64, "%s", line);
        score[n] = strtof(comma + 1, NULL);
    }
    free(text);
    return n;
}

// Every score is softmax(z)[1] of the model's own forward of that image
// alone (am_forward, N = 1), from am_image_load's pixels / 255. The
// tolerance: the same image in a batch of 16 (other BLAS kernels for that
// shape) moved the score by at most 1.2e-7 on this machine (the worst is
// printed below); 2e-6 leaves room for other CPUs' kernels.
START_TEST(test_scores) {
    char *src[] = {at("images")};
    am_infer_opts o = opts("out", src, 1);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    static char names[N][64];
    float got[N], ref[N];
    ck_assert_int_eq(read_scores("out", names, got), N);
    am_dataset d;
    image_list(&d);
    am_model m;
    ck_assert(am_model_init(&m, "lite0", 3, 2, 0) == 0);
    ck_assert_msg(am_weights_load(&m, at("model.amw"), 0) == 0, "%s", am_error());
    uint8_t px[SIZE * SIZE * 3];
    float x[SIZE * SIZE * 3];
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(names[i], d.names[i]);  // in source order
        ck_assert(am_image_load(px, d.paths[i], SIZE, 3) == 0);
        for (int k = 0; k < SIZE * SIZE * 3; k++) x[k] = px[k] / 255.0f;
        const float *z = am_forward(&m, x, 1, SIZE, 0, 0, 0);
        ref[i] = 1.0f / (1.0f + expf(z[0] - z[1]));
    }
    cmp_result r = cmp_close("am_infer scores vs the model's forward", got, ref, N, 2e-6, 0);
    printf("  scores vs am_forward(N=1): worst %.2g (%.0f%% of the tolerance)\n", r.err, r.pct);
    ck_assert(r.ok);
    char *sum = read_out("out", "summary.json");
    ck_assert_msg(strstr(sum, "\"complete\": true") && strstr(sum, "\"scored\": 96,") && strstr(sum, "\"skipped\": 0,"), "%s", sum);
    free(sum);
    char *top = read_out("out", "top_candidates.csv");
    ck_assert(!strncmp(top, "Filename,Score,Source\n", 22));
    int rows = 0;
    for (char *p = top; *p; p++) rows += *p == '\n';
    ck_assert_int_eq(rows, 11);
    free(top);
    struct stat st;
    ck_assert(stat(at("out/top_candidates.png"), &st) == 0 && st.st_size > 0);
    am_model_free(&m);
    am_dataset_free(&d);
}
END_TEST

// Two output files with the same bytes (binary).
static void same_bytes(const char *a, const char *b, const char *name) {
    size_t na, nb;
    char pa[4400], pb[4400];
    snprintf(pa, sizeof pa, "%s/%s/%s", dir, a, name);
    snprintf(pb, sizeof pb, "%s/%s/%s", dir, b, name);
    char *x = test_read_file(pa, &na), *y = test_read_file(pb, &nb);
    ck_assert_msg(na == nb && !memcmp(x, y, na), "%s and %s differ", pa, pb);
    free(x);
    free(y);
}

// The same images as a directory, a file list (a file, and standard input),
// a tar, a tar.gz, an HDF5 file of the encoded files and a dense one of their
// pixels: the same scores.csv, byte for byte; and an image's score does not
// depend on its batch. (The dense pixels take am_input_pixels' way, stretch
// none: converted as they are, then Pillow's bilinear from 48 to 32 px, as
// the PNGs' 8-bit way.)
START_TEST(test_sources_agree) {
    make_list(at("list.txt"), 0, N);
    make_tar(at("all.tar"), 0, 0, N);
    make_tar(at("all.tar.gz"), 1, 0, N);
    make_h5(at("all.h5"), 0, N);
    make_dense_h5(at("dense.h5"), 0, N);
    const char *kinds[][2] = {{"images", "dir"}, {"list.txt", "list"}, {"all.tar", "tar"}, {"all.tar.gz", "tgz"},
                              {"all.h5", "h5"}, {"dense.h5", "dense"}, {"-", "stdin"}};
    ck_assert(freopen(at("list.txt"), "r", stdin) != NULL);  // "-": the list on standard input
    for (int k = 0; k < 7; k++) {
        char *src[] = {k == 6 ? "-" : at(kinds[k][0])};
        am_infer_opts o = opts(kinds[k][1], src, 1);
        ck_assert_msg(am_infer_run(&o) == 0, "%s: %s", kinds[k][1], am_error());
        if (k) same_file("dir", kinds[k][1], "scores.csv");
    }
    // 17..31 images: the last batch holds 1..15 (and black ones to 16), whose
    // scores must be those they have among 16 images of the directory's run
    // (scored as a smaller batch, some differ in their last bits: other BLAS
    // kernels for that shape).
    char *b = read_out("dir", "scores.csv");
    for (int n = 17; n < 32; n++) {
        char list[32], out[32];
        snprintf(list, sizeof list, "%d.txt", n);
        snprintf(out, sizeof out, "first%d", n);
        make_list(at(list), 0, n);
        char *src[] = {at(list)};
        am_infer_opts o = opts(out, src, 1);
        ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
        char *a = read_out(out, "scores.csv");
        ck_assert_msg(!strncmp(a, b, strlen(a)), "%d images:\n%s\nthe directory:\n%.*s", n, a, (int)strlen(a), b);
        free(a);
    }
    free(b);
    // Each top candidate's Source loads the image it names: the contact
    // sheets are the directory's.
    char *top = read_out("h5", "top_candidates.csv");
    ck_assert_msg(strstr(top, "all.h5#"), "%s", top);
    free(top);
    top = read_out("dense", "top_candidates.csv");
    ck_assert_msg(strstr(top, "dense.h5#"), "%s", top);
    free(top);
    same_bytes("dir", "h5", "top_candidates.png");
    same_bytes("dir", "dense", "top_candidates.png");
    same_bytes("dir", "tar", "top_candidates.png");
}
END_TEST

// A dense HDF5 file among other sources: split by image between 3 shards
// that merge into the single run's bytes, and resumed after a torn journal.
START_TEST(test_dense_h5_shards_resume) {
    make_list(at("list.txt"), 0, 30);
    make_dense_h5(at("part.h5"), 30, 66);
    char *src[] = {at("list.txt"), at("part.h5")};
    am_infer_opts o = opts("single", src, 2);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    char *images[] = {at("images")};
    o = opts("dir", images, 1);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    same_file("single", "dir", "scores.csv");
    for (int s = 0; s < 3; s++) {
        char name[32];
        snprintf(name, sizeof name, "shard%d", s);
        am_infer_opts so = opts(name, src, 2);
        so.shard = s;
        so.nshards = 3;
        ck_assert_msg(am_infer_run(&so) == 0, "%s", am_error());
    }
    char *sum = read_out("shard1", "summary.json");  // 32..64: inside the HDF5 file
    ck_assert_msg(strstr(sum, "\"images\": 32,"), "%s", sum);
    free(sum);
    char *dirs[] = {at("shard0"), at("shard1"), at("shard2")};
    ck_assert_msg(am_infer_merge(at("merged"), dirs, 3) == 0, "%s", am_error());
    same_file("single", "merged", "scores.csv");
    same_file("single", "merged", "top_candidates.csv");
    char *top = read_out("merged", "top_candidates.csv");
    ck_assert_msg(strstr(top, "part.h5#"), "%s", top);
    free(top);
    // Cut the journal inside its third record: the run continues in the
    // HDF5 file and ends as the uninterrupted one.
    o = opts("torn", src, 2);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    struct stat st;
    ck_assert(stat(at("torn/journal.bin"), &st) == 0);
    long rec = st.st_size / (N / 16);
    ck_assert(truncate(at("torn/journal.bin"), 2 * rec + 10) == 0);
    unlink(at("torn/summary.json"));
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    same_file("single", "torn", "scores.csv");
    same_file("single", "torn", "top_candidates.csv");
}
END_TEST

// Mixed sources in 3 shards, merged: the single run's scores.csv,
// skipped.csv and top_candidates.csv; merge refuses a missing, repeated,
// incomplete or foreign shard.
START_TEST(test_shards_merge) {
    make_list(at("list.txt"), 0, 30);
    make_tar(at("part.tar.gz"), 1, 30, 20);
    make_h5(at("part.h5"), 50, 46);
    FILE *f = fopen(at("bad.png"), "w");
    fputs("not a png", f);
    fclose(f);
    FILE *l = fopen(at("list.txt"), "a");
    fprintf(l, "%s\n", at("bad.png"));
    fclose(l);
    char *src[] = {at("list.txt"), at("part.tar.gz"), at("images"), at("part.h5")};
    am_infer_opts o = opts("single", src, 4);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    for (int s = 0; s < 3; s++) {
        char name[32];
        snprintf(name, sizeof name, "shard%d", s);
        am_infer_opts so = opts(name, src, 4);
        so.shard = s;
        so.nshards = 3;
        ck_assert_msg(am_infer_run(&so) == 0, "%s", am_error());
    }
    char *dirs[] = {at("shard2"), at("shard0"), at("shard1")};
    ck_assert_msg(am_infer_merge(at("merged"), dirs, 3) == 0, "%s", am_error());
    same_file("single", "merged", "scores.csv");
    same_file("single", "merged", "skipped.csv");
    same_file("single", "merged", "top_candidates.csv");
    char *sk = read_out("merged", "skipped.csv");
    ck_assert_msg(strstr(sk, "bad.png,") && strstr(sk, "neither PNG nor JPEG"), "%s", sk);
    free(sk);
    // Refusals.
    ck_assert_int_eq(am_infer_merge(at("m2"), dirs, 2), -1);
    ck_assert_msg(strstr(am_error(), "2 folders given, but the run has 3 shards"), "%s", am_error());
    char *twice[] = {at("shard0"), at("shard0"), at("shard1")};
    ck_assert_int_eq(am_infer_merge(at("m2"), twice, 3), -1);
    ck_assert_msg(strstr(am_error(), "appears twice"), "%s", am_error());
    char *foreign[] = {at("shard0"), at("single"), at("shard2")};
    ck_assert_int_eq(am_infer_merge(at("m2"), foreign, 3), -1);
    ck_assert_msg(strstr(am_error(), "not shards of one run") || strstr(am_error(), "run has"), "%s", am_error());
    unlink(at("shard1/summary.json"));
    ck_assert_int_eq(am_infer_merge(at("m2"), dirs, 3), -1);
    ck_assert_msg(strstr(am_error(), "shard 1/3") && strstr(am_error(), "not complete"), "%s", am_error());
}
END_TEST

// The am_infer program the kill and disk tests run: $AM_INFER (make asan
// gives its own build), else ../am_infer.
static const char *am_infer_bin(void) {
    const char *e = getenv("AM_INFER");
    return e && *e ? e : "../am_infer";
}

// Runs am_infer on the test's set into out; returns the child's pid (not
// waited for). Its output goes to child.log, or with fsize > 0 (its
// file-size limit, which a log file would hit too) to a pipe, *fd.
static pid_t spawn(const char *out, long fsize, int *fd) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec %s --model %s --images %s --out %s --batch 8 --threads 1 --top 10 "
             "--device cpu --sync-seconds 0 %s%s 2>&1", am_infer_bin(), at("model.amw"), at("images"), at(out),
             fsize > 0 ? "" : ">>", fsize > 0 ? "" : at("child.log"));
    int p2[2] = {-1, -1};
    if (fsize > 0) ck_assert(pipe(p2) == 0);
    pid_t p = fork();
    ck_assert(p >= 0);
    if (!p) {
        if (fsize > 0) {
            struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
            dup2(p2[1], 1);
            close(p2[0]);
            close(p2[1]);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (fsize > 0) {
        close(p2[1]);
        *fd = p2[0];
    }
    return p;
}

static int wait_exit(pid_t p) {
    int st;
    ck_assert(waitpid(p, &st, 0) == p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? 0 : st.st_size;
}

// 1 while child p has not exited (it is not reaped here).
static int running(pid_t p) {
    siginfo_t si;
    si.si_pid = 0;
    return waitid(P_PID, (id_t)p, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

// Objects stored one file per band (here two gray PNG "bands" each), with a
// 2-channel model whose preprocessing names the bands: a directory is
// listed as its objects (NAME from NAME_a.png), a list of {band} paths gives
// the same rows, and each score is the model's forward of the object's
// two channels alone (the same check as test_scores).
START_TEST(test_band_objects) {
    am_dataset d;
    image_list(&d);
    char *bands = at("bands"), path[4400], target[4400];
    ck_assert(mkdir(bands, 0755) == 0);
    FILE *list = fopen(at("bands.txt"), "w");
    for (int i = 0; i < 6; i++)
        for (int b = 0; b < 2; b++) {
            snprintf(path, sizeof path, "%s/obj%d_%c.png", bands, i, "ab"[b]);
            snprintf(target, sizeof target, "%s", d.paths[2 * i + b]);
            ck_assert(symlink(target, path) == 0);
            if (!b) fprintf(list, "%s/obj%d_{band}.png\n", bands, i);
        }
    fclose(list);
    snprintf(path, sizeof path, "%s/stray.png", bands);  // no band: left aside
    ck_assert(symlink(d.paths[20], path) == 0);
    am_model m;
    ck_assert(am_model_init(&m, "lite0", 2, 2, 0) == 0);
    ck_assert(am_weights_load(&m, "../weights/lite0.amw", 5) == 0);
    am_preprocess pre;
    am_preprocess_defaults(&pre, SIZE, 2);
    snprintf(pre.band_names, sizeof pre.band_names, "a,b");
    ck_assert(am_weights_save(&m, at("bands.amw"), &pre) == 0);
    char *src[] = {bands}, *lsrc[] = {at("bands.txt")};
    am_infer_opts o = opts("bands_dir", src, 1);
    o.model = at("bands.amw");
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    o = opts("bands_list", lsrc, 1);
    o.model = at("bands.amw");
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    char names[8][64], names2[8][64];
    float score[8], score2[8];
    ck_assert_int_eq(read_scores("bands_dir", names, score), 6);
    ck_assert_int_eq(read_scores("bands_list", names2, score2), 6);
    uint8_t px[SIZE * SIZE * 2];
    float x[SIZE * SIZE * 2], z[2];
    cmp_result c = {0};
    for (int i = 0; i < 6; i++) {
        char want[16];
        snprintf(want, sizeof want, "obj%d", i);
        ck_assert_str_eq(names[i], want);
        ck_assert_str_eq(names2[i], want);
        ck_assert(score[i] == score2[i]);
        snprintf(path, sizeof path, "%s/obj%d_{band}.png", bands, i);
        ck_assert_msg(am_input_load(px, path, &pre) == 0, "%s", am_error());
        for (int k = 0; k < SIZE * SIZE * 2; k++) x[k] = px[k] / 255.0f;
        const float *zz = am_forward(&m, x, 1, SIZE, 0, 0, 0);
        z[0] = zz[0], z[1] = zz[1];
        double p1 = 1.0 / (1.0 + exp((double)z[0] - z[1]));
        cmp_add(&c, names[i], (size_t)i, score[i], p1, 2e-6);
    }
    ck_assert(cmp_end(&c, "band objects' scores against their forward alone"));
    am_model_free(&m);
    am_dataset_free(&d);
}
END_TEST

// kill -9 at 24 random moments of a run, the same command resumed after
// each: the outputs end byte-identical to the uninterrupted run's. Even
// kills land at a moment uniform over the uninterrupted run's time (so also
// before the first journal record); odd kills, until a run has completed,
// once this run has written a journal record of its own, then up to a
// quarter of that time later: half of them land mid-run even when starting
// the program is slow (its CUDA libraries paged out, say), which an earlier
// form of this test met in a CI run (2 of 24 after a record).
START_TEST(test_kill9_resume) {
    ck_assert_msg(access(am_infer_bin(), X_OK) == 0, "%s is missing: make test builds it", am_infer_bin());
    double t0 = seconds();
    ck_assert_int_eq(wait_exit(spawn("ref", 0, NULL)), 0);
    long span_us = (long)((seconds() - t0) * 1e6);
    srand(20261205);
    int kills = 0, finished = 0, resumed = 0, complete = 0;
    const char *journal = at("killed/journal.bin");
    t0 = seconds();
    for (int round = 0; round < 400 && !finished; round++) {
        off_t before = file_size(journal);
        pid_t p = spawn("killed", 0, NULL);
        if (kills < 24) {
            long us = rand() % span_us;
            if (kills % 2 && !complete) {
                double t = seconds();
                while (file_size(journal) <= before && running(p) && seconds() - t < 30) usleep(200);
                us = rand() % (span_us / 4 + 1);
            }
            struct timespec d = {us / 1000000, us % 1000000 * 1000};
            nanosleep(&d, NULL);
            kill(p, SIGKILL);
        }
        int rc = wait_exit(p);
        struct stat st;
        if (rc == 128 + SIGKILL) {
            kills++;
            resumed += stat(journal, &st) == 0 && st.st_size > 0;
            continue;
        }
        ck_assert_msg(rc == 0, "am_infer exited %d after %d kills (see %s)", rc, kills, at("child.log"));
        complete = 1;
        finished = kills >= 24;
    }
    ck_assert_msg(finished, "only %d kills landed", kills);
    printf("  kill -9: %d kills (%d after the first journal record), resumed each time, %.1f s\n", kills, resumed,
           seconds() - t0);
    ck_assert_msg(resumed >= 12, "only %d kills landed after a batch was done", resumed);
    same_file("ref", "killed", "scores.csv");
    same_file("ref", "killed", "skipped.csv");
    same_file("ref", "killed", "top_candidates.csv");
}
END_TEST

// A full disk (a file-size limit: writes fail with EFBIG as they would with
// ENOSPC) stops the run with a clear message and an intact journal; with
// space back, the same command completes with the uninterrupted run's bytes.
START_TEST(test_disk_full) {
    ck_assert_int_eq(wait_exit(spawn("ref", 0, NULL)), 0);
    int fd;
    pid_t p = spawn("full", 1500, &fd);
    char log[65536];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof log - 1 && (got = read(fd, log + n, sizeof log - 1 - n)) > 0) n += (size_t)got;
    log[n] = 0;
    close(fd);
    ck_assert_int_eq(wait_exit(p), 1);
    ck_assert_msg(strstr(log, "File too large") && strstr(log, "disk is full") && strstr(log, "run the same command again"),
                  "%s", log);
    printf("  disk full: %s", strstr(log, "am_infer: "));
    // The journal's records are intact and within what the files hold.
    am_journal j;
    ck_assert(am_journal_open(&j, at("full/journal.bin")) == 0);
    am_jrec r, last = {0};
    int nrec = 0;
    while (am_journal_next(&j, &r) == 1) { last = r; nrec++; }
    am_journal_close(&j);
    struct stat st;
    ck_assert(stat(at("full/scores.csv"), &st) == 0);
    ck_assert_msg(nrec > 0 && last.scores_bytes <= (uint64_t)st.st_size && last.ordinal_end < N,
                  "%d records, last at %llu bytes, file %lld", nrec, (unsigned long long)last.scores_bytes,
                  (long long)st.st_size);
    ck_assert_int_eq(wait_exit(spawn("full", 0, NULL)), 0);
    same_file("ref", "full", "scores.csv");
    same_file("ref", "full", "top_candidates.csv");
}
END_TEST

// A torn last journal record (a crash in its write) is cut off; the run
// continues and ends as an uninterrupted one.
START_TEST(test_torn_journal) {
    char *src[] = {at("images")};
    am_infer_opts o = opts("ref", src, 1);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    o = opts("torn", src, 1);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    // Cut the journal inside its fourth record, and leave rows after it.
    struct stat st;
    ck_assert(stat(at("torn/journal.bin"), &st) == 0);
    long rec = st.st_size / (N / 16);
    ck_assert(truncate(at("torn/journal.bin"), 3 * rec + 10) == 0);
    unlink(at("torn/summary.json"));
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    same_file("ref", "torn", "scores.csv");
    same_file("ref", "torn", "top_candidates.csv");
    // A record damaged in the middle: what follows it is scored again.
    FILE *f = fopen(at("torn/journal.bin"), "r+b");
    fseek(f, rec + 20, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    same_file("ref", "torn", "scores.csv");
}
END_TEST

// Another model, batch or exclusion on an existing folder is refused, as is
// a second writer; the model's preprocessing rules the flags.
START_TEST(test_refusals) {
    char *src[] = {at("images")};
    am_infer_opts o = opts("out", src, 1);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    make_model(at("other.amw"), 2, 0);
    am_preprocess pre;
    am_preprocess_defaults(&pre, SIZE, 3);
    am_model m;
    ck_assert(am_model_init(&m, "lite0", 3, 2, 0) == 0);
    ck_assert(am_weights_load(&m, "../weights/lite0.amw", 9) == 0);
    ck_assert(am_weights_save(&m, at("model2.amw"), &pre) == 0);
    am_model_free(&m);
    o.model = at("model2.amw");
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "holds another run") && strstr(am_error(), "model_crc32"), "%s", am_error());
    // A second writer while the first runs (its lock held here).
    FILE *lk = fopen(at("out/journal.bin"), "rb");
    ck_assert(lk && flock(fileno(lk), LOCK_EX | LOCK_NB) == 0);
    o = opts("out", src, 1);
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "another am_infer is writing this folder"), "%s", am_error());
    fclose(lk);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    o = opts("out", src, 1);
    o.batch = 8;
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "batch = 16") && strstr(am_error(), "batch = 8"), "%s", am_error());
    o = opts("out2", src, 1);
    o.model = at("other.amw");
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "does not say how its images were prepared"), "%s", am_error());
    o.size = SIZE;
    o.channels = 3;
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    o = opts("out3", src, 1);
    o.size = 64;
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "--size 64") && strstr(am_error(), "trained on 32 px"), "%s", am_error());
    o = opts("out3", src, 1);
    o.stretch = "asinh";
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "--stretch asinh") && strstr(am_error(), "stretch none"), "%s", am_error());
    o = opts("out3", src, 1);
    o.fits_ext = "SCI";
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "--fits-ext 'SCI'"), "%s", am_error());
    o = opts("out3", src, 1);
    o.model = "../weights/lite0.amw";
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "1000 classes"), "%s", am_error());
    char *missing[] = {at("nowhere")};
    o = opts("out3", missing, 1);
    ck_assert_int_eq(am_infer_run(&o), -1);
    ck_assert_msg(strstr(am_error(), "cannot find source") && strstr(am_error(), "nowhere"), "%s", am_error());
}
END_TEST

// Bad input never stops a run: each bad file is a skipped row with its
// reason, the rest is scored.
START_TEST(test_bad_input) {
    ck_assert(mkdir(at("bad"), 0755) == 0);
    am_dataset d;
    image_list(&d);
    size_t n;
    uint8_t *png = bytes_of(d.paths[0], &n);
    struct { const char *name; size_t len; } cut[] = {{"truncated.png", 60}, {"empty.png", 0}};
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(at(cut[k].name), "wb");
        fwrite(png, 1, cut[k].len, f);
        fclose(f);
    }
    // A PNG header claiming 100000 x 100000 pixels (with a right CRC).
    uint8_t big[33];
    memcpy(big, png, 33);
    big[16] = big[20] = 0;
    big[17] = big[21] = 0x01;
    big[18] = big[22] = 0x86;
    big[19] = big[23] = 0xA0;
    uint32_t crc = (uint32_t)crc32(0L, big + 12, 17);
    for (int i = 0; i < 4; i++) big[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
    FILE *f = fopen(at("huge.png"), "wb");
    fwrite(big, 1, 33, f);
    fclose(f);
    f = fopen(at("text.jpg"), "w");
    fputs("hello", f);
    fclose(f);
    f = fopen(at("list.txt"), "w");
    fprintf(f, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n", d.paths[1], at("truncated.png"), at("empty.png"), at("huge.png"),
            at("text.jpg"), at("vanished.png"), d.paths[2]);
    fclose(f);
    // A tar cut in its second member, and an HDF5 file without `images`.
    make_tar(at("cut.tar"), 0, 3, 4);
    struct stat st;
    ck_assert(stat(d.paths[3], &st) == 0);  // the first member: header, data to 512 bytes, then the second's
    ck_assert(truncate(at("cut.tar"), 512 + (st.st_size + 511) / 512 * 512 + 512 + 100) == 0);
    make_h5(at("ok.h5"), 7, 3);
    f = fopen(at("noth5.h5"), "w");
    fputs("\x89HDF\r\n\x1a\ngarbage", f);
    fclose(f);
    char *src[] = {at("list.txt"), at("cut.tar"), at("noth5.h5"), at("ok.h5")};
    am_infer_opts o = opts("out", src, 4);
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    char *sk = read_out("out", "skipped.csv");
    const char *expect[] = {"truncated.png", "empty.png", "huge.png", "text.jpg", "vanished.png", "cut.tar", "noth5.h5"};
    for (int k = 0; k < 7; k++) ck_assert_msg(strstr(sk, expect[k]), "no skipped row for %s:\n%s", expect[k], sk);
    printf("  skipped.csv:\n%s", sk);
    int rows = 0;
    for (char *p = sk; *p; p++) rows += *p == '\n';
    ck_assert_int_eq(rows, 1 + 7);
    free(sk);
    char *sum = read_out("out", "summary.json");
    // 2 from the list, 1 whole member of the cut tar, 3 from ok.h5.
    ck_assert_msg(strstr(sum, "\"scored\": 6,") && strstr(sum, "\"skipped\": 7,"), "%s", sum);
    free(sum);
    free(png);
    am_dataset_free(&d);
}
END_TEST

// --exclude leaves the labelled images out (matched by basename).
START_TEST(test_exclude) {
    char *src[] = {at("images")};
    am_infer_opts o = opts("out", src, 1);
    o.exclude = at("labels.csv");
    ck_assert_msg(am_infer_run(&o) == 0, "%s", am_error());
    static char names[N][64];
    float s[N];
    int n = read_scores("out", names, s);
    ck_assert_int_eq(n, N - 4);
    int nl;
    char **lab = am_csv_first_column(at("labels.csv"), "labels", &nl);
    ck_assert_int_eq(nl, 4);
    for (int i = 0; i < nl; i++) {
        for (int k = 0; k < n; k++) ck_assert_str_ne(names[k], lab[i]);
        free(lab[i]);
    }
    free(lab);
    char *sum = read_out("out", "summary.json");
    ck_assert_msg(strstr(sum, "\"excluded\": 4,"), "%s", sum);
    free(sum);
}
END_TEST

Suite *suite_infer(void) {
    Suite *s = suite_create("infer");
    TCase *tc = tcase_create("infer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_scores);
    tcase_add_test(tc, test_sources_agree);
    tcase_add_test(tc, test_shards_merge);
    tcase_add_test(tc, test_dense_h5_shards_resume);
    tcase_add_test(tc, test_band_objects);
    tcase_add_test(tc, test_kill9_resume);
    tcase_add_test(tc, test_disk_full);
    tcase_add_test(tc, test_torn_journal);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_exclude);
    suite_add_tcase(s, tc);
    return s;
}
