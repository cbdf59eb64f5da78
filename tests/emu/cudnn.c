// The emulated cuDNN (include/cudnn.h): handles, 4-D tensor, filter and
// convolution descriptors, the algorithm queries, the three convolutions
// and cudnnTransformTensor, for float and bfloat16 data computed in float
// (sums in double). Each call checks its arguments as cuDNN documents and
// returns the documented status at once, reporting the misuse
// (emu_report); the work itself is queued on the handle's stream
// (emu_enqueue) with a copy of everything it needs, so that descriptors may
// be destroyed before it runs. Handles and descriptors are tracked while
// alive: a destroyed or never-created one is refused, not read.
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cudnn.h"
#include "emu.h"

enum { K_HANDLE = 1, K_TENSOR, K_FILTER, K_CONV };
enum { OP_FWD, OP_BWD_DATA, OP_BWD_FILTER };

typedef struct obj {
    struct obj *next;
    int kind;
} obj;

// A 4-D tensor (n, c, h, w) with element strides. A filter is kept in the
// same form: n = K output channels, c = input channels per group.
typedef struct {
    int dt;
    int d[4];
    long long s[4];
} view;

struct cudnnContext {
    obj o;
    cudaStream_t stream;
};
struct cudnnTensorStruct {
    obj o;
    int set;
    view v;
};
struct cudnnFilterStruct {
    obj o;
    int set;
    view v;
};
struct cudnnConvolutionStruct {
    obj o;
    int set;
    int pad[2], str[2], dil[2];
    int mode, ctype, groups, math;
};

static obj *live;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

// ---- objects, reports, element types -------------------------------------------

static void *make(size_t bytes, int kind) {
    obj *o = calloc(1, bytes);
    if (!o) return NULL;
    o->kind = kind;
    pthread_mutex_lock(&mu);
    o->next = live;
    live = o;
    pthread_mutex_unlock(&mu);
    return o;
}

// 1 when p is a live object of this kind.
static int alive(const void *p, int kind) {
    int found = 0;
    pthread_mutex_lock(&mu);
    for (obj *o = live; o && !found; o = o->next) found = o == p && o->kind == kind;
    pthread_mutex_unlock(&mu);
    return found;
}

// Unlinks and frees p; 0 when it was not a live object of this kind.
static int drop(void *p, int kind) {
    int found = 0;
    pthread_mutex_lock(&mu);
    for (obj **o = &live; *o; o = &(*o)->next)
        if (*o == p && (*o)->kind == kind) {
            *o = (*o)->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&mu);
    if (found) free(p);
    return found;
}

// Reports "call: reason (status)" and returns st.
static cudnnStatus_t refuse(cudnnStatus_t st, const char *call, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cudnnStatus_t refuse(cudnnStatus_t st, const char *call, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    emu_report("%s: %s (%s)", call, why, cudnnGetErrorString(st));
    return st;
}

static int valid_type(int dt) {
    return dt == CUDNN_DATA_FLOAT || dt == CUDNN_DATA_DOUBLE || dt == CUDNN_DATA_HALF || dt == CUDNN_DATA_BFLOAT16;
}

static int emulated_type(int dt) { return dt == CUDNN_DATA_FLOAT || dt == CUDNN_DATA_BFLOAT16; }

static size_t esize(int dt) { return dt == CUDNN_DATA_DOUBLE ? 8 : dt == CUDNN_DATA_FLOAT ? 4 : 2; }

static const char *type_name(int dt) {
    return dt == CUDNN_DATA_FLOAT ? "float" : dt == CUDNN_DATA_BFLOAT16 ? "bfloat16" : dt == CUDNN_DATA_HALF ? "half"
                                                                                                           : "double";
}

static float bf16_to_f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Round to nearest even; NaN stays NaN.
static uint16_t f_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
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

static float load(const void *p, int dt, long long i) {
    return dt == CUDNN_DATA_FLOAT ? ((const float *)p)[i] : bf16_to_f(((const uint16_t *)p)[i]);
}

static void store(void *p, int dt, long long i, float v) {
    if (dt == CUDNN_DATA_FLOAT) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = f_to_bf16(v);
}

// The lowest offset a view touches and one past the highest (elements).
static void extent(const view *v, long long *lo, long long *hi) {
    *lo = 0;
    *hi = 1;
    for (int i = 0; i < 4; i++) {
        long long e = (long long)(v->d[i] - 1) * v->s[i];
        if (e < 0) *lo += e;
        else *hi += e;
    }
}

// 1 when every element of v at p lies in one device allocation.
static int on_device(const void *p, const view *v) {
    long long lo, hi;
    extent(v, &lo, &hi);
    size_t es = esize(v->dt);
    return emu_is_device((const void *)((uintptr_t)p + (uintptr_t)(lo * (long long)es)), (size_t)(hi - lo) * es);
}

// 1 when the byte ranges of views a at p and b at q intersect.
static int overlap(const void *p, const view *a, const void *q, const view *b) {
    long long alo, ahi, blo, bhi;
    extent(a, &alo, &ahi);
    extent(b, &blo, &bhi);
    intptr_t a0 = (intptr_t)p + (intptr_t)(alo * (long long)esize(a->dt));
    intptr_t a1 = (intptr_t)p + (intptr_t)(ahi * (long long)esize(a->dt));
    intptr_t b0 = (intptr_t)q + (intptr_t)(blo * (long long)esize(b->dt));
    intptr_t b1 = (intptr_t)q + (intptr_t)(bhi * (long long)esize(b->dt));
    return a0 < b1 && b0 < a1;
}

static int misaligned(const void *p, size_t a) { return (uintptr_t)p % a != 0; }

// ---- handles and descriptors ------------------------------------------------------

const char *cudnnGetErrorString(cudnnStatus_t status) {
    switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    }
    return "CUDNN_UNKNOWN_STATUS";
}

// Every handle is on device 0; its work goes to the legacy default stream
// until cudnnSetStream.
cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) {
    if (!handle) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnCreate", "handle is NULL");
    *handle = make(sizeof **handle, K_HANDLE);
    return *handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_INTERNAL_ERROR;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
    if (!drop(handle, K_HANDLE))
        return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnDestroy", "%p is not a live handle", (void *)handle);
    return CUDNN_STATUS_SUCCESS;
}

static int bad_handle(const char *call, cudnnHandle_t h) {
    if (alive(h, K_HANDLE)) return 0;
    refuse(CUDNN_STATUS_BAD_PARAM, call, "handle %p is not a live cudnnHandle_t", (void *)h);
    return 1;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
    if (bad_handle("cudnnSetStream", handle)) return CUDNN_STATUS_BAD_PARAM;
    handle->stream = streamId;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *tensorDesc) {
    if (!tensorDesc) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnCreateTensorDescriptor", "tensorDesc is NULL");
    *tensorDesc = make(sizeof **tensorDesc, K_TENSOR);
    return *tensorDesc ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_INTERNAL_ERROR;
}

