/* test_host.c — the host runtime end to end: memcpy into a PE's symbol, a
** launched task that adds, memcpy back; a 2-PE wavelet send/receive. */
#include "../../sdk/sdk.h"
#include "../check.h"

enum { S_A, S_B, S_N };
static const wf_symbol_decl add_syms[] = {{"A", 16}, {"B", 16}};

static void add_run(wf_pe *pe, uint32_t data) {
    (void)data;
    float *a = wf_sym(pe, S_A), *b = wf_sym(pe, S_B);
    wf_dsd da = wf_dsd_mem1d(pe, a, 4, 1, 4), db = wf_dsd_mem1d(pe, b, 4, 1, 4);
    wf_fadds(pe, da, da, db, WF_SYNC);
}
static const wf_export_decl add_exp[] = {{"run", add_run}};
static const wf_kernel add_kernel = {"add", add_syms, 2, NULL, 0, add_exp, 1, NULL};

static void memcpy_add_memcpy_back(void) {
    wf_err e = {0};
    wf_layout *l = NULL;
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &add_kernel, NULL, &e), WF_OK);
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    float a[4] = {1, 2, 3, 4}, b[4] = {10, 20, 30, 40}, out[4] = {0};
    wf_memcpy m = {"A", 0, 1, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m, a, &e), WF_OK);
    uint64_t c0 = wf_host_cycles(h);
    /* setup 100 + (x+w)=2 hops + max(4, ceil(4/44)) = 106 */
    WF_CHECK_EQ(c0, 106);
    m.symbol = "B";
    WF_CHECK_EQ(wf_host_h2d(h, &m, b, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "run", &e), WF_OK);
    /* launch latency 100 + task switch 2 + fadds setup 1 + ceil(4/2) + bank
    ** conflict ceil(4/2) (A and B both start in bank 0) = 107 */
    WF_CHECK_EQ(wf_host_cycles(h), 2 * 106 + 107);
    m.symbol = "A";
    WF_CHECK_EQ(wf_host_d2h(h, &m, out, &e), WF_OK);
    for (int i = 0; i < 4; i++) WF_CHECK_FEQ(out[i], a[i] + b[i]);
    wf_pe_stats ps;
    wf_fabric_pe_stats(wf_host_fabric(h), 1, 0, &ps);
    WF_CHECK_EQ(ps.busy, 7);
    WF_CHECK_EQ(ps.tasks, 1);
    WF_CHECK_EQ(ps.ops, 1);
    wf_host_free(h);
    wf_layout_free(l);
}

/* ---- two PEs: PE(0,0) sends n floats east on color 3, PE(1,0) receives ---- */
enum { C = 3, T_DONE = 30 };
static const wf_symbol_decl xfer_syms[] = {{"buf", 64}, {"done", 4}};
static void send_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *x = wf_sym(pe, 0);
    wf_fmovs(pe, wf_dsd_fabout(C, 16), wf_dsd_mem1d(pe, x, 16, 1, 4), wf_async_none());
}
static void recv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *y = wf_sym(pe, 0);
    wf_fmovs(pe, wf_dsd_mem1d(pe, y, 16, 1, 4), wf_dsd_fabin(C, 16), wf_async_activate(T_DONE));
}
static void recv_done(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *done = wf_sym(pe, 1);
    *done = (uint32_t)wf_pe_cycle(pe);
}
static const wf_export_decl send_exp[] = {{"go", send_go}};
static const wf_export_decl recv_exp[] = {{"go", recv_go}};
static const wf_task_decl recv_tasks[] = {{T_DONE, WF_TASK_LOCAL, recv_done, 0, "done"}};
static const wf_kernel send_k = {"send", xfer_syms, 2, NULL, 0, send_exp, 1, NULL};
static const wf_kernel recv_k = {"recv", xfer_syms, 2, recv_tasks, 1, recv_exp, 1, NULL};

