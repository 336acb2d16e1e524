/* common.h — what every example program shares: flag parsing (sizes by
** flags, --json, --trace FILE, --trace-window x0,y0,x1,y1,c0,c1, --heatmap
** FILE, --debug, --debug-script FILE), attaching the diagnostics
** (sdk/diag.h) and the debugger (sdk/debug.h) to the example's fabric, and
** the one-line summary (text or JSON). Example programs print; the library
** below them never does (STYLE 4).
**
** JSON summary keys (one object on one line, stdout):
**   example, params{...}, cycles (total simulated), compute_cycles (inside
**   launches), io_cycles (memcpy), wall_s (whole program), run_wall_s (inside
**   the simulator), pes (program rectangle W*H), active_pe_cycles (PE-cycles
**   in which a core, router or microthread worked, each once per PE:
**   wf_fabric_stats.active), sim_steps (the simulator's work items: router
**   and op steps, tasks, events), pe_cycles_per_s (W*H*compute_cycles /
**   run_wall_s), active_pe_cycles_per_s, ns_per_active_pe_cycle, busy (sum of
**   per-PE busy cycles), hops, check ("ok" / "fail"), max_abs_diff, plus
**   run_cpu_s (CPU seconds inside launches: the simulator's own cost, not
**   inflated by other processes), ns_per_active_pe_cycle_cpu,
**   launch_at (cycle of the first launch: --trace-window cycles are absolute),
**   threads (simulator threads),
**   defects{...} (with --defects / --defect-rate: dead_pes, dead_routers,
**   dead_links, spare_cols, spare_rows, spare_cols_used, spare_rows_used,
**   detour_links, max_hops, extra_hops, and cycles_defect_free with
**   --defect-compare), example-specific numbers.
**
** Checkpoints (fabric.h): --checkpoint FILE writes the run's state to FILE
** every --checkpoint-every S seconds (default 600) and on SIGINT / SIGTERM
** (then exit 3); --checkpoint-at C writes it at cycle C and stops (exit 3);
** --resume FILE continues the run from FILE (the same example and flags).
** A resumed run's JSON adds resumed{segments, from_cycle, earlier_wall_s,
** earlier_cpu_s}; run_wall_s and run_cpu_s then cover every segment.
**
** Defect flags (sdk/defects.h): --defects FILE, --defect-rate R (0..0.5) with
** --defect-seed S, --spare-cols N, --spare-rows N; --defect-compare runs the
** example again without them and reports its cycles beside. */
#ifndef WF_EXAMPLES_COMMON_H
#define WF_EXAMPLES_COMMON_H

#include "../sdk/debug.h"
#include "../sdk/diag.h"
#include "../sdk/sdk.h"

typedef enum { WF_EX_INT, WF_EX_STR } wf_ex_kind;
typedef struct {
    const char *name;   /* "--name" */
    wf_ex_kind kind;
    void *dst;          /* int64_t * or const char ** */
    const char *help;
} wf_ex_flag;

typedef struct {
    int json;
    int check_statics;       /* --check-statics (wf_fabric_set_check_statics) */
    int threads;             /* --threads N (default: online CPUs, at most 16) */
    const char *trace;       /* NULL = no trace */
    wf_trace_window tw;      /* default: everything */
    int has_tw;
    const char *heatmap;     /* NULL = no heatmap */
    wf_heat_metric heat;     /* --heatmap-metric busy|hops|stalled|bank (default busy) */
    wf_fabric *heat_f;       /* the fabric the heatmap is of (set by wf_ex_diag_begin) */
    int heat_done;           /* written (by wf_ex_diag_end, or for a failed run by wf_ex_diag_free) */
    wf_tracer *tracer;       /* open while the example runs */
    uint64_t launch_at;      /* fabric cycle the first launch was issued (trace windows are absolute) */
    int launched;
    double run_cpu_s;        /* process CPU seconds spent inside launches (load-independent) */
    const char *defects;     /* --defects FILE, or NULL */
    double defect_rate;      /* --defect-rate R; 0 = none */
    int64_t defect_seed;     /* --defect-seed S (default 1) */
    int spare_cols, spare_rows; /* --spare-cols / --spare-rows; -1 = the map's default */
    int defect_compare;      /* --defect-compare */
    int argc;                /* the command line, for --defect-compare */
    char **argv;
    int debug;               /* --debug: commands from the terminal (stdin) */
    const char *debug_script;/* --debug-script FILE: commands from FILE, echoed */
    wf_debug *dbg;           /* attached while the example runs */
    FILE *dbg_in;            /* the script, owned */
    double progress;         /* --progress S: a line on stderr every S s of a long run; 0 = off
                             ** (default 10 when stderr is a terminal, else 0) */
    const char *prog;        /* the example's name, for those lines */
    const char *checkpoint;  /* --checkpoint FILE: snapshots of the run (fabric.h, Checkpoints) */
    double checkpoint_every; /* --checkpoint-every S (default 600) */
    int64_t checkpoint_at;   /* --checkpoint-at C: one snapshot at cycle C, then stop (exit 3) */
    const char *resume;      /* --resume FILE: continue the run a snapshot was taken in */
} wf_ex_opts;

