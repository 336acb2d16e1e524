/* common.c — flag parsing, diagnostics hookup and the summary line shared by
** the example programs (see common.h for the JSON keys). */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* All online CPUs, at most 16: results are the same on any thread count. */
static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

static void usage(const char *prog, const wf_ex_flag *flags, int nflags) {
    printf("usage: %s [flags]\n", prog);
    for (int i = 0; i < nflags; i++) {
        if (flags[i].kind == WF_EX_INT)
            printf("  --%-14s %s (default %lld)\n", flags[i].name, flags[i].help,
                   (long long)*(int64_t *)flags[i].dst);
        else
            printf("  --%-14s %s (default %s)\n", flags[i].name, flags[i].help,
                   *(const char **)flags[i].dst ? *(const char **)flags[i].dst : "none");
    }
    printf("  --json           one-line JSON summary on stdout\n"
           "  --trace FILE     Perfetto/Chrome trace JSON of tasks and wavelets\n"
           "  --trace-window x0,y0,x1,y1,c0,c1   PEs [x0,x1)x[y0,y1), cycles [c0,c1) (c1=0: no end)\n"
           "  --heatmap FILE   PNG heatmap of per-PE activity\n"
           "  --heatmap-metric busy|hops|stalled|bank   what the heatmap shows (default busy cycles; bank:\n"
           "                   cycles lost to SRAM bank conflicts)\n"
           "  --threads N      simulator threads, 1..16 (default: the online CPUs, %d here; results do not\n"
           "                   depend on it)\n"
           "  --check-statics  fail when kernel code writes a C static/global (shared by all PEs); slow,\n"
           "                   one thread\n"
           "  --defects FILE   lay the program around the dead PEs and links in FILE (docs/sdk.md, Defects)\n"
           "  --defect-rate R  random defects: each PE dead with probability R, each link R/4 (0..0.5)\n"
           "  --defect-seed S  seed of the random defects (default 1)\n"
           "  --spare-cols N, --spare-rows N   spares of the physical array, 0..256 (default 1 + size/100)\n"
           "  --defect-compare also run without defects and report those cycles\n"
           "  --debug          debugger: stops at the first run, reads commands from the terminal\n"
           "                   (help lists them; one thread)\n"
           "  --debug-script FILE   the debugger's commands from FILE, echoed; its end = run to the end\n"
           "  --progress S     a progress line on stderr every S seconds of a long run, 0 = none\n"
           "                   (default 10 when stderr is a terminal, else 0)\n"
           "  --checkpoint FILE   save the run's state to FILE every --checkpoint-every S seconds\n"
           "                   (default 600) and on Ctrl-C / SIGTERM (then exit 3)\n"
           "  --checkpoint-at C   save it at cycle C and stop (exit 3)\n"
           "  --resume FILE    continue the run saved in FILE (same example and flags)\n",
           default_threads());
}

/* A real flag value in [0, hi] into *out; else the error names the flag and `expect`. */
static wf_status parse_real(const char *prog, const char *flag, const char *val, double hi, const char *expect,
                            double *out, wf_err *err) {
    char *end = NULL;
    double v = strtod(val, &end);
    if (!end || *end || end == val || !(v >= 0 && v <= hi))
        return WF_FAIL(err, WF_EUSAGE, "%s: %s '%s': expected %s", prog, flag, val, expect);
    *out = v;
    return WF_OK;
}

/* An output file's path: not empty, not a folder, in a folder that exists
** and can be written (the file itself is written through a temporary
** beside it and renamed). */
static int out_path_bad(const char *prog, const char *flag, const char *path, wf_err *err) {
    struct stat st;
    if (!*path) return WF_FAIL(err, WF_EUSAGE, "%s: %s: empty file name", prog, flag), 1;
    if (stat(path, &st) == 0) { /* an existing file, device or FIFO (/dev/stdout) is written as it is */
        if (S_ISDIR(st.st_mode))
            return WF_FAIL(err, WF_EUSAGE, "%s: %s %s: is a folder (name a file)", prog, flag, path), 1;
        return 0;
    }
    if (lstat(path, &st) == 0) return 0; /* a link to a file yet to be made: its target's folder decides */
    char dir[1024];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return WF_FAIL(err, WF_EIO, "%s: %s %s: folder %s does not exist", prog, flag, path, dir), 1;
    if (access(dir, W_OK) != 0)
        return WF_FAIL(err, WF_EIO, "%s: %s %s: folder %s is not writable: %s", prog, flag, path, dir,
                       strerror(errno)), 1;
    return 0;
}

