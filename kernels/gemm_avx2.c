/* gemm_avx2.c — the AVX2 + FMA fp32 micro-kernel for CPUs without AVX-512
** (Haswell to Alder Lake client parts, AMD Zen 1-3): 6 x 16, twelve ymm
** accumulators, two B vectors and a broadcast A per k step (16 ymm
** registers in all). Runs under the blocked driver of gemm.c; products of
** up to 48 rows take the skinny path below. Compiled for any x86-64 through
** target attributes; wf_gemm_impl_avx2() returns NULL unless the active path
** (wf_isa_active(), isa.c) is avx2 or above. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT2 __attribute__((target("avx2,fma")))
#define MR2 6
#define NR2 16

static TGT2 void ukernel_6x16(int kc, const float *a, const float *b, float *c, int ldc,
                              float alpha, float beta, int m, int n) {
    __m256 acc[MR2][2];
    for (int i = 0; i < MR2; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    if (beta != 0.0f) /* the C tile, as in gemm_avx512.c: out of cache once C outgrows L2 */
        for (int i = 0; i < m; i++) {
            _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (size_t)i * ldc + NR2 - 1), _MM_HINT_T0);
        }
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < MR2; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
        a += MR2;
        b += NR2;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int i = 0; i < m; i++) {
        float *cr = c + (size_t)i * ldc;
        if (n == NR2) {
            __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), r1);
            }
            _mm256_storeu_ps(cr, r0);
            _mm256_storeu_ps(cr + 8, r1);
        } else {
            float t[NR2];
            _mm256_storeu_ps(t, acc[i][0]);
            _mm256_storeu_ps(t + 8, acc[i][1]);
            for (int j = 0; j < n; j++) cr[j] = beta == 0.0f ? alpha * t[j] : alpha * t[j] + beta * cr[j];
        }
    }
}

/* ---- skinny (decoding): M <= S2_MAX rows, ta = 0 --------------------------
** As gemm_avx512.c: tb = 0 walks B once in L1 slices (S2_KB rows x 32
** columns) for all rows, register blocks of up to 3 rows x 4 ymm; tb = 1 is
** one dot product per (row, column). Every element is the same FMA chain
** whatever M is, so a row's bits do not depend on the batch. */
#define S2_MAX 48
#define S2_RB 3
#define S2_CB 32
#define S2_KB 128

