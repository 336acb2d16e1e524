/* wse.h — transformer work on the simulated Wafer-Scale Engine: the
** weight-streaming matrix multiply (activations resident on the fabric, the
** weights streaming in at the west edge chunk by chunk) and its analytic
** cycle model, which the planner (plan/) scales to real model widths.
**
** The mapping (docs/wse-model.md has the figure): Y[T,N] = X[T,K] W[K,N] on
** kx x ky PEs. Tokens are split over the kx columns (tr = T/kx each), the
** reduction dimension K over the ky rows (kc = K/ky each); PE (c, r) holds
** the activation tile X[c*tr .. , r*kc ..] (tr x kc) for the whole run. W
** streams in as N/nb chunks of nb output columns: row r's slice of chunk j
** (W[r*kc.., j*nb..], kc x nb) enters PE (0, r) from the host (streaming
** memcpy, sdk/host.h) and is multicast east along the row. Every PE forms
** its partial P = X_tile . W_slice (tr x nb) with tr*kc vector ops of nb
** elements (fmacs in fp32, fmach in fp16, fmachs in mixed precision:
** dst = P + W[k,:] * X[t,k]), and
** the partials are summed down each column in a pipelined chain (colors
** alternating per row, as in examples/gemv.c); row ky-1 holds Y. Weights and
** partials are double-buffered, so receiving chunk j+1, computing chunk j and
** reducing chunk j-1 overlap.
**
** Operation order (the host reference wf_wse_mm_ref follows it exactly):
** P[t][n] = ((0 + W[0][n]*X[t][0]) + W[1][n]*X[t][1]) + ... over the PE's kc
** rows (fp32: product and sum each rounded; fp16: fused, rounded once), then
** Y = ((P_row0 + P_row1) + P_row2) + ... . */
#ifndef WF_WSE_H
#define WF_WSE_H

#include "../fabric/fabric.h"

/* ---- where the cycles go (wse/prof.c) -----------------------------------------
** A step profile: every launch and every host memcpy of the kernels below is
** one span on the step's timeline, labelled with the layer, the pass and the
** op. Per span, PE-cycles are split into compute (core busy: tasks, DSD ops,
** task switches), fabric transfer (the PE's router or microthreads moved
** data while its core was not busy: wf_pe_stats.active - busy) and idle
** (pes x cycles - active); edge I/O is the cycles in which the fabric's
** west edge took the streamed operand in (a multiply streams its K x N
** operand in over its ky rows at one wavelet per row per cycle: kc*N
** cycles, overlapped with compute). That operand is the weights in
** weight-streaming mode and the tokens when the weights are resident.
** Host memcpy spans are the host moving activations between launches (copy
** mode): they stand in for activations that would stay on the wafer, so
** they are kept apart from the fabric's own cycles. */
typedef enum {
    WF_WSE_SPAN_MATMUL, WF_WSE_SPAN_VECTOR, WF_WSE_SPAN_MEMCPY,
    WF_WSE_SPAN_PIPELINE, /* a whole batch through the pipelined layout */
    WF_WSE_SPAN_KINDS
} wf_wse_span_kind;
typedef struct {
    char name[40];         /* "matmul 64x64x192", "layernorm", "memcpy in", ... */
    int layer;             /* 0.. for a transformer block, -1 outside one (embeddings, ln_f, head) */
    int backward;          /* 0 forward, 1 backward */
    int kind;              /* wf_wse_span_kind */
    uint64_t start, cycles; /* on the step's timeline (spans follow one another) */
    uint64_t pes;          /* PEs of the fabric it ran on */
    uint64_t busy, active; /* PE-cycles: core busy; core busy or moving data */
    uint64_t edge;         /* cycles of inflow at the west edge (matmul): weights, or tokens if W is resident */
    uint64_t flops;
} wf_wse_span;
typedef struct {
    uint64_t cycles, pe_cycles, compute, transfer, idle, edge, flops; /* fabric spans (matmul + vector) */
    uint64_t memcpy_cycles;                                          /* host memcpy spans */
} wf_wse_sum;
typedef struct wf_wse_prof wf_wse_prof;
wf_status wf_wse_prof_new(wf_wse_prof **out, wf_err *err);
void wf_wse_prof_free(wf_wse_prof *p); /* NULL is a no-op */
void wf_wse_prof_clear(wf_wse_prof *p);
/* The label of the spans that follow (NULL p is a no-op). */
void wf_wse_prof_at(wf_wse_prof *p, int layer, int backward);
/* A launch: call begin before it and end after it on the same fabric
** (NULL p: no-ops). end reads the fabric's per-PE counters, so the span
** gets the PE-cycles of that launch alone, and adds its busy cycles to the
** step's heatmap at each PE's position. */
void wf_wse_prof_begin(wf_wse_prof *p, const wf_fabric *f);
void wf_wse_prof_end(wf_wse_prof *p, const wf_fabric *f, int kind, const char *name, uint64_t edge, uint64_t flops);
/* A host memcpy of `cycles` on a fabric of `pes` PEs. */
void wf_wse_prof_memcpy(wf_wse_prof *p, const char *name, uint64_t pes, uint64_t cycles);
/* Memory for a span or the heatmap grid failed at some point: the profile is
** incomplete. Reported by the writers. */
int wf_wse_prof_failed(const wf_wse_prof *p);
size_t wf_wse_prof_count(const wf_wse_prof *p);
const wf_wse_span *wf_wse_prof_span(const wf_wse_prof *p, size_t i);
/* Sums of the spans with layer == `layer` (WF_WSE_ALL: every span). */
#define WF_WSE_ALL (-2)
void wf_wse_prof_sum(const wf_wse_prof *p, int layer, wf_wse_sum *out);
/* A Perfetto / Chrome trace of the step: one track per kind (matmul, vector,
** host memcpy), one complete event per span at its place on the timeline
** (1 cycle = 1 us of trace time), args: layer, pass, PEs, compute /
** transfer / idle PE-cycles, edge cycles, flops. Written through wf_ofile_open. */
wf_status wf_wse_prof_write_trace(const wf_wse_prof *p, const char *path, wf_err *err);
/* A PNG heatmap (sdk/diag.h's scale) of busy cycles per PE over the step,
** every launch placed at the fabric origin as it ran. */
wf_status wf_wse_prof_write_heatmap(const wf_wse_prof *p, const char *path, wf_err *err);

