// EfficientNet (B0..B7) and EfficientNet-Lite (Lite0..Lite4), NHWC fp32 on the CPU.
//
// Families, one allocation each: params (trainable, flat), grads (same layout),
// stats (BN running mean/var), acts (everything the forward keeps for the
// backward, sized for one batch size and image size), scratch (the gradient
// buffers of the backward pass).
//
// In params, grads and stats every tensor starts at a multiple of
// AM_TENSOR_ALIGN elements, so that its float copy starts on a 512-byte and
// its bf16 copy on a 256-byte boundary wherever the family does (cuDNN's
// tensor-core algorithms need 16 bytes; src/cuda keeps the same offsets on
// the device). The padding between tensors is zero and stays zero: no op
// reads it and the flat updates (SGD, AdamW, EMA) map 0 to 0. Weight files
// are read and written by tensor name and checkpoints hold the tensors
// packed, so neither holds the padding.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define AM_MAX_BLOCKS 64
#define AM_MAX_TENSORS 2048
#define AM_TENSOR_ALIGN 128  // elements

typedef struct {
    int expand;  // expansion ratio e (1: no expand conv)
    int k, stride;
    int in, mid, out;
    int se;      // squeeze-excite width, 0 for none
    int skip;    // stride 1 and in == out: residual with drop-connect
    float drop;  // drop-connect rate 0.2 * i / nblocks
} am_block_cfg;

typedef struct {
    char name[16];  // "lite0", "b3", ...
    int lite;
    float width, depth, dropout;
    int res;        // the variant's native resolution
    int in_ch, classes;
    int stem, head;
    int act;        // AM_ACT_RELU6 (Lite) or AM_ACT_SWISH (B)
    int nblocks;
    am_block_cfg blocks[AM_MAX_BLOCKS];
} am_arch;

// Fills the architecture from the scaling rules. Returns -1 (am_error()) for
// an unknown name, in_ch < 1 or classes < 1.
int am_arch_init(am_arch *a, const char *name, int in_ch, int classes);

enum { AM_PARAM = 0, AM_STAT = 1 };

// What a tensor is: initialisation, weight decay and the backends' handling
// follow from it (never from its name).
typedef enum {
    AM_ROLE_CONV,       // dense convolution weight: the stem (K,3,3,C), pointwise (K,C)
    AM_ROLE_DWCONV,     // depthwise weight (k,k,C)
    AM_ROLE_SE_W,       // squeeze-excite weight (out,in)
    AM_ROLE_FC_W,       // classifier weight (classes,head)
    AM_ROLE_BIAS,       // squeeze-excite and classifier biases
    AM_ROLE_BN_GAMMA, AM_ROLE_BN_BETA,
    AM_ROLE_BN_MEAN, AM_ROLE_BN_VAR,  // running statistics (family AM_STAT)
} am_role;

typedef struct {
    char name[64];
    int ndim, shape[4];
    size_t n, offset;  // elements, offset in its family (a multiple of AM_TENSOR_ALIGN)
    int family;        // AM_PARAM or AM_STAT
    am_role role;
    int decay;         // weight decay applies (the weights: conv, depthwise, SE, FC)
} am_tensor;

typedef struct { float *gamma, *beta, *mean, *var; } am_bn;

// Parameter views: host addresses inside the model's families. A backend
// with families of its own (src/cuda) maps an address to its copy by the
// offset from the family's base.
typedef struct {
    float *expand, *dw, *se_rw, *se_rb, *se_ew, *se_eb, *project;
    am_bn bn0, bn1, bn2;  // after expand, depthwise, project
} am_block_params;

// The activation family for one batch size N and image size S: everything
// the forward keeps for the backward, and the backward's scratch. One
// layout (am_acts_layout) for every backend; "void *" buffers hold the
// backend's activation type (float on the CPU, float or bf16 on a GPU), the
// "float *" ones are float everywhere.
typedef struct {
    int H, W, Ho, Wo;             // block input and output sizes
    void *ex, *ea;                // (N,H,W,mid) expand conv out, after BN+act
    void *dx, *da;                // (N,Ho,Wo,mid) depthwise out, after BN+act
    float *pooled, *hid, *gate;   // SE: (N,mid), (N,se), (N,mid)
    void *so;                     // (N,Ho,Wo,mid) after the SE scale
    void *px, *pb;                // (N,Ho,Wo,out) project conv out, after BN
    void *out;                    // (N,Ho,Wo,out) block output
    float *dc;                    // (N) drop-connect scale
    float *mean[3], *rstd[3];     // BN statistics of bn0, bn1, bn2
} am_block_acts;

