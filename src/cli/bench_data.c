// am_bench loader and e2e (src/cli/bench.h): the loader that feeds scoring,
// and scoring a folder end to end.
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "am/batches.h"
#include "am/dataset.h"
#include "am/demo.h"
#include "am/device.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/gpu_dwconv.h"
#include "am/image.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/plot.h"
#include "am/prefetch.h"
#include "bench.h"
#include "../../kernels/conv_math.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#endif


// ---- loader and e2e: the data path of scoring a folder ----------------------

enum { FMT_PNG, FMT_GRAY, FMT_JPEG, NFMT };
static const char *const fmt_name[NFMT] = {"png", "gray", "jpeg"};

static int fmt_parse(const char *s) {
    for (int f = 0; f < NFMT; f++)
        if (!strcmp(s, fmt_name[f])) return f;
    fprintf(stderr, "am_bench: format '%s': expected png, gray or jpeg\n", s);
    return -1;
}

static int cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

// A new private directory under base ($TMPDIR or /tmp when NULL); NULL, with
// the reason printed, when it cannot be made.
char *bench_tmp_make(const char *base) {
    if (!base) base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t len = strlen(base) + 32;
    char *dir = AM_MALLOC(len);
    snprintf(dir, len, "%s/am_bench.XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "am_bench: cannot create a temporary directory in '%s': %s (choose another with --tmp DIR)\n",
                base, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

// Removes a directory from bench_tmp_make with everything written in it.
void bench_tmp_remove(char *dir) {
    if (dir) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

// 0 when dir is a directory, else -1 with the reason printed.
static int check_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st)) fprintf(stderr, "am_bench: --images '%s': %s\n", dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode)) fprintf(stderr, "am_bench: --images '%s' is not a directory\n", dir);
    else return 0;
    return -1;
}

// Writes synthetic image i of format fmt, src x src, at path: the demo's
// galaxy cutout i (src/data/demo.c), three different ones as the RGB
// channels; JPEG at quality 90. 0, or -1 (am_error()).
static int synth_one(const char *path, int fmt, int src, int i) {
    int C = fmt == FMT_GRAY ? 1 : 3;
    size_t np = (size_t)src * src;
    uint8_t *band = AM_MALLOC(np), *px = AM_MALLOC(np * C);
    for (int c = 0; c < C; c++) {
        am_demo_render(band, src, AM_DEMO_NORMAL, (uint64_t)(1 + c), (uint32_t)i, AM_DEMO_LOOK);
        for (size_t p = 0; p < np; p++) px[p * C + c] = band[p];
    }
    int rc = fmt == FMT_JPEG ? am_jpeg_write(path, px, src, src, C, 90) : am_png_write(path, px, src, src, C);
    free(band);
    free(px);
    return rc;
}

// Writes n images DIR/NNNNNN.png|jpg (synth_one), creating DIR: 64 distinct
// ones, rendered in parallel, the others hard links to them (written where
// the file system has none). 0, or -1 (am_error()).
static int synth_write(const char *dir, int fmt, int n, int src) {
    enum { DISTINCT = 64 };
    if (mkdir(dir, 0755) && errno != EEXIST) return am_seterr("cannot create '%s': %s", dir, strerror(errno));
    const char *ext = fmt == FMT_JPEG ? "jpg" : "png";
    char msg[1200] = "";
    #pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < (n < DISTINCT ? n : DISTINCT); i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%06d.%s", dir, i, ext);
        if (synth_one(path, fmt, src, i)) {
            #pragma omp critical(am_bench_synth)
            snprintf(msg, sizeof msg, "%s", am_error());
        }
    }
    if (msg[0]) return am_seterr("%s", msg);
    for (int i = DISTINCT; i < n; i++) {
        char from[4200], path[4200];
        snprintf(from, sizeof from, "%s/%06d.%s", dir, i % DISTINCT, ext);
        snprintf(path, sizeof path, "%s/%06d.%s", dir, i, ext);
        if (link(from, path) && synth_one(path, fmt, src, i % DISTINCT)) return -1;
    }
    return 0;
}

