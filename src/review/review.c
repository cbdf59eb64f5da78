// am_review's run and its JSON API (include/am/review.h).
#include "am/review.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "am/error.h"
#include "am/files.h"
#include "am/member.h"
#include "am/loop.h"
#include "am/metrics.h"
#include "am/plot.h"
#include "am/tfile.h"

static const char *state_name(const am_review *rv, int i) {
    int l = rv->d.label[i];
    return l == AM_ANOMALY ? "anomaly" : l == AM_NORMAL ? "normal" : rv->book.unsure[i] ? "unsure" : "none";
}

static void path_in(char *dst, size_t n, const am_review *rv, const char *name) {
    snprintf(dst, n, "%s/%s", rv->dir, name);
}

// ---- opening a run -----------------------------------------------------------

// The index of each name (basenames: a CSV's rows are matched by them), by
// binary search over the names in order.
static int cmp_order(const void *a, const void *b, void *d) {
    const am_dataset *ds = d;
    return strcmp(ds->names[*(const int *)a], ds->names[*(const int *)b]);
}

static int find_name(const am_review *rv, const int *order, const char *name) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    int lo = 0, hi = rv->d.n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(rv->d.names[order[mid]], base);
        if (!c) return order[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

// Reads CSV `file` of the run: each row's first field (a name) and second
// (its value) handed to fn. 0; 1 when the file is absent; -1 (am_error()).
static int read_rows(am_review *rv, const char *file, void (*fn)(am_review *, int, const char *)) {
    char path[4200];
    path_in(path, sizeof path, rv, file);
    struct stat st;
    if (stat(path, &st)) return 1;
    char *text = am_csv_read_file(path, file);
    if (!text) return -1;
    int *order = AM_MALLOC(sizeof(int) * (size_t)(rv->d.n ? rv->d.n : 1));
    for (int i = 0; i < rv->d.n; i++) order[i] = i;
    qsort_r(order, (size_t)rv->d.n, sizeof(int), cmp_order, &rv->d);
    char *row = AM_MALLOC(strlen(text) + 2);
    const char *p = text;
    int line = 1, nf, rc = 0, first = 1;
    for (;;) {
        int got = am_csv_row(&p, row, &nf, &line, NULL, path);
        if (got <= 0) { rc = got; break; }
        if (first && !strcasecmp(row, "filename")) { first = 0; continue; }
        first = 0;
        int i = find_name(rv, order, row);
        if (i >= 0) fn(rv, i, nf > 1 ? row + strlen(row) + 1 : "");
    }
    free(row);
    free(order);
    free(text);
    return rc;
}

static void set_score(am_review *rv, int i, const char *v) {
    char *end;
    double s = strtod(v, &end);
    if (end != v && isfinite(s) && isnan(rv->score[i])) {
        rv->score[i] = (float)s;
        rv->nscored++;
    }
}

int am_review_load_scores(am_review *rv) {
    for (int i = 0; i < rv->d.n; i++) rv->score[i] = NAN;
    rv->nscored = 0;
    int rc = read_rows(rv, "scores.csv", set_score);
    if (rc == 1) return am_seterr("'%s/scores.csv' is missing: is this a run folder of am_train (its --out)?", rv->dir);
    return rc;
}

static void set_remember(am_review *rv, int i, const char *v) {
    (void)v;
    rv->remember[i] = 1;
}

// The cycles the run's checkpoint holds (its step over the steps per cycle).
static int checkpoint_cycles(am_review *rv) {
    char path[4200];
    path_in(path, sizeof path, rv, "checkpoint.amck");
    am_tfile f;
    if (am_tfile_read(&f, path, "AMCK")) return -1;
    const am_tentry *e = am_tfile_find(&f, "step");
    int cycles = e && e->type == AM_TF_U64 && e->n == 1 && rv->cfg.iters > 0 ? (int)(e->u64[0] / (uint64_t)rv->cfg.iters) : -1;
    am_tfile_free(&f);
    if (cycles < 0) am_seterr("'%s' holds no step: the file is damaged", path);
    return cycles;
}

// The labels the review starts from: labels_base.csv, written from
// labeled_data.csv (am_train's) the first time the run is reviewed.
static int base_labels(am_review *rv) {
    char base[4200], csv[4200];
    path_in(base, sizeof base, rv, "labels_base.csv");
    path_in(csv, sizeof csv, rv, "labeled_data.csv");
    struct stat st;
    if (stat(base, &st)) {
        size_t n;
        char *text = am_file_read(csv, &n);
        if (!text)
            return am_seterr("cannot read '%s': %s (is this a run folder of am_train?)", csv, strerror(errno));
        int rc = am_file_write_atomic(base, text, n);
        free(text);
        if (rc) return -1;
    }
    am_label_stats ls;
    return am_dataset_apply_labels(&rv->d, base, &ls);
}

static int preprocessing(am_review *rv) {
    am_preprocess *p = &rv->pre;
    if (am_config_preprocess(&rv->cfg, p)) return -1;
    char fmt[16] = "";
    rv->fits = rv->d.n && !strchr(rv->d.paths[0], '#') && !am_input_format(rv->d.paths[0], p, fmt) &&
               (!strcmp(fmt, "fits") || !strcmp(fmt, "tiff"));
    return 0;
}

static int open_steps(am_review *rv, const char *dir, const char *truth) {
    char path[4200];
    snprintf(rv->dir, sizeof rv->dir, "%s", dir);
    path_in(path, sizeof path, rv, "config.txt");
    am_config_defaults(&rv->cfg);
    if (am_config_read_file(&rv->cfg, path)) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", am_error());
        return am_seterr("%s (give the folder am_train wrote: its --out)", msg);
    }
    if (am_dataset_list(&rv->d, rv->cfg.images, rv->cfg.recursive)) return -1;
    if (rv->cfg.bands[0] && am_dataset_bands(&rv->d, rv->cfg.bands)) return -1;
    if (preprocessing(rv)) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", am_error());
        return am_seterr("'%s': %s", path, msg);
    }
    const size_t n = (size_t)rv->d.n;
    rv->score = AM_MALLOC(sizeof(float) * n);
    rv->truth = AM_MALLOC(sizeof(int) * n);
    rv->remember = AM_CALLOC(n + 1);
    for (size_t i = 0; i < n; i++) rv->truth[i] = AM_UNLABELLED;
    if (am_review_load_scores(rv) || read_rows(rv, "remember.csv", set_remember) < 0) return -1;
    if ((rv->cycle = checkpoint_cycles(rv)) < 0) return -1;
    if (base_labels(rv) || am_labelbook_open(&rv->book, &rv->d, dir)) return -1;
    const char *t = truth && truth[0] ? truth : rv->cfg.truth;
    if (t[0]) {
        am_dataset td = rv->d;
        td.label = rv->truth;
        am_label_stats ls;
        if (am_dataset_apply_labels(&td, t, &ls)) return -1;
        rv->has_truth = ls.anomalies > 0 && ls.normals > 0;
    }
    return 0;
}

