// Softmax cross-entropy and the semi-supervised loss; CUDA twins of
// src/cpu/loss.c and src/cpu/ssl.c, row maths from kernels/softmax_math.h
// and kernels/ssl.h. Batches are a few hundred rows: one block, one thread
// per row, block sums in double; a loss's state update and extra term run
// on thread 0 (they are sums over the batch). Gradients are assigned.
#include "common.cuh"
#include "softmax_math.h"
#include "ssl.h"

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

// ssl: the loss's state, then P (U,K) and W (U) scratch.
__global__ void ssl_kernel(float *stats, float *dlogits, float *ssl, const float *logits, const int *labels,
                           int B, int U, int K, am_ssl_images img, am_ssl_hp hp) {
    __shared__ double red[LOSS_THREADS];
    __shared__ float extra;
    am_ssl_state *st = (am_ssl_state *)ssl;
    float *P = ssl + AM_SSL_STATE_FLOATS, *W = P + (size_t)U * K;
    const float *zw = logits + (size_t)B * K, *zs = logits + (size_t)(B + U) * K;
    float *dzs = dlogits + (size_t)(B + U) * K;
    for (int i = threadIdx.x; i < U; i += LOSS_THREADS) {
        int arg;
        ssl_softmax(P + (size_t)i * K, &arg, zw + (size_t)i * K, K);
    }
    __syncthreads();
    if (threadIdx.x == 0) ssl_observe(st, &img, P, U, K, &hp);
    __syncthreads();
    double lx = 0.0, lu = 0.0, wsum = 0.0;
    float scale = U ? hp.lambda_u / U : 0.0f;
    for (int r = threadIdx.x; r < B + 2 * U; r += LOSS_THREADS) {
        float *d = dlogits + (size_t)r * K;
        if (r < B) {
            lx += am_softmax_ce_row(d, logits + (size_t)r * K, K, labels[r]);
            for (int k = 0; k < K; k++) d[k] = (d[k] - (k == labels[r] ? 1.0f : 0.0f)) / B;
        } else if (r < B + U) {
            for (int k = 0; k < K; k++) d[k] = 0.0f;
        } else {
            int i = r - B - U, arg = 0;
            const float *z = zw + (size_t)i * K;
            for (int k = 1; k < K; k++)
                if (z[k] > z[arg]) arg = k;
            W[i] = ssl_weight(st, P + (size_t)i * K, K, &hp);
            lu += ssl_row(d, z, zs + (size_t)i * K, arg, K, W[i], hp.T, scale);
            wsum += W[i];
        }
    }
    lx = block_sum(lx, red);
    lu = block_sum(lu, red);
    wsum = block_sum(wsum, red);
    if (threadIdx.x == 0) extra = ssl_extra(dzs, zs, W, U, K, st, &hp);
    __syncthreads();
    if (threadIdx.x == 0) {
        float loss_x = B ? (float)(lx / B) : 0.0f;
        float loss_u = U ? (float)(lu / U) : 0.0f;
        stats[0] = loss_x + hp.lambda_u * loss_u + extra;
        stats[1] = loss_x;
        stats[2] = loss_u;
        stats[3] = extra;
        stats[4] = U ? (float)(wsum / U) : 0.0f;
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

extern "C" void cu_ssl_forward_backward(float *stats, float *dlogits, float *ssl, const float *logits, const int *labels,
                                        int B, int U, int K, const am_ssl_images *img, const am_ssl_hp *hp,
                                        void *stream) {
    AM_CHECK(K <= AM_SSL_MAX_K, "the consistency losses take at most AM_SSL_MAX_K classes");
    AM_CHECK(!ssl_per_image(hp->loss) || (img && img->idx && img->label), "this loss needs the step's images");
    cudaStream_t s = STREAM(stream);
    const am_ssl_images none = {0, 0, 0, 0};
    ssl_kernel<<<1, LOSS_THREADS, 0, s>>>(stats, dlogits, ssl, logits, labels, B, U, K, img ? *img : none, *hp);
    AM_LAUNCHED("ssl", s);
}
