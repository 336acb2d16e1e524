/* fuzz_snapshot.c — libFuzzer target for the simulation snapshot reader
** (fabric/snapshot.c). It builds one small program on a 4 x 2 fabric:
** PE(0,0) streams 40 words east, PE(1,0) relays them with a fabric-in ->
** fabric-out op, PE(2,0) receives them into memory with an async op and a
** completion task; PE(3,1) is idle. The input is written to a file and
** resumed into that program's run, which then goes on (max-cycle guard
** 20,000). Errors are fine; crashes, leaks, hangs and sanitizer reports are
** not.
**
** The reader refuses a file whose CRC or fingerprints do not match, so
** mutated inputs would rarely get past them; a fuzzing build
** (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, set by fuzz/CMakeLists.txt)
** skips those three comparisons to reach the parser and the state check.
** The seed replay in CI (replay.c, normal builds) keeps them.
**
** Seeds: WF_SNAPSHOT_SEEDS=DIR replay_snapshot fuzz/seeds/snapshot writes
** valid snapshots of the run at several cycles into DIR (how
** fuzz/seeds/snapshot/ was made). */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { C0 = 2, C1 = 3, N = 40, T_DONE = 30 };
static const wf_symbol_decl syms[] = {{"buf", 4 * N}};
static void send_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(C0, N), wf_dsd_mem1d(pe, wf_sym(pe, 0), N, 1, 4), wf_async_none());
}
static void relay_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_fabout(C1, N), wf_dsd_fabin(C0, N), wf_async_none());
}
static void recv_go(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_fmovs(pe, wf_dsd_mem1d(pe, wf_sym(pe, 0), N, 1, 4), wf_dsd_fabin(C1, N), wf_async_activate(T_DONE));
}
static void recv_done(wf_pe *pe, uint32_t d) {
    (void)d;
    float *b = wf_sym(pe, 0);
    b[0] += 1; /* touches SRAM after the receive */
}
static void idle_go(wf_pe *pe, uint32_t d) {
    (void)pe;
    (void)d;
}
static const wf_export_decl send_exp[] = {{"go", send_go}};
static const wf_export_decl relay_exp[] = {{"go", relay_go}};
static const wf_export_decl recv_exp[] = {{"go", recv_go}};
static const wf_export_decl idle_exp[] = {{"go", idle_go}};
static const wf_task_decl recv_tasks[] = {{T_DONE, WF_TASK_LOCAL, recv_done, 0, "done"}};
static const wf_kernel send_k = {"send", syms, 1, NULL, 0, send_exp, 1, NULL};
static const wf_kernel relay_k = {"relay", syms, 1, NULL, 0, relay_exp, 1, NULL};
static const wf_kernel recv_k = {"recv", syms, 1, recv_tasks, 1, recv_exp, 1, NULL};
static const wf_kernel idle_k = {"idle", syms, 1, NULL, 0, idle_exp, 1, NULL};

/* The program, its input written, ready to launch; NULL when the SDK refuses it (a bug here). */
static wf_host *make(wf_layout **lo) {
    wf_err e = {0};
    wf_host *h = NULL;
    if (wf_layout_new(4, 2, lo, &e)) return NULL;
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    if (wf_layout_code(*lo, 0, 0, 1, 1, &send_k, NULL, &e) || wf_layout_code(*lo, 1, 0, 1, 1, &relay_k, NULL, &e) ||
        wf_layout_code(*lo, 2, 0, 1, 1, &recv_k, NULL, &e) || wf_layout_code(*lo, 3, 1, 1, 1, &idle_k, NULL, &e) ||
        wf_layout_route(*lo, 0, 0, 1, 1, C0, &r0, &e) || wf_layout_route(*lo, 1, 0, 1, 1, C0, &r1, &e) ||
        wf_layout_route(*lo, 1, 0, 1, 1, C1, &r0, &e) || wf_layout_route(*lo, 2, 0, 1, 1, C1, &r1, &e) ||
        wf_host_new(*lo, &(wf_host_opts){.max_cycles = 20000}, &h, &e))
        return NULL;
    uint32_t lo_b, hi_b;
    uint8_t *s = wf_fabric_sram(wf_host_fabric(h), 0, 0, &lo_b, &hi_b, &e);
    for (uint32_t i = 0; s && i < hi_b - lo_b; i++) s[i] = (uint8_t)(i * 7 + 1);
    return h;
}

static void done(wf_host *h, wf_layout *lo) {
    wf_host_free(h);
    wf_layout_free(lo);
}

static void make_seeds(const char *dir) {
    static const uint64_t at[] = {103, 108, 115, 125, 135, 145}; /* the run: cycles 102 .. 152 */
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        wf_layout *lo = NULL;
        wf_host *h = make(&lo);
        if (!h) abort();
        char path[512];
        snprintf(path, sizeof path, "%s/run_%llu.snap", dir, (unsigned long long)at[i]);
        wf_checkpoint c = {path, 0, at[i], NULL, NULL};
        wf_err e = {0};
        if (wf_fabric_set_checkpoint(wf_host_fabric(h), &c, &e)) abort();
        wf_status st = wf_host_launch(h, "go", &e);
        fprintf(stderr, "%s: %s (cycle %llu)\n", path, st == WF_EINTR ? "written" : e.msg[0] ? e.msg : "run ended first",
                (unsigned long long)wf_fabric_now(wf_host_fabric(h)));
        done(h, lo);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int seeded;
    const char *seeds = getenv("WF_SNAPSHOT_SEEDS");
    if (seeds && !seeded) {
        seeded = 1;
        make_seeds(seeds);
    }
    char path[] = "/tmp/wf_fuzz_snapshot_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(path);
        return 0;
    }
    fwrite(data, 1, size, fp);
    fclose(fp);
    wf_layout *lo = NULL;
    wf_host *h = make(&lo);
    if (!h) abort();
    wf_err e = {0};
    if (wf_fabric_set_resume(wf_host_fabric(h), path, &e) == WF_OK)
        wf_host_launch(h, "go", &e); /* resumes, then runs on (any error is fine) */
    done(h, lo);
    unlink(path);
    return 0;
}
