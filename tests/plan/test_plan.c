/* test_plan.c — the planner: the talk's AI Model Studio table within 25%
** (without fitting; defaults only), linear scaling 1 -> 16 systems within
** 10%, the matmul cycles it uses equal to a full simulation of the mapping it
** chose (on a fabric small enough to simulate), bad options refused, and the
** `wafer plan` command's exit codes and messages. */
#include "tests/check.h"
#include "tests/run_cmd.h"
#include "plan/plan.h"
#include "wse/wse.h"

#include <math.h>
#include <stdlib.h>

static double days(const char *model, double tokens, int systems, wf_plan_result *out) {
    wf_plan_opts o;
    wf_plan_defaults(&o);
    o.model = wf_plan_preset(model);
    o.clock_hz = 1.1e9; /* REFERENCE: the talk's 7.5 PFLOP/s per CS-2 implies ~1.1 GHz (default: 850 MHz) */
    o.tokens = tokens;
    o.systems = systems;
    wf_plan_result r;
    wf_err e = {0};
    WF_CHECK(o.model != NULL);
    if (!o.model) return NAN;
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_OK);
    if (out) *out = r;
    return r.days;
}

/* REFERENCE.md, "The seed's headline figures": Cerebras AI Model Studio. */
static void studio_table(void) {
    static const struct { const char *m; double tokens, days; } rows[] = {
        {"gpt3-xl", 26e9, 0.4}, {"gpt-j-6b", 120e9, 8}, {"gpt3-13b", 260e9, 39}};
    for (int i = 0; i < 3; i++) {
        wf_plan_result r;
        double d = days(rows[i].m, rows[i].tokens, 1, &r);
        double rel = fabs(d - rows[i].days) / rows[i].days;
        printf("%-9s %.3g tokens: %.3g days (talk %.3g, %+.1f%%), utilisation %.1f%%\n", rows[i].m, rows[i].tokens,
               d, rows[i].days, 100 * (d - rows[i].days) / rows[i].days, 100 * r.utilisation);
        WF_CHECK(rel <= 0.25); /* NaN fails */
        WF_CHECK(r.utilisation > 0.5 && r.utilisation <= 1.0);
    }
}

/* REFERENCE: "performance scales linearly from 1 to 16 CS-2s". */
static void scaling(void) {
    const char *models[] = {"gpt3-xl", "gpt-j-6b", "gpt3-13b", "cerebras-gpt-2.7b"};
    for (int i = 0; i < 4; i++) {
        double d1 = days(models[i], 1e11, 1, NULL), d16 = days(models[i], 1e11, 16, NULL);
        double speedup = d1 / d16;
        printf("%-17s 1 -> 16 systems: speedup %.2f (%.1f%% of linear)\n", models[i], speedup, 100 * speedup / 16);
        WF_CHECK(speedup >= 0.9 * 16 && speedup <= 16.0 * 1.0001);
    }
}

/* The plan's cycles for a multiply are the wse kernel's model; here the
** mapping the planner chose on a small fabric is simulated and compared. */
static void grounded_in_simulation(void) {
    wf_plan_opts o;
    wf_plan_defaults(&o);
    o.model = wf_plan_preset("cerebras-gpt-111m");
    o.tokens = 1e9;
    o.pe_w = 8;
    o.pe_h = 24;
    o.max_tr = 8;
    wf_plan_result r;
    wf_err e = {0};
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_OK);
    if (e.msg[0]) fprintf(stderr, "  %s\n", e.msg);
    /* qkv and proj: seconds of simulation each; proj only under WF_TEST_QUICK (ASan) */
    for (int i = getenv("WF_TEST_QUICK") ? 1 : 0; i < 2; i++) {
        const wf_plan_mm *m = &r.mm[i];
        int per_group = (m->N + m->groups - 1) / m->groups;
        int N = (per_group + m->nb - 1) / m->nb * m->nb;
        wf_wse_mm_cfg c = {.T = m->tr * o.pe_w, .K = m->kc * m->ky, .N = N, .kx = o.pe_w, .ky = m->ky, .nb = m->nb,
                           .fp16 = 1, .threads = 2};
        wf_wse_mm_stats st;
        WF_CHECK_EQ(wf_wse_mm_run(&c, NULL, NULL, NULL, &st, &e), WF_OK);
        double rel = fabs(m->cycles - (double)st.cycles) / (double)st.cycles;
        printf("%s %dx%d on %dx%d PEs (tr %d kc %d nb %d, %d groups): plan %.0f cycles, simulated %llu (%.2f%%), "
               "%.2f s wall\n", m->name, m->K, m->N, o.pe_w, o.pe_h, m->tr, m->kc, m->nb, m->groups, m->cycles,
               (unsigned long long)st.cycles, 100 * rel, st.wall_s);
        WF_CHECK(rel <= 0.05);
    }
}