/* Parses argv against the example's flags plus the common ones. Returns
** WF_OK, or WF_EUSAGE with the message naming the flag. --help prints usage
** and sets *help. */
wf_status wf_ex_parse(int argc, char **argv, const char *prog, const wf_ex_flag *flags, int nflags, wf_ex_opts *o,
                      int *help, wf_err *err);

/* For the examples whose fabrics live inside wse/ (wsmm, gpt): refuses the
** flags that need the example's own fabric (--debug, --debug-script,
** --checkpoint, --checkpoint-at, --resume) with WF_EUSAGE naming the flag. */
wf_status wf_ex_own_fabrics(const wf_ex_opts *o, wf_err *err);

/* The defects the flags ask for (NULL in *out when none); free with wf_defects_free. */
wf_status wf_ex_defects(const wf_ex_opts *o, wf_defects **out, wf_err *err);
/* wf_host_new with the defects the flags ask for (every example creates its host here). */
wf_status wf_ex_host_new(const wf_ex_opts *o, const wf_layout *l, wf_host **out, wf_err *err);

/* Applies --threads and starts the trace (if asked) on the host's fabric. */
/* Applies --threads, starts the trace and attaches the debugger (if asked;
** a debugged run uses one thread) on the host's fabric. */
wf_status wf_ex_diag_begin(wf_ex_opts *o, wf_host *h, wf_err *err);
/* Closes the trace, detaches the debugger and writes the heatmap (if asked). */
wf_status wf_ex_diag_end(wf_ex_opts *o, wf_host *h, wf_err *err);
/* On any exit path: closes what wf_ex_diag_end did not (no error reported). */
void wf_ex_diag_free(wf_ex_opts *o);

/* Summary numbers. extra: up to 16 example-specific key/value pairs. */
typedef struct {
    const char *example;
    char params[512];        /* JSON object body, e.g. "\"m\":64,\"n\":64" */
    uint64_t cycles, compute_cycles, io_cycles;
    double wall_s;
    int ok;
    uint64_t mismatches, outputs; /* values that differ from the reference, of how many */
    double max_abs_diff;
    const char *extra_key[16];
    double extra_val[16];
    int nextra;
} wf_ex_result;
void wf_ex_extra(wf_ex_result *r, const char *key, double v);
/* Prints the summary for host h's fabric (stats read from it) and, when the
** check failed, "<example>: check failed: ..." to stderr. Returns the
** example's exit code: 0, or 2 for a failed check. */
int wf_ex_report(const wf_ex_opts *o, wf_host *h, const wf_ex_result *r);

/* Prints "<prog>: error: <msg>" (+ the fabric's report when there is one)
** to stderr and returns 1 — the examples' exit code for any failure —
** or, for a run stopped with a snapshot (WF_EINTR), "<prog>: <msg>" and 3. */
int wf_ex_fail(const char *prog, wf_host *h, const wf_err *e);

/* Copy-mode memcpy that also adds its cycles to *io. */
wf_status wf_ex_h2d(wf_host *h, const wf_memcpy *m, const void *src, uint64_t *io, wf_err *err);
wf_status wf_ex_d2h(wf_host *h, const wf_memcpy *m, void *dst, uint64_t *io, wf_err *err);
/* Launch that adds its cycles to *compute and notes the first launch's cycle in o. */
wf_status wf_ex_launch(wf_ex_opts *o, wf_host *h, const char *fn, uint64_t *compute, wf_err *err);

/* Bit-level comparison helpers: count of mismatching floats, max |a-b|. */
uint64_t wf_ex_compare(const float *got, const float *want, size_t n, double *max_abs);

#endif
