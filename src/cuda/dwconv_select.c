// Depthwise convolution: our kernels or cuDNN's grouped convolution, the
// faster on this device (include/am/gpu_dwconv.h). The first call of a shape
// outside graph capture runs each once (cuDNN then makes its plans), times
// REPS more runs with CUDA events and keeps the smaller median
// (am_gpu_dwconv_median_ms, which am_bench dwconv reports too); a backward
// times into a scratch filter gradient, so that dw accumulates once. The
// table of choices is per device and process. A refused cuDNN call falls
// back to our kernels (src/cuda/cudnn.c clears the runtime's error first).
#include <stdlib.h>
#include <string.h>

#include "am/error.h"
#include "am/gpu_dwconv.h"

#ifdef AM_HAVE_CUDA
#include <cuda_runtime.h>

#define REPS 5

typedef struct {
    int dev, bwd, N, H, W, C, k, s, dt, impl;
    float ms[2];
} kept;

static kept *table;
static int nkept, capkept;

static int mode(void) {
    static int m = -1;
    if (m < 0) {
        const char *e = getenv("AM_DWCONV");
        if (!e || !*e || !strcmp(e, "auto")) m = AM_DWCONV_AUTO;
        else if (!strcmp(e, "ours")) m = AM_DWCONV_OURS;
        else if (!strcmp(e, "cudnn")) m = AM_DWCONV_CUDNN;
        else am_fatalf(__FILE__, __LINE__, "AM_DWCONV=%s: expected ours, cudnn or auto", e);
    }
    return m;
}

