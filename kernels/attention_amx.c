/* attention_amx.c — causal multi-head attention, forward and backward, with
** bf16 operands on Intel AMX tiles (TDPBF16PS: bf16 products, fp32 sums):
** the attention of bf16 training (train/step.c, --bf16 on the AMX path).
** Contracts: wf_attention_forward_bf16 in kernels.h, wf_attention_backward_bf16
** in backward.h. Where AMX is not active, or the head size is not a multiple
** of 32, both call the fp32 kernels (attention.c, backward.c).
**
** Each (batch, head) runs on one thread, in query and key blocks of 64. Q, K,
** V and dO are rounded to bf16 once per head into the layouts the tiles want
** (TDPBF16PS C[16x16] += A[16 x 32] . B, A rows with K along the row, B rows
** of 16 column pairs, see gemm_amx.c):
**   forward   S^T = K_j Q_i^T   A: K rows as stored   B: Q 32-bit transposed
**             O^T += V^T P^T    A: V^T                B: P^T rows in pairs
**   backward  S^T = K_j Q_i^T, dP^T = V_j dO_i^T (as above, V and dO)
**             dV_j += P^T dO_i  A: P^T as computed    B: dO rows in pairs
**             dK_j += dS^T Q_i  A: dS^T as computed   B: Q rows in pairs
**             dQ_i^T += K_j^T dS^T  A: K^T            B: dS^T rows in pairs
** Working on transposed scores keeps every per-block write row-wise: the
** softmax statistics are vectors over the 64 queries of a block (as in the
** fp32 kernels), P^T and dS^T become bf16 as they are computed, and only O
** and dQ are transposed, once per block or head. Products are 32 x 32 blocks
** of four accumulator tiles (two A, two B tiles: all eight registers); an
** accumulator that outlives a product (O^T, dK_j, dV_j, dQ^T) waits in fp32
** memory between blocks. Every sum has a fixed order (blocks in turn, K steps
** in turn), so the bits do not depend on the thread count. */
#include "kernels/backward.h"
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

enum { BQ = 64, BK = 64 }; /* query and key block sizes (the emulation in the test follows them) */

static int pad64(int T) { return (T + 63) & ~63; }

/* Floats of one thread's scratch, a multiple of 16 (64 bytes): the larger of
** the bf16 forward, the bf16 backward and the fp32 backward (the fallback). */
static size_t per_thread_floats(int T, int hs) {
    size_t Tp = (size_t)pad64(T), E = Tp * (size_t)hs, slack = 16 * 24;
    size_t fwd = 3 * E / 2 + 16 * (size_t)hs + BK * BQ + BK * BQ / 2 + (size_t)hs * BQ + 3 * BQ + slack;
    size_t bwd = 7 * E / 2 + E + 2 * Tp + 2 * BK * BQ + BK * BQ / 2 + (size_t)BK * (Tp + 32) + 32 * (size_t)hs +
                 2 * (size_t)BK * hs + 2 * BQ + slack;
    size_t f32 = wf_attention_backward_scratch(T, hs, 1);
    size_t n = fwd > bwd ? fwd : bwd;
    n = n > f32 ? n : f32;
    return (n + 15) & ~(size_t)15;
}

