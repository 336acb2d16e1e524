/* layernorm.c — LayerNorm forward over rows of C channels: two passes (mean,
** then centred variance) accumulated in double, so rows with a large offset
** keep their precision; the per-row work is cloned for AVX-512 and the
** reductions are `omp simd` (they may be reordered, and vectorize). */
#include "kernels/kernels_int.h"

#include <math.h>

/* A row's mean and 1/sqrt(var + eps). */
WF_CLONES
static void ln_stats(const float *x, int C, float eps, float *mean, float *rstd) {
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
    *mean = m;
    *rstd = (float)(1.0 / sqrt(v / C + (double)eps));
}

/* o[0..n) of a row from its statistics: one function for both outputs, so
** the bf16 one rounds the very floats the fp32 one stores. */
WF_CLONES
static void ln_out(float *o, const float *x, float m, float r, const float *w, const float *b, int n) {
    for (int c = 0; c < n; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
}

void wf_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > 65536)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m, r;
        ln_stats(x, C, eps, &m, &r);
        ln_out(out + (size_t)n * C, x, m, r, w, b, C);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = r;
    }
}

enum { LN_PIECE = 512 }; /* columns rounded at a time, through an L1 buffer */

void wf_layernorm_forward_bf16(uint16_t *out, float *mean, float *rstd, const float *inp,
                               const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > 65536)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m, r, piece[LN_PIECE];
        ln_stats(x, C, eps, &m, &r);
        for (int c0 = 0; c0 < C; c0 += LN_PIECE) {
            int k = C - c0 < LN_PIECE ? C - c0 : LN_PIECE;
            ln_out(piece, x + c0, m, r, w + c0, b + c0, k);
            wf_bf16x_from_f32(out + (size_t)n * C + c0, piece, (size_t)k);
        }
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = r;
    }
}
