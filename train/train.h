/* train.h — training a Cerebras-GPT model on the CPU: the per-layer training
** step (forward with saved activations, backward producing one block's
** gradient at a time), AdamW with torch semantics applied block by block,
** optimizer-state files, and the training loop with checkpoints and resume.
**
** Shaped for the execution modes of ARCHITECTURE.md: every buffer (weights,
** grads, Adam m, v) uses the layer-major layout of model/params.h, the step is
** exposed per block (wf_trainer_layer_forward/backward, wf_optim_update_block),
** so a weight store can stream layer k while layer k+1 computes and an MPI
** worker can reduce one block's gradients as soon as it is produced. */
#ifndef WF_TRAIN_H
#define WF_TRAIN_H

#include "kernels/adamw.h"
#include "model/config.h"
#include "model/params.h"
#include "sparse/sparse.h"

/* ---- the training step ---------------------------------------------------- */

/* Activations and scratch for one micro-batch [B,T] of one model config.
** Opaque; owns its memory. */
typedef struct wf_trainer wf_trainer;

/* B, T: micro-batch shape (T <= n_positions). recompute: keep only each
** layer's input and recompute the layer's forward during the backward (about
** 1/3 more FLOPs, activations of one layer instead of all). */
wf_status wf_trainer_new(const wf_gpt_config *c, int B, int T, int recompute, wf_heap *h,
                         wf_trainer **out, wf_err *err);
void wf_trainer_free(wf_trainer *t); /* NULL is a no-op */
/* bf16 compute (on = 1): the block GEMMs (qkv, attention projection, fc,
** fc projection; forward, dinp and dW) and the head's multiply bf16 operands
** with fp32 sums (kernels.h wf_gemm_bf16x, or wf_gemm_rbf16 rounding the fp32
** operands as it packs them where that has the same bits: AMX, or no bf16
** hardware). On AMX, attention's products take bf16 operands too (Q, K, V,
** dO, P, dS; exp, softmax statistics and lse stay fp32). Weights, gradients,
** optimizer state, layernorm, softmax and the loss stay fp32. Off (the
** default) is the fp32 path bit for bit. WF_ENOMEM if its scratch (2-byte
** copies of one layer's largest operands on the vdpbf16ps path; on AMX a
** 1024-row block of fp32 logits and the attention's per-thread tiles)
** cannot be allocated. */
wf_status wf_trainer_set_bf16(wf_trainer *t, int on, wf_err *err);
int wf_trainer_is_bf16(const wf_trainer *t);
/* Sparse weights (sparse/sparse.h): the masked block matrices the plan runs
** sparse use the sparse kernels (forward, input gradient, weight gradient at
** kept positions only); the rest stay on the dense (or bf16) path. The plan
** is borrowed, its N must equal B*T, and its values must mirror the weights
** passed to the step (wf_sparse_plan_refresh after each update). NULL: dense. */
void wf_trainer_set_sparse(wf_trainer *t, const wf_sparse_plan *p);
/* Bytes of activations and scratch the trainer holds. */
size_t wf_trainer_bytes(const wf_trainer *t);

/* Whole step for one micro-batch: forward, mean cross-entropy over the B*T
** targets, backward. inputs, targets: [B*T] ids in [0, V) (checked: WF_ERANGE
** naming the position). Gradients accumulate: g += grad_scale * dloss/dθ
** (grad_scale = 1/K for K accumulated micro-batches); zero g yourself first.
** *loss receives the mean loss of this micro-batch. */
wf_status wf_trainer_step(wf_trainer *t, const wf_gpt_view *w, wf_gpt_view *g,
                          const int32_t *inputs, const int32_t *targets, float grad_scale,
                          float *loss, wf_err *err);
/* Forward only: *loss = mean cross-entropy over the B*T targets. */
wf_status wf_trainer_loss(wf_trainer *t, const wf_gpt_view *w, const int32_t *inputs,
                          const int32_t *targets, float *loss, wf_err *err);

/* The same step, block by block, for executors that move weights themselves.
** Order: embed_forward, layer_forward l = 0..L-1, head (forward + loss +
** backward of ln_f and the tied head), layer_backward l = L-1..0,
** embed_backward. Each call only reads the weights of its own block (plus
** wte for the head) and only writes that block's gradient. */
wf_status wf_trainer_embed_forward(wf_trainer *t, const float *wte, const float *wpe,
                                   const int32_t *inputs, const int32_t *targets, wf_err *err);