// The scoring jobs of the pool pass after pass: job j is am_score_fill's job
// j mod jobs, so that a small folder can feed a long run.
typedef struct { am_batcher *b; uint64_t jobs; } cycle_ctx;

static void cycle_fill(void *ctx, uint64_t job, void *slot) {
    cycle_ctx *c = ctx;
    am_score_fill(c->b, job % c->jobs, slot);
}

static void usage_loader(FILE *f) {
    fprintf(f,
        "usage: am_bench loader [--images DIR [--recursive]] [--format F ...] [--src S ...]\n"
        "                       [--size S ...] [--threads T ...] [--n N] [--batch N]\n"
        "                       [--seconds X] [--tmp DIR] [--json]\n"
        "Images/s of the loader that feeds scoring, as am_train scores its pool: on T\n"
        "threads each image is read and decoded, resized to --size (am_image_load:\n"
        "Pillow-exact bilinear, gray replicated to RGB) and converted to the float\n"
        "model input (am_score_fill), one batch per job behind the prefetch queue; the\n"
        "consumer takes the batches and does nothing else. Also images per CPU-second\n"
        "of the process (steadier than img/s on a busy machine) and MB/s of the\n"
        "compressed files read. By default on synthetic sets written to a temporary\n"
        "directory and removed after: the demo's galaxy cutouts, src x src (64\n"
        "distinct images, the others hard links to them), as 8-bit RGB PNG, 8-bit gray\n"
        "PNG and RGB JPEG (quality 90). A row for every set x --size x --threads,\n"
        "and for the PNG sets a row per --threads of libpng decoding alone (its\n"
        "simplified API, the file's own channels, no resize): the loader's ceiling.\n\n"
        "  --images DIR     the images (.png .jpg .jpeg) of DIR instead (read from disk\n"
        "                   on the first row unless already cached)\n"
        "  --recursive      with --images: subdirectories too\n"
        "  --format F ...   synthetic sets: png, gray and/or jpeg (default all three)\n"
        "  --src S ...      synthetic source sizes, 16..1024 (default 64 256)\n"
        "  --n N            images per synthetic set (default 256)\n"
        "  --size S ...     model input sizes (default 64 224)\n"
        "  --threads T ...  loader threads (default 1 2 4 ... and the core count)\n"
        "  --batch N        images per job, as am_train's --score-batch (default 64)\n"
        "  --seconds X      each row runs at least X seconds and one pass (default 1)\n"
        "  --tmp DIR        where the temporary directory goes (default $TMPDIR or /tmp)\n"
        "  --json           one JSON list instead of a table\n");
}

typedef struct { double s, cpu, img, bytes; } loader_row;  // wall and process CPU seconds

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Streams d's images through the scoring loader until one pass and `seconds`
// have gone by; readable images and their file bytes are counted.
static int loader_run(loader_row *r, const am_dataset *d, const double *fbytes, int S, int threads, int batch,
                      double seconds) {
    am_batcher b;
    am_preprocess pre;
    am_preprocess_defaults(&pre, S, 3);
    if (am_batcher_init(&b, d, &pre, 0, 0, 1, AM_RA_USB, threads, batch)) return -1;
    cycle_ctx c = {&b, ((uint64_t)b.npool + b.score_batch - 1) / b.score_batch};
    *r = (loader_row){0};
    double t0 = bench_now(), c0 = cpu_now();
    am_prefetch *pf = am_prefetch_start(cycle_fill, &c, am_score_slot_bytes(&b), 3, 0, UINT64_MAX / 2);
    for (uint64_t j = 0; j < c.jobs || bench_now() - t0 < seconds; j++) {
        am_score_head *h = am_score_slot_head(am_prefetch_next(pf, j));
        for (int i = 0; i < h->n; i++)
            if (h->ok[i]) {
                r->img++;
                r->bytes += fbytes[h->idx[i]];
            }
    }
    r->s = bench_now() - t0;
    r->cpu = cpu_now() - c0;
    am_prefetch_stop(pf);
    int nbad = b.nbad;
    am_batcher_free(&b);
    return nbad == d->n ? am_seterr("none of the %d images could be read (see the warnings above)", d->n) : 0;
}

