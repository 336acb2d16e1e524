/* backward.c — backward kernels of a GPT-2 block and the fused LM-head cross
** entropy (shapes and conventions in backward.h). Each fast path is followed by
** its naive reference. Parallel loops split work so that every output element
** is summed by one thread in a fixed order: results do not depend on threads. */
#include "kernels/backward.h"

#include <immintrin.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/kernels_int.h"

/* ---- LayerNorm ------------------------------------------------------------ */

/* One row of dx: the two row sums as vector partial sums (omp simd: a fixed
** order for a given build, whatever the threads), then the row. */
WF_CLONES
static void ln_bwd_row(float *gx, const float *go, const float *xi, const float *w, float mu, float rs, int C) {
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int c = 0; c < C; c++) {
        float xh = (xi[c] - mu) * rs, g = go[c] * w[c];
        sum_g += g;
        sum_gx += g * xh;
    }
    sum_g /= (float)C;
    sum_gx /= (float)C;
    for (int c = 0; c < C; c++) {
        float xh = (xi[c] - mu) * rs, g = go[c] * w[c];
        gx[c] += rs * (g - sum_g - xh * sum_gx);
    }
}

/* dw, db of columns c0..c1 (at most LN_CB): summed over the rows in order. */
enum { LN_CB = 64 };
WF_CLONES
static void ln_bwd_cols(float *dw, float *db, const float *dout, const float *x, const float *mean,
                        const float *rstd, int N, int C, int c0, int c1) {
    float sw[LN_CB], sb[LN_CB];
    for (int c = c0; c < c1; c++) sw[c - c0] = sb[c - c0] = 0.0f;
    for (int i = 0; i < N; i++) {
        const float *go = dout + (size_t)i * C, *xi = x + (size_t)i * C;
        float mu = mean[i], rs = rstd[i];
        for (int c = c0; c < c1; c++) {
            sw[c - c0] += go[c] * ((xi[c] - mu) * rs);
            sb[c - c0] += go[c];
        }
    }
    for (int c = c0; c < c1; c++) {
        dw[c] += sw[c - c0];
        db[c] += sb[c - c0];
    }
}

void wf_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C) {
    /* dx: rows are independent. */
#pragma omp parallel for schedule(static) if ((long)N * C > 32768)
    for (int i = 0; i < N; i++)
        ln_bwd_row(dx + (size_t)i * C, dout + (size_t)i * C, x + (size_t)i * C, w, mean[i], rstd[i], C);
    /* dw, db: each column summed over rows by one thread, rows in order. */
    int ncb = (C + LN_CB - 1) / LN_CB;
#pragma omp parallel for schedule(static) if ((long)N * C > 32768)
    for (int cb = 0; cb < ncb; cb++) {
        int c0 = cb * LN_CB, c1 = c0 + LN_CB < C ? c0 + LN_CB : C;
        ln_bwd_cols(dw, db, dout, x, mean, rstd, N, C, c0, c1);
    }
}

void wf_layernorm_backward_ref(float *dx, float *dw, float *db, const float *dout, const float *x,
                               const float *w, const float *mean, const float *rstd, int N, int C) {
    for (int i = 0; i < N; i++) {
        const float *go = dout + (size_t)i * C, *xi = x + (size_t)i * C;
        double sg = 0, sgx = 0;
        for (int c = 0; c < C; c++) {
            double xh = ((double)xi[c] - mean[i]) * rstd[i];
            sg += (double)go[c] * w[c];
            sgx += (double)go[c] * w[c] * xh;
        }
        sg /= C;
        sgx /= C;
        for (int c = 0; c < C; c++) {
            double xh = ((double)xi[c] - mean[i]) * rstd[i];
            dx[(size_t)i * C + c] += (float)(rstd[i] * ((double)go[c] * w[c] - sg - xh * sgx));
            dw[c] += (float)(go[c] * xh);
            db[c] += go[c];
        }
    }
}

/* ---- GELU ------------------------------------------------------------------ */

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

/* d gelu / dx with the forward's vectorizable erf and tanh (activation.c:
** Abramowitz & Stegun 7.1.26 on wf_exp_neg; libm's erff/tanhf are scalar
** calls: 5% of a 111M --bf16 step). For the erf form one exponential serves
** both terms: erf's exp(-z^2) with z = x/sqrt(2) is exp(-x^2/2), the pdf's. */
static inline float gelu_grad(float x, int act) {
    if (act == 0) {
        float a = (x < 0 ? -x : x) * INV_SQRT_2;
        float e = wf_exp_neg(-a * a);
        float t = 1.0f / (1.0f + 0.3275911f * a);
        float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
                      0.254829592f) * t;
        float y = 1.0f - poly * e;
        float cdf = 0.5f * (1.0f + (x < 0 ? -y : y));
        return cdf + x * (e * INV_SQRT_2PI);
    }
    float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
    float au = u < 0 ? -u : u;
    float e = wf_exp_neg(-2.0f * au);
    float th = (1.0f - e) / (1.0f + e);
    float t = u < 0 ? -th : th;
    float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

