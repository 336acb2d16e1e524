/* step.c — one training micro-batch, block by block: forward with saved
** activations (or only layer inputs, with recompute), the fused LM head and
** cross-entropy, and the backward that yields each block's gradient in turn.
** The math per layer (pre-LN GPT-2 block, HF Conv1D layout):
**   ln1 = LN(x); qkv = ln1 W_qkv + b; att = causal_attn(qkv);
**   x2 = x + att W_ap + b; ln2 = LN(x2); h = ln2 W_fc + b; hg = gelu(h);
**   y = x2 + hg W_fp + b. */
#include "train/train.h"

#include <math.h>
#include <string.h>

#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "sparse/sparse.h"

enum { CE_ROWS = 256 }; /* rows of logits held at once: CE_ROWS x V floats */
/* The same for the head's bf16 products: with AMX the three products over
** wte ([R,V] = [R,C] wte^T, [R,C] = [R,V] wte, wte's gradient [V,C] +=
** [R,V]^T [R,C]) are bound by memory, not by the tiles: every chunk packs
** wte (77 MB in bf16) twice, and the gradient product reads and writes its
** 154 MB fp32 C once per chunk. 1024 rows instead of 256 cut that traffic
** four-fold; measured on 111M's head (Intel Xeon with AMX, 2 threads) the
** three products took 4 x (17 + 25 + 24) ms per step in 256-row chunks and
** 61 + 61 + 64 ms in one of 1024 (the products on bf16 copies then; the
** operands are now rounded while packed). It costs R x V floats (206 MB on
** 111M per 1024 rows) beside the CE_ROWS scratch. 2048 rows since: a seq-2048
** micro-batch is then one chunk (wte packed twice a step, not four times,
** and its gradient's C read and written once): 1,235-1,240 -> 1,274-1,278
** tok/s on that VM, for 196 MB more (1,345 -> 1,541 MB of activations). */
enum { CE_ROWS_BF16 = 2048 };

/* Saved activations of one layer. With recompute every layer shares one set. */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* [N,C], [N], [N] */
    float *qkv;                       /* [N,3C] */
    float *att;                       /* [N,C] */
    float *lse;                       /* [B,H,T] */
    float *x2;                        /* [N,C] residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd; /* [N,C], [N], [N] */
    float *fch, *fchg;                /* [N,F] before / after GELU */
} layer_acts;

struct wf_trainer {
    wf_gpt_config cfg;
    int B, T, N, recompute;
    wf_heap *heap;
    float *mem;          /* one block for everything below */
    size_t bytes;
    float **res;         /* [L+1] residual stream inputs: res[l] enters layer l, res[L] enters ln_f */
    layer_acts *acts;    /* [L] (all alias acts[0] when recompute) */
    float *lnf, *lnf_mean, *lnf_rstd; /* [N,C], [N], [N] */
    float *losses;       /* [N] */
    float *ce_scratch;   /* [CE_ROWS, V] */
    float *dres;         /* [N,C] gradient of the residual stream */
    float *dln;          /* [N,C] gradient at a LayerNorm output */
    float *datt;         /* [N,C] */
    float *dqkv;         /* [N,3C] */
    float *dfch;         /* [N,F] */
    float *attn_scratch; /* wf_attention_backward_scratch(T, hs, attn_threads) floats */
    int attn_threads;    /* threads the attention scratch is sized for */
    int32_t *inputs, *targets; /* [N] copies of the micro-batch */
    int recomputed;      /* layer whose activations the shared set holds (recompute), -1 none */
    int bf16;            /* wf_trainer_set_bf16: big GEMMs on bf16 operands */
    int tiles;           /* bf16 on AMX: products through wf_gemm_mbf16 (bias fused), and
                         ** ln1, ln2, gelu(h) and ln_f kept in bf16 (see bf16_acts) */
    uint16_t *bmem;      /* bf16 scratch (NULL until bf16 is set, or when the products widen: see below): */
    uint16_t *xa, *xd, *xw; /* activation [N,max(C,F)], gradient [N,max(3C,F)], weight copies */
    uint16_t *xwte, *xlg;   /* wte [V,C] and one chunk of logit gradients [CE_ROWS,V] */
    int ce_rows_x;          /* rows per head chunk with lgx (CE_ROWS_BF16, or N when fewer) */
    float *lgx;             /* AMX: [ce_rows_x,V] fp32 logits (NULL: ce_scratch and CE_ROWS) */
    float *battn;           /* AMX: wf_attention_bf16_scratch(T, hs, attn_threads) floats (NULL: fp32 attention) */
    const wf_sparse_plan *sparse; /* borrowed (wf_trainer_set_sparse): masked matrices on the sparse kernels; NULL dense */
};

