// The emulated cuBLAS (include/cublas_v2.h): handles with a stream, a math
// mode and a user workspace, cublasSgemm and cublasGemmStridedBatchedEx on
// float and bfloat16 matrices, column-major, computed in float (products and
// sums in fp32, as the pedantic and default math modes do; TF32 operands
// where a mode or compute type allows them). Each call checks its arguments
// as cuBLAS documents and returns the documented status at once, reporting
// the misuse (emu_report); the GEMM itself is queued on the handle's stream
// (emu_enqueue) with alpha and beta read at the call (host pointer mode).
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_v2.h"
#include "emu.h"

struct cublasContext {
    struct cublasContext *next;  // the list of live handles
    cudaStream_t stream;
    int math;
    void *ws;                    // user workspace (cublasSetWorkspace), NULL: the default pool
    size_t wsbytes;
};

static struct cublasContext *live;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

// Reports "call: reason (status)" and returns st.
static cublasStatus_t refuse(cublasStatus_t st, const char *call, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cublasStatus_t refuse(cublasStatus_t st, const char *call, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    emu_report("%s: %s (%s)", call, why, cublasGetStatusString(st));
    return st;
}

const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS: success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED: the handle is not initialised";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED: an allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE: an argument is out of range";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH: the device lacks a needed feature";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR: a GPU memory access failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED: the GPU program failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR: an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED: the configuration is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR: a license check failed";
    }
    return "unknown cuBLAS status";
}

// ---- handles ---------------------------------------------------------------------

static int alive(const struct cublasContext *h) {
    int found = 0;
    pthread_mutex_lock(&mu);
    for (struct cublasContext *o = live; o && !found; o = o->next) found = o == h;
    pthread_mutex_unlock(&mu);
    return found;
}

// A call on a handle that cublasCreate did not make, or that was destroyed:
// CUBLAS_STATUS_NOT_INITIALIZED.
static int bad_handle(const char *call, cublasHandle_t h) {
    if (alive(h)) return 0;
    refuse(CUBLAS_STATUS_NOT_INITIALIZED, call, "handle %p is not a live cublasHandle_t", (void *)h);
    return 1;
}

// Every handle is on device 0, with the legacy default stream, the default
// math mode and the default workspace pool.
cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
    if (!handle) return refuse(CUBLAS_STATUS_INVALID_VALUE, "cublasCreate", "handle is NULL");
    struct cublasContext *h = calloc(1, sizeof *h);
    if (!h) return CUBLAS_STATUS_ALLOC_FAILED;
    pthread_mutex_lock(&mu);
    h->next = live;
    live = h;
    pthread_mutex_unlock(&mu);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    int found = 0;
    pthread_mutex_lock(&mu);
    for (struct cublasContext **o = &live; *o; o = &(*o)->next)
        if (*o == handle) {
            *o = handle->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&mu);
    if (!found)
        return refuse(CUBLAS_STATUS_NOT_INITIALIZED, "cublasDestroy", "%p is not a live handle", (void *)handle);
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