WF_CLONES
static void gelu_bwd_chunk(float *dx, const float *x, const float *dout, size_t n, int act) {
    if (act == 0)
        for (size_t i = 0; i < n; i++) dx[i] = gelu_grad(x[i], 0) * dout[i];
    else
        for (size_t i = 0; i < n; i++) dx[i] = gelu_grad(x[i], 1) * dout[i];
}

void wf_gelu_backward(float *dx, const float *x, const float *dout, size_t n, int act) {
    const size_t chunk = 4096;
    long nch = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (nch > 16)
    for (long c = 0; c < nch; c++) {
        size_t i0 = (size_t)c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        gelu_bwd_chunk(dx + i0, x + i0, dout + i0, m, act);
    }
}

/* One row's strip of wf_gelu_backward_bf16: g in L1, then summed and rounded. */
#define GELU_STRIP_MAX 2048
WF_CLONES
static void gelu_bwd_strip(uint16_t *dx16, float *db, const float *x, const float *dout, int n, int act) {
    float g[GELU_STRIP_MAX];
    if (act == 0)
        for (int i = 0; i < n; i++) g[i] = gelu_grad(x[i], 0) * dout[i];
    else
        for (int i = 0; i < n; i++) g[i] = gelu_grad(x[i], 1) * dout[i];
    if (db)
        for (int i = 0; i < n; i++) db[i] += g[i];
    wf_bf16x_from_f32(dx16, g, (size_t)n);
}

void wf_gelu_backward_bf16(uint16_t *dx16, float *db, const float *x, const float *dout, int N, int F, int act) {
    /* Column strips, rows in order inside a strip: each column sums in
    ** wf_colsum_add's order whatever the strip width, so the strips are as
    ** wide as the threads allow (long runs along a row stream from memory
    ** far better than 1 KiB pieces of many rows). */
    int nt = (long)N * F > 65536 ? omp_get_max_threads() : 1;
    int w = (F + nt - 1) / nt;
    w = (w + 63) / 64 * 64;
    if (w > GELU_STRIP_MAX) w = GELU_STRIP_MAX;
    int ns = (F + w - 1) / w;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int s = 0; s < ns; s++) {
        int j0 = s * w, n = F - j0 < w ? F - j0 : w;
        for (int k = 0; k < N; k++) {
            size_t o = (size_t)k * F + j0;
            gelu_bwd_strip(dx16 + o, db ? db + j0 : NULL, x + o, dout + o, n, act);
        }
    }
}

void wf_gelu_backward_ref(float *dx, const float *x, const float *dout, size_t n, int act) {
    for (size_t i = 0; i < n; i++) {
        double xv = x[i], g;
        if (act == 0) {
            g = 0.5 * (1.0 + erf(xv / sqrt(2.0))) + xv * exp(-0.5 * xv * xv) / sqrt(2.0 * M_PI);
        } else {
            double k = sqrt(2.0 / M_PI), u = k * (xv + 0.044715 * xv * xv * xv), t = tanh(u);
            g = 0.5 * (1.0 + t) + 0.5 * xv * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * xv * xv);
        }
        dx[i] = (float)(g * dout[i]);
    }
}

/* ---- Linear ---------------------------------------------------------------- */

void wf_matmul_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, int N, int Cin, int Cout) {
    if (dx) wf_gemm(0, 1, N, Cin, Cout, 1.0f, dout, Cout, w, Cout, 1.0f, dx, Cin);
    wf_gemm(1, 0, Cin, Cout, N, 1.0f, x, Cin, dout, Cout, 1.0f, dw, Cout);
    if (db) {
        enum { CB = 64 };
        int ncb = (Cout + CB - 1) / CB;
#pragma omp parallel for schedule(static) if ((long)N * Cout > 32768)
        for (int cb = 0; cb < ncb; cb++) {
            int c0 = cb * CB, c1 = c0 + CB < Cout ? c0 + CB : Cout;
            float s[CB];
            for (int c = c0; c < c1; c++) s[c - c0] = 0.0f;
            for (int i = 0; i < N; i++) {
                const float *go = dout + (size_t)i * Cout;
                for (int c = c0; c < c1; c++) s[c - c0] += go[c];
            }
            for (int c = c0; c < c1; c++) db[c] += s[c - c0];
        }
    }
}

