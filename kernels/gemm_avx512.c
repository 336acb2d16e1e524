/* gemm_avx512.c — the AVX-512F micro-kernel (14 x 32: 28 zmm accumulators,
** two B vectors and a broadcast A per k step) and the skinny (GEMV-like)
** path used when decoding one token per sequence. Compiled for any x86-64
** through target attributes; wf_gemm_impl_avx512() returns NULL unless the
** active path (wf_isa_active(), isa.c) is avx512 or above. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <omp.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#define MR 14
#define NR 32

static TGT inline __mmask16 mask_n(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

#define DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define STEP(i)                                                 \
    {                                                           \
        __m512 av = _mm512_set1_ps(a[i]);                       \
        c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);             \
        c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);             \
    }
#define STORE(i)                                                                    \
    if (i < m) {                                                                    \
        float *cr = c + (size_t)(i)*ldc;                                            \
        __m512 r0 = _mm512_mul_ps(va, c##i##0), r1 = _mm512_mul_ps(va, c##i##1);    \
        if (beta != 0.0f) {                                                         \
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cr), r0);            \
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, cr + 16), r1);       \
        }                                                                           \
        _mm512_mask_storeu_ps(cr, k0, r0);                                          \
        _mm512_mask_storeu_ps(cr + 16, k1, r1);                                     \
    }

static TGT void ukernel_14x32(int kc, const float *a, const float *b, float *c, int ldc,
                              float alpha, float beta, int m, int n) {
    DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6)
    DECL(7) DECL(8) DECL(9) DECL(10) DECL(11) DECL(12) DECL(13)
    /* The C tile this call adds to (every K block after the first) was
    ** written one K block ago, NC columns away: out of L1 and L2 once C is
    ** larger than L2. Fetching it now, 14 cycles x kc before the epilogue
    ** reads it, took the fp32 GEMM from 0.82-0.87x to 0.86-0.97x OpenBLAS on
    ** one core at N = 2048-4096 (docs/kernels.md). With beta = 0 (the first
    ** block) nothing is read, and a write prefetch there measured slower. */
    if (beta != 0.0f)
        for (int i = 0; i < m; i++) {
            _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (size_t)i * ldc + 16), _MM_HINT_T0);
        }
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6)
        STEP(7) STEP(8) STEP(9) STEP(10) STEP(11) STEP(12) STEP(13)
        a += MR;
        b += NR;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 k0 = mask_n(n), k1 = mask_n(n - 16);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6)
    STORE(7) STORE(8) STORE(9) STORE(10) STORE(11) STORE(12) STORE(13)
}

/* ---- skinny: M <= SK_MAX rows, ta = 0 (decoding, continuous batching) ---- */
#define SK_PF 16   /* rows of B prefetched ahead on a first pass over a slice */
/* Below this many multiply-adds a fork/join costs more than it saves
** (and on a busy machine a late thread stalls the barrier). */
#define SKINNY_PAR_MIN (1L << 17)

/* Up to SK_MAX rows, tb = 0: C[0..M, 0..nb) for one block of nb <= SK_CB
** columns. B is walked in SK_KB-row slices that stay in L1 while every group
** of SK_RB rows of A passes over them, so B comes from memory once for all M
** rows. The accumulators of a row group live in registers across a slice and
** in acc[] between slices (an exact fp32 store/load), so each C element is
** the same chain of FMAs over p = 0..K-1 as in row_stream (one row): results of a
** row do not depend on M or on which rows share the call. */
#define SK_MAX 48 /* rows the skinny path takes (.skinny_max; crossover in docs/kernels.md) */
#define SK_MAX_P64 96 /* rows it takes on packed panels (.skinny_block_max): B streams in order */
#define SK_RB 6   /* rows per register block: 6 x 4 zmm = 24 accumulators */
#define SK_CB 64  /* columns per block: 4 zmm */
#define SK_KB 128 /* rows of B per slice: 128 x 64 floats = 32 KiB */

