// Augmentation of a whole batch in one launch (include/am/augment.h): a
// thread block per image runs the image's plan step by step, every byte from
// am_aug_step_value (kernels/augment_math.h, the maths the CPU tests check
// against Pillow), and the last step writes the uint8 view and/or the model
// input x = view / 255 in fp32 or bf16. CPU twin: am_augment_apply.
#include "common.cuh"

extern "C" {
#include "am/augment.h"
}
#include "augment_math.h"

#define AUG_THREADS 512

// One image: steps ping-pong between two scratch buffers (the first reads
// the input); histograms and look-up tables in shared memory; the affine's
// coordinate tables (W + H ints) after the buffers.
template <typename T>
__global__ void __launch_bounds__(AUG_THREADS)
augment_batch(T *x, uint8_t *out, const uint8_t *in, const am_aug_plan *plans, uint8_t *work,
              int H, int W, int C, int Hp, int Wp, int pt, int pl) {
    __shared__ am_aug_step step;
    __shared__ am_aug_prep prep;
    __shared__ uint32_t hist[3][256];
    const int tid = threadIdx.x, n = blockIdx.x;
    const size_t nb = (size_t)H * W * C, npix = (size_t)H * W;
    uint8_t *buf[2];
    buf[0] = work + cu_augment_work_bytes(1, H, W, C) * n;
    buf[1] = buf[0] + am_aug_round256(nb);
    int *tab = (int *)(buf[1] + am_aug_round256(nb));
    const uint8_t *src = in + nb * n;
    const int steps = plans[n].n;
    for (int j = 0; j < (steps ? steps : 1); j++) {
        if (tid == 0) {
            if (steps) {
                step = plans[n].s[j];
            } else {
                memset(&step, 0, sizeof step);
                step.kind = AM_AUGK_NUM;  // a copy
            }
        }
        __syncthreads();
        const int kind = step.kind;
        if (am_aug_step_needs_hist(kind)) {
            for (int i = tid; i < 3 * 256; i += blockDim.x) (&hist[0][0])[i] = 0;
            __syncthreads();
            const int nch = kind == AM_AUGK_CONTRAST ? 1 : C;
            for (size_t q = tid; q < npix; q += blockDim.x)
                for (int c = 0; c < nch; c++) atomicAdd(&hist[c][am_aug_hist_value(kind, src + q * C, c, C)], 1u);
            __syncthreads();
            if (tid < nch) am_aug_prep_channel(&prep, kind, tid, hist[tid]);
        } else if (kind == AM_AUGK_AFFINE) {
            if (tid == 0) {
                prep.path = am_aug_affine_path(step.a, W, H);
                am_aug_affine_fixed(prep.fx, step.a);
                prep.xtab = tab;
                prep.ytab = tab + W;
            } else if (tid == 32) {
                am_aug_scale_table(tab, step.a[2], step.a[0], W);
            } else if (tid == 64) {
                am_aug_scale_table(tab + W, step.a[5], step.a[4], H);
            }
        }
        __syncthreads();
        const int last = j == (steps ? steps : 1) - 1;
        uint8_t *dst = buf[j & 1];
        for (size_t e = tid; e < nb; e += blockDim.x) {
            const int c = (int)(e % C);
            const size_t q = e / C;
            const int xx = (int)(q % W), yy = (int)(q / W);
            const uint8_t v = am_aug_step_value(&step, &prep, src, xx, yy, c, H, W, C);
            if (!last) {
                dst[e] = v;
                continue;
            }
            if (out) out[nb * n + e] = v;
            if (x) st(x, (((size_t)n * Hp + yy + pt) * Wp + xx + pl) * C + c, (float)v / 255.0f);
        }
        __syncthreads();
        src = dst;
    }
}

extern "C" void cu_augment_batch(void *x, uint8_t *out, const uint8_t *in, const am_aug_plan *plans,
                                 uint8_t *work, int N, int H, int W, int C, int Hp, int Wp, int pt, int pl,
                                 int dt, void *stream) {
    cudaStream_t s = STREAM(stream);
    if (N <= 0) return;
    // Bands (C other than 1, 3) take per-band ops only (AM_RA_BANDS): no
    // step that reads a histogram (the callers check the plans).
    AM_CHECK(C >= 1 && C <= 16, "augmentation takes 1..16 channels");
    AM_CHECK(pt >= 0 && pl >= 0 && Hp >= H + pt && Wp >= W + pl, "the input tensor must hold the image at (pt, pl)");
    DISPATCH_DT(dt, augment_batch<T><<<N, AUG_THREADS, 0, s>>>((T *)x, out, in, plans, work, H, W, C, Hp, Wp, pt, pl));
    AM_LAUNCHED("augment_batch", s);
}
