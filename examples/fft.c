/* fft.c — 3-D FFT of an n x n x n complex fp32 grid on n x n PEs, in the
** wsFFT decomposition (Orenes-Vera et al., "Wafer-Scale Fast Fourier
** Transforms", ICS 2023): PE (i,j) holds the pencil x[i][j][0..n-1] (the
** third axis along its memory), transforms it, then a transpose inside each
** row of PEs gives every PE a line along the first axis, transform, a
** transpose inside each column gives a line along the second axis,
** transform. Checked against FFTW (fftwf_plan_dft_3d).
**
**   after the z-FFT      PE (i,j) holds  Z[i][j][c]  for c = 0..n-1
**   row transpose        element c of PE (i,j) -> PE (c,j), slot i
**   after the x-FFT      PE (c,j) holds  Y[a][j][c]  for a = 0..n-1
**   column transpose     element a of PE (c,j) -> PE (c,a), slot j
**   after the y-FFT      PE (c,a) holds  X[a][b][c]  for b = 0..n-1
**
** Storage: a line is n complex numbers interleaved (re, im) in fp32, 2n
** words. The 1-D FFT is radix-2 Stockham (self-sorting: natural order in
** and out, no bit reversal), every stage a handful of DSD ops on strided
** memory (fadds / fsubs / fmuls), so the cost model charges all of it:
**     stage (l, m), l m = n/2:  c0 = x[k + j m], c1 = x[k + j m + n/2]
**       y[k + 2 j m] = c0 + c1,  y[k + 2 j m + m] = w_j (c0 - c1),
**       w_j = exp(-+2 pi i j / (2 l)) = W_n^(j m),  k < m, j < l
** with the twiddles W_n^t (t < n/2) as a table in SRAM; l = n/2 .. 1, m =
** 1 .. n/2, ping-ponging between the line and a scratch line (a final copy
** when log2 n is odd). The twiddle table is part of the program image, as a
** CSL comptime array would be: the host computes it in double, rounds it
** to fp32 and passes it as region parameters; the kernel's init writes it
** to SRAM at load (0 cycles, like any initialised data of the image).
** --inverse uses the conjugate table (FFTW_BACKWARD, unnormalised).
**
** A transpose is an all-to-all inside a line of n PEs (a row, then a
** column) with static routes, no switching. Position p sends "forward"
** (east / south) on color F[p & 1] and receives from p-1 on F[(p-1) & 1];
** "backward" (west / north) on B[p & 1], from p+1 on B[(p+1) & 1] (a PE
** never sends and receives on one color). The forward stream leaving p
** holds, for each destination d = p+1 .. n-1 in turn, one element from
** every source 0 .. p in ascending order: PE p receives the block for d = p
** (sources 0 .. p-1) into its line, then for every later d relays the
** block of p elements from its west/north neighbour (a fabric-in ->
** fabric-out fmovs on a microthread) and appends its own element d:
**
**   forward stream out of p (n = 4), blocks by destination d, (sources):
**     p=0: d=1:(0)        d=2:(0)        d=3:(0)        PE 1 keeps d=1
**     p=1:                d=2:(0,1)      d=3:(0,1)      PE 2 keeps d=2
**     p=2:                               d=3:(0,1,2)    PE 3 keeps d=3
**
** The backward stream is the mirror image: out of p, for d = p-1 .. 0, own
** element d first, then the relayed block of sources p+1 .. n-1. Every
** link's load is 2 (p+1)(n-1-p) words (complex = 2 wavelets), at most n^2/2
** in the middle of the line: the mesh's bisection bound for the
** all-to-all. An op that only sends from memory waits on the output
** queue's microthread and a relay on the input queue's, so the two would
** race for the output queue: the PE issues them one after the other, each
** completion activating the task that issues the next (a two-op chain per
** direction, 2 n ops per PE per transpose). The next phase starts when a
** PE's own two receives and both of its chains are done. Measured, a
** transpose takes about 1.56 n^2 cycles, 3.1x the bound: both streams
** enter a relaying core through its router's one RAMP port (n^2 words at
** the middle PE, twice the bound), and PE p relays block p+1 only after its
** block p is complete, which waits on PE p-1 having relayed block p, and
** so on down the line (docs/sdk.md §5b).
**
** The JSON summary adds: rel_l2_err (||X - X_fftw|| / ||X_fftw||),
** max_err_rel (max |X - X_fftw| / max |X_fftw|), tolerance (the bound on
** rel_l2_err: FLT_EPSILON * log2(n^3)), the critical-path split of the
** launch (phase boundaries at the last PE to finish each phase, read from
** per-PE cycle stamps): fft_cycles (the three 1-D FFT phases),
** transfer_cycles (the two transposes), other_cycles (launch latency and
** the rest), each phase's cycles, the PE-cycle split over the launch
** (the simulator's counters, summed over PEs): busy_frac (core running
** tasks), transfer_frac (router or microthread moving data while the core
** does not), idle_frac, and result_hash (52 bits of an FNV-1a hash of the
** result's bits). */
#include "common.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_A, S_B, S_Y, S_D, S_T1, S_T2, S_TW, S_ST, S_TS, S_COUNT };
enum { P_N, P_TW }; /* P_TW .. P_TW + n - 1: the twiddle table's words (fp32 bits) */
/* forward (east, south) and backward (west, north) colors, by sender parity */
enum { C_E0 = 1, C_W0 = 3, C_S0 = 5, C_N0 = 7 };
enum { T_FWD = 30, T_BWD = 31, T_KF = 32, T_KB = 33, T_NEXT = 34 };
/* st[] */
enum { ST_STAGE, ST_PARTS, ST_FD, ST_FSTEP, ST_BD, ST_BSTEP, ST_COUNT };
enum { STEP_OWN, STEP_RELAY, STEP_DONE };
/* ts[]: cycle stamps at the phase boundaries */
enum { TS_START, TS_FFTZ, TS_ROW, TS_FFTX, TS_COL, TS_FFTY, TS_COUNT };

