/* spmm.c — sparse x dense products for a masked W[K, OC] (sparse.h): the
** forward out = inp W, the input gradient dinp += dout W^T and the weight
** gradient at kept positions only (SDDMM), with naive references beside them.
**
** Activations are packed into token tiles of NB = 64 rows, transposed:
** tile t holds x[t*NB + i, k] at xt[(t*K + k)*NB + i]. A kept weight is then
** one multiply-add over 64 contiguous floats (four AVX-512 vectors, no
** gathers), and a tile of one matrix side (K*NB floats: 768 KB at K = 3072)
** stays in L2 while every output of the tile reads it. Threads split the
** outputs (oc or k) of each tile; every output is summed by one thread in a
** fixed order, so results are deterministic for any thread count. */
#include "sparse/sparse_int.h"

#include <string.h>

#include "kernels/kernels.h"

enum { NB = 64 };      /* tokens per tile: 4 x 16-float vectors, the accumulators stay in registers */
enum { SMALL_N = 16 }; /* fewer rows than this: the forward gathers row by row (decode) */

/* Compile the hot loops for AVX-512 and AVX2 beside the portable version;
** the loader picks by CPU (GCC function multi-versioning). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

static int ntiles(int N) { return (N + NB - 1) / NB; }

/* + 16 floats: the products start their tiles on the next 64-byte boundary,
** whatever the caller's alignment. A tile row is 64 floats (four vector
** loads); one that straddles cache lines costs two line reads per load, and
** the forward took 17 ms instead of 10 (111M qkv, 1 thread) from an 8-byte
** aligned buffer. */
size_t wf_spmm_scratch(const wf_spmat *s, int N) {
    return (size_t)ntiles(N) * NB * ((size_t)s->K + (size_t)s->OC) + s->nnz + 16;
}
static float *aligned64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

wf_status wf_spmat_new(const uint64_t *bits, int K, int OC, wf_heap *h, wf_spmat **out, wf_err *err) {
    *out = NULL;
    uint64_t nnz = 0;
    size_t n = (size_t)K * OC;
    for (size_t w = 0; w < (n + 63) / 64; w++) nnz += (uint64_t)__builtin_popcountll(bits[w]);
    if (nnz > 0xffffffffULL) return WF_FAIL(err, WF_EUSAGE, "sparse matrix %dx%d: more than 2^32 kept weights", K, OC);
    wf_spmat *s = wf_calloc(h, sizeof *s, "sparse matrix", err);
    if (!s) return WF_ENOMEM;
    s->K = K, s->OC = OC, s->nnz = nnz, s->heap = h;
    size_t nz = nnz ? nnz : 1;
    s->col_ptr = wf_alloc(h, sizeof(uint32_t) * ((size_t)OC + 1), "sparse col ptr", err);
    s->row_ptr = wf_alloc(h, sizeof(uint32_t) * ((size_t)K + 1), "sparse row ptr", err);
    s->col_k = wf_alloc(h, sizeof(uint32_t) * nz, "sparse col idx", err);
    s->row_oc = wf_alloc(h, sizeof(uint32_t) * nz, "sparse row idx", err);
    s->col_val = wf_calloc(h, sizeof(float) * nz, "sparse col values", err);
    s->row_val = wf_calloc(h, sizeof(float) * nz, "sparse row values", err);
    if (!s->col_ptr || !s->row_ptr || !s->col_k || !s->row_oc || !s->col_val || !s->row_val) {
        wf_spmat_free(s);
        return WF_ENOMEM;
    }
    /* rows: a straight walk; columns: count, prefix sum, fill (k ascending) */
    memset(s->col_ptr, 0, sizeof(uint32_t) * ((size_t)OC + 1));
    uint32_t j = 0;
    for (int k = 0; k < K; k++) {
        s->row_ptr[k] = j;
        for (int o = 0; o < OC; o++) {
            size_t i = (size_t)k * OC + o;
            if ((bits[i / 64] >> (i % 64)) & 1) s->row_oc[j++] = (uint32_t)o, s->col_ptr[o + 1]++;
        }
    }
    s->row_ptr[K] = j;
    for (int o = 0; o < OC; o++) s->col_ptr[o + 1] += s->col_ptr[o];
    uint32_t *fill = wf_alloc(h, sizeof(uint32_t) * ((size_t)OC + 1), "sparse fill", err);
    if (!fill) {
        wf_spmat_free(s);
        return WF_ENOMEM;
    }
    memcpy(fill, s->col_ptr, sizeof(uint32_t) * ((size_t)OC + 1));
    for (int k = 0; k < K; k++)
        for (uint32_t q = s->row_ptr[k]; q < s->row_ptr[k + 1]; q++) s->col_k[fill[s->row_oc[q]]++] = (uint32_t)k;
    wf_free(h, fill);
    *out = s;
    return WF_OK;
}

