/* gemm_bf16.c — products with bf16 weights for decoding (kernels.h): the
** weight stream is half the bytes of fp32, which is what a batch-1 decode
** step is bound by. Weights are widened to fp32 in registers (exact), so
** only their rounding to bf16 differs from the fp32 path. AVX-512F/BW and
** AVX2 + FMA paths behind a runtime check (the same bits: one FMA chain per
** column), a portable C path otherwise, and a naive reference for the tests. */
#include "kernels/kernels_int.h"

#include <math.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (uint16_t)(wf_bf16_round_bits(u) >> 16);
}

void wf_bf16_from_f32(uint16_t *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = f32_to_bf16(in[i]);
}

void wf_gemm_bf16w_naive(int tb, int M, int N, int K, const float *A, int lda, const uint16_t *W,
                         int ldw, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++)
                s += (double)A[(size_t)i * lda + p] *
                     bf16_to_f32(tb ? W[(size_t)j * ldw + p] : W[(size_t)p * ldw + j]);
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? (float)s : (float)s + beta * *c;
        }
}

#define BF_PAR_MIN (1L << 17) /* multiply-adds below which one thread is faster */
#define BF_NB 128             /* columns per task, tb = 0 */
#define BF_PF 8               /* rows of W prefetched ahead in the decode path */

static void portable_nn(int M, int j0, int nb, int K, const float *A, int lda, const uint16_t *W,
                        int ldw, float beta, float *C, int ldc) {
    float acc[BF_NB];
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < nb; j++) acc[j] = 0.0f;
        for (int p = 0; p < K; p++) {
            float a = A[(size_t)i * lda + p];
            const uint16_t *w = W + (size_t)p * ldw + j0;
            for (int j = 0; j < nb; j++) acc[j] += a * bf16_to_f32(w[j]);
        }
        for (int j = 0; j < nb; j++) {
            float *c = &C[(size_t)i * ldc + j0 + j];
            *c = beta == 0.0f ? acc[j] : acc[j] + beta * *c;
        }
    }
}