/* ---- the kernel ----------------------------------------------------------------------------- */
static void stamp(wf_pe *pe, int k) {
    uint32_t *ts = wf_sym(pe, S_TS);
    ts[k] = (uint32_t)wf_pe_cycle(pe);
}

/* One n-point FFT of the line x (2n floats, interleaved), in place, on DSD
** ops (sync: the core is busy for their cycles). */
static void fft_line(wf_pe *pe, float *x) {
    uint32_t n = (uint32_t)wf_pe_param(pe, P_N), h = n / 2;
    float *y = wf_sym(pe, S_Y), *dd = wf_sym(pe, S_D), *t1 = wf_sym(pe, S_T1), *t2 = wf_sym(pe, S_T2);
    float *tw = wf_sym(pe, S_TW);
    float *src = x, *dst = y;
    wf_dsd T1 = wf_dsd_mem1d(pe, t1, h, 1, 4), T2 = wf_dsd_mem1d(pe, t2, h, 1, 4);
    wf_dsd dre = wf_dsd_mem1d(pe, dd, h, 2, 4), dim = wf_dsd_mem1d(pe, dd + 1, h, 2, 4);
    for (uint32_t l = h, m = 1; l >= 1; l /= 2, m *= 2) {
        wf_dsd a = wf_dsd_mem1d(pe, src, n, 1, 4), b = wf_dsd_mem1d(pe, src + n, n, 1, 4);
        /* y[k + 2 j m] (complex): 2m contiguous floats per j, j stride 4m floats */
        uint32_t len[2] = {2 * m, l};
        int32_t st[2] = {1, (int32_t)(4 * m)};
        wf_fadds(pe, wf_dsd_mem(pe, dst, 2, len, st, 4), a, b, WF_SYNC);
        if (l == 1) { /* w = 1 */
            wf_fsubs(pe, wf_dsd_mem(pe, dst + 2 * m, 2, len, st, 4), a, b, WF_SYNC);
        } else {
            wf_fsubs(pe, wf_dsd_mem1d(pe, dd, n, 1, 4), a, b, WF_SYNC);
            /* w_j = tw[j m], repeated for k < m (stride 0) */
            uint32_t wl[2] = {m, l}, yl[2] = {m, l};
            int32_t ws[2] = {0, (int32_t)(2 * m)}, ys[2] = {2, (int32_t)(4 * m)};
            wf_dsd wre = wf_dsd_mem(pe, tw, 2, wl, ws, 4), wim = wf_dsd_mem(pe, tw + 1, 2, wl, ws, 4);
            wf_dsd yre = wf_dsd_mem(pe, dst + 2 * m, 2, yl, ys, 4), yim = wf_dsd_mem(pe, dst + 2 * m + 1, 2, yl, ys, 4);
            wf_fmuls(pe, T1, dre, wre, WF_SYNC);
            wf_fmuls(pe, T2, dim, wim, WF_SYNC);
            wf_fsubs(pe, yre, T1, T2, WF_SYNC);
            wf_fmuls(pe, T1, dre, wim, WF_SYNC);
            wf_fmuls(pe, T2, dim, wre, WF_SYNC);
            wf_fadds(pe, yim, T1, T2, WF_SYNC);
        }
        float *t = src;
        src = dst;
        dst = t;
    }
    if (src != x) wf_fmovs(pe, wf_dsd_mem1d(pe, x, 2 * n, 1, 4), wf_dsd_mem1d(pe, src, 2 * n, 1, 4), WF_SYNC);
}

