// Run configuration of am_train: one table of options, read from a config
// file (`key = value` lines, # comments) and then from --key value flags (the
// same names), printed back as the effective configuration.
#pragma once
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char images[4096], labels[4096], truth[4096], out[4096], weights[4096], resume[4096], trace[4096];
    char trace_states[256];
    int recursive, replace_labels;
    char arch[16], device[16], precision[16], policy[16], optimizer[16], schedule[16], loss[16];
    int size, channels, batch, mu, iters, cycles, oracle, threads, loader_threads, top, score_batch;
    int checkpoint_every, nesterov, pretrained, warmup;
    float tau, lambda_u, T, lr, momentum, wd, ema, ema_p, lambda_e, n_sigma, dropout, drop_connect;
    // The inputs' preprocessing (include/am/inputs.h, stretch.h).
    char stretch[16], fits_ext[64], combine[4096], bands[256];
    float asinh_scale, clip, log_a, zscale_contrast, zscale_max_reject, zscale_krej;
    int clip_samples, zscale_samples, zscale_min_pixels, zscale_max_iter;
    int64_t seed;
} am_config;

void am_config_defaults(am_config *c);
// Reads `key = value` lines. -1 (am_error(), with file:line) on a bad line.
int am_config_read_file(am_config *c, const char *path);
// Sets one option from its name (with or without leading dashes; - and _ are
// the same) and text value. -1 (am_error()) for an unknown name or bad value.
int am_config_set(am_config *c, const char *key, const char *value);
// 1 when the option takes no value (a switch like --recursive).
int am_config_is_switch(const char *key);
void am_config_write(const am_config *c, FILE *f);
void am_config_help(FILE *f);