/* Every example's own flags besides its sizes: whether each takes a value,
** and whether the --defect-compare run leaves it out (that run is the same
** program on a perfect wafer, from its start and writing nothing: no
** defects, outputs, debugging, checkpoints (it must never write or resume
** the user's snapshot) or progress). One table, so the parser, the unknown
** flag check and the comparison run cannot disagree on a flag. */
static const struct {
    const char *name;
    uint8_t value, compare_drops;
} common_flags[] = {
    {"--json", 0, 1},         {"--check-statics", 0, 1},   {"--defect-compare", 0, 1}, {"--debug", 0, 1},
    {"--threads", 1, 0},      {"--trace", 1, 1},           {"--trace-window", 1, 1},   {"--heatmap", 1, 1},
    {"--heatmap-metric", 1, 1}, {"--debug-script", 1, 1},  {"--defects", 1, 1},        {"--defect-rate", 1, 1},
    {"--defect-seed", 1, 1},  {"--spare-cols", 1, 1},      {"--spare-rows", 1, 1},     {"--checkpoint", 1, 1},
    {"--checkpoint-every", 1, 1}, {"--checkpoint-at", 1, 1}, {"--resume", 1, 1},       {"--progress", 1, 1}};
static int common_flag(const char *a) {
    for (int k = 0; k < (int)(sizeof common_flags / sizeof *common_flags); k++)
        if (!strcmp(a, common_flags[k].name)) return k;
    return -1;
}

/* A flag that takes a value: one of everyone's, or the example's own. */
static int valued_flag(const char *a, const wf_ex_flag *flags, int nflags) {
    int k = common_flag(a);
    if (k >= 0) return common_flags[k].value;
    for (k = 0; k < nflags; k++)
        if (!strcmp(a + 2, flags[k].name)) return 1;
    return 0;
}

