// Procedural astronomy cutouts (include/am/demo.h). Lengths are in pixels of a
// 64 px cutout and scale with the size (k = size / 64); intensities are in units
// of the sky noise sigma. A scene is built in float "counts": galaxies, then the
// Gaussian PSF, then stars (already PSF-shaped), then sky + Poisson-like and read
// noise, then an asinh stretch to uint8. The anomalies' features are several
// sigma bright per pixel so that each kind is plain to see in a 64 px cutout;
// the normal galaxies keep their look-alikes (edge-on disks, grand-design spirals).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "am/demo.h"
#include "am/error.h"
#include "am/fits.h"
#include "am/philox.h"
#include "am/plot.h"

enum { STREAM_PARAMS = 0x44454d30, STREAM_NOISE, STREAM_PLAN, STREAM_BAND_NOISE, STREAM_BAD_PIXELS };

static const float PI = 3.14159265f;
static const float BASE = 24.0f, GAIN = 30.0f, SOFT = 3.0f;  // the asinh stretch

// ---- random numbers: sequential Philox words of one (seed, stream, step) -------

typedef struct { uint64_t seed, step; uint32_t stream, ctr; int left; am_u32x4 buf; } prng;

static prng prng_make(uint64_t seed, uint32_t stream, uint64_t step) {
    prng r = {seed, step, stream, 0, 0, {{0, 0, 0, 0}}};
    return r;
}

static uint32_t next32(prng *r) {
    if (!r->left) {
        am_u32x4 c = {{r->ctr++, r->stream, (uint32_t)r->step, (uint32_t)(r->step >> 32)}};
        r->buf = am_philox4x32_10(c, (uint32_t)r->seed, (uint32_t)(r->seed >> 32));
        r->left = 4;
    }
    return r->buf.v[4 - r->left--];
}

static float uni(prng *r) { return am_u01(next32(r)); }
static float range(prng *r, float lo, float hi) { return lo + (hi - lo) * uni(r); }
static float logrange(prng *r, float lo, float hi) { return lo * powf(hi / lo, uni(r)); }
static int chance(prng *r, float p) { return uni(r) < p; }

// Two standard normal deviates (Box-Muller).
static void gauss2(prng *r, float *a, float *b) {
    float u1 = uni(r), u2 = uni(r), m = sqrtf(-2.0f * logf(1.0f - u1));
    *a = m * cosf(2.0f * PI * u2);
    *b = m * sinf(2.0f * PI * u2);
}

// ---- profiles ----------------------------------------------------------------

typedef struct { float *img; int S; float k, sig; } scene;

// Sersic profile I_e exp(-b_n ((r/r_e)^(1/n) - 1)) on an ellipse (axis ratio q,
// position angle pa), optionally with m-armed logarithmic spiral arms of relative
// amplitude arm and pitch angle with tangent tpitch.
typedef struct { float x, y, ie, re, n, q, pa, arm, tpitch, phase; int m; } sersic;

static void add_sersic(scene *sc, const sersic *g) {
    float b = 2.0f * g->n - 1.0f / 3.0f + 4.0f / (405.0f * g->n) + 46.0f / (25515.0f * g->n * g->n);
    float c = cosf(g->pa), s = sinf(g->pa), inv_n = 1.0f / g->n, rmin = 0.35f / g->re;
    float R = fminf(12.0f * g->re / g->q, 1.5f * sc->S);
    int x0 = (int)fmaxf(0.0f, g->x - R), x1 = (int)fminf(sc->S - 1.0f, g->x + R);
    int y0 = (int)fmaxf(0.0f, g->y - R), y1 = (int)fminf(sc->S - 1.0f, g->y + R);
    for (int j = y0; j <= y1; j++)
        for (int i = x0; i <= x1; i++) {
            float dx = i - g->x, dy = j - g->y;
            float u = dx * c + dy * s, v = (-dx * s + dy * c) / g->q;
            float r = fmaxf(sqrtf(u * u + v * v) / g->re, rmin);
            float val = g->ie * expf(-b * (powf(r, inv_n) - 1.0f));
            if (g->arm > 0.0f) {
                float th = atan2f(v, u), lr = logf(r * g->re + 1.0f);
                float w = fminf(1.0f, r);  // arms fade in outside the bulge region
                val *= 1.0f + g->arm * w * cosf(g->m * (th - lr / g->tpitch) + g->phase);
            }
            sc->img[j * sc->S + i] += val;
        }
}

