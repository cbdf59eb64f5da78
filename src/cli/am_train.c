// am_train: FixMatch training on a folder of images and a labels CSV, then
// the pool ranked by the EMA model's anomaly score; optional active-learning
// cycles with a simulated oracle. See --help for the output directory layout.
// The loader and augmentation run on the CPU; the step and the scoring on a
// CUDA GPU where there is one (--device), else on the CPU.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "am/augment.h"
#include "am/batches.h"
#include "am/cli.h"
#include "am/config.h"
#include "am/dataset.h"
#include "am/error.h"
#include "am/gpu.h"
#include "am/image.h"
#include "am/log.h"
#include "am/metrics.h"
#include "am/plot.h"
#include "am/prefetch.h"
#include "am/progress.h"
#include "am/train.h"
#include "am/weights.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: am_train --images DIR --labels CSV [options]\n"
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
        "  train_log.jsonl        one line per step: loss, loss_x, loss_u, mask rate, lr, img/s\n"
        "  checkpoint.amck        latest checkpoint (for --resume); written atomically\n"
        "  model_ema.amw          EMA weights, the scoring model\n"
        "  scores.csv             Filename,Score of the unlabelled pool, highest score first\n"
        "  top_candidates.csv     the --top highest; top_candidates.png: their contact sheet\n"
        "  labeled_data.csv       the labels in force (input + oracle); the input CSV is never changed\n"
        "  skipped.txt            unreadable images and why\n"
        "  with --truth: metrics.json (last cycle), metrics_cycles.csv, roc.png, pr.png, score_hist.png\n");
}

typedef struct {
    am_config c;
    am_dataset d;
    am_trainer t;
    am_batcher b;
    float *score;  // per dataset index; NAN when not scored
    int *truth;    // per dataset index: AM_NORMAL/AM_ANOMALY from --truth, or AM_UNLABELLED
} run;

static int die(const char *what) {
    fprintf(stderr, "am_train: %s%s%s\n", what ? what : "", what ? ": " : "", am_error());
    return 1;
}

static void out_path(char *dst, size_t n, const run *r, const char *name) {
    snprintf(dst, n, "%s/%s", r->c.out, name);
}

static int mkdir_p(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') { *s = 0; mkdir(p, 0755); *s = '/'; }
    if (mkdir(p, 0755) && errno != EEXIST) return am_seterr("cannot create output directory '%s': %s", dir, strerror(errno));
    return 0;
}

