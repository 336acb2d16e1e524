/* gemv.c — y = A x + b on kx x ky PEs (kx = ky = 1: one PE).
**
** A is M x N fp32, cut into ky row blocks and kx column blocks (sizes differ
** by at most one when M, N do not divide); PE (i, j) holds its block
** column-major (rows x cols, padded to mr x nc). x enters the top row and is
** broadcast down each column on color 0; b enters column 0's y. Each PE
** computes its partial y_j = A_ij x_j with one fmacs per column; the partials
** are reduced west -> east along each row in a pipelined chain whose colors
** alternate (1, 2, 1, ...) so that no PE sends and receives on one color.
** y leaves from column kx - 1.
**
** Operation order (the reference in ref_row() follows it exactly, so the
** result is bit-identical): s_j = init_j + A[r][c0] x[c0] + A[r][c0+1] x[c0+1]
** + ... (two roundings per term, no FMA), init_0 = b[r], init_j = 0; then
** y[r] = ((s_0 + s_1) + s_2) + ... + s_{kx-1}.
**
** A, x, b come from a formula per element, so the 16384 x 16384 case needs no
** input file: gemv --m 16384 --n 16384 --kx 750 --ky 994. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_A, S_X, S_Y, S_COUNT };
enum { P_M, P_N, P_KX, P_KY, P_MR, P_NC, P_FAULT, P_COUNT };
/* --fault: break the program on purpose to show the error it gets */
enum { F_NONE, F_DEADLOCK, F_ROUTE, F_OOB };
enum { C_X = 0, C_R0 = 1, C_R1 = 2 };
enum { T_COMPUTE = 30 };

/* Block i of `total` split into k parts: size, and first index in *start. */
static int part(int64_t total, int64_t k, int i, int64_t *start) {
    int64_t base = total / k, rem = total % k;
    *start = i * base + (i < rem ? i : rem);
    return (int)(base + (i < rem));
}

/* ---- the kernel -------------------------------------------------------------------- */
static void gemv_compute(wf_pe *pe, uint32_t d) {
    (void)d;
    int64_t r0, c0;
    int rx = wf_pe_rx(pe), kx = (int)wf_pe_param(pe, P_KX);
    int rows = part(wf_pe_param(pe, P_M), wf_pe_param(pe, P_KY), wf_pe_ry(pe), &r0);
    int cols = part(wf_pe_param(pe, P_N), kx, rx, &c0);
    int mr = (int)wf_pe_param(pe, P_MR);
    float *A = wf_sym(pe, S_A), *x = wf_sym(pe, S_X), *y = wf_sym(pe, S_Y);
    wf_dsd dy = wf_dsd_mem1d(pe, y, (uint32_t)rows, 1, 4);
    /* y += A[:, c] * x[c], column by column */
    int64_t fault = wf_pe_param(pe, P_FAULT);
    for (int c = 0; c < cols; c++)
        wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, A + (size_t)c * mr, (uint32_t)rows, 1, 4), x[c], WF_SYNC);
    if (fault == F_OOB) /* reads just past y, the last symbol: outside the PE's symbols */
        wf_fmacs(pe, dy, dy,
                 wf_dsd_mem1d(pe, A + (size_t)mr * wf_pe_param(pe, P_NC) + wf_pe_param(pe, P_NC) + mr,
                              (uint32_t)rows, 1, 4), 1.0f, WF_SYNC);
    if (kx == 1) return;
    /* row reduce, west -> east: PE rx sends on color R[rx & 1], receives R[(rx - 1) & 1] */
    static const int R[2] = {C_R0, C_R1};
    if (rx == 0)
        wf_fmovs(pe, wf_dsd_fabout(R[0], (uint32_t)rows), dy, wf_async_none());
    else if (rx < kx - 1)
        wf_fadds(pe, wf_dsd_fabout(R[rx & 1], (uint32_t)rows), wf_dsd_fabin(R[(rx - 1) & 1], (uint32_t)rows), dy,
                 wf_async_none());
    else
        wf_fadds(pe, dy, wf_dsd_fabin(R[(rx - 1) & 1], (uint32_t)rows), dy, wf_async_none());
    if (fault == F_DEADLOCK && rx == kx - 1) /* waits for a second vector nobody sends */
        wf_fadds(pe, dy, wf_dsd_fabin(R[(rx - 1) & 1], (uint32_t)rows), dy, wf_async_none());
}