wf_status wf_ex_parse(int argc, char **argv, const char *prog, const wf_ex_flag *flags, int nflags, wf_ex_opts *o,
                      int *help, wf_err *err) {
    memset(o, 0, sizeof *o);
    o->threads = default_threads();
    o->defect_seed = 1;
    o->spare_cols = o->spare_rows = -1;
    o->progress = isatty(STDERR_FILENO) ? 10 : 0;
    o->checkpoint_every = 600;
    o->prog = prog;
    o->argc = argc;
    o->argv = argv;
    *help = 0;
    int seen_tw = 0, seen_metric = 0, seen_every = 0;
    const char *seen_defopt = NULL;
    int seen_rate = 0; /* --defect-rate given, 0 included (a sweep's first point) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(prog, flags, nflags);
            *help = 1;
            return WF_OK;
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--check-statics")) {
            o->check_statics = 1;
            continue;
        }
        if (!strcmp(a, "--defect-compare")) {
            o->defect_compare = 1;
            continue;
        }
        if (!strcmp(a, "--debug")) {
            o->debug = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) return WF_FAIL(err, WF_EUSAGE, "%s: unexpected argument '%s'", prog, a);
        if (!valued_flag(a, flags, nflags)) {
            if (strchr(a, '='))
                return WF_FAIL(err, WF_EUSAGE, "%s: unknown flag '%s' (a flag's value is the next argument: '%.*s %s')",
                               prog, a, (int)(strchr(a, '=') - a), a, strchr(a, '=') + 1);
            return WF_FAIL(err, WF_EUSAGE, "%s: unknown flag '%s' (see --help)", prog, a);
        }
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) return WF_FAIL(err, WF_EUSAGE, "%s: flag '%s' needs a value", prog, a);
        i++;
        if (!strcmp(a, "--trace-window")) seen_tw = 1;
        if (!strcmp(a, "--heatmap-metric")) seen_metric = 1;
        if (!strcmp(a, "--checkpoint-every")) seen_every = 1;
        if (!strcmp(a, "--defect-seed") || !strcmp(a, "--spare-cols") || !strcmp(a, "--spare-rows")) seen_defopt = a;
        /* flags that name a file: the value as given */
        const struct { const char *flag; const char **to; } files[] = {
            {"--trace", &o->trace},           {"--debug-script", &o->debug_script}, {"--heatmap", &o->heatmap},
            {"--defects", &o->defects},       {"--checkpoint", &o->checkpoint},     {"--resume", &o->resume}};
        int named = 0;
        for (size_t k = 0; k < sizeof files / sizeof *files && !named; k++)
            if (!strcmp(a, files[k].flag)) *files[k].to = val, named = 1;
        if (named) continue;
        if (!strcmp(a, "--heatmap-metric")) {
            if (!strcmp(val, "busy")) o->heat = WF_HEAT_BUSY;
            else if (!strcmp(val, "hops")) o->heat = WF_HEAT_HOPS;
            else if (!strcmp(val, "stalled")) o->heat = WF_HEAT_STALLED;
            else if (!strcmp(val, "bank")) o->heat = WF_HEAT_BANK;
            else return WF_FAIL(err, WF_EUSAGE, "%s: --heatmap-metric '%s': expected busy, hops, stalled or bank", prog,
                                val);
            continue;
        }
        if (!strcmp(a, "--threads")) {
            char *end = NULL;
            long v = strtol(val, &end, 10);
            if (!end || *end || end == val || v < 1 || v > 16)
                return WF_FAIL(err, WF_EUSAGE, "%s: --threads '%s': expected 1..16", prog, val);
            o->threads = (int)v;
            continue;
        }

        if (!strcmp(a, "--progress")) {
            if (parse_real(prog, a, val, 86400, "seconds, 0 .. 86400 (0 = none)", &o->progress, err)) return err->code;
            continue;
        }

        if (!strcmp(a, "--checkpoint-every")) {
            if (parse_real(prog, a, val, 1e6, "seconds, 0 .. 1e6 (0 = only on a signal or --checkpoint-at)",
                           &o->checkpoint_every, err))
                return err->code;
            continue;
        }
        if (!strcmp(a, "--checkpoint-at")) {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            if (errno || !end || *end || end == val || v < 1)
                return WF_FAIL(err, WF_EUSAGE, "%s: --checkpoint-at '%s': %s", prog, val,
                               errno == ERANGE ? "out of range (at most 9223372036854775807)"
                                               : "expected a cycle >= 1");
            o->checkpoint_at = v;
            continue;
        }
        if (!strcmp(a, "--defect-rate")) {
            if (parse_real(prog, a, val, 0.5, "0 .. 0.5", &o->defect_rate, err)) return err->code;
            seen_rate = 1;
            continue;
        }
        if (!strcmp(a, "--defect-seed") || !strcmp(a, "--spare-cols") || !strcmp(a, "--spare-rows")) {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            int seed = a[2] == 'd';
            if (errno || !end || *end || end == val || v < 0 || (!seed && v > 256))
                return WF_FAIL(err, WF_EUSAGE, "%s: %s '%s': expected %s", prog, a, val,
                               seed ? "an integer 0 .. 9223372036854775807" : "0..256");
            if (seed) o->defect_seed = v;
            else if (a[8] == 'c') o->spare_cols = (int)v;
            else o->spare_rows = (int)v;
            continue;
        }
        if (!strcmp(a, "--trace-window")) {
            wf_status st = wf_trace_window_parse(val, &o->tw, err);
            if (st) return wf_err_prefix(err, "%s: --trace-window", prog);
            o->has_tw = 1;
            continue;
        }
        int found = 0;
        for (int k = 0; k < nflags && !found; k++) {
            if (strcmp(a + 2, flags[k].name)) continue;
            found = 1;
            if (flags[k].kind == WF_EX_STR) {
                *(const char **)flags[k].dst = val;
            } else {
                char *end = NULL;
                errno = 0;
                long long v = strtoll(val, &end, 10);
                if (errno || !end || *end || end == val)
                    return WF_FAIL(err, WF_EUSAGE, "%s: flag '%s': '%s' is %s", prog, a, val,
                                   errno == ERANGE ? "out of range" : "not an integer");
                *(int64_t *)flags[k].dst = v;
            }
        }
        if (!found) return WF_FAIL(err, WF_EUSAGE, "%s: unknown flag '%s' (see --help)", prog, a);
    }
    if (o->checkpoint_at && !o->checkpoint)
        return WF_FAIL(err, WF_EUSAGE, "%s: --checkpoint-at needs --checkpoint FILE (where to save)", prog);
    /* files written later (at the first save, at the end): a path that cannot
    ** be written is refused now, not after hours of simulation */
    const struct { const char *flag, *path; } outs[] = {
        {"--checkpoint", o->checkpoint}, {"--trace", o->trace}, {"--heatmap", o->heatmap}};
    for (size_t k = 0; k < sizeof outs / sizeof *outs; k++)
        if (outs[k].path && out_path_bad(prog, outs[k].flag, outs[k].path, err)) return err->code;
    /* a flag that only qualifies another one, given without it, would be ignored */
    if (seen_every && !o->checkpoint)
        return WF_FAIL(err, WF_EUSAGE, "%s: --checkpoint-every needs --checkpoint FILE (where to save)", prog);
    if (seen_tw && !o->trace) return WF_FAIL(err, WF_EUSAGE, "%s: --trace-window needs --trace FILE", prog);
    if (seen_metric && !o->heatmap) return WF_FAIL(err, WF_EUSAGE, "%s: --heatmap-metric needs --heatmap FILE", prog);
    int defects = o->defects || seen_rate;
    if (seen_defopt && !defects)
        return WF_FAIL(err, WF_EUSAGE, "%s: %s needs --defects FILE or --defect-rate R", prog, seen_defopt);
    if (o->defect_compare && !defects)
        return WF_FAIL(err, WF_EUSAGE, "%s: --defect-compare needs --defects FILE or --defect-rate R", prog);
    return WF_OK;
}