// The checkpoint's texts: the effective configuration, and the labels in
// force as a CSV `filename,label` (every filename quoted, its quotes doubled).
static void state_text(const run *r, char **config, char **labels) {
    size_t len;
    FILE *f = open_memstream(config, &len);
    am_config_write(&r->c, f);
    fclose(f);
    f = open_memstream(labels, &len);
    fprintf(f, "filename,label\n");
    for (int i = 0; i < r->d.n; i++) {
        if (r->d.label[i] == AM_UNLABELLED) continue;
        fputc('"', f);
        for (const char *s = r->d.names[i]; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
        fprintf(f, "\",%s\n", r->d.label[i] == AM_ANOMALY ? "anomaly" : "normal");
    }
    fclose(f);
}

// One CSV field at *s into out (RFC 4180: a quoted field may hold commas,
// line ends and doubled quotes; longer than cap, it is cut). *s moves past
// the field and the comma or line end after it, which is returned (0 at the
// end of the text).
static char csv_field(const char **s, char *out, size_t cap) {
    const char *p = *s;
    size_t n = 0;
    int quoted = *p == '"';
    for (p += quoted; *p; p++) {
        if (quoted && *p == '"' && p[1] != '"') { quoted = 0; continue; }
        if (quoted && *p == '"') p++;
        else if (!quoted && (*p == ',' || *p == '\n')) break;
        if (n + 1 < cap) out[n++] = *p;
    }
    out[n] = 0;
    *s = *p ? p + 1 : p;
    return *p;
}

// The labels of a checkpoint (state_text's CSV) applied to the images.
static void apply_state_labels(run *r, const char *csv) {
    int applied = 0;
    for (int row = 1; *csv; row++) {
        char name[4096], lab[16] = "", rest[16];
        char end = csv_field(&csv, name, sizeof name);
        if (end == ',') end = csv_field(&csv, lab, sizeof lab);
        while (end == ',') end = csv_field(&csv, rest, sizeof rest);
        if ((row == 1 && !strcmp(name, "filename")) || (!name[0] && !lab[0])) continue;
        int label = !strcmp(lab, "anomaly") ? AM_ANOMALY : !strcmp(lab, "normal") ? AM_NORMAL : AM_UNLABELLED;
        if (label == AM_UNLABELLED) {
            am_warn("checkpoint labels, row %d: '%s' has no label normal or anomaly", row, name);
            continue;
        }
        int i = am_dataset_find(&r->d, name);
        if (i < 0) { am_warn("checkpoint labels '%s', which is no longer among the images", name); continue; }
        r->d.label[i] = label;
        applied++;
    }
    am_info("resumed %d labels from the checkpoint", applied);
}

static int write_labels_csv(const run *r) {
    char path[4200], tmp[4300];
    out_path(path, sizeof path, r, "labeled_data.csv");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return am_seterr("cannot write '%s': %s", tmp, strerror(errno));
    fprintf(f, "filename,label\n");
    for (int i = 0; i < r->d.n; i++)
        if (r->d.label[i] != AM_UNLABELLED)
            fprintf(f, "%s,%s\n", r->d.names[i], r->d.label[i] == AM_ANOMALY ? "anomaly" : "normal");
    if (fclose(f) || rename(tmp, path)) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    return 0;
}

static int save_checkpoint(run *r) {
    char path[4200];
    out_path(path, sizeof path, r, "checkpoint.amck");
    char *config, *labels;
    state_text(r, &config, &labels);
    int rc = am_checkpoint_save(&r->t, path, config, labels);
    free(config);
    free(labels);
    return rc;
}

static int train_cycle(run *r, uint64_t end, FILE *log) {
    am_batcher *b = &r->b;
    uint64_t first = r->t.step;
    if (first >= end) return 0;
    am_prefetch *pf = am_prefetch_start(am_train_fill, b, am_train_slot_bytes(b), 3, first, end - first);
    am_progress p;
    am_progress_start(&p, "train", end - first, "step");
    int rows = b->B + 2 * b->U;
    struct timespec t0, t1;
    for (uint64_t k = first; k < end; k++) {
        void *slot = am_prefetch_next(pf, k);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        float lr = am_train_lr(&r->t.hp, k);
        int *labels = am_train_slot_labels(b, slot);
        am_fixmatch_stats st = b->aug_on_gpu ? am_train_step_views(&r->t, am_train_slot_raw(b, slot),
                                                                   am_train_slot_plans(b, slot), labels, b->S)
                                             : am_train_step(&r->t, am_train_slot_x(b, slot), labels, b->S);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        fprintf(log, "{\"step\": %llu, \"loss\": %.6f, \"loss_x\": %.6f, \"loss_u\": %.6f, \"mask_rate\": %.4f, "
                     "\"lr\": %.6g, \"img_s\": %.1f}\n",
                (unsigned long long)k + 1, st.loss, st.loss_x, st.loss_u, st.mask_rate, lr, rows / dt);
        char extra[128];
        snprintf(extra, sizeof extra, "loss %.3f mask %.2f lr %.4g %.0f img/s", st.loss, st.mask_rate, lr, rows / dt);
        am_progress_update(&p, k + 1 - first, extra);
        if (!isfinite(st.loss)) {
            am_prefetch_stop(pf);
            return am_seterr("the loss became %f at step %llu: lower --lr", st.loss, (unsigned long long)k + 1);
        }
        if (r->c.checkpoint_every > 0 && (k + 1) % (uint64_t)r->c.checkpoint_every == 0 && k + 1 < end) {
            fflush(log);
            if (save_checkpoint(r)) { am_prefetch_stop(pf); return -1; }
        }
    }
    am_progress_end(&p, NULL);
    am_prefetch_stop(pf);
    fflush(log);
    return save_checkpoint(r);
}

static void score_pool(run *r) {
    am_batcher *b = &r->b;
    uint64_t jobs = ((uint64_t)b->npool + b->score_batch - 1) / b->score_batch;
    for (int i = 0; i < r->d.n; i++) r->score[i] = NAN;
    if (!jobs) return;
    am_prefetch *pf = am_prefetch_start(am_score_fill, b, am_score_slot_bytes(b), 3, 0, jobs);
    am_progress p;
    am_progress_start(&p, "score", (uint64_t)b->npool, "img");
    int K = r->t.ema.arch.classes, done = 0;
    for (uint64_t j = 0; j < jobs; j++) {
        void *slot = am_prefetch_next(pf, j);
        am_score_head *h = am_score_slot_head(slot);
        const float *z = am_trainer_score(&r->t, am_score_slot_x(slot), h->n, b->S);
        for (int i = 0; i < h->n; i++) {
            if (!h->ok[i]) continue;
            const float *zi = z + (size_t)i * K;
            float m = fmaxf(zi[0], zi[1]);
            r->score[h->idx[i]] = expf(zi[1] - m) / (expf(zi[0] - m) + expf(zi[1] - m));
        }
        done += h->n;
        am_progress_update(&p, (uint64_t)done, NULL);
    }
    am_progress_end(&p, NULL);
    am_prefetch_stop(pf);
}

static const float *sort_scores;
static int by_score_desc(const void *a, const void *b) {
    float x = sort_scores[*(const int *)a], y = sort_scores[*(const int *)b];
    return (x < y) - (x > y);
}

// Pool indices with a score, highest first.
static int *ranked(const run *r, int *n) {
    int *idx = AM_MALLOC(sizeof(int) * (size_t)r->d.n);
    *n = 0;
    for (int i = 0; i < r->d.n; i++)
        if (r->d.label[i] == AM_UNLABELLED && !isnan(r->score[i])) idx[(*n)++] = i;
    sort_scores = r->score;
    qsort(idx, (size_t)*n, sizeof(int), by_score_desc);
    return idx;
}

static int write_scores(const run *r, const int *idx, int n) {
    char path[4200], tmp[4300];
    for (int pass = 0; pass < 2; pass++) {
        out_path(path, sizeof path, r, pass ? "top_candidates.csv" : "scores.csv");
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        if (!f) return am_seterr("cannot write '%s': %s", tmp, strerror(errno));
        fprintf(f, "Filename,Score\n");
        int m = pass && r->c.top < n ? r->c.top : n;
        for (int i = 0; i < m; i++) fprintf(f, "%s,%.6f\n", r->d.names[idx[i]], r->score[idx[i]]);
        if (fclose(f) || rename(tmp, path)) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    }
    int m = r->c.top < n ? r->c.top : n;
    if (m > 64) m = 64;
    size_t img = (size_t)r->b.S * r->b.S * r->b.C;
    uint8_t *pix = AM_CALLOC(img * (m ? m : 1));
    const uint8_t **ims = AM_MALLOC(sizeof(uint8_t *) * (m ? m : 1));
    char **caps = AM_MALLOC(sizeof(char *) * (m ? m : 1));
    for (int i = 0; i < m; i++) {
        am_image_load(pix + img * i, r->d.paths[idx[i]], r->b.S, r->b.C);
        ims[i] = pix + img * i;
        caps[i] = AM_MALLOC(64);
        snprintf(caps[i], 64, "%d %.3f", i + 1, r->score[idx[i]]);
    }
    out_path(path, sizeof path, r, "top_candidates.png");
    int scale = r->b.S < 96 ? 2 : 1;
    int rc = m ? am_image_grid_png(path, ims, (const char *const *)caps, m, 8, r->b.S, r->b.S, r->b.C, scale) : 0;
    for (int i = 0; i < m; i++) free(caps[i]);
    free(caps);
    free(ims);
    free(pix);
    return rc;
}

static int write_skipped(const run *r) {
    char path[4200];
    out_path(path, sizeof path, r, "skipped.txt");
    FILE *f = fopen(path, "w");
    if (!f) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    for (int i = 0; i < r->d.n; i++)
        if (r->b.bad[i]) fprintf(f, "%s\tunreadable (see the warning in the log)\n", r->d.paths[i]);
    fclose(f);
    return 0;
}

// Metrics over the scored pool images that --truth labels.
static int evaluate(run *r, int cycle) {
    size_t n = 0;
    float *s = AM_MALLOC(sizeof(float) * (size_t)r->d.n);
    int *l = AM_MALLOC(sizeof(int) * (size_t)r->d.n);
    for (int i = 0; i < r->d.n; i++)
        if (r->d.label[i] == AM_UNLABELLED && !isnan(r->score[i]) && r->truth[i] != AM_UNLABELLED) {
            s[n] = r->score[i];
            l[n++] = r->truth[i];
        }
    am_metrics m;
    int rc = am_metrics_compute(&m, s, l, n);
    if (rc) { am_warn("no metrics for cycle %d: %s", cycle, am_error()); free(s); free(l); return 0; }
    printf("cycle %d: %zu pool images (%zu anomalies): AUROC %.4f  AUPRC %.4f  AP %.4f  "
           "top 1%%: precision %.3f recall %.3f  top 0.1%%: precision %.3f recall %.3f\n",
           cycle, m.n, m.n_pos, m.auroc, m.auprc, m.ap, m.prec_top1, m.rec_top1, m.prec_top01, m.rec_top01);
    char path[4200];
    out_path(path, sizeof path, r, "metrics.json");
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"cycle\": %d, \"step\": %llu, \"n\": %zu, \"anomalies\": %zu, \"auroc\": %.6f, \"auprc\": %.6f, "
                   "\"ap\": %.6f, \"top1_precision\": %.6f, \"top1_recall\": %.6f, \"top01_precision\": %.6f, "
                   "\"top01_recall\": %.6f}\n", cycle, (unsigned long long)r->t.step, m.n, m.n_pos, m.auroc,
                m.auprc, m.ap, m.prec_top1, m.rec_top1, m.prec_top01, m.rec_top01);
        fclose(f);
    }
    out_path(path, sizeof path, r, "metrics_cycles.csv");
    struct stat st;
    int fresh = stat(path, &st) != 0 || cycle == 1;
    f = fopen(path, fresh ? "w" : "a");
    if (f) {
        if (fresh) fprintf(f, "cycle,step,n,anomalies,auroc,auprc,ap,top1_precision,top1_recall,top01_precision,top01_recall\n");
        fprintf(f, "%d,%llu,%zu,%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", cycle, (unsigned long long)r->t.step, m.n,
                m.n_pos, m.auroc, m.auprc, m.ap, m.prec_top1, m.rec_top1, m.prec_top01, m.rec_top01);
        fclose(f);
    }
    am_curve c;
    char legend[64];
    if (!am_roc_curve(&c, s, l, n)) {
        snprintf(legend, sizeof legend, "AUROC %.3f", m.auroc);
        out_path(path, sizeof path, r, "roc.png");
        if (am_plot_curve_png(path, "ROC of the unlabelled pool", "false positive rate", "true positive rate", c.x, c.y, c.n, legend, 1, -1)) am_warn("%s", am_error());
        am_curve_free(&c);
    }
    if (!am_pr_curve(&c, s, l, n)) {
        snprintf(legend, sizeof legend, "AUPRC %.3f", m.auprc);
        out_path(path, sizeof path, r, "pr.png");
        if (am_plot_curve_png(path, "Precision-recall of the unlabelled pool", "recall", "precision", c.x, c.y, c.n, legend, 0, (double)m.n_pos / m.n)) am_warn("%s", am_error());
        am_curve_free(&c);
    }
    out_path(path, sizeof path, r, "score_hist.png");
    if (am_plot_hist_png(path, "Anomaly scores of the pool by true label", s, l, n, 40)) am_warn("%s", am_error());
    free(s);
    free(l);
    return 0;
}