// Circular Gaussian of peak amp and width sd.
static void add_blob(scene *sc, float x, float y, float sd, float amp) {
    float R = 3.5f * sd, inv = 1.0f / (2.0f * sd * sd);
    int x0 = (int)fmaxf(0.0f, x - R), x1 = (int)fminf(sc->S - 1.0f, x + R);
    int y0 = (int)fmaxf(0.0f, y - R), y1 = (int)fminf(sc->S - 1.0f, y + R);
    for (int j = y0; j <= y1; j++)
        for (int i = x0; i <= x1; i++) {
            float dx = i - x, dy = j - y;
            sc->img[j * sc->S + i] += amp * expf(-(dx * dx + dy * dy) * inv);
        }
}

static float angdiff(float a, float b) {
    float d = fmodf(a - b, 2.0f * PI);
    if (d > PI) d -= 2.0f * PI;
    if (d < -PI) d += 2.0f * PI;
    return d;
}

// A ring of radius R and width w on an ellipse, brighter on one side (asym at
// angle th1) and with `nk` star-forming knots.
static void add_ring(scene *sc, prng *r, float x, float y, float R, float w, float q, float pa, float ie) {
    float asym = range(r, 0.0f, 0.7f), th1 = range(r, 0, 2 * PI);
    int nk = 3 + (int)(uni(r) * 6);
    float kth[8], kamp[8], ksd[8];
    for (int i = 0; i < nk; i++) {
        kth[i] = range(r, 0, 2 * PI);
        kamp[i] = range(r, 0.3f, 1.5f);
        ksd[i] = range(r, 0.08f, 0.3f);
    }
    float c = cosf(pa), s = sinf(pa);
    for (int j = 0; j < sc->S; j++)
        for (int i = 0; i < sc->S; i++) {
            float dx = i - x, dy = j - y;
            float u = dx * c + dy * s, v = (-dx * s + dy * c) / q;
            float rr = sqrtf(u * u + v * v), d = (rr - R) / w;
            if (d * d > 25.0f) continue;
            float th = atan2f(v, u), mod = 1.0f + asym * cosf(th - th1);
            for (int k = 0; k < nk; k++) {
                float a = angdiff(th, kth[k]) / ksd[k];
                mod += kamp[k] * expf(-0.5f * a * a);
            }
            sc->img[j * sc->S + i] += ie * mod * expf(-0.5f * d * d);
        }
}

// A lensed arc: thin in radius (wr) around the lens at radius re, extended in
// angle (wphi) about phi0; wphi <= 0 makes a full Einstein ring.
static void add_arc(scene *sc, float x, float y, float re, float wr, float phi0, float wphi, float ie) {
    for (int j = 0; j < sc->S; j++)
        for (int i = 0; i < sc->S; i++) {
            float dx = i - x, dy = j - y, d = (sqrtf(dx * dx + dy * dy) - re) / wr;
            if (d * d > 25.0f) continue;
            float a = angdiff(atan2f(dy, dx), phi0), ang;
            if (wphi > 0.0f) ang = expf(-0.5f * (a / wphi) * (a / wphi));
            else ang = 0.6f + 0.4f * cosf(a);
            sc->img[j * sc->S + i] += ie * ang * expf(-0.5f * d * d);
        }
}

// A tidal tail: a chain of Gaussian blobs along a widening spiral from a
// galaxy at (x, y), fading and broadening outwards, of surface brightness ~ie.
static void add_tail(scene *sc, float x, float y, float phi0, float sweep, float r0, float len, float ie) {
    enum { K = 40 };
    float arc = len + 0.5f * (r0 + len) * fabsf(sweep), step = arc / K;
    for (int t = 0; t < K; t++) {
        float f = (t + 0.5f) / K, rho = r0 + f * len, phi = phi0 + sweep * f;
        float sd = sc->k * (0.9f + 2.2f * f);
        float amp = ie * (1.0f - 0.7f * f) * step / (sd * 2.5066f) * 1.6f;
        add_blob(sc, x + rho * cosf(phi), y + rho * sinf(phi), sd, amp);
    }
}

