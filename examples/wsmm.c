/* wsmm.c — one weight-streaming matrix multiply on the simulated wafer
** (wse/wse.h): Y[T,N] = X[T,K] W[K,N] with the activations X resident on
** kx x ky PEs (tokens over columns, K over rows) and W streaming in from the
** west edge in chunks of nb output columns. Prints the simulated cycles next
** to the analytic model the planner uses (wafer plan), the utilisation of
** the PEs' FMA units, and checks the result against the host reference
** (bit-identical, same operation order) when --check 1.
**
**   wsmm --t 2048 --k 512 --n 256 --kx 32 --ky 32 --nb 64 --fp16 1 --json
**   wsmm ... --trace mm.json --heatmap mm.png */
#include "common.h"

#include "wse/wse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

int main(int argc, char **argv) {
    const char *prog = "wsmm";
    double t0 = wf_now();
    int64_t T = 256, K = 128, N = 256, kx = 8, ky = 8, nb = 32, fp16 = 1, check = 1;
    wf_ex_flag flags[] = {
        {"t", WF_EX_INT, &T, "tokens (rows of X, split over kx columns)"},
        {"k", WF_EX_INT, &K, "reduction size (split over ky rows)"},
        {"n", WF_EX_INT, &N, "output columns (streamed in chunks of nb)"},
        {"kx", WF_EX_INT, &kx, "PE columns"},
        {"ky", WF_EX_INT, &ky, "PE rows"},
        {"nb", WF_EX_INT, &nb, "output columns per streamed chunk"},
        {"fp16", WF_EX_INT, &fp16, "1: fp16 (fmach, 4 per cycle); 2: fp16 products, fp32 sums (fmachs, 4 per "
                                   "cycle); 0: fp32 (fmacs, 1 per cycle)"},
        {"check", WF_EX_INT, &check, "1: keep Y and compare with the host reference"},
    };
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 8, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    if (wf_ex_own_fabrics(&o, &e)) return wf_ex_fail(prog, NULL, &e); /* its fabrics live inside wse/ */
    if (T < 1 || K < 1 || N < 1 || T > (1 << 24) || K > (1 << 24) || N > (1 << 24) || kx < 1 || ky < 1 || kx > 750 ||
        ky > 994 || nb < 1 || nb > N) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: t %lld, k %lld, n %lld on %lld x %lld PEs, nb %lld: need 1..16777216, "
                "kx <= 750, ky <= 994, 1 <= nb <= n", (long long)T, (long long)K, (long long)N, (long long)kx,
                (long long)ky, (long long)nb);
        return wf_ex_fail(prog, NULL, &e);
    }
    wf_wse_mm_cfg c = {(int)T, (int)K, (int)N, (int)kx, (int)ky, (int)nb, (int)fp16, check != 0, o.threads, NULL,
                       o.trace, o.heatmap, NULL, NULL, NULL};
    if (wf_wse_mm_check(&c, &e)) return wf_ex_fail(prog, NULL, &e);
    float *X = NULL, *W = NULL, *Y = NULL, *R = NULL;
    if (check) {
        X = malloc(sizeof(float) * (size_t)(T * K));
        W = malloc(sizeof(float) * (size_t)(K * N));
        Y = malloc(sizeof(float) * (size_t)(T * N));
        R = malloc(sizeof(float) * (size_t)(T * N));
        if (!X || !W || !Y || !R) {
            WF_FAIL(&e, WF_ENOMEM, "wsmm: host buffers for %lld x %lld x %lld: out of memory", (long long)T,
                    (long long)K, (long long)N);
            free(X), free(W), free(Y), free(R);
            return wf_ex_fail(prog, NULL, &e);
        }
        unsigned s = 1;
        for (int64_t i = 0; i < T * K; i++) X[i] = frand(&s);
        for (int64_t i = 0; i < K * N; i++) W[i] = frand(&s);
    }
    wf_wse_mm_stats st;
    wf_defects *defects = NULL; /* --defects / --defect-rate: the grid laid around them */
    wf_status rs = wf_ex_defects(&o, &defects, &e);
    c.defects = defects;
    if (!rs) rs = wf_wse_mm_run(&c, X, W, Y, &st, &e);
    wf_defects_free(defects);
    c.defects = NULL;
    /* --defect-compare: the same multiply on a whole fabric (into R, which
    ** the reference overwrites after), for its cycles and bits */
    wf_wse_mm_stats free_st = {0};
    uint64_t moved = 0; /* values that differ from the run without defects */
    if (!rs && o.defect_compare) {
        const char *tr = c.trace, *hm = c.heatmap;
        c.trace = c.heatmap = NULL; /* the files are the defective run's */
        rs = wf_wse_mm_run(&c, X, W, R, &free_st, &e);
        c.trace = tr, c.heatmap = hm;
        if (rs) wf_err_prefix(&e, "--defect-compare: the run without defects");
        for (int64_t i = 0; !rs && check && i < T * N; i++) moved += memcmp(&Y[i], &R[i], sizeof *Y) != 0;
    }
    if (rs) {
        free(X), free(W), free(Y), free(R);
        return wf_ex_fail(prog, NULL, &e);
    }
    uint64_t bad = 0;
    if (check) {
        wf_wse_mm_ref(&c, X, W, R);
        for (int64_t i = 0; i < T * N; i++) bad += !(Y[i] == R[i]);
    }
    wf_wse_mm_model m;
    wf_wse_mm_predict(&c, NULL, &m);
    double width = fp16 ? wf_cost_wse2.w_f16_fma : wf_cost_wse2.w_f32_fma;
    double util = (double)st.flops / 2.0 / ((double)kx * ky * width * (double)st.cycles);
    char cmp[200] = ""; /* --defect-compare's members */
    if (o.defect_compare)
        snprintf(cmp, sizeof cmp, ",\"cycles_defect_free\":%llu,\"defect_extra_cycles\":%lld,\"values_changed_by_defects\":%llu",
                 (unsigned long long)free_st.cycles, (long long)st.cycles - (long long)free_st.cycles,
                 (unsigned long long)moved);
    if (o.json)
        printf("{\"example\":\"wsmm\",\"params\":{\"t\":%lld,\"k\":%lld,\"n\":%lld,\"kx\":%lld,\"ky\":%lld,\"nb\":%lld,"
               "\"fp16\":%lld},\"cycles\":%llu,\"model_cycles\":%.0f,\"io_cycles\":%llu,\"flops\":%llu,"
               "\"utilisation\":%.4f,\"run_wall_s\":%.3f,\"wall_s\":%.3f,\"check\":\"%s\",\"mismatches\":%llu%s}\n",
               (long long)T, (long long)K, (long long)N, (long long)kx, (long long)ky, (long long)nb, (long long)fp16,
               (unsigned long long)st.cycles, m.total, (unsigned long long)st.io_cycles,
               (unsigned long long)st.flops, util, st.wall_s, wf_now() - t0, !check ? "skipped" : bad ? "fail" : "ok",
               (unsigned long long)bad, cmp);
    else
        printf("wsmm %lldx%lldx%lld on %lldx%lld PEs, nb %lld, %s: %llu cycles (model %.0f, %+.2f%%), FMA "
               "utilisation %.1f%%, %.2f s wall; check %s\n",
               (long long)T, (long long)K, (long long)N, (long long)kx, (long long)ky, (long long)nb,
               fp16 == 2 ? "fp16 products, fp32 sums" : fp16 ? "fp16" : "fp32", (unsigned long long)st.cycles, m.total,
               100 * (m.total - (double)st.cycles) / (double)st.cycles, 100 * util, st.wall_s,
               !check ? "skipped" : bad ? "FAILED" : "ok (bit-identical to the reference)");
    if (!o.json && o.defect_compare)
        printf("  without defects: %llu cycles; the defects cost %+lld cycles (%+.2f%%)%s\n",
               (unsigned long long)free_st.cycles, (long long)st.cycles - (long long)free_st.cycles,
               100.0 * ((double)st.cycles - (double)free_st.cycles) / (double)(free_st.cycles ? free_st.cycles : 1),
               !check ? "" : moved ? "; RESULTS DIFFER" : "; results bit-identical");
    free(X), free(W), free(Y), free(R);
    if (bad)
        fprintf(stderr, "wsmm: check failed: %llu of %lld values differ\n", (unsigned long long)bad,
                (long long)(T * N));
    return bad ? 2 : 0;
}
