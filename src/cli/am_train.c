// am_train: FixMatch training on a folder of images and a labels CSV, then
// the pool ranked by the EMA model's anomaly score; optional active-learning
// cycles with a simulated oracle. See --help for the output directory layout.
// The loader and augmentation run on the CPU; the step and the scoring on a
// CUDA GPU where there is one (--device), else on the CPU. This file is the
// argument handling; the loop is src/train/loop.c (am/loop.h).
#include <stdio.h>
#include <string.h>

#include "am/config.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/loop.h"
#include "am/model.h"
#include "am/ssl.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_train --images DIR|LIST|FILE.h5 --labels CSV [options]\n"
        "       am_train --config FILE [options]\n"
        "FixMatch semi-supervised training of EfficientNet on labelled and unlabelled\n"
        "images, then every unlabelled image scored by the EMA model (anomaly probability).\n"
        "Images are decoded and augmented on the CPU; training and scoring run on a CUDA\n"
        "GPU where there is one (--device auto), in bf16 mixed precision by default.\n\n"
        "Options (also `key = value` lines in a --config file; flags override the file):\n"
        "  --config FILE          read options from FILE first\n");
    am_config_help(f);
    fprintf(f,
        "\nOutput directory (--out):\n"
        "  config.txt             the effective configuration\n"
        "  train_log.jsonl        one line per step: loss, loss_x, loss_u, loss_e (freematch), mask rate, lr, img/s\n"
        "  checkpoint.amck        latest checkpoint (for --resume); written atomically\n"
        "  model_ema.amw          EMA weights, the scoring model\n"
        "  scores.csv             Filename,Score of the unlabelled pool, highest score first\n"
        "  top_candidates.csv     the --top highest; top_candidates.png: their contact sheet\n"
        "  labeled_data.csv       the labels in force (input + oracle); the input CSV is never changed\n"
        "  skipped.txt            unreadable images and why\n"
        "  with --truth: metrics.json (last cycle), metrics_cycles.csv, roc.png, pr.png, score_hist.png\n");
}

static int die(void) {
    fprintf(stderr, "am_train: %s\n", am_error());
    return 1;
}

static int parse_args(am_config *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc && am_config_read_file(c, argv[i + 1])) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) { i++; continue; }
        if (strncmp(a, "--", 2)) return am_seterr("unexpected argument '%s' (options start with --)", a);
        if (am_config_is_switch(a)) { if (am_config_set(c, a, "1")) return -1; continue; }
        if (i + 1 >= argc) return am_seterr("option '%s' needs a value", a);
        if (am_config_set(c, a, argv[++i])) return -1;
    }
    return 0;
}

static int validate(const am_config *c) {
    if (!c->images[0]) return am_seterr("--images is required (a directory, a file list or an HDF5 file)");
    if (!c->labels[0] && !c->resume[0]) return am_seterr("--labels is required (or --resume a checkpoint)");
    if (am_model_check_size(c->size)) return -1;
    if (c->channels < 1 || c->channels > 16) return am_seterr("--channels must be in 1..16");
    if (c->batch < 1 || c->mu < 1 || c->iters < 1 || c->cycles < 1) return am_seterr("--batch, --mu, --iters and --cycles must be >= 1");
    if (c->oracle > 0 && !c->truth[0]) return am_seterr("--oracle needs --truth (the ground-truth CSV)");
    if (strcmp(c->policy, "usb") && strcmp(c->policy, "fixmatch") && strcmp(c->policy, "anomalymatch"))
        return am_seterr("--policy must be usb, fixmatch or anomalymatch");
    if (am_ssl_parse(c->loss) < 0) {
        char names[256] = "";
        for (int k = 0; k < AM_SSL_COUNT; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", am_ssl_name(k));
        return am_seterr("--loss '%s': give one of %s", c->loss, names);
    }
    if (strcmp(c->optimizer, "sgd") && strcmp(c->optimizer, "adamw")) return am_seterr("--optimizer must be sgd or adamw");
    if (strcmp(c->schedule, "constant") && strcmp(c->schedule, "cosine")) return am_seterr("--schedule must be constant or cosine");
    if (!(c->dropout == -1.0f || (c->dropout >= 0.0f && c->dropout < 1.0f))) return am_seterr("--dropout must be -1 or in [0, 1)");
    if (!(c->drop_connect >= 0.0f && c->drop_connect < 1.0f)) return am_seterr("--drop-connect must be in [0, 1)");
    return 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc < 2) { usage(stderr); return 2; }
    static am_config c;
    am_config_defaults(&c);
    if (parse_args(&c, argc, argv) || validate(&c)) return die();
    int ordinal, dt;
    if (am_device_pick(c.device, "am_train", &ordinal) || am_precision_pick(c.precision, ordinal, &dt)) return die();
    static am_run r;
    if (am_run_open(&r, &c, ordinal, dt)) return die();
    int rc = 0;
    for (int cycle = am_run_next_cycle(&r); cycle <= c.cycles && !rc; cycle++) rc = am_run_cycle(&r, cycle);
    am_run_close(&r);
    if (rc) return die();
    printf("results in %s/: scores.csv, top_candidates.csv/.png%s\n", c.out,
           c.truth[0] ? ", metrics.json, roc.png, pr.png, score_hist.png" : "");
    return 0;
}
