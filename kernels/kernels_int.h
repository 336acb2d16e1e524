/* kernels_int.h — shared inside kernels/ only: the GEMM micro-kernel
** interface between the blocked driver (gemm.c) and the ISA-specific
** micro-kernels (gemm_avx512.c). */
#ifndef WF_KERNELS_INT_H
#define WF_KERNELS_INT_H

#include "kernels/kernels.h"

#include <string.h>

/* Hot elementwise loops are compiled three times, for AVX-512 (x86-64-v4),
** AVX2 + FMA (x86-64-v3: older servers, laptops) and the baseline, and picked
** at load time by the CPU (GCC target_clones, an ifunc; WAFER_ISA does not
** reach them). The AVX2 copy made `--int8` decoding 1.2-1.3x faster on that
** path (docs/kernels.md). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WF_CLONES
#endif

/* exp(x) for x <= 0, vectorizable without -ffast-math (Cephes expf
** polynomial, round-to-nearest by the 1.5*2^23 trick). Relative error
** < 1e-7 on [-87, 0]; below -87 the result is ~1e-38. */
static inline float wf_exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &e, sizeof sc);
    return y * sc;
}

/* A micro-kernel computes one MR x NR tile from packed panels:
**   a: MR x kc, stored k-major (a[p*MR + i]), zero padded past m rows;
**   b: kc x NR, stored k-major (b[p*NR + j]), zero padded past n columns;
**   C[i,j] (i < m, j < n) = alpha * sum_p a[p,i] b[p,j] + beta * C[i,j];
**   beta = 0: C is not read. Sums over p in order 0..kc-1 (deterministic). */
typedef void (*wf_ukernel_fn)(int kc, const float *a, const float *b, float *c, int ldc,
                              float alpha, float beta, int m, int n);