static void gemv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    int64_t c0;
    int cols = part(wf_pe_param(pe, P_N), wf_pe_param(pe, P_KX), wf_pe_rx(pe), &c0);
    float *x = wf_sym(pe, S_X);
    wf_dsd dx = wf_dsd_mem1d(pe, x, (uint32_t)cols, 1, 4);
    if (wf_pe_ry(pe) == 0) {
        /* x is here: pass it down the column and compute */
        if (wf_pe_param(pe, P_KY) > 1) wf_fmovs(pe, wf_dsd_fabout(C_X, (uint32_t)cols), dx, wf_async_none());
        wf_activate(pe, T_COMPUTE);
    } else {
        wf_fmovs(pe, dx, wf_dsd_fabin(C_X, (uint32_t)cols), wf_async_activate(T_COMPUTE));
    }
}

static const wf_symbol_decl gemv_syms[S_COUNT] = {{"A", 4}, {"x", 4}, {"y", 4}};
static const wf_task_decl gemv_tasks[] = {{T_COMPUTE, WF_TASK_LOCAL, gemv_compute, 0, "compute"}};
static const wf_export_decl gemv_exports[] = {{"gemv", gemv_go}};
static const wf_kernel gemv_kernel = {"gemv", gemv_syms, S_COUNT, gemv_tasks, 1, gemv_exports, 1, NULL};

/* ---- data by formula ------------------------------------------------------------------- */
static inline float a_at(int64_t r, int64_t c) {
    uint32_t h = (uint32_t)r * 2654435761u ^ (uint32_t)c * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return (float)(int)(h & 1023) / 512.0f - 1.0f;
}
static inline float x_at(int64_t c) { return (float)((c * 37) % 23 - 11) / 8.0f; }
static inline float b_at(int64_t r) { return (float)((r * 11) % 7 - 3) / 4.0f; }

/* The host reference for row r, in the kernel's operation order. */
static float ref_row(int64_t r, int64_t N, int64_t kx) {
    float acc = 0;
    for (int j = 0; j < kx; j++) {
        int64_t c0;
        int cols = part(N, kx, j, &c0);
        float s = j == 0 ? b_at(r) : 0.0f;
        for (int c = 0; c < cols; c++) s = s + a_at(r, c0 + c) * x_at(c0 + c);
        acc = j == 0 ? s : acc + s;
    }
    return acc;
}

