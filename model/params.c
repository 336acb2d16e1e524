/* params.c — the layer-major layout: block sizes and offsets, named tensors in
** Hugging Face order, views over a buffer, and GPT-2 initialisation. */
#include "model/params.h"
#include "base/rng.h"

#include <math.h>
#include <string.h>

static const char *const layer_names[WF_T_LAYER_COUNT] = {
    "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
    "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
};

/* Shape of layer tensor t: rows (0 for 1-D) and columns. */
static void layer_shape(const wf_gpt_config *c, int t, long long *r, long long *k) {
    long long C = c->n_embd, F = c->n_inner;
    static const int is_mat[WF_T_LAYER_COUNT] = {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0};
    long long rows[WF_T_LAYER_COUNT] = {0, 0, C, 0, C, 0, 0, 0, C, 0, F, 0};
    long long cols[WF_T_LAYER_COUNT] = {C, C, 3 * C, 3 * C, C, C, C, C, F, F, C, C};
    *r = is_mat[t] ? rows[t] : 0;
    *k = cols[t];
}

static size_t layer_numel(const wf_gpt_config *c) {
    size_t C = (size_t)c->n_embd, F = (size_t)c->n_inner;
    return 2 * C + C * 3 * C + 3 * C + C * C + C + 2 * C + C * F + F + F * C + C;
}

/* Floats of the untied head: 0 when tied. */
static size_t head_numel(const wf_gpt_config *c) {
    return c->untied_head ? (size_t)c->vocab_size * (size_t)c->n_embd : 0;
}

size_t wf_gpt_block_numel(const wf_gpt_config *c, int b) {
    if (b == 0) return ((size_t)c->vocab_size + (size_t)c->n_positions) * (size_t)c->n_embd;
    if (b <= c->n_layer) return layer_numel(c);
    return 2 * (size_t)c->n_embd + head_numel(c);
}

size_t wf_gpt_block_offset(const wf_gpt_config *c, int b) {
    if (b == 0) return 0;
    return wf_gpt_block_numel(c, 0) + (size_t)(b - 1) * layer_numel(c);
}

size_t wf_gpt_numel(const wf_gpt_config *c) {
    return wf_gpt_block_offset(c, c->n_layer + 1) + wf_gpt_block_numel(c, c->n_layer + 1);
}

int wf_gpt_tensor_count(const wf_gpt_config *c) { return 4 + WF_T_LAYER_COUNT * c->n_layer + (c->untied_head != 0); }

void wf_gpt_tensor_info(const wf_gpt_config *c, int i, wf_tensor_info *o) {
    long long C = c->n_embd;
    memset(o, 0, sizeof *o);
    if (i < 2) {
        snprintf(o->name, sizeof o->name, i == 0 ? "wte.weight" : "wpe.weight");
        o->ndim = 2;
        o->shape[0] = i == 0 ? c->vocab_size : c->n_positions;
        o->shape[1] = C;
        o->offset = i == 0 ? 0 : (size_t)c->vocab_size * (size_t)C;
    } else if (i < 2 + WF_T_LAYER_COUNT * c->n_layer) {
        int l = (i - 2) / WF_T_LAYER_COUNT, t = (i - 2) % WF_T_LAYER_COUNT;
        snprintf(o->name, sizeof o->name, "h.%d.%s", l, layer_names[t]);
        size_t off = wf_gpt_block_offset(c, 1 + l);
        for (int u = 0; u < t; u++) {
            long long r, k;
            layer_shape(c, u, &r, &k);
            off += (size_t)(r ? r * k : k);
        }
        long long r, k;
        layer_shape(c, t, &r, &k);
        o->ndim = r ? 2 : 1;
        o->shape[0] = r ? r : k;
        o->shape[1] = r ? k : 0;
        o->offset = off;
    } else if (i < 4 + WF_T_LAYER_COUNT * c->n_layer) {
        int t = i - 2 - WF_T_LAYER_COUNT * c->n_layer;
        snprintf(o->name, sizeof o->name, t == 0 ? "ln_f.weight" : "ln_f.bias");
        o->ndim = 1;
        o->shape[0] = C;
        o->offset = wf_gpt_block_offset(c, c->n_layer + 1) + (size_t)(t ? C : 0);
    } else {
        WF_ASSERT(c->untied_head && i == 4 + WF_T_LAYER_COUNT * c->n_layer);
        snprintf(o->name, sizeof o->name, "lm_head.weight");
        o->ndim = 2;
        o->shape[0] = c->vocab_size;
        o->shape[1] = C;
        o->offset = wf_gpt_block_offset(c, c->n_layer + 1) + 2 * (size_t)C;
    }
    o->numel = (size_t)o->shape[0] * (size_t)(o->ndim == 2 ? o->shape[1] : 1);
}