wf_status wf_ex_own_fabrics(const wf_ex_opts *o, wf_err *err) {
    const char *flag = o->debug ? "--debug" : o->debug_script ? "--debug-script" : o->checkpoint ? "--checkpoint"
                     : o->resume ? "--resume" : NULL;
    if (!flag) return WF_OK;
    return WF_FAIL(err, WF_EUSAGE, "%s: %s: not available here (gemv, collectives, summa, stencil, sparse and fft "
                   "have it)", o->prog, flag);
}

wf_status wf_ex_defects(const wf_ex_opts *o, wf_defects **out, wf_err *err) {
    *out = NULL;
    if (o->defects && o->defect_rate > 0)
        return WF_FAIL(err, WF_EUSAGE, "--defects and --defect-rate: give one of them");
    wf_status st = WF_OK;
    if (o->defects) st = wf_defects_load(o->defects, out, err);
    else if (o->defect_rate > 0) st = wf_defects_random((uint64_t)o->defect_seed, o->defect_rate, out, err);
    else if (o->spare_cols >= 0 || o->spare_rows >= 0) st = wf_defects_parse("", 0, "no defects", out, err);
    if (!st && *out) wf_defects_set_spares(*out, o->spare_cols, o->spare_rows);
    return st;
}

wf_status wf_ex_host_new(const wf_ex_opts *o, const wf_layout *l, wf_host **out, wf_err *err) {
    wf_defects *d = NULL;
    wf_status st = wf_ex_defects(o, &d, err);
    if (st) return st;
    wf_host_opts ho = {0};
    ho.defects = d;
    st = wf_host_new(l, &ho, out, err);
    wf_defects_free(d); /* borrowed by wf_host_new only */
    return st;
}

/* --defect-compare: the same command without the flags common_flags marks,
** with --json; its "cycles", or -1. */
static double defect_free_cycles(const wf_ex_opts *o) {
    char cmd[4096];
    size_t at = 0;
    for (int i = 0; i < o->argc && at < sizeof cmd; i++) {
        const char *a = o->argv[i];
        int k = i > 0 ? common_flag(a) : -1;
        if (k >= 0 && common_flags[k].compare_drops) {
            i += common_flags[k].value;
            continue;
        }
        char self[1024];
        ssize_t sl = i ? -1 : readlink("/proc/self/exe", self, sizeof self - 1); /* argv[0] may be a bare name */
        if (sl > 0) {
            self[sl] = 0;
            a = self;
        }
        at += (size_t)snprintf(cmd + at, sizeof cmd - at, "%s'", i ? " " : "");
        for (const char *c = a; *c && at + 8 < sizeof cmd; c++) { /* single-quoted for the shell */
            if (*c == '\'') at += (size_t)snprintf(cmd + at, sizeof cmd - at, "'\\''");
            else cmd[at++] = *c;
        }
        at += (size_t)snprintf(cmd + at, sizeof cmd - at, "'");
    }
    if (at + 16 >= sizeof cmd) return -1;
    snprintf(cmd + at, sizeof cmd - at, " --json");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[8192];
    double cyc = -1;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"cycles\":");
        if (k) cyc = strtod(k + 9, NULL);
    }
    if (pclose(p) != 0) return -1;
    return cyc;
}

