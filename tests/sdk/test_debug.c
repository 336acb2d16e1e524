/* test_debug.c — the debugger library (sdk/debug.h) and the fabric's debug
** hook and inspection (fabric.h) on a 4 x 2 program whose PEs each run a
** local task 'tick' 3 + x times (counting in symbol cnt), PE(0,0) also
** sending 5 wavelets east to PE(1,0)'s receive: a PE-rectangle breakpoint
** stops only inside it; `next`; quitting at a task start ends the run with
** WF_EINTR before the task body runs; end of input runs to the end with the
** results, cycles and statistics of a run without a debugger on 4 threads;
** a cycle in an idle gap stops there exactly; `break error` stops at a
** kernel error and the run still returns that error; the prompt; inspection
** errors and truncation; peek does not back SRAM; allocation failure; raw
** hooks on several threads and bands (called on the caller's thread; one
** that quits at the first task start gets no other call). */
#include "../../sdk/debug.h"
#include "../../sdk/sdk.h"
#include "../check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_CNT, S_BUF };
enum { P_FAIL };
enum { T_TICK = 10, T_BAD = 11, T_DONE = 12, C = 3 };
static const wf_symbol_decl syms[] = {{"cnt", 4}, {"buf", 20}};

static void tick(wf_pe *pe, uint32_t d) {
    (void)d;
    int32_t *c = wf_sym(pe, S_CNT);
    wf_pe_charge(pe, 5);
    if (++c[0] < 3 + wf_pe_x(pe)) wf_activate(pe, T_TICK);
    else if (wf_pe_param(pe, P_FAIL) && wf_pe_x(pe) == 2 && wf_pe_y(pe) == 1) wf_activate(pe, T_BAD);
}
static void bad(wf_pe *pe, uint32_t d) {
    (void)d;
    wf_pe_fail(pe, WF_EUSAGE, "deliberate failure after %d ticks", ((int32_t *)wf_sym(pe, S_CNT))[0]);
}
static void done(wf_pe *pe, uint32_t d) {
    (void)pe;
    (void)d;
}
static void go(wf_pe *pe, uint32_t d) {
    (void)d;
    float *b = wf_sym(pe, S_BUF);
    if (wf_pe_rw(pe) == 1) { /* the 1 x 16 program: ticks only */
        wf_activate(pe, T_TICK);
        return;
    }
    if (wf_pe_x(pe) == 0 && wf_pe_y(pe) == 0) {
        for (int i = 0; i < 5; i++) b[i] = (float)i + 0.5f;
        wf_fmovs(pe, wf_dsd_fabout(C, 5), wf_dsd_mem1d(pe, b, 5, 1, 4), wf_async_none());
    }
    if (wf_pe_x(pe) == 1 && wf_pe_y(pe) == 0)
        wf_fmovs(pe, wf_dsd_mem1d(pe, b, 5, 1, 4), wf_dsd_fabin(C, 5), wf_async_activate(T_DONE));
    wf_activate(pe, T_TICK);
}
static const wf_task_decl tasks[] = {{T_TICK, WF_TASK_LOCAL, tick, 0, "tick"},
                                     {T_BAD, WF_TASK_LOCAL, bad, 0, "bad"},
                                     {T_DONE, WF_TASK_LOCAL, done, 0, "done"}};
static const wf_export_decl ex[] = {{"go", go}};
static const wf_kernel kern = {"ticker", syms, 2, tasks, 3, ex, 1, NULL};

