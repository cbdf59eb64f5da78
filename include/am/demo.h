// Procedural astronomy cutouts for demos and tests: grayscale survey-like
// images of galaxies (Sersic profiles, bulge + disk, spiral arms, companions,
// stars, Gaussian PSF, sky with Poisson-like and read noise, asinh stretch) and
// a rare anomaly class of four kinds an astronomer would flag: collisional ring
// galaxies, strong-lensing arcs around a massive elliptical, mergers with tidal
// tails, and satellite trails across an ordinary field.
// Every image is a pure function of (seed, index, kind, size): Philox streams,
// no global state, any thread count.
#pragma once
#include <stdint.h>

enum { AM_DEMO_NORMAL, AM_DEMO_RING, AM_DEMO_LENS, AM_DEMO_MERGER, AM_DEMO_TRAIL, AM_DEMO_KINDS };

// How the central object looks: its size and flux as factors of the survey
// look (1, 1); a small, faint source on the same sky: scale 0.4, brightness 0.3.
// The PSF, sky, noise and field stars stay as they are.
typedef struct { float scale, brightness; } am_demo_look;
#define AM_DEMO_LOOK ((am_demo_look){1.0f, 1.0f})

typedef struct {
    int n;                  // images
    int size;               // side in pixels (16..1024)
    double anomaly_rate;    // fraction of anomalies, 0..1: round(rate * n) of them
    int labeled_anomalies;  // anomalies listed in labels.csv
    int labeled_normals;    // normal images listed in labels.csv
    uint64_t seed;
    int fits;               // 1: NNNNNN.fits (float32, two bands) instead of NNNNNN.png
    am_demo_look look;      // the central object's size and flux (AM_DEMO_LOOK)
} am_demo_opts;

#define AM_DEMO_BANDS 2

// "normal", "ring", "lens", "merger", "trail".
const char *am_demo_kind_name(int kind);

// Which images are anomalies (round(rate * n), chosen at random, the four kinds
// in turn so they are balanced) and which are labelled (kinds[i], labeled[i]
// for i < n). 0, or -1 with am_error() set when the options are out of range or
// ask for more labelled images of a class than there are.
int am_demo_plan(uint8_t *kinds, uint8_t *labeled, const am_demo_opts *o);

// Renders image `index` of kind `kind` into out (size x size, uint8 gray).
void am_demo_render(uint8_t *out, int size, int kind, uint64_t seed, uint32_t index, am_demo_look look);

// The same scene as float32 counts in two bands, out (2, size, size): HDU G
// and HDU R (galaxy light 1.5 times brighter in R), each with its own sky
// level (R 1.6 times G's) and noise, sky not subtracted, and NaN bad pixels
// (one in 500, and a dead column in one cutout of ten).
void am_demo_render_bands(float *out, int size, int kind, uint64_t seed, uint32_t index, am_demo_look look);

// Writes DIR/images/NNNNNN.png (o->fits: NNNNNN.fits, am_demo_render_bands), DIR/truth.csv (filename,label,kind for every
// image; label normal/anomaly) and DIR/labels.csv (filename,label of the
// labelled subset), creating DIR as needed. progress != 0 prints progress lines
// on stderr for n >= 10000. 0, or -1 with am_error() set.
int am_demo_write(const char *dir, const am_demo_opts *o, int progress);
