// The GPU backend against the CPU reference (built and run by tests/gpu/run.sh,
// not part of `make test`). Every kernel of include/am/kernels.h, the cuDNN
// convolutions and the cuBLAS FC are run on fresh random inputs with odd
// shapes, outputs poisoned with NaN first (NaN never passes), and compared
// with their CPU twins in fp32 and bf16 storage; then the whole model
// (forward, backward, running statistics, eval and graph forward) against
// am_forward/am_backward. Prints one line per check and exits non-zero on any
// failure. The checks are in named groups (test_gpu --list):
//   test_gpu [--quick] [--timeout S]   every group (--quick: the kernel groups, for
//                                      compute-sanitizer), each in a child process
//   test_gpu --group NAME ...          the named groups, in this process (for a debugger)
// A child makes its own CUDA context (the parent never touches CUDA, so that
// forking is safe), so a fatal error or a crash costs one group, not the run.
#include <cuda_runtime.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "am/error.h"
#include "am/gpu.h"
#include "am/kernels.h"
#include "am/model.h"
#include "am/ops.h"
#include "am/prof.h"
#include "am/train.h"
#include "am/weights.h"
#include "../../kernels/act_math.h"
#include "../../kernels/bf16_math.h"
#include "../../kernels/conv_math.h"
#include "../compare.h"
#include "gpu_check.h"

static void test_dwconv(int dt, int N, int H, int W, int Cc, int k, int s) {
    int Ho = am_same_out(H, s), Wo = am_same_out(W, s);
    size_t ni = (size_t)N * H * W * Cc, no = (size_t)N * Ho * Wo * Cc, nw = (size_t)k * k * Cc;
    float *x = h_rand(ni, -1, 1, dt), *w = h_rand(nw, -1, 1, AM_F32), *dy = h_rand(no, -1, 1, dt);
    float *dw0 = h_rand(nw, -1, 1, AM_F32), *y = AM_MALLOC(4 * no), *dx = AM_MALLOC(4 * ni), *dwr = h_copy(dw0, nw);
    dwconv_forward(y, x, w, N, H, W, Cc, k, s);
    dwconv_backward(dx, dwr, dy, x, w, N, H, W, Cc, k, s);
    void *dX = d_put(x, ni, dt), *dY = d_put(NULL, no, dt), *dDY = d_put(dy, no, dt), *dDX = d_put(NULL, ni, dt);
    float *dW = d_put(w, nw, AM_F32), *dDW = d_put(dw0, nw, AM_F32);
    cu_dwconv_forward(dY, dX, dW, N, H, W, Cc, k, s, dt, ST);
    cu_dwconv_backward(dDX, dDW, dDY, dX, dW, N, H, W, Cc, k, s, dt, ST);
    char name[96];
    float *g;
    snprintf(name, sizeof name, "dwconv fwd %s N%d %dx%d C%d k%d s%d", dtn(dt), N, H, W, Cc, k, s);
    check(name, g = d_get(dY, no, dt), y, no, tol_of(dt, 1e-5)); free(g);
    snprintf(name, sizeof name, "dwconv bwd din %s k%d s%d", dtn(dt), k, s);
    check(name, g = d_get(dDX, ni, dt), dx, ni, tol_of(dt, 1e-5)); free(g);
    snprintf(name, sizeof name, "dwconv bwd dw %s k%d s%d", dtn(dt), k, s);
    check(name, g = d_get(dDW, nw, AM_F32), dwr, nw, tol_of(dt, 1e-4)); free(g);
    free(x); free(w); free(dy); free(dw0); free(y); free(dx); free(dwr);
    cudaFree(dX); cudaFree(dY); cudaFree(dDY); cudaFree(dDX); cudaFree(dW); cudaFree(dDW);
}

static void test_bn(int dt, int M, int Cc, int act, int train) {
    size_t n = (size_t)M * Cc;
    float *x = h_rand(n, -2, 3, dt), *gm = h_rand(Cc, 0.5, 1.5, AM_F32), *bt = h_rand(Cc, -0.5, 0.5, AM_F32);
    float *rm = h_rand(Cc, -0.2, 0.2, AM_F32), *rv = h_rand(Cc, 0.5, 2, AM_F32);
    float *rm2 = h_copy(rm, Cc), *rv2 = h_copy(rv, Cc), *mean = AM_MALLOC(4 * Cc), *rstd = AM_MALLOC(4 * Cc);
    float *y = AM_MALLOC(4 * n), *dy = h_rand(n, -1, 1, dt), *dx = AM_MALLOC(4 * n);
    float *dg0 = h_rand(Cc, -1, 1, AM_F32), *db0 = h_rand(Cc, -1, 1, AM_F32), *dg = h_copy(dg0, Cc), *db = h_copy(db0, Cc);
    bn_act_forward(y, mean, rstd, x, gm, bt, rm2, rv2, M, Cc, act, train, 0.01f, 1e-3f);
    bn_act_backward(dx, dg, db, dy, x, mean, rstd, gm, bt, M, Cc, act);
    void *dX = d_put(x, n, dt), *dY = d_put(NULL, n, dt), *dDY = d_put(dy, n, dt);
    float *dG = d_put(gm, Cc, 0), *dB = d_put(bt, Cc, 0), *dRM = d_put(rm, Cc, 0), *dRV = d_put(rv, Cc, 0);
    float *dM = d_put(NULL, Cc, 0), *dR = d_put(NULL, Cc, 0), *dDG = d_put(dg0, Cc, 0), *dDB = d_put(db0, Cc, 0);
    double *work;
    AM_CUDA(cudaMalloc((void **)&work, sizeof(double) * 3 * Cc));
    cu_bn_act_forward(dY, dM, dR, dX, dG, dB, dRM, dRV, work, M, Cc, act, train, 0.01f, 1e-3f, dt, ST);
    char name[96];
    float *g;
    snprintf(name, sizeof name, "bn_act fwd %s %s act%d M%d C%d", dtn(dt), train ? "train" : "eval", act, M, Cc);
    check(name, g = d_get(dY, n, dt), y, n, tol_of(dt, 1e-5)); free(g);
    check("  mean", g = d_get(dM, Cc, 0), mean, Cc, 1e-5); free(g);
    check("  rstd", g = d_get(dR, Cc, 0), rstd, Cc, 1e-5); free(g);
    check("  running mean", g = d_get(dRM, Cc, 0), rm2, Cc, 1e-5); free(g);
    check("  running var", g = d_get(dRV, Cc, 0), rv2, Cc, 1e-5); free(g);
    if (train) {
        // dx written in place over dout, as the model does.
        cu_bn_act_backward(dDY, dDG, dDB, dDY, dX, dM, dR, dG, dB, work, M, Cc, act, dt, ST);
        snprintf(name, sizeof name, "bn_act bwd dx (in place) %s act%d", dtn(dt), act);
        check(name, g = d_get(dDY, n, dt), dx, n, tol_of(dt, 1e-4)); free(g);
        check("  dgamma", g = d_get(dDG, Cc, 0), dg, Cc, tol_of(dt, 1e-4)); free(g);
        check("  dbeta", g = d_get(dDB, Cc, 0), db, Cc, tol_of(dt, 1e-4)); free(g);
    }
    free(x); free(gm); free(bt); free(rm); free(rv); free(rm2); free(rv2); free(mean); free(rstd);
    free(y); free(dy); free(dx); free(dg0); free(db0); free(dg); free(db);
    cudaFree(dX); cudaFree(dY); cudaFree(dDY); cudaFree(dG); cudaFree(dB); cudaFree(dRM); cudaFree(dRV);
    cudaFree(dM); cudaFree(dR); cudaFree(dDG); cudaFree(dDB); cudaFree(work);
}

