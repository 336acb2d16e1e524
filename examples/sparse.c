/* sparse.c — y_j = A_j x on a row of p PEs where x is sparse: zeros are never
** sent, and the work they would have caused is skipped, which shows in the
** cycles. PE 0 holds x (n fp32 values, `density` percent nonzero, each exact
** in fp16); PEs 1 .. p-1 each hold an m x n block A_j (column-major) and
** compute y_j. x travels east on color 1 (PE 0: RAMP -> E, then W -> RAMP|E,
** the last PE W -> RAMP).
**
** dense:  PE 0 sends all n values; each PE receives them into memory (one
**         async op) and runs n fmacs of length m (zeros included).
** sparse: PE 0 scans x (1 cycle per element, charged) and sends one wavelet
**         per nonzero, 16-bit column index + fp16 value, then an end marker
**         (index 0xffff). The receivers' data task on color 1 runs once per
**         arriving wavelet and does one fmacs; no wavelet, no task.
** Both runs are checked bit for bit against one host reference (y +=
** A[:,c] x[c] over the nonzero c in order: adding x[c] = 0 terms leaves y
** unchanged, so the dense run must give the same bits). The JSON summary
** has dense_cycles, sparse_cycles and their ratio. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_A, S_X, S_XS, S_Y, S_COUNT };
enum { P_M, P_N, P_COUNT };
enum { C_X = 1 };
enum { T_COMP = 30 };

/* ---- dense kernel ------------------------------------------------------------------------ */
static void dense_compute(wf_pe *pe, uint32_t d) {
    (void)d;
    int m = (int)wf_pe_param(pe, P_M), n = (int)wf_pe_param(pe, P_N);
    float *A = wf_sym(pe, S_A), *x = wf_sym(pe, S_X);
    wf_dsd dy = wf_dsd_mem1d(pe, wf_sym(pe, S_Y), (uint32_t)m, 1, 4);
    for (int c = 0; c < n; c++) wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, A + (size_t)c * m, (uint32_t)m, 1, 4), x[c], WF_SYNC);
}
static void dense_go(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t n = (uint32_t)wf_pe_param(pe, P_N);
    wf_dsd dx = wf_dsd_mem1d(pe, wf_sym(pe, S_X), n, 1, 4);
    if (wf_pe_x(pe) == 0) wf_fmovs(pe, wf_dsd_fabout(C_X, n), dx, wf_async_none());
    else wf_fmovs(pe, dx, wf_dsd_fabin(C_X, n), wf_async_activate(T_COMP));
}
static const wf_symbol_decl sp_syms[S_COUNT] = {{"A", 4}, {"x", 4}, {"xs", 4}, {"y", 4}};
static const wf_task_decl dense_tasks[] = {{T_COMP, WF_TASK_LOCAL, dense_compute, 0, "compute"}};
static const wf_export_decl dense_exports[] = {{"go", dense_go}};
static const wf_kernel dense_kernel = {"gemv_dense_x", sp_syms, S_COUNT, dense_tasks, 1, dense_exports, 1, NULL};

/* ---- sparse kernel ----------------------------------------------------------------------- */
static void sparse_wavelet(wf_pe *pe, uint32_t w) {
    uint16_t c = wf_wavelet_index(w);
    if (c == 0xffff) return; /* end marker: nothing left to do */
    int m = (int)wf_pe_param(pe, P_M);
    float *A = wf_sym(pe, S_A);
    wf_dsd dy = wf_dsd_mem1d(pe, wf_sym(pe, S_Y), (uint32_t)m, 1, 4);
    wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, A + (size_t)c * m, (uint32_t)m, 1, 4),
             wf_f16_to_f32(wf_wavelet_value(w)), WF_SYNC);
}
static void sparse_go(wf_pe *pe, uint32_t d) {
    (void)d;
    if (wf_pe_x(pe) != 0) return; /* receivers just wait for wavelets */
    int n = (int)wf_pe_param(pe, P_N);
    const float *x = wf_sym(pe, S_X);
    uint32_t *xs = wf_sym(pe, S_XS), k = 0;
    for (int c = 0; c < n; c++)
        if (x[c] != 0) xs[k++] = wf_wavelet_iv((uint16_t)c, wf_f32_to_f16(x[c]));
    xs[k++] = wf_wavelet_iv(0xffff, 0);
    wf_pe_charge(pe, (uint32_t)n); /* the scan: one compare per element */
    wf_mov32(pe, wf_dsd_fabout(C_X, k), wf_dsd_mem1d(pe, xs, k, 1, 4), wf_async_none());
}
static const wf_task_decl sparse_tasks[] = {{C_X, WF_TASK_DATA, sparse_wavelet, 0, "x wavelet"}};
static const wf_export_decl sparse_exports[] = {{"go", sparse_go}};
static const wf_kernel sparse_kernel = {"gemv_sparse_x", sp_syms, S_COUNT, sparse_tasks, 1, sparse_exports, 1, NULL};

