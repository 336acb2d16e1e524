/* debug.c — the debugger's command session (debug.h): breakpoints and
** stepping on top of the fabric's debug hook, and the commands that print
** a PE's symbols, queues, router and tasks (the descriptions come from
** wf_fabric_inspect). One stop = one "stop: cycle N: <why>" line, then
** commands are read from `in` until one resumes the run. */
#include "debug.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BP 64
#define MAX_TOK 12
#define DESC_BYTES (64 * 1024)
#define PRINT_DEFAULT 64 /* elements printed without a range */
#define PROMPT "(wdb) "

enum { BP_CYCLE, BP_TASK, BP_ERROR };
typedef struct {
    int id;            /* the number `delete` and `info breakpoints` use */
    int kind;          /* BP_* */
    uint64_t cycle;    /* BP_CYCLE */
    int task;          /* BP_TASK: task ID 0..64 (64 = launched function), -1 = any */
    int x0, y0, x1, y1;/* BP_TASK: PE rectangle, half-open; x0 < 0 = every PE */
    uint64_t hits;
} bp;

struct wf_debug {
    wf_fabric *f;
    wf_heap *heap;
    FILE *in, *out;
    int echo, prompt;
    int hooked;        /* the hook is ours (until EOF, quit's run end or detach) */
    int started;       /* the first stop (start of the first run) happened */
    bp b[MAX_BP];
    int nb, next_id;
    uint64_t step_at;  /* `step`: stop before this cycle; UINT64_MAX = none */
    int next_task;     /* `next`: stop at the next task start */
    char why[600];     /* the last stop's reason, for `where` */
    int sx, sy, stask; /* the current stop's starting task and its PE (stask -1: not a task stop) */
    int have_last;     /* a task started since attaching */
    int lx, ly, ltask;
    uint64_t lcycle;
    uint64_t stops;
    char desc[DESC_BYTES];
};

static void say(wf_debug *d, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(wf_debug *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
}

/* "task 40 'compute'", "launched function" */
static void task_label(const wf_debug *d, int x, int y, int t, char *b, size_t n) {
    if (t == 64) {
        snprintf(b, n, "launched function");
        return;
    }
    const char *nm = wf_fabric_task_name(d->f, x, y, t);
    if (nm) snprintf(b, n, "task %d '%s'", t, nm);
    else snprintf(b, n, "task %d", t);
}

static void bp_text(const bp *p, char *b, size_t n) {
    char who[96] = "", rect[96] = "";
    if (p->kind == BP_CYCLE) {
        snprintf(b, n, "cycle %llu", (unsigned long long)p->cycle);
        return;
    }
    if (p->kind == BP_ERROR) {
        snprintf(b, n, "error");
        return;
    }
    if (p->x0 >= 0) {
        if (p->x1 - p->x0 == 1 && p->y1 - p->y0 == 1) snprintf(rect, sizeof rect, "PE(%d,%d)", p->x0, p->y0);
        else snprintf(rect, sizeof rect, "PE(%d,%d)..PE(%d,%d)", p->x0, p->y0, p->x1 - 1, p->y1 - 1);
    }
    if (p->task < 0) {
        snprintf(b, n, "task start on %s", p->x0 >= 0 ? rect : "any PE");
        return;
    }
    if (p->task == 64) snprintf(who, sizeof who, "launched function");
    else snprintf(who, sizeof who, "task %d", p->task);
    if (p->x0 >= 0) snprintf(b, n, "%s on %s", who, rect);
    else snprintf(b, n, "%s", who);
}

/* The next cycle the fabric must stop before: a step or a cycle breakpoint. */
static void arm(wf_debug *d) {
    uint64_t at = d->step_at;
    uint64_t now = wf_fabric_now(d->f);
    for (int i = 0; i < d->nb; i++)
        if (d->b[i].kind == BP_CYCLE && d->b[i].cycle > now && d->b[i].cycle < at) at = d->b[i].cycle;
    if (!d->started) at = 0;
    if (d->hooked) wf_fabric_debug_at(d->f, at);
}

/* ---- commands ------------------------------------------------------------------ */
enum { R_STAY, R_RESUME, R_QUIT };

static int num(const char *s, long long lo, long long hi, long long *v) {
    if (!s) return 0;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 0);
    if (errno || !end || *end || end == s || x < lo || x > hi) return 0;
    *v = x;
    return 1;
}

