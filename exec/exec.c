/* exec.c — the streaming executor (exec.h). Device buffers: the embedding
** block's weights and gradient, the final norm's, one layer's weights and one
** layer's gradient, and AdamW scratch (m, v) of the largest block. */
#include "exec/exec.h"

#include <stdio.h>
#include <string.h>

#include "kernels/adamw.h"
#include "model/checkpoint.h"

struct wf_exec {
    wf_exec_opts o;
    wf_gpt_config cfg;
    wf_trainer *tr;  /* borrowed from the loop */
    wf_optim *opt;   /* borrowed: opts and the step counter */
    wf_store *st;
    int nb, micro;   /* micro-batches accumulated in the current step */
    float *emb_w, *emb_g, *lnf_w, *lnf_g, *lay_w, *lay_g, *m, *v;
    /* Layer slots: layer l's weights in lw[l % S], its gradient in lg[l % S]
    ** (half: its H copy staged in stg[l % S]). S = 2 when a swarm posts its
    ** broadcasts and chains (one layer moves while the next computes), else 1;
    ** slot 0 is lay_w, lay_g and v. */
    float *lw[2], *lg[2], *stg[2];
    int S;
    /* A sparse model (wf_sparse_pack_layer): the store holds and the device
    ** receives each layer's kept weights only; pn[l] floats per layer. The
    ** gradient leaves as packed too (pg[slot]), summed and chained packed. */
    const wf_sparse_mask *mask;
    size_t *pn, *ph; /* floats of a packed layer, and of its bf16 copy (--bf16; ph = pn + n_layer) */
    float *pg[2];
    float *hs;       /* --bf16 with a mask: a packed layer widened from its bf16 copy */
    struct { long t; int b; float *g; } pend[8]; /* gradient chains posted, not yet landed (FIFO) */
    int npend;
    double *sumsq;   /* [nb] sum of squares of each block's accumulated gradient */
    wf_timeline *tl; /* --trace: spans of compute (track 0) and store I/O (1) */
    int half;        /* --bf16: layers stream as their H copies (bf16 matrices), half the bytes */
    const wf_dp_hooks *dp; /* SwarmX: the store on rank 0, layers broadcast, gradients chained back */
};

/* Holds the store (one process, or rank 0 of a swarm). */
static int root(const wf_exec *x) { return !x->dp || x->dp->rank == 0; }

static void pf(wf_exec *x, wf_store_kind k, int b) {
    if (root(x)) wf_store_prefetch(x->st, k, b);
}

/* A swarm whose calls can be posted (a communication thread runs them). */
static int async(const wf_exec *x) { return x->dp && x->dp->post_bcast; }

/* Block b travels packed, every kind of it (a layer of a sparse model). */
static int packed(const wf_exec *x, int b) { return x->mask && b >= 1 && b <= x->cfg.n_layer; }

/* Floats of block b of kind k as stored and moved. */
static size_t moved(const wf_exec *x, wf_store_kind k, int b) {
    if (!packed(x, b)) return wf_store_numel(&x->cfg, k, b);
    return k == WF_STORE_HALF ? x->ph[b - 1] : x->pn[b - 1];
}

/* Block b of kind k from the store into dst in the dense layout; a packed
** block goes through scratch (a buffer of the block's size). */
static wf_status read_dense(wf_exec *x, wf_store_kind k, int b, float *dst, float *scratch, wf_err *err) {
    if (!packed(x, b)) return wf_store_read(x->st, k, b, dst, err);
    wf_status rc = wf_store_read(x->st, k, b, scratch, err);
    if (!rc) wf_sparse_unpack_layer(x->mask, b - 1, scratch, dst);
    return rc;
}

/* Block b of kind k (dense layout, masked positions zero) into the store. */
static wf_status write_dense(wf_exec *x, wf_store_kind k, int b, const float *src, float *scratch, wf_err *err) {
    if (!packed(x, b)) return wf_store_write(x->st, k, b, src, err);
    wf_sparse_pack_layer(x->mask, b - 1, src, scratch);
    return wf_store_write(x->st, k, b, scratch, err);
}

/* Block b's fp32 weights onto every rank's device: rank 0 reads its store,
** the others receive them (SwarmX's weight broadcast). */
static wf_status dev_read(wf_exec *x, wf_store_kind k, int b, float *dst, wf_err *err) {
    wf_status rc = root(x) ? wf_store_read(x->st, k, b, dst, err) : WF_OK;
    if (!rc && x->dp) rc = x->dp->bcast(x->dp->ud, dst, wf_store_numel(&x->cfg, k, b), err);
    return rc;
}

/* The kind the layers stream as. */
static wf_store_kind layer_kind(const wf_exec *x) { return x->half ? WF_STORE_HALF : WF_STORE_W; }