/* The transpose in progress, by st[ST_STAGE]: 1 = row (x-lines from the z
** pencils, A -> B, colors 1-4), 2 = column (y-lines, B -> A, colors 5-8). */
typedef struct {
    int p, n;
    float *src, *dst;
    int fin, fout, bin, bout; /* colors */
} tr_ctx;

static tr_ctx tr_get(wf_pe *pe) {
    int32_t *st = wf_sym(pe, S_ST);
    int col = st[ST_STAGE] == 2;
    tr_ctx c;
    c.n = (int)wf_pe_param(pe, P_N);
    c.p = col ? wf_pe_ry(pe) : wf_pe_rx(pe);
    c.src = wf_sym(pe, col ? S_B : S_A);
    c.dst = wf_sym(pe, col ? S_A : S_B);
    int f0 = col ? C_S0 : C_E0, b0 = col ? C_N0 : C_W0;
    c.fout = f0 + (c.p & 1);
    c.fin = f0 + ((c.p - 1) & 1);
    c.bout = b0 + (c.p & 1);
    c.bin = b0 + ((c.p + 1) & 1);
    return c;
}

/* One of the four parts of a transpose (two receives, two send chains) is done. */
static void part_done(wf_pe *pe) {
    int32_t *st = wf_sym(pe, S_ST);
    if (++st[ST_PARTS] < 4) return;
    stamp(pe, st[ST_STAGE] == 1 ? TS_ROW : TS_COL);
    wf_activate(pe, T_NEXT);
}

static wf_dsd own(wf_pe *pe, const tr_ctx *c, int d) { return wf_dsd_mem1d(pe, c->src + 2 * d, 2, 1, 4); }

