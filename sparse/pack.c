/* pack.c — sparse layer blocks packed to their kept weights (sparse.h): what
** the weight store keeps and the streaming executor moves for a masked
** layer, so a step's bytes fall with the sparsity. */
#include "sparse/sparse_int.h"

#include <string.h>

#include "kernels/kernels.h"

/* Layer tensor t's matrix (wf_sparse_mat), or -1 when t is not masked. */
static int mat_of(int t) {
    switch (t) {
    case WF_T_QKV_W: return WF_SPARSE_QKV;
    case WF_T_ATTNPROJ_W: return WF_SPARSE_APROJ;
    case WF_T_FC_W: return WF_SPARSE_FC;
    case WF_T_FCPROJ_W: return WF_SPARSE_FPROJ;
    default: return -1;
    }
}

void wf_sparse_packed_tensor(const wf_sparse_mask *m, int l, int t, size_t *off, size_t *numel) {
    size_t at = 0;
    *off = 0, *numel = 0;
    for (int i = 0; i <= t; i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&m->cfg, 2 + WF_T_LAYER_COUNT * l + i, &ti);
        int s = mat_of(i);
        size_t n = s < 0 ? ti.numel : (size_t)wf_sparse_mask_nnz(m, l, (wf_sparse_mat)s);
        if (i == t) *off = at, *numel = n;
        at += n;
    }
}

size_t wf_sparse_packed_numel(const wf_sparse_mask *m, int l) {
    size_t off, n;
    wf_sparse_packed_tensor(m, l, WF_T_LAYER_COUNT - 1, &off, &n);
    return off + n;
}

/* Walks the block's tensors in order: kept weights of masked matrices, every
** element of the others; pack copies block -> packed, unpack the reverse
** (zeros at the masked positions). */
static void walk(const wf_sparse_mask *m, int l, float *block, float *packed, int pack) {
    size_t base = wf_gpt_block_offset(&m->cfg, 1 + l), at = 0;
    for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&m->cfg, 2 + WF_T_LAYER_COUNT * l + t, &ti);
        float *x = block + (ti.offset - base);
        int s = mat_of(t);
        if (s < 0) {
            if (pack) memcpy(packed + at, x, ti.numel * sizeof(float));
            else memcpy(x, packed + at, ti.numel * sizeof(float));
            at += ti.numel;
            continue;
        }
        const uint64_t *bits = wf_sparse_mask_bits(m, l, (wf_sparse_mat)s);
        for (size_t w = 0; w * 64 < ti.numel; w++) {
            uint64_t word = bits[w];
            size_t i0 = w * 64, i1 = i0 + 64 < ti.numel ? i0 + 64 : ti.numel;
            if (pack) {
                for (size_t i = i0; i < i1; i++)
                    if ((word >> (i - i0)) & 1) packed[at++] = x[i];
            } else {
                for (size_t i = i0; i < i1; i++) x[i] = (word >> (i - i0)) & 1 ? packed[at++] : 0.0f;
            }
        }
    }
}

void wf_sparse_pack_layer(const wf_sparse_mask *m, int l, const float *block, float *packed) {
    walk(m, l, (float *)block, packed, 1);
}

void wf_sparse_unpack_layer(const wf_sparse_mask *m, int l, const float *packed, float *block) {
    walk(m, l, block, (float *)packed, 0);
}

/* ---- the bf16 copy of a packed layer (--bf16 streaming) ---------------------- */

size_t wf_sparse_packed_half_numel(const wf_sparse_mask *m, int l) {
    size_t bytes = 0;
    for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
        size_t off, n;
        wf_sparse_packed_tensor(m, l, t, &off, &n);
        bytes += n * (mat_of(t) < 0 ? 4 : 2);
    }
    return (bytes + 3) / 4;
}

void wf_sparse_pack_layer_half(const wf_sparse_mask *m, int l, const float *packed, float *h) {
    unsigned char *p = (unsigned char *)h;
    for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
        size_t off, n;
        wf_sparse_packed_tensor(m, l, t, &off, &n);
        if (mat_of(t) >= 0) {
            wf_bf16x_from_f32((uint16_t *)(void *)p, packed + off, n); /* p stays 2-byte aligned */
            p += 2 * n;
        } else {
            memcpy(p, packed + off, 4 * n);
            p += 4 * n;
        }
    }
    memset(p, 0, wf_sparse_packed_half_numel(m, l) * 4 - (size_t)(p - (unsigned char *)h));
}

void wf_sparse_unpack_layer_half(const wf_sparse_mask *m, int l, const float *h, float *packed) {
    const unsigned char *p = (const unsigned char *)h;
    for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
        size_t off, n;
        wf_sparse_packed_tensor(m, l, t, &off, &n);
        if (mat_of(t) >= 0) {
            for (size_t i = 0; i < n; i++) {
                uint16_t u;
                memcpy(&u, p + 2 * i, 2);
                uint32_t v = (uint32_t)u << 16;
                memcpy(&packed[off + i], &v, 4);
            }
            p += 2 * n;
        } else {
            memcpy(packed + off, p, 4 * n);
            p += 4 * n;
        }
    }
}
