/* test_gemm_bf16x.c — wf_gemm_bf16x on every path this CPU has (AMX tiles,
** vdpbf16ps, bf16 widened onto the fp32 micro-kernel (avx512bf16 where
** vdpbf16ps is slower, avx512, avx2), portable: each forced in turn with
** wf_isa_force and wf_gemm_bf16x_force_dot, the ones the CPU lacks named as
** skipped) and its portable path against the naive reference (both
** operands widened to fp32, double sums): every transpose, odd K (half a
** pair at the end of a block), K across the 512 block (vdpbf16ps) and the
** 1536 one (AMX), beta 0 (C poisoned
** with NaN), 1 and 0.25, wide leading dimensions; determinism across thread
** counts (1, 2, 3, 5); the rounding of wf_bf16_from_f32 the training path relies on;
** wf_gemm_mbf16's mixed operands and bias on the top path and the portable one;
** a large C stored non-temporally (AMX) with the bits of one stored as usual;
** the GELU epilogue (wf_gemm_mbf16_gelu) with the bits of two passes. */
#include "kernels/kernels.h"
#include "kernels/kernels_int.h"
#include "base/base.h"
#include "base/rng.h"
#include "tests/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*gemm_fn)(int, int, int, int, int, const uint16_t *, int, const uint16_t *, int,
                        float, float *, int);

static uint16_t *randbf(wf_rng *r, size_t n) {
    float *x = wf_alloc(NULL, n * sizeof(float) + 64, "test", NULL);
    uint16_t *h = wf_alloc(NULL, n * sizeof(uint16_t) + 64, "test", NULL);
    for (size_t i = 0; i < n; i++) x[i] = (float)(wf_rng_uniform(r) * 2 - 1);
    wf_bf16_from_f32(h, x, n);
    wf_free(NULL, x);
    return h;
}

/* 1: rows of x and y (pitches in elements of esize bytes) hold the same bits. */
static int rows_equal(const void *x, size_t ldx, const void *y, size_t ldy, int rows, size_t n, size_t esize) {
    for (int i = 0; i < rows; i++)
        if (memcmp((const char *)x + i * ldx * esize, (const char *)y + i * ldy * esize, n * esize)) return 0;
    return 1;
}

static double run_case(gemm_fn fn, wf_rng *r, int ta, int tb, int M, int N, int K, float beta, int pad) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    uint16_t *A = randbf(r, na), *B = randbf(r, nb);
    float *C = wf_alloc(NULL, nc * 4 + 64, "t", NULL), *R = wf_alloc(NULL, nc * 4 + 64, "t", NULL);
    for (size_t i = 0; i < nc; i++) C[i] = R[i] = (float)(wf_rng_uniform(r) * 2 - 1);
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++) C[i] = NAN;
    fn(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    wf_gemm_bf16x_naive(ta, tb, M, N, K, A, lda, B, ldb, beta, R, ldc);
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
    wf_rng_seed(&r, 7);
    static const int dims[][3] = {{1, 1, 1}, {1, 77, 33}, {3, 300, 129}, {13, 31, 17}, {15, 33, 257},
                                  {29, 65, 600}, {64, 64, 64}, {33, 47, 95}, {100, 130, 1031},
                                  {200, 70, 34}, {300, 33, 40}, {17, 1100, 45},
                                  /* K over the AMX kernel's 1536-deep block: C accumulates on tiles */
                                  {64, 96, 3100}, {37, 70, 1601}};
    int nd = getenv("WF_TEST_QUICK") ? 8 : (int)(sizeof dims / sizeof dims[0]);
    double worst = 0;
    for (int d = 0; d < nd; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bb = 0; bb < 3; bb++) {
                    float beta = bb == 0 ? 0.0f : bb == 1 ? 1.0f : 0.25f;
                    int M = dims[d][0], N = dims[d][1], K = dims[d][2];
                    double e = run_case(fn, &r, ta, tb, M, N, K, beta, d % 3);
                    /* exact bf16 products; only fp32 summation order differs */
                    double tol = 2e-6 * sqrt((double)K) + 1e-6;
                    if (e > tol)
                        fprintf(stderr, "%s ta=%d tb=%d M=%d N=%d K=%d beta=%g: err %g\n", what, ta, tb,
                                M, N, K, beta, e);
                    WF_CHECK(e <= tol);
                    worst = wf_check_max(worst, e);
                }
    printf("%s: worst abs error %.3g\n", what, worst);
}