// The baseline of the loader's decoding: every PNG of d decoded by libpng's
// simplified API in its own channels (gray or RGB, 8-bit), no resize, no
// float input, on `threads` OpenMP threads, until one pass and `seconds`.
static void raw_png_run(loader_row *r, const am_dataset *d, const double *fbytes, int threads, double seconds) {
    *r = (loader_row){0};
    double t0 = bench_now(), c0 = cpu_now(), img = 0, bytes = 0;
    do {
        #pragma omp parallel for num_threads(threads) schedule(dynamic) reduction(+ : img, bytes)
        for (int i = 0; i < d->n; i++) {
            png_image im;
            memset(&im, 0, sizeof im);
            im.version = PNG_IMAGE_VERSION;
            if (!png_image_begin_read_from_file(&im, d->paths[i])) continue;
            im.format = im.format & PNG_FORMAT_FLAG_COLOR ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
            void *px = AM_MALLOC(PNG_IMAGE_SIZE(im));
            if (png_image_finish_read(&im, NULL, px, 0, NULL)) {
                img++;
                bytes += fbytes[i];
            }
            png_image_free(&im);
            free(px);
        }
    } while (bench_now() - t0 < seconds);
    r->img = img;
    r->bytes = bytes;
    r->s = bench_now() - t0;
    r->cpu = cpu_now() - c0;
}