void wf_matmul_backward_ref(float *dx, float *dw, float *db, const float *dout, const float *x,
                            const float *w, int N, int Cin, int Cout) {
    for (int i = 0; i < N; i++) {
        const float *go = dout + (size_t)i * Cout, *xi = x + (size_t)i * Cin;
        if (dx)
            for (int k = 0; k < Cin; k++) {
                double s = 0;
                for (int c = 0; c < Cout; c++) s += (double)go[c] * w[(size_t)k * Cout + c];
                dx[(size_t)i * Cin + k] += (float)s;
            }
        for (int k = 0; k < Cin; k++)
            for (int c = 0; c < Cout; c++) dw[(size_t)k * Cout + c] += xi[k] * go[c];
        if (db)
            for (int c = 0; c < Cout; c++) db[c] += go[c];
    }
}

/* ---- Attention ------------------------------------------------------------- */

enum { ATT_BQ = 64, ATT_BK = 64 }; /* query / key tile sizes */

/* Per-thread scratch of the tiled attention backward, in floats. */
static size_t attn_scratch_floats(int T, int hs) {
    return (size_t)T + 6 * (size_t)ATT_BQ * hs + 4 * (size_t)ATT_BQ * ATT_BK + 64;
}

/* One (b, h), flash-attention-2 style: for each query tile, walk the key
** tiles up to the diagonal; recompute P = exp(S*scale - lse) from the saved
** logsumexp, then dV += P^T dO, dS = P (dP - D) scale with dP = dO V^T,
** dK += dS^T Q and dQ += dS K. Every product is written as rows of
** "out[r][:] += a * in[k][:]" over contiguous rows, which vectorises.
** Accumulation order is fixed by (query tile, key tile, row): deterministic. */
static inline __attribute__((always_inline)) void attn_bwd_head_body(
    float *restrict dqkv, const float *restrict dout, const float *restrict qkv,
    const float *restrict out, const float *restrict lse, int T, int C, int H, int h,
    float *restrict scr) {
    int hs = C / H, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    float *Dv = scr, *Qi = Dv + T, *dOi = Qi + ATT_BQ * hs, *dQ = dOi + ATT_BQ * hs;
    float *Kt = dQ + ATT_BQ * hs, *Vt = Kt + ATT_BK * hs, *Kj = Vt + ATT_BK * hs;
    float *S = Kj + ATT_BK * hs, *dP = S + ATT_BQ * ATT_BK;
    for (int t = 0; t < T; t++) {
        float *d = dqkv + (size_t)t * C3 + h * hs;
        memset(d + C, 0, sizeof(float) * (size_t)hs);
        memset(d + 2 * C, 0, sizeof(float) * (size_t)hs);
        const float *o = out + (size_t)t * C + h * hs, *go = dout + (size_t)t * C + h * hs;
        float acc = 0.0f;
        for (int k = 0; k < hs; k++) acc += o[k] * go[k];
        Dv[t] = acc;
    }
    for (int i0 = 0; i0 < T; i0 += ATT_BQ) {
        int nq = T - i0 < ATT_BQ ? T - i0 : ATT_BQ;
        for (int i = 0; i < nq; i++) {
            memcpy(Qi + i * hs, qkv + (size_t)(i0 + i) * C3 + h * hs, sizeof(float) * (size_t)hs);
            memcpy(dOi + i * hs, dout + (size_t)(i0 + i) * C + h * hs, sizeof(float) * (size_t)hs);
        }
        memset(dQ, 0, sizeof(float) * (size_t)nq * hs);
        int jend = i0 + nq; /* keys 0 .. jend-1 */
        for (int j0 = 0; j0 < jend; j0 += ATT_BK) {
            int nk = jend - j0 < ATT_BK ? jend - j0 : ATT_BK;
            for (int j = 0; j < nk; j++) {
                const float *kr = qkv + (size_t)(j0 + j) * C3 + C + h * hs, *vr = kr + C;
                memcpy(Kj + j * hs, kr, sizeof(float) * (size_t)hs);
                for (int k = 0; k < hs; k++) Kt[k * ATT_BK + j] = kr[k], Vt[k * ATT_BK + j] = vr[k];
            }
            /* S = Qi Kj^T, dP = dOi Vj^T */
            for (int i = 0; i < nq; i++) {
                float *sr = S + i * ATT_BK, *pr = dP + i * ATT_BK;
                for (int j = 0; j < ATT_BK; j++) sr[j] = 0.0f, pr[j] = 0.0f;
                for (int k = 0; k < hs; k++) {
                    float q = Qi[i * hs + k], g = dOi[i * hs + k];
                    const float *kt = Kt + k * ATT_BK, *vt = Vt + k * ATT_BK;
                    for (int j = 0; j < ATT_BK; j++) sr[j] += q * kt[j], pr[j] += g * vt[j];
                }
                float l = lse[i0 + i], D = Dv[i0 + i];
                int jmax = i0 + i - j0; /* causal: keys j <= jmax */
                for (int j = 0; j < nk; j++) {
                    float p = j <= jmax ? expf(sr[j] * scale - l) : 0.0f;
                    sr[j] = p;                        /* S now holds P */
                    pr[j] = p * (pr[j] - D) * scale;  /* dP now holds dS */
                }
                for (int j = nk; j < ATT_BK; j++) sr[j] = 0.0f, pr[j] = 0.0f;
            }
            /* dV_j += P^T dO, dK_j += dS^T Q (rows j of this head in dqkv) */
            for (int j = 0; j < nk; j++) {
                float *dk = dqkv + (size_t)(j0 + j) * C3 + C + h * hs, *dv = dk + C;
                for (int i = 0; i < nq; i++) {
                    float p = S[i * ATT_BK + j], ds = dP[i * ATT_BK + j];
                    const float *q = Qi + i * hs, *g = dOi + i * hs;
                    for (int k = 0; k < hs; k++) dv[k] += p * g[k], dk[k] += ds * q[k];
                }
            }
            /* dQ += dS K_j */
            for (int i = 0; i < nq; i++) {
                float *dq = dQ + i * hs;
                for (int j = 0; j < nk; j++) {
                    float ds = dP[i * ATT_BK + j];
                    const float *kr = Kj + j * hs;
                    for (int k = 0; k < hs; k++) dq[k] += ds * kr[k];
                }
            }
        }
        for (int i = 0; i < nq; i++)
            memcpy(dqkv + (size_t)(i0 + i) * C3 + h * hs, dQ + i * hs, sizeof(float) * (size_t)hs);
    }
}

