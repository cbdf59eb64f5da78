// am_bench: throughput of the engine. `model`: forward and forward+backward
// images/s of one architecture on the CPU, median over timed iterations.
// `infer`: eval forward img/s by batch size and precision on --device cpu or
// cuda (CUDA graphs on the GPU). `train`: a FixMatch-shaped step (B labelled
// + mu*B weak + mu*B strong in one training forward, FixMatch loss, backward,
// SGD Nesterov, EMA) per second, with the GPU memory it held. `dwconv`: every
// distinct depthwise convolution of an architecture, our kernels against
// cuDNN's grouped convolution, and the one the selector keeps. `loader`: the
// images/s of the loader that feeds scoring (decode, resize, float input).
// `e2e`: scoring a folder end to end, and whether the loader or the model
// bounds it.
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
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
#include "../../kernels/conv_math.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_bench model [options]\n"
        "       am_bench infer|train [options]   (am_bench infer --help)\n"
        "       am_bench loss [options]          (am_bench loss --help)\n"
        "       am_bench dwconv [options]        (am_bench dwconv --help)\n"
        "       am_bench loader [options]        (am_bench loader --help)\n"
        "       am_bench e2e [options]           (am_bench e2e --help)\n"
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

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double time_mode(am_model *m, const float *x, const int *y, int N, int S, int train,
                        int iters, int warmup) {
    double *t = AM_MALLOC(sizeof(double) * iters);
    float *probs = AM_MALLOC(sizeof(float) * N * m->arch.classes);
    float *dz = AM_MALLOC(sizeof(float) * N * m->arch.classes);
    for (int i = 0; i < warmup + iters; i++) {
        am_zero_grad(m);
        double t0 = now();
        const float *z = am_forward(m, x, N, S, train, 1, (uint64_t)i);
        if (train) {
            softmax_ce_forward(probs, z, y, N, m->arch.classes);
            softmax_ce_backward(dz, probs, y, N, m->arch.classes);
            am_backward(m, dz);
        }
        if (i >= warmup) t[i - warmup] = now() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp);
    double med = t[iters / 2];
    free(t);
    free(probs);
    free(dz);
    return med;
}

static int bench_infer_train(int argc, char **argv);
static int bench_loss(int argc, char **argv);
static int bench_dwconv(int argc, char **argv);
static int bench_loader(int argc, char **argv);
static int bench_e2e(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "infer") || !strcmp(argv[1], "train")) return bench_infer_train(argc, argv);
    if (!strcmp(argv[1], "loss")) return bench_loss(argc, argv);
    if (!strcmp(argv[1], "dwconv")) return bench_dwconv(argc, argv);
    if (!strcmp(argv[1], "loader")) return bench_loader(argc, argv);
    if (!strcmp(argv[1], "e2e")) return bench_e2e(argc, argv);
    if (strcmp(argv[1], "model")) {
        fprintf(stderr, "am_bench: unknown benchmark '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    const char *arch = "lite0";
    int sizes[16] = {64, 224}, nsizes = 2, batch = 32, classes = 2, threads = 0, iters = 5, warmup = 2, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
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
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage(stderr); return 2; }
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

// ---- infer and train, on the CPU or a CUDA device --------------------------

static void usage_it(FILE *f) {
    fprintf(f,
        "usage: am_bench infer|train [options]\n"
        "infer: eval-mode forward images/s for every size x batch x precision.\n"
        "train: one FixMatch step per iteration: a training forward over B labelled\n"
        "       + mu*B weak + mu*B strong images, FixMatch loss, backward, SGD\n"
        "       (Nesterov, weight decay) and EMA; images/s counts all (1+2mu)B.\n\n"
        "  --device D         cpu, cuda or cuda:N (default cuda where a GPU is present)\n"
        "  --arch NAME        lite0..lite4, b0..b7 (default lite0)\n"
        "  --size S ...       image sizes (default 224)\n"
        "  --batch N ...      infer batch sizes (default 256 on cuda, 32 on cpu)\n"
        "  --labelled B       train: labelled batch (default 16)\n"
        "  --mu M             train: unlabelled ratio (default 5)\n"
        "  --precision P ...  fp32 and/or bf16 (default: fp32 bf16 on cuda, fp32 on cpu)\n"
        "  --no-graph         infer on cuda without the CUDA graph\n"
        "  --classes K        classes (default 2)\n"
        "  --threads T        CPU threads (default: all cores)\n"
        "  --iters I          timed runs (default 20 on cuda, 3 on cpu)\n"
        "  --warmup W         untimed runs first (default 3 on cuda, 1 on cpu)\n"
        "  --json             one JSON list instead of lines\n");
}

// The device: --device as given, else cuda where present, else the CPU with
// a one-line notice. Returns the CUDA ordinal or -1 for the CPU; -2 on error.
static int pick_device(const char *arg) {
    int ord = -1;
    if (arg) {
        if (am_device_parse(arg, &ord)) { fprintf(stderr, "am_bench: %s\n", am_error()); return -2; }
        return ord;
    }
    char why[256];
    if (am_cuda_device_count(why, sizeof why) > 0) return 0;
    fprintf(stderr, "am_bench: no GPU (%s); using the CPU\n", why);
    return -1;
}

typedef struct {
    int dev, dt, graph, S, N, B, U, iters, warmup, classes;
    am_model *m;
} it_cfg;

// CPU: median seconds per iteration.
static double cpu_run(const it_cfg *c, int train) {
    am_model *m = c->m;
    int N = train ? c->B + 2 * c->U : c->N, K = m->arch.classes;
    size_t nx = (size_t)N * c->S * c->S * m->arch.in_ch;
    float *x = AM_MALLOC(sizeof(float) * nx), *dz = AM_MALLOC(sizeof(float) * N * K);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    int *y = AM_MALLOC(sizeof(int) * N);
    for (int i = 0; i < N; i++) y[i] = i % K;
    float *mom = AM_CALLOC(sizeof(float) * m->nparams), *ema = AM_MALLOC(sizeof(float) * m->nparams);
    uint8_t *decay = AM_CALLOC(m->nparams);
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].family == AM_PARAM && m->tensors[i].decay) memset(decay + m->tensors[i].offset, 1, m->tensors[i].n);
    memcpy(ema, m->params, sizeof(float) * m->nparams);
    double *t = AM_MALLOC(sizeof(double) * c->iters);
    for (int i = 0; i < c->warmup + c->iters; i++) {
        double t0 = now();
        const float *z = am_forward(m, x, N, c->S, train, 1, (uint64_t)i);
        if (train) {
            fixmatch_forward_backward(dz, z, y, c->B, c->U, K, 0.95f, 1.0f, 0.0f);
            am_zero_grad(m);
            am_backward(m, dz);
            sgd_update(m->params, mom, m->grads, decay, m->nparams, 0.0075f, 0.9f, 7.5e-4f, 1);
            ema_update(ema, m->params, m->nparams, 0.99f);
        }
        if (i >= c->warmup) t[i - c->warmup] = now() - t0;
    }
    qsort(t, (size_t)c->iters, sizeof(double), cmp);
    double med = t[c->iters / 2];
    free(x); free(dz); free(y); free(mom); free(ema); free(decay); free(t);
    return med;
}

