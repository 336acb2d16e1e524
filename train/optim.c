/* optim.c — AdamW over the layer-major buffers, one block at a time, with
** torch's param-group semantics for weight decay and clip_grad_norm_ for the
** global norm. The kernel itself is kernels/adamw.c. */
#include "train/train_int.h"

#include <string.h>

void wf_optim_opts_default(wf_optim_opts *o) {
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->weight_decay = 0.1f;
    o->clip = 1.0f;
    o->decay = WF_DECAY_MATRICES;
}

wf_status wf_optim_new(const wf_gpt_config *c, const wf_optim_opts *oo, wf_heap *h, wf_optim **out,
                       wf_err *err) {
    *out = NULL;
    wf_optim *o = wf_calloc(h, sizeof *o, "optimizer", err);
    if (!o) return WF_ENOMEM;
    o->cfg = *c;
    o->opts = *oo;
    o->heap = h;
    size_t n = wf_gpt_numel(c);
    o->m = wf_calloc(h, n * sizeof(float), "adam m", err);
    o->v = o->m ? wf_calloc(h, n * sizeof(float), "adam v", err) : NULL;
    if (!o->v) {
        wf_optim_free(o);
        return WF_ENOMEM;
    }
    *out = o;
    return WF_OK;
}

wf_status wf_optim_new_state(const wf_gpt_config *c, const wf_optim_opts *oo, wf_heap *h, wf_optim **out,
                             wf_err *err) {
    wf_optim *o = *out = wf_calloc(h, sizeof *o, "optimizer", err);
    if (!o) return WF_ENOMEM;
    o->cfg = *c, o->opts = *oo, o->heap = h;
    return WF_OK;
}

void wf_optim_free(wf_optim *o) {
    if (!o) return;
    wf_free(o->heap, o->m);
    wf_free(o->heap, o->v);
    wf_free(o->heap, o);
}

int wf_optim_decays(const wf_optim *o, int tensor) {
    wf_tensor_info ti;
    wf_gpt_tensor_info(&o->cfg, tensor, &ti);
    int emb = tensor < 2;
    switch (o->opts.decay) {
    case WF_DECAY_ALL: return 1;
    case WF_DECAY_MATRICES_EMB: return ti.ndim == 2;
    default: return ti.ndim == 2 && !emb;
    }
}

double wf_grad_block_sumsq(const wf_gpt_config *c, const float *grads, int b) {
    return wf_sumsq(grads + wf_gpt_block_offset(c, b), wf_gpt_block_numel(c, b));
}

/* Tensors of block b: embeddings 0..1, layer l 2+12l .., final norm last two. */
static void block_tensors(const wf_gpt_config *c, int b, int *first, int *count) {
    if (b == 0) *first = 0, *count = 2;
    else if (b <= c->n_layer) *first = 2 + WF_T_LAYER_COUNT * (b - 1), *count = WF_T_LAYER_COUNT;
    else *first = 2 + WF_T_LAYER_COUNT * c->n_layer, *count = wf_gpt_tensor_count(c) - *first; /* + untied head */
}

void wf_optim_update_block(wf_optim *o, int b, float *weights, const float *grads, float lr,
                           float grad_scale) {
    size_t off = wf_gpt_block_offset(&o->cfg, b);
    wf_optim_update_block_at(o, b, weights + off, grads + off, o->m + off, o->v + off, lr, grad_scale);
}

void wf_optim_update_block_at(const wf_optim *o, int b, float *weights, const float *grads, float *m,
                              float *v, float lr, float grad_scale) {
    WF_ASSERT(o->step >= 1);
    int first, count;
    block_tensors(&o->cfg, b, &first, &count);
    size_t base = wf_gpt_block_offset(&o->cfg, b);
    for (int i = first; i < first + count; i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(&o->cfg, i, &ti);
        size_t off = ti.offset - base;
        wf_optim_update_tensor(o, i, weights + off, grads + off, m + off, v + off, ti.numel, lr, grad_scale);
    }
}

void wf_optim_update_tensor(const wf_optim *o, int tensor, float *weights, const float *grads, float *m, float *v,
                            size_t n, float lr, float grad_scale) {
    wf_adamw_params a = {
        .lr = lr, .beta1 = o->opts.beta1, .beta2 = o->opts.beta2, .eps = o->opts.eps,
        .weight_decay = wf_optim_decays(o, tensor) ? o->opts.weight_decay : 0.0f,
        .step = o->step, .grad_scale = grad_scale,
    };
    wf_adamw_update(weights, grads, m, v, n, &a);
}

float wf_optim_begin(wf_optim *o, const float *grads, float *gnorm) {
    double ss = 0.0;
    for (int b = 0; b < wf_gpt_nblocks(&o->cfg); b++) ss += wf_grad_block_sumsq(&o->cfg, grads, b);
    float norm;
    float coef = wf_clip_coef(ss, o->opts.clip, &norm);
    if (o->opts.clip <= 0.0f) coef = 1.0f;
    if (gnorm) *gnorm = norm;
    o->step++;
    return coef;
}

void wf_optim_step(wf_optim *o, float *weights, const float *grads, float lr, float *gnorm) {
    float coef = wf_optim_begin(o, grads, gnorm);
    for (int b = 0; b < wf_gpt_nblocks(&o->cfg); b++) wf_optim_update_block(o, b, weights, grads, lr, coef);
}

void wf_grad_add(float *g, const float *gm, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) g[i] = g[i] + gm[i];
}

int wf_nonfinite_block(const wf_gpt_config *c, int b, const float *blk) {
    size_t base = wf_gpt_block_offset(c, b), end = base + wf_gpt_block_numel(c, b);
    for (int i = 0; i < wf_gpt_tensor_count(c); i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, i, &ti);
        if (ti.offset < base || ti.offset >= end) continue;
        const float *x = blk + (ti.offset - base);
        float acc = 0; /* x*0 is NaN for Inf and NaN: one multiply-add per element */
        for (size_t k = 0; k < ti.numel; k++) acc += x[k] * 0.0f;
        if (acc != 0) return i;
    }
    return -1;
}

int wf_nonfinite_tensor(const wf_gpt_config *c, const float *p) {
    for (int b = 0; b < wf_gpt_nblocks(c); b++) {
        int t = wf_nonfinite_block(c, b, p + wf_gpt_block_offset(c, b));
        if (t >= 0) return t;
    }
    return -1;
}
