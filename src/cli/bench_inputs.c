// am_bench inputs (src/cli/bench.h): the inputs module per core. Every image
// of a folder through am_input_load (FITS/TIFF decode, float resize, band
// combination, stretch to 8 bits) on one thread, pass after pass; the Python
// side of the same work is bench/fits_vs_python.py.
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/demo.h"
#include "am/error.h"
#include "am/fits.h"
#include "am/image.h"
#include "am/inputs.h"
#include "am/stretch.h"
#include "bench.h"

static void usage_inputs(FILE *f) {
    fprintf(f,
        "usage: am_bench inputs [--images DIR [--recursive] | --synthetic N [--src S] [--tmp DIR]]\n"
        "                       [--size S] [--channels C] [--stretch NAME] [--fits-ext EXT]\n"
        "                       [--combine M] [--passes P] [--phases] [--dump FILE] [--json]\n"
        "Images/s and microseconds per image of the inputs module on ONE thread (per\n"
        "core): every image of a folder (am_dataset_list) read by am_input_load, as\n"
        "am_train, am_infer and am_classify read it: the file decoded (cfitsio for\n"
        "FITS, libtiff, libpng, libjpeg), the float image resized (OpenCV's area or\n"
        "linear), its bands combined, then stretched to the 8-bit (size, size, C)\n"
        "image. One untimed pass first (it also reads the files into the page cache),\n"
        "then P timed passes; the figure is their median, with min and max.\n"
        "bench/fits_vs_python.sh times the same files through fitsbolt and astropy.\n\n"
        "  --images DIR      the images of DIR (.fits .fit .fts .fz .tif .tiff .png .jpg)\n"
        "  --recursive       with --images: subdirectories too\n"
        "  --synthetic N     instead: N two-band float32 FITS files (HDUs G and R, the\n"
        "                    demo's cutouts: am_demo_render_bands + am_fits_write, 64\n"
        "                    distinct, the others hard links), written to a temporary\n"
        "                    directory and removed after (default 1000 when --images is\n"
        "                    not given)\n"
        "  --src S           synthetic source size, 16..1024 (default 150)\n"
        "  --tmp DIR         where the temporary directory goes (default $TMPDIR or /tmp)\n"
        "  --size S          output size, 16..1024 (default 150, the Python tool's)\n"
        "  --channels C      the model's channels, as am_train's (default 1)\n"
        "  --stretch NAME    none, linear, percentile, log, asinh or zscale (default asinh)\n"
        "  --fits-ext EXT    FITS HDU(s), as am_train's: SCI, 1 or G,R (default: the first image)\n"
        "  --combine M       C rows of N band weights, as am_train's: \"1,0;0.5,0.5;0,1\"\n"
        "  --passes P        timed passes (default 3)\n"
        "  --phases          also one pass timed phase by phase (FITS, a stretch other than\n"
        "                    none): cfitsio read, resize, combination, stretch (and within\n"
        "                    it the limits: percentiles or zscale), each checked to give\n"
        "                    am_input_load's bytes\n"
        "  --dump FILE       write the 8-bit images of the warm-up pass to FILE, one after\n"
        "                    another in listing order (size x size x C bytes each)\n"
        "  --json            one JSON object instead of lines\n");
}

// ---- the synthetic folder ----------------------------------------------------

// n files DIR/NNNNNN.fits: the demo's normal cutouts in two bands, 64
// distinct ones, the others hard links to them. 0, or -1 (am_error()).
static int synth_fits(const char *dir, int n, int src) {
    enum { DISTINCT = 64 };
    static const char *const names[AM_DEMO_BANDS] = {"G", "R"};
    float *planes = AM_MALLOC(sizeof(float) * AM_DEMO_BANDS * src * src);
    char path[4200], from[4200];
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        snprintf(path, sizeof path, "%s/%06d.fits", dir, i);
        snprintf(from, sizeof from, "%s/%06d.fits", dir, i % DISTINCT);
        if (i >= DISTINCT && !link(from, path)) continue;
        am_demo_render_bands(planes, src, AM_DEMO_NORMAL, 42, (uint32_t)(i % DISTINCT), AM_DEMO_LOOK);
        rc = am_fits_write(path, planes, src, src, AM_DEMO_BANDS, names);
    }
    free(planes);
    return rc;
}