static TGT2 inline __attribute__((always_inline)) void nn2_slice(const int mr, const float *a, int lda,
                                                                 const float *B, int ldb, int p0, int pe,
                                                                 __m256 (*acc)[4]) {
    __m256 r[S2_RB][4];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 4; v++) r[i][v] = acc[i][v];
    for (int p = p0; p < pe; p++) {
        const float *br = B + (size_t)p * ldb;
        __m256 b0 = _mm256_loadu_ps(br), b1 = _mm256_loadu_ps(br + 8);
        __m256 b2 = _mm256_loadu_ps(br + 16), b3 = _mm256_loadu_ps(br + 24);
        for (int i = 0; i < mr; i++) {
            __m256 av = _mm256_broadcast_ss(a + (size_t)i * lda + p);
            r[i][0] = _mm256_fmadd_ps(av, b0, r[i][0]);
            r[i][1] = _mm256_fmadd_ps(av, b1, r[i][1]);
            r[i][2] = _mm256_fmadd_ps(av, b2, r[i][2]);
            r[i][3] = _mm256_fmadd_ps(av, b3, r[i][3]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = r[i][v];
}

/* C[0..M, 0..nb) for one block of nb <= S2_CB columns of B [K, N]. */
static TGT2 void nn2_block(int M, int nb, int K, float alpha, const float *A, int lda, const float *B,
                           int ldb, float beta, float *C, int ldc) {
    __m256 acc[S2_MAX][4];
    for (int i = 0; i < M; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = _mm256_setzero_ps();
    if (nb == S2_CB) {
        for (int p0 = 0; p0 < K; p0 += S2_KB) {
            int pe = K - p0 < S2_KB ? K : p0 + S2_KB;
            for (int m0 = 0; m0 < M; m0 += S2_RB) {
                int mr = M - m0 < S2_RB ? M - m0 : S2_RB;
                const float *a = A + (size_t)m0 * lda;
                if (mr == 1) nn2_slice(1, a, lda, B, ldb, p0, pe, acc + m0);
                else if (mr == 2) nn2_slice(2, a, lda, B, ldb, p0, pe, acc + m0);
                else nn2_slice(3, a, lda, B, ldb, p0, pe, acc + m0);
            }
        }
    } else { /* the last, narrow block: scalar FMAs, the same chain per element */
        float *s = (float *)acc;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < nb; j++) {
                float t = 0.0f;
                for (int p = 0; p < K; p++) t = fmaf(A[(size_t)i * lda + p], B[(size_t)p * ldb + j], t);
                s[i * S2_CB + j] = t;
            }
    }
    const float *s = (const float *)acc;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < nb; j++) {
            float *d = &C[(size_t)i * ldc + j];
            float r = alpha * s[i * S2_CB + j];
            *d = beta == 0.0f ? r : r + beta * *d;
        }
}

static TGT2 inline float hsum8(__m256 s) {
    float l[8];
    _mm256_storeu_ps(l, s);
    return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
}

/* tb = 1: C[m, j] = dot(A[m,:], B[j,:]); 8-lane FMA chains, a fixed
** reduction, then the tail in scalar FMAs. */
static TGT2 float dot2(const float *a, const float *b, int K) {
    __m256 s0 = _mm256_setzero_ps();
    int p = 0;
    for (; p + 8 <= K; p += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s0);
    float t = hsum8(s0);
    for (; p < K; p++) t = fmaf(a[p], b[p], t);
    return t;
}

/* dot2 for rows a0, a1 against columns b[0..3] at once (8 chains, 6 loads
** per 8 FMAs); each result is bit for bit what dot2 gives. */
static TGT2 void dot2x4(const float *a0, const float *a1, const float *const b[4], int K, float r[2][4]) {
    __m256 s[2][4];
    for (int i = 0; i < 2; i++)
        for (int q = 0; q < 4; q++) s[i][q] = _mm256_setzero_ps();
    int p = 0;
    for (; p + 8 <= K; p += 8) {
        __m256 x0 = _mm256_loadu_ps(a0 + p), x1 = _mm256_loadu_ps(a1 + p);
        for (int q = 0; q < 4; q++) {
            __m256 bv = _mm256_loadu_ps(b[q] + p);
            s[0][q] = _mm256_fmadd_ps(x0, bv, s[0][q]);
            s[1][q] = _mm256_fmadd_ps(x1, bv, s[1][q]);
        }
    }
    for (int q = 0; q < 4; q++) {
        float t0 = hsum8(s[0][q]), t1 = hsum8(s[1][q]);
        for (int pp = p; pp < K; pp++) t0 = fmaf(a0[pp], b[q][pp], t0), t1 = fmaf(a1[pp], b[q][pp], t1);
        r[0][q] = t0, r[1][q] = t1;
    }
}

/* One row, tb = 0 (decoding from the weights as loaded): each thread reads
** its columns of B row after row into sums in an L1 buffer, as row_stream in
** gemm_avx512.c; each sum the FMA chain and epilogue of nn2_block. */
#define RS2_W 2048 /* columns per pass: 8 KiB of sums */
static TGT2 void row_stream2(int n, int K, float alpha, const float *a, const float *B, int ldb, float beta,
                             float *C) {
    _Alignas(32) float acc[RS2_W];
    for (int c0 = 0; c0 < n; c0 += RS2_W) {
        int w = n - c0 < RS2_W ? n - c0 : RS2_W, nv = w / 8;
        for (int j = 0; j < w; j++) acc[j] = 0.0f;
        for (int p = 0; p < K; p++) {
            const float *br = B + (size_t)p * ldb + c0;
            __m256 av = _mm256_broadcast_ss(a + p);
            for (int v = 0; v < nv; v++)
                _mm256_store_ps(acc + 8 * v, _mm256_fmadd_ps(av, _mm256_loadu_ps(br + 8 * v), _mm256_load_ps(acc + 8 * v)));
            for (int j = 8 * nv; j < w; j++) acc[j] = fmaf(a[p], br[j], acc[j]);
        }
        for (int j = 0; j < w; j++) {
            float *d = &C[c0 + j];
            float r = alpha * acc[j];
            *d = beta == 0.0f ? r : r + beta * *d;
        }
    }
}

static void skinny2(int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc) {
    WF_ASSERT(M <= S2_MAX);
    long work = (long)M * N * K;
    if (tb) {
        int nblk = (N + 63) / 64;
#pragma omp parallel for schedule(static) if (work >= (1L << 17))
        for (int blk = 0; blk < nblk; blk++) {
            int j1 = blk * 64 + 64 < N ? blk * 64 + 64 : N, j = blk * 64;
            for (; j + 4 <= j1; j += 4) {
                const float *b[4] = {B + (size_t)j * ldb, B + (size_t)(j + 1) * ldb, B + (size_t)(j + 2) * ldb,
                                     B + (size_t)(j + 3) * ldb};
                int m = 0;
                for (; m + 2 <= M; m += 2) {
                    float r[2][4];
                    dot2x4(A + (size_t)m * lda, A + (size_t)(m + 1) * lda, b, K, r);
                    for (int i = 0; i < 2; i++)
                        for (int q = 0; q < 4; q++) {
                            float *d = &C[(size_t)(m + i) * ldc + j + q];
                            *d = beta == 0.0f ? alpha * r[i][q] : alpha * r[i][q] + beta * *d;
                        }
                }
                for (; m < M; m++)
                    for (int q = 0; q < 4; q++) {
                        float *d = &C[(size_t)m * ldc + j + q];
                        float r = alpha * dot2(A + (size_t)m * lda, b[q], K);
                        *d = beta == 0.0f ? r : r + beta * *d;
                    }
            }
            for (; j < j1; j++)
                for (int m = 0; m < M; m++) {
                    float r = alpha * dot2(A + (size_t)m * lda, B + (size_t)j * ldb, K);
                    float *d = &C[(size_t)m * ldc + j];
                    *d = beta == 0.0f ? r : r + beta * *d;
                }
        }
        return;
    }
    if (M == 1) {
#pragma omp parallel if (work >= (1L << 17))
        {
            int j0, j1;
            wf_col_share(N, 8, &j0, &j1);
            if (j1 > j0) row_stream2(j1 - j0, K, alpha, A, B + j0, ldb, beta, C + j0);
        }
        return;
    }
    int nblk = (N + S2_CB - 1) / S2_CB;
#pragma omp parallel for schedule(static) if (work >= (1L << 17))
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * S2_CB, nb = N - j0 < S2_CB ? N - j0 : S2_CB;
        nn2_block(M, nb, K, alpha, A, lda, B + j0, ldb, beta, C + j0, ldc);
    }
}

