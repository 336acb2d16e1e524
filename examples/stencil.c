/* stencil.c — 7-point stencil SpMV y = A v on an nx x ny x nz grid: the
** grid's x, y map onto PE columns and rows, z runs along each PE's memory
** (PE (x,y) holds v[x][y][0..nz-1]). A has 7 constant diagonals (zero
** boundary): y = c0 v + czm v(z-1) + czp v(z+1) + cxm v(x-1) + cxp v(x+1)
** + cym v(y-1) + cyp v(y+1).
**
** Each PE sends its whole column to its (up to) 4 neighbours and receives
** theirs into 4 buffers. Colors per direction alternate with the sender's
** parity (east-going 10/11, west-going 12/13, south-going 14/15,
** north-going 16/17), so a PE never sends and receives one color. A
** separate task per direction counts arrivals (two activations of one task
** would merge); when all neighbours are in, one compute task applies the
** terms in the fixed order above — the host reference uses the same order,
** so the result is bit-identical. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_V, S_Y, S_BW, S_BE, S_BN, S_BS, S_ST, S_COUNT };
enum { P_NX, P_NY, P_NZ, P_COUNT };
enum { C_E0 = 10, C_W0 = 12, C_S0 = 14, C_N0 = 16 };
enum { T_W = 30, T_E = 31, T_N = 32, T_S = 33, T_COMP = 40 };

static const float c0 = -6.25f, cxm = 1.0f, cxp = 1.125f, cym = 0.875f, cyp = 1.0625f, czm = 0.9375f,
                   czp = 1.03125f;

static int neighbours(const wf_pe *pe) {
    int x = wf_pe_rx(pe), y = wf_pe_ry(pe), nx = (int)wf_pe_param(pe, P_NX), ny = (int)wf_pe_param(pe, P_NY);
    return (x > 0) + (x < nx - 1) + (y > 0) + (y < ny - 1);
}

static void st_compute(wf_pe *pe, uint32_t d) {
    (void)d;
    int x = wf_pe_rx(pe), y = wf_pe_ry(pe), nx = (int)wf_pe_param(pe, P_NX), ny = (int)wf_pe_param(pe, P_NY);
    uint32_t nz = (uint32_t)wf_pe_param(pe, P_NZ);
    float *v = wf_sym(pe, S_V), *yy = wf_sym(pe, S_Y);
    wf_dsd dv = wf_dsd_mem1d(pe, v, nz, 1, 4), dy = wf_dsd_mem1d(pe, yy, nz, 1, 4);
    wf_fmuls(pe, dy, dv, wf_dsd_scalar_f32(c0), WF_SYNC);
    if (nz > 1) {
        wf_dsd y1 = wf_dsd_mem1d(pe, yy + 1, nz - 1, 1, 4), y0 = wf_dsd_mem1d(pe, yy, nz - 1, 1, 4);
        wf_fmacs(pe, y1, y1, wf_dsd_mem1d(pe, v, nz - 1, 1, 4), czm, WF_SYNC);
        wf_fmacs(pe, y0, y0, wf_dsd_mem1d(pe, v + 1, nz - 1, 1, 4), czp, WF_SYNC);
    }
    if (x > 0) wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, wf_sym(pe, S_BW), nz, 1, 4), cxm, WF_SYNC);
    if (x < nx - 1) wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, wf_sym(pe, S_BE), nz, 1, 4), cxp, WF_SYNC);
    if (y > 0) wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, wf_sym(pe, S_BN), nz, 1, 4), cym, WF_SYNC);
    if (y < ny - 1) wf_fmacs(pe, dy, dy, wf_dsd_mem1d(pe, wf_sym(pe, S_BS), nz, 1, 4), cyp, WF_SYNC);
}

static void st_got(wf_pe *pe, uint32_t d) {
    (void)d;
    int32_t *st = wf_sym(pe, S_ST);
    if (++st[0] == neighbours(pe)) wf_activate(pe, T_COMP);
}

static void st_go(wf_pe *pe, uint32_t d) {
    (void)d;
    int x = wf_pe_rx(pe), y = wf_pe_ry(pe), nx = (int)wf_pe_param(pe, P_NX), ny = (int)wf_pe_param(pe, P_NY);
    uint32_t nz = (uint32_t)wf_pe_param(pe, P_NZ);
    wf_dsd dv = wf_dsd_mem1d(pe, wf_sym(pe, S_V), nz, 1, 4);
    int32_t *st = wf_sym(pe, S_ST);
    st[0] = 0;
    /* receives first (they wait on the input queues), then sends; each names
    ** the way its halo travels, so swapped colors fail at the op */
    if (x > 0) wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_BW), nz, 1, 4),
                        wf_dsd_fabin_from(C_E0 + ((x - 1) & 1), nz, WF_DIR_W), wf_async_activate(T_W));
    if (x < nx - 1) wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_BE), nz, 1, 4),
                             wf_dsd_fabin_from(C_W0 + ((x + 1) & 1), nz, WF_DIR_E), wf_async_activate(T_E));
    if (y > 0) wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_BN), nz, 1, 4),
                        wf_dsd_fabin_from(C_S0 + ((y - 1) & 1), nz, WF_DIR_N), wf_async_activate(T_N));
    if (y < ny - 1) wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_BS), nz, 1, 4),
                             wf_dsd_fabin_from(C_N0 + ((y + 1) & 1), nz, WF_DIR_S), wf_async_activate(T_S));
    if (x < nx - 1) wf_fmovs(pe, wf_dsd_fabout_to(C_E0 + (x & 1), nz, WF_DIR_E), dv, wf_async_none());
    if (x > 0) wf_fmovs(pe, wf_dsd_fabout_to(C_W0 + (x & 1), nz, WF_DIR_W), dv, wf_async_none());
    if (y < ny - 1) wf_fmovs(pe, wf_dsd_fabout_to(C_S0 + (y & 1), nz, WF_DIR_S), dv, wf_async_none());
    if (y > 0) wf_fmovs(pe, wf_dsd_fabout_to(C_N0 + (y & 1), nz, WF_DIR_N), dv, wf_async_none());
    if (neighbours(pe) == 0) wf_activate(pe, T_COMP);
}

