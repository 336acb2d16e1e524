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
** stream in (above). PIPELINED: weights stationary, activations flowing:
** each multiply keeps its weight matrix resident on the PEs (W^T split over
** columns and rows as the kernel's resident operand) and streams the tokens
** through in chunks (Y^T = W^T X^T). Each multiply has a fabric of its own;
** a single fabric with one region per layer and the activations handed from
** region to region is not built (docs/wse-model.md). */
enum { WF_WSE_STREAM, WF_WSE_PIPELINED };
#define WF_WSE_MAX_LAYERS 64
typedef struct {
    uint64_t mm_cycles, vec_cycles, io_cycles;
    uint64_t layer_mm_cycles[WF_WSE_MAX_LAYERS]; /* per layer: its four multiplies */
    uint64_t head_mm_cycles;                     /* the LM head multiply(s) */
    double wall_s;
} wf_wse_gpt_stats;
wf_status wf_wse_gpt_forward(const wf_gpt_config *cfg, const float *weights, const int32_t *ids, int T, int mode,
                             float *logits, wf_wse_gpt_stats *st, wf_wse_prof *prof, wf_err *err);

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
