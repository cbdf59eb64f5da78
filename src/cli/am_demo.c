// am_demo: writes a procedural astronomy data set with rare anomalies (ring
// galaxies, lensing arcs, mergers, satellite trails) for trying out am_train.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/dataset.h"
#include "am/demo.h"
#include "am/error.h"
#include "am/files.h"
#include "am/h5.h"
#include "am/inputs.h"
#include "am/ops.h"
#include "am/plot.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_demo --out DIR [options]\n"
        "Writes procedural survey cutouts of galaxies (Sersic bulges and disks, spiral\n"
        "arms, companions, stars, PSF, sky noise) with a rare anomaly class of four\n"
        "kinds in turn: ring galaxies, strong-lensing arcs, mergers with tidal tails,\n"
        "satellite trails. Output: DIR/images/NNNNNN.png (gray), DIR/truth.csv\n"
        "(filename,label,kind for every image), DIR/labels.csv (filename,label of the\n"
        "labelled subset, the input of am_train). Same seed, same bytes.\n\n"
        "  --out DIR                output directory (created if needed)\n"
        "  --n N                    images (default 2000)\n"
        "  --anomaly-rate R         fraction of anomalies, 0..1 (default 0.02)\n"
        "  --size S                 image side in pixels, 16..1024 (default 64)\n"
        "  --labeled-anomalies A    anomalies in labels.csv (default 10)\n"
        "  --labeled-normals B      normal images in labels.csv (default 40)\n"
        "  --seed SEED              random seed (default 42)\n"
        "  --scale F                size of the central object as a factor, 0.1..4 (default 1)\n"
        "  --brightness F           flux of the central object as a factor, (0, 10] (default 1); small\n"
        "                           faint sources on the same noisy sky: --scale 0.4 --brightness 0.3\n"
        "  --format png|fits        png (default): 8-bit gray cutouts, asinh-stretched as a survey\n"
        "                           pipeline shows them; fits: NNNNNN.fits, float32 counts with sky\n"
        "                           background, noise and NaN bad pixels in two bands (HDUs G and R,\n"
        "                           the galaxy light redder): train with --stretch asinh --fits-ext G,R\n"
        "                           --combine \"1,0;0.5,0.5;0,1\"\n"
        "  --preview                also write DIR/preview.png: normal and anomalous samples (with\n"
        "                           --format fits also DIR/stretches.png: cutouts under each stretch)\n"
        "  --h5 FILE                also pack the images into FILE in the Python AnomalyMatch tool's\n"
        "                           HDF5 layout (`images`: the PNG bytes, `filenames`), for am_infer\n"
        "  --threads T              CPU threads (default: all cores)\n"
        "  -h, --help               this text\n");
}

