/* gemm_amx.c — wf_gemm_bf16x on Intel AMX (AMX-TILE + AMX-BF16: Sapphire
** Rapids and later), chosen by gemm_bf16x.c when wf_isa_active() is
** WF_ISA_AMX. Same contract: C = op(A) op(B) + beta C, bf16 in, fp32 sums.
** Also wf_gemm_rbf16 there: fp32 operands rounded to bf16 while packed.
**
** The hardware (Intel SDM vol. 2, TDPBF16PS; Intel Optimization Manual ch. 20
** "Intel AMX"): eight tile registers of up to 16 rows x 64 bytes. TDPBF16PS
** C += A.B takes A as 16 rows x 32 bf16 (row-major, K along the row), B as 16
** rows of 16 column-pairs (row q holds B[2q, j], B[2q+1, j] side by side for
** j = 0..15: the "VNNI" layout) and C as 16 x 16 fp32; inputs and outputs
** are treated as DAZ/FTZ, like vdpbf16ps.
**
** Blocking (BLIS style, as gemm.c): B is packed KC x NC into 16-column groups
** (shared by the threads; B itself row by row, B^T a group at a time), each
** thread packs blocks of op(A) rows (wf_gemm_blocks: about MC each, in a
** contiguous run of tasks per thread, wf_runs) into 16-row groups; both are
** laid out as 1 KiB tiles, one per 32-wide K step, so every tile load reads
** 1 KiB of contiguous memory. Transposed operands are packed through 16 x 16
** dword transposes in registers. Each operand is bf16 or fp32 rounded as it
** is packed (wf_gemm_mbf16); a bias is added in the last K block's pass over
** C, and B's column sums (wf_gemm_mbf16_colsum) are taken while B is packed. The packing
** buffers are lent by scratch.c (no page faults per call). KC is chosen per
** product (see amx_gemm): long when C does not stay in cache, since every K
** block reads and writes C once. The micro-kernel holds a 32 x 32 block of C
** in four tiles (tmm0-3), two A tiles (tmm4-5) and two B tiles (tmm6-7).
** A column panel of a thread's block runs in chunks of ACH K steps: the
** chunk's B tiles (16 KiB) stay in L1 while each 32-row group of the block
** passes over them, and each group's running sums wait in a per-thread
** buffer in L1 between chunks (an exact fp32 store and reload). Tile loads
** from L2 for both operands held the kernel near 1,100 GFLOP/s per core on
** the 111M shapes, against 3,100 with both in L1 (a tile-load loop measured
** on the Intel Xeon VM). After a group's last chunk its sums go to C with
** beta and bias (C's lines prefetched during that chunk); a large C written
** with beta 0 in one K block is stored non-temporally (AMX_STREAM_BYTES).
** Each C element is summed over K in a fixed order
** (K blocks in turn, inside a block pairs in turn) whatever the thread count,
** since threads split M and N only. The tile configuration is per thread: each
** OpenMP thread loads it inside the parallel region and releases it after. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <omp.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>

#define AMX_TGT __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,prfchw")))
#define TILE 512     /* bf16 in one packed 16 x 32 tile (1 KiB) */
#define AMR 32       /* C rows per micro-kernel: two A tiles */
#define ANR 32       /* C columns per micro-kernel: two B tiles */
#define AKC 1536     /* most K per block; a multiple of 32 */
#define AKC_SMALLC 512 /* the same when C (M x N fp32) fits in 1 MiB of cache */
#define AMC_BYTES (768 << 10) /* a thread's block of A: up to 768 KiB of bf16 (L2 holds it beside B's chunk) */
#define AMC_MIN 256  /* its rows: AMC_BYTES / (2 K), between these two (multiples of AMR) */
#define AMC_MAX 512
#define ANC 3072     /* columns of B per block */
#define ACH 8        /* K steps per chunk of a column panel: 8 x 2 KiB of B tiles in L1 */
#define AMX_STREAM_BYTES (8 << 20) /* C at least this large and written with beta 0: non-temporal stores */

/* The 64-byte LDTILECFG operand (Intel SDM, "LDTILECFG"): palette 1, then
** bytes per row of each tile (16 x u16) and rows (16 x u8). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static AMX_TGT void tiles_on(void) {
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    /* Not _tile_loadconfig: GCC 12's version names only 8 bytes of the
    ** operand as read, so the compiler drops the stores of colsb/rows (the
    ** instruction then faults). This asm reads the whole 64 bytes. */
    __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

static AMX_TGT void tiles_off(void) { _tile_release(); }