// A straight satellite trail through (x, y) at angle th, with slow glints.
static void add_trail(scene *sc, prng *r, float x, float y, float th, float wd, float ie) {
    float c = cosf(th), s = sinf(th), per = sc->S * range(r, 0.3f, 1.5f), ph = range(r, 0, 2 * PI);
    float glint = range(r, 0.0f, 0.5f);
    for (int j = 0; j < sc->S; j++)
        for (int i = 0; i < sc->S; i++) {
            float dx = i - x, dy = j - y, d = (-dx * s + dy * c) / wd, t = dx * c + dy * s;
            if (d * d > 25.0f) continue;
            float mod = 1.0f + glint * sinf(2.0f * PI * t / per + ph);
            sc->img[j * sc->S + i] += ie * mod * expf(-0.5f * d * d);
        }
}

// ---- scenes ------------------------------------------------------------------

static void normal_galaxy(scene *sc, prng *r, float cx, float cy) {
    float k = sc->k, sig = sc->sig, pa = range(r, 0, PI), t = uni(r);
    if (t < 0.35f) {  // elliptical / spheroidal
        sersic g = {cx, cy, logrange(r, 1.0f, 10.0f) * sig, k * range(r, 3.5f, 11.0f), range(r, 2.0f, 4.0f),
                    range(r, 0.5f, 1.0f), pa, 0, 1, 0, 0};
        add_sersic(sc, &g);
    } else if (t < 0.8f) {  // bulge + disk, often with spiral arms
        float q = range(r, 0.2f, 1.0f);
        sersic d = {cx, cy, logrange(r, 1.5f, 8.0f) * sig, k * range(r, 5.0f, 14.0f), range(r, 0.8f, 1.2f), q, pa,
                    0, range(r, 0.2f, 0.5f), range(r, 0, 2 * PI), chance(r, 0.8f) ? 2 : 3};
        if (chance(r, 0.65f)) d.arm = range(r, 0.5f, 1.0f);
        sersic b = {cx, cy, logrange(r, 1.0f, 10.0f) * sig, k * range(r, 1.0f, 3.0f), range(r, 1.5f, 4.0f),
                    fmaxf(q, range(r, 0.6f, 1.0f)), pa, 0, 1, 0, 0};
        add_sersic(sc, &d);
        add_sersic(sc, &b);
    } else {  // irregular: a low-index body with a few star-forming clumps
        float re = k * range(r, 4.0f, 10.0f);
        sersic g = {cx, cy, logrange(r, 1.0f, 5.0f) * sig, re, range(r, 0.5f, 1.5f), range(r, 0.3f, 1.0f), pa,
                    0, 1, 0, 0};
        add_sersic(sc, &g);
        int nc = 2 + (int)(uni(r) * 4);
        for (int i = 0; i < nc; i++) {
            float a = range(r, 0, 2 * PI), d = re * range(r, 0.1f, 1.0f);
            add_blob(sc, cx + d * cosf(a), cy + d * sinf(a), k * range(r, 0.6f, 1.4f), logrange(r, 1.0f, 6.0f) * sig);
        }
    }
}

static void ring_galaxy(scene *sc, prng *r, float cx, float cy) {
    float k = sc->k, sig = sc->sig, R = k * range(r, 8.0f, 18.0f), q = range(r, 0.45f, 1.0f), pa = range(r, 0, PI);
    float off = R * range(r, 0.0f, 0.3f), oa = range(r, 0, 2 * PI);
    if (chance(r, 0.5f)) {  // faint inner disk
        sersic d = {cx, cy, logrange(r, 0.3f, 1.0f) * sig, R * range(r, 0.4f, 0.7f), 1.0f, q, pa, 0, 1, 0, 0};
        add_sersic(sc, &d);
    }
    add_ring(sc, r, cx, cy, R, R * range(r, 0.1f, 0.22f), q, pa, logrange(r, 3.0f, 10.0f) * sig);
    sersic nuc = {cx + off * cosf(oa), cy + off * sinf(oa), logrange(r, 2.0f, 10.0f) * sig, k * range(r, 1.0f, 2.5f),
                  range(r, 1.5f, 4.0f), range(r, 0.6f, 1.0f), range(r, 0, PI), 0, 1, 0, 0};
    add_sersic(sc, &nuc);
}

