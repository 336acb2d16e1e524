/* test_fastpath.c — the simulator's fast paths (sleeping blocked routers,
** sleeping receives, cut-through delivery into a waiting receive) against
** the reference mode that steps everything every cycle: on heavy, uneven
** traffic with back-pressure, both give the same cycles, counters and data.
** The same holds for the cut of the rows into bands (fabric/bands.c: 2-row
** bands on one thread, 8-row ones on several), also when a run paused on one
** thread count goes on with the other and its state moves between cuts, and
** for the router's fast path (forward_fast in fabric/router.c), which a trace
** turns off: traced and untraced runs must agree. The grid and the reduce
** chain run under six cost tables (cost_variant), since the shortcuts
** depend on the latencies and queue depths. */
#include "../../sdk/sdk.h"
#include "../check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CE = 1, CS = 2, T_DONE = 40, K = 24 };
enum { S_SRC, S_DST, S_LOG };
static const wf_symbol_decl syms[] = {{"src", 4 * K}, {"dst", 4 * K}, {"log", 64}};

static void go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *src = wf_sym(pe, S_SRC), *dst = wf_sym(pe, S_DST);
    int x = wf_pe_x(pe), y = wf_pe_y(pe);
    for (int i = 0; i < K; i++) src[i] = (float)(x * 100 + y * 10 + i);
    if (x == 0) wf_fmovs(pe, wf_dsd_fabout(CE, K), wf_dsd_mem1d(pe, src, K, 1, 4), wf_async_none());
    if (y == 0) wf_fmovs(pe, wf_dsd_fabout(CS, K), wf_dsd_mem1d(pe, src, K, 1, 4), wf_async_none());
    else /* receive the column's stream, alternating slow adds and moves */
        wf_fadds(pe, wf_dsd_mem1d(pe, dst, K, 1, 4), wf_dsd_mem1d(pe, dst, K, 1, 4), wf_dsd_fabin(CS, K),
                 wf_async_activate(T_DONE));
}
/* data task on the row stream: uneven cost per PE -> back-pressure upstream */
static void row_data(wf_pe *pe, uint32_t d) {
    uint32_t *log = wf_sym(pe, S_LOG);
    log[0]++;
    log[1] += d;
    log[2] = (uint32_t)wf_pe_cycle(pe);
    wf_pe_charge(pe, (uint32_t)((wf_pe_x(pe) * 7 + wf_pe_y(pe) * 3) % 11));
}
static void done(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *log = wf_sym(pe, S_LOG);
    log[3] = (uint32_t)wf_pe_cycle(pe);
}
static const wf_task_decl tasks[] = {{CE, WF_TASK_DATA, row_data, 0, "row"}, {T_DONE, WF_TASK_LOCAL, done, 0, "done"}};
static const wf_export_decl ex[] = {{"go", go}};
static const wf_kernel k = {"mix", syms, 3, tasks, 2, ex, 1, NULL};

enum { MAXW = 8, MAXH = 20 };
typedef struct {
    uint64_t cycles;
    wf_fabric_stats fs;
    uint32_t logs[MAXW][MAXH][16];
    float dst[MAXW][MAXH][K];
    wf_pe_stats ps[MAXW][MAXH];
} outcome;

static char snap_path[128]; /* the pauses' checkpoint file */
static int traced;          /* run with a trace on every PE (the router's general path only) */
static uint64_t trace_events;
static void count_event(void *ud, const wf_trace_event *ev) {
    (void)ev;
    ++*(uint64_t *)ud;
}

/* Cost tables the fast paths are checked under: their shortcuts depend on
** the latencies (cut-through lands at now + ramp_latency, an output queue's
** room depends on op_latency, a stream needs router_depth >= hop_latency + 1
** for full rate). 0 is the default table. */
enum { NCOST = 6 };
static wf_cost_model cost_variant(int v) {
    wf_cost_model cm = wf_cost_wse2;
    switch (v) {
    case 1: cm.hop_latency = 2; break;                       /* streams below full rate */
    case 2: cm.hop_latency = 2; cm.router_depth = 3; break; /* full rate at 2-cycle hops */
    case 3: cm.ramp_latency = 2; break;
    case 4: cm.op_latency = 0; break;                        /* out_room sees this cycle's pops */
    case 5: cm.op_latency = 2; cm.router_depth = 1; cm.oq_depth[0] = cm.oq_depth[1] = 1; break;
    default: break;
    }
    return cm;
}