// DIR/images packed into an HDF5 file of the Python tool's layout.
static int write_h5(const char *out, const char *path) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/images", out);
    am_dataset d;
    if (am_dataset_list(&d, dir, 0)) return -1;
    const uint8_t **data = AM_CALLOC(sizeof(uint8_t *) * (size_t)d.n);
    size_t *len = AM_CALLOC(sizeof(size_t) * (size_t)d.n);
    int rc = 0;
    for (int i = 0; i < d.n && !rc; i++)
        if (!(data[i] = (const uint8_t *)am_file_read(d.paths[i], &len[i])))
            rc = am_seterr("cannot read '%s': %s", d.paths[i], strerror(errno));
    if (!rc) rc = am_h5_write(path, d.names, data, len, (uint64_t)d.n);
    if (!rc) printf("am_demo: packed %d images into %s\n", d.n, path);
    for (int i = 0; i < d.n; i++) free((void *)data[i]);
    free(data);
    free(len);
    am_dataset_free(&d);
    return rc;
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "am_demo: %s '%s': expected an integer in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int write_preview(const char *dir, const am_demo_opts *o) {
    enum { PER = 16 };
    uint8_t *kinds = AM_MALLOC((size_t)o->n), *labeled = AM_MALLOC((size_t)o->n);
    if (am_demo_plan(kinds, labeled, o)) {
        free(kinds);
        free(labeled);
        return -1;
    }
    const uint8_t *img[2 * PER];
    char cap[2 * PER][32];
    const char *caps[2 * PER];
    int m = 0, normals = 0, anomalies = 0;
    for (int i = 0; i < o->n && (normals < PER || anomalies < PER); i++) {
        int *c = kinds[i] ? &anomalies : &normals;
        if (*c >= PER) continue;
        (*c)++;
        uint8_t *b = AM_MALLOC((size_t)o->size * (size_t)o->size);
        am_demo_render(b, o->size, kinds[i], o->seed, (uint32_t)i, o->look);
        snprintf(cap[m], sizeof cap[m], "%06d %s", i, am_demo_kind_name(kinds[i]));
        img[m] = b;
        caps[m] = cap[m];
        m++;
    }
    size_t len = strlen(dir) + 16;
    char *path = AM_MALLOC(len);
    snprintf(path, len, "%s/preview.png", dir);
    int scale = o->size <= 48 ? 3 : o->size <= 96 ? 2 : 1;
    int rc = am_image_grid_png(path, img, caps, m, 8, o->size, o->size, 1, scale);
    for (int i = 0; i < m; i++) free((void *)img[i]);
    free(path);
    free(kinds);
    free(labeled);
    return rc;
}

// DIR/stretches.png: two normal and two anomalous FITS cutouts (rows) under
// each stretch (columns), both bands combined to RGB as the README's
// training command does, through the inputs module.
static int write_stretches(const char *dir, const am_demo_opts *o) {
    enum { ROWS = 4 };
    uint8_t *kinds = AM_MALLOC((size_t)o->n), *labeled = AM_MALLOC((size_t)o->n);
    int rc = am_demo_plan(kinds, labeled, o), pick[ROWS], m = 0, normals = 0;
    for (int i = 0; i < o->n && m < ROWS && !rc; i++)
        if (kinds[i] ? m - normals < ROWS / 2 : normals < ROWS / 2) {
            normals += !kinds[i];
            pick[m++] = i;
        }
    const uint8_t *img[ROWS * AM_STRETCH_COUNT];
    char cap[ROWS * AM_STRETCH_COUNT][48];
    const char *caps[ROWS * AM_STRETCH_COUNT];
    size_t px = (size_t)o->size * o->size * 3, len = strlen(dir) + 32;
    char *path = AM_MALLOC(len);
    int k = 0;
    for (int r = 0; r < m && !rc; r++)
        for (int s = 0; s < AM_STRETCH_COUNT && !rc; s++) {
            am_preprocess p;
            am_preprocess_defaults(&p, o->size, 3);
            p.stretch.kind = s;
            snprintf(p.fits_ext, sizeof p.fits_ext, "G,R");
            am_combine_parse(&p, "1,0;0.5,0.5;0,1");
            uint8_t *b = AM_MALLOC(px);
            snprintf(path, len, "%s/images/%06d.fits", dir, pick[r]);
            rc = am_input_load(b, path, &p);
            snprintf(cap[k], sizeof cap[k], "%s %s", am_stretch_name(s), am_demo_kind_name(kinds[pick[r]]));
            img[k] = b;
            caps[k] = cap[k];
            k++;
        }
    snprintf(path, len, "%s/stretches.png", dir);
    if (!rc) rc = am_image_grid_png(path, img, caps, k, AM_STRETCH_COUNT, o->size, o->size, 3, o->size <= 96 ? 2 : 1);
    for (int i = 0; i < k; i++) free((void *)img[i]);
    free(path);
    free(kinds);
    free(labeled);
    return rc;
}