typedef struct {
    int T, K, N;     /* Y[T,N] = X[T,K] W[K,N] */
    int kx, ky;      /* PE grid: T split over kx columns, K over ky rows (both must divide) */
    int nb;          /* output columns per streamed chunk (divides N) */
    int fp16;        /* 0: fp32 (fmacs, 1/cycle); 1: fp16 operands and sums (fmach, 4/cycle);
                     ** 2: fp16 operands, fp32 sums as the CS-2 trains (fmachs, 4/cycle), fp32 Y */
    int store;       /* 1: keep Y on the bottom row and return it; 0: time only (X, W by formula) */
    int threads;     /* simulator threads, 0 = 1 */
    const wf_cost_model *cost; /* NULL = wf_cost_wse2 */
    const char *trace;         /* NULL, or a Perfetto trace file of the multiply (sdk/diag.h) */
    const char *heatmap;       /* NULL, or a PNG heatmap of busy cycles per PE */
    wf_wse_prof *prof;         /* NULL, or the step profile the multiply's spans go to */
    const char *what;          /* the span's name (NULL: "matmul"); the shape is appended */
    const struct wf_defects *defects; /* NULL, or lay the kx x ky grid around these (sdk/defects.h) */
} wf_wse_mm_cfg;

typedef struct {
    uint64_t cycles;         /* from the launch to the last partial reduced (the matmul itself) */
    uint64_t io_cycles;      /* copy-mode memcpy of X and Y (not part of cycles) */
    uint64_t flops;          /* 2*T*K*N */
    double wall_s;           /* host wall time inside the simulator */
} wf_wse_mm_stats;

/* Checks cfg: sizes, divisibility, the per-PE SRAM (48 KB less the code
** reserve). WF_EUSAGE / WF_ESRAM naming the field. */
wf_status wf_wse_mm_check(const wf_wse_mm_cfg *c, wf_err *err);

/* Runs the multiply on a simulated kx x ky fabric. X is T x K, W is K x N,
** Y is T x N, all row-major fp32 (fp16 mode rounds X and W to fp16 first and
** returns the fp16 results widened). With c->store == 0, X, W and Y may be
** NULL: the inputs come from a formula and nothing is returned but stats. */
wf_status wf_wse_mm_run(const wf_wse_mm_cfg *c, const float *X, const float *W, float *Y,
                        wf_wse_mm_stats *st, wf_err *err);

/* The host reference in the kernel's operation order (bit-identical). */
void wf_wse_mm_ref(const wf_wse_mm_cfg *c, const float *X, const float *W, float *Y);

