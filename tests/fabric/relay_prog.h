/* relay_prog.h — a small program for the checkpoint tests
** (tests/fabric/test_snapshot.c) and the snapshot fuzzer
** (fuzz/fuzz_snapshot.c), on a 3 x 1 fabric: PE(0,0) streams 64 words east
** on color 2, PE(1,0) relays them with a fabric-in -> fabric-out op onto
** color 3, PE(2,0) receives them into memory with an async op whose
** completion task adds them up (charged 64 cycles). Every launch of "go"
** does it again; the sender's words are 0.5 * scale * (i mod 7) - 1.5. */
#ifndef WF_TESTS_RELAY_PROG_H
#define WF_TESTS_RELAY_PROG_H

#include "../../sdk/sdk.h"

enum { RELAY_C0 = 2, RELAY_C1 = 3, RELAY_N = 64, RELAY_T_DONE = 30 };
static const wf_symbol_decl relay_syms[] = {{"buf", 4 * RELAY_N}, {"sum", 4}};
static void relay_send_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(RELAY_C0, RELAY_N), wf_dsd_mem1d(pe, wf_sym(pe, 0), RELAY_N, 1, 4), wf_async_none());
}
static void relay_relay_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(RELAY_C1, RELAY_N), wf_dsd_fabin(RELAY_C0, RELAY_N), wf_async_none());
}
static void relay_recv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, 0), RELAY_N, 1, 4), wf_dsd_fabin(RELAY_C1, RELAY_N),
             wf_async_activate(RELAY_T_DONE));
}
static void relay_recv_done(wf_pe *pe, uint32_t d) {
    (void)d;
    float *b = wf_sym(pe, 0), *s = wf_sym(pe, 1);
    for (int i = 0; i < RELAY_N; i++) *s += b[i] * (float)(i + 1);
    wf_pe_charge(pe, RELAY_N);
}
static const wf_export_decl relay_send_exp[] = {{"go", relay_send_go}};
static const wf_export_decl relay_relay_exp[] = {{"go", relay_relay_go}};
static const wf_export_decl relay_recv_exp[] = {{"go", relay_recv_go}};
static const wf_task_decl relay_recv_tasks[] = {{RELAY_T_DONE, WF_TASK_LOCAL, relay_recv_done, 0, "done"}};
static const wf_kernel relay_send_k = {"send", relay_syms, 2, NULL, 0, relay_send_exp, 1, NULL};
static const wf_kernel relay_relay_k = {"relay", relay_syms, 2, NULL, 0, relay_relay_exp, 1, NULL};
static const wf_kernel relay_recv_k = {"recv", relay_syms, 2, relay_recv_tasks, 1, relay_recv_exp, 1, NULL};

/* The program laid out and loaded, the sender's words written; *lo and *h
** to free with wf_host_free and wf_layout_free (also after a failure). */
static inline wf_status relay_prog_new(float scale, uint64_t max_cycles, wf_layout **lo, wf_host **h, wf_err *e) {
    *lo = NULL;
    *h = NULL;
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    wf_status st = wf_layout_new(3, 1, lo, e);
    if (!st) st = wf_layout_code(*lo, 0, 0, 1, 1, &relay_send_k, NULL, e);
    if (!st) st = wf_layout_code(*lo, 1, 0, 1, 1, &relay_relay_k, NULL, e);
    if (!st) st = wf_layout_code(*lo, 2, 0, 1, 1, &relay_recv_k, NULL, e);
    if (!st) st = wf_layout_route(*lo, 0, 0, 1, 1, RELAY_C0, &r0, e);
    if (!st) st = wf_layout_route(*lo, 1, 0, 1, 1, RELAY_C0, &r1, e);
    if (!st) st = wf_layout_route(*lo, 1, 0, 1, 1, RELAY_C1, &r0, e);
    if (!st) st = wf_layout_route(*lo, 2, 0, 1, 1, RELAY_C1, &r1, e);
    if (!st) st = wf_host_new(*lo, &(wf_host_opts){.max_cycles = max_cycles}, h, e);
    if (st) return st;
    float *src = (float *)wf_fabric_sram(wf_host_fabric(*h), 0, 0, NULL, NULL, e);
    if (!src) return e->code;
    for (int i = 0; i < RELAY_N; i++) src[i] = 0.5f * scale * (float)(i % 7) - 1.5f;
    return WF_OK;
}

#endif
