/* gpt.c — the forward of a Cerebras-GPT-style model on the simulated fabric,
** weight-streaming style (gpt.h): every multiply streams its weights into a
** fabric holding the activations (wf_wse_mm_run, fp32); LayerNorm, bias and
** residual adds, GELU and attention run on a row of PEs (wse/vec.c). */
#include "gpt.h"

#include "model/params.h"

#include <string.h>

/* A grid for Y[T,N] = X[T,K] W[K,N] that divides the sizes and fits a PE. */
static wf_status mm(wf_wse_gpt_stats *st, wf_wse_prof *prof, const char *what, float *Y, const float *X,
                    const float *W, int T, int K, int N, wf_err *err) {
    wf_wse_mm_cfg c = {T, K, N, 1, 1, 1, 0, 1, 2, NULL, NULL, NULL, prof, what, NULL};
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

static void transpose(float *dst, const float *src, int R, int C);

wf_status wf_wse_gpt_forward(const wf_gpt_config *cfg, const float *weights, const int32_t *ids, int T, int mode,
                             float *logits, wf_wse_gpt_stats *st, wf_wse_prof *prof, wf_err *err) {
    memset(st, 0, sizeof *st);
    double t0 = wf_now();
    const int C = cfg->n_embd, F = cfg->n_inner, V = cfg->vocab_size, H = cfg->n_head;
    if (T < 1 || T > cfg->n_positions || T > 256 || C > 256 || F > 512 || cfg->n_layer > WF_WSE_MAX_LAYERS)
        return WF_FAIL(err, WF_EUSAGE, "wse gpt: T %d, C %d, F %d, %d layers: the fabric forward takes T, C <= 256, "
                       "F <= 512, at most %d layers", T, C, F, cfg->n_layer, WF_WSE_MAX_LAYERS);
    if (mode != WF_WSE_STREAM && mode != WF_WSE_PIPELINED)
        return WF_FAIL(err, WF_EUSAGE, "wse gpt: mode %d: expected stream (0) or pipelined (1)", mode);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= V)
            return WF_FAIL(err, WF_ERANGE, "wse gpt: token id %d at position %d out of range [0, %d)", ids[t], t, V);
    if (mode == WF_WSE_PIPELINED) {
        wf_status rc = wf_wse_gpt_pipelined(cfg, weights, ids, T, logits, st, prof, NULL, err);
        st->wall_s = wf_now() - t0;
        return rc;
    }
    wf_gpt_view w;
    wf_status rc = wf_gpt_view_bind(cfg, (float *)(uintptr_t)weights, &w, err);
    if (rc) return rc;
    wf_wse_vec *v = NULL;
    size_t nfl = (size_t)T * (4 * C + 3 * C + 2 * F) + (size_t)C * V;
    float *buf = wf_calloc(NULL, sizeof(float) * nfl, "wse gpt activations", err);
    if (!buf) {
        rc = WF_ENOMEM;
        goto done;
    }
    float *x = buf, *h = x + (size_t)T * C, *qkv = h + (size_t)T * C, *att = qkv + (size_t)T * 3 * C;
    float *a = att + (size_t)T * C, *f = a + (size_t)T * C, *g = f + (size_t)T * F, *wt = g + (size_t)T * F;
    int np = T > H ? T : H;
    if ((rc = wf_wse_vec_new(np, &v, err))) goto done;
    wf_wse_vec_set_prof(v, prof);
    /* embeddings: a gather, on the host */
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            x[(size_t)t * C + c] = w.wte[(size_t)ids[t] * C + c] + w.wpe[(size_t)t * C + c];
    const float eps = cfg->layer_norm_eps;
    for (int l = 0; l < cfg->n_layer; l++) {
        const wf_gpt_layer *L = &w.layers[l];
        uint64_t m0 = st->mm_cycles;
        wf_wse_prof_at(prof, l, 0);
        if ((rc = wf_wse_layernorm(v, h, x, L->ln1_w, L->ln1_b, T, C, eps, err)) ||
            (rc = mm(st, prof, "matmul", qkv, h, L->qkv_w, T, C, 3 * C, err)))
            goto done;
        for (int part = 0; part < 3; part++) { /* bias, C columns at a time (rows of <= 256) */
            for (int t = 0; t < T; t++) memcpy(a + (size_t)t * C, qkv + (size_t)t * 3 * C + part * C, C * 4);
            if ((rc = wf_wse_add(v, a, a, L->qkv_b + part * C, NULL, T, C, err))) goto done;
            for (int t = 0; t < T; t++) memcpy(qkv + (size_t)t * 3 * C + part * C, a + (size_t)t * C, C * 4);
        }
        if ((rc = wf_wse_attention(v, att, qkv, T, C, H, err)) ||
            (rc = mm(st, prof, "matmul", a, att, L->aproj_w, T, C, C, err)) ||
            (rc = wf_wse_add(v, x, a, L->aproj_b, x, T, C, err)) ||
            (rc = wf_wse_layernorm(v, h, x, L->ln2_w, L->ln2_b, T, C, eps, err)) ||
            (rc = mm(st, prof, "matmul", f, h, L->fc_w, T, C, F, err)) ||
            (rc = wf_wse_add(v, f, f, L->fc_b, NULL, T, F, err)) ||
            (rc = wf_wse_gelu(v, g, f, T, F, err)) ||
            (rc = mm(st, prof, "matmul", a, g, L->fproj_w, T, F, C, err)) ||
            (rc = wf_wse_add(v, x, a, L->fproj_b, x, T, C, err)))
            goto done;
        st->layer_mm_cycles[l] = st->mm_cycles - m0;
    }
    wf_wse_prof_at(prof, -1, 0);
    if ((rc = wf_wse_layernorm(v, h, x, w.lnf_w, w.lnf_b, T, C, eps, err))) goto done;
    /* the head: logits = h lm_head^T; the host streams lm_head transposed (C x V) */
    for (int vv = 0; vv < V; vv++)
        for (int c = 0; c < C; c++) wt[(size_t)c * V + vv] = w.lm_head[(size_t)vv * C + c];
    uint64_t m0 = st->mm_cycles;
    if ((rc = mm(st, prof, "matmul", logits, h, wt, T, C, V, err))) goto done;
    st->head_mm_cycles = st->mm_cycles - m0;
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

/* ---- the training step -------------------------------------------------------------- */
static void transpose(float *dst, const float *src, int R, int C) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) dst[(size_t)c * R + r] = src[(size_t)r * C + c];
}