void wf_spmat_free(wf_spmat *s) {
    if (!s) return;
    wf_free(s->heap, s->col_ptr), wf_free(s->heap, s->row_ptr);
    wf_free(s->heap, s->col_k), wf_free(s->heap, s->row_oc);
    wf_free(s->heap, s->col_val), wf_free(s->heap, s->row_val);
    wf_free(s->heap, s);
}

void wf_spmat_load(wf_spmat *s, const float *W) {
    int K = s->K, OC = s->OC;
#pragma omp parallel for schedule(static) if (s->nnz > 65536)
    for (int k = 0; k < K; k++)
        for (uint32_t q = s->row_ptr[k]; q < s->row_ptr[k + 1]; q++) s->row_val[q] = W[(size_t)k * OC + s->row_oc[q]];
#pragma omp parallel for schedule(static) if (s->nnz > 65536)
    for (int o = 0; o < OC; o++)
        for (uint32_t q = s->col_ptr[o]; q < s->col_ptr[o + 1]; q++) s->col_val[q] = W[(size_t)s->col_k[q] * OC + o];
}

/* x[N, D] -> xt (tiles of NB tokens, transposed; rows past N are zero). */
static void pack(float *xt, const float *x, int N, int D) {
    int T = ntiles(N);
#pragma omp parallel for schedule(static) collapse(2)
    for (int t = 0; t < T; t++)
        for (int d0 = 0; d0 < D; d0 += 16) {
            int d1 = d0 + 16 < D ? d0 + 16 : D;
            for (int i = 0; i < NB; i++) {
                int n = t * NB + i;
                for (int d = d0; d < d1; d++) xt[((size_t)t * D + d) * NB + i] = n < N ? x[(size_t)n * D + d] : 0.0f;
            }
        }
}

/* y[N, D] (+)= xt, plus bias[D] when given; accumulate: add to y. */
static void unpack(float *y, const float *xt, const float *bias, int N, int D, int accumulate) {
    int T = ntiles(N);
#pragma omp parallel for schedule(static) collapse(2)
    for (int t = 0; t < T; t++)
        for (int d0 = 0; d0 < D; d0 += 16) {
            int d1 = d0 + 16 < D ? d0 + 16 : D;
            for (int i = 0; i < NB; i++) {
                int n = t * NB + i;
                if (n >= N) break;
                float *row = y + (size_t)n * D;
                for (int d = d0; d < d1; d++) {
                    float v = xt[((size_t)t * D + d) * NB + i] + (bias ? bias[d] : 0.0f);
                    row[d] = accumulate ? row[d] + v : v;
                }
            }
        }
}

/* 16 floats as one value: GCC/clang vector extensions lower it to one zmm
** register with AVX-512, two ymm with AVX2, four xmm otherwise. Loads and
** stores go through memcpy (no alignment assumed). */
typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

/* v = 16 floats at p. A macro, not a function: a vector-typed return would
** change the ABI between the clones (-Wpsabi). */
#define LD(v, p) memcpy(&(v), (p), sizeof(v))

/* y[NB] = sum_q val[q] * x[idx[q]][NB]: one output of one tile. */
HOT static void gather_tile(float *restrict y, const float *restrict x, const uint32_t *restrict idx,
                            const float *restrict val, uint32_t q0, uint32_t q1) {
    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (uint32_t q = q0; q < q1; q++) {
        const float *xr = x + (size_t)idx[q] * NB;
        float v = val[q];
        v16 x0, x1, x2, x3;
        LD(x0, xr), LD(x1, xr + 16), LD(x2, xr + 32), LD(x3, xr + 48);
        a0 += v * x0, a1 += v * x1, a2 += v * x2, a3 += v * x3;
    }
    memcpy(y, &a0, 64), memcpy(y + 16, &a1, 64), memcpy(y + 32, &a2, 64), memcpy(y + 48, &a3, 64);
}

