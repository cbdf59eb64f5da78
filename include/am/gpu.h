// The GPU backend: EfficientNet on CUDA (cuDNN for the stem and pointwise
// convolutions, cuBLAS for the FC layer, kernels/*.cu for the rest), NHWC,
// in fp32 (TF32 off: for exact comparison with the CPU) or bf16 mixed
// precision (bf16 activations and convolution operands; fp32 master weights,
// gradients, BN statistics, reductions and loss).
//
// A device model mirrors an am_model: the same tensor table and family
// layouts (params, grads, stats on the device at the same offsets; every
// tensor, its bf16 copy and every activation 256-byte aligned, as cuDNN and
// cuBLAS need and am_gpu_model_init checks), the same activation layout
// (am_acts_layout), and the network's one forward/backward (src/model/net.c)
// over the CUDA backend. Plain C: CUDA handles are void *.
// Functions that can fail on user input return -1 (am_error()); CUDA, cuDNN
// and cuBLAS failures are fatal with the call, file:line and a hint.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "am/kernels.h"
#include "am/model.h"

// The device of a program's --device: "cpu", "cuda", "cuda:N", or "auto"
// (cuda:0 where a GPU is present, else the CPU with a one-line notice on
// stderr naming `prog`). *ordinal: the CUDA ordinal, -1 for the CPU. -1
// (am_error()) for an unknown device, or cuda asked for where there is none.
int am_device_pick(const char *s, const char *prog, int *ordinal);
// The precision of --precision: "auto" (bf16 on cuda, fp32 on the CPU),
// "fp32" or "bf16" (cuda only: the CPU engine is fp32). *dt: AM_F32 or
// AM_BF16. -1 (am_error()) otherwise.
int am_precision_pick(const char *s, int ordinal, int *dt);

// One device: a stream, the cuDNN and cuBLAS handles, the shared cuDNN
// workspace and the cache of convolution plans (src/cuda/cudnn.c).
typedef struct {
    int device;
    void *stream;            // cudaStream_t
    void *cudnn;             // cudnnHandle_t
    void *cublas;            // cublasHandle_t
    void *ws;                // the shared cuDNN workspace
    size_t ws_size, ws_limit;
    unsigned ws_gen;         // counts workspace reallocations: a CUDA graph captured before one is stale
    void *blas_ws;           // cuBLAS workspace (fixed, so that graphs can capture it)
    void *plans;             // cuDNN plan cache
    size_t bytes;            // device memory held through am_gpu_alloc
    int batch_hint;          // batch size named when the device runs out of memory
} am_gpu_ctx;

// Makes `device` current and creates the stream and handles. -1 (am_error())
// when the build has no CUDA or the device does not exist.
int am_gpu_ctx_init(am_gpu_ctx *c, int device);
void am_gpu_ctx_free(am_gpu_ctx *c);
void am_gpu_sync(am_gpu_ctx *c);
// cudaMalloc with the out-of-memory message naming the batch size to lower.
void *am_gpu_alloc(am_gpu_ctx *c, size_t bytes, const char *what);
void am_gpu_free(am_gpu_ctx *c, void *p, size_t bytes);
// Copies (device pointers where named d*, host h*), on the context's stream,
// synchronised before returning.
// Pinned host memory (cudaHostAlloc): copies from it run asynchronously, by
// DMA; the caller keeps it unchanged until a copy from it is known done.
void *am_gpu_host_alloc(size_t bytes, const char *what);
void am_gpu_host_free(void *p);
void am_gpu_upload(am_gpu_ctx *c, void *d, const void *h, size_t bytes);
void am_gpu_download(am_gpu_ctx *c, void *h, const void *d, size_t bytes);

// CUDA graphs. Scoring replays a graph of the inference forward
// (am_gpu_forward_graph) and training one of the whole step from its second
// step (src/train/trainer_gpu.c). AM_GRAPH=0 runs both eagerly;
// AM_TRAIN_GRAPH=0 only the train step. Where a capture or the graph's
// instantiation fails, that model (or trainer) runs eagerly from then on,
// with a one-line notice on stderr (once per process).
// 1 unless the environment turns the graphs off (train: the step's graph).
int am_gpu_graphs_wanted(int train);
// Capture on c's stream. begin: 0, or -1 (with the notice) when the stream
// cannot capture. end: ends the capture whatever happened during it and
// returns the instantiated graph (cudaGraphExec_t), or NULL (with the
// notice) when the capture or the instantiation failed; the runtime's error
// is then cleared and the caller runs the work eagerly. what: "inference
// forward", "train step", named in the notice.
int am_gpu_capture_begin(am_gpu_ctx *c, const char *what);
void *am_gpu_capture_end(am_gpu_ctx *c, const char *what);
// 1 while `stream` (a cudaStream_t) is in a capture that an earlier call
// invalidated: every call on it fails until the capture's end reports the
// failure, so the checks of calls that may be captured (kernel launches,
// cuDNN, cuBLAS) leave their failure to am_gpu_capture_end then.
int am_gpu_capture_invalidated(void *stream);

// cuDNN convolutions (src/cuda/cudnn.c), NHWC, no padding (the caller pads):
// x (N,H,W,C), w (K,k,k,C), y (N,Ho,Wo,K), Ho = (H - k) / s + 1. Tensors of
// type dt; compute in float (fp32: FMA kernels only, no TF32). The algorithm
// is chosen once per shape by cudnnFind* (timed) within the workspace limit,
// falling back to the get_v7 heuristics, and cached.
void am_cudnn_conv_forward(am_gpu_ctx *c, void *y, const void *x, const void *w,
                           int N, int H, int W, int C, int K, int k, int s, int dt);
