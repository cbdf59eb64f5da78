// The inputs module (include/am/inputs.h): preprocessing text, band
// combination and the two paths from a file to the model's 8-bit image.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "am/error.h"
#include "am/files.h"
#include "am/fits.h"
#include "am/image.h"
#include "am/inputs.h"
#include "am/tiff.h"

// File formats by family (the model file's `format`).
enum { K_PNG_JPEG, K_FITS, K_TIFF };
static const char *const kind_names[] = {"png/jpeg", "fits", "tiff"};

void am_preprocess_defaults(am_preprocess *p, int size, int channels) {
    memset(p, 0, sizeof *p);
    p->size = size;
    p->channels = channels;
    am_stretch_defaults(&p->stretch);
}

int am_preprocess_check(const am_preprocess *p) {
    if (p->size < 16 || p->size > 1024) return am_seterr("size %d must be in 16..1024", p->size);
    if (p->channels < 1 || p->channels > AM_MAX_BANDS)
        return am_seterr("channels %d must be in 1..%d", p->channels, AM_MAX_BANDS);
    if (p->bands < 0 || p->bands > AM_MAX_BANDS) return am_seterr("a combination of %d bands (at most %d)", p->bands, AM_MAX_BANDS);
    for (int i = 0; i < p->bands * p->channels; i++)
        if (!isfinite(p->combine[i])) return am_seterr("the combination matrix holds a weight that is not a number");
    return am_stretch_check(&p->stretch);
}

// Divides each row whose weights sum to more than 1 by its sum.
static void combine_rescale(am_preprocess *p) {
    for (int r = 0; r < p->channels; r++) {
        double s = 0;
        for (int b = 0; b < p->bands; b++) s += p->combine[r * p->bands + b];
        if (s > 1)
            for (int b = 0; b < p->bands; b++) p->combine[r * p->bands + b] = (float)(p->combine[r * p->bands + b] / s);
    }
}

int am_combine_parse(am_preprocess *p, const char *text) {
    float m[AM_MAX_BANDS * AM_MAX_BANDS];
    int rows = 0, cols = -1, k = 0;
    const char *s = text;
    if (!*s) {
        p->bands = 0;
        return 0;
    }
    for (;;) {
        int n = 0;
        for (;;) {
            char *end;
            float v = strtof(s, &end);
            if (end == s || !isfinite(v))
                return am_seterr("--combine '%s': '%s' is not a weight (rows split by ';', weights by ',')", text, s);
            if (k >= AM_MAX_BANDS * AM_MAX_BANDS || n >= AM_MAX_BANDS)
                return am_seterr("--combine '%s': at most %d rows of %d weights", text, AM_MAX_BANDS, AM_MAX_BANDS);
            m[k++] = v;
            n++;
            s = end;
            while (*s == ' ') s++;
            if (*s != ',') break;
            s++;
        }
        if (cols >= 0 && n != cols)
            return am_seterr("--combine '%s': row %d has %d weights, row 1 has %d", text, rows + 1, n, cols);
        cols = n;
        rows++;
        if (!*s) break;
        if (*s != ';') return am_seterr("--combine '%s': unexpected '%c' (rows split by ';', weights by ',')", text, *s);
        s++;
    }
    if (rows != p->channels)
        return am_seterr("--combine '%s' has %d rows but the model takes %d channels: give one row per channel", text,
                         rows, p->channels);
    p->bands = cols;
    memcpy(p->combine, m, sizeof(float) * k);
    combine_rescale(p);
    return 0;
}

void am_combine_format(const am_preprocess *p, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (int r = 0; r < p->channels && p->bands; r++)
        for (int b = 0; b < p->bands; b++) {
            int w = snprintf(buf + at, at < n ? n - at : 0, "%s%.9g", b ? "," : r ? ";" : "",
                             p->combine[r * p->bands + b]);
            at += (size_t)(w > 0 ? w : 0);
        }
}