static void two_pe_send_receive(void) {
    wf_err e = {0};
    wf_layout *l = NULL;
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &send_k, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &recv_k, NULL, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    float x[16], y[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i * 1.5f - 3;
    wf_memcpy m = {"buf", 0, 0, 0, 1, 1, 16, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m, x, &e), WF_OK);
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    m.x = 1;
    WF_CHECK_EQ(wf_host_d2h(h, &m, y, &e), WF_OK);
    for (int i = 0; i < 16; i++) WF_CHECK_EQ(wf_f32_bits(y[i]), wf_f32_bits(x[i]));
    uint32_t done = 0;
    wf_memcpy md = {"done", 0, 1, 0, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &md, &done, &e), WF_OK);
    /* launch at t0+100; send op starts at +2 (switch) +1 (setup) = t0+103 and computes
    ** element k at t0+103+k; it enters the output queue at +104+k (op_latency 1), ready
    ** for router(0,0) at t0+105+k; it reaches (1,0)'s buffer ready at t0+106+k, which
    ** forwards into the input queue (ready t0+107+k); the receive op pops element 15 at
    ** t0+122 and activates DONE at that cycle; DONE runs at t0+122, its cycle after
    ** switch = +2. */
    WF_CHECK_EQ(done, t0 + 122 + 2);
    /* active PE-cycles: sender = 3 busy + elements at +103..+118 and router forwards at
    ** +105..+120 (18 distinct cycles); receiver = 3 + 2 busy + router forwards at
    ** +106..+121 and receive elements at +107..+122 (17 distinct), of which +122
    ** is also DONE's first busy cycle and counts once: 16 */
    wf_pe_stats s0, s1;
    wf_fabric_pe_stats(wf_host_fabric(h), 0, 0, &s0);
    wf_fabric_pe_stats(wf_host_fabric(h), 1, 0, &s1);
    WF_CHECK_EQ(s0.active, 3 + 18);
    WF_CHECK_EQ(s1.active, 5 + 16);
    wf_fabric_stats fs;
    wf_fabric_read_stats(wf_host_fabric(h), &fs);
    WF_CHECK_EQ(fs.active, 21 + 21);
    WF_CHECK_EQ(fs.pes_used, 2);
    WF_CHECK_EQ(fs.hops, 32);
    wf_host_free(h);
    wf_layout_free(l);
}


/* ---- memcpy errors, orders, 16-bit, streaming ------------------------------------------ */
static wf_host *grid_host(wf_layout **lo, const wf_kernel *k, int w, int h) {
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(w, h, lo, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(*lo, 0, 0, w, h, k, NULL, &e), WF_OK);
    wf_host *hh = NULL;
    WF_CHECK_EQ(wf_host_new(*lo, NULL, &hh, &e), WF_OK);
    return hh;
}

static void memcpy_errors_name_the_problem(void) {
    wf_layout *l;
    wf_host *h = grid_host(&l, &add_kernel, 3, 2);
    wf_err e = {0};
    float buf[64] = {0};
    wf_memcpy m = {"A", 0, 2, 1, 2, 1, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m, buf, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "memcpy_h2d: rectangle (2,1) 2x1 is outside the 3x2 program rectangle");
    wf_memcpy m2 = {"A", 0, 0, 0, 2, 2, 5, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m2, buf, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "PE(0,0): symbol 'A' has 16 bytes; elements [0,5) of 4 bytes need 20");
    wf_memcpy m3 = {"A", 0, 0, 0, 1, 1, 2, 3, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m3, buf, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "memcpy_d2h: PE(0,0): symbol 'A' has 16 bytes");
    wf_memcpy m4 = {"Z", 0, 1, 1, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m4, buf, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "memcpy_h2d: PE(1,1): kernel 'add' has no symbol 'Z'");
    wf_memcpy m5 = {"A", 0, 0, 0, 1, 1, 1, 0, 3, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m5, buf, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "element size 3 bytes, expected 2 or 4");
    WF_CHECK_EQ(wf_host_launch(h, "nope", &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "no kernel exports a function named 'nope'");
    wf_host_free(h);
    wf_layout_free(l);
}

static void memcpy_orders_round_trip(void) {
    wf_layout *l;
    wf_host *h = grid_host(&l, &add_kernel, 3, 2);
    wf_err e = {0};
    /* 3x2 PEs x 4 elements: row-major in, column-major out must transpose as documented */
    float in[24], out[24];
    for (int i = 0; i < 24; i++) in[i] = (float)i;
    wf_memcpy m = {"A", 0, 0, 0, 3, 2, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m, in, &e), WF_OK);
    m.order = WF_COL_MAJOR;
    WF_CHECK_EQ(wf_host_d2h(h, &m, out, &e), WF_OK);
    int bad = 0;
    for (int py = 0; py < 2; py++)
        for (int px = 0; px < 3; px++)
            for (int k = 0; k < 4; k++)
                bad += out[py + 2 * (px + 3 * k)] != in[(py * 3 + px) * 4 + k];
    WF_CHECK_EQ(bad, 0);
    /* 16-bit copy into the upper half of A (offset 4 halves = byte 8) */
    uint16_t h16[6] = {1, 2, 3, 4, 5, 6}, back[6] = {0};
    wf_memcpy m16 = {"A", 0, 0, 0, 3, 2, 1, 4, 2, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m16, h16, &e), WF_OK);
    WF_CHECK_EQ(wf_host_d2h(h, &m16, back, &e), WF_OK);
    for (int i = 0; i < 6; i++) WF_CHECK_EQ(back[i], h16[i]);
    wf_memcpy m32 = {"A", 0, 1, 1, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
    float a4[4];
    WF_CHECK_EQ(wf_host_d2h(h, &m32, a4, &e), WF_OK);
    WF_CHECK_EQ(wf_f32_bits(a4[2]) & 0xffff, 5); /* half 4 of PE(1,1) = h16[4] */
    WF_CHECK_EQ(wf_f32_bits(a4[2]) >> 16, wf_f32_bits(in[(1 * 3 + 1) * 4 + 2]) >> 16); /* half 5 kept */
    WF_CHECK_EQ(wf_f32_bits(a4[0]), wf_f32_bits(in[(1 * 3 + 1) * 4]));
    wf_host_free(h);
    wf_layout_free(l);
}

