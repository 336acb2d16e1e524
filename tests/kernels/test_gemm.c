/* test_gemm.c — wf_gemm on every path this CPU has (AVX-512, AVX2+FMA,
** portable: each forced in turn with wf_isa_force; the ones the CPU lacks
** are printed as skipped) and the portable C path against the naive reference, for every transpose, odd
** edge sizes, alpha/beta, leading dimensions wider than the matrix, the
** skinny (decode) path, and determinism across thread counts. */
#include "kernels/kernels.h"
#include "base/base.h"
#include "base/rng.h"
#include "tests/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

static float *randmat(wf_rng *r, size_t n) {
    float *x = wf_alloc(NULL, n * sizeof(float) + 64, "test", NULL);
    for (size_t i = 0; i < n; i++) x[i] = (float)(wf_rng_uniform(r) * 2 - 1);
    return x;
}

/* Max abs error of fn against the reference, relative to sqrt(K) scale. */
static double run_case(gemm_fn fn, wf_rng *r, int ta, int tb, int M, int N, int K, float alpha,
                       float beta, int pad) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = randmat(r, na), *B = randmat(r, nb), *C = randmat(r, nc), *R = wf_alloc(NULL, nc * 4 + 64, "t", NULL);
    for (size_t i = 0; i < nc; i++) R[i] = C[i];
    if (beta == 0.0f) /* C must not be read: poison it */
        for (size_t i = 0; i < nc; i++) C[i] = NAN;
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    wf_gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    double md = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double d = fabs((double)C[(size_t)i * ldc + j] - R[(size_t)i * ldc + j]);
            if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        }
    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, C); wf_free(NULL, R);
    return md;
}

static void sweep(gemm_fn fn, const char *what) {
    wf_rng r;
    wf_rng_seed(&r, 1);
    static const int dims[][3] = {{1, 1, 1}, {1, 77, 33}, {3, 300, 129}, {7, 50, 768}, {8, 40, 20},
                                  {13, 31, 17}, {15, 33, 257}, {29, 65, 300}, {64, 64, 64},
                                  {100, 130, 520}, {200, 70, 33}, {12, 300, 200}, {17, 130, 768},
                                  {31, 77, 100}, {33, 40, 65}, {48, 70, 300}, {49, 66, 129},
                                  {25, 1000, 40}};
    double worst = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int ab = 0; ab < 3; ab++) {
                    float alpha = ab == 2 ? -0.5f : 1.0f, beta = ab == 0 ? 0.0f : ab == 1 ? 1.0f : 0.25f;
                    int M = dims[d][0], N = dims[d][1], K = dims[d][2];
                    double e = run_case(fn, &r, ta, tb, M, N, K, alpha, beta, (int)(d % 3));
                    double tol = 1e-5 * sqrt((double)K) + 1e-6;
                    if (e > tol)
                        fprintf(stderr, "%s ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g: err %g\n",
                                what, ta, tb, M, N, K, alpha, beta, e);
                    WF_CHECK(e <= tol);
                    worst = wf_check_max(worst, e);
                }
    printf("%s: max abs error vs naive %.3g\n", what, worst);
}

static void test_k_zero_scales_c(void) {
    float C[4] = {1, 2, 3, 4}, A[1] = {0}, B[1] = {0};
    wf_gemm(0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C, 2);
    WF_CHECK_NEAR(C[3], 2.0, 0);
    wf_gemm(0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.0f, C, 2);
    WF_CHECK_NEAR(C[0], 0.0, 0);
}

static void test_deterministic_across_threads(void) {
    wf_rng r;
    wf_rng_seed(&r, 7);
    int M = 150, N = 200, K = 600;
    float *A = randmat(&r, (size_t)M * K), *B = randmat(&r, (size_t)K * N);
    float *C1 = wf_alloc(NULL, sizeof(float) * M * N, "t", NULL), *C2 = wf_alloc(NULL, sizeof(float) * M * N, "t", NULL);
    int nt = wf_kernels_threads();
    wf_kernels_set_threads(1);
    wf_gemm(0, 0, M, N, K, 1, A, K, B, N, 0, C1, N);
    wf_kernels_set_threads(3);
    wf_gemm(0, 0, M, N, K, 1, A, K, B, N, 0, C2, N);
    wf_kernels_set_threads(nt);
    int same = 1;
    for (int i = 0; i < M * N; i++) same &= C1[i] == C2[i];
    WF_CHECK(same);
    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, C1); wf_free(NULL, C2);
}