/* The program on W x H PEs (reference mode or not, cost table cv of
** cost_variant) on `threads` threads; when pause_at, paused there (a
** checkpoint) and continued in the same fabric on `then` threads. */
static void run_cut(int W, int H, int ref, int cv, int threads, uint64_t pause_at, int then, outcome *o) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(W, H, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, W, H, &k, NULL, &e), WF_OK);
    wf_route e0 = wf_route_simple(WF_RAMP, WF_E), em = wf_route_simple(WF_W, WF_RAMP | WF_E),
             el = wf_route_simple(WF_W, WF_RAMP);
    wf_route s0 = wf_route_simple(WF_RAMP, WF_S), sm = wf_route_simple(WF_N, WF_RAMP | WF_S),
             sl = wf_route_simple(WF_N, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, H, CE, &e0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, W - 2, H, CE, &em, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, W - 1, 0, 1, H, CE, &el, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, W, 1, CS, &s0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, 1, W, H - 2, CS, &sm, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 0, H - 1, W, 1, CS, &sl, &e), WF_OK);
    wf_cost_model cm = cost_variant(cv);
    wf_host_opts ho = {&cm, NULL, 0, threads, NULL};
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
    wf_fabric *f = wf_host_fabric(h);
    wf_fabric_set_reference_mode(f, ref);
    if (traced) {
        wf_trace_window all = {0, 0, W, H, 0, 0};
        wf_fabric_set_trace(f, count_event, &trace_events, &all);
    }
    uint64_t t0 = wf_host_cycles(h);
    if (pause_at) {
        wf_checkpoint c = {snap_path, 0, t0 + pause_at, NULL, NULL};
        WF_CHECK_EQ(wf_fabric_set_checkpoint(f, &c, &e), WF_OK);
        WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EINTR);
        WF_CHECK_EQ(wf_fabric_set_threads(f, then, &e), WF_OK);
        WF_CHECK_EQ(wf_fabric_run(f, 0, &e), WF_OK);
        remove(snap_path);
    } else {
        WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    }
    o->cycles = wf_host_cycles(h) - t0;
    wf_fabric_read_stats(wf_host_fabric(h), &o->fs);
    o->fs.wall_s = 0;
    o->fs.steps = 0; /* the work done differs, by design */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            wf_memcpy m = {"log", 0, x, y, 1, 1, 16, 0, 4, WF_ROW_MAJOR};
            WF_CHECK_EQ(wf_host_d2h(h, &m, o->logs[x][y], &e), WF_OK);
            wf_memcpy md = {"dst", 0, x, y, 1, 1, K, 0, 4, WF_ROW_MAJOR};
            WF_CHECK_EQ(wf_host_d2h(h, &md, o->dst[x][y], &e), WF_OK);
            wf_fabric_pe_stats(f, x, y, &o->ps[x][y]);
            o->ps[x][y].stalled = 0; /* sleeping routers count stalls when woken: compare the rest */
            o->ps[x][y].idle = 0;
        }
    wf_host_free(h);
    wf_layout_free(l);
}

static void run(int W, int H, int ref, int cv, outcome *o) { run_cut(W, H, ref, cv, 1, 0, 1, o); }

static int same(const outcome *a, const outcome *b) {
    int ok = a->cycles == b->cycles && a->fs.hops == b->fs.hops && a->fs.busy == b->fs.busy &&
             a->fs.active == b->fs.active && a->fs.tasks == b->fs.tasks && a->fs.ops == b->fs.ops;
    ok = ok && !memcmp(a->logs, b->logs, sizeof a->logs) && !memcmp(a->dst, b->dst, sizeof a->dst);
    return ok && !memcmp(a->ps, b->ps, sizeof a->ps);
}

static void bands_change_nothing(void) {
    static outcome a, b;
    memset(&a, 0, sizeof a);
    run_cut(MAXW, MAXH, 0, 0, 1, 0, 1, &a); /* 10 bands of 2 rows */
    WF_CHECK(a.cycles > 100 + K * 10 && a.logs[MAXW - 1][MAXH - 1][0] == K);
    WF_CHECK_FEQ(a.dst[3][MAXH - 1][7], (float)(3 * 100 + 7));
    for (int t = 2; t <= 3; t++) { /* 2 bands of 10 rows */
        memset(&b, 0, sizeof b);
        run_cut(MAXW, MAXH, 0, 0, t, 0, t, &b);
        WF_CHECK(same(&a, &b));
    }
    /* paused in the launch, the streams and tasks in flight, then the other cut */
    for (uint64_t at = 110; at < a.cycles; at += a.cycles / 5)
        for (int t = 1; t <= 2; t++) {
            memset(&b, 0, sizeof b);
            run_cut(MAXW, MAXH, 0, 0, t, at, 3 - t, &b);
            if (!same(&a, &b)) {
                fprintf(stderr, "paused at %llu on %d thread(s), on %d after: cycles %llu against %llu\n",
                        (unsigned long long)at, t, 3 - t, (unsigned long long)b.cycles,
                        (unsigned long long)a.cycles);
                WF_CHECK(0);
            }
        }
}