int bench_loader(int argc, char **argv) {
    const char *images = NULL, *tmpbase = NULL;
    int fmts[NFMT] = {FMT_PNG, FMT_GRAY, FMT_JPEG}, nfmts = NFMT, srcs[16] = {64, 256}, nsrcs = 2;
    int sizes[16] = {64, 224}, nsizes = 2, threads[16], nthreads = 0, n = 256, batch = 64, recursive = 0, json = 0;
    double seconds = 1.0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_loader(stdout); return 0; }
        else if (!strcmp(a, "--images") && more) images = argv[++i];
        else if (!strcmp(a, "--recursive")) recursive = 1;
        else if (!strcmp(a, "--format") && more) {
            nfmts = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nfmts < NFMT)
                if ((fmts[nfmts++] = fmt_parse(argv[++i])) < 0) return 2;
        } else if (!strcmp(a, "--src") && more) {
            nsrcs = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nsrcs < 16) srcs[nsrcs++] = atoi(argv[++i]);
        } else if (!strcmp(a, "--size") && more) {
            nsizes = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nsizes < 16) sizes[nsizes++] = atoi(argv[++i]);
        } else if (!strcmp(a, "--threads") && more) {
            nthreads = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nthreads < 16) threads[nthreads++] = atoi(argv[++i]);
        }
        else if (!strcmp(a, "--n") && more) n = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && more) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--seconds") && more) seconds = atof(argv[++i]);
        else if (!strcmp(a, "--tmp") && more) tmpbase = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_loader(stderr); return 2; }
    }
    if (!nthreads)
        for (int t = 1; nthreads < 16; t *= 2) {
            threads[nthreads++] = t < cores() ? t : cores();
            if (t >= cores()) break;
        }
    int ok = n >= 1 && batch >= 1 && batch <= 1024 && seconds >= 0 && nfmts && nsrcs && nsizes && nthreads;
    for (int s = 0; s < nsrcs; s++) ok = ok && srcs[s] >= 16 && srcs[s] <= 1024;
    for (int t = 0; t < nthreads; t++) ok = ok && threads[t] >= 1;
    if (!ok) {
        fprintf(stderr, "am_bench: need --n >= 1, 1 <= --batch <= 1024, --seconds >= 0, --src 16..1024, "
                        "--threads >= 1 and at least one of each list\n");
        return 2;
    }
    for (int s = 0; s < nsizes; s++)
        if (am_model_check_size(sizes[s])) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    // The sets: the user's directory, or one synthetic directory per format x source size.
    if (images && check_dir(images)) return 1;
    // The sets: the user's directory, or one synthetic directory per format x source size.
    int nsets = images ? 1 : nfmts * nsrcs, rc = 0;
    char *tmp = NULL;
    am_dataset *sets = AM_CALLOC(sizeof(am_dataset) * nsets);
    if (!images && !(tmp = bench_tmp_make(tmpbase))) rc = 1;
    for (int k = 0; k < nsets && !rc; k++) {
        char dir[4200];
        if (images) snprintf(dir, sizeof dir, "%s", images);
        else {
            int f = fmts[k / nsrcs], src = srcs[k % nsrcs];
            snprintf(dir, sizeof dir, "%s/%s-%d", tmp, fmt_name[f], src);
            fprintf(stderr, "am_bench loader: writing %d %s images of %dx%d\n", n, fmt_name[f], src, src);
            if (synth_write(dir, f, n, src)) {
                fprintf(stderr, "am_bench: %s (choose another place with --tmp DIR)\n", am_error());
                rc = 1;
                break;
            }
        }
        if (am_dataset_list(&sets[k], dir, recursive)) { fprintf(stderr, "am_bench: %s\n", am_error()); rc = 1; }
    }
    if (!rc && json) printf("[");
    else if (!rc) {
        printf("am_bench loader: %s, %d cores, batch %d, prefetch depth 3\n", images ? images : "synthetic sets",
               cores(), batch);
        printf("%-6s %9s %5s %7s %7s %10s %10s %8s %8s\n", "format", "source", "size", "threads", "images", "img/s",
               "img/cpu-s", "MB/s", "KB/img");
    }
    int first = 1;
    for (int k = 0; k < nsets && !rc; k++) {
        const am_dataset *d = &sets[k];
        double *fbytes = AM_MALLOC(sizeof(double) * d->n);
        for (int i = 0; i < d->n; i++) {
            struct stat st;
            fbytes[i] = stat(d->paths[i], &st) ? 0.0 : (double)st.st_size;
        }
        const char *fmt = images ? "dir" : fmt_name[fmts[k / nsrcs]];
        int src = images ? 0 : srcs[k % nsrcs];
        char srcs_txt[32];
        if (images) snprintf(srcs_txt, sizeof srcs_txt, "-");
        else snprintf(srcs_txt, sizeof srcs_txt, "%dx%d", src, src);
        for (int s = 0; s < nsizes && !rc; s++)
            for (int t = 0; t < nthreads && !rc; t++) {
                loader_row r;
                if (loader_run(&r, d, fbytes, sizes[s], threads[t], batch, seconds)) {
                    fprintf(stderr, "am_bench: %s\n", am_error());
                    rc = 1;
                    break;
                }
                double img_s = r.img / r.s, mb_s = r.bytes / r.s / 1e6, kb = r.bytes / r.img / 1e3;
                if (json)
                    printf("%s\n {\"impl\": \"am\", \"bench\": \"loader\", \"format\": \"%s\", \"src\": %d, "
                           "\"size\": %d, \"threads\": %d, \"batch\": %d, \"images\": %d, \"img_s\": %.1f, "
                           "\"img_cpu_s\": %.1f, \"mb_s\": %.2f, \"kb_per_img\": %.2f, \"seconds\": %.3f, "
                           "\"cpu_seconds\": %.3f, \"cores\": %d}",
                           first ? "" : ",", fmt, src, sizes[s], threads[t], batch, d->n, img_s, r.img / r.cpu, mb_s,
                           kb, r.s, r.cpu, cores());
                else
                    printf("%-6s %9s %5d %7d %7d %10.1f %10.1f %8.2f %8.2f\n", fmt, srcs_txt, sizes[s], threads[t],
                           d->n, img_s, r.img / r.cpu, mb_s, kb);
                first = 0;
                fflush(stdout);
            }
        // libpng alone on the PNG sets: the decode the loader cannot beat.
        int png = images ? d->n && strcasestr(d->paths[0], ".png") != NULL : fmts[k / nsrcs] != FMT_JPEG;
        for (int t = 0; t < nthreads && !rc && png; t++) {
            loader_row r;
            raw_png_run(&r, d, fbytes, threads[t], seconds);
            double img_s = r.img / r.s, mb_s = r.bytes / r.s / 1e6, kb = r.img ? r.bytes / r.img / 1e3 : 0;
            if (json)
                printf(",\n {\"impl\": \"libpng\", \"bench\": \"decode\", \"format\": \"%s\", \"src\": %d, "
                       "\"threads\": %d, \"images\": %d, \"img_s\": %.1f, \"img_cpu_s\": %.1f, \"mb_s\": %.2f, "
                       "\"kb_per_img\": %.2f, \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"cores\": %d}",
                       fmt, src, threads[t], d->n, img_s, r.img / r.cpu, mb_s, kb, r.s, r.cpu, cores());
            else
                printf("%-6s %9s %5s %7d %7d %10.1f %10.1f %8.2f %8.2f  libpng decode alone\n", fmt, srcs_txt, "-",
                       threads[t], d->n, img_s, r.img / r.cpu, mb_s, kb);
            fflush(stdout);
        }
        free(fbytes);
    }
    if (!rc && json) printf("\n]\n");
    for (int k = 0; k < nsets; k++) am_dataset_free(&sets[k]);
    free(sets);
    bench_tmp_remove(tmp);
    return rc;
}