static void portable_nt(int M, int j0, int j1, int K, const float *A, int lda, const uint16_t *W,
                        int ldw, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = j0; j < j1; j++) {
            float s = 0.0f;
            const uint16_t *w = W + (size_t)j * ldw;
            for (int p = 0; p < K; p++) s += A[(size_t)i * lda + p] * bf16_to_f32(w[p]);
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? s : s + beta * *c;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define WF_BF16_AVX512 1

static TGT inline __mmask16 mask16(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

static TGT inline __m512 widen(__mmask16 k, const uint16_t *p) {
    __m256i h = _mm256_maskz_loadu_epi16(k, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Up to 3 rows of A against nb (<= BF_NB) columns of W[K, N]. */
static TGT void avx_nn(int M, int j0, int nb, int K, const float *A, int lda, const uint16_t *W,
                       int ldw, float beta, float *C, int ldc) {
    if (M == 1 && nb == BF_NB) { /* decoding: one row, a full block, no masks */
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        const uint16_t *w = W + j0;
        for (int p = 0; p < K; p++, w += ldw) {
            __m512 x = _mm512_set1_ps(A[p]);
            /* rows are ldw apart: fetch a few rows ahead (4 lines each) */
            const char *pf = (const char *)(w + (size_t)BF_PF * ldw);
            _mm_prefetch(pf, _MM_HINT_T0);
            _mm_prefetch(pf + 64, _MM_HINT_T0);
            _mm_prefetch(pf + 128, _MM_HINT_T0);
            _mm_prefetch(pf + 192, _MM_HINT_T0);
#define WIDEN(o) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + (o)))), 16))
            a0 = _mm512_fmadd_ps(x, WIDEN(0), a0);
            a1 = _mm512_fmadd_ps(x, WIDEN(16), a1);
            a2 = _mm512_fmadd_ps(x, WIDEN(32), a2);
            a3 = _mm512_fmadd_ps(x, WIDEN(48), a3);
            a4 = _mm512_fmadd_ps(x, WIDEN(64), a4);
            a5 = _mm512_fmadd_ps(x, WIDEN(80), a5);
            a6 = _mm512_fmadd_ps(x, WIDEN(96), a6);
            a7 = _mm512_fmadd_ps(x, WIDEN(112), a7);
#undef WIDEN
        }
        __m512 r[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        float *c = C + j0;
        for (int v = 0; v < 8; v++) {
            __m512 o = r[v];
            if (beta != 0.0f) o = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(c + 16 * v), o);
            _mm512_storeu_ps(c + 16 * v, o);
        }
        return;
    }
    int nv = (nb + 15) / 16;
    __mmask16 last = mask16(nb - (nv - 1) * 16);
    for (int m0 = 0; m0 < M; m0 += 3) {
        int mr = M - m0 < 3 ? M - m0 : 3;
        __m512 acc[3][BF_NB / 16];
        for (int i = 0; i < 3; i++)
            for (int v = 0; v < BF_NB / 16; v++) acc[i][v] = _mm512_setzero_ps();
        for (int p = 0; p < K; p++) {
            const uint16_t *w = W + (size_t)p * ldw + j0;
            for (int v = 0; v < nv; v++) {
                __m512 b = widen(v == nv - 1 ? last : (__mmask16)0xFFFF, w + 16 * v);
                for (int i = 0; i < mr; i++)
                    acc[i][v] = _mm512_fmadd_ps(_mm512_set1_ps(A[(size_t)(m0 + i) * lda + p]), b, acc[i][v]);
            }
        }
        __m512 vb = _mm512_set1_ps(beta);
        for (int i = 0; i < mr; i++)
            for (int v = 0; v < nv; v++) {
                __mmask16 k = v == nv - 1 ? last : (__mmask16)0xFFFF;
                float *c = C + (size_t)(m0 + i) * ldc + j0 + 16 * v;
                __m512 r = acc[i][v];
                if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k, c), r);
                _mm512_mask_storeu_ps(c, k, r);
            }
    }
}

/* One row against two full packed panels W0, W1 (K x BF_NB each) at once:
** two memory streams per thread; each column the FMA chain of avx_nn. */
static TGT void avx_row2(int K, const float *A, const uint16_t *W0, const uint16_t *W1, float beta, float *C0,
                         float *C1) {
    __m512 r[2][8];
    for (int v = 0; v < 8; v++) r[0][v] = r[1][v] = _mm512_setzero_ps();
    for (int p = 0; p < K; p++) {
        const uint16_t *w[2] = {W0 + (size_t)p * BF_NB, W1 + (size_t)p * BF_NB};
        __m512 x = _mm512_set1_ps(A[p]);
        for (int s = 0; s < 2; s++) {
            const char *pf = (const char *)(w[s] + (size_t)BF_PF * BF_NB);
            for (int l = 0; l < 4; l++) _mm_prefetch(pf + 64 * l, _MM_HINT_T0);
            for (int v = 0; v < 8; v++)
                r[s][v] = _mm512_fmadd_ps(x, widen((__mmask16)0xFFFF, w[s] + 16 * v), r[s][v]);
        }
    }
    float *c[2] = {C0, C1};
    for (int s = 0; s < 2; s++)
        for (int v = 0; v < 8; v++) {
            __m512 o = r[s][v];
            if (beta != 0.0f) o = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(c[s] + 16 * v), o);
            _mm512_storeu_ps(c[s] + 16 * v, o);
        }
}

/* Columns j0..j1 of W[N, K] (rows of the stored matrix): dot products. */
static TGT void avx_nt(int M, int j0, int j1, int K, const float *A, int lda, const uint16_t *W,
                       int ldw, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = j0; j < j1; j += 4) {
            int nj = j1 - j < 4 ? j1 - j : 4;
            const uint16_t *w[4];
            for (int q = 0; q < 4; q++) w[q] = W + (size_t)(j + (q < nj ? q : 0)) * ldw;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            const uint16_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
            int p = 0;
#define WIDEN(q) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(q))), 16))
            for (; p + 16 <= K; p += 16) {
                __m512 av = _mm512_loadu_ps(a + p);
                s0 = _mm512_fmadd_ps(av, WIDEN(w0 + p), s0);
                s1 = _mm512_fmadd_ps(av, WIDEN(w1 + p), s1);
                s2 = _mm512_fmadd_ps(av, WIDEN(w2 + p), s2);
                s3 = _mm512_fmadd_ps(av, WIDEN(w3 + p), s3);
            }
#undef WIDEN
            if (p < K) {
                __mmask16 k = mask16(K - p);
                __m512 av = _mm512_maskz_loadu_ps(k, a + p);
                s0 = _mm512_fmadd_ps(av, widen(k, w0 + p), s0);
                s1 = _mm512_fmadd_ps(av, widen(k, w1 + p), s1);
                s2 = _mm512_fmadd_ps(av, widen(k, w2 + p), s2);
                s3 = _mm512_fmadd_ps(av, widen(k, w3 + p), s3);
            }
            float r[4] = {_mm512_reduce_add_ps(s0), _mm512_reduce_add_ps(s1), _mm512_reduce_add_ps(s2),
                          _mm512_reduce_add_ps(s3)};
            for (int q = 0; q < nj; q++) {
                float *c = &C[(size_t)i * ldc + j + q];
                *c = beta == 0.0f ? r[q] : r[q] + beta * *c;
            }
        }
    }
}