static void test_threads(void) {
    wf_rng r;
    printf("threads: %s\n", wf_gemm_bf16x_kernel_name());
    wf_rng_seed(&r, 3);
    int M = 300, N = 200, K = 700;
    uint16_t *A = randbf(&r, (size_t)M * K), *B = randbf(&r, (size_t)K * N);
    float *C1 = wf_alloc(NULL, (size_t)M * N * 4, "t", NULL), *C2 = wf_alloc(NULL, (size_t)M * N * 4, "t", NULL);
    int old = wf_kernels_threads();
    wf_kernels_set_threads(1);
    wf_gemm_bf16x(0, 0, M, N, K, A, K, B, N, 0.0f, C1, N);
    wf_kernels_set_threads(2);
    wf_gemm_bf16x(0, 0, M, N, K, A, K, B, N, 0.0f, C2, N);
    wf_kernels_set_threads(old);
    WF_CHECK(memcmp(C1, C2, (size_t)M * N * 4) == 0);
    /* every transpose: also across thread counts */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            wf_kernels_set_threads(1);
            wf_gemm_bf16x(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0.0f, C1, N);
            /* 2, 3 and 5 threads: runs of tasks (wf_runs) split unevenly, the ones
            ** beyond the cores steal from the others */
            for (int nt = 2; nt <= 5; nt += nt == 2 ? 1 : 2) {
                wf_kernels_set_threads(nt);
                wf_gemm_bf16x(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0.0f, C2, N);
                WF_CHECK(memcmp(C1, C2, (size_t)M * N * 4) == 0);
            }
        }
    wf_kernels_set_threads(old);
    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, C1); wf_free(NULL, C2);
}

static void test_rounding(void) {
    float in[4] = {1.0f, 1.00390625f /* 1 + 2^-8: tie, to even 1.0 */, 1.01171875f /* tie, to odd up */, -2.5f};
    uint16_t h[4];
    wf_bf16_from_f32(h, in, 4);
    WF_CHECK_EQ(h[0], 0x3F80);
    WF_CHECK_EQ(h[1], 0x3F80);
    WF_CHECK_EQ(h[2], 0x3F82);
    WF_CHECK_EQ(h[3], 0xC020);
}

/* wf_bf16x_from_f32 gives wf_bf16_from_f32's bits: random bit patterns
** (all magnitudes, denormals, NaNs), exact ties, infinities, a tail past 16. */
static void test_convert(void) {
    wf_rng r;
    wf_rng_seed(&r, 5);
    size_t n = 100003;
    float *x = wf_alloc(NULL, n * sizeof(float), "t", NULL);
    uint16_t *a = wf_alloc(NULL, n * 2, "t", NULL), *b = wf_alloc(NULL, n * 2, "t", NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)wf_rng_next(&r);
        if (i % 3 == 0) u = (u & 0xFFFF0000u) | 0x8000u; /* exact ties */
        memcpy(&x[i], &u, sizeof u);
    }
    x[0] = INFINITY, x[1] = -INFINITY, x[2] = NAN, x[3] = 1e-40f, x[4] = -0.0f;
    wf_bf16_from_f32(a, x, n);
    wf_bf16x_from_f32(b, x, n);
    WF_CHECK(memcmp(a, b, n * 2) == 0);
    WF_CHECK_EQ(b[0], 0x7F80);
    WF_CHECK((b[2] & 0x7F80) == 0x7F80 && (b[2] & 0x7F));
    wf_free(NULL, x); wf_free(NULL, a); wf_free(NULL, b);
}

