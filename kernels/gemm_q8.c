/* gemm_q8.c — products with int8 weights (kernels.h, weight-only
** quantization): per column, blocks of 32 along K share an fp32 scale. A
** product widens one K slice of a 64-column panel (128 x 64 weights) to
** fp32 into a buffer that stays in L1, then runs the fp32 skinny kernel of
** the active path (gemm_avx512.c, gemm_avx2.c) on it, accumulating into C
** slice after slice; products with more rows than the skinny path takes
** widen a whole panel and run the blocked driver on it. The bytes a decode
** step streams are the int8 ones: about a quarter of fp32's. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <math.h>
#include <omp.h>

#define Q8_NP 64  /* columns per panel (as wf_p64) */
#define Q8_KB 128 /* rows widened per slice: 128 x 64 floats = 32 KiB */

size_t wf_q8p_numel(int K, int N) { return (size_t)K * (size_t)((N + Q8_NP - 1) / Q8_NP) * Q8_NP; }

size_t wf_q8p_nscale(int K, int N) {
    return (size_t)((K + WF_Q8_BLOCK - 1) / WF_Q8_BLOCK) * (size_t)((N + Q8_NP - 1) / Q8_NP) * Q8_NP;
}

void wf_q8p_pack(int8_t *q, float *s, int tb, const float *B, int ldb, int K, int N) {
    int np = (N + Q8_NP - 1) / Q8_NP, nkb = (K + WF_Q8_BLOCK - 1) / WF_Q8_BLOCK;
#pragma omp parallel for schedule(static) if ((long)K * N >= (1L << 20))
    for (int pn = 0; pn < np; pn++) {
        int j0 = pn * Q8_NP, n = N - j0 < Q8_NP ? N - j0 : Q8_NP;
        int8_t *qp = q + (size_t)pn * K * Q8_NP;
        float *sp = s + (size_t)pn * nkb * Q8_NP;
        for (int kb = 0; kb < nkb; kb++) {
            int p0 = kb * WF_Q8_BLOCK, p1 = p0 + WF_Q8_BLOCK < K ? p0 + WF_Q8_BLOCK : K;
            for (int j = 0; j < Q8_NP; j++) {
                float amax = 0.0f;
                for (int p = p0; p < p1 && j < n; p++) {
                    float w = tb ? B[(size_t)(j0 + j) * ldb + p] : B[(size_t)p * ldb + j0 + j];
                    amax = fabsf(w) > amax ? fabsf(w) : amax;
                }
                float sc = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
                sp[(size_t)kb * Q8_NP + j] = sc;
                for (int p = p0; p < p1; p++) {
                    float w = j < n ? (tb ? B[(size_t)(j0 + j) * ldb + p] : B[(size_t)p * ldb + j0 + j]) : 0.0f;
                    long r = lrintf(w * inv);
                    qp[(size_t)p * Q8_NP + j] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
                }
            }
        }
    }
}

#if defined(__GNUC__)
#define Q8_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define Q8_PREFETCH(p) ((void)(p))
#endif
#define Q8_PF 24 /* rows (cache lines) of q fetched ahead: one line per row keeps too few misses in flight */

/* dst[(p - p0) * 64 + j] = q * scale for rows p0..p1 of one panel (of K rows). */
WF_CLONES static void widen(float *dst, const int8_t *qp, const float *sp, int p0, int p1, int K) {
    for (int p = p0; p < p1; p++) {
        const int8_t *qr = qp + (size_t)p * Q8_NP;
        if (p + Q8_PF < K) Q8_PREFETCH(qr + Q8_PF * Q8_NP);
        const float *sr = sp + (size_t)(p / WF_Q8_BLOCK) * Q8_NP;
        float *d = dst + (size_t)(p - p0) * Q8_NP;
        for (int j = 0; j < Q8_NP; j++) d[j] = (float)qr[j] * sr[j];
    }
}

void wf_gemm_q8p_naive(int M, int N, int K, float alpha, const float *A, int lda, const int8_t *q, const float *s,
                       float beta, float *C, int ldc) {
    int nkb = (K + WF_Q8_BLOCK - 1) / WF_Q8_BLOCK;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int pn = j / Q8_NP, jj = j % Q8_NP;
            double acc = 0;
            for (int p = 0; p < K; p++)
                acc += (double)A[(size_t)i * lda + p] * ((double)q[((size_t)pn * K + p) * Q8_NP + jj] *
                                                         s[((size_t)pn * nkb + p / WF_Q8_BLOCK) * Q8_NP + jj]);
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + (double)beta * *c);
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TGTQ __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