void wf_trainer_layer_forward(wf_trainer *t, int l, const wf_gpt_layer *w);
/* Forward through ln_f and the head, loss, and (when g_lnf_w != NULL) the
** backward of the head: dwte += ..., g_lnf_w/g_lnf_b += ... Returns the mean loss. */
float wf_trainer_head(wf_trainer *t, const float *wte, const float *lnf_w, const float *lnf_b,
                      float *g_wte, float *g_lnf_w, float *g_lnf_b, float grad_scale);
void wf_trainer_layer_backward(wf_trainer *t, int l, const wf_gpt_layer *w, wf_gpt_layer *g);
void wf_trainer_embed_backward(wf_trainer *t, float *g_wte, float *g_wpe);

/* ---- the optimizer -------------------------------------------------------- */

/* Which tensors get weight decay. Values reach optimizer-state files: append only. */
typedef enum {
    WF_DECAY_MATRICES = 0, /* Conv1D weights only: no biases, LayerNorm, embeddings (default) */
    WF_DECAY_MATRICES_EMB, /* matrices and the wte/wpe embeddings */
    WF_DECAY_ALL,          /* every parameter (torch's default single group) */
    WF_DECAY_COUNT
} wf_decay_mode;

typedef struct {
    float beta1, beta2, eps; /* 0.9, 0.95, 1e-8 (docs/REFERENCE.md) */
    float weight_decay;      /* 0.1 */
    float clip;              /* global-norm clip; <= 0 disables. 1.0 */
    wf_decay_mode decay;
} wf_optim_opts;

void wf_optim_opts_default(wf_optim_opts *o);

/* AdamW state: m and v in the layer-major layout, and the step count. */
typedef struct {
    wf_gpt_config cfg;
    wf_optim_opts opts;
    float *m, *v;  /* [wf_gpt_numel], zero at step 0; owned, from heap */
    long step;     /* updates applied so far */
    wf_heap *heap; /* borrowed */
} wf_optim;

wf_status wf_optim_new(const wf_gpt_config *c, const wf_optim_opts *o, wf_heap *h, wf_optim **out,
                       wf_err *err);
/* The same without m and v (left NULL): the settings and step counter of an
** optimizer whose moments live elsewhere (an executor's store). */
wf_status wf_optim_new_state(const wf_gpt_config *c, const wf_optim_opts *o, wf_heap *h, wf_optim **out,
                             wf_err *err);
void wf_optim_free(wf_optim *o); /* NULL is a no-op */

/* Does tensor i of the model (wf_gpt_tensor_info order) get weight decay? */
int wf_optim_decays(const wf_optim *o, int tensor);
/* Index of the first tensor of block b (wf_gpt_block_numel floats at blk)
** holding a NaN or Inf, or -1. */
int wf_nonfinite_block(const wf_gpt_config *c, int b, const float *blk);
/* g[i] = g[i] + gm[i]: how K micro-batches' gradients are summed, in
** micro-batch order, by the resident loop, the streaming store and the
** data-parallel reduction alike (so all three give the same bits). */
void wf_grad_add(float *g, const float *gm, size_t n);
/* Sum of squares of block b's gradient (for the global norm). */
double wf_grad_block_sumsq(const wf_gpt_config *c, const float *grads, int b);
/* AdamW on block b with the given lr and gradient multiplier (clip coefficient),
** using step count o->step (increment it once per update before the blocks). */
void wf_optim_update_block(wf_optim *o, int b, float *weights, const float *grads, float lr,
                           float grad_scale);
/* The same update with block-local buffers (each wf_gpt_block_numel(b) floats):
** weights, grads, m, v of block b only, wherever they live (a weight store). */
void wf_optim_update_block_at(const wf_optim *o, int b, float *weights, const float *grads, float *m,
                              float *v, float lr, float grad_scale);
/* The same update for tensor `tensor` (wf_gpt_tensor_info order) over any n
** of its elements held contiguously (a sparse layer's kept weights, packed). */
void wf_optim_update_tensor(const wf_optim *o, int tensor, float *weights, const float *grads, float *m, float *v,
                            size_t n, float lr, float grad_scale);