typedef struct {
    int N, size;
    const float *x;               // (N,S,S,in_ch) float: the input of the last forward
    float *xin;                   // the owned input buffer behind x where the backend keeps one, else NULL
    void *stem_in;                // the backend's stem scratch (am_acts_spec)
    void *sx, *sa;                // stem conv out, after BN+act
    float *smean, *srstd;
    am_block_acts b[AM_MAX_BLOCKS];
    void *hx, *ha;                // head conv out, after BN+act
    float *hmean, *hrstd;
    float *pooled, *mask, *dropped;  // (N,head)
    float *logits;                // (N,classes)
    float *ghead;                 // (N,head) gradient at the pooled features
    float *dz, *dpool, *dh;       // (N,cmax) squeeze-excite backward scratch (backends that want it)
    void *g[4];                   // backward scratch, each of gsize elements
    size_t gsize;                 // the largest activation, elements
    int cmax;                     // the widest channel count
    char *base;                   // the allocation the pointers are carved from
    size_t bytes;
} am_acts;

// How a backend's activation family is carved: es bytes per activation
// element, every buffer starting at a multiple of align bytes (from a base
// so aligned), an owned float input buffer (own_input) or the caller's, and
// stem_in elements of stem scratch (CPU: the im2col matrix; GPU: the padded
// input).
typedef struct { size_t es, align; int own_input; size_t stem_in; } am_acts_spec;

// Carves A for (N, S) from base; with base NULL only counts. Returns the
// bytes, a multiple of align.
size_t am_acts_layout(am_acts *A, const am_arch *a, int N, int S, const am_acts_spec *sp, char *base);

typedef struct {
    am_arch arch;
    int ntensors;
    am_tensor tensors[AM_MAX_TENSORS];
    size_t nparams, nstats;       // elements of the params and stats families, padding included
    float *params, *grads, *stats;
    float *stem_w, *head_w, *fc_w, *fc_b;
    am_bn stem_bn, head_bn;
    am_block_params blk[AM_MAX_BLOCKS];
    am_acts acts;                 // the CPU's, made by am_forward
    float bn_momentum, bn_eps;
    float dropout, drop_connect;  // rates in force during training (0 turns off)
    struct am_prof *prof;         // per-layer timing when set (include/am/prof.h); NULL: off
} am_model;

// Builds the model (tables, allocation, TF initialisation drawn from Philox
// with `seed`). Returns -1 (am_error()) on a bad architecture.
int am_model_init(am_model *m, const char *arch, int in_ch, int classes, uint64_t seed);
void am_model_free(am_model *m);

// TF initialisation: conv N(0, sqrt(2/fan_out)), FC U(+-1/sqrt(out)),
// biases 0, BN gamma 1 beta 0, running mean 0 var 1.
void am_model_init_weights(am_model *m, uint64_t seed);
// Re-initialises only the FC layer as the Python tool's new head does
// (PyTorch nn.Linear: weight and bias U(+-1/sqrt(in))).
void am_model_init_fc(am_model *m, uint64_t seed);

const am_tensor *am_model_find(const am_model *m, const char *name);
float *am_model_data(am_model *m, const am_tensor *t);
// The trainable parameters (the padding of the family not counted).
size_t am_model_count_params(const am_model *m);

// Size check for the input: -1 (am_error()) when size < 32.
int am_model_check_size(int size);

// Forward pass on x (N,size,size,in_ch). train=1: batch statistics, running
// stats updated, dropout and drop-connect from Philox (seed, step).
// Returns the logits (N,classes), valid until the next forward.
float *am_forward(am_model *m, const float *x, int N, int size, int train,
                  uint64_t seed, uint64_t step);
// Backward pass from dlogits (N,classes) after a training forward;
// parameter gradients accumulate into m->grads.
void am_backward(am_model *m, const float *dlogits);
void am_zero_grad(am_model *m);
