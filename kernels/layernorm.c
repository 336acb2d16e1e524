/* layernorm.c — LayerNorm forward over rows of C channels: two passes (mean,
** then centred variance) accumulated in double, so rows with a large offset
** keep their precision; the per-row work is cloned for AVX-512 and the
** reductions are `omp simd` (they may be reordered, and vectorize). */
#include "kernels/kernels_int.h"

#include <math.h>

WF_CLONES
static void ln_row(float *o, float *mean, float *rstd, const float *x, const float *w,
                   const float *b, int C, float eps) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++) s += x[c];
    float m = (float)(s / C);
    double v = 0;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) {
        double d = (double)(x[c] - m);
        v += d * d;
    }
    float r = (float)(1.0 / sqrt(v / C + (double)eps));
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
    if (mean) *mean = m;
    if (rstd) *rstd = r;
}

void wf_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > 65536)
    for (int n = 0; n < N; n++)
        ln_row(out + (size_t)n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL,
               inp + (size_t)n * C, w, b, C, eps);
}
