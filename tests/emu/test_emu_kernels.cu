// Kernels of the emulator's self-test (tests/emu/test_emu.c): each exercises
// one device feature (indices, barriers, shared memory, warp operations,
// atomics, bf16) or one defect the emulator must expose. CUDA C, built by
// tests/emu/rewrite.pl like kernels/*.cu.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

// out[linear global thread id] = packed (block, thread) coordinates.
__global__ void t_index(unsigned *out) {
    unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    unsigned nt = blockDim.x * blockDim.y * blockDim.z;
    out[b * nt + t] = (blockIdx.z << 24) | (blockIdx.y << 20) | (blockIdx.x << 16) | (threadIdx.z << 12) |
                      (threadIdx.y << 8) | threadIdx.x;
}

// out[block] = sum of in over the block's 256 elements, by a shared-memory
// tree; `barrier` 0 drops the barriers (a race the emulator must expose).
__global__ void t_reduce(float *out, const float *in, int barrier) {
    __shared__ float s[256];
    int t = threadIdx.x;
    s[t] = in[blockIdx.x * 256 + t];
    if (barrier) __syncthreads();
    for (int h = 128; h > 0; h >>= 1) {
        if (t < h) s[t] += s[t + h];
        if (barrier) __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

// out[t] = in[t + d] through shared memory; without the barrier a thread
// reads a neighbour that has not written yet: d = +1 shows in the forward
// schedule, d = -1 only in the reverse one (AM_EMU_REVERSE=1).
__global__ void t_shift(float *out, const float *in, int d, int barrier) {
    __shared__ float s[64];
    int t = threadIdx.x;
    s[t] = in[t];
    if (barrier) __syncthreads();
    int j = t + d;
    out[t] = j >= 0 && j < 64 ? s[j] : -1.0f;
}

// Threads below 16 wait at one barrier, the others at another.
__global__ void t_divergent(float *out) {
    if (threadIdx.x < 16) {
        __syncthreads();
        out[threadIdx.x] = 1.0f;
    } else {
        __syncthreads();
        out[threadIdx.x] = 2.0f;
    }
}

// Thread 0 leaves before the barrier the others wait at.
__global__ void t_exit_early(float *out) {
    if (threadIdx.x == 0) return;
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

// Lane 0 waits at __syncthreads while lane 1 waits at a shuffle naming lane 0.
__global__ void t_deadlock(float *out) {
    if (threadIdx.x == 0) __syncthreads();
    else out[threadIdx.x] = __shfl_sync(0x3u, 1.0f, 0);
}

// Warp operations on a block of 64: out[t * 8 + k] holds result k of thread t.
__global__ void t_warp(int *out) {
    int t = threadIdx.x, lane = t & 31;
    int v = t * 3 + 1;
    int sum = v;
    for (int m = 16; m > 0; m >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, m);
    int *o = out + t * 8;
    o[0] = sum;
    o[1] = __shfl_sync(0xffffffffu, v, 5);
    o[2] = __shfl_sync(0xffffffffu, v, lane + 1, 8);
    o[3] = __shfl_up_sync(0xffffffffu, v, 3);
    o[4] = __shfl_down_sync(0xffffffffu, v, 3, 16);
    o[5] = (int)__ballot_sync(0xffffffffu, t % 3 == 0);
    o[6] = __any_sync(0xffffffffu, t == 40);
    o[7] = __all_sync(0xffffffffu, t < 50);
}

// A block of 40: the second warp has 8 lanes; a full mask there names lanes
// that do not exist.
__global__ void t_partial(int *out, unsigned mask2) {
    int t = threadIdx.x;
    unsigned mask = t < 32 ? 0xffffffffu : mask2;
    int sum = t;
    for (int m = 4; m > 0; m >>= 1) sum += __shfl_xor_sync(mask, sum, m);
    out[t] = sum;
}

__global__ void t_atomic(float *acc, unsigned *count) {
    atomicAdd(acc, 0.5f);
    atomicAdd(count, 1u);
}

__global__ void t_add(float *x, float v, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += v;
}

__global__ void t_bf16(uint16_t *out, const float *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        __nv_bfloat16 h = __float2bfloat16_rn(in[i]);
        memcpy(&out[i], &h, 2);
    }
}

extern "C" {
void et_index(unsigned *out, dim3 grid, dim3 block, void *s) { t_index<<<grid, block, 0, (cudaStream_t)s>>>(out); }
void et_index_n(unsigned *out, unsigned gx, unsigned bx) { t_index<<<gx, bx>>>(out); }
void et_reduce(float *out, const float *in, int nblocks, int barrier) { t_reduce<<<nblocks, 256>>>(out, in, barrier); }
void et_shift(float *out, const float *in, int d, int barrier) { t_shift<<<1, 64>>>(out, in, d, barrier); }
void et_divergent(float *out) { t_divergent<<<1, 32>>>(out); }
void et_exit_early(float *out) { t_exit_early<<<1, 32>>>(out); }
void et_deadlock(float *out) { t_deadlock<<<1, 2>>>(out); }
void et_warp(int *out) { t_warp<<<1, 64>>>(out); }
void et_partial(int *out, unsigned mask2) { t_partial<<<1, 40>>>(out, mask2); }
void et_atomic(float *acc, unsigned *count, int blocks, int threads) { t_atomic<<<blocks, threads>>>(acc, count); }
void et_add(float *x, float v, int n, void *s) { t_add<<<(n + 127) / 128, 128, 0, (cudaStream_t)s>>>(x, v, n); }
void et_bf16(uint16_t *out, const float *in, int n) { t_bf16<<<(n + 63) / 64, 64>>>(out, in, n); }
}
