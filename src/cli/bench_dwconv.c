// am_bench dwconv (src/cli/bench.h): our depthwise kernels against cuDNN's
// grouped convolution, per depthwise shape of an architecture.
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
#include "bench.h"
#include "../../kernels/conv_math.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>
#endif


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

// The runtime's timing of one implementation (am_gpu_dwconv_median_ms), -1
// with the reason printed when cuDNN cannot run it.
static double dw_median(am_gpu_ctx *c, const dw_bench *b, int impl, int bwd, int iters, int warmup) {
    am_dwconv_call d = {bwd, b->N, b->H, b->H, b->C, b->k, b->s, b->dt, bwd ? b->din : b->out, b->dw,
                        bwd ? b->dout : b->in, b->in, b->w};
    float ms = am_gpu_dwconv_median_ms(c, &d, impl, warmup, iters);
    if (ms < 0.0f) fprintf(stderr, "am_bench dwconv: %s\n", am_error());
    return ms;
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

int bench_dwconv(int argc, char **argv) {
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
