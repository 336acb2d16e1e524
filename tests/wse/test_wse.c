/* test_wse.c — the weight-streaming matmul on the simulated fabric: results
** bit-identical to the host reference in the kernel's order and within 1e-5
** of kernels/ wf_gemm (fp32); fp16 bit-identical to its reference; the
** analytic cycle model within 10% of the simulated cycles; bad configs fail
** with a message naming the problem. */
#include "tests/check.h"
#include "wse/wse.h"
#include "kernels/kernels.h"

#include <stdlib.h>

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void one(int T, int K, int N, int kx, int ky, int nb, int f16) {
    wf_wse_mm_cfg c = {T, K, N, kx, ky, nb, f16, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL};
    float *X = malloc(sizeof(float) * T * K), *W = malloc(sizeof(float) * K * N);
    float *Y = malloc(sizeof(float) * T * N), *R = malloc(sizeof(float) * T * N), *G = malloc(sizeof(float) * T * N);
    unsigned s = (unsigned)(T * 31 + K * 7 + N + f16);
    for (int i = 0; i < T * K; i++) X[i] = frand(&s);
    for (int i = 0; i < K * N; i++) W[i] = frand(&s);
    for (int i = 0; i < T * N; i++) Y[i] = NAN;
    wf_wse_mm_stats st;
    wf_err e = {0};
    wf_status rc = wf_wse_mm_run(&c, X, W, Y, &st, &e);
    WF_CHECK_EQ(rc, WF_OK);
    if (rc) fprintf(stderr, "  %s\n", e.msg);
    wf_wse_mm_ref(&c, X, W, R);
    wf_gemm_naive(0, 0, T, N, K, 1.0f, X, K, W, N, 0.0f, G, N);
    int same = 1;
    double rel = 0;
    for (int i = 0; i < T * N; i++) {
        if (!(Y[i] == R[i])) same = 0; /* NaN fails */
        double d = fabs((double)Y[i] - G[i]) / (fabs(G[i]) + 1.0);
        if (!(d <= rel)) rel = isnan(d) ? INFINITY : d;
    }
    WF_CHECK(same);
    if (!f16) WF_CHECK(rel <= 1e-5);
    else if (f16 == 2) { /* fp16 inputs, fp32 sums: the fp16 rounding of X and W and nothing more */
        double rel16 = 0;
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                double g = 0; /* the exact product of the fp16-rounded inputs */
                for (int k = 0; k < K; k++)
                    g += (double)wf_f16_to_f32(wf_f32_to_f16(X[t * K + k])) *
                         wf_f16_to_f32(wf_f32_to_f16(W[k * N + n]));
                double d = fabs((double)Y[t * N + n] - g) / (fabs(g) + 1.0);
                if (!(d <= rel16)) rel16 = isnan(d) ? INFINITY : d;
            }
        printf("  mixed precision: within %.2g of the exact sum of the fp16 products (fp32 sums), %.2g of fp32 gemm\n",
               rel16, rel);
        WF_CHECK(rel16 <= 1e-5);      /* fp32 accumulation */
        WF_CHECK(rel <= 5e-3);        /* fp16 inputs */
    } else WF_CHECK(rel <= 2e-2 * sqrt((double)K)); /* fp16 sums: a coarse band only */
    /* cycle model against the simulation */
    wf_wse_mm_model m;
    wf_wse_mm_predict(&c, NULL, &m);
    double err = fabs(m.total - (double)st.cycles) / (double)st.cycles;
    printf("mm T%d K%d N%d on %dx%d nb%d %s: %llu cycles, model %.0f (%.1f%%), max rel vs gemm %.2g\n", T, K, N,
           kx, ky, nb, f16 == 2 ? "fp16 x fp16 + fp32" : f16 ? "fp16" : "fp32", (unsigned long long)st.cycles,
           m.total, 100 * err, rel);
    WF_CHECK(err <= 0.10);
    free(X), free(W), free(Y), free(R), free(G);
}

static void bad_configs(void) {
    wf_err e = {0};
    wf_wse_mm_cfg c = {.T = 30, .K = 8, .N = 8, .kx = 4, .ky = 2, .nb = 4, .threads = 1}; /* 30 tokens on 4 columns */
    WF_CHECK_EQ(wf_wse_mm_check(&c, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "must divide");
    wf_wse_mm_cfg c2 = {32, 8, 10, 4, 2, 4, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL};
    WF_CHECK_EQ(wf_wse_mm_check(&c2, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "chunk nb 4");
    c2.N = 8, c2.fp16 = 3;
    WF_CHECK_EQ(wf_wse_mm_check(&c2, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "precision 3: expected 0 (fp32), 1 (fp16) or 2 (fp16 products, fp32 sums)");
    wf_wse_mm_cfg c3 = {.T = 4000, .K = 8, .N = 8, .kx = 1, .ky = 1, .nb = 8, .store = 1, .threads = 1}; /* Y: one PE */
    WF_CHECK_EQ(wf_wse_mm_check(&c3, &e), WF_ESRAM);
    WF_CHECK_HAS(e.msg, "SRAM is 49152");
    wf_wse_mm_cfg c4 = {8, 8, 8, 751, 1, 8, 0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL};
    WF_CHECK_EQ(wf_wse_mm_check(&c4, &e), WF_EUSAGE);
}

int main(void) {
    one(8, 8, 8, 1, 1, 8, 0);
    one(16, 12, 16, 2, 3, 4, 0);
    one(32, 32, 64, 4, 4, 16, 0);
    one(24, 16, 32, 3, 2, 8, 1);
    one(64, 64, 128, 4, 4, 32, 1);
    one(128, 96, 256, 4, 6, 64, 1);
    one(24, 16, 32, 3, 2, 8, 2);
    one(64, 96, 128, 4, 6, 32, 2);
    bad_configs();
    return wf_check_report();
}
