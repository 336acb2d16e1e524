/* summa.c — SUMMA GEMM C = A B on p x p PEs (p >= 2), each PE holding one
** t x t tile (row-major) of A, B and C; the matrices are n x n, n = p t.
**
** Step k = 0 .. p-1: the PEs of column k broadcast their A tile along their
** row, the PEs of row k their B tile down their column, and every PE does
** C += A_k B_k (t*t fmacs of length t). Routes are static, so a broadcast
** from any column is done in two legs: the sender's tile travels WEST on
** color 6 to column 0 (routers only pass it on), and column 0 relays it
** EAST on color 7 to the whole row, itself included (its route sends the
** relay to its own RAMP too). Every PE therefore receives each step's tile
** on color 7, in step order; B does the same with colors 8 (north) and 9
** (south). A PE sends step k+1's tile only after it received step k's, so
** the legs of two steps never interleave on a link.
**
** Operation order: C[i][j] = ((0 + A[i][0] B[0][j]) + A[i][1] B[1][j]) + ...
** over the global k index, two roundings per term (fmacs is not fused); the
** host reference does the same. Buffers Abuf/Bbuf receive the tiles; a pad
** symbol puts Bbuf in another SRAM bank than C so that fmacs' two memory
** reads do not conflict (cost model, bank rule). */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_C, S_A, S_B, S_ABUF, S_PAD, S_BBUF, S_ST, S_COUNT };
enum { P_P, P_T, P_COUNT };
enum { C_W = 6, C_E = 7, C_N = 8, C_S = 9 };
enum { T_STEP = 30, T_GOT_A = 31, T_GOT_B = 32 };

/* st[0] = step k, st[1] = tiles received in this step */
static void summa_step(wf_pe *pe, uint32_t d) {
    (void)d;
    int p = (int)wf_pe_param(pe, P_P), t = (int)wf_pe_param(pe, P_T);
    uint32_t tt = (uint32_t)(t * t);
    int32_t *st = wf_sym(pe, S_ST);
    int k = st[0], rx = wf_pe_rx(pe), ry = wf_pe_ry(pe);
    if (k == p) return;
    st[1] = 0;
    if (rx == k) wf_fmovs(pe, wf_dsd_fabout(C_W, tt), wf_dsd_mem1d(pe, wf_sym(pe, S_A), tt, 1, 4), wf_async_none());
    if (ry == k) wf_fmovs(pe, wf_dsd_fabout(C_N, tt), wf_dsd_mem1d(pe, wf_sym(pe, S_B), tt, 1, 4), wf_async_none());
    if (rx == 0) wf_fmovs(pe, wf_dsd_fabout(C_E, tt), wf_dsd_fabin(C_W, tt), wf_async_none()); /* relay A */
    if (ry == 0) wf_fmovs(pe, wf_dsd_fabout(C_S, tt), wf_dsd_fabin(C_N, tt), wf_async_none()); /* relay B */
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_ABUF), tt, 1, 4), wf_dsd_fabin(C_E, tt), wf_async_activate(T_GOT_A));
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, S_BBUF), tt, 1, 4), wf_dsd_fabin(C_S, tt), wf_async_activate(T_GOT_B));
}

static void summa_got(wf_pe *pe, uint32_t d) {
    (void)d;
    int32_t *st = wf_sym(pe, S_ST);
    if (++st[1] < 2) return;
    int t = (int)wf_pe_param(pe, P_T);
    float *C = wf_sym(pe, S_C), *Ab = wf_sym(pe, S_ABUF), *Bb = wf_sym(pe, S_BBUF);
    /* C[i][:] += Bk[l][:] * Ak[i][l] */
    for (int i = 0; i < t; i++) {
        wf_dsd ci = wf_dsd_mem1d(pe, C + i * t, (uint32_t)t, 1, 4);
        for (int l = 0; l < t; l++)
            wf_fmacs(pe, ci, ci, wf_dsd_mem1d(pe, Bb + l * t, (uint32_t)t, 1, 4), Ab[i * t + l], WF_SYNC);
    }
    st[0]++;
    wf_activate(pe, T_STEP);
}