static void fast_paths_change_nothing(void) {
    static outcome a, b;
    for (int cv = 0; cv < NCOST; cv++) {
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        run(8, 7, 0, cv, &a);
        run(8, 7, 1, cv, &b);
        if (!same(&a, &b)) fprintf(stderr, "cost table %d: fast and reference modes differ\n", cv);
        WF_CHECK_EQ(a.cycles, b.cycles);
        WF_CHECK_EQ(a.fs.hops, b.fs.hops);
        WF_CHECK_EQ(a.fs.busy, b.fs.busy);
        WF_CHECK_EQ(a.fs.active, b.fs.active);
        WF_CHECK(memcmp(a.logs, b.logs, sizeof a.logs) == 0);
        WF_CHECK(memcmp(a.dst, b.dst, sizeof a.dst) == 0);
        WF_CHECK(memcmp(a.ps, b.ps, sizeof a.ps) == 0);
        for (int x = 0; x < 8; x++)
            for (int y = 0; y < 7; y++)
                if (memcmp(&a.ps[x][y], &b.ps[x][y], sizeof a.ps[x][y]))
                    fprintf(stderr, "PE(%d,%d): active %llu vs %llu, busy %llu %llu hops %llu %llu\n", x, y,
                            (unsigned long long)a.ps[x][y].active, (unsigned long long)b.ps[x][y].active,
                            (unsigned long long)a.ps[x][y].busy, (unsigned long long)b.ps[x][y].busy,
                            (unsigned long long)a.ps[x][y].hops, (unsigned long long)b.ps[x][y].hops);
        /* and the traffic really was uneven: the row ends got everything */
        WF_CHECK_EQ(a.logs[7][3][0], K);
        WF_CHECK_FEQ(a.dst[2][6][5], (float)(2 * 100 + 5));
        WF_CHECK(a.cycles > 100 + K * 10);
    }
}

/* A reduce chain along a row (fabric-in -> fabric-out adds on alternating
** colors 3/4) into a slow last PE: every middle op spends time asleep on a
** full output queue. */
enum { CA = 3, CB = 4 };
static void chain_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *src = wf_sym(pe, S_SRC);
    int x = wf_pe_x(pe), W = wf_pe_rw(pe);
    for (int i = 0; i < K; i++) src[i] = (float)(x + i);
    int cout = CA + (x & 1), cin = CA + ((x + 1) & 1);
    wf_dsd m = wf_dsd_mem1d(pe, src, K, 1, 4);
    if (x == 0) wf_fmovs(pe, wf_dsd_fabout(cout, K), m, wf_async_none());
    else if (x < W - 1) wf_fadds(pe, wf_dsd_fabout(cout, K), m, wf_dsd_fabin(cin, K), wf_async_activate(T_DONE));
}
static void chain_end(wf_pe *pe, uint32_t d) {
    uint32_t *log = wf_sym(pe, S_LOG);
    log[0]++;
    log[1] += d;
    wf_pe_charge(pe, 9);
}
static const wf_task_decl chain_tasks[] = {{CA, WF_TASK_DATA, chain_end, 0, "endA"},
                                           {CB, WF_TASK_DATA, chain_end, 0, "endB"},
                                           {T_DONE, WF_TASK_LOCAL, done, 0, "done"}};
static const wf_export_decl chain_ex[] = {{"go", chain_go}};
static const wf_kernel chain = {"chain", syms, 3, chain_tasks, 3, chain_ex, 1, NULL};

