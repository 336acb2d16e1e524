/* adamw.c — AdamW update (torch.optim.AdamW semantics), clipping norm and the
** LR schedule. See adamw.h for the formulas. */
#include "kernels/adamw.h"

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

void wf_adamw_update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                     size_t n, const wf_adamw_params *a) {
    adam_consts k = consts(a);
    int decay = a->weight_decay != 0.0f;
    long nn = (long)n;
#pragma omp parallel for schedule(static) if (nn > 65536)
    for (long i = 0; i < nn; i++) adam_one(&p[i], g[i], &m[i], &v[i], &k, decay);
}

#define SUMSQ_CHUNK 4096

double wf_sumsq(const float *x, size_t n) {
    long nchunks = (long)((n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK);
    double total = 0.0;
    /* Each chunk's partial is exact-order; the chunks are added in index order
    ** (ordered reduction keeps the result independent of the thread count). */
    for (long c0 = 0; c0 < nchunks; c0 += 256) {
        double part[256];
        long c1 = c0 + 256 < nchunks ? c0 + 256 : nchunks;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long c = c0; c < c1; c++) {
            size_t lo = (size_t)c * SUMSQ_CHUNK, hi = lo + SUMSQ_CHUNK < n ? lo + SUMSQ_CHUNK : n;
            /* eight running sums, element i into sum i % 8, added in lane order:
            ** a fixed order (the same bits on any thread count), and eight
            ** independent chains instead of one (one double add in flight
            ** bounded this pass at a quarter of memory speed) */
            double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            size_t i = lo;
            for (; i + 8 <= hi; i += 8)
                for (int k = 0; k < 8; k++) s8[k] += (double)x[i + k] * (double)x[i + k];
            for (int k = 0; i < hi; i++, k++) s8[k] += (double)x[i] * (double)x[i];
            double s = 0.0;
            for (int k = 0; k < 8; k++) s += s8[k];
            part[c - c0] = s;
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