static int complain(wf_debug *d, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int complain(wf_debug *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say(d, "error: ");
    vfprintf(d->out, fmt, ap);
    say(d, "\n");
    va_end(ap);
    return R_STAY;
}

/* Reads "X Y" at t[0], t[1] into a PE inside the fabric. */
static int pe_arg(wf_debug *d, char **t, int nt, const char *cmd, int *x, int *y) {
    long long a, b;
    if (nt < 2 || !num(t[0], -1000000, 1000000, &a) || !num(t[1], -1000000, 1000000, &b)) {
        complain(d, "%s: expected a PE as X Y", cmd);
        return 0;
    }
    if (a < 0 || b < 0 || a >= wf_fabric_w(d->f) || b >= wf_fabric_h(d->f)) {
        complain(d, "%s: PE(%lld,%lld) is outside the %d x %d fabric", cmd, a, b, wf_fabric_w(d->f), wf_fabric_h(d->f));
        return 0;
    }
    *x = (int)a;
    *y = (int)b;
    return 1;
}

/* An optional "W H" after a PE: the rectangle [x, x+W) x [y, y+H) inside the fabric. */
static int rect_arg(wf_debug *d, char **t, int nt, const char *cmd, bp *p) {
    long long w = 1, h = 1;
    if (nt == 2 && (!num(t[0], 1, 1000000, &w) || !num(t[1], 1, 1000000, &h)))
        return complain(d, "%s: expected the rectangle's size as W H (>= 1)", cmd), 0;
    if (nt != 0 && nt != 2) return complain(d, "%s: expected X Y [W H]", cmd), 0;
    if (p->x0 + w > wf_fabric_w(d->f) || p->y0 + h > wf_fabric_h(d->f))
        return complain(d, "%s: rectangle %lld x %lld at PE(%d,%d) leaves the %d x %d fabric", cmd, w, h, p->x0, p->y0,
                   wf_fabric_w(d->f), wf_fabric_h(d->f)), 0;
    p->x1 = p->x0 + (int)w;
    p->y1 = p->y0 + (int)h;
    return 1;
}

static int cmd_break(wf_debug *d, char **t, int nt) {
    if (d->nb == MAX_BP) return complain(d, "break: at most %d breakpoints", MAX_BP);
    bp p = {0};
    p.x0 = -1;
    p.task = -1;
    long long c;
    int bare = nt == 1 && num(t[0], 0, INT64_MAX, &c); /* "break N" is "break cycle N" (gdb's habit) */
    if (bare || (nt >= 1 && !strcmp(t[0], "cycle"))) {
        if (!bare && (nt != 2 || !num(t[1], 0, INT64_MAX, &c)))
            return complain(d, "break cycle: expected a cycle number");
        if ((uint64_t)c <= wf_fabric_now(d->f) && d->started)
            return complain(d, "break cycle %lld: the clock is at cycle %llu already", c,
                       (unsigned long long)wf_fabric_now(d->f));
        p.kind = BP_CYCLE;
        p.cycle = (uint64_t)c;
    } else if (nt >= 1 && !strcmp(t[0], "task")) {
        long long id;
        if (nt < 2) return complain(d, "break task: expected a task ID (0..63, or launch)");
        if (!strcmp(t[1], "launch")) id = 64;
        else if (!num(t[1], 0, 63, &id)) return complain(d, "break task: '%s' is not a task ID (0..63, or launch)", t[1]);
        p.kind = BP_TASK;
        p.task = (int)id;
        if (nt > 2) {
            if (strcmp(t[2], "at") != 0) return complain(d, "break task: expected 'at X Y [W H]' after the ID");
            if (!pe_arg(d, t + 3, nt - 3, "break task", &p.x0, &p.y0)) return R_STAY;
            if (!rect_arg(d, t + 5, nt - 5, "break task", &p)) return R_STAY;
        }
    } else if (nt >= 1 && !strcmp(t[0], "pe")) {
        p.kind = BP_TASK;
        if (!pe_arg(d, t + 1, nt - 1, "break pe", &p.x0, &p.y0)) return R_STAY;
        if (!rect_arg(d, t + 3, nt - 3, "break pe", &p)) return R_STAY;
    } else if (nt == 1 && !strcmp(t[0], "error")) {
        p.kind = BP_ERROR;
    } else {
        return complain(d, "break: expected 'cycle N' (or N), 'task ID [at X Y [W H]]', 'pe X Y [W H]' or 'error'");
    }
    p.id = ++d->next_id;
    d->b[d->nb++] = p;
    char txt[200];
    bp_text(&p, txt, sizeof txt);
    say(d, "breakpoint %d: %s\n", p.id, txt);
    arm(d);
    return R_STAY;
}

static int cmd_delete(wf_debug *d, char **t, int nt) {
    if (nt == 0) {
        say(d, "deleted %d breakpoint%s\n", d->nb, d->nb == 1 ? "" : "s");
        d->nb = 0;
        arm(d);
        return R_STAY;
    }
    long long id;
    if (nt != 1 || !num(t[0], 1, INT32_MAX, &id)) return complain(d, "delete: expected a breakpoint number, or nothing for all");
    for (int i = 0; i < d->nb; i++)
        if (d->b[i].id == id) {
            memmove(&d->b[i], &d->b[i + 1], (size_t)(d->nb - i - 1) * sizeof d->b[0]);
            d->nb--;
            say(d, "deleted breakpoint %lld\n", id);
            arm(d);
            return R_STAY;
        }
    return complain(d, "delete: no breakpoint %lld (info breakpoints lists them)", id);
}

static void cmd_info_breaks(wf_debug *d) {
    if (!d->nb) {
        say(d, "no breakpoints\n");
        return;
    }
    for (int i = 0; i < d->nb; i++) {
        char txt[200];
        bp_text(&d->b[i], txt, sizeof txt);
        say(d, "breakpoint %d: %s, hit %llu\n", d->b[i].id, txt, (unsigned long long)d->b[i].hits);
    }
}

/* print[/f|/d|/u|/x|/h] X Y SYMBOL [LO[:HI]] */
static int cmd_print(wf_debug *d, const char *cmd, char **t, int nt) {
    char fmt = 'f';
    const char *slash = strchr(cmd, '/');
    if (slash) {
        fmt = slash[1];
        if (!strchr("fduxh", fmt) || !fmt || slash[2])
            return complain(d, "print: format '%s': expected /f (float), /d (int), /u (unsigned), /x (hex) or /h (fp16)",
                       slash);
    }
    int x, y;
    if (!pe_arg(d, t, nt, "print", &x, &y)) return R_STAY;
    if (nt < 3 || nt > 4) return complain(d, "print: expected X Y SYMBOL [LO[:HI]]");
    uint32_t addr, bytes;
    if (wf_fabric_symbol(d->f, x, y, t[2], &addr, &bytes) < 0) {
        wf_err e = {0};
        if (wf_fabric_inspect(d->f, x, y, WF_INSPECT_SYMBOLS, -1, d->desc, 8, &e)) return complain(d, "print: %s", e.msg);
        return complain(d, "print: PE(%d,%d) has no symbol '%s' (symbols %d %d lists them)", x, y, t[2], x, y);
    }
    uint32_t es = fmt == 'h' ? 2 : 4, count = bytes / es;
    long long lo = 0, hi = count < PRINT_DEFAULT ? count : PRINT_DEFAULT;
    int ranged = nt == 4;
    if (ranged) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s", t[3]);
        char *colon = strchr(tmp, ':');
        if (colon) *colon = 0;
        if (!num(tmp, 0, INT32_MAX, &lo) || (colon && !num(colon + 1, 0, INT32_MAX, &hi)))
            return complain(d, "print: range '%s': expected LO or LO:HI (element indices)", t[3]);
        if (!colon) hi = lo + 1;
        if (lo >= hi || (uint64_t)hi > count)
            return complain(d, "print: range [%lld:%lld) is empty or outside %s's %u elements", lo, hi, t[2], count);
    }
    say(d, "PE(%d,%d) %s[%lld:%lld] (%u elements, %s):", x, y, t[2], lo, hi, count,
        fmt == 'f' ? "f32" : fmt == 'd' ? "i32" : fmt == 'u' ? "u32" : fmt == 'x' ? "hex" : "f16");
    if (!ranged && hi < count) say(d, " first %lld", hi);
    say(d, "\n");
    for (long long i = lo; i < hi; i++) {
        uint32_t v = 0;
        wf_err e = {0};
        if (wf_fabric_peek(d->f, x, y, addr + (uint32_t)i * es, &v, es, &e)) {
            say(d, "\n");
            return complain(d, "print: %s", e.msg);
        }
        if ((i - lo) % 8 == 0) say(d, "%s  [%lld]", i > lo ? "\n" : "", i);
        switch (fmt) {
        case 'f': say(d, " %.9g", (double)wf_bits_f32(v)); break;
        case 'd': say(d, " %d", (int32_t)v); break;
        case 'u': say(d, " %u", v); break;
        case 'x': say(d, " 0x%08x", v); break;
        default: say(d, " %.5g", (double)wf_f16_to_f32((uint16_t)v)); break;
        }
    }
    say(d, "\n");
    return R_STAY;
}