void wf_trainer_set_sparse(wf_trainer *t, const wf_sparse_plan *p) { t->sparse = p; }

/* The sparse form of matrix s of layer l when the plan runs it sparse, else NULL. */
static const wf_spmat *sparse_of(const wf_trainer *t, int l, wf_sparse_mat s) {
    return t->sparse ? wf_sparse_plan_mat(t->sparse, l, s) : NULL;
}

static size_t acts_floats(const wf_gpt_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = (size_t)c->n_embd, F = (size_t)c->n_inner;
    return N * C * 5 + N * 4 + N * 3 * C + (size_t)B * c->n_head * T + 2 * N * F;
}

/* n floats from *p, 64-byte aligned (the AMX products store C rows
** non-temporally only where they are; see CUT_SLACK), *p moved past them. */
static float *cut(float **p, size_t n) {
    float *r = (float *)(((uintptr_t)*p + 63) & ~(uintptr_t)63);
    *p = r + n;
    return r;
}
#define CUTS_PER_LAYER 13 /* cut() calls per layer: carve_acts's 12 and the layer's residual */
#define CUT_SLACK(L) ((size_t)((L) * CUTS_PER_LAYER + 16) * 16) /* floats cut() may skip, at most (14 more cuts) */

static float *carve_acts(layer_acts *a, float *p, const wf_gpt_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = (size_t)c->n_embd, F = (size_t)c->n_inner;
    a->ln1 = cut(&p, N * C);
    a->ln1_mean = cut(&p, N);
    a->ln1_rstd = cut(&p, N);
    a->qkv = cut(&p, N * 3 * C);
    a->att = cut(&p, N * C);
    a->lse = cut(&p, (size_t)B * c->n_head * T);
    a->x2 = cut(&p, N * C);
    a->ln2 = cut(&p, N * C);
    a->ln2_mean = cut(&p, N);
    a->ln2_rstd = cut(&p, N);
    a->fch = cut(&p, N * F);
    a->fchg = cut(&p, N * F);
    return p;
}

wf_status wf_trainer_new(const wf_gpt_config *c, int B, int T, int recompute, wf_heap *h,
                         wf_trainer **out, wf_err *err) {
    *out = NULL;
    if (B <= 0 || T <= 0)
        return WF_FAIL(err, WF_EUSAGE, "trainer: batch %d x seq %d, expected positive", B, T);
    if (T > c->n_positions)
        return WF_FAIL(err, WF_EUSAGE, "trainer: seq %d exceeds the model's n_positions %d", T,
                       c->n_positions);
    wf_trainer *t = wf_calloc(h, sizeof *t, "trainer", err);
    if (!t) return WF_ENOMEM;
    t->cfg = *c;
    t->B = B, t->T = T, t->N = B * T, t->recompute = recompute ? 1 : 0, t->heap = h;
    t->recomputed = -1;
    int L = c->n_layer;
    size_t N = (size_t)B * T, C = (size_t)c->n_embd, F = (size_t)c->n_inner, V = (size_t)c->vocab_size;
    size_t nacts = recompute ? 1 : (size_t)L;
    size_t floats = (size_t)(L + 1) * N * C + nacts * acts_floats(c, B, T) + N * C + 2 * N + N +
                    (size_t)CE_ROWS * V + N * C * 3 + N * 3 * C + N * F + 2 * N + CUT_SLACK(L);
    t->attn_threads = wf_kernels_threads();
    size_t attn_floats = wf_attention_backward_scratch(T, c->n_embd / c->n_head, t->attn_threads);
    floats += attn_floats;
    t->res = wf_calloc(h, sizeof(float *) * (size_t)(L + 1), "trainer residuals", err);
    t->acts = wf_calloc(h, sizeof(layer_acts) * (size_t)L, "trainer layers", err);
    t->mem = wf_alloc(h, floats * sizeof(float), "trainer activations", err);
    if (!t->res || !t->acts || !t->mem) {
        wf_trainer_free(t);
        return WF_ENOMEM;
    }
    t->bytes = floats * sizeof(float);
    float *p = t->mem;
    for (int l = 0; l <= L; l++) t->res[l] = cut(&p, N * C);
    for (int l = 0; l < L; l++) {
        if (!recompute || l == 0) p = carve_acts(&t->acts[l], p, c, B, T);
        else t->acts[l] = t->acts[0];
    }
    t->lnf = cut(&p, N * C);
    t->lnf_mean = cut(&p, N);
    t->lnf_rstd = cut(&p, N);
    t->losses = cut(&p, N);
    t->ce_scratch = cut(&p, (size_t)CE_ROWS * V);
    t->dres = cut(&p, N * C);
    t->dln = cut(&p, N * C);
    t->datt = cut(&p, N * C);
    t->dqkv = cut(&p, N * 3 * C);
    t->dfch = cut(&p, N * F);
    t->attn_scratch = cut(&p, attn_floats);
    t->inputs = (int32_t *)cut(&p, N);
    t->targets = (int32_t *)cut(&p, N);
    WF_ASSERT(p <= t->mem + floats);
    *out = t;
    return WF_OK;
}