/* The skinny (decode) path gives every row the same bits whatever the batch
** it is computed in (continuous batching must not change a sequence's
** logits): rows computed alone (M = 1) against M = 2..48 at once, both
** layouts of B, N and K off the block sizes; then across thread counts. */
static void test_skinny_rows(void) {
    if (wf_isa_active() < WF_ISA_AVX2) {
        printf("skinny row invariance: skipped on path %s (no skinny kernel; blocked path)\n",
               wf_isa_name(wf_isa_active()));
        return;
    }
    wf_rng r;
    wf_rng_seed(&r, 21);
    int N = 333, K = 517, Mmax = 48;
    float *A = randmat(&r, (size_t)Mmax * K), *B = randmat(&r, (size_t)K * N);
    float *C1 = wf_alloc(NULL, sizeof(float) * Mmax * N, "t", NULL), *C2 = wf_alloc(NULL, sizeof(float) * Mmax * N, "t", NULL);
    int bad = 0, nt = wf_kernels_threads();
    for (int tb = 0; tb < 2; tb++) {
        for (int i = 0; i < Mmax; i++)
            wf_gemm(0, tb, 1, N, K, 0.5f, A + (size_t)i * K, K, B, tb ? K : N, 0.0f, C1 + (size_t)i * N, N);
        static const int ms[] = {2, 5, 6, 7, 13, 31, 48};
        for (size_t q = 0; q < sizeof ms / sizeof ms[0]; q++) {
            wf_gemm(0, tb, ms[q], N, K, 0.5f, A, K, B, tb ? K : N, 0.0f, C2, N);
            bad += memcmp(C1, C2, sizeof(float) * (size_t)ms[q] * N) != 0;
        }
    }
    WF_CHECK_EQ(bad, 0);
    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, C1); wf_free(NULL, C2);
    /* threads split columns only: same bits for 1 and 2 threads */
    int M = 20;
    N = 2000, K = 300;
    A = randmat(&r, (size_t)M * K), B = randmat(&r, (size_t)K * N);
    C1 = wf_alloc(NULL, sizeof(float) * M * N, "t", NULL), C2 = wf_alloc(NULL, sizeof(float) * M * N, "t", NULL);
    for (int tb = 0; tb < 2; tb++) {
        wf_kernels_set_threads(1);
        wf_gemm(0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 0.0f, C1, N);
        wf_kernels_set_threads(2);
        wf_gemm(0, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 0.0f, C2, N);
        wf_kernels_set_threads(nt);
        WF_CHECK(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0);
    }
    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, C1); wf_free(NULL, C2);
}

