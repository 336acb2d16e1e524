/* infer.c — the forward pass with a KV cache (infer.h). Per chunk of rows
** N = B*Tc: embeddings, then per layer ln_1 -> c_attn (qkv) -> keys/values
** appended to the cache -> causal attention over the cache -> c_proj ->
** residual -> ln_2 -> c_fc -> GELU -> c_proj -> residual; finally ln_f and
** the LM head (logits = x @ wte^T, or x @ lm_head^T when untied). All math is in kernels/. */
#include "model/infer.h"

#include "kernels/kernels.h"
#include "model/checkpoint.h"
#include "model/params.h"

#include <string.h>

struct wf_infer {
    wf_heap *heap;
    wf_gpt_config cfg;
    wf_gpt_view w;      /* borrowed weights (the const is cast away: never written) */
    int max_batch;      /* B capacity */
    int n_ctx;          /* cache positions per sequence */
    int max_rows;       /* rows per chunk */
    int pos;            /* tokens in the cache per sequence */
    float *kcache;      /* [L, max_batch, n_ctx, C] */
    float *vcache;      /* [L, max_batch, n_ctx, C] */
    float *act;         /* one block holding the buffers below */
    float *x;           /* [rows, C] residual stream */
    float *ln;          /* [rows, C] */
    float *qkv;         /* [rows, 3C] */
    float *att;         /* [rows, C] */
    float *fc;          /* [rows, F] */
    float *tmp;         /* [rows, C] */
    int32_t *ids;       /* [rows] chunk ids */
    int *row0;          /* [max_batch] slot mode: each sequence's first row */
    /* the matrices packed for decoding, each NULL when off: per layer qkv,
    ** aproj, fc, fproj, then the LM head as [C, V]; fp32 (opts.pack,
    ** wf_p64_pack) and bf16 (opts.bf16_decode, wf_bf16p_pack) */
    float *wp;
    const float **wpm;     /* [n_layer * 4 + 1] each fp32 packed matrix in wp */
    uint16_t *whp;
    const uint16_t **whm;  /* [n_layer * 4 + 1] each bf16 packed matrix in whp */
    int8_t *wq;            /* int8 (opts.int8, wf_q8p_pack): every product, any row count */
    const int8_t **wqm;    /* [n_layer * 4 + 1] each matrix's values; scales via q8_scales */
    wf_infer_opts hook; /* .linear / .linear_ud: the block-matrix hook (sparse weights), or NULL */
    size_t bytes;
    /* streaming (wf_infer_new_stream): w is bound over sbuf, a one-layer
    ** model (embeddings, one layer slot, ln_f); layer l is read from rd into
    ** the slot when its turn comes */
    wf_ckpt_reader *rd;
    float *sbuf;
};

/* The packed shapes of a layer's four matrices: K rows by N columns. */
static void pack_shapes(const wf_gpt_config *g, int K[4], int N[4]) {
    const int C = g->n_embd, F = g->n_inner;
    K[0] = C, N[0] = 3 * C; /* attn.c_attn */
    K[1] = C, N[1] = C;     /* attn.c_proj */
    K[2] = C, N[2] = F;     /* mlp.c_fc */
    K[3] = F, N[3] = C;     /* mlp.c_proj */
}

enum { PACK_F32, PACK_BF16, PACK_Q8 };

/* The scales of an int8 matrix whose values start at q. */
static float *q8_scales(const void *q, int K, int N) {
    return (float *)((char *)(uintptr_t)q + (wf_q8p_numel(K, N) + 63) / 64 * 64);
}

/* Bytes of one K x N matrix packed as kind (int8: values, then the scales at
** the next 64-byte boundary). */
static size_t pack_matrix_bytes(int kind, int K, int N) {
    if (kind == PACK_F32) return wf_p64_numel(K, N) * sizeof(float);
    if (kind == PACK_BF16) return wf_bf16p_numel(K, N) * sizeof(uint16_t);
    return (wf_q8p_numel(K, N) + 63) / 64 * 64 + wf_q8p_nscale(K, N) * sizeof(float);
}

