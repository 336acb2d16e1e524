/* gemm_bf16x.c — C = op(A) op(B) + beta C with BOTH operands in bf16 and
** fp32 accumulation, for bf16 training (kernels.h, wf_gemm_bf16x). Same
** BLIS-style blocking as gemm.c, but the packed panels hold K in pairs:
** A as one 32-bit (a[i,2p], a[i,2p+1]) per row and pair, B as the two rows
** 2p, 2p+1 interleaved per column, which is the operand layout of
** vdpbf16ps (AVX-512 BF16: two bf16 products summed into an fp32 lane, twice
** the fp32 FMA rate). 14 x 32 micro-kernel, 28 zmm accumulators. A portable
** C micro-kernel over the same panels (widen to fp32, fp32 accumulate) runs
** for tests (wf_gemm_bf16x_portable); on the amx path the product runs on
** tiles instead (gemm_amx.c). Threads split M and N tiles, never K: results
** do not depend on the thread count. Also the vectorized fp32 -> bf16
** rounding the trainer uses (wf_bf16x_from_f32).
**
** vdpbf16ps is not faster than fp32 FMAs on every CPU that has it: on the
** 2-core Intel Xeon of this project's sessions (AVX-512 BF16 and FP16, no
** AMX exposed) it retires 1.24 G/s against 5.0-5.3 G/s for vfmadd231ps,
** 80 against 161-169 GFLOP/s. So the first bf16 product measures both
** (about 2 ms) and, unless vdpbf16ps gives at least 1.1x the FLOP rate,
** widens the bf16 operands to fp32 and runs wf_gemm's fp32 micro-kernel on
** them: the same exact bf16 products and fp32 sums, at the fp32 GEMM rate.
** The same widening serves the avx2 and avx512 paths (no bf16 hardware).
** WAFER_BF16_DOT=vdpbf16ps|fp32 overrides the measurement. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define XMR 14
#define XNR 32
#define XMC (14 * 12)
#define XKC 512 /* even: only the last K block can end on half a pair */
#define XNC 3072

static inline float bf(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void wf_gemm_bf16x_naive(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                         const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++) {
                float a = bf(ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p]);
                float b = bf(tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j]);
                s += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? (float)s : (float)(s + (double)beta * *c);
        }
}

/* A micro-kernel: C[i,j] (i < m, j < n) = sum over kp pairs + beta C
** (beta = 0: C not read). a: kp x XMR u32 pairs; b: kp x XNR x 2 bf16. */
typedef void (*xukernel_fn)(int kp, const uint32_t *a, const uint16_t *b, float *c, int ldc,
                            float beta, int m, int n);

static void ukernel_portable(int kp, const uint32_t *a, const uint16_t *b, float *c, int ldc,
                             float beta, int m, int n) {
    float acc[XMR][XNR];
    memset(acc, 0, sizeof acc);
    for (int p = 0; p < kp; p++) {
        const uint16_t *bp = b + (size_t)p * XNR * 2;
        for (int i = 0; i < XMR; i++) {
            uint32_t w = a[p * XMR + i];
            float a0 = bf((uint16_t)(w & 0xFFFFu)), a1 = bf((uint16_t)(w >> 16));
            for (int j = 0; j < XNR; j++) acc[i][j] += a0 * bf(bp[2 * j]) + a1 * bf(bp[2 * j + 1]);
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float *d = &c[(size_t)i * ldc + j];
            *d = beta == 0.0f ? acc[i][j] : acc[i][j] + beta * *d;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static TGT inline __mmask16 xmask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

#define XDECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define XSTEP(i)                                                          \
    {                                                                     \
        __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i]);             \
        c##i##0 = _mm512_dpbf16_ps(c##i##0, av, b0);                      \
        c##i##1 = _mm512_dpbf16_ps(c##i##1, av, b1);                      \
    }
#define XSTORE(i)                                                                   \
    if (i < m) {                                                                    \
        float *cr = c + (size_t)(i)*ldc;                                            \
        __m512 r0 = c##i##0, r1 = c##i##1;                                          \
        if (beta != 0.0f) {                                                         \
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cr), r0);            \
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, cr + 16), r1);       \
        }                                                                           \
        _mm512_mask_storeu_ps(cr, k0, r0);                                          \
        _mm512_mask_storeu_ps(cr + 16, k1, r1);                                     \
    }