/* Weights packed in 64-column panels (wf_p64_pack, wf_gemm_p64), packed from
** either layout, N off the panel width, alpha, beta and a C wider than N:
** within the naive reference's tolerance for every M; the bits of wf_gemm(0,
** 0) on the unpacked matrix up to 48 rows (both skinny) and past 96 (both
** blocked); up to 48 rows, every row has the bits it has alone (continuous
** batching); the pad columns of the last panel are 0; wf_matmul_forward_p64
** with and without bias. */
static void test_p64(void) {
    wf_rng r;
    wf_rng_seed(&r, 64);
    static const int shapes[][2] = {{517, 333}, {64, 64}, {1, 1}, {130, 200}};
    static const int ms[] = {1, 2, 3, 7, 16, 48, 49, 64, 96, 100};
    int bad = 0, bad_pad = 0;
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int K = shapes[s][0], N = shapes[s][1], ldc = N + 3;
        float *B = randmat(&r, (size_t)K * N), *Bt = wf_alloc(NULL, sizeof(float) * (size_t)K * N + 64, "t", NULL);
        for (int p = 0; p < K; p++)
            for (int j = 0; j < N; j++) Bt[(size_t)j * K + p] = B[(size_t)p * N + j];
        size_t np = wf_p64_numel(K, N);
        WF_CHECK_EQ(np, (size_t)K * (size_t)((N + 63) / 64) * 64);
        float *P = randmat(&r, np), *Pt = randmat(&r, np); /* garbage first: the pad must be written */
        wf_p64_pack(P, 0, B, N, K, N);
        wf_p64_pack(Pt, 1, Bt, K, K, N);
        bad += memcmp(P, Pt, sizeof(float) * np) != 0;
        for (int j = N; j < (N + 63) / 64 * 64; j++)
            for (int p = 0; p < K; p++) bad_pad += P[((size_t)(j / 64) * K + p) * 64 + j % 64] != 0.0f;
        for (size_t q = 0; q < sizeof ms / sizeof ms[0]; q++)
            for (int ab = 0; ab < 2; ab++) {
                int M = ms[q];
                float alpha = ab ? -0.5f : 1.0f, beta = ab ? 0.25f : 0.0f;
                float *A = randmat(&r, (size_t)M * K), *C1 = randmat(&r, (size_t)M * ldc);
                float *C2 = wf_alloc(NULL, sizeof(float) * (size_t)M * ldc + 64, "t", NULL);
                float *R = wf_alloc(NULL, sizeof(float) * (size_t)M * ldc + 64, "t", NULL);
                memcpy(C2, C1, sizeof(float) * (size_t)M * ldc);
                memcpy(R, C1, sizeof(float) * (size_t)M * ldc);
                wf_gemm(0, 0, M, N, K, alpha, A, K, B, N, beta, C1, ldc);
                wf_gemm_p64(M, N, K, alpha, A, K, P, beta, C2, ldc);
                wf_gemm_naive(0, 0, M, N, K, alpha, A, K, B, N, beta, R, ldc);
                if (M <= 48 || M > 96) bad += memcmp(C1, C2, sizeof(float) * (size_t)M * ldc) != 0;
                if (M <= 48 && wf_isa_active() >= WF_ISA_AVX2) /* each row alone (C1 as scratch) */
                    for (int i = 0; i < M; i++) {
                        float *row = C1 + (size_t)i * ldc;
                        for (int j = 0; j < N; j++) row[j] = 0.0f;
                        wf_gemm_p64(1, N, K, alpha, A + (size_t)i * K, K, P, 0.0f, row, ldc);
                        if (beta == 0.0f) bad += memcmp(row, C2 + (size_t)i * ldc, sizeof(float) * (size_t)N) != 0;
                    }
                for (size_t i = 0; i < (size_t)M * ldc; i++) worst = wf_check_max(worst, fabs((double)C2[i] - R[i]));
                wf_free(NULL, A); wf_free(NULL, C1); wf_free(NULL, C2); wf_free(NULL, R);
            }
        wf_free(NULL, B); wf_free(NULL, Bt); wf_free(NULL, P); wf_free(NULL, Pt);
    }
    WF_CHECK_EQ(bad, 0);
    WF_CHECK_EQ(bad_pad, 0);
    WF_CHECK(worst <= 1e-5 * sqrt(517.0) + 1e-6);
    /* the linear layer, bias and none */
    int N = 5, C = 70, OC = 100;
    float *x = randmat(&r, (size_t)N * C), *W = randmat(&r, (size_t)C * OC), *b = randmat(&r, OC);
    float *Wp = wf_alloc(NULL, sizeof(float) * wf_p64_numel(C, OC), "t", NULL);
    float *o1 = randmat(&r, (size_t)N * OC), *o2 = randmat(&r, (size_t)N * OC);
    wf_p64_pack(Wp, 0, W, OC, C, OC);
    for (int bias = 0; bias < 2; bias++) {
        wf_matmul_forward(o1, x, W, bias ? b : NULL, N, C, OC);
        wf_matmul_forward_p64(o2, x, Wp, bias ? b : NULL, N, C, OC);
        WF_CHECK(memcmp(o1, o2, sizeof(float) * (size_t)N * OC) == 0);
    }
    wf_free(NULL, x); wf_free(NULL, W); wf_free(NULL, b); wf_free(NULL, Wp); wf_free(NULL, o1); wf_free(NULL, o2);
    printf("wf_gemm_p64 [%s]: M = 1..100 within tolerance (max abs error vs naive %.3g), wf_gemm's bits\n",
           wf_gemm_kernel_name(), worst);
}