/* wf_bf16x32 (VCVTNE2PS2BF16 with the FLT_MIN fix-up, the bf16 attention's
** conversion) against wf_bf16_from_f32 on every pattern from 0x007E0000 to
** 0x00810000 of both signs (denormals, those that round to FLT_MIN, the
** first normals), exact ties, random words, NaN, infinities and zeros: the
** same bits, except where the reference is a bf16 denormal, which becomes a
** zero of the same sign (what the tiles read it as). */
#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
static __attribute__((target("avx512f,avx512bw,avx512bf16"))) int bf16x32_cases(const uint32_t *u, size_t n) {
    int bad = 0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        float x[32];
        uint16_t ref[32], got[32];
        memcpy(x, u + i, sizeof x);
        wf_bf16_from_f32(ref, x, 32);
        _mm512_storeu_si512((void *)got, wf_bf16x32(_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16)));
        for (int k = 0; k < 32; k++) {
            int denormal = (ref[k] & 0x7F80) == 0 && (ref[k] & 0x7F) != 0;
            uint16_t want = denormal ? (uint16_t)(ref[k] & 0x8000) : ref[k];
            if (got[k] != want && bad++ < 5)
                fprintf(stderr, "wf_bf16x32(0x%08x) = 0x%04x, want 0x%04x\n", (unsigned)u[i + k], got[k], want);
        }
    }
    return bad;
}

static void test_bf16x32(void) {
    if (wf_isa_cpu() < WF_ISA_AVX512BF16) {
        printf("SKIP wf_bf16x32: this CPU has no AVX512_BF16 (at most %s)\n", wf_isa_name(wf_isa_cpu()));
        return;
    }
    size_t span = 0x00810000u - 0x007E0000u, n = 2 * span + 3 * 65536 + 32;
    uint32_t *u = wf_alloc(NULL, sizeof(uint32_t) * n, "t", NULL);
    size_t k = 0;
    for (uint32_t s = 0; s < 2; s++)
        for (uint32_t v = 0x007E0000u; v < 0x00810000u; v++) u[k++] = v | s << 31;
    wf_rng r;
    wf_rng_seed(&r, 17);
    for (int i = 0; i < 3 * 65536; i++) {
        uint32_t v = (uint32_t)wf_rng_next(&r);
        u[k++] = i % 3 == 0 ? (v & 0xFFFF0000u) | 0x8000u : i % 3 == 1 ? v & 0x80FFFFFFu : v; /* ties, small, any */
    }
    static const uint32_t special[] = {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u, 0xFFBFFFFFu, 0, 0x80000000u,
                                       0x00000001u, 0x807FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0x3F808000u, 0x3F818000u};
    for (size_t i = 0; i < 32; i++) u[k++] = special[i % (sizeof special / sizeof special[0])];
    int bad = bf16x32_cases(u, k);
    printf("wf_bf16x32: %zu values, %d differ from wf_bf16_from_f32 where a tile would read them\n", k, bad);
    WF_CHECK_EQ(bad, 0);
    wf_free(NULL, u);
}
#else
static void test_bf16x32(void) { printf("SKIP wf_bf16x32: not built by this compiler\n"); }
#endif

