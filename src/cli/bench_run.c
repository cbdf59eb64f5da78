// am_bench infer, train and loss (src/cli/bench.h): the network's throughput on
// the CPU or a CUDA device, and the FixMatch loss kernel alone.
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
#include "am/trainer_gpu.h"
#include "am/gpu_dwconv.h"
#include "am/image.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/plot.h"
#include "am/prefetch.h"
#include "am/train.h"
#include "am/augment.h"
#include "bench.h"
#include "../../kernels/conv_math.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#endif


// ---- infer and train, on the CPU or a CUDA device --------------------------

static void usage_it(FILE *f) {
    fprintf(f,
        "usage: am_bench infer|train [options]\n"
        "infer: eval-mode forward images/s for every size x batch x precision.\n"
        "train: the trainer's FixMatch step (am_train_step) per iteration: a training\n"
        "       forward over B labelled + mu*B weak + mu*B strong views, FixMatch loss,\n"
        "       backward, SGD (Nesterov, weight decay) and EMA, with the Python tool's\n"
        "       defaults; images/s counts all (1+2mu)B.\n\n"
        "  --device D         cpu, cuda or cuda:N (default cuda where a GPU is present)\n"
        "  --arch NAME        lite0..lite4, b0..b7 (default lite0)\n"
        "  --size S ...       image sizes (default 224)\n"
        "  --batch N ...      infer batch sizes (default 256 on cuda, 32 on cpu)\n"
        "  --labelled B       train: labelled batch (default 16)\n"
        "  --mu M             train: unlabelled ratio (default 5)\n"
        "  --precision P ...  fp32 and/or bf16 (default: fp32 bf16 on cuda, fp32 on cpu)\n"
        "  --no-graph         infer on cuda without the CUDA graph\n"
        "  --trainer          train on cuda: also each precision from the views' sources as\n"
        "                     am_train runs it (mode train-views: images and plans uploaded,\n"
        "                     views made on the GPU, the step a CUDA graph; wall time per step)\n"
        "  --classes K        classes (default 2)\n"
        "  --threads T        CPU threads (default: all cores)\n"
        "  --iters I          timed runs (default 20 on cuda, 3 on cpu)\n"
        "  --warmup W         untimed runs first (default 3 on cuda, 1 on cpu)\n"
        "  --json             one JSON list instead of lines\n");
}

typedef struct {
    int dev, dt, graph, S, N, B, U, iters, warmup, classes;
    am_model *m;
} it_cfg;