/* mr (1..SK_RB, a constant after inlining) rows of A against a full 64-column
** slice of B, rows p0..pe: accumulators in registers for the whole slice. */
static TGT inline __attribute__((always_inline)) void nn_slice(const int mr, const float *a, int lda,
                                                               const float *B, int ldb, int p0, int pe,
                                                               __m512 (*acc)[SK_CB / 16], int fetch) {
    __m512 r[SK_RB][4];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 4; v++) r[i][v] = acc[i][v];
    for (int p = p0; p < pe; p++) {
        const float *br = B + (size_t)p * ldb;
        if (fetch == 1) { /* first pass over the slice: fetch ahead */
            const char *pf = (const char *)(br + (size_t)SK_PF * ldb);
            for (int l = 0; l < 4; l++) _mm_prefetch(pf + 64 * l, _MM_HINT_T0);
        } else if (fetch == 2) { /* second pass (from L1): bring in the next slice */
            const char *pf = (const char *)(br + (size_t)SK_KB * ldb);
            for (int l = 0; l < 4; l++) _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
        }
        __m512 b0 = _mm512_loadu_ps(br), b1 = _mm512_loadu_ps(br + 16);
        __m512 b2 = _mm512_loadu_ps(br + 32), b3 = _mm512_loadu_ps(br + 48);
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[(size_t)i * lda + p]);
            r[i][0] = _mm512_fmadd_ps(av, b0, r[i][0]);
            r[i][1] = _mm512_fmadd_ps(av, b1, r[i][1]);
            r[i][2] = _mm512_fmadd_ps(av, b2, r[i][2]);
            r[i][3] = _mm512_fmadd_ps(av, b3, r[i][3]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = r[i][v];
}

static TGT void skinny_nn_multi(int M, int nb, int K, float alpha, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C, int ldc) {
    __m512 acc[SK_MAX_P64][SK_CB / 16];
    int nv = (nb + 15) / 16;
    __mmask16 last = mask_n(nb - (nv - 1) * 16);
    for (int i = 0; i < M; i++)
        for (int v = 0; v < SK_CB / 16; v++) acc[i][v] = _mm512_setzero_ps();
    for (int p0 = 0; p0 < K; p0 += SK_KB) {
        int pe = K - p0 < SK_KB ? K : p0 + SK_KB;
        for (int m0 = 0; m0 < M; m0 += SK_RB) {
            int mr = M - m0 < SK_RB ? M - m0 : SK_RB;
            const float *a = A + (size_t)m0 * lda;
            if (nb == SK_CB) {
                int f = m0 == 0 ? 1 : m0 == SK_RB && pe + SK_KB <= K ? 2 : 0;
                switch (mr) {
                case 1: nn_slice(1, a, lda, B, ldb, p0, pe, acc + m0, f); break;
                case 2: nn_slice(2, a, lda, B, ldb, p0, pe, acc + m0, f); break;
                case 3: nn_slice(3, a, lda, B, ldb, p0, pe, acc + m0, f); break;
                case 4: nn_slice(4, a, lda, B, ldb, p0, pe, acc + m0, f); break;
                case 5: nn_slice(5, a, lda, B, ldb, p0, pe, acc + m0, f); break;
                default: nn_slice(6, a, lda, B, ldb, p0, pe, acc + m0, f); break;
                }
            } else {
                for (int p = p0; p < pe; p++) {
                    const float *br = B + (size_t)p * ldb;
                    for (int v = 0; v < nv; v++) {
                        __m512 bv = _mm512_maskz_loadu_ps(v == nv - 1 ? last : (__mmask16)0xFFFF, br + 16 * v);
                        for (int i = 0; i < mr; i++)
                            acc[m0 + i][v] = _mm512_fmadd_ps(_mm512_set1_ps(a[(size_t)i * lda + p]), bv, acc[m0 + i][v]);
                    }
                }
            }
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < M; i++)
        for (int v = 0; v < nv; v++) {
            __mmask16 k = v == nv - 1 ? last : (__mmask16)0xFFFF;
            float *cr = C + (size_t)i * ldc + 16 * v;
            __m512 r = _mm512_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k, cr), r);
            _mm512_mask_storeu_ps(cr, k, r);
        }
}

