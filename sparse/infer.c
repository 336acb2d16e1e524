/* infer.c — sparse weights in inference: the block-matrix hook that
** model/infer.c calls (wf_infer_opts.linear), so `wafer generate` and
** `wafer score` skip the zeros of a model that carries a mask (sparse.h). */
#include "sparse/sparse_int.h"

enum { SMALL_ROWS = 16 }; /* below: a decode chunk (spmm.c's row-gather forward) */
#define MAX_DENSITY 0.5   /* denser matrices stay on the dense GEMM: CSR is slower than dense at 50% (docs/REFERENCE.md) */
#define LONG_DENSITY 0.25 /* undecided matrices use the tiled kernel for long chunks below this: sparse x dense
                          ** breaks even around 70-90% sparsity on CPUs (docs/REFERENCE.md), ours near 50-75% (bench/sparse) */

struct wf_sparse_infer {
    int n_layer;
    wf_spmat **mats;  /* [n_layer * 4]: NULL = dense */
    uint8_t *longok;  /* [n_layer * 4]: use for chunks of >= SMALL_ROWS rows too */
    float *scratch;
    wf_heap *heap;
};

wf_status wf_sparse_infer_new(const wf_sparse_mask *m, const float *weights, int max_rows, wf_heap *h,
                              wf_sparse_infer **out, wf_err *err) {
    *out = NULL;
    const wf_gpt_config *c = &m->cfg;
    static const int slot_of[WF_SPARSE_MAT_COUNT] = {WF_T_QKV_W, WF_T_ATTNPROJ_W, WF_T_FC_W, WF_T_FCPROJ_W};
    size_t nm = (size_t)c->n_layer * WF_SPARSE_MAT_COUNT, scratch = 0;
    wf_sparse_infer *s = wf_calloc(h, sizeof *s, "sparse infer", err);
    if (!s) return WF_ENOMEM;
    s->n_layer = c->n_layer, s->heap = h;
    s->mats = wf_calloc(h, sizeof(wf_spmat *) * nm, "sparse infer matrices", err);
    s->longok = s->mats ? wf_calloc(h, nm, "sparse infer choices", err) : NULL;
    wf_status st = s->longok ? WF_OK : WF_ENOMEM;
    for (size_t i = 0; i < nm && !st; i++) {
        int l = (int)(i / WF_SPARSE_MAT_COUNT), k = (int)(i % WF_SPARSE_MAT_COUNT), K, OC;
        wf_sparse_mat_shape(c, (wf_sparse_mat)k, &K, &OC);
        double dens = (double)m->nnz[i] / ((double)K * OC);
        if (dens > MAX_DENSITY) continue;
        if ((st = wf_spmat_new(wf_sparse_mask_bits(m, l, (wf_sparse_mat)k), K, OC, h, &s->mats[i], err))) break;
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, 2 + WF_T_LAYER_COUNT * l + slot_of[k], &ti);
        wf_spmat_load(s->mats[i], weights + ti.offset);
        s->longok[i] = m->use[i] == WF_SPARSE_USE_SPARSE || (m->use[i] == WF_SPARSE_UNDECIDED && dens <= LONG_DENSITY);
        size_t need = wf_spmm_scratch(s->mats[i], max_rows);
        if (need > scratch) scratch = need;
    }
    if (!st && scratch && !(s->scratch = wf_alloc(h, sizeof(float) * scratch, "sparse infer scratch", err))) st = WF_ENOMEM;
    if (st) {
        wf_sparse_infer_free(s);
        return st;
    }
    *out = s;
    return WF_OK;
}

void wf_sparse_infer_free(wf_sparse_infer *s) {
    if (!s) return;
    if (s->mats)
        for (size_t i = 0; i < (size_t)s->n_layer * WF_SPARSE_MAT_COUNT; i++) wf_spmat_free(s->mats[i]);
    wf_free(s->heap, s->mats);
    wf_free(s->heap, s->longok);
    wf_free(s->heap, s->scratch);
    wf_free(s->heap, s);
}

int wf_sparse_infer_linear(void *ud, int l, int which, float *out, const float *inp, const float *bias, int N) {
    wf_sparse_infer *s = ud;
    size_t i = (size_t)l * WF_SPARSE_MAT_COUNT + (size_t)which;
    WF_ASSERT(l >= 0 && l < s->n_layer && which >= 0 && which < WF_SPARSE_MAT_COUNT);
    if (!s->mats[i] || (N >= SMALL_ROWS && !s->longok[i])) return 0;
    wf_spmm_forward(out, inp, s->mats[i], bias, N, s->scratch);
    return 1;
}

int wf_sparse_infer_count(const wf_sparse_infer *s, int *long_chunks) {
    int n = 0, lc = 0;
    for (size_t i = 0; i < (size_t)s->n_layer * WF_SPARSE_MAT_COUNT; i++) n += s->mats[i] != NULL, lc += s->longok[i];
    if (long_chunks) *long_chunks = lc;
    return n;
}

wf_status wf_sparse_infer_open(const char *dir, const wf_gpt_config *c, const float *weights, int max_rows,
                               wf_heap *h, wf_sparse_infer **out, wf_err *err) {
    *out = NULL;
    if (!wf_path_is_dir(dir) || !wf_sparse_mask_in(dir)) return WF_OK;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, WF_SPARSE_MASK_FILE);
    wf_sparse_mask *m;
    wf_status st = wf_sparse_mask_load(path, c, h, &m, err);
    if (st) return st;
    st = wf_sparse_infer_new(m, weights, max_rows, h, out, err);
    if (!st) {
        int lc, n = wf_sparse_infer_count(*out, &lc);
        wf_log(WF_LOG_INFO, "sparse: %s (sparsity %g): %d of %d block matrices on the sparse kernels (%d also for "
               "prompts)", path, wf_sparse_mask_sparsity(m), n, 4 * c->n_layer, lc);
    }
    wf_sparse_mask_free(m);
    return st;
}
