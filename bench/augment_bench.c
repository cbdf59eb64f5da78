// Augmentation throughput on the CPU: images/s of the weak and strong views
// (sample the op lists, apply them, write the float model input) by image
// size and thread count. The same synthetic images as bench/augment_vs_pil.py.
// With --grid, instead writes a PNG contact sheet to look at: per image the
// original, its weak view and strong views, captioned with their ops.
//
//   make bench/augment_bench && bench/augment_bench [--size S]... [--threads T]...
//        [--batch N] [--seconds s] [--variant usb|fixmatch]
//   bench/augment_bench --grid out.png [--size S] [--views K] [--variant V] [IMAGE...]
//   bench/augment_bench --device cuda [--size S]... [--batch N] [--seconds s] [--variant V]
// --device cuda times the batched kernel (kernels/augment.cu) writing the
// bf16 model input, and the host's share (sampling and planning the lists,
// one thread) apart.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am/augment.h"
#include "am/error.h"
#include "am/image.h"
#include "am/ops.h"
#include "am/plot.h"
#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>

#include "am/kernels.h"
#endif

// Pixel (x, y, c) of synthetic image i (bench/augment_vs_pil.py: same formula).
static uint8_t synth(int i, int x, int y, int c) {
    return (uint8_t)((x * 7 + y * 13 + c * 50 + ((x * y + i * 17) % 31) * 3 + i * 11) & 255);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Images per wall-clock second; *per_cpu gets images per CPU-second of the
// process (all threads), the per-core figure that a loaded machine disturbs least.
static double run(int strong, am_ra_variant variant, float *x, const uint8_t *in,
                  int N, int S, double seconds, double *per_cpu) {
    uint64_t step = 0;
    long images = 0;
    // one untimed warm-up batch
    if (strong) am_augment_strong_input(x, NULL, NULL, in, N, S, S, 3, variant, 1, step++, 0);
    else am_augment_weak_input(x, NULL, NULL, in, N, S, S, 3, variant, 1, step++, 0);
    double t0 = omp_get_wtime(), c0 = cpu_seconds(), t;
    do {
        if (strong) am_augment_strong_input(x, NULL, NULL, in, N, S, S, 3, variant, 1, step++, 0);
        else am_augment_weak_input(x, NULL, NULL, in, N, S, S, 3, variant, 1, step++, 0);
        images += N;
        t = omp_get_wtime() - t0;
    } while (t < seconds);
    *per_cpu = images / (cpu_seconds() - c0);
    return images / t;
}

static const char *const short_names[AM_AUG_NUM_OPS] = {
    "Id", "AutoC", "Equal", "Rot", "Sol", "Color", "Contr", "Bright", "Sharp",
    "ShX", "ShY", "TrX", "TrY", "Post", "Cut", "Crop", "Flip",
};

// "Rot-12 Sol200 Cut": the list's ops after the weak part, or the weak part.
static void caption(char *buf, size_t cap, const am_aug_list *l, int weak) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < l->n && k + 1 < cap; i++) {
        const am_aug_op *o = &l->op[i];
        int geo = o->op == AM_AUG_CROP_REFLECT || o->op == AM_AUG_FLIP_X;
        if (geo != weak || o->op == AM_AUG_IDENTITY) continue;
        int w;
        if (o->op == AM_AUG_CROP_REFLECT) w = snprintf(buf + k, cap - k, "%s%+d%+d ", short_names[o->op], (int)o->m[0], (int)o->m[1]);
        else if (o->op == AM_AUG_TRANSLATE_X || o->op == AM_AUG_TRANSLATE_Y)
            w = snprintf(buf + k, cap - k, "%s%.2g ", short_names[o->op], o->m[0] != 0.0f ? o->m[0] : o->m[1]);
        else if (o->op == AM_AUG_CUTOUT || o->op == AM_AUG_FLIP_X || o->op <= AM_AUG_EQUALIZE)
            w = snprintf(buf + k, cap - k, "%s ", short_names[o->op]);
        else w = snprintf(buf + k, cap - k, "%s%.2g ", short_names[o->op], o->m[0]);
        if (w < 0) break;
        k += (size_t)w < cap - k ? (size_t)w : cap - k - 1;
    }
    if (k > 0 && buf[k - 1] == ' ') buf[k - 1] = 0;
}