/* int8 weights (wf_q8p_pack, wf_gemm_q8p): each dequantized weight within
** half a step (scale / 2) of the original, scale = block absmax / 127; both
** source layouts give the same bytes; pads are 0; the product matches the
** naive dequantized reference for every M (skinny slices and the blocked
** panel path); one and two rows (decoding) give each row the same bits. */
static void test_q8(void) {
    wf_rng r;
    wf_rng_seed(&r, 8);
    static const int shapes[][2] = {{300, 200}, {64, 64}, {33, 7}, {1, 1}};
    static const int ms[] = {1, 2, 3, 16, 48, 100};
    int bad = 0;
    double worst = 0, qerr = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int K = shapes[sh][0], N = shapes[sh][1], ldc = N + 2, nkb = (K + 31) / 32;
        float *B = randmat(&r, (size_t)K * N), *Bt = randmat(&r, (size_t)K * N);
        for (int p = 0; p < K; p++)
            for (int j = 0; j < N; j++) Bt[(size_t)j * K + p] = B[(size_t)p * N + j];
        size_t nq = wf_q8p_numel(K, N), ns = wf_q8p_nscale(K, N);
        int8_t *q = wf_alloc(NULL, nq, "t", NULL), *qt = wf_alloc(NULL, nq, "t", NULL);
        float *s = randmat(&r, ns), *st = randmat(&r, ns);
        memset(q, 0x55, nq);
        wf_q8p_pack(q, s, 0, B, N, K, N);
        wf_q8p_pack(qt, st, 1, Bt, K, K, N);
        bad += memcmp(q, qt, nq) != 0 || memcmp(s, st, sizeof(float) * ns) != 0;
        for (int j = 0; j < (N + 63) / 64 * 64; j++)
            for (int p = 0; p < K; p++) {
                int8_t v = q[((size_t)(j / 64) * K + p) * 64 + j % 64];
                float sc = s[((size_t)(j / 64) * nkb + p / 32) * 64 + j % 64];
                if (j >= N) {
                    bad += v != 0 || sc != 0.0f;
                    continue;
                }
                float w = B[(size_t)p * N + j];
                qerr = wf_check_max(qerr, fabs((double)v * sc - w) / (sc > 0 ? sc : 1));
            }
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
            int M = ms[k];
            float *A = randmat(&r, (size_t)M * K), *C = randmat(&r, (size_t)M * ldc);
            float *R = wf_alloc(NULL, sizeof(float) * (size_t)M * ldc + 64, "t", NULL);
            memcpy(R, C, sizeof(float) * (size_t)M * ldc);
            wf_gemm_q8p(M, N, K, 0.5f, A, K, q, s, 0.25f, C, ldc);
            wf_gemm_q8p_naive(M, N, K, 0.5f, A, K, q, s, 0.25f, R, ldc);
            for (size_t i = 0; i < (size_t)M * ldc; i++) worst = wf_check_max(worst, fabs((double)C[i] - R[i]));
            if (M <= 2) { /* each row alone, beta 0 (the decode path's rows) */
                float *one = wf_alloc(NULL, sizeof(float) * (size_t)ldc, "t", NULL);
                wf_gemm_q8p(M, N, K, 1.0f, A, K, q, s, 0.0f, C, ldc);
                for (int i = 0; i < M; i++) {
                    wf_gemm_q8p(1, N, K, 1.0f, A + (size_t)i * K, K, q, s, 0.0f, one, ldc);
                    bad += memcmp(one, C + (size_t)i * ldc, sizeof(float) * (size_t)N) != 0;
                }
                wf_free(NULL, one);
            }
            wf_free(NULL, A); wf_free(NULL, C); wf_free(NULL, R);
        }
        wf_free(NULL, B); wf_free(NULL, Bt); wf_free(NULL, q); wf_free(NULL, qt); wf_free(NULL, s); wf_free(NULL, st);
    }
    WF_CHECK_EQ(bad, 0);
    WF_CHECK(qerr <= 0.5 + 1e-3);
    WF_CHECK(worst <= 1e-5 * sqrt(300.0) + 1e-6);
    printf("wf_gemm_q8p [%s]: quantization error %.3f steps (<= 0.5), product vs naive %.3g\n", wf_gemm_kernel_name(),
           qerr, worst);
}

