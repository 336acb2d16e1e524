/* test_tasks.c — task semantics: the picker takes the lowest ready ID, a
** task runs to completion and is charged task switch + its ops, blocked
** tasks wait (data tasks let wavelets queue up) until unblocked, one data
** task per wavelet, control wavelets trigger control tasks, async memory ops
** activate/unblock tasks at issue + cost. */
#include "../../sdk/sdk.h"
#include "../check.h"

#include <stdio.h>

enum { S_LOG, S_X };
static const wf_symbol_decl syms[] = {{"log", 256}, {"x", 1024}};
/* log[0] = number of entries, then (task id, cycle) pairs */
static void note(wf_pe *pe, uint32_t id) {
    uint32_t *log = wf_sym(pe, S_LOG);
    uint32_t i = log[0]++;
    log[1 + 2 * i] = id;
    log[2 + 2 * i] = (uint32_t)wf_pe_cycle(pe);
}

static void t30(wf_pe *pe, uint32_t d) { (void)d; note(pe, 30); }
static void t31(wf_pe *pe, uint32_t d) { (void)d; note(pe, 31); }
static void t32(wf_pe *pe, uint32_t d) {
    (void)d;
    note(pe, 32);
    float *x = wf_sym(pe, S_X);
    wf_dsd dx = wf_dsd_mem1d(pe, x, 100, 1, 4);
    wf_fmacs(pe, dx, dx, dx, 2.0f, WF_SYNC); /* 1 + 100 cycles (+100: both sources in one bank) */
}
static void go(wf_pe *pe, uint32_t d) {
    (void)d;
    note(pe, 64);
    wf_activate(pe, 32);
    wf_activate(pe, 31);
    wf_activate(pe, 30);
    wf_block(pe, 31);
}
static void unblock31(wf_pe *pe, uint32_t d) { (void)d; wf_unblock(pe, 31); }
static const wf_task_decl tasks[] = {{30, WF_TASK_LOCAL, t30, 0, "t30"},
                                     {31, WF_TASK_LOCAL, t31, 0, "t31"},
                                     {32, WF_TASK_LOCAL, t32, 0, "t32"}};
static const wf_export_decl ex[] = {{"go", go}, {"unblock", unblock31}};
static const wf_kernel k = {"tasks", syms, 2, tasks, 3, ex, 2, NULL};

static void read_log(wf_host *h, uint32_t *log) {
    wf_err e = {0};
    wf_memcpy m = {"log", 0, 0, 0, 1, 1, 64, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, log, &e), WF_OK);
}