void wf_trainer_free(wf_trainer *t) {
    if (!t) return;
    wf_free(t->heap, t->battn);
    wf_free(t->heap, t->bmem);
    wf_free(t->heap, t->lgx);
    wf_free(t->heap, t->mem);
    wf_free(t->heap, t->acts);
    wf_free(t->heap, t->res);
    wf_free(t->heap, t);
}

size_t wf_trainer_bytes(const wf_trainer *t) { return t->bytes; }

wf_status wf_trainer_embed_forward(wf_trainer *t, const float *wte, const float *wpe,
                                   const int32_t *inputs, const int32_t *targets, wf_err *err) {
    int V = t->cfg.vocab_size;
    for (int i = 0; i < t->N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V)
            return WF_FAIL(err, WF_ERANGE, "batch: input token %d at position %d is outside the vocabulary [0, %d)",
                           (int)inputs[i], i, V);
        if (targets && (targets[i] < 0 || targets[i] >= V))
            return WF_FAIL(err, WF_ERANGE, "batch: target token %d at position %d is outside the vocabulary [0, %d)",
                           (int)targets[i], i, V);
    }
    memcpy(t->inputs, inputs, sizeof(int32_t) * (size_t)t->N);
    if (targets) memcpy(t->targets, targets, sizeof(int32_t) * (size_t)t->N);
    wf_encoder_forward(t->res[0], inputs, wte, wpe, t->B, t->T, t->cfg.n_embd, 0);
    t->recomputed = -1;
    return WF_OK;
}

/* ---- bf16 compute (wf_trainer_set_bf16) ------------------------------------
** The block GEMMs and the head's take bf16 operands and sum in fp32. Bias,
** layernorm, softmax and the residual stream stay fp32. Off: the fp32
** kernels, bit for bit as before. On AMX (tiles) every product goes through
** wf_gemm_mbf16: the bias is added in its last pass over C, the bias
** gradient is summed while dout is packed (wf_gemm_mbf16_colsum), the
** activations that only products read are stored in bf16 (bf16_acts), and
** so is the head's logit gradient (wf_crossentropy_rows_bf16): the same
** values as rounding each operand while it is packed. Where wf_gemm_rbf16 has the bits of
** wf_gemm_bf16x (AMX tiles, or a CPU where wf_gemm_bf16x widens onto the
** fp32 kernel anyway: wf_gemm_rbf16_is_bf16x, decided here once), the fp32
** operands are rounded to bf16 while they are packed and there are no bf16
** copies (bmem stays NULL). Otherwise (vdpbf16ps) activations and gradients
** are converted once per product and weights once per use (K*OC conversions
** against N*K*OC multiply-adds) into bmem. On AMX (battn set) attention's
** products take bf16 operands too (wf_attention_forward_bf16 / _backward_bf16:
** Q, K, V, dO, P and dS rounded to bf16, fp32 sums; exp, the softmax
** statistics, lse and D stay fp32); elsewhere attention stays fp32. */
static size_t imax(size_t a, size_t b) { return a > b ? a : b; }