static TGT void ukernel_bf16(int kp, const uint32_t *a, const uint16_t *b, float *c, int ldc,
                             float beta, int m, int n) {
    XDECL(0) XDECL(1) XDECL(2) XDECL(3) XDECL(4) XDECL(5) XDECL(6)
    XDECL(7) XDECL(8) XDECL(9) XDECL(10) XDECL(11) XDECL(12) XDECL(13)
    for (int p = 0; p < kp; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)b);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + 32));
        _mm_prefetch((const char *)(b + 8 * 2 * XNR), _MM_HINT_T0);
        XSTEP(0) XSTEP(1) XSTEP(2) XSTEP(3) XSTEP(4) XSTEP(5) XSTEP(6)
        XSTEP(7) XSTEP(8) XSTEP(9) XSTEP(10) XSTEP(11) XSTEP(12) XSTEP(13)
        a += XMR;
        b += 2 * XNR;
    }
    __m512 vb = _mm512_set1_ps(beta);
    __mmask16 k0 = xmask(n), k1 = xmask(n - 16);
    XSTORE(0) XSTORE(1) XSTORE(2) XSTORE(3) XSTORE(4) XSTORE(5) XSTORE(6)
    XSTORE(7) XSTORE(8) XSTORE(9) XSTORE(10) XSTORE(11) XSTORE(12) XSTORE(13)
}

static TGT void convert_avx(uint16_t *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(wf_bf16_rne512(_mm512_loadu_ps(in + i))));
    if (i < n) wf_bf16_from_f32(out + i, in + i, n - i);
}

static int have_bf16(void) { return wf_isa_active() >= WF_ISA_AVX512BF16; }

/* Operations per second of a dependency-free stream of 10 vdpbf16ps (dp)
** or 10 vfmadd231ps: the two rates the dispatch compares. */
#define RATE_LOOP(INIT, OP)                                                                \
    __m512 c0 = _mm512_set1_ps(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, \
           c9 = c0;                                                                        \
    INIT;                                                                                  \
    double t0 = wf_now();                                                                  \
    for (long k = 0; k < iters; k++) {                                                     \
        c0 = OP(c0); c1 = OP(c1); c2 = OP(c2); c3 = OP(c3); c4 = OP(c4);                   \
        c5 = OP(c5); c6 = OP(c6); c7 = OP(c7); c8 = OP(c8); c9 = OP(c9);                   \
        __asm__ volatile("" : "+v"(c0), "+v"(c5));                                         \
    }                                                                                      \
    double t = wf_now() - t0;                                                              \
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),  \
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));  \
    s = _mm512_add_ps(s, _mm512_add_ps(c8, c9));                                           \
    *sink = _mm512_reduce_add_ps(s);                                                       \
    return t > 0 ? 10.0 * (double)iters / t : 0;
#define DP_OP(c) _mm512_dpbf16_ps(c, va, va)
#define FMA_OP(c) _mm512_fmadd_ps(fa, fb, c)
static TGT double dp_rate(long iters, float *sink) {
    RATE_LOOP(__m512bh va = (__m512bh)_mm512_set1_epi32(0x3f803f80), DP_OP)
}
static TGT double fma_rate(long iters, float *sink) {
    RATE_LOOP(__m512 fa = _mm512_set1_ps(1.0001f); __m512 fb = _mm512_set1_ps(0.9999f), FMA_OP)
}
#undef RATE_LOOP
#undef DP_OP
#undef FMA_OP

/* 1: vdpbf16ps gives at least 1.1x the fp32 FMA's FLOP rate (64 vs 32
** FLOPs per instruction), best of 3 short runs each; measured once. */
static int dp_measured_faster(void) {
    static atomic_int cached = -1;
    int v = atomic_load(&cached);
    if (v >= 0) return v;
    float sink;
    double dp = 0, fm = 0;
    for (int r = 0; r < 3; r++) {
        double a = dp_rate(20000, &sink), b = fma_rate(20000, &sink);
        dp = a > dp ? a : dp, fm = b > fm ? b : fm;
    }
    v = dp * 64 >= 1.1 * fm * 32;
    atomic_store(&cached, v);
    return v;
}
#else
static int have_bf16(void) { return 0; }
static int dp_measured_faster(void) { return 0; }
#define convert_avx wf_bf16_from_f32
#define ukernel_bf16 ukernel_portable
#endif

/* -1: measure; 0: widen to fp32; 1: vdpbf16ps (wf_gemm_bf16x_force_dot). */
static atomic_int dot_forced = -1;
void wf_gemm_bf16x_force_dot(int mode) { atomic_store(&dot_forced, mode < 0 ? -1 : mode != 0); }