// dx (N,H,W,C) assigned.
void am_cudnn_conv_backward_data(am_gpu_ctx *c, void *dx, const void *dy, const void *w,
                                 int N, int H, int W, int C, int K, int k, int s, int dt);
// dw (K,k,k,C) = beta * dw + the filter gradient (beta 1: accumulate).
void am_cudnn_conv_backward_filter(am_gpu_ctx *c, void *dw, const void *dy, const void *x,
                                   int N, int H, int W, int C, int K, int k, int s, int dt, float beta);
void am_cudnn_init(am_gpu_ctx *c);
void am_cudnn_free(am_gpu_ctx *c);

// FC layer on cuBLAS (src/cuda/cublas.c), float, no TF32:
// out (N,K) = in (N,C) . w (K,C)^T + b. Backward: din (N,C) assigned (may be
// NULL), dw (K,C) and db (K) accumulate.
void am_gpu_fc_forward(am_gpu_ctx *c, float *out, const float *in, const float *w, const float *b,
                       int N, int C, int K);
void am_gpu_fc_backward(am_gpu_ctx *c, float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int N, int C, int K);
// A projection per image (src/cuda/cublas.c): out_n (HW,K) = a_n (HW,C) .
// wn_n (K,C)^T for n < N; a, wn, out of type dt, sums in float.
void am_gpu_gemm_per_sample(am_gpu_ctx *c, void *out, const void *a, const void *wn, int N, int HW, int C, int K,
                            int dt);

typedef struct {
    am_gpu_ctx ctx;
    am_model *host;            // the table, architecture and the host copies
    int dt;                    // AM_F32 or AM_BF16
    int fuse;                  // eval forward with the fused kernels (default; AM_FUSE=0: off)
    int graphs;                // replay the inference forward from a CUDA graph (AM_GRAPH=0: 0; 0 after a failed capture)
    int xpad_ready;            // 1 after am_gpu_input_padded: the stem reads its scratch as written
    struct am_prof *prof;      // per-layer timing of eager passes when set (include/am/prof.h); NULL: off
    const am_step_args *step_args;  // device; set while a train step is captured: the forward reads its step there
    float *params, *grads, *stats;  // the families, at the host table's offsets
    uint16_t *params16;        // bf16 copy of params (AM_BF16), refreshed each forward
    uint16_t *wgrad16;         // bf16 filter-gradient scratch (AM_BF16), wmax elements
    size_t wmax;               // largest dense convolution weight, elements
    uint8_t *decay;            // 1 where weight decay applies, per parameter
    double *work;              // BN reduction scratch, 3 * cmax doubles
    int cmax;                  // widest BN channel count
    am_acts acts;              // for (N, size), one allocation (am_acts_layout); stem_in: the padded input
    void *graph;               // cudaGraphExec_t of the inference forward for (N, size)
    unsigned graph_ws_gen;     // ctx.ws_gen when it was captured
} am_gpu_model;

// Copies the model's parameters and statistics to device `device` in
// precision dt. -1 (am_error()) without CUDA or that device.
int am_gpu_model_init(am_gpu_model *g, am_model *m, int device, int dt);
// Frees the device model (nothing for one whose init failed).
void am_gpu_model_free(am_gpu_model *g);
// Host -> device (params, stats) and device -> host (params, grads, stats;
// NULL skips one).
void am_gpu_model_upload(am_gpu_model *g);
void am_gpu_model_download(am_gpu_model *g, float *params, float *grads, float *stats);
// The device buffer (N,size,size,in_ch) float that the next forward reads.
float *am_gpu_input(am_gpu_model *g, int N, int size);
// Instead: the stem's padded input (N,Sp,Sp,in_ch) of type g->dt, zeroed, the
// image at rows and columns pad .. pad+size-1 to be written by the caller
// (cu_augment_batch) before the next am_gpu_forward, which then reads it as
// it is. am_gpu_input switches back.
void *am_gpu_input_padded(am_gpu_model *g, int N, int size, int *Sp, int *pad);
// Forward on the input; returns the device logits (N,classes) float.
// train as am_forward (batch statistics, running stats, dropout and
// drop-connect drawn from (seed, step)).
float *am_gpu_forward(am_gpu_model *g, int train, uint64_t seed, uint64_t step);
// The inference forward replayed from a CUDA graph (captured on first use
// for the current (N, size), after an eager pass); same result as
// am_gpu_forward(g, 0, ...), which it runs instead where g->graphs is 0.
float *am_gpu_forward_graph(am_gpu_model *g);
// Eval-mode logits (n,classes) into host `logits` of host x (n,S,S,in_ch):
// uploads x, replays the inference graph, downloads. The activations stay
// sized for the largest n seen at size S (a smaller batch runs in the larger
// one: eval rows are independent, the rows past n are ignored).
void am_gpu_eval(am_gpu_model *g, float *logits, const float *x, int n, int S);
// The same from x already on the device (dx, fp32 (n, S, S, in_ch)), copied
// into the network's input on the model's stream.
void am_gpu_eval_device(am_gpu_model *g, float *logits, const float *dx, int n, int S);
// Backward from dlogits (N,classes) device float after a training forward;
// parameter gradients accumulate into g->grads.
void am_gpu_backward(am_gpu_model *g, const float *dlogits);
void am_gpu_zero_grad(am_gpu_model *g);