/* g[q] += a[idx[q]][NB] . b[NB] for q in q0..q1: the kept entries of one output. */
#if defined(__GNUC__) && !defined(__clang__)
typedef int v16i __attribute__((vector_size(64)));
/* Four 16-lane vectors to their four sums, in lanes 0..3: three rounds of
** halving (shuffle two vectors' halves together, add), sharing the work of
** four horizontal sums. */
#define WF_SUM4(p0, p1, p2, p3, out)                                                              \
    do {                                                                                          \
        static const v16i lo8 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};         \
        static const v16i hi8 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};   \
        static const v16i lo4 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};       \
        static const v16i hi4 = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};     \
        static const v16i lo2 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};       \
        static const v16i hi2 = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31};     \
        static const v16i lo1 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};      \
        static const v16i hi1 = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};      \
        v16 s01 = __builtin_shuffle(p0, p1, lo8) + __builtin_shuffle(p0, p1, hi8);                \
        v16 s23 = __builtin_shuffle(p2, p3, lo8) + __builtin_shuffle(p2, p3, hi8);                \
        v16 s = __builtin_shuffle(s01, s23, lo4) + __builtin_shuffle(s01, s23, hi4);              \
        s = __builtin_shuffle(s, s, lo2) + __builtin_shuffle(s, s, hi2);                          \
        out = __builtin_shuffle(s, s, lo1) + __builtin_shuffle(s, s, hi1);                        \
    } while (0)
#endif

HOT static void dots_tile(float *restrict g, const float *restrict a, const float *restrict b,
                          const uint32_t *restrict idx, uint32_t q0, uint32_t q1) {
    v16 b0, b1, b2, b3;
    LD(b0, b), LD(b1, b + 16), LD(b2, b + 32), LD(b3, b + 48);
    uint32_t q = q0;
#ifdef WF_SUM4
    for (; q + 4 <= q1; q += 4) {
        v16 p[4];
        for (int u = 0; u < 4; u++) {
            const float *ar = a + (size_t)idx[q + u] * NB;
            v16 r0, r1, r2, r3;
            LD(r0, ar), LD(r1, ar + 16), LD(r2, ar + 32), LD(r3, ar + 48);
            p[u] = r0 * b0 + r1 * b1 + r2 * b2 + r3 * b3;
        }
        v16 t;
        WF_SUM4(p[0], p[1], p[2], p[3], t);
        g[q] += t[0], g[q + 1] += t[1], g[q + 2] += t[2], g[q + 3] += t[3]; /* lanes 0..3: p0..p3's sums */
    }
#endif
    for (; q < q1; q++) {
        const float *ar = a + (size_t)idx[q] * NB;
        v16 r0, r1, r2, r3;
        LD(r0, ar), LD(r1, ar + 16), LD(r2, ar + 32), LD(r3, ar + 48);
        v16 p = r0 * b0 + r1 * b1 + r2 * b2 + r3 * b3;
        /* horizontal sum by halves (vector adds, not a 16-long scalar chain) */
        v8 h8, l8;
        memcpy(&l8, &p, 32), memcpy(&h8, (const char *)&p + 32, 32);
        l8 += h8;
        v4 h4, l4;
        memcpy(&l4, &l8, 16), memcpy(&h4, (const char *)&l8 + 16, 16);
        l4 += h4;
        g[q] += (l4[0] + l4[2]) + (l4[1] + l4[3]);
    }
}

void wf_spmm_forward(float *out, const float *inp, const wf_spmat *W, const float *bias, int N, float *scratch) {
    int K = W->K, OC = W->OC, T = ntiles(N);
    if (N < SMALL_N) { /* decoding: a tile would be mostly padding; gather straight from the rows */
#pragma omp parallel for schedule(static) if (W->nnz * (uint64_t)N > 32768)
        for (int o = 0; o < OC; o++)
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * K;
                float s = bias ? bias[o] : 0.0f;
                for (uint32_t q = W->col_ptr[o]; q < W->col_ptr[o + 1]; q++) s += x[W->col_k[q]] * W->col_val[q];
                out[(size_t)n * OC + o] = s;
            }
        return;
    }
    scratch = aligned64(scratch);
    float *xt = scratch, *yt = scratch + (size_t)T * NB * K;
    pack(xt, inp, N, K);