size_t wf_attention_bf16_scratch(int T, int hs, int nthreads) {
    return per_thread_floats(T, hs) * (size_t)(nthreads > 0 ? nthreads : 1) + 16;
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>

#define AMX_TGT __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#define TILE 512 /* bf16 in one 16 x 32 tile (1 KiB) */

static int amx_ok(int hs) { return wf_isa_active() >= WF_ISA_AMX && hs % 32 == 0; }

/* ---- tiles ------------------------------------------------------------------ */

/* o[32][32] (fp32, row stride ldo floats) = (acc ? c : 0) + A . B over nks
** steps of 32: A rows 0-15 at a + 32 s, rows 16-31 at a + 16 lda + 32 s
** (bf16, row stride lda); B column groups 0-15 and 16-31 are the packed tiles
** b0 + s bstep and b1 + s bstep. mm32: o = c (row stride ldc). */
static AMX_TGT inline void mm32_to(float *c, int ldc, int acc, float *o, int ldo, const uint16_t *a, int lda,
                                   const uint16_t *b0, const uint16_t *b1, size_t bstep, int nks) {
    size_t lc = (size_t)ldc * 4, la = (size_t)lda * 2, lo = (size_t)ldo * 4;
    if (acc) {
        _tile_loadd(0, c, lc);
        _tile_loadd(1, c + 16, lc);
        _tile_loadd(2, c + (size_t)16 * ldc, lc);
        _tile_loadd(3, c + (size_t)16 * ldc + 16, lc);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    const uint16_t *a1 = a + (size_t)16 * lda;
    for (int s = 0; s < nks; s++) {
        _tile_loadd(4, a + 32 * s, la);
        _tile_loadd(6, b0 + s * bstep, 64);
        _tile_loadd(7, b1 + s * bstep, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a1 + 32 * s, la);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, o, lo);
    _tile_stored(1, o + 16, lo);
    _tile_stored(2, o + (size_t)16 * ldo, lo);
    _tile_stored(3, o + (size_t)16 * ldo + 16, lo);
}

static AMX_TGT inline void mm32(float *c, int ldc, int acc, const uint16_t *a, int lda, const uint16_t *b0,
                                const uint16_t *b1, size_t bstep, int nks) {
    mm32_to(c, ldc, acc, c, ldc, a, lda, b0, b1, bstep, nks);
}

/* ---- AVX-512 helpers ----------------------------------------------------- */

/* The conversions of the block loops run on VCVTNE(2)PS2BF16 (AVX512_BF16,
** which every AMX CPU has: the amx path sits above avx512bf16, kernels/isa.c):
** wf_bf16x32 (kernels_int.h) where a tile reads the result. P needs not even
** its fix-up: it is 0 or exp(x) >= exp(-87) > FLT_MIN (wf_exp512 clamps x),
** never an fp32 denormal. */

/* 16 words: bf16 of x, where x holds no fp32 denormal. */
static AMX_TGT inline __m256i bf16_row_nd(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

/* Words 0-15 and 16-31 of w interleaved: dwords (w[k] | w[16 + k] << 16), the pair layout. */
static AMX_TGT inline __m512i interleave16(__m512i w) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, w);
}

/* Dwords (bf16(x0) | bf16(x1) << 16): one row of a B tile in the pair layout. */
static AMX_TGT inline __m512i bf16_pairs(__m512 x0, __m512 x1) { return interleave16(wf_bf16x32(x0, x1)); }

static AMX_TGT inline __m512 load_or_zero(const float *p, int live) {
    return live ? _mm512_loadu_ps(p) : _mm512_setzero_ps();
}

/* ---- packing, once per (batch, head) ----------------------------------------
** X is T rows of D fp32 (row t at x + t ldx); rows T .. Tp-1 are zeros. */

/* dst[Tp][D] bf16, rows as stored: the A operand with K = d. */
static AMX_TGT void pack_rows(uint16_t *dst, const float *x, size_t ldx, int T, int Tp, int D) {
    for (int t = 0; t < Tp; t++)
        for (int d = 0; d < D; d += 32) {
            const float *r = x + (size_t)t * ldx + d;
            _mm512_storeu_si512((void *)(dst + (size_t)t * D + d),
                                wf_bf16x32(load_or_zero(r, t < T), load_or_zero(r + 16, t < T)));
        }
}

/* The B operand with K = d, N = t (X^T): 16-row group g, step s is one tile
** at dst + (g nds + s) TILE whose row q, column i holds the pair
** (X[16g+i][32s+2q], X[16g+i][32s+2q+1]): a 32-bit transpose of X's bf16
** rows, done through a 16-row buffer in L1 (a scatter per row costs 16
** cache lines and measured 4x slower). */
static AMX_TGT void pack_dtrans(uint16_t *dst, const float *x, size_t ldx, int T, int Tp, int D) {
    int nds = D / 32;
    uint32_t buf[16 * 256 / 2]; /* 16 rows of up to 256 bf16 (D <= 256; larger D loops in halves below) */
    for (int d0 = 0; d0 < D; d0 += 256) {
        int dn = D - d0 < 256 ? D - d0 : 256;
        for (int t0 = 0; t0 < Tp; t0 += 16) {
            for (int i = 0; i < 16; i++)
                for (int d = 0; d < dn; d += 32) {
                    const float *r = x + (size_t)(t0 + i) * ldx + d0 + d;
                    _mm512_storeu_si512((void *)((uint16_t *)buf + i * 256 + d),
                                        wf_bf16x32(load_or_zero(r, t0 + i < T), load_or_zero(r + 16, t0 + i < T)));
                }
            for (int s = 0; s < dn / 32; s++) {
                uint32_t *tile = (uint32_t *)(dst + ((size_t)(t0 / 16) * nds + d0 / 32 + s) * TILE);
                __m512i r[16];
                for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512((const void *)(buf + i * 128 + s * 16));
                wf_transpose16(r); /* r[q]: pair q of the 16 rows */
                for (int q = 0; q < 16; q++) _mm512_storeu_si512((void *)(tile + q * 16), r[q]);
            }
        }
    }
}

/* The B operand with K = t, N = d (X itself): step s (32 rows), 16-column
** group g is the tile at dst + (s ndg + g) TILE, row q = the pairs
** (X[32s+2q][16g+j], X[32s+2q+1][16g+j]), j < 16. */
static AMX_TGT void pack_pairs(uint16_t *dst, const float *x, size_t ldx, int T, int Tp, int D) {
    int ndg = D / 16;
    for (int t = 0; t < Tp; t += 2) {
        const float *r0 = x + (size_t)t * ldx, *r1 = r0 + ldx;
        for (int g = 0; g < ndg; g++) {
            __m512i v = bf16_pairs(load_or_zero(r0 + 16 * g, t < T), load_or_zero(r1 + 16 * g, t + 1 < T));
            _mm512_storeu_si512((void *)(dst + ((size_t)(t / 32) * ndg + g) * TILE + (size_t)((t % 32) / 2) * 32), v);
        }
    }
}

/* dst[D][Tp] bf16 = X^T: the A operand with K = t (rows d). Dword t/2 of row
** d is the pair (X[t][d], X[t+1][d]): 32 rows at a time become 16 pair
** rows in an L1 buffer, then 32-bit transposed into place. */
static AMX_TGT void pack_trans(uint16_t *dst, const float *x, size_t ldx, int T, int Tp, int D, int pitch) {
    uint32_t buf[16 * 256];
    uint32_t *d32 = (uint32_t *)dst;
    size_t ld = (size_t)pitch / 2; /* dwords per row of dst (pitch bf16, even) */
    for (int d0 = 0; d0 < D; d0 += 256) {
        int dn = D - d0 < 256 ? D - d0 : 256;
        for (int t0 = 0; t0 < Tp; t0 += 32) {
            for (int p = 0; p < 16; p++) {
                int t = t0 + 2 * p;
                const float *r0 = x + (size_t)t * ldx + d0, *r1 = r0 + ldx;
                for (int d = 0; d < dn; d += 16)
                    _mm512_storeu_si512((void *)(buf + p * 256 + d),
                                        bf16_pairs(load_or_zero(r0 + d, t < T), load_or_zero(r1 + d, t + 1 < T)));
            }
            for (int d = 0; d < dn; d += 16) { /* dn is a multiple of 32 (amx_ok) */
                __m512i r[16];
                for (int p = 0; p < 16; p++) r[p] = _mm512_loadu_si512((const void *)(buf + p * 256 + d));
                wf_transpose16(r); /* r[e]: the 16 pairs of row d + e */
                for (int e = 0; e < 16; e++) _mm512_storeu_si512((void *)(d32 + (size_t)(d0 + d + e) * ld + t0 / 2), r[e]);
            }
        }
    }
}

/* Carves n floats (64-byte aligned) from *p. */
static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15;
    return r;
}

