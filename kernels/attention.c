/* attention.c — causal multi-head attention, flash style: keys are visited
** in tiles of 64 with an online softmax (running max m, running sum l,
** accumulator rescaled when m grows), so memory is O(D) per row and no
** T x T matrix exists. Two bodies: blocks of 32 query rows (prefill, and
** training) transpose Q once and get the scores of all 32 rows from each
** key row as stored, then accumulate P V four query rows at a time (each
** value row loaded once for four rows: the layer's attention at T = 1024
** went from 17.6 to 9.9 ms on the 2-core Xeon); a few rows (decoding) use one row against a
** transposed key tile. Both are cloned for AVX-512 (WF_CLONES). The naive
** reference beside them materialises one row of scores at a time. */
#include "kernels/kernels_int.h"

#include "base/base.h"

#include <math.h>
#include <string.h>

#define ATT_QB 32        /* query rows per block (prefill): two vectors of 16 rows */
#define ATT_QB_SMALL 8   /* below this many rows (decoding) the row-wise body runs */
#define ATT_KT 64        /* keys per tile */
#define ATT_MAX_D 256    /* head size bound (stack buffers); presets use 64 and 128 */
#define ATT_PF 6         /* key/value rows fetched ahead while a tile is transposed */
#if defined(__GNUC__)
#define WF_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define WF_PREFETCH(p) ((void)(p))
#endif

/* 16 floats as one GCC vector (a zmm register in the AVX-512 clone, SSE
** pieces in the baseline one); aligned(4): loads need no alignment. */
typedef float att_v16 __attribute__((vector_size(64), aligned(4), may_alias));

/* a[0..D) += sum_{j < vis} p[j*ps] * v[j*ldkv + 0..D): 64 columns at a time,
** even and odd keys apart, so eight independent accumulator registers hide
** the FMA latency. */
static inline __attribute__((always_inline)) void
pv_accumulate(float *a, const float *p, int ps, const float *v, int ldkv, int vis, int D) {
    int d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) {
        att_v16 *ap = (att_v16 *)(a + d0);
        att_v16 r0 = ap[0], r1 = ap[1], r2 = ap[2], r3 = ap[3];
        att_v16 z = {0}, u0 = z, u1 = z, u2 = z, u3 = z;
        int j = 0;
        for (; j + 1 < vis; j += 2) {
            const att_v16 *v0 = (const att_v16 *)(v + (size_t)j * ldkv + d0);
            const att_v16 *v1 = (const att_v16 *)(v + (size_t)(j + 1) * ldkv + d0);
            float p0 = p[j * ps], p1 = p[(j + 1) * ps];
            r0 += p0 * v0[0]; r1 += p0 * v0[1]; r2 += p0 * v0[2]; r3 += p0 * v0[3];
            u0 += p1 * v1[0]; u1 += p1 * v1[1]; u2 += p1 * v1[2]; u3 += p1 * v1[3];
        }
        if (j < vis) {
            const att_v16 *v0 = (const att_v16 *)(v + (size_t)j * ldkv + d0);
            float p0 = p[j * ps];
            r0 += p0 * v0[0]; r1 += p0 * v0[1]; r2 += p0 * v0[2]; r3 += p0 * v0[3];
        }
        ap[0] = r0 + u0; ap[1] = r1 + u1; ap[2] = r2 + u2; ap[3] = r3 + u3;
    }
    for (; d0 < D; d0 += 16) {
        int w = D - d0 < 16 ? D - d0 : 16;
        if (w == 16) {
            att_v16 r = *(const att_v16 *)(a + d0);
            for (int j = 0; j < vis; j++) r += p[j * ps] * *(const att_v16 *)(v + (size_t)j * ldkv + d0);
            *(att_v16 *)(a + d0) = r;
        } else {
            for (int j = 0; j < vis; j++)
                for (int dd = 0; dd < w; dd++) a[d0 + dd] += p[j * ps] * v[(size_t)j * ldkv + d0 + dd];
        }
    }
}