static size_t pack_bytes(const wf_gpt_config *g, int kind) {
    int K[4], N[4];
    pack_shapes(g, K, N);
    size_t n = pack_matrix_bytes(kind, g->n_embd, g->vocab_size);
    for (int i = 0; i < 4; i++) n += (size_t)g->n_layer * pack_matrix_bytes(kind, K[i], N[i]);
    return n;
}

size_t wf_infer_pack_bytes(const wf_gpt_config *cfg) { return pack_bytes(cfg, PACK_F32); }

int wf_infer_pack_auto(const wf_gpt_config *cfg) {
    return wf_infer_pack_bytes(cfg) <= wf_mem_available() / 2;
}

/* The block matrices and the head packed for decoding: fp32 panels
** (opts.pack), bf16 panels (opts.bf16_decode) or int8 (opts.int8). */
static wf_status pack_weights(wf_infer *c, wf_heap *h, int kind, wf_err *err) {
    static const char *const what[] = {"packed", "bf16 decode", "int8"};
    const wf_gpt_config *g = &c->cfg;
    const int C = g->n_embd, L = g->n_layer, V = g->vocab_size;
    if (c->rd) return WF_FAIL(err, WF_EUSAGE, "infer: %s weights need the model in memory, not streamed", what[kind]);
    int K[4], N[4];
    pack_shapes(g, K, N);
    size_t n = pack_bytes(g, kind);
    char *buf = wf_alloc(h, n, kind == PACK_Q8 ? "infer int8 weights" : kind ? "infer bf16 weights" : "infer packed weights", err);
    const void **idx = wf_alloc(h, sizeof(void *) * ((size_t)L * 4 + 1), "infer packed weights index", err);
    if (kind == PACK_F32) c->wp = (float *)buf, c->wpm = (const float **)idx;
    else if (kind == PACK_BF16) c->whp = (uint16_t *)buf, c->whm = (const uint16_t **)idx;
    else c->wq = (int8_t *)buf, c->wqm = (const int8_t **)idx;
    if (!buf || !idx) return WF_ENOMEM;
    for (int m = 0; m <= L * 4; m++) {
        int head = m == L * 4, i = m % 4;
        const wf_gpt_layer *w = &c->w.layers[head ? 0 : m / 4];
        const float *src = head ? c->w.lm_head : i == 0 ? w->qkv_w : i == 1 ? w->aproj_w : i == 2 ? w->fc_w : w->fproj_w;
        int k = head ? C : K[i], nn = head ? V : N[i], tb = head, ld = head ? C : N[i];
        idx[m] = buf;
        if (kind == PACK_F32) wf_p64_pack((float *)buf, tb, src, ld, k, nn);
        else if (kind == PACK_BF16) wf_bf16p_pack((uint16_t *)buf, tb, src, ld, k, nn);
        else wf_q8p_pack((int8_t *)buf, q8_scales(buf, k, nn), tb, src, ld, k, nn);
        buf += pack_matrix_bytes(kind, k, nn);
    }
    c->bytes += n;
    return WF_OK;
}

