/* gpt.c — a small Cerebras-GPT-style model trained on the simulated wafer,
** weight-streaming style (wse/gpt.h): every multiply streams its weights in
** from the west edge against activations resident on the fabric, LayerNorm,
** GELU, attention, cross-entropy and their backward run on a row of PEs, and
** the host holds the store (fp32 weights, AdamW). Each step is checked
** against the CPU trainer on the same batch.
**
**   gpt --layers 2 --width 64 --heads 4 --seq 64 --vocab 512 --steps 5 [--json]
**
** Prints per step: the loss on the fabric and on the CPU, simulated cycles
** (multiplies, vector kernels, memcpy) and the wall time of the simulation;
** then where the first step's cycles go, per layer (wse.h's step profile:
** compute, fabric transfer and idle PE-cycles, inflow at the edge,
** host memcpy). --trace FILE writes that step as a Perfetto trace (one
** event per launch and memcpy), --heatmap FILE its busy cycles per PE.
**
**   gpt --forward 1 [--mode stream|pipelined]
**
** scores one sequence instead (the forward only) and checks the logits
** against the CPU engine (1e-5 relative). */
#include "common.h"

#include "model/infer.h"
#include "model/params.h"
#include "train/train.h"
#include "wse/gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The step profile as a table (text) or a "breakdown" JSON array. */
static void breakdown(const wf_wse_prof *p, int layers, int json) {
    if (!json)
        printf("where the cycles go (PE-cycles of the fabric's launches: compute = core busy, transfer = router or\n"
               "microthreads moving data while the core waits, idle = neither; edge = cycles the west edge took\n"
               "the streamed operand in (weights; tokens when the weights are resident), overlapped with compute;\n"
               "host memcpy = activations moved between launches):\n"
               "  %-12s %10s %8s %9s %6s %10s %12s\n",
               "part", "cycles", "compute", "transfer", "idle", "edge", "host memcpy");
    else
        printf(",\"breakdown\":[");
    for (int l = -1; l <= layers; l++) {
        wf_wse_sum u;
        wf_wse_prof_sum(p, l == layers ? WF_WSE_ALL : l, &u);
        char who[24];
        if (l < 0) snprintf(who, sizeof who, "embed/head");
        else if (l == layers) snprintf(who, sizeof who, "step");
        else snprintf(who, sizeof who, "layer %d", l);
        double pc = u.pe_cycles ? (double)u.pe_cycles : 1;
        if (json)
            printf("%s{\"part\":\"%s\",\"cycles\":%llu,\"pe_cycles\":%llu,\"compute\":%llu,\"transfer\":%llu,"
                   "\"idle\":%llu,\"edge_cycles\":%llu,\"memcpy_cycles\":%llu,\"flops\":%llu}",
                   l < 0 ? "" : ",", who, (unsigned long long)u.cycles, (unsigned long long)u.pe_cycles,
                   (unsigned long long)u.compute, (unsigned long long)u.transfer, (unsigned long long)u.idle,
                   (unsigned long long)u.edge, (unsigned long long)u.memcpy_cycles, (unsigned long long)u.flops);
        else
            printf("  %-12s %10llu %7.1f%% %8.1f%% %5.1f%% %10llu %12llu\n", who, (unsigned long long)u.cycles,
                   100 * u.compute / pc, 100 * u.transfer / pc, 100 * u.idle / pc, (unsigned long long)u.edge,
                   (unsigned long long)u.memcpy_cycles);
    }
    if (json) printf("]");
}

/* Pipelined mode: the regions of the one fabric (text table or "regions" JSON). */
static void regions(const wf_wse_gpt_stats *ws, int json) {
    if (json) printf(",\"batch_cycles\":%llu,\"first_token_cycles\":%llu,\"token_interval\":%.1f,\"regions\":[",
                     (unsigned long long)ws->batch_cycles, (unsigned long long)ws->first_token_cycles,
                     ws->token_interval);
    else
        printf("one fabric, a row of PEs: the batch takes %llu cycles; token 0's logits after %llu, then one token "
               "every %.0f cycles\n  %-10s %5s %8s %5s %8s %9s %6s\n",
               (unsigned long long)ws->batch_cycles, (unsigned long long)ws->first_token_cycles, ws->token_interval,
               "region", "layer", "columns", "PEs", "compute", "transfer", "idle");
    for (int i = 0; i < ws->nregion; i++) {
        const wf_wse_region *r = &ws->region[i];
        double pc = (double)r->pes * (double)ws->batch_cycles;
        if (json)
            printf("%s{\"region\":\"%s\",\"layer\":%d,\"x\":%d,\"pes\":%d,\"busy\":%llu,\"active\":%llu}",
                   i ? "," : "", r->name, r->layer, r->x, r->pes, (unsigned long long)r->busy,
                   (unsigned long long)r->active);
        else
            printf("  %-10s %5d %4d-%-3d %5d %7.1f%% %8.1f%% %5.1f%%\n", r->name, r->layer, r->x, r->x + r->pes - 1,
                   r->pes, 100 * r->busy / pc, 100 * (double)(r->active - r->busy) / pc, 100 * (pc - r->active) / pc);
    }
    if (json) printf("]");
}

