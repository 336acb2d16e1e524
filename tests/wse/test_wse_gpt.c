/* test_wse_gpt.c — the row kernels on the fabric against kernels/ (LayerNorm,
** GELU, residual/bias add, causal attention), and the tiny model's forward
** on the simulated fabric (2 layers, width 64, 4 heads, seq 64, vocab 512)
** against the CPU engine's logits within 1e-5 relative (max |diff| over max
** |logit|). Prints the wall time of the simulated forward. */
#include "tests/check.h"
#include "kernels/kernels.h"
#include "model/infer.h"
#include "model/params.h"
#include "wse/gpt.h"
#include "train/train.h"

#include <stdlib.h>

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double maxrel(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb > 0 ? mb : 1);
}

static void row_kernels(void) {
    enum { N = 16, C = 48, T = 20, H = 3, CA = 24 };
    unsigned s = 7;
    float x[N * C], r[N * C], w[C], b[C], out[N * C], ref[N * C];
    for (int i = 0; i < N * C; i++) x[i] = 3 * frand(&s) + 0.5f, r[i] = frand(&s);
    for (int i = 0; i < C; i++) w[i] = 1 + 0.2f * frand(&s), b[i] = 0.1f * frand(&s);
    wf_wse_vec *v;
    wf_err e = {0};
    WF_CHECK_EQ(wf_wse_vec_new(N, &v, &e), WF_OK);
    WF_CHECK_EQ(wf_wse_layernorm(v, out, x, w, b, N, C, 1e-5f, &e), WF_OK);
    wf_layernorm_forward(ref, NULL, NULL, x, w, b, N, C, 1e-5f);
    double d_ln = maxrel(out, ref, N * C);
    WF_CHECK(d_ln <= 1e-6);
    WF_CHECK_EQ(wf_wse_gelu(v, out, x, N, C, &e), WF_OK);
    wf_gelu_forward(ref, x, N * C);
    double d_gelu = maxrel(out, ref, N * C);
    WF_CHECK(d_gelu <= 1e-6);
    WF_CHECK_EQ(wf_wse_add(v, out, x, NULL, r, N, C, &e), WF_OK);
    wf_residual_forward(ref, x, r, N * C);
    WF_CHECK(maxrel(out, ref, N * C) == 0);
    WF_CHECK_EQ(wf_wse_add(v, out, x, b, NULL, N, C, &e), WF_OK);
    int same = 1;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) same &= out[n * C + c] == x[n * C + c] + b[c];
    WF_CHECK(same);
    /* attention: T x 3*CA packed qkv, H heads */
    float qkv[T * 3 * CA], att[T * CA], aref[T * CA];
    for (int i = 0; i < T * 3 * CA; i++) qkv[i] = frand(&s);
    WF_CHECK_EQ(wf_wse_attention(v, att, qkv, T, CA, H, &e), WF_OK);
    wf_attention_forward_naive(aref, NULL, qkv, 1, T, CA, H);
    double d_att = maxrel(att, aref, T * CA);
    WF_CHECK(d_att <= 1e-6);
    printf("row kernels vs kernels/: layernorm %.2g, gelu %.2g, residual 0, attention %.2g (max rel)\n", d_ln, d_gelu,
           d_att);
    WF_CHECK_EQ(wf_wse_layernorm(v, out, x, w, b, N + 1, C, 1e-5f, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "17 rows of 48 on 16 PEs");
    WF_CHECK_EQ(wf_wse_attention(v, att, qkv, T, CA, 5, &e), WF_EUSAGE);
    wf_wse_vec_free(v);
}

static void tiny_config(wf_gpt_config *cfgp) {
    wf_gpt_config cfg;
    wf_err e = {0};
    WF_CHECK_EQ(wf_gpt_config_preset("cerebras-gpt-111m", &cfg, &e), WF_OK);
    snprintf(cfg.name, sizeof cfg.name, "tiny");
    cfg.n_layer = 2, cfg.n_embd = 64, cfg.n_head = 4, cfg.n_inner = 256, cfg.n_positions = 64;
    cfg.vocab_size = 512;
    WF_CHECK_EQ(wf_gpt_config_validate(&cfg, "tiny", &e), WF_OK);
    *cfgp = cfg;
}

