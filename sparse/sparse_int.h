/* sparse_int.h — shared inside sparse/ only: the mask's body. */
#ifndef WF_SPARSE_INT_H
#define WF_SPARSE_INT_H

#include "sparse/sparse.h"

struct wf_sparse_mask {
    wf_gpt_config cfg;     /* the model the mask belongs to */
    double sparsity;       /* asked for, in [0, 1) */
    wf_sparse_dist dist;
    uint64_t *bits;        /* [words]: every matrix, layer-major, each padded to 64-bit words */
    size_t words;
    size_t *word_off;      /* [n_layer * 4 + 1]: first word of matrix i (i = 4 l + s) */
    uint64_t *nnz;         /* [n_layer * 4]: kept weights of matrix i */
    uint8_t *use;          /* [n_layer * 4]: wf_sparse_use of matrix i */
    wf_heap *heap;         /* borrowed */
};

uint64_t *wf_sparse_mask_bits_mut(wf_sparse_mask *m, int l, wf_sparse_mat s);

#endif