/* Layer block b toward slot s: rank 0 reads it from its store (fp32, or the
** H copy: a swarm broadcasts the half-size copy), then the broadcast, posted
** (*t its ticket) or done. layer_land completes it: the wait, and the H copy
** widened (exact: the bf16 step rounds the matrices again, to the same bits). */
static wf_status layer_post(wf_exec *x, int b, int s, long *t, wf_err *err) {
    wf_store_kind k = layer_kind(x);
    float *dst = x->half || packed(x, b) ? x->stg[s] : x->lw[s];
    *t = 0;
    wf_status rc = root(x) ? wf_store_read(x->st, k, b, dst, err) : WF_OK;
    if (rc || !x->dp) return rc;
    if (async(x)) {
        *t = x->dp->post_bcast(x->dp->ud, dst, moved(x, k, b));
        return WF_OK;
    }
    return x->dp->bcast(x->dp->ud, dst, moved(x, k, b), err);
}

static wf_status layer_land(wf_exec *x, int b, int s, long t, wf_err *err) {
    wf_status rc = t ? x->dp->wait(x->dp->ud, t, err) : WF_OK;
    if (rc) return rc;
    if (x->half && packed(x, b)) { /* bf16 kept weights -> packed fp32 -> the dense layer */
        wf_sparse_unpack_layer_half(x->mask, b - 1, x->stg[s], x->hs);
        wf_sparse_unpack_layer(x->mask, b - 1, x->hs, x->lw[s]);
    } else if (x->half) wf_store_unpack_half(&x->cfg, b, x->stg[s], x->lw[s]);
    else if (packed(x, b)) wf_sparse_unpack_layer(x->mask, b - 1, x->stg[s], x->lw[s]);
    return rc;
}

/* After block b's fp32 weights w change (a sparse layer: w packed): its H
** copy (x->v as scratch). */
static wf_status write_half(wf_exec *x, int b, const float *w, wf_err *err) {
    if (!x->half || b == 0 || b == x->nb - 1) return WF_OK;
    if (packed(x, b)) wf_sparse_pack_layer_half(x->mask, b - 1, w, x->v);
    else wf_store_pack_half(&x->cfg, b, w, x->v);
    return wf_store_write(x->st, WF_STORE_HALF, b, x->v, err);
}

/* Runs one compute call as a span of the timeline. */
#define SPAN(x, name, i, call)                                                      \
    do {                                                                            \
        double t0_ = (x)->tl ? wf_now() : 0;                                        \
        call;                                                                       \
        if ((x)->tl) wf_timeline_span((x)->tl, 0, name, i, t0_, wf_now());          \
    } while (0)

static size_t max_block(const wf_gpt_config *c) {
    size_t n = 0;
    for (int b = 0; b < wf_gpt_nblocks(c); b++)
        if (wf_gpt_block_numel(c, b) > n) n = wf_gpt_block_numel(c, b);
    return n;
}

size_t wf_exec_device_bytes(const wf_gpt_config *c, size_t tr_bytes) {
    size_t e = max_block(c), f = wf_gpt_block_numel(c, c->n_layer + 1);
    size_t l = c->n_layer > 0 ? wf_gpt_block_numel(c, 1) : 0;
    return tr_bytes + sizeof(float) * (2 * e + 2 * f + 2 * l + 2 * max_block(c));
}

wf_status wf_exec_new(const wf_exec_opts *o, wf_exec **out, wf_err *err) {
    *out = wf_calloc(NULL, sizeof **out, "executor", err);
    if (!*out) return WF_ENOMEM;
    (*out)->o = *o;
    if (o->trace && !((*out)->tl = wf_timeline_new())) {
        wf_free(NULL, *out), *out = NULL;
        return WF_FAIL(err, WF_ENOMEM, "--trace: out of memory for the timeline");
    }
    return WF_OK;
}

static void release(wf_exec *x) {
    wf_store_close(x->st);
    x->st = NULL;
    float **bufs[] = {&x->emb_w, &x->emb_g, &x->lnf_w, &x->lnf_g, &x->lay_w, &x->lay_g, &x->m, &x->v,
                      &x->lw[1], &x->lg[1], &x->stg[1], &x->pg[0], &x->pg[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wf_free(NULL, *bufs[i]), *bufs[i] = NULL;
    wf_free(NULL, x->sumsq);
    x->sumsq = NULL;
    wf_free(NULL, x->pn), wf_free(NULL, x->hs); /* ph lies inside pn */
    x->pn = x->ph = NULL, x->hs = NULL;
}

void wf_exec_free(wf_exec *x) {
    if (!x) return;
    release(x);
    wf_timeline_free(x->tl);
    wf_free(NULL, x);
}

wf_store *wf_exec_store(wf_exec *x) { return x->st; }

/* Pointers of layer l's tensors inside its block buffer. */
static wf_gpt_layer layer_at(const wf_gpt_config *c, int l, float *blk) {
    wf_gpt_layer L;
    float **slot = &L.ln1_w; /* wf_gpt_layer lists its pointers in wf_layer_tensor order */
    size_t base = wf_gpt_block_offset(c, 1 + l);
    for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, 2 + WF_T_LAYER_COUNT * l + t, &ti);
        slot[t] = blk + (ti.offset - base);
    }
    return L;
}