int am_review_open(am_review *rv, const char *dir, const char *truth, const char *train_exe) {
    memset(rv, 0, sizeof *rv);
    rv->book.fd = -1;
    snprintf(rv->train_exe, sizeof rv->train_exe, "%s", train_exe ? train_exe : "am_train");
    pthread_mutex_init(&rv->lock, NULL);
    if (!open_steps(rv, dir, truth)) return 0;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", am_error());
    am_review_close(rv);
    return am_seterr("%s", msg);
}

void am_review_close(am_review *rv) {
    am_retrain_wait(rv);
    if (rv->book.d) am_labelbook_close(&rv->book);
    am_dataset_free(&rv->d);
    free(rv->score);
    free(rv->truth);
    free(rv->remember);
    pthread_mutex_destroy(&rv->lock);
    memset(rv, 0, sizeof *rv);
}

// ---- replies -------------------------------------------------------------------

typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} text;

static void text_open(text *t) {
    t->f = open_memstream(&t->buf, &t->len);
    AM_CHECK(t->f != NULL, "out of memory");
}

static void reply_text(am_reply *out, text *t, int status, const char *type) {
    fclose(t->f);
    out->status = status;
    out->type = type;
    out->body = t->buf;
    out->len = t->len;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_score(FILE *f, float s) {
    if (isnan(s)) fputs("null", f);
    else fprintf(f, "%.6g", s);
}

static void error_reply(am_reply *out, int status, const char *msg) {
    text t;
    text_open(&t);
    fputs("{\"ok\":false,\"error\":", t.f);
    json_str(t.f, msg);
    fputs("}", t.f);
    reply_text(out, &t, status, "application/json");
}

static void counts(FILE *f, const am_review *rv) {
    int c[4] = {0};
    for (int i = 0; i < rv->d.n; i++) {
        int l = rv->d.label[i];
        c[l == AM_ANOMALY ? 0 : l == AM_NORMAL ? 1 : rv->book.unsure[i] ? 2 : 3]++;
    }
    fprintf(f, "\"counts\":{\"anomaly\":%d,\"normal\":%d,\"unsure\":%d,\"none\":%d}", c[0], c[1], c[2], c[3]);
}

// An index argument in 0..n-1: 0, or -1 (not one).
static int index_arg(const am_review *rv, am_arg_fn arg, void *ctx, const char *key, int *i) {
    const char *v = arg(ctx, key);
    char *end;
    if (!v || !*v) return -1;
    errno = 0;
    long k = strtol(v, &end, 10);
    if (*end || errno || k < 0 || k >= rv->d.n) return -1;
    *i = (int)k;
    return 0;
}

static long long_arg(am_arg_fn arg, void *ctx, const char *key, long def, long lo, long hi) {
    const char *v = arg(ctx, key);
    char *end;
    if (!v || !*v) return def;
    long k = strtol(v, &end, 10);
    return *end ? def : k < lo ? lo : k > hi ? hi : k;
}

// ---- GET /api/run, /api/items --------------------------------------------------

static void run_info(am_review *rv, am_reply *out) {
    text t;
    text_open(&t);
    FILE *f = t.f;
    fputs("{\"run\":", f);
    json_str(f, rv->dir);
    fprintf(f, ",\"n\":%d,\"scored\":%d,\"channels\":%d,\"size\":%d,\"fits\":%s,\"stretch\":", rv->d.n, rv->nscored,
            rv->pre.channels, rv->pre.size, rv->fits ? "true" : "false");
    json_str(f, am_stretch_name(rv->pre.stretch.kind));
    fputs(",\"stretches\":[", f);
    for (int k = 0; k < (rv->fits ? AM_STRETCH_COUNT : 1); k++) fprintf(f, "%s\"%s\"", k ? "," : "", am_stretch_name(k));
    fprintf(f, "],\"truth\":%s,", rv->has_truth ? "true" : "false");
    counts(f, rv);
    fprintf(f, ",\"generation\":%d,\"cycle\":%d,\"changes\":%d}", rv->generation, rv->cycle, rv->book.changes);
    reply_text(out, &t, 200, "application/json");
}

typedef struct {
    int i;
    double key;  // smaller first; images without a score after all others
    int has;
} item;

static int cmp_item(const void *a, const void *b) {
    const item *x = a, *y = b;
    if (x->has != y->has) return y->has - x->has;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->i - y->i;
}

static uint64_t mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The mean or median of the scores, or NaN when none.
static double centre(const am_review *rv, int median) {
    float *s = AM_MALLOC(sizeof(float) * (size_t)(rv->d.n ? rv->d.n : 1));
    int m = 0;
    double sum = 0;
    for (int i = 0; i < rv->d.n; i++)
        if (!isnan(rv->score[i])) sum += (s[m++] = rv->score[i]);
    double c = NAN;
    if (m && !median) c = sum / m;
    if (m && median) {
        qsort(s, (size_t)m, sizeof(float), cmp_float);
        c = m % 2 ? s[m / 2] : 0.5 * ((double)s[m / 2 - 1] + s[m / 2]);
    }
    free(s);
    return c;
}

static int keep(const am_review *rv, int i, const char *filter) {
    const char *s = state_name(rv, i);
    if (!strcmp(filter, "all")) return 1;
    if (!strcmp(filter, "labelled")) return strcmp(s, "none") != 0;
    if (!strcmp(filter, "remembered")) return rv->remember[i];
    return !strcmp(filter, s);
}

static void items(am_review *rv, am_arg_fn arg, void *ctx, am_reply *out) {
    static const char *sorts[] = {"anomalous", "nominal", "uncertain", "mean", "median", "random"};
    static const char *filters[] = {"all", "none", "anomaly", "normal", "unsure", "labelled", "remembered"};
    const char *sort = arg(ctx, "sort"), *filter = arg(ctx, "filter");
    sort = sort && *sort ? sort : "anomalous";
    filter = filter && *filter ? filter : "all";
    int ks = 0, kf = 0;
    while (ks < 6 && strcmp(sort, sorts[ks])) ks++;
    while (kf < 7 && strcmp(filter, filters[kf])) kf++;
    if (ks == 6 || kf == 7) return error_reply(out, 400, "unknown sort or filter");
    long offset = long_arg(arg, ctx, "offset", 0, 0, rv->d.n), limit = long_arg(arg, ctx, "limit", 48, 1, 500);
    uint64_t seed = (uint64_t)long_arg(arg, ctx, "seed", 1, 0, 1L << 30);
    double c = ks == 3 || ks == 4 ? centre(rv, ks == 4) : 0;
    item *v = AM_MALLOC(sizeof(item) * (size_t)(rv->d.n ? rv->d.n : 1));
    int m = 0;
    for (int i = 0; i < rv->d.n; i++) {
        if (!keep(rv, i, filter)) continue;
        double s = rv->score[i];
        item *x = &v[m++];
        x->i = i;
        x->has = !isnan(s) || ks == 5;
        x->key = ks == 0 ? -s : ks == 1 ? s : ks == 2 ? fabs(s - 0.5) : ks == 5 ? (double)(mix(seed * 0x100000001ull + (uint64_t)i) >> 11) : fabs(s - c);
    }
    qsort(v, (size_t)m, sizeof(item), cmp_item);
    text t;
    text_open(&t);
    fprintf(t.f, "{\"total\":%d,\"generation\":%d,\"items\":[", m, rv->generation);
    for (long k = offset; k < m && k < offset + limit; k++) {
        int i = v[k].i;
        fprintf(t.f, "%s{\"i\":%d,\"name\":", k > offset ? "," : "", i);
        json_str(t.f, rv->d.names[i]);
        fputs(",\"score\":", t.f);
        json_score(t.f, rv->score[i]);
        fprintf(t.f, ",\"label\":\"%s\",\"remembered\":%s}", state_name(rv, i), rv->remember[i] ? "true" : "false");
    }
    fputs("]}", t.f);
    free(v);
    reply_text(out, &t, 200, "application/json");
}

// ---- labels ---------------------------------------------------------------------

static void label(am_review *rv, am_arg_fn arg, void *ctx, am_reply *out) {
    int i;
    const char *l = arg(ctx, "label");
    int lab = !l ? -2 : !strcmp(l, "anomaly") ? AM_ANOMALY : !strcmp(l, "normal") ? AM_NORMAL : !strcmp(l, "unsure") ? AM_UNLABELLED : -2;
    if (index_arg(rv, arg, ctx, "i", &i)) return error_reply(out, 404, "no such image");
    if (lab == -2) return error_reply(out, 400, "label must be anomaly, normal or unsure");
    if (am_labelbook_set(&rv->book, rv->d.names[i], lab)) return error_reply(out, 500, am_error());
    text t;
    text_open(&t);
    pthread_mutex_lock(&rv->book.lock);
    fprintf(t.f, "{\"ok\":true,\"i\":%d,\"label\":\"%s\",", i, state_name(rv, i));
    counts(t.f, rv);
    fprintf(t.f, ",\"changes\":%d}", rv->book.changes);
    pthread_mutex_unlock(&rv->book.lock);
    reply_text(out, &t, 200, "application/json");
}

static void undo(am_review *rv, am_reply *out) {
    char name[4200];
    int rc = am_labelbook_undo(&rv->book, name, sizeof name);
    if (rc < 0) return error_reply(out, 500, am_error());
    text t;
    text_open(&t);
    pthread_mutex_lock(&rv->book.lock);
    int i = rc ? am_dataset_find(&rv->d, name) : -1;
    fprintf(t.f, "{\"ok\":true,\"i\":%d", i);
    if (i >= 0) {
        fputs(",\"name\":", t.f);
        json_str(t.f, name);
        fprintf(t.f, ",\"label\":\"%s\"", state_name(rv, i));
    }
    fputc(',', t.f);
    counts(t.f, rv);
    fputc('}', t.f);
    pthread_mutex_unlock(&rv->book.lock);
    reply_text(out, &t, 200, "application/json");
}

// ---- images -------------------------------------------------------------------

// The image as RGB PNG: a file at its own size (at most max_side), a
// container's member at the model's size.
static void image(am_review *rv, am_arg_fn arg, void *ctx, am_reply *out) {
    int i;
    if (index_arg(rv, arg, ctx, "i", &i)) return error_reply(out, 404, "no such image");
    const char *st = arg(ctx, "stretch"), *thumb = arg(ctx, "thumb");
    am_preprocess p = rv->pre;
    if (st && *st) {
        int k = am_stretch_parse(st);
        if (k < 0 || (!rv->fits && k != p.stretch.kind)) return error_reply(out, 400, "unknown stretch");
        p.stretch.kind = k;
    }
    const int max_side = thumb && !strcmp(thumb, "1") ? 128 : 1024, C = p.channels;
    const char *path = rv->d.paths[i];
    int w = p.size, h = p.size;
    uint8_t *px = NULL;
    struct stat sb;
    if (strchr(path, '#') && stat(path, &sb)) {
        px = AM_MALLOC((size_t)w * h * C);
        if (am_member_load(px, path, &p)) {
            free(px);
            px = NULL;
        }
    } else {
        px = am_input_view(path, &p, max_side, &w, &h);
    }
    if (!px) return error_reply(out, 422, am_error());
    am_canvas c;
    am_canvas_init(&c, w, h, 0);
    am_canvas_blit(&c, 0, 0, w, h, px, w, h, C);
    free(px);
    size_t n = 0;
    out->body = (char *)am_png_encode(c.px, w, h, 3, &n);
    am_canvas_free(&c);
    if (!out->body) return error_reply(out, 500, am_error());
    out->status = 200;
    out->type = "image/png";
    out->len = n;
}

// ---- histogram and curves -----------------------------------------------------------

static void hist(am_review *rv, am_arg_fn arg, void *ctx, am_reply *out) {
    const int bins = (int)long_arg(arg, ctx, "bins", 40, 1, 200);
    static const char *states[] = {"anomaly", "normal", "unsure", "none"};
    int *c = AM_CALLOC(sizeof(int) * 4 * (size_t)bins);
    for (int i = 0; i < rv->d.n; i++) {
        float s = rv->score[i];
        if (isnan(s)) continue;
        int b = (int)floor(s * bins), k = 0;
        b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
        while (strcmp(states[k], state_name(rv, i))) k++;
        c[k * bins + b]++;
    }
    text t;
    text_open(&t);
    fputs("{\"edges\":[", t.f);
    for (int b = 0; b <= bins; b++) fprintf(t.f, "%s%.6g", b ? "," : "", (double)b / bins);
    fputc(']', t.f);
    for (int k = 0; k < 4; k++) {
        fprintf(t.f, ",\"%s\":[", states[k]);
        for (int b = 0; b < bins; b++) fprintf(t.f, "%s%d", b ? "," : "", c[k * bins + b]);
        fputc(']', t.f);
    }
    fputc('}', t.f);
    free(c);
    reply_text(out, &t, 200, "application/json");
}

// At most 400 points of a curve: every k-th, and its last.
static void points(FILE *f, const am_curve *c) {
    size_t step = c->n > 400 ? (c->n + 399) / 400 : 1;
    for (int axis = 0; axis < 2; axis++) {
        fprintf(f, "%s\"%s\":[", axis ? "," : "", axis ? "y" : "x");
        int first = 1;
        for (size_t k = 0; k < c->n; k += step) {
            fprintf(f, "%s%.5g", first ? "" : ",", axis ? c->y[k] : c->x[k]);
            first = 0;
        }
        if ((c->n - 1) % step) fprintf(f, ",%.5g", axis ? c->y[c->n - 1] : c->x[c->n - 1]);
        fputc(']', f);
    }
}

static void curves(am_review *rv, am_reply *out) {
    if (!rv->has_truth) return error_reply(out, 404, "the run has no ground truth (am_review --truth CSV)");
    float *s = AM_MALLOC(sizeof(float) * (size_t)(rv->d.n ? rv->d.n : 1));
    int *l = AM_MALLOC(sizeof(int) * (size_t)(rv->d.n ? rv->d.n : 1));
    size_t m = 0;
    for (int i = 0; i < rv->d.n; i++)
        if (!isnan(rv->score[i]) && rv->truth[i] != AM_UNLABELLED) {
            s[m] = rv->score[i];
            l[m++] = rv->truth[i] == AM_ANOMALY;
        }
    am_metrics met;
    am_curve roc = {0}, pr = {0};
    int rc = am_metrics_compute(&met, s, l, m) || am_roc_curve(&roc, s, l, m) || am_pr_curve(&pr, s, l, m);
    free(s);
    free(l);
    if (rc) {
        am_curve_free(&roc);
        am_curve_free(&pr);
        return error_reply(out, 404, am_error());
    }
    text t;
    text_open(&t);
    fprintf(t.f, "{\"auroc\":%.6g,\"ap\":%.6g,\"roc\":{", met.auroc, met.ap);
    points(t.f, &roc);
    fputs("},\"pr\":{", t.f);
    points(t.f, &pr);
    fputs("}}", t.f);
    am_curve_free(&roc);
    am_curve_free(&pr);
    reply_text(out, &t, 200, "application/json");
}

// ---- remembered images ----------------------------------------------------------------

static void remember_list(const am_review *rv, FILE *f) {
    fputs("\"items\":[", f);
    int first = 1;
    for (int i = 0; i < rv->d.n; i++)
        if (rv->remember[i]) {
            fprintf(f, "%s%d", first ? "" : ",", i);
            first = 0;
        }
    fputc(']', f);
}

// filename,score,label of each remembered image.
static char *remember_csv(const am_review *rv, size_t *n) {
    text t;
    text_open(&t);
    fputs("filename,score,label\n", t.f);
    for (int i = 0; i < rv->d.n; i++)
        if (rv->remember[i]) {
            am_csv_write_field(t.f, rv->d.names[i]);
            fputc(',', t.f);
            if (!isnan(rv->score[i])) fprintf(t.f, "%.9g", rv->score[i]);
            fprintf(t.f, ",%s\n", state_name(rv, i));
        }
    fclose(t.f);
    *n = t.len;
    return t.buf;
}

static void remember(am_review *rv, const char *method, am_arg_fn arg, void *ctx, am_reply *out) {
    if (!strcmp(method, "POST")) {
        int i;
        const char *on = arg(ctx, "on");
        if (index_arg(rv, arg, ctx, "i", &i)) return error_reply(out, 404, "no such image");
        rv->remember[i] = !on || strcmp(on, "0");
        char path[4200];
        size_t n;
        path_in(path, sizeof path, rv, "remember.csv");
        char *csv = remember_csv(rv, &n);
        int rc = am_file_write_atomic(path, csv, n);
        free(csv);
        if (rc) return error_reply(out, 500, am_error());
    }
    text t;
    text_open(&t);
    fputs("{\"ok\":true,", t.f);
    remember_list(rv, t.f);
    fputc('}', t.f);
    reply_text(out, &t, 200, "application/json");
}

// ---- retrain -------------------------------------------------------------------------

static void retrain_info(am_review *rv, am_reply *out) {
    static const char *states[] = {"idle", "running", "done", "failed"};
    const am_retrain *r = &rv->retrain;
    text t;
    text_open(&t);
    fprintf(t.f, "{\"state\":\"%s\",\"percent\":%d,\"line\":", states[r->state], r->percent);
    json_str(t.f, r->line);
    fputs(",\"log\":[", t.f);
    int first = r->nlog > AM_RETRAIN_LOG ? r->nlog - AM_RETRAIN_LOG : 0;
    for (int k = first; k < r->nlog; k++) {
        if (k > first) fputc(',', t.f);
        json_str(t.f, r->log[k % AM_RETRAIN_LOG]);
    }
    fprintf(t.f, "],\"generation\":%d,\"cycle\":%d,\"exit\":%d}", rv->generation, rv->cycle, r->exit_code);
    reply_text(out, &t, 200, "application/json");
}

void am_server_defaults(am_server_opts *o) {
    *o = (am_server_opts){.listen = "127.0.0.1", .port = 0, .token = NULL, .max_body = 4096, .rate = 500,
                          .burst = 1000};
}

void am_review_api(am_review *rv, const char *method, const char *path, am_arg_fn arg, void *ctx, am_reply *out) {
    memset(out, 0, sizeof *out);
    const int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(path, "label") && post) return label(rv, arg, ctx, out);
    if (!strcmp(path, "undo") && post) return undo(rv, out);
    if (!strcmp(path, "image") && get) return image(rv, arg, ctx, out);
    if (!strcmp(path, "retrain") && post) {
        if (am_retrain_start(rv)) return error_reply(out, 409, am_error());
        text t;
        text_open(&t);
        fputs("{\"ok\":true}", t.f);
        return reply_text(out, &t, 202, "application/json");
    }
    // The rest read scores, labels, the remembered list and the retrain's state.
    pthread_mutex_lock(&rv->lock);
    pthread_mutex_lock(&rv->book.lock);
    if (!strcmp(path, "run") && get) run_info(rv, out);
    else if (!strcmp(path, "items") && get) items(rv, arg, ctx, out);
    else if (!strcmp(path, "hist") && get) hist(rv, arg, ctx, out);
    else if (!strcmp(path, "curves") && get) curves(rv, out);
    else if (!strcmp(path, "remember") && (get || post)) remember(rv, method, arg, ctx, out);
    else if (!strcmp(path, "remember.csv") && get) {
        out->body = remember_csv(rv, &out->len);
        out->status = 200;
        out->type = "text/csv";
        snprintf(out->header, sizeof out->header, "Content-Disposition: attachment; filename=\"remember.csv\"");
    } else if (!strcmp(path, "retrain") && get) retrain_info(rv, out);
    else error_reply(out, get || post ? 404 : 405, get || post ? "no such API" : "method not allowed");
    pthread_mutex_unlock(&rv->book.lock);
    pthread_mutex_unlock(&rv->lock);
}
