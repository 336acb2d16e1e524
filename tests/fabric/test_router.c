/* test_router.c — routing on the simulated fabric: multicast, switch
** positions advanced by control wavelets, back-pressure from a slow
** receiver (cycle counts), deadlock reports that name PE and color, the
** max-cycle guard, and the trace hook. */
#include "../../sdk/sdk.h"
#include "../check.h"

#include <stdlib.h>
#include <string.h>

enum { C = 2, T_DONE = 40, N = 8 };
/* symbols: buf (32 floats), log (8 words: [0] done cycle, [1] count) */
static const wf_symbol_decl syms[] = {{"buf", 128}, {"log", 32}};
enum { S_BUF, S_LOG };

enum { ops_line_base = __LINE__ }; /* the lines of the two ops below, for the reports' sites */
#define SEND_OP_LINE (ops_line_base + 7)
#define RECV_OP_LINE (ops_line_base + 14)
static void send_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *x = wf_sym(pe, S_BUF);
    int n = (int)wf_pe_param(pe, 0);
    wf_fmovs(pe, wf_dsd_fabout(C, (uint32_t)n), wf_dsd_mem1d(pe, x, (uint32_t)n, 1, 4),
             wf_async_activate(T_DONE));
}
static void recv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *x = wf_sym(pe, S_BUF);
    int n = (int)wf_pe_param(pe, 0);
    wf_fmovs(pe, wf_dsd_mem1d(pe, x, (uint32_t)n, 1, 4), wf_dsd_fabin(C, (uint32_t)n), wf_async_activate(T_DONE));
}
static void mark_done(wf_pe *pe, uint32_t d) {
    (void)d;
    uint32_t *log = wf_sym(pe, S_LOG);
    log[0] = (uint32_t)wf_pe_cycle(pe); /* cycle the done task started + task switch */
}
static const wf_task_decl done_task[] = {{T_DONE, WF_TASK_LOCAL, mark_done, 0, "done"}};
static const wf_export_decl send_exp[] = {{"go", send_go}};
static const wf_export_decl recv_exp[] = {{"go", recv_go}};
static const wf_kernel sender = {"sender", syms, 2, done_task, 1, send_exp, 1, NULL};
static const wf_kernel receiver = {"receiver", syms, 2, done_task, 1, recv_exp, 1, NULL};

static uint32_t read_u32(wf_host *h, int x, int y, const char *sym, int i) {
    uint32_t v[8] = {0};
    wf_err e = {0};
    wf_memcpy m = {sym, 0, x, y, 1, 1, (uint32_t)(i + 1), 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, v, &e), WF_OK);
    return v[i];
}

static void fill_sender(wf_host *h, int x, int y, int n) {
    float v[32];
    for (int i = 0; i < n; i++) v[i] = 0.25f * (float)i + 1;
    wf_memcpy m = {"buf", 0, x, y, 1, 1, (uint32_t)n, 0, 4, WF_ROW_MAJOR};
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_h2d(h, &m, v, &e), WF_OK);
}

static int check_received(wf_host *h, int x, int y, int n) {
    float v[32];
    wf_memcpy m = {"buf", 0, x, y, 1, 1, (uint32_t)n, 0, 4, WF_ROW_MAJOR};
    wf_err e = {0};
    if (wf_host_d2h(h, &m, v, &e)) return 0;
    for (int i = 0; i < n; i++)
        if (v[i] != 0.25f * (float)i + 1) return 0;
    return 1;
}