/* streaming: wavelets on color 5 trigger a data task that accumulates */
static void acc_task(wf_pe *pe, uint32_t d) {
    float *a = wf_sym(pe, 0);
    a[0] += wf_bits_f32(d);
    a[1] += 1;
}
static const wf_task_decl acc_tasks[] = {{5, WF_TASK_DATA, acc_task, 0, "acc"}};
static const wf_kernel acc_kernel = {"acc", add_syms, 2, acc_tasks, 1, NULL, 0, NULL};

static void streaming_h2d_triggers_data_tasks(void) {
    wf_layout *l;
    wf_host *h = grid_host(&l, &acc_kernel, 2, 2);
    wf_err e = {0};
    float in[2 * 2 * 8];
    for (int i = 0; i < 32; i++) in[i] = (float)i;
    wf_memcpy m = {NULL, 5, 0, 0, 2, 2, 8, 0, 4, WF_ROW_MAJOR};
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_h2d(h, &m, in, &e), WF_OK);
    float a[2 * 2 * 4];
    wf_memcpy md = {"A", 0, 0, 0, 2, 2, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &md, a, &e), WF_OK);
    for (int p = 0; p < 4; p++) {
        float sum = 0;
        for (int k = 0; k < 8; k++) sum += in[p * 8 + k];
        WF_CHECK_FEQ(a[p * 4 + 0], sum);
        WF_CHECK_FEQ(a[p * 4 + 1], 8);
    }
    /* PE(1,*) : injection starts at t0 + 100 + 2 hops; 8 data tasks of 2 cycles, each
    ** wavelet ready 1 cycle after injection: last task starts at t0+102+1+7*2 = t0+117,
    ** ends t0+119; the d2h then adds its own I/O time, by the model of
    ** memcpy_cost_follows_the_io_model: memcpy_setup 100 + (x + w) = 2 hops
    ** + max(w * n = 2 * 4 = 8 words per row, 16 words / 44 per cycle) */
    wf_pe_stats ps;
    wf_fabric_pe_stats(wf_host_fabric(h), 1, 1, &ps);
    WF_CHECK_EQ(ps.tasks, 8);
    WF_CHECK_EQ(ps.wav_in, 8);
    WF_CHECK_EQ(wf_host_cycles(h) - t0, 119 + 100 + 2 + 8);
    wf_memcpy bad = {NULL, 6, 0, 0, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &bad, in, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "PE(0,0): no input queue for color 6");
    wf_memcpy bad2 = {NULL, 22, 0, 0, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &bad2, in, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "color 22, expected 0..20");
    wf_host_free(h);
    wf_layout_free(l);
}

/* Fault injection (STYLE 15): make the k-th allocation of the host's heap
** fail for k = 0, 1, 2... until wf_host_new and a run succeed: every failure
** is WF_ENOMEM, nothing leaks, nothing crashes. */
static void allocation_failures_are_clean(void) {
    wf_err e = {0};
    wf_layout *l = NULL;
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &send_k, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &recv_k, NULL, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    int k, ok = 0;
    for (k = 0; k < 200 && !ok; k++) {
        wf_heap *hp = wf_heap_new(0);
        wf_heap_fail_at(hp, k);
        wf_host_opts o = {NULL, hp, 0, 1, NULL};
        wf_host *h = NULL;
        wf_status st = wf_host_new(l, &o, &h, &e);
        if (st == WF_OK) st = wf_host_launch(h, "go", &e);
        if (st == WF_OK) {
            ok = 1;
        } else {
            WF_CHECK_EQ(st, WF_ENOMEM);
        }
        wf_host_free(h);
        WF_CHECK_EQ(wf_heap_live(hp), 0);
        wf_heap_free(hp);
    }
    WF_CHECK(ok);
    WF_CHECK(k > 3); /* several allocation sites were exercised */
    wf_layout_free(l);
}