/* AVX2 + FMA (no AVX-512: older servers, laptops): tb = 0. One row against
** a full 128-column block (decoding) in one pass of 16 ymm sums; otherwise
** 64 columns at a time in 8 sums, one row of A per pass (a panel stays in L2
** for the next). Each sum the FMA chain over p of avx_nn and its epilogue (a
** tail of fewer than 8 columns in scalar fmaf), so the bits are the same. */
#define TGT2 __attribute__((target("avx2,fma")))
static TGT2 inline __m256 widen8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static TGT2 void avx2_nn(int M, int j0, int nb, int K, const float *A, int lda, const uint16_t *W, int ldw,
                         float beta, float *C, int ldc) {
    if (M == 1 && nb == BF_NB) { /* decoding: the whole block in one pass, 16 sums */
        __m256 s[16];
        for (int v = 0; v < 16; v++) s[v] = _mm256_setzero_ps();
        const uint16_t *wc = W + j0;
        for (int p = 0; p < K; p++) {
            const uint16_t *wr = wc + (size_t)p * ldw;
            const char *pf = (const char *)(wr + (size_t)BF_PF * ldw);
            for (int l = 0; l < 4; l++) _mm_prefetch(pf + 64 * l, _MM_HINT_T0);
            __m256 x = _mm256_broadcast_ss(A + p);
            for (int v = 0; v < 16; v++) s[v] = _mm256_fmadd_ps(x, widen8(wr + 8 * v), s[v]);
        }
        float *c = C + j0;
        for (int v = 0; v < 16; v++) {
            __m256 o = s[v];
            if (beta != 0.0f) o = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c + 8 * v), o);
            _mm256_storeu_ps(c + 8 * v, o);
        }
        return;
    }
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int c0 = 0; c0 < nb; c0 += 64) {
            int w = nb - c0 < 64 ? nb - c0 : 64, nv = w / 8, nt = w % 8;
            const uint16_t *wc = W + j0 + c0;
            __m256 s[8];
            float t[8];
            for (int v = 0; v < 8; v++) s[v] = _mm256_setzero_ps(), t[v] = 0.0f;
            if (nv == 8) {
                for (int p = 0; p < K; p++) {
                    const uint16_t *wr = wc + (size_t)p * ldw;
                    _mm_prefetch((const char *)(wr + (size_t)BF_PF * ldw), _MM_HINT_T0);
                    _mm_prefetch((const char *)(wr + (size_t)BF_PF * ldw) + 64, _MM_HINT_T0);
                    __m256 x = _mm256_broadcast_ss(a + p);
                    for (int v = 0; v < 8; v++) s[v] = _mm256_fmadd_ps(x, widen8(wr + 8 * v), s[v]);
                }
            } else {
                for (int p = 0; p < K; p++) {
                    const uint16_t *wr = wc + (size_t)p * ldw;
                    __m256 x = _mm256_broadcast_ss(a + p);
                    for (int v = 0; v < nv; v++) s[v] = _mm256_fmadd_ps(x, widen8(wr + 8 * v), s[v]);
                    for (int q = 0; q < nt; q++) t[q] = fmaf(a[p], bf16_to_f32(wr[8 * nv + q]), t[q]);
                }
            }
            float *c = C + (size_t)i * ldc + j0 + c0;
            for (int v = 0; v < nv; v++) {
                __m256 o = s[v];
                if (beta != 0.0f) o = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c + 8 * v), o);
                _mm256_storeu_ps(c + 8 * v, o);
            }
            for (int q = 0; q < nt; q++) c[8 * nv + q] = beta == 0.0f ? t[q] : fmaf(beta, c[8 * nv + q], t[q]);
        }
    }
}

static int have_avx512(void) { return wf_isa_active() >= WF_ISA_AVX512; }
/* the tb = 0 kernel of the active path */
typedef void (*nn_fn)(int, int, int, int, const float *, int, const uint16_t *, int, float, float *, int);
static nn_fn pick_nn(void) {
    return wf_isa_active() >= WF_ISA_AVX512 ? avx_nn : wf_isa_active() >= WF_ISA_AVX2 ? avx2_nn : portable_nn;
}
#else
#define WF_BF16_AVX512 0
static int have_avx512(void) { return 0; }
typedef void (*nn_fn)(int, int, int, int, const float *, int, const uint16_t *, int, float, float *, int);
static nn_fn pick_nn(void) { return portable_nn; }
#define avx_nn portable_nn
#define avx_nt portable_nt
#endif

