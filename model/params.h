/* params.h — the layer-major parameter layout (ARCHITECTURE.md). All tensors
** of one block are contiguous, in the order below; the same layout serves
** weights, gradients and the two AdamW moments, so streaming a layer is one
** read and reducing its gradients is one message.
**
**   block 0        embeddings   wte [V, C], wpe [P, C]
**   block 1+l      layer l      ln_1.weight [C]      ln_1.bias [C]
**                               attn.c_attn.weight [C, 3C]  attn.c_attn.bias [3C]
**                               attn.c_proj.weight [C, C]   attn.c_proj.bias [C]
**                               ln_2.weight [C]      ln_2.bias [C]
**                               mlp.c_fc.weight [C, F]      mlp.c_fc.bias [F]
**                               mlp.c_proj.weight [F, C]    mlp.c_proj.bias [C]
**   block L+1      final norm   ln_f.weight [C], ln_f.bias [C]
**                  and head     lm_head.weight [V, C]   only when cfg->untied_head
**
** Matrices keep Hugging Face's Conv1D layout (in, out): y = x @ W + b, so a
** checkpoint loads with a copy. The LM head is tied to wte (logits = x wte^T)
** unless cfg->untied_head, when lm_head.weight (nn.Linear, [V, C]) is its own
** tensor, the last one, in the final block. */
#ifndef WF_MODEL_PARAMS_H
#define WF_MODEL_PARAMS_H

#include "base/rng.h"
#include "model/config.h"

/* Tensor slots within a layer block, in storage order. Values are stable. */
typedef enum {
    WF_T_LN1_W, WF_T_LN1_B, WF_T_QKV_W, WF_T_QKV_B, WF_T_ATTNPROJ_W, WF_T_ATTNPROJ_B,
    WF_T_LN2_W, WF_T_LN2_B, WF_T_FC_W, WF_T_FC_B, WF_T_FCPROJ_W, WF_T_FCPROJ_B,
    WF_T_LAYER_COUNT
} wf_layer_tensor;

/* Pointers into one layer's block. */
typedef struct {
    float *ln1_w, *ln1_b;   /* [C] */
    float *qkv_w, *qkv_b;   /* [C, 3C], [3C]: q | k | v along the output axis */
    float *aproj_w, *aproj_b; /* [C, C], [C] */
    float *ln2_w, *ln2_b;   /* [C] */
    float *fc_w, *fc_b;     /* [C, F], [F] */
    float *fproj_w, *fproj_b; /* [F, C], [C] */
} wf_gpt_layer;

/* A view of the whole model's tensors over one buffer (weights, grads, m or v).
** Borrowed pointers: the buffer's owner frees it; the view holds no memory
** except `layers`, which wf_gpt_view_bind allocates and wf_gpt_view_unbind frees. */
typedef struct {
    float *base;            /* start of the whole buffer */
    float *wte, *wpe;       /* [V, C], [P, C] */
    wf_gpt_layer *layers;   /* [n_layer] */
    float *lnf_w, *lnf_b;   /* [C] */
    float *lm_head;         /* [V, C]: == wte when tied, else the last tensor of the final block */
} wf_gpt_view;

/* Number of blocks: embeddings + n_layer + final norm. */
static inline int wf_gpt_nblocks(const wf_gpt_config *c) { return c->n_layer + 2; }
/* Floats in block b (0 = embeddings, 1..L = layers, L+1 = final norm). */
size_t wf_gpt_block_numel(const wf_gpt_config *c, int b);
/* Offset (floats) of block b from the start of the buffer. */
size_t wf_gpt_block_offset(const wf_gpt_config *c, int b);
/* Total parameter count (a tied head counted once, as part of wte). */
size_t wf_gpt_numel(const wf_gpt_config *c);

wf_status wf_gpt_view_bind(const wf_gpt_config *c, float *base, wf_gpt_view *v, wf_err *err);
void wf_gpt_view_unbind(wf_gpt_view *v);

/* One named tensor of the model, with the Hugging Face name *without* the
** "transformer." prefix ("wte.weight", "h.3.attn.c_attn.weight", "ln_f.bias";
** "lm_head.weight", which HF never prefixes). */
typedef struct {
    char name[64];
    int ndim;          /* 1 or 2 */
    long long shape[2];
    size_t numel;
    size_t offset;     /* floats from the buffer start */
} wf_tensor_info;

/* Number of named tensors: 2 + 12 * n_layer + 2, plus 1 for an untied lm_head. */
int wf_gpt_tensor_count(const wf_gpt_config *c);
/* Describes tensor i (0 <= i < count), in storage order. */
void wf_gpt_tensor_info(const wf_gpt_config *c, int i, wf_tensor_info *out);
/* Finds a tensor by HF name; accepts and strips a "transformer." prefix.
** Returns its index, or -1 (also for "lm_head.weight" of a tied model). */
int wf_gpt_tensor_find(const wf_gpt_config *c, const char *name);

/* GPT-2 initialisation as HF does it: N(0, 0.02) for matrices and embeddings,
** residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2L)), biases 0,
** LayerNorm weight 1. Deterministic in seed; same bits on every machine. */
/* The same, one block at a time: fills block b (wf_gpt_block_numel floats at
** blk) drawing from r. Tensors come in block order, so calling it for
** b = 0, 1, ... with one generator seeded as above gives the same bits as
** wf_gpt_init_random, without ever holding the whole model. */
void wf_gpt_init_block(const wf_gpt_config *c, int b, float *blk, wf_rng *r);
void wf_gpt_init_random(const wf_gpt_config *c, float *base, uint64_t seed);

#endif