/* Decoding (one or two rows): one panel, int8 widened in registers, no
** buffer. Per block of 32 rows the products go into block sums, which are
** scaled into the row sums at the block's end: w = q * s exactly as the
** buffered path rounds it is not formed, so the bits differ from it by the
** reassociation (within the naive reference's tolerance). */
static TGTQ inline __attribute__((always_inline)) void q8_core(const int mr, const int ns, int nb, int K, float alpha,
                                                               const float *A, int lda, const int8_t *const *qp,
                                                               const float *const *sp, float beta, float *const *C,
                                                               int ldc) {
    __m512 acc[2][4], blk[2][4]; /* [s * mr + i]: mr rows x ns panels, at most 2 */
    for (int i = 0; i < mr * ns; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = _mm512_setzero_ps();
    for (int p0 = 0, kb = 0; p0 < K; p0 += WF_Q8_BLOCK, kb++) {
        int p1 = p0 + WF_Q8_BLOCK < K ? p0 + WF_Q8_BLOCK : K;
        for (int i = 0; i < mr * ns; i++)
            for (int v = 0; v < 4; v++) blk[i][v] = _mm512_setzero_ps();
        for (int p = p0; p < p1; p++)
            for (int s = 0; s < ns; s++) {
                const int8_t *qr = qp[s] + (size_t)p * Q8_NP;
                _mm_prefetch((const char *)(qr + Q8_PF * Q8_NP), _MM_HINT_T0);
                __m512 w[4];
                for (int v = 0; v < 4; v++)
                    w[v] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qr + 16 * v))));
                for (int i = 0; i < mr; i++) {
                    __m512 a = _mm512_set1_ps(A[(size_t)i * lda + p]);
                    for (int v = 0; v < 4; v++) blk[s * mr + i][v] = _mm512_fmadd_ps(a, w[v], blk[s * mr + i][v]);
                }
            }
        for (int s = 0; s < ns; s++)
            for (int v = 0; v < 4; v++) {
                __m512 sc = _mm512_loadu_ps(sp[s] + (size_t)kb * Q8_NP + 16 * v);
                for (int i = 0; i < mr; i++)
                    acc[s * mr + i][v] = _mm512_fmadd_ps(blk[s * mr + i][v], sc, acc[s * mr + i][v]);
            }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int s = 0; s < ns; s++)
        for (int i = 0; i < mr; i++)
            for (int v = 0; v < 4 && 16 * v < nb; v++) {
                int n = nb - 16 * v;
                __mmask16 k = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
                float *c = C[s] + (size_t)i * ldc + 16 * v;
                __m512 r = _mm512_mul_ps(va, acc[s * mr + i][v]);
                if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k, c), r);
                _mm512_mask_storeu_ps(c, k, r);
            }
}
/* One panel of nb columns, mr (1 or 2) rows. */
static TGTQ void q8_rows(int mr, int nb, int K, float alpha, const float *A, int lda, const int8_t *qp,
                         const float *sp, float beta, float *C, int ldc) {
    if (mr == 1) q8_core(1, 1, nb, K, alpha, A, lda, &qp, &sp, beta, &C, ldc);
    else q8_core(2, 1, nb, K, alpha, A, lda, &qp, &sp, beta, &C, ldc);
}
/* One row against two full panels at once: two memory streams per thread
** (wf_gemm_p64); each column the arithmetic of q8_rows with one row. */
static TGTQ void q8_row2(int K, float alpha, const float *A, const int8_t *P0, const float *S0, const int8_t *P1,
                         const float *S1, float beta, float *C0, float *C1) {
    const int8_t *qp[2] = {P0, P1};
    const float *sp[2] = {S0, S1};
    float *c[2] = {C0, C1};
    q8_core(1, 2, Q8_NP, K, alpha, A, 0, qp, sp, beta, c, 0);
}
#define HAVE_Q8_ROWS 1
#else
#define HAVE_Q8_ROWS 0
#endif