/* A 5 x 2 fabric, the program on [0,4) x [0,2) (PE(4,*) has none). */
static wf_host *make(wf_layout **lo, int fail, int threads) {
    wf_err e = {0};
    int64_t params[1] = {fail};
    wf_code_opts co = {params, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(5, 2, lo, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(*lo, 0, 0, 4, 2, &kern, &co, &e), WF_OK);
    wf_route r0 = wf_route_simple(WF_RAMP, WF_E), r1 = wf_route_simple(WF_W, WF_RAMP);
    WF_CHECK_EQ(wf_layout_route(*lo, 0, 0, 1, 1, C, &r0, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_route(*lo, 1, 0, 1, 1, C, &r1, &e), WF_OK);
    wf_host_opts ho = {0};
    ho.threads = threads;
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(*lo, &ho, &h, &e), WF_OK);
    return h;
}

typedef struct {
    FILE *in, *out;
    char *text;
    size_t len;
    char script[4096];
} io;

static wf_debug *attach(wf_host *h, io *s, const char *script, int prompt) {
    snprintf(s->script, sizeof s->script, "%s", script);
    s->in = fmemopen(s->script, strlen(s->script) + (s->script[0] ? 0 : 1), "r");
    s->out = open_memstream(&s->text, &s->len);
    WF_CHECK(s->in && s->out);
    wf_debug_opts o = {s->in, s->out, !prompt, prompt, NULL};
    wf_debug *d = NULL;
    wf_err e = {0};
    WF_CHECK_EQ(wf_debug_attach(wf_host_fabric(h), &o, &d, &e), WF_OK);
    return d;
}
/* Detaches and closes; s->text holds the transcript (free it). */
static void finish(wf_debug *d, io *s) {
    wf_debug_detach(d);
    fclose(s->in);
    fclose(s->out);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static int32_t cnt_of(wf_host *h, int x, int y) {
    int32_t v = -1;
    wf_err e = {0};
    wf_memcpy m = {"cnt", 0, x, y, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
    WF_CHECK_EQ(wf_host_d2h(h, &m, &v, &e), WF_OK);
    return v;
}

typedef struct {
    uint64_t cycles, busy, tasks, steps, hops, active;
    int32_t cnt[8];
} result;
static result results(wf_host *h) {
    result r;
    memset(&r, 0, sizeof r);
    wf_fabric_stats st;
    wf_fabric_read_stats(wf_host_fabric(h), &st);
    r.cycles = st.cycles;
    r.busy = st.busy;
    r.tasks = st.tasks;
    r.steps = st.steps;
    r.hops = st.hops;
    r.active = st.active;
    for (int i = 0; i < 8; i++) r.cnt[i] = cnt_of(h, i % 4, i / 4);
    return r;
}
static void same(const result *a, const result *b) {
    WF_CHECK_EQ(a->cycles, b->cycles);
    WF_CHECK_EQ(a->busy, b->busy);
    WF_CHECK_EQ(a->tasks, b->tasks);
    WF_CHECK_EQ(a->steps, b->steps);
    WF_CHECK_EQ(a->hops, b->hops);
    WF_CHECK_EQ(a->active, b->active);
    for (int i = 0; i < 8; i++) WF_CHECK_EQ(a->cnt[i], b->cnt[i]);
}

static result plain(void) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 4);
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    result r = results(h);
    for (int i = 0; i < 8; i++) WF_CHECK_EQ(r.cnt[i], 3 + i % 4);
    wf_host_free(h);
    wf_layout_free(l);
    return r;
}

static void rectangle_breakpoint_stops_only_inside(const result *ref) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 4);
    io s;
    wf_debug *d = attach(h, &s, "break pe 1 0 2 1\ninfo breakpoints\nc\nc\nc\nc\nc\nc\nc\nc\nc\nc\nc\nc\n"
                                "delete\nc\n", 0);
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    WF_CHECK_EQ(wf_debug_stops(d), 13);
    result r = results(h);
    finish(d, &s);
    same(&r, ref);
    WF_CHECK_HAS(s.text, "breakpoint 1: task start on PE(1,0)..PE(2,0)\n");
    WF_CHECK_HAS(s.text, "(wdb) info breakpoints\nbreakpoint 1: task start on PE(1,0)..PE(2,0), hit 0\n");
    /* PE(1,0): launch + 4 ticks + done; PE(2,0): launch + 5 ticks: 12 stops */
    WF_CHECK_EQ(count(s.text, "starts on PE(1,0)"), 6);
    WF_CHECK_EQ(count(s.text, "starts on PE(2,0)"), 6);
    WF_CHECK_EQ(count(s.text, "starts on PE(0,"), 0);
    WF_CHECK_EQ(count(s.text, "starts on PE(3,"), 0);
    WF_CHECK_EQ(count(s.text, ",1)"), 0);
    WF_CHECK_HAS(s.text, "breakpoint 1: task 12 'done' starts on PE(1,0)\n");
    WF_CHECK_HAS(s.text, "(wdb) delete\ndeleted 1 breakpoint\n(wdb) c\nend: cycle ");
    free(s.text);
    wf_host_free(h);
    wf_layout_free(l);
}

