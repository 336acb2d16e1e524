/* gpt.c — the forward of a Cerebras-GPT-style model on the simulated fabric,
** weight-streaming style (gpt.h): every multiply streams its weights into a
** fabric holding the activations (wf_wse_mm_run, fp32); LayerNorm, bias and
** residual adds, GELU and attention run on a row of PEs (wse/vec.c). */
#include "gpt.h"

#include "model/params.h"

#include <string.h>

/* A grid for Y[T,N] = X[T,K] W[K,N] that divides the sizes and fits a PE. */
static wf_status mm(wf_wse_gpt_stats *st, float *Y, const float *X, const float *W, int T, int K, int N,
                    wf_err *err) {
    wf_wse_mm_cfg c = {T, K, N, 1, 1, 1, 0, 1, 2, NULL};
    for (int kx = 8; kx >= 1; kx--)
        if (T % kx == 0) {
            c.kx = kx;
            break;
        }
    for (int ky = 1; ky <= K; ky++)
        if (K % ky == 0 && (K / ky <= 32 || ky == K)) {
            c.ky = ky;
            break;
        }
    static const int nbs[] = {64, 32, 16, 8, 4, 2, 1};
    wf_err e = {0};
    int ok = 0;
    for (size_t i = 0; i < sizeof nbs / sizeof nbs[0] && !ok; i++) {
        c.nb = nbs[i];
        ok = N % c.nb == 0 && wf_wse_mm_check(&c, &e) == WF_OK;
    }
    if (!ok) return WF_FAIL(err, WF_ESRAM, "wse gpt: no grid fits the %d x %d x %d multiply: %s", T, K, N, e.msg);
    wf_wse_mm_stats ms;
    wf_status rc = wf_wse_mm_run(&c, X, W, Y, &ms, err);
    st->mm_cycles += ms.cycles;
    st->io_cycles += ms.io_cycles;
    return rc;
}

wf_status wf_wse_gpt_forward(const wf_gpt_config *cfg, const float *weights, const int32_t *ids, int T,
                             float *logits, wf_wse_gpt_stats *st, wf_err *err) {
    memset(st, 0, sizeof *st);
    double t0 = wf_now();
    const int C = cfg->n_embd, F = cfg->n_inner, V = cfg->vocab_size, H = cfg->n_head;
    if (T < 1 || T > cfg->n_positions || T > 256 || C > 256 || F > 256)
        return WF_FAIL(err, WF_EUSAGE, "wse gpt: T %d, C %d, F %d: the fabric forward takes T, C, F <= 256", T, C, F);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= V)
            return WF_FAIL(err, WF_ERANGE, "wse gpt: token id %d at position %d out of range [0, %d)", ids[t], t, V);
    wf_gpt_view w;
    wf_status rc = wf_gpt_view_bind(cfg, (float *)(uintptr_t)weights, &w, err);
    if (rc) return rc;
    wf_wse_vec *v = NULL;
    float *buf = wf_calloc(NULL, sizeof(float) * ((size_t)T * (4 * C + 3 * C + 2 * F) + (size_t)C * V),
                           "wse gpt activations", err);
    if (!buf) {
        rc = WF_ENOMEM;
        goto done;
    }
    float *x = buf, *h = x + (size_t)T * C, *qkv = h + (size_t)T * C, *att = qkv + (size_t)T * 3 * C;
    float *a = att + (size_t)T * C, *f = a + (size_t)T * C, *g = f + (size_t)T * F, *wt = g + (size_t)T * F;
    int np = T > H ? T : H;
    if ((rc = wf_wse_vec_new(np, &v, err))) goto done;
    /* embeddings: a gather, on the host */
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            x[(size_t)t * C + c] = w.wte[(size_t)ids[t] * C + c] + w.wpe[(size_t)t * C + c];
    const float eps = cfg->layer_norm_eps;
    for (int l = 0; l < cfg->n_layer; l++) {
        const wf_gpt_layer *L = &w.layers[l];
        if ((rc = wf_wse_layernorm(v, h, x, L->ln1_w, L->ln1_b, T, C, eps, err)) ||
            (rc = mm(st, qkv, h, L->qkv_w, T, C, 3 * C, err)))
            goto done;
        for (int part = 0; part < 3; part++) { /* bias, C columns at a time (rows of <= 256) */
            for (int t = 0; t < T; t++) memcpy(a + (size_t)t * C, qkv + (size_t)t * 3 * C + part * C, C * 4);
            if ((rc = wf_wse_add(v, a, a, L->qkv_b + part * C, NULL, T, C, err))) goto done;
            for (int t = 0; t < T; t++) memcpy(qkv + (size_t)t * 3 * C + part * C, a + (size_t)t * C, C * 4);
        }
        if ((rc = wf_wse_attention(v, att, qkv, T, C, H, err)) || (rc = mm(st, a, att, L->aproj_w, T, C, C, err)) ||
            (rc = wf_wse_add(v, x, a, L->aproj_b, x, T, C, err)) ||
            (rc = wf_wse_layernorm(v, h, x, L->ln2_w, L->ln2_b, T, C, eps, err)) ||
            (rc = mm(st, f, h, L->fc_w, T, C, F, err)) || (rc = wf_wse_add(v, f, f, L->fc_b, NULL, T, F, err)) ||
            (rc = wf_wse_gelu(v, g, f, T, F, err)) || (rc = mm(st, a, g, L->fproj_w, T, F, C, err)) ||
            (rc = wf_wse_add(v, x, a, L->fproj_b, x, T, C, err)))
            goto done;
    }
    if ((rc = wf_wse_layernorm(v, h, x, w.lnf_w, w.lnf_b, T, C, eps, err))) goto done;
    /* the head: logits = h lm_head^T; the host streams lm_head transposed (C x V) */
    for (int vv = 0; vv < V; vv++)
        for (int c = 0; c < C; c++) wt[(size_t)c * V + vv] = w.lm_head[(size_t)vv * C + c];
    if ((rc = mm(st, logits, h, wt, T, C, V, err))) goto done;
done:
    if (v) {
        st->vec_cycles = wf_wse_vec_stats_get(v)->compute_cycles;
        st->io_cycles += wf_wse_vec_stats_get(v)->io_cycles;
    }
    wf_wse_vec_free(v);
    wf_free(NULL, buf);
    wf_gpt_view_unbind(&w);
    st->wall_s = wf_now() - t0;
    return rc;
}
