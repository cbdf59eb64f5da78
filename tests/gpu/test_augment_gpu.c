// The batched augmentation kernel (kernels/augment.cu) against the CPU
// (am_augment_apply, itself checked against Pillow by `make test`): the
// uint8 views byte for byte, and the model input written by the same launch
// exactly view / 255 in fp32 and the bf16 rounding of it, inside a padded
// tensor whose border the kernel must leave alone. Sampled weak, USB and
// FixMatch lists plus the affine's three paths and the exact transposes, on
// square, odd, tiny and gray images; and images of 2 and 5 bands with the
// bands' lists (the CPU augments them band by band as L images).
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am/augment.h"
#include "am/error.h"
#include "am/kernels.h"
#include "../../kernels/bf16_math.h"
#include "gpu_check.h"

// List i of a batch: sampled (weak, USB, FixMatch in turn), or every 7th a
// single op that forces a path: a huge shear (double path), 90/180/270
// degrees, a rotation (fixed point), a translation (tables).
static void make_list(am_aug_list *l, uint32_t i, int H, int W, int Ch) {
    if (i % 7 == 6) {
        static const int ops[] = {AM_AUG_SHEAR_X, AM_AUG_ROTATE, AM_AUG_ROTATE, AM_AUG_ROTATE, AM_AUG_ROTATE,
                                  AM_AUG_TRANSLATE_Y, AM_AUG_SHEAR_Y};
        static const float mags[] = {4000.0f, 90.0f, 180.0f, 270.0f, 13.7f, -0.21f, -3000.0f};
        int k = (int)(i / 7 % 7);
        memset(l, 0, sizeof *l);
        l->n = 1;
        l->op[0].op = ops[k];
        l->op[0].m[0] = mags[k];
        return;
    }
    if (i % 3 == 0) am_augment_sample_weak(l, i % 2 ? AM_RA_ANOMALYMATCH : AM_RA_USB, 21, 3, i, H, W);
    else if (Ch != 1 && Ch != 3) am_augment_sample_strong(l, AM_RA_BANDS, 21, 3, i, H, W);
    else am_augment_sample_strong(l, i % 3 == 1 ? AM_RA_USB : AM_RA_FIXMATCH, 21, 3, i, H, W);
}

static void one_size(int N, int H, int W, int Ch, int pad) {
    size_t nb = (size_t)H * W * Ch, n = nb * N;
    int Hp = H + 2 * pad, Wp = W + 2 * pad;
    size_t nx = (size_t)N * Hp * Wp * Ch;
    uint8_t *in = AM_MALLOC(n), *ref = AM_MALLOC(n), *got = AM_MALLOC(n);
    am_aug_list *lists = AM_MALLOC(sizeof(am_aug_list) * N);
    am_aug_plan *plans = AM_MALLOC(sizeof(am_aug_plan) * N);
    for (size_t i = 0; i < n; i++) in[i] = (uint8_t)(urand(0, 256));
    for (int i = 0; i < N; i++) {
        make_list(&lists[i], (uint32_t)i, H, W, Ch);
        am_aug_plan_make(&plans[i], &lists[i], H, W, Ch);
    }
    am_augment_batch(ref, in, lists, N, H, W, Ch);
    uint8_t *dIn, *dOut, *dWork;
    am_aug_plan *dPlans;
    size_t wb = cu_augment_work_bytes(N, H, W, Ch);
    AM_CUDA(cudaMalloc((void **)&dIn, n));
    AM_CUDA(cudaMalloc((void **)&dOut, n));
    AM_CUDA(cudaMalloc((void **)&dWork, wb));
    AM_CUDA(cudaMalloc((void **)&dPlans, sizeof(am_aug_plan) * N));
    d_copy(dIn, in, n);
    d_copy(dPlans, plans, sizeof(am_aug_plan) * N);
    d_fill(dWork, 0xA5, wb);
    char name[128];
    for (int dt = 0; dt < 2; dt++) {
        void *X = d_put(NULL, nx, dt);  // NaN everywhere: the border must stay NaN
        d_fill(dOut, 0x5A, n);
        cu_augment_batch(X, dt == 0 ? dOut : NULL, dIn, dPlans, dWork, N, H, W, Ch, Hp, Wp, pad, pad, dt, ST);
        if (dt == 0) {
            AM_CUDA(cudaDeviceSynchronize());
            AM_CUDA(cudaMemcpy(got, dOut, n, cudaMemcpyDeviceToHost));
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (got[i] != ref[i]) { if (!bad) first = i; bad++; }
            char detail[160];
            snprintf(detail, sizeof detail, "%zu bytes differ; first: image %zu byte %zu got %d expected %d",
                     bad, first / nb, first % nb, got[first], ref[first]);
            snprintf(name, sizeof name, "augment batch N%d %dx%dx%d: uint8 views = CPU bytes", N, H, W, Ch);
            check_pass(name, bad == 0, detail);
        }
        float *gx = d_get(X, nx, dt);
        size_t bad = 0, border = 0;
        for (int i = 0; i < N; i++)
            for (int y = 0; y < Hp; y++)
                for (int x = 0; x < Wp; x++)
                    for (int c = 0; c < Ch; c++) {
                        float v = gx[(((size_t)i * Hp + y) * Wp + x) * Ch + c];
                        int inside = y >= pad && y < pad + H && x >= pad && x < pad + W;
                        if (!inside) { border += !isnan(v); continue; }
                        float e = (float)ref[(size_t)i * nb + ((size_t)(y - pad) * W + (x - pad)) * Ch + c] / 255.0f;
                        if (dt == AM_BF16) e = am_bf16_round(e);
                        bad += !(v == e);
                    }
        char detail[96];
        snprintf(detail, sizeof detail, "%zu interior values differ, %zu border values written", bad, border);
        snprintf(name, sizeof name, "  model input %s (pad %d) = view / 255 exactly", dtn(dt), pad);
        check_pass(name, bad == 0 && border == 0, detail);
        free(gx);
        cudaFree(X);
    }
    free(in); free(ref); free(got); free(lists); free(plans);
    cudaFree(dIn); cudaFree(dOut); cudaFree(dWork); cudaFree(dPlans);
}

void test_augment_gpu(void) {
    one_size(80, 64, 64, 3, 0);
    one_size(24, 224, 224, 3, 1);
    one_size(49, 37, 23, 1, 2);
    one_size(21, 1, 1, 3, 0);
    one_size(21, 2, 2, 1, 1);
    one_size(14, 5, 300, 3, 0);
    one_size(30, 33, 40, 2, 1);  // bands: AM_RA_BANDS, the CPU band by band
    one_size(21, 24, 24, 5, 0);
}