/* --trace / --heatmap of the profiled step or forward. */
static wf_status write_diag(const wf_ex_opts *o, const wf_wse_prof *p, wf_err *e) {
    wf_status rc = WF_OK;
    if (o->trace && (rc = wf_wse_prof_write_trace(p, o->trace, e))) return rc;
    if (o->heatmap) rc = wf_wse_prof_write_heatmap(p, o->heatmap, e);
    return rc;
}

/* --forward: one sequence scored on the fabric in `mode`, against the CPU engine. */
static int forward(const char *prog, const wf_ex_opts *o, const wf_gpt_config *cfg, const float *w,
                   const int32_t *in, int seq, int mode) {
    wf_err e = {0};
    size_t nl = (size_t)seq * cfg->vocab_size;
    float *lf = malloc(nl * 4), *lc = malloc(nl * 4);
    wf_infer *inf = NULL;
    wf_wse_prof *p = NULL;
    int rc = 1;
    wf_infer_opts io = {.max_batch = 1, .n_ctx = seq};
    if (!lf || !lc) {
        WF_FAIL(&e, WF_ENOMEM, "gpt: logits: out of memory");
        goto fail;
    }
    wf_wse_gpt_stats ws;
    if (wf_wse_prof_new(&p, &e) || wf_infer_new(cfg, w, &io, NULL, &inf, &e) ||
        wf_infer_forward(inf, in, 1, seq, lc, WF_LOGITS_ALL, &e))
        goto fail;
    if (mode == WF_WSE_PIPELINED) { /* one fabric: its own trace shows every PE and the pipeline */
        if (wf_wse_gpt_pipelined(cfg, w, in, seq, lf, &ws, p, o->trace, &e) ||
            (o->heatmap && wf_wse_prof_write_heatmap(p, o->heatmap, &e)))
            goto fail;
    } else if (wf_wse_gpt_forward(cfg, w, in, seq, mode, lf, &ws, p, &e) || write_diag(o, p, &e)) {
        goto fail;
    }
    /* max |diff| over max |logit|, as tests/wse does */
    double md = 0, mx = 0;
    for (size_t i = 0; i < nl; i++) {
        double d = fabs((double)lf[i] - lc[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs(lc[i]) > mx) mx = fabs(lc[i]);
    }
    double worst = md / (mx > 0 ? mx : 1);
    const char *mname = mode == WF_WSE_PIPELINED ? "pipelined" : "stream";
    if (o->json) {
        printf("{\"example\":\"gpt\",\"forward\":true,\"mode\":\"%s\",\"tokens\":%d,\"max_rel\":%.3g,"
               "\"matmul_cycles\":%llu,\"vector_cycles\":%llu,\"io_cycles\":%llu,\"wall_s\":%.4f",
               mname, seq, worst, (unsigned long long)ws.mm_cycles, (unsigned long long)ws.vec_cycles,
               (unsigned long long)ws.io_cycles, ws.wall_s);
        if (mode == WF_WSE_PIPELINED) regions(&ws, 1);
        else breakdown(p, cfg->n_layer, 1);
        printf("}\n");
    } else if (mode == WF_WSE_PIPELINED) {
        printf("forward of %d tokens on the fabric, pipelined mode: logits within %.2g relative of the CPU engine; "
               "%llu cycles for the weights' memcpy and the logits'; %.2f s wall\n",
               seq, worst, (unsigned long long)ws.io_cycles, ws.wall_s);
        regions(&ws, 0);
    } else {
        printf("forward of %d tokens on the fabric, stream mode: logits within %.2g relative of the CPU engine; cycles "
               "per batch: matmul %llu, vector %llu, memcpy %llu; %.2f s wall\n",
               seq, worst, (unsigned long long)ws.mm_cycles, (unsigned long long)ws.vec_cycles,
               (unsigned long long)ws.io_cycles, ws.wall_s);
        breakdown(p, cfg->n_layer, 0);
    }
    rc = worst <= 1e-5 ? 0 : 2;
    if (rc) fprintf(stderr, "%s: check failed: logits differ from the CPU by %.3g relative (> 1e-5)\n", prog, worst);
    goto done;
fail:
    rc = wf_ex_fail(prog, NULL, &e);
done:
    wf_infer_free(inf);
    wf_wse_prof_free(p);
    free(lf), free(lc);
    return rc;
}

int main(int argc, char **argv) {
    const char *prog = "gpt";
    int64_t layers = 2, width = 64, heads = 4, seq = 64, vocab = 512, steps = 5, seed = 1, fwd = 0;
    const char *mode = "stream";
    wf_ex_flag flags[] = {
        {"layers", WF_EX_INT, &layers, "transformer blocks"},
        {"width", WF_EX_INT, &width, "d_model (<= 256)"},
        {"heads", WF_EX_INT, &heads, "attention heads (divide width)"},
        {"seq", WF_EX_INT, &seq, "tokens per step (<= 256)"},
        {"vocab", WF_EX_INT, &vocab, "vocabulary (<= 2048)"},
        {"steps", WF_EX_INT, &steps, "AdamW steps (lr 1e-3)"},
        {"seed", WF_EX_INT, &seed, "weight and batch seed"},
        {"forward", WF_EX_INT, &fwd, "1: score one sequence (forward only) instead of training"},
        {"mode", WF_EX_STR, &mode, "forward's execution mode: stream (weights stream in) or pipelined (resident)"},
    };
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 9, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    if (o.defects || o.defect_rate > 0) {
        WF_FAIL(&e, WF_EUSAGE, "gpt: --defects / --defect-rate are not supported here (wse/gpt.c builds many small "
                "fabrics); try them with wsmm, the same matmul kernel");
        return wf_ex_fail(prog, NULL, &e);
    }
    if (wf_ex_own_fabrics(&o, &e)) return wf_ex_fail(prog, NULL, &e); /* its fabrics live inside wse/ */
    wf_gpt_config cfg;
    if (wf_gpt_config_preset("cerebras-gpt-111m", &cfg, &e)) return wf_ex_fail(prog, NULL, &e);
    snprintf(cfg.name, sizeof cfg.name, "custom");
    if (layers < 1 || layers > 64 || width < 1 || width > 256 || heads < 1 || heads > width || seq < 1 || seq > 256 ||
        vocab < 2 || vocab > 2048 || steps < 1 || steps > 1000) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: layers %lld, width %lld, heads %lld, seq %lld, vocab %lld, steps %lld: need "
                "layers 1..64, width 1..256, heads <= width, seq 1..256, vocab 2..2048, steps 1..1000",
                (long long)layers, (long long)width, (long long)heads, (long long)seq, (long long)vocab,
                (long long)steps);
        return wf_ex_fail(prog, NULL, &e);
    }
    cfg.n_layer = (int)layers, cfg.n_embd = (int)width, cfg.n_head = (int)heads, cfg.n_inner = 4 * (int)width;
    cfg.n_positions = (int)seq, cfg.vocab_size = (int)vocab;
    if (wf_gpt_config_validate(&cfg, "gpt", &e)) return wf_ex_fail(prog, NULL, &e);
    int m = !strcmp(mode, "stream") ? WF_WSE_STREAM : !strcmp(mode, "pipelined") ? WF_WSE_PIPELINED : -1;
    if (m < 0 || (fwd != 0 && fwd != 1)) {
        WF_FAIL(&e, WF_EUSAGE, "--mode '%s' / --forward %lld: expected stream or pipelined, and 0 or 1", mode,
                (long long)fwd);
        return wf_ex_fail(prog, NULL, &e);
    }
    if (m != WF_WSE_STREAM && !fwd) {
        WF_FAIL(&e, WF_EUSAGE, "--mode pipelined: the training step runs in stream mode only; add --forward 1");
        return wf_ex_fail(prog, NULL, &e);
    }
    size_t n = wf_gpt_numel(&cfg);
    float *wc = malloc(n * 4), *wf = malloc(n * 4), *gc = malloc(n * 4), *gf = malloc(n * 4);
    int32_t *in = malloc((size_t)seq * 4), *tg = malloc((size_t)seq * 4);
    wf_optim *oc = NULL, *of = NULL;
    wf_trainer *tr = NULL;
    wf_wse_prof *prof = NULL;
    int rc = 1;
    if (!wc || !wf || !gc || !gf || !in || !tg) {
        WF_FAIL(&e, WF_ENOMEM, "gpt: %zu parameters: out of memory", n);
        goto fail;
    }
    wf_gpt_init_random(&cfg, wc, (uint64_t)seed);
    memcpy(wf, wc, n * 4);
    for (int t = 0; t < seq; t++) {
        in[t] = (int32_t)(((uint64_t)t * 37 + (uint64_t)seed * 11) % (uint64_t)vocab);
        tg[t] = (int32_t)(((uint64_t)t * 53 + (uint64_t)seed * 5 + 1) % (uint64_t)vocab);
    }
    if (fwd) {
        rc = forward(prog, &o, &cfg, wf, in, (int)seq, m);
        goto done;
    }
    if (wf_wse_prof_new(&prof, &e)) goto fail;
    wf_optim_opts oo;
    wf_optim_opts_default(&oo);
    if (wf_optim_new(&cfg, &oo, NULL, &oc, &e) || wf_optim_new(&cfg, &oo, NULL, &of, &e) ||
        wf_trainer_new(&cfg, 1, (int)seq, 0, NULL, &tr, &e))
        goto fail;
    double worst = 0, wall = 0;
    for (int s = 0; s < steps; s++) {
        memset(gc, 0, n * 4);
        memset(gf, 0, n * 4);
        wf_gpt_view vw, vg;
        float lc = NAN, lf = NAN, gn;
        if (wf_gpt_view_bind(&cfg, wc, &vw, &e)) goto fail;
        if (wf_gpt_view_bind(&cfg, gc, &vg, &e)) {
            wf_gpt_view_unbind(&vw);
            goto fail;
        }
        wf_status st = wf_trainer_step(tr, &vw, &vg, in, tg, 1.0f, &lc, &e);
        wf_gpt_view_unbind(&vw);
        wf_gpt_view_unbind(&vg);
        if (st) goto fail;
        wf_wse_gpt_stats ws;
        if (wf_wse_gpt_step(&cfg, wf, gf, in, tg, (int)seq, &lf, &ws, s == 0 ? prof : NULL, &e)) goto fail;
        if (s == 0 && write_diag(&o, prof, &e)) goto fail;
        double rel = fabs((double)lf - lc) / fabs((double)lc);
        if (!(rel <= worst)) worst = isnan(rel) ? INFINITY : rel;
        wall += ws.wall_s;
        if (o.json)
            printf("{\"example\":\"gpt\",\"step\":%d,\"loss\":%.8g,\"cpu_loss\":%.8g,\"rel\":%.3g,"
                   "\"matmul_cycles\":%llu,"
                   "\"vector_cycles\":%llu,\"io_cycles\":%llu,\"wall_s\":%.4f",
                   s, lf, lc, rel, (unsigned long long)ws.mm_cycles, (unsigned long long)ws.vec_cycles,
                   (unsigned long long)ws.io_cycles, ws.wall_s);
        if (o.json && s == 0) breakdown(prof, (int)layers, 1);
        if (o.json) printf("}\n");
        else
            printf("step %d: loss %.7f on the fabric, %.7f on the CPU (rel %.2g); cycles: matmul %llu, vector %llu, "
                   "memcpy %llu; %.2f s wall\n",
                   s, lf, lc, rel, (unsigned long long)ws.mm_cycles, (unsigned long long)ws.vec_cycles,
                   (unsigned long long)ws.io_cycles, ws.wall_s);
        wf_optim_step(oc, wc, gc, 1e-3f, &gn);
        wf_optim_step(of, wf, gf, 1e-3f, &gn);
    }
    if (!o.json) {
        printf("worst loss difference %.2g relative; %.2f s wall per simulated step\nstep 0: ", worst, wall / steps);
        breakdown(prof, (int)layers, 0);
    }
    rc = worst <= 1e-4 ? 0 : 2;
    if (rc) fprintf(stderr, "gpt: check failed: loss differs from the CPU by %.3g relative (> 1e-4)\n", worst);
    goto done;
fail:
    rc = wf_ex_fail(prog, NULL, &e);
done:
    wf_trainer_free(tr);
    wf_wse_prof_free(prof);
    wf_optim_free(oc);
    wf_optim_free(of);
    free(wc), free(wf), free(gc), free(gf), free(in), free(tg);
    return rc;
}