static void test_matmul_forward(void) {
    wf_rng r;
    wf_rng_seed(&r, 3);
    int N = 9, C = 70, OC = 45;
    float *x = randmat(&r, (size_t)N * C), *W = randmat(&r, (size_t)C * OC), *b = randmat(&r, OC);
    float *o1 = randmat(&r, (size_t)N * OC), *o2 = randmat(&r, (size_t)N * OC);
    wf_matmul_forward(o1, x, W, b, N, C, OC);
    wf_matmul_forward_naive(o2, x, W, b, N, C, OC);
    double md = 0;
    for (int i = 0; i < N * OC; i++) md = wf_check_max(md, fabs(o1[i] - o2[i]));
    WF_CHECK(md < 1e-5);
    wf_matmul_forward(o1, x, W, NULL, 1, C, OC);
    wf_matmul_forward_naive(o2, x, W, NULL, 1, C, OC);
    md = 0;
    for (int i = 0; i < OC; i++) md = wf_check_max(md, fabs(o1[i] - o2[i]));
    WF_CHECK(md < 1e-5);
    wf_free(NULL, x); wf_free(NULL, W); wf_free(NULL, b); wf_free(NULL, o1); wf_free(NULL, o2);
    /* with a bias, on the blocked paths too (rows past the skinny limits, K
    ** over several K blocks, N off the tile width): the bits of filling the
    ** rows with the bias and adding the product with beta 1, unpacked and on
    ** 64-column panels */
    static const int rows[] = {9, 49, 97, 300};
    int K = 600, M2 = 100, bad = 0;
    float *x2 = randmat(&r, (size_t)300 * K), *W2 = randmat(&r, (size_t)K * M2), *b2 = randmat(&r, M2);
    float *Wp = wf_alloc(NULL, sizeof(float) * wf_p64_numel(K, M2), "t", NULL);
    float *y1 = wf_alloc(NULL, sizeof(float) * 300 * M2, "t", NULL), *y2 = wf_alloc(NULL, sizeof(float) * 300 * M2, "t", NULL);
    float *y3 = wf_alloc(NULL, sizeof(float) * 300 * M2, "t", NULL);
    wf_p64_pack(Wp, 0, W2, M2, K, M2);
    for (size_t q = 0; q < sizeof rows / sizeof rows[0]; q++) {
        int n = rows[q];
        for (int i = 0; i < n; i++) memcpy(y2 + (size_t)i * M2, b2, sizeof(float) * M2);
        wf_gemm(0, 0, n, M2, K, 1.0f, x2, K, W2, M2, 1.0f, y2, M2);
        wf_matmul_forward(y1, x2, W2, b2, n, K, M2);
        bad += memcmp(y1, y2, sizeof(float) * (size_t)n * M2) != 0;
        for (int i = 0; i < n; i++) memcpy(y2 + (size_t)i * M2, b2, sizeof(float) * M2);
        wf_gemm_p64(n, M2, K, 1.0f, x2, K, Wp, 1.0f, y2, M2);
        wf_matmul_forward_p64(y3, x2, Wp, b2, n, K, M2);
        bad += memcmp(y3, y2, sizeof(float) * (size_t)n * M2) != 0;
        wf_matmul_forward_naive(y2, x2, W2, b2, n, K, M2);
        md = 0;
        for (size_t i = 0; i < (size_t)n * M2; i++) md = wf_check_max(md, fabs(y1[i] - y2[i]));
        WF_CHECK(md < 1e-5 * sqrt((double)K)); /* false for NaN */
    }
    WF_CHECK_EQ(bad, 0);
    wf_free(NULL, x2); wf_free(NULL, W2); wf_free(NULL, b2); wf_free(NULL, Wp);
    wf_free(NULL, y1); wf_free(NULL, y2); wf_free(NULL, y3);
}

