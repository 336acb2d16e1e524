/* gemm.c — C = alpha op(A) op(B) + beta C, row-major (contract in kernels.h).
** A BLIS-style blocked driver: B is packed kc x nc (shared, L3), each thread
** packs its own mc x kc block of A (L2), and an mr x nr micro-kernel runs
** over packed panels. The ISA-specific micro-kernel is picked at run time
** from wf_isa_active() (gemm_avx512.c, gemm_avx2.c); a portable C
** micro-kernel is the fallback, and
** wf_gemm_naive is the reference both are tested against. Threads split the
** M and N tiles, never K, so results do not depend on the thread count. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <omp.h>
#include <string.h>

void wf_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++) {
                float a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                float b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * *c);
        }
}

/* Packs rows i0..i0+mc of op(A), columns p0..p0+kc, into micro-panels of mr
** rows, k-major, zero padded. */
static void pack_a(const wf_gemm_impl *im, float *ap, int ta, const float *A, int lda, int i0, int mc, int p0,
                   int kc) {
    const int mr = im->mr;
    for (int ir = 0; ir < mc; ir += mr) {
        int m = mc - ir < mr ? mc - ir : mr;
        float *dst = ap + (size_t)ir * kc;
        if (ta) {
            for (int p = 0; p < kc; p++) {
                const float *src = A + (size_t)(p0 + p) * lda + i0 + ir;
                int i = 0;
                for (; i < m; i++) dst[p * mr + i] = src[i];
                for (; i < mr; i++) dst[p * mr + i] = 0.0f;
            }
        } else if (im->pack_t && mr <= im->pack_lanes) {
            im->pack_t(dst, mr, mr, A + (size_t)(i0 + ir) * lda + p0, lda, m, kc);
        } else {
            for (int i = 0; i < mr; i++) {
                if (i < m) {
                    const float *src = A + (size_t)(i0 + ir + i) * lda + p0;
                    for (int p = 0; p < kc; p++) dst[p * mr + i] = src[p];
                } else {
                    for (int p = 0; p < kc; p++) dst[p * mr + i] = 0.0f;
                }
            }
        }
    }
}

/* Packs micro-panel jr (columns j0+jr .. +nr) of op(B), rows p0..p0+kc.
** tb = 2: B in 64-column panels of ldb rows (wf_p64_pack). */
static void pack_b_panel(const wf_gemm_impl *im, float *dst, int tb, const float *B, int ldb, int j0, int n,
                         int p0, int kc) {
    const int nr = im->nr;
    if (tb == 2) {
        if (j0 % WF_P64 + n <= WF_P64) { /* within one panel: rows are contiguous */
            const float *src = B + ((size_t)(j0 / WF_P64) * ldb + (size_t)p0) * WF_P64 + j0 % WF_P64;
            for (int p = 0; p < kc; p++) {
                float *d = dst + (size_t)p * nr;
                memcpy(d, src + (size_t)p * WF_P64, sizeof(float) * (size_t)n);
                for (int j = n; j < nr; j++) d[j] = 0.0f;
            }
            return;
        }
        for (int p = 0; p < kc; p++) {
            float *d = dst + (size_t)p * nr;
            int j = 0;
            for (; j < n; j++) {
                int col = j0 + j;
                d[j] = B[((size_t)(col / WF_P64) * ldb + (size_t)(p0 + p)) * WF_P64 + col % WF_P64];
            }
            for (; j < nr; j++) d[j] = 0.0f;
        }
    } else if (tb == 1 && im->pack_t) { /* pack_lanes columns of the panel at a time */
        const int w = im->pack_lanes;
        for (int jj = 0; jj < nr; jj += w) {
            int lanes = nr - jj < w ? nr - jj : w, rows = n - jj < 0 ? 0 : n - jj < lanes ? n - jj : lanes;
            im->pack_t(dst + jj, nr, lanes, B + (size_t)(j0 + jj) * ldb + p0, ldb, rows, kc);
        }
    } else if (tb) {
        for (int j = 0; j < nr; j++) {
            if (j < n) {
                const float *src = B + (size_t)(j0 + j) * ldb + p0;
                for (int p = 0; p < kc; p++) dst[p * nr + j] = src[p];
            } else {
                for (int p = 0; p < kc; p++) dst[p * nr + j] = 0.0f;
            }
        }
    } else {
        for (int p = 0; p < kc; p++) {
            const float *src = B + (size_t)(p0 + p) * ldb + j0;
            float *d = dst + (size_t)p * nr;
            if (n == nr) {
                memcpy(d, src, sizeof(float) * (size_t)nr);
            } else {
                int j = 0;
                for (; j < n; j++) d[j] = src[j];
                for (; j < nr; j++) d[j] = 0.0f;
            }
        }
    }
}