static wf_status infer_new(const wf_gpt_config *cfg, const float *weights, wf_ckpt_reader *rd,
                           const wf_infer_opts *opts, wf_heap *h, wf_infer **out, wf_err *err) {
    *out = NULL;
    wf_status st = wf_gpt_config_validate(cfg, "infer", err);
    if (st) return st;
    int B = opts && opts->max_batch > 0 ? opts->max_batch : 1;
    int n_ctx = opts && opts->n_ctx > 0 ? opts->n_ctx : cfg->n_positions;
    int rows = opts && opts->max_rows > 0 ? opts->max_rows : 1024;
    if (n_ctx > cfg->n_positions)
        return WF_FAIL(err, WF_EUSAGE, "infer: n_ctx %d exceeds n_positions %d", n_ctx, cfg->n_positions);
    if (wf_gpt_head_dim(cfg) > 256)
        return WF_FAIL(err, WF_ESHAPE, "infer: head size %d exceeds the attention kernel limit 256",
                       wf_gpt_head_dim(cfg));
    if (rows < B) rows = B;
    wf_infer *c = wf_calloc(h, sizeof *c, "infer context", err);
    if (!c) return WF_ENOMEM;
    c->heap = h;
    c->cfg = *cfg;
    c->max_batch = B;
    c->n_ctx = n_ctx;
    c->max_rows = rows;
    if (opts) c->hook.linear = opts->linear, c->hook.linear_ud = opts->linear_ud;
    size_t C = (size_t)cfg->n_embd, F = (size_t)cfg->n_inner;
    size_t cache = (size_t)cfg->n_layer * B * n_ctx * C;
    size_t act = (size_t)rows * (C * 7 + F);
    if (rd) {
        if (opts && opts->bf16_decode) {
            st = WF_FAIL(err, WF_EUSAGE, "infer: bf16 decode needs the weights in memory, not streamed");
            goto fail;
        }
        wf_gpt_config one = *cfg;
        one.n_layer = 1;
        size_t n = wf_gpt_numel(&one);
        if (!(c->sbuf = wf_alloc(h, n * sizeof(float), "streamed weights (embeddings, one layer, ln_f)", err))) {
            st = WF_ENOMEM;
            goto fail;
        }
        c->rd = rd;
        c->bytes += n * sizeof(float);
        if ((st = wf_checkpoint_read_block(rd, 0, c->sbuf, err)) ||
            (st = wf_checkpoint_read_block(rd, cfg->n_layer + 1, c->sbuf + wf_gpt_block_offset(&one, 2), err)) ||
            (st = wf_gpt_view_bind(&one, c->sbuf, &c->w, err)))
            goto fail;
    } else if ((st = wf_gpt_view_bind(cfg, (float *)weights, &c->w, err))) goto fail;
    c->kcache = wf_alloc(h, cache * sizeof(float), "infer key cache", err);
    if (!c->kcache) { st = WF_ENOMEM; goto fail; }
    c->vcache = wf_alloc(h, cache * sizeof(float), "infer value cache", err);
    if (!c->vcache) { st = WF_ENOMEM; goto fail; }
    c->act = wf_alloc(h, act * sizeof(float) + (size_t)rows * sizeof(int32_t) + (size_t)B * sizeof(int),
                      "infer activations", err);
    if (!c->act) { st = WF_ENOMEM; goto fail; }
    c->x = c->act;
    c->ln = c->x + rows * C;
    c->qkv = c->ln + rows * C;
    c->att = c->qkv + rows * 3 * C;
    c->fc = c->att + rows * C;
    c->tmp = c->fc + rows * F;
    c->ids = (int32_t *)(c->tmp + rows * C);
    c->row0 = (int *)(c->ids + rows);
    c->bytes += 2 * cache * sizeof(float) + act * sizeof(float) + (size_t)rows * sizeof(int32_t) + (size_t)B * sizeof(int);
    if (opts && opts->int8) { /* every product from int8: nothing else to pack */
        if ((st = pack_weights(c, h, PACK_Q8, err))) goto fail;
    } else {
        if (opts && opts->bf16_decode && (st = pack_weights(c, h, PACK_BF16, err))) goto fail;
        if (opts && opts->pack && (st = pack_weights(c, h, PACK_F32, err))) goto fail;
    }
    *out = c;
    return WF_OK;
fail:
    wf_infer_free(c);
    return st;
}

wf_status wf_infer_new(const wf_gpt_config *cfg, const float *weights, const wf_infer_opts *opts,
                       wf_heap *h, wf_infer **out, wf_err *err) {
    return infer_new(cfg, weights, NULL, opts, h, out, err);
}

wf_status wf_infer_new_stream(const wf_gpt_config *cfg, wf_ckpt_reader *rd, const wf_infer_opts *opts, wf_heap *h,
                              wf_infer **out, wf_err *err) {
    return infer_new(cfg, NULL, rd, opts, h, out, err);
}

void wf_infer_free(wf_infer *c) {
    if (!c) return;
    wf_free(c->heap, c->sbuf);
    wf_gpt_view_unbind(&c->w);
    wf_free(c->heap, c->kcache);
    wf_free(c->heap, c->vcache);
    wf_free(c->heap, c->act);
    wf_free(c->heap, c->wp);
    wf_free(c->heap, c->wpm);
    wf_free(c->heap, c->whp);
    wf_free(c->heap, c->whm);
    wf_free(c->heap, c->wq);
    wf_free(c->heap, c->wqm);
    wf_free(c->heap, c);
}