void wf_amx_tiles_on(void) { tiles_on(); }
void wf_amx_tiles_off(void) { tiles_off(); }

static AMX_TGT inline __mmask16 amask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

static AMX_TGT inline __mmask32 kmask32(int left) {
    return left >= 32 ? (__mmask32)0xFFFFFFFFu : left <= 0 ? (__mmask32)0 : (__mmask32)((1u << left) - 1);
}

/* The operands are bf16 (wf_gemm_bf16x) or fp32 rounded to bf16 as they are
** packed (wf_gemm_rbf16: no bf16 copies, one pass less over memory); the
** loaders below give bf16 bits either way (wf_bf16_rne512: the rounding of
** wf_bf16_from_f32). */
typedef struct {
    const void *p;
    int f32; /* 1: p is float, else uint16_t (bf16) */
} src_t;

/* elements off.. (lanes outside k: 0) as dwords holding bf16 in the low half */
static AMX_TGT inline __m512i ld16(src_t s, size_t off, __mmask16 k) {
    if (s.f32) return wf_bf16_rne512(_mm512_maskz_loadu_ps(k, (const float *)s.p + off));
    return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, (const uint16_t *)s.p + off));
}

/* 32 elements off.. (past `left`: 0) as 32 bf16 */
static AMX_TGT inline __m512i ld32(src_t s, size_t off, int left) {
    if (!s.f32) return _mm512_maskz_loadu_epi16(kmask32(left), (const uint16_t *)s.p + off);
    __m256i lo = _mm512_cvtepi32_epi16(ld16(s, off, amask(left)));
    __m256i hi = _mm512_cvtepi32_epi16(ld16(s, off + 16, amask(left - 16)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* 16 dwords (x[o0 + j] | x[o1 + j] << 16) for j < 16 inside k (second row
** absent when !two: zeros): the pair layout of one tile row. */
static AMX_TGT inline __m512i pairs16(src_t s, size_t o0, int two, size_t o1, __mmask16 k) {
    __m512i lo = ld16(s, o0, k);
    if (!two) return lo;
    return _mm512_or_si512(lo, _mm512_slli_epi32(ld16(s, o1, k), 16));
}

/* Rows i0..i0+mc of op(A), columns p0..p0+kc, into 16-row groups of nks
** tiles (group g, step s at ap + (g*nks + s)*TILE, element [row][k]). The
** number of groups is rounded up to even (a micro-kernel takes two); padding
** is zero. ta = 1: each tile is 16 pairs of A's rows (16 dwords of pairs per
** pair of rows) transposed in registers. */
static AMX_TGT void pack_a(uint16_t *ap, int ta, src_t A, int lda, int i0, int mc, int p0, int kc,
                           int nks) {
    int ng = ((mc + 15) / 16 + 1) & ~1, ngr = (mc + 15) / 16;
    if (ngr < ng) memset(ap + (size_t)ngr * nks * TILE, 0, sizeof(uint16_t) * (size_t)nks * TILE);
    if (!ta) {
        const __m512i zero = _mm512_setzero_si512();
        for (int g = 0; g < ngr; g++)
            for (int i = 0; i < 16; i++) {
                uint16_t *dst = ap + (size_t)g * nks * TILE + (size_t)i * 32;
                int row = 16 * g + i;
                if (row >= mc) {
                    for (int st = 0; st < nks; st++) _mm512_storeu_si512((void *)(dst + (size_t)st * TILE), zero);
                    continue;
                }
                size_t src = (size_t)(i0 + row) * lda + p0;
                for (int st = 0; st < nks; st++)
                    _mm512_storeu_si512((void *)(dst + (size_t)st * TILE), ld32(A, src + 32 * st, kc - 32 * st));
            }
    } else { /* K steps outer: each step reads 32 of A's rows along the block's columns */
        for (int st = 0; st < nks; st++)
            for (int g = 0; g < ngr; g++) {
                __mmask16 k = amask(mc - 16 * g);
                __m512i r[16];
                for (int q = 0; q < 16; q++) {
                    int kk = 32 * st + 2 * q;
                    size_t r0 = (size_t)(p0 + kk) * lda + i0 + 16 * g;
                    r[q] = kk < kc ? pairs16(A, r0, kk + 1 < kc, r0 + lda, k) : _mm512_setzero_si512();
                }
                wf_transpose16(r); /* r[i]: the 16 pairs of op(A) row i */
                uint16_t *t = ap + ((size_t)g * nks + st) * TILE;
                for (int i = 0; i < 16; i++) _mm512_storeu_si512((void *)(t + 32 * i), r[i]);
            }
    }
}

/* Columns j0..j0+n (n <= 16) of op(B) = B^T (tb = 1), rows p0..p0+kc, into
** one 16-column group of nks tiles in the pair layout (element [q][j][e] =
** op(B)[2q+e, j]): 32 bf16 of each of B's rows j0.. are 16 dwords (pairs),
** and the 16 x 16 dwords transposed in registers are the tile. */
static AMX_TGT void pack_bt_group(uint16_t *dst, src_t B, int ldb, int j0, int n, int p0, int kc, int nks) {
    for (int st = 0; st < nks; st++) {
        __m512i r[16];
        for (int j = 0; j < 16; j++)
            r[j] = j < n ? ld32(B, (size_t)(j0 + j) * ldb + p0 + 32 * st, kc - 32 * st) : _mm512_setzero_si512();
        wf_transpose16(r); /* r[q]: pair q of the 16 columns */
        for (int q = 0; q < 16; q++) _mm512_storeu_si512((void *)(dst + (size_t)st * TILE + 32 * q), r[q]);
    }
}

/* Groups g0..g1 of op(B) = B (tb = 0; group g: columns jc + 16 g .. + 16,
** of nc), rows p0..p0+kc, into 16-column groups of nks tiles in the pair
** layout (group g, step s at bp + (g nks + s) TILE, row q = the dwords
** B[2q, j] | B[2q+1, j] << 16), row by row: each pair of B's rows is read
** along its length (whole lines, in order, as the prefetchers like) and
** scattered into the groups' tiles; a group at a time would read one line
** from each of kc rows ldb apart (measured 3-13% slower on the 111M
** products). bsum (B fp32 only; else NULL): bsum[jc + j] += the rows' fp32
** values, row by row, before they are rounded. */
static AMX_TGT void pack_b_rows(uint16_t *bp, src_t B, int ldb, int jc, int nc, int g0, int g1, int p0, int kc,
                                int nks, float *bsum) {
    for (int s = 0; s < nks; s++)
        for (int q = 0; q < 16; q++) {
            int kk = 32 * s + 2 * q, two = kk + 1 < kc;
            size_t r0 = (size_t)(p0 + kk) * ldb + jc;
            for (int g = g0; g < g1; g++) {
                int j0 = 16 * g, n = nc - j0;
                __mmask16 k = amask(n);
                __m512i v = _mm512_setzero_si512();
                if (kk < kc && k) {
                    if (bsum) {
                        const float *b = (const float *)B.p + r0 + j0;
                        __m512 lo = _mm512_maskz_loadu_ps(k, b), acc = _mm512_maskz_loadu_ps(k, bsum + jc + j0);
                        acc = _mm512_add_ps(acc, lo);
                        v = wf_bf16_rne512(lo);
                        if (two) {
                            __m512 hi = _mm512_maskz_loadu_ps(k, b + ldb);
                            acc = _mm512_add_ps(acc, hi);
                            v = _mm512_or_si512(v, _mm512_slli_epi32(wf_bf16_rne512(hi), 16));
                        }
                        _mm512_mask_storeu_ps(bsum + jc + j0, k, acc);
                    } else {
                        v = pairs16(B, r0 + j0, two, r0 + j0 + ldb, k);
                    }
                }
                _mm512_storeu_si512((void *)(bp + ((size_t)g * nks + s) * TILE + 32 * q), v);
            }
        }
}

/* One chunk of a 32 x 32 block of C: its running sums st[32][ANR] (fp32,
** in L1) += the product of two A groups and two B groups over ns K steps
** (acc = 0: the chunk starts the sums). Storing and reloading an fp32 tile
** is exact, so the sums are those of one pass over all the steps. */
static AMX_TGT void ukernel(int ns, const uint16_t *a0, const uint16_t *a1, const uint16_t *b0,
                            const uint16_t *b1, float *st, int acc, float *cnext, int ldc, int pm) {
    const size_t ls = sizeof(float) * ANR;
    float *st1 = st + 16 * ANR;
    if (acc) {
        _tile_loadd(0, st, ls);
        _tile_loadd(1, st + 16, ls);
        _tile_loadd(2, st1, ls);
        _tile_loadd(3, st1 + 16, ls);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    /* cnext (NULL: none): the pm rows of C that store_c writes next, fetched
    ** for writing a few per step (a burst of 64 would stall on the fill buffers) */
    int per = cnext ? (pm + ns - 1) / ns : 0;
    for (int s = 0; s < ns; s++) {
        for (int i = s * per; i < (s + 1) * per && i < pm; i++) {
            __builtin_prefetch(cnext + (size_t)i * ldc, 1, 3); /* prefetchw: the target has prfchw */
            __builtin_prefetch(cnext + (size_t)i * ldc + 16, 1, 3);
        }
        _tile_loadd(4, a0 + (size_t)s * TILE, 64);
        _tile_loadd(6, b0 + (size_t)s * TILE, 64);
        _tile_loadd(7, b1 + (size_t)s * TILE, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a1 + (size_t)s * TILE, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, st, ls);
    _tile_stored(1, st + 16, ls);
    _tile_stored(2, st1, ls);
    _tile_stored(3, st1 + 16, ls);
}

/* C[0..m, 0..n) (n <= 32) = the finished sums st (row pitch ANR) + beta C
** (beta = 0: C not read) + bias[0..n) when bias is not NULL. stream: rows
** whole and 64-byte aligned, beta 0: non-temporal stores (C is not read,
** so its lines need not be fetched first; see amx_gemm). */
static AMX_TGT void store_c(float *c, int ldc, const float *st, int m, int n, float beta, const float *bias,
                            int stream) {
    __mmask16 k0 = amask(n), k1 = amask(n - 16);
    __m512 vb = _mm512_set1_ps(beta);
    __m512 bias0 = bias ? _mm512_maskz_loadu_ps(k0, bias) : _mm512_setzero_ps();
    __m512 bias1 = bias ? _mm512_maskz_loadu_ps(k1, bias + 16) : _mm512_setzero_ps();
    for (int i = 0; i < m; i++) {
        float *cr = c + (size_t)i * ldc;
        __m512 v0 = _mm512_loadu_ps(st + (size_t)i * ANR), v1 = _mm512_loadu_ps(st + (size_t)i * ANR + 16);
        if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cr), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, cr + 16), v1);
        }
        if (bias) {
            v0 = _mm512_add_ps(v0, bias0);
            v1 = _mm512_add_ps(v1, bias1);
        }
        if (stream) {
            _mm512_stream_ps(cr, v0);
            _mm512_stream_ps(cr + 16, v1);
        } else {
            _mm512_mask_storeu_ps(cr, k0, v0);
            _mm512_mask_storeu_ps(cr + 16, k1, v1);
        }
    }
}

/* G (row pitch ldg) = bf16 of gelu(C), taken from each finished block of C
** (wf_gemm_mbf16_gelu). */
typedef struct {
    uint16_t *g;
    int ldg, gelu_new;
} gelu_out;

/* wf_gemm_mbf16 (with bsum, wf_gemm_mbf16_colsum: tb = 0, B fp32; with gelu,
** wf_gemm_mbf16_gelu: beta 0) on tiles. */
static int amx_gemm(int ta, int tb, int M, int N, int K, src_t A, int lda, src_t B, int ldb,
                    const float *bias, float *bsum, float beta, float *C, int ldc, const gelu_out *gelu) {
    if (bsum && (M <= 0 || K <= 0)) { /* nothing is packed: the sums alone */
        wf_colsum_add(bsum, (const float *)B.p, ldb, K, N);
        bsum = NULL;
    }
    if (M <= 0 || N <= 0) return 1;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = (beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j]) + (bias ? bias[j] : 0.0f);
        return 1;
    }
    int nt = (double)M * N * K < 4e6 ? 1 : omp_get_max_threads();
    if (nt > WF_RUNS_MAX) nt = WF_RUNS_MAX;
    /* K in blocks of equal size (multiples of 32): C is read and written
    ** once per block, and at AMX speed that traffic out of memory costs as
    ** much as the products unless the blocks are long (up to AKC); a C that
    ** stays in cache takes shorter blocks, whose panels stay in L1 */
    int akc = (double)M * N * sizeof(float) > (1 << 20) ? AKC : AKC_SMALLC;
    int nkb = (K + akc - 1) / akc, kstep = ((K + nkb - 1) / nkb + 31) / 32 * 32;
    const int nks_cap = kstep / 32;
    int ncap = N < ANC ? N : ANC;
    int ngb_cap = ((ncap + 15) / 16 + 1) & ~1;
    /* rows of A per thread block: more rows reuse each B chunk more, as long
    ** as the block stays in L2 (512 rows at K = 768: +2-4% on the 111M
    ** step; at K = 1536 the block of 512 rows spilled: 256) */
    int amc = (int)(AMC_BYTES / (sizeof(uint16_t) * (size_t)kstep)) / AMR * AMR;
    amc = amc < AMC_MIN ? AMC_MIN : amc > AMC_MAX ? AMC_MAX : amc;
    /* per thread: its block of A (under amc + AMR rows, wf_gemm_blocks),
    ** then the running sums of one column panel of that block (ukernel) */
    size_t a_bytes = sizeof(uint16_t) * (size_t)((amc + AMR) / 16) * nks_cap * TILE;
    size_t per = a_bytes + sizeof(float) * (size_t)(amc + AMR) * ANR;
    /* C written without being read (beta 0, one K block) and too large to
    ** stay in cache for its next reader: stored non-temporally, so its lines
    ** are not fetched before they are overwritten (a replay of the 111M fc
    ** product on one core: 1,100 -> 1,250 GFLOP/s). Not with the GELU
    ** epilogue, which reads each block of C back at once. */
    int stream = !gelu && beta == 0.0f && nkb == 1 && (double)M * N * sizeof(float) >= AMX_STREAM_BYTES &&
                 (uintptr_t)C % 64 == 0 && ldc % 16 == 0;
    wf_scratch sb, sa;
    uint16_t *bp = wf_scratch_take(&sb, sizeof(uint16_t) * (size_t)ngb_cap * nks_cap * TILE + 64);
    uint8_t *apall = wf_scratch_take(&sa, per * nt + 64);
    WF_ASSERT(bp && apall);
    for (int jc = 0; jc < N; jc += ANC) {
        int nc = N - jc < ANC ? N - jc : ANC;
        int npan = (nc + ANR - 1) / ANR, ngb = 2 * npan;
        for (int pc = 0; pc < K; pc += kstep) {
            int kc = K - pc < kstep ? K - pc : kstep, nks = (kc + 31) / 32;
            float bet = pc == 0 ? beta : 1.0f;
            const float *bia = pc + kc == K ? bias : NULL; /* on the finished sums */
            /* contiguous runs of tasks per thread: each packs its own blocks of A once */
            int n_ic, jsplit;
            wf_gemm_blocks(M, amc, AMR, nt, npan, &n_ic, &jsplit);
            int ntask = n_ic * jsplit;
            wf_runs runs;
            wf_runs_init(&runs, ntask, nt);
#pragma omp parallel num_threads(nt)
            {
                if (tb) {
#pragma omp for schedule(static)
                    for (int g = 0; g < ngb; g++) {
                        int j0 = g * 16, n = nc - j0 < 16 ? nc - j0 : 16;
                        pack_bt_group(bp + (size_t)g * nks * TILE, B, ldb, jc + j0, n, pc, kc, nks);
                    }
                } else { /* each thread its share of the groups, row by row */
                    int me = omp_get_thread_num(), tn = omp_get_num_threads();
                    pack_b_rows(bp, B, ldb, jc, nc, ngb * me / tn, ngb * (me + 1) / tn, pc, kc, nks, bsum);
#pragma omp barrier
                }
                uint16_t *ap = (uint16_t *)(apall + per * (size_t)omp_get_thread_num());
                float *sums = (float *)(apall + per * (size_t)omp_get_thread_num() + a_bytes);
                int packed_ic = -1;
                tiles_on();
                int task;
                while ((task = wf_runs_next(&runs, omp_get_thread_num())) >= 0) {
                    int ic = task / jsplit, js = task % jsplit;
                    int i0 = wf_gemm_row0(M, n_ic, AMR, ic), mc = wf_gemm_row0(M, n_ic, AMR, ic + 1) - i0;
                    WF_ASSERT(mc < amc + AMR); /* what the packing buffers hold (wf_gemm_blocks) */
                    if (packed_ic != ic) {
                        pack_a(ap, ta, A, lda, i0, mc, pc, kc, nks);
                        packed_ic = ic;
                    }
                    int jp0 = (int)((long)npan * js / jsplit), jp1 = (int)((long)npan * (js + 1) / jsplit);
                    for (int jp = jp0; jp < jp1; jp++) {
                        int j0 = jp * ANR, n = nc - j0 < ANR ? nc - j0 : ANR;
                        const uint16_t *b0 = bp + (size_t)(2 * jp) * nks * TILE, *b1 = b0 + (size_t)nks * TILE;
                        float *c = C + (size_t)i0 * ldc + jc + j0;
                        int strm = stream && n == ANR; /* whole rows only */
                        /* the panel's K steps in chunks whose B tiles (ACH x 2 KiB) stay
                        ** in L1 while every 32-row group of the block passes over them */
                        for (int s0 = 0; s0 < nks; s0 += ACH) {
                            int ns = nks - s0 < ACH ? nks - s0 : ACH, last = s0 + ns == nks;
                            for (int ir = 0; ir < mc; ir += AMR) {
                                int m = mc - ir < AMR ? mc - ir : AMR;
                                const uint16_t *a0 = ap + ((size_t)(ir / 16) * nks + s0) * TILE;
                                /* the last chunk fetches C's rows for store_c (not when streamed) */
                                ukernel(ns, a0, a0 + (size_t)nks * TILE, b0 + (size_t)s0 * TILE, b1 + (size_t)s0 * TILE,
                                        sums + (size_t)ir * ANR, s0 > 0, last && !strm ? c + (size_t)ir * ldc : NULL,
                                        ldc, m);
                                if (last) {
                                    store_c(c + (size_t)ir * ldc, ldc, sums + (size_t)ir * ANR, m, n, bet,
                                            bia ? bia + jc + j0 : NULL, strm);
                                    if (gelu && pc + kc == K) /* C's finished block, still in L1 */
                                        wf_gelu_block_bf16(gelu->g + (size_t)(i0 + ir) * gelu->ldg + jc + j0, gelu->ldg,
                                                           c + (size_t)ir * ldc, ldc, m, n, gelu->gelu_new);
                                }
                            }
                        }
                    }
                }
                tiles_off();
                if (stream) _mm_sfence(); /* the non-temporal stores seen before the region ends */
            }
        }
    }
    wf_scratch_give(&sa);
    wf_scratch_give(&sb);
    return 1;
}