/* --debug / --debug-script: the debugger on stdin (a prompt on a terminal)
** or on the script (each command echoed), answering on stdout. */
static wf_status debug_begin(wf_ex_opts *o, wf_host *h, wf_err *err) {
    if (o->debug_script) { /* a regular file (a folder would read as an empty script) */
        int fd;
        if (wf_file_open_read(o->debug_script, &fd, NULL, err)) return wf_err_prefix(err, "--debug-script");
        o->dbg_in = fdopen(fd, "r");
        if (!o->dbg_in) {
            close(fd);
            return WF_FAIL(err, WF_EIO, "--debug-script %s: %s", o->debug_script, strerror(errno));
        }
    }
    wf_debug_opts dop = {o->dbg_in ? o->dbg_in : stdin, stdout, o->dbg_in != NULL,
                         !o->dbg_in && isatty(STDIN_FILENO), NULL};
    return wf_debug_attach(wf_host_fabric(h), &dop, &o->dbg, err);
}

/* --progress: one line per report, on stderr (stdout keeps the results). */
static void progress_line(void *ud, const wf_fabric_progress *p) {
    const wf_ex_opts *o = ud;
    fprintf(stderr, "%s: simulating: cycle %llu, %llu cycles in %.0f s of this run (%.0f cycles/s; lately %.0f), "
            "%zu routers, ops and tasks working\n", o->prog, (unsigned long long)p->cycle,
            (unsigned long long)p->run_cycles, p->run_wall_s,
            p->run_wall_s > 0 ? (double)p->run_cycles / p->run_wall_s : 0.0,
            p->last_s > 0 ? (double)p->last_cycles / p->last_s : 0.0, p->work);
    fflush(stderr);
}

/* --checkpoint: a line per snapshot written (or failed: the run goes on). */
static void checkpoint_line(void *ud, const char *path, uint64_t cycle, uint64_t bytes, double seconds,
                            const wf_err *e) {
    const wf_ex_opts *o = ud;
    if (e)
        fprintf(stderr, "%s: checkpoint at cycle %llu failed: %s\n", o->prog, (unsigned long long)cycle, e->msg);
    else
        fprintf(stderr, "%s: checkpoint: cycle %llu saved to %s (%.*f %s in %.1f s)\n", o->prog,
                (unsigned long long)cycle, path, bytes >= 1000000000 ? 2 : 1,
                bytes >= 1000000000 ? (double)bytes / 1e9 : (double)bytes / 1e6, bytes >= 1000000000 ? "GB" : "MB",
                seconds);
    fflush(stderr);
}

/* Ctrl-C / SIGTERM with --checkpoint: the run saves and stops at the next
** cycle boundary; a second signal ends the program at once (SA_RESETHAND). */
static wf_fabric *stop_fabric;
static const char *stop_path; /* --checkpoint FILE, for the message of a stopped run */
static void on_stop_signal(int sig) {
    (void)sig;
    if (stop_fabric) wf_fabric_request_stop(stop_fabric);
}

static wf_status checkpoint_begin(wf_ex_opts *o, wf_host *h, wf_err *err) {
    wf_fabric *f = wf_host_fabric(h);
    if (o->resume) {
        wf_status st = wf_fabric_set_resume(f, o->resume, err);
        if (st) return wf_err_prefix(err, "--resume");
    }
    if (!o->checkpoint) return WF_OK;
    wf_checkpoint c = {o->checkpoint, o->checkpoint_every, (uint64_t)o->checkpoint_at, checkpoint_line, o};
    wf_status st = wf_fabric_set_checkpoint(f, &c, err);
    if (st) return st;
    stop_fabric = f;
    stop_path = o->checkpoint;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return WF_OK;
}

