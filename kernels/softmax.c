/* softmax.c — row softmax, log-sum-exp and cross-entropy over logits [N,V]. */
#include "kernels/kernels.h"

#include <math.h>

float wf_logsumexp(const float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    if (m == -INFINITY) return m;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return m + (float)log(s);
}

void wf_softmax_forward(float *probs, const float *logits, int N, int V) {
#pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float lse = wf_logsumexp(x, V);
        for (int i = 0; i < V; i++) p[i] = expf(x[i] - lse);
    }
}

void wf_crossentropy_forward(float *losses, const float *logits, const int32_t *targets,
                             int N, int V) {
#pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        losses[n] = wf_logsumexp(x, V) - x[targets[n]];
    }
}