/* One dot product per (row, column) pair: 16 lanes of FMAs over the full
** 16-wide chunks of K, the masked tail, then a lane reduction. The same
** arithmetic for every grouping below, so results do not depend on M. */
#define NT_DOT4(av, s0, s1, s2, s3, b, p)                                 \
    s0 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b[0] + p), s0);             \
    s1 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b[1] + p), s1);             \
    s2 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b[2] + p), s2);             \
    s3 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b[3] + p), s3);

/* tb = 1: C[m, j] = dot(A[m,:], B[j,:]) for j in [j0, j1), 4 columns at a
** time; for each group of 4 rows of B (in L1) every row of A passes, two at
** a time (8 accumulators, 6 loads per 8 FMAs). */
static TGT void skinny_nt_range(int M, int j0, int j1, int K, float alpha, const float *A, int lda,
                                const float *B, int ldb, float beta, float *C, int ldc) {
    __mmask16 kt = mask_n(K % 16);
    int kfull = K - K % 16;
    for (int j = j0; j < j1; j += 4) {
        int nj = j1 - j < 4 ? j1 - j : 4;
        const float *b[4];
        for (int q = 0; q < 4; q++) b[q] = B + (size_t)(j + (q < nj ? q : 0)) * ldb;
        for (int m = 0; m < M; m += 2) {
            int two = m + 1 < M;
            const float *a0 = A + (size_t)m * lda, *a1 = two ? a0 + lda : a0;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            __m512 t0 = s0, t1 = s0, t2 = s0, t3 = s0;
            int p = 0;
            if (two) {
                for (; p < kfull; p += 16) {
                    __m512 x0 = _mm512_loadu_ps(a0 + p), x1 = _mm512_loadu_ps(a1 + p);
                    NT_DOT4(x0, s0, s1, s2, s3, b, p)
                    NT_DOT4(x1, t0, t1, t2, t3, b, p)
                }
            } else { /* the last odd row (or M = 1): half the work */
                for (; p < kfull; p += 16) {
                    __m512 x0 = _mm512_loadu_ps(a0 + p);
                    NT_DOT4(x0, s0, s1, s2, s3, b, p)
                }
            }
            if (kt) {
                __m512 x0 = _mm512_maskz_loadu_ps(kt, a0 + p), x1 = _mm512_maskz_loadu_ps(kt, a1 + p);
                __m512 c0 = _mm512_maskz_loadu_ps(kt, b[0] + p), c1 = _mm512_maskz_loadu_ps(kt, b[1] + p);
                __m512 c2 = _mm512_maskz_loadu_ps(kt, b[2] + p), c3 = _mm512_maskz_loadu_ps(kt, b[3] + p);
                s0 = _mm512_fmadd_ps(x0, c0, s0), s1 = _mm512_fmadd_ps(x0, c1, s1);
                s2 = _mm512_fmadd_ps(x0, c2, s2), s3 = _mm512_fmadd_ps(x0, c3, s3);
                t0 = _mm512_fmadd_ps(x1, c0, t0), t1 = _mm512_fmadd_ps(x1, c1, t1);
                t2 = _mm512_fmadd_ps(x1, c2, t2), t3 = _mm512_fmadd_ps(x1, c3, t3);
            }
            float r[2][4] = {{_mm512_reduce_add_ps(s0), _mm512_reduce_add_ps(s1), _mm512_reduce_add_ps(s2),
                              _mm512_reduce_add_ps(s3)},
                             {_mm512_reduce_add_ps(t0), _mm512_reduce_add_ps(t1), _mm512_reduce_add_ps(t2),
                              _mm512_reduce_add_ps(t3)}};
            for (int i = 0; i < 1 + two; i++)
                for (int q = 0; q < nj; q++) {
                    float *d = &C[(size_t)(m + i) * ldc + j + q];
                    *d = beta == 0.0f ? alpha * r[i][q] : alpha * r[i][q] + beta * *d;
                }
        }
    }
}

