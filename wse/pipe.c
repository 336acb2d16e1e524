/* pipe.c — a Cerebras-GPT-style model's forward in pipelined mode on ONE
** simulated fabric (gpt.h): every layer's weights resident on regions of
** its own, the tokens flowing from region to region over the fabric.
**
** Layout, one row of PEs, west to east (docs/wse-model.md has the figure):
**
**   [in] [attn L0: H PEs] [mlp L0: M PEs] [attn L1] [mlp L1] ... [head: NV PEs]
**
** - in: the host streams each token's embedding row x_t (C floats) into
**   this PE's input queue; it relays them east.
** - Every region takes x_t on its broadcast color: each PE receives all C
**   values (the route multicasts along the region), so each can take its
**   LayerNorm on its own.
** - attn, PE h = head h: LayerNorm ln1, its head's q, k, v (a C x 3D slice
**   of W_qkv, resident), k and v appended to its KV cache (resident), causal
**   attention of q over the cache, then its rows of the projection
**   (D x C of W_proj): a partial of the projection.
** - mlp, PE m: LayerNorm ln2, its F/M columns of W_fc, the bias, GELU, then
**   its F/M rows of W_fproj: a partial.
** - The partials are summed along the region in a pipelined chain (colors
**   alternating, as the matmul kernel's column chain); the last PE adds the
**   bias and the residual (x_t, which it received too) and sends the result
**   east on the next region's broadcast color.
** - head, PE v: LayerNorm ln_f and its V/NV logits (a C x V/NV slice of
**   lm_head^T), kept in SRAM; the host reads them after the batch.
**
** Regions work on different tokens at once: while layer 1 takes token t,
** layer 0 takes token t+1 (pipeline parallelism). Within a region a token
** is done when the chain has summed it; the next enters then.
** Arithmetic is fp32 DSD ops (fmacs, fadds, fmuls charged by the cost
** model); the LayerNorm row sums, exp and erf are scalar work charged at
** WF_WSE_SCALAR_CYCLES per element, as in vec.c. */
#include "gpt.h"
#include "wse_int.h"

#include "../sdk/diag.h"
#include "../sdk/sdk.h"
#include "model/params.h"

#include <math.h>
#include <string.h>

enum { R_IN, R_ATTN, R_MLP, R_HEAD };
enum { S_ST, S_XB, S_LNW, S_LNB, S_HB, S_W1, S_B1, S_A, S_KC, S_VC, S_S, S_O, S_W2, S_P, S_R, S_B2, S_LOG, S_AT,
       S_COUNT };
enum { P_ROLE, P_C, P_T, P_D, P_FS, P_AIN, P_AOUT, P_EPS, P_COUNT };
/* colors: host in, the broadcasts alternate per region, the chain alternates per PE */
enum { C_HOST = 1, C_B0 = 2, C_B1 = 3, C_CH0 = 4, C_CH1 = 5 };
enum { T_X = 20, T_LAST = 21, T_SENT = 22 };
enum { ST_T, ST_WORDS };

static const wf_symbol_decl syms[S_COUNT] = {
    {"st", 4 * ST_WORDS}, {"xb", 4}, {"lnw", 4}, {"lnb", 4}, {"hb", 4}, {"w1", 4}, {"b1", 4}, {"a", 4}, {"kc", 4},
    {"vc", 4},           {"s", 4},  {"o", 4},   {"w2", 4},  {"p", 4},  {"r", 4},  {"b2", 4}, {"log", 4}, {"at", 4},
};

static wf_dsd v1(wf_pe *pe, const float *p, uint32_t n) { return wf_dsd_mem1d(pe, p, n, 1, 4); }

/* y[n] = sum_k x[k] * W[k][n] (W row-major K x N), one vector op per row k. */
static void vecmat(wf_pe *pe, float *y, const float *x, const float *W, uint32_t K, uint32_t N) {
    wf_fmuls(pe, v1(pe, y, N), v1(pe, W, N), wf_dsd_scalar_f32(x[0]), WF_SYNC);
    for (uint32_t k = 1; k < K; k++)
        wf_fmacs(pe, v1(pe, y, N), v1(pe, y, N), v1(pe, W + (size_t)k * N, N), x[k], WF_SYNC);
}