/* ---- data ------------------------------------------------------------------------------------ */
static uint32_t mix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}
static float x_at(int64_t c, int64_t density) {
    uint32_t h = mix((uint32_t)c * 2654435761u + 17);
    if ((int64_t)(h % 100) >= density) return 0;
    return (float)(int)((h >> 8) % 15 + 1) / 4.0f * ((h >> 20) & 1 ? 1.0f : -1.0f); /* exact in fp16 */
}
static float a_at(int64_t j, int64_t r, int64_t c) {
    return (float)(int)(mix((uint32_t)(j * 131071 + r * 8191 + c * 127)) & 1023) / 512.0f - 1.0f;
}

/* Runs one mode; fills y (p-1 blocks of m) and the launch cycles. */
static wf_status run_mode(int sparse, int p, int m, int n, int64_t density, wf_ex_opts *o, float *y, uint64_t *cyc,
                          wf_fabric_stats *fs, wf_err *e) {
    const wf_kernel *k = sparse ? &sparse_kernel : &dense_kernel;
    int64_t params[P_COUNT] = {m, n};
    uint32_t src_bytes[S_COUNT] = {4, (uint32_t)n * 4, (uint32_t)(n + 1) * 4, 4};
    uint32_t dst_bytes[S_COUNT] = {(uint32_t)(m * n * 4), sparse ? 4u : (uint32_t)n * 4, 4, (uint32_t)m * 4};
    wf_code_opts cs = {params, P_COUNT, src_bytes}, cd = {params, P_COUNT, dst_bytes};
    wf_layout *l = NULL;
    wf_host *h = NULL;
    float *buf = NULL;
    wf_status st;
    if ((st = wf_layout_new(p, 1, &l, e)) || (st = wf_layout_code(l, 0, 0, 1, 1, k, &cs, e)) ||
        (st = wf_layout_code(l, 1, 0, p - 1, 1, k, &cd, e)))
        goto done;
    wf_route src = wf_route_simple(WF_RAMP, WF_E), mid = wf_route_simple(WF_W, WF_RAMP | WF_E),
             end = wf_route_simple(WF_W, WF_RAMP);
    if ((st = wf_layout_route(l, 0, 0, 1, 1, C_X, &src, e)) ||
        (p > 2 && (st = wf_layout_route(l, 1, 0, p - 2, 1, C_X, &mid, e))) ||
        (st = wf_layout_route(l, p - 1, 0, 1, 1, C_X, &end, e)))
        goto done;
    if ((st = wf_ex_host_new(o, l, &h, e))) goto done;
    if (sparse && (st = wf_ex_diag_begin(o, h, e))) goto done;
    size_t blk = (size_t)m * n;
    buf = wf_alloc(NULL, (size_t)(p - 1) * blk * sizeof *buf, "sparse A", e);
    if (!buf) {
        st = e->code;
        goto done;
    }
    for (int j = 1; j < p; j++)
        for (int c = 0; c < n; c++)
            for (int r = 0; r < m; r++) buf[(size_t)(j - 1) * blk + (size_t)c * m + r] = a_at(j, r, c);
    uint64_t io = 0;
    wf_memcpy ma = {"A", 0, 1, 0, p - 1, 1, (uint32_t)blk, 0, 4, WF_ROW_MAJOR};
    if ((st = wf_ex_h2d(h, &ma, buf, &io, e))) goto done;
    for (int c = 0; c < n; c++) buf[c] = x_at(c, density);
    wf_memcpy mx = {"x", 0, 0, 0, 1, 1, (uint32_t)n, 0, 4, WF_ROW_MAJOR};
    if ((st = wf_ex_h2d(h, &mx, buf, &io, e))) goto done;
    *cyc = 0;
    if ((st = wf_ex_launch(o, h, "go", cyc, e))) goto done;
    wf_memcpy my = {"y", 0, 1, 0, p - 1, 1, (uint32_t)m, 0, 4, WF_ROW_MAJOR};
    if ((st = wf_ex_d2h(h, &my, y, &io, e))) goto done;
    if (sparse && (st = wf_ex_diag_end(o, h, e))) goto done;
    wf_fabric_read_stats(wf_host_fabric(h), fs);
done:
    if (st == WF_EDEADLOCK && h) { /* the full list of what waits */
        const char *rep = wf_fabric_report(wf_host_fabric(h));
        if (rep && rep[0]) fprintf(stderr, "%s", rep);
    }
    wf_ex_diag_free(o);
    wf_free(NULL, buf);
    wf_host_free(h);
    wf_layout_free(l);
    return st;
}