/* PE(0,0) -> E; PE(1,0) takes a copy and forwards E and S; PE(2,0), PE(1,1) receive. */
static void multicast_reaches_every_target_in_step(void) {
    wf_layout *l;
    wf_err e = {0};
    int64_t n = N;
    wf_code_opts o = {&n, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(3, 2, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sender, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 2, 1, &receiver, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 1, 1, 1, &receiver, &o, &e), WF_OK);
    wf_route r00 = wf_route_simple(WF_RAMP, WF_E), r10 = wf_route_simple(WF_W, WF_RAMP | WF_E | WF_S);
    wf_route r20 = wf_route_simple(WF_W, WF_RAMP), r11 = wf_route_simple(WF_N, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r00, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r10, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, C, &r20, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 1, 1, 1, C, &r11, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    fill_sender(h, 0, 0, N);
    /* PE(2,1) has neither code nor route: it costs nothing */
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    WF_CHECK(check_received(h, 1, 0, N));
    WF_CHECK(check_received(h, 2, 0, N));
    WF_CHECK(check_received(h, 1, 1, N));
    /* element k: computed by the send op at t0+103+k, in its output queue at +104+k
    ** (op_latency 1), forwarded by (0,0) at +105+k, by (1,0) at +106+k to its own
    ** queue and to both neighbours' routers at once; the receive at (1,0) pops it at
    ** +107+k, so it completes at +114 and its done task logs +116 (after the task
    ** switch). The neighbours are one hop later. */
    uint32_t d10 = read_u32(h, 1, 0, "log", 0), d20 = read_u32(h, 2, 0, "log", 0), d11 = read_u32(h, 1, 1, "log", 0);
    WF_CHECK_EQ(d10, t0 + 107 + (N - 1) + 2);
    WF_CHECK_EQ(d20, d10 + 1);
    WF_CHECK_EQ(d11, d10 + 1);
    wf_pe_stats ps;
    wf_fabric_pe_stats(wf_host_fabric(h), 1, 0, &ps);
    WF_CHECK_EQ(ps.hops, 3 * N);  /* RAMP + E + S per wavelet */
    WF_CHECK_EQ(ps.wav_in, N);
    wf_fabric_pe_stats(wf_host_fabric(h), 0, 0, &ps);
    WF_CHECK_EQ(ps.wav_out, N);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Switches: PE(1,0) color C: position 0 delivers to its core, position 1 forwards
** east. The sender sends 4 data, 1 control wavelet, 4 data: the control wavelet
** flips PE(1,0) to position 1 after it passes. */
static void sw_send(wf_pe *pe, uint32_t d) {
    (void)d;
    float *x = wf_sym(pe, S_BUF);
    wf_fmovs(pe, wf_dsd_fabout(C, 4), wf_dsd_mem1d(pe, x, 4, 1, 4), wf_async_none());
    wf_send_ctrl(pe, C, 0x3f); /* no control task 63 anywhere: only switches react */
    wf_fmovs(pe, wf_dsd_fabout(C, 4), wf_dsd_mem1d(pe, x + 4, 4, 1, 4), wf_async_none());
}
static void sw_recv(wf_pe *pe, uint32_t d) {
    (void)d;
    float *x = wf_sym(pe, S_BUF);
    wf_fmovs(pe, wf_dsd_mem1d(pe, x, 4, 1, 4), wf_dsd_fabin(C, 4), wf_async_activate(T_DONE));
}
static const wf_export_decl sw_send_exp[] = {{"go", sw_send}};
static const wf_export_decl sw_recv_exp[] = {{"go", sw_recv}};
static const wf_kernel sw_sender = {"sw_sender", syms, 2, done_task, 1, sw_send_exp, 1, NULL};
static const wf_kernel sw_receiver = {"sw_receiver", syms, 2, done_task, 1, sw_recv_exp, 1, NULL};

static void control_wavelet_advances_the_switch(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(3, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sw_sender, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 2, 1, &sw_receiver, NULL, &e), WF_OK);
    wf_route r00 = wf_route_simple(WF_RAMP, WF_E), r20 = wf_route_simple(WF_W, WF_RAMP);
    wf_route r10 = {{{WF_W, WF_RAMP}, {WF_W, WF_E}}, 2, 0, 0};
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r00, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r10, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, C, &r20, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    fill_sender(h, 0, 0, 8);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    float a[4], b[4];
    wf_memcpy m = {"buf", 0, 1, 0, 1, 1, 4, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, a, &e), WF_OK);
    m.x = 2;
    WF_CHECK_EQ(wf_host_d2h(h, &m, b, &e), WF_OK);
    for (int i = 0; i < 4; i++) {
        WF_CHECK_FEQ(a[i], 0.25f * (float)i + 1);
        WF_CHECK_FEQ(b[i], 0.25f * (float)(i + 4) + 1);
    }
    wf_host_free(h);
    wf_layout_free(l);
}