static void test_se(int dt, int N, int HW, int Cc, int S) {
    size_t n = (size_t)N * HW * Cc;
    float *x = h_rand(n, -1, 2, dt), *w1 = h_rand((size_t)S * Cc, -0.5, 0.5, 0), *b1 = h_rand(S, -0.2, 0.2, 0);
    float *w2 = h_rand((size_t)Cc * S, -0.5, 0.5, 0), *b2 = h_rand(Cc, -0.2, 0.2, 0), *dy = h_rand(n, -1, 1, dt);
    float *y = AM_MALLOC(4 * n), *pooled = AM_MALLOC(4 * N * Cc), *hid = AM_MALLOC(4 * N * S), *gate = AM_MALLOC(4 * N * Cc);
    float *dx = AM_MALLOC(4 * n), *dw1 = h_rand((size_t)S * Cc, -1, 1, 0), *db1 = h_rand(S, -1, 1, 0);
    float *dw2 = h_rand((size_t)Cc * S, -1, 1, 0), *db2 = h_rand(Cc, -1, 1, 0);
    float *gw1 = d_put(dw1, (size_t)S * Cc, 0), *gb1 = d_put(db1, S, 0), *gw2 = d_put(dw2, (size_t)Cc * S, 0), *gb2 = d_put(db2, Cc, 0);
    se_forward(y, pooled, hid, gate, x, w1, b1, w2, b2, N, HW, Cc, S);
    se_backward(dx, dw1, db1, dw2, db2, dy, x, pooled, hid, gate, w1, w2, N, HW, Cc, S);
    void *dX = d_put(x, n, dt), *dY = d_put(NULL, n, dt), *dDY = d_put(dy, n, dt);
    float *W1 = d_put(w1, (size_t)S * Cc, 0), *B1 = d_put(b1, S, 0), *W2 = d_put(w2, (size_t)Cc * S, 0), *B2 = d_put(b2, Cc, 0);
    float *P = d_put(NULL, (size_t)N * Cc, 0), *Hd = d_put(NULL, (size_t)N * S, 0), *G = d_put(NULL, (size_t)N * Cc, 0);
    float *dz = d_put(NULL, (size_t)N * Cc, 0), *dh = d_put(NULL, (size_t)N * S, 0), *dp = d_put(NULL, (size_t)N * Cc, 0);
    cu_gap_forward(P, dX, N, HW, Cc, dt, ST);
    cu_fc_small_forward(Hd, P, W1, B1, N, Cc, S, AM_ACT_NONE, 0, ST);
    cu_fc_small_forward(G, Hd, W2, B2, N, S, Cc, AM_ACT_SWISH, 1, ST);
    cu_se_scale_forward(dY, dX, G, N, HW, Cc, dt, ST);
    cu_se_gate_backward(dz, dDY, dX, G, N, HW, Cc, dt, ST);
    cu_fc_small_backward(dh, gw2, gb2, dz, Hd, W2, Hd, N, S, Cc, AM_ACT_SWISH, ST);
    cu_fc_small_backward(dp, gw1, gb1, dh, P, W1, NULL, N, Cc, S, AM_ACT_NONE, ST);
    cu_se_input_backward(dDY, dDY, G, dp, N, HW, Cc, dt, ST);
    char name[96];
    float *g;
    double t = tol_of(dt, 1e-5), tb = tol_of(dt, 1e-4);
    snprintf(name, sizeof name, "se fwd out %s N%d HW%d C%d S%d", dtn(dt), N, HW, Cc, S);
    check(name, g = d_get(dY, n, dt), y, n, t); free(g);
    check("  gap (pooled)", g = d_get(P, (size_t)N * Cc, 0), pooled, (size_t)N * Cc, t); free(g);
    check("  hid", g = d_get(Hd, (size_t)N * S, 0), hid, (size_t)N * S, t); free(g);
    check("  gate", g = d_get(G, (size_t)N * Cc, 0), gate, (size_t)N * Cc, t); free(g);
    snprintf(name, sizeof name, "se bwd din (in place) %s", dtn(dt));
    check(name, g = d_get(dDY, n, dt), dx, n, tb); free(g);
    check("  dw1", g = d_get(gw1, (size_t)S * Cc, 0), dw1, (size_t)S * Cc, tb); free(g);
    check("  db1", g = d_get(gb1, S, 0), db1, S, tb); free(g);
    check("  dw2", g = d_get(gw2, (size_t)Cc * S, 0), dw2, (size_t)Cc * S, tb); free(g);
    check("  db2", g = d_get(gb2, Cc, 0), db2, Cc, tb); free(g);
    // gap backward alone
    float *gd = h_rand((size_t)N * Cc, -1, 1, 0), *gin = AM_MALLOC(4 * n);
    gap_backward(gin, gd, N, HW, Cc);
    float *GD = d_put(gd, (size_t)N * Cc, 0);
    cu_gap_backward(dY, GD, N, HW, Cc, dt, ST);
    snprintf(name, sizeof name, "gap bwd %s", dtn(dt));
    check(name, g = d_get(dY, n, dt), gin, n, t); free(g);
    free(gd); free(gin); cudaFree(GD);
    free(x); free(w1); free(b1); free(w2); free(b2); free(dy); free(y); free(pooled); free(hid); free(gate);
    free(dx); free(dw1); free(db1); free(dw2); free(db2);
    cudaFree(gw1); cudaFree(gb1); cudaFree(gw2); cudaFree(gb2); cudaFree(dX); cudaFree(dY); cudaFree(dDY);
    cudaFree(W1); cudaFree(B1); cudaFree(W2); cudaFree(B2); cudaFree(P); cudaFree(Hd); cudaFree(G);
    cudaFree(dz); cudaFree(dh); cudaFree(dp);
}