/* bf16 activations. On AMX the products read their activations as bf16
** wherever the fp32 values have no other reader: ln1, ln2, gelu(h) and ln_f
** are written rounded to bf16 into the first half of their fp32 slots by the
** op that makes them (wf_layernorm_forward_bf16, wf_gemm_mbf16_gelu), and
** their products take them as they are (A of the forward, op(A) of the weight
** gradient, B of the head's). Same bits as rounding them while packed, half
** the bytes written and read (packing reads 2 bytes, not 4). attn stays fp32
** (its backward reads it), and so does everything under a sparse plan (the
** sparse kernels take fp32). */
static int bf16_acts(const wf_trainer *t) { return t->tiles && !t->sparse; }

/* An activation operand: bf16 when bf16_acts kept it so (in16), else fp32. */
static wf_bop act_op(const float *p, int in16, int ld) {
    return in16 ? wf_bop_bf16((const uint16_t *)p, ld) : wf_bop_f32(p, ld);
}

int wf_trainer_is_bf16(const wf_trainer *t) { return t->bf16; }

wf_status wf_trainer_set_bf16(wf_trainer *t, int on, wf_err *err) {
    size_t N = (size_t)t->N, C = (size_t)t->cfg.n_embd, F = (size_t)t->cfg.n_inner;
    size_t V = (size_t)t->cfg.vocab_size;
    if (on && !t->lgx && wf_isa_active() >= WF_ISA_AMX && N > CE_ROWS) {
        size_t R = N < CE_ROWS_BF16 ? N : CE_ROWS_BF16;
        t->lgx = wf_alloc(t->heap, sizeof(float) * R * V, "trainer bf16 head logits", err);
        if (!t->lgx) return WF_ENOMEM;
        t->ce_rows_x = (int)R;
        t->bytes += sizeof(float) * R * V;
    }
    if (on && !t->bmem && !wf_gemm_rbf16_is_bf16x()) {
        size_t na = N * imax(C, F), nd = N * imax(3 * C, F), nw = C * imax(3 * C, F);
        size_t nv = V * C, nl = (size_t)CE_ROWS * V, all = na + nd + nw + nv + nl;
        t->bmem = wf_alloc(t->heap, sizeof(uint16_t) * all, "trainer bf16 scratch", err);
        if (!t->bmem) return WF_ENOMEM;
        t->xa = t->bmem, t->xd = t->xa + na, t->xw = t->xd + nd, t->xwte = t->xw + nw, t->xlg = t->xwte + nv;
        t->bytes += sizeof(uint16_t) * all;
    }
    int hs = t->cfg.n_embd / t->cfg.n_head;
    if (on && !t->battn && wf_attention_bf16_on_tiles(hs)) {
        size_t nb = wf_attention_bf16_scratch(t->T, hs, t->attn_threads);
        t->battn = wf_alloc(t->heap, sizeof(float) * nb, "trainer bf16 attention scratch", err);
        if (!t->battn) return WF_ENOMEM;
        t->bytes += sizeof(float) * nb;
    }
    t->bf16 = on ? 1 : 0;
    t->tiles = on && wf_isa_active() >= WF_ISA_AMX;
    return WF_OK;
}

/* out[N,OC] = inp[N,K] @ W[K,OC] + bias (in16: inp holds bf16, bf16_acts) */
static void mm_fwd(wf_trainer *t, const wf_spmat *sm, float *out, const float *inp, int in16, const float *W,
                   const float *bias, int N, int K, int OC) {
    if (sm) { /* the sparse values mirror W (refreshed after every update) */
        wf_spmm_forward(out, inp, sm, bias, N, wf_sparse_plan_scratch(t->sparse));
        return;
    }
    if (!t->bf16) {
        wf_matmul_forward(out, inp, W, bias, N, K, OC);
        return;
    }
    if (t->tiles) { /* the bias added in the products' last pass over out */
        wf_gemm_mbf16(0, 0, N, OC, K, act_op(inp, in16, K), wf_bop_f32(W, OC), bias, 0.0f, out, OC);
        return;
    }
    if (!t->bmem) { /* same bits, rounded while packed: no bf16 copies */
        wf_gemm_rbf16(0, 0, N, OC, K, inp, K, W, OC, 0.0f, out, OC);
    } else {
        wf_bf16x_from_f32(t->xa, inp, (size_t)N * K);
        wf_bf16x_from_f32(t->xw, W, (size_t)K * OC);
        wf_gemm_bf16x(0, 0, N, OC, K, t->xa, K, t->xw, OC, 0.0f, out, OC);
    }
    if (bias)
#pragma omp parallel for schedule(static) if ((long)N * OC > 65536)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += bias[o];
}