#define TGT512 __attribute__((target("avx512f,avx512vl,fma")))

/* exp(x) for 16 floats: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-6
** polynomial (Taylor coefficients; max relative error about 2 ulp on this
** range), times 2^n by scalef. Inputs below -87 give 0 or a denormal-free
** tiny value; the callers mask out what must be exactly 0. */

/* C[m][0..63] (+)= sum_k A[r][k] * B[k][0..63] for m <= 4 rows: 16 zmm
** accumulators, one B row loaded per k and reused across the rows. */
static inline __attribute__((always_inline)) TGT512 void mk_rows64(int m, int K, const float *A, int lda,
                                                                     const float *B, int ldb, float *Cm,
                                                                     int ldc, int acc) {
    __m512 c[4][4];
    for (int r = 0; r < 4; r++)
        for (int v = 0; v < 4; v++)
            c[r][v] = (r < m && acc) ? _mm512_loadu_ps(Cm + (size_t)r * ldc + 16 * v) : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * ldb;
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32),
               b3 = _mm512_loadu_ps(b + 48);
        for (int r = 0; r < 4; r++) {
            if (r >= m) break;
            __m512 a = _mm512_set1_ps(A[(size_t)r * lda + k]);
            c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
            c[r][2] = _mm512_fmadd_ps(a, b2, c[r][2]);
            c[r][3] = _mm512_fmadd_ps(a, b3, c[r][3]);
        }
    }
    for (int r = 0; r < 4; r++)
        if (r < m)
            for (int v = 0; v < 4; v++) _mm512_storeu_ps(Cm + (size_t)r * ldc + 16 * v, c[r][v]);
}

/* C[M][0..64*nb) (+)= A[M][K] @ B[K][0..64*nb), rows in blocks of 4. */
static TGT512 void mk_gemm64(int M, int nb, int K, const float *A, int lda, const float *B, int ldb, float *Cm,
                             int ldc, int acc) {
    for (int cb = 0; cb < nb; cb++) {
        int r = 0;
        for (; r + 4 <= M; r += 4) mk_rows64(4, K, A + (size_t)r * lda, lda, B + 64 * cb, ldb, Cm + (size_t)r * ldc + 64 * cb, ldc, acc);
        switch (M - r) {
        case 3: mk_rows64(3, K, A + (size_t)r * lda, lda, B + 64 * cb, ldb, Cm + (size_t)r * ldc + 64 * cb, ldc, acc); break;
        case 2: mk_rows64(2, K, A + (size_t)r * lda, lda, B + 64 * cb, ldb, Cm + (size_t)r * ldc + 64 * cb, ldc, acc); break;
        case 1: mk_rows64(1, K, A + (size_t)r * lda, lda, B + 64 * cb, ldb, Cm + (size_t)r * ldc + 64 * cb, ldc, acc); break;
        default: break;
        }
    }
}