// Destroying NULL does nothing; anything else must be live.
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc) {
    if (tensorDesc && !drop(tensorDesc, K_TENSOR))
        return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyTensorDescriptor", "%p is not a live tensor descriptor",
                      (void *)tensorDesc);
    return CUDNN_STATUS_SUCCESS;
}

// The documented checks of a 4-D (tensor or filter) descriptor's values:
// dimensions positive and a known data type (CUDNN_STATUS_BAD_PARAM), at
// most 2^31 - 1 elements (CUDNN_STATUS_NOT_SUPPORTED).
static cudnnStatus_t check_dims(const char *call, int dt, const int d[4]) {
    if (!valid_type(dt)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "data type %d is not a cudnnDataType_t", dt);
    long long n = 1;
    for (int i = 0; i < 4; i++) {
        if (d[i] <= 0)
            return refuse(CUDNN_STATUS_BAD_PARAM, call, "dimensions (%d,%d,%d,%d) must be positive", d[0], d[1],
                          d[2], d[3]);
        n *= d[i];
    }
    if (n > 0x7fffffffLL) return refuse(CUDNN_STATUS_NOT_SUPPORTED, call, "%lld elements exceed 2^31 - 1", n);
    return CUDNN_STATUS_SUCCESS;
}

// Packed strides of dims (n, c, h, w) laid out NCHW or NHWC.
static void packed(view *v, int format) {
    long long c = v->d[1], h = v->d[2], w = v->d[3];
    if (format == CUDNN_TENSOR_NCHW) {
        v->s[0] = c * h * w; v->s[1] = h * w; v->s[2] = w; v->s[3] = 1;
    } else {
        v->s[0] = h * w * c; v->s[1] = 1; v->s[2] = w * c; v->s[3] = c;
    }
}

static int bad_format(int format) { return format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC; }

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format,
                                         cudnnDataType_t dataType, int n, int c, int h, int w) {
    const char *call = "cudnnSetTensor4dDescriptor";
    if (!alive(tensorDesc, K_TENSOR)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live tensor descriptor");
    if (bad_format(format)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "format %d is not NCHW or NHWC", (int)format);
    view v = {dataType, {n, c, h, w}, {0, 0, 0, 0}};
    cudnnStatus_t st = check_dims(call, dataType, v.d);
    if (st) return st;
    packed(&v, format);
    tensorDesc->v = v;
    tensorDesc->set = 1;
    return CUDNN_STATUS_SUCCESS;
}

// Any strides are accepted here; the calls that cannot use negative ones
// say so (CUDNN_STATUS_NOT_SUPPORTED).
cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t tensorDesc, cudnnDataType_t dataType, int n,
                                           int c, int h, int w, int nStride, int cStride, int hStride, int wStride) {
    const char *call = "cudnnSetTensor4dDescriptorEx";
    if (!alive(tensorDesc, K_TENSOR)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live tensor descriptor");
    view v = {dataType, {n, c, h, w}, {nStride, cStride, hStride, wStride}};
    cudnnStatus_t st = check_dims(call, dataType, v.d);
    if (st) return st;
    tensorDesc->v = v;
    tensorDesc->set = 1;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *filterDesc) {
    if (!filterDesc) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnCreateFilterDescriptor", "filterDesc is NULL");
    *filterDesc = make(sizeof **filterDesc, K_FILTER);
    return *filterDesc ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_INTERNAL_ERROR;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc) {
    if (filterDesc && !drop(filterDesc, K_FILTER))
        return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyFilterDescriptor", "%p is not a live filter descriptor",
                      (void *)filterDesc);
    return CUDNN_STATUS_SUCCESS;
}

// Filter (K, C, h, w): NCHW is stored (K, C, h, w), NHWC (K, h, w, C).
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
    const char *call = "cudnnSetFilter4dDescriptor";
    if (!alive(filterDesc, K_FILTER)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live filter descriptor");
    if (bad_format(format)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "format %d is not NCHW or NHWC", (int)format);
    view v = {dataType, {k, c, h, w}, {0, 0, 0, 0}};
    cudnnStatus_t st = check_dims(call, dataType, v.d);
    if (st) return st;
    packed(&v, format);
    filterDesc->v = v;
    filterDesc->set = 1;
    return CUDNN_STATUS_SUCCESS;
}

// A new convolution descriptor: one group, CUDNN_DEFAULT_MATH, not set.
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *convDesc) {
    if (!convDesc) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnCreateConvolutionDescriptor", "convDesc is NULL");
    *convDesc = make(sizeof **convDesc, K_CONV);
    if (!*convDesc) return CUDNN_STATUS_INTERNAL_ERROR;
    (*convDesc)->groups = 1;
    (*convDesc)->math = CUDNN_DEFAULT_MATH;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc) {
    if (convDesc && !drop(convDesc, K_CONV))
        return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnDestroyConvolutionDescriptor",
                      "%p is not a live convolution descriptor", (void *)convDesc);
    return CUDNN_STATUS_SUCCESS;
}