/* Back-pressure: the receiver's data task takes 10 cycles per wavelet
** (2 switch + 8 charged). 32 wavelets cannot all be buffered, so the sender's
** op completes only when the tail fits: its completion is paced by the receiver. */
static void slow_data(wf_pe *pe, uint32_t d) {
    uint32_t *log = wf_sym(pe, S_LOG);
    float *x = wf_sym(pe, S_BUF);
    x[log[1]++] = wf_bits_f32(d);
    log[2] = (uint32_t)wf_pe_cycle(pe);
    wf_pe_charge(pe, 8);
}
static const wf_task_decl slow_tasks[] = {{C, WF_TASK_DATA, slow_data, 0, "slow"}};
static const wf_kernel slow = {"slow", syms, 2, slow_tasks, 1, NULL, 0, NULL};

static uint32_t slow_run(int ref, const wf_cost_model *cm, uint32_t *last_task, uint64_t *stalled) {
    wf_layout *l;
    wf_err e = {0};
    int64_t n = 32;
    wf_code_opts o = {&n, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sender, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &slow, &o, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    wf_host *h;
    wf_host_opts ho = {cm, NULL, 0, 1, NULL};
    WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
    wf_fabric_set_reference_mode(wf_host_fabric(h), ref);
    fill_sender(h, 0, 0, 32);
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    WF_CHECK(check_received(h, 1, 0, 32));
    uint32_t send_done = read_u32(h, 0, 0, "log", 0) - (uint32_t)t0;
    *last_task = read_u32(h, 1, 0, "log", 2) - (uint32_t)t0;
    wf_pe_stats ps;
    wf_fabric_pe_stats(wf_host_fabric(h), 0, 0, &ps);
    *stalled = ps.stalled;
    wf_host_free(h);
    wf_layout_free(l);
    return send_done;
}

/* The cycle counts of a 32-wavelet stream into a receiver whose data task
** takes P = task_switch + 8 cycles, from the cost model's fields:
**   first element computed by the send op at S = launch_latency + task_switch
**   + dsd_setup; it reaches the receiver's input queue at
**   R = S + op_latency + ramp_latency + hop_latency + ramp_latency;
**   task j starts at R + j*P, so the last (j = 31) is past its switch at
**   R + 31*P + task_switch.
**   In flight between the two cores fit cap = iq_depth[0] + router_depth +
**   oq_depth[0] wavelets. Element 31 can leave the send op only once the
**   receiver has taken element 31 - cap, which its task does when it starts
**   running (R + (31 - cap)*P + task_switch); the freed slot then moves back
**   one stage per cycle (input queue <- router, router <- output queue: space
**   is granted one stage at a time, whatever the ramp, hop or op latency), and
**   the op's last write into its output queue completes it:
**   send_done = R + (31 - cap)*P + task_switch + 2.
** Checked on the WSE-2 table (R = 107, cap = 10: 419 and 321) and on variants
** that move each term. */
static void slow_receiver_case(const wf_cost_model *cm) {
    uint32_t last_task, last_ref;
    uint64_t stalled, stalled_ref;
    uint32_t send_done = slow_run(0, cm, &last_task, &stalled);
    uint32_t send_ref = slow_run(1, cm, &last_ref, &stalled_ref);
    uint32_t P = cm->task_switch + 8, S = cm->launch_latency + cm->task_switch + cm->dsd_setup;
    uint32_t R = S + cm->op_latency + 2 * cm->ramp_latency + cm->hop_latency;
    uint32_t cap = cm->iq_depth[0] + cm->router_depth + cm->oq_depth[0];
    printf("slow receiver: hop %u, router %u, iq %u: last task %u, send done %u (R %u, cap %u)\n",
           cm->hop_latency, cm->router_depth, cm->iq_depth[0], last_task, send_done, R, cap);
    WF_CHECK_EQ(last_task, R + 31 * P + cm->task_switch);
    WF_CHECK_EQ(send_done, R + (31 - cap) * P + cm->task_switch + 2);
    WF_CHECK_EQ(send_ref, send_done); /* the always-stepped reference agrees */
    WF_CHECK_EQ(last_ref, last_task);
    WF_CHECK(stalled > 150);
}

static void slow_receiver_stalls_the_sender(void) {
    wf_cost_model cm = wf_cost_wse2;
    WF_CHECK_EQ(cm.launch_latency + cm.task_switch + cm.dsd_setup + cm.op_latency + 2 * cm.ramp_latency + cm.hop_latency, 107);
    slow_receiver_case(&cm); /* 419 and 321 */
    cm.router_depth = 3;
    slow_receiver_case(&cm);
    cm.iq_depth[0] = 4;
    slow_receiver_case(&cm);
    cm.hop_latency = 2;
    slow_receiver_case(&cm);
    cm.task_switch = 3;
    slow_receiver_case(&cm);
    cm.ramp_latency = 2;
    slow_receiver_case(&cm);
    cm.op_latency = 2;
    slow_receiver_case(&cm);
}

/* Deadlock: a receive with no sender. */
static void receive_without_sender_is_a_deadlock(void) {
    wf_layout *l;
    wf_err e = {0};
    int64_t n = 4;
    wf_code_opts o = {&n, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(2, 2, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 1, 1, 1, &receiver, &o, &e), WF_OK);
    wf_route r = wf_route_simple(WF_N, WF_RAMP), src = wf_route_simple(WF_RAMP, WF_S);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &src, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 1, 1, 1, C, &r, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EDEADLOCK);
    char want[160];
    snprintf(want, sizeof want, "deadlock: PE(1,1): color 2: async fmovs receive (tests/fabric/test_router.c:%d) "
             "waits for a wavelet (0 of 4 received", RECV_OP_LINE);
    WF_CHECK_HAS(e.msg, want);
    WF_CHECK_HAS(wf_fabric_report(wf_host_fabric(h)), "PE(1,1): color 2");
    wf_host_free(h);
    wf_layout_free(l);
}