static int grid(const char *path, int S, int views, am_ra_variant variant, char **files, int nfiles) {
    int rows = nfiles > 0 ? nfiles : 3, cols = 2 + views;
    size_t n = (size_t)S * S * 3;
    uint8_t *px = malloc(n * rows * cols);
    const uint8_t **img = malloc(sizeof(uint8_t *) * rows * cols);
    char (*cap)[64] = malloc(sizeof(*cap) * rows * cols);
    if (!px || !img || !cap) return 1;
    for (int r = 0; r < rows; r++) {
        uint8_t *orig = px + n * (size_t)(r * cols);
        if (nfiles > 0) {
            if (am_image_load(orig, files[r], S, 3)) {
                fprintf(stderr, "augment_bench: %s\n", am_error());
                return 1;
            }
        } else {
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    for (int c = 0; c < 3; c++) orig[((size_t)y * S + x) * 3 + c] = synth(r, x, y, c);
        }
        snprintf(cap[r * cols], 64, "original");
        for (int v = 1; v < cols; v++) {
            am_aug_list l;
            if (v == 1) am_augment_sample_weak(&l, AM_RA_USB, 1, 0, (uint32_t)r, S, S);
            else am_augment_sample_strong(&l, variant, 1, (uint64_t)v, (uint32_t)r, S, S);
            am_augment_apply(px + n * (size_t)(r * cols + v), NULL, orig, &l, S, S, 3);
            char ops[64];
            caption(ops, sizeof ops, &l, v == 1);
            snprintf(cap[r * cols + v], 64, "%s", v == 1 ? (ops[0] ? ops : "weak: none") : ops);
        }
        for (int v = 0; v < cols; v++) img[r * cols + v] = px + n * (size_t)(r * cols + v);
    }
    const char **caps = malloc(sizeof(char *) * rows * cols);
    if (!caps) return 1;
    for (int i = 0; i < rows * cols; i++) caps[i] = cap[i];
    int rc = am_image_grid_png(path, img, caps, rows * cols, cols, S, S, 3, 1);
    if (rc) fprintf(stderr, "augment_bench: %s\n", am_error());
    else printf("wrote %s: %d rows of original, weak view, %d strong views (%s)\n", path, rows, views,
                variant == AM_RA_FIXMATCH ? "FixMatch" : "USB");
    free(caps);
    free(cap);
    free(img);
    free(px);
    return rc ? 1 : 0;
}

#ifdef AM_HAVE_CUDA
// Images per second of the GPU kernel alone (*kernel, CUDA events) and of
// sampling + planning on the host, one thread (*host), for one view.
static void gpu_run(int strong, am_ra_variant variant, const uint8_t *in, int N, int S, double seconds,
                    double *kernel, double *host) {
    size_t nb = (size_t)S * S * 3;
    uint8_t *dIn, *dWork;
    uint16_t *dX;
    am_aug_plan *dPlans, *plans = malloc(sizeof(am_aug_plan) * N);
    AM_CHECK(plans != NULL, "out of memory");
    AM_CUDA(cudaMalloc((void **)&dIn, nb * N));
    AM_CUDA(cudaMalloc((void **)&dX, 2 * nb * N));
    AM_CUDA(cudaMalloc((void **)&dWork, cu_augment_work_bytes(N, S, S, 3)));
    AM_CUDA(cudaMalloc((void **)&dPlans, sizeof(am_aug_plan) * N));
    AM_CUDA(cudaMemcpy(dIn, in, nb * N, cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    AM_CUDA(cudaEventCreate(&e0));
    AM_CUDA(cudaEventCreate(&e1));
    double plan_s = 0.0, gpu_s = 0.0, t0 = omp_get_wtime();
    long images = 0;
    for (uint64_t step = 0; step < 3 || omp_get_wtime() - t0 < seconds; step++) {
        double h0 = omp_get_wtime();
        for (int i = 0; i < N; i++) {
            am_aug_list l;
            if (strong) am_augment_sample_strong(&l, variant, 1, step, (uint32_t)i, S, S);
            else am_augment_sample_weak(&l, AM_RA_USB, 1, step, (uint32_t)i, S, S);
            am_aug_plan_make(&plans[i], &l, S, S, 3);
        }
        double h1 = omp_get_wtime();
        AM_CUDA(cudaMemcpy(dPlans, plans, sizeof(am_aug_plan) * N, cudaMemcpyHostToDevice));
        AM_CUDA(cudaEventRecord(e0, 0));
        cu_augment_batch(dX, NULL, dIn, dPlans, dWork, N, S, S, 3, S, S, 0, 0, AM_BF16, NULL);
        AM_CUDA(cudaEventRecord(e1, 0));
        AM_CUDA(cudaEventSynchronize(e1));
        float ms = 0.0f;
        AM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (step < 2) continue;  // warm-up
        plan_s += h1 - h0;
        gpu_s += ms * 1e-3;
        images += N;
    }
    *kernel = images / gpu_s;
    *host = images / plan_s;
    AM_CUDA(cudaEventDestroy(e0));
    AM_CUDA(cudaEventDestroy(e1));
    cudaFree(dIn); cudaFree(dX); cudaFree(dWork); cudaFree(dPlans);
    free(plans);
}
#endif

// The GPU table: kernel img/s and the host's sampling + planning img/s.
static int gpu_bench(const int *sizes, int nsizes, int batch, double seconds, am_ra_variant variant) {
#ifdef AM_HAVE_CUDA
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "augment_bench: no CUDA device here\n");
        return 1;
    }
    printf("am augmentation on the GPU, RGB, %s RandAugment: one launch per batch writing the bf16 model input\n",
           variant == AM_RA_FIXMATCH ? "FixMatch" : "USB");
    printf("| size | batch | view | GPU kernel img/s | host sample + plan img/s (1 thread) |\n|---|---|---|---|---|\n");
    for (int si = 0; si < nsizes; si++) {
        int S = sizes[si], N = batch ? batch : (S <= 96 ? 1024 : 256);
        size_t n = (size_t)N * S * S * 3;
        uint8_t *in = malloc(n);
        if (!in) return 1;
        for (int i = 0; i < N; i++)
            for (int y = 0; y < S; y++)
                for (int xx = 0; xx < S; xx++)
                    for (int c = 0; c < 3; c++) in[(((size_t)i * S + y) * S + xx) * 3 + c] = synth(i, xx, y, c);
        for (int strong = 0; strong < 2; strong++) {
            double k, h;
            gpu_run(strong, variant, in, N, S, seconds, &k, &h);
            printf("| %d | %d | %s | %.0f | %.0f |\n", S, N, strong ? "strong" : "weak", k, h);
            fflush(stdout);
        }
        free(in);
    }
    return 0;
#else
    (void)sizes; (void)nsizes; (void)batch; (void)seconds; (void)variant;
    fprintf(stderr, "augment_bench: this build has no CUDA backend (rebuild with nvcc and cuDNN on the PATH)\n");
    return 1;
#endif
}