void wf_infer_reset(wf_infer *c) { c->pos = 0; }
int wf_infer_pos(const wf_infer *c) { return c->pos; }
size_t wf_infer_bytes(const wf_infer *c) { return c->bytes; }

#define BF16_MAX_ROWS 8 /* chunks below this many rows stream bf16 weights */


/* out[N,OC] = inp @ W + bias, from the bf16 copy when decoding with one. */
static void linear(const wf_infer *c, int l, int which, float *out, const float *inp, const float *W,
                   const float *bias, int N, int C, int OC) {
    if (c->hook.linear && c->hook.linear(c->hook.linear_ud, l, which, out, inp, bias, N)) return;
    if (c->wq) {
        const int8_t *q = c->wqm[l * 4 + which];
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, sizeof(float) * OC);
        wf_gemm_q8p(N, OC, C, 1.0f, inp, C, q, q8_scales(q, C, OC), 1.0f, out, OC);
    } else if (c->whp && N < BF16_MAX_ROWS) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, sizeof(float) * OC);
        wf_gemm_bf16p(N, OC, C, inp, C, c->whm[l * 4 + which], 1.0f, out, OC);
    } else if (c->wp) {
        wf_matmul_forward_p64(out, inp, c->wpm[l * 4 + which], bias, N, C, OC);
    } else {
        wf_matmul_forward(out, inp, W, bias, N, C, OC);
    }
}

/* logits[M,V] = x[M,C] @ lm_head^T (lm_head == wte when tied), ldc = V. */
static void lm_head(const wf_infer *c, float *logits, const float *x, int M) {
    const int C = c->cfg.n_embd, V = c->cfg.vocab_size;
    if (c->wq) {
        const int8_t *q = c->wqm[c->cfg.n_layer * 4];
        wf_gemm_q8p(M, V, C, 1.0f, x, C, q, q8_scales(q, C, V), 0.0f, logits, V);
    } else if (c->whp && M < BF16_MAX_ROWS)
        wf_gemm_bf16p(M, V, C, x, C, c->whm[c->cfg.n_layer * 4], 0.0f, logits, V);
    else if (c->wp)
        wf_gemm_p64(M, V, C, 1.0f, x, C, c->wpm[c->cfg.n_layer * 4], 0.0f, logits, V);
    else
        wf_gemm(0, 1, M, V, C, 1.0f, x, C, c->w.lm_head, C, 0.0f, logits, V);
}

