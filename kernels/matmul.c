/* matmul.c — the linear layer in HF Conv1D layout: out = inp @ W + bias. */
#include "kernels/kernels.h"

#include <string.h>

/* out's N rows = bias, the product then added with beta 1 (bias first, as
** torch's addmm: the same bits as before). On all threads: one thread
** writing a prefill's 1024 x 3072 output took 7% of the prefill. */
static void fill_bias(float *out, const float *bias, int N, int OC) {
#pragma omp parallel for schedule(static) if ((long)N * OC >= (1L << 16))
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, sizeof(float) * (size_t)OC);
}

void wf_matmul_forward(float *out, const float *inp, const float *W, const float *bias,
                       int N, int C, int OC) {
    if (bias) {
        fill_bias(out, bias, N, OC);
        wf_gemm(0, 0, N, OC, C, 1.0f, inp, C, W, OC, 1.0f, out, OC);
    } else {
        wf_gemm(0, 0, N, OC, C, 1.0f, inp, C, W, OC, 0.0f, out, OC);
    }
}

void wf_matmul_forward_p64(float *out, const float *inp, const float *Wp, const float *bias, int N, int C,
                           int OC) {
    if (bias) fill_bias(out, bias, N, OC);
    wf_gemm_p64(N, OC, C, 1.0f, inp, C, Wp, bias ? 1.0f : 0.0f, out, OC);
}

void wf_matmul_forward_naive(float *out, const float *inp, const float *W, const float *bias,
                             int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) s += (double)inp[(size_t)n * C + c] * W[(size_t)c * OC + o];
            out[(size_t)n * OC + o] = (float)s;
        }
}