// Documented: setting the stream also resets the workspace to the default pool.
cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId) {
    if (bad_handle("cublasSetStream", handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = streamId;
    handle->ws = NULL;
    handle->wsbytes = 0;
    return CUBLAS_STATUS_SUCCESS;
}

// Documented: the workspace must be aligned to 256 bytes
// (CUBLAS_STATUS_INVALID_VALUE). Emulator: and device memory of that size.
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes) {
    const char *call = "cublasSetWorkspace";
    if (bad_handle(call, handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((uintptr_t)workspace % 256)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call, "workspace %p is not aligned to 256 bytes", workspace);
    if (workspaceSizeInBytes && !emu_is_device(workspace, workspaceSizeInBytes))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call, "workspace %p of %zu bytes is not device memory", workspace,
                      workspaceSizeInBytes);
    handle->ws = workspaceSizeInBytes ? workspace : NULL;
    handle->wsbytes = workspaceSizeInBytes;
    return CUBLAS_STATUS_SUCCESS;
}

// A math mode of cublasMath_t, optionally with the no-reduced-precision-
// reduction flag; the deprecated CUBLAS_TENSOR_OP_MATH (fp16 down-conversion)
// and the emulated-arithmetic modes are not emulated.
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    const char *call = "cublasSetMathMode";
    if (bad_handle(call, handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    int base = mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_PEDANTIC_MATH && base != CUBLAS_TF32_TENSOR_OP_MATH)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call, "math mode %d is not emulated", (int)mode);
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

// ---- element types ---------------------------------------------------------------

static size_t esize(int t) { return t == CUDA_R_32F ? 4 : 2; }

static float load(const void *p, int t, long long i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// bfloat16: round to nearest even; NaN stays NaN.
static void store(void *p, int t, long long i, float f) {
    if (t == CUDA_R_32F) {
        ((float *)p)[i] = f;
        return;
    }
    uint32_t u;
    memcpy(&u, &f, 4);
    ((uint16_t *)p)[i] = (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40)
                                                          : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

// A TF32 tensor-core operand: 10 mantissa bits, round to nearest even.
static float to_tf32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return f;
    u = (u + 0xfffu + ((u >> 13) & 1)) & ~0x1fffu;
    memcpy(&f, &u, 4);
    return f;
}

// ---- GEMM ------------------------------------------------------------------------

// One (strided batched) GEMM, copied at the call: C_b = alpha op(A_b) op(B_b)
// + beta C_b for b < batch, column-major, op(A) m x k, op(B) k x n.
typedef struct {
    const char *call;
    int ta, tb, m, n, k, batch;
    int at, bt, ct, tf32;
    float alpha, beta;
    const void *A, *B;
    void *C;
    int lda, ldb, ldc;
    long long sa, sb, sc;
    void *ws;
    size_t wsbytes;
} gemm_job;

// Bytes of a rows x cols column-major matrix with leading dimension ld.
static size_t matrix_bytes(int rows, int cols, int ld, int t) {
    return rows && cols ? ((size_t)(cols - 1) * ld + rows) * esize(t) : 0;
}

static const void *nth(const void *p, long long stride, int b, int t) {
    return (const void *)((uintptr_t)p + (uintptr_t)(stride * b * (long long)esize(t)));
}

// op(M) of batch b as a dense r x c row-major float array: d[i * c + l] =
// op(M)[i, l], TF32-rounded when tf32.
static float *dense(const void *p, int t, int trans, int r, int c, int ld, int tf32) {
    float *d = malloc(sizeof(float) * ((size_t)r * c + 1));
    if (!d) return NULL;
    for (int i = 0; i < r; i++)
        for (int l = 0; l < c; l++) {
            float f = load(p, t, trans ? i * (long long)ld + l : l * (long long)ld + i);
            d[(size_t)i * c + l] = tf32 ? to_tf32(f) : f;
        }
    return d;
}

// C = alpha * sum_l op(A)[i,l] op(B)[l,j] + beta * C (C not read when beta
// is 0), the sum in float.
static void gemm_one(const gemm_job *g, const void *A, const void *B, void *C) {
    float *a = dense(A, g->at, g->ta != CUBLAS_OP_N, g->m, g->k, g->lda, g->tf32);
    float *b = dense(B, g->bt, g->tb == CUBLAS_OP_N, g->n, g->k, g->ldb, g->tf32);
    if (!a || !b) emu_report("%s: out of host memory", g->call);
    for (int j = 0; a && b && j < g->n; j++)
        for (int i = 0; i < g->m; i++) {
            const float *ai = a + (size_t)i * g->k, *bj = b + (size_t)j * g->k;
            float acc = 0.0f;
            for (int l = 0; l < g->k; l++) acc += ai[l] * bj[l];
            long long o = i + j * (long long)g->ldc;
            float r = g->alpha * acc;
            store(C, g->ct, o, g->beta != 0.0f ? r + g->beta * load(C, g->ct, o) : r);
        }
    free(a);
    free(b);
}

static void run_gemm(void *arg) {
    const gemm_job *g = arg;
    if (g->ws && !emu_is_device(g->ws, g->wsbytes)) {
        emu_report("%s: the handle's workspace %p is no longer device memory when the work runs", g->call, g->ws);
        return;
    }
    int ar = g->ta == CUBLAS_OP_N ? g->m : g->k, ac = g->ta == CUBLAS_OP_N ? g->k : g->m;
    int br = g->tb == CUBLAS_OP_N ? g->k : g->n, bc = g->tb == CUBLAS_OP_N ? g->n : g->k;
    emu_charge((double)g->m * g->n * g->batch);
    for (int b = 0; b < g->batch; b++) {
        const void *A = nth(g->A, g->sa, b, g->at), *B = nth(g->B, g->sb, b, g->bt);
        void *C = (void *)(uintptr_t)nth(g->C, g->sc, b, g->ct);
        if ((g->k && (!emu_is_device(A, matrix_bytes(ar, ac, g->lda, g->at)) ||
                      !emu_is_device(B, matrix_bytes(br, bc, g->ldb, g->bt)))) ||
            !emu_is_device(C, matrix_bytes(g->m, g->n, g->ldc, g->ct))) {
            emu_report("%s: batch %d's A, B or C is no longer device memory when the work runs", g->call, b);
            return;
        }
        gemm_one(g, A, B, C);
    }
}

static int bad_op(int t) { return t != CUBLAS_OP_N && t != CUBLAS_OP_T && t != CUBLAS_OP_C; }

// The documented checks of every GEMM (CUBLAS_STATUS_INVALID_VALUE): m, n,
// k, batchCount >= 0, transa and transb N, T or C (C is T for real
// matrices), lda >= max(1, rows of A as stored: m for N, k otherwise),
// ldb >= max(1, k for N, n otherwise), ldc >= max(1, m), alpha and beta
// not NULL.
static cublasStatus_t check_shape(const gemm_job *g, const void *alpha, const void *beta) {
    int ar = g->ta == CUBLAS_OP_N ? g->m : g->k, br = g->tb == CUBLAS_OP_N ? g->k : g->n;
    if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call, "m %d, n %d, k %d, batchCount %d", g->m, g->n, g->k,
                      g->batch);
    if (bad_op(g->ta) || bad_op(g->tb))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call, "transa %d, transb %d", g->ta, g->tb);
    if (g->lda < (ar > 1 ? ar : 1) || g->ldb < (br > 1 ? br : 1) || g->ldc < (g->m > 1 ? g->m : 1))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call,
                      "lda %d (needs >= %d), ldb %d (needs >= %d), ldc %d (needs >= %d)", g->lda, ar > 1 ? ar : 1,
                      g->ldb, br > 1 ? br : 1, g->ldc, g->m > 1 ? g->m : 1);
    if (!alpha || !beta) return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call, "alpha %p, beta %p", alpha, beta);
    return CUBLAS_STATUS_SUCCESS;
}