/* The start of an update: the global norm of grads (*gnorm, pre-clip), the
** clip coefficient it returns, step++. Then update the blocks with it. */
float wf_optim_begin(wf_optim *o, const float *grads, float *gnorm);
/* Whole update: wf_optim_begin, then every block. */
void wf_optim_step(wf_optim *o, float *weights, const float *grads, float lr, float *gnorm);

/* ---- optimizer-state file ------------------------------------------------- */
/* File "optimizer.bin" in a checkpoint folder; little-endian, version 1:
**
**   offset  size       field
**   0       8          magic "WFOPTIM\0"
**   8       4          version (u32) = 1
**   12      4          section count n (u32)
**   16      8          file size in bytes (u64)
**   24      8          numel: floats in m and in v (u64) = wf_gpt_numel(cfg)
**   32      32*n       section table: name[16] NUL-padded, offset u64, size u64
**   ...                sections at 64-byte aligned offsets:
**     "state"  16 x u64: [0] step, [1] tokens seen, [2] data position,
**              [3..6] RNG state s[0..3], [7] seed, [8] decay mode,
**              [9] micro-steps per step K, [10] B, [11] T, [12] data dealing
**              (wf_deal: 0 in files written before it existed), [13] the peak
**              lr (the bits of a double), [14] bit 63 set when [13..15] hold
**              the schedule (0 in files written before), bits 48..55 its
**              wf_sched_kind, bits 0..47 the warm-up steps, [15] end_frac
**              (the bits of a double)
**     "hparams" 8 x f32: beta1, beta2, eps, weight_decay, clip, 0, 0, 0
**     "m"      numel x f32
**     "v"      numel x f32
** Readers check magic, version, sizes and that every section lies inside the
** file, and reject unknown versions with a message naming the file. */
#define WF_OPTSTATE_VERSION 1

/* How a run's micro-batches get their rows. SEQUENCES: row b of global
** micro-batch m is global sequence m x B + b (wf_shards_seqs), so a resume
** may split the step's sequences differently (the same accum x batch).
** ROWS: keyed by (m, b) (wf_shards_batch), runs started before SEQUENCES
** existed; they resume as they began. */
typedef enum { WF_DEAL_ROWS = 0, WF_DEAL_SEQUENCES = 1 } wf_deal;

typedef struct {
    uint64_t step, tokens, data_pos; /* data_pos: global micro-batches dealt */
    uint64_t rng[4];
    uint64_t seed;
    uint64_t accum, B, T;
    uint64_t deal; /* wf_deal */
    /* the lr schedule the run trains on, so a resume keeps it (has_sched 0:
    ** a file written before it was stored; the flags then decide) */
    int has_sched, sched; /* wf_sched_kind */
    double lr, end_frac;
    uint64_t warmup;
} wf_train_state;

wf_status wf_optstate_save(const char *path, const wf_optim *o, const wf_train_state *s, wf_err *err);
/* Loads into an existing optimizer of the same model (numel must match). */
wf_status wf_optstate_load(const char *path, wf_optim *o, wf_train_state *s, wf_err *err);

/* Block by block, for a model that is not in memory (exec/). save_fn asks
** get for m (which 0) then v (1) of every block in order. open checks the
** whole layout, reads state and hparams into *s and *opts and leaves m, v on
** disk; read_block fetches block b of m or v (a NaN/Inf is WF_ECORRUPT
** naming the tensor). */
typedef wf_status (*wf_moment_fn)(void *ud, int which, int b, const float **blk, wf_err *err);
wf_status wf_optstate_save_fn(const char *path, const wf_gpt_config *c, const wf_optim_opts *opts,
                              const wf_train_state *s, wf_moment_fn get, void *ud, wf_err *err);
typedef struct wf_optstate_file wf_optstate_file;
wf_status wf_optstate_open(const char *path, const wf_gpt_config *c, wf_optim_opts *opts, wf_train_state *s,
                           wf_optstate_file **out, wf_err *err);
wf_status wf_optstate_read_block(wf_optstate_file *f, int which, int b, float *dst, wf_err *err);
void wf_optstate_close(wf_optstate_file *f); /* NULL is a no-op */