/* Whether the avx512bf16 path runs vdpbf16ps (else it widens to fp32). */
static int use_dp(void) {
    if (!have_bf16()) return 0;
    int f = atomic_load(&dot_forced);
    if (f >= 0) return f;
    const char *e = getenv("WAFER_BF16_DOT");
    if (e && !strcmp(e, "vdpbf16ps")) return 1;
    if (e && !strcmp(e, "fp32")) return 0;
    return dp_measured_faster();
}

static inline uint32_t ld32(const uint16_t *p) {
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return u;
}

/* Rows i0..i0+mc of op(A), columns p0..p0+kc, as XMR-row panels of pairs
** (a[q*XMR + i] = A[i, 2q] | A[i, 2q+1] << 16), zero padded. */
static void pack_a(uint32_t *ap, int ta, const uint16_t *A, int lda, int i0, int mc, int p0, int kc) {
    int kp = (kc + 1) / 2, odd = kc & 1, kf = kc / 2; /* kf full pairs */
    for (int ir = 0; ir < mc; ir += XMR) {
        int m = mc - ir < XMR ? mc - ir : XMR;
        uint32_t *dst = ap + (size_t)ir * kp;
        if (!ta) {
            for (int i = 0; i < m; i++) {
                const uint16_t *src = A + (size_t)(i0 + ir + i) * lda + p0;
                for (int q = 0; q < kf; q++) dst[q * XMR + i] = ld32(src + 2 * q);
                if (odd) dst[kf * XMR + i] = src[2 * kf];
            }
        } else {
            for (int q = 0; q < kp; q++) {
                const uint16_t *r0 = A + (size_t)(p0 + 2 * q) * lda + i0 + ir;
                uint32_t *d = dst + (size_t)q * XMR;
                if (q < kf) {
                    const uint16_t *r1 = r0 + lda;
                    for (int i = 0; i < m; i++) d[i] = (uint32_t)r0[i] | (uint32_t)r1[i] << 16;
                } else {
                    for (int i = 0; i < m; i++) d[i] = r0[i];
                }
            }
        }
        for (int i = m; i < XMR; i++)
            for (int q = 0; q < kp; q++) dst[q * XMR + i] = 0;
    }
}

/* Columns j0..j0+n of op(B), rows p0..p0+kc, as one panel of XNR columns
** (two rows interleaved per column), zero padded. */
static void pack_b(uint16_t *dst, int tb, const uint16_t *B, int ldb, int j0, int n, int p0, int kc) {
    int kp = (kc + 1) / 2, kf = kc / 2;
    if (tb) {
        for (int j = 0; j < n; j++) {
            const uint16_t *src = B + (size_t)(j0 + j) * ldb + p0;
            for (int q = 0; q < kf; q++) memcpy(dst + ((size_t)q * XNR + j) * 2, src + 2 * q, 4);
            if (kf < kp) dst[((size_t)kf * XNR + j) * 2] = src[2 * kf], dst[((size_t)kf * XNR + j) * 2 + 1] = 0;
        }
    } else {
        for (int q = 0; q < kp; q++) {
            const uint16_t *r0 = B + (size_t)(p0 + 2 * q) * ldb + j0;
            const uint16_t *r1 = q < kf ? r0 + ldb : NULL;
            uint16_t *d = dst + (size_t)q * XNR * 2;
            if (r1)
                for (int j = 0; j < n; j++) d[2 * j] = r0[j], d[2 * j + 1] = r1[j];
            else
                for (int j = 0; j < n; j++) d[2 * j] = r0[j], d[2 * j + 1] = 0;
        }
    }
    if (n < XNR)
        for (int q = 0; q < kp; q++)
            for (int j = n; j < XNR; j++) dst[((size_t)q * XNR + j) * 2] = 0, dst[((size_t)q * XNR + j) * 2 + 1] = 0;
}