// Documented: padding >= 0, strides and dilations > 0, a known mode and
// compute type, else CUDNN_STATUS_BAD_PARAM.
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u,
                                              int v, int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
    const char *call = "cudnnSetConvolution2dDescriptor";
    if (!alive(convDesc, K_CONV)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live convolution descriptor");
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "pad (%d,%d) stride (%d,%d) dilation (%d,%d)", pad_h, pad_w, u, v,
                      dilation_h, dilation_w);
    if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "mode %d", (int)mode);
    if (!valid_type(computeType)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "compute type %d", (int)computeType);
    convDesc->pad[0] = pad_h; convDesc->pad[1] = pad_w;
    convDesc->str[0] = u; convDesc->str[1] = v;
    convDesc->dil[0] = dilation_h; convDesc->dil[1] = dilation_w;
    convDesc->mode = mode;
    convDesc->ctype = computeType;
    convDesc->set = 1;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t convDesc, int groupCount) {
    const char *call = "cudnnSetConvolutionGroupCount";
    if (!alive(convDesc, K_CONV)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live convolution descriptor");
    if (groupCount < 1) return refuse(CUDNN_STATUS_BAD_PARAM, call, "groupCount %d < 1", groupCount);
    convDesc->groups = groupCount;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType) {
    const char *call = "cudnnSetConvolutionMathType";
    if (!alive(convDesc, K_CONV)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live convolution descriptor");
    if (mathType < CUDNN_DEFAULT_MATH || mathType > CUDNN_FMA_MATH)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "math type %d", (int)mathType);
    convDesc->math = mathType;
    return CUDNN_STATUS_SUCCESS;
}

// Each of a call's descriptors must be live and set (CUDNN_STATUS_BAD_PARAM).
static int bad_tensor(const char *call, const char *name, const struct cudnnTensorStruct *t) {
    if (alive(t, K_TENSOR) && t->set) return 0;
    refuse(CUDNN_STATUS_BAD_PARAM, call, "%s descriptor %p is not a live, set tensor descriptor", name,
           (const void *)t);
    return 1;
}

static int bad_filter(const char *call, const char *name, const struct cudnnFilterStruct *f) {
    if (alive(f, K_FILTER) && f->set) return 0;
    refuse(CUDNN_STATUS_BAD_PARAM, call, "%s descriptor %p is not a live, set filter descriptor", name,
           (const void *)f);
    return 1;
}

static int bad_conv(const char *call, const struct cudnnConvolutionStruct *c) {
    if (alive(c, K_CONV) && c->set) return 0;
    refuse(CUDNN_STATUS_BAD_PARAM, call, "convolution descriptor %p is not live and set", (const void *)c);
    return 1;
}

// Output size of one spatial dimension; 0 when the dilated filter is
// larger than the padded input.
static int out_size(int in, int pad, int k, int dil, int str) {
    int kd = (k - 1) * dil + 1;
    return in + 2 * pad < kd ? 0 : (in + 2 * pad - kd) / str + 1;
}

// Documented: the input's channels must be the filter's times the group
// count, and the dilated filter must fit the padded input
// (CUDNN_STATUS_BAD_PARAM).
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t inputTensorDesc,
                                                    const cudnnFilterDescriptor_t filterDesc, int *n, int *c, int *h,
                                                    int *w) {
    const char *call = "cudnnGetConvolution2dForwardOutputDim";
    if (bad_conv(call, convDesc) || bad_tensor(call, "input", inputTensorDesc) ||
        bad_filter(call, "filter", filterDesc))
        return CUDNN_STATUS_BAD_PARAM;
    if (!n || !c || !h || !w) return refuse(CUDNN_STATUS_BAD_PARAM, call, "an output pointer is NULL");
    const view *x = &inputTensorDesc->v, *f = &filterDesc->v;
    if (x->d[1] != f->d[1] * convDesc->groups)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "input has %d channels, the filter %d per group times %d groups",
                      x->d[1], f->d[1], convDesc->groups);
    int oh = out_size(x->d[2], convDesc->pad[0], f->d[2], convDesc->dil[0], convDesc->str[0]);
    int ow = out_size(x->d[3], convDesc->pad[1], f->d[3], convDesc->dil[1], convDesc->str[1]);
    if (!oh || !ow) return refuse(CUDNN_STATUS_BAD_PARAM, call, "the dilated filter is larger than the padded input");
    *n = x->d[0];
    *c = f->d[0];
    *h = oh;
    *w = ow;
    return CUDNN_STATUS_SUCCESS;
}

// ---- convolutions: the checks -------------------------------------------------------

// One convolution, copied at the call: the image x, the filter w (K, C/groups,
// kh, kw) and the output image y, whichever of them the direction writes.
typedef struct {
    const char *call;
    int op, dt, tf32;
    view x, w, y;
    int pad[2], str[2], dil[2], flip, groups;
    float alpha, beta;
    void *px, *pw, *py;
    void *ws;
    size_t need;  // workspace bytes the algorithm uses
} conv_job;

static const char *names[3][3] = {{"x", "w", "y"}, {"dx", "w", "dy"}, {"x", "dw", "dy"}};