/* ---- evaluation ----------------------------------------------------------- */
/* Mean cross-entropy over a token split read through `read(ud, pos, n, out)`:
** contiguous windows of T+1 tokens at positions 0, T, 2T, ... (each token is
** a target once; a tail shorter than T+1 is left out), B windows per forward,
** at most max_windows windows (0 = all). *tokens = targets scored. */
typedef wf_status (*wf_token_read_fn)(void *ud, uint64_t pos, size_t n, int32_t *out, wf_err *err);
wf_status wf_eval_loss(const wf_gpt_config *c, const float *weights, wf_token_read_fn read, void *ud,
                       uint64_t count, int B, int T, long max_windows, wf_heap *h, double *mean_loss,
                       uint64_t *tokens, wf_err *err);
/* The same with the masked block matrices on the sparse kernels where the
** plan picks them (mask NULL: dense). The mask's stored kernel choices are
** reused; undecided matrices are timed once and the choice written into it. */
wf_status wf_eval_loss_sparse(const wf_gpt_config *c, const float *weights, wf_sparse_mask *mask,
                              wf_token_read_fn read, void *ud, uint64_t count, int B, int T, long max_windows,
                              wf_heap *h, double *mean_loss, uint64_t *tokens, wf_err *err);

/* Data-parallel evaluation (wafer eval under mpirun): the windows of
** wf_eval_loss in wf_eval_batches(...) batches of B; batch j is scored by
** rank j mod size, which sets part[j] = its mean loss x its tokens; the
** others' entries are set to 0. Summing part over the ranks (each entry has
** one non-zero term: exact in any order), then over j in order, divided by
** *tokens (every rank's: all the windows x T), is wf_eval_loss's result bit
** for bit. */
uint64_t wf_eval_batches(uint64_t count, int B, int T, long max_windows);
wf_status wf_eval_loss_part(const wf_gpt_config *c, const float *weights, wf_sparse_mask *mask, wf_token_read_fn read,
                            void *ud, uint64_t count, int B, int T, long max_windows, int rank, int size, double *part,
                            uint64_t *tokens, wf_err *err);

/* ---- the training loop ---------------------------------------------------- */

/* An executor that runs the step in place of the resident path and owns the
** model: with one, the loop never holds the weights or the Adam moments
** (exec/exec.h fills one for --mode stream, whose store may be larger than
** memory). open: called once after setup/resume; the weights come from rd
** (each block read once, in order) and the moments from os (NULL: zeros,
** a fresh run); o's opts and step counter stay the loop's, update advances
** the counter. micro: one micro-batch, gradients accumulated with grad_scale
** (zeroed by the first micro of a step). update: clip + AdamW, o->step++.
** save: config.json, model.safetensors (sharded above max_shard bytes) and
** optimizer.bin (with state s) into dir, straight from where the model lives; a NaN/Inf weight or moment stops
** it with WF_ERANGE and what naming the tensor. eval: wf_eval_loss over the
** executor's weights. nonfinite: 1 and the first tensor holding NaN/Inf in
** what, or 0. close: NULL-safe end. */
typedef struct wf_ckpt_reader wf_ckpt_reader;
typedef struct wf_step_hooks {
    void *ud;
    wf_status (*open)(void *ud, const wf_gpt_config *c, wf_trainer *tr, wf_ckpt_reader *rd, wf_optstate_file *os,
                      wf_optim *o, const wf_sparse_mask *mask, wf_err *err);
    wf_status (*micro)(void *ud, const int32_t *in, const int32_t *tg, float grad_scale, float *loss,
                       wf_err *err);
    wf_status (*update)(void *ud, float lr, float *gnorm, wf_err *err);
    wf_status (*save)(void *ud, const char *dir, const wf_train_state *s, uint64_t max_shard, char *what, size_t cap,
                      wf_err *err);
    wf_status (*eval)(void *ud, wf_token_read_fn read, void *rud, uint64_t count, int B, int T, long max_windows,
                      double *mean_loss, uint64_t *tokens, wf_err *err);
    int (*nonfinite)(void *ud, char *what, size_t cap);
    void (*close)(void *ud);
    /* bytes the store has read and written so far (NULL: not reported); the
    ** loop logs each step's share */
    void (*traffic)(void *ud, uint64_t *read, uint64_t *written);
} wf_step_hooks;

