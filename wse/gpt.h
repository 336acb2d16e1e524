/* gpt.h — a Cerebras-GPT-style model's forward on the simulated fabric. */
#ifndef WF_WSE_GPT_H
#define WF_WSE_GPT_H

#include "model/config.h"
#include "wse/wse.h"

/* ---- the tiny model forward on the fabric (wse/gpt.c) ---------------------------
** Weight-streaming style: per layer, LayerNorm, the qkv / proj / fc / fc-proj
** multiplies (wf_wse_mm_run, fp32, weights streamed in), bias adds, attention,
** GELU and residuals each run on the simulated fabric; the host only gathers
** the embeddings and moves tensors between launches (standing in for the
** activations staying on the wafer). weights: the model/params.h layout.
** logits [T, V] for one sequence. */
/* Execution modes of the forward. STREAM: activations resident, weights
** stream in (above). PIPELINED: one fabric, every layer's weights resident
** on regions of its own (attention: a PE per head; MLP and LM head: a PE per
** slice of columns), the tokens flowing region to region over the fabric,
** layers working on different tokens at once (wse/pipe.c has the layout,
** docs/wse-model.md the figure). */
enum { WF_WSE_STREAM, WF_WSE_PIPELINED };
#define WF_WSE_MAX_LAYERS 64
typedef struct {
    char name[16];        /* "attention", "mlp", "head" */
    int layer;            /* -1 for the head */
    int x, pes;           /* first column, PEs (one row) */
    uint64_t busy, active; /* PE-cycles of the batch: core busy; busy or moving data */
} wf_wse_region;
typedef struct {
    uint64_t mm_cycles, vec_cycles, io_cycles;
    uint64_t layer_mm_cycles[WF_WSE_MAX_LAYERS]; /* per layer: its four multiplies */
    uint64_t head_mm_cycles;                     /* the LM head multiply(s) */
    /* pipelined mode: the batch on one fabric */
    uint64_t batch_cycles;       /* first embedding in to the last logit computed */
    uint64_t first_token_cycles; /* launch to token 0's logits (the pipeline's depth) */
    double token_interval;       /* cycles between tokens leaving the pipeline, on average */
    int nregion;
    wf_wse_region region[2 * WF_WSE_MAX_LAYERS + 1];
    double wall_s;
} wf_wse_gpt_stats;
/* The forward of one sequence (T tokens) in `mode`; prof (may be NULL)
** records where the cycles go (wse.h; pipelined mode: one span for the batch). */
wf_status wf_wse_gpt_forward(const wf_gpt_config *cfg, const float *weights, const int32_t *ids, int T, int mode,
                             float *logits, wf_wse_gpt_stats *st, wf_wse_prof *prof, wf_err *err);

/* Pipelined mode alone (wf_wse_gpt_forward with WF_WSE_PIPELINED calls it).
** WF_EUSAGE when the layers do not fit a row of 750 PEs, WF_ESRAM naming
** the region when a PE's share does not fit its SRAM (the KV cache grows
** with T). trace (may be NULL): a Perfetto trace of the batch on the one fabric,
** every PE's tasks and hops (sdk/diag.h), which shows the pipeline. */
wf_status wf_wse_gpt_pipelined(const wf_gpt_config *cfg, const float *weights, const int32_t *ids, int T,
                               float *logits, wf_wse_gpt_stats *st, wf_wse_prof *prof, const char *trace,
                               wf_err *err);

/* One training step's forward and backward on the simulated fabric for one
** sequence of T tokens: *loss = mean cross-entropy over the T targets, and
** grads (the model/params.h layout) += d loss / d weights, as
** wf_trainer_step with grad_scale 1. Weight gradients leave the fabric after
** each multiply and are summed into grads on the host (the store's side);
** embeddings are gathered / scattered on the host. The optimizer is the
** host's (the store runs AdamW). prof (may be NULL) records where the
** step's cycles go (wse.h). */
wf_status wf_wse_gpt_step(const wf_gpt_config *cfg, const float *weights, float *grads, const int32_t *inputs,
                          const int32_t *targets, int T, float *loss, wf_wse_gpt_stats *st, wf_wse_prof *prof,
                          wf_err *err);

#endif