/* ---- forward ----------------------------------------------------------------- */

/* One (batch, head): q/k/v row t at qkv + t C3 (+ C, + 2C) + h D; out row t
** at out + t C + h D; lse[0..T) for this head (may be NULL). Online softmax
** over key blocks of 64, vectors over the 64 queries of a block:
**   m_new = max(m, max_j s), corr = exp(m - m_new), P~ = exp(s - m_new) (fp32),
**   l = l corr + sum_j P~ (fp32), O^T = O^T corr + V^T bf16(P~)^T,
** and at the end out = O / l, lse = m + log l. */
static AMX_TGT void fwd_head(float *out, float *lse, const float *qkv, int T, int C, int H, int h, float *scr) {
    int D = C / H, C3 = 3 * C, Tp = pad64(T), nds = D / 32;
    float scale = 1.0f / sqrtf((float)D);
    size_t E = (size_t)Tp * D;
    float *p = (float *)(((uintptr_t)scr + 63) & ~(uintptr_t)63);
    int Tq = Tp + 32; /* row pitch of V^T: a tile's 16 rows 4 KiB apart would share one set of L1 */
    uint16_t *Kb = (uint16_t *)carve(&p, E / 2), *QT = (uint16_t *)carve(&p, E / 2);
    uint16_t *Vt = (uint16_t *)carve(&p, (size_t)D * Tq / 2);
    float *St = carve(&p, BK * BQ), *Ot = carve(&p, (size_t)D * BQ);
    uint16_t *PP = (uint16_t *)carve(&p, BK * BQ / 2);
    float *m = carve(&p, BQ), *l = carve(&p, BQ), *corr = carve(&p, BQ);
    WF_ASSERT(p <= scr + per_thread_floats(T, D)); /* the tile stores are not seen by sanitizers */
    const float *Qh = qkv + (size_t)h * D, *Kh = Qh + C, *Vh = Qh + 2 * C;
    pack_rows(Kb, Kh, C3, T, Tp, D);
    pack_dtrans(QT, Qh, C3, T, Tp, D);
    pack_trans(Vt, Vh, C3, T, Tp, D, Tq);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 vscale = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY);
    for (int i0 = 0; i0 < T; i0 += BQ) {
        int nq = T - i0 < BQ ? T - i0 : BQ;
        for (int i = 0; i < BQ; i++) m[i] = -INFINITY, l[i] = 0.0f;
        for (int j0 = 0; j0 <= i0; j0 += BK) {
            int diag = j0 == i0; /* key j0+j is visible to query i0+i when j <= i */
            for (int jj = 0; jj < BK; jj += 32)
                for (int ii = 0; ii < BQ; ii += 32)
                    mm32(St + jj * BQ + ii, BQ, 0, Kb + (size_t)(j0 + jj) * D, D,
                         QT + (size_t)((i0 + ii) / 16) * nds * TILE, QT + (size_t)((i0 + ii) / 16 + 1) * nds * TILE,
                         TILE, nds);
            /* scores scaled and masked in place; their max over the block's keys */
            __m512 mx[4] = {ninf, ninf, ninf, ninf};
            for (int j = 0; j < BK; j++)
                for (int g = 0; g < 4; g++) {
                    __m512 x = _mm512_mul_ps(_mm512_loadu_ps(St + j * BQ + 16 * g), vscale);
                    if (diag) {
                        __mmask16 live = _mm512_cmpge_epi32_mask(_mm512_add_epi32(iota, _mm512_set1_epi32(16 * g)),
                                                                 _mm512_set1_epi32(j));
                        x = _mm512_mask_mov_ps(ninf, live, x);
                    }
                    _mm512_storeu_ps(St + j * BQ + 16 * g, x);
                    mx[g] = _mm512_max_ps(mx[g], x);
                }
            __m512 mn[4], sum[4];
            int rescale = 0;
            for (int g = 0; g < 4; g++) {
                __m512 mo = _mm512_loadu_ps(m + 16 * g);
                mn[g] = _mm512_max_ps(mo, mx[g]);
                __mmask16 first = _mm512_cmp_ps_mask(mo, ninf, _CMP_EQ_OQ);
                __m512 c = _mm512_maskz_mov_ps((__mmask16)~first, wf_exp512(_mm512_sub_ps(mo, mn[g])));
                _mm512_storeu_ps(corr + 16 * g, c);
                rescale |= _mm512_cmp_ps_mask(c, _mm512_set1_ps(1.0f), _CMP_NEQ_UQ) != 0;
                sum[g] = _mm512_setzero_ps();
            }
            /* P~ = exp(s - m_new) (0 where masked), summed in fp32; bf16 in pairs of keys */
            for (int q = 0; q < BK / 2; q++)
                for (int g = 0; g < 4; g++) {
                    __m512 x0 = _mm512_loadu_ps(St + (2 * q) * BQ + 16 * g), x1 = _mm512_loadu_ps(St + (2 * q + 1) * BQ + 16 * g);
                    __m512 p0 = wf_exp512(_mm512_sub_ps(x0, mn[g])), p1 = wf_exp512(_mm512_sub_ps(x1, mn[g]));
                    if (diag) {
                        __m512i ig = _mm512_add_epi32(iota, _mm512_set1_epi32(16 * g));
                        p0 = _mm512_maskz_mov_ps(_mm512_cmpge_epi32_mask(ig, _mm512_set1_epi32(2 * q)), p0);
                        p1 = _mm512_maskz_mov_ps(_mm512_cmpge_epi32_mask(ig, _mm512_set1_epi32(2 * q + 1)), p1);
                    }
                    sum[g] = _mm512_add_ps(_mm512_add_ps(sum[g], p0), p1);
                    _mm512_storeu_si512((void *)(PP + ((size_t)(q / 16) * 4 + g) * TILE + (size_t)(q % 16) * 32),
                                        interleave16((__m512i)_mm512_cvtne2ps_pbh(p1, p0)));
                }
            for (int g = 0; g < 4; g++) {
                __m512 c = _mm512_loadu_ps(corr + 16 * g);
                _mm512_storeu_ps(l + 16 * g, _mm512_fmadd_ps(_mm512_loadu_ps(l + 16 * g), c, sum[g]));
                _mm512_storeu_ps(m + 16 * g, mn[g]);
            }
            int acc = j0 > 0;
            if (acc && rescale)
                for (int d = 0; d < D; d++)
                    for (int g = 0; g < 4; g++)
                        _mm512_storeu_ps(Ot + d * BQ + 16 * g,
                                         _mm512_mul_ps(_mm512_loadu_ps(Ot + d * BQ + 16 * g), _mm512_loadu_ps(corr + 16 * g)));
            for (int dd = 0; dd < D; dd += 32)
                for (int ii = 0; ii < BQ; ii += 32)
                    mm32(Ot + dd * BQ + ii, BQ, acc, Vt + (size_t)dd * Tq + j0, Tq, PP + (size_t)(ii / 16) * TILE,
                         PP + (size_t)(ii / 16 + 1) * TILE, 4 * TILE, 2);
        }
        /* out = (O^T)^T / l, 16 x 16 blocks transposed in registers */
        for (int ic = 0; ic < nq; ic += 16)
            for (int d0 = 0; d0 < D; d0 += 16) {
                __m512i r[16];
                for (int d = 0; d < 16; d++) r[d] = _mm512_loadu_si512((const void *)(Ot + (d0 + d) * BQ + ic));
                wf_transpose16(r); /* r[i]: O[ic + i][d0 .. d0 + 16) */
                for (int i = 0; i < 16 && ic + i < nq; i++)
                    _mm512_storeu_ps(out + (size_t)(i0 + ic + i) * C + (size_t)h * D + d0,
                                     _mm512_mul_ps(_mm512_castsi512_ps(r[i]), _mm512_set1_ps(1.0f / l[ic + i])));
            }
        for (int i = 0; i < nq; i++)
            if (lse) lse[i0 + i] = m[i] + logf(l[i]);
    }
}