/* Data parallelism (swarm/swarm.h fills one over MPI): `size` processes
** ("systems") run the same loop; each computes its own micro-batches of
** every step, global micro-batch m = step x size x accum + k x size + rank
** (its k-th; runs dealt by rows, WF_DEAL_ROWS: + rank x accum + k).
** reduce: on return rank 0's g holds the sum of every rank's g, added in
** rank order ((g_0 + g_1) + g_2) ... (the bits one process gets with
** --accum size x accum when accum = 1); others' g are undefined. bcast:
** rank 0's n floats to every rank. sum: rank 0 gets the sum of x over the
** ranks, in rank order. flag: every rank gets the largest of the ranks'
** values (a stop on any rank stops them all, at the same step). Only rank 0
** evaluates, logs and writes checkpoints; comm_s and comm_bytes count the
** time and bytes of the calls so far (rank 0's). */
typedef struct wf_dp_hooks {
    void *ud;
    int rank, size;
    wf_status (*reduce)(void *ud, const wf_gpt_config *c, float *g, wf_err *err);
    /* the same chain for one array of n floats (the streaming executor, per block) */
    wf_status (*reduce_block)(void *ud, float *g, size_t n, wf_err *err);
    wf_status (*bcast)(void *ud, float *x, size_t n, wf_err *err);
    wf_status (*sum)(void *ud, double *x, wf_err *err);
    wf_status (*flag)(void *ud, int *v, wf_err *err);
    /* every rank passes a one-line description of its run (binary, model,
    ** batch, data, resume point); WF_EUSAGE on every rank when any differs
    ** from rank 0's, naming the rank and both lines */
    wf_status (*agree)(void *ud, const char *mine, wf_err *err);
    /* Posted forms, run in posting order by a communication thread while the
    ** caller computes (NULL where MPI has no thread support: use the calls
    ** above). post_* return a ticket; wait(t) returns once every operation up
    ** to t has run, with the first failure; the buffers stay untouched by the
    ** caller until then. post_chain is reduce_block's chain. */
    long (*post_bcast)(void *ud, float *x, size_t n);
    long (*post_chain)(void *ud, float *g, size_t n);
    wf_status (*wait)(void *ud, long ticket, wf_err *err);
    double *comm_s;    /* seconds inside MPI operations */
    double *exposed_s; /* of which the caller waited (not hidden behind compute) */
    uint64_t *comm_bytes;
} wf_dp_hooks;

typedef struct {
    const char *model;    /* preset name (fresh weights) or HF folder (fine-tuning) */
    const char *data;     /* DATA_DIR of token shards (datasets/shards.h) */
    const char *out;      /* output folder: checkpoints, log.csv, loss.png */
    const char *tokenizer;/* folder to copy into checkpoints; NULL: the model folder's, if any */
    long steps;           /* optimizer steps; 0: from tokens */
    long long tokens;     /* training tokens when steps == 0 */
    int B, T, accum;      /* micro-batch [B,T] (T 0: min(n_positions, 1024)), K micro-batches per step */
    double lr;            /* peak; <= 0: the preset's recipe (wf_gpt_config.lr) or 6e-4 */
    long warmup;          /* steps; < 0: 5% of steps */
    int sched;            /* wf_sched_kind; < 0: the preset's (cosine flag) */
    double end_frac;      /* decay to end_frac * peak (0.1) */
    long eval_every;      /* steps between validation losses; 0: at the end only */
    long eval_windows;    /* validation windows per evaluation (0: all) */
    long save_every;      /* steps between checkpoints; 0: at the end only */
    long stop_at;         /* stop after this step, saving (resume later); 0: none */
    uint64_t seed;        /* init of a preset's weights and the data order */
    int resume;           /* continue from out/latest */
    int overwrite;        /* a fresh run may replace an earlier run's files in out (else out must be empty) */
    int keep;             /* newest checkpoints of this run kept in out; <= 0 keeps all (default 3) */
    uint64_t max_shard;   /* checkpoints above this many bytes are sharded HF folders; 0: 5 GB as transformers */
    unsigned optim_given; /* WF_OPTIM_GIVEN_* bits: flags the user set; on resume they replace the stored values */
    int adapt_threads;    /* the kernel thread count follows the load (wf_tune); 0: as set */
    int recompute;        /* activation recompute */
    int bf16;             /* block and head GEMMs on bf16 operands (wf_trainer_set_bf16); eval stays fp32 */
    double sparsity;      /* < 0 (default): keep the model's mask if it has one; 0: dense (drops a mask);
                          ** (0, 1): static masks on the block matrices, random (preset) or by magnitude (folder) */
    int sparsity_dist;    /* wf_sparse_dist of a new mask: WF_SPARSE_UNIFORM (default) or WF_SPARSE_ERK */
    int dense_finetune;   /* drop the mask of the model / resumed checkpoint and train dense (SPDF) */
    int sparse_kernels;   /* wf_sparse_kernels: AUTO times sparse vs dense per matrix; DENSE; SPARSE */
    int n_layer, n_embd, n_head, n_positions, vocab_size, n_inner; /* preset overrides; 0 keeps */
    int act;              /* preset override: 0 keeps, else 1 + wf_activation */
    wf_optim_opts optim;
    volatile int *stop;   /* set asynchronously (SIGINT): save and return; may be NULL */
    const wf_step_hooks *exec; /* NULL: resident step; else this executor (borrowed) */
    const wf_dp_hooks *dp;     /* NULL: one process; else data-parallel ranks (borrowed; the executor gets it via wf_exec_opts) */
} wf_train_opts;