static int ranges_meet(const void *p, size_t pn, const void *q, size_t qn) {
    return pn && qn && (uintptr_t)p < (uintptr_t)q + qn && (uintptr_t)q < (uintptr_t)p + pn;
}

// Emulator (a GPU would fault or race; CUBLAS_STATUS_INVALID_VALUE): every
// matrix of every batch in device memory and aligned to its elements, C
// not overlapping A or B of its batch nor another batch's C.
static cublasStatus_t check_pointers(const gemm_job *g) {
    int ar = g->ta == CUBLAS_OP_N ? g->m : g->k, ac = g->ta == CUBLAS_OP_N ? g->k : g->m;
    int br = g->tb == CUBLAS_OP_N ? g->k : g->n, bc = g->tb == CUBLAS_OP_N ? g->n : g->k;
    size_t an = g->k ? matrix_bytes(ar, ac, g->lda, g->at) : 0, bn = g->k ? matrix_bytes(br, bc, g->ldb, g->bt) : 0;
    size_t cn = matrix_bytes(g->m, g->n, g->ldc, g->ct);
    if ((uintptr_t)g->A % esize(g->at) || (uintptr_t)g->B % esize(g->bt) || (uintptr_t)g->C % esize(g->ct))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call, "A %p, B %p or C %p is not aligned to its elements", g->A,
                      g->B, (void *)g->C);
    if (g->batch > 1 && cn && (g->sc < 0 ? -g->sc : g->sc) * (long long)esize(g->ct) < (long long)cn)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call, "strideC %lld makes the batches' C overlap", g->sc);
    for (int b = 0; b < g->batch; b++) {
        const void *A = nth(g->A, g->sa, b, g->at), *B = nth(g->B, g->sb, b, g->bt), *C = nth(g->C, g->sc, b, g->ct);
        if ((an && !emu_is_device(A, an)) || (bn && !emu_is_device(B, bn)) || !emu_is_device(C, cn))
            return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call,
                          "batch %d: A %p (%zu bytes), B %p (%zu bytes) or C %p (%zu bytes) is not device memory", b,
                          A, an, B, bn, C, cn);
        if (ranges_meet(C, cn, A, an) || ranges_meet(C, cn, B, bn))
            return refuse(CUBLAS_STATUS_INVALID_VALUE, g->call, "batch %d: C overlaps A or B", b);
    }
    return CUBLAS_STATUS_SUCCESS;
}