void am_preprocess_text(const am_preprocess *p, char *buf, size_t n) {
    const am_stretch *s = &p->stretch;
    char comb[AM_PREPROCESS_TEXT];
    am_combine_format(p, comb, sizeof comb);
    int w = snprintf(buf, n,
                     "size = %d\nchannels = %d\nstretch = %s\nasinh_scale = %.9g\nclip = %.9g\nclip_samples = %d\nlog_a = %.9g\n"
                     "zscale_samples = %d\nzscale_contrast = %.9g\nzscale_max_reject = %.9g\nzscale_min_pixels = %d\n"
                     "zscale_krej = %.9g\nzscale_max_iter = %d\n",
                     p->size, p->channels, am_stretch_name(s->kind), s->asinh_scale, s->clip, s->clip_samples, s->log_a, s->zs_samples,
                     s->zs_contrast, s->zs_max_reject, s->zs_min_npixels, s->zs_krej, s->zs_max_iter);
    if (w > 0 && (size_t)w < n && p->fits_ext[0]) w += snprintf(buf + w, n - w, "fits_ext = %s\n", p->fits_ext);
    if (w > 0 && (size_t)w < n && p->band_names[0]) w += snprintf(buf + w, n - w, "band_names = %s\n", p->band_names);
    if (w > 0 && (size_t)w < n && p->format[0]) w += snprintf(buf + w, n - w, "format = %s\n", p->format);
    if (w > 0 && (size_t)w < n && p->bands) snprintf(buf + w, n - w, "combine = %s\n", comb);
}

// One `key = value` line into p: 0, or -1.
static int parse_line(am_preprocess *p, const char *line, const char *name) {
    char key[32], val[AM_PREPROCESS_TEXT];
    int used = 0;
    if (sscanf(line, " %31[a-z_] = %8191[^\n]%n", key, val, &used) != 2)
        return am_seterr("'%s': preprocessing line '%s' is not 'key = value': the file is damaged", name, line);
    for (size_t k = strlen(val); k && val[k - 1] == ' '; k--) val[k - 1] = 0;
    am_stretch *s = &p->stretch;
    char *end = NULL;
    double v = strtod(val, &end);
    int num = end != val && !*end;
    struct { const char *key; int is_int; void *at; } keys[] = {
        {"size", 1, &p->size},           {"channels", 1, &p->channels},       {"asinh_scale", 0, &s->asinh_scale},
        {"clip", 0, &s->clip},           {"clip_samples", 1, &s->clip_samples}, {"log_a", 0, &s->log_a},             {"zscale_samples", 1, &s->zs_samples},
        {"zscale_contrast", 0, &s->zs_contrast}, {"zscale_max_reject", 0, &s->zs_max_reject},
        {"zscale_min_pixels", 1, &s->zs_min_npixels}, {"zscale_krej", 0, &s->zs_krej},
        {"zscale_max_iter", 1, &s->zs_max_iter},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (strcmp(key, keys[k].key)) continue;
        if (!num || (keys[k].is_int && (v != floor(v) || fabs(v) > 1e9)))
            return am_seterr("'%s': preprocessing '%s' has a bad value: the file is damaged", name, line);
        if (keys[k].is_int) *(int *)keys[k].at = (int)v;
        else *(float *)keys[k].at = (float)v;
        return 0;
    }
    if (!strcmp(key, "stretch")) {
        int kind = am_stretch_parse(val);
        if (kind < 0) return am_seterr("'%s': preprocessing '%s' is unknown to this am (a newer am wrote the model?): update am", name, line);
        s->kind = kind;
        return 0;
    }
    if (!strcmp(key, "fits_ext") || !strcmp(key, "band_names")) {
        char *to = key[0] == 'f' ? p->fits_ext : p->band_names;
        size_t cap = key[0] == 'f' ? sizeof p->fits_ext : sizeof p->band_names, len = strlen(val);
        if (len >= cap) return am_seterr("'%s': preprocessing '%s' is too long", name, line);
        memcpy(to, val, len + 1);
        return 0;
    }
    if (!strcmp(key, "format")) {
        for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++)
            if (!strcmp(val, kind_names[k])) {
                snprintf(p->format, sizeof p->format, "%s", kind_names[k]);
                return 0;
            }
        return am_seterr("'%s': preprocessing '%s' is unknown to this am (a newer am wrote the model?): update am",
                         name, line);
    }
    if (!strcmp(key, "combine")) {
        if (am_combine_parse(p, val)) return am_seterr("'%s': preprocessing '%s': %s", name, line, am_error());
        return 0;
    }
    return am_seterr("'%s': preprocessing '%s' is unknown to this am (a newer am wrote the model?): update am", name,
                     line);
}

