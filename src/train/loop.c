// The active-learning loop (am/loop.h): a run's opening, its cycles (train,
// score, outputs, metrics, oracle) and the scoring of a pool.
#include "am/loop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "am/augment.h"
#include "am/cli.h"
#include "am/error.h"
#include "am/files.h"
#include "am/image.h"
#include "am/kernels.h"
#include "am/log.h"
#include "am/member.h"
#include "am/metrics.h"
#include "am/ops.h"
#include "am/plot.h"
#include "am/prefetch.h"
#include "am/progress.h"
#include "am/weights.h"

am_train_hparams am_config_hparams(const am_config *c) {
    am_train_hparams hp = am_train_defaults();
    hp.batch = c->batch;
    hp.mu = c->mu;
    hp.ssl.loss = am_ssl_parse(c->loss);
    hp.ssl.tau = c->tau;
    hp.ssl.lambda_u = c->lambda_u;
    hp.ssl.T = c->T;
    hp.ssl.ema_p = c->ema_p;
    hp.ssl.lambda_e = c->lambda_e;
    hp.ssl.n_sigma = c->n_sigma;
    hp.ssl.warmup = c->warmup;
    hp.optimizer = strcmp(c->optimizer, "adamw") ? AM_OPT_SGD : AM_OPT_ADAMW;
    hp.lr = c->lr;
    hp.momentum = c->momentum;
    hp.nesterov = c->nesterov;
    hp.wd = c->wd;
    hp.schedule = strcmp(c->schedule, "cosine") ? AM_LR_CONSTANT : AM_LR_COSINE;
    hp.total_steps = c->iters * c->cycles;
    hp.ema = c->ema;
    return hp;
}

// The error so far, prefixed with what failed (an option): -1.
static int fail(const char *what) {
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", am_error());
    return am_seterr("%s: %s", what, msg);
}

static void out_path(char *dst, size_t n, const am_run *r, const char *name) {
    snprintf(dst, n, "%s/%s", r->c.out, name);
}

int am_config_preprocess(const am_config *c, am_preprocess *p) {
    am_preprocess_defaults(p, c->size, c->channels);
    am_stretch *s = &p->stretch;
    if ((s->kind = am_stretch_parse(c->stretch)) < 0) return am_seterr("--stretch: %s", am_error());
    s->asinh_scale = c->asinh_scale;
    s->clip = c->clip;
    s->clip_samples = c->clip_samples;
    s->log_a = c->log_a;
    s->zs_samples = c->zscale_samples;
    s->zs_contrast = c->zscale_contrast;
    s->zs_max_reject = c->zscale_max_reject;
    s->zs_min_npixels = c->zscale_min_pixels;
    s->zs_krej = c->zscale_krej;
    s->zs_max_iter = c->zscale_max_iter;
    if (strlen(c->fits_ext) >= sizeof p->fits_ext) return am_seterr("--fits-ext '%s' is too long", c->fits_ext);
    snprintf(p->fits_ext, sizeof p->fits_ext, "%s", c->fits_ext);
    snprintf(p->band_names, sizeof p->band_names, "%s", c->bands);
    if (c->channels < 1 || c->channels > AM_MAX_BANDS)
        return am_seterr("--channels %d must be in 1..%d", c->channels, AM_MAX_BANDS);
    if (am_combine_parse(p, c->combine)) return -1;
    if (am_preprocess_check(p)) return am_seterr("preprocessing options: %s", am_error());
    return 0;
}

// The preprocessing of the checkpoint's configuration against this run's:
// images prepared otherwise would not be the ones the model learnt.
static int same_preprocess(const am_run *r, const char *config) {
    am_config c;
    am_config_defaults(&c);
    FILE *f = fmemopen((void *)config, strlen(config), "r");
    AM_CHECK(f != NULL, "out of memory");
    char line[AM_PREPROCESS_TEXT + 64], what[2 * AM_PREPROCESS_TEXT];
    while (fgets(line, sizeof line, f)) {
        char key[64], val[AM_PREPROCESS_TEXT];
        if (sscanf(line, " %63[a-z_] = %8191[^\n]", key, val) == 2) am_config_set(&c, key, val);
    }
    fclose(f);
    am_preprocess p;
    if (am_config_preprocess(&c, &p)) return am_seterr("--resume '%s': its preprocessing: %s", r->c.resume, am_error());
    if (am_preprocess_diff(&p, &r->pre, what, sizeof what))
        return am_seterr("--resume '%s' was trained with other preprocessing (checkpoint %s): give the options it "
                         "was trained with (its config.txt), or start a new run", r->c.resume, what);
    return 0;
}