static wf_status x_open(void *ud, const wf_gpt_config *c, wf_trainer *tr, wf_ckpt_reader *rd, wf_optstate_file *os,
                        wf_optim *o, const wf_sparse_mask *mask, wf_err *err) {
    wf_exec *x = ud;
    release(x);
    x->cfg = *c, x->tr = tr, x->opt = o, x->nb = wf_gpt_nblocks(c), x->micro = 0, x->half = wf_trainer_is_bf16(tr);
    x->dp = x->o.dp, x->npend = 0, x->mask = mask;
    size_t dev = wf_exec_device_bytes(c, wf_trainer_bytes(tr));
    if (async(x) && c->n_layer > 0) dev += 3 * sizeof(float) * wf_gpt_block_numel(c, 1); /* the second layer slot */
    if (mask && c->n_layer > 0) dev += (size_t)(async(x) ? 2 : 1) * sizeof(float) * wf_gpt_block_numel(c, 1);
    if (mask && x->half && c->n_layer > 0) dev += sizeof(float) * wf_gpt_block_numel(c, 1);
    if (x->o.device_mem && dev > x->o.device_mem)
        return WF_FAIL(err, WF_ENOMEM, "--device-mem %zu bytes: the streaming step of %s needs %zu (activations %zu + one layer, embeddings, optimizer scratch); lower --batch/--seq or use --recompute",
                       x->o.device_mem, c->name, dev, wf_trainer_bytes(tr));
    size_t e = max_block(c), f = wf_gpt_block_numel(c, x->nb - 1), mb = e; /* emb buffers double as update scratch */
    size_t l = c->n_layer > 0 ? wf_gpt_block_numel(c, 1) : 1;
    if (!(x->emb_w = wf_alloc(NULL, e * sizeof(float), "device wte/wpe", err)) ||
        !(x->emb_g = wf_alloc(NULL, e * sizeof(float), "device wte/wpe grad", err)) ||
        !(x->lnf_w = wf_alloc(NULL, f * sizeof(float), "device ln_f", err)) ||
        !(x->lnf_g = wf_alloc(NULL, f * sizeof(float), "device ln_f grad", err)) ||
        !(x->lay_w = wf_alloc(NULL, l * sizeof(float), "device layer", err)) ||
        !(x->lay_g = wf_alloc(NULL, l * sizeof(float), "device layer grad", err)) ||
        !(x->m = wf_alloc(NULL, mb * sizeof(float), "adam m scratch", err)) ||
        !(x->v = wf_alloc(NULL, mb * sizeof(float), "adam v scratch", err)) ||
        !(x->sumsq = wf_calloc(NULL, sizeof(double) * (size_t)x->nb, "block norms", err)))
        return WF_ENOMEM;
    x->lw[0] = x->lay_w, x->lg[0] = x->lay_g, x->stg[0] = x->v, x->S = async(x) ? 2 : 1;
    if (x->S == 2 && (!(x->lw[1] = wf_alloc(NULL, l * sizeof(float), "device layer (second slot)", err)) ||
                      !(x->lg[1] = wf_alloc(NULL, l * sizeof(float), "device layer grad (second slot)", err)) ||
                      !(x->stg[1] = wf_alloc(NULL, l * sizeof(float), "device layer staging", err))))
        return WF_ENOMEM;
    if (mask) {
        size_t nl = (size_t)(c->n_layer > 0 ? c->n_layer : 1);
        if (!(x->pn = wf_alloc(NULL, 2 * nl * sizeof(size_t), "packed sizes", err)) ||
            (x->half && !(x->hs = wf_alloc(NULL, l * sizeof(float), "device packed layer", err))))
            return WF_ENOMEM;
        x->ph = x->pn + nl;
        for (int i = 0; i < c->n_layer; i++)
            x->pn[i] = wf_sparse_packed_numel(mask, i), x->ph[i] = wf_sparse_packed_half_numel(mask, i);
        for (int i = 0; i < x->S; i++)
            if (!(x->pg[i] = wf_alloc(NULL, l * sizeof(float), "device packed layer grad", err))) return WF_ENOMEM;
    }
    if (!root(x)) return WF_OK; /* a swarm's store lives on rank 0; the others only compute */
    wf_status rc = wf_store_open_packed(x->o.store_dir, c, x->pn, x->ph, NULL, &x->st, err);
    if (!rc) wf_store_set_timeline(x->st, x->tl);
    /* The model goes to the store block by block, never whole: from the
    ** checkpoint (or its random initialisation) and, on resume, the moments
    ** from optimizer.bin; a fresh run's moments are zero. */
    if (!os) memset(x->m, 0, mb * sizeof(float)), memset(x->v, 0, mb * sizeof(float));
    /* a sparse layer goes in packed (emb_g as scratch): its masked weights are dropped */
    for (int b = 0; !rc && b < x->nb; b++) {
        rc = wf_checkpoint_read_block(rd, b, x->emb_w, err);
        if (!rc) rc = write_dense(x, WF_STORE_W, b, x->emb_w, x->emb_g, err);
        if (!rc) rc = write_half(x, b, packed(x, b) ? x->emb_g : x->emb_w, err);
        if (!rc && os) rc = wf_optstate_read_block(os, 0, b, x->m, err);
        if (!rc) rc = write_dense(x, WF_STORE_M, b, x->m, x->emb_g, err);
        if (!rc && os) rc = wf_optstate_read_block(os, 1, b, x->v, err);
        else if (!rc && x->half) memset(x->v, 0, mb * sizeof(float)); /* write_half used it as scratch */
        if (!rc) rc = write_dense(x, WF_STORE_V, b, x->v, x->emb_g, err);
    }
    if (!rc) rc = wf_store_flush(x->st, err);
    return rc;
}