// The simulated oracle: label the `k` highest-scored true anomalies and true
// normals (false positives) of the pool.
static int oracle_step(run *r, const int *idx, int n) {
    int added[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        int j = idx[i], t = r->truth[j];
        if (t == AM_UNLABELLED || added[t] >= r->c.oracle) continue;
        r->d.label[j] = t;
        added[t]++;
    }
    am_info("oracle labelled %d anomalies and %d false positives", added[AM_ANOMALY], added[AM_NORMAL]);
    return added[0] + added[1];
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
    if (!c->images[0]) return am_seterr("--images is required (a directory or a file list)");
    if (!c->labels[0] && !c->resume[0]) return am_seterr("--labels is required (or --resume a checkpoint)");
    if (am_model_check_size(c->size)) return -1;
    if (c->channels != 1 && c->channels != 3) return am_seterr("--channels must be 1 or 3");
    if (c->batch < 1 || c->mu < 1 || c->iters < 1 || c->cycles < 1) return am_seterr("--batch, --mu, --iters and --cycles must be >= 1");
    if (c->oracle > 0 && !c->truth[0]) return am_seterr("--oracle needs --truth (the ground-truth CSV)");
    if (strcmp(c->policy, "usb") && strcmp(c->policy, "fixmatch")) return am_seterr("--policy must be usb or fixmatch");
    if (strcmp(c->optimizer, "sgd") && strcmp(c->optimizer, "adamw")) return am_seterr("--optimizer must be sgd or adamw");
    if (strcmp(c->schedule, "constant") && strcmp(c->schedule, "cosine")) return am_seterr("--schedule must be constant or cosine");
    return 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
    if (argc < 2) { usage(stderr); return 2; }
    static run r;
    am_config *c = &r.c;
    am_config_defaults(c);
    if (parse_args(c, argc, argv) || validate(c)) return die(NULL);
    int ordinal, dt;
    if (am_device_pick(c->device, "am_train", &ordinal) || am_precision_pick(c->precision, ordinal, &dt)) return die(NULL);
    am_set_threads(c->threads);
    if (mkdir_p(c->out)) return die(NULL);
    if (am_dataset_list(&r.d, c->images, c->recursive)) return die("--images");
    am_train_hparams hp = am_train_defaults();
    hp.batch = c->batch;
    hp.mu = c->mu;
    hp.tau = c->tau;
    hp.lambda_u = c->lambda_u;
    hp.T = c->T;
    hp.optimizer = strcmp(c->optimizer, "adamw") ? AM_OPT_SGD : AM_OPT_ADAMW;
    hp.lr = c->lr;
    hp.momentum = c->momentum;
    hp.nesterov = c->nesterov;
    hp.wd = c->wd;
    hp.schedule = strcmp(c->schedule, "cosine") ? AM_LR_CONSTANT : AM_LR_COSINE;
    hp.total_steps = c->iters * c->cycles;
    hp.ema = c->ema;
    if (am_trainer_init(&r.t, c->arch, c->channels, 2, (uint64_t)c->seed, &hp)) return die(NULL);
    if (c->resume[0]) {
        char *labels = NULL;
        if (am_checkpoint_load(&r.t, c->resume, NULL, &labels)) return die("--resume");
        apply_state_labels(&r, labels);
        free(labels);
        am_info("resuming at step %llu", (unsigned long long)r.t.step);
    } else {
        char w[4096];
        if (c->weights[0]) snprintf(w, sizeof w, "%s", c->weights);
        else if (c->pretrained && !strcmp(c->arch, "lite0") && c->channels == 3) am_exe_path(w, sizeof w, "weights/lite0.amw");
        else w[0] = 0;
        if (w[0] && am_weights_load(&r.t.model, w, (uint64_t)c->seed)) return die("--weights");
        am_trainer_sync_ema(&r.t);
    }
    if (ordinal >= 0) {
        if (am_trainer_to_gpu(&r.t, ordinal, dt)) return die("--device");
        am_info("training and scoring on cuda:%d in %s", ordinal, dt == AM_BF16 ? "bf16 mixed precision" : "fp32");
    }
    if (c->labels[0]) {
        am_label_stats ls;
        if (am_dataset_apply_labels(&r.d, c->labels, &ls)) return die("--labels");
        am_info("%s: %d rows, %d matched (%d anomalies, %d normal)", c->labels, ls.rows, ls.matched, ls.anomalies, ls.normals);
    }
    r.score = AM_MALLOC(sizeof(float) * (size_t)r.d.n);
    r.truth = AM_MALLOC(sizeof(int) * (size_t)r.d.n);
    for (int i = 0; i < r.d.n; i++) r.truth[i] = AM_UNLABELLED;
    if (c->truth[0]) {
        am_dataset td = r.d;
        td.label = r.truth;
        am_label_stats ls;
        if (am_dataset_apply_labels(&td, c->truth, &ls)) return die("--truth");
    }
    char path[4200];
    out_path(path, sizeof path, &r, "config.txt");
    FILE *cf = fopen(path, "w");
    if (!cf) { am_seterr("cannot write '%s': %s", path, strerror(errno)); return die(NULL); }
    am_config_write(c, cf);
    fclose(cf);
    out_path(path, sizeof path, &r, "train_log.jsonl");
    FILE *log = fopen(path, c->resume[0] ? "a" : "w");
    if (!log) { am_seterr("cannot write '%s': %s", path, strerror(errno)); return die(NULL); }
    am_ra_variant variant = strcmp(c->policy, "fixmatch") ? AM_RA_USB : AM_RA_FIXMATCH;
    int rc = 0;
    for (int cycle = (int)(r.t.step / (uint64_t)c->iters) + 1; cycle <= c->cycles && !rc; cycle++) {
        int nlab[2] = {0, 0};
        for (int i = 0; i < r.d.n; i++) if (r.d.label[i] != AM_UNLABELLED) nlab[r.d.label[i]]++;
        if (!nlab[AM_ANOMALY]) { am_seterr("no image is labelled anomaly: label at least one in the labels CSV"); rc = 1; break; }
        if (nlab[AM_ANOMALY] + nlab[AM_NORMAL] == r.d.n) { am_seterr("every image is labelled: the unlabelled pool is empty"); rc = 1; break; }
        am_info("cycle %d/%d: %d anomalies and %d normal images labelled, %d unlabelled", cycle, c->cycles,
                nlab[AM_ANOMALY], nlab[AM_NORMAL], r.d.n - nlab[0] - nlab[1]);
        if (am_batcher_init(&r.b, &r.d, c->size, c->channels, c->batch, c->mu * c->batch, (uint64_t)c->seed,
                            variant, c->loader_threads, c->score_batch)) { rc = 1; break; }
        r.b.aug_on_gpu = r.t.gpu != NULL;  // the loader decodes; the GPU makes the views
        if (train_cycle(&r, (uint64_t)cycle * c->iters, log)) { rc = 1; am_batcher_free(&r.b); break; }
        score_pool(&r);
        int n;
        int *idx = ranked(&r, &n);
        if (write_scores(&r, idx, n) || write_skipped(&r) || write_labels_csv(&r)) rc = 1;
        out_path(path, sizeof path, &r, "model_ema.amw");
        am_trainer_download(&r.t);
        if (!rc && am_weights_save(&r.t.ema, path)) rc = 1;
        if (!rc && r.b.nbad) am_warn("%d unreadable images skipped (listed in %s/skipped.txt)", r.b.nbad, c->out);
        if (!rc && c->truth[0]) evaluate(&r, cycle);
        if (!rc && c->oracle > 0 && cycle < c->cycles) {
            oracle_step(&r, idx, n);
            rc = save_checkpoint(&r) ? 1 : 0;
        }
        free(idx);
        am_batcher_free(&r.b);
    }
    fclose(log);
    if (rc) return die(NULL);
    printf("results in %s/: scores.csv, top_candidates.csv/.png%s\n", c->out,
           c->truth[0] ? ", metrics.json, roc.png, pr.png, score_hist.png" : "");
    am_trainer_free(&r.t);
    am_dataset_free(&r.d);
    free(r.score);
    free(r.truth);
    return 0;
}