// Continues from c.resume: the trainer's state, then the labels it holds
// (the CSV of labeled_data.csv, read by the same reader).
static int resume(am_run *r) {
    char *labels = NULL, *config = NULL, source[4200];
    if (am_checkpoint_load(&r->t, r->c.resume, &config, &labels)) return fail("--resume");
    int bad = config && same_preprocess(r, config);
    free(config);
    if (bad) {
        free(labels);
        return -1;
    }
    snprintf(source, sizeof source, "%s [labels]", r->c.resume);
    am_label_stats ls;
    int rc = am_dataset_apply_labels_text(&r->d, labels, source, &ls);
    free(labels);
    if (rc) return fail("--resume");
    am_info("resumed %d labels from the checkpoint", ls.matched);
    am_info("resuming at step %llu", (unsigned long long)r->t.step);
    return 0;
}

// A new run's start: c.weights, or the bundled Lite0 beside the executable
// (its stem adapted to other channel counts, am_weights_load), or TF's
// initialisation; the EMA model starts as a copy.
static int start_weights(am_run *r) {
    const am_config *c = &r->c;
    char w[4096];
    if (c->weights[0]) snprintf(w, sizeof w, "%s", c->weights);
    else if (c->pretrained && !strcmp(c->arch, "lite0")) am_exe_path(w, sizeof w, "weights/lite0.amw");
    else w[0] = 0;
    if (w[0] && am_weights_load(&r->t.model, w, (uint64_t)c->seed)) return fail("--weights");
    am_trainer_sync_ema(&r->t);
    return 0;
}

static int write_config(const am_run *r) {
    char path[4200];
    out_path(path, sizeof path, r, "config.txt");
    FILE *f = fopen(path, "w");
    if (!f) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    am_config_write(&r->c, f);
    fclose(f);
    return 0;
}

// The format family of the labelled images, when they share one, goes into
// the saved model's preprocessing (am_infer then refuses files of another;
// training itself reads whatever its pool holds); a member of a container
// or an unreadable file leaves it open.
static void input_format(am_run *r) {
    char one[16], fmt[16] = "";
    for (int i = 0; i < r->d.n; i++) {
        if (r->d.label[i] == AM_UNLABELLED) continue;
        if (am_input_format(r->d.paths[i], &r->pre, one) || (fmt[0] && strcmp(one, fmt))) {
            fmt[0] = 0;
            break;
        }
        snprintf(fmt, sizeof fmt, "%s", one);
    }
    snprintf(r->format, sizeof r->format, "%s", fmt);
}

// am_run_open's steps in order; on failure what was made is left for
// am_run_close.
static int open_steps(am_run *r, int device, int dt) {
    const am_config *c = &r->c;
    am_set_threads(c->threads);
    if (am_mkdir_p(c->out)) return -1;
    if (am_config_preprocess(c, &r->pre)) return -1;
    if (am_dataset_list(&r->d, c->images, c->recursive)) return fail("--images");
    if (c->bands[0] && am_dataset_bands(&r->d, c->bands)) return fail("--bands");
    am_train_hparams hp = am_config_hparams(c);
    if (am_trainer_init(&r->t, c->arch, c->channels, 2, (uint64_t)c->seed, &hp)) return -1;
    if (c->dropout >= 0.0f) r->t.model.dropout = c->dropout;
    r->t.model.drop_connect = c->drop_connect;
    am_trainer_set_images(&r->t, r->d.n);
    if (c->resume[0] ? resume(r) : start_weights(r)) return -1;
    if (c->trace[0]) {
        if (device >= 0) return am_seterr("--trace records the views the host makes: add --device cpu");
        r->trace = AM_MALLOC(sizeof *r->trace);
        if (am_trace_open(r->trace, c->trace, c->trace_states) || am_trace_state(r->trace, &r->t, r->t.step))
            return fail("--trace");
    }
    if (device >= 0) {
        if (am_trainer_to_gpu(&r->t, device, dt)) return fail("--device");
        am_info("training and scoring on cuda:%d in %s", device, dt == AM_BF16 ? "bf16 mixed precision" : "fp32");
    }
    if (c->labels[0]) {
        am_label_stats ls;
        if (c->replace_labels)
            for (int i = 0; i < r->d.n; i++) r->d.label[i] = AM_UNLABELLED;
        if (am_dataset_apply_labels(&r->d, c->labels, &ls)) return fail("--labels");
        am_info("%s: %d rows, %d matched (%d anomalies, %d normal)", c->labels, ls.rows, ls.matched, ls.anomalies, ls.normals);
    }
    input_format(r);
    r->score = AM_MALLOC(sizeof(float) * (size_t)r->d.n);
    r->truth = AM_MALLOC(sizeof(int) * (size_t)r->d.n);
    for (int i = 0; i < r->d.n; i++) r->truth[i] = AM_UNLABELLED;
    if (c->truth[0]) {
        am_dataset td = r->d;
        td.label = r->truth;
        am_label_stats ls;
        if (am_dataset_apply_labels(&td, c->truth, &ls)) return fail("--truth");
    }
    if (write_config(r)) return -1;
    char path[4200];
    out_path(path, sizeof path, r, "train_log.jsonl");
    r->log = fopen(path, c->resume[0] ? "a" : "w");
    if (!r->log) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    return 0;
}