// The checks every GEMM makes, then the work queued on the handle's stream.
static cublasStatus_t gemm(cublasHandle_t h, gemm_job *g, const float *alpha, const float *beta) {
    if (bad_handle(g->call, h)) return CUBLAS_STATUS_NOT_INITIALIZED;
    cublasStatus_t st = check_shape(g, alpha, beta);
    if (st) return st;
    if (h->ws && !emu_is_device(h->ws, h->wsbytes))
        return refuse(CUBLAS_STATUS_EXECUTION_FAILED, g->call, "the handle's workspace %p was freed", h->ws);
    if (g->m == 0 || g->n == 0 || g->batch == 0) return CUBLAS_STATUS_SUCCESS;
    if ((st = check_pointers(g))) return st;
    g->alpha = *alpha;
    g->beta = *beta;
    g->ws = h->ws;
    g->wsbytes = h->wsbytes;
    return emu_enqueue(h->stream, g->call, run_gemm, g, sizeof *g) ? CUBLAS_STATUS_EXECUTION_FAILED
                                                                   : CUBLAS_STATUS_SUCCESS;
}

// C = alpha op(A) op(B) + beta C in float; TF32 operands under
// CUBLAS_TF32_TENSOR_OP_MATH, plain fp32 under the default and pedantic modes.
cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                              const float *beta, float *C, int ldc) {
    gemm_job g = {"cublasSgemm", transa, transb, m, n, k, 1, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, 0, 0.0f, 0.0f,
                  A, B, C, lda, ldb, ldc, 0, 0, 0, NULL, 0};
    if (alive(handle)) g.tf32 = (handle->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH;
    return gemm(handle, &g, alpha, beta);
}

// Documented type combinations (scale type float): CUBLAS_COMPUTE_32F and
// _PEDANTIC take A = B = 32F with C 32F, or A = B = 16BF with C 16BF or
// 32F (16F likewise, not emulated); CUBLAS_COMPUTE_32F_FAST_TF32 takes
// 32F only. Anything else: CUBLAS_STATUS_NOT_SUPPORTED.
static cublasStatus_t check_types(const char *call, int at, int bt, int ct, int compute) {
    int fast = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC && !fast)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, call, "compute type %d is not emulated", compute);
    int ok = at == bt && (at == CUDA_R_32F ? ct == CUDA_R_32F
                                           : !fast && at == CUDA_R_16BF && (ct == CUDA_R_16BF || ct == CUDA_R_32F));
    if (!ok)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, call, "A type %d, B type %d, C type %d with compute type %d", at, bt,
                      ct, compute);
    return CUBLAS_STATUS_SUCCESS;
}

// C_b = alpha op(A_b) op(B_b) + beta C_b, b < batchCount, M_b = M + b *
// strideM. TF32 operands for 32F data with CUBLAS_COMPUTE_32F_FAST_TF32, or
// CUBLAS_COMPUTE_32F under CUBLAS_TF32_TENSOR_OP_MATH. algo: a value of
// cublasGemmAlgo_t (-1..23, 99..115; all act as the default), else
// CUBLAS_STATUS_INVALID_VALUE.
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb,
                                          long long int strideB, const void *beta, void *C, cudaDataType Ctype,
                                          int ldc, long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    const char *call = "cublasGemmStridedBatchedEx";
    if (bad_handle(call, handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!((algo >= -1 && algo <= 23) || (algo >= 99 && algo <= 115)))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call, "algo %d is not a cublasGemmAlgo_t", (int)algo);
    cublasStatus_t st = check_types(call, Atype, Btype, Ctype, computeType);
    if (st) return st;
    int tf32 = Atype == CUDA_R_32F && (computeType == CUBLAS_COMPUTE_32F_FAST_TF32 ||
                                       (computeType == CUBLAS_COMPUTE_32F &&
                                        (handle->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH));
    gemm_job g = {call, transa, transb, m, n, k, batchCount, Atype, Btype, Ctype, tf32, 0.0f, 0.0f,
                  A, B, C, lda, ldb, ldc, strideA, strideB, strideC, NULL, 0};
    return gemm(handle, &g, alpha, beta);
}
