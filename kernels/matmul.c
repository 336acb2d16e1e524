/* matmul.c — the linear layer in HF Conv1D layout: out = inp @ W + bias. */
#include "kernels/kernels_int.h"

#include <string.h>

/* With a bias: C = bias, then the product added with beta 1 (torch's addmm
** order), written into each C tile as the product reaches it
** (wf_gemm_bias): a separate pass writing a prefill's 1024 x 3072 outputs
** took 7% of it on one thread. */
void wf_matmul_forward(float *out, const float *inp, const float *W, const float *bias,
                       int N, int C, int OC) {
    if (bias) wf_gemm_bias(0, N, OC, C, inp, C, W, OC, bias, out, OC);
    else wf_gemm(0, 0, N, OC, C, 1.0f, inp, C, W, OC, 0.0f, out, OC);
}

void wf_matmul_forward_p64(float *out, const float *inp, const float *Wp, const float *bias, int N, int C,
                           int OC) {
    if (bias) wf_gemm_bias(2, N, OC, C, inp, C, Wp, 0, bias, out, OC);
    else wf_gemm_p64(N, OC, C, 1.0f, inp, C, Wp, 0.0f, out, OC);
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