int am_run_open(am_run *r, const am_config *c, int device, int dt) {
    memset(r, 0, sizeof *r);
    r->c = *c;
    if (!open_steps(r, device, dt)) return 0;
    am_run_close(r);
    return -1;
}

void am_run_close(am_run *r) {
    if (r->log) fclose(r->log);
    free(r->trace);
    am_batcher_free(&r->b);
    am_trainer_free(&r->t);
    am_dataset_free(&r->d);
    free(r->score);
    free(r->truth);
    memset(r, 0, sizeof *r);
}

int am_run_next_cycle(const am_run *r) { return (int)(r->t.step / (uint64_t)r->c.iters) + 1; }

static int write_labels_csv(const am_run *r) {
    char path[4200], tmp[4300];
    out_path(path, sizeof path, r, "labeled_data.csv");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return am_seterr("cannot write '%s': %s", tmp, strerror(errno));
    char *text = am_dataset_labels_csv(&r->d);
    fputs(text, f);
    free(text);
    if (fclose(f) || rename(tmp, path)) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    return 0;
}

// The checkpoint with the run's texts: the effective configuration and the
// labels in force (the CSV of labeled_data.csv).
static int save_checkpoint(am_run *r) {
    char path[4200], *config, *labels = am_dataset_labels_csv(&r->d);
    size_t len;
    FILE *f = open_memstream(&config, &len);
    AM_CHECK(f != NULL, "out of memory writing the configuration");
    am_config_write(&r->c, f);
    fclose(f);
    out_path(path, sizeof path, r, "checkpoint.amck");
    int rc = am_checkpoint_save(&r->t, path, config, labels);
    free(config);
    free(labels);
    return rc;
}

// Steps t.step .. end-1 from the batcher's slots behind the prefetch queue:
// one log line and a progress update each, checkpoints every
// checkpoint_every steps and at the end.
static int train_cycle(am_run *r, uint64_t end) {
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
        r->t.step_images = am_train_slot_images(b, slot);
        am_ssl_stats st = b->aug_on_gpu ? am_train_step_views(&r->t, am_train_slot_raw(b, slot),
                                                                   am_train_slot_plans(b, slot), labels, b->S)
                                             : am_train_step(&r->t, am_train_slot_x(b, slot), labels, b->S);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        fprintf(r->log, "{\"step\": %llu, \"loss\": %.6f, \"loss_x\": %.6f, \"loss_u\": %.6f, \"loss_e\": %.6f, "
                        "\"mask_rate\": %.4f, \"lr\": %.6g, \"img_s\": %.1f}\n",
                (unsigned long long)k + 1, st.loss, st.loss_x, st.loss_u, st.loss_e, st.mask_rate, lr, rows / dt);
        char extra[128];
        snprintf(extra, sizeof extra, "loss %.3f mask %.2f lr %.4g %.0f img/s", st.loss, st.mask_rate, lr, rows / dt);
        am_progress_update(&p, k + 1 - first, extra);
        if (r->trace && (am_trace_step(r->trace, &r->t, k + 1, am_train_slot_x(b, slot), b->S, b->C, labels, &st, lr) ||
                         am_trace_state(r->trace, &r->t, k + 1))) {
            am_prefetch_stop(pf);
            return fail("--trace");
        }
        if (!isfinite(st.loss)) {
            am_prefetch_stop(pf);
            return am_seterr("the loss became %f at step %llu: lower --lr", st.loss, (unsigned long long)k + 1);
        }
        if (r->c.checkpoint_every > 0 && (k + 1) % (uint64_t)r->c.checkpoint_every == 0 && k + 1 < end) {
            fflush(r->log);
            if (save_checkpoint(r)) { am_prefetch_stop(pf); return -1; }
        }
    }
    am_progress_end(&p, NULL);
    am_prefetch_stop(pf);
    fflush(r->log);
    return save_checkpoint(r);
}