/* One row, tb = 0, columns [0, n) of B (row-major, ldb apart): B is read
** row after row, each row's n floats contiguous (the order memory serves
** fastest), into sums kept in an L1 buffer of RS_W floats at a time; each
** sum one chain of FMAs over p = 0..K-1 (fp32 stores and
** loads are exact): a row has the same bits alone as in skinny_nn_multi
** with others (continuous batching). Measured on the Intel Xeon, 111M
** decode from the weights as loaded (`--no-pack`): 128-column blocks of
** every row, prefetched 16 rows ahead, gave 47.5-48.8 tok/s, this 52.4-55.0. */
#define RS_W 2048 /* columns per pass: 8 KiB of sums */
static TGT void row_stream(int n, int K, float alpha, const float *a, const float *B, int ldb, float beta,
                           float *C) {
    _Alignas(64) float acc[RS_W];
    for (int c0 = 0; c0 < n; c0 += RS_W) {
        int w = n - c0 < RS_W ? n - c0 : RS_W, nv = (w + 15) / 16;
        __mmask16 last = mask_n(w - (nv - 1) * 16);
        for (int v = 0; v < nv; v++) _mm512_store_ps(acc + 16 * v, _mm512_setzero_ps());
        for (int p = 0; p < K; p++) {
            const float *br = B + (size_t)p * ldb + c0;
            __m512 av = _mm512_set1_ps(a[p]);
            int v = 0;
            for (; v + 1 < nv; v++)
                _mm512_store_ps(acc + 16 * v,
                                _mm512_fmadd_ps(av, _mm512_loadu_ps(br + 16 * v), _mm512_load_ps(acc + 16 * v)));
            _mm512_store_ps(acc + 16 * v,
                            _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(last, br + 16 * v), _mm512_load_ps(acc + 16 * v)));
        }
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
        for (int v = 0; v < nv; v++) {
            __mmask16 k = v == nv - 1 ? last : (__mmask16)0xFFFF;
            float *cr = C + c0 + 16 * v;
            __m512 r = _mm512_mul_ps(va, _mm512_load_ps(acc + 16 * v));
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k, cr), r);
            _mm512_mask_storeu_ps(cr, k, r);
        }
    }
}

static void skinny(int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    WF_ASSERT(M <= SK_MAX);
    if (tb) {
        int nblk = (N + 63) / 64;
#pragma omp parallel for schedule(static) if ((long)N * K * M >= SKINNY_PAR_MIN)
        for (int blk = 0; blk < nblk; blk++) {
            int j0 = blk * 64, j1 = j0 + 64 < N ? j0 + 64 : N;
            skinny_nt_range(M, j0, j1, K, alpha, A, lda, B, ldb, beta, C, ldc);
        }
        return;
    }
    if (M == 1) { /* batch-1 decoding: each thread streams the rows of its columns */
#pragma omp parallel if ((long)N * K >= SKINNY_PAR_MIN)
        {
            int j0, j1;
            wf_col_share(N, 16, &j0, &j1);
            if (j1 > j0) row_stream(j1 - j0, K, alpha, A, B + j0, ldb, beta, C + j0);
        }
        return;
    }
    int nblk = (N + SK_CB - 1) / SK_CB;
#pragma omp parallel for schedule(static) if ((long)N * K * M >= SKINNY_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * SK_CB, nb = N - j0 < SK_CB ? N - j0 : SK_CB;
        skinny_nn_multi(M, nb, K, alpha, A, lda, B + j0, ldb, beta, C + j0, ldc);
    }
}

