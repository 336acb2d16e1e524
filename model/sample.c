/* sample.c — temperature / top-k / top-p sampling (sample.h). Candidates
** are ordered by (logit desc, id asc) so ties break the same way everywhere;
** top-k keeps a bounded min-heap, so only top-p without top-k sorts all V. */
#include "model/sample.h"

#include "base/rng.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float logit;
    int32_t id;
} cand;

struct wf_sampler {
    wf_heap *heap;
    int V;
    wf_sample_opts o;
    wf_rng rng;
    cand *c; /* [V] scratch */
};

wf_status wf_sampler_new(int V, const wf_sample_opts *o, uint64_t seed, wf_heap *h,
                         wf_sampler **out, wf_err *err) {
    *out = NULL;
    if (V < 1) return WF_FAIL(err, WF_EUSAGE, "sampler: vocabulary size %d, expected >= 1", V);
    if (!(o->temperature >= 0.0f) || isinf(o->temperature))
        return WF_FAIL(err, WF_EUSAGE, "sampler: temperature %g, expected a finite value >= 0",
                       (double)o->temperature);
    if (o->top_k < 0) return WF_FAIL(err, WF_EUSAGE, "sampler: top-k %d, expected >= 0", o->top_k);
    if (!(o->top_p > 0.0f && o->top_p <= 1.0f))
        return WF_FAIL(err, WF_EUSAGE, "sampler: top-p %g, expected in (0, 1]", (double)o->top_p);
    wf_sampler *s = wf_calloc(h, sizeof *s, "sampler", err);
    if (!s) return WF_ENOMEM;
    s->c = wf_alloc(h, sizeof(cand) * (size_t)V, "sampler candidates", err);
    if (!s->c) {
        wf_free(h, s);
        return WF_ENOMEM;
    }
    s->heap = h;
    s->V = V;
    s->o = *o;
    wf_rng_seed(&s->rng, seed);
    *out = s;
    return WF_OK;
}

void wf_sampler_free(wf_sampler *s) {
    if (!s) return;
    wf_free(s->heap, s->c);
    wf_free(s->heap, s);
}

/* a ranks before b: higher logit, then lower id. */
static int before(cand a, cand b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

static int cmp_cand(const void *x, const void *y) {
    cand a = *(const cand *)x, b = *(const cand *)y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Min-heap on "rank": the root is the worst of the kept k. */
static void sift_down(cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(h[w], h[l])) w = l;
        if (r < n && before(h[w], h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

int32_t wf_sampler_next(wf_sampler *s, const float *logits) {
    int V = s->V;
    if (s->o.temperature == 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    cand *c = s->c;
    int n;
    int k = s->o.top_k;
    if (k > 0 && k < V) {
        for (int i = 0; i < k; i++) c[i] = (cand){logits[i], i};
        for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
        for (int i = k; i < V; i++) {
            cand x = {logits[i], i};
            if (before(x, c[0])) {
                c[0] = x;
                sift_down(c, k, 0);
            }
        }
        n = k;
    } else {
        for (int i = 0; i < V; i++) c[i] = (cand){logits[i], i};
        n = V;
    }
    int need_sort = s->o.top_p < 1.0f || n < V;
    if (need_sort) qsort(c, (size_t)n, sizeof(cand), cmp_cand);
    float mx = c[0].logit;
    if (!need_sort)
        for (int i = 1; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
    double total = 0;
    float inv_t = 1.0f / s->o.temperature;
    for (int i = 0; i < n; i++) {
        float p = expf((c[i].logit - mx) * inv_t);
        c[i].logit = p; /* now an unnormalised probability */
        total += p;
    }
    if (s->o.top_p < 1.0f) {
        double keep = 0, want = s->o.top_p * total;
        int m = 0;
        while (m < n) {
            keep += c[m++].logit;
            if (keep >= want) break;
        }
        n = m;
        total = keep;
    }
    double u = wf_rng_uniform(&s->rng) * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += c[i].logit;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id;
}