/* The AVX-512 path for head sizes that are multiples of 64 (64 for 111M,
** 128 for the larger presets). Works on transposed score tiles so that no
** key or value tile is ever copied: with Qt = Q_i^T and dOt = dO_i^T packed
** once per query tile,
**   S^T  = K_j Qt,  dP^T = V_j dOt        (A rows read in place from qkv)
**   P^T  = exp(S^T*scale - lse), dS^T = P^T (dP^T - D) scale
**   dV_j += P^T dO_i, dK_j += dS^T Q_i     (B rows read in place)
**   dQ_i += dS K_j                          (dS = one 64x64 transpose)
** Each product is mk_gemm64; accumulation order is fixed by the shapes. */
static TGT512 void attn_bwd_head_avx512_64(float *dqkv, const float *dout, const float *qkv, const float *out,
                                           const float *lse, int T, int C, int H, int h, float *scr) {
    int hs = C / H, C3 = 3 * C, nb = hs / 64;
    float scale = 1.0f / sqrtf((float)hs);
    float *Dv = scr, *Qt = Dv + T, *dOt = Qt + ATT_BQ * hs, *dQ = dOt + ATT_BQ * hs;
    float *St = dQ + ATT_BQ * hs, *dPt = St + ATT_BQ * ATT_BK, *dS = dPt + ATT_BQ * ATT_BK;
    float *lt = dS + ATT_BQ * ATT_BK, *Dt = lt + ATT_BQ;
    const float *Qh = qkv + h * hs, *Kh = qkv + C + h * hs, *Vh = qkv + 2 * C + h * hs;
    const float *dOh = dout + h * hs;
    float *dQh = dqkv + h * hs, *dKh = dqkv + C + h * hs, *dVh = dqkv + 2 * C + h * hs;
    for (int t = 0; t < T; t++) {
        memset(dKh + (size_t)t * C3, 0, sizeof(float) * (size_t)hs);
        memset(dVh + (size_t)t * C3, 0, sizeof(float) * (size_t)hs);
        const float *o = out + (size_t)t * C + h * hs, *go = dOh + (size_t)t * C;
        float acc = 0.0f;
        for (int k = 0; k < hs; k++) acc += o[k] * go[k];
        Dv[t] = acc;
    }
    for (int i0 = 0; i0 < T; i0 += ATT_BQ) {
        int nq = T - i0 < ATT_BQ ? T - i0 : ATT_BQ;
        for (int i = 0; i < ATT_BQ; i++) {
            int in = i < nq;
            const float *q = Qh + (size_t)(i0 + i) * C3, *g = dOh + (size_t)(i0 + i) * C;
            for (int k = 0; k < hs; k++) {
                Qt[k * ATT_BQ + i] = in ? q[k] : 0.0f;
                dOt[k * ATT_BQ + i] = in ? g[k] : 0.0f;
            }
            lt[i] = in ? lse[i0 + i] : 0.0f;
            Dt[i] = in ? Dv[i0 + i] : 0.0f;
        }
        memset(dQ, 0, sizeof(float) * (size_t)nq * hs);
        int jend = i0 + nq;
        for (int j0 = 0; j0 < jend; j0 += ATT_BK) {
            int nk = jend - j0 < ATT_BK ? jend - j0 : ATT_BK;
            mk_gemm64(nk, 1, hs, Kh + (size_t)j0 * C3, C3, Qt, ATT_BQ, St, ATT_BQ, 0);   /* S^T  */
            mk_gemm64(nk, 1, hs, Vh + (size_t)j0 * C3, C3, dOt, ATT_BQ, dPt, ATT_BQ, 0); /* dP^T */
            const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            const __m512 vscale = _mm512_set1_ps(scale);
            for (int j = 0; j < nk; j++) {
                float *sr = St + j * ATT_BQ, *pr = dPt + j * ATT_BQ;
                __m512i vmin = _mm512_set1_epi32(j0 + j - i0), vnq = _mm512_set1_epi32(nq);
                for (int v = 0; v < ATT_BQ; v += 16) {
                    /* causal mask: queries i >= j0+j-i0 see key j; i < nq are real */
                    __m512i idx = _mm512_add_epi32(iota, _mm512_set1_epi32(v));
                    __mmask16 live = _mm512_cmpge_epi32_mask(idx, vmin) & _mm512_cmplt_epi32_mask(idx, vnq);
                    __m512 x = _mm512_fmsub_ps(_mm512_loadu_ps(sr + v), vscale, _mm512_loadu_ps(lt + v));
                    __m512 p = _mm512_maskz_mov_ps(live, wf_exp512(x));
                    __m512 ds = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(pr + v), _mm512_loadu_ps(Dt + v))), vscale);
                    _mm512_storeu_ps(sr + v, p);
                    _mm512_storeu_ps(pr + v, ds);
                }
            }
            for (int i = 0; i < nq; i++)
                for (int j = 0; j < nk; j++) dS[i * ATT_BK + j] = dPt[j * ATT_BQ + i];
            mk_gemm64(nk, nb, nq, St, ATT_BQ, dOh + (size_t)i0 * C, C, dVh + (size_t)j0 * C3, C3, 1);
            mk_gemm64(nk, nb, nq, dPt, ATT_BQ, Qh + (size_t)i0 * C3, C3, dKh + (size_t)j0 * C3, C3, 1);
            mk_gemm64(nq, nb, nk, dS, ATT_BK, Kh + (size_t)j0 * C3, C3, dQ, hs, 1);
        }
        for (int i = 0; i < nq; i++)
            memcpy(dQh + (size_t)(i0 + i) * C3, dQ + i * hs, sizeof(float) * (size_t)hs);
    }
}

