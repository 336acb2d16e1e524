/* sparse.h — static unstructured weight sparsity (issue 13): masks over the
** four block matrices of every layer (attn.c_attn, attn.c_proj, mlp.c_fc,
** mlp.c_proj; embeddings, biases and LayerNorm stay dense), the mask file
** that travels beside a checkpoint, and sparse x dense kernels that skip the
** zeros (forward, input gradient, and the weight gradient restricted to the
** mask, SDDMM). Sits between kernels/ and train/: train applies the mask to
** gradients, weights and Adam moments and calls the kernels per layer.
**
** Why: the wafer never computes or moves a zero, so unstructured sparsity is
** speed there (SPDF, arXiv 2303.10464: GPT-3 XL pre-trained at 75% sparsity,
** ~2.5x fewer FLOPs, dense fine-tune recovers quality; docs/REFERENCE.md, weight sparsity). On
** a CPU a sparse product only pays at high sparsity, so the plan below times
** sparse against dense per matrix and keeps the faster. */
#ifndef WF_SPARSE_H
#define WF_SPARSE_H

#include <stdint.h>

#include "model/config.h"
#include "model/params.h"

/* The masked matrices of a layer, in layer-block order. Values reach the
** mask file: append only. */
typedef enum {
    WF_SPARSE_QKV = 0,  /* attn.c_attn.weight [C, 3C] */
    WF_SPARSE_APROJ,    /* attn.c_proj.weight [C, C]  */
    WF_SPARSE_FC,       /* mlp.c_fc.weight    [C, F]  */
    WF_SPARSE_FPROJ,    /* mlp.c_proj.weight  [F, C]  */
    WF_SPARSE_MAT_COUNT
} wf_sparse_mat;

/* How the kept weights were chosen. Values reach the mask file: append only. */
typedef enum {
    WF_SPARSE_UNIFORM = 0, /* the same density in every matrix, random positions */
    WF_SPARSE_ERK,         /* Erdős–Rényi–Kernel: density ∝ (rows + cols) / (rows * cols), random positions */
    WF_SPARSE_MAGNITUDE,   /* largest |w| kept, the same density in every matrix (pruning) */
    WF_SPARSE_MAGNITUDE_ERK, /* largest |w| kept, ERK densities */
    WF_SPARSE_DIST_COUNT
} wf_sparse_dist;

/* Kernel used for a matrix (the plan's timing, kept in the mask file so a
** resumed run makes the same choice and stays bit-identical). On disk: append only. */
typedef enum { WF_SPARSE_UNDECIDED = 0, WF_SPARSE_USE_DENSE, WF_SPARSE_USE_SPARSE, WF_SPARSE_USE_COUNT } wf_sparse_use;

/* ---- masks ----------------------------------------------------------------- */

/* A mask for every block matrix of one model: one bit per weight (1 = kept),
** row-major over the HF Conv1D layout W[in, out], each matrix padded to whole
** 64-bit words. Opaque; owns its memory. */
typedef struct wf_sparse_mask wf_sparse_mask;

/* Rows and columns of matrix s for config c. */
void wf_sparse_mat_shape(const wf_gpt_config *c, wf_sparse_mat s, int *rows, int *cols);
/* Name for messages: "qkv", "attn_proj", "fc", "fc_proj". */
const char *wf_sparse_mat_name(wf_sparse_mat s);
/* "uniform", "erk", "magnitude", "magnitude-erk"; parse returns -1 when unknown. */
const char *wf_sparse_dist_name(wf_sparse_dist d);
int wf_sparse_dist_parse(const char *s);

/* Random mask at sparsity S in [0, 1) with dist UNIFORM or ERK (seeded, the
** same bits on every machine). Each matrix keeps exactly round(density * n)
** weights. WF_EUSAGE for S outside [0, 1). */
wf_status wf_sparse_mask_random(const wf_gpt_config *c, double sparsity, wf_sparse_dist dist, uint64_t seed,
                                wf_heap *h, wf_sparse_mask **out, wf_err *err);