// The documented checks of a convolution's descriptors, for every
// direction (x, w, y as in conv_job). Fills j's views and geometry;
// returns the status and, when not success, why.
static cudnnStatus_t check_conv(int op, const view *x, const view *w, const struct cudnnConvolutionStruct *cd,
                                const view *y, conv_job *j, char *why, size_t n) {
    const char *const *nm = names[op];
    int g = cd->groups;
    // "x, w and y have a non-matching data type": BAD_PARAM
    if (x->dt != w->dt || x->dt != y->dt) {
        snprintf(why, n, "non-matching data types: %s %s, %s %s, %s %s", nm[0], type_name(x->dt), nm[1],
                 type_name(w->dt), nm[2], type_name(y->dt));
        return CUDNN_STATUS_BAD_PARAM;
    }
    // cuDNN also has half and double configurations; the emulator has not
    if (!emulated_type(x->dt)) {
        snprintf(why, n, "%s data is not emulated (tests/emu/cudnn.c: float and bfloat16)", type_name(x->dt));
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    // float and bfloat16 data are computed in float (FLOAT_CONFIG, PSEUDO_BFLOAT16_CONFIG)
    if (cd->ctype != CUDNN_DATA_FLOAT) {
        snprintf(why, n, "compute type %s with %s data", type_name(cd->ctype), type_name(x->dt));
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    // "negative tensor striding": NOT_SUPPORTED
    for (int i = 0; i < 4; i++)
        if (x->s[i] < 0 || y->s[i] < 0) {
            snprintf(why, n, "negative strides in %s or %s", nm[0], nm[2]);
            return CUDNN_STATUS_NOT_SUPPORTED;
        }
    // "non-matching number of input feature maps per group": BAD_PARAM
    if (x->d[1] != w->d[1] * g) {
        snprintf(why, n, "%s has %d channels, %s %d per group times %d groups", nm[0], x->d[1], nm[1], w->d[1], g);
        return CUDNN_STATUS_BAD_PARAM;
    }
    // "an output channel count that isn't a multiple of group count":
    // BAD_PARAM, NOT_SUPPORTED for backward data
    if (w->d[0] % g) {
        snprintf(why, n, "%s has %d output channels, not a multiple of %d groups", nm[1], w->d[0], g);
        return op == OP_BWD_DATA ? CUDNN_STATUS_NOT_SUPPORTED : CUDNN_STATUS_BAD_PARAM;
    }
    int oh = out_size(x->d[2], cd->pad[0], w->d[2], cd->dil[0], cd->str[0]);
    int ow = out_size(x->d[3], cd->pad[1], w->d[3], cd->dil[1], cd->str[1]);
    // "the filter is larger than the padded input": BAD_PARAM
    if (!oh || !ow) {
        snprintf(why, n, "the dilated %dx%d filter is larger than the padded %dx%d input", w->d[2], w->d[3], x->d[2],
                 x->d[3]);
        return CUDNN_STATUS_BAD_PARAM;
    }
    if (y->d[0] != x->d[0] || y->d[1] != w->d[0]) {
        snprintf(why, n, "%s is (%d,%d,..), expected (%d,%d,..) from %s and %s", nm[2], y->d[0], y->d[1], x->d[0],
                 w->d[0], nm[0], nm[1]);
        return CUDNN_STATUS_BAD_PARAM;
    }
    // "spatial sizes do not match cudnnGetConvolutionNdForwardOutputDim":
    // NOT_SUPPORTED for forward, BAD_PARAM for the backward directions
    if (y->d[2] != oh || y->d[3] != ow) {
        snprintf(why, n, "%s is %dx%d, the convolution gives %dx%d", nm[2], y->d[2], y->d[3], oh, ow);
        return op == OP_FWD ? CUDNN_STATUS_NOT_SUPPORTED : CUDNN_STATUS_BAD_PARAM;
    }
    j->op = op;
    j->dt = x->dt;
    j->x = *x;
    j->w = *w;
    j->y = *y;
    memcpy(j->pad, cd->pad, sizeof j->pad);
    memcpy(j->str, cd->str, sizeof j->str);
    memcpy(j->dil, cd->dil, sizeof j->dil);
    j->flip = cd->mode == CUDNN_CONVOLUTION;
    j->groups = g;
    return CUDNN_STATUS_SUCCESS;
}

// ---- convolutions: the algorithms ------------------------------------------------------
//
// The emulated algorithms (every one computes the same sums, in double):
//   direction  algo                      rate  workspace bytes                          notes
//   forward    0 IMPLICIT_GEMM           1     0
//              1 IMPLICIT_PRECOMP_GEMM   1.25  4 kh kw C/groups (tap offsets)           tensor cores
//              2 GEMM                    1.5   4 N Ho Wo kh kw C (im2col)               float, groups 1
//   bwd data   0 ALGO_0                  1     0                                        non-deterministic
//              1 ALGO_1                  1.25  4 kh kw C/groups                         tensor cores
//   bwd filter 0 ALGO_0                  1     0                                        non-deterministic
//              1 ALGO_1                  1.25  4 K kh kw C/groups (a float dw)          tensor cores
//              3 ALGO_3                  1.5   N times ALGO_1's (a dw per image)        non-deterministic
// and the others of each enum are CUDNN_STATUS_NOT_SUPPORTED. An algorithm
// runs on tensor cores when it has them and the math type is not
// CUDNN_FMA_MATH: bfloat16 as is, float as TF32 (its operands rounded to
// 10 mantissa bits); it then needs x, w and y 16-byte aligned (else
// CUDNN_STATUS_NOT_SUPPORTED at the call). Find and Get_v7 rank by a model
// time, 5 us + MACs / (rate * 1e7 per ms), the rate 8 times higher on
// tensor cores: the supported algorithms fastest first, then the others in
// enum order. Find times its own aligned buffers, so a tensor-core result
// there says nothing about the caller's pointers.
enum { WS_NONE, WS_TAPS, WS_COL, WS_DW, WS_DW_IMG };

// One algorithm: emulated (ok), has tensor cores (tc), deterministic,
// dense only (groups 1), float only, workspace rule, rate. The tables are
// indexed by algorithm number; the entries left out (ok 0) are not emulated.
typedef struct {
    int ok, tc, det, dense_only, float_only, ws;
    double rate;
} algo_info;

static const algo_info fwd_algos[CUDNN_CONVOLUTION_FWD_ALGO_COUNT] = {
    {1, 0, 1, 0, 0, WS_NONE, 1.0}, {1, 1, 1, 0, 0, WS_TAPS, 1.25}, {1, 0, 1, 1, 1, WS_COL, 1.5},
};
static const algo_info bwd_data_algos[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT] = {
    {1, 0, 0, 0, 0, WS_NONE, 1.0}, {1, 1, 1, 0, 0, WS_TAPS, 1.25},
};
static const algo_info bwd_filter_algos[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT] = {
    {1, 0, 0, 0, 0, WS_NONE, 1.0}, {1, 1, 1, 0, 0, WS_DW, 1.25}, {0}, {1, 0, 0, 0, 0, WS_DW_IMG, 1.5},
};
static const algo_info *const algos[3] = {fwd_algos, bwd_data_algos, bwd_filter_algos};
static const int nalgos[3] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};

static size_t workspace(const algo_info *a, const conv_job *j) {
    size_t taps = (size_t)j->w.d[2] * j->w.d[3], cg = (size_t)j->w.d[1], dw = 4 * (size_t)j->w.d[0] * taps * cg;
    switch (a->ws) {
    case WS_TAPS: return 4 * taps * cg;
    case WS_COL: return 4 * (size_t)j->y.d[0] * j->y.d[2] * j->y.d[3] * taps * j->x.d[1];
    case WS_DW: return dw;
    case WS_DW_IMG: return dw * (size_t)j->x.d[0];
    }
    return 0;
}

// CUDNN_STATUS_NOT_SUPPORTED when algorithm a cannot run j, with why.
static cudnnStatus_t supports(const algo_info *a, const conv_job *j, char *why, size_t n) {
    if (!a->ok) snprintf(why, n, "the algorithm is not emulated (supported: see tests/emu/cudnn.c)");
    else if (a->dense_only && j->groups > 1) snprintf(why, n, "the algorithm does not take groups (%d)", j->groups);
    else if (a->float_only && j->dt != CUDNN_DATA_FLOAT) snprintf(why, n, "the algorithm takes float data only");
    else return CUDNN_STATUS_SUCCESS;
    return CUDNN_STATUS_NOT_SUPPORTED;
}

static int on_tensor_cores(const algo_info *a, int math) { return a->tc && math != CUDNN_FMA_MATH; }

// ---- convolutions: the algorithm queries -------------------------------------------------

typedef struct {
    int algo;
    cudnnStatus_t status;
    float time;
    size_t memory;
    int det, math;
} result;

// Every algorithm of direction op on j (whose descriptor check gave
// shape), ranked as described above; returns their count.
static int rank(int op, const conv_job *j, cudnnStatus_t shape, int math, result *r) {
    double macs = (double)j->y.d[0] * j->y.d[2] * j->y.d[3] * j->w.d[0] * j->w.d[1] * j->w.d[2] * j->w.d[3];
    int n = nalgos[op];
    for (int i = 0; i < n; i++) {
        const algo_info *a = &algos[op][i];
        char why[200];
        int tc = on_tensor_cores(a, math);
        int m = tc ? CUDNN_TENSOR_OP_MATH : math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
        r[i] = (result){i, shape, -1.0f, 0, a->det, m};
        if (shape == CUDNN_STATUS_SUCCESS) r[i].status = supports(a, j, why, sizeof why);
        if (r[i].status != CUDNN_STATUS_SUCCESS) continue;
        r[i].memory = workspace(a, j);
        r[i].time = (float)(0.005 + macs / (a->rate * (tc ? 8 : 1) * 1e7));
    }
    for (int i = 1; i < n; i++)  // insertion sort: successes by time, then the rest by algo
        for (int k = i; k > 0; k--) {
            result *p = &r[k - 1], *q = &r[k];
            int before = q->status == CUDNN_STATUS_SUCCESS &&
                         (p->status != CUDNN_STATUS_SUCCESS || q->time < p->time);
            if (!before) break;
            result t = *p;
            *p = *q;
            *q = t;
        }
    return n;
}

// Find (find = 1: refused during stream capture, as its timing synchronises)
// and Get_v7: the documented argument checks (CUDNN_STATUS_BAD_PARAM), then
// each algorithm's status as the convolution call would give it.
static cudnnStatus_t query(const char *call, int op, int find, cudnnHandle_t h, const struct cudnnTensorStruct *x,
                           const struct cudnnFilterStruct *w, const struct cudnnConvolutionStruct *cd,
                           const struct cudnnTensorStruct *y, int requested, int *returned, result *r) {
    const char *const *nm = names[op];
    if (bad_handle(call, h) || bad_tensor(call, nm[0], x) || bad_filter(call, nm[1], w) || bad_conv(call, cd) ||
        bad_tensor(call, nm[2], y))
        return CUDNN_STATUS_BAD_PARAM;
    if (!returned || !r || requested < 1)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "returnedAlgoCount %p, perfResults %p, requestedAlgoCount %d",
                      (void *)returned, (void *)r, requested);
    if (find) {
        enum cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
        cudaError_t e = cudaStreamIsCapturing(h->stream, &cs);
        if (e != cudaSuccess)
            return refuse(CUDNN_STATUS_EXECUTION_FAILED, call, "the handle's stream: %s", cudaGetErrorString(e));
        if (cs != cudaStreamCaptureStatusNone)
            return refuse(CUDNN_STATUS_EXECUTION_FAILED, call, "the handle's stream is capturing a graph");
    }
    conv_job j;
    char why[400];
    cudnnStatus_t shape = check_conv(op, &x->v, &w->v, cd, &y->v, &j, why, sizeof why);
    if (shape != CUDNN_STATUS_SUCCESS) {
        refuse(shape, call, "%s (every algorithm's status)", why);
        memset(&j, 0, sizeof j);
    }
    result all[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = rank(op, &j, shape, cd->math, all);
    *returned = n < requested ? n : requested;
    memcpy(r, all, sizeof *r * (size_t)*returned);
    return CUDNN_STATUS_SUCCESS;
}

#define COPY_RESULTS(dst, src, n, algo_t)                        \
    for (int i_ = 0; i_ < (n); i_++) {                           \
        (dst)[i_].algo = (algo_t)(src)[i_].algo;                 \
        (dst)[i_].status = (src)[i_].status;                     \
        (dst)[i_].time = (src)[i_].time;                         \
        (dst)[i_].memory = (src)[i_].memory;                     \
        (dst)[i_].determinism = (cudnnDeterminism_t)(src)[i_].det; \
        (dst)[i_].mathType = (cudnnMathType_t)(src)[i_].math;    \
        memset((dst)[i_].reserved, 0, sizeof (dst)[i_].reserved); \
    }

static cudnnStatus_t fwd_query(const char *call, int find, cudnnHandle_t h, cudnnTensorDescriptor_t x,
                               cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t y,
                               int requested, int *returned, cudnnConvolutionFwdAlgoPerf_t *perf) {
    result r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    cudnnStatus_t st = query(call, OP_FWD, find, h, x, w, cd, y, requested, returned ? &n : NULL, perf ? r : NULL);
    if (st) return st;
    COPY_RESULTS(perf, r, n, cudnnConvolutionFwdAlgo_t);
    *returned = n;
    return st;
}

static cudnnStatus_t bwd_data_query(const char *call, int find, cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                    cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                    cudnnTensorDescriptor_t dx, int requested, int *returned,
                                    cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    result r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    cudnnStatus_t st =
        query(call, OP_BWD_DATA, find, h, dx, w, cd, dy, requested, returned ? &n : NULL, perf ? r : NULL);
    if (st) return st;
    COPY_RESULTS(perf, r, n, cudnnConvolutionBwdDataAlgo_t);
    *returned = n;
    return st;
}

static cudnnStatus_t bwd_filter_query(const char *call, int find, cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                      cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t cd,
                                      cudnnFilterDescriptor_t dw, int requested, int *returned,
                                      cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    result r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    cudnnStatus_t st =
        query(call, OP_BWD_FILTER, find, h, x, dw, cd, dy, requested, returned ? &n : NULL, perf ? r : NULL);
    if (st) return st;
    COPY_RESULTS(perf, r, n, cudnnConvolutionBwdFilterAlgo_t);
    *returned = n;
    return st;
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                   const cudnnFilterDescriptor_t wDesc,
                                                   const cudnnConvolutionDescriptor_t convDesc,
                                                   const cudnnTensorDescriptor_t yDesc, const int requestedAlgoCount,
                                                   int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults) {
    return fwd_query("cudnnFindConvolutionForwardAlgorithm", 1, handle, xDesc, wDesc, convDesc, yDesc,
                     requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
                                                     const cudnnFilterDescriptor_t filterDesc,
                                                     const cudnnConvolutionDescriptor_t convDesc,
                                                     const cudnnTensorDescriptor_t destDesc,
                                                     const int requestedAlgoCount, int *returnedAlgoCount,
                                                     cudnnConvolutionFwdAlgoPerf_t *perfResults) {
    return fwd_query("cudnnGetConvolutionForwardAlgorithm_v7", 0, handle, srcDesc, filterDesc, convDesc, destDesc,
                     requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc,
                                                        const cudnnTensorDescriptor_t dyDesc,
                                                        const cudnnConvolutionDescriptor_t convDesc,
                                                        const cudnnTensorDescriptor_t dxDesc,
                                                        const int requestedAlgoCount, int *returnedAlgoCount,
                                                        cudnnConvolutionBwdDataAlgoPerf_t *perfResults) {
    return bwd_data_query("cudnnFindConvolutionBackwardDataAlgorithm", 1, handle, wDesc, dyDesc, convDesc, dxDesc,
                          requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t handle,
                                                          const cudnnFilterDescriptor_t filterDesc,
                                                          const cudnnTensorDescriptor_t diffDesc,
                                                          const cudnnConvolutionDescriptor_t convDesc,
                                                          const cudnnTensorDescriptor_t gradDesc,
                                                          const int requestedAlgoCount, int *returnedAlgoCount,
                                                          cudnnConvolutionBwdDataAlgoPerf_t *perfResults) {
    return bwd_data_query("cudnnGetConvolutionBackwardDataAlgorithm_v7", 0, handle, filterDesc, diffDesc, convDesc,
                          gradDesc, requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                          const cudnnTensorDescriptor_t dyDesc,
                                                          const cudnnConvolutionDescriptor_t convDesc,
                                                          const cudnnFilterDescriptor_t dwDesc,
                                                          const int requestedAlgoCount, int *returnedAlgoCount,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t *perfResults) {
    return bwd_filter_query("cudnnFindConvolutionBackwardFilterAlgorithm", 1, handle, xDesc, dyDesc, convDesc, dwDesc,
                            requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t handle,
                                                            const cudnnTensorDescriptor_t srcDesc,
                                                            const cudnnTensorDescriptor_t diffDesc,
                                                            const cudnnConvolutionDescriptor_t convDesc,
                                                            const cudnnFilterDescriptor_t gradDesc,
                                                            const int requestedAlgoCount, int *returnedAlgoCount,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t *perfResults) {
    return bwd_filter_query("cudnnGetConvolutionBackwardFilterAlgorithm_v7", 0, handle, srcDesc, diffDesc, convDesc,
                            gradDesc, requestedAlgoCount, returnedAlgoCount, perfResults);
}

// ---- convolutions: the work ------------------------------------------------------------

// v's elements at p as floats in (n, h, w, c) order, TF32-rounded when tf32.
static float *gather(const void *p, const view *v, int tf32) {
    int N = v->d[0], C = v->d[1], H = v->d[2], W = v->d[3];
    float *d = malloc(sizeof(float) * (size_t)N * C * H * W);
    if (!d) return NULL;
    float *o = d;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) {
                    float f = load(p, v->dt, n * v->s[0] + c * v->s[1] + h * v->s[2] + w * v->s[3]);
                    *o++ = tf32 ? to_tf32(f) : f;
                }
    return d;
}

// v at p = alpha * acc + beta * v (v not read when beta is 0); acc in
// (n, h, w, c) order.
static void scatter(void *p, const view *v, const double *acc, float alpha, float beta) {
    int N = v->d[0], C = v->d[1], H = v->d[2], W = v->d[3];
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) {
                    long long i = n * v->s[0] + c * v->s[1] + h * v->s[2] + w * v->s[3];
                    float r = alpha * (float)*acc++;
                    store(p, v->dt, i, beta != 0.0f ? r + beta * load(p, v->dt, i) : r);
                }
}

// The geometry of j in dense terms: x (N,H,W,C), w (K,kh,kw,Cg), y (N,Ho,Wo,K).
typedef struct {
    int N, H, W, C, K, kh, kw, Cg, Kg, Ho, Wo;
} dims;

static dims dims_of(const conv_job *j) {
    dims d = {j->x.d[0], j->x.d[2], j->x.d[3], j->x.d[1], j->w.d[0], j->w.d[2], j->w.d[3], j->w.d[1],
              j->w.d[0] / j->groups, j->y.d[2], j->y.d[3]};
    return d;
}

// The filter tap that output (oy, ox) applies at input row iy = oy*s - pad
// + ky*dil: ky, or kh-1-ky for CUDNN_CONVOLUTION (the flipped filter).
static int tap(const conv_job *j, int k, int size) { return j->flip ? size - 1 - k : k; }

// y = sum over taps and the group's channels of x * w.
static void conv_fwd(const conv_job *j, const dims *d, const float *x, const float *w, double *y) {
    for (int n = 0; n < d->N; n++)
        for (int oy = 0; oy < d->Ho; oy++)
            for (int ox = 0; ox < d->Wo; ox++)
                for (int k = 0; k < d->K; k++) {
                    int g = k / d->Kg;
                    double acc = 0.0;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * j->str[0] - j->pad[0] + ky * j->dil[0];
                        if (iy < 0 || iy >= d->H) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * j->str[1] - j->pad[1] + kx * j->dil[1];
                            if (ix < 0 || ix >= d->W) continue;
                            const float *xp = x + (((size_t)n * d->H + iy) * d->W + ix) * d->C + (size_t)g * d->Cg;
                            size_t t = ((size_t)k * d->kh + tap(j, ky, d->kh)) * d->kw + tap(j, kx, d->kw);
                            const float *wp = w + t * d->Cg;
                            for (int c = 0; c < d->Cg; c++) acc += (double)xp[c] * wp[c];
                        }
                    }
                    y[(((size_t)n * d->Ho + oy) * d->Wo + ox) * d->K + k] = acc;
                }
}

// dx (zeroed) += dy * w over every (output, tap) pair that reads each input,
// or dw (zeroed) += dy * x when filter is set.
static void conv_bwd(const conv_job *j, const dims *d, const float *x, const float *w, const float *dy, double *acc,
                     int filter) {
    for (int n = 0; n < d->N; n++)
        for (int oy = 0; oy < d->Ho; oy++)
            for (int ox = 0; ox < d->Wo; ox++) {
                const float *dyo = dy + (((size_t)n * d->Ho + oy) * d->Wo + ox) * d->K;
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * j->str[0] - j->pad[0] + ky * j->dil[0];
                    if (iy < 0 || iy >= d->H) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * j->str[1] - j->pad[1] + kx * j->dil[1];
                        if (ix < 0 || ix >= d->W) continue;
                        size_t xo = (((size_t)n * d->H + iy) * d->W + ix) * d->C;
                        for (int k = 0; k < d->K; k++) {
                            size_t wo = (((size_t)k * d->kh + tap(j, ky, d->kh)) * d->kw + tap(j, kx, d->kw)) * d->Cg;
                            size_t go = (size_t)(k / d->Kg) * d->Cg;
                            double g = dyo[k];
                            if (filter)
                                for (int c = 0; c < d->Cg; c++) acc[wo + c] += g * x[xo + go + c];
                            else
                                for (int c = 0; c < d->Cg; c++) acc[xo + go + c] += g * w[wo + c];
                        }
                    }
                }
            }
}