/* wf_gemm_rbf16 (fp32 operands rounded to bf16 as they are packed) has the
** bits of wf_gemm_bf16x on explicitly rounded copies on the AMX path (the
** same tiles), and elsewhere those of wf_gemm on rounded copies (and of
** wf_gemm_bf16x too where that widens): every transpose, beta 0/1, shapes on
** the skinny path (M <= 48 rows) and the blocked one (K across a block),
** ties, denormals, leading dimensions wider than the operand. */
static void test_rbf16(const char *path) {
    wf_rng r;
    wf_rng_seed(&r, 11);
    static const int dims[][3] = {{1, 77, 33}, {13, 31, 17}, {48, 100, 70}, {49, 65, 600}, {100, 130, 1031},
                                  {300, 33, 40}};
    size_t nd = getenv("WF_TEST_QUICK") ? 4 : sizeof dims / sizeof dims[0];
    int cases = 0, same = 0, amx = wf_isa_active() >= WF_ISA_AMX;
    for (size_t d = 0; d < nd; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bb = 0; bb < 2; bb++) {
                    int M = dims[d][0], N = dims[d][1], K = dims[d][2], pad = 3;
                    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
                    float *A = wf_alloc(NULL, na * 4, "t", NULL), *B = wf_alloc(NULL, nb * 4, "t", NULL);
                    float *Ar = wf_alloc(NULL, na * 4, "t", NULL), *Br = wf_alloc(NULL, nb * 4, "t", NULL);
                    uint16_t *Ah = wf_alloc(NULL, na * 2, "t", NULL), *Bh = wf_alloc(NULL, nb * 2, "t", NULL);
                    float *C1 = wf_alloc(NULL, nc * 4, "t", NULL), *C2 = wf_alloc(NULL, nc * 4, "t", NULL);
                    float *C3 = wf_alloc(NULL, nc * 4, "t", NULL);
                    for (size_t i = 0; i < na; i++) A[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
                    for (size_t i = 0; i < nb; i++) B[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
                    for (size_t i = 0; i < na; i += 5) { /* exact ties between two bf16 values */
                        uint32_t u;
                        memcpy(&u, &A[i], 4);
                        u = (u & 0xFFFF0000u) | 0x8000u;
                        memcpy(&A[i], &u, 4);
                    }
                    for (size_t i = 3; i < nb; i += 7) { /* denormals, some rounding up to FLT_MIN */
                        uint32_t u;
                        memcpy(&u, &B[i], 4);
                        u = (u & 0x807FFFFFu) | (i % 2 ? 0x007FFFFFu : 0);
                        memcpy(&B[i], &u, 4);
                    }
                    wf_bf16_from_f32(Ah, A, na);
                    wf_bf16_from_f32(Bh, B, nb);
                    for (size_t i = 0; i < na; i++) { uint32_t u = (uint32_t)Ah[i] << 16; memcpy(&Ar[i], &u, 4); }
                    for (size_t i = 0; i < nb; i++) { uint32_t u = (uint32_t)Bh[i] << 16; memcpy(&Br[i], &u, 4); }
                    for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = C3[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
                    float beta = bb ? 1.0f : 0.0f;
                    wf_gemm_rbf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C1, ldc);
                    if (amx) wf_gemm_bf16x(ta, tb, M, N, K, Ah, lda, Bh, ldb, beta, C2, ldc);
                    else wf_gemm(ta, tb, M, N, K, 1.0f, Ar, lda, Br, ldb, beta, C2, ldc);
                    WF_CHECK(memcmp(C1, C2, nc * 4) == 0);
                    if (!amx && wf_gemm_bf16x_widens()) {
                        wf_gemm_bf16x(ta, tb, M, N, K, Ah, lda, Bh, ldb, beta, C3, ldc);
                        WF_CHECK(memcmp(C1, C3, nc * 4) == 0);
                        same++;
                    }
                    /* the rounding mattered: the unrounded product differs somewhere */
                    wf_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C3, ldc);
                    if (K > 16) WF_CHECK(memcmp(C1, C3, nc * 4) != 0);
                    cases++;
                    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, Ar); wf_free(NULL, Br);
                    wf_free(NULL, Ah); wf_free(NULL, Bh); wf_free(NULL, C1); wf_free(NULL, C2); wf_free(NULL, C3);
                }
    if (amx) printf("rbf16 on %s: %d cases bit-equal to wf_gemm_bf16x (AMX tiles) on rounded copies\n", path, cases);
    else
        printf("rbf16 on %s: %d cases bit-equal to wf_gemm on rounded copies, %d also to wf_gemm_bf16x\n", path,
               cases, same);
}

