/* plan.c — which masked matrices run on the sparse kernels: each distinct
** (matrix kind, kept count) is timed once, dense against sparse, on N random
** rows (forward + input gradient + weight gradient, the three products of a
** training step), and the faster wins (sparse with a margin: SPARSE_MARGIN). The choice is written into the mask so
** the checkpoint carries it and a resumed run repeats it bit for bit. */
#include "sparse/sparse_int.h"

#include <stdio.h>
#include <string.h>

#include "base/rng.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"

enum { MAX_KINDS = 64 }; /* distinct (kind, nnz) timings reported */

/* Sparse must time below this fraction of dense to be chosen: timed alone
** with warm caches it gains more than inside a step, where it also pays the
** mask work and the value refresh after each update (~0.4 s per step on 111M
** at 90%) and starts from colder caches. bench/sparse at 75% on 111M: every
** matrix timed 0.6-0.9 of dense alone, yet the step ran 0.8x (docs/sparse.md). */
#define SPARSE_MARGIN 0.75

typedef struct {
    int s;            /* wf_sparse_mat */
    uint64_t nnz;
    int first_layer;
    double ms_dense, ms_sparse; /* < 0: not timed */
    int use;          /* wf_sparse_use */
    int reused;       /* taken from the mask (resume), not timed */
} kind_row;

struct wf_sparse_plan {
    wf_sparse_mask *m;  /* borrowed */
    int N;
    wf_heap *heap;
    wf_spmat **mats;    /* [n_layer * 4]: NULL when dense */
    float *scratch;
    kind_row kinds[MAX_KINDS];
    int nkinds;
};

static size_t weight_offset(const wf_gpt_config *c, int l, int s) {
    static const int slot_of[WF_SPARSE_MAT_COUNT] = {WF_T_QKV_W, WF_T_ATTNPROJ_W, WF_T_FC_W, WF_T_FCPROJ_W};
    wf_tensor_info ti;
    wf_gpt_tensor_info(c, 2 + WF_T_LAYER_COUNT * l + slot_of[s], &ti);
    return ti.offset;
}

/* Times dense and sparse training products of matrix (l, s); ms per product set (best of reps). */
static wf_status time_both(wf_sparse_plan *p, int l, int s, const float *weights, double *ms_dense,
                           double *ms_sparse, wf_err *err) {
    const wf_gpt_config *c = &p->m->cfg;
    int K, OC, N = p->N;
    wf_sparse_mat_shape(c, (wf_sparse_mat)s, &K, &OC);
    wf_spmat *sm;
    wf_status st = wf_spmat_new(wf_sparse_mask_bits(p->m, l, (wf_sparse_mat)s), K, OC, p->heap, &sm, err);
    if (st) return st;
    const float *W = weights + weight_offset(c, l, s);
    wf_spmat_load(sm, W);
    size_t nx = (size_t)N * K, ny = (size_t)N * OC, nw = (size_t)K * OC;
    float *buf = wf_alloc(p->heap, sizeof(float) * (2 * nx + 2 * ny + nw + (size_t)OC + wf_spmm_scratch(sm, N)),
                          "sparse timing", err);
    if (!buf) {
        wf_spmat_free(sm);
        return WF_ENOMEM;
    }
    float *x = buf, *dx = x + nx, *y = dx + nx, *dy = y + ny, *dw = dy + ny, *db = dw + nw, *scr = db + OC;
    wf_rng r;
    wf_rng_seed(&r, 99);
    for (size_t i = 0; i < nx; i++) x[i] = (float)wf_rng_normal(&r);
    for (size_t i = 0; i < ny; i++) dy[i] = (float)wf_rng_normal(&r) * 0.01f;
    double best_d = 1e30, best_s = 1e30;
    for (int rep = 0; rep < 5; rep++) { /* rep 0 warms caches and pages; best of 4 rides out load bursts */
        memset(dx, 0, sizeof(float) * nx), memset(dw, 0, sizeof(float) * nw), memset(db, 0, sizeof(float) * OC);
        double t0 = wf_now();
        wf_matmul_forward(y, x, W, NULL, N, K, OC);
        wf_matmul_backward(dx, dw, db, dy, x, W, N, K, OC);
        double t1 = wf_now();
        wf_spmm_forward(y, x, sm, NULL, N, scr);
        wf_spmm_backward_input(dx, dy, sm, N, scr);
        wf_spmm_backward_weight(dw, x, dy, sm, N, scr);
        double t2 = wf_now();
        if (rep) {
            if (t1 - t0 < best_d) best_d = t1 - t0;
            if (t2 - t1 < best_s) best_s = t2 - t1;
        }
    }
    *ms_dense = best_d * 1e3, *ms_sparse = best_s * 1e3;
    wf_free(p->heap, buf);
    wf_spmat_free(sm);
    return WF_OK;
}