/* dx = dout W^T (set: the product's beta 0), dw += x^T dout, db += sums.
** The input gradient is written, not added to a zeroed buffer: at 111M
** that was 21 MB of memset per layer, and as many bytes of C read back by
** the products (same values; only a sum of -0 may now stay -0). */
static void mm_bwd(wf_trainer *t, const wf_spmat *sm, float *dx, float *dw, float *db, const float *dout,
                   const float *x, int x16, const float *w, int N, int Cin, int Cout) {
    if (sm) { /* dW only at kept positions (SDDMM): masked gradients stay zero */
        float *scr = wf_sparse_plan_scratch(t->sparse);
        if (dx) {
            memset(dx, 0, sizeof(float) * (size_t)N * Cin); /* the sparse kernel adds */
            wf_spmm_backward_input(dx, dout, sm, N, scr);
        }
        wf_spmm_backward_weight(dw, x, dout, sm, N, scr);
        if (db) wf_colsum_add(db, dout, Cout, N, Cout);
        return;
    }
    if (!t->bf16) {
        if (dx) wf_gemm(0, 1, N, Cin, Cout, 1.0f, dout, Cout, w, Cout, 0.0f, dx, Cin);
        wf_matmul_backward(NULL, dw, db, dout, x, w, N, Cin, Cout);
        return;
    }
    if (t->tiles) { /* db summed while dout is packed for dW: the bits of wf_colsum_add */
        if (dx) wf_gemm_rbf16(0, 1, N, Cin, Cout, dout, Cout, w, Cout, 0.0f, dx, Cin);
        if (db) wf_gemm_mbf16_colsum(1, Cin, Cout, N, act_op(x, x16, Cin), dout, Cout, db, 1.0f, dw, Cout);
        else wf_gemm_mbf16(1, 0, Cin, Cout, N, act_op(x, x16, Cin), wf_bop_f32(dout, Cout), NULL, 1.0f, dw, Cout);
        return;
    }
    if (!t->bmem) {
        if (dx) wf_gemm_rbf16(0, 1, N, Cin, Cout, dout, Cout, w, Cout, 0.0f, dx, Cin);
        wf_gemm_rbf16(1, 0, Cin, Cout, N, x, Cin, dout, Cout, 1.0f, dw, Cout);
    } else {
        wf_bf16x_from_f32(t->xd, dout, (size_t)N * Cout);
        wf_bf16x_from_f32(t->xw, w, (size_t)Cin * Cout);
        if (dx) wf_gemm_bf16x(0, 1, N, Cin, Cout, t->xd, Cout, t->xw, Cout, 0.0f, dx, Cin);
        wf_bf16x_from_f32(t->xa, x, (size_t)N * Cin);
        wf_gemm_bf16x(1, 0, Cin, Cout, N, t->xa, Cin, t->xd, Cout, 1.0f, dw, Cout);
    }
    if (db) wf_colsum_add(db, dout, Cout, N, Cout);
}