/* Magnitude mask from layer-major weights: in each matrix the largest |w|
** (ties: lower index first) are kept; erk = 0: the same density everywhere,
** 1: ERK densities. */
wf_status wf_sparse_mask_magnitude(const wf_gpt_config *c, const float *weights, double sparsity, int erk,
                                   wf_heap *h, wf_sparse_mask **out, wf_err *err);
void wf_sparse_mask_free(wf_sparse_mask *m); /* NULL is a no-op */

/* Sparsity asked for, the distribution, and the real fraction of zeros over all masked weights. */
double wf_sparse_mask_sparsity(const wf_sparse_mask *m);
wf_sparse_dist wf_sparse_mask_dist(const wf_sparse_mask *m);
double wf_sparse_mask_actual(const wf_sparse_mask *m);
/* Kept weights of matrix s in layer l. */
uint64_t wf_sparse_mask_nnz(const wf_sparse_mask *m, int l, wf_sparse_mat s);
/* The bits of matrix s in layer l: bit i (word i/64, bit i%64) is W[i / cols, i % cols]. Owned by m. */
const uint64_t *wf_sparse_mask_bits(const wf_sparse_mask *m, int l, wf_sparse_mat s);
/* The kernel choice stored with the mask (UNDECIDED until a plan decides). */
wf_sparse_use wf_sparse_mask_use(const wf_sparse_mask *m, int l, wf_sparse_mat s);
void wf_sparse_mask_set_use(wf_sparse_mask *m, int l, wf_sparse_mat s, wf_sparse_use u);

/* Zeros every masked position of the block matrices in a layer-major buffer
** (weights, gradients, Adam m or v) of the mask's model. */
void wf_sparse_mask_apply(const wf_sparse_mask *m, float *buf);
/* The same on layer l's block alone (wf_gpt_block_numel(c, 1 + l) floats). */
void wf_sparse_mask_apply_layer(const wf_sparse_mask *m, int l, float *block);
/* Number of masked positions in buf that are not exactly +0 or -0 (tests, checks). */
uint64_t wf_sparse_mask_violations(const wf_sparse_mask *m, const float *buf);

/* ---- packed layers (streaming) ------------------------------------------------
** Layer l's block (tensors in block order, wf_gpt_block_numel(c, 1 + l)
** floats) packed: each masked matrix keeps only its kept weights, row-major;
** every other tensor whole. The weight store keeps a sparse layer's W, G, m
** and v this way and the streaming executor moves it so (exec/exec.h):
** bytes per step fall with the sparsity. Masked positions are zero in
** every buffer the mask governs, so packing loses nothing. */
size_t wf_sparse_packed_numel(const wf_sparse_mask *m, int l);
void wf_sparse_pack_layer(const wf_sparse_mask *m, int l, const float *block, float *packed);
/* The reverse; masked positions become +0. */
void wf_sparse_unpack_layer(const wf_sparse_mask *m, int l, const float *packed, float *block);
/* Offset and length of layer tensor t (wf_layer_tensor order) in the packed block. */
void wf_sparse_packed_tensor(const wf_sparse_mask *m, int l, int t, size_t *off, size_t *numel);
/* The bf16 copy --bf16 streams, from a packed layer: its matrices' kept
** weights as bf16 (round to nearest even), its vectors fp32, in tensor order;
** wf_sparse_packed_half_numel floats (bytes / 4, rounded up). unpack widens it
** back to the packed fp32 layout (exact for the bf16 values). */
size_t wf_sparse_packed_half_numel(const wf_sparse_mask *m, int l);
void wf_sparse_pack_layer_half(const wf_sparse_mask *m, int l, const float *packed, float *h);
void wf_sparse_unpack_layer_half(const wf_sparse_mask *m, int l, const float *h, float *packed);