/* a_r[0..D) += sum_{j < vis} p[j*ps + r] * v[j*ldkv + 0..D) for the four
** rows r = 0..3 at a + r*lda: each value row loaded once serves four query
** rows (sixteen accumulators for 64 columns), where one row at a time
** loaded a value vector per FMA. Invisible keys of a row have p = 0 (the
** causal mask zeroed them), so the four rows may share the longest vis. */
static inline __attribute__((always_inline)) void
pv_accumulate4(float *a, int lda, const float *p, int ps, const float *v, int ldkv, int vis, int D) {
    int d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) {
        att_v16 *a0 = (att_v16 *)(a + d0), *a1 = (att_v16 *)(a + lda + d0);
        att_v16 *a2 = (att_v16 *)(a + 2 * lda + d0), *a3 = (att_v16 *)(a + 3 * lda + d0);
        att_v16 r00 = a0[0], r01 = a0[1], r02 = a0[2], r03 = a0[3];
        att_v16 r10 = a1[0], r11 = a1[1], r12 = a1[2], r13 = a1[3];
        att_v16 r20 = a2[0], r21 = a2[1], r22 = a2[2], r23 = a2[3];
        att_v16 r30 = a3[0], r31 = a3[1], r32 = a3[2], r33 = a3[3];
        for (int j = 0; j < vis; j++) {
            const att_v16 *vj = (const att_v16 *)(v + (size_t)j * ldkv + d0);
            att_v16 v0 = vj[0], v1 = vj[1], v2 = vj[2], v3 = vj[3];
            const float *pj = p + (size_t)j * ps;
            float p0 = pj[0], p1 = pj[1], p2 = pj[2], p3 = pj[3];
            r00 += p0 * v0; r01 += p0 * v1; r02 += p0 * v2; r03 += p0 * v3;
            r10 += p1 * v0; r11 += p1 * v1; r12 += p1 * v2; r13 += p1 * v3;
            r20 += p2 * v0; r21 += p2 * v1; r22 += p2 * v2; r23 += p2 * v3;
            r30 += p3 * v0; r31 += p3 * v1; r32 += p3 * v2; r33 += p3 * v3;
        }
        a0[0] = r00; a0[1] = r01; a0[2] = r02; a0[3] = r03;
        a1[0] = r10; a1[1] = r11; a1[2] = r12; a1[3] = r13;
        a2[0] = r20; a2[1] = r21; a2[2] = r22; a2[3] = r23;
        a3[0] = r30; a3[1] = r31; a3[2] = r32; a3[3] = r33;
    }
    for (int r = 0; r < 4; r++)
        if (d0 < D) pv_accumulate(a + (size_t)r * lda + d0, p + r, ps, v + d0, ldkv, vis, D - d0);
}

