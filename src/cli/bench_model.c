// am_bench model: forward and forward+backward images/s of one architecture
// on the CPU, median over timed iterations.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/model.h"
#include "am/ops.h"
#include "bench.h"

static void usage_model(FILE *f) {
    fprintf(f,
        "usage: am_bench model [options]\n"
        "Times EfficientNet on the CPU: forward (eval) and forward+backward\n"
        "(train mode, cross-entropy) images/s, median over the timed runs.\n\n"
        "  --arch NAME      lite0..lite4, b0..b7 (default lite0)\n"
        "  --size S ...     image sizes (default 64 224)\n"
        "  --batch N        batch size (default 32)\n"
        "  --classes K      classes (default 2)\n"
        "  --threads T      CPU threads (default: all cores)\n"
        "  --iters I        timed runs per measurement (default 5)\n"
        "  --warmup W       untimed runs first (default 2)\n"
        "  --json           one JSON list instead of lines\n"
        "  -h, --help       this text\n");
}

static double time_mode(am_model *m, const float *x, const int *y, int N, int S, int train,
                        int iters, int warmup) {
    double *t = AM_MALLOC(sizeof(double) * iters);
    float *probs = AM_MALLOC(sizeof(float) * N * m->arch.classes);
    float *dz = AM_MALLOC(sizeof(float) * N * m->arch.classes);
    for (int i = 0; i < warmup + iters; i++) {
        am_zero_grad(m);
        double t0 = bench_now();
        const float *z = am_forward(m, x, N, S, train, 1, (uint64_t)i);
        if (train) {
            softmax_ce_forward(probs, z, y, N, m->arch.classes);
            softmax_ce_backward(dz, probs, y, N, m->arch.classes);
            am_backward(m, dz);
        }
        if (i >= warmup) t[i - warmup] = bench_now() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), bench_cmp_double);
    double med = t[iters / 2];
    free(t);
    free(probs);
    free(dz);
    return med;
}


int bench_model(int argc, char **argv) {
    const char *arch = "lite0";
    int sizes[16] = {64, 224}, nsizes = 2, batch = 32, classes = 2, threads = 0, iters = 5, warmup = 2, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_model(stdout); return 0; }
        else if (!strcmp(a, "--arch") && more) arch = argv[++i];
        else if (!strcmp(a, "--size") && more) {
            nsizes = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nsizes < 16) sizes[nsizes++] = atoi(argv[++i]);
        }
        else if (!strcmp(a, "--batch") && more) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--classes") && more) classes = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && more) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_model(stderr); return 2; }
    }
    if (batch < 1 || iters < 1 || warmup < 0 || nsizes < 1) {
        fprintf(stderr, "am_bench: --batch and --iters must be >= 1, --warmup >= 0, at least one --size\n");
        return 2;
    }
    am_set_threads(threads);
    am_model m;
    if (am_model_init(&m, arch, 3, classes, 1)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
    if (json) printf("[");
    for (int s = 0; s < nsizes; s++) {
        int S = sizes[s];
        if (am_model_check_size(S)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
        size_t n = (size_t)batch * S * S * 3;
        float *x = AM_MALLOC(sizeof(float) * n);
        int *y = AM_MALLOC(sizeof(int) * batch);
        for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
        for (int i = 0; i < batch; i++) y[i] = i % classes;
        for (int train = 0; train < 2; train++) {
            double med = time_mode(&m, x, y, batch, S, train, iters, warmup);
            const char *mode = train ? "fwdbwd" : "fwd";
            if (json)
                printf("%s\n {\"impl\": \"am\", \"model\": \"%s\", \"size\": %d, \"batch\": %d, \"threads\": %d, "
                       "\"mode\": \"%s\", \"img_s\": %.2f, \"median_s\": %.6f, \"iters\": %d}",
                       s || train ? "," : "", arch, S, batch, am_get_threads(), mode, batch / med, med, iters);
            else
                printf("am %s size=%d batch=%d threads=%d %s %.1f img/s\n", arch, S, batch, am_get_threads(),
                       mode, batch / med);
            fflush(stdout);
        }
        free(x);
        free(y);
    }
    if (json) printf("\n]\n");
    am_model_free(&m);
    return 0;
}