static int cmd_inspect(wf_debug *d, const char *cmd, wf_inspect what, char **t, int nt) {
    int x, y;
    if (!pe_arg(d, t, nt, cmd, &x, &y)) return R_STAY;
    long long color = -1;
    int takes_color = what == WF_INSPECT_QUEUES || what == WF_INSPECT_ROUTER;
    if (nt > (takes_color ? 3 : 2) || (nt == 3 && !num(t[2], 0, WF_FABRIC_COLORS - 1, &color)))
        return complain(d, takes_color ? "%s: expected X Y [COLOR] (color 0..23)" : "%s: expected X Y", cmd);
    wf_err e = {0};
    if (wf_fabric_inspect(d->f, x, y, what, (int)color, d->desc, sizeof d->desc, &e)) return complain(d, "%s: %s", cmd, e.msg);
    say(d, "%s", d->desc);
    if (what == WF_INSPECT_TASKS && d->stask >= 0 && d->sx == x && d->sy == y) {
        char lb[96];
        task_label(d, x, y, d->stask, lb, sizeof lb);
        say(d, "  starting %s (stopped before its body runs)\n", lb);
    }
    return R_STAY;
}

static void cmd_where(wf_debug *d) {
    say(d, "cycle %llu: %s\n", (unsigned long long)wf_fabric_now(d->f), d->why);
    if (d->have_last) {
        char lb[96];
        task_label(d, d->lx, d->ly, d->ltask, lb, sizeof lb);
        say(d, "last task start: cycle %llu: %s on PE(%d,%d)\n", (unsigned long long)d->lcycle, lb, d->lx, d->ly);
    }
}