static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
}

/* Rounds n packed values to bf16 in place (wf_gemm_rbf16): the packing
** pass already brought them to L1/L2; zero padding stays zero. */
WF_CLONES static void round_packed(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = wf_bf16_round(v[i]);
}

/* The blocked driver; rnd: round both operands to bf16 as they are packed. */
static void gemm_blocked(const wf_gemm_impl *im, int ta, int tb, int M, int N, int K, float alpha,
                         const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                         int rnd) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const int mr = im->mr, nr = im->nr;
    const int KC = im->kc, MC = im->mc, NC = im->nc;
    /* Small products run on one thread: a fork/join costs more than it saves. */
    int nt = (double)M * N * K < 4e6 ? 1 : omp_get_max_threads();
    if (nt > WF_RUNS_MAX) nt = WF_RUNS_MAX;
    int ncap = N < NC ? N : NC;
    int npan_cap = (ncap + nr - 1) / nr;
    wf_scratch sb, sa; /* lent between calls: no page faults per product */
    float *bp = wf_scratch_take(&sb, sizeof(float) * (size_t)KC * npan_cap * nr);
    size_t a_per = (size_t)(MC + 2 * mr) * KC; /* blocks under MC + mr rows (wf_gemm_blocks), rounded up to mr */
    float *apall = wf_scratch_take(&sa, sizeof(float) * (size_t)nt * a_per);
    WF_ASSERT(bp && apall);
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        int npan = (nc + nr - 1) / nr;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float bet = pc == 0 ? beta : 1.0f;
            int n_ic, jsplit;
            wf_gemm_blocks(M, MC, mr, nt, npan, &n_ic, &jsplit);
            int ntask = n_ic * jsplit;
            wf_runs runs; /* contiguous runs of tasks per thread: each packs its own blocks of A once */
            wf_runs_init(&runs, ntask, nt);
#pragma omp parallel num_threads(nt)
            {
#pragma omp for schedule(static)
                for (int jp = 0; jp < npan; jp++) {
                    int j0 = jp * nr, n = nc - j0 < nr ? nc - j0 : nr;
                    pack_b_panel(im, bp + (size_t)jp * kc * nr, tb, B, ldb, jc + j0, n, pc, kc);
                    if (rnd) round_packed(bp + (size_t)jp * kc * nr, (size_t)kc * nr);
                }
                float *ap = apall + (size_t)omp_get_thread_num() * a_per;
                int packed_ic = -1, task;
                while ((task = wf_runs_next(&runs, omp_get_thread_num())) >= 0) {
                    int ic = task / jsplit, js = task % jsplit;
                    int i0 = wf_gemm_row0(M, n_ic, mr, ic), mc = wf_gemm_row0(M, n_ic, mr, ic + 1) - i0;
                    WF_ASSERT(mc < MC + mr); /* what the packing buffers hold (wf_gemm_blocks) */
                    if (packed_ic != ic) {
                        pack_a(im, ap, ta, A, lda, i0, mc, pc, kc);
                        if (rnd) round_packed(ap, (size_t)((mc + mr - 1) / mr * mr) * kc);
                        packed_ic = ic;
                    }
                    int jp0 = (int)((long)npan * js / jsplit), jp1 = (int)((long)npan * (js + 1) / jsplit);
                    for (int jp = jp0; jp < jp1; jp++) {
                        int j0 = jp * nr, n = nc - j0 < nr ? nc - j0 : nr;
                        const float *b = bp + (size_t)jp * kc * nr;
                        for (int ir = 0; ir < mc; ir += mr) {
                            int m = mc - ir < mr ? mc - ir : mr;
                            im->ukernel(kc, ap + (size_t)ir * kc, b,
                                        C + (size_t)(i0 + ir) * ldc + jc + j0, ldc, alpha, bet, m, n);
                        }
                    }
                }
            }
        }
    }
    wf_scratch_give(&sa);
    wf_scratch_give(&sb);
}