int am_preprocess_parse(am_preprocess *p, const char *text, const char *name) {
    am_preprocess_defaults(p, 0, 0);
    char *copy = strdup(text), *save = NULL;
    AM_CHECK(copy != NULL, "out of memory");
    int rc = 0;
    // channels first: the combination's rows are checked against it.
    const char *ch = strstr(copy, "channels = ");
    if (ch) p->channels = atoi(ch + 11);
    for (char *line = strtok_r(copy, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save))
        rc = parse_line(p, line, name);
    free(copy);
    if (!rc && (!p->size || !p->channels))
        rc = am_seterr("'%s': the preprocessing lacks the size or the channels: the file is damaged", name);
    if (!rc && am_preprocess_check(p)) rc = am_seterr("'%s': preprocessing: %s: the file is damaged", name, am_error());
    return rc;
}

int am_preprocess_diff(const am_preprocess *a, const am_preprocess *b, char *what, size_t n) {
    char ta[AM_PREPROCESS_TEXT], tb[AM_PREPROCESS_TEXT];
    am_preprocess_text(a, ta, sizeof ta);
    am_preprocess_text(b, tb, sizeof tb);
    what[0] = 0;
    // Line by line: the first line of either that the other lacks.
    char *sa = NULL, *sb = NULL;
    char *la = strtok_r(ta, "\n", &sa), *lb = strtok_r(tb, "\n", &sb);
    while (la || lb) {
        if (!la || !lb || strcmp(la, lb)) {
            snprintf(what, n, "%s vs %s", la ? la : "(none)", lb ? lb : "(none)");
            return 1;
        }
        la = strtok_r(NULL, "\n", &sa);
        lb = strtok_r(NULL, "\n", &sb);
    }
    return 0;
}

// ---- from pixels to the model's image ----

// The matrix for N bands into C channels: p's, or the default; -1 if none.
static int matrix(float *m, int N, const am_preprocess *p, const char *name) {
    int C = p->channels;
    if (p->bands) {
        if (p->bands != N)
            return am_seterr("'%s' has %d band%s but the combination matrix takes %d: check --combine and --fits-ext",
                             name, N, N == 1 ? "" : "s", p->bands);
        memcpy(m, p->combine, sizeof(float) * C * N);
        return 0;
    }
    memset(m, 0, sizeof(float) * C * N);
    if (N == 1)
        for (int c = 0; c < C; c++) m[c] = 1;
    else if (N == C || (N == 4 && C == 3))
        for (int c = 0; c < C; c++) m[c * N + c] = 1;
    else
        return am_seterr("'%s' has %d bands but the model takes %d channels: give --combine (%d rows of %d weights, "
                         "e.g. '%s')", name, N, C, C, N,
                         C == 1 ? "0.299,0.587,0.114" : N == 2 ? "1,0;0.5,0.5;0,1" : "1,0,0,...;0,1,0,...;0,0,1,...");
    return 0;
}

// x (n pixels, N bands) -> y (n, C): y = m x per pixel (NaN reaches every channel).
static void combine(float *y, const float *x, size_t n, int N, int C, const float *m) {
    int identity = N == C;
    for (int c = 0; c < C && identity; c++)
        for (int b = 0; b < N && identity; b++) identity = m[c * N + b] == (b == c);
    if (identity) {  // 0 + 1 x = x (a -0 becomes +0: no stretch tells them apart)
        memcpy(y, x, sizeof(float) * n * N);
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            float a = 0;
            for (int b = 0; b < N; b++) a += m[c * N + b] * x[i * N + b];
            y[i * C + c] = a;
        }
}