/* Wavelets left in a queue whose data task stays blocked: also a deadlock. */
static const wf_task_decl blocked_tasks[] = {{C, WF_TASK_DATA, slow_data, 1, "slow"}};
static const wf_kernel blocked = {"blocked", syms, 2, blocked_tasks, 1, NULL, 0, NULL};
static void blocked_data_task_is_reported(void) {
    wf_layout *l;
    wf_err e = {0};
    int64_t n = 3;
    wf_code_opts o = {&n, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sender, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &blocked, &o, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EDEADLOCK);
    WF_CHECK_HAS(e.msg, "PE(1,0): color 2: 3 wavelets wait in input queue, data task 2 'slow' is blocked");
    wf_host_free(h);
    wf_layout_free(l);
    /* 20 wavelets: queues and buffers fill up; the report says where each waits */
    n = 20;
    WF_CHECK_EQ(wf_layout_new(3, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sender, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 2, 0, 1, 1, &blocked, &o, &e), WF_OK);
    wf_route mid = wf_route_simple(WF_W, WF_E), r2 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &mid, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, C, &r2, &e), WF_OK);
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EDEADLOCK);
    const char *rep = wf_fabric_report(wf_host_fabric(h));
    char want[160];
    snprintf(want, sizeof want, "PE(0,0): color 2: async fmovs send (tests/fabric/test_router.c:%d) waits for "
             "output queue room (12 of 20 sent)", SEND_OP_LINE);
    WF_CHECK_HAS(rep, want);
    WF_CHECK_HAS(rep, "PE(1,0): color 2: 2 wavelets wait at the router for room in EAST: PE(2,0)'s router "
                      "buffer is full");
    WF_CHECK_HAS(rep, "PE(2,0): color 2: 2 wavelets wait at the router for room in its own input queue (6 full)");
    WF_CHECK_HAS(rep, "PE(2,0): color 2: 6 wavelets wait in input queue, data task 2 'slow' is blocked");
    wf_host_free(h);
    wf_layout_free(l);
}

