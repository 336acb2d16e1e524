/* adamw.c — AdamW update (torch.optim.AdamW semantics), clipping norm and the
** LR schedule. See adamw.h for the formulas. */
#include "kernels/adamw.h"

#include "kernels/kernels.h"

#include <math.h>

/* Per-step scalars, computed once in double like torch's Python side and
** rounded to float where torch hands a Python float to a float kernel. */
typedef struct {
    float decay;      /* 1 - lr*wd */
    float omb1, b2, omb2;
    float step_size;  /* lr / (1 - b1^t) */
    float bc2_sqrt;   /* sqrt(1 - b2^t) */
    float eps, gs;
} adam_consts;

static adam_consts consts(const wf_adamw_params *a) {
    adam_consts k;
    double bc1 = 1.0 - pow((double)a->beta1, (double)a->step);
    double bc2 = 1.0 - pow((double)a->beta2, (double)a->step);
    k.decay = (float)(1.0 - (double)a->lr * (double)a->weight_decay);
    k.omb1 = (float)(1.0 - (double)a->beta1);
    k.b2 = a->beta2;
    k.omb2 = (float)(1.0 - (double)a->beta2);
    k.step_size = (float)((double)a->lr / bc1);
    k.bc2_sqrt = (float)sqrt(bc2);
    k.eps = a->eps;
    k.gs = a->grad_scale;
    return k;
}

static inline void adam_one(float *p, float g, float *m, float *v, const adam_consts *k, int decay) {
    float gg = g * k->gs;
    float pp = *p;
    if (decay) pp *= k->decay;
    float mm = *m + k->omb1 * (gg - *m);
    float vv = *v * k->b2 + k->omb2 * (gg * gg);
    float denom = sqrtf(vv) / k->bc2_sqrt + k->eps;
    pp = pp + (-k->step_size) * (mm / denom);
    *p = pp;
    *m = mm;
    *v = vv;
}

void wf_adamw_update_ref(float *p, const float *g, float *m, float *v, size_t n, const wf_adamw_params *a) {
    adam_consts k = consts(a);
    int decay = a->weight_decay != 0.0f;
    for (size_t i = 0; i < n; i++) adam_one(&p[i], g[i], &m[i], &v[i], &k, decay);
}

/* The same steps on 16 (AVX-512) or 8 (AVX2) lanes: separate multiplies and
** adds (no FMA, as the scalar code compiles), and vsqrtps / vdivps, which
** are correctly rounded like sqrtss / divss, so every element has the bits
** of adam_one (test_kernels_bwd compares them bit for bit). The scalar loop, compiled for the baseline, ran sqrtss and two
** divss per element: 0.15 s of the 111M step's 0.22 s optimizer phase on
** the 2-core Xeon, against about 0.11 s of memory traffic. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define ADAM_VEC(W, PS, SUF, TGT)                                                                    \
    static TGT void adam_vec##W(float *restrict p, const float *restrict g, float *restrict m,       \
                                float *restrict v, long n, const adam_consts *k, int decay) {       \
        const PS gs = _mm##SUF##_set1_ps(k->gs), dc = _mm##SUF##_set1_ps(k->decay);                 \
        const PS omb1 = _mm##SUF##_set1_ps(k->omb1), b2 = _mm##SUF##_set1_ps(k->b2);                \
        const PS omb2 = _mm##SUF##_set1_ps(k->omb2), bc2 = _mm##SUF##_set1_ps(k->bc2_sqrt);         \
        const PS eps = _mm##SUF##_set1_ps(k->eps), nss = _mm##SUF##_set1_ps(-k->step_size);         \
        long i = 0;                                                                                   \
        for (; i + W <= n; i += W) {                                                                  \
            PS gg = _mm##SUF##_mul_ps(_mm##SUF##_loadu_ps(g + i), gs);                                \
            PS pp = _mm##SUF##_loadu_ps(p + i), mo = _mm##SUF##_loadu_ps(m + i);                      \
            if (decay) pp = _mm##SUF##_mul_ps(pp, dc);                                                \
            PS mm = _mm##SUF##_add_ps(mo, _mm##SUF##_mul_ps(omb1, _mm##SUF##_sub_ps(gg, mo)));        \
            PS vv = _mm##SUF##_add_ps(_mm##SUF##_mul_ps(_mm##SUF##_loadu_ps(v + i), b2),              \
                                      _mm##SUF##_mul_ps(omb2, _mm##SUF##_mul_ps(gg, gg)));            \
            PS den = _mm##SUF##_add_ps(_mm##SUF##_div_ps(_mm##SUF##_sqrt_ps(vv), bc2), eps);          \
            pp = _mm##SUF##_add_ps(pp, _mm##SUF##_mul_ps(nss, _mm##SUF##_div_ps(mm, den)));           \
            _mm##SUF##_storeu_ps(p + i, pp);                                                          \
            _mm##SUF##_storeu_ps(m + i, mm);                                                          \
            _mm##SUF##_storeu_ps(v + i, vv);                                                          \
        }                                                                                             \
        for (; i < n; i++) adam_one(&p[i], g[i], &m[i], &v[i], k, decay);                             \
    }
/* gnu17 contracts a multiply and an add into an FMA where the target has
** one (the baseline scalar code has none): not here, or the bits differ */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define ADAM_NOFMA
#else
#define ADAM_NOFMA __attribute__((optimize("fp-contract=off")))
#endif
ADAM_VEC(16, __m512, 512, __attribute__((target("avx512f"))) ADAM_NOFMA)
ADAM_VEC(8, __m256, 256, __attribute__((target("avx"))) ADAM_NOFMA)
#undef ADAM_NOFMA
#undef ADAM_VEC
#define HAVE_ADAM_VEC 1
#endif