int am_gpu_dwconv_run(am_gpu_ctx *c, const am_dwconv_call *d, int impl) {
    if (impl == AM_DWCONV_CUDNN)
        return d->bwd ? am_cudnn_dwconv_backward(c, d->o, d->dw, d->a, d->b, d->w, d->N, d->H, d->W, d->C, d->k,
                                                 d->s, d->dt)
                      : am_cudnn_dwconv_forward(c, d->o, d->a, d->w, d->N, d->H, d->W, d->C, d->k, d->s, d->dt);
    if (d->bwd)
        cu_dwconv_backward(d->o, d->dw, d->a, d->b, d->w, d->N, d->H, d->W, d->C, d->k, d->s, d->dt, c->stream);
    else
        cu_dwconv_forward(d->o, d->a, d->w, d->N, d->H, d->W, d->C, d->k, d->s, d->dt, c->stream);
    return 0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float am_gpu_dwconv_median_ms(am_gpu_ctx *c, const am_dwconv_call *d, int impl, int warmup, int iters) {
    AM_CHECK(iters >= 1 && warmup >= 1, "at least one untimed and one timed run");
    cudaStream_t st = (cudaStream_t)c->stream;
    cudaEvent_t e0, e1;
    AM_CUDA(cudaEventCreate(&e0));
    AM_CUDA(cudaEventCreate(&e1));
    float *t = AM_MALLOC(sizeof(float) * iters), med = -1.0f;
    int ok = 1;
    for (int i = 0; i < warmup + iters && ok; i++) {
        AM_CUDA(cudaEventRecord(e0, st));
        ok = am_gpu_dwconv_run(c, d, impl) == 0;
        AM_CUDA(cudaEventRecord(e1, st));
        AM_CUDA(cudaEventSynchronize(e1));
        float ms = 0.0f;
        AM_CUDA(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= warmup) t[i - warmup] = ms;
    }
    if (ok) {
        qsort(t, (size_t)iters, sizeof(float), cmp_float);
        med = t[iters / 2];
    }
    AM_CUDA(cudaEventDestroy(e0));
    AM_CUDA(cudaEventDestroy(e1));
    free(t);
    return med;
}

static kept *find(int dev, int bwd, int N, int H, int W, int C, int k, int s, int dt) {
    for (int i = 0; i < nkept; i++) {
        kept *e = &table[i];
        if (e->dev == dev && e->bwd == bwd && e->N == N && e->H == H && e->W == W && e->C == C && e->k == k &&
            e->s == s && e->dt == dt)
            return e;
    }
    return NULL;
}

// The implementation for this call: the kept one, timing both first when
// the shape is new and the stream is not capturing.
static int pick(am_gpu_ctx *c, const am_dwconv_call *d) {
    kept *e = find(c->device, d->bwd, d->N, d->H, d->W, d->C, d->k, d->s, d->dt);
    enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    AM_CUDA(cudaStreamIsCapturing((cudaStream_t)c->stream, &cap));
    if (cap != cudaStreamCaptureStatusNone) {
        int cudnn = e && e->impl == AM_DWCONV_CUDNN &&
                    am_cudnn_dwconv_planned(c, d->bwd, d->N, d->H, d->W, d->C, d->k, d->s, d->dt);
        return cudnn ? AM_DWCONV_CUDNN : AM_DWCONV_OURS;
    }
    if (e) return e->impl;
    am_dwconv_call t = *d;
    size_t nw = (size_t)d->k * d->k * d->C;
    if (d->bwd) t.dw = am_gpu_alloc(c, sizeof(float) * nw, "the depthwise timing scratch");
    float ours = am_gpu_dwconv_median_ms(c, &t, AM_DWCONV_OURS, 1, REPS);
    float cudnn = am_gpu_dwconv_median_ms(c, &t, AM_DWCONV_CUDNN, 1, REPS);
    if (d->bwd) {
        am_gpu_sync(c);  // a refused cuDNN run returns before its events: work may still be queued
        am_gpu_free(c, t.dw, sizeof(float) * nw);
    }
    if (nkept == capkept) {
        capkept = capkept ? 2 * capkept : 64;
        kept *nt = realloc(table, sizeof(kept) * capkept);
        AM_CHECK(nt != NULL, "out of host memory for the depthwise choices");
        table = nt;
    }
    e = &table[nkept++];
    *e = (kept){c->device, d->bwd, d->N, d->H, d->W, d->C, d->k, d->s, d->dt, AM_DWCONV_OURS, {ours, cudnn}};
    if (cudnn >= 0.0f && cudnn < ours) e->impl = AM_DWCONV_CUDNN;
    return e->impl;
}

static void dispatch(am_gpu_ctx *c, const am_dwconv_call *d) {
    int m = mode();
    int impl = m == AM_DWCONV_AUTO ? pick(c, d) : m;
    if (!am_gpu_dwconv_run(c, d, impl)) return;
    if (m == AM_DWCONV_CUDNN && !am_gpu_capture_invalidated(c->stream))
        am_fatalf(__FILE__, __LINE__, "AM_DWCONV=cudnn: %s", am_error());
    am_gpu_dwconv_run(c, d, AM_DWCONV_OURS);
}

void am_gpu_dwconv_forward(am_gpu_ctx *c, void *out, const void *in, const float *w,
                           int N, int H, int W, int C, int k, int s, int dt) {
    am_dwconv_call d = {0, N, H, W, C, k, s, dt, out, NULL, in, NULL, w};
    dispatch(c, &d);
}

void am_gpu_dwconv_backward(am_gpu_ctx *c, void *din, float *dw, const void *dout, const void *in,
                            const float *w, int N, int H, int W, int C, int k, int s, int dt) {
    am_dwconv_call d = {1, N, H, W, C, k, s, dt, din, dw, dout, in, w};
    dispatch(c, &d);
}

int am_gpu_dwconv_kept(const am_gpu_ctx *c, int bwd, int N, int H, int W, int C, int k, int s, int dt,
                       float ms[2]) {
    const kept *e = find(c->device, bwd, N, H, W, C, k, s, dt);
    if (!e) return -1;
    if (ms) memcpy(ms, e->ms, sizeof e->ms);
    return e->impl;
}
#endif