/* Max-cycle guard: a task that re-activates itself forever. */
static void spin(wf_pe *pe, uint32_t d) { (void)d; wf_activate(pe, 50); }
static const wf_task_decl spin_tasks[] = {{50, WF_TASK_LOCAL, spin, 0, "spin"}};
static const wf_export_decl spin_exp[] = {{"go", spin}};
static const wf_kernel spinner = {"spin", NULL, 0, spin_tasks, 1, spin_exp, 1, NULL};
/* ... and one task that charges more cycles than the guard allows */
static void heavy(wf_pe *pe, uint32_t d) { (void)d; wf_pe_charge(pe, 200000); }
static const wf_task_decl heavy_tasks[] = {{51, WF_TASK_LOCAL, heavy, 0, "heavy"}};
static void heavy_go(wf_pe *pe, uint32_t d) { (void)d; wf_activate(pe, 51); }
static const wf_export_decl heavy_exp[] = {{"go", heavy_go}};
static const wf_kernel heavier = {"heavy", NULL, 0, heavy_tasks, 1, heavy_exp, 1, NULL};
static void endless_kernel_hits_the_guard(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(12, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 12, 1, &spinner, NULL, &e), WF_OK);
    wf_host *h;
    wf_host_opts ho = {NULL, NULL, 10000, 1, NULL};
    WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "run exceeded the max-cycle guard of 10000 cycles");
    /* it names each PE still working and its task: the first 8, then a count */
    WF_CHECK_HAS(e.msg, "12 PEs still working: PE(0,0): task 50 'spin' ");
    WF_CHECK_HAS(e.msg, "PE(7,0): task 50 'spin' ");
    WF_CHECK(strstr(e.msg, "PE(8,0)") == NULL);
    WF_CHECK_HAS(e.msg, "(and 4 more PEs: see wf_fabric_report)");
    {   /* whole: the tail ends it (a 400-byte summary had cut it mid-word) */
        size_t n = strlen(e.msg), k = strlen("see wf_fabric_report)");
        WF_CHECK(n > k && !strcmp(e.msg + n - k, "see wf_fabric_report)"));
    }
    WF_CHECK_HAS(wf_fabric_report(wf_host_fabric(h)), "PE(11,0): task 50 'spin' ");
    wf_host_free(h);
    wf_layout_free(l);
    /* on 2 x 20 PEs (two bands: one thread runs windows of skewed cycles)
    ** the guard stops at the same cycle with the same words as cycle by cycle */
    char msg[2][sizeof e.msg];
    for (int skew = 0; skew < 2; skew++) {
        if (!skew) setenv("WF_FABRIC_SKEW", "0", 1);
        WF_CHECK_EQ(wf_layout_new(2, 20, &l, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_code(l, 0, 0, 2, 20, &spinner, NULL, &e), WF_OK);
        WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
        WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_ERANGE);
        snprintf(msg[skew], sizeof msg[skew], "%s", e.msg);
        wf_fabric_stats st;
        wf_fabric_read_stats(wf_host_fabric(h), &st);
        WF_CHECK(skew ? st.skewed > 0 : st.skewed == 0);
        wf_host_free(h);
        wf_layout_free(l);
        unsetenv("WF_FABRIC_SKEW");
    }
    WF_CHECK_HAS(msg[1], "run exceeded the max-cycle guard of 10000 cycles; 40 PEs still working");
    WF_CHECK_STR(msg[1], msg[0]);
    /* a spinner beside a PE waiting for data: the spinner, the likely cause,
    ** is named first although it comes later in PE order */
    int64_t n = 4;
    wf_code_opts o = {&n, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(4, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &receiver, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 3, 0, 1, 1, &spinner, NULL, &e), WF_OK);
    wf_route src = wf_route_simple(WF_RAMP, WF_E), r = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &src, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r, &e), WF_OK);
    WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "2 PEs still working: PE(3,0): task 50 'spin' ");

    char want[160];
    snprintf(want, sizeof want, "; PE(1,0): color 2: async fmovs receive (tests/fabric/test_router.c:%d) 0 of 4",
             RECV_OP_LINE);
    WF_CHECK_HAS(e.msg, want);
    wf_host_free(h);
    wf_layout_free(l);
    /* a task charging 200,000 cycles against a guard of 10,000: the guard
    ** stops at its limit and names it (it had jumped to the task's end and
    ** listed no PE) */
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &heavier, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "1 PEs still working: PE(1,0): task 51 'heavy' running (busy until cycle ");
    WF_CHECK(strncmp(e.msg, "fabric: cycle 1000", 18) == 0); /* at the guard, not at the task's end */
    wf_host_free(h);
    wf_layout_free(l);
}