void am_score_pool(am_trainer *t, am_batcher *b, float *score) {
    uint64_t jobs = ((uint64_t)b->npool + b->score_batch - 1) / b->score_batch;
    for (int i = 0; i < b->d->n; i++) score[i] = NAN;
    if (!jobs) return;
    am_prefetch *pf = am_prefetch_start(am_score_fill, b, am_score_slot_bytes(b), 3, 0, jobs);
    am_progress p;
    am_progress_start(&p, "score", (uint64_t)b->npool, "img");
    int K = t->ema.arch.classes, done = 0;
    for (uint64_t j = 0; j < jobs; j++) {
        void *slot = am_prefetch_next(pf, j);
        am_score_head *h = am_score_slot_head(slot);
        const float *z = am_trainer_score(t, am_score_slot_x(slot), h->n, b->S);
        for (int i = 0; i < h->n; i++) {
            if (!h->ok[i]) continue;
            const float *zi = z + (size_t)i * K;
            float m = fmaxf(zi[0], zi[1]);
            score[h->idx[i]] = expf(zi[1] - m) / (expf(zi[0] - m) + expf(zi[1] - m));
        }
        done += h->n;
        am_progress_update(&p, (uint64_t)done, NULL);
    }
    am_progress_end(&p, NULL);
    am_prefetch_stop(pf);
}

static int by_score_desc(const void *a, const void *b, void *score) {
    float x = ((const float *)score)[*(const int *)a], y = ((const float *)score)[*(const int *)b];
    return (x < y) - (x > y);
}

// Pool indices with a score, highest first (malloc'd, *n of them).
static int *ranked(const am_run *r, int *n) {
    int *idx = AM_MALLOC(sizeof(int) * (size_t)r->d.n);
    *n = 0;
    for (int i = 0; i < r->d.n; i++)
        if (r->d.label[i] == AM_UNLABELLED && !isnan(r->score[i])) idx[(*n)++] = i;
    qsort_r(idx, (size_t)*n, sizeof(int), by_score_desc, r->score);
    return idx;
}