/* wf_gemm_mbf16 (each operand bf16 or fp32 rounded while packed, bias on the
** finished sums) has the bits of wf_gemm_bf16x on rounded copies followed by
** a separate bias pass: every transpose and mix of operand types, beta 0 (C
** poisoned) and 1, shapes in whole 32-row pairs and K steps and with M or
** K tails, threaded, K over the 1536 block, odd row pitches. */
static void test_mbf16(const char *path) {
    wf_rng r;
    wf_rng_seed(&r, 13);
    static const int dims[][3] = {{64, 96, 64}, {256, 160, 128}, {96, 70, 1600}, {33, 47, 96}, {100, 130, 1031},
                                  {13, 31, 17}};
    size_t nd = getenv("WF_TEST_QUICK") ? 4 : sizeof dims / sizeof dims[0];
    int cases = 0;
    for (size_t d = 0; d < nd; d++)
        for (int mix = 0; mix < 16; mix++)
            for (int mode = 0; mode < 3; mode++) {
                int ta = mix & 1, tb = mix >> 1 & 1, af = mix >> 2 & 1, bf = mix >> 3 & 1;
                int M = dims[d][0], N = dims[d][1], K = dims[d][2], pad = (int)(d & 1) * 3;
                int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
                float *A = wf_alloc(NULL, na * 4, "t", NULL), *B = wf_alloc(NULL, nb * 4, "t", NULL);
                uint16_t *Ah = wf_alloc(NULL, na * 2, "t", NULL), *Bh = wf_alloc(NULL, nb * 2, "t", NULL);
                float *C1 = wf_alloc(NULL, nc * 4, "t", NULL), *C2 = wf_alloc(NULL, nc * 4, "t", NULL);
                float *bias = wf_alloc(NULL, (size_t)N * 4, "t", NULL);
                for (size_t i = 0; i < na; i++) A[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
                for (size_t i = 0; i < nb; i++) B[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
                for (int j = 0; j < N; j++) bias[j] = (float)(wf_rng_uniform(&r) * 2 - 1);
                wf_bf16_from_f32(Ah, A, na);
                wf_bf16_from_f32(Bh, B, nb);
                for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
                float beta = mode == 2 ? 1.0f : 0.0f;
                const float *bv = mode ? bias : NULL;
                if (beta == 0.0f)
                    for (size_t i = 0; i < nc; i++) C1[i] = NAN;
                wf_gemm_mbf16(ta, tb, M, N, K, af ? wf_bop_f32(A, lda) : wf_bop_bf16(Ah, lda),
                              bf ? wf_bop_f32(B, ldb) : wf_bop_bf16(Bh, ldb), bv, beta, C1, ldc);
                wf_gemm_bf16x(ta, tb, M, N, K, Ah, lda, Bh, ldb, beta, C2, ldc);
                if (bv)
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) C2[(size_t)i * ldc + j] += bv[j];
                int same = rows_equal(C1, ldc, C2, ldc, M, N, 4);
                if (!same)
                    fprintf(stderr, "mbf16 on %s: ta=%d tb=%d A %s B %s M=%d N=%d K=%d beta=%g bias=%d differs\n",
                            path, ta, tb, af ? "f32" : "bf16", bf ? "f32" : "bf16", M, N, K, beta, bv != NULL);
                WF_CHECK(same);
                cases++;
                wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, Ah); wf_free(NULL, Bh);
                wf_free(NULL, C1); wf_free(NULL, C2); wf_free(NULL, bias);
            }
    printf("mbf16 on %s: %d cases bit-equal to wf_gemm_bf16x on rounded copies plus a bias pass\n", path, cases);
}