static void lens_system(scene *sc, prng *r, float cx, float cy) {
    float k = sc->k, sig = sc->sig;
    sersic g = {cx, cy, logrange(r, 2.0f, 10.0f) * sig, k * range(r, 2.0f, 5.0f), range(r, 3.0f, 4.0f),
                range(r, 0.6f, 1.0f), range(r, 0, PI), 0, 1, 0, 0};
    add_sersic(sc, &g);
    float te = k * range(r, 10.0f, 16.0f), wr = k * range(r, 0.9f, 1.6f), phi = range(r, 0, 2 * PI);
    float ie = logrange(r, 10.0f, 30.0f) * sig;
    if (chance(r, 0.2f)) {
        add_arc(sc, cx, cy, te, wr, phi, 0.0f, ie);
        return;
    }
    float wphi = range(r, 0.5f, 1.1f);
    add_arc(sc, cx, cy, te, wr, phi, wphi, ie);
    if (chance(r, 0.6f))  // counter-image: inside the Einstein radius, shorter, fainter
        add_arc(sc, cx, cy, te * range(r, 0.65f, 0.95f), wr, phi + PI + range(r, -0.4f, 0.4f),
                wphi * range(r, 0.2f, 0.4f), ie * range(r, 0.4f, 0.9f));
    if (chance(r, 0.3f))  // a second arc of a fold or cusp configuration
        add_arc(sc, cx, cy, te * range(r, 0.95f, 1.05f), wr, phi + (chance(r, 0.5f) ? 1 : -1) * range(r, 1.2f, 2.0f),
                wphi * range(r, 0.3f, 0.6f), ie * range(r, 0.5f, 1.0f));
}

static void merger(scene *sc, prng *r, float cx, float cy) {
    float k = sc->k, sig = sc->sig, sep = k * range(r, 5.0f, 14.0f), a = range(r, 0, 2 * PI);
    float x[2] = {cx - 0.5f * sep * cosf(a), cx + 0.5f * sep * cosf(a)};
    float y[2] = {cy - 0.5f * sep * sinf(a), cy + 0.5f * sep * sinf(a)};
    float ie = logrange(r, 1.5f, 10.0f) * sig, sense = chance(r, 0.5f) ? 1.0f : -1.0f;
    for (int i = 0; i < 2; i++) {
        sersic g = {x[i], y[i], ie * (i ? range(r, 0.3f, 1.0f) : 1.0f), k * range(r, 2.0f, 5.0f), range(r, 1.0f, 3.0f),
                    range(r, 0.4f, 1.0f), range(r, 0, PI), 0, 1, 0, 0};
        add_sersic(sc, &g);
        if (i == 0 || chance(r, 0.7f))  // tails leave from opposite sides, curling the same way
            add_tail(sc, x[i], y[i], a + (i ? 0.0f : PI) + range(r, -0.5f, 0.5f), sense * range(r, 1.2f, 3.0f),
                     k * range(r, 1.5f, 3.5f), k * range(r, 10.0f, 24.0f), logrange(r, 3.0f, 10.0f) * sig);
    }
    if (chance(r, 0.5f)) add_tail(sc, x[0], y[0], a, 0.0f, 0.0f, sep, logrange(r, 0.4f, 1.5f) * sig);  // bridge
}

// Faint background galaxies anywhere in the field.
static void companions(scene *sc, prng *r) {
    int nc = chance(r, 0.6f) + chance(r, 0.3f) + chance(r, 0.1f);
    for (int i = 0; i < nc; i++) {
        sersic g = {range(r, 0, sc->S), range(r, 0, sc->S), logrange(r, 0.5f, 4.0f) * sc->sig,
                    sc->k * range(r, 0.8f, 3.0f), range(r, 0.7f, 3.0f), range(r, 0.4f, 1.0f), range(r, 0, PI),
                    0, 1, 0, 0};
        add_sersic(sc, &g);
    }
}

