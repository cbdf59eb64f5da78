// am_infer on the device (src/infer/infer.c, --device cuda: the trainer's
// scoring graph behind the loader's batches) against am_infer on the CPU, on
// 40 demo cutouts (48 px, resized to the model's 32) and one unreadable file,
// in fp32 and bf16: the same rows in the same order, the same skipped rows,
// every score within the CPU's own spread (gpu_check.h; here: the anomaly
// probability of each image alone, its input moved by one ulp, and in bf16
// also on input and weights rounded to bf16); then a run whose journal is cut
// in half continues on the device to the uninterrupted run's scores.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am/dataset.h"
#include "am/demo.h"
#include "am/error.h"
#include "am/files.h"
#include "am/image.h"
#include "am/infer.h"
#include "am/kernels.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/weights.h"
#include "../../kernels/bf16_math.h"
#include "gpu_check.h"

#define NI 40
#define S 32

static char dir[64];

static char *path_in(const char *name) {
    static char p[4][4400];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, sizeof p[0], "%s/%s", dir, name);
    return s;
}

// The scores of out/scores.csv by row (names into names), *n rows.
static float *scores(const char *out, char (*names)[64], int *n) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/scores.csv", dir, out);
    char *text = am_file_read(path, NULL);
    AM_CHECK(text != NULL, "scores.csv of an am_infer run");
    float *s = AM_MALLOC(sizeof(float) * NI);
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *comma = strrchr(line, ',');
        if (!comma || !strcmp(line, "Filename,Score") || *n >= NI) continue;
        *comma = 0;
        snprintf(names[*n], 64, "%s", line);
        s[(*n)++] = strtof(comma + 1, NULL);
    }
    free(text);
    return s;
}

static int run(const char *out, int device, int dt) {
    char *src[] = {path_in("images")};
    am_infer_opts o = am_infer_defaults();
    o.model = path_in("model.amw");
    o.sources = src;
    o.nsources = 1;
    o.out = path_in(out);
    o.batch = 16;
    o.top = 8;
    o.device = device;
    o.dt = dt;
    return am_infer_run(&o);
}

static float prob(am_model *m, const float *x) {
    const float *z = am_forward(m, x, 1, S, 0, 0, 0);
    return 1.0f / (1.0f + expf(z[0] - z[1]));
}

// The CPU's spread of the scores (see the header).
static double spread_of(am_model *m, int dt) {
    am_dataset d;
    AM_CHECK(am_dataset_list(&d, path_in("images"), 0) == 0, am_error());
    double sp = 0;
    uint8_t px[S * S * 3];
    float x[S * S * 3], xn[S * S * 3];
    float *params = h_copy(m->params, m->nparams);
    for (int i = 0; i < d.n; i++) {
        if (am_image_load(px, d.paths[i], S, 3)) continue;
        for (int k = 0; k < S * S * 3; k++) x[k] = px[k] / 255.0f;
        float p = prob(m, x);
        for (int t = 0; t < SPREAD_TRIALS; t++) {
            memcpy(xn, x, sizeof x);
            ulp_nudge(xn, S * S * 3);
            sp = fmax(sp, fabs(prob(m, xn) - p));
        }
        if (dt == AM_BF16) {
            for (int k = 0; k < S * S * 3; k++) xn[k] = am_bf16_round(x[k]);
            for (size_t k = 0; k < m->nparams; k++) m->params[k] = am_bf16_round(params[k]);
            sp = fmax(sp, fabs(prob(m, xn) - p));
            memcpy(m->params, params, sizeof(float) * m->nparams);
        }
    }
    free(params);
    am_dataset_free(&d);
    return sp;
}

void test_infer_gpu(void) {
    snprintf(dir, sizeof dir, "/tmp/am_infer_gpu_XXXXXX");
    AM_CHECK(mkdtemp(dir) != NULL, "a temporary folder");
    am_demo_opts dm = {.look = AM_DEMO_LOOK, .n = NI, .size = 48, .anomaly_rate = 0.1, .labeled_anomalies = 1, .labeled_normals = 1,
                       .seed = 3};
    AM_CHECK(am_demo_write(dir, &dm, 0) == 0, am_error());
    FILE *f = fopen(path_in("images/zz_broken.png"), "w");
    fputs("not an image", f);
    fclose(f);
    am_model m;
    AM_CHECK(am_model_init(&m, "lite0", 3, 2, 0) == 0, "model init");
    if (am_weights_load(&m, LITE0_WEIGHTS, 5)) am_fatalf(__FILE__, __LINE__, "%s (run test_gpu from the top folder)", am_error());
    am_preprocess pre;
    am_preprocess_defaults(&pre, S, 3);
    AM_CHECK(am_weights_save(&m, path_in("model.amw"), &pre) == 0, am_error());
    am_set_threads(1);
    AM_CHECK(run("cpu", -1, AM_F32) == 0, am_error());
    static char ncpu[NI][64], ngpu[NI][64];
    int n_cpu, n_gpu;
    float *ref = scores("cpu", ncpu, &n_cpu);
    char *skip_cpu = am_file_read(path_in("cpu/skipped.csv"), NULL);
    for (int dt = 0; dt < 2; dt++) {
        char out[16], what[96];
        snprintf(out, sizeof out, "gpu_%s", dtn(dt));
        if (run(out, C.device, dt)) am_fatalf(__FILE__, __LINE__, "am_infer on the device: %s", am_error());
        float *got = scores(out, ngpu, &n_gpu);
        int same = n_gpu == n_cpu && n_cpu == NI;
        for (int i = 0; same && i < n_cpu; i++) same = !strcmp(ncpu[i], ngpu[i]);
        snprintf(what, sizeof what, "am_infer %s: rows and their order as the CPU's", dtn(dt));
        check_pass(what, same, "scores.csv's names differ from the CPU run's");
        char path[64];
        snprintf(path, sizeof path, "%s/skipped.csv", out);
        char *skip = am_file_read(path_in(path), NULL);
        snprintf(what, sizeof what, "am_infer %s: skipped.csv as the CPU's", dtn(dt));
        check_pass(what, skip && !strcmp(skip, skip_cpu), skip ? skip : "no skipped.csv");
        free(skip);
        double err = 0;
        for (int i = 0; i < n_cpu && i < n_gpu; i++) err = fmax(err, isnan(got[i]) ? INFINITY : fabs(got[i] - ref[i]));
        snprintf(what, sizeof what, "am_infer %s: scores vs the CPU's", dtn(dt));
        check_spread(what, err, spread_of(&m, dt), dt);
        // Cut the journal after its first record: the run continues on the device.
        snprintf(path, sizeof path, "%s/journal.bin", out);
        AM_CHECK(truncate(path_in(path), 64 + 2 + 4) == 0, "cutting the journal");
        snprintf(path, sizeof path, "%s/summary.json", out);
        unlink(path_in(path));
        if (run(out, C.device, dt)) am_fatalf(__FILE__, __LINE__, "am_infer resumed on the device: %s", am_error());
        float *again = scores(out, ngpu, &n_gpu);
        double e2 = n_gpu == NI ? 0 : INFINITY;
        for (int i = 0; i < n_gpu && i < NI; i++) e2 = fmax(e2, fabs(again[i] - got[i]));
        snprintf(what, sizeof what, "am_infer %s: resumed vs uninterrupted", dtn(dt));
        check_spread(what, e2, spread_of(&m, dt), dt);
        free(again);
        free(got);
    }
    free(skip_cpu);
    free(ref);
    am_model_free(&m);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) printf("note: could not remove %s\n", dir);
}