static void summa_go(wf_pe *pe, uint32_t d) {
    (void)d;
    int32_t *st = wf_sym(pe, S_ST);
    st[0] = st[1] = 0;
    wf_activate(pe, T_STEP);
}

static const wf_symbol_decl summa_syms[S_COUNT] = {{"C", 4}, {"A", 4},   {"B", 4}, {"Abuf", 4},
                                                   {"pad", 4}, {"Bbuf", 4}, {"st", 8}};
/* One task per receive: two activations of one task before it runs merge
** into one (a task is a ready bit), so a shared "got" task could miss one. */
static const wf_task_decl summa_tasks[] = {{T_STEP, WF_TASK_LOCAL, summa_step, 0, "step"},
                                           {T_GOT_A, WF_TASK_LOCAL, summa_got, 0, "got A"},
                                           {T_GOT_B, WF_TASK_LOCAL, summa_got, 0, "got B"}};
static const wf_export_decl summa_exports[] = {{"summa", summa_go}};
static const wf_kernel summa_kernel = {"summa", summa_syms, S_COUNT, summa_tasks, 3, summa_exports, 1, NULL};

static inline float m_at(int which, int64_t i, int64_t j) {
    uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(j * 97531u) ^ (uint32_t)which * 0x9e3779b9u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return (float)(int)(h & 255) / 128.0f - 1.0f;
}