wf_status wf_sparse_plan_new(wf_sparse_mask *m, const float *weights, int N, wf_sparse_kernels force, wf_heap *h,
                             wf_sparse_plan **out, wf_err *err) {
    *out = NULL;
    const wf_gpt_config *c = &m->cfg;
    int L = c->n_layer;
    wf_sparse_plan *p = wf_calloc(h, sizeof *p, "sparse plan", err);
    if (!p) return WF_ENOMEM;
    p->m = m, p->N = N, p->heap = h;
    p->mats = wf_calloc(h, sizeof(wf_spmat *) * (size_t)L * WF_SPARSE_MAT_COUNT, "sparse plan matrices", err);
    wf_status st = p->mats ? WF_OK : WF_ENOMEM;
    size_t scratch = 0;
    for (int l = 0; l < L && !st; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT && !st; s++) {
            uint64_t nnz = wf_sparse_mask_nnz(m, l, (wf_sparse_mat)s);
            wf_sparse_use use = wf_sparse_mask_use(m, l, (wf_sparse_mat)s);
            kind_row *kr = NULL;
            for (int i = 0; i < p->nkinds; i++)
                if (p->kinds[i].s == s && p->kinds[i].nnz == nnz) kr = &p->kinds[i];
            if (use == WF_SPARSE_UNDECIDED) {
                if (force == WF_SPARSE_KERNELS_DENSE) use = WF_SPARSE_USE_DENSE;
                else if (force == WF_SPARSE_KERNELS_SPARSE) use = WF_SPARSE_USE_SPARSE;
                else if (kr && !kr->reused) use = (wf_sparse_use)kr->use;
                else {
                    double md, ms;
                    if ((st = time_both(p, l, s, weights, &md, &ms, err))) break;
                    use = ms < SPARSE_MARGIN * md ? WF_SPARSE_USE_SPARSE : WF_SPARSE_USE_DENSE;
                    if (p->nkinds < MAX_KINDS)
                        p->kinds[p->nkinds++] = (kind_row){s, nnz, l, md, ms, use, 0};
                    kr = p->nkinds ? &p->kinds[p->nkinds - 1] : NULL;
                }
                wf_sparse_mask_set_use(m, l, (wf_sparse_mat)s, use);
                if (!kr && p->nkinds < MAX_KINDS) p->kinds[p->nkinds++] = (kind_row){s, nnz, l, -1, -1, use, 0};
            } else if (!kr && p->nkinds < MAX_KINDS) {
                p->kinds[p->nkinds++] = (kind_row){s, nnz, l, -1, -1, use, 1};
            }
            if (use != WF_SPARSE_USE_SPARSE) continue;
            int K, OC;
            wf_sparse_mat_shape(c, (wf_sparse_mat)s, &K, &OC);
            wf_spmat **sm = &p->mats[(size_t)l * WF_SPARSE_MAT_COUNT + s];
            if ((st = wf_spmat_new(wf_sparse_mask_bits(m, l, (wf_sparse_mat)s), K, OC, h, sm, err))) break;
            wf_spmat_load(*sm, weights + weight_offset(c, l, s));
            size_t need = wf_spmm_scratch(*sm, N);
            if (need > scratch) scratch = need;
        }
    if (!st && scratch) {
        p->scratch = wf_alloc(h, sizeof(float) * scratch, "sparse scratch", err);
        if (!p->scratch) st = WF_ENOMEM;
    }
    if (st) {
        wf_sparse_plan_free(p);
        return st;
    }
    *out = p;
    return WF_OK;
}

void wf_sparse_plan_free(wf_sparse_plan *p) {
    if (!p) return;
    if (p->mats)
        for (size_t i = 0; i < (size_t)p->m->cfg.n_layer * WF_SPARSE_MAT_COUNT; i++) wf_spmat_free(p->mats[i]);
    wf_free(p->heap, p->mats);
    wf_free(p->heap, p->scratch);
    wf_free(p->heap, p);
}

const wf_spmat *wf_sparse_plan_mat(const wf_sparse_plan *p, int l, wf_sparse_mat s) {
    if (!p) return NULL;
    WF_ASSERT(l >= 0 && l < p->m->cfg.n_layer && (unsigned)s < WF_SPARSE_MAT_COUNT);
    return p->mats[(size_t)l * WF_SPARSE_MAT_COUNT + s];
}

float *wf_sparse_plan_scratch(const wf_sparse_plan *p) { return p->scratch; }

void wf_sparse_plan_refresh(wf_sparse_plan *p, const float *weights) {
    const wf_gpt_config *c = &p->m->cfg;
    for (int l = 0; l < c->n_layer; l++)
        for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
            wf_spmat *sm = p->mats[(size_t)l * WF_SPARSE_MAT_COUNT + s];
            if (sm) wf_spmat_load(sm, weights + weight_offset(c, l, s));
        }
}

int wf_sparse_plan_count_sparse(const wf_sparse_plan *p) {
    int n = 0;
    for (size_t i = 0; i < (size_t)p->m->cfg.n_layer * WF_SPARSE_MAT_COUNT; i++) n += p->mats[i] != NULL;
    return n;
}

void wf_sparse_plan_describe(const wf_sparse_plan *p, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < p->nkinds && n < cap; i++) {
        const kind_row *k = &p->kinds[i];
        int K, OC;
        wf_sparse_mat_shape(&p->m->cfg, (wf_sparse_mat)k->s, &K, &OC);
        double dens = (double)k->nnz / ((double)K * OC);
        int w;
        if (k->ms_dense >= 0)
            w = snprintf(buf + n, cap - n, "%s%s [%dx%d] density %.3f: dense %.2f ms, sparse %.2f ms (fwd+bwd, N=%d, best of 4) -> %s",
                         n ? "\n" : "", wf_sparse_mat_name((wf_sparse_mat)k->s), K, OC, dens, k->ms_dense, k->ms_sparse,
                         p->N, k->use == WF_SPARSE_USE_SPARSE ? "sparse" : "dense");
        else
            w = snprintf(buf + n, cap - n, "%s%s [%dx%d] density %.3f: %s (%s)", n ? "\n" : "",
                         wf_sparse_mat_name((wf_sparse_mat)k->s), K, OC, dens,
                         k->use == WF_SPARSE_USE_SPARSE ? "sparse" : "dense",
                         k->reused ? "choice stored in the mask" : "forced");
        if (w < 0) break;
        n += (size_t)w;
    }
}