static void next_quit_and_prompt(void) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 1);
    io s;
    wf_debug *d = attach(h, &s, "next\nbreak task 10 at 3 1\ncontinue\nprint/d 3 1 cnt\nquit\nwhere\n", 1);
    wf_err e = {0};
    uint64_t c0 = wf_host_cycles(h);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EINTR);
    char want[256];
    snprintf(want, sizeof want, "debugger: quit at cycle %llu", (unsigned long long)wf_host_cycles(h));
    WF_CHECK_STR(e.msg, want);
    finish(d, &s);
    /* a prompt per read, no echo; the first task start is PE(0,0)'s launch */
    snprintf(want, sizeof want, "stop: cycle %llu: start of the first run\n(wdb) stop: cycle %llu: next: launched "
             "function starts on PE(0,0)\n(wdb) breakpoint 1: task 10 on PE(3,1)\n(wdb) stop: ",
             (unsigned long long)c0, (unsigned long long)c0 + 100);
    WF_CHECK(!strncmp(s.text, want, strlen(want)));
    /* stopped at the first tick of PE(3,1): its body has not run, cnt is 0; quit keeps it so */
    WF_CHECK_HAS(s.text, ": breakpoint 1: task 10 'tick' starts on PE(3,1)\n");
    WF_CHECK_HAS(s.text, "(wdb) PE(3,1) cnt[0:1] (1 elements, i32):\n  [0] 0\n(wdb) quit at cycle ");
    WF_CHECK(strstr(s.text, "where") == NULL);
    WF_CHECK(strstr(s.text, "end: cycle") == NULL); /* quit removed the hook */
    WF_CHECK_EQ(cnt_of(h, 3, 1), 0);
    free(s.text);
    wf_host_free(h);
    wf_layout_free(l);
}

static void end_of_input_and_idle_cycle(const result *ref) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 4);
    io s;
    uint64_t c0 = wf_host_cycles(h);
    char script[256];
    /* the launch waits launch_latency = 100 cycles: c0 + 50 lies in the clock's jump */
    snprintf(script, sizeof script, "break cycle %llu\nhelp\ncontinue\ntasks 0 0\nstep 3\n",
             (unsigned long long)c0 + 50);
    wf_debug *d = attach(h, &s, script, 0);
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    result r = results(h);
    finish(d, &s);
    same(&r, ref);
    char want[512];
    snprintf(want, sizeof want, "(wdb) continue\nstop: cycle %llu: breakpoint 1: cycle %llu\n(wdb) tasks 0 0\n"
             "PE(0,0) tasks at cycle %llu: core idle; ready 0x0000000000000000 blocked 0x0000000000000000\n"
             "  task 10 'tick' local: ready 0 blocked 0\n  task 11 'bad' local: ready 0 blocked 0\n"
             "  task 12 'done' local: ready 0 blocked 0\n  launch pending\n  no async ops\n(wdb) step 3\n"
             "stop: cycle %llu: step\nend of commands: running to the end\n",
             (unsigned long long)c0 + 50, (unsigned long long)c0 + 50, (unsigned long long)c0 + 50,
             (unsigned long long)c0 + 53);
    WF_CHECK_HAS(s.text, want);
    WF_CHECK_HAS(s.text, "  break cycle N                 stop before cycle N [b N]\n");
    WF_CHECK(strstr(s.text, "end: cycle") == NULL); /* the hook left at the end of input */
    free(s.text);
    wf_host_free(h);
    wf_layout_free(l);
}