/* Each micro-batch's gradient starts from zero on the device. */
static void grad_in(wf_exec *x, int b, float *g) { memset(g, 0, wf_gpt_block_numel(&x->cfg, b) * sizeof(float)); }

static wf_status grad_flush(wf_exec *x, const float *g, wf_err *err);

/* Block b's gradient of this micro-batch leaves the device. Rank 0 (or the
** one process) first adds the store's running sum of the step's earlier
** micro-batches; a swarm's chain then adds the other ranks' in rank order.
** So the total is ((run + g_0) + g_1) + ...: the sum one process forms over
** the global micro-batches in order (micro-batch k of rank r is global k·N +
** r), for any --accum. The chain is posted or done; grad_flush lands it. */
static wf_status grad_out(wf_exec *x, int b, float *g, wf_err *err) {
    size_t n = wf_gpt_block_numel(&x->cfg, b);
    long t = 0;
    if (packed(x, b)) { /* the kept weights' gradients only: the mask's zeros never leave */
        int s = g == x->lg[1];
        wf_status rc = grad_flush(x, x->pg[s], err);
        if (rc) return rc;
        wf_sparse_pack_layer(x->mask, b - 1, g, x->pg[s]);
        g = x->pg[s], n = x->pn[b - 1];
    }
    if (root(x) && x->micro > 0) {
        wf_status rc = wf_store_read(x->st, WF_STORE_G, b, x->m, err);
        if (rc) return rc;
        wf_grad_add(g, x->m, n); /* IEEE addition commutes: the bits of run + g */
    }
    if (x->dp && async(x)) t = x->dp->post_chain(x->dp->ud, g, n);
    else if (x->dp) {
        wf_status rc = x->dp->reduce_block(x->dp->ud, g, n, err);
        if (rc) return rc;
    }
    WF_ASSERT(x->npend < (int)(sizeof x->pend / sizeof x->pend[0]));
    x->pend[x->npend].t = t, x->pend[x->npend].b = b, x->pend[x->npend].g = g, x->npend++;
    return async(x) ? WF_OK : grad_flush(x, NULL, err);
}

/* Lands posted chains in order up to the one in buffer g (NULL: all; none
** when no chain in flight uses g): rank
** 0 keeps each total's norm and writes it to the store as the running sum. */
static wf_status grad_flush(wf_exec *x, const float *g, wf_err *err) {
    int k = 0, found = !g;
    for (int i = 0; i < x->npend; i++) found |= x->pend[i].g == g;
    if (!found) return WF_OK; /* nothing in flight uses g */
    wf_status rc = WF_OK;
    while (k < x->npend && !rc) {
        float *p = x->pend[k].g;
        int b = x->pend[k].b;
        if (x->pend[k].t) rc = x->dp->wait(x->dp->ud, x->pend[k].t, err);
        if (!rc && root(x)) {
            size_t n = wf_gpt_block_numel(&x->cfg, b);
            const float *d = p;
            if (packed(x, b)) /* the norm over the dense block: the resident step's chunks, its bits */
                wf_sparse_unpack_layer(x->mask, b - 1, p, x->m), d = x->m;
            x->sumsq[b] = wf_sumsq(d, n);
            rc = wf_store_write(x->st, WF_STORE_G, b, p, err);
        }
        k++;
        if (p == g) break;
    }
    memmove(x->pend, x->pend + k, (size_t)(x->npend - k) * sizeof x->pend[0]);
    x->npend -= k;
    return rc;
}