static void chain_run(int ref, int cv, uint64_t *cycles, uint32_t logs[6][16], wf_pe_stats ps[6]) {
    int W = 6;
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(W, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, W, 1, &chain, NULL, &e), WF_OK);
    for (int i = 0; i < W; i++) {
        wf_route snd = wf_route_simple(WF_RAMP, WF_E), rcv = wf_route_simple(WF_W, WF_RAMP);
        if (i + 1 < W) WF_CHECK_EQ(wf_layout_route(l, i, 0, 1, 1, CA + (i & 1), &snd, &e), WF_OK);
        if (i > 0) WF_CHECK_EQ(wf_layout_route(l, i, 0, 1, 1, CA + ((i + 1) & 1), &rcv, &e), WF_OK);
    }
    wf_cost_model cm = cost_variant(cv);
    wf_host_opts ho = {&cm, NULL, 0, 1, NULL};
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
    wf_fabric_set_reference_mode(wf_host_fabric(h), ref);
    if (traced) {
        wf_trace_window all = {0, 0, W, 1, 0, 0};
        wf_fabric_set_trace(wf_host_fabric(h), count_event, &trace_events, &all);
    }
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    *cycles = wf_host_cycles(h) - t0;
    for (int x = 0; x < W; x++) {
        wf_memcpy m = {"log", 0, x, 0, 1, 1, 16, 0, 4, WF_ROW_MAJOR};
        WF_CHECK_EQ(wf_host_d2h(h, &m, logs[x], &e), WF_OK);
        wf_fabric_pe_stats(wf_host_fabric(h), x, 0, &ps[x]);
        ps[x].stalled = 0; /* counted when a sleeping router wakes: the paths may differ */
        ps[x].idle = 0;
    }
    wf_host_free(h);
    wf_layout_free(l);
}

static void reduce_chain_under_back_pressure_matches(void) {
    uint64_t ca, cb;
    static uint32_t la[6][16], lb[6][16];
    static wf_pe_stats pa[6], pb[6];
    /* element i reaching the end: sum over x = 0..4 of (x + i) */
    uint32_t want = 0;
    for (int i = 0; i < K; i++) want += wf_f32_bits((float)(10 + 5 * i));
    for (int cv = 0; cv < NCOST; cv++) {
        chain_run(0, cv, &ca, la, pa);
        chain_run(1, cv, &cb, lb, pb);
        if (ca != cb || memcmp(la, lb, sizeof la) || memcmp(pa, pb, sizeof pa))
            fprintf(stderr, "reduce chain, cost table %d: fast and reference modes differ\n", cv);
        WF_CHECK_EQ(ca, cb);
        WF_CHECK(memcmp(la, lb, sizeof la) == 0);
        WF_CHECK(memcmp(pa, pb, sizeof pa) == 0);
        WF_CHECK_EQ(la[5][0], K);
        WF_CHECK_EQ(la[5][1], want);
        WF_CHECK(ca > (uint64_t)K * 11); /* paced by the slow end */
    }
}

/* The router's fast path against its general path: a trace (on every PE,
** every cycle) turns the fast path off; everything else must agree, on the
** uneven grid (every cost table, 1 and 2 threads) and on the reduce chain
** under back-pressure. */
static void router_fast_path_matches_general(void) {
    static outcome a, b;
    for (int cv = 0; cv < NCOST; cv++)
        for (int t = 1; t <= 2; t++) {
            memset(&a, 0, sizeof a);
            memset(&b, 0, sizeof b);
            run_cut(8, 7, 0, cv, t, 0, t, &a);
            traced = 1;
            trace_events = 0;
            run_cut(8, 7, 0, cv, t, 0, t, &b);
            traced = 0;
            WF_CHECK(trace_events > (uint64_t)a.fs.hops); /* it really traced: a hop event per hop at least */
            if (!same(&a, &b)) fprintf(stderr, "cost table %d, %d thread(s): traced and untraced differ\n", cv, t);
            WF_CHECK(same(&a, &b));
        }
    uint64_t ca, cb;
    static uint32_t la[6][16], lb[6][16];
    static wf_pe_stats pa[6], pb[6];
    for (int cv = 0; cv < NCOST; cv++) {
        chain_run(0, cv, &ca, la, pa);
        traced = 1;
        chain_run(0, cv, &cb, lb, pb);
        traced = 0;
        WF_CHECK_EQ(ca, cb);
        WF_CHECK(memcmp(la, lb, sizeof la) == 0);
        WF_CHECK(memcmp(pa, pb, sizeof pa) == 0);
        WF_CHECK_EQ(la[5][0], K);
    }
}

int main(void) {
    snprintf(snap_path, sizeof snap_path, "/tmp/wf_test_fastpath_%d.snap", (int)getpid());
    setenv("WF_FABRIC_PAR_MIN", "1", 1); /* several threads split even this small fabric's cycles */
    fast_paths_change_nothing();
    bands_change_nothing();
    reduce_chain_under_back_pressure_matches();
    router_fast_path_matches_general();
    return wf_check_report();
}