/* Random weights with biases and LayerNorm parameters that matter. */
static float *tiny_weights(const wf_gpt_config *cfgp) {
    wf_gpt_config cfg = *cfgp;
    wf_err e = {0};
    size_t n = wf_gpt_numel(&cfg);
    float *wts = malloc(n * sizeof(float));
    wf_gpt_init_random(&cfg, wts, 42);
    /* make biases and LayerNorm parameters matter */
    wf_gpt_view vw;
    WF_CHECK_EQ(wf_gpt_view_bind(&cfg, wts, &vw, &e), WF_OK);
    unsigned s = 3;
    for (int l = 0; l < cfg.n_layer; l++) {
        wf_gpt_layer *L = &vw.layers[l];
        for (int c = 0; c < 64; c++) {
            L->ln1_w[c] += 0.1f * frand(&s), L->ln1_b[c] = 0.05f * frand(&s);
            L->ln2_w[c] += 0.1f * frand(&s), L->ln2_b[c] = 0.05f * frand(&s);
            L->aproj_b[c] = 0.02f * frand(&s), L->fproj_b[c] = 0.02f * frand(&s);
        }
        for (int c = 0; c < 192; c++) L->qkv_b[c] = 0.02f * frand(&s);
        for (int c = 0; c < 256; c++) L->fc_b[c] = 0.02f * frand(&s);
    }
    wf_gpt_view_unbind(&vw);
    return wts;
}

