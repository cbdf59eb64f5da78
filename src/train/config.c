#include "am/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "am/error.h"

enum { T_STR, T_INT, T_FLOAT, T_I64, T_SWITCH };

typedef struct { const char *name; int type; size_t off, len; const char *def, *help; } option;

#define S(f, d, h) {#f, T_STR, offsetof(am_config, f), sizeof(((am_config *)0)->f), d, h}
#define I(f, d, h) {#f, T_INT, offsetof(am_config, f), 0, d, h}
#define F(f, d, h) {#f, T_FLOAT, offsetof(am_config, f), 0, d, h}
#define W(f, h) {#f, T_SWITCH, offsetof(am_config, f), 0, "0", h}

static const option options[] = {
    S(images, "", "directory (or text file of paths) of the images"),
    W(recursive, "also list images in subdirectories"),
    S(labels, "", "labels CSV: filename,label with label normal or anomaly"),
    W(replace_labels, "with --resume: --labels is the whole set (images not in it are unlabelled), not additions"),
    S(truth, "", "ground-truth CSV of the pool for metrics (and the simulated oracle)"),
    S(out, "am_out", "output directory"),
    S(weights, "", "initial weights (default: the pretrained Lite0 for lite0, else TF init)"),
    I(pretrained, "1", "start lite0 from the bundled ImageNet weights (0: random init)"),
    S(resume, "", "checkpoint to continue from"),
    S(arch, "lite0", "lite0..lite4, b0..b7"),
    S(device, "auto", "auto (cuda where a GPU is present, else cpu with a notice), cpu, cuda or cuda:N"),
    S(precision, "auto", "auto (bf16 on cuda, fp32 on cpu), fp32, or bf16 (cuda only)"),
    I(size, "64", "image side in pixels after resizing (>= 32)"),
    I(channels, "3", "input channels: 3 RGB (gray replicated), 1 gray, or 2..16 bands"),
    S(stretch, "none", "FITS/TIFF/float data to 8 bits: none, linear, percentile, log, asinh or zscale"),
    F(asinh_scale, "0.7", "asinh stretch: scale (lower = stronger)"),
    F(clip, "99.8", "asinh and percentile stretches: central percentage of pixels kept"),
    I(clip_samples, "2000", "percentiles from about this many pixels per channel (0: all)"),
    F(log_a, "1000", "log stretch: a in log(a x + 1) / log(a + 1)"),
    I(zscale_samples, "1000", "zscale: pixels sampled"),
    F(zscale_contrast, "0.25", "zscale: contrast"),
    F(zscale_max_reject, "0.5", "zscale: most of the samples rejected before giving up"),
    I(zscale_min_pixels, "5", "zscale: fewest samples kept"),
    F(zscale_krej, "2.5", "zscale: rejection threshold in sigma"),
    I(zscale_max_iter, "5", "zscale: rejection iterations"),
    S(fits_ext, "", "FITS HDU: EXTNAME or number, or a list (1,2,3) of bands (default: the first image)"),
    S(bands, "", "objects stored one file per band: the names put for {band} in a path (g,r,i); a directory "
                 "lists NAME_FIRSTBAND.EXT files as objects NAME"),
    S(combine, "", "bands to channels: C rows of N weights, rows split by ';' (\"1,0;0.5,0.5;0,1\")"),
    I(batch, "16", "labelled images per step (B)"),
    I(mu, "5", "unlabelled images per labelled image (mu)"),
    S(loss, "fixmatch", "consistency loss: fixmatch, flexmatch, freematch, softmatch, ... (docs/LOSS.md)"),
    F(tau, "0.95", "pseudo-label confidence threshold"),
    F(lambda_u, "1", "weight of the unlabelled loss"),
    F(T, "0", "soft pseudo-label temperature (0: hard labels)"),
    F(ema_p, "0.999", "freematch and softmatch: momentum of their EMAs of the confidences"),
    F(lambda_e, "0.001", "freematch: weight of the fairness (entropy) loss"),
    F(n_sigma, "2", "softmatch: width of the Gaussian weighting in standard deviations"),
    I(warmup, "1", "flexmatch: thresholds warm up (1) or not (0)"),
    S(optimizer, "sgd", "sgd (Nesterov) or adamw"),
    F(lr, "0.0075", "learning rate"),
    F(momentum, "0.9", "SGD momentum"),
    I(nesterov, "1", "Nesterov momentum (1) or plain (0)"),
    F(wd, "0.00075", "weight decay on conv and FC weights"),
    S(schedule, "constant", "constant or cosine (lr*cos(7*pi*k/16K))"),
    F(ema, "0.99", "EMA decay of the scoring model"),
    F(dropout, "-1", "dropout before the classifier (-1: the architecture's, 0.2 for lite0; 0: off)"),
    F(drop_connect, "0.2", "drop-connect rate of the last block (block i: rate * i / blocks; 0: off)"),
    I(iters, "200", "training steps per cycle"),
    I(cycles, "1", "active-learning cycles (with --oracle, labels are added between cycles)"),
    I(oracle, "0", "simulated oracle: after each cycle label this many top-scored true anomalies and false positives from --truth"),
    S(policy, "usb", "augmentation: usb (strong: 3 ops, continuous; weak: flip and a reflect-padded shift on both "
                     "axes), fixmatch (strong: 2 ops, levels 1-9) or anomalymatch (usb's strong ops with the Python "
                     "tool v1.0's weak view: flip and a vertical-only zero-fill shift)"),
    {"seed", T_I64, offsetof(am_config, seed), 0, "42", "random seed"},
    I(threads, "0", "CPU threads (0: all cores)"),
    I(loader_threads, "1", "image decoding threads"),
    I(top, "100", "candidates in top_candidates.csv and the contact sheet"),
    I(score_batch, "64", "batch size when scoring the pool"),
    I(checkpoint_every, "50", "steps between checkpoints (and at the end of each cycle)"),
    S(trace, "", "side-by-side trace directory: each step's input batch, labels and losses, and the trainer's "
                 "state at --trace-states (bench/side_by_side.py; host augmentation only)"),
    S(trace_states, "0,1,2", "steps after which --trace saves the trainer's state (0: the start)"),
};