static const wf_symbol_decl st_syms[S_COUNT] = {{"v", 4},  {"y", 4},  {"bw", 4}, {"be", 4},
                                                {"bn", 4}, {"bs", 4}, {"st", 4}};
static const wf_task_decl st_tasks[] = {
    {T_W, WF_TASK_LOCAL, st_got, 0, "got west"},   {T_E, WF_TASK_LOCAL, st_got, 0, "got east"},
    {T_N, WF_TASK_LOCAL, st_got, 0, "got north"},  {T_S, WF_TASK_LOCAL, st_got, 0, "got south"},
    {T_COMP, WF_TASK_LOCAL, st_compute, 0, "compute"}};
static const wf_export_decl st_exports[] = {{"spmv", st_go}};
static const wf_kernel st_kernel = {"stencil7", st_syms, S_COUNT, st_tasks, 5, st_exports, 1, NULL};

static inline float v_at(int64_t x, int64_t y, int64_t z) {
    uint32_t h = (uint32_t)(x * 73856093 ^ y * 19349663 ^ z * 83492791);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (float)(int)(h & 1023) / 256.0f - 2.0f;
}

int main(int argc, char **argv) {
    const char *prog = "stencil";
    double t0 = wf_now();
    int64_t nx = 8, ny = 8, nz = 64, spread = 0;
    wf_ex_flag flags[] = {{"nx", WF_EX_INT, &nx, "grid x = PE columns"},
                          {"ny", WF_EX_INT, &ny, "grid y = PE rows"},
                          {"nz", WF_EX_INT, &nz, "grid z = elements per PE"},
                          {"spread-banks", WF_EX_INT, &spread,
                           "1: give y an SRAM bank of its own (no bank conflicts; see bank_conflict_cycles)"}};
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 4, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    /* six nz-float symbols and a counter in the SRAM left after the code reserve */
    const int64_t nz_max = (int64_t)(wf_cost_wse2.sram_bytes - wf_cost_wse2.code_reserve - 4) / 24;
    if (nx < 1 || ny < 1 || nx > WF_FABRIC_MAX_W || ny > WF_FABRIC_MAX_H || nz < 1 || nz > nz_max) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: %lld x %lld x %lld: need 1 <= nx <= 750, 1 <= ny <= 994, 1 <= nz <= %lld (six "
                "nz-float buffers per PE)", (long long)nx, (long long)ny, (long long)nz, (long long)nz_max);
        return wf_ex_fail(prog, NULL, &e);
    }
    if (spread != 0 && spread != 1) {
        WF_FAIL(&e, WF_EUSAGE, "--spread-banks %lld: 0 or 1", (long long)spread);
        return wf_ex_fail(prog, NULL, &e);
    }
    int64_t params[P_COUNT] = {nx, ny, nz};
    uint32_t vb = (uint32_t)nz * 4;
    uint32_t sym_bytes[S_COUNT] = {vb, vb, vb, vb, vb, vb, 4};
    if (spread) {
        /* every fmacs reads y and one other buffer: with all of them in bank 0
        ** each pays the bank-conflict rule. Pad v so y starts on a bank
        ** boundary, and y so the halo buffers start on the next one. */
        const wf_cost_model *cm = &wf_cost_wse2;
        uint32_t bb = cm->bank_bytes, v0 = cm->code_reserve;
        sym_bytes[S_V] = (v0 + vb + bb - 1) / bb * bb - v0;
        sym_bytes[S_Y] = (vb + bb - 1) / bb * bb;
    }
    wf_code_opts co = {params, P_COUNT, sym_bytes};
    wf_layout *l = NULL;
    wf_host *h = NULL;
    float *vin = NULL, *yout = NULL, *ref = NULL;
    int rc = 1, X = (int)nx, Y = (int)ny;
    if (wf_layout_new(X, Y, &l, &e) || wf_layout_code(l, 0, 0, X, Y, &st_kernel, &co, &e)) goto fail;
    {
        wf_route to_e = wf_route_simple(WF_RAMP, WF_E), from_w = wf_route_simple(WF_W, WF_RAMP);
        wf_route to_w = wf_route_simple(WF_RAMP, WF_W), from_e = wf_route_simple(WF_E, WF_RAMP);
        wf_route to_s = wf_route_simple(WF_RAMP, WF_S), from_n = wf_route_simple(WF_N, WF_RAMP);
        wf_route to_n = wf_route_simple(WF_RAMP, WF_N), from_s = wf_route_simple(WF_S, WF_RAMP);
        for (int x = 0; x < X; x++) {
            if (x < X - 1 && (wf_layout_route(l, x, 0, 1, Y, C_E0 + (x & 1), &to_e, &e) ||
                              wf_layout_route(l, x, 0, 1, Y, C_W0 + ((x + 1) & 1), &from_e, &e)))
                goto fail;
            if (x > 0 && (wf_layout_route(l, x, 0, 1, Y, C_W0 + (x & 1), &to_w, &e) ||
                          wf_layout_route(l, x, 0, 1, Y, C_E0 + ((x - 1) & 1), &from_w, &e)))
                goto fail;
        }
        for (int y = 0; y < Y; y++) {
            if (y < Y - 1 && (wf_layout_route(l, 0, y, X, 1, C_S0 + (y & 1), &to_s, &e) ||
                              wf_layout_route(l, 0, y, X, 1, C_N0 + ((y + 1) & 1), &from_s, &e)))
                goto fail;
            if (y > 0 && (wf_layout_route(l, 0, y, X, 1, C_N0 + (y & 1), &to_n, &e) ||
                          wf_layout_route(l, 0, y, X, 1, C_S0 + ((y - 1) & 1), &from_n, &e)))
                goto fail;
        }
    }
    if (wf_ex_host_new(&o, l, &h, &e)) goto fail;
    if (wf_ex_diag_begin(&o, h, &e)) goto fail;
    size_t tot = (size_t)X * Y * nz;
    vin = wf_alloc(NULL, tot * sizeof *vin, "stencil v", &e);
    yout = wf_alloc(NULL, tot * sizeof *yout, "stencil y", &e);
    ref = wf_alloc(NULL, tot * sizeof *ref, "stencil reference", &e);
    if (!vin || !yout || !ref) goto fail;