int wf_gemm_bf16x_amx(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda, const uint16_t *B,
                      int ldb, float beta, float *C, int ldc) {
    return amx_gemm(ta, tb, M, N, K, (src_t){A, 0}, lda, (src_t){B, 0}, ldb, NULL, NULL, beta, C, ldc, NULL);
}

int wf_gemm_rbf16_amx(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc) {
    return amx_gemm(ta, tb, M, N, K, (src_t){A, 1}, lda, (src_t){B, 1}, ldb, NULL, NULL, beta, C, ldc, NULL);
}

int wf_gemm_mbf16_amx(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float beta,
                      float *C, int ldc) {
    return amx_gemm(ta, tb, M, N, K, (src_t){A.p, A.f32}, A.ld, (src_t){B.p, B.f32}, B.ld, bias, NULL, beta, C, ldc, NULL);
}

int wf_gemm_mbf16_gelu_amx(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float *C,
                           int ldc, uint16_t *G, int ldg, int gelu_new) {
    if (K <= 0) return 0; /* no finished blocks: the caller's two passes */
    gelu_out go = {G, ldg, gelu_new};
    return amx_gemm(ta, tb, M, N, K, (src_t){A.p, A.f32}, A.ld, (src_t){B.p, B.f32}, B.ld, bias, NULL, 0.0f, C, ldc,
                    &go);
}