static void test_bf16(void) {
    uint16_t h[4];
    float x[4] = {1.0f, 1.00390625f /* 1 + 2^-8: tie, to even */, 1.01171875f /* 1 + 3*2^-8 */, -2.5f};
    wf_bf16_from_f32(h, x, 4);
    WF_CHECK_EQ(h[0], 0x3F80);
    WF_CHECK_EQ(h[1], 0x3F80);
    WF_CHECK_EQ(h[2], 0x3F82);
    WF_CHECK_EQ(h[3], 0xC020);
    wf_rng r;
    wf_rng_seed(&r, 11);
    static const int dims[][3] = {{1, 1, 1}, {1, 300, 77}, {2, 129, 768}, {3, 17, 33}, {5, 200, 130}, {9, 64, 16}};
    double worst = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int tb = 0; tb < 2; tb++)
            for (int bt = 0; bt < 2; bt++) {
                int M = dims[d][0], N = dims[d][1], K = dims[d][2];
                float *A = randmat(&r, (size_t)M * K), *Wf = randmat(&r, (size_t)N * K);
                uint16_t *W = wf_alloc(NULL, sizeof(uint16_t) * (size_t)N * K + 64, "t", NULL);
                wf_bf16_from_f32(W, Wf, (size_t)N * K);
                float *C1 = randmat(&r, (size_t)M * N), *C2 = wf_alloc(NULL, sizeof(float) * (size_t)M * N, "t", NULL);
                for (int i = 0; i < M * N; i++) C2[i] = C1[i];
                float beta = bt ? 0.5f : 0.0f;
                int ldw = tb ? K : N;
                wf_gemm_bf16w(tb, M, N, K, A, K, W, ldw, beta, C1, N);
                wf_gemm_bf16w_naive(tb, M, N, K, A, K, W, ldw, beta, C2, N);
                double e = 0;
                for (int i = 0; i < M * N; i++) e = wf_check_max(e, fabs((double)C1[i] - C2[i]));
                WF_CHECK(e <= 1e-5 * sqrt((double)K) + 1e-6);
                worst = wf_check_max(worst, e);
                wf_free(NULL, A); wf_free(NULL, Wf); wf_free(NULL, W); wf_free(NULL, C1); wf_free(NULL, C2);
            }
    printf("wf_gemm_bf16w: max abs error vs naive %.3g\n", worst);
    /* packed in 128-column panels: the bits of wf_gemm_bf16w(0) on the same
    ** bf16 matrix, packed from either layout, pad columns 0 */
    int bad = 0;
    static const int pd[][3] = {{1, 300, 77}, {5, 129, 768}, {16, 128, 33}, {3, 1, 5}};
    for (size_t d = 0; d < sizeof pd / sizeof pd[0]; d++) {
        int M = pd[d][0], N = pd[d][1], K = pd[d][2];
        float *A = randmat(&r, (size_t)M * K), *Wf = randmat(&r, (size_t)K * N), *Wt = randmat(&r, (size_t)K * N);
        for (int p = 0; p < K; p++)
            for (int j = 0; j < N; j++) Wt[(size_t)j * K + p] = Wf[(size_t)p * N + j];
        uint16_t *W = wf_alloc(NULL, sizeof(uint16_t) * (size_t)K * N + 64, "t", NULL);
        size_t np = wf_bf16p_numel(K, N);
        uint16_t *P = wf_alloc(NULL, sizeof(uint16_t) * np, "t", NULL), *Pt = wf_alloc(NULL, sizeof(uint16_t) * np, "t", NULL);
        memset(P, 0xFF, sizeof(uint16_t) * np);
        wf_bf16_from_f32(W, Wf, (size_t)K * N);
        wf_bf16p_pack(P, 0, Wf, N, K, N);
        wf_bf16p_pack(Pt, 1, Wt, K, K, N);
        bad += memcmp(P, Pt, sizeof(uint16_t) * np) != 0;
        for (int j = N; j < (N + 127) / 128 * 128; j++) bad += P[(size_t)(j / 128) * K * 128 + j % 128] != 0;
        float *C1 = randmat(&r, (size_t)M * N), *C2 = wf_alloc(NULL, sizeof(float) * (size_t)M * N, "t", NULL);
        memcpy(C2, C1, sizeof(float) * (size_t)M * N);
        wf_gemm_bf16w(0, M, N, K, A, K, W, N, 0.5f, C1, N);
        wf_gemm_bf16p(M, N, K, A, K, P, 0.5f, C2, N);
        bad += memcmp(C1, C2, sizeof(float) * (size_t)M * N) != 0;
        wf_free(NULL, A); wf_free(NULL, Wf); wf_free(NULL, Wt); wf_free(NULL, W);
        wf_free(NULL, P); wf_free(NULL, Pt); wf_free(NULL, C1); wf_free(NULL, C2);
    }
    WF_CHECK_EQ(bad, 0);
}