/* Trace hook: hops and tasks inside the window only. */
typedef struct { int hops, tasks, delivers, ops, outside; } counts;
static void on_ev(void *ud, const wf_trace_event *ev) {
    counts *c = ud;
    if (ev->x != 1) c->outside++;
    if (ev->kind == WF_TRACE_HOP) c->hops++;
    if (ev->kind == WF_TRACE_TASK) c->tasks++;
    if (ev->kind == WF_TRACE_DELIVER) c->delivers++;
    if (ev->kind == WF_TRACE_OP) c->ops++;
}
static void trace_hook_sees_the_window(void) {
    wf_layout *l;
    wf_err e = {0};
    int64_t n = N;
    wf_code_opts o = {&n, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(3, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sender, &o, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 2, 1, &receiver, &o, &e), WF_OK);
    wf_route r00 = wf_route_simple(WF_RAMP, WF_E), r10 = wf_route_simple(WF_W, WF_RAMP | WF_E);
    wf_route r20 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r00, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r10, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, C, &r20, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    counts c;
    memset(&c, 0, sizeof c);
    wf_trace_window w = {1, 0, 2, 1, 0, 0};
    wf_fabric_set_trace(wf_host_fabric(h), on_ev, &c, &w);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    WF_CHECK_EQ(c.outside, 0);
    WF_CHECK_EQ(c.hops, 2 * N);
    WF_CHECK_EQ(c.delivers, N);
    WF_CHECK_EQ(c.tasks, 2); /* go + done */
    WF_CHECK_EQ(c.ops, 1);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Hop latency is a parameter: with 2 cycles per hop (as observed on silicon),
** the chain 0 -> 1 -> 2 delivers element k to PE(2,0) two cycles later per hop. */
static void hop_latency_is_a_parameter(void) {
    uint64_t done[2][2];
    for (int lat = 1; lat <= 2; lat++) {
        wf_layout *l;
        wf_err e = {0};
        int64_t n = N;
        wf_code_opts o = {&n, 1, NULL};
        WF_CHECK_EQ(wf_layout_new(3, 1, &l, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &sender, &o, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_code(l, 1, 0, 2, 1, &receiver, &o, &e), WF_OK);
        wf_route r00 = wf_route_simple(WF_RAMP, WF_E), r10 = wf_route_simple(WF_W, WF_RAMP | WF_E);
        wf_route r20 = wf_route_simple(WF_W, WF_RAMP);
        WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, C, &r00, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, C, &r10, &e), WF_OK);
        WF_CHECK_EQ(wf_layout_route(l, 2, 0, 1, 1, C, &r20, &e), WF_OK);
        wf_cost_model cm = wf_cost_wse2;
        cm.hop_latency = (uint32_t)lat;
        cm.router_depth = 3; /* full rate at 2-cycle hops needs 3 slots */
        wf_host_opts ho = {&cm, NULL, 0, 1, NULL};
        wf_host *h;
        WF_CHECK_EQ(wf_host_new(l, &ho, &h, &e), WF_OK);
        fill_sender(h, 0, 0, N);
        uint64_t t0 = wf_host_cycles(h);
        WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
        WF_CHECK(check_received(h, 2, 0, N));
        done[lat - 1][0] = read_u32(h, 1, 0, "log", 0) - t0;
        done[lat - 1][1] = read_u32(h, 2, 0, "log", 0) - t0;
        wf_host_free(h);
        wf_layout_free(l);
    }
    WF_CHECK_EQ(done[0][0], 107 + (N - 1) + 2);
    WF_CHECK_EQ(done[0][1], done[0][0] + 1);
    WF_CHECK_EQ(done[1][0], done[0][0] + 1);     /* one hop, one more cycle */
    WF_CHECK_EQ(done[1][1], done[1][0] + 2);     /* and two per further hop */
}

int main(void) {
    multicast_reaches_every_target_in_step();
    control_wavelet_advances_the_switch();
    slow_receiver_stalls_the_sender();
    receive_without_sender_is_a_deadlock();
    blocked_data_task_is_reported();
    endless_kernel_hits_the_guard();
    trace_hook_sees_the_window();
    hop_latency_is_a_parameter();
    return wf_check_report();
}