static void tr_start(wf_pe *pe) {
    tr_ctx c = tr_get(pe);
    int32_t *st = wf_sym(pe, S_ST);
    int p = c.p, n = c.n;
    st[ST_PARTS] = 0;
    wf_fmovs(pe, wf_dsd_mem1d(pe, c.dst + 2 * p, 2, 1, 4), own(pe, &c, p), WF_SYNC);
    /* forward: receive sources 0..p-1 for d = p, then relay/own per d > p */
    if (p > 0)
        wf_fmovs(pe, wf_dsd_mem1d(pe, c.dst, 2u * p, 1, 4), wf_dsd_fabin(c.fin, 2u * p), wf_async_activate(T_KF));
    if (p == n - 1) {
        st[ST_FSTEP] = STEP_DONE;
    } else if (p == 0) { /* no relays: all own elements 1..n-1 in one op */
        st[ST_FSTEP] = STEP_DONE;
        wf_fmovs(pe, wf_dsd_fabout(c.fout, 2u * (n - 1)), wf_dsd_mem1d(pe, c.src + 2, 2u * (n - 1), 1, 4),
                 wf_async_activate(T_FWD));
    } else {
        st[ST_FD] = p + 1;
        st[ST_FSTEP] = STEP_OWN;
        wf_fmovs(pe, wf_dsd_fabout(c.fout, 2u * p), wf_dsd_fabin(c.fin, 2u * p), wf_async_activate(T_FWD));
    }
    /* backward: receive sources p+1..n-1 for d = p, then own/relay per d < p */
    if (p < n - 1)
        wf_fmovs(pe, wf_dsd_mem1d(pe, c.dst + 2 * (p + 1), 2u * (n - 1 - p), 1, 4),
                 wf_dsd_fabin(c.bin, 2u * (n - 1 - p)), wf_async_activate(T_KB));
    if (p == 0) {
        st[ST_BSTEP] = STEP_DONE;
    } else if (p == n - 1) { /* no relays: own elements p-1 down to 0 in one op */
        uint32_t len[2] = {2, (uint32_t)p};
        int32_t str[2] = {1, -2};
        st[ST_BSTEP] = STEP_DONE;
        wf_fmovs(pe, wf_dsd_fabout(c.bout, 2u * p), wf_dsd_mem(pe, c.src + 2 * (p - 1), 2, len, str, 4),
                 wf_async_activate(T_BWD));
    } else {
        st[ST_BD] = p - 1;
        st[ST_BSTEP] = STEP_RELAY;
        wf_fmovs(pe, wf_dsd_fabout(c.bout, 2), own(pe, &c, p - 1), wf_async_activate(T_BWD));
    }
    /* parts with nothing to wait for */
    if (p == 0) { /* no forward receive, no backward chain */
        part_done(pe);
        part_done(pe);
    }
    if (p == n - 1) { /* no backward receive, no forward chain */
        part_done(pe);
        part_done(pe);
    }
}

static void tr_fwd(wf_pe *pe, uint32_t d) {
    (void)d;
    tr_ctx c = tr_get(pe);
    int32_t *st = wf_sym(pe, S_ST);
    switch (st[ST_FSTEP]) {
    case STEP_DONE: part_done(pe); break;
    case STEP_OWN:
        wf_fmovs(pe, wf_dsd_fabout(c.fout, 2), own(pe, &c, st[ST_FD]), wf_async_activate(T_FWD));
        st[ST_FSTEP] = ++st[ST_FD] == c.n ? STEP_DONE : STEP_RELAY;
        break;
    default: /* relay the block for d = st[ST_FD]: sources 0..p-1 */
        wf_fmovs(pe, wf_dsd_fabout(c.fout, 2u * c.p), wf_dsd_fabin(c.fin, 2u * c.p), wf_async_activate(T_FWD));
        st[ST_FSTEP] = STEP_OWN;
    }
}