// scores.csv and top_candidates.csv (Filename,Score of idx[0..n), the
// first c.top of them), and the contact sheet of the first 64 of those.
static int write_scores(const am_run *r, const int *idx, int n) {
    char path[4200], tmp[4300];
    for (int pass = 0; pass < 2; pass++) {
        out_path(path, sizeof path, r, pass ? "top_candidates.csv" : "scores.csv");
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        if (!f) return am_seterr("cannot write '%s': %s", tmp, strerror(errno));
        fprintf(f, "Filename,Score\n");
        int m = pass && r->c.top < n ? r->c.top : n;
        for (int i = 0; i < m; i++) {
            am_csv_write_field(f, r->d.names[idx[i]]);
            fprintf(f, ",%.9g\n", r->score[idx[i]]);
        }
        if (fclose(f) || rename(tmp, path)) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    }
    int m = r->c.top < n ? r->c.top : n;
    if (m > 64) m = 64;
    size_t img = (size_t)r->b.S * r->b.S * r->b.C;
    uint8_t *pix = AM_CALLOC(img * (m ? m : 1));
    const uint8_t **ims = AM_MALLOC(sizeof(uint8_t *) * (m ? m : 1));
    char **caps = AM_MALLOC(sizeof(char *) * (m ? m : 1));
    for (int i = 0; i < m; i++) {
        am_member_load(pix + img * i, r->d.paths[idx[i]], &r->b.pre);
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

static int write_skipped(const am_run *r) {
    char path[4200];
    out_path(path, sizeof path, r, "skipped.txt");
    FILE *f = fopen(path, "w");
    if (!f) return am_seterr("cannot write '%s': %s", path, strerror(errno));
    for (int i = 0; i < r->d.n; i++)
        if (r->b.bad[i]) fprintf(f, "%s\tunreadable (see the warning in the log)\n", r->d.paths[i]);
    fclose(f);
    return 0;
}

// Metrics over the scored pool images that the truth labels: printed,
// metrics.json, a row of metrics_cycles.csv, the ROC, PR and score plots.
static void evaluate(const am_run *r, int cycle) {
    size_t n = 0;
    float *s = AM_MALLOC(sizeof(float) * (size_t)r->d.n);
    int *l = AM_MALLOC(sizeof(int) * (size_t)r->d.n);
    for (int i = 0; i < r->d.n; i++)
        if (r->d.label[i] == AM_UNLABELLED && !isnan(r->score[i]) && r->truth[i] != AM_UNLABELLED) {
            s[n] = r->score[i];
            l[n++] = r->truth[i];
        }
    am_metrics m;
    if (am_metrics_compute(&m, s, l, n)) {
        am_warn("no metrics for cycle %d: %s", cycle, am_error());
        free(s);
        free(l);
        return;
    }
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
}

// The simulated oracle: labels the c.oracle highest-ranked true anomalies
// and true normals (false positives) of the ranked pool idx[0..n).
static void oracle_step(am_run *r, const int *idx, int n) {
    int added[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        int j = idx[i], t = r->truth[j];
        if (t == AM_UNLABELLED || added[t] >= r->c.oracle) continue;
        r->d.label[j] = t;
        added[t]++;
    }
    am_info("oracle labelled %d anomalies and %d false positives", added[AM_ANOMALY], added[AM_NORMAL]);
}

// The cycle's steps on a fresh batcher (the labels may have changed), then
// the scoring of its pool; the batcher stays for the outputs.
static int train_and_score(am_run *r, int cycle) {
    const am_config *c = &r->c;
    int nlab[2] = {0, 0};
    for (int i = 0; i < r->d.n; i++) if (r->d.label[i] != AM_UNLABELLED) nlab[r->d.label[i]]++;
    if (!nlab[AM_ANOMALY]) return am_seterr("no image is labelled anomaly: label at least one in the labels CSV");
    if (nlab[AM_ANOMALY] + nlab[AM_NORMAL] == r->d.n) return am_seterr("every image is labelled: the unlabelled pool is empty");
    am_info("cycle %d/%d: %d anomalies and %d normal images labelled, %d unlabelled", cycle, c->cycles,
            nlab[AM_ANOMALY], nlab[AM_NORMAL], r->d.n - nlab[0] - nlab[1]);
    const am_train_hparams *hp = &r->t.hp;
    // Bands (C other than 1 and 3) take the Python tool's multispectral pool.
    am_ra_variant variant = c->channels != 1 && c->channels != 3 ? AM_RA_BANDS
                            : !strcmp(c->policy, "fixmatch")     ? AM_RA_FIXMATCH
                            : !strcmp(c->policy, "anomalymatch") ? AM_RA_ANOMALYMATCH
                                                                 : AM_RA_USB;
    if (am_batcher_init(&r->b, &r->d, &r->pre, hp->batch, hp->mu * hp->batch, (uint64_t)c->seed,
                        variant, c->loader_threads, c->score_batch)) return -1;
    r->b.aug_on_gpu = r->t.gpu != NULL;  // the loader decodes; the GPU makes the views
    r->t.ssl_unlabelled = r->b.npool;
    if (train_cycle(r, (uint64_t)cycle * c->iters)) return -1;
    am_score_pool(&r->t, &r->b, r->score);
    return 0;
}

int am_run_cycle(am_run *r, int cycle) {
    const am_config *c = &r->c;
    if (train_and_score(r, cycle)) { am_batcher_free(&r->b); return -1; }
    int n, rc = 0;
    int *idx = ranked(r, &n);
    char path[4200];
    if (write_scores(r, idx, n) || write_skipped(r) || write_labels_csv(r)) rc = -1;
    out_path(path, sizeof path, r, "model_ema.amw");
    am_trainer_download(&r->t);
    am_preprocess saved = r->pre;
    snprintf(saved.format, sizeof saved.format, "%s", r->format);
    if (!rc && am_weights_save(&r->t.ema, path, &saved)) rc = -1;
    if (!rc && r->b.nbad) am_warn("%d unreadable images skipped (listed in %s/skipped.txt)", r->b.nbad, c->out);
    if (!rc && c->truth[0]) evaluate(r, cycle);
    if (!rc && c->oracle > 0 && cycle < c->cycles) {
        oracle_step(r, idx, n);
        rc = save_checkpoint(r);
    }
    free(idx);
    am_batcher_free(&r->b);
    return rc;
}