wf_status wf_ex_diag_begin(wf_ex_opts *o, wf_host *h, wf_err *err) {
    /* what the simulator runs on one thread (fabric/run.c): a debugged, traced
    ** or statics-checked run; the summary then says 1 */
    if (o->debug || o->debug_script || o->trace || o->check_statics) o->threads = 1;
    wf_fabric_set_progress(wf_host_fabric(h), o->progress, progress_line, o);
    wf_status st = checkpoint_begin(o, h, err);
    if (st) return st;
    st = wf_fabric_set_threads(wf_host_fabric(h), o->threads, err);
    if (!st && o->check_statics) st = wf_fabric_set_check_statics(wf_host_fabric(h), 1, err);
    if (!st && (o->debug || o->debug_script)) st = debug_begin(o, h, err);
    o->heat_f = wf_host_fabric(h);
    o->heat_done = 0;
    if (st || !o->trace) return st;
    return wf_tracer_open(wf_host_fabric(h), o->trace, o->has_tw ? &o->tw : NULL, 0, &o->tracer, err);
}

void wf_ex_diag_free(wf_ex_opts *o) {
    if (o->heatmap && o->heat_f && !o->heat_done) { /* a failed run: its heatmap, like its trace */
        wf_err e = {0};
        if (wf_heatmap_write(o->heat_f, o->heatmap, o->heat, 0, NULL, &e))
            fprintf(stderr, "heatmap of the failed run: %s\n", e.msg);
    }
    o->heat_f = NULL;
    o->heat_done = 1;
    if (stop_fabric) { /* the fabric goes away: default signal handling again */
        stop_fabric = NULL;
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    if (o->tracer) wf_tracer_close(o->tracer, NULL);
    o->tracer = NULL;
    wf_debug_detach(o->dbg);
    o->dbg = NULL;
    if (o->dbg_in) fclose(o->dbg_in);
    o->dbg_in = NULL;
}

wf_status wf_ex_diag_end(wf_ex_opts *o, wf_host *h, wf_err *err) {
    wf_status st = wf_tracer_close(o->tracer, err);
    o->tracer = NULL;
    o->heat_done = 1;
    wf_ex_diag_free(o);
    if (st) return st;
    if (o->heatmap) return wf_heatmap_write(wf_host_fabric(h), o->heatmap, o->heat, 0, NULL, err);
    return WF_OK;
}

/* An extra value printed as an integer: whole and exact in a double. */
static int whole(double v) { return v == floor(v) && fabs(v) < 9e15; }

void wf_ex_extra(wf_ex_result *r, const char *key, double v) {
    if (r->nextra >= 16) return;
    r->extra_key[r->nextra] = key;
    r->extra_val[r->nextra++] = v;
}

int wf_ex_report(const wf_ex_opts *o, wf_host *h, const wf_ex_result *r) {
    wf_fabric *f = wf_host_fabric(h);
    wf_fabric_stats s;
    wf_fabric_read_stats(f, &s);
    double pes = (double)wf_fabric_w(f) * wf_fabric_h(f);
    double rw = s.wall_s > 0 ? s.wall_s : 1e-9;
    double pe_cyc_s = pes * (double)r->compute_cycles / rw;
    /* active PE-cycles: cycles in which a PE's core, router or a microthread
    ** worked, each counted once per PE (wf_pe_stats.active). The simulator's
    ** work items (s.steps) are not used: a router step that only waits, or a
    ** router and an op step in the same PE-cycle, are not two active cycles. */
    uint64_t active = s.active;
    double act_s = (double)active / rw;
    double ns_act = active ? s.wall_s * 1e9 / (double)active : 0;
    wf_fabric_resume_info ri;
    wf_fabric_resume_info_get(f, &ri);
    double cpu = o->run_cpu_s + ri.cpu_s; /* a resumed run: every segment's CPU time */
    double ns_cpu = active ? cpu * 1e9 / (double)active : 0;
    const wf_defect_stats *ds = wf_host_defects(h);
    double free_cyc = ds && o->defect_compare ? defect_free_cycles(o) : -1;
    if (ds && o->defect_compare && free_cyc < 0) {
        fprintf(stderr, "%s: error: --defect-compare: the run without defects failed (run the same command "
                "without the defect flags to see why)\n", r->example);
        return 1;
    }
    if (o->json) {
        printf("{\"example\":\"%s\",\"params\":{%s},\"cycles\":%llu,\"compute_cycles\":%llu,\"io_cycles\":%llu,"
               "\"wall_s\":%.6f,\"run_wall_s\":%.6f,\"pes\":%.0f,\"active_pe_cycles\":%llu,"
               "\"pe_cycles_per_s\":%.6g,\"active_pe_cycles_per_s\":%.6g,\"ns_per_active_pe_cycle\":%.4g,"
               "\"run_cpu_s\":%.6f,\"ns_per_active_pe_cycle_cpu\":%.4g,\"busy\":%llu,\"sim_steps\":%llu,\"skewed_cycles\":%llu,\"hops\":%llu,\"bank_conflict_cycles\":%llu,\"launch_at\":%llu,\"threads\":%d,\"check\":\"%s\",\"max_abs_diff\":%.9g",
               r->example, r->params, (unsigned long long)r->cycles, (unsigned long long)r->compute_cycles,
               (unsigned long long)r->io_cycles, r->wall_s, s.wall_s, pes, (unsigned long long)active, pe_cyc_s,
               act_s, ns_act, cpu, ns_cpu, (unsigned long long)s.busy, (unsigned long long)s.steps,
               (unsigned long long)s.skewed, (unsigned long long)s.hops, (unsigned long long)s.bank_cycles,
               (unsigned long long)o->launch_at, o->threads, r->ok ? "ok" : "fail", r->max_abs_diff);
        if (ds) {
            printf(",\"defects\":{\"dead_pes\":%d,\"dead_routers\":%d,\"dead_links\":%d,\"spare_cols\":%d,"
                   "\"spare_rows\":%d,\"spare_cols_used\":%d,\"spare_rows_used\":%d,\"detour_links\":%d,"
                   "\"max_hops\":%d,\"extra_hops\":%llu",
                   ds->dead_pes, ds->dead_routers, ds->dead_links, ds->spare_cols, ds->spare_rows, ds->spare_cols_used,
                   ds->spare_rows_used, ds->detour_links, ds->max_hops, (unsigned long long)ds->extra_hops);
            if (o->defect_compare) printf(",\"cycles_defect_free\":%.0f", free_cyc);
            printf("}");
        }
        if (ri.segments)
            printf(",\"resumed\":{\"segments\":%u,\"from_cycle\":%llu,\"earlier_wall_s\":%.3f,\"earlier_cpu_s\":%.3f}",
                   ri.segments, (unsigned long long)ri.from_cycle, ri.wall_s, ri.cpu_s);
        for (int i = 0; i < r->nextra; i++) {
            double v = r->extra_val[i];
            if (whole(v)) printf(",\"%s\":%.0f", r->extra_key[i], v);
            else printf(",\"%s\":%.9g", r->extra_key[i], v);
        }
        printf("}\n");
    } else {
        printf("%s {%s}\n", r->example, r->params);
        printf("  cycles %llu (compute %llu, memcpy I/O %llu) = %.3f ms at %.0f MHz\n",
               (unsigned long long)r->cycles, (unsigned long long)r->compute_cycles,
               (unsigned long long)r->io_cycles, (double)r->cycles / wf_fabric_cost(f)->clock_hz * 1e3,
               wf_fabric_cost(f)->clock_hz / 1e6);
        printf("  wall %.3f s (simulator %.3f s): %.3g PE-cycles/s, %.3g active PE-cycles/s (%.1f ns each)\n",
               r->wall_s, s.wall_s, pe_cyc_s, act_s, ns_act);
        printf("  simulator CPU time %.3f s on %d thread%s: %.1f ns per active PE-cycle\n", cpu, o->threads,
               o->threads == 1 ? "" : "s", ns_cpu);
        if (ri.segments)
            printf("  resumed at cycle %llu after %u earlier process%s (%.1f s wall, %.1f s CPU of simulation; "
                   "included above)\n", (unsigned long long)ri.from_cycle, ri.segments, ri.segments == 1 ? "" : "es",
                   ri.wall_s, ri.cpu_s);
        printf("  busy %llu PE-cycles, %llu hops; first launch at cycle %llu\n", (unsigned long long)s.busy,
               (unsigned long long)s.hops, (unsigned long long)o->launch_at);
        if (ds) {
            printf("  defects: %d dead PEs (%d with dead routers), %d dead links on a %dx%d physical array; spares "
                   "used: %d of %d columns, %d of %d rows\n", ds->dead_pes, ds->dead_routers, ds->dead_links, ds->pw,
                   ds->ph, ds->spare_cols_used, ds->spare_cols, ds->spare_rows_used, ds->spare_rows);
            printf("  detours: %d links longer than one hop, +%llu hops, the longest %d hops\n", ds->detour_links,
                   (unsigned long long)ds->extra_hops, ds->max_hops);
            if (o->defect_compare)
                printf("  defect-free: %.0f cycles (defects cost %+.0f cycles)\n", free_cyc,
                       free_cyc >= 0 ? (double)r->cycles - free_cyc : 0.0);
        }
        for (int i = 0; i < r->nextra; i++) { /* integers whole, as in the JSON (a 52-bit hash has 16 digits) */
            double v = r->extra_val[i];
            if (whole(v)) printf("  %s = %.0f\n", r->extra_key[i], v);
            else printf("  %s = %.9g\n", r->extra_key[i], v);
        }
        printf("  check: %s (max |diff| %.3g)\n", r->ok ? "ok" : "FAIL", r->max_abs_diff);
    }
    if (o->checkpoint_at && !(ri.segments && ri.from_cycle >= (uint64_t)o->checkpoint_at))
        fprintf(stderr, "%s: note: --checkpoint-at %lld fell in no run of the fabric (the clock is at %llu now; host "
                "copies advance it with no run to pause); no snapshot written\n", r->example,
                (long long)o->checkpoint_at, (unsigned long long)wf_fabric_now(f));
    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk or closed pipe is not success */
        fprintf(stderr, "%s: writing standard output: %s\n", r->example, errno ? strerror(errno) : "write error");
        return 1;
    }
    if (r->ok) return 0;
    fprintf(stderr, "%s: check failed: %llu of %llu values differ from the reference\n", r->example,
            (unsigned long long)r->mismatches, (unsigned long long)r->outputs);
    return 2;
}