typedef struct {
    wf_wse_gpt_stats *st;
    wf_wse_prof *prof;
    float *tmp, *tr, *ones; /* scratch: a product, a transposed operand, T ones */
    int T;
} ctx;

/* g[K,N] += X^T[K,T] . dY[T,N] on the fabric (the weight gradient), then
** leaves for the store, which sums it in. */
static wf_status grad_w(ctx *c, float *g, const float *X, const float *dY, int K, int N, wf_err *err) {
    transpose(c->tr, X, c->T, K);
    wf_status rc = mm(c->st, c->prof, "dW", c->tmp, c->tr, dY, K, c->T, N, err);
    if (rc) return rc;
    for (size_t i = 0; i < (size_t)K * N; i++) g[i] += c->tmp[i];
    return WF_OK;
}
/* g[N] += column sums of dY[T,N], as a multiply by a row of ones. */
static wf_status grad_b(ctx *c, float *g, const float *dY, int N, wf_err *err) {
    wf_status rc = mm(c->st, c->prof, "db", c->tmp, c->ones, dY, 1, c->T, N, err);
    if (rc) return rc;
    for (int i = 0; i < N; i++) g[i] += c->tmp[i];
    return WF_OK;
}
/* dX[T,K] = dY[T,N] . W^T (W is [K,N]; the host streams it transposed). */
static wf_status grad_x(ctx *c, float *dX, const float *dY, const float *W, int K, int N, wf_err *err) {
    transpose(c->tr, W, K, N);
    return mm(c->st, c->prof, "dX", dX, dY, c->tr, c->T, N, K, err);
}
/* The three gradients of y = x W + b. */
static wf_status linear_bwd(ctx *c, float *dX, float *gW, float *gb, const float *dY, const float *X, const float *W,
                            int K, int N, wf_err *err) {
    wf_status rc;
    if ((rc = grad_w(c, gW, X, dY, K, N, err)) || (rc = grad_b(c, gb, dY, N, err))) return rc;
    return dX ? grad_x(c, dX, dY, W, K, N, err) : WF_OK;
}