/* One chunk: ids [B, Tc] in c->ids; leaves ln_f(x) in c->ln (rows b*Tc + t).
** slot == NULL: sequence b is cache row b at positions c->pos.. (then c->pos
** advances). Otherwise (slot mode, wf_infer_forward_slots) sequence b has
** len[b] tokens, its rows follow those of sequences < b, and it is cache row
** slot[b] at positions pos[b]..: embeddings, cache writes and attention run
** per sequence, the matrix products over all rows at once. */
static wf_status forward_chunk(wf_infer *c, int B, int Tc, const int *slot, const int *pos, const int *len,
                               wf_err *err) {
    const wf_gpt_config *g = &c->cfg;
    const int C = g->n_embd, F = g->n_inner, H = g->n_head, pos0 = c->pos;
    const long kv_bs = (long)c->n_ctx * C;
    int N = B * Tc;
    if (!slot) wf_encoder_forward(c->x, c->ids, c->w.wte, c->w.wpe, B, Tc, C, pos0);
    else
        for (int b = 0, r = 0; b < B; r += len[b++])
            wf_encoder_forward(c->x + (size_t)r * C, c->ids + r, c->w.wte, c->w.wpe, 1, len[b], C, pos[b]);
    /* slot mode: sequence b's first row; attention is split over sequences
    ** unless one of them holds most of the work (a long prompt chunk), which
    ** then runs alone, split over its heads */
    int *row0 = c->row0, by_seq = 0;
    if (slot) {
        double work = 0, most = 0;
        for (int b = N = 0; b < B; b++) {
            row0[b] = N;
            N += len[b];
            double wb = (double)len[b] * (pos[b] + len[b]);
            work += wb;
            most = wb > most ? wb : most;
        }
        by_seq = B > 1 && most <= work / 2;
    }
    for (int l = 0; l < g->n_layer; l++) {
        const wf_gpt_layer *w = &c->w.layers[c->rd ? 0 : l];
        if (c->rd) { /* the layer's turn: bring it into the slot */
            wf_status st = wf_checkpoint_read_block(c->rd, 1 + l, w->ln1_w, err);
            if (st) return st;
        }
        float *kc = c->kcache + (size_t)l * c->max_batch * kv_bs;
        float *vc = c->vcache + (size_t)l * c->max_batch * kv_bs;
        wf_layernorm_forward(c->ln, NULL, NULL, c->x, w->ln1_w, w->ln1_b, N, C, g->layer_norm_eps);
        linear(c, l, 0, c->qkv, c->ln, w->qkv_w, w->qkv_b, N, C, 3 * C);
        for (int b = 0, r = 0; b < B; b++) {
            const int n = slot ? len[b] : Tc;
            for (int t = 0; t < n; t++) {
                const float *row = c->qkv + ((size_t)r + t) * 3 * C;
                size_t at = (size_t)(slot ? slot[b] : b) * kv_bs + (size_t)((slot ? pos[b] : pos0) + t) * C;
                memcpy(kc + at, row + C, sizeof(float) * C);
                memcpy(vc + at, row + 2 * C, sizeof(float) * C);
            }
            r += n;
        }
        if (!slot)
            wf_attention_forward_kv(c->att, (long)Tc * C, C, NULL, c->qkv, (long)Tc * 3 * C, 3 * C, kc, vc,
                                    kv_bs, C, B, Tc, pos0, C, H);
        else /* per sequence, or (an inactive region) in turn over its heads */
#pragma omp parallel for schedule(dynamic, 1) if (by_seq)
            for (int b = 0; b < B; b++)
                wf_attention_forward_kv(c->att + (size_t)row0[b] * C, (long)len[b] * C, C, NULL,
                                        c->qkv + (size_t)row0[b] * 3 * C, (long)len[b] * 3 * C, 3 * C,
                                        kc + (size_t)slot[b] * kv_bs, vc + (size_t)slot[b] * kv_bs, kv_bs, C, 1,
                                        len[b], pos[b], C, H);
        linear(c, l, 1, c->tmp, c->att, w->aproj_w, w->aproj_b, N, C, C);
        wf_residual_forward(c->x, c->x, c->tmp, (size_t)N * C);
        wf_layernorm_forward(c->ln, NULL, NULL, c->x, w->ln2_w, w->ln2_b, N, C, g->layer_norm_eps);
        linear(c, l, 2, c->fc, c->ln, w->fc_w, w->fc_b, N, C, F);
        if (g->act == WF_ACT_GELU_NEW) wf_gelu_new_forward(c->fc, c->fc, (size_t)N * F);
        else wf_gelu_forward(c->fc, c->fc, (size_t)N * F);
        linear(c, l, 3, c->tmp, c->fc, w->fproj_w, w->fproj_b, N, F, C);
        wf_residual_forward(c->x, c->x, c->tmp, (size_t)N * C);
    }
    wf_layernorm_forward(c->ln, NULL, NULL, c->x, c->w.lnf_w, c->w.lnf_b, N, C, g->layer_norm_eps);
    if (!slot) c->pos += Tc;
    return WF_OK;
}

