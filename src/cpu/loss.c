// Softmax cross-entropy, mean over the batch. The gradient w.r.t. the logits
// is assigned.
#include <stddef.h>
#include "am/ops.h"
#include "../../kernels/softmax_math.h"

float softmax_ce_forward(float *probs, const float *logits, const int *labels, int N, int K) {
    double sum = 0.0;
    for (int n = 0; n < N; n++)
        sum += am_softmax_ce_row(probs + (size_t)n * K, logits + (size_t)n * K, K, labels[n]);
    return (float)(sum / N);
}

void softmax_ce_backward(float *dlogits, const float *probs, const int *labels, int N, int K) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            size_t i = (size_t)n * K + k;
            dlogits[i] = (probs[i] - (k == labels[n] ? 1.0f : 0.0f)) / N;
        }
}
