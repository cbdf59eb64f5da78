// Softmax cross-entropy and the FixMatch loss; CUDA twins of src/cpu/loss.c
// and src/cpu/fixmatch.c, row maths from kernels/softmax_math.h and
// kernels/fixmatch_math.h. Batches are a few hundred rows: one block, one
// thread per row, block sums in double. Gradients are assigned.
#include "common.cuh"
#include "fixmatch_math.h"
#include "softmax_math.h"

#define LOSS_THREADS 256

// Sums v over the block (LOSS_THREADS threads); every thread gets the total.
__device__ double block_sum(double v, double *red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int h = LOSS_THREADS / 2; h > 0; h /= 2) {
        if ((int)threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
        __syncthreads();
    }
    double r = red[0];
    __syncthreads();
    return r;
}

__global__ void ce_fwd(float *loss, float *probs, const float *logits, const int *labels, int N, int K) {
    __shared__ double red[LOSS_THREADS];
    double acc = 0.0;
    for (int n = threadIdx.x; n < N; n += LOSS_THREADS)
        acc += am_softmax_ce_row(probs + (size_t)n * K, logits + (size_t)n * K, K, labels[n]);
    double total = block_sum(acc, red);
    if (threadIdx.x == 0) *loss = (float)(total / N);
}

__global__ void ce_bwd(float *dlogits, const float *probs, const int *labels, int N, int K) {
    GRID_STRIDE(i, (size_t)N * K) {
        int k = (int)(i % K), n = (int)(i / K);
        dlogits[i] = (probs[i] - (k == labels[n] ? 1.0f : 0.0f)) / N;
    }
}

__global__ void fixmatch_kernel(float *stats, float *dlogits, const float *logits, const int *labels,
                                int B, int U, int K, float tau, float lambda_u, float T) {
    __shared__ double red[LOSS_THREADS];
    double lx = 0.0, lu = 0.0, masked = 0.0;
    float scale = U ? lambda_u / U : 0.0f;
    for (int r = threadIdx.x; r < B + 2 * U; r += LOSS_THREADS) {
        float *d = dlogits + (size_t)r * K;
        if (r < B) {
            lx += am_softmax_ce_row(d, logits + (size_t)r * K, K, labels[r]);
            for (int k = 0; k < K; k++) d[k] = (d[k] - (k == labels[r] ? 1.0f : 0.0f)) / B;
        } else if (r < B + U) {
            for (int k = 0; k < K; k++) d[k] = 0.0f;
        } else {
            float m;
            const float *zw = logits + (size_t)(r - U) * K, *zs = logits + (size_t)r * K;
            lu += am_fixmatch_row(d, &m, zw, zs, K, tau, T, scale);
            masked += m;
        }
    }
    lx = block_sum(lx, red);
    lu = block_sum(lu, red);
    masked = block_sum(masked, red);
    if (threadIdx.x == 0) {
        float loss_x = B ? (float)(lx / B) : 0.0f;
        float loss_u = U ? (float)(lu / U) : 0.0f;
        stats[0] = loss_x + lambda_u * loss_u;
        stats[1] = loss_x;
        stats[2] = loss_u;
        stats[3] = U ? (float)(masked / U) : 0.0f;
    }
}

extern "C" void cu_softmax_ce_forward(float *loss, float *probs, const float *logits, const int *labels,
                                      int N, int K, void *stream) {
    cudaStream_t s = STREAM(stream);
    ce_fwd<<<1, LOSS_THREADS, 0, s>>>(loss, probs, logits, labels, N, K);
    AM_LAUNCHED("ce_fwd", s);
}

extern "C" void cu_softmax_ce_backward(float *dlogits, const float *probs, const int *labels, int N, int K,
                                       void *stream) {
    cudaStream_t s = STREAM(stream);
    ce_bwd<<<grid_for((size_t)N * K, 256), 256, 0, s>>>(dlogits, probs, labels, N, K);
    AM_LAUNCHED("ce_bwd", s);
}

extern "C" void cu_fixmatch_forward_backward(float *stats, float *dlogits, const float *logits, const int *labels,
                                             int B, int U, int K, float tau, float lambda_u, float T, void *stream) {
    AM_CHECK(K <= AM_FIXMATCH_MAX_K, "FixMatch supports at most AM_FIXMATCH_MAX_K classes");
    cudaStream_t s = STREAM(stream);
    fixmatch_kernel<<<1, LOSS_THREADS, 0, s>>>(stats, dlogits, logits, labels, B, U, K, tau, lambda_u, T);
    AM_LAUNCHED("fixmatch", s);
}