int wf_gpt_tensor_find(const wf_gpt_config *c, const char *name) {
    if (strncmp(name, "transformer.", 12) == 0) name += 12;
    if (!strcmp(name, "wte.weight")) return 0;
    if (!strcmp(name, "wpe.weight")) return 1;
    if (!strcmp(name, "ln_f.weight")) return 2 + WF_T_LAYER_COUNT * c->n_layer;
    if (!strcmp(name, "ln_f.bias")) return 3 + WF_T_LAYER_COUNT * c->n_layer;
    if (!strcmp(name, "lm_head.weight")) return c->untied_head ? 4 + WF_T_LAYER_COUNT * c->n_layer : -1;
    if (strncmp(name, "h.", 2) != 0) return -1;
    const char *p = name + 2;
    int l = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 7) l = l * 10 + (*p++ - '0'), digits++;
    if (!digits || *p != '.' || l >= c->n_layer) return -1;
    p++;
    for (int t = 0; t < WF_T_LAYER_COUNT; t++)
        if (!strcmp(p, layer_names[t])) return 2 + l * WF_T_LAYER_COUNT + t;
    return -1;
}

wf_status wf_gpt_view_bind(const wf_gpt_config *c, float *base, wf_gpt_view *v, wf_err *err) {
    memset(v, 0, sizeof *v);
    v->layers = wf_calloc(NULL, sizeof(wf_gpt_layer) * (size_t)c->n_layer, "layer view", err);
    if (!v->layers) return WF_ENOMEM;
    v->base = base;
    v->wte = base;
    v->wpe = base + (size_t)c->vocab_size * (size_t)c->n_embd;
    for (int l = 0; l < c->n_layer; l++) {
        float **slots = (float **)&v->layers[l]; /* wf_gpt_layer is WF_T_LAYER_COUNT pointers in order */
        float *p = base + wf_gpt_block_offset(c, 1 + l);
        for (int t = 0; t < WF_T_LAYER_COUNT; t++) {
            long long r, k;
            layer_shape(c, t, &r, &k);
            slots[t] = p;
            p += r ? r * k : k;
        }
    }
    v->lnf_w = base + wf_gpt_block_offset(c, c->n_layer + 1);
    v->lnf_b = v->lnf_w + c->n_embd;
    v->lm_head = c->untied_head ? v->lnf_b + c->n_embd : v->wte;
    return WF_OK;
}

void wf_gpt_view_unbind(wf_gpt_view *v) {
    wf_free(NULL, v->layers);
    v->layers = NULL;
}

void wf_gpt_init_block(const wf_gpt_config *c, int b, float *blk, wf_rng *r) {
    int n = wf_gpt_tensor_count(c);
    size_t base = wf_gpt_block_offset(c, b), end = base + wf_gpt_block_numel(c, b);
    float proj_std = 0.02f / sqrtf(2.0f * (float)c->n_layer);
    for (int i = 0; i < n; i++) {
        wf_tensor_info ti;
        wf_gpt_tensor_info(c, i, &ti);
        if (ti.offset < base || ti.offset >= end) continue;
        float *p = blk + (ti.offset - base);
        const char *nm = ti.name;
        size_t len = strlen(nm);
        int is_bias = len > 5 && !strcmp(nm + len - 5, ".bias");
        int is_ln = strstr(nm, "ln_") != NULL;
        if (is_bias) {
            memset(p, 0, ti.numel * sizeof *p);
        } else if (is_ln) {
            for (size_t k = 0; k < ti.numel; k++) p[k] = 1.0f;
        } else {
            float sd = (strstr(nm, "c_proj.weight") != NULL) ? proj_std : 0.02f;
            for (size_t k = 0; k < ti.numel; k++) p[k] = (float)wf_rng_normal(r) * sd;
        }
    }
}

void wf_gpt_init_random(const wf_gpt_config *c, float *base, uint64_t seed) {
    wf_rng r;
    wf_rng_seed(&r, seed);
    for (int b = 0; b < wf_gpt_nblocks(c); b++) wf_gpt_init_block(c, b, base + wf_gpt_block_offset(c, b), &r);
}