static void break_error_shows_the_state(void) {
    wf_layout *l;
    wf_host *h = make(&l, 1, 1);
    io s;
    wf_debug *d = attach(h, &s, "break error\nc\ntasks 2 1\nprint/d 2 1 cnt\nrouter 1 0\nquit\n", 0);
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_EUSAGE); /* the kernel's error, quit or not */
    WF_CHECK_HAS(e.msg, "PE(2,1): cycle ");
    WF_CHECK_HAS(e.msg, "task 11 'bad': deliberate failure after 5 ticks");
    finish(d, &s);
    char want[sizeof e.msg + 64];
    snprintf(want, sizeof want, ": breakpoint 1: error: %s\n", e.msg);
    WF_CHECK_HAS(s.text, want);
    WF_CHECK_HAS(s.text, "(wdb) print/d 2 1 cnt\nPE(2,1) cnt[0:1] (1 elements, i32):\n  [0] 5\n");
    WF_CHECK_HAS(s.text, "  task 11 'bad' local: ready 0 blocked 0\n");
    WF_CHECK_HAS(s.text, "(wdb) router 1 0\nPE(1,0) router at cycle ");
    WF_CHECK_HAS(s.text, "  color 3: position 0 of 1: [W->RAMP]; buffer 0/");
    free(s.text);
    wf_host_free(h);
    wf_layout_free(l);
}