/* One panel of nb <= 64 columns (wf_gemm_p64). */
static void skinny_block(int M, int nb, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                         float beta, float *C, int ldc) {
    skinny_nn_multi(M, nb, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* wf_gemm_impl.p64_rows2: mr (1..3) rows of A against two full panels, 8 *
** mr accumulators. No software prefetch: the hardware prefetcher follows two
** sequential streams, and prefetch instructions 16 rows ahead made the
** single-stream loop slower (27 against 31 GB/s on the Intel Xeon, LM head).
** Each column the FMA chain of nn_slice (a row's bits do not depend on M). */
static TGT inline __attribute__((always_inline)) void rows2(const int mr, int K, float alpha, const float *a,
                                                            int lda, const float *B0, const float *B1, float beta,
                                                            float *C0, float *C1, int ldc) {
    __m512 r[3][2][4];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 4; v++) r[i][0][v] = r[i][1][v] = _mm512_setzero_ps();
    for (int p = 0; p < K; p++) {
        const float *b0 = B0 + (size_t)p * WF_P64, *b1 = B1 + (size_t)p * WF_P64;
        __m512 w[2][4];
        for (int v = 0; v < 4; v++) w[0][v] = _mm512_loadu_ps(b0 + 16 * v), w[1][v] = _mm512_loadu_ps(b1 + 16 * v);
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[(size_t)i * lda + p]);
            for (int v = 0; v < 4; v++) {
                r[i][0][v] = _mm512_fmadd_ps(av, w[0][v], r[i][0][v]);
                r[i][1][v] = _mm512_fmadd_ps(av, w[1][v], r[i][1][v]);
            }
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++) {
        float *c[2] = {C0 + (size_t)i * ldc, C1 + (size_t)i * ldc};
        for (int s = 0; s < 2; s++)
            for (int v = 0; v < 4; v++) {
                __m512 x = _mm512_mul_ps(va, r[i][s][v]);
                if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c[s] + 16 * v), x);
                _mm512_storeu_ps(c[s] + 16 * v, x);
            }
    }
}
static TGT void p64_rows2(int mr, int K, float alpha, const float *a, int lda, const float *B0, const float *B1,
                          float beta, float *C0, float *C1, int ldc) {
    switch (mr) {
    case 1: rows2(1, K, alpha, a, lda, B0, B1, beta, C0, C1, ldc); break;
    case 2: rows2(2, K, alpha, a, lda, B0, B1, beta, C0, C1, ldc); break;
    default: rows2(3, K, alpha, a, lda, B0, B1, beta, C0, C1, ldc); break;
    }
}

/* The 16 x 16 transpose of r[0..15] in place (wf_transpose16 on the bits). */
static TGT inline void transpose16(__m512 r[16]) {
    __m512i v[16];
    for (int i = 0; i < 16; i++) v[i] = _mm512_castps_si512(r[i]);
    wf_transpose16(v);
    for (int i = 0; i < 16; i++) r[i] = _mm512_castsi512_ps(v[i]);
}

/* wf_gemm_impl.pack_t: 16 columns of src at a time, transposed in registers;
** masked loads and stores, so nothing past a row or a lane is touched. */
static TGT void pack_t16(float *dst, int dstride, int lanes, const float *src, int lds, int rows, int kc) {
    const __mmask16 km = mask_n(lanes);
    for (int p0 = 0; p0 < kc; p0 += 16) {
        int np = kc - p0 < 16 ? kc - p0 : 16;
        __mmask16 lm = mask_n(np);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(lm, src + (size_t)i * lds + p0) : _mm512_setzero_ps();
        transpose16(r);
        for (int q = 0; q < np; q++) _mm512_mask_storeu_ps(dst + (size_t)(p0 + q) * dstride, km, r[q]);
    }
}

static const wf_gemm_impl avx512_impl = {
    .name = "wafer-avx512 (14x32 fp32 micro-kernel)",
    .ukernel = ukernel_14x32,
    .mr = MR, .nr = NR, .mc = 14 * 12, .kc = 256, .nc = 3072,
    .skinny = skinny,
    .skinny_max = SK_MAX,
    .skinny_block = skinny_block,
    .skinny_block_max = SK_MAX_P64,
    .p64_rows2 = p64_rows2,
    .p64_rows2_max = 3,
    .pack_t = pack_t16,
    .pack_lanes = 16,
};

const wf_gemm_impl *wf_gemm_impl_avx512(void) {
    return wf_isa_active() >= WF_ISA_AVX512 ? &avx512_impl : NULL;
}

#else
const wf_gemm_impl *wf_gemm_impl_avx512(void) { return NULL; }
#endif