static void layer_fwd(wf_trainer *t, int l, const wf_gpt_layer *w) {
    const wf_gpt_config *c = &t->cfg;
    int N = t->N, C = c->n_embd, F = c->n_inner;
    layer_acts *a = &t->acts[l];
    const float *x = t->res[l];
    float *y = t->res[l + 1];
    int h16 = bf16_acts(t);
    if (h16)
        wf_layernorm_forward_bf16((uint16_t *)a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b, N, C,
                                  c->layer_norm_eps);
    else
        wf_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b, N, C, c->layer_norm_eps);
    mm_fwd(t, sparse_of(t, l, WF_SPARSE_QKV), a->qkv, a->ln1, h16, w->qkv_w, w->qkv_b, N, C, 3 * C);
    if (t->bf16 && t->battn)
        wf_attention_forward_bf16(a->att, a->lse, a->qkv, t->B, t->T, C, c->n_head, t->battn, t->attn_threads);
    else
        wf_attention_forward(a->att, a->lse, a->qkv, t->B, t->T, C, c->n_head);
    mm_fwd(t, sparse_of(t, l, WF_SPARSE_APROJ), y, a->att, 0, w->aproj_w, w->aproj_b, N, C, C); /* y as scratch */
    wf_residual_forward(a->x2, x, y, (size_t)N * C);
    if (h16)
        wf_layernorm_forward_bf16((uint16_t *)a->ln2, a->ln2_mean, a->ln2_rstd, a->x2, w->ln2_w, w->ln2_b, N, C,
                                  c->layer_norm_eps);
    else
        wf_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->x2, w->ln2_w, w->ln2_b, N, C, c->layer_norm_eps);
    if (h16) { /* gelu(h) in bf16 from each block of h while the product has it in L1 */
        wf_gemm_mbf16_gelu(0, 0, N, F, C, act_op(a->ln2, 1, C), wf_bop_f32(w->fc_w, F), w->fc_b, a->fch, F,
                           (uint16_t *)a->fchg, F, c->act == WF_ACT_GELU_NEW);
    } else {
        mm_fwd(t, sparse_of(t, l, WF_SPARSE_FC), a->fch, a->ln2, 0, w->fc_w, w->fc_b, N, C, F);
        if (c->act == WF_ACT_GELU_NEW) wf_gelu_new_forward(a->fchg, a->fch, (size_t)N * F);
        else wf_gelu_forward(a->fchg, a->fch, (size_t)N * F);
    }
    mm_fwd(t, sparse_of(t, l, WF_SPARSE_FPROJ), y, a->fchg, h16, w->fproj_w, w->fproj_b, N, F, C);
    wf_residual_forward(y, y, a->x2, (size_t)N * C);
    t->recomputed = l;
}

void wf_trainer_layer_forward(wf_trainer *t, int l, const wf_gpt_layer *w) {
    WF_ASSERT(l >= 0 && l < t->cfg.n_layer);
    layer_fwd(t, l, w);
}

/* wf_crossentropy_fused's contract (backward.h) with the three head GEMMs
** on bf16 operands: logits = lnf wte^T, dh = dlogits wte, dwte += dlogits^T
** lnf. Softmax and the loss are fp32 over the fp32 logits. */
static void head_bf16(wf_trainer *t, float *dh, float *dwte, const float *wte, float dscale) {
    int N = t->N, C = t->cfg.n_embd, V = t->cfg.vocab_size;
    int widen = !t->bmem; /* same bits from the fp32 operands, rounded while packed */
    int h16 = bf16_acts(t); /* lnf holds bf16 */
    if (!widen) {
        wf_bf16x_from_f32(t->xa, t->lnf, (size_t)N * C);
        wf_bf16x_from_f32(t->xwte, wte, (size_t)V * C);
    }
    int big = widen && t->lgx; /* xlg holds CE_ROWS rows only */
    float *lgs = big ? t->lgx : t->ce_scratch;
    int rows = big ? t->ce_rows_x : CE_ROWS;
    for (int r0 = 0; r0 < N; r0 += rows) {
        int R = r0 + rows < N ? rows : N - r0;
        const float *hf = t->lnf + (size_t)r0 * C;
        const uint16_t *hc = widen ? NULL : t->xa + (size_t)r0 * C;
        /* on tiles: this chunk of ln_f as it is stored (bf16 under bf16_acts) */
        wf_bop hop = act_op(h16 ? (const float *)((const uint16_t *)t->lnf + (size_t)r0 * C) : hf, h16, C);
        if (t->tiles) {
            wf_gemm_mbf16(0, 1, R, V, C, hop, wf_bop_f32(wte, C), NULL, 0.0f, lgs, V);
        } else if (widen) {
            wf_gemm_rbf16(0, 1, R, V, C, hf, C, wte, C, 0.0f, lgs, V);
        } else {
            wf_gemm_bf16x(0, 1, R, V, C, hc, C, t->xwte, C, 0.0f, lgs, V);
        }
        if (dh && t->tiles) { /* the logit gradient in bf16 over each row's first half (row pitch 2V) */
            wf_crossentropy_rows_bf16(lgs, R, V, t->targets + r0, t->losses + r0, dscale);
            wf_bop dl = wf_bop_bf16((const uint16_t *)lgs, 2 * V);
            wf_gemm_mbf16(0, 0, R, C, V, dl, wf_bop_f32(wte, C), NULL, 0.0f, dh + (size_t)r0 * C, C);
            wf_gemm_mbf16(1, 0, V, C, R, dl, hop, NULL, 1.0f, dwte, C);
            continue;
        }
        wf_crossentropy_rows(lgs, R, V, t->targets + r0, t->losses + r0, dscale, dh != NULL);
        if (dh && widen) {
            wf_gemm_rbf16(0, 0, R, C, V, lgs, V, wte, C, 0.0f, dh + (size_t)r0 * C, C);
            wf_gemm_rbf16(1, 0, V, C, R, lgs, V, hf, C, 1.0f, dwte, C);
        } else if (dh) {
            wf_bf16x_from_f32(t->xlg, lgs, (size_t)R * V);
            wf_gemm_bf16x(0, 0, R, C, V, t->xlg, V, t->xwte, C, 0.0f, dh + (size_t)r0 * C, C);
            wf_gemm_bf16x(1, 0, V, C, R, t->xlg, V, hc, C, 1.0f, dwte, C);
        }
    }
}