int main(int argc, char **argv) {
    am_demo_opts o = {.look = AM_DEMO_LOOK, .n = 2000, .size = 64, .anomaly_rate = 0.02, .labeled_anomalies = 10,
                      .labeled_normals = 40, .seed = 42};
    const char *out = NULL;
    int preview = 0;
    const char *h5 = NULL;
    long v, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--preview")) { preview = 1; continue; }
        if (!val) {
            fprintf(stderr, "am_demo: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--out")) out = val;
        else if (!strcmp(a, "--h5")) h5 = val;
        else if (!strcmp(a, "--format")) {
            if (strcmp(val, "png") && strcmp(val, "fits")) {
                fprintf(stderr, "am_demo: --format '%s': expected png or fits\n", val);
                return 2;
            }
            o.fits = !strcmp(val, "fits");
        }
        else if (!strcmp(a, "--n")) { if (parse_int(a, val, 1, 100000000, &v)) return 2; o.n = (int)v; }
        else if (!strcmp(a, "--size")) { if (parse_int(a, val, 16, 1024, &v)) return 2; o.size = (int)v; }
        else if (!strcmp(a, "--labeled-anomalies")) { if (parse_int(a, val, 0, 100000000, &v)) return 2; o.labeled_anomalies = (int)v; }
        else if (!strcmp(a, "--labeled-normals")) { if (parse_int(a, val, 0, 100000000, &v)) return 2; o.labeled_normals = (int)v; }
        else if (!strcmp(a, "--threads")) { if (parse_int(a, val, 0, 4096, &threads)) return 2; }
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            o.seed = strtoull(val, &end, 10);
            if (errno || end == val || *end || val[0] == '-') {
                fprintf(stderr, "am_demo: --seed '%s': expected a non-negative integer\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--scale") || !strcmp(a, "--brightness")) {
            char *end;
            float f = strtof(val, &end);
            if (end == val || *end) {
                fprintf(stderr, "am_demo: %s '%s': expected a number\n", a, val);
                return 2;
            }
            *(!strcmp(a, "--scale") ? &o.look.scale : &o.look.brightness) = f;
        } else if (!strcmp(a, "--anomaly-rate")) {
            char *end;
            o.anomaly_rate = strtod(val, &end);
            if (end == val || *end || !(o.anomaly_rate >= 0.0 && o.anomaly_rate <= 1.0)) {
                fprintf(stderr, "am_demo: --anomaly-rate '%s': expected a number in 0..1\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "am_demo: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (h5 && o.fits) {
        fprintf(stderr, "am_demo: --h5 packs PNG images: leave out --format fits\n");
        return 2;
    }
    if (!out) {
        fprintf(stderr, "am_demo: --out DIR is required\n");
        usage(stderr);
        return 2;
    }
    am_set_threads((int)threads);
    uint8_t *kinds = AM_MALLOC((size_t)o.n), *labeled = AM_MALLOC((size_t)o.n);
    if (am_demo_plan(kinds, labeled, &o)) {
        fprintf(stderr, "am_demo: %s\n", am_error());
        free(kinds);
        free(labeled);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (am_demo_write(out, &o, 1) || (preview && write_preview(out, &o)) || (preview && o.fits && write_stretches(out, &o)) ||
        (h5 && write_h5(out, h5))) {
        fprintf(stderr, "am_demo: %s\n", am_error());
        free(kinds);
        free(labeled);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int count[AM_DEMO_KINDS] = {0}, lab[2] = {0, 0};
    for (int i = 0; i < o.n; i++) {
        count[kinds[i]]++;
        if (labeled[i]) lab[kinds[i] != 0]++;
    }
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("am_demo: wrote %d images %dx%d to %s/images: %d anomalies (%d ring, %d lens, %d merger, %d trail), "
           "labels.csv %d anomalies + %d normal, seed %llu, %.2f s (%.0f img/s)%s\n",
           o.n, o.size, o.size, out, o.n - count[0], count[AM_DEMO_RING], count[AM_DEMO_LENS], count[AM_DEMO_MERGER],
           count[AM_DEMO_TRAIL], lab[1], lab[0], (unsigned long long)o.seed, dt, o.n / dt,
           preview ? (o.fits ? ", preview.png, stretches.png" : ", preview.png") : "");
    free(kinds);
    free(labeled);
    return 0;
}