#ifdef AM_HAVE_CUDA
// GPU: median seconds per iteration (CUDA events), and the device memory
// held by am after the runs (*mib) and the device's used-memory peak seen.
static double gpu_run(const it_cfg *c, int train, double *mib) {
    am_model *m = c->m;
    am_gpu_model g;
    if (am_gpu_model_init(&g, m, c->dev, c->dt)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    int N = train ? c->B + 2 * c->U : c->N, K = m->arch.classes;
    size_t nx = (size_t)N * c->S * c->S * m->arch.in_ch;
    float *hx = AM_MALLOC(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) hx[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    int *hy = AM_MALLOC(sizeof(int) * N);
    for (int i = 0; i < N; i++) hy[i] = i % K;
    float *x = am_gpu_input(&g, N, c->S);
    am_gpu_upload(&g.ctx, x, hx, sizeof(float) * nx);
    int *y = am_gpu_alloc(&g.ctx, sizeof(int) * N, "the labels");
    float *dz = am_gpu_alloc(&g.ctx, sizeof(float) * N * K, "dlogits");
    float *stats = am_gpu_alloc(&g.ctx, sizeof(float) * 4, "loss statistics");
    am_gpu_upload(&g.ctx, y, hy, sizeof(int) * N);
    cudaStream_t st = (cudaStream_t)g.ctx.stream;
    cudaEvent_t e0, e1;
    AM_CUDA(cudaEventCreate(&e0));
    AM_CUDA(cudaEventCreate(&e1));
    double *t = AM_MALLOC(sizeof(double) * c->iters);
    for (int i = 0; i < c->warmup + c->iters; i++) {
        AM_CUDA(cudaEventRecord(e0, st));
        if (!train) {
            if (c->graph) am_gpu_forward_graph(&g);
            else am_gpu_forward(&g, 0, 0, 0);
        } else {
            const float *z = am_gpu_forward(&g, 1, 1, (uint64_t)i);
            cu_fixmatch_forward_backward(stats, dz, z, y, c->B, c->U, K, 0.95f, 1.0f, 0.0f, st);
            am_gpu_zero_grad(&g);
            am_gpu_backward(&g, dz);
            am_gpu_sgd_ema_step(&g, 0.0075f, 0.9f, 7.5e-4f, 1, 0.99f);
        }
        AM_CUDA(cudaEventRecord(e1, st));
        AM_CUDA(cudaEventSynchronize(e1));
        float ms = 0.0f;
        AM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= c->warmup) t[i - c->warmup] = ms * 1e-3;
    }
    *mib = g.ctx.bytes / 1048576.0;
    qsort(t, (size_t)c->iters, sizeof(double), cmp);
    double med = t[c->iters / 2];
    AM_CUDA(cudaEventDestroy(e0));
    AM_CUDA(cudaEventDestroy(e1));
    am_gpu_free(&g.ctx, y, sizeof(int) * N);
    am_gpu_free(&g.ctx, dz, sizeof(float) * N * K);
    am_gpu_free(&g.ctx, stats, sizeof(float) * 4);
    am_gpu_model_free(&g);
    free(hx); free(hy); free(t);
    return med;
}
#endif

static int bench_infer_train(int argc, char **argv) {
    int train = !strcmp(argv[1], "train");
    const char *arch = "lite0", *device = NULL;
    int sizes[16] = {224}, nsizes = 1, batches[16], nbatches = 0, dts[2], ndts = 0;
    int B = 16, mu = 5, graph = 1, classes = 2, threads = 0, iters = -1, warmup = -1, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_it(stdout); return 0; }
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--arch") && more) arch = argv[++i];
        else if (!strcmp(a, "--size") && more) {
            nsizes = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nsizes < 16) sizes[nsizes++] = atoi(argv[++i]);
        } else if (!strcmp(a, "--batch") && more) {
            nbatches = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nbatches < 16) batches[nbatches++] = atoi(argv[++i]);
        } else if (!strcmp(a, "--precision") && more) {
            ndts = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && ndts < 2) {
                const char *p = argv[++i];
                if (!strcmp(p, "fp32")) dts[ndts++] = AM_F32;
                else if (!strcmp(p, "bf16")) dts[ndts++] = AM_BF16;
                else { fprintf(stderr, "am_bench: precision '%s': expected fp32 or bf16\n", p); return 2; }
            }
        }
        else if (!strcmp(a, "--labelled") && more) B = atoi(argv[++i]);
        else if (!strcmp(a, "--mu") && more) mu = atoi(argv[++i]);
        else if (!strcmp(a, "--no-graph")) graph = 0;
        else if (!strcmp(a, "--classes") && more) classes = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && more) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_it(stderr); return 2; }
    }
    int dev = pick_device(device);
    if (dev == -2) return 1;
    int cpu = dev < 0;
