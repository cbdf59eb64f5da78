// Depthwise convolution through cuDNN's grouped convolution
// (am_cudnn_dwconv_*) and through the selector (am_gpu_dwconv_*) against the
// CPU reference (dwconv_forward/backward), fp32 and bf16, odd and even and
// non-square sizes, k 3/5, stride 1/2 (asymmetric TF-SAME padding included);
// then both forwards replayed from a CUDA graph captured after an eager call.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "am/error.h"
#include "am/gpu_dwconv.h"
#include "am/ops.h"
#include "../../kernels/conv_math.h"
#include "gpu_check.h"

enum { VIA_CUDNN, VIA_SELECT };

typedef struct {
    int N, H, W, C, k, s;
} shape;

// Random inputs, the CPU reference and NaN-poisoned device outputs.
typedef struct {
    shape sh;
    int dt;
    size_t ni, no, nw;
    float *x, *w, *dy, *dw0, *y, *dx, *dwr;
    void *dX, *dY, *dDY, *dDX;
    float *dW, *dDW;
} bufs;

static void make(bufs *b, int dt, shape sh) {
    int Ho = am_same_out(sh.H, sh.s), Wo = am_same_out(sh.W, sh.s);
    b->sh = sh;
    b->dt = dt;
    b->ni = (size_t)sh.N * sh.H * sh.W * sh.C;
    b->no = (size_t)sh.N * Ho * Wo * sh.C;
    b->nw = (size_t)sh.k * sh.k * sh.C;
    b->x = h_rand(b->ni, -1, 1, dt);
    b->w = h_rand(b->nw, -1, 1, AM_F32);
    b->dy = h_rand(b->no, -1, 1, dt);
    b->dw0 = h_rand(b->nw, -1, 1, AM_F32);
    b->y = AM_MALLOC(4 * b->no);
    b->dx = AM_MALLOC(4 * b->ni);
    b->dwr = h_copy(b->dw0, b->nw);
    dwconv_forward(b->y, b->x, b->w, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s);
    dwconv_backward(b->dx, b->dwr, b->dy, b->x, b->w, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s);
    b->dX = d_put(b->x, b->ni, dt);
    b->dY = d_put(NULL, b->no, dt);
    b->dDY = d_put(b->dy, b->no, dt);
    b->dDX = d_put(NULL, b->ni, dt);
    b->dW = d_put(b->w, b->nw, AM_F32);
    b->dDW = d_put(b->dw0, b->nw, AM_F32);
}

static void drop(bufs *b) {
    free(b->x); free(b->w); free(b->dy); free(b->dw0); free(b->y); free(b->dx); free(b->dwr);
    cudaFree(b->dX); cudaFree(b->dY); cudaFree(b->dDY); cudaFree(b->dDX); cudaFree(b->dW); cudaFree(b->dDW);
}

static const char *tag(const bufs *b, const char *via) {
    static char t[96];
    const shape *s = &b->sh;
    snprintf(t, sizeof t, "%s %s N%d %dx%d C%d k%d s%d", via, dtn(b->dt), s->N, s->H, s->W, s->C, s->k, s->s);
    return t;
}

// cuDNN passes run and refused (skip lines), per precision.
static int cudnn_tried[2], cudnn_ran[2];

