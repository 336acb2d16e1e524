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
    wf_wse_mm_cfg c = {T, K, N, kx, ky, nb, f16, 1, 1, NULL, NULL, NULL, NULL};
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
    else WF_CHECK(rel <= 2e-2 * sqrt((double)K)); /* fp16 sums: a coarse band only */
    /* cycle model against the simulation */
    wf_wse_mm_model m;
    wf_wse_mm_predict(&c, NULL, &m);
    double err = fabs(m.total - (double)st.cycles) / (double)st.cycles;
    printf("mm T%d K%d N%d on %dx%d nb%d %s: %llu cycles, model %.0f (%.1f%%), max rel vs gemm %.2g\n", T, K, N,
           kx, ky, nb, f16 ? "fp16" : "fp32", (unsigned long long)st.cycles, m.total, 100 * err, rel);
    WF_CHECK(err <= 0.10);
    free(X), free(W), free(Y), free(R), free(G);
}

static void bad_configs(void) {
    wf_err e = {0};
    wf_wse_mm_cfg c = {30, 8, 8, 4, 2, 4, 0, 0, 1, NULL, NULL, NULL, NULL}; /* 30 tokens on 4 columns */
    WF_CHECK_EQ(wf_wse_mm_check(&c, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "must divide");
    wf_wse_mm_cfg c2 = {32, 8, 10, 4, 2, 4, 0, 0, 1, NULL, NULL, NULL, NULL};
    WF_CHECK_EQ(wf_wse_mm_check(&c2, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "chunk nb 4");
    wf_wse_mm_cfg c3 = {4000, 8, 8, 1, 1, 8, 0, 1, 1, NULL, NULL, NULL, NULL}; /* Y of 4000 x 8 floats on one PE */
    WF_CHECK_EQ(wf_wse_mm_check(&c3, &e), WF_ESRAM);
    WF_CHECK_HAS(e.msg, "SRAM is 49152");
    wf_wse_mm_cfg c4 = {8, 8, 8, 751, 1, 8, 0, 0, 1, NULL, NULL, NULL, NULL};
    WF_CHECK_EQ(wf_wse_mm_check(&c4, &e), WF_EUSAGE);
}

int main(void) {
    one(8, 8, 8, 1, 1, 8, 0);
    one(16, 12, 16, 2, 3, 4, 0);
    one(32, 32, 64, 4, 4, 16, 0);
    one(24, 16, 32, 3, 2, 8, 1);
    one(64, 64, 128, 4, 4, 32, 1);
    one(128, 96, 256, 4, 6, 64, 1);
    bad_configs();
    return wf_check_report();
}
