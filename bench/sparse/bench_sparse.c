/* bench_sparse.c — what weight sparsity buys on this CPU (issue 13).
**   bench_sparse layers PRESET T B SPARSITY THREADS
**     per block-matrix kind (qkv, attn_proj, fc, fc_proj) of one layer, N = B*T
**     rows: dense (wf_matmul_forward + wf_matmul_backward) against sparse
**     (forward + input gradient + SDDMM weight gradient), ms per training
**     product set, best of 3 after a warm-up; one JSON line per kind.
**   bench_sparse train PRESET T B SPARSITY THREADS STEPS [auto|sparse|dense]
**     full training steps as train/loop.c runs them on random weights and
**     tokens: the dense step, and the sparse step with a uniform random mask
**     (the plan times sparse vs dense per matrix kind and keeps the faster,
**     printed; mask on the gradients, AdamW, mask on weights and moments,
**     sparse values refreshed), alternating on one trainer so both see the
**     same load. One JSON line: both step times by phase, tokens/s, ratio.
**   bench_sparse decode PRESET SPARSITY THREADS TOKENS
**     decode tokens/s (batch 1, after a 16-token prompt) of the model with its
**     weights magnitude-pruned to SPARSITY, through model/infer.c: dense
**     kernels on the zeros against the sparse hook (sparse GEMV).
*/
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "model/infer.h"
#include "sparse/sparse.h"
#include "train/train.h"