int wf_gemm_mbf16_colsum_amx(int ta, int M, int N, int K, wf_bop A, const float *B, int ldb, float *bsum, float beta,
                             float *C, int ldc) {
    return amx_gemm(ta, 0, M, N, K, (src_t){A.p, A.f32}, A.ld, (src_t){B, 1}, ldb, NULL, bsum, beta, C, ldc, NULL);
}
#else
void wf_amx_tiles_on(void) {}
void wf_amx_tiles_off(void) {}

int wf_gemm_bf16x_amx(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                      const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
    return 0;
}

int wf_gemm_rbf16_amx(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
    return 0;
}

int wf_gemm_mbf16_amx(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float beta,
                      float *C, int ldc) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)B, (void)bias, (void)beta, (void)C, (void)ldc;
    return 0;
}

int wf_gemm_mbf16_gelu_amx(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float *C,
                           int ldc, uint16_t *G, int ldg, int gelu_new) {
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)B, (void)bias, (void)C, (void)ldc, (void)G, (void)ldg;
    (void)gelu_new;
    return 0;
}

int wf_gemm_mbf16_colsum_amx(int ta, int M, int N, int K, wf_bop A, const float *B, int ldb, float *bsum, float beta,
                             float *C, int ldc) {
    (void)ta, (void)M, (void)N, (void)K, (void)A, (void)B, (void)ldb, (void)bsum, (void)beta, (void)C, (void)ldc;
    return 0;
}
#endif