float wf_trainer_head(wf_trainer *t, const float *wte, const float *lnf_w, const float *lnf_b,
                      float *g_wte, float *g_lnf_w, float *g_lnf_b, float grad_scale) {
    const wf_gpt_config *c = &t->cfg;
    int N = t->N, C = c->n_embd, L = c->n_layer;
    if (bf16_acts(t)) /* read by the head's bf16 products only */
        wf_layernorm_forward_bf16((uint16_t *)t->lnf, t->lnf_mean, t->lnf_rstd, t->res[L], lnf_w, lnf_b, N, C,
                                  c->layer_norm_eps);
    else
        wf_layernorm_forward(t->lnf, t->lnf_mean, t->lnf_rstd, t->res[L], lnf_w, lnf_b, N, C, c->layer_norm_eps);
    int bwd = g_lnf_w != NULL;
    if (t->bf16)
        head_bf16(t, bwd ? t->dln : NULL, g_wte, wte, grad_scale / (float)N);
    else
        wf_crossentropy_fused(bwd ? t->dln : NULL, g_wte, t->losses, t->lnf, wte, t->targets, N, C,
                              c->vocab_size, grad_scale / (float)N, t->ce_scratch, CE_ROWS);
    double sum = 0.0;
    for (int i = 0; i < N; i++) sum += t->losses[i];
    if (bwd) {
        memset(t->dres, 0, sizeof(float) * (size_t)N * C);
        wf_layernorm_backward(t->dres, g_lnf_w, g_lnf_b, t->dln, t->res[L], lnf_w, t->lnf_mean,
                              t->lnf_rstd, N, C);
    }
    return (float)(sum / N);
}