#define AT(x, y, z) ((((size_t)(y) * X + (size_t)(x)) * (size_t)nz) + (size_t)(z))
    for (int y = 0; y < Y; y++)
        for (int x = 0; x < X; x++)
            for (int z = 0; z < nz; z++) vin[AT(x, y, z)] = v_at(x, y, z);
    uint64_t io = 0, compute = 0;
    wf_memcpy m = {"v", 0, 0, 0, X, Y, (uint32_t)nz, 0, 4, WF_ROW_MAJOR};
    if (wf_ex_h2d(h, &m, vin, &io, &e)) goto fail;
    if (wf_ex_launch(&o, h, "spmv", &compute, &e)) goto fail;
    m.symbol = "y";
    if (wf_ex_d2h(h, &m, yout, &io, &e)) goto fail;
    if (wf_ex_diag_end(&o, h, &e)) goto fail;
    /* reference in the kernel's term order */
    for (int y = 0; y < Y; y++)
        for (int x = 0; x < X; x++) {
            float *r = ref + AT(x, y, 0);
            const float *v = vin + AT(x, y, 0);
            for (int z = 0; z < nz; z++) r[z] = v[z] * c0;
            for (int z = 1; z < nz; z++) r[z] = r[z] + v[z - 1] * czm;
            for (int z = 0; z + 1 < nz; z++) r[z] = r[z] + v[z + 1] * czp;
            for (int z = 0; z < nz; z++) {
                if (x > 0) r[z] = r[z] + vin[AT(x - 1, y, z)] * cxm;
                if (x < X - 1) r[z] = r[z] + vin[AT(x + 1, y, z)] * cxp;
                if (y > 0) r[z] = r[z] + vin[AT(x, y - 1, z)] * cym;
                if (y < Y - 1) r[z] = r[z] + vin[AT(x, y + 1, z)] * cyp;
            }
        }
#undef AT
    double mxd;
    uint64_t bad = wf_ex_compare(yout, ref, tot, &mxd);
    wf_ex_result res;
    memset(&res, 0, sizeof res);
    res.example = "stencil";
    snprintf(res.params, sizeof res.params, "\"nx\":%lld,\"ny\":%lld,\"nz\":%lld,\"spread_banks\":%d", (long long)nx,
             (long long)ny, (long long)nz, spread != 0);
    res.cycles = wf_host_cycles(h);
    res.compute_cycles = compute;
    res.io_cycles = io;
    res.ok = bad == 0;
    res.max_abs_diff = mxd;
    wf_ex_extra(&res, "mismatches", (double)bad);
    wf_ex_extra(&res, "flops", 13.0 * (double)tot);
    res.wall_s = wf_now() - t0;
    res.mismatches = bad;
    res.outputs = tot;
    rc = wf_ex_report(&o, h, &res);
    goto done;
fail:
    rc = wf_ex_fail(prog, h, &e);
done:
    wf_ex_diag_free(&o);
    wf_free(NULL, vin);
    wf_free(NULL, yout);
    wf_free(NULL, ref);
    wf_host_free(h);
    wf_layout_free(l);
    return rc;
}
