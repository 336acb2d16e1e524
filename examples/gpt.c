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
** (multiplies, vector kernels, memcpy) and the wall time of the simulation. */
#include "common.h"

#include "model/params.h"
#include "train/train.h"
#include "wse/gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *prog = "gpt";
    int64_t layers = 2, width = 64, heads = 4, seq = 64, vocab = 512, steps = 5, seed = 1;
    wf_ex_flag flags[] = {
        {"layers", WF_EX_INT, &layers, "transformer blocks"},
        {"width", WF_EX_INT, &width, "d_model (<= 256)"},
        {"heads", WF_EX_INT, &heads, "attention heads (divide width)"},
        {"seq", WF_EX_INT, &seq, "tokens per step (<= 256)"},
        {"vocab", WF_EX_INT, &vocab, "vocabulary (<= 2048)"},
        {"steps", WF_EX_INT, &steps, "AdamW steps (lr 1e-3)"},
        {"seed", WF_EX_INT, &seed, "weight and batch seed"},
    };
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 7, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    if (o.debug || o.debug_script) { /* its fabrics live inside wse/, which attaches no debugger */
        WF_FAIL(&e, WF_EUSAGE, "--debug: not available for %s (gemv, collectives, summa, stencil and sparse have it)",
                prog);
        return wf_ex_fail(prog, NULL, &e);
    }
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
    size_t n = wf_gpt_numel(&cfg);
    float *wc = malloc(n * 4), *wf = malloc(n * 4), *gc = malloc(n * 4), *gf = malloc(n * 4);
    int32_t *in = malloc((size_t)seq * 4), *tg = malloc((size_t)seq * 4);
    wf_optim *oc = NULL, *of = NULL;
    wf_trainer *tr = NULL;
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
        if (wf_wse_gpt_step(&cfg, wf, gf, in, tg, (int)seq, &lf, &ws, &e)) goto fail;
        double rel = fabs((double)lf - lc) / fabs((double)lc);
        if (!(rel <= worst)) worst = isnan(rel) ? INFINITY : rel;
        wall += ws.wall_s;
        if (o.json)
            printf("{\"example\":\"gpt\",\"step\":%d,\"loss\":%.8g,\"cpu_loss\":%.8g,\"rel\":%.3g,"
                   "\"matmul_cycles\":%llu,"
                   "\"vector_cycles\":%llu,\"io_cycles\":%llu,\"wall_s\":%.4f}\n",
                   s, lf, lc, rel, (unsigned long long)ws.mm_cycles, (unsigned long long)ws.vec_cycles,
                   (unsigned long long)ws.io_cycles, ws.wall_s);
        else
            printf("step %d: loss %.7f on the fabric, %.7f on the CPU (rel %.2g); cycles: matmul %llu, vector %llu, "
                   "memcpy %llu; %.2f s wall\n",
                   s, lf, lc, rel, (unsigned long long)ws.mm_cycles, (unsigned long long)ws.vec_cycles,
                   (unsigned long long)ws.io_cycles, ws.wall_s);
        wf_optim_step(oc, wc, gc, 1e-3f, &gn);
        wf_optim_step(of, wf, gf, 1e-3f, &gn);
    }
    if (!o.json) printf("worst loss difference %.2g relative; %.2f s wall per simulated step\n", worst, wall / steps);
    rc = worst <= 1e-4 ? 0 : 2;
    if (rc) fprintf(stderr, "gpt: check failed: loss differs from the CPU by %.3g relative (> 1e-4)\n", worst);
    goto done;
fail:
    rc = wf_ex_fail(prog, NULL, &e);
done:
    wf_trainer_free(tr);
    wf_optim_free(oc);
    wf_optim_free(of);
    free(wc), free(wf), free(gc), free(gf), free(in), free(tg);
    return rc;
}