static void tr_bwd(wf_pe *pe, uint32_t d) {
    (void)d;
    tr_ctx c = tr_get(pe);
    int32_t *st = wf_sym(pe, S_ST);
    uint32_t k = 2u * (uint32_t)(c.n - 1 - c.p);
    switch (st[ST_BSTEP]) {
    case STEP_DONE: part_done(pe); break;
    case STEP_OWN:
        wf_fmovs(pe, wf_dsd_fabout(c.bout, 2), own(pe, &c, st[ST_BD]), wf_async_activate(T_BWD));
        st[ST_BSTEP] = STEP_RELAY;
        break;
    default: /* relay the block for d = st[ST_BD]: sources p+1..n-1 */
        wf_fmovs(pe, wf_dsd_fabout(c.bout, k), wf_dsd_fabin(c.bin, k), wf_async_activate(T_BWD));
        st[ST_BSTEP] = --st[ST_BD] < 0 ? STEP_DONE : STEP_OWN;
    }
}

static void tr_kept(wf_pe *pe, uint32_t d) {
    (void)d;
    part_done(pe);
}

/* After a transpose: the next 1-D FFT, then the next transpose. */
static void fft_next(wf_pe *pe, uint32_t d) {
    (void)d;
    int32_t *st = wf_sym(pe, S_ST);
    if (st[ST_STAGE] == 1) {
        fft_line(pe, wf_sym(pe, S_B));
        stamp(pe, TS_FFTX);
        st[ST_STAGE] = 2;
        tr_start(pe);
    } else {
        fft_line(pe, wf_sym(pe, S_A));
        stamp(pe, TS_FFTY);
        st[ST_STAGE] = 3;
    }
}

static void fft_go(wf_pe *pe, uint32_t d) {
    (void)d;
    int32_t *st = wf_sym(pe, S_ST);
    stamp(pe, TS_START);
    fft_line(pe, wf_sym(pe, S_A));
    stamp(pe, TS_FFTZ);
    st[ST_STAGE] = 1;
    tr_start(pe);
}

/* The twiddle table W_n^t, t < n/2 (interleaved), from the region's
** parameters: initialised data of the program image, 0 cycles. */
static void fft_init(wf_pe *pe) {
    int n = (int)wf_pe_param(pe, P_N);
    float *tw = wf_sym(pe, S_TW);
    for (int i = 0; i < n; i++) tw[i] = wf_pe_param_f32(pe, P_TW + i);
}

static const wf_symbol_decl fft_syms[S_COUNT] = {{"A", 4},  {"B", 4},  {"Y", 4},  {"D", 4},   {"T1", 4},
                                                 {"T2", 4}, {"tw", 4}, {"st", 4}, {"ts", 4}};
static const wf_task_decl fft_tasks[] = {{T_FWD, WF_TASK_LOCAL, tr_fwd, 0, "forward chain"},
                                         {T_BWD, WF_TASK_LOCAL, tr_bwd, 0, "backward chain"},
                                         {T_KF, WF_TASK_LOCAL, tr_kept, 0, "got forward"},
                                         {T_KB, WF_TASK_LOCAL, tr_kept, 0, "got backward"},
                                         {T_NEXT, WF_TASK_LOCAL, fft_next, 0, "next FFT"}};
static const wf_export_decl fft_exports[] = {{"fft", fft_go}};
static const wf_kernel fft_kernel = {"fft3d", fft_syms, S_COUNT, fft_tasks, 5, fft_exports, 1, fft_init};

/* ---- host --------------------------------------------------------------------------------------- */
static inline float x_at(uint64_t seed, uint64_t i) {
    uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return (float)(int32_t)(h >> 40 & 0xffffff) / 8388608.0f - 1.0f; /* [-1, 1) */
}

