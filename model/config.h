/* config.h — the Cerebras-GPT (HF model_type "gpt2") hyper-parameters: the
** seven presets of docs/REFERENCE.md, and config.json load/save in the Hugging Face
** format. Plain data (STYLE 3). */
#ifndef WF_MODEL_CONFIG_H
#define WF_MODEL_CONFIG_H

#include "base/base.h"

/* Values reach disk (optimizer state headers): append only. */
typedef enum {
    WF_ACT_GELU = 0, /* exact erf GELU: HF "gelu" (Cerebras-GPT) */
    WF_ACT_GELU_NEW, /* tanh approximation: HF "gelu_new"/"gelu_pytorch_tanh" (OpenAI GPT-2) */
    WF_ACT_COUNT
} wf_activation;

typedef struct {
    char name[64];        /* preset name or "custom" */
    int n_layer;          /* transformer blocks */
    int n_embd;           /* d_model, C */
    int n_head;           /* H; d_head = n_embd / n_head */
    int n_inner;          /* d_ffn, F (HF null = 4*C) */
    int n_positions;      /* max sequence length, P */
    int vocab_size;       /* V */
    float layer_norm_eps; /* HF layer_norm_epsilon */
    wf_activation act;
    int bos_token_id, eos_token_id;
    int untied_head;      /* 1: lm_head.weight [V, C] is its own tensor (HF tie_word_embeddings
                          ** false); 0 (presets, Cerebras-GPT): the head is wte */
    /* Training recipe of the preset (docs/REFERENCE.md); 0 where unknown. */
    float lr;             /* peak learning rate */
    int batch_seqs;       /* global batch in sequences */
    int cosine;           /* 1: cosine decay, 0: linear */
} wf_gpt_config;

/* Known preset names, NULL-terminated: "cerebras-gpt-111m" ... "cerebras-gpt-13b". */
extern const char *const wf_gpt_preset_names[];

/* Fills *c from a preset name (case-insensitive; "111m" and "111M" also work). */
wf_status wf_gpt_config_preset(const char *name, wf_gpt_config *c, wf_err *err);
/* Parses a Hugging Face config.json. Rejects what we do not implement
** (scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, unscaled
** attention) with a message naming the key. */
wf_status wf_gpt_config_load(const char *path, wf_gpt_config *c, wf_err *err);
/* Activation from its Hugging Face name: "gelu" (exact erf), or "gelu_new",
** "gelu_pytorch_tanh", "gelu_fast" (the tanh form). Returns -1 for others. */
int wf_gpt_activation_parse(const char *name);
/* Writes config.json that transformers' GPT2LMHeadModel loads. */
wf_status wf_gpt_config_save(const wf_gpt_config *c, const char *path, wf_err *err);
/* Checks internal consistency (divisibility, positive sizes); names the field. */
wf_status wf_gpt_config_validate(const wf_gpt_config *c, const char *where, wf_err *err);

static inline int wf_gpt_head_dim(const wf_gpt_config *c) { return c->n_embd / c->n_head; }

#endif