int wf_ex_fail(const char *prog, wf_host *h, const wf_err *e) {
    size_t pl = strlen(prog); /* flag errors already start with "prog: ": not twice */
    const char *m = !strncmp(e->msg, prog, pl) && e->msg[pl] == ':' && e->msg[pl + 1] == ' ' ? e->msg + pl + 2 : e->msg;
    if (e->code == WF_EINTR && strstr(m, "snapshot written to")) { /* a pause, not a failure */
        if (!strncmp(m, "fabric: ", 8)) m += 8;
        fprintf(stderr, "%s: %s; continue it with the same flags plus --resume %s\n", prog, m,
                stop_path ? stop_path : "FILE");
        return 3;
    }
    fprintf(stderr, "%s: error: %s\n", prog, m);
    if (h) {
        const char *rep = wf_fabric_report(wf_host_fabric(h));
        size_t n = strlen(e->msg);
        int same = rep && !strncmp(rep, e->msg, n) && rep[n] == '\n' && rep[n + 1] == 0;
        if (rep && rep[0] && !same && !strstr(e->msg, rep)) fprintf(stderr, "%s", rep);
    }
    return 1;
}

wf_status wf_ex_h2d(wf_host *h, const wf_memcpy *m, const void *src, uint64_t *io, wf_err *err) {
    uint64_t c0 = wf_host_cycles(h);
    wf_status st = wf_host_h2d(h, m, src, err);
    *io += wf_host_cycles(h) - c0;
    return st;
}

wf_status wf_ex_d2h(wf_host *h, const wf_memcpy *m, void *dst, uint64_t *io, wf_err *err) {
    uint64_t c0 = wf_host_cycles(h);
    wf_status st = wf_host_d2h(h, m, dst, err);
    *io += wf_host_cycles(h) - c0;
    return st;
}

wf_status wf_ex_launch(wf_ex_opts *o, wf_host *h, const char *fn, uint64_t *compute, wf_err *err) {
    uint64_t c0 = wf_host_cycles(h);
    if (!o->launched) {
        o->launched = 1;
        o->launch_at = c0;
    }
    double cpu0 = cpu_now();
    wf_status st = wf_host_launch(h, fn, err);
    o->run_cpu_s += cpu_now() - cpu0;
    *compute += wf_host_cycles(h) - c0;
    return st;
}

uint64_t wf_ex_compare(const float *got, const float *want, size_t n, double *max_abs) {
    uint64_t bad = 0;
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (wf_f32_bits(got[i]) != wf_f32_bits(want[i])) bad++;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > mx || d != d) mx = d;
    }
    if (max_abs) *max_abs = mx;
    return bad;
}