void wf_trainer_layer_backward(wf_trainer *t, int l, const wf_gpt_layer *w, wf_gpt_layer *g) {
    const wf_gpt_config *c = &t->cfg;
    WF_ASSERT(l >= 0 && l < c->n_layer);
    int N = t->N, C = c->n_embd, F = c->n_inner;
    /* With recompute the shared set holds the last layer run; bring back l's.
    ** res[l+1] is rewritten with the same bits, so nothing else changes. */
    if (t->recompute && t->recomputed != l) layer_fwd(t, l, w);
    layer_acts *a = &t->acts[l];
    float *dres = t->dres;
    /* MLP: y = x2 + gelu(ln2 W_fc + b) W_fp + b */
    int h16 = bf16_acts(t);
    mm_bwd(t, sparse_of(t, l, WF_SPARSE_FPROJ), t->dfch, g->fproj_w, g->fproj_b, dres, a->fchg, h16, w->fproj_w, N, F,
           C);
    if (h16) { /* fc's output gradient in bf16 (same bits as packing rounds them) over gelu(h), now dead */
        uint16_t *d16 = (uint16_t *)a->fchg;
        wf_gelu_backward_bf16(d16, g->fc_b, a->fch, t->dfch, N, F, c->act == WF_ACT_GELU_NEW);
        wf_bop dout = wf_bop_bf16(d16, F);
        wf_gemm_mbf16(0, 1, N, C, F, dout, wf_bop_f32(w->fc_w, F), NULL, 0.0f, t->dln, C);
        wf_gemm_mbf16(1, 0, C, F, N, act_op(a->ln2, 1, C), dout, NULL, 1.0f, g->fc_w, F);
    } else {
        wf_gelu_backward(t->dfch, a->fch, t->dfch, (size_t)N * F, c->act == WF_ACT_GELU_NEW);
        mm_bwd(t, sparse_of(t, l, WF_SPARSE_FC), t->dln, g->fc_w, g->fc_b, t->dfch, a->ln2, 0, w->fc_w, N, C, F);
    }
    wf_layernorm_backward(dres, g->ln2_w, g->ln2_b, t->dln, a->x2, w->ln2_w, a->ln2_mean, a->ln2_rstd, N, C);
    /* attention: x2 = x + attn(ln1 W_qkv + b) W_ap + b */
    mm_bwd(t, sparse_of(t, l, WF_SPARSE_APROJ), t->datt, g->aproj_w, g->aproj_b, dres, a->att, 0, w->aproj_w, N, C,
           C);
    if (t->bf16 && t->battn)
        wf_attention_backward_bf16(t->dqkv, t->datt, a->qkv, a->att, a->lse, t->B, t->T, C, c->n_head,
                                   t->battn, t->attn_threads);
    else
        wf_attention_backward(t->dqkv, t->datt, a->qkv, a->att, a->lse, t->B, t->T, C, c->n_head,
                              t->attn_scratch, t->attn_threads);
    mm_bwd(t, sparse_of(t, l, WF_SPARSE_QKV), t->dln, g->qkv_w, g->qkv_b, t->dqkv, a->ln1, h16, w->qkv_w, N, C,
           3 * C);
    wf_layernorm_backward(dres, g->ln1_w, g->ln1_b, t->dln, t->res[l], w->ln1_w, a->ln1_mean, a->ln1_rstd, N, C);
}

void wf_trainer_embed_backward(wf_trainer *t, float *g_wte, float *g_wpe) {
    int B = t->B, T = t->T, C = t->cfg.n_embd;
    /* wpe: position tt sums its B rows in order; positions are independent. */
#pragma omp parallel for schedule(static) if ((long)T * C > 32768)
    for (int tt = 0; tt < T; tt++)
        for (int b = 0; b < B; b++) {
            const float *d = t->dres + ((size_t)b * T + tt) * C;
            float *gp = g_wpe + (size_t)tt * C;
            for (int k = 0; k < C; k++) gp[k] += d[k];
        }
    /* wte: a scatter by token id, in row order (repeated ids stay deterministic). */
    for (int i = 0; i < t->N; i++) {
        const float *d = t->dres + (size_t)i * C;
        float *gw = g_wte + (size_t)t->inputs[i] * C;
        for (int k = 0; k < C; k++) gw[k] += d[k];
    }
}

wf_status wf_trainer_step(wf_trainer *t, const wf_gpt_view *w, wf_gpt_view *g,
                          const int32_t *inputs, const int32_t *targets, float grad_scale,
                          float *loss, wf_err *err) {
    wf_status st = wf_trainer_embed_forward(t, w->wte, w->wpe, inputs, targets, err);
    if (st) return st;
    int L = t->cfg.n_layer;
    for (int l = 0; l < L; l++) layer_fwd(t, l, &w->layers[l]);
    *loss = wf_trainer_head(t, w->lm_head, w->lnf_w, w->lnf_b, g->lm_head, g->lnf_w, g->lnf_b, grad_scale);
    for (int l = L - 1; l >= 0; l--) wf_trainer_layer_backward(t, l, &w->layers[l], &g->layers[l]);
    wf_trainer_embed_backward(t, g->wte, g->wpe);
    return WF_OK;
}

wf_status wf_trainer_loss(wf_trainer *t, const wf_gpt_view *w, const int32_t *inputs,
                          const int32_t *targets, float *loss, wf_err *err) {
    wf_status st = wf_trainer_embed_forward(t, w->wte, w->wpe, inputs, targets, err);
    if (st) return st;
    for (int l = 0; l < t->cfg.n_layer; l++) layer_fwd(t, l, &w->layers[l]);
    *loss = wf_trainer_head(t, w->lm_head, w->lnf_w, w->lnf_b, NULL, NULL, NULL, 1.0f);
    return WF_OK;
}
