/* infer.h — the CPU inference engine: a GPT-2 / Cerebras-GPT forward over the
** layer-major weights of model/params.h, with a KV cache so that a prompt is
** prefilled in one batched pass and then decoded one token per step. Used by
** `wafer score`, `wafer generate` and bench/generate. Runs on kernels/.
**
** Batching: B sequences advance together; all sit at the same position.
** Logits equal Hugging Face GPT2LMHeadModel's (fp32) to about 1e-5. */
#ifndef WF_MODEL_INFER_H
#define WF_MODEL_INFER_H

#include "model/config.h"

typedef struct wf_infer wf_infer;

typedef struct {
    int max_batch;  /* B the cache holds; >= 1 */
    int n_ctx;      /* tokens per sequence the cache holds; 0 = n_positions; <= n_positions */
    int max_rows;   /* activation rows (B*T) per internal chunk; 0 = 1024. Longer
                    ** inputs are processed in chunks through the cache. */
    int bf16_decode; /* 1: keep a bf16 copy of the matrices, packed in panels
                     ** as for `pack` (2 bytes/param more)
                     ** and use it when a chunk has fewer than 8 rows (decoding):
                     ** about 2x decode speed, logits within ~1e-2 of fp32, not
                     ** the HF-exact path. 0 (default): fp32 everywhere. */
    int pack;        /* 1: keep a copy of the four block matrices of every layer
                     ** and of the LM head in 64-column panels (kernels.h
                     ** wf_p64_pack; about 4 bytes/param more) and run the
                     ** products on it: faster decoding (1.4x at batch 1, 1.8x
                     ** at 16 rows on the products), the block products' bits
                     ** unchanged, the head's sums (up to 48 rows) in another
                     ** order (logits within ~1e-6). Not with streamed weights.
                     ** 0: no copy. */
    int int8;        /* 1: run every product (block matrices and head, prefill and
                     ** decode) on an int8 copy of the weights (kernels.h
                     ** wf_q8p_pack: per column, blocks of 32 along K share a
                     ** scale; 1.125 bytes/param more; activations and sums
                     ** stay fp32): decoding reads ~28% of the fp32 bytes, logits
                     ** move by the quantization (docs/kernels.md). Overrides
                     ** pack and bf16_decode. Not with streamed weights. */
    /* Optional hook for the block matrices (sparse/ sets it for a model with
    ** a mask, sparse.h wf_sparse_infer): out[N,OC] = inp[N,K] @ W + bias for
    ** matrix `which` (0 attn.c_attn, 1 attn.c_proj, 2 mlp.c_fc, 3 mlp.c_proj)
    ** of layer l, N <= max_rows. Returns 1 when it computed out, 0 to let the
    ** dense kernel run. NULL: dense everywhere. */
    int (*linear)(void *ud, int l, int which, float *out, const float *inp, const float *bias, int N);
    void *linear_ud;
} wf_infer_opts;

/* Bytes opts.pack adds for this model (the packed block matrices and head). */
size_t wf_infer_pack_bytes(const wf_gpt_config *cfg);
/* The CLI's default for opts.pack: 1 when the packed copy takes at most half
** of the memory available now (wf_mem_available), so a model that barely
** fits is never pushed into swap by it. */
int wf_infer_pack_auto(const wf_gpt_config *cfg);

/* Creates a context. `weights` (wf_gpt_numel(cfg) floats, layer-major) is
** borrowed and must outlive the context. The cache and activations come
** from h (NULL = default heap). *out is freed with wf_infer_free. */
wf_status wf_infer_new(const wf_gpt_config *cfg, const float *weights, const wf_infer_opts *opts,
                       wf_heap *h, wf_infer **out, wf_err *err);
void wf_infer_free(wf_infer *ctx); /* NULL is a no-op */
/* The same without the weights in memory (models larger than RAM): the
** embeddings and ln_f stay in the context, each layer is read from rd
** (model/checkpoint.h: a folder, borrowed, must outlive the context) when
** a forward reaches it. Same logits as wf_infer_new; every forward call
** reads the whole model once (the page cache keeps a model that fits in RAM
** warm). A read error fails the forward naming the file and tensor, the
** cache position unchanged. No bf16_decode. */
typedef struct wf_ckpt_reader wf_ckpt_reader;
wf_status wf_infer_new_stream(const wf_gpt_config *cfg, wf_ckpt_reader *rd, const wf_infer_opts *opts, wf_heap *h,
                              wf_infer **out, wf_err *err);

/* Empties the KV cache: the next forward starts at position 0. */
void wf_infer_reset(wf_infer *ctx);
/* Tokens per sequence already in the cache (the position of the next token). */
int wf_infer_pos(const wf_infer *ctx);
/* Bytes held by the context (cache + activations). */
size_t wf_infer_bytes(const wf_infer *ctx);

typedef enum {
    WF_LOGITS_LAST = 0, /* logits [B, V] for the last position of each sequence */
    WF_LOGITS_ALL,      /* logits [B, T, V] for every position */
    WF_LOGITS_NONE      /* fill the cache only */
} wf_logits_mode;

/* Runs ids [B, T] (row b = sequence b) at positions pos .. pos+T-1, appends
** their keys/values to the cache and writes logits per `mode` (logits may be
** NULL with WF_LOGITS_NONE). Errors, with the cache left unchanged:
**   WF_ERANGE  "token id 600 at (batch 0, position 3) out of range [0, 512)";
**   WF_ERANGE  "sequence of N tokens exceeds the context of n_ctx" (pos + T);
**   WF_EUSAGE  B outside [1, max_batch] or T < 1. */
wf_status wf_infer_forward(wf_infer *ctx, const int32_t *ids, int B, int T, float *logits,
                           wf_logits_mode mode, wf_err *err);

/* Slot mode, for a server's continuous batching: the cache's max_batch rows
** are independent sequences ("slots"), each at its own position, which the
** caller tracks (wf_infer_pos/reset do not apply; do not mix the two modes on
** one context). Runs B sequences of len[b] >= 1 tokens each (decode steps of
** 1 token and prompt chunks may share one call): ids holds them one after the
** other; sequence b goes to cache row slot[b] (distinct) at positions pos[b] ..
** pos[b]+len[b]-1, whose keys and values it writes, and attends over positions
** 0 .. pos[b]+len[b]-1 of its row. logits: LAST [B, V] (each sequence's last
** token), ALL [sum len, V]. sum len must not exceed max_rows (no chunking: the
** caller splits a long prompt). Errors as wf_infer_forward, nothing written. */
wf_status wf_infer_forward_slots(wf_infer *ctx, const int *slot, const int *pos, const int *len, const int32_t *ids,
                                 int B, float *logits, wf_logits_mode mode, wf_err *err);

#endif