void wf_gemm_blocked(const wf_gemm_impl *im, int ta, int tb, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc) {
    gemm_blocked(im, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 0);
}

/* ---- portable micro-kernel (plain C; the vectorizer does what it can) ---- */
#define P_MR 6
#define P_NR 16

static void ukernel_portable(int kc, const float *a, const float *b, float *c, int ldc,
                             float alpha, float beta, int m, int n) {
    float acc[P_MR][P_NR];
    memset(acc, 0, sizeof acc);
    for (int p = 0; p < kc; p++)
        for (int i = 0; i < P_MR; i++) {
            float av = a[p * P_MR + i];
            for (int j = 0; j < P_NR; j++) acc[i][j] += av * b[p * P_NR + j];
        }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float *d = &c[(size_t)i * ldc + j];
            *d = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *d;
        }
}

static const wf_gemm_impl portable_impl = {
    .name = "wafer-portable (6x16 C micro-kernel)",
    .ukernel = ukernel_portable,
    .mr = P_MR, .nr = P_NR, .mc = 96, .kc = 256, .nc = 2048,
    .skinny = NULL,
};

void wf_gemm_portable(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
    wf_gemm_blocked(&portable_impl, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static const wf_gemm_impl *pick(void) {
    const wf_gemm_impl *im = wf_gemm_impl_avx512();
    if (!im) im = wf_gemm_impl_avx2();
    return im ? im : &portable_impl;
}

const char *wf_gemm_kernel_name(void) { return pick()->name; }

const wf_gemm_impl *wf_gemm_impl_active(void) { return pick(); }

/* ---- 64-column panels (kernels.h) ---- */
size_t wf_p64_numel(int K, int N) { return (size_t)K * (size_t)((N + WF_P64 - 1) / WF_P64) * WF_P64; }

void wf_p64_pack(float *dst, int tb, const float *B, int ldb, int K, int N) {
    int np = (N + WF_P64 - 1) / WF_P64;
#pragma omp parallel for schedule(static) if ((long)K * N >= (1L << 20))
    for (int q = 0; q < np; q++) {
        int j0 = q * WF_P64, n = N - j0 < WF_P64 ? N - j0 : WF_P64;
        float *panel = dst + (size_t)q * K * WF_P64;
        for (int p = 0; p < K; p++) {
            float *d = panel + (size_t)p * WF_P64;
            int j = 0;
            if (tb)
                for (; j < n; j++) d[j] = B[(size_t)(j0 + j) * ldb + p];
            else
                for (; j < n; j++) d[j] = B[(size_t)p * ldb + j0 + j];
            for (; j < WF_P64; j++) d[j] = 0.0f;
        }
    }
}

/* Below this many multiply-adds a fork/join costs more than it saves. */
#define P64_PAR_MIN (1L << 17)

wf_row2_share wf_row2_share_of(int n) {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int q0 = (int)((long)n * t / nt), q1 = (int)((long)n * (t + 1) / nt), h = (q1 - q0) / 2;
    wf_row2_share s = {q0, h, (q1 - q0) & 1 ? q1 - 1 : -1, t == nt - 1};
    return s;
}

void wf_col_share(int n, int q, int *j0, int *j1) {
    int t = omp_get_thread_num(), nt = omp_get_num_threads(), nq = (n + q - 1) / q;
    *j0 = (int)((long)nq * t / nt) * q;
    *j1 = (int)((long)nq * (t + 1) / nt) * q;
    if (*j1 > n) *j1 = n; /* the last share ends at n; j0 < n whenever the share is not empty */
}

void wf_gemm_p64(int M, int N, int K, float alpha, const float *A, int lda, const float *Bp, float beta,
                 float *C, int ldc) {
    const wf_gemm_impl *im = pick();
    if (M >= 1 && M <= im->p64_rows2_max && K > 0 && N >= 2 * WF_P64 && im->p64_rows2 && im->skinny_block) {
        /* one to three rows (decoding as many sequences): each thread takes
        ** a contiguous range of panels, as schedule(static) would, and walks
        ** its two halves side by side (two memory streams); same bits per
        ** column */
        const int nfull = N / WF_P64;
#pragma omp parallel if ((long)M * N * K >= P64_PAR_MIN)
        {
            wf_row2_share sh = wf_row2_share_of(nfull);
            for (int i = 0; i < sh.h; i++) {
                int qa = sh.q0 + i, qb = sh.q0 + sh.h + i;
                im->p64_rows2(M, K, alpha, A, lda, Bp + (size_t)qa * K * WF_P64, Bp + (size_t)qb * K * WF_P64, beta,
                              C + (size_t)qa * WF_P64, C + (size_t)qb * WF_P64, ldc);
            }
            if (sh.odd >= 0)
                im->skinny_block(M, WF_P64, K, alpha, A, lda, Bp + (size_t)sh.odd * K * WF_P64, WF_P64, beta,
                                 C + (size_t)sh.odd * WF_P64, ldc);
            if (sh.last && N > nfull * WF_P64)
                im->skinny_block(M, N - nfull * WF_P64, K, alpha, A, lda, Bp + (size_t)nfull * K * WF_P64, WF_P64,
                                 beta, C + (size_t)nfull * WF_P64, ldc);
        }
        return;
    }
    if (M > 0 && M <= im->skinny_block_max && K > 0 && im->skinny_block) {
        int np = (N + WF_P64 - 1) / WF_P64;
#pragma omp parallel for schedule(static) if ((long)M * N * K >= P64_PAR_MIN)
        for (int q = 0; q < np; q++) {
            int j0 = q * WF_P64, nb = N - j0 < WF_P64 ? N - j0 : WF_P64;
            im->skinny_block(M, nb, K, alpha, A, lda, Bp + (size_t)q * K * WF_P64, WF_P64, beta, C + j0, ldc);
        }
        return;
    }
    wf_gemm_blocked(im, 0, 2, M, N, K, alpha, A, lda, Bp, K, beta, C, ldc);
}

/* Products of at most im->skinny_max rows (decoding: one row per sequence
** of a continuous batch) take the unpacked path. Measured with bench_gemm
** (768 x 3072 weight, one core, process CPU clock, shared noisy machine):
** see docs for the crossover. */
void wf_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    const wf_gemm_impl *im = pick();
    if (!ta && M <= im->skinny_max && K > 0 && im->skinny) {
        im->skinny(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    wf_gemm_blocked(im, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* rows x cols of X (leading dimension ld) as a dense copy rounded to bf16. */
static float *rounded_copy(const float *X, int rows, int cols, int ld) {
    float *d = wf_alloc(NULL, sizeof(float) * (size_t)rows * cols, "gemm bf16-rounded operand", NULL);
    if (!d) return NULL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) d[(size_t)r * cols + c] = wf_bf16_round(X[(size_t)r * ld + c]);
    return d;
}

void wf_gemm_rbf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc) {
    if (wf_isa_active() >= WF_ISA_AMX && wf_gemm_rbf16_amx(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;
    const wf_gemm_impl *im = pick();
    if (!ta && M <= im->skinny_max && K > 0 && im->skinny && M > 0 && N > 0) {
        /* few rows: the skinny kernel reads B unpacked, so round copies (small A, and B once) */
        int br = tb ? N : K, bc = tb ? K : N;
        float *Ar = rounded_copy(A, M, K, lda), *Br = rounded_copy(B, br, bc, ldb);
        WF_ASSERT(Ar && Br);
        im->skinny(tb, M, N, K, 1.0f, Ar, K, Br, bc, beta, C, ldc);
        wf_free(NULL, Ar);
        wf_free(NULL, Br);
        return;
    }
    gemm_blocked(im, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc, 1);
}