// Separable Gaussian blur of width sd, edges clamped; the inner loops run
// along rows so that they vectorise.
static void blur(scene *sc, float sd) {
    int S = sc->S, R = (int)ceilf(3.0f * sd);
    if (R > 32) R = 32;
    float w[65], sum = 0.0f;
    for (int i = -R; i <= R; i++) sum += w[i + R] = expf(-0.5f * i * i / (sd * sd));
    for (int i = 0; i <= 2 * R; i++) w[i] /= sum;
    float *tmp = AM_MALLOC(sizeof(float) * (size_t)S * (size_t)S), *pad = AM_MALLOC(sizeof(float) * (size_t)(S + 2 * R));
    for (int j = 0; j < S; j++) {
        const float *row = sc->img + (size_t)j * S;
        float *o = tmp + (size_t)j * S;
        for (int i = -R; i < S + R; i++) pad[i + R] = row[i < 0 ? 0 : i >= S ? S - 1 : i];
        for (int i = 0; i < S; i++) o[i] = 0.0f;
        for (int t = 0; t <= 2 * R; t++)
            for (int i = 0; i < S; i++) o[i] += w[t] * pad[i + t];
    }
    for (int j = 0; j < S; j++) {
        float *o = sc->img + (size_t)j * S;
        for (int i = 0; i < S; i++) o[i] = 0.0f;
        for (int t = -R; t <= R; t++) {
            int jj = j + t < 0 ? 0 : j + t >= S ? S - 1 : j + t;
            const float *in = tmp + (size_t)jj * S;
            for (int i = 0; i < S; i++) o[i] += w[t + R] * in[i];
        }
    }
    free(tmp);
    free(pad);
}

// The noiseless scene of image `index` (sc->img, counts above the sky; free
// it) and its sky level and read noise.
static void build_scene(scene *sc_out, float *sky_out, float *rd_out, int size, int kind, uint64_t seed, uint32_t index,
                        am_demo_look look) {
    prng r = prng_make(seed, STREAM_PARAMS, index);
    float sky = range(&r, 60.0f, 200.0f), rd = range(&r, 3.0f, 8.0f), pix = size / 64.0f;
    scene sc = {AM_CALLOC(sizeof(float) * (size_t)size * (size_t)size), size, pix * look.scale, sqrtf(sky + rd * rd)};
    float psf = pix * range(&r, 0.9f, 1.7f);
    float cx = 0.5f * size + sc.k * range(&r, -3.0f, 3.0f), cy = 0.5f * size + sc.k * range(&r, -3.0f, 3.0f);
    // Each kind draws from its own stream so the shared scene above is unchanged.
    prng g = prng_make(seed, STREAM_PARAMS + 16 + (uint32_t)kind, index);
    if (kind == AM_DEMO_RING) ring_galaxy(&sc, &g, cx, cy);
    else if (kind == AM_DEMO_LENS) lens_system(&sc, &g, cx, cy);
    else if (kind == AM_DEMO_MERGER) merger(&sc, &g, cx, cy);
    else normal_galaxy(&sc, &g, cx, cy);
    companions(&sc, &r);
    if (kind == AM_DEMO_TRAIL)  // through the central half, so that it crosses the cutout
        add_trail(&sc, &g, range(&g, 0.25f, 0.75f) * size, range(&g, 0.25f, 0.75f) * size, range(&g, 0, PI),
                  sc.k * range(&g, 0.7f, 1.3f), logrange(&g, 8.0f, 25.0f) * sc.sig);
    if (look.brightness != 1.0f)
        for (int i = 0; i < size * size; i++) sc.img[i] *= look.brightness;
    blur(&sc, psf);
    int ns = chance(&r, 0.5f) + chance(&r, 0.25f) + chance(&r, 0.1f);
    for (int i = 0; i < ns; i++) {
        float flux = logrange(&r, 15.0f, 3000.0f) * sc.sig;
        add_blob(&sc, range(&r, 0, size), range(&r, 0, size), psf, flux / (2.0f * PI * psf * psf));
    }
    *sc_out = sc;
    *sky_out = sky;
    *rd_out = rd;
}

void am_demo_render(uint8_t *out, int size, int kind, uint64_t seed, uint32_t index, am_demo_look look) {
    scene sc;
    float sky, rd;
    build_scene(&sc, &sky, &rd, size, kind, seed, index, look);
    // Stretch: level = round(BASE + GAIN asinh(x / (SOFT sigma))), clipped, found
    // by binary search over the 255 level boundaries instead of an asinh per pixel.
    float edge[384];
    for (int l = 0; l < 384; l++) edge[l] = l < 256 ? SOFT * sc.sig * sinhf((l - 0.5f - BASE) / GAIN) : INFINITY;
    prng nz = prng_make(seed, STREAM_NOISE, index);
    for (int i = 0; i < size * size; i += 2) {
        float e[2];
        gauss2(&nz, &e[0], &e[1]);
        for (int t = 0; t < 2 && i + t < size * size; t++) {
            float f = sc.img[i + t], x = f + sqrtf(rd * rd + sky + fmaxf(f, 0.0f)) * e[t];
            int lo = 0;
            for (int step = 128; step; step >>= 1) lo += (edge[lo + step] <= x) * step;
            out[i + t] = (uint8_t)lo;
        }
    }
    free(sc.img);
}