typedef struct {
    const char *name;
    wf_ukernel_fn ukernel;
    int mr, nr;     /* tile shape */
    int mc, kc, nc; /* cache blocking: A block mc x kc in L2, B panel kc x nc */
    /* Skinny products (M small, decoding): C[M,N] = alpha op(A) op(B) + beta C
    ** with ta = 0; NULL = use the blocked path. */
    void (*skinny)(int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
    int skinny_max; /* skinny takes M <= skinny_max rows */
    /* One panel of the skinny path: C[M, 0..nb) = alpha A @ B[K, 0..nb) + beta C,
    ** nb <= 64, M <= skinny_block_max, ta = tb = 0; the same per-element FMA chain
    ** as skinny (wf_gemm_p64 runs it on 64-column panels). NULL: none. */
    void (*skinny_block)(int M, int nb, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                         float beta, float *C, int ldc);
    int skinny_block_max; /* skinny_block takes M <= skinny_block_max rows */
    /* mr <= p64_rows2_max rows (lda apart) against two full 64-column panels
    ** at once (wf_gemm_p64 decoding one to a few sequences): C0 = alpha A @ B0
    ** + beta C0 and the same for B1, C1 (rows ldc apart); each column the FMA
    ** chain of skinny_block. Two memory streams per thread read faster than
    ** one (docs/kernels.md). NULL: none. */
    void (*p64_rows2)(int mr, int K, float alpha, const float *a, int lda, const float *B0, const float *B1,
                      float beta, float *C0, float *C1, int ldc);
    int p64_rows2_max;
    /* Transposing pack (the packs of op(A) with ta = 0 and op(B) with tb = 1):
    ** dst[p*dstride + r] = src[r*lds + p] for r < rows, 0 for rows <= r <
    ** lanes (lanes <= pack_lanes), p < kc. NULL: the plain C loops. */
    void (*pack_t)(float *dst, int dstride, int lanes, const float *src, int lds, int rows, int kc);
    int pack_lanes; /* the register width pack_t transposes (16 AVX-512, 8 AVX2) */
} wf_gemm_impl;

/* One-row products over n full panels (decoding one sequence): inside an
** OpenMP parallel region, the calling thread's share as schedule(static)
** would give it, [q0, q0 + 2h) walked as pairs (q0 + i, q0 + h + i), two
** memory streams side by side; odd >= 0 is the share's last panel when its
** count is odd (else -1); last: this thread also takes the partial panel
** after the n full ones. wf_gemm_p64, wf_gemm_bf16p, wf_gemm_q8p. */
typedef struct {
    int q0, h, odd, last;
} wf_row2_share;
wf_row2_share wf_row2_share_of(int n);
/* Inside an OpenMP parallel region: the calling thread's share [*j0, *j1)
** of n columns, cut at multiples of q (one-row products from row-major B). */
void wf_col_share(int n, int q, int *j0, int *j1);

/* wf_gemm_bf16x on AMX tiles (gemm_amx.c). Returns 0, computing nothing,
** where the compiler cannot build AMX code; the caller checks
** wf_isa_active() == WF_ISA_AMX first (the OS grant is part of that). */
int wf_gemm_bf16x_amx(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda,
                      const uint16_t *B, int ldb, float beta, float *C, int ldc);
/* wf_gemm_rbf16 on AMX tiles: the fp32 operands rounded to bf16 (as
** wf_bf16_from_f32) while they are packed, so the bits of wf_gemm_bf16x_amx
** on rounded copies. Returns 0 as above. */
int wf_gemm_rbf16_amx(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc);
/* wf_gemm_mbf16 on AMX tiles (each operand bf16 or fp32 rounded while
** packed, bias on the finished sums). Returns 0 as above. */
int wf_gemm_mbf16_amx(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float beta,
                      float *C, int ldc);
/* wf_gemm_mbf16_gelu on AMX tiles (the GELU taken from each finished block
** of C in L1). Returns 0 as above, and for K <= 0. */
int wf_gemm_mbf16_gelu_amx(int ta, int tb, int M, int N, int K, wf_bop A, wf_bop B, const float *bias, float *C,
                           int ldc, uint16_t *G, int ldg, int gelu_new);
/* wf_gemm_mbf16_colsum on AMX tiles (the sums taken while B is packed). Returns 0 as above. */
int wf_gemm_mbf16_colsum_amx(int ta, int M, int N, int K, wf_bop A, const float *B, int ldb, float *bsum, float beta,
                             float *C, int ldc);

/* NULL when the active path (wf_isa_active) is below AVX-512 / AVX2. */
const wf_gemm_impl *wf_gemm_impl_avx512(void);
const wf_gemm_impl *wf_gemm_impl_avx2(void);
/* The fp32 kernels wf_gemm dispatches to on the active path. */
const wf_gemm_impl *wf_gemm_impl_active(void);
/* The blocked driver over any micro-kernel. tb = 2 (internal): B is packed
** in 64-column panels (wf_p64_pack) and ldb is the K of the packed matrix. */
void wf_gemm_blocked(const wf_gemm_impl *im, int ta, int tb, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc);

/* The bits of fp32 u rounded to bf16 (round to nearest even; a NaN stays a
** quiet NaN), widened back: wf_bf16_from_f32's rounding, as an fp32. */
static inline uint32_t wf_bf16_round_bits(uint32_t u) {
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return (u | 0x00400000u) & 0xFFFF0000u;
    return (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
}
/* x rounded to bf16 and widened back (bit copies through memcpy: no aliasing). */
static inline float wf_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = wf_bf16_round_bits(u);
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The row blocks of a blocked GEMM driver whose threads take contiguous
** runs of tasks (wf_runs): n_ic blocks, a multiple of nt where M allows,
** with boundaries at multiples of mr that share the rows evenly among the
** threads (block ic: rows wf_gemm_row0(M, n_ic, mr, ic) up to that of ic +
** 1, fewer than mc + mr of them: packing buffers hold mc + mr rows), each
** cut into jsplit ranges of the npan column panels so that every thread has
** about four tasks. Rows are independent, so the blocks do not change any
** sum. */
static inline void wf_gemm_blocks(int M, int mc, int mr, int nt, int npan, int *n_ic, int *jsplit) {
    int n = nt <= 1 ? (M + mc - 1) / mc : nt * ((M + nt * mc - 1) / (nt * mc));
    int most = (M + mr - 1) / mr; /* at least mr rows each */
    if (n > most) n = most;
    int js = nt <= 1 ? 1 : (4 * nt + n - 1) / n;
    *n_ic = n;
    *jsplit = js > npan ? npan : js;
}

static inline int wf_gemm_row0(int M, int n_ic, int mr, int ic) {
    return ic >= n_ic ? M : (int)((long)M * ic / n_ic / mr * mr);
}

/* Columns per task of the column sums (wf_colsum_add, wf_gelu_backward_bf16):
** each column is summed in row order whatever the strip, so the width only
** sets the threading. */
#define COLSUM_STRIP 256

/* Tasks 0..n-1 of a parallel loop in contiguous runs, one per thread
** (threads.c): each thread takes its own run front to back, then takes from
** the back of the others' runs. A thread's tasks stay neighbours (a GEMM's
** tasks of one block of A rows share that block's packing) while a thread
** slowed by another process still gets help. Results must not depend on
** which thread runs a task. wf_runs_init before the parallel region (nt <=
** WF_RUNS_MAX), wf_runs_next inside it until it returns -1. */
#define WF_RUNS_MAX 256
typedef struct {
    _Alignas(64) _Atomic unsigned long long span[WF_RUNS_MAX][8]; /* [t][0]: next | end << 32; one line each */
    int nt;
} wf_runs;
void wf_runs_init(wf_runs *r, int ntask, int nt);
int wf_runs_next(wf_runs *r, int me);

/* Packing buffers lent for the length of one product (scratch.c): a few
** slots live for the whole process, so products do not page-fault fresh
** memory on every call. wf_scratch_take returns NULL when out of memory;
** every successful take is paired with wf_scratch_give. */
typedef struct {
    void *p;
    int slot; /* -1: a buffer of its own, freed by wf_scratch_give */
} wf_scratch;
void *wf_scratch_take(wf_scratch *s, size_t bytes);
void wf_scratch_give(wf_scratch *s);

/* ---- AVX-512 pieces shared by the kernels ----
** exp(x) on 16 lanes for AVX-512 code (attention, cross-entropy): x = n ln2
** + r, e^r by a degree-6 polynomial, times 2^n by scalef; about 2 ulp; x is
** clamped to [-87, 88] (below -87 a tiny positive value: callers mask what
** must be exactly 0; NaN is not carried: callers check for it). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
static inline __attribute__((target("avx512f,avx512vl,fma"), always_inline)) __m512 wf_exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 16 floats rounded to bf16 as wf_bf16_from_f32 does (to nearest even, a NaN
** kept a quiet NaN, denormals rounded, not flushed as VCVTNE2PS2BF16 would),
** each in the low half of its dword (the high half 0). The one vector
** rounding of the bf16 conversions, the AMX packing and the bf16 attention. */
static inline __attribute__((target("avx512f"), always_inline)) __m512i wf_bf16_rne512(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)),
                                                   _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))),
                                  16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                            _mm512_set1_epi32(0x7F800000));
    return _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
}