/* wf_gemm_mbf16_colsum: the product of wf_gemm_mbf16 (tb = 0, B fp32), and
** bsum's column sums with the bits of the plain loop over rows in order,
** added to what bsum held: ta 0/1, A bf16/fp32, K across the 1536 block and
** odd K (the last pair half empty), column tails, beta 0/1. */
static void test_colsum(const char *path) {
    wf_rng r;
    wf_rng_seed(&r, 19);
    static const int dims[][3] = {{64, 96, 64}, {256, 160, 1031}, {40, 70, 3100}, {13, 31, 17}};
    int cases = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int mix = 0; mix < 8; mix++) {
            int ta = mix & 1, af = mix >> 1 & 1, bb = mix >> 2 & 1;
            int M = dims[d][0], N = dims[d][1], K = dims[d][2], pad = (int)(d & 1) * 5;
            int lda = (ta ? M : K) + pad, ldb = N + pad, ldc = N + pad;
            size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)K * ldb, nc = (size_t)M * ldc;
            float *A = wf_alloc(NULL, na * 4, "t", NULL), *B = wf_alloc(NULL, nb * 4, "t", NULL);
            uint16_t *Ah = wf_alloc(NULL, na * 2, "t", NULL);
            float *C1 = wf_alloc(NULL, nc * 4, "t", NULL), *C2 = wf_alloc(NULL, nc * 4, "t", NULL);
            float *s1 = wf_alloc(NULL, (size_t)N * 4, "t", NULL), *s2 = wf_alloc(NULL, (size_t)N * 4, "t", NULL);
            for (size_t i = 0; i < na; i++) A[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
            for (size_t i = 0; i < nb; i++) B[i] = (float)((wf_rng_uniform(&r) * 2 - 1) * (1 + (i % 7) * 100));
            for (int j = 0; j < N; j++) s1[j] = s2[j] = (float)(wf_rng_uniform(&r) * 2 - 1);
            for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
            wf_bf16_from_f32(Ah, A, na);
            float beta = bb ? 1.0f : 0.0f;
            wf_bop a = af ? wf_bop_f32(A, lda) : wf_bop_bf16(Ah, lda);
            wf_gemm_mbf16_colsum(ta, M, N, K, a, B, ldb, s1, beta, C1, ldc);
            wf_gemm_mbf16(ta, 0, M, N, K, a, wf_bop_f32(B, ldb), NULL, beta, C2, ldc);
            for (int k = 0; k < K; k++)
                for (int j = 0; j < N; j++) s2[j] += B[(size_t)k * ldb + j];
            int same = memcmp(s1, s2, (size_t)N * 4) == 0 && rows_equal(C1, ldc, C2, ldc, M, N, 4);
            if (!same)
                fprintf(stderr, "colsum on %s: ta=%d A %s M=%d N=%d K=%d beta=%g differs\n", path, ta,
                        af ? "f32" : "bf16", M, N, K, beta);
            WF_CHECK(same);
            cases++;
            wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, Ah); wf_free(NULL, C1); wf_free(NULL, C2);
            wf_free(NULL, s1); wf_free(NULL, s2);
        }
    printf("mbf16_colsum on %s: %d cases, sums with the loop's bits, products with wf_gemm_mbf16's\n", path, cases);
}

/* wf_gemm_mbf16_gelu: C with the bits of wf_gemm_mbf16 (beta 0, bias or
** not) and G with those of wf_gemm_mbf16, then the fp32 GELU of C rounded,
** both GELU forms, row and column tails, K over the 1536 block (the GELU
** only on the finished sums), G with its own row pitch, K = 0. */
static void test_gelu_epilogue(const char *path) {
    wf_rng r;
    wf_rng_seed(&r, 29);
    static const int dims[][3] = {{64, 96, 64}, {100, 130, 1031}, {70, 45, 1600}, {13, 31, 17}, {9, 40, 0}};
    int cases = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int mix = 0; mix < 8; mix++) {
            int tb = mix & 1, bv = mix >> 1 & 1, gnew = mix >> 2 & 1;
            int M = dims[d][0], N = dims[d][1], K = dims[d][2], ldc = N + (int)(d & 1) * 3, ldg = N + 5;
            int ldb = tb ? K + 1 : N;
            size_t na = (size_t)M * (K + 1), nb = (size_t)(tb ? N : K) * ldb + 1;
            float *A = wf_alloc(NULL, na * 4, "t", NULL), *B = wf_alloc(NULL, nb * 4, "t", NULL);
            float *bias = wf_alloc(NULL, (size_t)N * 4, "t", NULL);
            float *C1 = wf_alloc(NULL, (size_t)M * ldc * 4, "t", NULL), *C2 = wf_alloc(NULL, (size_t)M * ldc * 4, "t", NULL);
            uint16_t *G1 = wf_alloc(NULL, (size_t)M * ldg * 2, "t", NULL), *G2 = wf_alloc(NULL, (size_t)M * N * 2, "t", NULL);
            for (size_t i = 0; i < na; i++) A[i] = (float)(wf_rng_uniform(&r) * 4 - 2);
            for (size_t i = 0; i < nb; i++) B[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
            for (int j = 0; j < N; j++) bias[j] = (float)(wf_rng_uniform(&r) * 2 - 1);
            for (size_t i = 0; i < (size_t)M * ldc; i++) C1[i] = C2[i] = NAN;
            memset(G1, 0xFF, (size_t)M * ldg * 2);
            wf_bop a = wf_bop_f32(A, K + 1), b = wf_bop_f32(B, ldb);
            wf_gemm_mbf16_gelu(0, tb, M, N, K, a, b, bv ? bias : NULL, C1, ldc, G1, ldg, gnew);
            wf_gemm_mbf16(0, tb, M, N, K, a, b, bv ? bias : NULL, 0.0f, C2, ldc);
            float *g = wf_alloc(NULL, (size_t)N * 4 + 4, "t", NULL);
            for (int i = 0; i < M; i++) { /* the fp32 GELU of C's row, rounded */
                if (gnew) wf_gelu_new_forward(g, C2 + (size_t)i * ldc, (size_t)N);
                else wf_gelu_forward(g, C2 + (size_t)i * ldc, (size_t)N);
                wf_bf16_from_f32(G2 + (size_t)i * N, g, (size_t)N);
            }
            wf_free(NULL, g);
            if (!rows_equal(C1, ldc, C2, ldc, M, N, 4) || !rows_equal(G1, ldg, G2, N, M, N, 2)) {
                fprintf(stderr, "gelu epilogue on %s: M=%d N=%d K=%d tb=%d bias=%d gelu_new=%d differs\n", path, M, N,
                        K, tb, bv, gnew);
                WF_CHECK(0);
            }
            cases++;
            wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, bias); wf_free(NULL, C1); wf_free(NULL, C2);
            wf_free(NULL, G1); wf_free(NULL, G2);
        }
    printf("gelu epilogue on %s: %d cases, C and gelu(C) with the bits of the two passes\n", path, cases);
}

