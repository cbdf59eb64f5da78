// am_bench layers (src/cli/bench.h): where a pass of the network spends its
// time, op by op and block by block (include/am/prof.h), on the CPU or a
// CUDA device: eval forward, or with --train the training forward and the
// backward from given logit gradients.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/prof.h"
#include "bench.h"

static void usage_layers(FILE *f) {
    fprintf(f,
        "usage: am_bench layers [--device D] [--arch A] [--size S] [--batch N] [--precision P]\n"
        "                       [--train] [--iters I] [--detail] [--json]\n"
        "Per-layer time of the network: each op kind (stem, expand, depthwise, SE,\n"
        "projection, their batch norms, residuals, head) summed over the blocks, its\n"
        "share of the pass and the GB/s its activations moved; --detail adds a row\n"
        "per op and block. Wall clock on the CPU, CUDA events on the GPU (eager\n"
        "passes: the eval forward as the CUDA graph runs it, fusions included).\n\n"
        "  --device D      cpu, cuda or cuda:N (default cuda where a GPU is present)\n"
        "  --arch A        lite0..lite4, b0..b7 (default lite0)\n"
        "  --size S        image size (default 224)\n"
        "  --batch N       batch (default 256 on cuda, 16 on cpu)\n"
        "  --precision P   fp32 or bf16 (cuda; default bf16 on cuda, fp32 on cpu)\n"
        "  --train         the training forward and the backward (default: eval forward)\n"
        "  --iters I       timed passes after one untimed (default 10 on cuda, 2 on cpu)\n"
        "  --threads T     CPU threads (default: all cores)\n"
        "  --detail        a row per op and block too\n"
        "  --json          one JSON list of the rows instead of the tables\n");
}

// One timed pass: forward (train or eval), and backward from dz when train.
static void cpu_pass(am_model *m, const float *x, const float *dz, int N, int S, int train, uint64_t k) {
    am_forward(m, x, N, S, train, 1, k);
    if (train) {
        am_zero_grad(m);
        am_backward(m, dz);
    }
}

int bench_layers(int argc, char **argv) {
    const char *device = NULL, *arch = "lite0", *prec = NULL;
    int S = 224, N = 0, train = 0, iters = 0, detail = 0, json = 0, threads = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_layers(stdout); return 0; }
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--arch") && more) arch = argv[++i];
        else if (!strcmp(a, "--size") && more) S = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && more) N = atoi(argv[++i]);
        else if (!strcmp(a, "--precision") && more) prec = argv[++i];
        else if (!strcmp(a, "--train")) train = 1;
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--detail")) detail = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_layers(stderr); return 2; }
    }
    int dev = bench_pick_device(device);
    if (dev == -2) return 1;
    int dt = dev >= 0 ? AM_BF16 : AM_F32;
    if (prec && !strcmp(prec, "fp32")) dt = AM_F32;
    else if (prec && !strcmp(prec, "bf16")) dt = AM_BF16;
    else if (prec) { fprintf(stderr, "am_bench: --precision %s: expected fp32 or bf16\n", prec); return 2; }
    if (dev < 0 && dt == AM_BF16) { fprintf(stderr, "am_bench: bf16 runs on cuda only; the CPU engine is fp32\n"); return 2; }
    if (!N) N = dev >= 0 ? 256 : 16;
    if (!iters) iters = dev >= 0 ? 10 : 2;
    if (N < 1 || iters < 1) { fprintf(stderr, "am_bench: --batch and --iters must be >= 1\n"); return 2; }
    if (am_model_check_size(S)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    if (threads > 0) am_set_threads(threads);
    am_model m;
    if (am_model_init(&m, arch, 3, 2, 1)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    size_t nx = (size_t)N * S * S * 3;
    float *x = AM_MALLOC(sizeof(float) * nx), *dz = AM_MALLOC(sizeof(float) * N * 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    for (int i = 0; i < 2 * N; i++) dz[i] = (i & 1 ? 1.0f : -1.0f) / (float)N;
    am_prof prof;
    double t0 = bench_now();
    if (dev < 0) {
        am_prof_init(&prof, NULL);
        cpu_pass(&m, x, dz, N, S, train, 0);  // untimed: sizes the activations
        m.prof = &prof;
        t0 = bench_now();
        for (int k = 0; k < iters; k++) cpu_pass(&m, x, dz, N, S, train, (uint64_t)k + 1);
        m.prof = NULL;
    } else {
#ifdef AM_HAVE_CUDA
        am_gpu_model g;
        if (am_gpu_model_init(&g, &m, dev, dt)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
        am_gpu_upload(&g.ctx, am_gpu_input(&g, N, S), x, sizeof(float) * nx);
        float *gdz = am_gpu_alloc(&g.ctx, sizeof(float) * N * 2, "the logit gradients");
        am_gpu_upload(&g.ctx, gdz, dz, sizeof(float) * N * 2);
        am_prof_init(&prof, g.ctx.stream);
        for (int k = 0; k <= iters; k++) {
            if (k == 1) {  // the first pass made the cuDNN plans and chose the depthwise kernels
                am_gpu_sync(&g.ctx);
                g.prof = &prof;
                t0 = bench_now();
            }
            am_gpu_forward(&g, train, 1, (uint64_t)k);
            if (train) {
                am_gpu_zero_grad(&g);
                am_gpu_backward(&g, gdz);
            }
            am_prof_collect(&prof);
        }
        g.prof = NULL;
        am_gpu_sync(&g.ctx);
        am_gpu_free(&g.ctx, gdz, sizeof(float) * N * 2);
        am_gpu_model_free(&g);
#endif
    }
    double wall = bench_now() - t0;
    if (!json)
        printf("am_bench layers: %s %s %d px, batch %d, %s, %s; %d passes, %.1f img/s with the marks\n", arch,
               dev >= 0 ? "cuda" : "cpu", S, N, dt == AM_BF16 ? "bf16" : "fp32",
               train ? "training forward + backward" : "eval forward", iters, N * iters / wall);
    am_prof_print(&prof, stdout, iters, detail, json);
    am_prof_free(&prof);
    free(x);
    free(dz);
    am_model_free(&m);
    return 0;
}