/* 32 floats as 32 bf16 (words 0-15 from x0, 16-31 from x1) on one
** VCVTNE2PS2BF16 (AVX512_BF16): round to nearest even, NaN quieted, as
** wf_bf16_rne512, except that the instruction reads fp32 denormals as zero.
** Where wf_bf16_rne512 gives a bf16 denormal this gives +-0, which AMX tiles
** and vdpbf16ps cannot tell apart (they read bf16 denormals as zero); the
** inputs from 0x007F8000 up that round to FLT_MIN, a normal number, are put
** back. So: the bits of wf_bf16_rne512 for any value a bf16 product reads. */
#if __GNUC__ >= 11 || defined(__clang__)
static inline __attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline)) __m512i
wf_bf16x32(__m512 x0, __m512 x1) {
    __m512i w = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
    const __m512i mag = _mm512_set1_epi32(0x7FFFFFFF), lo = _mm512_set1_epi32(0x007F8000), n = _mm512_set1_epi32(0x8000);
    __mmask16 u0 = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(x0), mag), lo), n);
    __mmask16 u1 = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(x1), mag), lo), n);
    if (!(u0 | u1)) return w;
    return _mm512_mask_add_epi16(w, _mm512_kunpackw(u1, u0), w, _mm512_set1_epi16(0x0080));
}
#endif

/* r[0..16) as a 16 x 16 matrix of dwords, transposed in place: unpacks
** inside 128-bit lanes (4 x 4 blocks), then 128-bit lanes across vectors
** (64 shuffles for 256 elements). The packing transposes of the fp32 and
** AMX GEMMs. */
static inline __attribute__((target("avx512f"), always_inline)) void wf_transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + c], lane l: column 4l + c of rows 4g..4g+3 */
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    /* row 4l + c of the result, lane g = u[4g + c] lane l */
    for (int c = 0; c < 4; c++) {
        __m512i x0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), x1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
        __m512i y0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
        __m512i y1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_i32x4(x0, y0, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
        r[8 + c] = _mm512_shuffle_i32x4(x1, y1, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
    }
}
#endif

/* AMX tile configuration for the calling thread (gemm_amx.c): every tile 16
** rows x 64 bytes. Call inside each OpenMP parallel region that runs tiles,
** on every thread, and wf_amx_tiles_off before leaving it. Only where
** wf_isa_active() == WF_ISA_AMX and the compiler builds AMX code (no-ops
** otherwise). */
void wf_amx_tiles_on(void);
void wf_amx_tiles_off(void);

#endif
