/* collectives.c — reduce, broadcast and allreduce of fp32 vectors (n
** elements per PE) along a row (py = 1) or over a px x py grid.
**
** reduce:    chain (pipelined) reduce west -> east along every row, colors
**            alternating 1, 2, 1, ... (a PE never sends and receives on one
**            color); the row sums land in column X = px - 1, which then
**            chain-reduces north -> south on colors 3, 4 to the corner
**            (X, Y = py - 1). Order: row sum = ((v_0 + v_1) + v_2) + ...,
**            total = ((row_0 + row_1) + row_2) + ...
** broadcast: the corner multicasts its vector on color 5: north up column X
**            and, from every PE of column X, west along its row (pure
**            router multicast, the cores only receive).
** allreduce: reduce, then broadcast of the result from the corner.
**
** The JSON summary gives collective_cycles (launch to quiescence, without
** the launch latency) next to model_cycles, the analytic model of Luczynski
** et al., "Near-Optimal Wafer-Scale Reduce", HPDC 2024 (see model() below;
** tests/examples/test_examples.c holds the model test). */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_V, S_OUT, S_COUNT };
enum { P_PX, P_PY, P_N, P_OP, P_COUNT };
enum { OP_REDUCE, OP_BCAST, OP_ALLREDUCE };
enum { C_R0 = 1, C_R1 = 2, C_Q0 = 3, C_Q1 = 4, C_B = 5 };
enum { T_COL = 30, T_BCAST = 31 };

static const int R[2] = {C_R0, C_R1}, Q[2] = {C_Q0, C_Q1};

/* ---- the kernel --------------------------------------------------------------------------- */
static void col_phase(wf_pe *pe, uint32_t d) {
    (void)d;
    int py = (int)wf_pe_param(pe, P_PY), op = (int)wf_pe_param(pe, P_OP), ry = wf_pe_ry(pe);
    uint32_t n = (uint32_t)wf_pe_param(pe, P_N);
    wf_dsd dv = wf_dsd_mem1d(pe, wf_sym(pe, S_V), n, 1, 4);
    wf_async fin = op == OP_ALLREDUCE ? wf_async_activate(T_BCAST) : wf_async_none();
    if (py == 1) {
        if (op == OP_ALLREDUCE) wf_activate(pe, T_BCAST);
    } else if (ry == 0) {
        wf_fmovs(pe, wf_dsd_fabout(Q[0], n), dv, wf_async_none());
    } else if (ry < py - 1) {
        wf_fadds(pe, wf_dsd_fabout(Q[ry & 1], n), wf_dsd_fabin(Q[(ry - 1) & 1], n), dv, wf_async_none());
    } else {
        wf_fadds(pe, dv, wf_dsd_fabin(Q[(ry - 1) & 1], n), dv, fin);
    }
}

/* The corner sends its vector to everyone and keeps a copy in `out`. */
static void bcast_phase(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t n = (uint32_t)wf_pe_param(pe, P_N);
    wf_dsd dv = wf_dsd_mem1d(pe, wf_sym(pe, S_V), n, 1, 4);
    if (wf_pe_param(pe, P_PX) * wf_pe_param(pe, P_PY) > 1) wf_fmovs(pe, wf_dsd_fabout(C_B, n), dv, wf_async_none());
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_OUT), n, 1, 4), dv, WF_SYNC);
}

static void coll_go(wf_pe *pe, uint32_t d) {
    (void)d;
    int px = (int)wf_pe_param(pe, P_PX), py = (int)wf_pe_param(pe, P_PY), op = (int)wf_pe_param(pe, P_OP);
    int rx = wf_pe_rx(pe), ry = wf_pe_ry(pe);
    uint32_t n = (uint32_t)wf_pe_param(pe, P_N);
    int corner = rx == px - 1 && ry == py - 1;
    wf_dsd dv = wf_dsd_mem1d(pe, wf_sym(pe, S_V), n, 1, 4);
    if (op != OP_REDUCE && !corner) /* everyone else receives the broadcast */
        wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_OUT), n, 1, 4), wf_dsd_fabin(C_B, n), wf_async_none());
    if (op == OP_BCAST) {
        if (corner) wf_activate(pe, T_BCAST);
        return;
    }
    if (px == 1) {
        wf_activate(pe, T_COL);
    } else if (rx == 0) {
        wf_fmovs(pe, wf_dsd_fabout(R[0], n), dv, wf_async_none());
    } else if (rx < px - 1) {
        wf_fadds(pe, wf_dsd_fabout(R[rx & 1], n), wf_dsd_fabin(R[(rx - 1) & 1], n), dv, wf_async_none());
    } else {
        wf_fadds(pe, dv, wf_dsd_fabin(R[(rx - 1) & 1], n), dv, wf_async_activate(T_COL));
    }
}