TGT512 static void attn_bwd_head_avx512(
    float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse, int T, int C,
    int H, int h, float *scr) {
    if ((C / H) % 64 == 0) attn_bwd_head_avx512_64(dqkv, dout, qkv, out, lse, T, C, H, h, scr);
    else attn_bwd_head_body(dqkv, dout, qkv, out, lse, T, C, H, h, scr);
}

static void attn_bwd_head_portable(float *dqkv, const float *dout, const float *qkv, const float *out,
                                   const float *lse, int T, int C, int H, int h, float *scr) {
    attn_bwd_head_body(dqkv, dout, qkv, out, lse, T, C, H, h, scr);
}

size_t wf_attention_backward_scratch(int T, int hs, int nthreads) {
    return attn_scratch_floats(T, hs) * (size_t)(nthreads > 0 ? nthreads : 1);
}

void wf_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                           const float *lse, int B, int T, int C, int H, float *scratch, int nthreads) {
    int hs = C / H;
    int avx512 = wf_isa_active() >= WF_ISA_AVX512;
    size_t per = attn_scratch_floats(T, hs);
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : 1)
    {
        float *scr = scratch + per * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            float *d = dqkv + (size_t)b * T * 3 * C;
            const float *go = dout + (size_t)b * T * C, *q = qkv + (size_t)b * T * 3 * C, *o = out + (size_t)b * T * C;
            const float *l = lse + ((size_t)b * H + h) * T;
            if (avx512) attn_bwd_head_avx512(d, go, q, o, l, T, C, H, h, scr);
            else attn_bwd_head_portable(d, go, q, o, l, T, C, H, h, scr);
        }
    }
}

void wf_attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T, int C, int H) {
    int hs = C / H;
    double scale = 1.0 / sqrt((double)hs);
    double *s = wf_alloc(NULL, sizeof(double) * (size_t)T, "attn ref", NULL);
    WF_ASSERT(s != NULL);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *qi = qkv + ((size_t)b * T + i) * 3 * C + h * hs;
                double mx = -INFINITY;
                for (int j = 0; j <= i; j++) {
                    const float *kj = qkv + ((size_t)b * T + j) * 3 * C + C + h * hs;
                    double d = 0;
                    for (int k = 0; k < hs; k++) d += (double)qi[k] * kj[k];
                    s[j] = d * scale;
                    if (s[j] > mx) mx = s[j];
                }
                double z = 0;
                for (int j = 0; j <= i; j++) z += exp(s[j] - mx);
                double l = mx + log(z);
                lse[((size_t)b * H + h) * T + i] = (float)l;
                float *oi = out + ((size_t)b * T + i) * C + h * hs;
                for (int k = 0; k < hs; k++) {
                    double acc = 0;
                    for (int j = 0; j <= i; j++)
                        acc += exp(s[j] - l) * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * hs + k];
                    oi[k] = (float)acc;
                }
            }
    wf_free(NULL, s);
}