/* Few query rows (decoding): one row at a time against a transposed key
** tile. */
/* nq (<= ATT_QB_SMALL) consecutive query rows of one (batch, head) at absolute
** positions qpos0 .. qpos0+nq-1 against keys 0 .. qpos0+nq-1. Row i of q,
** out at q + i*ldq, out + i*ldo; key/value row j at k + j*ldkv. lse[i]
** (when lse is not NULL) receives the row's log-sum-exp. */
static inline __attribute__((always_inline)) void
attend_body(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, const float *v,
            int ldkv, int qpos0, int nq, int D, float scale) {
    float kt[ATT_MAX_D * ATT_KT]; /* key tile transposed: kt[d*KT + j] */
    float acc[ATT_QB_SMALL][ATT_MAX_D];
    float qs[ATT_QB_SMALL][ATT_MAX_D];
    float m[ATT_QB_SMALL], l[ATT_QB_SMALL];
    float s[ATT_KT], p[ATT_KT];
    for (int i = 0; i < nq; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int d = 0; d < D; d++) {
            acc[i][d] = 0.0f;
            qs[i][d] = q[(size_t)i * ldq + d] * scale;
        }
    }
    int nk = qpos0 + nq;
    for (int j0 = 0; j0 < nk; j0 += ATT_KT) {
        int nj = nk - j0 < ATT_KT ? nk - j0 : ATT_KT;
        /* columns past nj16 are never looked at: the last tile (a decode
        ** step's keys rarely fill it) costs what its keys need */
        const int nj16 = (nj + 15) & ~15;
        for (int j = 0; j < nj; j++) {
            const float *kr = k + (size_t)(j0 + j) * ldkv;
            if (j + ATT_PF < nj) { /* rows are ldkv apart (a cold KV cache): ask ahead */
                const char *pf = (const char *)(kr + (size_t)ATT_PF * ldkv);
                for (int b = 0; b < D * (int)sizeof(float); b += 64) WF_PREFETCH(pf + b);
                pf = (const char *)(v + (size_t)(j0 + j + ATT_PF) * ldkv);
                for (int b = 0; b < D * (int)sizeof(float); b += 64) WF_PREFETCH(pf + b);
            }
            for (int d = 0; d < D; d++) kt[d * ATT_KT + j] = kr[d];
        }
        for (int j = nj; j < nj16; j++)
            for (int d = 0; d < D; d++) kt[d * ATT_KT + j] = 0.0f;
        for (int i = 0; i < nq; i++) {
            int vis = qpos0 + i - j0 + 1; /* keys j0 .. qpos0+i are visible */
            if (vis <= 0) continue;
            if (vis > nj) vis = nj;
            for (int j = 0; j < nj16; j++) s[j] = 0.0f;
            for (int d = 0; d < D; d++) {
                float qd = qs[i][d];
                const float *kd = kt + d * ATT_KT;
                for (int j = 0; j < nj16; j++) s[j] += qd * kd[j];
            }
            /* masked tile max, 16 lanes wide (a serial max would not vectorize) */
            float lane[16];
            for (int ln = 0; ln < 16; ln++) lane[ln] = -INFINITY;
            for (int j0l = 0; j0l < nj16; j0l += 16)
                for (int ln = 0; ln < 16; ln++) {
                    float x = j0l + ln < vis ? s[j0l + ln] : -INFINITY;
                    lane[ln] = x > lane[ln] ? x : lane[ln];
                }
            float tm = lane[0];
            for (int ln = 1; ln < 16; ln++) tm = lane[ln] > tm ? lane[ln] : tm;
            float mn = tm > m[i] ? tm : m[i];
            float corr = expf(m[i] - mn); /* m = -inf on the first tile: 0 */
            float sum = 0.0f;
            for (int j = 0; j < nj16; j++) {
                float e = wf_exp_neg(s[j] - mn);
                p[j] = j < vis ? e : 0.0f;
                sum += p[j];
            }
            l[i] = l[i] * corr + sum;
            float *a = acc[i];
            for (int d = 0; d < D; d++) a[d] *= corr;
            pv_accumulate(a, p, 1, v + (size_t)j0 * ldkv, ldkv, vis, D);
            m[i] = mn;
        }
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        for (int d = 0; d < D; d++) out[(size_t)i * ldo + d] = acc[i][d] * inv;
        if (lse) lse[i] = m[i] + logf(l[i]);
    }
}