static wf_status x_micro(void *ud, const int32_t *in, const int32_t *tg, float scale, float *loss, wf_err *err) {
    wf_exec *x = ud;
    const wf_gpt_config *c = &x->cfg;
    int L = c->n_layer, S = x->S;
    size_t C = (size_t)c->n_embd, wpe_off = (size_t)c->vocab_size * C;
    long tw = 0;
    /* the previous micro-batch's last chains (embeddings, ln_f) moved during
    ** its return; land them before their buffers are used again */
    wf_status rc = grad_flush(x, NULL, err);
    /* the embeddings and ln_f stay on the device for the whole step: the
    ** weights change only in the update */
    if (!rc && x->micro == 0) rc = dev_read(x, WF_STORE_W, 0, x->emb_w, err);
    if (!rc && x->micro == 0) rc = dev_read(x, WF_STORE_W, L + 1, x->lnf_w, err);
    if (!rc && S == 2 && L > 0) rc = layer_post(x, 1, 0, &tw, err); /* layer 0 moves during the embedding */
    if (!rc) SPAN(x, "embed fwd", 0, rc = wf_trainer_embed_forward(x->tr, x->emb_w, x->emb_w + wpe_off, in, tg, err));
    if (!rc && S == 1 && L > 0) pf(x, layer_kind(x), 1);
    for (int l = 0; !rc && l < L; l++) {
        int s = l % S, posted = 1 + l;
        if (S == 1 && (rc = layer_post(x, 1 + l, 0, &tw, err))) break;
        if ((rc = layer_land(x, 1 + l, s, tw, err))) break;
        if (S == 2 && l + 1 < L && (rc = layer_post(x, posted = 2 + l, (l + 1) % 2, &tw, err))) break;
        /* the store read after the last one started: the next layer, or after
        ** the last the backward's second (its first is still on the device) */
        if (posted < L) pf(x, layer_kind(x), posted + 1);
        else if (L > 1) pf(x, layer_kind(x), L - 1);
        wf_gpt_layer w = layer_at(c, l, x->lw[s]);
        SPAN(x, "layer fwd", l, wf_trainer_layer_forward(x->tr, l, &w));
    }
    if (rc) return rc;
    grad_in(x, 0, x->emb_g);
    grad_in(x, L + 1, x->lnf_g);
    const float *head = c->untied_head ? x->lnf_w + 2 * C : x->emb_w; /* lm_head: its own tensor in the last block, or wte */
    float *ghead = c->untied_head ? x->lnf_g + 2 * C : x->emb_g;
    SPAN(x, "head", 0, *loss = wf_trainer_head(x->tr, head, x->lnf_w, x->lnf_w + C, ghead, x->lnf_g, x->lnf_g + C, scale));
    if ((rc = grad_out(x, L + 1, x->lnf_g, err))) return rc;
    if (x->micro && root(x)) pf(x, WF_STORE_G, L);
    for (int l = L - 1; l >= 0; l--) {
        int s = l % S;
        int posted = 0; /* the block the store read last */
        if (l < L - 1) { /* the last layer is still on the device from the forward */
            if (S == 1 && (rc = layer_post(x, posted = 1 + l, 0, &tw, err))) return rc;
            if ((rc = layer_land(x, 1 + l, s, tw, err))) return rc;
        }
        if (S == 2 && l > 0 && (rc = layer_post(x, posted = l, (l - 1) % 2, &tw, err))) return rc; /* layer l-1 moves now */
        if (S == 2 && (rc = grad_flush(x, x->lg[s], err))) return rc; /* layer l+2's chain, before its buffer is reused */
        grad_in(x, 1 + l, x->lg[s]);
        if (posted > 1) pf(x, layer_kind(x), posted - 1);
        if (l > 0 && x->micro && root(x)) pf(x, WF_STORE_G, l);
        wf_gpt_layer w = layer_at(c, l, x->lw[s]), g = layer_at(c, l, x->lg[s]);
        SPAN(x, "layer bwd", l, wf_trainer_layer_backward(x->tr, l, &w, &g));
        if ((rc = grad_out(x, 1 + l, x->lg[s], err))) return rc;
    }
    SPAN(x, "embed bwd", 0, wf_trainer_embed_backward(x->tr, x->emb_g, x->emb_g + wpe_off));
    if ((rc = grad_out(x, 0, x->emb_g, err))) return rc;
    x->micro++;
    return WF_OK;
}