// ---- the phases: am_input_load's FITS path taken apart -----------------------

enum { PH_READ, PH_RESIZE, PH_COMBINE, PH_STRETCH, PH_LIMITS, NPH };
static const char *const ph_name[NPH] = {"read", "resize", "combine", "stretch", "limits"};

// One image as inputs.c's from_float does it for a stretch other than none,
// each step timed into t[]; the limits are computed once more apart (not in
// the total). 1 when dst equals ref, 0 when not, -1 when unreadable.
static int phases_one(double *t, uint8_t *dst, const uint8_t *ref, const char *path, const am_preprocess *p) {
    float *px = NULL;
    int w = 0, h = 0, N = 0, S = p->size, C = p->channels;
    am_sample_type ty = AM_SAMPLE_FLOAT;
    double t0 = bench_now();
    if (am_fits_read(path, NULL, 0, p->fits_ext, &px, &w, &h, &N, &ty)) return -1;
    double t1 = bench_now();
    size_t n = (size_t)S * S, finite = 0;
    for (size_t i = 0; i < (size_t)w * h * N; i++) finite += isfinite(px[i]) != 0;
    float *r = px;
    if (w != S || h != S) {
        r = AM_MALLOC(sizeof(float) * n * N);
        am_resize_float(r, S, S, px, w, h, N);
        free(px);
    }
    double t2 = bench_now();
    float m[sizeof p->combine / sizeof p->combine[0]] = {0};
    if (p->bands) memcpy(m, p->combine, sizeof(float) * C * N);
    else if (N == 1)
        for (int c = 0; c < C; c++) m[c] = 1;
    else
        for (int c = 0; c < C && c < N; c++) m[c * N + c] = 1;
    float *y = AM_MALLOC(sizeof(float) * n * C);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            float a = 0;
            for (int b = 0; b < N; b++) a += m[c * N + b] * r[i * N + b];
            y[i * C + c] = a;
        }
    free(r);
    double t3 = bench_now();
    // The limits alone, on a copy with NaN and Inf set to 0 as the stretch does.
    float *z = AM_MALLOC(sizeof(float) * n * C);
    for (size_t i = 0; i < n * C; i++) z[i] = isfinite(y[i]) ? y[i] : 0.0f;
    double lo, hi, l0 = bench_now();
    if (p->stretch.kind == AM_STRETCH_ZSCALE) am_zscale_limits(z, n * C, &p->stretch, &lo, &hi);
    else if (p->stretch.kind == AM_STRETCH_ASINH || p->stretch.kind == AM_STRETCH_PERCENTILE)
        for (int c = 0; c < C; c++) am_percentile_limits(z, S, S, C, c, &p->stretch, &lo, &hi);
    double l1 = bench_now();
    free(z);
    double t4 = bench_now();
    am_stretch_apply(dst, y, S, S, C, &p->stretch, ty);
    double t5 = bench_now();
    free(y);
    (void)finite;
    t[PH_READ] += t1 - t0;
    t[PH_RESIZE] += t2 - t1;
    t[PH_COMBINE] += t3 - t2;
    t[PH_STRETCH] += t5 - t4;
    t[PH_LIMITS] += l1 - l0;
    return !memcmp(dst, ref, n * C);
}

// ---- the benchmark -----------------------------------------------------------

// One pass over d through am_input_load; the number read, -1 on a first error
// when `strict` (a warm-up: a file the bench cannot read is a setup error).
static int one_pass(const am_dataset *d, uint8_t *out, size_t bytes, const am_preprocess *p, FILE *dump,
                    int strict) {
    int ok = 0;
    for (int i = 0; i < d->n; i++) {
        if (am_input_load(out, d->paths[i], p)) {
            if (strict) {
                fprintf(stderr, "am_bench: %s\n", am_error());
                return -1;
            }
            continue;
        }
        if (dump && fwrite(out, 1, bytes, dump) != bytes) {
            fprintf(stderr, "am_bench: cannot write --dump: %s\n", strerror(errno));
            return -1;
        }
        ok++;
    }
    return ok;
}