int main(int argc, char **argv) {
    const char *prog = "sparse";
    double t0 = wf_now();
    int64_t p = 8, m = 16, n = 512, density = 10;
    wf_ex_flag flags[] = {{"p", WF_EX_INT, &p, "PEs in the row (PE 0 holds x)"},
                          {"m", WF_EX_INT, &m, "rows of each PE's block"},
                          {"n", WF_EX_INT, &n, "length of x"},
                          {"density", WF_EX_INT, &density, "percent of x that is nonzero"}};
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 4, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    if (o.defect_compare) { /* its two runs print their own summary, without the defect report */
        WF_FAIL(&e, WF_EUSAGE, "--defect-compare: not supported by sparse (it compares dense and sparse x); run "
                "it again without the defect flags to compare");
        return wf_ex_fail(prog, NULL, &e);
    }
    if (p < 2 || p > WF_FABRIC_MAX_W || m < 1 || n < 1 || n > 65535 || density < 0 || density > 100) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: p %lld, m %lld, n %lld, density %lld: need 2 <= p <= 750, m >= 1, "
                "1 <= n <= 65535, 0 <= density <= 100", (long long)p, (long long)m, (long long)n, (long long)density);
        return wf_ex_fail(prog, NULL, &e);
    }
    if (m * n > 12000) {
        WF_FAIL(&e, WF_ESRAM, "sizes: an m x n = %lld x %lld block is %lld bytes, a PE has 48 KB", (long long)m,
                (long long)n, (long long)(m * n * 4));
        return wf_ex_fail(prog, NULL, &e);
    }
    size_t ny = (size_t)(p - 1) * m;
    float *yd = wf_calloc(NULL, ny * sizeof *yd, "y dense", &e), *ys = wf_calloc(NULL, ny * sizeof *ys, "y sparse", &e);
    float *ref = wf_calloc(NULL, ny * sizeof *ref, "y reference", &e);
    int rc = 1;
    uint64_t cd = 0, cs = 0;
    wf_fabric_stats fd, fsp;
    if (!yd || !ys || !ref) goto fail;
    if (run_mode(0, (int)p, (int)m, (int)n, density, &o, yd, &cd, &fd, &e)) goto fail;
    if (run_mode(1, (int)p, (int)m, (int)n, density, &o, ys, &cs, &fsp, &e)) goto fail;
    int64_t nnz = 0;
    for (int c = 0; c < n; c++) nnz += x_at(c, density) != 0;
    for (int j = 1; j < p; j++)
        for (int r = 0; r < m; r++) {
            float s = 0;
            for (int c = 0; c < n; c++) {
                float xv = x_at(c, density);
                if (xv != 0) s = s + a_at(j, r, c) * xv;
            }
            ref[(size_t)(j - 1) * m + r] = s;
        }
    double md, ms;
    uint64_t bd = wf_ex_compare(yd, ref, ny, &md), bs = wf_ex_compare(ys, ref, ny, &ms);
    {
        /* two runs, so the summary is printed here rather than by wf_ex_report() */
        const wf_cost_model *cm = &wf_cost_wse2;
        double dcoll = (double)cd - cm->launch_latency, scoll = (double)cs - cm->launch_latency;
        int ok = bd == 0 && bs == 0;
        double wall = wf_now() - t0;
        if (o.json) {
            printf("{\"example\":\"sparse\",\"params\":{\"p\":%lld,\"m\":%lld,\"n\":%lld,\"density\":%lld},"
                   "\"nnz\":%lld,\"dense_cycles\":%.0f,\"sparse_cycles\":%.0f,\"dense_over_sparse\":%.4f,"
                   "\"dense_busy\":%llu,\"sparse_busy\":%llu,\"dense_tasks\":%llu,\"sparse_tasks\":%llu,"
                   "\"dense_hops\":%llu,\"sparse_hops\":%llu,\"wall_s\":%.6f,\"check\":\"%s\",\"max_abs_diff\":%.9g,"
                   "\"mismatches\":%llu}\n",
                   (long long)p, (long long)m, (long long)n, (long long)density, (long long)nnz, dcoll, scoll,
                   scoll > 0 ? dcoll / scoll : 0, (unsigned long long)fd.busy, (unsigned long long)fsp.busy,
                   (unsigned long long)fd.tasks, (unsigned long long)fsp.tasks, (unsigned long long)fd.hops,
                   (unsigned long long)fsp.hops, wall, ok ? "ok" : "fail", md > ms ? md : ms,
                   (unsigned long long)(bd + bs));
        } else {
            printf("sparse {p %lld, m %lld, n %lld, density %lld%%}: %lld nonzeros in x\n", (long long)p,
                   (long long)m, (long long)n, (long long)density, (long long)nnz);
            printf("  dense x:  %.0f cycles, %llu busy PE-cycles, %llu tasks, %llu hops\n", dcoll,
                   (unsigned long long)fd.busy, (unsigned long long)fd.tasks, (unsigned long long)fd.hops);
            printf("  sparse x: %.0f cycles, %llu busy PE-cycles, %llu tasks, %llu hops (%.2fx fewer cycles)\n", scoll,
                   (unsigned long long)fsp.busy, (unsigned long long)fsp.tasks, (unsigned long long)fsp.hops,
                   scoll > 0 ? dcoll / scoll : 0);
            printf("  wall %.3f s; check: %s\n", wall, ok ? "ok (both runs bit-identical to the reference)" : "FAIL");
        }
        rc = ok ? 0 : 2;
        if (!ok) fprintf(stderr, "sparse: check failed: dense %llu, sparse %llu values differ\n",
                         (unsigned long long)bd, (unsigned long long)bs);
    }
    goto done;
fail:
    rc = wf_ex_fail(prog, NULL, &e);
done:
    wf_free(NULL, yd);
    wf_free(NULL, ys);
    wf_free(NULL, ref);
    return rc;
}