// Reports and returns 1 when a pointer of j is no longer device memory
// when the work runs (freed before a graph replay, say).
static int gone(const conv_job *j) {
    const char *const *nm = names[j->op];
    const void *p[3] = {j->px, j->pw, j->py};
    const view *v[3] = {&j->x, &j->w, &j->y};
    for (int i = 0; i < 3; i++)
        if (!on_device(p[i], v[i])) {
            emu_report("%s: %s %p is no longer device memory when the work runs", j->call, nm[i], p[i]);
            return 1;
        }
    if (j->need && !emu_is_device(j->ws, j->need)) {
        emu_report("%s: the workspace %p is no longer device memory when the work runs", j->call, j->ws);
        return 1;
    }
    return 0;
}

static void run_conv(void *arg) {
    const conv_job *j = arg;
    if (gone(j)) return;
    if (j->need) memset(j->ws, 0xFF, j->need);  // the algorithm's scratch: nothing may rely on its contents
    dims d = dims_of(j);
    float *x = j->op == OP_BWD_DATA ? NULL : gather(j->px, &j->x, j->tf32);
    float *w = j->op == OP_BWD_FILTER ? NULL : gather(j->pw, &j->w, j->tf32);
    float *y = j->op == OP_FWD ? NULL : gather(j->py, &j->y, j->tf32);
    const view *ov = j->op == OP_FWD ? &j->y : j->op == OP_BWD_DATA ? &j->x : &j->w;
    size_t no = (size_t)ov->d[0] * ov->d[1] * ov->d[2] * ov->d[3];
    emu_charge((double)no);
    double *acc = calloc(no, sizeof(double));
    if (!acc || (j->op != OP_BWD_DATA && !x) || (j->op != OP_BWD_FILTER && !w) || (j->op != OP_FWD && !y)) {
        emu_report("%s: out of host memory", j->call);
    } else {
        if (j->op == OP_FWD) conv_fwd(j, &d, x, w, acc);
        else conv_bwd(j, &d, x, w, y, acc, j->op == OP_BWD_FILTER);
        scatter(j->op == OP_FWD ? j->py : j->op == OP_BWD_DATA ? j->px : j->pw, ov, acc, j->alpha, j->beta);
    }
    free(x);
    free(w);
    free(y);
    free(acc);
}