static void cmd_help(wf_debug *d) {
    say(d, "commands (short forms in brackets):\n"
           "  break cycle N                 stop before cycle N [b N]\n"
           "  break task ID [at X Y [W H]]  stop when task ID (0..63, launch) starts (on a PE or rectangle)\n"
           "  break pe X Y [W H]            stop when any task starts on the PE (or rectangle)\n"
           "  break error                   stop when the run is about to return an error\n"
           "  delete [N]                    delete breakpoint N, or all [d]\n"
           "  info breakpoints              list breakpoints [i b]\n"
           "  continue                      run to the next stop [c]\n"
           "  step [N]                      run N cycles (default 1) [s]\n"
           "  next                          run to the next task start on any PE [n]\n"
           "  print[/f|d|u|x|h] X Y SYM [LO[:HI]]  a symbol's elements: float, int, unsigned, hex, fp16 [p]\n"
           "  symbols X Y                   the PE's symbols\n"
           "  queues X Y [COLOR]            input/output queues: fill and wavelets\n"
           "  router X Y [COLOR]            routes, switch positions, buffered wavelets\n"
           "  tasks X Y                     task bindings, ready/blocked flags, the core, async ops\n"
           "  where                         the cycle, why it stopped, the last task start [w]\n"
           "  help                          this list [h]\n"
           "  quit                          end the run (WF_EINTR) [q]\n"
           "  end of input                  continue to the end without stopping\n");
}