int main(int argc, char **argv) {
    const char *prog = "summa";
    double t0 = wf_now();
    int64_t p = 4, t = 8;
    wf_ex_flag flags[] = {{"p", WF_EX_INT, &p, "PEs per side (>= 2)"}, {"t", WF_EX_INT, &t, "tile side per PE"}};
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 2, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    if (p < 2 || p > WF_FABRIC_MAX_W || t < 1 || t > 48) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: p %lld, t %lld: need 2 <= p <= 750 and 1 <= t <= 48", (long long)p,
                (long long)t);
        return wf_ex_fail(prog, NULL, &e);
    }
    int64_t n = p * t;
    uint32_t tb = (uint32_t)(t * t * 4);
    /* pad so that Bbuf starts in another bank than C (C is first, at code_reserve) */
    const wf_cost_model *cm = &wf_cost_wse2;
    uint32_t c_addr = cm->code_reserve, after = c_addr + 4 * tb, bank = cm->bank_bytes;
    uint32_t pad = 4;
    if (after / bank == c_addr / bank) pad = (c_addr / bank + 1) * bank - after;
    int64_t params[P_COUNT] = {p, t};
    uint32_t sym_bytes[S_COUNT] = {tb, tb, tb, tb, pad, tb, 8};
    wf_code_opts co = {params, P_COUNT, sym_bytes};
    wf_layout *l = NULL;
    wf_host *h = NULL;
    float *a = NULL, *b = NULL, *c = NULL, *ref = NULL;
    int rc = 1, P = (int)p;
    if (wf_layout_new(P, P, &l, &e) || wf_layout_code(l, 0, 0, P, P, &summa_kernel, &co, &e)) goto fail;
    {
        wf_route w_pass = wf_route_simple(WF_E | WF_RAMP, WF_W), w_end = wf_route_simple(WF_E | WF_RAMP, WF_RAMP);
        wf_route e_src = wf_route_simple(WF_RAMP, WF_E | WF_RAMP), e_mid = wf_route_simple(WF_W, WF_E | WF_RAMP),
                 e_end = wf_route_simple(WF_W, WF_RAMP);
        wf_route n_pass = wf_route_simple(WF_S | WF_RAMP, WF_N), n_end = wf_route_simple(WF_S | WF_RAMP, WF_RAMP);
        wf_route s_src = wf_route_simple(WF_RAMP, WF_S | WF_RAMP), s_mid = wf_route_simple(WF_N, WF_S | WF_RAMP),
                 s_end = wf_route_simple(WF_N, WF_RAMP);
        if (wf_layout_route(l, 1, 0, P - 1, P, C_W, &w_pass, &e) || wf_layout_route(l, 0, 0, 1, P, C_W, &w_end, &e) ||
            wf_layout_route(l, 0, 0, 1, P, C_E, &e_src, &e) ||
            (P > 2 && wf_layout_route(l, 1, 0, P - 2, P, C_E, &e_mid, &e)) ||
            wf_layout_route(l, P - 1, 0, 1, P, C_E, &e_end, &e) ||
            wf_layout_route(l, 0, 1, P, P - 1, C_N, &n_pass, &e) || wf_layout_route(l, 0, 0, P, 1, C_N, &n_end, &e) ||
            wf_layout_route(l, 0, 0, P, 1, C_S, &s_src, &e) ||
            (P > 2 && wf_layout_route(l, 0, 1, P, P - 2, C_S, &s_mid, &e)) ||
            wf_layout_route(l, 0, P - 1, P, 1, C_S, &s_end, &e))
            goto fail;
    }
    if (wf_ex_host_new(&o, l, &h, &e)) goto fail;
    if (wf_ex_diag_begin(&o, h, &e)) goto fail;
    size_t tot = (size_t)n * n;
    a = wf_alloc(NULL, tot * sizeof *a, "summa A", &e);
    b = wf_alloc(NULL, tot * sizeof *b, "summa B", &e);
    c = wf_alloc(NULL, tot * sizeof *c, "summa C", &e);
    ref = wf_alloc(NULL, tot * sizeof *ref, "summa reference", &e);
    if (!a || !b || !c || !ref) goto fail;
    /* tile buffers in memcpy order [py][px][t*t] */
    for (int py = 0; py < P; py++)
        for (int px = 0; px < P; px++)
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++) {
                    size_t k = (((size_t)py * P + px) * t + i) * t + j;
                    a[k] = m_at(0, py * t + i, px * t + j);
                    b[k] = m_at(1, py * t + i, px * t + j);
                }
    uint64_t io = 0, compute = 0;
    wf_memcpy m = {"A", 0, 0, 0, P, P, (uint32_t)(t * t), 0, 4, WF_ROW_MAJOR};
    if (wf_ex_h2d(h, &m, a, &io, &e)) goto fail;
    m.symbol = "B";
    if (wf_ex_h2d(h, &m, b, &io, &e)) goto fail;
    if (wf_ex_launch(&o, h, "summa", &compute, &e)) goto fail;
    m.symbol = "C";
    if (wf_ex_d2h(h, &m, c, &io, &e)) goto fail;
    if (wf_ex_diag_end(&o, h, &e)) goto fail;
    /* reference, global k order, unfused multiply-add; compared per tile */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t k = 0; k < n; k++) s = s + m_at(1, k, j) * m_at(0, i, k);
            size_t at = ((((size_t)(i / t) * P + (size_t)(j / t)) * t + (size_t)(i % t)) * t + (size_t)(j % t));
            ref[at] = s;
        }
    double mxd;
    uint64_t bad = wf_ex_compare(c, ref, tot, &mxd);
    wf_ex_result res;
    memset(&res, 0, sizeof res);
    res.example = "summa";
    snprintf(res.params, sizeof res.params, "\"p\":%lld,\"t\":%lld,\"n\":%lld", (long long)p, (long long)t,
             (long long)n);
    res.cycles = wf_host_cycles(h);
    res.compute_cycles = compute;
    res.io_cycles = io;
    res.ok = bad == 0;
    res.max_abs_diff = mxd;
    /* per step and PE: t*t fmacs of t elements, dsd_setup + t cycles each */
    wf_ex_extra(&res, "fmacs_cycles_per_pe", (double)p * t * t * (cm->dsd_setup + (t + cm->w_f32_fma - 1) / cm->w_f32_fma));
    wf_ex_extra(&res, "flops", 2.0 * (double)n * n * n);
    wf_ex_extra(&res, "mismatches", (double)bad);
    res.wall_s = wf_now() - t0;
    res.mismatches = bad;
    res.outputs = tot;
    rc = wf_ex_report(&o, h, &res);
    goto done;
fail:
    rc = wf_ex_fail(prog, h, &e);
done:
    wf_ex_diag_free(&o);
    wf_free(NULL, a);
    wf_free(NULL, b);
    wf_free(NULL, c);
    wf_free(NULL, ref);
    wf_host_free(h);
    wf_layout_free(l);
    return rc;
}