/* One row against packed weights (decoding one sequence): each thread
** walks two halves of its panels side by side. On 1, 2, 3 and 4 threads,
** with an odd and an even number of full panels per thread, a partial
** last panel, and rows wider than the unpacked path's 2,048-column pass:
** fp32 panels give wf_gemm(0, 0)'s bits on the unpacked matrix (alpha,
** beta; itself streaming rows, checked against many-row products in
** test_skinny_rows), bf16 panels wf_gemm_bf16w(0)'s on the bf16 matrix,
** int8 panels the bits of row 0 of a two-row product (the per-panel kernel). */
static void test_row_streams(void) {
    wf_rng r;
    wf_rng_seed(&r, 2);
    static const int shapes[][2] = {{300, 64 * 9 + 13}, {600, 128 * 4}, {257, 128}, {700, 64 * 3}, {40, 4200}};
    int bad = 0, nt0 = wf_kernels_threads();
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int K = shapes[sh][0], N = shapes[sh][1];
        float *B = randmat(&r, (size_t)K * N), *A = randmat(&r, 2 * (size_t)K);
        memcpy(A + K, A, sizeof(float) * (size_t)K); /* row 1 = row 0 */
        float *P = wf_alloc(NULL, sizeof(float) * wf_p64_numel(K, N), "t", NULL);
        uint16_t *H = wf_alloc(NULL, sizeof(uint16_t) * wf_bf16p_numel(K, N), "t", NULL);
        uint16_t *W = wf_alloc(NULL, sizeof(uint16_t) * (size_t)K * N, "t", NULL);
        int8_t *q = wf_alloc(NULL, wf_q8p_numel(K, N), "t", NULL);
        float *qs = wf_alloc(NULL, sizeof(float) * wf_q8p_nscale(K, N), "t", NULL);
        wf_p64_pack(P, 0, B, N, K, N);
        wf_bf16p_pack(H, 0, B, N, K, N);
        wf_bf16_from_f32(W, B, (size_t)K * N);
        wf_q8p_pack(q, qs, 0, B, N, K, N);
        float *C0 = randmat(&r, (size_t)N), *R = wf_alloc(NULL, sizeof(float) * 2 * (size_t)N, "t", NULL);
        float *C = wf_alloc(NULL, sizeof(float) * (size_t)N, "t", NULL);
        for (int nt = 1; nt <= 4; nt++) {
            wf_kernels_set_threads(nt);
            memcpy(R, C0, sizeof(float) * (size_t)N);
            memcpy(C, C0, sizeof(float) * (size_t)N);
            wf_gemm(0, 0, 1, N, K, -0.5f, A, K, B, N, 0.25f, R, N);
            wf_gemm_p64(1, N, K, -0.5f, A, K, P, 0.25f, C, N);
            bad += memcmp(R, C, sizeof(float) * (size_t)N) != 0;
            memcpy(R, C0, sizeof(float) * (size_t)N);
            memcpy(C, C0, sizeof(float) * (size_t)N);
            wf_gemm_bf16w(0, 1, N, K, A, K, W, N, 0.5f, R, N);
            wf_gemm_bf16p(1, N, K, A, K, H, 0.5f, C, N);
            bad += memcmp(R, C, sizeof(float) * (size_t)N) != 0;
            wf_gemm_q8p(2, N, K, 0.5f, A, K, q, qs, 0.0f, R, N);
            wf_gemm_q8p(1, N, K, 0.5f, A, K, q, qs, 0.0f, C, N);
            bad += memcmp(R, C, sizeof(float) * (size_t)N) != 0 || memcmp(R + N, C, sizeof(float) * (size_t)N) != 0;
        }
        wf_kernels_set_threads(nt0);
        wf_free(NULL, B); wf_free(NULL, A); wf_free(NULL, P); wf_free(NULL, H); wf_free(NULL, W);
        wf_free(NULL, q); wf_free(NULL, qs); wf_free(NULL, C0); wf_free(NULL, R); wf_free(NULL, C);
    }
    WF_CHECK_EQ(bad, 0);
}

