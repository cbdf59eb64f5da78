// am_classify: ImageNet top-k classes of photos (any format of the inputs
// module) with pretrained EfficientNet-Lite0, on a CUDA GPU where there is
// one, else on the CPU.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/cli.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/inputs.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/weights.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_classify [options] IMAGE...\n"
        "Classifies photos into the 1000 ImageNet classes with EfficientNet-Lite0\n"
        "and prints the top-k classes with their probabilities.\n\n"
        "  --weights FILE   weight file (default: weights/lite0.amw beside this program)\n"
        "  --labels FILE    class names, one per line (default: weights/imagenet_classes.txt)\n"
        "  --top K          classes to print per image (default 5)\n"
        "  --size S         images are resized to S x S (default 224, Lite0's ImageNet size)\n"
        "  --stretch NAME   FITS/TIFF/float data to 8 bits (none, linear, percentile, log, asinh,\n"
        "                   zscale; default none)\n"
        "  --threads N      CPU threads (default: all cores)\n"
        "  --device D       auto (default: cuda where a GPU is present, else cpu), cpu,\n"
        "                   cuda or cuda:N\n"
        "  --precision P    auto (default: bf16 on cuda, fp32 on cpu), fp32, or bf16 (cuda only)\n"
        "  -h, --help       this text\n\n"
        "Images are PNG, JPEG, FITS or TIFF (read by content, as am_train reads them), resized\n"
        "with Pillow's bilinear; pixels are mapped by (v - 127) / 128.\n");
}

static char **read_labels(const char *path, int n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char **lab = AM_CALLOC(sizeof(char *) * n), line[512];
    int i = 0;
    while (i < n && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        lab[i++] = strdup(line);
    }
    fclose(f);
    if (i != n) {
        for (int j = 0; j < i; j++) free(lab[j]);
        free(lab);
        return NULL;
    }
    return lab;
}

// The eval logits (1,1000) of x (1,S,S,3): on the device model g when given
// (into buf), else on the CPU.
static const float *classify(am_model *m, am_gpu_model *g, float *buf, const float *x, int S) {
#ifdef AM_HAVE_CUDA
    if (g) {
        am_gpu_eval(g, buf, x, 1, S);
        return buf;
    }
#else
    (void)g;
    (void)buf;
#endif
    return am_forward(m, x, 1, S, 0, 0, 0);
}

int main(int argc, char **argv) {
    char weights[4096], labels[4096];
    am_exe_path(weights, sizeof weights, "weights/lite0.amw");
    am_exe_path(labels, sizeof labels, "weights/imagenet_classes.txt");
    int top = 5, threads = 0, first = argc, S = 224;
    const char *device = "auto", *precision = "auto", *stretch = "none";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--weights") && more) snprintf(weights, sizeof weights, "%s", argv[++i]);
        else if (!strcmp(a, "--labels") && more) snprintf(labels, sizeof labels, "%s", argv[++i]);
        else if (!strcmp(a, "--top") && more) top = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--size") && more) S = atoi(argv[++i]);
        else if (!strcmp(a, "--stretch") && more) stretch = argv[++i];
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--precision") && more) precision = argv[++i];
        else if (a[0] == '-') { fprintf(stderr, "am_classify: unknown option '%s'\n", a); usage(stderr); return 2; }
        else { first = i; break; }
    }
    if (first >= argc) { usage(stderr); return 2; }
    am_preprocess pre;
    am_preprocess_defaults(&pre, S, 3);
    if ((pre.stretch.kind = am_stretch_parse(stretch)) < 0 || am_model_check_size(S) || am_preprocess_check(&pre)) {
        fprintf(stderr, "am_classify: %s\n", am_error());
        return 2;
    }
    int ordinal, dt;
    if (am_device_pick(device, "am_classify", &ordinal) || am_precision_pick(precision, ordinal, &dt)) {
        fprintf(stderr, "am_classify: %s\n", am_error());
        return 1;
    }
    am_set_threads(threads);
    am_model m;
    if (am_model_init(&m, "lite0", 3, 1000, 0) || am_weights_load(&m, weights, 0)) {
        fprintf(stderr, "am_classify: %s\n", am_error());
        return 1;
    }
    am_gpu_model gm;
    if (ordinal >= 0 && am_gpu_model_init(&gm, &m, ordinal, dt)) {
        fprintf(stderr, "am_classify: %s\n", am_error());
        return 1;
    }
    char **names = read_labels(labels, 1000);
    if (!names) fprintf(stderr, "am_classify: cannot read 1000 class names from '%s'; printing indices\n", labels);
    if (top < 1) top = 1;
    if (top > 1000) top = 1000;
    int rc = 0;
    for (int i = first; i < argc; i++) {
        int w = S;
        uint8_t *px = AM_MALLOC((size_t)S * S * 3);
        if (am_input_load(px, argv[i], &pre)) {
            fprintf(stderr, "am_classify: %s\n", am_error());
            free(px);
            rc = 1;
            continue;
        }
        float *x = AM_MALLOC(sizeof(float) * w * w * 3);
        for (int j = 0; j < w * w * 3; j++) x[j] = (px[j] - 127.0f) / 128.0f;
        float zbuf[1000], p[1000];
        const float *z = classify(&m, ordinal >= 0 ? &gm : NULL, zbuf, x, w);
        int lab = 0;
        softmax_ce_forward(p, z, &lab, 1, 1000);
        printf("%s\n", argv[i]);
        for (int k = 0; k < top; k++) {
            int best = 0;
            for (int c = 1; c < 1000; c++) if (p[c] > p[best]) best = c;
            printf("  %6.2f%%  %4d  %s\n", 100.0 * p[best], best, names ? names[best] : "");
            p[best] = -1.0f;
        }
        free(x);
        free(px);
    }
    if (names) { for (int c = 0; c < 1000; c++) free(names[c]); free(names); }
    if (ordinal >= 0) am_gpu_model_free(&gm);
    am_model_free(&m);
    return rc;
}