void wf_attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                               const float *lse, int B, int T, int C, int H) {
    int hs = C / H;
    double scale = 1.0 / sqrt((double)hs);
    double *P = wf_alloc(NULL, sizeof(double) * (size_t)T * T * 2, "attn ref P", NULL);
    WF_ASSERT(P != NULL);
    double *dS = P + (size_t)T * T;
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * 3 * C);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
#define Q(t, k) qkv[((size_t)b * T + (t)) * 3 * C + h * hs + (k)]
#define K(t, k) qkv[((size_t)b * T + (t)) * 3 * C + C + h * hs + (k)]
#define V(t, k) qkv[((size_t)b * T + (t)) * 3 * C + 2 * C + h * hs + (k)]
#define GO(t, k) dout[((size_t)b * T + (t)) * C + h * hs + (k)]
#define DQ(t, k) dqkv[((size_t)b * T + (t)) * 3 * C + h * hs + (k)]
            for (int i = 0; i < T; i++)
                for (int j = 0; j < T; j++) {
                    double d = 0;
                    if (j <= i) {
                        for (int k = 0; k < hs; k++) d += (double)Q(i, k) * K(j, k);
                        P[(size_t)i * T + j] = exp(d * scale - lse[((size_t)b * H + h) * T + i]);
                    } else {
                        P[(size_t)i * T + j] = 0;
                    }
                }
            for (int i = 0; i < T; i++) {
                double D = 0;
                for (int k = 0; k < hs; k++) D += (double)GO(i, k) * out[((size_t)b * T + i) * C + h * hs + k];
                for (int j = 0; j < T; j++) {
                    double dp = 0;
                    for (int k = 0; k < hs; k++) dp += (double)GO(i, k) * V(j, k);
                    dS[(size_t)i * T + j] = P[(size_t)i * T + j] * (dp - D) * scale;
                }
            }
            for (int t = 0; t < T; t++)
                for (int k = 0; k < hs; k++) {
                    double dq = 0, dk = 0, dv = 0;
                    for (int u = 0; u < T; u++) {
                        dq += dS[(size_t)t * T + u] * K(u, k);
                        dk += dS[(size_t)u * T + t] * Q(u, k);
                        dv += P[(size_t)u * T + t] * GO(u, k);
                    }
                    DQ(t, k) = (float)dq;
                    DQ(t, C + k) = (float)dk;
                    DQ(t, 2 * C + k) = (float)dv;
                }
#undef Q
#undef K
#undef V
#undef GO
#undef DQ
        }
    wf_free(NULL, P);
}

/* ---- Cross-entropy --------------------------------------------------------- */

/* One row: loss = log sum exp(l - max) + max - l[tg]; with grad, the row
** becomes dscale * (softmax - onehot). The sum runs in sixteen double lanes
** (element v into lane v % 16, the lanes added in order: a fixed order, the
** same bits on any thread count). The AVX-512 body uses exp512 (libm's
** expf is a scalar call: 3% of a --bf16 step); the portable one expf. */
/* grad: 0 none, 1 fp32 in place, 2 rounded to bf16 into the row's first V
** uint16 (wf_crossentropy_rows_bf16). */
static float ce_row(float *lg, int V, int tg, float dscale, int grad) {
    float mx = -INFINITY, ltg = lg[tg];
    for (int v = 0; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
    double z16[16] = {0};
    for (int v = 0; v < V; v++) {
        float ev = expf(lg[v] - mx);
        z16[v % 16] += (double)ev;
        if (grad) lg[v] = ev;
    }
    double z = 0.0;
    for (int k = 0; k < 16; k++) z += z16[k];
    if (grad) {
        float kk = (float)((double)dscale / z);
        for (int v = 0; v < V; v++) lg[v] *= kk;
        lg[tg] -= dscale;
        if (grad == 2) /* in order: element v lands on bytes of floats before v, already read */
            for (int v = 0; v < V; v++) wf_bf16_from_f32((uint16_t *)lg + v, lg + v, 1);
    }
    return mx + (float)log(z) - ltg;
}

static __attribute__((target("avx512f,avx512vl,avx512bw,fma"))) float ce_row512(float *lg, int V, int tg, float dscale, int grad) {
    float ltg = lg[tg];
    __m512 vm = _mm512_set1_ps(-INFINITY);
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF);
    __mmask16 bad = 0; /* NaN or Inf: max and exp512 would hide it */
    int v = 0;
    for (; v < V; v += 16) {
        __mmask16 k = V - v >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (V - v)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(k, lg + v);
        bad |= _mm512_mask_cmp_ps_mask(k, _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), absm)),
                                       big, _CMP_NLE_UQ);
        vm = _mm512_mask_max_ps(vm, k, vm, x);
    }
    if (bad) return ce_row(lg, V, tg, dscale, grad); /* the scalar row carries NaN into the loss */
    float mx = _mm512_reduce_max_ps(vm);
    __m512 vmx = _mm512_set1_ps(mx);
    __m512d z0 = _mm512_setzero_pd(), z1 = _mm512_setzero_pd();
    for (v = 0; v < V; v += 16) {
        __mmask16 k = V - v >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (V - v)) - 1);
        __m512 ev = _mm512_maskz_mov_ps(k, wf_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, lg + v), vmx)));
        z0 = _mm512_add_pd(z0, _mm512_cvtps_pd(_mm512_castps512_ps256(ev)));
        z1 = _mm512_add_pd(z1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ev), 1))));
        if (grad) _mm512_mask_storeu_ps(lg + v, k, ev);
    }
    double z16[16];
    _mm512_storeu_pd(z16, z0);
    _mm512_storeu_pd(z16 + 8, z1);
    double z = 0.0;
    for (int i = 0; i < 16; i++) z += z16[i];
    if (grad == 2) { /* the same floats as below, rounded as the AMX packing rounds them */
        float k1 = (float)((double)dscale / z);
        __m512 kk = _mm512_set1_ps(k1), vd = _mm512_set1_ps(dscale);
        uint16_t *o = (uint16_t *)lg; /* chunk v is read (bytes 4v..) before bytes 2v.. are written */
        for (v = 0; v < V; v += 16) {
            __mmask16 k = V - v >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (V - v)) - 1);
            __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, lg + v), kk);
            if (tg >= v && tg < v + 16) p = _mm512_mask_sub_ps(p, (__mmask16)(1u << (tg - v)), p, vd);
            _mm256_mask_storeu_epi16(o + v, k, _mm512_cvtepi32_epi16(wf_bf16_rne512(p)));
        }
    } else if (grad) {
        float k1 = (float)((double)dscale / z);
        __m512 kk = _mm512_set1_ps(k1);
        for (v = 0; v + 16 <= V; v += 16) _mm512_storeu_ps(lg + v, _mm512_mul_ps(_mm512_loadu_ps(lg + v), kk));
        for (; v < V; v++) lg[v] *= k1;
        lg[tg] -= dscale;
    }
    return mx + (float)log(z) - ltg;
}

