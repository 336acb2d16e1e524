/* cmd_plan.c — `wafer plan --model PRESET --tokens N [...]`: how long a
** training run takes on simulated CS-2s (plan/plan.h), as text or --json. */
#include "cli/cli.h"
#include "plan/plan.h"

#include <stdio.h>
#include <string.h>

static const char *usage_text =
    "usage: wafer plan --model PRESET --tokens N [--systems K] [--mode stream|pipelined]\n"
    "                  [--sparsity S] [--clock HZ] [--price-per-hour P] [--io-bytes-per-s B]\n"
    "                  [--update-params-per-s U] [--max-tr T] [--check-sim COLS] [--json]\n"
    "  Predicts training days, sustained FLOP/s, utilisation and cost. Each matrix\n"
    "  multiply of a layer is mapped onto the 750 x 994 fabric as the weight-streaming\n"
    "  kernel of wse/ and timed by its cycle model (checked against simulations);\n"
    "  weights and gradients move at --io-bytes-per-s per system. docs/wse-model.md\n"
    "  lists every parameter and its source. --check-sim COLS simulates a slice of each\n"
    "  multiply as mapped (all its rows, COLS token columns, 2 chunks) and prints the\n"
    "  simulated against the modelled cycles.\n"
    "  defaults: --systems 1, --mode stream, --sparsity 0, --clock 850e6 (open: the vendor's\n"
    "  scripts use it; its 7.5 PFLOP/s per CS-2 implies 1.1e9), --io-bytes-per-s 150e9,\n"
    "  --update-params-per-s 1e10 (open), --max-tr 128 tokens per PE column.\n"
    "  presets:";

static void print_usage(FILE *f) {
    fputs(usage_text, f);
    for (const wf_plan_model *m = wf_plan_presets; m->name; m++) fprintf(f, " %s", m->name);
    fputc('\n', f);
}