enum {
    WF_OPTIM_GIVEN_BETA1 = 1, WF_OPTIM_GIVEN_BETA2 = 2, WF_OPTIM_GIVEN_EPS = 4,
    WF_OPTIM_GIVEN_WD = 8, WF_OPTIM_GIVEN_CLIP = 16, WF_OPTIM_GIVEN_DECAY = 32,
    WF_OPTIM_GIVEN_LR = 64, WF_OPTIM_GIVEN_WARMUP = 128, WF_OPTIM_GIVEN_SCHED = 256, WF_OPTIM_GIVEN_END = 512
};

void wf_train_opts_default(wf_train_opts *o);

typedef struct {
    long step;            /* steps done when the run returned */
    double last_loss, val_loss; /* val_loss < 0: none */
    double tokens_per_s;
    int interrupted;      /* stopped by *stop */
    char checkpoint[1100];/* the last checkpoint written */
} wf_train_result;

/* Runs training. Checkpoints are out/ckpt-NNNNNNNN/ (config.json,
** model.safetensors, tokenizer files when known, optimizer.bin, and
** sparse_mask.bin for a sparse run: masked weights and their Adam moments
** are exactly zero, the safetensors hold the zeros), built in
** out/ckpt-NNNNNNNN.tmp-PID and renamed when complete; out/latest names the
** newest and is replaced atomically only after it is in place, so a failed or
** interrupted save leaves the previous checkpoint in force. Weights or
** optimizer state holding NaN/Inf are never saved: the run stops with an error
** naming the step and tensor. A fresh run refuses a non-empty out unless
** o->overwrite; retention (o->keep) removes only checkpoints listed in
** out/checkpoints.txt (written by this run and the runs it resumed), never
** through a symlink, never a folder holding files wafer did not write
** (train/outdir.c). Progress goes to wf_log (INFO), one line per step. */
wf_status wf_train_run(const wf_train_opts *o, wf_train_result *r, wf_err *err);

/* One series of wf_plot_series_png: n points (x[i], y[i]); NaN points are skipped. */
typedef struct {
    const double *x, *y;
    int n;
    const char *label; /* legend text: lower-case letters, digits, . - + % ( ) / = */
} wf_plot_series;
/* Writes a PNG chart of ns series (lines with a square per point, a legend). */
wf_status wf_plot_series_png(const char *path, const wf_plot_series *s, int ns, const char *xlabel,
                             const char *ylabel, wf_err *err);

/* Writes a PNG loss curve (train loss line, validation points) of n points. */
wf_status wf_plot_loss_png(const char *path, const long *step, const double *loss,
                           const double *val, int n, wf_err *err);

#endif