// Float pixels (h, w, N) of sample type t -> dst (S, S, C). px is freed.
static int from_float_to(uint8_t *dst, int W, int H, float *px, int w, int h, int N, am_sample_type t,
                         const char *name, const am_preprocess *p) {
    int C = p->channels;
    float m[AM_MAX_BANDS * AM_MAX_BANDS];
    size_t finite = 0, all = (size_t)w * h * N;
    for (size_t i = 0; i < all; i++) finite += isfinite(px[i]) != 0;
    if (!finite) {
        free(px);
        return am_seterr("'%s' has no finite pixel (all NaN or Inf): nothing to look at", name);
    }
    if (matrix(m, N, p, name)) {
        free(px);
        return -1;
    }
    if (p->stretch.kind == AM_STRETCH_NONE) {
        // At its own size: combined (an integer type stays integer, as
        // fitsbolt casts back), converted, then resized by Pillow's bilinear.
        size_t n = (size_t)w * h;
        float *y = AM_MALLOC(sizeof(float) * n * C);
        combine(y, px, n, N, C, m);
        free(px);
        if (t != AM_SAMPLE_FLOAT)
            for (size_t i = 0; i < n * C; i++) {
                float v = truncf(y[i]);
                if (t == AM_SAMPLE_U8) v = v < 0 ? 0 : v > 255 ? 255 : v;
                if (t == AM_SAMPLE_U16) v = v < 0 ? 0 : v > 65535 ? 65535 : v;
                y[i] = v;
            }
        uint8_t *u = AM_MALLOC(n * C);
        am_stretch_apply(u, y, w, h, C, &p->stretch, t);
        free(y);
        if (w == W && h == H) memcpy(dst, u, n * C);
        else am_resize_bilinear(dst, W, H, u, w, h, C);
        free(u);
        return 0;
    }
    size_t n = (size_t)W * H;
    float *r = px;
    if (w != W || h != H) {
        r = AM_MALLOC(sizeof(float) * n * N);
        am_resize_float(r, W, H, px, w, h, N);
        free(px);
    }
    float *y = AM_MALLOC(sizeof(float) * n * C);
    combine(y, r, n, N, C, m);
    free(r);
    am_stretch_apply(dst, y, W, H, C, &p->stretch, t);
    free(y);
    return 0;
}

// The model's image: size x size.
static int from_float(uint8_t *dst, float *px, int w, int h, int N, am_sample_type t, const char *name,
                      const am_preprocess *p) {
    return from_float_to(dst, p->size, p->size, px, w, h, N, t, name, p);
}

static int kind(const unsigned char *sig, size_t n) {
    if (am_fits_signature(sig, n)) return K_FITS;
    if (am_tiff_signature(sig, n)) return K_TIFF;
    return K_PNG_JPEG;
}

// -1 (am_error()) when the model was trained on another format family.
static int same_format(int k, const char *name, const am_preprocess *p) {
    if (!p->format[0] || !strcmp(p->format, kind_names[k])) return 0;
    return am_seterr("'%s' is %s but the model was trained on %s images: score images of its kind", name,
                     kind_names[k], p->format);
}

// The 8-bit path through image.c, or the float path from decoded bytes.
static int png_jpeg(uint8_t *dst, const char *path, const void *data, size_t n, const char *name,
                    const am_preprocess *p) {
    if (p->stretch.kind == AM_STRETCH_NONE && !p->bands)
        return data ? am_image_load_memory(dst, data, n, name, p->size, p->channels)
                    : am_image_load(dst, path, p->size, p->channels);
    if (!data) {
        size_t len = 0;
        void *buf = am_file_read(path, &len);
        if (!buf) return -1;
        int rc = png_jpeg(dst, NULL, buf, len, path, p);
        free(buf);
        return rc;
    }
    int w = 0, h = 0, N = 0;
    uint8_t *u = am_image_decode_own(data, n, name, &N, &w, &h);
    if (!u) return -1;
    size_t k = (size_t)w * h * N;
    float *px = AM_MALLOC(sizeof(float) * k);
    for (size_t i = 0; i < k; i++) px[i] = u[i];
    free(u);
    return from_float(dst, px, w, h, N, AM_SAMPLE_U8, name, p);
}