// ---- convolutions: the calls ----------------------------------------------------------

// One convolution call as its arguments came (x, w, y as in conv_job).
typedef struct {
    const char *call;
    int op, algo;
    cudnnHandle_t h;
    const void *alpha, *beta;
    const struct cudnnTensorStruct *x, *y;
    const struct cudnnFilterStruct *w;
    const struct cudnnConvolutionStruct *cd;
    const void *px, *pw, *py;
    void *ws;
    size_t wsbytes;
} conv_call;

// The documented NULL checks and the descriptors' (CUDNN_STATUS_BAD_PARAM).
static cudnnStatus_t check_args(const conv_call *c) {
    const char *const *nm = names[c->op];
    if (bad_handle(c->call, c->h) || bad_tensor(c->call, nm[0], c->x) || bad_filter(c->call, nm[1], c->w) ||
        bad_conv(c->call, c->cd) || bad_tensor(c->call, nm[2], c->y))
        return CUDNN_STATUS_BAD_PARAM;
    if (!c->alpha || !c->beta || !c->px || !c->pw || !c->py)
        return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "NULL among alpha %p, beta %p, %s %p, %s %p, %s %p", c->alpha,
                      c->beta, nm[0], c->px, nm[1], c->pw, nm[2], c->py);
    return CUDNN_STATUS_SUCCESS;
}