#ifndef AM_HAVE_CUDA
    AM_CHECK(cpu, "a CUDA device without the CUDA backend");
#endif
    if (!ndts) { dts[ndts++] = AM_F32; if (!cpu) dts[ndts++] = AM_BF16; }
    if (!nbatches) batches[nbatches++] = cpu ? 32 : 256;
    if (iters < 0) iters = cpu ? 3 : 20;
    if (warmup < 0) warmup = cpu ? 1 : 3;
    for (int d = 0; d < ndts; d++)
        if (cpu && dts[d] == AM_BF16) { fprintf(stderr, "am_bench: bf16 runs on cuda only; the CPU engine is fp32\n"); return 2; }
    if (iters < 1 || warmup < 0 || B < 1 || mu < 0 || classes < 2) {
        fprintf(stderr, "am_bench: --iters >= 1, --warmup >= 0, --labelled >= 1, --mu >= 0, --classes >= 2\n");
        return 2;
    }
    for (int b = 0; b < nbatches; b++)
        if (batches[b] < 1) { fprintf(stderr, "am_bench: --batch must be >= 1\n"); return 2; }
    am_set_threads(threads);
    am_model m;
    if (am_model_init(&m, arch, 3, classes, 1)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
    const char *devname = device ? device : cpu ? "cpu" : "cuda";
    if (json) printf("[");
    int first = 1;
    for (int s = 0; s < nsizes; s++) {
        if (am_model_check_size(sizes[s])) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
        for (int b = 0; b < (train ? 1 : nbatches); b++)
            for (int d = 0; d < ndts; d++) {
                it_cfg c = {dev, dts[d], graph && !cpu, sizes[s], batches[b], B, mu * B, iters, warmup, classes, &m};
                int N = train ? B + 2 * mu * B : batches[b];
                double mib = 0.0, med;
                if (cpu) med = cpu_run(&c, train);
#ifdef AM_HAVE_CUDA
                else med = gpu_run(&c, train, &mib);
#else
                else med = 0.0;
#endif
                const char *prec = dts[d] == AM_BF16 ? "bf16" : "fp32";
                const char *mode = train ? "train" : "infer";
                if (json)
                    printf("%s\n {\"impl\": \"am\", \"device\": \"%s\", \"model\": \"%s\", \"mode\": \"%s\", \"size\": %d, "
                           "\"batch\": %d, \"precision\": \"%s\", \"graph\": %s, \"img_s\": %.2f, \"median_ms\": %.4f, "
                           "\"gpu_mib\": %.1f, \"threads\": %d, \"iters\": %d}",
                           first ? "" : ",", devname, arch, mode, sizes[s], N, prec, c.graph ? "true" : "false",
                           N / med, med * 1e3, mib, cpu ? am_get_threads() : 0, iters);
                else
                    printf("am %s %s %s size=%d batch=%d %s%s %.1f img/s (%.3f ms)\n", devname, arch, mode, sizes[s], N,
                           prec, c.graph ? " graph" : "", N / med, med * 1e3);
                if (!json && !cpu) printf("    GPU memory held by am: %.1f MiB\n", mib);
                first = 0;
                fflush(stdout);
            }
    }
    if (json) printf("\n]\n");
    am_model_free(&m);
    return 0;
}

