// The device context: current device, one stream, the cuDNN and cuBLAS
// handles and their workspaces, device memory with an out-of-memory
// message that names the batch size to lower, and CUDA graph capture with
// its fallback to eager execution.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/device.h"
#include "am/error.h"
#include "am/gpu.h"

#ifdef AM_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#define BLAS_WS_BYTES ((size_t)32 << 20)

int am_gpu_ctx_init(am_gpu_ctx *c, int device) {
    memset(c, 0, sizeof *c);
    char why[256];
    int n = am_cuda_device_count(why, sizeof why);
    if (n == 0) return am_seterr("CUDA device %d unavailable: %s", device, why);
    if (device < 0 || device >= n) return am_seterr("CUDA device %d unavailable: %d device(s) present", device, n);
    c->device = device;
    AM_CUDA(cudaSetDevice(device));
    cudaStream_t s;
    AM_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    c->stream = s;
    cublasHandle_t h;
    AM_CUBLAS(cublasCreate(&h));
    AM_CUBLAS(cublasSetStream(h, s));
    AM_CUBLAS(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
    c->blas_ws = am_gpu_alloc(c, BLAS_WS_BYTES, "the cuBLAS workspace");
    AM_CUBLAS(cublasSetWorkspace(h, c->blas_ws, BLAS_WS_BYTES));
    c->cublas = h;
    c->ws_limit = (size_t)256 << 20;
    am_cudnn_init(c);
    return 0;
}

void am_gpu_ctx_free(am_gpu_ctx *c) {
    if (!c->stream) return;
    AM_CUDA(cudaStreamSynchronize((cudaStream_t)c->stream));
    am_cudnn_free(c);
    AM_CUBLAS(cublasDestroy((cublasHandle_t)c->cublas));
    am_gpu_free(c, c->blas_ws, BLAS_WS_BYTES);
    AM_CUDA(cudaStreamDestroy((cudaStream_t)c->stream));
    memset(c, 0, sizeof *c);
}

void am_gpu_sync(am_gpu_ctx *c) { AM_CUDA(cudaStreamSynchronize((cudaStream_t)c->stream)); }

void *am_gpu_alloc(am_gpu_ctx *c, size_t bytes, const char *what) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        char hint[400];
        snprintf(hint, sizeof hint,
                 "out of GPU memory allocating %.1f MiB for %s (%.1f MiB free of %.1f MiB, %.1f MiB held by am): "
                 "lower the batch size (now %d)",
                 bytes / 1048576.0, what, free_b / 1048576.0, total_b / 1048576.0, c->bytes / 1048576.0,
                 c->batch_hint);
        am_fatal(__FILE__, __LINE__, "cudaMalloc", hint);
    }
    AM_CUDA(e);
    c->bytes += bytes;
    return p;
}

void am_gpu_free(am_gpu_ctx *c, void *p, size_t bytes) {
    if (!p) return;
    AM_CUDA(cudaFree(p));
    c->bytes -= bytes;
}

void *am_gpu_host_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault) != cudaSuccess)
        am_fatalf(__FILE__, __LINE__, "cannot allocate %zu bytes of pinned host memory for %s: lower --batch", bytes,
                  what);
    return p;
}

void am_gpu_host_free(void *p) { AM_CUDA(cudaFreeHost(p)); }

void am_gpu_upload(am_gpu_ctx *c, void *d, const void *h, size_t bytes) {
    AM_CUDA(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, (cudaStream_t)c->stream));
    am_gpu_sync(c);
}

void am_gpu_download(am_gpu_ctx *c, void *h, const void *d, size_t bytes) {
    AM_CUDA(cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)c->stream));
    am_gpu_sync(c);
}

static int env_off(const char *name) {
    const char *e = getenv(name);
    return e && !strcmp(e, "0");
}

int am_gpu_graphs_wanted(int train) { return !env_off("AM_GRAPH") && !(train && env_off("AM_TRAIN_GRAPH")); }

// A failed capture: the runtime's error cleared (the next launch check must
// not see it) and the notice, once per process.
static void capture_failed(const char *what, cudaError_t e) {
    static int told;
    cudaGetLastError();
    if (!told) fprintf(stderr, "am: the CUDA graph of the %s failed (%s); running it eagerly\n", what, cudaGetErrorString(e));
    told = 1;
}

int am_gpu_capture_begin(am_gpu_ctx *c, const char *what) {
    cudaError_t e = cudaStreamBeginCapture((cudaStream_t)c->stream, cudaStreamCaptureModeThreadLocal);
    if (e == cudaSuccess) return 0;
    capture_failed(what, e);
    return -1;
}

void *am_gpu_capture_end(am_gpu_ctx *c, const char *what) {
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    // Ends the capture whatever happened during it, so that the stream is usable again.
    cudaError_t e = cudaStreamEndCapture((cudaStream_t)c->stream, &graph);
    if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) AM_CUDA(cudaGraphDestroy(graph));
    if (e == cudaSuccess) return exec;
    capture_failed(what, e);
    return NULL;
}
#else
int am_gpu_ctx_init(am_gpu_ctx *c, int device) {
    memset(c, 0, sizeof *c);
    return am_seterr("CUDA device %d unavailable: this build has no CUDA backend (rebuild with nvcc and cuDNN, CUDA=1)", device);
}
#endif