void wf_gemm_bf16w(int tb, int M, int N, int K, const float *A, int lda, const uint16_t *W, int ldw,
                   float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int fast = have_avx512();
    long work = (long)M * N * K;
    if (tb) {
        int nblk = (N + 63) / 64;
#pragma omp parallel for schedule(static) if (work >= BF_PAR_MIN)
        for (int b = 0; b < nblk; b++) {
            int j0 = b * 64, j1 = j0 + 64 < N ? j0 + 64 : N;
            (fast ? avx_nt : portable_nt)(M, j0, j1, K, A, lda, W, ldw, beta, C, ldc);
        }
    } else {
        int nblk = (N + BF_NB - 1) / BF_NB;
        nn_fn nn = pick_nn();
#pragma omp parallel for schedule(static) if (work >= BF_PAR_MIN)
        for (int b = 0; b < nblk; b++) {
            int j0 = b * BF_NB, nb = N - j0 < BF_NB ? N - j0 : BF_NB;
            nn(M, j0, nb, K, A, lda, W, ldw, beta, C, ldc);
        }
    }
}

/* ---- bf16 weights in 128-column panels (kernels.h) ---- */
size_t wf_bf16p_numel(int K, int N) { return (size_t)K * (size_t)((N + BF_NB - 1) / BF_NB) * BF_NB; }

void wf_bf16p_pack(uint16_t *dst, int tb, const float *B, int ldb, int K, int N) {
    int np = (N + BF_NB - 1) / BF_NB;
#pragma omp parallel for schedule(static) if ((long)K * N >= (1L << 20))
    for (int q = 0; q < np; q++) {
        int j0 = q * BF_NB, n = N - j0 < BF_NB ? N - j0 : BF_NB;
        for (int p = 0; p < K; p++) {
            uint16_t *d = dst + ((size_t)q * K + (size_t)p) * BF_NB;
            int j = 0;
            if (tb)
                for (; j < n; j++) d[j] = f32_to_bf16(B[(size_t)(j0 + j) * ldb + p]);
            else
                for (; j < n; j++) d[j] = f32_to_bf16(B[(size_t)p * ldb + j0 + j]);
            for (; j < BF_NB; j++) d[j] = 0;
        }
    }
}

void wf_gemm_bf16p(int M, int N, int K, const float *A, int lda, const uint16_t *Wp, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int fast = have_avx512(), np = (N + BF_NB - 1) / BF_NB;
#if WF_BF16_AVX512
    if (fast && M == 1 && N >= 2 * BF_NB) { /* decoding one sequence: wf_gemm_p64's two streams */
        const int nfull = N / BF_NB;
#pragma omp parallel if ((long)N * K >= BF_PAR_MIN)
        {
            wf_row2_share sh = wf_row2_share_of(nfull);
            for (int i = 0; i < sh.h; i++) {
                int qa = sh.q0 + i, qb = sh.q0 + sh.h + i;
                avx_row2(K, A, Wp + (size_t)qa * K * BF_NB, Wp + (size_t)qb * K * BF_NB, beta, C + (size_t)qa * BF_NB,
                         C + (size_t)qb * BF_NB);
            }
            if (sh.odd >= 0)
                avx_nn(1, 0, BF_NB, K, A, lda, Wp + (size_t)sh.odd * K * BF_NB, BF_NB, beta, C + (size_t)sh.odd * BF_NB,
                       ldc);
            if (sh.last && N > nfull * BF_NB)
                avx_nn(1, 0, N - nfull * BF_NB, K, A, lda, Wp + (size_t)nfull * K * BF_NB, BF_NB, beta,
                       C + (size_t)nfull * BF_NB, ldc);
        }
        return;
    }
#endif
    nn_fn nn = pick_nn();
#pragma omp parallel for schedule(static) if ((long)M * N * K >= BF_PAR_MIN)
    for (int q = 0; q < np; q++) {
        int j0 = q * BF_NB, nb = N - j0 < BF_NB ? N - j0 : BF_NB;
        nn(M, 0, nb, K, A, lda, Wp + (size_t)q * K * BF_NB, BF_NB, beta, C + j0, ldc);
    }
}