wf_status wf_wse_gpt_step(const wf_gpt_config *cfg, const float *weights, float *grads, const int32_t *inputs,
                          const int32_t *targets, int T, float *loss, wf_wse_gpt_stats *st, wf_wse_prof *prof,
                          wf_err *err) {
    memset(st, 0, sizeof *st);
    double t0 = wf_now();
    const int C = cfg->n_embd, F = cfg->n_inner, V = cfg->vocab_size, H = cfg->n_head, L = cfg->n_layer;
    if (T < 1 || T > cfg->n_positions || T > 256 || C > 256 || F > 512 || F < C || V > 2048)
        return WF_FAIL(err, WF_EUSAGE, "wse gpt step: T %d, C %d, F %d, V %d: the fabric step takes T, C <= 256, "
                       "F <= 512, V <= 2048", T, C, F, V);
    for (int t = 0; t < T; t++)
        if (inputs[t] < 0 || inputs[t] >= V || targets[t] < 0 || targets[t] >= V)
            return WF_FAIL(err, WF_ERANGE, "wse gpt step: token id %d / target %d at position %d out of range [0, %d)",
                           inputs[t], targets[t], t, V);
    wf_gpt_view w, g;
    wf_status rc = wf_gpt_view_bind(cfg, (float *)(uintptr_t)weights, &w, err);
    if (rc) return rc;
    if ((rc = wf_gpt_view_bind(cfg, grads, &g, err))) {
        wf_gpt_view_unbind(&w);
        return rc;
    }
    wf_wse_vec *v = NULL;
    const size_t TC = (size_t)T * C, TF = (size_t)T * F;
    /* saved per layer: x_in, h1, qkv (3 TC), att, x_mid, h2 (5 TC + 3 TC), f_pre, f_post (2 TF) */
    size_t big = (size_t)V * C;
    if ((size_t)F * C > big) big = (size_t)F * C;
    if ((size_t)3 * C * C > big) big = (size_t)3 * C * C;
    size_t trn = big > (size_t)T * V ? big : (size_t)T * V;
    if (TF > trn) trn = TF;
    size_t nfl = (size_t)L * (8 * TC + 2 * TF) + 2 * TC + 2 * (size_t)T * V + 7 * TC + 4 * TF + 2 * (size_t)T + big +
                 trn;
    float *buf = wf_calloc(NULL, nfl * sizeof(float), "wse gpt step activations", err);
    if (!buf) {
        rc = WF_ENOMEM;
        goto done;
    }
    float *p = buf;
#define TAKE(n) (p += (n), p - (n))
    float *xin = TAKE((size_t)L * TC), *h1 = TAKE((size_t)L * TC), *qkv = TAKE((size_t)L * 3 * TC);
    float *att = TAKE((size_t)L * TC), *xmid = TAKE((size_t)L * TC), *h2 = TAKE((size_t)L * TC);
    float *fpre = TAKE((size_t)L * TF), *fpost = TAKE((size_t)L * TF);
    float *x = TAKE(TC), *hf = TAKE(TC), *logits = TAKE((size_t)T * V), *dlogits = TAKE((size_t)T * V);
    float *dx = TAKE(TC), *dh = TAKE(TC), *da = TAKE(TC), *dxm = TAKE(TC), *dq = TAKE(3 * TC), *dyxh = TAKE(TF);
    float *dF = TAKE(TF), *dG = TAKE(TF), *a = TAKE(TF), *losses = TAKE((size_t)T);
    ctx c = {st, prof, NULL, NULL, NULL, T};
    c.tmp = TAKE(big);
    c.tr = TAKE(trn);
    c.ones = TAKE((size_t)T);
#undef TAKE
    WF_ASSERT((size_t)(p - buf) <= nfl);
    for (int t = 0; t < T; t++) c.ones[t] = 1.0f;
    int np = T > H ? T : H;
    if ((rc = wf_wse_vec_new(np, &v, err))) goto done;
    wf_wse_vec_set_prof(v, prof);
    const float eps = cfg->layer_norm_eps;
    /* forward, keeping what the backward needs */
    for (int t = 0; t < T; t++)
        for (int k = 0; k < C; k++)
            x[(size_t)t * C + k] = w.wte[(size_t)inputs[t] * C + k] + w.wpe[(size_t)t * C + k];
    for (int l = 0; l < L; l++) {
        const wf_gpt_layer *Lw = &w.layers[l];
        float *X = xin + l * TC, *H1 = h1 + l * TC, *Q = qkv + l * 3 * TC, *A = att + l * TC, *XM = xmid + l * TC;
        float *H2 = h2 + l * TC, *FP = fpre + l * TF, *FQ = fpost + l * TF;
        memcpy(X, x, TC * 4);
        wf_wse_prof_at(prof, l, 0);
        if ((rc = wf_wse_layernorm(v, H1, X, Lw->ln1_w, Lw->ln1_b, T, C, eps, err)) ||
            (rc = mm(st, prof, "matmul", Q, H1, Lw->qkv_w, T, C, 3 * C, err)))
            goto done;
        for (int part = 0; part < 3; part++) {
            for (int t = 0; t < T; t++) memcpy(a + (size_t)t * C, Q + (size_t)t * 3 * C + part * C, C * 4);
            if ((rc = wf_wse_add(v, a, a, Lw->qkv_b + part * C, NULL, T, C, err))) goto done;
            for (int t = 0; t < T; t++) memcpy(Q + (size_t)t * 3 * C + part * C, a + (size_t)t * C, C * 4);
        }
        if ((rc = wf_wse_attention(v, A, Q, T, C, H, err)) ||
            (rc = mm(st, prof, "matmul", a, A, Lw->aproj_w, T, C, C, err)) ||
            (rc = wf_wse_add(v, XM, a, Lw->aproj_b, X, T, C, err)) ||
            (rc = wf_wse_layernorm(v, H2, XM, Lw->ln2_w, Lw->ln2_b, T, C, eps, err)) ||
            (rc = mm(st, prof, "matmul", FP, H2, Lw->fc_w, T, C, F, err)) ||
            (rc = wf_wse_add(v, FP, FP, Lw->fc_b, NULL, T, F, err)) || (rc = wf_wse_gelu(v, FQ, FP, T, F, err)) ||
            (rc = mm(st, prof, "matmul", a, FQ, Lw->fproj_w, T, F, C, err)) ||
            (rc = wf_wse_add(v, x, a, Lw->fproj_b, XM, T, C, err)))
            goto done;
    }
    /* head: ln_f, logits = hf wte^T, cross-entropy */
    wf_wse_prof_at(prof, -1, 0);
    if ((rc = wf_wse_layernorm(v, hf, x, w.lnf_w, w.lnf_b, T, C, eps, err))) goto done;
    transpose(c.tr, w.lm_head, V, C);
    if ((rc = mm(st, prof, "lm head", logits, hf, c.tr, T, C, V, err)) ||
        (rc = wf_wse_crossentropy(v, dlogits, losses, logits, targets, T, V, 1.0f / (float)T, err)))
        goto done;
    double lsum = 0;
    for (int t = 0; t < T; t++) lsum += losses[t];
    *loss = (float)(lsum / T);
    /* head backward: dhf = dlogits . wte; dwte += dlogits^T . hf */
    float *g_head = cfg->untied_head ? g.lm_head : g.wte;
    wf_wse_prof_at(prof, -1, 1);
    if ((rc = mm(st, prof, "dX", dh, dlogits, w.lm_head, T, V, C, err)) ||
        (rc = grad_w(&c, g_head, dlogits, hf, V, C, err)) ||
        (rc = wf_wse_layernorm_backward(v, dx, dyxh, dh, x, w.lnf_w, T, C, eps, err)) ||
        (rc = grad_b(&c, g.lnf_w, dyxh, C, err)) || (rc = grad_b(&c, g.lnf_b, dh, C, err)))
        goto done;
    for (int l = L - 1; l >= 0; l--) {
        const wf_gpt_layer *Lw = &w.layers[l];
        wf_gpt_layer *Lg = &g.layers[l];
        wf_wse_prof_at(prof, l, 1);
        float *X = xin + l * TC, *H1 = h1 + l * TC, *Q = qkv + l * 3 * TC, *A = att + l * TC, *XM = xmid + l * TC;
        float *H2 = h2 + l * TC, *FP = fpre + l * TF, *FQ = fpost + l * TF;
        /* MLP: x_out = x_mid + fproj(gelu(fc(ln2(x_mid)))) */
        if ((rc = linear_bwd(&c, dG, Lg->fproj_w, Lg->fproj_b, dx, FQ, Lw->fproj_w, F, C, err)) ||
            (rc = wf_wse_gelu_backward(v, dF, FP, dG, T, F, err)) ||
            (rc = linear_bwd(&c, dh, Lg->fc_w, Lg->fc_b, dF, H2, Lw->fc_w, C, F, err)) ||
            (rc = wf_wse_layernorm_backward(v, da, dyxh, dh, XM, Lw->ln2_w, T, C, eps, err)) ||
            (rc = grad_b(&c, Lg->ln2_w, dyxh, C, err)) || (rc = grad_b(&c, Lg->ln2_b, dh, C, err)) ||
            (rc = wf_wse_add(v, dxm, dx, NULL, da, T, C, err)))
            goto done;
        /* attention: x_mid = x_in + aproj(attn(qkv(ln1(x_in)))) */
        if ((rc = linear_bwd(&c, da, Lg->aproj_w, Lg->aproj_b, dxm, A, Lw->aproj_w, C, C, err)) ||
            (rc = wf_wse_attention_backward(v, dq, da, Q, T, C, H, err)) ||
            (rc = linear_bwd(&c, dh, Lg->qkv_w, Lg->qkv_b, dq, H1, Lw->qkv_w, C, 3 * C, err)) ||
            (rc = wf_wse_layernorm_backward(v, da, dyxh, dh, X, Lw->ln1_w, T, C, eps, err)) ||
            (rc = grad_b(&c, Lg->ln1_w, dyxh, C, err)) || (rc = grad_b(&c, Lg->ln1_b, dh, C, err)) ||
            (rc = wf_wse_add(v, dx, dxm, NULL, da, T, C, err)))
            goto done;
    }
    /* embeddings: scatter on the host */
    for (int t = 0; t < T; t++)
        for (int k = 0; k < C; k++) {
            g.wte[(size_t)inputs[t] * C + k] += dx[(size_t)t * C + k];
            g.wpe[(size_t)t * C + k] += dx[(size_t)t * C + k];
        }
done:
    if (v) {
        st->vec_cycles = wf_wse_vec_stats_get(v)->compute_cycles;
        st->io_cycles += wf_wse_vec_stats_get(v)->io_cycles;
    }
    wf_wse_vec_free(v);
    wf_free(NULL, buf);
    wf_gpt_view_unbind(&w);
    wf_gpt_view_unbind(&g);
    st->wall_s = wf_now() - t0;
    return rc;
}