static void post_receive(wf_pe *pe) {
    uint32_t C = (uint32_t)wf_pe_param(pe, P_C);
    wf_fmovs(pe, v1(pe, wf_sym(pe, S_XB), C), wf_dsd_fabin((int)wf_pe_param(pe, P_AIN), C), wf_async_activate(T_X));
}

static void t_sent(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *st = wf_sym(pe, S_ST);
    if (++st[ST_T] < (uint32_t)wf_pe_param(pe, P_T)) post_receive(pe);
}

/* Sum the partial P along the region; the last PE goes on in T_LAST. */
static void chain(wf_pe *pe) {
    uint32_t C = (uint32_t)wf_pe_param(pe, P_C);
    int rx = wf_pe_rx(pe), rw = wf_pe_rw(pe);
    float *p = wf_sym(pe, S_P), *r = wf_sym(pe, S_R);
    static const int CH[2] = {C_CH0, C_CH1};
    if (rw == 1) {
        wf_fmovs(pe, v1(pe, r, C), v1(pe, p, C), wf_async_activate(T_LAST));
    } else if (rx == 0) {
        wf_fmovs(pe, wf_dsd_fabout(CH[0], C), v1(pe, p, C), wf_async_activate(T_SENT));
    } else if (rx < rw - 1) {
        wf_fadds(pe, wf_dsd_fabout(CH[rx & 1], C), wf_dsd_fabin(CH[(rx - 1) & 1], C), v1(pe, p, C),
                 wf_async_activate(T_SENT));
    } else {
        wf_fadds(pe, v1(pe, r, C), wf_dsd_fabin(CH[(rx - 1) & 1], C), v1(pe, p, C), wf_async_activate(T_LAST));
    }
}

/* The last PE of a region: bias, residual, and on to the next region. */
static void t_last(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t C = (uint32_t)wf_pe_param(pe, P_C);
    float *r = wf_sym(pe, S_R), *x = wf_sym(pe, S_XB), *b = wf_sym(pe, S_B2);
    wf_fadds(pe, v1(pe, r, C), v1(pe, r, C), v1(pe, b, C), WF_SYNC); /* y = sum + b */
    wf_fadds(pe, v1(pe, r, C), v1(pe, x, C), v1(pe, r, C), WF_SYNC); /* x + y */
    wf_fmovs(pe, wf_dsd_fabout((int)wf_pe_param(pe, P_AOUT), C), v1(pe, r, C), wf_async_activate(T_SENT));
}