/* One panel of nb <= 64 columns (wf_gemm_p64): two blocks of S2_CB. */
static void skinny_block2(int M, int nb, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                          float beta, float *C, int ldc) {
    for (int j0 = 0; j0 < nb; j0 += S2_CB)
        nn2_block(M, nb - j0 < S2_CB ? nb - j0 : S2_CB, K, alpha, A, lda, B + j0, ldb, beta, C + j0, ldc);
}

/* wf_gemm_impl.p64_rows2 (one row: p64_rows2_max = 1): two full 64-column panels in one
** pass, 8 ymm sums per panel (all 16 registers: the compiler keeps the
** broadcast in memory; two 32-column passes were slower, docs/kernels.md);
** each element the FMA chain and the epilogue of nn2_block. */
static TGT2 void p64_row2_avx2(int mr, int K, float alpha, const float *a, int lda, const float *B0, const float *B1,
                               float beta, float *C0, float *C1, int ldc) {
    (void)mr, (void)lda, (void)ldc; /* one row (p64_rows2_max = 1) */
    __m256 r[2][8];
    for (int v = 0; v < 8; v++) r[0][v] = r[1][v] = _mm256_setzero_ps();
    for (int p = 0; p < K; p++) {
        __m256 av = _mm256_broadcast_ss(a + p);
        const float *b0 = B0 + (size_t)p * WF_P64, *b1 = B1 + (size_t)p * WF_P64;
        for (int v = 0; v < 8; v++) {
            r[0][v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b0 + 8 * v), r[0][v]);
            r[1][v] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b1 + 8 * v), r[1][v]);
        }
    }
    float *c[2] = {C0, C1};
    for (int s = 0; s < 2; s++) {
        float t[WF_P64];
        for (int v = 0; v < 8; v++) _mm256_storeu_ps(t + 8 * v, r[s][v]);
        for (int j = 0; j < WF_P64; j++) {
            float *d = &c[s][j];
            float x = alpha * t[j];
            *d = beta == 0.0f ? x : x + beta * *d;
        }
    }
}

/* The 8 x 8 transpose of r[0..7] in place (24 shuffles for 64 elements). */
static TGT2 inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) { /* u[4g + c], 128-bit half L: column 4L + c of rows 4g..4g+3 */
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

static TGT2 inline __m256i lanes_below(int n) { /* lane i set for i < n */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* wf_gemm_impl.pack_t: 8 columns of src at a time, transposed in registers;
** masked loads and stores, so nothing past a row or a lane is touched. */
static TGT2 void pack_t8(float *dst, int dstride, int lanes, const float *src, int lds, int rows, int kc) {
    const __m256i km = lanes_below(lanes);
    for (int p0 = 0; p0 < kc; p0 += 8) {
        int np = kc - p0 < 8 ? kc - p0 : 8;
        __m256i lm = lanes_below(np);
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] = i < rows ? _mm256_maskload_ps(src + (size_t)i * lds + p0, lm) : _mm256_setzero_ps();
        transpose8(r);
        for (int q = 0; q < np; q++) _mm256_maskstore_ps(dst + (size_t)(p0 + q) * dstride, km, r[q]);
    }
}

static const wf_gemm_impl avx2_impl = {
    .name = "wafer-avx2 (6x16 fp32 FMA micro-kernel)",
    .ukernel = ukernel_6x16,
    .mr = MR2, .nr = NR2, .mc = 72, .kc = 256, .nc = 2048,
    .skinny = skinny2,
    .skinny_max = S2_MAX,
    .skinny_block = skinny_block2,
    .skinny_block_max = S2_MAX,
    .p64_rows2 = p64_row2_avx2,
    .p64_rows2_max = 1,
    .pack_t = pack_t8,
    .pack_lanes = 8,
};

const wf_gemm_impl *wf_gemm_impl_avx2(void) {
    return wf_isa_active() >= WF_ISA_AVX2 ? &avx2_impl : NULL;
}
#else
const wf_gemm_impl *wf_gemm_impl_avx2(void) { return NULL; }
#endif
