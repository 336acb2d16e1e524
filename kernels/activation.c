/* activation.c — elementwise GELU (exact erf and tanh forms) and the
** residual add. The GELU loops use vectorizable erf/tanh built on
** wf_exp_neg (kernels_int.h), cloned for AVX-512: libm's erff/tanhf are
** scalar calls and cost as much as a layer's GEMMs in a long prefill.
** Accuracy: erf absolute error < 1.5e-7 (Abramowitz & Stegun 7.1.26),
** tanh absolute error < 1e-7; the naive forms are in the tests. */
#include "kernels/kernels_int.h"

#include <math.h>
#include <string.h>

#define ELT_CHUNK 4096 /* floats per task: parallel over chunks, vector inside */

/* One element of each form: the loops below (and wf_gelu_block_bf16) share
** them, so every caller gets the same bits. */
static inline float gelu_erf1(float x) {
    float z = x * 0.70710678118654752f;
    float a = z < 0 ? -z : z;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
                  0.254829592f) * t;
    float y = 1.0f - poly * wf_exp_neg(-a * a);
    float erf_z = z < 0 ? -y : y;
    return 0.5f * x * (1.0f + erf_z);
}

static inline float gelu_tanh1(float x) {
    const float s = 0.79788456080286536f; /* sqrt(2/pi) */
    float u = s * (x + 0.044715f * x * x * x);
    float a = u < 0 ? -u : u;
    float e = wf_exp_neg(-2.0f * a);
    float th = (1.0f - e) / (1.0f + e);
    return 0.5f * x * (1.0f + (u < 0 ? -th : th));
}

WF_CLONES
static void gelu_chunk(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gelu_erf1(inp[i]);
}

WF_CLONES
static void gelu_new_chunk(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gelu_tanh1(inp[i]);
}

/* bf16 bits of x, as wf_bf16_from_f32 rounds */
static inline uint16_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (uint16_t)(wf_bf16_round_bits(u) >> 16);
}

WF_CLONES
void wf_gelu_block_bf16(uint16_t *out, int ldo, const float *in, int ldi, int rows, int cols, int gelu_new) {
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * ldi;
        uint16_t *o = out + (size_t)r * ldo;
        if (gelu_new)
            for (int j = 0; j < cols; j++) o[j] = bf16_bits(gelu_tanh1(x[j]));
        else
            for (int j = 0; j < cols; j++) o[j] = bf16_bits(gelu_erf1(x[j]));
    }
}

void wf_gelu_forward(float *out, const float *inp, size_t n) {
    long nch = (long)((n + ELT_CHUNK - 1) / ELT_CHUNK);
#pragma omp parallel for schedule(static) if (nch > 16)
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * ELT_CHUNK, m = n - i0 < ELT_CHUNK ? n - i0 : ELT_CHUNK;
        gelu_chunk(out + i0, inp + i0, m);
    }
}

void wf_gelu_new_forward(float *out, const float *inp, size_t n) {
    long nch = (long)((n + ELT_CHUNK - 1) / ELT_CHUNK);
#pragma omp parallel for schedule(static) if (nch > 16)
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * ELT_CHUNK, m = n - i0 < ELT_CHUNK ? n - i0 : ELT_CHUNK;
        gelu_new_chunk(out + i0, inp + i0, m);
    }
}

void wf_colsum_add(float *sum, const float *B, int ldb, int K, int N) {
#pragma omp parallel for schedule(static) if ((long)N * K > 65536)
    for (int j0 = 0; j0 < N; j0 += COLSUM_STRIP) { /* row by row into column strips: contiguous, vectorizable */
        int j1 = j0 + COLSUM_STRIP < N ? j0 + COLSUM_STRIP : N;
        for (int k = 0; k < K; k++) {
            const float *b = B + (size_t)k * ldb;
            for (int j = j0; j < j1; j++) sum[j] += b[j];
        }
    }
}

void wf_residual_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