// Splits "file.fits[EXT]" when file.fits exists: 1 with base and ext set.
static int ext_suffix(const char *path, char *base, size_t nb, char *ext, size_t ne) {
    size_t len = strlen(path);
    const char *open = strrchr(path, '[');
    if (!len || path[len - 1] != ']' || !open || (size_t)(open - path) >= nb) return 0;
    snprintf(base, nb, "%.*s", (int)(open - path), path);
    snprintf(ext, ne, "%.*s", (int)(len - 2 - (size_t)(open - path)), open + 1);
    struct stat st;
    return !stat(base, &st);
}

static int load(uint8_t *dst, const char *path, const void *data, size_t n, const char *name, const am_preprocess *p) {
    unsigned char sig[16] = {0};
    size_t got = 0;
    char base[4096], ext[64];
    const char *fext = p->fits_ext, *open_path = path;
    if (data) {
        got = n < sizeof sig ? n : sizeof sig;
        memcpy(sig, data, got);
    } else {
        if (ext_suffix(path, base, sizeof base, ext, sizeof ext)) open_path = base, fext = ext;
        FILE *f = fopen(open_path, "rb");
        if (!f) return am_seterr("cannot open '%s'", path);
        got = fread(sig, 1, sizeof sig, f);
        fclose(f);
    }
    float *px = NULL;
    int w = 0, h = 0, N = 0;
    am_sample_type t = AM_SAMPLE_U8;
    if (same_format(kind(sig, got), name, p)) return -1;
    switch (kind(sig, got)) {
    case K_FITS:
        if (am_fits_read(data ? name : open_path, data, n, fext, &px, &w, &h, &N, &t)) return -1;
        return from_float(dst, px, w, h, N, t, name, p);
    case K_TIFF:
        if (am_tiff_read(data ? name : path, data, n, &px, &w, &h, &N, &t)) return -1;
        return from_float(dst, px, w, h, N, t, name, p);
    default: return png_jpeg(dst, path, data, n, name, p);
    }
}

// The float pixels of one file of any format (8-bit files as their own
// channels), for a band of an object stored one file per band.
static int read_float(const char *path, const am_preprocess *p, float **px, int *w, int *h, int *N,
                      am_sample_type *t) {
    size_t n = 0;
    char *buf = am_file_read(path, &n);
    if (!buf) return am_seterr("cannot open '%s': %s", path, strerror(errno));
    int rc = same_format(kind((const unsigned char *)buf, n), path, p);
    *t = AM_SAMPLE_U8;
    if (rc) *px = NULL;
    else if (am_fits_signature(buf, n)) rc = am_fits_read(path, buf, n, p->fits_ext, px, w, h, N, t);
    else if (am_tiff_signature(buf, n)) rc = am_tiff_read(path, buf, n, px, w, h, N, t);
    else {
        uint8_t *u = am_image_decode_own(buf, n, path, N, w, h);
        if (!u) rc = -1;
        else {
            size_t k = (size_t)*w * *h * *N;
            *px = AM_MALLOC(sizeof(float) * k);
            for (size_t i = 0; i < k; i++) (*px)[i] = u[i];
            free(u);
        }
    }
    free(buf);
    return rc;
}

// An object stored one file per band: path holds "{band}", each name of
// p->band_names is put there in turn, and the files' channels are stacked
// in that order (all of one size) into *all (W, H, N), of the widest type.
static int stack_bands(const char *path, const am_preprocess *p, float **all, int *W, int *H, int *N,
                       am_sample_type *type) {
    char names[sizeof p->band_names], *save = NULL, file[4200];
    snprintf(names, sizeof names, "%s", p->band_names);
    const char *at = strstr(path, "{band}");
    int total = 0, rc = 0;
    *all = NULL;
    *type = AM_SAMPLE_U8;
    for (char *b = strtok_r(names, ",", &save); b && !rc; b = strtok_r(NULL, ",", &save)) {
        snprintf(file, sizeof file, "%.*s%s%s", (int)(at - path), path, b, at + 6);
        float *px = NULL;
        int w, h, n;
        am_sample_type t;
        if (read_float(file, p, &px, &w, &h, &n, &t)) {
            rc = -1;
            break;
        }
        if (total && (w != *W || h != *H))
            rc = am_seterr("'%s' is %d x %d but the object's first band is %d x %d: the bands must be one size", file, w,
                           h, *W, *H);
        else if (total + n > AM_MAX_BANDS)
            rc = am_seterr("'%s': the object has more than %d bands", path, AM_MAX_BANDS);
        else {
            if (!total) {
                *W = w, *H = h;
                *all = AM_MALLOC(sizeof(float) * (size_t)w * h * AM_MAX_BANDS);
            }
            // Restride: the pixels so far keep their place, this file's go after them.
            float *a = *all;
            for (size_t i = (size_t)w * h; i-- > 0;) {
                for (int c = total - 1; c >= 0 && total; c--) a[i * (total + n) + c] = a[i * total + c];
                for (int c = 0; c < n; c++) a[i * (total + n) + total + c] = px[i * n + c];
            }
            total += n;
            if (t > *type) *type = t;
        }
        free(px);
    }
    if (!rc && !total) rc = am_seterr("'%s' names one file per band but --bands gives no band names", path);
    if (rc) {
        free(*all);
        *all = NULL;
        return -1;
    }
    *N = total;
    return 0;
}