void wf_gemm_q8p(int M, int N, int K, float alpha, const float *A, int lda, const int8_t *q, const float *s,
                 float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const wf_gemm_impl *im = wf_gemm_impl_active();
    int np = (N + Q8_NP - 1) / Q8_NP, nkb = (K + WF_Q8_BLOCK - 1) / WF_Q8_BLOCK;
#if HAVE_Q8_ROWS
    if (M == 1 && K > 0 && N >= 2 * Q8_NP && wf_isa_active() >= WF_ISA_AVX512) {
        /* one sequence: each thread's range of panels in two halves side by side */
        const int nfull = N / Q8_NP;
#pragma omp parallel if ((long)N * K >= (1L << 17))
        {
            wf_row2_share sh = wf_row2_share_of(nfull);
            for (int i = 0; i < sh.h; i++) {
                int qa = sh.q0 + i, qb = sh.q0 + sh.h + i;
                q8_row2(K, alpha, A, q + (size_t)qa * K * Q8_NP, s + (size_t)qa * nkb * Q8_NP, q + (size_t)qb * K * Q8_NP,
                        s + (size_t)qb * nkb * Q8_NP, beta, C + (size_t)qa * Q8_NP, C + (size_t)qb * Q8_NP);
            }
            if (sh.odd >= 0)
                q8_rows(1, Q8_NP, K, alpha, A, lda, q + (size_t)sh.odd * K * Q8_NP, s + (size_t)sh.odd * nkb * Q8_NP,
                        beta, C + (size_t)sh.odd * Q8_NP, ldc);
            if (sh.last && N > nfull * Q8_NP)
                q8_rows(1, N - nfull * Q8_NP, K, alpha, A, lda, q + (size_t)nfull * K * Q8_NP,
                        s + (size_t)nfull * nkb * Q8_NP, beta, C + (size_t)nfull * Q8_NP, ldc);
        }
        return;
    }
    if (M <= 2 && K > 0 && wf_isa_active() >= WF_ISA_AVX512) {
#pragma omp parallel for schedule(static) if ((long)M * N * K >= (1L << 17))
        for (int pn = 0; pn < np; pn++) {
            int j0 = pn * Q8_NP, nb = N - j0 < Q8_NP ? N - j0 : Q8_NP;
            q8_rows(M, nb, K, alpha, A, lda, q + (size_t)pn * K * Q8_NP, s + (size_t)pn * nkb * Q8_NP, beta, C + j0,
                    ldc);
        }
        return;
    }
#endif
    if (K > 0 && im->skinny_block && M <= im->skinny_block_max) {
#pragma omp parallel for schedule(static) if ((long)M * N * K >= (1L << 17))
        for (int pn = 0; pn < np; pn++) {
            float buf[Q8_KB * Q8_NP];
            int j0 = pn * Q8_NP, nb = N - j0 < Q8_NP ? N - j0 : Q8_NP;
            const int8_t *qp = q + (size_t)pn * K * Q8_NP;
            const float *sp = s + (size_t)pn * nkb * Q8_NP;
            for (int p0 = 0; p0 < K; p0 += Q8_KB) {
                int p1 = p0 + Q8_KB < K ? p0 + Q8_KB : K;
                widen(buf, qp, sp, p0, p1, K);
                im->skinny_block(M, nb, p1 - p0, alpha, A + p0, lda, buf, Q8_NP, p0 ? 1.0f : beta, C + j0, ldc);
            }
        }
        return;
    }
    /* many rows (prefill): one widened panel at a time through the blocked path */
    float *panel = wf_alloc(NULL, sizeof(float) * (size_t)(K > 0 ? K : 1) * Q8_NP, "int8 panel", NULL);
    WF_ASSERT(panel);
    for (int pn = 0; pn < np; pn++) {
        int j0 = pn * Q8_NP, nb = N - j0 < Q8_NP ? N - j0 : Q8_NP;
        widen(panel, q + (size_t)pn * K * Q8_NP, s + (size_t)pn * nkb * Q8_NP, 0, K, K);
        wf_gemm_blocked(im, 0, 2, M, nb, K, alpha, A, lda, panel, K, beta, C + j0, ldc);
    }
    wf_free(NULL, panel);
}
