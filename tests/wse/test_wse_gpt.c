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

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

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
        wf_status rc = wf_wse_gpt_forward(&cfg, wts, ids, 64, mode, lw, &st, NULL, &e);
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
        if (mode == WF_WSE_STREAM) {
            WF_CHECK(st.layer_mm_cycles[0] > 0 && st.layer_mm_cycles[1] > 0 && st.head_mm_cycles > 0);
            continue;
        }
        /* one fabric: attention, mlp per layer, then the head; each region worked, and they
        ** worked at once: run one after another, their busiest PEs would need far longer */
        WF_CHECK_EQ(st.nregion, 5);
        double serial = 0;
        int busy_all = 1;
        for (int i = 0; i < st.nregion; i++) {
            const wf_wse_region *r = &st.region[i];
            busy_all &= r->busy > 0 && r->active >= r->busy && r->active <= (uint64_t)r->pes * st.batch_cycles;
            serial += (double)r->busy / r->pes;
        }
        WF_CHECK(busy_all);
        WF_CHECK_STR(st.region[0].name, "attention");
        WF_CHECK_STR(st.region[4].name, "head");
        printf("pipelined: batch %llu cycles, token 0 after %llu, then every %.0f; regions one after another would "
               "take >= %.0f\n", (unsigned long long)st.batch_cycles, (unsigned long long)st.first_token_cycles,
               st.token_interval, serial);
        WF_CHECK(st.first_token_cycles > 0 && st.first_token_cycles < st.batch_cycles && st.token_interval > 0);
        WF_CHECK(st.batch_cycles < 0.6 * serial); /* NaN-free: integers */
    }
    /* a KV cache that does not fit: 256 tokens of a 16-wide head beside its weights */
    {
        wf_gpt_config big = cfg;
        big.n_positions = 256;
        float *bw = tiny_weights(&big), *bl = malloc(sizeof(float) * 256 * 512);
        int32_t bid[256];
        for (int t = 0; t < 256; t++) bid[t] = t % 512;
        WF_CHECK_EQ(wf_wse_gpt_forward(&big, bw, bid, 256, WF_WSE_PIPELINED, bl, &st, NULL, &e), WF_ESRAM);
        WF_CHECK_HAS(e.msg, "attention region of layer 0 (PEs 1-4): a PE needs 56524 bytes");
        WF_CHECK_HAS(e.msg, "fewer tokens");
        free(bw), free(bl);
    }
    /* bad input: a token outside the vocabulary */
    ids[5] = 600;
    WF_CHECK_EQ(wf_wse_gpt_forward(&cfg, wts, ids, 64, WF_WSE_STREAM, lw, &st, NULL, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "token id 600 at position 5");
    wf_infer_free(inf);
    free(wts), free(lw), free(lc);
}