void am_demo_render_bands(float *out, int size, int kind, uint64_t seed, uint32_t index, am_demo_look look) {
    static const float colour[AM_DEMO_BANDS] = {1.0f, 1.5f}, skyf[AM_DEMO_BANDS] = {1.0f, 1.6f};
    scene sc;
    float sky, rd;
    build_scene(&sc, &sky, &rd, size, kind, seed, index, look);
    size_t n = (size_t)size * size;
    for (int b = 0; b < AM_DEMO_BANDS; b++) {
        float *o = out + n * b, s = sky * skyf[b];
        prng nz = prng_make(seed, STREAM_BAND_NOISE + 16 * (uint32_t)b, index);
        for (size_t i = 0; i < n; i += 2) {
            float e[2];
            gauss2(&nz, &e[0], &e[1]);
            for (size_t t = 0; t < 2 && i + t < n; t++) {
                float f = colour[b] * sc.img[i + t];
                o[i + t] = s + f + sqrtf(rd * rd + s + fmaxf(f, 0.0f)) * e[t];
            }
        }
        // Bad pixels: one in 500, and a dead column one cutout in ten.
        prng bad = prng_make(seed, STREAM_BAD_PIXELS + 16 * (uint32_t)b, index);
        for (size_t k = 0; k < n / 500 + 1; k++) o[(size_t)(uni(&bad) * n) % n] = NAN;
        if (chance(&bad, 0.1f)) {
            int x = (int)(uni(&bad) * size) % size;
            for (int y = 0; y < size; y++) o[(size_t)y * size + x] = NAN;
        }
    }
    free(sc.img);
}

// ---- the data set ------------------------------------------------------------

const char *am_demo_kind_name(int kind) {
    static const char *names[AM_DEMO_KINDS] = {"normal", "ring", "lens", "merger", "trail"};
    return kind >= 0 && kind < AM_DEMO_KINDS ? names[kind] : "unknown";
}

int am_demo_plan(uint8_t *kinds, uint8_t *labeled, const am_demo_opts *o) {
    if (o->n < 1) return am_seterr("demo: --n %d: need at least 1 image", o->n);
    if (o->size < 16 || o->size > 1024) return am_seterr("demo: --size %d is not in 16..1024", o->size);
    if (!(o->anomaly_rate >= 0.0 && o->anomaly_rate <= 1.0))
        return am_seterr("demo: --anomaly-rate %g is not in 0..1", o->anomaly_rate);
    if (o->labeled_anomalies < 0 || o->labeled_normals < 0) return am_seterr("demo: negative labelled counts");
    if (!(o->look.scale >= 0.1f && o->look.scale <= 4.0f)) return am_seterr("demo: --scale %g is not in 0.1..4", o->look.scale);
    if (!(o->look.brightness > 0.0f && o->look.brightness <= 10.0f))
        return am_seterr("demo: --brightness %g is not in (0, 10]", o->look.brightness);
    size_t n = (size_t)o->n, na = (size_t)llround(o->anomaly_rate * o->n);
    if ((size_t)o->labeled_anomalies > na)
        return am_seterr("demo: %d labelled anomalies asked for, but only %zu of the %d images are anomalies "
                         "(raise --n or --anomaly-rate)", o->labeled_anomalies, na, o->n);
    if ((size_t)o->labeled_normals > n - na)
        return am_seterr("demo: %d labelled normal images asked for, but only %zu are normal", o->labeled_normals,
                         n - na);
    uint32_t *idx = AM_MALLOC(sizeof(uint32_t) * n);
    for (size_t i = 0; i < n; i++) {
        idx[i] = (uint32_t)i;
        kinds[i] = AM_DEMO_NORMAL;
        labeled[i] = 0;
    }
    // A partial Fisher-Yates shuffle: the first na picks are the anomalies (kinds
    // in turn), the next labeled_normals picks the labelled normal images.
    prng r = prng_make(o->seed, STREAM_PLAN, 0);
    size_t picks = na + (size_t)o->labeled_normals;
    for (size_t j = 0; j < picks; j++) {
        uint64_t w = ((uint64_t)next32(&r) << 32) | next32(&r);
        size_t t = j + (size_t)(w % (n - j));
        uint32_t tmp = idx[j];
        idx[j] = idx[t];
        idx[t] = tmp;
        if (j < na) kinds[idx[j]] = (uint8_t)(1 + j % (AM_DEMO_KINDS - 1));
        if (j < (size_t)o->labeled_anomalies || j >= na) labeled[idx[j]] = 1;
    }
    free(idx);
    return 0;
}