static int layers(const wf_gpt_config *c, int N, double S) {
    wf_err e;
    wf_sparse_mask *m;
    if (wf_sparse_mask_random(c, S, WF_SPARSE_UNIFORM, 1, NULL, &m, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    wf_rng r;
    wf_rng_seed(&r, 5);
    for (int s = 0; s < WF_SPARSE_MAT_COUNT; s++) {
        int K, OC;
        wf_sparse_mat_shape(c, (wf_sparse_mat)s, &K, &OC);
        size_t nx = (size_t)N * K, ny = (size_t)N * OC, nw = (size_t)K * OC;
        float *x = malloc(4 * nx), *dx = malloc(4 * nx), *y = malloc(4 * ny), *dy = malloc(4 * ny), *W = malloc(4 * nw),
              *dw = malloc(4 * nw), *db = malloc(4 * (size_t)OC);
        for (size_t i = 0; i < nx; i++) x[i] = (float)wf_rng_normal(&r);
        for (size_t i = 0; i < ny; i++) dy[i] = (float)wf_rng_normal(&r);
        for (size_t i = 0; i < nw; i++) W[i] = (float)wf_rng_normal(&r) * 0.02f;
        const uint64_t *bits = wf_sparse_mask_bits(m, 0, (wf_sparse_mat)s);
        for (size_t i = 0; i < nw; i++)
            if (!((bits[i / 64] >> (i % 64)) & 1)) W[i] = 0;
        wf_spmat *sm;
        if (wf_spmat_new(bits, K, OC, NULL, &sm, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
        wf_spmat_load(sm, W);
        float *scr = malloc(4 * wf_spmm_scratch(sm, N));
        double bd[2] = {1e30, 1e30}, bs[4] = {1e30, 1e30, 1e30, 1e30};
        for (int rep = 0; rep < 4; rep++) {
            memset(dx, 0, 4 * nx), memset(dw, 0, 4 * nw), memset(db, 0, 4 * (size_t)OC);
            double t0 = wf_now();
            wf_matmul_forward(y, x, W, NULL, N, K, OC);
            double t1 = wf_now();
            wf_matmul_backward(dx, dw, db, dy, x, W, N, K, OC);
            double t2 = wf_now();
            wf_spmm_forward(y, x, sm, NULL, N, scr);
            double t3 = wf_now();
            wf_spmm_backward_input(dx, dy, sm, N, scr);
            double t4 = wf_now();
            wf_spmm_backward_weight(dw, x, dy, sm, N, scr);
            double t5 = wf_now();
            if (!rep) continue;
            double v[6] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, 0};
            for (int i = 0; i < 2; i++) bd[i] = v[i] < bd[i] ? v[i] : bd[i];
            for (int i = 0; i < 3; i++) bs[i] = v[2 + i] < bs[i] ? v[2 + i] : bs[i];
        }
        double dense = (bd[0] + bd[1]) * 1e3, sparse = (bs[0] + bs[1] + bs[2]) * 1e3;
        printf("{\"kind\": \"%s\", \"K\": %d, \"OC\": %d, \"N\": %d, \"sparsity\": %.2f, \"threads\": %d, "
               "\"dense_fwd_ms\": %.2f, \"dense_bwd_ms\": %.2f, \"sparse_fwd_ms\": %.2f, \"sparse_dinp_ms\": %.2f, "
               "\"sparse_dw_ms\": %.2f, \"dense_ms\": %.2f, \"sparse_ms\": %.2f, \"speedup\": %.2f}\n",
               wf_sparse_mat_name((wf_sparse_mat)s), K, OC, N, S, wf_kernels_threads(), bd[0] * 1e3, bd[1] * 1e3,
               bs[0] * 1e3, bs[1] * 1e3, bs[2] * 1e3, dense, sparse, dense / sparse);
        fflush(stdout);
        free(x), free(dx), free(y), free(dy), free(W), free(dw), free(db), free(scr);
        wf_spmat_free(sm);
    }
    wf_sparse_mask_free(m);
    return 0;
}

/* One training step as train/loop.c runs it; with a mask (m != NULL) the
** plan is set on the trainer and the mask work is done. Times in t[0..2]:
** forward, head + backward, optimizer (+ mask). */
static void step(const wf_gpt_config *c, wf_trainer *t, wf_optim *o, float *w, float *g, const wf_gpt_view *wv,
                 wf_gpt_view *gv, const int32_t *in, const int32_t *tg, wf_sparse_mask *m, wf_sparse_plan *p,
                 double tm[3], float *loss) {
    wf_err e;
    size_t n = wf_gpt_numel(c);
    wf_trainer_set_sparse(t, m ? p : NULL);
    memset(g, 0, n * 4);
    double t0 = wf_now();
    wf_trainer_embed_forward(t, wv->wte, wv->wpe, in, tg, &e);
    for (int l = 0; l < c->n_layer; l++) wf_trainer_layer_forward(t, l, &wv->layers[l]);
    double t1 = wf_now();
    *loss = wf_trainer_head(t, wv->wte, wv->lnf_w, wv->lnf_b, gv->wte, gv->lnf_w, gv->lnf_b, 1.0f);
    for (int l = c->n_layer - 1; l >= 0; l--) wf_trainer_layer_backward(t, l, &wv->layers[l], &gv->layers[l]);
    wf_trainer_embed_backward(t, gv->wte, gv->wpe);
    double t2 = wf_now();
    float gn;
    if (m) wf_sparse_mask_apply(m, g);
    wf_optim_step(o, w, g, 1e-4f, &gn);
    if (m) {
        wf_sparse_mask_apply(m, w), wf_sparse_mask_apply(m, o->m), wf_sparse_mask_apply(m, o->v);
        wf_sparse_plan_refresh(p, w);
    }
    double t3 = wf_now();
    tm[0] = t1 - t0, tm[1] = t2 - t1, tm[2] = t3 - t2;
}

/* Dense and sparse steps alternate (dense, sparse, dense, ...) on one trainer,
** so both see the same machine load; best of `steps` each after a warm-up. */
static int train(const wf_gpt_config *c, int B, int T, double S, int steps, wf_sparse_kernels force) {
    wf_err e;
    size_t n = wf_gpt_numel(c);
    float *w = wf_alloc(NULL, n * 4, "w", &e), *g = wf_alloc(NULL, n * 4, "g", &e);
    if (!w || !g) return 1;
    wf_gpt_init_random(c, w, 1);
    wf_gpt_view wv, gv;
    wf_gpt_view_bind(c, w, &wv, &e);
    wf_gpt_view_bind(c, g, &gv, &e);
    wf_trainer *t;
    wf_optim *o;
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    if (wf_trainer_new(c, B, T, 0, NULL, &t, &e) || wf_optim_new(c, &oo, NULL, &o, &e))
        return fprintf(stderr, "%s\n", e.msg), 1;
    wf_sparse_mask *m = NULL;
    wf_sparse_plan *p = NULL;
    double t_plan = 0;
    if (wf_sparse_mask_random(c, S, WF_SPARSE_UNIFORM, 1, NULL, &m, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    wf_sparse_mask_apply(m, w);
    double tp = wf_now();
    if (wf_sparse_plan_new(m, w, B * T, force, NULL, &p, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    t_plan = wf_now() - tp;
    char desc[4096];
    wf_sparse_plan_describe(p, desc, sizeof desc);
    fprintf(stderr, "%s\n", desc);
    int32_t *in = malloc(sizeof(int32_t) * (size_t)B * T), *tg = malloc(sizeof(int32_t) * (size_t)B * T);
    for (int i = 0; i < B * T; i++) in[i] = (i * 7919) % c->vocab_size, tg[i] = (i * 104729 + 1) % c->vocab_size;
    double best[2] = {1e30, 1e30}, parts[2][3] = {{0}};
    float loss = 0;
    for (int s = 0; s < steps + 1; s++)
        for (int k = 0; k < 2; k++) {
            double tm[3];
            step(c, t, o, w, g, &wv, &gv, in, tg, k ? m : NULL, p, tm, &loss);
            double tot = tm[0] + tm[1] + tm[2];
            if (s > 0 && tot < best[k]) best[k] = tot, memcpy(parts[k], tm, sizeof tm);
        }
    printf("{\"model\": \"%s\", \"T\": %d, \"B\": %d, \"threads\": %d, \"sparsity\": %.2f, \"sparse_matrices\": %d, "
           "\"of\": %d, \"plan_s\": %.2f, \"dense_step_s\": %.3f, \"sparse_step_s\": %.3f, "
           "\"dense_fwd_bwd_opt_s\": [%.3f, %.3f, %.3f], \"sparse_fwd_bwd_opt_s\": [%.3f, %.3f, %.3f], "
           "\"dense_tokens_per_s\": %.1f, \"sparse_tokens_per_s\": %.1f, \"speedup\": %.2f}\n",
           c->name, T, B, wf_kernels_threads(), S, wf_sparse_plan_count_sparse(p), 4 * c->n_layer, t_plan, best[0],
           best[1], parts[0][0], parts[0][1], parts[0][2], parts[1][0], parts[1][1], parts[1][2],
           (double)B * T / best[0], (double)B * T / best[1], best[0] / best[1]);
    (void)loss;
    wf_sparse_plan_free(p);
    wf_sparse_mask_free(m);
    wf_trainer_free(t);
    wf_optim_free(o);
    wf_gpt_view_unbind(&wv), wf_gpt_view_unbind(&gv);
    wf_free(NULL, w), wf_free(NULL, g);
    free(in), free(tg);
    return 0;
}

static int decode(const wf_gpt_config *c, double S, int ntok) {
    wf_err e;
    size_t n = wf_gpt_numel(c);
    float *w = wf_alloc(NULL, n * 4, "w", &e);
    if (!w) return 1;
    wf_gpt_init_random(c, w, 1);
    wf_sparse_mask *m;
    if (wf_sparse_mask_magnitude(c, w, S, 0, NULL, &m, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    wf_sparse_mask_apply(m, w);
    wf_sparse_infer *si;
    if (wf_sparse_infer_new(m, w, 64, NULL, &si, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    float *lg = malloc(sizeof(float) * c->vocab_size);
    int32_t prompt[16];
    for (int i = 0; i < 16; i++) prompt[i] = (i * 7919) % c->vocab_size;
    double tps[2];
    for (int sp = 0; sp < 2; sp++) {
        wf_infer_opts io = {.max_batch = 1, .n_ctx = 16 + ntok, .max_rows = 64};
        if (sp) io.linear = wf_sparse_infer_linear, io.linear_ud = si;
        wf_infer *ctx;
        if (wf_infer_new(c, w, &io, NULL, &ctx, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
        wf_infer_forward(ctx, prompt, 1, 16, lg, WF_LOGITS_LAST, &e);
        double t0 = wf_now();
        for (int t = 0; t < ntok; t++) {
            int32_t id = (t * 31 + 5) % c->vocab_size;
            wf_infer_forward(ctx, &id, 1, 1, lg, WF_LOGITS_LAST, &e);
        }
        tps[sp] = ntok / (wf_now() - t0);
        wf_infer_free(ctx);
    }
    printf("{\"model\": \"%s\", \"decode\": true, \"sparsity\": %.2f, \"threads\": %d, \"tokens\": %d, "
           "\"dense_tok_s\": %.1f, \"sparse_tok_s\": %.1f, \"speedup\": %.2f}\n", c->name, S, wf_kernels_threads(), ntok,
           tps[0], tps[1], tps[1] / tps[0]);
    wf_sparse_infer_free(si);
    wf_sparse_mask_free(m);
    free(lg);
    wf_free(NULL, w);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 6 && !strcmp(argv[1], "decode")) {
        wf_err e;
        wf_gpt_config c;
        if (wf_gpt_config_preset(argv[2], &c, &e)) return fprintf(stderr, "%s\n", e.msg), 2;
        wf_kernels_set_threads(atoi(argv[4]));
        return decode(&c, atof(argv[3]), atoi(argv[5]));
    }
    if (argc < 7) {
        fprintf(stderr, "usage: bench_sparse layers PRESET T B SPARSITY THREADS\n"
                        "       bench_sparse train PRESET T B SPARSITY THREADS STEPS [auto|sparse|dense]\n"
                        "       bench_sparse decode PRESET SPARSITY THREADS TOKENS\n");
        return 2;
    }
    wf_err e;
    wf_gpt_config c;
    if (wf_gpt_config_preset(argv[2], &c, &e)) return fprintf(stderr, "%s\n", e.msg), 2;
    int T = atoi(argv[3]), B = atoi(argv[4]), threads = atoi(argv[6]);
    double S = atof(argv[5]);
    if (T > c.n_positions) c.n_positions = T;
    wf_kernels_set_threads(threads);
    if (!strcmp(argv[1], "layers")) return layers(&c, B * T, S);
    int steps = argc > 7 ? atoi(argv[7]) : 2;
    const char *k = argc > 8 ? argv[8] : "auto";
    wf_sparse_kernels f = !strcmp(k, "sparse") ? WF_SPARSE_KERNELS_SPARSE
                        : !strcmp(k, "dense") ? WF_SPARSE_KERNELS_DENSE : WF_SPARSE_KERNELS_AUTO;
    return train(&c, B, T, S, steps, f);
}