int main(int argc, char **argv) {
    int sizes[8] = {64, 224}, nsizes = 0, threads[8] = {1, 2}, nthreads = 0, batch = 0;
    double seconds = 2.0;
    am_ra_variant variant = AM_RA_USB;
    const char *grid_path = NULL, *device = "cpu";
    int views = 4, nfiles = 0;
    char *files[64];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--grid") && i + 1 < argc) grid_path = argv[++i];
        else if (!strcmp(argv[i], "--views") && i + 1 < argc) views = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (argv[i][0] != '-' && nfiles < 64) files[nfiles++] = argv[i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc && nsizes < 8) sizes[nsizes++] = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc && nthreads < 8) threads[nthreads++] = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--variant") && i + 1 < argc) {
            i++;
            variant = !strcmp(argv[i], "fixmatch") ? AM_RA_FIXMATCH : AM_RA_USB;
        } else {
            fprintf(stderr, "usage: %s [--size S]... [--threads T]... [--batch N] [--seconds s] "
                            "[--variant usb|fixmatch]\n"
                            "       %s --grid out.png [--size S] [--views K] [--variant V] [IMAGE...]\n"
                            "       %s --device cuda [--size S]... [--batch N] [--seconds s] [--variant V]\n",
                    argv[0], argv[0], argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (grid_path) return grid(grid_path, nsizes ? sizes[0] : 160, views < 1 ? 1 : views > 8 ? 8 : views,
                               variant, files, nfiles);
    if (!nsizes) nsizes = 2;
    if (!strcmp(device, "cuda")) return gpu_bench(sizes, nsizes, batch, seconds, variant);
    if (strcmp(device, "cpu")) {
        fprintf(stderr, "augment_bench: --device must be cpu or cuda\n");
        return 2;
    }
    if (!nthreads) nthreads = 2;
    printf("am augmentation, RGB, %s RandAugment; img/s of the float model input (am_augment_*_input)\n",
           variant == AM_RA_FIXMATCH ? "FixMatch" : "USB");
    printf("| size | threads | batch | weak img/s | strong img/s | weak img/cpu-s | strong img/cpu-s |\n"
           "|---|---|---|---|---|---|---|\n");
    for (int si = 0; si < nsizes; si++) {
        int S = sizes[si], N = batch ? batch : (S <= 96 ? 512 : 64);
        size_t n = (size_t)N * S * S * 3;
        uint8_t *in = malloc(n);
        float *x = malloc(n * sizeof(float));
        if (!in || !x) return 1;
        for (int i = 0; i < N; i++)
            for (int y = 0; y < S; y++)
                for (int xx = 0; xx < S; xx++)
                    for (int c = 0; c < 3; c++) in[(((size_t)i * S + y) * S + xx) * 3 + c] = synth(i, xx, y, c);
        for (int ti = 0; ti < nthreads; ti++) {
            am_set_threads(threads[ti]);
            double wc, sc;
            double w = run(0, variant, x, in, N, S, seconds, &wc);
            double s = run(1, variant, x, in, N, S, seconds, &sc);
            printf("| %d | %d | %d | %.0f | %.0f | %.0f | %.0f |\n", S, threads[ti], N, w, s, wc, sc);
            fflush(stdout);
        }
        free(in);
        free(x);
    }
    return 0;
}