static void attn(wf_pe *pe, uint32_t t) {
    uint32_t C = (uint32_t)wf_pe_param(pe, P_C), D = (uint32_t)wf_pe_param(pe, P_D);
    float *a = wf_sym(pe, S_A), *kc = wf_sym(pe, S_KC), *vc = wf_sym(pe, S_VC), *s = wf_sym(pe, S_S);
    float *o = wf_sym(pe, S_O), *h = wf_sym(pe, S_HB);
    vecmat(pe, a, h, wf_sym(pe, S_W1), C, 3 * D); /* q | k | v of this head */
    wf_fadds(pe, v1(pe, a, 3 * D), v1(pe, a, 3 * D), v1(pe, wf_sym(pe, S_B1), 3 * D), WF_SYNC);
    wf_fmovs(pe, v1(pe, kc + (size_t)t * D, D), v1(pe, a + D, D), WF_SYNC);
    wf_fmovs(pe, v1(pe, vc + (size_t)t * D, D), v1(pe, a + 2 * D, D), WF_SYNC);
    /* scores s[j] = (q . k_j) / sqrt(D), j <= t: one op per element of q over the cache's column */
    uint32_t n = t + 1;
    wf_fmuls(pe, v1(pe, s, n), wf_dsd_mem1d(pe, kc, n, (int32_t)D, 4), wf_dsd_scalar_f32(a[0]), WF_SYNC);
    for (uint32_t e = 1; e < D; e++)
        wf_fmacs(pe, v1(pe, s, n), v1(pe, s, n), wf_dsd_mem1d(pe, kc + e, n, (int32_t)D, 4), a[e], WF_SYNC);
    wf_fmuls(pe, v1(pe, s, n), v1(pe, s, n), wf_dsd_scalar_f32(1.0f / sqrtf((float)D)), WF_SYNC);
    /* softmax: max, exp and sum are scalar work */
    float mx = -INFINITY;
    for (uint32_t j = 0; j < n; j++)
        if (s[j] > mx) mx = s[j];
    double sum = 0;
    for (uint32_t j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    wf_pe_charge(pe, 3 * n * WF_WSE_SCALAR_CYCLES);
    float inv = (float)(1.0 / sum);
    /* o = sum_j p_j v_j, then this head's rows of the projection */
    wf_fmuls(pe, v1(pe, o, D), v1(pe, vc, D), wf_dsd_scalar_f32(s[0] * inv), WF_SYNC);
    for (uint32_t j = 1; j < n; j++)
        wf_fmacs(pe, v1(pe, o, D), v1(pe, o, D), v1(pe, vc + (size_t)j * D, D), s[j] * inv, WF_SYNC);
    vecmat(pe, wf_sym(pe, S_P), o, wf_sym(pe, S_W2), D, C);
}

static void mlp(wf_pe *pe) {
    uint32_t C = (uint32_t)wf_pe_param(pe, P_C), fs = (uint32_t)wf_pe_param(pe, P_FS);
    float *a = wf_sym(pe, S_A);
    vecmat(pe, a, wf_sym(pe, S_HB), wf_sym(pe, S_W1), C, fs);
    wf_fadds(pe, v1(pe, a, fs), v1(pe, a, fs), v1(pe, wf_sym(pe, S_B1), fs), WF_SYNC);
    wse_gelu_row(pe, a, a, fs);
    vecmat(pe, wf_sym(pe, S_P), a, wf_sym(pe, S_W2), fs, C);
}

/* Token x_t is in XB. */
static void t_x(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t C = (uint32_t)wf_pe_param(pe, P_C), t = ((uint32_t *)wf_sym(pe, S_ST))[ST_T];
    int role = (int)wf_pe_param(pe, P_ROLE);
    wse_layernorm_row(pe, wf_sym(pe, S_HB), wf_sym(pe, S_XB), wf_sym(pe, S_LNW), wf_sym(pe, S_LNB), C,
                      wf_pe_param_f32(pe, P_EPS));
    if (role == R_HEAD) {
        uint32_t vs = (uint32_t)wf_pe_param(pe, P_FS);
        float *lg = (float *)wf_sym(pe, S_LOG) + (size_t)t * vs;
        vecmat(pe, lg, wf_sym(pe, S_HB), wf_sym(pe, S_W1), C, vs);
        ((uint32_t *)wf_sym(pe, S_AT))[t] = (uint32_t)wf_pe_cycle(pe); /* when token t's logits are ready */
        t_sent(pe, 0);
        return;
    }
    if (role == R_ATTN) attn(pe, t);
    else mlp(pe);
    chain(pe);
}

static void start(wf_pe *pe, uint32_t d) {
    (void)d;
    if (wf_pe_param(pe, P_ROLE) == R_IN) { /* relay every token east */
        uint32_t n = (uint32_t)(wf_pe_param(pe, P_C) * wf_pe_param(pe, P_T));
        wf_fmovs(pe, wf_dsd_fabout((int)wf_pe_param(pe, P_AOUT), n), wf_dsd_fabin(C_HOST, n), wf_async_none());
        return;
    }
    post_receive(pe);
}

static const wf_task_decl tasks[] = {
    {T_X, WF_TASK_LOCAL, t_x, 0, "token"},
    {T_LAST, WF_TASK_LOCAL, t_last, 0, "bias+residual"},
    {T_SENT, WF_TASK_LOCAL, t_sent, 0, "next token"},
};
static const wf_export_decl exports[] = {{"start", start}};
static const wf_kernel pipe_kernel = {"gpt pipelined", syms, S_COUNT, tasks, 3, exports, 1, NULL};

/* ---- the host side ------------------------------------------------------------------ */
typedef struct {
    int role, x, w, layer; /* region: role, first column, width, layer (-1: none) */
    int fs;                /* attn: 3D; mlp: F/M; head: V/NV */
    int ain, aout;
    uint32_t bytes[S_COUNT];
} region;

/* The largest divisor of n not above cap. */
static int divisor_at_most(int n, int cap) {
    for (int d = cap < n ? cap : n; d > 1; d--)
        if (n % d == 0) return d;
    return 1;
}

static void plan(const wf_gpt_config *cfg, int T, region *rg, int *nr, int *width) {
    const int C = cfg->n_embd, H = cfg->n_head, D = C / H, F = cfg->n_inner, V = cfg->vocab_size;
    /* slices: the mlp and head columns per PE near the head dimension, so
    ** no region is far slower than attention (each PE does C x slice work) */
    int fs = divisor_at_most(F, D > 16 ? D : 16), vs = divisor_at_most(V, 2 * (D > 16 ? D : 16));
    int n = 0, x = 0, b = 0;
    static const int B[2] = {C_B0, C_B1};
    memset(rg, 0, sizeof *rg * (size_t)(2 * cfg->n_layer + 2));
    rg[n++] = (region){R_IN, x++, 1, -1, 0, C_HOST, B[0], {0}};
    for (int l = 0; l < cfg->n_layer; l++) {
        rg[n] = (region){R_ATTN, x, H, l, 3 * D, B[b & 1], B[(b + 1) & 1], {0}};
        x += H, b++, n++;
        rg[n] = (region){R_MLP, x, F / fs, l, fs, B[b & 1], B[(b + 1) & 1], {0}};
        x += F / fs, b++, n++;
    }
    rg[n] = (region){R_HEAD, x, V / vs, -1, vs, B[b & 1], 0, {0}};
    x += V / vs, n++;
    *nr = n, *width = x;
    for (int i = 0; i < n; i++) {
        region *r = &rg[i];
        for (int s = 0; s < S_COUNT; s++) r->bytes[s] = 4;
        r->bytes[S_ST] = 4 * ST_WORDS;
        if (r->role == R_IN) continue;
        uint32_t c4 = 4u * (uint32_t)C, f4 = 4u * (uint32_t)r->fs;
        r->bytes[S_XB] = r->bytes[S_LNW] = r->bytes[S_LNB] = r->bytes[S_HB] = c4;
        r->bytes[S_W1] = c4 * (uint32_t)r->fs;
        r->bytes[S_A] = f4;
        if (r->role == R_HEAD) {
            r->bytes[S_LOG] = f4 * (uint32_t)T;
            r->bytes[S_AT] = 4u * (uint32_t)T;
            continue;
        }
        r->bytes[S_B1] = f4;
        r->bytes[S_P] = r->bytes[S_R] = r->bytes[S_B2] = c4;
        if (r->role == R_ATTN) {
            r->bytes[S_KC] = r->bytes[S_VC] = 4u * (uint32_t)(T * D);
            r->bytes[S_S] = 4u * (uint32_t)T;
            r->bytes[S_O] = 4u * (uint32_t)D;
            r->bytes[S_W2] = 4u * (uint32_t)(D * C);
        } else {
            r->bytes[S_W2] = f4 * (uint32_t)C;
        }
    }
}

/* Copies n floats per PE of region r into symbol sym: buf is [w][n]. */
static wf_status put(wf_host *h, const region *r, const char *sym, const float *buf, uint32_t n, uint64_t *io,
                     wf_err *err) {
    uint64_t c0 = wf_host_cycles(h);
    wf_memcpy m = {sym, 0, r->x, 0, r->w, 1, n, 0, 4, WF_ROW_MAJOR};
    wf_status rc = wf_host_h2d(h, &m, buf, err);
    *io += wf_host_cycles(h) - c0;
    return rc;
}

/* The same C-vector into every PE of r. */
static wf_status put_all(wf_host *h, const region *r, const char *sym, const float *vec, float *buf, int C,
                         uint64_t *io, wf_err *err) {
    for (int p = 0; p < r->w; p++) memcpy(buf + (size_t)p * C, vec, (size_t)C * 4);
    return put(h, r, sym, buf, (uint32_t)C, io, err);
}

/* Loads region r's resident weights. */
static wf_status load(wf_host *h, const region *r, const wf_gpt_view *w, const wf_gpt_config *cfg, float *buf,
                      uint64_t *io, wf_err *err) {
    const int C = cfg->n_embd, D = C / cfg->n_head, fs = r->fs, W = r->w;
    const wf_gpt_layer *L = r->layer >= 0 ? &w->layers[r->layer] : NULL;
    wf_status rc;
    if (r->role == R_ATTN) {
        if ((rc = put_all(h, r, "lnw", L->ln1_w, buf, C, io, err)) ||
            (rc = put_all(h, r, "lnb", L->ln1_b, buf, C, io, err)))
            return rc;
        /* head p: columns [part*C + p*D, +D) of W_qkv for part q, k, v */
        for (int p = 0; p < W; p++)
            for (int c = 0; c < C; c++)
                for (int part = 0; part < 3; part++)
                    for (int e = 0; e < D; e++)
                        buf[((size_t)p * C + c) * fs + part * D + e] =
                            L->qkv_w[(size_t)c * 3 * C + (size_t)part * C + (size_t)p * D + e];
        if ((rc = put(h, r, "w1", buf, (uint32_t)(C * fs), io, err))) return rc;
        for (int p = 0; p < W; p++)
            for (int part = 0; part < 3; part++)
                for (int e = 0; e < D; e++) buf[(size_t)p * fs + part * D + e] = L->qkv_b[part * C + p * D + e];
        if ((rc = put(h, r, "b1", buf, (uint32_t)fs, io, err))) return rc;
        /* head p: rows [p*D, +D) of W_proj */
        for (int p = 0; p < W; p++) memcpy(buf + (size_t)p * D * C, L->aproj_w + (size_t)p * D * C, (size_t)D * C * 4);
        if ((rc = put(h, r, "w2", buf, (uint32_t)(D * C), io, err))) return rc;
        return put_all(h, r, "b2", L->aproj_b, buf, C, io, err);
    }
    if (r->role == R_MLP) {
        const int F = cfg->n_inner;
        if ((rc = put_all(h, r, "lnw", L->ln2_w, buf, C, io, err)) ||
            (rc = put_all(h, r, "lnb", L->ln2_b, buf, C, io, err)))
            return rc;
        for (int p = 0; p < W; p++)
            for (int c = 0; c < C; c++)
                memcpy(buf + ((size_t)p * C + c) * fs, L->fc_w + (size_t)c * F + (size_t)p * fs, (size_t)fs * 4);
        if ((rc = put(h, r, "w1", buf, (uint32_t)(C * fs), io, err))) return rc;
        if ((rc = put(h, r, "b1", L->fc_b, (uint32_t)fs, io, err))) return rc; /* [W][fs] = fc_b in order */
        if ((rc = put(h, r, "w2", L->fproj_w, (uint32_t)(fs * C), io, err))) return rc; /* rows in order */
        return put_all(h, r, "b2", L->fproj_b, buf, C, io, err);
    }
    /* head: lm_head^T columns [p*vs, +vs) */
    if ((rc = put_all(h, r, "lnw", w->lnf_w, buf, C, io, err)) ||
        (rc = put_all(h, r, "lnb", w->lnf_b, buf, C, io, err)))
        return rc;
    for (int p = 0; p < W; p++)
        for (int c = 0; c < C; c++)
            for (int v = 0; v < fs; v++)
                buf[((size_t)p * C + c) * fs + v] = w->lm_head[((size_t)p * fs + v) * C + c];
    return put(h, r, "w1", buf, (uint32_t)(C * fs), io, err);
}

wf_status wf_wse_gpt_pipelined(const wf_gpt_config *cfg, const float *weights, const int32_t *ids, int T,
                               float *logits, wf_wse_gpt_stats *st, wf_wse_prof *prof, const char *trace,
                               wf_err *err) {
    const int C = cfg->n_embd, V = cfg->vocab_size, L = cfg->n_layer;
    memset(st, 0, sizeof *st);
    int nr, width;
    region *rg = wf_calloc(NULL, sizeof *rg * (size_t)(2 * L + 2), "wse pipelined regions", err);
    if (!rg) return WF_ENOMEM;
    plan(cfg, T, rg, &nr, &width);
    wf_layout *l = NULL;
    wf_host *h = NULL;
    wf_tracer *tracer = NULL;
    float *buf = NULL;
    uint32_t *at = NULL;
    wf_gpt_view w;
    int bound = 0;
    wf_status rc;
    if (width > WF_FABRIC_MAX_W) {
        rc = WF_FAIL(err, WF_EUSAGE, "wse pipelined: %d layers need a row of %d PEs, the fabric has %d", L, width,
                     WF_FABRIC_MAX_W);
        goto done;
    }
    static const char *rname[] = {"input", "attention", "mlp", "head"};
    for (int i = 1; i < nr; i++) { /* each PE's share, as the layout will place it (4-byte aligned) */
        const region *r = &rg[i];
        uint64_t need = wf_cost_wse2.code_reserve;
        for (int s = 0; s < S_COUNT; s++) need += (r->bytes[s] + 3u) & ~3u;
        if (need > wf_cost_wse2.sram_bytes) {
            char lay[24] = "";
            if (r->layer >= 0) snprintf(lay, sizeof lay, " of layer %d", r->layer);
            uint32_t wb = r->bytes[S_W1] + r->bytes[S_W2], kv = r->bytes[S_KC] + r->bytes[S_VC] + r->bytes[S_LOG];
            rc = WF_FAIL(err, WF_ESRAM, "wse pipelined: %s region%s (PEs %d-%d): a PE needs %llu bytes of SRAM "
                         "(weights %u, KV cache %u, logits %u), has %u: %s",
                         rname[r->role], lay, r->x, r->x + r->w - 1, (unsigned long long)need, wb,
                         r->bytes[S_KC] + r->bytes[S_VC], r->bytes[S_LOG], wf_cost_wse2.sram_bytes,
                         kv > wb ? "fewer tokens" : r->role == R_ATTN ? "more heads (a PE holds 4 x width x head "
                                                                        "size weights)" : "a smaller model");
            goto done;
        }
    }
    if ((rc = wf_layout_new(width, 1, &l, err))) goto done;
    for (int i = 0; i < nr; i++) {
        const region *r = &rg[i];
        int64_t params[P_COUNT] = {r->role, C,       T,       C / cfg->n_head,
                                   r->fs,   r->ain,  r->aout, wf_param_f32(cfg->layer_norm_eps)};
        wf_code_opts co = {params, P_COUNT, r->bytes};
        if ((rc = wf_layout_code(l, r->x, 0, r->w, 1, &pipe_kernel, &co, err))) goto done;
        wf_route in = wf_route_simple(WF_W, WF_RAMP), pass = wf_route_simple(WF_W, WF_RAMP | WF_E);
        if (r->role == R_IN) {
            if ((rc = wf_layout_route(l, r->x, 0, 1, 1, C_HOST, &in, err))) goto done;
        } else {
            /* the broadcast: along the region, the last PE keeps it */
            if (r->w > 1 && (rc = wf_layout_route(l, r->x, 0, r->w - 1, 1, r->ain, &pass, err))) goto done;
            if ((rc = wf_layout_route(l, r->x + r->w - 1, 0, 1, 1, r->ain, &in, err))) goto done;
            if (r->role != R_HEAD) /* the chain: PE p sends east on CH[p & 1] */
                for (int p = 0; p + 1 < r->w; p++) {
                    int c = p & 1 ? C_CH1 : C_CH0;
                    wf_route out = wf_route_simple(WF_RAMP, WF_E);
                    if ((rc = wf_layout_route(l, r->x + p, 0, 1, 1, c, &out, err)) ||
                        (rc = wf_layout_route(l, r->x + p + 1, 0, 1, 1, c, &in, err)))
                        goto done;
                }
        }
        if (r->role != R_HEAD) { /* the result leaves the last PE east */
            wf_route out = wf_route_simple(WF_RAMP, WF_E);
            if ((rc = wf_layout_route(l, r->x + r->w - 1, 0, 1, 1, r->aout, &out, err))) goto done;
        }
    }
    wf_host_opts ho = {NULL, NULL, UINT64_MAX, 1, NULL};
    if ((rc = wf_host_new(l, &ho, &h, err))) goto done;
    size_t big = (size_t)T * C;
    for (int i = 0; i < nr; i++) {
        size_t n = (size_t)rg[i].w * ((size_t)C * (rg[i].fs > C ? rg[i].fs : C) + (size_t)T * rg[i].fs);
        if (n > big) big = n;
    }
    buf = wf_alloc(NULL, big * sizeof(float), "wse pipelined staging", err);
    if (!buf) {
        rc = WF_ENOMEM;
        goto done;
    }
    if ((rc = wf_gpt_view_bind(cfg, (float *)(uintptr_t)weights, &w, err))) goto done;
    bound = 1;
    uint64_t io0 = st->io_cycles;
    for (int i = 1; i < nr; i++)
        if ((rc = load(h, &rg[i], &w, cfg, buf, &st->io_cycles, err))) goto done;
    wf_wse_prof_at(prof, -1, 0);
    wf_wse_prof_memcpy(prof, "memcpy in (resident weights)", (uint64_t)width, st->io_cycles - io0);
    /* the batch: embeddings stream in at the west edge, logits stay in the head region */
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) buf[(size_t)t * C + c] = w.wte[(size_t)ids[t] * C + c] + w.wpe[(size_t)t * C + c];
    double w0 = wf_now();
    uint64_t c0 = wf_host_cycles(h);
    wf_wse_prof_begin(prof, wf_host_fabric(h));
    if (trace && (rc = wf_tracer_open(wf_host_fabric(h), trace, NULL, 0, &tracer, err))) goto done;
    if ((rc = wf_host_launch_nb(h, "start", err))) goto done;
    wf_memcpy mx = {NULL, C_HOST, 0, 0, 1, 1, (uint32_t)(T * C), 0, 4, WF_ROW_MAJOR};
    if ((rc = wf_host_h2d(h, &mx, buf, err))) goto done;
    if (tracer) {
        rc = wf_tracer_close(tracer, err);
        tracer = NULL;
        if (rc) goto done;
    }
    st->batch_cycles = wf_host_cycles(h) - c0;
    uint64_t flops = 2ull * (uint64_t)T * (uint64_t)(L * (4 * C * C + 2 * C * cfg->n_inner) + C * V);
    wf_wse_prof_end(prof, wf_host_fabric(h), WF_WSE_SPAN_PIPELINE, "pipelined batch", 0, flops);
    st->wall_s = wf_now() - w0;
    /* per region: busy and active PE-cycles of the batch */
    st->nregion = nr - 1;
    for (int i = 1; i < nr; i++) {
        wf_wse_region *o = &st->region[i - 1];
        const region *r = &rg[i];
        snprintf(o->name, sizeof o->name, "%s", rname[r->role]);
        o->layer = r->layer, o->x = r->x, o->pes = r->w;
        for (int p = 0; p < r->w; p++) {
            wf_pe_stats ps;
            wf_fabric_pe_stats(wf_host_fabric(h), r->x + p, 0, &ps);
            o->busy += ps.busy, o->active += ps.active;
        }
    }
    /* logits [T][V] from the head region's [NV][T][vs] */
    const region *hd = &rg[nr - 1];
    uint64_t c1 = wf_host_cycles(h);
    wf_memcpy ml = {"log", 0, hd->x, 0, hd->w, 1, (uint32_t)(T * hd->fs), 0, 4, WF_ROW_MAJOR};
    if ((rc = wf_host_d2h(h, &ml, buf, err))) goto done;
    for (int p = 0; p < hd->w; p++)
        for (int t = 0; t < T; t++)
            memcpy(logits + (size_t)t * V + (size_t)p * hd->fs, buf + ((size_t)p * T + t) * hd->fs, (size_t)hd->fs * 4);
    at = wf_alloc(NULL, (size_t)T * 4, "wse pipelined token times", err);
    if (!at) {
        rc = WF_ENOMEM;
        goto done;
    }
    wf_memcpy ma = {"at", 0, hd->x, 0, 1, 1, (uint32_t)T, 0, 4, WF_ROW_MAJOR};
    if ((rc = wf_host_d2h(h, &ma, at, err))) goto done;
    st->io_cycles += wf_host_cycles(h) - c1;
    wf_wse_prof_memcpy(prof, "memcpy out (logits)", (uint64_t)width, wf_host_cycles(h) - c1);
    /* token times are absolute cycles (32 bits): relative to the launch */
    st->first_token_cycles = (uint64_t)(at[0] - (uint32_t)c0);
    st->token_interval = T > 1 ? (double)(at[T - 1] - at[0]) / (T - 1) : 0;
done:
    if (tracer) wf_tracer_close(tracer, NULL);
    if (bound) wf_gpt_view_unbind(&w);
    wf_free(NULL, at);
    wf_free(NULL, buf);
    wf_host_free(h);
    wf_layout_free(l);
    wf_free(NULL, rg);
    return rc;
}