void wf_adamw_update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                     size_t n, const wf_adamw_params *a) {
    adam_consts k = consts(a);
    int decay = a->weight_decay != 0.0f;
    long nn = (long)n;
#ifdef HAVE_ADAM_VEC
    wf_isa isa = wf_isa_active();
    if (isa >= WF_ISA_AVX2) {
        /* 16 K-element slices, each thread a contiguous run of them */
        const long S = 16384;
        long ns = (nn + S - 1) / S;
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long c = 0; c < ns; c++) {
            long i0 = c * S, len = nn - i0 < S ? nn - i0 : S;
            if (isa >= WF_ISA_AVX512) adam_vec16(p + i0, g + i0, m + i0, v + i0, len, &k, decay);
            else adam_vec8(p + i0, g + i0, m + i0, v + i0, len, &k, decay);
        }
        return;
    }
#endif
#pragma omp parallel for schedule(static) if (nn > 65536)
    for (long i = 0; i < nn; i++) adam_one(&p[i], g[i], &m[i], &v[i], &k, decay);
}

#define SUMSQ_CHUNK 4096

/* Sum of squares of one chunk in eight running sums, element i into sum
** i % 8, the sums added in lane order: a fixed order (the same bits on any
** thread count and on every path below), and eight independent chains
** instead of one. The vector paths hold the eight sums in one zmm (or two
** ymm) of doubles, multiply then add as the scalar code does: the same bits.
** Scalar, the pass was bound by its adds at about a third of memory speed. */
static double sumsq_chunk(const float *x, size_t lo, size_t hi) {
    double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++) s8[k] += (double)x[i + k] * (double)x[i + k];
    for (int k = 0; i < hi; i++, k++) s8[k] += (double)x[i] * (double)x[i];
    double s = 0.0;
    for (int k = 0; k < 8; k++) s += s8[k];
    return s;
}

#ifdef HAVE_ADAM_VEC
#if !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static __attribute__((target("avx512f"))) double sumsq_chunk16(const float *x, size_t lo, size_t hi) {
    __m512d acc = _mm512_setzero_pd();
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        acc = _mm512_add_pd(acc, _mm512_mul_pd(d, d));
    }
    double s8[8];
    _mm512_storeu_pd(s8, acc);
    for (int k = 0; i < hi; i++, k++) s8[k] += (double)x[i] * (double)x[i];
    double s = 0.0;
    for (int k = 0; k < 8; k++) s += s8[k];
    return s;
}

#if !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static __attribute__((target("avx"))) double sumsq_chunk8(const float *x, size_t lo, size_t hi) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        __m256d d0 = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), d1 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(d0, d0));
        a1 = _mm256_add_pd(a1, _mm256_mul_pd(d1, d1));
    }
    double s8[8];
    _mm256_storeu_pd(s8, a0);
    _mm256_storeu_pd(s8 + 4, a1);
    for (int k = 0; i < hi; i++, k++) s8[k] += (double)x[i] * (double)x[i];
    double s = 0.0;
    for (int k = 0; k < 8; k++) s += s8[k];
    return s;
}
#endif

double wf_sumsq(const float *x, size_t n) {
    long nchunks = (long)((n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK);
    double total = 0.0;
    int path = 0;
#ifdef HAVE_ADAM_VEC
    wf_isa isa = wf_isa_active();
    path = isa >= WF_ISA_AVX512 ? 16 : isa >= WF_ISA_AVX2 ? 8 : 0;
#endif
    /* Each chunk's partial is exact-order; the chunks are added in index order
    ** (ordered reduction keeps the result independent of the thread count). */
    for (long c0 = 0; c0 < nchunks; c0 += 256) {
        double part[256];
        long c1 = c0 + 256 < nchunks ? c0 + 256 : nchunks;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long c = c0; c < c1; c++) {
            size_t lo = (size_t)c * SUMSQ_CHUNK, hi = lo + SUMSQ_CHUNK < n ? lo + SUMSQ_CHUNK : n;
#ifdef HAVE_ADAM_VEC
            if (path == 16) part[c - c0] = sumsq_chunk16(x, lo, hi);
            else if (path == 8) part[c - c0] = sumsq_chunk8(x, lo, hi);
            else
#endif
                part[c - c0] = sumsq_chunk(x, lo, hi);
        }
        for (long c = c0; c < c1; c++) total += part[c - c0];
    }
    return total;
}

float wf_clip_coef(double total_sumsq, float max_norm, float *norm_out) {
    float norm = (float)sqrt(total_sumsq);
    if (norm_out) *norm_out = norm;
    float coef = max_norm / (norm + 1e-6f);
    return coef < 1.0f ? coef : 1.0f;
}

double wf_lr_at(wf_sched_kind kind, double peak, double end_frac, long warmup, long total, long s) {
    if (s < warmup) return peak * (double)(s + 1) / (double)warmup;
    if (kind == WF_SCHED_CONSTANT) return peak;
    double end = peak * end_frac;
    long span = total - warmup > 1 ? total - warmup : 1;
    double frac = (double)(s - warmup) / (double)span;
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    if (kind == WF_SCHED_COSINE) return end + (peak - end) * 0.5 * (1.0 + cos(3.14159265358979323846 * frac));
    return peak - (peak - end) * frac;
}
