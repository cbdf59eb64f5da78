// The consistency losses of semi-supervised training: their registry, their
// hyperparameters and the size of their state. Each loss is one file,
// kernels/ssl_X.h (its maths, shared by the CPU path and the CUDA kernel);
// kernels/ssl.h runs a step of any of them. docs/LOSS.md: how to add one.
// A plain header: the kernels include it.
#pragma once

// The registry: one line per loss, X(name) for kernels/ssl_name.h.
#define AM_SSL_LOSSES(X) \
    X(fixmatch)          \
    X(freematch)         \
    X(softmatch)         \
    X(flexmatch)         \
    X(relmatch)

#define AM_SSL_ENUM(name) AM_SSL_##name,
enum { AM_SSL_LOSSES(AM_SSL_ENUM) AM_SSL_COUNT };
#undef AM_SSL_ENUM

// Classes a loss handles at most.
#define AM_SSL_MAX_K 64
// A loss's state (EMAs of confidences and the like) in floats: it lives in
// the trainer and in the checkpoint (entry "ssl_state").
#define AM_SSL_STATE_FLOATS 512

typedef struct {
    int loss;        // AM_SSL_*
    float tau;       // confidence threshold (FixMatch)
    float T;         // temperature of soft pseudo-labels (<= 0: hard labels)
    float lambda_u;  // weight of the unlabelled loss
    float ema_p;     // momentum of the EMAs of FreeMatch and SoftMatch
    float lambda_e;  // weight of FreeMatch's fairness (entropy) loss
    float n_sigma;   // SoftMatch: width of the Gaussian weighting in standard deviations
    int warmup;      // FlexMatch: thresholds warm up (unused images count in the normalisation)
} am_ssl_hp;

// What a loss may keep per unlabelled image (FlexMatch: the class it last
// predicted with confidence): label[n] over the run's images (-1: none), the
// step's images idx[U] (indices into label), and how many images are
// unlabelled. On a GPU, label and idx are device pointers.
typedef struct {
    const int *idx;
    int *label;
    int n, unlabelled;
} am_ssl_images;

typedef struct {
    float f[AM_SSL_STATE_FLOATS];
} am_ssl_state;

// A loss's own view of those floats (kernels/ssl_X.h: typedef AM_SSL_VIEW {
// ... } X_state;): a struct of floats read through a cast, so it may alias them.
#define AM_SSL_VIEW struct __attribute__((may_alias))

// "fixmatch", ... for AM_SSL_*; am_ssl_parse gives the id of a name, or -1.
const char *am_ssl_name(int loss);
int am_ssl_parse(const char *name);
// A new run's state for loss hp->loss over K classes.
void am_ssl_init(am_ssl_state *s, int K, const am_ssl_hp *hp);
// 1 when loss keeps a state per image (am_ssl_images): the step needs the indices of its images.
int am_ssl_per_image(int loss);