/* ---- the mask file ----------------------------------------------------------
** "sparse_mask.bin" beside config.json and model.safetensors in a checkpoint
** folder (the safetensors hold the dense weights with their zeros, so HF
** transformers loads the folder unchanged). Little-endian, version 1:
**
**   offset  size   field
**   0       8      magic "WFMASK\0\0"
**   8       4      version (u32) = 1
**   12      4      n_layer (u32)
**   16      4      n_embd C (u32)
**   20      4      n_inner F (u32)
**   24      4      dist (u32, wf_sparse_dist)
**   28      4      matrices per layer (u32) = 4
**   32      8      sparsity asked for (f64, in [0, 1))
**   40      8      kept weights over all matrices (u64)
**   48      8      body size in bytes (u64) = 8 * ceil(4 * n_layer / 8) + 8 * words
**   56      4      CRC-32 (zlib) of the body
**   60      4      CRC-32 of bytes 0..59
**   64      ...    body: kernel choices, one u8 (wf_sparse_use) per matrix,
**                  layer-major, padded with zeros to 8 bytes; then the mask
**                  bits of each matrix (layer-major, wf_sparse_mat order) as
**                  u64 words, ceil(rows * cols / 64) per matrix, padding bits 0.
** The reader checks magic, version, the model shape against the expected
** config, sizes, both CRCs, the sparsity range, the kept count against the
** bits, zero padding and known choice values; every failure names the file. */
#define WF_SPARSE_MASK_FILE "sparse_mask.bin"
#define WF_SPARSE_MASK_VERSION 1

/* Writes the mask to path atomically. */
wf_status wf_sparse_mask_save(const char *path, const wf_sparse_mask *m, wf_err *err);
/* Reads a mask for model c from path. WF_ESHAPE when it was written for
** another shape, WF_ECORRUPT for a damaged file, WF_EIO when unreadable. */
wf_status wf_sparse_mask_load(const char *path, const wf_gpt_config *c, wf_heap *h, wf_sparse_mask **out,
                              wf_err *err);
/* The same from a buffer (fuzzing); `name` is used in messages. */
wf_status wf_sparse_mask_parse(const uint8_t *data, size_t n, const char *name, const wf_gpt_config *c,
                               wf_heap *h, wf_sparse_mask **out, wf_err *err);
/* dir/sparse_mask.bin exists? (1/0) */
int wf_sparse_mask_in(const char *dir);

/* ---- sparse kernels ----------------------------------------------------------
** A masked matrix W[K, OC] (HF Conv1D: y = x W) compressed twice, so every
** product reads its operand in the order it needs:
**   by column (CSC of W, i.e. CSR of W^T): for each output oc, the kept k and W[k, oc];
**   by row    (CSR of W): for each input k, the kept oc and W[k, oc].
** The products work on transposed activations (xT[K, N]: one row per input
** channel), so each nonzero is one fused multiply-add over a run of N
** contiguous tokens: vector work without gathers. Structure is fixed by the
** mask; values are refreshed from the dense W after each optimizer update.
** (Chosen over bitmap + packed values, which needs a bit scan per row and
** tile; docs/sparse.md has the measured times of this format.) */
typedef struct {
    int K, OC;                    /* W is [K, OC] */
    uint64_t nnz;
    uint32_t *col_ptr, *col_k;    /* [OC + 1], [nnz]: kept rows of column oc at col_ptr[oc] .. col_ptr[oc+1]-1, ascending */
    float *col_val;               /* [nnz] */
    uint32_t *row_ptr, *row_oc;   /* [K + 1], [nnz]: kept columns of row k, ascending */
    float *row_val;               /* [nnz] */
    wf_heap *heap;                /* borrowed */
} wf_spmat;

/* Builds the structure of a K x OC matrix from mask bits (layout of wf_sparse_mask_bits). */
wf_status wf_spmat_new(const uint64_t *bits, int K, int OC, wf_heap *h, wf_spmat **out, wf_err *err);
void wf_spmat_free(wf_spmat *s); /* NULL is a no-op */
/* Values from the dense W[K, OC] (only kept positions are read). */
void wf_spmat_load(wf_spmat *s, const float *W);

/* Floats of scratch the products need for N rows: about N * (K + OC) + nnz;
** any alignment (the products align their tiles inside it). */
size_t wf_spmm_scratch(const wf_spmat *s, int N);
/* out[N,OC] = inp[N,K] @ W + bias[OC] (bias may be NULL). */
void wf_spmm_forward(float *out, const float *inp, const wf_spmat *W, const float *bias, int N, float *scratch);
/* dinp[N,K] += dout[N,OC] @ W^T. */
void wf_spmm_backward_input(float *dinp, const float *dout, const wf_spmat *W, int N, float *scratch);
/* dW[k,oc] += sum_n inp[n,k] dout[n,oc] at kept positions only (SDDMM); others untouched. */
void wf_spmm_backward_weight(float *dW, const float *inp, const float *dout, const wf_spmat *W, int N,
                             float *scratch);
