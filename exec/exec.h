/* exec.h — the streaming executor (--mode stream): the "device" holds the
** activations of one micro-batch (the trainer) and at most one layer's
** weights and gradient at a time, plus the embedding and final-norm blocks;
** everything else lives in a weight store (store/store.h). Forward streams
** the layers in, backward streams them in reverse and sends each layer's
** gradient back to the store at once; the store accumulates micro-batches,
** takes the global norm (from per-block sums taken as gradients arrive),
** clips and applies AdamW block by block. Same bits as the resident step. */
#ifndef WF_EXEC_H
#define WF_EXEC_H

#include "store/store.h"
#include "train/train.h"

typedef struct {
    const char *store_dir; /* NULL: RAM store; else the disk store's folder */
    size_t device_mem;     /* bytes the device side may hold; 0 = no limit */
    const char *trace;     /* NULL, or a Chrome/Perfetto trace file for wf_exec_write_trace */
    const wf_dp_hooks *dp; /* SwarmX (swarm/swarm.h): the store on rank 0, every layer's weights broadcast
                           ** to the ranks, each layer's gradients chained back in rank order; NULL alone */
} wf_exec_opts;

typedef struct wf_exec wf_exec;

wf_status wf_exec_new(const wf_exec_opts *o, wf_exec **out, wf_err *err);
void wf_exec_free(wf_exec *x); /* NULL is a no-op */
/* Fills hooks for wf_train_opts.exec; valid while x lives. */
void wf_exec_hooks(wf_exec *x, wf_step_hooks *h);
/* Device-side bytes of the streaming step of c with a trainer of tr_bytes. */
size_t wf_exec_device_bytes(const wf_gpt_config *c, size_t tr_bytes);
/* Writes the timeline to o->trace (a no-op without one): track 0 the
** device's compute spans (embed/layer fwd and bwd, head, adamw per block)
** and its store calls (waits included), track 1 the store's I/O thread
** (prefetch, write-behind). */
wf_status wf_exec_write_trace(wf_exec *x, wf_err *err);
/* wf_eval_loss without holding the model: the weights stream from an open
** checkpoint folder (model/checkpoint.h, not a random initialisation) a
** layer at a time, every layer read once per batch of B windows (the page
** cache keeps a model that fits in RAM warm; one that does not is read from
** disk each time). Same bits as wf_eval_loss. Device memory: the
** embeddings, ln_f, one layer, one layer's activations. */
wf_status wf_exec_eval_reader(wf_ckpt_reader *rd, const wf_gpt_config *c, wf_token_read_fn read, void *rud,
                              uint64_t count, int B, int T, long max_windows, double *mean_loss, uint64_t *tokens,
                              wf_err *err);
/* The store in use (NULL before open). */
wf_store *wf_exec_store(wf_exec *x);

/* Memory of one training configuration in each mode (bytes). */
typedef struct {
    size_t params;        /* parameter count */
    size_t acts;          /* activations + scratch of one micro-batch (the trainer) */
    size_t resident;      /* --mode resident: 16 B/param (w, grad, m, v) + acts */
    size_t stream_device; /* --mode stream, device side: acts + a layer, the embeddings, ln_f, update scratch */
    size_t stream_store;  /* the store: 16 B/param, in RAM or on disk */
    size_t stream_ram;    /* --mode stream, host RAM, RAM store: device side + store */
    size_t stream_disk;   /* --mode stream, host RAM, disk store: the device side (checkpoints, evaluation and resume stream too) */
} wf_exec_plan;

/* Fills p for micro-batch [B,T] (the trainer is sized without touching its pages). */
wf_status wf_exec_plan_for(const wf_gpt_config *c, int B, int T, int recompute, wf_exec_plan *p, wf_err *err);
/* --mode auto: returns 1 (stream) when p->resident exceeds limit (0: the
** machine's available memory, /proc/meminfo MemAvailable), writing one line
** into why that says which and why. */
int wf_exec_auto_stream(const wf_exec_plan *p, size_t limit, char *why, size_t cap);

#endif