// Deterministic filler for the benchmark's inputs.
static float *bench_images(size_t n) {
    float *x = AM_MALLOC(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    return x;
}

// infer on the CPU: median seconds per eval-mode forward.
static double cpu_infer(const it_cfg *c) {
    am_model *m = c->m;
    float *x = bench_images((size_t)c->N * c->S * c->S * m->arch.in_ch);
    double *t = AM_MALLOC(sizeof(double) * c->iters);
    for (int i = 0; i < c->warmup + c->iters; i++) {
        double t0 = bench_now();
        am_forward(m, x, c->N, c->S, 0, 0, 0);
        if (i >= c->warmup) t[i - c->warmup] = bench_now() - t0;
    }
    qsort(t, (size_t)c->iters, sizeof(double), bench_cmp_double);
    double med = t[c->iters / 2];
    free(x); free(t);
    return med;
}

// train: the trainer's own step (am_train_step, as am_train runs it: the
// views as floats, uploaded on a GPU; with views on a GPU,
// am_train_step_views: the decoded images (B + U) and the views' plans
// uploaded, the views made on the device, the step replayed from a CUDA
// graph from the second on). Median wall seconds per step; *mib: the device
// memory of both models.
static double trainer_run(const it_cfg *c, const char *arch, int views, double *mib) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = c->B;
    hp.mu = c->U / c->B;
    am_trainer t;
    if (am_trainer_init(&t, arch, 3, c->classes, 1, &hp)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    if (c->dev >= 0 && am_trainer_to_gpu(&t, c->dev, c->dt)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    int B = c->B, U = c->U, S = c->S;
    size_t img = (size_t)S * S * 3;
    float *x = bench_images(img * (B + 2 * U));
    uint8_t *raw = AM_MALLOC(img * (B + U));
    for (size_t i = 0; i < img * (B + U); i++) raw[i] = (uint8_t)((i * 2654435761u) >> 24);
    am_aug_plan *plans = AM_MALLOC(sizeof(am_aug_plan) * (B + 2 * U));
    am_augment_plan_step(plans, B, U, S, S, 3, AM_RA_USB, 1, 0);
    int *y = AM_MALLOC(sizeof(int) * B);
    for (int i = 0; i < B; i++) y[i] = i % c->classes;
    double *tm = AM_MALLOC(sizeof(double) * c->iters);
    for (int i = 0; i < c->warmup + c->iters; i++) {
        double t0 = bench_now();
        if (views) am_train_step_views(&t, raw, plans, y, S);
        else am_train_step(&t, x, y, S);
        if (i >= c->warmup) tm[i - c->warmup] = bench_now() - t0;
    }
#ifdef AM_HAVE_CUDA
    if (t.gpu) *mib = (t.gpu->live.ctx.bytes + t.gpu->ema.ctx.bytes) / 1048576.0;
#endif
    qsort(tm, (size_t)c->iters, sizeof(double), bench_cmp_double);
    double med = tm[c->iters / 2];
    am_trainer_free(&t);
    free(x); free(raw); free(plans); free(y); free(tm);
    return med;
}

#ifdef AM_HAVE_CUDA
// infer on a GPU: median seconds per forward (CUDA events), and the device
// memory held by am after the runs (*mib).
static double gpu_infer(const it_cfg *c, double *mib) {
    am_model *m = c->m;
    am_gpu_model g;
    if (am_gpu_model_init(&g, m, c->dev, c->dt)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    size_t nx = (size_t)c->N * c->S * c->S * m->arch.in_ch;
    float *hx = bench_images(nx);
    float *x = am_gpu_input(&g, c->N, c->S);
    am_gpu_upload(&g.ctx, x, hx, sizeof(float) * nx);
    cudaStream_t st = (cudaStream_t)g.ctx.stream;
    cudaEvent_t e0, e1;
    AM_CUDA(cudaEventCreate(&e0));
    AM_CUDA(cudaEventCreate(&e1));
    double *t = AM_MALLOC(sizeof(double) * c->iters);
    for (int i = 0; i < c->warmup + c->iters; i++) {
        AM_CUDA(cudaEventRecord(e0, st));
        if (c->graph) am_gpu_forward_graph(&g);
        else am_gpu_forward(&g, 0, 0, 0);
        AM_CUDA(cudaEventRecord(e1, st));
        AM_CUDA(cudaEventSynchronize(e1));
        float ms = 0.0f;
        AM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= c->warmup) t[i - c->warmup] = ms * 1e-3;
    }
    *mib = g.ctx.bytes / 1048576.0;
    qsort(t, (size_t)c->iters, sizeof(double), bench_cmp_double);
    double med = t[c->iters / 2];
    AM_CUDA(cudaEventDestroy(e0));
    AM_CUDA(cudaEventDestroy(e1));
    am_gpu_model_free(&g);
    free(hx); free(t);
    return med;
}
#endif

int bench_infer_train(int argc, char **argv) {
    int train = !strcmp(argv[1], "train");
    const char *arch = "lite0", *device = NULL;
    int sizes[16] = {224}, nsizes = 1, batches[16], nbatches = 0, dts[2], ndts = 0;
    int B = 16, mu = 5, graph = 1, classes = 2, threads = 0, iters = -1, warmup = -1, json = 0, trainer = 0;
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
        else if (!strcmp(a, "--trainer")) trainer = 1;
        else if (!strcmp(a, "--classes") && more) classes = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && more) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_it(stderr); return 2; }
    }
    int dev = bench_pick_device(device);
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
            for (int d = 0; d < ndts * (train && trainer && !cpu ? 2 : 1); d++) {
                // with --trainer on cuda, each precision again through the trainer
                int via_trainer = d >= ndts;
                it_cfg c = {dev, dts[d % ndts], graph && !cpu, sizes[s], batches[b], B, mu * B, iters, warmup, classes, &m};
                int N = train ? B + 2 * mu * B : batches[b];
                double mib = 0.0, med;
                if (train) med = trainer_run(&c, arch, via_trainer, &mib);
                else if (cpu) med = cpu_infer(&c);
#ifdef AM_HAVE_CUDA
                else med = gpu_infer(&c, &mib);
#else
                else med = 0.0;
#endif
                const char *prec = c.dt == AM_BF16 ? "bf16" : "fp32";
                const char *mode = via_trainer ? "train-views" : train ? "train" : "infer";
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

// The consistency losses (kernels/ssl.h) on their own: rows of logits per
// second and the bytes moved (logits read, gradient written) per second, CPU
// twin and, where a GPU is present, the CUDA kernel; every registered loss.
static void usage_loss(FILE *f) {
    fprintf(f,
        "usage: am_bench loss [--device D] [--loss L ...] [--rows U ...] [--labelled B] [--classes K] [--iters I] [--json]\n"
        "Times ssl_forward_backward (kernels/ssl.h and kernels/ssl_L.h) over B labelled +\n"
        "U weak + U strong rows of K logits: median time, rows/s and GB/s.\n"
        "  --loss L ...   consistency losses (default: every one: fixmatch freematch softmatch)\n"
        "  --rows U ...   unlabelled rows (default 80 65536 1048576)\n"
        "  --labelled B   labelled rows (default 16)\n"
        "  --classes K    classes (default 2)\n"
        "  --iters I      timed runs (default 20)\n");
}

// The median seconds of one loss over U rows.
static double time_loss(int dev, int loss, int B, int U, int K, int iters) {
    int N = B + 2 * U;
    float *z = AM_MALLOC(sizeof(float) * N * K), *dz = AM_MALLOC(sizeof(float) * N * K);
    int *y = AM_MALLOC(sizeof(int) * (B ? B : 1));
    for (size_t i = 0; i < (size_t)N * K; i++) z[i] = 4.0f * ((float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f);
    for (int i = 0; i < B; i++) y[i] = i % K;
    double *t = AM_MALLOC(sizeof(double) * iters);
    am_ssl_hp hp = am_train_defaults().ssl;
    hp.loss = loss;
    am_ssl_state st;
    am_ssl_init(&st, K, &hp);
    int *lab = AM_MALLOC(sizeof(int) * 2 * (size_t)U);  // the per-image state of U images, then the step's images
    for (int i = 0; i < U; i++) lab[i] = -1, lab[U + i] = i;
    am_ssl_images img = {lab + U, lab, U, U};
    if (dev < 0) {
        for (int i = 0; i < iters + 2; i++) {
            double t0 = bench_now();
            ssl_forward_backward(dz, z, y, B, U, K, &st, &img, &hp);
            if (i >= 2) t[i - 2] = bench_now() - t0;
        }
    }
#ifdef AM_HAVE_CUDA
    else {
        am_gpu_ctx ctx;
        if (am_gpu_ctx_init(&ctx, dev)) { fprintf(stderr, "am_bench: %s\n", am_error()); exit(1); }
        size_t ssl_bytes = sizeof st + sizeof(float) * ((size_t)U * K + U);
        float *gz = am_gpu_alloc(&ctx, sizeof(float) * N * K, "logits");
        float *gd = am_gpu_alloc(&ctx, sizeof(float) * N * K, "dlogits");
        float *gs = am_gpu_alloc(&ctx, sizeof(float) * 5, "loss statistics");
        float *gl = am_gpu_alloc(&ctx, ssl_bytes, "the loss's state");
        int *gy = am_gpu_alloc(&ctx, sizeof(int) * (B ? B : 1), "labels");
        int *gi = am_gpu_alloc(&ctx, sizeof(int) * 2 * (size_t)U, "the per-image state");
        am_gpu_upload(&ctx, gi, lab, sizeof(int) * 2 * (size_t)U);
        am_ssl_images gimg = {gi + U, gi, U, U};
        am_gpu_upload(&ctx, gz, z, sizeof(float) * N * K);
        am_gpu_upload(&ctx, gy, y, sizeof(int) * (B ? B : 1));
        am_gpu_upload(&ctx, gl, &st, sizeof st);
        for (int i = 0; i < iters + 2; i++) {
            am_gpu_sync(&ctx);
            double t0 = bench_now();
            cu_ssl_forward_backward(gs, gd, gl, gz, gy, B, U, K, &gimg, &hp, ctx.stream);
            am_gpu_sync(&ctx);
            if (i >= 2) t[i - 2] = bench_now() - t0;
        }
        am_gpu_free(&ctx, gz, sizeof(float) * N * K);
        am_gpu_free(&ctx, gd, sizeof(float) * N * K);
        am_gpu_free(&ctx, gs, sizeof(float) * 5);
        am_gpu_free(&ctx, gl, ssl_bytes);
        am_gpu_free(&ctx, gy, sizeof(int) * (B ? B : 1));
        am_gpu_free(&ctx, gi, sizeof(int) * 2 * (size_t)U);
        am_gpu_ctx_free(&ctx);
    }
#endif
    qsort(t, (size_t)iters, sizeof(double), bench_cmp_double);
    double med = t[iters / 2];
    free(z); free(dz); free(y); free(t); free(lab);
    return med;
}

int bench_loss(int argc, char **argv) {
    const char *device = NULL;
    int rows[16] = {80, 65536, 1048576}, nrows = 3, B = 16, K = 2, iters = 20, json = 0, losses[16], nloss = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_loss(stdout); return 0; }
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--rows") && more) {
            nrows = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-' && nrows < 16) rows[nrows++] = atoi(argv[++i]);
        }
        else if (!strcmp(a, "--loss") && more) {
            while (i + 1 < argc && argv[i + 1][0] != '-' && nloss < 16) {
                if ((losses[nloss++] = am_ssl_parse(argv[++i])) < 0) {
                    fprintf(stderr, "am_bench: unknown loss '%s'\n", argv[i]);
                    return 2;
                }
            }
        }
        else if (!strcmp(a, "--labelled") && more) B = atoi(argv[++i]);
        else if (!strcmp(a, "--classes") && more) K = atoi(argv[++i]);
        else if (!strcmp(a, "--iters") && more) iters = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "am_bench: unknown option '%s'\n", a); usage_loss(stderr); return 2; }
    }
    if (K < 2 || K > AM_SSL_MAX_K || B < 0 || iters < 1 || nrows < 1) { fprintf(stderr, "am_bench: need 2 <= K <= 64, B >= 0, iters >= 1\n"); return 2; }
    if (!nloss)
        for (int k = 0; k < AM_SSL_COUNT; k++) losses[nloss++] = k;
    int dev = bench_pick_device(device);
    if (dev == -2) return 1;
    if (json) printf("[");
    for (int l = 0; l < nloss; l++)
        for (int r = 0; r < nrows; r++) {
            int U = rows[r], N = B + 2 * U;
            double med = time_loss(dev, losses[l], B, U, K, iters), gbs = 2.0 * sizeof(float) * N * K / med / 1e9;
            const char *name = am_ssl_name(losses[l]);
            if (json)
                printf("%s\n {\"impl\": \"am\", \"kernel\": \"%s\", \"device\": \"%s\", \"B\": %d, \"U\": %d, \"K\": %d, "
                       "\"median_s\": %.3e, \"rows_s\": %.4g, \"gb_s\": %.3f}", l || r ? "," : "", name,
                       dev < 0 ? "cpu" : "cuda", B, U, K, med, N / med, gbs);
            else
                printf("%s loss %s B=%d U=%d K=%d: %.3g s, %.3g rows/s, %.2f GB/s\n", name, dev < 0 ? "cpu" : "cuda", B,
                       U, K, med, N / med, gbs);
        }
    if (json) printf("\n]\n");
    return 0;
}