static void picker_order_block_and_run_to_completion(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(1, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &k, NULL, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    uint64_t t0 = wf_host_cycles(h);
    /* 31 stays activated but blocked: the run ends in a reported deadlock */
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EDEADLOCK);
    WF_CHECK_HAS(e.msg, "PE(0,0): task 31 't31' is activated but blocked");
    uint32_t log[64];
    read_log(h, log);
    WF_CHECK_EQ(log[0], 3);
    WF_CHECK_EQ(log[1], 64);
    WF_CHECK_EQ(log[2], t0 + 100 + 2);
    /* go: 2 cycles (switch only) -> 30 runs first (lowest ID), 2 cycles; then 32 */
    WF_CHECK_EQ(log[3], 30);
    WF_CHECK_EQ(log[4], t0 + 102 + 2);
    WF_CHECK_EQ(log[5], 32);
    WF_CHECK_EQ(log[6], t0 + 104 + 2);
    wf_pe_stats ps;
    wf_fabric_pe_stats(wf_host_fabric(h), 0, 0, &ps);
    WF_CHECK_EQ(ps.busy, 2 + 2 + (2 + 1 + 100 + 100));
    WF_CHECK_EQ(ps.tasks, 3);
    uint64_t t1 = wf_host_cycles(h);
    /* unblocking lets 31 run right after the launched function */
    WF_CHECK_EQ(wf_host_launch(h, "unblock", &e), WF_OK);
    read_log(h, log);
    WF_CHECK_EQ(log[0], 4);
    WF_CHECK_EQ(log[7], 31);
    WF_CHECK_EQ(log[8], t1 + 100 + 2 + 2);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Data tasks: one per wavelet, in order; blocked ones let wavelets queue up. */
enum { C = 4 };
static void dt(wf_pe *pe, uint32_t d) {
    note(pe, d);
}
static void open_gate(wf_pe *pe, uint32_t d) { (void)d; wf_unblock(pe, C); }
static const wf_task_decl dtasks[] = {{C, WF_TASK_DATA, dt, 1, "data"}};
static const wf_export_decl dex[] = {{"open", open_gate}};
static const wf_kernel dk = {"data", syms, 2, dtasks, 1, dex, 1, NULL};

static void data_task_runs_once_per_wavelet_when_unblocked(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(1, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &dk, NULL, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    uint32_t in[5] = {11, 22, 33, 44, 55};
    wf_memcpy m = {NULL, C, 0, 0, 1, 1, 5, 0, 4, WF_ROW_MAJOR};
    /* input queue 0 holds 6: all 5 fit while the task is blocked -> reported, not lost */
    WF_CHECK_EQ(wf_host_h2d(h, &m, in, &e), WF_EDEADLOCK);
    WF_CHECK_HAS(e.msg, "PE(0,0): color 4: 5 wavelets wait in input queue, data task 4 'data' is blocked");
    uint32_t log[64];
    read_log(h, log);
    WF_CHECK_EQ(log[0], 0);
    WF_CHECK_EQ(wf_host_launch(h, "open", &e), WF_OK);
    read_log(h, log);
    WF_CHECK_EQ(log[0], 5);
    for (int i = 0; i < 5; i++) WF_CHECK_EQ(log[1 + 2 * i], in[i]);
    for (int i = 1; i < 5; i++) WF_CHECK_EQ(log[2 + 2 * i] - log[2 * i], 2); /* back to back */
    wf_host_free(h);
    wf_layout_free(l);
}

/* Control wavelets: PE(0,0) sends a control wavelet whose low 6 bits name
** control task 45 on PE(1,0). */
static void ct(wf_pe *pe, uint32_t d) { note(pe, d); }
static void send_ctrl(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_send_ctrl(pe, 6, (7u << 8) | 45u);
}
static const wf_task_decl ctasks[] = {{45, WF_TASK_CONTROL, ct, 0, "ctl"}};
static const wf_export_decl cex[] = {{"go", send_ctrl}};
static const wf_kernel ck_send = {"ctl_send", syms, 2, NULL, 0, cex, 1, NULL};
static const wf_kernel ck_recv = {"ctl_recv", syms, 2, ctasks, 1, NULL, 0, NULL};

static void control_wavelet_triggers_control_task(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(2, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &ck_send, NULL, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 1, 0, 1, 1, &ck_recv, NULL, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(l, 0, 0, 1, 1, 6, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(l, 1, 0, 1, 1, 6, &r1, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    uint32_t log[64];
    wf_memcpy m = {"log", 0, 1, 0, 1, 1, 64, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, log, &e), WF_OK);
    WF_CHECK_EQ(log[0], 1);
    WF_CHECK_EQ(log[1], (7u << 8) | 45u); /* the task sees the whole control wavelet */
    /* sent at +103 (in the output queue at +104 after op_latency, ready +105),
    ** (0,0) forwards +105, (1,0) delivers to the core at +106, the control task
    ** starts then: +108 after its switch */
    WF_CHECK_EQ(log[2], t0 + 108);
    wf_pe_stats ps;
    wf_fabric_pe_stats(wf_host_fabric(h), 1, 0, &ps);
    WF_CHECK_EQ(ps.wav_in, 0); /* control wavelets do not enter the input queue */
    wf_host_free(h);
    wf_layout_free(l);
}

/* Async memory op: completes at issue + cost and activates the next task. */
static void amem_go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *x = wf_sym(pe, S_X);
    note(pe, 64);
    wf_fmovs(pe, wf_dsd_mem1d(pe, x + 128, 40, 1, 4), wf_dsd_mem1d(pe, x, 40, 1, 4), wf_async_activate(33));
}
static void t33(wf_pe *pe, uint32_t d) { (void)d; note(pe, 33); }
static const wf_task_decl atasks[] = {{33, WF_TASK_LOCAL, t33, 0, "t33"}};
static const wf_export_decl aex[] = {{"go", amem_go}};
static const wf_kernel ak = {"amem", syms, 2, atasks, 1, aex, 1, NULL};

static void async_memory_op_activates_at_its_cost(void) {
    wf_layout *l;
    wf_err e = {0};
    WF_CHECK_EQ(wf_layout_new(1, 1, &l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(l, 0, 0, 1, 1, &ak, NULL, &e), WF_OK);
    wf_host *h;
    WF_CHECK_EQ(wf_host_new(l, NULL, &h, &e), WF_OK);
    uint64_t t0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    uint32_t log[64];
    read_log(h, log);
    WF_CHECK_EQ(log[0], 2);
    /* go starts at t0+100, issues at +102 (+1 setup) -> done at +103 + 40/2 = +123 */
    WF_CHECK_EQ(log[3], 33);
    WF_CHECK_EQ(log[4], t0 + 123 + 2);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Activating an ID the kernel binds no task to is an error where the kernel
** does it (wf_activate, or an async op whose completion would), with its
** file:line; for IDs above the 24 colors too (the picker once shifted a
** 32-bit color mask by the ID: undefined for 32..63, found by fuzz_snapshot). */
enum { undef_line_base = __LINE__ };
static void go_undefined(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_activate(pe, (int)wf_pe_param(pe, 0));
}
static void go_undefined_async(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd x = wf_dsd_mem1d(pe, wf_sym(pe, S_X), 4, 1, 4);
    wf_fmovs(pe, x, wf_dsd_scalar_f32(1), wf_async_activate((int)wf_pe_param(pe, 0)));
}
static void go_undefined_unblock(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_dsd x = wf_dsd_mem1d(pe, wf_sym(pe, S_X), 4, 1, 4);
    wf_fmovs(pe, x, wf_dsd_scalar_f32(1), wf_async_unblock((int)wf_pe_param(pe, 0)));
}
static void go_unblock_sync(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_unblock(pe, (int)wf_pe_param(pe, 0));
}
static const wf_export_decl ex_undef[] = {{"go", go_undefined}, {"async", go_undefined_async},
                                          {"unblock", go_undefined_unblock}, {"sync_unblock", go_unblock_sync}};
static const wf_kernel k_undef = {"undefined", syms, 2, tasks, 3, ex_undef, 4, NULL};

/* One PE running k_undef with the task ID `id` as its parameter. */
static wf_host *undef_host(int64_t id, wf_layout **l) {
    wf_err e = {0};
    wf_code_opts co = {&id, 1, NULL};
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_layout_new(1, 1, l, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(*l, 0, 0, 1, 1, &k_undef, &co, &e), WF_OK);
    WF_CHECK_EQ(wf_host_new(*l, NULL, &h, &e), WF_OK);
    return h;
}

static void activating_an_unbound_id_is_an_error(void) {
    static const int ids[] = {5, 29, 33, 40, 63};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        wf_layout *l;
        wf_err e = {0};
        wf_host *h = undef_host(ids[i], &l);
        WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EUSAGE);
        char want[128];
        snprintf(want, sizeof want, "tests/fabric/test_tasks.c:%d: PE(0,0): cycle ", undef_line_base + 3);
        WF_CHECK(strncmp(e.msg, want, strlen(want)) == 0);
        snprintf(want, sizeof want, "activate: task %d: the kernel has no task with that ID", ids[i]);
        WF_CHECK_HAS(e.msg, want);
        WF_CHECK_EQ(wf_host_launch(h, "async", &e), WF_EUSAGE);
        snprintf(want, sizeof want, "tests/fabric/test_tasks.c:%d: PE(0,0): cycle ", undef_line_base + 8);
        WF_CHECK(strncmp(e.msg, want, strlen(want)) == 0);
        snprintf(want, sizeof want, "fmovs: its completion activates task %d, which the kernel does not have", ids[i]);
        WF_CHECK_HAS(e.msg, want);
        WF_CHECK_EQ(wf_host_launch(h, "unblock", &e), WF_EUSAGE);
        snprintf(want, sizeof want, "fmovs: its completion unblocks task %d, which the kernel does not have", ids[i]);
        WF_CHECK_HAS(e.msg, want);
        WF_CHECK_EQ(wf_host_launch(h, "sync_unblock", &e), WF_EUSAGE); /* it was ignored */
        snprintf(want, sizeof want, "unblock: task %d: the kernel has no task with that ID", ids[i]);
        WF_CHECK_HAS(e.msg, want);
        wf_host_free(h);
        wf_layout_free(l);
    }
    /* IDs out of range fail at the op too, as given (296 had become task 40:
    ** the ID was cast to 8 bits) */
    static const int bad[] = {64, 100, 296, -1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        wf_layout *l;
        wf_err e = {0};
        wf_host *h = undef_host(bad[i], &l);
        char want[128];
        const char *fn[2] = {"async", "unblock"}, *verb[2] = {"activates", "unblocks"};
        for (int j = 0; j < 2; j++) {
            WF_CHECK_EQ(wf_host_launch(h, fn[j], &e), WF_EUSAGE);
            snprintf(want, sizeof want, "tests/fabric/test_tasks.c:%d: PE(0,0): cycle ", undef_line_base + 8 + 5 * j);
            WF_CHECK(strncmp(e.msg, want, strlen(want)) == 0);
            snprintf(want, sizeof want, "fmovs: its completion %s task ID %d, expected 0..63", verb[j], bad[i]);
            WF_CHECK_HAS(e.msg, want);
        }
        wf_host_free(h);
        wf_layout_free(l);
    }
}

int main(void) {
    picker_order_block_and_run_to_completion();
    activating_an_unbound_id_is_an_error();
    data_task_runs_once_per_wavelet_when_unblocked();
    control_wavelet_triggers_control_task();
    async_memory_op_activates_at_its_cost();
    return wf_check_report();
}