#pragma omp parallel
    for (int t = 0; t < T; t++) {
        const float *xtile = xt + (size_t)t * K * NB;
#pragma omp for schedule(static) nowait
        for (int o = 0; o < OC; o++)
            gather_tile(yt + ((size_t)t * OC + o) * NB, xtile, W->col_k, W->col_val, W->col_ptr[o], W->col_ptr[o + 1]);
    }
    unpack(out, yt, bias, N, OC, 0);
}

void wf_spmm_backward_input(float *dinp, const float *dout, const wf_spmat *W, int N, float *scratch) {
    int K = W->K, OC = W->OC, T = ntiles(N);
    scratch = aligned64(scratch);
    float *xt = scratch, *dt = scratch + (size_t)T * NB * K;
    pack(dt, dout, N, OC);
#pragma omp parallel
    for (int t = 0; t < T; t++) {
        const float *dtile = dt + (size_t)t * OC * NB;
#pragma omp for schedule(static) nowait
        for (int k = 0; k < K; k++)
            gather_tile(xt + ((size_t)t * K + k) * NB, dtile, W->row_oc, W->row_val, W->row_ptr[k], W->row_ptr[k + 1]);
    }
    unpack(dinp, xt, NULL, N, K, 1);
}

void wf_spmm_backward_weight(float *dW, const float *inp, const float *dout, const wf_spmat *W, int N,
                             float *scratch) {
    int K = W->K, OC = W->OC, T = ntiles(N);
    scratch = aligned64(scratch);
    float *xt = scratch, *dt = scratch + (size_t)T * NB * K, *g = dt + (size_t)T * NB * OC;
    pack(xt, inp, N, K);
    pack(dt, dout, N, OC);
    memset(g, 0, sizeof(float) * W->nnz);
#pragma omp parallel
    for (int t = 0; t < T; t++) {
        const float *xtile = xt + (size_t)t * K * NB, *dtile = dt + (size_t)t * OC * NB;
#pragma omp for schedule(static) nowait
        for (int o = 0; o < OC; o++)
            dots_tile(g, xtile, dtile + (size_t)o * NB, W->col_k, W->col_ptr[o], W->col_ptr[o + 1]);
    }
#pragma omp parallel for schedule(static) if (W->nnz > 65536)
    for (int o = 0; o < OC; o++)
        for (uint32_t q = W->col_ptr[o]; q < W->col_ptr[o + 1]; q++) dW[(size_t)W->col_k[q] * OC + o] += g[q];
}

/* ---- references ---------------------------------------------------------------- */

void wf_spmm_forward_naive(float *out, const float *inp, const wf_spmat *W, const float *bias, int N) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < W->OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (uint32_t q = W->col_ptr[o]; q < W->col_ptr[o + 1]; q++)
                s += (double)inp[(size_t)n * W->K + W->col_k[q]] * W->col_val[q];
            out[(size_t)n * W->OC + o] = (float)s;
        }
}

void wf_spmm_backward_input_naive(float *dinp, const float *dout, const wf_spmat *W, int N) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < W->K; k++) {
            double s = 0;
            for (uint32_t q = W->row_ptr[k]; q < W->row_ptr[k + 1]; q++)
                s += (double)dout[(size_t)n * W->OC + W->row_oc[q]] * W->row_val[q];
            dinp[(size_t)n * W->K + k] += (float)s;
        }
}

void wf_spmm_backward_weight_naive(float *dW, const float *inp, const float *dout, const wf_spmat *W, int N) {
    for (int k = 0; k < W->K; k++)
        for (uint32_t q = W->row_ptr[k]; q < W->row_ptr[k + 1]; q++) {
            uint32_t o = W->row_oc[q];
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)inp[(size_t)n * W->K + k] * dout[(size_t)n * W->OC + o];
            dW[(size_t)k * W->OC + o] += (float)s;
        }
}