/* AdamW on a packed layer block, tensor by tensor over its packed segments
** (elementwise, so the kept weights get the resident step's bits). */
static void update_packed(wf_exec *x, int b, float *w, const float *g, float lr, float coef) {
    const wf_optim *o = x->opt;
    for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
        size_t off, n;
        wf_sparse_packed_tensor(x->mask, b - 1, t, &off, &n);
        wf_optim_update_tensor(o, 2 + WF_T_LAYER_COUNT * (b - 1) + t, w + off, g + off, x->m + off, x->v + off, n, lr,
                               coef);
    }
}

static wf_status x_update(void *ud, float lr, float *gnorm, wf_err *err) {
    wf_exec *x = ud;
    wf_optim *o = x->opt;
    wf_status frc = grad_flush(x, NULL, err); /* every chain landed: the norms and the store's sums are complete */
    if (frc) return frc;
    double ss = 0.0;
    for (int b = 0; b < x->nb; b++) ss += x->sumsq[b]; /* same order as wf_optim_step */
    float norm, coef = wf_clip_coef(ss, o->opts.clip, &norm);
    if (o->opts.clip <= 0.0f) coef = 1.0f;
    if (gnorm) *gnorm = norm;
    o->step++;
    x->micro = 0;
    if (!root(x)) return WF_OK; /* AdamW runs at the store */
    float *w = x->emb_w, *g = x->emb_g; /* the largest block: embeddings */
    for (int b = 0; b < x->nb; b++) {
        wf_status rc = wf_store_read(x->st, WF_STORE_W, b, w, err);
        if (!rc) rc = wf_store_read(x->st, WF_STORE_G, b, g, err);
        if (!rc) rc = wf_store_read(x->st, WF_STORE_M, b, x->m, err);
        if (!rc) rc = wf_store_read(x->st, WF_STORE_V, b, x->v, err);
        if (rc) return rc;
        for (int k = 0; b + 1 < x->nb && k <= WF_STORE_G; k++) wf_store_prefetch(x->st, (wf_store_kind)k, b + 1);
        if (packed(x, b)) SPAN(x, "adamw", b, update_packed(x, b, w, g, lr, coef));
        else SPAN(x, "adamw", b, wf_optim_update_block_at(o, b, w, g, x->m, x->v, lr, coef));
        if ((rc = wf_store_write(x->st, WF_STORE_W, b, w, err)) || (rc = wf_store_write(x->st, WF_STORE_M, b, x->m, err)) ||
            (rc = wf_store_write(x->st, WF_STORE_V, b, x->v, err)) || (rc = write_half(x, b, w, err)))
            return rc;
    }
    return wf_store_flush(x->st, err);
}

/* Block b of kind k into buf, checked for NaN/Inf: WF_ERANGE naming the tensor in what. */
static wf_status checked_read(wf_exec *x, wf_store_kind k, int b, float *buf, char *what, size_t cap, wf_err *err) {
    static const char *const kind[] = {"weights", "Adam moment m", "Adam moment v"};
    wf_status rc = read_dense(x, k, b, buf, x->emb_g, err); /* the embeddings' gradient buffer: free between steps */
    if (rc) return rc;
    if (b + 1 < x->nb) wf_store_prefetch(x->st, k, b + 1);
    int t = wf_nonfinite_block(&x->cfg, b, buf);
    if (t < 0) return WF_OK;
    wf_tensor_info ti;
    wf_gpt_tensor_info(&x->cfg, t, &ti);
    snprintf(what, cap, "%s of tensor '%s'", kind[k], ti.name);
    return WF_FAIL(err, WF_ERANGE, "%s holds NaN or Inf", what);
}

typedef struct {
    wf_exec *x;
    char *what;
    size_t cap;
} save_ctx;

static wf_status save_w(void *ud, int b, const float **blk, wf_err *err) {
    save_ctx *s = ud;
    *blk = s->x->emb_w;
    return checked_read(s->x, WF_STORE_W, b, s->x->emb_w, s->what, s->cap, err);
}

static wf_status save_mv(void *ud, int which, int b, const float **blk, wf_err *err) {
    save_ctx *s = ud;
    float *buf = which ? s->x->v : s->x->m;
    *blk = buf;
    return checked_read(s->x, which ? WF_STORE_V : WF_STORE_M, b, buf, s->what, s->cap, err);
}

static wf_status x_save(void *ud, const char *dir, const wf_train_state *st, uint64_t max_shard, char *what, size_t cap,
                        wf_err *err) {
    wf_exec *x = ud;
    save_ctx s = {x, what, cap};
    char path[1200];
    what[0] = 0;
    wf_store_prefetch(x->st, WF_STORE_W, 0);
    wf_status rc = wf_checkpoint_save_blocks(dir, &x->cfg, save_w, &s, max_shard, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/optimizer.bin", dir);
    wf_store_prefetch(x->st, WF_STORE_M, 0);
    return wf_optstate_save_fn(path, &x->cfg, &x->opt->opts, st, save_mv, &s, err);
}

static int x_nonfinite(void *ud, char *what, size_t cap) {
    wf_exec *x = ud;
    wf_err e;
    float *buf[3] = {x->emb_w, x->m, x->v};
    what[0] = 0;
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < x->nb; b++)
            if (checked_read(x, (wf_store_kind)k, b, buf[k], what, cap, &e)) {
                if (!what[0]) snprintf(what, cap, "the store (unreadable: %s)", e.msg);
                return 1;
            }
    return 0;
}