/* References: the same contracts, straight loops, double accumulation. */
void wf_spmm_forward_naive(float *out, const float *inp, const wf_spmat *W, const float *bias, int N);
void wf_spmm_backward_input_naive(float *dinp, const float *dout, const wf_spmat *W, int N);
void wf_spmm_backward_weight_naive(float *dW, const float *inp, const float *dout, const wf_spmat *W, int N);

/* ---- the per-layer plan ------------------------------------------------------
** For a trainer of N = B*T rows: which matrices run sparse, their compressed
** form, and the scratch. Opaque; owns its memory; borrows the mask. */
typedef struct wf_sparse_plan wf_sparse_plan;

/* Forcing the choice: AUTO times both once per distinct (shape, density). */
typedef enum { WF_SPARSE_KERNELS_AUTO = 0, WF_SPARSE_KERNELS_DENSE, WF_SPARSE_KERNELS_SPARSE } wf_sparse_kernels;

/* Decides each matrix: a choice stored in the mask is kept (resume); else
** `force`, or with AUTO the faster of dense and sparse forward + backward on
** N random rows, timed once per (matrix kind, kept count); sparse must take
** under 0.75 of the dense time (plan.c SPARSE_MARGIN). The decision is
** written back into the mask. `weights` (layer-major) fill the sparse values. */
wf_status wf_sparse_plan_new(wf_sparse_mask *m, const float *weights, int N, wf_sparse_kernels force, wf_heap *h,
                             wf_sparse_plan **out, wf_err *err);
void wf_sparse_plan_free(wf_sparse_plan *p); /* NULL is a no-op */
/* The compressed matrix s of layer l when it runs sparse, else NULL. */
const wf_spmat *wf_sparse_plan_mat(const wf_sparse_plan *p, int l, wf_sparse_mat s);
/* Scratch of wf_spmm_scratch floats for the plan's largest matrix and N rows. Owned by p. */
float *wf_sparse_plan_scratch(const wf_sparse_plan *p);
/* Reloads the sparse values from the (updated) layer-major weights. */
void wf_sparse_plan_refresh(wf_sparse_plan *p, const float *weights);
/* One line per matrix kind: density, dense and sparse ms (when timed) and the choice. */
void wf_sparse_plan_describe(const wf_sparse_plan *p, char *buf, size_t cap);
/* Matrices running sparse. */
int wf_sparse_plan_count_sparse(const wf_sparse_plan *p);

/* ---- inference (generate, score) ---------------------------------------------
** The block-matrix hook of model/infer.h for a model with a mask. Matrices at
** density <= 0.5 get a compressed form; decode chunks (fewer than 16 rows)
** always use it (a sparse GEMV reads only the kept weights), longer chunks
** only where the mask's stored choice says sparse (training timed it) or,
** undecided, at density <= 0.25. Opaque; owns its memory; borrows nothing
** after creation except that the weights must not change. */
typedef struct wf_sparse_infer wf_sparse_infer;

wf_status wf_sparse_infer_new(const wf_sparse_mask *m, const float *weights, int max_rows, wf_heap *h,
                              wf_sparse_infer **out, wf_err *err);
void wf_sparse_infer_free(wf_sparse_infer *s); /* NULL is a no-op */
/* The hook: wf_infer_opts.linear with linear_ud = the wf_sparse_infer. */
int wf_sparse_infer_linear(void *ud, int l, int which, float *out, const float *inp, const float *bias, int N);
/* For a model folder: *out = NULL when dir holds no sparse_mask.bin (dense
** model), else the hook for its mask (errors name the mask file). */
wf_status wf_sparse_infer_open(const char *dir, const wf_gpt_config *c, const float *weights, int max_rows,
                               wf_heap *h, wf_sparse_infer **out, wf_err *err);
/* Matrices with a compressed form, and those also used for long chunks. */
int wf_sparse_infer_count(const wf_sparse_infer *s, int *long_chunks);

#endif
