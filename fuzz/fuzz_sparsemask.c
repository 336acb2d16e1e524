/* fuzz_sparsemask.c — libFuzzer target for the mask-file reader
** (sparse/mask.c, "sparse_mask.bin"). The input is the file, parsed for a
** tiny fixed model; when accepted, the mask is applied to a weight buffer,
** compressed for the sparse kernels, run through one forward, written and
** read back, and must come back the same. Errors are fine; crashes, leaks,
** out-of-bounds reads and undefined behaviour are not. */
#include "sparse/sparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* global: the fuzzer's scratch folder, made once per process. */
static char dir[64];

/* The model of the seeds (fuzz/seeds/sparsemask): 2 layers, C 4, F 16. */
static void tiny(wf_gpt_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    c->n_layer = 2, c->n_embd = 4, c->n_head = 1, c->n_inner = 16, c->n_positions = 4, c->vocab_size = 8;
    c->layer_norm_eps = 1e-5f, c->act = WF_ACT_GELU, c->bos_token_id = c->eos_token_id = 7;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/wf_fuzz_sparsemask_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    wf_gpt_config c;
    tiny(&c);
    wf_sparse_mask *m = NULL, *m2 = NULL;
    wf_err e = {0};
    if (wf_sparse_mask_parse(data, size, "fuzz", &c, NULL, &m, &e) == WF_OK) {
        size_t n = wf_gpt_numel(&c);
        float *w = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) w[i] = (float)(i % 13) - 6.0f;
        wf_sparse_mask_apply(m, w);
        WF_ASSERT(wf_sparse_mask_violations(m, w) == 0);
        WF_ASSERT(wf_sparse_mask_actual(m) >= 0.0 && wf_sparse_mask_actual(m) <= 1.0);
        wf_sparse_plan *p = NULL;
        if (wf_sparse_plan_new(m, w, 3, WF_SPARSE_KERNELS_SPARSE, NULL, &p, &e) == WF_OK) {
            /* a choice stored in the file wins over the forced one */
            const wf_spmat *s = wf_sparse_plan_mat(p, 1, WF_SPARSE_FPROJ);
            WF_ASSERT(!s == (wf_sparse_mask_use(m, 1, WF_SPARSE_FPROJ) != WF_SPARSE_USE_SPARSE));
            if (s) {
                WF_ASSERT(s->nnz == wf_sparse_mask_nnz(m, 1, WF_SPARSE_FPROJ));
                float x[3 * 16], y[3 * 4];
                for (int i = 0; i < 48; i++) x[i] = (float)i * 0.01f;
                wf_spmm_forward(y, x, s, NULL, 3, wf_sparse_plan_scratch(p));
            }
            wf_sparse_plan_free(p);
        }
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, WF_SPARSE_MASK_FILE);
        WF_ASSERT(wf_sparse_mask_save(path, m, &e) == WF_OK);
        WF_ASSERT(wf_sparse_mask_load(path, &c, NULL, &m2, &e) == WF_OK);
        for (int l = 0; l < 2; l++)
            for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
                WF_ASSERT(wf_sparse_mask_nnz(m, l, (wf_sparse_mat)s) == wf_sparse_mask_nnz(m2, l, (wf_sparse_mat)s));
                WF_ASSERT(wf_sparse_mask_use(m, l, (wf_sparse_mat)s) == wf_sparse_mask_use(m2, l, (wf_sparse_mat)s));
            }
        free(w);
    }
    wf_sparse_mask_free(m2);
    wf_sparse_mask_free(m);
    WF_ASSERT(wf_heap_live(NULL) == 0);
    return 0;
}
