/* plan.h — the training-time planner: how long a model takes to train on
** K simulated CS-2 systems. Grounded in the simulator: every matrix multiply
** of a layer is mapped onto the 750 x 994 fabric as the weight-streaming
** kernel of wse/ (tokens over columns, K over rows, N over row groups), and
** its cycles come from that kernel's cycle model (wf_wse_mm_predict), which
** tests/wse checks against full simulations at sizes where both run. The
** planner then multiplies out to layers, micro-batches, steps and tokens and
** adds the weight / gradient transfer time of MemoryX and SwarmX from the
** bandwidth parameters below. docs/wse-model.md lists every parameter with
** its source. */
#ifndef WF_PLAN_H
#define WF_PLAN_H

#include "../fabric/fabric.h"

typedef struct {
    const char *name;
    int layers, d, heads, ffn, vocab, seq;
    int batch_seqs;         /* global batch in sequences per step */
    const char *source;
} wf_plan_model;

/* The built-in models (REFERENCE.md "Cerebras-GPT"; GPT-J from its model
** card). NULL when unknown. wf_plan_presets lists them, NULL-terminated. */
const wf_plan_model *wf_plan_preset(const char *name);
extern const wf_plan_model wf_plan_presets[];

enum { WF_PLAN_STREAM, WF_PLAN_PIPELINED };

typedef struct {
    const wf_plan_model *model;
    double tokens;            /* training tokens */
    int systems;              /* CS-2s, data parallel (default 1) */
    int mode;                 /* WF_PLAN_STREAM or WF_PLAN_PIPELINED */
    double sparsity;          /* fraction of zero weights, 0 <= s < 1 */
    double clock_hz;          /* *open*: default 1.1 GHz, implied by 7.5 PF/CS-2; vendor scripts use 850 MHz */
    double price_per_hour;    /* per system; 0 = no cost line */
    int pe_w, pe_h;           /* program rectangle: 750 x 994 */
    double io_bytes_per_s;    /* per system, MemoryX/SwarmX <-> wafer: 150e9 (1.2 Tb/s) */
    double weight_bytes;      /* bytes per streamed weight and per gradient: 2 (fp16/bf16) */
    double update_params_per_s; /* MemoryX optimizer throughput; *open*: 1e10 */
    double swarmx_level_s;    /* latency per SwarmX tree level; *open*: 1e-6 */
    int max_tr;               /* most tokens per PE column in one micro-batch pass: 0 = 128 */
} wf_plan_opts;

/* Defaults for everything but model and tokens. */
void wf_plan_defaults(wf_plan_opts *o);

/* One matrix multiply of a layer as mapped onto the fabric. */
typedef struct {
    const char *name;         /* "qkv", "proj", "fc1", "fc2", "lm_head" */
    int K, N;                 /* Y[T,N] = X[T,K] W[K,N] */
    int tr, kc, nb, ky, groups; /* tokens per column, K per row, chunk, rows per group, groups */
    double cycles;            /* one forward pass of the micro-batch (model) */
    double efficiency;        /* useful FMAs / (PEs x width x cycles) */
} wf_plan_mm;

typedef struct {
    /* the micro-batch */
    int micro_tokens;         /* tokens resident on one system per pass */
    int accum;                /* passes per step per system */
    double steps;
    /* one layer, one micro-batch, training (fwd + bwd), in cycles */
    wf_plan_mm mm[5];
    int nmm;                  /* 4 per layer + the LM head */
    double layer_matmul_cycles, layer_attn_cycles, layer_vector_cycles, layer_compute_cycles;
    double layer_io_cycles;   /* weights in twice + gradients out, at io_bytes_per_s */
    double layer_cycles;      /* max(compute, io): the next layer streams while this one computes */
    double head_cycles;       /* LM head + cross-entropy, training */
    double step_exposed_s;    /* MemoryX update of one layer + SwarmX latency, per step */
    /* totals */
    double step_s, days;
    double flops;             /* model FLOPs: 6 N T + attention */
    double sustained;         /* FLOP/s over all systems */
    double peak;              /* PEs x 8 FLOP/cycle (4 fp16 FMAs) x clock x systems */
    double utilisation;
    double cost;              /* days x 24 x price x systems */
    double params;            /* parameters (incl. embeddings) */
} wf_plan_result;

/* Errors (WF_EUSAGE / WF_ESRAM) name the option and the problem. */
wf_status wf_plan_run(const wf_plan_opts *o, wf_plan_result *r, wf_err *err);

/* Grounding at real width: simulates a slice of multiply m as the planner
** mapped it (the same tr, kc, nb and all m->ky rows, so the real K
** reduction and per-PE tiles, but `cols` token columns and `chunks` output
** chunks) and returns the simulated and the modelled cycles of that slice. */
typedef struct {
    int cols, rows, chunks;
    double sim_cycles, model_cycles, wall_s, pe_cycles_per_s;
} wf_plan_check;
wf_status wf_plan_check_sim(const wf_plan_opts *o, const wf_plan_mm *m, int cols, int chunks, wf_plan_check *out,
                            wf_err *err);

#endif