/* Where an evaluation's blocks come from: the store, or a checkpoint folder. */
typedef struct {
    wf_status (*get)(void *ud, int b, float *dst, wf_err *err);
    void (*prefetch)(void *ud, int b); /* may be NULL */
    void *ud;
    wf_timeline *tl;
} block_src;

typedef struct {
    float *emb, *lnf, *lay;
} eval_bufs;

/* wf_eval_loss with the layers streamed from src: per batch of windows, the
** embeddings and ln_f stay on the device and the layers pass through one at
** a time. Trainers keep one layer's activations (recompute layout: the same
** forward bits), so an evaluation costs the device one layer, not the model. */
static wf_status eval_stream(const wf_gpt_config *c, const block_src *src, const eval_bufs *d, wf_token_read_fn read,
                             void *rud, uint64_t count, int B, int T, long max_windows, double *mean_loss,
                             uint64_t *tokens, wf_err *err) {
    int L = c->n_layer;
    size_t C = (size_t)c->n_embd, wpe_off = (size_t)c->vocab_size * C;
    *mean_loss = 0, *tokens = 0;
    if (count < (uint64_t)T + 1)
        return WF_FAIL(err, WF_ESHAPE, "eval: the split has %llu tokens, fewer than one window of seq+1 = %d",
                       (unsigned long long)count, T + 1);
    uint64_t nwin = (count - 1) / (uint64_t)T;
    if (max_windows > 0 && nwin > (uint64_t)max_windows) nwin = (uint64_t)max_windows;
    int Bmain = (uint64_t)B < nwin ? B : (int)nwin, Btail = (int)(nwin % (uint64_t)Bmain);
    wf_trainer *t = NULL, *tail = NULL;
    int32_t *buf = NULL, *in = NULL, *tg = NULL;
    wf_status rc = wf_trainer_new(c, Bmain, T, 1, NULL, &t, err);
    if (!rc && Btail) rc = wf_trainer_new(c, Btail, T, 1, NULL, &tail, err);
    if (rc) goto done;
    buf = wf_alloc(NULL, sizeof(int32_t) * (size_t)(T + 1), "eval window", err);
    in = wf_alloc(NULL, sizeof(int32_t) * (size_t)Bmain * T, "eval inputs", err);
    tg = wf_alloc(NULL, sizeof(int32_t) * (size_t)Bmain * T, "eval targets", err);
    if (!buf || !in || !tg) {
        rc = WF_ENOMEM;
        goto done;
    }
    if ((rc = src->get(src->ud, 0, d->emb, err)) || (rc = src->get(src->ud, L + 1, d->lnf, err))) goto done;
    double sum = 0;
    for (uint64_t w0 = 0; w0 < nwin; w0 += (uint64_t)Bmain) {
        int nb = nwin - w0 < (uint64_t)Bmain ? (int)(nwin - w0) : Bmain;
        wf_trainer *tr = nb == Bmain ? t : tail;
        for (int b = 0; b < nb; b++) {
            if ((rc = read(rud, (w0 + (uint64_t)b) * (uint64_t)T, (size_t)T + 1, buf, err))) goto done;
            for (int k = 0; k < T; k++) in[b * T + k] = buf[k], tg[b * T + k] = buf[k + 1];
        }
        if ((rc = wf_trainer_embed_forward(tr, d->emb, d->emb + wpe_off, in, tg, err))) goto done;
        if (L > 0 && src->prefetch) src->prefetch(src->ud, 1);
        for (int l = 0; l < L; l++) {
            if ((rc = src->get(src->ud, 1 + l, d->lay, err))) goto done;
            if (src->prefetch) src->prefetch(src->ud, l + 1 < L ? 2 + l : 1); /* after the last layer, the next batch's first */
            wf_gpt_layer w = layer_at(c, l, d->lay);
            double t0 = src->tl ? wf_now() : 0;
            wf_trainer_layer_forward(tr, l, &w);
            if (src->tl) wf_timeline_span(src->tl, 0, "eval layer fwd", l, t0, wf_now());
        }
        const float *head = c->untied_head ? d->lnf + 2 * C : d->emb;
        float l = wf_trainer_head(tr, head, d->lnf, d->lnf + C, NULL, NULL, NULL, 1.0f);
        sum += (double)l * nb * T;
    }
    *tokens = nwin * (uint64_t)T;
    *mean_loss = sum / (double)*tokens;
done:
    wf_free(NULL, buf), wf_free(NULL, in), wf_free(NULL, tg);
    wf_trainer_free(t);
    wf_trainer_free(tail);
    return rc;
}