/* At real width: a slice (2 token columns, every row, 2 chunks) of the
** 111M multiplies exactly as mapped on the 750 x 994 fabric, simulated. */
static void real_width_slice(void) {
    wf_plan_opts o;
    wf_plan_defaults(&o);
    o.model = wf_plan_preset("cerebras-gpt-111m");
    o.tokens = 2.2e9;
    wf_plan_result r;
    wf_err e = {0};
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_OK);
    for (int i = getenv("WF_TEST_QUICK") ? 1 : 0; i < 2; i++) { /* qkv (110 rows), proj (41 rows) */
        wf_plan_check c;
        WF_CHECK_EQ(wf_plan_check_sim(&o, &r.mm[i], 2, 2, &c, &e), WF_OK);
        double rel = fabs(c.model_cycles - c.sim_cycles) / c.sim_cycles;
        printf("111M %s as mapped at full width (tr %d, kc %d, nb %d), slice of 2 x %d PEs x 2 chunks: simulated "
               "%.0f, model %.0f (%.2f%%)\n", r.mm[i].name, r.mm[i].tr, r.mm[i].kc, r.mm[i].nb, c.rows, c.sim_cycles,
               c.model_cycles, 100 * rel);
        WF_CHECK(c.rows == r.mm[i].ky && c.sim_cycles > 0);
        WF_CHECK(rel <= 0.02);
    }
    wf_plan_check c;
    WF_CHECK_EQ(wf_plan_check_sim(&o, &r.mm[0], 0, 2, &c, &e), WF_EUSAGE);
}

/* Sparse weights: zeros are neither sent nor multiplied, so days fall with
** sparsity; at 75% the multiplies (most of the work) shrink 4x. */
static void sparsity_speeds_up(void) {
    double prev = INFINITY, d0 = NAN, d75 = NAN;
    static const double sp[] = {0, 0.5, 0.75, 0.9};
    for (int i = 0; i < 4; i++) {
        wf_plan_opts o;
        wf_plan_defaults(&o);
        o.model = wf_plan_preset("gpt3-xl");
        o.tokens = 26e9;
        o.sparsity = sp[i];
        wf_plan_result r;
        wf_err e = {0};
        WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_OK);
        WF_CHECK(r.days < prev);
        prev = r.days;
        if (i == 0) d0 = r.days;
        if (i == 2) d75 = r.days;
    }
    printf("gpt3-xl: 75%% sparse weights train %.2fx faster\n", d0 / d75);
    WF_CHECK(d0 / d75 >= 2.0 && d0 / d75 <= 4.0);
}

static void bad_options(void) {
    wf_plan_opts o;
    wf_plan_result r;
    wf_err e = {0};
    wf_plan_defaults(&o);
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_EUSAGE); /* no model */
    o.model = wf_plan_preset("cerebras-gpt-13b");
    o.tokens = 0;
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "--tokens");
    o.tokens = 1e9;
    o.sparsity = 1;
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "--sparsity");
    o.sparsity = 0;
    o.mode = WF_PLAN_PIPELINED;
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_ESRAM); /* 13B does not fit on the wafer */
    WF_CHECK_HAS(e.msg, "GB of weights");
    o.model = wf_plan_preset("cerebras-gpt-111m");
    o.systems = 2;
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "pipelined mode runs on one system");
    o.systems = 1;
    WF_CHECK_EQ(wf_plan_run(&o, &r, &e), WF_OK);
    WF_CHECK(r.layer_io_cycles == 0 && r.days > 0);
    WF_CHECK(wf_plan_preset("gpt-5") == NULL);
}

static void cli(void) {
#ifdef WAFER_BIN
    char out[8192];
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model gpt3-xl --tokens 26e9 --clock 1.1e9 --json", out, sizeof out), 0);
    WF_CHECK_HAS(out, "\"days\":0.4");
    WF_CHECK_HAS(out, "\"name\":\"fc1\"");
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model gpt3-xl --tokens 26e9 --systems 16 --price-per-hour 100", out,
                           sizeof out), 0);
    WF_CHECK_HAS(out, "16 systems");
    WF_CHECK_HAS(out, "cost");
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model nope --tokens 1e9", out, sizeof out), 2);
    WF_CHECK_HAS(out, "--model 'nope': not a preset");
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model gpt3-xl", out, sizeof out), 2);
    WF_CHECK_HAS(out, "--tokens N is required");
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model gpt3-xl --tokens 1e9 --systems 0", out, sizeof out), 2);
    WF_CHECK_HAS(out, "--systems '0'");
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model gpt3-xl --tokens 1e9 --mode fast", out, sizeof out), 2);
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model gpt3-xl --tokens 1e9 --sparsity 1.5", out, sizeof out), 2);
    WF_CHECK_EQ(wf_run_cmd(WAFER_BIN " plan --model cerebras-gpt-13b --tokens 1e9 --mode pipelined", out, sizeof out),
                1);
    WF_CHECK_HAS(out, "wafer plan: plan: cerebras-gpt-13b in pipelined mode");
#endif
}

int main(void) {
    studio_table();
    scaling();
    grounded_in_simulation();
    real_width_slice();
    sparsity_speeds_up();
    bad_options();
    cli();
    return wf_check_report();
}