// An algorithm number outside the enum: CUDNN_STATUS_BAD_PARAM; one that
// cannot run this convolution: CUDNN_STATUS_NOT_SUPPORTED; a workspace
// smaller than it needs, or not device memory of the size given:
// CUDNN_STATUS_BAD_PARAM.
static cudnnStatus_t check_algo(const conv_call *c, conv_job *j, const algo_info **a) {
    char why[200];
    if (c->algo < 0 || c->algo >= nalgos[c->op])
        return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "algorithm %d is not in the enum", c->algo);
    *a = &algos[c->op][c->algo];
    if (supports(*a, j, why, sizeof why))
        return refuse(CUDNN_STATUS_NOT_SUPPORTED, c->call, "algorithm %d: %s", c->algo, why);
    j->need = workspace(*a, j);
    if (c->wsbytes < j->need)
        return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "algorithm %d needs %zu workspace bytes, %zu given", c->algo,
                      j->need, c->wsbytes);
    if (c->wsbytes && !emu_is_device(c->ws, c->wsbytes))
        return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "workspace %p of %zu bytes is not device memory", c->ws,
                      c->wsbytes);
    j->ws = c->ws;
    return CUDNN_STATUS_SUCCESS;
}

// Every tensor in device memory for its whole extent and aligned to its
// element (CUDNN_STATUS_BAD_PARAM); on tensor cores, 16-byte aligned
// (CUDNN_STATUS_NOT_SUPPORTED: the tensor-core kernels take vectors of 16
// bytes); the output not overlapping an input (CUDNN_STATUS_BAD_PARAM: a
// GPU would race).
static cudnnStatus_t check_pointers(const conv_call *c, const conv_job *j, int tc) {
    const char *const *nm = names[c->op];
    const void *p[3] = {c->px, c->pw, c->py};
    const view *v[3] = {&j->x, &j->w, &j->y};
    int out = c->op == OP_FWD ? 2 : c->op == OP_BWD_DATA ? 0 : 1;
    for (int i = 0; i < 3; i++) {
        if (!on_device(p[i], v[i]))
            return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "%s %p is not device memory for its whole extent", nm[i],
                          p[i]);
        if (misaligned(p[i], esize(j->dt)))
            return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "%s %p is not aligned to its %zu-byte elements", nm[i], p[i],
                          esize(j->dt));
        if (tc && misaligned(p[i], 16))
            return refuse(CUDNN_STATUS_NOT_SUPPORTED, c->call,
                          "%s %p is not 16-byte aligned, as tensor-core algorithm %d (%s, math type %d) needs", nm[i],
                          p[i], c->algo, type_name(j->dt), c->cd->math);
        if (i != out && overlap(p[i], v[i], p[out], v[out]))
            return refuse(CUDNN_STATUS_BAD_PARAM, c->call, "output %s overlaps input %s", nm[out], nm[i]);
    }
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t convolve(const conv_call *c) {
    cudnnStatus_t st = check_args(c);
    if (st) return st;
    conv_job j;
    memset(&j, 0, sizeof j);
    char why[400];
    st = check_conv(c->op, &c->x->v, &c->w->v, c->cd, &c->y->v, &j, why, sizeof why);
    if (st) return refuse(st, c->call, "%s", why);
    const algo_info *a = NULL;
    if ((st = check_algo(c, &j, &a))) return st;
    int tc = on_tensor_cores(a, c->cd->math);
    if ((st = check_pointers(c, &j, tc))) return st;
    j.call = c->call;
    j.tf32 = tc && j.dt == CUDNN_DATA_FLOAT;
    j.alpha = *(const float *)c->alpha;
    j.beta = *(const float *)c->beta;
    j.px = (void *)(uintptr_t)c->px;
    j.pw = (void *)(uintptr_t)c->pw;
    j.py = (void *)(uintptr_t)c->py;
    return emu_enqueue(c->h->stream, c->call, run_conv, &j, sizeof j) ? CUDNN_STATUS_EXECUTION_FAILED
                                                                      : CUDNN_STATUS_SUCCESS;
}