static void usage_e2e(FILE *f) {
    fprintf(f,
        "usage: am_bench e2e [--images DIR [--recursive] | --format F --src S --n N] [--size S]\n"
        "                    [--device D] [--precision P] [--arch A] [--batch N]\n"
        "                    [--loader-threads T] [--threads T] [--passes P] [--tmp DIR] [--json]\n"
        "Scores a folder end to end as am_train scores its pool: lists it\n"
        "(am_dataset_list), decodes and resizes on the loader threads behind the\n"
        "prefetch queue (am_score_fill), runs the eval forward (cpu: am_forward;\n"
        "cuda: am_gpu_eval, upload + CUDA graph + download) and the softmax score.\n"
        "Prints images/s, listing included, and where the time went: the listing, the\n"
        "first batch (loader start, first decode), then waiting for the loader or in\n"
        "the model, and so which side bounds the run. The model has random weights (the\n"
        "time does not depend on them) and runs one untimed warm-up batch first\n"
        "(cuDNN's algorithm search, the graph capture). By default on a synthetic\n"
        "folder written to a temporary directory and removed after: the demo's\n"
        "galaxy cutouts (see am_bench loader --help).\n\n"
        "  --images DIR         score the images (.png .jpg .jpeg) of DIR instead\n"
        "  --recursive          with --images: subdirectories too\n"
        "  --format F           synthetic folder: png, gray or jpeg (default png)\n"
        "  --src S              synthetic source size, 16..1024 (default 64)\n"
        "  --n N                synthetic images (default 1024)\n"
        "  --size S             model input size (default 64)\n"
        "  --device D           cpu, cuda or cuda:N (default cuda where a GPU is present)\n"
        "  --precision P        fp32 or bf16 (default bf16 on cuda, fp32 on cpu)\n"
        "  --arch NAME          lite0..lite4, b0..b7 (default lite0)\n"
        "  --batch N            images per batch, as --score-batch, up to 1024 (default 64)\n"
        "  --loader-threads T   decoding threads, as am_train's --loader-threads (default 1)\n"
        "  --threads T          CPU threads of the model (default: all cores)\n"
        "  --passes P           score the folder P times in one stream (default 1)\n"
        "  --tmp DIR            where the synthetic folder goes (default $TMPDIR or /tmp)\n"
        "  --json               one JSON list instead of lines\n");
}

typedef struct {
    const char *dir, *what, *arch;
    int fmt, src;  // the synthetic folder's format and size; -1, 0 for --images
    int dev, dt, S, batch, lthreads, passes, recursive, json;
} e2e_cfg;

// Eval logits (n, 2) of x: am_gpu_eval when g, else am_forward on the CPU.
static const float *e2e_eval(am_model *m, am_gpu_model *g, float *logits, const float *x, int n, int S) {
#ifdef AM_HAVE_CUDA
    if (g) {
        am_gpu_eval(g, logits, x, n, S);
        return logits;
    }
#else
    (void)g;
    (void)logits;
#endif
    return am_forward(m, x, n, S, 0, 0, 0);
}