/* ---- backward ---------------------------------------------------------------- */

/* One (batch, head); pointers as fwd_head, dqkv and dout alike, lse[0..T)
** this head's. Outer loop over key blocks j, inner over query blocks i >= j:
** P^T and dS^T of the whole column of blocks are kept in bf16 ([BK][Tp + 32],
** queries from j on), and dK_j, dV_j are one product each over all those
** queries (the tiles accumulate across query blocks, in order, as they did
** block by block through memory: same sums), stored straight into dqkv;
** dQ^T [D][Tp] accumulates across j. */
static AMX_TGT void bwd_head(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                             int T, int C, int H, int h, float *scr) {
    int D = C / H, C3 = 3 * C, Tp = pad64(T), nds = D / 32, ndg = D / 16;
    float scale = 1.0f / sqrtf((float)D);
    size_t E = (size_t)Tp * D;
    float *p = (float *)(((uintptr_t)scr + 63) & ~(uintptr_t)63);
    uint16_t *Kb = (uint16_t *)carve(&p, E / 2), *Vb = (uint16_t *)carve(&p, E / 2);
    uint16_t *QT = (uint16_t *)carve(&p, E / 2), *dOT = (uint16_t *)carve(&p, E / 2);
    uint16_t *QP = (uint16_t *)carve(&p, E / 2), *dOP = (uint16_t *)carve(&p, E / 2);
    /* row pitches off multiples of 4 KiB (see Tq below): K^T Tp + 32 bf16, dQ^T Tp + 16 floats */
    int Tk = Tp + 32, Tr = Tp + 16;
    uint16_t *Kt = (uint16_t *)carve(&p, (size_t)D * Tk / 2);
    float *dQt = carve(&p, (size_t)D * Tr), *Dv = carve(&p, (size_t)Tp), *lt = carve(&p, (size_t)Tp);
    float *St = carve(&p, BK * BQ), *dPt = carve(&p, BK * BQ);
    /* row pitch of P^T, dS^T: Tp + 32 bf16, so that a tile's 16 rows do not share one set of L1 (4 KiB apart) */
    int Tq = Tp + 32;
    uint16_t *PtA = (uint16_t *)carve(&p, (size_t)BK * Tq / 2), *dStA = (uint16_t *)carve(&p, (size_t)BK * Tq / 2);
    uint16_t *dSP = (uint16_t *)carve(&p, BK * BQ / 2);
    float *dKj = carve(&p, (size_t)BK * D), *dVj = carve(&p, (size_t)BK * D);
    WF_ASSERT(p <= scr + per_thread_floats(T, D));
    const float *Qh = qkv + (size_t)h * D, *Kh = Qh + C, *Vh = Qh + 2 * C, *dOh = dout + (size_t)h * D;
    pack_rows(Kb, Kh, C3, T, Tp, D);
    pack_rows(Vb, Vh, C3, T, Tp, D);
    pack_dtrans(QT, Qh, C3, T, Tp, D);
    pack_dtrans(dOT, dOh, C, T, Tp, D);
    pack_pairs(QP, Qh, C3, T, Tp, D);
    pack_pairs(dOP, dOh, C, T, Tp, D);
    pack_trans(Kt, Kh, C3, T, Tp, D, Tk);
    /* D_i = dO_i . O_i in fp32 (sixteen lanes, then the fixed-order reduction) */
    for (int t = 0; t < Tp; t++) {
        if (t >= T) {
            Dv[t] = lt[t] = 0.0f;
            continue;
        }
        const float *o = out + (size_t)t * C + (size_t)h * D, *g = dOh + (size_t)t * C;
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < D; d += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(o + d), _mm512_loadu_ps(g + d), a);
        Dv[t] = _mm512_reduce_add_ps(a);
        lt[t] = lse[t];
    }
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int j0 = 0; j0 < T; j0 += BK) {
        for (int i0 = j0; i0 < T; i0 += BQ) {
            int diag = i0 == j0, nq = T - i0 < BQ ? T - i0 : BQ, ic = i0 - j0; /* ic: column in PtA, dStA */
            for (int jj = 0; jj < BK; jj += 32)
                for (int ii = 0; ii < BQ; ii += 32) {
                    const uint16_t *q0 = QT + (size_t)((i0 + ii) / 16) * nds * TILE;
                    const uint16_t *g0 = dOT + (size_t)((i0 + ii) / 16) * nds * TILE;
                    mm32(St + jj * BQ + ii, BQ, 0, Kb + (size_t)(j0 + jj) * D, D, q0, q0 + (size_t)nds * TILE, TILE, nds);
                    mm32(dPt + jj * BQ + ii, BQ, 0, Vb + (size_t)(j0 + jj) * D, D, g0, g0 + (size_t)nds * TILE, TILE, nds);
                }
            /* P^T = exp(S^T scale - lse) (0 where masked or past T), dS^T = P^T (dP^T - D) scale */
            for (int g = 0; g < 4; g++) {
                __m512i ig = _mm512_add_epi32(iota, _mm512_set1_epi32(16 * g));
                __mmask16 qlive = _mm512_cmplt_epi32_mask(ig, _mm512_set1_epi32(nq));
                __m512 lv = _mm512_loadu_ps(lt + i0 + 16 * g), dv = _mm512_loadu_ps(Dv + i0 + 16 * g);
                for (int q = 0; q < BK / 2; q++) {
                    __m512 ds[2];
                    for (int e = 0; e < 2; e++) {
                        int j = 2 * q + e;
                        __mmask16 live = diag ? qlive & _mm512_cmpge_epi32_mask(ig, _mm512_set1_epi32(j)) : qlive;
                        __m512 x = _mm512_fmsub_ps(_mm512_loadu_ps(St + j * BQ + 16 * g), vscale, lv);
                        __m512 pe = _mm512_maskz_mov_ps(live, wf_exp512(x));
                        ds[e] = _mm512_mul_ps(_mm512_mul_ps(pe, _mm512_sub_ps(_mm512_loadu_ps(dPt + j * BQ + 16 * g), dv)), vscale);
                        _mm256_storeu_si256((__m256i *)(PtA + (size_t)j * Tq + ic + 16 * g), bf16_row_nd(pe));
                    }
                    __m512i w = wf_bf16x32(ds[0], ds[1]);
                    _mm256_storeu_si256((__m256i *)(dStA + (size_t)2 * q * Tq + ic + 16 * g), _mm512_castsi512_si256(w));
                    _mm256_storeu_si256((__m256i *)(dStA + (size_t)(2 * q + 1) * Tq + ic + 16 * g),
                                        _mm512_extracti64x4_epi64(w, 1));
                    _mm512_storeu_si512((void *)(dSP + ((size_t)(q / 16) * 4 + g) * TILE + (size_t)(q % 16) * 32),
                                        interleave16(w));
                }
            }
            for (int dd = 0; dd < D; dd += 32)
                for (int ii = 0; ii < BQ; ii += 32)
                    mm32(dQt + (size_t)dd * Tr + i0 + ii, Tr, j0 > 0, Kt + (size_t)dd * Tk + j0, Tk,
                         dSP + (size_t)(ii / 16) * TILE, dSP + (size_t)(ii / 16 + 1) * TILE, 4 * TILE, 2);
        }
        /* dV_j = P_j^T dO, dK_j = dS_j^T Q over the queries j0 .. Tp (padding: P = dS = 0);
        ** a whole key block straight into dqkv, a tail block through dKj, dVj */
        int whole = j0 + BK <= T, nks = (Tp - j0) / 32;
        float *dK = dqkv + (size_t)j0 * C3 + C + (size_t)h * D, *dV = dK + C;
        for (int jj = 0; jj < BK; jj += 32)
            for (int dd = 0; dd < D; dd += 32) {
                size_t bo = ((size_t)(j0 / 32) * ndg + dd / 16) * TILE, o = (size_t)jj * D + dd;
                size_t od = (size_t)jj * C3 + dd;
                mm32_to(dVj + o, D, 0, whole ? dV + od : dVj + o, whole ? C3 : D, PtA + (size_t)jj * Tq, Tq, dOP + bo,
                        dOP + bo + TILE, (size_t)ndg * TILE, nks);
                mm32_to(dKj + o, D, 0, whole ? dK + od : dKj + o, whole ? C3 : D, dStA + (size_t)jj * Tq, Tq, QP + bo,
                        QP + bo + TILE, (size_t)ndg * TILE, nks);
            }
        int nk = T - j0 < BK ? T - j0 : BK;
        for (int j = 0; j < nk && !whole; j++) { /* a tail block: its rows up to T */
            float *d = dqkv + (size_t)(j0 + j) * C3 + (size_t)h * D;
            memcpy(d + C, dKj + (size_t)j * D, sizeof(float) * (size_t)D);
            memcpy(d + 2 * C, dVj + (size_t)j * D, sizeof(float) * (size_t)D);
        }
    }
    /* dQ = dQt^T, 16 x 16 blocks transposed in registers */
    for (int t0 = 0; t0 < T; t0 += 16)
        for (int k0 = 0; k0 < D; k0 += 16) {
            __m512i r[16];
            for (int k = 0; k < 16; k++) r[k] = _mm512_loadu_si512((const void *)(dQt + (size_t)(k0 + k) * Tr + t0));
            wf_transpose16(r); /* r[i]: dQ[t0 + i][k0 .. k0 + 16) */
            for (int i = 0; i < 16 && t0 + i < T; i++)
                _mm512_storeu_si512((void *)(dqkv + (size_t)(t0 + i) * C3 + (size_t)h * D + k0), r[i]);
        }
}