// y = alpha * conv(x, w) + beta * y
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void *alpha, const cudnnTensorDescriptor_t xDesc,
                                      const void *x, const cudnnFilterDescriptor_t wDesc, const void *w,
                                      const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo,
                                      void *workSpace, size_t workSpaceSizeInBytes, const void *beta,
                                      const cudnnTensorDescriptor_t yDesc, void *y) {
    conv_call c = {"cudnnConvolutionForward", OP_FWD, (int)algo, handle, alpha, beta, xDesc, yDesc, wDesc,
                   convDesc, x, w, y, workSpace, workSpaceSizeInBytes};
    return convolve(&c);
}

// dx = alpha * (the gradient of conv with respect to x, given dy) + beta * dx
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void *alpha,
                                           const cudnnFilterDescriptor_t wDesc, const void *w,
                                           const cudnnTensorDescriptor_t dyDesc, const void *dy,
                                           const cudnnConvolutionDescriptor_t convDesc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void *workSpace,
                                           size_t workSpaceSizeInBytes, const void *beta,
                                           const cudnnTensorDescriptor_t dxDesc, void *dx) {
    conv_call c = {"cudnnConvolutionBackwardData", OP_BWD_DATA, (int)algo, handle, alpha, beta, dxDesc, dyDesc,
                   wDesc, convDesc, dx, w, dy, workSpace, workSpaceSizeInBytes};
    return convolve(&c);
}

// dw = alpha * (the gradient of conv with respect to w, given x and dy) + beta * dw
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void *alpha,
                                             const cudnnTensorDescriptor_t xDesc, const void *x,
                                             const cudnnTensorDescriptor_t dyDesc, const void *dy,
                                             const cudnnConvolutionDescriptor_t convDesc,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *workSpace,
                                             size_t workSpaceSizeInBytes, const void *beta,
                                             const cudnnFilterDescriptor_t dwDesc, void *dw) {
    conv_call c = {"cudnnConvolutionBackwardFilter", OP_BWD_FILTER, (int)algo, handle, alpha, beta, xDesc, dyDesc,
                   dwDesc, convDesc, x, dw, dy, workSpace, workSpaceSizeInBytes};
    return convolve(&c);
}

// ---- cudnnTransformTensor --------------------------------------------------------------

typedef struct {
    view x, y;
    const void *px;
    void *py;
    float alpha, beta;
} transform_job;

static void run_transform(void *arg) {
    const transform_job *t = arg;
    if (!on_device(t->px, &t->x) || !on_device(t->py, &t->y)) {
        emu_report("cudnnTransformTensor: x %p or y %p is no longer device memory when the work runs", t->px, t->py);
        return;
    }
    const view *x = &t->x, *y = &t->y;
    for (int n = 0; n < x->d[0]; n++)
        for (int c = 0; c < x->d[1]; c++)
            for (int h = 0; h < x->d[2]; h++)
                for (int w = 0; w < x->d[3]; w++) {
                    long long i = n * x->s[0] + c * x->s[1] + h * x->s[2] + w * x->s[3];
                    long long o = n * y->s[0] + c * y->s[1] + h * y->s[2] + w * y->s[3];
                    float r = t->alpha * load(t->px, x->dt, i);
                    store(t->py, y->dt, o, t->beta != 0.0f ? r + t->beta * load(t->py, y->dt, o) : r);
                }
}

static int same_layout(const view *a, const view *b) { return !memcmp(a, b, sizeof *a); }

// y = alpha * x + beta * y element by element, any strides. Documented:
// x and y of different dimensions or data types: CUDNN_STATUS_BAD_PARAM.
// Emulator: both in device memory, element-aligned, and y not overlapping
// x unless it is x itself (element by element in place).
cudnnStatus_t cudnnTransformTensor(cudnnHandle_t handle, const void *alpha, const cudnnTensorDescriptor_t xDesc,
                                   const void *x, const void *beta, const cudnnTensorDescriptor_t yDesc, void *y) {
    const char *call = "cudnnTransformTensor";
    if (bad_handle(call, handle) || bad_tensor(call, "x", xDesc) || bad_tensor(call, "y", yDesc))
        return CUDNN_STATUS_BAD_PARAM;
    if (!alpha || !beta || !x || !y)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "NULL among alpha %p, beta %p, x %p, y %p", alpha, beta, x, y);
    transform_job t = {xDesc->v, yDesc->v, x, y, 0.0f, 0.0f};
    if (memcmp(t.x.d, t.y.d, sizeof t.x.d) || t.x.dt != t.y.dt)
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "x (%d,%d,%d,%d) %s and y (%d,%d,%d,%d) %s differ", t.x.d[0],
                      t.x.d[1], t.x.d[2], t.x.d[3], type_name(t.x.dt), t.y.d[0], t.y.d[1], t.y.d[2], t.y.d[3],
                      type_name(t.y.dt));
    if (!emulated_type(t.x.dt))
        return refuse(CUDNN_STATUS_NOT_SUPPORTED, call, "%s data is not emulated", type_name(t.x.dt));
    if (!on_device(x, &t.x) || !on_device(y, &t.y))
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "x %p or y %p is not device memory for its whole extent", x, y);
    if (misaligned(x, esize(t.x.dt)) || misaligned(y, esize(t.y.dt)))
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "x %p or y %p is not aligned to its elements", x, y);
    if (overlap(x, &t.x, y, &t.y) && !(x == y && same_layout(&t.x, &t.y)))
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "y overlaps x (a GPU would race)");
    t.alpha = *(const float *)alpha;
    t.beta = *(const float *)beta;
    return emu_enqueue(handle->stream, call, run_transform, &t, sizeof t) ? CUDNN_STATUS_EXECUTION_FAILED
                                                                          : CUDNN_STATUS_SUCCESS;
}