static int make_dir(const char *path) {
    char *p = AM_MALLOC(strlen(path) + 1);
    strcpy(p, path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        struct stat st;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = am_seterr("cannot create directory '%s': %s", p, strerror(errno));
        else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) rc = am_seterr("cannot create directory '%s': a file is in the way", p);
        *s = c;
        if (rc || !c) break;
    }
    free(p);
    return rc;
}

// Writes a CSV of the images with keep[i] (all when keep is NULL), atomically.
static int write_csv(const char *path, const uint8_t *kinds, const uint8_t *keep, int n, int with_kind, const char *ext) {
    size_t len = strlen(path) + 16;
    char *tmp = AM_MALLOC(len);
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        am_seterr("cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    fprintf(f, with_kind ? "filename,label,kind\n" : "filename,label\n");
    for (int i = 0; i < n; i++) {
        if (keep && !keep[i]) continue;
        fprintf(f, "%06d.%s,%s", i, ext, kinds[i] ? "anomaly" : "normal");
        if (with_kind) fprintf(f, ",%s", am_demo_kind_name(kinds[i]));
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        am_seterr("cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int am_demo_write(const char *dir, const am_demo_opts *o, int progress) {
    if (o->n < 1) return am_seterr("demo: --n %d: need at least 1 image", o->n);
    uint8_t *kinds = AM_MALLOC((size_t)o->n), *labeled = AM_MALLOC((size_t)o->n);
    size_t len = strlen(dir) + 32;
    char *path = AM_MALLOC(len);
    int rc = am_demo_plan(kinds, labeled, o);
    snprintf(path, len, "%s/images", dir);
    if (!rc) rc = make_dir(path);
    if (!rc) {
        int failed = 0, done = 0, every = o->n / 10;
        char msg[1024] = "";
        #pragma omp parallel
        {
            uint8_t *img = AM_MALLOC((size_t)o->size * (size_t)o->size);
            float *flux = o->fits ? AM_MALLOC(sizeof(float) * (size_t)o->size * o->size * AM_DEMO_BANDS) : NULL;
            static const char *const bands[AM_DEMO_BANDS] = {"G", "R"};
            char *p = AM_MALLOC(len);
            #pragma omp for schedule(dynamic, 16)
            for (int i = 0; i < o->n; i++) {
                int stop;
                #pragma omp atomic read
                stop = failed;
                if (stop) continue;
                int bad;
                if (o->fits) {
                    am_demo_render_bands(flux, o->size, kinds[i], o->seed, (uint32_t)i, o->look);
                    snprintf(p, len, "%s/images/%06d.fits", dir, i);
                    bad = am_fits_write(p, flux, o->size, o->size, AM_DEMO_BANDS, bands);
                } else {
                    am_demo_render(img, o->size, kinds[i], o->seed, (uint32_t)i, o->look);
                    snprintf(p, len, "%s/images/%06d.png", dir, i);
                    bad = am_png_write(p, img, o->size, o->size, 1);
                }
                if (bad) {
                    #pragma omp critical(am_demo_error)
                    if (!msg[0]) snprintf(msg, sizeof msg, "%s", am_error());
                    #pragma omp atomic write
                    failed = 1;
                }
                int d;
                #pragma omp atomic capture
                d = ++done;
                if (progress && o->n >= 10000 && d % every == 0)
                    fprintf(stderr, "am_demo: %d%% (%d/%d images)\n", (int)(100.0 * d / o->n + 0.5), d, o->n);
            }
            free(img);
            free(flux);
            free(p);
        }
        if (failed) rc = am_seterr("%s", msg);
    }
    if (!rc) {
        snprintf(path, len, "%s/truth.csv", dir);
        rc = write_csv(path, kinds, NULL, o->n, 1, o->fits ? "fits" : "png");
    }
    if (!rc) {
        snprintf(path, len, "%s/labels.csv", dir);
        rc = write_csv(path, kinds, labeled, o->n, 0, o->fits ? "fits" : "png");
    }
    free(kinds);
    free(labeled);
    free(path);
    return rc;
}