/* ---- entry points ----------------------------------------------------------- */

/* The arguments of one call, handed to each (batch, head) task. */
typedef struct {
    float *out, *dqkv;
    float *lse_w;                   /* forward: lse to write (may be NULL) */
    const float *lse, *dout, *qkv, *fout; /* backward: inputs */
    int T, C, H;
} heads_args;

static void fwd_task(const heads_args *a, int b, int h, float *scr) {
    size_t T = (size_t)a->T, C = (size_t)a->C;
    fwd_head(a->out + b * T * C, a->lse_w ? a->lse_w + ((size_t)b * a->H + h) * T : NULL, a->qkv + b * T * 3 * C,
             a->T, a->C, a->H, h, scr);
}

static void bwd_task(const heads_args *a, int b, int h, float *scr) {
    size_t T = (size_t)a->T, C = (size_t)a->C;
    bwd_head(a->dqkv + b * T * 3 * C, a->dout + b * T * C, a->qkv + b * T * 3 * C, a->fout + b * T * C,
             a->lse + ((size_t)b * a->H + h) * T, a->T, a->C, a->H, h, scr);
}

/* Every (batch, head) on the threads, one at a time each (dynamic: heads
** are equal, batches too), each thread with its tiles configured and its
** slice of the scratch. */
static void each_head(void (*task)(const heads_args *, int, int, float *), const heads_args *a, int B,
                      float *scratch, int nthreads) {
    size_t per = per_thread_floats(a->T, a->C / a->H);
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : 1)
    {
        float *scr = scratch + per * (size_t)omp_get_thread_num();
        wf_amx_tiles_on();
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * a->H; bh++) task(a, bh / a->H, bh % a->H, scr);
        wf_amx_tiles_off();
    }
}