static const wf_symbol_decl coll_syms[S_COUNT] = {{"v", 4}, {"out", 4}};
static const wf_task_decl coll_tasks[] = {{T_COL, WF_TASK_LOCAL, col_phase, 0, "column"},
                                          {T_BCAST, WF_TASK_LOCAL, bcast_phase, 0, "broadcast"}};
static const wf_export_decl coll_exports[] = {{"go", coll_go}};
static const wf_symbol_decl idle_syms[] = {{"scratch", 64}};
static const wf_kernel idle_kernel = {"idle", idle_syms, 1, NULL, 0, NULL, 0, NULL};
static const wf_kernel coll_kernel = {"collectives", coll_syms, S_COUNT, coll_tasks, 2, coll_exports, 1, NULL};

/* ---- the analytic model --------------------------------------------------------------------
** Luczynski et al., "Near-Optimal Wafer-Scale Reduce" (HPDC 2024), model of
** an algorithm's cycles:  T = max(C, E/N + L) + (2 T_R + 1) D
** with C contention (wavelets through the busiest link or ramp), E energy
** (total wavelet hops), N links used, L distance (longest path, hops), D
** depth (dependent receive-add-send steps), T_R the ramp latency (core <->
** router). Their chain reduce of B elements over P PEs: C = B,
** E = B (P - 1), N = P - 1, L = P - 1, D = P - 1; a broadcast from one end:
** C = B, E/N = B, L = P - 1 (or (Px-1) + (Py-1) over a grid), D = 1. The 2-D
** reduce is the row chain followed by the column chain; allreduce is reduce
** then broadcast. Parameters come from the simulator's cost table (STYLE
** 12): T_R = ramp_latency, one hop = hop_latency cycles.
** Source: the paper's full text (arXiv 2404.15888) was not available to us;
** T is the formula as quoted by public summaries of the paper, and the
** per-pattern C/E/N/L/D above are our own derivation (docs/sdk.md §5). */
static double chain(double B, double P, double tr, double hop) {
    if (P <= 1) return 0;
    return fmax(B, B + (P - 1) * hop) + (2 * tr + 1) * (P - 1);
}
static double bcast(double B, double L, double tr, double hop) {
    if (L <= 0) return 0;
    return fmax(B, B + L * hop) + (2 * tr + 1);
}
static double model(int op, double B, double px, double py, const wf_cost_model *cm) {
    double tr = cm->ramp_latency, hop = cm->hop_latency;
    double red = chain(B, px, tr, hop) + chain(B, py, tr, hop);
    double bc = bcast(B, (px - 1) + (py - 1), tr, hop);
    return op == OP_REDUCE ? red : op == OP_BCAST ? bc : red + bc;
}

static inline float v_at(int64_t x, int64_t y, int64_t i) {
    uint32_t h = (uint32_t)(x * 73856093 ^ y * 19349663 ^ i * 83492791);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (float)(int)(h & 4095) / 1024.0f - 2.0f;
}