static void test_pass(int via, int dt, shape sh) {
    bufs b;
    make(&b, dt, sh);
    const char *t = tag(&b, via == VIA_CUDNN ? "cudnn" : "select");
    int fwd = 1, bwd = 1;
    char name[160];
    if (via == VIA_CUDNN) {
        fwd = !am_cudnn_dwconv_forward(&C, b.dY, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
        if (!fwd) {
            snprintf(name, sizeof name, "dwconv fwd %s", t);
            check_skip(name, am_error());
        }
        bwd = !am_cudnn_dwconv_backward(&C, b.dDX, b.dDW, b.dDY, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
        if (!bwd) {
            snprintf(name, sizeof name, "dwconv bwd %s", t);
            check_skip(name, am_error());
        }
        cudnn_tried[dt] += 2;
        cudnn_ran[dt] += fwd + bwd;
    } else {
        am_gpu_dwconv_forward(&C, b.dY, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
        am_gpu_dwconv_backward(&C, b.dDX, b.dDW, b.dDY, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
    }
    float *g;
    if (fwd) {
        snprintf(name, sizeof name, "dwconv fwd %s", t);
        check(name, g = d_get(b.dY, b.no, dt), b.y, b.no, tol_of(dt, 1e-5)); free(g);
    }
    if (bwd) {
        snprintf(name, sizeof name, "dwconv bwd din %s", t);
        check(name, g = d_get(b.dDX, b.ni, dt), b.dx, b.ni, tol_of(dt, 1e-5)); free(g);
        snprintf(name, sizeof name, "dwconv bwd dw (accumulated once) %s", t);
        check(name, g = d_get(b.dDW, b.nw, AM_F32), b.dwr, b.nw, tol_of(dt, 1e-4)); free(g);
    }
    if (via == VIA_SELECT) {
        float fm[2] = {0, 0}, bm[2] = {0, 0};
        int f = am_gpu_dwconv_kept(&C, 0, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt, fm);
        int bk = am_gpu_dwconv_kept(&C, 1, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt, bm);
        printf("info   kept: fwd %s (ours %.4f ms, cuDNN %.4f ms), bwd %s (ours %.4f ms, cuDNN %.4f ms)\n",
               f == AM_DWCONV_CUDNN ? "cudnn" : f == AM_DWCONV_OURS ? "ours" : "none (AM_DWCONV set)", fm[0], fm[1],
               bk == AM_DWCONV_CUDNN ? "cudnn" : bk == AM_DWCONV_OURS ? "ours" : "none (AM_DWCONV set)", bm[0], bm[1]);
    }
    drop(&b);
}

// The selector's and cuDNN's forwards captured into one graph after an eager
// call of each (the choice made and the plans held), outputs poisoned, then
// replayed.
static void test_graph(int dt, shape sh) {
    bufs b;
    make(&b, dt, sh);
    const char *t = tag(&b, "graph");
    cudaStream_t st = (cudaStream_t)ST;
    size_t bytes = b.no * am_dt_size(dt);
    void *dY2 = d_put(NULL, b.no, dt);
    char name[128];
    am_gpu_dwconv_forward(&C, b.dY, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
    // cuDNN may refuse the shape (a skip); once it ran eagerly, a refusal
    // inside the capture is a failure.
    int with_cudnn = !am_cudnn_dwconv_forward(&C, dY2, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
    if (!with_cudnn) {
        snprintf(name, sizeof name, "dwconv %s: cuDNN in the graph", t);
        check_skip(name, am_error());
    }
    snprintf(name, sizeof name, "dwconv %s: capture", t);
    AM_CUDA(cudaMemsetAsync(b.dY, 0xFF, bytes, st));
    AM_CUDA(cudaMemsetAsync(dY2, 0xFF, bytes, st));
    AM_CUDA(cudaStreamSynchronize(st));
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    AM_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    am_gpu_dwconv_forward(&C, b.dY, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt);
    int rc = with_cudnn ? am_cudnn_dwconv_forward(&C, dY2, b.dX, b.dW, sh.N, sh.H, sh.W, sh.C, sh.k, sh.s, dt) : 0;
    const char *why = rc ? am_error() : NULL;
    cudaError_t e = cudaStreamEndCapture(st, &graph);
    if (e == cudaSuccess && !why) e = cudaGraphInstantiate(&exec, graph, 0);
    if (e == cudaSuccess && !why) e = cudaGraphLaunch(exec, st);
    if (e == cudaSuccess && !why) e = cudaStreamSynchronize(st);
    if (!why && e != cudaSuccess) why = cudaGetErrorString(e);
    check_pass(name, !why, why ? why : "");
    if (!why) {
        float *g;
        snprintf(name, sizeof name, "dwconv fwd %s (selector)", t);
        check(name, g = d_get(b.dY, b.no, dt), b.y, b.no, tol_of(dt, 1e-5)); free(g);
        if (with_cudnn) {
            check("  cuDNN in the graph", g = d_get(dY2, b.no, dt), b.y, b.no, tol_of(dt, 1e-5));
            free(g);
        }
    }
    cudaGetLastError();
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaFree(dY2);
    drop(&b);
}

void test_dwconv_gpu(void) {
    static const shape shapes[] = {
        {3, 13, 13, 37, 3, 1}, {2, 14, 14, 40, 3, 2}, {2, 11, 11, 33, 5, 2}, {3, 9, 9, 70, 5, 1},
        {2, 16, 16, 24, 5, 2}, {2, 12, 9, 19, 3, 2}, {1, 10, 7, 8, 5, 2},
    };
    for (int dt = 0; dt < 2; dt++)
        for (int via = VIA_CUDNN; via <= VIA_SELECT; via++)
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) test_pass(via, dt, shapes[i]);
    for (int dt = 0; dt < 2; dt++) {
        test_graph(dt, shapes[0]);
        test_graph(dt, shapes[4]);
    }
    for (int dt = 0; dt < 2; dt++)
        printf("info cuDNN ran %d of %d %s depthwise passes (the rest: skip lines; the selector keeps ours)\n",
               cudnn_ran[dt], cudnn_tried[dt], dtn(dt));
}