/* The bf16 weight kernels give the same bits on the AVX-512 and the AVX2
** path (one FMA chain per column, the same epilogue): one row (decoding)
** and five, 128-column blocks and a 44-column tail, beta 0 and 0.5. */
static void test_bf16_isas(void) {
    if (wf_isa_cpu() < WF_ISA_AVX512) {
        printf("SKIP bf16 AVX-512 against AVX2: this CPU has at most %s\n", wf_isa_name(wf_isa_cpu()));
        return;
    }
    wf_rng r;
    wf_rng_seed(&r, 16);
    int K = 200, N = 300, bad = 0;
    float *B = randmat(&r, (size_t)K * N), *A = randmat(&r, 5 * (size_t)K), *C0 = randmat(&r, 5 * (size_t)N);
    uint16_t *P = wf_alloc(NULL, sizeof(uint16_t) * wf_bf16p_numel(K, N), "t", NULL);
    wf_bf16p_pack(P, 0, B, N, K, N);
    float *C[2];
    for (int m = 1; m <= 5; m += 4)
        for (int bt = 0; bt < 2; bt++) {
            for (int k = 0; k < 2; k++) {
                WF_CHECK_EQ(wf_isa_force(k ? WF_ISA_AVX2 : WF_ISA_AVX512), k ? WF_ISA_AVX2 : WF_ISA_AVX512);
                C[k] = wf_alloc(NULL, sizeof(float) * 5 * (size_t)N, "t", NULL);
                memcpy(C[k], C0, sizeof(float) * 5 * (size_t)N);
                wf_gemm_bf16p(m, N, K, A, K, P, bt ? 0.5f : 0.0f, C[k], N);
            }
            bad += memcmp(C[0], C[1], sizeof(float) * (size_t)m * N) != 0;
            wf_free(NULL, C[0]); wf_free(NULL, C[1]);
        }
    wf_isa_force((wf_isa)-1);
    WF_CHECK_EQ(bad, 0);
    wf_free(NULL, B); wf_free(NULL, A); wf_free(NULL, C0); wf_free(NULL, P);
}

int main(void) {
    printf("gemm kernel: %s (cpu path %s)\n", wf_gemm_kernel_name(), wf_isa_name(wf_isa_cpu()));
    static const wf_isa paths[] = {WF_ISA_AVX512, WF_ISA_AVX2, WF_ISA_PORTABLE};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (paths[i] > wf_isa_cpu()) {
            printf("SKIP path %s: this CPU has at most %s\n", wf_isa_name(paths[i]), wf_isa_name(wf_isa_cpu()));
            continue;
        }
        WF_CHECK_EQ(wf_isa_force(paths[i]), paths[i]);
        char what[96];
        snprintf(what, sizeof what, "wf_gemm path %s [%s]", wf_isa_name(paths[i]), wf_gemm_kernel_name());
        sweep(wf_gemm, what);
        test_k_zero_scales_c();
        test_deterministic_across_threads();
        test_skinny_rows();
        test_p64();
        test_q8();
        test_matmul_forward();
        test_bf16();
        test_row_streams();
    }
    wf_isa_force((wf_isa)-1);
    test_bf16_isas();
    sweep(wf_gemm_portable, "wf_gemm_portable");
    return wf_check_report();
}