/* A block of up to ATT_QB query rows (prefill). Q is transposed once per
** block (qT[d][i]), so each key row, read as stored, gives the scores of
** all 32 rows in two vector FMAs per d: no per-tile transpose. The tile's
** scores sT[j][i], softmax statistics and masks are vectors over rows i. */
static inline __attribute__((always_inline)) void
attend_body_wide(float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                 const float *v, int ldkv, int qpos0, int nq, int D, float scale) {
    float qT[ATT_MAX_D][ATT_QB];
    float acc[ATT_QB][ATT_MAX_D];
    float sT[ATT_KT][ATT_QB];
    float m[ATT_QB], l[ATT_QB], mn[ATT_QB], corr[ATT_QB];
    for (int d = 0; d < D; d++)
        for (int i = 0; i < ATT_QB; i++) qT[d][i] = i < nq ? q[(size_t)i * ldq + d] * scale : 0.0f;
    for (int i = 0; i < ATT_QB; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    for (int i = 0; i < ATT_QB; i++) /* rows past nq too: pv_accumulate4 runs them */
        for (int d = 0; d < D; d++) acc[i][d] = 0.0f;
    int nk = qpos0 + nq;
    for (int j0 = 0; j0 < nk; j0 += ATT_KT) {
        int nj = nk - j0 < ATT_KT ? nk - j0 : ATT_KT;
        /* four keys at a time: eight independent accumulator chains */
        int jk = 0;
        for (; jk + 4 <= nj; jk += 4) {
            const float *k0 = k + (size_t)(j0 + jk) * ldkv, *k1 = k0 + ldkv, *k2 = k1 + ldkv, *k3 = k2 + ldkv;
            att_v16 z = {0}, a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
            for (int d = 0; d < D; d++) {
                att_v16 q0 = *(const att_v16 *)&qT[d][0], q1 = *(const att_v16 *)&qT[d][16];
                a0 += k0[d] * q0; b0 += k0[d] * q1;
                a1 += k1[d] * q0; b1 += k1[d] * q1;
                a2 += k2[d] * q0; b2 += k2[d] * q1;
                a3 += k3[d] * q0; b3 += k3[d] * q1;
            }
            *(att_v16 *)&sT[jk][0] = a0; *(att_v16 *)&sT[jk][16] = b0;
            *(att_v16 *)&sT[jk + 1][0] = a1; *(att_v16 *)&sT[jk + 1][16] = b1;
            *(att_v16 *)&sT[jk + 2][0] = a2; *(att_v16 *)&sT[jk + 2][16] = b2;
            *(att_v16 *)&sT[jk + 3][0] = a3; *(att_v16 *)&sT[jk + 3][16] = b3;
        }
        for (; jk < nj; jk++) {
            const float *kr = k + (size_t)(j0 + jk) * ldkv;
            att_v16 s0 = {0}, s1 = {0};
            for (int d = 0; d < D; d++) {
                const att_v16 *qd = (const att_v16 *)qT[d];
                s0 += kr[d] * qd[0];
                s1 += kr[d] * qd[1];
            }
            *(att_v16 *)&sT[jk][0] = s0;
            *(att_v16 *)&sT[jk][16] = s1;
        }
        /* row i sees key j0+j when j0 + j <= qpos0 + i */
        float tmax[ATT_QB];
        for (int i = 0; i < ATT_QB; i++) tmax[i] = -INFINITY;
        for (int j = 0; j < nj; j++)
            for (int i = 0; i < ATT_QB; i++) {
                float x = j0 + j <= qpos0 + i ? sT[j][i] : -INFINITY;
                tmax[i] = x > tmax[i] ? x : tmax[i];
            }
        for (int i = 0; i < ATT_QB; i++) {
            mn[i] = tmax[i] > m[i] ? tmax[i] : m[i];
            corr[i] = m[i] == -INFINITY ? 0.0f : wf_exp_neg(m[i] - mn[i]);
        }
        float sum[ATT_QB];
        for (int i = 0; i < ATT_QB; i++) sum[i] = 0.0f;
        for (int j = 0; j < nj; j++)
            for (int i = 0; i < ATT_QB; i++) {
                float e = wf_exp_neg(sT[j][i] - mn[i]);
                float pv = j0 + j <= qpos0 + i ? e : 0.0f;
                sT[j][i] = pv;
                sum[i] += pv;
            }
        for (int i = 0; i < ATT_QB; i++) {
            l[i] = l[i] * corr[i] + sum[i];
            m[i] = mn[i];
        }
        for (int i = 0; i < nq; i++)
            if (corr[i] != 1.0f)
                for (int d = 0; d < D; d++) acc[i][d] *= corr[i];
        for (int i = 0; i < nq; i += 4) {
            int vis = qpos0 + i + 3 - j0 + 1; /* the longest of the four rows */
            if (vis > nj) vis = nj;
            if (vis > 0) pv_accumulate4(acc[i], ATT_MAX_D, &sT[0][i], ATT_QB, v + (size_t)j0 * ldkv, ldkv, vis, D);
        }
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        for (int d = 0; d < D; d++) out[(size_t)i * ldo + d] = acc[i][d] * inv;
        if (lse) lse[i] = m[i] + logf(l[i]);
    }
}

/* Picks the body for the block's height. */
static inline __attribute__((always_inline)) void
attend_any(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, const float *v,
           int ldkv, int qpos0, int nq, int D, float scale) {
    if (nq >= ATT_QB_SMALL) {
        attend_body_wide(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, D, scale);
    } else {
        attend_body(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, D, scale);
    }
}

/* The body specialised for the presets' head sizes (a compile-time D lets
** the accumulators live in registers) and for any D. */
WF_CLONES
static void attend_block_64(float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                            const float *v, int ldkv, int qpos0, int nq, float scale) {
    attend_any(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, 64, scale);
}

WF_CLONES
static void attend_block_128(float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                             const float *v, int ldkv, int qpos0, int nq, float scale) {
    attend_any(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, 128, scale);
}

WF_CLONES
static void attend_block_any(float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                             const float *v, int ldkv, int qpos0, int nq, int D, float scale) {
    attend_any(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, D, scale);
}

static void attend_block(float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                         const float *v, int ldkv, int qpos0, int nq, int D, float scale) {
    if (D == 64) attend_block_64(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, scale);
    else if (D == 128) attend_block_128(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, scale);
    else attend_block_any(out, ldo, lse, q, ldq, k, v, ldkv, qpos0, nq, D, scale);
}

void wf_attention_forward_kv(float *out, long o_bs, int ldo, float *lse,
                             const float *q, long q_bs, int ldq,
                             const float *k, const float *v, long kv_bs, int ldkv,
                             int B, int T, int pos0, int C, int H) {
    int D = C / H;
    WF_ASSERT(D * H == C && D <= ATT_MAX_D);
    float scale = 1.0f / sqrtf((float)D);
    int nqb = (T + ATT_QB - 1) / ATT_QB;
    long tasks = (long)B * H * nqb;
    /* multiply-adds, about: fork only when it pays */
    double work = 2.0 * B * H * T * (pos0 + T / 2.0 + 1) * D;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1 && work > 2e5)
    for (long r = 0; r < tasks; r++) {
        /* Late query blocks are the long ones: hand them out first. */
        long rr = tasks - 1 - r;
        int qb = (int)(rr % nqb), h = (int)((rr / nqb) % H), b = (int)(rr / ((long)nqb * H));
        int t0 = qb * ATT_QB, nq = T - t0 < ATT_QB ? T - t0 : ATT_QB;
        attend_block(out + b * o_bs + (size_t)t0 * ldo + h * D, ldo,
                     lse ? lse + ((size_t)b * H + h) * T + t0 : NULL,
                     q + b * q_bs + (size_t)t0 * ldq + h * D, ldq,
                     k + b * kv_bs + h * D, v + b * kv_bs + h * D, ldkv, pos0 + t0, nq, D, scale);
    }
}

void wf_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int H) {
    long bs = (long)T * 3 * C;
    wf_attention_forward_kv(out, (long)T * C, C, lse, qkv, bs, 3 * C, qkv + C, qkv + 2 * C, bs,
                            3 * C, B, T, 0, C, H);
}

void wf_attention_forward_naive(float *out, float *lse, const float *qkv, int B, int T, int C, int H) {
    int D = C / H;
    double scale = 1.0 / sqrt((double)D);
    double *s = wf_alloc(NULL, sizeof(double) * (size_t)T, "attention reference scores", NULL);
    WF_ASSERT(s);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * 3 * C + h * D;
                double m = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    const float *kr = qkv + ((size_t)b * T + j) * 3 * C + C + h * D;
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += (double)q[d] * kr[d];
                    s[j] = dot * scale;
                    if (s[j] > m) m = s[j];
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) sum += exp(s[j] - m);
                float *o = out + ((size_t)b * T + t) * C + h * D;
                for (int d = 0; d < D; d++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++)
                        a += exp(s[j] - m) / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * D + d];
                    o[d] = (float)a;
                }
                if (lse) lse[((size_t)b * H + h) * T + t] = (float)(m + log(sum));
            }
    wf_free(NULL, s);
}