static void test_residual_dropout(int dt, int N, int per) {
    size_t n = (size_t)N * per;
    float *br = h_rand(n, -1, 1, dt), *sk = h_rand(n, -1, 1, dt), *dy = h_rand(n, -1, 1, dt);
    float *out = AM_MALLOC(4 * n), *sc = AM_MALLOC(4 * N), *dbr = AM_MALLOC(4 * n), *dsk = AM_MALLOC(4 * n);
    drop_connect_add_forward(out, sc, br, sk, N, per, 0.3f, 42, 0x105, 7);
    drop_connect_add_backward(dbr, dsk, dy, sc, N, per);
    void *BR = d_put(br, n, dt), *SK = d_put(sk, n, dt), *O = d_put(NULL, n, dt), *DY = d_put(dy, n, dt), *DB = d_put(NULL, n, dt);
    float *SC = d_put(NULL, N, 0);
    cu_drop_connect_add_forward(O, SC, BR, SK, N, per, 0.3f, 42, 0x105, 7, NULL, dt, ST);
    cu_drop_connect_add_backward(DB, DY, DY, SC, N, per, dt, ST);
    char name[96];
    float *g;
    snprintf(name, sizeof name, "drop-connect add fwd %s N%d per%d", dtn(dt), N, per);
    check(name, g = d_get(O, n, dt), out, n, tol_of(dt, 1e-6)); free(g);
    check("  scale (Philox)", g = d_get(SC, N, 0), sc, N, 0.0); free(g);
    check("  bwd dbranch", g = d_get(DB, n, dt), dbr, n, tol_of(dt, 1e-6)); free(g);
    check("  bwd dskip (in place)", g = d_get(DY, n, dt), dsk, n, tol_of(dt, 1e-6)); free(g);
    for (size_t i = 0; i < n; i++) out[i] = (dt == AM_BF16 ? am_bf16_round(br[i] + sk[i]) : br[i] + sk[i]);
    cu_add_inplace(BR, SK, n, dt, ST);
    snprintf(name, sizeof name, "add in place %s", dtn(dt));
    check(name, g = d_get(BR, n, dt), out, n, tol_of(dt, 1e-7)); free(g);
    free(br); free(sk); free(dy); free(out); free(sc); free(dbr); free(dsk);
    cudaFree(BR); cudaFree(SK); cudaFree(O); cudaFree(DY); cudaFree(DB); cudaFree(SC);
    if (dt != AM_F32) return;
    // head dropout (float)
    int m = N * per;
    float *x = h_rand(m, -1, 1, 0), *y = AM_MALLOC(4 * m), *mask = AM_MALLOC(4 * m), *dx = AM_MALLOC(4 * m);
    dropout_forward(y, mask, x, m, 0.2f, 9, 0xD0, 3);
    dropout_backward(dx, x, mask, m);
    float *X = d_put(x, m, 0), *Y = d_put(NULL, m, 0), *MK = d_put(NULL, m, 0), *DX = d_put(NULL, m, 0);
    cu_dropout_forward(Y, MK, X, m, 0.2f, 9, 0xD0, 3, NULL, ST);
    cu_dropout_backward(DX, X, MK, m, ST);
    check("dropout fwd", g = d_get(Y, m, 0), y, m, 0.0); free(g);
    check("  mask (Philox)", g = d_get(MK, m, 0), mask, m, 0.0); free(g);
    check("  bwd", g = d_get(DX, m, 0), dx, m, 0.0); free(g);
    am_step_args h = {.step = 3};
    am_step_args *A;
    AM_CUDA(cudaMalloc((void **)&A, sizeof h));
    d_copy(A, &h, sizeof h);
    d_fill(MK, 0xFF, 4 * (size_t)m);
    cu_dropout_forward(Y, MK, X, m, 0.2f, 9, 0xD0, 99, A, ST);
    check("  mask, step from the device step values", g = d_get(MK, m, 0), mask, m, 0.0); free(g);
    cudaFree(A);
    free(x); free(y); free(mask); free(dx);
    cudaFree(X); cudaFree(Y); cudaFree(MK); cudaFree(DX);
}

static void test_losses(int B, int U, int K) {
    int N = B + 2 * U;
    size_t n = (size_t)N * K;
    float *z = h_rand(n, -3, 3, 0);
    for (int i = 0; i < U; i += 2) z[(size_t)(B + i) * K + i % K] += 12.0f;  // confident weak rows: mask 1
    int *lab = AM_MALLOC(sizeof(int) * N);
    for (int i = 0; i < N; i++) lab[i] = (int)urand(0, K - 1e-9);
    float *probs = AM_MALLOC(4 * n), *dz = AM_MALLOC(4 * n);
    float loss = softmax_ce_forward(probs, z, lab, N, K);
    softmax_ce_backward(dz, probs, lab, N, K);
    float *Z = d_put(z, n, 0), *P = d_put(NULL, n, 0), *DZ = d_put(NULL, n, 0), *L = d_put(NULL, 4, 0);
    int *LAB;
    AM_CUDA(cudaMalloc((void **)&LAB, sizeof(int) * N));
    d_copy(LAB, lab, sizeof(int) * N);
    cu_softmax_ce_forward(L, P, Z, LAB, N, K, ST);
    cu_softmax_ce_backward(DZ, P, LAB, N, K, ST);
    float *g;
    char name[96];
    snprintf(name, sizeof name, "softmax CE loss N%d K%d", N, K);
    check(name, g = d_get(L, 1, 0), &loss, 1, 1e-6); free(g);
    check("  probs", g = d_get(P, n, 0), probs, n, 1e-6); free(g);
    check("  dlogits", g = d_get(DZ, n, 0), dz, n, 1e-6); free(g);
    // Every consistency loss, hard and soft targets, three steps each: the
    // stats, the gradient and the state the step leaves, as the CPU's.
    size_t ssl_floats = AM_SSL_STATE_FLOATS + (size_t)U * K + U;
    float *SSL = d_put(NULL, ssl_floats, 0), *L5 = d_put(NULL, 5, 0);
    int *images = AM_MALLOC(sizeof(int) * 3 * U), *IMG;
    AM_CUDA(cudaMalloc((void **)&IMG, sizeof(int) * 3 * U));
    for (int loss = 0; loss < AM_SSL_COUNT; loss++)
        for (int soft = 0; soft < 2; soft++) {
            am_ssl_hp hp = am_train_defaults().ssl;
            hp.loss = loss;
            hp.T = soft ? 0.5f : 0.0f;
            hp.ema_p = 0.7f;  // the state moves visibly in three steps
            am_ssl_state st;
            am_ssl_init(&st, K, &hp);
            d_copy(SSL, &st, sizeof st);
            // The per-image state of 2U images, then the step's images (half
            // of them seen before from the second step on).
            for (int i = 0; i < 2 * U; i++) images[i] = -1;
            d_copy(IMG, images, sizeof(int) * 2 * U);
            am_ssl_images img = {images + 2 * U, images, 2 * U, 2 * U}, dimg = {IMG + 2 * U, IMG, 2 * U, 2 * U};
            for (int step = 0; step < 3; step++) {
                for (int i = 0; i < U; i++) images[2 * U + i] = (i + step * U / 2) % (2 * U);
                d_copy(IMG + 2 * U, images + 2 * U, sizeof(int) * U);
                am_ssl_stats s = ssl_forward_backward(dz, z, lab, B, U, K, &st, &img, &hp);
                float ref[5] = {s.loss, s.loss_x, s.loss_u, s.loss_e, s.mask_rate};
                d_fill(DZ, 0xFF, 4 * n);
                cu_ssl_forward_backward(L5, DZ, SSL, Z, LAB, B, U, K, &dimg, &hp, ST);
                snprintf(name, sizeof name, "%s %s step %d stats (weight %.2f)", am_ssl_name(loss),
                         soft ? "soft T0.5" : "hard", step, s.mask_rate);
                check(name, g = d_get(L5, 5, 0), ref, 5, 1e-6); free(g);
                check("  dlogits", g = d_get(DZ, n, 0), dz, n, 1e-6); free(g);
                check("  state", g = d_get(SSL, AM_SSL_STATE_FLOATS, 0), st.f, AM_SSL_STATE_FLOATS, 1e-6); free(g);
                int *got = AM_MALLOC(sizeof(int) * 2 * U);
                cudaMemcpy(got, IMG, sizeof(int) * 2 * U, cudaMemcpyDeviceToHost);
                int same = !memcmp(got, images, sizeof(int) * 2 * U);
                free(got);
                check_pass("  state per image", same, same ? "as the CPU's" : "differs from the CPU's");
            }
        }
    cudaFree(SSL); cudaFree(L5); cudaFree(IMG);
    free(images);
    free(z); free(lab); free(probs); free(dz);
    cudaFree(Z); cudaFree(P); cudaFree(DZ); cudaFree(L); cudaFree(LAB);
}