/* Routes of one line of n PEs along x (row) or y (column), for all lines. */
static wf_status line_routes(wf_layout *l, int n, int col, wf_err *e) {
    unsigned fwd = col ? WF_S : WF_E, bwd = col ? WF_N : WF_W;
    int f0 = col ? C_S0 : C_E0, b0 = col ? C_N0 : C_W0;
    wf_route to_f = wf_route_simple(WF_RAMP, fwd), from_b = wf_route_simple(bwd, WF_RAMP);
    wf_route to_b = wf_route_simple(WF_RAMP, bwd), from_f = wf_route_simple(fwd, WF_RAMP);
    for (int p = 0; p < n; p++) {
        int x = col ? 0 : p, y = col ? p : 0, w = col ? n : 1, h = col ? 1 : n;
        if (p < n - 1 && (wf_layout_route(l, x, y, w, h, f0 + (p & 1), &to_f, e) ||
                          wf_layout_route(l, x, y, w, h, b0 + ((p + 1) & 1), &from_f, e)))
            return e->code;
        if (p > 0 && (wf_layout_route(l, x, y, w, h, b0 + (p & 1), &to_b, e) ||
                      wf_layout_route(l, x, y, w, h, f0 + ((p - 1) & 1), &from_b, e)))
            return e->code;
    }
    return WF_OK;
}