static void inspect_errors_and_peek(void) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 1);
    wf_fabric *f = wf_host_fabric(h);
    char buf[4096];
    wf_err e = {0};
    WF_CHECK_EQ(wf_fabric_inspect(f, 5, 0, WF_INSPECT_TASKS, -1, buf, sizeof buf, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "PE(5,0) is outside the 5 x 2 fabric");
    WF_CHECK_EQ(wf_fabric_inspect(f, 0, 0, WF_INSPECT_QUEUES, 24, buf, sizeof buf, &e), WF_ERANGE);
    WF_CHECK_STR(e.msg, "color 24, expected 0..23");
    WF_CHECK_EQ(wf_fabric_inspect(f, 4, 1, WF_INSPECT_ROUTER, -1, buf, sizeof buf, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "PE(4,1) has no program nor route");
    WF_CHECK_EQ(wf_fabric_inspect(f, 0, 0, WF_INSPECT_ROUTER, 5, buf, sizeof buf, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "PE(0,0) does not use color 5");
    WF_CHECK_EQ(wf_fabric_inspect(f, 1, 0, WF_INSPECT_SYMBOLS, -1, buf, sizeof buf, &e), WF_OK);
    WF_CHECK_STR(buf, "PE(1,0) kernel 'ticker' symbols:\n  cnt: 4 bytes at 0x1000\n  buf: 20 bytes at 0x1004\n");
    WF_CHECK_EQ(wf_fabric_inspect(f, 1, 0, WF_INSPECT_QUEUES, -1, buf, sizeof buf, &e), WF_OK);
    WF_CHECK_STR(buf, "PE(1,0) queues at cycle 0:\n  iq 0 color 3: 0/6\n");
    WF_CHECK_EQ(wf_fabric_inspect(f, 1, 0, WF_INSPECT_TASKS, -1, buf, 40, &e), WF_OK); /* truncated */
    WF_CHECK_EQ(strlen(buf), 39);
    WF_CHECK(!strcmp(buf + 35, "...\n"));
    /* peek reads zeros from SRAM never touched, without backing it */
    wf_fabric_stats st0, st1;
    wf_fabric_read_stats(f, &st0);
    uint32_t v = 7, addr = 0, bytes = 0;
    WF_CHECK_EQ(wf_fabric_symbol(f, 3, 1, "cnt", &addr, &bytes), 0);
    WF_CHECK_EQ(wf_fabric_peek(f, 3, 1, addr, &v, 4, &e), WF_OK);
    WF_CHECK_EQ(v, 0);
    wf_fabric_read_stats(f, &st1);
    WF_CHECK_EQ(st1.sram_backed, st0.sram_backed);
    WF_CHECK_EQ(wf_fabric_peek(f, 3, 1, addr + bytes + 20, &v, 4, &e), WF_ERANGE);
    WF_CHECK_HAS(e.msg, "PE(3,1): SRAM bytes [");
    WF_CHECK_EQ(wf_fabric_peek(f, 4, 0, 0, &v, 4, &e), WF_EUSAGE);
    WF_CHECK_STR(e.msg, "PE(4,0) has no program");
    WF_CHECK(wf_fabric_task_name(f, 0, 0, T_TICK) && !strcmp(wf_fabric_task_name(f, 0, 0, T_TICK), "tick"));
    WF_CHECK(wf_fabric_task_name(f, 4, 0, T_TICK) == NULL);
    wf_host_free(h);
    wf_layout_free(l);
}

static void bad_commands_are_one_line(void) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 1);
    io s;
    wf_debug *d = attach(h, &s,
                         "break\nbreak cycle x\nbreak task 64\nbreak task 3 at 9 0\nbreak pe 3 1 3 1\n"
                         "delete 7\nstep 0\ninfo\nprint/q 0 0 cnt\nprint 4 0 cnt\nprint 0 0 cnt 1\n"
                         "tasks 0\nrouter 0 0 5\np 0 0 cnt 0 1 2 3 4 5 6 7 8 9\nb 99999999\ncontinue now\n"
                         "quit now\nhelp me\nwhere now\nstep 1 2\n",
                         0);
    wf_err e = {0};
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK);
    finish(d, &s);
    const char *want =
        "(wdb) break\nerror: break: expected 'cycle N' (or N), 'task ID [at X Y [W H]]', 'pe X Y [W H]' or 'error'\n"
        "(wdb) break cycle x\nerror: break cycle: expected a cycle number\n"
        "(wdb) break task 64\nerror: break task: '64' is not a task ID (0..63, or launch)\n"
        "(wdb) break task 3 at 9 0\nerror: break task: PE(9,0) is outside the 5 x 2 fabric\n"
        "(wdb) break pe 3 1 3 1\nerror: break pe: rectangle 3 x 1 at PE(3,1) leaves the 5 x 2 fabric\n"
        "(wdb) delete 7\nerror: delete: no breakpoint 7 (info breakpoints lists them)\n"
        "(wdb) step 0\nerror: step: expected a cycle count 1 .. 4611686018427387903\n"
        "(wdb) info\nerror: info: expected 'info breakpoints'\n"
        "(wdb) print/q 0 0 cnt\nerror: print: format '/q': expected /f (float), /d (int), /u (unsigned), /x (hex) "
        "or /h (fp16)\n"
        "(wdb) print 4 0 cnt\nerror: print: PE(4,0) has no program\n"
        "(wdb) print 0 0 cnt 1\nerror: print: range [1:2) is empty or outside cnt's 1 elements\n"
        "(wdb) tasks 0\nerror: tasks: expected a PE as X Y\n"
        "(wdb) router 0 0 5\nerror: router: PE(0,0) does not use color 5\n"
        "(wdb) p 0 0 cnt 0 1 2 3 4 5 6 7 8 9\nerror: too many words in the command\n"
        "(wdb) b 99999999\nbreakpoint 1: cycle 99999999\n" /* gdb's "b N" */
        "(wdb) continue now\nerror: continue: takes no arguments\n"
        "(wdb) quit now\nerror: quit: takes no arguments\n" /* a typo must not end the run */
        "(wdb) help me\nerror: help: takes no arguments\n"
        "(wdb) where now\nerror: where: takes no arguments\n"
        "(wdb) step 1 2\nerror: step: expected one cycle count\n"
        "end of commands: running to the end\n";
    WF_CHECK_HAS(s.text, want);
    free(s.text);
    wf_host_free(h);
    wf_layout_free(l);
}

static void attach_survives_allocation_failure(void) {
    wf_layout *l;
    wf_host *h = make(&l, 0, 1);
    wf_heap *hp = wf_heap_new(0);
    wf_heap_fail_at(hp, 0);
    char empty[1] = "";
    FILE *in = fmemopen(empty, 1, "r"), *out = fopen("/dev/null", "w");
    wf_debug_opts o = {in, out, 0, 0, hp};
    wf_debug *d = (wf_debug *)1;
    wf_err e = {0};
    WF_CHECK_EQ(wf_debug_attach(wf_host_fabric(h), &o, &d, &e), WF_ENOMEM);
    WF_CHECK(d == NULL);
    WF_CHECK_EQ(wf_heap_live(hp), 0);
    wf_debug_opts none = {NULL, out, 0, 0, NULL};
    WF_CHECK_EQ(wf_debug_attach(wf_host_fabric(h), &none, &d, &e), WF_EUSAGE);
    WF_CHECK_EQ(wf_host_launch(h, "go", &e), WF_OK); /* no hook was left behind */
    WF_CHECK_EQ(cnt_of(h, 3, 1), 6);
    wf_debug_detach(NULL);
    fclose(in);
    fclose(out);
    wf_heap_free(hp);
    wf_host_free(h);
    wf_layout_free(l);
}