static int load_bands(uint8_t *dst, const char *path, const am_preprocess *p) {
    float *all;
    int W, H, N;
    am_sample_type t;
    if (stack_bands(path, p, &all, &W, &H, &N, &t)) return -1;
    return from_float(dst, all, W, H, N, t, path, p);
}

uint8_t *am_input_view(const char *path, const am_preprocess *p, int max_side, int *w, int *h) {
    float *px = NULL;
    int W, H, N, rc;
    am_sample_type t;
    if (strstr(path, "{band}")) rc = stack_bands(path, p, &px, &W, &H, &N, &t);
    else {
        char base[4096], ext[64];
        am_preprocess q = *p;
        const char *open_path = path;
        if (ext_suffix(path, base, sizeof base, ext, sizeof ext)) {
            open_path = base;
            snprintf(q.fits_ext, sizeof q.fits_ext, "%s", ext);
        }
        rc = read_float(open_path, &q, &px, &W, &H, &N, &t);
    }
    if (rc) return NULL;
    // Scaled down to fit max_side, never up.
    int ow = W, oh = H;
    if (W > max_side || H > max_side) {
        ow = W >= H ? max_side : (int)lround((double)W * max_side / H);
        oh = W >= H ? (int)lround((double)H * max_side / W) : max_side;
        ow = ow < 1 ? 1 : ow;
        oh = oh < 1 ? 1 : oh;
    }
    uint8_t *dst = AM_MALLOC((size_t)ow * oh * p->channels);
    if (from_float_to(dst, ow, oh, px, W, H, N, t, path, p)) {
        free(dst);
        return NULL;
    }
    *w = ow;
    *h = oh;
    return dst;
}

int am_input_format(const char *path, const am_preprocess *p, char *out) {
    char file[4200];
    const char *at = strstr(path, "{band}");
    if (at) {
        size_t first = strcspn(p->band_names, ",");
        snprintf(file, sizeof file, "%.*s%.*s%s", (int)(at - path), path, (int)first, p->band_names, at + 6);
        path = file;
    }
    unsigned char sig[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return am_seterr("cannot open '%s': %s", path, strerror(errno));
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    snprintf(out, 16, "%s", kind_names[kind(sig, got)]);
    return 0;
}

int am_input_load(uint8_t *dst, const char *path, const am_preprocess *p) {
    if (strstr(path, "{band}")) return load_bands(dst, path, p);
    return load(dst, path, NULL, 0, path, p);
}

int am_input_pixels(uint8_t *dst, float *px, int w, int h, int bands, am_sample_type t, const char *name,
                    const am_preprocess *p) {
    if (w < 1 || h < 1 || bands < 1 || bands > AM_MAX_BANDS) {
        free(px);
        return am_seterr("'%s' is %d x %d with %d bands: not an image am reads", name, w, h, bands);
    }
    return from_float(dst, px, w, h, bands, t, name, p);
}

int am_input_load_memory(uint8_t *dst, const void *data, size_t n, const char *name, const am_preprocess *p) {
    return load(dst, NULL, data, n, name, p);
}