static void gemm_x(xukernel_fn uk, int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                   const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    int nt = (double)M * N * K < 4e6 ? 1 : omp_get_max_threads();
    if (nt > WF_RUNS_MAX) nt = WF_RUNS_MAX;
    int ncap = N < XNC ? N : XNC;
    int npan_cap = (ncap + XNR - 1) / XNR;
    uint16_t *bp = wf_alloc(NULL, sizeof(uint16_t) * (size_t)XKC * npan_cap * XNR, "gemm bf16 packed B", NULL);
    size_t a_per = (size_t)(XMC + XMR) * (XKC / 2); /* blocks under XMC + XMR rows (wf_gemm_blocks) */
    uint32_t *apall = wf_alloc(NULL, sizeof(uint32_t) * (size_t)nt * a_per, "gemm bf16 packed A", NULL);
    WF_ASSERT(bp && apall);
    for (int jc = 0; jc < N; jc += XNC) {
        int nc = N - jc < XNC ? N - jc : XNC;
        int npan = (nc + XNR - 1) / XNR;
        for (int pc = 0; pc < K; pc += XKC) {
            int kc = K - pc < XKC ? K - pc : XKC, kp = (kc + 1) / 2;
            float bet = pc == 0 ? beta : 1.0f;
            int n_ic, jsplit;
            wf_gemm_blocks(M, XMC, XMR, nt, npan, &n_ic, &jsplit);
            int ntask = n_ic * jsplit;
            wf_runs runs; /* contiguous runs of tasks per thread: each packs its own blocks of A once */
            wf_runs_init(&runs, ntask, nt);
#pragma omp parallel num_threads(nt)
            {
#pragma omp for schedule(static)
                for (int jp = 0; jp < npan; jp++) {
                    int j0 = jp * XNR, n = nc - j0 < XNR ? nc - j0 : XNR;
                    pack_b(bp + (size_t)jp * kp * XNR * 2, tb, B, ldb, jc + j0, n, pc, kc);
                }
                uint32_t *ap = apall + (size_t)omp_get_thread_num() * a_per;
                int packed_ic = -1, task;
                while ((task = wf_runs_next(&runs, omp_get_thread_num())) >= 0) {
                    int ic = task / jsplit, js = task % jsplit;
                    int i0 = wf_gemm_row0(M, n_ic, XMR, ic), mc = wf_gemm_row0(M, n_ic, XMR, ic + 1) - i0;
                    WF_ASSERT(mc < XMC + XMR); /* what the packing buffers hold (wf_gemm_blocks) */
                    if (packed_ic != ic) {
                        pack_a(ap, ta, A, lda, i0, mc, pc, kc);
                        packed_ic = ic;
                    }
                    int jp0 = (int)((long)npan * js / jsplit), jp1 = (int)((long)npan * (js + 1) / jsplit);
                    for (int jp = jp0; jp < jp1; jp++) {
                        int j0 = jp * XNR, n = nc - j0 < XNR ? nc - j0 : XNR;
                        const uint16_t *b = bp + (size_t)jp * kp * XNR * 2;
                        for (int ir = 0; ir < mc; ir += XMR) {
                            int m = mc - ir < XMR ? mc - ir : XMR;
                            uk(kp, ap + (size_t)ir * kp, b, C + (size_t)(i0 + ir) * ldc + jc + j0, ldc, bet, m, n);
                        }
                    }
                }
            }
        }
    }
    wf_free(NULL, apall);
    wf_free(NULL, bp);
}

void wf_gemm_bf16x_portable(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                            const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    gemm_x(ukernel_portable, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* rows x cols of bf16 (leading dimension ld) widened into dst (rows x cols, dense). */
static void widen(float *dst, const uint16_t *src, int rows, int cols, int ld) {
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= (1u << 18))
    for (int r = 0; r < rows; r++) {
        const uint16_t *s = src + (size_t)r * ld;
        uint32_t *d = (uint32_t *)(dst + (size_t)r * cols);
        for (int c = 0; c < cols; c++) d[c] = (uint32_t)s[c] << 16;
    }
}

/* The product on wf_gemm's fp32 micro-kernel: both operands widened (exact),
** fp32 sums. Returns 0 (computing nothing) when the scratch is not there. */
static int gemm_widened(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B,
                        int ldb, float beta, float *C, int ldc) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    float *w = wf_alloc(NULL, sizeof(float) * ((size_t)ar * ac + (size_t)br * bc), "gemm bf16 widened operands", NULL);
    if (!w) return 0;
    float *Af = w, *Bf = w + (size_t)ar * ac;
    widen(Af, A, ar, ac, lda);
    widen(Bf, B, br, bc, ldb);
    wf_gemm(ta, tb, M, N, K, 1.0f, Af, ac, Bf, bc, beta, C, ldc);
    wf_free(NULL, w);
    return 1;
}

int wf_gemm_bf16x_widens(void) {
    wf_isa isa = wf_isa_active();
    return isa > WF_ISA_PORTABLE && isa < WF_ISA_AMX && !use_dp();
}

int wf_gemm_rbf16_is_bf16x(void) { return wf_isa_active() >= WF_ISA_AMX || wf_gemm_bf16x_widens(); }