/* grad as in ce_row */
static void ce_rows(float *lgs, int R, int V, const int32_t *targets, float *losses, float dscale, int grad) {
    int avx512 = wf_isa_active() >= WF_ISA_AVX512;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < R; i++)
        losses[i] = avx512 ? ce_row512(lgs + (size_t)i * V, V, targets[i], dscale, grad)
                           : ce_row(lgs + (size_t)i * V, V, targets[i], dscale, grad);
}

void wf_crossentropy_rows_bf16(float *lgs, int R, int V, const int32_t *targets, float *losses, float dscale) {
    ce_rows(lgs, R, V, targets, losses, dscale, 2);
}

void wf_crossentropy_rows(float *lgs, int R, int V, const int32_t *targets, float *losses, float dscale, int grad) {
    ce_rows(lgs, R, V, targets, losses, dscale, grad != 0);
}

void wf_crossentropy_fused(float *dh, float *dwte, float *losses, const float *h, const float *wte,
                           const int32_t *targets, int N, int C, int V, float dscale,
                           float *scratch, int rows) {
    for (int r0 = 0; r0 < N; r0 += rows) {
        int R = r0 + rows < N ? rows : N - r0;
        const float *hc = h + (size_t)r0 * C;
        wf_gemm(0, 1, R, V, C, 1.0f, hc, C, wte, C, 0.0f, scratch, V);
        wf_crossentropy_rows(scratch, R, V, targets + r0, losses + r0, dscale, dh != NULL);
        if (dh) {
            wf_gemm(0, 0, R, C, V, 1.0f, scratch, V, wte, C, 0.0f, dh + (size_t)r0 * C, C);
            wf_gemm(1, 0, V, C, R, 1.0f, scratch, V, hc, C, 1.0f, dwte, C);
        }
    }
}

void wf_crossentropy_fused_ref(float *dh, float *dwte, float *losses, const float *h,
                               const float *wte, const int32_t *targets, int N, int C, int V,
                               float dscale) {
    double *lg = wf_alloc(NULL, sizeof(double) * (size_t)V, "ce ref", NULL);
    WF_ASSERT(lg != NULL);
    for (int i = 0; i < N; i++) {
        const float *hi = h + (size_t)i * C;
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)hi[c] * wte[(size_t)v * C + c];
            lg[v] = s;
            if (s > mx) mx = s;
        }
        double z = 0;
        for (int v = 0; v < V; v++) z += exp(lg[v] - mx);
        double lz = mx + log(z);
        losses[i] = (float)(lz - lg[targets[i]]);
        if (!dh) continue;
        for (int c = 0; c < C; c++) dh[(size_t)i * C + c] = 0;
        for (int v = 0; v < V; v++) {
            double g = (exp(lg[v] - lz) - (v == targets[i])) * dscale;
            for (int c = 0; c < C; c++) {
                dh[(size_t)i * C + c] += (float)(g * wte[(size_t)v * C + c]);
                dwte[(size_t)v * C + c] += (float)(g * hi[c]);
            }
        }
    }
    wf_free(NULL, lg);
}