int main(int argc, char **argv) {
    const char *prog = "fft";
    double t0 = wf_now();
    int64_t n = 32, seed = 1, check = 1, inverse = 0;
    wf_ex_flag flags[] = {{"n", WF_EX_INT, &n, "grid side: n^3 points on n x n PEs (power of two, 4..512)"},
                          {"seed", WF_EX_INT, &seed, "input seed (values uniform in [-1,1))"},
                          {"check", WF_EX_INT, &check, "1: compare with FFTW (fftwf_plan_dft_3d); 0: skip"},
                          {"inverse", WF_EX_INT, &inverse, "1: backward transform (unnormalised, FFTW_BACKWARD)"}};
    wf_ex_opts o;
    wf_err e = {0};
    int help;
    if (wf_ex_parse(argc, argv, prog, flags, 4, &o, &help, &e)) return wf_ex_fail(prog, NULL, &e);
    if (help) return 0;
    if (n < 4 || n > 512 || (n & (n - 1))) {
        WF_FAIL(&e, WF_EUSAGE, "sizes: n %lld: need a power of two, 4 <= n <= 512", (long long)n);
        return wf_ex_fail(prog, NULL, &e);
    }
    if ((check != 0 && check != 1) || (inverse != 0 && inverse != 1)) {
        WF_FAIL(&e, WF_EUSAGE, "--check %lld, --inverse %lld: each is 0 or 1", (long long)check, (long long)inverse);
        return wf_ex_fail(prog, NULL, &e);
    }
    int N = (int)n;
    int64_t *params = NULL;
    wf_layout *l = NULL;
    wf_host *h = NULL;
    float *buf = NULL, *out = NULL;
    int rc = 1;
    size_t line = 2 * (size_t)N, tot = line * (size_t)N * N; /* floats */
    params = wf_alloc(NULL, (size_t)(P_TW + N) * sizeof *params, "fft params", &e);
    if (!params) goto fail;
    params[P_N] = n;
    for (int t = 0; t < N / 2; t++) { /* W_n^t = exp(-+2 pi i t / n), rounded once from double */
        double ang = -2.0 * 3.14159265358979323846 * t / N * (inverse ? -1 : 1);
        params[P_TW + 2 * t] = wf_param_f32((float)cos(ang));
        params[P_TW + 2 * t + 1] = wf_param_f32((float)sin(ang));
    }
    {
        uint32_t lb = (uint32_t)line * 4;
        uint32_t sym_bytes[S_COUNT] = {lb, lb, lb, lb / 2, lb / 4, lb / 4, lb / 2, 4 * ST_COUNT, 4 * TS_COUNT};
        wf_code_opts co = {params, P_TW + N, sym_bytes};
        if (wf_layout_new(N, N, &l, &e) || wf_layout_code(l, 0, 0, N, N, &fft_kernel, &co, &e)) goto fail;
    }
    if (line_routes(l, N, 0, &e) || line_routes(l, N, 1, &e)) goto fail;
    if (wf_ex_host_new(&o, l, &h, &e)) goto fail;
    if (wf_ex_diag_begin(&o, h, &e)) goto fail;
    /* buf in memcpy order [py][px][2n]: PE (i,j) holds x[i][j][:], so buf is
    ** x with its first two axes swapped: x'[j][i][k] */
    buf = wf_alloc(NULL, tot * sizeof *buf, "fft grid", &e);
    out = wf_alloc(NULL, tot * sizeof *out, "fft result", &e);
    if (!buf || !out) goto fail;
    for (size_t i = 0; i < tot; i++) buf[i] = x_at((uint64_t)seed, i);
    uint64_t io = 0, compute = 0;
    wf_memcpy m = {"A", 0, 0, 0, N, N, (uint32_t)line, 0, 4, WF_ROW_MAJOR};
    if (wf_ex_h2d(h, &m, buf, &io, &e)) goto fail;
    if (wf_ex_launch(&o, h, "fft", &compute, &e)) goto fail;
    if (wf_ex_d2h(h, &m, out, &io, &e)) goto fail;
    if (wf_ex_diag_end(&o, h, &e)) goto fail;

    /* the phase split: per-PE stamps read from SRAM (no cycles charged) and
    ** the PE-cycle counters */
    wf_fabric *f = wf_host_fabric(h);
    uint64_t t_first = UINT64_MAX, t_end[TS_COUNT] = {0};
    double busy = 0, active = 0;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            uint32_t addr, bytes, lo, hi;
            uint8_t *s = wf_fabric_sram(f, x, y, &lo, &hi, &e);
            if (!s || wf_fabric_symbol(f, x, y, "ts", &addr, &bytes) < 0) goto fail;
            const uint32_t *ts = (const uint32_t *)(s + (addr - lo));
            if (ts[TS_START] < t_first) t_first = ts[TS_START];
            for (int k = 1; k < TS_COUNT; k++)
                if (ts[k] > t_end[k]) t_end[k] = ts[k];
            wf_pe_stats ps;
            wf_fabric_pe_stats(f, x, y, &ps);
            busy += (double)ps.busy;
            active += (double)ps.active;
        }
    double ph[TS_COUNT] = {0};
    ph[TS_FFTZ] = (double)(t_end[TS_FFTZ] - t_first);
    for (int k = TS_ROW; k < TS_COUNT; k++) ph[k] = (double)t_end[k] - (double)t_end[k - 1];
    double fft_cyc = ph[TS_FFTZ] + ph[TS_FFTX] + ph[TS_FFTY], xfer_cyc = ph[TS_ROW] + ph[TS_COL];
    double pe_window = (double)N * N * (double)compute;

    /* FFTW on buf in place: the transform of x' is X'[b][a][c] = X[a][b][c].
    ** The wafer's result: PE (c,a) holds X[a][:][c], i.e. out[(a n + c) n + b]. */
    double rel = 0, mx_rel = 0, mxd = 0, tol = FLT_EPSILON * 3.0 * log2((double)N);
    uint64_t bad = 0;
    if (check) {
        fftwf_plan plan = fftwf_plan_dft_3d(N, N, N, (fftwf_complex *)buf, (fftwf_complex *)buf,
                                            inverse ? FFTW_BACKWARD : FFTW_FORWARD, FFTW_ESTIMATE);
        if (!plan) {
            WF_FAIL(&e, WF_ENOMEM, "fftwf_plan_dft_3d(%d, %d, %d) failed", N, N, N);
            goto fail;
        }
        fftwf_execute(plan);
        fftwf_destroy_plan(plan);
        double num = 0, den = 0, mxx = 0;
        for (size_t a = 0; a < (size_t)N; a++)
            for (size_t b = 0; b < (size_t)N; b++)
                for (size_t c = 0; c < (size_t)N; c++) {
                    const float *r = buf + 2 * ((b * N + a) * N + c), *g = out + 2 * ((a * N + c) * N + b);
                    double dr = (double)g[0] - r[0], di = (double)g[1] - r[1];
                    double d2 = dr * dr + di * di, x2 = (double)r[0] * r[0] + (double)r[1] * r[1];
                    num += d2;
                    den += x2;
                    if (sqrt(d2) > mxd || d2 != d2) mxd = sqrt(d2);
                    if (x2 > mxx) mxx = x2;
                }
        rel = den > 0 ? sqrt(num / den) : sqrt(num);
        mx_rel = mxx > 0 ? mxd / sqrt(mxx) : mxd;
        /* values off by more than the tolerance times the largest |X| (for the message) */
        for (size_t a = 0; a < (size_t)N && mxx > 0; a++)
            for (size_t b = 0; b < (size_t)N; b++)
                for (size_t c = 0; c < (size_t)N; c++) {
                    const float *r = buf + 2 * ((b * N + a) * N + c), *g = out + 2 * ((a * N + c) * N + b);
                    if (hypot((double)g[0] - r[0], (double)g[1] - r[1]) > tol * sqrt(mxx) || g[0] != g[0])
                        bad++;
                }
    }
    wf_ex_result res;
    memset(&res, 0, sizeof res);
    res.example = "fft";
    snprintf(res.params, sizeof res.params, "\"n\":%d,\"seed\":%lld,\"inverse\":%d,\"check\":%d", N,
             (long long)seed, inverse ? 1 : 0, check ? 1 : 0);
    res.cycles = wf_host_cycles(h);
    res.compute_cycles = compute;
    res.io_cycles = io;
    res.ok = !check || (rel <= tol && rel == rel);
    res.max_abs_diff = mxd;
    wf_ex_extra(&res, "rel_l2_err", rel);
    wf_ex_extra(&res, "max_err_rel", mx_rel);
    wf_ex_extra(&res, "tolerance", tol);
    wf_ex_extra(&res, "fft_cycles", fft_cyc);
    wf_ex_extra(&res, "transfer_cycles", xfer_cyc);
    wf_ex_extra(&res, "other_cycles", (double)compute - fft_cyc - xfer_cyc);
    wf_ex_extra(&res, "fft_z_cycles", ph[TS_FFTZ]);
    wf_ex_extra(&res, "row_transpose_cycles", ph[TS_ROW]);
    wf_ex_extra(&res, "fft_x_cycles", ph[TS_FFTX]);
    wf_ex_extra(&res, "col_transpose_cycles", ph[TS_COL]);
    wf_ex_extra(&res, "fft_y_cycles", ph[TS_FFTY]);
    wf_ex_extra(&res, "busy_frac", busy / pe_window);
    wf_ex_extra(&res, "transfer_frac", (active - busy) / pe_window);
    wf_ex_extra(&res, "idle_frac", 1.0 - active / pe_window);
    wf_ex_extra(&res, "flops", 5.0 * (double)N * N * N * 3.0 * log2((double)N));
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a of the result's bits: equal runs, equal bits */
    for (size_t i = 0; i < tot; i++) hash = (hash ^ wf_f32_bits(out[i])) * 0x100000001b3ull;
    wf_ex_extra(&res, "result_hash", (double)(hash >> 12)); /* 52 bits: exact in a double */
    res.wall_s = wf_now() - t0;
    res.mismatches = rel <= tol ? 0 : bad;
    res.outputs = (uint64_t)N * N * N;
    rc = wf_ex_report(&o, h, &res);
    if (rc == 2)
        fprintf(stderr, "fft: relative L2 error %.3g exceeds the tolerance %.3g (FLT_EPSILON * log2(n^3))\n", rel,
                tol);
    goto done;
fail:
    rc = wf_ex_fail(prog, h, &e);
done:
    wf_ex_diag_free(&o);
    wf_free(NULL, params);
    wf_free(NULL, buf);
    wf_free(NULL, out);
    wf_host_free(h);
    wf_layout_free(l);
    return rc;
}