// The FixMatch consistency-loss kernel on its own: rows of logits per second
// and the bytes moved (logits read, gradient written) per second, CPU twin and,
// where a GPU is present, the CUDA kernel.
static void usage_loss(FILE *f) {
    fprintf(f,
        "usage: am_bench loss [--device D] [--rows U ...] [--labelled B] [--classes K] [--iters I] [--json]\n"
        "Times fixmatch_forward_backward (kernels/fixmatch_math.h) over B labelled +\n"
        "U weak + U strong rows of K logits: median time, rows/s and GB/s.\n"
        "  --rows U ...   unlabelled rows (default 80 65536 1048576)\n"
        "  --labelled B   labelled rows (default 16)\n"
        "  --classes K    classes (default 2)\n"
        "  --iters I      timed runs (default 20)\n");
}

static int bench_loss(int argc, char **argv) {
    const char *device = NULL;
    int rows[16] = {80, 65536, 1048576}, nrows = 3, B = 16, K = 2, iters = 20, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_loss(stdout); return 0; }
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--rows") && more) {
            nrows = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nrows < 16) rows[nrows++] = atoi(argv[++i]);
        }
        else if (!strcmp(a, "--labelled") && more) B = atoi(argv[++i]);
        else if (!strcmp(a, "--classes") && more) K = atoi(argv[++i]);
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_loss(stderr); return 2; }
    }
    if (K < 2 || K > 64 || B < 0 || iters < 1 || nrows < 1) { fprintf(stderr, "am_bench: need 2 <= K <= 64, B >= 0, iters >= 1\n"); return 2; }
    int dev = pick_device(device);
    if (dev == -2) return 1;
    if (json) printf("[");
    for (int r = 0; r < nrows; r++) {
        int U = rows[r], N = B + 2 * U;
        float *z = AM_MALLOC(sizeof(float) * N * K), *dz = AM_MALLOC(sizeof(float) * N * K);
        int *y = AM_MALLOC(sizeof(int) * (B ? B : 1));
        for (size_t i = 0; i < (size_t)N * K; i++) z[i] = 4.0f * ((float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f);
        for (int i = 0; i < B; i++) y[i] = i % K;
        double *t = AM_MALLOC(sizeof(double) * iters);
        if (dev < 0) {
            for (int i = 0; i < iters + 2; i++) {
                double t0 = now();
                fixmatch_forward_backward(dz, z, y, B, U, K, 0.95f, 1.0f, 0.0f);
                if (i >= 2) t[i - 2] = now() - t0;
            }
        }
#ifdef AM_HAVE_CUDA
        else {
            am_gpu_ctx ctx;
            if (am_gpu_ctx_init(&ctx, dev)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
            float *gz = am_gpu_alloc(&ctx, sizeof(float) * N * K, "logits");
            float *gd = am_gpu_alloc(&ctx, sizeof(float) * N * K, "dlogits");
            float *gs = am_gpu_alloc(&ctx, sizeof(float) * 4, "loss statistics");
            int *gy = am_gpu_alloc(&ctx, sizeof(int) * (B ? B : 1), "labels");
            am_gpu_upload(&ctx, gz, z, sizeof(float) * N * K);
            am_gpu_upload(&ctx, gy, y, sizeof(int) * (B ? B : 1));
            for (int i = 0; i < iters + 2; i++) {
                am_gpu_sync(&ctx);
                double t0 = now();
                cu_fixmatch_forward_backward(gs, gd, gz, gy, B, U, K, 0.95f, 1.0f, 0.0f, ctx.stream);
                am_gpu_sync(&ctx);
                if (i >= 2) t[i - 2] = now() - t0;
            }
            am_gpu_free(&ctx, gz, sizeof(float) * N * K);
            am_gpu_free(&ctx, gd, sizeof(float) * N * K);
            am_gpu_free(&ctx, gs, sizeof(float) * 4);
            am_gpu_free(&ctx, gy, sizeof(int) * (B ? B : 1));
            am_gpu_ctx_free(&ctx);
        }
#endif
        qsort(t, (size_t)iters, sizeof(double), cmp);
        double med = t[iters / 2], gbs = 2.0 * sizeof(float) * N * K / med / 1e9;
        if (json)
            printf("%s\n {\"impl\": \"am\", \"kernel\": \"fixmatch\", \"device\": \"%s\", \"B\": %d, \"U\": %d, \"K\": %d, "
                   "\"median_s\": %.3e, \"rows_s\": %.4g, \"gb_s\": %.3f}", r ? "," : "", dev < 0 ? "cpu" : "cuda", B, U, K,
                   med, N / med, gbs);
        else
            printf("fixmatch loss %s B=%d U=%d K=%d: %.3g s, %.3g rows/s, %.2f GB/s\n", dev < 0 ? "cpu" : "cuda", B, U, K,
                   med, N / med, gbs);
        free(z); free(dz); free(y); free(t);
    }
    if (json) printf("\n]\n");
    return 0;
}

// ---- dwconv: our depthwise kernels against cuDNN's grouped convolution ------

static void usage_dw(FILE *f) {
    fprintf(f,
        "usage: am_bench dwconv [--device cuda[:N]] [--arch A] [--size S] [--batch N]\n"
        "                       [--precision fp32 bf16] [--iters I] [--warmup W] [--json]\n"
        "Times every distinct depthwise convolution of the architecture at one input\n"
        "size and batch on a CUDA GPU: our kernels (kernels/dwconv.cu) against cuDNN's\n"
        "grouped convolution, forward and backward (data + filter), median ms; and the\n"
        "one am_gpu_dwconv_* keeps after timing both (AM_DWCONV=ours|cudnn forces one).\n\n"
        "  --device D         cuda or cuda:N (default cuda)\n"
        "  --arch NAME        lite0..lite4, b0..b7 (default lite0)\n"
        "  --size S           image size (default 224)\n"
        "  --batch N          batch size (default 256)\n"
        "  --precision P ...  fp32 and/or bf16 (default fp32 bf16)\n"
        "  --iters I          timed runs (default 10)\n"
        "  --warmup W         untimed runs first, at least 1 (default 2)\n"
        "  --json             one JSON list instead of a table\n");
}

typedef struct {
    const char *arch, *device;
    int S, N, dts[2], ndts, iters, warmup, json;
} dw_cfg;

#ifdef AM_HAVE_CUDA
typedef struct { int H, C, k, s, blocks; } dw_shape;

typedef struct {
    int N, H, C, k, s, dt;
    void *in, *out, *din, *dout;
    float *w, *dw;
} dw_bench;

static int dw_once(am_gpu_ctx *c, const dw_bench *b, int impl, int bwd) {
    if (impl == AM_DWCONV_CUDNN)
        return bwd ? am_cudnn_dwconv_backward(c, b->din, b->dw, b->dout, b->in, b->w, b->N, b->H, b->H, b->C, b->k,
                                              b->s, b->dt)
                   : am_cudnn_dwconv_forward(c, b->out, b->in, b->w, b->N, b->H, b->H, b->C, b->k, b->s, b->dt);
    if (bwd)
        cu_dwconv_backward(b->din, b->dw, b->dout, b->in, b->w, b->N, b->H, b->H, b->C, b->k, b->s, b->dt, c->stream);
    else
        cu_dwconv_forward(b->out, b->in, b->w, b->N, b->H, b->H, b->C, b->k, b->s, b->dt, c->stream);
    return 0;
}

// Median ms over iters runs after warmup untimed ones; -1 when cuDNN cannot run it.
static double dw_median(am_gpu_ctx *c, const dw_bench *b, int impl, int bwd, int iters, int warmup) {
    cudaStream_t st = (cudaStream_t)c->stream;
    cudaEvent_t e0, e1;
    AM_CUDA(cudaEventCreate(&e0));
    AM_CUDA(cudaEventCreate(&e1));
    double *t = AM_MALLOC(sizeof(double) * iters), med = -1.0;
    int ok = 1;
    for (int i = 0; i < warmup + iters && ok; i++) {
        AM_CUDA(cudaEventRecord(e0, st));
        ok = dw_once(c, b, impl, bwd) == 0;
        AM_CUDA(cudaEventRecord(e1, st));
        AM_CUDA(cudaEventSynchronize(e1));
        float ms = 0.0f;
        AM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= warmup) t[i - warmup] = ms;
    }
    if (ok) {
        qsort(t, (size_t)iters, sizeof(double), cmp);
        med = t[iters / 2];
    } else {
        fprintf(stderr, "am_bench dwconv: %s\n", am_error());
    }
    AM_CUDA(cudaEventDestroy(e0));
    AM_CUDA(cudaEventDestroy(e1));
    free(t);
    return med;
}