static void test_optim(size_t n) {
    float *th = h_rand(n, -1, 1, 0), *v = h_rand(n, -0.1, 0.1, 0), *gr = h_rand(n, -1, 1, 0), *s = h_rand(n, 0, 0.1, 0);
    uint8_t *dec = AM_MALLOC(n);
    for (size_t i = 0; i < n; i++) dec[i] = urand(0, 1) < 0.7;
    float *T = d_put(th, n, 0), *V = d_put(v, n, 0), *G = d_put(gr, n, 0), *S = d_put(s, n, 0);
    uint8_t *D;
    AM_CUDA(cudaMalloc((void **)&D, n));
    d_copy(D, dec, n);
    float *g;
    for (int nest = 0; nest < 2; nest++) {
        sgd_update(th, v, gr, dec, n, 0.0075f, 0.9f, 7.5e-4f, nest);
        cu_sgd_update(T, V, G, D, n, 0.0075f, 0.9f, 7.5e-4f, nest, NULL, ST);
        check(nest ? "sgd nesterov theta" : "sgd plain theta", g = d_get(T, n, 0), th, n, 1e-6); free(g);
        check("  momentum", g = d_get(V, n, 0), v, n, 1e-6); free(g);
    }
    adamw_update(th, v, s, gr, dec, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
    cu_adamw_update(T, V, S, G, D, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, NULL, ST);
    check("adamw theta", g = d_get(T, n, 0), th, n, 1e-6); free(g);
    check("  m", g = d_get(V, n, 0), v, n, 1e-6); free(g);
    check("  s", g = d_get(S, n, 0), s, n, 1e-6); free(g);
    ema_update(v, th, n, 0.99f);
    cu_ema_update(V, T, n, 0.99f, ST);
    check("ema", g = d_get(V, n, 0), v, n, 1e-6); free(g);
    // The per-step values from device memory (a captured train step): the
    // host arguments are wrong on purpose and must be ignored.
    am_step_args h = {.step = 0, .lr = 0.0075f, .c1 = 1.0f - powf(0.9f, 4.0f), .c2 = 1.0f - powf(0.999f, 4.0f)};
    am_step_args *A;
    AM_CUDA(cudaMalloc((void **)&A, sizeof h));
    d_copy(A, &h, sizeof h);
    sgd_update(th, v, gr, dec, n, 0.0075f, 0.9f, 7.5e-4f, 1);
    cu_sgd_update(T, V, G, D, n, 5.0f, 0.9f, 7.5e-4f, 1, A, ST);
    check("sgd, lr from the device step values", g = d_get(T, n, 0), th, n, 1e-6); free(g);
    adamw_update(th, v, s, gr, dec, n, 0.0075f, 0.9f, 0.999f, 1e-8f, 0.01f, 4);
    cu_adamw_update(T, V, S, G, D, n, 5.0f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, A, ST);
    check("adamw, lr and step 4 from the device step values", g = d_get(T, n, 0), th, n, 1e-6); free(g);
    cudaFree(A);
    free(th); free(v); free(gr); free(s); free(dec);
    cudaFree(T); cudaFree(V); cudaFree(G); cudaFree(S); cudaFree(D);
}

static void test_convert(size_t n) {
    float *x = h_rand(n, -100, 100, 0);
    x[0] = 1.00390625f;              // a tie: rounds to even
    x[1] = 1.01171875f;              // the other tie
    x[2] = INFINITY; x[3] = -0.0f; x[4] = 1e-40f; x[5] = 3.0e38f;
    uint16_t *ref = AM_MALLOC(2 * n), *got = AM_MALLOC(2 * n);
    for (size_t i = 0; i < n; i++) ref[i] = am_f32_to_bf16(x[i]);
    float *X = d_put(x, n, 0);
    uint16_t *H;
    AM_CUDA(cudaMalloc((void **)&H, 2 * n));
    d_fill(H, 0xFF, 2 * n);
    cu_f32_to_bf16(H, X, n, ST);
    AM_CUDA(cudaDeviceSynchronize());
    AM_CUDA(cudaMemcpy(got, H, 2 * n, cudaMemcpyDeviceToHost));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != ref[i];
    g_checks++;
    g_fail += bad != 0;
    printf("%-4s %-46s n=%-8zu %zu bits differ\n", bad ? "FAIL" : "ok", "f32 -> bf16 (bitwise vs CPU twin)", n, bad);
    float *back = AM_MALLOC(4 * n), *acc = h_rand(n, -1, 1, 0), *acc2 = h_copy(acc, n);
    for (size_t i = 0; i < n; i++) { back[i] = am_bf16_to_f32(ref[i]); acc2[i] += back[i]; }
    float *g;
    cu_bf16_to_f32(X, H, n, ST);
    check("bf16 -> f32", g = d_get(X, n, 0), back, n, 0.0); free(g);
    float *A = d_put(acc, n, 0);
    cu_add_bf16_to_f32(A, H, n, ST);
    check("f32 += bf16", g = d_get(A, n, 0), acc2, n, 0.0); free(g);
    free(x); free(ref); free(got); free(back); free(acc); free(acc2);
    cudaFree(X); cudaFree(H); cudaFree(A);
}

// cuDNN convolution (TF-SAME via the padded input) and cuBLAS FC vs the CPU.
static void test_conv_fc(int dt, int N, int S, int Cc, int K, int k, int s) {
    int Ho = am_same_out(S, s), pt = am_same_pad_before(S, k, s);
    int pad = (Ho - 1) * s + k - S;
    if (pad < 0) pad = 0;
    int pb = pad - pt, Sp = S + pad;
    size_t ni = (size_t)N * S * S * Cc, np = (size_t)N * Sp * Sp * Cc, no = (size_t)N * Ho * Ho * K, nw = (size_t)K * k * k * Cc;
    float *x = h_rand(ni, -1, 1, dt), *w = h_rand(nw, -1, 1, dt), *dy = h_rand(no, -1, 1, dt);
    float *y = AM_MALLOC(4 * no), *col = AM_MALLOC(4 * (size_t)N * Ho * Ho * k * k * Cc), *dcol = AM_MALLOC(4 * (size_t)N * Ho * Ho * k * k * Cc);
    float *dw = AM_CALLOC(4 * nw), *dx = AM_MALLOC(4 * ni);
    conv2d_forward(y, col, x, w, N, S, S, Cc, K, k, s);
    conv2d_backward(dx, dw, dcol, dy, col, w, N, S, S, Cc, K, k, s);
    float *X = d_put(x, ni, 0);
    void *XP = d_put(NULL, np, dt), *W = d_put(w, nw, dt), *Y = d_put(NULL, no, dt), *DY = d_put(dy, no, dt);
    void *DW = d_put(NULL, nw, dt), *DXP = d_put(NULL, np, dt);
    cu_pad_input(XP, X, N, S, S, Cc, pt, pb, pt, pb, dt, ST);
    am_cudnn_conv_forward(&C, Y, XP, W, N, Sp, Sp, Cc, K, k, s, dt);
    am_cudnn_conv_backward_filter(&C, DW, DY, XP, N, Sp, Sp, Cc, K, k, s, dt, 0.0f);
    am_cudnn_conv_backward_data(&C, DXP, DY, W, N, Sp, Sp, Cc, K, k, s, dt);
    char name[96];
    float *g, *gp;
    snprintf(name, sizeof name, "cuDNN conv fwd %s N%d S%d C%d K%d k%d s%d", dtn(dt), N, S, Cc, K, k, s);
    check(name, g = d_get(Y, no, dt), y, no, tol_of(dt, 1e-5)); free(g);
    check("  bwd filter", g = d_get(DW, nw, dt), dw, nw, tol_of(dt, 1e-5)); free(g);
    gp = d_get(DXP, np, dt);
    float *dxc = AM_MALLOC(4 * ni);
    for (int n = 0; n < N; n++)
        for (int yy = 0; yy < S; yy++)
            for (int xx = 0; xx < S; xx++)
                memcpy(dxc + (((size_t)n * S + yy) * S + xx) * Cc, gp + (((size_t)n * Sp + yy + pt) * Sp + xx + pt) * Cc, 4 * Cc);
    check("  bwd data (interior of the padded input)", dxc, dx, ni, tol_of(dt, 1e-5));
    free(gp); free(dxc);
    free(x); free(w); free(dy); free(y); free(col); free(dcol); free(dw); free(dx);
    cudaFree(X); cudaFree(XP); cudaFree(W); cudaFree(Y); cudaFree(DY); cudaFree(DW); cudaFree(DXP);
    if (dt != AM_F32) return;
    // FC (cuBLAS, float): N rows, Cc inputs, K outputs.
    float *in = h_rand((size_t)N * Cc, -1, 1, 0), *fw = h_rand((size_t)K * Cc, -1, 1, 0), *fb = h_rand(K, -1, 1, 0);
    float *fo = AM_MALLOC(4 * N * K), *fd = h_rand((size_t)N * K, -1, 1, 0), *fdin = AM_MALLOC(4 * N * Cc);
    float *fdw0 = h_rand((size_t)K * Cc, -1, 1, 0), *fdb0 = h_rand(K, -1, 1, 0), *fdw = h_copy(fdw0, (size_t)K * Cc), *fdb = h_copy(fdb0, K);
    fc_forward(fo, in, fw, fb, N, Cc, K);
    fc_backward(fdin, fdw, fdb, fd, in, fw, N, Cc, K);
    float *IN = d_put(in, (size_t)N * Cc, 0), *FW = d_put(fw, (size_t)K * Cc, 0), *FB = d_put(fb, K, 0), *FO = d_put(NULL, (size_t)N * K, 0);
    float *FD = d_put(fd, (size_t)N * K, 0), *FDIN = d_put(NULL, (size_t)N * Cc, 0), *FDW = d_put(fdw0, (size_t)K * Cc, 0), *FDB = d_put(fdb0, K, 0);
    am_gpu_fc_forward(&C, FO, IN, FW, FB, N, Cc, K);
    am_gpu_fc_backward(&C, FDIN, FDW, FDB, FD, IN, FW, N, Cc, K);
    snprintf(name, sizeof name, "cuBLAS FC fwd N%d C%d K%d", N, Cc, K);
    check(name, g = d_get(FO, (size_t)N * K, 0), fo, (size_t)N * K, 1e-5); free(g);
    check("  bwd din", g = d_get(FDIN, (size_t)N * Cc, 0), fdin, (size_t)N * Cc, 1e-5); free(g);
    check("  bwd dw", g = d_get(FDW, (size_t)K * Cc, 0), fdw, (size_t)K * Cc, 1e-5); free(g);
    check("  bwd db", g = d_get(FDB, K, 0), fdb, K, 1e-5); free(g);
    free(in); free(fw); free(fb); free(fo); free(fd); free(fdin); free(fdw0); free(fdb0); free(fdw); free(fdb);
    cudaFree(IN); cudaFree(FW); cudaFree(FB); cudaFree(FO); cudaFree(FD); cudaFree(FDIN); cudaFree(FDW); cudaFree(FDB);
}

// One CPU pass of the model test: the train forward (step 3: dropout and
// drop-connect active) from the BN statistics `stats0`, the CE backward, the
// running statistics it leaves, and the eval forward from those.
typedef struct {
    float *z, *grads, *stats, *ze;
} cpu_pass;

static cpu_pass cpu_run(am_model *m, const float *x, const float *stats0, const int *lab, int N, int S) {
    size_t nz = (size_t)N * 5;
    memcpy(m->stats, stats0, sizeof(float) * m->nstats);
    cpu_pass r;
    r.z = h_copy(am_forward(m, x, N, S, 1, 77, 3), nz);
    float *probs = AM_MALLOC(4 * nz), *dz = AM_MALLOC(4 * nz);
    softmax_ce_forward(probs, r.z, lab, N, 5);
    softmax_ce_backward(dz, probs, lab, N, 5);
    am_zero_grad(m);
    am_backward(m, dz);
    r.grads = h_copy(m->grads, m->nparams);
    r.stats = h_copy(m->stats, m->nstats);
    r.ze = h_copy(am_forward(m, x, N, S, 0, 0, 0), nz);
    free(probs);
    free(dz);
    return r;
}

static void cpu_pass_free(cpu_pass *p) { free(p->z); free(p->grads); free(p->stats); free(p->ze); }

// Each parameter tensor's gradient error |got - ref|_2 / |ref|_2, where a BN
// shift (beta) whose gradient is zero in exact arithmetic (a BN follows) is
// judged against the scale of the same layer's gamma gradient, as
// tests/test_model.c does against PyTorch. err[i]: 0 for other families.
static void tensor_errs(double *err, const am_model *m, const float *got, const float *ref) {
    for (int i = 0; i < m->ntensors; i++) {
        const am_tensor *t = &m->tensors[i];
        err[i] = 0.0;
        if (t->family != AM_PARAM) continue;
        double scale = cmp_norm2(ref + t->offset, t->n);
        size_t len = strlen(t->name);
        if (len > 5 && !strcmp(t->name + len - 5, ".beta")) {
            char gname[128];
            snprintf(gname, sizeof gname, "%.*s.gamma", (int)(len - 5), t->name);
            const am_tensor *gt = am_model_find(m, gname);
            if (gt) scale = fmax(scale, cmp_norm2(ref + gt->offset, gt->n));
        }
        err[i] = cmp_norm_to(NULL, got + t->offset, ref + t->offset, t->n, scale, 1.0).err;
    }
}

// The spread of the CPU against itself: the largest difference of each
// quantity over SPREAD_TRIALS passes on x moved by one ulp (tests/gpu/gpu_check.h),
// and for bf16 also the pass on x and weights rounded to bf16.
typedef struct {
    double z, grads, stats, ze, *tensor;
} model_spread;

static void spread_add(model_spread *sp, const am_model *m, const cpu_pass *p, const cpu_pass *ref, int N) {
    size_t nz = (size_t)N * 5;
    sp->z = fmax(sp->z, rel_scaled(p->z, ref->z, nz));
    sp->grads = fmax(sp->grads, cmp_norm(NULL, p->grads, ref->grads, m->nparams, 1.0).err);
    sp->stats = fmax(sp->stats, cmp_norm(NULL, p->stats, ref->stats, m->nstats, 1.0).err);
    sp->ze = fmax(sp->ze, rel_scaled(p->ze, ref->ze, nz));
    double *e = AM_MALLOC(sizeof(double) * m->ntensors);
    tensor_errs(e, m, p->grads, ref->grads);
    for (int i = 0; i < m->ntensors; i++) sp->tensor[i] = fmax(sp->tensor[i], e[i]);
    free(e);
}

static model_spread measure_spread(am_model *m, const float *x, const float *stats0, const int *lab, int N, int S,
                                   const cpu_pass *ref, int dt) {
    model_spread sp = {0, 0, 0, 0, AM_CALLOC(sizeof(double) * m->ntensors)};
    size_t nx = (size_t)N * S * S * m->arch.in_ch;
    float *xn = AM_MALLOC(4 * nx);
    for (int t = 0; t < SPREAD_TRIALS; t++) {
        memcpy(xn, x, 4 * nx);
        ulp_nudge(xn, nx);
        cpu_pass p = cpu_run(m, xn, stats0, lab, N, S);
        spread_add(&sp, m, &p, ref, N);
        cpu_pass_free(&p);
    }
    if (dt == AM_BF16) {
        float *params = h_copy(m->params, m->nparams);
        for (size_t i = 0; i < nx; i++) xn[i] = am_bf16_round(x[i]);
        for (size_t i = 0; i < m->nparams; i++) m->params[i] = am_bf16_round(params[i]);
        cpu_pass p = cpu_run(m, xn, stats0, lab, N, S);
        spread_add(&sp, m, &p, ref, N);
        cpu_pass_free(&p);
        memcpy(m->params, params, sizeof(float) * m->nparams);
        free(params);
    }
    free(xn);
    return sp;
}

// Whole model: GPU (dt) against the CPU in fp32, same weights and inputs,
// each quantity within spread_k times the CPU's own spread (gpu_check.h). bf16 at
// sizes where every batch norm averages at least 64 values per channel. Cin
// input channels (bands: the pretrained stem adapted).
static void test_model(const char *arch, int Cin, int dt, int N, int S) {
    am_model m;
    AM_CHECK(am_model_init(&m, arch, Cin, 5, 11) == 0, "model init");
    // Lite0 starts from the pretrained weights (a new 5-class head), as
    // am_train does: a network at TF initialisation amplifies rounding far more.
    if (!strcmp(arch, "lite0") && am_weights_load(&m, LITE0_WEIGHTS, 11))
        am_fatalf(__FILE__, __LINE__, "%s (run test_gpu from the repository's top folder)", am_error());
    am_gpu_model g;
    if (am_gpu_model_init(&g, &m, C.device, dt)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    size_t nx = (size_t)N * S * S * Cin, nz = (size_t)N * 5;
    float *x = h_rand(nx, 0, 1, 0), *stats0 = h_copy(m.stats, m.nstats);
    int *lab = AM_MALLOC(sizeof(int) * N);
    for (int i = 0; i < N; i++) lab[i] = i % 5;
    cpu_pass ref = cpu_run(&m, x, stats0, lab, N, S);
    model_spread sp = measure_spread(&m, x, stats0, lab, N, S, &ref, dt);
    float *gx = am_gpu_input(&g, N, S);
    d_fill(g.acts.base, 0xFF, g.acts.bytes);  // poison every activation
    d_copy(gx, x, 4 * nx);
    float *gz = am_gpu_forward(&g, 1, 77, 3);
    float *dz = AM_MALLOC(4 * nz), *probs = AM_MALLOC(4 * nz);
    softmax_ce_forward(probs, ref.z, lab, N, 5);
    softmax_ce_backward(dz, probs, lab, N, 5);
    float *DZ = d_put(dz, nz, 0);
    am_gpu_backward(&g, DZ);
    char name[128];
    float *got = d_get(gz, nz, 0);
    snprintf(name, sizeof name, "model %s %s N%d S%d C%d train logits", arch, dtn(dt), N, S, Cin);
    check_spread(name, rel_scaled(got, ref.z, nz), sp.z, dt);
    free(got);
    float *gg = AM_MALLOC(4 * m.nparams), *gs = AM_MALLOC(4 * m.nstats);
    am_gpu_model_download(&g, NULL, gg, gs);
    snprintf(name, sizeof name, "  all gradients (%zu)", m.nparams);
    check_spread(name, cmp_norm(NULL, gg, ref.grads, m.nparams, 1.0).err, sp.grads, dt);
    // Every tensor against its own spread; the line names the one nearest its tolerance.
    double *e = AM_MALLOC(sizeof(double) * m.ntensors), worst = -1.0;
    int wi = 0;
    tensor_errs(e, &m, gg, ref.grads);
    for (int i = 0; i < m.ntensors; i++) {
        if (m.tensors[i].family != AM_PARAM) continue;
        double r = e[i] / spread_tol(sp.tensor[i], dt);
        if (!(r <= worst)) { worst = r; wi = i; }
    }
    snprintf(name, sizeof name, "  each tensor's gradient; nearest: %s", m.tensors[wi].name);
    check_spread(name, e[wi], sp.tensor[wi], dt);
    free(e);
    check_spread("  BN running statistics", cmp_norm(NULL, gs, ref.stats, m.nstats, 1.0).err, sp.stats, dt);
    // Eval forward, eager and from the CUDA graph.
    d_fill(g.acts.base, 0xFF, g.acts.bytes);
    d_copy(gx, x, 4 * nx);
    got = d_get(am_gpu_forward(&g, 0, 0, 0), nz, 0);
    snprintf(name, sizeof name, "model %s %s eval logits (fused kernels)", arch, dtn(dt));
    check_spread(name, rel_scaled(got, ref.ze, nz), sp.ze, dt);
    float *eager = got;
    g.fuse = 0;
    d_fill(g.acts.logits, 0xFF, 4 * nz);
    got = d_get(am_gpu_forward(&g, 0, 0, 0), nz, 0);
    check_spread("  eval logits, unfused (AM_FUSE=0)", rel_scaled(got, ref.ze, nz), sp.ze, dt);
    free(got);
    g.fuse = 1;
    d_fill(g.acts.logits, 0xFF, 4 * nz);
    got = d_get(am_gpu_forward_graph(&g), nz, 0);  // captures, then launches
    check("  CUDA graph first launch = eager eval", got, eager, nz, 0.0);
    free(got);
    d_fill(g.acts.logits, 0xFF, 4 * nz);
    got = d_get(am_gpu_forward_graph(&g), nz, 0);  // a replay
    check("  CUDA graph replay = eager eval", got, eager, nz, 0.0);
    free(got); free(eager);
    free(x); free(stats0); free(lab); free(probs); free(dz); free(gg); free(gs); free(sp.tensor);
    cpu_pass_free(&ref);
    cudaFree(DZ);
    am_gpu_model_free(&g);
    am_model_free(&m);
}

// The per-layer profile on the device: rows for every op of every block in
// both passes, times that add up, and the same logits as without it.
static void test_profile_gpu(void) {
    am_model m;
    AM_CHECK(am_model_init(&m, "b0", 3, 5, 11) == 0, "model init");
    am_gpu_model g;
    if (am_gpu_model_init(&g, &m, C.device, AM_F32)) am_fatalf(__FILE__, __LINE__, "%s", am_error());
    const int N = 2, S = 64;
    size_t nx = (size_t)N * S * S * 3;
    float *x = h_rand(nx, 0, 1, 0), *dz = h_rand((size_t)N * 5, -1, 1, 0);
    float *gx = am_gpu_input(&g, N, S);
    d_copy(gx, x, 4 * nx);
    float *ref = d_get(am_gpu_forward(&g, 1, 7, 1), (size_t)N * 5, 0);
    float *DZ = d_put(dz, (size_t)N * 5, 0);
    am_prof prof;
    am_prof_init(&prof, g.ctx.stream);
    g.prof = &prof;
    float *got = d_get(am_gpu_forward(&g, 1, 7, 1), (size_t)N * 5, 0);
    am_gpu_backward(&g, DZ);
    am_prof_collect(&prof);
    g.prof = NULL;
    check("profiled forward = unprofiled", got, ref, (size_t)N * 5, 1e-6);
    int dw[2] = {0, 0}, neg = 0;
    double ms = 0.0;
    for (int i = 0; i < prof.nrows; i++) {
        dw[prof.rows[i].pass] += !strcmp(prof.rows[i].op, "dw conv");
        neg += !(prof.rows[i].ms >= 0.0);
        ms += prof.rows[i].ms;
    }
    char detail[128];
    snprintf(detail, sizeof detail, "dw conv rows %d forward, %d backward (of %d); %d negative times; %g ms in all",
             dw[0], dw[1], m.arch.nblocks, neg, ms);
    check_pass("  profile: a row per op and block, times >= 0", dw[0] == m.arch.nblocks && dw[1] == m.arch.nblocks &&
               !neg && ms > 0.0, detail);
    am_prof_free(&prof);
    free(x); free(dz); free(ref); free(got);
    cudaFree(DZ);
    am_gpu_model_free(&g);
    am_model_free(&m);
}

// ---- check groups -----------------------------------------------------------

static void run_convert(void) { test_convert(100003); }

static void run_optim(void) { test_optim(50021); }

static void run_losses(void) {
    test_losses(7, 13, 2);
    test_losses(3, 5, 10);
}

static void run_dwconv(void) {
    for (int dt = 0; dt < 2; dt++) {
        test_dwconv(dt, 3, 13, 13, 37, 3, 1);
        test_dwconv(dt, 2, 14, 14, 40, 3, 2);
        test_dwconv(dt, 2, 11, 11, 33, 5, 2);
        test_dwconv(dt, 3, 9, 9, 70, 5, 1);
    }
}

static void run_bn(void) {
    for (int dt = 0; dt < 2; dt++) {
        for (int act = 0; act < 3; act++) {
            test_bn(dt, 3 * 7 * 7, 37, act, 1);
            test_bn(dt, 517, 70, act, 0);
        }
        test_bn(dt, 40000, 24, AM_ACT_SWISH, 1);
    }
}

static void run_se(void) {
    for (int dt = 0; dt < 2; dt++) {
        test_se(dt, 3, 49, 37, 5);
        test_se(dt, 2, 9, 96, 4);
    }
}

static void run_residual(void) {
    for (int dt = 0; dt < 2; dt++) test_residual_dropout(dt, 5, 7 * 7 * 19);
}

static void run_conv_fc(void) {
    for (int dt = 0; dt < 2; dt++) {
        test_conv_fc(dt, 3, 17, 3, 13, 3, 2);   // stem-like, odd input
        test_conv_fc(dt, 2, 16, 3, 32, 3, 2);   // stem-like, even input
        test_conv_fc(dt, 3, 7, 37, 19, 1, 1);   // pointwise
        test_conv_fc(dt, 2, 8, 64, 48, 1, 1);
    }
}

static void run_model(void) {
    test_model("lite0", 3, AM_F32, 4, 64);
    test_model("lite0", 3, AM_F32, 3, 57);
    test_model("lite0", 2, AM_F32, 3, 48);
    test_model("b0", 3, AM_F32, 3, 64);
    test_model("lite0", 3, AM_BF16, 16, 64);
    test_model("b0", 3, AM_BF16, 16, 64);
}

typedef struct {
    const char *name;
    int quick;   // a kernel group: run by --quick (under compute-sanitizer)
    void (*run)(void);
    const char *what;
} group;

static const group groups[] = {
    {"convert", 1, run_convert, "fp32 <-> bf16 conversions"},
    {"optim", 1, run_optim, "SGD, AdamW and EMA updates"},
    {"losses", 1, run_losses, "softmax cross-entropy and every consistency loss"},
    {"augment", 1, test_augment_gpu, "the batched augmentation, byte for byte (test_augment_gpu.c)"},
    {"dwconv", 1, run_dwconv, "our depthwise convolution kernels"},
    {"bn", 1, run_bn, "batch norm with activation, train and eval"},
    {"se", 1, run_se, "squeeze-excite and global average pooling"},
    {"residual", 1, run_residual, "drop-connect residual add and dropout"},
    {"conv_fc", 1, run_conv_fc, "cuDNN dense convolutions and the cuBLAS FC"},
    {"fused", 1, test_fused_gpu, "the eval-forward fusions (test_fused_gpu.c)"},
    {"model", 0, run_model, "Lite0 and B0 against the CPU model, fp32 and bf16"},
    {"profile", 0, test_profile_gpu, "the per-layer profile of both passes"},
    {"train", 0, test_train_gpu, "the GPU trainer against the CPU trainer (test_train_gpu.c)"},
    {"dwconv_select", 0, test_dwconv_gpu, "cuDNN's grouped depthwise and the selector (test_dwconv_gpu.c)"},
    {"graph", 0, test_graph_gpu, "graph capture fallbacks, AM_GRAPH switches, the 2^31 limit (test_graph_gpu.c)"},
    {"infer", 0, test_infer_gpu, "am_infer on the device against the CPU, and resumed (test_infer_gpu.c)"},
};
enum { NGROUPS = sizeof groups / sizeof groups[0] };

static const group *find_group(const char *name) {
    for (int i = 0; i < NGROUPS; i++)
        if (!strcmp(groups[i].name, name)) return &groups[i];
    return NULL;
}

// Runs a group in this process with a CUDA context of its own: 0, or -1 when
// no context could be made (am_error() says why).
static int run_group(const group *g) {
    if (am_gpu_ctx_init(&C, 0)) return -1;
    struct cudaDeviceProp prop;
    AM_CUDA(cudaGetDeviceProperties(&prop, 0));
    printf("== %s: %s; %s (sm_%d%d, %d SMs)\n", g->name, g->what, prop.name, prop.major, prop.minor,
           prop.multiProcessorCount);
    g->run();
    am_gpu_ctx_free(&C);
    return 0;
}

// ---- one child process per group ----------------------------------------------

// What a child reports through its pipe when it ends, by exit() (am_fatal
// included) or by a fatal signal: its tally and how far it got.
enum { GROUP_STARTED, GROUP_NO_GPU, GROUP_DONE };
typedef struct {
    int checks, fail, skip, state;
} result;

static int result_fd = -1, child_state = GROUP_STARTED;

static void report(void) {
    if (result_fd < 0) return;
    result r = {g_checks, g_fail, g_skip, child_state};
    if (write(result_fd, &r, sizeof r) != (ssize_t)sizeof r) return;   // the parent then counts the group crashed
    result_fd = -1;
}

// Async-signal-safe: write(2) the tally, then die of the same signal (SA_RESETHAND).
static void on_fatal_signal(int sig) {
    report();
    raise(sig);
}

_Noreturn static void child(const group *g, int fd) {
    result_fd = fd;
    setvbuf(stdout, NULL, _IOLBF, 0);   // a crash loses no finished line
    atexit(report);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    if (run_group(g)) {
        printf("test_gpu: %s: no CUDA context: %s\n", g->name, am_error());
        child_state = GROUP_NO_GPU;
    } else {
        child_state = GROUP_DONE;
    }
    exit(0);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Waits for the child, killing it once limit seconds (0: none) have passed.
static int wait_child(pid_t pid, double limit, int *timed_out) {
    double t0 = now_s();
    const struct timespec tick = {0, 50 * 1000 * 1000};
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, limit > 0 ? WNOHANG : 0);
        if (w == pid) return status;
        if (w < 0 && errno != EINTR) am_fatalf(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
        if (limit > 0 && !*timed_out && now_s() - t0 > limit) {
            kill(pid, SIGKILL);
            *timed_out = 1;
        }
        if (limit > 0) nanosleep(&tick, NULL);
    }
}

typedef struct {
    int checks, fail, skip, crashed, not_run;
} totals;

// Runs a group in a child and adds its outcome to t: 0, or -1 when the child
// found no GPU (the later groups would not find one either).
static int fork_group(const group *g, double limit, totals *t) {
    int fds[2];
    if (pipe(fds)) am_fatalf(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) am_fatalf(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        child(g, fds[1]);
    }
    close(fds[1]);
    int timed_out = 0;
    int status = wait_child(pid, limit, &timed_out);
    result r = {0, 0, 0, GROUP_STARTED};
    ssize_t n;
    do n = read(fds[0], &r, sizeof r); while (n < 0 && errno == EINTR);
    close(fds[0]);
    int tallied = n == (ssize_t)sizeof r;
    if (tallied && r.state == GROUP_NO_GPU && WIFEXITED(status) && !WEXITSTATUS(status)) return -1;
    t->checks += r.checks;
    t->fail += r.fail;
    t->skip += r.skip;
    char why[160];
    if (timed_out)
        snprintf(why, sizeof why, "killed after the %g s limit (--timeout)", limit);
    else if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) || !tallied || r.state != GROUP_DONE)
        snprintf(why, sizeof why, "stopped by a fatal error: exit status %d (its message is above)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else
        why[0] = 0;
    if (why[0]) {
        t->crashed++;
        printf("FAIL group %s: %s, after %d checks (%d failed)%s\n", g->name, why, r.checks, r.fail,
               tallied ? "" : "; its checks are not counted");
    } else {
        printf("-- %s: %d checks, %d failed, %d skipped, %.1f s\n", g->name, r.checks, r.fail, r.skip, now_s() - t0);
    }
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: test_gpu [--quick] [--timeout SECONDS] | --group NAME... | --list\n");
    return 2;
}

int main(int argc, char **argv) {
    int quick = 0, list = 0, nsel = 0;
    double limit = 0.0;
    const group *sel[NGROUPS];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--list")) {
            list = 1;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            char *end;
            limit = strtod(argv[++i], &end);
            if (*end || !(limit >= 0)) return usage();
        } else if (!strcmp(argv[i], "--group") && i + 1 < argc) {
            const group *g = find_group(argv[++i]);
            if (!g) {
                fprintf(stderr, "test_gpu: no group '%s' (test_gpu --list names them)\n", argv[i]);
                return 2;
            }
            if (nsel == NGROUPS) return usage();
            sel[nsel++] = g;
        } else {
            return usage();
        }
    }
    if (list) {
        for (int i = 0; i < NGROUPS; i++)
            printf("%-14s %-6s %s\n", groups[i].name, groups[i].quick ? "quick" : "", groups[i].what);
        return 0;
    }
    if (nsel) {
        if (quick || limit > 0) return usage();
        for (int i = 0; i < nsel; i++)
            if (run_group(sel[i])) {
                fprintf(stderr, "test_gpu: %s\n", am_error());
                return 1;
            }
        printf("test_gpu: %d checks, %d failed, %d skipped\n", g_checks, g_fail, g_skip);
        return g_fail ? 1 : 0;
    }
    totals t = {0, 0, 0, 0, 0};
    for (int i = 0; i < NGROUPS; i++) {
        if (quick && !groups[i].quick) continue;
        if (fork_group(&groups[i], limit, &t)) {
            for (int j = i; j < NGROUPS; j++) t.not_run += !quick || groups[j].quick;
            break;
        }
    }
    printf("test_gpu: %d checks, %d failed, %d skipped, %d groups crashed", t.checks, t.fail, t.skip, t.crashed);
    if (t.not_run) printf(", %d not run (no CUDA context)", t.not_run);
    printf("%s\n", quick ? " (quick)" : "");
    return t.fail || t.crashed || t.not_run ? 1 : 0;
}