/* Raw fabric hooks on a 1 x 16 program (two bands of rows), 4 threads,
** every cycle split over the threads (WF_FABRIC_PAR_MIN=0): the hook runs
** on the caller's thread for every task start (16 launches + 48 ticks);
** one that asks to quit at the first task start gets no other call, no task
** body runs, the run returns WF_EINTR and there is no error stop for it. */
typedef struct {
    int calls[WF_STOP_KIND_COUNT];
    int quit, other_thread;
    pthread_t self;
} raw;
static int raw_hook(void *ud, wf_fabric *f, const wf_stop *s) {
    (void)f;
    raw *r = ud;
    r->calls[s->kind]++;
    if (!pthread_equal(pthread_self(), r->self)) r->other_thread++;
    return r->quit && s->kind == WF_STOP_TASK;
}
static wf_host *make_tall(wf_layout **lo) {
    wf_err e = {0};
    int64_t params[1] = {0};
    wf_code_opts co = {params, 1, NULL};
    WF_CHECK_EQ(wf_layout_new(1, 16, lo, &e), WF_OK);
    WF_CHECK_EQ(wf_layout_code(*lo, 0, 0, 1, 16, &kern, &co, &e), WF_OK);
    wf_host_opts ho = {0};
    ho.threads = 4;
    wf_host *h = NULL;
    WF_CHECK_EQ(wf_host_new(*lo, &ho, &h, &e), WF_OK);
    return h;
}
static void raw_hooks_run_on_the_callers_thread(void) {
    setenv("WF_FABRIC_PAR_MIN", "0", 1);
    for (int quit = 0; quit < 2; quit++) {
        wf_layout *l;
        wf_host *h = make_tall(&l);
        raw r = {{0}, quit, 0, pthread_self()};
        wf_fabric_set_debug(wf_host_fabric(h), raw_hook, &r);
        wf_err e = {0};
        WF_CHECK_EQ(wf_host_launch(h, "go", &e), quit ? WF_EINTR : WF_OK);
        if (quit) WF_CHECK_HAS(e.msg, "debugger: quit at cycle ");
        WF_CHECK_EQ(r.calls[WF_STOP_TASK], quit ? 1 : 16 + 16 * 3);
        WF_CHECK_EQ(r.calls[WF_STOP_CYCLE], 0); /* no stop cycle set */
        WF_CHECK_EQ(r.calls[WF_STOP_ERROR], 0);
        WF_CHECK_EQ(r.other_thread, 0);
        wf_fabric_set_debug(wf_host_fabric(h), NULL, NULL);
        wf_fabric_stats st;
        wf_fabric_read_stats(wf_host_fabric(h), &st);
        WF_CHECK_EQ(st.tasks, quit ? 0 : 64);
        for (int y = 0; y < 16; y++) {
            int32_t v = -1;
            wf_memcpy m = {"cnt", 0, 0, y, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
            WF_CHECK_EQ(wf_host_d2h(h, &m, &v, &e), WF_OK);
            WF_CHECK_EQ(v, quit ? 0 : 3);
        }
        wf_host_free(h);
        wf_layout_free(l);
    }
    unsetenv("WF_FABRIC_PAR_MIN");
}

int main(void) {
    result ref = plain();
    rectangle_breakpoint_stops_only_inside(&ref);
    next_quit_and_prompt();
    end_of_input_and_idle_cycle(&ref);
    break_error_shows_the_state();
    inspect_errors_and_peek();
    bad_commands_are_one_line();
    attach_survives_allocation_failure();
    raw_hooks_run_on_the_callers_thread();
    return wf_check_report();
}