// n elements of type dt at d from the device pattern pat (npat floats), repeated.
static void dw_fill(am_gpu_ctx *c, void *d, size_t n, int dt, const float *pat, size_t npat) {
    for (size_t i = 0; i < n; i += npat) {
        size_t m = n - i < npat ? n - i : npat;
        if (dt == AM_BF16) cu_f32_to_bf16((uint16_t *)d + i, pat, m, c->stream);
        else AM_CUDA(cudaMemcpyAsync((float *)d + i, pat, sizeof(float) * m, cudaMemcpyDeviceToDevice,
                                     (cudaStream_t)c->stream));
    }
}

static const char *dw_kept_name(int impl) {
    return impl == AM_DWCONV_CUDNN ? "cudnn" : impl == AM_DWCONV_OURS ? "ours" : "forced";
}

static void dw_print_ms(double ms, int json) {
    if (json && ms < 0) printf("null");
    else if (json) printf("%.4f", ms);
    else if (ms < 0) printf("%10s", "n/a");
    else printf("%10.3f", ms);
}

static int dw_run(const dw_cfg *cfg) {
    const char *arch = cfg->arch, *devname = cfg->device;
    int S = cfg->S, N = cfg->N, iters = cfg->iters, warmup = cfg->warmup, json = cfg->json;
    am_arch a;
    if (am_arch_init(&a, arch, 3, 2)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    // The distinct depthwise shapes, in network order, with their block counts.
    dw_shape sh[AM_MAX_BLOCKS];
    int nsh = 0, H = am_same_out(S, 2);
    for (int i = 0; i < a.nblocks; i++) {
        const am_block_cfg *bc = &a.blocks[i];
        int j = 0;
        while (j < nsh && !(sh[j].H == H && sh[j].C == bc->mid && sh[j].k == bc->k && sh[j].s == bc->stride)) j++;
        if (j == nsh) sh[nsh++] = (dw_shape){H, bc->mid, bc->k, bc->stride, 0};
        sh[j].blocks++;
        H = am_same_out(H, bc->stride);
    }
    int dev = 0;
    if (am_device_parse(devname, &dev)) { fprintf(stderr, "am_bench dwconv: %s\n", am_error()); return 1; }
    am_gpu_ctx ctx, *c = &ctx;
    if (am_gpu_ctx_init(c, dev)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
    c->batch_hint = N;
    size_t ni = 0, no = 0, nw = 0;
    for (int i = 0; i < nsh; i++) {
        size_t Ho = (size_t)am_same_out(sh[i].H, sh[i].s);
        size_t a = (size_t)N * sh[i].H * sh[i].H * sh[i].C, b = (size_t)N * Ho * Ho * sh[i].C;
        size_t w = (size_t)sh[i].k * sh[i].k * sh[i].C;
        if (a > ni) ni = a;
        if (b > no) no = b;
        if (w > nw) nw = w;
    }
    size_t npat = (size_t)1 << 20;
    float *hp = AM_MALLOC(sizeof(float) * npat);
    for (size_t i = 0; i < npat; i++) hp[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    float *pat = am_gpu_alloc(c, sizeof(float) * npat, "the fill pattern");
    am_gpu_upload(c, pat, hp, sizeof(float) * npat);
    free(hp);
    dw_bench b = {0};
    b.in = am_gpu_alloc(c, sizeof(float) * ni, "the depthwise input");
    b.din = am_gpu_alloc(c, sizeof(float) * ni, "the depthwise input gradient");
    b.out = am_gpu_alloc(c, sizeof(float) * no, "the depthwise output");
    b.dout = am_gpu_alloc(c, sizeof(float) * no, "the depthwise output gradient");
    b.w = am_gpu_alloc(c, sizeof(float) * nw, "the depthwise filter");
    b.dw = am_gpu_alloc(c, sizeof(float) * nw, "the depthwise filter gradient");
    dw_fill(c, b.w, nw, AM_F32, pat, npat);
    AM_CUDA(cudaMemsetAsync(b.dw, 0, sizeof(float) * nw, (cudaStream_t)c->stream));
    struct cudaDeviceProp prop;
    AM_CUDA(cudaGetDeviceProperties(&prop, dev));
    if (json) printf("[");
    else {
        printf("am_bench dwconv: %s size %d batch %d on %s (%s), median ms of %d runs\n", arch, S, N, devname,
               prop.name, iters);
        printf("%-4s  %-7s  %5s  %s %s %6s | %10s%10s  %-6s | %10s%10s  %s\n", "prec", "H x W", "C", "k", "s",
               "blocks", "fwd ours", "cuDNN", "kept", "bwd ours", "cuDNN", "kept");
    }
    int first = 1;
    for (int d = 0; d < cfg->ndts; d++) {
        int dt = cfg->dts[d];
        const char *prec = dt == AM_BF16 ? "bf16" : "fp32";
        dw_fill(c, b.in, ni, dt, pat, npat);
        dw_fill(c, b.dout, no, dt, pat, npat);
        for (int i = 0; i < nsh; i++) {
            b.N = N; b.H = sh[i].H; b.C = sh[i].C; b.k = sh[i].k; b.s = sh[i].s; b.dt = dt;
            double ms[2][2];
            for (int bwd = 0; bwd < 2; bwd++)
                for (int impl = 0; impl < 2; impl++) ms[bwd][impl] = dw_median(c, &b, impl, bwd, iters, warmup);
            am_gpu_dwconv_forward(c, b.out, b.in, b.w, N, b.H, b.H, b.C, b.k, b.s, dt);
            am_gpu_dwconv_backward(c, b.din, b.dw, b.dout, b.in, b.w, N, b.H, b.H, b.C, b.k, b.s, dt);
            int kf = am_gpu_dwconv_kept(c, 0, N, b.H, b.H, b.C, b.k, b.s, dt, NULL);
            int kb = am_gpu_dwconv_kept(c, 1, N, b.H, b.H, b.C, b.k, b.s, dt, NULL);
            if (json) {
                printf("%s\n {\"impl\": \"am\", \"bench\": \"dwconv\", \"device\": \"%s\", \"model\": \"%s\", "
                       "\"size\": %d, \"batch\": %d, \"precision\": \"%s\", \"H\": %d, \"C\": %d, \"k\": %d, "
                       "\"stride\": %d, \"blocks\": %d, \"fwd_ours_ms\": ",
                       first ? "" : ",", devname, arch, S, N, prec, b.H, b.C, b.k, b.s, sh[i].blocks);
                dw_print_ms(ms[0][0], 1);
                printf(", \"fwd_cudnn_ms\": ");
                dw_print_ms(ms[0][1], 1);
                printf(", \"fwd_kept\": \"%s\", \"bwd_ours_ms\": ", dw_kept_name(kf));
                dw_print_ms(ms[1][0], 1);
                printf(", \"bwd_cudnn_ms\": ");
                dw_print_ms(ms[1][1], 1);
                printf(", \"bwd_kept\": \"%s\", \"iters\": %d}", dw_kept_name(kb), iters);
            } else {
                printf("%-4s  %3dx%-3d  %5d  %d %d %6d | ", prec, b.H, b.H, b.C, b.k, b.s, sh[i].blocks);
                dw_print_ms(ms[0][0], 0);
                dw_print_ms(ms[0][1], 0);
                printf("  %-6s | ", dw_kept_name(kf));
                dw_print_ms(ms[1][0], 0);
                dw_print_ms(ms[1][1], 0);
                printf("  %s\n", dw_kept_name(kb));
            }
            first = 0;
            fflush(stdout);
        }
    }
    if (json) printf("\n]\n");
    am_gpu_free(c, pat, sizeof(float) * npat);
    am_gpu_free(c, b.in, sizeof(float) * ni);
    am_gpu_free(c, b.din, sizeof(float) * ni);
    am_gpu_free(c, b.out, sizeof(float) * no);
    am_gpu_free(c, b.dout, sizeof(float) * no);
    am_gpu_free(c, b.w, sizeof(float) * nw);
    am_gpu_free(c, b.dw, sizeof(float) * nw);
    am_gpu_ctx_free(c);
    return 0;
}
#else
static int dw_run(const dw_cfg *cfg) {
    (void)cfg;
    fprintf(stderr, "am_bench dwconv: this build has no CUDA backend (rebuild with nvcc and cuDNN, CUDA=1)\n");
    return 1;
}
#endif

static int bench_dwconv(int argc, char **argv) {
    dw_cfg c = {"lite0", "cuda", 224, 256, {AM_F32, AM_BF16}, 2, 10, 2, 0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_dw(stdout); return 0; }
        else if (!strcmp(a, "--device") && more) c.device = argv[++i];
        else if (!strcmp(a, "--arch") && more) c.arch = argv[++i];
        else if (!strcmp(a, "--size") && more) c.S = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && more) c.N = atoi(argv[++i]);
        else if (!strcmp(a, "--precision") && more) {
            c.ndts = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && c.ndts < 2) {
                const char *p = argv[++i];
                if (!strcmp(p, "fp32")) c.dts[c.ndts++] = AM_F32;
                else if (!strcmp(p, "bf16")) c.dts[c.ndts++] = AM_BF16;
                else { fprintf(stderr, "am_bench: precision '%s': expected fp32 or bf16\n", p); return 2; }
            }
        }
        else if (!strcmp(a, "--iters") && more) c.iters = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && more) c.warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) c.json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_dw(stderr); return 2; }
    }
    if (c.N < 1 || c.iters < 1 || c.warmup < 1 || c.ndts < 1) {
        fprintf(stderr, "am_bench: --batch and --iters >= 1, --warmup >= 1, at least one --precision\n");
        return 2;
    }
    if (am_model_check_size(c.S)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    if (!strcmp(c.device, "cpu")) {
        fprintf(stderr, "am_bench dwconv: compares GPU implementations; use --device cuda\n");
        return 2;
    }
    return dw_run(&c);
}

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
static char *tmp_make(const char *base) {
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

// Removes a directory from tmp_make with everything written in it.
static void tmp_remove(char *dir) {
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
        am_demo_render(band, src, AM_DEMO_NORMAL, (uint64_t)(1 + c), (uint32_t)i);
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
        "PNG and RGB JPEG (quality 90). A row for every set x --size x --threads.\n\n"
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
    if (am_batcher_init(&b, d, S, 3, 0, 0, 1, AM_RA_USB, threads, batch)) return -1;
    cycle_ctx c = {&b, ((uint64_t)b.npool + b.score_batch - 1) / b.score_batch};
    *r = (loader_row){0};
    double t0 = now(), c0 = cpu_now();
    am_prefetch *pf = am_prefetch_start(cycle_fill, &c, am_score_slot_bytes(&b), 3, 0, UINT64_MAX / 2);
    for (uint64_t j = 0; j < c.jobs || now() - t0 < seconds; j++) {
        am_score_head *h = am_score_slot_head(am_prefetch_next(pf, j));
        for (int i = 0; i < h->n; i++)
            if (h->ok[i]) {
                r->img++;
                r->bytes += fbytes[h->idx[i]];
            }
    }
    r->s = now() - t0;
    r->cpu = cpu_now() - c0;
    am_prefetch_stop(pf);
    int nbad = b.nbad;
    am_batcher_free(&b);
    return nbad == d->n ? am_seterr("none of the %d images could be read (see the warnings above)", d->n) : 0;
}

static int bench_loader(int argc, char **argv) {
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
    if (!images && !(tmp = tmp_make(tmpbase))) rc = 1;
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
        free(fbytes);
    }
    if (!rc && json) printf("\n]\n");
    for (int k = 0; k < nsets; k++) am_dataset_free(&sets[k]);
    free(sets);
    tmp_remove(tmp);
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
    double t0 = now();
    am_dataset d;
    if (am_dataset_list(&d, c->dir, c->recursive)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 1; }
    double list = now() - t0;
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
    double t = now();
    e2e_eval(&m, g, logits, x0, c->batch, c->S);
    double warm = now() - t;
    free(x0);
    t0 = now();
    // Every image is in the pool: nothing labelled to decode, so this cannot fail.
    am_batcher b;
    am_batcher_init(&b, &d, c->S, 3, 0, 0, 1, AM_RA_USB, c->lthreads, c->batch);
    cycle_ctx cc = {&b, ((uint64_t)b.npool + b.score_batch - 1) / b.score_batch};
    uint64_t jobs = cc.jobs * (uint64_t)c->passes;
    float *score = AM_MALLOC(sizeof(float) * d.n);
    am_prefetch *pf = am_prefetch_start(cycle_fill, &cc, am_score_slot_bytes(&b), 3, 0, jobs);
    double first = 0.0, wait = 0.0, model = 0.0;
    long scored = 0;
    for (uint64_t j = 0; j < jobs; j++) {
        double ta = now();
        void *slot = am_prefetch_next(pf, j);
        double tb = now();
        if (j) wait += tb - ta;
        else first = tb - t0;
        am_score_head *h = am_score_slot_head(slot);
        const float *z = e2e_eval(&m, g, logits, am_score_slot_x(slot), h->n, c->S);
        model += now() - tb;
        for (int i = 0; i < h->n; i++)
            if (h->ok[i]) {
                score[h->idx[i]] = 1.0f / (1.0f + expf(z[2 * i] - z[2 * i + 1]));
                scored++;
            }
    }
    double total = list + now() - t0;
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

static int bench_e2e(int argc, char **argv) {
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
    int dev = pick_device(device), dt;
    if (dev == -2) return 1;
    if (am_precision_pick(precision, dev, &dt)) { fprintf(stderr, "am_bench: %s\n", am_error()); return 2; }
    char *tmp = NULL, what[64];
    if (!images) {
        if (!(tmp = tmp_make(tmpbase))) return 1;
        if (!json) fprintf(stderr, "am_bench e2e: writing %d %s images of %dx%d\n", n, fmt_name[fmt], src, src);
        if (synth_write(tmp, fmt, n, src)) {
            fprintf(stderr, "am_bench: %s (choose another place with --tmp DIR)\n", am_error());
            tmp_remove(tmp);
            return 1;
        }
        snprintf(what, sizeof what, "%d %s %dx%d (synthetic)", n, fmt_name[fmt], src, src);
    }
    am_set_threads(threads);
    e2e_cfg c = {images ? images : tmp, images ? images : what, arch, images ? -1 : fmt, images ? 0 : src,
                 dev, dt, S, batch, lthreads, passes, recursive, json};
    int rc = e2e_run(&c);
    tmp_remove(tmp);
    return rc;
}