wf_status wf_infer_forward(wf_infer *c, const int32_t *ids, int B, int T, float *logits,
                           wf_logits_mode mode, wf_err *err) {
    const wf_gpt_config *g = &c->cfg;
    const int C = g->n_embd, V = g->vocab_size;
    if (B < 1 || B > c->max_batch)
        return WF_FAIL(err, WF_EUSAGE, "infer: batch %d outside [1, %d]", B, c->max_batch);
    if (T < 1) return WF_FAIL(err, WF_EUSAGE, "infer: %d tokens, expected at least 1", T);
    if (mode != WF_LOGITS_NONE && !logits)
        return WF_FAIL(err, WF_EUSAGE, "infer: logits buffer is NULL");
    if ((long)c->pos + T > c->n_ctx)
        return WF_FAIL(err, WF_ERANGE,
                       "infer: sequence of %ld tokens exceeds the context of %d (n_positions %d)",
                       (long)c->pos + T, c->n_ctx, g->n_positions);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= V)
                return WF_FAIL(err, WF_ERANGE,
                               "token id %ld at (batch %d, position %d) out of range [0, %d)",
                               (long)id, b, c->pos + t, V);
        }
    int Tc_max = c->max_rows / B;
    for (int t0 = 0; t0 < T; t0 += Tc_max) {
        int Tc = T - t0 < Tc_max ? T - t0 : Tc_max;
        int last_chunk = t0 + Tc == T;
        for (int b = 0; b < B; b++)
            memcpy(c->ids + (size_t)b * Tc, ids + (size_t)b * T + t0, sizeof(int32_t) * Tc);
        wf_status st = forward_chunk(c, B, Tc, NULL, NULL, NULL, err);
        if (st) return st;
        if (mode == WF_LOGITS_ALL) {
            if (B == 1 || Tc == T)
                lm_head(c, logits + (size_t)t0 * V, c->ln, B * Tc);
            else
                for (int b = 0; b < B; b++)
                    lm_head(c, logits + ((size_t)b * T + t0) * V, c->ln + (size_t)b * Tc * C, Tc);
        } else if (mode == WF_LOGITS_LAST && last_chunk) {
            /* Gather each sequence's last row, then one product for all B. */
            for (int b = 0; b < B; b++)
                memmove(c->tmp + (size_t)b * C, c->ln + ((size_t)b * Tc + Tc - 1) * C, sizeof(float) * C);
            lm_head(c, logits, c->tmp, B);
        }
    }
    return WF_OK;
}

wf_status wf_infer_forward_slots(wf_infer *c, const int *slot, const int *pos, const int *len, const int32_t *ids,
                                 int B, float *logits, wf_logits_mode mode, wf_err *err) {
    const int C = c->cfg.n_embd, V = c->cfg.vocab_size;
    if (B < 1 || B > c->max_batch)
        return WF_FAIL(err, WF_EUSAGE, "infer: %d sequences, expected 1..%d", B, c->max_batch);
    if (mode != WF_LOGITS_NONE && !logits) return WF_FAIL(err, WF_EUSAGE, "infer: logits buffer is NULL");
    long rows = 0;
    for (int b = 0; b < B; b++) {
        if (slot[b] < 0 || slot[b] >= c->max_batch)
            return WF_FAIL(err, WF_EUSAGE, "infer: slot %d outside [0, %d)", slot[b], c->max_batch);
        for (int j = 0; j < b; j++)
            if (slot[j] == slot[b]) return WF_FAIL(err, WF_EUSAGE, "infer: slot %d given twice", slot[b]);
        if (len[b] < 1 || (rows += len[b]) > c->max_rows)
            return WF_FAIL(err, WF_EUSAGE, "infer: sequence %d: %d tokens; expected >= 1 and %d rows in all at most",
                           b, len[b], c->max_rows);
        if (pos[b] < 0 || (long)pos[b] + len[b] > c->n_ctx)
            return WF_FAIL(err, WF_ERANGE, "infer: sequence of %ld tokens exceeds the context of %d",
                           (long)pos[b] + len[b], c->n_ctx);
    }
    for (long r = 0, b = 0, t = 0; r < rows; r++, t++) {
        while (t == len[b]) b++, t = 0;
        if (ids[r] < 0 || ids[r] >= V)
            return WF_FAIL(err, WF_ERANGE, "token id %ld at (batch %ld, position %ld) out of range [0, %d)",
                           (long)ids[r], b, pos[b] + t, V);
    }
    memcpy(c->ids, ids, sizeof(int32_t) * (size_t)rows);
    wf_status st = forward_chunk(c, B, 0, slot, pos, len, err);
    if (st) return st;
    if (mode == WF_LOGITS_ALL) lm_head(c, logits, c->ln, (int)rows);
    else if (mode == WF_LOGITS_LAST) {
        for (int b = 0, r = 0; b < B; r += len[b++])
            memmove(c->tmp + (size_t)b * C, c->ln + ((size_t)r + len[b] - 1) * C, sizeof(float) * C);
        lm_head(c, logits, c->tmp, B);
    }
    return WF_OK;
}