/* Runs one command line (modified in place). */
static int exec(wf_debug *d, char *line) {
    char *t[MAX_TOK];
    int nt = 0;
    for (char *p = line; *p;) { /* words split at blanks, in place */
        while (*p && isspace((unsigned char)*p)) *p++ = 0;
        if (!*p) break;
        if (nt == MAX_TOK) return complain(d, "too many words in the command");
        t[nt++] = p;
        while (*p && !isspace((unsigned char)*p)) p++;
    }
    if (!nt || t[0][0] == '#') return R_STAY;
    const char *c = t[0];
    char **a = t + 1;
    int na = nt - 1;
    if (!strcmp(c, "break") || !strcmp(c, "b")) return cmd_break(d, a, na);
    if (!strcmp(c, "delete") || !strcmp(c, "d")) return cmd_delete(d, a, na);
    if (!strcmp(c, "info") || !strcmp(c, "i")) {
        if (na == 1 && (!strcmp(a[0], "breakpoints") || !strcmp(a[0], "b"))) {
            cmd_info_breaks(d);
            return R_STAY;
        }
        return complain(d, "info: expected 'info breakpoints'");
    }
    if (!strcmp(c, "continue") || !strcmp(c, "c")) {
        if (na) return complain(d, "continue: takes no arguments");
        return R_RESUME;
    }
    if (!strcmp(c, "step") || !strcmp(c, "s")) {
        long long n = 1;
        if (na > 1 || (na == 1 && !num(a[0], 1, INT64_MAX / 2, &n)))
            return complain(d, na > 1 ? "step: expected one cycle count" : "step: expected a cycle count 1 .. %lld",
                            (long long)(INT64_MAX / 2));
        d->step_at = wf_fabric_now(d->f) + (uint64_t)n;
        return R_RESUME;
    }
    if (!strcmp(c, "next") || !strcmp(c, "n")) {
        if (na) return complain(d, "next: takes no arguments");
        d->next_task = 1;
        return R_RESUME;
    }
    if (!strncmp(c, "print", 5) && (c[5] == 0 || c[5] == '/')) return cmd_print(d, c, a, na);
    if (c[0] == 'p' && (c[1] == 0 || c[1] == '/')) return cmd_print(d, c, a, na);
    if (!strcmp(c, "symbols")) return cmd_inspect(d, c, WF_INSPECT_SYMBOLS, a, na);
    if (!strcmp(c, "queues")) return cmd_inspect(d, c, WF_INSPECT_QUEUES, a, na);
    if (!strcmp(c, "router")) return cmd_inspect(d, c, WF_INSPECT_ROUTER, a, na);
    if (!strcmp(c, "tasks")) return cmd_inspect(d, c, WF_INSPECT_TASKS, a, na);
    if (!strcmp(c, "where") || !strcmp(c, "w")) {
        if (na) return complain(d, "where: takes no arguments");
        cmd_where(d);
        return R_STAY;
    }
    if (!strcmp(c, "help") || !strcmp(c, "h")) {
        if (na) return complain(d, "help: takes no arguments");
        cmd_help(d);
        return R_STAY;
    }
    if (!strcmp(c, "quit") || !strcmp(c, "q")) { /* "quit now" must not end a run by accident of a typo */
        if (na) return complain(d, "quit: takes no arguments");
        return R_QUIT;
    }
    return complain(d, "unknown command '%s' (help lists them)", c);
}

/* End of input: the session ends, the program runs on without the hook. */
static void unhook(wf_debug *d) {
    if (!d->hooked) return;
    d->hooked = 0;
    wf_fabric_set_debug(d->f, NULL, NULL);
}

/* The next command line into line (its end of line cut, echoed when
** asked): 1, 0 for an over-long line (skipped, said), -1 at the end of input. */
static int next_command(wf_debug *d, char *line, size_t cap) {
    if (!fgets(line, (int)cap, d->in)) return -1;
    size_t n = strlen(line);
    if (n == cap - 1 && line[n - 1] != '\n') { /* an over-long line: skip the rest */
        int ch;
        while ((ch = fgetc(d->in)) != EOF && ch != '\n') {}
        complain(d, "command longer than %zu characters", cap - 2);
        return 0;
    }
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (d->echo) say(d, PROMPT "%s\n", line);
    return 1;
}

/* A stop: the line, then commands until one resumes. 1: quit. */
static int session(wf_debug *d) {
    d->stops++;
    say(d, "stop: cycle %llu: %s\n", (unsigned long long)wf_fabric_now(d->f), d->why);
    char line[1024];
    for (;;) {
        if (d->prompt) say(d, PROMPT);
        fflush(d->out);
        int got = next_command(d, line, sizeof line);
        if (got < 0) {
            say(d, "%send of commands: running to the end\n", d->prompt ? "\n" : "");
            fflush(d->out);
            unhook(d);
            return 0;
        }
        if (!got) continue;
        int r = exec(d, line);
        if (r == R_QUIT) {
            say(d, "quit at cycle %llu\n", (unsigned long long)wf_fabric_now(d->f));
            fflush(d->out);
            unhook(d);
            return 1;
        }
        if (r == R_RESUME) {
            fflush(d->out);
            arm(d);
            return 0;
        }
    }
}