/* Large C written with beta 0: the AMX path stores whole 32-column panels
** non-temporally when C is 64-byte aligned with a row pitch of 16 floats
** (gemm_amx.c, AMX_STREAM_BYTES = 8 MiB). The same product with a pitch one
** float wider (stored as usual) must have the same bits, bias or not, with
** row and column tails and K in chunks (300 = 9 pairs of 32 + a tail);
** sampled entries against double sums. */
static void test_stream(const char *path) {
    wf_rng r;
    wf_rng_seed(&r, 23);
    const int M = 1000, N = 2100, K = 300, lds = 2112, ldp = 2113;
    float *A = wf_alloc(NULL, (size_t)M * K * 4, "t", NULL), *B = wf_alloc(NULL, (size_t)K * N * 4, "t", NULL);
    float *bias = wf_alloc(NULL, (size_t)N * 4, "t", NULL);
    float *Cs_raw = wf_alloc(NULL, (size_t)M * lds * 4 + 64, "t", NULL);
    float *Cp = wf_alloc(NULL, (size_t)M * ldp * 4, "t", NULL);
    float *Cs = (float *)(((uintptr_t)Cs_raw + 63) & ~(uintptr_t)63);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)(wf_rng_uniform(&r) * 2 - 1);
    for (int j = 0; j < N; j++) bias[j] = (float)(wf_rng_uniform(&r) * 2 - 1);
    int cases = 0;
    for (int bv = 0; bv < 2; bv++) {
        for (size_t i = 0; i < (size_t)M * lds; i++) Cs[i] = NAN;
        for (size_t i = 0; i < (size_t)M * ldp; i++) Cp[i] = NAN;
        wf_gemm_mbf16(0, 0, M, N, K, wf_bop_f32(A, K), wf_bop_f32(B, N), bv ? bias : NULL, 0.0f, Cs, lds);
        wf_gemm_mbf16(0, 0, M, N, K, wf_bop_f32(A, K), wf_bop_f32(B, N), bv ? bias : NULL, 0.0f, Cp, ldp);
        int same = rows_equal(Cs, lds, Cp, ldp, M, N, 4);
        if (!same) fprintf(stderr, "stream on %s: bias=%d: the aligned C differs from the unaligned one\n", path, bv);
        WF_CHECK(same);
        double worst = 0;
        for (int t = 0; t < 200; t++) {
            int i = t == 0 ? M - 1 : (int)(wf_rng_uniform(&r) * M), j = t == 0 ? N - 1 : (int)(wf_rng_uniform(&r) * N);
            double ref = bv ? bias[j] : 0.0;
            for (int k = 0; k < K; k++)
                ref += (double)wf_bf16_round(A[(size_t)i * K + k]) * wf_bf16_round(B[(size_t)k * N + j]);
            double d = fabs(Cs[(size_t)i * lds + j] - ref);
            worst = isnan(d) ? INFINITY : d > worst ? d : worst;
        }
        WF_CHECK(worst <= 2e-6 * sqrt((double)K) + 1e-6);
        cases++;
    }
    printf("stream on %s: %d cases, 1000 x 2100 x 300 stored aligned and not: same bits\n", path, cases);
    wf_free(NULL, A); wf_free(NULL, B); wf_free(NULL, bias); wf_free(NULL, Cs_raw); wf_free(NULL, Cp);
}