int main(int argc, char **argv) {
    const char *prog = "collectives";
    double t0 = wf_now();
    int64_t px = 16, py = 1, n = 256, fw = 0, fh = 0;
    const char *ops = "allreduce";
    wf_ex_flag flags[] = {
        {"op", WF_EX_STR, &ops, "reduce | bcast | allreduce"},
        {"px", WF_EX_INT, &px, "PEs along a row"},
        {"py", WF_EX_INT, &py, "rows (1 = one row)"},
        {"n", WF_EX_INT, &n, "vector length per PE (fp32)"},
        {"fw", WF_EX_INT, &fw, "program rectangle width (0 = px); PEs outside the collective idle"},
        {"fh", WF_EX_INT, &fh, "program rectangle height (0 = py)"},
    };
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 6, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    int op = !strcmp(ops, "reduce") ? OP_REDUCE : !strcmp(ops, "bcast") ? OP_BCAST
             : !strcmp(ops, "allreduce") ? OP_ALLREDUCE : -1;
    if (op < 0) {
        WF_FAIL(&e, WF_EUSAGE, "--op '%s': expected reduce, bcast or allreduce", ops);
        return wf_ex_fail(prog, NULL, &e);
    }
    if (px < 1 || py < 1 || px > WF_FABRIC_MAX_W || py > WF_FABRIC_MAX_H || n < 1 || n > 5000) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: px %lld, py %lld, n %lld: need 1 <= px <= 750, 1 <= py <= 994, "
                "1 <= n <= 5000", (long long)px, (long long)py, (long long)n);
        return wf_ex_fail(prog, NULL, &e);
    }
    if (!fw) fw = px;
    if (!fh) fh = py;
    if (fw < px || fh < py) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: program rectangle %lld x %lld is smaller than the %lld x %lld collective",
                (long long)fw, (long long)fh, (long long)px, (long long)py);
        return wf_ex_fail(prog, NULL, &e);
    }
    int X = (int)px - 1, Y = (int)py - 1;
    int64_t params[P_COUNT] = {px, py, n, op};
    uint32_t sym_bytes[S_COUNT] = {(uint32_t)n * 4, (uint32_t)n * 4};
    wf_code_opts co = {params, P_COUNT, sym_bytes};
    wf_layout *l = NULL;
    wf_host *h = NULL;
    float *vin = NULL, *vout = NULL, *ref = NULL;
    int rc = 1;
    if (wf_layout_new((int)fw, (int)fh, &l, &e) || wf_layout_code(l, 0, 0, (int)px, (int)py, &coll_kernel, &co, &e))
        goto fail;
    /* the rest of the rectangle: loaded with a program that is never launched */
    if (fh > py && wf_layout_code(l, 0, (int)py, (int)fw, (int)(fh - py), &idle_kernel, NULL, &e)) goto fail;
    if (fw > px && wf_layout_code(l, (int)px, 0, (int)(fw - px), (int)py, &idle_kernel, NULL, &e)) goto fail;
    if (op != OP_BCAST) {
        wf_route east = wf_route_simple(WF_RAMP, WF_E), from_w = wf_route_simple(WF_W, WF_RAMP);
        wf_route south = wf_route_simple(WF_RAMP, WF_S), from_n = wf_route_simple(WF_N, WF_RAMP);
        for (int x = 0; x < px; x++) {
            if (x < X && wf_layout_route(l, x, 0, 1, (int)py, R[x & 1], &east, &e)) goto fail;
            if (x > 0 && wf_layout_route(l, x, 0, 1, (int)py, R[(x - 1) & 1], &from_w, &e)) goto fail;
        }
        for (int y = 0; y < py; y++) {
            if (y < Y && wf_layout_route(l, X, y, 1, 1, Q[y & 1], &south, &e)) goto fail;
            if (y > 0 && wf_layout_route(l, X, y, 1, 1, Q[(y - 1) & 1], &from_n, &e)) goto fail;
        }
    }
    if (op != OP_REDUCE && px * py > 1) {
        wf_route rc0 = wf_route_simple(WF_RAMP, (Y > 0 ? WF_N : 0) | (X > 0 ? WF_W : 0));
        if (wf_layout_route(l, X, Y, 1, 1, C_B, &rc0, &e)) goto fail;
        for (int y = 0; y < Y; y++) {
            wf_route up = wf_route_simple(WF_S, WF_RAMP | (y > 0 ? WF_N : 0) | (X > 0 ? WF_W : 0));
            if (wf_layout_route(l, X, y, 1, 1, C_B, &up, &e)) goto fail;
        }
        if (X > 0) {
            wf_route west = wf_route_simple(WF_E, WF_RAMP | WF_W), end = wf_route_simple(WF_E, WF_RAMP);
            if (X > 1 && wf_layout_route(l, 1, 0, X - 1, (int)py, C_B, &west, &e)) goto fail;
            if (wf_layout_route(l, 0, 0, 1, (int)py, C_B, &end, &e)) goto fail;
        }
    }
    if (wf_ex_host_new(&o, l, &h, &e)) goto fail;
    if (wf_ex_diag_begin(&o, h, &e)) goto fail;
    size_t npe = (size_t)px * py, tot = npe * (size_t)n;
    vin = wf_alloc(NULL, tot * sizeof *vin, "collectives input", &e);
    vout = wf_alloc(NULL, tot * sizeof *vout, "collectives output", &e);
    ref = wf_alloc(NULL, 2 * (size_t)n * sizeof *ref, "collectives reference", &e);
    if (!vin || !vout || !ref) goto fail;
    float *rsum = ref + n; /* a row's running sums */
    for (int y = 0; y < py; y++)
        for (int x = 0; x < px; x++)
            for (int i = 0; i < n; i++) vin[((size_t)y * px + x) * n + i] = v_at(x, y, i);
    uint64_t io = 0, compute = 0;
    wf_memcpy mv = {"v", 0, 0, 0, (int)px, (int)py, (uint32_t)n, 0, 4, WF_ROW_MAJOR};
    if (wf_ex_h2d(h, &mv, vin, &io, &e)) goto fail;
    if (wf_ex_launch(&o, h, "go", &compute, &e)) goto fail;
    wf_memcpy mo = mv;
    if (op == OP_REDUCE) { /* the result is in the corner's v */
        mo.x = X;
        mo.y = Y;
        mo.w = mo.h = 1;
    } else {
        mo.symbol = "out";
    }
    if (wf_ex_d2h(h, &mo, vout, &io, &e)) goto fail;
    if (wf_ex_diag_end(&o, h, &e)) goto fail;

    /* reference: the same order of additions (row sums west to east, then
    ** the rows north to south), walked in memory order: vin's PE vectors
    ** one after the other, not one element of every PE at a time */
    if (op == OP_BCAST) {
        memcpy(ref, vin + ((size_t)Y * px + X) * n, (size_t)n * sizeof *ref);
    } else {
        for (int y = 0; y < py; y++) {
            const float *v = vin + (size_t)y * px * n;
            for (int i = 0; i < n; i++) rsum[i] = v[i];
            for (int x = 1; x < px; x++)
                for (int i = 0; i < n; i++) rsum[i] = rsum[i] + v[(size_t)x * n + i];
            for (int i = 0; i < n; i++) ref[i] = y == 0 ? rsum[i] : ref[i] + rsum[i];
        }
    }
    uint64_t bad = 0;
    double mxd = 0;
    size_t nout = op == OP_REDUCE ? 1 : npe;
    for (size_t p = 0; p < nout; p++) {
        double dd;
        bad += wf_ex_compare(vout + p * n, ref, (size_t)n, &dd);
        if (dd > mxd) mxd = dd;
    }
    const wf_cost_model *cm = wf_fabric_cost(wf_host_fabric(h));
    wf_ex_result res;
    memset(&res, 0, sizeof res);
    res.example = "collectives";
    snprintf(res.params, sizeof res.params, "\"op\":\"%s\",\"px\":%lld,\"py\":%lld,\"n\":%lld,\"fw\":%lld,\"fh\":%lld",
             ops, (long long)px, (long long)py, (long long)n, (long long)fw, (long long)fh);
    res.cycles = wf_host_cycles(h);
    res.compute_cycles = compute;
    res.io_cycles = io;
    res.ok = bad == 0;
    res.max_abs_diff = mxd;
    double coll = (double)compute - cm->launch_latency, mdl = model(op, (double)n, (double)px, (double)py, cm);
    wf_ex_extra(&res, "collective_cycles", coll);
    wf_ex_extra(&res, "model_cycles", mdl);
    wf_ex_extra(&res, "model_rel_err", mdl > 0 ? (coll - mdl) / mdl : 0);
    wf_ex_extra(&res, "mismatches", (double)bad);
    res.wall_s = wf_now() - t0;
    res.mismatches = bad;
    res.outputs = nout * (uint64_t)n;
    rc = wf_ex_report(&o, h, &res);
    goto done;
fail:
    rc = wf_ex_fail(prog, h, &e);
done:
    wf_ex_diag_free(&o);
    wf_free(NULL, vin);
    wf_free(NULL, vout);
    wf_free(NULL, ref);
    wf_host_free(h);
    wf_layout_free(l);
    return rc;
}