static int hook(void *ud, wf_fabric *f, const wf_stop *s) {
    wf_debug *d = ud;
    (void)f;
    char lb[96], txt[200];
    d->stask = -1;
    if (s->kind == WF_STOP_TASK) {
        d->have_last = 1;
        d->lx = s->x;
        d->ly = s->y;
        d->ltask = s->task;
        d->lcycle = s->cycle;
        const bp *hit = NULL;
        for (int i = 0; i < d->nb; i++) {
            bp *p = &d->b[i];
            if (p->kind != BP_TASK || (p->task >= 0 && p->task != s->task)) continue;
            if (p->x0 >= 0 && (s->x < p->x0 || s->x >= p->x1 || s->y < p->y0 || s->y >= p->y1)) continue;
            p->hits++;
            if (!hit) hit = p;
        }
        if (!hit && !d->next_task) return 0;
        task_label(d, s->x, s->y, s->task, lb, sizeof lb);
        if (hit) snprintf(d->why, sizeof d->why, "breakpoint %d: %s starts on PE(%d,%d)", hit->id, lb, s->x, s->y);
        else snprintf(d->why, sizeof d->why, "next: %s starts on PE(%d,%d)", lb, s->x, s->y);
        d->next_task = 0;
        d->step_at = UINT64_MAX;
        d->sx = s->x;
        d->sy = s->y;
        d->stask = s->task;
        int q = session(d);
        d->stask = -1;
        return q;
    }
    if (s->kind == WF_STOP_ERROR) {
        const bp *hit = NULL;
        for (int i = 0; i < d->nb; i++)
            if (d->b[i].kind == BP_ERROR) {
                d->b[i].hits++;
                if (!hit) hit = &d->b[i];
            }
        if (!hit) return 0;
        snprintf(d->why, sizeof d->why, "breakpoint %d: error: %s", hit->id, s->msg ? s->msg : "?");
        d->step_at = UINT64_MAX;
        d->next_task = 0;
        session(d);
        return 0;
    }
    /* a cycle: the first run's start, a step's end or cycle breakpoints */
    uint64_t now = s->cycle;
    const bp *hit = NULL;
    for (int i = 0; i < d->nb; i++) {
        bp *p = &d->b[i];
        if (p->kind != BP_CYCLE || p->hits || p->cycle > now) continue;
        p->hits++;
        if (!hit) hit = p;
    }
    if (hit) {
        bp_text(hit, txt, sizeof txt);
        snprintf(d->why, sizeof d->why, "breakpoint %d: %s", hit->id, txt);
    } else if (d->step_at <= now) {
        snprintf(d->why, sizeof d->why, "step");
    } else if (!d->started) {
        snprintf(d->why, sizeof d->why, "start of the first run");
    } else {
        arm(d); /* nothing due (a breakpoint was deleted) */
        return 0;
    }
    d->started = 1;
    d->step_at = UINT64_MAX;
    d->next_task = 0;
    return session(d);
}

wf_status wf_debug_attach(wf_fabric *f, const wf_debug_opts *o, wf_debug **out, wf_err *err) {
    *out = NULL;
    if (!o || !o->in || !o->out) return WF_FAIL(err, WF_EUSAGE, "debugger: needs an input and an output stream");
    wf_debug *d = wf_alloc(o->heap, sizeof *d, "debugger", err);
    if (!d) return err ? err->code : WF_ENOMEM;
    memset(d, 0, sizeof *d);
    d->f = f;
    d->heap = o->heap;
    d->in = o->in;
    d->out = o->out;
    d->echo = o->echo;
    d->prompt = o->prompt;
    d->step_at = UINT64_MAX;
    d->stask = -1;
    d->hooked = 1;
    snprintf(d->why, sizeof d->why, "not started");
    wf_fabric_set_debug(f, hook, d);
    arm(d);
    *out = d;
    return WF_OK;
}

void wf_debug_detach(wf_debug *d) {
    if (!d) return;
    if (d->hooked) {
        say(d, "end: cycle %llu\n", (unsigned long long)wf_fabric_now(d->f));
        /* a script's commands after the run: they look at the final state
        ** (they had been dropped without a word); what would run it says so */
        char line[1024];
        for (int got; !d->prompt && (got = next_command(d, line, sizeof line)) >= 0;) {
            if (!got) continue;
            int r = exec(d, line);
            if (r == R_QUIT) break;
            if (r == R_RESUME) say(d, "the run has ended: '%s' has nothing to run\n", line);
        }
        fflush(d->out);
        unhook(d);
    }
    wf_free(d->heap, d);
}

uint64_t wf_debug_stops(const wf_debug *d) { return d ? d->stops : 0; }