static void tiny_forward(void) {
    wf_gpt_config cfg;
    wf_err e = {0};
    tiny_config(&cfg);
    float *wts = tiny_weights(&cfg);
    int32_t ids[64];
    for (int t = 0; t < 64; t++) ids[t] = (int32_t)((t * 37 + 11) % 512);
    float *lw = malloc(sizeof(float) * 64 * 512), *lc = malloc(sizeof(float) * 64 * 512);
    for (int i = 0; i < 64 * 512; i++) lw[i] = NAN;
    wf_infer *inf = NULL;
    wf_infer_opts io = {.max_batch = 1, .n_ctx = 64};
    WF_CHECK_EQ(wf_infer_new(&cfg, wts, &io, NULL, &inf, &e), WF_OK);
    WF_CHECK_EQ(wf_infer_forward(inf, ids, 1, 64, lc, WF_LOGITS_ALL, &e), WF_OK);
    wf_wse_gpt_stats st;
    for (int mode = WF_WSE_STREAM; mode <= WF_WSE_PIPELINED; mode++) {
        for (int i = 0; i < 64 * 512; i++) lw[i] = NAN;
        wf_status rc = wf_wse_gpt_forward(&cfg, wts, ids, 64, mode, lw, &st, &e);
        WF_CHECK_EQ(rc, WF_OK);
        if (rc) fprintf(stderr, "  %s\n", e.msg);
        double d = maxrel(lw, lc, 64 * 512);
        printf("tiny forward on the fabric, %s: logits max rel diff %.3g vs the CPU engine; %llu matmul (layers %llu, "
               "%llu; head %llu) + %llu vector cycles (+%llu memcpy); %.2f s wall\n",
               mode ? "pipelined" : "weight streaming", d, (unsigned long long)st.mm_cycles,
               (unsigned long long)st.layer_mm_cycles[0], (unsigned long long)st.layer_mm_cycles[1],
               (unsigned long long)st.head_mm_cycles, (unsigned long long)st.vec_cycles,
               (unsigned long long)st.io_cycles, st.wall_s);
        WF_CHECK(d <= 1e-5);
        WF_CHECK(st.layer_mm_cycles[0] > 0 && st.layer_mm_cycles[1] > 0 && st.head_mm_cycles > 0);
    }
    /* bad input: a token outside the vocabulary */
    ids[5] = 600;
    WF_CHECK_EQ(wf_wse_gpt_forward(&cfg, wts, ids, 64, WF_WSE_STREAM, lw, &st, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "token id 600 at position 5");
    wf_infer_free(inf);
    free(wts), free(lw), free(lc);
}

/* 5 AdamW steps: the fabric's forward + backward against the CPU trainer,
** the same batches, the same host optimizer. */
static void tiny_training(void) {
    wf_gpt_config cfg;
    wf_err e = {0};
    tiny_config(&cfg);
    size_t n = wf_gpt_numel(&cfg);
    float *wc = tiny_weights(&cfg), *wf = malloc(n * sizeof(float));
    float *gc = malloc(n * sizeof(float)), *gf = malloc(n * sizeof(float));
    memcpy(wf, wc, n * sizeof(float));
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    wf_optim *oc = NULL, *of = NULL;
    wf_trainer *tr = NULL;
    WF_CHECK_EQ(wf_optim_new(&cfg, &oo, NULL, &oc, &e), WF_OK);
    WF_CHECK_EQ(wf_optim_new(&cfg, &oo, NULL, &of, &e), WF_OK);
    WF_CHECK_EQ(wf_trainer_new(&cfg, 1, 64, 0, NULL, &tr, &e), WF_OK);
    double worst = 0, wall = 0, first = NAN, last = NAN;
    for (int step = 0; step < 5; step++) {
        int32_t in[64], tg[64];
        for (int t = 0; t < 64; t++) {
            in[t] = (int32_t)((t * 37 + 11) % 512); /* one batch, so the loss must fall */
            tg[t] = (int32_t)((t * 53 + 5) % 512);
        }
        memset(gc, 0, n * sizeof(float));
        memset(gf, 0, n * sizeof(float));
        wf_gpt_view vw, vg;
        float lc = NAN, lf = NAN, gn;
        WF_CHECK_EQ(wf_gpt_view_bind(&cfg, wc, &vw, &e), WF_OK);
        WF_CHECK_EQ(wf_gpt_view_bind(&cfg, gc, &vg, &e), WF_OK);
        WF_CHECK_EQ(wf_trainer_step(tr, &vw, &vg, in, tg, 1.0f, &lc, &e), WF_OK);
        wf_gpt_view_unbind(&vw);
        wf_gpt_view_unbind(&vg);
        wf_wse_gpt_stats st;
        wf_status rc = wf_wse_gpt_step(&cfg, wf, gf, in, tg, 64, &lf, &st, &e);
        WF_CHECK_EQ(rc, WF_OK);
        if (rc) {
            fprintf(stderr, "  %s\n", e.msg);
            break;
        }
        double gd = maxrel(gf, gc, n);
        double rel = fabs((double)lf - lc) / fabs((double)lc);
        if (!(rel <= worst)) worst = isnan(rel) ? INFINITY : rel;
        wall += st.wall_s;
        if (step == 0) first = lf;
        last = lf;
        printf("step %d: loss fabric %.7f, CPU %.7f (rel %.2g); gradients max rel %.2g; %llu matmul + %llu vector "
               "cycles (+%llu memcpy), %.2f s wall\n",
               step, lf, lc, rel, gd, (unsigned long long)st.mm_cycles, (unsigned long long)st.vec_cycles,
               (unsigned long long)st.io_cycles, st.wall_s);
        WF_CHECK(gd <= 1e-4);
        wf_optim_step(oc, wc, gc, 1e-3f, &gn);
        wf_optim_step(of, wf, gf, 1e-3f, &gn);
    }
    printf("5 training steps on the fabric: worst loss rel diff %.2g, %.2f s wall per step\n", worst, wall / 5);
    WF_CHECK(worst <= 1e-4);
    WF_CHECK(last < first - 0.01); /* it trains */
    wf_trainer_free(tr);
    wf_optim_free(oc);
    wf_optim_free(of);
    free(wc), free(wf), free(gc), free(gf);
}

int main(void) {
    row_kernels();
    tiny_forward();
    tiny_training();
    return wf_check_report();
}