int main(void) {
    printf("kernel: %s (cpu path %s)\n", wf_gemm_bf16x_kernel_name(), wf_isa_name(wf_isa_cpu()));
    /* every path the CPU has, from the top: AMX, AVX512_BF16, portable */
    static const wf_isa paths[] = {WF_ISA_AMX, WF_ISA_AVX512BF16, WF_ISA_PORTABLE};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (paths[i] > wf_isa_cpu()) {
            printf("SKIP path %s: this CPU has at most %s\n", wf_isa_name(paths[i]), wf_isa_name(wf_isa_cpu()));
            continue;
        }
        WF_CHECK_EQ(wf_isa_force(paths[i]), paths[i]);
        /* avx512bf16: both of its kernels, vdpbf16ps and the widened fp32 one, whichever the
        ** measurement would pick here */
        for (int dot = paths[i] == WF_ISA_AVX512BF16 ? 1 : -1; dot >= (paths[i] == WF_ISA_AVX512BF16 ? 0 : -1);
             dot--) {
            wf_gemm_bf16x_force_dot(dot);
            char what[160];
            snprintf(what, sizeof what, "path %s [%s]", wf_isa_name(paths[i]), wf_gemm_bf16x_kernel_name());
            sweep(wf_gemm_bf16x, what);
            test_threads();
            if (paths[i] != WF_ISA_AVX512BF16) break;
        }
    }
    /* the widened path also serves avx512 and avx2 (no bf16 hardware) */
    static const wf_isa wide[] = {WF_ISA_AVX512, WF_ISA_AVX2};
    for (size_t i = 0; i < 2; i++) {
        if (wide[i] > wf_isa_cpu()) {
            printf("SKIP path %s: this CPU has at most %s\n", wf_isa_name(wide[i]), wf_isa_name(wf_isa_cpu()));
            continue;
        }
        WF_CHECK_EQ(wf_isa_force(wide[i]), wide[i]);
        char what[160];
        snprintf(what, sizeof what, "path %s [%s]", wf_isa_name(wide[i]), wf_gemm_bf16x_kernel_name());
        WF_CHECK(strstr(wf_gemm_bf16x_kernel_name(), "widened") != NULL);
        WF_CHECK(wf_gemm_bf16x_widens());
        sweep(wf_gemm_bf16x, what);
        test_rbf16(wf_isa_name(wide[i]));
    }
    wf_gemm_bf16x_force_dot(-1);
    wf_isa_force((wf_isa)-1);
    test_rbf16(wf_isa_name(wf_isa_active()));
    test_mbf16(wf_isa_name(wf_isa_active()));
    test_colsum(wf_isa_name(wf_isa_active()));
    test_stream(wf_isa_name(wf_isa_active()));
    test_gelu_epilogue(wf_isa_name(wf_isa_active()));
    if (wf_isa_cpu() > WF_ISA_PORTABLE) {
        WF_CHECK_EQ(wf_isa_force(WF_ISA_PORTABLE), WF_ISA_PORTABLE);
        WF_CHECK(!wf_gemm_bf16x_widens());
        test_rbf16("portable");
        test_mbf16("portable");
        test_colsum("portable");
        test_gelu_epilogue("portable");
        wf_isa_force((wf_isa)-1);
    }
    sweep(wf_gemm_bf16x_portable, "portable");
    test_rounding();
    test_convert();
    test_bf16x32();
    return wf_check_report();
}