static int e2e_run(const e2e_cfg *c) {
    // Timed: the listing, then (after the model is made and warmed up) the
    // loader start and batch after batch.
    double t0 = bench_now();
    am_dataset d;
    if (am_dataset_list(&d, c->dir, c->recursive)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
    double list = bench_now() - t0;
    am_model m;
    am_gpu_model gm, *g = NULL;
    if (am_model_init(&m, c->arch, 3, 2, 1)) {
        fprintf(stderr, "am_bench: %s\n", am_error());
        am_dataset_free(&d);
        return 1;
    }
    if (c->dev >= 0) {
        if (am_gpu_model_init(&gm, &m, c->dev, c->dt)) {
            fprintf(stderr, "am_bench: %s\n", am_error());
            am_model_free(&m);
            am_dataset_free(&d);
            return 1;
        }
        g = &gm;
    }
    size_t img = (size_t)c->S * c->S * 3;
    float *logits = AM_MALLOC(sizeof(float) * 2 * c->batch), *x0 = AM_CALLOC(sizeof(float) * img * c->batch);
    double t = bench_now();
    e2e_eval(&m, g, logits, x0, c->batch, c->S);
    double warm = bench_now() - t;
    free(x0);
    t0 = bench_now();
    // Every image is in the pool: nothing labelled to decode, so this cannot fail.
    am_batcher b;
    am_preprocess pre;
    am_preprocess_defaults(&pre, c->S, 3);
    am_batcher_init(&b, &d, &pre, 0, 0, 1, AM_RA_USB, c->lthreads, c->batch);
    cycle_ctx cc = {&b, ((uint64_t)b.npool + b.score_batch - 1) / b.score_batch};
    uint64_t jobs = cc.jobs * (uint64_t)c->passes;
    float *score = AM_MALLOC(sizeof(float) * d.n);
    am_prefetch *pf = am_prefetch_start(cycle_fill, &cc, am_score_slot_bytes(&b), 3, 0, jobs);
    double first = 0.0, wait = 0.0, model = 0.0;
    long scored = 0;
    for (uint64_t j = 0; j < jobs; j++) {
        double ta = bench_now();
        void *slot = am_prefetch_next(pf, j);
        double tb = bench_now();
        if (j) wait += tb - ta;
        else first = tb - t0;
        am_score_head *h = am_score_slot_head(slot);
        const float *z = e2e_eval(&m, g, logits, am_score_slot_x(slot), h->n, c->S);
        model += bench_now() - tb;
        for (int i = 0; i < h->n; i++)
            if (h->ok[i]) {
                score[h->idx[i]] = 1.0f / (1.0f + expf(z[2 * i] - z[2 * i + 1]));
                scored++;
            }
    }
    double total = list + bench_now() - t0;
    am_prefetch_stop(pf);
    int rc = scored ? 0 : 1;
    if (!scored) fprintf(stderr, "am_bench: no image of '%s' could be read\n", c->dir);
    const char *dev = c->dev < 0 ? "cpu" : "cuda", *prec = c->dt == AM_BF16 ? "bf16" : "fp32";
    const char *bound = wait >= 0.1 * total ? "loader" : "model";
    if (!rc && c->json) {
        printf("[\n {\"impl\": \"am\", \"bench\": \"e2e\", \"source\": \"%s\", \"src\": %d, \"device\": \"%s\", "
               "\"model\": \"%s\", \"size\": %d, \"precision\": \"%s\", \"batch\": %d, \"loader_threads\": %d, "
               "\"threads\": %d, \"passes\": %d, \"images\": %ld, \"total_s\": %.4f, \"img_s\": %.1f, "
               "\"list_s\": %.4f, \"first_batch_s\": %.4f, \"wait_s\": %.4f, \"model_s\": %.4f, "
               "\"model_img_s\": %.1f, \"warmup_s\": %.4f, \"bound\": \"%s\"}\n]\n",
               c->fmt < 0 ? "dir" : fmt_name[c->fmt], c->src, dev, c->arch, c->S, prec, c->batch, c->lthreads,
               am_get_threads(), c->passes, scored, total, scored / total, list, first, wait, model, scored / model,
               warm, bound);
    } else if (!rc) {
        printf("am_bench e2e: %s -> %s at %d px on %s %s, batch %d, loader threads %d, model threads %d, "
               "passes %d\n", c->what, c->arch, c->S, dev, prec, c->batch, c->lthreads, am_get_threads(), c->passes);
        printf("  %-12s %9s %6s\n", "", "seconds", "share");
        const char *row[4] = {"listing", "first batch", "loader wait", "model"};
        double sec[4] = {list, first, wait, model};
        for (int i = 0; i < 4; i++) printf("  %-12s %9.4f %5.1f%%\n", row[i], sec[i], 100.0 * sec[i] / total);
        printf("  %-12s %9.4f %5.1f%%  %ld images: %.1f img/s (the model alone: %.1f; warm-up %.3f s not counted)\n",
               "end to end", total, 100.0, scored, scored / total, scored / model, warm);
        printf("  bound by the %s\n", !strcmp(bound, "loader")
                   ? "loader (waits >= 10%: more --loader-threads, faster storage)"
                   : "model (the loader keeps up)");
    }
    free(score);
    free(logits);
    am_batcher_free(&b);
    am_dataset_free(&d);
    if (g) am_gpu_model_free(g);
    am_model_free(&m);
    return rc;
}

int bench_e2e(int argc, char **argv) {
    const char *images = NULL, *device = NULL, *precision = "auto", *arch = "lite0", *tmpbase = NULL;
    int fmt = FMT_PNG, src = 64, n = 1024, S = 64, batch = 64, lthreads = 1, threads = 0, passes = 1, recursive = 0;
    int json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_e2e(stdout); return 0; }
        else if (!strcmp(a, "--images") && more) images = argv[++i];
        else if (!strcmp(a, "--recursive")) recursive = 1;
        else if (!strcmp(a, "--format") && more) { if ((fmt = fmt_parse(argv[++i])) < 0) return 2; }
        else if (!strcmp(a, "--src") && more) src = atoi(argv[++i]);
        else if (!strcmp(a, "--n") && more) n = atoi(argv[++i]);
        else if (!strcmp(a, "--size") && more) S = atoi(argv[++i]);
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--precision") && more) precision = argv[++i];
        else if (!strcmp(a, "--arch") && more) arch = argv[++i];
        else if (!strcmp(a, "--batch") && more) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--loader-threads") && more) lthreads = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--passes") && more) passes = atoi(argv[++i]);
        else if (!strcmp(a, "--tmp") && more) tmpbase = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_e2e(stderr); return 2; }
    }
    if (n < 1 || batch < 1 || batch > 1024 || lthreads < 1 || threads < 0 || passes < 1 || src < 16 || src > 1024) {
        fprintf(stderr, "am_bench: need --n >= 1, 1 <= --batch <= 1024, --loader-threads >= 1, --threads >= 0, "
                        "--passes >= 1, --src 16..1024\n");
        return 2;
    }
    if (am_model_check_size(S)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    if (images && check_dir(images)) return 1;
    int dev = bench_pick_device(device), dt;
    if (dev == -2) return 1;
    if (am_precision_pick(precision, dev, &dt)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    char *tmp = NULL, what[64];
    if (!images) {
        if (!(tmp = bench_tmp_make(tmpbase))) return 1;
        if (!json) fprintf(stderr, "am_bench e2e: writing %d %s images of %dx%d\n", n, fmt_name[fmt], src, src);
        if (synth_write(tmp, fmt, n, src)) {
            fprintf(stderr, "am_bench: %s (choose another place with --tmp DIR)\n", am_error());
            bench_tmp_remove(tmp);
            return 1;
        }
        snprintf(what, sizeof what, "%d %s %dx%d (synthetic)", n, fmt_name[fmt], src, src);
    }
    am_set_threads(threads);
    e2e_cfg c = {images ? images : tmp, images ? images : what, arch, images ? -1 : fmt, images ? 0 : src,
                 dev, dt, S, batch, lthreads, passes, recursive, json};
    int rc = e2e_run(&c);
    bench_tmp_remove(tmp);
    return rc;
}