/* The analytic I/O model: setup + (x + w) hops + max(per-row words, all words / rate). */
static void memcpy_cost_follows_the_io_model(void) {
    static const wf_symbol_decl big[] = {{"v", 400}};
    static const wf_kernel bk = {"big", big, 1, NULL, 0, NULL, 0, NULL};
    wf_layout *l;
    wf_host *h = grid_host(&l, &bk, 20, 100);
    wf_err e = {0};
    static float buf[100 * 10 * 100];
    wf_memcpy m = {"v", 0, 5, 0, 10, 10, 100, 0, 4, WF_ROW_MAJOR};
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_h2d(h, &m, buf, &e), WF_OK);
    WF_CHECK_EQ(wf_host_cycles(h) - t0, 100 + 15 + 1000);  /* rows in parallel: 10*100 per row */
    wf_memcpy m2 = {"v", 0, 0, 0, 1, 100, 100, 0, 4, WF_ROW_MAJOR};
    t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_d2h(h, &m2, buf, &e), WF_OK);
    WF_CHECK_EQ(wf_host_cycles(h) - t0, 100 + 1 + 228);    /* 10,000 words at 44/cycle */
    wf_host_free(h);
    wf_layout_free(l);
}

/* Non-blocking launch: start a kernel that waits for streamed input, then
** stream the input; nothing deadlocks in between. */
static void rx_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *a = wf_sym(pe, S_A);
    wf_fadds(pe, wf_dsd_mem1d(pe, a, 4, 1, 4), wf_dsd_mem1d(pe, a, 4, 1, 4), wf_dsd_fabin(5, 4), wf_async_none());
}
static const wf_export_decl rx_exp[] = {{"go", rx_go}};
static const wf_kernel rx_kernel = {"rx", add_syms, 2, acc_tasks, 1, rx_exp, 1, NULL};

static void launch_nb_then_stream(void) {
    wf_layout *l;
    wf_host *h = grid_host(&l, &rx_kernel, 1, 1);
    wf_err e = {0};
    float a[4] = {1, 2, 3, 4}, in[4] = {10, 20, 30, 40}, out[4];
    wf_memcpy m = {"A", 0, 0, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &m, a, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch_nb(h, "go", &e), WF_OK);
    wf_memcpy ms = {NULL, 5, 0, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_h2d(h, &ms, in, &e), WF_OK); /* the receive op takes them, not the data task */
    WF_CHECK_EQ(wf_host_d2h(h, &m, out, &e), WF_OK);
    for (int i = 0; i < 4; i++) WF_CHECK_FEQ(out[i], a[i] + in[i]);
    WF_CHECK_EQ(wf_host_run(h, &e), WF_OK);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Streaming d2h: each PE sends 3 wavelets to the host on color 7. */
static void tx_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *a = wf_sym(pe, S_A);
    for (int i = 0; i < 3; i++) a[i] = (float)(wf_pe_x(pe) * 10 + wf_pe_y(pe) + i);
    wf_fmovs(pe, wf_dsd_fabout(7, 3), wf_dsd_mem1d(pe, a, 3, 1, 4), wf_async_none());
}
static const wf_export_decl tx_exp[] = {{"go", tx_go}};
static const wf_kernel tx_kernel = {"tx", add_syms, 2, NULL, 0, tx_exp, 1, NULL};

static void streaming_d2h_collects_sends(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(3, 2, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 3, 2, &tx_kernel, NULL, &e), WF_OK);
    wf_route host = wf_route_simple(WF_RAMP, 0);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 3, 2, 7, &host, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch_nb(h, "go", &e), WF_OK);
    float out[3 * 2 * 3];
    wf_memcpy m = {NULL, 7, 0, 0, 3, 2, 3, 0, 4, WF_COL_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, out, &e), WF_OK);
    int bad = 0;
    for (int py = 0; py < 2; py++)
        for (int px = 0; px < 3; px++)
            for (int i = 0; i < 3; i++) bad += out[py + 2 * (px + 3 * i)] != (float)(px * 10 + py + i);
    WF_CHECK_EQ(bad, 0);
    /* nothing more is sent: a second streaming d2h reports who fell short */
    WF_CHECK_EQ(wf_host_d2h(h, &m, out, &e), WF_EDEADLOCK);
    WF_CHECK_HAS(e.msg, "memcpy_d2h (streaming): PE(0,0): color 7: 0 of 3 elements arrived");
    wf_memcpy bad_color = {NULL, 8, 0, 0, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &bad_color, out, &e), WF_ECOLOR);
    WF_CHECK_HAS(e.msg, "PE(0,0): no output queue for color 8");
    wf_host_free(h);
    wf_layout_free(l);
}

int main(void) {
    memcpy_add_memcpy_back();
    two_pe_send_receive();
    memcpy_errors_name_the_problem();
    memcpy_orders_round_trip();
    streaming_h2d_triggers_data_tasks();
    allocation_failures_are_clean();
    memcpy_cost_follows_the_io_model();
    launch_nb_then_stream();
    streaming_d2h_collects_sends();
    return wf_check_report();
}