int wf_cmd_plan(int argc, char **argv) {
    wf_plan_opts o;
    wf_plan_defaults(&o);
    const char *model = NULL;
    int json = 0, have_tokens = 0, check_cols = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        static const char *const takes[] = {"--model", "--tokens", "--systems", "--mode", "--sparsity", "--clock",
                                            "--price-per-hour", "--io-bytes-per-s", "--update-params-per-s",
                                            "--max-tr", "--check-sim"};
        int known = 0;
        for (size_t k = 0; k < sizeof takes / sizeof takes[0]; k++) known |= !strcmp(a, takes[k]);
        if (!known) return wf_cli_usage("plan", "unknown option '%s'", a);
        if (!v) return wf_cli_usage("plan", "%s needs a value", a);
        i++;
        long long n;
        double x;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "stream")) o.mode = WF_PLAN_STREAM;
            else if (!strcmp(v, "pipelined")) o.mode = WF_PLAN_PIPELINED;
            else return wf_cli_usage("plan", "--mode '%s': expected stream or pipelined", v);
        } else if (!strcmp(a, "--systems")) {
            if (wf_cli_parse_long(v, 1, 4096, &n)) return wf_cli_usage("plan", "--systems '%s': expected 1..4096", v);
            o.systems = (int)n;
        } else if (!strcmp(a, "--max-tr")) {
            if (wf_cli_parse_long(v, 1, 4096, &n)) return wf_cli_usage("plan", "--max-tr '%s': expected 1..4096", v);
            o.max_tr = (int)n;
        } else if (!strcmp(a, "--check-sim")) {
            if (wf_cli_parse_long(v, 1, 750, &n)) return wf_cli_usage("plan", "--check-sim '%s': expected 1..750", v);
            check_cols = (int)n;
        } else if (!strcmp(a, "--tokens")) {
            if (wf_cli_parse_double(v, 1, 1e16, &x))
                return wf_cli_usage("plan", "--tokens '%s': expected a number in [1, 1e16]", v);
            o.tokens = x;
            have_tokens = 1;
        } else if (!strcmp(a, "--sparsity")) {
            if (wf_cli_parse_double(v, 0, 0.999, &x) || !(x < 1))
                return wf_cli_usage("plan", "--sparsity '%s': expected a fraction in [0, 0.999]", v);
            o.sparsity = x;
        } else if (!strcmp(a, "--clock")) {
            if (wf_cli_parse_double(v, 1e6, 1e11, &x))
                return wf_cli_usage("plan", "--clock '%s': expected Hz in [1e6, 1e11]", v);
            o.clock_hz = x;
        } else if (!strcmp(a, "--price-per-hour")) {
            if (wf_cli_parse_double(v, 0, 1e9, &x))
                return wf_cli_usage("plan", "--price-per-hour '%s': expected a non-negative number", v);
            o.price_per_hour = x;
        } else if (!strcmp(a, "--io-bytes-per-s")) {
            if (wf_cli_parse_double(v, 1e6, 1e15, &x))
                return wf_cli_usage("plan", "--io-bytes-per-s '%s': expected a number in [1e6, 1e15]", v);
            o.io_bytes_per_s = x;
        } else if (!strcmp(a, "--update-params-per-s")) {
            if (wf_cli_parse_double(v, 1e3, 1e15, &x))
                return wf_cli_usage("plan", "--update-params-per-s '%s': expected a number in [1e3, 1e15]", v);
            o.update_params_per_s = x;
        }
    }
    if (!model) return wf_cli_usage("plan", "--model PRESET is required");
    if (!have_tokens) return wf_cli_usage("plan", "--tokens N is required");
    o.model = wf_plan_preset(model);
    if (!o.model) return wf_cli_usage("plan", "--model '%s': not a preset (wafer plan --help lists them)", model);
    wf_plan_result r;
    wf_err e = {0};
    if (wf_plan_run(&o, &r, &e)) return wf_cli_fail("plan", &e);
    const char *mode = o.mode == WF_PLAN_STREAM ? "stream" : "pipelined";
    wf_plan_check chk[5];
    if (check_cols)
        for (int i = 0; i < r.nmm; i++)
            if (wf_plan_check_sim(&o, &r.mm[i], check_cols, 2, &chk[i], &e)) return wf_cli_fail("plan", &e);
    if (json) {
        printf("{\"model\":\"%s\",\"tokens\":%.0f,\"systems\":%d,\"mode\":\"%s\",\"sparsity\":%g,\"clock_hz\":%g,"
               "\"params\":%.0f,\"steps\":%.0f,\"micro_tokens\":%d,\"accum\":%d,\"step_s\":%.6g,\"days\":%.6g,"
               "\"flops\":%.6g,\"sustained_flops\":%.6g,\"peak_flops\":%.6g,\"utilisation\":%.4f,\"cost\":%.2f,"
               "\"layer\":{\"matmul_cycles\":%.0f,\"attention_cycles\":%.0f,\"vector_cycles\":%.0f,"
               "\"compute_cycles\":%.0f,\"io_cycles\":%.0f,\"cycles\":%.0f},\"head_cycles\":%.0f,"
               "\"step_exposed_s\":%.6g,\"matmuls\":[",
               o.model->name, o.tokens, o.systems, mode, o.sparsity, o.clock_hz, r.params, r.steps, r.micro_tokens,
               r.accum, r.step_s, r.days, r.flops, r.sustained, r.peak, r.utilisation, r.cost,
               r.layer_matmul_cycles, r.layer_attn_cycles, r.layer_vector_cycles, r.layer_compute_cycles,
               r.layer_io_cycles, r.layer_cycles, r.head_cycles, r.step_exposed_s);
        for (int i = 0; i < r.nmm; i++) {
            const wf_plan_mm *m = &r.mm[i];
            printf("%s{\"name\":\"%s\",\"K\":%d,\"N\":%d,\"tr\":%d,\"kc\":%d,\"nb\":%d,\"rows\":%d,\"groups\":%d,"
                   "\"cycles\":%.0f,\"efficiency\":%.4f",
                   i ? "," : "", m->name, m->K, m->N, m->tr, m->kc, m->nb, m->ky, m->groups, m->cycles,
                   m->efficiency);
            if (check_cols)
                printf(",\"check\":{\"cols\":%d,\"rows\":%d,\"chunks\":%d,\"sim_cycles\":%.0f,\"model_cycles\":%.0f,"
                       "\"wall_s\":%.3f}",
                       chk[i].cols, chk[i].rows, chk[i].chunks, chk[i].sim_cycles, chk[i].model_cycles, chk[i].wall_s);
            printf("}");
        }
        printf("]}\n");
        return 0;
    }
    printf("%s on %.3g tokens, %d system%s, %s mode, sparsity %g, clock %.3g GHz\n", o.model->name, o.tokens,
           o.systems, o.systems > 1 ? "s" : "", mode, o.sparsity, o.clock_hz / 1e9);
    printf("  parameters %.3g, %.0f steps of %d x %d tokens, micro-batch %d tokens x %d per step per system\n",
           r.params, r.steps, o.model->batch_seqs, o.model->seq, r.micro_tokens, r.accum);
    printf("  one layer, one micro-batch, training: matmul %.0f + attention %.0f + vector %.0f = %.0f cycles "
           "compute, %.0f cycles weight I/O -> %.0f\n",
           r.layer_matmul_cycles, r.layer_attn_cycles, r.layer_vector_cycles, r.layer_compute_cycles,
           r.layer_io_cycles, r.layer_cycles);
    for (int i = 0; i < r.nmm; i++) {
        const wf_plan_mm *m = &r.mm[i];
        printf("    %-8s %5d x %-6d tr %d kc %d nb %d on %d rows x %d groups: %.0f cycles forward, %.1f%% of peak\n",
               m->name, m->K, m->N, m->tr, m->kc, m->nb, m->ky, m->groups, m->cycles, 100 * m->efficiency);
        if (check_cols)
            printf("             slice of %d columns x %d rows x %d chunks simulated: %.0f cycles, "
                   "model %.0f (%+.2f%%), "
                   "%.1f s wall\n",
                   chk[i].cols, chk[i].rows, chk[i].chunks, chk[i].sim_cycles, chk[i].model_cycles,
                   100 * (chk[i].model_cycles - chk[i].sim_cycles) / chk[i].sim_cycles, chk[i].wall_s);
    }
    printf("  step %.4g s; %.3g days; %.3g FLOP/s sustained of %.3g peak (utilisation %.1f%%)\n", r.step_s, r.days,
           r.sustained, r.peak, 100 * r.utilisation);
    if (o.price_per_hour > 0) printf("  cost %.0f at %.2f per system-hour\n", r.cost, o.price_per_hour);
    return 0;
}