int bench_inputs(int argc, char **argv) {
    const char *images = NULL, *tmpbase = NULL, *stretch = "asinh", *fits_ext = "", *combine = NULL, *dump = NULL;
    int synthetic = 0, src = 150, size = 150, channels = 1, passes = 3, recursive = 0, phases = 0, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_inputs(stdout); return 0; }
        else if (!strcmp(a, "--images") && more) images = argv[++i];
        else if (!strcmp(a, "--recursive")) recursive = 1;
        else if (!strcmp(a, "--synthetic") && more) synthetic = atoi(argv[++i]);
        else if (!strcmp(a, "--src") && more) src = atoi(argv[++i]);
        else if (!strcmp(a, "--tmp") && more) tmpbase = argv[++i];
        else if (!strcmp(a, "--size") && more) size = atoi(argv[++i]);
        else if (!strcmp(a, "--channels") && more) channels = atoi(argv[++i]);
        else if (!strcmp(a, "--stretch") && more) stretch = argv[++i];
        else if (!strcmp(a, "--fits-ext") && more) fits_ext = argv[++i];
        else if (!strcmp(a, "--combine") && more) combine = argv[++i];
        else if (!strcmp(a, "--passes") && more) passes = atoi(argv[++i]);
        else if (!strcmp(a, "--phases")) phases = 1;
        else if (!strcmp(a, "--dump") && more) dump = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_inputs(stderr); return 2; }
    }
    if (images && synthetic) { fprintf(stderr, "am_bench: give --images or --synthetic, not both\n"); return 2; }
    if (!images && !synthetic) synthetic = 1000;
    if (synthetic < 0 || passes < 1 || src < 16 || src > 1024) {
        fprintf(stderr, "am_bench: need --synthetic >= 1, --passes >= 1 and --src 16..1024\n");
        return 2;
    }
    am_preprocess pre;
    am_preprocess_defaults(&pre, size, channels);
    int kind = am_stretch_parse(stretch);
    if (kind < 0) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    pre.stretch.kind = kind;
    if (strlen(fits_ext) >= sizeof pre.fits_ext) { fprintf(stderr, "am_bench: --fits-ext is too long\n"); return 2; }
    snprintf(pre.fits_ext, sizeof pre.fits_ext, "%s", fits_ext);
    if ((combine && am_combine_parse(&pre, combine)) || am_preprocess_check(&pre)) {
        fprintf(stderr, "am_bench: %s\n", am_error());
        return 2;
    }
    char *tmp = NULL;
    const char *dir = images;
    if (!images) {
        if (!(tmp = bench_tmp_make(tmpbase))) return 1;
        if (!json) fprintf(stderr, "am_bench inputs: writing %d FITS files of %dx%d, 2 bands\n", synthetic, src, src);
        if (synth_fits(tmp, synthetic, src)) {
            fprintf(stderr, "am_bench: %s (choose another place with --tmp DIR)\n", am_error());
            bench_tmp_remove(tmp);
            return 1;
        }
        dir = tmp;
    }
    am_dataset d;
    if (am_dataset_list(&d, dir, recursive)) {
        fprintf(stderr, "am_bench: %s\n", am_error());
        bench_tmp_remove(tmp);
        return 1;
    }
    size_t bytes = (size_t)size * size * channels;
    uint8_t *out = AM_MALLOC(bytes);
    double *sec = AM_MALLOC(sizeof(double) * passes), *rate = AM_MALLOC(sizeof(double) * passes), mb = 0;
    for (int i = 0; i < d.n; i++) {
        struct stat st;
        if (!stat(d.paths[i], &st)) mb += st.st_size / 1e6;
    }
    int rc = 0, ok = 0;
    FILE *df = dump ? fopen(dump, "wb") : NULL;
    if (dump && !df) {
        fprintf(stderr, "am_bench: cannot create '%s': %s\n", dump, strerror(errno));
        rc = 1;
    }
    // Warm-up: the files into the page cache, the libraries' first calls.
    if (!rc && (ok = one_pass(&d, out, bytes, &pre, df, 1)) < 0) rc = 1;
    if (df && fclose(df)) {
        fprintf(stderr, "am_bench: cannot write '%s': %s\n", dump, strerror(errno));
        rc = 1;
    }
    for (int p = 0; p < passes && !rc; p++) {
        double t0 = bench_now();
        one_pass(&d, out, bytes, &pre, NULL, 0);
        sec[p] = bench_now() - t0;
        rate[p] = ok / sec[p];
    }
    // The phases, one more pass.
    double ph[NPH] = {0};
    int same = 0, phased = 0;
    if (!rc && phases && kind != AM_STRETCH_NONE) {
        uint8_t *ref = AM_MALLOC(bytes), *mine = AM_MALLOC(bytes);
        for (int i = 0; i < d.n; i++) {
            unsigned char sig[16] = {0};
            FILE *f = fopen(d.paths[i], "rb");
            size_t got = f ? fread(sig, 1, sizeof sig, f) : 0;
            if (f) fclose(f);
            if (!am_fits_signature(sig, got) || am_input_load(ref, d.paths[i], &pre)) continue;
            int r = phases_one(ph, mine, ref, d.paths[i], &pre);
            if (r >= 0) {
                phased++;
                same += r;
            }
        }
        free(ref);
        free(mine);
    }
    if (!rc) {
        double *sorted = AM_MALLOC(sizeof(double) * passes);
        memcpy(sorted, rate, sizeof(double) * passes);
        qsort(sorted, passes, sizeof(double), bench_cmp_double);
        double med = passes % 2 ? sorted[passes / 2] : 0.5 * (sorted[passes / 2 - 1] + sorted[passes / 2]);
        char comb[256];
        am_combine_format(&pre, comb, sizeof comb);
        if (json) {
            printf("{\"impl\": \"am\", \"bench\": \"inputs\", \"dir\": \"%s\", \"images\": %d, \"read\": %d, "
                   "\"mb\": %.3f, \"size\": %d, \"channels\": %d, \"stretch\": \"%s\", \"fits_ext\": \"%s\", "
                   "\"combine\": \"%s\", \"threads\": 1, \"passes\": %d, \"img_s\": %.2f, \"img_s_min\": %.2f, "
                   "\"img_s_max\": %.2f, \"us_per_img\": %.2f, \"pass_img_s\": [",
                   images ? images : "synthetic", d.n, ok, mb, size, channels, am_stretch_name(kind), fits_ext, comb,
                   passes, med, sorted[0], sorted[passes - 1], 1e6 / med);
            for (int p = 0; p < passes; p++) printf("%s%.2f", p ? ", " : "", rate[p]);
            printf("]");
            if (phased) {
                printf(", \"phases_images\": %d, \"phases_same_bytes\": %d, \"phases_us\": {", phased, same);
                for (int k = 0; k < NPH; k++) printf("%s\"%s\": %.2f", k ? ", " : "", ph_name[k], 1e6 * ph[k] / phased);
                printf("}");
            }
            printf("}\n");
        } else {
            printf("am_bench inputs: %s, %d images (%d read, %.1f MB), size %d, channels %d, stretch %s%s%s%s%s, "
                   "1 thread\n",
                   images ? images : "synthetic FITS", d.n, ok, mb, size, channels, am_stretch_name(kind),
                   *fits_ext ? ", fits-ext " : "", fits_ext, *comb ? ", combine " : "", comb);
            for (int p = 0; p < passes; p++)
                printf("pass %d: %.3f s, %.1f img/s, %.1f us/img\n", p + 1, sec[p], rate[p], 1e6 / rate[p]);
            printf("median %.1f img/s (min %.1f, max %.1f), %.1f us per image per core\n", med, sorted[0],
                   sorted[passes - 1], 1e6 / med);
            if (phased) {
                double tot = ph[PH_READ] + ph[PH_RESIZE] + ph[PH_COMBINE] + ph[PH_STRETCH];
                printf("phases over %d FITS images (us/img; %d of %d gave am_input_load's bytes):", phased, same,
                       phased);
                for (int k = 0; k < PH_LIMITS; k++)
                    printf(" %s %.1f (%.0f%%)", ph_name[k], 1e6 * ph[k] / phased, 100 * ph[k] / tot);
                printf("; limits alone %.1f\n", 1e6 * ph[PH_LIMITS] / phased);
            }
        }
        free(sorted);
    }
    free(out);
    free(sec);
    free(rate);
    am_dataset_free(&d);
    bench_tmp_remove(tmp);
    return rc;
}
