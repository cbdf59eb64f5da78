// Ranking metrics (AUROC, AUPRC, AP, top-percent precision/recall) as sklearn
// computes them; the rules are stated in include/am/metrics.h.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "am/error.h"
#include "am/metrics.h"

typedef struct { float s; int y; } item;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const item *)a)->s, y = ((const item *)b)->s;
    return (x < y) - (x > y);
}

// Validates the inputs and returns them sorted by descending score (malloc'd),
// with the anomaly count in *npos; NULL with am_error() set on bad input.
static item *sorted_items(size_t *npos, const float *score, const int *label, size_t n) {
    if (n == 0) { am_seterr("metrics: no items"); return NULL; }
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (label[i] != 0 && label[i] != 1) {
            am_seterr("metrics: label %d of item %zu is not 0 (normal) or 1 (anomaly)", label[i], i);
            return NULL;
        }
        if (!isfinite(score[i])) {
            am_seterr("metrics: score of item %zu is not finite (%g)", i, (double)score[i]);
            return NULL;
        }
        p += (size_t)label[i];
    }
    if (p == 0 || p == n) {
        am_seterr("metrics: only one class among %zu items (%zu anomalies): ROC and PR curves are undefined", n, p);
        return NULL;
    }
    item *it = AM_MALLOC(sizeof(item) * n);
    for (size_t i = 0; i < n; i++) it[i] = (item){score[i], label[i]};
    qsort(it, n, sizeof(item), by_score_desc);
    *npos = p;
    return it;
}

// Cumulative true and false positives at the end of each run of equal scores
// (each distinct threshold, highest first); returns the number of thresholds.
static size_t thresholds(size_t *tp, size_t *fp, const item *it, size_t n) {
    size_t t = 0, cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += (size_t)it[i].y;
        if (i == n - 1 || it[i + 1].s != it[i].s) {
            tp[t] = cum;
            fp[t] = i + 1 - cum;
            t++;
        }
    }
    return t;
}

// Expected anomalies among the top k of the sorted items (ties at the cut by
// the tied group's anomaly fraction).
static double top_hits(const item *it, size_t n, size_t k) {
    size_t a = k - 1, b = k;
    while (a > 0 && it[a - 1].s == it[k - 1].s) a--;
    while (b < n && it[b].s == it[k - 1].s) b++;
    size_t before = 0, group = 0;
    for (size_t i = 0; i < a; i++) before += (size_t)it[i].y;
    for (size_t i = a; i < b; i++) group += (size_t)it[i].y;
    return (double)before + (double)group * (double)(k - a) / (double)(b - a);
}

static size_t top_count(size_t n, double pct) {
    double v = floor((double)n * pct / 100.0);
    size_t k = v < 1.0 ? 1 : (size_t)v;
    return k > n ? n : k;
}

int am_metrics_top(double *precision, double *recall, size_t *k, const float *score,
                   const int *label, size_t n, double pct) {
    if (!(pct > 0.0 && pct <= 100.0)) return am_seterr("metrics: top percent %g is not in (0, 100]", pct);
    size_t npos;
    item *it = sorted_items(&npos, score, label, n);
    if (!it) return -1;
    size_t kk = top_count(n, pct);
    double hits = top_hits(it, n, kk);
    *precision = hits / (double)kk;
    *recall = hits / (double)npos;
    if (k) *k = kk;
    free(it);
    return 0;
}

int am_metrics_compute(am_metrics *m, const float *score, const int *label, size_t n) {
    size_t P;
    item *it = sorted_items(&P, score, label, n);
    if (!it) return -1;
    size_t *tp = AM_MALLOC(sizeof(size_t) * n), *fp = AM_MALLOC(sizeof(size_t) * n);
    size_t T = thresholds(tp, fp, it, n), N = n - P;

    // ROC: twice the trapezoid area in integer units, exact.
    uint64_t area2 = 0;
    // PR: trapezoid from (recall 0, precision 1); AP: step sum.
    double auprc = 0.0, ap = 0.0, r0 = 0.0, p0 = 1.0;
    for (size_t k = 0; k < T; k++) {
        size_t tpp = k ? tp[k - 1] : 0, fpp = k ? fp[k - 1] : 0;
        area2 += (uint64_t)(fp[k] - fpp) * (uint64_t)(tp[k] + tpp);
        double r = (double)tp[k] / (double)P, p = (double)tp[k] / (double)(tp[k] + fp[k]);
        auprc += (r - r0) * (p + p0) / 2.0;
        ap += (r - r0) * p;
        r0 = r;
        p0 = p;
    }
    m->n = n;
    m->n_pos = P;
    m->auroc = (double)area2 / (2.0 * (double)N * (double)P);
    m->auprc = auprc;
    m->ap = ap;
    m->k_top01 = top_count(n, 0.1);
    m->k_top1 = top_count(n, 1.0);
    double h01 = top_hits(it, n, m->k_top01), h1 = top_hits(it, n, m->k_top1);
    m->prec_top01 = h01 / (double)m->k_top01;
    m->rec_top01 = h01 / (double)P;
    m->prec_top1 = h1 / (double)m->k_top1;
    m->rec_top1 = h1 / (double)P;
    free(tp);
    free(fp);
    free(it);
    return 0;
}

static int curve(am_curve *c, const float *score, const int *label, size_t n, int roc) {
    c->x = c->y = NULL;
    c->n = 0;
    size_t P;
    item *it = sorted_items(&P, score, label, n);
    if (!it) return -1;
    size_t *tp = AM_MALLOC(sizeof(size_t) * n), *fp = AM_MALLOC(sizeof(size_t) * n);
    size_t T = thresholds(tp, fp, it, n), N = n - P;
    c->n = T + 1;
    c->x = AM_MALLOC(sizeof(double) * c->n);
    c->y = AM_MALLOC(sizeof(double) * c->n);
    if (roc) {
        c->x[0] = c->y[0] = 0.0;
        for (size_t k = 0; k < T; k++) {
            c->x[k + 1] = (double)fp[k] / (double)N;
            c->y[k + 1] = (double)tp[k] / (double)P;
        }
    } else {
        for (size_t k = 0; k < T; k++) {
            size_t j = T - 1 - k;
            c->x[k] = (double)tp[j] / (double)P;
            c->y[k] = (double)tp[j] / (double)(tp[j] + fp[j]);
        }
        c->x[T] = 0.0;
        c->y[T] = 1.0;
    }
    free(tp);
    free(fp);
    free(it);
    return 0;
}

int am_roc_curve(am_curve *c, const float *score, const int *label, size_t n) {
    return curve(c, score, label, n, 1);
}

int am_pr_curve(am_curve *c, const float *score, const int *label, size_t n) {
    return curve(c, score, label, n, 0);
}

void am_curve_free(am_curve *c) {
    free(c->x);
    free(c->y);
    c->x = c->y = NULL;
    c->n = 0;
}
