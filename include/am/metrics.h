// Ranking metrics of anomaly scores against labels (1 = anomaly, 0 = normal),
// computed as scikit-learn 1.9 does (tests/golden/metrics.txt holds its answers).
//
// Curves are built over the distinct score values (every item with the same score
// enters at the same threshold), so ties are handled exactly as sklearn does:
// - auroc: roc_auc_score, the trapezoid under (FPR, TPR) from (0, 0).
// - auprc: auc(recall, precision) of precision_recall_curve: the trapezoid under
//   (recall, precision) with the extra point (recall 0, precision 1) before the
//   highest threshold (AnomalyMatch's "AUPRC"). Older sklearn dropped the points
//   after full recall; they share recall 1, so the area is the same either way.
// - ap: average_precision_score, sum over thresholds of (R_k - R_{k-1}) P_k.
// - top 0.1% / 1%: the k = max(1, floor(n * pct / 100)) highest scores, as
//   AnomalyMatch's benchmark counts them (floor, not ceil; pct = 0.1 and 1.0 in
//   that double expression). precision = anomalies in the top k / k, recall =
//   anomalies in the top k / all anomalies. Ties at the cut: the items sharing the
//   score at rank k count by the expected number of anomalies under a uniformly
//   random order among them (the tied group's anomaly fraction times the slots
//   left), so the result does not depend on input order and equals the plain
//   count whenever the cut falls between different scores.
// Scores must be finite and labels 0 or 1, with both classes present; otherwise
// the functions return -1 with am_error() set (sklearn raises or gives NaN).
#pragma once
#include <stddef.h>

typedef struct {
    size_t n, n_pos;                 // items, anomalies among them
    double auroc, auprc, ap;
    size_t k_top01, k_top1;          // items in the top 0.1% and the top 1%
    double prec_top01, rec_top01;    // precision and recall in the top 0.1%
    double prec_top1, rec_top1;      // ... and in the top 1%
} am_metrics;

// All of the above for n items. 0, or -1 with am_error() set.
int am_metrics_compute(am_metrics *m, const float *score, const int *label, size_t n);

// Precision and recall in the top `pct` percent (0 < pct <= 100) of scores, with
// the rule above; *k gets the count of items taken. 0, or -1 with am_error() set.
int am_metrics_top(double *precision, double *recall, size_t *k, const float *score,
                   const int *label, size_t n, double pct);

// A curve as malloc'd point arrays x[n], y[n].
typedef struct { double *x, *y; size_t n; } am_curve;

// ROC: (FPR, TPR) from (0, 0) to (1, 1), one point per distinct score, highest
// first: sklearn's roc_curve(drop_intermediate=False).
int am_roc_curve(am_curve *c, const float *score, const int *label, size_t n);
// Precision-recall: (recall, precision) in sklearn's order, lowest threshold first
// (recall 1) and ending at (0, 1): precision_recall_curve's (recall, precision).
int am_pr_curve(am_curve *c, const float *score, const int *label, size_t n);
void am_curve_free(am_curve *c);