void wf_gemm_bf16x(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                   const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    wf_isa isa = wf_isa_active();
    if (isa >= WF_ISA_AMX && wf_gemm_bf16x_amx(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)) return;
    int dp = use_dp();
    if (M > 0 && N > 0 && K > 0 && isa > WF_ISA_PORTABLE && !dp &&
        gemm_widened(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;
    gemm_x(dp ? ukernel_bf16 : ukernel_portable, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* The rows x cols operand of X, in bf16: X itself, or a rounded copy in *tmp. */
static const uint16_t *as_bf16(wf_bop X, int rows, int cols, uint16_t **tmp, int *ld) {
    *tmp = NULL, *ld = X.ld;
    if (!X.f32) return X.p;
    uint16_t *d = wf_alloc(NULL, sizeof(uint16_t) * ((size_t)rows * cols + 1), "gemm bf16 copy of an operand", NULL);
    WF_ASSERT(d);
    for (int r = 0; r < rows; r++) wf_bf16x_from_f32(d + (size_t)r * cols, (const float *)X.p + (size_t)r * X.ld, (size_t)cols);
    *tmp = d, *ld = cols;
    return d;
}

void wf_gemm_mbf16(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float beta,
                   float *C, int ldc) {
    if (wf_isa_active() >= WF_ISA_AMX && wf_gemm_mbf16_amx(ta, tb, M, N, K, A, B, bias, beta, C, ldc)) return;
    if (M <= 0 || N <= 0) return;
    uint16_t *ta16, *tb16;
    int lda, ldb;
    const uint16_t *a = as_bf16(A, ta ? K : M, ta ? M : K, &ta16, &lda);
    const uint16_t *b = as_bf16(B, tb ? N : K, tb ? K : N, &tb16, &ldb);
    wf_gemm_bf16x(ta, tb, M, N, K, a, lda, b, ldb, beta, C, ldc);
    wf_free(NULL, ta16);
    wf_free(NULL, tb16);
    if (bias)
#pragma omp parallel for schedule(static) if ((long)M * N > 65536)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] += bias[j];
}

void wf_gemm_mbf16_gelu(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float *C,
                        int ldc, uint16_t *G, int ldg, int gelu_new) {
    if (wf_isa_active() >= WF_ISA_AMX && wf_gemm_mbf16_gelu_amx(ta, tb, M, N, K, A, B, bias, C, ldc, G, ldg, gelu_new))
        return;
    wf_gemm_mbf16(ta, tb, M, N, K, A, B, bias, 0.0f, C, ldc);
#pragma omp parallel for schedule(static) if ((long)M * N > 65536)
    for (int i = 0; i < M; i++) wf_gelu_block_bf16(G + (size_t)i * ldg, ldg, C + (size_t)i * ldc, ldc, 1, N, gelu_new);
}

void wf_gemm_mbf16_colsum(int ta, int M, int N, int K, wf_bop A, const float *B, int ldb, float *bsum, float beta,
                          float *C, int ldc) {
    if (wf_isa_active() >= WF_ISA_AMX && wf_gemm_mbf16_colsum_amx(ta, M, N, K, A, B, ldb, bsum, beta, C, ldc)) return;
    wf_colsum_add(bsum, B, ldb, K, N);
    wf_gemm_mbf16(ta, 0, M, N, K, A, wf_bop_f32(B, ldb), NULL, beta, C, ldc);
}

const char *wf_gemm_bf16x_kernel_name(void) {
    wf_isa isa = wf_isa_active();
    if (isa >= WF_ISA_AMX) return "wafer-amx (32x32 AMX-BF16 tiles)";
    if (use_dp()) return "wafer-avx512bf16 (14x32 vdpbf16ps)";
    if (isa >= WF_ISA_AVX512BF16)
        return atomic_load(&dot_forced) == 0 || getenv("WAFER_BF16_DOT")
                   ? "wafer-avx512 fp32 micro-kernel on widened bf16 (vdpbf16ps off)"
                   : "wafer-avx512 fp32 micro-kernel on widened bf16 (vdpbf16ps measured slower)";
    if (isa > WF_ISA_PORTABLE) return "wafer fp32 micro-kernel on widened bf16";
    return "wafer-portable (bf16 widened, fp32)";
}

void wf_bf16x_from_f32(uint16_t *out, const float *in, size_t n) {
    if (!have_bf16()) {
        wf_bf16_from_f32(out, in, n);
        return;
    }
    const size_t chunk = (size_t)1 << 16;
    long nch = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (nch >= 16)
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        convert_avx(out + i0, in + i0, m);
    }
}
