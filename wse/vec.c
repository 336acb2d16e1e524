/* vec.c — row-wise kernels (LayerNorm, bias/residual add, GELU) and causal
** attention on a row of PEs of the simulated fabric (wse.h). One kernel; the
** host writes an op word and the operands into each PE by copy-mode memcpy,
** launches "run", and reads "out" back. */
#include "wse.h"
#include "wse_int.h"

#include "../sdk/sdk.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

enum { S_CMD, S_A, S_B, S_W, S_BIAS, S_OUT, S_COUNT };
enum { OP_NONE, OP_LN, OP_ADD, OP_GELU, OP_ATTN, OP_LNB, OP_GELUB, OP_ATTNB, OP_CE };
enum { CMD_OP, CMD_C, CMD_T, CMD_D, CMD_EPS, CMD_FLAGS, CMD_TARGET, CMD_SCALE, CMD_WORDS = 8 };
enum { A_MAX = 3072, ROW_MAX = 512, B_MAX = 1024, OUT_MAX = 3072 };
enum { F_BIAS = 1, F_RES = 2 };

static wf_dsd mem(wf_pe *pe, const float *p, uint32_t n) { return wf_dsd_mem1d(pe, p, n, 1, 4); }

void wse_layernorm_row(wf_pe *pe, float *out, const float *x, const float *w, const float *b, uint32_t C,
                       float eps) {
    double s = 0;
    for (uint32_t c = 0; c < C; c++) s += x[c];
    float m = (float)(s / C);
    double v = 0;
    for (uint32_t c = 0; c < C; c++) {
        double d = (double)(x[c] - m);
        v += d * d;
    }
    float r = (float)(1.0 / sqrt(v / C + (double)eps));
    wf_pe_charge(pe, 2 * C * WF_WSE_SCALAR_CYCLES);
    /* out = ((x - m) * r) * w + b, the CPU kernel's order */
    wf_fsubs(pe, mem(pe, out, C), mem(pe, x, C), wf_dsd_scalar_f32(m), WF_SYNC);
    wf_fmuls(pe, mem(pe, out, C), mem(pe, out, C), wf_dsd_scalar_f32(r), WF_SYNC);
    wf_fmuls(pe, mem(pe, out, C), mem(pe, out, C), mem(pe, w, C), WF_SYNC);
    wf_fadds(pe, mem(pe, out, C), mem(pe, out, C), mem(pe, b, C), WF_SYNC);
}

void wse_gelu_row(wf_pe *pe, float *out, const float *x, uint32_t n) {
    for (uint32_t c = 0; c < n; c++) out[c] = 0.5f * x[c] * (1.0f + erff(x[c] * (float)M_SQRT1_2));
    wf_pe_charge(pe, n * WF_WSE_SCALAR_CYCLES);
}

static void op_ln(wf_pe *pe, const uint32_t *cmd) {
    wse_layernorm_row(pe, wf_sym(pe, S_OUT), wf_sym(pe, S_A), wf_sym(pe, S_W), wf_sym(pe, S_BIAS), cmd[CMD_C],
                      wf_bits_f32(cmd[CMD_EPS]));
}

static void op_add(wf_pe *pe, const uint32_t *cmd) {
    uint32_t C = cmd[CMD_C];
    float *x = wf_sym(pe, S_A), *r = wf_sym(pe, S_B), *b = wf_sym(pe, S_BIAS), *o = wf_sym(pe, S_OUT);
    wf_fmovs(pe, mem(pe, o, C), mem(pe, x, C), WF_SYNC);
    if (cmd[CMD_FLAGS] & F_BIAS) wf_fadds(pe, mem(pe, o, C), mem(pe, o, C), mem(pe, b, C), WF_SYNC);
    if (cmd[CMD_FLAGS] & F_RES) wf_fadds(pe, mem(pe, o, C), mem(pe, o, C), mem(pe, r, C), WF_SYNC);
}