void wf_attention_forward_bf16(float *out, float *lse, const float *qkv, int B, int T, int C, int H,
                               float *scratch, int nthreads) {
    if (!amx_ok(C / H)) {
        wf_attention_forward(out, lse, qkv, B, T, C, H);
        return;
    }
    heads_args a = {.out = out, .lse_w = lse, .qkv = qkv, .T = T, .C = C, .H = H};
    each_head(fwd_task, &a, B, scratch, nthreads);
}

void wf_attention_backward_bf16(float *dqkv, const float *dout, const float *qkv, const float *out,
                                const float *lse, int B, int T, int C, int H, float *scratch, int nthreads) {
    if (!amx_ok(C / H)) {
        wf_attention_backward(dqkv, dout, qkv, out, lse, B, T, C, H, scratch, nthreads);
        return;
    }
    heads_args a = {.dqkv = dqkv, .dout = dout, .qkv = qkv, .fout = out, .lse = lse, .T = T, .C = C, .H = H};
    each_head(bwd_task, &a, B, scratch, nthreads);
}

int wf_attention_bf16_on_tiles(int hs) { return amx_ok(hs); }

#else /* no AMX in this compiler: the fp32 kernels */

void wf_attention_forward_bf16(float *out, float *lse, const float *qkv, int B, int T, int C, int H,
                               float *scratch, int nthreads) {
    (void)scratch, (void)nthreads;
    wf_attention_forward(out, lse, qkv, B, T, C, H);
}

void wf_attention_backward_bf16(float *dqkv, const float *dout, const float *qkv, const float *out,
                                const float *lse, int B, int T, int C, int H, float *scratch, int nthreads) {
    wf_attention_backward(dqkv, dout, qkv, out, lse, B, T, C, H, scratch, nthreads);
}

int wf_attention_bf16_on_tiles(int hs) { return (void)hs, 0; }

#endif