/* The step profile of one training step (wse.h): its spans add up to the
** step's own cycle counters, each multiply was busy at least one cycle per
** fp32 FMA and took its weights in at the edge within its run, every layer
** has forward and backward work, and the trace and heatmap files are what
** they claim to be. */
static void check_profile(const wf_gpt_config *cfg, const wf_wse_prof *p, const wf_wse_gpt_stats *st) {
    uint64_t kind[WF_WSE_SPAN_KINDS] = {0}, end = 0;
    int bwd[2] = {0, 0}, fwd[2] = {0, 0}, bad = 0;
    size_t n = wf_wse_prof_count(p);
    WF_CHECK(!wf_wse_prof_failed(p) && n > 100);
    for (size_t i = 0; i < n; i++) {
        const wf_wse_span *s = wf_wse_prof_span(p, i);
        kind[s->kind] += s->cycles;
        if (s->start != end) bad++; /* spans follow one another */
        end = s->start + s->cycles;
        if (s->kind == WF_WSE_SPAN_MATMUL && (s->busy < s->flops / 2 || s->edge > s->cycles || !s->edge)) bad++;
        if (s->kind != WF_WSE_SPAN_MEMCPY && (s->busy == 0 || s->busy > s->active || s->active > s->pes * s->cycles))
            bad++;
        if (s->layer >= 0 && s->layer < 2) (s->backward ? bwd : fwd)[s->layer]++;
    }
    WF_CHECK_EQ(bad, 0);
    WF_CHECK_EQ(kind[WF_WSE_SPAN_MATMUL], st->mm_cycles);
    WF_CHECK_EQ(kind[WF_WSE_SPAN_VECTOR], st->vec_cycles);
    WF_CHECK_EQ(kind[WF_WSE_SPAN_MEMCPY], st->io_cycles);
    WF_CHECK(fwd[0] > 0 && fwd[1] > 0 && bwd[0] > 0 && bwd[1] > 0);
    wf_wse_sum all, part, acc = {0};
    wf_wse_prof_sum(p, WF_WSE_ALL, &all);
    for (int l = -1; l < cfg->n_layer; l++) {
        wf_wse_prof_sum(p, l, &part);
        acc.cycles += part.cycles, acc.compute += part.compute, acc.idle += part.idle;
        acc.memcpy_cycles += part.memcpy_cycles;
    }
    WF_CHECK_EQ(acc.cycles, all.cycles);
    WF_CHECK_EQ(acc.compute, all.compute);
    WF_CHECK_EQ(acc.idle, all.idle);
    WF_CHECK_EQ(acc.memcpy_cycles, all.memcpy_cycles);
    WF_CHECK_EQ(all.compute + all.transfer + all.idle, all.pe_cycles);
    WF_CHECK(all.transfer > 0 && all.idle > 0);
    printf("step profile: %zu spans; fabric %llu cycles, %llu PE-cycles: compute %.1f%%, transfer %.1f%%, idle %.1f%%; "
           "edge %llu cycles; host memcpy %llu cycles\n",
           n, (unsigned long long)all.cycles, (unsigned long long)all.pe_cycles, 100.0 * all.compute / all.pe_cycles,
           100.0 * all.transfer / all.pe_cycles, 100.0 * all.idle / all.pe_cycles, (unsigned long long)all.edge,
           (unsigned long long)all.memcpy_cycles);
    /* the trace: valid JSON, one complete event per span ending where the step ends */
    char path[] = "/tmp/wf_wse_traceXXXXXX";
    int fd = mkstemp(path);
    WF_CHECK(fd >= 0);
    close(fd);
    wf_err e = {0};
    WF_CHECK_EQ(wf_wse_prof_write_trace(p, path, &e), WF_OK);
    char *txt = NULL;
    size_t len = 0;
    WF_CHECK_EQ(wf_file_read(NULL, path, &txt, &len, &e), WF_OK);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    WF_CHECK(j != NULL);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "traceEvents"), *it;
    size_t nx = 0;
    double last = 0;
    cJSON_ArrayForEach(it, ev) {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(it, "ph");
        if (!cJSON_IsString(ph) || strcmp(ph->valuestring, "X")) continue;
        nx++;
        last = cJSON_GetObjectItemCaseSensitive(it, "ts")->valuedouble +
               cJSON_GetObjectItemCaseSensitive(it, "dur")->valuedouble;
    }
    WF_CHECK_EQ(nx, n);
    WF_CHECK(last == (double)end);
    cJSON_Delete(j);
    wf_free(NULL, txt);
    /* the heatmap: a PNG */
    WF_CHECK_EQ(wf_wse_prof_write_heatmap(p, path, &e), WF_OK);
    txt = NULL;
    WF_CHECK_EQ(wf_file_read(NULL, path, &txt, &len, &e), WF_OK);
    WF_CHECK(txt && len > 100 && !memcmp(txt, "\x89PNG\r\n\x1a\n", 8));
    wf_free(NULL, txt);
    unlink(path);
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
    wf_wse_prof *prof = NULL;
    WF_CHECK_EQ(wf_wse_prof_new(&prof, &e), WF_OK);
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
        wf_status rc = wf_wse_gpt_step(&cfg, wf, gf, in, tg, 64, &lf, &st, step == 0 ? prof : NULL, &e);
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
        if (step == 0) check_profile(&cfg, prof, &st);
        wf_optim_step(oc, wc, gc, 1e-3f, &gn);
        wf_optim_step(of, wf, gf, 1e-3f, &gn);
    }
    printf("5 training steps on the fabric: worst loss rel diff %.2g, %.2f s wall per step\n", worst, wall / 5);
    WF_CHECK(worst <= 1e-4);
    WF_CHECK(last < first - 0.01); /* it trains */
    wf_trainer_free(tr);
    wf_wse_prof_free(prof);
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