/* ---- the host program --------------------------------------------------------------------- */
int main(int argc, char **argv) {
    const char *prog = "gemv";
    double t0 = wf_now();
    int64_t M = 128, N = 128, kx = 4, ky = 4;
    const char *fault_s = "none";
    wf_ex_flag flags[] = {
        {"m", WF_EX_INT, &M, "rows of A"},
        {"n", WF_EX_INT, &N, "columns of A"},
        {"kx", WF_EX_INT, &kx, "PE columns (the reduce runs along them)"},
        {"ky", WF_EX_INT, &ky, "PE rows (x is broadcast down them)"},
        {"fault", WF_EX_STR, &fault_s, "none | deadlock | route | oob: break the program to see its error"},
    };
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 5, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    int fault = !strcmp(fault_s, "none") ? F_NONE : !strcmp(fault_s, "deadlock") ? F_DEADLOCK
                : !strcmp(fault_s, "route") ? F_ROUTE : !strcmp(fault_s, "oob") ? F_OOB : -1;
    if (fault < 0 || (fault != F_NONE && fault != F_OOB && kx < 2)) {
        WF_FAIL(&e, WF_EUSAGE, "--fault '%s': expected none, deadlock, route or oob (deadlock and route need kx >= 2)",
                fault_s);
        return wf_ex_fail(prog, NULL, &e);
    }
    if (kx < 1 || ky < 1 || M < ky || N < kx || M > 1 << 20 || N > 1 << 20) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: m %lld, n %lld on %lld x %lld PEs: need 1 <= kx <= n, 1 <= ky <= m, "
                "m, n <= 1048576", (long long)M, (long long)N, (long long)kx, (long long)ky);
        return wf_ex_fail(prog, NULL, &e);
    }
    int64_t tmp;
    int mr = part(M, ky, 0, &tmp), nc = part(N, kx, 0, &tmp);
    int64_t params[P_COUNT] = {M, N, kx, ky, mr, nc, fault};
    uint32_t sym_bytes[S_COUNT] = {(uint32_t)((int64_t)mr * nc * 4), (uint32_t)nc * 4, (uint32_t)mr * 4};
    if ((int64_t)mr * nc > (1 << 20)) { /* guard the 32-bit sizes; the layout checks SRAM exactly */
        WF_FAIL(&e, WF_ESRAM, "sizes: a %d x %d block per PE is %lld bytes, more than a PE's 48 KB", mr, nc,
                (long long)mr * nc * 4);
        return wf_ex_fail(prog, NULL, &e);
    }
    wf_code_opts co = {params, P_COUNT, sym_bytes};
    wf_layout *l = NULL;
    wf_host *h = NULL;
    float *abuf = NULL, *xbuf = NULL, *bbuf = NULL, *ybuf = NULL, *yref = NULL;
    int rc = 1;
    if (wf_layout_new((int)kx, (int)ky, &l, &e) || wf_layout_code(l, 0, 0, (int)kx, (int)ky, &gemv_kernel, &co, &e))
        goto fail;
    wf_route down_top = wf_route_simple(WF_RAMP, WF_S), down_mid = wf_route_simple(WF_N, WF_RAMP | WF_S),
             down_end = wf_route_simple(WF_N, WF_RAMP), east = wf_route_simple(WF_RAMP, WF_E),
             from_w = wf_route_simple(WF_W, WF_RAMP);
    if (ky > 1) {
        if (wf_layout_route(l, 0, 0, (int)kx, 1, C_X, &down_top, &e)) goto fail;
        if (ky > 2 && wf_layout_route(l, 0, 1, (int)kx, (int)ky - 2, C_X, &down_mid, &e)) goto fail;
        if (wf_layout_route(l, 0, (int)ky - 1, (int)kx, 1, C_X, &down_end, &e)) goto fail;
    }
    for (int x = 0; x < kx; x++) {
        static const int R[2] = {C_R0, C_R1};
        if (x < kx - 1 && wf_layout_route(l, x, 0, 1, (int)ky, R[x & 1], &east, &e)) goto fail;
        if (x > 0 && !(fault == F_ROUTE && x == kx - 1) && /* F_ROUTE: the last column cannot receive */
            wf_layout_route(l, x, 0, 1, (int)ky, R[(x - 1) & 1], &from_w, &e))
            goto fail;
    }
    if (wf_ex_host_new(&o, l, &h, &e)) goto fail;
    if (wf_ex_diag_begin(&o, h, &e)) goto fail;

    /* inputs, per PE, in the memcpy's row-major [ky][kx][n] order */
    size_t per = (size_t)mr * nc;
    abuf = wf_calloc(NULL, (size_t)kx * ky * per * sizeof *abuf, "gemv A blocks", &e);
    xbuf = wf_calloc(NULL, (size_t)kx * nc * sizeof *xbuf, "gemv x", &e);
    bbuf = wf_calloc(NULL, (size_t)ky * mr * sizeof *bbuf, "gemv b", &e);
    ybuf = wf_calloc(NULL, (size_t)ky * mr * sizeof *ybuf, "gemv y", &e);
    yref = wf_calloc(NULL, (size_t)M * sizeof *yref, "gemv reference", &e);
    if (!abuf || !xbuf || !bbuf || !ybuf || !yref) goto fail;
    for (int i = 0; i < ky; i++) {
        int64_t r0, c0;
        int rows = part(M, ky, i, &r0);
        for (int r = 0; r < rows; r++) bbuf[(size_t)i * mr + r] = b_at(r0 + r);
        for (int j = 0; j < kx; j++) {
            int cols = part(N, kx, j, &c0);
            float *blk = abuf + ((size_t)i * kx + j) * per;
            for (int c = 0; c < cols; c++)
                for (int r = 0; r < rows; r++) blk[(size_t)c * mr + r] = a_at(r0 + r, c0 + c);
        }
    }
    for (int j = 0; j < kx; j++) {
        int64_t c0;
        int cols = part(N, kx, j, &c0);
        for (int c = 0; c < cols; c++) xbuf[(size_t)j * nc + c] = x_at(c0 + c);
    }
    uint64_t io = 0, compute = 0;
    wf_memcpy ma = {"A", 0, 0, 0, (int)kx, (int)ky, (uint32_t)per, 0, 4, WF_ROW_MAJOR};
    wf_memcpy mx = {"x", 0, 0, 0, (int)kx, 1, (uint32_t)nc, 0, 4, WF_ROW_MAJOR};
    wf_memcpy mb = {"y", 0, 0, 0, 1, (int)ky, (uint32_t)mr, 0, 4, WF_ROW_MAJOR};
    if (wf_ex_h2d(h, &ma, abuf, &io, &e) || wf_ex_h2d(h, &mx, xbuf, &io, &e) || wf_ex_h2d(h, &mb, bbuf, &io, &e))
        goto fail;
    wf_free(NULL, abuf);
    abuf = NULL;
    if (wf_ex_launch(&o, h, "gemv", &compute, &e)) goto fail;
    wf_memcpy my = {"y", 0, (int)kx - 1, 0, 1, (int)ky, (uint32_t)mr, 0, 4, WF_ROW_MAJOR};
    if (wf_ex_d2h(h, &my, ybuf, &io, &e)) goto fail;
    if (wf_ex_diag_end(&o, h, &e)) goto fail;

    /* check against the host reference, same operation order */
    double t_ref = wf_now();
    for (int64_t r = 0; r < M; r++) yref[r] = ref_row(r, N, kx);
    t_ref = wf_now() - t_ref;
    uint64_t bad = 0;
    double mxd = 0;
    for (int i = 0; i < ky; i++) {
        int64_t r0;
        int rows = part(M, ky, i, &r0);
        double d;
        bad += wf_ex_compare(ybuf + (size_t)i * mr, yref + r0, (size_t)rows, &d);
        if (d > mxd) mxd = d;
    }
    wf_ex_result res;
    memset(&res, 0, sizeof res);
    res.example = "gemv";
    snprintf(res.params, sizeof res.params, "\"m\":%lld,\"n\":%lld,\"kx\":%lld,\"ky\":%lld", (long long)M,
             (long long)N, (long long)kx, (long long)ky);
    res.cycles = wf_host_cycles(h);
    res.compute_cycles = compute;
    res.io_cycles = io;
    res.ok = bad == 0;
    res.max_abs_diff = mxd;
    wf_ex_extra(&res, "mismatches", (double)bad);
    wf_ex_extra(&res, "flops", 2.0 * (double)M * (double)N);
    wf_ex_extra(&res, "ref_wall_s", t_ref);
    res.wall_s = wf_now() - t0;
    res.mismatches = bad;
    res.outputs = (uint64_t)M;
    rc = wf_ex_report(&o, h, &res);
    goto done;
fail:
    rc = wf_ex_fail(prog, h, &e);
done:
    wf_ex_diag_free(&o);
    wf_free(NULL, abuf);
    wf_free(NULL, xbuf);
    wf_free(NULL, bbuf);
    wf_free(NULL, ybuf);
    wf_free(NULL, yref);
    wf_host_free(h);
    wf_layout_free(l);
    return rc;
}