#define NOPT (sizeof options / sizeof options[0])

static void norm_key(char *dst, size_t n, const char *key) {
    while (*key == '-') key++;
    size_t i = 0;
    for (; key[i] && i + 1 < n; i++) dst[i] = key[i] == '-' ? '_' : key[i];
    dst[i] = 0;
}

static const option *find(const char *key) {
    char k[64];
    norm_key(k, sizeof k, key);
    for (size_t i = 0; i < NOPT; i++)
        if (!strcmp(options[i].name, k)) return &options[i];
    return NULL;
}

int am_config_is_switch(const char *key) {
    const option *o = find(key);
    return o && o->type == T_SWITCH;
}

int am_config_set(am_config *c, const char *key, const char *value) {
    const option *o = find(key);
    if (!o) return am_seterr("unknown option '%s' (see --help)", key);
    char *p = (char *)c + o->off, *end;
    errno = 0;
    switch (o->type) {
    case T_STR:
        if (strlen(value) >= o->len) return am_seterr("value of '%s' is too long", o->name);
        strcpy(p, value);
        return 0;
    case T_INT: case T_SWITCH: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < INT_MIN || v > INT_MAX)
            return am_seterr("option '%s' needs an integer, got '%s'", o->name, value);
        *(int *)p = (int)v;
        return 0;
    }
    case T_I64: {
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) return am_seterr("option '%s' needs an integer, got '%s'", o->name, value);
        *(int64_t *)p = v;
        return 0;
    }
    default: {
        float v = strtof(value, &end);
        if (errno || end == value || *end || !isfinite(v))
            return am_seterr("option '%s' needs a number, got '%s'", o->name, value);
        *(float *)p = v;
        return 0;
    }
    }
}

void am_config_defaults(am_config *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NOPT; i++) am_config_set(c, options[i].name, options[i].def);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int am_config_read_file(am_config *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return am_seterr("cannot open config file '%s': %s", path, strerror(errno));
    char line[8192];
    int n = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        n++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) { rc = am_seterr("%s:%d: expected 'key = value'", path, n); break; }
        *eq = 0;
        if (am_config_set(c, trim(s), trim(eq + 1))) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", am_error());
            rc = am_seterr("%s:%d: %s", path, n, msg);
        }
    }
    fclose(f);
    return rc;
}

void am_config_write(const am_config *c, FILE *f) {
    for (size_t i = 0; i < NOPT; i++) {
        const option *o = &options[i];
        const char *p = (const char *)c + o->off;
        fprintf(f, "%s = ", o->name);
        if (o->type == T_STR) fprintf(f, "%s\n", p);
        else if (o->type == T_FLOAT) fprintf(f, "%.9g\n", *(const float *)p);
        else if (o->type == T_I64) fprintf(f, "%lld\n", (long long)*(const int64_t *)p);
        else fprintf(f, "%d\n", *(const int *)p);
    }
}

void am_config_help(FILE *f) {
    for (size_t i = 0; i < NOPT; i++) {
        const option *o = &options[i];
        char flag[80];
        snprintf(flag, sizeof flag, "--%s%s", o->name, o->type == T_SWITCH ? "" : " V");
        for (char *q = flag + 2; *q; q++) if (*q == '_') *q = '-';
        fprintf(f, "  %-22s %s%s%s%s\n", flag, o->help, o->def[0] && o->type != T_SWITCH ? " [" : "",
                o->type != T_SWITCH ? o->def : "", o->def[0] && o->type != T_SWITCH ? "]" : "");
    }
}