/* The analytic cycle model of wf_wse_mm_run's `cycles` (docs/wse-model.md):
** pipeline fill + chunks x max(compute, weight inflow, reduce) per chunk.
** Checked against simulations in tests/wse. */
typedef struct {
    double fill;            /* cycles before the first chunk's compute can start, plus the drain */
    double per_chunk;       /* steady-state cycles per chunk (the bottleneck below) */
    double compute_chunk;   /* one PE's core: tr*kc ops of dsd_setup + ceil(nb/width), + task overhead */
    double inflow_chunk;    /* kc*nb wavelets into each row at 1 per cycle */
    double reduce_chunk;    /* tr*nb wavelets down each column link at 1 per cycle */
    double total;           /* fill + chunks * per_chunk */
} wf_wse_mm_model;
void wf_wse_mm_predict(const wf_wse_mm_cfg *c, const wf_cost_model *cm, wf_wse_mm_model *out);

/* ---- row-wise and attention kernels (wse/vec.c) ------------------------------
** One kernel on a row of np PEs; each launch runs one op on every PE that has
** work. Inputs and outputs move by copy-mode memcpy per PE. Cycles: fadds /
** fsubs / fmuls are DSD ops (charged by the cost model); reductions (row
** sums), erf and exp are scalar work charged with wf_pe_charge at
** WF_WSE_SCALAR_CYCLES per element (an *open* parameter: no public figure for
** the PE's scalar/transcendental throughput). fp32 throughout. */
#define WF_WSE_SCALAR_CYCLES 4

typedef struct wf_wse_vec wf_wse_vec;
typedef struct {
    uint64_t compute_cycles, io_cycles, launches;
} wf_wse_vec_stats;

/* np PEs (1..750). */
wf_status wf_wse_vec_new(int np, wf_wse_vec **out, wf_err *err);
void wf_wse_vec_free(wf_wse_vec *v); /* NULL is a no-op */
/* Spans of later launches and memcpys go to p (NULL: none); p is borrowed. */
void wf_wse_vec_set_prof(wf_wse_vec *v, wf_wse_prof *p);
const wf_wse_vec_stats *wf_wse_vec_stats_get(const wf_wse_vec *v);

/* out[N,C] = LayerNorm(x) * w + b, one row per PE (N <= np, C <= 512);
** mean and variance summed in double as kernels/layernorm.c does. */
wf_status wf_wse_layernorm(wf_wse_vec *v, float *out, const float *x, const float *w, const float *b, int N, int C,
                           float eps, wf_err *err);
/* out[N,C] = x + bias[C] (bias may be NULL) + r (may be NULL), per row. */
wf_status wf_wse_add(wf_wse_vec *v, float *out, const float *x, const float *bias, const float *r, int N, int C,
                     wf_err *err);
/* out[n] = exact GELU(x[n]) (erf), rows of C <= 512. */
wf_status wf_wse_gelu(wf_wse_vec *v, float *out, const float *x, int N, int C, wf_err *err);
/* Causal attention over qkv[T, 3C] -> out[T, C], one head per PE (H <= np,
** 3*T*D <= 3072 floats). Scores scaled by 1/sqrt(D); softmax per row. */
wf_status wf_wse_attention(wf_wse_vec *v, float *out, const float *qkv, int T, int C, int H, wf_err *err);

/* Backward ops. LayerNorm: dx [N,C] and dyxh = dy * xhat [N,C] (whose column
** sums are dw; the column sums of dy are db). GELU: dx = gelu'(x) * dy.
** Attention: dqkv [T,3C] from dout [T,C] (probabilities recomputed).
** Cross-entropy of logits rows [N,V]: dlogits = (softmax - onehot) * scale
** and losses [N] (nats); targets checked (WF_ERANGE naming the row). */
wf_status wf_wse_layernorm_backward(wf_wse_vec *v, float *dx, float *dyxh, const float *dy, const float *x,
                                    const float *w, int N, int C, float eps, wf_err *err);
wf_status wf_wse_gelu_backward(wf_wse_vec *v, float *dx, const float *x, const float *dy, int N, int C, wf_err *err);
wf_status wf_wse_attention_backward(wf_wse_vec *v, float *dqkv, const float *dout, const float *qkv, int T, int C,
                                    int H, wf_err *err);
wf_status wf_wse_crossentropy(wf_wse_vec *v, float *dlogits, float *losses, const float *logits,
                              const int32_t *targets, int N, int V, float scale, wf_err *err);

#endif
