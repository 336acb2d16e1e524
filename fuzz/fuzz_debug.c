/* fuzz_debug.c — libFuzzer target for the debugger's command reader
** (sdk/debug.c). The input is a debugger script (what --debug-script FILE
** reads), given to a session attached to tests/fabric/relay_prog.h's program:
** a stream relayed across three PEs by a fabric-in -> fabric-out op into a
** receive whose completion task adds the words up. Every command is run at
** whatever stop the script reaches (breakpoints, steps, inspection of
** symbols, queues, routers and tasks on any PE, bad numbers, long lines,
** NUL bytes).
**
** Inspection must not change the simulation: a session that does not quit
** ends with the run of the program without a debugger (the same clock,
** counters and bits of the result), one that quits with WF_EINTR and
** "debugger: quit at cycle N". Unknown or malformed commands are fine (one
** "error:" line each); crashes, leaks, hangs, sanitizer reports and a
** changed run are not (abort). WF_FUZZ_DEBUG_SHOW=1 writes the sessions'
** transcripts to stderr. */
#include "tests/fabric/relay_prog.h"
#include "sdk/debug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint64_t cycles, busy, hops, tasks, ops, active, steps;
    uint32_t sum;        /* bits of the receiver's sum */
    uint32_t buf[RELAY_N];
} outcome;

static int same(const outcome *a, const outcome *b) {
    return a->cycles == b->cycles && a->busy == b->busy && a->hops == b->hops && a->tasks == b->tasks &&
           a->ops == b->ops && a->active == b->active && a->steps == b->steps && a->sum == b->sum &&
           !memcmp(a->buf, b->buf, sizeof a->buf);
}

/* The program run to its end; the debugger (when d_in) attached first.
** Returns the launch status; *o the end state (when it ran to the end). */
static wf_status run(FILE *d_in, FILE *d_out, outcome *o, wf_err *e) {
    wf_layout *lo = NULL;
    wf_host *h = NULL;
    wf_debug *d = NULL;
    if (relay_prog_new(1.0f, 20000, &lo, &h, e)) abort(); /* the program itself is fine */
    if (d_in) {
        wf_debug_opts opts = {d_in, d_out, 1, 0, NULL};
        if (wf_debug_attach(wf_host_fabric(h), &opts, &d, e)) abort();
    }
    wf_status st = wf_host_launch(h, "go", e);
    memset(o, 0, sizeof *o);
    if (st == WF_OK) {
        wf_fabric_stats s;
        wf_fabric_read_stats(wf_host_fabric(h), &s);
        o->cycles = s.cycles;
        o->busy = s.busy;
        o->hops = s.hops;
        o->tasks = s.tasks;
        o->ops = s.ops;
        o->active = s.active;
        o->steps = s.steps;
        wf_err e2 = {0};
        wf_memcpy m_sum = {"sum", 0, 2, 0, 1, 1, 1, 0, 4, WF_ROW_MAJOR};
        wf_memcpy m_buf = {"buf", 0, 2, 0, 1, 1, RELAY_N, 0, 4, WF_ROW_MAJOR};
        if (wf_host_d2h(h, &m_sum, &o->sum, &e2) || wf_host_d2h(h, &m_buf, o->buf, &e2)) abort();
    }
    wf_debug_detach(d);
    wf_host_free(h);
    wf_layout_free(lo);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static outcome ref;
    static int have_ref;
    wf_err e = {0};
    if (!have_ref) { /* the run without a debugger, once */
        if (run(NULL, NULL, &ref, &e) != WF_OK) abort();
        have_ref = 1;
    }
    /* fmemopen wants at least one byte: an empty script is one NUL */
    static const uint8_t nul = 0;
    FILE *in = fmemopen((void *)(size ? data : &nul), size ? size : 1, "r");
    /* WF_FUZZ_DEBUG_SHOW=1: the transcripts on stderr (to see what a seed does) */
    const char *show = getenv("WF_FUZZ_DEBUG_SHOW");
    FILE *out = show && *show == '1' ? fdopen(dup(2), "w") : fopen("/dev/null", "w");
    if (!in || !out) abort();
    outcome got;
    wf_status st = run(in, out, &got, &e);
    fclose(in);
    fclose(out);
    if (st == WF_EINTR) {
        if (strncmp(e.msg, "debugger: quit at cycle ", 24) != 0) abort();
    } else if (st != WF_OK || !same(&got, &ref)) {
        fprintf(stderr, "fuzz_debug: the session changed the run (status %d: %s)\n", (int)st, e.msg);
        abort();
    }
    return 0;
}
