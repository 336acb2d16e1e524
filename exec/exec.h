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
} wf_exec_opts;

typedef struct wf_exec wf_exec;

wf_status wf_exec_new(const wf_exec_opts *o, wf_exec **out, wf_err *err);
void wf_exec_free(wf_exec *x); /* NULL is a no-op */
/* Fills hooks for wf_train_opts.exec; valid while x lives. */
void wf_exec_hooks(wf_exec *x, wf_step_hooks *h);
/* Device-side bytes of the streaming step of c with a trainer of tr_bytes. */
size_t wf_exec_device_bytes(const wf_gpt_config *c, size_t tr_bytes);
/* The store in use (NULL before open). */
wf_store *wf_exec_store(wf_exec *x);

#endif