static void op_gelu(wf_pe *pe, const uint32_t *cmd) {
    uint32_t C = cmd[CMD_C];
    wse_gelu_row(pe, wf_sym(pe, S_OUT), wf_sym(pe, S_A), C);
}

/* One head: a = q[T][D] | k[T][D] | v[T][D]; out[T][D]. */
static void op_attn(wf_pe *pe, const uint32_t *cmd) {
    int T = (int)cmd[CMD_T], D = (int)cmd[CMD_D];
    const float *q = wf_sym(pe, S_A), *k = q + T * D, *v = k + T * D;
    float *o = wf_sym(pe, S_OUT), *s = wf_sym(pe, S_B); /* scores row: T <= ROW_MAX */
    float scale = 1.0f / sqrtf((float)D);
    for (int t = 0; t < T; t++) {
        float mx = -INFINITY;
        for (int j = 0; j <= t; j++) {
            float dot = 0;
            for (int e = 0; e < D; e++) dot += q[t * D + e] * k[j * D + e];
            s[j] = dot * scale;
            if (s[j] > mx) mx = s[j];
        }
        double sum = 0;
        for (int j = 0; j <= t; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float inv = (float)(1.0 / sum);
        float *ot = o + t * D;
        memset(ot, 0, (size_t)D * 4);
        for (int j = 0; j <= t; j++)
            wf_fmacs(pe, mem(pe, ot, (uint32_t)D), mem(pe, ot, (uint32_t)D), mem(pe, v + j * D, (uint32_t)D),
                     s[j] * inv, WF_SYNC);
        /* the dot products as fmacs-sized work, exp and the max/sum as scalar work */
        wf_pe_charge(pe, (uint32_t)((t + 1) * (D + 1) + 3 * (t + 1) * WF_WSE_SCALAR_CYCLES));
    }
}

/* LayerNorm backward of one row (kernels/backward.c's formula): a = dout,
** b = x, w; mean and rstd recomputed as the forward does. out[0..C) = dx,
** out[C..2C) = dout * xhat (summed over rows by the host's ones-multiply into dw). */
static void op_lnb(wf_pe *pe, const uint32_t *cmd) {
    uint32_t C = cmd[CMD_C];
    const float *dy = wf_sym(pe, S_A), *x = wf_sym(pe, S_B), *w = wf_sym(pe, S_W);
    float *o = wf_sym(pe, S_OUT);
    double s = 0;
    for (uint32_t c = 0; c < C; c++) s += x[c];
    float m = (float)(s / C);
    double v = 0;
    for (uint32_t c = 0; c < C; c++) {
        double d = (double)(x[c] - m);
        v += d * d;
    }
    float r = (float)(1.0 / sqrt(v / C + (double)wf_bits_f32(cmd[CMD_EPS])));
    float dmean = 0, dmx = 0;
    for (uint32_t c = 0; c < C; c++) {
        float xh = (x[c] - m) * r, dn = w[c] * dy[c];
        dmean += dn;
        dmx += dn * xh;
        o[C + c] = dy[c] * xh;
    }
    dmean /= (float)C;
    dmx /= (float)C;
    for (uint32_t c = 0; c < C; c++) {
        float xh = (x[c] - m) * r, dn = w[c] * dy[c];
        o[c] = (dn - dmean - xh * dmx) * r;
    }
    wf_pe_charge(pe, 6 * C * WF_WSE_SCALAR_CYCLES);
}

/* GELU backward: a = x, b = dout; out = gelu'(x) * dout (exact erf form). */
static void op_gelub(wf_pe *pe, const uint32_t *cmd) {
    uint32_t C = cmd[CMD_C];
    const float *x = wf_sym(pe, S_A), *dy = wf_sym(pe, S_B);
    float *o = wf_sym(pe, S_OUT);
    for (uint32_t c = 0; c < C; c++) {
        float cdf = 0.5f * (1.0f + erff(x[c] * (float)M_SQRT1_2));
        float pdf = expf(-0.5f * x[c] * x[c]) * 0.3989422804014327f;
        o[c] = (cdf + x[c] * pdf) * dy[c];
    }
    wf_pe_charge(pe, 2 * C * WF_WSE_SCALAR_CYCLES);
}

/* Attention backward of one head: a = q | k | v (T x D each), b = dout
** (T x D); out = dq | dk | dv. The probabilities are recomputed per row. */
static void op_attnb(wf_pe *pe, const uint32_t *cmd) {
    int T = (int)cmd[CMD_T], D = (int)cmd[CMD_D];
    const float *q = wf_sym(pe, S_A), *k = q + T * D, *v = k + T * D, *dy = wf_sym(pe, S_B);
    float *dq = wf_sym(pe, S_OUT), *dk = dq + T * D, *dv = dk + T * D;
    float *p = wf_sym(pe, S_W), *dp = wf_sym(pe, S_BIAS); /* rows of T <= ROW_MAX */
    float scale = 1.0f / sqrtf((float)D);
    memset(dq, 0, (size_t)3 * T * D * 4);
    for (int t = 0; t < T; t++) {
        float mx = -INFINITY;
        for (int j = 0; j <= t; j++) {
            float dot = 0;
            for (int e = 0; e < D; e++) dot += q[t * D + e] * k[j * D + e];
            p[j] = dot * scale;
            if (p[j] > mx) mx = p[j];
        }
        double sum = 0;
        for (int j = 0; j <= t; j++) {
            p[j] = expf(p[j] - mx);
            sum += p[j];
        }
        float inv = (float)(1.0 / sum), pdp = 0;
        for (int j = 0; j <= t; j++) {
            p[j] *= inv;
            float d = 0;
            for (int e = 0; e < D; e++) d += dy[t * D + e] * v[j * D + e];
            dp[j] = d;
            pdp += p[j] * d;
        }
        for (int j = 0; j <= t; j++) {
            float ds = p[j] * (dp[j] - pdp) * scale;
            for (int e = 0; e < D; e++) {
                dv[j * D + e] += p[j] * dy[t * D + e];
                dq[t * D + e] += ds * k[j * D + e];
                dk[j * D + e] += ds * q[t * D + e];
            }
        }
        wf_pe_charge(pe, (uint32_t)(5 * (t + 1) * (D + 1) + 4 * (t + 1) * WF_WSE_SCALAR_CYCLES));
    }
}

/* Softmax cross-entropy of one row: a = logits (V = C); out[0..V) =
** (softmax - onehot(target)) * scale, out[V] = the row's loss (nats). */
static void op_ce(wf_pe *pe, const uint32_t *cmd) {
    uint32_t V = cmd[CMD_C], tgt = cmd[CMD_TARGET];
    const float *x = wf_sym(pe, S_A);
    float *o = wf_sym(pe, S_OUT);
    float sc = wf_bits_f32(cmd[CMD_SCALE]);
    float lse = wf_logsumexp(x, (int)V);
    for (uint32_t i = 0; i < V; i++) o[i] = (expf(x[i] - lse) - (i == tgt ? 1.0f : 0.0f)) * sc;
    o[V] = lse - x[tgt];
    wf_pe_charge(pe, 3 * V * WF_WSE_SCALAR_CYCLES);
}

static void run(wf_pe *pe, uint32_t d) {
    (void)d;
    const uint32_t *cmd = wf_sym(pe, S_CMD);
    switch (cmd[CMD_OP]) {
    case OP_LN: op_ln(pe, cmd); break;
    case OP_ADD: op_add(pe, cmd); break;
    case OP_GELU: op_gelu(pe, cmd); break;
    case OP_ATTN: op_attn(pe, cmd); break;
    case OP_LNB: op_lnb(pe, cmd); break;
    case OP_GELUB: op_gelub(pe, cmd); break;
    case OP_ATTNB: op_attnb(pe, cmd); break;
    case OP_CE: op_ce(pe, cmd); break;
    default: break;
    }
}

static const wf_symbol_decl vec_syms[S_COUNT] = {{"cmd", CMD_WORDS * 4}, {"a", A_MAX * 4},   {"b", B_MAX * 4},
                                                  {"w", ROW_MAX * 4},      {"bias", ROW_MAX * 4}, {"out", OUT_MAX * 4}};
static const wf_export_decl vec_exports[] = {{"run", run}};
static const wf_kernel vec_kernel = {"wse_vec", vec_syms, S_COUNT, NULL, 0, vec_exports, 1, NULL};

struct wf_wse_vec {
    int np;
    wf_layout *l;
    wf_host *h;
    wf_wse_vec_stats st;
    float *buf; /* np * A_MAX staging */
    wf_wse_prof *prof; /* borrowed, may be NULL */
};

wf_status wf_wse_vec_new(int np, wf_wse_vec **out, wf_err *err) {
    *out = NULL;
    if (np < 1 || np > WF_FABRIC_MAX_W) return WF_FAIL(err, WF_EUSAGE, "wse vec: %d PEs, expected 1..750", np);
    wf_wse_vec *v = wf_calloc(NULL, sizeof *v, "wse vec", err);
    if (!v) return WF_ENOMEM;
    v->np = np;
    wf_status rc;
    if ((rc = wf_layout_new(np, 1, &v->l, err)) || (rc = wf_layout_code(v->l, 0, 0, np, 1, &vec_kernel, NULL, err)) ||
        (rc = wf_host_new(v->l, NULL, &v->h, err))) {
        wf_wse_vec_free(v);
        return rc;
    }
    v->buf = wf_calloc(NULL, (size_t)np * A_MAX * sizeof(float), "wse vec staging", err);
    if (!v->buf) {
        wf_wse_vec_free(v);
        return WF_ENOMEM;
    }
    *out = v;
    return WF_OK;
}

void wf_wse_vec_free(wf_wse_vec *v) {
    if (!v) return;
    wf_host_free(v->h);
    wf_layout_free(v->l);
    wf_free(NULL, v->buf);
    wf_free(NULL, v);
}

const wf_wse_vec_stats *wf_wse_vec_stats_get(const wf_wse_vec *v) { return &v->st; }
void wf_wse_vec_set_prof(wf_wse_vec *v, wf_wse_prof *p) { v->prof = p; }

static const char *op_name(int op) {
    static const char *n[] = {"none", "layernorm", "add", "gelu", "attention", "layernorm backward",
                              "gelu backward", "attention backward", "cross-entropy"};
    return op >= 0 && op < (int)(sizeof n / sizeof n[0]) ? n[op] : "?";
}

/* Writes n floats per PE for the first npe PEs into symbol sym. */
static wf_status put(wf_wse_vec *v, const char *sym, const float *src, int npe, uint32_t n, wf_err *err) {
    uint64_t c0 = wf_host_cycles(v->h);
    wf_memcpy m = {sym, 0, 0, 0, npe, 1, n, 0, 4, WF_ROW_MAJOR};
    wf_status rc = wf_host_h2d(v->h, &m, src, err);
    v->st.io_cycles += wf_host_cycles(v->h) - c0;
    wf_wse_prof_memcpy(v->prof, "memcpy in (activations)", (uint64_t)v->np, wf_host_cycles(v->h) - c0);
    return rc;
}
/* The same vector into every one of npe PEs. */
static wf_status put_bcast(wf_wse_vec *v, const char *sym, const float *vec, int npe, uint32_t n, wf_err *err) {
    for (int i = 0; i < npe; i++) memcpy(v->buf + (size_t)i * n, vec, n * sizeof(float));
    return put(v, sym, v->buf, npe, n, err);
}

static wf_status launch_t(wf_wse_vec *v, int op, int npe, uint32_t C, uint32_t T, uint32_t D, float eps,
                          uint32_t flags, const int32_t *targets, float scale, wf_err *err);
static wf_status launch(wf_wse_vec *v, int op, int npe, uint32_t C, uint32_t T, uint32_t D, float eps, uint32_t flags,
                        wf_err *err) {
    return launch_t(v, op, npe, C, T, D, eps, flags, NULL, 0, err);
}
static wf_status launch_t(wf_wse_vec *v, int op, int npe, uint32_t C, uint32_t T, uint32_t D, float eps,
                          uint32_t flags, const int32_t *targets, float scale, wf_err *err) {
    uint32_t *cmd = (uint32_t *)v->buf;
    memset(cmd, 0, (size_t)v->np * CMD_WORDS * 4);
    for (int i = 0; i < npe; i++) {
        uint32_t *c = cmd + (size_t)i * CMD_WORDS;
        c[CMD_OP] = (uint32_t)op, c[CMD_C] = C, c[CMD_T] = T, c[CMD_D] = D, c[CMD_EPS] = wf_f32_bits(eps);
        c[CMD_FLAGS] = flags;
        c[CMD_TARGET] = targets ? (uint32_t)targets[i] : 0;
        c[CMD_SCALE] = wf_f32_bits(scale);
    }
    uint64_t c0 = wf_host_cycles(v->h);
    wf_memcpy m = {"cmd", 0, 0, 0, v->np, 1, CMD_WORDS, 0, 4, WF_ROW_MAJOR};
    wf_status rc = wf_host_h2d(v->h, &m, cmd, err);
    v->st.io_cycles += wf_host_cycles(v->h) - c0;
    wf_wse_prof_memcpy(v->prof, "memcpy in (op word)", (uint64_t)v->np, wf_host_cycles(v->h) - c0);
    if (rc) return rc;
    c0 = wf_host_cycles(v->h);
    wf_wse_prof_begin(v->prof, wf_host_fabric(v->h));
    rc = wf_host_launch(v->h, "run", err);
    v->st.compute_cycles += wf_host_cycles(v->h) - c0;
    v->st.launches++;
    if (!rc) wf_wse_prof_end(v->prof, wf_host_fabric(v->h), WF_WSE_SPAN_VECTOR, op_name(op), 0, 0);
    return rc;
}

static wf_status get(wf_wse_vec *v, float *dst, int npe, uint32_t n, wf_err *err) {
    uint64_t c0 = wf_host_cycles(v->h);
    wf_memcpy m = {"out", 0, 0, 0, npe, 1, n, 0, 4, WF_ROW_MAJOR};
    wf_status rc = wf_host_d2h(v->h, &m, dst, err);
    v->st.io_cycles += wf_host_cycles(v->h) - c0;
    wf_wse_prof_memcpy(v->prof, "memcpy out (result)", (uint64_t)v->np, wf_host_cycles(v->h) - c0);
    return rc;
}

static wf_status rows_ok(const wf_wse_vec *v, const char *what, int N, int C, wf_err *err) {
    if (N < 1 || N > v->np || C < 1 || C > ROW_MAX)
        return WF_FAIL(err, WF_EUSAGE, "wse %s: %d rows of %d on %d PEs: expected 1..%d rows of 1..%d", what, N, C,
                       v->np, v->np, ROW_MAX);
    return WF_OK;
}

wf_status wf_wse_layernorm(wf_wse_vec *v, float *out, const float *x, const float *w, const float *b, int N, int C,
                           float eps, wf_err *err) {
    wf_status rc;
    if ((rc = rows_ok(v, "layernorm", N, C, err)) || (rc = put(v, "a", x, N, (uint32_t)C, err)) ||
        (rc = put_bcast(v, "w", w, N, (uint32_t)C, err)) || (rc = put_bcast(v, "bias", b, N, (uint32_t)C, err)) ||
        (rc = launch(v, OP_LN, N, (uint32_t)C, 0, 0, eps, 0, err)))
        return rc;
    return get(v, out, N, (uint32_t)C, err);
}

wf_status wf_wse_add(wf_wse_vec *v, float *out, const float *x, const float *bias, const float *r, int N, int C,
                     wf_err *err) {
    wf_status rc;
    if ((rc = rows_ok(v, "add", N, C, err)) || (rc = put(v, "a", x, N, (uint32_t)C, err))) return rc;
    if (bias && (rc = put_bcast(v, "bias", bias, N, (uint32_t)C, err))) return rc;
    if (r && (rc = put(v, "b", r, N, (uint32_t)C, err))) return rc;
    if ((rc = launch(v, OP_ADD, N, (uint32_t)C, 0, 0, 0, (bias ? F_BIAS : 0) | (r ? F_RES : 0), err))) return rc;
    return get(v, out, N, (uint32_t)C, err);
}

wf_status wf_wse_gelu(wf_wse_vec *v, float *out, const float *x, int N, int C, wf_err *err) {
    wf_status rc;
    if ((rc = rows_ok(v, "gelu", N, C, err)) || (rc = put(v, "a", x, N, (uint32_t)C, err)) ||
        (rc = launch(v, OP_GELU, N, (uint32_t)C, 0, 0, 0, 0, err)))
        return rc;
    return get(v, out, N, (uint32_t)C, err);
}

wf_status wf_wse_attention(wf_wse_vec *v, float *out, const float *qkv, int T, int C, int H, wf_err *err) {
    if (H < 1 || C % H || H > v->np || T < 1 || T > ROW_MAX || 3 * T * (C / H) > A_MAX || T * (C / H) > OUT_MAX)
        return WF_FAIL(err, WF_EUSAGE, "wse attention: T %d, C %d, H %d on %d PEs: need H | C, H <= PEs, T <= %d, "
                       "3*T*C/H <= %d", T, C, H, v->np, ROW_MAX, A_MAX);
    int D = C / H;
    size_t per = (size_t)3 * T * D;
    for (int h = 0; h < H; h++)
        for (int part = 0; part < 3; part++)
            for (int t = 0; t < T; t++)
                memcpy(v->buf + h * per + ((size_t)part * T + t) * D, qkv + (size_t)t * 3 * C + part * C + h * D,
                       (size_t)D * sizeof(float));
    wf_status rc;
    if ((rc = put(v, "a", v->buf, H, (uint32_t)per, err)) ||
        (rc = launch(v, OP_ATTN, H, 0, (uint32_t)T, (uint32_t)D, 0, 0, err)) ||
        (rc = get(v, v->buf, H, (uint32_t)(T * D), err)))
        return rc;
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
            memcpy(out + (size_t)t * C + h * D, v->buf + (size_t)h * T * D + (size_t)t * D, (size_t)D * sizeof(float));
    return WF_OK;
}

wf_status wf_wse_layernorm_backward(wf_wse_vec *v, float *dx, float *dyxh, const float *dy, const float *x,
                                    const float *w, int N, int C, float eps, wf_err *err) {
    wf_status rc;
    if ((rc = rows_ok(v, "layernorm backward", N, C, err)) || (rc = put(v, "a", dy, N, (uint32_t)C, err)) ||
        (rc = put(v, "b", x, N, (uint32_t)C, err)) || (rc = put_bcast(v, "w", w, N, (uint32_t)C, err)) ||
        (rc = launch(v, OP_LNB, N, (uint32_t)C, 0, 0, eps, 0, err)) || (rc = get(v, v->buf, N, 2 * (uint32_t)C, err)))
        return rc;
    for (int n = 0; n < N; n++) {
        memcpy(dx + (size_t)n * C, v->buf + (size_t)n * 2 * C, (size_t)C * 4);
        memcpy(dyxh + (size_t)n * C, v->buf + (size_t)n * 2 * C + C, (size_t)C * 4);
    }
    return WF_OK;
}

wf_status wf_wse_gelu_backward(wf_wse_vec *v, float *dx, const float *x, const float *dy, int N, int C, wf_err *err) {
    wf_status rc;
    if ((rc = rows_ok(v, "gelu backward", N, C, err)) || (rc = put(v, "a", x, N, (uint32_t)C, err)) ||
        (rc = put(v, "b", dy, N, (uint32_t)C, err)) || (rc = launch(v, OP_GELUB, N, (uint32_t)C, 0, 0, 0, 0, err)))
        return rc;
    return get(v, dx, N, (uint32_t)C, err);
}

wf_status wf_wse_attention_backward(wf_wse_vec *v, float *dqkv, const float *dout, const float *qkv, int T, int C,
                                    int H, wf_err *err) {
    if (H < 1 || C % H || H > v->np || T < 1 || T > ROW_MAX || 3 * T * (C / H) > A_MAX || T * (C / H) > B_MAX)
        return WF_FAIL(err, WF_EUSAGE, "wse attention backward: T %d, C %d, H %d on %d PEs: need H | C, H <= PEs, "
                       "3*T*C/H <= %d", T, C, H, v->np, A_MAX);
    int D = C / H;
    size_t per = (size_t)3 * T * D;
    float *b = v->buf + (size_t)v->np * A_MAX - (size_t)H * T * D; /* dout staging at the end of buf */
    for (int h = 0; h < H; h++) {
        for (int part = 0; part < 3; part++)
            for (int t = 0; t < T; t++)
                memcpy(v->buf + h * per + ((size_t)part * T + t) * D, qkv + (size_t)t * 3 * C + part * C + h * D,
                       (size_t)D * sizeof(float));
        for (int t = 0; t < T; t++)
            memcpy(b + (size_t)h * T * D + (size_t)t * D, dout + (size_t)t * C + h * D, (size_t)D * sizeof(float));
    }
    wf_status rc;
    if ((rc = put(v, "a", v->buf, H, (uint32_t)per, err)) || (rc = put(v, "b", b, H, (uint32_t)(T * D), err)) ||
        (rc = launch(v, OP_ATTNB, H, 0, (uint32_t)T, (uint32_t)D, 0, 0, err)) ||
        (rc = get(v, v->buf, H, (uint32_t)per, err)))
        return rc;
    for (int h = 0; h < H; h++)
        for (int part = 0; part < 3; part++)
            for (int t = 0; t < T; t++)
                memcpy(dqkv + (size_t)t * 3 * C + part * C + h * D, v->buf + h * per + ((size_t)part * T + t) * D,
                       (size_t)D * sizeof(float));
    return WF_OK;
}

wf_status wf_wse_crossentropy(wf_wse_vec *v, float *dlogits, float *losses, const float *logits,
                              const int32_t *targets, int N, int V, float scale, wf_err *err) {
    if (N < 1 || N > v->np || V < 1 || V >= OUT_MAX || V > A_MAX)
        return WF_FAIL(err, WF_EUSAGE, "wse crossentropy: %d rows of %d on %d PEs: expected rows <= PEs, V < %d", N, V,
                       v->np, OUT_MAX);
    for (int n = 0; n < N; n++)
        if (targets[n] < 0 || targets[n] >= V)
            return WF_FAIL(err, WF_ERANGE, "wse crossentropy: target %d at row %d out of range [0, %d)", targets[n], n,
                           V);
    wf_status rc;
    if ((rc = put(v, "a", logits, N, (uint32_t)V, err)) ||
        (rc = launch_t(v, OP_CE, N, (uint32_t)V, 0, 0, 0, 0, targets, scale, err)) ||
        (rc = get(v, v->buf, N, (uint32_t)V + 1, err)))
        return rc;
    for (int n = 0; n < N; n++) {
        memcpy(dlogits + (size_t)n * V, v->buf + (size_t)n * (V + 1), (size_t)V * 4);
        losses[n] = v->buf[(size_t)n * (V + 1) + V];
    }
    return WF_OK;
}