static wf_status store_get(void *ud, int b, float *dst, wf_err *err) {
    wf_exec *x = ud;
    return read_dense(x, WF_STORE_W, b, dst, x->v, err); /* Adam scratch: free between steps */
}
static void store_prefetch(void *ud, int b) { wf_store_prefetch(((wf_exec *)ud)->st, WF_STORE_W, b); }

static wf_status x_eval(void *ud, wf_token_read_fn read, void *rud, uint64_t count, int B, int T, long max_windows,
                        double *mean_loss, uint64_t *tokens, wf_err *err) {
    wf_exec *x = ud;
    block_src src = {store_get, store_prefetch, x, x->tl};
    eval_bufs d = {x->emb_w, x->lnf_w, x->lay_w};
    return eval_stream(&x->cfg, &src, &d, read, rud, count, B, T, max_windows, mean_loss, tokens, err);
}

static wf_status reader_get(void *ud, int b, float *dst, wf_err *err) {
    return wf_checkpoint_read_block((wf_ckpt_reader *)ud, b, dst, err);
}

wf_status wf_exec_eval_reader(wf_ckpt_reader *rd, const wf_gpt_config *c, wf_token_read_fn read, void *rud,
                              uint64_t count, int B, int T, long max_windows, double *mean_loss, uint64_t *tokens,
                              wf_err *err) {
    size_t e = wf_gpt_block_numel(c, 0), f = wf_gpt_block_numel(c, c->n_layer + 1);
    size_t l = c->n_layer > 0 ? wf_gpt_block_numel(c, 1) : 1;
    eval_bufs d = {wf_alloc(NULL, e * sizeof(float), "device wte/wpe", err),
                   wf_alloc(NULL, f * sizeof(float), "device ln_f", err),
                   wf_alloc(NULL, l * sizeof(float), "device layer", err)};
    wf_status rc = WF_ENOMEM;
    if (d.emb && d.lnf && d.lay) {
        block_src src = {reader_get, NULL, rd, NULL};
        rc = eval_stream(c, &src, &d, read, rud, count, B, T, max_windows, mean_loss, tokens, err);
    }
    wf_free(NULL, d.emb), wf_free(NULL, d.lnf), wf_free(NULL, d.lay);
    return rc;
}

wf_status wf_exec_write_trace(wf_exec *x, wf_err *err) {
    static const char *const tracks[] = {"device (compute + store calls)", "store I/O thread"};
    if (!x->tl) return WF_OK;
    return wf_timeline_write(x->tl, x->o.trace, tracks, 2, err);
}

wf_status wf_exec_plan_for(const wf_gpt_config *c, int B, int T, int recompute, wf_exec_plan *p, wf_err *err) {
    wf_trainer *tr;
    wf_status rc = wf_trainer_new(c, B, T, recompute, NULL, &tr, err);
    if (rc) return rc;
    memset(p, 0, sizeof *p);
    p->params = wf_gpt_numel(c);
    p->acts = wf_trainer_bytes(tr);
    wf_trainer_free(tr);
    p->resident = 16 * p->params + p->acts;
    p->stream_device = wf_exec_device_bytes(c, p->acts);
    p->stream_store = 16 * p->params;
    /* the loop holds no copy of the model: checkpoints, evaluation and
    ** resume go block by block through the device buffers */
    p->stream_disk = p->stream_device;
    p->stream_ram = p->stream_disk + p->stream_store;
    return WF_OK;
}

int wf_exec_auto_stream(const wf_exec_plan *p, size_t limit, char *why, size_t cap) {
    const char *src = "--mem-limit";
    if (!limit) limit = wf_mem_available(), src = "available memory";
    int stream = limit && p->resident > limit;
    snprintf(why, cap, "--mode auto: resident training needs %.2f GiB, %s is %.2f GiB: %s",
             (double)p->resident / 1073741824.0, src, (double)limit / 1073741824.0,
             stream ? "streaming weights from the store" : "resident");
    return stream;
}

static void x_close(void *ud) { release(ud); }

static void x_traffic(void *ud, uint64_t *rd, uint64_t *wr) {
    wf_exec *x = ud;
    *rd = *wr = 0;
    if (x->st) wf_store_traffic(x->st, rd, wr);
}

void wf_exec_hooks(wf_exec *x, wf_step_hooks *h) {
    *h = (wf_step_hooks){.ud = x, .open = x_open, .micro = x_micro, .update = x_update, .save = x_save,
                         .eval = x_eval, .nonfinite = x_nonfinite, .close = x_close, .traffic = x_traffic};
}
